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
//!
//! Threat model: a writer with s3:PutObject and s3:DeleteObject leaves versions and markers
//! behind, which this finds. One who also has s3:DeleteObjectVersion can remove versions,
//! CloudTrail's included, so the oldest surviving version may be theirs: it is then only as
//! good as its verification (a digest's signature, a log file's hash in a valid digest), which
//! is why an original is verified, never assumed.

use super::lifecycle::{LifecycleRule, lifecycle_excuse};
use crate::findings::VersionProblem;
use chrono::{DateTime, Utc};

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
pub fn judge_versions(
    key: &str,
    versions: &[ObjectVersion],
    rules: &[LifecycleRule],
) -> VersionJudgement {
    // Oldest first; a stable sort of the reversed listing keeps S3's order among equal times.
    let mut history: Vec<&ObjectVersion> = versions.iter().rev().collect();
    history.sort_by_key(|v| v.last_modified);
    let Some(first) = history.iter().position(|v| !v.delete_marker) else {
        // Only delete markers: the object is gone and its versions with it (that needs
        // s3:DeleteObjectVersion), or a lifecycle rule removed the expired version. Each
        // marker is a deletion unless a rule explains it; when nothing is left, the marker's
        // own time is the latest the object can have been written.
        let problems = history
            .iter()
            .filter(|m| lifecycle_excuse(rules, key, m.last_modified, m.last_modified).is_none())
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
            let judged = judge_versions("AWSLogs/k", &versions, &[]);
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
        }];
        let late = ObjectVersion {
            last_modified: t(1) + chrono::TimeDelta::days(3),
            ..marker("m", 1)
        };
        let judged = judge_versions("AWSLogs/k", &[late, v("a", 1)], &rules);
        assert_eq!(judged.problems, vec![]);
        // An hour after delivery no one-day rule has acted: a deletion.
        let judged = judge_versions("AWSLogs/k", &[marker("m", 2), v("a", 1)], &rules);
        assert_eq!(judged.problems, vec![deleted("m", 2)]);
        // A rule for other keys excuses nothing.
        let late = ObjectVersion {
            last_modified: t(1) + chrono::TimeDelta::days(3),
            ..marker("m", 1)
        };
        let judged = judge_versions("other/k", &[late.clone(), v("a", 1)], &rules);
        assert_eq!(judged.problems.len(), 1);
    }
}
