//! Requests asked before the walk needs them.
//!
//! Before a run reads its first digest it waits for answers one after the other: the bucket's
//! region and chains, then the digest folder's first page and the bucket's lifecycle rules and
//! versioning, then the digest. What the walk will ask first can be known before the chains
//! are: the trail's own account and home region almost always hold a chain, and every walk
//! reads the bucket's rules. [`RequestsAhead`] sends those requests while the run still waits
//! for the others and hands each answer to the walk when it asks the same question, one round
//! trip sooner.
//!
//! Nothing about an answer changes: it is the store's answer to the same request, made a few
//! milliseconds earlier, and every key it lists is checked as any other listing's. A request
//! the walk never makes (the guess was wrong) costs one request and is dropped with the source.

use super::{ListPage, Object, ObjectSource, SourceError, VersionPage, Versioning};
use crate::source::LifecycleRule;
use crate::task::AbortOnDrop;
use async_trait::async_trait;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

/// Requests of one kind sent ahead, by what they asked, until their answer is taken (those
/// never taken are stopped when the source is dropped).
struct Pending<K, T> {
    sent: Mutex<HashMap<K, AbortOnDrop<Result<T, SourceError>>>>,
}

impl<K: Hash + Eq, T: Send + 'static> Pending<K, T> {
    fn new() -> Self {
        Pending {
            sent: Mutex::new(HashMap::new()),
        }
    }

    /// Sends `request` now (on the runtime), unless the same was sent and not taken yet.
    fn send(
        &self,
        key: K,
        request: impl FnOnce() -> futures::future::BoxFuture<'static, Result<T, SourceError>>,
    ) {
        let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        sent.entry(key)
            .or_insert_with(|| AbortOnDrop::spawn(request()));
    }

    /// The answer to `key` if it was sent ahead, else `direct`'s. Each answer is handed out
    /// once: the same request later is sent again, as it would have been.
    async fn answer<F>(&self, key: &K, direct: F) -> Result<T, SourceError>
    where
        F: Future<Output = Result<T, SourceError>>,
    {
        let sent = self
            .sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
        match sent {
            Some(mut answer) => match (&mut answer.0).await {
                Ok(answer) => answer,
                // Cancelled or panicked: asked again, as if never asked ahead.
                Err(_) => direct.await,
            },
            None => direct.await,
        }
    }
}

/// An [`ObjectSource`] that answers the listing pages, lifecycle rules and versioning asked
/// for ahead ([`RequestsAhead::ask_page`], [`RequestsAhead::ask_bucket_facts`]) from the
/// requests already made, and every other call from the source it wraps.
pub struct RequestsAhead {
    inner: Arc<dyn ObjectSource>,
    /// `list_page` requests: bucket, prefix, start-after.
    pages: Pending<(String, String, Option<String>), ListPage>,
    /// `lifecycle_rules` requests, by bucket.
    lifecycle: Pending<String, Vec<LifecycleRule>>,
    /// `versioning` requests, by bucket.
    versioning: Pending<String, Versioning>,
}

impl RequestsAhead {
    /// Wraps `inner`; nothing is asked ahead yet.
    pub fn new(inner: Arc<dyn ObjectSource>) -> Self {
        RequestsAhead {
            inner,
            pages: Pending::new(),
            lifecycle: Pending::new(),
            versioning: Pending::new(),
        }
    }

    /// Sends `list_page(bucket, prefix, start_after)` now; the first identical `list_page`
    /// gets its answer. Asking the same page twice sends it once.
    pub fn ask_page(&self, bucket: &str, prefix: &str, start_after: Option<&str>) {
        let request = (
            bucket.to_owned(),
            prefix.to_owned(),
            start_after.map(str::to_owned),
        );
        let inner = self.inner.clone();
        let (b, p, a) = request.clone();
        self.pages.send(request, move || {
            Box::pin(async move { inner.list_page(&b, &p, a.as_deref()).await })
        });
    }

    /// Sends `lifecycle_rules(bucket)` now, and `versioning(bucket)` too when `versioning`.
    pub fn ask_bucket_facts(&self, bucket: &str, versioning: bool) {
        let inner = self.inner.clone();
        let b = bucket.to_owned();
        self.lifecycle.send(bucket.to_owned(), move || {
            Box::pin(async move { inner.lifecycle_rules(&b).await })
        });
        if versioning {
            let inner = self.inner.clone();
            let b = bucket.to_owned();
            self.versioning.send(bucket.to_owned(), move || {
                Box::pin(async move { inner.versioning(&b).await })
            });
        }
    }
}

#[async_trait]
impl ObjectSource for RequestsAhead {
    async fn list_keys(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<String>, SourceError> {
        self.inner.list_keys(bucket, prefix, start_after).await
    }

    async fn list_sized(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<(String, Option<u64>)>, SourceError> {
        self.inner.list_sized(bucket, prefix, start_after).await
    }

    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<ListPage, SourceError> {
        let request = (
            bucket.to_owned(),
            prefix.to_owned(),
            start_after.map(str::to_owned),
        );
        self.pages
            .answer(&request, self.inner.list_page(bucket, prefix, start_after))
            .await
    }

    async fn list_folders(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, SourceError> {
        self.inner.list_folders(bucket, prefix).await
    }

    fn list_requests(&self) -> Option<u64> {
        self.inner.list_requests()
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Object, SourceError> {
        self.inner.get(bucket, key).await
    }

    fn reads_may_break(&self) -> bool {
        self.inner.reads_may_break()
    }

    fn keeps_metadata_in_sidecars(&self) -> bool {
        self.inner.keeps_metadata_in_sidecars()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn location(&self, bucket: &str, key: &str) -> String {
        self.inner.location(bucket, key)
    }

    async fn lifecycle_rules(&self, bucket: &str) -> Result<Vec<LifecycleRule>, SourceError> {
        self.lifecycle
            .answer(&bucket.to_owned(), self.inner.lifecycle_rules(bucket))
            .await
    }

    async fn versioning(&self, bucket: &str) -> Result<Versioning, SourceError> {
        self.versioning
            .answer(&bucket.to_owned(), self.inner.versioning(bucket))
            .await
    }

    async fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        marker: Option<(&str, Option<&str>)>,
    ) -> Result<VersionPage, SourceError> {
        self.inner.list_versions(bucket, prefix, marker).await
    }

    async fn get_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Object, SourceError> {
        self.inner.get_version(bucket, key, version_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::RecordingPages;

    fn copy_with(keys: &[&str]) -> (tempfile::TempDir, Arc<RecordingPages>) {
        let dir = tempfile::tempdir().unwrap();
        for key in keys {
            let path = dir.path().join("b").join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
        let recording = Arc::new(RecordingPages::new(dir.path()));
        (dir, recording)
    }

    #[tokio::test]
    async fn a_page_asked_ahead_is_the_same_page_and_costs_no_second_request() {
        let (_dir, recording) = copy_with(&["p/1", "p/2", "q/3"]);
        let ahead = RequestsAhead::new(recording.clone());
        ahead.ask_page("b", "p/", None);
        ahead.ask_page("b", "p/", None);
        let page = ahead.list_page("b", "p/", None).await.unwrap();
        let direct = recording.list_page("b", "p/", None).await.unwrap();
        assert_eq!(page, direct);
        // One request asked ahead (asked twice, sent once), one made directly.
        assert_eq!(recording.pages().len(), 2);
        // Handed out once: the same request again is sent again.
        ahead.list_page("b", "p/", None).await.unwrap();
        assert_eq!(recording.pages().len(), 3);
    }

    #[tokio::test]
    async fn a_different_page_is_not_answered_from_the_one_asked_ahead() {
        let (_dir, recording) = copy_with(&["p/1", "p/2"]);
        let ahead = RequestsAhead::new(recording.clone());
        ahead.ask_page("b", "p/", Some("p/1"));
        let page = ahead.list_page("b", "p/", None).await.unwrap();
        assert_eq!(page, recording.list_page("b", "p/", None).await.unwrap());
        let after = ahead.list_page("b", "p/", Some("p/1")).await.unwrap();
        assert_eq!(
            after
                .keys
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>(),
            ["p/2"]
        );
    }
}
