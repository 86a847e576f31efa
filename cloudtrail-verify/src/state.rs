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
//! second gets a [`StorageError::Conflict`].

use crate::document::DocumentHeader;
use crate::findings::{ChainHead, CoverageGap, GapKind, Status};
use crate::layout::{ChainId, TrailArn, is_account_id, is_region};
use crate::options::TimeRange;
use crate::report::Report;
use crate::storage::{Location, StorageError, Store, Version};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `format` of every state file.
pub const STATE_FORMAT: &str = "ctverify-state";
/// The version of the state format written by this crate.
pub const STATE_VERSION: u32 = 1;
/// Largest state read, in bytes: a checkpoint takes about 1 KB, so this holds 60,000 chains.
pub const MAX_STATE_BYTES: u64 = 64 << 20;

/// Where each chain of a trail was last proven.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// [`STATE_FORMAT`] in [`STATE_VERSION`], the trail, the bucket its files are read from and
    /// its key prefix.
    #[serde(flatten)]
    pub header: DocumentHeader,
    /// Where chains without a checkpoint start (the first run's `--from`): a region or account
    /// that appears later is verified from here.
    pub from: DateTime<Utc>,
    /// When the state was last written.
    pub updated_at: DateTime<Utc>,
    /// Per chain, the newest digest proven (chains in order).
    pub chains: Vec<ChainCheckpoint>,
    /// The findings the last run sent to Security Hub (`ctverify --security-hub`), so that a
    /// later run that no longer finds one sends it once more as resolved. Whoever rewrites the
    /// state can only change which findings get resolved, never a verdict: a finding a run
    /// still finds is sent as found, whatever this says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sent_findings: Vec<crate::findings::ReportFinding>,
}

/// Most findings a state remembers as sent ([`State::sent_findings`]): past it, the oldest are
/// forgotten (and are not resolved by a later run), so the state stays below
/// [`MAX_STATE_BYTES`].
pub const MAX_SENT_FINDINGS: usize = 20_000;

/// One chain's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainCheckpoint {
    /// The chain.
    #[serde(flatten)]
    pub chain: ChainId,
    /// The newest digest proven, with every hour before it.
    #[serde(flatten)]
    pub head: ChainHead,
    /// Restarts before the checkpoint that nothing explained or accepted when the checkpoint
    /// moved past them: every later run reports them again (unverifiable) until CloudTrail's
    /// event history explains them or a reviewed exception accepts them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open_gaps: Vec<CoverageGap>,
}

/// Most open gaps a state carries per chain; past it the checkpoint stops moving rather than
/// forget one.
pub const MAX_OPEN_GAPS: usize = 1000;

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
    /// The state is kept in the trail's own bucket, and the run did not accept the risk.
    #[error(
        "--state {location} is in the trail's own bucket {bucket}, where whoever can write the \
         trail's files can usually rewrite the state too (and make later runs skip hours): keep \
         it in a bucket the trail's writers cannot write, or pass --allow-state-in-trail-bucket \
         to accept the risk"
    )]
    InTrailBucket {
        /// Where the state is kept.
        location: String,
        /// The trail's bucket.
        bucket: String,
    },
    /// Reading or writing it failed, or someone else wrote it since this run read it.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Where a run keeps its state and what it found there, for the checks
/// [`check_use`] makes before the run reads anything of the trail.
#[derive(Debug, Clone)]
pub struct KeptState {
    /// Where the state is kept.
    pub location: Location,
    /// The state found there; `None` on a first run.
    pub state: Option<State>,
    /// Whether a state in the trail's own bucket is accepted (with a warning).
    pub allow_in_trail_bucket: bool,
}

/// The rules for using a state with a trail that writes to `bucket`/`prefix`, checked before
/// the run reads anything: a state of another trail is refused; a state kept in the trail's own
/// bucket is refused unless accepted (whoever can write the trail's files can usually rewrite
/// the state and move a checkpoint forward, making later runs skip hours); a state of the same
/// trail kept while it wrote elsewhere is used (a trail moved with UpdateTrail: its checkpoints
/// join the new place only through CloudTrail's signed links). Returns the warnings to report.
///
/// # Errors
/// [`StateError::OtherTrail`], [`StateError::InTrailBucket`].
pub fn check_use(
    kept: &KeptState,
    trail: &TrailArn,
    bucket: &str,
    prefix: Option<&str>,
) -> Result<Vec<String>, StateError> {
    let mut warnings = Vec::new();
    let location = kept.location.to_string();
    if let Location::S3 {
        bucket: kept_in, ..
    } = &kept.location
        && kept_in == bucket
    {
        if !kept.allow_in_trail_bucket {
            return Err(StateError::InTrailBucket {
                location,
                bucket: bucket.to_owned(),
            });
        }
        warnings.push(format!(
            "the state {location} is kept in the trail's own bucket {bucket} \
             (--allow-state-in-trail-bucket): whoever can write the trail's files there can \
             usually rewrite the state and make later runs skip hours"
        ));
    }
    if let Some(state) = &kept.state {
        state.check_belongs_to(trail, bucket, prefix, &location)?;
        if let Some(old) = state.moved_from(bucket, prefix) {
            warnings.push(format!(
                "the state was kept while the trail wrote to {old}; it writes to \
                 s3://{bucket}/{} now (moved with UpdateTrail?): its checkpoints join only \
                 through CloudTrail's signed links from the new place",
                prefix.unwrap_or_default()
            ));
        }
    }
    Ok(warnings)
}

impl State {
    /// An empty state for a trail, chains without a checkpoint starting at `from`.
    pub fn new(
        trail: TrailArn,
        bucket: impl Into<String>,
        prefix: Option<String>,
        from: DateTime<Utc>,
    ) -> Self {
        State {
            header: DocumentHeader::new(STATE_FORMAT, STATE_VERSION, trail, bucket, prefix),
            from,
            updated_at: Utc::now(),
            chains: Vec::new(),
            sent_findings: Vec::new(),
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
        state
            .header
            .check(STATE_FORMAT, STATE_VERSION)
            .map_err(malformed)?;
        let (min, max) = TimeRange::bounds();
        let in_bounds = |t: DateTime<Utc>| min <= t && t <= max;
        if !in_bounds(state.from) {
            return Err(malformed(format!("from {} is out of bounds", state.from)));
        }
        if state.sent_findings.len() > MAX_SENT_FINDINGS
            || state
                .sent_findings
                .iter()
                .any(|f| f.id.len() != 64 || !f.id.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(malformed("bad sent_findings".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &state.chains {
            let h = &c.head;
            if !is_account_id(&c.chain.account_id) || !is_region(&c.chain.region) {
                return Err(malformed(format!("bad chain {}", c.chain)));
            }
            if c.open_gaps.len() > MAX_OPEN_GAPS {
                return Err(malformed(format!(
                    "chain {} carries too many gaps",
                    c.chain
                )));
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

    /// SHA-256 of the state as written ([`State::to_json`]), hex.
    pub fn sha256(&self) -> String {
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(self.to_json()))
    }

    /// The state as written: pretty JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Fails unless the state is for this trail. A state of the same trail kept when it wrote
    /// to another bucket or prefix is accepted ([`State::moved_from`] says so): the trail was
    /// moved, and its checkpoints join the new place only through CloudTrail's signed links
    /// (the first digest there names its predecessor in the old place).
    ///
    /// # Errors
    /// [`StateError::OtherTrail`].
    pub fn check_belongs_to(
        &self,
        trail: &TrailArn,
        bucket: &str,
        prefix: Option<&str>,
        location: &str,
    ) -> Result<(), StateError> {
        let prefix = prefix.filter(|p| !p.is_empty());
        if &self.header.trail != trail {
            let show = |t: &TrailArn, b: &str, p: Option<&str>| {
                format!("trail {t} in s3://{b}/{}", p.unwrap_or(""))
            };
            return Err(StateError::OtherTrail {
                location: location.to_owned(),
                found: show(
                    &self.header.trail,
                    &self.header.bucket,
                    self.header.prefix.as_deref(),
                ),
                wanted: show(trail, bucket, prefix),
            });
        }
        Ok(())
    }

    /// Where the state was kept for, when the trail now writes elsewhere (`s3://BUCKET/PREFIX`):
    /// a trail moved with UpdateTrail. `None` when it is the same place.
    pub fn moved_from(&self, bucket: &str, prefix: Option<&str>) -> Option<String> {
        let prefix = prefix.filter(|p| !p.is_empty());
        let kept = &self.header;
        (kept.bucket != bucket || kept.prefix.as_deref() != prefix).then(|| {
            format!(
                "s3://{}/{}",
                kept.bucket,
                kept.prefix.as_deref().unwrap_or_default()
            )
        })
    }

    /// Each chain's open gaps (see [`ChainCheckpoint::open_gaps`]).
    pub fn open_gaps(&self) -> BTreeMap<ChainId, Vec<CoverageGap>> {
        self.chains
            .iter()
            .filter(|c| !c.open_gaps.is_empty())
            .map(|c| (c.chain.clone(), c.open_gaps.clone()))
            .collect()
    }

    /// Each chain's checkpoint.
    pub fn checkpoints(&self) -> BTreeMap<ChainId, ChainHead> {
        self.chains
            .iter()
            .map(|c| (c.chain.clone(), c.head.clone()))
            .collect()
    }

    /// The state after `report`: each chain the run proved further moves to its new head (none
    /// when the report's keys came from the copy itself);
    /// every other chain keeps its checkpoint (a finding, or nothing new, never moves one). A
    /// chain moves only if the run covered it from where the state left it (its checkpoint's
    /// end, or the state's `from` for a chain without one): a run started later (a `--from`
    /// after the checkpoint) left hours between unverified, which a checkpoint must not skip.
    pub fn advanced(&self, report: &Report) -> State {
        let mut chains: BTreeMap<ChainId, ChainCheckpoint> = self
            .chains
            .iter()
            .map(|c| (c.chain.clone(), c.clone()))
            .collect();
        // Nothing proven with keys the copy itself supplied moves a checkpoint: a later run
        // would resume from it as from a proven head ([`Report::keys_from_the_copy`]).
        let report_chains = if report.keys_from_the_copy {
            &[][..]
        } else {
            &report.chains[..]
        };
        for chain in report_chains {
            // A carried restart this run explained or accepted is closed, whether or not the
            // checkpoint moves.
            if let Some(kept) = chains.get_mut(&chain.chain) {
                let closed: Vec<DateTime<Utc>> = chain
                    .gaps
                    .iter()
                    // Explained or accepted; one the history now shows deleted stays, and
                    // holds the verdict invalid every run.
                    .filter(|g| {
                        g.carried && (g.status == Status::Valid || g.kind == GapKind::ValidationOff)
                    })
                    .map(|g| g.start)
                    .collect();
                kept.open_gaps.retain(|g| !closed.contains(&g.start));
            }
            let (Some(head), Some((start, _))) = (&chain.head, chain.window) else {
                continue;
            };
            let (joins, newer) = match chains.get(&chain.chain) {
                Some(old) => (
                    start <= old.head.end_time,
                    head.end_time > old.head.end_time,
                ),
                None => (start <= self.from, true),
            };
            // The restarts the checkpoint moves past are carried, the ones it carried and that
            // are still open among them: what was explained or accepted is dropped.
            let open_gaps = crate::trust::checkpoint::open_gaps(chain);
            if joins && newer && open_gaps.len() <= MAX_OPEN_GAPS {
                chains.insert(
                    chain.chain.clone(),
                    ChainCheckpoint {
                        chain: chain.chain.clone(),
                        head: head.clone(),
                        open_gaps,
                    },
                );
            }
        }
        State {
            updated_at: Utc::now(),
            // Where the trail writes now (it may have moved since the state was written).
            header: DocumentHeader {
                bucket: report.bucket.clone(),
                prefix: report
                    .provenance
                    .as_ref()
                    .map_or(self.header.prefix.clone(), |p| p.options.prefix.clone()),
                ..self.header.clone()
            },
            chains: chains.into_values().collect(),
            ..self.clone()
        }
    }
}

/// A state as read, with what a write must find unchanged.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The state (`None`: there is none yet).
    pub state: Option<State>,
    /// SHA-256 of the state as read, hex (`None`: there was none): a report records it, and the
    /// SHA-256 of the state it wrote, so that successive reports form a chain of audits.
    pub sha256: Option<String>,
    version: Version,
}

/// Reads and writes a state where it is kept ([`crate::storage`]): a write replaces the state
/// only if it is still the one read.
#[derive(Debug, Clone)]
pub struct StateStore {
    store: Store,
}

impl StateStore {
    /// A store for a state kept by `store`.
    pub fn new(store: Store) -> Self {
        StateStore { store }
    }

    /// Where the state is kept.
    pub fn location(&self) -> &Location {
        self.store.location()
    }

    /// Reads the state (none yet is not an error).
    ///
    /// # Errors
    /// [`StateError`] when it cannot be read or parsed.
    pub async fn load(&self) -> Result<Loaded, StateError> {
        Ok(match self.store.read_capped(MAX_STATE_BYTES).await? {
            None => Loaded {
                state: None,
                sha256: None,
                version: Version::absent(),
            },
            Some((bytes, version)) => Loaded {
                state: Some(State::parse(&bytes, &self.location().to_string())?),
                sha256: Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))),
                version,
            },
        })
    }

    /// Writes `state` in place of what `loaded` read, atomically, only if nobody else wrote
    /// in between.
    ///
    /// # Errors
    /// [`StateError::Storage`] with [`StorageError::Conflict`] when the state changed since it
    /// was read.
    pub async fn save(&self, state: &State, loaded: &Loaded) -> Result<(), StateError> {
        Ok(self
            .store
            .write_if(state.to_json(), &loaded.version)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arn(text: &str) -> TrailArn {
        text.parse().expect("a trail ARN")
    }

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
            arn("arn:aws:cloudtrail:us-east-1:111122223333:trail/main"),
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
            open_gaps: Vec::new(),
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
        s.header.version = 2;
        assert!(State::parse(&s.to_json(), "x").is_err());
        let mut s = state();
        s.chains.push(s.chains[0].clone());
        assert!(State::parse(&s.to_json(), "x").is_err());
        assert!(State::parse(b"[]", "x").is_err());
    }

    #[test]
    fn a_state_of_another_trail_or_bucket_is_refused() {
        let s = state();
        assert!(s.check_belongs_to(&s.header.trail, "b", None, "x").is_ok());
        assert!(
            s.check_belongs_to(
                &arn("arn:aws:cloudtrail:us-east-1:111122223333:trail/other"),
                "b",
                None,
                "x"
            )
            .is_err()
        );
        // The same trail in another bucket or prefix: moved, accepted, and said.
        assert!(
            s.check_belongs_to(&s.header.trail, "other", None, "x")
                .is_ok()
        );
        assert_eq!(s.moved_from("b", None), None);
        assert_eq!(s.moved_from("other", None).as_deref(), Some("s3://b/"));
        assert_eq!(s.moved_from("b", Some("p")).as_deref(), Some("s3://b/"));
    }

    #[test]
    fn a_state_is_used_only_for_its_trail_and_outside_the_trail_bucket_unless_accepted() {
        let trail = &arn("arn:aws:cloudtrail:us-east-1:111122223333:trail/main");
        let kept = |location: &str, state: Option<State>, allow: bool| KeptState {
            location: location.parse().unwrap(),
            state,
            allow_in_trail_bucket: allow,
        };
        // Elsewhere, the same trail and place: used, nothing to say.
        let ok = kept("s3://audit/state.json", Some(state()), false);
        assert!(check_use(&ok, trail, "b", None).unwrap().is_empty());
        // Another trail's state: refused.
        let other = &arn("arn:aws:cloudtrail:us-east-1:111122223333:trail/other2");
        assert!(matches!(
            check_use(&ok, other, "b", None),
            Err(StateError::OtherTrail { .. })
        ));
        // In the trail's own bucket: refused unless accepted, then said.
        let inside = kept("s3://b/state.json", None, false);
        assert!(matches!(
            check_use(&inside, trail, "b", None),
            Err(StateError::InTrailBucket { .. })
        ));
        let accepted = kept("s3://b/state.json", None, true);
        assert_eq!(check_use(&accepted, trail, "b", None).unwrap().len(), 1);
        // The same trail, now writing to another bucket: used, with the move said.
        let moved = check_use(&ok, trail, "new-bucket", None).unwrap();
        assert!(moved[0].contains("s3://b/"), "{moved:?}");
    }

    #[test]
    fn a_state_whose_trail_is_no_trail_arn_is_malformed() {
        let text = String::from_utf8(state().to_json()).unwrap().replace(
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/main",
            "../../etc",
        );
        assert!(matches!(
            State::parse(text.as_bytes(), "s"),
            Err(StateError::Malformed { .. })
        ));
        let written = state();
        assert_eq!(State::parse(&written.to_json(), "s").unwrap(), written);
    }
}
