//! Whether an S3 lifecycle rule explains a missing object. Pure: the bucket's rules come in as
//! plain facts (the S3 source reads them with GetBucketLifecycleConfiguration), and the answer
//! only ever turns "deleted" (invalid) into "expired" (unverifiable), never into valid.
//!
//! S3's rules ("Expiring objects" and "Lifecycle configuration elements" in the Amazon S3 User
//! Guide, <https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-expire-general-considerations.html>,
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-rules.html>):
//! - `Expiration.Days`: an object expires at its creation time plus the days, rounded up to the
//!   next midnight UTC. S3 removes it asynchronously after that, possibly a day or more late, but
//!   never before: an object missing before the earliest time it can expire was deleted.
//! - `Expiration.Date`: objects the rule selects expire from that date (midnight UTC) on.
//! - A rule applies only when `Status` is `Enabled` and its filter selects the object. A filter
//!   on tags or object size cannot be judged for an object that is gone (its tags and size are
//!   unknown), so such a rule explains nothing.
//!
//! Setting a rule needs `s3:PutLifecycleConfiguration` on the bucket: whoever can only write
//! objects cannot make one up, so the excuse gives them nothing to hide behind.

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use serde::Serialize;

pub use crate::source::{LifecycleExpiration, LifecycleFilter, LifecycleRule};

/// Why a missing object is taken as expired rather than deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LifecycleExcuse {
    /// The rule that expired it.
    pub rule_id: String,
    /// The rule's expiration age in days (`None` for a rule with a date).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// The rule's expiration date (`None` for a rule with days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<DateTime<Utc>>,
}

/// The earliest time S3 may expire an object created at `created` under `expiration`.
pub fn earliest_expiry(expiration: LifecycleExpiration, created: DateTime<Utc>) -> DateTime<Utc> {
    match expiration {
        LifecycleExpiration::Date { date } => date,
        LifecycleExpiration::Days { days } => {
            let due = created
                .checked_add_signed(TimeDelta::days(i64::from(days)))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            // Rounded up to the next midnight UTC; a time already at midnight still waits a
            // whole day, the later of the two readings.
            due.date_naive()
                .succ_opt()
                .map_or(DateTime::<Utc>::MAX_UTC, |d| {
                    d.and_time(NaiveTime::MIN).and_utc()
                })
        }
    }
}

/// Whether a rule of `rules` explains that the object `key` of the rules' bucket is missing at
/// `now`, given that it was created no earlier than `created_no_earlier_than` (a digest's end,
/// the start of the digest listing a log file: signed times that precede the object's
/// creation). The first rule that does, or `None`: then the object was deleted.
pub fn lifecycle_excuse(
    rules: &[LifecycleRule],
    key: &str,
    created_no_earlier_than: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<LifecycleExcuse> {
    rules
        .iter()
        .filter(|rule| rule.enabled)
        .filter(|rule| match &rule.filter {
            LifecycleFilter::Prefix { prefix } => key.starts_with(prefix.as_str()),
            LifecycleFilter::Unjudgeable { .. } => false,
        })
        .find_map(|rule| {
            let expiration = rule.expiration?;
            (now >= earliest_expiry(expiration, created_no_earlier_than)).then(|| {
                let (days, date) = match expiration {
                    LifecycleExpiration::Days { days } => (Some(days), None),
                    LifecycleExpiration::Date { date } => (None, Some(date)),
                };
                LifecycleExcuse {
                    rule_id: rule.id.clone(),
                    days,
                    date,
                }
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const KEY: &str = "logs/AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/01/01/x.json.gz";

    fn at(d: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, d, h, m, s).unwrap()
    }

    fn rule(id: &str, filter: LifecycleFilter, days: u32) -> LifecycleRule {
        LifecycleRule {
            id: id.into(),
            enabled: true,
            filter,
            expiration: Some(LifecycleExpiration::Days { days }),
            noncurrent_days: None,
            transitions: Vec::new(),
        }
    }

    fn prefix(p: &str) -> LifecycleFilter {
        LifecycleFilter::Prefix { prefix: p.into() }
    }

    #[test]
    fn days_round_up_to_the_next_midnight_and_never_earlier() {
        // Created 2026-01-01 10:30, 3 days: due 01-04 10:30, expires from 01-05 00:00.
        let rules = [rule("expire-90", prefix("logs/"), 3)];
        let created = at(1, 10, 30, 0);
        assert_eq!(
            earliest_expiry(LifecycleExpiration::Days { days: 3 }, created),
            at(5, 0, 0, 0)
        );
        // Just inside the retained window: deleted, not expired.
        assert_eq!(
            lifecycle_excuse(&rules, KEY, created, at(4, 23, 59, 59)),
            None
        );
        // Just past the age with its margin: expired under the rule.
        assert_eq!(
            lifecycle_excuse(&rules, KEY, created, at(5, 0, 0, 0)),
            Some(LifecycleExcuse {
                rule_id: "expire-90".into(),
                days: Some(3),
                date: None
            })
        );
        // Exactly N days after creation is not enough.
        assert_eq!(
            lifecycle_excuse(&rules, KEY, created, at(4, 10, 30, 0)),
            None
        );
        // Created at midnight: the later reading, a whole day more.
        assert_eq!(
            earliest_expiry(LifecycleExpiration::Days { days: 1 }, at(1, 0, 0, 0)),
            at(3, 0, 0, 0)
        );
    }

    #[test]
    fn a_disabled_rule_explains_nothing() {
        let mut disabled = rule("off", prefix(""), 1);
        disabled.enabled = false;
        assert_eq!(
            lifecycle_excuse(&[disabled], KEY, at(1, 0, 0, 0), at(30, 0, 0, 0)),
            None
        );
    }

    #[test]
    fn a_tag_or_size_filter_explains_nothing() {
        let tagged = rule(
            "tagged",
            LifecycleFilter::Unjudgeable {
                prefix: String::new(),
                reason: "tag class=archive".into(),
            },
            1,
        );
        assert_eq!(
            lifecycle_excuse(&[tagged], KEY, at(1, 0, 0, 0), at(30, 0, 0, 0)),
            None
        );
    }

    #[test]
    fn a_prefix_must_select_the_key() {
        let rules = [
            rule("other", prefix("other/"), 1),
            rule("case", prefix("Logs/"), 1),
        ];
        assert_eq!(
            lifecycle_excuse(&rules, KEY, at(1, 0, 0, 0), at(30, 0, 0, 0)),
            None
        );
        // An empty prefix (no filter) selects every object; the first rule that explains wins.
        let rules = [
            rule("other", prefix("other/"), 1),
            rule("young", prefix(""), 60),
            rule("all", prefix(""), 2),
        ];
        assert_eq!(
            lifecycle_excuse(&rules, KEY, at(1, 0, 0, 0), at(30, 0, 0, 0)).map(|e| e.rule_id),
            Some("all".into())
        );
    }

    #[test]
    fn a_rule_without_expiration_explains_nothing() {
        let mut transition_only = rule("glacier", prefix(""), 1);
        transition_only.expiration = None;
        assert_eq!(
            lifecycle_excuse(&[transition_only], KEY, at(1, 0, 0, 0), at(30, 0, 0, 0)),
            None
        );
    }

    #[test]
    fn a_date_rule_expires_from_its_date_on() {
        let rules = [LifecycleRule {
            id: "cutoff".into(),
            enabled: true,
            filter: prefix("logs/"),
            expiration: Some(LifecycleExpiration::Date {
                date: at(10, 0, 0, 0),
            }),
            noncurrent_days: None,
            transitions: Vec::new(),
        }];
        assert_eq!(
            lifecycle_excuse(&rules, KEY, at(1, 0, 0, 0), at(9, 23, 59, 59)),
            None
        );
        assert_eq!(
            lifecycle_excuse(&rules, KEY, at(1, 0, 0, 0), at(10, 0, 0, 0)),
            Some(LifecycleExcuse {
                rule_id: "cutoff".into(),
                days: None,
                date: Some(at(10, 0, 0, 0))
            })
        );
    }

    #[test]
    fn huge_ages_do_not_overflow() {
        let rules = [rule("forever", prefix(""), u32::MAX)];
        assert_eq!(
            lifecycle_excuse(&rules, KEY, at(1, 0, 0, 0), at(30, 0, 0, 0)),
            None
        );
    }
}
