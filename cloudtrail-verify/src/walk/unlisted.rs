//! Log files in a chain's folder that no valid digest lists, and objects CloudTrail does not
//! write there. Every log file named after a time in the verified window must be listed by a
//! valid digest of a trail writing to the folder; anything else in the window's day folders is
//! foreign.

use super::listing::{MAX_FOREIGN_KEPT, in_listed_days, list_days};
use crate::layout::ChainLayout;
use crate::report::{ForeignObject, LogProblem, LogReport};
use crate::source::{ObjectSource, SourceError};
use crate::trust::{CoveredSpan, is_covered, log_must_be_listed};
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

/// The log keys valid digests list, as keyed 64-bit hashes: a long range's keys are not kept.
#[derive(Default)]
pub(super) struct ListedLogs {
    hashes: HashSet<u64>,
    hasher: RandomState,
}

impl ListedLogs {
    /// Records a key a valid digest lists.
    pub fn insert(&mut self, key: &str) {
        self.hashes.insert(self.hasher.hash_one(key));
    }

    fn contains(&self, key: &str) -> bool {
        self.hashes.contains(&self.hasher.hash_one(key))
    }
}

/// Unlisted log files kept per chain for the report; further ones are only counted, so that
/// millions of planted files cost time, not memory.
pub(super) const MAX_UNLISTED_KEPT: usize = 1000;

/// What the log folder held that it should not.
#[derive(Default)]
pub(super) struct Unlisted {
    pub logs: Vec<LogReport>,
    /// Unlisted log files beyond those kept, by status.
    pub logs_omitted: crate::report::Counts,
    pub foreign: Vec<ForeignObject>,
    pub foreign_omitted: u64,
}

/// Lists the chain's log folder over the window's day folders and reports every log file
/// named inside the window that `listed` does not hold, and every key that is not a log file.
pub(super) async fn find_unlisted(
    source: &dyn ObjectSource,
    layout: &ChainLayout,
    window: (DateTime<Utc>, DateTime<Utc>),
    listed: &ListedLogs,
    covered: &[CoveredSpan],
) -> Result<Unlisted, SourceError> {
    let bucket = &layout.location.bucket;
    let folder = layout.log_folder();
    let mut found = Unlisted::default();
    list_days(
        source,
        bucket,
        &layout.log_folder(),
        // A day either side: a name from inside the window filed under a neighbouring day's
        // folder is foreign too.
        window
            .0
            .date_naive()
            .pred_opt()
            .unwrap_or(window.0.date_naive()),
        window
            .1
            .date_naive()
            .succ_opt()
            .unwrap_or(window.1.date_naive()),
        |key| match layout.classify_log_folder_key(&key) {
            Ok(time) => {
                if log_must_be_listed(time, window, covered) && !listed.contains(&key) {
                    let hour_covered = is_covered(time, covered);
                    let problem = LogProblem::NotListed { hour_covered };
                    if found.logs.len() < MAX_UNLISTED_KEPT {
                        found
                            .logs
                            .push(LogReport::new(bucket, &key, Some(problem), 0));
                    } else {
                        found.logs_omitted.add(problem.status());
                    }
                }
            }
            Err(reason) if !in_listed_days(&key, &folder, window.0, window.1, reason) => {}
            Err(reason) => {
                if found.foreign.len() < MAX_FOREIGN_KEPT {
                    found.foreign.push(ForeignObject {
                        bucket: bucket.clone(),
                        key,
                        reason: reason.to_owned(),
                        status: crate::trust::verdict::foreign_object_status(),
                    });
                } else {
                    found.foreign_omitted += 1;
                }
            }
        },
    )
    .await?;
    Ok(found)
}
