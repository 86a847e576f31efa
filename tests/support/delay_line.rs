//! The test S3 server's simulated latency, held to its deadline.
//!
//! The benchmarks compare a run against a bound computed from the configured latency (objects ÷
//! concurrency × latency), so the server must add that latency and not more. A
//! `tokio::time::sleep` does not: tokio's timer wheel rounds every deadline up to its next 1 ms
//! tick and fires it when a worker next turns the driver, so under a 100,000-object run at
//! 20 ms the server's sleeps averaged 21.6 ms, 8% more latency than the bound assumed.
//!
//! A [`DelayLine`] instead keeps the deadlines in one heap served by a thread of its own, which
//! sleeps on a condition variable until the earliest one (the kernel's timer slack, tens of
//! microseconds, is its only rounding) and then wakes every request that is due. A woken request
//! still waits for a free worker of the server's runtime: that wait is real contention and is
//! kept.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Deadlines served by one timer thread, started at the first delay (most servers never delay).
#[derive(Debug, Default)]
pub struct DelayLine {
    shared: OnceLock<Arc<Shared>>,
}

#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when an earlier deadline arrives or the line closes.
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: BinaryHeap<Reverse<Waiting>>,
    /// Breaks ties between equal deadlines, so that they wake in arrival order.
    arrivals: u64,
    closed: bool,
}

#[derive(Debug)]
struct Waiting {
    deadline: Instant,
    arrival: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.arrival) == (other.deadline, other.arrival)
    }
}
impl Eq for Waiting {}
impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiting {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.arrival).cmp(&(other.deadline, other.arrival))
    }
}

fn lock(queue: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

impl DelayLine {
    /// Waits `delay` from now; returns how long it really waited.
    pub async fn wait(&self, delay: Duration) -> Duration {
        let start = Instant::now();
        if delay.is_zero() {
            return Duration::ZERO;
        }
        let (wake, woken) = oneshot::channel();
        let shared = self.shared();
        let queued = {
            let mut queue = lock(&shared.queue);
            // A closed line (its thread could not be started) is never served: fall back.
            if !queue.closed {
                let arrival = queue.arrivals;
                queue.arrivals += 1;
                let earliest = queue
                    .waiting
                    .peek()
                    .is_none_or(|Reverse(first)| start + delay < first.deadline);
                queue.waiting.push(Reverse(Waiting {
                    deadline: start + delay,
                    arrival,
                    wake,
                }));
                if earliest {
                    shared.changed.notify_one();
                }
            }
            !queue.closed
        };
        if !queued || woken.await.is_err() {
            // No timer thread serves the line, or it stopped: fall back to tokio's timer, later
            // but never early.
            tokio::time::sleep_until((start + delay).into()).await;
        }
        start.elapsed()
    }

    fn shared(&self) -> &Arc<Shared> {
        self.shared.get_or_init(|| {
            let shared = Arc::new(Shared::default());
            let served = Arc::clone(&shared);
            // Without its thread the line is closed from the start, and `wait` falls back.
            let spawned = std::thread::Builder::new()
                .name("s3-delay-line".into())
                .spawn(move || serve(&served));
            if spawned.is_err() {
                lock(&shared.queue).closed = true;
            }
            shared
        })
    }
}

impl Drop for DelayLine {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.get() {
            lock(&shared.queue).closed = true;
            shared.changed.notify_one();
        }
    }
}

/// The timer thread: wakes every request whose deadline has passed, then sleeps until the next.
fn serve(shared: &Shared) {
    let mut queue = lock(&shared.queue);
    loop {
        if queue.closed {
            // Dropping the senders wakes anyone still waiting onto the fallback.
            queue.waiting.clear();
            return;
        }
        let now = Instant::now();
        while queue
            .waiting
            .peek()
            .is_some_and(|Reverse(first)| first.deadline <= now)
        {
            if let Some(Reverse(due)) = queue.waiting.pop() {
                // A request that stopped waiting (its connection closed) is simply skipped.
                let _ = due.wake.send(());
            }
        }
        queue = match queue.waiting.peek() {
            Some(Reverse(first)) => {
                let timeout = first.deadline.saturating_duration_since(now);
                shared
                    .changed
                    .wait_timeout(queue, timeout)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => shared
                .changed
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_wait_ends_before_its_deadline_and_every_wait_ends() {
        // How close to the deadline a wait ends is a figure, printed by the benchmarks from the
        // server's counts (`delayNanos`), not asserted here: a loaded machine moves it.
        let line = Arc::new(DelayLine::default());
        let waits: Vec<_> = (0..200u64)
            .map(|i| {
                let line = Arc::clone(&line);
                let delay = Duration::from_micros(1_000 + (i * 7919) % 5_000);
                tokio::spawn(async move { (delay, line.wait(delay).await) })
            })
            .collect();
        for wait in waits {
            let (delay, waited) = wait.await.expect("wait task");
            assert!(waited >= delay, "woke early: {waited:?} for {delay:?}");
        }
    }

    #[tokio::test]
    async fn a_line_without_its_thread_still_waits_and_never_hangs() {
        // As when the thread cannot be started: a closed line that no thread serves.
        let line = DelayLine::default();
        let unserved = Arc::new(Shared::default());
        lock(&unserved.queue).closed = true;
        line.shared
            .set(unserved)
            .expect("a fresh line has no queue yet");
        let delay = Duration::from_millis(5);
        let waited = tokio::time::timeout(Duration::from_secs(30), line.wait(delay))
            .await
            .expect("a closed line must fall back to tokio's timer, not wait forever");
        assert!(waited >= delay, "woke early: {waited:?}");
    }

    #[tokio::test]
    async fn a_zero_delay_does_not_start_the_thread() {
        let line = DelayLine::default();
        assert_eq!(line.wait(Duration::ZERO).await, Duration::ZERO);
        assert!(line.shared.get().is_none());
    }
}
