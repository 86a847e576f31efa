//! Objects read from Amazon S3 or an S3-compatible store, through `aws-sdk-s3`.
//!
//! Throttling and 5xx answers are retried with backoff by the SDK's standard retry strategy
//! (configured by [`crate::aws::s3_client`] callers through the `SdkConfig`); what still fails is
//! returned as [`SourceError::AccessDenied`] or [`SourceError::Unavailable`] and the run goes on.

use super::direct::Direct;
use super::{Body, ListPage, Object, ObjectSource, SourceError, VersionPage, Versioning};
use crate::source::{LifecycleExpiration, LifecycleFilter, LifecycleRule, LifecycleTransition};
use async_trait::async_trait;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use std::collections::BTreeMap;
use tokio_util::io::SyncIoBridge;

/// The largest body read whole before it is hashed (see [`S3Source::get_object`]): at the
/// default of 128 reads in flight, 8 MiB at most held at once.
const SMALL_BODY_BYTES: i64 = 64 * 1024;

/// Reads objects with an S3 client.
#[derive(Debug, Clone)]
pub struct S3Source {
    client: aws_sdk_s3::Client,
    description: String,
    /// ListObjectsV2 requests sent (pages of a paginated listing each count), shared by clones:
    /// a sweep's estimate adds the set-up's listings to its own.
    lists: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Log files read without the SDK's per-call machinery (see [`super::direct`]), shared by
    /// clones.
    direct: std::sync::Arc<super::direct::DirectReads>,
}

impl S3Source {
    /// Uses `client`, which must be configured for the bucket's region.
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        S3Source {
            client,
            description: "Amazon S3".into(),
            lists: std::sync::Arc::default(),
            direct: std::sync::Arc::default(),
        }
    }

    /// Log files read so far through a bucket's direct lane: GETs the SDK's first GetObject of
    /// the bucket taught, sent with the SDK's connector and credentials but without its per-call
    /// orchestration (see the README's S3 reads). The rest went through the SDK.
    pub fn direct_reads(&self) -> u64 {
        self.direct.count()
    }

    fn count_list(&self) {
        self.lists
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// ListObjectsV2 in the client's region, for error hints.
    fn list_call(&self) -> crate::aws::AwsCall<'_> {
        crate::aws::AwsCall::new(
            "ListObjectsV2",
            "s3:ListBucket",
            self.client.config().region().map(|r| r.as_ref()),
        )
    }

    /// A source for `bucket` in `region`, the bucket's own (see
    /// `trail_api::source_in_bucket_region`, which asks S3 for it).
    pub fn in_region(conf: &aws_config::SdkConfig, bucket: &str, region: String) -> Self {
        let conf = conf
            .to_builder()
            .region(aws_config::Region::new(region))
            .build();
        S3Source::new(crate::aws::s3_client(&conf)).with_description(format!("s3://{bucket}"))
    }

    /// A document (a state, a plan, a shard's report) of at most `max` bytes, with its ETag;
    /// `None` when there is no such key. Documents go through the same transport as the
    /// trail's objects.
    pub(crate) async fn get_document(
        &self,
        bucket: &str,
        key: &str,
        max: u64,
    ) -> Result<Option<(Vec<u8>, String)>, DocumentError> {
        let failed = |reason: String| DocumentError::Failed(reason);
        let answer = match self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(answer) => answer,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Ok(None);
            }
            Err(e) => {
                return Err(failed(crate::aws::error_text(
                    &e,
                    Some(&crate::aws::AwsCall::new("GetObject", "s3:GetObject", None)),
                )));
            }
        };
        let etag = answer.e_tag().unwrap_or_default().to_owned();
        let too_large = || failed(format!("larger than {max} bytes"));
        if u64::try_from(answer.content_length().unwrap_or(0)).unwrap_or(0) > max {
            return Err(too_large());
        }
        let mut body = answer.body;
        let mut bytes = Vec::new();
        while let Some(chunk) = body.try_next().await.map_err(|e| failed(e.to_string()))? {
            if (bytes.len() + chunk.len()) as u64 > max {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some((bytes, etag)))
    }

    /// Writes a document, under S3's conditional writes when `only_if` says so: `Some(Some(etag))`
    /// only over that version, `Some(None)` only where there is none, `None` whatever is there.
    pub(crate) async fn put_document(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        only_if: Option<Option<&str>>,
    ) -> Result<(), DocumentError> {
        let put = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(bytes.into());
        let put = match only_if {
            None => put,
            Some(Some(etag)) => put.if_match(etag),
            Some(None) => put.if_none_match("*"),
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                // 412: the precondition failed; 409: a concurrent conditional write won.
                if only_if.is_some() && matches!(status, Some(412 | 409)) {
                    Err(DocumentError::Conflict)
                } else {
                    Err(DocumentError::Failed(crate::aws::error_text(
                        &e,
                        Some(&crate::aws::AwsCall::new("PutObject", "s3:PutObject", None)),
                    )))
                }
            }
        }
    }

    /// Sets the description used in reports (for instance the endpoint).
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
}

/// Why a document could not be read or written.
#[derive(Debug)]
pub(crate) enum DocumentError {
    /// A conditional write lost: someone else wrote the document since it was read.
    Conflict,
    /// Anything else, said.
    Failed(String),
}

/// Maps an SDK error onto what it means for evidence: only a definite "no such key" is
/// `NotFound`; a refusal is `AccessDenied`; an SSE-C object read without its key is
/// `CustomerEncrypted`; everything else is `Unavailable`. `call` is given for listings, whose
/// failure ends the run and so deserves a hint (the permission, the region); a read of one
/// object is one line among many and keeps to `Code: message`.
fn classify<E>(
    error: &SdkError<E, HttpResponse>,
    not_found: bool,
    call: Option<&crate::aws::AwsCall<'_>>,
) -> SourceError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if not_found {
        return SourceError::NotFound;
    }
    let status = match error {
        SdkError::ServiceError(e) => Some(e.raw().status().as_u16()),
        _ => None,
    };
    let code = error.code().unwrap_or_default().to_owned();
    let message = crate::aws::error_text(error, call);
    if is_customer_encrypted(status, &code, error.message()) {
        return SourceError::CustomerEncrypted(message);
    }
    match (status, code.as_str()) {
        (_, "NoSuchKey") | (Some(404), _) => SourceError::NotFound,
        (Some(403), _) | (_, "AccessDenied") => SourceError::AccessDenied(message),
        _ => SourceError::Unavailable(message),
    }
}

/// Whether an error answer is S3 refusing to serve an SSE-C object without its key: `400
/// InvalidRequest` "The object was stored using a form of Server Side Encryption. The correct
/// parameters must be provided to retrieve the object."
fn is_customer_encrypted(status: Option<u16>, code: &str, message: Option<&str>) -> bool {
    status == Some(400)
        && code == "InvalidRequest"
        && message.is_some_and(|m| m.to_ascii_lowercase().contains("server side encryption"))
}

#[async_trait]
impl ObjectSource for S3Source {
    async fn list_keys(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<String>, SourceError> {
        let page = self.list_sized(bucket, prefix, start_after).await?;
        Ok(page.into_iter().map(|(key, _)| key).collect())
    }

    async fn list_sized(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<(String, Option<u64>)>, SourceError> {
        Ok(self.list_page(bucket, prefix, start_after).await?.keys)
    }

    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<ListPage, SourceError> {
        self.count_list();
        let answer = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_start_after(start_after.map(str::to_owned))
            .send()
            .await
            .map_err(|e| classify(&e, false, Some(&self.list_call())))?;
        let keys: Vec<(String, Option<u64>)> = answer
            .contents()
            .iter()
            .filter_map(|o| {
                let size = o.size().and_then(|s| u64::try_from(s).ok());
                o.key().map(|k| (k.to_owned(), size))
            })
            .collect();
        // Only S3's own word ends a listing early: an answer that does not say whether it was
        // truncated is followed by another request, as the contract's empty page.
        Ok(ListPage {
            complete: keys.is_empty() || answer.is_truncated() == Some(false),
            keys,
        })
    }

    async fn list_folders(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, SourceError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .delimiter("/")
            .into_paginator()
            .send();
        let mut folders = Vec::new();
        while let Some(page) = pages.next().await {
            self.count_list();
            let page = page.map_err(|e| classify(&e, false, Some(&self.list_call())))?;
            for common in page.common_prefixes() {
                if let Some(name) = common
                    .prefix()
                    .and_then(|p| p.strip_prefix(prefix))
                    .map(|p| p.trim_end_matches('/'))
                    .filter(|p| !p.is_empty())
                {
                    folders.push(name.to_owned());
                }
            }
        }
        folders.sort();
        Ok(folders)
    }

    fn list_requests(&self) -> Option<u64> {
        Some(self.lists.load(std::sync::atomic::Ordering::Relaxed))
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Object, SourceError> {
        self.get_object(bucket, key, None).await
    }

    async fn get_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Object, SourceError> {
        self.get_object(bucket, key, Some(version_id)).await
    }

    async fn versioning(&self, bucket: &str) -> Result<Versioning, SourceError> {
        use aws_sdk_s3::types::BucketVersioningStatus;
        let call = crate::aws::AwsCall::new(
            "GetBucketVersioning",
            "s3:GetBucketVersioning",
            self.client.config().region().map(|r| r.as_ref()),
        );
        let answer = self
            .client
            .get_bucket_versioning()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| classify(&e, false, Some(&call)))?;
        // No Status at all: versioning was never enabled.
        Ok(match answer.status() {
            Some(BucketVersioningStatus::Enabled) => Versioning::Enabled,
            Some(BucketVersioningStatus::Suspended) => Versioning::Suspended,
            _ => Versioning::NotEnabled,
        })
    }

    async fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        marker: Option<(&str, Option<&str>)>,
    ) -> Result<VersionPage, SourceError> {
        use crate::source::ObjectVersion;
        let call = crate::aws::AwsCall::new(
            "ListObjectVersions",
            "s3:ListBucketVersions",
            self.client.config().region().map(|r| r.as_ref()),
        );
        let answer = self
            .client
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(marker.map(|(k, _)| k.to_owned()))
            .set_version_id_marker(marker.and_then(|(_, v)| v.map(str::to_owned)))
            .send()
            .await
            .map_err(|e| classify(&e, false, Some(&call)))?;
        let time = |t: Option<&aws_sdk_s3::primitives::DateTime>| {
            t.and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
        };
        // Versions and delete markers come in two lists; merged back into S3's order (keys
        // ascending, newest first within a key). Entries without a key, id or time cannot be
        // placed and are dropped: they say nothing about an object.
        // With IsLatest, which orders entries of the same second (S3's times have whole seconds
        // in listings) as S3 did before splitting them into two lists.
        let mut entries: Vec<(String, ObjectVersion, bool)> = Vec::new();
        for v in answer.versions() {
            if let (Some(key), Some(id), Some(at)) =
                (v.key(), v.version_id(), time(v.last_modified()))
            {
                entries.push((
                    key.to_owned(),
                    ObjectVersion {
                        version_id: id.to_owned(),
                        last_modified: at,
                        delete_marker: false,
                    },
                    v.is_latest() == Some(true),
                ));
            }
        }
        for m in answer.delete_markers() {
            if let (Some(key), Some(id), Some(at)) =
                (m.key(), m.version_id(), time(m.last_modified()))
            {
                entries.push((
                    key.to_owned(),
                    ObjectVersion {
                        version_id: id.to_owned(),
                        last_modified: at,
                        delete_marker: true,
                    },
                    m.is_latest() == Some(true),
                ));
            }
        }
        entries.sort_by(|(ka, a, la), (kb, b, lb)| {
            ka.cmp(kb)
                .then(b.last_modified.cmp(&a.last_modified))
                .then(lb.cmp(la))
        });
        let entries = entries.into_iter().map(|(k, v, _)| (k, v)).collect();
        let next = if answer.is_truncated() == Some(true) {
            answer.next_key_marker().map(|k| {
                (
                    k.to_owned(),
                    answer.next_version_id_marker().map(str::to_owned),
                )
            })
        } else {
            None
        };
        Ok(VersionPage { entries, next })
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    /// Over HTTP a body can break off or be cut short: worth reading again.
    fn reads_may_break(&self) -> bool {
        true
    }

    async fn lifecycle_rules(&self, bucket: &str) -> Result<Vec<LifecycleRule>, SourceError> {
        let call = crate::aws::AwsCall::new(
            "GetBucketLifecycleConfiguration",
            "s3:GetLifecycleConfiguration",
            self.client.config().region().map(|r| r.as_ref()),
        );
        match self
            .client
            .get_bucket_lifecycle_configuration()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(answer) => Ok(answer
                .rules()
                .iter()
                .enumerate()
                .map(|(i, rule)| lifecycle_rule(i, rule))
                .collect()),
            // A bucket with no lifecycle configuration has no rules.
            Err(e) if e.code() == Some("NoSuchLifecycleConfiguration") => Ok(Vec::new()),
            Err(e) => Err(classify(&e, false, Some(&call))),
        }
    }
}

impl S3Source {
    /// GetObject, of the current version or of `version_id`: through the bucket's direct lane
    /// when it has one for the key, otherwise (and whenever the lane hands the call back)
    /// through the SDK.
    async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Object, SourceError> {
        let mut refused = false;
        if version_id.is_none() {
            match self.direct.get(bucket, key).await {
                Direct::Answered(response) => {
                    return object_from_direct(bucket, key, *response).await;
                }
                Direct::Refused => refused = true,
                Direct::ToSdk => {}
            }
        }
        let learner = version_id
            .is_none()
            .then(|| self.direct.learner(bucket, key))
            .flatten();
        let request = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned));
        let sent = match &learner {
            Some(learner) => request.customize().interceptor(learner.hook()).send().await,
            None => request.send().await,
        };
        let answer = match sent {
            Ok(answer) => answer,
            Err(e) => return Err(self.get_error(bucket, key, &e).await),
        };
        if let Some(learner) = &learner {
            self.direct.learned(bucket, learner);
        }
        if refused {
            self.direct.refused_wrongly(bucket);
        }
        let metadata: BTreeMap<String, String> = answer
            .metadata()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let retention = retention_of(
            answer.object_lock_mode(),
            answer.object_lock_retain_until_date(),
            answer.object_lock_legal_hold_status(),
        );
        let answered = Answered {
            customer_key: answer.sse_customer_algorithm().map(str::to_owned),
            metadata,
            retention,
            content_length: answer.content_length(),
        };
        answered.into_object(bucket, key, answer.body).await
    }

    /// What a failed GetObject means. Besides [`classify`]: an archived object (`InvalidObjectState`)
    /// and a refusal by KMS, each completed from HeadObject when the error does not say the
    /// storage class or the key (HeadObject reads neither the body nor the key material, so it
    /// answers where GetObject may not).
    async fn get_error(
        &self,
        bucket: &str,
        key: &str,
        error: &SdkError<GetObjectError, HttpResponse>,
    ) -> SourceError {
        let service = error.as_service_error();
        if let Some(GetObjectError::InvalidObjectState(state)) = service {
            let class = state.storage_class().map(|c| c.as_str().to_owned());
            let tier = state.access_tier().map(|t| t.as_str().to_owned());
            let storage_class = match (class, tier) {
                (Some(class), Some(tier)) => format!("{class} ({tier})"),
                (Some(class), None) => class,
                (None, _) => self.head_storage_class(bucket, key).await,
            };
            return SourceError::Archived { storage_class };
        }
        if error.code() == Some("InvalidObjectState") {
            return SourceError::Archived {
                storage_class: self.head_storage_class(bucket, key).await,
            };
        }
        let not_found = service.is_some_and(|s| s.is_no_such_key());
        let classified = classify(error, not_found, None);
        if let SourceError::AccessDenied(message) = &classified
            && is_kms_refusal(error.code().unwrap_or_default(), error.message())
        {
            let key_id = match error.message().and_then(kms_key_in_message) {
                Some(named) => Some(named),
                None => self
                    .client
                    .head_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .ok()
                    .and_then(|head| head.ssekms_key_id().map(str::to_owned)),
            };
            return SourceError::KmsDenied {
                key: key_id,
                message: message.clone(),
            };
        }
        classified
    }

    /// The storage class HeadObject reports, or a description when it cannot say.
    async fn head_storage_class(&self, bucket: &str, key: &str) -> String {
        self.client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .ok()
            .and_then(|head| head.storage_class().map(|c| c.as_str().to_owned()))
            .unwrap_or_else(|| "an archive storage class".into())
    }
}

/// What a `200` GetObject said about the object, through the SDK or a direct lane.
struct Answered {
    /// `x-amz-server-side-encryption-customer-algorithm`.
    customer_key: Option<String>,
    metadata: BTreeMap<String, String>,
    retention: Option<crate::findings::Retention>,
    content_length: Option<i64>,
}

impl Answered {
    /// The object, its body read whole or streamed.
    async fn into_object(
        self,
        bucket: &str,
        key: &str,
        body: aws_sdk_s3::primitives::ByteStream,
    ) -> Result<Object, SourceError> {
        // S3 serves an SSE-C object only to a request carrying its key, which this never sends;
        // a store that serves one anyway still says so.
        if let Some(algorithm) = self.customer_key {
            return Err(SourceError::CustomerEncrypted(format!(
                "the object is encrypted with a customer-provided key ({algorithm})"
            )));
        }
        // A small body (most log files, every digest) is read whole here, so that it can be
        // inflated and hashed on the runtime without a thread hand-off (`perf` over
        // `bench/s3.sh`: a hand-off and a wake-up per object cost more than hashing a few
        // kilobytes). A larger one streams to a blocking thread through the bridge, in fixed
        // buffers, so memory stays bounded whatever the object's size. Either is held to its
        // `Content-Length` here, whatever the HTTP layer did (a direct lane's answer has no SDK
        // check of it): a body that ends early or runs on is a broken transfer, read again.
        let small = self
            .content_length
            .is_some_and(|n| (0..=SMALL_BODY_BYTES).contains(&n));
        let body = if small {
            match body.collect().await {
                Ok(bytes) => {
                    let bytes = bytes.into_bytes();
                    let expected = self.content_length.unwrap_or_default();
                    if i64::try_from(bytes.len()).ok() != Some(expected) {
                        return Err(SourceError::Interrupted(format!(
                            "reading the body failed: {} bytes under a Content-Length of {expected}",
                            bytes.len()
                        )));
                    }
                    Body::InMemory(bytes)
                }
                Err(e) => {
                    // One line (the causes' own words, not the SDK's `Debug` dump, which
                    // `--debug` shows).
                    tracing::debug!(bucket, key, error = ?e, "reading the body failed");
                    return Err(SourceError::Interrupted(format!(
                        "reading the body failed: {}",
                        crate::aws::cause_chain(&e)
                    )));
                }
            }
        } else {
            let reader = SyncIoBridge::new(body.into_async_read());
            match self.content_length.and_then(|n| u64::try_from(n).ok()) {
                Some(length) => Body::reader(LengthChecked::new(reader, length)),
                None => Body::reader(reader),
            }
        };
        Ok(Object {
            metadata: self.metadata,
            metadata_problem: None,
            body,
            retention: self.retention,
        })
    }
}

/// A body reader held to its `Content-Length`: fewer bytes before the end, or more, is an
/// error of the read (a broken transfer), never a shorter or longer body.
struct LengthChecked<R> {
    inner: R,
    /// Bytes still to come.
    left: u64,
}

impl<R> LengthChecked<R> {
    fn new(inner: R, length: u64) -> Self {
        LengthChecked {
            inner,
            left: length,
        }
    }
}

impl<R: std::io::Read> std::io::Read for LengthChecked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "the body ended {} bytes short of its Content-Length",
                    self.left
                ),
            ));
        }
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the body ran past its Content-Length",
            )
        })?;
        Ok(n)
    }
}

/// The object in a direct lane's `200` answer, its headers read as the SDK reads them (a lane
/// hands an answer with user metadata back to the SDK, so there is none here).
async fn object_from_direct(
    bucket: &str,
    key: &str,
    mut response: HttpResponse,
) -> Result<Object, SourceError> {
    use aws_sdk_s3::types::{ObjectLockLegalHoldStatus, ObjectLockMode};
    let headers = response.headers();
    let until = match headers.get("x-amz-object-lock-retain-until-date") {
        None => None,
        Some(date) => Some(
            aws_smithy_types::DateTime::from_str(
                date,
                aws_smithy_types::date_time::Format::DateTimeWithOffset,
            )
            .map_err(|e| {
                SourceError::Unavailable(format!(
                    "the answer's x-amz-object-lock-retain-until-date does not parse: {e}"
                ))
            })?,
        ),
    };
    let answered = Answered {
        customer_key: headers
            .get("x-amz-server-side-encryption-customer-algorithm")
            .map(str::to_owned),
        metadata: BTreeMap::new(),
        retention: retention_of(
            headers
                .get("x-amz-object-lock-mode")
                .map(ObjectLockMode::from)
                .as_ref(),
            until.as_ref(),
            headers
                .get("x-amz-object-lock-legal-hold")
                .map(ObjectLockLegalHoldStatus::from)
                .as_ref(),
        ),
        content_length: headers
            .get("content-length")
            .and_then(|n| n.parse::<i64>().ok()),
    };
    let body = aws_sdk_s3::primitives::ByteStream::new(response.take_body());
    answered.into_object(bucket, key, body).await
}

/// Whether an S3 refusal comes from KMS: the credentials may not use the SSE-KMS key the object
/// is encrypted with. S3 answers `AccessDenied` with KMS's words ("... not authorized to perform:
/// kms:Decrypt on resource: arn:aws:kms:...", or "The ciphertext refers to a customer master key
/// that does not exist ... or you are not allowed to access"), or a `KMS.*` code.
fn is_kms_refusal(code: &str, message: Option<&str>) -> bool {
    if code.starts_with("KMS.") {
        return true;
    }
    let message = message.unwrap_or_default().to_ascii_lowercase();
    message.contains("kms:")
        || message.contains("kms key")
        || message.contains(":kms:")
        || message.contains("customer master key")
}

/// A KMS key ARN named in an error message, if there is one.
fn kms_key_in_message(message: &str) -> Option<String> {
    message
        .split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '(' | ')'))
        .find(|word| word.starts_with("arn:") && word.contains(":kms:"))
        .map(|word| word.trim_end_matches(['.', ';']).to_owned())
}

/// An object version's Object Lock headers as facts; `None` when it has none. A mode S3 may add
/// later is not claimed as either known one.
fn retention_of(
    mode: Option<&aws_sdk_s3::types::ObjectLockMode>,
    until: Option<&aws_sdk_s3::primitives::DateTime>,
    hold: Option<&aws_sdk_s3::types::ObjectLockLegalHoldStatus>,
) -> Option<crate::findings::Retention> {
    use crate::findings::{LockMode, Retention};
    use aws_sdk_s3::types::{ObjectLockLegalHoldStatus, ObjectLockMode};
    let retention = Retention {
        mode: match mode {
            Some(ObjectLockMode::Compliance) => Some(LockMode::Compliance),
            Some(ObjectLockMode::Governance) => Some(LockMode::Governance),
            _ => None,
        },
        retain_until: until
            .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
        legal_hold: hold == Some(&ObjectLockLegalHoldStatus::On),
    };
    retention.is_protected().then_some(retention)
}

/// A lifecycle rule as the facts the trust core judges.
/// A lifecycle rule as facts (the workspace's one reading of GetBucketLifecycleConfiguration,
/// used by the verifier and by `audit`); `index` (0-based) names a rule without an ID. How rules
/// select and expire objects:
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-rules.html>.
pub fn lifecycle_rule(index: usize, rule: &aws_sdk_s3::types::LifecycleRule) -> LifecycleRule {
    use aws_sdk_s3::types::{ExpirationStatus, TransitionStorageClass};
    let date = |d: &aws_smithy_types::DateTime| {
        d.fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_else(|_| d.secs().to_string())
    };
    let filter = rule.filter();
    let and = filter.and_then(|f| f.and());
    // The deprecated rule-level Prefix (older configurations still have it), or no filter at
    // all: every object.
    #[allow(deprecated)]
    let legacy_prefix = rule.prefix();
    let mut others = Vec::new();
    let (own, anded) = (
        filter.and_then(|f| f.prefix()),
        and.and_then(|a| a.prefix()),
    );
    if let (Some(p), Some(q)) = (own, anded)
        && p != q
    {
        others.push(format!("two prefixes {p:?} and {q:?}"));
    }
    let prefix = own
        .or(anded)
        .or(legacy_prefix)
        .unwrap_or_default()
        .to_owned();
    let tags = filter
        .and_then(|f| f.tag())
        .into_iter()
        .chain(and.map(|a| a.tags()).unwrap_or_default());
    for tag in tags {
        others.push(format!("tag {}={}", tag.key(), tag.value()));
    }
    for size in filter
        .and_then(|f| f.object_size_greater_than())
        .into_iter()
        .chain(and.and_then(|a| a.object_size_greater_than()))
    {
        others.push(format!("objects larger than {size} bytes"));
    }
    for size in filter
        .and_then(|f| f.object_size_less_than())
        .into_iter()
        .chain(and.and_then(|a| a.object_size_less_than()))
    {
        others.push(format!("objects smaller than {size} bytes"));
    }
    let filter = if others.is_empty() {
        LifecycleFilter::Prefix { prefix }
    } else {
        LifecycleFilter::Unjudgeable {
            prefix,
            reason: others.join(", "),
        }
    };
    let expiration = rule.expiration().and_then(|e| {
        match (e.days(), e.date()) {
            (Some(days), _) => u32::try_from(days)
                .ok()
                .map(|days| LifecycleExpiration::Days { days }),
            (None, Some(date)) => chrono::DateTime::from_timestamp(date.secs(), 0)
                .map(|date| LifecycleExpiration::Date { date }),
            // Only ExpiredObjectDeleteMarker: removes delete markers, no current object.
            (None, None) => None,
        }
    });
    LifecycleRule {
        id: rule
            .id()
            .filter(|id| !id.is_empty())
            .map_or_else(|| format!("(rule #{})", index + 1), str::to_owned),
        enabled: *rule.status() == ExpirationStatus::Enabled,
        filter,
        expiration,
        noncurrent_days: rule
            .noncurrent_version_expiration()
            .and_then(|n| n.noncurrent_days())
            .and_then(|d| u32::try_from(d).ok()),
        transitions: rule
            .transitions()
            .iter()
            .map(|t| LifecycleTransition {
                after: match (t.days(), t.date()) {
                    (Some(d), _) => format!("{d} days"),
                    (None, Some(d)) => format!("on {}", date(d)),
                    (None, None) => "immediately".to_owned(),
                },
                storage_class: t
                    .storage_class()
                    .map_or("(no storage class)", TransitionStorageClass::as_str)
                    .to_owned(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service_error(
        status: u16,
        code: &str,
        message: &str,
    ) -> SdkError<GetObjectError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        SdkError::service_error(GetObjectError::generic(meta), raw)
    }

    const SSE_C: &str = "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.";

    #[test]
    fn a_streamed_body_is_held_to_its_content_length() {
        use std::io::Read as _;
        let read = |body: &[u8], length: u64| {
            let mut bytes = Vec::new();
            LengthChecked::new(body, length)
                .read_to_end(&mut bytes)
                .map(|_| bytes)
        };
        assert_eq!(read(b"abcdef", 6).unwrap(), b"abcdef");
        assert_eq!(read(b"", 0).unwrap(), b"");
        let short = read(b"abc", 6).unwrap_err();
        assert_eq!(short.kind(), std::io::ErrorKind::UnexpectedEof);
        assert!(short.to_string().contains("3 bytes short"), "{short}");
        assert_eq!(
            read(b"abcdefg", 6).unwrap_err().kind(),
            std::io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn a_kms_refusal_is_told_from_other_refusals_and_names_its_key() {
        let kms = "User: arn:aws:iam::111122223333:user/auditor is not authorized to perform: \
                   kms:Decrypt on resource: arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab \
                   because no identity-based policy allows the kms:Decrypt action";
        assert!(is_kms_refusal("AccessDenied", Some(kms)));
        assert_eq!(
            kms_key_in_message(kms).as_deref(),
            Some("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab")
        );
        let old = "The ciphertext refers to a customer master key that does not exist, does not \
                   exist in this region, or you are not allowed to access.";
        assert!(is_kms_refusal("AccessDenied", Some(old)));
        assert_eq!(kms_key_in_message(old), None);
        assert!(is_kms_refusal("KMS.DisabledException", None));
        assert!(!is_kms_refusal("AccessDenied", Some("Access Denied")));
        assert!(!is_kms_refusal("AccessDenied", None));
    }

    #[test]
    fn lifecycle_filters_become_prefixes_or_unjudgeable() {
        use aws_sdk_s3::types::{
            ExpirationStatus, LifecycleExpiration as Exp, LifecycleRule as Rule,
            LifecycleRuleAndOperator, LifecycleRuleFilter, Tag,
        };
        let base = || {
            Rule::builder()
                .id("r")
                .status(ExpirationStatus::Enabled)
                .expiration(Exp::builder().days(30).build())
        };
        let facts = lifecycle_rule(
            0,
            &base()
                .filter(LifecycleRuleFilter::builder().prefix("AWSLogs/").build())
                .build()
                .unwrap(),
        );
        assert_eq!(
            facts.filter,
            LifecycleFilter::Prefix {
                prefix: "AWSLogs/".into()
            }
        );
        assert_eq!(
            facts.expiration,
            Some(LifecycleExpiration::Days { days: 30 })
        );
        assert!(facts.enabled);
        let tagged = lifecycle_rule(
            0,
            &base()
                .filter(
                    LifecycleRuleFilter::builder()
                        .tag(Tag::builder().key("k").value("v").build().unwrap())
                        .build(),
                )
                .build()
                .unwrap(),
        );
        assert!(matches!(tagged.filter, LifecycleFilter::Unjudgeable { .. }));
        let and = lifecycle_rule(
            0,
            &base()
                .filter(
                    LifecycleRuleFilter::builder()
                        .and(
                            LifecycleRuleAndOperator::builder()
                                .prefix("AWSLogs/")
                                .tags(Tag::builder().key("k").value("v").build().unwrap())
                                .build(),
                        )
                        .build(),
                )
                .build()
                .unwrap(),
        );
        assert_eq!(
            and.filter,
            LifecycleFilter::Unjudgeable {
                prefix: "AWSLogs/".into(),
                reason: "tag k=v".into()
            }
        );
        // The deprecated rule-level Prefix, as older configurations hold it.
        #[allow(deprecated)]
        let disabled = lifecycle_rule(
            0,
            &Rule::builder()
                .status(ExpirationStatus::Disabled)
                .prefix("")
                .build()
                .unwrap(),
        );
        assert!(!disabled.enabled);
        assert_eq!(disabled.expiration, None);
        assert_eq!(disabled.id, "(rule #1)");
    }

    #[test]
    fn an_sse_c_refusal_is_customer_encrypted_and_other_errors_keep_their_meaning() {
        assert_eq!(
            classify(&service_error(400, "InvalidRequest", SSE_C), false, None),
            SourceError::CustomerEncrypted(format!("InvalidRequest: {SSE_C}"))
        );
        assert!(matches!(
            classify(
                &service_error(400, "InvalidRequest", "Missing required header"),
                false,
                None
            ),
            SourceError::Unavailable(_)
        ));
        assert!(matches!(
            classify(&service_error(403, "InvalidRequest", SSE_C), false, None),
            SourceError::AccessDenied(_)
        ));
        assert!(matches!(
            classify(&service_error(400, "InvalidArgument", SSE_C), false, None),
            SourceError::Unavailable(_)
        ));
        assert_eq!(
            classify(&service_error(404, "NoSuchKey", "gone"), false, None),
            SourceError::NotFound
        );
        assert!(matches!(
            classify(&service_error(403, "AccessDenied", "no"), false, None),
            SourceError::AccessDenied(_)
        ));
    }
}
