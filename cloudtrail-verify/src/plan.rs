//! Sharded sweeps: a [`Plan`] splits a trail's range into shards by chain and time window,
//! balanced by the digests each holds, so that N processes of a job engine (a Kubernetes
//! Indexed Job, an AWS Batch array job) each verify one
//! ([`VerifierBuilder::shard`](crate::VerifierBuilder::shard)), and [`merge`] joins their
//! reports into the verdict a single run would give.
//!
//! A chain split in time leaves a seam: the older window's newest proven digest (its
//! [`ChainHead`]) must be what the newer window's oldest digest names
//! (`previousDigestS3Object`, `previousDigestHashValue`, `previousDigestSignature`), which
//! [`merge`] checks with the same rule as a checkpoint's join.

use crate::findings::{ChainHead, CheckpointCheck, CoverageGap, GapKind, Status};
use crate::layout::ChainId;
use crate::options::TimeRange;
use crate::report::{ChainReport, DigestReport, Report};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// `format` of every plan.
pub const PLAN_FORMAT: &str = "ctverify-plan";
/// The version of the plan format written by this crate.
pub const PLAN_VERSION: u32 = 1;

/// How a range is split among shards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Always [`PLAN_FORMAT`].
    pub format: String,
    /// [`PLAN_VERSION`].
    pub version: u32,
    /// The trail's ARN.
    pub trail: String,
    /// The bucket read.
    pub bucket: String,
    /// The trail's key prefix.
    pub prefix: Option<String>,
    /// Start of the range.
    pub from: DateTime<Utc>,
    /// End of the range.
    pub to: DateTime<Utc>,
    /// When the plan was made.
    pub created_at: DateTime<Utc>,
    /// The shards, by index.
    pub shards: Vec<Shard>,
}

/// One shard: the chains and windows one process verifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Its index, from 0.
    pub index: usize,
    /// Digests the listing found in its windows: what the split balanced.
    pub expected_digests: u64,
    /// The chains, each over a window (a chain appears at most once per shard).
    pub items: Vec<PlanItem>,
}

/// One chain over one window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanItem {
    /// The chain.
    #[serde(flatten)]
    pub chain: ChainId,
    /// Start of its window.
    pub from: DateTime<Utc>,
    /// End of its window.
    pub to: DateTime<Utc>,
    /// Digests the listing found in the window.
    pub expected_digests: u64,
}

/// A window of a chain: from, to.
type Window = (DateTime<Utc>, DateTime<Utc>);

/// Why a plan or a set of shard reports cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// Not a plan this version reads.
    #[error("not a ctverify plan: {0}")]
    Malformed(String),
    /// The reports do not make up the plan.
    #[error("the reports do not make up the plan: {0}")]
    Incomplete(String),
}

impl Plan {
    /// Splits `range` of `chains` into `shards` (at least 1) shards. Each chain comes with the
    /// end times of the digests its folder lists (one per hour: [`crate::Verifier::plan`] lists
    /// them). Chains are laid end to end in order and cut into runs of about equal digest
    /// counts; a cut inside a chain falls on a digest's end, so each window is whole hours of
    /// digests. A chain with no digest counts as one, so that it still lands in a shard.
    pub fn split(
        trail: impl Into<String>,
        bucket: impl Into<String>,
        prefix: Option<String>,
        range: TimeRange,
        chains: &[(ChainId, Vec<DateTime<Utc>>)],
        shards: usize,
    ) -> Plan {
        let shards = shards.max(1);
        // Each chain's cut points: the end of every digest strictly inside the range.
        let weights: Vec<(ChainId, Vec<DateTime<Utc>>)> = chains
            .iter()
            .map(|(chain, ends)| {
                let mut ends: Vec<_> = ends
                    .iter()
                    .copied()
                    .filter(|e| *e > range.start && *e <= range.end)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                if ends.is_empty() {
                    // Weighs one; its only cut is the range's end.
                    ends.push(range.end);
                }
                (chain.clone(), ends)
            })
            .collect();
        let total: u64 = weights.iter().map(|(_, e)| e.len() as u64).sum();
        let target = total.div_ceil(shards as u64).max(1);
        let mut out: Vec<Shard> = Vec::new();
        let mut current = Shard {
            index: 0,
            expected_digests: 0,
            items: Vec::new(),
        };
        for (chain, ends) in &weights {
            let mut from = range.start;
            let mut count = 0u64;
            for (i, end) in ends.iter().enumerate() {
                count += 1;
                let last = i + 1 == ends.len();
                let full = current.expected_digests + count >= target;
                if last || (full && out.len() + 1 < shards) {
                    let to = if last { range.end } else { *end };
                    current.items.push(PlanItem {
                        chain: chain.clone(),
                        from,
                        to,
                        expected_digests: count,
                    });
                    current.expected_digests += count;
                    from = to;
                    count = 0;
                    if full && out.len() + 1 < shards {
                        let index = out.len() + 1;
                        out.push(std::mem::replace(
                            &mut current,
                            Shard {
                                index,
                                expected_digests: 0,
                                items: Vec::new(),
                            },
                        ));
                    }
                }
            }
        }
        if !current.items.is_empty() || out.is_empty() {
            out.push(current);
        }
        Plan {
            format: PLAN_FORMAT.into(),
            version: PLAN_VERSION,
            trail: trail.into(),
            bucket: bucket.into(),
            prefix: prefix.filter(|p| !p.is_empty()),
            from: range.start,
            to: range.end,
            created_at: Utc::now(),
            shards: out,
        }
    }

    /// The plan as written: pretty JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// SHA-256 of [`Plan::to_json`], hex: the identity shard reports carry.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(self.to_json()))
    }

    /// Parses a plan, checking what the shards rely on: the windows of each chain tile the
    /// range exactly, and every shard's index is its position.
    ///
    /// # Errors
    /// [`PlanError::Malformed`].
    pub fn parse(bytes: &[u8]) -> Result<Plan, PlanError> {
        let plan: Plan =
            serde_json::from_slice(bytes).map_err(|e| PlanError::Malformed(e.to_string()))?;
        if plan.format != PLAN_FORMAT || plan.version != PLAN_VERSION {
            return Err(PlanError::Malformed(format!(
                "format {:?} version {} (this ctverify reads {PLAN_FORMAT:?} version {PLAN_VERSION})",
                plan.format, plan.version
            )));
        }
        TimeRange::new(plan.from, plan.to).map_err(|e| PlanError::Malformed(e.to_string()))?;
        for (i, shard) in plan.shards.iter().enumerate() {
            if shard.index != i {
                return Err(PlanError::Malformed(format!(
                    "shard {i} says it is shard {}",
                    shard.index
                )));
            }
        }
        for (chain, windows) in plan.windows() {
            let mut at = plan.from;
            for (from, to) in windows {
                if from != at || to <= from {
                    return Err(PlanError::Malformed(format!(
                        "the windows of chain {chain} do not tile {} to {}",
                        plan.from, plan.to
                    )));
                }
                at = to;
            }
            if at != plan.to {
                return Err(PlanError::Malformed(format!(
                    "the windows of chain {chain} stop at {at}, before {}",
                    plan.to
                )));
            }
        }
        Ok(plan)
    }

    /// Each chain's windows, in time order.
    fn windows(&self) -> BTreeMap<ChainId, Vec<Window>> {
        let mut windows: BTreeMap<ChainId, Vec<Window>> = BTreeMap::new();
        for item in self.shards.iter().flat_map(|s| &s.items) {
            windows
                .entry(item.chain.clone())
                .or_default()
                .push((item.from, item.to));
        }
        for w in windows.values_mut() {
            w.sort();
        }
        windows
    }
}

/// Joins the reports of every shard of `plan` into one report: the verdict and counts a single
/// run over the plan's range gives. Each shard must be there exactly once, made from this plan.
/// Per chain, the parts are joined in time: a digest read by two parts (the hour after a seam,
/// which the older part reads for log files delivered late) counts once, with the worse of the
/// two verdicts; gaps meeting at a seam become one; and each seam is checked: the newer part's
/// oldest digest must name the older part's head, hash and signature ([`ChainReport::seams`]).
///
/// # Errors
/// [`PlanError::Incomplete`] when a shard is missing, repeated or from another plan.
pub fn merge(plan: &Plan, reports: Vec<Report>) -> Result<Report, PlanError> {
    let identity = plan.sha256();
    let mut by_index: BTreeMap<usize, Report> = BTreeMap::new();
    for report in reports {
        let Some(shard) = &report.shard else {
            return Err(PlanError::Incomplete(
                "a report is not a shard's (made without --plan)".into(),
            ));
        };
        if shard.plan_sha256 != identity || shard.shards != plan.shards.len() {
            return Err(PlanError::Incomplete(format!(
                "the report of shard {} was made from another plan",
                shard.index
            )));
        }
        let index = shard.index;
        if by_index.insert(index, report).is_some() {
            return Err(PlanError::Incomplete(format!(
                "shard {index} is there twice"
            )));
        }
    }
    let missing: Vec<String> = (0..plan.shards.len())
        .filter(|i| !by_index.contains_key(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(PlanError::Incomplete(format!(
            "no report for shard {}",
            missing.join(", ")
        )));
    }
    let reports: Vec<Report> = by_index.into_values().collect();
    let first = &reports[0];
    let (trail, source, bucket) = (
        first.trail.clone(),
        first.source.clone(),
        first.bucket.clone(),
    );
    let mut parts: BTreeMap<ChainId, Vec<ChainReport>> = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut bundle_problems = Vec::new();
    let mut scope = first.scope;
    let mut versions = first.versions;
    for report in reports {
        for warning in report.warnings {
            if !warnings.contains(&warning) {
                warnings.push(warning);
            }
        }
        bundle_problems.extend(report.bundle_problems);
        // The weaker claim wins: chains found in the bucket, versions as first checked.
        if report.scope != crate::report::ChainScope::Known {
            scope = report.scope;
        }
        if report.versions != versions {
            versions = crate::report::VersionCheck::Unknown;
        }
        for chain in report.chains {
            parts.entry(chain.chain.clone()).or_default().push(chain);
        }
    }
    // Every planned chain must be reported by its shards.
    for chain in plan.windows().keys() {
        if !parts.contains_key(chain) {
            return Err(PlanError::Incomplete(format!("no report of chain {chain}")));
        }
    }
    let chains = parts.into_values().map(join_chain).collect();
    let mut merged = Report::new(trail, source, bucket, plan.from, plan.to, chains);
    merged.warnings = warnings;
    merged.scope = scope;
    merged.versions = versions;
    merged.add_bundle_problems(bundle_problems);
    Ok(merged)
}

/// One chain from its parts, oldest window first.
fn join_chain(mut parts: Vec<ChainReport>) -> ChainReport {
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
    for part in parts {
        if let Some(older) = &previous {
            joined.seams.push(judge_seam(older, &part));
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
        previous = Some(part);
    }
    // The head of the whole: the newest part's, when every older part is proven to its end
    // and every seam joined.
    let proven_through = joined.seams.iter().all(|s| s.status == Status::Valid);
    joined.head = previous.and_then(|p| p.head).filter(|_| proven_through);
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
    let kind = match (older.kind, newer.kind) {
        (o, GapKind::NoDigests) if o != GapKind::NoDigests => GapKind::AfterNewestDigest,
        (_, n) => n,
    };
    let seconds = (newer.end - older.start).num_seconds().max(0) as u64;
    CoverageGap {
        kind,
        start: older.start,
        end: newer.end,
        hours: seconds.div_ceil(3600),
        status: crate::trust::gap_status(kind),
        next_start: newer.next_start,
    }
}

/// The seam between an older part and the newer one: the older part's head must end at the
/// seam and be what the newer part's oldest digest names.
fn judge_seam(older: &ChainReport, newer: &ChainReport) -> CheckpointCheck {
    let at = newer.window.map(|w| w.0);
    let Some(head) = older.head.clone().filter(|h| Some(h.end_time) == at) else {
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
    use chrono::{TimeDelta, TimeZone};

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + TimeDelta::hours(h)
    }

    fn chain(region: &str) -> ChainId {
        ChainId {
            account_id: "111122223333".into(),
            region: region.into(),
        }
    }

    fn hourly(from: i64, to: i64) -> Vec<DateTime<Utc>> {
        (from + 1..=to + 1).map(t).collect()
    }

    fn split(chains: &[(ChainId, Vec<DateTime<Utc>>)], n: usize) -> Plan {
        let range = TimeRange::new(t(0), t(24)).unwrap();
        Plan::split("arn", "b", None, range, chains, n)
    }

    #[test]
    fn every_chains_windows_tile_the_range_and_the_shards_balance() {
        let chains = [
            (chain("eu-west-1"), hourly(0, 24)),
            (chain("us-east-1"), hourly(0, 24)),
            (chain("us-west-2"), hourly(12, 24)),
        ];
        for n in 1..=9 {
            let plan = split(&chains, n);
            assert!(plan.shards.len() <= n && !plan.shards.is_empty());
            // Written and read back, the plan passes its own checks (tiling included).
            let read = Plan::parse(&plan.to_json()).expect("a plan reads back");
            assert_eq!(read, plan);
            let counts: Vec<u64> = plan.shards.iter().map(|s| s.expected_digests).collect();
            let total: u64 = counts.iter().sum();
            assert_eq!(total, 24 + 24 + 12);
            let target = total.div_ceil(n as u64);
            assert!(counts.iter().all(|c| *c <= target), "{n}: {counts:?}");
        }
    }

    #[test]
    fn a_plan_whose_windows_leave_a_hole_is_refused() {
        let mut plan = split(&[(chain("us-east-1"), hourly(0, 24))], 3);
        plan.shards[1].items[0].from += TimeDelta::hours(1);
        assert!(Plan::parse(&plan.to_json()).is_err());
    }

    #[test]
    fn a_chain_without_digests_still_lands_in_a_shard() {
        let plan = split(&[(chain("us-east-1"), Vec::new())], 4);
        assert_eq!(plan.shards.len(), 1);
        assert_eq!(plan.shards[0].items[0].from, t(0));
        assert_eq!(plan.shards[0].items[0].to, t(24));
    }
}
