//! A local copy of buckets: `ROOT/BUCKET/KEY`, as `aws s3 sync s3://BUCKET ROOT/BUCKET` writes.
//!
//! S3 user metadata does not survive such a copy. When an object's metadata matters (a digest's
//! signature), it may be kept beside it in `KEY.metadata.json`, a JSON object of strings such as
//! `{"signature": "...", "signature-algorithm": "SHA256withRSA"}`. Those sidecars are not objects
//! of their own: listings skip them.

use super::{Object, ObjectSource, SourceError};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Suffix of the file holding an object's user metadata.
pub const METADATA_SUFFIX: &str = ".metadata.json";

/// Largest metadata sidecar read; real user metadata is limited to 2 KB by S3.
const MAX_METADATA_BYTES: u64 = 64 * 1024;

/// Objects read from a directory holding one folder per bucket.
#[derive(Debug, Clone)]
pub struct LocalDirectory {
    root: PathBuf,
}

impl LocalDirectory {
    /// Uses `root`, which must be a directory holding one folder per bucket.
    pub fn new(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(LocalDirectory { root })
    }

    /// The buckets present (the folders directly under the root).
    pub fn buckets(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            if entry.file_type()?.is_dir()
                && let Some(name) = entry.file_name().to_str()
            {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Maps bucket and key to a path under the root, refusing anything that could leave it:
    /// keys come from digest files, which are hostile input until verified.
    fn path_of(&self, bucket: &str, key: &str) -> Result<PathBuf, SourceError> {
        let unsafe_key = || SourceError::UnsafeKey(format!("{bucket}/{key}"));
        let safe_segment =
            |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains(['\\', '\0']);
        if !safe_segment(bucket) || bucket.contains('/') {
            return Err(unsafe_key());
        }
        if key.is_empty() || !key.split('/').all(safe_segment) {
            return Err(unsafe_key());
        }
        let mut path = self.root.join(bucket);
        path.extend(key.split('/'));
        Ok(path)
    }
}

fn io_error(e: io::Error, what: &Path) -> SourceError {
    match e.kind() {
        io::ErrorKind::NotFound => SourceError::NotFound,
        io::ErrorKind::PermissionDenied => {
            SourceError::AccessDenied(format!("{}: {e}", what.display()))
        }
        _ => SourceError::Unavailable(format!("{}: {e}", what.display())),
    }
}

/// Reads a metadata sidecar if there is one.
fn read_metadata(path: &Path) -> Result<BTreeMap<String, String>, SourceError> {
    let mut sidecar = path.as_os_str().to_owned();
    sidecar.push(METADATA_SUFFIX);
    let sidecar = PathBuf::from(sidecar);
    let file = match std::fs::File::open(&sidecar) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io_error(e, &sidecar)),
    };
    let mut text = Vec::new();
    file.take(MAX_METADATA_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| io_error(e, &sidecar))?;
    if text.len() as u64 > MAX_METADATA_BYTES {
        return Err(SourceError::Unavailable(format!(
            "{}: metadata sidecar larger than {MAX_METADATA_BYTES} bytes",
            sidecar.display()
        )));
    }
    let map: BTreeMap<String, String> = serde_json::from_slice(&text).map_err(|e| {
        SourceError::Unavailable(format!(
            "{}: metadata sidecar is not a JSON object of strings: {e}",
            sidecar.display()
        ))
    })?;
    Ok(map
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect())
}

/// Collects, below `dir`, the keys (relative to the bucket folder) that start with `prefix`.
fn collect_keys(dir: &Path, rel: &str, prefix: &str, out: &mut Vec<String>) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue; // not UTF-8: cannot be an S3 key written by sync
        };
        let key = format!("{rel}{name}");
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            let folder = format!("{key}/");
            // Descend only where keys could still match the prefix.
            if folder.starts_with(prefix) || prefix.starts_with(&folder) {
                collect_keys(&entry.path(), &folder, prefix, out)?;
            }
        } else if key.starts_with(prefix) && !key.ends_with(METADATA_SUFFIX) {
            out.push(key);
        }
    }
    Ok(())
}

/// Page size of local listings, like S3's.
const PAGE: usize = 1000;

#[async_trait]
impl ObjectSource for LocalDirectory {
    async fn list_keys(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<String>, SourceError> {
        let bucket_dir = self.path_of(bucket, "x")?;
        let bucket_dir = bucket_dir
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        // Start at the deepest folder the prefix names, to avoid walking the whole bucket.
        let (start_rel, start_dir) = match prefix.rsplit_once('/') {
            Some((folders, _)) if !folders.is_empty() => {
                let dir = self.path_of(bucket, folders)?;
                (format!("{folders}/"), dir)
            }
            _ => (String::new(), bucket_dir.clone()),
        };
        let prefix = prefix.to_owned();
        let start_after = start_after.map(str::to_owned);
        tokio::task::spawn_blocking(move || {
            let mut keys = Vec::new();
            collect_keys(&start_dir, &start_rel, &prefix, &mut keys)
                .map_err(|e| io_error(e, &start_dir))?;
            keys.sort_unstable();
            let first = match &start_after {
                Some(after) => keys.partition_point(|k| k.as_str() <= after.as_str()),
                None => 0,
            };
            Ok(keys.into_iter().skip(first).take(PAGE).collect())
        })
        .await
        .map_err(|e| SourceError::Unavailable(format!("listing task failed: {e}")))?
    }

    async fn list_folders(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, SourceError> {
        let dir = match prefix.trim_end_matches('/') {
            "" => self
                .path_of(bucket, "x")?
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            folders => self.path_of(bucket, folders)?,
        };
        tokio::task::spawn_blocking(move || {
            let mut names = Vec::new();
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(names),
                Err(e) => return Err(io_error(e, &dir)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| io_error(e, &dir))?;
                let is_dir = entry.file_type().map_err(|e| io_error(e, &dir))?.is_dir();
                if let (true, Some(name)) = (is_dir, entry.file_name().to_str()) {
                    names.push(name.to_owned());
                }
            }
            names.sort();
            Ok(names)
        })
        .await
        .map_err(|e| SourceError::Unavailable(format!("listing task failed: {e}")))?
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Object, SourceError> {
        let path = self.path_of(bucket, key)?;
        tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&path).map_err(|e| io_error(e, &path))?;
            if file.metadata().map_err(|e| io_error(e, &path))?.is_dir() {
                return Err(SourceError::NotFound);
            }
            let metadata = read_metadata(&path)?;
            Ok(Object {
                metadata,
                metadata_problem: None,
                body: Box::new(file),
            })
        })
        .await
        .map_err(|e| SourceError::Unavailable(format!("read task failed: {e}")))?
    }

    fn describe(&self) -> String {
        format!("local copy at {}", self.root.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_that_would_leave_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("b")).unwrap();
        let src = LocalDirectory::new(dir.path()).unwrap();
        for key in ["../secret", "a/../../x", "/etc/passwd", "a//b", "a\\b", ""] {
            assert!(
                matches!(src.get("b", key).await, Err(SourceError::UnsafeKey(_))),
                "{key}"
            );
        }
        assert!(matches!(
            src.get("..", "x").await,
            Err(SourceError::UnsafeKey(_))
        ));
    }

    #[tokio::test]
    async fn listing_is_sorted_skips_sidecars_and_starts_after_a_key() {
        let dir = tempfile::tempdir().unwrap();
        for key in ["p/a/2", "p/a/1", "p/b/1", "p/a/1.metadata.json", "q/1"] {
            let path = dir.path().join("b").join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
        let src = LocalDirectory::new(dir.path()).unwrap();
        assert_eq!(
            src.list_keys("b", "p/", None).await.unwrap(),
            ["p/a/1", "p/a/2", "p/b/1"]
        );
        assert_eq!(
            src.list_keys("b", "p/a", Some("p/a/1")).await.unwrap(),
            ["p/a/2"]
        );
        assert_eq!(src.list_folders("b", "p/").await.unwrap(), ["a", "b"]);
        assert!(src.list_keys("b", "zz/", None).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn metadata_comes_from_the_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b/k");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"body").unwrap();
        std::fs::write(
            dir.path().join("b/k.metadata.json"),
            br#"{"Signature":"ab"}"#,
        )
        .unwrap();
        let src = LocalDirectory::new(dir.path()).unwrap();
        let mut obj = src.get("b", "k").await.unwrap();
        assert_eq!(
            obj.metadata.get("signature").map(String::as_str),
            Some("ab")
        );
        let mut body = String::new();
        obj.body.read_to_string(&mut body).unwrap();
        assert_eq!(body, "body");
        assert_eq!(
            src.get("b", "missing").await.err(),
            Some(SourceError::NotFound)
        );
    }
}
