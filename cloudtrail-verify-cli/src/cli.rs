//! Every flag of `ctverify`, defined and documented in one place.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use cloudtrail_verify::TrailArn;
use std::path::PathBuf;

pub use crate::shared_args::{AwsArgs, ReportFormat};

/// Prove AWS CloudTrail log files were not modified, deleted or forged after delivery.
///
/// Walks the trail's digest files newest to oldest, checks each RSA signature against
/// CloudTrail's public keys, checks every link of the hash chain and the SHA-256 of every log
/// file.
///
/// Exit status: 0 everything valid; 1 something INVALID (tampering: bad hash or signature,
/// missing file, broken chain); 2 nothing invalid but something could not be verified (access
/// denied, network, missing key or signature, nothing found); 3 the run failed (bad arguments,
/// unreadable key file, listing failed).
#[derive(Debug, Parser)]
#[command(
    name = "ctverify",
    version,
    args_conflicts_with_subcommands = true,
    after_help = EXAMPLES
)]
pub struct Cli {
    /// Hardening commands; without one, ctverify verifies a trail.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// What to verify and how.
    #[command(flatten)]
    pub verify: VerifyArgs,
    /// One shard of a plan.
    #[command(flatten)]
    pub shard: ShardArgs,
    /// Print what happens underneath on stderr: the trail as loaded, the folders listed, the
    /// keys loaded per region and window, the string signed by each digest, every AWS request
    /// and retry. `RUST_LOG` (such as `RUST_LOG=cloudtrail_verify=debug`) chooses finer.
    #[arg(long, global = true, help_heading = "Output")]
    pub debug: bool,
}

impl AwsArgs {
    /// The library's session settings, calls starting from `region`.
    pub fn settings(&self, region: Option<String>) -> cloudtrail_verify::aws::AwsSettings {
        cloudtrail_verify::aws::AwsSettings::with_profile(self.profile.clone())
            .in_region(region)
            .with_endpoint_url(self.endpoint_url.clone())
            .with_ca_bundle(self.ca_bundle.clone())
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Turn on log-file validation and SSE-KMS encryption on a trail.
    Enable(crate::posture_cmd::EnableArgs),
    /// Report a trail's security posture (Security Hub CloudTrail controls and more).
    Audit(crate::posture_cmd::AuditArgs),
    /// Verify a CloudTrail Lake query's exported results (result_sign.json and the files it
    /// lists), stricter than `aws cloudtrail verify-query-results`.
    QueryResults(crate::query_cmd::QueryResultsArgs),
    /// Verify a range and write it as an evidence bundle that `ctverify --local BUNDLE`
    /// verifies anywhere, with no AWS access: every digest and log file (DIR/BUCKET/KEY), each
    /// digest's S3 metadata (KEY.metadata.json), the keys used (public-keys.json), the report
    /// (report.json) and the SHA-256 of every file (manifest.json).
    #[command(
        after_help = EXPORT_EXAMPLES,
        mut_arg("state", |a| a.hide(true)),
        mut_arg("allow_state_in_trail_bucket", |a| a.hide(true))
    )]
    Export(ExportArgs),
    /// Split a range into shards by chain and time window, balanced by the digests listed, for
    /// a job engine to run one per process (`ctverify --plan PLAN --shard K`), then `merge`.
    #[command(
        after_help = PLAN_EXAMPLES,
        mut_arg("state", |a| a.hide(true)),
        mut_arg("allow_state_in_trail_bucket", |a| a.hide(true)),
        mut_arg("format", |a| a.hide(true))
    )]
    Plan(PlanArgs),
    /// Join the reports of every shard of a plan into one verdict, checking each seam where a
    /// chain was split in time; prints and exits like a single run.
    #[command(after_help = PLAN_EXAMPLES)]
    Merge(MergeArgs),
    /// Print a completion script for SHELL on stdout, for example
    /// `ctverify completions bash > /etc/bash_completion.d/ctverify`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout: `ctverify man | man -l -`.
    Man,
}

/// Examples at the end of `--help`: the runs people come for, ready to edit.
const EXAMPLES: &str = "\
Examples:
  Verify a trail in S3 since a date (bucket and prefix from DescribeTrails):
    ctverify --trail arn:aws:cloudtrail:us-east-1:111122223333:trail/main --from 2026-01-01

  Verify a local copy (`aws s3 sync s3://BUCKET copy/BUCKET`) with keys saved beforehand:
    aws cloudtrail list-public-keys --region us-east-1 \\
      --start-time 2026-01-01T00:00:00Z --end-time 2026-01-08T03:00:00Z > keys.json
    ctverify --trail ARN --from 2026-01-01 --to 2026-01-08 --local copy --public-keys keys.json

  An organization trail, one member account in one source region:
    ctverify --trail arn:aws:cloudtrail:us-east-1:111122223333:trail/org --from 2026-01-01 \\
      --account-id 444455556666 --region eu-west-1

  The whole report as JSON in a file (the exit status still gives the verdict):
    ctverify --trail ARN --from 2026-01-01 --format json > report.json

  An evidence bundle of a week, verified later anywhere, without AWS access, against
  CloudTrail's keys saved from AWS (the bundle's own public-keys.json is its maker's word):
    ctverify export --trail ARN --from 2026-01-01 --to 2026-01-08 --out evidence.tar.gz
    aws cloudtrail list-public-keys --region us-east-1 \\
      --start-time 2026-01-01T00:00:00Z --end-time 2026-01-08T03:00:00Z > keys.json
    ctverify --trail ARN --from 2026-01-01 --to 2026-01-08 --local evidence.tar.gz \\
      --public-keys keys.json

  A scheduled run (cron, hourly) that verifies only what is new since the last one:
    ctverify --trail ARN --from 2026-01-01 --state s3://audit-bucket/main.json   # once
    15 * * * * ctverify -q --trail ARN --state s3://audit-bucket/main.json || page-on-call

  Verdicts as JSON Lines while the run goes, or a JUnit report for CI:
    ctverify --trail ARN --from 2026-01-01 --format jsonl > verdicts.jsonl
    ctverify --trail ARN --from 2026-01-01 --format junit > ctverify-junit.xml

Exit status: 0 valid, 1 INVALID (tampering), 2 UNVERIFIABLE, 3 the run failed.";

/// Examples at the end of `ctverify export --help`.
const EXPORT_EXAMPLES: &str = "\
Examples:
  A week from S3 into one file, then verified anywhere against CloudTrail's keys saved from AWS:
    ctverify export --trail ARN --from 2026-01-01 --to 2026-01-08 --out evidence.tar.gz
    ctverify --trail ARN --from 2026-01-01 --to 2026-01-08 --local evidence.tar.gz \\
      --public-keys keys.json

  A local copy re-bundled into a folder:
    ctverify export --trail ARN --from 2026-01-01 --to 2026-01-08 --local copy \\
      --public-keys keys.json --out bundle

Exit status: that of the verification (0 valid, 1 INVALID, 2 UNVERIFIABLE); 3 the run failed or
the bundle could not be written.";

/// Examples at the end of `ctverify plan --help` and `ctverify merge --help`: the whole sweep.
const PLAN_EXAMPLES: &str = "\
Examples:
  A year in 64 shards, run by a job engine (K = each shard of the plan), then merged:
    ctverify plan --trail ARN --from 2026-01-01 --to 2027-01-01 --shards 64 \\
      --out s3://audit/plan.json
    ctverify --plan s3://audit/plan.json --shard K --out 's3://audit/reports/shard-{}.json'
    ctverify merge --plan s3://audit/plan.json 's3://audit/reports/shard-{}.json'

Exit status: plan 0 when the plan is written, 3 otherwise; merge as a single run (0 valid,
1 INVALID, 2 UNVERIFIABLE), 3 when a shard's report is missing, repeated or of another plan.";

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Lines compatible with `aws cloudtrail validate-logs`, plus ctverify's stricter findings,
    /// each as soon as it is final; the summary last.
    Text,
    /// The whole report as one JSON document on stdout, at the end. It holds every digest, so
    /// its size (and the run's memory) grows with the range: use jsonl for long ranges.
    Json,
    /// One JSON object per line, as verdicts become final: chain_started, digest, log,
    /// checkpoint, seam, gap, unlisted_log, foreign_object, version, chain_error,
    /// versions_error, chain_finished, and summary last (README: "JSON Lines").
    Jsonl,
    /// A JUnit XML report, one test suite per chain, written as each chain finishes: a failure
    /// for each INVALID finding, an error for each UNVERIFIABLE one.
    Junit,
    /// The findings in the AWS Security Finding Format (what Security Hub imports), one JSON
    /// array at the end: each invalid or unverifiable finding, and the trail's summary (README:
    /// "Security Hub and OCSF").
    Asff,
    /// The findings as JSON Lines of OCSF 1.x events at the end: a Detection Finding (2004)
    /// for each invalid or unverifiable finding, a Compliance Finding (2003) for the verdict.
    Ocsf,
}

/// Running one shard of a plan.
#[derive(Debug, Args)]
pub struct ShardArgs {
    /// Verify one shard of this plan (`ctverify plan`; a file or s3://BUCKET/KEY): its chains,
    /// each over its window. --trail, --from and --to come from the plan.
    #[arg(long, value_name = "FILE|s3://BUCKET/KEY", value_parser = parse_location, help_heading = "Shards")]
    pub plan: Option<cloudtrail_verify::storage::Location>,

    /// Which shard, from 0. Default: JOB_COMPLETION_INDEX (a Kubernetes Indexed Job), else
    /// AWS_BATCH_JOB_ARRAY_INDEX (an AWS Batch array job).
    #[arg(long, value_name = "K", requires = "plan", help_heading = "Shards")]
    pub shard: Option<usize>,

    /// Write the whole report to FILE instead of stdout (in text, the findings too, which
    /// otherwise go to stderr; the file is replaced, as by `>`); the terminal gets only the
    /// verdict line. With --plan: also write the shard's JSON report here (a file or
    /// s3://BUCKET/KEY holding `{}`, replaced by the shard's index, so that no two shards
    /// write the same report), for `ctverify merge`.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub out: Option<String>,
}

/// Flags of a sweep's cost estimate: `ctverify plan` prints it, `--dry-run` prints it instead
/// of verifying.
#[derive(Debug, Args)]
pub struct CostArgs {
    /// List the range as a run would, print the S3 requests (LIST, GET), bytes, price and time
    /// the run would take, and stop without reading any object (exit status 0).
    #[arg(long, help_heading = "Cost")]
    pub dry_run: bool,
    /// S3 request prices in US dollars per 1,000 requests for the estimate. Default: S3
    /// Standard in us-east-1, LIST=0.005,GET=0.0004 (<https://aws.amazon.com/s3/pricing/>).
    #[arg(long, value_name = "LIST=USD,GET=USD", value_parser = cloudtrail_verify::cost::Prices::parse, help_heading = "Cost")]
    pub s3_prices: Option<cloudtrail_verify::cost::Prices>,
    /// Requests per second the estimate's time assumes. Default: 6400 (128 requests in flight,
    /// 20 ms each, as S3 answers within a region).
    #[arg(long, value_name = "N", value_parser = parse_rate, help_heading = "Cost")]
    pub request_rate: Option<f64>,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        Ok(_) => Err("a rate is a positive number of requests per second".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Flags of `ctverify plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// How many shards.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000), help_heading = "Shards")]
    pub shards: u32,
    /// Where to write the plan: a file or s3://BUCKET/KEY.
    #[arg(long, value_name = "FILE|s3://BUCKET/KEY", value_parser = parse_location, help_heading = "Shards")]
    pub out: cloudtrail_verify::storage::Location,
    /// The trail and range to split, as for a verification run.
    #[command(flatten)]
    pub verify: VerifyArgs,
}

/// Flags of `ctverify merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The plan the shards ran (a file or s3://BUCKET/KEY).
    #[arg(long, value_name = "FILE|s3://BUCKET/KEY", value_parser = parse_location, help_heading = "Shards")]
    pub plan: cloudtrail_verify::storage::Location,
    /// The shards' reports (files or s3://BUCKET/KEY); `{}` in one stands for every shard index
    /// of the plan (s3://BUCKET/reports/shard-{}.json).
    #[arg(required = true, value_name = "REPORT")]
    pub reports: Vec<String>,
    /// Output format, as for a single run.
    #[arg(long, visible_alias = "output", value_enum, default_value_t = Format::Text, help_heading = "Output")]
    pub format: Format,
    /// Also print a line for every valid digest and log file.
    #[arg(long, short, help_heading = "Output", conflicts_with = "quiet")]
    pub verbose: bool,
    /// Print nothing; the exit status is the verdict (errors that end the run still go to
    /// stderr).
    #[arg(long, short, help_heading = "Output")]
    pub quiet: bool,
    /// How to reach AWS (for s3:// locations).
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Flags of `ctverify export`: those of a verification run, and where to write the bundle.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Where to write the bundle: a new directory, or a new FILE.tar.gz (or .tgz).
    #[arg(long, value_name = "DIR|FILE.tar.gz", help_heading = "Source")]
    pub out: PathBuf,
    /// What to verify and how, as without `export`.
    #[command(flatten)]
    pub verify: VerifyArgs,
}

/// Flags of a verification run.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The trail: its ARN (arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME) or, against S3, its
    /// name, looked up with DescribeTrails in the default region (AWS_REGION, the profile), as
    /// `enable` and `audit` accept it. With --local, give the ARN: its account and region name
    /// the copy's folders.
    #[arg(long, visible_alias = "trail-arn", value_name = "ARN", value_parser = parse_trail, help_heading = "Source")]
    pub trail: Option<TrailRef>,

    /// Start of the range: RFC 3339 (offsets are converted to UTC; no offset means UTC) or a
    /// plain date (midnight UTC).
    #[arg(long, visible_alias = "start-time", value_name = "TIME", value_parser = parse_time, help_heading = "Scope")]
    pub from: Option<DateTime<Utc>>,

    /// End of the range, same forms as --from. Default: two hours before now, the newest time
    /// whose digest CloudTrail has surely delivered; a later end leaves those hours unverifiable.
    #[arg(long, visible_alias = "end-time", value_name = "TIME", value_parser = parse_time, help_heading = "Scope")]
    pub to: Option<DateTime<Utc>>,

    /// Verify a local copy of the trail's bucket: DIR holds one folder per bucket, DIR/BUCKET/KEY
    /// (what `aws s3 sync s3://BUCKET DIR/BUCKET` writes), or an evidence bundle (`ctverify
    /// export`), a folder or its FILE.tar.gz read directly. A digest's signature comes from a
    /// sidecar KEY.metadata.json when present, otherwise from the next digest in the chain.
    #[arg(long, value_name = "DIR|FILE.tar.gz", help_heading = "Source")]
    pub local: Option<PathBuf>,

    /// CloudTrail public keys, as `aws cloudtrail list-public-keys` prints them (JSON with
    /// PublicKeyList). Required with --local, unless DIR is an evidence bundle (`ctverify
    /// export`), whose public-keys.json is then used; against S3, the only keys trusted
    /// (instead of ListPublicKeys at the endpoint of the run).
    #[arg(long, value_name = "FILE", help_heading = "Source")]
    pub public_keys: Option<PathBuf>,

    /// The trail's bucket. With --local, default: the only bucket folder in DIR.
    #[arg(
        long,
        visible_alias = "s3-bucket",
        value_name = "NAME",
        help_heading = "Source"
    )]
    pub bucket: Option<String>,

    /// The trail's S3 key prefix.
    #[arg(
        long,
        visible_alias = "s3-prefix",
        value_name = "PREFIX",
        help_heading = "Source"
    )]
    pub prefix: Option<String>,

    /// Only this account (repeatable); for organization trails, a member account.
    #[arg(long = "account-id", value_name = "ACCOUNT", help_heading = "Scope")]
    pub account_ids: Vec<String>,

    /// Only this source region (repeatable): the region whose events a chain holds, not the
    /// region of API calls (those go to the trail's home region, from the ARN, and the bucket's
    /// region). Default: every region the trail has digests for.
    #[arg(long = "region", value_name = "REGION", help_heading = "Scope")]
    pub regions: Vec<String>,

    /// How to reach AWS.
    #[command(flatten)]
    pub aws: AwsArgs,

    /// Output format.
    #[arg(long, visible_alias = "output", value_enum, default_value_t = Format::Text, help_heading = "Output")]
    pub format: Format,

    /// Also print a line for every valid digest and log file.
    #[arg(long, short, help_heading = "Output", conflicts_with = "quiet")]
    pub verbose: bool,

    /// Print nothing (no report, no findings); the exit status is the verdict. Errors that end
    /// the run (exit status 3) are still printed on stderr, as by grep -q.
    #[arg(long, short, help_heading = "Output")]
    pub quiet: bool,

    /// No progress bar (there is none when stderr is not a terminal anyway).
    #[arg(long, help_heading = "Output")]
    pub no_progress: bool,

    /// Log files read and hashed at once. Default: 128 against S3, where a run is bound by
    /// round trips; twice the number of CPUs with --local, where it is bound by CPU and more in
    /// flight only costs memory (each check holds about 300 KB of buffers).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024), help_heading = "Performance")]
    pub concurrency: Option<u16>,

    /// What the sweep will cost (`--dry-run`, prices, rate).
    #[command(flatten)]
    pub cost: CostArgs,

    /// Largest decompressed log file hashed, in bytes; a larger one is reported unverifiable
    /// (a gzip bomb costs time, never memory).
    #[arg(long, value_name = "BYTES", default_value_t = cloudtrail_verify::DEFAULT_MAX_LOG_BYTES, help_heading = "Performance")]
    pub max_log_bytes: u64,

    /// Resume from a checkpoint state (a file, or s3://BUCKET/KEY) and write the new one: each
    /// chain is verified from where the last run proved it to --to, the checkpoint digest is read
    /// again and must be unchanged, and the first new digest must name it. The first run needs
    /// --from; later ones take it from the state (a --from given verifies from there again, and
    /// moves a checkpoint only if it is not after it). The state only moves past hours proven
    /// valid. Keep it where the trail bucket's writers cannot
    /// write. With s3://, two overlapping runs cannot both write it (the second exits with 3).
    #[arg(long, value_name = "FILE|s3://BUCKET/KEY", value_parser = parse_location, help_heading = "Scope")]
    pub state: Option<cloudtrail_verify::storage::Location>,

    /// Reviewed exceptions (a JSON file, format in the README): an unverifiable coverage gap
    /// lying wholly inside an entry for its chain, before the entry expires, is accepted and
    /// listed with its entry; nothing invalid ever is. The file's SHA-256 is in the provenance.
    #[arg(long, value_name = "FILE", help_heading = "Scope")]
    pub exceptions: Option<PathBuf>,

    /// The time the run takes as now (default: the clock): where `--to` defaults to, what
    /// CloudTrail can have delivered, how far back the event history reaches, which exceptions
    /// have expired. For simulations of a long audit and for tests; a real run uses the clock.
    #[arg(long, value_name = "TIME", hide = true, value_parser = parse_time)]
    pub now: Option<DateTime<Utc>>,

    /// Send the findings to the account's Security Hub in the trail's home region
    /// (BatchImportFindings, ASFF), the trail's summary included. With --state, a finding an
    /// earlier run sent and this one no longer finds is sent once more as resolved. A finding
    /// Security Hub does not import after retries makes the run fail (exit status 3), unless it
    /// is INVALID (1), which it still says.
    #[arg(long, help_heading = "Output")]
    pub security_hub: bool,

    /// Accept a --state kept in the trail's own bucket. Refused by default (exit 3): whoever can
    /// write the trail's objects can usually write the state beside them, and a rewritten
    /// state makes later runs skip hours. Accepted, the report carries a warning saying so.
    #[arg(long, requires = "state", help_heading = "Scope")]
    pub allow_state_in_trail_bucket: bool,

    /// Walk a chain's window in segments of this many hours when verdicts stream (text, jsonl,
    /// junit), so that memory holds one segment's digests (default 168, a week). For tests.
    #[arg(long, value_name = "HOURS", hide = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub segment_hours: Option<u32>,

    /// Do not read S3 version histories. By default, when the bucket has versioning, every
    /// digest and log file's versions are listed: an overwrite or deletion after delivery is
    /// invalid, and CloudTrail's original version is verified and reported beside it.
    #[arg(long, help_heading = "Scope")]
    pub no_versions: bool,
}

fn parse_location(s: &str) -> Result<cloudtrail_verify::storage::Location, String> {
    s.parse()
}

/// A trail as the user named it.
#[derive(Debug, Clone)]
pub enum TrailRef {
    /// By ARN.
    Arn(TrailArn),
    /// By name, to look up.
    Name(String),
}

/// An ARN when the text is one (a malformed ARN is an error, not a name); otherwise a trail
/// name, which CloudTrail allows to be 3 to 128 letters, digits, `.`, `_` and `-`.
fn parse_trail(s: &str) -> Result<TrailRef, String> {
    if s.starts_with("arn:") {
        return s
            .parse()
            .map(TrailRef::Arn)
            .map_err(|e: cloudtrail_verify::TrailArnError| e.to_string());
    }
    let name_ok = (3..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if name_ok {
        Ok(TrailRef::Name(s.to_owned()))
    } else {
        Err(format!(
            "{s:?} is neither a trail ARN (arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME) nor a \
             trail name (3 to 128 letters, digits, '.', '_', '-')"
        ))
    }
}

/// Parses a time: RFC 3339 with its offset converted to UTC, a date-time without offset taken
/// as UTC, or a plain date (midnight UTC).
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    Err(format!(
        "{s:?} is not a time: use RFC 3339 (2026-01-01T10:00:00Z, 2026-01-01T12:00:00+02:00) or a date (2026-01-01)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_offsets_are_converted_not_replaced() {
        assert_eq!(
            parse_time("2026-01-01T12:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2026-01-01T10:00:00+00:00"
        );
        assert_eq!(
            parse_time("2026-01-01").unwrap().to_rfc3339(),
            "2026-01-01T00:00:00+00:00"
        );
        assert_eq!(
            parse_time("2026-01-01T05:06:07").unwrap().to_rfc3339(),
            "2026-01-01T05:06:07+00:00"
        );
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("2026-13-01").is_err());
    }

    #[test]
    fn the_aws_clis_s3_bucket_and_s3_prefix_name_the_bucket_and_prefix() {
        let cli =
            Cli::try_parse_from(["ctverify", "--s3-bucket", "b", "--s3-prefix", "p"]).unwrap();
        assert_eq!(cli.verify.bucket.as_deref(), Some("b"));
        assert_eq!(cli.verify.prefix.as_deref(), Some("p"));
    }

    #[test]
    fn flags_parse() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
