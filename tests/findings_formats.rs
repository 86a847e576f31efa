//! Findings where compliance teams work: `--format asff` (Security Hub's format), `--format
//! ocsf` (validated line by line with PyPI `py-ocsf-models`), the same stable finding ids in
//! every format, and `--security-hub` against moto's Security Hub (BatchImportFindings,
//! GetFindings): one finding per id after a re-run, resolved after a fix.

use ctverify_fixtures::DigestFaultKind;
use ctverify_tests::moto::MotoServer;
use ctverify_tests::trail::{GeneratedTrail, Run, exit, run_ctverify, with_fault};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A trail with every common kind of tampering: a log file altered (hash mismatch), one
/// deleted, one planted in a covered hour, and a digest whose successor records another hash
/// for it (a previous-hash mismatch, with both hashes).
fn tampered() -> (GeneratedTrail, PathBuf, Vec<u8>) {
    let trail = GeneratedTrail::new(&with_fault(2, DigestFaultKind::WrongPreviousHash));
    let path = |key: &str| trail.copy().join(trail.bucket()).join(key);
    let altered = path(&trail.log(0, 0));
    let original = std::fs::read(&altered).unwrap();
    std::fs::write(&altered, regzip_altered(&original)).unwrap();
    std::fs::remove_file(path(&trail.log(0, 1))).unwrap();
    let planted_from = trail.log(3, 0);
    let (stem, _) = planted_from.rsplit_once('_').unwrap();
    std::fs::copy(
        path(&planted_from),
        path(&format!("{stem}_Pl4nt3dPl4nt3d00.json.gz")),
    )
    .unwrap();
    (trail, altered, original)
}

/// The log file's content with one character changed, gzipped again: a well-formed log whose
/// SHA-256 is not the one its digest lists.
fn regzip_altered(gz: &[u8]) -> Vec<u8> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_string(&mut text)
        .unwrap();
    let altered = text.replacen("us-east-1", "us-east-2", 1);
    assert_ne!(altered, text);
    let mut out = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    out.write_all(altered.as_bytes()).unwrap();
    out.finish().unwrap()
}

async fn run(trail: &GeneratedTrail, extra: &[&str]) -> Run {
    trail.verify(extra).await
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", run.stdout, run.stderr))
}

fn ids_of(values: &[Value], field: &str) -> BTreeSet<String> {
    values
        .iter()
        .map(|v| {
            v[field]
                .as_str()
                .unwrap_or_else(|| panic!("no {field} in {v}"))
                .to_owned()
        })
        .collect()
}

const NOW: &str = "--now=2026-03-02T00:00:00Z";

#[tokio::test]
async fn every_asff_finding_of_a_tampered_trail_has_every_required_field() {
    let (trail, _, _) = tampered();
    let run = run(&trail, &["--format", "asff", NOW]).await;
    assert_eq!(run.code, exit::INVALID, "{run:?}");
    let findings = json(&run);
    let findings = findings.as_array().expect("an ASFF array");
    let account = &trail
        .manifest
        .trail_arn
        .split(':')
        .nth(4)
        .unwrap()
        .to_owned();
    let region = trail
        .manifest
        .trail_arn
        .split(':')
        .nth(3)
        .unwrap()
        .to_owned();
    let product = format!("arn:aws:securityhub:{region}:{account}:product/{account}/default");
    for f in findings {
        for field in [
            "SchemaVersion",
            "Id",
            "ProductArn",
            "GeneratorId",
            "AwsAccountId",
            "CreatedAt",
            "UpdatedAt",
            "Severity",
            "Title",
            "Description",
            "Types",
            "Resources",
        ] {
            assert!(!f[field].is_null(), "{field} missing in {f}");
        }
        assert_eq!(f["SchemaVersion"], "2018-10-08");
        assert_eq!(f["ProductArn"], product.as_str());
        assert_eq!(f["AwsAccountId"], account.as_str());
        assert_eq!(f["Id"].as_str().unwrap().len(), 64, "{f}");
        let resources = f["Resources"].as_array().unwrap();
        assert!((1..=32).contains(&resources.len()), "{f}");
        assert_eq!(resources[0]["Type"], "AwsCloudTrailTrail");
        assert_eq!(resources[0]["Id"], trail.manifest.trail_arn.as_str());
        assert!(f["Title"].as_str().unwrap().chars().count() <= 256);
        assert!(f["Description"].as_str().unwrap().chars().count() <= 1024);
        for t in f["Types"].as_array().unwrap() {
            assert!(
                [
                    "Effects/Data Destruction",
                    "TTPs/Defense Evasion",
                    "Software and Configuration Checks/Industry and Regulatory Standards"
                ]
                .contains(&t.as_str().unwrap()),
                "{t}"
            );
        }
        assert_eq!(f["RecordState"], "ACTIVE");
    }
    let by = |kind: &str| -> Vec<&Value> {
        findings
            .iter()
            .filter(|f| f["GeneratorId"].as_str().unwrap().ends_with(kind))
            .collect()
    };
    // Content altered or deleted: critical, failed, tampering, the S3 object named.
    for kind in ["log_file/hash_mismatch", "log_file/not_found"] {
        let found = by(kind);
        assert_eq!(found.len(), 1, "{kind}: {findings:#?}");
        let f = found[0];
        assert_eq!(f["Severity"]["Label"], "CRITICAL", "{f}");
        assert_eq!(f["Compliance"]["Status"], "FAILED");
        assert_eq!(
            f["Types"],
            serde_json::json!(["Effects/Data Destruction", "TTPs/Defense Evasion"])
        );
        assert_eq!(f["Resources"][1]["Type"], "AwsS3Object");
        assert!(
            f["Resources"][1]["Id"]
                .as_str()
                .unwrap()
                .starts_with(&format!("arn:aws:s3:::{}/AWSLogs/", trail.bucket()))
        );
    }
    let hash = by("log_file/hash_mismatch")[0];
    assert_eq!(
        hash["ProductFields"]["ctverify/expected_sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    assert_ne!(
        hash["ProductFields"]["ctverify/expected_sha256"],
        hash["ProductFields"]["ctverify/actual_sha256"]
    );
    assert!(hash["ProductFields"]["ctverify/digest_key"].is_string());
    // A planted file: invalid, high. (The log files of the digest that lost its proof are
    // unlisted too, in hours no valid digest covers: unverifiable, medium.)
    let unlisted = by("unlisted_log_file/not_listed");
    let planted: Vec<&&Value> = unlisted
        .iter()
        .filter(|f| f["Compliance"]["Status"] == "FAILED")
        .collect();
    assert_eq!(planted.len(), 1, "{unlisted:#?}");
    assert!(planted[0]["Title"].as_str().unwrap().contains("Pl4nt3d"));
    assert_eq!(planted[0]["Severity"]["Label"], "HIGH");
    for f in unlisted
        .iter()
        .filter(|f| f["Compliance"]["Status"] != "FAILED")
    {
        assert_eq!(f["Compliance"]["Status"], "WARNING");
        assert_eq!(f["Severity"]["Label"], "MEDIUM");
        assert_eq!(
            f["Types"],
            serde_json::json!([
                "Software and Configuration Checks/Industry and Regulatory Standards"
            ])
        );
    }
    // The chain's links: the digest whose successor records another hash, both hashes named.
    let link = by("digest_file/previous_hash_mismatch");
    assert_eq!(link.len(), 1, "{findings:#?}");
    assert_eq!(link[0]["Severity"]["Label"], "CRITICAL");
    assert!(link[0]["ProductFields"]["ctverify/actual_sha256"].is_string());
    // The summary: one, last, failed and critical.
    let summary = findings.last().unwrap();
    assert_eq!(summary["GeneratorId"], "ctverify/verify/summary/invalid");
    assert_eq!(summary["Compliance"]["Status"], "FAILED");
    assert_eq!(summary["Severity"]["Label"], "CRITICAL");
    assert!(
        summary["Description"]
            .as_str()
            .unwrap()
            .starts_with("INVALID: ")
    );
    assert_eq!(by("summary/invalid").len(), 1);
}

#[tokio::test]
async fn a_valid_trail_is_one_passed_informational_summary_finding() {
    let trail = GeneratedTrail::new(&ctverify_tests::trail::spec());
    let run = run(&trail, &["--format", "asff", NOW]).await;
    assert_eq!(run.code, exit::VALID, "{run:?}");
    let findings = json(&run);
    let findings = findings.as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["Compliance"]["Status"], "PASSED");
    assert_eq!(findings[0]["Severity"]["Label"], "INFORMATIONAL");
    assert_eq!(
        findings[0]["Types"],
        serde_json::json!(["Software and Configuration Checks/Industry and Regulatory Standards"])
    );
    assert_eq!(findings[0]["Resources"][1]["Type"], "AwsS3Bucket");
}

#[tokio::test]
async fn every_format_names_the_same_findings_by_the_same_ids_on_every_run() {
    let (trail, _, _) = tampered();
    let json_run = run(&trail, &["--format", "json", NOW]).await;
    let report = json(&json_run);
    let from_json = ids_of(report["findings"].as_array().unwrap(), "id");
    assert!(from_json.len() >= 5, "{from_json:?}");

    let jsonl = run(&trail, &["--format", "jsonl", NOW]).await;
    let lines: Vec<Value> = jsonl
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let findings: Vec<Value> = lines
        .iter()
        .filter(|l| l["type"] == "finding")
        .cloned()
        .collect();
    assert_eq!(ids_of(&findings, "id"), from_json);
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["finding_id"], findings.last().unwrap()["id"]);

    let asff = run(&trail, &["--format", "asff", NOW]).await;
    assert_eq!(ids_of(json(&asff).as_array().unwrap(), "Id"), from_json);

    let ocsf = run(&trail, &["--format", "ocsf", NOW]).await;
    let events: Vec<Value> = ocsf
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["finding_info"].clone())
        .collect();
    assert_eq!(ids_of(&events, "uid"), from_json);

    let junit = run(&trail, &["--format", "junit", NOW]).await;
    let from_junit: BTreeSet<String> = junit
        .stdout
        .lines()
        .filter_map(|l| l.split("name=\"finding_id\" value=\"").nth(1))
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect();
    assert_eq!(from_junit, from_json);

    // Another day, the same findings: the ids hold no time of the run.
    let later = run(&trail, &["--format", "json", "--now=2026-06-01T00:00:00Z"]).await;
    assert_eq!(
        ids_of(json(&later)["findings"].as_array().unwrap(), "id"),
        from_json
    );
}

/// The Python of the tests' environment: beside `CTVERIFY_MOTO_SERVER`.
fn python() -> PathBuf {
    let server = std::env::var_os("CTVERIFY_MOTO_SERVER").expect(
        "CTVERIFY_MOTO_SERVER is not set: run scripts/test.sh, which installs the tests' Python \
         environment (moto, py-ocsf-models) and sets it",
    );
    let python = Path::new(&server).with_file_name("python");
    assert!(
        python.exists(),
        "{} is missing: the tests' Python environment (scripts/python/requirements.txt) is \
         needed to validate OCSF",
        python.display()
    );
    python
}

/// Runs `scripts/python/check_ocsf.py` over `lines`; its output, and whether every line passed.
fn check_ocsf(lines: &str) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/python/check_ocsf.py");
    let mut child = Command::new(python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running the OCSF checker");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn every_ocsf_line_is_an_event_py_ocsf_models_accepts() {
    let (trail, _, _) = tampered();
    let tampered_run = run(&trail, &["--format", "ocsf", NOW]).await;
    assert_eq!(tampered_run.code, exit::INVALID);
    let (ok, said) = check_ocsf(&tampered_run.stdout);
    assert!(ok, "{said}\n{}", tampered_run.stdout);
    assert!(said.contains("DetectionFinding"), "{said}");
    assert_eq!(said.matches("ComplianceFinding").count(), 1, "{said}");
    let events: Vec<Value> = tampered_run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let hash = events
        .iter()
        .find(|e| e["finding_info"]["types"][0] == "log_file/hash_mismatch")
        .expect("the altered log file");
    assert_eq!(hash["class_uid"], 2004);
    assert_eq!(hash["severity_id"], 5);
    let evidence = &hash["evidences"][0]["data"];
    assert_eq!(evidence["object_key"], trail.log(0, 0).as_str());
    assert!(evidence["expected_sha256"].is_string() && evidence["actual_sha256"].is_string());
    let verdict = events.last().unwrap();
    assert_eq!(verdict["class_uid"], 2003);
    assert_eq!(verdict["compliance"]["status_id"], 3);

    // A checker that passes everything proves nothing: a line without its required
    // finding_info fails.
    let mut broken: Value = events[0].clone();
    broken.as_object_mut().unwrap().remove("finding_info");
    let (ok, said) = check_ocsf(&format!("{broken}\n"));
    assert!(!ok, "{said}");
    let mut misspelt: Value = events[0].clone();
    misspelt["finding_info"]["titel"] = "x".into();
    let (ok, said) = check_ocsf(&format!("{misspelt}\n"));
    assert!(!ok, "{said}");

    let valid = GeneratedTrail::new(&ctverify_tests::trail::spec());
    let valid_run = run(&valid, &["--format", "ocsf", NOW]).await;
    assert_eq!(valid_run.code, exit::VALID);
    let (ok, said) = check_ocsf(&valid_run.stdout);
    assert!(ok, "{said}");
    assert!(
        valid_run.stdout.contains("\"status_id\":1"),
        "{}",
        valid_run.stdout
    );
}

/// Runs the ctverify binary with moto as every AWS endpoint.
fn run_against(moto: &MotoServer, args: &[String]) -> Run {
    let empty = Path::new("/dev/null");
    // The arguments start with the program's name (what an in-process run takes).
    let output = Command::new(env!("CARGO_BIN_EXE_ctverify-under-test"))
        .args(&args[1..])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", empty)
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .expect("running ctverify");
    Run::from(output)
}

/// GetFindings, every page, as JSON objects of the fields the test reads.
async fn get_findings(moto: &MotoServer, region: &str) -> Vec<Value> {
    let conf = moto
        .sdk_config()
        .into_builder()
        .region(aws_config::Region::new(region.to_owned()))
        .build();
    let client = aws_sdk_securityhub::Client::new(&conf);
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .get_findings()
            .set_next_token(token)
            .max_results(100)
            .send()
            .await
            .expect("GetFindings");
        for f in page.findings() {
            out.push(serde_json::json!({
                "Id": f.id(),
                "GeneratorId": f.generator_id(),
                "RecordState": f.record_state().map(|s| s.as_str().to_owned()),
                "Workflow": f.workflow().and_then(|w| w.status()).map(|s| s.as_str().to_owned()),
                "Compliance": f.compliance().and_then(|c| c.status()).map(|s| s.as_str().to_owned()),
                "Severity": f.severity().and_then(|s| s.label()).map(|s| s.as_str().to_owned()),
                "Title": f.title(),
            }));
        }
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    out
}

#[tokio::test]
async fn security_hub_holds_one_finding_per_id_after_a_rerun_and_resolves_what_a_fix_removed() {
    let moto = MotoServer::start();
    let trail = GeneratedTrail::new(&ctverify_tests::trail::spec());
    let altered = trail.copy().join(trail.bucket()).join(trail.log(1, 2));
    let original = std::fs::read(&altered).unwrap();
    std::fs::write(&altered, regzip_altered(&original)).unwrap();
    let state = trail.dir.path().join("state.json");
    let mut args = trail.args();
    args.extend(
        [
            "--security-hub",
            "--state",
            state.to_str().unwrap(),
            NOW,
            "-q",
        ]
        .map(String::from),
    );
    let region = trail
        .manifest
        .trail_arn
        .split(':')
        .nth(3)
        .unwrap()
        .to_owned();

    let first = run_against(&moto, &args);
    assert_eq!(first.code, exit::INVALID, "{first:?}");
    let after_one = get_findings(&moto, &region).await;
    eprintln!(
        "GetFindings after one run: {:#}",
        Value::Array(after_one.clone())
    );
    assert_eq!(after_one.len(), 2, "{after_one:#?}");
    let altered_finding = after_one
        .iter()
        .find(|f| f["GeneratorId"] == "ctverify/verify/log_file/hash_mismatch")
        .expect("the altered log file's finding")
        .clone();
    assert_eq!(altered_finding["RecordState"], "ACTIVE");
    assert_eq!(altered_finding["Compliance"], "FAILED");
    assert_eq!(altered_finding["Severity"], "CRITICAL");

    let again = run_against(&moto, &args);
    assert_eq!(again.code, exit::INVALID, "{again:?}");
    let after_two = get_findings(&moto, &region).await;
    assert_eq!(after_two.len(), 2, "a re-run added copies: {after_two:#?}");
    assert_eq!(ids_of(&after_two, "Id"), ids_of(&after_one, "Id"));

    std::fs::write(&altered, &original).unwrap();
    let fixed = run_against(&moto, &args);
    assert_eq!(fixed.code, exit::VALID, "{fixed:?}");
    let after_fix = get_findings(&moto, &region).await;
    eprintln!(
        "GetFindings after the fix: {:#}",
        Value::Array(after_fix.clone())
    );
    assert_eq!(after_fix.len(), 2, "{after_fix:#?}");
    let resolved = after_fix
        .iter()
        .find(|f| f["Id"] == altered_finding["Id"])
        .unwrap();
    assert_eq!(resolved["RecordState"], "ARCHIVED");
    assert_eq!(resolved["Workflow"], "RESOLVED");
    assert_eq!(resolved["Compliance"], "PASSED");
    let summary = after_fix
        .iter()
        .find(|f| f["GeneratorId"] == "ctverify/verify/summary/valid")
        .expect("the summary, now valid");
    assert_eq!(summary["Compliance"], "PASSED");
    assert_eq!(summary["RecordState"], "ACTIVE");

    // Resolved once: the next run does not send it again, and the state forgot it.
    let state_text = std::fs::read_to_string(&state).unwrap();
    assert!(!state_text.contains(altered_finding["Id"].as_str().unwrap()));
}

#[tokio::test]
async fn findings_security_hub_does_not_take_make_the_run_fail_with_exit_status_3() {
    // Nothing answers on this port: every BatchImportFindings call fails, after the SDK's
    // retries. The verdict is valid; the run is not.
    let trail = GeneratedTrail::new(&ctverify_tests::trail::spec());
    let mut args = trail.args();
    args.extend(["--security-hub", NOW].map(String::from));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    args.extend(["--endpoint-url".into(), format!("http://127.0.0.1:{port}")]);
    let empty = Path::new("/dev/null");
    let output = Command::new(env!("CARGO_BIN_EXE_ctverify-under-test"))
        .args(&args[1..])
        .env_clear()
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", empty)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("Security Hub did not import 1 of 1 findings"),
        "{stderr}"
    );
    let _ = run_ctverify; // in-process runs are used above; this one needs its own process
}

#[tokio::test]
async fn audit_checks_become_asff_with_their_controls_ocsf_compliance_findings_and_security_hub_findings()
 {
    use ctverify_tests::moto::MOTO_ACCOUNT;
    let moto = MotoServer::start();
    let conf = moto.sdk_config();
    let bucket = "audit-findings-logs";
    let arn = format!("arn:aws:cloudtrail:us-east-1:{MOTO_ACCOUNT}:trail/audit-findings");
    cloudtrail_verify::aws::s3_client(&conf)
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("CreateBucket");
    aws_sdk_cloudtrail::Client::new(&conf)
        .create_trail()
        .name("audit-findings")
        .s3_bucket_name(bucket)
        .send()
        .await
        .expect("CreateTrail");
    let audit = |format: &str| {
        let mut args: Vec<String> = [
            "ctverify",
            "audit",
            "--trail",
            &arn,
            "--region",
            "us-east-1",
        ]
        .map(String::from)
        .to_vec();
        args.extend(["--format".into(), format.into()]);
        run_against(&moto, &args)
    };

    let asff = audit("asff");
    // A bare trail: no validation, no KMS key: checks fail.
    assert_eq!(asff.code, exit::INVALID, "{asff:?}");
    let findings = json(&asff);
    let findings = findings.as_array().unwrap();
    let validation = findings
        .iter()
        .find(|f| f["GeneratorId"] == "ctverify/audit/log_file_validation")
        .expect("the log-file validation check");
    assert_eq!(validation["Compliance"]["Status"], "FAILED");
    assert_eq!(
        validation["Compliance"]["SecurityControlId"],
        "CloudTrail.4"
    );
    assert_eq!(
        validation["Compliance"]["RelatedRequirements"],
        serde_json::json!([
            "CIS AWS Foundations Benchmark v1.2.0/2.2",
            "CIS AWS Foundations Benchmark v1.4.0/3.2"
        ])
    );
    assert_eq!(validation["Resources"][0]["Id"], arn.as_str());
    let controls: BTreeSet<&str> = findings
        .iter()
        .filter_map(|f| f["Compliance"]["SecurityControlId"].as_str())
        .collect();
    for control in [
        "CloudTrail.1",
        "CloudTrail.2",
        "CloudTrail.4",
        "CloudTrail.5",
        "CloudTrail.6",
        "CloudTrail.7",
    ] {
        assert!(
            controls.contains(control),
            "{control} missing: {controls:?}"
        );
    }

    let ocsf = audit("ocsf");
    let (ok, said) = check_ocsf(&ocsf.stdout);
    assert!(ok, "{said}\n{}", ocsf.stdout);
    assert_eq!(
        said.matches("ComplianceFinding").count(),
        findings.len(),
        "{said}"
    );
    let ocsf_ids: BTreeSet<String> = ocsf
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["finding_info"]["uid"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ocsf_ids, ids_of(findings, "Id"));

    let sent = run_against(
        &moto,
        &[
            "ctverify",
            "audit",
            "--trail",
            &arn,
            "--region",
            "us-east-1",
            "--security-hub",
            "--format",
            "json",
        ]
        .map(String::from),
    );
    assert_eq!(sent.code, exit::INVALID, "{sent:?}");
    assert!(sent.stderr.contains("checks imported"), "{sent:?}");
    let in_hub = get_findings(&moto, "us-east-1").await;
    assert_eq!(ids_of(&in_hub, "Id"), ids_of(findings, "Id"));
    assert!(
        in_hub
            .iter()
            .any(|f| f["GeneratorId"] == "ctverify/audit/log_file_validation"
                && f["Compliance"] == "FAILED"),
        "{in_hub:#?}"
    );
}
