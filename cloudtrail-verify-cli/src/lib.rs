//! The `ctverify` command line as a library, so tests can run it in-process with captured
//! output. It parses flags, builds the object source and key set, runs the `cloudtrail-verify`
//! library and prints its report; it decides nothing about verification itself.

pub mod cli;
mod posture_cmd;
pub mod render;

use clap::{CommandFactory, Parser};
use cli::{Cli, Command, Format, VerifyArgs};
use cloudtrail_verify::keys::SIGNING_DELAY_MARGIN;
use cloudtrail_verify::source::S3Source;
use cloudtrail_verify::{
    ChainLayout, KeySet, LocalDirectory, ObjectSource, Progress, Report, Status, TimeRange,
    TrailTarget, VerifyOptions, aws, discover_chains, trail_api, verify_chains,
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
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
pub async fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
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
    match cli.command {
        Some(Command::Enable(args)) => posture_cmd::run_enable(&args, out, err).await,
        Some(Command::Audit(args)) => posture_cmd::run_audit(&args, out, err).await,
        Some(Command::Completions { shell }) => {
            clap_complete::generate(shell, &mut Cli::command(), "ctverify", out);
            exit::VALID
        }
        Some(Command::Man) => match clap_mangen::Man::new(Cli::command()).render(out) {
            Ok(()) => exit::VALID,
            Err(e) => {
                let _ = writeln!(err, "ctverify man: {e}");
                exit::ERROR
            }
        },
        None => match run_verify(&cli.verify, out, err).await {
            Ok(code) => code,
            Err(Fatal(message)) => {
                let _ = writeln!(err, "ctverify: {message}");
                exit::ERROR
            }
        },
    }
}

async fn run_verify(
    args: &VerifyArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, Fatal> {
    let arn = args
        .trail
        .clone()
        .ok_or_else(|| Fatal("--trail ARN is required (see --help)".into()))?;
    let from = args
        .from
        .ok_or_else(|| Fatal("--from TIME is required (see --help)".into()))?;
    // By default the range ends where proof can end: CloudTrail delivers the digest of an hour
    // up to about an hour after it, so the last two hours cannot be proven yet.
    let to = args.to.unwrap_or_else(|| {
        let now = chrono::Utc::now();
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
    // -q: the report goes nowhere; errors that end the run still reach stderr (through Fatal).
    let (mut no_out, mut no_err) = (std::io::sink(), std::io::sink());
    let (out, err): (&mut dyn Write, &mut dyn Write) = if args.quiet {
        (&mut no_out, &mut no_err)
    } else {
        (out, err)
    };
    let mut warnings = Vec::new();
    let (source, keys, mut target): (Arc<dyn ObjectSource>, Option<KeySet>, TrailTarget) =
        match &args.local {
            Some(dir) => {
                let (source, keys, target) = local_source(args, dir, arn)?;
                (source, Some(keys), target)
            }
            None => {
                let (source, target) = s3_source(args, arn, &mut warnings).await?;
                (source, None, target)
            }
        };
    if let Some(bad) = args
        .account_ids
        .iter()
        .find(|a| !cloudtrail_verify::layout::is_account_id(a))
    {
        return Err(Fatal(format!(
            "--account-id {bad:?} is not a 12-digit account id"
        )));
    }
    if let Some(bad) = args
        .regions
        .iter()
        .find(|r| !cloudtrail_verify::layout::is_region(r))
    {
        return Err(Fatal(format!(
            "--region {bad:?} is not a region name (such as us-east-1)"
        )));
    }
    if !args.account_ids.is_empty() {
        target.accounts = Some(args.account_ids.clone());
    }
    if !args.regions.is_empty() {
        target.regions = Some(args.regions.clone());
    }
    if target.expected_regions.is_none() && target.regions.is_none() {
        warnings.push(
            "the chains checked are the regions and accounts found in the bucket plus the trail's \
             home region: a region or member account whose files were all deleted goes \
             unnoticed unless named with --region/--account-id"
                .into(),
        );
    }
    let chains = discover_chains(source.as_ref(), &target).await?;
    let keys = match keys {
        Some(keys) => keys,
        // Keys before any digest listing: a run that cannot check signatures fails fast.
        None => s3_public_keys(args, &target, &chains, range).await?,
    };
    let plan = Plan {
        source,
        keys,
        target,
        chains,
        range,
        warnings,
    };
    run_and_print(args, plan, out, err).await
}

/// Default number of S3 reads in flight: enough to hide a region's round trip.
const S3_CONCURRENCY: usize = 64;

/// Everything a verification run needs, gathered before any digest is listed.
struct Plan {
    source: Arc<dyn ObjectSource>,
    keys: KeySet,
    target: TrailTarget,
    chains: Vec<ChainLayout>,
    range: TimeRange,
    warnings: Vec<String>,
}

/// The object source, key set and target of a run on a local copy.
fn local_source(
    args: &VerifyArgs,
    dir: &std::path::Path,
    arn: cloudtrail_verify::TrailArn,
) -> Result<(Arc<dyn ObjectSource>, KeySet, TrailTarget), Fatal> {
    let keys_path = args.public_keys.as_ref().ok_or_else(|| {
        Fatal(
            "--local needs --public-keys KEYS.json (the output of `aws cloudtrail list-public-keys`)"
                .into(),
        )
    })?;
    let key_bytes = std::fs::read(keys_path)
        .map_err(|e| Fatal(format!("cannot read key file {}: {e}", keys_path.display())))?;
    let keys = KeySet::from_list_public_keys_json(&key_bytes)
        .map_err(|e| Fatal(format!("{}: {e}", keys_path.display())))?;
    let local =
        LocalDirectory::new(dir).map_err(|e| Fatal(format!("--local {}: {e}", dir.display())))?;
    let bucket = match &args.bucket {
        Some(bucket) => bucket.clone(),
        None => match local.buckets()?.as_slice() {
            [only] => only.clone(),
            [] => return Err(Fatal(format!("{} holds no bucket folder", dir.display()))),
            many => {
                return Err(Fatal(format!(
                    "{} holds several bucket folders ({}): choose one with --bucket",
                    dir.display(),
                    many.join(", ")
                )));
            }
        },
    };
    let target = TrailTarget::new(arn, bucket, args.prefix.clone());
    Ok((Arc::new(local), keys, target))
}

/// The object source and target of a run against S3: the trail's bucket and prefix from
/// DescribeTrails unless --bucket is given, read in the bucket's own region.
async fn s3_source(
    args: &VerifyArgs,
    arn: cloudtrail_verify::TrailArn,
    warnings: &mut Vec<String>,
) -> Result<(Arc<dyn ObjectSource>, TrailTarget), Fatal> {
    if args.public_keys.is_some() {
        return Err(Fatal(
            "--public-keys goes with --local; against S3 the keys come from ListPublicKeys".into(),
        ));
    }
    aws::check_profile(args.profile.as_deref()).await?;
    let conf = aws::load_aws_config(args.profile.as_deref(), Some(&arn.region)).await;
    let mut expected_regions = None;
    let mut expected_accounts = None;
    let (bucket, prefix) = match &args.bucket {
        Some(bucket) => (bucket.clone(), args.prefix.clone()),
        None => {
            let cloudtrail = aws_sdk_cloudtrail::Client::new(&conf);
            let trail = trail_api::describe_trail(&cloudtrail, &arn).await?;
            if !trail.log_file_validation {
                warnings.push(format!(
                    "log-file validation is off for {arn}: log files delivered while it is off \
                     are in no digest and cannot be verified (`ctverify enable --trail {arn}`)"
                ));
            }
            // Which chains must exist comes from the account and the organization, not only
            // from the folders an attacker left in the bucket.
            if !trail.multi_region {
                // A single-region trail has one region: its home region.
                expected_regions = Some(Vec::new());
            } else {
                match trail_api::enabled_regions(&conf).await {
                    Ok(regions) => expected_regions = Some(regions),
                    Err(e) => warnings.push(format!(
                        "{e}: the regions checked are those found in the bucket plus the home \
                         region; a region whose files were all deleted would go unnoticed \
                         (name it with --region)"
                    )),
                }
            }
            if trail.organization {
                match trail_api::organization_accounts(&conf).await {
                    Ok(accounts) => expected_accounts = Some(accounts),
                    Err(e) => warnings.push(format!(
                        "{e}: the member accounts checked are those found in the bucket; an \
                         account whose files were all deleted would go unnoticed (name it with \
                         --account-id)"
                    )),
                }
            }
            (trail.bucket, args.prefix.clone().or(trail.prefix))
        }
    };
    let region = trail_api::bucket_region(&aws::s3_client(&conf), &bucket).await?;
    // Throttling and 5xx are retried with backoff; a server that stops answering is a timeout,
    // reported as unverifiable for that object, not a hung run.
    let conf = conf
        .into_builder()
        .region(aws_config::Region::new(region))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(10))
                .read_timeout(std::time::Duration::from_secs(60))
                .build(),
        )
        .build();
    let source = S3Source::new(aws::s3_client(&conf)).with_description(format!("s3://{bucket}"));
    let mut target = TrailTarget::new(arn, bucket, prefix);
    target.expected_regions = expected_regions;
    target.expected_accounts = expected_accounts;
    Ok((Arc::new(source), target))
}

/// CloudTrail's public keys for every region of `chains`, over the range plus the margin in
/// which CloudTrail may still sign the range's last digests.
async fn s3_public_keys(
    args: &VerifyArgs,
    target: &TrailTarget,
    chains: &[ChainLayout],
    range: TimeRange,
) -> Result<KeySet, Fatal> {
    let conf = aws::load_aws_config(args.profile.as_deref(), Some(&target.arn.region)).await;
    let mut regions: Vec<&str> = chains.iter().map(|c| c.chain.region.as_str()).collect();
    regions.sort_unstable();
    regions.dedup();
    let end =
        (range.end + chrono::TimeDelta::hours(1) + SIGNING_DELAY_MARGIN).min(chrono::Utc::now());
    let start = range.start.min(end);
    let fetches = regions
        .iter()
        .map(|region| trail_api::fetch_public_keys(&conf, region, start, end));
    let mut keys = KeySet::new();
    for (region, fetched) in regions.iter().zip(futures::future::join_all(fetches).await) {
        for key in fetched? {
            keys.insert(key);
        }
        // ListPublicKeys answered whole for this region and span: a fingerprint it does not
        // hold is not CloudTrail's.
        keys.mark_complete(Some(region), start, end);
    }
    Ok(keys)
}

/// Runs the verification and prints the report; returns the exit status.
async fn run_and_print(
    args: &VerifyArgs,
    plan: Plan,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, Fatal> {
    let Plan {
        source,
        keys,
        target,
        chains,
        range,
        warnings,
    } = plan;
    let text = args.format == Format::Text;
    if text {
        render::write_header(out, &target.arn.to_string(), range.start, range.end)?;
    }
    let bar = (!args.quiet && !args.no_progress && std::io::stderr().is_terminal())
        .then(ProgressBar::new);
    let options = VerifyOptions {
        concurrency: match (args.concurrency, args.local.is_some()) {
            (Some(n), _) => usize::from(n),
            (None, false) => S3_CONCURRENCY,
            (None, true) => std::thread::available_parallelism().map_or(2, |n| n.get()) * 2,
        },
        max_log_bytes: args.max_log_bytes,
        // Valid entries are only needed when they are printed.
        keep_valid_entries: args.verbose || !text,
        progress: bar.clone().map(|b| b as Arc<dyn Progress>),
        ..VerifyOptions::default()
    };
    let mut report = verify_chains(source, keys, &target, chains, range, options).await;
    report.warnings.extend(warnings);
    if let Some(bar) = bar {
        bar.bar.finish_and_clear();
    }
    if text {
        render::TextRenderer::new(out, err, args.verbose).write_report(&report)?;
    } else {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    }
    Ok(exit_status(&report))
}

fn exit_status(report: &Report) -> u8 {
    match report.status {
        Status::Valid => exit::VALID,
        Status::Invalid => exit::INVALID,
        Status::Unverifiable => exit::UNVERIFIABLE,
    }
}

/// A progress bar on stderr: log files checked of those found so far, bytes, rate, ETA. The
/// total grows as digests are read, which runs ahead of hashing, so the ETA settles quickly.
struct ProgressBar {
    bar: indicatif::ProgressBar,
    bytes: std::sync::atomic::AtomicU64,
}

impl ProgressBar {
    fn new() -> Arc<Self> {
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} log files, {msg}, ETA {eta}",
        ) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Arc::new(ProgressBar {
            bar,
            bytes: std::sync::atomic::AtomicU64::new(0),
        })
    }
}

impl Progress for ProgressBar {
    fn logs_found(&self, count: u64) {
        self.bar.inc_length(count);
    }

    fn log_verified(&self, _compressed: u64, decompressed: u64) {
        use std::sync::atomic::Ordering;
        let total = self.bytes.fetch_add(decompressed, Ordering::Relaxed) + decompressed;
        self.bar.inc(1);
        let seconds = self.bar.elapsed().as_secs_f64().max(0.001);
        self.bar.set_message(format!(
            "{} ({}/s)",
            indicatif::HumanBytes(total),
            indicatif::HumanBytes((total as f64 / seconds) as u64)
        ));
    }
}
