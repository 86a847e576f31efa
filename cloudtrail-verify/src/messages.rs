//! The words of every finding: each problem's `Display` is the sentence the CLI prints after
//! `INVALID:` or `UNVERIFIABLE:`, so the command line and an embedder say the same thing. The
//! problem kinds shared with `aws cloudtrail validate-logs` use its wording ("not found",
//! "hash value doesn't match", "signature verification failed", "invalid format").

use crate::findings::{BundleProblem, CoverageGap, DigestProblem, GapKind, LogProblem};
use chrono::{DateTime, Utc};
use std::fmt;

/// `2026-01-01T00:00:00Z`: the format of the AWS CLI's report lines.
pub fn display_date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

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
            LogProblem::HashMismatch { .. } => "hash value doesn't match".into(),
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
            GapKind::NoDigests => "no valid digest file at all".to_string(),
            GapKind::NotYetDelivered => "CloudTrail delivers the digest of an hour up to about \
                 an hour after it, so these hours cannot be proven yet (end the range two hours \
                 before now)"
                .to_string(),
        };
        write!(f, "no valid digest file covers {a} to {b} ({hours}): {why}")
    }
}
