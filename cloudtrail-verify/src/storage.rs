//! Small documents a run reads and writes beside the trail (checkpoint states, shard plans and
//! reports), kept in a local file or an S3 object, and replaced atomically: a local file by a
//! synced temporary file renamed over it (a crash leaves the old or the new one), an S3 object
//! by one PUT. A conditional write ([`Store::write_if`]) happens only if the document is still
//! the one read: on S3 atomically (`If-Match` on its ETag, `If-None-Match: *` when there was
//! none), so two writers cannot both replace it; for a file its SHA-256 is compared just before
//! the rename, which leaves two writers a window of milliseconds.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Largest document [`Store::read`] reads, in bytes (a shard's JSON report can be large);
/// [`Store::read_capped`] reads smaller ones.
pub const MAX_DOCUMENT_BYTES: u64 = 1 << 30;

/// Where a document is kept: a local file or an S3 object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local file.
    File(PathBuf),
    /// An S3 object.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
}

impl std::str::FromStr for Location {
    type Err = String;

    /// `s3://BUCKET/KEY`, or a path.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.strip_prefix("s3://") {
            Some(rest) => match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(Location::S3 {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                }),
                _ => Err(format!("{s:?} is not s3://BUCKET/KEY")),
            },
            None if s.is_empty() => Err("an empty path".into()),
            None => Ok(Location::File(PathBuf::from(s))),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File(path) => write!(f, "{}", path.display()),
            Location::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// What a conditional write must find: the version read (a file's SHA-256, an object's ETag),
/// or nothing when there was no document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(Option<String>);

impl Version {
    /// There was no document.
    pub fn absent() -> Self {
        Version(None)
    }
}

/// Why a document could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// Someone else wrote the document since it was read.
    #[error(
        "{location} was changed by someone else since this run read it (another run of ctverify \
         overlapping this one?); it was not overwritten"
    )]
    Conflict {
        /// Where.
        location: String,
    },
    /// Reading or writing failed.
    #[error("{operation} {location} failed: {reason}")]
    Io {
        /// `reading`, `writing` or `locating`.
        operation: &'static str,
        /// Where.
        location: String,
        /// Why.
        reason: String,
    },
}

/// Reads and writes one document where it is kept.
#[derive(Debug, Clone)]
pub struct Store {
    location: Location,
    /// S3 documents are read and written through the trail's own transport.
    #[cfg(feature = "aws")]
    source: Option<crate::source::S3Source>,
}

impl Store {
    /// A store for a local file.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Store {
            location: Location::File(path.into()),
            #[cfg(feature = "aws")]
            source: None,
        }
    }

    /// A store for `location`: an S3 object is read and written with `conf`, in the bucket's
    /// own region (GetBucketLocation).
    ///
    /// # Errors
    /// [`StorageError::Io`] when the bucket's region cannot be read.
    #[cfg(feature = "aws")]
    pub async fn open(
        location: Location,
        conf: &aws_config::SdkConfig,
    ) -> Result<Self, StorageError> {
        let source = match &location {
            Location::File(_) => None,
            Location::S3 { bucket, .. } => Some(
                crate::trail_api::source_in_bucket_region(conf, bucket)
                    .await
                    .map_err(|e| StorageError::Io {
                        operation: "locating",
                        location: location.to_string(),
                        reason: e.to_string(),
                    })?,
            ),
        };
        Ok(Store { location, source })
    }

    /// Where the document is kept.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The document and its version; `None` when there is none.
    ///
    /// # Errors
    /// [`StorageError::Io`], also for a document over [`MAX_DOCUMENT_BYTES`].
    pub async fn read(&self) -> Result<Option<(Vec<u8>, Version)>, StorageError> {
        self.read_capped(MAX_DOCUMENT_BYTES).await
    }

    /// [`Store::read`] of a document that may not exceed `max` bytes.
    ///
    /// # Errors
    /// [`StorageError::Io`], also for a document over `max`.
    pub async fn read_capped(&self, max: u64) -> Result<Option<(Vec<u8>, Version)>, StorageError> {
        match &self.location {
            Location::File(path) => read_file(path, &self.location.to_string(), max),
            Location::S3 { bucket, key } => self.get_s3(bucket, key, max).await,
        }
    }

    /// Replaces the document, atomically, whatever is there.
    ///
    /// # Errors
    /// [`StorageError::Io`].
    pub async fn write(&self, bytes: Vec<u8>) -> Result<(), StorageError> {
        self.put(bytes, None).await
    }

    /// Replaces the document only if it is still `read` (see the module documentation).
    ///
    /// # Errors
    /// [`StorageError::Conflict`] when it changed; [`StorageError::Io`].
    pub async fn write_if(&self, bytes: Vec<u8>, read: &Version) -> Result<(), StorageError> {
        self.put(bytes, Some(read)).await
    }

    async fn put(&self, bytes: Vec<u8>, expected: Option<&Version>) -> Result<(), StorageError> {
        let name = self.location.to_string();
        match &self.location {
            Location::File(path) => write_file(path, &name, &bytes, expected),
            Location::S3 { bucket, key } => self.put_s3(bucket, key, bytes, expected).await,
        }
    }

    #[cfg(feature = "aws")]
    async fn get_s3(
        &self,
        bucket: &str,
        key: &str,
        max: u64,
    ) -> Result<Option<(Vec<u8>, Version)>, StorageError> {
        let io = |reason: String| StorageError::Io {
            operation: "reading",
            location: self.location.to_string(),
            reason,
        };
        let source = self
            .source
            .as_ref()
            .ok_or_else(|| io("no S3 client".into()))?;
        match source.get_document(bucket, key, max).await {
            Ok(found) => Ok(found.map(|(bytes, etag)| (bytes, Version(Some(etag))))),
            Err(crate::source::s3::DocumentError::Failed(reason)) => Err(io(reason)),
            // Only a write is conditional.
            Err(crate::source::s3::DocumentError::Conflict) => Err(io("conflict".into())),
        }
    }

    #[cfg(feature = "aws")]
    async fn put_s3(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        expected: Option<&Version>,
    ) -> Result<(), StorageError> {
        let name = self.location.to_string();
        let io = |reason: String| StorageError::Io {
            operation: "writing",
            location: name.clone(),
            reason,
        };
        let source = self
            .source
            .as_ref()
            .ok_or_else(|| io("no S3 client".into()))?;
        // S3's conditional writes: the write happens only if the object is still the one read.
        let only_if = expected.map(|v| v.0.as_deref());
        match source.put_document(bucket, key, bytes, only_if).await {
            Ok(()) => Ok(()),
            Err(crate::source::s3::DocumentError::Conflict) => {
                Err(StorageError::Conflict { location: name })
            }
            Err(crate::source::s3::DocumentError::Failed(reason)) => Err(io(reason)),
        }
    }

    #[cfg(not(feature = "aws"))]
    async fn get_s3(
        &self,
        _: &str,
        _: &str,
        _: u64,
    ) -> Result<Option<(Vec<u8>, Version)>, StorageError> {
        Err(self.no_s3("reading"))
    }

    #[cfg(not(feature = "aws"))]
    async fn put_s3(
        &self,
        _: &str,
        _: &str,
        _: Vec<u8>,
        _: Option<&Version>,
    ) -> Result<(), StorageError> {
        Err(self.no_s3("writing"))
    }

    #[cfg(not(feature = "aws"))]
    fn no_s3(&self, operation: &'static str) -> StorageError {
        StorageError::Io {
            operation,
            location: self.location.to_string(),
            reason: "built without the `aws` feature".into(),
        }
    }
}

/// A local document and its SHA-256, `None` when there is no file.
fn read_file(
    path: &Path,
    name: &str,
    max: u64,
) -> Result<Option<(Vec<u8>, Version)>, StorageError> {
    match read_regular_file(path, max) {
        Ok(bytes) => {
            let version = Version(Some(hex::encode(Sha256::digest(&bytes))));
            Ok(Some((bytes, version)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::Io {
            operation: "reading",
            location: name.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// Opens `path` for reading only if it is a regular file (a link to one is followed: a
/// document's path may be one). Opened non-blocking and checked on the open file, so that a
/// FIFO where a document should be is refused at once instead of blocking the run until
/// something writes to it, and no file swapped in between a check and the open can do so.
///
/// # Errors
/// When it cannot be opened, or is not a regular file (a FIFO, socket, device or directory).
pub fn open_regular_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Opening a FIFO for reading blocks until a writer opens it, unless non-blocking; a
        // regular file reads the same either way.
        options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    #[cfg(not(unix))]
    {
        // No non-blocking open here: check first (the check on the open file below stays).
        if !std::fs::metadata(path)?.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
    }
    let file = options.open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(std::io::Error::other(format!(
            "not a regular file (a {})",
            file_kind(kind)
        )));
    }
    Ok(file)
}

/// A local file of at most `max` bytes, read only if it is a regular file
/// ([`open_regular_file`]).
///
/// # Errors
/// When it cannot be opened or read, is not a regular file, or is larger than `max`.
pub fn read_regular_file(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    open_regular_file(path)?
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::other(format!("larger than {max} bytes")));
    }
    Ok(bytes)
}

/// What a file that is not a regular file is, for the error.
fn file_kind(kind: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "FIFO";
        }
        if kind.is_socket() {
            return "socket";
        }
        if kind.is_block_device() || kind.is_char_device() {
            return "device";
        }
    }
    if kind.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

/// Writes a local document atomically: a temporary file beside it, synced, then renamed over
/// it. With `expected`, refuses when the file is no longer what was read.
fn write_file(
    path: &Path,
    name: &str,
    bytes: &[u8],
    expected: Option<&Version>,
) -> Result<(), StorageError> {
    use std::io::Write;
    let io = |reason: String| StorageError::Io {
        operation: "writing",
        location: name.to_owned(),
        reason,
    };
    if let Some(expected) = expected {
        let now = read_file(path, name, MAX_DOCUMENT_BYTES)?
            .map_or(Version::absent(), |(_, version)| version);
        if &now != expected {
            return Err(StorageError::Conflict {
                location: name.to_owned(),
            });
        }
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "document".into());
    // Unique among processes sharing the directory (containers on one volume share PIDs).
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let temp = dir.join(format!(".{file_name}.{}.{nanos}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        // The rename itself must reach the disk for the new document to survive a crash.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    } else {
        remove_stale_temp_files(dir, &file_name);
    }
    result.map_err(|e| io(e.to_string()))
}

/// How old a temporary file of a document must be before another run removes it. A write
/// creates, fills, syncs and renames its temporary file within seconds; one this old was left
/// by a run that was killed (`kill -9`, a crash, a power cut) between creating and renaming it.
const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Removes what killed runs left beside the document `file_name` in `dir`: its temporary files
/// (`.NAME.PID.NANOS.tmp`, exactly as [`write_file`] names them) older than
/// [`STALE_TEMP_AGE`]. Age, not whether the PID is alive, decides: processes on one shared
/// volume may live in other PID namespaces (containers), where a PID says nothing, while no
/// live write keeps a temporary file for minutes. Other files, other documents' temporary
/// files and anything that is not a regular file are left alone; failures are ignored (the
/// document itself is already written).
fn remove_stale_temp_files(dir: &Path, file_name: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{file_name}.");
    let now = std::time::SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(middle) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
        else {
            continue;
        };
        let ours = middle.split_once('.').is_some_and(|(pid, nanos)| {
            [pid, nanos]
                .iter()
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        });
        if !ours {
            continue;
        }
        // Not followed if a link: only a regular file of ours is removed.
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        let stale = meta
            .modified()
            .ok()
            .and_then(|at| now.duration_since(at).ok())
            .is_some_and(|age| age > STALE_TEMP_AGE);
        if meta.is_file() && stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(
            "s3://b/k/state.json".parse::<Location>(),
            Ok(Location::S3 {
                bucket: "b".into(),
                key: "k/state.json".into()
            })
        );
        assert!("s3://b".parse::<Location>().is_err());
        assert!("s3:///k".parse::<Location>().is_err());
        assert_eq!(
            "st.json".parse::<Location>(),
            Ok(Location::File("st.json".into()))
        );
    }

    #[test]
    fn a_conditional_file_write_refuses_a_document_changed_since_it_was_read() {
        let dir = tempfile_dir();
        let path = dir.join("state.json");
        assert!(read_file(&path, "x", 100).unwrap().is_none());
        write_file(&path, "x", b"one", Some(&Version::absent())).unwrap();
        // A second writer that also read "nothing" loses.
        assert!(matches!(
            write_file(&path, "x", b"two", Some(&Version::absent())),
            Err(StorageError::Conflict { .. })
        ));
        let (_, version) = read_file(&path, "x", 100).unwrap().unwrap();
        assert!(read_file(&path, "x", 2).is_err(), "a document over the cap");
        write_file(&path, "x", b"two", Some(&version)).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert!(matches!(
            write_file(&path, "x", b"three", Some(&version)),
            Err(StorageError::Conflict { .. })
        ));
        // Only the document is left: no temporary file.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A FIFO where a document should be is refused at once: opened non-blocking and checked
    /// before any read, it never waits for a writer. Run on a thread so that a regression fails
    /// the test rather than hanging it.
    #[cfg(unix)]
    #[test]
    fn a_fifo_document_is_refused_at_once() {
        let dir = tempfile_dir();
        let path = dir.join("state.json");
        let made = std::process::Command::new("mkfifo").arg(&path).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
        let (done, answer) = std::sync::mpsc::channel();
        let fifo = path.clone();
        std::thread::spawn(move || {
            let _ = done.send(read_file(&fifo, "state.json", 100).map(|r| r.is_some()));
        });
        let result = answer
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("reading a FIFO must not block");
        let error = result.expect_err("a FIFO is not a document").to_string();
        assert!(error.contains("not a regular file (a FIFO)"), "{error}");
        // A directory is refused the same way.
        let error = read_file(&dir, "dir", 100).unwrap_err().to_string();
        assert!(
            error.contains("not a regular file (a directory)"),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// What a run killed between creating and renaming its temporary file left is removed by
    /// the next write of the same document once it is old enough; a fresh one (a write under
    /// way in another run) and everything else are kept.
    #[test]
    fn a_write_removes_stale_temp_files_of_its_document_and_nothing_else() {
        let dir = tempfile_dir();
        let path = dir.join("state.json");
        let old =
            std::time::SystemTime::now() - STALE_TEMP_AGE - std::time::Duration::from_secs(60);
        let make = |name: &str, modified: Option<std::time::SystemTime>| {
            let file = std::fs::File::create(dir.join(name)).unwrap();
            if let Some(at) = modified {
                file.set_modified(at).unwrap();
            }
        };
        make(".state.json.4242.1765000000000000000.tmp", Some(old));
        make(".state.json.4243.1765000000000000001.tmp", None);
        make(".other.json.4242.1765000000000000000.tmp", Some(old));
        make(".state.json.notapid.1.tmp", Some(old));
        make("state.json.4242.1.tmp", Some(old));
        std::fs::create_dir(dir.join(".state.json.1.2.tmp")).unwrap();
        write_file(&path, "x", b"one", None).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".other.json.4242.1765000000000000000.tmp",
                ".state.json.1.2.tmp",
                ".state.json.4243.1765000000000000001.tmp",
                ".state.json.notapid.1.tmp",
                "state.json",
                "state.json.4242.1.tmp",
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "ctverify-storage-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
