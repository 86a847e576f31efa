//! Verifying a trail over a time range: walking each of its chains (found by `crate::chains`),
//! a few at a time, and collecting the report.

pub use crate::chains::{TrailTarget, VerifyError, expected_chains};
use crate::events::{RunEvent, RunObserver};
use crate::findings::ChainHead;
use crate::keys::KeySet;
use crate::layout::{ChainId, ChainLayout};
pub use crate::options::{Progress, RangeError, TimeRange, VerifyOptions};
use crate::report::Report;
use crate::source::{ObjectSource, SourceError};
use crate::task::AbortOnDrop;
use crate::walk::{BucketFacts, ChainEvent, ChainPlan, Context, Ownership, walk_chain};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Digests fetched ahead of the walks, across all chains.
const PREFETCH_SLOTS: usize = 32;
/// Chains walked at once.
const CHAINS_AT_ONCE: usize = 8;
/// Digest verdicts a chain may have waiting while the chains before it finish: beyond this its
/// walk pauses, so that memory does not grow with the range when verdicts stream. Small: a
/// verdict carries its digest's log entries (all of them in JSON Lines).
const EVENTS_BUFFERED: usize = 16;

/// Per chain, where a run starts: a checkpoint to resume from, or a window of its own (a shard
/// of a plan); chains in neither cover the run's range.
#[derive(Debug, Clone, Default)]
pub(crate) struct Windows {
    /// Checkpoints to resume from and join.
    pub checkpoints: BTreeMap<ChainId, ChainHead>,
    /// Windows of a shard: only these chains are walked, each over its window, reporting the
    /// digests it owns.
    pub windows: BTreeMap<ChainId, (TimeRange, Ownership)>,
    /// Every chain of the plan a shard belongs to.
    pub planned: BTreeSet<ChainId>,
    /// Gaps earlier runs found and the state carries, per chain: reported again (and judged
    /// again by the event history and the exceptions) until explained or accepted.
    pub open_gaps: BTreeMap<ChainId, Vec<crate::findings::CoverageGap>>,
}

/// What may explain or accept a gap beyond the bucket: CloudTrail's event history and reviewed
/// exceptions.
#[derive(Default)]
pub(crate) struct Evidence {
    /// The trail's event history, when the run has an AWS session.
    pub history: Option<Arc<dyn crate::history::EventHistory>>,
    /// Reviewed exceptions (`--exceptions`).
    pub exceptions: Option<Arc<crate::exceptions::Exceptions>>,
}

impl Windows {
    /// The window `chain` is walked over in a run over `range`: a shard's is the plan's; a
    /// resumed chain's starts where its checkpoint ends (empty when the checkpoint is already
    /// at the end: only the checkpoint is read again); any other's is the range.
    pub(crate) fn window_of(&self, chain: &ChainId, range: TimeRange) -> TimeRange {
        match (self.windows.get(chain), self.checkpoints.get(chain)) {
            (Some((window, _)), _) => *window,
            (None, Some(c)) => TimeRange::window(c.end_time, range.end()),
            (None, None) => range,
        }
    }
}

/// Verifies the given chains of `target` (as found by [`crate::chains::discover`]) over `range`, each
/// chain of `checkpoints` resumed from its checkpoint, with verdicts given to `observer` as they
/// become final (then the report keeps only the counts of valid digests, see
/// [`crate::report::ChainReport::omitted`]).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn verify_chains(
    source: Arc<dyn ObjectSource>,
    keys: KeySet,
    target: &TrailTarget,
    chains: Vec<ChainLayout>,
    range: TimeRange,
    options: VerifyOptions,
    windows: &Windows,
    evidence: Evidence,
    mut observer: Option<&mut dyn RunObserver>,
) -> Report {
    let checkpoints = &windows.checkpoints;
    let found: BTreeSet<ChainId> = chains.iter().map(|c| c.chain.clone()).collect();
    let expected = expected_chains(target, &found);
    // What the walks need to know of the bucket (lifecycle rules, versioning) is read beside
    // their first listings rather than before them: a walk waits for it only where it is used.
    let facts = {
        use futures::FutureExt as _;
        let (bucket, check_versions) = (target.location.bucket.clone(), options.check_versions);
        let read = tokio::spawn(read_facts(source.clone(), bucket.clone(), check_versions));
        read.map(move |done| {
            Arc::new(done.unwrap_or_else(|e| {
                // Read as if S3 had failed to answer: no rule excuses anything, and versions
                // are listed anyway.
                let failed = SourceError::Unavailable(format!("reading the bucket failed: {e}"));
                let versioning = check_versions.then(|| Err(failed.clone()));
                BucketFacts::read(Err(failed), versioning, &bucket)
            }))
        })
        .boxed()
        .shared()
    };
    let ctx = Arc::new(Context {
        facts: facts.clone(),
        log_limiter: Arc::new(Semaphore::new(options.concurrency.max(1))),
        prefetch_slots: Arc::new(Semaphore::new(PREFETCH_SLOTS)),
        large_digests: Arc::new(Semaphore::new(1)),
        trail_bucket: target.location.bucket.clone(),
        source: source.clone(),
        keys: Arc::new(keys),
        history: evidence
            .history
            .map(|h| Arc::new(crate::history::LazyHistory::new(h, options.now))),
        exceptions: evidence.exceptions.clone(),
        options,
    });
    // A progress bar gets its total first: the digests the chains' folders list over their
    // windows (one listing per chain and day, several chains at once).
    if let Some(progress) = &ctx.options.progress {
        use futures::StreamExt;
        let counts = futures::stream::iter(chains.iter().map(|layout| {
            let window = windows.window_of(&layout.chain, range);
            let source = source.clone();
            async move {
                crate::walk::digest_ends(source.as_ref(), layout, window)
                    .await
                    .map_or(0, |ends| ends.len() as u64)
            }
        }))
        .buffer_unordered(CHAINS_AT_ONCE)
        .collect::<Vec<u64>>()
        .await;
        progress.digests_expected(counts.iter().sum());
    }
    // Chains are walked a few at a time, in order: an organization trail has thousands, and
    // each walk holds a digest and its listings. The walks are started here, in order, so that
    // the chain whose verdicts are being given out is always one of those walking.
    let streaming = observer.is_some();
    let mut waiting = chains.into_iter();
    let mut walking = VecDeque::new();
    let mut reports = Vec::new();
    let mut requested_start = range.end();
    loop {
        while walking.len() < CHAINS_AT_ONCE {
            let Some(layout) = waiting.next() else { break };
            let chain = layout.chain.clone();
            let checkpoint = checkpoints.get(&chain).cloned();
            let window = windows.window_of(&chain, range);
            requested_start = requested_start.min(window.start());
            let (events, receiver) = if streaming {
                let (sender, receiver) = tokio::sync::mpsc::channel(EVENTS_BUFFERED);
                (Some(sender), Some(receiver))
            } else {
                (None, None)
            };
            let plan = ChainPlan {
                expected: expected.contains(&chain) || windows.windows.contains_key(&chain),
                layout,
                checkpoint: checkpoint.clone(),
                events,
                owns: windows
                    .windows
                    .get(&chain)
                    .map(|(_, owns)| *owns)
                    .unwrap_or_default(),
                tail: None,
            };
            let ctx = ctx.clone();
            let task = tokio::spawn(walk_in_segments(ctx, plan, window));
            walking.push_back((chain, window, checkpoint, receiver, task));
        }
        let Some((chain, window, checkpoint, receiver, task)) = walking.pop_front() else {
            break;
        };
        if let Some(observer) = observer.as_deref_mut() {
            observer.event(RunEvent::ChainStarted {
                chain: &chain,
                window: (window.start(), window.end()),
                checkpoint: checkpoint.as_ref(),
            });
        }
        if let (Some(mut receiver), Some(observer)) = (receiver, observer.as_deref_mut()) {
            while let Some(ChainEvent::Digest(digest)) = receiver.recv().await {
                observer.event(RunEvent::Digest {
                    chain: &chain,
                    digest: &digest,
                });
            }
        }
        let mut report = task.await.unwrap_or_else(|e| {
            let mut failed = crate::report::ChainReport::new(chain);
            failed.error = Some(format!("chain walk failed: {e}"));
            failed
        });
        if let Some(carried) = windows.open_gaps.get(&report.chain) {
            crate::walk::judge_carried(&ctx, &mut report, carried).await;
        }
        if let Some(observer) = observer.as_deref_mut() {
            observer.event(RunEvent::ChainFinished { chain: &report });
            report.omit_valid_digests();
        }
        reports.push(report);
    }
    let mut report = Report::new(
        target.arn.clone(),
        source.describe(),
        target.location.bucket.clone(),
        // Resumed chains start at their checkpoints: the run covered from the earliest.
        if checkpoints.is_empty() && windows.windows.is_empty() {
            range.start()
        } else {
            requested_start
        },
        range.end(),
        reports,
    );
    let facts = facts.await;
    report
        .warnings
        .extend(run_notes(&report, facts.lifecycle_error.as_ref()));
    report.warnings.extend(facts.versions_note.clone());
    report.event_history = ctx.history.as_ref().and_then(|h| h.summary());
    if let Some(exceptions) = &evidence.exceptions {
        for (entry, e) in exceptions.expired(ctx.options.now) {
            report.warnings.push(format!(
                "exception {entry} ({}, approved by {}) expired on {}: it no longer applies",
                e.reason,
                e.approved_by,
                crate::messages::display_date(e.expires)
            ));
        }
    }
    report.versions = facts.versions;
    report
}

/// Reads the bucket's lifecycle rules and, unless told not to (`check_versions` false), its
/// versioning state, at once.
async fn read_facts(
    source: Arc<dyn ObjectSource>,
    bucket: String,
    check_versions: bool,
) -> BucketFacts {
    let versioning = async {
        match check_versions {
            true => Some(source.versioning(&bucket).await),
            false => None,
        }
    };
    let (lifecycle, versioning) =
        futures::future::join(source.lifecycle_rules(&bucket), versioning).await;
    BucketFacts::read(lifecycle, versioning, &bucket)
}

/// Walks a chain over `window`; when its verdicts stream and the window is longer than
/// [`VerifyOptions::segment`], in segments, oldest first, each keeping only the counts of its
/// valid digests, joined as shards are ([`crate::join`]): memory then holds at most two
/// segments.
///
/// A segment starts as soon as the one before it has started its last log checks, so that
/// its listing and first digest (two round trips) overlap the tail of the one before instead
/// of following it. Its verdicts wait in a channel of their own, forwarded once the segment
/// before has given all of its own: they still stream oldest segment first.
async fn walk_in_segments(
    ctx: Arc<Context>,
    plan: ChainPlan,
    window: TimeRange,
) -> crate::report::ChainReport {
    let segment = ctx.options.segment;
    let long = window.end().signed_duration_since(window.start()) > segment;
    let events = match &plan.events {
        Some(events) if long && segment > chrono::TimeDelta::zero() => events.clone(),
        _ => return walk_chain(ctx, plan, window).await,
    };
    // Each segment's verdicts, forwarded in segment order.
    let (queue, mut queued) =
        tokio::sync::mpsc::unbounded_channel::<tokio::sync::mpsc::Receiver<ChainEvent>>();
    // Spawned, but stopped with this walk (as the segments are): a run dropped early leaves
    // nothing running.
    let mut relay = AbortOnDrop::spawn(async move {
        while let Some(mut verdicts) = queued.recv().await {
            while let Some(event) = verdicts.recv().await {
                if events.send(event).await.is_err() {
                    return;
                }
            }
        }
    });
    let mut joined: Option<crate::report::ChainReport> = None;
    let mut join = |part: Result<crate::report::ChainReport, tokio::task::JoinError>| {
        let mut part = part.unwrap_or_else(|e| {
            let mut failed = crate::report::ChainReport::new(plan.layout.chain.clone());
            failed.error = Some(format!("chain walk failed: {e}"));
            failed
        });
        part.omit_valid_digests();
        joined = Some(match joined.take() {
            None => part,
            Some(older) => crate::join::join_chain(vec![older, part]),
        });
    };
    let mut walking: VecDeque<AbortOnDrop<crate::report::ChainReport>> = VecDeque::new();
    let mut checkpoint = plan.checkpoint;
    let mut start = window.start();
    while start < window.end() {
        let end = start
            .checked_add_signed(segment)
            .map_or(window.end(), |e| e.min(window.end()));
        // Each segment reports the digests ending in it; the first and last keep what the
        // whole window's walk would report at its ends.
        let owns = Ownership {
            after: if start == window.start() {
                plan.owns.after
            } else {
                Some(start)
            },
            until: if end == window.end() {
                plan.owns.until
            } else {
                Some(end)
            },
        };
        // Two segments at most: the one finishing and the one starting.
        if walking.len() == 2
            && let Some(mut oldest) = walking.pop_front()
        {
            join((&mut oldest.0).await);
        }
        let (verdicts, verdicts_out) = tokio::sync::mpsc::channel(EVENTS_BUFFERED);
        let _ = queue.send(verdicts_out);
        let (tail, at_tail) = tokio::sync::oneshot::channel();
        let part_plan = ChainPlan {
            layout: plan.layout.clone(),
            expected: plan.expected,
            checkpoint: checkpoint.take(),
            events: Some(verdicts),
            owns,
            tail: Some(tail),
        };
        walking.push_back(AbortOnDrop::spawn(walk_chain(
            ctx.clone(),
            part_plan,
            TimeRange::window(start, end),
        )));
        // Told at the segment's tail, or dropped when it ends without one.
        let _ = at_tail.await;
        start = end;
    }
    while let Some(mut part) = walking.pop_front() {
        join((&mut part.0).await);
    }
    drop(queue);
    let _ = (&mut relay.0).await;
    joined.unwrap_or_else(|| crate::report::ChainReport::new(plan.layout.chain.clone()))
}

/// What applies to a whole run rather than to one file, said once: lifecycle rules that could
/// not be read when something is missing, and each KMS key the credentials may not decrypt
/// with (the files themselves are each unverifiable).
fn run_notes(report: &Report, lifecycle_error: Option<&SourceError>) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(error) = lifecycle_error
        && report.has_missing_objects()
    {
        notes.push(format!(
            "the lifecycle rules of bucket {} could not be read, so missing files are reported \
             as deleted even if a lifecycle rule expired them: {error}",
            report.bucket
        ));
    }
    for (key, count) in report.kms_denials() {
        let files = if count == 1 { "file" } else { "files" };
        notes.push(match key {
            Some(key) => format!(
                "kms:Decrypt on key {key} is denied to the credentials in use: {count} {files} \
                 encrypted with it (SSE-KMS) could not be read (allow kms:Decrypt on {key} in \
                 the key policy or an IAM policy; `aws sts get-caller-identity` shows whose \
                 credentials they are)"
            ),
            None => format!(
                "kms:Decrypt is denied to the credentials in use: {count} {files} encrypted \
                 with SSE-KMS could not be read (S3 did not name the key; `aws s3api \
                 head-object` shows SSEKMSKeyId; allow kms:Decrypt on it)"
            ),
        });
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeDelta, TimeZone, Utc};

    fn t(hour: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + TimeDelta::hours(hour)
    }

    fn chain(region: &str) -> ChainId {
        ChainId {
            account_id: "111122223333".into(),
            region: region.into(),
        }
    }

    fn head(end: i64) -> crate::findings::ChainHead {
        crate::findings::ChainHead {
            bucket: "b".into(),
            key: "k".into(),
            sha256: "00".repeat(32),
            signature: "00".into(),
            start_time: t(end - 1),
            end_time: t(end),
        }
    }

    #[test]
    fn a_chain_is_walked_over_its_shard_window_else_from_its_checkpoint_else_the_range() {
        let range = TimeRange::new(t(0), t(24)).unwrap();
        let mut windows = Windows::default();
        windows.checkpoints.insert(chain("us-east-1"), head(10));
        windows.checkpoints.insert(chain("eu-west-1"), head(10));
        let shard = TimeRange::new(t(4), t(8)).unwrap();
        let owns = crate::walk::Ownership {
            after: Some(t(4)),
            until: Some(t(8)),
        };
        windows.windows.insert(chain("eu-west-1"), (shard, owns));

        let resumed = windows.window_of(&chain("us-east-1"), range);
        assert_eq!((resumed.start(), resumed.end()), (t(10), t(24)));
        let sharded = windows.window_of(&chain("eu-west-1"), range);
        assert_eq!((sharded.start(), sharded.end()), (t(4), t(8)));
        let fresh = windows.window_of(&chain("ap-south-1"), range);
        assert_eq!((fresh.start(), fresh.end()), (t(0), t(24)));
    }

    #[test]
    fn a_checkpoint_at_the_ranges_end_leaves_an_empty_window() {
        let range = TimeRange::new(t(0), t(24)).unwrap();
        let mut windows = Windows::default();
        windows.checkpoints.insert(chain("us-east-1"), head(24));
        let w = windows.window_of(&chain("us-east-1"), range);
        assert_eq!((w.start(), w.end()), (t(24), t(24)));
    }

    fn report_with(problem: crate::report::LogProblem) -> Report {
        let mut chain_report = crate::report::ChainReport::new(chain("us-east-1"));
        let mut digest = crate::report::DigestReport::new("b", "d", false);
        digest
            .logs
            .push(crate::report::LogReport::new("b", "l", Some(problem), 0));
        chain_report.digests.push(digest);
        let arn = "arn:aws:cloudtrail:us-east-1:111122223333:trail/main"
            .parse()
            .unwrap();
        Report::new(arn, "s".into(), "b".into(), t(0), t(1), vec![chain_report])
    }

    #[test]
    fn unread_lifecycle_rules_are_noted_only_when_something_is_missing() {
        let error = SourceError::AccessDenied("no".into());
        let missing = report_with(crate::report::LogProblem::NotFound);
        let notes = run_notes(&missing, Some(&error));
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("lifecycle rules of bucket b could not be read"));
        assert!(run_notes(&missing, None).is_empty());
        let altered = report_with(crate::report::LogProblem::HashMismatch {
            expected: "a".into(),
            actual: "b".into(),
        });
        assert!(run_notes(&altered, Some(&error)).is_empty());
    }
}
