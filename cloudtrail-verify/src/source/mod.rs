//! Where objects come from. The verifier reads through [`ObjectSource`] and never cares whether
//! bytes come from S3 or from a local copy of a bucket.

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::io::Read;

#[cfg(feature = "aws")]
pub(crate) mod ahead;
#[cfg(feature = "aws")]
mod direct;
pub mod local;
#[cfg(feature = "aws")]
pub mod s3;

pub use local::LocalDirectory;
#[cfg(feature = "aws")]
pub use s3::S3Source;

mod facts;
pub use facts::{
    LifecycleExpiration, LifecycleFilter, LifecycleRule, LifecycleTransition, ObjectVersion,
};

/// One object: its user metadata (`x-amz-meta-*`, names without the prefix, lower-case) and a
/// body to stream.
pub struct Object {
    /// User metadata. Digests carry `signature` and `signature-algorithm` here.
    pub metadata: BTreeMap<String, String>,
    /// Set when the object's metadata was present but could not be read as metadata (a local
    /// sidecar that is not a JSON object of strings). CloudTrail never writes such metadata, so
    /// the verifier treats it as tampering; `metadata` is then empty.
    pub metadata_problem: Option<String>,
    /// The body: already in memory, or a *blocking* reader.
    pub body: Body,
    /// The version's S3 Object Lock protection, when the store reports one (S3's GetObject
    /// headers); `None` from a store without Object Lock (a local copy).
    pub retention: Option<crate::findings::Retention>,
}

/// An object's bytes, as its source got them.
pub enum Body {
    /// Read whole already (a small S3 object): reading it never waits on I/O, so a few
    /// kilobytes can be inflated and hashed where they are, without a thread hand-off.
    InMemory(bytes::Bytes),
    /// A *blocking* reader (a local file, a large S3 object still streaming in): read it off
    /// the async runtime (for instance in `tokio::task::spawn_blocking`), where CPU-bound
    /// gunzip and hashing belong anyway.
    Reader(Box<dyn Read + Send>),
}

impl Body {
    /// A body streaming from `reader`.
    pub fn reader(reader: impl Read + Send + 'static) -> Self {
        Body::Reader(Box::new(reader))
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::InMemory(bytes) => write!(f, "Body::InMemory({} bytes)", bytes.len()),
            Body::Reader(_) => f.write_str("Body::Reader"),
        }
    }
}

/// Reads either kind of body the same way; an in-memory body is consumed as it is read.
impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Body::InMemory(bytes) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes.split_to(n));
                Ok(n)
            }
            Body::Reader(reader) => reader.read(buf),
        }
    }
}

/// Whether a bucket keeps the versions of its objects (GetBucketVersioning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Versioning {
    /// Every overwrite and deletion leaves the previous version.
    Enabled,
    /// Versioning was on and is suspended: versions kept from then remain, new writes replace
    /// the `null` version without a trace.
    Suspended,
    /// The bucket never had versioning: an overwrite or deletion leaves no trace.
    NotEnabled,
    /// The store has no versions at all (a local copy).
    Unsupported,
}

/// One page of a listing ([`ObjectSource::list_page`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// The keys, ascending, each with its size when the store reports it.
    pub keys: Vec<(String, Option<u64>)>,
    /// The store said no key follows these: the listing is complete.
    pub complete: bool,
}

/// One page of a version listing: `(key, version)` in ListObjectVersions order (keys ascending,
/// each key's versions newest first), and where the next page starts when there is one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionPage {
    /// The entries, delete markers included.
    pub entries: Vec<(String, ObjectVersion)>,
    /// `(key marker, version id marker)` for the next page; `None` at the end.
    pub next: Option<(String, Option<String>)>,
}

/// Why an object or a listing could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The object does not exist. For evidence this means it was deleted.
    #[error("not found")]
    NotFound,
    /// The store refused access: nothing can be said about the object.
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// The store could not be reached or failed after retries (network, timeouts, 5xx).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The object's body broke off while it was being received (a connection reset, fewer
    /// bytes than its `Content-Length`, a checksum that did not match): nothing is known about
    /// its content, and another read may well succeed.
    #[error("the transfer broke off: {0}")]
    Interrupted(String),
    /// The object is encrypted with a customer-provided key (SSE-C). CloudTrail never writes
    /// SSE-C objects, so one in a trail's folders was put there by someone else.
    #[error("encrypted with a customer-provided key (SSE-C), which CloudTrail never uses: {0}")]
    CustomerEncrypted(String),
    /// In a local copy, the path is not a regular file inside the copy (a FIFO, a device, a
    /// directory, or a symbolic link leading out of it). `aws s3 sync` writes only regular files.
    #[error("not a regular file inside the local copy: {0}")]
    NotARegularFile(String),
    /// A key that cannot be safely mapped onto this store (e.g. `..` segments for a directory).
    #[error("unsafe key {0:?}")]
    UnsafeKey(String),
    /// The object is in an archive storage class (S3 Glacier Flexible Retrieval, Deep Archive,
    /// an Intelligent-Tiering archive tier) and was not restored: S3 answers
    /// `InvalidObjectState` to a GET until it is.
    #[error("archived in {storage_class}: restore needed")]
    Archived {
        /// The storage class (and access tier) S3 named.
        storage_class: String,
    },
    /// The object is encrypted with SSE-KMS and the credentials in use may not decrypt with
    /// the key: S3 answers `AccessDenied` naming KMS.
    #[error("access denied by KMS: {message}")]
    KmsDenied {
        /// The key's ARN or id, when S3 named it (in the message, or in HeadObject's answer).
        key: Option<String>,
        /// S3's answer, as `Code: message`.
        message: String,
    },
}

/// A read-only store of objects addressed by bucket and key, like S3.
#[async_trait]
pub trait ObjectSource: Send + Sync {
    /// Returns one page of keys under `prefix`, strictly after `start_after`, in ascending byte
    /// order. A page may be of any size: S3 returns up to 1,000 keys, a local copy every
    /// remaining key at once. Only an empty page ends a listing (or one
    /// [`ObjectSource::list_page`] says is complete); callers ask again with `start_after` set
    /// to the last key returned until they get one. Keys that are not UTF-8
    /// cannot be returned, and a store that holds such names (a local copy) skips them.
    async fn list_keys(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<String>, SourceError>;

    /// One page of keys as [`ObjectSource::list_keys`] returns it, each with its size when the
    /// store reports it (S3's ListObjectsV2 does, at no extra request), so that a sweep's bytes
    /// can be estimated before anything is read. The default reports no sizes.
    async fn list_sized(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<(String, Option<u64>)>, SourceError> {
        Ok(self
            .list_keys(bucket, prefix, start_after)
            .await?
            .into_iter()
            .map(|key| (key, None))
            .collect())
    }

    /// One page as [`ObjectSource::list_sized`] returns it, and whether the store said that
    /// nothing follows it (S3's `IsTruncated` false), so that a listing ends without asking for
    /// the empty page after its last (one round trip fewer per listing). The default knows only
    /// what the contract says: an empty page ends a listing.
    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<ListPage, SourceError> {
        let keys = self.list_sized(bucket, prefix, start_after).await?;
        Ok(ListPage {
            complete: keys.is_empty(),
            keys,
        })
    }

    /// Returns the names of the sub-folders directly under `prefix` (which ends in `/`), without
    /// the prefix and without the trailing `/`, sorted.
    async fn list_folders(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, SourceError>;

    /// Listing requests sent so far, where the store counts them (S3: ListObjectsV2 pages),
    /// so that a sweep's estimate includes the set-up's listings; `None` by default.
    fn list_requests(&self) -> Option<u64> {
        None
    }

    /// Opens an object for reading.
    async fn get(&self, bucket: &str, key: &str) -> Result<Object, SourceError>;

    /// Whether a read can break off or come back cut short on its way (a network between the
    /// store and the reader), so that a failed or short read is worth doing again. A local copy
    /// reads what is stored: the default, `false`.
    fn reads_may_break(&self) -> bool {
        false
    }

    /// Whether object metadata is kept beside each object as `KEY.metadata.json` (a local
    /// copy, see [`LocalDirectory`]), so that a digest deleted from the copy may leave its
    /// sidecar behind, listed as an object of its own. In S3, metadata is part of the object:
    /// the default, `false`.
    fn keeps_metadata_in_sidecars(&self) -> bool {
        false
    }

    /// A short description of where objects come from, for reports (`s3://`, a directory).
    fn describe(&self) -> String;

    /// Where a folder or object is, as a reader would look for it: `s3://BUCKET/KEY` by
    /// default, a path for a local copy.
    fn location(&self, bucket: &str, key: &str) -> String {
        format!("s3://{bucket}/{key}")
    }

    /// The lifecycle rules of `bucket` (an empty list when it has none). A local copy has none:
    /// the default.
    ///
    /// # Errors
    /// When the rules could not be read: then no missing object can be excused by them.
    async fn lifecycle_rules(&self, bucket: &str) -> Result<Vec<LifecycleRule>, SourceError> {
        let _ = bucket;
        Ok(Vec::new())
    }

    /// Whether `bucket` keeps versions. A store without versions (a local copy) answers
    /// [`Versioning::Unsupported`]: the default.
    ///
    /// # Errors
    /// When the state could not be read.
    async fn versioning(&self, bucket: &str) -> Result<Versioning, SourceError> {
        let _ = bucket;
        Ok(Versioning::Unsupported)
    }

    /// One page of the versions of the keys under `prefix` (ListObjectVersions), starting after
    /// `marker` (a page's `next`). A store without versions lists none: the default.
    ///
    /// # Errors
    /// When the listing could not be read.
    async fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        marker: Option<(&str, Option<&str>)>,
    ) -> Result<VersionPage, SourceError> {
        let _ = (bucket, prefix, marker);
        Ok(VersionPage::default())
    }

    /// Opens one version of an object (GetObject with `versionId`). A store without versions
    /// has none: the default answers [`SourceError::NotFound`].
    ///
    /// # Errors
    /// As [`ObjectSource::get`].
    async fn get_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Object, SourceError> {
        let _ = (bucket, key, version_id);
        Err(SourceError::NotFound)
    }
}

/// A local copy that records the listing pages asked of it: unit tests check which requests
/// a run makes.
#[cfg(test)]
pub(crate) struct RecordingPages {
    inner: LocalDirectory,
    pages: std::sync::Mutex<Vec<(String, String, Option<String>)>>,
}

#[cfg(test)]
impl RecordingPages {
    /// Over the local copy at `dir`.
    pub(crate) fn new(dir: &std::path::Path) -> Self {
        RecordingPages {
            inner: LocalDirectory::new(dir).expect("a local copy"),
            pages: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The `list_page` requests so far: bucket, prefix, start-after.
    pub(crate) fn pages(&self) -> Vec<(String, String, Option<String>)> {
        self.pages.lock().expect("not poisoned").clone()
    }
}

#[cfg(test)]
#[async_trait]
impl ObjectSource for RecordingPages {
    async fn list_keys(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<String>, SourceError> {
        self.inner.list_keys(bucket, prefix, start_after).await
    }

    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<ListPage, SourceError> {
        self.pages.lock().expect("not poisoned").push((
            bucket.to_owned(),
            prefix.to_owned(),
            start_after.map(str::to_owned),
        ));
        self.inner.list_page(bucket, prefix, start_after).await
    }

    async fn list_folders(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, SourceError> {
        self.inner.list_folders(bucket, prefix).await
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Object, SourceError> {
        self.inner.get(bucket, key).await
    }

    fn describe(&self) -> String {
        "a recording local copy".into()
    }
}

#[cfg(test)]
mod tests {
    use super::Body;
    use std::io::Read;

    #[test]
    fn an_in_memory_body_reads_as_its_bytes_in_any_chunking() {
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let mut body = Body::InMemory(bytes::Bytes::from(data.clone()));
        let mut out = Vec::new();
        let mut chunk = [0u8; 333];
        loop {
            let n = body.read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(out, data);
        let mut reader = Body::reader(&b"abc"[..]);
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        assert_eq!(text, "abc");
    }
}
