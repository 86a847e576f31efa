//! Retention checks of `audit`: do the bucket's lifecycle rules delete or archive the trail's
//! log and digest files before the retention period auditors ask for, and can a deleted file be
//! recovered at all? Facts from `GetBucketLifecycleConfiguration`, `GetBucketVersioning` and
//! `GetObjectLockConfiguration`; pure verdicts over them.
//!
//! How lifecycle rules select and expire objects:
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-rules.html>. Objects in
//! S3 Glacier Flexible Retrieval and S3 Glacier Deep Archive must be restored before they can be
//! read (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/restoring-objects.html>); S3
//! Glacier Instant Retrieval is read directly
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/storage-class-intro.html>).

use cloudtrail_verify::source::{LifecycleExpiration, LifecycleFilter, LifecycleRule};

use crate::check::{CheckId, CheckStatus, Finding};
use crate::facts::Observed;

/// The retention `audit` checks against by default: twelve months of audit history, as PCI DSS
/// requirement 10.5.1 asks.
pub const DEFAULT_RETENTION_DAYS: u32 = 365;

/// `[PREFIX/]AWSLogs/`: every log file (`…/CloudTrail/…`) and digest (`…/CloudTrail-Digest/…`)
/// key of the trail starts with it.
pub fn trail_objects_prefix(prefix: Option<&str>) -> String {
    match prefix.map(|p| p.trim_end_matches('/')) {
        Some(p) if !p.is_empty() => format!("{p}/AWSLogs/"),
        _ => "AWSLogs/".to_owned(),
    }
}

/// How much of the trail's files a rule selects.
enum Reach {
    /// Its prefix covers every key of the trail.
    All,
    /// Its prefix is inside the trail's area: some of the trail's files (a region, the digests…).
    Part,
    /// Its prefix matches but other filters decide: it may apply.
    May(String),
}

fn reach(rule: &LifecycleRule, objects: &str) -> Option<Reach> {
    let prefix = rule.filter.prefix();
    let covers_all = objects.starts_with(prefix);
    if !covers_all && !prefix.starts_with(objects) {
        return None;
    }
    Some(
        if let LifecycleFilter::Unjudgeable { reason, .. } = &rule.filter {
            Reach::May(reason.clone())
        } else if covers_all {
            Reach::All
        } else {
            Reach::Part
        },
    )
}

fn scope_text(rule: &LifecycleRule, reach: &Reach) -> String {
    let prefix = match rule.filter.prefix() {
        "" => "the whole bucket".to_owned(),
        prefix => format!("prefix {prefix:?}"),
    };
    match reach {
        Reach::All => format!("({prefix})"),
        Reach::Part => format!("({prefix}, part of the trail's files)"),
        Reach::May(filters) => format!(
            "({prefix}, filtered on {filters}: may apply, as CloudTrail's files match the prefix \
             and the other filters were not checked against them)"
        ),
    }
}

/// The lifecycle verdicts: `retention_lifecycle_expiration` (Fail when an enabled rule selecting
/// the trail's files expires them, or their noncurrent versions, sooner than `retention_days`;
/// Warn when such a rule may apply because of tag or size filters) and
/// `retention_archive_transition` (Warn when an enabled rule moves them to S3 Glacier Flexible
/// Retrieval or Deep Archive). No lifecycle configuration passes both; one that cannot be read
/// (AccessDenied…) leaves both unknown. `objects` is [`trail_objects_prefix`].
pub fn lifecycle_findings(
    rules: &Observed<Vec<LifecycleRule>>,
    objects: &str,
    retention_days: u32,
) -> [Finding; 2] {
    let rules = match rules {
        Observed::Present(rules) => rules,
        Observed::Absent => {
            let text = "no lifecycle configuration (NoSuchLifecycleConfiguration): no rule \
                        expires or archives the trail's files";
            return [
                Finding::new(
                    CheckId::RetentionLifecycleExpiration,
                    CheckStatus::Pass,
                    text,
                ),
                Finding::new(CheckId::RetentionArchiveTransition, CheckStatus::Pass, text),
            ];
        }
        Observed::Unreadable(why) => {
            let text = format!("GetBucketLifecycleConfiguration failed: {why}");
            return [
                Finding::new(
                    CheckId::RetentionLifecycleExpiration,
                    CheckStatus::Unknown,
                    text.clone(),
                ),
                Finding::new(
                    CheckId::RetentionArchiveTransition,
                    CheckStatus::Unknown,
                    text,
                ),
            ];
        }
    };
    let fix = format!(
        "fix: raise the rule's expiration to at least {retention_days} days, or narrow its \
         filter so it does not select {objects}"
    );
    let (mut expire_fail, mut expire_may, mut archive) = (Vec::new(), Vec::new(), Vec::new());
    let disabled = rules.iter().filter(|r| !r.enabled).count();
    for rule in rules.iter().filter(|r| r.enabled) {
        let Some(reach) = reach(rule, objects) else {
            continue;
        };
        let scope = scope_text(rule, &reach);
        let mut expiries = Vec::new();
        match rule.expiration {
            Some(LifecycleExpiration::Days { days }) if days < retention_days => {
                expiries.push(format!(
                    "expires log and digest files after {days} days (Expiration.Days)"
                ));
            }
            Some(LifecycleExpiration::Date { date }) => {
                expiries.push(format!(
                    "expires every selected file from {} on (Expiration.Date)",
                    date.format("%Y-%m-%dT%H:%M:%SZ")
                ));
            }
            _ => {}
        }
        if let Some(days) = rule.noncurrent_days
            && days < retention_days
        {
            expiries.push(format!(
                "deletes overwritten or deleted versions after {days} days \
                 (NoncurrentVersionExpiration.NoncurrentDays)"
            ));
        }
        for what in expiries {
            let line = format!("rule {:?} {what} {scope}", rule.id);
            match reach {
                Reach::May(_) => expire_may.push(line),
                Reach::All | Reach::Part => expire_fail.push(line),
            }
        }
        for transition in &rule.transitions {
            let class = &transition.storage_class;
            if class == "GLACIER" || class == "DEEP_ARCHIVE" {
                archive.push(format!(
                    "rule {:?} moves log and digest files to {class} after {} {scope}",
                    rule.id, transition.after
                ));
            }
        }
    }
    let disabled_note = if disabled == 0 {
        String::new()
    } else {
        format!(" ({disabled} disabled rule(s) not counted)")
    };
    let expiration = if !expire_fail.is_empty() {
        Finding::new(
            CheckId::RetentionLifecycleExpiration,
            CheckStatus::Fail,
            format!(
                "{}: sooner than the {retention_days}-day retention{disabled_note}; {fix}",
                expire_fail
                    .iter()
                    .chain(&expire_may)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
    } else if !expire_may.is_empty() {
        Finding::new(
            CheckId::RetentionLifecycleExpiration,
            CheckStatus::Warn,
            format!(
                "{}: sooner than the {retention_days}-day retention{disabled_note}; {fix}",
                expire_may.join("; ")
            ),
        )
    } else {
        Finding::new(
            CheckId::RetentionLifecycleExpiration,
            CheckStatus::Pass,
            format!(
                "{} rule(s); none expires the trail's files ({objects}) sooner than \
                 {retention_days} days{disabled_note}",
                rules.len()
            ),
        )
    };
    let transition = if archive.is_empty() {
        Finding::new(
            CheckId::RetentionArchiveTransition,
            CheckStatus::Pass,
            format!("no enabled rule moves {objects} to GLACIER or DEEP_ARCHIVE"),
        )
    } else {
        Finding::new(
            CheckId::RetentionArchiveTransition,
            CheckStatus::Warn,
            format!(
                "{}: archived files must be restored (RestoreObject, hours) before ctverify or \
                 anyone can read them (fix: transition to GLACIER_IR, which is read directly, \
                 or plan restores into audits)",
                archive.join("; ")
            ),
        )
    };
    [expiration, transition]
}

/// `retention_deletion_protection`: Pass when versioning or Object Lock is on, Warn with the fix
/// when neither is, Unknown when one is off and the other could not be read. `versioning` is
/// whether `GetBucketVersioning` says `Enabled`; `object_lock` whether Object Lock is enabled.
pub fn deletion_protection_finding(
    versioning: &Observed<bool>,
    object_lock: &Observed<bool>,
) -> Finding {
    let check = CheckId::RetentionDeletionProtection;
    let on = |o: &Observed<bool>| matches!(o, Observed::Present(true));
    let off = |o: &Observed<bool>| matches!(o, Observed::Present(false) | Observed::Absent);
    if on(versioning) || on(object_lock) {
        let what: Vec<&str> = [(versioning, "versioning"), (object_lock, "Object Lock")]
            .into_iter()
            .filter(|(o, _)| on(o))
            .map(|(_, n)| n)
            .collect();
        Finding::new(
            check,
            CheckStatus::Pass,
            format!(
                "{} on: a deleted or overwritten file can be recovered",
                what.join(" and ")
            ),
        )
    } else if off(versioning) && off(object_lock) {
        Finding::new(
            check,
            CheckStatus::Warn,
            "neither versioning nor Object Lock: a deleted or overwritten log file is gone for \
             good (fix: aws s3api put-bucket-versioning --versioning-configuration \
             Status=Enabled, and Object Lock with a default retention for WORM storage)",
        )
    } else {
        let why: Vec<String> = [
            (versioning, "GetBucketVersioning"),
            (object_lock, "GetObjectLockConfiguration"),
        ]
        .into_iter()
        .filter_map(|(o, call)| match o {
            Observed::Unreadable(w) => Some(format!("{call} failed: {w}")),
            _ => None,
        })
        .collect();
        Finding::new(check, CheckStatus::Unknown, why.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::types::{
        ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleAndOperator,
        LifecycleRuleFilter, NoncurrentVersionExpiration, Tag, Transition, TransitionStorageClass,
    };

    /// The 30-day rule of the set-up guides: expire everything after 30 days.
    fn thirty_day_rule(prefix: &str) -> LifecycleRule {
        LifecycleRule::builder()
            .id("expire-30-days")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
            .expiration(LifecycleExpiration::builder().days(30).build())
            .build()
            .unwrap()
    }

    fn judge(rules: &[LifecycleRule], prefix: Option<&str>) -> [Finding; 2] {
        let facts = rules
            .iter()
            .enumerate()
            .map(|(i, r)| cloudtrail_verify::source::s3::lifecycle_rule(i, r))
            .collect();
        lifecycle_findings(
            &Observed::Present(facts),
            &trail_objects_prefix(prefix),
            365,
        )
    }

    #[test]
    fn a_whole_bucket_thirty_day_expiration_fails_and_names_the_rule() {
        let [expire, archive] = judge(&[thirty_day_rule("")], None);
        assert_eq!(expire.status, CheckStatus::Fail, "{expire:?}");
        assert!(expire.evidence.contains("expire-30-days"), "{expire:?}");
        assert!(expire.evidence.contains("fix:"), "{expire:?}");
        assert_eq!(archive.status, CheckStatus::Pass);
    }

    #[test]
    fn a_rule_whose_prefix_covers_or_is_inside_the_trail_area_applies() {
        for prefix in [
            "ct",
            "ct/AWSLogs/",
            "ct/AWSLogs/111122223333/CloudTrail-Digest/",
        ] {
            let [expire, _] = judge(&[thirty_day_rule(prefix)], Some("ct/"));
            assert_eq!(expire.status, CheckStatus::Fail, "{prefix}: {expire:?}");
        }
    }

    #[test]
    fn a_rule_for_another_prefix_does_not_apply() {
        let [expire, _] = judge(&[thirty_day_rule("tmp/")], Some("ct"));
        assert_eq!(expire.status, CheckStatus::Pass, "{expire:?}");
        let [expire, _] = judge(&[thirty_day_rule("AWSLogs/")], Some("ct"));
        assert_eq!(expire.status, CheckStatus::Pass, "{expire:?}");
    }

    #[test]
    fn the_legacy_prefix_and_the_and_prefix_are_read() {
        #[allow(deprecated)]
        let legacy = LifecycleRule::builder()
            .id("legacy")
            .status(ExpirationStatus::Enabled)
            .prefix("AWSLogs/")
            .expiration(LifecycleExpiration::builder().days(90).build())
            .build()
            .unwrap();
        let and = LifecycleRule::builder()
            .id("and")
            .status(ExpirationStatus::Enabled)
            .filter(
                LifecycleRuleFilter::builder()
                    .and(LifecycleRuleAndOperator::builder().prefix("other/").build())
                    .build(),
            )
            .expiration(LifecycleExpiration::builder().days(90).build())
            .build()
            .unwrap();
        let [expire, _] = judge(&[legacy, and], None);
        assert_eq!(expire.status, CheckStatus::Fail);
        assert!(expire.evidence.contains("legacy") && !expire.evidence.contains("\"and\""));
    }

    #[test]
    fn disabled_rules_and_long_enough_expirations_pass() {
        let mut disabled = thirty_day_rule("");
        disabled.status = ExpirationStatus::Disabled;
        let long = LifecycleRule::builder()
            .id("seven-years")
            .status(ExpirationStatus::Enabled)
            .expiration(LifecycleExpiration::builder().days(2557).build())
            .build()
            .unwrap();
        let [expire, _] = judge(&[disabled, long], None);
        assert_eq!(expire.status, CheckStatus::Pass, "{expire:?}");
        assert!(expire.evidence.contains("1 disabled"), "{expire:?}");
    }

    #[test]
    fn a_short_noncurrent_version_expiration_fails() {
        let rule = LifecycleRule::builder()
            .id("noncurrent")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .noncurrent_version_expiration(
                NoncurrentVersionExpiration::builder()
                    .noncurrent_days(7)
                    .build(),
            )
            .build()
            .unwrap();
        let [expire, _] = judge(&[rule], None);
        assert_eq!(expire.status, CheckStatus::Fail);
        assert!(expire.evidence.contains("NoncurrentDays"), "{expire:?}");
    }

    #[test]
    fn a_tag_filtered_rule_may_apply_and_warns_saying_so() {
        let rule = LifecycleRule::builder()
            .id("tagged")
            .status(ExpirationStatus::Enabled)
            .filter(
                LifecycleRuleFilter::builder()
                    .tag(Tag::builder().key("tier").value("tmp").build().unwrap())
                    .build(),
            )
            .expiration(LifecycleExpiration::builder().days(30).build())
            .build()
            .unwrap();
        let [expire, _] = judge(&[rule], None);
        assert_eq!(expire.status, CheckStatus::Warn, "{expire:?}");
        assert!(expire.evidence.contains("may apply"), "{expire:?}");
    }

    #[test]
    fn glacier_and_deep_archive_transitions_warn_but_glacier_ir_does_not() {
        let rule = |class: TransitionStorageClass| {
            LifecycleRule::builder()
                .id("archive")
                .status(ExpirationStatus::Enabled)
                .filter(LifecycleRuleFilter::builder().prefix("").build())
                .transitions(Transition::builder().days(90).storage_class(class).build())
                .build()
                .unwrap()
        };
        for class in [
            TransitionStorageClass::Glacier,
            TransitionStorageClass::DeepArchive,
        ] {
            let [expire, archive] = judge(&[rule(class)], None);
            assert_eq!(expire.status, CheckStatus::Pass);
            assert_eq!(archive.status, CheckStatus::Warn, "{archive:?}");
            assert!(
                archive.evidence.contains("\"archive\"") && archive.evidence.contains("90 days")
            );
        }
        let [_, archive] = judge(&[rule(TransitionStorageClass::GlacierIr)], None);
        assert_eq!(archive.status, CheckStatus::Pass, "{archive:?}");
    }

    #[test]
    fn no_lifecycle_configuration_passes_and_an_unreadable_one_is_unknown() {
        let [a, b] = lifecycle_findings(&Observed::Absent, "AWSLogs/", 365);
        assert_eq!((a.status, b.status), (CheckStatus::Pass, CheckStatus::Pass));
        let denied = Observed::Unreadable("AccessDenied: Access Denied".into());
        let [a, b] = lifecycle_findings(&denied, "AWSLogs/", 365);
        assert_eq!(
            (a.status, b.status),
            (CheckStatus::Unknown, CheckStatus::Unknown)
        );
    }

    #[test]
    fn neither_versioning_nor_object_lock_warns_with_the_fix() {
        let f = deletion_protection_finding(&Observed::Present(false), &Observed::Absent);
        assert_eq!(f.status, CheckStatus::Warn);
        assert!(f.evidence.contains("fix:"));
        let f = deletion_protection_finding(&Observed::Present(true), &Observed::Absent);
        assert_eq!(f.status, CheckStatus::Pass);
        let f = deletion_protection_finding(
            &Observed::Unreadable("x".into()),
            &Observed::Present(false),
        );
        assert_eq!(f.status, CheckStatus::Unknown);
    }
}
