//! Batching of identical API calls made at about the same time into one call (`aws/karpenter-provider-aws:
//! pkg/batcher/batcher.go`, with the windows of `createfleet.go` and `terminateinstances.go`).
//!
//! Requests with equal keys that arrive while a batch is open join it. A batch closes when no request has
//! joined for the idle time, when it has been open for the maximum time, or when it is full; then the
//! executor runs once for all of its inputs and each caller gets its own result.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

/// When a batch closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Close after this long without a new request.
    pub idle: Duration,
    /// Close after this long open, however busy.
    pub max: Duration,
    /// Close when this many requests have joined.
    pub max_items: usize,
}

/// CreateFleet's window: 35 ms idle, 1 s at most, 1,000 requests.
pub const CREATE_FLEET_WINDOW: Window =
    Window { idle: Duration::from_millis(35), max: Duration::from_secs(1), max_items: 1000 };

/// TerminateInstances' window: 100 ms idle, 1 s at most, 500 instances.
pub const TERMINATE_WINDOW: Window =
    Window { idle: Duration::from_millis(100), max: Duration::from_secs(1), max_items: 500 };

/// Runs one batch: gets the inputs in arrival order, returns one output per input in the same order.
pub type Executor<I, O> = Arc<dyn Fn(Vec<I>) -> Pin<Box<dyn Future<Output = Vec<O>> + Send>> + Send + Sync>;

struct Open<I, O> {
    id: u64,
    opened: Instant,
    last: Instant,
    items: Vec<(I, oneshot::Sender<O>)>,
}

struct State<K, I, O> {
    open: BTreeMap<K, Open<I, O>>,
    next_id: u64,
}

/// A batcher of calls keyed by `K`.
pub struct Batcher<K, I, O> {
    window: Window,
    state: Arc<Mutex<State<K, I, O>>>,
    executor: Executor<I, O>,
}

impl<K, I, O> std::fmt::Debug for Batcher<K, I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").field("window", &self.window).finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each update is a single map operation, so a panic elsewhere leaves the map consistent.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<K, I, O> Batcher<K, I, O>
where
    K: Ord + Clone + Send + 'static,
    I: Send + 'static,
    O: Send + 'static,
{
    /// A batcher that runs `executor` for each closed batch.
    pub fn new(window: Window, executor: Executor<I, O>) -> Self {
        Batcher { window, state: Arc::new(Mutex::new(State { open: BTreeMap::new(), next_id: 0 })), executor }
    }

    /// Adds a request to the open batch of its key (or opens one) and waits for its result. `None` only if
    /// the executor panicked.
    pub async fn call(&self, key: K, input: I) -> Option<O> {
        let (sender, receiver) = oneshot::channel();
        let now = Instant::now();
        let full = {
            let mut state = lock(&self.state);
            match state.open.get_mut(&key) {
                Some(open) => {
                    open.items.push((input, sender));
                    open.last = now;
                    (open.items.len() >= self.window.max_items).then(|| state.open.remove(&key)).flatten()
                }
                None => {
                    let id = state.next_id;
                    state.next_id += 1;
                    state.open.insert(
                        key.clone(),
                        Open { id, opened: now, last: now, items: vec![(input, sender)] },
                    );
                    if self.window.max_items <= 1 {
                        state.open.remove(&key)
                    } else {
                        drop(state);
                        self.spawn_window(key, id);
                        None
                    }
                }
            }
        };
        if let Some(open) = full {
            tokio::spawn(run(self.executor.clone(), open.items));
        }
        receiver.await.ok()
    }

    /// Waits for the batch `id` of `key` to close, then runs it (unless it filled up and ran already).
    fn spawn_window(&self, key: K, id: u64) {
        let state = Arc::clone(&self.state);
        let executor = self.executor.clone();
        let window = self.window;
        tokio::spawn(async move {
            loop {
                let deadline = {
                    let state = lock(&state);
                    match state.open.get(&key) {
                        Some(open) if open.id == id => {
                            (open.last + window.idle).min(open.opened + window.max)
                        }
                        // Filled up and taken by the request that filled it.
                        _ => return,
                    }
                };
                if Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep_until(deadline).await;
            }
            let taken = {
                let mut state = lock(&state);
                match state.open.get(&key) {
                    Some(open) if open.id == id => state.open.remove(&key),
                    _ => None,
                }
            };
            if let Some(open) = taken {
                run(executor, open.items).await;
            }
        });
    }
}

async fn run<I, O>(executor: Executor<I, O>, items: Vec<(I, oneshot::Sender<O>)>) {
    let (inputs, senders): (Vec<I>, Vec<oneshot::Sender<O>>) = items.into_iter().unzip();
    let outputs = executor(inputs).await;
    for (sender, output) in senders.into_iter().zip(outputs) {
        // A caller that stopped waiting does not want its result.
        let _ = sender.send(output);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// The batches an executor saw.
    type Seen = Arc<Mutex<Vec<Vec<u32>>>>;

    fn counting() -> (Seen, Executor<u32, u32>) {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&batches);
        let executor: Executor<u32, u32> = Arc::new(move |inputs: Vec<u32>| {
            lock(&seen).push(inputs.clone());
            Box::pin(async move { inputs.into_iter().map(|i| i * 10).collect() })
        });
        (batches, executor)
    }

    #[tokio::test(start_paused = true)]
    async fn equal_keys_within_the_idle_window_share_one_call() {
        let (batches, executor) = counting();
        let batcher = Arc::new(Batcher::new(CREATE_FLEET_WINDOW, executor));
        let mut tasks = Vec::new();
        for (key, input) in [("a", 1), ("a", 2), ("b", 3), ("a", 4)] {
            let batcher = Arc::clone(&batcher);
            tasks.push(tokio::spawn(async move { batcher.call(key, input).await }));
            tokio::time::advance(Duration::from_millis(10)).await;
        }
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        assert_eq!(results, [Some(10), Some(20), Some(30), Some(40)], "each caller gets its own output");
        let mut seen = lock(&batches).clone();
        seen.sort();
        assert_eq!(seen, vec![vec![1, 2, 4], vec![3]], "one call per key");
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_closes_after_the_idle_time_and_at_the_latest_after_the_maximum() {
        let (batches, executor) = counting();
        let window =
            Window { idle: Duration::from_millis(35), max: Duration::from_millis(100), max_items: 1000 };
        let batcher = Arc::new(Batcher::new(window, executor));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        // A request every 30 ms keeps the batch from idling out; the maximum closes it.
        for input in 0..6 {
            let batcher = Arc::clone(&batcher);
            let calls = Arc::clone(&calls);
            tasks.push(tokio::spawn(async move {
                calls.fetch_add(1, Ordering::SeqCst);
                batcher.call((), input).await
            }));
            tokio::time::advance(Duration::from_millis(30)).await;
        }
        for task in tasks {
            assert!(task.await.unwrap().is_some());
        }
        let seen = lock(&batches).clone();
        // Without the maximum the steady stream would keep one batch open until it stopped.
        assert_eq!(seen.len(), 2, "closed by the 100 ms maximum, then by idling: {seen:?}");
        assert_eq!(seen.concat(), (0..6).collect::<Vec<_>>(), "every request once, in order");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_runs_at_once() {
        let (batches, executor) = counting();
        let window = Window { idle: Duration::from_secs(10), max: Duration::from_secs(10), max_items: 2 };
        let batcher = Arc::new(Batcher::new(window, executor));
        let a = tokio::spawn({
            let batcher = Arc::clone(&batcher);
            async move { batcher.call((), 1).await }
        });
        tokio::task::yield_now().await;
        let b = batcher.call((), 2).await;
        assert_eq!((a.await.unwrap(), b), (Some(10), Some(20)));
        assert_eq!(lock(&batches).clone(), vec![vec![1, 2]]);
    }
}
