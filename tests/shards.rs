//! Sharded sweeps: `plan`, one run per shard and `merge` give exactly a single run's verdict and
//! counts, on a generated organization trail, clean and with tampering placed exactly on a seam
//! (where a chain was split in time). Local copies run the command line in-process; one case
//! runs each shard as a child process against the S3 test server.

#[path = "support/s3_trail.rs"]
#[allow(dead_code)]
mod s3_trail;

use chrono::{DateTime, Utc};
use ctverify_fixtures::TrailSpec;
use ctverify_tests::trail::{GeneratedTrail, Run, exit, run_ctverify};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// An organization trail: two member accounts, two regions, twelve hours.
fn spec() -> TrailSpec {
    TrailSpec {
        org_id: Some("o-abcdefghij".into()),
        accounts: vec!["111122223333".into(), "444455556666".into()],
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        digests: 12,
        logs_per_digest: 2,
        ..TrailSpec::default()
    }
}

/// What must be equal between a single run and the merged shards.
fn verdict(report: &Value) -> Value {
    let s = &report["summary"];
    serde_json::json!({
        "status": report["status"],
        "digests": s["digests"],
        "logs": s["logs"],
        "logs_not_checked": s["logs_not_checked"],
        "unlisted_logs": s["unlisted_logs"],
        "foreign_objects": s["foreign_objects"],
        "gaps": s["gaps"],
        "uncovered_hours": s["uncovered_hours"],
        "chains": report["chains"].as_array().map(Vec::len),
        "problems": problems(report),
    })
}

/// Every digest and log problem kind, sorted: the findings, whoever found them.
fn problems(report: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for chain in report["chains"].as_array().into_iter().flatten() {
        for d in chain["digests"].as_array().into_iter().flatten() {
            for p in d["problems"].as_array().into_iter().flatten() {
                found.push(format!("{} {}", d["key"], p["kind"]));
            }
            for l in d["logs"].as_array().into_iter().flatten() {
                if let Some(kind) = l["problem"]["kind"].as_str() {
                    found.push(format!("{} {kind}", l["key"]));
                }
            }
        }
        for g in chain["gaps"].as_array().into_iter().flatten() {
            found.push(format!("gap {} {} {}", g["kind"], g["start"], g["end"]));
        }
    }
    found.sort();
    found
}

struct Sweep {
    trail: GeneratedTrail,
    dir: tempfile::TempDir,
}

impl Sweep {
    fn new() -> Self {
        Sweep {
            trail: GeneratedTrail::new(&spec()),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn local(&self) -> Vec<String> {
        vec![
            "--local".into(),
            self.trail.copy().display().to_string(),
            "--public-keys".into(),
            self.trail.keys().display().to_string(),
        ]
    }

    fn plan_path(&self) -> PathBuf {
        self.dir.path().join("plan.json")
    }

    async fn plan(&self, shards: usize) -> Value {
        let mut args = vec!["ctverify".to_owned(), "plan".to_owned()];
        args.extend(ctverify_tests::trail::range_args(&self.trail.manifest));
        args.extend(self.local());
        args.extend([
            "--shards".into(),
            shards.to_string(),
            "--out".into(),
            self.plan_path().display().to_string(),
        ]);
        let run = run_ctverify(&args).await;
        assert_eq!(run.code, exit::VALID, "{}{}", run.stdout, run.stderr);
        serde_json::from_slice(&std::fs::read(self.plan_path()).unwrap()).unwrap()
    }

    async fn shard(&self, k: usize) -> Run {
        let mut args = vec![
            "ctverify".to_owned(),
            "--plan".into(),
            self.plan_path().display().to_string(),
            "--shard".into(),
            k.to_string(),
            "--out".into(),
            self.dir.path().join("shard-{}.json").display().to_string(),
            "-q".into(),
        ];
        args.extend(self.local());
        run_ctverify(&args).await
    }

    async fn merge(&self) -> (u8, Value) {
        let args = vec![
            "ctverify".to_owned(),
            "merge".into(),
            "--plan".into(),
            self.plan_path().display().to_string(),
            self.dir.path().join("shard-{}.json").display().to_string(),
            "--format".into(),
            "json".into(),
        ];
        let run = run_ctverify(&args).await;
        let report = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("not a report ({e}): {}{}", run.stdout, run.stderr));
        (run.code, report)
    }

    async fn single(&self) -> (u8, Value) {
        self.trail.report(&[]).await
    }

    /// Plans `shards`, runs every shard and merges; asserts the merge equals a single run.
    async fn assert_shards_equal_one_run(&self, shards: usize) -> Value {
        let plan = self.plan(shards).await;
        let n = plan["shards"].as_array().unwrap().len();
        let mut worst = 0;
        for k in 0..n {
            let run = self.shard(k).await;
            assert!(
                run.code <= exit::UNVERIFIABLE,
                "{}{}",
                run.stdout,
                run.stderr
            );
            worst = worst.max(run.code);
        }
        let (single_code, single) = self.single().await;
        let (merged_code, merged) = self.merge().await;
        assert_eq!(verdict(&merged), verdict(&single));
        assert_eq!(merged_code, single_code);
        // The merged verdict is never better than the worst shard's.
        assert!(merged_code >= worst || worst == exit::UNVERIFIABLE);
        merged
    }

    /// The seams of the plan: (account, region, time) where a chain's window starts after the
    /// range's start.
    fn seams(plan: &Value) -> Vec<(String, String, DateTime<Utc>)> {
        let from = &plan["from"];
        let mut seams = Vec::new();
        for shard in plan["shards"].as_array().unwrap() {
            for item in shard["items"].as_array().unwrap() {
                if &item["from"] != from {
                    seams.push((
                        item["account_id"].as_str().unwrap().to_owned(),
                        item["region"].as_str().unwrap().to_owned(),
                        item["from"].as_str().unwrap().parse().unwrap(),
                    ));
                }
            }
        }
        seams
    }

    /// The key of the digest of (account, region) ending at `end`, and its index.
    fn digest_ending(&self, account: &str, region: &str, end: DateTime<Utc>) -> (usize, String) {
        let chain = self
            .trail
            .manifest
            .chains
            .iter()
            .find(|c| c.account == account && c.region == region)
            .expect("the chain");
        chain
            .digests
            .iter()
            .enumerate()
            .find(|(_, d)| d.end_time == end)
            .map(|(i, d)| (i, d.key.clone()))
            .expect("a digest ending at the seam")
    }

    fn file(&self, key: &str) -> PathBuf {
        self.trail.copy().join(self.trail.bucket()).join(key)
    }
}

fn seam_count(merged: &Value) -> usize {
    merged["chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["seams"].as_array().map_or(0, Vec::len))
        .sum()
}

#[tokio::test]
async fn shards_of_a_clean_organization_trail_merge_into_a_single_runs_verdict() {
    let sweep = Sweep::new();
    for shards in [1, 3, 7] {
        let merged = sweep.assert_shards_equal_one_run(shards).await;
        assert_eq!(merged["status"], "valid");
        if shards == 7 {
            // Four chains in seven shards: chains were split in time, and every seam joined.
            assert!(seam_count(&merged) > 0);
            for chain in merged["chains"].as_array().unwrap() {
                for seam in chain["seams"].as_array().into_iter().flatten() {
                    assert_eq!(seam["status"], "valid", "{seam}");
                }
            }
        }
    }
}

/// Every shard runs the same command: a report name without `{}` would have each shard overwrite
/// the last one's report, so it is refused before anything is verified.
#[tokio::test]
async fn a_shard_report_name_without_the_index_is_refused_before_anything_runs() {
    let sweep = Sweep::new();
    sweep.plan(2).await;
    let mut args = vec![
        "ctverify".to_owned(),
        "--plan".into(),
        sweep.plan_path().display().to_string(),
        "--shard".into(),
        "0".into(),
        "--out".into(),
        sweep.dir.path().join("shard.json").display().to_string(),
    ];
    args.extend(sweep.local());
    let run = run_ctverify(&args).await;
    assert_eq!(run.code, exit::ERROR, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("has no {} for the shard's index"),
        "{}",
        run.stderr
    );
    assert!(!sweep.dir.path().join("shard.json").exists());
}

async fn tampered_on_a_seam(tamper: impl Fn(&Sweep, &Path, &str)) {
    let sweep = Sweep::new();
    let plan = sweep.plan(7).await;
    let seams = Sweep::seams(&plan);
    let (account, region, at) = seams.first().cloned().expect("a seam");
    // The digest ending exactly at the seam: the older shard's newest, named by the newer
    // shard's oldest.
    let (_, key) = sweep.digest_ending(&account, &region, at);
    tamper(&sweep, &sweep.file(&key), &key);
    let merged = sweep.assert_shards_equal_one_run(7).await;
    assert_eq!(merged["status"], "invalid");
}

#[tokio::test]
async fn a_digest_deleted_on_a_seam_is_invalid_merged_as_in_one_run() {
    tampered_on_a_seam(|_, path, _| std::fs::remove_file(path).unwrap()).await;
}

#[tokio::test]
async fn a_digest_altered_on_a_seam_is_invalid_merged_as_in_one_run() {
    tampered_on_a_seam(|_, path, _| {
        let mut bytes = std::fs::read(path).unwrap();
        let last = bytes.len() - 9;
        bytes[last] ^= 1;
        std::fs::write(path, bytes).unwrap();
    })
    .await;
}

#[tokio::test]
async fn a_log_file_altered_on_a_seam_is_invalid_merged_as_in_one_run() {
    tampered_on_a_seam(|sweep, _, key| {
        let chain = sweep
            .trail
            .manifest
            .chains
            .iter()
            .find(|c| c.digests.iter().any(|d| d.key == key))
            .unwrap();
        let digest = chain.digests.iter().find(|d| d.key == key).unwrap();
        let log = sweep.file(&digest.log_files[0]);
        std::fs::write(log, ctverify_fixtures::gzip(b"{\"Records\":[]}")).unwrap();
    })
    .await;
}

#[tokio::test]
async fn merge_refuses_a_missing_or_foreign_shard_report() {
    let sweep = Sweep::new();
    let plan = sweep.plan(3).await;
    for k in 0..plan["shards"].as_array().unwrap().len() {
        sweep.shard(k).await;
    }
    let other = sweep.dir.path().join("shard-1.json");
    let saved = std::fs::read(&other).unwrap();
    std::fs::remove_file(&other).unwrap();
    let args = |dir: &Path| {
        vec![
            "ctverify".to_owned(),
            "merge".into(),
            "--plan".into(),
            dir.join("plan.json").display().to_string(),
            dir.join("shard-{}.json").display().to_string(),
        ]
    };
    let run = run_ctverify(&args(sweep.dir.path())).await;
    assert_eq!(run.code, exit::ERROR, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("shard-1.json"), "{}", run.stderr);
    std::fs::write(&other, saved).unwrap();
    // A new plan over the same names: the reports of the old one do not make it up.
    sweep.plan(4).await;
    std::fs::copy(
        sweep.dir.path().join("shard-0.json"),
        sweep.dir.path().join("shard-3.json"),
    )
    .unwrap();
    let run = run_ctverify(&args(sweep.dir.path())).await;
    assert_eq!(run.code, exit::ERROR, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("another plan"), "{}", run.stderr);
}

#[test]
fn shard_processes_against_s3_merge_into_a_single_runs_verdict() {
    // The shard index comes from the job engine's variable, as in deploy/.
    let s3 = s3_trail::S3Trail::start(&spec(), |_| {});
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json").display().to_string();
    let reports = dir.path().join("r-{}.json").display().to_string();
    let (s3_url, stub) = (s3.server.endpoint(), s3.stub.endpoint());
    let mut args = vec!["plan".to_owned()];
    args.extend(ctverify_tests::trail::range_args(&s3.trail.manifest));
    args.extend(["--shards".into(), "5".into(), "--out".into(), plan.clone()]);
    let run = s3_trail::run_ctverify_process(&args, &s3_url, &stub);
    assert_eq!(run.code, exit::VALID, "{}{}", run.stdout, run.stderr);
    let shards = serde_json::from_slice::<Value>(&std::fs::read(&plan).unwrap()).unwrap()["shards"]
        .as_array()
        .unwrap()
        .len();
    for k in 0..shards {
        let args = vec![
            "--plan".into(),
            plan.clone(),
            "--out".into(),
            reports.clone(),
        ];
        let env = [("JOB_COMPLETION_INDEX".to_owned(), k.to_string())];
        let run = s3_trail::run_ctverify_process_with_env(&args, &s3_url, &stub, &env);
        assert_eq!(run.code, exit::VALID, "{}{}", run.stdout, run.stderr);
    }
    let merge = vec![
        "merge".into(),
        "--plan".into(),
        plan.clone(),
        reports.clone(),
        "--format".into(),
        "json".into(),
    ];
    let run = s3_trail::run_ctverify_process(&merge, &s3_url, &stub);
    assert_eq!(run.code, exit::VALID, "{}{}", run.stdout, run.stderr);
    let merged: Value = serde_json::from_str(&run.stdout).unwrap();
    let (code, single) = s3.report(&[]);
    assert_eq!(code, exit::VALID);
    assert_eq!(verdict(&merged), verdict(&single));
}

#[tokio::test]
async fn a_chain_that_appears_after_the_plan_is_verified_by_the_first_shard() {
    let sweep = Sweep::new();
    sweep.plan(5).await;
    // A region folder nobody planned: a log file copied there after the plan was made.
    let log = sweep.trail.log(0, 0);
    let planted = log
        .replace("/us-east-1/", "/ap-south-1/")
        .replace("_us-east-1_", "_ap-south-1_");
    let target = sweep.file(&planted);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(sweep.file(&log), &target).unwrap();
    let mut worst = 0;
    for k in 0..5 {
        worst = worst.max(sweep.shard(k).await.code);
    }
    let (single_code, single) = sweep.single().await;
    let (merged_code, merged) = sweep.merge().await;
    assert_ne!(single_code, exit::VALID);
    assert_eq!(merged_code, single_code);
    assert_eq!(verdict(&merged), verdict(&single));
    assert_eq!(worst, single_code);
}
