//! Reading an evidence bundle (`ctverify export`) back: its manifest, the check of every file
//! against it, and its keys. Writing one is [`crate::export`]'s; reading is apart so that the
//! verifier can check a bundle without depending on the exporter, which depends on it.

use crate::findings::BundleProblem;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The manifest's name at the bundle's root.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The keys' file at the bundle's root.
pub const KEYS_FILE: &str = "public-keys.json";
/// The report's file at the bundle's root.
pub const REPORT_FILE: &str = "report.json";
/// `format` of a manifest.
pub const MANIFEST_FORMAT: &str = "ctverify-bundle";
/// `version` of the manifest written here.
pub const MANIFEST_VERSION: u32 = 1;

/// Largest manifest read: about a million files. A larger one is a manifest problem, not an
/// allocation.
const MAX_MANIFEST_BYTES: u64 = 256 * 1024 * 1024;
/// Largest key file read from a bundle.
pub const MAX_KEYS_BYTES: u64 = 16 * 1024 * 1024;
/// Discrepancies reported one by one; beyond this they are counted in one more entry.
pub(crate) const MAX_PROBLEMS: usize = 1000;

impl BundleProblem {
    /// The file it is about, relative to the bundle (`manifest.json` for the manifest itself;
    /// `BUCKET/KEY` for an object that was not copied).
    pub fn path(&self) -> &str {
        match self {
            BundleProblem::Altered { path, .. }
            | BundleProblem::Missing { path }
            | BundleProblem::Added { path } => path,
            BundleProblem::NotCopied { object, .. } => object,
            BundleProblem::Manifest { .. } => MANIFEST_FILE,
        }
    }
}

/// `manifest.json`: what the bundle held when it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// When the bundle was made.
    pub created_at: DateTime<Utc>,
    /// The trail's ARN.
    pub trail: String,
    /// Start of the range.
    pub from: DateTime<Utc>,
    /// End of the range.
    pub to: DateTime<Utc>,
    /// Every file of the bundle but the manifest, by path relative to the bundle (`/`
    /// separated): its SHA-256 in lower-case hex.
    pub files: BTreeMap<String, String>,
    /// Objects the export listed or read but could not copy, with why.
    #[serde(default)]
    pub not_copied: Vec<NotCopied>,
    /// The source regions the trail had to cover, as the export learned them (DescribeTrails,
    /// ListRegions): a region whose files were all deleted stays expected offline. `None` when
    /// the export did not know.
    #[serde(default)]
    pub expected_regions: Option<Vec<String>>,
    /// The member accounts an organization trail had to cover, likewise.
    #[serde(default)]
    pub expected_accounts: Option<Vec<String>>,
}

/// An object the export could not copy into the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotCopied {
    /// `BUCKET/KEY`.
    pub object: String,
    /// Why.
    pub reason: String,
}

/// SHA-256 of what `reader` holds, hex.
pub(crate) fn sha256_hex(reader: impl Read) -> io::Result<String> {
    use crate::loghash::{StreamHashError, sha256_stream};
    match sha256_stream(reader, u64::MAX) {
        Ok((digest, _)) => Ok(hex::encode(digest)),
        Err(StreamHashError::Read(e)) => Err(e),
        Err(StreamHashError::TooLarge { limit }) => {
            Err(io::Error::other(format!("longer than {limit} bytes")))
        }
    }
}

/// How much of `manifest.json` is read to find the marker.
const MARKER_BYTES: u64 = 4096;

/// Whether `dir` is an evidence bundle: its root holds a marker only `ctverify export` writes,
/// a `manifest.json` whose first member is `format` (the export writes it first; its value is
/// checked later, and another value is a manifest problem) or a `report.json`. A file with a
/// common name is not one: a folder holding a `manifest.json` of another tool (the bundled
/// sample's), or keys saved as `public-keys.json`, is a plain copy, and a path mistake is
/// never read as tampering. A bundle whose manifest was deleted or garbled keeps its
/// `report.json`, and is still a bundle (whose manifest is a problem).
pub fn is_bundle(dir: &Path) -> bool {
    if std::fs::symlink_metadata(dir.join(REPORT_FILE)).is_ok() {
        return true;
    }
    let Ok(file) = open_regular(&dir.join(MANIFEST_FILE)) else {
        return false;
    };
    let mut head = Vec::new();
    if file.take(MARKER_BYTES).read_to_end(&mut head).is_err() {
        return false;
    }
    let text = String::from_utf8_lossy(&head);
    text.trim_start()
        .strip_prefix('{')
        .is_some_and(|rest| rest.trim_start().starts_with("\"format\""))
}

/// Where a bundle's keys are, when `dir` is a bundle ([`is_bundle`]) that has them.
pub fn bundle_keys(dir: &Path) -> Option<PathBuf> {
    if !is_bundle(dir) {
        return None;
    }
    let path = dir.join(KEYS_FILE);
    std::fs::symlink_metadata(&path)
        .is_ok_and(|m| m.is_file())
        .then_some(path)
}

/// Checks a bundle against its manifest, before anything in it is used. `None` when `dir` is
/// not a bundle ([`is_bundle`]: a plain local copy); otherwise every discrepancy, each invalid
/// (see [`BundleProblem`]). A bundle whose manifest was deleted still has its report, and is
/// reported as such. Bounded: the manifest is read up
/// to 256 MiB, files are hashed as streams, only regular files are opened (never a FIFO), links
/// are not followed, and at most 1,000 discrepancies are listed one by one.
pub fn check_bundle(dir: &Path) -> Option<Vec<BundleProblem>> {
    if !is_bundle(dir) {
        return None;
    }
    let manifest = match read_manifest(&dir.join(MANIFEST_FILE)) {
        Ok(manifest) => manifest,
        // Only the report marks this folder: say so, for the one case where it is a plain copy
        // someone saved a `--format json` report into (then the report is to move out).
        Err(_) if std::fs::symlink_metadata(dir.join(MANIFEST_FILE)).is_err() => {
            return Some(vec![BundleProblem::Manifest {
                reason: format!(
                    "missing: the folder holds an export's {REPORT_FILE} but no {MANIFEST_FILE} \
                     (removed after the bundle was made; if this folder is a plain copy, not an \
                     evidence bundle, move {REPORT_FILE} out of it)"
                ),
            }]);
        }
        Err(reason) => return Some(vec![BundleProblem::Manifest { reason }]),
    };
    let mut problems: Vec<BundleProblem> = manifest
        .not_copied
        .iter()
        .map(|n| BundleProblem::NotCopied {
            object: n.object.clone(),
            reason: n.reason.clone(),
        })
        .collect();
    let mut found = BTreeSet::new();
    let mut stack = vec![(dir.to_owned(), String::new())];
    let mut extra = 0u64;
    let mut add = |problems: &mut Vec<BundleProblem>, problem| {
        if problems.len() < MAX_PROBLEMS {
            problems.push(problem);
        } else {
            extra += 1;
        }
    };
    while let Some((path, rel)) = stack.pop() {
        let entries = match std::fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(e) => {
                add(
                    &mut problems,
                    BundleProblem::Manifest {
                        reason: format!("{rel}: cannot be listed: {e}"),
                    },
                );
                continue;
            }
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            // Not followed: a link is an entry of its own, never what it points at.
            let Ok(kind) = entry.file_type() else {
                add(&mut problems, BundleProblem::Added { path: rel });
                continue;
            };
            if kind.is_dir() {
                stack.push((entry.path(), rel));
                continue;
            }
            if rel == MANIFEST_FILE {
                continue;
            }
            let Some(expected) = manifest.files.get(&rel) else {
                add(&mut problems, BundleProblem::Added { path: rel });
                continue;
            };
            found.insert(rel.clone());
            let actual = if kind.is_file() {
                hash_regular_file(&entry.path()).unwrap_or_else(|e| format!("unreadable ({e})"))
            } else {
                "not a regular file".to_owned()
            };
            if &actual != expected {
                add(
                    &mut problems,
                    BundleProblem::Altered {
                        path: rel,
                        expected_sha256: expected.clone(),
                        actual_sha256: actual,
                    },
                );
            }
        }
    }
    for path in manifest.files.keys().filter(|p| !found.contains(*p)) {
        add(&mut problems, BundleProblem::Missing { path: path.clone() });
    }
    if extra > 0 {
        problems.push(BundleProblem::Manifest {
            reason: format!("{extra} more discrepancies not listed one by one"),
        });
    }
    Some(problems)
}

/// Reads a bundle's manifest (capped, regular files only), checking its format.
///
/// # Errors
/// Why it is not a manifest.
pub fn read_manifest(path: &Path) -> Result<Manifest, String> {
    let file = open_regular(path).map_err(|e| format!("{MANIFEST_FILE}: {e}"))?;
    let mut text = Vec::new();
    file.take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(format!("larger than {MAX_MANIFEST_BYTES} bytes"));
    }
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
    if manifest.format != MANIFEST_FORMAT || manifest.version != MANIFEST_VERSION {
        return Err(format!(
            "format {:?} version {} is not {MANIFEST_FORMAT} version {MANIFEST_VERSION}",
            manifest.format, manifest.version
        ));
    }
    Ok(manifest)
}

/// Opens a file only if it is a regular file: non-blocking, so that a FIFO swapped in after the
/// listing cannot hang the run, and checked after opening.
fn open_regular(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(
            (rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOFOLLOW).bits() as i32,
        );
    }
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(file)
}

fn hash_regular_file(path: &Path) -> io::Result<String> {
    sha256_hex(open_regular(path)?)
}

/// Reads a bundle's key file, up to [`MAX_KEYS_BYTES`], only if it is a regular file.
///
/// # Errors
/// When it cannot be opened or read, or is larger than the cap.
pub fn read_bundle_keys(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open_regular(path)?
        .take(MAX_KEYS_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_KEYS_BYTES {
        return Err(io::Error::other(format!(
            "larger than {MAX_KEYS_BYTES} bytes"
        )));
    }
    Ok(bytes)
}

/// Most bytes unpacked from a bundle archive: far more than a year of a large trail, far less
/// than a disk a forged archive could fill by declaring huge entries.
pub const MAX_UNPACKED_BYTES: u64 = 1 << 40;
/// Most entries unpacked from a bundle archive (a year of an organization trail's files is
/// well under this).
pub const MAX_UNPACKED_ENTRIES: u64 = 50_000_000;

/// Unpacks a bundle written as a `.tar.gz` (`ctverify export --out FILE.tar.gz`) into the
/// empty directory `into`, for verifying it where it is read. The archive is hostile input:
/// only regular files and folders are unpacked; a link (symbolic or hard), a device or FIFO, a
/// path that is absolute or climbs with `..`, more than [`MAX_UNPACKED_ENTRIES`] entries or
/// [`MAX_UNPACKED_BYTES`] bytes refuse the whole archive. Each file is written with exactly the
/// bytes its header declares, so a gzip bomb is bounded by those caps.
///
/// # Errors
/// Why the archive was refused or could not be read or written.
pub fn unpack_bundle(archive: &Path, into: &Path) -> Result<(), String> {
    let file = open_regular(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(io::BufReader::new(file)));
    let (mut entries, mut bytes) = (0u64, 0u64);
    let refuse = |what: String| format!("{} is refused: {what}", archive.display());
    for entry in tar.entries().map_err(|e| refuse(e.to_string()))? {
        let mut entry = entry.map_err(|e| refuse(e.to_string()))?;
        entries += 1;
        if entries > MAX_UNPACKED_ENTRIES {
            return Err(refuse(format!("more than {MAX_UNPACKED_ENTRIES} entries")));
        }
        let path = entry
            .path()
            .map_err(|e| refuse(e.to_string()))?
            .into_owned();
        let mut relative = PathBuf::new();
        for component in path.components() {
            match component {
                std::path::Component::Normal(name) => relative.push(name),
                std::path::Component::CurDir => {}
                _ => {
                    return Err(refuse(format!(
                        "entry {} leaves the bundle's folder",
                        path.display()
                    )));
                }
            }
        }
        let kind = entry.header().entry_type();
        let target = into.join(&relative);
        if kind.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| format!("{}: {e}", target.display()))?;
            continue;
        }
        if !kind.is_file() || relative.as_os_str().is_empty() {
            return Err(refuse(format!(
                "entry {} is not a regular file or folder (an export writes no other)",
                path.display()
            )));
        }
        let size = entry.header().size().map_err(|e| refuse(e.to_string()))?;
        bytes = bytes.saturating_add(size);
        if bytes > MAX_UNPACKED_BYTES {
            return Err(refuse(format!("more than {MAX_UNPACKED_BYTES} bytes")));
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        // create_new: an entry repeated in the archive, or one whose folder is a file already
        // written, fails instead of replacing what was unpacked.
        let mut out = std::fs::File::create_new(&target)
            .map_err(|e| refuse(format!("entry {}: {e}", path.display())))?;
        let copied = io::copy(&mut (&mut entry).take(size), &mut out)
            .map_err(|e| refuse(format!("entry {}: {e}", path.display())))?;
        if copied != size {
            return Err(refuse(format!("entry {} is truncated", path.display())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// A bundle holding `files`, with a manifest naming each by its SHA-256.
    fn bundle(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut listed = BTreeMap::new();
        for (path, body) in files {
            let at = dir.path().join(path);
            std::fs::create_dir_all(at.parent().expect("a parent")).expect("folders");
            std::fs::write(&at, body).expect("a file");
            listed.insert((*path).to_owned(), hex::encode(Sha256::digest(body)));
        }
        let manifest = Manifest {
            format: MANIFEST_FORMAT.into(),
            version: MANIFEST_VERSION,
            created_at: DateTime::UNIX_EPOCH,
            trail: "arn:aws:cloudtrail:us-east-1:111122223333:trail/main".into(),
            from: DateTime::UNIX_EPOCH,
            to: DateTime::UNIX_EPOCH,
            files: listed,
            not_copied: Vec::new(),
            expected_regions: None,
            expected_accounts: None,
        };
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            serde_json::to_vec(&manifest).expect("JSON"),
        )
        .expect("the manifest");
        dir
    }

    const FILES: &[(&str, &[u8])] = &[
        ("b/AWSLogs/a.json.gz", b"one"),
        ("b/AWSLogs/c.json.gz", b"two"),
    ];

    #[test]
    fn a_bundle_as_it_was_made_has_no_problem() {
        let dir = bundle(FILES);
        assert!(is_bundle(dir.path()));
        assert_eq!(check_bundle(dir.path()), Some(Vec::new()));
    }

    #[test]
    fn every_change_after_the_bundle_was_made_is_named() {
        let dir = bundle(FILES);
        std::fs::write(dir.path().join("b/AWSLogs/a.json.gz"), b"changed").unwrap();
        std::fs::remove_file(dir.path().join("b/AWSLogs/c.json.gz")).unwrap();
        std::fs::write(dir.path().join("b/AWSLogs/planted.json.gz"), b"x").unwrap();
        let mut paths: Vec<(String, &str)> = check_bundle(dir.path())
            .expect("a bundle")
            .iter()
            .map(|p| {
                let kind = match p {
                    BundleProblem::Altered { .. } => "altered",
                    BundleProblem::Missing { .. } => "missing",
                    BundleProblem::Added { .. } => "added",
                    _ => "other",
                };
                (p.path().to_owned(), kind)
            })
            .collect();
        paths.sort();
        assert_eq!(
            paths,
            [
                ("b/AWSLogs/a.json.gz".to_owned(), "altered"),
                ("b/AWSLogs/c.json.gz".to_owned(), "missing"),
                ("b/AWSLogs/planted.json.gz".to_owned(), "added"),
            ]
        );
    }

    #[test]
    fn a_folder_with_another_tools_manifest_is_no_bundle() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MANIFEST_FILE), br#"{"trails": []}"#).unwrap();
        assert!(!is_bundle(dir.path()));
        assert_eq!(check_bundle(dir.path()), None);
        assert_eq!(bundle_keys(dir.path()), None);
    }
}
