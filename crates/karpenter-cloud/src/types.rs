//! The provider-neutral data that crosses the boundary: what the core asks a provider to launch, and what a
//! provider reports about the machines it runs. These replace the NodeClaim objects that upstream's interface
//! trades (`kubernetes-sigs/karpenter: pkg/cloudprovider/types.go`), so that a provider needs no CRD types.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use karpenter_solver::model::{
    InstanceType, Labels, NodeClassRef, NodeSelectorRequirement, ResourceList, Taint,
};

/// A provider's instance types, shared: the list is cloned by reference, and so is each type, so that
/// per-NodePool answers can share one table and the types they have in common.
pub type InstanceTypes = Arc<[Arc<InstanceType>]>;

/// Everything a provider needs to launch one machine for one NodeClaim.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchRequest {
    /// The NodeClaim's name. Providers record it on the machine (a tag, an annotation) so that a machine can
    /// be tied back to its NodeClaim, and may use it to make a repeated launch idempotent.
    pub node_claim: String,
    /// The NodePool the NodeClaim comes from.
    pub node_pool: String,
    /// The provider-specific node class the NodePool names.
    pub node_class: NodeClassRef,
    /// The NodeClaim's labels (template labels and single-valued requirements), put on the node.
    pub labels: Labels,
    /// The NodeClaim's taints: the node carries them from the start.
    pub taints: Vec<Taint>,
    /// The NodeClaim's startup taints: the node carries them until something on it removes them.
    pub startup_taints: Vec<Taint>,
    /// The NodeClaim's requirements, including the instance-type requirement. The launched machine satisfies
    /// all of them.
    pub requirements: Vec<NodeSelectorRequirement>,
    /// What the NodeClaim's pods request (with DaemonSet overhead); the launched type's allocatable covers
    /// it.
    pub requests: ResourceList,
    /// The instance types the NodeClaim may be launched as, cheapest first, as the provider's own
    /// [`crate::CloudProvider::instance_types`] described them.
    pub instance_types: Vec<Arc<InstanceType>>,
}

/// One place an instance type is sold: the type, the zone and the capacity type. This is what an insufficient
/// capacity error names and what a provider remembers as unavailable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OfferingKey {
    /// `node.kubernetes.io/instance-type`.
    pub instance_type: String,
    /// `topology.kubernetes.io/zone`.
    pub zone: String,
    /// `karpenter.sh/capacity-type`.
    pub capacity_type: String,
}

impl OfferingKey {
    /// Builds a key from its parts.
    pub fn new(
        instance_type: impl Into<String>,
        zone: impl Into<String>,
        capacity_type: impl Into<String>,
    ) -> Self {
        OfferingKey {
            instance_type: instance_type.into(),
            zone: zone.into(),
            capacity_type: capacity_type.into(),
        }
    }
}

impl fmt::Display for OfferingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.instance_type, self.zone, self.capacity_type)
    }
}

/// A machine the provider runs: the answer to a launch, and what `get` and `list` report.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// The provider's id of the machine, as the node's `spec.providerID` will carry it.
    pub provider_id: String,
    /// The NodeClaim the machine was launched for, when the provider recorded it.
    pub node_claim: Option<String>,
    /// The instance type it runs as.
    pub instance_type: String,
    /// Its zone.
    pub zone: String,
    /// Its capacity type: `on-demand`, `spot` or `reserved`.
    pub capacity_type: String,
    /// The image it booted from, when the provider has images.
    pub image_id: Option<String>,
    /// The machine's capacity.
    pub capacity: ResourceList,
    /// What is left for pods after the provider's reservations.
    pub allocatable: ResourceList,
    /// The labels the node carries: the NodeClaim's, the well-known ones (instance type, zone, capacity type,
    /// architecture, OS, NodePool) and the provider's own.
    pub labels: Labels,
    /// When the machine was launched, when the provider knows it (garbage collection spares young machines).
    pub launched_at: Option<SystemTime>,
}

impl Instance {
    /// The offering the machine was bought from.
    pub fn offering(&self) -> OfferingKey {
        OfferingKey::new(&self.instance_type, &self.zone, &self.capacity_type)
    }
}

/// The outcome of a successful `delete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Termination has started and the machine still exists; ask again later.
    Terminating,
    /// Nothing is left: the machine is terminated, or never existed (NotFound counts as success).
    Gone,
}

/// What a provider looks at to tell whether a launched NodeClaim no longer matches its node class.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftQuery {
    /// The NodeClaim's name.
    pub node_claim: String,
    /// Its machine.
    pub provider_id: String,
    /// The NodePool it belongs to.
    pub node_pool: String,
    /// The node class it was launched from.
    pub node_class: NodeClassRef,
    /// The image it reported at launch (`status.imageID`).
    pub image_id: Option<String>,
    /// The NodeClaim's labels (capacity type, zone, reservation id...).
    pub labels: Labels,
    /// The NodeClaim's annotations (the node class hash and its version, for providers that hash).
    pub annotations: BTreeMap<String, String>,
}

/// Why the provider considers a NodeClaim drifted, as a CamelCase word that becomes the reason of the
/// NodeClaim's `Drifted` condition (`AMIDrift`, `SubnetDrift`, `NodeClassDrift`...).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DriftReason(pub String);

impl DriftReason {
    /// Makes a reason.
    pub fn new(reason: impl Into<String>) -> Self {
        DriftReason(reason.into())
    }

    /// The reason as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DriftReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The status of a node condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConditionStatus {
    /// `True`.
    True,
    /// `False`.
    False,
    /// `Unknown`.
    Unknown,
}

impl ConditionStatus {
    /// The status as the Kubernetes API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// A node condition that, held for long enough, makes a node unhealthy enough to replace (node repair).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairPolicy {
    /// The node condition type, such as `Ready`.
    pub condition_type: String,
    /// The status that counts as unhealthy.
    pub condition_status: ConditionStatus,
    /// How long the condition is tolerated before the node is replaced.
    pub toleration: Duration,
}

/// A node-class kind a provider launches from. The first one a provider lists is its default.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeClassKind {
    /// API group, such as `karpenter.k8s.aws`.
    pub group: String,
    /// API version, such as `v1`.
    pub version: String,
    /// Kind, such as `EC2NodeClass`.
    pub kind: String,
}

impl NodeClassKind {
    /// Builds a kind from its parts.
    pub fn new(group: impl Into<String>, version: impl Into<String>, kind: impl Into<String>) -> Self {
        NodeClassKind { group: group.into(), version: version.into(), kind: kind.into() }
    }

    /// Whether a NodePool's reference names this kind.
    pub fn matches(&self, reference: &NodeClassRef) -> bool {
        self.group == reference.group && self.kind == reference.kind
    }
}
