//! The verdicts `audit` and `enable` share: one function judges a KMS key, one judges a bucket
//! policy, so the two commands cannot disagree about the same facts. Pure functions over
//! [`crate::facts`]: no SDK call.
//!
//! What CloudTrail needs is documented in the AWS CloudTrail User Guide: the key
//! (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html>)
//! and the bucket policy
//! (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-s3-bucket-policy-for-cloudtrail.html>).

use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType};
use cloudtrail_verify::TrailArn;

use crate::check::{CheckId, CheckStatus, Finding};
use crate::facts::{KeyFacts, KeyLookup, Observed};
use crate::policy::Policy;
pub use crate::requirements::Delivery;
use crate::requirements::{self};

/// What [`kms_key_verdict`] concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVerdict {
    /// `kms_key_exists`, then (for a key that exists) `kms_key_usable`, `kms_key_region` and
    /// `kms_key_policy` (a warning when CloudTrail may encrypt but the account may not decrypt).
    pub findings: Vec<Finding>,
}

/// Judges a key for SSE-KMS of `trail`'s files: it must exist, be enabled, be a symmetric
/// encryption key (`SYMMETRIC_DEFAULT`, `ENCRYPT_DECRYPT`), be in the bucket's region, and its
/// policy must let `cloudtrail.amazonaws.com` generate data keys for this trail and describe the
/// key. A policy that cannot be parsed fails (CloudTrail's use of it cannot be shown); one that
/// cannot be read is unknown. `bucket_region` is `None` when it could not be read.
pub fn kms_key_verdict(
    lookup: &KeyLookup,
    requested: &str,
    bucket_region: Option<&str>,
    trail: &TrailArn,
    trail_arn: &str,
) -> KeyVerdict {
    let mut findings = Vec::new();
    let key = match lookup {
        KeyLookup::Found(key) => key,
        KeyLookup::NotFound(why) => {
            findings.push(Finding::new(
                CheckId::KmsKeyExists,
                CheckStatus::Fail,
                format!("{why}: CloudTrail cannot encrypt with it, so delivery fails"),
            ));
            return KeyVerdict { findings };
        }
        KeyLookup::Failed(why) => {
            findings.push(Finding::new(
                CheckId::KmsKeyExists,
                CheckStatus::Unknown,
                why.clone(),
            ));
            return KeyVerdict { findings };
        }
    };
    findings.push(Finding::new(
        CheckId::KmsKeyExists,
        CheckStatus::Pass,
        if requested == key.arn {
            format!("{} exists", key.arn)
        } else {
            format!("{requested} is {}", key.arn)
        },
    ));
    findings.push(usable_finding(key));
    findings.push(match bucket_region {
        Some(b) if b == key.region => Finding::new(
            CheckId::KmsKeyRegion,
            CheckStatus::Pass,
            format!("key and bucket are both in {b}"),
        ),
        Some(b) => Finding::new(
            CheckId::KmsKeyRegion,
            CheckStatus::Fail,
            format!(
                "key is in {}, the bucket in {b}: CloudTrail needs the key in the bucket's region",
                key.region
            ),
        ),
        None => Finding::new(
            CheckId::KmsKeyRegion,
            CheckStatus::Unknown,
            format!(
                "key is in {}; the bucket's region could not be read",
                key.region
            ),
        ),
    });
    findings.push(match &key.policy {
        Observed::Unreadable(why) => Finding::new(
            CheckId::KmsKeyPolicy,
            CheckStatus::Unknown,
            format!("GetKeyPolicy {} failed: {why}", key.arn),
        ),
        Observed::Absent => Finding::new(
            CheckId::KmsKeyPolicy,
            CheckStatus::Unknown,
            format!("GetKeyPolicy {} returned no policy", key.arn),
        ),
        Observed::Present(text) => match Policy::parse(text) {
            Err(e) => Finding::new(
                CheckId::KmsKeyPolicy,
                CheckStatus::Fail,
                format!(
                    "key policy of {}: {e}; CloudTrail's use of the key cannot be shown",
                    key.arn
                ),
            ),
            Ok(policy) => {
                let v = requirements::key_policy_verdict(&policy, &key.arn, trail, trail_arn);
                let (status, note) = match (v.cloudtrail_can_use(), v.decrypt.allowed()) {
                    (false, _) => (CheckStatus::Fail, ""),
                    // CloudTrail can deliver, but nobody may read what it wrote without a grant.
                    (true, false) => (
                        CheckStatus::Warn,
                        "; the account may not decrypt this trail's files, so readers (ctverify \
                         included) need a grant (fix: allow kms:Decrypt to the account with the \
                         encryption context aws:cloudtrail:arn)",
                    ),
                    (true, true) => (CheckStatus::Pass, ""),
                };
                Finding::new(
                    CheckId::KmsKeyPolicy,
                    status,
                    format!("key policy of {}: {}{note}", key.arn, v.explain()),
                )
            }
        },
    });
    KeyVerdict { findings }
}

fn usable_finding(key: &KeyFacts) -> Finding {
    let state = key.state.as_ref().map_or("unknown", |s| s.as_str());
    let spec = key.spec.as_ref().map_or("unknown", |s| s.as_str());
    let usage = key.usage.as_ref().map_or("not reported", |s| s.as_str());
    // A SYMMETRIC_DEFAULT key can only be ENCRYPT_DECRYPT, so either field alone is enough
    // (moto omits KeyUsage when CreateKey was not given one). CloudTrail supports only
    // symmetric encryption keys:
    // https://docs.aws.amazon.com/awscloudtrail/latest/userguide/encrypting-cloudtrail-log-files-with-aws-kms.html
    let enabled = key.state == Some(KeyState::Enabled);
    let symmetric = matches!(
        (&key.spec, &key.usage),
        (
            Some(KeySpec::SymmetricDefault),
            None | Some(KeyUsageType::EncryptDecrypt)
        ) | (None, Some(KeyUsageType::EncryptDecrypt))
    );
    let why = match (enabled, symmetric) {
        (true, true) => String::new(),
        (false, _) if key.state == Some(KeyState::PendingDeletion) => {
            ": the key is scheduled for deletion (fix: kms cancel-key-deletion, then \
             kms enable-key)"
                .to_owned()
        }
        (false, _) => {
            ": the key is not enabled (fix: kms enable-key, or use another key)".to_owned()
        }
        (true, false) => ": not a symmetric encryption key (fix: use another key)".to_owned(),
    };
    Finding::new(
        CheckId::KmsKeyUsable,
        if enabled && symmetric {
            CheckStatus::Pass
        } else {
            CheckStatus::Fail
        },
        format!(
            "{}: state {state}, spec {spec}, usage {usage} (CloudTrail needs an enabled \
             SYMMETRIC_DEFAULT ENCRYPT_DECRYPT key){why}",
            key.arn
        ),
    )
}

/// Judges whether the bucket policy lets CloudTrail deliver `d`'s log and digest files
/// (`s3:GetBucketAcl` on the bucket, `s3:PutObject` with `bucket-owner-full-control`). No policy
/// fails (nothing grants CloudTrail anything); a policy that cannot be parsed fails; one that
/// cannot be read is unknown.
pub fn bucket_policy_verdict(policy: &Observed<String>, d: &Delivery<'_>) -> Finding {
    let check = CheckId::BucketPolicyAllowsDelivery;
    match policy {
        Observed::Present(text) => match Policy::parse(text) {
            Ok(policy) => {
                let (ok, evidence) = requirements::bucket_policy_allows_delivery(&policy, d);
                Finding::new(
                    check,
                    if ok {
                        CheckStatus::Pass
                    } else {
                        CheckStatus::Fail
                    },
                    format!("bucket {}: {evidence}", d.bucket),
                )
            }
            Err(e) => Finding::new(
                check,
                CheckStatus::Fail,
                format!(
                    "bucket {} policy: {e}; CloudTrail's right to deliver cannot be shown",
                    d.bucket
                ),
            ),
        },
        Observed::Absent => Finding::new(
            check,
            CheckStatus::Fail,
            format!(
                "bucket {} has no bucket policy, so cloudtrail.amazonaws.com may not write to it \
                 (it needs s3:GetBucketAcl on the bucket and s3:PutObject on {}*)",
                d.bucket,
                d.logs_root()
            ),
        ),
        Observed::Unreadable(why) => Finding::new(
            check,
            CheckStatus::Unknown,
            format!("GetBucketPolicy {} failed: {why}", d.bucket),
        ),
    }
}

/// Judges whether the bucket policy grants CloudTrail more than it needs: only `s3:GetBucketAcl`
/// and `s3:PutObject` below `[PREFIX/]AWSLogs/`. No policy grants nothing, so it passes here
/// (and fails [`bucket_policy_verdict`]); a policy that cannot be parsed fails, as there.
pub fn least_privilege_verdict(policy: &Observed<String>, d: &Delivery<'_>) -> Finding {
    let check = CheckId::BucketPolicyLeastPrivilege;
    match policy {
        Observed::Present(text) => match Policy::parse(text) {
            Ok(policy) => {
                let (excess, examined) = requirements::cloudtrail_grant_excess(&policy, d);
                if excess.is_empty() {
                    Finding::new(
                        check,
                        CheckStatus::Pass,
                        format!(
                            "{examined} statement(s) for cloudtrail.amazonaws.com grant only \
                             s3:GetBucketAcl and s3:PutObject under {}",
                            d.logs_root()
                        ),
                    )
                } else {
                    Finding::new(check, CheckStatus::Fail, excess.join("; "))
                }
            }
            Err(e) => Finding::new(
                check,
                CheckStatus::Fail,
                format!("bucket {} policy: {e}", d.bucket),
            ),
        },
        Observed::Absent => Finding::new(
            check,
            CheckStatus::Pass,
            format!(
                "bucket {} has no policy: it grants CloudTrail nothing",
                d.bucket
            ),
        ),
        Observed::Unreadable(why) => Finding::new(
            check,
            CheckStatus::Unknown,
            format!("GetBucketPolicy {} failed: {why}", d.bucket),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_kms::types::KeyMetadata;
    use serde_json::json;

    const TRAIL: &str = "arn:aws:cloudtrail:us-east-1:111122223333:trail/main";
    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/k";

    fn trail() -> TrailArn {
        TrailArn::parse(TRAIL).unwrap()
    }

    fn good_key_policy() -> String {
        requirements::key_policy(&trail(), TRAIL).to_string()
    }

    /// A key as the SDK would describe it, built with the SDK's own builder.
    fn key(
        arn: &str,
        state: KeyState,
        spec: KeySpec,
        usage: KeyUsageType,
        policy: &str,
    ) -> KeyLookup {
        let meta = KeyMetadata::builder()
            .key_id("k")
            .arn(arn)
            .key_state(state)
            .key_spec(spec)
            .key_usage(usage)
            .build()
            .unwrap();
        KeyLookup::Found(Box::new(KeyFacts::from_metadata(
            arn,
            &meta,
            "us-east-1",
            Observed::Present(policy.to_owned()),
        )))
    }

    fn good_key() -> KeyLookup {
        key(
            KEY,
            KeyState::Enabled,
            KeySpec::SymmetricDefault,
            KeyUsageType::EncryptDecrypt,
            &good_key_policy(),
        )
    }

    fn status_of(v: &KeyVerdict, check: CheckId) -> Option<CheckStatus> {
        v.findings
            .iter()
            .find(|f| f.check == check)
            .map(|f| f.status)
    }

    fn judge(lookup: &KeyLookup) -> KeyVerdict {
        kms_key_verdict(lookup, KEY, Some("us-east-1"), &trail(), TRAIL)
    }

    #[test]
    fn an_enabled_symmetric_key_in_the_bucket_region_with_cloudtrails_grant_passes() {
        let v = judge(&good_key());
        assert!(
            v.findings.iter().all(|f| f.status == CheckStatus::Pass),
            "{v:#?}"
        );
        assert_eq!(v.findings.len(), 4);
    }

    #[test]
    fn an_asymmetric_key_spec_fails_usable() {
        let v = judge(&key(
            KEY,
            KeyState::Enabled,
            KeySpec::Rsa2048,
            KeyUsageType::EncryptDecrypt,
            &good_key_policy(),
        ));
        assert_eq!(
            status_of(&v, CheckId::KmsKeyUsable),
            Some(CheckStatus::Fail)
        );
    }

    #[test]
    fn a_signing_key_usage_fails_usable() {
        let v = judge(&key(
            KEY,
            KeyState::Enabled,
            KeySpec::EccNistP256,
            KeyUsageType::SignVerify,
            &good_key_policy(),
        ));
        assert_eq!(
            status_of(&v, CheckId::KmsKeyUsable),
            Some(CheckStatus::Fail)
        );
        let v = judge(&key(
            KEY,
            KeyState::Enabled,
            KeySpec::Hmac256,
            KeyUsageType::GenerateVerifyMac,
            &good_key_policy(),
        ));
        assert_eq!(
            status_of(&v, CheckId::KmsKeyUsable),
            Some(CheckStatus::Fail)
        );
    }

    #[test]
    fn a_key_in_another_region_than_the_bucket_fails_region() {
        let v = judge(&key(
            "arn:aws:kms:eu-west-1:111122223333:key/k",
            KeyState::Enabled,
            KeySpec::SymmetricDefault,
            KeyUsageType::EncryptDecrypt,
            &good_key_policy(),
        ));
        assert_eq!(
            status_of(&v, CheckId::KmsKeyRegion),
            Some(CheckStatus::Fail)
        );
        assert_eq!(
            status_of(&v, CheckId::KmsKeyUsable),
            Some(CheckStatus::Pass)
        );
    }

    #[test]
    fn an_unknown_bucket_region_leaves_the_key_region_unknown_not_passed() {
        let v = kms_key_verdict(&good_key(), KEY, None, &trail(), TRAIL);
        assert_eq!(
            status_of(&v, CheckId::KmsKeyRegion),
            Some(CheckStatus::Unknown)
        );
    }

    #[test]
    fn disabled_and_pending_deletion_keys_fail_usable_with_the_fix() {
        for state in [KeyState::Disabled, KeyState::PendingDeletion] {
            let v = judge(&key(
                KEY,
                state.clone(),
                KeySpec::SymmetricDefault,
                KeyUsageType::EncryptDecrypt,
                &good_key_policy(),
            ));
            let f = &v.findings[1];
            assert_eq!(
                (f.check, f.status),
                (CheckId::KmsKeyUsable, CheckStatus::Fail)
            );
            assert!(f.evidence.contains("fix:"), "{f:?}");
        }
    }

    #[test]
    fn a_malformed_key_policy_fails_rather_than_being_unknown() {
        for text in ["not json", r#"{"Statement": [{"Effect": "Maybe"}]}"#] {
            let v = judge(&key(
                KEY,
                KeyState::Enabled,
                KeySpec::SymmetricDefault,
                KeyUsageType::EncryptDecrypt,
                text,
            ));
            assert_eq!(
                status_of(&v, CheckId::KmsKeyPolicy),
                Some(CheckStatus::Fail)
            );
        }
    }

    #[test]
    fn a_key_policy_without_cloudtrails_grant_fails_and_one_without_the_decrypt_grant_warns() {
        let only_root = json!({"Statement": [{"Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "kms:*", "Resource": "*"}]});
        let v = judge(&key(
            KEY,
            KeyState::Enabled,
            KeySpec::SymmetricDefault,
            KeyUsageType::EncryptDecrypt,
            &only_root.to_string(),
        ));
        assert_eq!(
            status_of(&v, CheckId::KmsKeyPolicy),
            Some(CheckStatus::Fail)
        );
        let only_cloudtrail = json!({"Statement": [{"Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": ["kms:GenerateDataKey*", "kms:DescribeKey"], "Resource": "*"}]});
        let v = judge(&key(
            KEY,
            KeyState::Enabled,
            KeySpec::SymmetricDefault,
            KeyUsageType::EncryptDecrypt,
            &only_cloudtrail.to_string(),
        ));
        assert_eq!(
            status_of(&v, CheckId::KmsKeyPolicy),
            Some(CheckStatus::Warn)
        );
    }

    #[test]
    fn an_unreadable_key_policy_is_unknown() {
        let KeyLookup::Found(mut facts) = good_key() else {
            unreachable!()
        };
        facts.policy = Observed::Unreadable("AccessDeniedException: no".into());
        let v = judge(&KeyLookup::Found(facts));
        assert_eq!(
            status_of(&v, CheckId::KmsKeyPolicy),
            Some(CheckStatus::Unknown)
        );
    }

    #[test]
    fn a_missing_key_fails_and_a_failed_lookup_is_unknown() {
        let v = judge(&KeyLookup::NotFound("no such key".into()));
        assert_eq!(
            status_of(&v, CheckId::KmsKeyExists),
            Some(CheckStatus::Fail)
        );
        assert_eq!(v.findings.len(), 1);
        let v = judge(&KeyLookup::Failed("AccessDeniedException: no".into()));
        assert_eq!(
            status_of(&v, CheckId::KmsKeyExists),
            Some(CheckStatus::Unknown)
        );
    }

    fn delivery(t: &TrailArn) -> Delivery<'_> {
        Delivery {
            trail: t,
            trail_arn: TRAIL,
            bucket: "logs",
            prefix: None,
            sse_kms: true,
            kms_key_arn: Some(KEY),
        }
    }

    fn documented_bucket_policy(put_resource: &str) -> String {
        json!({"Statement": [
            {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": "s3:GetBucketAcl", "Resource": "arn:aws:s3:::logs"},
            {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": "s3:PutObject", "Resource": put_resource,
             "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}}
        ]})
        .to_string()
    }

    #[test]
    fn the_documented_bucket_policy_allows_delivery_with_least_privilege() {
        let t = trail();
        let p = Observed::Present(documented_bucket_policy(
            "arn:aws:s3:::logs/AWSLogs/111122223333/*",
        ));
        assert_eq!(
            bucket_policy_verdict(&p, &delivery(&t)).status,
            CheckStatus::Pass
        );
        assert_eq!(
            least_privilege_verdict(&p, &delivery(&t)).status,
            CheckStatus::Pass
        );
    }

    #[test]
    fn a_bucket_policy_missing_cloudtrails_grant_fails_delivery() {
        let t = trail();
        let p = Observed::Present(documented_bucket_policy("arn:aws:s3:::logs/elsewhere/*"));
        assert_eq!(
            bucket_policy_verdict(&p, &delivery(&t)).status,
            CheckStatus::Fail
        );
        let none = Observed::Absent;
        assert_eq!(
            bucket_policy_verdict(&none, &delivery(&t)).status,
            CheckStatus::Fail
        );
        assert_eq!(
            least_privilege_verdict(&none, &delivery(&t)).status,
            CheckStatus::Pass
        );
    }

    #[test]
    fn a_malformed_bucket_policy_fails_both_bucket_checks() {
        let t = trail();
        let p = Observed::Present(r#"{"Statement": "nope"}"#.to_owned());
        assert_eq!(
            bucket_policy_verdict(&p, &delivery(&t)).status,
            CheckStatus::Fail
        );
        assert_eq!(
            least_privilege_verdict(&p, &delivery(&t)).status,
            CheckStatus::Fail
        );
    }

    #[test]
    fn an_unreadable_bucket_policy_is_unknown_never_pass() {
        let t = trail();
        let p = Observed::Unreadable("AccessDenied: Access Denied".into());
        assert_eq!(
            bucket_policy_verdict(&p, &delivery(&t)).status,
            CheckStatus::Unknown
        );
        assert_eq!(
            least_privilege_verdict(&p, &delivery(&t)).status,
            CheckStatus::Unknown
        );
    }
}
