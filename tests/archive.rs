//! Trails as people really configure them (issue 12): a lifecycle rule that expires old
//! CloudTrail objects, objects moved to Glacier, SSE-KMS the reader may not decrypt with.
//!
//! Lifecycle configuration and archived objects run against moto's server (which stores
//! lifecycle rules, keeps storage classes given on PUT and answers `InvalidObjectState` for an
//! archived object, but expires nothing: the tests delete what the rule would have expired).
//! KMS refusals, unreadable rules and tag filters run against the in-process S3 server.
//! The real `ctverify` runs as a child process.

use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, StorageClass,
};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use ctverify_fixtures::TrailSpec;
use ctverify_tests::moto::MotoServer;
use ctverify_tests::trail::exit::{INVALID, UNVERIFIABLE};
use ctverify_tests::trail::{GeneratedTrail, Run, digest_problems, log_verdict, spec};
use std::collections::HashMap;

#[path = "support/s3_trail.rs"]
#[allow(dead_code)] // run_ctverify_process serves other tests
mod s3_trail;
use s3_trail::S3Trail;

const RULE: &str = "expire-cloudtrail-after-1-day";
const KMS_KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn untouched(_: &GeneratedTrail) {}

/// A trail of 36 hourly digests (one log file each) placed around [`expired_before`], whatever
/// the time of day: its 23 oldest hours are past a one-day expiration, its newer ones are not,
/// and all of them end at least 12 hours before now (the cut-off is a day before the last
/// midnight), so they are delivered.
fn recent_spec() -> TrailSpec {
    TrailSpec {
        start: expired_before() - TimeDelta::hours(24),
        digests: 36,
        logs_per_digest: 1,
        records_per_log: 2,
        ..TrailSpec::default()
    }
}

/// Midnight UTC yesterday: a digest ending before it was created more than a day before the
/// last midnight, so S3 may have expired it under a one-day rule (creation + 1 day, rounded up
/// to midnight); one ending after it, not yet.
fn expired_before() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(TimeDelta::days(1))
        .expect("a day boundary")
        - TimeDelta::days(1)
}

async fn upload(
    client: &aws_sdk_s3::Client,
    trail: &GeneratedTrail,
    storage: &HashMap<String, StorageClass>,
) {
    client
        .create_bucket()
        .bucket(trail.bucket())
        .send()
        .await
        .expect("CreateBucket");
    ctverify_tests::moto::upload_copy(client, trail, storage).await;
}

async fn delete(client: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    client
        .delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("DeleteObject");
}

/// Puts `rules` as the bucket's lifecycle configuration (PutBucketLifecycleConfiguration).
fn put_rules(
    rt: &tokio::runtime::Runtime,
    client: &aws_sdk_s3::Client,
    bucket: &str,
    rules: Vec<LifecycleRule>,
) {
    rt.block_on(
        client
            .put_bucket_lifecycle_configuration()
            .bucket(bucket)
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .set_rules(Some(rules))
                    .build()
                    .expect("a lifecycle configuration"),
            )
            .send(),
    )
    .expect("PutBucketLifecycleConfiguration");
}

fn one_day_rule(filter: LifecycleRuleFilter) -> LifecycleRule {
    LifecycleRule::builder()
        .id(RULE)
        .status(ExpirationStatus::Enabled)
        .filter(filter)
        .expiration(LifecycleExpiration::builder().days(1).build())
        .build()
        .expect("a lifecycle rule")
}

/// Runs ctverify against S3 at `s3` (the trail's CloudTrail stub still answers the rest).
fn verify_at(s3: &S3Trail, endpoint: &str, extra: &[&str]) -> Run {
    s3.verify_with_env(extra, &[("AWS_ENDPOINT_URL_S3".into(), endpoint.into())])
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}):\n{}\n{}", run.stdout, run.stderr))
}

fn gaps(report: &serde_json::Value) -> Vec<(String, String)> {
    report["chains"][0]["gaps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            (
                g["kind"].as_str().unwrap_or_default().to_owned(),
                g["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("a Tokio runtime")
}

#[test]
fn hours_a_lifecycle_rule_expired_are_unverifiable_and_a_deletion_in_the_kept_window_is_still_invalid()
 {
    let rt = runtime();
    let moto = MotoServer::start();
    let client = ctverify_tests::moto::s3_client(&moto);
    let s3 = S3Trail::start(&recent_spec(), untouched);
    let trail = &s3.trail;
    let bucket = trail.bucket().to_owned();
    rt.block_on(upload(&client, trail, &HashMap::new()));
    put_rules(
        &rt,
        &client,
        &bucket,
        vec![one_day_rule(
            LifecycleRuleFilter::builder().prefix("AWSLogs/").build(),
        )],
    );
    // What the rule would have expired by now: every digest (and its log files) older than
    // the one-day age rounded to midnight.
    let digests = &trail.manifest.chains[0].digests;
    let cutoff = expired_before();
    let expired: Vec<usize> = (0..digests.len())
        .filter(|&i| digests[i].end_time < cutoff)
        .collect();
    let oldest_kept = expired.len();
    assert!(
        (20..digests.len() - 6).contains(&oldest_kept),
        "the trail straddles the expiration age"
    );
    for &i in &expired {
        rt.block_on(delete(&client, &bucket, &digests[i].key));
        for log in &digests[i].log_files {
            rt.block_on(delete(&client, &bucket, log));
        }
    }

    let run = verify_at(&s3, &moto.endpoint(), &["--format", "json"]);
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    let report = json(&run);
    // The oldest surviving digest names its predecessor: gone, and excused by the rule.
    let predecessor = &digests[oldest_kept - 1].key;
    assert_eq!(digest_problems(&report, predecessor), ["expired"]);
    let entry = ctverify_tests::trail::digests(&report)
        .find(|d| &d["key"] == predecessor)
        .expect("the predecessor's entry");
    assert_eq!(entry["problems"][0]["rule_id"], RULE);
    assert_eq!(entry["problems"][0]["days"], 1);
    assert_eq!(entry["status"], "unverifiable");
    assert_eq!(
        gaps(&report),
        [("lifecycle_expired".into(), "unverifiable".into())]
    );
    assert_eq!(report["summary"]["digests"]["invalid"], 0);
    assert_eq!(report["summary"]["expired"], 1);
    let text = verify_at(&s3, &moto.endpoint(), &[]);
    assert_eq!(text.code, UNVERIFIABLE, "{text:?}");
    text.assert_line(&[
        predecessor,
        &format!("UNVERIFIABLE: expired under lifecycle rule {RULE} (files older than 1 day)"),
    ]);
    text.assert_line(&[
        "Coverage",
        "UNVERIFIABLE",
        "a lifecycle rule of the bucket expired",
    ]);

    // Inside the kept window, a deleted digest and a deleted log file are still tampering.
    let newest = digests.len() - 1;
    rt.block_on(delete(&client, &bucket, &digests[newest - 2].key));
    rt.block_on(delete(&client, &bucket, &digests[newest].log_files[0]));
    let run = verify_at(&s3, &moto.endpoint(), &["--format", "json"]);
    assert_eq!(run.code, INVALID, "{run:?}");
    let report = json(&run);
    assert_eq!(
        digest_problems(&report, &digests[newest - 2].key),
        ["not_found"]
    );
    assert_eq!(
        log_verdict(&report, &digests[newest].log_files[0]),
        Some(("invalid".into(), Some("not_found".into())))
    );
    assert!(gaps(&report).contains(&("broken_chain".into(), "invalid".into())));
    // The expired part is still only expired.
    assert_eq!(digest_problems(&report, predecessor), ["expired"]);
    assert!(gaps(&report).contains(&("lifecycle_expired".into(), "unverifiable".into())));
}

#[test]
fn a_rule_that_selects_other_keys_or_filters_on_tags_excuses_nothing() {
    let rt = runtime();
    let moto = MotoServer::start();
    let client = ctverify_tests::moto::s3_client(&moto);
    let s3 = S3Trail::start(&recent_spec(), untouched);
    let trail = &s3.trail;
    let bucket = trail.bucket().to_owned();
    rt.block_on(upload(&client, trail, &HashMap::new()));
    let tagged = LifecycleRuleFilter::builder()
        .tag(
            aws_sdk_s3::types::Tag::builder()
                .key("retention")
                .value("short")
                .build()
                .expect("a tag"),
        )
        .build();
    let mut elsewhere = one_day_rule(LifecycleRuleFilter::builder().prefix("other/").build());
    elsewhere.id = Some("elsewhere".into());
    put_rules(&rt, &client, &bucket, vec![one_day_rule(tagged), elsewhere]);
    let digests = &trail.manifest.chains[0].digests;
    // Old enough for a one-day rule, but no rule that could have expired it selects it.
    rt.block_on(delete(&client, &bucket, &digests[3].key));
    let run = verify_at(&s3, &moto.endpoint(), &["--format", "json"]);
    assert_eq!(run.code, INVALID, "{run:?}");
    let report = json(&run);
    assert_eq!(digest_problems(&report, &digests[3].key), ["not_found"]);
    assert_eq!(
        gaps(&report),
        [("broken_chain".into(), "invalid".into())],
        "{report}"
    );
}

#[test]
fn an_archived_log_and_digest_are_unverifiable_with_the_way_to_restore_them() {
    let rt = runtime();
    let moto = MotoServer::start();
    let client = ctverify_tests::moto::s3_client(&moto);
    let s3 = S3Trail::start(&spec(), untouched);
    let trail = &s3.trail;
    let (log, digest) = (trail.log(1, 0), trail.digest(2));
    let storage = HashMap::from([
        (log.clone(), StorageClass::Glacier),
        (digest.clone(), StorageClass::DeepArchive),
    ]);
    rt.block_on(upload(&client, trail, &storage));

    let run = verify_at(&s3, &moto.endpoint(), &["--format", "json"]);
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    let report = json(&run);
    assert_eq!(
        log_verdict(&report, &log),
        Some(("unverifiable".into(), Some("archived".into())))
    );
    assert_eq!(digest_problems(&report, &digest), ["archived"]);
    // The archived digest's hour is not covered: a gap, never valid.
    assert_eq!(
        gaps(&report),
        [("predecessor_unavailable".into(), "unverifiable".into())]
    );
    assert_eq!(report["summary"]["archived"], 2);
    assert_eq!(report["summary"]["digests"]["invalid"], 0);

    let text = verify_at(&s3, &moto.endpoint(), &[]);
    assert_eq!(text.code, UNVERIFIABLE, "{text:?}");
    text.assert_line(&[
        "Log file",
        &log,
        "UNVERIFIABLE: archived: restore needed (storage class GLACIER)",
    ]);
    text.assert_line(&[
        "Digest file",
        &digest,
        "UNVERIFIABLE: archived: restore needed (storage class DEEP_ARCHIVE)",
    ]);
    text.assert_line(&[
        "2 files need restoring",
        &format!(
            "aws s3api restore-object --bucket {} --key ",
            trail.bucket()
        ),
        "--restore-request Days=7,GlacierJobParameters={Tier=Standard}",
        "S3 Batch Operations",
    ]);
    assert!(
        !text.stderr.contains("InvalidObjectState"),
        "not an access error: {}",
        text.stderr
    );
}

#[test]
fn a_kms_key_the_reader_may_not_use_is_named_once_with_kms_decrypt() {
    let s3 = S3Trail::start(&spec(), untouched);
    let logs = [s3.trail.log(0, 0), s3.trail.log(2, 1), s3.trail.log(3, 2)];
    for log in &logs {
        s3.server.deny_kms(log.clone(), KMS_KEY);
    }
    let digest = s3.trail.digest(1);
    s3.server.deny_kms(digest.clone(), KMS_KEY);
    let run = s3.verify(&[]);
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    let warnings: Vec<&str> = run
        .lines()
        .into_iter()
        .filter(|l| l.contains(&format!("kms:Decrypt on key {KMS_KEY} is denied")))
        .filter(|l| l.starts_with("Warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{run:?}");
    assert!(warnings[0].contains("4 files"), "{}", warnings[0]);
    for key in logs.iter().chain([&digest]) {
        run.assert_line(&[key, "UNVERIFIABLE: could not be read: kms:Decrypt on key"]);
    }
    run.assert_line(&["4 files UNVERIFIABLE: kms:Decrypt denied"]);

    let (code, report) = s3.report(&[]);
    assert_eq!(code, UNVERIFIABLE);
    assert_eq!(
        log_verdict(&report, &logs[0]),
        Some(("unverifiable".into(), Some("kms_denied".into())))
    );
    assert_eq!(digest_problems(&report, &digest), ["kms_denied"]);
    // The unreadable digest's hour is a gap, never valid.
    assert_eq!(
        gaps(&report),
        [("predecessor_unavailable".into(), "unverifiable".into())]
    );
    assert_eq!(report["summary"]["kms_denied"], 4);
    let named: Vec<_> = report["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|w| w.as_str().is_some_and(|w| w.contains(KMS_KEY)))
        .collect();
    assert_eq!(named.len(), 1, "{report}");
}

#[test]
fn rules_that_cannot_be_read_excuse_nothing_and_are_mentioned_once() {
    let s3 = S3Trail::start(&recent_spec(), |t| {
        ctverify_fixtures::tamper::delete_digest(&t.copy(), t.bucket(), &t.digest(2)).unwrap();
        ctverify_fixtures::tamper::delete_log(&t.copy(), t.bucket(), &t.log(5, 0)).unwrap();
    });
    // A rule that would excuse both, if it could be read.
    s3.server.expire_after_days(s3.trail.bucket(), RULE, "", 1);
    let (code, report) = s3.report(&[]);
    assert_eq!(code, UNVERIFIABLE, "{report}");
    assert_eq!(digest_problems(&report, &s3.trail.digest(2)), ["expired"]);
    // A log file a surviving digest lists, gone past the rule's age (log files are often kept
    // for less time than digests): expired too.
    assert_eq!(
        log_verdict(&report, &s3.trail.log(5, 0)),
        Some(("unverifiable".into(), Some("expired".into())))
    );

    s3.server.deny_lifecycle_read(true);
    let run = s3.verify(&[]);
    assert_eq!(run.code, INVALID, "{run:?}");
    run.assert_line(&[&s3.trail.digest(2), "INVALID: not found"]);
    run.assert_line(&[&s3.trail.log(5, 0), "INVALID: not found"]);
    let mentions = run
        .lines()
        .into_iter()
        .filter(|l| l.contains("lifecycle rules of bucket"))
        .count();
    assert_eq!(mentions, 1, "{run:?}");
    run.assert_line(&[
        "Warning: the lifecycle rules of bucket",
        "could not be read",
        "s3:GetLifecycleConfiguration",
    ]);
}

#[test]
fn a_trail_in_a_bucket_with_no_lifecycle_configuration_says_nothing_about_it() {
    let s3 = S3Trail::start(&spec(), |t| {
        ctverify_fixtures::tamper::delete_log(&t.copy(), t.bucket(), &t.log(1, 0)).unwrap();
    });
    let run = s3.verify(&[]);
    assert_eq!(run.code, INVALID, "{run:?}");
    assert!(!run.stderr.contains("lifecycle"), "{}", run.stderr);
    assert!(s3.server.requests().of("GetBucketLifecycleConfiguration") >= 1);
}

/// What S3 leaves of an object once `Expiration` has expired its current version (a delete
/// marker, dated when it expired) and `NoncurrentVersionExpiration` has removed that version:
/// a lone marker. moto expires nothing, so the test does both steps.
async fn leave_a_lone_marker(client: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    let head = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("HeadObject");
    let version = head.version_id().expect("a versioned object").to_owned();
    delete(client, bucket, key).await;
    client
        .delete_object()
        .bucket(bucket)
        .key(key)
        .version_id(version)
        .send()
        .await
        .expect("DeleteObject of the noncurrent version");
}

/// On a versioned bucket with Expiration + NoncurrentVersionExpiration, the lone delete
/// markers S3 leaves behind are judged by the time the current version expired (the marker's
/// own date) against the object's age from its CloudTrail name: excused for the hours the rule
/// expired (unverifiable, `lifecycle_expired`, as on a bucket without versioning), while the
/// same lone marker on an object younger than the rule's age is still a deletion (invalid).
#[test]
fn lone_markers_left_by_lifecycle_rules_are_excused_and_a_young_one_is_not() {
    let rt = runtime();
    let moto = MotoServer::start();
    let client = ctverify_tests::moto::s3_client(&moto);
    let s3 = S3Trail::start(&recent_spec(), untouched);
    let trail = &s3.trail;
    let bucket = trail.bucket().to_owned();
    rt.block_on(async {
        client
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("CreateBucket");
        client
            .put_bucket_versioning()
            .bucket(&bucket)
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .expect("PutBucketVersioning");
        ctverify_tests::moto::upload_copy(&client, trail, &HashMap::new()).await;
        let mut rule = one_day_rule(LifecycleRuleFilter::builder().prefix("AWSLogs/").build());
        rule.noncurrent_version_expiration = Some(
            aws_sdk_s3::types::NoncurrentVersionExpiration::builder()
                .noncurrent_days(1)
                .build(),
        );
        client
            .put_bucket_lifecycle_configuration()
            .bucket(&bucket)
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .rules(rule)
                    .build()
                    .expect("a lifecycle configuration"),
            )
            .send()
            .await
            .expect("PutBucketLifecycleConfiguration");
    });
    // The oldest hours, well past the one-day age (their log files' names too): S3 expires
    // these asynchronously, so leaving some of the expired hours in place is realistic.
    let digests = &trail.manifest.chains[0].digests;
    let cutoff = expired_before() - TimeDelta::hours(2);
    let expired: Vec<usize> = (0..digests.len())
        .filter(|&i| digests[i].end_time < cutoff)
        .collect();
    assert!(
        expired.len() >= 18,
        "the trail straddles the expiration age"
    );
    for &i in &expired {
        rt.block_on(leave_a_lone_marker(&client, &bucket, &digests[i].key));
        for log in &digests[i].log_files {
            rt.block_on(leave_a_lone_marker(&client, &bucket, log));
        }
    }
    let run = verify_at(&s3, &moto.endpoint(), &["--format", "json"]);
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    let report = json(&run);
    assert_eq!(
        report["chains"][0]["versions"],
        serde_json::json!([]),
        "{report:#}"
    );
    assert_eq!(report["summary"]["digests"]["invalid"], 0, "{report:#}");
    assert_eq!(
        gaps(&report),
        [("lifecycle_expired".into(), "unverifiable".into())]
    );

    // A digest of the kept window (younger than the rule's age) left as a lone marker: no
    // rule can have expired it yet, so it was deleted.
    let young = &digests[digests.len() - 3].key;
    rt.block_on(leave_a_lone_marker(&client, &bucket, young));
    let run = verify_at(&s3, &moto.endpoint(), &["--format", "json"]);
    assert_eq!(run.code, INVALID, "{run:?}");
    let report = json(&run);
    let versions = report["chains"][0]["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1, "{report:#}");
    assert_eq!(&versions[0]["key"], young);
    assert_eq!(versions[0]["problems"][0]["kind"], "deleted", "{report:#}");
    assert_eq!(versions[0]["status"], "invalid");
}

/// Runs ctverify at `endpoint` (S3) with `args` as given: no range added.
fn run_at(s3: &S3Trail, endpoint: &str, args: &[String]) -> Run {
    s3_trail::run_ctverify_process_with_env(
        args,
        &s3.server.endpoint(),
        &s3.stub.endpoint(),
        &[("AWS_ENDPOINT_URL_S3".into(), endpoint.into())],
    )
}

/// A `--state` job paused past a lifecycle rule's age finds its checkpoint digest expired by
/// the rule: unverifiable (`expired`, the hours `lifecycle_expired`), as the same range is
/// without a state, never "the checkpoint digest, read again: not found" (invalid).
#[test]
fn a_checkpoint_digest_expired_by_a_lifecycle_rule_is_unverifiable_as_without_a_state() {
    let rt = runtime();
    let moto = MotoServer::start();
    let client = ctverify_tests::moto::s3_client(&moto);
    let s3 = S3Trail::start(&recent_spec(), untouched);
    let trail = &s3.trail;
    let bucket = trail.bucket().to_owned();
    rt.block_on(upload(&client, trail, &HashMap::new()));
    let digests = &trail.manifest.chains[0].digests;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json").display().to_string();
    let arn = trail.manifest.trail_arn.clone();
    let time = |t: DateTime<Utc>| ctverify_fixtures::format_time(&t);
    // The first run, before the rule: the checkpoint is the fourth digest.
    let first = vec![
        "--trail".to_owned(),
        arn.clone(),
        "--state".into(),
        state.clone(),
        "--from".into(),
        time(trail.manifest.start_time),
        "--to".into(),
        time(digests[3].end_time),
    ];
    let run = run_at(&s3, &moto.endpoint(), &first);
    assert_eq!(run.code, ctverify_tests::trail::exit::VALID, "{run:?}");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(
        written["chains"][0]["key"],
        digests[3].key.as_str(),
        "{written:#}"
    );

    // Then the job pauses, a one-day rule is set, and S3 expires what it selects.
    put_rules(
        &rt,
        &client,
        &bucket,
        vec![one_day_rule(
            LifecycleRuleFilter::builder().prefix("AWSLogs/").build(),
        )],
    );
    let cutoff = expired_before();
    for d in digests.iter().filter(|d| d.end_time < cutoff) {
        rt.block_on(delete(&client, &bucket, &d.key));
        for log in &d.log_files {
            rt.block_on(delete(&client, &bucket, log));
        }
    }
    let to = time(digests[digests.len() - 1].end_time);

    // The same range without a state: the hours the rule expired are unverifiable.
    let without = vec![
        "--trail".to_owned(),
        arn.clone(),
        "--from".into(),
        time(digests[3].end_time),
        "--to".into(),
        to.clone(),
        "--format".into(),
        "json".into(),
    ];
    let run = run_at(&s3, &moto.endpoint(), &without);
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    assert_eq!(
        gaps(&json(&run)),
        [("lifecycle_expired".into(), "unverifiable".into())]
    );

    // Resumed from the state: the same verdict, the checkpoint expired, not deleted.
    let resumed = vec![
        "--trail".to_owned(),
        arn,
        "--state".into(),
        state.clone(),
        "--to".into(),
        to,
        "--format".into(),
        "json".into(),
    ];
    let run = run_at(&s3, &moto.endpoint(), &resumed);
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    let report = json(&run);
    let checkpoint = &report["chains"][0]["checkpoint"];
    assert_eq!(checkpoint["status"], "unverifiable", "{report:#}");
    assert_eq!(
        checkpoint["problems"][0]["problem"]["kind"], "expired",
        "{report:#}"
    );
    assert_eq!(
        checkpoint["problems"][0]["problem"]["rule_id"], RULE,
        "{report:#}"
    );
    assert_eq!(report["summary"]["digests"]["invalid"], 0, "{report:#}");
    assert!(
        gaps(&report).contains(&("lifecycle_expired".into(), "unverifiable".into())),
        "{report:#}"
    );

    // A checkpoint younger than the rule's age, deleted: no rule can have expired it yet.
    let young_state = dir.path().join("young.json").display().to_string();
    let n = digests.len();
    let run = run_at(
        &s3,
        &moto.endpoint(),
        &[
            "--trail".to_owned(),
            trail.manifest.trail_arn.clone(),
            "--state".into(),
            young_state.clone(),
            "--from".into(),
            time(digests[n - 8].end_time),
            "--to".into(),
            time(digests[n - 4].end_time),
        ],
    );
    assert_eq!(run.code, ctverify_tests::trail::exit::VALID, "{run:?}");
    rt.block_on(delete(&client, &bucket, &digests[n - 4].key));
    let run = run_at(
        &s3,
        &moto.endpoint(),
        &[
            "--trail".to_owned(),
            trail.manifest.trail_arn.clone(),
            "--state".into(),
            young_state,
            "--to".into(),
            time(digests[n - 1].end_time),
            "--format".into(),
            "json".into(),
        ],
    );
    assert_eq!(run.code, INVALID, "{run:?}");
    let report = json(&run);
    let checkpoint = &report["chains"][0]["checkpoint"];
    assert_eq!(
        checkpoint["problems"][0]["problem"]["kind"], "not_found",
        "{report:#}"
    );
}

/// The checkpoint digest alone expired (the oldest new digest, still there, names it): its age
/// is counted from that digest's signed start, and it is expired (unverifiable), not deleted.
#[test]
fn a_checkpoint_digest_expired_under_a_digest_that_names_it_is_unverifiable() {
    let rt = runtime();
    let moto = MotoServer::start();
    let client = ctverify_tests::moto::s3_client(&moto);
    let s3 = S3Trail::start(&recent_spec(), untouched);
    let trail = &s3.trail;
    let bucket = trail.bucket().to_owned();
    rt.block_on(upload(&client, trail, &HashMap::new()));
    let digests = &trail.manifest.chains[0].digests;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json").display().to_string();
    let time = |t: DateTime<Utc>| ctverify_fixtures::format_time(&t);
    let args = |extra: &[&str]| {
        let mut args = vec![
            "--trail".to_owned(),
            trail.manifest.trail_arn.clone(),
            "--state".into(),
            state.clone(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let from = time(trail.manifest.start_time);
    let to = time(digests[3].end_time);
    let run = run_at(
        &s3,
        &moto.endpoint(),
        &args(&["--from", &from, "--to", &to]),
    );
    assert_eq!(run.code, ctverify_tests::trail::exit::VALID, "{run:?}");
    put_rules(
        &rt,
        &client,
        &bucket,
        vec![one_day_rule(
            LifecycleRuleFilter::builder().prefix("AWSLogs/").build(),
        )],
    );
    // S3 expires asynchronously: only the oldest four hours are gone yet.
    for d in &digests[..4] {
        rt.block_on(delete(&client, &bucket, &d.key));
        for log in &d.log_files {
            rt.block_on(delete(&client, &bucket, log));
        }
    }
    let to = time(digests[8].end_time);
    let run = run_at(
        &s3,
        &moto.endpoint(),
        &args(&["--to", &to, "--format", "json"]),
    );
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    let report = json(&run);
    let checkpoint = &report["chains"][0]["checkpoint"];
    assert_eq!(
        checkpoint["problems"][0]["problem"]["kind"], "expired",
        "{report:#}"
    );
    assert_eq!(report["summary"]["digests"]["invalid"], 0, "{report:#}");
}
