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

    /// Sets the description used in reports (for instance the endpoint).
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
}

/// Maps an SDK error onto what it means for evidence: only a definite "no such key" is
/// `NotFound`; a refusal is `AccessDenied`; everything else is `Unavailable`.
fn classify<E>(error: &SdkError<E, HttpResponse>, not_found: bool) -> SourceError
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
    let message = match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => format!(
            "{}",
            aws_smithy_types::error::display::DisplayErrorContext(error)
        ),
    };
    match (status, code.as_str()) {
        (_, "NoSuchKey") | (Some(404), _) => SourceError::NotFound,
        (Some(403), _) | (_, "AccessDenied") => SourceError::AccessDenied(message),
        _ => SourceError::Unavailable(message),
    }
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
            .map_err(|e| classify(&e, false))?;
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
            let page = page.map_err(|e| classify(&e, false))?;
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
                classify(&e, not_found)
            })?;
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
