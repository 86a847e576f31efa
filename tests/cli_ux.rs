//! The command line as a tool of the AWS ecosystem (issue 11): AWS failures in one line with a
//! hint and never the SDK's debug dump, a missing profile refused like the AWS CLI does, the AWS
//! CLI's flag names, `-q`, a closed pipe, completions, the man page and the help.
//!
//! Every child process gets local endpoints only: nothing here can reach AWS.

use std::path::Path;
use std::process::{Command, Stdio};

use bytes::Bytes;
use ctverify_tests::local_http::LocalHttpServer;
use ctverify_tests::trail::exit::{ERROR, INVALID, VALID};
use ctverify_tests::trail::{GeneratedTrail, Run, run_ctverify, spec, with_fault};
use http_body_util::Full;

// Only the servers of `S3Trail` are used here: the children need environments of their own.
#[allow(dead_code)]
#[path = "support/s3_trail.rs"]
mod s3_trail;
use s3_trail::S3Trail;

/// What the SDK's `Debug` output looks like; none of it may reach a user.
const DEBUG_WORDS: &[&str] = &[
    "DispatchFailure",
    "ServiceError",
    "SdkBody",
    "raw: Response",
    "ProviderChainError",
    "ConnectorError",
];

fn assert_no_debug(run: &Run) {
    for word in DEBUG_WORDS {
        assert!(
            !run.stdout.contains(word) && !run.stderr.contains(word),
            "{word:?} printed:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
}

/// Runs the `ctverify` binary with only `env` as its environment (plus PATH, no instance
/// metadata, empty shared files unless `env` names others): unlike
/// `s3_trail::run_ctverify_process_with_env`, credentials and config files are the test's choice.
fn run_child(args: &[String], env: &[(&str, String)]) -> Run {
    let empty = Path::new("/dev/null");
    let mut command = Command::new(env!("CARGO_BIN_EXE_ctverify-under-test"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", empty)
        // Whatever a test forgets to point somewhere goes nowhere.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1");
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().expect("running ctverify");
    Run {
        code: output
            .status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(255),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The environment of a child that talks to `trail`'s servers with the test credentials.
fn servers_env(trail: &S3Trail) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL_S3", trail.server.endpoint()),
        ("AWS_ENDPOINT_URL_CLOUDTRAIL", trail.stub.endpoint()),
        ("AWS_ENDPOINT_URL_ACCOUNT", trail.stub.endpoint()),
        ("AWS_ENDPOINT_URL_ORGANIZATIONS", trail.stub.endpoint()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
    ]
}

/// `--trail ARN --from START --to END` of `trail`, then `extra`.
fn verify_args(trail: &S3Trail, extra: &[&str]) -> Vec<String> {
    let mut args = ctverify_tests::trail::range_args(&trail.trail.manifest);
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn with(
    env: &[(&'static str, String)],
    changes: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let mut env: Vec<_> = env
        .iter()
        .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
        .cloned()
        .collect();
    env.extend(changes.iter().map(|(k, v)| (*k, v.to_string())));
    env
}

/// An S3 endpoint that refuses everything as S3 does: `403 AccessDenied` in S3's XML.
fn refusing_s3() -> LocalHttpServer {
    LocalHttpServer::start("refusing-s3", 0, |_request| async {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>\
                    <Message>Access Denied</Message><RequestId>R</RequestId></Error>";
        let mut response = http::Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = http::StatusCode::FORBIDDEN;
        response.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/xml"),
        );
        response
    })
    .expect("starting the refusing S3 endpoint")
}

#[test]
fn a_missing_bucket_is_no_such_bucket_with_the_call_and_a_hint() {
    let trail = S3Trail::start(&spec(), |_| {});
    let run = run_child(
        &verify_args(&trail, &["--bucket", "no-such-bucket"]),
        &servers_env(&trail),
    );
    assert_eq!(run.code, ERROR, "{run:?}");
    assert!(
        run.stderr
            .contains("GetBucketLocation for no-such-bucket failed: NoSuchBucket: ")
            && run.stderr.contains("check --bucket"),
        "{run:?}"
    );
    assert_eq!(run.stderr.lines().count(), 1, "one line: {run:?}");
    assert_no_debug(&run);
}

#[test]
fn access_denied_names_the_permission_the_call_and_the_region() {
    let trail = S3Trail::start(&spec(), |_| {});
    let refusing = refusing_s3();
    let env = with(
        &servers_env(&trail),
        &[("AWS_ENDPOINT_URL_S3", &refusing.endpoint())],
    );
    let run = run_child(&verify_args(&trail, &[]), &env);
    assert_eq!(run.code, ERROR, "{run:?}");
    let region = &trail.trail.manifest.home_region;
    assert!(
        run.stderr.contains("AccessDenied: Access Denied (the credentials in use need s3:GetBucketLocation for GetBucketLocation in ")
            && run.stderr.contains(region.as_str()),
        "{run:?}"
    );
    assert_no_debug(&run);
}

#[test]
fn no_credentials_is_said_as_the_aws_cli_says_it() {
    let trail = S3Trail::start(&spec(), |_| {});
    let env: Vec<_> = servers_env(&trail)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS_KEY_ID") && !k.starts_with("AWS_SECRET"))
        .collect();
    let run = run_child(&verify_args(&trail, &[]), &env);
    assert_eq!(run.code, ERROR, "{run:?}");
    assert!(
        run.stderr
            .contains("Unable to locate credentials. You can configure credentials by running \"aws configure\""),
        "{run:?}"
    );
    assert_no_debug(&run);
}

#[test]
fn wrong_credentials_and_unreachable_endpoints_are_one_line_each() {
    let trail = S3Trail::start(&spec(), |_| {});
    let wrong = with(
        &servers_env(&trail),
        &[("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG")],
    );
    let run = run_child(
        &verify_args(&trail, &["--bucket", trail.trail.bucket()]),
        &wrong,
    );
    assert_eq!(run.code, ERROR, "{run:?}");
    assert!(run.stderr.contains("GetBucketLocation"), "{run:?}");
    assert_no_debug(&run);

    let unreachable = with(
        &servers_env(&trail),
        &[("AWS_ENDPOINT_URL_CLOUDTRAIL", "http://127.0.0.1:1")],
    );
    let run = run_child(&verify_args(&trail, &[]), &unreachable);
    assert_eq!(run.code, ERROR, "{run:?}");
    assert!(
        run.stderr.contains("DescribeTrails for ")
            && run.stderr.contains("could not reach the AWS endpoint"),
        "{run:?}"
    );
    assert_no_debug(&run);
}

#[test]
fn a_stub_error_in_verify_enable_and_audit_is_code_and_message() {
    // An organization trail: Organizations ListAccounts goes to the stub, which answers
    // UnknownOperationException; the run warns and goes on.
    let org = ctverify_fixtures::TrailSpec {
        org_id: Some("o-a1b2c3d4e5".into()),
        ..spec()
    };
    let trail = S3Trail::start(&org, |_| {});
    let run = run_child(&verify_args(&trail, &[]), &servers_env(&trail));
    assert!(
        run.stderr
            .contains("organizations:ListAccounts failed: UnknownOperationException: "),
        "{run:?}"
    );
    assert_no_debug(&run);

    // enable and audit call GetTrail, which the stub does not implement.
    let arn = trail.trail.manifest.trail_arn.clone();
    for command in ["enable", "audit"] {
        let args = vec![
            command.to_owned(),
            "--trail".into(),
            arn.clone(),
            "--dry-run".into(),
        ];
        let args = if command == "audit" {
            args[..3].to_vec()
        } else {
            args
        };
        let run = run_child(&args, &servers_env(&trail));
        assert_eq!(run.code, ERROR, "{command}: {run:?}");
        assert!(
            run.stderr.contains("UnknownOperationException"),
            "{command}: {run:?}"
        );
        assert_no_debug(&run);
    }
}

#[test]
fn a_missing_profile_is_refused_like_the_aws_cli() {
    let trail = S3Trail::start(&spec(), |_| {});
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = dir.path().join("config");
    std::fs::write(&config, "[profile other]\nregion = us-east-1\n").expect("config file");
    // Credentials in the environment must not make a typo go unnoticed.
    let env = with(
        &servers_env(&trail),
        &[("AWS_CONFIG_FILE", &config.display().to_string())],
    );
    let refused = "The config profile (nosuchprofile) could not be found";
    let run = run_child(&verify_args(&trail, &["--profile", "nosuchprofile"]), &env);
    assert_eq!(run.code, ERROR, "{run:?}");
    assert_eq!(run.stderr.trim(), format!("ctverify: {refused}"));
    for command in ["enable", "audit"] {
        let args: Vec<String> = [command, "--trail", "t", "--profile", "nosuchprofile"]
            .map(str::to_owned)
            .to_vec();
        let run = run_child(&args, &env);
        assert_eq!(run.code, ERROR, "{command}: {run:?}");
        assert_eq!(run.stderr.trim(), format!("ctverify {command}: {refused}"));
    }
    let env_profile = with(&env, &[("AWS_PROFILE", "nosuchprofile")]);
    let run = run_child(&verify_args(&trail, &[]), &env_profile);
    assert_eq!(run.code, ERROR, "{run:?}");
    assert!(run.stderr.contains(refused), "{run:?}");

    // A profile that exists is used.
    let run = run_child(&verify_args(&trail, &["--profile", "other"]), &env);
    assert_eq!(run.code, VALID, "{run:?}");
}

#[tokio::test]
async fn the_aws_cli_names_are_accepted() {
    let trail = GeneratedTrail::new(&spec());
    let m = &trail.manifest;
    let args: Vec<String> = [
        "ctverify",
        "--trail-arn",
        &m.trail_arn,
        "--start-time",
        &ctverify_fixtures::format_time(&m.start_time),
        "--end-time",
        &ctverify_fixtures::format_time(&m.end_time),
        "--local",
        &trail.copy().display().to_string(),
        "--public-keys",
        &trail.keys().display().to_string(),
        "--output",
        "json",
        "--no-progress",
    ]
    .map(str::to_owned)
    .to_vec();
    let run = run_ctverify(&args).await;
    assert_eq!(run.code, VALID, "{run:?}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("a JSON report");
    assert_eq!(report["status"], "valid");
}

#[tokio::test]
async fn quiet_prints_nothing_and_the_exit_status_is_the_verdict() {
    let valid = GeneratedTrail::new(&spec());
    let run = valid.verify(&["-q"]).await;
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (VALID, "", "")
    );

    let tampered = GeneratedTrail::new(&spec());
    std::fs::remove_file(
        tampered
            .copy()
            .join(tampered.bucket())
            .join(tampered.log(1, 0)),
    )
    .expect("deleting a log file");
    let run = tampered.verify(&["--quiet"]).await;
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (INVALID, "", "")
    );
    let run = tampered.verify(&[]).await;
    assert_eq!(run.code, INVALID);
    assert!(!run.stderr.is_empty());

    // Errors that end the run are still printed.
    let mut args = ctverify_tests::trail::local_args(
        &valid.manifest,
        &valid.copy(),
        &valid.dir.path().join("no-such-keys.json"),
    );
    args.push("-q".into());
    let run = run_ctverify(&args).await;
    assert_eq!(run.code, ERROR, "{run:?}");
    assert!(!run.stderr.is_empty());
}

/// Runs the binary with its stdout a pipe whose reader is already gone, as under `| head -1`.
fn run_into_closed_pipe(args: &[String]) -> (u8, String) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_ctverify-under-test"))
        .args(args)
        .env_clear()
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("running ctverify");
    (
        output
            .status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(255),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_closed_pipe_keeps_the_verdict_and_says_nothing_of_it() {
    let valid = GeneratedTrail::new(&spec());
    let args = valid.args()[1..].to_vec();
    let (code, stderr) = run_into_closed_pipe(&[args.clone(), vec!["--verbose".into()]].concat());
    assert_eq!(code, VALID, "{stderr}");
    assert!(
        !stderr.contains("Broken pipe") && !stderr.contains("os error 32"),
        "{stderr}"
    );

    let tampered = GeneratedTrail::new(&with_fault(
        1,
        ctverify_fixtures::spec::DigestFaultKind::WrongPreviousHash,
    ));
    let args = tampered.args()[1..].to_vec();
    let (code, stderr) =
        run_into_closed_pipe(&[args.clone(), vec!["--format".into(), "json".into()]].concat());
    assert_eq!(code, INVALID, "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}

#[tokio::test]
async fn completions_and_the_man_page_are_generated() {
    for (shell, marker) in [
        ("bash", "complete"),
        ("zsh", "#compdef ctverify"),
        ("fish", "complete -c ctverify"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let run = run_ctverify(&["ctverify", "completions", shell].map(str::to_owned)).await;
        assert_eq!(run.code, VALID, "{shell}: {}", run.stderr);
        assert!(
            run.stdout.contains(marker) && run.stdout.contains("trail-arn"),
            "{shell}: {}",
            run.stdout
        );
    }
    let run = run_ctverify(&["ctverify", "man"].map(str::to_owned)).await;
    assert_eq!(run.code, VALID, "{}", run.stderr);
    assert!(
        run.stdout.starts_with(".ie") || run.stdout.contains(".TH ctverify"),
        "{}",
        &run.stdout[..200.min(run.stdout.len())]
    );
    assert!(
        run.stdout.contains("\\-\\-trail"),
        "the man page lists the options"
    );
}

#[tokio::test]
async fn help_groups_the_options_and_shows_examples() {
    let run = run_ctverify(&["ctverify", "--help"].map(str::to_owned)).await;
    assert_eq!(run.code, VALID);
    let help = &run.stdout;
    let mut at = 0;
    for heading in [
        "Source:",
        "Scope:",
        "AWS:",
        "Output:",
        "Performance:",
        "Examples:",
    ] {
        let found = help[at..]
            .find(heading)
            .unwrap_or_else(|| panic!("no {heading} after the previous heading in:\n{help}"));
        at += found;
    }
    for example in [
        "--local copy --public-keys keys.json",
        "aws cloudtrail list-public-keys",
        "--account-id",
        "--format json > report.json",
        "ctverify -q",
    ] {
        assert!(help.contains(example), "no {example:?} in:\n{help}");
    }
}
