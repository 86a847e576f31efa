//! Reads for the walk: fetching a digest within its size cap, and hashing a log file a valid
//! digest lists. Each read ends in a typed outcome; deciding what it proves is
//! `crate::trust`'s job.

use super::Context;
use crate::loghash::{GunzipError, GunzipHash, gunzip_to_vec, hash_gzip};
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
/// thread.
async fn hash_body(
    body: Body,
    limit: u64,
) -> Result<Result<GunzipHash, GunzipError>, tokio::task::JoinError> {
    if let Body::InMemory(bytes) = &body {
        let cap = limit.min(INLINE_MAX_BYTES);
        match hash_gzip(&bytes[..], cap) {
            Err(GunzipError::TooLarge { .. }) if cap < limit => {}
            done => return Ok(done),
        }
    }
    tokio::task::spawn_blocking(move || hash_gzip(body, limit)).await
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
        SourceError::AccessDenied(_) | SourceError::Unavailable(_) | SourceError::UnsafeKey(_) => {
            DigestProblem::Unreadable {
                reason: error.to_string(),
            }
        }
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
    let excuse = lifecycle_excuse(
        &ctx.lifecycle_rules,
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
    let read = match version {
        Some(version) => ctx.source.get_version(bucket, key, version).await,
        None => ctx.source.get(bucket, key).await,
    };
    let object = match read {
        Ok(object) => object,
        Err(e) => return Fetched::Failed(digest_read_problem(e, bucket, &ctx.trail_bucket)),
    };
    let body = object.body;
    let raw = tokio::task::spawn_blocking(move || gunzip_to_vec(body, limit)).await;
    let raw = match raw {
        Ok(Ok(raw)) => raw,
        Ok(Err(GunzipError::Read(e))) => {
            return Fetched::Failed(DigestProblem::Unreadable {
                reason: e.to_string(),
            });
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
        // A version that is gone was deleted (s3:DeleteObjectVersion); no rule excuses it.
        Err(SourceError::NotFound) if version.is_some() => {
            return report(Some(LogProblem::NotFound), 0);
        }
        Err(SourceError::NotFound) => {
            let problem = match expired(ctx, &entry.s3_bucket, &entry.s3_object, listed_from).await
            {
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
            };
            return report(Some(problem), 0);
        }
        Err(SourceError::Archived { storage_class }) => {
            return report(Some(LogProblem::Archived { storage_class }), 0);
        }
        Err(SourceError::KmsDenied { key, .. }) => {
            return report(Some(LogProblem::KmsDenied { key }), 0);
        }
        Err(e @ (SourceError::CustomerEncrypted(_) | SourceError::NotARegularFile(_))) => {
            return report(
                Some(LogProblem::ForeignObject {
                    reason: e.to_string(),
                }),
                0,
            );
        }
        Err(
            e @ (SourceError::AccessDenied(_)
            | SourceError::Unavailable(_)
            | SourceError::UnsafeKey(_)),
        ) => {
            return report(
                Some(LogProblem::Unreadable {
                    reason: e.to_string(),
                }),
                0,
            );
        }
    };
    let limit = ctx.options.max_log_bytes;
    let body = object.body;
    let retention = object.retention;
    let report = |problem, bytes| LogReport {
        retention,
        ..report(problem, bytes)
    };
    let hashed = hash_body(body, limit).await;

    match hashed {
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
        Ok(Err(GunzipError::Read(e))) => report(
            Some(LogProblem::Unreadable {
                reason: e.to_string(),
            }),
            0,
        ),
        Ok(Err(GunzipError::Corrupt(detail))) => {
            report(Some(LogProblem::InvalidFormat { detail }), 0)
        }
        Ok(Err(GunzipError::TrailingData)) => report(Some(LogProblem::TrailingData), 0),
        Ok(Err(GunzipError::TooLarge { limit })) => report(Some(LogProblem::TooLarge { limit }), 0),
        Err(e) => report(
            Some(LogProblem::Unreadable {
                reason: format!("hash task failed: {e}"),
            }),
            0,
        ),
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
