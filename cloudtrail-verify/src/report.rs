//! The result of a verification run: a typed verdict for every digest and log file, the gaps in
//! coverage, and summary counts. Serialisable with serde; nothing here prints.
//!
//! Three outcomes never blur: [`Status::Valid`] (every byte checked), [`Status::Invalid`]
//! (evidence of tampering) and [`Status::Unverifiable`] (could not be checked).

pub use crate::findings::{
    AcceptedBy, BundleProblem, ChainHead, ChainTail, CheckpointCheck, CheckpointProblem,
    CoverageGap, DigestProblem, FindingKind, ForeignObject, GapKind, LockMode, LogProblem,
    NamedPredecessor, ReportFinding, Retention, Severity, Status, TrailEvent, VersionProblem,
    VersionedObject,
};
use crate::layout::{ChainId, TrailArn};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The version of the report format written by this crate (`schema_version`).
pub const REPORT_SCHEMA_VERSION: u32 = 1;

/// The JSON Schema of [`Report`] as serialized, generated from the types: the checked-in
/// `schema/report.schema.json` is this, and a test fails when the two differ.
#[cfg(feature = "schema")]
pub fn report_schema() -> serde_json::Value {
    schemars::schema_for!(Report).to_value()
}
use std::collections::BTreeMap;

/// Where the list of chains a run had to cover came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChainScope {
    /// From the account and the organization (a single-region trail's home region, Account
    /// ListRegions for a multi-region trail, Organizations ListAccounts for an organization
    /// trail) or named by the caller: a chain whose files were all deleted is reported missing.
    Known,
    /// The chains found in the bucket plus the trail's home region (a local copy, a bucket
    /// given instead of DescribeTrails, or lists that could not be read): a region or member
    /// account whose files were all deleted would go unnoticed.
    #[default]
    FoundInBucket,
}

/// The verdict on one log file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LogReport {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Verdict.
    pub status: Status,
    /// Why it is not valid; `None` when valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<LogProblem>,
    /// Decompressed bytes hashed (0 when not read).
    pub bytes: u64,
    /// The version's S3 Object Lock protection, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
}

impl LogReport {
    /// A log report from an optional problem.
    pub fn new(bucket: &str, key: &str, problem: Option<LogProblem>, bytes: u64) -> Self {
        LogReport {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            status: problem.as_ref().map_or(Status::Valid, LogProblem::status),
            problem,
            bytes,
            retention: None,
        }
    }
}

/// Counts of verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Counts {
    /// Valid.
    pub valid: u64,
    /// Invalid.
    pub invalid: u64,
    /// Unverifiable.
    pub unverifiable: u64,
}

impl Counts {
    /// Adds one verdict.
    pub fn add(&mut self, status: Status) {
        match status {
            Status::Valid => self.valid += 1,
            Status::Invalid => self.invalid += 1,
            Status::Unverifiable => self.unverifiable += 1,
        }
    }
    /// Adds another set of counts.
    pub fn merge(&mut self, other: Counts) {
        self.valid += other.valid;
        self.invalid += other.invalid;
        self.unverifiable += other.unverifiable;
    }
    /// Total.
    pub fn total(&self) -> u64 {
        self.valid + self.invalid + self.unverifiable
    }
    /// The worst status counted (`Valid` when empty).
    pub fn worst(&self) -> Status {
        if self.invalid > 0 {
            Status::Invalid
        } else if self.unverifiable > 0 {
            Status::Unverifiable
        } else {
            Status::Valid
        }
    }
}

/// How many files read carry S3 Object Lock protection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RetentionCounts {
    /// Files whose version has a retention period (either mode).
    pub retained: u64,
    /// Of those, in COMPLIANCE mode.
    pub compliance: u64,
    /// Files under a legal hold.
    pub legal_hold: u64,
    /// The earliest retain-until date among them: the protection lasts at least until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub earliest_until: Option<DateTime<Utc>>,
}

impl RetentionCounts {
    /// Counts one file's protection.
    pub fn add(&mut self, retention: Option<&Retention>) {
        let Some(r) = retention else { return };
        if r.mode.is_some() {
            self.retained += 1;
            if r.mode == Some(LockMode::Compliance) {
                self.compliance += 1;
            }
            if let Some(until) = r.retain_until {
                self.earliest_until = Some(self.earliest_until.map_or(until, |e| e.min(until)));
            }
        }
        self.legal_hold += u64::from(r.legal_hold);
    }

    /// Adds another set of counts.
    pub fn merge(&mut self, other: RetentionCounts) {
        self.retained += other.retained;
        self.compliance += other.compliance;
        self.legal_hold += other.legal_hold;
        self.earliest_until = match (self.earliest_until, other.earliest_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// Whether the run read S3 version histories, and why not when it did not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum VersionCheck {
    /// The bucket has versioning on: every chain's histories were listed (see each chain's
    /// `versions` and `versions_error`).
    Checked,
    /// Versioning is suspended: histories were listed, but writes since the suspension replace
    /// objects without a trace.
    CheckedSuspended,
    /// The bucket has no versioning: an overwrite or deletion leaves no trace to check.
    NotVersioned,
    /// The versioning state could not be read (see `warnings`): histories were listed anyway
    /// (ListObjectVersions answers on any bucket), and a listing that fails is an error.
    Unknown,
    /// `--no-versions` (or [`crate::options::VerifyOptions::check_versions`] off).
    Skipped,
    /// The source has no versions (a local copy).
    #[default]
    Unsupported,
}

/// The verdict on one digest file and on the log files it lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DigestReport {
    /// Bucket read.
    pub bucket: String,
    /// Key read (or, for a missing digest whose key is `inferred`, where it would be).
    pub key: String,
    /// A backfill digest (late log files), verified on its own outside the hourly chain.
    pub backfill: bool,
    /// `digestStartTime`, when the digest could be read.
    pub start_time: Option<DateTime<Utc>>,
    /// `digestEndTime`, or the end time its key names.
    pub end_time: Option<DateTime<Utc>>,
    /// Verdict: the worst of `problems`, `Valid` when there are none.
    pub status: Status,
    /// Everything found wrong, most important first.
    pub problems: Vec<DigestProblem>,
    /// The log files this digest lists. When the run does not keep valid entries, valid log
    /// files are only counted in `log_counts`.
    pub logs: Vec<LogReport>,
    /// Verdict counts over the log files this digest lists, when the digest is valid.
    pub log_counts: Counts,
    /// Log files listed by this digest that were not checked because the digest itself did not
    /// verify: its listing is not evidence, so they are neither valid nor invalid.
    pub logs_not_checked: u64,
    /// Decompressed log bytes verified.
    pub log_bytes: u64,
    /// The digest version's S3 Object Lock protection, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// Object Lock protection over the log files this digest lists that were read.
    #[serde(default)]
    pub log_retention: RetentionCounts,
}

impl DigestReport {
    /// A report with no problems yet.
    pub fn new(bucket: &str, key: &str, backfill: bool) -> Self {
        DigestReport {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            backfill,
            start_time: None,
            end_time: None,
            status: Status::Valid,
            problems: Vec::new(),
            logs: Vec::new(),
            log_counts: Counts::default(),
            logs_not_checked: 0,
            log_bytes: 0,
            retention: None,
            log_retention: RetentionCounts::default(),
        }
    }

    /// Records a problem and updates the status.
    pub fn push(&mut self, problem: DigestProblem) {
        self.status = self.status.max(problem.status());
        self.problems.push(problem);
    }
}

/// Everything found for one chain (account, source region).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ChainReport {
    /// Which chain.
    pub chain: ChainId,
    /// Start of the oldest valid digest (the AWS CLI's "Results found for" range).
    pub found_start: Option<DateTime<Utc>>,
    /// End of the newest valid digest.
    pub found_end: Option<DateTime<Utc>>,
    /// Digests, newest first, in walk order; backfill digests after the chain.
    pub digests: Vec<DigestReport>,
    /// Log files in the chain's folder, named inside the window, that no valid digest lists
    /// (the first ones; see `unlisted_logs_omitted`).
    pub unlisted_logs: Vec<LogReport>,
    /// Unlisted log files beyond those kept in `unlisted_logs`, by status.
    pub unlisted_logs_omitted: Counts,
    /// Gaps in coverage of the verified window.
    pub gaps: Vec<CoverageGap>,
    /// Objects in the chain's folders that CloudTrail did not write (first ones only; see
    /// `foreign_objects_omitted`).
    pub foreign_objects: Vec<ForeignObject>,
    /// Foreign objects found beyond those kept in `foreign_objects`, all invalid.
    pub foreign_objects_omitted: u64,
    /// The range this chain had to be covered over. Its part within the delivery grace before
    /// now, which CloudTrail may not have delivered yet, is a `not_yet_delivered` gap.
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Whether the chain was expected (the trail's home region, or named on the command line)
    /// rather than only found in the bucket.
    pub expected: bool,
    /// Set when the chain could not be walked at all (listing failed).
    pub error: Option<String>,
    /// Digest and log files whose S3 version history shows a change after delivery (the first
    /// ones; see `versions_omitted`).
    #[serde(default)]
    pub versions: Vec<VersionedObject>,
    /// Changed objects beyond those kept in `versions`, all invalid.
    #[serde(default)]
    pub versions_omitted: u64,
    /// Set when the version histories of the chain's folders could not be read: the chain is
    /// then unverifiable at best.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions_error: Option<String>,
    /// The join to the checkpoint a previous run left for this chain (`--state`): the
    /// checkpoint digest read again, and the oldest new digest naming it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointCheck>,
    /// The newest digest up to which this chain is proven from its window's start (what a
    /// state records as the next checkpoint); `None` when nothing is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<ChainHead>,
    /// The oldest digest the walk read at the window's start and what it names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<ChainTail>,
    /// The joins between the time windows of a chain verified in parts (`ctverify merge`): each
    /// older part's head, and whether the newer part's oldest digest names it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seams: Vec<CheckpointCheck>,
    /// Counts of valid digests not kept in `digests`: a run that streamed its verdicts gave
    /// them to its observer and kept only the counts, so that memory does not grow with the
    /// range. [`ChainReport::summary`] includes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omitted: Option<Summary>,
    /// Where else the chain was followed: the trail delivered there before it was moved to
    /// another bucket or prefix (`s3://BUCKET/PREFIX/AWSLogs/...` folders of its digests), and
    /// CloudTrail's signed links lead there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moved_from: Vec<String>,
}

impl ChainReport {
    /// An empty report for a chain.
    pub fn new(chain: ChainId) -> Self {
        ChainReport {
            chain,
            found_start: None,
            found_end: None,
            digests: Vec::new(),
            unlisted_logs: Vec::new(),
            unlisted_logs_omitted: Counts::default(),
            gaps: Vec::new(),
            foreign_objects: Vec::new(),
            foreign_objects_omitted: 0,
            window: None,
            expected: false,
            error: None,
            versions: Vec::new(),
            versions_omitted: 0,
            versions_error: None,
            checkpoint: None,
            head: None,
            tail: None,
            seams: Vec::new(),
            omitted: None,
            moved_from: Vec::new(),
        }
    }

    /// Moves the digests that are valid with every log file valid out of `digests`, keeping
    /// their counts in `omitted`: what a streaming run keeps of a chain once its verdicts were
    /// given out.
    pub fn omit_valid_digests(&mut self) {
        let (valid, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.digests)
            .into_iter()
            .partition(|d| {
                d.status == Status::Valid
                    && d.problems.is_empty()
                    && d.log_counts.worst() == Status::Valid
                    && d.logs_not_checked == 0
                    && d.logs.iter().all(|l| l.problem.is_none())
            });
        self.digests = kept;
        if valid.is_empty() {
            return;
        }
        let mut folded = ChainReport::new(self.chain.clone());
        folded.digests = valid;
        let mut omitted = self.omitted.unwrap_or_default();
        omitted.merge(folded.summary());
        self.omitted = Some(omitted);
    }

    /// Counts over this chain's digests and logs.
    pub fn summary(&self) -> Summary {
        let mut s = self.omitted.unwrap_or_default();
        for d in &self.digests {
            s.digests.add(d.status);
            s.logs.merge(d.log_counts);
            s.logs_not_checked += d.logs_not_checked;
            s.log_bytes += d.log_bytes;
            s.retention.digests.add(d.retention.as_ref());
            s.retention.logs.merge(d.log_retention);
            if d.backfill {
                s.backfill_digests += 1;
            }
        }
        for l in &self.unlisted_logs {
            s.unlisted_logs.add(l.status);
        }
        s.unlisted_logs.merge(self.unlisted_logs_omitted);
        for f in &self.foreign_objects {
            s.foreign_objects.add(f.status);
        }
        s.foreign_objects.invalid += self.foreign_objects_omitted;
        for g in &self.gaps {
            s.gaps.add(g.status);
            s.uncovered_hours += g.hours;
        }
        s.chain_errors = u64::from(self.error.is_some());
        for v in &self.versions {
            s.versions.add(v.status);
        }
        s.versions.invalid += self.versions_omitted;
        s.version_errors = u64::from(self.versions_error.is_some());
        for (_, _, problem) in self.object_problems() {
            match problem {
                ObjectProblem::Digest(DigestProblem::Archived { .. })
                | ObjectProblem::Log(LogProblem::Archived { .. }) => s.archived += 1,
                ObjectProblem::Digest(DigestProblem::Expired { .. })
                | ObjectProblem::Log(LogProblem::Expired { .. }) => s.expired += 1,
                ObjectProblem::Digest(DigestProblem::KmsDenied { .. })
                | ObjectProblem::Log(LogProblem::KmsDenied { .. }) => s.kms_denied += 1,
                _ => {}
            }
        }
        s
    }

    /// Every problem of this chain's digests and of the log files they list, with the bucket
    /// and key of the object it is about.
    pub fn object_problems(&self) -> impl Iterator<Item = (&str, &str, ObjectProblem<'_>)> {
        self.digests.iter().flat_map(|d| {
            let own = d
                .problems
                .iter()
                .map(move |p| (d.bucket.as_str(), d.key.as_str(), ObjectProblem::Digest(p)));
            let logs = d.logs.iter().filter_map(|l| {
                l.problem
                    .as_ref()
                    .map(|p| (l.bucket.as_str(), l.key.as_str(), ObjectProblem::Log(p)))
            });
            own.chain(logs)
        })
    }
}

/// A problem of a digest or of a log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectProblem<'a> {
    /// A digest's.
    Digest(&'a DigestProblem),
    /// A log file's.
    Log(&'a LogProblem),
}

/// Summary counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Summary {
    /// Digest verdicts.
    pub digests: Counts,
    /// Verdicts on the log files digests list.
    pub logs: Counts,
    /// Log files listed by digests that did not verify, and so not checked.
    pub logs_not_checked: u64,
    /// Verdicts on log files no digest lists.
    pub unlisted_logs: Counts,
    /// Backfill digests among `digests`.
    pub backfill_digests: u64,
    /// Decompressed log bytes verified.
    pub log_bytes: u64,
    /// Objects in the chains' folders that CloudTrail did not write.
    pub foreign_objects: Counts,
    /// Coverage gaps, by status.
    pub gaps: Counts,
    /// Hours of the verified windows no valid digest covers.
    pub uncovered_hours: u64,
    /// Chains that could not be walked.
    pub chain_errors: u64,
    /// Digest and log files in an archive storage class, to restore before they can be checked.
    pub archived: u64,
    /// Digest and log files gone that a lifecycle rule of the bucket would have expired.
    pub expired: u64,
    /// Digest and log files that could not be read because KMS refused the key (`kms:Decrypt`).
    pub kms_denied: u64,
    /// Digest and log files whose S3 version history shows a change after delivery, by status.
    #[serde(default)]
    pub versions: Counts,
    /// Chains whose version histories could not be read.
    #[serde(default)]
    pub version_errors: u64,
    /// S3 Object Lock protection of the digest and log files read.
    #[serde(default)]
    pub retention: RetentionSummary,
}

/// S3 Object Lock protection over a run's files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RetentionSummary {
    /// Over the digest files read.
    pub digests: RetentionCounts,
    /// Over the log files read.
    pub logs: RetentionCounts,
}

impl Summary {
    pub(crate) fn merge(&mut self, other: Summary) {
        self.digests.merge(other.digests);
        self.logs.merge(other.logs);
        self.logs_not_checked += other.logs_not_checked;
        self.unlisted_logs.merge(other.unlisted_logs);
        self.backfill_digests += other.backfill_digests;
        self.log_bytes += other.log_bytes;
        self.foreign_objects.merge(other.foreign_objects);
        self.gaps.merge(other.gaps);
        self.uncovered_hours += other.uncovered_hours;
        self.chain_errors += other.chain_errors;
        self.archived += other.archived;
        self.expired += other.expired;
        self.kms_denied += other.kms_denied;
        self.versions.merge(other.versions);
        self.version_errors += other.version_errors;
        self.retention.digests.merge(other.retention.digests);
        self.retention.logs.merge(other.retention.logs);
    }
}

/// Which shard of which plan a report is ([`crate::plan`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ShardOf {
    /// SHA-256 of the plan as written, hex: reports of different plans are never merged.
    pub plan_sha256: String,
    /// The shard's index, from 0.
    pub index: usize,
    /// How many shards the plan has.
    pub shards: usize,
}

/// The result of verifying a trail over a time range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Report {
    /// The version of this format, [`REPORT_SCHEMA_VERSION`]: it changes when a field changes
    /// meaning or goes away (new fields and new problem kinds do not change it).
    pub schema_version: u32,
    /// The ctverify version that wrote the report.
    pub tool_version: String,
    /// When the run ended (UTC).
    pub generated_at: DateTime<Utc>,
    /// The trail's ARN (written as its text).
    pub trail: TrailArn,
    /// Where objects were read from.
    pub source: String,
    /// Bucket read.
    pub bucket: String,
    /// Start of the requested range.
    pub requested_start: DateTime<Utc>,
    /// End of the requested range.
    pub requested_end: DateTime<Utc>,
    /// One report per chain, sorted by account then region.
    pub chains: Vec<ChainReport>,
    /// Totals over all chains.
    pub summary: Summary,
    /// The run's verdict: the worst status of anything checked, capped as
    /// [`Report::verdict`] says.
    pub status: Status,
    /// Where the list of chains the run had to cover came from: when it is only what the bucket
    /// held, a region or member account whose files were all deleted goes unnoticed.
    #[serde(default)]
    pub scope: ChainScope,
    /// Things the reader should know that are not verdicts on files (for instance, log-file
    /// validation is off for the trail).
    pub warnings: Vec<String>,
    /// Whether S3 version histories were checked.
    #[serde(default)]
    pub versions: VersionCheck,
    /// For an evidence bundle (`ctverify export`) read with `--local`: every discrepancy
    /// between the bundle and its `manifest.json`, each invalid. Empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bundle_problems: Vec<BundleProblem>,
    /// Who ran what, where and when: the caller, endpoints, keys and options of the run.
    /// Absent from reports written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// Set when the run verified one shard of a plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardOf>,
    /// The public keys were read from inside the copy being verified (an evidence bundle's own
    /// `public-keys.json`): whoever can write the copy can replace them with keys of their own
    /// and re-sign every digest, so nothing outside the copy vouches for the result and the
    /// report is never valid ([`Report::verdict`]). Carried in the report so that every
    /// report made from it (a merge of shards) keeps the cap.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keys_from_the_copy: bool,
    /// CloudTrail's event history, when a gap needed it and the run read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_history: Option<EventHistoryRead>,
    /// The checkpoint state a `--state` run started from and the one it wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateRecord>,
    /// Every finding as one typed list, each with its stable id, and the run's summary finding
    /// last: the same list, by the same ids, as every other output format gives
    /// (`crate::report_findings::finding_list`). Filled when the report is written out
    /// (`crate::report_findings::attach`); empty in a report only built.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<ReportFinding>,
}

/// The checkpoint states of a run, by SHA-256: the report of each run names the state the next
/// one starts from, so that successive reports form a verifiable chain of audits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StateRecord {
    /// Where the state is kept (a file, or `s3://BUCKET/KEY`).
    pub location: String,
    /// SHA-256 of the state the run started from, hex (`None`: the first run).
    pub read_sha256: Option<String>,
    /// SHA-256 of the state the run writes, hex.
    pub written_sha256: String,
}

/// What the run read of CloudTrail's event history (LookupEvents).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct EventHistoryRead {
    /// LookupEvents calls made.
    pub calls: u32,
    /// The trail's events found (StartLogging, StopLogging, UpdateTrail, CreateTrail,
    /// DeleteTrail).
    pub events: usize,
    /// The oldest time the history reached back to.
    pub reaches_back_to: Option<DateTime<Utc>>,
    /// Why it could not be read, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Who ran what, where and when: enough to repeat the run, or to see that two reports came
/// from different runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Provenance {
    /// When the run started (UTC): before the trail was resolved.
    pub started_at: DateTime<Utc>,
    /// When the run ended (UTC); the same as the report's `generated_at`.
    pub ended_at: DateTime<Utc>,
    /// Whose credentials read the trail (STS GetCallerIdentity with the run's session). `None`
    /// offline, or when the call failed (then `caller_note` says why; a warning, not an error).
    pub caller: Option<CallerIdentity>,
    /// Why `caller` is absent: `local copy` offline, or the failed call's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_note: Option<String>,
    /// The endpoints used, by service (`s3`, `cloudtrail`): an override (`--endpoint-url`,
    /// `AWS_ENDPOINT_URL_*`) or AWS's regional endpoint. Empty offline.
    pub endpoints: BTreeMap<String, String>,
    /// The public keys the run had: every key loaded for the range (fingerprint, validity
    /// window, region, where it came from).
    pub keys: Vec<KeyProvenance>,
    /// The run's options as given and resolved: range, scope, limits.
    pub options: RunOptions,
    /// SHA-256 of the exceptions file (`--exceptions`) the run applied, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exceptions_sha256: Option<String>,
}

/// The identity STS reports for the run's credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CallerIdentity {
    /// The caller's ARN (user, assumed role session, root).
    pub arn: Option<String>,
    /// The caller's account.
    pub account: Option<String>,
    /// The caller's unique id.
    pub user_id: Option<String>,
}

/// One public key the run had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct KeyProvenance {
    /// Lower-case hex fingerprint, as digests name it.
    pub fingerprint: String,
    /// Start of the key's validity window.
    pub valid_from: DateTime<Utc>,
    /// End of the key's validity window.
    pub valid_to: DateTime<Utc>,
    /// The region it was fetched for; `None` for keys from a file, which serve every region.
    pub region: Option<String>,
    /// Where it came from: `ListPublicKeys` at an endpoint, or a key file's path.
    pub source: String,
    /// When it was fetched from CloudTrail; `None` for keys from a file.
    pub fetched_at: Option<DateTime<Utc>>,
}

/// The options of a run that decide its verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunOptions {
    /// Start of the range.
    pub from: DateTime<Utc>,
    /// End of the range.
    pub to: DateTime<Utc>,
    /// Where objects were read (`s3://BUCKET` or the local copy).
    pub source: String,
    /// The bucket read.
    pub bucket: String,
    /// The trail's key prefix, if any.
    pub prefix: Option<String>,
    /// Accounts the run was narrowed to (`--account-id`); empty: all.
    pub accounts: Vec<String>,
    /// Source regions the run was narrowed to (`--region`); empty: all.
    pub regions: Vec<String>,
    /// Log files read at once.
    pub concurrency: usize,
    /// Largest decompressed log file hashed, in bytes.
    pub max_log_bytes: u64,
}

impl Report {
    /// Builds a report and its totals from chain reports.
    pub fn new(
        trail: TrailArn,
        source: String,
        bucket: String,
        requested_start: DateTime<Utc>,
        requested_end: DateTime<Utc>,
        mut chains: Vec<ChainReport>,
    ) -> Self {
        chains.sort_by(|a, b| a.chain.cmp(&b.chain));
        let mut summary = Summary::default();
        for c in &chains {
            summary.merge(c.summary());
        }
        let mut report = Report {
            schema_version: REPORT_SCHEMA_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            generated_at: Utc::now(),
            trail,
            source,
            bucket,
            requested_start,
            requested_end,
            chains,
            summary,
            scope: ChainScope::default(),
            warnings: Vec::new(),
            versions: VersionCheck::default(),
            bundle_problems: Vec::new(),
            provenance: None,
            event_history: None,
            state: None,
            findings: Vec::new(),
            shard: None,
            keys_from_the_copy: false,
            status: Status::Unverifiable,
        };
        report.status = report.verdict();
        report
    }

    /// Adds discrepancies between a bundle and its manifest; each is invalid, so the verdict
    /// becomes invalid when there is one.
    pub fn add_bundle_problems(&mut self, problems: impl IntoIterator<Item = BundleProblem>) {
        self.bundle_problems.extend(problems);
        self.status = self.verdict();
    }

    /// Records that the public keys came from the copy itself, which caps the verdict at
    /// unverifiable ([`Report::keys_from_the_copy`]).
    pub fn set_keys_from_the_copy(&mut self) {
        self.keys_from_the_copy = true;
        self.status = self.verdict();
    }

    /// Oldest start found over all chains.
    pub fn found_start(&self) -> Option<DateTime<Utc>> {
        self.chains.iter().filter_map(|c| c.found_start).min()
    }

    /// Newest end found over all chains.
    pub fn found_end(&self) -> Option<DateTime<Utc>> {
        self.chains.iter().filter_map(|c| c.found_end).max()
    }

    /// Every problem of every chain's digests and listed log files, with its object's bucket
    /// and key.
    pub fn object_problems(&self) -> impl Iterator<Item = (&str, &str, ObjectProblem<'_>)> {
        self.chains.iter().flat_map(ChainReport::object_problems)
    }

    /// The KMS keys the credentials may not decrypt with, each with how many objects it kept
    /// from being read (`None`: a key S3 did not name).
    pub fn kms_denials(&self) -> BTreeMap<Option<&str>, u64> {
        let mut keys = BTreeMap::new();
        for (_, _, problem) in self.object_problems() {
            if let ObjectProblem::Digest(DigestProblem::KmsDenied { key })
            | ObjectProblem::Log(LogProblem::KmsDenied { key }) = problem
            {
                *keys.entry(key.as_deref()).or_default() += 1;
            }
        }
        keys
    }

    /// Whether a digest or log file was found missing (deleted, or not excused as expired).
    pub fn has_missing_objects(&self) -> bool {
        self.object_problems().any(|(_, _, p)| {
            matches!(
                p,
                ObjectProblem::Digest(DigestProblem::NotFound)
                    | ObjectProblem::Log(LogProblem::NotFound)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::ChainId;
    use chrono::TimeZone;

    fn chain_with(digests: Vec<DigestReport>) -> ChainReport {
        let mut chain = ChainReport::new(ChainId {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
        });
        chain.digests = digests;
        chain
    }

    fn valid_digest(key: &str, logs: u64) -> DigestReport {
        let mut d = DigestReport::new("b", key, false);
        for _ in 0..logs {
            d.log_counts.add(Status::Valid);
        }
        d.log_bytes = 100 * logs;
        d
    }

    #[test]
    fn omitting_valid_digests_keeps_every_count_and_every_finding() {
        let mut bad = valid_digest("bad", 2);
        bad.push(DigestProblem::NotFound);
        let mut chain = chain_with(vec![valid_digest("a", 3), bad, valid_digest("c", 1)]);
        let before = chain.summary();
        chain.omit_valid_digests();
        assert_eq!(chain.summary(), before);
        let kept: Vec<&str> = chain.digests.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(kept, ["bad"]);
    }

    #[test]
    fn a_bundle_problem_or_keys_from_the_copy_never_leave_a_report_valid() {
        let at = |h| Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0).unwrap();
        let report = || {
            Report::new(
                "arn:aws:cloudtrail:us-east-1:111122223333:trail/main"
                    .parse()
                    .unwrap(),
                "copy".into(),
                "b".into(),
                at(0),
                at(1),
                vec![{
                    let mut chain = chain_with(vec![valid_digest("a", 1)]);
                    chain.window = Some((at(0), at(1)));
                    chain
                }],
            )
        };
        assert_eq!(report().status, Status::Valid, "valid before");
        let mut altered = report();
        altered.add_bundle_problems([BundleProblem::Missing {
            path: "b/a.json.gz".into(),
        }]);
        assert_ne!(altered.status, Status::Valid);
        let mut self_vouched = report();
        self_vouched.set_keys_from_the_copy();
        assert_ne!(self_vouched.status, Status::Valid);
    }
}
