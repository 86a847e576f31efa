//! Reads for the walk: fetching a digest within its size cap, and hashing a log file a valid
//! digest lists. Each read ends in a typed outcome; deciding what it proves is
//! `crate::trust`'s job.

use super::Context;
use crate::loghash::{GunzipError, GunzipHash, gunzip_to_vec_noting, hash_gzip_noting};
use crate::report::{Counts, DigestProblem, LogProblem, LogReport, Status};
use crate::schema::{DigestFile, HASH_ALGORITHM, LogFileEntry, is_hex_sha256};
use crate::source::{Body, SourceError};
use crate::trust::lifecycle::lifecycle_excuse;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// A digest as fetched: parsed with its metadata, or the problem that stopped it.
pub(super) enum Fetched {
    /// Read and parsed.
    Parsed {
        digest: Box<DigestFile>,
        metadata: BTreeMap<String, String>,
        metadata_problem: Option<String>,
        retention: Option<crate::findings::Retention>,
    },
    /// Not read or not a digest.
    Failed(DigestProblem),
}

/// The most decompressed bytes of one log file hashed on the async runtime: about a
/// millisecond of inflating and hashing, which a runtime worker can spare; a body that
/// inflates further (a gzip bomb of a few kilobytes) is hashed again on a blocking thread.
const INLINE_MAX_BYTES: u64 = 1 << 20;

/// Inflates and hashes a log file's body within `limit` decompressed bytes: an in-memory one
/// where it is, when it inflates to [`INLINE_MAX_BYTES`] or less; anything else on a blocking
/// thread. `fingerprint` as [`hash_gzip_noting`].
async fn hash_body(
    body: Body,
    limit: u64,
    fingerprint: bool,
) -> Result<Result<GunzipHash, GunzipError>, tokio::task::JoinError> {
    if let Body::InMemory(bytes) = &body {
        let cap = limit.min(INLINE_MAX_BYTES);
        match hash_gzip_noting(&bytes[..], cap, fingerprint) {
            Err(GunzipError::TooLarge { .. }) if cap < limit => {}
            done => return Ok(done),
        }
    }
    tokio::task::spawn_blocking(move || hash_gzip_noting(body, limit, fingerprint)).await
}

/// How many times a log file or digest is read at most when its transfer keeps breaking off.
pub(crate) const READ_ATTEMPTS: u32 = 4;

/// The wait before re-read `n` (1 for the first): 200 ms, then doubling (1.4 s in all for
/// [`READ_ATTEMPTS`]), so that a connection that was reset has time to be replaced and a
/// store under load is not asked again at once.
fn reread_delay(n: u32) -> std::time::Duration {
    std::time::Duration::from_millis(200 << n.saturating_sub(1).min(5))
}

/// The re-read rule, shared by log files and digests.
///
/// The SDK retries a request that failed before its response arrived, but not a body that broke
/// off while it streamed: that happens after the request has returned, outside the SDK's retry
/// loop (<https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html>). So a
/// read whose body broke off (a reset, fewer bytes than its `Content-Length`, a checksum S3
/// stored that the bytes do not match) is done again, afresh, up to [`READ_ATTEMPTS`] times,
/// within the same caps; only then is the object unreadable (unverifiable), never evidence.
///
/// A body that ends cleanly before its gzip stream does is the hard case. An object uploaded
/// without a checksum has nothing S3 can check the bytes against
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html>), and
/// its ETag is not an MD5 of the bytes when it is encrypted with SSE-KMS or was uploaded in parts
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html>), so a response cut short
/// with a `Content-Length` to match looks exactly like an object stored cut short. The rule:
/// read it again, hashing every byte received; when two re-reads receive the very same body it
/// is what the store holds, and a stored gzip stream that is cut short is evidence (invalid).
/// Reads that keep ending at different places are a transfer that fails: unreadable. A verdict
/// of valid still needs bytes whose SHA-256 matches the signed digest, so no path here can make
/// a changed file valid; at worst it makes it unverifiable.
struct Rereads {
    /// At most this many reads: 1 for a store whose reads cannot break on their way.
    attempts: u32,
    /// Reads begun so far.
    reads: u32,
    /// The fingerprints of bodies that ended before their gzip stream did, on re-reads.
    truncated: Vec<[u8; 32]>,
    /// Why the last read failed.
    last: String,
}

impl Rereads {
    /// The rule for reads from `source`.
    fn new(source: &dyn crate::source::ObjectSource) -> Self {
        Rereads {
            attempts: if source.reads_may_break() {
                READ_ATTEMPTS
            } else {
                1
            },
            reads: 0,
            truncated: Vec::new(),
            last: String::new(),
        }
    }

    /// Begins a read, after the back-off when it is a re-read; false when every attempt is
    /// spent.
    async fn begin(&mut self) -> bool {
        if self.reads >= self.attempts {
            return false;
        }
        if self.reads > 0 {
            tokio::time::sleep(reread_delay(self.reads)).await;
        }
        self.reads += 1;
        true
    }

    /// Whether this read should fingerprint a body cut short (re-reads only: the first read of
    /// every object, almost always fine, does not pay for a second hash).
    fn fingerprint(&self) -> bool {
        self.reads > 1
    }

    /// Notes a read that broke off.
    fn broke(&mut self, reason: impl std::fmt::Display) {
        self.last = reason.to_string();
    }

    /// Notes a body that ended before its gzip stream did; true when it is the stored object
    /// (evidence): an earlier re-read received the same body, or the store's reads cannot be
    /// cut short on their way.
    fn cut_short(&mut self, error: &GunzipError) -> bool {
        match error {
            GunzipError::Truncated { received, .. } => self.broke(format!(
                "the body ended before its gzip stream did, after {received} bytes, and no two \
                 reads received the same body"
            )),
            other => self.broke(other),
        }
        if self.attempts == 1 {
            return true;
        }
        match error {
            GunzipError::Truncated {
                fingerprint: Some(fingerprint),
                ..
            } => {
                if self.truncated.contains(fingerprint) {
                    return true;
                }
                self.truncated.push(*fingerprint);
                false
            }
            _ => false,
        }
    }

    /// The detail of a body cut short that is evidence.
    fn evidence(&self, error: &GunzipError) -> String {
        match self.reads {
            1 => error.to_string(),
            n => format!("{error}, the same body on two of {n} reads"),
        }
    }

    /// The reason given when every read failed.
    fn gave_up(&self) -> String {
        match self.reads {
            1 => self.last.clone(),
            n => format!("{} (read {n} times; run again later)", self.last),
        }
    }
}

/// A read error in one line with its causes (`streaming error: error reading a body from
/// connection: Connection reset by peer`): an I/O error's own text is often only the outer
/// layer's, and its `Debug` form is a dump.
fn io_text(error: &std::io::Error) -> String {
    let mut text = error.to_string();
    let mut next = std::error::Error::source(error);
    while let Some(cause) = next {
        let more = cause.to_string();
        if !text.ends_with(&more) {
            text = format!("{text}: {more}");
        }
        next = cause.source();
    }
    text
}

/// What a read failure means for a digest.
fn digest_read_problem(error: SourceError, bucket: &str, trail_bucket: &str) -> DigestProblem {
    match error {
        SourceError::NotFound if bucket == trail_bucket => DigestProblem::NotFound,
        SourceError::NotFound => DigestProblem::OtherBucketMissing {
            bucket: bucket.to_owned(),
        },
        SourceError::CustomerEncrypted(_) | SourceError::NotARegularFile(_) => {
            DigestProblem::ForeignObject {
                reason: error.to_string(),
            }
        }
        SourceError::AccessDenied(_)
        | SourceError::Unavailable(_)
        | SourceError::Interrupted(_)
        | SourceError::UnsafeKey(_) => DigestProblem::Unreadable {
            reason: error.to_string(),
        },
        SourceError::Archived { storage_class } => DigestProblem::Archived { storage_class },
        SourceError::KmsDenied { key, .. } => DigestProblem::KmsDenied { key },
    }
}

/// A missing object's problem when a lifecycle rule of the trail's bucket would have expired it
/// by now ([`crate::trust::lifecycle::lifecycle_excuse`]); `None` when nothing excuses it.
/// `created_no_earlier_than` is a signed time before the object's creation.
pub(super) async fn expired(
    ctx: &Context,
    bucket: &str,
    key: &str,
    created_no_earlier_than: DateTime<Utc>,
) -> Option<Excuse> {
    if bucket != ctx.trail_bucket {
        return None;
    }
    let facts = ctx.facts().await;
    let excuse = lifecycle_excuse(
        &facts.lifecycle_rules,
        key,
        created_no_earlier_than,
        ctx.options.now,
    )?;
    // A rule set after the object was delivered does not excuse it. Read the event history
    // (once per run) only when an excuse is about to be given.
    if let Some(history) = &ctx.history
        && let Ok(history) = history.get().await
        && let Some(change) =
            crate::trust::history::lifecycle_changed_after(&history, created_no_earlier_than)
    {
        return Some(Excuse::Voided {
            rule_id: excuse.rule_id,
            change: change.clone(),
        });
    }
    Some(Excuse::Expired {
        rule_id: excuse.rule_id,
        days: excuse.days,
        date: excuse.date,
    })
}

/// What the bucket's lifecycle rules say about an object that is gone.
pub(super) enum Excuse {
    /// A rule would have expired it by now: unverifiable.
    Expired {
        rule_id: String,
        days: Option<u32>,
        date: Option<DateTime<Utc>>,
    },
    /// A rule would have, but the configuration changed after the object was delivered: the
    /// excuse does not hold (invalid).
    Voided {
        rule_id: String,
        change: crate::findings::TrailEvent,
    },
}

/// Fetches, decompresses (within `limit`) and parses a digest.
pub(super) async fn fetch_digest(ctx: &Context, bucket: &str, key: &str, limit: u64) -> Fetched {
    fetch_digest_version(ctx, bucket, key, None, limit).await
}

/// [`fetch_digest`] of one version (`None`: the current one).
pub(super) async fn fetch_digest_version(
    ctx: &Context,
    bucket: &str,
    key: &str,
    version: Option<&str>,
    limit: u64,
) -> Fetched {
    let mut reads = Rereads::new(ctx.source.as_ref());
    let (raw, object) = loop {
        if !reads.begin().await {
            return Fetched::Failed(DigestProblem::Unreadable {
                reason: reads.gave_up(),
            });
        }
        let read = match version {
            Some(version) => ctx.source.get_version(bucket, key, version).await,
            None => ctx.source.get(bucket, key).await,
        };
        let mut object = match read {
            Ok(object) => object,
            Err(SourceError::Interrupted(reason)) => {
                reads.broke(reason);
                continue;
            }
            Err(e) => return Fetched::Failed(digest_read_problem(e, bucket, &ctx.trail_bucket)),
        };
        let body = std::mem::replace(&mut object.body, Body::InMemory(bytes::Bytes::new()));
        let fingerprint = reads.fingerprint();
        let raw =
            tokio::task::spawn_blocking(move || gunzip_to_vec_noting(body, limit, fingerprint))
                .await;
        match raw {
            Ok(Ok(raw)) => break (raw, object),
            Ok(Err(GunzipError::Read(e))) => reads.broke(io_text(&e)),
            Ok(Err(e @ GunzipError::Truncated { .. })) => {
                if reads.cut_short(&e) {
                    return Fetched::Failed(DigestProblem::InvalidFormat {
                        detail: reads.evidence(&e),
                    });
                }
            }
            Ok(Err(GunzipError::TooLarge { limit })) => {
                return Fetched::Failed(DigestProblem::TooLarge { limit });
            }
            Ok(Err(e @ (GunzipError::Corrupt(_) | GunzipError::TrailingData))) => {
                return Fetched::Failed(DigestProblem::InvalidFormat {
                    detail: e.to_string(),
                });
            }
            Err(e) => {
                return Fetched::Failed(DigestProblem::Unreadable {
                    reason: format!("read task failed: {e}"),
                });
            }
        }
    };
    match DigestFile::parse(raw) {
        Ok(digest) => Fetched::Parsed {
            digest: Box::new(digest),
            metadata: object.metadata,
            metadata_problem: object.metadata_problem,
            retention: object.retention,
        },
        Err(e) => Fetched::Failed(DigestProblem::InvalidFormat {
            detail: e.to_string(),
        }),
    }
}

/// Fetches and hashes one log file listed by a valid digest that starts at `listed_from` (the
/// log file was delivered after it).
pub(super) async fn check_log(
    ctx: &Context,
    entry: &LogFileEntry,
    listed_from: DateTime<Utc>,
) -> LogReport {
    check_log_version(ctx, entry, listed_from, None).await
}

/// [`check_log`] of one version of the log file (`None`: the current one).
pub(super) async fn check_log_version(
    ctx: &Context,
    entry: &LogFileEntry,
    listed_from: DateTime<Utc>,
    version: Option<&str>,
) -> LogReport {
    let report =
        |problem, bytes| LogReport::new(&entry.s3_bucket, &entry.s3_object, problem, bytes);
    if entry.hash_algorithm != HASH_ALGORITHM {
        return report(
            Some(LogProblem::BadDigestEntry {
                detail: format!("unknown hashAlgorithm {:?}", entry.hash_algorithm),
            }),
            0,
        );
    }
    if !is_hex_sha256(&entry.hash_value) {
        return report(
            Some(LogProblem::BadDigestEntry {
                detail: format!("hashValue {:?} is not a hex SHA-256", entry.hash_value),
            }),
            0,
        );
    }
    let limit = ctx.options.max_log_bytes;
    let mut reads = Rereads::new(ctx.source.as_ref());
    loop {
        if !reads.begin().await {
            return report(
                Some(LogProblem::Unreadable {
                    reason: reads.gave_up(),
                }),
                0,
            );
        }
        let read = match version {
            Some(version) => {
                ctx.source
                    .get_version(&entry.s3_bucket, &entry.s3_object, version)
                    .await
            }
            None => ctx.source.get(&entry.s3_bucket, &entry.s3_object).await,
        };
        let object = match read {
            Ok(object) => object,
            Err(SourceError::Interrupted(reason)) => {
                reads.broke(reason);
                continue;
            }
            Err(e) => {
                return report(
                    Some(log_read_problem(ctx, entry, listed_from, version, e).await),
                    0,
                );
            }
        };
        let retention = object.retention;
        let report = |problem, bytes| LogReport {
            retention,
            ..report(problem, bytes)
        };
        let hashed = hash_body(object.body, limit, reads.fingerprint()).await;
        return match hashed {
            Ok(Ok(hash)) => {
                if let Some(progress) = &ctx.options.progress {
                    progress.log_verified(hash.compressed_bytes, hash.decompressed_bytes);
                }
                let actual = hex::encode(hash.sha256);
                if actual.eq_ignore_ascii_case(&entry.hash_value) {
                    report(None, hash.decompressed_bytes)
                } else {
                    report(
                        Some(LogProblem::HashMismatch {
                            expected: entry.hash_value.clone(),
                            actual,
                        }),
                        hash.decompressed_bytes,
                    )
                }
            }
            Ok(Err(GunzipError::Read(e))) => {
                reads.broke(io_text(&e));
                continue;
            }
            Ok(Err(e @ GunzipError::Truncated { .. })) => {
                if !reads.cut_short(&e) {
                    continue;
                }
                report(
                    Some(LogProblem::InvalidFormat {
                        detail: reads.evidence(&e),
                    }),
                    0,
                )
            }
            Ok(Err(GunzipError::Corrupt(detail))) => {
                report(Some(LogProblem::InvalidFormat { detail }), 0)
            }
            Ok(Err(GunzipError::TrailingData)) => report(Some(LogProblem::TrailingData), 0),
            Ok(Err(GunzipError::TooLarge { limit })) => {
                report(Some(LogProblem::TooLarge { limit }), 0)
            }
            Err(e) => report(
                Some(LogProblem::Unreadable {
                    reason: format!("hash task failed: {e}"),
                }),
                0,
            ),
        };
    }
}

/// What a failed read of a log file means (a transfer that broke off is read again first).
async fn log_read_problem(
    ctx: &Context,
    entry: &LogFileEntry,
    listed_from: DateTime<Utc>,
    version: Option<&str>,
    error: SourceError,
) -> LogProblem {
    match error {
        // A version that is gone was deleted (s3:DeleteObjectVersion); no rule excuses it.
        SourceError::NotFound if version.is_some() => LogProblem::NotFound,
        SourceError::NotFound => {
            match expired(ctx, &entry.s3_bucket, &entry.s3_object, listed_from).await {
                Some(Excuse::Expired {
                    rule_id,
                    days,
                    date,
                }) => LogProblem::Expired {
                    rule_id,
                    days,
                    date,
                },
                Some(Excuse::Voided { rule_id, change }) => {
                    LogProblem::LifecycleChanged { rule_id, change }
                }
                None => LogProblem::NotFound,
            }
        }
        SourceError::Archived { storage_class } => LogProblem::Archived { storage_class },
        SourceError::KmsDenied { key, .. } => LogProblem::KmsDenied { key },
        e @ (SourceError::CustomerEncrypted(_) | SourceError::NotARegularFile(_)) => {
            LogProblem::ForeignObject {
                reason: e.to_string(),
            }
        }
        e @ (SourceError::AccessDenied(_)
        | SourceError::Unavailable(_)
        | SourceError::Interrupted(_)
        | SourceError::UnsafeKey(_)) => LogProblem::Unreadable {
            reason: e.to_string(),
        },
    }
}

/// What the log files of one digest came to.
#[derive(Default)]
pub(super) struct LogTally {
    pub counts: Counts,
    pub bytes: u64,
    /// Object Lock protection of the log files read.
    pub retention: crate::report::RetentionCounts,
    /// Entries kept for the report, with their position in the digest's list.
    pub kept: Vec<(usize, LogReport)>,
}

impl LogTally {
    pub fn add(&mut self, position: usize, log: LogReport, keep_valid: bool) {
        self.counts.add(log.status);
        self.retention.add(log.retention.as_ref());
        if log.status == Status::Valid {
            self.bytes += log.bytes;
        }
        if keep_valid || log.status != Status::Valid {
            self.kept.push((position, log));
        }
    }
}
