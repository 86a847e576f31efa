//! The words of every finding: each problem's `Display` is the sentence the CLI prints after
//! `INVALID:` or `UNVERIFIABLE:`, so the command line and an embedder say the same thing. The
//! problem kinds shared with `aws cloudtrail validate-logs` use its wording ("not found",
//! "hash value doesn't match", "signature verification failed", "invalid format"). They quote
//! text from the bucket as it is; [`escape`] makes it safe for a terminal.

use crate::findings::{
    BundleProblem, CheckpointProblem, CoverageGap, DigestProblem, GapKind, LogProblem, Status,
    TrailEvent, VersionProblem, VersionedObject,
};
use chrono::{DateTime, Utc};
use std::fmt;

/// The warning of a run whose chains are only those the bucket holds (plus the trail's home
/// region): a front end that says the scope elsewhere (the text output's "Reading" line)
/// recognises it by this text and does not repeat it.
pub const SCOPE_FOUND_IN_BUCKET: &str = "the chains checked are the regions and accounts found \
    in the bucket plus the trail's home region: a region or member account whose files were all \
    deleted goes unnoticed unless named with --region/--account-id";

impl fmt::Display for DigestProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text: String = match self {
        DigestProblem::NotFound => "not found".into(),
        DigestProblem::OtherBucketMissing { bucket } => format!(
            "not found: it is in bucket {bucket}, which this run does not read (the trail moved buckets?)"
        ),
        DigestProblem::TooLarge { limit } => format!(
            "invalid format (larger than {limit} bytes decompressed; CloudTrail's digests are far smaller)"
        ),
        DigestProblem::ForeignObject { reason } => format!("not a file CloudTrail wrote: {reason}"),
        DigestProblem::MalformedMetadata { reason } => format!("its metadata is malformed: {reason}"),
        DigestProblem::MissingMetadata { field } => {
            format!("its object metadata lacks {field}, which CloudTrail always writes")
        }
        DigestProblem::BadBackfillTimestamp { value } => format!(
            "backfill-generation-timestamp {value:?} is not a time after the digest's end"
        ),
        DigestProblem::KeyUnknown { fingerprint, region } => format!(
            "public key not found in region {region} for fingerprint {fingerprint} (CloudTrail's key list for the time holds no such key)"
        ),
        DigestProblem::InvalidFormat { detail } => format!("invalid format ({detail})"),
        DigestProblem::Moved { declared_bucket, declared_key } => format!(
            "has been moved from its original location (it names s3://{declared_bucket}/{declared_key})"
        ),
        DigestProblem::OutsideChain { declared_key } => {
            format!("names a key outside this trail's chain: {declared_key}")
        }
        DigestProblem::WrongAccount { declared } => {
            format!("awsAccountId {declared} is not the chain's account")
        }
        DigestProblem::UnknownSignatureAlgorithm { found } => {
            format!("unknown signature algorithm {found:?}")
        }
        DigestProblem::UnknownHashAlgorithm { found } => {
            format!("unknown previousDigestHashAlgorithm {found:?}")
        }
        DigestProblem::MalformedSignature => {
            "signature verification failed (the signature is not a hex RSA signature)".into()
        }
        DigestProblem::SignatureMismatch => "signature verification failed".into(),
        DigestProblem::KeyNotValidAtSigningTime { fingerprint, valid_from, valid_to } => format!(
            "signed with key {fingerprint}, valid only from {} to {}",
            display_date(*valid_from),
            display_date(*valid_to)
        ),
        DigestProblem::PreviousHashMismatch { newer_key, recorded, actual } => format!(
            "SHA-256 {actual} differs from previousDigestHashValue {recorded} in {newer_key}"
        ),
        DigestProblem::PreviousSignatureMismatch { newer_key } => {
            format!("signature differs from previousDigestSignature in {newer_key}")
        }
        DigestProblem::TimeDiscontinuity { newer_key, expected_end, actual_end } => format!(
            "ends at {} but {newer_key} starts at {}",
            display_date(*actual_end),
            display_date(*expected_end)
        ),
        DigestProblem::NoSignature => {
            "no signature: no S3 metadata or .metadata.json sidecar, and no newer digest file carries it".into()
        }
        DigestProblem::KeyNotFound { fingerprint, region } => {
            format!("public key not found in region {region} for fingerprint {fingerprint}")
        }
        DigestProblem::Unreadable { reason } => format!("could not be read: {reason}"),
        DigestProblem::Expired { rule_id, days, date } => expired_text(rule_id, *days, *date),
        DigestProblem::Archived { storage_class } => archived_text(storage_class),
        DigestProblem::KmsDenied { key } => kms_text(key.as_deref()),
        DigestProblem::LifecycleChanged { rule_id, change } => {
            lifecycle_changed_text(rule_id, change)
        }
    };
        f.write_str(&text)
    }
}

fn expired_text(rule_id: &str, days: Option<u32>, date: Option<DateTime<Utc>>) -> String {
    let age = match (days, date) {
        (Some(1), _) => " (files older than 1 day)".to_string(),
        (Some(days), _) => format!(" (files older than {days} days)"),
        (None, Some(date)) => format!(" (files from {} on)", display_date(date)),
        (None, None) => String::new(),
    };
    format!(
        "expired under lifecycle rule {rule_id}{age}: not found, as the bucket's rule would have \
         removed it by now; what it held cannot be verified"
    )
}

fn lifecycle_changed_text(rule_id: &str, change: &TrailEvent) -> String {
    format!(
        "not found, and lifecycle rule {rule_id} that would excuse it was set after it was \
         delivered: {} at {} by {} (event {}) changed the bucket's lifecycle configuration",
        change.event_name,
        display_date(change.time),
        change.principal,
        change.event_id
    )
}

fn archived_text(storage_class: &str) -> String {
    format!("archived: restore needed (storage class {storage_class})")
}

fn kms_text(key: Option<&str>) -> String {
    match key {
        Some(key) => format!("could not be read: kms:Decrypt on key {key} is denied (SSE-KMS)"),
        None => "could not be read: kms:Decrypt is denied (SSE-KMS)".into(),
    }
}

impl fmt::Display for LogProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text: String = match self {
            LogProblem::NotFound => "not found".into(),
            // The AWS CLI's words, then the two hashes the JSON report holds, so that a reader
            // of the text sees what changed without another run.
            LogProblem::HashMismatch { expected, actual } => format!(
                "hash value doesn't match (the digest file lists {expected}, the file hashes to \
                 {actual})"
            ),
            LogProblem::InvalidFormat { detail } => format!("invalid format ({detail})"),
            LogProblem::TrailingData => "unexpected data after end of compressed stream".into(),
            LogProblem::BadDigestEntry { detail } => {
                format!("its digest entry is malformed: {detail}")
            }
            LogProblem::NotListed { hour_covered: true } => "not listed by any digest file".into(),
            LogProblem::NotListed {
                hour_covered: false,
            } => {
                "not listed by any valid digest file (no valid digest file covers its hour)".into()
            }
            LogProblem::ForeignObject { reason } => {
                format!("not a file CloudTrail wrote: {reason}")
            }
            LogProblem::Unreadable { reason } => format!("could not be read: {reason}"),
            LogProblem::TooLarge { limit } => format!(
                "decompressed size exceeds {limit} bytes (--max-log-bytes); not hashed to the end"
            ),
            LogProblem::Expired {
                rule_id,
                days,
                date,
            } => expired_text(rule_id, *days, *date),
            LogProblem::Archived { storage_class } => archived_text(storage_class),
            LogProblem::KmsDenied { key } => kms_text(key.as_deref()),
            LogProblem::LifecycleChanged { rule_id, change } => {
                lifecycle_changed_text(rule_id, change)
            }
        };
        f.write_str(&text)
    }
}

impl fmt::Display for BundleProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleProblem::Altered {
                expected_sha256,
                actual_sha256,
                ..
            } => write!(
                f,
                "changed since the bundle was made: SHA-256 {actual_sha256} differs from \
                 {expected_sha256} in manifest.json"
            ),
            BundleProblem::Missing { .. } => {
                f.write_str("named in manifest.json but missing from the bundle")
            }
            BundleProblem::Added { .. } => {
                f.write_str("not named in manifest.json: added after the bundle was made")
            }
            BundleProblem::NotCopied { reason, .. } => write!(
                f,
                "the export could not copy it into the bundle ({reason}), so the bundle lacks \
                 evidence its verdict was based on"
            ),
            BundleProblem::Manifest { reason } => {
                write!(f, "manifest.json cannot be read: {reason}")
            }
        }
    }
}

impl fmt::Display for CoverageGap {
    /// `no valid digest file covers A to B (N hours): WHY`, the why depending on what the valid
    /// digest after the gap (if any) shows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.carried {
            f.write_str("(found by an earlier run, carried by the state) ")?;
        }
        if let Some(accepted) = &self.accepted {
            let mut unaccepted = self.clone();
            unaccepted.accepted = None;
            unaccepted.carried = false;
            return write!(
                f,
                "{unaccepted}; accepted by exception {} ({}, approved by {}, until {})",
                accepted.entry,
                accepted.reason,
                accepted.approved_by,
                display_date(accepted.expires)
            );
        }
        let (a, b) = (display_date(self.start), display_date(self.end));
        // Where the next valid digest starts (past the range, it is not the gap's end).
        let next = display_date(self.next_start.unwrap_or(self.end));
        let hours = match self.hours {
            1 => "1 hour".to_string(),
            n => format!("{n} hours"),
        };
        let why = match self.kind {
            GapKind::BrokenChain => format!(
                "the digest file starting at {next} names a predecessor that is missing or did \
                 not verify"
            ),
            GapKind::PredecessorUnavailable => format!(
                "the digest file starting at {next} names a predecessor that could not be read"
            ),
            GapKind::LifecycleExpired => format!(
                "the digest file starting at {next} names a predecessor that a lifecycle rule of \
                 the bucket expired: these hours are older than the bucket keeps files"
            ),
            GapKind::ChainRestart => format!(
                "the digest chain restarts at {next}: logging or log-file validation was off, or \
                 the digest files before the restart were deleted; nothing proves which"
            ),
            GapKind::BeforeChainStart => format!(
                "the digest chain starts at {next}: the trail or its validation began then, or \
                 its first digest files were deleted"
            ),
            GapKind::AfterNewestDigest => format!(
                "no valid digest file after {a}: logging stopped, or the newest digest files \
                 were deleted"
            ),
            // Digests read beyond the range (the hour after it, for late log files) may be
            // valid: "none at all" would contradict the counts printed beside it.
            GapKind::NoDigests => "none of the chain's digest files for these hours was found \
                 or verified"
                .to_string(),
            GapKind::NotYetDelivered => "CloudTrail delivers the digest of an hour up to about \
                 an hour after it, so these hours cannot be proven yet (end the range two hours \
                 before now)"
                .to_string(),
            GapKind::LoggingOff => {
                return write!(
                    f,
                    "no digest file covers {a} to {b} ({hours}), and none should: CloudTrail's \
                     event history shows the trail not logging ({})",
                    cited_events(&self.events)
                );
            }
            GapKind::ValidationOff => format!(
                "CloudTrail's event history shows the trail logging without log-file validation \
                 ({}): log files of those hours carry no digest and can never be proven",
                cited_events(&self.events)
            ),
            GapKind::SegmentDeleted => format!(
                "CloudTrail's event history shows the trail logging with validation inside the \
                 gap ({}): the digest files delivered then were deleted",
                cited_events(&self.events)
            ),
        };
        write!(f, "no valid digest file covers {a} to {b} ({hours}): {why}")?;
        if let Some(note) = &self.history_note {
            write!(f, "; the event history does not explain it: {note}")?;
        }
        Ok(())
    }
}

/// `StopLogging at T by P (event E), ...`: the events a gap's kind rests on.
fn cited_events(events: &[TrailEvent]) -> String {
    if events.is_empty() {
        return "no event".into();
    }
    events
        .iter()
        .map(|e| {
            let setting = match (e.event_name.as_str(), e.validation) {
                ("UpdateTrail" | "CreateTrail", Some(true)) => " turning validation on",
                ("UpdateTrail" | "CreateTrail", Some(false)) => " turning validation off",
                _ => "",
            };
            format!(
                "{}{setting} at {} by {} (event {})",
                e.event_name,
                display_date(e.time),
                e.principal,
                e.event_id
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for VersionProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionProblem::Overwritten { version_id, at } => write!(
                f,
                "the object was replaced after delivery on {} (version {version_id})",
                display_date(*at)
            ),
            VersionProblem::Deleted { version_id, at } => write!(
                f,
                "the object was deleted after delivery on {} (delete marker {version_id})",
                display_date(*at)
            ),
        }
    }
}

/// The whole finding on a changed object: what happened after delivery, then what CloudTrail's
/// original version proves, for example `the object was replaced after delivery on
/// 2026-01-02T00:00:00Z (version V2); the original version (V1, written 2026-01-01T01:05:00Z)
/// verifies`.
impl fmt::Display for VersionedObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let changes: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        f.write_str(&changes.join("; "))?;
        let original = match (&self.original_version_id, self.original_written) {
            (Some(id), Some(at)) => {
                format!("the original version ({id}, written {})", display_date(at))
            }
            (Some(id), None) => format!("the original version ({id})"),
            _ => "the original version".to_owned(),
        };
        match (self.original_status, &self.original_problem) {
            (Some(Status::Valid), _) => write!(f, "; {original} verifies"),
            (Some(Status::Invalid), Some(why)) => {
                write!(f, "; {original} does not verify either: {why}")
            }
            (Some(Status::Unverifiable), Some(why)) => {
                write!(f, "; {original} could not be verified: {why}")
            }
            (_, Some(why)) => write!(f, "; {original}: {why}"),
            (_, None) => Ok(()),
        }
    }
}

// CloudTrail Lake query results (crate::lake).

use crate::findings::{ResultFileProblem, SignFileProblem};
use crate::lake::{HASH_ALGORITHM, SIGNATURE_ALGORITHM};

impl fmt::Display for SignFileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignFileProblem::NotFound {
                objects_in_folder: 0,
            } => {
                write!(
                    f,
                    "not found (the folder is empty: is the prefix the query's folder?)"
                )
            }
            SignFileProblem::NotFound { objects_in_folder } => write!(
                f,
                "not found, beside {objects_in_folder} other objects: the sign file was removed"
            ),
            SignFileProblem::Unreadable { reason } => write!(f, "could not be read: {reason}"),
            SignFileProblem::ForeignObject { reason } => {
                write!(f, "not a file CloudTrail wrote: {reason}")
            }
            SignFileProblem::TooLarge { limit } => write!(
                f,
                "invalid format (larger than {limit} bytes; CloudTrail's sign files are far smaller)"
            ),
            SignFileProblem::InvalidFormat { detail } => write!(f, "invalid format ({detail})"),
            SignFileProblem::UnknownHashAlgorithm { found } => {
                write!(
                    f,
                    "unknown hashAlgorithm {found:?} (CloudTrail writes {HASH_ALGORITHM:?})"
                )
            }
            SignFileProblem::UnknownSignatureAlgorithm { found } => write!(
                f,
                "unknown signatureAlgorithm {found:?} (CloudTrail writes {SIGNATURE_ALGORITHM:?})"
            ),
            SignFileProblem::WrongRegion { declared, expected } => {
                write!(f, "names region {declared}, not {expected}")
            }
            SignFileProblem::KeyUnknown {
                fingerprint,
                region,
            } => write!(
                f,
                "public key not found in region {region} for fingerprint {fingerprint} (CloudTrail's key list for the time holds no such key)"
            ),
            SignFileProblem::KeyNotFound {
                fingerprint,
                region,
            } => write!(
                f,
                "public key for fingerprint {fingerprint} in region {region} is not among the keys at hand (give keys covering queryCompleteTime)"
            ),
            SignFileProblem::KeyNotValidAtCompleteTime {
                fingerprint,
                valid_from,
                valid_to,
            } => write!(
                f,
                "signed with key {fingerprint}, valid only from {} to {}, not when the query completed",
                display_date(*valid_from),
                display_date(*valid_to)
            ),
            SignFileProblem::MalformedSignature => write!(
                f,
                "signature verification failed (hashSignature is not a hex RSA signature)"
            ),
            SignFileProblem::SignatureMismatch => write!(f, "signature verification failed"),
        }
    }
}

impl fmt::Display for ResultFileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResultFileProblem::NotFound => write!(f, "not found"),
            ResultFileProblem::HashMismatch { expected, actual } => write!(
                f,
                "hash value doesn't match (the sign file lists {expected}, the file hashes to {actual})"
            ),
            ResultFileProblem::NotListed => write!(f, "not listed in the sign file"),
            ResultFileProblem::ForeignObject { reason } => {
                write!(f, "not a file CloudTrail wrote: {reason}")
            }
            ResultFileProblem::Unreadable { reason } => write!(f, "could not be read: {reason}"),
            ResultFileProblem::TooLarge { limit } => {
                write!(f, "larger than {limit} bytes: not hashed to its end")
            }
            ResultFileProblem::SignFileUnproven => write!(
                f,
                "its hash matches the sign file, but the sign file did not verify"
            ),
        }
    }
}

impl fmt::Display for CheckpointProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointProblem::Digest { problem } => {
                write!(f, "the checkpoint digest, read again: {problem}")
            }
            CheckpointProblem::HashChanged { recorded, actual } => write!(
                f,
                "the checkpoint digest was replaced since the run that proved it: its SHA-256 is \
                 {actual}, the state recorded {recorded}"
            ),
            CheckpointProblem::SignatureChanged => f.write_str(
                "the checkpoint digest's signature is not the one the state recorded: it was \
                 replaced since the run that proved it",
            ),
            CheckpointProblem::TimesChanged {
                recorded_end,
                actual_end,
            } => write!(
                f,
                "the state's checkpoint times are not the digest's: it ends at {} by its own \
                 signed fields, the state recorded {} (the state was rewritten)",
                display_date(*actual_end),
                display_date(*recorded_end)
            ),
            CheckpointProblem::JoinBroken {
                newer_key,
                named_key: Some(named),
            } => write!(
                f,
                "the chain does not join the checkpoint: the oldest new digest {newer_key} names \
                 {named} as its predecessor"
            ),
            CheckpointProblem::JoinBroken {
                newer_key,
                named_key: None,
            } => write!(
                f,
                "the chain does not join the checkpoint: the oldest new digest {newer_key} starts \
                 a new chain (names no predecessor): logging was stopped and started there?"
            ),
            CheckpointProblem::JoinUnproven { newer_key } => write!(
                f,
                "the join to the checkpoint is unproven: the oldest new digest {newer_key} did \
                 not verify"
            ),
        }
    }
}

// A report's findings and its verdict line are built in `report_findings`, from one list.
pub use crate::report_findings::{Finding, findings, proven_until, verdict_line};
pub use crate::words::{display_date, escape, plural};
