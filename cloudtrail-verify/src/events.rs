//! Verdicts as a run makes them: a [`RunObserver`] receives each digest's final verdict as soon
//! as it is known, so a report can be written while the run goes on and memory does not grow
//! with the range ([`crate::Verifier::run_observed`]).
//!
//! The order is fixed whatever the concurrency: chains in order (account, then region), and
//! within a chain [`RunEvent::ChainStarted`], its digests in walk order (newest first, then
//! those verified on their own), then [`RunEvent::ChainFinished`]. Chains are still walked
//! several at once; a chain's verdicts wait, within a bounded buffer, until the chains before
//! it are done.

use crate::findings::ChainHead;
use crate::layout::ChainId;
use crate::report::{ChainReport, DigestReport};
use chrono::{DateTime, Utc};

/// One step of a run, in the order described in the [module documentation](self).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum RunEvent<'a> {
    /// A chain's verdicts begin.
    ChainStarted {
        /// The chain.
        chain: &'a ChainId,
        /// The window it must be proven over (from its checkpoint, when resumed).
        window: (DateTime<Utc>, DateTime<Utc>),
        /// The checkpoint it resumes from, if any.
        checkpoint: Option<&'a ChainHead>,
    },
    /// A digest's final verdict: the digest was judged and every log file it lists checked.
    /// `logs` holds the entries kept (those with a problem; all with
    /// [`VerifyOptions::keep_valid_entries`](crate::VerifyOptions::keep_valid_entries)).
    Digest {
        /// The chain.
        chain: &'a ChainId,
        /// The verdict.
        digest: &'a DigestReport,
    },
    /// A chain is done. Its report holds what is not about one digest: coverage gaps, unlisted
    /// log files, foreign objects, version changes, the checkpoint's join and the new head.
    /// Its `digests` are the ones given out before.
    ChainFinished {
        /// The chain's report.
        chain: &'a ChainReport,
    },
}

/// Receives a run's events, on the task that drives the run, in order. Anything slow here
/// slows the run (bounded buffers hold the walks back), it never loses an event.
pub trait RunObserver: Send {
    /// One event.
    fn event(&mut self, event: RunEvent<'_>);
}
