//! `audit`: a posture report of one trail or every trail of the account, one [`Finding`] per
//! check, each naming the Security Hub control it corresponds to where there is one.
//!
//! A check whose API call fails (access denied, not implemented by the endpoint, network) is
//! [`Status::Unknown`] with the reason: an audit never reports a pass it could not see.

use aws_sdk_cloudtrail::types::{AdvancedEventSelector, EventSelector, ReadWriteType};
use aws_sdk_s3::types::{BucketVersioningStatus, ObjectLockEnabled};
use serde::Serialize;

use crate::policy::Policy;
use crate::requirements::{self, Delivery};
use crate::sdk::{self, TrailReadError};
use crate::{PostureClients, Status, TrailState};
use cloudtrail_verify::TrailArn;

/// What to audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditScope {
    /// One trail, by ARN (recommended) or name.
    Trail(String),
    /// Every trail `ListTrails` returns (all regions of the account).
    All,
}

/// The checks an audit makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// (`--all`) At least one trail exists and is logging.
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
    /// Log and digest files are encrypted with SSE-KMS.
    SseKms,
    /// (with SSE-KMS) The key exists, is enabled and its policy lets CloudTrail use it.
    KmsKeyPolicy,
    /// Events are also sent to CloudWatch Logs.
    #[serde(rename = "cloudwatch_logs")]
    CloudWatchLogs,
    /// GetTrailStatus reports no delivery error (logs, digests, CloudWatch Logs).
    DeliveryErrors,
    /// The bucket is not public (Block Public Access, bucket policy, ACL).
    BucketNotPublic,
    /// The bucket policy lets CloudTrail deliver, and grants it nothing more than it needs.
    BucketPolicyLeastPrivilege,
    /// Bucket versioning is enabled.
    BucketVersioning,
    /// Bucket default encryption is configured.
    BucketDefaultEncryption,
    /// Bucket server access logging is enabled.
    BucketAccessLogging,
    /// Object Lock with a default retention protects what CloudTrail writes.
    BucketObjectLock,
}

impl Check {
    /// The Security Hub control this check corresponds to, if any.
    pub fn control(self) -> Option<&'static str> {
        match self {
            Check::AccountHasLoggingTrail => Some("CloudTrail.3"),
            Check::Logging | Check::MultiRegion | Check::ManagementEventsReadWrite => {
                Some("CloudTrail.1")
            }
            Check::SseKms => Some("CloudTrail.2"),
            Check::LogFileValidation => Some("CloudTrail.4"),
            Check::CloudWatchLogs => Some("CloudTrail.5"),
            Check::BucketNotPublic => Some("CloudTrail.6"),
            Check::BucketAccessLogging => Some("CloudTrail.7"),
            Check::TrailReadable
            | Check::KmsKeyPolicy
            | Check::DeliveryErrors
            | Check::BucketPolicyLeastPrivilege
            | Check::BucketVersioning
            | Check::BucketDefaultEncryption
            | Check::BucketObjectLock => None,
        }
    }

    /// A short human title.
    pub fn title(self) -> &'static str {
        match self {
            Check::AccountHasLoggingTrail => "account has a logging trail",
            Check::TrailReadable => "trail readable",
            Check::Logging => "trail is logging",
            Check::MultiRegion => "multi-region trail",
            Check::ManagementEventsReadWrite => "read and write management events",
            Check::LogFileValidation => "log-file validation",
            Check::SseKms => "SSE-KMS encryption",
            Check::KmsKeyPolicy => "KMS key usable by CloudTrail",
            Check::CloudWatchLogs => "CloudWatch Logs integration",
            Check::DeliveryErrors => "no delivery errors",
            Check::BucketNotPublic => "bucket not public",
            Check::BucketPolicyLeastPrivilege => {
                "bucket policy grants CloudTrail only what it needs"
            }
            Check::BucketVersioning => "bucket versioning",
            Check::BucketDefaultEncryption => "bucket default encryption",
            Check::BucketAccessLogging => "bucket access logging",
            Check::BucketObjectLock => "bucket Object Lock",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Which check.
    pub check: Check,
    /// The matching Security Hub control (`CloudTrail.1` …), if any.
    pub control: Option<&'static str>,
    /// Pass, fail or unknown.
    pub status: Status,
    /// What was seen, or why it could not be seen.
    pub evidence: String,
}

impl Finding {
    fn new(check: Check, status: Status, evidence: impl Into<String>) -> Self {
        Self {
            check,
            control: check.control(),
            status,
            evidence: evidence.into(),
        }
    }
}

/// The findings for one trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrailReport {
    /// Trail ARN.
    pub trail_arn: String,
    /// Worst status of the findings (fail > unknown > pass).
    pub status: Status,
    /// The trail's settings and status, when it could be read.
    pub state: Option<TrailState>,
    /// One finding per check.
    pub findings: Vec<Finding>,
}

impl TrailReport {
    fn new(trail_arn: String, state: Option<TrailState>, findings: Vec<Finding>) -> Self {
        Self {
            trail_arn,
            status: worst(&findings),
            state,
            findings,
        }
    }
}

/// Counts of findings by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Findings that passed.
    pub pass: usize,
    /// Findings that failed.
    pub fail: usize,
    /// Findings that could not be determined.
    pub unknown: usize,
}

/// The audit report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostureReport {
    /// Worst status over every finding.
    pub status: Status,
    /// Counts over every finding.
    pub summary: Summary,
    /// Account-level findings (with `--all`).
    pub account_findings: Vec<Finding>,
    /// One report per trail.
    pub trails: Vec<TrailReport>,
}

impl PostureReport {
    fn new(account_findings: Vec<Finding>, trails: Vec<TrailReport>) -> Self {
        let all: Vec<&Finding> = account_findings
            .iter()
            .chain(trails.iter().flat_map(|t| &t.findings))
            .collect();
        let mut summary = Summary::default();
        for f in &all {
            match f.status {
                Status::Pass => summary.pass += 1,
                Status::Fail => summary.fail += 1,
                Status::Unknown => summary.unknown += 1,
            }
        }
        let status = all.iter().map(|f| f.status).max().unwrap_or(Status::Pass);
        Self {
            status,
            summary,
            account_findings,
            trails,
        }
    }
}

fn worst(findings: &[Finding]) -> Status {
    findings
        .iter()
        .map(|f| f.status)
        .max()
        .unwrap_or(Status::Pass)
}

/// Why an audit could not be made at all (individual check failures are `Unknown` findings).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The trail asked for does not exist.
    #[error("trail {trail} not found ({message})")]
    TrailNotFound {
        /// The trail asked for.
        trail: String,
        /// The service's message.
        message: String,
    },
    /// The trail asked for could not be read.
    #[error("could not read trail {trail}: {message}")]
    ReadTrail {
        /// The trail asked for.
        trail: String,
        /// What went wrong.
        message: String,
    },
    /// `ListTrails` failed (with `--all`).
    #[error("could not list the account's trails: {message}")]
    ListTrails {
        /// What went wrong.
        message: String,
    },
}

/// Audits the trails in `scope`.
pub async fn audit(
    clients: &PostureClients,
    scope: &AuditScope,
) -> Result<PostureReport, AuditError> {
    match scope {
        AuditScope::Trail(trail) => {
            let (found, ct) =
                sdk::get_trail(&clients.cloudtrail, trail)
                    .await
                    .map_err(|e| match e {
                        TrailReadError::NotFound(message) => AuditError::TrailNotFound {
                            trail: trail.clone(),
                            message,
                        },
                        TrailReadError::Other(message) => AuditError::ReadTrail {
                            trail: trail.clone(),
                            message,
                        },
                    })?;
            let report = audit_trail(clients, &ct, &found).await;
            Ok(PostureReport::new(Vec::new(), vec![report]))
        }
        AuditScope::All => {
            let arns = list_trails(&clients.cloudtrail).await?;
            let mut reports = Vec::new();
            for arn in &arns {
                reports.push(match sdk::get_trail(&clients.cloudtrail, arn).await {
                    Ok((found, ct)) => audit_trail(clients, &ct, &found).await,
                    Err(TrailReadError::NotFound(m) | TrailReadError::Other(m)) => {
                        TrailReport::new(
                            arn.clone(),
                            None,
                            vec![Finding::new(
                                Check::TrailReadable,
                                Status::Unknown,
                                format!("GetTrail failed: {m}"),
                            )],
                        )
                    }
                });
            }
            let account = account_finding(&reports);
            Ok(PostureReport::new(vec![account], reports))
        }
    }
}

/// Every trail ARN of the account (ListTrails covers all regions), without duplicates.
async fn list_trails(ct: &aws_sdk_cloudtrail::Client) -> Result<Vec<String>, AuditError> {
    let mut arns: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = ct
            .list_trails()
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| AuditError::ListTrails {
                message: sdk::describe(&e),
            })?;
        for t in out.trails() {
            if let Some(arn) = t.trail_arn()
                && !arns.iter().any(|a| a == arn)
            {
                arns.push(arn.to_owned());
            }
        }
        match out.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(arns)
}

fn account_finding(reports: &[TrailReport]) -> Finding {
    let logging: Vec<Status> = reports
        .iter()
        .flat_map(|r| &r.findings)
        .filter(|f| f.check == Check::Logging)
        .map(|f| f.status)
        .collect();
    let (status, evidence) = if reports.is_empty() {
        (Status::Fail, "the account has no trail".to_owned())
    } else if logging.contains(&Status::Pass) {
        (
            Status::Pass,
            format!(
                "{} of {} trails are logging",
                logging.iter().filter(|s| **s == Status::Pass).count(),
                reports.len()
            ),
        )
    } else if logging.contains(&Status::Unknown) || logging.len() < reports.len() {
        (
            Status::Unknown,
            "no trail is known to be logging; the status of some could not be read".to_owned(),
        )
    } else {
        (
            Status::Fail,
            format!("no trail is logging ({} trail(s) audited)", reports.len()),
        )
    };
    Finding::new(Check::AccountHasLoggingTrail, status, evidence)
}

/// Audits one trail; `ct` is a CloudTrail client in the trail's home region.
async fn audit_trail(
    clients: &PostureClients,
    ct: &aws_sdk_cloudtrail::Client,
    trail: &aws_sdk_cloudtrail::types::Trail,
) -> TrailReport {
    let state = sdk::trail_state(ct, trail).await;
    let mut findings = Vec::new();

    findings.push(logging_finding(&state));
    findings.push(match trail.is_multi_region_trail() {
        Some(true) => Finding::new(
            Check::MultiRegion,
            Status::Pass,
            "IsMultiRegionTrail is true",
        ),
        Some(false) => Finding::new(
            Check::MultiRegion,
            Status::Fail,
            format!(
                "IsMultiRegionTrail is false: only {} is recorded",
                state.home_region
            ),
        ),
        None => Finding::new(
            Check::MultiRegion,
            Status::Unknown,
            "GetTrail did not report IsMultiRegionTrail",
        ),
    });
    findings.push(management_events_finding(ct, &state.arn).await);
    findings.push(if state.log_file_validation_enabled {
        Finding::new(
            Check::LogFileValidation,
            Status::Pass,
            "LogFileValidationEnabled is true: digest files are delivered",
        )
    } else {
        Finding::new(
            Check::LogFileValidation,
            Status::Fail,
            "LogFileValidationEnabled is false: no digest files, so changes to log files cannot \
             be detected (fix: ctverify enable)",
        )
    });
    findings.push(match &state.kms_key_id {
        Some(key) => Finding::new(Check::SseKms, Status::Pass, format!("KmsKeyId is {key}")),
        None => Finding::new(
            Check::SseKms,
            Status::Fail,
            "no KmsKeyId: log and digest files use the bucket's default encryption only \
             (fix: ctverify enable)",
        ),
    });
    let arn = TrailArn::parse(&state.arn);
    if let (Some(key), Some(arn)) = (&state.kms_key_id, &arn) {
        findings.push(kms_key_finding(clients, key, arn, &state.arn).await);
    }
    findings.push(match &state.cloudwatch_logs_log_group_arn {
        Some(group) => Finding::new(
            Check::CloudWatchLogs,
            Status::Pass,
            format!("events are sent to {group}"),
        ),
        None => Finding::new(
            Check::CloudWatchLogs,
            Status::Fail,
            "no CloudWatchLogsLogGroupArn: events are not sent to CloudWatch Logs",
        ),
    });
    findings.push(delivery_errors_finding(&state));
    findings.extend(bucket_findings(clients, &state, arn.as_ref()).await);

    TrailReport::new(state.arn.clone(), Some(state), findings)
}

fn logging_finding(state: &TrailState) -> Finding {
    match (&state.status, &state.status_error) {
        (Some(s), _) => match s.is_logging {
            Some(true) => Finding::new(
                Check::Logging,
                Status::Pass,
                match &s.latest_delivery_time {
                    Some(t) => format!("IsLogging is true; last delivery {t}"),
                    None => "IsLogging is true".to_owned(),
                },
            ),
            Some(false) => Finding::new(
                Check::Logging,
                Status::Fail,
                "IsLogging is false: the trail records nothing",
            ),
            None => Finding::new(
                Check::Logging,
                Status::Unknown,
                "GetTrailStatus did not report IsLogging",
            ),
        },
        (None, err) => Finding::new(
            Check::Logging,
            Status::Unknown,
            format!(
                "GetTrailStatus failed: {}",
                err.as_deref().unwrap_or("no reason given")
            ),
        ),
    }
}

fn delivery_errors_finding(state: &TrailState) -> Finding {
    let Some(s) = &state.status else {
        return Finding::new(
            Check::DeliveryErrors,
            Status::Unknown,
            format!(
                "GetTrailStatus failed: {}",
                state.status_error.as_deref().unwrap_or("no reason given")
            ),
        );
    };
    let errors: Vec<String> = [
        ("log delivery", &s.latest_delivery_error),
        ("digest delivery", &s.latest_digest_delivery_error),
        (
            "CloudWatch Logs delivery",
            &s.latest_cloudwatch_logs_delivery_error,
        ),
    ]
    .into_iter()
    .filter_map(|(what, e)| e.as_ref().map(|e| format!("{what}: {e}")))
    .collect();
    if errors.is_empty() {
        Finding::new(
            Check::DeliveryErrors,
            Status::Pass,
            "GetTrailStatus reports no delivery error",
        )
    } else {
        Finding::new(Check::DeliveryErrors, Status::Fail, errors.join("; "))
    }
}

/// Which management events a set of selectors records.
#[derive(Debug, Default, Clone, Copy)]
struct Coverage {
    read: bool,
    write: bool,
}

fn classic_coverage(selectors: &[EventSelector], notes: &mut Vec<String>) -> Coverage {
    let mut c = Coverage::default();
    for s in selectors {
        // IncludeManagementEvents and ReadWriteType default to true and All.
        if s.include_management_events() == Some(false) {
            continue;
        }
        match s.read_write_type() {
            None | Some(ReadWriteType::All) => {
                c.read = true;
                c.write = true;
            }
            Some(ReadWriteType::ReadOnly) => c.read = true,
            Some(ReadWriteType::WriteOnly) => c.write = true,
            Some(other) => notes.push(format!("unknown ReadWriteType {}", other.as_str())),
        }
        if !s.exclude_management_event_sources().is_empty() {
            notes.push(format!(
                "management events from {} are excluded",
                s.exclude_management_event_sources().join(", ")
            ));
        }
    }
    c
}

fn advanced_coverage(selectors: &[AdvancedEventSelector], notes: &mut Vec<String>) -> Coverage {
    let mut c = Coverage::default();
    for s in selectors {
        let fields = s.field_selectors();
        let management = fields
            .iter()
            .any(|f| f.field() == "eventCategory" && f.equals().iter().any(|v| v == "Management"));
        if !management {
            continue;
        }
        let read_only = fields.iter().find(|f| f.field() == "readOnly");
        match read_only.map(|f| f.equals()) {
            None => {
                c.read = true;
                c.write = true;
            }
            Some(vals) => {
                c.read |= vals.iter().any(|v| v == "true");
                c.write |= vals.iter().any(|v| v == "false");
            }
        }
        let others: Vec<&str> = fields
            .iter()
            .map(|f| f.field())
            .filter(|f| *f != "eventCategory" && *f != "readOnly")
            .collect();
        if !others.is_empty() {
            notes.push(format!(
                "selector {} also filters on {}",
                s.name().unwrap_or("(unnamed)"),
                others.join(", ")
            ));
        }
    }
    c
}

async fn management_events_finding(ct: &aws_sdk_cloudtrail::Client, trail_arn: &str) -> Finding {
    let out = match ct.get_event_selectors().trail_name(trail_arn).send().await {
        Ok(out) => out,
        Err(e) => {
            return Finding::new(
                Check::ManagementEventsReadWrite,
                Status::Unknown,
                format!("GetEventSelectors failed: {}", sdk::describe(&e)),
            );
        }
    };
    let (classic, advanced) = (out.event_selectors(), out.advanced_event_selectors());
    if classic.is_empty() && advanced.is_empty() {
        // AWS always returns at least the default selector (all management events); an empty
        // answer means the endpoint does not model selectors, not that nothing is recorded.
        return Finding::new(
            Check::ManagementEventsReadWrite,
            Status::Unknown,
            "GetEventSelectors returned no selectors at all (AWS returns the default selector \
             for a trail that never had selectors set; this endpoint returned none)",
        );
    }
    let mut notes = Vec::new();
    let c = if advanced.is_empty() {
        classic_coverage(classic, &mut notes)
    } else {
        advanced_coverage(advanced, &mut notes)
    };
    let kind = if advanced.is_empty() {
        "event selectors"
    } else {
        "advanced event selectors"
    };
    let suffix = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    };
    match (c.read, c.write) {
        (true, true) => Finding::new(
            Check::ManagementEventsReadWrite,
            Status::Pass,
            format!("{kind} record read and write management events{suffix}"),
        ),
        (read, write) => {
            let missing = match (read, write) {
                (false, false) => "no management events",
                (true, false) => "no write management events",
                _ => "no read management events",
            };
            Finding::new(
                Check::ManagementEventsReadWrite,
                Status::Fail,
                format!("{kind} record {missing}{suffix}"),
            )
        }
    }
}

async fn kms_key_finding(
    clients: &PostureClients,
    key: &str,
    trail: &TrailArn,
    trail_arn: &str,
) -> Finding {
    let region = key
        .split(':')
        .nth(3)
        .filter(|r| key.starts_with("arn:") && !r.is_empty())
        .unwrap_or(&trail.region);
    let kms = sdk::kms_in(&clients.kms, region);
    let meta = match kms.describe_key().key_id(key).send().await {
        Ok(out) => match out.key_metadata {
            Some(m) => m,
            None => {
                return Finding::new(
                    Check::KmsKeyPolicy,
                    Status::Unknown,
                    "DescribeKey returned no key metadata",
                );
            }
        },
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_not_found_exception()) =>
        {
            return Finding::new(
                Check::KmsKeyPolicy,
                Status::Fail,
                format!(
                    "key {key} does not exist: CloudTrail cannot encrypt, so delivery fails ({})",
                    sdk::describe(&e)
                ),
            );
        }
        Err(e) => {
            return Finding::new(
                Check::KmsKeyPolicy,
                Status::Unknown,
                format!("DescribeKey {key} failed: {}", sdk::describe(&e)),
            );
        }
    };
    let key_arn = meta.arn().unwrap_or(key).to_owned();
    let state = meta.key_state().map_or("unknown", |s| s.as_str());
    if meta.key_state() != Some(&aws_sdk_kms::types::KeyState::Enabled) {
        return Finding::new(
            Check::KmsKeyPolicy,
            Status::Fail,
            format!("key {key_arn} is {state}: CloudTrail cannot encrypt with it"),
        );
    }
    let policy = match kms
        .get_key_policy()
        .key_id(meta.key_id())
        .policy_name("default")
        .send()
        .await
    {
        Ok(out) => out.policy.unwrap_or_default(),
        Err(e) => {
            return Finding::new(
                Check::KmsKeyPolicy,
                Status::Unknown,
                format!(
                    "key {key_arn} is enabled; GetKeyPolicy failed: {}",
                    sdk::describe(&e)
                ),
            );
        }
    };
    match Policy::parse(&policy) {
        Err(e) => Finding::new(
            Check::KmsKeyPolicy,
            Status::Unknown,
            format!("key {key_arn}: {e}"),
        ),
        Ok(policy) => {
            let v = requirements::key_policy_verdict(&policy, &key_arn, trail, trail_arn);
            Finding::new(
                Check::KmsKeyPolicy,
                if v.cloudtrail_can_use() {
                    Status::Pass
                } else {
                    Status::Fail
                },
                format!("key {key_arn} is enabled; {}", v.explain()),
            )
        }
    }
}

/// Result of reading one bucket setting: `Ok(None)` when the bucket simply has none.
type Read<T> = Result<Option<T>, String>;

fn absent_if<T, E, R>(
    result: Result<T, aws_sdk_s3::error::SdkError<E, R>>,
    absent_codes: &[&str],
) -> Read<T>
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if sdk::code(&e).is_some_and(|c| absent_codes.contains(&c)) => Ok(None),
        Err(e) => Err(sdk::describe(&e)),
    }
}

async fn bucket_findings(
    clients: &PostureClients,
    state: &TrailState,
    arn: Option<&TrailArn>,
) -> Vec<Finding> {
    const BUCKET_CHECKS: [Check; 6] = [
        Check::BucketNotPublic,
        Check::BucketPolicyLeastPrivilege,
        Check::BucketVersioning,
        Check::BucketDefaultEncryption,
        Check::BucketAccessLogging,
        Check::BucketObjectLock,
    ];
    let bucket = state.s3_bucket.as_str();
    // Asked in the trail's home region: the usual place of the bucket, and a region even when
    // the configuration has none.
    let s3_home = sdk::s3_in(&clients.s3, &state.home_region);
    let region = match sdk::bucket_region(&s3_home, bucket).await {
        Ok(r) => r,
        Err(e) => {
            return BUCKET_CHECKS
                .iter()
                .map(|c| {
                    Finding::new(
                        *c,
                        Status::Unknown,
                        format!("GetBucketLocation {bucket} failed: {e}"),
                    )
                })
                .collect();
        }
    };
    let s3 = sdk::s3_in(&clients.s3, &region);

    let policy_text: Read<String> = absent_if(
        s3.get_bucket_policy().bucket(bucket).send().await,
        &["NoSuchBucketPolicy"],
    )
    .map(|o| o.map(|out| out.policy.unwrap_or_default()));
    let policy: Read<Policy> = match policy_text {
        Ok(Some(text)) => Policy::parse(&text)
            .map(Some)
            .map_err(|e| format!("bucket policy: {e}")),
        Ok(None) => Ok(None),
        Err(e) => Err(format!("GetBucketPolicy failed: {e}")),
    };

    let mut findings = vec![
        not_public_finding(&s3, bucket, &policy).await,
        least_privilege_finding(state, arn, &policy),
    ];

    findings.push(
        match absent_if(s3.get_bucket_versioning().bucket(bucket).send().await, &[]) {
            Ok(Some(out)) => {
                let mfa = out
                    .mfa_delete()
                    .map_or("MFA delete not reported".to_owned(), |m| {
                        format!("MFA delete {}", m.as_str())
                    });
                match out.status() {
                    Some(BucketVersioningStatus::Enabled) => Finding::new(
                        Check::BucketVersioning,
                        Status::Pass,
                        format!("versioning Enabled; {mfa}"),
                    ),
                    Some(other) => Finding::new(
                        Check::BucketVersioning,
                        Status::Fail,
                        format!(
                            "versioning {}: overwritten or deleted log files cannot be recovered",
                            other.as_str()
                        ),
                    ),
                    None => Finding::new(
                        Check::BucketVersioning,
                        Status::Fail,
                        "versioning was never enabled: overwritten or deleted log files cannot be \
                         recovered",
                    ),
                }
            }
            Ok(None) => Finding::new(
                Check::BucketVersioning,
                Status::Unknown,
                "GetBucketVersioning returned nothing",
            ),
            Err(e) => Finding::new(
                Check::BucketVersioning,
                Status::Unknown,
                format!("GetBucketVersioning failed: {e}"),
            ),
        },
    );

    findings.push(
        match absent_if(
            s3.get_bucket_encryption().bucket(bucket).send().await,
            &["ServerSideEncryptionConfigurationNotFoundError"],
        ) {
            Ok(Some(out)) => {
                let rules: Vec<String> = out
                    .server_side_encryption_configuration()
                    .map(|c| c.rules())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|r| r.apply_server_side_encryption_by_default())
                    .map(|d| match d.kms_master_key_id() {
                        Some(k) => format!("{} with {k}", d.sse_algorithm().as_str()),
                        None => d.sse_algorithm().as_str().to_owned(),
                    })
                    .collect();
                if rules.is_empty() {
                    Finding::new(
                        Check::BucketDefaultEncryption,
                        Status::Fail,
                        "the encryption configuration has no default-encryption rule",
                    )
                } else {
                    Finding::new(
                        Check::BucketDefaultEncryption,
                        Status::Pass,
                        format!("default encryption {}", rules.join(", ")),
                    )
                }
            }
            Ok(None) => Finding::new(
                Check::BucketDefaultEncryption,
                Status::Fail,
                "no default encryption configuration",
            ),
            Err(e) => Finding::new(
                Check::BucketDefaultEncryption,
                Status::Unknown,
                format!("GetBucketEncryption failed: {e}"),
            ),
        },
    );

    findings.push(
        match absent_if(s3.get_bucket_logging().bucket(bucket).send().await, &[]) {
            Ok(Some(out)) => match out.logging_enabled() {
                Some(l) => Finding::new(
                    Check::BucketAccessLogging,
                    Status::Pass,
                    format!(
                        "server access logs go to s3://{}/{}",
                        l.target_bucket(),
                        l.target_prefix()
                    ),
                ),
                None => Finding::new(
                    Check::BucketAccessLogging,
                    Status::Fail,
                    "server access logging is off: reads and deletions of log files leave no \
                     record",
                ),
            },
            Ok(None) => Finding::new(
                Check::BucketAccessLogging,
                Status::Unknown,
                "GetBucketLogging returned nothing",
            ),
            Err(e) => Finding::new(
                Check::BucketAccessLogging,
                Status::Unknown,
                format!("GetBucketLogging failed: {e}"),
            ),
        },
    );

    findings.push(
        match absent_if(
            s3.get_object_lock_configuration()
                .bucket(bucket)
                .send()
                .await,
            &["ObjectLockConfigurationNotFoundError"],
        ) {
            Ok(Some(out)) => {
                let conf = out.object_lock_configuration();
                let enabled =
                    conf.and_then(|c| c.object_lock_enabled()) == Some(&ObjectLockEnabled::Enabled);
                let retention = conf
                    .and_then(|c| c.rule())
                    .and_then(|r| r.default_retention());
                match (enabled, retention) {
                    (true, Some(r)) => Finding::new(
                        Check::BucketObjectLock,
                        Status::Pass,
                        format!(
                            "Object Lock enabled, default retention {} {}",
                            r.mode().map_or("(no mode)", |m| m.as_str()),
                            match (r.days(), r.years()) {
                                (Some(d), _) => format!("{d} days"),
                                (None, Some(y)) => format!("{y} years"),
                                (None, None) => "(no period)".to_owned(),
                            }
                        ),
                    ),
                    (true, None) => Finding::new(
                        Check::BucketObjectLock,
                        Status::Fail,
                        "Object Lock enabled without a default retention: CloudTrail sets no \
                         retention on what it writes, so its files are not locked",
                    ),
                    (false, _) => Finding::new(
                        Check::BucketObjectLock,
                        Status::Fail,
                        "Object Lock is not enabled",
                    ),
                }
            }
            Ok(None) => Finding::new(
                Check::BucketObjectLock,
                Status::Fail,
                "Object Lock is not enabled",
            ),
            Err(e) => Finding::new(
                Check::BucketObjectLock,
                Status::Unknown,
                format!("GetObjectLockConfiguration failed: {e}"),
            ),
        },
    );
    findings
}

const PUBLIC_GROUPS: [&str; 2] = [
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
];

async fn not_public_finding(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    policy: &Read<Policy>,
) -> Finding {
    let bpa = absent_if(
        s3.get_public_access_block().bucket(bucket).send().await,
        &["NoSuchPublicAccessBlockConfiguration"],
    )
    .map(|o| {
        o.and_then(|out| out.public_access_block_configuration().cloned())
            .map(|c| {
                [
                    c.block_public_acls().unwrap_or(false),
                    c.ignore_public_acls().unwrap_or(false),
                    c.block_public_policy().unwrap_or(false),
                    c.restrict_public_buckets().unwrap_or(false),
                ]
            })
    });
    let bpa_text = match &bpa {
        Ok(Some(flags)) => {
            let names = [
                "BlockPublicAcls",
                "IgnorePublicAcls",
                "BlockPublicPolicy",
                "RestrictPublicBuckets",
            ];
            let on: Vec<&str> = names
                .iter()
                .zip(flags)
                .filter(|(_, on)| **on)
                .map(|(n, _)| *n)
                .collect();
            if on.len() == 4 {
                "bucket Block Public Access: all four settings on".to_owned()
            } else if on.is_empty() {
                "bucket Block Public Access: all settings off".to_owned()
            } else {
                format!("bucket Block Public Access: only {} on", on.join(", "))
            }
        }
        Ok(None) => "no bucket Block Public Access configuration".to_owned(),
        Err(e) => format!("GetPublicAccessBlock failed: {e}"),
    };
    if let Ok(Some(flags)) = &bpa
        && flags.iter().all(|f| *f)
    {
        return Finding::new(
            Check::BucketNotPublic,
            Status::Pass,
            format!("{bpa_text} (the account-level setting was not read)"),
        );
    }
    let (ignore_acls, restrict_policy) = match &bpa {
        Ok(Some(f)) => (f[1], f[3]),
        _ => (false, false),
    };

    let mut public = Vec::new();
    let mut unknown = Vec::new();
    match policy {
        Ok(Some(p)) => {
            let open = requirements::public_statements(p);
            if !open.is_empty() && !restrict_policy {
                public.push(format!(
                    "the bucket policy grants anyone access in {}",
                    open.join(", ")
                ));
            }
        }
        Ok(None) => {}
        Err(e) => unknown.push(e.clone()),
    }
    match s3.get_bucket_acl().bucket(bucket).send().await {
        Ok(acl) => {
            let grants: Vec<String> = acl
                .grants()
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
                .collect();
            if !grants.is_empty() && !ignore_acls {
                public.push(format!("the bucket ACL grants {}", grants.join(", ")));
            }
        }
        Err(e) => unknown.push(format!("GetBucketAcl failed: {}", sdk::describe(&e))),
    }
    if !public.is_empty() {
        Finding::new(
            Check::BucketNotPublic,
            Status::Fail,
            format!("{}; {bpa_text}", public.join("; ")),
        )
    } else if !unknown.is_empty() {
        Finding::new(
            Check::BucketNotPublic,
            Status::Unknown,
            format!("{}; {bpa_text}", unknown.join("; ")),
        )
    } else {
        Finding::new(
            Check::BucketNotPublic,
            Status::Pass,
            format!("neither the bucket policy nor the ACL grants public access; {bpa_text}"),
        )
    }
}

fn least_privilege_finding(
    state: &TrailState,
    arn: Option<&TrailArn>,
    policy: &Read<Policy>,
) -> Finding {
    let Some(arn) = arn else {
        return Finding::new(
            Check::BucketPolicyLeastPrivilege,
            Status::Unknown,
            format!("{} is not a trail ARN", state.arn),
        );
    };
    let policy = match policy {
        Ok(Some(p)) => p,
        Ok(None) => {
            return Finding::new(
                Check::BucketPolicyLeastPrivilege,
                Status::Fail,
                format!(
                    "bucket {} has no policy: CloudTrail is not allowed to deliver to it",
                    state.s3_bucket
                ),
            );
        }
        Err(e) => {
            return Finding::new(
                Check::BucketPolicyLeastPrivilege,
                Status::Unknown,
                e.clone(),
            );
        }
    };
    let delivery = Delivery {
        trail: arn,
        trail_arn: &state.arn,
        bucket: &state.s3_bucket,
        prefix: state.s3_key_prefix.as_deref(),
        sse_kms: state.kms_key_id.is_some(),
        kms_key_arn: state.kms_key_id.as_deref(),
    };
    let (delivers, delivery_evidence) =
        requirements::bucket_policy_allows_delivery(policy, &delivery);
    let (excess, examined) = requirements::cloudtrail_grant_excess(policy, &delivery);
    if !delivers {
        Finding::new(
            Check::BucketPolicyLeastPrivilege,
            Status::Fail,
            format!("CloudTrail cannot deliver: {delivery_evidence}"),
        )
    } else if !excess.is_empty() {
        Finding::new(
            Check::BucketPolicyLeastPrivilege,
            Status::Fail,
            excess.join("; "),
        )
    } else {
        Finding::new(
            Check::BucketPolicyLeastPrivilege,
            Status::Pass,
            format!(
                "{examined} statement(s) for cloudtrail.amazonaws.com grant only s3:GetBucketAcl \
                 and s3:PutObject under {}",
                delivery.logs_root()
            ),
        )
    }
}
