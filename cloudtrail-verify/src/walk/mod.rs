//! Walking one chain (account, source region) over a time range, newest to oldest. The walk
//! schedules reads and feeds what it read to `crate::trust`, which decides what it proves.
//!
//! Stricter than `aws cloudtrail validate-logs`:
//! - the digest folder's day folders are listed completely and names are parsed exactly;
//!   objects CloudTrail does not write there are findings (`listing`);
//! - each link is checked: the older digest's SHA-256 and signature must equal what the newer
//!   one recorded, and it must end where the newer one starts;
//! - location, account, chain folder, algorithms, metadata and key validity are checked;
//! - digests the chain never reaches (copies, leftovers) are still verified on their own;
//! - the verdict on the chain's hours comes from coverage: every instant of the window must lie
//!   in a valid standard digest (`trust::coverage_gaps`);
//! - every log file named inside the window must be listed by a valid digest (`unlisted`).

mod coverage;
mod emitter;
mod fetcher;
mod listing;
mod logs;
mod unlisted;
mod versions;

pub(crate) use emitter::{ChainEvent, Ownership};

use crate::keys::KeySet;
use crate::layout::ChainLayout;
use crate::options::{TimeRange, VerifyOptions};
use crate::report::{
    ChainHead, ChainReport, CheckpointCheck, CheckpointProblem, CoverageGap, DigestProblem,
    DigestReport, ForeignObject, GapKind, LogProblem, LogReport, Status, VersionCheck,
};
use crate::schema::DigestFile;
use crate::source::LifecycleRule;
use crate::source::ObjectSource;
use crate::task::AbortOnDrop;
use crate::trust::{self, DigestEvidence, Link};
use chrono::TimeDelta;
use coverage::{Coverage, HeadCandidate};
use emitter::VerdictEmitter;
use fetcher::DigestFetcher;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use listing::Listed;
use logs::{Fetched, check_log};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use unlisted::{ListedLogs, find_unlisted};

/// CloudTrail's digest cadence.
const DIGEST_PERIOD: TimeDelta = TimeDelta::hours(1);
/// What the walk shares across chains.
pub(crate) struct Context {
    pub source: Arc<dyn ObjectSource>,
    pub keys: Arc<KeySet>,
    pub options: VerifyOptions,
    /// The trail's bucket: a digest named elsewhere that is missing is not proven deleted.
    pub trail_bucket: String,
    /// Bounds concurrent log reads across all chains.
    pub log_limiter: Arc<Semaphore>,
    /// Bounds digests fetched ahead across all chains, so that memory does not grow with the
    /// number of chains; a prefetch that finds no slot is left to the walk.
    pub prefetch_slots: Arc<Semaphore>,
    /// One turn for digests larger than [`fetcher::SMALL_DIGEST_BYTES`].
    pub large_digests: Arc<Semaphore>,
    /// The trail bucket's lifecycle rules and versioning state, read while the walks begin:
    /// awaited where they are used ([`Context::facts`]).
    pub facts: Shared<BoxFuture<'static, Arc<BucketFacts>>>,
    /// CloudTrail's event history of the trail, which may explain a gap (`None`: the run has
    /// no AWS session, as offline).
    pub history: Option<Arc<crate::history::LazyHistory>>,
    /// Reviewed exceptions, which may accept an unverifiable gap.
    pub exceptions: Option<Arc<crate::exceptions::Exceptions>>,
}

impl Context {
    /// The bucket's lifecycle rules and versioning state, once read.
    pub async fn facts(&self) -> Arc<BucketFacts> {
        self.facts.clone().await
    }
}

/// What a run knows of the trail's bucket besides its objects.
#[derive(Debug)]
pub(crate) struct BucketFacts {
    /// The bucket's lifecycle rules (none when a local copy, or when they could not be read):
    /// what may excuse a missing object as expired.
    pub lifecycle_rules: Vec<LifecycleRule>,
    /// Why the rules could not be read, when they could not.
    pub lifecycle_error: Option<crate::source::SourceError>,
    /// Whether version histories are read, and why not.
    pub versions: VersionCheck,
    /// What the report says about the versioning state, when anything.
    pub versions_note: Option<String>,
}

impl BucketFacts {
    /// The facts from the answers about `bucket`: its lifecycle rules, and its versioning
    /// state (`None`: the run was told not to read versions).
    pub fn read(
        lifecycle: Result<Vec<LifecycleRule>, crate::source::SourceError>,
        versioning: Option<Result<crate::source::Versioning, crate::source::SourceError>>,
        bucket: &str,
    ) -> Self {
        use crate::source::Versioning;
        // Unreadable rules excuse nothing.
        let (lifecycle_rules, lifecycle_error) = match lifecycle {
            Ok(rules) => (rules, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        let (versions, versions_note) = match versioning {
            None => (VersionCheck::Skipped, None),
            Some(Ok(Versioning::Enabled)) => (VersionCheck::Checked, None),
            Some(Ok(Versioning::Suspended)) => (
                VersionCheck::CheckedSuspended,
                Some(format!(
                    "versioning of bucket {bucket} is suspended: versions kept before the \
                     suspension were checked, but objects written since replace earlier ones \
                     without a trace"
                )),
            ),
            Some(Ok(Versioning::NotEnabled)) => (VersionCheck::NotVersioned, None),
            Some(Ok(Versioning::Unsupported)) => (VersionCheck::Unsupported, None),
            Some(Err(e)) => (
                VersionCheck::Unknown,
                Some(format!(
                    "the versioning state of bucket {bucket} could not be read, so object \
                     versions were listed anyway (a listing that fails leaves the run \
                     unverifiable; --no-versions skips it): {e}"
                )),
            ),
        };
        BucketFacts {
            lifecycle_rules,
            lifecycle_error,
            versions,
            versions_note,
        }
    }

    /// List the chains' version histories and verify CloudTrail's originals: the bucket keeps
    /// versions (or its state is unknown), and the run was not told to skip them.
    pub fn check_versions(&self) -> bool {
        matches!(
            self.versions,
            VersionCheck::Checked | VersionCheck::CheckedSuspended | VersionCheck::Unknown
        )
    }
}

/// The log folder's listing made beside a walk ([`unlisted::prelist`]).
type PreListing = Result<Option<unlisted::PreListed>, crate::source::SourceError>;

/// One chain to walk.
pub(crate) struct ChainPlan {
    pub layout: ChainLayout,
    /// Whether the chain was expected rather than only found.
    pub expected: bool,
    /// Where a previous run left the chain proven: the walk starts at its end and must join it.
    pub checkpoint: Option<ChainHead>,
    /// Where each digest's final verdict goes as soon as it is known, in walk order (`None`:
    /// the report is only returned).
    pub events: Option<mpsc::Sender<ChainEvent>>,
    /// Which digests this walk reports, when the chain is verified in time windows (shards).
    pub owns: Ownership,
    /// Told once every digest of the window has been walked and each log check it makes has
    /// started (only the checks in flight and the window's closing checks are left): the next
    /// segment of the chain may start then.
    pub tail: Option<tokio::sync::oneshot::Sender<()>>,
}

/// One digest judged: its report, the digest when it parsed, and the signature it was judged
/// by (from its metadata, else as the newer digest carries it).
struct Checked {
    report: DigestReport,
    digest: Option<Box<DigestFile>>,
    signature: Option<String>,
    /// The chain's digest folder where the trail delivered before a move, when the digest was
    /// judged there.
    moved_from: Option<String>,
}

struct Walker {
    ctx: Arc<Context>,
    layout: Arc<ChainLayout>,
    range: TimeRange,
    /// Digest reads, scheduled ahead of the walk.
    fetcher: DigestFetcher,
    report: ChainReport,
    /// Log checks in flight; finished ones are reaped as the walk goes.
    log_tasks: JoinSet<()>,
    /// Log keys listed by valid digests.
    listed_logs: ListedLogs,
    /// What the chain's valid digests cover, and where a checkpoint may be set.
    coverage: Coverage,
    /// Gives out each digest's verdict once it is final.
    emitter: VerdictEmitter,
    /// Digests already fetched, with their verdict, so that a reference back to one cannot make
    /// the walk loop.
    visited: HashMap<(String, String), Status>,
    /// Keys of the chain's folders whose version history shows a change after delivery.
    changed: HashMap<String, trust::versions::VersionJudgement>,
    /// For changed log files a valid digest lists: the entry (its hash) and the digest's start.
    changed_logs: HashMap<String, (crate::schema::LogFileEntry, chrono::DateTime<chrono::Utc>)>,
    /// The checkpoint to join, until it has been.
    checkpoint: Option<ChainHead>,
    /// Told when the walk reaches its tail ([`ChainPlan::tail`]).
    tail: Option<tokio::sync::oneshot::Sender<()>>,
}

/// The first listing page (bucket, folder, start-after) a walk of `layout` over `window` asks
/// for, when it lists at all: what can be asked ahead ([`crate::source::ahead`]).
// Used by the S3 origin only (and the tests).
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub(crate) fn first_listing(
    layout: &ChainLayout,
    window: TimeRange,
) -> Option<(String, String, String)> {
    (window.start() < window.end()).then(|| listing::first_digest_page(layout, window.start()))
}

/// Verifies one chain over `range`.
pub(crate) async fn walk_chain(
    ctx: Arc<Context>,
    plan: ChainPlan,
    range: TimeRange,
) -> ChainReport {
    let layout = Arc::new(plan.layout);
    let mut report = ChainReport::new(layout.chain.clone());
    report.expected = plan.expected;
    report.window = Some((range.start(), range.end().max(range.start())));
    let mut walker = Walker {
        report,
        fetcher: DigestFetcher::new(ctx.clone(), layout.location.bucket.clone()),
        ctx,
        layout,
        range,
        log_tasks: JoinSet::new(),
        listed_logs: ListedLogs::default(),
        coverage: Coverage::default(),
        emitter: VerdictEmitter::new(plan.events, plan.owns),
        visited: HashMap::new(),
        changed: HashMap::new(),
        changed_logs: HashMap::new(),
        checkpoint: plan.checkpoint,
        tail: plan.tail,
    };
    if walker.range.start() < walker.range.end() {
        walker.run().await;
    }
    // A checkpoint no new digest joined (none reaches back to it, or the chain has nothing new
    // yet) is still read again: it must be unchanged.
    if let Some(checkpoint) = walker.checkpoint.take() {
        walker.join_checkpoint(checkpoint, None, None).await;
    }
    walker.finish().await
}

impl Walker {
    async fn run(&mut self) {
        // Digests ending within [start, end + 1h]: the hour after the end holds log files
        // delivered late for the range (the AWS CLI reads the same window).
        let last = self
            .range
            .end()
            .checked_add_signed(DIGEST_PERIOD)
            .unwrap_or(self.range.end());
        // What can have been delivered: up to the delivery grace before now.
        let proven_until = self
            .ctx
            .options
            .now
            .checked_sub_signed(self.ctx.options.delivery_grace)
            .unwrap_or(self.ctx.options.now);
        let range = (self.range.start(), self.range.end());
        let provable = (range.0, range.1.min(proven_until).max(range.0));
        // The log folder is listed for unlisted files while the walk goes on, not after it:
        // which files valid digests list is only needed to judge what the listing found.
        let prelisted = self.ctx.options.check_unlisted_logs.then(|| {
            let (source, layout) = (self.ctx.source.clone(), self.layout.clone());
            let hasher = self.listed_logs.hasher();
            AbortOnDrop::spawn(async move {
                unlisted::prelist(source.as_ref(), &layout, provable, hasher).await
            })
        });
        let listing = match listing::list_digests(
            self.ctx.source.as_ref(),
            &self.layout,
            self.range.start(),
            last,
        )
        .await
        {
            Ok(listing) => listing,
            Err(e) => {
                self.report.error = Some(format!("listing digest files failed: {e}"));
                return;
            }
        };
        let bucket = self.layout.location.bucket.clone();
        let mut listing = listing;
        if let Some(checkpoint) = &self.checkpoint {
            // The checkpoint ends where the window starts: it is read once, for the join, and
            // its log files were verified by the run that set it.
            listing
                .standard
                .retain(|l| !(checkpoint.bucket == bucket && l.key == checkpoint.key));
        }
        if let Some(after) = self.emitter.ownership().after {
            // The window before this one reads and reports those.
            let layout = self.layout.clone();
            listing.standard.retain(|l| {
                layout
                    .parse_digest_key(&l.key)
                    .is_none_or(|i| i.end_time > after)
            });
        }
        for (key, reason) in &listing.foreign {
            self.report.foreign_objects.push(ForeignObject {
                bucket: bucket.clone(),
                key: key.clone(),
                reason: reason.to_string(),
                status: trust::verdict::foreign_object_status(),
            });
        }
        self.report.foreign_objects_omitted += listing.foreign_omitted;
        if self.ctx.facts().await.check_versions() {
            self.list_changes(last).await;
        }

        self.walk_chain(listing.standard).await;
        // A window whose end no valid digest covers: a digest after the window, if there is
        // one, may still prove that the digests before it were deleted.
        if let Some((_, next)) = listing.next_after
            && provable.0 < provable.1
            && !self.coverage.covers(provable.1 - TimeDelta::seconds(1))
        {
            self.walk_chain(vec![next]).await;
        }
        if let Some(tail) = self.tail.take() {
            // Nobody waiting is fine: the segment after this one, if any, simply starts later.
            let _ = tail.send(());
        }
        for listed in listing.backfill {
            self.check_standalone(&bucket, &listed.key, true).await;
        }
        for (key, other) in listing.other_trails {
            self.check_other_trail(&bucket, &key, &other).await;
        }

        self.report.gaps = trust::range_gaps(range, proven_until, self.coverage.spans());
        self.explain_gaps().await;
        if let Some(prelisted) = prelisted {
            match self.find_unlisted(prelisted, provable).await {
                Ok(found) => {
                    self.report.unlisted_logs = found.logs;
                    self.report.unlisted_logs_omitted = found.logs_omitted;
                    let room =
                        listing::MAX_FOREIGN_KEPT.saturating_sub(self.report.foreign_objects.len());
                    let extra = found.foreign.len().saturating_sub(room) as u64;
                    self.report
                        .foreign_objects
                        .extend(found.foreign.into_iter().take(room));
                    self.report.foreign_objects_omitted += found.foreign_omitted + extra;
                }
                Err(e) => {
                    self.report.error = Some(format!(
                        "listing log files to find unlisted ones failed: {e}"
                    ));
                }
            }
        }
        self.check_originals().await;
    }

    /// The log files in the chain's folder over `window` that no valid digest lists, and the
    /// foreign objects there: from the listing made beside the walk, the day folders holding
    /// such a file listed again for their names; from a listing made now when that one failed
    /// or the folder held too many files to keep.
    async fn find_unlisted(
        &self,
        mut prelisted: AbortOnDrop<PreListing>,
        window: (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
    ) -> Result<unlisted::Unlisted, crate::source::SourceError> {
        let source = self.ctx.source.as_ref();
        let covered = self.coverage.spans();
        let pre = match (&mut prelisted.0).await {
            Ok(Ok(Some(pre))) => pre,
            _ => {
                return find_unlisted(source, &self.layout, window, &self.listed_logs, covered)
                    .await;
            }
        };
        match unlisted::judge_prelisted(pre, window, &self.listed_logs, covered) {
            Ok(found) => Ok(found),
            Err((mut found, days)) => {
                let layout = &self.layout;
                unlisted::find_unlisted_in(
                    source,
                    layout,
                    window,
                    &self.listed_logs,
                    covered,
                    &days,
                    &mut found,
                )
                .await?;
                Ok(found)
            }
        }
    }

    /// Lists the version histories of the digest and log folders over the days the walk reads
    /// (a day either side, as the listings), and keeps the keys changed after delivery.
    async fn list_changes(&mut self, last: chrono::DateTime<chrono::Utc>) {
        let days = (
            self.range
                .start()
                .date_naive()
                .pred_opt()
                .unwrap_or(self.range.start().date_naive()),
            last.date_naive().succ_opt().unwrap_or(last.date_naive()),
        );
        let bucket = self.layout.location.bucket.clone();
        let facts = self.ctx.facts().await;
        let mut histories = versions::Histories::new();
        for folder in [self.layout.digest_folder(), self.layout.log_folder()] {
            if let Err(e) = versions::list_histories(
                self.ctx.source.as_ref(),
                &bucket,
                &folder,
                days,
                &mut histories,
            )
            .await
            {
                self.report.versions_error = Some(e);
                return;
            }
        }
        for (key, history) in histories {
            // The time CloudTrail's name for the key gives, which bounds its creation.
            let named_at = self
                .layout
                .parse_digest_key(&key)
                .map(|info| info.end_time)
                .or_else(|| self.layout.log_key_time(&key));
            let judged =
                trust::versions::judge_versions(&key, &history, &facts.lifecycle_rules, named_at);
            if !judged.problems.is_empty() {
                self.changed.insert(key, judged);
            }
        }
    }

    /// Reports each changed key with the verification of CloudTrail's original version: a
    /// digest on its own (its signature from the version's metadata), a log file against the
    /// hash a valid digest lists for it.
    async fn check_originals(&mut self) {
        let bucket = self.layout.location.bucket.clone();
        let digest_folder = self.layout.digest_folder();
        let mut changed: Vec<_> = std::mem::take(&mut self.changed).into_iter().collect();
        changed.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, judged) in changed {
            if self.report.versions.len() >= versions::MAX_VERSIONED_KEPT {
                self.report.versions_omitted += 1;
                continue;
            }
            let mut object = crate::report::VersionedObject {
                bucket: bucket.clone(),
                key: key.clone(),
                original_version_id: judged.original.as_ref().map(|o| o.version_id.clone()),
                original_written: judged.original.as_ref().map(|o| o.last_modified),
                status: judged
                    .problems
                    .iter()
                    .map(crate::findings::VersionProblem::status)
                    .max()
                    .unwrap_or(Status::Valid),
                problems: judged.problems,
                original_status: None,
                original_problem: None,
            };
            let (status, problem) = match &judged.original {
                None => (None, Some("no version of it is left".to_owned())),
                Some(original) if key.starts_with(&digest_folder) => {
                    let (status, problem) = self
                        .check_original_digest(&bucket, &key, &original.version_id)
                        .await;
                    (Some(status), problem)
                }
                Some(original) => match self.changed_logs.get(&key).cloned() {
                    Some((entry, listed_from)) => {
                        let log = logs::check_log_version(
                            &self.ctx,
                            &entry,
                            listed_from,
                            Some(&original.version_id),
                        )
                        .await;
                        (Some(log.status), log.problem.map(|p| p.to_string()))
                    }
                    None => (
                        None,
                        Some("not checked: no valid digest file lists it".to_owned()),
                    ),
                },
            };
            object.original_status = status;
            object.original_problem = problem;
            self.report.versions.push(object);
        }
    }

    /// A digest's original version, judged on its own.
    async fn check_original_digest(
        &self,
        bucket: &str,
        key: &str,
        version: &str,
    ) -> (Status, Option<String>) {
        let limit = self.ctx.options.max_digest_bytes;
        let _turn = self.ctx.large_digests.clone().acquire_owned().await.ok();
        let fetched =
            logs::fetch_digest_version(&self.ctx, bucket, key, Some(version), limit).await;
        let backfill = self
            .layout
            .parse_digest_key(key)
            .is_some_and(|i| i.backfill);
        let report = self
            .check_digest(bucket, key, backfill, fetched, None)
            .report;
        (
            report.status,
            report.problems.first().map(ToString::to_string),
        )
    }

    /// Walks the hourly chain from the newest listed digest back, following each digest's
    /// `previousDigestS3Object`.
    async fn walk_chain(&mut self, mut stack: Vec<Listed>) {
        let bucket = self.layout.location.bucket.clone();
        // The link to follow, with the index in `covered` of the valid digest it comes from.
        let mut expect: Option<(Link, Option<usize>)> = None;
        loop {
            // Verdicts made final since the last turn go out here, where the walk holds no
            // fetch slot: a walk waiting for its reader must not hold what others need.
            self.emit_ready().await;
            let (fetch_bucket, key, link) = match expect.take() {
                // A digest that did not verify may name any bucket: read only this trail's
                // bucket on its word. (A valid digest in another bucket is a trail that moved.)
                Some((link, _)) if !link.newer_valid && link.reference.bucket != bucket => {
                    continue;
                }
                // The link reaches the checkpoint before the window's start (hours without a
                // digest after it): the join is made here, on this link.
                Some((link, span))
                    if self.checkpoint.as_ref().is_some_and(|c| {
                        c.bucket == link.reference.bucket && c.key == link.reference.key
                    }) =>
                {
                    if let Some(checkpoint) = self.checkpoint.take() {
                        let status = self.join_checkpoint(checkpoint, Some(&link), None).await;
                        self.coverage.set_predecessor(span, status);
                    }
                    continue;
                }
                Some((link, span)) => {
                    let target = (link.reference.bucket.clone(), link.reference.key.clone());
                    // A reference to a digest already walked would loop: a genuine chain only
                    // goes back in time. What it named has its verdict already.
                    if let Some(status) = self.visited.get(&target) {
                        self.coverage
                            .set_predecessor(span, (*status).max(Status::Unverifiable));
                        continue;
                    }
                    // Listed digests newer than the one the chain names are not on the chain:
                    // verify them on their own so nothing listed goes unchecked.
                    while stack.last().is_some_and(|top| top.key > link.reference.key) {
                        if let Some(orphan) = stack.pop() {
                            self.check_standalone(&bucket, &orphan.key, false).await;
                        }
                    }
                    if target.0 == bucket && stack.last().is_some_and(|top| top.key == target.1) {
                        stack.pop();
                    }
                    (target.0, target.1, Some((link, span)))
                }
                None => match stack.pop() {
                    Some(top) => (bucket.clone(), top.key, None),
                    None => break,
                },
            };
            self.fetcher.prefetch(&bucket, &stack);
            let (fetched, slot) = self.fetcher.fetch(&fetch_bucket, &key).await;
            let (link, newer_span) = match link {
                Some((link, span)) => (Some(link), span),
                None => (None, None),
            };

            if let (Fetched::Failed(problem), Some(link)) = (&fetched, &link)
                && matches!(
                    problem,
                    DigestProblem::NotFound | DigestProblem::OtherBucketMissing { .. }
                )
            {
                // Gone: the newer digest proves it existed. Unless a lifecycle rule of the
                // bucket would have expired it by now (it ended, so was written no earlier, at
                // the newer digest's signed start): then the bucket's configuration removed it.
                let mut missing = DigestReport::new(&fetch_bucket, &key, false);
                missing.end_time = Some(link.newer_start);
                // Only a valid newer digest's start is a signed time.
                let excuse = if link.newer_valid && matches!(problem, DigestProblem::NotFound) {
                    logs::expired(&self.ctx, &fetch_bucket, &key, link.newer_start).await
                } else {
                    None
                };
                match excuse {
                    Some(logs::Excuse::Voided { rule_id, change }) => {
                        missing.push(DigestProblem::LifecycleChanged { rule_id, change });
                        self.coverage.set_predecessor(newer_span, missing.status);
                    }
                    Some(logs::Excuse::Expired {
                        rule_id,
                        days,
                        date,
                    }) => {
                        missing.push(DigestProblem::Expired {
                            rule_id,
                            days,
                            date,
                        });
                        self.coverage.set_predecessor_expired(newer_span);
                    }
                    None => {
                        missing.push(problem.clone());
                        self.coverage.set_predecessor(newer_span, missing.status);
                    }
                }
                self.visited.insert((fetch_bucket, key), missing.status);
                self.report.digests.push(missing);
                continue;
            }

            // `slot` (a prefetch slot, or the large-digest turn) is held until the digest is
            // done with, at the end of this iteration.
            let held = slot;
            let Checked {
                report,
                digest: parsed,
                signature,
                moved_from,
            } = self.check_digest(&fetch_bucket, &key, false, fetched, link.as_ref());
            let valid = report.status == Status::Valid;
            if let Some(folder) =
                moved_from.filter(|f| valid && !self.report.moved_from.contains(f))
            {
                self.report.moved_from.push(folder);
            }
            self.coverage.set_predecessor(newer_span, report.status);
            self.visited
                .insert((fetch_bucket.clone(), key.clone()), report.status);
            let index = self.report.digests.len();
            self.report.digests.push(report);
            let Some(digest) = parsed else {
                continue;
            };
            let span = valid.then(|| self.coverage.cover(&digest));
            if valid
                && fetch_bucket == bucket
                && digest.end_time > self.range.start()
                && digest.end_time <= self.range.end()
                && let Some(signature) = signature
            {
                self.coverage.add_head(HeadCandidate {
                    key: key.clone(),
                    start: digest.start_time,
                    end: digest.end_time,
                    sha256: digest.sha256,
                    signature,
                });
            }
            self.start_log_checks(index, &digest, valid).await;

            if digest.start_time <= self.range.start() {
                // The range's start is covered. A checkpoint must be joined right here, by the
                // oldest digest of the chain; what remains listed is verified on its own.
                if self.report.tail.is_none() {
                    self.report.tail = Some(crate::report::ChainTail {
                        key: key.clone(),
                        start_time: digest.start_time,
                        valid,
                        previous: digest.previous.as_ref().map(|p| {
                            crate::report::NamedPredecessor {
                                bucket: p.bucket.clone(),
                                key: p.key.clone(),
                                sha256: p.hash_value.to_ascii_lowercase(),
                                signature: p.signature.to_ascii_lowercase(),
                            }
                        }),
                    });
                }
                if let Some(checkpoint) = self.checkpoint.take() {
                    let link = digest.previous.as_ref().map(|reference| Link {
                        newer_key: key.clone(),
                        newer_start: digest.start_time,
                        reference: reference.clone(),
                        newer_valid: valid,
                    });
                    let starts_chain = digest.previous.is_none().then_some(key.clone());
                    // Done with this digest: its turn (the large-digest one, maybe) must not
                    // be held while the checkpoint, maybe large too, waits for one.
                    drop(digest);
                    drop(held);
                    let status = self
                        .join_checkpoint(checkpoint, link.as_ref(), starts_chain.as_deref())
                        .await;
                    self.coverage.set_predecessor(span, status);
                }
                continue;
            }
            if let Some(reference) = &digest.previous {
                expect = Some((
                    Link {
                        newer_key: key,
                        newer_start: digest.start_time,
                        reference: reference.clone(),
                        newer_valid: valid,
                    },
                    span,
                ));
            }
        }
    }

    /// Verifies a digest outside the chain walk (backfill, or not reached by the chain): its
    /// signature can only come from its own metadata. A valid standard one still covers its
    /// hour: CloudTrail signed it.
    async fn check_standalone(&mut self, bucket: &str, key: &str, backfill: bool) {
        let (fetched, _slot) = self.fetcher.fetch(bucket, key).await;
        let Checked {
            report,
            digest: parsed,
            ..
        } = self.check_digest(bucket, key, backfill, fetched, None);
        let valid = report.status == Status::Valid;
        self.visited
            .insert((bucket.to_owned(), key.to_owned()), report.status);
        let index = self.report.digests.len();
        self.report.digests.push(report);
        if let Some(digest) = parsed {
            if valid && !backfill {
                self.coverage.cover(&digest);
            }
            self.start_log_checks(index, &digest, valid).await;
        }
    }

    /// Another trail's digest in this chain's folder: when it verifies, the log files it lists
    /// are accounted for (trails may share a bucket and prefix); when it does not, it is a
    /// foreign object.
    async fn check_other_trail(&mut self, bucket: &str, key: &str, other: &ChainLayout) {
        let (fetched, _slot) = self.fetcher.fetch(bucket, key).await;
        let (problems, digest) = match fetched {
            Fetched::Failed(problem) => (vec![problem], None),
            Fetched::Parsed {
                digest,
                metadata,
                metadata_problem,
                ..
            } => {
                let problems = trust::judge_digest(&DigestEvidence {
                    bucket,
                    key,
                    layout: other,
                    digest: &digest,
                    metadata: &metadata,
                    metadata_problem: metadata_problem.as_deref(),
                    backfill: other.parse_digest_key(key).is_some_and(|i| i.backfill),
                    link: None,
                    keys: &self.ctx.keys,
                });
                (problems, Some(digest))
            }
        };
        if let Some(worst) = problems.iter().map(DigestProblem::status).max() {
            self.report.foreign_objects.push(ForeignObject {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                reason: format!(
                    "digest of trail {} that does not verify: {}",
                    other.trail_name, problems[0]
                ),
                status: worst,
            });
            return;
        }
        let Some(digest) = digest else { return };
        // The log files it lists are in this chain's folder: they are accounted for only if
        // they are what it says.
        let mut checks = JoinSet::new();
        for entry in digest.log_files.iter() {
            self.listed_logs.insert(&entry.s3_object);
            let permit = self.ctx.log_limiter.clone().acquire_owned().await.ok();
            let ctx = self.ctx.clone();
            let listed_from = digest.start_time;
            checks.spawn(async move {
                let _permit = permit;
                check_log(&ctx, &entry, listed_from).await
            });
        }
        while let Some(done) = checks.join_next().await {
            let log = done.unwrap_or_else(|e| {
                LogReport::new(
                    bucket,
                    key,
                    Some(LogProblem::Unreadable {
                        reason: format!("check failed: {e}"),
                    }),
                    0,
                )
            });
            if let Some(problem) = &log.problem {
                self.report.foreign_objects.push(ForeignObject {
                    bucket: log.bucket.clone(),
                    key: log.key.clone(),
                    reason: format!(
                        "log file of trail {} that does not verify: {problem}",
                        other.trail_name
                    ),
                    status: log.status,
                });
            }
        }
    }

    /// Runs every check on one fetched digest. Returns its report and, when it could be parsed,
    /// the digest (whose `previous` reference the walk follows).
    fn check_digest(
        &self,
        bucket: &str,
        key: &str,
        backfill: bool,
        fetched: Fetched,
        link: Option<&Link>,
    ) -> Checked {
        let mut report = DigestReport::new(bucket, key, backfill);
        // A valid digest's link may lead where the trail delivered before it was moved (another
        // bucket or prefix): that digest is judged as this chain there. Only a signed link
        // leads there; a name alone, in this bucket, is judged where the trail is now.
        let here =
            bucket == self.layout.location.bucket && self.layout.parse_digest_key(key).is_some();
        let moved = (!here && link.is_some_and(|l| l.newer_valid))
            .then(|| self.layout.moved_to(bucket, key))
            .flatten();
        let layout = moved.as_ref().unwrap_or(&self.layout);
        report.end_time = layout.parse_digest_key(key).map(|i| i.end_time);
        let (digest, metadata, metadata_problem) = match fetched {
            Fetched::Parsed {
                digest,
                metadata,
                metadata_problem,
                retention,
            } => {
                report.retention = retention;
                (digest, metadata, metadata_problem)
            }
            Fetched::Failed(problem) => {
                report.push(problem);
                return Checked {
                    report,
                    digest: None,
                    signature: None,
                    moved_from: None,
                };
            }
        };
        report.start_time = Some(digest.start_time);
        report.end_time = Some(digest.end_time);
        for problem in trust::judge_digest(&DigestEvidence {
            bucket,
            key,
            layout,
            digest: &digest,
            metadata: &metadata,
            metadata_problem: metadata_problem.as_deref(),
            backfill,
            link,
            keys: &self.ctx.keys,
        }) {
            report.push(problem);
        }
        // The signature judged, as `trust::judge_digest` picks it.
        let signature = metadata
            .get("signature")
            .or(link.map(|l| &l.reference.signature))
            .map(|s| s.to_ascii_lowercase());
        Checked {
            report,
            digest: Some(digest),
            signature,
            moved_from: moved.map(|m| format!("s3://{}/{}", m.location.bucket, m.digest_folder())),
        }
    }

    /// Starts checking the log files a digest lists, waiting for a free slot before each so
    /// that the walk never runs further ahead than `concurrency` checks. Those of a digest that
    /// is not valid are only counted as not checked: its listing is not evidence of anything.
    async fn start_log_checks(&mut self, index: usize, digest: &DigestFile, digest_valid: bool) {
        if !digest_valid {
            self.report.digests[index].logs_not_checked = digest.log_files.len() as u64;
            return;
        }
        for entry in digest.log_files.iter() {
            self.listed_logs.insert(&entry.s3_object);
            if entry.s3_bucket == self.layout.location.bucket
                && self.changed.contains_key(&entry.s3_object)
            {
                self.changed_logs
                    .insert(entry.s3_object.clone(), (entry, digest.start_time));
            }
        }
        if let Some(progress) = &self.ctx.options.progress {
            progress.logs_found(digest.log_files.len() as u64);
        }
        self.emitter
            .expect_logs(index, digest.log_files.len() as u64);
        let keep_valid = self.ctx.options.keep_valid_entries;
        for (position, entry) in digest.log_files.iter().enumerate() {
            let permit = self.ctx.log_limiter.clone().acquire_owned().await.ok();
            let (ctx, tallies) = (self.ctx.clone(), self.emitter.tallies());
            let listed_from = digest.start_time;
            self.log_tasks.spawn(async move {
                let _permit = permit;
                // A panic while checking must not make a log file vanish from the counts.
                let log = AssertUnwindSafe(check_log(&ctx, &entry, listed_from))
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

    async fn finish(mut self) -> ChainReport {
        self.fetcher.abort_prefetched();
        while self.log_tasks.join_next().await.is_some() {}
        self.emitter.fold_all(&mut self.report.digests);
        self.emit_ready().await;
        // Digests of the neighbouring windows were read for what they list, not reported.
        let owns = self.emitter.ownership();
        if owns.after.is_some() || owns.until.is_some() {
            self.report.digests.retain(|d| owns.owns(d));
        }
        let valid = self
            .report
            .digests
            .iter()
            .filter(|d| d.status == Status::Valid && !d.backfill);
        self.report.found_start = valid.clone().filter_map(|d| d.start_time).min();
        self.report.found_end = valid.filter_map(|d| d.end_time).max();
        self.report.head = self
            .coverage
            .head(&self.report, &self.layout.location.bucket);
        self.report
    }

    /// Gives out every digest verdict that is final ([`VerdictEmitter::emit_ready`]). When the
    /// reader is behind, this chain waits for the ones before it: its prefetched digests go
    /// back first, so that their slots serve the chain being read.
    async fn emit_ready(&mut self) {
        let progress = self.ctx.options.progress.clone();
        let fetcher = &mut self.fetcher;
        self.emitter
            .emit_ready(&mut self.report.digests, progress.as_ref(), || {
                fetcher.abort_prefetched()
            })
            .await;
    }

    /// Reads the checkpoint digest again and judges the join to it: `link` from the oldest new
    /// digest of the chain, or `starts_chain` when that digest names no predecessor. Returns
    /// the checkpoint's status, which is also the predecessor status of that digest.
    async fn join_checkpoint(
        &mut self,
        checkpoint: ChainHead,
        link: Option<&Link>,
        starts_chain: Option<&str>,
    ) -> Status {
        let (mut fetched, _slot) = self
            .fetcher
            .fetch(&checkpoint.bucket, &checkpoint.key)
            .await;
        // Gone when a lifecycle rule of the bucket would have expired it by now: expired
        // (unverifiable), as a digest the walk finds gone is, not deleted; a scheduled job
        // paused past the rule's age must not read the bucket's configuration as tampering.
        // It was written no earlier than the signed start of a valid new digest naming it, or,
        // with none, than the time its name gives (the state chose the name: the excuse only
        // ever turns invalid into unverifiable, never into valid).
        if matches!(fetched, Fetched::Failed(DigestProblem::NotFound)) {
            let signed = link
                .filter(|l| {
                    l.newer_valid
                        && l.reference.bucket == checkpoint.bucket
                        && l.reference.key == checkpoint.key
                })
                .map(|l| l.newer_start);
            let named = self
                .layout
                .parse_digest_key(&checkpoint.key)
                .map(|i| i.end_time);
            let excuse = match signed.or(named) {
                Some(created) => {
                    logs::expired(&self.ctx, &checkpoint.bucket, &checkpoint.key, created).await
                }
                None => None,
            };
            match excuse {
                Some(logs::Excuse::Expired {
                    rule_id,
                    days,
                    date,
                }) => {
                    fetched = Fetched::Failed(DigestProblem::Expired {
                        rule_id,
                        days,
                        date,
                    });
                }
                Some(logs::Excuse::Voided { rule_id, change }) => {
                    fetched = Fetched::Failed(DigestProblem::LifecycleChanged { rule_id, change });
                }
                None => {}
            }
        }
        // Only a link to the checkpoint itself says anything about the digest read. Without
        // one, the signature the state recorded stands in for it (a local copy may have no
        // metadata): a signature authenticates itself under CloudTrail's key, and it is not
        // taken as evidence of anything else (`newer_valid` false).
        let from_state = Link {
            newer_key: "the checkpoint state".into(),
            newer_start: checkpoint.end_time,
            reference: crate::schema::PreviousDigestReference {
                bucket: checkpoint.bucket.clone(),
                key: checkpoint.key.clone(),
                hash_value: checkpoint.sha256.clone(),
                hash_algorithm: crate::schema::HASH_ALGORITHM.into(),
                signature: checkpoint.signature.clone(),
            },
            newer_valid: false,
        };
        let joining = link
            .filter(|l| {
                l.reference.bucket == checkpoint.bucket && l.reference.key == checkpoint.key
            })
            .unwrap_or(&from_state);
        let checked = self.check_digest(
            &checkpoint.bucket,
            &checkpoint.key,
            false,
            fetched,
            Some(joining),
        );
        let sha256 = checked.digest.as_ref().map(|d| d.sha256_hex());
        let problems = trust::checkpoint::judge_checkpoint(
            &checkpoint,
            link,
            starts_chain,
            &trust::checkpoint::Reread {
                problems: &checked.report.problems,
                sha256: sha256.as_deref(),
                signature: checked.signature.as_deref(),
                times: checked.digest.as_ref().map(|d| (d.start_time, d.end_time)),
            },
        );
        let status = trust::checkpoint::checkpoint_status(&problems);
        self.visited
            .insert((checkpoint.bucket.clone(), checkpoint.key.clone()), status);
        self.report.checkpoint = Some(CheckpointCheck {
            checkpoint,
            status,
            problems,
        });
        status
    }

    /// Asks CloudTrail's event history about each gap a pause could explain (a restart, the
    /// start or end of the window with no digest), re-classifies each by what it shows
    /// ([`trust::history::explain_gap`]), then lets the reviewed exceptions accept what stays
    /// unverifiable. A restart where the checkpoint ends is judged with the checkpoint digest as
    /// the last of the old segment, and joins when the history proves the pause or an
    /// exception accepts it.
    async fn explain_gaps(&mut self) {
        // The checkpoint digest, when read again unchanged, is the last digest before the
        // window: a restart there is judged from it. Not joined yet (no new digest reached
        // back to it), it is read again after this, and its recorded times must be its own.
        let pending = self
            .checkpoint
            .as_ref()
            .map(|head| (head.start_time, head.end_time));
        let checkpoint_span = self.report.checkpoint.as_ref().map_or(pending, |check| {
            let only_restart = check.problems.iter().all(|p| {
                matches!(
                    p,
                    CheckpointProblem::JoinBroken {
                        named_key: None,
                        ..
                    }
                )
            });
            only_restart.then_some((check.checkpoint.start_time, check.checkpoint.end_time))
        });
        for gap in &mut self.report.gaps {
            if explainable(gap.kind) {
                gap.previous_start =
                    self.coverage
                        .start_of_span_ending_at(gap.start)
                        .or(checkpoint_span
                            .filter(|(_, end)| *end == gap.start)
                            .map(|(start, _)| start));
            }
        }
        judge_gaps(&self.ctx, &self.layout.chain, &mut self.report.gaps).await;
        let passed_at_checkpoint = checkpoint_span.is_some_and(|(start, end)| {
            self.report.gaps.iter().any(|g| {
                g.start == end
                    && g.previous_start == Some(start)
                    && (g.accepted.is_some()
                        || matches!(g.kind, GapKind::LoggingOff | GapKind::ValidationOff))
            })
        });
        if passed_at_checkpoint && let Some(check) = self.report.checkpoint.as_mut() {
            // The new chain starts after a pause the history proves (or a reviewed exception
            // accepts): it joins the checkpoint through that evidence (the gap lists it), not
            // through a link.
            check.problems.retain(|p| {
                !matches!(
                    p,
                    CheckpointProblem::JoinBroken {
                        named_key: None,
                        ..
                    }
                )
            });
            check.status = trust::checkpoint::checkpoint_status(&check.problems);
        }
    }
}

/// Whether CloudTrail's event history may explain a gap of this kind.
fn explainable(kind: GapKind) -> bool {
    matches!(
        kind,
        GapKind::ChainRestart
            | GapKind::BeforeChainStart
            | GapKind::AfterNewestDigest
            | GapKind::NoDigests
    )
}

/// Judges `gaps` of `chain` by the event history (read now if no chain read it yet, and only if
/// a gap needs it), then by the reviewed exceptions.
async fn judge_gaps(ctx: &Context, chain: &crate::layout::ChainId, gaps: &mut [CoverageGap]) {
    use trust::history::{GapClosing, GapEvidence, GapOpening};
    let needs_history = gaps
        .iter()
        .any(|g| explainable(g.kind) && g.status == Status::Unverifiable);
    if let (true, Some(history)) = (needs_history, &ctx.history) {
        let history = history.get().await;
        for gap in gaps.iter_mut() {
            if !explainable(gap.kind) || gap.status != Status::Unverifiable {
                continue;
            }
            let history = match &history {
                Ok(history) => history,
                Err(why) => {
                    gap.history_note = Some(format!("it could not be read: {why}"));
                    continue;
                }
            };
            let opening = match gap.previous_start {
                Some(start) => GapOpening::AfterDigest {
                    start,
                    end: gap.start,
                },
                None => GapOpening::WindowStart(gap.start),
            };
            let closing = match gap.kind {
                GapKind::ChainRestart | GapKind::BeforeChainStart => {
                    GapClosing::ChainStart(gap.next_start.unwrap_or(gap.end))
                }
                _ => GapClosing::WindowEnd(gap.end),
            };
            let (kind, events) = match trust::history::explain_gap(opening, closing, history) {
                GapEvidence::LoggingOff { events } => (GapKind::LoggingOff, events),
                GapEvidence::ValidationOff { events } => (GapKind::ValidationOff, events),
                GapEvidence::SegmentDeleted { events } => (GapKind::SegmentDeleted, events),
                GapEvidence::Unexplained(why) => {
                    gap.history_note = Some(why);
                    continue;
                }
            };
            gap.kind = kind;
            gap.status = trust::gap_status(kind);
            gap.events = events;
            gap.history_note = None;
        }
    }
    if let Some(exceptions) = &ctx.exceptions {
        trust::exceptions::accept_gaps(chain, gaps, exceptions, ctx.options.now);
    }
}

/// Adds to `report` the gaps an earlier run found before this run's window, which the state
/// carries: each judged again (the history may reach it now, an exception may accept it) and
/// reported as carried, so that a finding is never forgotten while the checkpoint moves on.
pub(crate) async fn judge_carried(
    ctx: &Context,
    report: &mut ChainReport,
    carried: &[CoverageGap],
) {
    let mut gaps: Vec<CoverageGap> = carried
        .iter()
        .filter(|g| {
            // One the window reaches was judged by this run's walk.
            !report.gaps.iter().any(|own| own.start == g.start)
        })
        .cloned()
        .map(|mut g| {
            // Judged afresh: what the state says of it is not evidence.
            g.carried = true;
            g.status = trust::gap_status(g.kind);
            g.accepted = None;
            g.events.clear();
            g.history_note = None;
            g
        })
        .collect();
    judge_gaps(ctx, &report.chain, &mut gaps).await;
    report.gaps.splice(0..0, gaps);
}

/// The end times of the hourly digests a chain's folder lists for `range` (what a walk of it
/// would read), for planning shards.
pub(crate) async fn digest_ends(
    source: &dyn ObjectSource,
    layout: &ChainLayout,
    range: TimeRange,
) -> Result<Vec<chrono::DateTime<chrono::Utc>>, crate::source::SourceError> {
    let last = range
        .end()
        .checked_add_signed(DIGEST_PERIOD)
        .unwrap_or(range.end());
    let listing = listing::list_digests(source, layout, range.start(), last).await?;
    Ok(listing
        .standard
        .iter()
        .filter_map(|l| layout.parse_digest_key(&l.key).map(|i| i.end_time))
        .collect())
}

/// What a walk of `layout` over `range` would request, from its listings alone (for
/// [`crate::cost`]): the same digest and log folder listings as a walk (their requests
/// counted), the digests ending in `[start, end + 1h]` as a walk reads them, and the log files
/// named after a time those digests cover (from an hour before the start).
pub(crate) async fn sweep_workload(
    source: &dyn ObjectSource,
    layout: &ChainLayout,
    range: TimeRange,
) -> Result<crate::cost::Workload, crate::source::SourceError> {
    use crate::layout::DigestFolderEntry;
    let last = range
        .end()
        .checked_add_signed(DIGEST_PERIOD)
        .unwrap_or(range.end());
    let first_log = range
        .start()
        .checked_sub_signed(DIGEST_PERIOD)
        .unwrap_or(range.start());
    let before = |t: chrono::DateTime<chrono::Utc>| {
        let d = t.date_naive();
        d.pred_opt().unwrap_or(d)
    };
    let after = |t: chrono::DateTime<chrono::Utc>| {
        let d = t.date_naive();
        d.succ_opt().unwrap_or(d)
    };
    let bucket = &layout.location.bucket;
    let mut w = crate::cost::Workload {
        chains: 1,
        ..crate::cost::Workload::default()
    };
    let digest_pages = listing::list_days_sized(
        source,
        bucket,
        &layout.digest_folder(),
        before(range.start()),
        after(last),
        |key, size| {
            if let DigestFolderEntry::Ours(info) = layout.classify_digest_folder_key(&key)
                && range.start() <= info.end_time
                && info.end_time <= last
            {
                w.add_digest(size);
            }
        },
    )
    .await?;
    let log_pages = listing::list_days_sized(
        source,
        bucket,
        &layout.log_folder(),
        before(range.start()),
        after(range.end()),
        |key, size| {
            if let Ok(time) = layout.classify_log_folder_key(&key)
                && first_log < time
                && time <= last
            {
                w.add_log(size);
            }
        },
    )
    .await?;
    w.list_requests = digest_pages + log_pages;
    Ok(w)
}
