//! `ctverify enable` and `ctverify audit` as a user runs them: the built binary, text and
//! `--format json`, exit statuses, against moto's server.
//!
//! Every child gets an environment of its own: `AWS_ENDPOINT_URL` pointing at this test's moto,
//! dummy credentials, no shared config files and no instance metadata, so nothing can reach AWS.
//! A test whose moto cannot start fails (see `support/moto.rs`); none is skipped.

use std::path::Path;
use std::process::Command;

use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter,
};
use ctverify_tests::moto::{MOTO_ACCOUNT, MotoServer};
use ctverify_tests::trail::Run;
use ctverify_tests::trail::exit::{ERROR, INVALID, VALID};
use serde_json::{Value, json};

/// A moto server with a bucket whose policy lets CloudTrail deliver, and a bare trail writing to
/// it (no validation, no key).
struct Setup {
    moto: MotoServer,
    conf: aws_config::SdkConfig,
    arn: String,
    bucket: String,
}

impl Setup {
    async fn start(name: &str) -> Self {
        let moto = MotoServer::start();
        let conf = moto.sdk_config();
        let bucket = format!("{name}-logs");
        let arn = format!("arn:aws:cloudtrail:us-east-1:{MOTO_ACCOUNT}:trail/{name}");
        let s3 = cloudtrail_verify::aws::s3_client(&conf);
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("CreateBucket");
        let policy = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow",
             "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": "s3:GetBucketAcl", "Resource": format!("arn:aws:s3:::{bucket}"),
             "Condition": {"StringEquals": {"aws:SourceArn": arn}}},
            {"Sid": "AWSCloudTrailWrite", "Effect": "Allow",
             "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": "s3:PutObject",
             "Resource": format!("arn:aws:s3:::{bucket}/AWSLogs/{MOTO_ACCOUNT}/*"),
             "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control",
                                            "aws:SourceArn": arn}}}
        ]});
        s3.put_bucket_policy()
            .bucket(&bucket)
            .policy(policy.to_string())
            .send()
            .await
            .expect("PutBucketPolicy");
        aws_sdk_cloudtrail::Client::new(&conf)
            .create_trail()
            .name(name)
            .s3_bucket_name(&bucket)
            .send()
            .await
            .expect("CreateTrail");
        Setup {
            moto,
            conf,
            arn,
            bucket,
        }
    }

    /// Runs `ctverify ARGS` against this moto only.
    fn run(&self, args: &[&str]) -> Run {
        self.run_with_endpoint(args, &self.moto.endpoint())
    }

    /// Runs `ctverify ARGS` with `AWS_ENDPOINT_URL` set to `endpoint`.
    fn run_with_endpoint(&self, args: &[&str], endpoint: &str) -> Run {
        let empty = Path::new("/dev/null");
        let output = Command::new(env!("CARGO_BIN_EXE_ctverify-under-test"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", empty)
            .env("AWS_SHARED_CREDENTIALS_FILE", empty)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .output()
            .expect("running ctverify");
        Run::from(output)
    }

    async fn trail(&self) -> aws_sdk_cloudtrail::types::Trail {
        aws_sdk_cloudtrail::Client::new(&self.conf)
            .get_trail()
            .name(&self.arn)
            .send()
            .await
            .expect("GetTrail")
            .trail
            .expect("GetTrail returns the trail")
    }
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\n{}", run.stdout, run.stderr))
}

/// The finding for `check` among the first trail's findings of an audit's JSON.
fn audit_finding<'a>(report: &'a Value, check: &str) -> &'a Value {
    report["trails"][0]["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["check"] == check))
        .unwrap_or_else(|| panic!("no {check} finding in {report:#}"))
}

/// What an SDK debug dump looks like: never for users.
fn assert_no_debug(run: &Run) {
    for word in [
        "ServiceError",
        "DispatchFailure",
        "SdkBody",
        "raw: Response",
    ] {
        assert!(
            !run.stdout.contains(word) && !run.stderr.contains(word),
            "{word} printed:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
}

#[tokio::test]
async fn enable_dry_run_without_a_key_shows_the_whole_plan_and_what_is_missing() {
    let s = Setup::start("nokey").await;

    let text = s.run(&["enable", "--trail", &s.arn, "--dry-run"]);
    assert_eq!(text.code, ERROR, "{}\n{}", text.stdout, text.stderr);
    for expected in [
        "Checks:",
        "bucket policy lets CloudTrail deliver",
        "turn on log-file validation",
        "Missing:",
        "SSE-KMS: needs --kms-key KEY or --create-kms-key, or use --validation-only",
    ] {
        assert!(
            text.stdout.contains(expected),
            "{expected:?} not in:\n{}",
            text.stdout
        );
    }
    assert_eq!(text.stderr.lines().count(), 1, "{}", text.stderr);
    assert!(
        text.stderr.starts_with("ctverify enable: trail "),
        "{}",
        text.stderr
    );
    assert_no_debug(&text);

    let json = s.run(&["enable", "--trail", &s.arn, "--dry-run", "--format", "json"]);
    assert_eq!(json.code, ERROR);
    let doc = json_of(&json);
    assert_eq!(doc["result"], "incomplete");
    assert_eq!(
        doc["plan"]["changes"][0]["change"],
        "enable_log_file_validation"
    );
    assert!(
        doc["plan"]["missing"][0]
            .as_str()
            .is_some_and(|m| m.contains("--validation-only"))
    );
    let checks = doc["plan"]["checks"].as_array().expect("checks");
    assert!(
        checks
            .iter()
            .any(|c| c["check"] == "bucket_policy_allows_delivery" && c["status"] == "pass"),
        "{checks:#?}"
    );
    assert_eq!(s.trail().await.log_file_validation_enabled(), Some(false));
}

#[tokio::test]
async fn enable_validation_only_turns_on_digests_alone_and_audit_agrees() {
    let s = Setup::start("digests").await;

    let run = s.run(&["enable", "--trail", &s.arn, "--validation-only"]);
    assert_eq!(run.code, VALID, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("turn on log-file validation"),
        "{}",
        run.stdout
    );
    let trail = s.trail().await;
    assert_eq!(trail.log_file_validation_enabled(), Some(true));
    assert!(
        trail.kms_key_id().unwrap_or_default().is_empty(),
        "{trail:?}"
    );

    // A second run has nothing to do.
    let again = s.run(&[
        "enable",
        "--trail",
        &s.arn,
        "--validation-only",
        "--format",
        "json",
    ]);
    assert_eq!(again.code, VALID, "{}", again.stderr);
    assert_eq!(json_of(&again)["result"], "unchanged");

    // The bare trail still fails the audit (exit 1), but not on validation.
    let audit = s.run(&["audit", "--trail", &s.arn, "--format", "json"]);
    assert_eq!(audit.code, INVALID, "{}\n{}", audit.stdout, audit.stderr);
    let report = json_of(&audit);
    assert_eq!(report["status"], "fail");
    assert_eq!(
        audit_finding(&report, "log_file_validation")["status"],
        "pass"
    );
    assert_eq!(audit_finding(&report, "sse_kms")["status"], "fail");
    assert_eq!(
        audit_finding(&report, "bucket_policy_allows_delivery")["status"],
        "pass"
    );
}

#[tokio::test]
async fn enable_and_audit_name_and_label_the_bucket_check_the_same() {
    let s = Setup::start("same").await;
    let label = "bucket policy lets CloudTrail deliver";

    let plan = s.run(&[
        "enable",
        "--trail",
        &s.arn,
        "--validation-only",
        "--dry-run",
    ]);
    assert_eq!(plan.code, VALID, "{}\n{}", plan.stdout, plan.stderr);
    let audit = s.run(&["audit", "--trail", &s.arn]);
    assert_eq!(audit.code, INVALID, "{}\n{}", audit.stdout, audit.stderr);
    for run in [&plan, &audit] {
        let line = run
            .stdout
            .lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("no {label:?} line in:\n{}", run.stdout));
        assert!(line.trim_start().starts_with("PASS"), "{line}");
    }
    assert_eq!(s.trail().await.log_file_validation_enabled(), Some(false));
}

#[tokio::test]
async fn audit_fails_the_retention_check_on_a_thirty_day_expiration_and_names_the_rule() {
    let s = Setup::start("short").await;
    // The rule of the set-up guides that keep storage costs down: everything expires after
    // 30 days.
    cloudtrail_verify::aws::s3_client(&s.conf)
        .put_bucket_lifecycle_configuration()
        .bucket(&s.bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(
                    LifecycleRule::builder()
                        .id("expire-after-30-days")
                        .status(ExpirationStatus::Enabled)
                        .filter(LifecycleRuleFilter::builder().prefix("").build())
                        .expiration(LifecycleExpiration::builder().days(30).build())
                        .build()
                        .expect("lifecycle rule"),
                )
                .build()
                .expect("lifecycle configuration"),
        )
        .send()
        .await
        .expect("PutBucketLifecycleConfiguration");

    let text = s.run(&["audit", "--trail", &s.arn]);
    assert_eq!(text.code, INVALID, "{}\n{}", text.stdout, text.stderr);
    let line = text
        .stdout
        .lines()
        .skip_while(|l| !l.contains("no lifecycle expiry before retention"))
        .take(2)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(line.trim_start().starts_with("FAIL"), "{line}");
    assert!(
        line.contains("expire-after-30-days") && line.contains("fix:"),
        "{line}"
    );

    let json = s.run(&["audit", "--trail", &s.arn, "--format", "json"]);
    let report = json_of(&json);
    let f = audit_finding(&report, "retention_lifecycle_expiration");
    assert_eq!(f["status"], "fail");
    assert!(
        f["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("expire-after-30-days"))
    );

    // Asked for less than 30 days, the same rule is fine.
    let short = s.run(&[
        "audit",
        "--trail",
        &s.arn,
        "--format",
        "json",
        "--retention-days",
        "20",
    ]);
    let report = json_of(&short);
    assert_eq!(
        audit_finding(&report, "retention_lifecycle_expiration")["status"],
        "pass"
    );
    // Neither versioning nor Object Lock: a warning, which does not fail the audit on its own.
    let protection = audit_finding(&report, "retention_deletion_protection");
    assert!(
        protection["status"] == "warn" || protection["status"] == "unknown",
        "{protection}"
    );
}

#[tokio::test]
async fn audit_and_enable_of_a_missing_trail_exit_3_with_one_line() {
    let s = Setup::start("present").await;
    let ghost = format!("arn:aws:cloudtrail:us-east-1:{MOTO_ACCOUNT}:trail/ghost");
    for args in [
        vec!["audit", "--trail", ghost.as_str()],
        vec!["enable", "--trail", ghost.as_str(), "--validation-only"],
    ] {
        let run = s.run(&args);
        assert_eq!(run.code, ERROR, "{args:?}: {}\n{}", run.stdout, run.stderr);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(
            run.stderr.contains("TrailNotFoundException"),
            "{}",
            run.stderr
        );
        assert_no_debug(&run);
    }
}

/// `enable` and `audit` reach AWS with the same flags as verification: `--endpoint-url` wins
/// over `AWS_ENDPOINT_URL` (here a closed port), and a CA bundle that is not one is refused by
/// name before any call.
#[tokio::test]
async fn audit_and_enable_take_the_same_aws_flags_as_verification() {
    let s = Setup::start("flags").await;
    let moto = s.moto.endpoint();
    let closed = "http://127.0.0.1:1";
    let run = s.run_with_endpoint(
        &["audit", "--trail", &s.arn, "--endpoint-url", &moto],
        closed,
    );
    assert_ne!(run.code, ERROR, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("log_file_validation") || run.stdout.contains("validation"),
        "{}",
        run.stdout
    );
    let run = s.run_with_endpoint(
        &[
            "enable",
            "--trail",
            &s.arn,
            "--validation-only",
            "--dry-run",
            "--endpoint-url",
            &moto,
        ],
        closed,
    );
    assert_ne!(run.code, ERROR, "{}\n{}", run.stdout, run.stderr);
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("not-a-bundle.pem");
    std::fs::write(&bundle, "nothing here").unwrap();
    let bundle = bundle.to_str().unwrap();
    let audit = vec!["audit", "--trail", s.arn.as_str(), "--ca-bundle", bundle];
    let enable = vec![
        "enable",
        "--trail",
        s.arn.as_str(),
        "--validation-only",
        "--ca-bundle",
        bundle,
    ];
    for args in [audit, enable] {
        let run = s.run(&args);
        assert_eq!(run.code, ERROR, "{args:?}: {}\n{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(bundle), "{args:?}: {}", run.stderr);
        assert_no_debug(&run);
    }
}
