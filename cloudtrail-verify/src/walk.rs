//! Walking one chain (account, source region) over a time range, newest to oldest.
//!
//! Stricter than `aws cloudtrail validate-logs` (reference section 3):
//! - every hour is accounted for: a digest missing from the chain is reported, and so is each
//!   further hour the gap spans (the AWS CLI reports consecutive deletions as one);
//! - each link is checked: the older digest's SHA-256 and signature must equal what the newer
//!   one recorded, and it must end where the newer one starts;
//! - location, account, chain folder and algorithms are checked, and key validity windows;
//! - digests the chain never reaches (copies, leftovers) are still verified on their own.
//!
//! A signature is self-authenticating: whether it came from S3 metadata, a sidecar or a newer
//! digest's `previousDigestSignature`, it only counts if it verifies under CloudTrail's key.
//! The *link* checks, which add evidence about continuity, are made only from a newer digest
//! that is itself valid.

use crate::keys::{KeyLookup, KeySet};
use crate::layout::ChainLayout;
use crate::loghash::{GunzipError, gunzip_to_vec, hash_gzip};
use crate::report::{
    ChainReport, Counts, CoverageGap, DigestProblem, DigestReport, GapKind, LogProblem, LogReport,
    Status,
};
use crate::schema::{
    DigestFile, HASH_ALGORITHM, LogFileEntry, PreviousDigestReference, SIGNATURE_ALGORITHM,
    is_hex_sha256,
};
use crate::signing::{SignatureError, signing_string, verify_signature};
use crate::source::{ObjectSource, SourceError};
use crate::verify::{TimeRange, VerifyOptions};
use chrono::{DateTime, TimeDelta, Utc};
use futures::FutureExt;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::Mutex;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

/// CloudTrail's digest cadence.
const DIGEST_PERIOD: TimeDelta = TimeDelta::hours(1);
/// Digests fetched ahead of the walk, so that S3 round trips overlap.
const DIGEST_PREFETCH: usize = 8;
/// A log file is looked for in the digests of the hour it is named after, but CloudTrail may
/// list it in a neighbouring hour's digest. Log files this close to the edge of what valid
/// digests cover are not called unlisted: the digest listing them may be just outside.
const UNLISTED_EDGE_MARGIN: TimeDelta = TimeDelta::minutes(30);

/// What the walk shares across chains.
pub(crate) struct Context {
    pub source: Arc<dyn ObjectSource>,
    pub keys: Arc<KeySet>,
    pub options: VerifyOptions,
    /// Bounds concurrent log reads across all chains.
    pub log_limiter: Arc<Semaphore>,
}

/// A listed digest key of this chain.
#[derive(Debug, Clone)]
struct Listed {
    key: String,
    end_time: DateTime<Utc>,
    backfill: bool,
}

/// A digest as fetched: parsed with its metadata, or the problem that stopped it.
enum Fetched {
    Parsed {
        digest: Box<DigestFile>,
        metadata: BTreeMap<String, String>,
    },
    Failed(DigestProblem),
}

/// What a newer digest says about the next older one.
struct Expectation {
    newer_key: String,
    newer_start: DateTime<Utc>,
    reference: PreviousDigestReference,
    /// Link checks are made only when the newer digest is valid.
    newer_valid: bool,
}

/// How the previous (newer) segment of the walk ended, to classify what lies between it and
/// the next digest found.
enum SegmentEnd {
    /// A digest with null `previousDigest*` fields starting at this time.
    Restart(DateTime<Utc>),
    /// A missing or unreadable digest, already reported.
    Broken,
}

struct Walker {
    ctx: Arc<Context>,
    layout: Arc<ChainLayout>,
    range: TimeRange,
    prefetched: HashMap<String, JoinHandle<Fetched>>,
    report: ChainReport,
    /// Log checks in flight; finished ones are reaped as the walk goes.
    log_tasks: JoinSet<()>,
    /// Log check results by digest index, folded in as they complete so that memory holds
    /// counts and the entries worth keeping, not one task per log file.
    tallies: Arc<Mutex<HashMap<usize, LogTally>>>,
    /// A keyed 64-bit hash of every log key any parsed digest lists, to find log files no
    /// digest lists without keeping every key of a long range.
    listed_logs: HashSet<u64>,
    key_hasher: RandomState,
    /// The time spans of valid digests.
    covered: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// Digests already fetched, so that a reference back to one cannot make the walk loop.
    visited: HashSet<(String, String)>,
}

/// Verifies one chain over `range`.
pub(crate) async fn walk_chain(
    ctx: Arc<Context>,
    layout: ChainLayout,
    range: TimeRange,
) -> ChainReport {
    let layout = Arc::new(layout);
    let mut walker = Walker {
        report: ChainReport::new(layout.chain.clone()),
        ctx,
        layout,
        range,
        prefetched: HashMap::new(),
        log_tasks: JoinSet::new(),
        tallies: Arc::new(Mutex::new(HashMap::new())),
        listed_logs: HashSet::new(),
        key_hasher: RandomState::new(),
        covered: Vec::new(),
        visited: HashSet::new(),
    };
    match walker.list_digests().await {
        Ok(listed) => {
            walker.walk(listed).await;
            if walker.ctx.options.check_unlisted_logs {
                walker.find_unlisted_logs().await;
            }
        }
        Err(e) => walker.report.error = Some(format!("listing digest files failed: {e}")),
    }
    walker.finish().await
}

impl Walker {
    /// Lists the chain's digests ending within `[start, end + 1h]` (the AWS CLI's window: the
    /// hour after the end holds logs delivered late for the range), oldest first.
    async fn list_digests(&self) -> Result<Vec<Listed>, SourceError> {
        let folder = self.layout.digest_folder();
        let bucket = &self.layout.location.bucket;
        let first = self.range.start;
        let last = self.range.end + DIGEST_PERIOD;
        let mut after = self.layout.digest_key(first - TimeDelta::minutes(1));
        let mut listed = Vec::new();
        loop {
            let page = self
                .ctx
                .source
                .list_keys(bucket, &folder, Some(&after))
                .await?;
            let Some(last_key) = page.last().cloned() else {
                break;
            };
            let mut past_range = false;
            for key in page {
                let Some(info) = self.layout.parse_digest_key(&key) else {
                    continue;
                };
                if info.end_time > last {
                    past_range = true;
                    break;
                }
                if info.end_time >= first {
                    listed.push((key, info));
                }
            }
            if past_range {
                break;
            }
            after = last_key;
        }
        Ok(listed
            .into_iter()
            .map(|(key, info)| Listed {
                key,
                end_time: info.end_time,
                backfill: info.backfill,
            })
            .collect())
    }

    async fn walk(&mut self, listed: Vec<Listed>) {
        let (backfill, mut stack): (Vec<Listed>, Vec<Listed>) =
            listed.into_iter().partition(|l| l.backfill);
        if stack.is_empty() && backfill.is_empty() {
            self.report.gaps.push(CoverageGap {
                kind: GapKind::NoDigests,
                start: self.range.start,
                end: self.range.end,
            });
            return;
        }
        let bucket = self.layout.location.bucket.clone();
        let mut expect: Option<Expectation> = None;
        let mut previous_segment: Option<SegmentEnd> = None;
        let mut newest_end: Option<DateTime<Utc>> = None;
        let mut oldest_start: Option<(DateTime<Utc>, bool)> = None;

        loop {
            let (fetch_bucket, key, link) = match expect.take() {
                // A digest that did not verify may name any bucket: read only this trail's
                // bucket on its word. (A valid digest in another bucket is a trail that moved.)
                Some(exp) if !exp.newer_valid && exp.reference.bucket != bucket => {
                    previous_segment = Some(SegmentEnd::Broken);
                    continue;
                }
                // A reference to a digest already walked would loop: a genuine chain only goes
                // back in time. The digest naming it is reported by its own checks.
                Some(exp)
                    if self
                        .visited
                        .contains(&(exp.reference.bucket.clone(), exp.reference.key.clone())) =>
                {
                    previous_segment = Some(SegmentEnd::Broken);
                    continue;
                }
                Some(exp) => {
                    // Listed digests newer than the one the chain names are not on the chain:
                    // verify them on their own so nothing listed goes unchecked.
                    while stack.last().is_some_and(|top| top.key > exp.reference.key) {
                        if let Some(orphan) = stack.pop() {
                            self.check_standalone(&bucket, &orphan.key, false).await;
                        }
                    }
                    if stack.last().is_some_and(|top| top.key == exp.reference.key) {
                        stack.pop();
                    }
                    (
                        exp.reference.bucket.clone(),
                        exp.reference.key.clone(),
                        Some(exp),
                    )
                }
                None => match stack.pop() {
                    Some(top) => (bucket.clone(), top.key, None),
                    None => break,
                },
            };
            self.prefetch(&bucket, &stack);
            self.visited.insert((fetch_bucket.clone(), key.clone()));
            let fetched = self.fetch(&fetch_bucket, &key).await;

            if let (Fetched::Failed(DigestProblem::NotFound { .. }), Some(exp)) = (&fetched, &link)
            {
                // Deleted: report it, and every further hour up to the next digest found.
                let mut missing = DigestReport::new(&fetch_bucket, &key, false);
                missing.end_time = Some(exp.newer_start);
                missing.push(DigestProblem::NotFound { inferred: false });
                self.report.digests.push(missing);
                // Further missing hours are inferred only from a valid digest's times: an
                // invalid one could claim any start and flood the report.
                if exp.newer_valid {
                    let floor = stack.last().map_or(self.range.start, |older| {
                        older.end_time.max(self.range.start)
                    });
                    let ceiling = exp.newer_start.min(self.range.end + DIGEST_PERIOD);
                    self.report_missing_hours(&bucket, ceiling, floor);
                }
                previous_segment = Some(SegmentEnd::Broken);
                continue;
            }

            let index = self.report.digests.len();
            let (report, parsed) =
                self.check_digest(&fetch_bucket, &key, false, fetched, link.as_ref());
            let valid = report.status == Status::Valid;
            self.report.digests.push(report);
            let Some(digest) = parsed else {
                previous_segment = Some(SegmentEnd::Broken);
                continue;
            };
            self.start_log_checks(index, &digest, valid).await;

            if link.is_none() {
                match previous_segment.take() {
                    Some(SegmentEnd::Restart(restart)) if digest.end_time <= restart => {
                        self.report.gaps.push(CoverageGap {
                            kind: GapKind::ChainRestart,
                            start: digest.end_time,
                            end: restart,
                        });
                    }
                    _ => {}
                }
            }
            newest_end = newest_end.max(Some(digest.end_time));
            oldest_start = Some(match oldest_start {
                Some((t, _)) if t <= digest.start_time => (t, false),
                _ => (digest.start_time, digest.previous.is_none()),
            });

            if digest.start_time < self.range.start {
                // The range's start is covered; what remains listed is verified on its own.
                previous_segment = None;
                continue;
            }
            match &digest.previous {
                Some(reference) => {
                    expect = Some(Expectation {
                        newer_key: key.clone(),
                        newer_start: digest.start_time,
                        reference: reference.clone(),
                        newer_valid: valid,
                    });
                }
                None => previous_segment = Some(SegmentEnd::Restart(digest.start_time)),
            }
        }

        if let Some((start, is_chain_start)) = oldest_start
            && is_chain_start
            && start > self.range.start
        {
            self.report.gaps.push(CoverageGap {
                kind: GapKind::BeforeChainStart,
                start: self.range.start,
                end: start,
            });
        }
        if let Some(end) = newest_end {
            let horizon = self
                .range
                .end
                .min(self.ctx.options.now - self.ctx.options.delivery_grace);
            if horizon - end >= DIGEST_PERIOD {
                self.report.gaps.push(CoverageGap {
                    kind: GapKind::AfterNewestDigest,
                    start: end,
                    end: horizon,
                });
            }
        }
        for b in backfill {
            self.check_standalone(&bucket, &b.key, true).await;
        }
    }

    /// Reports, one by one, the hourly digests that would end between `floor` and `newer_start`
    /// besides the one already reported as ending at `newer_start`.
    fn report_missing_hours(
        &mut self,
        bucket: &str,
        newer_start: DateTime<Utc>,
        floor: DateTime<Utc>,
    ) {
        let mut end = newer_start - DIGEST_PERIOD;
        // Half a period of slack: real digest times drift by seconds, not by half an hour.
        while end - floor >= DIGEST_PERIOD / 2 {
            let key = self.layout.digest_key(end);
            let mut missing = DigestReport::new(bucket, &key, false);
            missing.end_time = Some(end);
            missing.start_time = Some(end - DIGEST_PERIOD);
            missing.push(DigestProblem::NotFound { inferred: true });
            self.report.digests.push(missing);
            end -= DIGEST_PERIOD;
        }
    }

    /// Verifies a digest outside the chain walk (backfill, or not reached by the chain): its
    /// signature can only come from its own metadata.
    async fn check_standalone(&mut self, bucket: &str, key: &str, backfill: bool) {
        self.visited.insert((bucket.to_owned(), key.to_owned()));
        let fetched = self.fetch(bucket, key).await;
        let index = self.report.digests.len();
        let (report, parsed) = self.check_digest(bucket, key, backfill, fetched, None);
        let valid = report.status == Status::Valid;
        self.report.digests.push(report);
        if let Some(digest) = parsed {
            self.start_log_checks(index, &digest, valid).await;
        }
    }

    fn prefetch(&mut self, bucket: &str, stack: &[Listed]) {
        for listed in stack.iter().rev().take(DIGEST_PREFETCH) {
            if !self.prefetched.contains_key(&listed.key) {
                let ctx = self.ctx.clone();
                let (b, k) = (bucket.to_owned(), listed.key.clone());
                let task = tokio::spawn(async move { fetch_digest(&ctx, &b, &k).await });
                self.prefetched.insert(listed.key.clone(), task);
            }
        }
    }

    async fn fetch(&mut self, bucket: &str, key: &str) -> Fetched {
        if bucket == self.layout.location.bucket
            && let Some(task) = self.prefetched.remove(key)
        {
            return task.await.unwrap_or_else(|e| {
                Fetched::Failed(DigestProblem::Unreadable {
                    reason: format!("fetch task failed: {e}"),
                })
            });
        }
        fetch_digest(&self.ctx, bucket, key).await
    }

    /// Runs every check on one fetched digest. Returns its report and, when it could be parsed,
    /// the digest (whose `previous` reference the walk follows).
    fn check_digest(
        &self,
        bucket: &str,
        key: &str,
        backfill: bool,
        fetched: Fetched,
        link: Option<&Expectation>,
    ) -> (DigestReport, Option<Box<DigestFile>>) {
        let mut report = DigestReport::new(bucket, key, backfill);
        report.end_time = self.layout.parse_digest_key(key).map(|i| i.end_time);
        let (digest, metadata) = match fetched {
            Fetched::Parsed { digest, metadata } => (digest, metadata),
            Fetched::Failed(problem) => {
                report.push(problem);
                return (report, None);
            }
        };
        report.start_time = Some(digest.start_time);
        report.end_time = Some(digest.end_time);
        let chain = &self.layout.chain;

        if digest.s3_bucket != bucket || digest.s3_object != key {
            report.push(DigestProblem::Moved {
                declared_bucket: digest.s3_bucket.clone(),
                declared_key: digest.s3_object.clone(),
            });
        } else if self.layout.parse_digest_key(&digest.s3_object).is_none() {
            report.push(DigestProblem::OutsideChain {
                declared_key: digest.s3_object.clone(),
            });
        }
        if digest.account_id != chain.account_id {
            report.push(DigestProblem::WrongAccount {
                declared: digest.account_id.clone(),
            });
        }
        let metadata_algorithm = metadata.get("signature-algorithm");
        for found in std::iter::once(&digest.signature_algorithm).chain(metadata_algorithm) {
            if found != SIGNATURE_ALGORITHM {
                report.push(DigestProblem::UnknownSignatureAlgorithm {
                    found: found.clone(),
                });
            }
        }
        if let Some(previous) = &digest.previous
            && previous.hash_algorithm != HASH_ALGORITHM
        {
            report.push(DigestProblem::UnknownHashAlgorithm {
                found: previous.hash_algorithm.clone(),
            });
        }

        // The signature: from metadata, else as carried by the newer digest.
        let own_signature = metadata.get("signature").map(|s| s.to_ascii_lowercase());
        let carried = link.map(|l| l.reference.signature.to_ascii_lowercase());
        match own_signature.as_deref().or(carried.as_deref()) {
            None => report.push(DigestProblem::NoSignature),
            Some(signature) => self.check_signature(&digest, signature, &mut report),
        }

        if let Some(link) = link.filter(|l| l.newer_valid) {
            if !link
                .reference
                .hash_value
                .eq_ignore_ascii_case(&digest.sha256_hex())
            {
                report.push(DigestProblem::PreviousHashMismatch {
                    newer_key: link.newer_key.clone(),
                    recorded: link.reference.hash_value.clone(),
                    actual: digest.sha256_hex(),
                });
            }
            if let (Some(own), Some(carried)) = (&own_signature, &carried)
                && own != carried
            {
                report.push(DigestProblem::PreviousSignatureMismatch {
                    newer_key: link.newer_key.clone(),
                });
            }
            if digest.end_time != link.newer_start {
                report.push(DigestProblem::TimeDiscontinuity {
                    newer_key: link.newer_key.clone(),
                    expected_end: link.newer_start,
                    actual_end: digest.end_time,
                });
            }
        }
        (report, Some(digest))
    }

    fn check_signature(&self, digest: &DigestFile, signature: &str, report: &mut DigestReport) {
        let region = &self.layout.chain.region;
        let key = match self.ctx.keys.lookup(&digest.public_key_fingerprint, region) {
            KeyLookup::Found(key) => key,
            KeyLookup::NotFound => {
                report.push(DigestProblem::KeyNotFound {
                    fingerprint: digest.public_key_fingerprint.clone(),
                    region: region.clone(),
                });
                return;
            }
        };
        match verify_signature(key, signing_string(digest).as_bytes(), signature) {
            Ok(()) => {}
            Err(SignatureError::Malformed) => report.push(DigestProblem::MalformedSignature),
            Err(SignatureError::Mismatch) => report.push(DigestProblem::SignatureMismatch),
        }
        if !key.could_sign_digest_ending(digest.end_time) {
            report.push(DigestProblem::KeyNotValidAtSigningTime {
                fingerprint: key.fingerprint().to_owned(),
                valid_from: key.valid_from(),
                valid_to: key.valid_to(),
            });
        }
    }

    /// Starts checking the log files a digest lists, waiting for a free slot before each so
    /// that the walk never runs further ahead than `concurrency` checks. Those of a digest that
    /// is not valid are only counted as not checked: its listing is not evidence of anything.
    async fn start_log_checks(&mut self, index: usize, digest: &DigestFile, digest_valid: bool) {
        for entry in &digest.log_files {
            let hash = self.key_hasher.hash_one(&entry.s3_object);
            self.listed_logs.insert(hash);
        }
        if !digest_valid {
            self.report.digests[index].logs_not_checked = digest.log_files.len() as u64;
            return;
        }
        self.covered.push((digest.start_time, digest.end_time));
        if let Some(progress) = &self.ctx.options.progress {
            progress.logs_found(digest.log_files.len() as u64);
        }
        let keep_valid = self.ctx.options.keep_valid_entries;
        for (position, entry) in digest.log_files.iter().enumerate() {
            let permit = self.ctx.log_limiter.clone().acquire_owned().await.ok();
            let (entry, ctx, tallies) = (entry.clone(), self.ctx.clone(), self.tallies.clone());
            self.log_tasks.spawn(async move {
                let _permit = permit;
                // A panic while checking must not make a log file vanish from the counts.
                let log = AssertUnwindSafe(check_log(&ctx, &entry))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        LogReport::new(
                            &entry.s3_bucket,
                            &entry.s3_object,
                            Some(LogProblem::Unreadable {
                                reason: "internal error while checking".into(),
                            }),
                            0,
                        )
                    });
                let mut tallies = tallies.lock().unwrap_or_else(|e| e.into_inner());
                tallies
                    .entry(index)
                    .or_default()
                    .add(position, log, keep_valid);
            });
            while self.log_tasks.try_join_next().is_some() {}
        }
    }

    /// Lists the chain's log folder over the hours valid digests cover and reports every log
    /// file no digest lists: a planted file is tampering too.
    async fn find_unlisted_logs(&mut self) {
        let mut spans = std::mem::take(&mut self.covered);
        spans.sort();
        let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for (start, end) in spans {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        let inner: Vec<_> = merged
            .into_iter()
            .map(|(a, b)| (a + UNLISTED_EDGE_MARGIN, b - UNLISTED_EDGE_MARGIN))
            .filter(|(a, b)| a < b)
            .collect();
        let (Some(first), Some(last)) = (inner.first(), inner.last()) else {
            return;
        };
        let bucket = self.layout.location.bucket.clone();
        let mut day = first.0.date_naive();
        while day <= last.1.date_naive() {
            let folder = format!("{}{}/", self.layout.log_folder(), day.format("%Y/%m/%d"));
            let mut after: Option<String> = None;
            loop {
                let page = match self
                    .ctx
                    .source
                    .list_keys(&bucket, &folder, after.as_deref())
                    .await
                {
                    Ok(page) => page,
                    Err(e) => {
                        self.report.error = Some(format!(
                            "listing log files under {folder} to find unlisted ones failed: {e}"
                        ));
                        return;
                    }
                };
                let Some(last_key) = page.last().cloned() else {
                    break;
                };
                for key in page {
                    let planted = self
                        .layout
                        .log_key_time(&key)
                        .is_some_and(|t| inner.iter().any(|(a, b)| *a <= t && t < *b))
                        && !self.listed_logs.contains(&self.key_hasher.hash_one(&key));
                    if planted {
                        self.report.unlisted_logs.push(LogReport::new(
                            &bucket,
                            &key,
                            Some(LogProblem::NotListed),
                            0,
                        ));
                    }
                }
                after = Some(last_key);
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
    }

    async fn finish(mut self) -> ChainReport {
        for (_, task) in self.prefetched.drain() {
            task.abort();
        }
        while self.log_tasks.join_next().await.is_some() {}
        let tallies = std::mem::take(&mut *self.tallies.lock().unwrap_or_else(|e| e.into_inner()));
        for (index, mut tally) in tallies {
            let digest = &mut self.report.digests[index];
            digest.log_counts = tally.counts;
            digest.log_bytes = tally.bytes;
            tally.kept.sort_by_key(|(position, _)| *position);
            digest.logs = tally.kept.into_iter().map(|(_, log)| log).collect();
        }
        let valid = self
            .report
            .digests
            .iter()
            .filter(|d| d.status == Status::Valid);
        self.report.found_start = valid.clone().filter_map(|d| d.start_time).min();
        self.report.found_end = valid.filter_map(|d| d.end_time).max();
        self.report
    }
}

/// What the log files of one digest came to.
#[derive(Default)]
struct LogTally {
    counts: Counts,
    bytes: u64,
    /// Entries kept for the report, with their position in the digest's list.
    kept: Vec<(usize, LogReport)>,
}

impl LogTally {
    fn add(&mut self, position: usize, log: LogReport, keep_valid: bool) {
        self.counts.add(log.status);
        if log.status == Status::Valid {
            self.bytes += log.bytes;
        }
        if keep_valid || log.status != Status::Valid {
            self.kept.push((position, log));
        }
    }
}

/// Fetches, decompresses (within the cap) and parses a digest.
async fn fetch_digest(ctx: &Context, bucket: &str, key: &str) -> Fetched {
    let object = match ctx.source.get(bucket, key).await {
        Ok(object) => object,
        Err(SourceError::NotFound) => {
            return Fetched::Failed(DigestProblem::NotFound { inferred: false });
        }
        Err(e) => {
            return Fetched::Failed(DigestProblem::Unreadable {
                reason: e.to_string(),
            });
        }
    };
    let limit = ctx.options.max_digest_bytes;
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
            return Fetched::Failed(DigestProblem::Unreadable {
                reason: format!("decompressed digest larger than {limit} bytes"),
            });
        }
        Ok(Err(e)) => {
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
        },
        Err(e) => Fetched::Failed(DigestProblem::InvalidFormat {
            detail: e.to_string(),
        }),
    }
}

/// Fetches and hashes one log file listed by a valid digest.
async fn check_log(ctx: &Context, entry: &LogFileEntry) -> LogReport {
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
    let object = match ctx.source.get(&entry.s3_bucket, &entry.s3_object).await {
        Ok(object) => object,
        Err(SourceError::NotFound) => return report(Some(LogProblem::NotFound), 0),
        Err(e) => {
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
    let hashed = tokio::task::spawn_blocking(move || hash_gzip(body, limit)).await;

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
