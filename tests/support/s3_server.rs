//! An in-process S3 server for tests: the `s3s` crate's protocol layer (SigV4, XML, routing)
//! over an in-memory store, served over real HTTP on 127.0.0.1.
//!
//! Our own store rather than `s3s-fs`: that one maps keys onto file names and cannot hold the
//! 200+ character keys CloudTrail writes. Requests must be signed (SigV4) with access key
//! [`ACCESS_KEY`] and secret [`SECRET_KEY`].
//!
//! Implemented: CreateBucket (its LocationConstraint is remembered), HeadBucket, ListBuckets,
//! GetBucketLocation, PutObject, GetObject (with `Range`), HeadObject, DeleteObject,
//! ListObjectsV2 and ListObjects (v1, which the AWS CLI's paginator uses), both with Prefix,
//! Get/PutBucketLifecycleConfiguration (stored as given, `NoSuchLifecycleConfiguration` when
//! there is none),
//! Delimiter, MaxKeys (default and cap 1000), StartAfter/ContinuationToken or Marker, and
//! `EncodingType=url` (botocore asks for it). Anything else answers `501 NotImplemented`.
//!
//! Faults for tests: a delay before every request, `503 SlowDown` for the first N GETs of a key,
//! `403 AccessDenied` for a key, `400 InvalidRequest` for a key marked as stored with SSE-C and
//! read without its customer key (as S3 answers), `403 InvalidObjectState` for a key marked as
//! archived (HEAD then says its storage class), `403 AccessDenied` naming `kms:Decrypt` and the
//! key for a key marked as encrypted with a KMS key the caller may not use (HEAD then says the
//! key, as S3 does), `403 AccessDenied` for GetBucketLifecycleConfiguration, and request counts. `GET /_ctverify/requests` (not S3; bucket
//! names cannot start with `_`) answers the counts as JSON, for scripts driving the
//! `ctverify-s3-server` binary.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::{Bound, Deref};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, SystemTime};
use std::{fs, io};

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures::TryStreamExt as _;
use md5::{Digest as _, Md5};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::SimpleAuth;
use s3s::dto::{self, ETag, StreamingBlob, Timestamp};
use s3s::path::S3Path;
use s3s::service::S3ServiceBuilder;
use s3s::{S3, S3Error, S3Request, S3Response, S3Result, s3_error};

use crate::delay_line::DelayLine;
use crate::local_http::LocalHttpServer;

/// The access key the server accepts.
pub const ACCESS_KEY: &str = "test";
/// The secret key the server accepts.
pub const SECRET_KEY: &str = "test";
/// S3's page size when a list request names none, and the most it returns in one page.
pub const MAX_KEYS: usize = 1000;
/// Suffix of a sidecar file that holds an object's user metadata in a local tree (see
/// [`S3Handle::load_dir`]).
pub const METADATA_SIDECAR_SUFFIX: &str = ".metadata.json";
/// Path of the request counts as JSON (see the module documentation).
pub const REQUESTS_PATH: &str = "/_ctverify/requests";

/// How to start an [`S3Server`]: port and faults. Faults can also be changed while it runs,
/// through the [`S3Handle`] the server dereferences to.
#[derive(Debug, Clone, Default)]
pub struct S3ServerOptions {
    /// Port on 127.0.0.1; 0 (the default) takes a free one.
    pub port: u16,
    /// Added before every request is handled, standing in for S3's round trip; requests still
    /// run concurrently.
    pub delay: Duration,
    /// Key → how many of its next GETs answer `503 SlowDown`.
    pub throttled_gets: HashMap<String, u32>,
    /// Keys whose GET and HEAD answer `403 AccessDenied`.
    pub denied: HashSet<String>,
    /// Keys stored with SSE-C: their GET and HEAD without the customer-key headers answer
    /// `400 InvalidRequest`, as S3 does (see [`SSE_C_MESSAGE`]).
    pub customer_encrypted: HashSet<String>,
}

/// S3's message when an object stored with SSE-C is read without the customer key.
pub const SSE_C_MESSAGE: &str = "The object was stored using a form of Server Side Encryption. \
The correct parameters must be provided to retrieve the object.";

impl S3ServerOptions {
    /// Default options: free port, no delay, no faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves on `port` (0: a free one).
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Delays every request by `delay`.
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Answers the first `n` GETs of `key` (in any bucket) with `503 SlowDown`.
    #[must_use]
    pub fn throttle_first_n_gets_of(mut self, key: impl Into<String>, n: u32) -> Self {
        self.throttled_gets.insert(key.into(), n);
        self
    }

    /// Answers every GET and HEAD of `key` (in any bucket) with `403 AccessDenied`.
    #[must_use]
    pub fn deny(mut self, key: impl Into<String>) -> Self {
        self.denied.insert(key.into());
        self
    }

    /// Treats `key` (in any bucket) as stored with SSE-C (see
    /// [`S3Handle::encrypt_with_customer_key`]).
    #[must_use]
    pub fn encrypt_with_customer_key(mut self, key: impl Into<String>) -> Self {
        self.customer_encrypted.insert(key.into());
        self
    }
}

/// How a successful GET's body is broken on its way to the client, as a faulty network or a
/// proxy breaks it. The object as stored is not changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFault {
    /// The first `after` bytes are sent under the full `Content-Length`, then the connection is
    /// dropped: the client sees a body that broke off (as after a reset).
    Reset {
        /// Bytes sent before the connection is dropped.
        after: usize,
    },
    /// Only the first `len` bytes are sent, under a `Content-Length` of `len`: as far as HTTP
    /// can tell the response is whole (the object has no stored checksum to say otherwise).
    Cut {
        /// Bytes sent.
        len: usize,
    },
    /// As [`BodyFault::Cut`], one byte shorter on each faulted GET (`len`, `len - 1`, ...): a
    /// transfer that keeps failing, never at the same place.
    CutShorterEachTime {
        /// Bytes sent the first time.
        len: usize,
    },
    /// The whole body is sent under a `Content-Length` `extra` bytes larger, then the
    /// connection is dropped.
    LongLength {
        /// Bytes promised and never sent.
        extra: usize,
    },
    /// The whole body is sent with the byte at `at` (modulo its length) flipped, under the
    /// right `Content-Length` and the stored checksum of the bytes as stored: only that
    /// checksum tells the transfer was corrupted.
    FlipByte {
        /// Offset of the byte flipped.
        at: usize,
    },
}

/// An object as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// The bytes.
    pub body: Bytes,
    /// User metadata without the `x-amz-meta-` prefix; names lower-case, as S3 keeps them.
    pub metadata: HashMap<String, String>,
    /// `Content-Type`, when the writer gave one.
    pub content_type: Option<String>,
    /// `Content-Encoding`, when the writer gave one.
    pub content_encoding: Option<String>,
    /// When it was written.
    pub last_modified: SystemTime,
    /// Hex MD5 of the body, which is what S3's ETag is for a single-part upload.
    pub etag: String,
}

impl StoredObject {
    /// An object holding `body` with user `metadata` (names are lower-cased), written now.
    pub fn new<K, V>(body: impl Into<Bytes>, metadata: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let body = body.into();
        StoredObject {
            etag: hex::encode(Md5::digest(&body)),
            metadata: metadata
                .into_iter()
                .map(|(k, v)| (k.into().to_ascii_lowercase(), v.into()))
                .collect(),
            body,
            content_type: None,
            content_encoding: None,
            last_modified: SystemTime::now(),
        }
    }
}

/// Requests seen since the start or the last [`S3Handle::reset_requests`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// Every HTTP request, signed or not, except those to the counts endpoint.
    pub total: u64,
    /// Authenticated requests by S3 operation name (`GetObject`, `ListObjectsV2`, ...).
    pub by_operation: BTreeMap<String, u64>,
    /// GETs answered `503 SlowDown` by fault injection.
    pub throttled: u64,
    /// GETs and HEADs answered `403 AccessDenied` by fault injection.
    pub denied: u64,
    /// GETs whose body was broken by fault injection ([`BodyFault`]).
    pub broken: u64,
    /// Requests about a bucket signed for another region than the bucket's, refused as S3
    /// refuses them.
    pub misdirected: u64,
    /// Nanoseconds the delayed requests really waited, in all: divided by the requests, the
    /// latency the server added, which benchmarks print beside the configured one.
    pub delay_nanos: u64,
    /// Requests without the SDK's `amz-sdk-invocation-id` header: GETs ctverify sent through a
    /// bucket's direct lane rather than through the SDK.
    pub direct: u64,
}

impl RequestCounts {
    /// Requests of operation `name` (for example `"GetObject"`).
    pub fn of(&self, name: &str) -> u64 {
        self.by_operation.get(name).copied().unwrap_or(0)
    }

    /// As JSON: `{"total":N,"throttled":N,"denied":N,"broken":N,"misdirected":N,
    /// "delayNanos":N,"direct":N,"byOperation":{"GetObject":N,...}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "total": self.total,
            "throttled": self.throttled,
            "denied": self.denied,
            "broken": self.broken,
            "misdirected": self.misdirected,
            "delayNanos": self.delay_nanos,
            "direct": self.direct,
            "byOperation": self.by_operation,
        })
    }
}

#[derive(Debug)]
struct BucketState {
    /// `None` for us-east-1, which S3 reports as an empty location constraint.
    location: Option<String>,
    created: SystemTime,
    objects: BTreeMap<String, StoredObject>,
    /// The lifecycle configuration's rules, when one was put.
    lifecycle: Option<Vec<dto::LifecycleRule>>,
}

impl BucketState {
    fn new(region: &str) -> Self {
        BucketState {
            location: location_constraint(region),
            created: SystemTime::now(),
            objects: BTreeMap::new(),
            lifecycle: None,
        }
    }
}

/// S3's message when a KMS key refuses the caller, as S3 relays it for `key_arn`.
pub fn kms_denied_message(key_arn: &str) -> String {
    format!(
        "User: arn:aws:iam::123456789012:user/test is not authorized to perform: kms:Decrypt on \
         resource: {key_arn} because no identity-based policy allows the kms:Decrypt action"
    )
}

/// How S3 stores a region as a location constraint: us-east-1 (or nothing) as none.
fn location_constraint(region: &str) -> Option<String> {
    match region {
        "" | "us-east-1" => None,
        other => Some(other.to_owned()),
    }
}

#[derive(Debug, Default)]
struct State {
    buckets: RwLock<BTreeMap<String, BucketState>>,
    delay_nanos: AtomicU64,
    /// Holds each delayed request to its deadline (tokio's timer would add up to a tick more).
    delay_line: DelayLine,
    throttled: Mutex<HashMap<String, u32>>,
    /// Key → how its next GETs' bodies break, and how many more will.
    body_faults: Mutex<HashMap<String, (BodyFault, u32, u32)>>,
    denied: RwLock<HashSet<String>>,
    customer_encrypted: RwLock<HashSet<String>>,
    /// Key → storage class of objects archived and not restored.
    archived: RwLock<HashMap<String, String>>,
    /// Key → ARN of the KMS key the caller may not decrypt with.
    kms_denied: RwLock<HashMap<String, String>>,
    /// GetBucketLifecycleConfiguration answers `403 AccessDenied`.
    lifecycle_denied: std::sync::atomic::AtomicBool,
    /// Requests without the SDK's invocation ID are refused (see
    /// [`S3Handle::refuse_requests_outside_the_sdk`]).
    outside_sdk_refused: std::sync::atomic::AtomicBool,
    /// GetBucketVersioning answers `Enabled` (the server keeps one version per key, so its
    /// ListObjectVersions shows every object as its only version, `null`).
    versioning_enabled: std::sync::atomic::AtomicBool,
    /// ListObjectVersions answers `403 AccessDenied`.
    list_versions_denied: std::sync::atomic::AtomicBool,
    counts: Mutex<RequestCounts>,
}

/// Locks ignoring poisoning: a test that panicked while holding a lock leaves plain data behind,
/// and the server must keep answering the other tests.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, BucketState>> {
        self.buckets.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, BucketState>> {
        self.buckets.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_denied(&self, key: &str) -> bool {
        self.denied
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(key)
    }

    fn archived_class(&self, key: &str) -> Option<String> {
        self.archived
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    fn kms_key(&self, key: &str) -> Option<String> {
        self.kms_denied
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    fn is_customer_encrypted(&self, key: &str) -> bool {
        self.customer_encrypted
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(key)
    }

    /// Consumes one broken body of `key`, if any are left: the fault and how many bodies of
    /// the key it broke before this one.
    fn take_body_fault(&self, key: &str) -> Option<(BodyFault, u32)> {
        let mut faults = lock(&self.body_faults);
        match faults.get_mut(key) {
            Some((fault, n, served)) if *n > 0 => {
                if *n != u32::MAX {
                    *n -= 1;
                }
                *served += 1;
                Some((*fault, *served - 1))
            }
            _ => None,
        }
    }

    /// Consumes one throttled GET of `key`, if any are left.
    fn take_throttle(&self, key: &str) -> bool {
        let mut throttled = lock(&self.throttled);
        match throttled.get_mut(key) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }
}

/// Shared access to a running server's store, faults and counts; cheap to clone, and usable
/// from any thread while the server runs. An [`S3Server`] dereferences to one.
#[derive(Debug, Clone)]
pub struct S3Handle {
    state: Arc<State>,
}

impl S3Handle {
    /// Creates bucket `name` in `region` (us-east-1 is stored as no location constraint, as S3
    /// does). An existing bucket keeps its objects and gets the new region.
    pub fn create_bucket(&self, name: &str, region: &str) {
        let mut buckets = self.state.write();
        match buckets.get_mut(name) {
            Some(bucket) => bucket.location = location_constraint(region),
            None => {
                buckets.insert(name.to_owned(), BucketState::new(region));
            }
        }
    }

    /// Bucket names, sorted.
    pub fn buckets(&self) -> Vec<String> {
        self.state.read().keys().cloned().collect()
    }

    /// Stores `body` at `bucket`/`key` with user `metadata` (names without `x-amz-meta-`),
    /// creating the bucket in us-east-1 when it does not exist.
    pub fn put<K, V>(
        &self,
        bucket: &str,
        key: &str,
        body: impl Into<Bytes>,
        metadata: impl IntoIterator<Item = (K, V)>,
    ) where
        K: Into<String>,
        V: Into<String>,
    {
        self.put_object(bucket, key, StoredObject::new(body, metadata));
    }

    /// Stores `object` as it is at `bucket`/`key`, creating the bucket in us-east-1 when it
    /// does not exist.
    pub fn put_object(&self, bucket: &str, key: &str, object: StoredObject) {
        self.state
            .write()
            .entry(bucket.to_owned())
            .or_insert_with(|| BucketState::new("us-east-1"))
            .objects
            .insert(key.to_owned(), object);
    }

    /// The object at `bucket`/`key`.
    pub fn get(&self, bucket: &str, key: &str) -> Option<StoredObject> {
        self.state
            .read()
            .get(bucket)
            .and_then(|b| b.objects.get(key).cloned())
    }

    /// Removes `bucket`/`key`; true when it existed.
    pub fn delete(&self, bucket: &str, key: &str) -> bool {
        self.state
            .write()
            .get_mut(bucket)
            .is_some_and(|b| b.objects.remove(key).is_some())
    }

    /// The keys of `bucket` in S3's order (UTF-8 byte order); empty for a missing bucket.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        self.state
            .read()
            .get(bucket)
            .map(|b| b.objects.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Imports a local tree `ROOT/BUCKET/KEY...`: every directory under `root` is a bucket
    /// (created in us-east-1 unless it exists), every file below it an object whose key is its
    /// path with `/` separators. A `KEY.metadata.json` file (a JSON object of strings) is not an
    /// object: it becomes the user metadata of `KEY`. Returns the number of objects loaded.
    ///
    /// # Errors
    /// When the tree cannot be read, a name is not UTF-8, or a sidecar is not a JSON object of
    /// strings.
    pub fn load_dir(&self, root: impl AsRef<Path>) -> io::Result<usize> {
        let root = root.as_ref();
        let mut loaded = 0;
        for entry in fs::read_dir(root)? {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let bucket = utf8_name(&entry.file_name())?;
            let mut files = Vec::new();
            collect_files(&entry.path(), String::new(), &mut files)?;
            let (sidecars, objects): (Vec<_>, Vec<_>) = files
                .into_iter()
                .partition(|(key, _)| key.ends_with(METADATA_SIDECAR_SUFFIX));
            let sidecars: HashMap<String, std::path::PathBuf> = sidecars
                .into_iter()
                .map(|(key, path)| {
                    let object_key = key[..key.len() - METADATA_SIDECAR_SUFFIX.len()].to_owned();
                    (object_key, path)
                })
                .collect();
            let mut loaded_here = BTreeMap::new();
            for (key, path) in objects {
                let body = fs::read(&path)?;
                let metadata = match sidecars.get(&key) {
                    Some(sidecar) => read_sidecar(sidecar)?,
                    None => HashMap::new(),
                };
                loaded_here.insert(key, StoredObject::new(body, metadata));
            }
            loaded += loaded_here.len();
            let mut buckets = self.state.write();
            buckets
                .entry(bucket)
                .or_insert_with(|| BucketState::new("us-east-1"))
                .objects
                .extend(loaded_here);
        }
        Ok(loaded)
    }

    /// The delay added before every request.
    pub fn delay(&self) -> Duration {
        Duration::from_nanos(self.state.delay_nanos.load(Ordering::Relaxed))
    }

    /// Changes the delay added before every request (from the next request on).
    pub fn set_delay(&self, delay: Duration) {
        let nanos = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        self.state.delay_nanos.store(nanos, Ordering::Relaxed);
    }

    /// Answers the next `n` GETs of `key` (in any bucket) with `503 SlowDown`; 0 lifts it.
    pub fn throttle_first_n_gets_of(&self, key: impl Into<String>, n: u32) {
        lock(&self.state.throttled).insert(key.into(), n);
    }

    /// Breaks the body of the next `n` successful GETs of `key` (in any bucket) with `fault`;
    /// `u32::MAX` for every one, 0 lifts it.
    pub fn break_bodies_of(&self, key: impl Into<String>, fault: BodyFault, n: u32) {
        lock(&self.state.body_faults).insert(key.into(), (fault, n, 0));
    }

    /// How many throttled GETs of `key` are still to come.
    pub fn throttles_left(&self, key: &str) -> u32 {
        lock(&self.state.throttled).get(key).copied().unwrap_or(0)
    }

    /// Answers every GET and HEAD of `key` (in any bucket) with `403 AccessDenied`.
    pub fn deny(&self, key: impl Into<String>) {
        self.state
            .denied
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.into());
    }

    /// Lifts [`S3Handle::deny`] for `key`.
    pub fn allow(&self, key: &str) {
        self.state
            .denied
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    /// Treats `key` (in any bucket) as stored with SSE-C: a GET or HEAD without the customer-key
    /// headers answers `400 InvalidRequest` with [`SSE_C_MESSAGE`], exactly as S3 does; one with
    /// them (any key is accepted) is served and says `x-amz-server-side-encryption-customer-
    /// algorithm`.
    pub fn encrypt_with_customer_key(&self, key: impl Into<String>) {
        self.state
            .customer_encrypted
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.into());
    }

    /// Marks `key` (in any bucket) as archived in `storage_class` (`GLACIER`, `DEEP_ARCHIVE`)
    /// and not restored: GET answers `403 InvalidObjectState`, HEAD answers with the class.
    pub fn archive(&self, key: impl Into<String>, storage_class: &str) {
        self.state
            .archived
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.into(), storage_class.to_owned());
    }

    /// Marks `key` (in any bucket) as encrypted with SSE-KMS under `key_arn`, which the caller
    /// may not decrypt with: GET answers `403 AccessDenied` with [`kms_denied_message`], HEAD
    /// answers with `x-amz-server-side-encryption: aws:kms` and the key id, as S3 does.
    pub fn deny_kms(&self, key: impl Into<String>, key_arn: &str) {
        self.state
            .kms_denied
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.into(), key_arn.to_owned());
    }

    /// Refuses every request without the SDK's `amz-sdk-invocation-id` header (`refuse` true)
    /// with `403 RequestTimeTooSkewed`, as S3 refuses a request signed by a clock the SDK would
    /// have corrected: a bucket's direct lane is then wrong where the SDK is right.
    pub fn refuse_requests_outside_the_sdk(&self, refuse: bool) {
        self.state
            .outside_sdk_refused
            .store(refuse, Ordering::Relaxed);
    }

    /// Answers GetBucketLifecycleConfiguration with `403 AccessDenied` (`deny` true) or as
    /// stored.
    pub fn deny_lifecycle_read(&self, deny: bool) {
        self.state.lifecycle_denied.store(deny, Ordering::Relaxed);
    }

    /// Makes GetBucketVersioning answer `Enabled` (`true`) or never enabled.
    pub fn set_versioning(&self, enabled: bool) {
        self.state
            .versioning_enabled
            .store(enabled, Ordering::Relaxed);
    }

    /// Answers ListObjectVersions with `403 AccessDenied` (`deny` true) or lists.
    pub fn deny_list_versions(&self, deny: bool) {
        self.state
            .list_versions_denied
            .store(deny, Ordering::Relaxed);
    }

    /// Sets `bucket`'s lifecycle rules (as PutBucketLifecycleConfiguration would); creates the
    /// bucket in us-east-1 when it does not exist.
    pub fn set_lifecycle(&self, bucket: &str, rules: Vec<dto::LifecycleRule>) {
        self.state
            .write()
            .entry(bucket.to_owned())
            .or_insert_with(|| BucketState::new("us-east-1"))
            .lifecycle = Some(rules);
    }

    /// Sets `bucket`'s lifecycle configuration to one enabled rule `id` expiring objects under
    /// `prefix` after `days` days.
    pub fn expire_after_days(&self, bucket: &str, id: &str, prefix: &str, days: i32) {
        self.set_lifecycle(
            bucket,
            vec![dto::LifecycleRule {
                id: Some(id.to_owned()),
                status: dto::ExpirationStatus::from_static(dto::ExpirationStatus::ENABLED),
                expiration: Some(dto::LifecycleExpiration {
                    days: Some(days),
                    ..Default::default()
                }),
                filter: Some(dto::LifecycleRuleFilter {
                    prefix: Some(prefix.to_owned()),
                    ..Default::default()
                }),
                abort_incomplete_multipart_upload: None,
                noncurrent_version_expiration: None,
                noncurrent_version_transitions: None,
                prefix: None,
                transitions: None,
            }],
        );
    }

    /// Lifts every throttle, broken body, denial and SSE-C marking and sets the delay to zero.
    pub fn clear_faults(&self) {
        lock(&self.state.throttled).clear();
        lock(&self.state.body_faults).clear();
        self.state
            .denied
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.state
            .customer_encrypted
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.set_delay(Duration::ZERO);
    }

    /// Requests seen so far.
    pub fn requests(&self) -> RequestCounts {
        lock(&self.state.counts).clone()
    }

    /// Sets every request count back to zero.
    pub fn reset_requests(&self) {
        *lock(&self.state.counts) = RequestCounts::default();
    }
}

fn utf8_name(name: &std::ffi::OsStr) -> io::Result<String> {
    name.to_str().map(str::to_owned).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{name:?} is not UTF-8 and cannot be an S3 name"),
        )
    })
}

/// Every file under `dir` as (key relative to the bucket, path), depth first.
fn collect_files(
    dir: &Path,
    prefix: String,
    out: &mut Vec<(String, std::path::PathBuf)>,
) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = utf8_name(&entry.file_name())?;
        let key = format!("{prefix}{name}");
        // Follows symbolic links, as a copy of the tree would.
        let meta = fs::metadata(entry.path())?;
        if meta.is_dir() {
            collect_files(&entry.path(), format!("{key}/"), out)?;
        } else {
            out.push((key, entry.path()));
        }
    }
    Ok(())
}

fn read_sidecar(path: &Path) -> io::Result<HashMap<String, String>> {
    let bad = |why: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {why}", path.display()),
        )
    };
    let value: serde_json::Value =
        serde_json::from_slice(&fs::read(path)?).map_err(|e| bad(e.to_string()))?;
    let serde_json::Value::Object(map) = value else {
        return Err(bad("not a JSON object".into()));
    };
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            other => Err(bad(format!("metadata {k:?} is {other}, not a string"))),
        })
        .collect()
}

/// A running in-process S3 server. Dereferences to its [`S3Handle`] for seeding, tampering,
/// faults and counts; stops when dropped.
#[derive(Debug)]
pub struct S3Server {
    handle: S3Handle,
    http: LocalHttpServer,
}

impl S3Server {
    /// Starts a server on 127.0.0.1 with `options`.
    ///
    /// # Panics
    /// When the port cannot be bound (see [`S3Server::try_start`]).
    pub fn start(options: S3ServerOptions) -> Self {
        Self::try_start(options).unwrap_or_else(|e| panic!("cannot start the test S3 server: {e}"))
    }

    /// Starts a server on 127.0.0.1 with `options`.
    ///
    /// # Errors
    /// When the port cannot be bound or the server thread cannot be created.
    pub fn try_start(options: S3ServerOptions) -> io::Result<Self> {
        let handle = S3Handle {
            state: Arc::new(State::default()),
        };
        handle.set_delay(options.delay);
        for (key, n) in options.throttled_gets {
            handle.throttle_first_n_gets_of(key, n);
        }
        for key in options.denied {
            handle.deny(key);
        }
        for key in options.customer_encrypted {
            handle.encrypt_with_customer_key(key);
        }
        let service = {
            let mut builder = S3ServiceBuilder::new(MemoryS3 {
                state: Arc::clone(&handle.state),
            });
            builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            builder.set_access(CountingAccess {
                state: Arc::clone(&handle.state),
            });
            builder.build()
        };
        let state = Arc::clone(&handle.state);
        let http = LocalHttpServer::start("s3-server", options.port, move |request| {
            let service = service.clone();
            let state = Arc::clone(&state);
            async move { handle_http(&service, &state, request).await }
        })?;
        Ok(S3Server { handle, http })
    }

    /// `http://127.0.0.1:PORT`, for `endpoint_url`.
    pub fn endpoint(&self) -> String {
        self.http.endpoint()
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.http.addr().port()
    }

    /// A handle that outlives borrows of the server (for another task or thread).
    pub fn handle(&self) -> S3Handle {
        self.handle.clone()
    }

    /// An `aws-sdk-s3` client for this server in `region`: path-style, credentials
    /// `test`/`test`, the SDK's default retry policy.
    pub fn s3_client(&self, region: &str) -> aws_sdk_s3::Client {
        s3_client(&self.endpoint(), region)
    }

    /// Stops the server and waits for its thread.
    pub fn shutdown(self) {
        self.http.shutdown();
    }
}

impl Deref for S3Server {
    type Target = S3Handle;

    fn deref(&self) -> &S3Handle {
        &self.handle
    }
}

/// An `aws-sdk-s3` client for an S3-compatible `endpoint` in `region`: path-style, static
/// credentials [`ACCESS_KEY`]/[`SECRET_KEY`].
pub fn s3_client(endpoint: &str, region: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::new()
        .endpoint_url(endpoint)
        .region(aws_sdk_s3::config::Region::new(region.to_owned()))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            ACCESS_KEY, SECRET_KEY, None, None, "test",
        ))
        .force_path_style(true)
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

async fn handle_http(
    service: &s3s::service::S3Service,
    state: &State,
    request: http::Request<hyper::body::Incoming>,
) -> http::Response<s3s::Body> {
    if request.method() == http::Method::GET && request.uri().path() == REQUESTS_PATH {
        let counts = lock(&state.counts).to_json().to_string();
        return http::Response::builder()
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(s3s::Body::from(counts))
            .unwrap_or_else(|_| http::Response::new(s3s::Body::empty()));
    }
    let outside_sdk = !request.headers().contains_key("amz-sdk-invocation-id");
    {
        let mut counts = lock(&state.counts);
        counts.total += 1;
        if outside_sdk {
            counts.direct += 1;
        }
    }
    if outside_sdk && state.outside_sdk_refused.load(Ordering::Relaxed) {
        let mut response = http::Response::new(s3s::Body::from(
            "<Error><Code>RequestTimeTooSkewed</Code>\
             <Message>The difference between the request time and the current time is too large.</Message></Error>"
                .to_owned(),
        ));
        *response.status_mut() = http::StatusCode::FORBIDDEN;
        return response;
    }
    let delay = Duration::from_nanos(state.delay_nanos.load(Ordering::Relaxed));
    if !delay.is_zero() {
        let waited = state.delay_line.wait(delay).await;
        let waited = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        let mut counts = lock(&state.counts);
        counts.delay_nanos = counts.delay_nanos.saturating_add(waited);
    }
    let object_key = (request.method() == http::Method::GET)
        .then(|| object_key(request.uri()))
        .flatten();
    match service.call(request.map(s3s::Body::from)).await {
        Ok(response) if response.status() == http::StatusCode::OK => {
            match object_key.and_then(|key| state.take_body_fault(&key)) {
                Some(fault) => {
                    lock(&state.counts).broken += 1;
                    break_body(response, fault).await
                }
                None => response,
            }
        }
        Ok(response) => response,
        // S3 errors are already responses; this is a failure of the HTTP layer itself.
        Err(e) => {
            let mut response = http::Response::new(s3s::Body::from(format!("{e:?}")));
            *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}

/// The key of a path-style object request (`/BUCKET/KEY`), percent-decoded; `None` for a
/// bucket-level request (a listing, `?versioning`, ...).
fn object_key(uri: &http::Uri) -> Option<String> {
    if uri.query().is_some_and(|q| {
        !q.split('&')
            .all(|p| p.starts_with("x-id=") || p.starts_with("versionId="))
    }) {
        return None;
    }
    let (_bucket, key) = uri.path().trim_start_matches('/').split_once('/')?;
    let mut out = Vec::with_capacity(key.len());
    let bytes = key.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok().filter(|k| !k.is_empty())
}

/// `response` with its body broken as `fault` says.
async fn break_body(
    response: http::Response<s3s::Body>,
    fault: (BodyFault, u32),
) -> http::Response<s3s::Body> {
    use http_body_util::BodyExt as _;
    let (mut parts, body) = response.into_parts();
    let Ok(collected) = body.collect().await else {
        return http::Response::from_parts(parts, s3s::Body::empty());
    };
    let bytes = collected.to_bytes();
    if let (BodyFault::FlipByte { at }, _) = fault {
        let mut flipped = bytes.to_vec();
        if let Some(len) = std::num::NonZeroUsize::new(flipped.len()) {
            flipped[at % len] ^= 0x01;
        }
        return http::Response::from_parts(parts, s3s::Body::from(Bytes::from(flipped)));
    }
    // A cut body must look whole: no checksum header may give it away (the case of an object
    // uploaded without one).
    let checksums: Vec<_> = parts
        .headers
        .keys()
        .filter(|name| name.as_str().starts_with("x-amz-checksum-"))
        .cloned()
        .collect();
    for name in checksums {
        parts.headers.remove(name);
    }
    let set_length = |parts: &mut http::response::Parts, n: usize| {
        parts
            .headers
            .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(n));
    };
    let (sent, dropped) = match fault {
        (BodyFault::Reset { after }, _) => {
            set_length(&mut parts, bytes.len());
            (bytes.slice(..after.min(bytes.len())), true)
        }
        (BodyFault::Cut { len }, _) => {
            let sent = bytes.slice(..len.min(bytes.len()));
            set_length(&mut parts, sent.len());
            (sent, false)
        }
        (BodyFault::CutShorterEachTime { len }, before) => {
            let shorter = before as usize % len.max(1);
            let sent = bytes.slice(..len.saturating_sub(shorter).min(bytes.len()));
            set_length(&mut parts, sent.len());
            (sent, false)
        }
        (BodyFault::LongLength { extra }, _) => {
            set_length(&mut parts, bytes.len() + extra);
            (bytes, true)
        }
        (BodyFault::FlipByte { .. }, _) => (bytes, false),
    };
    if !dropped {
        return http::Response::from_parts(parts, s3s::Body::from(sent));
    }
    // A body that fails after its bytes: hyper cannot finish the response and drops the
    // connection, which the client sees as a body that broke off. The pause lets hyper send the
    // headers and bytes first; without it the connection may drop before the response starts,
    // which the SDK retries itself, and that is another fault.
    let frames = futures::StreamExt::chain(
        futures::stream::iter([Ok(hyper::body::Frame::data(sent))]),
        futures::stream::once(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "connection dropped by the test",
            ))
        }),
    );
    http::Response::from_parts(
        parts,
        s3s::Body::http_body(http_body_util::StreamBody::new(frames)),
    )
}

/// Counts authenticated requests by operation, and denies unsigned ones (what the default access
/// check, which this replaces, does).
struct CountingAccess {
    state: Arc<State>,
}

#[async_trait::async_trait]
impl S3Access for CountingAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_none() {
            return Err(s3_error!(AccessDenied, "Signature is required"));
        }
        *lock(&self.state.counts)
            .by_operation
            .entry(cx.s3_op().name().to_owned())
            .or_default() += 1;
        self.check_region(cx)
    }
}

impl CountingAccess {
    /// S3 answers a request about a bucket signed for another region than the bucket's with
    /// `400 AuthorizationHeaderMalformed` (naming the region it expected), except the calls
    /// that find a bucket's region (HeadBucket tells it in a header) or make one: a client
    /// must read a bucket in its region.
    fn check_region(&self, cx: &S3AccessContext<'_>) -> S3Result<()> {
        let (S3Path::Bucket { bucket } | S3Path::Object { bucket, .. }) = cx.s3_path() else {
            return Ok(());
        };
        if matches!(
            cx.s3_op().name(),
            "GetBucketLocation" | "HeadBucket" | "CreateBucket" | "ListBuckets"
        ) {
            return Ok(());
        }
        let Some(expected) = self
            .state
            .read()
            .get(&**bucket)
            .map(|b| b.location.clone().unwrap_or_else(|| "us-east-1".to_owned()))
        else {
            return Ok(());
        };
        // The credential scope: `Credential=AKID/DATE/REGION/s3/aws4_request`, in the
        // Authorization header or a presigned URL's X-Amz-Credential.
        let header = cx
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split("Credential=").nth(1))
            .map(str::to_owned);
        let query = cx.uri().query().and_then(|q| {
            q.split('&')
                .find_map(|p| p.strip_prefix("X-Amz-Credential="))
                .map(|v| v.replace("%2F", "/"))
        });
        let signed_for = header
            .or(query)
            .and_then(|scope| scope.split('/').nth(2).map(str::to_owned));
        match signed_for {
            Some(region) if region != expected => {
                lock(&self.state.counts).misdirected += 1;
                Err(s3_error!(
                    AuthorizationHeaderMalformed,
                    "The authorization header is malformed; the region '{region}' is wrong; \
                     expecting '{expected}'"
                ))
            }
            _ => Ok(()),
        }
    }
}

/// The S3 operations over [`State`].
struct MemoryS3 {
    state: Arc<State>,
}

fn no_such_bucket(bucket: &str) -> S3Error {
    s3_error!(
        NoSuchBucket,
        "The specified bucket {bucket:?} does not exist"
    )
}

fn no_such_key(key: &str) -> S3Error {
    s3_error!(NoSuchKey, "The specified key {key:?} does not exist")
}

impl MemoryS3 {
    /// The SSE-C check of GET and HEAD: without the customer-key algorithm header, S3 refuses
    /// an SSE-C object. Returns the algorithm to echo when the object is SSE-C and may be served.
    fn check_customer_key(&self, key: &str, algorithm: Option<&str>) -> S3Result<Option<String>> {
        if !self.state.is_customer_encrypted(key) {
            return Ok(None);
        }
        match algorithm {
            Some(algorithm) => Ok(Some(algorithm.to_owned())),
            None => Err(s3_error!(InvalidRequest, "{SSE_C_MESSAGE}")),
        }
    }

    /// The fault-injection checks of GET (`throttle`) and HEAD.
    fn check_faults(&self, key: &str, throttle: bool) -> S3Result<()> {
        if self.state.is_denied(key) {
            lock(&self.state.counts).denied += 1;
            return Err(s3_error!(
                AccessDenied,
                "Access Denied (injected by the test)"
            ));
        }
        if throttle && self.state.take_throttle(key) {
            lock(&self.state.counts).throttled += 1;
            return Err(s3_error!(
                SlowDown,
                "Please reduce your request rate (injected by the test)"
            ));
        }
        Ok(())
    }

    fn object(&self, bucket: &str, key: &str) -> S3Result<StoredObject> {
        let buckets = self.state.read();
        let b = buckets.get(bucket).ok_or_else(|| no_such_bucket(bucket))?;
        b.objects.get(key).cloned().ok_or_else(|| no_such_key(key))
    }

    /// One page of a listing (shared by v1 and v2).
    fn list(&self, query: &ListQuery<'_>) -> S3Result<ListPage> {
        let buckets = self.state.read();
        let bucket = buckets
            .get(query.bucket)
            .ok_or_else(|| no_such_bucket(query.bucket))?;
        Ok(list_page(&bucket.objects, query))
    }
}

struct ListQuery<'a> {
    bucket: &'a str,
    prefix: &'a str,
    /// `None` or empty: no grouping.
    delimiter: Option<&'a str>,
    /// Only entries after this (StartAfter, ContinuationToken or Marker).
    after: Option<&'a str>,
    max_keys: usize,
}

#[derive(Default)]
struct ListPage {
    contents: Vec<dto::Object>,
    common_prefixes: Vec<String>,
    truncated: bool,
    /// The last key or common prefix returned: where the next page starts after.
    last: Option<String>,
}

/// The smallest string greater than every string that starts with `prefix`, if there is one.
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// S3's listing over keys in byte order: keys under `prefix` after `after`, each run of keys
/// sharing `prefix` + text + delimiter rolled into one common prefix that counts once towards
/// `max_keys`; `truncated` only when something is left.
fn list_page(objects: &BTreeMap<String, StoredObject>, query: &ListQuery<'_>) -> ListPage {
    let prefix = query.prefix;
    let delimiter = query.delimiter.filter(|d| !d.is_empty());
    let mut page = ListPage::default();
    if query.max_keys == 0 {
        return page;
    }
    let mut count = 0usize;
    let mut cursor: Bound<String> = match query.after {
        Some(after) if after >= prefix => Bound::Excluded(after.to_owned()),
        _ => Bound::Included(prefix.to_owned()),
    };
    'scan: loop {
        let mut resume = None;
        let range = (
            cursor.as_ref().map(String::as_str),
            Bound::<&str>::Unbounded,
        );
        for (key, object) in objects.range::<str, _>(range) {
            // Keys at or after `prefix` that do not start with it sort after every key that
            // does: the listing is over.
            if !key.starts_with(prefix) {
                break 'scan;
            }
            if let Some(delimiter) = delimiter
                && let Some(at) = key[prefix.len()..].find(delimiter)
            {
                let common = &key[..prefix.len() + at + delimiter.len()];
                // A common prefix at or before `after` was returned by an earlier page.
                let seen = query.after.is_some_and(|after| common <= after)
                    || page.common_prefixes.last().is_some_and(|c| c == common);
                if !seen {
                    if count == query.max_keys {
                        page.truncated = true;
                        break 'scan;
                    }
                    page.common_prefixes.push(common.to_owned());
                    page.last = Some(common.to_owned());
                    count += 1;
                }
                // Skip the rest of the group without walking it.
                match prefix_successor(common) {
                    Some(next) => {
                        resume = Some(next);
                        break;
                    }
                    None => continue,
                }
            }
            if count == query.max_keys {
                page.truncated = true;
                break 'scan;
            }
            page.contents.push(summary(key, object));
            page.last = Some(key.clone());
            count += 1;
        }
        match resume {
            Some(next) => cursor = Bound::Included(next),
            None => break,
        }
    }
    page
}

fn summary(key: &str, object: &StoredObject) -> dto::Object {
    dto::Object {
        key: Some(key.to_owned()),
        size: Some(object.body.len() as i64),
        e_tag: Some(ETag::Strong(object.etag.clone())),
        last_modified: Some(Timestamp::from(object.last_modified)),
        storage_class: Some(dto::ObjectStorageClass::from_static(
            dto::ObjectStorageClass::STANDARD,
        )),
        ..Default::default()
    }
}

/// Percent-encodes like S3 with `EncodingType=url`: everything but unreserved characters and
/// `/`, which botocore's `unquote_plus` undoes.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Applies `EncodingType=url` to a listed name when asked for.
struct Encoder(bool);

impl Encoder {
    fn new(encoding: Option<&dto::EncodingType>) -> S3Result<Self> {
        match encoding.map(dto::EncodingType::as_str) {
            None => Ok(Encoder(false)),
            Some(dto::EncodingType::URL) => Ok(Encoder(true)),
            Some(other) => Err(s3_error!(
                InvalidArgument,
                "Invalid Encoding Method specified in Request: {other:?}"
            )),
        }
    }

    fn apply(&self, s: String) -> String {
        if self.0 { url_encode(&s) } else { s }
    }

    fn apply_page(&self, page: &mut ListPage) {
        if !self.0 {
            return;
        }
        for object in &mut page.contents {
            object.key = object.key.take().map(|k| url_encode(&k));
        }
        for common in &mut page.common_prefixes {
            *common = url_encode(common);
        }
    }
}

fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        None => Ok(MAX_KEYS),
        Some(n) if n < 0 => Err(s3_error!(
            InvalidArgument,
            "MaxKeys must be non-negative, got {n}"
        )),
        Some(n) => Ok(usize::try_from(n).unwrap_or(MAX_KEYS).min(MAX_KEYS)),
    }
}

const TOKEN_TAG: &str = "ctverify-s3:";

fn encode_token(last: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{TOKEN_TAG}{last}"))
}

fn decode_token(token: &str) -> S3Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(TOKEN_TAG).map(str::to_owned))
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The continuation token provided is incorrect"
            )
        })
}

fn common_prefix_list(prefixes: Vec<String>) -> Option<Vec<dto::CommonPrefix>> {
    if prefixes.is_empty() {
        return None;
    }
    Some(
        prefixes
            .into_iter()
            .map(|p| dto::CommonPrefix { prefix: Some(p) })
            .collect(),
    )
}

async fn read_body(body: Option<StreamingBlob>) -> S3Result<Bytes> {
    let Some(body) = body else {
        return Ok(Bytes::new());
    };
    let mut out = BytesMut::new();
    let mut stream = body;
    while let Some(chunk) = stream
        .try_next()
        .await
        .map_err(|e| s3_error!(IncompleteBody, "cannot read the request body: {e}"))?
    {
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

#[async_trait::async_trait]
impl S3 for MemoryS3 {
    async fn create_bucket(
        &self,
        req: S3Request<dto::CreateBucketInput>,
    ) -> S3Result<S3Response<dto::CreateBucketOutput>> {
        let input = req.input;
        let region = input
            .create_bucket_configuration
            .and_then(|c| c.location_constraint)
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default();
        let mut buckets = self.state.write();
        if buckets.contains_key(&input.bucket) {
            return Err(s3_error!(
                BucketAlreadyOwnedByYou,
                "Your previous request to create the named bucket succeeded and you already own it"
            ));
        }
        buckets.insert(input.bucket.clone(), BucketState::new(&region));
        Ok(S3Response::new(dto::CreateBucketOutput {
            location: Some(format!("/{}", input.bucket)),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<dto::HeadBucketInput>,
    ) -> S3Result<S3Response<dto::HeadBucketOutput>> {
        let buckets = self.state.read();
        let bucket = buckets
            .get(&req.input.bucket)
            .ok_or_else(|| no_such_bucket(&req.input.bucket))?;
        Ok(S3Response::new(dto::HeadBucketOutput {
            bucket_region: Some(
                bucket
                    .location
                    .clone()
                    .unwrap_or_else(|| "us-east-1".into()),
            ),
            ..Default::default()
        }))
    }

    async fn list_buckets(
        &self,
        _req: S3Request<dto::ListBucketsInput>,
    ) -> S3Result<S3Response<dto::ListBucketsOutput>> {
        let buckets = self
            .state
            .read()
            .iter()
            .map(|(name, b)| dto::Bucket {
                name: Some(name.clone()),
                creation_date: Some(Timestamp::from(b.created)),
                bucket_region: Some(b.location.clone().unwrap_or_else(|| "us-east-1".into())),
            })
            .collect();
        Ok(S3Response::new(dto::ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(dto::Owner {
                display_name: Some("test".into()),
                id: Some("test".into()),
            }),
            ..Default::default()
        }))
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<dto::GetBucketVersioningInput>,
    ) -> S3Result<S3Response<dto::GetBucketVersioningOutput>> {
        if !self.state.read().contains_key(&req.input.bucket) {
            return Err(no_such_bucket(&req.input.bucket));
        }
        // No Status: versioning was never enabled, as S3 answers for such a bucket.
        let status = self
            .state
            .versioning_enabled
            .load(Ordering::Relaxed)
            .then(|| {
                dto::BucketVersioningStatus::from_static(dto::BucketVersioningStatus::ENABLED)
            });
        Ok(S3Response::new(dto::GetBucketVersioningOutput {
            status,
            ..Default::default()
        }))
    }

    /// Every object as its only version (`null`), after `key-marker`, in one page.
    async fn list_object_versions(
        &self,
        req: S3Request<dto::ListObjectVersionsInput>,
    ) -> S3Result<S3Response<dto::ListObjectVersionsOutput>> {
        if self.state.list_versions_denied.load(Ordering::Relaxed) {
            return Err(s3_error!(
                AccessDenied,
                "Access Denied (injected by the test)"
            ));
        }
        let input = req.input;
        let buckets = self.state.read();
        let bucket = buckets
            .get(&input.bucket)
            .ok_or_else(|| no_such_bucket(&input.bucket))?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let after = input.key_marker.clone().unwrap_or_default();
        let versions: Vec<dto::ObjectVersion> = bucket
            .objects
            .range(after.clone()..)
            .filter(|(k, _)| k.starts_with(&prefix) && **k > after)
            .map(|(k, o)| dto::ObjectVersion {
                key: Some(k.clone()),
                version_id: Some("null".to_owned()),
                is_latest: Some(true),
                last_modified: Some(Timestamp::from(o.last_modified)),
                size: Some(o.body.len() as i64),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(dto::ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(prefix),
            is_truncated: Some(false),
            versions: Some(versions),
            ..Default::default()
        }))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<dto::GetBucketLocationInput>,
    ) -> S3Result<S3Response<dto::GetBucketLocationOutput>> {
        let buckets = self.state.read();
        let bucket = buckets
            .get(&req.input.bucket)
            .ok_or_else(|| no_such_bucket(&req.input.bucket))?;
        Ok(S3Response::new(dto::GetBucketLocationOutput {
            location_constraint: bucket
                .location
                .clone()
                .map(dto::BucketLocationConstraint::from),
        }))
    }

    async fn put_object(
        &self,
        req: S3Request<dto::PutObjectInput>,
    ) -> S3Result<S3Response<dto::PutObjectOutput>> {
        let input = req.input;
        if !self.state.read().contains_key(&input.bucket) {
            return Err(no_such_bucket(&input.bucket));
        }
        let body = read_body(input.body).await?;
        let mut object = StoredObject::new(body, input.metadata.unwrap_or_default());
        object.content_type = input.content_type;
        object.content_encoding = input.content_encoding;
        let etag = object.etag.clone();
        let mut buckets = self.state.write();
        // The bucket may have gone while the body was read.
        let bucket = buckets
            .get_mut(&input.bucket)
            .ok_or_else(|| no_such_bucket(&input.bucket))?;
        // Conditional writes, as S3 does them: If-Match needs the object with that ETag,
        // If-None-Match: * needs no object; otherwise 412 Precondition Failed. Checked under
        // the same lock as the write, so two racing writers cannot both pass.
        let current = bucket.objects.get(&input.key).map(|o| o.etag.clone());
        let matches = |condition: &dto::ETagCondition| match (condition, &current) {
            (dto::ETagCondition::Any, Some(_)) => true,
            (dto::ETagCondition::ETag(tag), Some(etag)) => tag.value() == etag.as_str(),
            (_, None) => false,
        };
        if input.if_match.as_ref().is_some_and(|c| !matches(c))
            || input.if_none_match.as_ref().is_some_and(&matches)
        {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
        bucket.objects.insert(input.key, object);
        Ok(S3Response::new(dto::PutObjectOutput {
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<dto::GetObjectInput>,
    ) -> S3Result<S3Response<dto::GetObjectOutput>> {
        let input = req.input;
        self.check_faults(&input.key, true)?;
        let object = self.object(&input.bucket, &input.key)?;
        if self.state.archived_class(&input.key).is_some() {
            return Err(s3_error!(
                InvalidObjectState,
                "The operation is not valid for the object's storage class"
            ));
        }
        if let Some(key_arn) = self.state.kms_key(&input.key) {
            return Err(s3_error!(AccessDenied, "{}", kms_denied_message(&key_arn)));
        }
        let sse_customer_algorithm =
            self.check_customer_key(&input.key, input.sse_customer_algorithm.as_deref())?;
        let full_length = object.body.len() as u64;
        let (body, content_range) = match input.range {
            None => (object.body.clone(), None),
            Some(range) => {
                let r = range.check(full_length).map_err(|_| {
                    s3_error!(InvalidRange, "The requested range is not satisfiable")
                })?;
                let (start, end) = (
                    usize::try_from(r.start).unwrap_or(usize::MAX),
                    usize::try_from(r.end).unwrap_or(usize::MAX),
                );
                let slice = object
                    .body
                    .get(start..end)
                    .map(|_| object.body.slice(start..end))
                    .ok_or_else(|| {
                        s3_error!(InvalidRange, "The requested range is not satisfiable")
                    })?;
                let range_header = format!(
                    "bytes {}-{}/{full_length}",
                    r.start,
                    r.end.saturating_sub(1)
                );
                (slice, Some(range_header))
            }
        };
        let partial = content_range.is_some();
        // S3 returns a whole object's stored checksum when asked
        // (`x-amz-checksum-mode: ENABLED`); every object here has a CRC32, as every object
        // uploaded to S3 since 2025 has a checksum.
        let checksum_crc32 = (!partial
            && input
                .checksum_mode
                .as_ref()
                .is_some_and(|m| m.as_str() == dto::ChecksumMode::ENABLED))
        .then(|| {
            base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(&body).to_be_bytes())
        });
        let output = dto::GetObjectOutput {
            checksum_crc32,
            content_length: Some(body.len() as i64),
            content_range,
            accept_ranges: Some("bytes".into()),
            body: Some(StreamingBlob::from(s3s::Body::from(body))),
            sse_customer_key_md5: sse_customer_algorithm
                .as_ref()
                .and(input.sse_customer_key_md5.clone()),
            sse_customer_algorithm,
            ..object_headers(&object)
        };
        let mut response = S3Response::new(output);
        if partial {
            response.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        Ok(response)
    }

    async fn head_object(
        &self,
        req: S3Request<dto::HeadObjectInput>,
    ) -> S3Result<S3Response<dto::HeadObjectOutput>> {
        let input = req.input;
        self.check_faults(&input.key, false)?;
        let object = self.object(&input.bucket, &input.key)?;
        let sse_customer_algorithm =
            self.check_customer_key(&input.key, input.sse_customer_algorithm.as_deref())?;
        let get = object_headers(&object);
        Ok(S3Response::new(dto::HeadObjectOutput {
            content_length: Some(object.body.len() as i64),
            accept_ranges: Some("bytes".into()),
            content_type: get.content_type,
            content_encoding: get.content_encoding,
            e_tag: get.e_tag,
            last_modified: get.last_modified,
            metadata: get.metadata,
            sse_customer_algorithm,
            storage_class: self
                .state
                .archived_class(&input.key)
                .map(dto::StorageClass::from),
            server_side_encryption: self.state.kms_key(&input.key).map(|_| {
                dto::ServerSideEncryption::from_static(dto::ServerSideEncryption::AWS_KMS)
            }),
            ssekms_key_id: self.state.kms_key(&input.key),
            ..Default::default()
        }))
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<dto::GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<dto::GetBucketLifecycleConfigurationOutput>> {
        if self.state.lifecycle_denied.load(Ordering::Relaxed) {
            return Err(s3_error!(
                AccessDenied,
                "Access Denied (injected by the test)"
            ));
        }
        let buckets = self.state.read();
        let bucket = buckets
            .get(&req.input.bucket)
            .ok_or_else(|| no_such_bucket(&req.input.bucket))?;
        match &bucket.lifecycle {
            Some(rules) => Ok(S3Response::new(
                dto::GetBucketLifecycleConfigurationOutput {
                    rules: Some(rules.clone()),
                    ..Default::default()
                },
            )),
            None => Err(s3_error!(
                NoSuchLifecycleConfiguration,
                "The lifecycle configuration does not exist"
            )),
        }
    }

    async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<dto::PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<dto::PutBucketLifecycleConfigurationOutput>> {
        let input = req.input;
        let mut buckets = self.state.write();
        let bucket = buckets
            .get_mut(&input.bucket)
            .ok_or_else(|| no_such_bucket(&input.bucket))?;
        bucket.lifecycle = Some(
            input
                .lifecycle_configuration
                .map(|c| c.rules)
                .unwrap_or_default(),
        );
        Ok(S3Response::new(
            dto::PutBucketLifecycleConfigurationOutput::default(),
        ))
    }

    async fn delete_object(
        &self,
        req: S3Request<dto::DeleteObjectInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectOutput>> {
        let input = req.input;
        let mut buckets = self.state.write();
        let bucket = buckets
            .get_mut(&input.bucket)
            .ok_or_else(|| no_such_bucket(&input.bucket))?;
        // S3 answers 204 whether or not the key existed.
        bucket.objects.remove(&input.key);
        Ok(S3Response::new(dto::DeleteObjectOutput::default()))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<dto::ListObjectsV2Input>,
    ) -> S3Result<S3Response<dto::ListObjectsV2Output>> {
        let input = req.input;
        let encoder = Encoder::new(input.encoding_type.as_ref())?;
        let max_keys = max_keys(input.max_keys)?;
        // A continuation token supersedes StartAfter, as in S3.
        let after = match input.continuation_token.as_deref() {
            Some(token) => Some(decode_token(token)?),
            None => input.start_after.clone(),
        };
        let prefix = input.prefix.clone().unwrap_or_default();
        let mut page = self.list(&ListQuery {
            bucket: &input.bucket,
            prefix: &prefix,
            delimiter: input.delimiter.as_deref(),
            after: after.as_deref(),
            max_keys,
        })?;
        encoder.apply_page(&mut page);
        let key_count = page.contents.len() + page.common_prefixes.len();
        let next = if page.truncated {
            page.last.as_deref().map(encode_token)
        } else {
            None
        };
        Ok(S3Response::new(dto::ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(encoder.apply(prefix)),
            delimiter: input.delimiter.map(|d| encoder.apply(d)),
            start_after: input.start_after.map(|s| encoder.apply(s)),
            continuation_token: input.continuation_token,
            max_keys: Some(i32::try_from(max_keys).unwrap_or(i32::MAX)),
            key_count: Some(i32::try_from(key_count).unwrap_or(i32::MAX)),
            is_truncated: Some(page.truncated),
            next_continuation_token: next,
            contents: Some(page.contents),
            common_prefixes: common_prefix_list(page.common_prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<dto::ListObjectsInput>,
    ) -> S3Result<S3Response<dto::ListObjectsOutput>> {
        let input = req.input;
        let encoder = Encoder::new(input.encoding_type.as_ref())?;
        let max_keys = max_keys(input.max_keys)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let mut page = self.list(&ListQuery {
            bucket: &input.bucket,
            prefix: &prefix,
            delimiter: input.delimiter.as_deref(),
            after: input.marker.as_deref(),
            max_keys,
        })?;
        encoder.apply_page(&mut page);
        // S3 documents NextMarker only with a delimiter, but clients fall back to the last key
        // either way; giving it always is what they compute anyway.
        let next_marker = if page.truncated {
            page.last.clone().map(|m| encoder.apply(m))
        } else {
            None
        };
        Ok(S3Response::new(dto::ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(encoder.apply(prefix)),
            delimiter: input.delimiter.map(|d| encoder.apply(d)),
            marker: Some(encoder.apply(input.marker.unwrap_or_default())),
            max_keys: Some(i32::try_from(max_keys).unwrap_or(i32::MAX)),
            is_truncated: Some(page.truncated),
            next_marker,
            contents: Some(page.contents),
            common_prefixes: common_prefix_list(page.common_prefixes),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }
}

/// The headers GET and HEAD share.
fn object_headers(object: &StoredObject) -> dto::GetObjectOutput {
    dto::GetObjectOutput {
        content_type: Some(
            object
                .content_type
                .clone()
                .unwrap_or_else(|| "binary/octet-stream".into()),
        ),
        content_encoding: object.content_encoding.clone(),
        e_tag: Some(ETag::Strong(object.etag.clone())),
        last_modified: Some(Timestamp::from(object.last_modified)),
        metadata: if object.metadata.is_empty() {
            None
        } else {
            Some(object.metadata.clone())
        },
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(keys: &[&str]) -> BTreeMap<String, StoredObject> {
        keys.iter()
            .map(|k| {
                (
                    (*k).to_owned(),
                    StoredObject::new(&b"x"[..], None::<(String, String)>),
                )
            })
            .collect()
    }

    fn names(page: &ListPage) -> (Vec<String>, Vec<String>) {
        (
            page.contents.iter().filter_map(|o| o.key.clone()).collect(),
            page.common_prefixes.clone(),
        )
    }

    #[test]
    fn folders_count_once_and_resume_after_the_last_folder() {
        let objects = store(&["a/1", "a/2", "b", "c/1", "c/x/2", "d/1"]);
        let mut query = ListQuery {
            bucket: "b",
            prefix: "",
            delimiter: Some("/"),
            after: None,
            max_keys: 2,
        };
        let first = list_page(&objects, &query);
        assert_eq!(names(&first), (vec!["b".into()], vec!["a/".into()]));
        assert!(first.truncated);
        let last = first.last.clone();
        query.after = last.as_deref();
        let second = list_page(&objects, &query);
        assert_eq!(names(&second), (vec![], vec!["c/".into(), "d/".into()]));
        assert!(!second.truncated);
    }

    #[test]
    fn successor_of_a_prefix_sorts_after_its_whole_group() {
        assert_eq!(prefix_successor("a/").as_deref(), Some("a0"));
        assert_eq!(prefix_successor("").as_deref(), None);
        assert_eq!(prefix_successor("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
    }
}
