//! Listing a chain's folders over a span of days, completely and strictly.
//!
//! A listing covers every key of the day folders concerned, in key order, and never stops at a
//! key because of what its name claims: a planted object whose name parses loosely as a later
//! digest must not cut the listing short. Names are parsed exactly (`crate::layout`); anything
//! CloudTrail does not write is kept as a finding.

use crate::layout::{ChainLayout, DigestFolderEntry, DigestKeyInfo};
use crate::source::{ObjectSource, SourceError};
use chrono::{DateTime, NaiveDate, Utc};
use std::ops::ControlFlow;

/// Foreign objects kept per chain for the report; further ones are only counted.
pub(super) const MAX_FOREIGN_KEPT: usize = 100;

/// Calls `each` with every key of `folder` whose day folder lies in `first..=last`, in key order.
/// Bounded by key strings only: `first`'s day folder sorts before any key under it and the day
/// after `last` sorts after every key under `last`.
pub(super) async fn list_days(
    source: &dyn ObjectSource,
    bucket: &str,
    folder: &str,
    first: NaiveDate,
    last: NaiveDate,
    mut each: impl FnMut(String),
) -> Result<(), SourceError> {
    list_days_sized(source, bucket, folder, first, last, |key, _| each(key))
        .await
        .map(|_pages| ())
}

/// [`list_days`], until `each` breaks: the keys after it are not listed.
pub(super) async fn list_days_until(
    source: &dyn ObjectSource,
    bucket: &str,
    folder: &str,
    first: NaiveDate,
    last: NaiveDate,
    mut each: impl FnMut(String) -> ControlFlow<()>,
) -> Result<(), SourceError> {
    list_pages(source, bucket, folder, first, last, |key, _| each(key))
        .await
        .map(|_pages| ())
}

/// [`list_days`] with each key's size where the source reports it; returns the listing
/// requests it made (a sweep's estimate counts them).
pub(super) async fn list_days_sized(
    source: &dyn ObjectSource,
    bucket: &str,
    folder: &str,
    first: NaiveDate,
    last: NaiveDate,
    mut each: impl FnMut(String, Option<u64>),
) -> Result<u64, SourceError> {
    list_pages(source, bucket, folder, first, last, |key, size| {
        each(key, size);
        ControlFlow::Continue(())
    })
    .await
}

/// The listing of [`list_days_sized`], until `each` breaks; returns the requests it made.
async fn list_pages(
    source: &dyn ObjectSource,
    bucket: &str,
    folder: &str,
    first: NaiveDate,
    last: NaiveDate,
    mut each: impl FnMut(String, Option<u64>) -> ControlFlow<()>,
) -> Result<u64, SourceError> {
    let day = |d: NaiveDate| day_key(folder, d);
    let mut after = day(first);
    let stop = match last.succ_opt() {
        Some(next) => day(next),
        None => format!("{folder}\u{10FFFF}"),
    };
    let mut pages = 0u64;
    loop {
        tracing::debug!(bucket, folder, after = %after, "listing");
        let page = source.list_page(bucket, folder, Some(&after)).await?;
        pages += 1;
        let Some(last_key) = page.keys.last().map(|(key, _)| key.clone()) else {
            return Ok(pages);
        };
        for (key, size) in page.keys {
            if key >= stop {
                return Ok(pages);
            }
            if each(key, size).is_break() {
                return Ok(pages);
            }
        }
        // The store said nothing follows: the empty page after it would only cost a round trip.
        if page.complete {
            return Ok(pages);
        }
        // A source must move forward; one that does not would loop forever.
        if last_key <= after {
            return Err(SourceError::Unavailable(format!(
                "listing of {folder} did not advance past {after:?}"
            )));
        }
        after = last_key;
    }
}

/// Where a listing of `folder`'s day folders from `day` on starts: every key of that day sorts
/// after it.
fn day_key(folder: &str, day: NaiveDate) -> String {
    format!("{folder}{}", day.format("%Y/%m/%d"))
}

/// The day folders [`list_digests`] lists for digests ending in `first..=last`: a day either
/// side, so that a digest name filed under a neighbouring day is found.
fn digest_days(first: DateTime<Utc>, last: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    (
        first.date_naive().pred_opt().unwrap_or(first.date_naive()),
        last.date_naive().succ_opt().unwrap_or(last.date_naive()),
    )
}

/// The first page [`list_digests`] asks for when a chain's walk starts at `first`: (bucket,
/// folder, start-after), so that it can be asked ahead ([`crate::source::ahead`]).
// Used by the S3 origin only (and the tests).
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub(crate) fn first_digest_page(
    layout: &ChainLayout,
    first: DateTime<Utc>,
) -> (String, String, String) {
    let folder = layout.digest_folder();
    let start = day_key(&folder, digest_days(first, first).0);
    (layout.location.bucket.clone(), folder, start)
}

/// A digest key of this trail found by the listing.
#[derive(Debug, Clone)]
pub(super) struct Listed {
    pub key: String,
}

/// What a chain's digest folder holds over the listed days.
#[derive(Debug, Default)]
pub(super) struct DigestListing {
    /// This trail's hourly digests, oldest first.
    pub standard: Vec<Listed>,
    /// This trail's backfill digests.
    pub backfill: Vec<Listed>,
    /// Other trails' digests in the same folder: (key, a layout naming that trail).
    pub other_trails: Vec<(String, ChainLayout)>,
    /// Keys CloudTrail does not write, with why (the first [`MAX_FOREIGN_KEPT`]).
    pub foreign: Vec<(String, &'static str)>,
    /// Foreign keys beyond those kept.
    pub foreign_omitted: u64,
    /// The source keeps metadata in sidecars (a local copy): a sidecar left by a digest no
    /// longer there is no object of its own.
    pub sidecars: bool,
    /// This trail's first hourly digest ending after the listed window, if the listing saw one:
    /// when the window's end is not covered, it can still prove that digests were deleted.
    pub next_after: Option<(DateTime<Utc>, Listed)>,
}

impl DigestListing {
    /// Sorts one listed key into its class. `wanted` says which end times the run reads.
    pub fn add(
        &mut self,
        layout: &ChainLayout,
        key: String,
        (first, last): (DateTime<Utc>, DateTime<Utc>),
    ) {
        let wanted = |t: DateTime<Utc>| first <= t && t <= last;
        match layout.classify_digest_folder_key(&key) {
            DigestFolderEntry::Ours(DigestKeyInfo { end_time, backfill }) => {
                if !backfill
                    && end_time > last
                    && self.next_after.as_ref().is_none_or(|(t, _)| end_time < *t)
                {
                    self.next_after = Some((end_time, Listed { key: key.clone() }));
                }
                if wanted(end_time) {
                    let listed = Listed { key };
                    if backfill {
                        self.backfill.push(listed);
                    } else {
                        self.standard.push(listed);
                    }
                }
            }
            DigestFolderEntry::OtherTrail {
                trail_name,
                home_region,
                info,
            } => {
                if wanted(info.end_time) {
                    let other = ChainLayout {
                        trail_name,
                        home_region,
                        ..layout.clone()
                    };
                    self.other_trails.push((key, other));
                }
            }
            // The metadata a deleted digest left behind in a local copy: the chain reports the
            // digest missing (a newer digest names it, or its hour is a gap); its sidecar adds
            // nothing to that, and no byte of it is ever trusted without its digest.
            DigestFolderEntry::Foreign(_)
                if self.sidecars
                    && key
                        .strip_suffix(crate::source::local::METADATA_SUFFIX)
                        .is_some_and(|digest| {
                            !matches!(
                                layout.classify_digest_folder_key(digest),
                                DigestFolderEntry::Foreign(_)
                            )
                        }) =>
            {
                tracing::debug!(key, "metadata sidecar of a digest not in the copy");
            }
            DigestFolderEntry::Foreign(reason) => {
                if in_listed_days(&key, &layout.digest_folder(), first, last, reason) {
                    self.add_foreign(key, reason);
                }
            }
        }
    }

    fn add_foreign(&mut self, key: String, reason: &'static str) {
        if self.foreign.len() < MAX_FOREIGN_KEPT {
            self.foreign.push((key, reason));
        } else {
            self.foreign_omitted += 1;
        }
    }
}

/// Lists the chain's digest folder over the day folders of `first..=last`.
pub(super) async fn list_digests(
    source: &dyn ObjectSource,
    layout: &ChainLayout,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
) -> Result<DigestListing, SourceError> {
    let mut listing = DigestListing {
        sidecars: source.keeps_metadata_in_sidecars(),
        ..DigestListing::default()
    };
    let (first_day, last_day) = digest_days(first, last);
    list_days(
        source,
        &layout.location.bucket,
        &layout.digest_folder(),
        first_day,
        last_day,
        |key| listing.add(layout, key, (first, last)),
    )
    .await?;
    // Same prefix and date folders: key order is time order.
    listing.standard.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(listing)
}

/// Whether a foreign key found by a listing counts: it lies in a day folder of `first..=last`
/// (or in no day folder at all), or it is a misfiled CloudTrail name. The day either side is
/// listed only to find misfiled names; anything else there is outside the range.
pub(super) fn in_listed_days(
    key: &str,
    folder: &str,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    reason: &str,
) -> bool {
    if reason == crate::layout::MISFILED {
        return true;
    }
    let day = key
        .strip_prefix(folder)
        .and_then(|rest| rest.get(..10))
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y/%m/%d").ok());
    day.is_none_or(|d| first.date_naive() <= d && d <= last.date_naive())
}
