//! The `ctverify` command line as a library, so tests can run it in-process with captured
//! output. It parses flags, builds the object source and key set, runs the `cloudtrail-verify`
//! library and prints its report; it decides nothing about verification itself.

pub mod asff;
pub mod cli;
mod cost_cmd;
mod findings_out;
pub mod jsonl;
pub mod junit;
mod man;
pub mod ocsf;
mod plan_cmd;
mod posture_cmd;
mod posture_findings;
mod progress;
mod query_cmd;
pub mod render;
pub mod security_hub;
pub mod shared_args;
mod verify_cmd;
mod verify_config;
mod writers;

use clap::{CommandFactory, Parser};
use cli::{Cli, Command};
use cloudtrail_verify::storage::{Location, Store};
use cloudtrail_verify::{Report, Status, aws};
use std::io::{IsTerminal, Write};
use verify_config::{Job, VerifyRun};
use writers::PipeWriter;

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
pub(crate) struct Fatal(pub(crate) String);

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
        Some(Command::Plan(args)) => match verify(&args.verify, Job::Plan(&args), out, err).await {
            Ok(code) => code,
            Err(Fatal(message)) => {
                let _ = writeln!(err, "ctverify plan: {}", render::escape(&message));
                exit::ERROR
            }
        },
        Some(Command::Merge(args)) => match plan_cmd::run_merge(&args, out, err).await {
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
            match verify(&args.verify, Job::Export(&args.out), out, err).await {
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
            match verify(&cli.verify, job, out, err).await {
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

/// Parses, then runs: the flags are checked into a [`VerifyRun`] before anything is verified.
async fn verify(
    args: &cli::VerifyArgs,
    job: Job<'_>,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<u8, Fatal> {
    let run = VerifyRun::check(args, job).await?;
    verify_cmd::run_verify(run, out, err).await
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
                            aws_sdk_organizations=debug,aws_sdk_kms=debug,aws_sdk_sts=debug,\
                            aws_sdk_securityhub=debug";

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

/// Where a document (state, plan, report) is kept: a local file, or an S3 object read and
/// written with the run's AWS settings.
pub(crate) async fn open_store(
    location: &Location,
    aws_args: &cli::AwsArgs,
) -> Result<Store, Fatal> {
    Ok(match location {
        Location::File(path) => Store::file(path),
        Location::S3 { .. } => {
            let conf = aws::load(&aws_args.settings(None)).await?;
            Store::open(location.clone(), &conf).await?
        }
    })
}

/// The exit status of a report's verdict.
pub(crate) fn exit_status(report: &Report) -> u8 {
    match report.status {
        Status::Valid => exit::VALID,
        Status::Invalid => exit::INVALID,
        Status::Unverifiable => exit::UNVERIFIABLE,
    }
}
