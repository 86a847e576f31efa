//! `--security-hub`: sends a run's ASFF findings ([`crate::asff`]) to the account's Security Hub
//! in the run's region with BatchImportFindings
//! (<https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchImportFindings.html>): at
//! most 100 findings a call, and the findings a call's `FailedFindings` names sent again, a
//! bounded number of times. A finding still not imported after that is an error of the run,
//! never silent ([`Outcome::failed`]).
//!
//! The sending ([`send_all`]) is apart from the SDK call, so that its batching, retries and
//! partial failures are tested with any importer.

use crate::asff::AsffFinding;
use std::future::Future;

/// Most findings BatchImportFindings takes in one call.
pub const MAX_BATCH: usize = 100;
/// How many times the findings a call failed are sent again.
pub const MAX_RETRIES: u32 = 3;

/// A finding Security Hub did not import, and why (`FailedFindings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// The finding's id.
    pub id: String,
    /// Why: `ErrorCode: ErrorMessage`, or the call's error.
    pub reason: String,
}

/// What sending a run's findings did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Ids imported.
    pub imported: Vec<String>,
    /// Findings not imported after the retries.
    pub failed: Vec<Failed>,
    /// BatchImportFindings calls made.
    pub calls: u32,
}

/// Sends `findings` through `import` (one BatchImportFindings call: the findings not imported,
/// or the call's error) in batches of at most [`MAX_BATCH`], each batch's failed findings again
/// up to [`MAX_RETRIES`] times. A call that fails as a whole (after the SDK's own retries) fails
/// its batch, which is not sent again.
pub async fn send_all<F, Fut>(findings: Vec<AsffFinding>, mut import: F) -> Outcome
where
    F: FnMut(Vec<AsffFinding>) -> Fut,
    Fut: Future<Output = Result<Vec<Failed>, String>>,
{
    let mut outcome = Outcome::default();
    let mut rest = findings.into_iter().peekable();
    while rest.peek().is_some() {
        let mut batch: Vec<AsffFinding> = rest.by_ref().take(MAX_BATCH).collect();
        let mut attempt = 0;
        loop {
            outcome.calls += 1;
            let failed = match import(batch.clone()).await {
                Ok(failed) => failed,
                // The SDK retried it already (the call policy): not sent again.
                Err(reason) => {
                    outcome.failed.extend(batch.iter().map(|f| Failed {
                        id: f.id.clone(),
                        reason: reason.clone(),
                    }));
                    break;
                }
            };
            let failed_ids: std::collections::HashSet<&str> =
                failed.iter().map(|f| f.id.as_str()).collect();
            outcome.imported.extend(
                batch
                    .iter()
                    .filter(|f| !failed_ids.contains(f.id.as_str()))
                    .map(|f| f.id.clone()),
            );
            // Only what the answer names is sent again (an id it names that was not sent is
            // ignored: nothing else is retried).
            batch.retain(|f| failed_ids.contains(f.id.as_str()));
            if batch.is_empty() {
                break;
            }
            if attempt >= MAX_RETRIES {
                outcome.failed.extend(
                    failed
                        .into_iter()
                        .filter(|f| batch.iter().any(|b| b.id == f.id)),
                );
                break;
            }
            attempt += 1;
            tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt))).await;
        }
    }
    outcome
}

/// One BatchImportFindings call with `client`.
async fn import(
    client: &aws_sdk_securityhub::Client,
    batch: Vec<AsffFinding>,
    region: &str,
) -> Result<Vec<Failed>, String> {
    let answer = client
        .batch_import_findings()
        .set_findings(Some(batch.iter().map(to_sdk).collect()))
        .send()
        .await
        .map_err(|e| {
            cloudtrail_verify::aws::error_text(
                &e,
                Some(&cloudtrail_verify::aws::AwsCall::new(
                    "BatchImportFindings",
                    "securityhub:BatchImportFindings",
                    Some(region),
                )),
            )
        })?;
    Ok(answer
        .failed_findings()
        .iter()
        .map(|f| Failed {
            id: f.id().unwrap_or_default().to_owned(),
            reason: format!(
                "{}: {}",
                f.error_code().unwrap_or("error"),
                f.error_message().unwrap_or_default()
            ),
        })
        .collect())
}

/// Sends `findings` to Security Hub with a client of `conf` (through the library's call policy,
/// as every AWS call of ctverify).
pub async fn send(
    conf: &aws_config::SdkConfig,
    findings: Vec<AsffFinding>,
    region: &str,
) -> Outcome {
    let client = aws_sdk_securityhub::Client::new(&cloudtrail_verify::aws::with_call_policy(conf));
    send_all(findings, |batch| {
        let client = client.clone();
        async move { import(&client, batch, region).await }
    })
    .await
}

/// The SDK's type of an ASFF finding.
fn to_sdk(f: &AsffFinding) -> aws_sdk_securityhub::types::AwsSecurityFinding {
    use aws_sdk_securityhub::types as t;
    let mut b = t::AwsSecurityFinding::builder()
        .schema_version(&f.schema_version)
        .id(&f.id)
        .product_arn(&f.product_arn)
        .generator_id(&f.generator_id)
        .aws_account_id(&f.aws_account_id)
        .created_at(&f.created_at)
        .updated_at(&f.updated_at)
        .severity(
            t::Severity::builder()
                .label(t::SeverityLabel::from(f.severity.label.as_str()))
                .build(),
        )
        .title(&f.title)
        .description(&f.description)
        .compliance(
            t::Compliance::builder()
                .status(t::ComplianceStatus::from(f.compliance.status.as_str()))
                .set_security_control_id(f.compliance.security_control_id.clone())
                .set_related_requirements(
                    (!f.compliance.related_requirements.is_empty())
                        .then(|| f.compliance.related_requirements.clone()),
                )
                .build(),
        )
        .record_state(t::RecordState::from(f.record_state.as_str()))
        .region(&f.region)
        .product_name(&f.product_name)
        .company_name(&f.company_name)
        .set_product_fields(Some(
            f.product_fields
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ));
    for kind in &f.types {
        b = b.types(kind);
    }
    for r in &f.resources {
        b = b.resources(
            t::Resource::builder()
                .r#type(&r.kind)
                .id(&r.id)
                .partition(t::Partition::from(r.partition.as_str()))
                .region(&r.region)
                .build(),
        );
    }
    if let Some(w) = &f.workflow {
        b = b.workflow(
            t::Workflow::builder()
                .status(t::WorkflowStatus::from(w.status.as_str()))
                .build(),
        );
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asff::{Record, Target};
    use std::sync::{Arc, Mutex};

    fn findings(n: usize) -> Vec<AsffFinding> {
        let target = Target {
            partition: "aws".into(),
            region: "us-east-1".into(),
            account: "111122223333".into(),
        };
        (0..n)
            .map(|i| {
                let mut f = cloudtrail_verify::report_findings::ReportFinding {
                    id: format!("{i:064x}"),
                    kind: cloudtrail_verify::report_findings::FindingKind::LogFile,
                    problem: "hash_mismatch".into(),
                    status: cloudtrail_verify::Status::Invalid,
                    severity: cloudtrail_verify::report_findings::Severity::Critical,
                    trail: "arn:aws:cloudtrail:us-east-1:111122223333:trail/t".into(),
                    chain: None,
                    bucket: Some("b".into()),
                    key: Some(format!("k{i}")),
                    start: None,
                    end: None,
                    expected_sha256: None,
                    actual_sha256: None,
                    digest_key: None,
                    subject: format!("Log file s3://b/k{i}"),
                    message: "hash value doesn't match".into(),
                };
                f.id = format!("{i:064x}");
                crate::asff::finding(&f, &target, Record::Active, chrono::Utc::now())
            })
            .collect()
    }

    #[tokio::test]
    async fn batches_hold_at_most_100_findings_and_only_failed_ones_are_sent_again() {
        let calls = Arc::new(Mutex::new(Vec::<Vec<String>>::new()));
        let seen = calls.clone();
        // The first call fails findings 3 and 150 (150 is not in it: ignored), the retry passes.
        let outcome = send_all(findings(250), move |batch| {
            let seen = seen.clone();
            async move {
                let ids: Vec<String> = batch.iter().map(|f| f.id.clone()).collect();
                let first = seen.lock().unwrap().is_empty();
                seen.lock().unwrap().push(ids);
                Ok(if first {
                    vec![
                        Failed {
                            id: format!("{:064x}", 3),
                            reason: "InvalidInput: x".into(),
                        },
                        Failed {
                            id: format!("{:064x}", 150),
                            reason: "InvalidInput: x".into(),
                        },
                    ]
                } else {
                    Vec::new()
                })
            }
        })
        .await;
        let calls = calls.lock().unwrap();
        let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![100, 1, 100, 50]);
        assert_eq!(calls[1], vec![format!("{:064x}", 3)]);
        assert_eq!(outcome.imported.len(), 250);
        assert!(outcome.failed.is_empty());
        assert_eq!(outcome.calls, 4);
    }

    #[tokio::test]
    async fn a_finding_that_keeps_failing_is_retried_a_bounded_number_of_times_then_reported() {
        let outcome = send_all(findings(5), |batch| async move {
            Ok(batch
                .iter()
                .filter(|f| f.id == format!("{:064x}", 2))
                .map(|f| Failed {
                    id: f.id.clone(),
                    reason: "LimitExceeded: slow down".into(),
                })
                .collect())
        })
        .await;
        assert_eq!(outcome.calls, 1 + MAX_RETRIES);
        assert_eq!(outcome.imported.len(), 4);
        assert_eq!(
            outcome.failed,
            vec![Failed {
                id: format!("{:064x}", 2),
                reason: "LimitExceeded: slow down".into()
            }]
        );
    }

    #[tokio::test]
    async fn a_call_that_fails_whole_fails_its_batch_and_the_rest_is_still_sent() {
        let mut n = 0;
        let outcome = send_all(findings(150), move |_batch| {
            n += 1;
            let fail = n == 1;
            async move {
                if fail {
                    Err("AccessDeniedException: not subscribed".to_owned())
                } else {
                    Ok(Vec::new())
                }
            }
        })
        .await;
        assert_eq!(outcome.calls, 2);
        assert_eq!(outcome.imported.len(), 50);
        assert_eq!(outcome.failed.len(), 100);
        assert!(outcome.failed[0].reason.starts_with("AccessDenied"));
    }
}
