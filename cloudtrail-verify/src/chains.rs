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

/// Folder listings in flight at once while chains are found: an organization trail has
/// thousands of account folders, each listed twice.
const LISTINGS_AT_ONCE: usize = 16;

/// Accounts whose chain folders are listed before the bucket's account folders are known
/// (guessed: the trail's own account, or those a run names), so that a trail of one account is
/// found in one round trip instead of three. A guess the listing does not confirm is dropped.
const GUESSED_ACCOUNTS: usize = 4;

/// What finding the chains saw.
pub(crate) struct Discovery {
    /// The chains found and expected, sorted.
    pub chains: Vec<ChainLayout>,
    /// The folders of the target's accounts folder (`[PREFIX/]AWSLogs/`), when it was listed
    /// (the target's organization was not given): a run that finds nothing says what is there.
    pub accounts_folder: Option<Vec<String>>,
}

/// Finds the chains (account, region) to verify, with the location each lives in, and what
/// the accounts folder held. The listings that do not depend
/// on each other run at once: an account's digest and log folders, every account's, and the
/// guessed accounts' beside the accounts folder itself. What is found is exactly what listing
/// one folder after the other finds.
pub(crate) async fn discover(
    source: &dyn ObjectSource,
    target: &TrailTarget,
) -> Result<Discovery, VerifyError> {
    use futures::StreamExt as _;
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
    // A region with log files but no digests is a chain too: its digests are missing.
    let regions_of = |accounts_folder: String, account: String| async move {
        let (digests, logs) = futures::future::join(
            list(format!("{accounts_folder}{account}/CloudTrail-Digest/")),
            list(format!("{accounts_folder}{account}/CloudTrail/")),
        )
        .await;
        let mut regions = BTreeSet::new();
        regions.extend(digests?.into_iter().filter(|r| is_region(r)));
        regions.extend(logs?.into_iter().filter(|r| is_region(r)));
        Ok::<_, VerifyError>(regions)
    };
    let wanted = |account: &String| {
        target
            .accounts
            .as_ref()
            .is_none_or(|only| only.contains(account))
    };
    // Account folders, under AWSLogs/ and, for organization trails, AWSLogs/o-.../: each
    // location with the accounts its folder holds.
    let mut located: Vec<(TrailLocation, Vec<String>)> = Vec::new();
    let mut guessed: Vec<(String, Result<BTreeSet<String>, VerifyError>)> = Vec::new();
    let mut accounts_folder = None;
    match &target.location.org_id {
        Some(_) => {
            let accounts = list(target.location.accounts_folder()).await?;
            located.push((target.location.clone(), accounts));
        }
        None => {
            let base = target.location.accounts_folder();
            let guesses: Vec<String> = match &target.accounts {
                Some(only) => only.iter().take(GUESSED_ACCOUNTS).cloned().collect(),
                None => vec![target.arn.account_id.clone()],
            };
            let (top, found) = futures::future::join(
                list(base.clone()),
                futures::future::join_all(
                    guesses
                        .iter()
                        .filter(|a| is_account_id(a))
                        .map(|a| regions_of(base.clone(), a.clone())),
                ),
            )
            .await;
            let top = top?;
            guessed = guesses.into_iter().zip(found).collect();
            // The accounts folder of the trail's own location is the folder just listed.
            if top.iter().any(|f| is_account_id(f)) {
                located.push((target.location.clone(), top.clone()));
            }
            let orgs: Vec<TrailLocation> = top
                .iter()
                .filter(|f| is_org_id(f))
                .map(|org| TrailLocation {
                    org_id: Some(org.clone()),
                    ..target.location.clone()
                })
                .collect();
            let org_accounts: Vec<Result<Vec<String>, VerifyError>> =
                futures::stream::iter(orgs.iter().map(|l| list(l.accounts_folder())))
                    .buffered(LISTINGS_AT_ONCE)
                    .collect()
                    .await;
            for (location, accounts) in orgs.into_iter().zip(org_accounts) {
                located.push((location, accounts?));
            }
            accounts_folder = Some(top);
        }
    }
    // Every account's chain folders, in the order found; a guess made for the trail's own
    // location stands for its listing (a failed guess is listed again).
    let own = target.location.clone();
    let pairs: Vec<(&TrailLocation, String)> = located
        .iter()
        .flat_map(|(location, accounts)| {
            accounts
                .iter()
                .filter(|a| is_account_id(a) && wanted(a))
                .map(move |a| (location, a.clone()))
        })
        .collect();
    let mut guessed: std::collections::BTreeMap<String, BTreeSet<String>> = guessed
        .into_iter()
        .filter_map(|(account, found)| found.ok().map(|regions| (account, regions)))
        .collect();
    let mut known: Vec<Option<BTreeSet<String>>> = pairs
        .iter()
        .map(|(location, account)| {
            if **location == own {
                guessed.remove(account)
            } else {
                None
            }
        })
        .collect();
    let listed: Vec<Result<BTreeSet<String>, VerifyError>> =
        futures::stream::iter(pairs.iter().zip(known.iter_mut()).map(
            |((location, account), known)| {
                let known = known.take();
                let listing = regions_of(location.accounts_folder(), account.clone());
                async move {
                    match known {
                        Some(regions) => Ok(regions),
                        None => listing.await,
                    }
                }
            },
        ))
        .buffered(LISTINGS_AT_ONCE)
        .collect()
        .await;
    let mut chains = Vec::new();
    for ((location, account), regions) in pairs.iter().zip(listed) {
        for region in regions? {
            if target
                .regions
                .as_ref()
                .is_some_and(|only| !only.contains(&region))
            {
                continue;
            }
            chains.push(chain_layout(target, location, account, &region));
        }
    }
    // Chains that must be there even when their folders are gone.
    let found: BTreeSet<ChainId> = chains.iter().map(|c| c.chain.clone()).collect();
    let home = located
        .iter()
        .map(|(location, _)| location)
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
    Ok(Discovery {
        chains,
        accounts_folder,
    })
}

/// The chain a trail almost always has, known before any folder is listed: the trail's own
/// account in its home region, in the trail's location, unless the run is limited to other
/// accounts or regions. A guess, for asking its first listing ahead: discovery decides.
// Used by the S3 origin only (and the tests).
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub(crate) fn likely_chain(target: &TrailTarget) -> Option<ChainLayout> {
    let account = &target.arn.account_id;
    let region = &target.home_region;
    let excluded = |only: &Option<Vec<String>>, what: &String| {
        only.as_ref().is_some_and(|only| !only.contains(what))
    };
    if excluded(&target.accounts, account) || excluded(&target.regions, region) {
        return None;
    }
    Some(chain_layout(target, &target.location, account, region))
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
