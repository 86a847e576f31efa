//! Log files in a chain's folder that no valid digest lists, and objects CloudTrail does not
//! write there. Every log file named after a time in the verified window must be listed by a
//! valid digest of a trail writing to the folder; anything else in the window's day folders is
//! foreign.

use super::listing::{MAX_FOREIGN_KEPT, in_listed_days, list_days, list_days_until};
use crate::layout::ChainLayout;
use crate::report::{ForeignObject, LogProblem, LogReport};
use crate::source::{ObjectSource, SourceError};
use crate::trust::{CoveredSpan, is_covered, log_must_be_listed};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeSet, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::ops::ControlFlow;

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
        self.contains_hash(self.hasher.hash_one(key))
    }

    /// Whether a key whose hash by [`ListedLogs::hasher`] is `hash` is listed: the same answer
    /// as for the key itself.
    fn contains_hash(&self, hash: u64) -> bool {
        self.hashes.contains(&hash)
    }

    /// The keyed hasher of this set, for a listing that records keys before the walk is done.
    pub fn hasher(&self) -> RandomState {
        self.hasher.clone()
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

/// What a key of a chain's log folder is to this check.
enum Entry {
    /// A log file name of the chain, with its time.
    Log(DateTime<Utc>),
    /// Not a log file CloudTrail writes there, in the listed days: foreign.
    Foreign(&'static str),
    /// Not one, but in a neighbouring day, listed only for misfiled names: it does not count.
    Outside,
}

fn classify(layout: &ChainLayout, window: (DateTime<Utc>, DateTime<Utc>), key: &str) -> Entry {
    match layout.classify_log_folder_key(key) {
        Ok(time) => Entry::Log(time),
        Err(reason) if !in_listed_days(key, &layout.log_folder(), window.0, window.1, reason) => {
            Entry::Outside
        }
        Err(reason) => Entry::Foreign(reason),
    }
}

/// The day folders listed for `window`: a day either side, since a name from inside the window
/// filed under a neighbouring day's folder is foreign too.
fn listed_days(window: (DateTime<Utc>, DateTime<Utc>)) -> (NaiveDate, NaiveDate) {
    let (first, last) = (window.0.date_naive(), window.1.date_naive());
    (
        first.pred_opt().unwrap_or(first),
        last.succ_opt().unwrap_or(last),
    )
}

impl Unlisted {
    /// Records a log file that must be listed and is not.
    fn add_log(&mut self, bucket: &str, key: &str, problem: LogProblem) {
        if self.logs.len() < MAX_UNLISTED_KEPT {
            self.logs
                .push(LogReport::new(bucket, key, Some(problem), 0));
        } else {
            self.logs_omitted.add(problem.status());
        }
    }

    /// Records a foreign object.
    fn add_foreign(&mut self, bucket: &str, key: String, reason: &'static str) {
        if self.foreign.len() < MAX_FOREIGN_KEPT {
            self.foreign.push(ForeignObject {
                bucket: bucket.to_owned(),
                key,
                reason: reason.to_owned(),
                status: crate::trust::verdict::foreign_object_status(),
            });
        } else {
            self.foreign_omitted += 1;
        }
    }
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
    let mut found = Unlisted::default();
    let (first, last) = listed_days(window);
    list_days(
        source,
        bucket,
        &layout.log_folder(),
        first,
        last,
        |key| match classify(layout, window, &key) {
            Entry::Log(time) => {
                if log_must_be_listed(time, window, covered) && !listed.contains(&key) {
                    let hour_covered = is_covered(time, covered);
                    found.add_log(bucket, &key, LogProblem::NotListed { hour_covered });
                }
            }
            Entry::Outside => {}
            Entry::Foreign(reason) => found.add_foreign(bucket, key, reason),
        },
    )
    .await?;
    Ok(found)
}

/// Log file entries a listing made beside the walk keeps, at most (16 bytes each: 4 MiB per
/// walk); a folder holding more is listed again after the walk, as if none had been kept.
const MAX_PRELISTED: usize = 1 << 18;

/// The chain's log folder as listed while the walk goes on, before it is known which log files
/// valid digests list: each log file's time and keyed hash (not its name, so that memory stays
/// small), and the foreign objects, which do not depend on the walk.
pub(super) struct PreListed {
    /// Each log file's time (Unix seconds: names give minutes) and its hash by the walk's
    /// [`ListedLogs::hasher`].
    logs: Vec<(i64, u64)>,
    /// The foreign objects, as [`find_unlisted`] finds them.
    foreign: Unlisted,
}

/// Lists the chain's log folder over the window's day folders, as [`find_unlisted`] does,
/// before the walk is done: `None` when the folder holds more than [`MAX_PRELISTED`] log files
/// (the listing stops there).
pub(super) async fn prelist(
    source: &dyn ObjectSource,
    layout: &ChainLayout,
    window: (DateTime<Utc>, DateTime<Utc>),
    hasher: RandomState,
) -> Result<Option<PreListed>, SourceError> {
    let bucket = &layout.location.bucket;
    let mut pre = PreListed {
        logs: Vec::new(),
        foreign: Unlisted::default(),
    };
    let (first, last) = listed_days(window);
    let mut over = false;
    list_days_until(source, bucket, &layout.log_folder(), first, last, |key| {
        match classify(layout, window, &key) {
            // Names give whole minutes; any other time is kept by the listing after the walk.
            Entry::Log(time)
                if pre.logs.len() < MAX_PRELISTED && time.timestamp_subsec_nanos() == 0 =>
            {
                pre.logs.push((time.timestamp(), hasher.hash_one(&key)));
            }
            Entry::Log(_) => {
                over = true;
                return ControlFlow::Break(());
            }
            Entry::Outside => {}
            Entry::Foreign(reason) => pre.foreign.add_foreign(bucket, key, reason),
        }
        ControlFlow::Continue(())
    })
    .await?;
    Ok((!over).then_some(pre))
}

/// What [`find_unlisted`] would have found, from a listing made beside the walk: the foreign
/// objects it saw and no unlisted log file, when each log file it saw is listed by a valid
/// digest or need not be; otherwise the day folders that hold one that must be and is not,
/// which are listed again for their names ([`find_unlisted_in`]).
pub(super) fn judge_prelisted(
    pre: PreListed,
    window: (DateTime<Utc>, DateTime<Utc>),
    listed: &ListedLogs,
    covered: &[CoveredSpan],
) -> Result<Unlisted, (Unlisted, BTreeSet<NaiveDate>)> {
    let mut days = BTreeSet::new();
    for &(seconds, hash) in &pre.logs {
        let Some(time) = DateTime::from_timestamp(seconds, 0) else {
            continue;
        };
        if log_must_be_listed(time, window, covered) && !listed.contains_hash(hash) {
            days.insert(time.date_naive());
        }
    }
    if days.is_empty() {
        Ok(pre.foreign)
    } else {
        Err((pre.foreign, days))
    }
}

/// Adds to `found` the log files of the day folders `days` that must be listed by a valid
/// digest and are not, in key order, as [`find_unlisted`] reports them (a log file lies in the
/// day folder of its name's time: any other is foreign, found already).
pub(super) async fn find_unlisted_in(
    source: &dyn ObjectSource,
    layout: &ChainLayout,
    window: (DateTime<Utc>, DateTime<Utc>),
    listed: &ListedLogs,
    covered: &[CoveredSpan],
    days: &BTreeSet<NaiveDate>,
    found: &mut Unlisted,
) -> Result<(), SourceError> {
    let bucket = &layout.location.bucket;
    for &day in days {
        list_days(source, bucket, &layout.log_folder(), day, day, |key| {
            if let Entry::Log(time) = classify(layout, window, &key)
                && log_must_be_listed(time, window, covered)
                && !listed.contains(&key)
            {
                let hour_covered = is_covered(time, covered);
                found.add_log(bucket, &key, LogProblem::NotListed { hour_covered });
            }
        })
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Object, ObjectSource};
    use crate::trust::Predecessor;
    use chrono::TimeZone;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Keys in memory, listed three to a page; requests counted.
    struct Keys {
        keys: Vec<String>,
        lists: AtomicU64,
    }

    #[async_trait::async_trait]
    impl ObjectSource for Keys {
        async fn list_keys(
            &self,
            _bucket: &str,
            prefix: &str,
            start_after: Option<&str>,
        ) -> Result<Vec<String>, SourceError> {
            self.lists.fetch_add(1, Ordering::Relaxed);
            Ok(self
                .keys
                .iter()
                .filter(|k| k.starts_with(prefix) && start_after.is_none_or(|a| k.as_str() > a))
                .take(3)
                .cloned()
                .collect())
        }

        async fn list_folders(&self, _: &str, _: &str) -> Result<Vec<String>, SourceError> {
            Ok(Vec::new())
        }

        async fn get(&self, _: &str, _: &str) -> Result<Object, SourceError> {
            Err(SourceError::NotFound)
        }

        fn describe(&self) -> String {
            "keys in memory".into()
        }
    }

    fn layout() -> ChainLayout {
        crate::layout::test_chain_layout()
    }

    fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, day, hour, minute, 0).unwrap()
    }

    fn log(time: DateTime<Utc>, unique: &str) -> String {
        format!(
            "AWSLogs/111122223333/CloudTrail/us-east-1/{}/111122223333_CloudTrail_us-east-1_{}_{unique}.json.gz",
            time.format("%Y/%m/%d"),
            time.format("%Y%m%dT%H%MZ")
        )
    }

    /// What a listing beside the walk finds, judged once the walk is done, is what a listing
    /// after the walk finds: the same unlisted log files in the same order, the same foreign
    /// objects, whether nothing is unlisted or something is.
    #[tokio::test]
    async fn a_listing_beside_the_walk_finds_what_a_listing_after_it_finds() {
        let layout = layout();
        let window = (at(2, 0, 0), at(3, 12, 0));
        let covered = [CoveredSpan {
            start: at(2, 0, 0),
            end: at(3, 13, 0),
            predecessor: Predecessor::ChainStart,
        }];
        let listed_keys: Vec<String> = (0..12)
            .map(|i| {
                log(
                    at(2 + i / 6, (i % 6) * 4, 5),
                    &format!("aaaaaaaaaaaaaa{i:02}"),
                )
            })
            .collect();
        let planted = [
            log(at(2, 7, 15), "plantedplanted01"),
            log(at(3, 9, 0), "plantedplanted02"),
        ];
        let foreign = [
            "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/02/notes.txt".to_owned(),
            "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/03/x.json.gz".to_owned(),
            // A neighbouring day's junk does not count; a misfiled name does.
            "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/01/junk".to_owned(),
            format!(
                "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/04/{}",
                log(at(3, 1, 0), "misfiledmisfiled")
                    .rsplit('/')
                    .next()
                    .unwrap()
            ),
        ];
        for with_planted in [false, true] {
            let mut keys: Vec<String> = listed_keys.iter().chain(&foreign).cloned().collect();
            if with_planted {
                keys.extend(planted.iter().cloned());
            }
            keys.sort();
            let source = Keys {
                keys,
                lists: AtomicU64::new(0),
            };
            let mut listed = ListedLogs::default();
            let pre = prelist(&source, &layout, window, listed.hasher())
                .await
                .expect("listed")
                .expect("few enough to keep");
            for key in &listed_keys {
                listed.insert(key);
            }
            let after = find_unlisted(&source, &layout, window, &listed, &covered)
                .await
                .expect("listed");
            let lists_before = source.lists.load(Ordering::Relaxed);
            let beside = match judge_prelisted(pre, window, &listed, &covered) {
                Ok(found) => {
                    assert!(!with_planted, "planted log files must be found");
                    found
                }
                Err((mut found, days)) => {
                    assert!(with_planted, "nothing is unlisted");
                    assert_eq!(days.len(), 2, "only the days holding one are listed again");
                    find_unlisted_in(
                        &source, &layout, window, &listed, &covered, &days, &mut found,
                    )
                    .await
                    .expect("listed");
                    found
                }
            };
            if !with_planted {
                assert_eq!(
                    source.lists.load(Ordering::Relaxed),
                    lists_before,
                    "no second listing"
                );
            }
            let names = |u: &Unlisted| {
                (
                    u.logs
                        .iter()
                        .map(|l| (l.key.clone(), l.problem.clone()))
                        .collect::<Vec<_>>(),
                    u.foreign
                        .iter()
                        .map(|f| (f.key.clone(), f.reason.clone()))
                        .collect::<Vec<_>>(),
                )
            };
            assert_eq!(names(&beside), names(&after));
            assert_eq!(after.logs.len(), if with_planted { 2 } else { 0 });
            assert_eq!(after.foreign.len(), 3, "{:?}", after.foreign);
        }
    }
}
