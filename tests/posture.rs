//! `enable` and `audit` against moto's server: CloudTrail, KMS and S3 as the AWS SDK sees them.
//!
//! Every test starts its own moto (about a second) so tests share no state and can run in
//! parallel; the server is killed when the test's `Aws` is dropped.

use aws_sdk_cloudtrail::types::{EventSelector, ReadWriteType};
use aws_sdk_s3::types::{
    BucketLoggingStatus, BucketVersioningStatus, DefaultRetention, LoggingEnabled,
    ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, VersioningConfiguration,
};
use cloudtrail_posture as posture;
use cloudtrail_posture::{
    AuditError, AuditOptions, AuditScope, Change, CheckId, CheckStatus, EnableError, EnableOutcome,
    EnableRequest, KeyChoice, PostureClients, PostureReport,
};
use ctverify_tests::moto::{MOTO_ACCOUNT, MotoServer};
use serde_json::{Value, json};

/// A moto server and clients pointed at it.
struct Aws {
    clients: PostureClients,
    // Declared last: dropped (killed) after the clients.
    _moto: MotoServer,
}

fn trail_arn(name: &str) -> String {
    format!("arn:aws:cloudtrail:us-east-1:{MOTO_ACCOUNT}:trail/{name}")
}

/// The bucket policy AWS documents for a trail: GetBucketAcl on the bucket, PutObject under
/// `AWSLogs/ACCOUNT/` with `bucket-owner-full-control`, both only for this trail.
fn cloudtrail_bucket_policy(bucket: &str, trail: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AWSCloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": format!("arn:aws:s3:::{bucket}"),
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn(trail)}}
            },
            {
                "Sid": "AWSCloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": format!("arn:aws:s3:::{bucket}/AWSLogs/{MOTO_ACCOUNT}/*"),
                "Condition": {"StringEquals": {
                    "s3:x-amz-acl": "bucket-owner-full-control",
                    "aws:SourceArn": trail_arn(trail)
                }}
            }
        ]
    })
}

/// The key policy AWS documents for CloudTrail (written out here, independently of the one
/// `--create-kms-key` generates).
fn documented_cloudtrail_key_policy(trail: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{MOTO_ACCOUNT}:root")},
                "Action": "kms:*",
                "Resource": "*"
            },
            {
                "Sid": "Allow CloudTrail to encrypt logs",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "kms:GenerateDataKey*",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceArn": trail_arn(trail)},
                    "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn":
                        format!("arn:aws:cloudtrail:*:{MOTO_ACCOUNT}:trail/*")}
                }
            },
            {
                "Sid": "Allow CloudTrail to describe key",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "kms:DescribeKey",
                "Resource": "*"
            },
            {
                "Sid": "Allow principals in the account to decrypt log files",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["kms:Decrypt", "kms:ReEncryptFrom"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"kms:CallerAccount": MOTO_ACCOUNT},
                    "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn":
                        format!("arn:aws:cloudtrail:*:{MOTO_ACCOUNT}:trail/*")}
                }
            }
        ]
    })
}

impl Aws {
    fn start() -> Self {
        let moto = MotoServer::start();
        let clients = PostureClients::from_conf(&moto.sdk_config());
        Aws {
            clients,
            _moto: moto,
        }
    }

    async fn bucket(&self, bucket: &str) {
        self.clients
            .s3
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("CreateBucket");
    }

    async fn bucket_policy(&self, bucket: &str, policy: &Value) {
        self.clients
            .s3
            .put_bucket_policy()
            .bucket(bucket)
            .policy(policy.to_string())
            .send()
            .await
            .expect("PutBucketPolicy");
    }

    /// A bucket whose policy lets CloudTrail deliver for `trail`, and a bare single-region trail
    /// writing to it. Returns the trail ARN.
    async fn fresh_trail(&self, name: &str, bucket: &str) -> String {
        self.bucket(bucket).await;
        self.bucket_policy(bucket, &cloudtrail_bucket_policy(bucket, name))
            .await;
        self.trail(name, bucket).await
    }

    async fn trail(&self, name: &str, bucket: &str) -> String {
        let out = self
            .clients
            .cloudtrail
            .create_trail()
            .name(name)
            .s3_bucket_name(bucket)
            .send()
            .await
            .expect("CreateTrail");
        let arn = out
            .trail_arn()
            .expect("CreateTrail returns the ARN")
            .to_owned();
        assert_eq!(arn, trail_arn(name));
        arn
    }

    /// A key with the AWS-documented CloudTrail policy, under `alias`. Returns its ARN.
    async fn cloudtrail_key(&self, trail: &str, alias: &str) -> String {
        self.key(Some(documented_cloudtrail_key_policy(trail)), alias)
            .await
    }

    async fn key(&self, policy: Option<Value>, alias: &str) -> String {
        let out = self
            .clients
            .kms
            .create_key()
            .set_policy(policy.map(|p| p.to_string()))
            .send()
            .await
            .expect("CreateKey");
        let meta = out.key_metadata().expect("CreateKey returns metadata");
        self.clients
            .kms
            .create_alias()
            .alias_name(alias)
            .target_key_id(meta.key_id())
            .send()
            .await
            .expect("CreateAlias");
        meta.arn().expect("key ARN").to_owned()
    }

    async fn enable(
        &self,
        trail: &str,
        key: KeyChoice,
        dry_run: bool,
    ) -> Result<EnableOutcome, EnableError> {
        posture::enable(
            &self.clients,
            &EnableRequest {
                trail: trail.to_owned(),
                key,
                dry_run,
            },
        )
        .await
    }

    /// The trail as CloudTrail reports it, read independently of the library.
    async fn get_trail(&self, arn: &str) -> aws_sdk_cloudtrail::types::Trail {
        self.clients
            .cloudtrail
            .get_trail()
            .name(arn)
            .send()
            .await
            .expect("GetTrail")
            .trail
            .expect("GetTrail returns the trail")
    }

    async fn key_count(&self) -> usize {
        self.clients
            .kms
            .list_keys()
            .send()
            .await
            .expect("ListKeys")
            .keys()
            .len()
    }
}

fn assert_untouched(trail: &aws_sdk_cloudtrail::types::Trail) {
    assert_eq!(trail.log_file_validation_enabled(), Some(false));
    assert!(
        trail.kms_key_id().unwrap_or_default().is_empty(),
        "{trail:?}"
    );
}

fn finding(report: &PostureReport, check: CheckId) -> &posture::Finding {
    report.trails[0]
        .findings
        .iter()
        .find(|f| f.check == check)
        .unwrap_or_else(|| panic!("no {check:?} finding in {report:#?}"))
}

/// moto 5.2 answers GetBucketVersioning with the wrong XML root; the audit must then say
/// Unknown with the reason, which is what this accepts in place of the real answer.
fn moto_versioning_bug(f: &posture::Finding) -> bool {
    f.check == CheckId::BucketVersioning
        && f.status == CheckStatus::Unknown
        && f.evidence.contains("GetBucketVersioning failed")
}

#[tokio::test]
async fn enable_turns_on_validation_and_sse_kms_on_a_fresh_trail() {
    let aws = Aws::start();
    let arn = aws.fresh_trail("fresh", "fresh-logs").await;
    let key = aws.cloudtrail_key("fresh", "alias/trail-key").await;

    let outcome = aws
        .enable(&arn, KeyChoice::Existing("alias/trail-key".into()), false)
        .await
        .expect("enable succeeds");

    assert!(outcome.changed());
    assert_eq!(
        outcome.applied,
        vec![
            Change::EnableLogFileValidation,
            Change::SetKmsKey {
                from: None,
                to: key.clone()
            }
        ]
    );
    assert!(
        outcome
            .plan
            .checks
            .iter()
            .all(|c| c.status == CheckStatus::Pass),
        "{:#?}",
        outcome.plan.checks
    );
    assert!(outcome.after.log_file_validation_enabled);
    assert_eq!(outcome.after.kms_key_id.as_deref(), Some(key.as_str()));
    let trail = aws.get_trail(&arn).await;
    assert_eq!(trail.log_file_validation_enabled(), Some(true));
    assert_eq!(trail.kms_key_id(), Some(key.as_str()));
}

#[tokio::test]
async fn second_enable_run_changes_nothing_and_says_so() {
    let aws = Aws::start();
    let arn = aws.fresh_trail("again", "again-logs").await;
    let key = aws.cloudtrail_key("again", "alias/again").await;
    aws.enable(&arn, KeyChoice::Existing(key.clone()), false)
        .await
        .expect("first run");

    // By alias this time: the same key, so still nothing to do.
    let second = aws
        .enable(&arn, KeyChoice::Existing("alias/again".into()), false)
        .await
        .expect("second run");
    assert!(!second.changed());
    assert!(second.plan.is_noop(), "{:#?}", second.plan.changes);
    // Without a key option the trail's current key is kept: also nothing to do.
    let third = aws
        .enable(&arn, KeyChoice::KeepCurrent, false)
        .await
        .expect("third run");
    assert!(third.plan.is_noop(), "{:#?}", third.plan.changes);
    assert_eq!(aws.get_trail(&arn).await.kms_key_id(), Some(key.as_str()));
}

#[tokio::test]
async fn create_kms_key_creates_a_key_whose_policy_lets_cloudtrail_encrypt_for_this_trail() {
    let aws = Aws::start();
    let arn = aws.fresh_trail("created", "created-logs").await;

    let outcome = aws
        .enable(&arn, KeyChoice::Create { alias: None }, false)
        .await
        .expect("enable --create-kms-key succeeds");

    let created = outcome.created_key.clone().expect("a key was created");
    assert_eq!(created.alias, "alias/ctverify-created");
    assert!(created.rotation_enabled);
    assert_eq!(
        aws.get_trail(&arn).await.kms_key_id(),
        Some(created.arn.as_str())
    );
    assert_eq!(
        aws.get_trail(&arn).await.log_file_validation_enabled(),
        Some(true)
    );

    // The alias resolves to the key.
    let described = aws
        .clients
        .kms
        .describe_key()
        .key_id("alias/ctverify-created")
        .send()
        .await
        .expect("DescribeKey by alias");
    assert_eq!(
        described.key_metadata().and_then(|m| m.arn()),
        Some(created.arn.as_str())
    );

    // The policy, as KMS stores it, follows "Configure AWS KMS key policies for CloudTrail" (AWS CloudTrail User Guide).
    let policy: Value = serde_json::from_str(
        aws.clients
            .kms
            .get_key_policy()
            .key_id(&created.key_id)
            .policy_name("default")
            .send()
            .await
            .expect("GetKeyPolicy")
            .policy()
            .expect("a policy"),
    )
    .expect("JSON policy");
    let statements = policy["Statement"].as_array().expect("statements");
    let by_action = |action: &str| {
        statements
            .iter()
            .find(|s| {
                s["Action"] == json!(action)
                    || s["Action"]
                        .as_array()
                        .is_some_and(|a| a.contains(&json!(action)))
            })
            .unwrap_or_else(|| panic!("no statement for {action} in {policy:#}"))
    };
    let encrypt = by_action("kms:GenerateDataKey*");
    assert_eq!(
        encrypt["Principal"],
        json!({"Service": "cloudtrail.amazonaws.com"})
    );
    assert_eq!(
        encrypt["Condition"]["StringLike"]["kms:EncryptionContext:aws:cloudtrail:arn"],
        json!(arn)
    );
    let describe = by_action("kms:DescribeKey");
    assert_eq!(
        describe["Principal"],
        json!({"Service": "cloudtrail.amazonaws.com"})
    );
    let decrypt = by_action("kms:Decrypt");
    assert_eq!(
        decrypt["Principal"],
        json!({"AWS": format!("arn:aws:iam::{MOTO_ACCOUNT}:root")})
    );

    // A second --create-kms-key run reuses the aliased key instead of creating another.
    let again = aws
        .enable(&arn, KeyChoice::Create { alias: None }, false)
        .await
        .expect("second run");
    assert!(again.plan.is_noop(), "{:#?}", again.plan.changes);
    assert!(again.created_key.is_none());
    assert_eq!(aws.key_count().await, 1);
}

#[tokio::test]
async fn enable_refuses_a_key_that_does_not_exist() {
    let aws = Aws::start();
    let arn = aws.fresh_trail("nokey", "nokey-logs").await;

    for missing in [
        "alias/does-not-exist",
        "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
    ] {
        let err = aws
            .enable(&arn, KeyChoice::Existing(missing.into()), false)
            .await
            .expect_err("a missing key is refused");
        let EnableError::Refused(plan) = &err else {
            panic!("expected a refusal, got {err:?}");
        };
        let check = plan
            .checks
            .iter()
            .find(|c| c.check == CheckId::KmsKeyExists)
            .expect("a kms_key_exists check");
        assert_eq!(check.status, CheckStatus::Fail, "{check:?}");
        assert!(check.evidence.contains(missing), "{check:?}");
        assert!(err.to_string().contains("refusing"), "{err}");
    }
    assert_untouched(&aws.get_trail(&arn).await);
}

#[tokio::test]
async fn enable_refuses_a_key_whose_policy_does_not_let_cloudtrail_encrypt() {
    let aws = Aws::start();
    let arn = aws.fresh_trail("badkey", "badkey-logs").await;
    // KMS's default policy: the account only, nothing for cloudtrail.amazonaws.com.
    aws.key(None, "alias/default-policy").await;

    let err = aws
        .enable(
            &arn,
            KeyChoice::Existing("alias/default-policy".into()),
            false,
        )
        .await
        .expect_err("refused");
    let EnableError::Refused(plan) = &err else {
        panic!("expected a refusal, got {err:?}");
    };
    let check = plan
        .checks
        .iter()
        .find(|c| c.check == CheckId::KmsKeyPolicy)
        .expect("key policy check");
    assert_eq!(check.status, CheckStatus::Fail, "{check:?}");
    assert!(check.evidence.contains("kms:GenerateDataKey"), "{check:?}");
    assert_untouched(&aws.get_trail(&arn).await);
}

#[tokio::test]
async fn audit_and_enable_give_the_same_verdicts_on_the_same_key_and_bucket() {
    let aws = Aws::start();
    let arn = aws.fresh_trail("agree", "agree-logs").await;
    // KMS's default policy: the account only, nothing for cloudtrail.amazonaws.com.
    let key = aws.key(None, "alias/agree").await;
    let EnableError::Refused(plan) = aws
        .enable(&arn, KeyChoice::Existing(key.clone()), false)
        .await
        .expect_err("refused")
    else {
        panic!("expected a refusal");
    };
    // Set the key behind enable's back (moto enforces no key policy), then audit the trail.
    aws.clients
        .cloudtrail
        .update_trail()
        .name(&arn)
        .kms_key_id(&key)
        .send()
        .await
        .expect("UpdateTrail");
    let report = posture::audit(
        &aws.clients,
        &AuditScope::Trail(arn),
        &AuditOptions::default(),
    )
    .await
    .expect("audit");

    for check in [
        CheckId::KmsKeyExists,
        CheckId::KmsKeyUsable,
        CheckId::KmsKeyRegion,
        CheckId::KmsKeyPolicy,
        CheckId::BucketPolicyAllowsDelivery,
    ] {
        let in_enable = plan
            .checks
            .iter()
            .find(|c| c.check == check)
            .unwrap_or_else(|| panic!("no {check} in enable's checks"));
        let in_audit = finding(&report, check);
        assert_eq!(
            in_enable.status, in_audit.status,
            "{check}: {in_enable:?} {in_audit:?}"
        );
    }
    assert_eq!(
        finding(&report, CheckId::KmsKeyPolicy).status,
        CheckStatus::Fail
    );
}

#[tokio::test]
async fn enable_refuses_when_the_bucket_policy_does_not_let_cloudtrail_write() {
    let aws = Aws::start();
    aws.bucket("closed-logs").await;
    let arn = aws.trail("closed", "closed-logs").await;
    aws.cloudtrail_key("closed", "alias/closed").await;

    let err = aws
        .enable(&arn, KeyChoice::Existing("alias/closed".into()), false)
        .await
        .expect_err("no bucket policy: refused");
    let EnableError::Refused(plan) = &err else {
        panic!("expected a refusal, got {err:?}");
    };
    let check = plan
        .checks
        .iter()
        .find(|c| c.check == CheckId::BucketPolicyAllowsDelivery)
        .expect("bucket check");
    assert_eq!(check.status, CheckStatus::Fail, "{check:?}");

    // A policy for another prefix is no better.
    let mut policy = cloudtrail_bucket_policy("closed-logs", "closed");
    policy["Statement"][1]["Resource"] = json!("arn:aws:s3:::closed-logs/elsewhere/*");
    aws.bucket_policy("closed-logs", &policy).await;
    let err = aws
        .enable(&arn, KeyChoice::Existing("alias/closed".into()), false)
        .await
        .expect_err("wrong prefix: refused");
    assert!(matches!(err, EnableError::Refused(_)), "{err:?}");
    assert_untouched(&aws.get_trail(&arn).await);
}

#[tokio::test]
async fn dry_run_plans_the_changes_and_changes_nothing() {
    let aws = Aws::start();
    let arn = aws.fresh_trail("dry", "dry-logs").await;

    let outcome = aws
        .enable(
            &arn,
            KeyChoice::Create {
                alias: Some("dry-key".into()),
            },
            true,
        )
        .await
        .expect("dry run");

    assert!(outcome.dry_run);
    assert!(!outcome.changed());
    assert!(outcome.created_key.is_none());
    let kinds: Vec<&str> = outcome
        .plan
        .changes
        .iter()
        .map(|c| match c {
            Change::CreateKmsKey { alias, .. } => {
                assert_eq!(alias, "alias/dry-key");
                "create"
            }
            Change::EnableLogFileValidation => "validation",
            Change::SetKmsKey { to, .. } => {
                assert_eq!(to, "alias/dry-key");
                "key"
            }
            other => panic!("unexpected change {other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["create", "validation", "key"]);
    assert_eq!(
        aws.key_count().await,
        0,
        "no key may be created on a dry run"
    );
    assert_untouched(&aws.get_trail(&arn).await);

    // The same with an existing key.
    aws.cloudtrail_key("dry", "alias/existing").await;
    let outcome = aws
        .enable(&arn, KeyChoice::Existing("alias/existing".into()), true)
        .await
        .expect("dry run");
    assert_eq!(outcome.plan.changes.len(), 2);
    assert_untouched(&aws.get_trail(&arn).await);
}

#[tokio::test]
async fn enable_without_a_key_option_says_what_is_needed() {
    let aws = Aws::start();
    let arn = aws.fresh_trail("needs", "needs-logs").await;
    let err = aws
        .enable(&arn, KeyChoice::KeepCurrent, false)
        .await
        .expect_err("no key to keep");
    let EnableError::KeyRequired(plan) = &err else {
        panic!("expected KeyRequired, got {err:?}");
    };
    // The rest of the job is planned and checked all the same.
    assert_eq!(plan.changes, vec![Change::EnableLogFileValidation]);
    assert!(
        plan.missing.iter().any(|m| m.contains("--validation-only")),
        "{:?}",
        plan.missing
    );
    let bucket = plan
        .checks
        .iter()
        .find(|c| c.check == CheckId::BucketPolicyAllowsDelivery)
        .expect("the bucket policy is checked");
    assert_eq!(bucket.status, CheckStatus::Pass, "{bucket:?}");
    let message = err.to_string();
    assert!(
        message.contains("--kms-key")
            && message.contains("--create-kms-key")
            && message.contains("--validation-only"),
        "{message}"
    );
    assert_untouched(&aws.get_trail(&arn).await);
}

#[tokio::test]
async fn validation_only_turns_on_digests_without_any_kms_call() {
    let aws = Aws::start();
    let arn = aws.fresh_trail("digests", "digests-logs").await;
    // KMS points nowhere: any KMS call would fail the plan (an unknown check refuses).
    let kms_conf = aws
        .clients
        .kms
        .config()
        .to_builder()
        .endpoint_url("http://127.0.0.1:1")
        .build();
    let clients = PostureClients {
        kms: aws_sdk_kms::Client::from_conf(kms_conf),
        ..aws.clients.clone()
    };

    let outcome = posture::enable(
        &clients,
        &EnableRequest {
            trail: arn.clone(),
            key: KeyChoice::ValidationOnly,
            dry_run: false,
        },
    )
    .await
    .expect("validation only");

    assert_eq!(outcome.applied, vec![Change::EnableLogFileValidation]);
    assert!(
        outcome
            .plan
            .checks
            .iter()
            .all(|c| c.status == CheckStatus::Pass),
        "{:#?}",
        outcome.plan.checks
    );
    let trail = aws.get_trail(&arn).await;
    assert_eq!(trail.log_file_validation_enabled(), Some(true));
    assert!(trail.kms_key_id().unwrap_or_default().is_empty());
    assert_eq!(aws.key_count().await, 0);
}

#[tokio::test]
async fn enable_of_a_missing_trail_is_an_error() {
    let aws = Aws::start();
    let err = aws
        .enable(
            &trail_arn("ghost"),
            KeyChoice::Create { alias: None },
            false,
        )
        .await
        .expect_err("no such trail");
    assert!(matches!(err, EnableError::TrailNotFound { .. }), "{err:?}");
    assert_eq!(aws.key_count().await, 0);
}

/// A trail with everything the audit asks for, built through the SDK and `enable`.
async fn hardened_trail(aws: &Aws) -> String {
    let s3 = &aws.clients.s3;
    // Access logs go to a separate bucket that lets the logging service write.
    aws.bucket("access-logs").await;
    aws.bucket_policy(
        "access-logs",
        &json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": ["s3:PutObject"],
            "Resource": "arn:aws:s3:::access-logs/*"
        }]}),
    )
    .await;
    s3.create_bucket()
        .bucket("hard-logs")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("CreateBucket with Object Lock");
    aws.bucket_policy("hard-logs", &cloudtrail_bucket_policy("hard-logs", "hard"))
        .await;
    s3.put_bucket_versioning()
        .bucket("hard-logs")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("PutBucketVersioning");
    s3.put_object_lock_configuration()
        .bucket("hard-logs")
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(
                    ObjectLockRule::builder()
                        .default_retention(
                            DefaultRetention::builder()
                                .mode(ObjectLockRetentionMode::Governance)
                                .days(365)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("PutObjectLockConfiguration");
    s3.put_public_access_block()
        .bucket("hard-logs")
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .expect("PutPublicAccessBlock");
    s3.put_bucket_encryption()
        .bucket("hard-logs")
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::Aes256)
                                .build()
                                .expect("encryption default"),
                        )
                        .build(),
                )
                .build()
                .expect("encryption configuration"),
        )
        .send()
        .await
        .expect("PutBucketEncryption");
    s3.put_bucket_logging()
        .bucket("hard-logs")
        .bucket_logging_status(
            BucketLoggingStatus::builder()
                .logging_enabled(
                    LoggingEnabled::builder()
                        .target_bucket("access-logs")
                        .target_prefix("hard-logs/")
                        .build()
                        .expect("logging target"),
                )
                .build(),
        )
        .send()
        .await
        .expect("PutBucketLogging");

    let ct = &aws.clients.cloudtrail;
    ct.create_trail()
        .name("hard")
        .s3_bucket_name("hard-logs")
        .is_multi_region_trail(true)
        .include_global_service_events(true)
        .cloud_watch_logs_log_group_arn(format!(
            "arn:aws:logs:us-east-1:{MOTO_ACCOUNT}:log-group:CloudTrail/hard:*"
        ))
        .cloud_watch_logs_role_arn(format!("arn:aws:iam::{MOTO_ACCOUNT}:role/CloudTrailToLogs"))
        .send()
        .await
        .expect("CreateTrail");
    ct.put_event_selectors()
        .trail_name("hard")
        .event_selectors(
            EventSelector::builder()
                .read_write_type(ReadWriteType::All)
                .include_management_events(true)
                .build(),
        )
        .send()
        .await
        .expect("PutEventSelectors");
    // moto's StartLogging only accepts the trail's name.
    ct.start_logging()
        .name("hard")
        .send()
        .await
        .expect("StartLogging");
    let arn = trail_arn("hard");
    aws.enable(&arn, KeyChoice::Create { alias: None }, false)
        .await
        .expect("enable on the hardened trail");
    arn
}

#[tokio::test]
async fn audit_of_a_hardened_trail_passes_every_check() {
    let aws = Aws::start();
    let arn = hardened_trail(&aws).await;

    let report = posture::audit(
        &aws.clients,
        &AuditScope::Trail(arn.clone()),
        &AuditOptions::default(),
    )
    .await
    .expect("audit");

    let trail = &report.trails[0];
    assert_eq!(trail.trail_arn, arn);
    // moto 5.2's GetBucketVersioning answers with a <GetBucketVersioningResponse> root the SDK
    // cannot parse: that check may be Unknown (never Pass) until moto is fixed.
    let not_passing: Vec<_> = trail
        .findings
        .iter()
        .filter(|f| f.status != CheckStatus::Pass && !moto_versioning_bug(f))
        .collect();
    assert!(not_passing.is_empty(), "{not_passing:#?}");
    let versioning = finding(&report, CheckId::BucketVersioning);
    if versioning.status == CheckStatus::Pass {
        assert_eq!(report.status, CheckStatus::Pass);
    } else {
        assert_eq!(report.status, CheckStatus::Unknown);
    }
    let checks: Vec<CheckId> = trail.findings.iter().map(|f| f.check).collect();
    for expected in [
        CheckId::Logging,
        CheckId::MultiRegion,
        CheckId::ManagementEventsReadWrite,
        CheckId::LogFileValidation,
        CheckId::SseKms,
        CheckId::KmsKeyExists,
        CheckId::KmsKeyUsable,
        CheckId::KmsKeyRegion,
        CheckId::KmsKeyPolicy,
        CheckId::CloudWatchLogs,
        CheckId::DeliveryErrors,
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
    ] {
        assert!(checks.contains(&expected), "no {expected:?} finding");
    }
    // Every Security Hub control of the issue is named.
    let controls: Vec<&str> = trail.findings.iter().filter_map(|f| f.control).collect();
    for control in [
        "CloudTrail.1",
        "CloudTrail.2",
        "CloudTrail.4",
        "CloudTrail.5",
        "CloudTrail.6",
        "CloudTrail.7",
    ] {
        assert!(
            controls.contains(&control),
            "{control} missing from {controls:?}"
        );
    }
    // The JSON form carries the same findings.
    let json = serde_json::to_value(&report).expect("serialisable");
    assert_eq!(json["status"], report.status.as_str());
    assert_eq!(json["trails"][0]["findings"][0]["status"], "pass");
}

#[tokio::test]
async fn audit_of_a_bare_trail_fails_the_hardening_checks() {
    let aws = Aws::start();
    aws.bucket("bare-logs").await;
    let arn = aws.trail("bare", "bare-logs").await;

    let report = posture::audit(
        &aws.clients,
        &AuditScope::Trail(arn),
        &AuditOptions::default(),
    )
    .await
    .expect("audit");

    for (check, control) in [
        (CheckId::Logging, Some("CloudTrail.1")),
        (CheckId::MultiRegion, Some("CloudTrail.1")),
        (CheckId::LogFileValidation, Some("CloudTrail.4")),
        (CheckId::SseKms, Some("CloudTrail.2")),
        (CheckId::CloudWatchLogs, Some("CloudTrail.5")),
        (CheckId::BucketAccessLogging, Some("CloudTrail.7")),
        (CheckId::BucketVersioning, None),
        (CheckId::BucketObjectLock, None),
        (CheckId::BucketPolicyAllowsDelivery, None),
    ] {
        let f = finding(&report, check);
        if !moto_versioning_bug(f) {
            assert_eq!(f.status, CheckStatus::Fail, "{f:?}");
        }
        assert_eq!(f.control, control, "{f:?}");
        assert!(!f.evidence.is_empty());
    }
    // A private bucket without a policy is not public.
    assert_eq!(
        finding(&report, CheckId::BucketNotPublic).status,
        CheckStatus::Pass
    );
    // moto returns no event selectors at all, where AWS returns the default one: unknown, not
    // pass and not fail.
    assert_eq!(
        finding(&report, CheckId::ManagementEventsReadWrite).status,
        CheckStatus::Unknown
    );
    // Without SSE-KMS there is no key to check.
    assert!(
        report.trails[0]
            .findings
            .iter()
            .all(|f| f.check != CheckId::KmsKeyPolicy)
    );
    assert_eq!(report.status, CheckStatus::Fail);
    assert!(report.summary.fail >= 8, "{:?}", report.summary);
}

#[tokio::test]
async fn audit_flags_a_public_bucket_and_excess_grants_to_cloudtrail() {
    let aws = Aws::start();
    aws.bucket("open-logs").await;
    let mut policy = cloudtrail_bucket_policy("open-logs", "open");
    policy["Statement"][1]["Action"] = json!(["s3:PutObject", "s3:DeleteObject"]);
    policy["Statement"]
        .as_array_mut()
        .expect("statements")
        .push(json!({
            "Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::open-logs/*"
        }));
    aws.bucket_policy("open-logs", &policy).await;
    let arn = aws.trail("open", "open-logs").await;

    let report = posture::audit(
        &aws.clients,
        &AuditScope::Trail(arn),
        &AuditOptions::default(),
    )
    .await
    .expect("audit");

    let public = finding(&report, CheckId::BucketNotPublic);
    assert_eq!(public.status, CheckStatus::Fail, "{public:?}");
    assert!(public.evidence.contains("PublicRead"), "{public:?}");
    let least = finding(&report, CheckId::BucketPolicyLeastPrivilege);
    assert_eq!(least.status, CheckStatus::Fail, "{least:?}");
    assert!(least.evidence.contains("s3:DeleteObject"), "{least:?}");
}

#[tokio::test]
async fn audit_reports_unknown_not_pass_when_the_bucket_cannot_be_read() {
    let aws = Aws::start();
    aws.bucket("gone-logs").await;
    let arn = aws.trail("gone", "gone-logs").await;
    aws.clients
        .s3
        .delete_bucket()
        .bucket("gone-logs")
        .send()
        .await
        .expect("DeleteBucket");

    let report = posture::audit(
        &aws.clients,
        &AuditScope::Trail(arn),
        &AuditOptions::default(),
    )
    .await
    .expect("audit");

    for check in [
        CheckId::BucketNotPublic,
        CheckId::BucketPolicyAllowsDelivery,
        CheckId::BucketPolicyLeastPrivilege,
        CheckId::RetentionLifecycleExpiration,
        CheckId::RetentionArchiveTransition,
        CheckId::RetentionDeletionProtection,
        CheckId::BucketVersioning,
        CheckId::BucketDefaultEncryption,
        CheckId::BucketAccessLogging,
        CheckId::BucketObjectLock,
    ] {
        let f = finding(&report, check);
        assert_eq!(f.status, CheckStatus::Unknown, "{f:?}");
        assert!(f.evidence.contains("NoSuchBucket"), "{f:?}");
    }
}

#[tokio::test]
async fn audit_all_reports_every_trail_of_the_account() {
    let aws = Aws::start();
    aws.bucket("all-logs").await;
    let first = aws.trail("first", "all-logs").await;
    let second = aws.trail("second", "all-logs").await;
    aws.clients
        .cloudtrail
        .start_logging()
        .name("second")
        .send()
        .await
        .expect("StartLogging");

    let report = posture::audit(&aws.clients, &AuditScope::All, &AuditOptions::default())
        .await
        .expect("audit --all");

    let mut arns: Vec<&str> = report.trails.iter().map(|t| t.trail_arn.as_str()).collect();
    arns.sort_unstable();
    assert_eq!(arns, [first.as_str(), second.as_str()]);
    let account = &report.account_findings[0];
    assert_eq!(account.check, CheckId::AccountHasLoggingTrail);
    assert_eq!(account.status, CheckStatus::Pass, "{account:?}");
    assert_eq!(account.control, Some("CloudTrail.3"));
}

#[tokio::test]
async fn audit_of_a_missing_trail_is_an_error() {
    let aws = Aws::start();
    let err = posture::audit(
        &aws.clients,
        &AuditScope::Trail(trail_arn("ghost")),
        &AuditOptions::default(),
    )
    .await
    .expect_err("no such trail");
    assert!(matches!(err, AuditError::TrailNotFound { .. }), "{err:?}");
}
