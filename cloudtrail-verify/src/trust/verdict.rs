//! The one place a verdict is decided from what a run collected, with no I/O.
//!
//! Every status of a run comes from here or from the problem classes beside it (`super`): a
//! chain's from its findings ([`chain_status`]), a report's from its chains and caps
//! ([`report_status`]). A single run, a run in segments, a merge of shards, a resumed run and
//! an evidence bundle all end in these two functions, so that no path that assembles a report
//! can drop a rule.

use crate::findings::Status;
use crate::report::{BundleProblem, ChainReport, Counts, Report};

impl ChainReport {
    /// This chain's verdict: the worst of everything found, and never valid without a window
    /// that was covered (decided here, in the trust core's `chain_status`).
    pub fn status(&self) -> Status {
        chain_status(self)
    }
}

impl Report {
    /// The report's verdict, decided here, in the trust core (`report_status`): the one
    /// function every report's status comes from (a single run and a merge of shards both end
    /// here), so that no path that recomputes a status can drop a cap.
    pub fn verdict(&self) -> Status {
        report_status(self)
    }
}

/// The class of an object in a chain's folders that CloudTrail did not write there: invalid,
/// whatever it holds (CloudTrail writes only its own names).
pub fn foreign_object_status() -> Status {
    Status::Invalid
}

/// A chain's verdict: the worst of its digests, log files, unlisted and foreign objects,
/// coverage gaps, version changes and joins (checkpoint, seams); never valid when its walk or
/// its version listing failed, when a valid digest's log files were not all checked, or
/// without a window that was covered.
pub fn chain_status(chain: &ChainReport) -> Status {
    let s = chain.summary();
    let mut status = [
        s.digests,
        s.logs,
        s.unlisted_logs,
        s.foreign_objects,
        s.gaps,
        s.versions,
    ]
    .iter()
    .map(Counts::worst)
    .max()
    .unwrap_or(Status::Valid);
    for join in chain.checkpoint.iter().chain(&chain.seams) {
        status = status.max(join.status);
    }
    if chain.error.is_some()
        || chain.versions_error.is_some()
        || s.logs_not_checked > 0
        || chain.window.is_none()
    {
        status = status.max(Status::Unverifiable);
    }
    status
}

/// A report's verdict: the worst of every chain's and of the bundle's problems; never valid
/// without a chain (each chain's verdict includes its coverage, so a run with no chain at all
/// proves nothing), nor when the public keys came from the copy being verified (whoever
/// writes the copy could have supplied their own).
pub fn report_status(report: &Report) -> Status {
    let chains = report
        .chains
        .iter()
        .map(chain_status)
        .max()
        .unwrap_or(Status::Unverifiable);
    let bundle = report
        .bundle_problems
        .iter()
        .map(BundleProblem::status)
        .max()
        .unwrap_or(Status::Valid);
    let status = chains.max(bundle);
    if report.keys_from_the_copy {
        status.max(Status::Unverifiable)
    } else {
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{CoverageGap, DigestProblem, GapKind};
    use crate::layout::ChainId;
    use chrono::{TimeZone, Utc};

    fn chain() -> ChainReport {
        let mut c = ChainReport::new(ChainId {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
        });
        let t = |h| Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0).unwrap();
        c.window = Some((t(0), t(4)));
        c
    }

    fn report(chains: Vec<ChainReport>) -> Report {
        Report::new(
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/main"
                .parse()
                .unwrap(),
            "test".into(),
            "b".into(),
            Utc::now(),
            Utc::now(),
            chains,
        )
    }

    #[test]
    fn a_covered_chain_with_nothing_found_is_valid_and_a_report_without_chains_is_not() {
        assert_eq!(chain_status(&chain()), Status::Valid);
        assert_eq!(report_status(&report(vec![chain()])), Status::Valid);
        assert_eq!(report_status(&report(Vec::new())), Status::Unverifiable);
    }

    #[test]
    fn a_chain_without_a_window_or_with_a_failed_walk_is_never_valid() {
        let mut c = chain();
        c.window = None;
        assert_eq!(chain_status(&c), Status::Unverifiable);
        let mut c = chain();
        c.error = Some("listing failed".into());
        assert_eq!(chain_status(&c), Status::Unverifiable);
    }

    #[test]
    fn keys_from_the_copy_cap_every_report_made_from_it() {
        let mut r = report(vec![chain()]);
        r.keys_from_the_copy = true;
        assert_eq!(report_status(&r), Status::Unverifiable);
        // Invalid stays invalid: the cap lowers nothing.
        let mut c = chain();
        c.digests.push({
            let mut d = crate::report::DigestReport::new("b", "k", false);
            d.push(DigestProblem::NotFound);
            d
        });
        r.chains.push(c);
        assert_eq!(report_status(&r), Status::Invalid);
    }

    #[test]
    fn a_gap_decides_by_its_class() {
        let mut c = chain();
        let mut gap = crate::trust::coverage_gaps(
            (
                Utc.with_ymd_and_hms(2026, 1, 1, 1, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2026, 1, 1, 2, 0, 0).unwrap(),
            ),
            &[],
        )
        .remove(0);
        for (kind, status) in [
            (GapKind::LoggingOff, Status::Valid),
            (GapKind::ValidationOff, Status::Unverifiable),
            (GapKind::SegmentDeleted, Status::Invalid),
        ] {
            gap.kind = kind;
            gap.status = crate::trust::gap_status(kind);
            c.gaps = vec![CoverageGap { ..gap.clone() }];
            assert_eq!(chain_status(&c), status, "{kind:?}");
        }
    }
}
