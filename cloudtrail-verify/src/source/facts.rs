//! What a source reports about a bucket beyond its objects, as plain facts the trust core
//! judges: the bucket's lifecycle rules (GetBucketLifecycleConfiguration) and an object's
//! version history (ListObjectVersions). They live with the sources, below the trust core, so
//! that an outside [`super::ObjectSource`] can name them. The one lifecycle model of the
//! workspace: the verifier judges a missing object by it, and `audit`'s retention checks
//! (cloudtrail-posture) judge the bucket's configuration by it.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Which objects a lifecycle rule selects, as far as a missing object can be judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LifecycleFilter {
    /// Objects whose key starts with this prefix (empty: every object).
    Prefix {
        /// The prefix.
        prefix: String,
    },
    /// A filter that needs what a missing object no longer has (tags, size) or that is not
    /// understood: it selects no missing object, and may or may not select a present one.
    Unjudgeable {
        /// The prefix it also selects on (empty: none).
        prefix: String,
        /// What else the filter holds (`tag KEY=VALUE`, `objects larger than N bytes`...).
        reason: String,
    },
}

impl LifecycleFilter {
    /// The key prefix the rule selects on (empty: every key).
    pub fn prefix(&self) -> &str {
        match self {
            LifecycleFilter::Prefix { prefix } | LifecycleFilter::Unjudgeable { prefix, .. } => {
                prefix
            }
        }
    }
}

/// One `Transitions` entry of a lifecycle rule: when selected objects move to another storage
/// class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LifecycleTransition {
    /// When: `N days`, `on DATE` or `immediately`.
    pub after: String,
    /// The storage class (`GLACIER`, `DEEP_ARCHIVE`, `GLACIER_IR`...).
    pub storage_class: String,
}

/// When a lifecycle rule expires the objects it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LifecycleExpiration {
    /// `Expiration.Days`: this many days after each object's creation.
    Days {
        /// The days.
        days: u32,
    },
    /// `Expiration.Date`: every object selected, from this date on.
    Date {
        /// The date (midnight UTC).
        date: DateTime<Utc>,
    },
}

/// One rule of a bucket's lifecycle configuration, as facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LifecycleRule {
    /// The rule's `ID`.
    pub id: String,
    /// `Status` is `Enabled`.
    pub enabled: bool,
    /// Which objects it selects.
    pub filter: LifecycleFilter,
    /// Its `Expiration` of current objects, when it has one (transitions and noncurrent-version
    /// expiration remove no current object).
    pub expiration: Option<LifecycleExpiration>,
    /// `NoncurrentVersionExpiration.NoncurrentDays`: overwritten or deleted versions are removed
    /// this many days after they became noncurrent.
    pub noncurrent_days: Option<u32>,
    /// `Transitions`: moves to other storage classes (archive classes must be restored before
    /// anything can read the files).
    pub transitions: Vec<LifecycleTransition>,
}

/// One entry of a key's version history, as ListObjectVersions reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    /// The version id (`null` for an object written before versioning was enabled).
    pub version_id: String,
    /// `LastModified`.
    pub last_modified: DateTime<Utc>,
    /// A delete marker rather than an object version.
    pub delete_marker: bool,
}
