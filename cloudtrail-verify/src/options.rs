//! How a run is asked for: the time range and the options. Kept apart from `crate::verify` so
//! that the walk can read them without depending on the module that drives it.

pub use crate::loghash::{DEFAULT_MAX_DIGEST_BYTES, DEFAULT_MAX_LOG_BYTES};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use std::sync::Arc;

/// A time range, start before end, within the years a CloudTrail digest can name: built only
/// by [`TimeRange::new`], which checks both, so that no run proves "valid" over nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// Why a time range was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RangeError {
    /// The start is not before the end: an empty range would be "valid" having proven nothing.
    #[error("the start {start} is not before the end {end}")]
    StartAfterEnd {
        /// Start.
        start: DateTime<Utc>,
        /// End.
        end: DateTime<Utc>,
    },
    /// A time before CloudTrail existed or implausibly far in the future.
    #[error("{time} is outside {min} to {max}, the times a CloudTrail digest can name")]
    OutOfBounds {
        /// The time refused.
        time: DateTime<Utc>,
        /// Earliest accepted.
        min: DateTime<Utc>,
        /// Latest accepted.
        max: DateTime<Utc>,
    },
}

impl TimeRange {
    /// A range. Times must lie between 2013-01-01 (CloudTrail launched in November 2013) and
    /// 2100-01-01, which also keeps every time computation of a run far from overflow.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, RangeError> {
        let (min, max) = Self::bounds();
        for time in [start, end] {
            if time < min || time > max {
                return Err(RangeError::OutOfBounds { time, min, max });
            }
        }
        if start >= end {
            return Err(RangeError::StartAfterEnd { start, end });
        }
        Ok(TimeRange { start, end })
    }

    /// A chain's window inside a checked range (a shard's part, the hours after a checkpoint):
    /// it may be empty (a checkpoint already at the range's end), never reversed.
    pub(crate) fn window(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        TimeRange {
            start,
            end: end.max(start),
        }
    }

    /// Start (inclusive).
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// End (inclusive).
    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    /// The earliest and latest times a range may hold.
    pub fn bounds() -> (DateTime<Utc>, DateTime<Utc>) {
        (
            Utc.with_ymd_and_hms(2013, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or(DateTime::UNIX_EPOCH),
            Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or(DateTime::UNIX_EPOCH),
        )
    }
}

/// Receives progress as log files are verified (for a progress bar). Called from worker
/// threads.
///
/// Before any digest is read, [`Progress::digests_expected`] gives the number of digests the
/// chains' folders list over the range (a listing, which is cheap), so a bar can show a known
/// total; [`Progress::digest_done`] then counts each digest whose verdict is final.
pub trait Progress: Send + Sync {
    /// The digests the range's listings hold, across all chains (once, before the walk).
    fn digests_expected(&self, count: u64) {
        let _ = count;
    }
    /// A digest's verdict is final (every log file it lists was checked).
    fn digest_done(&self) {}
    /// A valid digest listed `count` more log files to check.
    fn logs_found(&self, count: u64) {
        let _ = count;
    }
    /// A log file was read to its end and hashed.
    fn log_verified(&self, compressed_bytes: u64, decompressed_bytes: u64);
}

/// How a run behaves. Start from `VerifyOptions::default()` and set the fields you need (new
/// fields may come, hence `#[non_exhaustive]`).
#[derive(Clone)]
#[non_exhaustive]
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
    /// How long before `now` the verified window stops: the digest covering an hour arrives
    /// up to about an hour after that hour ends.
    pub delivery_grace: TimeDelta,
    /// Look for log files in the covered hours that no digest lists (one listing per day and
    /// chain).
    pub check_unlisted_logs: bool,
    /// When the bucket has versioning, list the version histories of the chains' folders, find
    /// overwrites and deletions after delivery, and verify CloudTrail's original versions
    /// (`--no-versions` turns it off).
    pub check_versions: bool,
    /// Progress receiver.
    pub progress: Option<Arc<dyn Progress>>,
    /// When verdicts stream ([`crate::Verifier::run_observed`]), a chain's window longer than
    /// this is walked in segments of this length, oldest first, and the segments are joined as
    /// a plan's shards are (each seam checked), so that memory holds one segment's digests
    /// whatever the range. A boundary costs the digest after it read twice (with its log
    /// files).
    pub segment: TimeDelta,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            concurrency: 64,
            max_log_bytes: DEFAULT_MAX_LOG_BYTES,
            max_digest_bytes: DEFAULT_MAX_DIGEST_BYTES,
            keep_valid_entries: true,
            now: Utc::now(),
            delivery_grace: TimeDelta::hours(2),
            check_unlisted_logs: true,
            check_versions: true,
            progress: None,
            segment: TimeDelta::days(7),
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
            .field("segment", &self.segment)
            .finish_non_exhaustive()
    }
}
