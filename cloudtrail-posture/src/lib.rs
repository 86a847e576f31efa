//! Trail posture: turning on log-file validation and SSE-KMS ([`enable`]) and auditing a trail's
//! configuration against AWS's recommendations and Security Hub's CloudTrail controls
//! ([`audit`]).
//!
//! Digests (log-file validation) are what `ctverify` verifies; without them a trail's logs can be
//! altered undetectably, and without SSE-KMS anyone with `s3:GetObject` can read them. `enable`
//! turns both on without breaking delivery: it checks the key policy and the bucket policy first
//! and refuses rather than leave a trail that can no longer write its files.
//!
//! The work is split as in awslabs/tough's `tough-kms`: the SDK's answers are gathered into plain
//! facts ([`facts`]), judged by pure functions ([`verdict`], [`retention`]) that `audit` and
//! `enable` share, so the two commands cannot disagree about the same key or bucket policy, and
//! only then, for `enable`, applied. Every check has a typed id ([`CheckId`]) and the same label
//! in both commands.
//!
//! Everything here takes SDK clients ([`PostureClients`]) so tests can point them at a local
//! server (moto), returns typed, serde-serialisable results and never prints.

#![deny(missing_docs)]

mod audit;
pub mod bucket;
pub mod check;
mod enable;
pub mod facts;
mod policy;
mod requirements;
pub mod retention;
mod sdk;
pub mod verdict;

use serde::Serialize;

pub use audit::{
    AuditError, AuditOptions, AuditScope, AuditSummary, PostureReport, TrailReport, audit,
};
pub use check::{CheckId, CheckStatus, Finding};
pub use enable::{
    Change, CreatedKey, EnableError, EnableOutcome, EnablePlan, EnableRequest, KeyChoice, KeyInfo,
    default_alias, enable, plan,
};
pub use policy::PolicyError;

/// The SDK clients posture work needs. Clients in other regions (a trail's home region, a
/// bucket's region) are derived from these, keeping their endpoint and credentials.
#[derive(Debug, Clone)]
pub struct PostureClients {
    /// CloudTrail: GetTrail, GetTrailStatus, GetEventSelectors, ListTrails, UpdateTrail.
    pub cloudtrail: aws_sdk_cloudtrail::Client,
    /// KMS: DescribeKey, GetKeyPolicy, and CreateKey/CreateAlias/EnableKeyRotation for
    /// `--create-kms-key`.
    pub kms: aws_sdk_kms::Client,
    /// S3: bucket location, policy, ACL, Block Public Access, versioning, encryption, logging,
    /// Object Lock, lifecycle configuration.
    pub s3: aws_sdk_s3::Client,
}

impl PostureClients {
    /// Builds the three clients from one SDK configuration (S3 through
    /// [`cloudtrail_verify::aws::s3_client`], so an endpoint override implies path-style
    /// addressing), with ctverify's retries and timeouts
    /// ([`cloudtrail_verify::aws::with_call_policy`]): no call waits forever.
    pub fn from_conf(conf: &aws_config::SdkConfig) -> Self {
        let conf = &cloudtrail_verify::aws::with_call_policy(conf);
        Self {
            cloudtrail: aws_sdk_cloudtrail::Client::new(conf),
            kms: aws_sdk_kms::Client::new(conf),
            s3: cloudtrail_verify::aws::s3_client(conf),
        }
    }
}

/// A trail's settings (`GetTrail`) and delivery status (`GetTrailStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrailState {
    /// Trail name.
    pub name: String,
    /// Trail ARN.
    pub arn: String,
    /// The region the trail was created in, where its settings are changed.
    pub home_region: String,
    /// Bucket the trail delivers to.
    pub s3_bucket: String,
    /// Key prefix in the bucket, if any.
    pub s3_key_prefix: Option<String>,
    /// Whether the trail records every region.
    pub is_multi_region: bool,
    /// Whether this is an organization trail.
    pub is_organization_trail: bool,
    /// Whether digest files are delivered (log-file validation).
    pub log_file_validation_enabled: bool,
    /// KMS key used for SSE-KMS of log and digest files, as CloudTrail reports it.
    pub kms_key_id: Option<String>,
    /// CloudWatch Logs log group the trail sends events to.
    pub cloudwatch_logs_log_group_arn: Option<String>,
    /// `GetTrailStatus`, when it could be read.
    pub status: Option<TrailStatusInfo>,
    /// Why `GetTrailStatus` could not be read, when it could not.
    pub status_error: Option<String>,
}

/// The parts of `GetTrailStatus` that matter for posture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrailStatusInfo {
    /// Whether the trail is recording; `None` if the service did not say.
    pub is_logging: Option<bool>,
    /// Last successful log delivery (RFC 3339).
    pub latest_delivery_time: Option<String>,
    /// Last log delivery error (for example a bucket or key policy problem).
    pub latest_delivery_error: Option<String>,
    /// Last successful digest delivery (RFC 3339).
    pub latest_digest_delivery_time: Option<String>,
    /// Last digest delivery error.
    pub latest_digest_delivery_error: Option<String>,
    /// Last CloudWatch Logs delivery error.
    pub latest_cloudwatch_logs_delivery_error: Option<String>,
}
