//! CloudTrail's event history as evidence for hours no digest covers: the trail in the S3 test
//! server, its StartLogging/StopLogging/UpdateTrail events answered by the CloudTrail stub's
//! LookupEvents (paging, the one lookup attribute, the throttle), and `ctverify` run as a child
//! process. A pause the history proves is valid; a segment it shows was delivered and is gone
//! is invalid; what it cannot show stays unverifiable.

#[path = "support/s3_trail.rs"]
#[allow(dead_code)]
mod s3_trail;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use cloudtrail_verify::state::State;
use ctverify_fixtures::spec::ChainRestart;
use ctverify_fixtures::{TrailSpec, format_time};
use ctverify_tests::cloudtrail_stub::StubEvent;
use ctverify_tests::s3_server::S3ServerOptions;
use ctverify_tests::trail::exit::{INVALID, UNVERIFIABLE, VALID};
use s3_trail::S3Trail;
use serde_json::Value;

/// Six hours of one region, three days ago (inside the event history's 90 days), restarting at
/// the fourth digest after a two-hour pause.
fn restarted_spec(days_ago: i64) -> TrailSpec {
    let start = Utc::now().duration_trunc(TimeDelta::hours(1)).unwrap() - TimeDelta::days(days_ago);
    TrailSpec {
        start,
        // The stub's caller (STS) is of this account: the history read is the trail's own.
        accounts: vec!["111122223333".into()],
        digests: 6,
        logs_per_digest: 2,
        restarts: vec![ChainRestart {
            at: 3,
            gap: TimeDelta::hours(2),
        }],
        ..TrailSpec::default()
    }
}

/// The trail served with `events` (built from the generated trail) as its history.
fn serve(spec: &TrailSpec, events: impl FnOnce(&Times) -> Vec<StubEvent>) -> (S3Trail, Times) {
    let mut times = None;
    let s3 = S3Trail::start_with(
        spec,
        |trail| {
            times = Some(Times::of(trail));
        },
        S3ServerOptions::new(),
        |_| {},
        |_| {},
    );
    let times = times.expect("the trail was generated");
    let history = events(&times);
    s3.stub.update(|c| c.events = history);
    (s3, times)
}

/// Where the pause lies in the generated trail.
struct Times {
    arn: String,
    /// The old segment's final digest: start and end.
    final_start: DateTime<Utc>,
    final_end: DateTime<Utc>,
    /// The new chain's first digest starts here.
    restart: DateTime<Utc>,
}

impl Times {
    fn of(trail: &ctverify_tests::trail::GeneratedTrail) -> Self {
        let digests = &trail.manifest.chains[0].digests;
        Times {
            arn: trail.manifest.trail_arn.clone(),
            final_start: digests[2].start_time,
            final_end: digests[2].end_time,
            restart: digests[3].start_time,
        }
    }

    fn stop(&self) -> StubEvent {
        StubEvent::on_trail(
            "StopLogging",
            &self.arn,
            self.final_end - TimeDelta::minutes(2),
        )
    }

    fn start(&self) -> StubEvent {
        StubEvent::on_trail(
            "StartLogging",
            &self.arn,
            self.restart - TimeDelta::minutes(1),
        )
    }
}

/// Runs `ctverify --trail ARN --from START --to TO EXTRA...` against the servers.
fn run_to(s3: &S3Trail, to: DateTime<Utc>, extra: &[&str]) -> ctverify_tests::trail::Run {
    let mut args = vec![
        "--trail".to_owned(),
        s3.trail.manifest.trail_arn.clone(),
        "--from".to_owned(),
        format_time(&s3.trail.manifest.start_time),
        "--to".to_owned(),
        format_time(&to),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    s3_trail::run_ctverify_process(&args, &s3.server.endpoint(), &s3.stub.endpoint())
}

fn report_to(s3: &S3Trail, to: DateTime<Utc>) -> (u8, Value) {
    let run = run_to(s3, to, &["--format", "json"]);
    let report = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}):\n{}\n{}", run.stdout, run.stderr));
    (run.code, report)
}

/// Asserts the first gap's `history_note` holds `text`.
fn assert_note(report: &Value, text: &str) {
    let gaps = gaps(report);
    assert!(
        gaps[0]["history_note"]
            .as_str()
            .is_some_and(|n| n.contains(text)),
        "no note with {text:?}: {gaps:#?}"
    );
}

fn gaps(report: &Value) -> Vec<&Value> {
    report["chains"]
        .as_array()
        .expect("chains")
        .iter()
        .flat_map(|c| c["gaps"].as_array().expect("gaps"))
        .collect()
}

#[test]
fn a_legitimate_stop_and_start_is_proven_valid() {
    let (s3, _) = serve(&restarted_spec(3), |t| vec![t.stop(), t.start()]);
    let (code, report) = s3.report(&[]);
    assert_eq!(code, VALID, "{report:#}");
    let gaps = gaps(&report);
    assert_eq!(gaps.len(), 1, "{gaps:#?}");
    assert_eq!(gaps[0]["kind"], "logging_off");
    assert_eq!(gaps[0]["status"], "valid");
    let names: Vec<&str> = gaps[0]["events"]
        .as_array()
        .expect("the evidence")
        .iter()
        .map(|e| e["event_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["StopLogging", "StartLogging"]);
    // One LookupEvents query per event name, no more: the trail's five, and the bucket's two
    // lifecycle changes.
    assert_eq!(s3.stub.count("LookupEvents"), 7);
    // The text says why the hours need no digest.
    let run = s3.verify(&[]);
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&[
        "Coverage",
        "valid",
        "none should",
        "StopLogging",
        "StartLogging",
    ]);
}

#[test]
fn a_covered_range_reads_no_event_history() {
    let (s3, t) = serve(&restarted_spec(3), |t| vec![t.stop(), t.start()]);
    let run = run_to(&s3, t.final_end, &[]);
    assert_eq!(run.code, VALID, "{run:?}");
    assert_eq!(s3.stub.count("LookupEvents"), 0);
}

#[test]
fn a_start_and_stop_inside_the_pause_prove_a_deleted_segment() {
    let (s3, _) = serve(&restarted_spec(3), |t| {
        vec![
            t.stop(),
            StubEvent::on_trail("StartLogging", &t.arn, t.final_end + TimeDelta::minutes(20)),
            StubEvent::on_trail("StopLogging", &t.arn, t.final_end + TimeDelta::minutes(50)),
            t.start(),
        ]
    });
    let (code, report) = s3.report(&[]);
    assert_eq!(code, INVALID, "{report:#}");
    let gaps = gaps(&report);
    assert_eq!(gaps[0]["kind"], "segment_deleted");
    assert_eq!(gaps[0]["events"].as_array().unwrap().len(), 2);
}

#[test]
fn a_restart_the_history_does_not_show_stays_unverifiable() {
    // Only the start: nothing shows logging stopped where the old segment ends.
    let (s3, _) = serve(&restarted_spec(3), |t| vec![t.start()]);
    let (code, report) = s3.report(&[]);
    assert_eq!(code, UNVERIFIABLE, "{report:#}");
    let gaps = gaps(&report);
    assert_eq!(gaps[0]["kind"], "chain_restart");
    assert_note(&report, "nothing that stopped delivery");
}

#[test]
fn another_accounts_credentials_read_no_history_of_the_trail() {
    let spec = TrailSpec {
        accounts: vec!["123456789012".into()],
        ..restarted_spec(3)
    };
    let (s3, _) = serve(&spec, |t| vec![t.stop(), t.start()]);
    let (code, report) = s3.report(&[]);
    assert_eq!(code, UNVERIFIABLE, "{report:#}");
    assert!(
        gaps(&report)[0]["history_note"]
            .as_str()
            .is_some_and(|n| n.contains("account 123456789012")),
        "{report:#}"
    );
    assert_eq!(s3.stub.count("LookupEvents"), 0);
}

#[test]
fn events_of_another_trail_explain_nothing() {
    let (s3, _) = serve(&restarted_spec(3), |t| {
        let other = t.arn.replace("trail/", "trail/other-");
        vec![
            StubEvent::on_trail("StopLogging", &other, t.final_end - TimeDelta::minutes(2)),
            StubEvent::on_trail("StartLogging", &other, t.restart - TimeDelta::minutes(1)),
        ]
    });
    let (code, report) = s3.report(&[]);
    assert_eq!(code, UNVERIFIABLE, "{report:#}");
}

#[test]
fn a_restart_older_than_the_history_stays_unverifiable() {
    let (s3, _) = serve(&restarted_spec(120), |t| vec![t.stop(), t.start()]);
    let (code, report) = s3.report(&[]);
    assert_eq!(code, UNVERIFIABLE, "{report:#}");
    let gaps = gaps(&report);
    assert_eq!(gaps[0]["kind"], "chain_restart");
    assert_note(&report, "oldest event");
}

#[test]
fn validation_toggled_is_unverifiable_explained() {
    let (s3, _) = serve(&restarted_spec(3), |t| {
        vec![
            StubEvent::validation(false, &t.arn, t.final_end - TimeDelta::minutes(3)),
            StubEvent::validation(true, &t.arn, t.restart - TimeDelta::minutes(2)),
        ]
    });
    let (code, report) = s3.report(&[]);
    assert_eq!(code, UNVERIFIABLE, "{report:#}");
    let gaps = gaps(&report);
    assert_eq!(gaps[0]["kind"], "validation_off");
    assert_eq!(gaps[0]["events"][0]["validation"], false);
}

#[test]
fn a_history_that_cannot_be_read_leaves_the_pause_unverifiable() {
    let (s3, _) = serve(&restarted_spec(3), |t| vec![t.stop(), t.start()]);
    // Throttled on every call, past the SDK's retries.
    s3.stub.update(|c| c.lookup_rate = Some(0.0));
    let (code, report) = s3.report(&[]);
    assert_eq!(code, UNVERIFIABLE, "{report:#}");
    let gaps = gaps(&report);
    assert_eq!(gaps[0]["kind"], "chain_restart");
    assert_note(&report, "LookupEvents");
}

#[test]
fn the_history_is_read_at_the_documented_rate_and_through_every_page() {
    // 120 unrelated StopLogging events (three pages of 50) before ours, at CloudTrail's limit
    // of 2 calls a second: every page is read, nothing is throttled into a wrong verdict.
    let (s3, _) = serve(&restarted_spec(3), |t| {
        let mut events: Vec<StubEvent> = (0..120)
            .map(|i| {
                StubEvent::on_trail(
                    "StopLogging",
                    &t.arn.replace("trail/", &format!("trail/noise{i}-")),
                    t.final_start - TimeDelta::hours(2) - TimeDelta::minutes(i),
                )
            })
            .collect();
        events.extend([t.stop(), t.start()]);
        events
    });
    s3.stub.update(|c| c.lookup_rate = Some(2.0));
    let (code, report) = s3.report(&[]);
    assert_eq!(code, VALID, "{report:#}");
    // StopLogging took three pages; the six other names one each.
    assert_eq!(s3.stub.count("LookupEvents"), 9);
}

#[test]
fn a_stopped_trail_proves_the_end_of_the_range() {
    let spec = TrailSpec {
        restarts: Vec::new(),
        ..restarted_spec(3)
    };
    let (s3, _) = serve(&spec, |t| {
        vec![StubEvent::on_trail(
            "StopLogging",
            &t.arn,
            t.final_end + TimeDelta::hours(3) - TimeDelta::minutes(2),
        )]
    });
    // The range goes on five hours past the last digest.
    let end = s3.trail.manifest.end_time + TimeDelta::hours(5);
    let (code, report) = report_to(&s3, end);
    assert_eq!(code, VALID, "{report:#}");
    assert_eq!(gaps(&report)[0]["kind"], "logging_off");
}

/// A `--state` run that reached the pause's start, then hourly runs after the restart.
#[test]
fn a_state_moves_over_a_proven_restart() {
    let (s3, t) = serve(&restarted_spec(3), |t| vec![t.stop(), t.start()]);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.display().to_string();
    let first = run_to(&s3, t.final_end, &["--state", &state_arg]);
    assert_eq!(first.code, VALID, "{first:?}");
    let read = |path: &std::path::Path| {
        State::parse(&std::fs::read(path).unwrap(), "test").expect("a state")
    };
    assert_eq!(read(&state).chains[0].head.end_time, t.final_end);
    // The next run starts at the checkpoint; the new chain does not name it, the history
    // proves the pause, and the checkpoint moves to the newest digest.
    let args = vec![
        "--trail".to_owned(),
        t.arn.clone(),
        "--state".to_owned(),
        state_arg.clone(),
        "--to".to_owned(),
        format_time(&s3.trail.manifest.end_time),
    ];
    let second = s3_trail::run_ctverify_process(&args, &s3.server.endpoint(), &s3.stub.endpoint());
    assert_eq!(second.code, VALID, "{second:?}");
    assert_eq!(
        read(&state).chains[0].head.end_time,
        s3.trail.manifest.end_time
    );
}

#[test]
fn a_forged_checkpoint_end_time_makes_no_run_valid() {
    let spec = TrailSpec {
        restarts: Vec::new(),
        ..restarted_spec(3)
    };
    let (s3, t) = serve(&spec, |_| Vec::new());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.display().to_string();
    let first = run_to(&s3, t.final_end, &["--state", &state_arg]);
    assert_eq!(first.code, VALID, "{first:?}");
    // Rewrite the checkpoint's end to 2099 (same key, hash and signature).
    let mut forged: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    forged["chains"][0]["end_time"] = "2099-01-01T00:00:00Z".into();
    std::fs::write(&state, serde_json::to_vec(&forged).unwrap()).unwrap();
    let args = vec![
        "--trail".to_owned(),
        t.arn.clone(),
        "--state".to_owned(),
        state_arg,
        "--format".to_owned(),
        "json".to_owned(),
    ];
    let run = s3_trail::run_ctverify_process(&args, &s3.server.endpoint(), &s3.stub.endpoint());
    assert_eq!(run.code, INVALID, "{run:?}");
    assert!(run.stdout.contains("times_changed"), "{}", run.stdout);
}

/// An exceptions file with one entry for all chains over `[from, to]`, expiring at `expires`.
fn exceptions_file(
    dir: &std::path::Path,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> String {
    let path = dir.join("exceptions.json");
    let body = serde_json::json!({
        "format": "ctverify-exceptions",
        "version": 1,
        "exceptions": [{
            "chain": "all",
            "from": format_time(&from),
            "to": format_time(&to),
            "reason": "maintenance window, change CHG-1",
            "approved_by": "security@example.com",
            "expires": format_time(&expires),
        }],
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&body).unwrap()).unwrap();
    path.display().to_string()
}

#[test]
fn a_restart_older_than_the_history_is_accepted_by_a_reviewed_exception() {
    let (s3, t) = serve(&restarted_spec(120), |_| Vec::new());
    let dir = tempfile::tempdir().unwrap();
    let file = exceptions_file(
        dir.path(),
        t.final_end - TimeDelta::hours(1),
        t.restart + TimeDelta::hours(1),
        Utc::now() + TimeDelta::days(30),
    );
    let run = run_to(
        &s3,
        s3.trail.manifest.end_time,
        &["--exceptions", &file, "--format", "json"],
    );
    assert_eq!(run.code, VALID, "{run:?}");
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let gaps = gaps(&report);
    assert_eq!(gaps[0]["kind"], "chain_restart");
    assert_eq!(gaps[0]["status"], "valid");
    assert_eq!(gaps[0]["accepted"]["approved_by"], "security@example.com");
    assert_eq!(
        report["provenance"]["exceptions_sha256"]
            .as_str()
            .map(str::len),
        Some(64)
    );
    // Expired, it no longer applies, and the run says so.
    let file = exceptions_file(
        dir.path(),
        t.final_end - TimeDelta::hours(1),
        t.restart + TimeDelta::hours(1),
        Utc::now() - TimeDelta::days(1),
    );
    let run = run_to(&s3, s3.trail.manifest.end_time, &["--exceptions", &file]);
    assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
    assert!(run.stderr.contains("expired on"), "{run:?}");
}

#[test]
fn no_exception_excuses_a_deleted_digest() {
    let spec = TrailSpec {
        restarts: Vec::new(),
        ..restarted_spec(3)
    };
    let mut deleted = None;
    let s3 = S3Trail::start(&spec, |trail| {
        let key = trail.digest(2);
        ctverify_fixtures::tamper::delete_digest(&trail.copy(), trail.bucket(), &key).unwrap();
        deleted = Some(key);
    });
    let dir = tempfile::tempdir().unwrap();
    let file = exceptions_file(
        dir.path(),
        s3.trail.manifest.start_time - TimeDelta::days(1),
        s3.trail.manifest.end_time + TimeDelta::days(1),
        Utc::now() + TimeDelta::days(30),
    );
    let (code, report) = {
        let run = run_to(
            &s3,
            s3.trail.manifest.end_time,
            &["--exceptions", &file, "--format", "json"],
        );
        (
            run.code,
            serde_json::from_str::<Value>(&run.stdout).unwrap(),
        )
    };
    assert_eq!(code, INVALID, "{report:#}");
    assert!(gaps(&report).iter().all(|g| g["accepted"].is_null()));
}

/// The audit of issue 18: hourly `--state` runs after a restart nothing explains yet. The
/// checkpoint moves on to the new segment, the restart is carried in the state and reported by
/// every later run (exit 2) until the history explains it; then it is dropped.
#[test]
fn an_unexplained_restart_never_stalls_a_state_and_is_reported_until_explained() {
    let (s3, t) = serve(&restarted_spec(3), |_| Vec::new());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.display().to_string();
    let end = s3.trail.manifest.end_time;
    let read = || State::parse(&std::fs::read(&state).unwrap(), "test").expect("a state");
    let first = run_to(&s3, end, &["--state", &state_arg]);
    assert_eq!(first.code, UNVERIFIABLE, "{first:?}");
    // Moved past the restart to the newest digest, carrying it.
    let chain = &read().chains[0];
    assert_eq!(chain.head.end_time, end);
    assert_eq!(chain.open_gaps.len(), 1);
    assert_eq!(chain.open_gaps[0].start, t.final_end);
    let resumed = |extra: &[&str]| {
        let mut args = vec![
            "--trail".to_owned(),
            t.arn.clone(),
            "--state".to_owned(),
            state_arg.clone(),
            "--to".to_owned(),
            format_time(&end),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        s3_trail::run_ctverify_process(&args, &s3.server.endpoint(), &s3.stub.endpoint())
    };
    // Nothing new: the carried restart is reported again, and nothing else is read but the
    // checkpoint.
    for _ in 0..2 {
        let run = resumed(&["--format", "json"]);
        assert_eq!(run.code, UNVERIFIABLE, "{run:?}");
        let report: Value = serde_json::from_str(&run.stdout).unwrap();
        let gaps = gaps(&report);
        assert_eq!(gaps.len(), 1, "{gaps:#?}");
        assert_eq!(gaps[0]["carried"], true);
        assert_eq!(read().chains[0].head.end_time, end);
    }
    // The history now shows the pause: explained, and the state drops it.
    s3.stub.update(|c| c.events = vec![t.stop(), t.start()]);
    let run = resumed(&[]);
    assert_eq!(run.code, VALID, "{run:?}");
    assert!(read().chains[0].open_gaps.is_empty());
    let run = resumed(&[]);
    assert_eq!(run.code, VALID, "{run:?}");
}

#[test]
fn a_carried_restart_is_accepted_by_a_reviewed_exception() {
    let (s3, t) = serve(&restarted_spec(3), |_| Vec::new());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.display().to_string();
    let end = s3.trail.manifest.end_time;
    let first = run_to(&s3, end, &["--state", &state_arg]);
    assert_eq!(first.code, UNVERIFIABLE, "{first:?}");
    let file = exceptions_file(
        dir.path(),
        t.final_end,
        t.restart,
        Utc::now() + TimeDelta::days(30),
    );
    let args = vec![
        "--trail".to_owned(),
        t.arn.clone(),
        "--state".to_owned(),
        state_arg.clone(),
        "--to".to_owned(),
        format_time(&end),
        "--exceptions".to_owned(),
        file,
    ];
    let run = s3_trail::run_ctverify_process(&args, &s3.server.endpoint(), &s3.stub.endpoint());
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&["accepted by exception 0", "security@example.com"]);
}

/// Six hours, the first three delivered to another bucket and prefix, then UpdateTrail moved
/// the trail to the spec's bucket: the chain goes on across the move.
fn moved_spec() -> TrailSpec {
    TrailSpec {
        restarts: Vec::new(),
        moved: Some(ctverify_fixtures::BucketMove {
            at: 3,
            old_bucket: "ctverify-old-bucket".into(),
            old_prefix: Some("before/the-move".into()),
        }),
        ..restarted_spec(3)
    }
}

#[test]
fn a_trail_moved_to_another_bucket_and_prefix_verifies_across_the_move() {
    let s3 = S3Trail::start(&moved_spec(), |_| {});
    let (code, report) = s3.report(&[]);
    assert_eq!(code, VALID, "{report:#}");
    assert_eq!(report["summary"]["digests"]["valid"], 6, "{report:#}");
    let chain = &report["chains"][0];
    assert_eq!(
        chain["moved_from"][0],
        "s3://ctverify-old-bucket/before/the-move/AWSLogs/111122223333/CloudTrail-Digest/us-east-1/"
    );
    assert!(gaps(&report).is_empty(), "{report:#}");
}

#[test]
fn a_moved_trails_old_digest_altered_is_invalid() {
    let s3 = S3Trail::start(&moved_spec(), |trail| {
        let key = trail.manifest.chains[0].digests[1].key.clone();
        ctverify_fixtures::tamper::modify_digest_body(&trail.copy(), "ctverify-old-bucket", &key)
            .unwrap();
    });
    let (code, report) = s3.report(&[]);
    assert_eq!(code, INVALID, "{report:#}");
}

#[tokio::test]
async fn offline_a_copy_holding_both_buckets_verifies_across_the_move() {
    let trail = ctverify_tests::trail::GeneratedTrail::new(&moved_spec());
    let run = trail.verify(&["--bucket", &trail.manifest.bucket]).await;
    assert_eq!(run.code, VALID, "{run:?}");
    run.assert_line(&["6/6 digest files valid"]);
}

/// The Stratus Red Team attack: whoever cannot delete objects sets a one-day expiration rule
/// and lets S3 delete them. A lifecycle rule excuses a missing file only if the history shows
/// no change of the bucket's lifecycle configuration after the file was delivered.
#[test]
fn a_lifecycle_rule_set_after_delivery_voids_the_excuse() {
    let spec = TrailSpec {
        restarts: Vec::new(),
        ..restarted_spec(3)
    };
    let s3 = S3Trail::start(&spec, |trail| {
        let log = trail.manifest.chains[0].digests[1].log_files[0].clone();
        ctverify_fixtures::tamper::delete_log(&trail.copy(), trail.bucket(), &log).unwrap();
    });
    let bucket = s3.trail.manifest.bucket.clone();
    s3.server
        .handle()
        .expire_after_days(&bucket, "expire-after-a-day", "", 1);
    // The rule alone excuses the missing file: unverifiable.
    let (code, _) = s3.report(&[]);
    assert_eq!(code, UNVERIFIABLE);
    // Set after the file was delivered, as the history shows: the excuse does not hold.
    let changed = s3.trail.manifest.end_time + TimeDelta::hours(1);
    s3.stub.update(|c| {
        c.events = vec![StubEvent::on_bucket(
            "PutBucketLifecycle",
            &bucket,
            "us-east-1",
            changed,
        )]
    });
    let run = s3.verify(&[]);
    assert_eq!(run.code, INVALID, "{run:?}");
    run.assert_line(&[
        "Log file",
        "INVALID",
        "PutBucketLifecycle",
        "by arn:aws:iam::111122223333:user/admin",
    ]);
}

/// A scheduled audit across a move: the runs before it read the old place (where DescribeTrails
/// said the trail wrote then), the run after it the new one, with the same state.
#[test]
fn a_state_follows_a_trail_moved_to_another_bucket() {
    let s3 = S3Trail::start(&moved_spec(), |_| {});
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.display().to_string();
    let digests = &s3.trail.manifest.chains[0].digests;
    let before_move = digests[2].end_time;
    let first = run_to(
        &s3,
        before_move,
        &[
            "--state",
            &state_arg,
            "--bucket",
            "ctverify-old-bucket",
            "--prefix",
            "before/the-move",
        ],
    );
    assert_eq!(first.code, VALID, "{first:?}");
    let args = vec![
        "--trail".to_owned(),
        s3.trail.manifest.trail_arn.clone(),
        "--state".to_owned(),
        state_arg.clone(),
        "--to".to_owned(),
        format_time(&s3.trail.manifest.end_time),
    ];
    let second = s3_trail::run_ctverify_process(&args, &s3.server.endpoint(), &s3.stub.endpoint());
    assert_eq!(second.code, VALID, "{second:?}");
    assert!(
        second.stderr.contains("moved with UpdateTrail"),
        "{second:?}"
    );
    let after = State::parse(&std::fs::read(&state).unwrap(), "test").unwrap();
    assert_eq!(after.header.bucket, s3.trail.manifest.bucket);
    assert_eq!(after.chains[0].head.end_time, s3.trail.manifest.end_time);
}
