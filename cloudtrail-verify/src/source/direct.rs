//! Log files read without the SDK's per-call machinery, by repeating a request the SDK made.
//!
//! A verification reads one log file per GET, a million of them for a large range. Through
//! `aws-sdk-s3` each GetObject builds its operation's configuration, resolves the endpoint rules,
//! runs a dozen interceptors and parses every response header: on a 2-core machine that is about
//! half of ctverify's CPU (`perf` over `bench/scale_s3.sh`), more than inflating and hashing the
//! files. A lane does the same GET with the SDK's own parts, set up once per bucket:
//!
//! * it **learns** from a GetObject the SDK sent for the bucket (an interceptor reads the signed
//!   request before it is transmitted): the endpoint and path before the key, the signing region
//!   and service, and the headers the SDK sent; anything it does not recognise leaves the bucket
//!   to the SDK;
//! * it sends through the SDK's **HTTP connector** (so TLS, a CA bundle, proxies and the connect
//!   and read timeouts are the session's), with credentials from the SDK's **identity cache**,
//!   signed with SigV4 as the SDK signs for S3
//!   (<https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html>);
//! * it wraps a `200` body as the SDK does: the stored checksum S3 returns with
//!   `x-amz-checksum-mode: ENABLED` is verified while the body streams
//!   (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html>),
//!   and a body that stalls fails under the session's stalled-stream protection.
//!
//! Anything else goes back to the SDK, whose answer then decides: any status but `200` (errors,
//! throttling, redirects), a failed connection, a response with user metadata (`x-amz-meta-*`,
//! which digests carry and the SDK parses), and every digest file. A throttled or failed GET
//! also turns the lane off for its bucket, so that the SDK's retry strategy paces everything
//! after it.

use aws_smithy_runtime_api::client::auth::AuthSchemeId;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::identity::{ResolveCachedIdentity, SharedIdentityResolver};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::{GetIdentityResolver, RuntimeComponents};
use aws_smithy_runtime_api::client::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::checksum_config::ResponseChecksumValidation;
use aws_smithy_types::config_bag::{ConfigBag, FrozenLayer, Layer};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The query the SDK adds to every GetObject (`x-id` names the operation).
const GET_OBJECT_QUERY: &str = "x-id=GetObject";

/// Headers of a learned request the lane sets itself (the signature and its inputs) or leaves
/// out (the SDK's per-call invocation ID and attempt counter).
const SET_PER_REQUEST: [&str; 7] = [
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "amz-sdk-invocation-id",
    "amz-sdk-request",
    "host",
];

/// Headers copied from the learned request, signed when it signed them: the SDK's user agent,
/// and `x-amz-checksum-mode`, which asks S3 for the object's stored checksum (the lane then
/// verifies it as the SDK does).
const COPIED: [&str; 3] = ["user-agent", "x-amz-user-agent", "x-amz-checksum-mode"];

/// How long a lane rests after S3 throttled or failed one of its GETs, or its connection
/// failed: meanwhile the SDK's retry strategy, with its backoff and retry quota, paces every
/// read of the bucket.
const PAUSE: Duration = Duration::from_secs(30);

/// Refusals (`403`, `404`, ...) a lane takes before it is turned off: each costs a second
/// request (the SDK's, whose answer decides), so a bucket that refuses many log files (a trail
/// with files deleted, a KMS key the reader may not use) is left to the SDK.
const MAX_REFUSALS: u32 = 16;

/// The lanes of one source, by bucket, and how many GETs went through them.
#[derive(Debug, Default)]
pub(super) struct DirectReads {
    /// Each bucket's lane; a bucket that is not here has not been learned yet.
    lanes: Mutex<HashMap<String, LaneState>>,
    /// GETs a lane answered with an object (see [`DirectReads::count`]).
    reads: AtomicU64,
}

/// A learned bucket's lane.
#[derive(Debug, Clone)]
enum LaneState {
    /// Log files are read through it.
    Ready(Arc<Lane>),
    /// Log files are read by the SDK until `until` (see [`PAUSE`]), then through the lane again.
    Paused {
        /// The lane to resume.
        lane: Arc<Lane>,
        /// When it resumes.
        until: Instant,
    },
    /// The bucket is the SDK's for good: its requests could not be repeated, S3 refused the
    /// lane's GET and served the SDK's, too many were refused, or its log files carry user
    /// metadata.
    Off,
}

/// What the lane did with a GET.
pub(super) enum Direct {
    /// S3 answered `200`; the body is wrapped for checksum and stall checks.
    Answered(Box<HttpResponse>),
    /// The lane declined, or failed: the SDK is to make the call.
    ToSdk,
    /// S3 refused the lane's GET (a status other than `200`, not throttling): the SDK is to
    /// make the call, and when S3 serves the SDK's, the lane was wrong for the bucket (see
    /// [`DirectReads::refused_wrongly`]).
    Refused,
}

impl DirectReads {
    /// GETs answered through a lane so far.
    pub(super) fn count(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    fn state(&self, bucket: &str) -> Option<LaneState> {
        self.lanes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(bucket)
            .cloned()
    }

    fn set(&self, bucket: &str, state: LaneState) {
        self.lanes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(bucket.to_owned(), state);
    }

    /// A learner for the SDK's GetObject of `key` when `bucket` has no lane yet and the object
    /// may be read through one; `None` otherwise.
    pub(super) fn learner(&self, bucket: &str, key: &str) -> Option<Learner> {
        if !eligible(key) || self.state(bucket).is_some() {
            return None;
        }
        Some(Learner {
            key: key.to_owned(),
            learned: Arc::default(),
        })
    }

    /// After the SDK's GetObject with `learner` succeeded: the bucket gets the lane it learned,
    /// or is left to the SDK when nothing could be learned.
    pub(super) fn learned(&self, bucket: &str, learner: &Learner) {
        let learned = learner
            .learned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if self.state(bucket).is_some() {
            return;
        }
        match learned {
            Some(Ok(lane)) => self.set(bucket, LaneState::Ready(Arc::new(lane))),
            Some(Err(reason)) => {
                tracing::debug!(bucket, reason, "log files are read through the SDK");
                self.set(bucket, LaneState::Off);
            }
            None => {}
        }
    }

    /// After [`Direct::Refused`], S3 served the SDK's GetObject of the same key: the lane's
    /// request differs from the SDK's in a way that matters (a clock skew the SDK corrects, say),
    /// so the bucket is left to the SDK rather than paying two requests per log file.
    pub(super) fn refused_wrongly(&self, bucket: &str) {
        tracing::debug!(bucket, "lane off: S3 refused its GET and served the SDK's");
        self.set(bucket, LaneState::Off);
    }

    /// The lane to read `bucket` through now, resuming a paused one whose pause is over.
    fn ready(&self, bucket: &str) -> Option<Arc<Lane>> {
        match self.state(bucket)? {
            LaneState::Ready(lane) => Some(lane),
            LaneState::Paused { lane, until } if Instant::now() >= until => {
                self.set(bucket, LaneState::Ready(lane.clone()));
                Some(lane)
            }
            LaneState::Paused { .. } | LaneState::Off => None,
        }
    }

    /// GETs `key` through `bucket`'s lane, when it has one and the key is a log file's.
    pub(super) async fn get(&self, bucket: &str, key: &str) -> Direct {
        if !eligible(key) {
            return Direct::ToSdk;
        }
        let Some(lane) = self.ready(bucket) else {
            return Direct::ToSdk;
        };
        let pause = |why: &str| {
            tracing::debug!(bucket, why, "lane paused");
            self.set(
                bucket,
                LaneState::Paused {
                    lane: lane.clone(),
                    until: Instant::now() + PAUSE,
                },
            );
            Direct::ToSdk
        };
        match lane.get(key).await {
            Ok(response) if response.status().as_u16() == 200 => {
                // Header names as bytes: a value that is not UTF-8 still counts.
                if response
                    .headers()
                    .iter_bytes()
                    .any(|(name, _)| name.starts_with("x-amz-meta-"))
                {
                    tracing::debug!(bucket, "lane off: log files with user metadata");
                    self.set(bucket, LaneState::Off);
                    return Direct::ToSdk;
                }
                self.reads.fetch_add(1, Ordering::Relaxed);
                Direct::Answered(Box::new(lane.checked_body(response)))
            }
            Ok(response) => {
                let status = response.status();
                if status.is_server_error() || status.as_u16() == 429 {
                    pause(&format!("status {}", status.as_u16()))
                } else {
                    if lane.refusals.fetch_add(1, Ordering::Relaxed) + 1 >= MAX_REFUSALS {
                        tracing::debug!(bucket, "lane off: {MAX_REFUSALS} refusals");
                        self.set(bucket, LaneState::Off);
                    }
                    Direct::Refused
                }
            }
            Err(reason) => pause(&reason),
        }
    }
}

/// Whether `key` may be read through a lane: not a digest file, whose signature is in its user
/// metadata, which only the SDK parses. A loose test of the name on purpose (the strict parse
/// is `crate::layout`'s): a digest the test misses is still handed back for its metadata, only
/// at the cost of a second request.
fn eligible(key: &str) -> bool {
    !key.contains("CloudTrail-Digest")
}

/// What one SDK GetObject taught: a lane, or why there can be none.
type Lesson = Mutex<Option<Result<Lane, String>>>;

/// Holds what the SDK's GetObject of one key taught (see [`Learner::hook`]), until
/// [`DirectReads::learned`] takes it.
#[derive(Debug)]
pub(super) struct Learner {
    /// The key the SDK's request is for.
    key: String,
    /// The lesson, owned here alone.
    learned: Arc<Lesson>,
}

impl Learner {
    /// The interceptor to add to the SDK's call. It holds the lesson weakly: a lane keeps the
    /// call's runtime components, which hold this interceptor, so a strong hold would be a cycle
    /// that a call ending in an error (whose lesson nobody takes) would leak.
    pub(super) fn hook(&self) -> LearnerHook {
        LearnerHook {
            key: self.key.clone(),
            learned: Arc::downgrade(&self.learned),
        }
    }
}

/// Reads the signed request of one SDK GetObject, to set up a lane from it.
#[derive(Debug, Clone)]
pub(super) struct LearnerHook {
    /// The key the SDK's request is for.
    key: String,
    /// Where the lesson goes, while its [`Learner`] lives.
    learned: Weak<Lesson>,
}

impl Intercept for LearnerHook {
    fn name(&self) -> &'static str {
        "ctverify::DirectReadsLearner"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let Some(learned) = self.learned.upgrade() {
            let lane = Lane::learn(context.request(), &self.key, components, cfg);
            *learned
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(lane);
        }
        Ok(())
    }
}

/// One bucket's lane: what the SDK's request for one key says about the request for any key.
#[derive(Debug)]
struct Lane {
    /// The session's HTTP connector, with its connect and read timeouts.
    connector: SharedHttpConnector,
    /// The SDK call's runtime components: its identity cache, time source and sleep.
    components: RuntimeComponents,
    /// The call's retry and timeout settings, which bound a credentials refresh in the cache.
    config: FrozenLayer,
    /// The SigV4 credentials resolver, behind the identity cache.
    identity: SharedIdentityResolver,
    /// The URI up to the key: scheme, authority and the path before it.
    prefix: String,
    /// The signing region (from the SDK's credential scope).
    region: String,
    /// The signing service name (`s3`).
    service: String,
    /// The signed `x-amz-content-sha256` of a GET (the hash of the empty body).
    content_sha256: String,
    /// Headers sent as learned and signed, as the SDK signed them.
    signed: Vec<(&'static str, String)>,
    /// Headers sent as learned, unsigned.
    unsigned: Vec<(&'static str, String)>,
    /// One GET's limit up to its answer's headers (the SDK's attempt timeout).
    attempt_timeout: Option<Duration>,
    /// The session's stalled-stream protection, when it guards downloads.
    stalled: Option<StalledStreamProtectionConfig>,
    /// Whether an answer's stored checksum is verified (as the SDK does unless told to only
    /// when required, or when the request asked for it).
    validate_checksums: bool,
    /// GETs S3 refused so far (see [`MAX_REFUSALS`]).
    refusals: AtomicU32,
}

impl Lane {
    /// A lane from the SDK's signed GetObject of `key`, or why there can be none.
    fn learn(
        request: &HttpRequest,
        key: &str,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<Lane, String> {
        if request.method() != "GET" {
            return Err(format!("a {} request", request.method()));
        }
        let uri = request.uri();
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        if query != GET_OBJECT_QUERY {
            return Err(format!("the query {query:?}"));
        }
        let encoded = encode_key(key);
        let prefix = path
            .strip_suffix(encoded.as_str())
            .filter(|prefix| prefix.ends_with('/'))
            .ok_or("the key is not at the end of the path")?;
        let authorization = request
            .headers()
            .get("authorization")
            .ok_or("an unsigned request")?;
        let (region, service, signed_names) = sigv4_scope(authorization)?;
        if let Some(other) = signed_names
            .iter()
            .find(|h| !SET_PER_REQUEST.contains(&h.as_str()) && !COPIED.contains(&h.as_str()))
        {
            return Err(format!("the signed header {other}"));
        }
        let (mut signed, mut unsigned) = (Vec::new(), Vec::new());
        for (name, value) in request.headers().iter() {
            let name = name.to_ascii_lowercase();
            if SET_PER_REQUEST.contains(&name.as_str()) {
                continue;
            }
            let Some(copy) = COPIED.iter().find(|c| **c == name) else {
                return Err(format!("the header {name}"));
            };
            if signed_names.contains(&name) {
                signed.push((*copy, value.to_owned()));
            } else {
                unsigned.push((*copy, value.to_owned()));
            }
        }
        let content_sha256 = request
            .headers()
            .get("x-amz-content-sha256")
            .ok_or("no x-amz-content-sha256")?
            .to_owned();
        let timeouts = cfg.load::<TimeoutConfig>();
        let mut settings = HttpConnectorSettings::builder();
        settings.set_connect_timeout(timeouts.and_then(TimeoutConfig::connect_timeout));
        settings.set_read_timeout(timeouts.and_then(TimeoutConfig::read_timeout));
        let connector = components
            .http_client()
            .ok_or("no HTTP client")?
            .http_connector(&settings.build(), components);
        let identity = components
            .identity_resolver(AuthSchemeId::new("sigv4"))
            .ok_or("no SigV4 credentials")?;
        let mut config = Layer::new("ctverify direct reads");
        if let Some(timeouts) = timeouts {
            config.store_put(timeouts.clone());
        }
        if let Some(retries) = cfg.load::<RetryConfig>() {
            config.store_put(retries.clone());
        }
        let checksum_asked = signed
            .iter()
            .chain(&unsigned)
            .any(|(name, value)| *name == "x-amz-checksum-mode" && value == "ENABLED");
        Ok(Lane {
            connector,
            components: components.clone(),
            config: config.freeze(),
            identity,
            prefix: prefix.to_owned(),
            region,
            service,
            content_sha256,
            signed,
            unsigned,
            attempt_timeout: timeouts.and_then(TimeoutConfig::operation_attempt_timeout),
            stalled: cfg
                .load::<StalledStreamProtectionConfig>()
                .filter(|c| c.download_enabled())
                .cloned(),
            validate_checksums: checksum_asked
                || !matches!(
                    cfg.load::<ResponseChecksumValidation>(),
                    Some(ResponseChecksumValidation::WhenRequired)
                ),
            refusals: AtomicU32::new(0),
        })
    }

    /// Sends the GET of `key`, signed now; the response as it comes (its body unread), or why
    /// none came.
    async fn get(&self, key: &str) -> Result<HttpResponse, String> {
        let uri = format!("{}{}?{GET_OBJECT_QUERY}", self.prefix, encode_key(key));
        let identity = self
            .components
            .identity_cache()
            .resolve_cached_identity(self.identity.clone(), &self.components, &{
                let mut bag = ConfigBag::base();
                bag.push_shared_layer(self.config.clone());
                bag
            })
            .await
            .map_err(|e| format!("credentials: {e}"))?;
        let now = self
            .components
            .time_source()
            .map_or_else(std::time::SystemTime::now, |t| t.now());
        let request = self.signed(&uri, &identity, now)?;
        let call = self.connector.call(request);
        let answer = match self.attempt_timeout {
            Some(limit) => tokio::time::timeout(limit, call)
                .await
                .map_err(|_| format!("no answer within {limit:?}"))?,
            None => call.await,
        };
        answer.map_err(|e| crate::aws::cause_chain(&e))
    }

    /// The GET of `uri`, signed as the SDK signs for S3: single percent-encoding, the path
    /// as it is, the payload's hash in `x-amz-content-sha256`.
    fn signed(
        &self,
        uri: &str,
        identity: &aws_smithy_runtime_api::client::identity::Identity,
        now: std::time::SystemTime,
    ) -> Result<HttpRequest, String> {
        use aws_sigv4::http_request::{
            PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
            SigningSettings, UriPathNormalizationMode, sign,
        };
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(identity)
            .region(&self.region)
            .name(&self.service)
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let signable = SignableRequest::new(
            "GET",
            uri,
            self.signed.iter().map(|(n, v)| (*n, v.as_str())),
            SignableBody::Precomputed(self.content_sha256.clone()),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        let mut request = HttpRequest::new(SdkBody::empty());
        request.set_uri(uri).map_err(|e| e.to_string())?;
        request.set_method("GET").map_err(|e| e.to_string())?;
        let headers = request.headers_mut();
        for (name, value) in self.signed.iter().chain(&self.unsigned) {
            headers
                .try_insert(*name, value.clone())
                .map_err(|e| e.to_string())?;
        }
        let (signature_headers, _) = instructions.into_parts();
        for header in signature_headers {
            headers
                .try_insert(header.name().to_owned(), header.value().to_owned())
                .map_err(|e| e.to_string())?;
        }
        Ok(request)
    }

    /// A `200` answer with its body wrapped as the SDK wraps it: the stored checksum verified
    /// as the body streams, and a body that stalls failed.
    fn checked_body(&self, mut response: HttpResponse) -> HttpResponse {
        let mut body = response.take_body();
        if let Some(limits) = self.stalled.clone() {
            let sleep = self.components.sleep_impl();
            let time = self.components.time_source();
            if let (Some(sleep), Some(time)) = (sleep, time) {
                body = SdkBody::from_body_1_x(
                    aws_smithy_runtime::client::http::body::minimum_throughput::MinimumThroughputDownloadBody::new(
                        time,
                        sleep,
                        body,
                        limits.into(),
                    ),
                );
            }
        }
        if self.validate_checksums
            && let Some((algorithm, expected)) = stored_checksum(response.headers())
        {
            body = SdkBody::from_body_1_x(aws_smithy_checksums::body::validate::ChecksumBody::new(
                body,
                algorithm.into_impl(),
                expected,
            ));
        }
        *response.body_mut() = body;
        response
    }
}

/// The key as a path: every byte percent-encoded but letters, digits, `-._~` and `/`, as the
/// SDK writes an object key (a greedy label).
fn encode_key(key: &str) -> String {
    aws_smithy_http::label::fmt_string(key, aws_smithy_http::label::EncodingStrategy::Greedy)
}

/// The region, service and signed headers of a SigV4 `Authorization` header
/// (`AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b,
/// Signature=...`); any other scheme (SigV4a, an S3 Express session) is refused.
fn sigv4_scope(authorization: &str) -> Result<(String, String, Vec<String>), String> {
    let fields = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("not signed with SigV4")?;
    let field = |name: &str| {
        fields
            .split(',')
            .map(str::trim)
            .find_map(|f| f.strip_prefix(name))
            .ok_or(format!("no {name} in the signature"))
    };
    let scope: Vec<&str> = field("Credential=")?.split('/').collect();
    let [_, _, region, service, "aws4_request"] = scope.as_slice() else {
        return Err("an unexpected credential scope".into());
    };
    let signed = field("SignedHeaders=")?
        .split(';')
        .map(str::to_owned)
        .collect();
    Ok(((*region).to_owned(), (*service).to_owned(), signed))
}

/// The stored checksum an answer carries, chosen as the SDK chooses: the fastest algorithm
/// first, none for a multipart object's checksum of checksums (`...-N`), which does not cover
/// the bytes as sent.
fn stored_checksum(
    headers: &aws_smithy_runtime_api::http::Headers,
) -> Option<(aws_smithy_checksums::ChecksumAlgorithm, bytes::Bytes)> {
    for name in aws_smithy_checksums::http::CHECKSUM_ALGORITHMS_IN_PRIORITY_ORDER {
        let Ok(algorithm) = name.parse::<aws_smithy_checksums::ChecksumAlgorithm>() else {
            continue;
        };
        let Some(value) = headers.get(algorithm.into_impl().header_name()) else {
            continue;
        };
        if is_part_level(value) {
            return None;
        }
        return aws_smithy_types::base64::decode(value)
            .ok()
            .map(|bytes| (algorithm, bytes.into()));
    }
    None
}

/// A multipart object's checksum of checksums: base64 then `-` and the number of parts (read
/// from the end as the SDK reads it: digits, one `-`, then anything but another `-`).
fn is_part_level(value: &str) -> bool {
    let Some((checksum, parts)) = value.rsplit_once('-') else {
        return false;
    };
    !parts.is_empty()
        && parts.bytes().all(|b| b.is_ascii_digit())
        && !checksum
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sigv4_authorization_gives_its_scope_and_other_schemes_are_refused() {
        let header = "AWS4-HMAC-SHA256 Credential=AKID/20261206/eu-west-1/s3/aws4_request, \
                      SignedHeaders=host;x-amz-checksum-mode;x-amz-date, Signature=abc";
        let (region, service, signed) = sigv4_scope(header).unwrap();
        assert_eq!((region.as_str(), service.as_str()), ("eu-west-1", "s3"));
        assert_eq!(signed, ["host", "x-amz-checksum-mode", "x-amz-date"]);
        assert!(
            sigv4_scope("AWS4-ECDSA-P256-SHA256 Credential=AKID/20261206/s3/aws4_request").is_err()
        );
        assert!(sigv4_scope("AWS4-HMAC-SHA256 Credential=AKID/x/y, SignedHeaders=host").is_err());
    }

    #[test]
    fn keys_are_encoded_as_the_sdk_encodes_a_greedy_label() {
        assert_eq!(
            encode_key("AWSLogs/1/CloudTrail/us-east-1/2026/01/01/a_b.json.gz"),
            "AWSLogs/1/CloudTrail/us-east-1/2026/01/01/a_b.json.gz"
        );
        assert_eq!(encode_key("a b/c+d?"), "a%20b/c%2Bd%3F");
    }

    #[test]
    fn only_a_multipart_checksum_is_part_level() {
        assert!(is_part_level("C9A5A6878D97B48CC965C1E41859F034-14"));
        assert!(is_part_level("abcd==-10000"));
        assert!(!is_part_level("abcd=="));
        assert!(!is_part_level("abcd==-"));
        assert!(is_part_level("a-b-14"));
        assert!(!is_part_level("C9A5A6878D97B48CC965C1E41859F03-4-14"));
        assert!(!is_part_level("abcd==--11"));
        assert!(!is_part_level("a4-"));
        assert!(!is_part_level("abcd==-AA"));
    }

    #[test]
    fn digest_files_are_never_read_through_a_lane() {
        assert!(!eligible(
            "AWSLogs/1/CloudTrail-Digest/us-east-1/2026/01/01/1_CloudTrail-Digest_us-east-1_t_us-east-1_20260101T000000Z.json.gz"
        ));
        assert!(eligible(
            "AWSLogs/1/CloudTrail/us-east-1/2026/01/01/1_CloudTrail_us-east-1_20260101T0000Z_abc.json.gz"
        ));
    }
}
