//! The AWS SDK side shared by `enable` and `audit`: error text, clients for another region,
//! reading a trail's settings and status, and gathering key, bucket-policy and lifecycle facts.

use aws_config::Region;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::date_time::Format;

use crate::facts::{KeyFacts, KeyLookup, Observed, kms_arn_region};
use crate::{TrailState, TrailStatusInfo};
use cloudtrail_verify::TrailArn;

/// `CODE: message` for a service error, else what kept the call from being answered, with a
/// hint about credentials or the network when one applies: [`cloudtrail_verify::aws::error_text`], shared
/// with verification so that every command words AWS failures the same way.
pub(crate) fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    cloudtrail_verify::aws::error_text(err, None)
}

/// The service error code, if the service answered with one.
pub(crate) fn code<E, R>(err: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    err.as_service_error().and_then(ProvideErrorMetadata::code)
}

/// Defines `$name(client, region)`: the same client for another region, keeping every other
/// setting (endpoint, path style, credentials). The SDK's client types share no trait, so a
/// macro writes the one body for each.
macro_rules! client_in_region {
    ($(#[$doc:meta])* $name:ident, $sdk:ident) => {
        $(#[$doc])*
        pub(crate) fn $name(client: &$sdk::Client, region: &str) -> $sdk::Client {
            if region.is_empty() || client.config().region().map(Region::as_ref) == Some(region) {
                return client.clone();
            }
            let conf = client
                .config()
                .to_builder()
                .region(Region::new(region.to_owned()))
                .build();
            $sdk::Client::from_conf(conf)
        }
    };
}

client_in_region!(
    /// The CloudTrail client for `region`: the trail's home region is the only place its
    /// settings can be changed (`UpdateTrail` elsewhere fails with `InvalidHomeRegionException`).
    cloudtrail_in,
    aws_sdk_cloudtrail
);
client_in_region!(
    /// The KMS client for `region`: keys are regional and CloudTrail needs one in the bucket's
    /// region.
    kms_in,
    aws_sdk_kms
);
client_in_region!(
    /// The S3 client for the bucket's region; a client in another region gets a
    /// `PermanentRedirect` for most bucket sub-resources.
    s3_in,
    aws_sdk_s3
);

/// Why a trail could not be read.
#[derive(Debug)]
pub(crate) enum TrailReadError {
    /// `TrailNotFoundException`: the name or ARN does not exist (in that region).
    NotFound(String),
    /// Any other failure, described.
    Other(String),
}

/// Reads a trail's settings (`GetTrail`) from its home region when `trail` is an ARN, and returns
/// them with a client in the home region for follow-up calls.
pub(crate) async fn get_trail(
    client: &aws_sdk_cloudtrail::Client,
    trail: &str,
) -> Result<(aws_sdk_cloudtrail::types::Trail, aws_sdk_cloudtrail::Client), TrailReadError> {
    let client = match TrailArn::parse(trail) {
        Some(arn) => cloudtrail_in(client, &arn.region),
        None => client.clone(),
    };
    let out = client.get_trail().name(trail).send().await.map_err(|e| {
        let not_found = e
            .as_service_error()
            .is_some_and(|s| s.is_trail_not_found_exception())
            || code(&e) == Some("TrailNotFoundException");
        if not_found {
            TrailReadError::NotFound(describe(&e))
        } else {
            TrailReadError::Other(describe(&e))
        }
    })?;
    let found = out
        .trail
        .ok_or_else(|| TrailReadError::Other("GetTrail returned no trail".to_owned()))?;
    // A trail named without its ARN may live in another region (a multi-region trail seen from a
    // shadow region): switch to its home region now that we know it.
    let client = match found.trail_arn().and_then(TrailArn::parse) {
        Some(arn) => cloudtrail_in(&client, &arn.region),
        None => client,
    };
    Ok((found, client))
}

/// Reads `GetTrailStatus`; `Err` carries the reason so callers can report it as evidence.
pub(crate) async fn get_status(
    client: &aws_sdk_cloudtrail::Client,
    trail_arn: &str,
) -> Result<TrailStatusInfo, String> {
    let out = client
        .get_trail_status()
        .name(trail_arn)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    Ok(TrailStatusInfo {
        is_logging: out.is_logging(),
        latest_delivery_time: out.latest_delivery_time().and_then(fmt_time),
        latest_delivery_error: non_empty(out.latest_delivery_error()),
        latest_digest_delivery_time: out.latest_digest_delivery_time().and_then(fmt_time),
        latest_digest_delivery_error: non_empty(out.latest_digest_delivery_error()),
        latest_cloudwatch_logs_delivery_error: non_empty(
            out.latest_cloud_watch_logs_delivery_error(),
        ),
    })
}

/// Builds the [`TrailState`] of a trail from `GetTrail` plus `GetTrailStatus`.
pub(crate) async fn trail_state(
    client: &aws_sdk_cloudtrail::Client,
    trail: &aws_sdk_cloudtrail::types::Trail,
) -> TrailState {
    let arn = trail.trail_arn().unwrap_or_default().to_owned();
    let (status, status_error) = match get_status(client, &arn).await {
        Ok(s) => (Some(s), None),
        Err(e) => (None, Some(e)),
    };
    TrailState {
        name: trail.name().unwrap_or_default().to_owned(),
        home_region: home_region(trail),
        arn,
        s3_bucket: trail.s3_bucket_name().unwrap_or_default().to_owned(),
        s3_key_prefix: non_empty(trail.s3_key_prefix()),
        is_multi_region: trail.is_multi_region_trail().unwrap_or(false),
        is_organization_trail: trail.is_organization_trail().unwrap_or(false),
        log_file_validation_enabled: trail.log_file_validation_enabled().unwrap_or(false),
        kms_key_id: non_empty(trail.kms_key_id()),
        cloudwatch_logs_log_group_arn: non_empty(trail.cloud_watch_logs_log_group_arn()),
        status,
        status_error,
    }
}

/// The home region: `HomeRegion` when the service sends it (moto's GetTrail does not), else the
/// region in the ARN.
pub(crate) fn home_region(trail: &aws_sdk_cloudtrail::types::Trail) -> String {
    non_empty(trail.home_region())
        .or_else(|| {
            trail
                .trail_arn()
                .and_then(TrailArn::parse)
                .map(|a| a.region)
        })
        .unwrap_or_default()
}

/// The bucket's region from `GetBucketLocation`: an empty constraint means `us-east-1`, and the
/// legacy `EU` means `eu-west-1`.
pub(crate) async fn bucket_region(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<String, String> {
    let out = s3
        .get_bucket_location()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let region = out
        .location_constraint()
        .map(|c| c.as_str().to_owned())
        .unwrap_or_default();
    Ok(match region.as_str() {
        "" => "us-east-1".to_owned(),
        "EU" => "eu-west-1".to_owned(),
        _ => region,
    })
}

/// `None` for absent and empty strings: moto (and sometimes AWS) sends `""` for "not set".
pub(crate) fn non_empty(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_owned)
}

fn fmt_time(t: &aws_smithy_types::DateTime) -> Option<String> {
    t.fmt(Format::DateTime).ok()
}

/// An SDK answer as an [`Observed`] fact: `Absent` when the service answers with one of
/// `absent_codes` (`NoSuchBucketPolicy`, …), `Unreadable` with the error text otherwise.
pub(crate) fn observe<T, E, R>(
    result: Result<T, SdkError<E, R>>,
    absent_codes: &[&str],
) -> Observed<T>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match result {
        Ok(v) => Observed::Present(v),
        Err(e) if code(&e).is_some_and(|c| absent_codes.contains(&c)) => Observed::Absent,
        Err(e) => Observed::Unreadable(describe(&e)),
    }
}

/// Looks `key` (id, ARN, alias name or alias ARN) up with `DescribeKey` in its ARN's region, else
/// in `default_region`, and reads its key policy: the facts [`crate::verdict::kms_key_verdict`]
/// judges.
pub(crate) async fn key_lookup(
    kms: &aws_sdk_kms::Client,
    key: &str,
    default_region: &str,
) -> KeyLookup {
    let region = kms_arn_region(key).unwrap_or(default_region).to_owned();
    let kms = kms_in(kms, &region);
    let meta = match kms.describe_key().key_id(key).send().await {
        Ok(out) => match out.key_metadata {
            Some(meta) => meta,
            None => return KeyLookup::Failed("DescribeKey returned no key metadata".to_owned()),
        },
        Err(e) => {
            let not_found = e
                .as_service_error()
                .is_some_and(|s| s.is_not_found_exception())
                || code(&e) == Some("NotFoundException");
            return if not_found {
                KeyLookup::NotFound(format!(
                    "KMS key {key} does not exist in {region} ({})",
                    describe(&e)
                ))
            } else {
                KeyLookup::Failed(format!(
                    "DescribeKey {key} in {region} failed: {}",
                    describe(&e)
                ))
            };
        }
    };
    let policy = observe(
        kms.get_key_policy()
            .key_id(meta.key_id())
            .policy_name("default")
            .send()
            .await,
        &[],
    );
    let policy = match policy {
        Observed::Present(out) => match out.policy {
            Some(p) if !p.is_empty() => Observed::Present(p),
            _ => Observed::Absent,
        },
        Observed::Absent => Observed::Absent,
        Observed::Unreadable(why) => Observed::Unreadable(why),
    };
    KeyLookup::Found(Box::new(KeyFacts::from_metadata(
        key, &meta, &region, policy,
    )))
}

/// The bucket policy's text; `Absent` for `NoSuchBucketPolicy`.
pub(crate) async fn bucket_policy(s3: &aws_sdk_s3::Client, bucket: &str) -> Observed<String> {
    match observe(
        s3.get_bucket_policy().bucket(bucket).send().await,
        &["NoSuchBucketPolicy"],
    ) {
        Observed::Present(out) => match out.policy {
            Some(p) if !p.is_empty() => Observed::Present(p),
            _ => Observed::Absent,
        },
        Observed::Absent => Observed::Absent,
        Observed::Unreadable(why) => Observed::Unreadable(why),
    }
}

/// The bucket's lifecycle rules; `Absent` for `NoSuchLifecycleConfiguration`, `Unreadable` for
/// anything else (AccessDenied included: unknown, never "no rules").
pub(crate) async fn lifecycle_rules(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
) -> Observed<Vec<cloudtrail_verify::source::LifecycleRule>> {
    observe(
        s3.get_bucket_lifecycle_configuration()
            .bucket(bucket)
            .send()
            .await,
        &["NoSuchLifecycleConfiguration"],
    )
    .map(|out| {
        out.rules()
            .iter()
            .enumerate()
            .map(|(i, r)| cloudtrail_verify::source::s3::lifecycle_rule(i, r))
            .collect()
    })
}
