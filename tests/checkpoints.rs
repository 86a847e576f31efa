//! Checkpoint states (`--state`) against the S3 test server over HTTP: a resumed run reads only
//! the new hours plus each chain's checkpoint, proves that it joins it, never moves past an
//! hour it could not prove, survives a crash, and two runs cannot both write an S3 state.

#[path = "support/s3_trail.rs"]
#[allow(dead_code)]
mod s3_trail;

use chrono::{DateTime, TimeDelta, Utc};
use cloudtrail_verify::state::{State, StateError, StateStore};
use cloudtrail_verify::storage::{Location, StorageError, Store};
use ctverify_fixtures::{TrailSpec, format_time};
use ctverify_tests::s3_server::StoredObject;
use ctverify_tests::trail::{Run, exit};
use s3_trail::S3Trail;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Two regions, eight hours of three log files each.
fn spec() -> TrailSpec {
    TrailSpec {
        digests: 8,
        logs_per_digest: 3,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        ..TrailSpec::default()
    }
}

struct Setup {
    s3: S3Trail,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        Setup {
            s3: S3Trail::start(&spec(), |_| {}),
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    fn state_path(&self) -> PathBuf {
        self.dir.path().join("state.json")
    }

    fn start(&self) -> DateTime<Utc> {
        self.s3.trail.manifest.start_time
    }

    fn hour(&self, h: i64) -> String {
        format_time(&(self.start() + TimeDelta::hours(h)))
    }

    fn args(&self, extra: &[&str]) -> Vec<String> {
        let mut args = vec![
            "--trail".to_owned(),
            self.s3.trail.manifest.trail_arn.clone(),
            "--state".to_owned(),
            self.state_path().display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    fn run(&self, extra: &[&str]) -> Run {
        s3_trail::run_ctverify_process(
            &self.args(extra),
            &self.s3.server.endpoint(),
            &self.s3.stub.endpoint(),
        )
    }

    fn report(&self, extra: &[&str]) -> (u8, serde_json::Value) {
        let mut args = vec!["--format", "json"];
        args.extend_from_slice(extra);
        let run = self.run(&args);
        let report = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("not a JSON report ({e}):\n{}\n{}", run.stdout, run.stderr));
        (run.code, report)
    }

    fn state(&self) -> State {
        let bytes = std::fs::read(self.state_path()).expect("the state was written");
        State::parse(&bytes, "test").expect("a valid state")
    }

    /// Every chain's checkpoint end, in hours from the trail's start.
    fn checkpoint_hours(&self) -> Vec<i64> {
        self.state()
            .chains
            .iter()
            .map(|c| (c.head.end_time - self.start()).num_hours())
            .collect()
    }

    /// GetObject requests a resumed run from hour `from` to hour `to` must make: per chain, the
    /// checkpoint, then every digest ending after `from` up to an hour after `to` (the late
    /// deliveries), with the log files they list.
    fn objects_for(&self, from: i64, to: i64) -> u64 {
        let (start, end) = (
            self.start() + TimeDelta::hours(from),
            self.start() + TimeDelta::hours(to + 1),
        );
        let mut n = 0;
        for chain in &self.s3.trail.manifest.chains {
            n += 1;
            for d in &chain.digests {
                if d.end_time > start && d.end_time <= end {
                    n += 1 + d.log_files.len() as u64;
                }
            }
        }
        n
    }

    fn first_run(&self, to: i64) {
        let run = self.run(&["--from", &self.hour(0), "--to", &self.hour(to)]);
        assert_eq!(run.code, exit::VALID, "{}{}", run.stdout, run.stderr);
        assert_eq!(self.checkpoint_hours(), [to, to]);
    }
}

#[test]
fn a_resumed_run_reads_only_the_new_hours_and_each_checkpoint() {
    let t = Setup::new();
    t.first_run(4);
    t.s3.server.reset_requests();
    let run = t.run(&["--to", &t.hour(7), "--verbose"]);
    assert_eq!(run.code, exit::VALID, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("valid: unchanged, and the chain joins it"),
        "{}",
        run.stdout
    );
    assert_eq!(t.s3.server.requests().of("GetObject"), t.objects_for(4, 7));
    assert_eq!(t.checkpoint_hours(), [7, 7]);

    // Nothing new yet: only the checkpoints are read again, and the run is still valid.
    t.s3.server.reset_requests();
    let run = t.run(&["--to", &t.hour(7)]);
    assert_eq!(run.code, exit::VALID, "{}{}", run.stdout, run.stderr);
    assert_eq!(t.s3.server.requests().of("GetObject"), 2);
}

#[test]
fn a_checkpoint_digest_replaced_after_it_was_proven_is_invalid() {
    let t = Setup::new();
    t.first_run(4);
    // Someone swaps the checkpoint digest of the first chain for the one before it, metadata
    // and all: a genuine CloudTrail digest, but not the one proven.
    let chain = &t.s3.trail.manifest.chains[0];
    let (older, checkpoint) = (&chain.digests[2].key, &chain.digests[3].key);
    let bucket = t.s3.trail.bucket();
    let object = t.s3.server.get(bucket, older).expect("older digest");
    t.s3.server.put_object(bucket, checkpoint, object);
    let (code, report) = t.report(&["--to", &t.hour(7)]);
    assert_eq!(code, exit::INVALID);
    let check = &report["chains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["checkpoint"]["checkpoint"]["key"] == checkpoint.as_str())
        .expect("the chain's checkpoint check")["checkpoint"];
    assert_eq!(check["status"], "invalid", "{check}");
    let kinds: Vec<&str> = check["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"hash_changed"), "{kinds:?}");
    // That chain's checkpoint did not move; the other chain's did.
    let mut hours = t.checkpoint_hours();
    hours.sort_unstable();
    assert_eq!(hours, [4, 7]);
}

#[test]
fn a_state_whose_checkpoint_the_chain_does_not_name_breaks_the_join() {
    let t = Setup::new();
    t.first_run(4);
    // A state pointing at another genuine digest (its own hash and signature, so the digest
    // itself verifies) while claiming the chain was proven to hour 4.
    let mut state = t.state();
    let chain = &t.s3.trail.manifest.chains[0];
    let other = &chain.digests[1];
    let cp = state
        .chains
        .iter_mut()
        .find(|c| c.chain.region == chain.region)
        .expect("checkpoint");
    cp.head.key = other.key.clone();
    cp.head.sha256 = other.sha256.clone();
    cp.head.signature = other.signature.clone();
    std::fs::write(t.state_path(), state.to_json()).unwrap();
    let (code, report) = t.report(&["--to", &t.hour(7)]);
    assert_eq!(code, exit::INVALID);
    let text = report.to_string();
    assert!(text.contains("join_broken"), "{text}");
}

#[test]
fn an_hour_that_was_not_proven_is_reported_again_until_it_is() {
    let t = Setup::new();
    t.first_run(4);
    // A log file of hour 5 (digest 5 covers hours 5 to 6) is altered.
    let bucket = t.s3.trail.bucket().to_owned();
    let log = t.s3.trail.log(5, 1);
    let original = t.s3.server.get(&bucket, &log).expect("log");
    let altered = StoredObject::new(
        ctverify_fixtures::gzip(b"{\"Records\":[]}"),
        original.metadata.clone(),
    );
    t.s3.server.put_object(&bucket, &log, altered);
    for _ in 0..2 {
        let run = t.run(&["--to", &t.hour(7)]);
        assert_eq!(run.code, exit::INVALID, "{}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(&log), "{}", run.stderr);
        // The first chain stops before the altered hour; the other goes on.
        let mut hours = t.checkpoint_hours();
        hours.sort_unstable();
        assert_eq!(hours, [5, 7]);
    }
    // Restored, the hour is proven and the checkpoint moves on.
    t.s3.server.put_object(&bucket, &log, original);
    let run = t.run(&["--to", &t.hour(7)]);
    assert_eq!(run.code, exit::VALID, "{}{}", run.stdout, run.stderr);
    assert_eq!(t.checkpoint_hours(), [7, 7]);
}

#[test]
fn a_run_stopped_before_it_writes_its_state_leaves_the_old_one_and_is_redone_whole() {
    let t = Setup::new();
    t.first_run(4);
    let before = std::fs::read(t.state_path()).unwrap();
    // A slow server; the run is killed once its first verdict is out.
    t.s3.server.set_delay(Duration::from_millis(150));
    let mut child = s3_trail::ctverify_command(
        &t.args(&["--to", &t.hour(7), "--format", "jsonl"]),
        &t.s3.server.endpoint(),
        &t.s3.stub.endpoint(),
        &[],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("ctverify starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a first line").expect("readable");
    assert!(first.contains("\"chain_started\""), "{first}");
    child.kill().expect("kill");
    let _ = child.wait();
    assert_eq!(std::fs::read(t.state_path()).unwrap(), before);
    assert_no_temporary_files(t.dir.path());
    // The next run verifies the same hours the stopped one had to.
    t.s3.server.set_delay(Duration::ZERO);
    t.s3.server.reset_requests();
    let run = t.run(&["--to", &t.hour(7)]);
    assert_eq!(run.code, exit::VALID, "{}{}", run.stdout, run.stderr);
    assert_eq!(t.s3.server.requests().of("GetObject"), t.objects_for(4, 7));
}

fn assert_no_temporary_files(dir: &Path) {
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["state.json"], "{names:?}");
}

#[test]
fn two_runs_racing_on_an_s3_state_cannot_both_write_it() {
    let t = Setup::new();
    let conf = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(t.s3.server.endpoint())
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("test", "test", None, None, "test"),
            ),
        )
        .build();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let location: Location = format!("s3://{}/audit/state.json", t.s3.trail.bucket())
            .parse()
            .unwrap();
        let store = StateStore::new(Store::open(location, &conf).await.expect("store"));
        let state = State::new(
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/main"
                .parse()
                .unwrap(),
            "b",
            None,
            t.start(),
        );
        // Both find no state; the first write wins, the second is refused.
        let (a, b) = (store.load().await.unwrap(), store.load().await.unwrap());
        assert!(a.state.is_none());
        store.save(&state, &a).await.expect("first write");
        let lost = store.save(&state, &b).await;
        assert!(
            matches!(
                lost,
                Err(StateError::Storage(StorageError::Conflict { .. }))
            ),
            "{lost:?}"
        );
        // Both read the same state; only the first may replace it.
        let (a, b) = (store.load().await.unwrap(), store.load().await.unwrap());
        assert_eq!(a.state.as_ref(), Some(&state));
        // (Writes of different states: S3's ETag is the content's, so an identical write
        // would match.)
        let newer = State::new(
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/main"
                .parse()
                .unwrap(),
            "b",
            None,
            t.start() + TimeDelta::hours(1),
        );
        store.save(&newer, &a).await.expect("second write");
        let lost = store.save(&state, &b).await;
        assert!(
            matches!(
                lost,
                Err(StateError::Storage(StorageError::Conflict { .. }))
            ),
            "{lost:?}"
        );
    });
}

#[test]
fn a_state_of_another_trail_is_refused_and_left_alone() {
    let t = Setup::new();
    t.first_run(4);
    let mut state = t.state();
    state.header.trail = "arn:aws:cloudtrail:us-east-1:123456789012:trail/someone-elses-trail"
        .parse()
        .unwrap();
    let bytes = state.to_json();
    std::fs::write(t.state_path(), &bytes).unwrap();
    let run = t.run(&["--to", &t.hour(7)]);
    assert_eq!(run.code, exit::ERROR, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("someone-elses-trail"), "{}", run.stderr);
    assert_eq!(std::fs::read(t.state_path()).unwrap(), bytes);
}

/// The same trail's state kept while it wrote to another bucket (a trail moved with
/// UpdateTrail) is used, and the run says so: its checkpoints still join only through
/// CloudTrail's signed links (tests/history.rs follows a real move).
#[test]
fn a_state_of_the_same_trail_in_another_bucket_is_used_with_a_warning() {
    let t = Setup::new();
    t.first_run(4);
    let mut state = t.state();
    state.header.bucket = "the-bucket-before-a-move".into();
    std::fs::write(t.state_path(), state.to_json()).unwrap();
    let run = t.run(&["--to", &t.hour(7)]);
    assert_eq!(run.code, exit::VALID, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("the-bucket-before-a-move") && run.stderr.contains("moved"),
        "{}",
        run.stderr
    );
    assert_eq!(t.state().header.bucket, "ctverify-test-bucket");
}

#[test]
fn the_first_run_with_a_state_needs_from() {
    let t = Setup::new();
    let run = t.run(&["--to", &t.hour(7)]);
    assert_eq!(run.code, exit::ERROR);
    assert!(run.stderr.contains("--from"), "{}", run.stderr);
    assert!(!t.state_path().exists());
}

/// A digest object padded past 1 MiB decompressed (still a digest's JSON, no longer what
/// CloudTrail signed), metadata kept.
fn padded(object: &StoredObject) -> StoredObject {
    let json = ctverify_fixtures::gunzip(&object.body).expect("a gzip digest");
    let mut value: serde_json::Value = serde_json::from_slice(&json).expect("a digest's JSON");
    value["padding"] = serde_json::Value::String("x".repeat(3 << 19));
    StoredObject::new(
        ctverify_fixtures::gzip(&serde_json::to_vec(&value).unwrap()),
        object.metadata.clone(),
    )
}

#[test]
fn a_large_checkpoint_after_a_large_new_digest_does_not_hang_the_run() {
    let t = Setup::new();
    t.first_run(4);
    // Both the checkpoint and the first new digest decompress past the size read freely: each
    // needs the run's single large-digest turn.
    let bucket = t.s3.trail.bucket().to_owned();
    for i in [3, 4] {
        let key = t.s3.trail.digest(i);
        let object = t.s3.server.get(&bucket, &key).expect("digest");
        t.s3.server.put_object(&bucket, &key, padded(&object));
    }
    let mut child = s3_trail::ctverify_command(
        &t.args(&["--to", &t.hour(7), "-q"]),
        &t.s3.server.endpoint(),
        &t.s3.stub.endpoint(),
        &[],
    )
    .spawn()
    .expect("ctverify starts");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("the run hung");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(i32::from(exit::INVALID)));
}

#[test]
fn a_finding_in_the_digest_ending_at_from_is_never_checkpointed_past() {
    let t = Setup::new();
    // The digest ending at hour 2 (read as the window's first) lists an altered log file.
    let bucket = t.s3.trail.bucket().to_owned();
    let log = t.s3.trail.log(1, 0);
    let original = t.s3.server.get(&bucket, &log).expect("log");
    t.s3.server.put_object(
        &bucket,
        &log,
        StoredObject::new(
            ctverify_fixtures::gzip(b"{\"Records\":[]}"),
            original.metadata.clone(),
        ),
    );
    let run = t.run(&["--from", &t.hour(2), "--to", &t.hour(4)]);
    assert_eq!(run.code, exit::INVALID, "{}{}", run.stdout, run.stderr);
    // No checkpoint for the first chain; the next run starts again at --from and says so again.
    assert_eq!(t.checkpoint_hours(), [4]);
    let run = t.run(&["--to", &t.hour(7)]);
    assert_eq!(run.code, exit::INVALID, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(&log), "{}", run.stderr);
}

#[test]
fn a_later_from_never_moves_a_checkpoint_over_hours_it_skipped() {
    let t = Setup::new();
    t.first_run(2);
    // Hours 2 to 4 are never read by this run.
    let run = t.run(&["--from", &t.hour(4), "--to", &t.hour(7)]);
    assert_eq!(run.code, exit::VALID, "{}{}", run.stdout, run.stderr);
    assert_eq!(t.checkpoint_hours(), [2, 2]);
    // An earlier --from does cover them.
    let run = t.run(&["--from", &t.hour(1), "--to", &t.hour(7)]);
    assert_eq!(run.code, exit::VALID, "{}{}", run.stdout, run.stderr);
    assert_eq!(t.checkpoint_hours(), [7, 7]);
}

/// Successive reports form a chain of audits: each names by SHA-256 the state it started from
/// and the one it wrote, and the next one starts from exactly that state.
#[test]
fn successive_reports_chain_the_states_they_read_and_wrote() {
    let t = Setup::new();
    let (code, first) = t.report(&["--from", &t.hour(0), "--to", &t.hour(4)]);
    assert_eq!(code, exit::VALID);
    assert!(
        first["state"]["read_sha256"].is_null(),
        "{:#}",
        first["state"]
    );
    let written = first["state"]["written_sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let on_disk = t.state();
    assert_eq!(on_disk.sha256(), written);
    let (code, second) = t.report(&["--to", &t.hour(7)]);
    assert_eq!(code, exit::VALID);
    assert_eq!(second["state"]["read_sha256"], written.as_str());
    assert_eq!(
        second["state"]["written_sha256"].as_str(),
        Some(t.state().sha256().as_str())
    );
}
