//! `audit --format asff|ocsf` and `audit --security-hub`: each posture check of
//! `cloudtrail_posture` as an ASFF finding or an OCSF Compliance Finding (2003), with the
//! Security Hub control it mirrors (`CloudTrail.1`, `.2`, `.4`, `.5`, `.6`, `.7`) and the CIS
//! AWS Foundations Benchmark requirements that control maps to
//! (<https://docs.aws.amazon.com/securityhub/latest/userguide/cloudtrail-controls.html>). Every
//! check is sent, passing ones included, under an id stable across runs (trail and check): a
//! check that passes again updates its finding to PASSED.

use crate::asff::{AsffCompliance, AsffFinding, AsffResource, AsffSeverity, Target};
use chrono::{DateTime, Utc};
use cloudtrail_posture::{CheckStatus, Finding, PostureReport};
use cloudtrail_verify::Status;
use cloudtrail_verify::report_findings::finding_id;
use std::collections::BTreeMap;

/// The CIS AWS Foundations Benchmark requirements a Security Hub CloudTrail control maps to, as
/// Security Hub names them in `Compliance.RelatedRequirements`.
pub fn cis_requirements(control: &str) -> Vec<String> {
    let ids: &[&str] = match control {
        "CloudTrail.1" => &["v1.2.0/2.1", "v1.4.0/3.1"],
        "CloudTrail.2" => &["v1.2.0/2.7", "v1.4.0/3.7"],
        "CloudTrail.4" => &["v1.2.0/2.2", "v1.4.0/3.2"],
        "CloudTrail.5" => &["v1.2.0/2.4", "v1.4.0/3.4"],
        "CloudTrail.6" => &["v1.2.0/2.3", "v1.4.0/3.3"],
        "CloudTrail.7" => &["v1.2.0/2.6", "v1.4.0/3.6"],
        _ => &[],
    };
    ids.iter()
        .map(|id| format!("CIS AWS Foundations Benchmark {id}"))
        .collect()
}

/// A check's result in ctverify's three outcomes, for OCSF's compliance status: a warning or a
/// check that could not be made is neither a pass nor a failure (OCSF: "Warning").
fn outcome(status: CheckStatus) -> Status {
    match status {
        CheckStatus::Pass => Status::Valid,
        CheckStatus::Fail => Status::Invalid,
        // Warn, Unknown, and anything a later library adds.
        _ => Status::Unverifiable,
    }
}

/// ASFF's `Compliance.Status` and `Severity.Label` of a check's status.
fn asff_status(status: CheckStatus) -> (&'static str, &'static str) {
    match status {
        CheckStatus::Pass => ("PASSED", "INFORMATIONAL"),
        CheckStatus::Warn => ("WARNING", "LOW"),
        CheckStatus::Fail => ("FAILED", "HIGH"),
        // Unknown (the check could not be made), and anything a later library adds.
        _ => ("NOT_AVAILABLE", "MEDIUM"),
    }
}

/// Every check of `report` with the trail it belongs to (`None`: an account-level check).
fn checks(report: &PostureReport) -> impl Iterator<Item = (Option<&str>, &Finding)> {
    report
        .account_findings
        .iter()
        .map(|f| (None, f))
        .chain(report.trails.iter().flat_map(|t| {
            t.findings
                .iter()
                .map(move |f| (Some(t.trail_arn.as_str()), f))
        }))
}

/// The account the report is about: its first trail's (an account-level check of an account
/// without a trail has none to name).
fn account(report: &PostureReport) -> Option<String> {
    report
        .trails
        .iter()
        .find_map(|t| Target::of_trail(&t.trail_arn).map(|t| t.account))
}

/// The stable id of a check's finding: the trail (or the account) and the check.
fn id(trail: Option<&str>, account: &str, f: &Finding) -> String {
    let about = trail.map_or_else(|| format!("account:{account}"), str::to_owned);
    finding_id(&about, None, f.check.as_str(), "audit")
}

/// The checks of `report` in ASFF, for the Security Hub of `region`.
pub fn asff(report: &PostureReport, region: &str, now: DateTime<Utc>) -> Vec<AsffFinding> {
    let account = account(report).unwrap_or_default();
    let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    checks(report)
        .map(|(trail, f)| {
            let partition = trail
                .and_then(Target::of_trail)
                .map_or_else(|| "aws".to_owned(), |t| t.partition);
            let target = Target {
                partition: partition.clone(),
                region: region.to_owned(),
                account: account.clone(),
            };
            let (compliance, severity) = asff_status(f.status);
            let mut resources = Vec::new();
            match trail {
                Some(arn) => resources.push(AsffResource {
                    kind: "AwsCloudTrailTrail".into(),
                    id: arn.to_owned(),
                    partition: partition.clone(),
                    region: region.to_owned(),
                }),
                None => resources.push(AsffResource {
                    kind: "AwsAccount".into(),
                    id: format!("AWS::::Account:{account}"),
                    partition: partition.clone(),
                    region: region.to_owned(),
                }),
            }
            let mut fields = BTreeMap::new();
            fields.insert("ctverify/check".to_owned(), f.check.as_str().to_owned());
            fields.insert("ctverify/status".to_owned(), f.status.as_str().to_owned());
            AsffFinding {
                schema_version: crate::asff::SCHEMA_VERSION.into(),
                id: id(trail, &account, f),
                product_arn: target.product_arn(),
                generator_id: format!("ctverify/audit/{}", f.check.as_str()),
                aws_account_id: account.clone(),
                types: vec![crate::asff::TYPE_STANDARDS.into()],
                created_at: stamp.clone(),
                updated_at: stamp.clone(),
                severity: AsffSeverity {
                    label: severity.into(),
                },
                title: crate::asff::clip(
                    &format!(
                        "{}: {}{}",
                        f.status.as_str().to_uppercase(),
                        f.check.title(),
                        trail.map(|t| format!(" ({t})")).unwrap_or_default()
                    ),
                    256,
                ),
                description: crate::asff::clip(&f.evidence, 1024),
                resources,
                compliance: AsffCompliance {
                    status: compliance.into(),
                    security_control_id: f.control.map(str::to_owned),
                    related_requirements: f.control.map(cis_requirements).unwrap_or_default(),
                },
                record_state: "ACTIVE".into(),
                workflow: None,
                region: region.to_owned(),
                product_name: "ctverify".into(),
                company_name: "ctverify".into(),
                product_fields: fields,
            }
        })
        .collect()
}

/// The checks of `report` as OCSF Compliance Findings.
pub fn ocsf(report: &PostureReport, region: &str, now: DateTime<Utc>) -> Vec<crate::ocsf::Event> {
    let account = account(report);
    checks(report)
        .map(|(trail, f)| {
            let place = crate::ocsf::Place {
                account: account.clone(),
                region: Some(region.to_owned()),
            };
            let resources = trail
                .map(|arn| crate::ocsf::Resource {
                    kind: "AWS::CloudTrail::Trail",
                    uid: arn.to_owned(),
                    name: arn.to_owned(),
                    region: Some(region.to_owned()),
                })
                .into_iter()
                .collect();
            let (control, standards) = match f.control {
                Some(control) => (
                    control.to_owned(),
                    vec!["AWS Foundational Security Best Practices".to_owned()],
                ),
                None => (
                    format!("ctverify {}", f.check.as_str()),
                    vec!["ctverify CloudTrail posture".to_owned()],
                ),
            };
            crate::ocsf::check(
                &id(trail, account.as_deref().unwrap_or_default(), f),
                format!("{}: {}", f.status.as_str().to_uppercase(), f.check.title()),
                f.evidence.clone(),
                outcome(f.status),
                control,
                standards,
                f.control.map(cis_requirements).unwrap_or_default(),
                &place,
                resources,
                now,
            )
        })
        .collect()
}
