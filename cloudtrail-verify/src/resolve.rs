//! Resolving a trail in AWS: the calls before any digest is read (DescribeTrails, ListRegions,
//! ListAccounts, GetBucketLocation, ListPublicKeys, GetCallerIdentity), each with the run's
//! retries and timeouts, into the object source and target a run walks.

use crate::aws;
use crate::keys::{KeySet, SIGNING_DELAY_MARGIN};
use crate::layout::{ChainLayout, TrailArn};
use crate::options::TimeRange;
use crate::setup::SetupError;
use crate::source::{ObjectSource, S3Source};
use crate::trail_api;
use crate::verify::TrailTarget;
use aws_config::SdkConfig;
use std::sync::Arc;

/// `conf` in `region`, with ctverify's retries and timeouts for every call
/// ([`aws::with_call_policy`]: DescribeTrails, ListRegions, ListAccounts,
/// GetBucketLocation, ListPublicKeys and the S3 reads): a server that stops answering makes
/// a call fail, never the run hang.
fn hardened(conf: &SdkConfig, region: &str) -> SdkConfig {
    aws::with_call_policy(conf)
        .into_builder()
        .region(aws_config::Region::new(region.to_owned()))
        .build()
}

/// A trail resolved in S3: the source to read its bucket through and what to verify there.
pub(crate) struct Resolved {
    /// The bucket, read in the region guessed for it until [`Resolved::region`] settles it.
    pub source: Arc<dyn ObjectSource>,
    /// The trail, its bucket and prefix, the regions and accounts it must cover.
    pub target: TrailTarget,
    /// The bucket's region, still being asked for.
    pub region: BucketRegion,
}

/// The bucket's region (GetBucketLocation), asked while the run already reads the bucket in
/// the region guessed for it: the trail's home region, where a trail's bucket usually is. A
/// right guess saves the run one round trip before its first read; on a wrong one, whatever
/// was read through the guessed region's endpoint is thrown away and read again.
pub(crate) struct BucketRegion {
    conf: SdkConfig,
    bucket: String,
    guess: String,
    answer: futures::future::BoxFuture<'static, Result<String, SetupError>>,
}

impl BucketRegion {
    /// Waits for the bucket's region and records its S3 endpoint. `None` when the guess was
    /// right and the source given out stands; otherwise the source to read the bucket through
    /// instead, and nothing read through the other may be used.
    pub(crate) async fn settle(
        self,
        provenance: &mut crate::setup::RunProvenance,
    ) -> Result<Option<Arc<dyn ObjectSource>>, SetupError> {
        let region = self.answer.await?;
        tracing::debug!(bucket = %self.bucket, %region, guess = %self.guess, "bucket region");
        provenance
            .endpoints
            .insert("s3".into(), endpoint(&self.conf, "S3", "s3", &region));
        Ok((region != self.guess).then(|| bucket_source(&self.conf, &self.bucket, &region)))
    }
}

/// The S3 source reading `bucket` through `region`'s endpoint.
fn bucket_source(conf: &SdkConfig, bucket: &str, region: &str) -> Arc<dyn ObjectSource> {
    let conf = hardened(conf, region);
    Arc::new(S3Source::new(aws::s3_client(&conf)).with_description(format!("s3://{bucket}")))
}

/// The object source and target of a trail in S3: the trail's bucket and prefix from
/// DescribeTrails unless given, and the regions and accounts it must cover; the bucket read
/// in the trail's home region until its own region is known ([`BucketRegion`]).
pub(crate) async fn resolve(
    conf: &SdkConfig,
    arn: &TrailArn,
    bucket: Option<String>,
    prefix: Option<String>,
    warnings: &mut Vec<String>,
    provenance: &mut crate::setup::RunProvenance,
) -> Result<Resolved, SetupError> {
    let conf = hardened(conf, &arn.region);
    // Who is reading: asked alongside the calls below (an unreachable STS must not hold
    // the run up), and a failure says so and changes nothing about the verdict.
    let identity = tokio::spawn({
        let conf = conf.clone();
        async move { caller_identity(&conf).await }
    });
    let cloudtrail_endpoint = endpoint(&conf, "CLOUDTRAIL", "cloudtrail", &arn.region);
    provenance.keys_source = crate::keys::KeysSource::ListPublicKeys {
        endpoint: cloudtrail_endpoint.to_string(),
    };
    provenance
        .endpoints
        .insert("cloudtrail".into(), cloudtrail_endpoint);
    let mut expected_regions = None;
    let mut expected_accounts = None;
    let (bucket, prefix) = match bucket {
        Some(bucket) => (bucket, prefix),
        None => {
            let cloudtrail = aws_sdk_cloudtrail::Client::new(&conf);
            let trail = trail_api::describe_trail(&cloudtrail, arn).await?;
            tracing::debug!(?trail, "trail loaded");
            if !trail.log_file_validation {
                warnings.push(format!(
                    "log-file validation is off for {arn}: log files delivered while it is \
                     off are in no digest and cannot be verified (`ctverify enable --trail \
                     {arn}`)"
                ));
            }
            // Which chains must exist comes from the account and the organization, not
            // only from the folders an attacker left in the bucket.
            if !trail.multi_region {
                // A single-region trail has one region: its home region.
                expected_regions = Some(Vec::new());
            } else {
                match trail_api::enabled_regions(&conf).await {
                    Ok(regions) => expected_regions = Some(regions),
                    Err(e) => warnings.push(format!(
                        "{e}: the regions checked are those found in the bucket plus the \
                         home region; a region whose files were all deleted would go \
                         unnoticed (name it with --region)"
                    )),
                }
            }
            if trail.organization {
                match trail_api::organization_accounts(&conf).await {
                    Ok(accounts) => expected_accounts = Some(accounts),
                    Err(e) => warnings.push(format!(
                        "{e}: the member accounts checked are those found in the bucket; \
                         an account whose files were all deleted would go unnoticed (name \
                         it with --account-id)"
                    )),
                }
            }
            (trail.bucket, prefix.or(trail.prefix))
        }
    };
    let region = BucketRegion {
        answer: Box::pin({
            let (client, bucket) = (aws::s3_client(&conf), bucket.clone());
            async move { Ok(trail_api::bucket_region(&client, &bucket).await?) }
        }),
        guess: arn.region.clone(),
        conf: conf.clone(),
        bucket: bucket.clone(),
    };
    let source = bucket_source(&conf, &bucket, &region.guess);
    let mut target = TrailTarget::new(arn.clone(), bucket, prefix);
    target.expected_regions = expected_regions;
    target.expected_accounts = expected_accounts;
    match identity.await {
        Ok(Ok(caller)) => provenance.caller = Some(caller),
        Ok(Err(e)) => {
            warnings.push(format!(
                "the caller's identity is unknown (STS GetCallerIdentity failed: {e})"
            ));
            provenance.caller_note = Some(format!("GetCallerIdentity failed: {e}"));
        }
        Err(e) => provenance.caller_note = Some(format!("GetCallerIdentity did not run: {e}")),
    }
    Ok(Resolved {
        source,
        target,
        region,
    })
}

/// The trail's event history, read with the run's session in the trail's home region.
pub(crate) fn event_history(
    conf: &SdkConfig,
    arn: &TrailArn,
    caller_account: Option<String>,
    bucket: &str,
) -> Arc<dyn crate::history::EventHistory> {
    Arc::new(crate::history::AwsEventHistory {
        conf: hardened(conf, &arn.region),
        trail: arn.clone(),
        caller_account,
        bucket: Some(bucket.to_owned()),
    })
}

/// STS GetCallerIdentity with the run's session.
async fn caller_identity(conf: &SdkConfig) -> Result<crate::report::CallerIdentity, String> {
    // Provenance only: one attempt, a few seconds, never the run's time.
    let client = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(conf)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(std::time::Duration::from_secs(3))
                    .operation_timeout(std::time::Duration::from_secs(5))
                    .build(),
            )
            .build(),
    );
    let answer = client
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| aws::error_text(&e, None))?;
    Ok(crate::report::CallerIdentity {
        arn: answer.arn,
        account: answer.account,
        user_id: answer.user_id,
    })
}

/// The endpoint a service's client built from `conf` uses: `AWS_ENDPOINT_URL_<SERVICE>`,
/// then the session's endpoint (`--endpoint-url`, `AWS_ENDPOINT_URL`, the profile's), as
/// the SDK resolves them; otherwise AWS's regional endpoint.
fn endpoint(conf: &SdkConfig, env_suffix: &str, service: &str, region: &str) -> String {
    std::env::var(format!("AWS_ENDPOINT_URL_{env_suffix}"))
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| conf.endpoint_url().map(str::to_owned))
        .unwrap_or_else(|| format!("https://{service}.{region}.amazonaws.com"))
}

/// The window a run's keys are asked for: the range's last digest covers up to an hour past
/// its end and may be signed up to the margin later; no key can be valid in the future.
fn keys_window(range: TimeRange) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    let end =
        (range.end() + chrono::TimeDelta::hours(1) + SIGNING_DELAY_MARGIN).min(chrono::Utc::now());
    (range.start().min(end), end)
}

/// ListPublicKeys for the trail's home region, asked while the chains are still being found
/// (the home region almost always has one), so that its answer is there when the keys are
/// needed: the same request [`public_keys`] makes for that region, over the same window.
pub(crate) struct KeysAhead {
    region: String,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
    answer: crate::task::AbortOnDrop<Result<Vec<crate::keys::PublicKey>, trail_api::TrailApiError>>,
}

/// Starts [`KeysAhead`] for `arn`'s home region over `range`'s key window.
pub(crate) fn keys_ahead(conf: &SdkConfig, arn: &TrailArn, range: TimeRange) -> KeysAhead {
    let conf = hardened(conf, &arn.region);
    let (start, end) = keys_window(range);
    let region = arn.region.clone();
    let answer = crate::task::AbortOnDrop::spawn({
        let region = region.clone();
        async move { trail_api::fetch_public_keys(&conf, &region, start, end).await }
    });
    KeysAhead {
        region,
        start,
        end,
        answer,
    }
}

/// CloudTrail's public keys for every region of `chains`, over the range plus the margin in
/// which CloudTrail may still sign the range's last digests. Each region's answer is
/// complete for that window, so a fingerprint it lacks is not CloudTrail's.
///
/// A region whose ListPublicKeys fails after its retries (throttled, unreachable) is a
/// warning, not a failed run: its keys could not be fetched, so its digests are
/// unverifiable (exit 2, as for any file that could not be checked), never valid and never
/// invalid, since no list for it is complete. The home region's answer is `ahead`'s when it
/// was asked ahead.
pub(crate) async fn public_keys(
    conf: &SdkConfig,
    arn: &TrailArn,
    chains: &[ChainLayout],
    range: TimeRange,
    mut ahead: Option<KeysAhead>,
    warnings: &mut Vec<String>,
) -> Result<KeySet, SetupError> {
    let conf = hardened(conf, &arn.region);
    let mut regions: Vec<&str> = chains.iter().map(|c| c.chain.region.as_str()).collect();
    regions.sort_unstable();
    regions.dedup();
    let (start, end) = ahead
        .as_ref()
        .map_or_else(|| keys_window(range), |a| (a.start, a.end));
    let fetches = regions.iter().map(|region| {
        let early = ahead.take_if(|a| a.region == *region);
        let conf = &conf;
        async move {
            match early {
                Some(mut early) => match (&mut early.answer.0).await {
                    Ok(answer) => answer,
                    // Cancelled or panicked: asked again, as if never asked ahead.
                    Err(_) => trail_api::fetch_public_keys(conf, region, start, end).await,
                },
                None => trail_api::fetch_public_keys(conf, region, start, end).await,
            }
        }
    });
    let mut keys = KeySet::new();
    for (region, fetched) in regions.iter().zip(futures::future::join_all(fetches).await) {
        let fetched = match fetched {
            Ok(fetched) => fetched,
            Err(e @ trail_api::TrailApiError::PublicKeys { .. }) => {
                warnings.push(format!(
                    "{e}: CloudTrail's keys for {region} could not be fetched, so its \
                     digests are unverifiable; run again later, or pin the keys with \
                     --public-keys"
                ));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        tracing::debug!(
            region,
            %start,
            %end,
            keys = ?fetched
                .iter()
                .map(|k| format!("{} {}..{}", k.fingerprint(), k.valid_from(), k.valid_to()))
                .collect::<Vec<_>>(),
            "public keys loaded"
        );
        for key in fetched {
            keys.insert(key);
        }
        keys.mark_complete(Some(region), start, end);
    }
    Ok(keys)
}
