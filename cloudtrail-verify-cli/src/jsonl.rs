//! `--format jsonl`: one JSON object per line, written as the run's verdicts become final. The
//! wire types are here, apart from the library's report types they borrow from, and each line
//! is documented in the README ("JSON Lines") field by field.
//!
//! Every line has `schema_version` ([`JSONL_SCHEMA_VERSION`]) and `type`; the lines come in
//! the run's fixed order: per chain `chain_started`, then per digest `digest` followed by a
//! `log` line for each of its log files, then the chain's `checkpoint`, `seam`, `gap`,
//! `unlisted_log`, `foreign_object`, `version` and `chain_error` lines, then `chain_finished`;
//! `summary` is always last. Each finding is also a `finding` line (the library's typed
//! finding, with its stable `id`, the same as in the JSON report, ASFF and OCSF): a digest's
//! after its `log` lines, a chain's before its `chain_finished`, the bundle's and the run's
//! summary finding before `summary`, which names the latter by `finding_id`.

use chrono::{DateTime, Utc};
use cloudtrail_verify::layout::ChainId;
use cloudtrail_verify::report::VersionCheck;
use cloudtrail_verify::report_findings::{self, FindingKind, ReportFinding};
use cloudtrail_verify::{
    BundleProblem, ChainHead, ChainReport, ChainScope, CheckpointProblem, Counts, DigestProblem,
    DigestReport, LogReport, Provenance, Report, RunEvent, RunObserver, Status, Summary,
};
use serde::Serialize;
use std::io::{self, Write};

/// The version of the JSON Lines format (`schema_version` on every line).
pub const JSONL_SCHEMA_VERSION: u32 = 1;

/// One line: the version, the type, and the event's fields.
#[derive(Serialize)]
struct Line<T: Serialize> {
    schema_version: u32,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    body: T,
}

#[derive(Serialize)]
struct ChainStarted<'a> {
    chain: &'a ChainId,
    window_start: DateTime<Utc>,
    window_end: DateTime<Utc>,
    checkpoint: Option<&'a ChainHead>,
}

/// A digest's verdict; its log files follow as `log` lines.
#[derive(Serialize)]
struct Digest<'a> {
    chain: &'a ChainId,
    bucket: &'a str,
    key: &'a str,
    backfill: bool,
    start_time: Option<DateTime<Utc>>,
    end_time: Option<DateTime<Utc>>,
    status: Status,
    problems: &'a [DigestProblem],
    log_counts: Counts,
    logs_not_checked: u64,
    log_bytes: u64,
}

#[derive(Serialize)]
struct Log<'a> {
    chain: &'a ChainId,
    /// The digest listing it (`None` for an unlisted log file).
    digest_key: Option<&'a str>,
    #[serde(flatten)]
    log: &'a LogReport,
}

#[derive(Serialize)]
struct ChainItem<'a, T: Serialize> {
    chain: &'a ChainId,
    #[serde(flatten)]
    item: &'a T,
}

#[derive(Serialize)]
struct Checkpoint<'a> {
    chain: &'a ChainId,
    checkpoint: &'a ChainHead,
    status: Status,
    problems: &'a [CheckpointProblem],
}

#[derive(Serialize)]
struct ChainError<'a> {
    chain: &'a ChainId,
    error: &'a str,
}

#[derive(Serialize)]
struct ChainFinished<'a> {
    chain: &'a ChainId,
    status: Status,
    expected: bool,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    found_start: Option<DateTime<Utc>>,
    found_end: Option<DateTime<Utc>>,
    head: Option<&'a ChainHead>,
    summary: Summary,
}

/// The run's verdict: the report without its chains (already written).
#[derive(Serialize)]
struct RunSummary<'a> {
    status: Status,
    trail: &'a str,
    source: &'a str,
    bucket: &'a str,
    requested_start: DateTime<Utc>,
    requested_end: DateTime<Utc>,
    report_schema_version: u32,
    tool_version: &'a str,
    generated_at: DateTime<Utc>,
    summary: &'a Summary,
    scope: ChainScope,
    versions: VersionCheck,
    warnings: &'a [String],
    bundle_problems: &'a [BundleProblem],
    provenance: Option<&'a Provenance>,
    /// The text output's last line: the verdict and its first reason, the same words in
    /// every format.
    verdict: String,
    /// The id of the run's summary finding (the last `finding` line).
    finding_id: String,
}

/// Writes a run's events as JSON Lines.
pub struct JsonlWriter<'a> {
    out: &'a mut (dyn Write + Send),
    /// The first write error; later events are dropped.
    error: Option<io::Error>,
    /// What the verdict's proof lag is counted to.
    now: DateTime<Utc>,
    /// The trail's ARN, which every finding's id names.
    trail: String,
}

impl<'a> JsonlWriter<'a> {
    /// A writer to `out`.
    pub fn new(out: &'a mut (dyn Write + Send)) -> Self {
        JsonlWriter {
            out,
            error: None,
            now: Utc::now(),
            trail: String::new(),
        }
    }

    /// The trail's ARN, which every finding's id names (the report's `trail`).
    pub fn trail(mut self, trail: String) -> Self {
        self.trail = trail;
        self
    }

    fn findings(&mut self, findings: Vec<ReportFinding>) {
        for finding in &findings {
            self.line("finding", finding);
        }
    }

    /// The time the verdict's proof lag is counted to (default: the clock).
    pub fn now(mut self, now: DateTime<Utc>) -> Self {
        self.now = now;
        self
    }

    fn line<T: Serialize>(&mut self, kind: &'static str, body: T) {
        if self.error.is_some() {
            return;
        }
        let line = Line {
            schema_version: JSONL_SCHEMA_VERSION,
            kind,
            body,
        };
        let written = serde_json::to_writer(&mut *self.out, &line)
            .map_err(io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        if let Err(e) = written {
            self.error = Some(e);
        }
    }

    /// The last line, then the first write error if there was one.
    ///
    /// # Errors
    /// Writing failed.
    pub fn finish(mut self, report: &Report) -> io::Result<()> {
        let summary = report_findings::summary_finding(report, self.now);
        let mut last: Vec<ReportFinding> = report_findings::object_findings(report)
            .into_iter()
            .filter(|f| f.kind == FindingKind::BundleFile)
            .collect();
        let finding_id = summary.id.clone();
        last.push(summary);
        self.findings(last);
        self.line(
            "summary",
            RunSummary {
                status: report.status,
                trail: &report.trail.to_string(),
                source: &report.source,
                bucket: &report.bucket,
                requested_start: report.requested_start,
                requested_end: report.requested_end,
                report_schema_version: report.schema_version,
                tool_version: &report.tool_version,
                generated_at: report.generated_at,
                summary: &report.summary,
                scope: report.scope,
                versions: report.versions,
                warnings: &report.warnings,
                bundle_problems: &report.bundle_problems,
                provenance: report.provenance.as_ref(),
                verdict: cloudtrail_verify::messages::verdict_line(report, self.now),
                finding_id,
            },
        );
        match self.error {
            Some(e) => Err(e),
            None => self.out.flush(),
        }
    }

    fn chain_finished(&mut self, chain: &ChainReport) {
        let id = &chain.chain;
        if let Some(check) = &chain.checkpoint {
            self.line(
                "checkpoint",
                Checkpoint {
                    chain: id,
                    checkpoint: &check.checkpoint,
                    status: check.status,
                    problems: &check.problems,
                },
            );
        }
        for seam in &chain.seams {
            self.line(
                "seam",
                Checkpoint {
                    chain: id,
                    checkpoint: &seam.checkpoint,
                    status: seam.status,
                    problems: &seam.problems,
                },
            );
        }
        if let Some(error) = &chain.error {
            self.line("chain_error", ChainError { chain: id, error });
        }
        if let Some(error) = &chain.versions_error {
            self.line("versions_error", ChainError { chain: id, error });
        }
        for gap in &chain.gaps {
            self.line(
                "gap",
                ChainItem {
                    chain: id,
                    item: gap,
                },
            );
        }
        for log in &chain.unlisted_logs {
            self.line(
                "unlisted_log",
                Log {
                    chain: id,
                    digest_key: None,
                    log,
                },
            );
        }
        for foreign in &chain.foreign_objects {
            self.line(
                "foreign_object",
                ChainItem {
                    chain: id,
                    item: foreign,
                },
            );
        }
        for version in &chain.versions {
            self.line(
                "version",
                ChainItem {
                    chain: id,
                    item: version,
                },
            );
        }
        let findings = report_findings::chain_findings(&self.trail, chain);
        self.findings(findings);
        self.line(
            "chain_finished",
            ChainFinished {
                chain: id,
                status: chain.status(),
                expected: chain.expected,
                window: chain.window,
                found_start: chain.found_start,
                found_end: chain.found_end,
                head: chain.head.as_ref(),
                summary: chain.summary(),
            },
        );
    }
}

impl RunObserver for JsonlWriter<'_> {
    fn event(&mut self, event: RunEvent<'_>) {
        match event {
            RunEvent::ChainStarted {
                chain,
                window,
                checkpoint,
            } => self.line(
                "chain_started",
                ChainStarted {
                    chain,
                    window_start: window.0,
                    window_end: window.1,
                    checkpoint,
                },
            ),
            RunEvent::Digest { chain, digest } => {
                self.digest(chain, digest);
            }
            RunEvent::ChainFinished { chain } => self.chain_finished(chain),
            // Events a later library adds are not part of this format's version.
            _ => {}
        }
    }
}

impl JsonlWriter<'_> {
    fn digest(&mut self, chain: &ChainId, d: &DigestReport) {
        self.line(
            "digest",
            Digest {
                chain,
                bucket: &d.bucket,
                key: &d.key,
                backfill: d.backfill,
                start_time: d.start_time,
                end_time: d.end_time,
                status: d.status,
                problems: &d.problems,
                log_counts: d.log_counts,
                logs_not_checked: d.logs_not_checked,
                log_bytes: d.log_bytes,
            },
        );
        for log in &d.logs {
            self.line(
                "log",
                Log {
                    chain,
                    digest_key: Some(&d.key),
                    log,
                },
            );
        }
        let findings = report_findings::digest_findings(&self.trail, chain, d);
        self.findings(findings);
    }
}
