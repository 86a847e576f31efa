//! `--format asff`: a run's findings in the AWS Security Finding Format, the format Security
//! Hub imports (BatchImportFindings), as one JSON array. The wire types are here, apart from
//! the library's typed findings ([`cloudtrail_verify::report_findings`]) they are mapped from,
//! by exhaustive matches: a new kind of finding does not compile until it is mapped.
//!
//! Format: <https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-findings-format-syntax.html>;
//! the types taxonomy:
//! <https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-findings-format-type-taxonomy.html>.

use chrono::{DateTime, SecondsFormat, Utc};
use cloudtrail_verify::report_findings::{FindingKind, ReportFinding, Severity};
use cloudtrail_verify::{Status, TrailArn};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `SchemaVersion` of every finding: the ASFF version Security Hub accepts.
pub const SCHEMA_VERSION: &str = "2018-10-08";
/// The ASFF type of evidence of tampering: data was destroyed (or altered) ...
pub const TYPE_DATA_DESTRUCTION: &str = "Effects/Data Destruction";
/// ... to hide what was done (logs are what an intruder erases).
pub const TYPE_DEFENSE_EVASION: &str = "TTPs/Defense Evasion";
/// The ASFF type of a control that could not be proven, and of the run's summary.
pub const TYPE_STANDARDS: &str =
    "Software and Configuration Checks/Industry and Regulatory Standards";
/// Longest `Title` Security Hub accepts, in characters.
const MAX_TITLE: usize = 256;
/// Longest `Description` Security Hub accepts, in characters.
const MAX_DESCRIPTION: usize = 1024;
/// Longest `ProductFields` value Security Hub accepts, in characters.
const MAX_PRODUCT_FIELD: usize = 2048;

/// One finding in ASFF. Field names are ASFF's (PascalCase); absent optional fields are left
/// out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffFinding {
    /// [`SCHEMA_VERSION`].
    pub schema_version: String,
    /// The finding's stable id (the library's [`ReportFinding::id`]): a re-run updates it.
    pub id: String,
    /// `arn:PARTITION:securityhub:REGION:ACCOUNT:product/ACCOUNT/default`: the account's own
    /// product, which takes findings from any tool of the account.
    pub product_arn: String,
    /// What made the finding: `ctverify/verify/KIND/PROBLEM` (`ctverify/audit/CHECK`).
    pub generator_id: String,
    /// The account the finding is about (the trail's).
    pub aws_account_id: String,
    /// ASFF types: [`TYPE_DATA_DESTRUCTION`] and [`TYPE_DEFENSE_EVASION`] for evidence of
    /// tampering, [`TYPE_STANDARDS`] otherwise.
    pub types: Vec<String>,
    /// When the finding was made (this run).
    pub created_at: String,
    /// When it was last updated (this run).
    pub updated_at: String,
    /// The severity.
    pub severity: AsffSeverity,
    /// One line: what and where (at most 256 characters).
    pub title: String,
    /// The sentence, the run's verdict line for a summary (at most 1024 characters).
    pub description: String,
    /// The trail, and the S3 object or chain (1 to 32).
    pub resources: Vec<AsffResource>,
    /// The control's result: FAILED (invalid), WARNING (unverifiable), PASSED (valid or
    /// resolved).
    pub compliance: AsffCompliance,
    /// `ACTIVE`, or `ARCHIVED` for a finding a later run no longer finds.
    pub record_state: String,
    /// `RESOLVED` for a finding a later run no longer finds; absent otherwise (Security Hub
    /// sets `NEW` on a new finding and keeps the customer's status on an update).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<AsffWorkflow>,
    /// The trail's home region.
    pub region: String,
    /// `ctverify`.
    pub product_name: String,
    /// `ctverify`.
    pub company_name: String,
    /// The finding's evidence as ctverify names it (`ctverify/kind`, `ctverify/status`,
    /// `ctverify/expected_sha256`, ...).
    pub product_fields: BTreeMap<String, String>,
}

/// `Severity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffSeverity {
    /// `CRITICAL`, `HIGH`, `MEDIUM` or `INFORMATIONAL`.
    pub label: String,
}

/// One of `Resources`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffResource {
    /// `AwsCloudTrailTrail`, `AwsS3Object`, `AwsS3Bucket` or `Other` (a chain, a bundle file).
    #[serde(rename = "Type")]
    pub kind: String,
    /// The resource's ARN, or ctverify's name for a chain or bundle file.
    pub id: String,
    /// The partition (`aws`, ...).
    pub partition: String,
    /// The region.
    pub region: String,
}

/// `Compliance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffCompliance {
    /// `PASSED`, `WARNING` or `FAILED`.
    pub status: String,
    /// The Security Hub control the finding mirrors (`CloudTrail.4`), for `audit`'s checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_control_id: Option<String>,
    /// Requirements of standards the finding bears on (CIS AWS Foundations Benchmark ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related_requirements: Vec<String>,
}

/// `Workflow`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffWorkflow {
    /// `RESOLVED`.
    pub status: String,
}

/// Where findings go: the account, region and partition of the product ARN and resources.
#[derive(Debug, Clone)]
pub struct Target {
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: String,
    /// The region of the Security Hub the findings are for.
    pub region: String,
    /// The account.
    pub account: String,
}

impl Target {
    /// The trail's partition, home region and account; `None` when `trail` is not a trail ARN.
    pub fn of_trail(trail: &str) -> Option<Self> {
        trail.parse().ok().map(|arn| Target::of_arn(&arn))
    }

    /// The trail's partition, home region and account.
    pub fn of_arn(arn: &TrailArn) -> Self {
        Target {
            partition: arn.partition.clone(),
            region: arn.region.clone(),
            account: arn.account_id.clone(),
        }
    }

    /// `arn:PARTITION:securityhub:REGION:ACCOUNT:product/ACCOUNT/default`.
    pub fn product_arn(&self) -> String {
        format!(
            "arn:{}:securityhub:{}:{}:product/{}/default",
            self.partition, self.region, self.account, self.account
        )
    }
}

/// Whether a finding is sent as found, or as resolved because a later run no longer finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// Found by this run.
    Active,
    /// Found by an earlier run, not by this one.
    Resolved,
}

/// `text` cut to `max` characters (with `…` when cut), control characters escaped: keys from
/// the bucket are hostile text.
pub(crate) fn clip(text: &str, max: usize) -> String {
    let text = cloudtrail_verify::messages::escape(text);
    if text.chars().count() <= max {
        return text.into_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The ASFF types of a finding: evidence of tampering, or a control not proven.
fn types(finding: &ReportFinding) -> Vec<String> {
    let tampering = || vec![TYPE_DATA_DESTRUCTION.into(), TYPE_DEFENSE_EVASION.into()];
    let standards = || vec![TYPE_STANDARDS.into()];
    match (finding.kind, finding.status) {
        (FindingKind::Summary, _) => standards(),
        (
            FindingKind::BundleFile
            | FindingKind::ChainWalk
            | FindingKind::Checkpoint
            | FindingKind::Seam
            | FindingKind::DigestFile
            | FindingKind::LogsNotChecked
            | FindingKind::LogFile
            | FindingKind::UnlistedLogFile
            | FindingKind::CoverageGap
            | FindingKind::ForeignObject
            | FindingKind::ForeignObjectsOmitted
            | FindingKind::VersionListing
            | FindingKind::ChangedVersion
            | FindingKind::ChangedVersionsOmitted,
            Status::Invalid,
        ) => tampering(),
        (_, Status::Valid | Status::Unverifiable) => standards(),
    }
}

fn severity_label(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "CRITICAL",
        Severity::High => "HIGH",
        Severity::Medium => "MEDIUM",
        Severity::Informational => "INFORMATIONAL",
    }
}

/// `PASSED`, `WARNING` or `FAILED`: the compliance status of a status.
pub fn compliance_status(status: Status) -> &'static str {
    match status {
        Status::Valid => "PASSED",
        Status::Unverifiable => "WARNING",
        Status::Invalid => "FAILED",
    }
}

/// The resources of a finding: the trail first, then what the finding is about.
fn resources(finding: &ReportFinding, target: &Target) -> Vec<AsffResource> {
    let resource = |kind: &str, id: String| AsffResource {
        kind: kind.into(),
        id,
        partition: target.partition.clone(),
        region: target.region.clone(),
    };
    let mut out = vec![resource("AwsCloudTrailTrail", finding.trail.clone())];
    let object = || match (&finding.bucket, &finding.key) {
        (Some(bucket), Some(key)) => Some(resource(
            "AwsS3Object",
            format!("arn:{}:s3:::{bucket}/{key}", target.partition),
        )),
        _ => None,
    };
    let chain = || {
        finding.chain.as_ref().map(|c| {
            resource(
                "Other",
                format!("{}/chain/{}/{}", finding.trail, c.account_id, c.region),
            )
        })
    };
    let about = match finding.kind {
        FindingKind::Summary => finding
            .bucket
            .as_ref()
            .map(|b| resource("AwsS3Bucket", format!("arn:{}:s3:::{b}", target.partition))),
        FindingKind::BundleFile => finding
            .key
            .as_ref()
            .map(|path| resource("Other", format!("bundle:{path}"))),
        FindingKind::Checkpoint
        | FindingKind::DigestFile
        | FindingKind::LogsNotChecked
        | FindingKind::LogFile
        | FindingKind::UnlistedLogFile
        | FindingKind::ForeignObject
        | FindingKind::ChangedVersion => object(),
        FindingKind::ChainWalk
        | FindingKind::Seam
        | FindingKind::CoverageGap
        | FindingKind::ForeignObjectsOmitted
        | FindingKind::VersionListing
        | FindingKind::ChangedVersionsOmitted => chain(),
    };
    out.extend(about);
    out
}

/// One library finding in ASFF, as found or as resolved, made at `now`.
pub fn finding(
    finding: &ReportFinding,
    target: &Target,
    record: Record,
    now: DateTime<Utc>,
) -> AsffFinding {
    let mut fields = BTreeMap::new();
    let mut field = |name: &str, value: Option<&str>| {
        if let Some(value) = value {
            fields.insert(format!("ctverify/{name}"), clip(value, MAX_PRODUCT_FIELD));
        }
    };
    field("kind", Some(finding.kind.as_str()));
    field("problem", Some(&finding.problem));
    field("status", Some(finding.status.as_str()));
    field("severity", Some(finding.severity.as_str()));
    let chain = finding.chain.as_ref().map(ToString::to_string);
    field("chain", chain.as_deref());
    field("bucket", finding.bucket.as_deref());
    field("key", finding.key.as_deref());
    field("expected_sha256", finding.expected_sha256.as_deref());
    field("actual_sha256", finding.actual_sha256.as_deref());
    field("digest_key", finding.digest_key.as_deref());
    let start = finding.start.map(timestamp);
    let end = finding.end.map(timestamp);
    field("start", start.as_deref());
    field("end", end.as_deref());
    let (record_state, workflow, compliance, severity) = match record {
        Record::Active => (
            "ACTIVE",
            None,
            compliance_status(finding.status),
            severity_label(finding.severity),
        ),
        Record::Resolved => (
            "ARCHIVED",
            Some(AsffWorkflow {
                status: "RESOLVED".into(),
            }),
            "PASSED",
            "INFORMATIONAL",
        ),
    };
    let title = match record {
        Record::Active => format!(
            "{}: {}",
            finding.status.as_str().to_uppercase(),
            finding.subject
        ),
        Record::Resolved => format!("RESOLVED: {}", finding.subject),
    };
    let description = match record {
        Record::Active => finding.message.clone(),
        Record::Resolved => format!("No longer found by ctverify (it was: {})", finding.message),
    };
    AsffFinding {
        schema_version: SCHEMA_VERSION.into(),
        id: finding.id.clone(),
        product_arn: target.product_arn(),
        generator_id: format!(
            "ctverify/verify/{}/{}",
            finding.kind.as_str(),
            finding.problem
        ),
        aws_account_id: target.account.clone(),
        types: types(finding),
        created_at: timestamp(now),
        updated_at: timestamp(now),
        severity: AsffSeverity {
            label: severity.into(),
        },
        title: clip(&title, MAX_TITLE),
        description: clip(&description, MAX_DESCRIPTION),
        resources: resources(finding, target),
        compliance: AsffCompliance {
            status: compliance.into(),
            security_control_id: None,
            related_requirements: Vec::new(),
        },
        record_state: record_state.into(),
        workflow,
        region: target.region.clone(),
        product_name: "ctverify".into(),
        company_name: "ctverify".into(),
        product_fields: fields,
    }
}

/// A run's findings in ASFF: those it found (`found`, its summary included), then those an
/// earlier run sent that it no longer finds (`resolved`).
pub fn findings(
    found: &[ReportFinding],
    resolved: &[ReportFinding],
    target: &Target,
    now: DateTime<Utc>,
) -> Vec<AsffFinding> {
    found
        .iter()
        .map(|f| finding(f, target, Record::Active, now))
        .chain(
            resolved
                .iter()
                .map(|f| finding(f, target, Record::Resolved, now)),
        )
        .collect()
}
