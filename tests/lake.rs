//! CloudTrail Lake query results (`cloudtrail_verify::lake`, `ctverify query-results`): result
//! sets generated and signed by the fixtures, checked from a local directory and from the
//! in-process S3 server with keys from the CloudTrail stub, untouched and tampered with.

use chrono::{DateTime, TimeDelta, Utc};
use cloudtrail_verify::lake::{
    self, LakeOptions, QueryResultsReport, ResultFileProblem, SignFileProblem,
};
use cloudtrail_verify::{KeySet, Status};
use ctverify_fixtures::lake::{LakeResults, LakeSpec};
use ctverify_fixtures::{PublicKeyForm, TestKey, public_keys_json};
use ctverify_tests::cloudtrail_stub::{CloudTrailStub, StubConfig, StubKey};
use ctverify_tests::s3_server::{S3Server, S3ServerOptions};
use ctverify_tests::tls_front::TlsFront;
use ctverify_tests::trail::run_ctverify;
use std::path::{Path, PathBuf};

#[path = "support/s3_trail.rs"]
#[allow(dead_code)]
mod s3_trail;

const BUCKET: &str = "lake-results";

fn spec() -> LakeSpec {
    LakeSpec::default()
}

fn complete_time() -> DateTime<Utc> {
    spec().query_complete_time
}

/// CloudTrail's key list around the query: the test key, valid a month either side.
fn keys_json(key: &TestKey) -> String {
    let t = complete_time();
    public_keys_json(&[key.public_key_entry(
        t - TimeDelta::days(30),
        t + TimeDelta::days(30),
        PublicKeyForm::Pkcs1,
    )])
}

fn keys() -> KeySet {
    KeySet::from_list_public_keys_json(keys_json(&TestKey::default_key()).as_bytes()).unwrap()
}

/// A local copy of a generated result set, `change`d before it is checked.
struct LocalSet {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    keys_file: PathBuf,
    results: LakeResults,
}

fn local_set(change: impl FnOnce(&Path, &LakeResults)) -> LocalSet {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("query");
    let results = LakeResults::generate(&spec(), &TestKey::default_key());
    results.write_to(&dir).unwrap();
    let keys_file = tmp.path().join("keys.json");
    std::fs::write(&keys_file, keys_json(&TestKey::default_key())).unwrap();
    change(&dir, &results);
    LocalSet {
        _tmp: tmp,
        dir,
        keys_file,
        results,
    }
}

async fn check_local(set: &LocalSet, options: &LakeOptions) -> QueryResultsReport {
    lake::verify_local_query_results(&set.dir, &keys(), options)
        .await
        .unwrap()
}

fn file<'a>(report: &'a QueryResultsReport, name: &str) -> &'a lake::ResultFileReport {
    report
        .files
        .iter()
        .find(|f| f.key.ends_with(name))
        .unwrap_or_else(|| panic!("no report for {name}: {report:#?}"))
}

#[tokio::test]
async fn an_untouched_local_result_set_is_valid() {
    let set = local_set(|_, _| {});
    let report = check_local(&set, &LakeOptions::default()).await;
    assert_eq!(report.status, Status::Valid, "{report:#?}");
    assert_eq!(report.counts.valid, 3);
    assert!(report.sign_file.problems.is_empty());
    assert_eq!(report.sign_file.region.as_deref(), Some("us-east-1"));
}

#[tokio::test]
async fn an_altered_result_file_is_invalid_with_both_hashes() {
    let set = local_set(|dir, _| {
        let path = dir.join("result_2.csv.gz");
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(path, bytes).unwrap();
    });
    let report = check_local(&set, &LakeOptions::default()).await;
    assert_eq!(report.status, Status::Invalid);
    let f = file(&report, "result_2.csv.gz");
    assert!(
        matches!(&f.problem, Some(ResultFileProblem::HashMismatch { expected, .. }) if *expected == set.results.sign.files[1].file_hash_value),
        "{f:#?}"
    );
    assert_eq!(file(&report, "result_1.csv.gz").status, Status::Valid);
}

#[tokio::test]
async fn a_missing_result_file_is_invalid() {
    let set = local_set(|dir, _| std::fs::remove_file(dir.join("result_3.csv.gz")).unwrap());
    let report = check_local(&set, &LakeOptions::default()).await;
    assert_eq!(report.status, Status::Invalid);
    assert_eq!(
        file(&report, "result_3.csv.gz").problem,
        Some(ResultFileProblem::NotFound)
    );
}

#[tokio::test]
async fn an_object_the_sign_file_does_not_list_is_invalid() {
    let set = local_set(|dir, _| std::fs::write(dir.join("result_4.csv.gz"), b"planted").unwrap());
    let report = check_local(&set, &LakeOptions::default()).await;
    assert_eq!(report.status, Status::Invalid);
    assert_eq!(
        file(&report, "result_4.csv.gz").problem,
        Some(ResultFileProblem::NotListed)
    );
    assert_eq!(report.counts.valid, 3);
}

#[tokio::test]
async fn a_sign_file_whose_list_was_changed_fails_its_signature_and_proves_no_file() {
    // The attacker drops a file and its entry, leaving the signature as it was.
    let set = local_set(|dir, results| {
        let mut sign = results.sign.clone();
        sign.files.pop();
        std::fs::remove_file(dir.join("result_3.csv.gz")).unwrap();
        std::fs::write(dir.join("result_sign.json"), sign.to_json()).unwrap();
    });
    let report = check_local(&set, &LakeOptions::default()).await;
    assert_eq!(report.status, Status::Invalid);
    assert_eq!(
        report.sign_file.problems,
        vec![SignFileProblem::SignatureMismatch]
    );
    assert_eq!(report.files.len(), 2);
    assert!(
        report
            .files
            .iter()
            .all(|f| f.problem == Some(ResultFileProblem::SignFileUnproven)),
        "{report:#?}"
    );
}

#[tokio::test]
async fn a_sign_file_naming_another_region_than_expected_is_invalid() {
    let set = local_set(|_, _| {});
    let options = LakeOptions::default().expect_region(Some("eu-west-1".into()));
    let report = check_local(&set, &options).await;
    assert_eq!(report.status, Status::Invalid);
    assert!(
        report
            .sign_file
            .problems
            .contains(&SignFileProblem::WrongRegion {
                declared: "us-east-1".into(),
                expected: "eu-west-1".into(),
            })
    );
}

#[tokio::test]
async fn a_fingerprint_missing_from_the_complete_key_list_is_invalid_and_from_a_partial_one_unverifiable()
 {
    // Re-signed by a key that is not CloudTrail's.
    let set = local_set(|dir, results| {
        let mut sign = results.sign.clone();
        sign.sign(&TestKey::other_key());
        std::fs::write(dir.join("result_sign.json"), sign.to_json()).unwrap();
    });
    let report = check_local(&set, &LakeOptions::default()).await;
    assert_eq!(report.status, Status::Invalid);
    assert!(matches!(
        report.sign_file.problems.as_slice(),
        [SignFileProblem::KeyUnknown { .. }]
    ));
    // Keys saved for another time say nothing about this one: unverifiable, never valid.
    let t = complete_time();
    let old = public_keys_json(&[TestKey::default_key().public_key_entry(
        t - TimeDelta::days(90),
        t - TimeDelta::days(60),
        PublicKeyForm::Pkcs1,
    )]);
    let old = KeySet::from_list_public_keys_json(old.as_bytes()).unwrap();
    let report = lake::verify_local_query_results(&set.dir, &old, &LakeOptions::default())
        .await
        .unwrap();
    assert_eq!(report.status, Status::Unverifiable, "{report:#?}");
    assert!(matches!(
        report.sign_file.problems.as_slice(),
        [SignFileProblem::KeyNotFound { .. }]
    ));
}

#[tokio::test]
async fn malformed_and_oversized_sign_files_are_invalid() {
    let malformed = local_set(|dir, _| {
        std::fs::write(dir.join("result_sign.json"), br#"{"version":"1.0"}"#).unwrap()
    });
    let report = check_local(&malformed, &LakeOptions::default()).await;
    assert_eq!(report.status, Status::Invalid);
    assert!(matches!(
        report.sign_file.problems.as_slice(),
        [SignFileProblem::InvalidFormat { .. }]
    ));
    let oversized = local_set(|dir, _| {
        let big = vec![b' '; lake::MAX_SIGN_FILE_BYTES as usize + 1];
        std::fs::write(dir.join("result_sign.json"), big).unwrap()
    });
    let report = check_local(&oversized, &LakeOptions::default()).await;
    assert_eq!(report.status, Status::Invalid);
    assert_eq!(
        report.sign_file.problems,
        vec![SignFileProblem::TooLarge {
            limit: lake::MAX_SIGN_FILE_BYTES
        }]
    );
}

#[tokio::test]
async fn a_missing_sign_file_is_invalid_beside_results_and_unverifiable_in_an_empty_folder() {
    let removed = local_set(|dir, _| std::fs::remove_file(dir.join("result_sign.json")).unwrap());
    let report = check_local(&removed, &LakeOptions::default()).await;
    assert_eq!(report.status, Status::Invalid);
    assert_eq!(
        report.sign_file.problems,
        vec![SignFileProblem::NotFound {
            objects_in_folder: 3
        }]
    );
    let empty = local_set(|dir, _| {
        std::fs::remove_dir_all(dir).unwrap();
        std::fs::create_dir(dir).unwrap();
    });
    let report = check_local(&empty, &LakeOptions::default()).await;
    assert_eq!(report.status, Status::Unverifiable, "{report:#?}");
}

// --- S3 -------------------------------------------------------------------------------------

/// The result set in the in-process S3 server, and the CloudTrail stub serving the test key.
struct S3Set {
    server: S3Server,
    stub: CloudTrailStub,
    results: LakeResults,
}

fn s3_set() -> S3Set {
    let results = LakeResults::generate(&spec(), &TestKey::default_key());
    let server = S3Server::start(S3ServerOptions::new());
    server.handle().create_bucket(BUCKET, "eu-west-1");
    for (key, bytes) in results.objects() {
        server
            .handle()
            .put(BUCKET, &key, bytes, Vec::<(String, String)>::new());
    }
    let key = TestKey::default_key();
    let t = complete_time();
    let stub = CloudTrailStub::start(StubConfig {
        keys: vec![StubKey {
            value_der: key.public_der(PublicKeyForm::Pkcs1).to_vec(),
            fingerprint: key.fingerprint(PublicKeyForm::Pkcs1),
            valid_from: t - TimeDelta::days(30),
            valid_to: t + TimeDelta::days(30),
        }],
        ..StubConfig::default()
    });
    S3Set {
        server,
        stub,
        results,
    }
}

#[tokio::test]
async fn a_result_set_in_s3_is_valid_with_keys_from_list_public_keys_and_an_altered_file_is_not() {
    let set = s3_set();
    let front = TlsFront::start(None, &set.server.endpoint(), &set.stub.endpoint())
        .expect("starting the front");
    let conf = front.sdk_config();
    let folder = set.results.spec.folder();
    let report = lake::verify_s3_query_results(&conf, BUCKET, &folder, &LakeOptions::default())
        .await
        .unwrap();
    assert_eq!(report.status, Status::Valid, "{report:#?}");
    assert_eq!(report.counts.valid, 3);
    assert!(set.stub.count("ListPublicKeys") >= 1);
    assert_eq!(
        file(&report, "result_1.csv.gz").location,
        format!("s3://{BUCKET}/{folder}result_1.csv.gz")
    );

    set.server.handle().put(
        BUCKET,
        &format!("{folder}result_1.csv.gz"),
        b"altered".to_vec(),
        Vec::<(String, String)>::new(),
    );
    let report = lake::verify_s3_query_results(&conf, BUCKET, &folder, &LakeOptions::default())
        .await
        .unwrap();
    assert_eq!(report.status, Status::Invalid);
    assert!(matches!(
        file(&report, "result_1.csv.gz").problem,
        Some(ResultFileProblem::HashMismatch { .. })
    ));
}

/// `queryCompleteTime` is not signed, so it cannot move the span CloudTrail's keys are looked
/// up over: a result file altered, its hash edited in the sign file (left unsigned) and the
/// completion time set in the future is invalid from S3 (the signing key is fetched and the
/// signature fails) as it is from a local copy, not unverifiable for want of a key.
#[tokio::test]
async fn an_altered_result_with_a_future_complete_time_is_invalid_from_s3_as_locally() {
    let altered = b"altered".to_vec();
    let mut sign = LakeResults::generate(&spec(), &TestKey::default_key()).sign;
    sign.files[0].file_hash_value = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&altered));
    sign.query_complete_time = ctverify_fixtures::format_time(&(Utc::now() + TimeDelta::days(365)));
    let name = sign.files[0].file_name.clone();
    let forged = sign.to_json();

    let local = local_set(|dir, _| {
        std::fs::write(dir.join(&name), &altered).unwrap();
        std::fs::write(dir.join("result_sign.json"), &forged).unwrap();
    });
    let report = check_local(&local, &LakeOptions::default()).await;
    assert_eq!(report.status, Status::Invalid, "{report:#?}");
    assert!(
        report
            .sign_file
            .problems
            .contains(&SignFileProblem::SignatureMismatch),
        "{report:#?}"
    );

    let set = s3_set();
    let folder = set.results.spec.folder();
    for (key, bytes) in [
        (format!("{folder}{name}"), altered.clone()),
        (format!("{folder}result_sign.json"), forged.clone()),
    ] {
        set.server
            .handle()
            .put(BUCKET, &key, bytes, Vec::<(String, String)>::new());
    }
    let front = TlsFront::start(None, &set.server.endpoint(), &set.stub.endpoint())
        .expect("starting the front");
    let report = lake::verify_s3_query_results(
        &front.sdk_config(),
        BUCKET,
        &folder,
        &LakeOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.status, Status::Invalid, "{report:#?}");
    assert!(
        report
            .sign_file
            .problems
            .contains(&SignFileProblem::SignatureMismatch),
        "{report:#?}"
    );
    // And a fingerprint CloudTrail never had stays invalid whatever the completion time says.
    let mut other = sign.clone();
    other.sign(&TestKey::other_key());
    set.server.handle().put(
        BUCKET,
        &format!("{folder}result_sign.json"),
        other.to_json(),
        Vec::<(String, String)>::new(),
    );
    let report = lake::verify_s3_query_results(
        &front.sdk_config(),
        BUCKET,
        &folder,
        &LakeOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.status, Status::Invalid, "{report:#?}");
    assert!(
        matches!(
            report.sign_file.problems.as_slice(),
            [SignFileProblem::KeyUnknown { .. }]
        ),
        "{report:#?}"
    );
}

// --- CLI --------------------------------------------------------------------------------------

async fn cli(args: &[&str]) -> ctverify_tests::trail::Run {
    let mut all = vec!["ctverify".to_owned(), "query-results".to_owned()];
    all.extend(args.iter().map(|s| s.to_string()));
    run_ctverify(&all).await
}

#[tokio::test]
async fn the_cli_exits_0_1_2_3_for_valid_invalid_unverifiable_and_failed_runs() {
    let valid = local_set(|_, _| {});
    let dir = valid.dir.to_str().unwrap();
    let keys = valid.keys_file.to_str().unwrap();
    let run = cli(&["--local", dir, "--public-keys", keys, "--verbose"]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("1/1 sign files valid"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("3/3 result files valid"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("Result file\t{dir}/result_1.csv.gz\tvalid")),
        "{}",
        run.stdout
    );

    let altered = local_set(|dir, _| std::fs::write(dir.join("result_2.csv.gz"), b"x").unwrap());
    let adir = altered.dir.to_str().unwrap();
    let run = cli(&["--local", adir, "--public-keys", keys]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "Result file\t{adir}/result_2.csv.gz\tINVALID: hash value doesn't match"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .contains("2/3 result files valid, 1/3 result files INVALID"),
        "{}",
        run.stdout
    );

    // Signed by a key the saved list, of another time, cannot speak for: not checkable.
    let resigned = local_set(|dir, results| {
        let mut sign = results.sign.clone();
        sign.sign(&TestKey::other_key());
        std::fs::write(dir.join("result_sign.json"), sign.to_json()).unwrap();
    });
    let t = complete_time();
    let old = public_keys_json(&[TestKey::default_key().public_key_entry(
        t - TimeDelta::days(90),
        t - TimeDelta::days(60),
        PublicKeyForm::Pkcs1,
    )]);
    let old_file = valid.dir.parent().unwrap().join("old-keys.json");
    std::fs::write(&old_file, old).unwrap();
    let rdir = resigned.dir.to_str().unwrap();
    let run = cli(&["--local", rdir, "--public-keys", old_file.to_str().unwrap()]).await;
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("Sign file\t"), "{}", run.stderr);
    assert!(
        run.stderr.contains("UNVERIFIABLE: public key"),
        "{}",
        run.stderr
    );

    let run = cli(&["--local", dir]).await;
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("--public-keys"), "{}", run.stderr);
    let run = cli(&["--local", dir, "--s3-bucket", "b"]).await;
    assert_eq!(run.code, 3);
    let run = cli(&["--local", dir, "--public-keys", keys, "--region", "nowhere"]).await;
    assert_eq!(run.code, 3, "{}", run.stderr);
}

#[tokio::test]
async fn the_cli_json_report_names_each_finding_kind() {
    let set = local_set(|dir, _| std::fs::write(dir.join("extra.csv.gz"), b"x").unwrap());
    let run = cli(&[
        "--local",
        set.dir.to_str().unwrap(),
        "--public-keys",
        set.keys_file.to_str().unwrap(),
        "--format",
        "json",
    ])
    .await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["status"], "invalid");
    assert_eq!(report["sign_file"]["status"], "valid");
    let extra = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "extra.csv.gz")
        .unwrap();
    assert_eq!(extra["problem"]["kind"], "not_listed");
    assert_eq!(extra["status"], "invalid");
}

#[test]
fn the_cli_binary_verifies_from_s3_with_local_endpoints_only() {
    let set = s3_set();
    let folder = set.results.spec.folder();
    let args: Vec<String> = [
        "query-results",
        "--s3-bucket",
        BUCKET,
        "--s3-prefix",
        &folder,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let env = [("AWS_REGION".to_owned(), "us-east-1".to_owned())];
    let run = s3_trail::run_ctverify_process_with_env(
        &args,
        &set.server.endpoint(),
        &set.stub.endpoint(),
        &env,
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!(
            "Validating query results in s3://{BUCKET}/{folder}"
        )),
        "{}",
        run.stdout
    );
    set.server
        .handle()
        .delete(BUCKET, &format!("{folder}result_2.csv.gz"));
    let run = s3_trail::run_ctverify_process_with_env(
        &args,
        &set.server.endpoint(),
        &set.stub.endpoint(),
        &env,
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "Result file\ts3://{BUCKET}/{folder}result_2.csv.gz\tINVALID: not found"
        )),
        "{}",
        run.stderr
    );
}
