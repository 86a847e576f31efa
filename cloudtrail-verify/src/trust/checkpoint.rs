//! Checkpoints, with no I/O: how far a chain is proven (the head a state may record), and
//! whether a run joins the checkpoint a previous run left.
//!
//! A checkpoint is only as good as the chain behind it, so both rules are strict:
//! - a chain's head is the newest valid hourly digest such that nothing before its end, from the
//!   start of the window, is anything but proven: a finding whose time is unknown holds the
//!   checkpoint where it was, so that the next run reports it again;
//! - a join needs the checkpoint digest read again, unchanged (SHA-256 and signature as
//!   recorded) and still valid, and the oldest new digest, valid, naming it as its predecessor
//!   (`previousDigestS3Object`, `previousDigestHashValue` and `previousDigestSignature`: CloudTrail
//!   signs all three, "CloudTrail digest file structure" in the AWS CloudTrail User Guide).

use super::Link;
use crate::findings::{ChainHead, CheckpointProblem, CoverageGap, DigestProblem, GapKind, Status};
use crate::report::ChainReport;
use chrono::{DateTime, TimeDelta, Utc};

/// The checkpoint digest as read again by this run.
pub struct Reread<'a> {
    /// What [`super::judge_digest`] found wrong with it (judged with the link from the oldest
    /// new digest when there is one).
    pub problems: &'a [DigestProblem],
    /// Its SHA-256 now, hex (`None`: it could not be read or parsed).
    pub sha256: Option<&'a str>,
    /// Its signature now, hex: from its metadata, else as the oldest new digest carries it.
    pub signature: Option<&'a str>,
    /// Its `digestStartTime` and `digestEndTime` now (`None`: it could not be read or parsed).
    pub times: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// Judges the join of a run to `checkpoint`. `newer` is the link from the oldest new digest of
/// the chain that reaches back to the checkpoint's end (`None`: no new digest does, which the
/// coverage rules report on their own).
pub fn judge_checkpoint(
    checkpoint: &ChainHead,
    newer: Option<&Link>,
    newer_starts_chain: Option<&str>,
    reread: &Reread<'_>,
) -> Vec<CheckpointProblem> {
    let mut problems: Vec<CheckpointProblem> = reread
        .problems
        .iter()
        .map(|p| CheckpointProblem::Digest { problem: p.clone() })
        .collect();
    if let Some(actual) = reread.sha256
        && !actual.eq_ignore_ascii_case(&checkpoint.sha256)
    {
        problems.push(CheckpointProblem::HashChanged {
            recorded: checkpoint.sha256.clone(),
            actual: actual.to_owned(),
        });
    }
    if let Some(actual) = reread.signature
        && !actual.eq_ignore_ascii_case(&checkpoint.signature)
    {
        problems.push(CheckpointProblem::SignatureChanged);
    }
    // The window of this run starts where the state says the checkpoint ends: only the digest's
    // own signed times may say that.
    if let Some((start, end)) = reread.times
        && (start != checkpoint.start_time || end != checkpoint.end_time)
    {
        problems.push(CheckpointProblem::TimesChanged {
            recorded_end: checkpoint.end_time,
            actual_end: end,
        });
    }
    if let Some(newer_key) = newer_starts_chain {
        problems.push(CheckpointProblem::JoinBroken {
            newer_key: newer_key.to_owned(),
            named_key: None,
        });
    }
    if let Some(link) = newer {
        if !link.newer_valid {
            problems.push(CheckpointProblem::JoinUnproven {
                newer_key: link.newer_key.clone(),
            });
        } else if link.reference.bucket != checkpoint.bucket || link.reference.key != checkpoint.key
        {
            problems.push(CheckpointProblem::JoinBroken {
                newer_key: link.newer_key.clone(),
                named_key: Some(format!("{}/{}", link.reference.bucket, link.reference.key)),
            });
        }
    }
    problems
}

/// The worst of `problems`, valid when there is none.
pub fn checkpoint_status(problems: &[CheckpointProblem]) -> Status {
    problems
        .iter()
        .map(CheckpointProblem::status)
        .max()
        .unwrap_or(Status::Valid)
}

/// The time up to which `chain` is proven from the start of its window: the earliest time of
/// anything not proven valid, the window's start when a finding has no time (an unlisted or
/// foreign object, a changed version, a failed listing, a checkpoint that did not join), and the
/// window's end when there is nothing. `None` when the chain has no window.
pub fn proven_until(chain: &ChainReport) -> Option<DateTime<Utc>> {
    let (start, end) = chain.window?;
    let summary = chain.summary();
    let timeless = chain.error.is_some()
        || chain.versions_error.is_some()
        || summary.unlisted_logs.total() > 0
        || summary.foreign_objects.total() > 0
        || summary.versions.total() > 0
        || chain
            .checkpoint
            .as_ref()
            .is_some_and(|c| c.status != Status::Valid);
    if timeless {
        return Some(start);
    }
    let mut until = end;
    // A pause CloudTrail's event history proves, or explains as validation off, is passed
    // over: the gap lists its evidence in the report of the run that passed it, and no later
    // run could prove those hours better.
    for gap in chain.gaps.iter().filter(|g| !passable(g)) {
        until = until.min(gap.start);
    }
    for digest in &chain.digests {
        let proven = digest.status == Status::Valid
            && digest.log_counts.worst() == Status::Valid
            && digest.logs_not_checked == 0;
        if !proven {
            // A digest's hour starts an hour before its end; with no time at all, nothing is
            // known to be proven.
            let at = digest
                .start_time
                .or_else(|| digest.end_time.map(|e| e - TimeDelta::hours(1)))
                .unwrap_or(start);
            until = until.min(at);
        }
    }
    // Not clamped to the window's start: a finding in the digest ending at the start (read as
    // the window's first) must keep every candidate out.
    Some(until)
}

/// Whether a checkpoint may move past `gap`: a pause CloudTrail's event history proves or
/// explains, one a reviewed exception accepts, or a chain restart nothing explains yet, which
/// the state then carries as an open finding ([`open_gaps`]) so that every later run reports
/// it again until it is explained or accepted. Evidence of tampering, and a gap no new segment
/// follows (the newest hours, a chain with no digest), hold the checkpoint.
pub fn passable(gap: &CoverageGap) -> bool {
    gap.accepted.is_some()
        || matches!(gap.kind, GapKind::LoggingOff | GapKind::ValidationOff)
        || open_gap(gap)
}

/// Whether `gap` is one the state carries when the checkpoint moves past it: an unverifiable
/// restart (an old segment's end or the window's start, then a new chain) that no evidence
/// explains and no exception accepts.
pub fn open_gap(gap: &CoverageGap) -> bool {
    gap.status == Status::Unverifiable
        && gap.accepted.is_none()
        && matches!(gap.kind, GapKind::ChainRestart | GapKind::BeforeChainStart)
}

/// The gaps of `chain` a state must carry when its checkpoint moves: its open restarts, this
/// run's and those it carried, oldest first.
pub fn open_gaps(chain: &ChainReport) -> Vec<CoverageGap> {
    let mut open: Vec<CoverageGap> = chain.gaps.iter().filter(|g| open_gap(g)).cloned().collect();
    open.sort_by_key(|g| g.start);
    open.dedup_by_key(|g| g.start);
    for gap in &mut open {
        gap.carried = false;
    }
    open
}

/// Among valid hourly digests (index, end), the one a checkpoint may record: the newest whose
/// end is not after `until`. The caller offers only digests ending inside the window: one ending
/// at its start was read, not proven, by this run.
pub fn choose_head(
    candidates: impl IntoIterator<Item = (usize, DateTime<Utc>)>,
    until: DateTime<Utc>,
) -> Option<usize> {
    candidates
        .into_iter()
        .filter(|(_, end)| *end <= until)
        .max_by_key(|(_, end)| *end)
        .map(|(index, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::GapKind;
    use crate::layout::ChainId;
    use crate::report::DigestReport;
    use crate::schema::PreviousDigestReference;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0).unwrap()
    }

    fn head() -> ChainHead {
        ChainHead {
            bucket: "b".into(),
            key: "k0".into(),
            sha256: "aa".into(),
            signature: "5151".into(),
            start_time: t(0),
            end_time: t(1),
        }
    }

    fn link(key: &str, valid: bool) -> Link {
        Link {
            newer_key: "k1".into(),
            newer_start: t(1),
            reference: PreviousDigestReference {
                bucket: "b".into(),
                key: key.into(),
                hash_value: "aa".into(),
                hash_algorithm: "SHA-256".into(),
                signature: "5151".into(),
            },
            newer_valid: valid,
        }
    }

    fn reread<'a>(sha: &'a str, sig: &'a str) -> Reread<'a> {
        Reread {
            problems: &[],
            sha256: Some(sha),
            signature: Some(sig),
            times: Some((t(0), t(1))),
        }
    }

    #[test]
    fn an_unchanged_checkpoint_named_by_a_valid_digest_joins() {
        let problems = judge_checkpoint(
            &head(),
            Some(&link("k0", true)),
            None,
            &reread("AA", "5151"),
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_replaced_checkpoint_digest_is_invalid() {
        let problems = judge_checkpoint(
            &head(),
            Some(&link("k0", true)),
            None,
            &reread("bb", "5151"),
        );
        assert_eq!(checkpoint_status(&problems), Status::Invalid);
        let problems = judge_checkpoint(
            &head(),
            Some(&link("k0", true)),
            None,
            &reread("aa", "6262"),
        );
        assert_eq!(problems, [CheckpointProblem::SignatureChanged]);
    }

    #[test]
    fn a_new_digest_naming_another_predecessor_breaks_the_join() {
        let problems = judge_checkpoint(
            &head(),
            Some(&link("kX", true)),
            None,
            &reread("aa", "5151"),
        );
        assert!(matches!(
            problems[..],
            [CheckpointProblem::JoinBroken { .. }]
        ));
        assert_eq!(checkpoint_status(&problems), Status::Invalid);
        // A chain's first digest there: a restart, unverifiable as one inside a range is.
        let problems = judge_checkpoint(&head(), None, Some("k1"), &reread("aa", "5151"));
        assert_eq!(checkpoint_status(&problems), Status::Unverifiable);
    }

    #[test]
    fn a_join_through_an_invalid_digest_proves_nothing() {
        let problems = judge_checkpoint(
            &head(),
            Some(&link("k0", false)),
            None,
            &reread("aa", "5151"),
        );
        assert_eq!(checkpoint_status(&problems), Status::Unverifiable);
    }

    #[test]
    fn checkpoint_times_rewritten_in_the_state_are_invalid() {
        let mut forged = head();
        forged.end_time = Utc.with_ymd_and_hms(2099, 1, 1, 0, 0, 0).unwrap();
        let problems = judge_checkpoint(&forged, None, None, &reread("aa", "5151"));
        assert!(
            matches!(problems[..], [CheckpointProblem::TimesChanged { .. }]),
            "{problems:?}"
        );
        assert_eq!(checkpoint_status(&problems), Status::Invalid);
    }

    #[test]
    fn a_checkpoint_that_no_longer_verifies_keeps_its_problem_class() {
        let gone = [DigestProblem::NotFound];
        let problems = judge_checkpoint(
            &head(),
            None,
            None,
            &Reread {
                problems: &gone,
                sha256: None,
                signature: None,
                times: None,
            },
        );
        assert_eq!(checkpoint_status(&problems), Status::Invalid);
    }

    fn chain(digests: Vec<DigestReport>) -> ChainReport {
        let mut chain = ChainReport::new(ChainId {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
        });
        chain.window = Some((t(0), t(5)));
        chain.digests = digests;
        chain
    }

    fn digest(start: u32, problem: Option<DigestProblem>) -> DigestReport {
        let mut d = DigestReport::new("b", &format!("k{start}"), false);
        d.start_time = Some(t(start));
        d.end_time = Some(t(start + 1));
        if let Some(p) = problem {
            d.push(p);
        }
        d
    }

    #[test]
    fn a_clean_chain_is_proven_to_its_window_end() {
        let c = chain((0..5).rev().map(|h| digest(h, None)).collect());
        assert_eq!(proven_until(&c), Some(t(5)));
    }

    #[test]
    fn the_head_stops_before_the_first_unproven_hour() {
        let mut digests: Vec<_> = (0..5).rev().map(|h| digest(h, None)).collect();
        digests[2] = digest(2, Some(DigestProblem::SignatureMismatch));
        let c = chain(digests);
        assert_eq!(proven_until(&c), Some(t(2)));
        let candidates = [(0, t(5)), (1, t(4)), (3, t(2)), (4, t(1))];
        assert_eq!(choose_head(candidates, t(2)), Some(3));
    }

    #[test]
    fn a_log_file_that_failed_holds_its_digests_hour() {
        let mut digests: Vec<_> = (0..5).rev().map(|h| digest(h, None)).collect();
        digests[0].log_counts.add(Status::Unverifiable);
        assert_eq!(proven_until(&chain(digests)), Some(t(4)));
    }

    #[test]
    fn a_gap_or_a_timeless_finding_holds_the_head() {
        let mut c = chain((0..5).rev().map(|h| digest(h, None)).collect());
        c.gaps
            .push(crate::trust::gap(GapKind::AfterNewestDigest, t(3), t(5)));
        assert_eq!(proven_until(&c), Some(t(3)));
        c.foreign_objects_omitted = 1;
        assert_eq!(proven_until(&c), Some(t(0)));
        assert_eq!(choose_head([(0, t(1))], t(0)), None);
    }
}
