//! Output as verdicts become final: JSON Lines and JUnit carry what the JSON report does, in
//! the same order whatever the concurrency, and lines are out while the run is still going.

#[path = "support/s3_trail.rs"]
#[allow(dead_code)]
mod s3_trail;

use ctverify_fixtures::TrailSpec;
use ctverify_tests::trail::{GeneratedTrail, exit};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::time::Duration;

fn spec() -> TrailSpec {
    TrailSpec {
        digests: 6,
        logs_per_digest: 3,
        regions: vec!["us-east-1".into(), "eu-west-1".into(), "ap-south-1".into()],
        ..TrailSpec::default()
    }
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// A trail with one log file altered.
fn tampered() -> GeneratedTrail {
    let trail = GeneratedTrail::new(&spec());
    let log = trail.log(2, 1);
    std::fs::write(
        trail.copy().join(trail.bucket()).join(&log),
        ctverify_fixtures::gzip(b"{\"Records\":[]}"),
    )
    .unwrap();
    trail
}

#[tokio::test]
async fn json_lines_carry_every_verdict_of_the_report_in_order_with_the_summary_last() {
    let trail = tampered();
    let run = trail.verify(&["--format", "jsonl"]).await;
    assert_eq!(run.code, exit::INVALID, "{}", run.stderr);
    let events = lines(&run.stdout);
    let (_, report) = trail.report(&[]).await;
    assert!(events.iter().all(|e| e["schema_version"] == 1));
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.last(), Some(&"summary"));
    assert_eq!(kinds.iter().filter(|k| **k == "summary").count(), 1);
    let summary = events.last().unwrap();
    assert_eq!(summary["status"], report["status"]);
    assert_eq!(summary["summary"], report["summary"]);
    // Every digest and every log verdict, once.
    let count = |kind: &str| kinds.iter().filter(|k| **k == kind).count() as u64;
    let total = |c: &Value| {
        ["valid", "invalid", "unverifiable"]
            .iter()
            .map(|s| c[s].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(count("digest"), total(&report["summary"]["digests"]));
    assert_eq!(count("log"), total(&report["summary"]["logs"]));
    let bad: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "log" && e["status"] == "invalid")
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["key"], trail.log(2, 1).as_str());
    // Each chain: started, its events, finished; chains in order.
    let mut open: Option<Value> = None;
    let mut chains = Vec::new();
    for e in &events {
        match e["type"].as_str().unwrap() {
            "chain_started" => {
                assert!(open.is_none(), "a chain started inside another");
                open = Some(e["chain"].clone());
                chains.push(e["chain"].clone());
            }
            "chain_finished" => {
                assert_eq!(open.take().as_ref(), Some(&e["chain"]));
            }
            "summary" => assert!(open.is_none()),
            // The run's own findings (its summary, a bundle's) come after the chains.
            "finding" if e.get("chain").is_none() => assert!(open.is_none()),
            _ => assert_eq!(open.as_ref(), Some(&e["chain"]), "{e}"),
        }
    }
    // Every line has the fields the README documents for its type.
    let documented: &[(&str, &[&str])] = &[
        (
            "chain_started",
            &["chain", "window_start", "window_end", "checkpoint"],
        ),
        (
            "digest",
            &[
                "chain",
                "bucket",
                "key",
                "backfill",
                "start_time",
                "end_time",
                "status",
                "problems",
                "log_counts",
                "logs_not_checked",
                "log_bytes",
            ],
        ),
        // (`problem` only when there is one.)
        (
            "log",
            &["chain", "digest_key", "bucket", "key", "status", "bytes"],
        ),
        (
            "chain_finished",
            &[
                "chain",
                "status",
                "expected",
                "window",
                "found_start",
                "found_end",
                "head",
                "summary",
            ],
        ),
        (
            "summary",
            &[
                "status",
                "trail",
                "source",
                "bucket",
                "requested_start",
                "requested_end",
                "report_schema_version",
                "tool_version",
                "generated_at",
                "summary",
                "scope",
                "versions",
                "warnings",
                "bundle_problems",
                "provenance",
                "finding_id",
            ],
        ),
        (
            "finding",
            &[
                "id", "kind", "problem", "status", "severity", "trail", "subject", "message",
            ],
        ),
    ];
    for e in &events {
        let kind = e["type"].as_str().unwrap();
        if let Some((_, fields)) = documented.iter().find(|(k, _)| *k == kind) {
            for field in *fields {
                assert!(e.get(*field).is_some(), "{kind} line without {field}: {e}");
            }
        }
    }
    let mut sorted = chains.clone();
    sorted.sort_by_key(|c| (c["account_id"].to_string(), c["region"].to_string()));
    assert_eq!(chains, sorted);
    assert_eq!(chains.len(), 3);
}

#[tokio::test]
async fn the_order_of_verdicts_does_not_depend_on_concurrency() {
    let trail = tampered();
    let mut seen = Vec::new();
    for concurrency in ["1", "3", "64"] {
        let run = trail
            .verify(&["--format", "jsonl", "--concurrency", concurrency])
            .await;
        let order: Vec<(String, String, String)> = lines(&run.stdout)
            .iter()
            .filter(|e| e["type"] != "summary")
            .map(|e| {
                (
                    e["type"].to_string(),
                    e["key"].to_string(),
                    e["status"].to_string(),
                )
            })
            .collect();
        seen.push(order);
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0], seen[2]);
}

/// (suites, tests, failures, errors) of a JUnit document, checking it is well-formed XML.
fn junit_counts(xml: &str) -> (usize, usize, usize, usize) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut suites, mut cases, mut failures, mut errors) = (0, 0, 0, 0);
    // (quick-xml checks that end tags match start tags.)
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                match e.name().as_ref() {
                    b"testsuite" => suites += 1,
                    b"testcase" => cases += 1,
                    b"failure" => failures += 1,
                    b"error" => errors += 1,
                    _ => {}
                }
                for attribute in e.attributes() {
                    attribute.expect("a well-formed attribute");
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("not well-formed XML: {e}\n{xml}"),
        }
    }
    (suites, cases, failures, errors)
}

#[tokio::test]
async fn junit_shows_each_chain_as_a_suite_and_tampering_as_a_failure() {
    let trail = tampered();
    let run = trail.verify(&["--format", "junit"]).await;
    assert_eq!(run.code, exit::INVALID, "{}", run.stderr);
    assert!(run.stdout.starts_with("<?xml"), "{}", run.stdout);
    let (suites, _, failures, errors) = junit_counts(&run.stdout);
    // Three chains and the run.
    assert_eq!(suites, 4);
    // The altered log file, and the run's verdict.
    assert_eq!(failures, 2, "{}", run.stdout);
    assert_eq!(errors, 0, "{}", run.stdout);

    let clean = GeneratedTrail::new(&spec());
    let run = clean.verify(&["--format", "junit"]).await;
    assert_eq!(run.code, exit::VALID);
    let (suites, cases, failures, errors) = junit_counts(&run.stdout);
    assert_eq!((suites, failures, errors), (4, 0, 0));
    // A case per digest read (the range plus the hour after it has none here), a coverage
    // case per chain, and the verdict.
    let (digests, coverage, verdict) = (3 * 6, 3, 1);
    assert!(cases >= digests + coverage + verdict, "{cases}");
}

#[test]
fn verdicts_are_out_while_the_run_is_still_going() {
    let s3 = s3_trail::S3Trail::start(&spec(), |_| {});
    // Slow enough that the whole run takes seconds.
    s3.server.set_delay(Duration::from_millis(60));
    let mut args = ctverify_tests::trail::range_args(&s3.trail.manifest);
    args.extend([
        "--format".into(),
        "jsonl".into(),
        "--concurrency".into(),
        "2".into(),
    ]);
    let mut child =
        s3_trail::ctverify_command(&args, &s3.server.endpoint(), &s3.stub.endpoint(), &[])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "no digest line");
        if line.contains("\"type\":\"digest\"") {
            break;
        }
    }
    // A digest verdict is out; the run goes on (two more chains at least).
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run had already ended"
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(i32::from(exit::VALID)));
    assert!(
        rest.trim_end()
            .lines()
            .last()
            .unwrap()
            .contains("\"summary\"")
    );
}

#[tokio::test]
async fn a_key_with_control_characters_keeps_junit_well_formed() {
    // A planted file whose name carries control characters and XML markup.
    let trail = GeneratedTrail::new(&spec());
    let log = trail.log(1, 0);
    let folder = trail
        .copy()
        .join(trail.bucket())
        .join(&log[..log.rfind('/').unwrap()]);
    std::fs::write(
        folder.join("evil\u{1b}[2J<x a=\"&\">]]>.json.gz"),
        ctverify_fixtures::gzip(b"{}"),
    )
    .unwrap();
    let run = trail.verify(&["--format", "junit"]).await;
    assert_eq!(run.code, exit::INVALID, "{}", run.stderr);
    let (_, _, failures, _) = junit_counts(&run.stdout);
    assert!(failures >= 2, "{}", run.stdout);
    assert!(!run.stdout.contains('\u{1b}'));
    assert!(run.stdout.contains("evil\\u{1b}[2J&lt;x"), "{}", run.stdout);
}

#[tokio::test]
async fn a_window_walked_in_segments_gives_the_verdict_and_counts_of_one_walk() {
    let spec = TrailSpec {
        digests: 12,
        ..spec()
    };
    let check = |trail: GeneratedTrail| async move {
        let (code, whole) = trail.report(&[]).await;
        for hours in ["1", "2", "5"] {
            let run = trail
                .verify(&["--format", "jsonl", "--segment-hours", hours])
                .await;
            assert_eq!(run.code, code, "{}", run.stderr);
            let mut events = lines(&run.stdout);
            let summary = events.pop().unwrap();
            assert_eq!(summary["summary"], whole["summary"], "segments of {hours}h");
            assert_eq!(summary["status"], whole["status"]);
            // A segment starts while the one before finishes, yet each chain's verdicts
            // still stream segment by segment, oldest first.
            let hours: i64 = hours.parse().unwrap();
            // (A digest that is missing or did not parse has no times.)
            let time = |digest: &Value, field: &str| {
                let text = digest[field].as_str()?;
                Some(chrono::DateTime::parse_from_rfc3339(text).ok()?.timestamp())
            };
            let digests: Vec<&Value> = events
                .iter()
                .filter(|e| e["type"] == "digest" && time(e, "end_time").is_some())
                .collect();
            let start = digests
                .iter()
                .filter_map(|d| time(d, "start_time"))
                .min()
                .unwrap();
            let mut last: std::collections::BTreeMap<String, i64> = Default::default();
            for digest in digests {
                // The segment that reports it: the one its end time falls in (an end on a
                // boundary belongs to the segment it closes).
                let end = time(digest, "end_time").unwrap();
                let segment = (end - start - 1).div_euclid(hours * 3600);
                let chain = digest["chain"].to_string();
                let before = last.insert(chain.clone(), segment).unwrap_or(i64::MIN);
                assert!(
                    before <= segment,
                    "{chain}: a digest of segment {segment} streamed after segment {before} \
                     ({hours}h segments)"
                );
            }
        }
        code
    };
    assert_eq!(check(GeneratedTrail::new(&spec)).await, exit::VALID);
    // Altered on a segment boundary: the digest ending at hour 4 and a log file it lists.
    let trail = GeneratedTrail::new(&spec);
    let key = trail.log(3, 0);
    std::fs::write(
        trail.copy().join(trail.bucket()).join(&key),
        ctverify_fixtures::gzip(b"{\"Records\":[]}"),
    )
    .unwrap();
    std::fs::remove_file(trail.copy().join(trail.bucket()).join(trail.digest(5))).unwrap();
    assert_eq!(check(trail).await, exit::INVALID);
}
