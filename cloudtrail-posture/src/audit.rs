//! `audit`: a posture report of one trail or every trail of the account, one [`Finding`] per
//! check, each naming the Security Hub control it corresponds to where there is one.
//!
//! A check whose API call fails (access denied, not implemented by the endpoint, network) is
//! [`CheckStatus::Unknown`] with the reason: an audit never reports a pass it could not see.

use aws_sdk_cloudtrail::types::{AdvancedEventSelector, EventSelector, ReadWriteType};
use aws_sdk_s3::types::{BucketVersioningStatus, ObjectLockEnabled};
use cloudtrail_verify::TrailArn;
use serde::Serialize;

use crate::check::{CheckId, CheckStatus, Finding, worst};
use crate::facts::Observed;
use crate::policy::Policy;
use crate::requirements::{self, Delivery};
use crate::retention::{self, DEFAULT_RETENTION_DAYS};
use crate::sdk::{self, TrailReadError};
use crate::verdict;
use crate::{PostureClients, TrailState};

/// What to audit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditScope {
    /// One trail, by ARN (recommended) or name.
    Trail(String),
    /// Every trail `ListTrails` returns (all regions of the account).
    All,
}

/// How to audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditOptions {
    /// Days the trail's files must be kept: a lifecycle rule expiring them sooner fails
    /// `retention_lifecycle_expiration`. Default [`DEFAULT_RETENTION_DAYS`].
    pub retention_days: u32,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            retention_days: DEFAULT_RETENTION_DAYS,
        }
    }
}

/// The findings for one trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrailReport {
    /// Trail ARN.
    pub trail_arn: String,
    /// Worst status of the findings (fail > unknown > pass).
    pub status: CheckStatus,
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

/// Counts of an audit's findings by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AuditSummary {
    /// Findings that passed.
    pub pass: usize,
    /// Findings that passed with a warning.
    pub warn: usize,
    /// Findings that failed.
    pub fail: usize,
    /// Findings that could not be determined.
    pub unknown: usize,
}

/// The audit report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostureReport {
    /// Worst status over every finding.
    pub status: CheckStatus,
    /// Counts over every finding.
    pub summary: AuditSummary,
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
        let mut summary = AuditSummary::default();
        for f in &all {
            match f.status {
                CheckStatus::Pass => summary.pass += 1,
                CheckStatus::Warn => summary.warn += 1,
                CheckStatus::Fail => summary.fail += 1,
                // `CheckStatus` is non-exhaustive: anything new counts as not determined.
                _ => summary.unknown += 1,
            }
        }
        let status = all
            .iter()
            .map(|f| f.status)
            .max()
            .unwrap_or(CheckStatus::Pass);
        Self {
            status,
            summary,
            account_findings,
            trails,
        }
    }
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
    options: &AuditOptions,
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
            let report = audit_trail(clients, &ct, &found, options).await;
            Ok(PostureReport::new(Vec::new(), vec![report]))
        }
        AuditScope::All => {
            let arns = list_trails(&clients.cloudtrail).await?;
            let mut reports = Vec::new();
            for arn in &arns {
                reports.push(match sdk::get_trail(&clients.cloudtrail, arn).await {
                    Ok((found, ct)) => audit_trail(clients, &ct, &found, options).await,
                    Err(TrailReadError::NotFound(m) | TrailReadError::Other(m)) => {
                        TrailReport::new(
                            arn.clone(),
                            None,
                            vec![Finding::new(
                                CheckId::TrailReadable,
                                CheckStatus::Unknown,
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
    let logging: Vec<CheckStatus> = reports
        .iter()
        .flat_map(|r| &r.findings)
        .filter(|f| f.check == CheckId::Logging)
        .map(|f| f.status)
        .collect();
    let (status, evidence) = if reports.is_empty() {
        (CheckStatus::Fail, "the account has no trail".to_owned())
    } else if logging.contains(&CheckStatus::Pass) {
        (
            CheckStatus::Pass,
            format!(
                "{} of {} trails are logging",
                logging.iter().filter(|s| **s == CheckStatus::Pass).count(),
                reports.len()
            ),
        )
    } else if logging.contains(&CheckStatus::Unknown) || logging.len() < reports.len() {
        (
            CheckStatus::Unknown,
            "no trail is known to be logging; the status of some could not be read".to_owned(),
        )
    } else {
        (
            CheckStatus::Fail,
            format!("no trail is logging ({} trail(s) audited)", reports.len()),
        )
    };
    Finding::new(CheckId::AccountHasLoggingTrail, status, evidence)
}

/// Audits one trail; `ct` is a CloudTrail client in the trail's home region.
async fn audit_trail(
    clients: &PostureClients,
    ct: &aws_sdk_cloudtrail::Client,
    trail: &aws_sdk_cloudtrail::types::Trail,
    options: &AuditOptions,
) -> TrailReport {
    let state = sdk::trail_state(ct, trail).await;
    let mut findings = Vec::new();

    findings.push(logging_finding(&state));
    findings.push(match trail.is_multi_region_trail() {
        Some(true) => Finding::new(
            CheckId::MultiRegion,
            CheckStatus::Pass,
            "IsMultiRegionTrail is true",
        ),
        Some(false) => Finding::new(
            CheckId::MultiRegion,
            CheckStatus::Fail,
            format!(
                "IsMultiRegionTrail is false: only {} is recorded",
                state.home_region
            ),
        ),
        None => Finding::new(
            CheckId::MultiRegion,
            CheckStatus::Unknown,
            "GetTrail did not report IsMultiRegionTrail",
        ),
    });
    findings.push(management_events_finding(ct, &state.arn).await);
    findings.push(if state.log_file_validation_enabled {
        Finding::new(
            CheckId::LogFileValidation,
            CheckStatus::Pass,
            "LogFileValidationEnabled is true: digest files are delivered",
        )
    } else {
        Finding::new(
            CheckId::LogFileValidation,
            CheckStatus::Fail,
            "LogFileValidationEnabled is false: no digest files, so changes to log files cannot \
             be detected (fix: ctverify enable)",
        )
    });
    findings.push(match &state.kms_key_id {
        Some(key) => Finding::new(
            CheckId::SseKms,
            CheckStatus::Pass,
            format!("KmsKeyId is {key}"),
        ),
        None => Finding::new(
            CheckId::SseKms,
            CheckStatus::Fail,
            "no KmsKeyId: log and digest files use the bucket's default encryption only \
             (fix: ctverify enable)",
        ),
    });
    let arn = TrailArn::parse(&state.arn);
    // Asked in the trail's home region: the usual place of the bucket, and a region even when
    // the configuration has none.
    let s3_home = sdk::s3_in(&clients.s3, &state.home_region);
    let bucket_region = sdk::bucket_region(&s3_home, &state.s3_bucket).await;
    if let (Some(key), Some(arn)) = (&state.kms_key_id, &arn) {
        // The same verdict `enable` applies before it sets a key: what `enable` refuses,
        // `audit` fails.
        let lookup = sdk::key_lookup(
            &clients.kms,
            key,
            bucket_region.as_deref().unwrap_or(&arn.region),
        )
        .await;
        let v =
            verdict::kms_key_verdict(&lookup, key, bucket_region.as_deref().ok(), arn, &state.arn);
        findings.extend(v.findings);
    }
    findings.push(match &state.cloudwatch_logs_log_group_arn {
        Some(group) => Finding::new(
            CheckId::CloudWatchLogs,
            CheckStatus::Pass,
            format!("events are sent to {group}"),
        ),
        None => Finding::new(
            CheckId::CloudWatchLogs,
            CheckStatus::Fail,
            "no CloudWatchLogsLogGroupArn: events are not sent to CloudWatch Logs",
        ),
    });
    findings.push(delivery_errors_finding(&state));
    findings.extend(bucket_findings(clients, &state, arn.as_ref(), bucket_region, options).await);

    TrailReport::new(state.arn.clone(), Some(state), findings)
}

fn logging_finding(state: &TrailState) -> Finding {
    match (&state.status, &state.status_error) {
        (Some(s), _) => match s.is_logging {
            Some(true) => Finding::new(
                CheckId::Logging,
                CheckStatus::Pass,
                match &s.latest_delivery_time {
                    Some(t) => format!("IsLogging is true; last delivery {t}"),
                    None => "IsLogging is true".to_owned(),
                },
            ),
            Some(false) => Finding::new(
                CheckId::Logging,
                CheckStatus::Fail,
                "IsLogging is false: the trail records nothing",
            ),
            None => Finding::new(
                CheckId::Logging,
                CheckStatus::Unknown,
                "GetTrailStatus did not report IsLogging",
            ),
        },
        (None, err) => Finding::new(
            CheckId::Logging,
            CheckStatus::Unknown,
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
            CheckId::DeliveryErrors,
            CheckStatus::Unknown,
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
            CheckId::DeliveryErrors,
            CheckStatus::Pass,
            "GetTrailStatus reports no delivery error",
        )
    } else {
        Finding::new(
            CheckId::DeliveryErrors,
            CheckStatus::Fail,
            errors.join("; "),
        )
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
                CheckId::ManagementEventsReadWrite,
                CheckStatus::Unknown,
                format!("GetEventSelectors failed: {}", sdk::describe(&e)),
            );
        }
    };
    let (classic, advanced) = (out.event_selectors(), out.advanced_event_selectors());
    if classic.is_empty() && advanced.is_empty() {
        // AWS always returns at least the default selector (all management events); an empty
        // answer means the endpoint does not model selectors, not that nothing is recorded.
        return Finding::new(
            CheckId::ManagementEventsReadWrite,
            CheckStatus::Unknown,
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
            CheckId::ManagementEventsReadWrite,
            CheckStatus::Pass,
            format!("{kind} record read and write management events{suffix}"),
        ),
        (read, write) => {
            let missing = match (read, write) {
                (false, false) => "no management events",
                (true, false) => "no write management events",
                _ => "no read management events",
            };
            Finding::new(
                CheckId::ManagementEventsReadWrite,
                CheckStatus::Fail,
                format!("{kind} record {missing}{suffix}"),
            )
        }
    }
}

async fn bucket_findings(
    clients: &PostureClients,
    state: &TrailState,
    arn: Option<&TrailArn>,
    region: Result<String, String>,
    options: &AuditOptions,
) -> Vec<Finding> {
    const BUCKET_CHECKS: [CheckId; 10] = [
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
    let bucket = state.s3_bucket.as_str();
    let region = match region {
        Ok(r) => r,
        Err(e) => {
            return BUCKET_CHECKS
                .iter()
                .map(|c| {
                    Finding::new(
                        *c,
                        CheckStatus::Unknown,
                        format!("GetBucketLocation {bucket} failed: {e}"),
                    )
                })
                .collect();
        }
    };
    let s3 = sdk::s3_in(&clients.s3, &region);

    let policy_text = sdk::bucket_policy(&s3, bucket).await;
    let policy: Read<Policy> = match &policy_text {
        Observed::Present(text) => Policy::parse(text)
            .map(Some)
            .map_err(|e| format!("bucket policy: {e}")),
        Observed::Absent => Ok(None),
        Observed::Unreadable(e) => Err(format!("GetBucketPolicy failed: {e}")),
    };

    let mut findings = vec![not_public_finding(&s3, bucket, &policy).await];
    match arn {
        Some(arn) => {
            // What CloudTrail writes with today: SSE-KMS exactly when the trail has a key.
            let delivery = Delivery {
                trail: arn,
                trail_arn: &state.arn,
                bucket: &state.s3_bucket,
                prefix: state.s3_key_prefix.as_deref(),
                sse_kms: state.kms_key_id.is_some(),
                kms_key_arn: state.kms_key_id.as_deref(),
            };
            findings.push(verdict::bucket_policy_verdict(&policy_text, &delivery));
            findings.push(verdict::least_privilege_verdict(&policy_text, &delivery));
        }
        None => {
            for check in [
                CheckId::BucketPolicyAllowsDelivery,
                CheckId::BucketPolicyLeastPrivilege,
            ] {
                findings.push(Finding::new(
                    check,
                    CheckStatus::Unknown,
                    format!("{} is not a trail ARN", state.arn),
                ));
            }
        }
    }

    let versioning = sdk::observe(s3.get_bucket_versioning().bucket(bucket).send().await, &[]);
    let versioning_on = match &versioning {
        Observed::Present(out) => {
            Observed::Present(out.status() == Some(&BucketVersioningStatus::Enabled))
        }
        Observed::Absent => Observed::Absent,
        Observed::Unreadable(e) => Observed::Unreadable(e.clone()),
    };
    findings.push(match versioning {
        Observed::Present(out) => {
            let mfa = out
                .mfa_delete()
                .map_or("MFA delete not reported".to_owned(), |m| {
                    format!("MFA delete {}", m.as_str())
                });
            match out.status() {
                Some(BucketVersioningStatus::Enabled) => Finding::new(
                    CheckId::BucketVersioning,
                    CheckStatus::Pass,
                    format!("versioning Enabled; {mfa}"),
                ),
                Some(other) => Finding::new(
                    CheckId::BucketVersioning,
                    CheckStatus::Fail,
                    format!(
                        "versioning {}: overwritten or deleted log files cannot be recovered",
                        other.as_str()
                    ),
                ),
                None => Finding::new(
                    CheckId::BucketVersioning,
                    CheckStatus::Fail,
                    "versioning was never enabled: overwritten or deleted log files cannot be \
                     recovered",
                ),
            }
        }
        Observed::Absent => Finding::new(
            CheckId::BucketVersioning,
            CheckStatus::Unknown,
            "GetBucketVersioning returned nothing",
        ),
        Observed::Unreadable(e) => Finding::new(
            CheckId::BucketVersioning,
            CheckStatus::Unknown,
            format!("GetBucketVersioning failed: {e}"),
        ),
    });

    findings.push(
        match sdk::observe(
            s3.get_bucket_encryption().bucket(bucket).send().await,
            &["ServerSideEncryptionConfigurationNotFoundError"],
        ) {
            Observed::Present(out) => {
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
                        CheckId::BucketDefaultEncryption,
                        CheckStatus::Fail,
                        "the encryption configuration has no default-encryption rule",
                    )
                } else {
                    Finding::new(
                        CheckId::BucketDefaultEncryption,
                        CheckStatus::Pass,
                        format!("default encryption {}", rules.join(", ")),
                    )
                }
            }
            Observed::Absent => Finding::new(
                CheckId::BucketDefaultEncryption,
                CheckStatus::Fail,
                "no default encryption configuration",
            ),
            Observed::Unreadable(e) => Finding::new(
                CheckId::BucketDefaultEncryption,
                CheckStatus::Unknown,
                format!("GetBucketEncryption failed: {e}"),
            ),
        },
    );

    findings.push(
        match sdk::observe(s3.get_bucket_logging().bucket(bucket).send().await, &[]) {
            Observed::Present(out) => match out.logging_enabled() {
                Some(l) => Finding::new(
                    CheckId::BucketAccessLogging,
                    CheckStatus::Pass,
                    format!(
                        "server access logs go to s3://{}/{}",
                        l.target_bucket(),
                        l.target_prefix()
                    ),
                ),
                None => Finding::new(
                    CheckId::BucketAccessLogging,
                    CheckStatus::Fail,
                    "server access logging is off: reads and deletions of log files leave no \
                     record",
                ),
            },
            Observed::Absent => Finding::new(
                CheckId::BucketAccessLogging,
                CheckStatus::Unknown,
                "GetBucketLogging returned nothing",
            ),
            Observed::Unreadable(e) => Finding::new(
                CheckId::BucketAccessLogging,
                CheckStatus::Unknown,
                format!("GetBucketLogging failed: {e}"),
            ),
        },
    );

    let lock = sdk::observe(
        s3.get_object_lock_configuration()
            .bucket(bucket)
            .send()
            .await,
        &["ObjectLockConfigurationNotFoundError"],
    );
    let lock_on = match &lock {
        Observed::Present(out) => Observed::Present(
            out.object_lock_configuration()
                .and_then(|c| c.object_lock_enabled())
                == Some(&ObjectLockEnabled::Enabled),
        ),
        Observed::Absent => Observed::Absent,
        Observed::Unreadable(e) => Observed::Unreadable(e.clone()),
    };
    findings.push(match lock {
        Observed::Present(out) => {
            let conf = out.object_lock_configuration();
            let enabled =
                conf.and_then(|c| c.object_lock_enabled()) == Some(&ObjectLockEnabled::Enabled);
            let retention = conf
                .and_then(|c| c.rule())
                .and_then(|r| r.default_retention());
            match (enabled, retention) {
                (true, Some(r)) => Finding::new(
                    CheckId::BucketObjectLock,
                    CheckStatus::Pass,
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
                    CheckId::BucketObjectLock,
                    CheckStatus::Fail,
                    "Object Lock enabled without a default retention: CloudTrail sets no \
                     retention on what it writes, so its files are not locked",
                ),
                (false, _) => Finding::new(
                    CheckId::BucketObjectLock,
                    CheckStatus::Fail,
                    "Object Lock is not enabled",
                ),
            }
        }
        Observed::Absent => Finding::new(
            CheckId::BucketObjectLock,
            CheckStatus::Fail,
            "Object Lock is not enabled",
        ),
        Observed::Unreadable(e) => Finding::new(
            CheckId::BucketObjectLock,
            CheckStatus::Unknown,
            format!("GetObjectLockConfiguration failed: {e}"),
        ),
    });
    findings.push(retention::deletion_protection_finding(
        &versioning_on,
        &lock_on,
    ));

    let rules = sdk::lifecycle_rules(&s3, bucket).await;
    findings.extend(retention::lifecycle_findings(
        &rules,
        &retention::trail_objects_prefix(state.s3_key_prefix.as_deref()),
        options.retention_days,
    ));
    findings
}

/// Result of reading one bucket setting: `Ok(None)` when the bucket simply has none.
type Read<T> = Result<Option<T>, String>;

fn read<T>(o: Observed<T>) -> Read<T> {
    match o {
        Observed::Present(v) => Ok(Some(v)),
        Observed::Absent => Ok(None),
        Observed::Unreadable(why) => Err(why),
    }
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
    let bpa = read(sdk::observe(
        s3.get_public_access_block().bucket(bucket).send().await,
        &["NoSuchPublicAccessBlockConfiguration"],
    ))
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
            CheckId::BucketNotPublic,
            CheckStatus::Pass,
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
            CheckId::BucketNotPublic,
            CheckStatus::Fail,
            format!("{}; {bpa_text}", public.join("; ")),
        )
    } else if !unknown.is_empty() {
        Finding::new(
            CheckId::BucketNotPublic,
            CheckStatus::Unknown,
            format!("{}; {bpa_text}", unknown.join("; ")),
        )
    } else {
        Finding::new(
            CheckId::BucketNotPublic,
            CheckStatus::Pass,
            format!("neither the bucket policy nor the ACL grants public access; {bpa_text}"),
        )
    }
}
