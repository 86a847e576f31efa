//! A sweep's cost before it runs: `--dry-run` and `ctverify plan` print the S3 requests a run
//! will make, and those requests are what a run really makes, as the S3 test server counts
//! them (within 5%), with the bytes the trail's objects hold.

#[path = "support/s3_trail.rs"]
#[allow(dead_code)]
mod s3_trail;

use ctverify_fixtures::TrailSpec;
use ctverify_tests::trail::exit;
use s3_trail::S3Trail;

/// An organization trail: two accounts, two regions, a day of hourly digests, five log files
/// each (4 chains, 96 digests, 480 log files).
fn spec() -> TrailSpec {
    TrailSpec {
        org_id: Some("o-abcdefghij".into()),
        accounts: vec!["111122223333".into(), "444455556666".into()],
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        digests: 24,
        logs_per_digest: 5,
        ..TrailSpec::default()
    }
}

/// (LIST, GET, MB) from `Estimate: N chains, L LIST + G GET requests (...), X MB to read`.
fn estimate(stdout: &str) -> (u64, u64, f64) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("Estimate: "))
        .unwrap_or_else(|| panic!("no estimate line in:\n{stdout}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let before = |word: &str| -> &str {
        let i = words
            .iter()
            .position(|w| *w == word)
            .unwrap_or_else(|| panic!("no {word:?} in {line:?}"));
        words[i - 1]
    };
    let number = |text: &str| -> u64 {
        text.parse()
            .unwrap_or_else(|e| panic!("{text:?} in {line:?}: {e}"))
    };
    let mb = before("MB")
        .parse()
        .unwrap_or_else(|e| panic!("MB in {line:?}: {e}"));
    (number(before("LIST")), number(before("GET")), mb)
}

fn assert_within_5_percent(what: &str, estimated: u64, actual: u64) {
    let diff = estimated.abs_diff(actual) as f64;
    assert!(
        diff <= 0.05 * actual as f64,
        "{what}: estimated {estimated}, the run made {actual}"
    );
}

/// Compressed bytes of every object of the generated copy (the range is the whole trail).
fn stored_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).expect("reading the copy") {
        let entry = entry.expect("a directory entry");
        let meta = entry.metadata().expect("metadata");
        if meta.is_dir() {
            total += stored_bytes(&entry.path());
        } else if entry.path().extension().is_some_and(|e| e == "gz") {
            total += meta.len();
        }
    }
    total
}

#[test]
fn a_dry_run_estimates_the_requests_and_bytes_a_run_makes_within_five_percent() {
    let t = S3Trail::start(&spec(), |_| {});
    let dry = t.verify(&["--dry-run", "--request-rate", "1000"]);
    assert_eq!(dry.code, exit::VALID, "{}\n{}", dry.stdout, dry.stderr);
    let (list, get, mb) = estimate(&dry.stdout);
    let by_dry_run = t.server.requests();
    assert_eq!(by_dry_run.of("GetObject"), 0, "a dry run reads no object");
    assert_eq!(
        by_dry_run.of("ListObjectsV2"),
        list,
        "the estimate counts the set-up's listings and its own, which a run makes too"
    );
    assert!(
        dry.stdout.contains("at 1000 requests/s"),
        "the rate given is the one stated:\n{}",
        dry.stdout
    );

    t.server.reset_requests();
    let run = t.verify(&[]);
    assert_eq!(run.code, exit::VALID, "{}\n{}", run.stdout, run.stderr);
    let made = t.server.requests();
    assert_within_5_percent("GetObject", get, made.of("GetObject"));
    assert_within_5_percent("ListObjectsV2", list, made.of("ListObjectsV2"));
    let bytes = stored_bytes(&t.trail.copy());
    assert_within_5_percent("bytes", (mb * 1e6) as u64, bytes);
}

#[test]
fn plan_prints_the_estimate_at_the_prices_given() {
    let t = S3Trail::start(&spec(), |_| {});
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("plan.json");
    let mut args = vec![
        "plan".to_owned(),
        "--shards".to_owned(),
        "2".to_owned(),
        "--out".to_owned(),
        out.display().to_string(),
        "--s3-prices".to_owned(),
        "LIST=1,GET=1".to_owned(),
    ];
    args.extend(ctverify_tests::trail::range_args(&t.trail.manifest));
    let run = s3_trail::run_ctverify_process(&args, &t.server.endpoint(), &t.stub.endpoint());
    assert_eq!(run.code, exit::VALID, "{}\n{}", run.stdout, run.stderr);
    assert!(out.exists(), "the plan is written as before");
    let (list, get, _) = estimate(&run.stdout);
    // At $1 per 1,000 requests of either kind the cost is the requests / 1,000.
    let cost = format!("request cost ${:.6}", (list + get) as f64 / 1000.0);
    assert!(run.stdout.contains(&cost), "{cost:?} in:\n{}", run.stdout);
    // 4 chains x (24 digests + the hour after) and their log files.
    assert!(get >= 4 * 24 * 6, "{}", run.stdout);
}
