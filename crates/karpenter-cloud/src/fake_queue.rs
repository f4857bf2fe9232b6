//! A programmable [`InterruptionQueue`] for tests and for `karpenter simulate`: tests push notices, see which
//! were acknowledged, make calls fail, and expire the visibility of unacknowledged notices so that they are
//! delivered again, as SQS does (the role of upstream's fake SQS API, `aws/karpenter-provider-aws:
//! pkg/fake/sqsapi.go`). Given a [`FakeProvider`], an interrupted spot offering becomes unavailable in it,
//! as the AWS provider's unavailable-offerings cache makes it.
//!
//! Redelivery is explicit ([`FakeQueue::redeliver`]) rather than timed: this crate has no clock, and a test
//! decides when the visibility timeout has run out.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::fake::FakeProvider;
use crate::interruption::{InterruptionQueue, Notice, NoticeHandle, NoticeKind};
use crate::types::OfferingKey;

/// The most notices one receive returns, as an SQS ReceiveMessage call does.
pub const MAX_BATCH: usize = 10;

#[derive(Debug, Default)]
struct State {
    waiting: VecDeque<Notice>,
    in_flight: BTreeMap<NoticeHandle, Notice>,
    acknowledged: Vec<NoticeHandle>,
    interrupted: Vec<OfferingKey>,
    receive_errors: VecDeque<Error>,
    acknowledge_errors: VecDeque<Error>,
    pushed: u64,
    receives: u64,
}

/// The fake queue. Every method takes `&self`, so a test keeps a handle (`Arc<FakeQueue>`) on the queue it
/// gave the controller.
///
/// ```
/// use karpenter_cloud::fake_queue::FakeQueue;
/// use karpenter_cloud::{InterruptionQueue, NoticeKind};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let queue = FakeQueue::new();
/// let handle = queue.push(NoticeKind::SpotInterrupted, ["i-1"]);
/// let notices = queue.receive().await.unwrap();
/// assert_eq!(notices[0].instance_ids, ["i-1"]);
/// assert!(queue.receive().await.unwrap().is_empty(), "a delivered notice is invisible until it expires");
/// queue.redeliver();
/// assert_eq!(queue.receive().await.unwrap().len(), 1, "unacknowledged, it comes back");
/// queue.acknowledge(&handle).await.unwrap();
/// queue.redeliver();
/// assert!(queue.receive().await.unwrap().is_empty(), "acknowledged, it is gone");
/// assert_eq!(queue.acknowledged(), [handle]);
/// # });
/// ```
#[derive(Debug, Default)]
pub struct FakeQueue {
    provider: Option<Arc<FakeProvider>>,
    state: Mutex<State>,
}

impl FakeQueue {
    /// An empty queue that tells no provider about interrupted offerings (it still records them).
    pub fn new() -> Self {
        FakeQueue::default()
    }

    /// An empty queue that marks interrupted spot offerings unavailable in `provider`.
    pub fn for_provider(provider: Arc<FakeProvider>) -> Self {
        FakeQueue { provider: Some(provider), state: Mutex::default() }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update under the lock is one step, so a poisoned lock holds consistent data.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues a notice about some instances, with a fresh handle (`notice-1`, `notice-2`, ...), and returns the
    /// handle.
    pub fn push(
        &self,
        kind: NoticeKind,
        instance_ids: impl IntoIterator<Item = impl Into<String>>,
    ) -> NoticeHandle {
        let mut state = self.state();
        state.pushed += 1;
        let handle = NoticeHandle::new(format!("notice-{}", state.pushed));
        state.waiting.push_back(Notice::new(handle.clone(), kind, instance_ids));
        handle
    }

    /// Queues a notice as it is (its handle should be unique).
    pub fn push_notice(&self, notice: Notice) {
        self.state().waiting.push_back(notice);
    }

    /// Makes the next `receive` fail with `error`. Errors queue up: each is used by one call.
    pub fn fail_next_receive(&self, error: Error) {
        self.state().receive_errors.push_back(error);
    }

    /// Makes the next `acknowledge` fail with `error` (the notice stays in flight). Errors queue up.
    pub fn fail_next_acknowledge(&self, error: Error) {
        self.state().acknowledge_errors.push_back(error);
    }

    /// Puts every delivered, unacknowledged notice back in line, as the end of SQS's visibility timeout does.
    pub fn redeliver(&self) {
        let mut state = self.state();
        let expired = std::mem::take(&mut state.in_flight);
        for notice in expired.into_values() {
            state.waiting.push_back(notice);
        }
    }

    /// The handles acknowledged, in order.
    pub fn acknowledged(&self) -> Vec<NoticeHandle> {
        self.state().acknowledged.clone()
    }

    /// The handles delivered and not acknowledged yet.
    pub fn in_flight(&self) -> Vec<NoticeHandle> {
        self.state().in_flight.keys().cloned().collect()
    }

    /// How many notices wait to be delivered.
    pub fn waiting(&self) -> usize {
        self.state().waiting.len()
    }

    /// How many times `receive` was called, failed calls included.
    pub fn receives(&self) -> u64 {
        self.state().receives
    }

    /// The offerings the controller reported interrupted, in order.
    pub fn interrupted_offerings(&self) -> Vec<OfferingKey> {
        self.state().interrupted.clone()
    }
}

impl InterruptionQueue for FakeQueue {
    fn name(&self) -> &str {
        "fake"
    }

    async fn receive(&self) -> Result<Vec<Notice>> {
        let mut state = self.state();
        state.receives += 1;
        if let Some(error) = state.receive_errors.pop_front() {
            return Err(error);
        }
        let count = state.waiting.len().min(MAX_BATCH);
        let batch: Vec<Notice> = state.waiting.drain(..count).collect();
        for notice in &batch {
            state.in_flight.insert(notice.handle.clone(), notice.clone());
        }
        Ok(batch)
    }

    async fn acknowledge(&self, handle: &NoticeHandle) -> Result<()> {
        let mut state = self.state();
        if let Some(error) = state.acknowledge_errors.pop_front() {
            return Err(error);
        }
        if state.in_flight.remove(handle).is_some() {
            state.acknowledged.push(handle.clone());
            return Ok(());
        }
        // SQS accepts deleting a message twice, but refuses a receipt handle it never gave out.
        if state.acknowledged.contains(handle) {
            return Ok(());
        }
        Err(Error::Api { message: format!("receipt handle {handle} was never delivered"), retryable: false })
    }

    fn offering_interrupted(&self, offering: &OfferingKey) {
        self.state().interrupted.push(offering.clone());
        if let Some(provider) = &self.provider {
            provider.mark_unavailable(offering.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn notices_arrive_in_batches_in_order() {
        let queue = FakeQueue::new();
        let handles: Vec<NoticeHandle> =
            (0..12).map(|i| queue.push(NoticeKind::InstanceStopped, [format!("i-{i}")])).collect();
        let first = queue.receive().await.unwrap();
        assert_eq!(first.len(), MAX_BATCH);
        assert_eq!(first[0].handle, handles[0]);
        assert_eq!(first[0].instance_ids, ["i-0"]);
        let second = queue.receive().await.unwrap();
        assert_eq!(second.iter().map(|n| n.handle.clone()).collect::<Vec<_>>(), handles[10..]);
        assert!(queue.receive().await.unwrap().is_empty());
        assert_eq!(queue.in_flight().len(), 12);
        assert_eq!(queue.receives(), 3);
    }

    #[tokio::test]
    async fn failures_are_used_once_and_a_failed_acknowledgement_leaves_the_notice_in_flight() {
        let queue = FakeQueue::new();
        let handle = queue.push(NoticeKind::SpotInterrupted, ["i-1"]);
        queue.fail_next_receive(Error::Throttled { message: "slow down".into() });
        assert_eq!(queue.receive().await.unwrap_err().kind(), "ThrottledError");
        assert_eq!(queue.waiting(), 1, "a failed receive delivers nothing");
        assert_eq!(queue.receive().await.unwrap().len(), 1);
        queue.fail_next_acknowledge(Error::Api { message: "down".into(), retryable: true });
        assert!(queue.acknowledge(&handle).await.is_err());
        assert_eq!(queue.in_flight(), std::slice::from_ref(&handle));
        assert!(queue.acknowledged().is_empty());
        queue.acknowledge(&handle).await.unwrap();
        queue.acknowledge(&handle).await.unwrap();
        assert_eq!(queue.acknowledged(), [handle]);
        let unknown = queue.acknowledge(&NoticeHandle::new("never")).await.unwrap_err();
        assert!(unknown.to_string().contains("never delivered"), "{unknown}");
    }

    #[tokio::test]
    async fn an_interrupted_offering_becomes_unavailable_in_the_provider() {
        let provider = Arc::new(FakeProvider::new(Vec::new()));
        let queue = FakeQueue::for_provider(Arc::clone(&provider));
        let offering = OfferingKey::new("m5.large", "test-zone-a", "spot");
        // Through a pointer, as the controller holds it.
        let shared = Arc::new(queue);
        InterruptionQueue::offering_interrupted(&shared, &offering);
        assert_eq!(shared.interrupted_offerings(), std::slice::from_ref(&offering));
        assert_eq!(provider.unavailable_offerings(), std::slice::from_ref(&offering));
        provider.clear_capacity(&offering);
        assert!(provider.unavailable_offerings().is_empty());
    }
}
