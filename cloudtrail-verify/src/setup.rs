//! What preparing a run yields besides the walk: why it could not start ([`SetupError`]) and
//! who ran it, where, with which keys ([`RunProvenance`], the report's provenance).

use crate::verify::VerifyError;
use std::path::PathBuf;

/// Why a run could not start: nothing was verified, so there is no verdict.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// An account id given to narrow the run is not 12 digits.
    #[error("{0:?} is not a 12-digit account id")]
    BadAccountId(String),
    /// A region given to narrow the run is not a region name.
    #[error("{0:?} is not a region name (such as us-east-1)")]
    BadRegion(String),
    /// The local copy cannot be opened.
    #[error("{}: {source}", dir.display())]
    Local {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// [`crate::Verifier::from_source`] was not told the bucket ([`crate::VerifierBuilder::bucket`]).
    #[error("no bucket given: an object source is read bucket by bucket")]
    NoBucket,
    /// The local copy was given one folder too high or too deep: a path mistake, with the
    /// path to give instead (nothing was verified).
    #[error("{hint}")]
    LocalLayout {
        /// The directory given.
        dir: PathBuf,
        /// What is wrong and the path to give instead.
        hint: String,
    },
    /// The local copy holds no bucket folder.
    #[error("{} holds no bucket folder (expected DIR/BUCKET/AWSLogs/...)", .0.display())]
    NoBucketFolder(PathBuf),
    /// The local copy holds several bucket folders and none was chosen.
    #[error("{} holds several bucket folders ({}): choose one", dir.display(), buckets.join(", "))]
    SeveralBuckets {
        /// The directory.
        dir: PathBuf,
        /// The bucket folders found.
        buckets: Vec<String>,
    },
    /// An AWS call needed before verification failed (DescribeTrails, GetBucketLocation,
    /// ListPublicKeys).
    #[cfg(feature = "aws")]
    #[error(transparent)]
    Aws(#[from] crate::trail_api::TrailApiError),
    /// The AWS calls before verification (DescribeTrails, GetBucketLocation, ListRegions,
    /// ListAccounts, ListPublicKeys) had not ended within [`crate::aws::SETUP_TIMEOUT`].
    #[cfg(feature = "aws")]
    #[error(
        "{during} had not ended after {} s (each AWS call is bounded at {} s): check the network, HTTPS_PROXY, AWS_ENDPOINT_URL and the region",
        after.as_secs(),
        crate::aws::CALL_TIMEOUT.as_secs()
    )]
    TimedOut {
        /// What was under way.
        during: &'static str,
        /// The bound.
        after: std::time::Duration,
    },
    /// The bucket's folders could not be listed to find the trail's chains.
    #[error(transparent)]
    Discovery(#[from] VerifyError),
    /// The plan has no shard with this index.
    #[error("the plan has {shards} shards, numbered 0 to {}: there is no shard {index}", shards.saturating_sub(1))]
    NoSuchShard {
        /// The index asked for.
        index: usize,
        /// How many the plan has.
        shards: usize,
    },
    /// The state given with [`crate::VerifierBuilder::state`] may not be used for this trail
    /// ([`crate::state::check_use`]).
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

/// What a run records about itself while it prepares, for the report's provenance.
#[derive(Debug, Clone)]
pub(crate) struct RunProvenance {
    pub(crate) started_at: chrono::DateTime<chrono::Utc>,
    /// Whose credentials read the trail (set by the AWS resolution).
    pub(crate) caller: Option<crate::report::CallerIdentity>,
    pub(crate) caller_note: Option<String>,
    /// The endpoints used, by service.
    pub(crate) endpoints: std::collections::BTreeMap<String, String>,
    pub(crate) keys_source: crate::keys::KeysSource,
    pub(crate) keys_fetched_at: Option<chrono::DateTime<chrono::Utc>>,
}
