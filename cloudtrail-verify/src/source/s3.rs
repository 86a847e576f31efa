//! Objects read from Amazon S3 or an S3-compatible store, through `aws-sdk-s3`.
//!
//! Throttling and 5xx answers are retried with backoff by the SDK's standard retry strategy
//! (configured by [`crate::aws::s3_client`] callers through the `SdkConfig`); what still fails is
//! returned as [`SourceError::AccessDenied`] or [`SourceError::Unavailable`] and the run goes on.

use super::{Object, ObjectSource, SourceError};
use async_trait::async_trait;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use std::collections::BTreeMap;
use tokio_util::io::SyncIoBridge;

/// Reads objects with an S3 client.
#[derive(Debug, Clone)]
pub struct S3Source {
    client: aws_sdk_s3::Client,
    description: String,
}

impl S3Source {
    /// Uses `client`, which must be configured for the bucket's region.
    pub fn new(client: aws_sdk_s3::Client) -> Self {
        S3Source {
            client,
            description: "Amazon S3".into(),
        }
    }

    /// ListObjectsV2 in the client's region, for error hints.
    fn list_call(&self) -> crate::aws::AwsCall<'_> {
        crate::aws::AwsCall::new(
            "ListObjectsV2",
            "s3:ListBucket",
            self.client.config().region().map(|r| r.as_ref()),
        )
    }

    /// Sets the description used in reports (for instance the endpoint).
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
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
        let answer = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_start_after(start_after.map(str::to_owned))
            .send()
            .await
            .map_err(|e| classify(&e, false, Some(&self.list_call())))?;
        Ok(answer
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect())
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

    async fn get(&self, bucket: &str, key: &str) -> Result<Object, SourceError> {
        let answer = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                let not_found = e.as_service_error().is_some_and(|s| s.is_no_such_key());
                classify(&e, not_found, None)
            })?;
        // S3 serves an SSE-C object only to a request carrying its key, which this never sends;
        // a store that serves one anyway still says so.
        if let Some(algorithm) = answer.sse_customer_algorithm() {
            return Err(SourceError::CustomerEncrypted(format!(
                "the object is encrypted with a customer-provided key ({algorithm})"
            )));
        }
        let metadata: BTreeMap<String, String> = answer
            .metadata()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        // The body is read on a blocking thread by the hasher; the bridge hands it the async
        // stream, which keeps being driven by this runtime.
        let body = SyncIoBridge::new(answer.body.into_async_read());
        Ok(Object {
            metadata,
            metadata_problem: None,
            body: Box::new(body),
        })
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::get_object::GetObjectError;
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
