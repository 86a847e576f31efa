//! The checks `audit` and `enable` make, their outcomes and findings: one vocabulary for both
//! commands, so that a check reads the same (same id, same label) wherever it is reported.

use serde::Serialize;

/// Every check, by stable id. Serialised in `snake_case` (`kms_key_usable`, …): the ids are part
/// of the JSON output and do not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckId {
    /// (`audit --all`) At least one trail exists and is logging.
    AccountHasLoggingTrail,
    /// The trail listed by ListTrails could be read (only reported when it could not).
    TrailReadable,
    /// GetTrailStatus says the trail is logging.
    Logging,
    /// The trail records every region.
    MultiRegion,
    /// Event selectors include both read and write management events.
    ManagementEventsReadWrite,
    /// Log-file validation (digest files) is on.
    LogFileValidation,
    /// Log and digest files are encrypted with SSE-KMS (in `enable`: a key was named).
    SseKms,
    /// The trail's KMS key exists.
    KmsKeyExists,
    /// The key is enabled, symmetric and for encryption (what CloudTrail can use).
    KmsKeyUsable,
    /// The key is in the bucket's region, where CloudTrail needs it.
    KmsKeyRegion,
    /// The key policy lets CloudTrail encrypt for this trail.
    KmsKeyPolicy,
    /// Events are also sent to CloudWatch Logs.
    #[serde(rename = "cloudwatch_logs")]
    CloudWatchLogs,
    /// GetTrailStatus reports no delivery error (logs, digests, CloudWatch Logs).
    DeliveryErrors,
    /// The bucket's region could be read.
    BucketRegion,
    /// The bucket is not public (Block Public Access, bucket policy, ACL).
    BucketNotPublic,
    /// The bucket policy lets CloudTrail deliver log and digest files.
    BucketPolicyAllowsDelivery,
    /// The bucket policy grants CloudTrail nothing more than it needs.
    BucketPolicyLeastPrivilege,
    /// Bucket versioning is enabled.
    BucketVersioning,
    /// Bucket default encryption is configured.
    BucketDefaultEncryption,
    /// Bucket server access logging is enabled.
    BucketAccessLogging,
    /// Object Lock with a default retention protects what CloudTrail writes.
    BucketObjectLock,
    /// No lifecycle rule expires log or digest files before the retention period.
    RetentionLifecycleExpiration,
    /// No lifecycle rule moves log or digest files to an archive that needs a restore to read.
    RetentionArchiveTransition,
    /// Deleted or overwritten files can be recovered or are locked (versioning or Object Lock).
    RetentionDeletionProtection,
}

impl CheckId {
    /// The stable id, as in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::AccountHasLoggingTrail => "account_has_logging_trail",
            CheckId::TrailReadable => "trail_readable",
            CheckId::Logging => "logging",
            CheckId::MultiRegion => "multi_region",
            CheckId::ManagementEventsReadWrite => "management_events_read_write",
            CheckId::LogFileValidation => "log_file_validation",
            CheckId::SseKms => "sse_kms",
            CheckId::KmsKeyExists => "kms_key_exists",
            CheckId::KmsKeyUsable => "kms_key_usable",
            CheckId::KmsKeyRegion => "kms_key_region",
            CheckId::KmsKeyPolicy => "kms_key_policy",
            CheckId::CloudWatchLogs => "cloudwatch_logs",
            CheckId::DeliveryErrors => "delivery_errors",
            CheckId::BucketRegion => "bucket_region",
            CheckId::BucketNotPublic => "bucket_not_public",
            CheckId::BucketPolicyAllowsDelivery => "bucket_policy_allows_delivery",
            CheckId::BucketPolicyLeastPrivilege => "bucket_policy_least_privilege",
            CheckId::BucketVersioning => "bucket_versioning",
            CheckId::BucketDefaultEncryption => "bucket_default_encryption",
            CheckId::BucketAccessLogging => "bucket_access_logging",
            CheckId::BucketObjectLock => "bucket_object_lock",
            CheckId::RetentionLifecycleExpiration => "retention_lifecycle_expiration",
            CheckId::RetentionArchiveTransition => "retention_archive_transition",
            CheckId::RetentionDeletionProtection => "retention_deletion_protection",
        }
    }

    /// The Security Hub control this check corresponds to, if any
    /// (<https://docs.aws.amazon.com/securityhub/latest/userguide/cloudtrail-controls.html>).
    pub fn control(self) -> Option<&'static str> {
        match self {
            CheckId::AccountHasLoggingTrail => Some("CloudTrail.3"),
            CheckId::Logging | CheckId::MultiRegion | CheckId::ManagementEventsReadWrite => {
                Some("CloudTrail.1")
            }
            CheckId::SseKms => Some("CloudTrail.2"),
            CheckId::LogFileValidation => Some("CloudTrail.4"),
            CheckId::CloudWatchLogs => Some("CloudTrail.5"),
            CheckId::BucketNotPublic => Some("CloudTrail.6"),
            CheckId::BucketAccessLogging => Some("CloudTrail.7"),
            _ => None,
        }
    }

    /// A short human label, the same in `enable` and `audit`.
    pub fn title(self) -> &'static str {
        match self {
            CheckId::AccountHasLoggingTrail => "account has a logging trail",
            CheckId::TrailReadable => "trail readable",
            CheckId::Logging => "trail is logging",
            CheckId::MultiRegion => "multi-region trail",
            CheckId::ManagementEventsReadWrite => "read and write management events",
            CheckId::LogFileValidation => "log-file validation",
            CheckId::SseKms => "SSE-KMS encryption",
            CheckId::KmsKeyExists => "KMS key exists",
            CheckId::KmsKeyUsable => "KMS key enabled, symmetric, for encryption",
            CheckId::KmsKeyRegion => "KMS key in the bucket's region",
            CheckId::KmsKeyPolicy => "KMS key policy lets CloudTrail encrypt",
            CheckId::CloudWatchLogs => "CloudWatch Logs integration",
            CheckId::DeliveryErrors => "no delivery errors",
            CheckId::BucketRegion => "bucket region readable",
            CheckId::BucketNotPublic => "bucket not public",
            CheckId::BucketPolicyAllowsDelivery => "bucket policy lets CloudTrail deliver",
            CheckId::BucketPolicyLeastPrivilege => {
                "bucket policy grants CloudTrail only what it needs"
            }
            CheckId::BucketVersioning => "bucket versioning",
            CheckId::BucketDefaultEncryption => "bucket default encryption",
            CheckId::BucketAccessLogging => "bucket access logging",
            CheckId::BucketObjectLock => "bucket Object Lock",
            CheckId::RetentionLifecycleExpiration => "no lifecycle expiry before retention",
            CheckId::RetentionArchiveTransition => "no archive transition of trail files",
            CheckId::RetentionDeletionProtection => "deleted files recoverable or locked",
        }
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of one check, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckStatus {
    /// The configuration meets the requirement.
    Pass,
    /// It meets the requirement but something deserves attention (an auditor will ask); does not
    /// fail an audit.
    Warn,
    /// It could not be determined (an API call failed, was denied or is not implemented by the
    /// endpoint); the evidence says why. Never reported as a pass.
    Unknown,
    /// The configuration does not meet the requirement.
    Fail,
}

impl CheckStatus {
    /// Lower-case name, as in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Warn => "warn",
            CheckStatus::Unknown => "unknown",
            CheckStatus::Fail => "fail",
        }
    }
}

/// One check's result, in `audit` and in `enable`'s pre-checks alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Which check.
    pub check: CheckId,
    /// The matching Security Hub control (`CloudTrail.1` …), if any.
    pub control: Option<&'static str>,
    /// Pass, warn, fail or unknown.
    pub status: CheckStatus,
    /// What was seen, or why it could not be seen, and the fix when there is one.
    pub evidence: String,
}

impl Finding {
    /// A finding for `check`, with the check's control filled in.
    pub fn new(check: CheckId, status: CheckStatus, evidence: impl Into<String>) -> Self {
        Self {
            check,
            control: check.control(),
            status,
            evidence: evidence.into(),
        }
    }
}

/// The worst status of `findings` (`Pass` when there are none).
pub fn worst(findings: &[Finding]) -> CheckStatus {
    findings
        .iter()
        .map(|f| f.status)
        .max()
        .unwrap_or(CheckStatus::Pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_ids_serialise_as_their_stable_strings() {
        for id in [
            CheckId::AccountHasLoggingTrail,
            CheckId::KmsKeyUsable,
            CheckId::CloudWatchLogs,
            CheckId::BucketPolicyAllowsDelivery,
            CheckId::RetentionLifecycleExpiration,
        ] {
            assert_eq!(
                serde_json::to_value(id).ok(),
                Some(serde_json::Value::String(id.as_str().to_owned()))
            );
        }
    }

    #[test]
    fn warn_is_better_than_unknown_and_fail() {
        assert!(CheckStatus::Pass < CheckStatus::Warn);
        assert!(CheckStatus::Warn < CheckStatus::Unknown);
        assert!(CheckStatus::Unknown < CheckStatus::Fail);
    }
}
