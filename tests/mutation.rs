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
