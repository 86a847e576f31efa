//! Checkpoint states: where each chain of a trail was last proven, so that a scheduled run
//! verifies only what is new and proves that it joins what was verified before.
//!
//! A [`State`] holds, per chain, the newest digest proven valid with every hour before it
//! ([`ChainHead`]: key, SHA-256, signature, end time), with the trail, bucket and prefix it
//! belongs to. [`State::advanced`] moves each chain's checkpoint to the head a run proved,
//! and never past an hour that was not proven valid (a chain with a finding keeps the head
//! before it, so the next run reports the finding again until it is resolved).
//!
//! What a state is trusted with: where to resume. Whoever can rewrite it can make a run skip
//! hours (move a checkpoint forward) or fail (point it at anything else); they cannot make a
//! forged or altered digest pass, because the checkpoint digest is read again and must verify
//! under CloudTrail's key, unchanged, and the new digests must name it in their signed fields.
//! Keep the state where the trail bucket's writers cannot write (another account's bucket, a
//! bucket with its own policy, a local disk).
//!
//! A [`StateStore`] reads and writes a state atomically: a local file is replaced by rename
//! (a crash leaves the old state), an S3 object by a conditional write (`If-Match` on the ETag
//! read, `If-None-Match: *` for a new one), so two overlapping runs cannot both write: the
//! second gets [`StateError::Conflict`].

use crate::findings::ChainHead;
use crate::layout::{ChainId, is_account_id, is_region};
use crate::options::TimeRange;
use crate::report::Report;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `format` of every state file.
pub const STATE_FORMAT: &str = "ctverify-state";
/// The version of the state format written by this crate.
pub const STATE_VERSION: u32 = 1;
/// Largest state read, in bytes: a checkpoint takes under 1 KB, so this holds a million chains.
pub const MAX_STATE_BYTES: u64 = 1 << 30;

/// Where each chain of a trail was last proven.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Always [`STATE_FORMAT`].
    pub format: String,
    /// [`STATE_VERSION`].
    pub version: u32,
    /// The trail's ARN.
    pub trail: String,
    /// The bucket the trail's files are read from.
    pub bucket: String,
    /// The trail's key prefix.
    pub prefix: Option<String>,
    /// Where chains without a checkpoint start (the first run's `--from`): a region or account
    /// that appears later is verified from here.
    pub from: DateTime<Utc>,
    /// When the state was last written.
    pub updated_at: DateTime<Utc>,
    /// Per chain, the newest digest proven (chains in order).
    pub chains: Vec<ChainCheckpoint>,
}

/// One chain's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainCheckpoint {
    /// The chain.
    #[serde(flatten)]
    pub chain: ChainId,
    /// The newest digest proven, with every hour before it.
    #[serde(flatten)]
    pub head: ChainHead,
}

/// Why a state could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Not a state this version reads.
    #[error("{location} is not a ctverify state: {reason}")]
    Malformed {
        /// Where it was read.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// The state belongs to another trail, bucket or prefix.
    #[error(
        "{location} is the state of {found}, not of {wanted}: use one state per trail and bucket"
    )]
    OtherTrail {
        /// Where it was read.
        location: String,
        /// What the state is for.
        found: String,
        /// What this run verifies.
        wanted: String,
    },
    /// Someone else wrote the state since this run read it (two overlapping runs).
    #[error(
        "{location} was changed by someone else since this run read it (another run of ctverify \
         overlapping this one?); it was not overwritten: run again to verify from the newer \
         state"
    )]
    Conflict {
        /// Where.
        location: String,
    },
    /// Reading or writing failed.
    #[error("{operation} {location} failed: {reason}")]
    Io {
        /// `reading` or `writing`.
        operation: &'static str,
        /// Where.
        location: String,
        /// Why.
        reason: String,
    },
}

impl State {
    /// An empty state for a trail, chains without a checkpoint starting at `from`.
    pub fn new(
        trail: impl Into<String>,
        bucket: impl Into<String>,
        prefix: Option<String>,
        from: DateTime<Utc>,
    ) -> Self {
        State {
            format: STATE_FORMAT.into(),
            version: STATE_VERSION,
            trail: trail.into(),
            bucket: bucket.into(),
            prefix: prefix.filter(|p| !p.is_empty()),
            from,
            updated_at: Utc::now(),
            chains: Vec::new(),
        }
    }

    /// Parses a state, checking every field a run relies on: it is read from a file or an
    /// object someone else may have written.
    ///
    /// # Errors
    /// [`StateError::Malformed`] naming `location`.
    pub fn parse(bytes: &[u8], location: &str) -> Result<Self, StateError> {
        let malformed = |reason: String| StateError::Malformed {
            location: location.to_owned(),
            reason,
        };
        let state: State = serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
        if state.format != STATE_FORMAT {
            return Err(malformed(format!("format is {:?}", state.format)));
        }
        if state.version != STATE_VERSION {
            return Err(malformed(format!(
                "version {} (this ctverify reads version {STATE_VERSION})",
                state.version
            )));
        }
        let (min, max) = TimeRange::bounds();
        let in_bounds = |t: DateTime<Utc>| min <= t && t <= max;
        if !in_bounds(state.from) {
            return Err(malformed(format!("from {} is out of bounds", state.from)));
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &state.chains {
            let h = &c.head;
            if !is_account_id(&c.chain.account_id) || !is_region(&c.chain.region) {
                return Err(malformed(format!("bad chain {}", c.chain)));
            }
            if !seen.insert(c.chain.clone()) {
                return Err(malformed(format!("chain {} twice", c.chain)));
            }
            let hex_ok = |s: &str, len: std::ops::RangeInclusive<usize>| {
                len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
            };
            if h.key.is_empty()
                || h.bucket.is_empty()
                || !hex_ok(&h.sha256, 64..=64)
                || !hex_ok(&h.signature, 2..=4096)
                || !in_bounds(h.start_time)
                || !in_bounds(h.end_time)
                || h.start_time >= h.end_time
            {
                return Err(malformed(format!("bad checkpoint for chain {}", c.chain)));
            }
        }
        Ok(state)
    }

    /// The state as written: pretty JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Fails unless the state is for this trail, bucket and prefix.
    ///
    /// # Errors
    /// [`StateError::OtherTrail`].
    pub fn check_belongs_to(
        &self,
        trail: &str,
        bucket: &str,
        prefix: Option<&str>,
        location: &str,
    ) -> Result<(), StateError> {
        let prefix = prefix.filter(|p| !p.is_empty());
        if self.trail != trail || self.bucket != bucket || self.prefix.as_deref() != prefix {
            let show = |t: &str, b: &str, p: Option<&str>| {
                format!("trail {t} in s3://{b}/{}", p.unwrap_or(""))
            };
            return Err(StateError::OtherTrail {
                location: location.to_owned(),
                found: show(&self.trail, &self.bucket, self.prefix.as_deref()),
                wanted: show(trail, bucket, prefix),
            });
        }
        Ok(())
    }

    /// Each chain's checkpoint.
    pub fn checkpoints(&self) -> BTreeMap<ChainId, ChainHead> {
        self.chains
            .iter()
            .map(|c| (c.chain.clone(), c.head.clone()))
            .collect()
    }

    /// The state after `report`: each chain the run proved further moves to its new head;
    /// every other chain keeps its checkpoint (a finding, or nothing new, never moves one).
    pub fn advanced(&self, report: &Report) -> State {
        let mut chains = self.checkpoints();
        for chain in &report.chains {
            if let Some(head) = &chain.head {
                let newer = chains
                    .get(&chain.chain)
                    .is_none_or(|old| head.end_time > old.end_time);
                if newer {
                    chains.insert(chain.chain.clone(), head.clone());
                }
            }
        }
        State {
            updated_at: Utc::now(),
            chains: chains
                .into_iter()
                .map(|(chain, head)| ChainCheckpoint { chain, head })
                .collect(),
            ..self.clone()
        }
    }
}

/// Where a state is kept: a local file or an S3 object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLocation {
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

impl std::str::FromStr for StateLocation {
    type Err = String;

    /// `s3://BUCKET/KEY`, or a path.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.strip_prefix("s3://") {
            Some(rest) => match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
                    Ok(StateLocation::S3 {
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                    })
                }
                _ => Err(format!("{s:?} is not s3://BUCKET/KEY")),
            },
            None if s.is_empty() => Err("an empty path".into()),
            None => Ok(StateLocation::File(PathBuf::from(s))),
        }
    }
}

impl std::fmt::Display for StateLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateLocation::File(path) => write!(f, "{}", path.display()),
            StateLocation::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// A state as read, with what a write must find unchanged.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The state (`None`: there is none yet).
    pub state: Option<State>,
    /// The file's SHA-256 or the object's ETag when read.
    version: Option<String>,
}

/// Reads and writes a state where it is kept.
#[derive(Debug, Clone)]
pub struct StateStore {
    location: StateLocation,
    #[cfg(feature = "aws")]
    client: Option<aws_sdk_s3::Client>,
}

impl StateStore {
    /// A store for a local file.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        StateStore {
            location: StateLocation::File(path.into()),
            #[cfg(feature = "aws")]
            client: None,
        }
    }

    /// A store for `location`: an S3 object is read and written with `conf` in the bucket's
    /// own region (GetBucketLocation).
    ///
    /// # Errors
    /// [`StateError::Io`] when the bucket's region cannot be read.
    #[cfg(feature = "aws")]
    pub async fn open(
        location: StateLocation,
        conf: &aws_config::SdkConfig,
    ) -> Result<Self, StateError> {
        let client = match &location {
            StateLocation::File(_) => None,
            StateLocation::S3 { bucket, .. } => {
                let probe = crate::aws::s3_client(conf);
                let region = crate::trail_api::bucket_region(&probe, bucket)
                    .await
                    .map_err(|e| StateError::Io {
                        operation: "locating",
                        location: location.to_string(),
                        reason: e.to_string(),
                    })?;
                let conf = conf
                    .to_builder()
                    .region(aws_config::Region::new(region))
                    .build();
                Some(crate::aws::s3_client(&conf))
            }
        };
        Ok(StateStore { location, client })
    }

    /// Where the state is kept.
    pub fn location(&self) -> &StateLocation {
        &self.location
    }

    /// Reads the state (none yet is not an error).
    ///
    /// # Errors
    /// [`StateError`] when it cannot be read or parsed.
    pub async fn load(&self) -> Result<Loaded, StateError> {
        let name = self.location.to_string();
        let bytes = match &self.location {
            StateLocation::File(path) => read_file(path, &name)?,
            StateLocation::S3 { bucket, key } => self.get_s3(bucket, key).await?,
        };
        let Some((bytes, version)) = bytes else {
            return Ok(Loaded {
                state: None,
                version: None,
            });
        };
        Ok(Loaded {
            state: Some(State::parse(&bytes, &name)?),
            version: Some(version),
        })
    }

    /// Writes `state` in place of what `loaded` read, atomically, only if nobody else wrote
    /// in between.
    ///
    /// # Errors
    /// [`StateError::Conflict`] when the state changed since it was read; [`StateError::Io`].
    pub async fn save(&self, state: &State, loaded: &Loaded) -> Result<(), StateError> {
        let name = self.location.to_string();
        let bytes = state.to_json();
        match &self.location {
            StateLocation::File(path) => write_file(path, &name, &bytes, loaded.version.as_deref()),
            StateLocation::S3 { bucket, key } => {
                self.put_s3(bucket, key, bytes, loaded.version.as_deref())
                    .await
            }
        }
    }

    #[cfg(feature = "aws")]
    async fn get_s3(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(Vec<u8>, String)>, StateError> {
        let name = self.location.to_string();
        let io = |reason: String| StateError::Io {
            operation: "reading",
            location: name.clone(),
            reason,
        };
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| io("no S3 client".into()))?;
        let answer = match client.get_object().bucket(bucket).key(key).send().await {
            Ok(answer) => answer,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Ok(None);
            }
            Err(e) => {
                return Err(io(crate::aws::error_text(
                    &e,
                    Some(&crate::aws::AwsCall::new("GetObject", "s3:GetObject", None)),
                )));
            }
        };
        let etag = answer.e_tag().unwrap_or_default().to_owned();
        if answer.content_length().unwrap_or(0) as u64 > MAX_STATE_BYTES {
            return Err(io(format!("larger than {MAX_STATE_BYTES} bytes")));
        }
        let mut body = answer.body;
        let mut bytes = Vec::new();
        while let Some(chunk) = body.try_next().await.map_err(|e| io(e.to_string()))? {
            if (bytes.len() + chunk.len()) as u64 > MAX_STATE_BYTES {
                return Err(io(format!("larger than {MAX_STATE_BYTES} bytes")));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some((bytes, etag)))
    }

    #[cfg(not(feature = "aws"))]
    async fn get_s3(&self, _: &str, _: &str) -> Result<Option<(Vec<u8>, String)>, StateError> {
        Err(StateError::Io {
            operation: "reading",
            location: self.location.to_string(),
            reason: "built without the `aws` feature".into(),
        })
    }

    #[cfg(feature = "aws")]
    async fn put_s3(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        etag: Option<&str>,
    ) -> Result<(), StateError> {
        let name = self.location.to_string();
        let io = |reason: String| StateError::Io {
            operation: "writing",
            location: name.clone(),
            reason,
        };
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| io("no S3 client".into()))?;
        let put = client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(bytes.into());
        // S3's conditional writes: the write happens only if the object is still the one read.
        let put = match etag {
            Some(etag) => put.if_match(etag),
            None => put.if_none_match("*"),
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                // 412: the precondition failed; 409: a concurrent conditional write won.
                if matches!(status, Some(412 | 409)) {
                    Err(StateError::Conflict { location: name })
                } else {
                    Err(io(crate::aws::error_text(
                        &e,
                        Some(&crate::aws::AwsCall::new("PutObject", "s3:PutObject", None)),
                    )))
                }
            }
        }
    }

    #[cfg(not(feature = "aws"))]
    async fn put_s3(
        &self,
        _: &str,
        _: &str,
        _: Vec<u8>,
        _: Option<&str>,
    ) -> Result<(), StateError> {
        Err(StateError::Io {
            operation: "writing",
            location: self.location.to_string(),
            reason: "built without the `aws` feature".into(),
        })
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A local state and its SHA-256, `None` when there is no file.
fn read_file(path: &Path, name: &str) -> Result<Option<(Vec<u8>, String)>, StateError> {
    use std::io::Read;
    let io = |reason: String| StateError::Io {
        operation: "reading",
        location: name.to_owned(),
        reason,
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e.to_string())),
    };
    let meta = file.metadata().map_err(|e| io(e.to_string()))?;
    if !meta.is_file() {
        return Err(io("not a regular file".into()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_STATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io(e.to_string()))?;
    if bytes.len() as u64 > MAX_STATE_BYTES {
        return Err(io(format!("larger than {MAX_STATE_BYTES} bytes")));
    }
    let version = sha256_hex(&bytes);
    Ok(Some((bytes, version)))
}

/// Writes a local state atomically: a temporary file beside it, synced, then renamed over it,
/// so a crash leaves either the old state or the new one. Refuses when the file is no longer
/// what was read (`expected`: its SHA-256 then, `None`: there was none).
fn write_file(
    path: &Path,
    name: &str,
    bytes: &[u8],
    expected: Option<&str>,
) -> Result<(), StateError> {
    use std::io::Write;
    let io = |reason: String| StateError::Io {
        operation: "writing",
        location: name.to_owned(),
        reason,
    };
    let now = read_file(path, name)?.map(|(_, version)| version);
    if now.as_deref() != expected {
        return Err(StateError::Conflict {
            location: name.to_owned(),
        });
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let temp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        // The rename itself must reach the disk for the new state to survive a crash.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map_err(|e| io(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(key: &str, end_hour: u32) -> ChainHead {
        use chrono::TimeZone;
        ChainHead {
            bucket: "b".into(),
            key: key.into(),
            sha256: "ab".repeat(32),
            signature: "cd".repeat(256),
            start_time: Utc
                .with_ymd_and_hms(2026, 1, 1, end_hour - 1, 0, 0)
                .unwrap(),
            end_time: Utc.with_ymd_and_hms(2026, 1, 1, end_hour, 0, 0).unwrap(),
        }
    }

    fn state() -> State {
        let mut s = State::new(
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/t",
            "b",
            None,
            "2026-01-01T00:00:00Z".parse().unwrap(),
        );
        s.chains.push(ChainCheckpoint {
            chain: ChainId {
                account_id: "111122223333".into(),
                region: "us-east-1".into(),
            },
            head: head("k", 5),
        });
        s
    }

    #[test]
    fn a_state_reads_back_as_written() {
        let s = state();
        assert_eq!(State::parse(&s.to_json(), "x").unwrap(), s);
    }

    #[test]
    fn a_state_with_a_bad_field_is_refused() {
        let mut s = state();
        s.chains[0].head.sha256 = "zz".into();
        assert!(State::parse(&s.to_json(), "x").is_err());
        let mut s = state();
        s.version = 2;
        assert!(State::parse(&s.to_json(), "x").is_err());
        let mut s = state();
        s.chains.push(s.chains[0].clone());
        assert!(State::parse(&s.to_json(), "x").is_err());
        assert!(State::parse(b"[]", "x").is_err());
    }

    #[test]
    fn a_state_of_another_trail_or_bucket_is_refused() {
        let s = state();
        assert!(s.check_belongs_to(&s.trail, "b", None, "x").is_ok());
        assert!(s.check_belongs_to(&s.trail, "other", None, "x").is_err());
        assert!(s.check_belongs_to(&s.trail, "b", Some("p"), "x").is_err());
    }

    #[test]
    fn locations_parse() {
        assert_eq!(
            "s3://b/k/state.json".parse::<StateLocation>(),
            Ok(StateLocation::S3 {
                bucket: "b".into(),
                key: "k/state.json".into()
            })
        );
        assert!("s3://b".parse::<StateLocation>().is_err());
        assert_eq!(
            "st.json".parse::<StateLocation>(),
            Ok(StateLocation::File("st.json".into()))
        );
    }

    #[test]
    fn a_file_write_refuses_a_state_changed_since_it_was_read() {
        let dir = std::env::temp_dir().join(format!("ctverify-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        let _ = std::fs::remove_file(&path);
        let none = read_file(&path, "x").unwrap();
        assert!(none.is_none());
        write_file(&path, "x", b"one", None).unwrap();
        // A second writer that also read "nothing" loses.
        assert!(matches!(
            write_file(&path, "x", b"two", None),
            Err(StateError::Conflict { .. })
        ));
        let (_, version) = read_file(&path, "x").unwrap().unwrap();
        write_file(&path, "x", b"two", Some(&version)).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
