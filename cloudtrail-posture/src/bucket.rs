//! The trail's bucket in `audit`: `gather` reads every setting once into [`BucketFacts`];
//! [`bucket_findings`] judges them without calling anything. A setting that could not be read is
//! an `Unknown` finding with the reason, never a pass.
//!
//! The settings are those of "Security best practices in AWS CloudTrail"
//! (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/best-practices-security.html>)
//! and Security Hub's CloudTrail controls
//! (<https://docs.aws.amazon.com/securityhub/latest/userguide/cloudtrail-controls.html>).

use aws_sdk_s3::types::{BucketVersioningStatus, ObjectLockEnabled};

use crate::check::{CheckId, CheckStatus, Finding};
use crate::facts::Observed;
use crate::policy::Policy;
use crate::requirements::{self, Delivery};
use crate::retention;
use crate::sdk;
use crate::verdict;

/// The bucket's four Block Public Access settings (`GetPublicAccessBlock`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublicAccessBlock {
    /// `BlockPublicAcls`.
    pub block_public_acls: bool,
    /// `IgnorePublicAcls`: public ACLs have no effect.
    pub ignore_public_acls: bool,
    /// `BlockPublicPolicy`.
    pub block_public_policy: bool,
    /// `RestrictPublicBuckets`: a public policy grants only AWS services and the owner.
    pub restrict_public_buckets: bool,
}

/// `GetBucketVersioning`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersioningFacts {
    /// `Enabled`, `Suspended`, or `None` when versioning was never enabled.
    pub status: Option<BucketVersioningStatus>,
    /// `MFADelete`, if reported.
    pub mfa_delete: Option<String>,
}

/// `GetObjectLockConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectLockFacts {
    /// `ObjectLockEnabled` is `Enabled`.
    pub enabled: bool,
    /// The default retention (`GOVERNANCE 365 days`…), if any.
    pub default_retention: Option<String>,
}

/// Everything `audit` reads about the trail's bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketFacts {
    /// Bucket name.
    pub bucket: String,
    /// The bucket policy's JSON text.
    pub policy: Observed<String>,
    /// Block Public Access.
    pub public_access_block: Observed<PublicAccessBlock>,
    /// ACL grants to everyone or to every AWS user, described (`READ to AllUsers`).
    pub public_acl_grants: Observed<Vec<String>>,
    /// Versioning.
    pub versioning: Observed<VersioningFacts>,
    /// Default-encryption rules, described (`aws:kms with KEY`); empty: a configuration
    /// without a default-encryption rule.
    pub default_encryption: Observed<Vec<String>>,
    /// Where server access logs go (`s3://BUCKET/PREFIX`), `None` when logging is off.
    pub access_logging: Observed<Option<String>>,
    /// Object Lock.
    pub object_lock: Observed<ObjectLockFacts>,
    /// Lifecycle rules.
    pub lifecycle: Observed<Vec<cloudtrail_verify::source::LifecycleRule>>,
}

const PUBLIC_GROUPS: [&str; 2] = [
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
];

/// Reads the bucket's settings with `s3`, a client in the bucket's region.
pub(crate) async fn gather(s3: &aws_sdk_s3::Client, bucket: &str) -> BucketFacts {
    let public_access_block = sdk::observe(
        s3.get_public_access_block().bucket(bucket).send().await,
        &["NoSuchPublicAccessBlockConfiguration"],
    )
    .map(|out| {
        out.public_access_block_configuration()
            .map(|c| PublicAccessBlock {
                block_public_acls: c.block_public_acls().unwrap_or(false),
                ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
                block_public_policy: c.block_public_policy().unwrap_or(false),
                restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
            })
            .unwrap_or_default()
    });
    let public_acl_grants =
        sdk::observe(s3.get_bucket_acl().bucket(bucket).send().await, &[]).map(|acl| {
            acl.grants()
                .iter()
                .filter_map(|g| {
                    let uri = g.grantee()?.uri()?;
                    PUBLIC_GROUPS.contains(&uri).then(|| {
                        format!(
                            "{} to {}",
                            g.permission().map_or("(no permission)", |p| p.as_str()),
                            uri.rsplit('/').next().unwrap_or(uri)
                        )
                    })
                })
                .collect()
        });
    let versioning =
        sdk::observe(s3.get_bucket_versioning().bucket(bucket).send().await, &[]).map(|out| {
            VersioningFacts {
                status: out.status().cloned(),
                mfa_delete: out.mfa_delete().map(|m| m.as_str().to_owned()),
            }
        });
    let default_encryption = sdk::observe(
        s3.get_bucket_encryption().bucket(bucket).send().await,
        &["ServerSideEncryptionConfigurationNotFoundError"],
    )
    .map(|out| {
        out.server_side_encryption_configuration()
            .map(|c| c.rules())
            .unwrap_or_default()
            .iter()
            .filter_map(|r| r.apply_server_side_encryption_by_default())
            .map(|d| match d.kms_master_key_id() {
                Some(k) => format!("{} with {k}", d.sse_algorithm().as_str()),
                None => d.sse_algorithm().as_str().to_owned(),
            })
            .collect()
    });
    let access_logging = sdk::observe(s3.get_bucket_logging().bucket(bucket).send().await, &[])
        .map(|out| {
            out.logging_enabled()
                .map(|l| format!("s3://{}/{}", l.target_bucket(), l.target_prefix()))
        });
    let object_lock = sdk::observe(
        s3.get_object_lock_configuration()
            .bucket(bucket)
            .send()
            .await,
        &["ObjectLockConfigurationNotFoundError"],
    )
    .map(|out| {
        let conf = out.object_lock_configuration();
        ObjectLockFacts {
            enabled: conf.and_then(|c| c.object_lock_enabled())
                == Some(&ObjectLockEnabled::Enabled),
            default_retention: conf
                .and_then(|c| c.rule())
                .and_then(|r| r.default_retention())
                .map(|r| {
                    format!(
                        "{} {}",
                        r.mode().map_or("(no mode)", |m| m.as_str()),
                        match (r.days(), r.years()) {
                            (Some(d), _) => format!("{d} days"),
                            (None, Some(y)) => format!("{y} years"),
                            (None, None) => "(no period)".to_owned(),
                        }
                    )
                }),
        }
    });
    BucketFacts {
        bucket: bucket.to_owned(),
        policy: sdk::bucket_policy(s3, bucket).await,
        public_access_block,
        public_acl_grants,
        versioning,
        default_encryption,
        access_logging,
        object_lock,
        lifecycle: sdk::lifecycle_rules(s3, bucket).await,
    }
}

/// Every bucket check, in report order.
pub(crate) const BUCKET_CHECKS: [CheckId; 10] = [
    CheckId::BucketNotPublic,
    CheckId::BucketPolicyAllowsDelivery,
    CheckId::BucketPolicyLeastPrivilege,
    CheckId::BucketVersioning,
    CheckId::BucketDefaultEncryption,
    CheckId::BucketAccessLogging,
    CheckId::BucketObjectLock,
    CheckId::RetentionDeletionProtection,
    CheckId::RetentionLifecycleExpiration,
    CheckId::RetentionArchiveTransition,
];

/// Judges the bucket: one finding per entry of the bucket checks. `delivery` is how CloudTrail
/// writes today (`None` when the trail's ARN could not be parsed: the policy checks are then
/// unknown); `trail_prefix` the trail's key prefix; `retention_days` the retention asked for.
pub fn bucket_findings(
    facts: &BucketFacts,
    delivery: Option<&Delivery<'_>>,
    trail_prefix: Option<&str>,
    retention_days: u32,
) -> Vec<Finding> {
    let mut findings = vec![not_public_finding(facts)];
    match delivery {
        Some(d) => {
            findings.push(verdict::bucket_policy_verdict(&facts.policy, d));
            findings.push(verdict::least_privilege_verdict(&facts.policy, d));
        }
        None => {
            for check in [
                CheckId::BucketPolicyAllowsDelivery,
                CheckId::BucketPolicyLeastPrivilege,
            ] {
                findings.push(Finding::new(
                    check,
                    CheckStatus::Unknown,
                    "the trail's ARN could not be parsed, so CloudTrail's requests cannot be \
                     modelled",
                ));
            }
        }
    }
    findings.push(versioning_finding(&facts.versioning));
    findings.push(encryption_finding(&facts.default_encryption));
    findings.push(logging_finding(&facts.access_logging));
    findings.push(object_lock_finding(&facts.object_lock));
    let versioning_on = facts
        .versioning
        .clone()
        .map(|v| v.status == Some(BucketVersioningStatus::Enabled));
    let lock_on = facts.object_lock.clone().map(|l| l.enabled);
    findings.push(retention::deletion_protection_finding(
        &versioning_on,
        &lock_on,
    ));
    findings.extend(retention::lifecycle_findings(
        &facts.lifecycle,
        &retention::trail_objects_prefix(trail_prefix),
        retention_days,
    ));
    findings
}

/// The bucket checks when the bucket's region (so the bucket) could not be read.
pub(crate) fn unreadable_bucket_findings(bucket: &str, why: &str) -> Vec<Finding> {
    BUCKET_CHECKS
        .iter()
        .map(|c| {
            Finding::new(
                *c,
                CheckStatus::Unknown,
                format!("GetBucketLocation {bucket} failed: {why}"),
            )
        })
        .collect()
}

fn versioning_finding(versioning: &Observed<VersioningFacts>) -> Finding {
    let check = CheckId::BucketVersioning;
    match versioning {
        Observed::Present(v) => {
            let mfa = v
                .mfa_delete
                .as_deref()
                .map_or("MFA delete not reported".to_owned(), |m| {
                    format!("MFA delete {m}")
                });
            match &v.status {
                Some(BucketVersioningStatus::Enabled) => Finding::new(
                    check,
                    CheckStatus::Pass,
                    format!("versioning Enabled; {mfa}"),
                ),
                Some(other) => Finding::new(
                    check,
                    CheckStatus::Fail,
                    format!(
                        "versioning {}: overwritten or deleted log files cannot be recovered",
                        other.as_str()
                    ),
                ),
                None => Finding::new(
                    check,
                    CheckStatus::Fail,
                    "versioning was never enabled: overwritten or deleted log files cannot be \
                     recovered",
                ),
            }
        }
        Observed::Absent => Finding::new(
            check,
            CheckStatus::Unknown,
            "GetBucketVersioning returned nothing",
        ),
        Observed::Unreadable(e) => Finding::new(
            check,
            CheckStatus::Unknown,
            format!("GetBucketVersioning failed: {e}"),
        ),
    }
}

fn encryption_finding(rules: &Observed<Vec<String>>) -> Finding {
    let check = CheckId::BucketDefaultEncryption;
    match rules {
        Observed::Present(rules) if rules.is_empty() => Finding::new(
            check,
            CheckStatus::Fail,
            "the encryption configuration has no default-encryption rule",
        ),
        Observed::Present(rules) => Finding::new(
            check,
            CheckStatus::Pass,
            format!("default encryption {}", rules.join(", ")),
        ),
        Observed::Absent => Finding::new(
            check,
            CheckStatus::Fail,
            "no default encryption configuration",
        ),
        Observed::Unreadable(e) => Finding::new(
            check,
            CheckStatus::Unknown,
            format!("GetBucketEncryption failed: {e}"),
        ),
    }
}

fn logging_finding(logging: &Observed<Option<String>>) -> Finding {
    let check = CheckId::BucketAccessLogging;
    match logging {
        Observed::Present(Some(target)) => Finding::new(
            check,
            CheckStatus::Pass,
            format!("server access logs go to {target}"),
        ),
        Observed::Present(None) => Finding::new(
            check,
            CheckStatus::Fail,
            "server access logging is off: reads and deletions of log files leave no record",
        ),
        Observed::Absent => Finding::new(
            check,
            CheckStatus::Unknown,
            "GetBucketLogging returned nothing",
        ),
        Observed::Unreadable(e) => Finding::new(
            check,
            CheckStatus::Unknown,
            format!("GetBucketLogging failed: {e}"),
        ),
    }
}

fn object_lock_finding(lock: &Observed<ObjectLockFacts>) -> Finding {
    let check = CheckId::BucketObjectLock;
    match lock {
        Observed::Present(ObjectLockFacts {
            enabled: true,
            default_retention: Some(r),
        }) => Finding::new(
            check,
            CheckStatus::Pass,
            format!("Object Lock enabled, default retention {r}"),
        ),
        Observed::Present(ObjectLockFacts {
            enabled: true,
            default_retention: None,
        }) => Finding::new(
            check,
            CheckStatus::Fail,
            "Object Lock enabled without a default retention: CloudTrail sets no retention on \
             what it writes, so its files are not locked",
        ),
        Observed::Present(_) | Observed::Absent => {
            Finding::new(check, CheckStatus::Fail, "Object Lock is not enabled")
        }
        Observed::Unreadable(e) => Finding::new(
            check,
            CheckStatus::Unknown,
            format!("GetObjectLockConfiguration failed: {e}"),
        ),
    }
}

fn not_public_finding(facts: &BucketFacts) -> Finding {
    let check = CheckId::BucketNotPublic;
    let bpa_text = match &facts.public_access_block {
        Observed::Present(b) => {
            let on: Vec<&str> = [
                (b.block_public_acls, "BlockPublicAcls"),
                (b.ignore_public_acls, "IgnorePublicAcls"),
                (b.block_public_policy, "BlockPublicPolicy"),
                (b.restrict_public_buckets, "RestrictPublicBuckets"),
            ]
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| n)
            .collect();
            if on.len() == 4 {
                "bucket Block Public Access: all four settings on".to_owned()
            } else if on.is_empty() {
                "bucket Block Public Access: all settings off".to_owned()
            } else {
                format!("bucket Block Public Access: only {} on", on.join(", "))
            }
        }
        Observed::Absent => "no bucket Block Public Access configuration".to_owned(),
        Observed::Unreadable(e) => format!("GetPublicAccessBlock failed: {e}"),
    };
    let bpa = facts
        .public_access_block
        .present()
        .copied()
        .unwrap_or_default();
    if bpa.block_public_acls
        && bpa.ignore_public_acls
        && bpa.block_public_policy
        && bpa.restrict_public_buckets
    {
        return Finding::new(
            check,
            CheckStatus::Pass,
            format!("{bpa_text} (the account-level setting was not read)"),
        );
    }

    let mut public = Vec::new();
    let mut unknown = Vec::new();
    match &facts.policy {
        Observed::Present(text) => match Policy::parse(text) {
            Ok(p) => {
                let open = requirements::public_statements(&p);
                if !open.is_empty() && !bpa.restrict_public_buckets {
                    public.push(format!(
                        "the bucket policy grants anyone access in {}",
                        open.join(", ")
                    ));
                }
            }
            Err(e) => unknown.push(format!("bucket policy: {e}")),
        },
        Observed::Absent => {}
        Observed::Unreadable(e) => unknown.push(format!("GetBucketPolicy failed: {e}")),
    }
    match &facts.public_acl_grants {
        Observed::Present(grants) if !grants.is_empty() && !bpa.ignore_public_acls => {
            public.push(format!("the bucket ACL grants {}", grants.join(", ")));
        }
        Observed::Present(_) | Observed::Absent => {}
        Observed::Unreadable(e) => unknown.push(format!("GetBucketAcl failed: {e}")),
    }
    if !public.is_empty() {
        Finding::new(
            check,
            CheckStatus::Fail,
            format!("{}; {bpa_text}", public.join("; ")),
        )
    } else if !unknown.is_empty() {
        Finding::new(
            check,
            CheckStatus::Unknown,
            format!("{}; {bpa_text}", unknown.join("; ")),
        )
    } else {
        Finding::new(
            check,
            CheckStatus::Pass,
            format!("neither the bucket policy nor the ACL grants public access; {bpa_text}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudtrail_verify::TrailArn;

    const TRAIL: &str = "arn:aws:cloudtrail:us-east-1:111122223333:trail/main";

    /// A bucket with nothing set: no policy, no public access block, private ACL, versioning
    /// never enabled, no encryption, logging or Object Lock configuration, no lifecycle rules.
    fn bare() -> BucketFacts {
        BucketFacts {
            bucket: "logs".into(),
            policy: Observed::Absent,
            public_access_block: Observed::Absent,
            public_acl_grants: Observed::Present(Vec::new()),
            versioning: Observed::Present(VersioningFacts {
                status: None,
                mfa_delete: None,
            }),
            default_encryption: Observed::Absent,
            access_logging: Observed::Present(None),
            object_lock: Observed::Absent,
            lifecycle: Observed::Absent,
        }
    }

    fn judge(facts: &BucketFacts) -> Vec<Finding> {
        let trail = TrailArn::parse(TRAIL).unwrap();
        let d = Delivery {
            trail: &trail,
            trail_arn: TRAIL,
            bucket: "logs",
            prefix: None,
            sse_kms: false,
            kms_key_arn: None,
        };
        bucket_findings(facts, Some(&d), None, 365)
    }

    fn status(findings: &[Finding], check: CheckId) -> CheckStatus {
        findings
            .iter()
            .find(|f| f.check == check)
            .map(|f| f.status)
            .unwrap()
    }

    #[test]
    fn every_bucket_check_is_reported_once_in_order() {
        let checks: Vec<CheckId> = judge(&bare()).iter().map(|f| f.check).collect();
        assert_eq!(checks, BUCKET_CHECKS);
    }

    #[test]
    fn a_bare_bucket_fails_hardening_and_warns_on_deletion_protection() {
        let f = judge(&bare());
        for check in [
            CheckId::BucketPolicyAllowsDelivery,
            CheckId::BucketVersioning,
            CheckId::BucketDefaultEncryption,
            CheckId::BucketAccessLogging,
            CheckId::BucketObjectLock,
        ] {
            assert_eq!(status(&f, check), CheckStatus::Fail, "{check}");
        }
        assert_eq!(
            status(&f, CheckId::RetentionDeletionProtection),
            CheckStatus::Warn
        );
        assert_eq!(status(&f, CheckId::BucketNotPublic), CheckStatus::Pass);
    }

    #[test]
    fn a_public_acl_fails_unless_public_acls_are_ignored() {
        let mut facts = bare();
        facts.public_acl_grants = Observed::Present(vec!["READ to AllUsers".into()]);
        assert_eq!(
            status(&judge(&facts), CheckId::BucketNotPublic),
            CheckStatus::Fail
        );
        facts.public_access_block = Observed::Present(PublicAccessBlock {
            ignore_public_acls: true,
            ..PublicAccessBlock::default()
        });
        assert_eq!(
            status(&judge(&facts), CheckId::BucketNotPublic),
            CheckStatus::Pass
        );
    }

    #[test]
    fn an_unreadable_acl_or_policy_makes_public_access_unknown_not_pass() {
        let mut facts = bare();
        facts.public_acl_grants = Observed::Unreadable("AccessDenied: Access Denied".into());
        assert_eq!(
            status(&judge(&facts), CheckId::BucketNotPublic),
            CheckStatus::Unknown
        );
        let mut facts = bare();
        facts.policy = Observed::Present("{".into());
        assert_eq!(
            status(&judge(&facts), CheckId::BucketNotPublic),
            CheckStatus::Unknown
        );
    }

    #[test]
    fn object_lock_without_default_retention_does_not_lock_cloudtrails_files() {
        let mut facts = bare();
        facts.object_lock = Observed::Present(ObjectLockFacts {
            enabled: true,
            default_retention: None,
        });
        let f = judge(&facts);
        assert_eq!(status(&f, CheckId::BucketObjectLock), CheckStatus::Fail);
        // Enabled Object Lock still implies versioning: deletions leave versions behind.
        assert_eq!(
            status(&f, CheckId::RetentionDeletionProtection),
            CheckStatus::Pass
        );
    }
}
