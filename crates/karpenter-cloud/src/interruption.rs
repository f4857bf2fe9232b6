//! Interruption notices: a provider tells the controller that some of its machines are about to go (a spot
//! interruption, a scheduled retirement, a stop) or are at risk (a rebalance recommendation). This module is the
//! provider-neutral half of upstream's interruption controller (`aws/karpenter-provider-aws:
//! pkg/controllers/interruption/{controller.go,utils.go,events/events.go}` and the kinds of
//! `messages/types.go`): what a notice says, what each kind makes the controller do, the events it publishes,
//! and the [`InterruptionQueue`] a provider delivers notices through. Reading a provider's own messages (SQS
//! EventBridge JSON on AWS) stays in the provider; acting on the cluster stays in the controller; so the AWS
//! provider, the programmable fake and `karpenter simulate` share one controller.

use std::fmt;
use std::future::Future;
use std::time::SystemTime;

use crate::error::Result;
use crate::types::OfferingKey;

/// What a notice is about, with the `message_type` label upstream's metrics give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NoticeKind {
    /// The spot instance is reclaimed in two minutes.
    SpotInterrupted,
    /// The spot instance is at raised risk of interruption.
    RebalanceRecommendation,
    /// The provider scheduled maintenance or retirement of the instance.
    ScheduledChange,
    /// The instance is stopping or stopped.
    InstanceStopped,
    /// The instance is shutting down or terminated.
    InstanceTerminated,
    /// The capacity reservation the instance runs in is being reclaimed.
    CapacityReservationInterrupted,
    /// A message the provider could not read or does not act on; it is only acknowledged, so that it does not
    /// come back.
    Unrecognised,
}

/// What the controller does to the NodeClaims a notice names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NoticeAction {
    /// Delete the NodeClaims: the normal termination cordons and drains their nodes before the machines go.
    DeleteNodeClaim,
    /// Only publish an event on the NodeClaims and their nodes.
    RecordEvent,
    /// Nothing; the notice is acknowledged.
    Nothing,
}

/// An event the controller publishes on a NodeClaim and its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NoticeEvent {
    /// `Warning`, or else `Normal`.
    pub warning: bool,
    /// The CamelCase reason.
    pub reason: &'static str,
    /// The message on the NodeClaim.
    pub node_claim_message: &'static str,
    /// The message on the node.
    pub node_message: &'static str,
}

impl NoticeEvent {
    const fn same(warning: bool, reason: &'static str, message: &'static str) -> Self {
        NoticeEvent { warning, reason, node_claim_message: message, node_message: message }
    }

    /// The event published on a NodeClaim (and its node) that a notice made the controller delete.
    pub const TERMINATING: NoticeEvent = NoticeEvent {
        warning: true,
        reason: "TerminatingOnInterruption",
        node_claim_message: "Interruption triggered termination for the NodeClaim",
        node_message: "Interruption triggered termination for the Node",
    };
}

impl NoticeKind {
    /// Every kind, in declaration order.
    pub const ALL: [NoticeKind; 7] = [
        NoticeKind::SpotInterrupted,
        NoticeKind::RebalanceRecommendation,
        NoticeKind::ScheduledChange,
        NoticeKind::InstanceStopped,
        NoticeKind::InstanceTerminated,
        NoticeKind::CapacityReservationInterrupted,
        NoticeKind::Unrecognised,
    ];

    /// The `message_type` label of `karpenter_interruption_received_messages_total`, which is also the reason
    /// of `karpenter_nodeclaims_disrupted_total` when the notice deletes a NodeClaim.
    pub fn message_type(self) -> &'static str {
        match self {
            NoticeKind::SpotInterrupted => "spot_interrupted",
            NoticeKind::RebalanceRecommendation => "rebalance_recommendation",
            NoticeKind::ScheduledChange => "scheduled_change",
            NoticeKind::InstanceStopped => "instance_stopped",
            NoticeKind::InstanceTerminated => "instance_terminated",
            NoticeKind::CapacityReservationInterrupted => "capacity_reservation_interrupted",
            NoticeKind::Unrecognised => "no_op",
        }
    }

    /// What the controller does about it: a machine that is going anyway is drained while it can be; a mere
    /// risk is only reported.
    pub fn action(self) -> NoticeAction {
        match self {
            NoticeKind::SpotInterrupted
            | NoticeKind::ScheduledChange
            | NoticeKind::InstanceStopped
            | NoticeKind::InstanceTerminated
            | NoticeKind::CapacityReservationInterrupted => NoticeAction::DeleteNodeClaim,
            NoticeKind::RebalanceRecommendation => NoticeAction::RecordEvent,
            NoticeKind::Unrecognised => NoticeAction::Nothing,
        }
    }

    /// The event published on every NodeClaim (and its node) the notice names, whatever the action.
    pub fn event(self) -> Option<NoticeEvent> {
        let event = match self {
            NoticeKind::SpotInterrupted => {
                NoticeEvent::same(true, "SpotInterrupted", "Spot interruption warning was triggered")
            }
            NoticeKind::RebalanceRecommendation => NoticeEvent::same(
                false,
                "SpotRebalanceRecommendation",
                "Spot rebalance recommendation was triggered",
            ),
            NoticeKind::ScheduledChange => NoticeEvent::same(
                true,
                "InstanceUnhealthy",
                "An unhealthy warning was triggered for the instance",
            ),
            NoticeKind::InstanceStopped => {
                NoticeEvent::same(true, "InstanceStopping", "Instance is stopping")
            }
            NoticeKind::InstanceTerminated => {
                NoticeEvent::same(true, "InstanceTerminating", "Instance is terminating")
            }
            NoticeKind::CapacityReservationInterrupted => NoticeEvent::same(
                true,
                "CapacityReservationInstanceInterrupted",
                "Capacity Reservation interruption warning was triggered",
            ),
            NoticeKind::Unrecognised => return None,
        };
        Some(event)
    }

    /// Whether the spot offering (instance type and zone) of an interrupted machine should stop being offered
    /// for a while: the provider just reclaimed capacity there, so a replacement launched into it would likely
    /// be interrupted too.
    pub fn marks_spot_offering_unavailable(self) -> bool {
        self == NoticeKind::SpotInterrupted
    }
}

impl fmt::Display for NoticeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message_type())
    }
}

/// The queue's own reference to a delivered notice, handed back to acknowledge it (an SQS receipt handle).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NoticeHandle(String);

impl NoticeHandle {
    /// Wraps a queue's reference.
    pub fn new(handle: impl Into<String>) -> Self {
        NoticeHandle(handle.into())
    }

    /// The reference as the queue gave it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NoticeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One notice delivered by an [`InterruptionQueue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// What acknowledges it.
    pub handle: NoticeHandle,
    /// What it says.
    pub kind: NoticeKind,
    /// The instance ids (the last part of a provider id, see [`instance_id`]) it is about.
    pub instance_ids: Vec<String>,
    /// When the provider sent it, if the message says; the controller measures the time it spent queued.
    pub sent_at: Option<SystemTime>,
    /// For an [`NoticeKind::Unrecognised`] notice that could not be read at all, why, for the log.
    pub unreadable: Option<String>,
}

impl Notice {
    /// A notice about some instances, sent at an unknown time.
    pub fn new(
        handle: NoticeHandle,
        kind: NoticeKind,
        instance_ids: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Notice {
            handle,
            kind,
            instance_ids: instance_ids.into_iter().map(Into::into).collect(),
            sent_at: None,
            unreadable: None,
        }
    }

    /// A message that could not be read, with why.
    pub fn unreadable(handle: NoticeHandle, why: impl Into<String>) -> Self {
        Notice {
            unreadable: Some(why.into()),
            ..Notice::new(handle, NoticeKind::Unrecognised, Vec::<String>::new())
        }
    }

    /// Sets when it was sent.
    pub fn sent_at(mut self, at: SystemTime) -> Self {
        self.sent_at = Some(at);
        self
    }
}

/// Where a provider delivers interruption notices from, and how it hears back about interrupted offerings.
///
/// Delivery is at least once: a notice that is not acknowledged comes back later (an SQS message whose
/// visibility timeout runs out), so the controller acknowledges only what it fully handled.
pub trait InterruptionQueue: Send + Sync {
    /// The queue's name, for logs.
    fn name(&self) -> &str;

    /// The notices waiting now, possibly after waiting a while for some to arrive (SQS long-polls); empty when
    /// there are none.
    fn receive(&self) -> impl Future<Output = Result<Vec<Notice>>> + Send;

    /// Removes a handled notice from the queue.
    fn acknowledge(&self, handle: &NoticeHandle) -> impl Future<Output = Result<()>> + Send;

    /// Tells the provider that a machine of this spot offering was interrupted, so that it stops offering it
    /// for a while as it does after running out of capacity.
    fn offering_interrupted(&self, offering: &OfferingKey);
}

/// Forwards every method through a pointer, so that a test keeps a handle on the queue it gave the controller.
macro_rules! forward_through_pointer {
    ($($pointer:ty),*) => {$(
        impl<Q: InterruptionQueue> InterruptionQueue for $pointer {
            fn name(&self) -> &str {
                (**self).name()
            }

            fn receive(&self) -> impl Future<Output = Result<Vec<Notice>>> + Send {
                (**self).receive()
            }

            fn acknowledge(&self, handle: &NoticeHandle) -> impl Future<Output = Result<()>> + Send {
                (**self).acknowledge(handle)
            }

            fn offering_interrupted(&self, offering: &OfferingKey) {
                (**self).offering_interrupted(offering)
            }
        }
    )*};
}

forward_through_pointer!(&Q, std::sync::Arc<Q>);

/// The instance id a provider id ends with: its last `/`-separated part after the scheme
/// (`aws:///us-east-1a/i-0abc` gives `i-0abc`, `fake:///zone/i-1` gives `i-1`, `kwok://node-1` gives `node-1`).
/// `None` when the text has no `scheme://` or ends with `/`.
pub fn instance_id(provider_id: &str) -> Option<&str> {
    let (scheme, rest) = provider_id.split_once("://")?;
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
        return None;
    }
    let id = rest.rsplit('/').next()?;
    (!id.is_empty()).then_some(id)
}

/// Whether a provider id names the machine with this instance id.
pub fn names_instance(provider_id: &str, instance_id: &str) -> bool {
    !instance_id.is_empty() && self::instance_id(provider_id) == Some(instance_id)
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn each_kind_has_upstreams_label_action_and_event() {
        let table: Vec<String> = NoticeKind::ALL
            .iter()
            .map(|kind| {
                let event = kind.event().map_or("-".to_string(), |e| {
                    format!(
                        "{} {}: {}",
                        if e.warning { "Warning" } else { "Normal" },
                        e.reason,
                        e.node_claim_message
                    )
                });
                format!(
                    "{} {:?} spot-unavailable={} | {event}",
                    kind.message_type(),
                    kind.action(),
                    kind.marks_spot_offering_unavailable()
                )
            })
            .collect();
        expect![[r#"
            spot_interrupted DeleteNodeClaim spot-unavailable=true | Warning SpotInterrupted: Spot interruption warning was triggered
            rebalance_recommendation RecordEvent spot-unavailable=false | Normal SpotRebalanceRecommendation: Spot rebalance recommendation was triggered
            scheduled_change DeleteNodeClaim spot-unavailable=false | Warning InstanceUnhealthy: An unhealthy warning was triggered for the instance
            instance_stopped DeleteNodeClaim spot-unavailable=false | Warning InstanceStopping: Instance is stopping
            instance_terminated DeleteNodeClaim spot-unavailable=false | Warning InstanceTerminating: Instance is terminating
            capacity_reservation_interrupted DeleteNodeClaim spot-unavailable=false | Warning CapacityReservationInstanceInterrupted: Capacity Reservation interruption warning was triggered
            no_op Nothing spot-unavailable=false | -"#]]
        .assert_eq(&table.join("\n"));
        let terminating = NoticeEvent::TERMINATING;
        assert_eq!(terminating.reason, "TerminatingOnInterruption");
        assert_ne!(terminating.node_claim_message, terminating.node_message, "each names its object");
    }

    #[test]
    fn a_provider_id_ends_with_its_instance_id() {
        assert_eq!(instance_id("aws:///us-east-1a/i-0abc"), Some("i-0abc"));
        assert_eq!(instance_id("fake:///test-zone-a/i-0000000000000001"), Some("i-0000000000000001"));
        assert_eq!(instance_id("kwok://node-1"), Some("node-1"));
        for bad in ["", "i-0abc", "aws:///us-east-1a/", "://zone/i-1", "a b:///zone/i-1", "aws://"] {
            assert_eq!(instance_id(bad), None, "{bad:?}");
        }
        assert!(names_instance("aws:///us-east-1a/i-0abc", "i-0abc"));
        assert!(!names_instance("aws:///us-east-1a/i-0abcd", "i-0abc"), "a prefix is not a match");
        assert!(!names_instance("aws:///us-east-1a/i-0abc", ""));
    }

    #[test]
    fn an_unreadable_message_is_an_unrecognised_notice_that_says_why() {
        let notice = Notice::unreadable(NoticeHandle::new("h-1"), "not JSON");
        assert_eq!(notice.kind, NoticeKind::Unrecognised);
        assert_eq!(notice.kind.action(), NoticeAction::Nothing);
        assert!(notice.instance_ids.is_empty());
        assert_eq!(notice.unreadable.as_deref(), Some("not JSON"));
        assert_eq!(notice.handle.as_str(), "h-1");
    }
}
