//! A local copy of buckets: `ROOT/BUCKET/KEY`, as `aws s3 sync s3://BUCKET ROOT/BUCKET` writes.
//!
//! S3 user metadata does not survive such a copy. When an object's metadata matters (a digest's
//! signature), it may be kept beside it in `KEY.metadata.json`, a JSON object of strings such as
//! `{"signature": "...", "signature-algorithm": "SHA256withRSA"}`. Those sidecars are not objects
//! of their own: listings skip them. A sidecar that is there but unusable (not a regular file,
//! larger than 64 KiB, not a JSON object of strings) does not fail the read: the object comes
//! back with empty metadata and [`Object::metadata_problem`] saying why.
//!
//! The copy is hostile input, like the bucket it mirrors. Below the root (which may itself be a
//! symbolic link: it is the user's choice), nothing is reached through a symbolic link, and only
//! regular files are opened for reading:
//!
//! * every path is resolved one name at a time from an open directory (`openat` with
//!   `O_NOFOLLOW`), so a folder swapped for a link during the run is not followed either;
//! * a key naming a FIFO, socket, device, directory or symbolic link, or lying below a symbolic
//!   link, is [`SourceError::NotARegularFile`]; files are opened with `O_NONBLOCK` and checked
//!   with `fstat` after opening, so a FIFO can never block a read;
//! * listings return such entries as keys (so that the verifier reports them, as S3 would list
//!   the objects) but never descend into a linked folder;
//! * names that are not UTF-8 cannot be S3 keys and are skipped by listings, as are keys longer
//!   than S3's 1,024 bytes (and the folders only such keys could be in, which also bounds the
//!   work a tree of nested folders can cause).
//!
//! A listing returns every matching key at once, in one walk of the folder the prefix names
//! (pruned by the prefix and by `start_after`): paging a local tree 1,000 keys at a time would
//! walk it once per page.

use super::{Body, Object, ObjectSource, SourceError};
use async_trait::async_trait;
use fsx::{Dir, Kind};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// Suffix of the file holding an object's user metadata.
pub const METADATA_SUFFIX: &str = ".metadata.json";

/// Largest metadata sidecar read; real user metadata is limited to 2 KB by S3.
const MAX_METADATA_BYTES: u64 = 64 * 1024;

/// S3's longest key, in bytes.
const MAX_KEY_BYTES: usize = 1024;

/// Objects read from a directory holding one folder per bucket.
#[derive(Debug, Clone)]
pub struct LocalDirectory {
    root: PathBuf,
    folders: FolderCache,
    listings: Listings,
}

/// Most folders kept open by [`FolderCache`]: the folders of the objects being read at once
/// are a few per chain walked, and each entry holds a file descriptor.
const FOLDER_CACHE_ENTRIES: usize = 64;

/// Folders opened for reading objects, by `BUCKET/FOLDERS...`. A day folder holds hundreds of
/// log files, and opening it again for each, one name at a time from the root, was most of an
/// offline run's system time. A folder renamed or replaced during the run is still read as it
/// was opened: the run sees one consistent copy.
#[derive(Clone, Default)]
struct FolderCache(Arc<Mutex<HashMap<String, Arc<Dir>>>>);

/// Most listings left off at a page's end that are kept to be resumed: a run lists a few
/// folders per chain walked at once, and each listing left off holds the sorted entries of the
/// folders it is in.
const LISTINGS_KEPT: usize = 16;

/// Listings left off at the end of a page, so that the next page (asked for with the page's
/// last key as `start_after`) resumes where the last one stopped instead of reading and sorting
/// the folder again: without it a folder of n entries cost n/1,000 reads and sorts of the whole
/// folder, quadratic in n (160,000 junk objects in a digest folder took 17.5 s instead of 0.2 s
/// for 20,000).
#[derive(Clone, Default)]
struct Listings(Arc<Mutex<Vec<LeftOff>>>);

/// A listing left off: where (bucket, prefix, the last key returned) and its open folders.
struct LeftOff {
    bucket: String,
    prefix: String,
    last: String,
    start: Dir,
    stack: Vec<Level>,
}

impl Listings {
    /// The listing of `bucket`/`prefix` that left off at `after`, if one was kept. A listing
    /// that starts afresh drops the ones of the same prefix, which their callers abandoned.
    fn resume(&self, bucket: &str, prefix: &str, after: Option<&str>) -> Option<(Dir, Vec<Level>)> {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let found = after.and_then(|after| {
            kept.iter()
                .position(|l| l.bucket == bucket && l.prefix == prefix && l.last == after)
        });
        match found {
            Some(i) => {
                let left = kept.swap_remove(i);
                Some((left.start, left.stack))
            }
            None => {
                kept.retain(|l| l.bucket != bucket || l.prefix != prefix);
                None
            }
        }
    }

    /// Keeps a listing that left off after `last`, dropping the oldest beyond
    /// [`LISTINGS_KEPT`].
    fn keep(&self, left: LeftOff) {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() >= LISTINGS_KEPT {
            kept.remove(0);
        }
        kept.push(left);
    }
}

impl std::fmt::Debug for Listings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Listings")
    }
}

impl std::fmt::Debug for FolderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FolderCache")
    }
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
        Ok(LocalDirectory {
            root,
            folders: FolderCache::default(),
            listings: Listings::default(),
        })
    }

    /// The buckets present (the folders directly under the root; a symbolic link is not one).
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

    /// [`Self::open_folder`], through the cache of open folders.
    fn cached_folder(
        &self,
        bucket: &str,
        folders: &[&str],
    ) -> Result<Option<Arc<Dir>>, SourceError> {
        let path = std::iter::once(bucket)
            .chain(folders.iter().copied())
            .collect::<Vec<_>>()
            .join("/");
        let cache = &self.folders.0;
        if let Some(dir) = cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&path)
        {
            return Ok(Some(Arc::clone(dir)));
        }
        let Some(dir) = self.open_folder(bucket, folders)? else {
            return Ok(None);
        };
        let dir = Arc::new(dir);
        let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= FOLDER_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(path, Arc::clone(&dir));
        Ok(Some(dir))
    }

    /// Opens the folder `BUCKET/FOLDERS...` below the root, one name at a time. `None` when it
    /// does not exist (or a regular file stands where a folder would be: no key lies below it);
    /// [`SourceError::NotARegularFile`] when a symbolic link or special file does.
    fn open_folder(&self, bucket: &str, folders: &[&str]) -> Result<Option<Dir>, SourceError> {
        let root = self.root.display().to_string();
        let mut dir = Dir::open(&self.root).map_err(|e| io_error(e, &root))?;
        let mut so_far = String::new();
        for name in std::iter::once(bucket).chain(folders.iter().copied()) {
            if !so_far.is_empty() {
                so_far.push('/');
            }
            so_far.push_str(name);
            match dir.kind_of(name) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_error(e, &so_far)),
                Ok(Kind::Dir) => dir = dir.subdir(name).map_err(|e| io_error(e, &so_far))?,
                Ok(Kind::File) => return Ok(None),
                Ok(kind) => return Err(not_regular(&so_far, kind)),
            }
        }
        Ok(Some(dir))
    }
}

/// Splits and checks a key, refusing anything that could leave the root: keys come from digest
/// files, which are hostile input until verified.
pub(crate) fn segments<'k>(bucket: &str, key: &'k str) -> Result<Vec<&'k str>, SourceError> {
    let unsafe_key = || SourceError::UnsafeKey(format!("{bucket}/{key}"));
    if !safe_segment(bucket) {
        return Err(unsafe_key());
    }
    let segments: Vec<&str> = key.split('/').collect();
    if key.is_empty() || !segments.iter().all(|s| safe_segment(s)) {
        return Err(unsafe_key());
    }
    Ok(segments)
}

/// A name that stays in its folder.
fn safe_segment(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0'])
}

/// The folders a prefix names (`a/b/` and `a/b/c` both name `a/b`), checked.
fn prefix_folders<'p>(bucket: &str, prefix: &'p str) -> Result<Vec<&'p str>, SourceError> {
    match prefix.rsplit_once('/') {
        Some((folders, _)) if !folders.is_empty() => segments(bucket, folders),
        _ => segments(bucket, "x").map(|_| Vec::new()),
    }
}

fn io_error(e: io::Error, what: &str) -> SourceError {
    match e.kind() {
        io::ErrorKind::NotFound => SourceError::NotFound,
        io::ErrorKind::PermissionDenied => SourceError::AccessDenied(format!("{what}: {e}")),
        _ => SourceError::Unavailable(format!("{what}: {e}")),
    }
}

/// The largest file read whole while it is opened: its bytes are then inflated and hashed
/// without another hand-off to a blocking thread (see [`Body::InMemory`]).
const SMALL_BODY_BYTES: u64 = 64 * 1024;

/// The body of a file `fstat` called small: read whole, on this blocking thread. A file that
/// grew since is read as far as the cap and streams the rest, so memory stays bounded.
fn small_body(mut file: std::fs::File) -> io::Result<Body> {
    let mut bytes = Vec::new();
    (&mut file)
        .take(SMALL_BODY_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 <= SMALL_BODY_BYTES {
        Ok(Body::InMemory(bytes.into()))
    } else {
        Ok(Body::reader(io::Cursor::new(bytes).chain(file)))
    }
}

fn not_regular(what: &str, kind: Kind) -> SourceError {
    SourceError::NotARegularFile(format!("{what} is {}", kind.describe()))
}

/// Reads the metadata sidecar of `name` in `dir`, if there is one: the metadata, or why the
/// sidecar is unusable. Only failing to read it at all (permissions, I/O) is an error.
fn read_metadata(
    dir: &Dir,
    name: &str,
    what: &str,
) -> Result<(BTreeMap<String, String>, Option<String>), SourceError> {
    let sidecar = format!("{name}{METADATA_SUFFIX}");
    let what = format!("{what}{METADATA_SUFFIX}");
    let problem = |reason: String| Ok((BTreeMap::new(), Some(format!("{what}: {reason}"))));
    match dir.kind_of(&sidecar) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((BTreeMap::new(), None)),
        Err(e) => return Err(io_error(e, &what)),
        Ok(Kind::File) => {}
        Ok(kind) => return problem(format!("the metadata sidecar is {}", kind.describe())),
    }
    let (file, kind, size) = match dir.open_file(&sidecar) {
        Ok(opened) => opened,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((BTreeMap::new(), None)),
        Err(e) => return Err(io_error(e, &what)),
    };
    if kind != Kind::File {
        return problem(format!("the metadata sidecar is {}", kind.describe()));
    }
    let too_large = || format!("metadata sidecar larger than {MAX_METADATA_BYTES} bytes");
    if size > MAX_METADATA_BYTES {
        return problem(too_large());
    }
    let mut text = Vec::new();
    file.take(MAX_METADATA_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| io_error(e, &what))?;
    if text.len() as u64 > MAX_METADATA_BYTES {
        return problem(too_large());
    }
    match serde_json::from_slice::<BTreeMap<String, String>>(&text) {
        Ok(map) => Ok((
            map.into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            None,
        )),
        Err(e) => problem(format!(
            "metadata sidecar is not a JSON object of strings: {e}"
        )),
    }
}

/// Whether every key starting with `folder` sorts at or before `after`: then the folder need not
/// be read.
fn all_at_or_before(folder: &str, after: Option<&str>) -> bool {
    after.is_some_and(|after| folder < after && !after.starts_with(folder))
}

/// Keys one page of a local listing holds at most: S3's page size, so that a listing holds a
/// page, not every key of a copy (a million log files would otherwise sit in memory at once).
const PAGE_KEYS: usize = 1000;

/// One folder being listed: its entries in key order and the next one to look at.
struct Level {
    /// The folder (`None`: the listing's start folder).
    dir: Option<Dir>,
    /// Its key prefix (`""` or ending in `/`).
    rel: String,
    /// Entries sorted as their keys sort: a folder as its name and `/`.
    entries: Vec<(String, Kind)>,
    next: usize,
}

/// How two entries' keys sort: by name, a folder's name followed by `/`. Compared in place,
/// without building a key per entry (a folder of a million junk objects would double its
/// memory while sorting).
fn entry_order(a: &(String, Kind), b: &(String, Kind)) -> std::cmp::Ordering {
    fn key((name, kind): &(String, Kind)) -> impl Iterator<Item = u8> + '_ {
        let slash: &[u8] = if *kind == Kind::Dir { b"/" } else { b"" };
        name.as_bytes().iter().chain(slash).copied()
    }
    key(a).cmp(key(b))
}

impl Level {
    fn read(dir: Option<Dir>, start: &Dir, rel: String) -> io::Result<Level> {
        let mut entries = dir.as_ref().unwrap_or(start).entries()?;
        entries.sort_unstable_by(entry_order);
        entries.shrink_to_fit();
        Ok(Level {
            dir,
            rel,
            entries,
            next: 0,
        })
    }

    /// Whether `name` is an object (not a sidecar, not a folder) in this folder: a sidecar
    /// beside one is its metadata, not an object of its own. A search of the sorted entries,
    /// so that no second copy of the names is kept.
    fn has_object(&self, name: &str) -> bool {
        if name.ends_with(METADATA_SUFFIX) {
            return false;
        }
        let probe = (name.to_owned(), Kind::File);
        self.entries
            .binary_search_by(|entry| entry_order(entry, &probe))
            .is_ok_and(|i| self.entries[i].1 != Kind::Dir)
    }
}

/// Collects, below `start` (the folder `start_rel` of the bucket, `""` or ending in `/`), the
/// first [`PAGE_KEYS`] keys that start with `prefix` and sort after `after`, in order: a walk of
/// the folders in key order that does not read folders whose keys all sort before `after`, and
/// stops when the page is full. A sidecar with no object beside it is an object of its own: a
/// planted file that a reader of the bucket would still see.
///
/// `resumed` is the stack of a listing that left off exactly at `after` (see [`Listings`]);
/// the stack as this page leaves it is returned with the keys, `None` when the listing is over.
fn collect_keys(
    start: &Dir,
    start_rel: &str,
    prefix: &str,
    after: Option<&str>,
    resumed: Option<Vec<Level>>,
) -> io::Result<(Vec<String>, Option<Vec<Level>>)> {
    let mut keys = Vec::new();
    let mut stack = match resumed {
        Some(stack) => stack,
        None => vec![Level::read(None, start, start_rel.to_owned())?],
    };
    while keys.len() < PAGE_KEYS {
        let Some(level) = stack.last_mut() else { break };
        let Some((name, kind)) = level.entries.get(level.next).cloned() else {
            stack.pop();
            continue;
        };
        level.next += 1;
        let key = format!("{}{name}", level.rel);
        if kind == Kind::Dir {
            let folder = format!("{key}/");
            let may_match = folder.starts_with(prefix) || prefix.starts_with(&folder);
            if !may_match || folder.len() >= MAX_KEY_BYTES || all_at_or_before(&folder, after) {
                continue;
            }
            let parent = level.dir.as_ref().unwrap_or(start);
            let below = match parent
                .subdir(&name)
                .and_then(|d| Level::read(Some(d), start, folder))
            {
                Ok(below) => below,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            stack.push(below);
        } else if key.starts_with(prefix)
            && key.len() <= MAX_KEY_BYTES
            && after.is_none_or(|after| key.as_str() > after)
        {
            let metadata_of_an_object = name
                .strip_suffix(METADATA_SUFFIX)
                .is_some_and(|object| level.has_object(object));
            if !metadata_of_an_object {
                keys.push(key);
            }
        }
    }
    let left = (!stack.is_empty()).then_some(stack);
    Ok((keys, left))
}

fn task_failed(e: tokio::task::JoinError) -> SourceError {
    SourceError::Unavailable(format!("local copy task failed: {e}"))
}

#[async_trait]
impl ObjectSource for LocalDirectory {
    fn keeps_metadata_in_sidecars(&self) -> bool {
        true
    }

    /// A page of up to 1,000 keys after `start_after`, as S3 answers.
    async fn list_keys(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<Vec<String>, SourceError> {
        let folders: Vec<String> = prefix_folders(bucket, prefix)?
            .into_iter()
            .map(str::to_owned)
            .collect();
        let (this, bucket, prefix) = (self.clone(), bucket.to_owned(), prefix.to_owned());
        let start_after = start_after.map(str::to_owned);
        tokio::task::spawn_blocking(move || {
            let names: Vec<&str> = folders.iter().map(String::as_str).collect();
            let start_rel: String = names.iter().map(|n| format!("{n}/")).collect();
            let after = start_after.as_deref();
            let (start, resumed) = match this.listings.resume(&bucket, &prefix, after) {
                Some((start, stack)) => (start, Some(stack)),
                None => match this.open_folder(&bucket, &names)? {
                    Some(start) => (start, None),
                    None => return Ok(Vec::new()),
                },
            };
            let (keys, left) = collect_keys(&start, &start_rel, &prefix, after, resumed)
                .map_err(|e| io_error(e, &format!("{bucket}/{start_rel}")))?;
            // Only a full page can have more after it; the next page resumes from here.
            if let (Some(stack), Some(last)) = (left, keys.last())
                && keys.len() == PAGE_KEYS
            {
                this.listings.keep(LeftOff {
                    bucket,
                    prefix,
                    last: last.clone(),
                    start,
                    stack,
                });
            }
            Ok(keys)
        })
        .await
        .map_err(task_failed)?
    }

    async fn list_folders(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, SourceError> {
        let folders: Vec<String> = match prefix.trim_end_matches('/') {
            "" => segments(bucket, "x").map(|_| Vec::new())?,
            folders => segments(bucket, folders)?
                .into_iter()
                .map(str::to_owned)
                .collect(),
        };
        let (this, bucket) = (self.clone(), bucket.to_owned());
        tokio::task::spawn_blocking(move || {
            let names: Vec<&str> = folders.iter().map(String::as_str).collect();
            let Some(dir) = this.open_folder(&bucket, &names)? else {
                return Ok(Vec::new());
            };
            let what = format!("{bucket}/{}", names.join("/"));
            let mut found: Vec<String> = dir
                .entries()
                .map_err(|e| io_error(e, &what))?
                .into_iter()
                .filter(|(_, kind)| *kind == Kind::Dir)
                .map(|(name, _)| name)
                .collect();
            found.sort();
            Ok(found)
        })
        .await
        .map_err(task_failed)?
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Object, SourceError> {
        let segments: Vec<String> = segments(bucket, key)?
            .into_iter()
            .map(str::to_owned)
            .collect();
        let (this, what) = (self.clone(), format!("{bucket}/{key}"));
        let bucket = bucket.to_owned();
        tokio::task::spawn_blocking(move || {
            let names: Vec<&str> = segments.iter().map(String::as_str).collect();
            let Some((name, folders)) = names.split_last() else {
                return Err(SourceError::UnsafeKey(what));
            };
            let Some(dir) = this.cached_folder(&bucket, folders)? else {
                return Err(SourceError::NotFound);
            };
            // Look before opening, so that a device is never opened at all; check again after,
            // on the open file, in case it was swapped in between.
            match dir.kind_of(name) {
                Ok(Kind::File) => {}
                Ok(kind) => return Err(not_regular(&what, kind)),
                Err(e) => return Err(io_error(e, &what)),
            }
            let (file, kind, size) = dir.open_file(name).map_err(|e| match dir.kind_of(name) {
                Ok(kind) if kind != Kind::File => not_regular(&what, kind),
                _ => io_error(e, &what),
            })?;
            if kind != Kind::File {
                return Err(not_regular(&what, kind));
            }
            let (metadata, metadata_problem) = read_metadata(&dir, name, &what)?;
            let body = if size <= SMALL_BODY_BYTES {
                small_body(file).map_err(|e| io_error(e, &what))?
            } else {
                Body::reader(file)
            };
            Ok(Object {
                metadata,
                metadata_problem,
                body,
                retention: None,
            })
        })
        .await
        .map_err(task_failed)?
    }

    fn describe(&self) -> String {
        format!("local copy at {}", self.root.display())
    }

    fn location(&self, bucket: &str, key: &str) -> String {
        format!("{}/{bucket}/{key}", self.root.display())
    }
}

/// The few file-system calls a local copy needs, none of which follows a symbolic link below the
/// directory it starts from or blocks on a special file.
mod fsx {
    use std::fs::File;
    use std::io;
    use std::path::Path;

    /// What a name is, without following it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Kind {
        File,
        Dir,
        Symlink,
        Fifo,
        Socket,
        CharDevice,
        BlockDevice,
        Unknown,
    }

    impl Kind {
        /// For messages: "a FIFO", "a symbolic link", ...
        pub fn describe(self) -> &'static str {
            match self {
                Kind::File => "a regular file",
                Kind::Dir => "a directory",
                Kind::Symlink => "a symbolic link",
                Kind::Fifo => "a FIFO",
                Kind::Socket => "a socket",
                Kind::CharDevice => "a character device",
                Kind::BlockDevice => "a block device",
                Kind::Unknown => "not a regular file",
            }
        }
    }

    #[cfg(unix)]
    pub use unix::Dir;

    #[cfg(unix)]
    mod unix {
        use super::{File, Kind, Path, io};
        use rustix::fs::{AtFlags, FileType, Mode, OFlags};
        use std::os::fd::OwnedFd;

        impl Kind {
            fn of(file_type: FileType) -> Kind {
                match file_type {
                    FileType::RegularFile => Kind::File,
                    FileType::Directory => Kind::Dir,
                    FileType::Symlink => Kind::Symlink,
                    FileType::Fifo => Kind::Fifo,
                    FileType::Socket => Kind::Socket,
                    FileType::CharacterDevice => Kind::CharDevice,
                    FileType::BlockDevice => Kind::BlockDevice,
                    _ => Kind::Unknown,
                }
            }
        }

        /// An open directory. Names are resolved relative to it, one at a time.
        #[derive(Debug)]
        pub struct Dir(OwnedFd);

        impl Dir {
            /// Opens the root, following links: which directory to read is the user's choice.
            pub fn open(path: &Path) -> io::Result<Dir> {
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
                Ok(Dir(rustix::fs::open(path, flags, Mode::empty())?))
            }

            /// What `name` is, without following it.
            pub fn kind_of(&self, name: &str) -> io::Result<Kind> {
                let stat = rustix::fs::statat(&self.0, name, AtFlags::SYMLINK_NOFOLLOW)?;
                Ok(Kind::of(FileType::from_raw_mode(stat.st_mode)))
            }

            /// Opens the folder `name`; fails when it is a link or not a folder.
            pub fn subdir(&self, name: &str) -> io::Result<Dir> {
                let flags = OFlags::RDONLY
                    | OFlags::DIRECTORY
                    | OFlags::NOFOLLOW
                    | OFlags::NONBLOCK
                    | OFlags::CLOEXEC;
                Ok(Dir(rustix::fs::openat(
                    &self.0,
                    name,
                    flags,
                    Mode::empty(),
                )?))
            }

            /// Opens `name` for reading without following a link and without blocking (a FIFO
            /// opens at once), and says what was opened and its size, from the open file.
            pub fn open_file(&self, name: &str) -> io::Result<(File, Kind, u64)> {
                let flags = OFlags::RDONLY
                    | OFlags::NOFOLLOW
                    | OFlags::NONBLOCK
                    | OFlags::NOCTTY
                    | OFlags::CLOEXEC;
                let fd = rustix::fs::openat(&self.0, name, flags, Mode::empty())?;
                let stat = rustix::fs::fstat(&fd)?;
                let kind = Kind::of(FileType::from_raw_mode(stat.st_mode));
                let size = u64::try_from(stat.st_size).unwrap_or(0);
                Ok((File::from(fd), kind, size))
            }

            /// The entries with UTF-8 names (others cannot be S3 keys), without `.` and `..`.
            pub fn entries(&self) -> io::Result<Vec<(String, Kind)>> {
                let mut dir = rustix::fs::Dir::read_from(&self.0)?;
                let mut entries = Vec::new();
                while let Some(entry) = dir.read() {
                    let entry = entry?;
                    let Ok(name) = entry.file_name().to_str() else {
                        continue;
                    };
                    if name == "." || name == ".." {
                        continue;
                    }
                    let kind = match Kind::of(entry.file_type()) {
                        Kind::Unknown => match self.kind_of(name) {
                            Ok(kind) => kind,
                            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                            Err(e) => return Err(e),
                        },
                        kind => kind,
                    };
                    entries.push((name.to_owned(), kind));
                }
                Ok(entries)
            }
        }
    }

    #[cfg(not(unix))]
    pub use portable::Dir;

    /// Elsewhere, the same checks by path: links are not followed, but a folder swapped for a
    /// link between the check and the use could be.
    #[cfg(not(unix))]
    mod portable {
        use super::{File, Kind, Path, io};
        use std::path::PathBuf;

        #[derive(Debug)]
        pub struct Dir(PathBuf);

        fn kind(file_type: std::fs::FileType) -> Kind {
            if file_type.is_symlink() {
                Kind::Symlink
            } else if file_type.is_dir() {
                Kind::Dir
            } else if file_type.is_file() {
                Kind::File
            } else {
                Kind::Unknown
            }
        }

        fn not_a_folder() -> io::Error {
            io::Error::new(io::ErrorKind::NotADirectory, "not a folder")
        }

        impl Dir {
            pub fn open(path: &Path) -> io::Result<Dir> {
                if !path.is_dir() {
                    return Err(not_a_folder());
                }
                Ok(Dir(path.to_path_buf()))
            }

            pub fn kind_of(&self, name: &str) -> io::Result<Kind> {
                Ok(kind(
                    std::fs::symlink_metadata(self.0.join(name))?.file_type(),
                ))
            }

            pub fn subdir(&self, name: &str) -> io::Result<Dir> {
                match self.kind_of(name)? {
                    Kind::Dir => Ok(Dir(self.0.join(name))),
                    _ => Err(not_a_folder()),
                }
            }

            pub fn open_file(&self, name: &str) -> io::Result<(File, Kind, u64)> {
                if self.kind_of(name)? != Kind::File {
                    return Err(io::Error::other("not a regular file"));
                }
                let file = File::open(self.0.join(name))?;
                let metadata = file.metadata()?;
                Ok((file, kind(metadata.file_type()), metadata.len()))
            }

            pub fn entries(&self) -> io::Result<Vec<(String, Kind)>> {
                let mut entries = Vec::new();
                for entry in std::fs::read_dir(&self.0)? {
                    let entry = entry?;
                    if let Ok(name) = entry.file_name().into_string() {
                        entries.push((name, kind(entry.file_type()?)));
                    }
                }
                Ok(entries)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Duration;

    /// Writes `body` at `ROOT/rel`, creating folders.
    fn write(root: &Path, rel: &str, body: &[u8]) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }

    /// A small file is held in memory, a larger one streams, and one that grew past the cap
    /// after it was measured streams the rest: each reads as the whole file.
    #[test]
    fn a_body_is_the_whole_file_whether_held_in_memory_or_streamed() {
        let dir = tempfile::tempdir().unwrap();
        for (len, in_memory) in [
            (0usize, true),
            (1000, true),
            (64 * 1024, true),
            (200_000, false),
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let path = dir.path().join(format!("f{len}"));
            std::fs::write(&path, &data).unwrap();
            let mut body = small_body(std::fs::File::open(&path).unwrap()).unwrap();
            assert_eq!(matches!(body, Body::InMemory(_)), in_memory, "{len} bytes");
            let mut read = Vec::new();
            body.read_to_end(&mut read).unwrap();
            assert_eq!(read, data, "{len} bytes");
        }
    }

    /// `get`, failing the test rather than hanging if it blocks.
    async fn get(src: &LocalDirectory, bucket: &str, key: &str) -> Result<Object, SourceError> {
        tokio::time::timeout(Duration::from_secs(20), src.get(bucket, key))
            .await
            .expect("get blocked")
    }

    /// More folders than the cache of open folders holds, read twice over: every object is
    /// its own file each time, and a folder that does not exist is still not found.
    #[tokio::test]
    async fn objects_read_through_the_folder_cache_are_their_own_files() {
        let dir = tempfile::tempdir().unwrap();
        let folders = FOLDER_CACHE_ENTRIES + 6;
        for i in 0..folders {
            write(
                dir.path(),
                &format!("b/day{i}/f"),
                format!("body {i}").as_bytes(),
            );
        }
        let src = LocalDirectory::new(dir.path()).unwrap();
        for _ in 0..2 {
            for i in 0..folders {
                let mut obj = get(&src, "b", &format!("day{i}/f")).await.unwrap();
                let mut body = String::new();
                obj.body.read_to_string(&mut body).unwrap();
                assert_eq!(body, format!("body {i}"));
            }
        }
        assert!(matches!(
            get(&src, "b", "day0/missing").await,
            Err(SourceError::NotFound)
        ));
        assert!(matches!(
            get(&src, "b", "nowhere/f").await,
            Err(SourceError::NotFound)
        ));
    }

    /// Lists the way the verifier does: again after the last key until a page is empty. Returns
    /// the keys and the number of calls.
    async fn list_all(src: &LocalDirectory, bucket: &str, prefix: &str) -> (Vec<String>, usize) {
        let (mut keys, mut calls) = (Vec::<String>::new(), 0);
        loop {
            calls += 1;
            let page = src
                .list_keys(bucket, prefix, keys.last().map(String::as_str))
                .await
                .unwrap();
            if page.is_empty() {
                return (keys, calls);
            }
            keys.extend(page);
        }
    }

    fn not_regular(result: Result<Object, SourceError>) -> String {
        match result {
            Err(SourceError::NotARegularFile(what)) => what,
            Err(e) => panic!("expected NotARegularFile, got {e:?}"),
            Ok(_) => panic!("expected NotARegularFile, got an object"),
        }
    }

    #[tokio::test]
    async fn keys_that_would_leave_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("b")).unwrap();
        let src = LocalDirectory::new(dir.path()).unwrap();
        for key in [
            "../secret",
            "a/../../x",
            "/etc/passwd",
            "a//b",
            "a\\b",
            "",
            "a\0b",
        ] {
            assert!(
                matches!(src.get("b", key).await, Err(SourceError::UnsafeKey(_))),
                "{key}"
            );
        }
        for bucket in ["..", ".", "", "a/b"] {
            assert!(matches!(
                src.get(bucket, "x").await,
                Err(SourceError::UnsafeKey(_))
            ));
        }
        assert!(matches!(
            src.list_keys("b", "a//b/", None).await,
            Err(SourceError::UnsafeKey(_))
        ));
    }

    #[tokio::test]
    async fn a_sidecar_with_no_object_beside_it_is_listed_as_an_object() {
        let dir = tempfile::tempdir().unwrap();
        for key in ["p/a", "p/a.metadata.json", "p/orphan.json.gz.metadata.json"] {
            write(dir.path(), &format!("b/{key}"), b"x");
        }
        let src = LocalDirectory::new(dir.path()).unwrap();
        assert_eq!(
            src.list_keys("b", "p/", None).await.unwrap(),
            ["p/a", "p/orphan.json.gz.metadata.json"]
        );
    }

    #[tokio::test]
    async fn listing_is_sorted_skips_sidecars_and_starts_after_a_key() {
        let dir = tempfile::tempdir().unwrap();
        for key in [
            "p/a/2",
            "p/a/1",
            "p/b/1",
            "p/a/1.metadata.json",
            "q/1",
            "p!",
        ] {
            write(dir.path(), &format!("b/{key}"), b"x");
        }
        let src = LocalDirectory::new(dir.path()).unwrap();
        assert_eq!(
            src.list_keys("b", "p/", None).await.unwrap(),
            ["p/a/1", "p/a/2", "p/b/1"]
        );
        assert_eq!(
            src.list_keys("b", "p", None).await.unwrap(),
            ["p!", "p/a/1", "p/a/2", "p/b/1"]
        );
        assert_eq!(
            src.list_keys("b", "p/a", Some("p/a/1")).await.unwrap(),
            ["p/a/2"]
        );
        assert_eq!(
            src.list_keys("b", "", Some("p/a/2")).await.unwrap(),
            ["p/b/1", "q/1"]
        );
        assert_eq!(src.list_keys("b", "", Some("p0")).await.unwrap(), ["q/1"]);
        assert_eq!(src.list_folders("b", "p/").await.unwrap(), ["a", "b"]);
        assert_eq!(src.list_folders("b", "").await.unwrap(), ["p", "q"]);
        assert!(src.list_keys("b", "zz/", None).await.unwrap().is_empty());
        assert!(src.list_keys("nope", "p/", None).await.unwrap().is_empty());
        // A regular file where a folder would be: nothing below it.
        assert!(src.list_keys("b", "p!/x/", None).await.unwrap().is_empty());
        assert_eq!(
            src.get("b", "p!/x").await.err(),
            Some(SourceError::NotFound)
        );
    }

    #[tokio::test]
    async fn a_large_folder_is_listed_in_pages_in_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("b/AWSLogs/d");
        std::fs::create_dir_all(&folder).unwrap();
        let mut expected: Vec<String> = (0..20_000).map(|i| format!("AWSLogs/d/{i:05}")).collect();
        for key in &expected {
            std::fs::File::create(dir.path().join("b").join(key)).unwrap();
        }
        write(dir.path(), "b/AWSLogs/e/1", b"x");
        let src = LocalDirectory::new(dir.path()).unwrap();
        let (keys, calls) = list_all(&src, "b", "AWSLogs/d/").await;
        assert_eq!(keys, expected);
        assert_eq!(calls, 21, "pages of 1,000 keys, then an empty one");
        let page = src
            .list_keys("b", "AWSLogs/", Some("AWSLogs/d/19500"))
            .await
            .unwrap();
        expected.drain(..19_501);
        expected.push("AWSLogs/e/1".into());
        // The page runs on into the next folder, in key order.
        assert_eq!(page, expected);
    }

    /// The next page of a listing resumes where the last one stopped: the folder is read and
    /// sorted once per listing, not once per page (which made a folder of n junk objects cost
    /// n²/1,000). A file removed after the first page is still listed, which shows the folder
    /// was not read again; a finished listing keeps nothing, and one abandoned is dropped when
    /// the same folder is listed afresh.
    #[tokio::test]
    async fn a_listing_resumes_where_its_last_page_stopped_without_reading_the_folder_again() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("b/p");
        std::fs::create_dir_all(&folder).unwrap();
        let expected: Vec<String> = (0..2_500).map(|i| format!("p/{i:05}")).collect();
        for key in &expected {
            std::fs::File::create(dir.path().join("b").join(key)).unwrap();
        }
        let src = LocalDirectory::new(dir.path()).unwrap();
        let kept = |src: &LocalDirectory| src.listings.0.lock().unwrap().len();
        let first = src.list_keys("b", "p/", None).await.unwrap();
        assert_eq!(first, expected[..1_000]);
        assert_eq!(kept(&src), 1);
        std::fs::remove_file(folder.join("01500")).unwrap();
        let mut keys = first;
        loop {
            let page = src
                .list_keys("b", "p/", keys.last().map(String::as_str))
                .await
                .unwrap();
            if page.is_empty() {
                break;
            }
            keys.extend(page);
        }
        assert_eq!(keys, expected, "resumed from the folder as first read");
        assert_eq!(kept(&src), 0, "a finished listing keeps nothing");
        // Abandoned after one page, then listed afresh: the abandoned one is dropped.
        src.list_keys("b", "p/", None).await.unwrap();
        assert_eq!(kept(&src), 1);
        let again = src.list_keys("b", "p/", None).await.unwrap();
        assert_eq!(again, expected[..1_000]);
        assert_eq!(kept(&src), 1);
    }

    #[test]
    fn folders_entirely_before_start_after_are_not_read() {
        assert!(all_at_or_before("a/2026/01/", Some("a/2026/02/x")));
        assert!(!all_at_or_before("a/2026/02/", Some("a/2026/02/x")));
        assert!(!all_at_or_before("a/2026/03/", Some("a/2026/02/x")));
        assert!(!all_at_or_before("a/", None));
        // A folder named by a prefix of start_after can hold later keys.
        assert!(!all_at_or_before("a/b/", Some("a/b")));
    }

    #[tokio::test]
    async fn metadata_comes_from_the_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "b/k", b"body");
        write(dir.path(), "b/k.metadata.json", br#"{"Signature":"ab"}"#);
        write(dir.path(), "b/plain", b"body");
        let src = LocalDirectory::new(dir.path()).unwrap();
        let mut obj = src.get("b", "k").await.unwrap();
        assert_eq!(
            obj.metadata.get("signature").map(String::as_str),
            Some("ab")
        );
        assert_eq!(obj.metadata_problem, None);
        let mut body = String::new();
        obj.body.read_to_string(&mut body).unwrap();
        assert_eq!(body, "body");
        let plain = src.get("b", "plain").await.unwrap();
        assert!(plain.metadata.is_empty());
        assert_eq!(plain.metadata_problem, None);
        assert_eq!(
            src.get("b", "missing").await.err(),
            Some(SourceError::NotFound)
        );
    }

    #[tokio::test]
    async fn a_malformed_sidecar_is_reported_without_failing_the_read() {
        let dir = tempfile::tempdir().unwrap();
        let large = format!(
            r#"{{"signature":"{}"}}"#,
            "a".repeat(MAX_METADATA_BYTES as usize)
        );
        let cases: [(&str, &[u8]); 6] = [
            ("not-json", b"signature=ab"),
            ("array", br#"["ab"]"#),
            ("number", br#"{"signature":12}"#),
            ("nested", br#"{"signature":{"a":"b"}}"#),
            ("truncated", br#"{"signature":"ab""#),
            ("large", large.as_bytes()),
        ];
        for (key, sidecar) in cases {
            write(dir.path(), &format!("b/{key}"), b"body");
            write(dir.path(), &format!("b/{key}{METADATA_SUFFIX}"), sidecar);
        }
        write(dir.path(), "b/dir", b"body");
        std::fs::create_dir(dir.path().join(format!("b/dir{METADATA_SUFFIX}"))).unwrap();
        let src = LocalDirectory::new(dir.path()).unwrap();
        for key in [
            "not-json",
            "array",
            "number",
            "nested",
            "truncated",
            "large",
            "dir",
        ] {
            let mut obj = get(&src, "b", key).await.unwrap();
            assert!(obj.metadata.is_empty(), "{key}");
            let problem = obj.metadata_problem.expect(key);
            assert!(problem.contains(METADATA_SUFFIX), "{key}: {problem}");
            let mut body = String::new();
            obj.body.read_to_string(&mut body).unwrap();
            assert_eq!(body, "body", "{key}");
        }
    }

    #[cfg(unix)]
    mod unix {
        use super::*;
        use std::os::unix::fs::symlink;

        fn mkfifo(path: &Path) {
            let status = std::process::Command::new("mkfifo")
                .arg(path)
                .status()
                .unwrap();
            assert!(status.success());
        }

        #[tokio::test]
        async fn special_files_are_not_read_and_never_block() {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "b/d/real", b"x");
            mkfifo(&dir.path().join("b/d/fifo"));
            let _socket =
                std::os::unix::net::UnixListener::bind(dir.path().join("b/d/socket")).unwrap();
            std::fs::create_dir(dir.path().join("b/d/folder")).unwrap();
            write(dir.path(), "b/d/folder/inner", b"x");
            let src = LocalDirectory::new(dir.path()).unwrap();
            assert!(not_regular(get(&src, "b", "d/fifo").await).contains("FIFO"));
            assert!(not_regular(get(&src, "b", "d/socket").await).contains("socket"));
            assert!(not_regular(get(&src, "b", "d/folder").await).contains("directory"));
            assert!(not_regular(get(&src, "b", "d/fifo/x").await).contains("FIFO"));
            // Listed, so that the verifier can report them; the folder is walked, not listed.
            let (keys, _) = list_all(&src, "b", "d/").await;
            assert_eq!(keys, ["d/fifo", "d/folder/inner", "d/real", "d/socket"]);
            assert!(get(&src, "b", "d/real").await.is_ok());
        }

        #[tokio::test]
        async fn a_device_is_not_opened() {
            // Creating a device node needs privileges; read the system's through a root of `/`.
            let src = LocalDirectory::new("/").unwrap();
            let what = not_regular(get(&src, "dev", "null").await);
            assert_eq!(what, "dev/null is a character device");
        }

        #[tokio::test]
        async fn symbolic_links_are_never_followed() {
            let outside = tempfile::tempdir().unwrap();
            write(outside.path(), "secret", b"secret");
            write(outside.path(), "dir/secret", b"secret");
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            write(root, "b/p/real", b"x");
            write(root, "b/p/sub/inner", b"x");
            symlink(outside.path().join("secret"), root.join("b/p/out")).unwrap();
            symlink(root.join("b/p/real"), root.join("b/p/in")).unwrap();
            symlink("real", root.join("b/p/relative")).unwrap();
            symlink(outside.path().join("dir"), root.join("b/p/outdir")).unwrap();
            symlink(root.join("b/p/sub"), root.join("b/p/indir")).unwrap();
            symlink(root.join("b/p"), root.join("b/q")).unwrap();
            symlink(root.join("b"), root.join("linked-bucket")).unwrap();
            let src = LocalDirectory::new(root).unwrap();
            for key in ["p/out", "p/in", "p/relative", "p/outdir", "p/indir"] {
                assert!(
                    not_regular(get(&src, "b", key).await).contains("symbolic link"),
                    "{key}"
                );
            }
            for (bucket, key) in [
                ("b", "p/outdir/secret"),
                ("b", "p/indir/inner"),
                ("b", "q/real"),
                ("linked-bucket", "p/real"),
            ] {
                assert!(
                    not_regular(get(&src, bucket, key).await).contains("symbolic link"),
                    "{bucket}/{key}"
                );
            }
            // Links are listed as keys; linked folders are not descended into.
            let (keys, _) = list_all(&src, "b", "").await;
            assert_eq!(
                keys,
                [
                    "p/in",
                    "p/indir",
                    "p/out",
                    "p/outdir",
                    "p/real",
                    "p/relative",
                    "p/sub/inner",
                    "q"
                ]
            );
            assert_eq!(src.list_folders("b", "").await.unwrap(), ["p"]);
            assert_eq!(src.list_folders("b", "p/").await.unwrap(), ["sub"]);
            // A listing that would start below a link is refused rather than empty.
            for (bucket, prefix) in [("b", "q/"), ("b", "p/outdir/"), ("linked-bucket", "p/")] {
                assert!(
                    matches!(
                        src.list_keys(bucket, prefix, None).await,
                        Err(SourceError::NotARegularFile(_))
                    ),
                    "{bucket}/{prefix}"
                );
                assert!(matches!(
                    src.list_folders(bucket, prefix).await,
                    Err(SourceError::NotARegularFile(_))
                ));
            }
            assert_eq!(src.buckets().unwrap(), ["b"]);
        }

        #[tokio::test]
        async fn a_special_or_linked_sidecar_is_reported_without_failing_the_read() {
            let outside = tempfile::tempdir().unwrap();
            write(outside.path(), "meta", br#"{"signature":"ab"}"#);
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "b/fifo", b"body");
            mkfifo(&dir.path().join(format!("b/fifo{METADATA_SUFFIX}")));
            write(dir.path(), "b/link", b"body");
            symlink(
                outside.path().join("meta"),
                dir.path().join(format!("b/link{METADATA_SUFFIX}")),
            )
            .unwrap();
            let src = LocalDirectory::new(dir.path()).unwrap();
            for (key, kind) in [("fifo", "FIFO"), ("link", "symbolic link")] {
                let obj = get(&src, "b", key).await.unwrap();
                assert!(obj.metadata.is_empty());
                assert!(obj.metadata_problem.unwrap().contains(kind), "{key}");
            }
            // Sidecars stay out of listings whatever they are.
            assert_eq!(list_all(&src, "b", "").await.0, ["fifo", "link"]);
        }

        #[tokio::test]
        async fn names_that_cannot_be_keys_are_skipped() {
            use std::os::unix::ffi::OsStrExt;
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "b/ok", b"x");
            let bucket = dir.path().join("b");
            if std::fs::write(bucket.join(std::ffi::OsStr::from_bytes(b"bad\xff")), b"x").is_err() {
                return; // a file system that refuses non-UTF-8 names (macOS)
            }
            // Longer than S3's 1,024-byte keys: five nested folders of 250 bytes.
            let mut long = bucket.clone();
            for c in ['a', 'b', 'c', 'd', 'e'] {
                long.push(c.to_string().repeat(250));
            }
            std::fs::create_dir_all(&long).unwrap();
            std::fs::write(long.join("f"), b"x").unwrap();
            let src = LocalDirectory::new(dir.path()).unwrap();
            assert_eq!(list_all(&src, "b", "").await.0, ["ok"]);
        }
    }
}
