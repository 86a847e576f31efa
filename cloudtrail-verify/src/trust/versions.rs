//! What an object's S3 version history proves, with no I/O.
//!
//! On a versioned bucket S3 keeps every version of a key and places a delete marker instead of
//! deleting ("Retaining multiple versions of objects with S3 Versioning",
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/Versioning.html>). CloudTrail writes
//! each digest and log file once, so:
//! - the version CloudTrail wrote is the oldest one that is not a delete marker;
//! - every later version is an overwrite after delivery, every later delete marker a deletion
//!   after delivery: both evidence of tampering (invalid), whatever the original proves. The
//!   original's own verification is reported beside the verdict, never instead of it;
//! - a delete marker a lifecycle rule of the bucket would have placed by then (its `Expiration`
//!   applies to current versions of a versioned bucket by adding a delete marker) is the bucket's
//!   configuration, not a finding; the missing current object is judged as expired elsewhere.
//!   The marker's `LastModified` (set by S3, not by the writer) is the time the current version
//!   expired; when a `NoncurrentVersionExpiration` rule has since removed the expired version,
//!   only the marker is left ("Expiring objects",
//!   <https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-expire-general-considerations.html>),
//!   and the object's creation is then bounded by the time its CloudTrail name gives instead
//!   (a log file is named after the minute it was delivered, a digest after the end of the
//!   hour it covers: "CloudTrail log file name format",
//!   <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-examples.html>).
//!
//! Threat model: a writer with s3:PutObject and s3:DeleteObject leaves versions and markers
//! behind, which this finds. One who also has s3:DeleteObjectVersion can remove versions,
//! CloudTrail's included, so the oldest surviving version may be theirs: it is then only as
//! good as its verification (a digest's signature, a log file's hash in a valid digest), which
//! is why an original is verified, never assumed.

use super::lifecycle::{LifecycleRule, lifecycle_excuse};
use crate::findings::VersionProblem;
use chrono::{DateTime, Utc};

pub use crate::source::ObjectVersion;

/// What a key's history comes to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersionJudgement {
    /// The version CloudTrail wrote (the oldest that is not a delete marker).
    pub original: Option<ObjectVersion>,
    /// What happened after it, oldest first.
    pub problems: Vec<VersionProblem>,
}

/// Judges one key's history. `versions` is in ListObjectVersions order (newest first; entries
/// with the same `LastModified` keep that order). `rules` are the bucket's lifecycle rules.
/// `named_at` is the time the key's CloudTrail name gives (a digest's end, the minute a log
/// file was delivered), `None` for a key CloudTrail does not write: the object was created no
/// earlier, which is what a lone delete marker is judged by.
pub fn judge_versions(
    key: &str,
    versions: &[ObjectVersion],
    rules: &[LifecycleRule],
    named_at: Option<DateTime<Utc>>,
) -> VersionJudgement {
    // Oldest first; a stable sort of the reversed listing keeps S3's order among equal times.
    let mut history: Vec<&ObjectVersion> = versions.iter().rev().collect();
    history.sort_by_key(|v| v.last_modified);
    let Some(first) = history.iter().position(|v| !v.delete_marker) else {
        // Only delete markers: the object is gone and its versions with it (that needs
        // s3:DeleteObjectVersion), or lifecycle rules expired the current version (placing the
        // marker, at the time it expired) and then removed it once noncurrent. Each marker is a
        // deletion unless a rule would have expired the object by the marker's time, counted
        // from the time its name gives; a key without one gets no excuse (the marker's own time
        // is the latest it can have been written, and no rule expires an object at once).
        let problems = history
            .iter()
            .filter(|m| {
                let created = named_at.unwrap_or(m.last_modified).min(m.last_modified);
                lifecycle_excuse(rules, key, created, m.last_modified).is_none()
            })
            .map(|m| VersionProblem::Deleted {
                version_id: m.version_id.clone(),
                at: m.last_modified,
            })
            .collect();
        return VersionJudgement {
            original: None,
            problems,
        };
    };
    let original = history[first].clone();
    let problems = history[first + 1..]
        .iter()
        .filter_map(|v| {
            if v.delete_marker {
                // Placed by a rule only when the rule's age had passed since the original was
                // written, at the marker's time.
                let excused =
                    lifecycle_excuse(rules, key, original.last_modified, v.last_modified).is_some();
                (!excused).then(|| VersionProblem::Deleted {
                    version_id: v.version_id.clone(),
                    at: v.last_modified,
                })
            } else {
                Some(VersionProblem::Overwritten {
                    version_id: v.version_id.clone(),
                    at: v.last_modified,
                })
            }
        })
        .collect();
    VersionJudgement {
        original: Some(original),
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::lifecycle::{LifecycleExpiration, LifecycleFilter};

    fn t(hour: u32) -> DateTime<Utc> {
        format!("2026-01-01T{hour:02}:00:00Z").parse().unwrap()
    }
    fn v(id: &str, hour: u32) -> ObjectVersion {
        ObjectVersion {
            version_id: id.into(),
            last_modified: t(hour),
            delete_marker: false,
        }
    }
    fn marker(id: &str, hour: u32) -> ObjectVersion {
        ObjectVersion {
            delete_marker: true,
            ..v(id, hour)
        }
    }
    fn overwritten(id: &str, hour: u32) -> VersionProblem {
        VersionProblem::Overwritten {
            version_id: id.into(),
            at: t(hour),
        }
    }
    fn deleted(id: &str, hour: u32) -> VersionProblem {
        VersionProblem::Deleted {
            version_id: id.into(),
            at: t(hour),
        }
    }

    #[test]
    fn the_oldest_version_is_cloudtrails_and_everything_after_it_is_a_finding() {
        type Case<'a> = (
            &'a str,
            Vec<ObjectVersion>,
            Option<&'a str>,
            Vec<VersionProblem>,
        );
        let cases: Vec<Case> = vec![
            ("one version", vec![v("a", 1)], Some("a"), vec![]),
            (
                "overwritten",
                vec![v("b", 2), v("a", 1)],
                Some("a"),
                vec![overwritten("b", 2)],
            ),
            (
                "listing order does not matter",
                vec![v("a", 1), v("b", 2)],
                Some("a"),
                vec![overwritten("b", 2)],
            ),
            (
                "deleted",
                vec![marker("m", 3), v("a", 1)],
                Some("a"),
                vec![deleted("m", 3)],
            ),
            (
                "overwritten, deleted, written again",
                vec![v("c", 5), marker("m", 4), v("b", 2), v("a", 1)],
                Some("a"),
                vec![overwritten("b", 2), deleted("m", 4), overwritten("c", 5)],
            ),
            (
                "markers before the first version are not about it",
                vec![v("a", 2), marker("m", 1)],
                Some("a"),
                vec![],
            ),
            (
                "only a marker left: deleted, original gone",
                vec![marker("m", 3)],
                None,
                vec![deleted("m", 3)],
            ),
            (
                "same time: S3's newest-first order decides",
                vec![v("b", 1), v("a", 1)],
                Some("a"),
                vec![overwritten("b", 1)],
            ),
            ("nothing listed", vec![], None, vec![]),
        ];
        for (name, versions, original, problems) in cases {
            let judged = judge_versions("AWSLogs/k", &versions, &[], None);
            assert_eq!(
                judged.original.as_ref().map(|o| o.version_id.as_str()),
                original,
                "{name}"
            );
            assert_eq!(judged.problems, problems, "{name}");
            assert!(
                judged
                    .problems
                    .iter()
                    .all(|p| crate::trust::version_problem_status(p)
                        == crate::findings::Status::Invalid),
                "{name}"
            );
        }
    }

    #[test]
    fn a_delete_marker_is_excused_only_when_a_rule_would_have_placed_it_by_then() {
        let rules = [LifecycleRule {
            id: "expire".into(),
            enabled: true,
            filter: LifecycleFilter::Prefix {
                prefix: "AWSLogs/".into(),
            },
            expiration: Some(LifecycleExpiration::Days { days: 1 }),
            noncurrent_days: None,
            transitions: Vec::new(),
        }];
        let late = ObjectVersion {
            last_modified: t(1) + chrono::TimeDelta::days(3),
            ..marker("m", 1)
        };
        let judged = judge_versions("AWSLogs/k", &[late, v("a", 1)], &rules, None);
        assert_eq!(judged.problems, vec![]);
        // An hour after delivery no one-day rule has acted: a deletion.
        let judged = judge_versions("AWSLogs/k", &[marker("m", 2), v("a", 1)], &rules, None);
        assert_eq!(judged.problems, vec![deleted("m", 2)]);
        // A rule for other keys excuses nothing.
        let late = ObjectVersion {
            last_modified: t(1) + chrono::TimeDelta::days(3),
            ..marker("m", 1)
        };
        let judged = judge_versions("other/k", &[late.clone(), v("a", 1)], &rules, None);
        assert_eq!(judged.problems.len(), 1);
    }

    /// Expiration then NoncurrentVersionExpiration leave a lone marker, placed when the current
    /// version expired: excused when a rule would have expired the object by then, counted
    /// from the time its name gives; a marker on an object younger than the rule's age, or on
    /// a key with no CloudTrail time, stays a deletion.
    #[test]
    fn lone_markers_after_lifecycle_are_excused_by_the_time_the_current_version_expired() {
        let rules = [LifecycleRule {
            id: "expire".into(),
            enabled: true,
            filter: LifecycleFilter::Prefix {
                prefix: "AWSLogs/".into(),
            },
            expiration: Some(LifecycleExpiration::Days { days: 1 }),
            noncurrent_days: None,
            transitions: Vec::new(),
        }];
        let days = |n: i64| t(1) + chrono::TimeDelta::days(n);
        let lone = |at| ObjectVersion {
            last_modified: at,
            ..marker("m", 1)
        };
        // Named at 01:00 on day 0, expired (marker) on day 3: the rule had acted by then.
        let judged = judge_versions("AWSLogs/k", &[lone(days(3))], &rules, Some(t(1)));
        assert_eq!(judged.original, None);
        assert_eq!(judged.problems, vec![]);
        // The same marker an hour after the object's time: no one-day rule acted, a deletion.
        let at = t(2);
        let judged = judge_versions("AWSLogs/k", &[lone(at)], &rules, Some(t(1)));
        assert_eq!(judged.problems, vec![deleted("m", 2)]);
        // Just before the earliest expiry (day 0 + 1 day, rounded up to midnight): a deletion.
        let eve = t(0) + chrono::TimeDelta::days(2) - chrono::TimeDelta::seconds(1);
        let judged = judge_versions("AWSLogs/k", &[lone(eve)], &rules, Some(t(1)));
        assert_eq!(judged.problems.len(), 1);
        // No time from the name: the marker's own, which no rule excuses.
        let judged = judge_versions("AWSLogs/k", &[lone(days(30))], &rules, None);
        assert_eq!(judged.problems.len(), 1);
        // A name claiming a time after the marker proves nothing older than the marker.
        let judged = judge_versions("AWSLogs/k", &[lone(days(3))], &rules, Some(days(5)));
        assert_eq!(judged.problems.len(), 1);
        // Without a rule for the key, nothing is excused.
        let judged = judge_versions("other/k", &[lone(days(3))], &rules, Some(t(1)));
        assert_eq!(judged.problems.len(), 1);
    }
}
