//! Sharded sweeps: a [`Plan`] splits a trail's range into shards by chain and time window,
//! balanced by the digests each holds, so that N processes of a job engine (a Kubernetes
//! Indexed Job, an AWS Batch array job) each verify one
//! ([`VerifierBuilder::shard`](crate::VerifierBuilder::shard)), and [`merge`] joins their
//! reports into the verdict a single run would give.
//!
//! A chain split in time leaves a seam: the older window's newest proven digest (its
//! [`ChainHead`](crate::ChainHead)) must be what the newer window's oldest digest names
//! (`previousDigestS3Object`, `previousDigestHashValue`, `previousDigestSignature`), which
//! [`merge`] checks with the same rule as a checkpoint's join.

use crate::document::DocumentHeader;
use crate::layout::{ChainId, TrailArn};
use crate::options::TimeRange;
use crate::report::{ChainReport, Report};
use crate::storage::Location;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// `format` of every plan.
pub const PLAN_FORMAT: &str = "ctverify-plan";
/// The version of the plan format written by this crate.
pub const PLAN_VERSION: u32 = 1;
/// Largest plan read, in bytes.
pub const MAX_PLAN_BYTES: u64 = 64 << 20;

/// How a range is split among shards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_FORMAT`] in [`PLAN_VERSION`], the trail, its bucket and its key prefix.
    #[serde(flatten)]
    pub header: DocumentHeader,
    /// Start of the range.
    pub from: DateTime<Utc>,
    /// End of the range.
    pub to: DateTime<Utc>,
    /// When the plan was made.
    pub created_at: DateTime<Utc>,
    /// The shards, by index.
    pub shards: Vec<Shard>,
    /// The local copy the plan was made from (`--local`), when it was not S3: a shard run
    /// without `--local` would read S3 instead, so it is refused with what to add.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<String>,
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
    /// A shard run does not fit its plan (another trail, a local copy's plan run against S3,
    /// no shard index): nothing was verified.
    #[error("{0}")]
    ShardRun(String),
}

/// The job engines' variables that carry an array job's index: Kubernetes Indexed Jobs
/// (<https://kubernetes.io/docs/concepts/workloads/controllers/job/#completion-mode>) and AWS
/// Batch array jobs (<https://docs.aws.amazon.com/batch/latest/userguide/array_jobs.html>).
pub const SHARD_INDEX_VARIABLES: [&str; 2] = ["JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"];

/// Where every shard of a sweep writes its report (`--out` with `--plan`): a file or
/// `s3://BUCKET/KEY` with `{}` where the shard's index goes. The index is required: shards run
/// the same command, and reports written under one name would overwrite each other, leaving
/// `merge` short of shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardReportName(String);

impl std::str::FromStr for ShardReportName {
    type Err = PlanError;

    fn from_str(text: &str) -> Result<Self, PlanError> {
        let bad = |why: String| PlanError::ShardRun(format!("--out {text:?} {why}"));
        if !text.contains(SHARD_INDEX_PLACEHOLDER) {
            return Err(bad(format!(
                "has no {SHARD_INDEX_PLACEHOLDER} for the shard's index: every shard would write                  the same report"
            )));
        }
        let name = ShardReportName(text.to_owned());
        name.for_shard(0).map_err(|e| bad(e.to_string()))?;
        Ok(name)
    }
}

/// What [`ShardReportName`] replaces with a shard's index.
pub const SHARD_INDEX_PLACEHOLDER: &str = "{}";

impl ShardReportName {
    /// Where shard `index` writes its report.
    ///
    /// # Errors
    /// [`PlanError::ShardRun`] when the name is no file or S3 location.
    pub fn for_shard(&self, index: usize) -> Result<Location, PlanError> {
        self.0
            .replace(SHARD_INDEX_PLACEHOLDER, &index.to_string())
            .parse()
            .map_err(|e| PlanError::ShardRun(format!("--out: {e}")))
    }
}

/// The shard a process verifies: `given` (`--shard`), else the index its job engine set in one
/// of [`SHARD_INDEX_VARIABLES`], as `lookup` (the environment) returns it.
///
/// # Errors
/// [`PlanError::ShardRun`]: no index anywhere, or a variable that is not a number.
pub fn shard_index(
    given: Option<usize>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<usize, PlanError> {
    if let Some(index) = given {
        return Ok(index);
    }
    for var in SHARD_INDEX_VARIABLES {
        if let Some(value) = lookup(var) {
            return value
                .trim()
                .parse()
                .map_err(|_| PlanError::ShardRun(format!("{var}={value:?} is not a shard index")));
        }
    }
    Err(PlanError::ShardRun(format!(
        "--plan needs --shard K (or {} set by the job engine)",
        SHARD_INDEX_VARIABLES.join(" / ")
    )))
}

impl Plan {
    /// Splits `range` of `chains` into `shards` (at least 1) shards. Each chain comes with the
    /// end times of the digests its folder lists (one per hour: [`crate::Verifier::plan`] lists
    /// them). Chains are laid end to end in order and cut into runs of about equal digest
    /// counts; a cut inside a chain falls on a digest's end, so each window is whole hours of
    /// digests. A chain with no digest counts as one, so that it still lands in a shard.
    pub fn split(
        trail: TrailArn,
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
                    .filter(|e| *e > range.start() && *e <= range.end())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                if ends.is_empty() {
                    // Weighs one; its only cut is the range's end.
                    ends.push(range.end());
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
            let mut from = range.start();
            let mut count = 0u64;
            for (i, end) in ends.iter().enumerate() {
                count += 1;
                let last = i + 1 == ends.len();
                let full = current.expected_digests + count >= target;
                if last || (full && out.len() + 1 < shards) {
                    let to = if last { range.end() } else { *end };
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
            header: DocumentHeader::new(PLAN_FORMAT, PLAN_VERSION, trail, bucket, prefix),
            from: range.start(),
            to: range.end(),
            created_at: Utc::now(),
            shards: out,
            local: None,
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
        plan.header
            .check(PLAN_FORMAT, PLAN_VERSION)
            .map_err(PlanError::Malformed)?;
        TimeRange::new(plan.from, plan.to).map_err(|e| PlanError::Malformed(e.to_string()))?;
        if plan.shards.is_empty() {
            return Err(PlanError::Malformed("it has no shard".into()));
        }
        for item in plan.shards.iter().flat_map(|s| &s.items) {
            if !crate::layout::is_account_id(&item.chain.account_id)
                || !crate::layout::is_region(&item.chain.region)
            {
                return Err(PlanError::Malformed(format!("bad chain {}", item.chain)));
            }
        }
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

    /// The trail a shard of this plan verifies, checked against what the shard run was given:
    /// a `trail` given must be the plan's, and a plan made from a local copy is run on a local
    /// copy (`local_given`), refused at once rather than after an attempt to reach AWS.
    ///
    /// # Errors
    /// [`PlanError::ShardRun`].
    pub fn shard_trail(
        &self,
        trail: Option<&TrailArn>,
        local_given: bool,
    ) -> Result<TrailArn, PlanError> {
        let arn = self.header.trail.clone();
        if let Some(given) = trail
            && given != &arn
        {
            return Err(PlanError::ShardRun(format!(
                "--trail {given} is not the plan's trail {arn}"
            )));
        }
        if let (Some(dir), false) = (&self.local, local_given) {
            return Err(PlanError::ShardRun(format!(
                "the plan was made from the local copy {dir}: add --local {dir} (or where the \
                 copy is on this machine) and --public-keys FILE"
            )));
        }
        Ok(arn)
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
        if index >= plan.shards.len() {
            return Err(PlanError::Incomplete(format!(
                "a report says it is shard {index} of a plan with {} shards",
                plan.shards.len()
            )));
        }
        if report.trail != plan.header.trail || report.bucket != plan.header.bucket {
            return Err(PlanError::Incomplete(format!(
                "the report of shard {index} is of trail {} in bucket {}, the plan's of {} in {}",
                report.trail, report.bucket, plan.header.trail, plan.header.bucket
            )));
        }
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
    let mut keys_from_the_copy = false;
    for report in reports {
        keys_from_the_copy |= report.keys_from_the_copy;
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
    // Every planned chain must be reported by its shards, window by window as planned; a
    // chain the plan does not name (the first shard found it), over the whole range.
    let planned = plan.windows();
    for chain in planned.keys() {
        if !parts.contains_key(chain) {
            return Err(PlanError::Incomplete(format!("no report of chain {chain}")));
        }
    }
    for (chain, chain_parts) in &parts {
        let mut windows: Vec<Window> = chain_parts.iter().filter_map(|p| p.window).collect();
        windows.sort();
        let wanted = planned
            .get(chain)
            .cloned()
            .unwrap_or_else(|| vec![(plan.from, plan.to)]);
        if windows.len() != chain_parts.len() || windows != wanted {
            return Err(PlanError::Incomplete(format!(
                "the reports of chain {chain} do not cover the windows the plan gives it"
            )));
        }
    }
    let chains = parts.into_values().map(crate::join::join_chain).collect();
    let mut merged = Report::new(trail, source, bucket, plan.from, plan.to, chains);
    merged.warnings = warnings;
    merged.scope = scope;
    merged.versions = versions;
    merged.add_bundle_problems(bundle_problems);
    // A shard proved with keys from the copy proves no more merged: the cap is a fact of the
    // report, and the merged report's verdict applies it.
    if keys_from_the_copy {
        merged.set_keys_from_the_copy();
    }
    Ok(merged)
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
        let arn = "arn:aws:cloudtrail:us-east-1:111122223333:trail/main"
            .parse()
            .unwrap();
        Plan::split(arn, "b", None, range, chains, n)
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
    fn a_plan_without_shards_or_with_a_bad_chain_is_refused() {
        let mut plan = split(&[(chain("us-east-1"), hourly(0, 24))], 2);
        plan.shards.clear();
        assert!(Plan::parse(&plan.to_json()).is_err());
        let mut plan = split(&[(chain("us-east-1"), hourly(0, 24))], 1);
        plan.shards[0].items[0].chain.region = "../../etc".into();
        assert!(Plan::parse(&plan.to_json()).is_err());
    }

    #[test]
    fn a_chain_without_digests_still_lands_in_a_shard() {
        let plan = split(&[(chain("us-east-1"), Vec::new())], 4);
        assert_eq!(plan.shards.len(), 1);
        assert_eq!(plan.shards[0].items[0].from, t(0));
        assert_eq!(plan.shards[0].items[0].to, t(24));
    }

    #[test]
    fn a_shard_index_comes_from_the_flag_then_the_job_engine_and_nothing_else() {
        let none = |_: &str| None;
        assert_eq!(shard_index(Some(2), |_| Some("7".into())).unwrap(), 2);
        assert_eq!(
            shard_index(None, |v| (v == "AWS_BATCH_JOB_ARRAY_INDEX")
                .then(|| " 3\n".into()))
            .unwrap(),
            3
        );
        assert!(matches!(
            shard_index(None, none),
            Err(PlanError::ShardRun(_))
        ));
        assert!(matches!(
            shard_index(None, |_| Some("-1".into())),
            Err(PlanError::ShardRun(_))
        ));
    }

    #[test]
    fn a_shard_run_of_another_trail_or_of_a_local_plan_against_s3_is_refused() {
        let arn: TrailArn = "arn:aws:cloudtrail:us-east-1:111122223333:trail/main"
            .parse()
            .unwrap();
        let other: TrailArn = "arn:aws:cloudtrail:us-east-1:111122223333:trail/other"
            .parse()
            .unwrap();
        let range = TimeRange::new(t(0), t(24)).unwrap();
        let mut plan = Plan::split(
            arn.clone(),
            "b",
            None,
            range,
            &[(chain("us-east-1"), hourly(0, 24))],
            2,
        );
        assert_eq!(plan.shard_trail(None, false).unwrap(), arn);
        assert_eq!(plan.shard_trail(Some(&arn), false).unwrap(), arn);
        assert!(matches!(
            plan.shard_trail(Some(&other), false),
            Err(PlanError::ShardRun(_))
        ));
        plan.local = Some("copy".into());
        assert!(matches!(
            plan.shard_trail(None, false),
            Err(PlanError::ShardRun(_))
        ));
        assert_eq!(plan.shard_trail(None, true).unwrap(), arn);
        // A plan naming no trail ARN is not a plan.
        let text = String::from_utf8(plan.to_json()).unwrap();
        let tampered = text.replace(&arn.to_string(), "not an arn");
        assert!(matches!(
            Plan::parse(tampered.as_bytes()),
            Err(PlanError::Malformed(_))
        ));
    }

    #[test]
    fn a_shard_report_name_needs_the_index_and_gives_each_shard_its_own() {
        let name: ShardReportName = "s3://audit/reports/shard-{}.json".parse().unwrap();
        assert_eq!(
            name.for_shard(7).unwrap(),
            Location::S3 {
                bucket: "audit".into(),
                key: "reports/shard-7.json".into()
            }
        );
        assert_ne!(name.for_shard(1).unwrap(), name.for_shard(2).unwrap());
        for bad in [
            "s3://audit/report.json",
            "report.json",
            "s3:///k-{}",
            "s3://b-{}",
        ] {
            assert!(
                matches!(bad.parse::<ShardReportName>(), Err(PlanError::ShardRun(_))),
                "{bad}"
            );
        }
    }
}
