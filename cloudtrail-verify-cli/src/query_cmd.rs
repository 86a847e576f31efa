//! `ctverify query-results`: CloudTrail Lake query results, checked by
//! `cloudtrail_verify::lake`; this module only parses flags and prints the report.

use std::io::Write;
use std::path::PathBuf;

use cloudtrail_verify::lake::{self, LakeOptions, LakeSetupError, QueryResultsReport};
use cloudtrail_verify::{KeySet, Status};

use crate::exit;
use crate::render::{escape, verdict};
use crate::shared_args::{AwsArgs, ReportFormat};

/// Flags of `ctverify query-results`.
///
/// Checks a CloudTrail Lake query's exported results: the RSA signature of result_sign.json
/// over the listed hashes, the SHA-256 of every result file, and that the folder holds nothing
/// the sign file does not list. Exit status: 0 valid, 1 INVALID, 2 UNVERIFIABLE, 3 the run
/// failed.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["s3_bucket", "local"])))]
pub struct QueryResultsArgs {
    /// Bucket the query results were exported to.
    #[arg(long, value_name = "BUCKET", help_heading = "Source")]
    pub s3_bucket: Option<String>,
    /// The folder holding result_sign.json, such as
    /// AWSLogs/ACCOUNT/CloudTrail-Lake/Query/YYYY/MM/DD/QUERY_ID/ (default: the bucket's root).
    #[arg(
        long,
        value_name = "PREFIX",
        requires = "s3_bucket",
        help_heading = "Source"
    )]
    pub s3_prefix: Option<String>,
    /// A local copy of that folder: the directory holding result_sign.json and the result files.
    #[arg(
        long,
        visible_alias = "local-export-path",
        value_name = "DIR",
        conflicts_with = "s3_bucket",
        help_heading = "Source"
    )]
    pub local: Option<PathBuf>,
    /// CloudTrail public keys, as `aws cloudtrail list-public-keys` prints them, covering the
    /// query's completion time. Required with --local.
    #[arg(long, value_name = "FILE", requires = "local", help_heading = "Source")]
    pub public_keys: Option<PathBuf>,
    /// The region the query ran in: a sign file naming another is INVALID. Against S3, API
    /// calls also start there. Default: any region (the sign file's own).
    #[arg(long, value_name = "REGION", help_heading = "Scope")]
    pub region: Option<String>,
    /// How to reach AWS.
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Output format.
    #[arg(long, visible_alias = "output", value_enum, default_value_t = ReportFormat::Text, help_heading = "Output")]
    pub format: ReportFormat,
    /// Also print a line for the sign file and every result file that is valid.
    #[arg(long, short, conflicts_with = "quiet", help_heading = "Output")]
    pub verbose: bool,
    /// Print nothing; the exit status is the verdict.
    #[arg(long, short, help_heading = "Output")]
    pub quiet: bool,
    /// Largest result file hashed, in bytes; a larger one is reported unverifiable.
    #[arg(long, value_name = "BYTES", default_value_t = lake::DEFAULT_MAX_RESULT_FILE_BYTES, help_heading = "Performance")]
    pub max_file_bytes: u64,
}

/// Runs `query-results`; returns the exit status.
pub async fn run_query_results(
    args: &QueryResultsArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    match check(args).await {
        Ok(report) => {
            let (mut no_out, mut no_err) = (std::io::sink(), std::io::sink());
            let (out, err): (&mut dyn Write, &mut dyn Write) = if args.quiet {
                (&mut no_out, &mut no_err)
            } else {
                (out, err)
            };
            let written = match args.format {
                ReportFormat::Text => write_text(out, err, &report, args.verbose),
                ReportFormat::Json => serde_json::to_writer_pretty(&mut *out, &report)
                    .map_err(std::io::Error::from)
                    .and_then(|()| writeln!(out)),
            };
            if let Err(e) = written {
                let _ = writeln!(err, "ctverify query-results: {e}");
                return exit::ERROR;
            }
            match report.status {
                Status::Valid => exit::VALID,
                Status::Invalid => exit::INVALID,
                Status::Unverifiable => exit::UNVERIFIABLE,
            }
        }
        Err(message) => {
            let _ = writeln!(err, "ctverify query-results: {message}");
            exit::ERROR
        }
    }
}

async fn check(args: &QueryResultsArgs) -> Result<QueryResultsReport, String> {
    let options = LakeOptions::default()
        .expect_region(args.region.clone())
        .max_file_bytes(args.max_file_bytes);
    let setup = |e: LakeSetupError| match e {
        LakeSetupError::BadRegion(r) => {
            format!("--region {r:?} is not a region name (such as us-east-1)")
        }
        LakeSetupError::Local { dir, reason } => format!("--local {}: {reason}", dir.display()),
        other => other.to_string(),
    };
    match (&args.local, &args.s3_bucket) {
        (Some(dir), _) => {
            let path = args.public_keys.as_ref().ok_or(
                "--local needs --public-keys KEYS.json (the output of `aws cloudtrail \
                 list-public-keys` over the query's completion time)",
            )?;
            // Regular files only (a FIFO would block the run), capped as a bundle's keys are.
            let bytes = cloudtrail_verify::storage::read_regular_file(
                path,
                cloudtrail_verify::export::MAX_KEYS_BYTES,
            )
            .map_err(|e| format!("cannot read key file {}: {e}", path.display()))?;
            let keys = KeySet::from_list_public_keys_json(&bytes)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            lake::verify_local_query_results(dir, &keys, &options)
                .await
                .map_err(setup)
        }
        (None, Some(bucket)) => {
            let conf = cloudtrail_verify::aws::load(&args.aws.settings(args.region.clone()))
                .await
                .map_err(|e| e.to_string())?;
            let prefix = args.s3_prefix.as_deref().unwrap_or("");
            lake::verify_s3_query_results(&conf, bucket, prefix, &options)
                .await
                .map_err(setup)
        }
        (None, None) => Err("give --s3-bucket BUCKET --s3-prefix PREFIX or --local DIR".into()),
    }
}

/// Lines in the style of trail verification: valid lines on stdout with --verbose, findings on
/// stderr each followed by a blank line, then the summary.
fn write_text(
    out: &mut dyn Write,
    err: &mut dyn Write,
    report: &QueryResultsReport,
    verbose: bool,
) -> std::io::Result<()> {
    writeln!(
        out,
        "Validating query results in {}\n",
        escape(&report.location)
    )?;
    let sign = &report.sign_file;
    let sign_line = format!("Sign file\t{}", escape(&sign.location));
    if sign.problems.is_empty() && verbose {
        writeln!(out, "{sign_line}\tvalid")?;
    }
    for problem in &sign.problems {
        writeln!(
            err,
            "{sign_line}\t{}: {}\n",
            verdict(problem.status()),
            escape(&problem.to_string())
        )?;
    }
    for file in &report.files {
        let line = format!("Result file\t{}", escape(&file.location));
        match &file.problem {
            None if verbose => writeln!(out, "{line}\tvalid")?,
            None => {}
            Some(problem) => writeln!(
                err,
                "{line}\t{}: {}\n",
                verdict(problem.status()),
                escape(&problem.to_string())
            )?,
        }
    }
    if report.unlisted_not_shown > 0 {
        writeln!(
            err,
            "Result file\t{}\tINVALID: {} more objects not listed in the sign file\n",
            escape(&report.location),
            report.unlisted_not_shown
        )?;
    }
    if let Some(problem) = &report.listing_problem {
        writeln!(
            err,
            "Folder\t{}\tUNVERIFIABLE: {}\n",
            escape(&report.location),
            escape(&problem.to_string())
        )?;
    }
    if let (Some(region), Some(time)) = (&sign.region, sign.query_complete_time) {
        writeln!(
            out,
            "Query completed at {} in {}",
            cloudtrail_verify::messages::display_date(time),
            escape(region)
        )?;
    }
    writeln!(out)?;
    writeln!(out, "1/1 sign files {}", verdict(sign.status))?;
    let c = &report.counts;
    let total = c.total();
    let mut line = format!("{}/{total} result files valid", c.valid);
    if c.invalid > 0 {
        line.push_str(&format!(", {}/{total} result files INVALID", c.invalid));
    }
    if c.unverifiable > 0 {
        line.push_str(&format!(
            ", {}/{total} result files UNVERIFIABLE",
            c.unverifiable
        ));
    }
    writeln!(out, "{line}")
}
