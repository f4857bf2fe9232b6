//! Events the controller publishes about the objects it acts on, with upstream's reasons
//! (`kubernetes-sigs/karpenter: pkg/events/recorder.go`, `pkg/controllers/provisioning/scheduling/events.go`,
//! `pkg/controllers/nodeclaim/lifecycle/events.go`, `pkg/controllers/node/termination/terminator/events/events.go`,
//! `pkg/controllers/disruption/events/events.go`),
//! and the de-duplication that keeps a pod that stays unschedulable from flooding the API server.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use karpenter_api::{NodeClaim, NodePool};

use crate::clock::signed;

/// How long an identical event is not repeated (upstream's recorder dedupes for two minutes).
pub const DEDUPE_TIMEOUT: Duration = Duration::from_secs(120);

/// `Normal` or `Warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    /// Something happened as it should.
    Normal,
    /// Something is not working as expected.
    Warning,
}

impl EventType {
    /// The type as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// The object an event is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Regarding {
    /// `v1`, `karpenter.sh/v1`...
    pub api_version: String,
    /// `Pod`, `Node`, `NodeClaim`, `NodePool`.
    pub kind: String,
    /// The namespace of a namespaced object.
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
    /// The uid, when known.
    pub uid: Option<String>,
}

impl Regarding {
    fn of(
        api_version: &str,
        kind: &str,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    ) -> Self {
        Regarding {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone(),
        }
    }

    /// A pod.
    pub fn pod(pod: &Pod) -> Self {
        let mut regarding = Regarding::of("v1", "Pod", &pod.metadata);
        regarding.namespace.get_or_insert_with(|| "default".to_string());
        regarding
    }

    /// A node.
    pub fn node(node: &Node) -> Self {
        Regarding::of("v1", "Node", &node.metadata)
    }

    /// A NodeClaim.
    pub fn node_claim(claim: &NodeClaim) -> Self {
        Regarding::of("karpenter.sh/v1", "NodeClaim", &claim.metadata)
    }

    /// A NodePool.
    pub fn node_pool(pool: &NodePool) -> Self {
        Regarding::of("karpenter.sh/v1", "NodePool", &pool.metadata)
    }
}

impl std::fmt::Display for Regarding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{}/{}/{}", self.kind, namespace, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Event {
    /// What it is about.
    pub regarding: Regarding,
    /// `Normal` or `Warning`.
    pub type_: EventType,
    /// A CamelCase word, such as `FailedScheduling`.
    pub reason: String,
    /// What happened, for people.
    pub message: String,
}

impl Event {
    /// A `Normal` event.
    pub fn normal(regarding: Regarding, reason: &str, message: impl Into<String>) -> Self {
        Event { regarding, type_: EventType::Normal, reason: reason.to_string(), message: message.into() }
    }

    /// A `Warning` event.
    pub fn warning(regarding: Regarding, reason: &str, message: impl Into<String>) -> Self {
        Event { regarding, type_: EventType::Warning, reason: reason.to_string(), message: message.into() }
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}: {}", self.type_.as_str(), self.regarding, self.reason, self.message)
    }
}

/// Remembers the events published lately, so that the same event about the same object is published at most
/// once per [`DEDUPE_TIMEOUT`].
#[derive(Debug, Default)]
pub struct Dedupe {
    seen: BTreeMap<Event, Timestamp>,
}

impl Dedupe {
    /// Whether `event` should be published at `now`; records it when so.
    pub fn admit(&mut self, event: &Event, now: Timestamp) -> bool {
        let timeout = signed(DEDUPE_TIMEOUT);
        if self.seen.len() > 10_000 {
            self.seen.retain(|_, at| at.saturating_add(timeout).is_ok_and(|until| until > now));
        }
        match self.seen.get(event) {
            Some(at) if at.saturating_add(timeout).is_ok_and(|until| until > now) => false,
            _ => {
                self.seen.insert(event.clone(), now);
                true
            }
        }
    }
}

/// The reasons the controller uses, as upstream spells them.
pub mod reason {
    /// A pod cannot be placed on any NodePool.
    pub const FAILED_SCHEDULING: &str = "FailedScheduling";
    /// A pod is expected to land on a node or NodeClaim.
    pub const NOMINATED: &str = "Nominated";
    /// A launch found no capacity.
    pub const INSUFFICIENT_CAPACITY: &str = "InsufficientCapacityError";
    /// A launch failed because the node class is not ready.
    pub const NODE_CLASS_NOT_READY: &str = "NodeClassNotReady";
    /// A node has no unregistered taint when it joins.
    pub const UNREGISTERED_TAINT_MISSING: &str = "UnregisteredTaintMissing";
    /// A node could not be drained yet.
    pub const FAILED_DRAINING: &str = "FailedDraining";
    /// A pod was evicted.
    pub const EVICTED: &str = "Evicted";
    /// A pod was deleted because the node's termination grace period runs out.
    pub const DISRUPTED: &str = "Disrupted";
    /// A NodeClaim or node was deleted because its NodePool or node class could not be read.
    pub const FAILED_TO_RESOLVE: &str = "FailedToResolve";
    /// An object the controller reads could not be mapped into its model.
    pub const INVALID_OBJECT: &str = "InvalidObject";
    /// A NodeClaim's termination grace period will run out.
    pub const TERMINATION_GRACE_PERIOD_EXPIRING: &str = "TerminationGracePeriodExpiring";
    /// A NodeClaim was deleted because its instance was never registered or is gone.
    pub const GARBAGE_COLLECTED: &str = "GarbageCollected";
    /// A node, NodeClaim or NodePool may not be disrupted now, and why.
    pub const DISRUPTION_BLOCKED: &str = "DisruptionBlocked";
    /// A node cannot be consolidated, and why.
    pub const UNCONSOLIDATABLE: &str = "Unconsolidatable";
    /// A replacement NodeClaim of a disruption command is launching.
    pub const DISRUPTION_LAUNCHING: &str = "DisruptionLaunching";
    /// A disruption command waits for its replacements to initialise.
    pub const DISRUPTION_WAITING_READINESS: &str = "DisruptionWaitingReadiness";
    /// A disruption command deletes a node and its NodeClaim.
    pub const DISRUPTION_TERMINATING: &str = "DisruptionTerminating";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_repeats_only_after_the_dedupe_timeout() {
        let mut dedupe = Dedupe::default();
        let event = Event::warning(
            Regarding::pod(&Pod::default()),
            reason::FAILED_SCHEDULING,
            "Failed to schedule pod, incompatible with nodepool",
        );
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert!(dedupe.admit(&event, t0));
        assert!(!dedupe.admit(&event, t0.saturating_add(signed(Duration::from_secs(119))).unwrap()));
        let other = Event { message: "another reason".into(), ..event.clone() };
        assert!(dedupe.admit(&other, t0), "a different message is a different event");
        assert!(dedupe.admit(&event, t0.saturating_add(signed(Duration::from_secs(120))).unwrap()));
    }
}
