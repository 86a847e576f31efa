//! A report as one list of typed findings, computed here once for every output: the text's
//! finding lines and verdict line, the JSON report's `findings`, the JSON Lines and JUnit
//! outputs, and the command line's ASFF (Security Hub) and OCSF formats all take their findings
//! from [`finding_list`], so they name the same things by the same ids.
//!
//! Each finding has a **stable id**: the SHA-256 of the trail's ARN, the chain, what it is about
//! (an object's bucket and key, a gap's start, a seam's time) and its kind, with no time of the
//! run in it. A second run that finds the same thing gives it the same id, so Security Hub
//! updates the finding instead of adding a copy; a finding a later run no longer gives is one
//! that was fixed or explained. The status of every finding is the report's (decided in the
//! trust core), never recomputed here; the severity class only ranks findings for the people
//! who read them.

use crate::findings::{
    BundleProblem, CheckpointProblem, DigestProblem, GapKind, LogProblem, Status, VersionProblem,
};
pub use crate::findings::{FindingKind, ReportFinding, Severity};
use crate::layout::ChainId;
use crate::report::{ChainReport, DigestReport, LogReport, Report};
use crate::words::{display_date, escape, plural};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use std::fmt;

/// The stable id of a finding: SHA-256, hex, of the trail's ARN, the chain (`ACCOUNT/REGION`,
/// empty for none), what the finding is about and its kind, each part length-prefixed so that
/// no key (which may hold any character) can make two different findings collide.
pub fn finding_id(trail: &str, chain: Option<&ChainId>, about: &str, kind: &str) -> String {
    let chain = chain.map(ToString::to_string).unwrap_or_default();
    let mut hash = Sha256::new();
    for part in [trail, chain.as_str(), about, kind] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hex::encode(hash.finalize())
}

/// The `kind` tag a problem serializes with (`hash_mismatch`), or the name of a unit enum.
fn tag<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(serde_json::Value::Object(fields)) => fields
            .get("kind")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("unknown")
            .to_owned(),
        _ => "unknown".to_owned(),
    }
}

/// Builds findings of one trail, with the fields most findings leave empty.
struct Builder<'a> {
    trail: &'a str,
    chain: Option<&'a ChainId>,
}

/// The parts of a finding that differ from one to the next.
struct Draft {
    kind: FindingKind,
    problem: String,
    status: Status,
    critical: bool,
    /// What the id names besides the trail, chain and kind.
    about: String,
    subject: String,
    message: String,
    bucket: Option<String>,
    key: Option<String>,
    span: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    hashes: (Option<String>, Option<String>),
    digest_key: Option<String>,
}

impl Draft {
    fn new(kind: FindingKind, problem: String, status: Status, subject: String) -> Self {
        Draft {
            kind,
            problem,
            status,
            critical: false,
            about: String::new(),
            subject,
            message: String::new(),
            bucket: None,
            key: None,
            span: (None, None),
            hashes: (None, None),
            digest_key: None,
        }
    }

    fn object(mut self, bucket: &str, key: &str) -> Self {
        self.about = format!("s3://{bucket}/{key}");
        self.bucket = Some(bucket.to_owned());
        self.key = Some(key.to_owned());
        self
    }
}

impl Builder<'_> {
    /// The finding, or none for a valid item (a valid finding is only the summary's).
    fn push(&self, draft: Draft, out: &mut Vec<ReportFinding>) {
        if draft.status == Status::Valid {
            return;
        }
        let severity = match draft.status {
            Status::Valid => Severity::Informational,
            Status::Unverifiable => Severity::Medium,
            Status::Invalid if draft.critical => Severity::Critical,
            Status::Invalid => Severity::High,
        };
        let kind_name = format!("{}/{}", draft.kind.as_str(), draft.problem);
        out.push(ReportFinding {
            id: finding_id(self.trail, self.chain, &draft.about, &kind_name),
            kind: draft.kind,
            problem: draft.problem,
            status: draft.status,
            severity,
            trail: self.trail.to_owned(),
            chain: self.chain.cloned(),
            bucket: draft.bucket,
            key: draft.key,
            start: draft.span.0,
            end: draft.span.1,
            expected_sha256: draft.hashes.0,
            actual_sha256: draft.hashes.1,
            digest_key: draft.digest_key,
            subject: draft.subject,
            message: draft.message,
        });
    }
}

/// Every invalid or unverifiable finding of `report` that is about something (a file, a gap, a
/// join, a chain), in the order the text output prints them: the bundle's discrepancies, then
/// chain by chain (account, then region) its walk error, checkpoint, seams, digests and their
/// log files, gaps, foreign objects, unlisted log files and changed versions. Findings counted
/// but not kept (beyond a report's caps) are one entry each with their count. The same thing
/// found twice (a log file two digests list) is one finding, the first.
pub fn object_findings(report: &Report) -> Vec<ReportFinding> {
    let mut out = Vec::new();
    let trail = report.trail.to_string();
    let run = Builder {
        trail: &trail,
        chain: None,
    };
    for problem in &report.bundle_problems {
        let path = problem.path();
        let mut draft = Draft::new(
            FindingKind::BundleFile,
            tag(problem),
            problem.status(),
            format!("Bundle file {path}"),
        );
        draft.about = path.to_owned();
        draft.key = Some(path.to_owned());
        draft.message = problem.to_string();
        draft.critical = bundle_is_critical(problem);
        if let BundleProblem::Altered {
            expected_sha256,
            actual_sha256,
            ..
        } = problem
        {
            draft.hashes = (Some(expected_sha256.clone()), Some(actual_sha256.clone()));
        }
        run.push(draft, &mut out);
    }
    for chain in &report.chains {
        chain_findings_into(&trail, chain, true, &mut out);
    }
    dedup(out)
}

/// The findings of one chain that are not about one digest (its walk, checkpoint, seams, gaps,
/// unlisted and foreign objects, versions): what a streaming output gives when the chain ends,
/// its digests' findings having gone out with each digest ([`digest_findings`]).
pub fn chain_findings(trail: &str, chain: &ChainReport) -> Vec<ReportFinding> {
    let mut out = Vec::new();
    chain_findings_into(trail, chain, false, &mut out);
    dedup(out)
}

/// The findings of one digest and of the log files it lists: what a streaming output gives
/// with the digest's verdict.
pub fn digest_findings(trail: &str, chain: &ChainId, digest: &DigestReport) -> Vec<ReportFinding> {
    let mut out = Vec::new();
    digest_into(
        &Builder {
            trail,
            chain: Some(chain),
        },
        digest,
        &mut out,
    );
    dedup(out)
}

fn dedup(findings: Vec<ReportFinding>) -> Vec<ReportFinding> {
    let mut seen = std::collections::HashSet::new();
    findings
        .into_iter()
        .filter(|f| seen.insert(f.id.clone()))
        .collect()
}

fn chain_findings_into(
    trail: &str,
    chain: &ChainReport,
    with_digests: bool,
    out: &mut Vec<ReportFinding>,
) {
    let b = Builder {
        trail,
        chain: Some(&chain.chain),
    };
    let where_ = format!(
        "account {} region {}",
        chain.chain.account_id, chain.chain.region
    );
    if let Some(error) = &chain.error {
        let mut d = Draft::new(
            FindingKind::ChainWalk,
            "walk_failed".into(),
            Status::Unverifiable,
            format!("Chain {where_}"),
        );
        d.message = error.clone();
        b.push(d, out);
    }
    if let Some(check) = &chain.checkpoint {
        for problem in &check.problems {
            let mut d = Draft::new(
                FindingKind::Checkpoint,
                tag(problem),
                problem.status(),
                format!(
                    "Checkpoint s3://{}/{}",
                    check.checkpoint.bucket, check.checkpoint.key
                ),
            )
            .object(&check.checkpoint.bucket, &check.checkpoint.key);
            d.message = problem.to_string();
            d.critical = checkpoint_is_critical(problem);
            d.span = (
                Some(check.checkpoint.start_time),
                Some(check.checkpoint.end_time),
            );
            match problem {
                CheckpointProblem::HashChanged { recorded, actual } => {
                    d.hashes = (Some(recorded.clone()), Some(actual.clone()));
                }
                CheckpointProblem::JoinBroken { newer_key, .. }
                | CheckpointProblem::JoinUnproven { newer_key } => {
                    d.digest_key = Some(newer_key.clone());
                }
                _ => {}
            }
            b.push(d, out);
        }
    }
    for seam in &chain.seams {
        for problem in &seam.problems {
            let mut d = Draft::new(
                FindingKind::Seam,
                tag(problem),
                problem.status(),
                format!(
                    "Seam {where_} at {}",
                    display_date(seam.checkpoint.end_time)
                ),
            );
            d.about = display_date(seam.checkpoint.end_time);
            d.message = problem.to_string();
            d.critical = checkpoint_is_critical(problem);
            d.span = (
                Some(seam.checkpoint.end_time),
                Some(seam.checkpoint.end_time),
            );
            b.push(d, out);
        }
    }
    if with_digests {
        for digest in &chain.digests {
            digest_into(&b, digest, out);
        }
    }
    for gap in &chain.gaps {
        let mut d = Draft::new(
            FindingKind::CoverageGap,
            tag(&gap.kind),
            gap.status,
            format!("Coverage {where_}"),
        );
        // Named by where it starts: a gap open at the window's end grows as later runs reach
        // further, and is still the same gap.
        d.about = display_date(gap.start);
        d.message = gap.to_string();
        d.critical = gap_is_critical(gap.kind);
        d.span = (Some(gap.start), Some(gap.end));
        b.push(d, out);
    }
    for foreign in &chain.foreign_objects {
        let mut d = Draft::new(
            FindingKind::ForeignObject,
            "foreign_object".into(),
            foreign.status,
            format!("Object s3://{}/{}", foreign.bucket, foreign.key),
        )
        .object(&foreign.bucket, &foreign.key);
        d.message = format!("not a file of this trail ({})", foreign.reason);
        b.push(d, out);
    }
    if chain.foreign_objects_omitted > 0 {
        let mut d = Draft::new(
            FindingKind::ForeignObjectsOmitted,
            "foreign_objects_omitted".into(),
            crate::trust::verdict::foreign_object_status(),
            format!("Object {where_}"),
        );
        d.message = format!(
            "{} further objects that are not files of this trail",
            chain.foreign_objects_omitted
        );
        b.push(d, out);
    }
    for log in &chain.unlisted_logs {
        log_into(&b, FindingKind::UnlistedLogFile, None, log, out);
    }
    if let Some(error) = &chain.versions_error {
        let mut d = Draft::new(
            FindingKind::VersionListing,
            "listing_failed".into(),
            Status::Unverifiable,
            format!("Versions {where_}"),
        );
        d.message = error.clone();
        b.push(d, out);
    }
    for changed in &chain.versions {
        let what = if changed.key.contains("/CloudTrail-Digest/") {
            "Digest file"
        } else {
            "Log file"
        };
        let first = changed.problems.first();
        let mut d = Draft::new(
            FindingKind::ChangedVersion,
            first.map_or_else(|| "changed".to_owned(), tag),
            changed.status,
            format!("{what} s3://{}/{}", changed.bucket, changed.key),
        )
        .object(&changed.bucket, &changed.key);
        d.message = changed.to_string();
        d.critical = first.is_some_and(version_is_critical);
        b.push(d, out);
    }
    if chain.versions_omitted > 0 {
        let mut d = Draft::new(
            FindingKind::ChangedVersionsOmitted,
            "changed_versions_omitted".into(),
            Status::Invalid,
            format!("Versions {where_}"),
        );
        d.critical = true;
        d.message = format!(
            "{} further objects changed after delivery",
            chain.versions_omitted
        );
        b.push(d, out);
    }
}

fn digest_into(b: &Builder<'_>, digest: &DigestReport, out: &mut Vec<ReportFinding>) {
    let subject = format!("Digest file s3://{}/{}", digest.bucket, digest.key);
    for problem in &digest.problems {
        let mut d = Draft::new(
            FindingKind::DigestFile,
            tag(problem),
            problem.status(),
            subject.clone(),
        )
        .object(&digest.bucket, &digest.key);
        d.message = problem.to_string();
        d.critical = digest_is_critical(problem);
        d.span = (digest.start_time, digest.end_time);
        match problem {
            DigestProblem::PreviousHashMismatch {
                newer_key,
                recorded,
                actual,
            } => {
                d.hashes = (Some(recorded.clone()), Some(actual.clone()));
                d.digest_key = Some(newer_key.clone());
            }
            DigestProblem::PreviousSignatureMismatch { newer_key }
            | DigestProblem::TimeDiscontinuity { newer_key, .. } => {
                d.digest_key = Some(newer_key.clone());
            }
            _ => {}
        }
        b.push(d, out);
    }
    if digest.logs_not_checked > 0 {
        let mut d = Draft::new(
            FindingKind::LogsNotChecked,
            "logs_not_checked".into(),
            Status::Unverifiable,
            subject,
        )
        .object(&digest.bucket, &digest.key);
        d.message = format!(
            "its {} not checked: the digest did not verify",
            plural(digest.logs_not_checked, "log file", "log files")
        );
        d.span = (digest.start_time, digest.end_time);
        b.push(d, out);
    }
    for log in &digest.logs {
        log_into(b, FindingKind::LogFile, Some(digest), log, out);
    }
}

fn log_into(
    b: &Builder<'_>,
    kind: FindingKind,
    digest: Option<&DigestReport>,
    log: &LogReport,
    out: &mut Vec<ReportFinding>,
) {
    let Some(problem) = &log.problem else { return };
    let mut d = Draft::new(
        kind,
        tag(problem),
        problem.status(),
        format!("Log file s3://{}/{}", log.bucket, log.key),
    )
    .object(&log.bucket, &log.key);
    d.message = problem.to_string();
    d.critical = log_is_critical(problem);
    d.digest_key = digest.map(|d| d.key.clone());
    if let Some(digest) = digest {
        d.span = (digest.start_time, digest.end_time);
    }
    if let LogProblem::HashMismatch { expected, actual } = problem {
        d.hashes = (Some(expected.clone()), Some(actual.clone()));
    }
    b.push(d, out);
}

/// The run's summary finding: one per trail, its id the same on every run (the trail's), its
/// status the report's verdict, its message the verdict line.
pub fn summary_finding(report: &Report, now: DateTime<Utc>) -> ReportFinding {
    ReportFinding {
        id: finding_id(
            &report.trail.to_string(),
            None,
            "",
            FindingKind::Summary.as_str(),
        ),
        kind: FindingKind::Summary,
        problem: report.status.as_str().to_owned(),
        status: report.status,
        severity: match report.status {
            Status::Valid => Severity::Informational,
            Status::Unverifiable => Severity::Medium,
            Status::Invalid => Severity::Critical,
        },
        trail: report.trail.to_string(),
        chain: None,
        bucket: Some(report.bucket.clone()),
        key: None,
        start: Some(report.requested_start),
        end: Some(report.requested_end),
        expected_sha256: None,
        actual_sha256: None,
        digest_key: None,
        subject: format!("Trail {}", report.trail),
        message: verdict_line(report, now),
    }
}

/// The findings of `previous` that `current` no longer has (by id): what a run sends once
/// more as resolved. Only ids decide: the status of what is still found is `current`'s.
pub fn resolved_since(previous: &[ReportFinding], current: &[ReportFinding]) -> Vec<ReportFinding> {
    let now: std::collections::HashSet<&str> = current.iter().map(|f| f.id.as_str()).collect();
    let mut seen = std::collections::HashSet::new();
    previous
        .iter()
        .filter(|f| !now.contains(f.id.as_str()) && seen.insert(f.id.as_str()))
        .cloned()
        .collect()
}

/// Sets the report's `findings` to its [`finding_list`]: what a report written out carries,
/// so that the JSON report names its findings by the ids every other format uses.
pub fn attach(report: &mut Report, now: DateTime<Utc>) {
    report.findings = Vec::new();
    report.findings = finding_list(report, now);
}

/// The report's whole finding list: [`object_findings`], then the [`summary_finding`] last.
pub fn finding_list(report: &Report, now: DateTime<Utc>) -> Vec<ReportFinding> {
    let mut all = object_findings(report);
    all.push(summary_finding(report, now));
    all
}

// Which invalid problems are evidence that logs or their proofs were deleted or altered
// (critical), by exhaustive matches: a new kind of problem must be placed here.

fn digest_is_critical(problem: &DigestProblem) -> bool {
    match problem {
        DigestProblem::NotFound
        | DigestProblem::SignatureMismatch
        | DigestProblem::PreviousHashMismatch { .. }
        | DigestProblem::PreviousSignatureMismatch { .. }
        | DigestProblem::LifecycleChanged { .. } => true,
        DigestProblem::OtherBucketMissing { .. }
        | DigestProblem::TooLarge { .. }
        | DigestProblem::ForeignObject { .. }
        | DigestProblem::MalformedMetadata { .. }
        | DigestProblem::MissingMetadata { .. }
        | DigestProblem::BadBackfillTimestamp { .. }
        | DigestProblem::InvalidFormat { .. }
        | DigestProblem::Moved { .. }
        | DigestProblem::OutsideChain { .. }
        | DigestProblem::WrongAccount { .. }
        | DigestProblem::UnknownSignatureAlgorithm { .. }
        | DigestProblem::UnknownHashAlgorithm { .. }
        | DigestProblem::MalformedSignature
        | DigestProblem::KeyNotValidAtSigningTime { .. }
        | DigestProblem::TimeDiscontinuity { .. }
        | DigestProblem::NoSignature
        | DigestProblem::KeyUnknown { .. }
        | DigestProblem::KeyNotFound { .. }
        | DigestProblem::Unreadable { .. }
        | DigestProblem::Expired { .. }
        | DigestProblem::Archived { .. }
        | DigestProblem::KmsDenied { .. } => false,
    }
}

fn log_is_critical(problem: &LogProblem) -> bool {
    match problem {
        LogProblem::NotFound
        | LogProblem::HashMismatch { .. }
        | LogProblem::LifecycleChanged { .. } => true,
        LogProblem::InvalidFormat { .. }
        | LogProblem::TrailingData
        | LogProblem::BadDigestEntry { .. }
        | LogProblem::NotListed { .. }
        | LogProblem::ForeignObject { .. }
        | LogProblem::Unreadable { .. }
        | LogProblem::TooLarge { .. }
        | LogProblem::Expired { .. }
        | LogProblem::Archived { .. }
        | LogProblem::KmsDenied { .. } => false,
    }
}

fn checkpoint_is_critical(problem: &CheckpointProblem) -> bool {
    match problem {
        CheckpointProblem::Digest { problem } => digest_is_critical(problem),
        CheckpointProblem::HashChanged { .. }
        | CheckpointProblem::SignatureChanged
        | CheckpointProblem::TimesChanged { .. }
        | CheckpointProblem::JoinBroken { .. } => true,
        CheckpointProblem::JoinUnproven { .. } => false,
    }
}

fn bundle_is_critical(problem: &BundleProblem) -> bool {
    match problem {
        BundleProblem::Altered { .. } | BundleProblem::Missing { .. } => true,
        BundleProblem::Added { .. }
        | BundleProblem::NotCopied { .. }
        | BundleProblem::Manifest { .. } => false,
    }
}

fn gap_is_critical(kind: GapKind) -> bool {
    match kind {
        GapKind::BrokenChain | GapKind::SegmentDeleted => true,
        GapKind::PredecessorUnavailable
        | GapKind::LifecycleExpired
        | GapKind::ChainRestart
        | GapKind::BeforeChainStart
        | GapKind::AfterNewestDigest
        | GapKind::NoDigests
        | GapKind::NotYetDelivered
        | GapKind::LoggingOff
        | GapKind::ValidationOff => false,
    }
}

fn version_is_critical(problem: &VersionProblem) -> bool {
    match problem {
        VersionProblem::Overwritten { .. } | VersionProblem::Deleted { .. } => true,
    }
}

// The verdict line, built from the same list.

/// One finding of a report as the text output prints it: what it is about, its status and the
/// sentence (the words of a [`ReportFinding`], without its ids and evidence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What it is about: `Digest file s3://B/K`, `Log file s3://B/K`, `Coverage account A
    /// region R`, `Bundle file manifest.json`, ...
    pub subject: String,
    /// Invalid or unverifiable (a finding is never valid).
    pub status: Status,
    /// The sentence.
    pub text: String,
}

impl fmt::Display for Finding {
    /// `SUBJECT: TEXT`, the form the verdict line quotes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.text)
    }
}

/// [`object_findings`] in words: every invalid or unverifiable finding of `report`, in the
/// order the text output prints them.
pub fn findings(report: &Report) -> Vec<Finding> {
    object_findings(report)
        .into_iter()
        .map(|f| Finding {
            subject: f.subject,
            status: f.status,
            text: f.message,
        })
        .collect()
}

/// Why a report that is not valid is unverifiable when no finding says so: the keys came from
/// the copy, no chain was found, a chain has no window.
fn report_reason(report: &Report) -> Option<String> {
    if report.keys_from_the_copy {
        return Some(
            "the public keys are the bundle's own public-keys.json, its maker's word: verify \
             against CloudTrail's keys with --public-keys (the output of `aws cloudtrail \
             list-public-keys`, saved from AWS)"
                .into(),
        );
    }
    if report.chains.is_empty() {
        return Some("no chain to verify was found".into());
    }
    report
        .chains
        .iter()
        .find(|c| c.window.is_none())
        .map(|c| format!("chain {} has no range to verify", c.chain))
}

/// The newest hour every chain of `report` is proven up to (the oldest of the chains' heads, a
/// resumed chain's checkpoint when it has nothing newer), when each chain has one.
pub fn proven_until(report: &Report) -> Option<DateTime<Utc>> {
    if report.chains.is_empty() {
        return None;
    }
    report
        .chains
        .iter()
        .map(|c| {
            // A resumed chain with nothing new is still proven to its checkpoint.
            let checkpoint = c
                .checkpoint
                .as_ref()
                .filter(|k| k.problems.is_empty())
                .map(|k| k.checkpoint.end_time);
            c.head.as_ref().map(|h| h.end_time).or(checkpoint)
        })
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .min()
}

/// The run's verdict in one line, for a person and a log search alike, the same in every
/// output that prints one:
///
/// * `VALID: proved FROM – TO for N chains; proof lag H h`, FROM and TO the chains' windows,
///   the proof lag the whole hours from the newest hour every chain is proven up to until
///   `now` (the freshness of the proof);
/// * `INVALID: FIRST FINDING (and N more findings)`, the first invalid finding of
///   [`findings`];
/// * `UNVERIFIABLE: FIRST REASON (...)`, why the run could not prove everything: the keys came
///   from the copy, or the first unverifiable finding.
///
/// Text from the bucket is escaped ([`escape`]): the line stays one line whatever a key holds.
pub fn verdict_line(report: &Report, now: DateTime<Utc>) -> String {
    let all = findings(report);
    let line = match report.status {
        Status::Valid => {
            let from = report
                .chains
                .iter()
                .filter_map(|c| c.window)
                .map(|w| w.0)
                .min();
            let to = report
                .chains
                .iter()
                .filter_map(|c| c.window)
                .map(|w| w.1)
                .max();
            let range = match (from, to) {
                (Some(a), Some(b)) => format!("{} – {}", display_date(a), display_date(b)),
                _ => format!(
                    "{} – {}",
                    display_date(report.requested_start),
                    display_date(report.requested_end)
                ),
            };
            let lag = proven_until(report)
                .map(|until| format!("; proof lag {} h", (now - until).num_hours().max(0)))
                .unwrap_or_default();
            format!(
                "VALID: proved {range} for {}{lag}",
                plural(report.chains.len() as u64, "chain", "chains")
            )
        }
        Status::Invalid => {
            let invalid: Vec<&Finding> =
                all.iter().filter(|f| f.status == Status::Invalid).collect();
            match invalid.first() {
                Some(first) => format!("INVALID: {first}{}", more(invalid.len() - 1)),
                None => "INVALID: see the findings above".to_owned(),
            }
        }
        Status::Unverifiable => {
            let reason = report_reason(report);
            let unverifiable: Vec<&Finding> = all
                .iter()
                .filter(|f| f.status == Status::Unverifiable)
                .collect();
            match (reason, unverifiable.first()) {
                (Some(reason), _) if report.keys_from_the_copy => {
                    format!("UNVERIFIABLE: {reason}{}", more(unverifiable.len()))
                }
                (_, Some(first)) => {
                    format!("UNVERIFIABLE: {first}{}", more(unverifiable.len() - 1))
                }
                (Some(reason), None) => format!("UNVERIFIABLE: {reason}"),
                (None, None) => "UNVERIFIABLE: something could not be verified".to_owned(),
            }
        }
    };
    escape(&line).into_owned()
}

/// ` (and N more findings)`, or nothing.
fn more(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => " (and 1 more finding)".to_owned(),
        n => format!(" (and {n} more findings)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{GapKind, LogProblem};
    use crate::report::{ChainReport, DigestReport, LogReport};
    use chrono::TimeZone;

    const TRAIL: &str = "arn:aws:cloudtrail:us-east-1:111122223333:trail/main";

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0).unwrap()
    }

    fn report(log_problem: Option<LogProblem>, gap_end: u32) -> Report {
        let mut chain = ChainReport::new(ChainId {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
        });
        chain.window = Some((t(0), t(gap_end)));
        let mut digest = DigestReport::new("b", "digest-1", false);
        let log = LogReport::new("b", "log-1", log_problem, 0);
        digest.log_counts.add(log.status);
        digest.logs.push(log);
        chain.digests.push(digest);
        chain.gaps.push(crate::trust::gap(
            GapKind::AfterNewestDigest,
            t(2),
            t(gap_end),
        ));
        Report::new(
            TRAIL.parse().unwrap(),
            "s".into(),
            "b".into(),
            t(0),
            t(gap_end),
            vec![chain],
        )
    }

    fn mismatch() -> Option<LogProblem> {
        Some(LogProblem::HashMismatch {
            expected: "a".repeat(64),
            actual: "b".repeat(64),
        })
    }

    #[test]
    fn ids_name_what_was_found_not_when_and_a_growing_gap_keeps_its_id() {
        let first = finding_list(&report(mismatch(), 4), t(5));
        // A later run: the window reaches further, the open gap with it, the clock moved.
        let later = finding_list(&report(mismatch(), 9), t(23));
        let ids = |l: &[ReportFinding]| l.iter().map(|f| f.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&first), ids(&later));
        assert_eq!(first.len(), 3, "{first:#?}");
        // Distinct things, distinct ids; every id is 64 hex digits.
        let mut unique = ids(&first);
        unique.dedup();
        assert_eq!(unique.len(), 3);
        assert!(first.iter().all(|f| f.id.len() == 64));
        // Another problem of the same file is another finding.
        let missing = finding_list(&report(Some(LogProblem::NotFound), 4), t(5));
        assert_ne!(missing[0].id, first[0].id);
        // Another trail's same file is another finding.
        assert_ne!(
            finding_id("other", None, "s3://b/log-1", "log_file/hash_mismatch"),
            first[0].id
        );
    }

    #[test]
    fn statuses_are_the_reports_and_severity_ranks_tampering_above_obstacles() {
        let list = finding_list(&report(mismatch(), 4), t(5));
        let log = &list[0];
        assert_eq!(
            (log.kind, log.status),
            (FindingKind::LogFile, Status::Invalid)
        );
        assert_eq!(log.severity, Severity::Critical);
        assert_eq!(log.digest_key.as_deref(), Some("digest-1"));
        assert_eq!(
            log.expected_sha256.as_deref(),
            Some("a".repeat(64).as_str())
        );
        let gap = &list[1];
        assert_eq!(
            (gap.kind, gap.severity),
            (FindingKind::CoverageGap, Severity::Medium)
        );
        let summary = list.last().unwrap();
        assert_eq!(summary.kind, FindingKind::Summary);
        assert_eq!(summary.status, Status::Invalid);
        assert_eq!(summary.message, verdict_line(&report(mismatch(), 4), t(5)));
        let planted = finding_list(
            &report(Some(LogProblem::NotListed { hour_covered: true }), 4),
            t(5),
        );
        assert_eq!(planted[0].severity, Severity::High);
    }

    #[test]
    fn what_a_later_run_no_longer_finds_is_resolved_once_and_what_it_finds_never() {
        let before = finding_list(&report(mismatch(), 4), t(5));
        let after = finding_list(&report(None, 4), t(6));
        let resolved = resolved_since(&before, &after);
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].id, before[0].id);
        // A state listing a finding twice, or one still found, resolves nothing more.
        let mut doubled = before.clone();
        doubled.extend(before.clone());
        assert_eq!(resolved_since(&doubled, &after).len(), 1);
        assert!(resolved_since(&after, &after).is_empty());
    }
}
