//! What the AWS APIs say about a trail: where it writes (DescribeTrails), in which region its
//! bucket lives (GetBucketLocation), CloudTrail's public keys (ListPublicKeys) and the trail's
//! own management events (LookupEvents).

use crate::aws::{AwsCall, error_text};
use crate::keys::{KeyError, PublicKey};
use crate::layout::TrailArn;
use aws_config::{Region, SdkConfig};
use chrono::{DateTime, Utc};

/// Why an API call needed before verification failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrailApiError {
    /// DescribeTrails failed.
    #[error("DescribeTrails for {arn} failed: {message}")]
    Describe {
        /// The trail.
        arn: String,
        /// The SDK's error.
        message: String,
    },
    /// The trail does not exist (or is not visible with these credentials).
    #[error("no trail {0} (check the ARN, the account and --profile; or give --bucket)")]
    NoSuchTrail(String),
    /// Several visible trails have the name given.
    #[error("several trails are named {name}: {}; give the ARN", arns.join(", "))]
    AmbiguousName {
        /// The name.
        name: String,
        /// The trails' ARNs.
        arns: Vec<String>,
    },
    /// ListPublicKeys failed in a region.
    #[error("ListPublicKeys in {region} failed: {message}")]
    PublicKeys {
        /// The region.
        region: String,
        /// The SDK's error.
        message: String,
    },
    /// A key ListPublicKeys returned could not be used.
    #[error("ListPublicKeys in {region} returned an unusable key: {source}")]
    BadKey {
        /// The region.
        region: String,
        /// Why.
        source: KeyError,
    },
    /// Account ListRegions failed.
    #[error("account:ListRegions failed: {0}")]
    Regions(String),
    /// Organizations ListAccounts failed.
    #[error("organizations:ListAccounts failed: {0}")]
    Accounts(String),
    /// LookupEvents failed, or the history could not be read whole.
    #[error("LookupEvents in {region} failed: {message}")]
    History {
        /// The region whose history was read.
        region: String,
        /// Why.
        message: String,
    },
    /// GetBucketLocation failed.
    #[error("GetBucketLocation for {bucket} failed: {message}")]
    BucketLocation {
        /// The bucket.
        bucket: String,
        /// The SDK's error.
        message: String,
    },
}

/// What DescribeTrails says about a trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailDescription {
    /// Bucket it delivers to.
    pub bucket: String,
    /// Key prefix.
    pub prefix: Option<String>,
    /// Home region.
    pub home_region: String,
    /// Multi-region trail.
    pub multi_region: bool,
    /// Organization trail.
    pub organization: bool,
    /// Log-file validation on.
    pub log_file_validation: bool,
}

/// Describes a trail by ARN, shadow trails included (a multi-region trail seen from another
/// region), with a CloudTrail client of the trail's home region.
pub async fn describe_trail(
    client: &aws_sdk_cloudtrail::Client,
    arn: &TrailArn,
) -> Result<TrailDescription, TrailApiError> {
    let arn_text = arn.to_string();
    let answer = client
        .describe_trails()
        .trail_name_list(&arn_text)
        .include_shadow_trails(true)
        .send()
        .await
        .map_err(|e| TrailApiError::Describe {
            arn: arn_text.clone(),
            message: error_text(
                &e,
                Some(&AwsCall::new(
                    "DescribeTrails",
                    "cloudtrail:DescribeTrails",
                    Some(&arn.region),
                )),
            ),
        })?;
    let trail = answer
        .trail_list()
        .iter()
        .find(|t| t.trail_arn() == Some(arn_text.as_str()) || t.name() == Some(arn.name.as_str()))
        .ok_or_else(|| TrailApiError::NoSuchTrail(arn_text.clone()))?;
    let bucket = trail
        .s3_bucket_name()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| TrailApiError::NoSuchTrail(arn_text.clone()))?;
    Ok(TrailDescription {
        bucket: bucket.to_owned(),
        prefix: trail
            .s3_key_prefix()
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
        home_region: trail.home_region().unwrap_or(&arn.region).to_owned(),
        multi_region: trail.is_multi_region_trail().unwrap_or(false),
        organization: trail.is_organization_trail().unwrap_or(false),
        log_file_validation: trail.log_file_validation_enabled().unwrap_or(false),
    })
}

/// The ARN of the trail called `name` as seen from the client's region (DescribeTrails with
/// shadow trails, so a multi-region trail is found from any of its regions), as the AWS CLI
/// resolves a trail name.
pub async fn trail_arn_by_name(
    client: &aws_sdk_cloudtrail::Client,
    name: &str,
) -> Result<TrailArn, TrailApiError> {
    let region = client.config().region().map(|r| r.as_ref().to_owned());
    let answer = client
        .describe_trails()
        .trail_name_list(name)
        .include_shadow_trails(true)
        .send()
        .await
        .map_err(|e| TrailApiError::Describe {
            arn: name.to_owned(),
            message: error_text(
                &e,
                Some(&AwsCall::new(
                    "DescribeTrails",
                    "cloudtrail:DescribeTrails",
                    region.as_deref(),
                )),
            ),
        })?;
    let mut matches: Vec<TrailArn> = answer
        .trail_list()
        .iter()
        .filter(|t| t.name() == Some(name))
        .filter_map(|t| t.trail_arn()?.parse().ok())
        .collect();
    matches.sort_by_key(|a: &TrailArn| a.to_string());
    matches.dedup();
    // Two trails of the same name are visible, for instance an account's own trail and an
    // organization trail shown in it: guessing would verify a trail the user did not mean.
    match matches.len() {
        0 => Err(TrailApiError::NoSuchTrail(format!(
            "{name} (looked up by name in {})",
            region.as_deref().unwrap_or("the default region")
        ))),
        1 => Ok(matches.remove(0)),
        _ => Err(TrailApiError::AmbiguousName {
            name: name.to_owned(),
            arns: matches.iter().map(ToString::to_string).collect(),
        }),
    }
}

/// The regions enabled for the caller's account (Account `ListRegions`, enabled and enabled by
/// default): a multi-region trail delivers a digest chain for each of them.
pub async fn enabled_regions(conf: &SdkConfig) -> Result<Vec<String>, TrailApiError> {
    use aws_sdk_account::types::RegionOptStatus;
    let client = aws_sdk_account::Client::new(conf);
    let mut pages = client
        .list_regions()
        .region_opt_status_contains(RegionOptStatus::Enabled)
        .region_opt_status_contains(RegionOptStatus::EnabledByDefault)
        .into_paginator()
        .send();
    let mut regions = Vec::new();
    while let Some(page) = pages.next().await {
        let call = AwsCall::new("ListRegions", "account:ListRegions", None);
        let page = page.map_err(|e| TrailApiError::Regions(error_text(&e, Some(&call))))?;
        regions.extend(
            page.regions()
                .iter()
                .filter_map(|r| r.region_name())
                .filter(|r| crate::layout::is_region(r))
                .map(str::to_owned),
        );
    }
    regions.sort();
    regions.dedup();
    Ok(regions)
}

/// The active member accounts of the caller's organization (Organizations `ListAccounts`): an
/// organization trail delivers digest chains for each of them.
pub async fn organization_accounts(conf: &SdkConfig) -> Result<Vec<String>, TrailApiError> {
    let client = aws_sdk_organizations::Client::new(conf);
    let mut pages = client.list_accounts().into_paginator().send();
    let mut accounts = Vec::new();
    while let Some(page) = pages.next().await {
        let call = AwsCall::new("ListAccounts", "organizations:ListAccounts", None);
        let page = page.map_err(|e| TrailApiError::Accounts(error_text(&e, Some(&call))))?;
        accounts.extend(
            page.accounts()
                .iter()
                .filter(|a| {
                    a.state().is_none_or(|s| s.as_str() == "ACTIVE")
                        && a.status().is_none_or(|s| s.as_str() == "ACTIVE")
                })
                .filter_map(|a| a.id())
                .filter(|id| crate::layout::is_account_id(id))
                .map(str::to_owned),
        );
    }
    accounts.sort();
    accounts.dedup();
    Ok(accounts)
}

/// An S3 source for `bucket`, in the bucket's own region (GetBucketLocation from `conf`'s).
///
/// # Errors
/// GetBucketLocation failed.
pub async fn source_in_bucket_region(
    conf: &aws_config::SdkConfig,
    bucket: &str,
) -> Result<crate::source::S3Source, TrailApiError> {
    let region = bucket_region(&crate::aws::s3_client(conf), bucket).await?;
    Ok(crate::source::S3Source::in_region(conf, bucket, region))
}

/// The region of a bucket. An empty or absent location constraint means us-east-1, and the
/// legacy `EU` means eu-west-1.
pub async fn bucket_region(
    client: &aws_sdk_s3::Client,
    bucket: &str,
) -> Result<String, TrailApiError> {
    let answer = client
        .get_bucket_location()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| TrailApiError::BucketLocation {
            bucket: bucket.to_owned(),
            message: error_text(
                &e,
                Some(&AwsCall::new(
                    "GetBucketLocation",
                    "s3:GetBucketLocation",
                    client.config().region().map(|r| r.as_ref()),
                )),
            ),
        })?;
    Ok(region_of_location(
        answer.location_constraint().map(|c| c.as_str()),
    ))
}

/// Maps a GetBucketLocation answer onto a region.
pub fn region_of_location(constraint: Option<&str>) -> String {
    match constraint {
        None | Some("") => "us-east-1".into(),
        Some("EU") => "eu-west-1".into(),
        Some(region) => region.into(),
    }
}

/// Fetches CloudTrail's public keys for `region` valid at some time within `[start, end]`,
/// following `NextToken` through every page.
pub async fn fetch_public_keys(
    conf: &SdkConfig,
    region: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<PublicKey>, TrailApiError> {
    let client = aws_sdk_cloudtrail::Client::from_conf(
        aws_sdk_cloudtrail::config::Builder::from(conf)
            .region(Region::new(region.to_owned()))
            .build(),
    );
    let fail = |message: String| TrailApiError::PublicKeys {
        region: region.to_owned(),
        message,
    };
    let to_smithy = |t: DateTime<Utc>| aws_smithy_types::DateTime::from_secs(t.timestamp());
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let answer = client
            .list_public_keys()
            .start_time(to_smithy(start))
            .end_time(to_smithy(end))
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| {
                let call =
                    AwsCall::new("ListPublicKeys", "cloudtrail:ListPublicKeys", Some(region));
                fail(error_text(&e, Some(&call)))
            })?;
        for key in answer.public_key_list() {
            let fingerprint = key.fingerprint().unwrap_or_default();
            let der = key.value().map(|v| v.as_ref()).unwrap_or_default();
            let time = |t: Option<&aws_smithy_types::DateTime>| {
                t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
            };
            let (Some(from), Some(to)) = (
                time(key.validity_start_time()),
                time(key.validity_end_time()),
            ) else {
                return Err(fail(format!("key {fingerprint} has no validity window")));
            };
            let key = PublicKey::from_der(fingerprint, der, from, to, Some(region.to_owned()))
                .map_err(|source| TrailApiError::BadKey {
                    region: region.to_owned(),
                    source,
                })?;
            keys.push(key);
        }
        match answer.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => break,
        }
    }
    Ok(keys)
}

/// The management events that switch a trail's delivery of digests, each read with its own
/// LookupEvents query (one lookup attribute per call).
pub const TRAIL_EVENT_NAMES: [&str; 5] = [
    "CreateTrail",
    "DeleteTrail",
    "StartLogging",
    "StopLogging",
    "UpdateTrail",
];

/// How far back CloudTrail's event history reaches ("Working with CloudTrail event history",
/// AWS CloudTrail User Guide: the last 90 days), less a day so that an event at the edge is
/// never taken for one that is not there.
pub const HISTORY_DAYS: i64 = 89;

/// How long after a call its event may take to appear in the event history: the history is
/// taken as complete only up to this before it was read.
pub const HISTORY_DELAY: chrono::TimeDelta = chrono::TimeDelta::minutes(20);

/// Most pages read per event name (50 events each): a trail is stopped and started far less
/// often; past this the history is not read whole and explains nothing.
const MAX_HISTORY_PAGES: usize = 40;

/// Time between LookupEvents calls: CloudTrail allows 2 per second per account and region.
const LOOKUP_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// Reads `trail`'s StartLogging, StopLogging, UpdateTrail, CreateTrail and DeleteTrail events
/// that succeeded over the event history's 90 days before `now`, from its home region. `conf`
/// must carry credentials of the trail's account (the history is per account and region).
///
/// With `bucket`, also the changes of that bucket's lifecycle configuration
/// (PutBucketLifecycle): a rule set after an object was delivered does not excuse its absence.
pub async fn trail_history(
    conf: &SdkConfig,
    trail: &TrailArn,
    bucket: Option<&str>,
    now: DateTime<Utc>,
) -> Result<crate::trust::history::TrailHistory, TrailApiError> {
    use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
    let region = trail.region.clone();
    let client = aws_sdk_cloudtrail::Client::from_conf(
        aws_sdk_cloudtrail::config::Builder::from(conf)
            .region(Region::new(region.clone()))
            .build(),
    );
    let fail = |message: String| TrailApiError::History {
        region: region.clone(),
        message,
    };
    let reaches_back_to = now - chrono::TimeDelta::days(HISTORY_DAYS);
    let to_smithy = |t: DateTime<Utc>| aws_smithy_types::DateTime::from_secs(t.timestamp());
    let mut events = Vec::new();
    let mut calls = 0;
    let lifecycle_names = crate::trust::history::LIFECYCLE_EVENT_NAMES;
    let names = TRAIL_EVENT_NAMES
        .iter()
        .chain(bucket.map_or(&[][..], |_| &lifecycle_names[..]));
    for &name in names {
        let of_bucket = lifecycle_names.contains(&name);
        let attribute = LookupAttribute::builder()
            .attribute_key(LookupAttributeKey::EventName)
            .attribute_value(name)
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            // CloudTrail allows 2 calls a second: the first two go at once, then one every
            // half second.
            if calls >= 2 {
                tokio::time::sleep(LOOKUP_INTERVAL).await;
            }
            pages += 1;
            calls += 1;
            if pages > MAX_HISTORY_PAGES {
                return Err(fail(format!(
                    "more than {} {name} events in the history: it was not read whole",
                    MAX_HISTORY_PAGES * 50
                )));
            }
            let answer = client
                .lookup_events()
                .lookup_attributes(attribute.clone())
                .start_time(to_smithy(reaches_back_to))
                .end_time(to_smithy(now))
                .max_results(50)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    let call =
                        AwsCall::new("LookupEvents", "cloudtrail:LookupEvents", Some(&region));
                    fail(error_text(&e, Some(&call)))
                })?;
            for event in answer.events() {
                let found = if of_bucket {
                    bucket.and_then(|b| bucket_event(b, event))
                } else {
                    trail_event(trail, event)
                };
                if let Some(found) = found {
                    events.push(found);
                }
            }
            match answer.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
    }
    Ok(crate::trust::history::TrailHistory {
        events,
        reaches_back_to,
        reaches_until: now - HISTORY_DELAY,
        calls,
    })
}

/// The event as evidence about the trail bucket's configuration: `None` when it is about
/// another bucket, failed, or cannot be read.
fn bucket_event(
    bucket: &str,
    event: &aws_sdk_cloudtrail::types::Event,
) -> Option<crate::findings::TrailEvent> {
    let record: serde_json::Value = serde_json::from_str(event.cloud_trail_event()?).ok()?;
    if record.get("errorCode").is_some_and(|c| !c.is_null()) {
        return None;
    }
    let named = record
        .get("requestParameters")
        .and_then(|p| p.get("bucketName"))
        .and_then(serde_json::Value::as_str)?;
    if named != bucket {
        return None;
    }
    event_of(&record, event)
}

/// The cited form of an event CloudTrail's history returned.
fn event_of(
    record: &serde_json::Value,
    event: &aws_sdk_cloudtrail::types::Event,
) -> Option<crate::findings::TrailEvent> {
    let time = event
        .event_time()
        .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))?;
    let principal = record
        .get("userIdentity")
        .and_then(|u| u.get("arn"))
        .and_then(serde_json::Value::as_str)
        .or(event.username())
        .unwrap_or("unknown")
        .to_owned();
    Some(crate::findings::TrailEvent {
        event_id: event.event_id().unwrap_or_default().to_owned(),
        event_name: event.event_name().unwrap_or_default().to_owned(),
        time,
        principal,
        validation: record
            .get("requestParameters")
            .and_then(|p| p.get("enableLogFileValidation"))
            .and_then(serde_json::Value::as_bool),
    })
}

/// The event as evidence about `trail`: `None` when it is about another trail, failed (an
/// `errorCode`: it changed nothing), or cannot be read.
fn trail_event(
    trail: &TrailArn,
    event: &aws_sdk_cloudtrail::types::Event,
) -> Option<crate::findings::TrailEvent> {
    let record: serde_json::Value = serde_json::from_str(event.cloud_trail_event()?).ok()?;
    if record.get("errorCode").is_some_and(|c| !c.is_null()) {
        return None;
    }
    let arn = trail.to_string();
    let parameters = record.get("requestParameters");
    let named = parameters
        .and_then(|p| p.get("name"))
        .and_then(serde_json::Value::as_str);
    let created_arn = record
        .get("responseElements")
        .and_then(|r| r.get("trailARN"))
        .and_then(serde_json::Value::as_str);
    // The API takes a trail's name or its ARN; a name is unique in its account and region,
    // which is the history being read.
    let about_this_trail =
        named.is_some_and(|n| n == arn || n == trail.name) || created_arn.is_some_and(|a| a == arn);
    if !about_this_trail {
        return None;
    }
    event_of(&record, event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_bucket_location_means_us_east_1() {
        assert_eq!(region_of_location(None), "us-east-1");
        assert_eq!(region_of_location(Some("")), "us-east-1");
        assert_eq!(region_of_location(Some("EU")), "eu-west-1");
        assert_eq!(region_of_location(Some("ap-south-2")), "ap-south-2");
    }
}
