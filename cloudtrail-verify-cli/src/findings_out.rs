//! What a verification run does with its finding list besides printing its report: write it as
//! ASFF or OCSF (`--format asff|ocsf`), and send it to Security Hub (`--security-hub`),
//! remembering in the `--state` what was sent so that a later run resolves what it no longer
//! finds. The run's code (`run_verify`) calls these; the mapping is in [`crate::asff`] and
//! [`crate::ocsf`], the sending in [`crate::security_hub`].

use crate::asff::Target;
use crate::cli::{AwsArgs, Format};
use chrono::{DateTime, Utc};
use cloudtrail_verify::Report;
use cloudtrail_verify::report_findings::{ReportFinding, resolved_since};
use cloudtrail_verify::state::{MAX_SENT_FINDINGS, State};
use std::io::{self, Write};

/// Writes `report.findings` (see [`cloudtrail_verify::report_findings::attach`]) as ASFF (one
/// JSON array) or OCSF (JSON Lines), when `format` is one of them.
///
/// # Errors
/// Writing failed.
pub fn write(
    format: Format,
    report: &Report,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Asff => {
            let target = target(report);
            let all = crate::asff::findings(&report.findings, &[], &target, now);
            serde_json::to_writer_pretty(&mut *out, &all)?;
            writeln!(out)
        }
        Format::Ocsf => {
            for f in &report.findings {
                serde_json::to_writer(&mut *out, &crate::ocsf::finding(f, now))?;
                writeln!(out)?;
            }
            Ok(())
        }
        Format::Text | Format::Json | Format::Jsonl | Format::Junit => Ok(()),
    }
}

/// Where the findings of `report` go: the trail's partition, account and home region (the
/// run's region).
fn target(report: &Report) -> Target {
    Target::of_arn(&report.trail)
}

/// What sending to Security Hub did: what the next state remembers, and the error of the run
/// when something was not imported.
#[derive(Debug, Default)]
pub struct Sent {
    /// The findings the state remembers as sent: those imported now, and those to resolve that
    /// could not be (sent again next time).
    pub remember: Vec<ReportFinding>,
    /// Why the run is in error: findings not imported after the retries.
    pub error: Option<String>,
    /// `Security Hub: ...`, what was done, for the run's output.
    pub said: String,
}

impl Sent {
    /// `state` remembering what was sent, when a run sent anything.
    pub fn into_state(self, mut state: State) -> State {
        state.sent_findings = self.remember;
        state
    }
}

/// Sends the run's findings (`report.findings`) to Security Hub in the trail's home region, and
/// those `previous` (the state's `sent_findings`) names that the run no longer finds as
/// resolved (`RecordState` ARCHIVED, `Workflow` RESOLVED).
pub async fn send_to_security_hub(
    aws_args: &AwsArgs,
    report: &Report,
    previous: &[ReportFinding],
    now: DateTime<Utc>,
) -> Sent {
    let target = target(report);
    let resolved = resolved_since(previous, &report.findings);
    let asff = crate::asff::findings(&report.findings, &resolved, &target, now);
    let conf =
        match cloudtrail_verify::aws::load(&aws_args.settings(Some(target.region.clone()))).await {
            Ok(conf) => conf,
            Err(e) => {
                return Sent {
                    // Nothing was sent: what was remembered stays to be resolved.
                    remember: previous.to_vec(),
                    error: Some(format!("Security Hub: nothing sent: {e}")),
                    said: String::new(),
                };
            }
        };
    let outcome = crate::security_hub::send(&conf, asff, &target.region).await;
    let imported: std::collections::HashSet<&str> =
        outcome.imported.iter().map(String::as_str).collect();
    let mut remember: Vec<ReportFinding> = report
        .findings
        .iter()
        .filter(|f| imported.contains(f.id.as_str()))
        .cloned()
        .collect();
    // A resolution that did not go through is tried again by the next run.
    remember.extend(
        resolved
            .iter()
            .filter(|f| !imported.contains(f.id.as_str()))
            .cloned(),
    );
    remember.truncate(MAX_SENT_FINDINGS);
    let resolved_sent = resolved
        .iter()
        .filter(|f| imported.contains(f.id.as_str()))
        .count();
    let said = format!(
        "Security Hub ({}): {} imported ({} resolved) in {} BatchImportFindings calls",
        target.region,
        cloudtrail_verify::messages::plural(outcome.imported.len() as u64, "finding", "findings"),
        resolved_sent,
        outcome.calls
    );
    let error = outcome.failed.first().map(|first| {
        format!(
            "Security Hub did not import {} of {} findings after {} retries (first: {}: {})",
            outcome.failed.len(),
            outcome.failed.len() + outcome.imported.len(),
            crate::security_hub::MAX_RETRIES,
            first.id,
            first.reason
        )
    });
    Sent {
        remember,
        error,
        said,
    }
}
