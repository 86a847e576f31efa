//! Evidence bundles: a verified range of a trail, written to disk so that it can be verified
//! again anywhere, with no AWS access, to the same verdict.
//!
//! `aws s3 sync` drops S3 user metadata, and with it the newest digest's signature (older
//! digests get theirs from their successor's `previousDigestSignature`), so a synced copy always
//! ends unverifiable. A bundle is the local layout (`DIR/BUCKET/KEY`, see
//! [`crate::source::local`]) plus:
//!
//! * `KEY.metadata.json` beside every object that has user metadata (a digest's signature);
//! * `public-keys.json`: the keys the run used, in the shape `aws cloudtrail list-public-keys`
//!   prints, plus where and when each was fetched (`ctverify.keys`);
//! * `report.json`: the report of the run that made the bundle;
//! * `manifest.json`: the SHA-256 of every other file of the bundle, and the objects the export
//!   could not copy.
//!
//! **How the bytes get there.** The export wraps the run's [`ObjectSource`] in a tee: every
//! object the walk reads is written to the bundle as the walk reads it, so log files and digests
//! are read from S3 once, and the bundle holds exactly the bytes that were verified. The walk
//! does not read everything a verdict depends on, though: a foreign object or a log file no
//! digest lists is judged from the listing. So the tee also records every key the walk lists,
//! and after the walk the export copies those it did not read to the end (which includes a log
//! file whose read stopped early, at the size cap or at a gzip error). Then the local verifier
//! lists the same folders and finds the same objects. Reading the listed keys again after the
//! walk would be simpler but would read everything twice and would need a second verification
//! to tie the copied bytes to the verdict; the tee ties them by construction.
//!
//! Memory stays bounded by the walk's own: bytes are streamed through to files, never held;
//! only the keys seen are kept (a few hundred bytes each). Finally the bundle is verified
//! offline, as `ctverify --local BUNDLE` would, and the summary says whether the verdicts agree.
//!
//! **What the manifest proves.** It is written by whoever made the bundle, so it proves that the
//! bundle arrived as it was made (integrity of transport), not who made it. Authenticity comes
//! from CloudTrail's signatures, checked on every read of the bundle as always, and from the
//! keys: those in `public-keys.json` are also the bundle maker's word, so a reader who does not
//! trust the maker gives their own `--public-keys` (from `aws cloudtrail list-public-keys`).
//! Every discrepancy ([`check_bundle`]) is invalid: a file altered, missing or added since the
//! bundle was made, a manifest that cannot be read, an object the export could not copy. The
//! manifest cannot protect itself (its other fields are informational, or only add expected
//! chains): someone who rewrites it is in the position of the bundle's maker.

use crate::bundle::sha256_hex;
pub use crate::bundle::{
    KEYS_FILE, MANIFEST_FILE, MANIFEST_FORMAT, MANIFEST_VERSION, MAX_KEYS_BYTES,
    MAX_UNPACKED_BYTES, MAX_UNPACKED_ENTRIES, Manifest, NotCopied, REPORT_FILE, bundle_keys,
    check_bundle, is_bundle, read_bundle_keys, read_manifest, unpack_bundle,
};
use crate::findings::Status;
use crate::keys::KeySet;
use crate::report::Report;
use crate::source::local::METADATA_SUFFIX;
use crate::source::{Body, Object, ObjectSource, SourceError};
use crate::verifier::Verifier;
use async_trait::async_trait;
use chrono::Utc;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Where objects are written before they are complete; a bucket name cannot start with `.`.
const TEMP_DIR: &str = ".ctverify-partial";

/// Why an export failed: the bundle could not be written (the verification itself never fails
/// an export; its verdict is in the report).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The output exists already: a bundle is never written over other files.
    #[error("{} exists already: give a new directory or file name", .0.display())]
    Exists(PathBuf),
    /// A file or folder of the bundle could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The bundle's keys could not be read back for the offline check.
    #[error("the bundle's keys cannot be read back: {0}")]
    Keys(#[from] crate::keys::KeyError),
    /// The offline check of the bundle could not start.
    #[error("the bundle cannot be verified offline: {0}")]
    Check(#[from] crate::verifier::SetupError),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What an export wrote.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExportSummary {
    /// The bundle: a directory, or a `.tar.gz` file.
    pub path: PathBuf,
    /// Objects copied (digests and log files, and any other object listed in the range).
    pub objects: u64,
    /// Bytes of those objects.
    pub bytes: u64,
    /// Objects that could not be copied (each makes the bundle's verdict invalid).
    pub not_copied: Vec<NotCopied>,
    /// The verdict of the bundle verified offline, as `ctverify --local BUNDLE` reaches it.
    pub offline_status: Status,
}

/// Whether `path` names a gzip-compressed tar file rather than a directory.
pub fn is_tar_gz(path: &Path) -> bool {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

/// Runs `verifier` and writes its evidence bundle to `out`: a new directory, or a
/// `.tar.gz`/`.tgz` file (written from a staging directory beside it, streamed file by file).
/// Returns the run's report (also in the bundle as `report.json`) and what was written.
///
/// # Errors
/// [`ExportError`] when the bundle cannot be written; the verdict is in the report either way.
pub async fn export(
    verifier: Verifier,
    out: &Path,
) -> Result<(Report, ExportSummary), ExportError> {
    if out.exists() {
        return Err(ExportError::Exists(out.to_owned()));
    }
    let tar = is_tar_gz(out);
    let staging = if tar {
        let mut name = out.as_os_str().to_owned();
        name.push(".partial");
        let staging = PathBuf::from(name);
        if staging.exists() {
            return Err(ExportError::Exists(staging));
        }
        staging
    } else {
        out.to_owned()
    };
    std::fs::create_dir_all(&staging).map_err(io_at(&staging))?;
    let result = write_bundle(verifier, &staging).await;
    let (report, mut summary) = match result {
        Ok(done) => done,
        Err(e) => {
            if tar {
                let _ = std::fs::remove_dir_all(&staging);
            }
            return Err(e);
        }
    };
    if tar {
        let (staging2, out2) = (staging.clone(), out.to_owned());
        let written = tokio::task::spawn_blocking(move || write_tar_gz(&staging2, &out2))
            .await
            .map_err(|e| ExportError::Io {
                path: out.to_owned(),
                source: io::Error::other(e.to_string()),
            })?;
        let _ = std::fs::remove_dir_all(&staging);
        written?;
    }
    summary.path = out.to_owned();
    Ok((report, summary))
}

/// The bundle in `dir`: the run through the tee, the objects it listed but did not read, the
/// keys, the report, the manifest; then the offline check.
async fn write_bundle(
    verifier: Verifier,
    dir: &Path,
) -> Result<(Report, ExportSummary), ExportError> {
    let arn = verifier.target().arn.clone();
    let location = verifier.target().location.clone();
    let (accounts, regions) = (
        verifier.target().accounts.clone().unwrap_or_default(),
        verifier.target().regions.clone().unwrap_or_default(),
    );
    let range = verifier.range();
    let keys = verifier.keys().clone();
    let max_log_bytes = verifier.max_log_bytes();
    let expected_regions = verifier.target().expected_regions.clone();
    let expected_accounts = verifier.target().expected_accounts.clone();
    let temp = dir.join(TEMP_DIR);
    std::fs::create_dir_all(&temp).map_err(io_at(&temp))?;
    let tee = Arc::new(Tee::new(verifier.source(), dir.to_owned()));
    let report = verifier
        .with_source(tee.clone() as Arc<dyn ObjectSource>)
        .run()
        .await;
    let mut not_copied = tee.copy_rest().await;
    let (objects, bytes) = tee.totals();
    std::fs::remove_dir_all(&temp).map_err(io_at(&temp))?;

    write_json(&dir.join(KEYS_FILE), &keys_file(&keys, &report))?;
    write_json(
        &dir.join(REPORT_FILE),
        &serde_json::to_value(&report).unwrap_or_default(),
    )?;
    let dir2 = dir.to_owned();
    let files = tokio::task::spawn_blocking(move || hash_tree(&dir2))
        .await
        .map_err(|e| ExportError::Io {
            path: dir.to_owned(),
            source: io::Error::other(e.to_string()),
        })??;
    // Two keys that are one file here (a case-insensitive file system) would leave the bundle
    // short of an object the run saw.
    let object_files = files
        .keys()
        .filter(|p| p.contains('/') && !p.ends_with(METADATA_SUFFIX))
        .count() as u64;
    if object_files < objects {
        not_copied.push(NotCopied {
            object: format!("{} objects", objects - object_files),
            reason: "their keys name the same file on this file system (case-insensitive?)".into(),
        });
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        version: MANIFEST_VERSION,
        created_at: Utc::now(),
        trail: arn.to_string(),
        from: range.start(),
        to: range.end(),
        files,
        not_copied: not_copied.clone(),
        expected_regions,
        expected_accounts,
    };
    write_json(
        &dir.join(MANIFEST_FILE),
        &serde_json::to_value(&manifest).unwrap_or_default(),
    )?;

    // The bundle as its reader will verify it: same range and scope, its own keys.
    let keys_back = KeySet::from_list_public_keys_json(
        &std::fs::read(dir.join(KEYS_FILE)).map_err(io_at(&dir.join(KEYS_FILE)))?,
    )?;
    let mut check = Verifier::from_local(dir, keys_back, arn, range)
        .bucket(location.bucket.clone())
        .accounts(accounts)
        .regions(regions)
        .options(crate::options::VerifyOptions {
            max_log_bytes,
            keep_valid_entries: false,
            ..crate::options::VerifyOptions::default()
        });
    if let Some(prefix) = location.prefix {
        check = check.prefix(prefix);
    }
    let offline = check.verify().await?;
    Ok((
        report,
        ExportSummary {
            path: dir.to_owned(),
            objects,
            bytes,
            not_copied,
            offline_status: offline.status,
        },
    ))
}

/// `public-keys.json`: `list-public-keys` shape, plus where and when each key was fetched.
fn keys_file(keys: &KeySet, report: &Report) -> serde_json::Value {
    let mut file = keys.to_list_public_keys_json();
    if let (Some(map), Some(provenance)) = (file.as_object_mut(), &report.provenance) {
        map.insert(
            "ctverify".into(),
            serde_json::json!({ "keys": provenance.keys }),
        );
    }
    file
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), ExportError> {
    let mut text = serde_json::to_vec_pretty(value).map_err(|e| ExportError::Io {
        path: path.to_owned(),
        source: io::Error::other(e),
    })?;
    text.push(b'\n');
    std::fs::write(path, text).map_err(io_at(path))
}

/// The SHA-256 of every regular file below `dir` but the manifest, by `/`-separated path.
fn hash_tree(dir: &Path) -> Result<BTreeMap<String, String>, ExportError> {
    let mut files = BTreeMap::new();
    let mut stack = vec![(dir.to_owned(), String::new())];
    while let Some((path, rel)) = stack.pop() {
        for entry in std::fs::read_dir(&path).map_err(io_at(&path))? {
            let entry = entry.map_err(io_at(&path))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let kind = entry.file_type().map_err(io_at(&entry.path()))?;
            if kind.is_dir() {
                stack.push((entry.path(), rel));
            } else if rel != MANIFEST_FILE {
                let file = std::fs::File::open(entry.path()).map_err(io_at(&entry.path()))?;
                files.insert(rel, sha256_hex(file).map_err(io_at(&entry.path()))?);
            }
        }
    }
    Ok(files)
}

/// Streams the bundle in `dir` into a gzip-compressed tar at `out`, one file at a time.
fn write_tar_gz(dir: &Path, out: &Path) -> Result<(), ExportError> {
    let file = std::fs::File::create_new(out).map_err(io_at(out))?;
    let gz =
        flate2::write::GzEncoder::new(io::BufWriter::new(file), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    tar.append_dir_all(".", dir).map_err(io_at(out))?;
    let gz = tar.into_inner().map_err(io_at(out))?;
    let mut writer = gz.finish().map_err(io_at(out))?;
    writer.flush().map_err(io_at(out))?;
    writer
        .into_inner()
        .map_err(|e| ExportError::Io {
            path: out.to_owned(),
            source: e.into_error(),
        })?
        .sync_all()
        .map_err(io_at(out))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The tee: an [`ObjectSource`] that passes everything through and writes every object read to
/// the end into the bundle, and remembers every key listed. Every method of the trait is passed
/// through, those with defaults too: a default here would answer for the source (a local
/// copy's "no versions", "no lifecycle rules") and the export's verdict would lose what the
/// source proves (an overwrite on a versioned bucket).
struct Tee {
    inner: Arc<dyn ObjectSource>,
    root: PathBuf,
    state: Arc<Mutex<TeeState>>,
}

#[derive(Default)]
struct TeeState {
    /// Objects listed or opened: what the bundle must hold.
    seen: BTreeSet<(String, String)>,
    /// Objects written to the end.
    complete: BTreeSet<(String, String)>,
    /// Bytes written of complete objects.
    bytes: u64,
    /// For unique temporary names.
    next_temp: u64,
}

impl Tee {
    fn new(inner: Arc<dyn ObjectSource>, root: PathBuf) -> Self {
        Tee {
            inner,
            root,
            state: Arc::default(),
        }
    }

    /// Where an object goes, or why it cannot: keys are hostile, and must stay inside the
    /// bundle and not collide with the sidecars.
    fn path_of(&self, bucket: &str, key: &str) -> Result<PathBuf, String> {
        let segments = crate::source::local::segments(bucket, key).map_err(|e| e.to_string())?;
        if key.ends_with(METADATA_SUFFIX) {
            return Err(format!(
                "a key ending in {METADATA_SUFFIX} would be read as a sidecar"
            ));
        }
        let mut path = self.root.join(bucket);
        path.extend(segments);
        Ok(path)
    }

    /// A sink for an object's bytes: a temporary file renamed into place at the end.
    fn open(&self, bucket: &str, key: &str, object: &Object) -> Option<Sink> {
        // Metadata that could not be read (a local copy's broken sidecar) cannot be carried
        // over as it was; dropping it would hide a finding, so the object is not copied.
        if object.metadata_problem.is_some() {
            return None;
        }
        let dest = self.path_of(bucket, key).ok()?;
        let parent = dest.parent()?;
        std::fs::create_dir_all(parent).ok()?;
        if !object.metadata.is_empty() {
            let mut sidecar = dest.clone().into_os_string();
            sidecar.push(METADATA_SUFFIX);
            let text = serde_json::to_vec(&object.metadata).ok()?;
            std::fs::write(PathBuf::from(sidecar), text).ok()?;
        }
        let n = {
            let mut state = lock(&self.state);
            state.next_temp += 1;
            state.next_temp
        };
        // Outside the bucket folders: a planted object can never share a temporary's name.
        let temp = self.root.join(TEMP_DIR).join(n.to_string());
        let file = std::fs::File::create(&temp).ok()?;
        Some(Sink {
            file: Some(io::BufWriter::new(file)),
            temp,
            dest,
            id: (bucket.to_owned(), key.to_owned()),
            written: 0,
            state: self.state.clone(),
        })
    }

    fn totals(&self) -> (u64, u64) {
        let state = lock(&self.state);
        (state.complete.len() as u64, state.bytes)
    }

    /// Copies every object seen but not written to the end, one at a time; returns those that
    /// could not be copied.
    async fn copy_rest(&self) -> Vec<NotCopied> {
        let missing: Vec<(String, String)> = {
            let state = lock(&self.state);
            state.seen.difference(&state.complete).cloned().collect()
        };
        let mut not_copied = Vec::new();
        for (bucket, key) in missing {
            let object = format!("{bucket}/{key}");
            if let Err(reason) = self.path_of(&bucket, &key) {
                not_copied.push(NotCopied { object, reason });
                continue;
            }
            let reason = match self.inner.get(&bucket, &key).await {
                Err(e) => e.to_string(),
                Ok(opened) if opened.metadata_problem.is_some() => format!(
                    "its metadata is unusable: {}",
                    opened.metadata_problem.unwrap_or_default()
                ),
                Ok(mut opened) => match self.open(&bucket, &key, &opened) {
                    None => "cannot be written into the bundle".into(),
                    Some(mut sink) => {
                        let copied = tokio::task::spawn_blocking(move || {
                            let mut buf = vec![0u8; 64 * 1024];
                            loop {
                                let n = opened.body.read(&mut buf)?;
                                if n == 0 {
                                    return sink.finish();
                                }
                                sink.write(&buf[..n]);
                            }
                        })
                        .await;
                        match copied {
                            Ok(Ok(())) => continue,
                            Ok(Err(e)) => e.to_string(),
                            Err(e) => e.to_string(),
                        }
                    }
                },
            };
            not_copied.push(NotCopied { object, reason });
        }
        not_copied
    }
}

/// Where one object's bytes go while it is read.
struct Sink {
    /// `None` once a write failed: the object is then copied again after the walk.
    file: Option<io::BufWriter<std::fs::File>>,
    temp: PathBuf,
    dest: PathBuf,
    id: (String, String),
    written: u64,
    state: Arc<Mutex<TeeState>>,
}

impl Sink {
    fn write(&mut self, bytes: &[u8]) {
        if let Some(file) = &mut self.file {
            if file.write_all(bytes).is_ok() {
                self.written += bytes.len() as u64;
            } else {
                self.file = None;
                let _ = std::fs::remove_file(&self.temp);
            }
        }
    }

    /// The end of the object: into place, and counted as copied.
    fn finish(&mut self) -> io::Result<()> {
        let done = self.finish_inner();
        if done.is_err() {
            let _ = std::fs::remove_file(&self.temp);
        }
        done
    }

    fn finish_inner(&mut self) -> io::Result<()> {
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("an earlier write failed"))?;
        let file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        std::fs::rename(&self.temp, &self.dest)?;
        let mut state = lock(&self.state);
        if state.complete.insert(self.id.clone()) {
            state.bytes += self.written;
        }
        Ok(())
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        // Not read to the end (or already renamed, then this fails harmlessly).
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// An object's body that also writes what it reads into the bundle.
struct TeeReader {
    inner: Body,
    sink: Option<Sink>,
}

impl Read for TeeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(sink) = &mut self.sink {
            if n == 0 {
                // A failure here leaves the object for the copy after the walk.
                let _ = sink.finish();
                self.sink = None;
            } else {
                sink.write(&buf[..n]);
            }
        }
        Ok(n)
    }
}

#[async_trait]
impl ObjectSource for Tee {
    async fn list_keys(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<String>, SourceError> {
        let keys = self.inner.list_keys(bucket, prefix, start_after).await?;
        let mut state = lock(&self.state);
        for key in &keys {
            state.seen.insert((bucket.to_owned(), key.clone()));
        }
        Ok(keys)
    }

    async fn list_folders(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, SourceError> {
        self.inner.list_folders(bucket, prefix).await
    }

    fn list_requests(&self) -> Option<u64> {
        self.inner.list_requests()
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Object, SourceError> {
        let mut object = self.inner.get(bucket, key).await?;
        lock(&self.state)
            .seen
            .insert((bucket.to_owned(), key.to_owned()));
        let sink = self.open(bucket, key, &object);
        // A reader even over an in-memory body: the copy is written to disk as it is read,
        // which belongs on a blocking thread.
        let body = std::mem::replace(&mut object.body, Body::reader(io::empty()));
        object.body = Body::reader(TeeReader { inner: body, sink });
        Ok(object)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn location(&self, bucket: &str, key: &str) -> String {
        self.inner.location(bucket, key)
    }

    async fn lifecycle_rules(
        &self,
        bucket: &str,
    ) -> Result<Vec<crate::source::LifecycleRule>, SourceError> {
        self.inner.lifecycle_rules(bucket).await
    }

    async fn versioning(&self, bucket: &str) -> Result<crate::source::Versioning, SourceError> {
        self.inner.versioning(bucket).await
    }

    async fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        marker: Option<(&str, Option<&str>)>,
    ) -> Result<crate::source::VersionPage, SourceError> {
        self.inner.list_versions(bucket, prefix, marker).await
    }

    /// An earlier version is read for the verdict only: the bundle holds the current objects
    /// (what a reader verifies offline), not their histories.
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
    use crate::findings::BundleProblem;

    fn bundle_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, bytes) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        let files = hash_tree(dir.path()).unwrap();
        let manifest = Manifest {
            format: MANIFEST_FORMAT.into(),
            version: MANIFEST_VERSION,
            created_at: Utc::now(),
            trail: "t".into(),
            from: Utc::now(),
            to: Utc::now(),
            files,
            not_copied: Vec::new(),
            expected_regions: None,
            expected_accounts: None,
        };
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            serde_json::to_vec(&manifest).unwrap(),
        )
        .unwrap();
        dir
    }

    /// A source that answers every call of the trait with something other than the trait's
    /// default, so that a tee answering with a default is seen.
    struct Versioned;

    fn original() -> crate::source::ObjectVersion {
        crate::source::ObjectVersion {
            version_id: "v1".into(),
            last_modified: chrono::DateTime::UNIX_EPOCH,
            delete_marker: false,
        }
    }

    #[async_trait]
    impl ObjectSource for Versioned {
        async fn list_keys(
            &self,
            _: &str,
            _: &str,
            start_after: Option<&str>,
        ) -> Result<Vec<String>, SourceError> {
            Ok(if start_after.is_none() {
                vec!["k".into()]
            } else {
                Vec::new()
            })
        }
        async fn list_folders(&self, _: &str, _: &str) -> Result<Vec<String>, SourceError> {
            Ok(vec!["f".into()])
        }
        async fn get(&self, _: &str, _: &str) -> Result<Object, SourceError> {
            Err(SourceError::AccessDenied("current".into()))
        }
        fn describe(&self) -> String {
            "versioned".into()
        }
        fn location(&self, bucket: &str, key: &str) -> String {
            format!("v://{bucket}/{key}")
        }
        async fn lifecycle_rules(
            &self,
            _: &str,
        ) -> Result<Vec<crate::source::LifecycleRule>, SourceError> {
            Err(SourceError::AccessDenied("rules".into()))
        }
        async fn versioning(&self, _: &str) -> Result<crate::source::Versioning, SourceError> {
            Ok(crate::source::Versioning::Enabled)
        }
        async fn list_versions(
            &self,
            _: &str,
            _: &str,
            _: Option<(&str, Option<&str>)>,
        ) -> Result<crate::source::VersionPage, SourceError> {
            Ok(crate::source::VersionPage {
                entries: vec![("k".into(), original())],
                next: None,
            })
        }
        async fn get_version(&self, _: &str, _: &str, id: &str) -> Result<Object, SourceError> {
            Err(SourceError::AccessDenied(format!("version {id}")))
        }
    }

    /// The export's tee answers every call as its source does: a default answer (no versions,
    /// no rules) would make the export's verdict differ from a plain run's.
    #[tokio::test]
    async fn the_export_tee_passes_every_source_call_through() {
        let root = tempfile::tempdir().unwrap();
        let tee = Tee::new(Arc::new(Versioned), root.path().to_path_buf());
        assert_eq!(tee.list_keys("b", "p", None).await.unwrap(), ["k"]);
        assert_eq!(tee.list_folders("b", "p").await.unwrap(), ["f"]);
        assert!(matches!(
            tee.get("b", "k").await,
            Err(SourceError::AccessDenied(m)) if m == "current"
        ));
        assert_eq!(tee.describe(), "versioned");
        assert_eq!(tee.location("b", "k"), "v://b/k");
        assert!(matches!(
            tee.lifecycle_rules("b").await,
            Err(SourceError::AccessDenied(m)) if m == "rules"
        ));
        assert_eq!(
            tee.versioning("b").await.unwrap(),
            crate::source::Versioning::Enabled
        );
        let page = tee.list_versions("b", "p", None).await.unwrap();
        assert_eq!(page.entries, vec![("k".to_owned(), original())]);
        assert!(matches!(
            tee.get_version("b", "k", "v1").await,
            Err(SourceError::AccessDenied(m)) if m == "version v1"
        ));
    }

    #[test]
    fn a_plain_copy_is_not_a_bundle_and_an_intact_bundle_has_no_problems() {
        let plain = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(plain.path().join("b/AWSLogs")).unwrap();
        assert_eq!(check_bundle(plain.path()), None);
        let bundle = bundle_with(&[("b/k", b"x"), (KEYS_FILE, b"{}")]);
        assert_eq!(check_bundle(bundle.path()), Some(Vec::new()));
    }

    #[test]
    fn files_with_a_bundles_names_but_no_marker_are_a_plain_copy() {
        // The bundled sample: a manifest.json of the fixture generator, keys beside it.
        let plain = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(plain.path().join("trail/b/AWSLogs")).unwrap();
        std::fs::write(
            plain.path().join(MANIFEST_FILE),
            br#"{"trailArn": "arn", "format2": 1}"#,
        )
        .unwrap();
        std::fs::write(plain.path().join(KEYS_FILE), br#"{"PublicKeyList": []}"#).unwrap();
        assert!(!is_bundle(plain.path()));
        assert_eq!(check_bundle(plain.path()), None);
        assert_eq!(bundle_keys(plain.path()), None);
        // The export's own manifest is the marker, whitespace or not.
        let bundle = bundle_with(&[("b/k", b"x"), (KEYS_FILE, b"{}")]);
        assert!(is_bundle(bundle.path()));
        std::fs::write(
            bundle.path().join(MANIFEST_FILE),
            b"\n {\n  \"format\": \"ctverify-bundle\"",
        )
        .unwrap();
        assert!(is_bundle(bundle.path()));
        assert!(bundle_keys(bundle.path()).is_some());
    }

    /// A tar.gz whose one entry is `name` of kind `kind` (written raw: the tar crate refuses to
    /// write `..` itself, as a forger would not).
    fn archive_with(name: &[u8], kind: tar::EntryType, data: &[u8]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join("b.tar.gz")).unwrap();
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        if kind == tar::EntryType::Symlink {
            header.set_link_name("/etc/passwd").unwrap();
        }
        header.set_mode(0o644);
        header.set_cksum();
        tar.append(&header, data).unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        dir
    }

    #[test]
    fn a_bundle_archive_unpacks_files_and_refuses_links_and_paths_outside() {
        let good = archive_with(b"./b/AWSLogs/k", tar::EntryType::Regular, b"data");
        let into = tempfile::tempdir().unwrap();
        unpack_bundle(&good.path().join("b.tar.gz"), into.path()).unwrap();
        assert_eq!(
            std::fs::read(into.path().join("b/AWSLogs/k")).unwrap(),
            b"data"
        );
        for (name, kind, says) in [
            (
                &b"../evil"[..],
                tar::EntryType::Regular,
                "leaves the bundle's folder",
            ),
            (
                &b"/tmp/evil"[..],
                tar::EntryType::Regular,
                "leaves the bundle's folder",
            ),
            (
                &b"b/link"[..],
                tar::EntryType::Symlink,
                "not a regular file or folder",
            ),
            (
                &b"b/hard"[..],
                tar::EntryType::Link,
                "not a regular file or folder",
            ),
            (
                &b"b/fifo"[..],
                tar::EntryType::Fifo,
                "not a regular file or folder",
            ),
        ] {
            let archive = archive_with(name, kind, b"");
            let into = tempfile::tempdir().unwrap();
            let error = unpack_bundle(&archive.path().join("b.tar.gz"), into.path()).unwrap_err();
            assert!(error.contains(says), "{error}");
            assert!(
                !archive.path().join("evil").exists()
                    && !std::path::Path::new("/tmp/evil").exists()
            );
        }
    }

    #[test]
    fn a_bundle_without_its_manifest_is_still_a_bundle_and_invalid() {
        let bundle = bundle_with(&[("b/k", b"x"), (REPORT_FILE, b"{}")]);
        std::fs::remove_file(bundle.path().join(MANIFEST_FILE)).unwrap();
        let problems = check_bundle(bundle.path()).unwrap();
        assert!(matches!(problems[..], [BundleProblem::Manifest { .. }]));
        assert!(problems.iter().all(|p| p.status() == Status::Invalid));
        // Said so that a plain copy holding a saved report.json is told what to do.
        assert!(
            problems[0]
                .to_string()
                .contains("move report.json out of it"),
            "{problems:?}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn links_and_fifos_in_a_bundle_are_added_entries_never_followed_or_opened() {
        let bundle = bundle_with(&[("b/k", b"x"), (KEYS_FILE, b"{}")]);
        std::os::unix::fs::symlink("/etc/passwd", bundle.path().join("b/link")).unwrap();
        let fifo = bundle.path().join("b/fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        // A FIFO where the manifest names a file: altered, and the check does not block.
        std::fs::remove_file(bundle.path().join("b/k")).unwrap();
        std::process::Command::new("mkfifo")
            .arg(bundle.path().join("b/k"))
            .status()
            .unwrap();
        let mut problems = check_bundle(bundle.path()).unwrap();
        problems.sort_by_key(|p| format!("{p:?}"));
        let kinds: Vec<String> = problems.iter().map(|p| format!("{p:?}")).collect();
        assert_eq!(problems.len(), 3, "{kinds:?}");
        assert!(
            kinds
                .iter()
                .any(|k| k.contains("Added") && k.contains("b/link"))
        );
        assert!(
            kinds
                .iter()
                .any(|k| k.contains("Added") && k.contains("b/fifo"))
        );
        assert!(
            kinds
                .iter()
                .any(|k| k.contains("Altered") && k.contains("not a regular file"))
        );
    }

    #[test]
    fn a_manifest_over_the_cap_or_of_another_format_is_a_manifest_problem() {
        let bundle = bundle_with(&[("b/k", b"x")]);
        std::fs::write(
            bundle.path().join(MANIFEST_FILE),
            br#"{"format":"other","version":1,"created_at":"2026-01-01T00:00:00Z","trail":"t","from":"2026-01-01T00:00:00Z","to":"2026-01-01T00:00:00Z","files":{}}"#,
        )
        .unwrap();
        let problems = check_bundle(bundle.path()).unwrap();
        assert!(matches!(problems[..], [BundleProblem::Manifest { .. }]));
    }
}
