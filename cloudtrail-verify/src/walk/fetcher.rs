//! Scheduling a chain's digest reads: digests are read ahead of the walk so that S3 round trips
//! overlap, within slots shared by every chain (memory does not grow with the number of
//! chains), and a digest that decompresses past [`SMALL_DIGEST_BYTES`] is read again with the
//! full cap, one at a time across the run, so that hostile digests near the cap cannot multiply
//! memory by the number of chains and prefetch slots.

use super::Context;
use super::listing::Listed;
use super::logs::{Fetched, fetch_digest};
use crate::report::DigestProblem;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinHandle;

/// Digests fetched ahead of the walk, per chain.
pub(super) const DIGEST_PREFETCH: usize = 8;
/// Digests up to this size (decompressed) are read freely; larger ones, one at a time. An hour
/// of one region's log files takes far less in CloudTrail's digests.
pub(super) const SMALL_DIGEST_BYTES: u64 = 1 << 20;

/// A read under way, with the slot it holds.
type Prefetched = JoinHandle<(Fetched, Option<OwnedSemaphorePermit>)>;

/// One chain's digest reads.
pub(super) struct DigestFetcher {
    ctx: Arc<Context>,
    /// The chain's bucket: only its digests are read ahead.
    bucket: String,
    /// Reads started ahead, by key.
    prefetched: HashMap<String, Prefetched>,
}

impl DigestFetcher {
    /// A fetcher for a chain in `bucket`.
    pub fn new(ctx: Arc<Context>, bucket: String) -> Self {
        DigestFetcher {
            ctx,
            bucket,
            prefetched: HashMap::new(),
        }
    }

    /// Starts reading the next [`DIGEST_PREFETCH`] digests of `stack` (the walk takes them from
    /// its end), each only while a shared prefetch slot is free: one that finds none is left
    /// to the walk.
    pub fn prefetch(&mut self, bucket: &str, stack: &[Listed]) {
        for listed in stack.iter().rev().take(DIGEST_PREFETCH) {
            if self.prefetched.contains_key(&listed.key) {
                continue;
            }
            let Ok(slot) = self.ctx.prefetch_slots.clone().try_acquire_owned() else {
                return;
            };
            let ctx = self.ctx.clone();
            let (b, k) = (bucket.to_owned(), listed.key.clone());
            let small = SMALL_DIGEST_BYTES.min(ctx.options.max_digest_bytes);
            let task =
                tokio::spawn(async move { (fetch_digest(&ctx, &b, &k, small).await, Some(slot)) });
            self.prefetched.insert(listed.key.clone(), task);
        }
    }

    /// Fetches a digest: prefetched when it was, else now; past [`SMALL_DIGEST_BYTES`], again
    /// with the full cap in the run's one large-digest turn. The permit returned (a prefetch
    /// slot, or that turn) is held while the digest is processed.
    pub async fn fetch(
        &mut self,
        bucket: &str,
        key: &str,
    ) -> (Fetched, Option<OwnedSemaphorePermit>) {
        let small = SMALL_DIGEST_BYTES.min(self.ctx.options.max_digest_bytes);
        let (fetched, slot) = match self.prefetched.remove(key) {
            Some(task) if bucket == self.bucket => task.await.unwrap_or_else(|e| {
                (
                    Fetched::Failed(DigestProblem::Unreadable {
                        reason: format!("fetch task failed: {e}"),
                    }),
                    None,
                )
            }),
            _ => (fetch_digest(&self.ctx, bucket, key, small).await, None),
        };
        match fetched {
            Fetched::Failed(DigestProblem::TooLarge { limit })
                if limit < self.ctx.options.max_digest_bytes =>
            {
                drop(slot);
                let turn = self.ctx.large_digests.clone().acquire_owned().await.ok();
                let full = self.ctx.options.max_digest_bytes;
                (fetch_digest(&self.ctx, bucket, key, full).await, turn)
            }
            fetched => (fetched, slot),
        }
    }

    /// Stops every read started ahead, giving their slots back (the walk is over, or waits for
    /// a reader and must not hold what other chains need).
    pub fn abort_prefetched(&mut self) {
        for (_, task) in self.prefetched.drain() {
            task.abort();
        }
    }
}
