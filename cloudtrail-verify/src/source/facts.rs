//! What a source reports about a bucket beyond its objects, as plain facts the trust core
//! judges: the bucket's lifecycle rules (GetBucketLifecycleConfiguration) and an object's
//! version history (ListObjectVersions). They live with the sources, below the trust core, so
//! that an outside [`super::ObjectSource`] can name them.

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
    /// understood: it selects no missing object.
    Unjudgeable {
        /// What the filter holds.
        reason: String,
    },
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
