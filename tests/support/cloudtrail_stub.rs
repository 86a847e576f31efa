//! A CloudTrail API answerer on 127.0.0.1 for the calls no local implementation makes
//! realistically: `ListPublicKeys` (moto has no CloudTrail signing keys), `DescribeTrails`
//! for the trails a test describes, and `LookupEvents` (the event history) from events the test
//! writes, as CloudTrail answers it: one lookup attribute, newest first, 50 events a page with
//! `NextToken`, the history of the signed region only, and an optional calls-per-second limit
//! answered with `ThrottlingException`.
//!
//! It speaks AWS JSON 1.1 (`X-Amz-Target: com.amazonaws.cloudtrail.v20131101.
//! CloudTrail_20131101.<Operation>`), as `aws-sdk-cloudtrail` and botocore do. Signatures are not
//! checked; the region is read from the SigV4 credential scope, because public keys are per
//! region in CloudTrail. Any other operation answers HTTP 400 `UnknownOperationException`.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt as _, Full};
use serde_json::{Value, json};

use crate::local_http::LocalHttpServer;

/// The `X-Amz-Target` prefix of CloudTrail operations as botocore sends it; `aws-sdk-cloudtrail`
/// sends only the part from `CloudTrail_20131101.` on. Both are accepted.
pub const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";

/// The operation named by an `X-Amz-Target` header, if it is a CloudTrail one.
fn cloudtrail_operation(target: &str) -> Option<&str> {
    let (service, operation) = target.rsplit_once('.')?;
    let service_ok =
        service == "CloudTrail_20131101" || Some(service) == TARGET_PREFIX.strip_suffix('.');
    (service_ok && !operation.is_empty()).then_some(operation)
}

/// A CloudTrail public key as `ListPublicKeys` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StubKey {
    /// The key, DER (CloudTrail's are PKCS#1 `RSAPublicKey`); sent base64-encoded.
    pub value_der: Vec<u8>,
    /// Hex fingerprint, as digest files name the key.
    pub fingerprint: String,
    /// Start of validity.
    pub valid_from: DateTime<Utc>,
    /// End of validity.
    pub valid_to: DateTime<Utc>,
}

impl StubKey {
    /// Reads the keys of a file in the shape `aws cloudtrail list-public-keys` prints:
    /// `{"PublicKeyList":[{"Value": base64, "ValidityStartTime", "ValidityEndTime",
    /// "Fingerprint"}]}`, times as RFC 3339 text or epoch seconds.
    ///
    /// # Errors
    /// When the text is not in that shape; the message says where.
    pub fn from_list_public_keys_json(bytes: &[u8]) -> Result<Vec<StubKey>, String> {
        let file: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let list = file
            .get("PublicKeyList")
            .and_then(Value::as_array)
            .ok_or("no PublicKeyList array")?;
        list.iter()
            .enumerate()
            .map(|(i, entry)| {
                let text = |field: &str| {
                    entry
                        .get(field)
                        .and_then(Value::as_str)
                        .ok_or_else(|| format!("PublicKeyList[{i}]: no {field} text"))
                };
                let time = |field: &str| {
                    entry
                        .get(field)
                        .and_then(json_time)
                        .ok_or_else(|| format!("PublicKeyList[{i}]: no {field} time"))
                };
                let value_der = base64::engine::general_purpose::STANDARD
                    .decode(text("Value")?.trim())
                    .map_err(|e| format!("PublicKeyList[{i}]: Value is not base64: {e}"))?;
                Ok(StubKey {
                    value_der,
                    fingerprint: text("Fingerprint")?.to_owned(),
                    valid_from: time("ValidityStartTime")?,
                    valid_to: time("ValidityEndTime")?,
                })
            })
            .collect()
    }

    fn overlaps(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.valid_from <= end && self.valid_to >= start
    }

    fn to_json(&self) -> Value {
        json!({
            "Value": base64::engine::general_purpose::STANDARD.encode(&self.value_der),
            "ValidityStartTime": self.valid_from.timestamp(),
            "ValidityEndTime": self.valid_to.timestamp(),
            "Fingerprint": self.fingerprint,
        })
    }
}

/// A time as the AWS CLI or a JSON 1.1 body carries it: RFC 3339 text, or epoch seconds as a
/// number or text.
fn json_time(value: &Value) -> Option<DateTime<Utc>> {
    let from_epoch = |secs: f64| {
        if !secs.is_finite() {
            return None;
        }
        // Rounded to milliseconds: an f64 of epoch seconds carries no more.
        DateTime::from_timestamp_millis((secs * 1000.0).round() as i64)
    };
    match value {
        Value::Number(n) => n.as_f64().and_then(from_epoch),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .ok()
            .or_else(|| s.parse::<f64>().ok().and_then(from_epoch)),
        _ => None,
    }
}

/// A trail as `DescribeTrails` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StubTrail {
    /// Trail name.
    pub name: String,
    /// `arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME`.
    pub arn: String,
    /// Bucket the trail delivers to.
    pub bucket: String,
    /// Key prefix in the bucket, if any.
    pub prefix: Option<String>,
    /// Home region.
    pub home_region: String,
    /// Multi-region trail.
    pub multi_region: bool,
    /// Organization trail.
    pub organization: bool,
    /// Log-file validation on.
    pub log_file_validation: bool,
    /// KMS key for SSE-KMS, if any.
    pub kms_key_id: Option<String>,
    /// Source regions the trail delivers chains for (answered by Account `ListRegions` as the
    /// account's enabled regions).
    pub regions: Vec<String>,
}

impl StubTrail {
    /// A trail delivering to `bucket` without a prefix, with log-file validation on, single
    /// region, not an organization trail; name and home region come from `arn` (when it is
    /// not a trail ARN, `arn` is taken as the name and the home region is us-east-1).
    pub fn new(arn: &str, bucket: &str) -> Self {
        let (region, name) = parse_trail_arn(arn).unwrap_or(("us-east-1", arn));
        StubTrail {
            name: name.to_owned(),
            arn: arn.to_owned(),
            bucket: bucket.to_owned(),
            prefix: None,
            home_region: region.to_owned(),
            multi_region: false,
            organization: false,
            log_file_validation: true,
            kms_key_id: None,
            regions: vec![region.to_owned()],
        }
    }

    /// Sets the key prefix (an empty one means none).
    #[must_use]
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = Some(prefix.to_owned()).filter(|p| !p.is_empty());
        self
    }

    /// The trail of a `ctverify-fixtures` `manifest.json` (`trailArn`, `bucket`, `prefix`,
    /// `homeRegion`, `orgId`, `regions`).
    ///
    /// # Errors
    /// When the text is not such a manifest.
    pub fn from_manifest_json(bytes: &[u8]) -> Result<Self, String> {
        let manifest: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let text = |field: &str| manifest.get(field).and_then(Value::as_str);
        let arn = text("trailArn").ok_or("manifest has no trailArn")?;
        let bucket = text("bucket").ok_or("manifest has no bucket")?;
        let mut trail = StubTrail::new(arn, bucket).with_prefix(text("prefix").unwrap_or(""));
        if let Some(home) = text("homeRegion") {
            home.clone_into(&mut trail.home_region);
        }
        trail.organization = text("orgId").is_some();
        trail.multi_region = manifest
            .get("regions")
            .and_then(Value::as_array)
            .is_some_and(|r| r.len() > 1);
        if let Some(regions) = manifest.get("regions").and_then(Value::as_array) {
            trail.regions = regions
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
        }
        Ok(trail)
    }

    fn to_json(&self) -> Value {
        let mut trail = json!({
            "Name": self.name,
            "S3BucketName": self.bucket,
            "IncludeGlobalServiceEvents": true,
            "IsMultiRegionTrail": self.multi_region,
            "HomeRegion": self.home_region,
            "TrailARN": self.arn,
            "LogFileValidationEnabled": self.log_file_validation,
            "HasCustomEventSelectors": false,
            "HasInsightSelectors": false,
            "IsOrganizationTrail": self.organization,
        });
        if let Some(prefix) = &self.prefix {
            trail["S3KeyPrefix"] = json!(prefix);
        }
        if let Some(kms) = &self.kms_key_id {
            trail["KmsKeyId"] = json!(kms);
        }
        trail
    }
}

/// `(region, name)` of `arn:PARTITION:cloudtrail:REGION:ACCOUNT:trail/NAME`.
fn parse_trail_arn(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (_arn, _partition, service, region, _account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let name = resource.strip_prefix("trail/")?;
    (service == "cloudtrail").then_some((region, name))
}

/// What the stub answers.
#[derive(Debug, Clone)]
pub struct StubConfig {
    /// Keys for every region without an entry in `keys_by_region`.
    pub keys: Vec<StubKey>,
    /// Keys of particular regions (the region of the request's SigV4 credential scope).
    pub keys_by_region: HashMap<String, Vec<StubKey>>,
    /// Trails `DescribeTrails` knows.
    pub trails: Vec<StubTrail>,
    /// Keys per `ListPublicKeys` page; default 1, so that every multi-key answer is paginated.
    pub page_size: usize,
    /// Port on 127.0.0.1; 0 (the default) takes a free one.
    pub port: u16,
    /// The event history `LookupEvents` answers from.
    pub events: Vec<StubEvent>,
    /// LookupEvents calls allowed per second (CloudTrail allows 2), as a bucket of that many
    /// calls refilled continuously; beyond it `ThrottlingException`. `Some(0.0)`: every call is
    /// throttled. `None`: no limit.
    pub lookup_rate: Option<f64>,
    /// Every `ListPublicKeys` answers `ThrottlingException`, past any number of retries.
    pub throttle_list_public_keys: bool,
}

/// One management event of the stub's history.
#[derive(Debug, Clone, PartialEq)]
pub struct StubEvent {
    /// `EventId`.
    pub event_id: String,
    /// `EventName`.
    pub event_name: String,
    /// `EventTime`.
    pub time: DateTime<Utc>,
    /// The region whose history holds it (the trail's home region).
    pub region: String,
    /// `Username`.
    pub username: String,
    /// The record's `requestParameters`.
    pub request_parameters: Value,
    /// The record's `errorCode`, for a call that failed.
    pub error_code: Option<String>,
}

impl StubEvent {
    /// `name` (StartLogging, StopLogging, DeleteTrail, ...) called on the trail `arn` at `time`,
    /// by `admin`, naming the trail by its ARN.
    pub fn on_trail(name: &str, arn: &str, time: DateTime<Utc>) -> Self {
        let region = parse_trail_arn(arn).map_or("us-east-1", |(r, _)| r);
        StubEvent {
            event_id: format!("{:08x}-{}", time.timestamp(), name.to_ascii_lowercase()),
            event_name: name.into(),
            time,
            region: region.into(),
            username: "admin".into(),
            request_parameters: json!({ "name": arn }),
            error_code: None,
        }
    }

    /// Events from a JSON array of `{"eventName", "eventTime" (RFC 3339), "trail" (ARN),
    /// "validation" (UpdateTrail's `enableLogFileValidation`, optional)}`, as benchmarks and
    /// the test S3 server's `--stub-events` give them.
    ///
    /// # Errors
    /// When the text is not in that shape; the message says where.
    pub fn from_json_list(bytes: &[u8]) -> Result<Vec<StubEvent>, String> {
        let list: Vec<Value> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        list.iter()
            .enumerate()
            .map(|(i, e)| {
                let text = |field: &str| {
                    e.get(field)
                        .and_then(Value::as_str)
                        .ok_or_else(|| format!("events[{i}]: no {field}"))
                };
                let time = e
                    .get("eventTime")
                    .and_then(json_time)
                    .ok_or_else(|| format!("events[{i}]: no eventTime"))?;
                let (name, trail) = (text("eventName")?, text("trail")?);
                Ok(match e.get("validation").and_then(Value::as_bool) {
                    Some(on) => StubEvent::validation(on, trail, time),
                    None => StubEvent::on_trail(name, trail, time),
                })
            })
            .collect()
    }

    /// `name` (PutBucketLifecycle, ...) called on `bucket` at `time` by `admin`, as S3 records
    /// it in the history of the bucket owner's region.
    pub fn on_bucket(name: &str, bucket: &str, region: &str, time: DateTime<Utc>) -> Self {
        StubEvent {
            event_id: format!("{:08x}-{}", time.timestamp(), name.to_ascii_lowercase()),
            event_name: name.into(),
            time,
            region: region.into(),
            username: "admin".into(),
            request_parameters: json!({ "bucketName": bucket }),
            error_code: None,
        }
    }

    /// UpdateTrail turning log-file validation on or off.
    pub fn validation(on: bool, arn: &str, time: DateTime<Utc>) -> Self {
        let mut event = Self::on_trail("UpdateTrail", arn, time);
        event.request_parameters = json!({ "name": arn, "enableLogFileValidation": on });
        event
    }

    /// The service that records the call.
    fn source(&self) -> &'static str {
        if self.event_name.starts_with("PutBucket") || self.event_name.starts_with("DeleteBucket") {
            "s3.amazonaws.com"
        } else {
            "cloudtrail.amazonaws.com"
        }
    }

    fn to_json(&self) -> Value {
        let record = json!({
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "IAMUser",
                "arn": format!("arn:aws:iam::111122223333:user/{}", self.username),
                "userName": self.username,
            },
            "eventTime": self.time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "eventSource": self.source(),
            "eventName": self.event_name,
            "awsRegion": self.region,
            "requestParameters": self.request_parameters,
            "responseElements": null,
            "errorCode": self.error_code,
            "eventID": self.event_id,
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "eventCategory": "Management",
        });
        json!({
            "EventId": self.event_id,
            "EventName": self.event_name,
            "ReadOnly": "false",
            "EventTime": self.time.timestamp() as f64,
            "EventSource": self.source(),
            "Username": self.username,
            "Resources": [],
            "CloudTrailEvent": record.to_string(),
        })
    }
}

impl Default for StubConfig {
    fn default() -> Self {
        StubConfig {
            keys: Vec::new(),
            keys_by_region: HashMap::new(),
            trails: Vec::new(),
            page_size: 1,
            port: 0,
            events: Vec::new(),
            lookup_rate: None,
            throttle_list_public_keys: false,
        }
    }
}

impl StubConfig {
    fn keys_for(&self, region: Option<&str>) -> &[StubKey] {
        region
            .and_then(|r| self.keys_by_region.get(r))
            .unwrap_or(&self.keys)
    }
}

/// One request the stub answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StubCall {
    /// The operation (`ListPublicKeys`, ...), or the raw `X-Amz-Target` when it is not a
    /// CloudTrail one.
    pub operation: String,
    /// Region of the SigV4 credential scope, when the request was signed.
    pub region: Option<String>,
}

#[derive(Debug)]
struct StubState {
    config: Mutex<StubConfig>,
    calls: Mutex<Vec<StubCall>>,
    /// LookupEvents' token bucket: calls left, and when it was last refilled.
    lookup_tokens: Mutex<Option<(f64, std::time::Instant)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked holding the lock left plain data; keep answering.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running CloudTrail stub; stops when dropped.
#[derive(Debug)]
pub struct CloudTrailStub {
    state: Arc<StubState>,
    http: LocalHttpServer,
}

impl CloudTrailStub {
    /// Starts the stub on 127.0.0.1 answering from `config`.
    ///
    /// # Panics
    /// When the port cannot be bound (see [`CloudTrailStub::try_start`]).
    pub fn start(config: StubConfig) -> Self {
        Self::try_start(config).unwrap_or_else(|e| panic!("cannot start the CloudTrail stub: {e}"))
    }

    /// Starts the stub on 127.0.0.1 answering from `config`.
    ///
    /// # Errors
    /// When the port cannot be bound or the server thread cannot be created.
    pub fn try_start(config: StubConfig) -> io::Result<Self> {
        let port = config.port;
        let state = Arc::new(StubState {
            config: Mutex::new(config),
            calls: Mutex::new(Vec::new()),
            lookup_tokens: Mutex::new(None),
        });
        let served = Arc::clone(&state);
        let http = LocalHttpServer::start("cloudtrail-stub", port, move |request| {
            let state = Arc::clone(&served);
            async move { handle(&state, request).await }
        })?;
        Ok(CloudTrailStub { state, http })
    }

    /// `http://127.0.0.1:PORT`, for `endpoint_url`.
    pub fn endpoint(&self) -> String {
        self.http.endpoint()
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.http.addr().port()
    }

    /// An `aws-sdk-cloudtrail` client for this stub in `region`, credentials `test`/`test`.
    pub fn client(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        cloudtrail_client(&self.endpoint(), region)
    }

    /// Changes what the stub answers, from the next request on.
    pub fn update<R>(&self, change: impl FnOnce(&mut StubConfig) -> R) -> R {
        change(&mut lock(&self.state.config))
    }

    /// Every request answered so far, in order.
    pub fn calls(&self) -> Vec<StubCall> {
        lock(&self.state.calls).clone()
    }

    /// How many requests of `operation` were answered.
    pub fn count(&self, operation: &str) -> usize {
        lock(&self.state.calls)
            .iter()
            .filter(|c| c.operation == operation)
            .count()
    }

    /// Stops the stub and waits for its thread.
    pub fn shutdown(self) {
        self.http.shutdown();
    }
}

/// An `aws-sdk-cloudtrail` client for `endpoint` in `region`, static credentials `test`/`test`.
pub fn cloudtrail_client(endpoint: &str, region: &str) -> aws_sdk_cloudtrail::Client {
    let config = aws_sdk_cloudtrail::config::Builder::new()
        .endpoint_url(endpoint)
        .region(aws_sdk_cloudtrail::config::Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_cloudtrail::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .behavior_version(aws_sdk_cloudtrail::config::BehaviorVersion::latest())
        .build();
    aws_sdk_cloudtrail::Client::from_conf(config)
}

/// The region of a SigV4 `Authorization` header:
/// `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...`.
fn signing_region(headers: &http::HeaderMap) -> Option<String> {
    let auth = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let scope = auth.split("Credential=").nth(1)?;
    let scope = scope.split([',', ' ']).next()?;
    scope.split('/').nth(2).map(str::to_owned)
}

type Reply = http::Response<Full<Bytes>>;

fn reply(status: http::StatusCode, body: &Value) -> Reply {
    let mut response = http::Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    headers.insert(
        "x-amzn-requestid",
        http::HeaderValue::from_static("00000000-0000-0000-0000-000000000000"),
    );
    response
}

fn error(error_type: &str, message: &str) -> Reply {
    reply(
        http::StatusCode::BAD_REQUEST,
        &json!({"__type": error_type, "message": message}),
    )
}

async fn handle(state: &StubState, request: http::Request<hyper::body::Incoming>) -> Reply {
    let region = signing_region(request.headers());
    // Account `ListRegions` (REST JSON): the account's enabled regions are those the stub's
    // trails deliver chains for.
    if request.uri().path() == "/listRegions" {
        lock(&state.calls).push(StubCall {
            operation: "ListRegions".into(),
            region: region.clone(),
        });
        let config = lock(&state.config).clone();
        let mut regions: Vec<String> = config
            .trails
            .iter()
            .flat_map(|t| t.regions.iter().chain(std::iter::once(&t.home_region)))
            .cloned()
            .collect();
        regions.sort();
        regions.dedup();
        let regions: Vec<Value> = regions
            .iter()
            .map(|r| json!({"RegionName": r, "RegionOptStatus": "ENABLED_BY_DEFAULT"}))
            .collect();
        return reply(http::StatusCode::OK, &json!({ "Regions": regions }));
    }
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let cloudtrail = cloudtrail_operation(&target).map(str::to_owned);
    let operation = cloudtrail.clone().unwrap_or_else(|| target.clone());
    lock(&state.calls).push(StubCall {
        operation: operation.clone(),
        region: region.clone(),
    });
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            return error(
                "InvalidParameterException",
                &format!("unreadable body: {e}"),
            );
        }
    };
    // STS GetCallerIdentity (query protocol: a form body, an XML answer), which every run
    // against S3 makes for its report's provenance.
    if cloudtrail.is_none() && body.windows(25).any(|w| w == b"Action=GetCallerIdentity&") {
        return caller_identity();
    }
    // An empty body is an empty input, as the SDK sends `{}` anyway.
    let input: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(input) => input,
            Err(e) => {
                return error(
                    "SerializationException",
                    &format!("the body is not JSON: {e}"),
                );
            }
        }
    };
    if cloudtrail.is_none() {
        return error(
            "UnknownOperationException",
            &format!("not a CloudTrail operation: X-Amz-Target {target:?}"),
        );
    }
    let config = lock(&state.config).clone();
    match operation.as_str() {
        "ListPublicKeys" if config.throttle_list_public_keys => error(
            "ThrottlingException",
            "Rate exceeded (injected by the test)",
        ),
        "ListPublicKeys" => list_public_keys(&config, region.as_deref(), &input),
        "DescribeTrails" => describe_trails(&config, region.as_deref(), &input),
        "LookupEvents" => {
            if let Some(rate) = config.lookup_rate
                && !take_lookup_token(state, rate)
            {
                return error("ThrottlingException", "Rate exceeded");
            }
            lookup_events(&config, region.as_deref(), &input)
        }
        other => error(
            "UnknownOperationException",
            &format!("the CloudTrail stub does not implement {other}"),
        ),
    }
}

/// The caller the stub reports: a test user of the trail's usual account.
pub const STUB_CALLER_ARN: &str = "arn:aws:iam::111122223333:user/ctverify-test";

fn caller_identity() -> Reply {
    let body = format!(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
         <GetCallerIdentityResult><Arn>{STUB_CALLER_ARN}</Arn><UserId>AIDATESTUSER</UserId>\
         <Account>111122223333</Account></GetCallerIdentityResult>\
         <ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId>\
         </ResponseMetadata></GetCallerIdentityResponse>"
    );
    let mut response = http::Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/xml"),
    );
    response
}

const TOKEN_TAG: &str = "ctverify-stub-keys:";

fn list_public_keys(config: &StubConfig, region: Option<&str>, input: &Value) -> Reply {
    let now = Utc::now();
    let time = |field: &str| match input.get(field) {
        None | Some(Value::Null) => Ok(now),
        Some(value) => json_time(value).ok_or_else(|| format!("{field} is not a time: {value}")),
    };
    // CloudTrail: both default to the current time.
    let (start, end) = match (time("StartTime"), time("EndTime")) {
        (Ok(start), Ok(end)) => (start, end),
        (Err(why), _) | (_, Err(why)) => return error("InvalidTimeRangeException", &why),
    };
    if start > end {
        return error(
            "InvalidTimeRangeException",
            "StartTime must be before EndTime",
        );
    }
    let Some(offset) = page_offset(input, TOKEN_TAG) else {
        return error("InvalidTokenException", "Invalid NextToken");
    };
    let matching: Vec<&StubKey> = config
        .keys_for(region)
        .iter()
        .filter(|k| k.overlaps(start, end))
        .collect();
    let answer = page_of(
        &matching,
        offset,
        config.page_size.max(1),
        "PublicKeyList",
        TOKEN_TAG,
        |k| k.to_json(),
    );
    reply(http::StatusCode::OK, &answer)
}

/// Where the page a request's `NextToken` asks for starts (0 without one), `None` for a token
/// this stub did not give (`tag` tells the operations' tokens apart).
fn page_offset(input: &Value, tag: &str) -> Option<usize> {
    match input.get("NextToken").and_then(Value::as_str) {
        None | Some("") => Some(0),
        Some(token) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(token)
                .ok()?;
            String::from_utf8(bytes)
                .ok()?
                .strip_prefix(tag)?
                .parse()
                .ok()
        }
    }
}

/// `{FIELD: [one page of items], "NextToken": ...while more remain}`, as CloudTrail pages.
fn page_of<T>(
    items: &[T],
    offset: usize,
    page_size: usize,
    field: &str,
    tag: &str,
    to_json: impl Fn(&T) -> Value,
) -> Value {
    let page: Vec<Value> = items
        .iter()
        .skip(offset)
        .take(page_size)
        .map(to_json)
        .collect();
    let mut answer = json!({ field: page });
    let next = offset.saturating_add(page_size);
    if next < items.len() {
        answer["NextToken"] =
            json!(base64::engine::general_purpose::STANDARD.encode(format!("{tag}{next}")));
    }
    answer
}

fn describe_trails(config: &StubConfig, region: Option<&str>, input: &Value) -> Reply {
    let wanted: Vec<&str> = input
        .get("trailNameList")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    // CloudTrail's default is to include shadow trails (a multi-region trail seen from a
    // region other than its home).
    let include_shadows = input
        .get("includeShadowTrails")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let trails: Vec<Value> = config
        .trails
        .iter()
        .filter(|t| {
            // A trail named by ARN is found from any region; by name or by listing, only
            // from its home region, or as a shadow of a multi-region trail.
            if wanted.contains(&t.arn.as_str()) {
                return true;
            }
            if !wanted.is_empty() && !wanted.contains(&t.name.as_str()) {
                return false;
            }
            let home = region.is_none_or(|r| r == t.home_region);
            home || (include_shadows && t.multi_region)
        })
        .map(StubTrail::to_json)
        .collect();
    reply(http::StatusCode::OK, &json!({ "trailList": trails }))
}

/// Takes one call from LookupEvents' bucket of `rate` calls, refilled at `rate` a second.
fn take_lookup_token(state: &StubState, rate: f64) -> bool {
    let now = std::time::Instant::now();
    let capacity = rate.max(1.0);
    let mut bucket = lock(&state.lookup_tokens);
    let (tokens, last) = bucket.get_or_insert((capacity, now));
    *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(capacity);
    *last = now;
    if rate > 0.0 && *tokens >= 1.0 {
        *tokens -= 1.0;
        true
    } else {
        false
    }
}

const EVENTS_TOKEN_TAG: &str = "ctverify-stub-events:";

fn lookup_events(config: &StubConfig, region: Option<&str>, input: &Value) -> Reply {
    let attributes = input
        .get("LookupAttributes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if attributes.len() > 1 {
        return error(
            "InvalidLookupAttributesException",
            "You cannot specify more than one lookup attribute",
        );
    }
    let attribute = attributes.first().map(|a| {
        (
            a.get("AttributeKey").and_then(Value::as_str).unwrap_or(""),
            a.get("AttributeValue")
                .and_then(Value::as_str)
                .unwrap_or(""),
        )
    });
    if let Some((key, _)) = attribute
        && ![
            "EventId",
            "EventName",
            "Username",
            "ReadOnly",
            "EventSource",
        ]
        .contains(&key)
    {
        return error(
            "InvalidLookupAttributesException",
            &format!("unsupported lookup attribute {key}"),
        );
    }
    let time = |field: &str| input.get(field).and_then(json_time);
    let (start, end) = (time("StartTime"), time("EndTime"));
    if let (Some(start), Some(end)) = (start, end)
        && start > end
    {
        return error(
            "InvalidTimeRangeException",
            "StartTime must be before EndTime",
        );
    }
    let page_size = match input.get("MaxResults").and_then(Value::as_u64) {
        None => 50,
        Some(n @ 1..=50) => n as usize,
        Some(_) => return error("InvalidMaxResultsException", "MaxResults must be 1 to 50"),
    };
    let Some(offset) = page_offset(input, EVENTS_TOKEN_TAG) else {
        return error("InvalidNextTokenException", "Invalid NextToken");
    };
    let mut matching: Vec<&StubEvent> = config
        .events
        .iter()
        .filter(|e| region.is_none_or(|r| r == e.region))
        .filter(|e| start.is_none_or(|s| e.time >= s) && end.is_none_or(|t| e.time <= t))
        .filter(|e| match attribute {
            None => true,
            Some(("EventId", v)) => e.event_id == v,
            Some(("EventName", v)) => e.event_name == v,
            Some(("Username", v)) => e.username == v,
            Some(("ReadOnly", v)) => v == "false",
            Some(("EventSource", v)) => v == e.source(),
            Some(_) => false,
        })
        .collect();
    // Newest first, as CloudTrail returns them.
    matching.sort_by_key(|e| std::cmp::Reverse(e.time));
    let answer = page_of(
        &matching,
        offset,
        page_size,
        "Events",
        EVENTS_TOKEN_TAG,
        |e| e.to_json(),
    );
    reply(http::StatusCode::OK, &answer)
}

/// The calls answered so far, grouped by operation (for reports).
pub fn count_by_operation(calls: &[StubCall]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for call in calls {
        *counts.entry(call.operation.clone()).or_default() += 1;
    }
    counts
}
