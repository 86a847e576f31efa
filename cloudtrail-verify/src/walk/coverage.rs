//! What a chain's walk has proven so far: the spans of its valid standard digests, each with
//! what precedes it, and the digests where a checkpoint may be set. Pure bookkeeping: the walk
//! records, `crate::trust` judges the spans (`coverage_gaps`, `range_gaps`).

use crate::report::{ChainHead, ChainReport, Status};
use crate::schema::DigestFile;
use crate::trust::{self, CoveredSpan, Predecessor};
use chrono::{DateTime, Utc};

/// A valid hourly digest on the chain, within the window: where a checkpoint may be set.
#[derive(Debug, Clone)]
pub(super) struct HeadCandidate {
    pub key: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub sha256: [u8; 32],
    pub signature: String,
}

/// The spans covered and the checkpoint candidates of one chain's walk.
#[derive(Debug, Default)]
pub(super) struct Coverage {
    /// Spans of valid standard digests, with what precedes each.
    spans: Vec<CoveredSpan>,
    /// Valid hourly digests on the chain, ending within the window.
    heads: Vec<HeadCandidate>,
}

impl Coverage {
    /// Records a valid standard digest's span, its predecessor unverifiable until it has been
    /// read and judged; returns the span's index.
    pub fn cover(&mut self, digest: &DigestFile) -> usize {
        self.spans.push(CoveredSpan {
            start: digest.start_time,
            end: digest.end_time,
            predecessor: match digest.previous {
                None => Predecessor::ChainStart,
                Some(_) => Predecessor::Named(Status::Unverifiable),
            },
        });
        self.spans.len() - 1
    }

    /// The predecessor of span `span` (when there is one) was judged `status`.
    pub fn set_predecessor(&mut self, span: Option<usize>, status: Status) {
        if let Some(span) = span.and_then(|i| self.spans.get_mut(i)) {
            span.predecessor = Predecessor::Named(status);
        }
    }

    /// The predecessor of span `span` is gone, expired by a lifecycle rule of the bucket.
    pub fn set_predecessor_expired(&mut self, span: Option<usize>) {
        if let Some(span) = span.and_then(|i| self.spans.get_mut(i)) {
            span.predecessor = Predecessor::Expired;
        }
    }

    /// The spans recorded, for `crate::trust`'s judgements.
    pub fn spans(&self) -> &[CoveredSpan] {
        &self.spans
    }

    /// Whether `at` lies in a recorded span.
    pub fn covers(&self, at: DateTime<Utc>) -> bool {
        trust::is_covered(at, &self.spans)
    }

    /// The latest start of a span ending at `end`: the digest before a gap starting there.
    pub fn start_of_span_ending_at(&self, end: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.spans
            .iter()
            .filter(|s| s.end == end)
            .map(|s| s.start)
            .max()
    }

    /// Records a digest where a checkpoint may be set.
    pub fn add_head(&mut self, head: HeadCandidate) {
        self.heads.push(head);
    }

    /// The newest digest up to which `report` proves the chain, as a checkpoint in `bucket`.
    pub fn head(&self, report: &ChainReport, bucket: &str) -> Option<ChainHead> {
        let until = trust::checkpoint::proven_until(report)?;
        let chosen = trust::checkpoint::choose_head(
            self.heads.iter().enumerate().map(|(i, h)| (i, h.end)),
            until,
        )?;
        let candidate = self.heads.get(chosen)?;
        Some(ChainHead {
            bucket: bucket.to_owned(),
            key: candidate.key.clone(),
            sha256: hex::encode(candidate.sha256),
            signature: candidate.signature.clone(),
            start_time: candidate.start,
            end_time: candidate.end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, hour, 0, 0).unwrap()
    }

    fn span(coverage: &Coverage, i: usize) -> CoveredSpan {
        coverage.spans()[i]
    }

    /// A parsed digest from `start` to `end` (hours), naming a predecessor unless `first`.
    fn digest(start: u32, end: u32, first: bool) -> DigestFile {
        let previous = if first {
            r#""previousDigestS3Bucket":null,"previousDigestS3Object":null,"previousDigestHashValue":null,"previousDigestHashAlgorithm":null,"previousDigestSignature":null"#.to_owned()
        } else {
            format!(
                r#""previousDigestS3Bucket":"b","previousDigestS3Object":"p.json.gz","previousDigestHashValue":"{}","previousDigestHashAlgorithm":"SHA-256","previousDigestSignature":"{}""#,
                "ab".repeat(32),
                "cd".repeat(256)
            )
        };
        let text = format!(
            r#"{{"awsAccountId":"111122223333","digestStartTime":"2026-01-01T{start:02}:00:00Z","digestEndTime":"2026-01-01T{end:02}:00:00Z","digestS3Bucket":"b","digestS3Object":"d.json.gz","digestPublicKeyFingerprint":"abc","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":null,"oldestEventTime":null,{previous},"logFiles":[]}}"#
        );
        DigestFile::parse(text.into_bytes()).expect("a well-formed digest")
    }

    fn covered(start: u32, end: u32, first: bool) -> (Coverage, usize) {
        let mut coverage = Coverage::default();
        let i = coverage.cover(&digest(start, end, first));
        (coverage, i)
    }

    #[test]
    fn a_span_naming_a_predecessor_stays_unproven_until_the_predecessor_is_judged() {
        let (mut coverage, i) = covered(1, 2, false);
        assert_eq!(
            span(&coverage, i).predecessor,
            Predecessor::Named(Status::Unverifiable)
        );
        coverage.set_predecessor(Some(i), Status::Valid);
        assert_eq!(
            span(&coverage, i).predecessor,
            Predecessor::Named(Status::Valid)
        );
        coverage.set_predecessor_expired(Some(i));
        assert_eq!(span(&coverage, i).predecessor, Predecessor::Expired);
        // A span index that does not exist changes nothing.
        coverage.set_predecessor(Some(7), Status::Invalid);
        coverage.set_predecessor(None, Status::Invalid);
        assert_eq!(coverage.spans().len(), 1);
    }

    #[test]
    fn a_digest_starting_a_chain_has_no_predecessor_to_prove() {
        let (coverage, i) = covered(1, 2, true);
        assert_eq!(span(&coverage, i).predecessor, Predecessor::ChainStart);
        assert!(coverage.covers(at(1)));
        assert!(!coverage.covers(at(3)));
        assert_eq!(coverage.start_of_span_ending_at(at(2)), Some(at(1)));
        assert_eq!(coverage.start_of_span_ending_at(at(3)), None);
    }

    #[test]
    fn the_checkpoint_offered_is_a_recorded_head_never_past_what_is_proven() {
        let (mut coverage, _) = covered(0, 1, true);
        let chain = crate::layout::ChainId {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
        };
        let mut report = ChainReport::new(chain);
        report.window = Some((at(0), at(3)));
        for (key, end) in [("k1", 1), ("k2", 2), ("k3", 3)] {
            coverage.add_head(HeadCandidate {
                key: key.into(),
                start: at(end - 1),
                end: at(end),
                sha256: [7; 32],
                signature: "ef".repeat(256),
            });
        }
        // All proven: the newest, in the bucket asked, with its hash and times.
        let head = coverage.head(&report, "b").expect("a head");
        assert_eq!((head.key.as_str(), head.bucket.as_str()), ("k3", "b"));
        assert_eq!(head.sha256, hex::encode([7u8; 32]));
        assert_eq!((head.start_time, head.end_time), (at(2), at(3)));
        // Proven only to 02:00 (the window ends there): never a head past it.
        report.window = Some((at(0), at(2)));
        assert_eq!(coverage.head(&report, "b").expect("a head").key, "k2");
    }

    #[test]
    fn no_checkpoint_is_offered_before_anything_is_proven() {
        let coverage = Coverage::default();
        let report = ChainReport::new(crate::layout::ChainId {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
        });
        assert!(coverage.head(&report, "b").is_none());
    }
}
