//! Verifying a trail over a time range: finding its chains, walking each, collecting the report.

use crate::keys::KeySet;
use crate::layout::{
    ChainId, ChainLayout, TrailArn, TrailLocation, is_account_id, is_org_id, is_region,
};
use crate::loghash::{DEFAULT_MAX_DIGEST_BYTES, DEFAULT_MAX_LOG_BYTES};
use crate::report::Report;
use crate::source::{ObjectSource, SourceError};
use crate::walk::{Context, walk_chain};
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// A time range, start not after end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Start (inclusive).
    pub start: DateTime<Utc>,
    /// End (inclusive).
    pub end: DateTime<Utc>,
}

impl TimeRange {
    /// A range; `None` when `start` is after `end`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Self> {
        (start <= end).then_some(TimeRange { start, end })
    }
}

/// Receives progress as log files are verified (for a progress bar). Called from worker
/// threads.
pub trait Progress: Send + Sync {
    /// A valid digest listed `count` more log files to check.
    fn logs_found(&self, count: u64) {
        let _ = count;
    }
    /// A log file was read to its end and hashed.
    fn log_verified(&self, compressed_bytes: u64, decompressed_bytes: u64);
}

/// How a run behaves.
#[derive(Clone)]
pub struct VerifyOptions {
    /// Log files read and hashed at once, across all chains.
    pub concurrency: usize,
    /// Cap on a log file's decompressed size; larger files are reported unverifiable.
    pub max_log_bytes: u64,
    /// Cap on a digest file's decompressed size.
    pub max_digest_bytes: u64,
    /// Keep an entry for every valid log file in the report. Off, valid log files are only
    /// counted, which keeps memory bounded over very long ranges.
    pub keep_valid_entries: bool,
    /// The current time, to tell a pending digest from a missing one.
    pub now: DateTime<Utc>,
    /// How long after its hour a digest may still be on its way.
    pub delivery_grace: TimeDelta,
    /// Look for log files in the covered hours that no digest lists (one listing per day and
    /// chain).
    pub check_unlisted_logs: bool,
    /// Progress receiver.
    pub progress: Option<Arc<dyn Progress>>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            concurrency: 64,
            max_log_bytes: DEFAULT_MAX_LOG_BYTES,
            max_digest_bytes: DEFAULT_MAX_DIGEST_BYTES,
            keep_valid_entries: true,
            now: Utc::now(),
            delivery_grace: TimeDelta::hours(1),
            check_unlisted_logs: true,
            progress: None,
        }
    }
}

impl std::fmt::Debug for VerifyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyOptions")
            .field("concurrency", &self.concurrency)
            .field("max_log_bytes", &self.max_log_bytes)
            .field("max_digest_bytes", &self.max_digest_bytes)
            .field("keep_valid_entries", &self.keep_valid_entries)
            .field("now", &self.now)
            .field("delivery_grace", &self.delivery_grace)
            .finish_non_exhaustive()
    }
}

/// Which trail to verify and where its files are.
#[derive(Debug, Clone)]
pub struct TrailTarget {
    /// The trail.
    pub arn: TrailArn,
    /// Bucket and key prefix. `org_id` `None` means: discover organization folders.
    pub location: TrailLocation,
    /// The trail's name as digest keys spell it (the ARN's name).
    pub trail_name: String,
    /// The trail's home region as digest keys spell it (the ARN's region).
    pub home_region: String,
    /// Only these accounts; `None` for every account found.
    pub accounts: Option<Vec<String>>,
    /// Only these source regions; `None` for every region found.
    pub regions: Option<Vec<String>>,
}

impl TrailTarget {
    /// A target for `arn` in `bucket`, every account and region.
    pub fn new(arn: TrailArn, bucket: impl Into<String>, prefix: Option<String>) -> Self {
        TrailTarget {
            trail_name: arn.name.clone(),
            home_region: arn.region.clone(),
            arn,
            location: TrailLocation {
                bucket: bucket.into(),
                prefix: prefix.filter(|p| !p.is_empty()),
                org_id: None,
            },
            accounts: None,
            regions: None,
        }
    }
}

/// Why a run could not happen at all (as opposed to files that did not verify).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The bucket's folders could not be listed to find the trail's chains.
    #[error("could not list s3://{bucket}/{prefix}: {source}")]
    Discovery {
        /// Bucket.
        bucket: String,
        /// Folder.
        prefix: String,
        /// Why.
        source: SourceError,
    },
}

/// Finds the chains (account, region) to verify, with the location each lives in.
pub async fn discover_chains(
    source: &dyn ObjectSource,
    target: &TrailTarget,
) -> Result<Vec<ChainLayout>, VerifyError> {
    let bucket = &target.location.bucket;
    let list = |prefix: String| async move {
        source
            .list_folders(bucket, &prefix)
            .await
            .map_err(|source| VerifyError::Discovery {
                bucket: bucket.clone(),
                prefix,
                source,
            })
    };
    // Account folders, under AWSLogs/ and, for organization trails, AWSLogs/o-.../.
    let mut locations = Vec::new();
    match &target.location.org_id {
        Some(_) => locations.push(target.location.clone()),
        None => {
            let base = target.location.accounts_folder();
            let top = list(base).await?;
            if top.iter().any(|f| is_account_id(f)) {
                locations.push(target.location.clone());
            }
            for org in top.iter().filter(|f| is_org_id(f)) {
                locations.push(TrailLocation {
                    org_id: Some(org.clone()),
                    ..target.location.clone()
                });
            }
        }
    }
    let mut chains = Vec::new();
    for location in locations {
        let accounts = list(location.accounts_folder()).await?;
        for account in accounts.into_iter().filter(|a| is_account_id(a)) {
            if target
                .accounts
                .as_ref()
                .is_some_and(|only| !only.contains(&account))
            {
                continue;
            }
            let folder = format!("{}{account}/CloudTrail-Digest/", location.accounts_folder());
            for region in list(folder).await?.into_iter().filter(|r| is_region(r)) {
                if target
                    .regions
                    .as_ref()
                    .is_some_and(|only| !only.contains(&region))
                {
                    continue;
                }
                chains.push(ChainLayout {
                    location: location.clone(),
                    chain: ChainId {
                        account_id: account.clone(),
                        region,
                    },
                    trail_name: target.trail_name.clone(),
                    home_region: target.home_region.clone(),
                });
            }
        }
    }
    chains.sort_by(|a, b| a.chain.cmp(&b.chain));
    Ok(chains)
}

/// Verifies every chain of `target` over `range`, reading through `source` and checking
/// signatures with `keys`.
///
/// Chains are walked in parallel and log files are hashed concurrently (bounded by
/// `options.concurrency`); the report's order does not depend on either.
pub async fn verify_trail(
    source: Arc<dyn ObjectSource>,
    keys: KeySet,
    target: &TrailTarget,
    range: TimeRange,
    options: VerifyOptions,
) -> Result<Report, VerifyError> {
    let chains = discover_chains(source.as_ref(), target).await?;
    Ok(verify_chains(source, keys, target, chains, range, options).await)
}

/// Verifies the given chains of `target` (as found by [`discover_chains`]) over `range`. Use it
/// when something must happen between discovery and the walk, such as fetching the public keys
/// of exactly the regions found.
pub async fn verify_chains(
    source: Arc<dyn ObjectSource>,
    keys: KeySet,
    target: &TrailTarget,
    chains: Vec<ChainLayout>,
    range: TimeRange,
    options: VerifyOptions,
) -> Report {
    let ctx = Arc::new(Context {
        log_limiter: Arc::new(Semaphore::new(options.concurrency.max(1))),
        source: source.clone(),
        keys: Arc::new(keys),
        options,
    });
    let tasks: Vec<_> = chains
        .into_iter()
        .map(|layout| {
            let chain = layout.chain.clone();
            (chain, tokio::spawn(walk_chain(ctx.clone(), layout, range)))
        })
        .collect();
    let mut reports = Vec::with_capacity(tasks.len());
    for (chain, task) in tasks {
        reports.push(task.await.unwrap_or_else(|e| {
            let mut failed = crate::report::ChainReport::new(chain);
            failed.error = Some(format!("chain walk failed: {e}"));
            failed
        }));
    }
    Report::new(
        target.arn.to_string(),
        source.describe(),
        target.location.bucket.clone(),
        range.start,
        range.end,
        reports,
    )
}
