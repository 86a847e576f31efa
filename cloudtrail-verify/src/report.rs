//! The result of a verification run: a typed verdict for every digest and log file, the gaps in
//! coverage, and summary counts. Serialisable with serde; nothing here prints.
//!
//! Three outcomes never blur: [`Status::Valid`] (every byte checked), [`Status::Invalid`]
//! (evidence of tampering) and [`Status::Unverifiable`] (could not be checked).

use crate::layout::ChainId;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The verdict on one file, or on a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every byte was verified.
    Valid,
    /// It could not be checked (access denied, network, missing key or signature).
    Unverifiable,
    /// Evidence of tampering: bad hash, bad signature, missing file, broken chain.
    Invalid,
}

/// A problem found with a digest file. Each knows whether it is evidence ([`Status::Invalid`])
/// or an obstacle ([`Status::Unverifiable`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DigestProblem {
    /// The digest a newer digest names is not in the trail's bucket (deleted or renamed).
    NotFound,
    /// The digest a newer digest names is in another bucket, which this run does not hold (a
    /// trail that moved buckets, verified from a copy of the new one).
    OtherBucketMissing {
        /// The bucket named.
        bucket: String,
    },
    /// Decompressed, the digest is larger than any digest CloudTrail writes.
    TooLarge {
        /// The cap in force.
        limit: u64,
    },
    /// The object cannot be one CloudTrail delivered (encrypted with a customer key, not a
    /// regular file in a local copy).
    ForeignObject {
        /// Why.
        reason: String,
    },
    /// The object's metadata is present but malformed (a sidecar that is not a JSON object of
    /// strings).
    MalformedMetadata {
        /// What was wrong.
        reason: String,
    },
    /// Metadata CloudTrail always writes with this object is missing (`signature-algorithm`
    /// beside `signature`; `backfill-generation-timestamp` on a backfill digest).
    MissingMetadata {
        /// The metadata field.
        field: String,
    },
    /// A backfill digest's `backfill-generation-timestamp` is not a time, or is before the
    /// digest's end.
    BadBackfillTimestamp {
        /// The value found.
        value: String,
    },
    /// Not gzip, data after the gzip stream, or not a digest's JSON.
    InvalidFormat {
        /// What was wrong.
        detail: String,
    },
    /// `digestS3Bucket`/`digestS3Object` differ from where the file was read.
    Moved {
        /// Bucket the digest names.
        declared_bucket: String,
        /// Key the digest names.
        declared_key: String,
    },
    /// The digest's own key is not a digest key of the chain being verified.
    OutsideChain {
        /// The key it names.
        declared_key: String,
    },
    /// `awsAccountId` is not the chain's account.
    WrongAccount {
        /// The account the digest names.
        declared: String,
    },
    /// `digestSignatureAlgorithm` (or the `signature-algorithm` metadata) is not `SHA256withRSA`.
    UnknownSignatureAlgorithm {
        /// The algorithm named.
        found: String,
    },
    /// `previousDigestHashAlgorithm` is not `SHA-256`.
    UnknownHashAlgorithm {
        /// The algorithm named.
        found: String,
    },
    /// The signature is not hex of the right length.
    MalformedSignature,
    /// The signature does not verify under the named key.
    SignatureMismatch,
    /// The named key was not valid when the digest was signed.
    KeyNotValidAtSigningTime {
        /// The key's fingerprint.
        fingerprint: String,
        /// Start of its validity.
        valid_from: DateTime<Utc>,
        /// End of its validity.
        valid_to: DateTime<Utc>,
    },
    /// The newer digest's `previousDigestHashValue` is not this digest's SHA-256.
    PreviousHashMismatch {
        /// The newer digest.
        newer_key: String,
        /// What the newer digest recorded.
        recorded: String,
        /// What this digest hashes to.
        actual: String,
    },
    /// The newer digest's `previousDigestSignature` differs from this digest's signature.
    PreviousSignatureMismatch {
        /// The newer digest.
        newer_key: String,
    },
    /// This digest does not end where the newer digest starts.
    TimeDiscontinuity {
        /// The newer digest.
        newer_key: String,
        /// The newer digest's start.
        expected_end: DateTime<Utc>,
        /// This digest's end.
        actual_end: DateTime<Utc>,
    },
    /// No signature: no metadata, and no newer digest carries it.
    NoSignature,
    /// No public key with the digest's fingerprint among the keys CloudTrail lists for the
    /// region and time: the list was read whole, so CloudTrail did not sign it.
    KeyUnknown {
        /// The fingerprint the digest names.
        fingerprint: String,
        /// The chain's region.
        region: String,
    },
    /// No public key with the digest's fingerprint, and the key list for its region and time
    /// was not available to say whether CloudTrail has one.
    KeyNotFound {
        /// The fingerprint the digest names.
        fingerprint: String,
        /// The chain's region.
        region: String,
    },
    /// The digest could not be read (access denied, network, too large, unsafe key).
    Unreadable {
        /// Why.
        reason: String,
    },
}

impl DigestProblem {
    /// Whether this problem is evidence of tampering or only prevents checking (the rule is
    /// [`crate::trust::digest_problem_status`]).
    pub fn status(&self) -> Status {
        crate::trust::digest_problem_status(self)
    }
}

/// A problem found with a log file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LogProblem {
    /// The log file is not in the bucket.
    NotFound,
    /// The SHA-256 of the decompressed content differs from the digest's `hashValue`.
    HashMismatch {
        /// The digest's `hashValue`.
        expected: String,
        /// What the content hashes to.
        actual: String,
    },
    /// Not a well-formed gzip stream (corrupt or truncated).
    InvalidFormat {
        /// What was wrong.
        detail: String,
    },
    /// Bytes follow the end of the gzip stream.
    TrailingData,
    /// The digest entry is malformed (hash not hex, unknown algorithm, key outside the chain).
    BadDigestEntry {
        /// What was wrong.
        detail: String,
    },
    /// A log file in the chain's folder, named after a time in the verified window, that no
    /// valid digest lists. In an hour valid digests cover it is planted (invalid); in an hour
    /// no valid digest covers, it is only unproven (unverifiable).
    NotListed {
        /// Whether a valid digest covers the time the file is named after.
        hour_covered: bool,
    },
    /// The object cannot be one CloudTrail delivered (encrypted with a customer key, not a
    /// regular file in a local copy).
    ForeignObject {
        /// Why.
        reason: String,
    },
    /// The log could not be read (access denied, network, unsafe key).
    Unreadable {
        /// Why.
        reason: String,
    },
    /// Decompressed content passed the size cap; it was not hashed to the end.
    TooLarge {
        /// The cap in force.
        limit: u64,
    },
}

impl LogProblem {
    /// Whether this problem is evidence of tampering or only prevents checking (the rule is
    /// [`crate::trust::log_problem_status`]).
    pub fn status(&self) -> Status {
        crate::trust::log_problem_status(self)
    }
}

/// The verdict on one log file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
        }
    }
}

/// Counts of verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
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

/// The verdict on one digest file and on the log files it lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
        }
    }

    /// Records a problem and updates the status.
    pub fn push(&mut self, problem: DigestProblem) {
        self.status = self.status.max(problem.status());
        self.problems.push(problem);
    }
}

/// Why part of the verified window is covered by no valid digest. Every gap is a finding:
/// nothing proves what happened in it. [`crate::trust::gap_status`] says which are evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapKind {
    /// The valid digest after the gap names a predecessor that is missing from the bucket or
    /// did not verify: the chain proves digests were deleted or altered. Invalid.
    BrokenChain,
    /// The valid digest after the gap names a predecessor that could not be read (access
    /// denied, network, another bucket this run does not hold). Unverifiable.
    PredecessorUnavailable,
    /// The valid digest after the gap starts a new chain (null `previousDigest*` fields), as
    /// when logging or log-file validation was turned off and on again: the AWS CLI's "No log
    /// files were delivered by CloudTrail between ..." line. The restart proves where the new
    /// chain starts, not where the old one ended, so digests deleted just before a restart look
    /// the same. Unverifiable.
    ChainRestart,
    /// The gap opens the window and the first valid digest starts a chain: the trail (or its
    /// validation) began later, or the chain's first digests were deleted. Unverifiable.
    BeforeChainStart,
    /// No valid digest after the gap although the window goes on: logging stopped, or the
    /// newest digests were deleted; the chain cannot tell which. Unverifiable.
    AfterNewestDigest,
    /// No valid digest in the whole window (the chain's files are missing, or none verified).
    /// Unverifiable.
    NoDigests,
}

/// A stretch of the verified window that no valid standard digest covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoverageGap {
    /// What kind of gap.
    pub kind: GapKind,
    /// From.
    pub start: DateTime<Utc>,
    /// To.
    pub end: DateTime<Utc>,
    /// Hours it spans, started hours counted whole.
    pub hours: u64,
    /// Invalid (the chain proves deletion) or unverifiable.
    pub status: Status,
}

/// An object in one of the chain's folders that CloudTrail did not write there, or another
/// trail's digest that did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignObject {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Why it is not a file of this trail.
    pub reason: String,
    /// Invalid, or unverifiable when it could not be read to tell.
    pub status: Status,
}

/// Everything found for one chain (account, source region).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    /// The window this chain had to be covered over: the requested range, up to the delivery
    /// grace before now. `None` when nothing of the range can have been delivered yet.
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Whether the chain was expected (the trail's home region, or named on the command line)
    /// rather than only found in the bucket.
    pub expected: bool,
    /// Set when the chain could not be walked at all (listing failed).
    pub error: Option<String>,
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
        }
    }

    /// Counts over this chain's digests and logs.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for d in &self.digests {
            s.digests.add(d.status);
            s.logs.merge(d.log_counts);
            s.logs_not_checked += d.logs_not_checked;
            s.log_bytes += d.log_bytes;
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
        s
    }

    /// This chain's verdict: the worst of everything found, and never valid without a window
    /// that was covered.
    pub fn status(&self) -> Status {
        let s = self.summary();
        let mut status = [
            s.digests,
            s.logs,
            s.unlisted_logs,
            s.foreign_objects,
            s.gaps,
        ]
        .iter()
        .map(Counts::worst)
        .max()
        .unwrap_or(Status::Valid);
        if self.error.is_some() || s.logs_not_checked > 0 || self.window.is_none() {
            status = status.max(Status::Unverifiable);
        }
        status
    }
}

/// Summary counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
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
}

impl Summary {
    fn merge(&mut self, other: Summary) {
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
    }
}

/// The result of verifying a trail over a time range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The trail's ARN.
    pub trail: String,
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
    /// The run's verdict: the worst status of anything checked.
    pub status: Status,
    /// Things the reader should know that are not verdicts on files (for instance, log-file
    /// validation is off for the trail).
    pub warnings: Vec<String>,
}

impl Report {
    /// Builds a report and its totals from chain reports.
    pub fn new(
        trail: String,
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
        // Valid only when every chain is: each chain's verdict includes its coverage, so a run
        // with no chain at all proves nothing.
        let status = chains
            .iter()
            .map(ChainReport::status)
            .max()
            .unwrap_or(Status::Unverifiable);
        Report {
            trail,
            source,
            bucket,
            requested_start,
            requested_end,
            chains,
            summary,
            status,
            warnings: Vec::new(),
        }
    }

    /// Oldest start found over all chains.
    pub fn found_start(&self) -> Option<DateTime<Utc>> {
        self.chains.iter().filter_map(|c| c.found_start).min()
    }

    /// Newest end found over all chains.
    pub fn found_end(&self) -> Option<DateTime<Utc>> {
        self.chains.iter().filter_map(|c| c.found_end).max()
    }
}
