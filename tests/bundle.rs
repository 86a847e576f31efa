//! Evidence bundles (`ctverify export`) and the provenance of every report: exported from the
//! in-process S3 server by the real binary, then verified by the real binary from the bundle
//! with every AWS endpoint pointing at a closed port (no network), to the same verdict; every
//! alteration of a bundle is caught and never valid.

use ctverify_fixtures::tamper;
use ctverify_tests::cloudtrail_stub::STUB_CALLER_ARN;
use ctverify_tests::trail::exit::{INVALID, VALID};
use ctverify_tests::trail::{GeneratedTrail, Run, range_args, spec};
use std::path::{Path, PathBuf};

#[path = "support/s3_trail.rs"]
mod s3_trail;
use s3_trail::{S3Trail, run_ctverify_process};

/// Nothing listens here: a run that tried to reach AWS would fail, not succeed quietly.
const CLOSED: &str = "http://127.0.0.1:1";

fn untouched(_: &GeneratedTrail) {}

/// `ctverify export RANGE --out OUT` against the servers.
fn export(s3: &S3Trail, out: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["export".to_owned()];
    args.extend(range_args(&s3.trail.manifest));
    args.extend(["--out".to_owned(), out.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    run_ctverify_process(&args, &s3.server.endpoint(), &s3.stub.endpoint())
}

/// `ctverify RANGE --local BUNDLE --public-keys KEYS --format json` with no reachable
/// endpoint, the keys from outside the bundle (as an auditor's own copy of CloudTrail's).
fn verify_offline(s3: &S3Trail, bundle: &Path) -> (Run, serde_json::Value) {
    let mut args = range_args(&s3.trail.manifest);
    args.extend([
        "--local".to_owned(),
        bundle.display().to_string(),
        "--public-keys".into(),
        s3.trail.keys().display().to_string(),
        "--format".into(),
        "json".into(),
    ]);
    let run = run_ctverify_process(&args, CLOSED, CLOSED);
    let report = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}): {run:?}"));
    (run, report)
}

fn exported(s3: &S3Trail, dir: &Path) -> PathBuf {
    let out = dir.join("bundle");
    let run = export(s3, &out, &["--format", "json"]);
    assert!(out.is_dir(), "{run:?}");
    out
}

/// A copy of a bundle to damage.
fn copy_of(bundle: &Path, dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(bundle)
        .arg(&to)
        .status()
        .expect("cp");
    assert!(status.success());
    to
}

fn files_under(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if e.file_name().to_string_lossy().ends_with(suffix) {
                found.push(e.path());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn a_bundle_exported_from_s3_verifies_offline_to_the_same_verdict() {
    let s3 = S3Trail::start(&spec(), untouched);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bundle");
    let run = export(&s3, &out, &["--format", "json"]);
    assert_eq!(run.code, VALID, "{run:?}");
    let online: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        run.stderr
            .contains("verified offline from the bundle: valid"),
        "{run:?}"
    );
    // The layout of --local, with the digests' metadata beside them and the run's evidence.
    for name in ["manifest.json", "public-keys.json", "report.json"] {
        assert!(out.join(name).is_file(), "{name}");
    }
    let digests = files_under(&out, ".json.gz")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("CloudTrail-Digest"))
        .count();
    assert_eq!(digests, 4);
    assert_eq!(files_under(&out, ".metadata.json").len(), 4);
    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("public-keys.json")).unwrap()).unwrap();
    assert!(!keys["PublicKeyList"].as_array().unwrap().is_empty());
    assert!(
        keys["ctverify"]["keys"][0]["source"]
            .as_str()
            .unwrap()
            .contains("ListPublicKeys at http://127.0.0.1"),
        "{keys}"
    );
    assert!(keys["ctverify"]["keys"][0]["fetched_at"].is_string());

    let (offline, report) = verify_offline(&s3, &out);
    assert_eq!(offline.code, VALID, "{offline:?}");
    assert_eq!(report["status"], online["status"]);
    assert_eq!(report["summary"], online["summary"]);
    assert_eq!(report["provenance"]["caller_note"], "local copy");
    assert!(report.get("bundle_problems").is_none());
}

#[test]
fn altering_any_file_of_a_bundle_is_detected_and_never_valid() {
    let s3 = S3Trail::start(&spec(), untouched);
    let dir = tempfile::tempdir().unwrap();
    let bundle = exported(&s3, dir.path());
    let log = files_under(&bundle, ".json.gz")
        .into_iter()
        .find(|p| !p.to_string_lossy().contains("CloudTrail-Digest"))
        .unwrap();
    let digest = files_under(&bundle, ".json.gz")
        .into_iter()
        .find(|p| p.to_string_lossy().contains("CloudTrail-Digest"))
        .unwrap();
    let sidecar = files_under(&bundle, ".metadata.json")[0].clone();
    let rel = |p: &Path| {
        p.strip_prefix(&bundle)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    type Damage = Box<dyn Fn(&Path)>;
    let flip_last_byte = |p: &Path| {
        let mut bytes = std::fs::read(p).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(p, bytes).unwrap();
    };
    let cases: Vec<(&str, String, Damage)> = vec![
        (
            "log altered",
            rel(&log),
            Box::new(move |p| flip_last_byte(p)),
        ),
        (
            "digest altered",
            rel(&digest),
            Box::new(move |p| flip_last_byte(p)),
        ),
        (
            "sidecar altered",
            rel(&sidecar),
            Box::new(|p| {
                let text = std::fs::read_to_string(p).unwrap();
                let mut meta: serde_json::Value = serde_json::from_str(&text).unwrap();
                let sig = meta["signature"].as_str().unwrap().to_owned();
                let other = if sig.starts_with('0') { "1" } else { "0" };
                meta["signature"] = format!("{other}{}", &sig[1..]).into();
                std::fs::write(p, meta.to_string()).unwrap();
            }),
        ),
        (
            "keys file altered",
            "public-keys.json".into(),
            Box::new(|p| {
                let mut text = std::fs::read(p).unwrap();
                text.extend_from_slice(b"\n ");
                std::fs::write(p, text).unwrap();
            }),
        ),
        (
            "report altered",
            "report.json".into(),
            Box::new(|p| {
                let text = std::fs::read_to_string(p).unwrap();
                std::fs::write(p, text.replacen("\"valid\"", "\"invalid\"", 1)).unwrap();
            }),
        ),
        (
            "log deleted",
            rel(&log),
            Box::new(|p| std::fs::remove_file(p).unwrap()),
        ),
        (
            "file added",
            "extra.txt".into(),
            Box::new(|p| std::fs::write(p, b"planted").unwrap()),
        ),
    ];
    for (name, path, damage) in &cases {
        let copy = copy_of(&bundle, dir.path(), &name.replace(' ', "-"));
        damage(&copy.join(path));
        let (run, report) = verify_offline(&s3, &copy);
        assert_eq!(run.code, INVALID, "{name}: {run:?}");
        let problems = report["bundle_problems"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            problems.iter().any(|p| p["path"] == path.as_str()),
            "{name}: {problems:?}"
        );
        assert!(run.stderr.contains("Bundle file") || run.stdout.contains("bundle_problems"));
    }

    // The manifest itself: a hash changed, an entry removed, the manifest gone, garbage.
    let manifest_cases: Vec<(&str, Damage)> = vec![
        (
            "manifest hash changed",
            Box::new(|p| {
                let mut m: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
                let files = m["files"].as_object_mut().unwrap();
                let first = files.keys().next().unwrap().clone();
                files.insert(first, "00".repeat(32).into());
                std::fs::write(p, m.to_string()).unwrap();
            }),
        ),
        (
            "manifest entry removed",
            Box::new(|p| {
                let mut m: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
                let files = m["files"].as_object_mut().unwrap();
                let first = files.keys().next().unwrap().clone();
                files.remove(&first);
                std::fs::write(p, m.to_string()).unwrap();
            }),
        ),
        (
            "manifest deleted",
            Box::new(|p| std::fs::remove_file(p).unwrap()),
        ),
        (
            "manifest garbage",
            Box::new(|p| std::fs::write(p, b"{").unwrap()),
        ),
    ];
    for (name, damage) in &manifest_cases {
        let copy = copy_of(&bundle, dir.path(), &name.replace(' ', "-"));
        damage(&copy.join("manifest.json"));
        let (run, report) = verify_offline(&s3, &copy);
        assert_eq!(run.code, INVALID, "{name}: {run:?}");
        assert!(
            !report["bundle_problems"].as_array().unwrap().is_empty(),
            "{name}"
        );
    }
}

#[test]
fn a_tar_gz_bundle_round_trips() {
    let s3 = S3Trail::start(&spec(), untouched);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("evidence.tar.gz");
    let run = export(&s3, &out, &[]);
    assert_eq!(run.code, VALID, "{run:?}");
    assert!(out.is_file());
    // The staging directory is gone.
    assert!(!dir.path().join("evidence.tar.gz.partial").exists());
    let unpacked = dir.path().join("unpacked");
    let file = std::fs::File::open(&out).unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(&unpacked)
        .unwrap();
    let (offline, report) = verify_offline(&s3, &unpacked);
    assert_eq!(offline.code, VALID, "{offline:?}");
    assert_eq!(report["summary"]["digests"]["valid"], 4);
    assert_eq!(report["summary"]["logs"]["valid"], 12);
}

/// `--local evidence.tar.gz` reads the archive where it lies, and the report names the archive
/// (its source, its keys' provenance), never the private folder it was unpacked into, which is
/// gone when the run ends.
#[test]
fn a_tar_gz_bundle_read_in_place_is_named_as_given_in_its_report() {
    let s3 = S3Trail::start(&spec(), untouched);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("evidence.tar.gz");
    assert_eq!(export(&s3, &out, &[]).code, VALID);
    let (offline, report) = verify_offline(&s3, &out);
    assert_eq!(offline.code, VALID, "{offline:?}");
    let text = report.to_string();
    assert!(
        !text.contains("ctverify-bundle-"),
        "a temporary path: {text}"
    );
    let named = format!("{} (unpacked)", out.display());
    assert_eq!(report["source"], named.as_str());
    assert_eq!(report["provenance"]["options"]["source"], named.as_str());
}

#[test]
fn a_bundle_of_a_tampered_trail_keeps_its_invalid_verdict() {
    let s3 = S3Trail::start(&spec(), |t| {
        tamper::modify_log(&t.copy(), t.bucket(), &t.log(1, 0)).unwrap();
        tamper::plant_log(
            &t.copy(),
            t.bucket(),
            &t.log(2, 0).replace(".json.gz", "X.json.gz"),
            3,
        )
        .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bundle");
    let run = export(&s3, &out, &[]);
    assert_eq!(run.code, INVALID, "{run:?}");
    run.assert_line(&["Log file", "INVALID: hash value doesn't match"]);
    assert!(
        run.stderr
            .contains("verified offline from the bundle: invalid"),
        "{run:?}"
    );
    let online: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let (offline, report) = verify_offline(&s3, &out);
    assert_eq!(offline.code, INVALID, "{offline:?}");
    // Both findings travel with the bundle: the altered log and the planted object.
    assert!(report.get("bundle_problems").is_none(), "{report}");
    assert_eq!(report["summary"], online["summary"]);
    assert_eq!(report["summary"]["logs"]["invalid"], 1);
    assert_eq!(report["summary"]["foreign_objects"]["invalid"], 1);
}

#[test]
fn every_report_says_who_ran_what_where_and_when() {
    let s3 = S3Trail::start(&spec(), untouched);
    let (code, report) = s3.report(&["--concurrency", "3"]);
    assert_eq!(code, VALID);
    let p = &report["provenance"];
    assert_eq!(p["caller"]["arn"], STUB_CALLER_ARN);
    assert_eq!(p["caller"]["account"], "111122223333");
    assert_eq!(p["endpoints"]["s3"], s3.server.endpoint());
    assert_eq!(p["endpoints"]["cloudtrail"], s3.stub.endpoint());
    assert_eq!(p["options"]["concurrency"], 3);
    assert_eq!(p["options"]["bucket"], s3.trail.bucket());
    let key = &p["keys"][0];
    assert_eq!(key["region"], "us-east-1");
    assert!(key["fingerprint"].as_str().unwrap().len() == 32, "{key}");
    assert!(p["started_at"].as_str().unwrap() <= p["ended_at"].as_str().unwrap());

    // In text, a short block after the AWS CLI's lines, which stay as they were.
    let run = s3.verify(&[]);
    assert_eq!(run.code, VALID);
    assert!(
        run.stdout.starts_with("Validating log files for trail "),
        "{run:?}"
    );
    run.assert_line(&["4/4 digest files valid"]);
    run.assert_line(&["Provenance: ctverify "]);
    run.assert_line(&["  Caller: ", STUB_CALLER_ARN, "(account 111122223333)"]);
    run.assert_line(&["  Endpoints: cloudtrail ", "s3 "]);
    run.assert_line(&["  Key: ", "(us-east-1) valid "]);
    run.assert_line(&["  Options: --from 2026-01-01T00:00:00Z"]);
}

#[test]
fn an_unknown_caller_is_a_warning_not_an_error() {
    let s3 = S3Trail::start(&spec(), untouched);
    let run = s3.verify_with_env(
        &["--format", "json"],
        &[("AWS_ENDPOINT_URL_STS".into(), CLOSED.into())],
    );
    assert_eq!(run.code, VALID, "{run:?}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(report["provenance"]["caller"].is_null());
    let note = report["provenance"]["caller_note"].as_str().unwrap();
    assert!(note.starts_with("GetCallerIdentity failed"), "{note}");
    assert!(
        report["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("caller's identity is unknown")),
        "{report}"
    );
}

/// A region whose files were all deleted from the bucket is expected from S3 (the trail is
/// multi-region, ListRegions names it); the bundle carries that expectation, so offline the
/// region is still reported uncovered instead of going unmentioned.
#[test]
fn a_region_deleted_from_the_bucket_stays_expected_in_the_bundle() {
    let spec = ctverify_fixtures::TrailSpec {
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        ..spec()
    };
    let s3 = S3Trail::start(&spec, |t| {
        let account = t
            .copy()
            .join(t.bucket())
            .join("AWSLogs")
            .join(&t.manifest.accounts[0]);
        for folder in ["CloudTrail", "CloudTrail-Digest"] {
            std::fs::remove_dir_all(account.join(folder).join("eu-west-1")).unwrap();
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bundle");
    let run = export(&s3, &out, &["--format", "json"]);
    assert_ne!(run.code, VALID, "{run:?}");
    let online: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let (offline, report) = verify_offline(&s3, &out);
    assert_eq!(offline.code, run.code, "{offline:?}");
    assert_eq!(report["status"], online["status"]);
    let regions: Vec<&str> = report["chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["chain"]["region"].as_str().unwrap())
        .collect();
    assert!(regions.contains(&"eu-west-1"), "{regions:?}");
}

/// Keys exported per region serve only their region offline, as they did from S3.
#[test]
fn exported_keys_keep_their_regions() {
    let s3 = S3Trail::start(&spec(), untouched);
    let dir = tempfile::tempdir().unwrap();
    let out = exported(&s3, dir.path());
    let text = std::fs::read(out.join("public-keys.json")).unwrap();
    let keys = cloudtrail_verify::KeySet::from_list_public_keys_json(&text).unwrap();
    assert!(!keys.is_empty());
    assert!(keys.keys().iter().all(|k| k.region() == Some("us-east-1")));
}

/// Prints a sample export and offline run (for the README): `cargo test --test bundle
/// sample -- --nocapture`. It asserts what it shows.
#[test]
fn sample_export_and_offline_run_print_their_provenance() {
    let s3 = S3Trail::start(&spec(), untouched);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("evidence.tar.gz");
    let run = export(&s3, &out, &[]);
    println!(
        "--- export stdout\n{}--- export stderr\n{}",
        run.stdout, run.stderr
    );
    assert_eq!(run.code, VALID);
    let unpacked = dir.path().join("bundle");
    tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(&out).unwrap(),
    ))
    .unpack(&unpacked)
    .unwrap();
    let mut args = range_args(&s3.trail.manifest);
    args.extend([
        "--local".to_owned(),
        unpacked.display().to_string(),
        "--public-keys".into(),
        s3.trail.keys().display().to_string(),
    ]);
    let offline = run_ctverify_process(&args, CLOSED, CLOSED);
    println!(
        "--- offline stdout\n{}--- offline stderr\n{}",
        offline.stdout, offline.stderr
    );
    assert_eq!(offline.code, VALID);
    offline.assert_line(&["  Caller: local copy"]);
}

/// A local copy with only some sidecars re-bundles to the same verdict, and a copy whose
/// sidecar is broken (a finding) does not lose that finding in the bundle.
#[test]
fn a_local_copy_rebundles_to_the_same_verdict_and_keeps_a_broken_sidecar_invalid() {
    let trail = GeneratedTrail::new(&spec());
    let dir = tempfile::tempdir().unwrap();
    let run_local = |out: &Path| {
        let mut args = vec!["export".to_owned()];
        args.extend(range_args(&trail.manifest));
        args.extend([
            "--local".to_owned(),
            trail.copy().display().to_string(),
            "--public-keys".into(),
            trail.keys().display().to_string(),
            "--out".into(),
            out.display().to_string(),
        ]);
        run_ctverify_process(&args, CLOSED, CLOSED)
    };
    let out = dir.path().join("clean");
    let run = run_local(&out);
    assert_eq!(run.code, VALID, "{run:?}");
    let mut args = range_args(&trail.manifest);
    args.extend([
        "--local".to_owned(),
        out.display().to_string(),
        "--public-keys".into(),
        trail.keys().display().to_string(),
    ]);
    assert_eq!(run_ctverify_process(&args, CLOSED, CLOSED).code, VALID);

    let sidecar = files_under(&trail.copy(), ".metadata.json")
        .into_iter()
        .next()
        .expect("the generated copy has sidecars");
    std::fs::write(&sidecar, b"[not an object]").unwrap();
    let out = dir.path().join("broken");
    let run = run_local(&out);
    assert_eq!(run.code, INVALID, "{run:?}");
    let mut args = range_args(&trail.manifest);
    args.extend(["--local".to_owned(), out.display().to_string()]);
    let offline = run_ctverify_process(&args, CLOSED, CLOSED);
    assert_eq!(offline.code, INVALID, "{offline:?}");
    offline.assert_line(&["Bundle file", "INVALID: the export could not copy it"]);
}

/// Every file of a bundle, each in turn: one byte changed, the copy is never valid, and the
/// manifest check names that very file.
#[test]
fn a_byte_changed_in_any_file_of_a_bundle_is_never_valid() {
    let s3 = S3Trail::start(&spec(), untouched);
    let dir = tempfile::tempdir().unwrap();
    let bundle = exported(&s3, dir.path());
    let every = files_under(&bundle, "");
    assert!(every.len() > 20, "{every:?}");
    for (i, file) in every.iter().enumerate() {
        let rel = file
            .strip_prefix(&bundle)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let copy = copy_of(&bundle, dir.path(), &format!("copy-{i}"));
        let target = copy.join(&rel);
        let mut bytes = std::fs::read(&target).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x20;
        std::fs::write(&target, bytes).unwrap();
        let mut args = range_args(&s3.trail.manifest);
        args.extend(["--local".to_owned(), copy.display().to_string()]);
        let run = run_ctverify_process(&args, CLOSED, CLOSED);
        assert_ne!(run.code, VALID, "{rel}: {run:?}");
        if rel != "manifest.json" {
            run.assert_line(&["Bundle file", &rel]);
        }
        std::fs::remove_dir_all(&copy).unwrap();
    }
}

/// A bundle verified with the keys it carries itself is never valid: whoever can write the
/// bundle can replace `public-keys.json` with their own key and re-sign every digest, so only
/// keys from outside it (`--public-keys`) can prove it. Everything else still verifies.
#[test]
fn a_bundle_checked_with_its_own_keys_is_unverifiable_never_valid() {
    let s3 = S3Trail::start(&spec(), untouched);
    let dir = tempfile::tempdir().unwrap();
    let out = exported(&s3, dir.path());
    let mut args = range_args(&s3.trail.manifest);
    args.extend(["--local".to_owned(), out.display().to_string()]);
    let run = run_ctverify_process(&args, CLOSED, CLOSED);
    assert_eq!(
        run.code,
        ctverify_tests::trail::exit::UNVERIFIABLE,
        "{run:?}"
    );
    run.assert_line(&["4/4 digest files valid"]);
    assert!(run.stderr.contains("read from the copy itself"), "{run:?}");
    let (trusted, _) = verify_offline(&s3, &out);
    assert_eq!(trusted.code, VALID, "{trusted:?}");
}

/// The keys-from-the-copy cap is a fact of the report, not only of one run's status: the
/// shards of a bundle checked with its own keys merge into an unverifiable verdict, never a
/// valid one, and the merged report says why. (The merge recomputes the status from the
/// chains, which each verify against the bundle's keys.)
#[test]
fn merge_of_shards_with_keys_from_the_copy_is_never_valid() {
    let s3 = S3Trail::start(&spec(), untouched);
    let dir = tempfile::tempdir().unwrap();
    let out = exported(&s3, dir.path());
    let plan = dir.path().join("plan.json");
    let shards = dir.path().join("shard-{}.json");
    let mut args = vec!["plan".to_owned()];
    args.extend(range_args(&s3.trail.manifest));
    args.extend([
        "--local".to_owned(),
        out.display().to_string(),
        "--shards".into(),
        "2".into(),
        "--out".into(),
        plan.display().to_string(),
    ]);
    let run = run_ctverify_process(&args, CLOSED, CLOSED);
    assert!(plan.is_file(), "{run:?}");
    let planned: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    let count = planned["shards"].as_array().map_or(0, Vec::len);
    assert!(count >= 2, "the plan has {count} shards: {planned:#}");
    for k in 0..count {
        let args = vec![
            "--plan".to_owned(),
            plan.display().to_string(),
            "--shard".into(),
            k.to_string(),
            "--out".into(),
            shards.display().to_string(),
            "--local".into(),
            out.display().to_string(),
            "-q".into(),
        ];
        let run = run_ctverify_process(&args, CLOSED, CLOSED);
        assert_eq!(
            run.code,
            ctverify_tests::trail::exit::UNVERIFIABLE,
            "{run:?}"
        );
        let report: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.path().join(format!("shard-{k}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(report["keys_from_the_copy"], true, "{report:#}");
    }
    let merge = |extra: &[&str]| {
        let mut args = vec![
            "merge".to_owned(),
            "--plan".into(),
            plan.display().to_string(),
            shards.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        run_ctverify_process(&args, CLOSED, CLOSED)
    };
    let run = merge(&["--format", "json"]);
    assert_eq!(
        run.code,
        ctverify_tests::trail::exit::UNVERIFIABLE,
        "{run:?}"
    );
    let merged: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(merged["status"], "unverifiable", "{merged:#}");
    assert_eq!(merged["keys_from_the_copy"], true, "{merged:#}");
    // Everything else verifies: only the keys keep it from valid.
    assert_eq!(merged["summary"]["digests"]["valid"], 4, "{merged:#}");
    assert!(
        merged["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("read from the copy itself")),
        "{merged:#}"
    );
    let run = merge(&[]);
    assert_eq!(
        run.code,
        ctverify_tests::trail::exit::UNVERIFIABLE,
        "{run:?}"
    );
}

/// A `--state` run on a bundle checked with its own keys leaves no checkpoint: a later run
/// would resume from it as from a proven head.
#[test]
fn a_state_never_checkpoints_what_keys_from_the_copy_proved() {
    let s3 = S3Trail::start(&spec(), untouched);
    let dir = tempfile::tempdir().unwrap();
    let out = exported(&s3, dir.path());
    let state = dir.path().join("state.json");
    let mut args = range_args(&s3.trail.manifest);
    args.extend([
        "--local".to_owned(),
        out.display().to_string(),
        "--state".into(),
        state.display().to_string(),
    ]);
    let run = run_ctverify_process(&args, CLOSED, CLOSED);
    assert_eq!(
        run.code,
        ctverify_tests::trail::exit::UNVERIFIABLE,
        "{run:?}"
    );
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(written["chains"], serde_json::json!([]), "{written:#}");
}
