//! A keyed work queue (the shape of client-go's rate-limited work queue and kube-runtime's scheduler): a key is
//! queued at most once, is never handed to two workers at once (a key added while it is processed is processed
//! again afterwards), may be delayed, and backs off exponentially while its reconcile fails. Timers are tokio's,
//! so paused-time tests drive it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// First delay after a failed reconcile.
pub const FAILURE_BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest delay after repeated failures.
pub const FAILURE_BACKOFF_MAX: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Inner {
    ready: VecDeque<String>,
    queued: BTreeSet<String>,
    processing: BTreeSet<String>,
    dirty: BTreeSet<String>,
    delayed: BTreeMap<String, Instant>,
    failures: BTreeMap<String, u32>,
    shut_down: bool,
}

impl Inner {
    fn add(&mut self, key: &str) -> bool {
        self.delayed.remove(key);
        if self.processing.contains(key) {
            self.dirty.insert(key.to_string());
            return false;
        }
        if self.queued.insert(key.to_string()) {
            self.ready.push_back(key.to_string());
            return true;
        }
        false
    }

    fn promote_due(&mut self, now: Instant) -> bool {
        let due: Vec<String> =
            self.delayed.iter().filter(|(_, at)| **at <= now).map(|(k, _)| k.clone()).collect();
        let mut any = false;
        for key in due {
            any |= self.add(&key);
        }
        any
    }
}

/// The queue. Share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct WorkQueue {
    inner: Mutex<Inner>,
    notify: Notify,
}

impl WorkQueue {
    /// An empty queue.
    pub fn new() -> Self {
        WorkQueue::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a key now.
    pub fn add(&self, key: &str) {
        if self.lock().add(key) {
            self.notify.notify_waiters();
        }
    }

    /// Queues a key after a delay; an earlier delay or an immediate add wins.
    pub fn add_after(&self, key: &str, after: Duration) {
        if after.is_zero() {
            return self.add(key);
        }
        let at = Instant::now() + after;
        let mut inner = self.lock();
        if inner.queued.contains(key) {
            return;
        }
        let entry = inner.delayed.entry(key.to_string()).or_insert(at);
        if at < *entry {
            *entry = at;
        }
        drop(inner);
        // A sleeping worker recomputes its wake-up time.
        self.notify.notify_waiters();
    }

    /// How many keys are queued or delayed.
    pub fn len(&self) -> usize {
        let inner = self.lock();
        inner.queued.len() + inner.delayed.len()
    }

    /// Whether nothing is queued or delayed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next key to process; `None` once the queue is shut down.
    pub async fn next(&self) -> Option<String> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wake_at = {
                let mut inner = self.lock();
                if inner.shut_down {
                    return None;
                }
                inner.promote_due(Instant::now());
                if let Some(key) = inner.ready.pop_front() {
                    inner.queued.remove(&key);
                    inner.processing.insert(key.clone());
                    return Some(key);
                }
                inner.delayed.values().min().copied()
            };
            match wake_at {
                Some(at) => {
                    tokio::select! {
                        () = &mut notified => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Ends the processing of a key: requeues it after `requeue` (if set), after a growing backoff when it
    /// failed, or at once when it was added meanwhile.
    pub fn done(&self, key: &str, failed: bool, requeue: Option<Duration>) {
        let mut inner = self.lock();
        inner.processing.remove(key);
        let retry = if failed {
            let failures = inner.failures.entry(key.to_string()).or_insert(0);
            let wait =
                FAILURE_BACKOFF_BASE.saturating_mul(2u32.saturating_pow(*failures)).min(FAILURE_BACKOFF_MAX);
            *failures = failures.saturating_add(1);
            Some(wait)
        } else {
            inner.failures.remove(key);
            requeue
        };
        let again = inner.dirty.remove(key);
        drop(inner);
        if again {
            self.add(key);
        } else if let Some(after) = retry {
            self.add_after(key, after);
        }
    }

    /// Wakes every worker and makes [`WorkQueue::next`] return `None` from now on.
    pub fn shut_down(&self) {
        self.lock().shut_down = true;
        self.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_key_is_queued_once_and_never_processed_twice_at_once() {
        let queue = WorkQueue::new();
        queue.add("a");
        queue.add("a");
        queue.add("b");
        assert_eq!(queue.next().await.as_deref(), Some("a"));
        // Added while processed: held back until done.
        queue.add("a");
        assert_eq!(queue.next().await.as_deref(), Some("b"));
        queue.done("a", false, None);
        assert_eq!(queue.next().await.as_deref(), Some("a"));
    }

    #[tokio::test(start_paused = true)]
    async fn delays_and_failure_backoff_use_tokio_time() {
        let queue = Arc::new(WorkQueue::new());
        let start = Instant::now();
        queue.add_after("slow", Duration::from_secs(5));
        queue.add_after("slow", Duration::from_secs(3));
        assert_eq!(queue.next().await.as_deref(), Some("slow"));
        assert_eq!(start.elapsed(), Duration::from_secs(3), "the earlier delay wins");
        // Three failures in a row: 1 s, 2 s, 4 s.
        let mut waits = Vec::new();
        for _ in 0..3 {
            let at = Instant::now();
            queue.done("slow", true, None);
            assert_eq!(queue.next().await.as_deref(), Some("slow"));
            waits.push(at.elapsed().as_secs());
        }
        assert_eq!(waits, vec![1, 2, 4]);
        // Success resets the backoff and honours the requested requeue.
        let at = Instant::now();
        queue.done("slow", false, Some(Duration::from_millis(1500)));
        assert_eq!(queue.next().await.as_deref(), Some("slow"));
        assert_eq!(at.elapsed(), Duration::from_millis(1500));
        queue.done("slow", true, None);
        let at = Instant::now();
        assert_eq!(queue.next().await.as_deref(), Some("slow"));
        assert_eq!(at.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn shutting_down_wakes_waiting_workers() {
        let queue = Arc::new(WorkQueue::new());
        let waiting = tokio::spawn({
            let queue = Arc::clone(&queue);
            async move { queue.next().await }
        });
        tokio::task::yield_now().await;
        queue.shut_down();
        assert_eq!(waiting.await.unwrap(), None);
    }
}
