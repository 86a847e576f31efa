//! Giving out a chain's digest verdicts as they become final, in walk order: a digest's verdict
//! is final once it was judged and every log file it lists was checked. A streaming reader
//! (text, JSON Lines, JUnit) then prints findings while the walk goes on, and holds only the
//! log entries with a problem.

use super::logs::LogTally;
use crate::report::DigestReport;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// What a chain's walk gives out as it goes.
pub(crate) enum ChainEvent {
    /// A digest's final verdict, with the log files it lists (those kept).
    Digest(Box<DigestReport>),
}

/// The digests a walk of one time window reports when a chain is verified in several (a plan's
/// shards): each digest belongs to the window its end falls in, so that the windows' reports
/// add up to one run's. The walk still reads the digests around its window that it needs (the
/// hour after it, whose digest lists log files delivered late), it only does not report them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ownership {
    /// Only digests ending after this (a window after the chain's first).
    pub after: Option<chrono::DateTime<chrono::Utc>>,
    /// Only digests ending at or before this (a window before the chain's last).
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

impl Ownership {
    /// Whether this window reports `digest`.
    pub(super) fn owns(&self, digest: &DigestReport) -> bool {
        let Some(end) = digest.end_time else {
            return true;
        };
        self.after.is_none_or(|a| end > a) && self.until.is_none_or(|u| end <= u)
    }
}

/// Log check results by digest index, written by the log checks as they complete.
pub(super) type Tallies = Arc<Mutex<HashMap<usize, LogTally>>>;

/// Gives out each digest's verdict once it is final.
pub(super) struct VerdictEmitter {
    /// Where verdicts go (`None`: the report is only returned).
    events: Option<mpsc::Sender<ChainEvent>>,
    /// The next digest (index in the report) whose verdict has not been given out.
    next: usize,
    /// Log files each valid digest lists, by index, until all are checked.
    awaiting_logs: HashMap<usize, u64>,
    /// Which digests this walk reports.
    owns: Ownership,
    /// The log checks' results.
    tallies: Tallies,
}

impl VerdictEmitter {
    /// An emitter sending to `events`, reporting what `owns` says.
    pub fn new(events: Option<mpsc::Sender<ChainEvent>>, owns: Ownership) -> Self {
        VerdictEmitter {
            events,
            next: 0,
            awaiting_logs: HashMap::new(),
            owns,
            tallies: Arc::default(),
        }
    }

    /// Where the log checks put their results.
    pub fn tallies(&self) -> Tallies {
        self.tallies.clone()
    }

    /// Which digests this walk reports.
    pub fn ownership(&self) -> Ownership {
        self.owns
    }

    /// The digest at `index` lists `count` log files: its verdict waits for their checks.
    pub fn expect_logs(&mut self, index: usize, count: u64) {
        if count > 0 {
            self.awaiting_logs.insert(index, count);
        }
    }

    /// Gives out, in walk order, every verdict of `digests` that is final, counting each on
    /// `progress`. When the reader is behind, `before_waiting` runs once before the walk waits
    /// for it (the walk gives back what it holds that others need).
    pub async fn emit_ready(
        &mut self,
        digests: &mut [DigestReport],
        progress: Option<&Arc<dyn crate::Progress>>,
        mut before_waiting: impl FnMut(),
    ) {
        if self.events.is_none() && progress.is_none() {
            return;
        }
        while self.next < digests.len() {
            let index = self.next;
            if let Some(&expected) = self.awaiting_logs.get(&index) {
                let done = {
                    let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
                    match tallies.get(&index) {
                        Some(tally) if tally.counts.total() >= expected => tallies.remove(&index),
                        _ => None,
                    }
                };
                let Some(tally) = done else { break };
                fold_tally(&mut digests[index], tally);
                self.awaiting_logs.remove(&index);
            }
            let digest = &mut digests[index];
            self.next += 1;
            if let Some(progress) = progress {
                progress.digest_done();
            }
            let Some(events) = &self.events else { continue };
            if !self.owns.owns(digest) {
                continue;
            }
            let event = ChainEvent::Digest(Box::new(digest.clone()));
            digest.logs.retain(|l| l.problem.is_some());
            // A reader that went away wants nothing more; the walk still completes its report.
            if let Err(mpsc::error::TrySendError::Full(event)) = events.try_send(event) {
                before_waiting();
                let _ = events.send(event).await;
            }
        }
    }

    /// Once every log check has ended: puts every result into its digest, so that nothing
    /// waits any more.
    pub fn fold_all(&mut self, digests: &mut [DigestReport]) {
        let tallies = std::mem::take(&mut *self.tallies.lock().unwrap_or_else(|e| e.into_inner()));
        for (index, tally) in tallies {
            if let Some(digest) = digests.get_mut(index) {
                fold_tally(digest, tally);
            }
        }
        self.awaiting_logs.clear();
    }
}

/// Puts a digest's log results into its report, the entries in the digest's order.
fn fold_tally(digest: &mut DigestReport, mut tally: LogTally) {
    digest.log_counts = tally.counts;
    digest.log_bytes = tally.bytes;
    digest.log_retention = tally.retention;
    tally.kept.sort_by_key(|(position, _)| *position);
    digest.logs = tally.kept.into_iter().map(|(_, log)| log).collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{LogProblem, LogReport, Status};
    use chrono::TimeZone;

    fn digest(end_hour: u32) -> DigestReport {
        let mut d = DigestReport::new("b", &format!("d{end_hour}"), false);
        d.end_time = Some(
            chrono::Utc
                .with_ymd_and_hms(2026, 1, 1, end_hour, 0, 0)
                .unwrap(),
        );
        d
    }

    fn log(key: &str, bad: bool) -> LogReport {
        let problem = bad.then(|| LogProblem::Unreadable {
            reason: "test".into(),
        });
        LogReport::new("b", key, problem, 10)
    }

    async fn drain(rx: &mut mpsc::Receiver<ChainEvent>) -> Vec<DigestReport> {
        let mut got = Vec::new();
        while let Ok(ChainEvent::Digest(d)) = rx.try_recv() {
            got.push(*d);
        }
        got
    }

    #[tokio::test]
    async fn a_verdict_goes_out_only_when_every_log_it_lists_is_checked_and_in_walk_order() {
        let (tx, mut rx) = mpsc::channel(16);
        let mut emitter = VerdictEmitter::new(Some(tx), Ownership::default());
        let mut digests = vec![digest(3), digest(2)];
        emitter.expect_logs(0, 2);
        let tallies = emitter.tallies();
        // The second digest lists nothing, but waits for the first: walk order.
        emitter.emit_ready(&mut digests, None, || {}).await;
        assert!(drain(&mut rx).await.is_empty());
        tallies
            .lock()
            .unwrap()
            .entry(0)
            .or_default()
            .add(1, log("l1", true), false);
        emitter.emit_ready(&mut digests, None, || {}).await;
        assert!(drain(&mut rx).await.is_empty(), "one of two logs checked");
        tallies
            .lock()
            .unwrap()
            .entry(0)
            .or_default()
            .add(0, log("l0", false), false);
        emitter.emit_ready(&mut digests, None, || {}).await;
        let got = drain(&mut rx).await;
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].key, "d3");
        assert_eq!(got[0].log_counts.total(), 2);
        assert_eq!(got[0].log_counts.worst(), Status::Unverifiable);
        // The report keeps only the entries with a problem once they went out.
        assert_eq!(digests[0].logs.len(), 1);
        assert_eq!(digests[0].logs[0].key, "l1");
    }

    #[tokio::test]
    async fn a_window_gives_out_only_the_digests_it_owns() {
        let (tx, mut rx) = mpsc::channel(16);
        let until = chrono::Utc.with_ymd_and_hms(2026, 1, 1, 2, 0, 0).unwrap();
        let owns = Ownership {
            after: None,
            until: Some(until),
        };
        let mut emitter = VerdictEmitter::new(Some(tx), owns);
        let mut digests = vec![digest(3), digest(2), digest(1)];
        emitter.emit_ready(&mut digests, None, || {}).await;
        let keys: Vec<String> = drain(&mut rx).await.into_iter().map(|d| d.key).collect();
        assert_eq!(keys, ["d2", "d1"]);
        assert!(!emitter.ownership().owns(&digests[0]));
    }

    #[tokio::test]
    async fn a_reader_that_is_behind_is_waited_for_after_the_walk_gives_back_its_slots() {
        let (tx, mut rx) = mpsc::channel(1);
        let mut emitter = VerdictEmitter::new(Some(tx), Ownership::default());
        let mut digests = vec![digest(3), digest(2)];
        let reader = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let mut n = 0;
            while rx.recv().await.is_some() {
                n += 1;
            }
            n
        });
        let mut waited = 0;
        emitter.emit_ready(&mut digests, None, || waited += 1).await;
        drop(emitter);
        assert_eq!(waited, 1);
        assert_eq!(reader.await.unwrap(), 2);
    }

    #[test]
    fn results_folded_at_the_end_land_in_their_digests_in_list_order() {
        let mut emitter = VerdictEmitter::new(None, Ownership::default());
        let mut digests = vec![digest(1)];
        emitter.expect_logs(0, 2);
        {
            let tallies = emitter.tallies();
            let mut tallies = tallies.lock().unwrap();
            let tally = tallies.entry(0).or_default();
            tally.add(1, log("second", false), true);
            tally.add(0, log("first", false), true);
            // A result for a digest that is not there is dropped, not a panic.
            tallies.entry(9).or_default().add(0, log("x", false), true);
        }
        emitter.fold_all(&mut digests);
        let keys: Vec<&str> = digests[0].logs.iter().map(|l| l.key.as_str()).collect();
        assert_eq!(keys, ["first", "second"]);
        assert_eq!(digests[0].log_bytes, 20);
    }
}
