//! Version-aware verification (issue 10): on a versioned bucket an overwrite or deletion after
//! delivery is invalid, and CloudTrail's original version is verified and reported beside it.
//! Histories run against moto's server (which implements versioning); a bucket without
//! versioning, a denied ListObjectVersions and `--no-versions` against the in-process S3
//! server. The real `ctverify` runs as a child process.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use ctverify_tests::moto::MotoServer;
use ctverify_tests::trail::exit::{INVALID, UNVERIFIABLE, VALID};
use ctverify_tests::trail::{GeneratedTrail, Run, spec};
use std::collections::HashMap;

#[path = "support/s3_trail.rs"]
#[allow(dead_code)] // run_ctverify_process serves other tests
mod s3_trail;
use s3_trail::S3Trail;

fn untouched(_: &GeneratedTrail) {}

/// Uploads the generated copy into a versioned bucket of moto (sidecars become metadata).
async fn upload_versioned(client: &aws_sdk_s3::Client, trail: &GeneratedTrail) {
    let bucket = trail.bucket();
    client
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("CreateBucket");
    client
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("PutBucketVersioning");
    ctverify_tests::moto::upload_copy(client, trail, &HashMap::new()).await;
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("a Tokio runtime")
}

fn verify_at(s3: &S3Trail, endpoint: &str, extra: &[&str]) -> Run {
    s3.verify_with_env(extra, &[("AWS_ENDPOINT_URL_S3".into(), endpoint.into())])
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}):\n{}\n{}", run.stdout, run.stderr))
}

/// The changed objects of the first chain: key → (kinds, original_status).
fn changed(report: &serde_json::Value) -> HashMap<String, (Vec<String>, Option<String>)> {
    report["chains"][0]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            let kinds = v["problems"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| p["kind"].as_str().unwrap_or_default().to_owned())
                .collect();
            (
                v["key"].as_str().unwrap_or_default().to_owned(),
                (kinds, v["original_status"].as_str().map(str::to_owned)),
            )
        })
        .collect()
}

/// Starts moto with the trail uploaded to a versioned bucket, then lets `change` act on it.
fn versioned_trail<F, Fut>(change: F) -> (MotoServer, S3Trail)
where
    F: FnOnce(aws_sdk_s3::Client, GeneratedTrailKeys) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let s3 = S3Trail::start(&spec(), untouched);
    let moto = MotoServer::start();
    let client = ctverify_tests::moto::s3_client(&moto);
    let keys = GeneratedTrailKeys {
        bucket: s3.trail.bucket().to_owned(),
        digest: s3.trail.digest(1),
        log: s3.trail.log(1, 0),
    };
    runtime().block_on(async {
        upload_versioned(&client, &s3.trail).await;
        change(client, keys).await;
    });
    (moto, s3)
}

/// The keys a test changes.
struct GeneratedTrailKeys {
    bucket: String,
    digest: String,
    log: String,
}

#[test]
fn an_untouched_trail_in_a_versioned_bucket_is_valid_and_its_versions_were_checked() {
    let (moto, s3) = versioned_trail(|_, _| async {});
    let run = verify_at(&s3, &moto.endpoint(), &["--format", "json"]);
    assert_eq!(run.code, VALID, "{run:?}");
    let report = json(&run);
    // moto answers GetBucketVersioning in a shape the SDK cannot parse: the state is unknown
    // and the histories are listed anyway.
    assert_eq!(report["versions"], "unknown", "{}", report["warnings"]);
    assert!(changed(&report).is_empty());
}

#[test]
fn an_overwritten_log_is_invalid_and_its_original_version_still_verifies() {
    let mut log = String::new();
    let (moto, s3) = versioned_trail(|client, keys| {
        log = keys.log.clone();
        async move {
            client
                .put_object()
                .bucket(&keys.bucket)
                .key(&keys.log)
                .body(ByteStream::from(b"not the original".to_vec()))
                .send()
                .await
                .expect("PutObject");
        }
    });
    let run = verify_at(&s3, &moto.endpoint(), &["--format", "json"]);
    assert_eq!(run.code, INVALID, "{run:?}");
    let found = changed(&json(&run));
    assert_eq!(
        found.get(&log),
        Some(&(vec!["overwritten".to_owned()], Some("valid".to_owned()))),
        "{found:?}"
    );
    // The text says both: the replacement and the recovered evidence.
    let text = verify_at(&s3, &moto.endpoint(), &[]);
    assert_eq!(text.code, INVALID, "{text:?}");
    text.assert_line(&[
        &log,
        "INVALID: the object was replaced after delivery on",
        "the original version",
        "verifies",
    ]);
}

#[test]
fn an_overwritten_digest_is_invalid_and_its_original_version_still_verifies() {
    let mut digest = String::new();
    let (moto, s3) = versioned_trail(|client, keys| {
        digest = keys.digest.clone();
        async move {
            client
                .put_object()
                .bucket(&keys.bucket)
                .key(&keys.digest)
                .body(ByteStream::from(b"forged".to_vec()))
                .send()
                .await
                .expect("PutObject");
        }
    });
    let run = verify_at(&s3, &moto.endpoint(), &["--format", "json"]);
    assert_eq!(run.code, INVALID, "{run:?}");
    let found = changed(&json(&run));
    assert_eq!(
        found.get(&digest),
        Some(&(vec!["overwritten".to_owned()], Some("valid".to_owned()))),
        "{found:?}"
    );
}

#[test]
fn a_delete_marker_over_a_digest_is_invalid_with_the_original_recovered() {
    let mut digest = String::new();
    let (moto, s3) = versioned_trail(|client, keys| {
        digest = keys.digest.clone();
        async move {
            client
                .delete_object()
                .bucket(&keys.bucket)
                .key(&keys.digest)
                .send()
                .await
                .expect("DeleteObject");
        }
    });
    let run = verify_at(&s3, &moto.endpoint(), &["--format", "json"]);
    assert_eq!(run.code, INVALID, "{run:?}");
    let report = json(&run);
    let found = changed(&report);
    assert_eq!(
        found.get(&digest),
        Some(&(vec!["deleted".to_owned()], Some("valid".to_owned()))),
        "{found:?} {}",
        report["chains"][0]
    );
    let text = verify_at(&s3, &moto.endpoint(), &[]);
    text.assert_line(&[&digest, "INVALID: the object was deleted after delivery on"]);
}

#[test]
fn a_bucket_without_versioning_says_versions_were_not_checked() {
    let s3 = S3Trail::start(&spec(), untouched);
    let run = s3.verify(&[]);
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&["Versions not checked: bucket", "does not have versioning"]);
    let (_, report) = s3.report(&[]);
    assert_eq!(report["versions"], "not_versioned");
}

#[test]
fn a_denied_version_listing_is_unverifiable_never_valid() {
    let s3 = S3Trail::start(&spec(), untouched);
    s3.server.handle().set_versioning(true);
    s3.server.handle().deny_list_versions(true);
    let run = s3.verify(&[]);
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    assert!(
        run.stderr.contains("Versions\t") && run.stderr.contains("AccessDenied"),
        "{run:?}"
    );
}

#[test]
fn no_versions_skips_the_version_histories() {
    let s3 = S3Trail::start(&spec(), untouched);
    s3.server.handle().set_versioning(true);
    s3.server.handle().deny_list_versions(true);
    let run = s3.verify(&["--no-versions"]);
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&["Versions not checked (--no-versions)"]);
    assert_eq!(s3.server.handle().requests().of("ListObjectVersions"), 0);
}

#[test]
fn versioning_enabled_with_single_versions_is_valid() {
    let s3 = S3Trail::start(&spec(), untouched);
    s3.server.handle().set_versioning(true);
    let (code, report) = s3.report(&[]);
    assert_eq!(code, VALID, "{report}");
    assert_eq!(report["versions"], "checked");
}

/// `ctverify export` reaches the verdict a plain run does on a versioned bucket: its tee passes
/// the version calls through, so a log file overwritten and then restored (its current bytes
/// CloudTrail's again) is invalid in the export's report too, with the versions checked.
#[test]
fn export_keeps_the_evidence_of_a_log_overwritten_then_restored() {
    let mut log = String::new();
    let (moto, s3) = versioned_trail(|client, keys| {
        log = keys.log.clone();
        async move {
            let bytes = client
                .get_object()
                .bucket(&keys.bucket)
                .key(&keys.log)
                .send()
                .await
                .expect("GetObject")
                .body
                .collect()
                .await
                .expect("the log file's bytes")
                .into_bytes()
                .to_vec();
            for body in [b"not the original".to_vec(), bytes] {
                client
                    .put_object()
                    .bucket(&keys.bucket)
                    .key(&keys.log)
                    .body(ByteStream::from(body))
                    .send()
                    .await
                    .expect("PutObject");
            }
        }
    });
    let plain = verify_at(&s3, &moto.endpoint(), &["--format", "json"]);
    assert_eq!(plain.code, INVALID, "{plain:?}");
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["export".to_owned()];
    args.extend(ctverify_tests::trail::range_args(&s3.trail.manifest));
    args.extend([
        "--out".to_owned(),
        dir.path().join("bundle").display().to_string(),
        "--format".into(),
        "json".into(),
    ]);
    let export = s3_trail::run_ctverify_process_with_env(
        &args,
        &s3.server.endpoint(),
        &s3.stub.endpoint(),
        &[("AWS_ENDPOINT_URL_S3".into(), moto.endpoint())],
    );
    assert_eq!(export.code, INVALID, "{export:?}");
    let report = json(&export);
    assert_ne!(report["versions"], "unsupported", "{report:#}");
    let found = changed(&report);
    assert_eq!(
        found.get(&log),
        Some(&(
            vec!["overwritten".to_owned(), "overwritten".to_owned()],
            Some("valid".to_owned())
        )),
        "{found:?}"
    );
}
