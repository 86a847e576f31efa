//! `--format ocsf`: a run's findings as JSON Lines of OCSF 1.x events, the schema Amazon
//! Security Lake and most SIEMs read (<https://schema.ocsf.io/1.5.0/>): a **Detection Finding**
//! (class 2004) for each invalid or unverifiable finding, a **Compliance Finding** (class 2003)
//! for the trail's verdict and for each `audit` check, each with the cloud profile. The wire
//! types are here, apart from the library's typed findings they are mapped from by exhaustive
//! matches.

use chrono::{DateTime, Utc};
use cloudtrail_verify::Status;
use cloudtrail_verify::report_findings::{FindingKind, ReportFinding, Severity};
use serde::Serialize;
use std::collections::BTreeMap;

/// The OCSF schema version the events follow (`metadata.version`).
pub const OCSF_VERSION: &str = "1.5.0";
/// `category_uid` of the Findings category.
pub const CATEGORY_FINDINGS: u32 = 2;
/// `class_uid` of a Compliance Finding.
pub const CLASS_COMPLIANCE_FINDING: u32 = 2003;
/// `class_uid` of a Detection Finding.
pub const CLASS_DETECTION_FINDING: u32 = 2004;
/// `activity_id` Create: each run reports what it found as new events.
const ACTIVITY_CREATE: u32 = 1;

/// One OCSF event: the attributes both finding classes share, and the class's own.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Create (1).
    pub activity_id: u32,
    /// `Create`.
    pub activity_name: &'static str,
    /// Findings (2).
    pub category_uid: u32,
    /// `Findings`.
    pub category_name: &'static str,
    /// 2003 (Compliance Finding) or 2004 (Detection Finding).
    pub class_uid: u32,
    /// `Compliance Finding` or `Detection Finding`.
    pub class_name: &'static str,
    /// `class_uid * 100 + activity_id`.
    pub type_uid: u32,
    /// `Detection Finding: Create`, ...
    pub type_name: String,
    /// 1 Informational, 3 Medium, 4 High, 5 Critical.
    pub severity_id: u32,
    /// The caption of `severity_id`.
    pub severity: &'static str,
    /// When the run made the finding, in milliseconds since the epoch.
    pub time: i64,
    /// The finding's sentence.
    pub message: String,
    /// 1 New: a finding as a run gives it.
    pub status_id: u32,
    /// `New`.
    pub status: &'static str,
    /// The product and schema version.
    pub metadata: Metadata,
    /// The finding's id (the library's stable id), title, description and types.
    pub finding_info: FindingInfo,
    /// The cloud profile: AWS, the trail's account and region.
    pub cloud: Cloud,
    /// The trail, and the object or chain the finding is about.
    pub resources: Vec<Resource>,
    /// What an analyst needs to check it again: object key, expected and actual SHA-256, the
    /// digest that names it, the hours.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidences: Vec<Evidence>,
    /// The control's result (Compliance Finding only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compliance: Option<Compliance>,
}

/// `metadata`.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    /// [`OCSF_VERSION`].
    pub version: &'static str,
    /// ctverify.
    pub product: Product,
    /// `["cloud"]`.
    pub profiles: Vec<&'static str>,
    /// The finding's id, as the event's own.
    pub uid: String,
}

/// `metadata.product`.
#[derive(Debug, Clone, Serialize)]
pub struct Product {
    /// `ctverify`.
    pub name: &'static str,
    /// `ctverify`.
    pub vendor_name: &'static str,
    /// ctverify's version.
    pub version: String,
}

/// `finding_info`.
#[derive(Debug, Clone, Serialize)]
pub struct FindingInfo {
    /// The finding's stable id: the same in the JSON report, JSON Lines and ASFF.
    pub uid: String,
    /// What and where.
    pub title: String,
    /// The sentence.
    pub desc: String,
    /// `KIND/PROBLEM`, and the ASFF-style types.
    pub types: Vec<String>,
    /// When the run made it, in milliseconds since the epoch.
    pub created_time: i64,
}

/// `cloud` (the cloud profile).
#[derive(Debug, Clone, Serialize)]
pub struct Cloud {
    /// `AWS`.
    pub provider: &'static str,
    /// The trail's home region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The trail's account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
}

/// `cloud.account`.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    /// The account id.
    pub uid: String,
    /// The account id (no name is known).
    pub name: String,
    /// 10: AWS Account.
    pub type_id: u32,
    /// `AWS Account`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// One of `resources`.
#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    /// `AWS::CloudTrail::Trail`, `AWS::S3::Object`, `AWS::S3::Bucket`, `CloudTrail Digest
    /// Chain`, `Evidence Bundle File`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Its ARN or ctverify's name for it.
    pub uid: String,
    /// Its name: the object key, the trail's ARN, `ACCOUNT/REGION`.
    pub name: String,
    /// The region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// One of `evidences`.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    /// What the evidence is: `ctverify finding`.
    pub name: &'static str,
    /// The facts, by name (`object_key`, `expected_sha256`, `actual_sha256`, `digest_key`,
    /// `start`, `end`, `kind`, `problem`).
    pub data: BTreeMap<&'static str, String>,
}

/// `compliance`.
#[derive(Debug, Clone, Serialize)]
pub struct Compliance {
    /// 1 Pass, 2 Warning, 3 Fail.
    pub status_id: u32,
    /// The control checked.
    pub control: String,
    /// The standards the control belongs to.
    pub standards: Vec<String>,
    /// The standards' requirements it bears on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requirements: Vec<String>,
    /// What was checked.
    pub desc: String,
}

/// `severity_id` and its caption.
fn severity(severity: Severity) -> (u32, &'static str) {
    match severity {
        Severity::Informational => (1, "Informational"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

/// `compliance.status_id`.
pub fn compliance_status_id(status: Status) -> u32 {
    match status {
        Status::Valid => 1,
        Status::Unverifiable => 2,
        Status::Invalid => 3,
    }
}

/// The type name and class of a finding: the run's verdict is a Compliance Finding, every
/// other finding a Detection Finding.
fn class(kind: FindingKind) -> (u32, &'static str) {
    match kind {
        FindingKind::Summary => (CLASS_COMPLIANCE_FINDING, "Compliance Finding"),
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
        | FindingKind::ChangedVersionsOmitted => (CLASS_DETECTION_FINDING, "Detection Finding"),
    }
}

/// Where an event is: the partition-free account and region of the trail.
#[derive(Debug, Clone)]
pub struct Place {
    /// The account.
    pub account: Option<String>,
    /// The region.
    pub region: Option<String>,
}

impl Place {
    /// The trail's account and home region (none when `trail` is not a trail ARN).
    pub fn of_trail(trail: &str) -> Self {
        match trail.parse::<cloudtrail_verify::TrailArn>() {
            Ok(arn) => Place {
                account: Some(arn.account_id),
                region: Some(arn.region),
            },
            Err(_) => Place {
                account: None,
                region: None,
            },
        }
    }

    fn cloud(&self) -> Cloud {
        Cloud {
            provider: "AWS",
            region: self.region.clone(),
            account: self.account.as_ref().map(|a| Account {
                uid: a.clone(),
                name: a.clone(),
                type_id: 10,
                kind: "AWS Account",
            }),
        }
    }
}

/// The frame every event shares, filled with what differs.
#[allow(clippy::too_many_arguments)]
fn event(
    class: (u32, &'static str),
    id: &str,
    title: String,
    message: String,
    types: Vec<String>,
    sev: Severity,
    place: &Place,
    resources: Vec<Resource>,
    now: DateTime<Utc>,
) -> Event {
    let (severity_id, severity) = severity(sev);
    let time = now.timestamp_millis();
    Event {
        activity_id: ACTIVITY_CREATE,
        activity_name: "Create",
        category_uid: CATEGORY_FINDINGS,
        category_name: "Findings",
        class_uid: class.0,
        class_name: class.1,
        type_uid: class.0 * 100 + ACTIVITY_CREATE,
        type_name: format!("{}: Create", class.1),
        severity_id,
        severity,
        time,
        message: message.clone(),
        status_id: 1,
        status: "New",
        metadata: Metadata {
            version: OCSF_VERSION,
            product: Product {
                name: "ctverify",
                vendor_name: "ctverify",
                version: env!("CARGO_PKG_VERSION").into(),
            },
            profiles: vec!["cloud"],
            uid: id.to_owned(),
        },
        finding_info: FindingInfo {
            uid: id.to_owned(),
            title,
            desc: message,
            types,
            created_time: time,
        },
        cloud: place.cloud(),
        resources,
        evidences: Vec::new(),
        compliance: None,
    }
}

/// One library finding as an OCSF event.
pub fn finding(f: &ReportFinding, now: DateTime<Utc>) -> Event {
    let place = Place::of_trail(&f.trail);
    let mut resources = vec![Resource {
        kind: "AWS::CloudTrail::Trail",
        uid: f.trail.clone(),
        name: f.trail.clone(),
        region: place.region.clone(),
    }];
    match (&f.bucket, &f.key, &f.chain) {
        (Some(bucket), Some(key), _) => resources.push(Resource {
            kind: if f.kind == FindingKind::BundleFile {
                "Evidence Bundle File"
            } else {
                "AWS::S3::Object"
            },
            uid: format!("arn:aws:s3:::{bucket}/{key}"),
            name: key.clone(),
            region: None,
        }),
        (None, Some(path), _) => resources.push(Resource {
            kind: "Evidence Bundle File",
            uid: format!("bundle:{path}"),
            name: path.clone(),
            region: None,
        }),
        (Some(bucket), None, None) => resources.push(Resource {
            kind: "AWS::S3::Bucket",
            uid: format!("arn:aws:s3:::{bucket}"),
            name: bucket.clone(),
            region: None,
        }),
        (_, None, Some(chain)) => resources.push(Resource {
            kind: "CloudTrail Digest Chain",
            uid: format!("{}/chain/{chain}", f.trail),
            name: chain.to_string(),
            region: Some(chain.region.clone()),
        }),
        (None, None, None) => {}
    }
    let types = vec![format!("{}/{}", f.kind.as_str(), f.problem)];
    let mut e = event(
        class(f.kind),
        &f.id,
        format!("{}: {}", f.status.as_str().to_uppercase(), f.subject),
        f.message.clone(),
        types,
        f.severity,
        &place,
        resources,
        now,
    );
    let mut data = BTreeMap::new();
    data.insert("kind", f.kind.as_str().to_owned());
    data.insert("problem", f.problem.clone());
    data.insert("status", f.status.as_str().to_owned());
    let mut put = |name, value: Option<String>| {
        if let Some(value) = value {
            data.insert(name, value);
        }
    };
    put("bucket", f.bucket.clone());
    put("object_key", f.key.clone());
    put("chain", f.chain.as_ref().map(ToString::to_string));
    put("expected_sha256", f.expected_sha256.clone());
    put("actual_sha256", f.actual_sha256.clone());
    put("digest_key", f.digest_key.clone());
    put("start", f.start.map(|t| t.to_rfc3339()));
    put("end", f.end.map(|t| t.to_rfc3339()));
    e.evidences = vec![Evidence {
        name: "ctverify finding",
        data,
    }];
    if f.kind == FindingKind::Summary {
        e.compliance = Some(Compliance {
            status_id: compliance_status_id(f.status),
            control: "CloudTrail log file integrity (ctverify)".into(),
            standards: vec!["AWS CloudTrail log file integrity validation".into()],
            requirements: Vec::new(),
            desc: "Every digest and log file of the trail over the range verified, every hour \
                   covered by a valid digest chain"
                .into(),
        });
    }
    e
}

/// A posture check as a Compliance Finding: its stable id, its control and standards, its
/// result.
#[allow(clippy::too_many_arguments)]
pub fn check(
    id: &str,
    title: String,
    message: String,
    status: Status,
    control: String,
    standards: Vec<String>,
    requirements: Vec<String>,
    place: &Place,
    resources: Vec<Resource>,
    now: DateTime<Utc>,
) -> Event {
    let sev = match status {
        Status::Valid => Severity::Informational,
        Status::Unverifiable => Severity::Medium,
        Status::Invalid => Severity::High,
    };
    let mut e = event(
        (CLASS_COMPLIANCE_FINDING, "Compliance Finding"),
        id,
        title.clone(),
        message,
        vec![format!("audit/{control}")],
        sev,
        place,
        resources,
        now,
    );
    e.compliance = Some(Compliance {
        status_id: compliance_status_id(status),
        control,
        standards,
        requirements,
        desc: title,
    });
    e
}
