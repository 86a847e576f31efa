//! Adversarial mutation test. Threat model: an attacker can put, overwrite, copy, rename and
//! delete any object of the bucket (or of a local copy) and its metadata (S3 user metadata, or
//! the `KEY.metadata.json` sidecars), but holds no CloudTrail private key. Whatever they do,
//! ctverify must say invalid (1) or unverifiable (2), never valid (0), unless every object
//! CloudTrail delivered for the range is present and byte-identical and nothing foreign was added
//! in the trail's folders for the range's days. It never fails to run (3), never panics, and
//! always finishes.
//!
//! Each case copies one pristine generated trail, applies 1-4 seeded random mutations
//! (`support/mutation.rs`), runs ctverify over the whole range and checks that property.
//!
//! * `CTVERIFY_MUTATION_SEED=N` runs only case N (in each variant);
//! * `CTVERIFY_MUTATION_CASES=N` runs cases `0..N` (default 1000 per variant);
//! * `CTVERIFY_MUTATION_VERBOSE=1` prints every case, not only the failing ones.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ctverify_tests::cloudtrail_stub::{CloudTrailStub, StubConfig, StubKey, StubTrail};
use ctverify_tests::mutation::{
    Meta, Model, Mutation, Outcome, Pristine, apply, case, mutation_spec, s3_metadata, seeds,
    summarize, violation, write_local,
};
use ctverify_tests::s3_server::{S3Server, S3ServerOptions};
use ctverify_tests::trail::exit::{INVALID, UNVERIFIABLE, VALID};
use ctverify_tests::trail::{local_args, run_ctverify};

/// Cases per variant unless `CTVERIFY_MUTATION_CASES` says otherwise.
const DEFAULT_CASES: u64 = 1000;
/// Longest a single run may take.
const TIMEOUT: Duration = Duration::from_secs(30);

fn verbose() -> bool {
    std::env::var_os("CTVERIFY_MUTATION_VERBOSE").is_some()
}

// ---------------------------------------------------------------------------------------------
// Local copy, in-process.

/// The keys file and arguments for local runs of one pristine trail.
struct LocalRunner {
    pristine: Arc<Pristine>,
    keys_dir: tempfile::TempDir,
}

impl LocalRunner {
    fn new(pristine: Arc<Pristine>) -> Self {
        let keys_dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(keys_dir.path().join("keys.json"), &pristine.keys_json)
            .expect("writing the keys file");
        LocalRunner { pristine, keys_dir }
    }

    /// Writes `model` as a local copy, runs ctverify over it, and judges the verdict.
    fn run(&self, seed: u64, mutations: Vec<Mutation>, model: Model) -> Outcome {
        let started = Instant::now();
        let p = &self.pristine;
        let dir = tempfile::tempdir().expect("temporary directory");
        let copy = dir.path().join("copy");
        write_local(&copy, &p.manifest.bucket, &model).expect("writing the local copy");
        let mut args = local_args(&p.manifest, &copy, &self.keys_dir.path().join("keys.json"));
        if let Some(prefix) = &p.manifest.prefix {
            args.extend(["--prefix".to_owned(), prefix.clone()]);
        }
        // Every other case walks each chain in segments of two hours, joined at their seams
        // (what a long range does a week at a time).
        if seed % 2 == 1 {
            args.extend(["--segment-hours".to_owned(), "2".into()]);
        }
        // On a thread of its own with its own runtime: a panic is caught, and a run that never
        // ends is left behind rather than blocking the test.
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            let _ = send.send(runtime.block_on(run_ctverify(&args)));
        });
        let (code, output) = match receive.recv_timeout(TIMEOUT) {
            Ok(run) => (Some(run.code), format!("{}{}", run.stdout, run.stderr)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => (
                None,
                "ctverify panicked (see the panic message above)".into(),
            ),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                (None, format!("did not finish within {TIMEOUT:?}"))
            }
        };
        Outcome::judge(p, seed, mutations, &model, code, output, started.elapsed())
    }
}

/// Runs `seeds` on `workers` threads, each taking the next seed when done; sorted by seed.
fn run_cases<R: Sync>(
    runners: &[R],
    seeds: &[u64],
    run: impl Fn(&R, u64) -> Outcome + Sync,
) -> Vec<Outcome> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = runners
            .iter()
            .map(|runner| {
                let (next, run) = (&next, &run);
                s.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&seed) = seeds.get(i) else { break };
                        done.push(run(runner, seed));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a worker thread"))
            .collect()
    });
    outcomes.sort_by_key(|o| o.seed);
    outcomes
}

#[test]
fn no_mutation_of_a_local_copy_is_ever_reported_valid() {
    let pristine = Arc::new(Pristine::generate(&mutation_spec()));
    let runners = [
        LocalRunner::new(Arc::clone(&pristine)),
        LocalRunner::new(Arc::clone(&pristine)),
    ];
    let started = Instant::now();
    let outcomes = run_cases(&runners, &seeds(DEFAULT_CASES), |runner, seed| {
        let (mutations, model) = case(seed, &runner.pristine);
        runner.run(seed, mutations, model)
    });
    eprintln!(
        "local copy: {} cases in {:.1?}",
        outcomes.len(),
        started.elapsed()
    );
    if let Some(summary) = summarize("local copy", &outcomes, verbose()) {
        panic!("{summary}");
    }
}

// ---------------------------------------------------------------------------------------------
// S3 over HTTP, ctverify as a child process.

/// An S3 server and CloudTrail stub serving one bucket that is reset for every case.
struct S3Runner {
    pristine: Arc<Pristine>,
    server: S3Server,
    stub: CloudTrailStub,
    out_dir: tempfile::TempDir,
    /// The `ctverify` program to run.
    program: std::path::PathBuf,
}

impl S3Runner {
    fn start(pristine: Arc<Pristine>) -> Self {
        let m = &pristine.manifest;
        let server = S3Server::start(S3ServerOptions::new());
        server.create_bucket(&m.bucket, "us-east-1");
        // A lifecycle rule that would have expired every object of the trail (a day old, the
        // trail is older): every deletion over S3 is excused as expired, and the property must
        // hold all the same. The excuse only ever lowers invalid to unverifiable.
        server.expire_after_days(&m.bucket, "expire-everything-after-1-day", "", 1);
        let mut trail = StubTrail::new(&m.trail_arn, &m.bucket);
        if let Some(prefix) = &m.prefix {
            trail = trail.with_prefix(prefix);
        }
        trail.organization = m.org_id.is_some();
        trail.multi_region = m.regions.len() > 1;
        let stub = CloudTrailStub::start(StubConfig {
            keys: StubKey::from_list_public_keys_json(pristine.keys_json.as_bytes())
                .expect("stub keys"),
            trails: vec![trail],
            ..StubConfig::default()
        });
        let out_dir = tempfile::tempdir().expect("temporary directory");
        let program = std::path::PathBuf::from(env!("CARGO_BIN_EXE_ctverify-under-test"));
        S3Runner {
            pristine,
            server,
            stub,
            out_dir,
            program,
        }
    }

    /// Makes the bucket hold exactly `model`.
    fn load(&self, model: &Model) {
        let bucket = &self.pristine.manifest.bucket;
        for key in self.server.keys(bucket) {
            self.server.delete(bucket, &key);
        }
        for (key, obj) in model {
            self.server
                .put(bucket, key, obj.body.clone(), s3_metadata(&obj.meta));
        }
    }

    fn run(&self, seed: u64, mutations: Vec<Mutation>, model: Model) -> Outcome {
        let started = Instant::now();
        self.load(&model);
        let args = ctverify_tests::trail::range_args(&self.pristine.manifest);
        let (code, output) = self.ctverify(&args);
        Outcome::judge(
            &self.pristine,
            seed,
            mutations,
            &model,
            code,
            output,
            started.elapsed(),
        )
    }

    /// Runs the real command line as a child process configured only through the endpoints and
    /// test credentials (as `tests/support/s3_trail.rs` does), killed after [`TIMEOUT`].
    fn ctverify(&self, args: &[String]) -> (Option<u8>, String) {
        let out_path = self.out_dir.path().join("out");
        let stdout = std::fs::File::create(&out_path).expect("output file");
        let stderr = stdout.try_clone().expect("output file");
        let empty = std::path::Path::new("/dev/null");
        let mut child = Command::new(&self.program)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL_S3", self.server.endpoint())
            .env("AWS_ENDPOINT_URL_CLOUDTRAIL", self.stub.endpoint())
            // Every other service (Account ListRegions, Organizations) goes to the stub too:
            // nothing may reach AWS.
            .env("AWS_ENDPOINT_URL", self.stub.endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_CONFIG_FILE", empty)
            .env("AWS_SHARED_CREDENTIALS_FILE", empty)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("starting ctverify");
        let started = Instant::now();
        let status = loop {
            match child.try_wait().expect("waiting for ctverify") {
                Some(status) => break Some(status),
                None if started.elapsed() > TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        };
        let mut output = String::new();
        let _ = std::fs::File::open(&out_path).and_then(|mut f| {
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes)?;
            output = String::from_utf8_lossy(&bytes).into_owned();
            Ok(())
        });
        match status {
            None => (None, format!("did not finish within {TIMEOUT:?}\n{output}")),
            Some(status) => match status.code().and_then(|c| u8::try_from(c).ok()) {
                Some(code) => (Some(code), output),
                None => (None, format!("ctverify was killed: {status}\n{output}")),
            },
        }
    }
}

#[test]
fn no_mutation_of_a_trail_in_s3_is_ever_reported_valid() {
    let pristine = Arc::new(Pristine::generate(&mutation_spec()));
    let started = Instant::now();
    let runners: Vec<S3Runner> = (0..2)
        .map(|_| S3Runner::start(Arc::clone(&pristine)))
        .collect();
    let outcomes = run_cases(&runners, &seeds(DEFAULT_CASES), |runner, seed| {
        let (mutations, model) = case(seed, &runner.pristine);
        runner.run(seed, mutations, model)
    });
    eprintln!("S3: {} cases in {:.1?}", outcomes.len(), started.elapsed());
    if let Some(summary) = summarize("S3", &outcomes, verbose()) {
        panic!("{summary}");
    }
}

// ---------------------------------------------------------------------------------------------
// S3 with CloudTrail's event history: a trail whose logging was legitimately stopped for two
// hours, the stop and the start in the stub's LookupEvents.

/// Cases of the history variant unless `CTVERIFY_MUTATION_CASES` says otherwise: each run that
/// meets a gap reads the history (five LookupEvents calls at CloudTrail's 2 a second).
const HISTORY_CASES: u64 = 200;

/// [`mutation_spec`] three days ago (inside the event history's 90 days), its first account the
/// stub caller's (the history read is the trail's own), every chain pausing for two hours before
/// its fourth digest.
fn history_spec() -> ctverify_fixtures::TrailSpec {
    use chrono::DurationRound;
    let start = chrono::Utc::now()
        .duration_trunc(chrono::TimeDelta::hours(1))
        .expect("an hour")
        - chrono::TimeDelta::days(3);
    ctverify_fixtures::TrailSpec {
        start,
        accounts: vec!["111122223333".into(), "222222222222".into()],
        restarts: vec![ctverify_fixtures::ChainRestart {
            at: 3,
            gap: chrono::TimeDelta::hours(2),
        }],
        ..mutation_spec()
    }
}

/// The pause's StopLogging (inside the last digest before it) and StartLogging (just before the
/// first digest after it).
fn history_events(p: &Pristine) -> Vec<ctverify_tests::cloudtrail_stub::StubEvent> {
    use ctverify_tests::cloudtrail_stub::StubEvent;
    let digests = &p.manifest.chains[0].digests;
    vec![
        StubEvent::on_trail(
            "StopLogging",
            &p.manifest.trail_arn,
            digests[2].end_time - chrono::TimeDelta::minutes(2),
        ),
        StubEvent::on_trail(
            "StartLogging",
            &p.manifest.trail_arn,
            digests[3].start_time - chrono::TimeDelta::minutes(1),
        ),
    ]
}

/// Valid only if every object CloudTrail delivered while logging was on is there, unchanged:
/// the legitimate pause is proven by the history, and no mutation of the bucket can pass for
/// one (deleting the digests around it, replacing them, planting a chain start).
#[test]
fn no_mutation_of_a_trail_with_a_proven_pause_is_ever_reported_valid() {
    let pristine = Arc::new(Pristine::generate(&history_spec()));
    let events = history_events(&pristine);
    let runners: Vec<S3Runner> = (0..2)
        .map(|_| {
            let runner = S3Runner::start(Arc::clone(&pristine));
            runner.stub.update(|c| c.events = events.clone());
            runner
        })
        .collect();
    // The harness sees the pause proven: untouched, the trail is valid.
    let untouched = runners[0].run(0, vec![Mutation::NoOp], pristine.objects.clone());
    assert_eq!(
        untouched.code,
        Some(VALID),
        "{}",
        untouched.describe("S3 with history")
    );
    let started = Instant::now();
    let outcomes = run_cases(&runners, &seeds(HISTORY_CASES), |runner, seed| {
        let (mutations, model) = case(seed, &runner.pristine);
        runner.run(seed, mutations, model)
    });
    eprintln!(
        "S3 with history: {} cases in {:.1?}",
        outcomes.len(),
        started.elapsed()
    );
    if let Some(summary) = summarize("S3 with history", &outcomes, verbose()) {
        panic!("{summary}");
    }
}

// ---------------------------------------------------------------------------------------------
// The harness itself.

/// The harness can see a valid verdict: the untouched trail and a no-op mutation are valid from
/// both sources, and the property check flags a valid verdict over a changed, deleted or planted
/// object while allowing metadata-only changes and objects outside the range's folders.
#[test]
fn the_harness_sees_valid_verdicts_and_flags_a_false_valid() {
    let pristine = Arc::new(Pristine::generate(&mutation_spec()));
    let p = &pristine;
    assert_eq!(p.manifest.chains.len(), 4);
    assert!(p.objects.len() > 60, "{} objects", p.objects.len());

    // Untouched, and a no-op: valid from a local copy...
    let local = LocalRunner::new(Arc::clone(&pristine));
    for mutations in [vec![], vec![Mutation::NoOp]] {
        let outcome = local.run(0, mutations, p.objects.clone());
        assert_eq!(
            outcome.code,
            Some(VALID),
            "{}",
            outcome.describe("local copy")
        );
        assert_eq!(outcome.violation, None);
    }
    // ... and from S3.
    let s3 = S3Runner::start(Arc::clone(&pristine));
    let outcome = s3.run(0, vec![Mutation::NoOp], p.objects.clone());
    assert_eq!(outcome.code, Some(VALID), "{}", outcome.describe("S3"));
    assert_eq!(outcome.violation, None);

    // A mutation reaches ctverify from both sources: a deleted log is invalid, and the same
    // server serves the untouched trail again afterwards.
    let deleted_log = p.manifest.chains[3].digests[4].log_files[1].clone();
    let delete = Mutation::Delete { key: deleted_log };
    let mut model = p.objects.clone();
    apply(&mut model, &delete);
    let outcome = local.run(1, vec![delete.clone()], model.clone());
    assert_eq!(
        outcome.code,
        Some(INVALID),
        "{}",
        outcome.describe("local copy")
    );
    // Over S3 the bucket's lifecycle rule excuses the deletion: expired, not valid.
    let outcome = s3.run(1, vec![delete], model);
    assert_eq!(
        outcome.code,
        Some(UNVERIFIABLE),
        "{}",
        outcome.describe("S3")
    );
    assert!(
        outcome.output.contains("expired under lifecycle rule"),
        "{}",
        outcome.describe("S3")
    );
    let outcome = s3.run(0, vec![Mutation::NoOp], p.objects.clone());
    assert_eq!(outcome.code, Some(VALID), "{}", outcome.describe("S3"));

    // The property check itself.
    let digest = p.manifest.chains[1].digests[3].key.clone();
    let log = p.manifest.chains[2].digests[1].log_files[0].clone();
    let mutated = |m: Mutation| {
        let mut model = p.objects.clone();
        apply(&mut model, &m);
        model
    };
    let changed = mutated(Mutation::FlipByte {
        key: log.clone(),
        at: 20,
        xor: 1,
    });
    assert!(violation(p, &changed, 0).is_some());
    assert!(violation(p, &changed, 1).is_none());
    assert!(violation(p, &changed, 2).is_none());
    assert!(violation(p, &p.objects, 3).is_some());
    assert!(violation(p, &mutated(Mutation::Delete { key: log.clone() }), 0).is_some());
    let planted_in_range = log.replace(".json.gz", ".JSON.GZ");
    assert!(p.in_scope(&planted_in_range));
    let copy_to = |to: &str| Mutation::Copy {
        from: log.clone(),
        to: to.to_owned(),
        to_is: "new".into(),
    };
    assert!(violation(p, &mutated(copy_to(&planted_in_range)), 0).is_some());
    let planted_2031 = log.replace("/2026/01/01/", "/2031/01/01/");
    assert!(!p.in_scope(&planted_2031));
    assert!(violation(p, &mutated(copy_to(&planted_2031)), 0).is_none());
    assert!(violation(p, &mutated(copy_to("elsewhere/x.json.gz")), 0).is_none());
    // Metadata alone may change under a valid verdict: a signature authenticates itself.
    let no_sidecar = mutated(Mutation::DeleteMeta {
        key: digest.clone(),
    });
    assert_eq!(no_sidecar[&digest].meta, Meta::None);
    assert!(violation(p, &no_sidecar, 0).is_none());
    assert!(violation(p, &mutated(Mutation::UpperHexSignature { key: digest }), 0).is_none());
}

// ---------------------------------------------------------------------------------------------
// A run resumed from a checkpoint state.

/// The hour (from the trail's start) the checkpoints of the resumed variant are at.
const CHECKPOINT_HOUR: i64 = 3;

/// The objects a run resumed at the checkpoint must prove: the checkpoint digests and every
/// digest after them, and the log files those newer digests list. What lies before was proven
/// by the run that set the checkpoint, which is the point of one.
fn after_the_checkpoint(p: &Pristine) -> BTreeSet<String> {
    let at = p.manifest.start_time + chrono::TimeDelta::hours(CHECKPOINT_HOUR);
    let mut keys = BTreeSet::new();
    for chain in &p.manifest.chains {
        for d in &chain.digests {
            if d.end_time >= at {
                keys.insert(d.key.clone());
            }
            if d.end_time > at {
                keys.extend(d.log_files.iter().cloned());
            }
        }
    }
    keys
}

/// The time a CloudTrail name carries (`..._20260101T0315Z_...` or `..._20260101T030000Z...`).
fn named_time(key: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let name = key.rsplit('/').next()?;
    name.split(['_', '.']).find_map(|part| {
        let stamp = part.strip_suffix('Z')?;
        let format = match stamp.len() {
            13 => "%Y%m%dT%H%M",
            15 => "%Y%m%dT%H%M%S",
            _ => return None,
        };
        chrono::NaiveDateTime::parse_from_str(stamp, format)
            .ok()
            .map(|t| t.and_utc())
    })
}

#[test]
fn no_mutation_after_a_checkpoint_is_ever_reported_valid_by_a_resumed_run() {
    let pristine = Arc::new(Pristine::generate(&mutation_spec()));
    let runner = LocalRunner::new(Arc::clone(&pristine));
    let p = &pristine;
    let start = p.manifest.start_time;
    let at = start + chrono::TimeDelta::hours(CHECKPOINT_HOUR);
    // The checkpoint state, set once by a run over the pristine copy up to the checkpoint.
    let state_dir = tempfile::tempdir().expect("temporary directory");
    let state = state_dir.path().join("state.json");
    let copy = state_dir.path().join("copy");
    write_local(&copy, &p.manifest.bucket, &p.objects).expect("writing the pristine copy");
    let keys = runner.keys_dir.path().join("keys.json");
    let base = |copy: &std::path::Path| {
        let mut args = vec![
            "ctverify".to_owned(),
            "--trail".into(),
            p.manifest.trail_arn.clone(),
        ];
        args.extend([
            "--local".into(),
            copy.display().to_string(),
            "--public-keys".into(),
            keys.display().to_string(),
        ]);
        if let Some(prefix) = &p.manifest.prefix {
            args.extend(["--prefix".to_owned(), prefix.clone()]);
        }
        args
    };
    let mut first = base(&copy);
    first.extend([
        "--from".into(),
        ctverify_fixtures::format_time(&start),
        "--to".into(),
        ctverify_fixtures::format_time(&at),
        "--state".into(),
        state.display().to_string(),
    ]);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let run = runtime.block_on(run_ctverify(&first));
    assert_eq!(run.code, VALID, "{}{}", run.stdout, run.stderr);
    let state_bytes = std::fs::read(&state).expect("the state");
    let relevant = after_the_checkpoint(p);

    let seeds = seeds(DEFAULT_CASES / 4);
    let started = Instant::now();
    let outcomes: Vec<Outcome> = seeds
        .iter()
        .map(|&seed| {
            let (mutations, model) = case(seed, p);
            let case_started = Instant::now();
            let dir = tempfile::tempdir().expect("temporary directory");
            let copy = dir.path().join("copy");
            write_local(&copy, &p.manifest.bucket, &model).expect("writing the copy");
            let case_state = dir.path().join("state.json");
            std::fs::write(&case_state, &state_bytes).expect("the state");
            let mut args = base(&copy);
            args.extend([
                "--to".into(),
                ctverify_fixtures::format_time(&p.manifest.end_time),
                "--state".into(),
                case_state.display().to_string(),
            ]);
            let run = runtime.block_on(run_ctverify(&args));
            // The property, over what the resumed run must prove: the objects after the
            // checkpoint unchanged and present, and nothing added that is named after it (or
            // not named by a time at all).
            let mut why = Vec::new();
            let mut broken = Vec::new();
            if run.code == VALID {
                for key in &relevant {
                    let same =
                        model.get(key).map(|o| &o.body) == p.objects.get(key).map(|o| &o.body);
                    if !same {
                        why.push(format!("{key:?} was changed or deleted"));
                        broken.push(key.clone());
                    }
                }
                for key in model
                    .keys()
                    .filter(|k| !p.objects.contains_key(*k) && p.in_scope(k))
                {
                    if named_time(key).is_none_or(|t| t >= at) {
                        why.push(format!("{key:?} was added"));
                        broken.push(key.clone());
                    }
                }
            } else if run.code > UNVERIFIABLE {
                why.push(format!("exit status {}", run.code));
            }
            let violation =
                (!why.is_empty()).then(|| format!("reported VALID although {}", why.join("; ")));
            let culprits = if violation.is_some() {
                ctverify_tests::mutation::culprits(p, &mutations, &broken)
            } else {
                Vec::new()
            };
            Outcome {
                seed,
                mutations,
                code: Some(run.code),
                output: format!("{}{}", run.stdout, run.stderr),
                violation,
                elapsed: case_started.elapsed(),
                culprits,
            }
        })
        .collect();
    eprintln!(
        "resumed from a checkpoint: {} cases in {:.1?}",
        outcomes.len(),
        started.elapsed()
    );
    // Some cases must come out valid, or the property proves nothing.
    assert!(
        outcomes.iter().any(|o| o.code == Some(VALID)),
        "no case was valid: the resumed runs never succeed"
    );
    if let Some(summary) = summarize("resumed from a checkpoint", &outcomes, verbose()) {
        panic!("{summary}");
    }
}

// ---------------------------------------------------------------------------------------------
// A range verified in shards and merged.

#[test]
fn no_mutation_is_ever_reported_valid_by_merged_shards() {
    let pristine = Arc::new(Pristine::generate(&mutation_spec()));
    let runner = LocalRunner::new(Arc::clone(&pristine));
    let p = &pristine;
    let keys = runner.keys_dir.path().join("keys.json");
    let local = |copy: &std::path::Path| {
        let mut args = vec![
            "--local".to_owned(),
            copy.display().to_string(),
            "--public-keys".into(),
            keys.display().to_string(),
        ];
        if let Some(prefix) = &p.manifest.prefix {
            args.extend(["--prefix".to_owned(), prefix.clone()]);
        }
        args
    };
    // The plan, made once over the pristine copy: three shards of four chains, so that chains
    // are split in time and the merge has seams to check.
    let plan_dir = tempfile::tempdir().expect("temporary directory");
    let pristine_copy = plan_dir.path().join("copy");
    write_local(&pristine_copy, &p.manifest.bucket, &p.objects).expect("the pristine copy");
    let plan = plan_dir.path().join("plan.json");
    let mut args = vec!["ctverify".to_owned(), "plan".into()];
    args.extend(ctverify_tests::trail::range_args(&p.manifest));
    args.extend(local(&pristine_copy));
    args.extend([
        "--shards".into(),
        "3".into(),
        "--out".into(),
        plan.display().to_string(),
    ]);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let run = runtime.block_on(run_ctverify(&args));
    assert_eq!(run.code, VALID, "{}{}", run.stdout, run.stderr);

    let started = Instant::now();
    let outcomes: Vec<Outcome> = seeds(DEFAULT_CASES / 10)
        .into_iter()
        .map(|seed| {
            let (mutations, model) = case(seed, p);
            let case_started = Instant::now();
            let dir = tempfile::tempdir().expect("temporary directory");
            let copy = dir.path().join("copy");
            write_local(&copy, &p.manifest.bucket, &model).expect("writing the copy");
            let reports = dir.path().join("shard-{}.json").display().to_string();
            let mut output = String::new();
            for k in 0..3 {
                let mut args = vec![
                    "ctverify".to_owned(),
                    "--plan".into(),
                    plan.display().to_string(),
                    "--shard".into(),
                    k.to_string(),
                    "--out".into(),
                    reports.clone(),
                    "-q".into(),
                ];
                args.extend(local(&copy));
                let run = runtime.block_on(run_ctverify(&args));
                output.push_str(&run.stderr);
            }
            let merge = vec![
                "ctverify".to_owned(),
                "merge".into(),
                "--plan".into(),
                plan.display().to_string(),
                reports,
            ];
            let run = runtime.block_on(run_ctverify(&merge));
            output.push_str(&run.stdout);
            output.push_str(&run.stderr);
            Outcome::judge(
                p,
                seed,
                mutations,
                &model,
                Some(run.code),
                output,
                case_started.elapsed(),
            )
        })
        .collect();
    eprintln!(
        "merged shards: {} cases in {:.1?}",
        outcomes.len(),
        started.elapsed()
    );
    assert!(
        outcomes.iter().any(|o| o.code == Some(VALID)),
        "no case was valid: the merge never succeeds"
    );
    if let Some(summary) = summarize("merged shards", &outcomes, verbose()) {
        panic!("{summary}");
    }
}
