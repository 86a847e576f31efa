//! Whether a reviewed exception accepts a coverage gap, with no I/O.
//!
//! Only an unverifiable gap lying wholly inside an entry's span, for the entry's chain, before
//! the entry expires, is accepted. An invalid gap is evidence and no exception turns it into
//! anything else; a gap reaching outside the span is not what was reviewed.

use crate::exceptions::Exceptions;
use crate::findings::{AcceptedBy, CoverageGap, Status};
use crate::layout::ChainId;
use chrono::{DateTime, Utc};

/// The entry that accepts `gap` of `chain` at `now`, if one does.
pub fn accepting_entry(
    chain: &ChainId,
    gap: &CoverageGap,
    exceptions: &Exceptions,
    now: DateTime<Utc>,
) -> Option<AcceptedBy> {
    if gap.status != Status::Unverifiable {
        return None;
    }
    exceptions
        .entries
        .iter()
        .enumerate()
        .find(|(_, e)| {
            e.applies_to(chain) && e.expires > now && e.from <= gap.start && gap.end <= e.to
        })
        .map(|(entry, e)| AcceptedBy {
            entry,
            reason: e.reason.clone(),
            approved_by: e.approved_by.clone(),
            expires: e.expires,
        })
}

/// Accepts each gap of `chain` an entry accepts: it becomes valid, naming the entry.
pub fn accept_gaps(
    chain: &ChainId,
    gaps: &mut [CoverageGap],
    exceptions: &Exceptions,
    now: DateTime<Utc>,
) {
    for gap in gaps {
        if let Some(accepted) = accepting_entry(chain, gap, exceptions, now) {
            gap.accepted = Some(accepted);
            gap.status = Status::Valid;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exceptions::Exception;
    use crate::findings::GapKind;
    use chrono::TimeZone;

    fn t(d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, d, h, 0, 0).unwrap()
    }

    fn chain() -> ChainId {
        ChainId {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
        }
    }

    fn gap(status: Status, start: DateTime<Utc>, end: DateTime<Utc>) -> CoverageGap {
        let mut gap = crate::trust::coverage_gaps((start, end), &[]).remove(0);
        gap.kind = GapKind::ChainRestart;
        gap.status = status;
        gap
    }

    fn exceptions(chain: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Exceptions {
        Exceptions {
            entries: vec![Exception {
                chain: chain.into(),
                from,
                to,
                reason: "maintenance".into(),
                approved_by: "sec".into(),
                expires: t(20, 0),
            }],
            sha256: String::new(),
        }
    }

    #[test]
    fn an_unverifiable_gap_inside_an_entry_is_accepted() {
        let e = exceptions("all", t(5, 0), t(5, 8));
        let mut gaps = [gap(Status::Unverifiable, t(5, 2), t(5, 4))];
        accept_gaps(&chain(), &mut gaps, &e, t(10, 0));
        assert_eq!(gaps[0].status, Status::Valid);
        assert_eq!(gaps[0].accepted.as_ref().map(|a| a.entry), Some(0));
    }

    #[test]
    fn no_exception_excuses_an_invalid_gap_one_reaching_outside_another_chain_or_after_expiry() {
        let e = exceptions("111122223333/us-east-1", t(5, 0), t(5, 8));
        let cases = [
            (gap(Status::Invalid, t(5, 2), t(5, 4)), t(10, 0), chain()),
            (
                gap(Status::Unverifiable, t(5, 6), t(5, 9)),
                t(10, 0),
                chain(),
            ),
            (
                gap(Status::Unverifiable, t(5, 2), t(5, 4)),
                t(21, 0),
                chain(),
            ),
            (
                gap(Status::Unverifiable, t(5, 2), t(5, 4)),
                t(10, 0),
                ChainId {
                    account_id: "111122223333".into(),
                    region: "eu-west-1".into(),
                },
            ),
        ];
        for (g, now, c) in cases {
            let status = g.status;
            let mut gaps = [g];
            accept_gaps(&c, &mut gaps, &e, now);
            assert_eq!(gaps[0].status, status);
            assert!(gaps[0].accepted.is_none());
        }
    }
}
