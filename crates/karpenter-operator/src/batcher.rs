//! The provisioning batch window (`kubernetes-sigs/karpenter: pkg/controllers/provisioning/batcher.go`): a round
//! starts once pending pods stop arriving for `BATCH_IDLE_DURATION` (1 s) or `BATCH_MAX_DURATION` (10 s) after
//! the first one, so that a Deployment scaled to 500 replicas is planned as one batch, not 500.
//!
//! Timers are tokio's, so tests run the window in paused time.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Upstream's default idle window.
pub const BATCH_IDLE_DURATION: Duration = Duration::from_secs(1);
/// Upstream's default maximum window.
pub const BATCH_MAX_DURATION: Duration = Duration::from_secs(10);
/// How long [`Batcher::wait`] waits for a first trigger before it gives up.
pub const FIRST_TRIGGER_TIMEOUT: Duration = Duration::from_secs(1);

/// The two windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchWindow {
    /// A batch closes once no trigger came for this long.
    pub idle: Duration,
    /// A batch closes this long after its first trigger, whatever comes.
    pub max: Duration,
}

impl Default for BatchWindow {
    fn default() -> Self {
        BatchWindow { idle: BATCH_IDLE_DURATION, max: BATCH_MAX_DURATION }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Ids triggered in the current batch; a repeated id does not extend the window.
    seen: BTreeSet<String>,
    /// Triggers not yet consumed by [`Batcher::wait`].
    pending: u64,
}

/// Collects triggers into batches. Cloning gives another handle on the same batcher.
#[derive(Debug, Clone)]
pub struct Batcher {
    window: BatchWindow,
    state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
}

impl Batcher {
    /// A batcher with these windows.
    pub fn new(window: BatchWindow) -> Self {
        Batcher { window, state: Arc::default(), notify: Arc::new(Notify::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Something (a pod by uid, a node by name) needs a provisioning round. An id already triggered in the open
    /// batch is ignored.
    pub fn trigger(&self, id: &str) {
        let mut state = self.lock();
        if state.seen.insert(id.to_string()) {
            state.pending += 1;
            drop(state);
            self.notify.notify_one();
        }
    }

    /// Takes the pending triggers; true when there were any.
    fn take(&self) -> bool {
        let mut state = self.lock();
        let any = state.pending > 0;
        state.pending = 0;
        any
    }

    /// Waits for a batch: false when no trigger came within [`FIRST_TRIGGER_TIMEOUT`]; otherwise true once the
    /// batch closed (idle or max window). The batch's ids are forgotten when it opens, so the next batch sees
    /// them afresh.
    pub async fn wait(&self) -> bool {
        if !self.take() {
            let first = tokio::time::timeout(FIRST_TRIGGER_TIMEOUT, self.notify.notified()).await;
            if first.is_err() && !self.take() {
                return false;
            }
            self.take();
        }
        let deadline = Instant::now() + self.window.max;
        let mut idle_until = Instant::now() + self.window.idle;
        loop {
            let until = idle_until.min(deadline);
            tokio::select! {
                () = self.notify.notified() => {
                    if self.take() {
                        idle_until = Instant::now() + self.window.idle;
                    }
                }
                () = tokio::time::sleep_until(until) => break,
            }
        }
        self.lock().seen.clear();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elapsed(start: Instant) -> u64 {
        Instant::now().duration_since(start).as_millis() as u64
    }

    #[tokio::test(start_paused = true)]
    async fn no_trigger_means_no_batch() {
        let batcher = Batcher::new(BatchWindow::default());
        let start = Instant::now();
        assert!(!batcher.wait().await);
        assert_eq!(elapsed(start), 1000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_single_trigger_closes_after_the_idle_window() {
        let batcher = Batcher::new(BatchWindow::default());
        batcher.trigger("pod-1");
        let start = Instant::now();
        assert!(batcher.wait().await);
        assert_eq!(elapsed(start), 1000);
    }

    #[tokio::test(start_paused = true)]
    async fn triggers_keep_the_window_open_until_the_maximum() {
        let batcher = Batcher::new(BatchWindow::default());
        let feeder = batcher.clone();
        // A new pod every 500 ms for 30 s: the idle window never closes, the maximum does.
        tokio::spawn(async move {
            for i in 0..60 {
                feeder.trigger(&format!("pod-{i}"));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        tokio::task::yield_now().await;
        let start = Instant::now();
        assert!(batcher.wait().await);
        assert_eq!(elapsed(start), 10_000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_closes_one_idle_window_after_its_last_trigger() {
        let batcher = Batcher::new(BatchWindow::default());
        let feeder = batcher.clone();
        tokio::spawn(async move {
            for i in 0..5 {
                feeder.trigger(&format!("pod-{i}"));
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        tokio::task::yield_now().await;
        let start = Instant::now();
        assert!(batcher.wait().await);
        // Last trigger at 1,200 ms, then one idle second.
        assert_eq!(elapsed(start), 2200);
    }

    #[tokio::test(start_paused = true)]
    async fn a_repeated_id_does_not_extend_the_window() {
        let batcher = Batcher::new(BatchWindow::default());
        let feeder = batcher.clone();
        tokio::spawn(async move {
            for _ in 0..5 {
                feeder.trigger("same-pod");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        tokio::task::yield_now().await;
        let start = Instant::now();
        assert!(batcher.wait().await);
        assert_eq!(elapsed(start), 1000);
        // The next batch sees the id afresh.
        batcher.trigger("same-pod");
        assert!(batcher.wait().await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_trigger_during_the_first_wait_opens_a_batch() {
        let batcher = Batcher::new(BatchWindow { idle: Duration::from_secs(2), max: Duration::from_secs(5) });
        let feeder = batcher.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            feeder.trigger("pod");
        });
        let start = Instant::now();
        assert!(batcher.wait().await);
        assert_eq!(elapsed(start), 2400);
    }
}
