//! One entry point from a trail to a report: [`Verifier`] resolves everything a run needs (the
//! trail's bucket and prefix, the bucket's region, the chains that must exist, CloudTrail's
//! public keys per region and time window, retries and timeouts), then walks the chains.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use cloudtrail_verify::{TimeRange, Verifier};
//! let conf = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
//! let arn = "arn:aws:cloudtrail:us-east-1:111122223333:trail/main".parse()?;
//! let range = TimeRange::new("2026-01-01T00:00:00Z".parse()?, "2026-01-02T00:00:00Z".parse()?)?;
//! let report = Verifier::from_s3(&conf, arn, range).verify().await?;
//! println!("{}", report.status);
//! # Ok(()) }
//! ```
//!
//! The key window is trust policy, not plumbing: a digest signed with a key outside the fetched
//! window would be "unknown key", so the window is the range plus the time CloudTrail may take
//! to sign the range's last digest. That is why it lives here and not in each embedder.

use crate::events::RunObserver;
use crate::keys::KeySet;
use crate::layout::{ChainLayout, TrailArn};
use crate::options::{TimeRange, VerifyOptions};
use crate::report::{ChainScope, Report};
use crate::setup::RunProvenance;
pub use crate::setup::SetupError;
use crate::source::{LocalDirectory, ObjectSource};
use crate::state::State;
use crate::verify::{TrailTarget, VerifyError, Windows};
use std::path::PathBuf;
use std::sync::Arc;

/// Log files read at once against S3 unless told otherwise: enough to hide a region's round
/// trip, where a run is bound by latency rather than CPU.
#[cfg(feature = "aws")]
const S3_CONCURRENCY: usize = 128;

/// Where the trail's files and keys come from.
enum Origin {
    /// The trail's bucket in S3, with keys from ListPublicKeys.
    #[cfg(feature = "aws")]
    S3(Box<aws_config::SdkConfig>),
    /// A local copy (`DIR/BUCKET/KEY`) with keys saved beforehand.
    Local {
        /// The directory holding one folder per bucket.
        dir: PathBuf,
        /// The public keys.
        keys: KeySet,
    },
    /// Any object source with keys at hand: another transport, or a test's.
    Source {
        /// The source.
        source: Arc<dyn ObjectSource>,
        /// The public keys.
        keys: KeySet,
    },
}

/// What opening a run's origin gives: where objects are read, the keys the origin carries
/// (`None`: ListPublicKeys), where the trail writes, and what a local bundle showed.
struct Opened {
    source: Arc<dyn ObjectSource>,
    keys: Option<KeySet>,
    target: TrailTarget,
    default_concurrency: usize,
    history: Option<Arc<dyn crate::history::EventHistory>>,
    bundle_problems: Vec<crate::findings::BundleProblem>,
    /// An S3 bucket's region, still being asked for while the chains are found.
    #[cfg(feature = "aws")]
    bucket_region: Option<crate::resolve::BucketRegion>,
}

/// Builds a [`Verifier`]: start from [`Verifier::from_s3`], [`Verifier::from_local`] or
/// [`Verifier::from_source`], narrow the run if needed, then [`prepare`](Self::prepare) (to see
/// the chains and warnings before walking) or [`verify`](Self::verify) (all at once).
pub struct VerifierBuilder {
    arn: TrailArn,
    range: TimeRange,
    origin: Origin,
    bucket: Option<String>,
    prefix: Option<String>,
    accounts: Vec<String>,
    regions: Vec<String>,
    options: VerifyOptions,
    concurrency: Option<usize>,
    pinned_keys: Option<KeySet>,
    notes: Vec<String>,
    keys_in_copy: bool,
    keys_source: Option<crate::keys::KeysSource>,
    windows: Windows,
    shard: Option<crate::report::ShardOf>,
    exceptions: Option<crate::exceptions::Exceptions>,
    kept_state: Option<crate::state::KeptState>,
    /// What in the AWS session changes whom ListPublicKeys' answer comes from
    /// ([`crate::session_trust`]): reported unless keys are pinned.
    session_warnings: Vec<String>,
    /// What the report calls the source, when not its own description.
    source_name: Option<String>,
}

impl std::fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("arn", &self.arn)
            .field("range", &self.range)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("accounts", &self.accounts)
            .field("regions", &self.regions)
            .finish_non_exhaustive()
    }
}

impl VerifierBuilder {
    fn new(arn: TrailArn, range: TimeRange, origin: Origin) -> Self {
        VerifierBuilder {
            arn,
            range,
            origin,
            bucket: None,
            prefix: None,
            accounts: Vec::new(),
            regions: Vec::new(),
            options: VerifyOptions::default(),
            concurrency: None,
            pinned_keys: None,
            notes: Vec::new(),
            keys_in_copy: false,
            keys_source: None,
            windows: Windows::default(),
            shard: None,
            exceptions: None,
            kept_state: None,
            session_warnings: Vec::new(),
            source_name: None,
        }
    }

    /// Verifies one shard of a plan ([`crate::plan`]): only the shard's chains, each over its
    /// own window, and the report says which shard of which plan it is.
    pub fn shard(mut self, plan: &crate::plan::Plan, index: usize) -> Result<Self, SetupError> {
        let shard = plan.shards.get(index).ok_or(SetupError::NoSuchShard {
            index,
            shards: plan.shards.len(),
        })?;
        // Each window reports the digests ending in it; the chain's first window also the one
        // ending at the range's start, its last those delivered in the hour after the range,
        // as a single run over the plan's range does.
        self.windows.windows = shard
            .items
            .iter()
            .map(|item| {
                let window = TimeRange::window(item.from, item.to);
                let owns = crate::walk::Ownership {
                    after: (item.from != plan.from).then_some(item.from),
                    until: (item.to != plan.to).then_some(item.to),
                };
                (item.chain.clone(), (window, owns))
            })
            .collect();
        self.windows.planned = plan
            .shards
            .iter()
            .flat_map(|s| &s.items)
            .map(|item| item.chain.clone())
            .collect();
        self.shard = Some(crate::report::ShardOf {
            plan_sha256: plan.sha256(),
            index,
            shards: plan.shards.len(),
        });
        Ok(self)
    }

    /// Resumes each chain from its checkpoint in `state` (see [`crate::state`]): the chain is
    /// verified from the checkpoint's end to the range's end, the checkpoint digest is read
    /// again and must be unchanged, and the oldest new digest must name it. Chains without a
    /// checkpoint cover the whole range; a chain with one is expected even if its folders are
    /// gone. Give the state's place with [`state`](Self::state) too, so that
    /// [`prepare`](Self::prepare) checks the state may be used for this trail.
    pub fn resume_from(mut self, state: &State) -> Self {
        self.windows.checkpoints = state.checkpoints();
        self.windows.open_gaps = state.open_gaps();
        self
    }

    /// The run keeps its checkpoint state as `kept` says (`--state`): before reading anything
    /// of the trail, [`prepare`](Self::prepare) applies [`crate::state::check_use`] once the
    /// trail's bucket is known (a state of another trail, or one kept in the trail's own bucket
    /// without `allow_in_trail_bucket`, ends the run), and reports its warnings.
    pub fn state(mut self, kept: crate::state::KeptState) -> Self {
        self.kept_state = Some(kept);
        self
    }

    /// What the report calls the files' source, instead of the source's own description: an
    /// archive the caller unpacked into a private folder is named as the reader knows it, not by
    /// a temporary path that is gone after the run.
    pub fn described_as(mut self, name: impl Into<String>) -> Self {
        self.source_name = Some(name.into());
        self
    }

    /// Reviewed exceptions (`--exceptions`): an unverifiable coverage gap lying wholly inside an
    /// entry for its chain, before the entry expires, is accepted (valid, naming the entry);
    /// nothing invalid ever is. The file's SHA-256 goes into the report's provenance.
    pub fn exceptions(mut self, exceptions: crate::exceptions::Exceptions) -> Self {
        self.exceptions = Some(exceptions);
        self
    }

    /// Where the keys given to [`Verifier::from_local`], [`Verifier::from_source`] or
    /// [`VerifierBuilder::public_keys`] came from (a key file, a bundle's `public-keys.json`),
    /// for the report's provenance; without it they are [`KeysSource::Unnamed`](crate::KeysSource::Unnamed).
    pub fn keys_source(mut self, source: crate::keys::KeysSource) -> Self {
        self.keys_source = Some(source);
        self
    }

    /// The trail's bucket. From S3, default: the bucket DescribeTrails names (giving it skips
    /// DescribeTrails, and with it the list of regions and accounts the trail must cover).
    /// From a local copy, default: the only bucket folder in the directory.
    pub fn bucket(mut self, bucket: impl Into<String>) -> Self {
        self.bucket = Some(bucket.into());
        self
    }

    /// The trail's S3 key prefix. From S3, default: the prefix DescribeTrails names.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Verifies only these accounts (for an organization trail, member accounts). Each is
    /// expected: one without any file is reported uncovered.
    pub fn accounts(mut self, accounts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.accounts = accounts.into_iter().map(Into::into).collect();
        self
    }

    /// Verifies only these source regions (the regions whose events a chain holds). Each is
    /// expected: one without any file is reported uncovered.
    pub fn regions(mut self, regions: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.regions = regions.into_iter().map(Into::into).collect();
        self
    }

    /// Options of the walk (limits, progress, what the report keeps). Their `concurrency` is
    /// replaced by the source's default unless [`concurrency`](Self::concurrency) is set.
    pub fn options(mut self, options: VerifyOptions) -> Self {
        self.options = options;
        self
    }

    /// From S3, checks signatures with these keys instead of asking ListPublicKeys: keys saved
    /// beforehand from a trusted place are then the only ones trusted, whoever answers at the
    /// session's endpoint. (A local copy always takes its keys this way.)
    pub fn public_keys(mut self, keys: KeySet) -> Self {
        self.pinned_keys = Some(keys);
        self
    }

    /// Says the keys were read from inside the copy being verified (an evidence bundle's own
    /// `public-keys.json`). Whoever can write the copy can replace them with keys of their own
    /// and re-sign every digest, so nothing outside the copy vouches for the result: such a run
    /// is at best unverifiable, never valid.
    pub fn keys_from_the_copy(mut self) -> Self {
        self.keys_in_copy = true;
        self
    }

    /// Adds a line to the report's `warnings`: something the caller assumed or configured that
    /// the reader of the report should know.
    pub fn warning(mut self, text: impl Into<String>) -> Self {
        self.notes.push(text.into());
        self
    }

    /// Log files read and hashed at once. Default: 128 from S3, twice the
    /// number of CPUs otherwise (where a run is bound by CPU and more only costs memory).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = Some(concurrency.max(1));
        self
    }

    /// Resolves everything the run needs, in the order a careful person would: the arguments,
    /// then the trail and its bucket, then the chains found in the bucket, then the public keys
    /// of exactly the chains' regions (so a run that cannot check signatures fails before any
    /// digest is read).
    ///
    /// # Errors
    /// [`SetupError`] when the run cannot start: bad arguments, an unreadable local copy, a
    /// failed AWS call, a bucket that cannot be listed.
    pub async fn prepare(self) -> Result<Verifier, SetupError> {
        let started_at = chrono::Utc::now();
        // One bound on every AWS call before the walk, whatever their number.
        #[cfg(feature = "aws")]
        let setup_deadline = tokio::time::Instant::now() + crate::aws::SETUP_TIMEOUT;
        if let Some(bad) = self
            .accounts
            .iter()
            .find(|a| !crate::layout::is_account_id(a))
        {
            return Err(SetupError::BadAccountId(bad.clone()));
        }
        if let Some(bad) = self.regions.iter().find(|r| !crate::layout::is_region(r)) {
            return Err(SetupError::BadRegion(bad.clone()));
        }
        let mut warnings = Vec::new();
        let mut provenance = RunProvenance {
            started_at,
            caller: None,
            caller_note: None,
            endpoints: std::collections::BTreeMap::new(),
            keys_source: self
                .keys_source
                .clone()
                .unwrap_or(crate::keys::KeysSource::Unnamed),
            keys_fetched_at: None,
        };
        let opened = match &self.origin {
            #[cfg(feature = "aws")]
            Origin::S3(conf) => {
                self.open_s3(conf, setup_deadline, &mut warnings, &mut provenance)
                    .await?
            }
            Origin::Local { dir, keys } => {
                self.open_local(dir, keys, &mut warnings, &mut provenance)
                    .await?
            }
            Origin::Source { source, keys } => self.open_source(source, keys, &mut provenance)?,
        };
        let Opened {
            source,
            keys,
            mut target,
            default_concurrency,
            history,
            bundle_problems,
            #[cfg(feature = "aws")]
            bucket_region,
        } = opened;
        if !self.accounts.is_empty() {
            target.accounts = Some(self.accounts.clone());
        }
        if !self.regions.is_empty() {
            target.regions = Some(self.regions.clone());
        }
        // The state's rules come first: nothing of the trail is read for a run whose state
        // may not be used.
        if let Some(kept) = &self.kept_state {
            warnings.extend(crate::state::check_use(
                kept,
                &target.arn,
                &target.location.bucket,
                target.location.prefix.as_deref(),
            )?);
        }
        if target.expected_regions.is_none() && target.regions.is_none() {
            warnings.push(crate::messages::SCOPE_FOUND_IN_BUCKET.into());
        }
        // The home region's keys are asked beside the chains' discovery when they will be
        // fetched at all (an S3 run without pinned keys, not limited to other regions).
        #[cfg(feature = "aws")]
        let keys_ahead = match (&self.origin, &keys, &self.pinned_keys) {
            (Origin::S3(conf), None, None)
                if target
                    .regions
                    .as_ref()
                    .is_none_or(|only| only.contains(&self.arn.region)) =>
            {
                Some(crate::resolve::keys_ahead(conf, &self.arn, self.range))
            }
            _ => None,
        };
        #[cfg(feature = "aws")]
        let (source, discovery) = match bucket_region {
            Some(region) => tokio::time::timeout_at(
                setup_deadline,
                discover_beside_region(
                    self.ask_ahead(source, &target),
                    &target,
                    region,
                    &mut provenance,
                ),
            )
            .await
            .map_err(|_| SetupError::TimedOut {
                during: "finding the bucket's region (GetBucketLocation) and the chains",
                after: crate::aws::SETUP_TIMEOUT,
            })??,
            None => {
                let discovery = crate::chains::discover(source.as_ref(), &target).await?;
                (source, discovery)
            }
        };
        #[cfg(not(feature = "aws"))]
        let discovery = crate::chains::discover(source.as_ref(), &target).await?;
        let crate::chains::Discovery {
            mut chains,
            accounts_folder,
        } = discovery;
        crate::chains::add_chains(
            &target,
            &mut chains,
            self.windows
                .checkpoints
                .keys()
                .chain(self.windows.windows.keys())
                .cloned(),
        );
        if !self.windows.windows.is_empty() {
            // A shard walks its own chains only; the first shard also every chain the bucket
            // holds that the plan does not (one that appeared, or was planted, after the plan
            // was made), over the whole range, as a single run would find it.
            let first = self.shard.as_ref().is_some_and(|s| s.index == 0);
            chains.retain(|c| {
                self.windows.windows.contains_key(&c.chain)
                    || (first && !self.windows.planned.contains(&c.chain))
            });
        }
        warnings.extend(
            where_the_files_are(source.as_ref(), &target, &self.accounts, accounts_folder).await,
        );
        tracing::debug!(
            bucket = %target.location.bucket,
            prefix = target.location.prefix.as_deref().unwrap_or(""),
            chains = ?chains.iter().map(|c| c.chain.to_string()).collect::<Vec<_>>(),
            "chains found"
        );
        let keys_pinned = self.pinned_keys.is_some();
        let keys = match (keys.or(self.pinned_keys), &self.origin) {
            (Some(keys), _) => keys,
            #[cfg(feature = "aws")]
            (None, Origin::S3(conf)) => {
                let keys = tokio::time::timeout_at(
                    setup_deadline,
                    crate::resolve::public_keys(
                        conf,
                        &self.arn,
                        &chains,
                        self.range,
                        keys_ahead,
                        &mut warnings,
                    ),
                )
                .await
                .map_err(|_| SetupError::TimedOut {
                    during: "fetching CloudTrail's public keys (ListPublicKeys)",
                    after: crate::aws::SETUP_TIMEOUT,
                })??;
                provenance.keys_fetched_at = Some(chrono::Utc::now());
                keys
            }
            // Every other origin carries its keys.
            (None, _) => KeySet::new(),
        };
        warnings.extend(self.notes);
        // With pinned keys no answer of the endpoint is trusted: nothing to warn about.
        if !keys_pinned {
            warnings.extend(self.session_warnings);
        }
        let organization = chains.iter().any(|c| c.location.org_id.is_some());
        let regions_known = target.expected_regions.is_some() || target.regions.is_some();
        let accounts_known =
            !organization || target.expected_accounts.is_some() || target.accounts.is_some();
        let scope = if regions_known && accounts_known {
            ChainScope::Known
        } else {
            ChainScope::FoundInBucket
        };
        let mut options = self.options;
        options.concurrency = self.concurrency.unwrap_or(default_concurrency);
        Ok(Verifier {
            source,
            keys,
            target,
            chains,
            range: self.range,
            options,
            warnings,
            scope,
            provenance,
            bundle_problems,
            keys_in_copy: self.keys_in_copy,
            windows: self.windows,
            shard: self.shard,
            history,
            exceptions: self.exceptions,
            source_name: self.source_name,
        })
    }

    /// `source`, with what the walks ask first asked ahead, so that the answers are there
    /// when the walks start instead of one round trip after: the bucket's lifecycle rules
    /// (and versioning, when checked), and the first digest listing of the trail's likely
    /// chain ([`crate::chains::likely_chain`]) unless this run does not walk that chain (a
    /// shard of other chains) or walks nothing of it.
    #[cfg(feature = "aws")]
    fn ask_ahead(
        &self,
        source: Arc<dyn ObjectSource>,
        target: &TrailTarget,
    ) -> Arc<dyn ObjectSource> {
        let ahead = crate::source::ahead::RequestsAhead::new(source);
        ahead.ask_bucket_facts(&target.location.bucket, self.options.check_versions);
        let walked = |chain: &crate::layout::ChainId| {
            self.windows.windows.is_empty() || self.windows.windows.contains_key(chain)
        };
        if let Some(layout) = crate::chains::likely_chain(target).filter(|l| walked(&l.chain))
            && let Some((bucket, folder, after)) = crate::walk::first_listing(
                &layout,
                self.windows.window_of(&layout.chain, self.range),
            )
        {
            ahead.ask_page(&bucket, &folder, Some(&after));
        }
        Arc::new(ahead)
    }

    /// Opens the trail's bucket in S3: the trail resolved (DescribeTrails, the bucket's region),
    /// its event history ready to be read if a gap needs it.
    #[cfg(feature = "aws")]
    async fn open_s3(
        &self,
        conf: &aws_config::SdkConfig,
        setup_deadline: tokio::time::Instant,
        warnings: &mut Vec<String>,
        provenance: &mut RunProvenance,
    ) -> Result<Opened, SetupError> {
        let crate::resolve::Resolved {
            source,
            target,
            region,
        } = tokio::time::timeout_at(
            setup_deadline,
            crate::resolve::resolve(
                conf,
                &self.arn,
                self.bucket.clone(),
                self.prefix.clone(),
                warnings,
                provenance,
            ),
        )
        .await
        .map_err(|_| SetupError::TimedOut {
            during: "resolving the trail (DescribeTrails)",
            after: crate::aws::SETUP_TIMEOUT,
        })??;
        let history = Some(crate::resolve::event_history(
            conf,
            &self.arn,
            provenance.caller.as_ref().and_then(|c| c.account.clone()),
            &target.location.bucket,
        ));
        if self.pinned_keys.is_some() {
            // Pinned keys are not ListPublicKeys' answer: say where they came from, or that
            // nobody said.
            provenance.keys_source = self
                .keys_source
                .clone()
                .unwrap_or(crate::keys::KeysSource::Unnamed);
        }
        Ok(Opened {
            source,
            keys: None,
            target,
            default_concurrency: S3_CONCURRENCY,
            history,
            bundle_problems: Vec::new(),
            bucket_region: Some(region),
        })
    }

    /// Opens a local copy: an evidence bundle checked against its manifest first, the bucket
    /// folder found, a path mistake refused with the path to give instead.
    async fn open_local(
        &self,
        dir: &std::path::Path,
        keys: &KeySet,
        warnings: &mut Vec<String>,
        provenance: &mut RunProvenance,
    ) -> Result<Opened, SetupError> {
        let mut bundle_problems = Vec::new();
        provenance.caller_note = Some("local copy".into());
        // A bundle is checked against its manifest before anything in it is used.
        let bundle_dir = dir.to_path_buf();
        if let Ok(Some(problems)) =
            tokio::task::spawn_blocking(move || crate::bundle::check_bundle(&bundle_dir)).await
        {
            bundle_problems = problems;
            // Said only when the keys are the bundle's own (said once, with the cap, at
            // the end of the run): with keys given, CloudTrail's signatures prove the
            // contents whoever made the bundle, and there is nothing to give.
            if self.keys_in_copy {
                warnings.push(
                    "this is an evidence bundle (ctverify export): its manifest.json \
                     shows whether it arrived as it was made, not who made it"
                        .into(),
                );
            }
        }
        let local = LocalDirectory::new(dir).map_err(|source| SetupError::Local {
            dir: dir.to_path_buf(),
            source,
        })?;
        let bucket = match &self.bucket {
            Some(bucket) => bucket.clone(),
            None => only_bucket(&local, dir)?,
        };
        if let Some(hint) = crate::local_copy::layout_mistake(dir, &bucket, self.prefix.as_deref())
        {
            return Err(SetupError::LocalLayout {
                dir: dir.to_path_buf(),
                hint,
            });
        }
        let mut target = TrailTarget::new(self.arn.clone(), bucket, self.prefix.clone());
        // A bundle knows which chains the trail had to have (from the run that made
        // it): a region deleted from the bucket stays expected, as it was from S3.
        // These lists only add chains to those found, so a forged manifest cannot
        // make a run less strict than a plain local copy's.
        if let Ok(manifest) = crate::bundle::read_manifest(&dir.join(crate::bundle::MANIFEST_FILE))
        {
            target.expected_regions = manifest.expected_regions;
            target.expected_accounts = manifest.expected_accounts;
        }
        let source: Arc<dyn ObjectSource> = Arc::new(local);
        Ok(Opened {
            source,
            keys: Some(keys.clone()),
            target,
            default_concurrency: cpu_concurrency(),
            history: None,
            bundle_problems,
            #[cfg(feature = "aws")]
            bucket_region: None,
        })
    }

    /// Opens an object source given by the embedder, which names the bucket.
    fn open_source(
        &self,
        source: &Arc<dyn ObjectSource>,
        keys: &KeySet,
        provenance: &mut RunProvenance,
    ) -> Result<Opened, SetupError> {
        provenance.caller_note = Some(format!("object source {}", source.describe()));
        let bucket = self.bucket.clone().ok_or(SetupError::NoBucket)?;
        let target = TrailTarget::new(self.arn.clone(), bucket, self.prefix.clone());
        Ok(Opened {
            source: source.clone(),
            keys: Some(keys.clone()),
            target,
            default_concurrency: cpu_concurrency(),
            history: None,
            bundle_problems: Vec::new(),
            #[cfg(feature = "aws")]
            bucket_region: None,
        })
    }

    /// Prepares and runs: the report of every expected chain over the range.
    ///
    /// # Errors
    /// As [`prepare`](Self::prepare); once the walk starts, every failure is a finding in the
    /// report instead.
    pub async fn verify(self) -> Result<Report, SetupError> {
        Ok(self.prepare().await?.run().await)
    }
}

/// What to tell someone whose run found nothing, or someone else's files: the folders that
/// are there, so a wrong bucket, prefix or copy depth shows at once. Only a hint: a failed
/// listing here changes nothing about the verdict.
/// `listed`: the accounts folder's folders, when finding the chains listed it already.
/// The trail's chains, found in the bucket while its region is asked for: through the
/// region guessed for it when that was right, or found again through its own region (and
/// the source reading it there, which the run then reads through) when not.
/// GetBucketLocation's failure fails the run, as it did when it was asked first.
#[cfg(feature = "aws")]
async fn discover_beside_region(
    source: Arc<dyn ObjectSource>,
    target: &TrailTarget,
    region: crate::resolve::BucketRegion,
    provenance: &mut RunProvenance,
) -> Result<(Arc<dyn ObjectSource>, crate::chains::Discovery), SetupError> {
    let (found, settled) = futures::future::join(
        crate::chains::discover(source.as_ref(), target),
        region.settle(provenance),
    )
    .await;
    match settled? {
        None => Ok((source, found?)),
        Some(elsewhere) => {
            let found = crate::chains::discover(elsewhere.as_ref(), target).await?;
            Ok((elsewhere, found))
        }
    }
}

async fn where_the_files_are(
    source: &dyn ObjectSource,
    target: &TrailTarget,
    accounts: &[String],
    listed: Option<Vec<String>>,
) -> Option<String> {
    let bucket = &target.location.bucket;
    let accounts_folder = target.location.accounts_folder();
    let looked_in = source.location(bucket, &accounts_folder);
    let found = match listed {
        Some(found) => found,
        None => source
            .list_folders(bucket, &accounts_folder)
            .await
            .unwrap_or_default(),
    };
    let found: Vec<&String> = found
        .iter()
        .filter(|f| crate::layout::is_account_id(f) || crate::layout::is_org_id(f))
        .collect();
    if found.is_empty() {
        let there = match source.list_folders(bucket, "").await {
            Err(e) => format!("the bucket's top level could not be listed ({e})"),
            Ok(top) if top.is_empty() => "the bucket has no folders at all".to_owned(),
            Ok(top) => {
                let mut shown: Vec<String> = top.iter().take(20).map(|f| format!("{f}/")).collect();
                if top.len() > 20 {
                    shown.push(format!("and {} more", top.len() - 20));
                }
                format!("the bucket's top-level folders are {}", shown.join(", "))
            }
        };
        return Some(format!(
            "no account folders under {looked_in}; {there}. Check --bucket and --prefix (the \
             trail's S3 key prefix), and that a local copy is DIR/BUCKET/..., not one folder \
             deeper"
        ));
    }
    let owner = &target.arn.account_id;
    let organization = found.iter().any(|f| crate::layout::is_org_id(f));
    if accounts.is_empty() && !organization && !found.contains(&owner) {
        let listed: Vec<&str> = found.iter().take(20).map(|f| f.as_str()).collect();
        return Some(format!(
            "the trail's account {owner} has no folder under {looked_in} (found {}): is this \
             the trail's bucket and prefix?",
            listed.join(", ")
        ));
    }
    None
}

/// Twice the CPUs: local reads are bound by hashing, and each check in flight holds about
/// 300 KB of buffers.
fn cpu_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) * 2
}

/// The only bucket folder of a local copy.
fn only_bucket(local: &LocalDirectory, dir: &std::path::Path) -> Result<String, SetupError> {
    let mut buckets = local.buckets().map_err(|source| SetupError::Local {
        dir: dir.to_owned(),
        source,
    })?;
    match buckets.len() {
        0 => Err(SetupError::NoBucketFolder(dir.to_owned())),
        1 => Ok(buckets.remove(0)),
        _ => Err(SetupError::SeveralBuckets {
            dir: dir.to_owned(),
            buckets,
        }),
    }
}

/// A run ready to walk: the trail resolved, the chains found and the keys loaded.
pub struct Verifier {
    source: Arc<dyn ObjectSource>,
    keys: KeySet,
    target: TrailTarget,
    chains: Vec<ChainLayout>,
    range: TimeRange,
    options: VerifyOptions,
    warnings: Vec<String>,
    scope: ChainScope,
    provenance: RunProvenance,
    bundle_problems: Vec<crate::findings::BundleProblem>,
    keys_in_copy: bool,
    windows: Windows,
    shard: Option<crate::report::ShardOf>,
    history: Option<Arc<dyn crate::history::EventHistory>>,
    exceptions: Option<crate::exceptions::Exceptions>,
    source_name: Option<String>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("source", &self.source.describe())
            .field("target", &self.target)
            .field("chains", &self.chains)
            .field("range", &self.range)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Verifies a trail in S3 with the session `conf` (credentials, region, endpoints,
    /// HTTP client; see [`crate::aws::load`]). The trail's bucket and prefix come from
    /// DescribeTrails in the trail's home region, the bucket is read in its own region, and the
    /// keys come from ListPublicKeys in each region found.
    ///
    /// Unless keys are pinned ([`VerifierBuilder::public_keys`]), the report warns about what
    /// in the session changes who answers ListPublicKeys ([`crate::session_trust`]): `conf`'s
    /// endpoint URL or the environment's, and `AWS_CA_BUNDLE`. [`Verifier::from_aws`], which
    /// sets the session up itself, also knows a CA bundle given in its settings.
    #[cfg(feature = "aws")]
    pub fn from_s3(
        conf: &aws_config::SdkConfig,
        arn: TrailArn,
        range: TimeRange,
    ) -> VerifierBuilder {
        let mut builder = VerifierBuilder::new(arn, range, Origin::S3(Box::new(conf.clone())));
        builder.session_warnings = crate::session_trust::trust_warnings(conf.endpoint_url(), None);
        builder
    }

    /// Verifies a trail in S3 with a session set up from `settings` ([`crate::aws::load`]),
    /// its calls starting in the trail's home region: the few lines an embedder needs. As
    /// [`from_s3`](Self::from_s3), with the settings' CA bundle among the trust warnings.
    ///
    /// # Errors
    /// The session cannot be set up (a missing profile, an unreadable CA bundle).
    #[cfg(feature = "aws")]
    pub async fn from_aws(
        settings: &crate::aws::AwsSettings,
        arn: TrailArn,
        range: TimeRange,
    ) -> Result<VerifierBuilder, crate::aws::SessionError> {
        let settings = settings.clone().in_region(Some(arn.region.clone()));
        let conf = crate::aws::load(&settings).await?;
        let mut builder = VerifierBuilder::new(arn, range, Origin::S3(Box::new(conf)));
        builder.session_warnings = crate::session_trust::trust_warnings(
            settings.endpoint_url.as_deref(),
            settings.ca_bundle.as_deref(),
        );
        Ok(builder)
    }

    /// The ARN of the trail called `name`, looked up with DescribeTrails in `conf`'s region
    /// (a multi-region trail is found from any of its regions): for callers given a name, as
    /// the AWS CLI accepts one.
    ///
    /// # Errors
    /// DescribeTrails failed, or no trail has that name.
    #[cfg(feature = "aws")]
    pub async fn trail_arn_by_name(
        conf: &aws_config::SdkConfig,
        name: &str,
    ) -> Result<TrailArn, SetupError> {
        let client = aws_sdk_cloudtrail::Client::new(conf);
        Ok(crate::trail_api::trail_arn_by_name(&client, name).await?)
    }

    /// Verifies a local copy of the trail's bucket: `dir` holds one folder per bucket,
    /// `dir/BUCKET/KEY` (what `aws s3 sync s3://BUCKET dir/BUCKET` writes), and `keys` are
    /// CloudTrail's public keys (saved from `aws cloudtrail list-public-keys`).
    pub fn from_local(
        dir: impl Into<PathBuf>,
        keys: KeySet,
        arn: TrailArn,
        range: TimeRange,
    ) -> VerifierBuilder {
        VerifierBuilder::new(
            arn,
            range,
            Origin::Local {
                dir: dir.into(),
                keys,
            },
        )
    }

    /// Verifies through any [`ObjectSource`] with `keys`; set the bucket with
    /// [`VerifierBuilder::bucket`].
    pub fn from_source(
        source: Arc<dyn ObjectSource>,
        keys: KeySet,
        arn: TrailArn,
        range: TimeRange,
    ) -> VerifierBuilder {
        VerifierBuilder::new(arn, range, Origin::Source { source, keys })
    }

    /// The trail, its bucket and prefix, and the chains it must have.
    pub fn target(&self) -> &TrailTarget {
        &self.target
    }

    /// The chains to verify: those found in the bucket and those expected but missing.
    pub fn chains(&self) -> &[ChainLayout] {
        &self.chains
    }

    /// The range verified.
    pub fn range(&self) -> TimeRange {
        self.range
    }

    /// What the run had to assume (lists it could not get, validation turned off); they are
    /// also in the report's `warnings`.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Adds a warning for the report, once the run is prepared: for what the caller can only
    /// judge knowing the trail's bucket (a state kept in it, say).
    pub fn add_warning(&mut self, text: impl Into<String>) {
        self.warnings.push(text.into());
    }

    /// Where the files are read from (`s3://BUCKET` or the local directory).
    pub fn source_description(&self) -> String {
        self.source_name
            .clone()
            .unwrap_or_else(|| self.source.describe())
    }

    /// Where the trail's account folders are: `s3://BUCKET/[PREFIX/]AWSLogs/[ORG/]`, or that
    /// folder of the local copy.
    pub fn accounts_folder(&self) -> String {
        self.source.location(
            &self.target.location.bucket,
            &self.target.location.accounts_folder(),
        )
    }

    /// The public keys the run uses.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// The object source the run reads.
    pub(crate) fn source(&self) -> Arc<dyn ObjectSource> {
        self.source.clone()
    }

    /// The same run reading through `source` (the export's tee).
    pub(crate) fn with_source(mut self, source: Arc<dyn ObjectSource>) -> Self {
        self.source = source;
        self
    }

    /// The cap on a log file's decompressed size.
    pub(crate) fn max_log_bytes(&self) -> u64 {
        self.options.max_log_bytes
    }

    /// Splits the run into `shards` shards by chain and time window, balanced by the digests
    /// each chain's folder lists over the range ([`crate::plan`]): one listing per chain and
    /// day, no digest read.
    ///
    /// # Errors
    /// A listing failed: a plan must not leave a chain out.
    pub async fn plan(&self, shards: usize) -> Result<crate::plan::Plan, SetupError> {
        let mut chains = Vec::with_capacity(self.chains.len());
        for layout in &self.chains {
            let ends = crate::walk::digest_ends(self.source.as_ref(), layout, self.range)
                .await
                .map_err(|source| {
                    SetupError::Discovery(VerifyError::Discovery {
                        bucket: layout.location.bucket.clone(),
                        prefix: layout.digest_folder(),
                        source,
                    })
                })?;
            chains.push((layout.chain.clone(), ends));
        }
        Ok(crate::plan::Plan::split(
            self.target.arn.clone(),
            self.target.location.bucket.clone(),
            self.target.location.prefix.clone(),
            self.range,
            &chains,
            shards,
        ))
    }

    /// What a run would read, from the listings alone: every chain's digest and log folders
    /// are listed as a run lists them, and the digests and log files it would read are counted
    /// with their sizes. [`crate::cost::estimate`] prices it.
    ///
    /// # Errors
    /// When a listing fails.
    pub async fn workload(&self) -> Result<crate::cost::Workload, SetupError> {
        let mut total = crate::cost::Workload {
            setup_list_requests: self.source.list_requests().unwrap_or(0),
            ..crate::cost::Workload::default()
        };
        for layout in &self.chains {
            let chain = crate::walk::sweep_workload(self.source.as_ref(), layout, self.range)
                .await
                .map_err(|source| {
                    SetupError::Discovery(VerifyError::Discovery {
                        bucket: layout.location.bucket.clone(),
                        prefix: layout.log_folder(),
                        source,
                    })
                })?;
            total.add(&chain);
        }
        Ok(total)
    }

    /// Walks every chain and returns the report.
    pub async fn run(self) -> Report {
        self.run_with(None).await
    }

    /// Walks every chain, giving each verdict to `observer` as soon as it is final (see
    /// [`crate::events`]), and returns the report. The report's summary and status cover
    /// everything; its chains keep only the digests that are not valid (the valid ones were
    /// given to the observer and are counted in [`ChainReport::omitted`]), so that memory does
    /// not grow with the range.
    ///
    /// [`ChainReport::omitted`]: crate::report::ChainReport::omitted
    pub async fn run_observed(self, observer: &mut dyn RunObserver) -> Report {
        self.run_with(Some(observer)).await
    }

    async fn run_with(self, observer: Option<&mut dyn RunObserver>) -> Report {
        let source_name = self.source_description();
        let p = self.provenance;
        let keys = self
            .keys
            .keys()
            .into_iter()
            .map(|k| crate::report::KeyProvenance {
                fingerprint: k.fingerprint().to_owned(),
                valid_from: k.valid_from(),
                valid_to: k.valid_to(),
                region: k.region().map(str::to_owned),
                source: p.keys_source.to_string(),
                fetched_at: p.keys_fetched_at,
            })
            .collect();
        let options = crate::report::RunOptions {
            from: self.range.start(),
            to: self.range.end(),
            source: source_name,
            bucket: self.target.location.bucket.clone(),
            prefix: self.target.location.prefix.clone(),
            accounts: self.target.accounts.clone().unwrap_or_default(),
            regions: self.target.regions.clone().unwrap_or_default(),
            concurrency: self.options.concurrency,
            max_log_bytes: self.options.max_log_bytes,
        };
        let exceptions_sha256 = self.exceptions.as_ref().map(|e| e.sha256.clone());
        let mut report = crate::verify::verify_chains(
            self.source,
            self.keys,
            &self.target,
            self.chains,
            self.range,
            self.options,
            &self.windows,
            crate::verify::Evidence {
                history: self.history,
                exceptions: self.exceptions.map(Arc::new),
            },
            observer,
        )
        .await;
        report.shard = self.shard;
        report.source = options.source.clone();
        report.warnings.extend(self.warnings);
        report.scope = self.scope;
        report.add_bundle_problems(self.bundle_problems);
        if self.keys_in_copy {
            // The proof rests on keys the copy itself supplied: an attacker who rewrote the copy
            // would have supplied their own. Valid needs keys from outside it. A fact of the
            // report, not only of its status, so that a merge of shards keeps the cap; said
            // whatever the verdict, so that a merged report says it too.
            report.set_keys_from_the_copy();
            report.warnings.push(
                "the public keys were read from the copy itself (the bundle's public-keys.json), \
                 which whoever can write the copy can replace: even when every signature \
                 verifies, unverifiable at best. Give CloudTrail's keys from a trusted source \
                 (--public-keys, saved with `aws cloudtrail list-public-keys`) to prove the bundle"
                    .into(),
            );
        }
        report.provenance = Some(crate::report::Provenance {
            started_at: p.started_at,
            ended_at: report.generated_at,
            caller: p.caller,
            caller_note: p.caller_note,
            endpoints: p.endpoints,
            keys,
            options,
            exceptions_sha256,
        });
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Status;
    use ctverify_fixtures::{LocalDirSink, TestKey, TrailSpec, generate, public_keys_json};

    /// A small generated trail (one account, one region, three hours) in a local copy, with its
    /// keys and the range it covers.
    struct Copy {
        dir: tempfile::TempDir,
        keys: KeySet,
        arn: TrailArn,
        range: TimeRange,
    }

    fn copy(spec: &TrailSpec) -> Copy {
        let dir = tempfile::tempdir().expect("temporary folder");
        let mut sink = LocalDirSink::new(dir.path());
        let manifest = generate(spec, &TestKey::default_key(), &mut sink).expect("generated");
        let keys =
            KeySet::from_list_public_keys_json(public_keys_json(&manifest.public_keys).as_bytes())
                .expect("keys");
        Copy {
            dir,
            keys,
            arn: manifest.trail_arn.parse().expect("an ARN"),
            range: TimeRange::new(manifest.start_time, manifest.end_time).expect("a range"),
        }
    }

    fn small() -> TrailSpec {
        TrailSpec {
            regions: vec!["us-east-1".into()],
            digests: 3,
            logs_per_digest: 2,
            threads: 1,
            ..TrailSpec::default()
        }
    }

    fn key_sources(report: &Report) -> Vec<String> {
        let provenance = report.provenance.as_ref().expect("provenance");
        provenance.keys.iter().map(|k| k.source.clone()).collect()
    }

    #[tokio::test]
    async fn a_local_copy_verifies_valid_and_its_report_names_the_key_file() {
        let c = copy(&small());
        let report = Verifier::from_local(c.dir.path(), c.keys, c.arn.clone(), c.range)
            .keys_source(crate::keys::KeysSource::File("saved/keys.json".into()))
            .prepare()
            .await
            .expect("prepared")
            .run()
            .await;
        assert_eq!(report.status, Status::Valid, "{:?}", report.warnings);
        assert_eq!(report.trail, c.arn);
        assert_eq!(report.summary.digests.valid, 3);
        assert_eq!(key_sources(&report), ["key file saved/keys.json"]);
    }

    #[tokio::test]
    async fn keys_given_without_a_source_are_not_claimed_to_come_from_anywhere() {
        let c = copy(&small());
        let report = Verifier::from_local(c.dir.path(), c.keys, c.arn, c.range)
            .verify()
            .await
            .expect("verified");
        assert_eq!(key_sources(&report), ["keys given to the verifier"]);
    }

    #[tokio::test]
    async fn a_region_that_is_no_region_is_refused_before_anything_is_read() {
        let c = copy(&small());
        let err = Verifier::from_local(c.dir.path(), c.keys, c.arn, c.range)
            .regions(["us east 1"])
            .prepare()
            .await
            .unwrap_err();
        assert!(matches!(err, SetupError::BadRegion(r) if r == "us east 1"));
    }

    #[tokio::test]
    async fn a_copy_without_a_bucket_folder_or_with_two_needs_the_bucket_named() {
        let c = copy(&small());
        let empty = tempfile::tempdir().expect("temporary folder");
        let err = Verifier::from_local(empty.path(), c.keys.clone(), c.arn.clone(), c.range)
            .prepare()
            .await
            .unwrap_err();
        assert!(matches!(err, SetupError::NoBucketFolder(_)), "{err}");
        std::fs::create_dir(c.dir.path().join("another-bucket")).expect("a second bucket");
        let err = Verifier::from_local(c.dir.path(), c.keys.clone(), c.arn.clone(), c.range)
            .prepare()
            .await
            .unwrap_err();
        assert!(matches!(err, SetupError::SeveralBuckets { .. }), "{err}");
        let report = Verifier::from_local(c.dir.path(), c.keys, c.arn, c.range)
            .bucket("ctverify-test-bucket")
            .verify()
            .await
            .expect("verified once the bucket is named");
        assert_eq!(report.status, Status::Valid);
    }

    #[tokio::test]
    async fn the_listing_asked_ahead_is_the_walks_first_listing_of_the_likely_chain() {
        let c = copy(&small());
        let recording = Arc::new(crate::source::RecordingPages::new(c.dir.path()));
        let verifier = Verifier::from_source(recording.clone(), c.keys, c.arn, c.range)
            .bucket("ctverify-test-bucket")
            .prepare()
            .await
            .expect("prepared");
        let layout = crate::chains::likely_chain(verifier.target()).expect("a likely chain");
        assert!(verifier.chains().iter().any(|c| c.chain == layout.chain));
        let (bucket, folder, after) =
            crate::walk::first_listing(&layout, c.range).expect("the range is not empty");
        let report = verifier.run().await;
        assert_eq!(report.status, Status::Valid);
        // The walk's first page of the chain's digest folder is the one asked ahead: its
        // answer is used, not asked again.
        let first = recording
            .pages()
            .into_iter()
            .find(|(_, prefix, _)| *prefix == folder);
        assert_eq!(first, Some((bucket, folder, Some(after))));
    }

    #[tokio::test]
    async fn a_shard_past_the_plan_is_refused() {
        let c = copy(&small());
        let plan = crate::plan::Plan::split(c.arn.clone(), "b", None, c.range, &[], 2);
        let err = Verifier::from_local(c.dir.path(), c.keys, c.arn, c.range)
            .shard(&plan, 2)
            .unwrap_err();
        assert!(
            matches!(
                err,
                SetupError::NoSuchShard {
                    index: 2,
                    shards: 1
                }
            ),
            "{err}"
        );
    }
}
