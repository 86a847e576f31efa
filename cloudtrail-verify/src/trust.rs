//! Trust decisions, with no I/O: which problems are evidence of tampering and which only stop
//! a check, what a digest's bytes, metadata and signature prove, and whether a chain's valid
//! digests cover every instant of the window it must be proven over.
//!
//! The walk (`crate::walk`) only schedules reads and feeds what it read to these functions.
//!
//! The rules, in AWS's terms ("Validating CloudTrail log file integrity" and "CloudTrail
//! digest file structure" in the AWS CloudTrail User Guide):
//! - a digest is proven by its RSA PKCS#1 v1.5 / SHA-256 signature over
//!   `digestEndTime \n bucket/key \n hex(SHA-256(digest)) \n previousDigestSignature`, under the
//!   region's CloudTrail public key whose fingerprint the digest names, valid when it was signed;
//! - a log file is proven by a proven digest that lists its SHA-256;
//! - an instant is proven when a proven standard (hourly) digest covers it; backfill digests
//!   prove the log files they list, never an hour;
//! - a hole in that coverage is evidence of tampering only when the chain proves it: the
//!   valid digest after it names a predecessor that is gone or does not verify. Otherwise it is
//!   unverifiable (logging off, or digests deleted where the chain cannot tell).

use crate::findings::{
    BundleProblem, CheckpointProblem, CoverageGap, DigestProblem, GapKind, LogProblem, Status,
    VersionProblem,
};
use crate::keys::{KeyLookup, KeySet};
use crate::layout::ChainLayout;
use crate::schema::{DigestFile, HASH_ALGORITHM, PreviousDigestReference, SIGNATURE_ALGORITHM};
use crate::signing::{SignatureError, signing_string, verify_signature};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::BTreeMap;

pub mod checkpoint;
pub mod exceptions;
pub mod history;
pub mod lifecycle;
pub mod verdict;
pub mod versions;

impl DigestProblem {
    /// Whether this problem is evidence of tampering or only prevents checking
    /// (decided in the trust core).
    pub fn status(&self) -> Status {
        digest_problem_status(self)
    }
}

impl BundleProblem {
    /// Whether this discrepancy is evidence or an obstacle (decided in the trust core).
    pub fn status(&self) -> Status {
        bundle_problem_status(self)
    }
}

/// The class of each discrepancy between a bundle and its manifest: all invalid. The bundle is
/// not what its maker wrote (altered, removed or added files; a manifest that is not one), so
/// nothing in it may support a valid verdict. (The manifest is no proof of authenticity either
/// way: CloudTrail's signatures are, and they are checked as always.)
pub fn bundle_problem_status(problem: &BundleProblem) -> Status {
    match problem {
        BundleProblem::Altered { .. }
        | BundleProblem::Missing { .. }
        | BundleProblem::Added { .. }
        | BundleProblem::NotCopied { .. }
        | BundleProblem::Manifest { .. } => Status::Invalid,
    }
}

impl LogProblem {
    /// Whether this problem is evidence of tampering or only prevents checking
    /// (decided in the trust core).
    pub fn status(&self) -> Status {
        log_problem_status(self)
    }
}

impl CheckpointProblem {
    /// Whether this problem is evidence of tampering (decided in the trust core).
    pub fn status(&self) -> Status {
        checkpoint_problem_status(self)
    }
}

impl VersionProblem {
    /// Whether this problem is evidence of tampering (decided in the trust core).
    pub fn status(&self) -> Status {
        version_problem_status(self)
    }
}

/// The class of each version-history problem: CloudTrail writes an object once, so a later
/// version or delete marker is always someone else's change after delivery (invalid), even when
/// CloudTrail's original version still verifies (see [`versions`]).
pub fn version_problem_status(problem: &VersionProblem) -> Status {
    match problem {
        VersionProblem::Overwritten { .. } | VersionProblem::Deleted { .. } => Status::Invalid,
    }
}

/// The class of each digest problem: evidence of tampering ([`Status::Invalid`]) or an
/// obstacle to checking ([`Status::Unverifiable`]).
pub fn digest_problem_status(problem: &DigestProblem) -> Status {
    match problem {
        // Anything CloudTrail cannot have produced, or a chain that proves a file is gone.
        DigestProblem::NotFound
        | DigestProblem::InvalidFormat { .. }
        | DigestProblem::TooLarge { .. }
        | DigestProblem::ForeignObject { .. }
        | DigestProblem::MalformedMetadata { .. }
        | DigestProblem::MissingMetadata { .. }
        | DigestProblem::BadBackfillTimestamp { .. }
        | DigestProblem::Moved { .. }
        | DigestProblem::OutsideChain { .. }
        | DigestProblem::WrongAccount { .. }
        | DigestProblem::UnknownSignatureAlgorithm { .. }
        | DigestProblem::UnknownHashAlgorithm { .. }
        | DigestProblem::MalformedSignature
        | DigestProblem::SignatureMismatch
        | DigestProblem::KeyNotValidAtSigningTime { .. }
        | DigestProblem::KeyUnknown { .. }
        | DigestProblem::PreviousHashMismatch { .. }
        | DigestProblem::PreviousSignatureMismatch { .. }
        | DigestProblem::TimeDiscontinuity { .. }
        | DigestProblem::LifecycleChanged { .. } => Status::Invalid,
        // What could not be checked: nothing is said either way.
        DigestProblem::NoSignature
        | DigestProblem::KeyNotFound { .. }
        | DigestProblem::OtherBucketMissing { .. }
        | DigestProblem::Unreadable { .. }
        // Gone by the bucket's own lifecycle configuration, or not readable as stored: what it
        // held is unknown, which is never valid.
        | DigestProblem::Expired { .. }
        | DigestProblem::Archived { .. }
        | DigestProblem::KmsDenied { .. } => Status::Unverifiable,
    }
}

/// The class of each log file problem.
pub fn log_problem_status(problem: &LogProblem) -> Status {
    match problem {
        LogProblem::NotFound
        | LogProblem::HashMismatch { .. }
        | LogProblem::InvalidFormat { .. }
        | LogProblem::TrailingData
        | LogProblem::BadDigestEntry { .. }
        | LogProblem::ForeignObject { .. }
        | LogProblem::LifecycleChanged { .. }
        | LogProblem::NotListed { hour_covered: true } => Status::Invalid,
        // A file in an hour no valid digest covers is unproven, not proven planted; a file
        // past the size cap was not hashed to its end.
        LogProblem::NotListed {
            hour_covered: false,
        }
        | LogProblem::Unreadable { .. }
        | LogProblem::TooLarge { .. }
        | LogProblem::Expired { .. }
        | LogProblem::Archived { .. }
        | LogProblem::KmsDenied { .. } => Status::Unverifiable,
    }
}

/// The class of each checkpoint problem.
pub fn checkpoint_problem_status(problem: &CheckpointProblem) -> Status {
    match problem {
        CheckpointProblem::Digest { problem } => digest_problem_status(problem),
        // The state's record of a digest CloudTrail signed, against what is there now: a
        // difference is a replaced digest. A join to anything else is a different chain.
        CheckpointProblem::HashChanged { .. }
        | CheckpointProblem::SignatureChanged
        | CheckpointProblem::TimesChanged { .. }
        | CheckpointProblem::JoinBroken {
            named_key: Some(_), ..
        } => Status::Invalid,
        // A digest CloudTrail signed as a chain's first: logging was stopped and started where
        // the checkpoint ends, a restart, which is never excused but not evidence either (as
        // a restart inside a range).
        CheckpointProblem::JoinBroken {
            named_key: None, ..
        }
        | CheckpointProblem::JoinUnproven { .. } => Status::Unverifiable,
    }
}

/// The class of a coverage gap.
pub fn gap_status(kind: GapKind) -> Status {
    match kind {
        GapKind::BrokenChain => Status::Invalid,
        GapKind::PredecessorUnavailable
        | GapKind::LifecycleExpired
        | GapKind::ChainRestart
        | GapKind::BeforeChainStart
        | GapKind::AfterNewestDigest
        | GapKind::NoDigests
        | GapKind::NotYetDelivered
        | GapKind::ValidationOff => Status::Unverifiable,
        // Proven by CloudTrail's event history, out of the bucket writer's reach
        // ([`history`]).
        GapKind::LoggingOff => Status::Valid,
        GapKind::SegmentDeleted => Status::Invalid,
    }
}

/// The class of each problem with a Lake query's sign file (checked in `crate::lake`).
pub fn sign_file_problem_status(problem: &crate::findings::SignFileProblem) -> Status {
    use crate::findings::SignFileProblem as P;
    match problem {
        // Beside other objects, a missing sign file was removed from them.
        P::NotFound { objects_in_folder } if *objects_in_folder > 0 => Status::Invalid,
        // Anything CloudTrail cannot have written, or a signature that does not hold.
        P::ForeignObject { .. }
        | P::TooLarge { .. }
        | P::InvalidFormat { .. }
        | P::UnknownHashAlgorithm { .. }
        | P::UnknownSignatureAlgorithm { .. }
        | P::WrongRegion { .. }
        | P::KeyUnknown { .. }
        | P::KeyNotValidAtCompleteTime { .. }
        | P::MalformedSignature
        | P::SignatureMismatch => Status::Invalid,
        // An empty folder (the wrong prefix?), or what could not be read or looked up.
        P::NotFound { .. } | P::Unreadable { .. } | P::KeyNotFound { .. } => Status::Unverifiable,
    }
}

/// The class of each problem with an object of a Lake query's folder (checked in `crate::lake`).
pub fn result_file_problem_status(problem: &crate::findings::ResultFileProblem) -> Status {
    use crate::findings::ResultFileProblem as P;
    match problem {
        P::NotFound | P::HashMismatch { .. } | P::NotListed | P::ForeignObject { .. } => {
            Status::Invalid
        }
        // Not read to its end, or matching a sign file that is itself unproven.
        P::Unreadable { .. } | P::TooLarge { .. } | P::SignFileUnproven => Status::Unverifiable,
    }
}

/// What a valid standard digest's predecessor came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Predecessor {
    /// The digest starts a chain (null `previousDigest*` fields).
    ChainStart,
    /// The digest names a predecessor, judged with this status (`Unverifiable` while it has not
    /// been read).
    Named(Status),
    /// The digest names a predecessor that is gone, and a lifecycle rule of the bucket would
    /// have expired it by now ([`lifecycle::lifecycle_excuse`]).
    Expired,
}

/// The span of one valid standard digest, and what precedes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoveredSpan {
    /// `digestStartTime`.
    pub start: DateTime<Utc>,
    /// `digestEndTime`.
    pub end: DateTime<Utc>,
    /// Its predecessor.
    pub predecessor: Predecessor,
}

/// Every stretch of `window` no span covers, each classified by the digest that follows it.
pub fn coverage_gaps(
    window: (DateTime<Utc>, DateTime<Utc>),
    spans: &[CoveredSpan],
) -> Vec<CoverageGap> {
    let (from, to) = window;
    let mut sorted: Vec<&CoveredSpan> = spans.iter().filter(|s| s.start < s.end).collect();
    sorted.sort_by_key(|s| (s.start, s.end));
    let mut gaps = Vec::new();
    let mut cursor = from;
    let mut any_overlap = false;
    for span in sorted {
        if cursor >= to {
            break;
        }
        if span.end <= cursor {
            continue;
        }
        if span.start > cursor {
            let kind = match span.predecessor {
                Predecessor::ChainStart if cursor == from => GapKind::BeforeChainStart,
                Predecessor::ChainStart => GapKind::ChainRestart,
                Predecessor::Named(Status::Invalid) => GapKind::BrokenChain,
                Predecessor::Expired => GapKind::LifecycleExpired,
                // A valid predecessor would have closed the gap; one that was not read (or
                // is elsewhere) leaves it unproven.
                Predecessor::Named(Status::Unverifiable | Status::Valid) => {
                    GapKind::PredecessorUnavailable
                }
            };
            let mut found = gap(kind, cursor, span.start.min(to));
            found.next_start = Some(span.start);
            gaps.push(found);
        }
        any_overlap |= span.start < to;
        cursor = cursor.max(span.end);
    }
    if cursor < to {
        let kind = if any_overlap {
            GapKind::AfterNewestDigest
        } else {
            GapKind::NoDigests
        };
        gaps.push(gap(kind, cursor, to));
    }
    gaps
}

/// A gap of `kind` from `start` to `end`, classified by [`gap_status`], with nothing yet known
/// about it beyond that.
pub(crate) fn gap(kind: GapKind, start: DateTime<Utc>, end: DateTime<Utc>) -> CoverageGap {
    let seconds = (end - start).num_seconds().max(0) as u64;
    CoverageGap {
        kind,
        start,
        end,
        hours: seconds.div_ceil(3600),
        status: gap_status(kind),
        next_start: None,
        events: Vec::new(),
        history_note: None,
        previous_start: None,
        carried: false,
        accepted: None,
    }
}

/// Whether `time` lies in one of `spans`.
pub fn is_covered(time: DateTime<Utc>, spans: &[CoveredSpan]) -> bool {
    spans.iter().any(|s| s.start <= time && time < s.end)
}

/// What a newer digest says about the next older one.
#[derive(Debug, Clone)]
pub struct Link {
    /// The newer digest's key.
    pub newer_key: String,
    /// The newer digest's start: where the older one must end.
    pub newer_start: DateTime<Utc>,
    /// The reference it holds.
    pub reference: PreviousDigestReference,
    /// Whether the newer digest verified. Link checks are evidence only from a valid digest;
    /// the signature it carries is self-authenticating either way.
    pub newer_valid: bool,
}

/// Everything read about one digest, for [`judge_digest`].
pub struct DigestEvidence<'a> {
    /// Bucket it was read from.
    pub bucket: &'a str,
    /// Key it was read from.
    pub key: &'a str,
    /// The chain being verified (names, account).
    pub layout: &'a ChainLayout,
    /// The parsed digest.
    pub digest: &'a DigestFile,
    /// The object's user metadata.
    pub metadata: &'a BTreeMap<String, String>,
    /// Set when the metadata was present but malformed.
    pub metadata_problem: Option<&'a str>,
    /// Whether it sits at a backfill key.
    pub backfill: bool,
    /// What the newer digest says about it, when it was reached through the chain.
    pub link: Option<&'a Link>,
    /// CloudTrail's public keys.
    pub keys: &'a KeySet,
}

/// Runs every check on a digest and returns what is wrong, most important first (empty when it
/// is valid).
pub fn judge_digest(e: &DigestEvidence<'_>) -> Vec<DigestProblem> {
    let mut problems = Vec::new();
    let digest = e.digest;
    if digest.s3_bucket != e.bucket || digest.s3_object != e.key {
        problems.push(DigestProblem::Moved {
            declared_bucket: digest.s3_bucket.clone(),
            declared_key: digest.s3_object.clone(),
        });
    } else if e.layout.parse_digest_key(&digest.s3_object).is_none() {
        problems.push(DigestProblem::OutsideChain {
            declared_key: digest.s3_object.clone(),
        });
    }
    if digest.account_id != e.layout.chain.account_id {
        problems.push(DigestProblem::WrongAccount {
            declared: digest.account_id.clone(),
        });
    }
    if let Some(reason) = e.metadata_problem {
        problems.push(DigestProblem::MalformedMetadata {
            reason: reason.to_owned(),
        });
    }
    let metadata_signature = e.metadata.get("signature").map(|s| s.to_ascii_lowercase());
    let metadata_algorithm = e.metadata.get("signature-algorithm");
    // CloudTrail writes both fields together; the AWS CLI requires both.
    if metadata_signature.is_some() && metadata_algorithm.is_none() {
        problems.push(DigestProblem::MissingMetadata {
            field: "signature-algorithm".into(),
        });
    }
    for found in std::iter::once(&digest.signature_algorithm).chain(metadata_algorithm) {
        if found != SIGNATURE_ALGORITHM {
            problems.push(DigestProblem::UnknownSignatureAlgorithm {
                found: found.clone(),
            });
        }
    }
    if let Some(previous) = &digest.previous
        && previous.hash_algorithm != HASH_ALGORITHM
    {
        problems.push(DigestProblem::UnknownHashAlgorithm {
            found: previous.hash_algorithm.clone(),
        });
    }
    // When CloudTrail signed it: an hourly digest soon after its end, a backfill digest at the
    // time its metadata says it was generated.
    let mut signed_at = digest.end_time;
    if e.backfill && metadata_signature.is_some() {
        match e.metadata.get("backfill-generation-timestamp") {
            None => problems.push(DigestProblem::MissingMetadata {
                field: "backfill-generation-timestamp".into(),
            }),
            Some(text) => match parse_metadata_time(text) {
                Some(t) if t >= digest.end_time => signed_at = t,
                _ => problems.push(DigestProblem::BadBackfillTimestamp {
                    value: text.clone(),
                }),
            },
        }
    }

    // The signature: from metadata, else as carried by the newer digest. Either only counts
    // if it verifies under CloudTrail's key.
    let carried = e.link.map(|l| l.reference.signature.to_ascii_lowercase());
    match metadata_signature.as_deref().or(carried.as_deref()) {
        None => problems.push(DigestProblem::NoSignature),
        Some(signature) => check_signature(e, signature, signed_at, &mut problems),
    }

    if let Some(link) = e.link.filter(|l| l.newer_valid) {
        if !link
            .reference
            .hash_value
            .eq_ignore_ascii_case(&digest.sha256_hex())
        {
            problems.push(DigestProblem::PreviousHashMismatch {
                newer_key: link.newer_key.clone(),
                recorded: link.reference.hash_value.clone(),
                actual: digest.sha256_hex(),
            });
        }
        if let (Some(own), Some(carried)) = (&metadata_signature, &carried)
            && own != carried
        {
            problems.push(DigestProblem::PreviousSignatureMismatch {
                newer_key: link.newer_key.clone(),
            });
        }
        if digest.end_time != link.newer_start {
            problems.push(DigestProblem::TimeDiscontinuity {
                newer_key: link.newer_key.clone(),
                expected_end: link.newer_start,
                actual_end: digest.end_time,
            });
        }
    }
    problems.sort_by_key(|p| std::cmp::Reverse(p.status()));
    problems
}

fn check_signature(
    e: &DigestEvidence<'_>,
    signature: &str,
    signed_at: DateTime<Utc>,
    problems: &mut Vec<DigestProblem>,
) {
    let region = &e.layout.chain.region;
    let fingerprint = &e.digest.public_key_fingerprint;
    let key = match e.keys.lookup_at(fingerprint, region, signed_at) {
        KeyLookup::Found(key) => key,
        KeyLookup::NotFound {
            list_complete: true,
        } => {
            problems.push(DigestProblem::KeyUnknown {
                fingerprint: fingerprint.clone(),
                region: region.clone(),
            });
            return;
        }
        KeyLookup::NotFound {
            list_complete: false,
        } => {
            problems.push(DigestProblem::KeyNotFound {
                fingerprint: fingerprint.clone(),
                region: region.clone(),
            });
            return;
        }
    };
    let signed = signing_string(e.digest);
    tracing::debug!(
        fingerprint = key.fingerprint(),
        string_to_sign = %signed,
        "checking a digest's signature"
    );
    match verify_signature(key, signed.as_bytes(), signature) {
        Ok(()) => {}
        Err(SignatureError::Malformed) => problems.push(DigestProblem::MalformedSignature),
        Err(SignatureError::Mismatch) => problems.push(DigestProblem::SignatureMismatch),
    }
    if !key.could_sign_digest_ending(signed_at) {
        problems.push(DigestProblem::KeyNotValidAtSigningTime {
            fingerprint: key.fingerprint().to_owned(),
            valid_from: key.valid_from(),
            valid_to: key.valid_to(),
        });
    }
}

/// A time in object metadata: RFC 3339, or CloudTrail's compact `YYYYMMDDTHHMMSSZ`.
fn parse_metadata_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%SZ")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// The gaps of a chain over the requested `range`: every stretch up to `proven_until` (the
/// delivery grace before now) that valid digests do not cover, then the rest of the range, which
/// CloudTrail may not have delivered yet, as one unverifiable gap.
pub fn range_gaps(
    range: (DateTime<Utc>, DateTime<Utc>),
    proven_until: DateTime<Utc>,
    spans: &[CoveredSpan],
) -> Vec<CoverageGap> {
    let (start, end) = range;
    let provable_end = end.min(proven_until);
    let mut gaps = if start < provable_end {
        coverage_gaps((start, provable_end), spans)
    } else {
        Vec::new()
    };
    if end > proven_until {
        gaps.push(gap(GapKind::NotYetDelivered, start.max(proven_until), end));
    }
    gaps
}

/// Whether a log file named after minute `stamp` must be listed by the valid digests read: its
/// name is inside the range, or the whole minute it was delivered in lies in the span of a
/// valid digest (a digest lists the log files delivered in its span).
pub fn log_must_be_listed(
    stamp: DateTime<Utc>,
    range: (DateTime<Utc>, DateTime<Utc>),
    spans: &[CoveredSpan],
) -> bool {
    (range.0 <= stamp && stamp <= range.1)
        || (is_covered(stamp, spans) && is_covered(stamp + TimeDelta::seconds(59), spans))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0).unwrap()
    }

    fn span(a: u32, b: u32, predecessor: Predecessor) -> CoveredSpan {
        CoveredSpan {
            start: t(a),
            end: t(b),
            predecessor,
        }
    }

    const LINKED: Predecessor = Predecessor::Named(Status::Valid);

    fn kinds(gaps: &[CoverageGap]) -> Vec<(GapKind, u32, u32, u64)> {
        gaps.iter()
            .map(|g| {
                let h = |x: DateTime<Utc>| (x - t(0)).num_hours() as u32;
                (g.kind, h(g.start), h(g.end), g.hours)
            })
            .collect()
    }

    #[test]
    fn contiguous_spans_over_the_window_leave_no_gap() {
        let spans = [
            span(0, 1, Predecessor::ChainStart),
            span(1, 2, LINKED),
            span(2, 3, LINKED),
        ];
        assert!(coverage_gaps((t(0), t(3)), &spans).is_empty());
        // A window inside the spans, not on hour boundaries, is covered too.
        let inner = (t(0) + TimeDelta::minutes(10), t(2) + TimeDelta::minutes(59));
        assert!(coverage_gaps(inner, &spans).is_empty());
    }

    #[test]
    fn a_hole_before_a_digest_whose_predecessor_is_gone_is_invalid() {
        let spans = [
            span(0, 1, Predecessor::ChainStart),
            span(3, 4, Predecessor::Named(Status::Invalid)),
        ];
        let gaps = coverage_gaps((t(0), t(4)), &spans);
        assert_eq!(kinds(&gaps), [(GapKind::BrokenChain, 1, 3, 2)]);
        assert_eq!(gaps[0].status, Status::Invalid);
    }

    #[test]
    fn a_hole_before_a_restart_or_an_unread_predecessor_is_unverifiable() {
        let spans = [
            span(0, 1, Predecessor::ChainStart),
            span(2, 3, Predecessor::ChainStart),
            span(4, 5, Predecessor::Named(Status::Unverifiable)),
        ];
        let gaps = coverage_gaps((t(0), t(5)), &spans);
        assert_eq!(
            kinds(&gaps),
            [
                (GapKind::ChainRestart, 1, 2, 1),
                (GapKind::PredecessorUnavailable, 3, 4, 1)
            ]
        );
        assert!(gaps.iter().all(|g| g.status == Status::Unverifiable));
    }

    #[test]
    fn any_uncovered_tail_is_a_gap_however_short() {
        let spans = [span(0, 1, Predecessor::ChainStart)];
        let gaps = coverage_gaps((t(0), t(1) + TimeDelta::minutes(5)), &spans);
        assert_eq!(kinds(&gaps), [(GapKind::AfterNewestDigest, 1, 1, 1)]);
        assert_eq!(gaps[0].status, Status::Unverifiable);
    }

    #[test]
    fn a_window_with_no_span_is_one_gap_counted_in_hours() {
        let gaps = coverage_gaps((t(0), t(0) + TimeDelta::days(3650)), &[]);
        assert_eq!(gaps.len(), 1);
        assert_eq!(gaps[0].kind, GapKind::NoDigests);
        assert_eq!(gaps[0].hours, 3650 * 24);
    }

    #[test]
    fn a_chain_starting_after_the_window_starts_leaves_an_unverifiable_gap() {
        let spans = [span(2, 3, Predecessor::ChainStart)];
        assert_eq!(
            kinds(&coverage_gaps((t(0), t(3)), &spans)),
            [(GapKind::BeforeChainStart, 0, 2, 2)]
        );
    }

    #[test]
    fn a_gap_that_reaches_past_the_window_is_cut_at_its_end() {
        let spans = [
            span(0, 1, Predecessor::ChainStart),
            span(5, 6, Predecessor::Named(Status::Invalid)),
        ];
        assert_eq!(
            kinds(&coverage_gaps((t(0), t(3)), &spans)),
            [(GapKind::BrokenChain, 1, 3, 2)]
        );
    }

    #[test]
    fn every_digest_problem_kind_has_its_class() {
        use DigestProblem as D;
        // The class each kind must have, written out here independently of the trust core, by
        // an exhaustive match: a new kind does not compile until it is classed here too.
        fn expected(p: &DigestProblem) -> Status {
            match p {
                D::NotFound
                | D::TooLarge { .. }
                | D::ForeignObject { .. }
                | D::MalformedMetadata { .. }
                | D::MissingMetadata { .. }
                | D::BadBackfillTimestamp { .. }
                | D::InvalidFormat { .. }
                | D::Moved { .. }
                | D::OutsideChain { .. }
                | D::WrongAccount { .. }
                | D::UnknownSignatureAlgorithm { .. }
                | D::UnknownHashAlgorithm { .. }
                | D::MalformedSignature
                | D::SignatureMismatch
                | D::KeyNotValidAtSigningTime { .. }
                | D::PreviousHashMismatch { .. }
                | D::PreviousSignatureMismatch { .. }
                | D::TimeDiscontinuity { .. }
                | D::KeyUnknown { .. }
                | D::LifecycleChanged { .. } => Status::Invalid,
                D::OtherBucketMissing { .. }
                | D::NoSignature
                | D::KeyNotFound { .. }
                | D::Unreadable { .. }
                | D::Expired { .. }
                | D::Archived { .. }
                | D::KmsDenied { .. } => Status::Unverifiable,
            }
        }
        let s = |t: &str| t.to_owned();
        let every = [
            D::NotFound,
            D::OtherBucketMissing { bucket: s("b") },
            D::TooLarge { limit: 1 },
            D::ForeignObject { reason: s("x") },
            D::MalformedMetadata { reason: s("x") },
            D::MissingMetadata { field: s("x") },
            D::BadBackfillTimestamp { value: s("x") },
            D::InvalidFormat { detail: s("x") },
            D::Moved {
                declared_bucket: s("b"),
                declared_key: s("k"),
            },
            D::OutsideChain {
                declared_key: s("k"),
            },
            D::WrongAccount { declared: s("1") },
            D::UnknownSignatureAlgorithm { found: s("x") },
            D::UnknownHashAlgorithm { found: s("x") },
            D::MalformedSignature,
            D::SignatureMismatch,
            D::KeyNotValidAtSigningTime {
                fingerprint: s("f"),
                valid_from: t(0),
                valid_to: t(1),
            },
            D::PreviousHashMismatch {
                newer_key: s("k"),
                recorded: s("a"),
                actual: s("b"),
            },
            D::PreviousSignatureMismatch { newer_key: s("k") },
            D::TimeDiscontinuity {
                newer_key: s("k"),
                expected_end: t(0),
                actual_end: t(1),
            },
            D::NoSignature,
            D::KeyUnknown {
                fingerprint: s("f"),
                region: s("r"),
            },
            D::KeyNotFound {
                fingerprint: s("f"),
                region: s("r"),
            },
            D::Unreadable { reason: s("x") },
            D::Expired {
                rule_id: s("r"),
                days: Some(1),
                date: None,
            },
            D::Archived {
                storage_class: s("GLACIER"),
            },
            D::KmsDenied { key: None },
            D::LifecycleChanged {
                rule_id: s("r"),
                change: crate::findings::TrailEvent {
                    event_id: s("e"),
                    event_name: s("PutBucketLifecycle"),
                    time: t(0),
                    principal: s("p"),
                    validation: None,
                },
            },
        ];
        let kinds: std::collections::HashSet<_> =
            every.iter().map(std::mem::discriminant).collect();
        assert_eq!(kinds.len(), 27, "one of each of the 27 kinds");
        for problem in &every {
            assert_eq!(problem.status(), expected(problem), "{problem:?}");
        }
    }

    #[test]
    fn every_problem_kind_has_its_class() {
        use DigestProblem as D;
        let invalid = [
            D::NotFound,
            D::TooLarge { limit: 1 },
            D::ForeignObject { reason: "x".into() },
            D::MalformedMetadata { reason: "x".into() },
            D::MissingMetadata { field: "x".into() },
            D::SignatureMismatch,
            D::KeyUnknown {
                fingerprint: "f".into(),
                region: "r".into(),
            },
        ];
        assert!(invalid.iter().all(|p| p.status() == Status::Invalid));
        let unverifiable = [
            D::NoSignature,
            D::KeyNotFound {
                fingerprint: "f".into(),
                region: "r".into(),
            },
            D::OtherBucketMissing { bucket: "b".into() },
            D::Unreadable { reason: "x".into() },
            D::Expired {
                rule_id: "r".into(),
                days: Some(1),
                date: None,
            },
            D::Archived {
                storage_class: "GLACIER".into(),
            },
            D::KmsDenied { key: None },
        ];
        assert!(
            unverifiable
                .iter()
                .all(|p| p.status() == Status::Unverifiable)
        );
        assert_eq!(
            LogProblem::NotListed { hour_covered: true }.status(),
            Status::Invalid
        );
        assert_eq!(
            LogProblem::NotListed {
                hour_covered: false
            }
            .status(),
            Status::Unverifiable
        );
        assert_eq!(
            LogProblem::ForeignObject { reason: "x".into() }.status(),
            Status::Invalid
        );
        for log in [
            LogProblem::Expired {
                rule_id: "r".into(),
                days: None,
                date: Some(t(0)),
            },
            LogProblem::Archived {
                storage_class: "DEEP_ARCHIVE".into(),
            },
            LogProblem::KmsDenied { key: None },
        ] {
            assert_eq!(log.status(), Status::Unverifiable);
        }
        assert_eq!(gap_status(GapKind::BrokenChain), Status::Invalid);
        assert_eq!(gap_status(GapKind::ChainRestart), Status::Unverifiable);
        assert_eq!(gap_status(GapKind::LifecycleExpired), Status::Unverifiable);
    }

    #[test]
    fn an_expired_predecessor_leaves_the_same_gap_unverifiable_never_closed() {
        // Every placement of a deleted-predecessor span: excusing it as expired keeps every
        // gap (same stretches, same hours) and only lowers invalid to unverifiable.
        for start in 1..6 {
            let broken = [
                span(0, start, Predecessor::ChainStart),
                span(start + 1, 8, Predecessor::Named(Status::Invalid)),
            ];
            let mut expired = broken;
            expired[1].predecessor = Predecessor::Expired;
            for window in [(t(0), t(8)), (t(start), t(8)), (t(0), t(start + 1))] {
                let (a, b) = (
                    coverage_gaps(window, &broken),
                    coverage_gaps(window, &expired),
                );
                assert_eq!(a.len(), b.len());
                for (a, b) in a.iter().zip(&b) {
                    assert_eq!((a.start, a.end, a.hours), (b.start, b.end, b.hours));
                    assert_ne!(b.status, Status::Valid);
                    if a.kind == GapKind::BrokenChain {
                        assert_eq!(b.kind, GapKind::LifecycleExpired);
                        assert_eq!(b.status, Status::Unverifiable);
                    }
                }
            }
        }
    }

    mod judging {
        use super::super::*;
        use crate::keys::PublicKey;
        use chrono::TimeZone;
        use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPublicKey};
        use rsa::signature::{SignatureEncoding, Signer};

        const FOLDER: &str = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/01/01/";

        fn layout() -> ChainLayout {
            crate::layout::test_chain_layout()
        }

        fn key_name(hour: u32, backfill: bool) -> String {
            let tail = if backfill { "_backfill" } else { "" };
            format!(
                "{FOLDER}111122223333_CloudTrail-Digest_us-east-1_t-1_us-east-1_20260101T{hour:02}0000Z{tail}.json.gz"
            )
        }

        fn signer() -> rsa::pkcs1v15::SigningKey<sha2::Sha256> {
            let pem = std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../fixtures/keys/test-key.pem"
            ))
            .unwrap();
            rsa::pkcs1v15::SigningKey::new(rsa::RsaPrivateKey::from_pkcs1_pem(&pem).unwrap())
        }

        /// The test key, valid all of 2026, as CloudTrail's key for us-east-1.
        fn keys(complete: bool) -> (KeySet, String) {
            let private = rsa::RsaPrivateKey::from_pkcs1_pem(
                &std::fs::read_to_string(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../fixtures/keys/test-key.pem"
                ))
                .unwrap(),
            )
            .unwrap();
            let der = private.to_public_key().to_pkcs1_der().unwrap();
            let fingerprint = {
                use md5::Digest as _;
                hex::encode(md5::Md5::digest(der.as_bytes()))
            };
            let year = (
                Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
            );
            let mut set = KeySet::new();
            set.insert(
                PublicKey::from_der(&fingerprint, der.as_bytes(), year.0, year.1, None).unwrap(),
            );
            if complete {
                set.mark_complete(Some("us-east-1"), year.0, year.1);
            }
            (set, fingerprint)
        }

        /// A digest of hour `hour` with its signature, as CloudTrail would write it.
        fn digest(
            hour: u32,
            fingerprint: &str,
            edit: impl Fn(&mut serde_json::Value),
        ) -> (DigestFile, String) {
            let mut doc = serde_json::json!({
                "awsAccountId": "111122223333",
                "digestStartTime": format!("2026-01-01T{:02}:00:00Z", hour - 1),
                "digestEndTime": format!("2026-01-01T{hour:02}:00:00Z"),
                "digestS3Bucket": "b",
                "digestS3Object": key_name(hour, false),
                "digestPublicKeyFingerprint": fingerprint,
                "digestSignatureAlgorithm": "SHA256withRSA",
                "newestEventTime": null, "oldestEventTime": null,
                "previousDigestS3Bucket": null, "previousDigestS3Object": null,
                "previousDigestHashValue": null, "previousDigestHashAlgorithm": null,
                "previousDigestSignature": null,
                "logFiles": []
            });
            edit(&mut doc);
            let parsed = DigestFile::parse(serde_json::to_vec(&doc).unwrap()).unwrap();
            let signature =
                hex::encode(signer().sign(signing_string(&parsed).as_bytes()).to_bytes());
            (parsed, signature)
        }

        fn metadata(signature: &str) -> BTreeMap<String, String> {
            [
                ("signature".to_owned(), signature.to_owned()),
                ("signature-algorithm".to_owned(), "SHA256withRSA".to_owned()),
            ]
            .into()
        }

        fn judge(
            digest: &DigestFile,
            key: &str,
            metadata: &BTreeMap<String, String>,
            keys: &KeySet,
            link: Option<&Link>,
            backfill: bool,
        ) -> Vec<&'static str> {
            let layout = layout();
            judge_digest(&DigestEvidence {
                bucket: "b",
                key,
                layout: &layout,
                digest,
                metadata,
                metadata_problem: None,
                backfill,
                link,
                keys,
            })
            .iter()
            .map(|p| {
                let json = serde_json::to_value(p).unwrap();
                match json["kind"].as_str().unwrap() {
                    "moved" => "moved",
                    "wrong_account" => "wrong_account",
                    "missing_metadata" => "missing_metadata",
                    "signature_mismatch" => "signature_mismatch",
                    "key_unknown" => "key_unknown",
                    "key_not_found" => "key_not_found",
                    "previous_hash_mismatch" => "previous_hash_mismatch",
                    "time_discontinuity" => "time_discontinuity",
                    "no_signature" => "no_signature",
                    "bad_backfill_timestamp" => "bad_backfill_timestamp",
                    other => panic!("unexpected {other}"),
                }
            })
            .collect()
        }

        #[test]
        fn a_genuine_digest_has_no_problem() {
            let (keys, fp) = keys(true);
            let (d, sig) = digest(1, &fp, |_| {});
            assert!(judge(&d, &key_name(1, false), &metadata(&sig), &keys, None, false).is_empty());
        }

        #[test]
        fn each_check_names_its_problem() {
            let (keys, fp) = keys(true);
            let key = key_name(1, false);
            let (d, sig) = digest(1, &fp, |_| {});
            // Read from another key than it names.
            assert_eq!(
                judge(&d, &key_name(2, false), &metadata(&sig), &keys, None, false),
                ["moved"]
            );
            // Another account, validly signed.
            let (other, sig2) = digest(1, &fp, |d| d["awsAccountId"] = "999999999999".into());
            assert_eq!(
                judge(&other, &key, &metadata(&sig2), &keys, None, false),
                ["wrong_account"]
            );
            // A signature without its algorithm.
            let mut meta = metadata(&sig);
            meta.remove("signature-algorithm");
            assert_eq!(
                judge(&d, &key, &meta, &keys, None, false),
                ["missing_metadata"]
            );
            // Another digest's signature.
            let (_, wrong) = digest(2, &fp, |_| {});
            assert_eq!(
                judge(&d, &key, &metadata(&wrong), &keys, None, false),
                ["signature_mismatch"]
            );
            // No signature anywhere.
            assert_eq!(
                judge(&d, &key, &BTreeMap::new(), &keys, None, false),
                ["no_signature"]
            );
        }

        #[test]
        fn an_unknown_key_is_invalid_only_when_the_key_list_was_read_whole() {
            let (d, sig) = digest(1, "00112233445566778899aabbccddeeff", |_| {});
            let key = key_name(1, false);
            assert_eq!(
                judge(&d, &key, &metadata(&sig), &keys(true).0, None, false),
                ["key_unknown"]
            );
            assert_eq!(
                judge(&d, &key, &metadata(&sig), &keys(false).0, None, false),
                ["key_not_found"]
            );
        }

        #[test]
        fn link_checks_come_only_from_a_valid_newer_digest() {
            let (keys, fp) = keys(true);
            let (d, sig) = digest(1, &fp, |_| {});
            let reference = crate::schema::PreviousDigestReference {
                bucket: "b".into(),
                key: key_name(1, false),
                hash_value: "0".repeat(64),
                hash_algorithm: "SHA-256".into(),
                signature: sig.clone(),
            };
            let mut link = Link {
                newer_key: key_name(3, false),
                newer_start: Utc.with_ymd_and_hms(2026, 1, 1, 2, 0, 0).unwrap(),
                reference,
                newer_valid: true,
            };
            let key = key_name(1, false);
            assert_eq!(
                judge(&d, &key, &metadata(&sig), &keys, Some(&link), false),
                ["previous_hash_mismatch", "time_discontinuity"]
            );
            link.newer_valid = false;
            assert!(judge(&d, &key, &metadata(&sig), &keys, Some(&link), false).is_empty());
            // The carried signature alone proves the digest when metadata is gone.
            link.newer_valid = true;
            link.reference.hash_value = d.sha256_hex();
            link.newer_start = d.end_time;
            assert!(judge(&d, &key, &BTreeMap::new(), &keys, Some(&link), false).is_empty());
        }

        #[test]
        fn a_backfill_digest_needs_a_generation_time_after_its_hour() {
            let (keys, fp) = keys(true);
            let key = key_name(1, true);
            let (d, sig) = digest(1, &fp, |d| d["digestS3Object"] = key_name(1, true).into());
            let mut meta = metadata(&sig);
            assert_eq!(
                judge(&d, &key, &meta, &keys, None, true),
                ["missing_metadata"]
            );
            meta.insert(
                "backfill-generation-timestamp".into(),
                "2025-12-31T00:00:00Z".into(),
            );
            assert_eq!(
                judge(&d, &key, &meta, &keys, None, true),
                ["bad_backfill_timestamp"]
            );
            meta.insert(
                "backfill-generation-timestamp".into(),
                "2026-01-01T05:00:00Z".into(),
            );
            assert!(judge(&d, &key, &meta, &keys, None, true).is_empty());
        }
    }

    #[test]
    fn the_hours_not_yet_delivered_are_one_unverifiable_gap() {
        let spans = [span(0, 8, Predecessor::ChainStart)];
        assert!(range_gaps((t(0), t(8)), t(8), &spans).is_empty());
        assert_eq!(
            kinds(&range_gaps((t(0), t(10)), t(8), &spans)),
            [(GapKind::NotYetDelivered, 8, 10, 2)]
        );
        assert_eq!(
            kinds(&range_gaps((t(9), t(10)), t(8), &spans)),
            [(GapKind::NotYetDelivered, 9, 10, 1)]
        );
    }

    #[test]
    fn a_log_named_in_a_covered_minute_must_be_listed_even_outside_the_range() {
        // Real digests end at any second: this one at 02:00:12.
        let spans = [CoveredSpan {
            start: t(0),
            end: t(2) + TimeDelta::seconds(12),
            predecessor: Predecessor::ChainStart,
        }];
        let range = (t(0), t(1));
        assert!(log_must_be_listed(
            t(1) + TimeDelta::minutes(10),
            range,
            &spans
        ));
        assert!(log_must_be_listed(
            t(2) - TimeDelta::minutes(1),
            range,
            &spans
        ));
        // The minute the span ends in may hold files the next digest lists.
        assert!(!log_must_be_listed(t(2), range, &spans));
        assert!(!log_must_be_listed(t(3), range, &spans));
    }
}
