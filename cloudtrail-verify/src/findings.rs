//! What can be found: the verdict classes and every kind of problem, as plain data. Which
//! problem is evidence and which only an obstacle is decided in `crate::trust`, which also
//! gives these types their `status()`.

use crate::layout::ChainId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The verdict on one file, or on a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every byte was verified.
    Valid,
    /// It could not be checked (access denied, network, missing key or signature).
    Unverifiable,
    /// Evidence of tampering: bad hash, bad signature, missing file, broken chain.
    Invalid,
}

impl Status {
    /// `valid`, `invalid` or `unverifiable`, as the JSON report spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Unverifiable => "unverifiable",
            Status::Invalid => "invalid",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A problem found with a digest file. Each knows whether it is evidence ([`Status::Invalid`])
/// or an obstacle ([`Status::Unverifiable`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
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
    /// The digest is gone, and an enabled lifecycle rule of the bucket that selects its key
    /// would have expired it by now: the bucket's configuration removed it, not a writer of
    /// objects. Nothing proves what it held. Unverifiable, never valid.
    Expired {
        /// The rule's `ID`.
        rule_id: String,
        /// The rule's expiration age in days (`Expiration.Days`).
        #[serde(skip_serializing_if = "Option::is_none")]
        days: Option<u32>,
        /// The rule's expiration date (`Expiration.Date`).
        #[serde(skip_serializing_if = "Option::is_none")]
        date: Option<DateTime<Utc>>,
    },
    /// The digest is in an archive storage class (S3 Glacier Flexible Retrieval, Deep Archive,
    /// an Intelligent-Tiering archive tier) and not restored: S3 answers `InvalidObjectState`
    /// until it is. Unverifiable until restored.
    Archived {
        /// The storage class (and access tier) S3 named.
        storage_class: String,
    },
    /// The digest is encrypted with SSE-KMS and the credentials in use may not use the key
    /// (`kms:Decrypt`). Unverifiable.
    KmsDenied {
        /// The key's ARN or id, when S3 named it.
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// A lifecycle rule would have expired the digest, but CloudTrail's event history shows
    /// the bucket's lifecycle configuration changed after the digest was delivered
    /// (PutBucketLifecycle): the rule that removed it was set after the fact, as an attacker
    /// who cannot delete objects directly would. Invalid.
    LifecycleChanged {
        /// The rule that would have expired it.
        rule_id: String,
        /// The configuration change, with who made it and when.
        change: TrailEvent,
    },
}

/// A problem found with a log file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
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
    /// The log file is gone, and an enabled lifecycle rule of the bucket that selects its key
    /// would have expired it by now (see [`DigestProblem::Expired`]). Unverifiable.
    Expired {
        /// The rule's `ID`.
        rule_id: String,
        /// The rule's expiration age in days (`Expiration.Days`).
        #[serde(skip_serializing_if = "Option::is_none")]
        days: Option<u32>,
        /// The rule's expiration date (`Expiration.Date`).
        #[serde(skip_serializing_if = "Option::is_none")]
        date: Option<DateTime<Utc>>,
    },
    /// The log file is in an archive storage class and not restored (see
    /// [`DigestProblem::Archived`]). Unverifiable until restored.
    Archived {
        /// The storage class (and access tier) S3 named.
        storage_class: String,
    },
    /// The log file is encrypted with SSE-KMS and the credentials in use may not use the key
    /// (`kms:Decrypt`). Unverifiable.
    KmsDenied {
        /// The key's ARN or id, when S3 named it.
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// A lifecycle rule would have expired the log file, but CloudTrail's event history shows
    /// the bucket's lifecycle configuration changed after the file was delivered
    /// (PutBucketLifecycle). Invalid.
    LifecycleChanged {
        /// The rule that would have expired it.
        rule_id: String,
        /// The configuration change, with who made it and when.
        change: TrailEvent,
    },
}

/// Why part of the verified window is covered by no valid digest. Every gap is a finding:
/// nothing proves what happened in it. [`CoverageGap::status`] says which are evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GapKind {
    /// The valid digest after the gap names a predecessor that is missing from the bucket or
    /// did not verify: the chain proves digests were deleted or altered. Invalid.
    BrokenChain,
    /// The valid digest after the gap names a predecessor that could not be read (access
    /// denied, network, another bucket this run does not hold). Unverifiable.
    PredecessorUnavailable,
    /// The valid digest after the gap names a predecessor that is gone, and an enabled
    /// lifecycle rule of the bucket would have expired it by now (the predecessor's digest
    /// entry names the rule): the hours are older than the bucket keeps objects. Unverifiable.
    LifecycleExpired,
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
    /// The range reaches into the last hours, whose digests CloudTrail may not have delivered
    /// yet: nothing proves them. Unverifiable.
    NotYetDelivered,
    /// CloudTrail's event history proves the trail was not logging: an event that stopped it
    /// during the last digest before the gap (StopLogging, DeleteTrail), the one that started it
    /// again just before the next chain begins, and none in between ([`CoverageGap::events`]).
    /// Nothing was delivered, so nothing is missing. Valid.
    LoggingOff,
    /// CloudTrail's event history shows the trail logging without log-file validation for part
    /// of the gap (UpdateTrail events, [`CoverageGap::events`]): the log files of those hours
    /// carry no digest and can never be proven. Unverifiable, explained.
    ValidationOff,
    /// CloudTrail's event history shows the trail logging with validation inside the gap (a
    /// start and its stop, [`CoverageGap::events`]): digests were delivered there and are gone.
    /// Invalid.
    SegmentDeleted,
}

/// One of a trail's management events from CloudTrail's event history (LookupEvents), cited as
/// evidence for a gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TrailEvent {
    /// CloudTrail's `EventId`.
    pub event_id: String,
    /// `StartLogging`, `StopLogging`, `UpdateTrail`, `CreateTrail` or `DeleteTrail`.
    pub event_name: String,
    /// `EventTime`.
    pub time: DateTime<Utc>,
    /// Who made the call: the identity's ARN, else its user name.
    pub principal: String,
    /// The `enableLogFileValidation` the call set (UpdateTrail, CreateTrail), when it set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<bool>,
}

/// A stretch of the verified window that no valid standard digest covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// The start of the valid digest that follows the gap, when one does (it may lie past the
    /// window's end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_start: Option<DateTime<Utc>>,
    /// The events of CloudTrail's event history the gap's kind rests on (`logging_off`,
    /// `validation_off`, `segment_deleted`), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<TrailEvent>,
    /// Why the event history, when it was asked, did not explain the gap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_note: Option<String>,
    /// The start of the valid digest that ends where the gap begins, when one does (the last
    /// digest of the old segment, if the gap is a pause): what the event history judges the
    /// gap from, again in later runs that carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_start: Option<DateTime<Utc>>,
    /// The gap lies before this run's window: an earlier run found it and the checkpoint state
    /// carries it until it is explained or accepted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub carried: bool,
    /// The reviewed exception (`--exceptions`) that accepts this unverifiable gap; the gap is
    /// then valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<AcceptedBy>,
}

/// The entry of an exceptions file that accepted a gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AcceptedBy {
    /// The entry's position in the file's `exceptions`, from 0.
    pub entry: usize,
    /// Why the hours are accepted.
    pub reason: String,
    /// Who approved it.
    pub approved_by: String,
    /// When the entry stops applying.
    pub expires: DateTime<Utc>,
}

/// An object in one of the chain's folders that CloudTrail did not write there, or another
/// trail's digest that did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

/// What an object's S3 version history shows happened to it after CloudTrail delivered it.
/// CloudTrail writes each digest and log file once, so its version is the oldest; anything
/// after it is someone else's doing (judged in the trust core).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum VersionProblem {
    /// A later version replaced CloudTrail's (PutObject, CopyObject over the key). Invalid, even
    /// when CloudTrail's original still verifies: the object was altered after delivery.
    Overwritten {
        /// The later version's id.
        version_id: String,
        /// When it was written (its `LastModified`).
        at: DateTime<Utc>,
    },
    /// A delete marker hides CloudTrail's version (DeleteObject on a versioned bucket), and no
    /// lifecycle rule of the bucket would have placed it. Invalid.
    Deleted {
        /// The delete marker's version id.
        version_id: String,
        /// When it was placed.
        at: DateTime<Utc>,
    },
}

/// S3 Object Lock mode of an object version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum LockMode {
    /// Users with `s3:BypassGovernanceRetention` may still delete or shorten it.
    Governance,
    /// Nobody, the root user included, can delete the version before its retain-until date.
    Compliance,
}

impl LockMode {
    /// `GOVERNANCE` or `COMPLIANCE`, as S3 spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Governance => "GOVERNANCE",
            LockMode::Compliance => "COMPLIANCE",
        }
    }
}

/// An object version's S3 Object Lock protection, as GetObject's headers report it
/// (`x-amz-object-lock-mode`, `-retain-until-date`, `-legal-hold`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Retention {
    /// The retention mode, when the version has a retention period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<LockMode>,
    /// Until when the version is retained.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retain_until: Option<DateTime<Utc>>,
    /// Whether a legal hold is on.
    pub legal_hold: bool,
}

impl Retention {
    /// Whether anything protects the version.
    pub fn is_protected(&self) -> bool {
        self.mode.is_some() || self.legal_hold
    }
}

/// An object of a chain's folders whose version history shows a change after delivery, with
/// what CloudTrail's original version proves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct VersionedObject {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// The version CloudTrail wrote: the oldest version that is not a delete marker (none when
    /// only delete markers are left).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_version_id: Option<String>,
    /// When the original version was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_written: Option<DateTime<Utc>>,
    /// What happened after delivery, oldest first.
    pub problems: Vec<VersionProblem>,
    /// Verdict on the history: the worst of `problems` (invalid: tampering).
    pub status: Status,
    /// The original version's own verification, reported beside the verdict (it never lowers
    /// it): `valid` when it verifies (the evidence is recovered), `invalid` when it does not
    /// either, `unverifiable` when it could not be checked; absent when it was not checked (not
    /// a digest, or a log file no valid digest lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_status: Option<Status>,
    /// Why the original version does not verify, or why it was not checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_problem: Option<String>,
}

// CloudTrail Lake query results (the checks are in `crate::lake`).

/// A problem with the sign file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SignFileProblem {
    /// There is no `result_sign.json` in the folder.
    NotFound {
        /// Other objects in the folder: with some, the sign file was deleted from beside them.
        objects_in_folder: u64,
    },
    /// It could not be read (access denied, network, archived, KMS).
    Unreadable {
        /// Why.
        reason: String,
    },
    /// It cannot be an object CloudTrail wrote (SSE-C, not a regular file in a local copy).
    ForeignObject {
        /// Why.
        reason: String,
    },
    /// It is larger than any sign file CloudTrail writes.
    TooLarge {
        /// The cap.
        limit: u64,
    },
    /// It is not a sign file.
    InvalidFormat {
        /// What is wrong.
        detail: String,
    },
    /// `hashAlgorithm` is not `SHA-256`.
    UnknownHashAlgorithm {
        /// The value found.
        found: String,
    },
    /// `signatureAlgorithm` is not `SHA256withRSA`.
    UnknownSignatureAlgorithm {
        /// The value found.
        found: String,
    },
    /// `region` is not the region expected (given by the caller, or the key's).
    WrongRegion {
        /// `region` in the sign file.
        declared: String,
        /// The region expected.
        expected: String,
    },
    /// CloudTrail's whole key list for the region and time holds no key with the fingerprint.
    KeyUnknown {
        /// The fingerprint.
        fingerprint: String,
        /// The region.
        region: String,
    },
    /// No key with the fingerprint is at hand, and the keys at hand are not CloudTrail's whole
    /// list for the region and time: it could not be checked.
    KeyNotFound {
        /// The fingerprint.
        fingerprint: String,
        /// The region.
        region: String,
    },
    /// The key named was not valid when the query completed.
    KeyNotValidAtCompleteTime {
        /// The fingerprint.
        fingerprint: String,
        /// Start of its validity.
        valid_from: DateTime<Utc>,
        /// End of its validity.
        valid_to: DateTime<Utc>,
    },
    /// `hashSignature` is not a hex RSA signature.
    MalformedSignature,
    /// The signature does not match the listed hashes under the key.
    SignatureMismatch,
}

/// A problem with one object of the query's folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResultFileProblem {
    /// A file the sign file lists is not there.
    NotFound,
    /// Its SHA-256 is not the one the sign file lists.
    HashMismatch {
        /// `fileHashValue`.
        expected: String,
        /// What its bytes hash to.
        actual: String,
    },
    /// An object in the folder that the sign file does not list.
    NotListed,
    /// It cannot be an object CloudTrail wrote (SSE-C, not a regular file in a local copy).
    ForeignObject {
        /// Why.
        reason: String,
    },
    /// It could not be read (access denied, network, archived, KMS).
    Unreadable {
        /// Why.
        reason: String,
    },
    /// It is larger than the cap and was not hashed to its end.
    TooLarge {
        /// The cap.
        limit: u64,
    },
    /// Its hash matches the sign file, but the sign file itself did not verify.
    SignFileUnproven,
}

/// A discrepancy between an evidence bundle (`ctverify export`) and its `manifest.json`. The
/// manifest is written by whoever made the bundle, so agreement proves only that the bundle
/// arrived as it was made; every discrepancy means it did not, and is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BundleProblem {
    /// The file's SHA-256 differs from the manifest's: it changed after the bundle was made.
    Altered {
        /// The file, relative to the bundle.
        path: String,
        /// SHA-256 the manifest gives (hex).
        expected_sha256: String,
        /// SHA-256 of the file as found (hex).
        actual_sha256: String,
    },
    /// The manifest names a file the bundle lacks: it was removed after the bundle was made.
    Missing {
        /// The file, relative to the bundle.
        path: String,
    },
    /// The bundle holds a file (or a link, FIFO, ...) the manifest does not name: it was added
    /// after the bundle was made.
    Added {
        /// The entry, relative to the bundle.
        path: String,
    },
    /// The exporter could not copy an object it listed (a key that cannot be a path, a read
    /// that failed): the bundle lacks what the export's verdict was partly based on.
    NotCopied {
        /// The object's bucket and key (`BUCKET/KEY`).
        object: String,
        /// Why.
        reason: String,
    },
    /// `manifest.json` cannot be read as a manifest: nothing in the bundle can be checked
    /// against it.
    Manifest {
        /// Why.
        reason: String,
    },
}

/// Where a chain was proven up to: the newest digest such that every hour from the start of the
/// chain's window to its end is proven (every digest on the way valid and linked, every log
/// file verified, nothing missing, foreign or changed). A checkpoint state stores one per chain,
/// and the next run must join it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ChainHead {
    /// The digest's bucket.
    pub bucket: String,
    /// The digest's key.
    pub key: String,
    /// SHA-256 of the digest's uncompressed content, hex: what the next digest's
    /// `previousDigestHashValue` must be.
    pub sha256: String,
    /// The digest's signature, hex: what the next digest's `previousDigestSignature` must be.
    pub signature: String,
    /// `digestStartTime`.
    pub start_time: DateTime<Utc>,
    /// `digestEndTime`: where the next run of the chain starts.
    pub end_time: DateTime<Utc>,
}

/// Where a chain's walk reached the start of its window: the oldest digest it read there and
/// the predecessor that digest names. A report split in time (a shard) is joined to the one
/// before it through this ([`ChainHead`] of the older, this of the newer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ChainTail {
    /// The digest's key.
    pub key: String,
    /// `digestStartTime`.
    pub start_time: DateTime<Utc>,
    /// Whether it verified (only then does what it names say anything).
    pub valid: bool,
    /// The predecessor it names (`None`: it starts a chain).
    pub previous: Option<NamedPredecessor>,
}

/// A predecessor as a digest names it (`previousDigest*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NamedPredecessor {
    /// `previousDigestS3Bucket`.
    pub bucket: String,
    /// `previousDigestS3Object`.
    pub key: String,
    /// `previousDigestHashValue`.
    pub sha256: String,
    /// `previousDigestSignature`.
    pub signature: String,
}

/// A problem joining a run to the checkpoint a previous run left for the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckpointProblem {
    /// The checkpoint digest, read again, does not verify (deleted, altered, bad signature).
    Digest {
        /// What is wrong with it.
        problem: DigestProblem,
    },
    /// The checkpoint digest's SHA-256 is not the one the state recorded: it was replaced since
    /// the run that proved it.
    HashChanged {
        /// SHA-256 in the state.
        recorded: String,
        /// SHA-256 of the digest now.
        actual: String,
    },
    /// The checkpoint digest's signature is not the one the state recorded.
    SignatureChanged,
    /// The checkpoint's times in the state are not the digest's own (`digestStartTime`,
    /// `digestEndTime`, which CloudTrail signs): the state was rewritten, and a run trusting its
    /// times would skip or repeat hours.
    TimesChanged {
        /// `digestEndTime` the state recorded.
        recorded_end: DateTime<Utc>,
        /// `digestEndTime` of the digest read again.
        actual_end: DateTime<Utc>,
    },
    /// The oldest new digest does not name the checkpoint as its predecessor: the chain verified
    /// now is not the one verified before.
    JoinBroken {
        /// The oldest new digest.
        newer_key: String,
        /// What it names instead (`None`: it starts a new chain).
        named_key: Option<String>,
    },
    /// The oldest new digest did not verify, so what it says about its predecessor proves
    /// nothing (the digest itself is reported).
    JoinUnproven {
        /// The oldest new digest.
        newer_key: String,
    },
}

/// The check of a chain's checkpoint: the digest read again and the join to the new digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CheckpointCheck {
    /// The checkpoint the state held.
    pub checkpoint: ChainHead,
    /// The worst of `problems`; valid when there is none.
    pub status: Status,
    /// What is wrong.
    pub problems: Vec<CheckpointProblem>,
}

// A report's findings as one typed list (built in `crate::report_findings`).

/// How urgently a finding needs a person, from its status and kind: the class Security Hub's
/// `Severity.Label` and OCSF's `severity_id` are mapped from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Nothing to do: a run's summary when it proved everything.
    Informational,
    /// Something could not be checked (unverifiable): not evidence, but no proof either.
    Medium,
    /// Evidence of tampering with what surrounds the logs (a foreign object, a malformed digest,
    /// an unknown key): invalid.
    High,
    /// Evidence that logs or their proofs were deleted or altered (a hash or signature that
    /// does not match, a missing file, a broken chain, an overwritten version): invalid.
    Critical,
}

impl Severity {
    /// `informational`, `medium`, `high` or `critical`, as the JSON report spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The run's verdict on the trail: one per trail and run, valid included, so that a clean
    /// trail shows a passing control and not silence.
    Summary,
    /// A discrepancy between an evidence bundle and its manifest.
    BundleFile,
    /// A chain that could not be walked (its listing failed).
    ChainWalk,
    /// The join to the checkpoint a previous run left (`--state`).
    Checkpoint,
    /// The join between two time windows of a chain verified in parts (`merge`).
    Seam,
    /// A digest file.
    DigestFile,
    /// The log files a digest lists that were not checked because the digest did not verify.
    LogsNotChecked,
    /// A log file a digest lists.
    LogFile,
    /// A log file in the chain's folder that no valid digest lists.
    UnlistedLogFile,
    /// Hours of the chain's window no valid digest covers.
    CoverageGap,
    /// An object CloudTrail did not write in the chain's folders.
    ForeignObject,
    /// Foreign objects counted beyond those the report keeps.
    ForeignObjectsOmitted,
    /// The chain's S3 version histories could not be listed.
    VersionListing,
    /// A digest or log file changed after delivery (its S3 version history).
    ChangedVersion,
    /// Changed objects counted beyond those the report keeps.
    ChangedVersionsOmitted,
}

impl FindingKind {
    /// The kind as the JSON report spells it (`digest_file`, `coverage_gap`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Summary => "summary",
            FindingKind::BundleFile => "bundle_file",
            FindingKind::ChainWalk => "chain_walk",
            FindingKind::Checkpoint => "checkpoint",
            FindingKind::Seam => "seam",
            FindingKind::DigestFile => "digest_file",
            FindingKind::LogsNotChecked => "logs_not_checked",
            FindingKind::LogFile => "log_file",
            FindingKind::UnlistedLogFile => "unlisted_log_file",
            FindingKind::CoverageGap => "coverage_gap",
            FindingKind::ForeignObject => "foreign_object",
            FindingKind::ForeignObjectsOmitted => "foreign_objects_omitted",
            FindingKind::VersionListing => "version_listing",
            FindingKind::ChangedVersion => "changed_version",
            FindingKind::ChangedVersionsOmitted => "changed_versions_omitted",
        }
    }
}

/// One finding of a report, typed: what it is about, its status (the report's), its severity
/// class, the evidence an analyst needs, and the sentence the text output prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReportFinding {
    /// Stable id: SHA-256 (hex) of the trail's ARN, the chain, what the finding is about and
    /// its kind and problem ([`crate::report_findings::finding_id`]); the same thing found again has the same id.
    pub id: String,
    /// What the finding is about.
    pub kind: FindingKind,
    /// The problem, as the report's `kind` tags spell it (`hash_mismatch`, `broken_chain`, ...);
    /// for the summary, the run's status.
    pub problem: String,
    /// Invalid or unverifiable, as the report decided; the summary's is the run's verdict
    /// (valid included).
    pub status: Status,
    /// The severity class.
    pub severity: Severity,
    /// The trail's ARN.
    pub trail: String,
    /// The chain (account and source region), when the finding belongs to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainId>,
    /// The object's bucket, when the finding is about an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// The object's key (a bundle's finding: the file's path in the bundle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Start of the hours the finding is about (a gap's start, a digest's `digestStartTime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// End of those hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// The SHA-256 (hex) the object should have: what a digest or manifest recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_sha256: Option<String>,
    /// The SHA-256 (hex) the object has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_sha256: Option<String>,
    /// The digest that names the object: the one listing a log file, the newer digest naming a
    /// predecessor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_key: Option<String>,
    /// What it is about, in words (`Digest file s3://B/K`, `Coverage account A region R`).
    pub subject: String,
    /// The sentence: what was found. Text from the bucket is quoted as it is (see
    /// [`crate::messages::escape`]).
    pub message: String,
}

impl fmt::Display for ReportFinding {
    /// `SUBJECT: MESSAGE`, the form the verdict line quotes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.message)
    }
}
