//! Parse, then run: the verification flags (`cli::VerifyArgs`, as clap read them) become one
//! checked [`VerifyRun`] before anything is verified: the job, the trail, the range (`--to`'s
//! default, a state's resume point, a plan's range), the state and the shard read and checked,
//! the key source, the local copy (an archive unpacked), the exceptions file and the run's
//! options. Every refusal of the flags happens here, at once, with what to give instead;
//! `verify_cmd` only runs what this module built.

use crate::cli::{self, Format, TrailRef, VerifyArgs};
use crate::writers::SharedWriter;
use crate::{Fatal, open_store, render};
use chrono::{DateTime, Utc};
use cloudtrail_verify::plan::Plan;
use cloudtrail_verify::state::{Loaded, StateStore};
use cloudtrail_verify::storage::Store;
use cloudtrail_verify::{KeySet, KeysSource, TimeRange, TrailArn, VerifyOptions};
use std::path::{Path, PathBuf};

/// What a run of the verification flags does, as the command line asked.
pub(crate) enum Job<'a> {
    /// Verify and print, the report to this file when there is one (`--out FILE`).
    Verify(Option<&'a Path>),
    /// Verify and write an evidence bundle.
    Export(&'a Path),
    /// Verify one shard of a plan.
    Shard(&'a cli::ShardArgs),
    /// Split the range into shards and write the plan.
    Plan(&'a cli::PlanArgs),
}

/// A verification run, every flag checked and every input it depends on read.
pub(crate) struct VerifyRun<'a> {
    /// The flags as given: output and narrowing flags are read from here as they are.
    pub(crate) args: &'a VerifyArgs,
    /// What the run does with its report.
    pub(crate) job: CheckedJob<'a>,
    /// The trail: from `--trail`, or the plan's.
    pub(crate) trail: TrailRef,
    /// The range verified.
    pub(crate) range: TimeRange,
    /// "Now" for the run (`--now` in tests).
    pub(crate) now: DateTime<Utc>,
    /// `--state`: the store and what it held.
    pub(crate) state: Option<StateRun>,
    /// Where the files are read, with the keys trusted.
    pub(crate) source: SourceRun,
    /// `--exceptions`, read and parsed.
    pub(crate) exceptions: Option<cloudtrail_verify::exceptions::Exceptions>,
    /// The library's options (the progress observer is the runner's).
    pub(crate) options: VerifyOptions,
}

/// [`Job`], with what it needs read and checked.
pub(crate) enum CheckedJob<'a> {
    /// Verify and print; the whole report to the file when there is one (`--out FILE`).
    Verify(Option<ReportFile>),
    /// Verify and write an evidence bundle here.
    Export(&'a Path),
    /// Verify one shard of a plan.
    Shard(Box<ShardRun>),
    /// Split the range into shards and write the plan.
    Plan(&'a cli::PlanArgs),
}

/// `--out FILE` of a verification run: the file, created before the run depends on it.
pub(crate) struct ReportFile {
    /// The path given.
    pub(crate) path: PathBuf,
    /// The file, written through several handles.
    pub(crate) writer: SharedWriter,
}

/// One shard of a plan.
pub(crate) struct ShardRun {
    /// The plan read.
    pub(crate) plan: Plan,
    /// The shard's index.
    pub(crate) index: usize,
    /// Where its report goes (`--out` with `{}` replaced by the index).
    pub(crate) report_to: Option<Store>,
}

/// `--state`: where the state is kept and what it held when the run started.
pub(crate) struct StateRun {
    /// The store.
    pub(crate) store: StateStore,
    /// What it held (with its version, for the conditional write).
    pub(crate) loaded: Loaded,
    /// Whether the run resumes from it (no `--from` given and a state was there).
    pub(crate) resumed: bool,
}

impl StateRun {
    /// The state the run resumes from, if it does.
    pub(crate) fn resumed_from(&self) -> Option<&cloudtrail_verify::state::State> {
        self.loaded.state.as_ref().filter(|_| self.resumed)
    }
}

/// Where the files are read.
pub(crate) enum SourceRun {
    /// A local copy or evidence bundle.
    Local {
        /// The folder read (an archive's private unpacked folder).
        dir: PathBuf,
        /// The archive it was unpacked from, kept until the run ends.
        archive: Option<(PathBuf, ScratchDir)>,
        /// The keys trusted and where they came from.
        keys: KeySet,
        /// Where the keys came from, for the report's provenance.
        keys_from: KeysSource,
        /// The keys are the bundle's own: the copy vouches for itself (unverifiable at best).
        keys_in_copy: bool,
        /// The trail's ARN (a local copy's folders are named by account and region).
        arn: TrailArn,
    },
    /// S3, with keys pinned from a file (`--public-keys`) or from ListPublicKeys.
    S3 {
        /// The keys pinned, and where they came from.
        pinned: Option<(KeySet, KeysSource)>,
    },
}

impl<'a> VerifyRun<'a> {
    /// Checks the flags of `job` and reads what the run depends on (a plan, a state, keys,
    /// an archive, exceptions), refusing at once whatever cannot run.
    pub(crate) async fn check(args: &'a VerifyArgs, job: Job<'a>) -> Result<Self, Fatal> {
        if args.security_hub && !matches!(job, Job::Verify(_)) {
            return Err(Fatal(
                "--security-hub is for verification runs, not for export, plan or a shard (merge \
                 the shards, then verify)"
                    .into(),
            ));
        }
        if args.state.is_some() && !matches!(job, Job::Verify(_)) {
            return Err(Fatal(
                "--state is for scheduled verification runs, not for export, plan or a shard \
                 (they hold a whole range)"
                    .into(),
            ));
        }
        let shard = match &job {
            Job::Shard(shard) => Some(check_shard(args, shard).await?),
            _ => None,
        };
        let trail = match (&shard, &args.trail) {
            (Some(shard), given) => {
                let given = match given {
                    Some(TrailRef::Arn(arn)) => Some(arn),
                    _ => None,
                };
                TrailRef::Arn(shard.plan.shard_trail(given, args.local.is_some())?)
            }
            (None, Some(trail)) => trail.clone(),
            (None, None) => return Err(Fatal("--trail ARN is required (see --help)".into())),
        };
        // The checkpoint state, read first: without --from, the run starts where it says.
        let state = match &args.state {
            None => None,
            Some(location) => {
                let store = StateStore::new(open_store(location, &args.aws).await?);
                let loaded = store.load().await?;
                let resumed = loaded.state.is_some() && args.from.is_none();
                Some(StateRun {
                    store,
                    loaded,
                    resumed,
                })
            }
        };
        let now = args.now.unwrap_or_else(Utc::now);
        let range = match &shard {
            Some(shard) => TimeRange::new(shard.plan.from, shard.plan.to)?,
            None => range(args, state.as_ref().and_then(StateRun::resumed_from), now)?,
        };
        let job = match job {
            Job::Verify(Some(path)) => CheckedJob::Verify(Some(ReportFile {
                path: path.to_owned(),
                writer: SharedWriter::create(path)
                    .map_err(|e| Fatal(format!("--out {}: {e}", path.display())))?,
            })),
            Job::Verify(None) => CheckedJob::Verify(None),
            Job::Export(path) => CheckedJob::Export(path),
            Job::Plan(plan) => CheckedJob::Plan(plan),
            Job::Shard(_) => CheckedJob::Shard(Box::new(
                shard.ok_or_else(|| Fatal("--plan is required".into()))?,
            )),
        };
        let source = source(args, &trail)?;
        let exceptions = args
            .exceptions
            .as_deref()
            .map(read_exceptions)
            .transpose()?;
        Ok(VerifyRun {
            args,
            job,
            trail,
            range,
            now,
            state,
            source,
            exceptions,
            options: options(args, now),
        })
    }
}

/// The plan and shard of a shard run, and where its report goes, checked before hours of work
/// depend on them.
async fn check_shard(args: &VerifyArgs, shard: &cli::ShardArgs) -> Result<ShardRun, Fatal> {
    let location = shard
        .plan
        .as_ref()
        .ok_or_else(|| Fatal("--plan is required".into()))?;
    let plan = crate::plan_cmd::read_plan(location, &args.aws).await?;
    let index = cloudtrail_verify::plan::shard_index(shard.shard, |var| std::env::var(var).ok())?;
    let report_to = match &shard.out {
        Some(text) => {
            let name: cloudtrail_verify::plan::ShardReportName = text.parse()?;
            Some(open_store(&name.for_shard(index)?, &args.aws).await?)
        }
        None => None,
    };
    Ok(ShardRun {
        plan,
        index,
        report_to,
    })
}

/// The range of a run that is not a shard: `--from` (or the state's start when resuming) to
/// `--to`, by default where proof can end.
fn range(
    args: &VerifyArgs,
    resumed: Option<&cloudtrail_verify::state::State>,
    now: DateTime<Utc>,
) -> Result<TimeRange, Fatal> {
    let from = match (args.from, resumed) {
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
    let to = args.to.unwrap_or_else(|| {
        let provable = now - VerifyOptions::default().delivery_grace;
        // A range starting inside the last two hours runs to now: unverifiable, not empty.
        if provable > from {
            provable
        } else {
            now.max(from + chrono::TimeDelta::seconds(1))
        }
    });
    TimeRange::new(from, to).map_err(|e| match e {
        cloudtrail_verify::RangeError::StartAfterEnd { .. } => Fatal(format!(
            "--from {} is not before --to {}",
            render::display_date(from),
            render::display_date(to)
        )),
        other => Fatal(format!("--from/--to: {other}")),
    })
}

/// The library's options from the flags.
fn options(args: &VerifyArgs, now: DateTime<Utc>) -> VerifyOptions {
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
        Format::Junit | Format::Asff | Format::Ocsf => false,
    };
    options
}

/// Where the files are read and which keys are trusted.
fn source(args: &VerifyArgs, trail: &TrailRef) -> Result<SourceRun, Fatal> {
    let Some(given) = &args.local else {
        // Keys saved beforehand: the only ones trusted, whatever answers at the endpoint.
        let pinned = match &args.public_keys {
            Some(_) => Some(local_keys(args, None)?),
            None => None,
        };
        return Ok(SourceRun::S3 { pinned });
    };
    let TrailRef::Arn(arn) = trail else {
        return Err(Fatal(
            "with --local, --trail needs the trail's ARN: its account and region name the \
             copy's folders"
                .into(),
        ));
    };
    // A bundle archive (`export --out FILE.tar.gz`) is read where it lies: unpacked, with the
    // library's bounds, into a private folder removed when the run ends.
    let archive = if cloudtrail_verify::export::is_tar_gz(given) && given.is_file() {
        let folder = ScratchDir::new().map_err(|e| Fatal(format!("--local: {e}")))?;
        cloudtrail_verify::export::unpack_bundle(given, &folder.0)
            .map_err(|e| Fatal(format!("--local {e}")))?;
        Some((given.clone(), folder))
    } else {
        None
    };
    let dir = archive
        .as_ref()
        .map_or_else(|| given.clone(), |(_, folder)| folder.0.clone());
    let (keys, mut keys_from) = local_keys(args, Some(&dir))?;
    if let (Some((archive, folder)), KeysSource::File(path)) = (&archive, &keys_from)
        && let Ok(inside) = path.strip_prefix(&folder.0)
    {
        // Named as the reader knows it, not by the private folder that is gone after the run.
        keys_from = KeysSource::File(
            PathBuf::from(format!("{} (unpacked)", archive.display())).join(inside),
        );
    }
    Ok(SourceRun::Local {
        dir,
        archive,
        keys,
        keys_from,
        // Keys from the bundle itself: the copy vouches for itself.
        keys_in_copy: args.public_keys.is_none(),
        arn: arn.clone(),
    })
}

/// `--exceptions FILE`, read as every document is: a regular file, capped (a FIFO cannot hang
/// the run).
fn read_exceptions(path: &Path) -> Result<cloudtrail_verify::exceptions::Exceptions, Fatal> {
    let location = path.display().to_string();
    let bytes = cloudtrail_verify::storage::read_regular_file(
        path,
        cloudtrail_verify::exceptions::MAX_EXCEPTIONS_BYTES,
    )
    .map_err(|e| Fatal(format!("--exceptions {location}: {e}")))?;
    cloudtrail_verify::exceptions::Exceptions::parse(&bytes, &location)
        .map_err(|e| Fatal(e.to_string()))
}

/// The keys of a run on a local copy, and where they came from: `--public-keys`, or an
/// evidence bundle's own `public-keys.json` (read with the bundle's caps: it is hostile input).
fn local_keys(args: &VerifyArgs, dir: Option<&Path>) -> Result<(KeySet, KeysSource), Fatal> {
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
    Ok((keys, KeysSource::File(keys_path)))
}

/// A private folder under the system's temporary folder, removed with everything in it when
/// dropped.
pub(crate) struct ScratchDir(pub(crate) PathBuf);

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
