//! Nodes and NodeClaims as upstream's cluster state sees them (`kubernetes-sigs/karpenter:
//! pkg/controllers/state/statenode.go`, `pkg/controllers/state/cluster.go`), mapped onto the solver's
//! [`model::ExistingNode`].
//!
//! A Node and a NodeClaim are one state node when they share a provider id. Karpenter manages a state node when
//! it has a NodeClaim. Until the Node registers (label `karpenter.sh/registered=true`), a managed state node is
//! seen through its NodeClaim: its name, labels and taints. Until it is initialised (label
//! `karpenter.sh/initialized=true`), its capacity and allocatable are the Node's, with every resource the Node
//! reports as zero or not at all taken from the NodeClaim's status. A Node without a NodeClaim is always
//! registered and initialised. A NodeClaim enters cluster state only once it has launched (it has a provider id);
//! before that it is left out, as upstream leaves it out.

use k8s_openapi::api::core::v1::Node;
use karpenter_api::NodeClaim;
use karpenter_api::labels::{condition, label, taint};
use karpenter_solver::model::{self, ExistingNode, ResourceList};
use karpenter_solver::quantity::Quantity;

use crate::convert;
use crate::report::{Error, ObjectRef, Result};

/// The node as an object reference, for reports.
pub fn node_ref(node: &Node) -> ObjectRef {
    ObjectRef::cluster("Node", node.metadata.name.as_deref().unwrap_or(""))
}

/// The NodeClaim as an object reference, for reports.
pub fn node_claim_ref(claim: &NodeClaim) -> ObjectRef {
    ObjectRef::cluster("NodeClaim", claim.metadata.name.as_deref().unwrap_or(""))
}

/// `spec.providerID` of a node, if set.
pub fn node_provider_id(node: &Node) -> Option<&str> {
    node.spec.as_ref()?.provider_id.as_deref().filter(|id| !id.is_empty())
}

/// `status.providerID` of a NodeClaim, if it has launched.
pub fn claim_provider_id(claim: &NodeClaim) -> Option<&str> {
    claim.status.as_ref()?.provider_id.as_deref().filter(|id| !id.is_empty())
}

fn has_label(labels: Option<&std::collections::BTreeMap<String, String>>, key: &str, value: &str) -> bool {
    labels.and_then(|l| l.get(key)).is_some_and(|v| v == value)
}

/// Whether cluster state takes a Node in at all. It leaves out a node that carries a NodePool label but has no
/// provider id yet, and one that carries a NodePool label, is not initialised and has no instance-type label yet:
/// both are still being registered and would be seen with the wrong identity or shape.
pub fn node_tracked(node: &Node) -> Result<()> {
    let labels = node.metadata.labels.as_ref();
    let nodepool_labelled = labels.and_then(|l| l.get(label::NODE_POOL)).is_some_and(|v| !v.is_empty());
    if !nodepool_labelled {
        return Ok(());
    }
    if node_provider_id(node).is_none() {
        return Err(Error::skipped("the node has a NodePool label but no spec.providerID yet"));
    }
    let initialized = labels.and_then(|l| l.get(label::INITIALIZED)).is_some_and(|v| !v.is_empty());
    let instance_type = labels.and_then(|l| l.get(label::INSTANCE_TYPE)).is_some_and(|v| !v.is_empty());
    if !initialized && !instance_type {
        return Err(Error::skipped("the node is not initialized and has no instance-type label yet"));
    }
    Ok(())
}

/// Whether a NodeClaim is being deleted: it has a deletion timestamp or its instance is terminating.
pub fn claim_deleting(claim: &NodeClaim) -> bool {
    claim.metadata.deletion_timestamp.is_some()
        || convert::condition_true(
            claim.status.as_ref().and_then(|s| s.conditions.as_ref()),
            condition::INSTANCE_TERMINATING,
        )
}

fn is_zero(quantity: &str) -> bool {
    Quantity::parse(quantity).ok().and_then(|q| q.to_milli()) == Some(0)
}

/// The node's resources, with every one it reports as zero or not at all taken from the claim's.
fn fill_from_claim(node: ResourceList, claim: ResourceList) -> ResourceList {
    let mut filled = node;
    for (name, quantity) in claim {
        if filled.get(&name).is_none_or(|q| is_zero(q)) {
            filled.insert(name, quantity);
        }
    }
    filled
}

/// Maps a Node, with its NodeClaim when Karpenter manages it, and the pods bound to it (mapped with
/// [`crate::pod::map_pod`]).
///
/// The node is marked for deletion when its NodeClaim is deleting (deletion timestamp or `InstanceTerminating`),
/// when it has no NodeClaim and is itself deleting, or when it carries the `karpenter.sh/disrupted` taint: the
/// taint is what upstream's in-memory mark leaves on the cluster, so a snapshot sees the mark through it.
pub fn map_node(node: &Node, claim: Option<&NodeClaim>, pods: Vec<model::Pod>) -> Result<ExistingNode> {
    let node_name = node
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::missing("metadata.name"))?;
    let node_labels = node.metadata.labels.as_ref();
    let node_taints = node.spec.as_ref().and_then(|s| s.taints.as_ref());
    let status = node.status.as_ref();
    let node_capacity = convert::quantities(status.and_then(|s| s.capacity.as_ref()));
    let node_allocatable = convert::quantities(status.and_then(|s| s.allocatable.as_ref()));
    let disrupted =
        node_taints.into_iter().flatten().any(|t| t.key == taint::DISRUPTED && t.effect == "NoSchedule");
    let Some(claim) = claim else {
        return Ok(ExistingNode {
            name: node_name,
            labels: convert::labels(node_labels),
            taints: convert::taints(node_taints),
            startup_taints: Vec::new(),
            capacity: node_capacity,
            allocatable: node_allocatable,
            initialized: true,
            marked_for_deletion: node.metadata.deletion_timestamp.is_some() || disrupted,
            pods,
        });
    };
    let registered = has_label(node_labels, label::REGISTERED, "true");
    let initialized = has_label(node_labels, label::INITIALIZED, "true");
    let claim_status = claim.status.as_ref();
    let (capacity, allocatable) = if initialized {
        (node_capacity, node_allocatable)
    } else {
        (
            fill_from_claim(
                node_capacity,
                convert::quantities(claim_status.and_then(|s| s.capacity.as_ref())),
            ),
            fill_from_claim(
                node_allocatable,
                convert::quantities(claim_status.and_then(|s| s.allocatable.as_ref())),
            ),
        )
    };
    let (name, labels, taints) = if registered {
        (node_name, convert::labels(node_labels), convert::taints(node_taints))
    } else {
        (
            claim.metadata.name.clone().unwrap_or(node_name),
            convert::labels(claim.metadata.labels.as_ref()),
            convert::taints(claim.spec.taints.as_ref()),
        )
    };
    Ok(ExistingNode {
        name,
        labels,
        taints,
        startup_taints: convert::taints(claim.spec.startup_taints.as_ref()),
        capacity,
        allocatable,
        initialized,
        marked_for_deletion: claim_deleting(claim) || disrupted,
        pods,
    })
}

/// Maps a NodeClaim that has launched but whose Node has not appeared: an in-flight node, not initialised, with
/// the capacity and allocatable the cloud provider reported at launch. A claim that has not launched is left out
/// (reported as skipped), as cluster state holds only launched claims.
pub fn map_node_claim(claim: &NodeClaim) -> Result<ExistingNode> {
    let name = claim
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::missing("metadata.name"))?;
    if claim_provider_id(claim).is_none() {
        return Err(Error::skipped("the NodeClaim has not launched (no status.providerID)"));
    }
    let status = claim.status.as_ref();
    Ok(ExistingNode {
        name,
        labels: convert::labels(claim.metadata.labels.as_ref()),
        taints: convert::taints(claim.spec.taints.as_ref()),
        startup_taints: convert::taints(claim.spec.startup_taints.as_ref()),
        capacity: convert::quantities(status.and_then(|s| s.capacity.as_ref())),
        allocatable: convert::quantities(status.and_then(|s| s.allocatable.as_ref())),
        initialized: false,
        marked_for_deletion: claim_deleting(claim),
        pods: Vec::new(),
    })
}
