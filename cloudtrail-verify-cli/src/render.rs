//! Text rendering of a report, line-compatible with `aws cloudtrail validate-logs`: the same
//! header, summary and `INVALID` lines (INVALID lines on stderr, each followed by a blank line),
//! with ctverify's stricter findings as further lines in the same style.

use chrono::{DateTime, Utc};
use cloudtrail_verify::layout::ChainId;
use cloudtrail_verify::report::VersionCheck;
use cloudtrail_verify::{
    ChainReport, Counts, DigestProblem, DigestReport, GapKind, LogProblem, LogReport,
    ObjectProblem, Provenance, Report, Status,
};
use std::io::{self, Write};

pub use cloudtrail_verify::messages::escape;
use cloudtrail_verify::messages::plural;

/// `2026-01-01T00:00:00Z`: the format of the AWS CLI's report lines.
pub use cloudtrail_verify::messages::display_date;

/// The first line, printed before the run starts.
pub fn write_header(
    out: &mut dyn Write,
    trail: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> io::Result<()> {
    writeln!(
        out,
        "Validating log files for trail {trail} between {} and {}\n",
        display_date(start),
        display_date(end)
    )
}

/// Where a run looked: said before the results, so a reader knows what was checked.
#[derive(Debug, Clone, Default)]
pub struct LookedIn {
    /// `s3://BUCKET/[PREFIX/]AWSLogs/[ORG/]` or that folder of a local copy: the folder
    /// holding one folder per account.
    pub accounts_folder: String,
    /// The chains to verify (account, region).
    pub chains: Vec<ChainId>,
    /// Whether those chains are only what the bucket holds (plus the home region): said once,
    /// on the "Reading" line, instead of as a warning.
    pub found_in_bucket: bool,
}

impl LookedIn {
    fn folder(&self) -> std::borrow::Cow<'_, str> {
        escape(&self.accounts_folder)
    }
}

/// The line after the header: the folder read and the chains found in it.
pub fn write_looked_in(out: &mut dyn Write, looked_in: &LookedIn) -> io::Result<()> {
    let chains: Vec<String> = looked_in.chains.iter().map(ToString::to_string).collect();
    let listed = match chains.len() {
        0 => "no chains found".to_owned(),
        1..=20 => format!("chains (account/region) {}", chains.join(", ")),
        n => format!(
            "{n} chains (account/region) {}, ...",
            chains[..20].join(", ")
        ),
    };
    let scope = if looked_in.found_in_bucket {
        " (the chains found in the bucket, plus the trail's home region: one whose files were all \
         deleted goes unnoticed unless named with --region/--account-id)"
    } else {
        ""
    };
    writeln!(
        out,
        "Reading {}: {}{scope}\n",
        looked_in.folder(),
        escape(&listed)
    )
}

/// Writes per-file lines (problems always, valid files with `verbose`) and the summary.
pub struct TextRenderer<'a> {
    out: &'a mut (dyn Write + Send),
    err: &'a mut (dyn Write + Send),
    verbose: bool,
    looked_in: Option<&'a LookedIn>,
    now: DateTime<Utc>,
    /// The `--state` resumed from, when the run resumed one.
    state: Option<String>,
    /// Whether the verdict line ends what is written (otherwise the caller writes it).
    verdict: bool,
}

impl<'a> TextRenderer<'a> {
    /// A renderer writing results to `out` and findings to `err`.
    pub fn new(
        out: &'a mut (dyn Write + Send),
        err: &'a mut (dyn Write + Send),
        verbose: bool,
    ) -> Self {
        TextRenderer {
            out,
            err,
            verbose,
            looked_in: None,
            now: Utc::now(),
            state: None,
            verdict: true,
        }
    }

    /// Says what a run resumed from the state at `location` (if any) did: each checkpoint
    /// read again, the hours verified, "nothing new" when nothing was; the provenance names no
    /// `--from`.
    pub fn state(mut self, location: Option<String>) -> Self {
        self.state = location;
        self
    }

    /// Whether the verdict line ends what is written (default); without, the caller has more
    /// to say before it (the state written) and writes
    /// [`cloudtrail_verify::messages::verdict_line`] last itself.
    pub fn verdict(mut self, last: bool) -> Self {
        self.verdict = last;
        self
    }

    /// The time the verdict line's proof lag is counted to (default: the clock).
    pub fn now(mut self, now: DateTime<Utc>) -> Self {
        self.now = now;
        self
    }

    /// Says where the run looked when it found nothing.
    pub fn looked_in(mut self, looked_in: &'a LookedIn) -> Self {
        self.looked_in = Some(looked_in);
        self
    }

    /// Everything after the header.
    pub fn write_report(&mut self, report: &Report) -> io::Result<()> {
        self.write_notes(report)?;
        for chain in &report.chains {
            self.write_chain(chain)?;
        }
        self.write_end(report)
    }

    /// What follows a run whose chains were written as they came ([`Self::write_digest`],
    /// [`Self::write_chain_findings`]): the run's warnings, then the end.
    pub fn write_streamed_end(&mut self, report: &Report) -> io::Result<()> {
        self.write_notes(report)?;
        self.write_end(report)
    }

    /// The run's warnings and the bundle's discrepancies.
    fn write_notes(&mut self, report: &Report) -> io::Result<()> {
        let scope_said = self.looked_in.is_some_and(|l| l.found_in_bucket);
        for warning in &report.warnings {
            if scope_said && warning == cloudtrail_verify::messages::SCOPE_FOUND_IN_BUCKET {
                continue;
            }
            // Warnings quote AWS's answers (error messages, key ids): escaped like bucket text.
            self.finding(&format!("Warning: {}", escape(warning)))?;
        }
        for problem in &report.bundle_problems {
            let path = problem.path();
            self.finding(&format!(
                "Bundle file\t{}\t{}: {}",
                escape(path),
                problem.status().as_str().to_uppercase(),
                escape(&problem.to_string())
            ))?;
        }
        Ok(())
    }

    /// The summary, the bundle's verdict and the provenance.
    fn write_end(&mut self, report: &Report) -> io::Result<()> {
        self.write_summary(report)?;
        if !report.bundle_problems.is_empty() {
            writeln!(
                self.out,
                "{} INVALID: the bundle is not as it was made\n",
                plural(
                    report.bundle_problems.len() as u64,
                    "bundle discrepancy",
                    "bundle discrepancies"
                )
            )?;
        }
        if let Some(provenance) = &report.provenance {
            write_provenance(self.out, report, provenance, self.state.as_deref())?;
        }
        if !self.verdict {
            return Ok(());
        }
        // Last, on stdout: the one line a person reading `> report.txt` and a log search both
        // find, with the first finding (the findings themselves went to stderr).
        writeln!(
            self.out,
            "\n{}",
            cloudtrail_verify::messages::verdict_line(report, self.now)
        )
    }

    fn finding(&mut self, line: &str) -> io::Result<()> {
        writeln!(self.err, "{line}\n")
    }

    fn write_chain(&mut self, chain: &ChainReport) -> io::Result<()> {
        for digest in &chain.digests {
            self.write_digest(digest)?;
        }
        self.write_chain_findings(chain)
    }

    /// A chain's findings that are not about one digest: a failed walk, the checkpoint's join,
    /// coverage gaps, foreign objects, unlisted log files, changed versions.
    pub fn write_chain_findings(&mut self, chain: &ChainReport) -> io::Result<()> {
        if let Some(error) = &chain.error {
            self.finding(&format!(
                "Chain\taccount {} region {}\tUNVERIFIABLE: {}",
                chain.chain.account_id,
                chain.chain.region,
                escape(error)
            ))?;
        }
        if let Some(check) = &chain.checkpoint {
            let location = format!(
                "Checkpoint\ts3://{}/{}",
                escape(&check.checkpoint.bucket),
                escape(&check.checkpoint.key)
            );
            if check.problems.is_empty() && self.verbose {
                writeln!(
                    self.out,
                    "{location}\tvalid: unchanged, and the chain joins it"
                )?;
            }
            for problem in &check.problems {
                self.finding(&format!(
                    "{location}\t{}: {}",
                    verdict(problem.status()),
                    escape(&problem.to_string())
                ))?;
            }
        }
        let where_ = format!(
            "account {} region {}",
            chain.chain.account_id, chain.chain.region
        );
        // Where the chain was verified in parts (shards, week-long segments): each join.
        for seam in &chain.seams {
            let location = format!(
                "Seam\t{where_} at {}",
                display_date(seam.checkpoint.end_time)
            );
            if seam.problems.is_empty() && self.verbose {
                writeln!(self.out, "{location}\tvalid: the parts join")?;
            }
            for problem in &seam.problems {
                self.finding(&format!(
                    "{location}\t{}: {}",
                    verdict(problem.status()),
                    escape(&problem.to_string())
                ))?;
            }
        }
        for gap in &chain.gaps {
            if matches!(gap.kind, GapKind::ChainRestart | GapKind::LoggingOff) {
                // The AWS CLI's line for a chain restart, before ctverify says what it does not.
                writeln!(
                    self.out,
                    "No log files were delivered by CloudTrail between {} and {}",
                    display_date(gap.start),
                    display_date(gap.end)
                )?;
            }
            if gap.status == Status::Valid {
                // A pause the event history proves: information, not a finding.
                writeln!(self.out, "Coverage\t{where_}\tvalid: {gap}")?;
                continue;
            }
            self.finding(&format!(
                "Coverage\t{where_}\t{}: {gap}",
                verdict(gap.status)
            ))?;
        }
        for foreign in &chain.foreign_objects {
            self.finding(&format!(
                "Object\ts3://{}/{}\t{}: not a file of this trail ({})",
                escape(&foreign.bucket),
                escape(&foreign.key),
                verdict(foreign.status),
                escape(&foreign.reason)
            ))?;
        }
        if chain.foreign_objects_omitted > 0 {
            self.finding(&format!(
                "Object\t{where_}\tINVALID: {} further objects that are not files of this trail",
                chain.foreign_objects_omitted
            ))?;
        }
        // A deleted digest leaves every log file it listed unlisted: the first few of each
        // finding are named, the rest counted in one line (--verbose names them all; the JSON
        // report lists each).
        const NAMED: usize = 3;
        let mut seen: Vec<(Status, String, usize)> = Vec::new();
        for log in &chain.unlisted_logs {
            let Some(problem) = &log.problem else {
                continue;
            };
            let text = problem.to_string();
            let count = match seen
                .iter_mut()
                .find(|(st, t, _)| *st == problem.status() && *t == text)
            {
                Some(entry) => {
                    entry.2 += 1;
                    entry.2
                }
                None => {
                    seen.push((problem.status(), text, 1));
                    1
                }
            };
            if self.verbose || count <= NAMED {
                self.write_log(log, false)?;
            }
        }
        for (status, text, count) in seen {
            if !self.verbose && count > NAMED {
                self.finding(&format!(
                    "Log file\t{where_}\t{}: {} more {}: {}",
                    verdict(status),
                    count - NAMED,
                    if count - NAMED == 1 {
                        "log file"
                    } else {
                        "log files"
                    },
                    escape(&text)
                ))?;
            }
        }
        if let Some(error) = &chain.versions_error {
            self.finding(&format!(
                "Versions\t{where_}\tUNVERIFIABLE: {}",
                escape(error)
            ))?;
        }
        for changed in &chain.versions {
            let what = if changed.key.contains("/CloudTrail-Digest/") {
                "Digest file"
            } else {
                "Log file"
            };
            self.finding(&format!(
                "{what}\ts3://{}/{}\t{}: {}",
                escape(&changed.bucket),
                escape(&changed.key),
                verdict(changed.status),
                escape(&changed.to_string())
            ))?;
        }
        if chain.versions_omitted > 0 {
            self.finding(&format!(
                "Versions\t{where_}\tINVALID: {} further objects changed after delivery",
                chain.versions_omitted
            ))?;
        }
        Ok(())
    }

    /// A digest's lines: its problems, then its log files' (valid ones with `verbose`).
    pub fn write_digest(&mut self, digest: &DigestReport) -> io::Result<()> {
        let tag = if digest.backfill { "(backfill) " } else { "" };
        let location = format!(
            "{tag}Digest file\ts3://{}/{}",
            escape(&digest.bucket),
            escape(&digest.key)
        );
        if digest.problems.is_empty() && self.verbose {
            writeln!(self.out, "{location}\tvalid")?;
        }
        for problem in &digest.problems {
            self.finding(&format!(
                "{location}\t{}: {}",
                verdict(problem.status()),
                escape(&problem.to_string())
            ))?;
        }
        if digest.logs_not_checked > 0 {
            self.finding(&format!(
                "{location}\tUNVERIFIABLE: its {} not checked: the digest did not verify",
                plural(digest.logs_not_checked, "log file was", "log files were")
            ))?;
        }
        for log in &digest.logs {
            self.write_log(log, digest.backfill)?;
        }
        Ok(())
    }

    fn write_log(&mut self, log: &LogReport, backfill: bool) -> io::Result<()> {
        let tag = if backfill { "(backfill) " } else { "" };
        let location = format!(
            "{tag}Log file\ts3://{}/{}",
            escape(&log.bucket),
            escape(&log.key)
        );
        match &log.problem {
            None if self.verbose => writeln!(self.out, "{location}\tvalid"),
            None => Ok(()),
            Some(problem) => self.finding(&format!(
                "{location}\t{}: {}",
                verdict(problem.status()),
                escape(&problem.to_string())
            )),
        }
    }

    fn write_summary(&mut self, report: &Report) -> io::Result<()> {
        let s = &report.summary;
        writeln!(
            self.out,
            "Results requested for {} to {}",
            display_date(report.requested_start),
            display_date(report.requested_end)
        )?;
        if self.state.is_some() {
            self.write_resumed(report)?;
        }
        let resumed =
            |c: &ChainReport| c.checkpoint.as_ref().is_some_and(|k| k.problems.is_empty());
        if s.digests.total() == 0 && self.state.is_some() && report.chains.iter().all(resumed) {
            // Not a misconfiguration: CloudTrail has delivered nothing past the checkpoints yet.
            writeln!(
                self.out,
                "Nothing new since the checkpoint ({}): CloudTrail delivers an hour's digest \
                 file up to about an hour after the hour",
                report
                    .chains
                    .iter()
                    .filter_map(|c| c.checkpoint.as_ref().map(|k| format!(
                        "{} at {}",
                        c.chain,
                        display_date(k.checkpoint.end_time)
                    )))
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
            return writeln!(self.out);
        }
        if s.digests.total() == 0 {
            writeln!(self.out, "No digests found")?;
            if let Some(looked_in) = self.looked_in {
                writeln!(
                    self.out,
                    "Looked in {}ACCOUNT/CloudTrail-Digest/REGION/ for {}",
                    looked_in.folder(),
                    report
                        .chains
                        .iter()
                        .map(|c| c.chain.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )?;
            }
            return Ok(());
        }
        match (report.found_start(), report.found_end()) {
            (Some(a), Some(b)) => writeln!(
                self.out,
                "Results found for {} to {}:",
                display_date(a),
                display_date(b)
            )?,
            _ => writeln!(self.out, "No valid digests found in range")?,
        }
        writeln!(self.out)?;
        writeln!(self.out, "{}", ratio(&s.digests, "digest"))?;
        if s.logs.total() > 0 {
            writeln!(self.out, "{}", ratio(&s.logs, "log"))?;
        }
        if s.logs_not_checked > 0 {
            writeln!(
                self.out,
                "{} not checked: listed by digest files that did not verify",
                plural(s.logs_not_checked, "log file", "log files")
            )?;
        }
        if s.unlisted_logs.invalid > 0 {
            writeln!(
                self.out,
                "{} INVALID: in the bucket but listed by no digest file",
                plural(s.unlisted_logs.invalid, "log file", "log files")
            )?;
        }
        if s.unlisted_logs.unverifiable > 0 {
            writeln!(
                self.out,
                "{} UNVERIFIABLE: in hours no valid digest file covers",
                plural(s.unlisted_logs.unverifiable, "log file", "log files")
            )?;
        }
        if s.foreign_objects.total() > 0 {
            writeln!(
                self.out,
                "{} INVALID: in the trail's folders but not written there by CloudTrail",
                plural(s.foreign_objects.total(), "object", "objects")
            )?;
        }
        if s.versions.total() > 0 {
            writeln!(
                self.out,
                "{} INVALID: overwritten or deleted after delivery (S3 versions)",
                plural(s.versions.total(), "file", "files")
            )?;
        }
        match report.versions {
            VersionCheck::NotVersioned => writeln!(
                self.out,
                "Versions not checked: bucket {} does not have versioning",
                escape(&report.bucket)
            )?,
            VersionCheck::Skipped => writeln!(self.out, "Versions not checked (--no-versions)")?,
            _ => {}
        }
        for (what, counts, total) in [
            ("digest", s.retention.digests, s.digests.total()),
            ("log", s.retention.logs, s.logs.total()),
        ] {
            if counts.retained > 0 {
                let mode = if counts.compliance == counts.retained {
                    "COMPLIANCE"
                } else if counts.compliance == 0 {
                    "GOVERNANCE"
                } else {
                    "Object Lock"
                };
                let until = counts
                    .earliest_until
                    .map(|t| format!(" until {}", display_date(t)))
                    .unwrap_or_default();
                writeln!(
                    self.out,
                    "{} of {total} {what} files under {mode} retention{until}",
                    counts.retained
                )?;
            }
            if counts.legal_hold > 0 {
                writeln!(
                    self.out,
                    "{} of {total} {what} files under legal hold",
                    counts.legal_hold
                )?;
            }
        }
        if s.gaps.total() > 0 {
            writeln!(
                self.out,
                "{} not covered by any valid digest file ({})",
                plural(s.uncovered_hours, "hour", "hours"),
                plural(s.gaps.total(), "gap", "gaps")
            )?;
        }
        if s.expired > 0 {
            writeln!(
                self.out,
                "{} UNVERIFIABLE: expired under the bucket's lifecycle rules",
                plural(s.expired, "file", "files")
            )?;
        }
        if s.archived > 0 {
            self.write_restore_route(report)?;
        }
        if s.kms_denied > 0 {
            writeln!(
                self.out,
                "{} UNVERIFIABLE: kms:Decrypt denied (see the warning)",
                plural(s.kms_denied, "file", "files")
            )?;
        }
        if report.chains.len() > 1 {
            writeln!(self.out)?;
            for chain in &report.chains {
                let c = chain.summary();
                writeln!(
                    self.out,
                    "Account {} region {}: {}; {}",
                    chain.chain.account_id,
                    chain.chain.region,
                    ratio(&c.digests, "digest"),
                    ratio(&c.logs, "log")
                )?;
            }
        }
        writeln!(self.out)
    }
}

impl TextRenderer<'_> {
    /// What a resumed run read: each chain's checkpoint and whether it held, and the hours
    /// verified from the checkpoints.
    fn write_resumed(&mut self, report: &Report) -> io::Result<()> {
        let windows = report.chains.iter().filter_map(|c| c.window);
        let seconds = match (
            windows.clone().map(|w| w.0).min(),
            windows.map(|w| w.1).max(),
        ) {
            (Some(a), Some(b)) => (b - a).num_seconds().max(0),
            _ => 0,
        };
        for chain in &report.chains {
            let Some(check) = &chain.checkpoint else {
                continue;
            };
            let proof = if check.problems.is_empty() && chain.summary().digests.total() == 0 {
                "read again: unchanged (no newer digest file yet to join it)".to_owned()
            } else if check.problems.is_empty() {
                "read again: unchanged, and the oldest new digest file names it".to_owned()
            } else {
                format!(
                    "read again: {} (see the Checkpoint lines)",
                    verdict(check.status)
                )
            };
            writeln!(
                self.out,
                "Checkpoint of {} at {}: s3://{}/{} {proof}",
                chain.chain,
                display_date(check.checkpoint.end_time),
                escape(&check.checkpoint.bucket),
                escape(&check.checkpoint.key)
            )?;
        }
        let hours = (seconds as u64).div_ceil(3600);
        // Proven: from the start up to the hour every chain is proven to.
        let start = report
            .chains
            .iter()
            .filter_map(|c| c.window)
            .map(|w| w.0)
            .min();
        let proven = match (start, cloudtrail_verify::messages::proven_until(report)) {
            (Some(a), Some(b)) => ((b - a).num_seconds().max(0) as u64).div_ceil(3600),
            _ => 0,
        };
        writeln!(
            self.out,
            "{} since the checkpoints, {proven} of them proven",
            cloudtrail_verify::messages::plural(hours, "hour", "hours")
        )
    }
}

/// Text written as the run's verdicts become final: each digest's lines when its verdict is,
/// each chain's other findings when it finishes, and [`TextStream::finish`] for the rest.
pub struct TextStream<'a> {
    renderer: TextRenderer<'a>,
    error: Option<io::Error>,
}

impl<'a> TextStream<'a> {
    /// A stream writing through `renderer`.
    pub fn new(renderer: TextRenderer<'a>) -> Self {
        TextStream {
            renderer,
            error: None,
        }
    }

    /// Writes the warnings, summary and provenance.
    ///
    /// # Errors
    /// Writing failed, now or during the run.
    pub fn finish(mut self, report: &Report) -> io::Result<()> {
        match self.error.take() {
            Some(e) => Err(e),
            None => self.renderer.write_streamed_end(report),
        }
    }
}

impl cloudtrail_verify::RunObserver for TextStream<'_> {
    fn event(&mut self, event: cloudtrail_verify::RunEvent<'_>) {
        if self.error.is_some() {
            return;
        }
        let written = match event {
            cloudtrail_verify::RunEvent::Digest { digest, .. } => {
                self.renderer.write_digest(digest)
            }
            cloudtrail_verify::RunEvent::ChainFinished { chain } => {
                self.renderer.write_chain_findings(chain)
            }
            _ => Ok(()),
        };
        if let Err(e) = written {
            self.error = Some(e);
        }
    }
}

impl TextRenderer<'_> {
    /// How many files are archived, and how to restore them.
    fn write_restore_route(&mut self, report: &Report) -> io::Result<()> {
        let archived = report.object_problems().find(|(_, _, p)| {
            matches!(
                p,
                ObjectProblem::Digest(DigestProblem::Archived { .. })
                    | ObjectProblem::Log(LogProblem::Archived { .. })
            )
        });
        let count = report.summary.archived;
        let files = if count == 1 {
            "file needs"
        } else {
            "files need"
        };
        writeln!(
            self.out,
            "{count} {files} restoring from an archive storage class before they can be verified: \
             `aws s3api restore-object --bucket {} --key {} --restore-request \
             Days=7,GlacierJobParameters={{Tier=Standard}}` for each (the UNVERIFIABLE \
             'archived' lines name them), or S3 Batch Operations for many; then run again",
            escape(archived.map_or("BUCKET", |(b, _, _)| b)),
            archived.map_or("KEY".into(), |(_, k, _)| escape(k)),
        )
    }
}

/// `3/4 log files valid, 1/4 log files INVALID`, plus the unverifiable count when there is one.
fn ratio(c: &Counts, name: &str) -> String {
    let total = c.total();
    let mut s = format!("{}/{total} {name} files valid", c.valid);
    if c.invalid > 0 {
        s.push_str(&format!(", {}/{total} {name} files INVALID", c.invalid));
    }
    if c.unverifiable > 0 {
        s.push_str(&format!(
            ", {}/{total} {name} files UNVERIFIABLE",
            c.unverifiable
        ));
    }
    s
}

/// A verdict as the AWS CLI's lines spell it: findings in capitals, to stand out.
pub(crate) fn verdict(status: Status) -> &'static str {
    match status {
        Status::Invalid => "INVALID",
        Status::Unverifiable => "UNVERIFIABLE",
        Status::Valid => "valid",
    }
}

/// The short provenance block after the results: who ran what, where and when.
fn write_provenance(
    out: &mut dyn Write,
    report: &Report,
    p: &Provenance,
    state: Option<&str>,
) -> io::Result<()> {
    writeln!(
        out,
        "Provenance: ctverify {}, run from {} to {}",
        report.tool_version,
        display_date(p.started_at),
        display_date(p.ended_at)
    )?;
    let caller = match (&p.caller, &p.caller_note) {
        (Some(c), _) => format!(
            "{} (account {})",
            c.arn.as_deref().unwrap_or("?"),
            c.account.as_deref().unwrap_or("?")
        ),
        (None, Some(note)) => note.clone(),
        (None, None) => "unknown".into(),
    };
    writeln!(out, "  Caller: {}", escape(&caller))?;
    if !p.endpoints.is_empty() {
        let endpoints: Vec<String> = p
            .endpoints
            .iter()
            .map(|(service, url)| format!("{service} {url}"))
            .collect();
        writeln!(out, "  Endpoints: {}", escape(&endpoints.join(", ")))?;
    }
    const KEYS_SHOWN: usize = 8;
    for key in p.keys.iter().take(KEYS_SHOWN) {
        writeln!(
            out,
            "  Key: {} ({}) valid {} to {}, from {}",
            escape(&key.fingerprint),
            key.region.as_deref().unwrap_or("any region"),
            display_date(key.valid_from),
            display_date(key.valid_to),
            escape(&key.source)
        )?;
    }
    if p.keys.len() > KEYS_SHOWN {
        writeln!(
            out,
            "  and {} more keys (--format json lists them)",
            p.keys.len() - KEYS_SHOWN
        )?;
    }
    let o = &p.options;
    let all = |v: &[String]| {
        if v.is_empty() {
            "all".to_owned()
        } else {
            v.join(",")
        }
    };
    // A resumed run starts where its state says: no --from was given, so none is shown.
    let from = match state {
        Some(location) => format!(
            "from the checkpoints of --state {} (a chain without one from {})",
            escape(location),
            display_date(o.from)
        ),
        None => format!("--from {}", display_date(o.from)),
    };
    writeln!(
        out,
        "  Options: {from} --to {}, source {}, bucket {}, prefix {}, accounts {}, regions {}, concurrency {}, max log bytes {}",
        display_date(o.to),
        escape(&o.source),
        escape(&o.bucket),
        escape(o.prefix.as_deref().unwrap_or("(none)")),
        escape(&all(&o.accounts)),
        escape(&all(&o.regions)),
        o.concurrency,
        o.max_log_bytes
    )?;
    if let Some(sha256) = &p.exceptions_sha256 {
        writeln!(out, "  Exceptions: file SHA-256 {sha256}")?;
    }
    Ok(())
}

/// What a `--state` run wrote: where, and each chain's checkpoint, moved or kept.
pub fn state_written(
    location: &str,
    before: Option<&cloudtrail_verify::state::State>,
    after: &cloudtrail_verify::state::State,
) -> String {
    let old = before.map(|s| s.checkpoints()).unwrap_or_default();
    let chains: Vec<String> = after
        .chains
        .iter()
        .map(|c| {
            let at = display_date(c.head.end_time);
            match old.get(&c.chain) {
                Some(h) if h.end_time == c.head.end_time => format!("{} kept at {at}", c.chain),
                Some(h) => format!(
                    "{} moved from {} to {at}",
                    c.chain,
                    display_date(h.end_time)
                ),
                None => format!("{} at {at}", c.chain),
            }
        })
        .collect();
    if chains.is_empty() {
        format!("State written to {location}: no checkpoint yet (nothing proven)")
    } else {
        let noun = if chains.len() == 1 {
            "checkpoint"
        } else {
            "checkpoints"
        };
        format!("State written to {location}: {noun} {}", chains.join(", "))
    }
}

/// What `ctverify export` wrote, on stderr (stdout keeps the report alone).
pub fn write_bundle_summary(
    err: &mut dyn Write,
    bundle: &cloudtrail_verify::export::ExportSummary,
    status: Status,
) -> io::Result<()> {
    writeln!(
        err,
        "Bundle written to {}: {} objects, {} bytes; verified offline from the bundle: {}",
        bundle.path.display(),
        bundle.objects,
        bundle.bytes,
        bundle.offline_status.as_str()
    )?;
    for n in &bundle.not_copied {
        writeln!(
            err,
            "Warning: {} could not be copied into the bundle: {}",
            escape(&n.object),
            escape(&n.reason)
        )?;
    }
    if bundle.offline_status != status {
        writeln!(
            err,
            "Warning: the bundle verifies {} offline but the run was {}: objects changed while \
             they were read, or a lifecycle rule or unreadable object excused what a copy cannot",
            bundle.offline_status.as_str(),
            status.as_str()
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_and_bidirectional_characters_are_escaped() {
        assert_eq!(super::escape("a\tb\u{202e}c"), "a\\u{9}b\\u{202e}c");
        assert_eq!(super::escape("plain/key.json.gz"), "plain/key.json.gz");
    }
}
