//! `audit`: a posture report of one trail or every trail of the account, one [`Finding`] per
//! check, each naming the Security Hub control it corresponds to where there is one.
//!
//! A check whose API call fails (access denied, not implemented by the endpoint, network) is
//! [`CheckStatus::Unknown`] with the reason: an audit never reports a pass it could not see.

use aws_sdk_cloudtrail::types::{AdvancedEventSelector, EventSelector, ReadWriteType};
use cloudtrail_verify::TrailArn;
use serde::Serialize;

use crate::bucket;
use crate::check::{CheckId, CheckStatus, Finding, worst};
use crate::facts::Observed;
use crate::requirements::Delivery;
use crate::retention::DEFAULT_RETENTION_DAYS;
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
#[non_exhaustive]
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
    let selectors = sdk::observe(
        ct.get_event_selectors().trail_name(&state.arn).send().await,
        &[],
    );
    findings.push(management_events_finding(&selectors));
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
    findings.extend(match bucket_region {
        Ok(region) => {
            let facts = bucket::gather(&sdk::s3_in(&clients.s3, &region), &state.s3_bucket).await;
            // What CloudTrail writes with today: SSE-KMS exactly when the trail has a key.
            let delivery = arn.as_ref().map(|arn| Delivery {
                trail: arn,
                trail_arn: &state.arn,
                bucket: &state.s3_bucket,
                prefix: state.s3_key_prefix.as_deref(),
                sse_kms: state.kms_key_id.is_some(),
                kms_key_arn: state.kms_key_id.as_deref(),
            });
            bucket::bucket_findings(
                &facts,
                delivery.as_ref(),
                state.s3_key_prefix.as_deref(),
                options.retention_days,
            )
        }
        Err(e) => bucket::unreadable_bucket_findings(&state.s3_bucket, &e),
    });

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

/// Judges `GetEventSelectors`' answer: both read and write management events must be recorded.
fn management_events_finding(
    selectors: &Observed<
        aws_sdk_cloudtrail::operation::get_event_selectors::GetEventSelectorsOutput,
    >,
) -> Finding {
    let out = match selectors {
        Observed::Present(out) => out,
        Observed::Absent => {
            return Finding::new(
                CheckId::ManagementEventsReadWrite,
                CheckStatus::Unknown,
                "GetEventSelectors returned nothing",
            );
        }
        Observed::Unreadable(why) => {
            return Finding::new(
                CheckId::ManagementEventsReadWrite,
                CheckStatus::Unknown,
                format!("GetEventSelectors failed: {why}"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudtrail::operation::get_event_selectors::GetEventSelectorsOutput;
    use aws_sdk_cloudtrail::types::{AdvancedFieldSelector, EventSelector};

    fn judge(out: GetEventSelectorsOutput) -> CheckStatus {
        management_events_finding(&Observed::Present(out)).status
    }

    #[test]
    fn the_default_selector_records_read_and_write_management_events() {
        let out = GetEventSelectorsOutput::builder()
            .event_selectors(EventSelector::builder().build())
            .build();
        assert_eq!(judge(out), CheckStatus::Pass);
    }

    #[test]
    fn write_only_selectors_fail() {
        let out = GetEventSelectorsOutput::builder()
            .event_selectors(
                EventSelector::builder()
                    .read_write_type(ReadWriteType::WriteOnly)
                    .build(),
            )
            .build();
        assert_eq!(judge(out), CheckStatus::Fail);
        let advanced = AdvancedEventSelector::builder()
            .field_selectors(
                AdvancedFieldSelector::builder()
                    .field("eventCategory")
                    .equals("Management")
                    .build()
                    .unwrap(),
            )
            .field_selectors(
                AdvancedFieldSelector::builder()
                    .field("readOnly")
                    .equals("false")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let out = GetEventSelectorsOutput::builder()
            .advanced_event_selectors(advanced)
            .build();
        assert_eq!(judge(out), CheckStatus::Fail);
    }

    #[test]
    fn no_selectors_at_all_or_an_unreadable_answer_is_unknown() {
        assert_eq!(
            judge(GetEventSelectorsOutput::builder().build()),
            CheckStatus::Unknown
        );
        assert_eq!(
            management_events_finding(&Observed::Unreadable("AccessDeniedException: no".into()))
                .status,
            CheckStatus::Unknown
        );
    }
}
