//! Joining a chain verified in parts (time windows): the shards of a plan, or the segments a
//! long window is walked in. Each digest belongs to the part its end falls in, so the parts'
//! counts add up; what two parts both found (objects in the day folders they share) counts
//! once; gaps meeting at a seam become one; and each seam is checked like a checkpoint's join:
//! the newer part's oldest digest must name the older part's newest proven digest, hash and
//! signature ([`crate::trust::checkpoint::judge_checkpoint`]).

use crate::findings::{ChainHead, CheckpointCheck, CoverageGap, GapKind, Status};
use crate::report::{ChainReport, DigestReport};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// One chain from its parts, oldest window first.
pub(crate) fn join_chain(mut parts: Vec<ChainReport>) -> ChainReport {
    parts.sort_by_key(|p| p.window.map(|w| w.0));
    let mut joined = ChainReport::new(parts[0].chain.clone());
    joined.expected = parts.iter().any(|p| p.expected);
    joined.window = match (
        parts.first().and_then(|p| p.window),
        parts.last().and_then(|p| p.window),
    ) {
        (Some(a), Some(b)) => Some((a.0, b.1)),
        _ => None,
    };
    let mut digests: BTreeMap<(String, String), DigestReport> = BTreeMap::new();
    let mut order: Vec<(String, String)> = Vec::new();
    let mut gaps: Vec<CoverageGap> = Vec::new();
    let mut previous: Option<ChainReport> = None;
    // The head of the whole: the newest part's reached through seams that all joined; a seam
    // that did not stops it at the head before.
    let mut head: Option<ChainHead> = None;
    let mut joined_so_far = true;
    for part in parts {
        // A part joined before (an earlier segment) brings its own seams.
        joined.seams.extend(part.seams.iter().cloned());
        joined_so_far &= part.seams.iter().all(|s| s.status == Status::Valid);
        match &previous {
            None => head = part.head.clone(),
            // No digest of this part reaches its start: there is no join to prove, and its gap
            // at the start (joined to the older part's below) says what is missing. A seam
            // judged here would repeat it once per empty segment, naming no digest; the head
            // stops here, as the hours from here on are not proven.
            Some(_) if part.tail.is_none() => joined_so_far = false,
            Some(older) => {
                let seam = judge_seam(older, &part);
                joined_so_far &= seam.status == Status::Valid;
                joined.seams.push(seam);
                if joined_so_far && part.head.is_some() {
                    head = part.head.clone();
                }
            }
        }
        for d in &part.digests {
            let id = (d.bucket.clone(), d.key.clone());
            match digests.get(&id) {
                Some(kept) if worse_or_same(kept, d) => {}
                Some(_) => {
                    digests.insert(id, d.clone());
                }
                None => {
                    order.push(id.clone());
                    digests.insert(id, d.clone());
                }
            }
        }
        for gap in &part.gaps {
            match gaps.last_mut() {
                Some(last) if last.end == gap.start && last.kind != GapKind::NotYetDelivered => {
                    *last = join_gaps(last, gap);
                }
                _ => gaps.push(gap.clone()),
            }
        }
        if let Some(omitted) = part.omitted {
            let mut sum = joined.omitted.unwrap_or_default();
            sum.merge(omitted);
            joined.omitted = Some(sum);
        }
        push_new(&mut joined.unlisted_logs, &part.unlisted_logs, |l| {
            (l.bucket.clone(), l.key.clone())
        });
        joined
            .unlisted_logs_omitted
            .merge(part.unlisted_logs_omitted);
        push_new(&mut joined.foreign_objects, &part.foreign_objects, |f| {
            (f.bucket.clone(), f.key.clone())
        });
        joined.foreign_objects_omitted += part.foreign_objects_omitted;
        push_new(&mut joined.versions, &part.versions, |v| {
            (v.bucket.clone(), v.key.clone())
        });
        joined.versions_omitted += part.versions_omitted;
        joined.error = joined.error.take().or(part.error.clone());
        joined.versions_error = joined.versions_error.take().or(part.versions_error.clone());
        if joined.checkpoint.is_none() {
            joined.checkpoint = part.checkpoint.clone();
        }
        joined.found_start = min_some(joined.found_start, part.found_start);
        joined.found_end = joined.found_end.max(part.found_end);
        joined.tail = joined.tail.take().or(part.tail.clone());
        // The next seam joins the newest part that reached its start (a part without a digest
        // there has no head to join either).
        if previous.is_none() || part.tail.is_some() {
            previous = Some(part);
        }
    }
    drop(previous);
    joined.head = head;
    joined.digests = order
        .into_iter()
        .filter_map(|id| digests.remove(&id))
        .collect();
    joined.gaps = gaps;
    joined
}

/// Whether `kept` already says at least as much as `other` about the same digest.
fn worse_or_same(kept: &DigestReport, other: &DigestReport) -> bool {
    (kept.status, kept.problems.len(), kept.logs_not_checked)
        >= (other.status, other.problems.len(), other.logs_not_checked)
}

/// Two gaps meeting at a seam, as one run would have found the whole: classified by what
/// follows it (the newer part's), unless the newer part found no digest at all while the
/// older did.
fn join_gaps(older: &CoverageGap, newer: &CoverageGap) -> CoverageGap {
    let explained = |k: GapKind| matches!(k, GapKind::LoggingOff | GapKind::ValidationOff);
    let kind = match (older.kind, newer.kind) {
        // Evidence of a deleted segment on either side stays.
        (GapKind::SegmentDeleted, _) | (_, GapKind::SegmentDeleted) => GapKind::SegmentDeleted,
        // Both halves explained by the event history: the whole is, as the less proven half.
        (o, n) if explained(o) && explained(n) => {
            if o == GapKind::ValidationOff || n == GapKind::ValidationOff {
                GapKind::ValidationOff
            } else {
                GapKind::LoggingOff
            }
        }
        (o, GapKind::NoDigests) if o != GapKind::NoDigests => GapKind::AfterNewestDigest,
        // One half explained, the other not: the newer half's kind, as before, unless it is
        // the explained one (then what the older half could not prove stands).
        (o, n) if explained(n) => o,
        (_, n) => n,
    };
    let seconds = (newer.end - older.start).num_seconds().max(0) as u64;
    CoverageGap {
        kind,
        start: older.start,
        end: newer.end,
        hours: seconds.div_ceil(3600),
        status: if older.accepted.is_some() && older.accepted == newer.accepted {
            Status::Valid
        } else {
            crate::trust::gap_status(kind)
        },
        next_start: newer.next_start,
        events: older.events.iter().chain(&newer.events).cloned().collect(),
        history_note: newer
            .history_note
            .clone()
            .or_else(|| older.history_note.clone()),
        previous_start: older.previous_start,
        carried: older.carried,
        // An exception accepts the whole only if it accepted both halves (then the whole lies
        // inside it too).
        accepted: older
            .accepted
            .clone()
            .filter(|a| newer.accepted.as_ref() == Some(a)),
    }
}

/// The seam between an older part and the newer one: the older part's head must be what the
/// newer part's oldest digest names, and end where it starts (a seam between windows cut at a
/// digest's end is exactly there; one cut anywhere else lies inside the newer part's oldest
/// digest, which covers it).
fn judge_seam(older: &ChainReport, newer: &ChainReport) -> CheckpointCheck {
    let at = newer.window.map(|w| w.0);
    let joins = |h: &ChainHead| {
        newer.tail.as_ref().is_some_and(|t| {
            t.start_time == h.end_time
                && at.is_some_and(|at| h.end_time <= at && t.start_time <= at)
        })
    };
    let Some(head) = older.head.clone().filter(joins) else {
        // The older part is not proven to the seam (its own findings say why), so the join
        // cannot be shown.
        let checkpoint = older.head.clone().unwrap_or_else(|| ChainHead {
            bucket: String::new(),
            key: String::new(),
            sha256: String::new(),
            signature: String::new(),
            start_time: at.unwrap_or_default(),
            end_time: at.unwrap_or_default(),
        });
        let problems = vec![crate::findings::CheckpointProblem::JoinUnproven {
            newer_key: newer
                .tail
                .as_ref()
                .map(|t| t.key.clone())
                .unwrap_or_default(),
        }];
        return CheckpointCheck {
            checkpoint,
            status: Status::Unverifiable,
            problems,
        };
    };
    let link = newer.tail.as_ref().and_then(|tail| {
        tail.previous.as_ref().map(|p| crate::trust::Link {
            newer_key: tail.key.clone(),
            newer_start: tail.start_time,
            reference: crate::schema::PreviousDigestReference {
                bucket: p.bucket.clone(),
                key: p.key.clone(),
                hash_value: p.sha256.clone(),
                hash_algorithm: crate::schema::HASH_ALGORITHM.into(),
                signature: p.signature.clone(),
            },
            newer_valid: tail.valid,
        })
    });
    let starts_chain = newer
        .tail
        .as_ref()
        .filter(|t| t.previous.is_none())
        .map(|t| t.key.as_str());
    // What the newer digest recorded of its predecessor, against the head the older part
    // proved: the same comparison as a checkpoint read again.
    let recorded = link.as_ref().map(|l| {
        (
            l.reference.hash_value.to_ascii_lowercase(),
            l.reference.signature.to_ascii_lowercase(),
        )
    });
    let mut problems = crate::trust::checkpoint::judge_checkpoint(
        &head,
        link.as_ref(),
        starts_chain,
        &crate::trust::checkpoint::Reread {
            problems: &[],
            sha256: recorded.as_ref().map(|r| r.0.as_str()),
            signature: recorded.as_ref().map(|r| r.1.as_str()),
            // The head is the older part's own digest, read by that part: its times are the
            // digest's.
            times: None,
        },
    );
    if newer.tail.is_none() {
        // The newer part never reached the seam: its coverage gaps say so.
        problems.push(crate::findings::CheckpointProblem::JoinUnproven {
            newer_key: String::new(),
        });
    }
    let status = crate::trust::checkpoint::checkpoint_status(&problems);
    CheckpointCheck {
        checkpoint: head,
        status,
        problems,
    }
}

fn push_new<T: Clone, K: Ord>(into: &mut Vec<T>, from: &[T], key: impl Fn(&T) -> K) {
    let mut seen: BTreeSet<K> = into.iter().map(&key).collect();
    for item in from {
        if seen.insert(key(item)) {
            into.push(item.clone());
        }
    }
}

fn min_some(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::DigestProblem;
    use crate::layout::ChainId;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, hour, 0, 0).unwrap()
    }

    fn part(from: u32, to: u32) -> ChainReport {
        let mut part = ChainReport::new(ChainId {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
        });
        part.window = Some((at(from), at(to)));
        part
    }

    fn digest(key: &str, end: u32) -> DigestReport {
        let mut d = DigestReport::new("b", key, false);
        d.start_time = Some(at(end - 1));
        d.end_time = Some(at(end));
        d
    }

    fn gap(kind: GapKind, start: u32, end: u32) -> CoverageGap {
        crate::trust::gap(kind, at(start), at(end))
    }

    #[test]
    fn a_digest_two_parts_read_counts_once_with_the_worse_verdict() {
        let mut older = part(0, 2);
        older.digests = vec![digest("d2", 2), digest("d3", 3)];
        let mut newer = part(2, 4);
        let mut bad = digest("d3", 3);
        bad.push(DigestProblem::NotFound);
        newer.digests = vec![bad, digest("d4", 4)];
        let joined = join_chain(vec![newer, older]);
        let keys: Vec<&str> = joined.digests.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["d2", "d3", "d4"], "each once, oldest part first");
        assert_eq!(joined.digests[1].status, Status::Invalid);
        assert_eq!(joined.window, Some((at(0), at(4))));
    }

    #[test]
    fn gaps_meeting_at_a_seam_become_one_and_others_stay_apart() {
        let mut older = part(0, 2);
        older.gaps = vec![gap(GapKind::AfterNewestDigest, 1, 2)];
        let mut newer = part(2, 5);
        newer.gaps = vec![
            gap(GapKind::BeforeChainStart, 2, 3),
            gap(GapKind::NotYetDelivered, 4, 5),
        ];
        let joined = join_chain(vec![older, newer]);
        assert_eq!(joined.gaps.len(), 2, "{:?}", joined.gaps);
        assert_eq!((joined.gaps[0].start, joined.gaps[0].end), (at(1), at(3)));
        assert_eq!(joined.gaps[0].hours, 2);
        assert_eq!(joined.gaps[1].kind, GapKind::NotYetDelivered);
    }

    #[test]
    fn a_part_with_no_digest_at_its_start_is_no_seam_and_stops_the_head() {
        let head = ChainHead {
            bucket: "b".into(),
            key: "d2".into(),
            sha256: "ab".repeat(32),
            signature: "cd".repeat(256),
            start_time: at(1),
            end_time: at(2),
        };
        let mut older = part(0, 2);
        older.head = Some(head.clone());
        let mut empty = part(2, 4);
        empty.gaps = vec![gap(GapKind::NoDigests, 2, 4)];
        let mut newest = part(4, 6);
        newest.head = Some(ChainHead {
            key: "d6".into(),
            ..head.clone()
        });
        let joined = join_chain(vec![older, empty, newest]);
        // No seam for the empty part (it names no digest); the newest part has no tail either.
        assert!(joined.seams.is_empty(), "{:?}", joined.seams);
        // The hours after the empty part are not proven joined: the head stays before it.
        assert_eq!(joined.head, Some(head));
    }
}
