//! Sharded sweeps on the command line: `ctverify plan` writes a plan, `ctverify merge` joins
//! the shards' reports into the verdict a single run gives (the rules are the library's
//! `plan` module).

use crate::cli::{self, Format};
use crate::{Fatal, exit, exit_status, jsonl, junit, open_store, render};
use cloudtrail_verify::storage::Location;
use cloudtrail_verify::{Report, Verifier};
use std::io::Write;

/// Reads a plan from where it is kept.
pub(crate) async fn read_plan(
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

/// Splits a prepared run into shards, writes the plan and says what each shard holds.
pub(crate) async fn write_plan(
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
    crate::cost_cmd::print_estimate(verifier, &plan_args.verify.cost, out).await?;
    Ok(exit::VALID)
}

/// `ctverify merge`: reads the plan and every shard's report, joins them, prints the verdict.
pub(crate) async fn run_merge(
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
    let mut merged = cloudtrail_verify::plan::merge(&plan, reports)?;
    let now = chrono::Utc::now();
    cloudtrail_verify::report_findings::attach(&mut merged, now);
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
                &merged.trail.to_string(),
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
            let mut stream = jsonl::JsonlWriter::new(out).trail(merged.trail.to_string());
            replay(&merged, &mut stream);
            stream.finish(&merged)?;
        }
        Format::Junit => {
            let mut stream = junit::JunitWriter::new(out).trail(merged.trail.to_string());
            replay(&merged, &mut stream);
            stream.finish(&merged)?;
        }
        Format::Asff | Format::Ocsf => crate::findings_out::write(args.format, &merged, now, out)?,
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
