//! Listing the version histories of a chain's folders (ListObjectVersions) over the range's day
//! folders. Only keys whose history is more than one current version are kept: those are the
//! ones `crate::trust::versions` may find something in. Memory is bounded: a history too large
//! to hold is an error (the chain is then unverifiable), never silently cut.

use crate::source::ObjectSource;
use crate::source::ObjectVersion;
use chrono::NaiveDate;
use std::collections::HashMap;

/// Version entries held per chain, over the keys kept. CloudTrail writes each object once, so
/// a genuine trail keeps none; a bucket with this many changed entries in one chain's range is
/// beyond judging here.
pub(super) const MAX_VERSION_ENTRIES: usize = 100_000;

/// Changed objects kept per chain for the report; further ones are only counted.
pub(super) const MAX_VERSIONED_KEPT: usize = 1000;

/// Keys with more than one entry (or a delete marker), each with its entries in listing order.
pub(super) type Histories = HashMap<String, Vec<ObjectVersion>>;

/// Lists the versions of every key in the day folders `first..=last` of `folder` into `into`.
pub(super) async fn list_histories(
    source: &dyn ObjectSource,
    bucket: &str,
    folder: &str,
    (first, last): (NaiveDate, NaiveDate),
    into: &mut Histories,
) -> Result<(), String> {
    // One listing per day folder, each from its start with no key marker (a prefix bounds it
    // exactly; some S3-compatible stores, moto among them, leave delete markers out of a page
    // asked for with a key marker).
    let mut current: Option<(String, Vec<ObjectVersion>)> = None;
    // Entries held: those of kept keys, plus the key being listed.
    let mut held: usize = into.values().map(Vec::len).sum();
    let keep =
        |entry: Option<(String, Vec<ObjectVersion>)>, into: &mut Histories, held: &mut usize| {
            if let Some((key, versions)) = entry {
                if versions.len() > 1 || versions.iter().any(|v| v.delete_marker) {
                    into.insert(key, versions);
                } else {
                    *held -= versions.len();
                }
            }
        };
    let mut day = first;
    while day <= last {
        let prefix = format!("{folder}{}/", day.format("%Y/%m/%d"));
        let mut marker: Option<(String, Option<String>)> = None;
        loop {
            tracing::debug!(bucket, prefix, marker = ?marker, "listing versions");
            let page = source
                .list_versions(
                    bucket,
                    &prefix,
                    marker.as_ref().map(|(k, v)| (k.as_str(), v.as_deref())),
                )
                .await
                .map_err(|e| format!("ListObjectVersions on s3://{bucket}/{prefix}: {e}"))?;
            for (key, version) in page.entries {
                match &mut current {
                    Some((k, versions)) if *k == key => versions.push(version),
                    _ => {
                        keep(current.take(), into, &mut held);
                        current = Some((key, vec![version]));
                    }
                }
                held += 1;
                if held > MAX_VERSION_ENTRIES {
                    return Err(format!(
                        "more than {MAX_VERSION_ENTRIES} object versions under s3://{bucket}/{folder} \
                     in the range: too many to judge"
                    ));
                }
            }
            match page.next {
                // A listing must move forward; one that does not would loop forever.
                Some(next) if marker.as_ref().is_none_or(|m| next > *m) => marker = Some(next),
                Some(next) => {
                    return Err(format!(
                        "ListObjectVersions on s3://{bucket}/{prefix} did not advance past {next:?}"
                    ));
                }
                None => break,
            }
        }
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    keep(current, into, &mut held);
    Ok(())
}
