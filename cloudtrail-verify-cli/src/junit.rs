//! `--format junit`: the run as a JUnit XML report, so CI systems show an audit like a test
//! run. One `<testsuite>` per chain, written when the chain finishes; a `<testcase>` per digest,
//! per log file with a problem, per coverage gap (or one for the chain's covered window) and per
//! other finding. INVALID is a `<failure>`, UNVERIFIABLE an `<error>`: neither may look like a
//! pass. A last suite, `run`, holds the verdict and the warnings. Each suite's `<properties>`
//! name its findings by their stable ids (`finding_id`), the same as in the JSON report, JSON
//! Lines, ASFF and OCSF.

use cloudtrail_verify::layout::ChainId;
use cloudtrail_verify::messages::display_date;
use cloudtrail_verify::report_findings;
use cloudtrail_verify::{ChainReport, DigestReport, Report, RunEvent, RunObserver, Status};
use std::io::{self, Write};

/// One test case: what was checked and, when not valid, why.
struct Case {
    class: &'static str,
    name: String,
    status: Status,
    message: String,
}

/// Writes a run's events as JUnit XML.
pub struct JunitWriter<'a> {
    out: &'a mut (dyn Write + Send),
    /// The cases of the chain being given out.
    cases: Vec<Case>,
    started: bool,
    error: Option<io::Error>,
    now: chrono::DateTime<chrono::Utc>,
    /// The trail's ARN, which every finding's id names.
    trail: String,
    /// The ids of the findings of the chain being given out.
    ids: Vec<String>,
}

/// Text for XML: control characters made visible (XML 1.0 cannot carry most of them), then
/// XML's special characters escaped.
fn xml(text: &str) -> String {
    quick_xml::escape::escape(cloudtrail_verify::messages::escape(text).as_ref()).into_owned()
}

impl<'a> JunitWriter<'a> {
    /// A writer to `out`.
    pub fn new(out: &'a mut (dyn Write + Send)) -> Self {
        JunitWriter {
            out,
            cases: Vec::new(),
            started: false,
            error: None,
            now: chrono::Utc::now(),
            trail: String::new(),
            ids: Vec::new(),
        }
    }

    /// The trail's ARN, which every finding's id names (the report's `trail`).
    pub fn trail(mut self, trail: String) -> Self {
        self.trail = trail;
        self
    }

    /// The time the verdict's proof lag is counted to (default: the clock).
    pub fn now(mut self, now: chrono::DateTime<chrono::Utc>) -> Self {
        self.now = now;
        self
    }

    fn write(&mut self, text: &str) {
        if self.error.is_none()
            && let Err(e) = self.out.write_all(text.as_bytes())
        {
            self.error = Some(e);
        }
    }

    fn start(&mut self) {
        if !self.started {
            self.started = true;
            self.write(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"ctverify\">\n",
            );
        }
    }

    fn case(&mut self, class: &'static str, name: String, status: Status, message: String) {
        self.cases.push(Case {
            class,
            name,
            status,
            message,
        });
    }

    fn digest(&mut self, chain: &ChainId, digest: &DigestReport) {
        self.ids.extend(
            report_findings::digest_findings(&self.trail, chain, digest)
                .into_iter()
                .map(|f| f.id),
        );
        let name = format!("s3://{}/{}", digest.bucket, digest.key);
        let mut message: Vec<String> = digest.problems.iter().map(ToString::to_string).collect();
        if digest.logs_not_checked > 0 {
            message.push(format!(
                "its {} log files were not checked: the digest did not verify",
                digest.logs_not_checked
            ));
        }
        let class = if digest.backfill {
            "backfill_digest"
        } else {
            "digest"
        };
        let status = if digest.logs_not_checked > 0 {
            digest.status.max(Status::Unverifiable)
        } else {
            digest.status
        };
        self.case(class, name, status, message.join("; "));
        for log in &digest.logs {
            let status = log.status;
            let message = log.problem.as_ref().map(ToString::to_string);
            self.case(
                "log",
                format!("s3://{}/{}", log.bucket, log.key),
                status,
                message.unwrap_or_default(),
            );
        }
    }

    fn chain_finished(&mut self, chain: &ChainReport) {
        if let Some(check) = &chain.checkpoint {
            let message: Vec<String> = check.problems.iter().map(ToString::to_string).collect();
            self.case(
                "checkpoint",
                format!("s3://{}/{}", check.checkpoint.bucket, check.checkpoint.key),
                check.status,
                message.join("; "),
            );
        }
        for seam in &chain.seams {
            let message: Vec<String> = seam.problems.iter().map(ToString::to_string).collect();
            self.case(
                "seam",
                display_date(seam.checkpoint.end_time),
                seam.status,
                message.join("; "),
            );
        }
        if let Some(error) = &chain.error {
            self.case("chain", "walk".into(), Status::Unverifiable, error.clone());
        }
        if let Some(error) = &chain.versions_error {
            self.case(
                "versions",
                "listing".into(),
                Status::Unverifiable,
                error.clone(),
            );
        }
        match (&chain.window, chain.gaps.is_empty()) {
            (Some((start, end)), true) => self.case(
                "coverage",
                format!("{} to {}", display_date(*start), display_date(*end)),
                Status::Valid,
                String::new(),
            ),
            (None, _) => self.case(
                "coverage",
                "window".into(),
                Status::Unverifiable,
                "the chain has no window to cover".into(),
            ),
            _ => {}
        }
        for gap in &chain.gaps {
            self.case(
                "coverage",
                format!("{} to {}", display_date(gap.start), display_date(gap.end)),
                gap.status,
                gap.to_string(),
            );
        }
        for log in &chain.unlisted_logs {
            self.case(
                "unlisted_log",
                format!("s3://{}/{}", log.bucket, log.key),
                log.status,
                log.problem
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            );
        }
        for foreign in &chain.foreign_objects {
            self.case(
                "foreign_object",
                format!("s3://{}/{}", foreign.bucket, foreign.key),
                foreign.status,
                format!("not a file of this trail ({})", foreign.reason),
            );
        }
        for changed in &chain.versions {
            self.case(
                "version",
                format!("s3://{}/{}", changed.bucket, changed.key),
                changed.status,
                changed.to_string(),
            );
        }
        self.ids.extend(
            report_findings::chain_findings(&self.trail, chain)
                .into_iter()
                .map(|f| f.id),
        );
        self.suite(&chain.chain.clone());
    }

    /// Writes the buffered cases as the suite `chain`.
    fn suite(&mut self, chain: &ChainId) {
        let cases = std::mem::take(&mut self.cases);
        let ids = std::mem::take(&mut self.ids);
        self.write_suite(&chain.to_string(), &cases, &ids, &[]);
    }

    fn write_suite(&mut self, name: &str, cases: &[Case], ids: &[String], notes: &[String]) {
        self.start();
        let count = |s: Status| cases.iter().filter(|c| c.status == s).count();
        let mut text = format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\">\n",
            xml(name),
            cases.len(),
            count(Status::Invalid),
            count(Status::Unverifiable)
        );
        if !ids.is_empty() {
            text.push_str("    <properties>\n");
            for id in ids {
                text.push_str(&format!(
                    "      <property name=\"finding_id\" value=\"{}\"/>\n",
                    xml(id)
                ));
            }
            text.push_str("    </properties>\n");
        }
        for case in cases {
            let open = format!(
                "    <testcase classname=\"{}.{}\" name=\"{}\"",
                xml(name),
                case.class,
                xml(&case.name)
            );
            let element = match case.status {
                Status::Valid => {
                    text.push_str(&open);
                    text.push_str("/>\n");
                    continue;
                }
                Status::Invalid => "failure",
                Status::Unverifiable => "error",
            };
            text.push_str(&format!(
                "{open}>\n      <{element} type=\"{}\" message=\"{}\"/>\n    </testcase>\n",
                case.status.as_str(),
                xml(&case.message)
            ));
        }
        if !notes.is_empty() {
            text.push_str("    <system-out>");
            for note in notes {
                text.push_str(&xml(note));
                text.push('\n');
            }
            text.push_str("</system-out>\n");
        }
        text.push_str("  </testsuite>\n");
        self.write(&text);
    }

    /// The `run` suite (the verdict, with the warnings as its output), the end of the
    /// document, then the first write error if there was one.
    ///
    /// # Errors
    /// Writing failed.
    pub fn finish(mut self, report: &Report) -> io::Result<()> {
        let mut cases = vec![Case {
            class: "verdict",
            name: report.trail.to_string(),
            status: report.status,
            // The text output's last line, the same words whatever the format.
            message: cloudtrail_verify::messages::verdict_line(report, self.now),
        }];
        for (i, problem) in report.bundle_problems.iter().enumerate() {
            cases.push(Case {
                class: "bundle",
                name: format!("discrepancy {}", i + 1),
                status: problem.status(),
                message: problem.to_string(),
            });
        }
        let ids: Vec<String> = report_findings::object_findings(report)
            .into_iter()
            .filter(|f| f.kind == report_findings::FindingKind::BundleFile)
            .chain([report_findings::summary_finding(report, self.now)])
            .map(|f| f.id)
            .collect();
        self.write_suite("run", &cases, &ids, &report.warnings);
        self.start();
        self.write("</testsuites>\n");
        match self.error {
            Some(e) => Err(e),
            None => self.out.flush(),
        }
    }
}

impl RunObserver for JunitWriter<'_> {
    fn event(&mut self, event: RunEvent<'_>) {
        match event {
            RunEvent::Digest { chain, digest } => self.digest(chain, digest),
            RunEvent::ChainFinished { chain } => self.chain_finished(chain),
            _ => {}
        }
    }
}
