//! The `ctverify` command line as a library, so tests can run it in-process with captured
//! output. It parses flags, builds the object source and key set, runs the `cloudtrail-verify`
//! library and prints its report; it decides nothing about verification itself.

pub mod cli;
mod cost_cmd;
pub mod jsonl;
pub mod junit;
mod man;
mod posture_cmd;
mod query_cmd;
pub mod render;
pub mod shared_args;

use clap::{CommandFactory, Parser};
use cli::{Cli, Command, Format, VerifyArgs};
use cloudtrail_verify::state::{State, StateStore};
use cloudtrail_verify::storage::{Location, Store};
use cloudtrail_verify::{
    KeySet, Progress, Report, SetupError, Status, TimeRange, Verifier, VerifyOptions, aws,
};
use std::io::{IsTerminal, Write};
use std::sync::Arc;

/// Exit statuses, as documented in `ctverify --help` and the README.
pub mod exit {
    /// Everything verified valid.
    pub const VALID: u8 = 0;
    /// Evidence of tampering.
    pub const INVALID: u8 = 1;
    /// Nothing invalid, but something could not be verified.
    pub const UNVERIFIABLE: u8 = 2;
    /// The run itself failed: bad arguments, unreadable inputs.
    pub const ERROR: u8 = 3;
}

/// One file written through several handles (`--out FILE` in text: the report and its findings,
/// which otherwise go to stdout and stderr, in the order they are written).
#[derive(Clone)]
struct SharedWriter(Arc<std::sync::Mutex<std::io::BufWriter<std::fs::File>>>);

impl SharedWriter {
    /// Creates (or truncates, as `>` would) the file at `path`.
    fn create(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::File::create(path)?;
        Ok(SharedWriter(Arc::new(std::sync::Mutex::new(
            std::io::BufWriter::new(file),
        ))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::io::BufWriter<std::fs::File>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lock().write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.lock().flush()
    }
}

/// A private folder under the system's temporary folder, removed with everything in it when
/// dropped.
struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    fn new() -> std::io::Result<Self> {
        let base = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        for attempt in 0..100u32 {
            let path = base.join(format!(
                "ctverify-bundle-{}-{nanos}-{attempt}",
                std::process::id()
            ));
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            match builder.create(&path) {
                Ok(()) => return Ok(ScratchDir(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other(format!(
            "cannot create a folder in {}",
            base.display()
        )))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A run that could not happen, with the message to print.
struct Fatal(String);

impl<E: std::fmt::Display> From<E> for Fatal {
    fn from(e: E) -> Self {
        Fatal(e.to_string())
    }
}

/// The whole program: runs `ctverify` with the process's arguments on a new runtime, printing
/// to stdout and stderr. Every binary built from this crate's code calls only this.
pub fn main_entry() -> std::process::ExitCode {
    // Blocking threads open and read files, inflate and hash large bodies; more of them than
    // a few per core only wait on each other, and each one keeps memory of its own (tokio's
    // default of 512 let a million-file offline run start 67 of them and reach 144 MB with
    // mimalloc; 16 kept it near 50 MB and ran faster). Small S3 bodies never need one.
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads((4 * cpus).max(16))
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ctverify: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(exit::ERROR);
        }
    };
    let mut out = PipeWriter::new(std::io::stdout());
    let mut err = PipeWriter::new(std::io::stderr());
    std::process::ExitCode::from(runtime.block_on(run(std::env::args_os(), &mut out, &mut err)))
}

/// Standard output or error that stops writing, without an error, once its reader has gone:
/// `ctverify ... | head -1` must not end in `Broken pipe` and exit status 3, hiding the
/// verdict. The run goes on and exits with the verdict's status, as it would into a file.
/// (Rust ignores SIGPIPE, so a closed pipe shows up as `BrokenPipe` from `write`.)
struct PipeWriter<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> PipeWriter<W> {
    fn new(inner: W) -> Self {
        PipeWriter {
            inner,
            closed: false,
        }
    }

    fn closed_if_broken<T>(&mut self, result: std::io::Result<T>, ok: T) -> std::io::Result<T> {
        match result {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(ok)
            }
            other => other,
        }
    }
}

impl<W: Write> Write for PipeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let result = self.inner.write(buf);
        self.closed_if_broken(result, buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = self.inner.flush();
        self.closed_if_broken(result, ())
    }
}

/// Runs `ctverify` with `args` (the first being the program name), writing results to `out`
/// and findings and errors to `err`; returns the exit status.
pub async fn run<I, T>(args: I, out: &mut (dyn Write + Send), err: &mut (dyn Write + Send)) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    // Bare `ctverify` is someone finding out what it does: the usage and the commands, not
    // the first missing flag.
    if args.len() <= 1 {
        let _ = write!(
            err,
            "{}\nctverify: --trail ARN is required, with --from TIME (see the examples above)\n",
            Cli::command().render_help()
        );
        return exit::ERROR;
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let help = matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            );
            let text = e.render().to_string();
            let _ = if help {
                write!(out, "{text}")
            } else {
                write!(err, "{text}")
            };
            return if help { exit::VALID } else { exit::ERROR };
        }
    };
    init_diagnostics(cli.debug);
    match cli.command {
        Some(Command::Enable(args)) => posture_cmd::run_enable(&args, out, err).await,
        Some(Command::Audit(args)) => posture_cmd::run_audit(&args, out, err).await,
        Some(Command::QueryResults(args)) => query_cmd::run_query_results(&args, out, err).await,
        Some(Command::Plan(args)) => {
            match run_verify(&args.verify, Job::Plan(&args), out, err).await {
                Ok(code) => code,
                Err(Fatal(message)) => {
                    let _ = writeln!(err, "ctverify plan: {}", render::escape(&message));
                    exit::ERROR
                }
            }
        }
        Some(Command::Merge(args)) => match run_merge(&args, out, err).await {
            Ok(code) => code,
            Err(Fatal(message)) => {
                let _ = writeln!(err, "ctverify merge: {}", render::escape(&message));
                exit::ERROR
            }
        },
        Some(Command::Export(args)) if is_other_archive(&args.out) => {
            let _ = writeln!(
                err,
                "ctverify export: --out {} names an archive format export does not write: give \
                 a new directory, or FILE.tar.gz (or .tgz)",
                render::escape(&args.out.display().to_string())
            );
            exit::ERROR
        }
        Some(Command::Export(args)) => {
            match run_verify(&args.verify, Job::Export(&args.out), out, err).await {
                Ok(code) => code,
                Err(Fatal(message)) => {
                    let _ = writeln!(err, "ctverify export: {message}");
                    exit::ERROR
                }
            }
        }
        Some(Command::Completions { shell }) => {
            clap_complete::generate(shell, &mut Cli::command(), "ctverify", out);
            exit::VALID
        }
        Some(Command::Man) => match man::write_man(out) {
            Ok(()) => exit::VALID,
            Err(e) => {
                let _ = writeln!(err, "ctverify man: {e}");
                exit::ERROR
            }
        },
        None => {
            let job = if cli.shard.plan.is_some() {
                Job::Shard(&cli.shard)
            } else {
                Job::Verify(cli.shard.out.as_deref().map(std::path::Path::new))
            };
            match run_verify(&cli.verify, job, out, err).await {
                Ok(code) => code,
                Err(Fatal(message)) => {
                    // Messages may quote folder names or AWS answers: hostile text.
                    let _ = writeln!(err, "ctverify: {}", render::escape(&message));
                    exit::ERROR
                }
            }
        }
    }
}

/// Whether `path` names an archive other than the `.tar.gz` export writes (a `.zip`, a plain
/// `.tar`, ...): taken as a directory name, it would make a folder that looks like a file.
fn is_other_archive(path: &std::path::Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    !cloudtrail_verify::export::is_tar_gz(path)
        && [
            ".zip", ".tar", ".gz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".7z",
        ]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// What `--debug` shows: ctverify's own steps, and the SDK's requests and retries.
/// (The SDK's per-operation spans, which name the service and operation, belong to the
/// service crates.)
const DEBUG_FILTER: &str = "info,cloudtrail_verify=debug,cloudtrail_verify_cli=debug,\
                            aws_config=debug,aws_smithy_runtime=debug,aws_sigv4=debug,\
                            aws_sdk_s3=debug,aws_sdk_cloudtrail=debug,aws_sdk_account=debug,\
                            aws_sdk_organizations=debug,aws_sdk_kms=debug,aws_sdk_sts=debug";

/// Diagnostics on stderr, with `--debug` or `RUST_LOG`; none otherwise, so a normal run's
/// output stays the report. The first run of a process installs the subscriber; in tests,
/// which run the CLI many times in one process, later attempts change nothing.
fn init_diagnostics(debug: bool) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => tracing_subscriber::EnvFilter::new(spec),
        _ if debug => tracing_subscriber::EnvFilter::new(DEBUG_FILTER),
        _ => return,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// What a run of the verification flags does.
enum Job<'a> {
    /// Verify and print, the report to this file when there is one (`--out FILE`).
    Verify(Option<&'a std::path::Path>),
    /// Verify and write an evidence bundle.
    Export(&'a std::path::Path),
    /// Verify one shard of a plan.
    Shard(&'a cli::ShardArgs),
    /// Split the range into shards and write the plan.
    Plan(&'a cli::PlanArgs),
}

/// The shard index: --shard, else the job engine's index variable.
fn shard_index(args: &cli::ShardArgs) -> Result<usize, Fatal> {
    if let Some(k) = args.shard {
        return Ok(k);
    }
    for var in ["JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"] {
        if let Ok(value) = std::env::var(var) {
            return value
                .trim()
                .parse()
                .map_err(|_| Fatal(format!("{var}={value:?} is not a shard index")));
        }
    }
    Err(Fatal(
        "--plan needs --shard K (or JOB_COMPLETION_INDEX / AWS_BATCH_JOB_ARRAY_INDEX set by the \
         job engine)"
            .into(),
    ))
}

/// Reads a plan from where it is kept.
async fn read_plan(
    location: &Location,
    aws_args: &cli::AwsArgs,
) -> Result<cloudtrail_verify::plan::Plan, Fatal> {
    let store = open_store(location, aws_args).await?;
    let (bytes, _) = store
        .read_capped(cloudtrail_verify::plan::MAX_PLAN_BYTES)
        .await?
        .ok_or_else(|| Fatal(format!("there is no plan at {location}")))?;
    cloudtrail_verify::plan::Plan::parse(&bytes).map_err(|e| Fatal(format!("{location}: {e}")))
}

async fn run_verify(
    args: &VerifyArgs,
    job: Job<'_>,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<u8, Fatal> {
    let export = match job {
        Job::Export(path) => Some(path),
        _ => None,
    };
    // A shard's trail and range are the plan's.
    let shard = match &job {
        Job::Shard(shard) => {
            let location = shard
                .plan
                .as_ref()
                .ok_or_else(|| Fatal("--plan is required".into()))?;
            let plan = read_plan(location, &args.aws).await?;
            let index = shard_index(shard)?;
            // A plan of a local copy is run on a local copy: refused at once, not after an
            // attempt to reach AWS for credentials.
            if let (Some(dir), None) = (&plan.local, &args.local) {
                return Err(Fatal(format!(
                    "the plan was made from the local copy {dir}: add --local {dir} (or where \
                     the copy is on this machine) and --public-keys FILE"
                )));
            }
            // Where the report goes, checked before hours of work depend on it.
            let out = match &shard.out {
                Some(text) => Some(
                    open_store(
                        &text
                            .replace("{}", &index.to_string())
                            .parse::<Location>()
                            .map_err(|e| Fatal(format!("--out: {e}")))?,
                        &args.aws,
                    )
                    .await?,
                ),
                None => None,
            };
            Some((plan, index, out))
        }
        _ => None,
    };
    let trail = match (&shard, &args.trail) {
        (Some((plan, _, _)), given) => {
            let arn: cloudtrail_verify::TrailArn = plan
                .trail
                .parse()
                .map_err(|e| Fatal(format!("the plan's trail: {e}")))?;
            if let Some(cli::TrailRef::Arn(given)) = given
                && given != &arn
            {
                return Err(Fatal(format!(
                    "--trail {given} is not the plan's trail {arn}"
                )));
            }
            cli::TrailRef::Arn(arn)
        }
        (None, Some(trail)) => trail.clone(),
        (None, None) => return Err(Fatal("--trail ARN is required (see --help)".into())),
    };
    if args.state.is_some() && !matches!(job, Job::Verify(_)) {
        return Err(Fatal(
            "--state is for scheduled verification runs, not for export, plan or a shard (they \
             hold a whole range)"
                .into(),
        ));
    }
    // The checkpoint state, read first: without --from, the run starts where it says.
    let state = match &args.state {
        None => None,
        Some(location) => {
            let store = StateStore::new(open_store(location, &args.aws).await?);
            let loaded = store.load().await?;
            Some((store, loaded))
        }
    };
    let resumed = state
        .as_ref()
        .and_then(|(_, loaded)| loaded.state.as_ref())
        .filter(|_| args.from.is_none());
    let now = args.now.unwrap_or_else(chrono::Utc::now);
    let from = match (args.from, resumed) {
        _ if shard.is_some() => shard.as_ref().map_or(now, |(p, _, _)| p.from),
        (Some(from), _) => from,
        (None, Some(state)) => state.from,
        (None, None) if args.state.is_some() => {
            return Err(Fatal(
                "--from TIME is required on the first run with --state (there is no state yet \
                 to resume from)"
                    .into(),
            ));
        }
        (None, None) => return Err(Fatal("--from TIME is required (see --help)".into())),
    };
    // By default the range ends where proof can end: CloudTrail delivers the digest of an hour
    // up to about an hour after it, so the last two hours cannot be proven yet.
    let to = shard
        .as_ref()
        .map(|(p, _, _)| p.to)
        .or(args.to)
        .unwrap_or_else(|| {
            let provable = now - VerifyOptions::default().delivery_grace;
            // A range starting inside the last two hours runs to now: unverifiable, not empty.
            if provable > from {
                provable
            } else {
                now.max(from + chrono::TimeDelta::seconds(1))
            }
        });
    let range = TimeRange::new(from, to).map_err(|e| match e {
        cloudtrail_verify::RangeError::StartAfterEnd { .. } => Fatal(format!(
            "--from {} is not before --to {}",
            render::display_date(from),
            render::display_date(to)
        )),
        other => Fatal(format!("--from/--to: {other}")),
    })?;
    // --out FILE: the whole report goes to the file (in text, the findings too, in the order
    // they came), and the terminal gets only the verdict line; -q silences the terminal only.
    let report_file = match &job {
        Job::Verify(Some(path)) => Some((
            *path,
            SharedWriter::create(path)
                .map_err(|e| Fatal(format!("--out {}: {e}", path.display())))?,
        )),
        _ => None,
    };
    let terminal_out = out;
    let (mut file_out, mut file_err) = match &report_file {
        Some((_, file)) => (Some(file.clone()), Some(file.clone())),
        None => (None, None),
    };
    // -q: the report goes nowhere; errors that end the run still reach stderr (through Fatal).
    let (mut no_out, mut no_err) = (std::io::sink(), std::io::sink());
    let (out, err): (&mut (dyn Write + Send), &mut (dyn Write + Send)) =
        match (&mut file_out, &mut file_err) {
            (Some(file_out), Some(file_err)) if args.format == Format::Text => (file_out, file_err),
            (Some(file_out), _) if args.quiet => (file_out, &mut no_err),
            (Some(file_out), _) => (file_out, err),
            _ if args.quiet => (&mut no_out, &mut no_err),
            _ => (&mut *terminal_out, err),
        };
    // A bundle archive (`export --out FILE.tar.gz`) is read where it lies: unpacked, with the
    // library's bounds, into a private folder removed when the run ends.
    let unpacked = match &args.local {
        Some(path) if cloudtrail_verify::export::is_tar_gz(path) && path.is_file() => {
            let folder = ScratchDir::new().map_err(|e| Fatal(format!("--local: {e}")))?;
            cloudtrail_verify::export::unpack_bundle(path, &folder.0)
                .map_err(|e| Fatal(format!("--local {e}")))?;
            Some(folder)
        }
        _ => None,
    };
    let local = unpacked.as_ref().map(|u| &u.0).or(args.local.as_ref());
    let mut builder = match local {
        Some(dir) => {
            let cli::TrailRef::Arn(arn) = trail else {
                return Err(Fatal(
                    "with --local, --trail needs the trail's ARN: its account and region name \
                     the copy's folders"
                        .into(),
                ));
            };
            let (keys, from) = local_keys(args, Some(dir))?;
            let builder = Verifier::from_local(dir, keys, arn, range).keys_source(from);
            if args.public_keys.is_none() {
                // Keys from the bundle itself: the copy vouches for itself.
                builder.keys_from_the_copy()
            } else {
                builder
            }
        }
        None => {
            let arn = match trail {
                cli::TrailRef::Arn(arn) => arn,
                cli::TrailRef::Name(name) => {
                    let conf = aws::load(&args.aws.settings(None)).await?;
                    Verifier::trail_arn_by_name(&conf, &name).await?
                }
            };
            let conf = aws::load(&args.aws.settings(Some(arn.region.clone()))).await?;
            let mut builder = Verifier::from_s3(&conf, arn, range);
            match &args.public_keys {
                // Keys saved beforehand: the only ones trusted, whatever answers at the endpoint.
                Some(_) => {
                    let (keys, from) = local_keys(args, None)?;
                    builder = builder.public_keys(keys).keys_source(from);
                }
                None => {
                    // The endpoint answers ListPublicKeys: what changes who that is, said once.
                    for warning in cloudtrail_verify::session_trust::trust_warnings(
                        args.aws.endpoint_url.as_deref(),
                        args.aws.ca_bundle.as_deref(),
                    ) {
                        builder = builder.warning(warning);
                    }
                }
            }
            builder
        }
    };
    if let Some(bucket) = &args.bucket {
        builder = builder.bucket(bucket);
    }
    if let Some(prefix) = &args.prefix {
        builder = builder.prefix(prefix);
    }
    if let Some((plan, index, _)) = &shard {
        builder = builder.bucket(&plan.bucket).shard(plan, *index)?;
        if let Some(prefix) = &plan.prefix {
            builder = builder.prefix(prefix);
        }
    }
    builder = builder.accounts(&args.account_ids).regions(&args.regions);
    if let Some(state) = resumed {
        builder = builder.resume_from(state);
    }
    if let Some(path) = &args.exceptions {
        // Read as every document is: a regular file, capped (a FIFO cannot hang the run).
        let location = path.display().to_string();
        let bytes = cloudtrail_verify::storage::read_regular_file(
            path,
            cloudtrail_verify::exceptions::MAX_EXCEPTIONS_BYTES,
        )
        .map_err(|e| Fatal(format!("--exceptions {location}: {e}")))?;
        builder = builder.exceptions(
            cloudtrail_verify::exceptions::Exceptions::parse(&bytes, &location)
                .map_err(|e| Fatal(e.to_string()))?,
        );
    }
    if let Some(n) = args.concurrency {
        builder = builder.concurrency(usize::from(n));
    }
    let bar = (!args.quiet && !args.no_progress && std::io::stderr().is_terminal())
        .then(ProgressBar::new);
    // However the run ends (a failed setup, a plan written, an error), the bar is cleared: a
    // stray "0/0 digests" must not stay on the final screen.
    let _clear_bar = ClearBar(bar.clone());
    // The report shares the terminal with the bar: each of its lines is written with the bar
    // lifted, so that no line lands after the bar's text and the bar stays below the report.
    let mut out_lines = BarLines::new(out, bar.as_ref().map(|b| b.bar.clone()));
    let mut err_lines = BarLines::new(err, bar.as_ref().map(|b| b.bar.clone()));
    let (out, err): (&mut (dyn Write + Send), &mut (dyn Write + Send)) =
        (&mut out_lines, &mut err_lines);
    let text = args.format == Format::Text;
    let mut options = VerifyOptions::default();
    options.now = now;
    options.max_log_bytes = args.max_log_bytes;
    options.check_versions = !args.no_versions;
    if let Some(hours) = args.segment_hours {
        options.segment = chrono::TimeDelta::hours(i64::from(hours));
    }
    // Valid entries are only needed when they are printed: every log verdict in JSON and JSON
    // Lines, with --verbose in text.
    options.keep_valid_entries = match args.format {
        Format::Text => args.verbose,
        Format::Json | Format::Jsonl => true,
        Format::Junit => false,
    };
    options.progress = bar.clone().map(|b| b as Arc<dyn Progress>);
    let mut verifier = builder
        .options(options)
        .prepare()
        .await
        .map_err(|e| match e {
            SetupError::BadAccountId(a) => {
                Fatal(format!("--account-id {a:?} is not a 12-digit account id"))
            }
            SetupError::BadRegion(r) => Fatal(format!(
                "--region {r:?} is not a region name (such as us-east-1)"
            )),
            SetupError::SeveralBuckets { dir, buckets } => Fatal(format!(
                "{} holds several bucket folders ({}): choose one with --bucket",
                dir.display(),
                buckets.join(", ")
            )),
            SetupError::Local { dir, source } => {
                Fatal(format!("--local {}: {source}", dir.display()))
            }
            other => Fatal(other.to_string()),
        })?;
    if args.cost.dry_run {
        return cost_cmd::print_estimate(&verifier, &args.cost, out)
            .await
            .map(|()| exit::VALID);
    }
    if let Job::Plan(plan_args) = job {
        return write_plan(&verifier, plan_args, args.local.as_deref(), &args.aws, out).await;
    }
    if let Some(location) = &args.state {
        state_outside_trail_bucket(location, &mut verifier, args.allow_state_in_trail_bucket)?;
    }
    if let Some((store, loaded)) = &state
        && let Some(existing) = &loaded.state
    {
        let target = verifier.target();
        existing.check_belongs_to(
            &target.arn.to_string(),
            &target.location.bucket,
            target.location.prefix.as_deref(),
            &store.location().to_string(),
        )?;
        let now = format!(
            "s3://{}/{}",
            target.location.bucket,
            target.location.prefix.as_deref().unwrap_or_default()
        );
        if let Some(old) =
            existing.moved_from(&target.location.bucket, target.location.prefix.as_deref())
        {
            verifier.add_warning(format!(
                "the state was kept while the trail wrote to {old}; it writes to {now} now (moved \
                 with UpdateTrail?): its checkpoints join only through CloudTrail's signed links \
                 from the new place"
            ));
        }
    }
    let looked_in = render::LookedIn {
        // An archive is named as given, not by the private folder it was unpacked into.
        accounts_folder: match (&unpacked, &args.local) {
            (Some(scratch), Some(archive)) => verifier.accounts_folder().replacen(
                &scratch.0.display().to_string(),
                &format!("{} (unpacked)", archive.display()),
                1,
            ),
            _ => verifier.accounts_folder(),
        },
        chains: verifier.chains().iter().map(|c| c.chain.clone()).collect(),
        found_in_bucket: verifier
            .warnings()
            .iter()
            .any(|w| w == cloudtrail_verify::messages::SCOPE_FOUND_IN_BUCKET),
    };
    let new_state = state.as_ref().map(|(_, loaded)| {
        let target = verifier.target();
        loaded.state.clone().unwrap_or_else(|| {
            State::new(
                target.arn.to_string(),
                target.location.bucket.clone(),
                target.location.prefix.clone(),
                range.start,
            )
        })
    });
    if text {
        // A resumed run starts at its earliest checkpoint (a chain without one at the state's
        // start), as its report's requested start does.
        let start = resumed
            .and_then(|s| s.checkpoints().values().map(|h| h.end_time).min())
            .map_or(range.start, |t| t.max(range.start));
        render::write_header(out, &verifier.target().arn.to_string(), start, range.end)?;
        render::write_looked_in(out, &looked_in)?;
    }
    // A --state run says, before the verdict line, what it did with the state: the renderer
    // leaves that line to the end of this function.
    // So does a shard, saying where its report went.
    let state_text = text && (state.is_some() || shard.is_some());
    let state_location = match (&state, resumed) {
        (Some((store, _)), Some(_)) => Some(store.location().to_string()),
        _ => None,
    };
    let (mut report, bundle) = match (export, args.format) {
        (Some(path), _) => {
            let (report, summary) = cloudtrail_verify::export::export(verifier, path).await?;
            if text {
                render::TextRenderer::new(out, err, args.verbose)
                    .looked_in(&looked_in)
                    .now(now)
                    .state(state_location.clone())
                    .verdict(!state_text)
                    .write_report(&report)?;
            }
            (report, Some(summary))
        }
        (None, Format::Json) => (verifier.run().await, None),
        (None, Format::Text) => {
            let renderer = render::TextRenderer::new(out, err, args.verbose)
                .looked_in(&looked_in)
                .now(now)
                .state(state_location.clone())
                .verdict(!state_text);
            let mut stream = render::TextStream::new(renderer);
            let report = verifier.run_observed(&mut stream).await;
            if let Some(bar) = &bar {
                bar.bar.finish_and_clear();
            }
            stream.finish(&report)?;
            (report, None)
        }
        (None, Format::Jsonl) => {
            let mut stream = jsonl::JsonlWriter::new(out).now(now);
            let report = verifier.run_observed(&mut stream).await;
            stream.finish(&report)?;
            (report, None)
        }
        (None, Format::Junit) => {
            let mut stream = junit::JunitWriter::new(out).now(now);
            let report = verifier.run_observed(&mut stream).await;
            stream.finish(&report)?;
            (report, None)
        }
    };
    if let Some(bar) = bar {
        bar.bar.finish_and_clear();
    }
    // The state this run will write, decided now so that the report names it by SHA-256 beside
    // the one it started from: successive reports then form a chain of audits.
    let advanced = match (&state, &new_state) {
        (Some((store, loaded)), Some(new_state)) => {
            let advanced = new_state.advanced(&report);
            report.state = Some(cloudtrail_verify::report::StateRecord {
                location: store.location().to_string(),
                read_sha256: loaded.sha256.clone(),
                written_sha256: advanced.sha256(),
            });
            Some(advanced)
        }
        _ => None,
    };
    if args.format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    }
    if let Some(bundle) = bundle {
        render::write_bundle_summary(err, &bundle, report.status)?;
    }
    let status = exit_status(&report);
    let verdict = cloudtrail_verify::messages::verdict_line(&report, now);
    if let Some((plan, index, store)) = &shard {
        let mut said = format!("Shard {index} of {} of the plan", plan.shards.len());
        if let Some(store) = store {
            let mut bytes = serde_json::to_vec_pretty(&report)?;
            bytes.push(b'\n');
            match store.write(bytes).await {
                Ok(()) => said.push_str(&format!(": report written to {}", store.location())),
                // As for a state: evidence of tampering outranks a report that was not
                // written (and the verdict line still ends the text).
                Err(e) if status == exit::INVALID => {
                    let _ = writeln!(err, "ctverify: the shard's report was not written: {e}");
                    said.push_str(&format!(": its report was not written: {e}"));
                }
                Err(e) => return Err(Fatal(format!("the shard's report was not written: {e}"))),
            }
        }
        if state_text {
            writeln!(out, "{}\n\n{verdict}", render::escape(&said))?;
        }
    }
    if let (Some((store, loaded)), Some(advanced)) = (&state, advanced) {
        // Written after the verdict is out: a run that dies before this leaves the old state,
        // and the next one verifies the same hours again.
        let said = match store.save(&advanced, loaded).await {
            Ok(()) => {
                let mut said = render::state_written(
                    &store.location().to_string(),
                    loaded.state.as_ref(),
                    &advanced,
                );
                if let Some(record) = &report.state {
                    said.push_str(&format!(
                        " (SHA-256 {}, the run started from {})",
                        record.written_sha256,
                        record.read_sha256.as_deref().unwrap_or("no state")
                    ));
                }
                said
            }
            Err(e) => {
                // Evidence of tampering outranks a state that could not be written; otherwise
                // the run failed (exit status 3), said even with -q.
                if status != exit::INVALID {
                    return Err(Fatal(format!("the state was not written: {e}")));
                }
                let _ = writeln!(err, "ctverify: the state was not written: {e}");
                format!("The state {} was not written: {e}", store.location())
            }
        };
        if state_text {
            writeln!(out, "{}\n\n{verdict}", render::escape(&said))?;
        }
    }
    // Everything for the report is written (the last partial line passed on).
    drop(out_lines);
    drop(err_lines);
    // --out FILE: the file is complete; the terminal gets where it is and the verdict.
    if let Some((path, file)) = &report_file {
        let mut file = file.clone();
        file.flush()
            .map_err(|e| Fatal(format!("--out {}: {e}", path.display())))?;
        if !args.quiet {
            writeln!(
                terminal_out,
                "Report written to {}\n{verdict}",
                render::escape(&path.display().to_string()),
            )?;
        }
    }
    Ok(status)
}

/// A state kept in the trail's own bucket is refused unless `allowed`: whoever can write the
/// trail's objects can usually write the state beside them, and a rewritten state makes later
/// runs skip hours (a checkpoint moved forward). Accepted, the report carries a warning.
fn state_outside_trail_bucket(
    location: &Location,
    verifier: &mut Verifier,
    allowed: bool,
) -> Result<(), Fatal> {
    let Location::S3 { bucket, .. } = location else {
        return Ok(());
    };
    if bucket != &verifier.target().location.bucket {
        return Ok(());
    }
    if !allowed {
        return Err(Fatal(format!(
            "--state {location} is in the trail's own bucket {bucket}, where whoever can write \
             the trail's files can usually rewrite the state too (and make later runs skip \
             hours): keep it in a bucket the trail's writers cannot write, or pass \
             --allow-state-in-trail-bucket to accept the risk"
        )));
    }
    verifier.add_warning(format!(
        "the state {location} is kept in the trail's own bucket {bucket} \
         (--allow-state-in-trail-bucket): whoever can write the trail's files there can \
         usually rewrite the state and make later runs skip hours"
    ));
    Ok(())
}

/// Splits a prepared run into shards, writes the plan and says what each shard holds.
async fn write_plan(
    verifier: &Verifier,
    plan_args: &cli::PlanArgs,
    local: Option<&std::path::Path>,
    aws_args: &cli::AwsArgs,
    out: &mut (dyn Write + Send),
) -> Result<u8, Fatal> {
    let mut plan = verifier.plan(plan_args.shards as usize).await?;
    plan.local = local.map(|dir| dir.display().to_string());
    // A plan already there is replaced (a sweep is re-planned in place), but not silently:
    // shards may still be running from it.
    let replaced = matches!(&plan_args.out, Location::File(path) if path.exists());
    open_store(&plan_args.out, aws_args)
        .await?
        .write(plan.to_json())
        .await?;
    let total: u64 = plan.shards.iter().map(|s| s.expected_digests).sum();
    writeln!(
        out,
        "Plan {}{}: {} over {}, {total} digests, {} to {}",
        plan_args.out,
        if replaced {
            " (replacing the plan that was there)"
        } else {
            ""
        },
        cloudtrail_verify::messages::plural(plan.shards.len() as u64, "shard", "shards"),
        cloudtrail_verify::messages::plural(verifier.chains().len() as u64, "chain", "chains"),
        render::display_date(plan.from),
        render::display_date(plan.to)
    )?;
    for shard in &plan.shards {
        let items: Vec<String> = shard
            .items
            .iter()
            .map(|i| {
                format!(
                    "{} {} to {}",
                    i.chain,
                    render::display_date(i.from),
                    render::display_date(i.to)
                )
            })
            .collect();
        writeln!(
            out,
            "Shard {}: {} digests: {}",
            shard.index,
            shard.expected_digests,
            items.join(", ")
        )?;
    }
    cost_cmd::print_estimate(verifier, &plan_args.verify.cost, out).await?;
    Ok(exit::VALID)
}

/// `ctverify merge`: reads the plan and every shard's report, joins them, prints the verdict.
async fn run_merge(
    args: &cli::MergeArgs,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<u8, Fatal> {
    let plan = read_plan(&args.plan, &args.aws).await?;
    let mut locations = Vec::new();
    for report in &args.reports {
        if report.contains("{}") {
            for shard in &plan.shards {
                locations.push(report.replace("{}", &shard.index.to_string()));
            }
        } else {
            locations.push(report.clone());
        }
    }
    let mut reports = Vec::with_capacity(locations.len());
    for text in locations {
        let location: Location = text.parse().map_err(|e| Fatal(format!("{text}: {e}")))?;
        let (bytes, _) = open_store(&location, &args.aws)
            .await?
            .read()
            .await?
            .ok_or_else(|| Fatal(format!("there is no report at {location}")))?;
        let report: Report = serde_json::from_slice(&bytes)
            .map_err(|e| Fatal(format!("{location} is not a ctverify report: {e}")))?;
        reports.push(report);
    }
    let merged = cloudtrail_verify::plan::merge(&plan, reports)?;
    let (mut no_out, mut no_err) = (std::io::sink(), std::io::sink());
    let (out, err): (&mut (dyn Write + Send), &mut (dyn Write + Send)) = if args.quiet {
        (&mut no_out, &mut no_err)
    } else {
        (out, err)
    };
    match args.format {
        Format::Text => {
            render::write_header(
                out,
                &merged.trail,
                merged.requested_start,
                merged.requested_end,
            )?;
            render::TextRenderer::new(out, err, args.verbose).write_report(&merged)?;
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &merged)?;
            writeln!(out)?;
        }
        // The streaming formats, from the merged report: the events a single run would have
        // given, chain by chain.
        Format::Jsonl => {
            let mut stream = jsonl::JsonlWriter::new(out);
            replay(&merged, &mut stream);
            stream.finish(&merged)?;
        }
        Format::Junit => {
            let mut stream = junit::JunitWriter::new(out);
            replay(&merged, &mut stream);
            stream.finish(&merged)?;
        }
    }
    Ok(exit_status(&merged))
}

/// Gives a finished report's events to `observer` as a run gives them: per chain, its start,
/// each digest, its end.
fn replay(report: &Report, observer: &mut dyn cloudtrail_verify::RunObserver) {
    use cloudtrail_verify::RunEvent;
    for chain in &report.chains {
        let window = chain
            .window
            .unwrap_or((report.requested_start, report.requested_end));
        observer.event(RunEvent::ChainStarted {
            chain: &chain.chain,
            window,
            checkpoint: chain.checkpoint.as_ref().map(|c| &c.checkpoint),
        });
        for digest in &chain.digests {
            observer.event(RunEvent::Digest {
                chain: &chain.chain,
                digest,
            });
        }
        observer.event(RunEvent::ChainFinished { chain });
    }
}

/// The keys of a run on a local copy, and where they came from: `--public-keys`, or an
/// evidence bundle's own `public-keys.json` (read with the bundle's caps: it is hostile input).
fn local_keys(args: &VerifyArgs, dir: Option<&std::path::Path>) -> Result<(KeySet, String), Fatal> {
    let (keys_path, key_bytes) = match (
        &args.public_keys,
        dir.and_then(cloudtrail_verify::export::bundle_keys),
    ) {
        (Some(path), _) => (
            path.clone(),
            // Regular files only (a FIFO would block the run), capped as a bundle's keys are.
            cloudtrail_verify::storage::read_regular_file(
                path,
                cloudtrail_verify::export::MAX_KEYS_BYTES,
            )
            .map_err(|e| Fatal(format!("cannot read key file {}: {e}", path.display())))?,
        ),
        (None, Some(path)) => {
            let bytes = cloudtrail_verify::export::read_bundle_keys(&path)
                .map_err(|e| Fatal(format!("cannot read key file {}: {e}", path.display())))?;
            (path, bytes)
        }
        (None, None) => {
            // Keys that merely lie in the copy are not trusted for being there: only a bundle's
            // are read by default (and even those make a run unverifiable at best).
            let beside = dir
                .map(|d| d.join(cloudtrail_verify::export::KEYS_FILE))
                .filter(|p| p.is_file())
                .map(|p| {
                    format!(
                        "; {} is not taken by itself: {} is not an evidence bundle (ctverify \
                         export), so give it with --public-keys if it was saved from AWS",
                        p.display(),
                        p.parent()
                            .map_or_else(String::new, |d| d.display().to_string())
                    )
                })
                .unwrap_or_default();
            return Err(Fatal(format!(
                "--local needs --public-keys KEYS.json (the output of `aws cloudtrail \
                 list-public-keys`){beside}"
            )));
        }
    };
    let keys = KeySet::from_list_public_keys_json(&key_bytes)
        .map_err(|e| Fatal(format!("{}: {e}", keys_path.display())))?;
    Ok((keys, format!("key file {}", keys_path.display())))
}

/// Where a document (state, plan, report) is kept: a local file, or an S3 object read and
/// written with the run's AWS settings.
async fn open_store(location: &Location, aws_args: &cli::AwsArgs) -> Result<Store, Fatal> {
    Ok(match location {
        Location::File(path) => Store::file(path),
        Location::S3 { .. } => {
            let conf = aws::load(&aws_args.settings(None)).await?;
            Store::open(location.clone(), &conf).await?
        }
    })
}

fn exit_status(report: &Report) -> u8 {
    match report.status {
        Status::Valid => exit::VALID,
        Status::Invalid => exit::INVALID,
        Status::Unverifiable => exit::UNVERIFIABLE,
    }
}

/// A progress bar on stderr over digests: the total is known before the walk (the listings of
/// the range), so the ETA means something; the log files checked, of those found so far, and
/// the bytes hashed are its message.
struct ProgressBar {
    bar: indicatif::ProgressBar,
    bytes: std::sync::atomic::AtomicU64,
    logs_found: std::sync::atomic::AtomicU64,
    logs_done: std::sync::atomic::AtomicU64,
}

/// A writer that passes whole lines on with the progress bar lifted (indicatif's `suspend`):
/// without a bar, it passes everything on at once.
struct BarLines<'a> {
    inner: &'a mut (dyn Write + Send),
    bar: Option<indicatif::ProgressBar>,
    pending: Vec<u8>,
}

impl<'a> BarLines<'a> {
    fn new(inner: &'a mut (dyn Write + Send), bar: Option<indicatif::ProgressBar>) -> Self {
        BarLines {
            inner,
            bar,
            pending: Vec::new(),
        }
    }

    fn pass_on(&mut self, upto: usize) -> std::io::Result<()> {
        let lines: Vec<u8> = self.pending.drain(..upto).collect();
        let inner = &mut *self.inner;
        match &self.bar {
            Some(bar) => bar.suspend(|| {
                inner.write_all(&lines)?;
                inner.flush()
            }),
            None => inner.write_all(&lines),
        }
    }
}

impl Write for BarLines<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bar.is_none() {
            return self.inner.write(buf);
        }
        self.pending.extend_from_slice(buf);
        if let Some(last) = self.pending.iter().rposition(|&b| b == b'\n') {
            self.pass_on(last + 1)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let all = self.pending.len();
        if all > 0 {
            self.pass_on(all)?;
        }
        self.inner.flush()
    }
}

impl Drop for BarLines<'_> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Clears the progress bar when dropped.
struct ClearBar(Option<Arc<ProgressBar>>);

impl Drop for ClearBar {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.bar.finish_and_clear();
        }
    }
}

impl ProgressBar {
    fn new() -> Arc<Self> {
        // Until the listings say how many digests there are, there is no bar to fill: say what
        // is happening instead of "0/0 digests, , ETA 0s".
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
        {
            bar.set_style(style);
        }
        bar.set_message("listing the trail's digest files …");
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Arc::new(ProgressBar {
            bar,
            bytes: std::sync::atomic::AtomicU64::new(0),
            logs_found: std::sync::atomic::AtomicU64::new(0),
            logs_done: std::sync::atomic::AtomicU64::new(0),
        })
    }

    fn update_message(&self) {
        use std::sync::atomic::Ordering;
        let total = self.bytes.load(Ordering::Relaxed);
        let seconds = self.bar.elapsed().as_secs_f64().max(0.001);
        self.bar.set_message(format!(
            "{}/{} log files, {} ({}/s)",
            self.logs_done.load(Ordering::Relaxed),
            self.logs_found.load(Ordering::Relaxed),
            indicatif::HumanBytes(total),
            indicatif::HumanBytes((total as f64 / seconds) as u64)
        ));
    }
}

impl Progress for ProgressBar {
    fn digests_expected(&self, count: u64) {
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} digests, {msg}, ETA {eta}",
        ) {
            self.bar.set_style(style);
        }
        self.bar.set_length(count);
        self.update_message();
    }

    fn digest_done(&self) {
        self.bar.inc(1);
    }

    fn logs_found(&self, count: u64) {
        self.logs_found
            .fetch_add(count, std::sync::atomic::Ordering::Relaxed);
        self.update_message();
    }

    fn log_verified(&self, _compressed: u64, decompressed: u64) {
        use std::sync::atomic::Ordering;
        self.bytes.fetch_add(decompressed, Ordering::Relaxed);
        self.logs_done.fetch_add(1, Ordering::Relaxed);
        self.update_message();
    }
}
