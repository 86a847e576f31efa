//! Which chains a trail has: one per account and source region, found in the bucket's folders
//! and expected from what is known of the trail (its home region, the regions enabled for a
//! multi-region trail, the member accounts of an organization trail, the chains a run names),
//! so that a chain whose files were deleted whole is reported uncovered, not unmentioned.

use crate::layout::{
    ChainId, ChainLayout, TrailArn, TrailLocation, is_account_id, is_org_id, is_region,
};
use crate::source::{ObjectSource, SourceError};
use std::collections::BTreeSet;

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
    /// The regions the trail must have a chain in, besides its home region: for a multi-region
    /// trail, every region enabled for the account (Account `ListRegions`). `None` when unknown.
    pub expected_regions: Option<Vec<String>>,
    /// The accounts the trail must have chains for, besides its own: for an organization
    /// trail, every member account (Organizations `ListAccounts`). `None` when unknown.
    pub expected_accounts: Option<Vec<String>>,
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
            expected_regions: None,
            expected_accounts: None,
        }
    }
}

/// Why a run could not happen at all (as opposed to files that did not verify).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
        tracing::debug!(bucket, folder = %prefix, "listing folders");
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
    for location in &locations {
        let accounts = list(location.accounts_folder()).await?;
        for account in accounts.into_iter().filter(|a| is_account_id(a)) {
            if target
                .accounts
                .as_ref()
                .is_some_and(|only| !only.contains(&account))
            {
                continue;
            }
            // A region with log files but no digests is a chain too: its digests are missing.
            let mut regions = BTreeSet::new();
            for kind in ["CloudTrail-Digest", "CloudTrail"] {
                let folder = format!("{}{account}/{kind}/", location.accounts_folder());
                regions.extend(list(folder).await?.into_iter().filter(|r| is_region(r)));
            }
            for region in regions {
                if target
                    .regions
                    .as_ref()
                    .is_some_and(|only| !only.contains(&region))
                {
                    continue;
                }
                chains.push(chain_layout(target, location, &account, &region));
            }
        }
    }
    // Chains that must be there even when their folders are gone.
    let found: BTreeSet<ChainId> = chains.iter().map(|c| c.chain.clone()).collect();
    let home = locations
        .iter()
        .find(|l| l.org_id.is_some())
        .unwrap_or(&target.location)
        .clone();
    for chain in expected_chains(target, &found) {
        if !found.contains(&chain) {
            chains.push(chain_layout(
                target,
                &home,
                &chain.account_id,
                &chain.region,
            ));
        }
    }
    chains.sort_by(|a, b| a.chain.cmp(&b.chain));
    Ok(chains)
}

/// Adds a layout for each chain of `extra` that `chains` lacks (a chain a checkpoint state
/// knows must still be there, even if its folders are gone), in the trail's home location.
pub(crate) fn add_chains(
    target: &TrailTarget,
    chains: &mut Vec<ChainLayout>,
    extra: impl IntoIterator<Item = ChainId>,
) {
    let home = chains
        .iter()
        .find(|c| c.location.org_id.is_some())
        .map(|c| c.location.clone())
        .unwrap_or_else(|| target.location.clone());
    for chain in extra {
        if !chains.iter().any(|c| c.chain == chain) {
            chains.push(chain_layout(
                target,
                &home,
                &chain.account_id,
                &chain.region,
            ));
        }
    }
    chains.sort_by(|a, b| a.chain.cmp(&b.chain));
}

fn chain_layout(
    target: &TrailTarget,
    location: &TrailLocation,
    account: &str,
    region: &str,
) -> ChainLayout {
    ChainLayout {
        location: location.clone(),
        chain: ChainId {
            account_id: account.to_owned(),
            region: region.to_owned(),
        },
        trail_name: target.trail_name.clone(),
        home_region: target.home_region.clone(),
    }
}

/// The chains a run must find, whatever the bucket holds: the trail's home region in its own
/// account (CloudTrail delivers a digest there every hour, even with no activity), every region
/// and member account the trail is known to cover (`expected_regions`, `expected_accounts`),
/// and every account and region named to narrow the run. A chain whose folders were deleted
/// whole is then reported uncovered instead of going unmentioned.
pub fn expected_chains(target: &TrailTarget, found: &BTreeSet<ChainId>) -> BTreeSet<ChainId> {
    let owner = target.arn.account_id.clone();
    let mut accounts: BTreeSet<String> = match &target.accounts {
        Some(only) => only.iter().cloned().collect(),
        None => {
            let mut all: BTreeSet<String> =
                target.expected_accounts.iter().flatten().cloned().collect();
            all.insert(owner);
            all
        }
    };
    let regions: BTreeSet<String> = match &target.regions {
        Some(only) => {
            // Named regions are expected in every account found too.
            if target.accounts.is_none() {
                accounts.extend(found.iter().map(|c| c.account_id.clone()));
            }
            only.iter().cloned().collect()
        }
        None => {
            let mut all: BTreeSet<String> =
                target.expected_regions.iter().flatten().cloned().collect();
            all.insert(target.home_region.clone());
            all
        }
    };
    let mut expected = BTreeSet::new();
    for account in &accounts {
        for region in &regions {
            expected.insert(ChainId {
                account_id: account.clone(),
                region: region.clone(),
            });
        }
    }
    expected
}
