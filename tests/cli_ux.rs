//! The command line as a tool of the AWS ecosystem (issue 11): AWS failures in one line with a
//! hint and never the SDK's debug dump, a missing profile refused like the AWS CLI does, the AWS
//! CLI's flag names, `-q`, a closed pipe, completions, the man page and the help.
//!
//! Every child process gets local endpoints only: nothing here can reach AWS.

use std::path::Path;
use std::process::{Command, Stdio};

use bytes::Bytes;
use ctverify_tests::local_http::LocalHttpServer;
use ctverify_tests::trail::exit::{ERROR, INVALID, UNVERIFIABLE, VALID};
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
    Run::from(output)
}

/// The environment of a child that talks to `trail`'s servers with the test credentials.
fn servers_env(trail: &S3Trail) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL_S3", trail.server.endpoint()),
        ("AWS_ENDPOINT_URL_CLOUDTRAIL", trail.stub.endpoint()),
        ("AWS_ENDPOINT_URL_ACCOUNT", trail.stub.endpoint()),
        ("AWS_ENDPOINT_URL_ORGANIZATIONS", trail.stub.endpoint()),
        ("AWS_ENDPOINT_URL_STS", trail.stub.endpoint()),
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

/// A private CA over real TLS: `--endpoint-url` sends every call (S3, CloudTrail, Account) to
/// one HTTPS endpoint whose certificate a test CA issued. Trusted with `--ca-bundle` or
/// `AWS_CA_BUNDLE`, the run verifies; without it, the certificate is refused in one line.
#[test]
fn a_private_ca_is_trusted_with_ca_bundle_or_aws_ca_bundle_and_refused_otherwise() {
    use ctverify_tests::tls_front::{TestCa, TlsFront};
    let trail = S3Trail::start(&spec(), |_| {});
    let ca = TestCa::new();
    let front = TlsFront::start(Some(&ca), &trail.server.endpoint(), &trail.stub.endpoint())
        .expect("starting the HTTPS front");
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, &ca.ca_pem).unwrap();
    let bundle = bundle.to_str().unwrap();
    // The per-service variables point at a closed port: every call that succeeds went
    // through --endpoint-url, over TLS.
    let dead = "http://127.0.0.1:1";
    let env = with(
        &servers_env(&trail),
        &[
            ("AWS_ENDPOINT_URL_S3", dead),
            ("AWS_ENDPOINT_URL_CLOUDTRAIL", dead),
            ("AWS_ENDPOINT_URL_ACCOUNT", dead),
            ("AWS_ENDPOINT_URL_ORGANIZATIONS", dead),
        ],
    );
    let endpoint = front.endpoint();

    let run = run_child(
        &verify_args(
            &trail,
            &["--endpoint-url", &endpoint, "--ca-bundle", bundle],
        ),
        &env,
    );
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&["4/4 digest files valid"]);
    let calls = trail.stub.count("ListPublicKeys");
    assert!(calls >= 1, "the keys came through the HTTPS front");

    let run = run_child(
        &verify_args(&trail, &["--endpoint-url", &endpoint]),
        &with(&env, &[("AWS_CA_BUNDLE", bundle)]),
    );
    assert_eq!(run.code, VALID, "{run:?}");

    let run = run_child(&verify_args(&trail, &["--endpoint-url", &endpoint]), &env);
    assert_eq!(run.code, ERROR, "{run:?}");
    assert!(
        run.stderr.to_lowercase().contains("certificate"),
        "the refusal names the certificate: {run:?}"
    );
    assert_eq!(run.stderr.lines().count(), 1, "one line: {run:?}");
    assert_no_debug(&run);
}

/// A CA bundle that is not one is refused before any call, naming the file: the TLS layer
/// would otherwise panic on it.
#[test]
fn a_ca_bundle_without_certificates_is_refused_by_name() {
    let trail = S3Trail::start(&spec(), |_| {});
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not-a-bundle.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let broken = dir.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    for (file, says) in [
        (&not_pem, "holds no PEM certificate"),
        (&broken, "not usable"),
        (&dir.path().join("missing.pem"), "No such file"),
    ] {
        let file = file.to_str().unwrap();
        let run = run_child(
            &verify_args(&trail, &["--ca-bundle", file]),
            &servers_env(&trail),
        );
        assert_eq!(run.code, ERROR, "{run:?}");
        assert!(
            run.stderr.contains(file) && run.stderr.contains(says),
            "{run:?}"
        );
        assert!(!run.stderr.contains("panicked"), "{run:?}");
    }
    assert_eq!(
        trail.stub.count("ListPublicKeys"),
        0,
        "refused before any call"
    );
    assert_eq!(
        trail.stub.count("DescribeTrails"),
        0,
        "refused before any call"
    );
}

/// `--debug` shows what the AWS CLI's `--debug` shows that matters here: the trail as loaded,
/// the folders listed, the keys per region and window, the string each digest signs, the
/// requests. Without it (and without RUST_LOG), none of that is printed.
#[test]
fn debug_shows_the_trail_listings_keys_and_strings_to_sign() {
    let trail = S3Trail::start(&spec(), |_| {});
    let env = servers_env(&trail);
    let run = run_child(&verify_args(&trail, &["--debug"]), &env);
    assert_eq!(run.code, VALID, "{run:?}");
    for needle in [
        "trail loaded",
        "listing folders",
        "public keys loaded",
        "string_to_sign",
        "ListPublicKeys",
    ] {
        assert!(
            run.stderr.contains(needle),
            "--debug lacks {needle:?}:\n{}",
            run.stderr
        );
    }
    // Without --debug, stderr holds only the warning the test's plain-HTTP CloudTrail endpoint
    // calls for (issue 23).
    let quiet = run_child(&verify_args(&trail, &[]), &env);
    assert_eq!(
        quiet.stderr,
        format!(
            "Warning: CloudTrail's public keys came from ListPublicKeys at {} \
             (AWS_ENDPOINT_URL_CLOUDTRAIL), which is not an AWS endpoint, over plain HTTP that \
             anyone on the network path can answer: whoever answers there chooses which \
             signatures verify; pin keys saved from AWS with --public-keys to make the verdict \
             independent of it\n\n",
            trail.stub.endpoint()
        ),
        "{quiet:?}"
    );
    let filtered = run_child(
        &verify_args(&trail, &[]),
        &with(&env, &[("RUST_LOG", "cloudtrail_verify::trust=debug")]),
    );
    assert!(filtered.stderr.contains("string_to_sign"), "{filtered:?}");
    assert!(!filtered.stderr.contains("listing folders"), "{filtered:?}");
}

/// A run says what it checked: the folder read and every chain, before the results; and when
/// it finds nothing, where it looked and what is there instead.
#[tokio::test]
async fn a_run_names_the_folder_and_chains_it_read_and_where_it_looked_when_empty() {
    let trail = GeneratedTrail::new(&spec());
    let run = trail.verify(&[]).await;
    assert_eq!(run.code, VALID, "{run:?}");
    let folder = format!("{}/{}/AWSLogs/", trail.copy().display(), trail.bucket());
    let account = trail.manifest.trail_arn.split(':').nth(4).unwrap();
    run.assert_line(&["Reading", &folder, &format!("{account}/us-east-1")]);

    let run = trail.verify(&["--prefix", "wrong"]).await;
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    run.assert_line(&["No digests found"]);
    run.assert_line(&[
        "Looked in",
        "/wrong/AWSLogs/ACCOUNT/CloudTrail-Digest/REGION/",
    ]);
    assert!(
        run.stderr.contains("no account folders under")
            && run.stderr.contains("top-level folders are AWSLogs/"),
        "{run:?}"
    );
}

/// `--local` with a trail whose account has no folder in the copy warns: it is probably not
/// the trail's bucket.
#[tokio::test]
async fn a_local_copy_without_the_trails_account_warns() {
    let trail = GeneratedTrail::new(&spec());
    let manifest = &trail.manifest;
    let account = manifest.trail_arn.split(':').nth(4).unwrap();
    let other = manifest.trail_arn.replace(account, "999988887777");
    let mut args = ctverify_tests::trail::local_args(manifest, &trail.copy(), &trail.keys());
    let at = args.iter().position(|a| a == "--trail").unwrap() + 1;
    args[at] = other;
    let run = run_ctverify(&args).await;
    assert!(
        run.stderr
            .contains("the trail's account 999988887777 has no folder under"),
        "{run:?}"
    );
    // The trail's own chain is expected and has no digest: never valid.
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
}

/// An empty key file is refused: with it, nothing could be verified.
#[tokio::test]
async fn an_empty_key_file_says_it_holds_no_keys() {
    let trail = GeneratedTrail::new(&spec());
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    std::fs::write(&keys, r#"{"PublicKeyList": []}"#).unwrap();
    let args = ctverify_tests::trail::local_args(&trail.manifest, &trail.copy(), &keys);
    let run = run_ctverify(&args).await;
    assert_eq!(run.code, ERROR, "{run:?}");
    assert!(run.stderr.contains("holds no public keys"), "{run:?}");
}

/// `--trail` takes a name as `enable` and `audit` do: against S3 it is looked up with
/// DescribeTrails in the default region (from another region it is not found, and the message
/// says where it looked); with `--local` the ARN is needed, and a malformed ARN is not taken
/// for a name.
#[test]
fn a_trail_can_be_named_against_s3_and_needs_its_arn_with_local() {
    let trail = S3Trail::start(&spec(), |_| {});
    let manifest = &trail.trail.manifest;
    let name = manifest.trail_arn.rsplit('/').next().unwrap().to_owned();
    let mut args = verify_args(&trail, &[]);
    let at = args.iter().position(|a| a == "--trail").unwrap() + 1;
    args[at] = name.clone();
    let env = servers_env(&trail);
    let run = run_child(&args, &with(&env, &[("AWS_REGION", "us-east-1")]));
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&["Validating log files for trail", &manifest.trail_arn]);

    let run = run_child(&args, &with(&env, &[("AWS_REGION", "eu-west-3")]));
    assert_eq!(run.code, ERROR, "{run:?}");
    assert!(
        run.stderr.contains(&name) && run.stderr.contains("eu-west-3"),
        "{run:?}"
    );

    let mut local =
        ctverify_tests::trail::local_args(manifest, &trail.trail.copy(), &trail.trail.keys());
    // The in-process form starts with the program's name; a child gets the arguments only.
    local.retain(|a| a != "ctverify");
    let at = local.iter().position(|a| a == "--trail").unwrap() + 1;
    local[at] = name;
    let run = run_child(&local, &env);
    assert_eq!(run.code, ERROR, "{run:?}");
    assert!(
        run.stderr
            .contains("with --local, --trail needs the trail's ARN"),
        "{run:?}"
    );

    let at = args.iter().position(|a| a == "--trail").unwrap() + 1;
    args[at] = "arn:aws:cloudtrail:us-east-1:12:trail/x".into();
    let run = run_child(&args, &env);
    assert_eq!(run.code, ERROR, "{run:?}");
    assert!(
        !run.stderr.contains("trail name"),
        "a malformed ARN is not a name: {run:?}"
    );
}

/// `HTTP_PROXY` is honoured: every call goes through the proxy (here the front in proxy mode),
/// and the run still verifies.
#[test]
fn calls_go_through_the_proxy_of_http_proxy() {
    use ctverify_tests::tls_front::TlsFront;
    let trail = S3Trail::start(&spec(), |_| {});
    let proxy = TlsFront::start(None, &trail.server.endpoint(), &trail.stub.endpoint())
        .expect("starting the proxy");
    let env = with(
        &servers_env(&trail),
        &[("HTTP_PROXY", &proxy.endpoint()), ("NO_PROXY", "")],
    );
    let run = run_child(&verify_args(&trail, &[]), &env);
    assert_eq!(run.code, VALID, "{run:?}");
    assert!(
        proxy.proxied() > 0,
        "no request went through the proxy: {run:?}"
    );
}

/// A name two visible trails share is refused with both ARNs, never resolved by guessing.
#[test]
fn a_trail_name_two_trails_share_is_refused_with_both_arns() {
    use ctverify_tests::cloudtrail_stub::StubTrail;
    let trail = S3Trail::start_with(
        &spec(),
        |_| {},
        ctverify_tests::s3_server::S3ServerOptions::new(),
        |_| {},
        |config| {
            let mine = config.trails[0].clone();
            let other_arn =
                mine.arn
                    .replacen(mine.arn.split(':').nth(4).unwrap(), "999988887777", 1);
            let mut other = StubTrail::new(&other_arn, &mine.bucket);
            other.home_region = mine.home_region.clone();
            config.trails.push(other);
        },
    );
    let manifest = &trail.trail.manifest;
    let name = manifest.trail_arn.rsplit('/').next().unwrap().to_owned();
    let mut args = verify_args(&trail, &[]);
    let at = args.iter().position(|a| a == "--trail").unwrap() + 1;
    args[at] = name.clone();
    let run = run_child(
        &args,
        &with(&servers_env(&trail), &[("AWS_REGION", "us-east-1")]),
    );
    assert_eq!(run.code, ERROR, "{run:?}");
    assert!(
        run.stderr.contains("several trails are named")
            && run.stderr.contains(&manifest.trail_arn)
            && run.stderr.contains("999988887777"),
        "{run:?}"
    );
}

/// `--public-keys` against S3 pins the keys: ListPublicKeys is not asked, and the warning
/// that the endpoint chooses the keys is not given (it is without the pin).
#[test]
fn public_keys_against_s3_pin_the_keys_instead_of_asking_the_endpoint() {
    use ctverify_tests::tls_front::TlsFront;
    let trail = S3Trail::start(&spec(), |_| {});
    let front = TlsFront::start(None, &trail.server.endpoint(), &trail.stub.endpoint())
        .expect("starting the front");
    let keys = trail.trail.keys();
    let keys = keys.to_str().unwrap();
    let endpoint = front.endpoint();
    let env = servers_env(&trail);

    let run = run_child(&verify_args(&trail, &["--endpoint-url", &endpoint]), &env);
    assert_eq!(run.code, VALID, "{run:?}");
    assert!(
        run.stderr.contains("chooses which signatures verify"),
        "{run:?}"
    );
    let asked = trail.stub.count("ListPublicKeys");
    assert!(asked > 0);

    let run = run_child(
        &verify_args(
            &trail,
            &["--endpoint-url", &endpoint, "--public-keys", keys],
        ),
        &env,
    );
    assert_eq!(run.code, VALID, "{run:?}");
    assert!(
        !run.stderr.contains("chooses which signatures verify"),
        "{run:?}"
    );
    assert_eq!(
        trail.stub.count("ListPublicKeys"),
        asked,
        "the pinned run asked nothing"
    );
}

/// Runs the binary with local endpoints only and gives it `seconds` to end: a run that blocks
/// (on a FIFO, say) is killed and fails the test instead of hanging it.
fn run_bounded(args: &[String], seconds: u64) -> Run {
    let mut child =
        s3_trail::ctverify_command(args, "http://127.0.0.1:1", "http://127.0.0.1:1", &[])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running ctverify");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while child.try_wait().expect("waiting for ctverify").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ctverify {args:?} still running after {seconds} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("ctverify's output");
    Run::from(output)
}

/// A FIFO where a document should be (the `--state`, a shard's `--plan`, merge's plan, a
/// shard's report, a key file) is refused at once with exit 3 and says why: it is opened
/// non-blocking and checked to be a regular file before anything is read, so the run never
/// waits for a writer that will not come.
#[test]
fn a_fifo_state_plan_report_or_key_file_is_refused_at_once() {
    let trail = GeneratedTrail::new(&spec());
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.json");
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
    let fifo = fifo.display().to_string();
    let shards = dir.path().join("shard-{}.json").display().to_string();
    let local = |keys: &str| {
        let mut args = ctverify_tests::trail::range_args(&trail.manifest);
        args.extend([
            "--local".to_owned(),
            trail.copy().display().to_string(),
            "--public-keys".into(),
            keys.to_owned(),
        ]);
        args
    };
    let keys = trail.keys().display().to_string();
    // A real plan, for merge's reports.
    let plan = dir.path().join("plan.json").display().to_string();
    let mut args = vec!["plan".to_owned()];
    args.extend(local(&keys));
    args.extend(["--shards".into(), "1".into(), "--out".into(), plan.clone()]);
    let run = run_bounded(&args, 60);
    assert_eq!(run.code, VALID, "{run:?}");

    let with = |mut args: Vec<String>, extra: &[&str]| {
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let cases = [
        ("--state", with(local(&keys), &["--state", &fifo])),
        (
            "a shard's --plan",
            with(
                local(&keys),
                &["--plan", &fifo, "--shard", "0", "--out", &shards],
            ),
        ),
        (
            "merge's plan",
            with(Vec::new(), &["merge", "--plan", &fifo, &plan]),
        ),
        (
            "a shard's report",
            with(Vec::new(), &["merge", "--plan", &plan, &fifo]),
        ),
        ("--public-keys", local(&fifo)),
    ];
    for (what, args) in cases {
        let run = run_bounded(&args, 20);
        assert_eq!(run.code, ERROR, "{what}: {run:?}");
        assert!(
            run.stderr.contains("not a regular file (a FIFO)"),
            "{what}: {run:?}"
        );
    }
}

/// A `--state` in the trail's own bucket is refused (exit 3, naming the override) before
/// anything is verified or written: whoever can write the trail's files can usually rewrite the
/// state beside them. `--allow-state-in-trail-bucket` accepts it, and the report says so in
/// its warnings; a state in another bucket needs neither.
#[test]
fn a_state_in_the_trails_own_bucket_is_refused_unless_allowed_and_then_warned() {
    let s3 = S3Trail::start(&spec(), |_| {});
    let bucket = s3.trail.bucket().to_owned();
    let state = format!("s3://{bucket}/ctverify/state.json");
    // An S3 state is located with GetBucketLocation, which needs a region to start from.
    let env = [("AWS_REGION".to_owned(), "us-east-1".to_owned())];
    let run = s3.verify_with_env(&["--state", &state], &env);
    let json_run = |extra: &[&str]| {
        let mut args = vec!["--format", "json"];
        args.extend_from_slice(extra);
        let run = s3.verify_with_env(&args, &env);
        let json: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("not a JSON report ({e}): {run:?}"));
        (run.code, json)
    };
    assert_eq!(run.code, ERROR, "{run:?}");
    assert!(
        run.stderr.contains("in the trail's own bucket")
            && run.stderr.contains("--allow-state-in-trail-bucket"),
        "{run:?}"
    );
    assert!(
        s3.server
            .handle()
            .get(&bucket, "ctverify/state.json")
            .is_none(),
        "a refused state is not written"
    );

    let (code, report) = json_run(&["--state", &state, "--allow-state-in-trail-bucket"]);
    assert_eq!(code, VALID, "{report:#}");
    let warned = |report: &serde_json::Value| {
        report["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("the trail's own bucket"))
    };
    assert!(warned(&report), "{report:#}");
    assert!(
        s3.server
            .handle()
            .get(&bucket, "ctverify/state.json")
            .is_some()
    );

    s3.server
        .handle()
        .create_bucket("audit-bucket", "us-east-1");
    let (code, report) = json_run(&["--state", "s3://audit-bucket/ctverify/state.json"]);
    assert_eq!(code, VALID, "{report:#}");
    assert!(!warned(&report), "{report:#}");
}

// Issue 23: the first ten minutes.

/// The bundled sample's arguments: `--trail ARN --from --to --local DIR --public-keys FILE`.
fn sample_args(dir: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "ctverify",
        "--trail",
        "arn:aws:cloudtrail:us-east-1:111122223333:trail/sample-trail",
        "--from",
        "2026-01-01T00:00:00Z",
        "--to",
        "2026-01-01T06:00:00Z",
        "--local",
        dir,
        "--public-keys",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/sample/public-keys.json"
        ),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

const SAMPLE_TRAIL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/sample/trail");

/// The last line of stdout that is not blank.
fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}

/// Text output ends, on stdout, with one verdict line: what was proven, for how many chains,
/// and how old the proof is (hours from the newest proven hour to now).
#[tokio::test]
async fn the_text_output_ends_with_a_valid_verdict_line_with_the_proof_lag() {
    let run = run_ctverify(&sample_args(
        SAMPLE_TRAIL,
        &["--now", "2026-01-01T09:30:00Z"],
    ))
    .await;
    assert_eq!(run.code, VALID, "{run:?}");
    assert_eq!(
        last_line(&run.stdout),
        "VALID: proved 2026-01-01T00:00:00Z – 2026-01-01T06:00:00Z for 1 chain; proof lag 3 h",
        "{run:?}"
    );
}

/// A tampered log file: the verdict line on stdout names the first finding (with both hashes,
/// as the JSON has them), so `ctverify ... > report.txt` keeps why it failed.
#[tokio::test]
async fn an_invalid_verdict_line_quotes_the_first_finding_with_both_hashes() {
    use std::io::Write as _;
    let trail = GeneratedTrail::new(&spec());
    let key = trail.log(1, 0);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(br#"{"Records":[]}"#).unwrap();
    std::fs::write(
        trail.copy().join(trail.bucket()).join(&key),
        gz.finish().unwrap(),
    )
    .unwrap();
    let run = trail.verify(&[]).await;
    assert_eq!(run.code, INVALID, "{run:?}");
    let line = last_line(&run.stdout);
    assert!(
        line.starts_with(&format!(
            "INVALID: Log file s3://{}/{key}: hash value doesn't match (the digest file lists ",
            trail.bucket()
        )) && line.contains(", the file hashes to "),
        "{line}\n{run:?}"
    );
}

/// `--out FILE`: the whole text report (findings included, which otherwise go to stderr) goes
/// to the file, ending with the verdict line; the terminal gets only where it went and the
/// verdict.
#[tokio::test]
async fn out_file_holds_the_whole_text_report_and_the_terminal_the_verdict() {
    let trail = GeneratedTrail::new(&spec());
    std::fs::remove_file(trail.copy().join(trail.bucket()).join(trail.log(2, 1))).unwrap();
    let file = trail.dir.path().join("report.txt");
    let run = trail.verify(&["--out", file.to_str().unwrap()]).await;
    assert_eq!(run.code, INVALID, "{run:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("Validating log files for trail"), "{text}");
    assert!(
        text.contains("INVALID: not found"),
        "the findings are in the file:\n{text}"
    );
    assert!(
        last_line(&text).starts_with("INVALID: Log file s3://"),
        "{text}"
    );
    assert_eq!(run.stderr, "", "{run:?}");
    assert_eq!(
        run.stdout,
        format!(
            "Report written to {}\n{}\n",
            file.display(),
            last_line(&text)
        ),
    );
}

/// A path mistake is not tampering: the sample given one folder too high (it holds the
/// generator's `manifest.json`, a common name, not a bundle's marker) or one folder too deep
/// stops the run (exit 3) with the path to give instead, and nothing is called invalid.
#[tokio::test]
async fn a_local_copy_one_folder_too_high_or_too_deep_is_a_path_mistake_not_tampering() {
    let sample = SAMPLE_TRAIL.trim_end_matches("/trail");
    for (dir, says) in [
        (
            sample.to_owned(),
            format!("one folder too high, give --local {SAMPLE_TRAIL}"),
        ),
        (
            format!("{SAMPLE_TRAIL}/ctverify-sample-bucket"),
            format!(
                "one folder too deep: --local takes the folder holding one folder per bucket (DIR/BUCKET/AWSLogs/...), here --local {SAMPLE_TRAIL}"
            ),
        ),
    ] {
        let run = run_ctverify(&sample_args(&dir, &[])).await;
        assert_eq!(run.code, ERROR, "{dir}: {run:?}");
        assert!(run.stderr.contains(&says), "{dir}: {run:?}");
        assert!(
            !run.stderr.contains("INVALID") && !run.stdout.contains("INVALID"),
            "{run:?}"
        );
    }
    // Keys lying in a folder that is not a bundle are not taken by themselves.
    let mut args = sample_args(sample, &[]);
    args.truncate(args.len() - 2);
    let run = run_ctverify(&args).await;
    assert_eq!(run.code, ERROR, "{run:?}");
    assert!(
        run.stderr.contains("--local needs --public-keys")
            && run.stderr.contains("is not an evidence bundle"),
        "{run:?}"
    );
}

/// The documented round trip runs as written: `export --out FILE.tar.gz`, then `--local
/// FILE.tar.gz` with keys from a trusted source is valid and asks for nothing more; without
/// keys, the verdict line says why it is unverifiable (the keys are the bundle's own). The
/// archive is unpacked into a private folder that is gone after the run.
#[tokio::test]
async fn a_tar_gz_bundle_is_read_directly_and_keys_given_raise_no_warning() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("evidence.tar.gz");
    let mut export = sample_args(SAMPLE_TRAIL, &["--out", archive.to_str().unwrap()]);
    export.insert(1, "export".into());
    let run = run_ctverify(&export).await;
    assert_eq!(run.code, VALID, "{run:?}");

    let scratch_before = scratch_folders();
    let run = run_ctverify(&sample_args(archive.to_str().unwrap(), &[])).await;
    assert_eq!(run.code, VALID, "{run:?}");
    assert!(
        last_line(&run.stdout).starts_with("VALID: proved"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("--public-keys"), "{run:?}");
    run.assert_line(&[&format!(
        "Reading {} (unpacked)/ctverify-sample-bucket/AWSLogs/",
        archive.display()
    )]);
    assert_eq!(
        scratch_folders(),
        scratch_before,
        "the unpacked bundle is removed"
    );

    let mut args = sample_args(archive.to_str().unwrap(), &[]);
    args.truncate(args.len() - 2);
    let run = run_ctverify(&args).await;
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    assert!(
        last_line(&run.stdout)
            .starts_with("UNVERIFIABLE: the public keys are the bundle's own public-keys.json"),
        "{run:?}"
    );
}

/// The folders `--local FILE.tar.gz` unpacks into, of this process.
fn scratch_folders() -> Vec<String> {
    let mine = format!("ctverify-bundle-{}-", std::process::id());
    let mut names: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&mine))
        .collect();
    names.sort();
    names
}

/// A week-long segment with no digest in it is not a seam to prove: the sample verified from
/// its first day over two months (nine segments, eight of them empty) has one finding, the
/// true coverage gap, and text, JSON, JSON Lines and JUnit agree on it, finding for finding,
/// each ending with the same verdict.
#[tokio::test]
async fn empty_segments_make_no_seam_findings_and_every_format_agrees() {
    let range = ["--now", "2026-03-02T00:00:00Z"];
    let run = |format: &'static str| {
        let mut args = sample_args(SAMPLE_TRAIL, &range);
        args[6] = "2026-03-01T00:00:00Z".into();
        args.extend(["--format".to_owned(), format.to_owned()]);
        async move { run_ctverify(&args).await }
    };
    let text = run("text").await;
    let json = run("json").await;
    let jsonl = run("jsonl").await;
    let junit = run("junit").await;
    for r in [&text, &json, &jsonl, &junit] {
        assert_eq!(r.code, UNVERIFIABLE, "{r:?}");
    }
    let report: cloudtrail_verify::Report = serde_json::from_str(&json.stdout).unwrap();
    let findings = cloudtrail_verify::messages::findings(&report);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(findings[0].subject.starts_with("Coverage"), "{findings:?}");
    assert!(findings[0].text.contains("(1410 hours)"), "{findings:?}");

    let text_findings: Vec<&str> = text
        .stderr
        .lines()
        .filter(|l| l.contains("\tINVALID: ") || l.contains("\tUNVERIFIABLE: "))
        .collect();
    assert_eq!(
        text_findings,
        vec![format!(
            "Coverage\taccount 111122223333 region us-east-1\tUNVERIFIABLE: {}",
            findings[0].text
        )],
        "{text:?}"
    );
    let verdict =
        cloudtrail_verify::messages::verdict_line(&report, "2026-03-02T00:00:00Z".parse().unwrap());
    assert_eq!(last_line(&text.stdout), verdict);

    let lines: Vec<serde_json::Value> = jsonl
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let not_valid = |t: &str| {
        lines
            .iter()
            .filter(|l| l["type"] == t && l["status"] != "valid")
            .count()
    };
    assert_eq!(not_valid("seam"), 0, "{}", jsonl.stdout);
    assert_eq!(not_valid("gap"), 1, "{}", jsonl.stdout);
    assert_eq!(lines.last().unwrap()["verdict"], verdict.as_str());

    let failures =
        junit.stdout.matches("<failure").count() + junit.stdout.matches("<error").count();
    // The gap, and the run's verdict case.
    assert_eq!(failures, 2, "{}", junit.stdout);
    assert!(
        junit
            .stdout
            .contains(&format!("message=\"{}\"", verdict.replace('\'', "&apos;"))),
        "{}",
        junit.stdout
    );
}

/// Trust warnings point the right way: a CloudTrail endpoint set by `AWS_ENDPOINT_URL_CLOUDTRAIL`
/// (not only `--endpoint-url`) on another host over plain HTTP is warned about, once, naming
/// the variable; the system's own CA bundle given as `AWS_CA_BUNDLE` changes nothing and is
/// not warned about, and a private one is.
#[test]
fn trust_warnings_name_any_non_aws_endpoint_once_and_spare_the_systems_ca_bundle() {
    let trail = S3Trail::start(&spec(), |_| {});
    let env = servers_env(&trail);
    let run = run_child(&verify_args(&trail, &[]), &env);
    assert_eq!(run.code, VALID, "{run:?}");
    let warned: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("chooses which signatures verify"))
        .collect();
    assert_eq!(warned.len(), 1, "{run:?}");
    assert!(
        warned[0].contains(
            "(AWS_ENDPOINT_URL_CLOUDTRAIL), which is not an AWS endpoint, over plain HTTP"
        ),
        "{run:?}"
    );

    let system = [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ]
    .into_iter()
    .find(|p| Path::new(p).is_file())
    .expect("a system CA bundle on the test machine");
    let run = run_child(
        &verify_args(&trail, &[]),
        &with(&env, &[("AWS_CA_BUNDLE", system)]),
    );
    assert_eq!(run.code, VALID, "{run:?}");
    assert!(!run.stderr.contains("TLS trusts"), "{run:?}");

    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("private.pem");
    // A certificate of its own: a CA the system does not have.
    let ca = rcgen::generate_simple_self_signed(vec!["private.example".to_owned()]).unwrap();
    std::fs::write(&private, ca.cert.pem()).unwrap();
    let run = run_child(
        &verify_args(&trail, &[]),
        &with(&env, &[("AWS_CA_BUNDLE", private.to_str().unwrap())]),
    );
    assert_eq!(run.code, VALID, "{run:?}");
    assert_eq!(
        run.stderr.matches("TLS trusts the CA bundle").count(),
        1,
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("private.pem (AWS_CA_BUNDLE) instead of the system's"),
        "{run:?}"
    );
}

/// A `--state` run says what it did: the checkpoint read again and what proves it, the hours
/// since it and how many are proven, the state written and where its checkpoint now is, then
/// the verdict; with nothing delivered since, "nothing new since the checkpoint", not "no
/// digests found" with where it looked. A resumed run's provenance shows no `--from`.
#[tokio::test]
async fn a_state_run_says_the_checkpoint_it_read_the_hours_it_proved_and_the_state_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state = state.to_str().unwrap();
    let mut first = sample_args(SAMPLE_TRAIL, &["--state", state]);
    first[6] = "2026-01-01T03:00:00Z".into();
    let run = run_ctverify(&first).await;
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&[
        "State written to",
        state,
        "checkpoint 111122223333/us-east-1 at 2026-01-01T03:00:00Z",
    ]);

    let resumed = |now: &'static str| {
        let mut args = sample_args(SAMPLE_TRAIL, &["--state", state, "--now", now]);
        // No --from and no --to: the state and the clock say.
        args.drain(3..7);
        async move { run_ctverify(&args).await }
    };
    let run = resumed("2026-01-01T08:00:00Z").await;
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&[
        "Checkpoint of 111122223333/us-east-1 at 2026-01-01T03:00:00Z",
        "read again: unchanged, and the oldest new digest file names it",
    ]);
    run.assert_line(&["3 hours since the checkpoints, 3 of them proven"]);
    run.assert_line(&[
        "State written to",
        "checkpoint 111122223333/us-east-1 moved from 2026-01-01T03:00:00Z to 2026-01-01T06:00:00Z",
    ]);
    run.assert_line(&[
        "Options: from the checkpoints of --state",
        "--to 2026-01-01T06:00:00Z",
    ]);
    assert!(!run.stdout.contains("Options: --from"), "{run:?}");
    assert!(
        last_line(&run.stdout).starts_with("VALID: proved 2026-01-01T03:00:00Z"),
        "{run:?}"
    );

    let run = resumed("2026-01-01T08:30:00Z").await;
    run.assert_line(&[
        "Nothing new since the checkpoint (111122223333/us-east-1 at 2026-01-01T06:00:00Z)",
    ]);
    run.assert_line(&["read again: unchanged (no newer digest file yet to join it)"]);
    run.assert_line(&["State written to", "kept at 2026-01-01T06:00:00Z"]);
    assert!(
        !run.stdout.contains("No digests found") && !run.stdout.contains("Looked in"),
        "{run:?}"
    );
    assert!(
        last_line(&run.stdout).starts_with("UNVERIFIABLE: "),
        "{run:?}"
    );
}

/// A sharded sweep of a local copy: the plan records the copy, so a shard run without
/// `--local` is refused at once with what to add (not sent to AWS for credentials); with it, the
/// shard says which of how many it was and where its report went; `plan` says when it replaces
/// a plan already written.
#[tokio::test]
async fn a_shard_of_a_local_plan_needs_local_and_says_where_its_report_went() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    let plan = plan.to_str().unwrap();
    let mut args = sample_args(SAMPLE_TRAIL, &["--shards", "2", "--out", plan]);
    args.insert(1, "plan".into());
    let run = run_ctverify(&args).await;
    assert_eq!(run.code, VALID, "{run:?}");
    assert!(run.stdout.contains("2 shards over 1 chain,"), "{run:?}");
    let again = run_ctverify(&args).await;
    assert_eq!(again.code, VALID, "{again:?}");
    assert!(
        again.stdout.contains("(replacing the plan that was there)"),
        "{again:?}"
    );

    let report = format!("{}/shard-{{}}.json", dir.path().display());
    let shard = |local: bool| {
        let mut args: Vec<String> = ["ctverify", "--plan", plan, "--shard", "1", "--out", &report]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if local {
            args.extend(sample_args(SAMPLE_TRAIL, &[])[7..].iter().cloned());
        }
        async move { run_ctverify(&args).await }
    };
    let run = shard(false).await;
    assert_eq!(run.code, ERROR, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "the plan was made from the local copy {SAMPLE_TRAIL}: add --local"
        )),
        "{run:?}"
    );
    let run = shard(true).await;
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&[&format!(
        "Shard 1 of 2 of the plan: report written to {}/shard-1.json",
        dir.path().display()
    )]);
    assert!(
        last_line(&run.stdout).starts_with("VALID: proved"),
        "{run:?}"
    );
    assert!(dir.path().join("shard-1.json").is_file());

    // The other shard, then merge in every format a single run has, and quietly.
    let mut args = sample_args(SAMPLE_TRAIL, &[]);
    args.drain(1..7);
    args.splice(
        1..1,
        ["--plan", plan, "--shard", "0", "--out", &report].map(String::from),
    );
    assert_eq!(run_ctverify(&args).await.code, VALID);
    let merge = |extra: &[&str]| {
        let mut args: Vec<String> = ["ctverify", "merge", "--plan", plan, &report]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        async move { run_ctverify(&args).await }
    };
    let quiet = merge(&["-q"]).await;
    assert_eq!(
        (quiet.code, quiet.stdout.as_str(), quiet.stderr.as_str()),
        (VALID, "", "")
    );
    let jsonl = merge(&["--format", "jsonl"]).await;
    assert_eq!(jsonl.code, VALID, "{jsonl:?}");
    let last: serde_json::Value = serde_json::from_str(last_line(&jsonl.stdout)).unwrap();
    assert_eq!(last["type"], "summary");
    assert!(
        last["verdict"]
            .as_str()
            .unwrap()
            .starts_with("VALID: proved"),
        "{last}"
    );
    // The shards' reports keep valid digests as counts (their runs streamed): the chain's
    // end carries them.
    let finished: serde_json::Value = jsonl
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["type"] == "chain_finished")
        .unwrap();
    assert_eq!(finished["summary"]["digests"]["valid"], 6, "{jsonl:?}");
    let junit = merge(&["--format", "junit"]).await;
    assert_eq!(junit.code, VALID, "{junit:?}");
    assert!(
        junit
            .stdout
            .contains("<testsuite name=\"111122223333/us-east-1\""),
        "{junit:?}"
    );
}

// Every command example of `ctverify --help` and of the README, run as written.

/// The documented exit status of an example that does not end valid, with why; every other
/// example must exit 0. Matched on a part of the example's text.
const EXAMPLE_STATUSES: &[(&str, u8, &str)] = &[
    // The test bucket holds no folder of member account 444455556666: its chain, asked for,
    // is unverifiable (no digest at all).
    (
        "--account-id 444455556666",
        UNVERIFIABLE,
        "member account absent",
    ),
    // The sweep's range runs to 2027-01-01, past the run's now: its last hours cannot be
    // delivered yet, so the merged verdict (and the newest shard's) is unverifiable.
    ("merge --plan", UNVERIFIABLE, "range past now"),
];

/// Command lines of `text`'s examples: the lines (joined across `\` continuations) that run
/// `ctverify`, or `cargo run ... --` of it, with a cron schedule and a `|| ...` fallback
/// removed; usage synopses (`[options]`, `TIME`, alternatives) are not examples.
fn example_commands(text: &str) -> Vec<String> {
    // A continued line goes on after its next line's indentation.
    let mut joined = String::new();
    for line in text.lines() {
        match line.strip_suffix('\\') {
            Some(start) => {
                joined.push_str(start.trim_end());
                joined.push(' ');
            }
            None if joined.ends_with(' ') => {
                joined.push_str(line.trim_start());
                joined.push('\n');
            }
            None => {
                joined.push_str(line);
                joined.push('\n');
            }
        }
    }
    joined
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let at = line
                .find("ctverify ")
                .filter(|&at| at == 0 || line[..at].starts_with("15 * * * *"))
                .or_else(|| {
                    line.starts_with("cargo run ")
                        .then(|| line.find(" -- ").map(|at| at + 4))
                        .flatten()
                })?;
            let command = &line[at..];
            let command = command.strip_prefix("ctverify ").unwrap_or(command);
            // A synopsis's description column, after a run of spaces.
            let command = command.split("   ").next()?;
            let command = command.split(" || ").next()?;
            let command = command.split(" # ").next()?.trim();
            let synopsis = ["[", "TIME", "|zsh", " DIR|", "(--", " PLAN", "REPORT"];
            (!synopsis.iter().any(|s| command.contains(s))).then(|| command.to_owned())
        })
        .collect()
}

/// Words of a command line as a POSIX shell splits them (single quotes only), and the file of
/// a `> FILE` redirection.
fn shell_words(command: &str) -> (Vec<String>, Option<String>) {
    let mut words = Vec::new();
    let (mut word, mut quoted, mut any) = (String::new(), false, false);
    for c in command.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    let redirect = words.iter().position(|w| w == ">").map(|at| {
        let file = words[at + 1].clone();
        words.truncate(at);
        file
    });
    (words, redirect)
}

/// Every `ctverify` example of `--help`, of `export --help` and `plan --help` (which `merge
/// --help` shares) and of the README runs as written against a trail in
/// the test S3 server (the README's own ARN, a week from 2026-01-01) and its local copy, keys
/// saved as `aws cloudtrail list-public-keys` would (`keys.json`), the bundled sample, and
/// buckets for states, plans and reports; each exits with its documented status. Only the
/// clock is set (`--now`, a week in), so that "since 2026-01-01" is the trail's week.
#[test]
fn every_example_of_the_help_and_the_readme_runs_as_written() {
    let spec = ctverify_fixtures::TrailSpec {
        accounts: vec!["111122223333".into()],
        regions: vec!["us-east-1".into()],
        trail_name: "main".into(),
        // 2026-01-01T00:00Z to 2026-01-08T03:00Z: the examples' week and the hours after.
        digests: 7 * 24 + 3,
        logs_per_digest: 1,
        records_per_log: 1,
        ..spec()
    };
    // The organization example's trail, delivering to the same bucket, which holds no
    // folder of its member account.
    let trail = S3Trail::start_with(
        &spec,
        |_| {},
        ctverify_tests::s3_server::S3ServerOptions::new(),
        |_| {},
        |config| {
            let org = ctverify_tests::cloudtrail_stub::StubTrail::new(
                "arn:aws:cloudtrail:us-east-1:111122223333:trail/org",
                &config.trails[0].bucket,
            );
            config.trails.push(org);
        },
    );
    for bucket in ["audit-bucket", "audit"] {
        trail.server.handle().create_bucket(bucket, "us-east-1");
    }
    let arn = trail.trail.manifest.trail_arn.clone();
    assert_eq!(arn, "arn:aws:cloudtrail:us-east-1:111122223333:trail/main");
    // The example's working directory: `copy/BUCKET/...`, `keys.json`, and the sample.
    let work = trail.trail.dir.path();
    std::os::unix::fs::symlink(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures"),
        work.join("fixtures"),
    )
    .unwrap();
    let env = with(&servers_env(&trail), &[("AWS_REGION", "us-east-1")]);

    let help = |args: &[&str]| {
        let run = run_child(
            &args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            &env,
        );
        assert_eq!(run.code, VALID, "{run:?}");
        run.stdout
    };
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let readme_blocks: String = readme
        .split("```")
        .skip(1)
        .step_by(2)
        .collect::<Vec<_>>()
        .join("\n");
    let sources = [
        ("--help", example_commands(&help(&["--help"]))),
        (
            "export --help",
            example_commands(&help(&["export", "--help"])),
        ),
        ("plan --help", example_commands(&help(&["plan", "--help"]))),
        ("README.md", example_commands(&readme_blocks)),
    ];
    for (source, examples) in &sources {
        assert!(examples.len() >= 2, "{source}: {examples:#?}");
    }
    assert!(
        sources[0].1.len() >= 10 && sources[3].1.len() >= 10,
        "{sources:#?}"
    );
    // Each source's examples in a directory of their own (the same copy, keys and sample), so
    // that files one source's examples write (an evidence bundle) are not another's.
    let dirs: Vec<tempfile::TempDir> = sources
        .iter()
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            for name in ["copy", "keys.json", "fixtures"] {
                std::os::unix::fs::symlink(work.join(name), dir.path().join(name)).unwrap();
            }
            dir
        })
        .collect();
    let examples = sources
        .iter()
        .zip(&dirs)
        .flat_map(|((_, examples), dir)| examples.iter().map(move |e| (dir.path(), e)));

    let mut ran = 0;
    for (work, example) in examples {
        // `--shard K` for every shard of the plan, as the comment beside it says.
        let shards: Vec<String> = if example.contains("--shard K") {
            let plan = trail
                .server
                .handle()
                .get("audit", "plan.json")
                .expect("the plan");
            let plan: serde_json::Value = serde_json::from_slice(&plan.body).unwrap();
            let count = plan["shards"].as_array().unwrap().len();
            assert!(count > 1, "{plan}");
            (0..count)
                .map(|k| example.replace("--shard K", &format!("--shard {k}")))
                .collect()
        } else {
            vec![example.replace("--trail ARN", &format!("--trail {arn}"))]
        };
        for command in shards {
            let command = command.replace("--trail ARN", &format!("--trail {arn}"));
            let (mut args, redirect) = shell_words(&command);
            let verifies = !["completions", "man", "merge"].contains(&args[0].as_str());
            if verifies && !args.iter().any(|a| a == "--now") {
                args.extend(["--now".into(), "2026-01-08T05:00:00Z".into()]);
            }
            let output = Command::new(env!("CARGO_BIN_EXE_ctverify-under-test"))
                .args(&args)
                .current_dir(work)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("AWS_CONFIG_FILE", "/dev/null")
                .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
                .envs(env.iter().map(|(k, v)| (*k, v)))
                .output()
                .unwrap();
            let code = output.status.code().unwrap_or(255) as u8;
            if let Some(file) = redirect {
                std::fs::write(work.join(file), &output.stdout).unwrap();
            }
            let expected = EXAMPLE_STATUSES
                .iter()
                .find(|(part, _, _)| command.contains(part))
                .map_or(VALID, |(_, status, _)| *status);
            // The newest shard of a sweep into the future is unverifiable, the others valid.
            let allowed: &[u8] = if command.contains("--plan s3://audit/plan.json --shard") {
                &[VALID, UNVERIFIABLE]
            } else {
                std::slice::from_ref(&expected)
            };
            assert!(
                allowed.contains(&code),
                "`ctverify {command}` exited {code}, documented {allowed:?}:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            ran += 1;
        }
    }
    assert!(ran >= 30, "{ran} examples ran: {sources:#?}");
}

/// A deleted digest leaves each log file it listed unlisted: the text names the first three of
/// that finding and counts the rest in one line (the JSON report keeps every one), and counts
/// in the summary agree with the JSON's; plurals follow the counts.
#[tokio::test]
async fn a_deleted_digests_log_files_are_summarised_not_listed_one_by_one() {
    let trail = GeneratedTrail::new(&ctverify_fixtures::TrailSpec {
        logs_per_digest: 8,
        ..spec()
    });
    std::fs::remove_file(trail.copy().join(trail.bucket()).join(trail.digest(1))).unwrap();
    let run = trail.verify(&[]).await;
    assert_ne!(run.code, VALID, "{run:?}");
    let log_lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("Log file\t"))
        .collect();
    assert_eq!(log_lines.len(), 4, "{run:?}");
    assert!(
        log_lines[3].contains("5 more log files: not listed"),
        "{run:?}"
    );
    let (_, report) = trail.report(&[]).await;
    let unlisted = report["chains"][0]["unlisted_logs"].as_array().unwrap();
    assert_eq!(unlisted.len(), 8, "the JSON keeps every one");
    let verbose = trail.verify(&["--verbose"]).await;
    assert!(
        verbose
            .stderr
            .lines()
            .filter(|l| l.starts_with("Log file\t"))
            .count()
            >= 8,
        "{verbose:?}"
    );
    assert!(run.stdout.contains("(1 gap)"), "{run:?}");
}

/// Bare `ctverify` prints the usage, the commands and what to give (exit 3), not only the
/// first missing flag; `export --out FILE.zip` is refused rather than making a folder named
/// like a file.
#[tokio::test]
async fn bare_ctverify_prints_the_usage_and_export_refuses_an_archive_it_does_not_write() {
    let run = run_ctverify(&["ctverify".to_owned()]).await;
    assert_eq!(run.code, ERROR, "{run:?}");
    for part in [
        "Usage: ctverify [OPTIONS]",
        "export",
        "plan",
        "merge",
        "Examples:",
        "ctverify: --trail ARN is required, with --from TIME",
    ] {
        assert!(run.stderr.contains(part), "{part}: {run:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("out.zip");
    let mut args = sample_args(SAMPLE_TRAIL, &["--out", zip.to_str().unwrap()]);
    args.insert(1, "export".into());
    let run = run_ctverify(&args).await;
    assert_eq!(run.code, ERROR, "{run:?}");
    assert!(
        run.stderr
            .contains("names an archive format export does not write"),
        "{run:?}"
    );
    assert!(!zip.exists());
}

/// The lines a terminal shows at the end of `output`: carriage returns go back to the line's
/// start, `ESC [2K` clears the line, `ESC [nA` goes up a line (as indicatif draws), other
/// escape sequences draw nothing.
fn final_screen(output: &str) -> Vec<String> {
    let mut screen: Vec<String> = vec![String::new()];
    let mut row = 0;
    let mut chars = output.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                row += 1;
                if row == screen.len() {
                    screen.push(String::new());
                }
            }
            '\r' => screen[row].push('\r'),
            '\u{1b}' => {
                let mut sequence = String::new();
                if chars.peek() == Some(&'[') {
                    chars.next();
                    while let Some(&c) = chars.peek() {
                        chars.next();
                        sequence.push(c);
                        if c.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
                match sequence.as_str() {
                    "2K" => screen[row].clear(),
                    up if up.ends_with('A') => {
                        row = row.saturating_sub(up[..up.len() - 1].parse().unwrap_or(1));
                    }
                    _ => {}
                }
            }
            c => screen[row].push(c),
        }
    }
    // After a carriage return, what is written next overwrites the line from its start.
    screen
        .into_iter()
        .map(|line| match line.rsplit_once('\r') {
            Some((before, after)) if after.len() >= before.len() => after.to_owned(),
            Some((before, after)) => format!("{after}{}", &before[after.len()..]),
            None => line,
        })
        .collect()
}

/// In a terminal (a pseudo-terminal from `script`), the progress bar never stays on the final
/// screen, however the run ends: a verification, a plan written, a run that fails to start.
#[test]
fn the_progress_bar_leaves_nothing_on_the_final_screen() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    let binary = env!("CARGO_BIN_EXE_ctverify-under-test");
    let mut plan_args = sample_args(
        SAMPLE_TRAIL,
        &["--shards", "2", "--out", plan.to_str().unwrap()],
    );
    plan_args[0] = "plan".into();
    let mut verify = sample_args(SAMPLE_TRAIL, &[]);
    verify.remove(0);
    let mut failing = sample_args(SAMPLE_TRAIL.trim_end_matches("/trail"), &[]);
    failing.remove(0);
    for args in [verify, plan_args, failing] {
        let command = std::iter::once(binary.to_owned())
            .chain(args.iter().cloned())
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let output = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env("TERM", "xterm")
            .output()
            .expect("script (util-linux) runs the command in a pseudo-terminal");
        let text = String::from_utf8_lossy(&output.stdout);
        let screen = final_screen(&text);
        assert!(
            !screen.iter().any(|l| l.contains("[00:")
                || l.contains("ETA")
                || l.contains("listing the trail")),
            "{args:?}: the bar stayed:\n{}",
            screen.join("\n")
        );
        assert!(screen.iter().any(|l| !l.trim().is_empty()), "{text:?}");
    }
}

/// The man page is one page with everything: each command's synopsis and options under
/// COMMANDS (no pointers to `ctverify-audit(1)` pages that do not exist), the examples of every
/// help under EXAMPLES (not "EXTRA"), the exit statuses, and no hyphenation, so that an ARN or
/// URL copied from it is whole.
#[tokio::test]
async fn the_man_page_holds_every_command_its_options_and_examples_unhyphenated() {
    let run = run_ctverify(&["ctverify", "man"].map(str::to_owned)).await;
    assert_eq!(run.code, VALID, "{}", run.stderr);
    let page = &run.stdout;
    for part in [
        "\n.nh\n",
        ".SH COMMANDS",
        ".SS \"ctverify export\"",
        ".SS \"ctverify merge\"",
        ".B SHARDS of ctverify plan",
        ".SH EXAMPLES",
        "arn:aws:cloudtrail:us\\-east\\-1:111122223333:trail/main",
        ".SH \"EXIT STATUS\"",
    ] {
        assert!(page.contains(part), "{part:?} missing:\n{page}");
    }
    for absent in [
        "EXTRA",
        "ctverify\\-audit(1)",
        "ctverify-audit(1)",
        "\n1 INVALID, 2 UNVERIFIABLE)",
    ] {
        assert!(!page.contains(absent), "{absent:?} in:\n{page}");
    }
}

/// A local copy's scope (the chains found in it, plus the home region) is said once, on the
/// "Reading" line, not as a warning on every run; naming the regions makes it known, and then
/// it is not said at all. The JSON report keeps it among its warnings, for machines.
#[tokio::test]
async fn a_local_copys_scope_is_said_once_on_the_reading_line() {
    let run = run_ctverify(&sample_args(SAMPLE_TRAIL, &[])).await;
    assert_eq!(run.code, VALID, "{run:?}");
    assert_eq!(run.stdout.matches("goes unnoticed").count(), 1, "{run:?}");
    run.assert_line(&[
        "Reading ",
        "(the chains found in the bucket, plus the trail's home region",
    ]);
    assert!(!run.stderr.contains("goes unnoticed"), "{run:?}");
    let named = run_ctverify(&sample_args(SAMPLE_TRAIL, &["--region", "us-east-1"])).await;
    assert_eq!(named.code, VALID, "{named:?}");
    assert!(
        !named.stdout.contains("goes unnoticed") && !named.stderr.contains("goes unnoticed"),
        "{named:?}"
    );
    let json = run_ctverify(&sample_args(SAMPLE_TRAIL, &["--format", "json"])).await;
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        report["warnings"][0],
        cloudtrail_verify::messages::SCOPE_FOUND_IN_BUCKET
    );
}
