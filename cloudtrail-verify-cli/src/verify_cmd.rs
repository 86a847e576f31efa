//! Runs a checked [`VerifyRun`]: routes the output (terminal, `--out FILE`, `-q`), builds the
//! library's verifier, runs it under the chosen format's renderer, then writes what the run
//! keeps (the state, a shard's report) and ends with the verdict line. It decides nothing: the
//! verdict is the library's, the refusals were `verify_config`'s.

use crate::cli::{self, Format, TrailRef};
use crate::progress::{BarLines, ClearBar, ProgressBar};
use crate::verify_config::{CheckedJob, ReportFile, SourceRun, StateRun, VerifyRun};
use crate::{Fatal, exit, exit_status, jsonl, junit, render};
use cloudtrail_verify::state::{KeptState, State};
use cloudtrail_verify::{Progress, Report, SetupError, Verifier, VerifierBuilder, aws};
use std::io::{IsTerminal, Write};
use std::sync::Arc;

/// Runs `run`, writing the report to `out` and findings to `err` (or where `--out` and `-q`
/// send them); returns the exit status.
pub(crate) async fn run_verify(
    run: VerifyRun<'_>,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<u8, Fatal> {
    let args = run.args;
    // --out FILE: the whole report goes to the file (in text, the findings too, in the order
    // they came), and the terminal gets only the verdict line; -q silences the terminal only.
    let report_file = match &run.job {
        CheckedJob::Verify(Some(file)) => Some(file),
        _ => None,
    };
    let terminal_out = out;
    let (mut routed_out, mut routed_err) = route(args, report_file, &mut *terminal_out, err);
    let bar = (!args.quiet && !args.no_progress && std::io::stderr().is_terminal())
        .then(ProgressBar::new);
    // However the run ends (a failed setup, a plan written, an error), the bar is cleared: a
    // stray "0/0 digests" must not stay on the final screen.
    let _clear_bar = ClearBar(bar.clone());
    // The report shares the terminal with the bar: each of its lines is written with the bar
    // lifted, so that no line lands after the bar's text and the bar stays below the report.
    let mut out_lines = BarLines::new(&mut *routed_out, bar.as_ref().map(|b| b.bar.clone()));
    let mut err_lines = BarLines::new(&mut *routed_err, bar.as_ref().map(|b| b.bar.clone()));
    let (out, err): (&mut (dyn Write + Send), &mut (dyn Write + Send)) =
        (&mut out_lines, &mut err_lines);
    let verifier = prepare(&run, bar.clone()).await?;
    if args.cost.dry_run {
        return crate::cost_cmd::print_estimate(&verifier, &args.cost, out)
            .await
            .map(|()| exit::VALID);
    }
    if let CheckedJob::Plan(plan_args) = &run.job {
        return crate::plan_cmd::write_plan(
            &verifier,
            plan_args,
            args.local.as_deref(),
            &args.aws,
            out,
        )
        .await;
    }
    let text = args.format == Format::Text;
    let looked_in = looked_in(&run, &verifier);
    let resumed = run.state.as_ref().and_then(StateRun::resumed_from);
    let new_state = run.state.as_ref().map(|state| {
        let target = verifier.target();
        state.loaded.state.clone().unwrap_or_else(|| {
            State::new(
                target.arn.clone(),
                target.location.bucket.clone(),
                target.location.prefix.clone(),
                run.range.start(),
            )
        })
    });
    if text {
        // A resumed run starts at its earliest checkpoint (a chain without one at the state's
        // start), as its report's requested start does.
        let start = resumed
            .and_then(|s| s.checkpoints().values().map(|h| h.end_time).min())
            .map_or(run.range.start(), |t| t.max(run.range.start()));
        render::write_header(
            out,
            &verifier.target().arn.to_string(),
            start,
            run.range.end(),
        )?;
        render::write_looked_in(out, &looked_in)?;
    }
    // A --state run says, before the verdict line, what it did with the state: the renderer
    // leaves that line to the end of this function. So does a shard, saying where its report
    // went.
    let shard = match &run.job {
        CheckedJob::Shard(shard) => Some(shard),
        _ => None,
    };
    let state_text = text && (run.state.is_some() || shard.is_some());
    let state_location = run
        .state
        .as_ref()
        .filter(|s| s.resumed_from().is_some())
        .map(|s| s.store.location().to_string());
    let renderer = |out, err| {
        render::TextRenderer::new(out, err, args.verbose)
            .looked_in(&looked_in)
            .now(run.now)
            .state(state_location.clone())
            .verdict(!state_text)
    };
    let (mut report, bundle) = match &run.job {
        CheckedJob::Export(path) => {
            let (report, summary) = cloudtrail_verify::export::export(verifier, path).await?;
            if text {
                renderer(&mut *out, &mut *err).write_report(&report)?;
            }
            (report, Some(summary))
        }
        _ => {
            let bar = bar.as_deref();
            let trail = verifier.target().arn.to_string();
            let report = run_in_format(
                verifier,
                args.format,
                (run.now, trail),
                bar,
                &mut *out,
                &mut *err,
                renderer,
            )
            .await?;
            (report, None)
        }
    };
    if let Some(bar) = bar {
        bar.bar.finish_and_clear();
    }
    // One finding list, with stable ids, for the JSON report and every other format.
    cloudtrail_verify::report_findings::attach(&mut report, run.now);
    let (advanced, hub_error) = send_and_advance(&run, new_state, &mut report, err).await?;
    if args.format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    }
    crate::findings_out::write(args.format, &report, run.now, out)?;
    if let Some(bundle) = bundle {
        render::write_bundle_summary(err, &bundle, report.status)?;
    }
    let status = exit_status(&report);
    let verdict = cloudtrail_verify::messages::verdict_line(&report, run.now);
    if let Some(shard) = shard {
        let said = write_shard_report(shard, &report, status, err).await?;
        if state_text {
            writeln!(out, "{}\n\n{verdict}", render::escape(&said))?;
        }
    }
    if let (Some(state), Some(advanced)) = (&run.state, advanced) {
        let said = write_state(state, &advanced, &report, status, err).await?;
        if state_text {
            writeln!(out, "{}\n\n{verdict}", render::escape(&said))?;
        }
    }
    if let Some(e) = &hub_error
        && status == exit::INVALID
    {
        writeln!(err, "ctverify: {e}")?;
    }
    // Everything for the report is written (the last partial line passed on).
    drop(out_lines);
    drop(err_lines);
    drop(routed_out);
    drop(routed_err);
    // --out FILE: the file is complete; the terminal gets where it is and the verdict.
    if let Some(file) = report_file {
        let mut writer = file.writer.clone();
        writer
            .flush()
            .map_err(|e| Fatal(format!("--out {}: {e}", file.path.display())))?;
        if !args.quiet {
            writeln!(
                terminal_out,
                "Report written to {}\n{verdict}",
                render::escape(&file.path.display().to_string()),
            )?;
        }
    }
    // Findings Security Hub did not take: the run failed (exit status 3), after everything else
    // was done (the state written); evidence of tampering still outranks it.
    if let Some(e) = hub_error
        && status != exit::INVALID
    {
        return Err(Fatal(e));
    }
    Ok(status)
}

/// What the run keeps once its report is final: with `--security-hub`, the findings sent (an
/// error when Security Hub did not take them all, returned for the end of the run); with
/// `--state`, the state it will write, decided now so that the report names it by SHA-256 beside
/// the one it started from (successive reports then form a chain of audits), and which findings
/// it has sent.
async fn send_and_advance(
    run: &VerifyRun<'_>,
    new_state: Option<State>,
    report: &mut Report,
    err: &mut (dyn Write + Send),
) -> Result<(Option<State>, Option<String>), Fatal> {
    let sent = match run.args.security_hub {
        true => {
            let previous = new_state.as_ref().map_or(&[][..], |s| &s.sent_findings[..]);
            Some(
                crate::findings_out::send_to_security_hub(&run.args.aws, report, previous, run.now)
                    .await,
            )
        }
        false => None,
    };
    let mut hub_error = None;
    if let Some(sent) = &sent {
        writeln!(err, "{}", sent.said)?;
        hub_error = sent.error.clone();
    }
    let (Some(state), Some(new_state)) = (&run.state, new_state) else {
        return Ok((None, hub_error));
    };
    let mut advanced = new_state.advanced(report);
    if let Some(sent) = sent {
        advanced = sent.into_state(advanced);
    }
    report.state = Some(cloudtrail_verify::report::StateRecord {
        location: state.store.location().to_string(),
        read_sha256: state.loaded.sha256.clone(),
        written_sha256: advanced.sha256(),
    });
    Ok((Some(advanced), hub_error))
}

/// Runs the walk under the format's streaming writer, which prints each verdict as it becomes
/// final (JSON waits for the whole report, printed by the caller).
async fn run_in_format<'w>(
    verifier: Verifier,
    format: Format,
    (now, trail): (chrono::DateTime<chrono::Utc>, String),
    bar: Option<&ProgressBar>,
    out: &'w mut (dyn Write + Send),
    err: &'w mut (dyn Write + Send),
    renderer: impl FnOnce(
        &'w mut (dyn Write + Send),
        &'w mut (dyn Write + Send),
    ) -> render::TextRenderer<'w>,
) -> Result<Report, Fatal> {
    Ok(match format {
        // Whole-report formats: written by the caller once the run is over.
        Format::Json | Format::Asff | Format::Ocsf => verifier.run().await,
        Format::Text => {
            let mut stream = render::TextStream::new(renderer(out, err));
            let report = verifier.run_observed(&mut stream).await;
            // The bar goes before the summary, so that it does not stay on the final screen.
            if let Some(bar) = bar {
                bar.bar.finish_and_clear();
            }
            stream.finish(&report)?;
            report
        }
        Format::Jsonl => {
            let mut stream = jsonl::JsonlWriter::new(out).now(now).trail(trail);
            let report = verifier.run_observed(&mut stream).await;
            stream.finish(&report)?;
            report
        }
        Format::Junit => {
            let mut stream = junit::JunitWriter::new(out).now(now).trail(trail);
            let report = verifier.run_observed(&mut stream).await;
            stream.finish(&report)?;
            report
        }
    })
}

/// Where the report and its findings go: with `--out FILE`, the whole report to the file (in
/// text, the findings too, in the order they came) and the terminal only the verdict line;
/// `-q` silences the terminal only (errors that end the run still reach stderr, through
/// [`Fatal`]).
fn route<'a>(
    args: &cli::VerifyArgs,
    report_file: Option<&ReportFile>,
    out: &'a mut (dyn Write + Send),
    err: &'a mut (dyn Write + Send),
) -> (Box<dyn Write + Send + 'a>, Box<dyn Write + Send + 'a>) {
    let sink = || -> Box<dyn Write + Send + 'a> { Box::new(std::io::sink()) };
    match report_file.map(|f| f.writer.clone()) {
        Some(file) if args.format == Format::Text => (Box::new(file.clone()), Box::new(file)),
        Some(file) if args.quiet => (Box::new(file), sink()),
        Some(file) => (Box::new(file), Box::new(err)),
        None if args.quiet => (sink(), sink()),
        None => (Box::new(out), Box::new(err)),
    }
}

/// The library's verifier for `run`, prepared: trail resolved, state rules checked, chains
/// found, keys read.
async fn prepare(run: &VerifyRun<'_>, bar: Option<Arc<ProgressBar>>) -> Result<Verifier, Fatal> {
    let args = run.args;
    let mut builder = builder(run).await?;
    if let Some(bucket) = &args.bucket {
        builder = builder.bucket(bucket);
    }
    if let Some(prefix) = &args.prefix {
        builder = builder.prefix(prefix);
    }
    if let CheckedJob::Shard(shard) = &run.job {
        builder = builder
            .bucket(&shard.plan.header.bucket)
            .shard(&shard.plan, shard.index)?;
        if let Some(prefix) = &shard.plan.header.prefix {
            builder = builder.prefix(prefix);
        }
    }
    builder = builder.accounts(&args.account_ids).regions(&args.regions);
    if let Some(state) = &run.state {
        if let Some(resumed) = state.resumed_from() {
            builder = builder.resume_from(resumed);
        }
        builder = builder.state(KeptState {
            location: state.store.location().clone(),
            state: state.loaded.state.clone(),
            allow_in_trail_bucket: args.allow_state_in_trail_bucket,
        });
    }
    if let Some(exceptions) = &run.exceptions {
        builder = builder.exceptions(exceptions.clone());
    }
    if let Some(n) = args.concurrency {
        builder = builder.concurrency(usize::from(n));
    }
    let mut options = run.options.clone();
    options.progress = bar.map(|b| b as Arc<dyn Progress>);
    builder
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
        })
}

/// The verifier's builder for the run's source: a local copy with its keys, or S3 through a
/// session the library sets up (which reports what in it changes whom the keys come from).
async fn builder(run: &VerifyRun<'_>) -> Result<VerifierBuilder, Fatal> {
    Ok(match &run.source {
        SourceRun::Local {
            dir,
            archive,
            keys,
            keys_from,
            keys_in_copy,
            arn,
        } => {
            let mut builder = Verifier::from_local(dir, keys.clone(), arn.clone(), run.range)
                .keys_source(keys_from.clone());
            if let Some((archive, _)) = archive {
                builder = builder.described_as(format!("{} (unpacked)", archive.display()));
            }
            if *keys_in_copy {
                builder.keys_from_the_copy()
            } else {
                builder
            }
        }
        SourceRun::S3 { pinned } => {
            let arn = match &run.trail {
                TrailRef::Arn(arn) => arn.clone(),
                TrailRef::Name(name) => {
                    let conf = aws::load(&run.args.aws.settings(None)).await?;
                    Verifier::trail_arn_by_name(&conf, name).await?
                }
            };
            let builder = Verifier::from_aws(&run.args.aws.settings(None), arn, run.range).await?;
            match pinned {
                Some((keys, from)) => builder.public_keys(keys.clone()).keys_source(from.clone()),
                None => builder,
            }
        }
    })
}

/// Where the text report says the run looked.
fn looked_in(run: &VerifyRun<'_>, verifier: &Verifier) -> render::LookedIn {
    render::LookedIn {
        // An archive is named as given, not by the private folder it was unpacked into.
        accounts_folder: match &run.source {
            SourceRun::Local {
                archive: Some((archive, scratch)),
                ..
            } => verifier.accounts_folder().replacen(
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
    }
}

/// Writes a shard's report where `--out` said; returns the line that says what was done.
async fn write_shard_report(
    shard: &crate::verify_config::ShardRun,
    report: &Report,
    status: u8,
    err: &mut (dyn Write + Send),
) -> Result<String, Fatal> {
    let mut said = format!(
        "Shard {} of {} of the plan",
        shard.index,
        shard.plan.shards.len()
    );
    if let Some(store) = &shard.report_to {
        let mut bytes = serde_json::to_vec_pretty(report)?;
        bytes.push(b'\n');
        match store.write(bytes).await {
            Ok(()) => said.push_str(&format!(": report written to {}", store.location())),
            // As for a state: evidence of tampering outranks a report that was not written
            // (and the verdict line still ends the text).
            Err(e) if status == exit::INVALID => {
                let _ = writeln!(err, "ctverify: the shard's report was not written: {e}");
                said.push_str(&format!(": its report was not written: {e}"));
            }
            Err(e) => return Err(Fatal(format!("the shard's report was not written: {e}"))),
        }
    }
    Ok(said)
}

/// Writes the advanced state, after the verdict is out: a run that dies before this leaves the
/// old state, and the next one verifies the same hours again. Returns the line that says what
/// was done.
async fn write_state(
    state: &StateRun,
    advanced: &State,
    report: &Report,
    status: u8,
    err: &mut (dyn Write + Send),
) -> Result<String, Fatal> {
    match state.store.save(advanced, &state.loaded).await {
        Ok(()) => {
            let mut said = render::state_written(
                &state.store.location().to_string(),
                state.loaded.state.as_ref(),
                advanced,
            );
            if let Some(record) = &report.state {
                said.push_str(&format!(
                    " (SHA-256 {}, the run started from {})",
                    record.written_sha256,
                    record.read_sha256.as_deref().unwrap_or("no state")
                ));
            }
            Ok(said)
        }
        Err(e) => {
            // Evidence of tampering outranks a state that could not be written; otherwise the
            // run failed (exit status 3), said even with -q.
            if status != exit::INVALID {
                return Err(Fatal(format!("the state was not written: {e}")));
            }
            let _ = writeln!(err, "ctverify: the state was not written: {e}");
            Ok(format!(
                "The state {} was not written: {e}",
                state.store.location()
            ))
        }
    }
}
