//! The engine's input: a provider-neutral picture of the cluster at one instant.
//!
//! Everything the disruption controller of upstream Karpenter reads from its cluster state, the API server and the
//! cloud provider (`kubernetes-sigs/karpenter: pkg/controllers/disruption/helpers.go`, `state/statenode.go`) is
//! here as plain serialisable data. Scheduling facts reuse the solver's model (`karpenter_solver::model`) so that a
//! view can be handed to the solver without translation. Durations, budgets and annotations stay the strings the
//! user wrote; the engine parses them and reports a bad one against the object and field it came from.

use std::collections::BTreeMap;
use std::sync::Arc;

use karpenter_solver::SolverConfig;
use karpenter_solver::model::{
    self, InstanceType, LabelSelector, Labels, Namespace, Pod, ResourceList, Taint,
};
use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch, UTC. Kubernetes serialises object timestamps at this precision.
pub type Timestamp = i64;

/// Annotations of an object.
pub type Annotations = BTreeMap<String, String>;

/// The whole cluster as the disruption engine sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterView {
    /// The instant the decision is made for. The engine reads no clock.
    pub now: Timestamp,
    /// Nodes, and NodeClaims still being launched (`registered: false`), with the pods bound to them.
    #[serde(default)]
    pub nodes: Vec<Node>,
    /// NodePools with their disruption settings.
    #[serde(default)]
    pub node_pools: Vec<NodePool>,
    /// Instance types offered to every NodePool without an entry in `pool_instance_types`.
    #[serde(default)]
    pub instance_types: Vec<Arc<InstanceType>>,
    /// Instance types per NodePool, as the cloud provider answers `GetInstanceTypes(nodePool)`.
    #[serde(default)]
    pub pool_instance_types: BTreeMap<String, Vec<Arc<InstanceType>>>,
    /// Pods waiting for capacity (marked Unschedulable by the kube-scheduler).
    #[serde(default)]
    pub pending_pods: Vec<Pod>,
    /// One pod per DaemonSet, as it would run on a new node.
    #[serde(default)]
    pub daemon_set_pods: Vec<Pod>,
    /// Namespaces with their labels, for `namespaceSelector` in pod affinity terms.
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
    /// PodDisruptionBudgets with their current status.
    #[serde(default)]
    pub pod_disruption_budgets: Vec<PodDisruptionBudget>,
    /// Feature gates that change disruption decisions.
    #[serde(default)]
    pub feature_gates: FeatureGates,
    /// The cloud provider's repair policies (`CloudProvider.RepairPolicies()`), used when `NodeRepair` is on.
    #[serde(default)]
    pub repair_policies: Vec<RepairPolicy>,
    /// Scheduling settings for every simulation (preference and minValues policies).
    #[serde(default)]
    pub solver: SolverConfig,
}

/// Feature gates (upstream `FEATURE_GATES`) that change what the engine decides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct FeatureGates {
    /// Replace spot nodes with cheaper spot nodes (off by default upstream).
    #[serde(default)]
    pub spot_to_spot_consolidation: bool,
    /// Repair nodes whose conditions match a repair policy (off by default upstream).
    #[serde(default)]
    pub node_repair: bool,
    /// Static NodePools (`spec.replicas`). Disruption treats a pool with replicas as static whatever the gate says,
    /// as upstream does; the gate only decides whether such pools are admitted at all.
    #[serde(default)]
    pub static_capacity: bool,
    /// Karpenter manages `controller.kubernetes.io/pod-deletion-cost` itself, so eviction costs read only
    /// `karpenter.sh/disruption-cost`.
    #[serde(default)]
    pub pod_deletion_cost_management: bool,
}

/// A node, or a NodeClaim whose node has not registered yet. `Default` gives a registered, initialised node, as
/// an absent field does in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Node {
    /// Node name (the NodeClaim's name while it has no node).
    pub name: String,
    /// Node labels: `karpenter.sh/nodepool`, the instance type, zone and capacity type among them.
    #[serde(default)]
    pub labels: Labels,
    /// Node annotations: `karpenter.sh/do-not-disrupt`, `karpenter.sh/do-not-repair`.
    #[serde(default)]
    pub annotations: Annotations,
    /// Node taints.
    #[serde(default)]
    pub taints: Vec<Taint>,
    /// Startup taints of its NodeClaim.
    #[serde(default)]
    pub startup_taints: Vec<Taint>,
    /// `status.capacity`.
    #[serde(default)]
    pub capacity: ResourceList,
    /// `status.allocatable`.
    #[serde(default)]
    pub allocatable: ResourceList,
    /// Node conditions (`Ready` and the ones repair policies watch).
    #[serde(default)]
    pub conditions: Vec<NodeCondition>,
    /// False while the NodeClaim has no registered node.
    #[serde(default = "yes")]
    pub registered: bool,
    /// True once the node carries `karpenter.sh/initialized=true` (always true for unmanaged nodes).
    #[serde(default = "yes")]
    pub initialized: bool,
    /// The node or its NodeClaim is being deleted, or a disruption command already owns it.
    #[serde(default)]
    pub marked_for_deletion: bool,
    /// A recent provisioning pass nominated the node for a pending pod.
    #[serde(default)]
    pub nominated: bool,
    /// Its NodeClaim; `None` for a node Karpenter does not manage (it still takes pods in simulations).
    #[serde(default)]
    pub node_claim: Option<NodeClaim>,
    /// The hourly price the provider reports, when known; otherwise the price of the instance type's offering in
    /// the node's zone and capacity type, as upstream resolves it.
    #[serde(default)]
    pub price: Option<f64>,
    /// Pods bound to the node.
    #[serde(default)]
    pub pods: Vec<BoundPod>,
}

pub(crate) fn yes() -> bool {
    true
}

impl Default for Node {
    fn default() -> Self {
        Node {
            name: String::new(),
            labels: Labels::new(),
            annotations: Annotations::new(),
            taints: Vec::new(),
            startup_taints: Vec::new(),
            capacity: ResourceList::new(),
            allocatable: ResourceList::new(),
            conditions: Vec::new(),
            registered: true,
            initialized: true,
            marked_for_deletion: false,
            nominated: false,
            node_claim: None,
            price: None,
            pods: Vec::new(),
        }
    }
}

impl Default for BoundPod {
    fn default() -> Self {
        BoundPod {
            pod: Pod::default(),
            annotations: Annotations::new(),
            start_time: None,
            priority: None,
            owner_kind: None,
            ready: true,
        }
    }
}

impl Default for NodePool {
    fn default() -> Self {
        NodePool {
            pool: model::NodePool::default(),
            disruption: Disruption::default(),
            expire_after: None,
            termination_grace_period: None,
            replicas: None,
            ready: true,
        }
    }
}

/// The facts of a node's NodeClaim that disruption reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeClaim {
    /// NodeClaim name.
    pub name: String,
    /// `metadata.creationTimestamp`.
    pub created: Timestamp,
    /// When the `Initialized` condition became true; `None` while it is not.
    #[serde(default)]
    pub initialized_at: Option<Timestamp>,
    /// `status.lastPodEventTime`: the last pod bind or removal.
    #[serde(default)]
    pub last_pod_event_time: Option<Timestamp>,
    /// The `Drifted` condition, when true.
    #[serde(default)]
    pub drifted: Option<Drifted>,
    /// `spec.expireAfter` (a duration or `Never`); `None` takes the NodePool's.
    #[serde(default)]
    pub expire_after: Option<String>,
    /// `spec.terminationGracePeriod`; `None` takes the NodePool's.
    #[serde(default)]
    pub termination_grace_period: Option<String>,
    /// The `InstanceTerminating` condition is true: the instance is already going away.
    #[serde(default)]
    pub instance_terminating: bool,
    /// The `Rebooting` condition, when present.
    #[serde(default)]
    pub rebooting: Option<Rebooting>,
    /// Reboots committed for this NodeClaim in the last 24 hours (the repair controller's memory).
    #[serde(default)]
    pub recent_reboots: u32,
}

/// The `Drifted` condition of a NodeClaim.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Drifted {
    /// `NodePoolDrifted`, `RequirementsDrifted`, `InstanceTypeNotFound` or the provider's reason.
    pub reason: String,
    /// Last transition to true.
    pub since: Timestamp,
}

/// The `Rebooting` condition of a NodeClaim.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rebooting {
    /// True while a reboot is in progress.
    pub in_progress: bool,
    /// Last transition; when the reboot is over, repair tolerations count from here.
    pub since: Timestamp,
}

/// A node condition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeCondition {
    /// Condition type, e.g. `Ready`.
    #[serde(rename = "type")]
    pub condition_type: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason.
    #[serde(default)]
    pub reason: String,
    /// Last transition time.
    #[serde(default)]
    pub since: Timestamp,
}

/// A pod bound to a node: its scheduling shape plus what disruption needs to know about it. `Default` gives a
/// ready pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BoundPod {
    /// Scheduling facts, as the solver reads them (`daemonSet`, `phase` and `terminating` included).
    pub pod: Pod,
    /// Pod annotations: `karpenter.sh/do-not-disrupt`, `karpenter.sh/disruption-cost`,
    /// `controller.kubernetes.io/pod-deletion-cost`.
    #[serde(default)]
    pub annotations: Annotations,
    /// `status.startTime`.
    #[serde(default)]
    pub start_time: Option<Timestamp>,
    /// `spec.priority`.
    #[serde(default)]
    pub priority: Option<i32>,
    /// Kind of the owning object: `DaemonSet`, `Node` (a mirror pod), `StatefulSet`, `ReplicaSet`...
    #[serde(default)]
    pub owner_kind: Option<String>,
    /// The pod's `Ready` condition; an unready pod may be evicted past a PDB with `AlwaysAllow`.
    #[serde(default = "yes")]
    pub ready: bool,
}

/// A PodDisruptionBudget with its current status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodDisruptionBudget {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `spec.selector`; absent selects nothing, empty selects every pod of the namespace.
    #[serde(default)]
    pub selector: Option<LabelSelector>,
    /// `spec.maxUnavailable`.
    #[serde(default)]
    pub max_unavailable: Option<IntOrString>,
    /// `spec.minAvailable`.
    #[serde(default)]
    pub min_available: Option<IntOrString>,
    /// `spec.unhealthyPodEvictionPolicy`: `IfHealthyBudget` or `AlwaysAllow`.
    #[serde(default)]
    pub unhealthy_pod_eviction_policy: Option<String>,
    /// `status.disruptionsAllowed`.
    pub disruptions_allowed: i32,
}

/// A Kubernetes int-or-string value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    /// An integer.
    Int(i64),
    /// A string such as `50%`.
    String(String),
}

/// A NodePool: its scheduling template plus what disruption reads from `spec.disruption` and `spec.replicas`.
/// `Default` gives a ready NodePool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodePool {
    /// The template and limits, as the solver reads them.
    pub pool: model::NodePool,
    /// `spec.disruption`.
    #[serde(default)]
    pub disruption: Disruption,
    /// `spec.template.spec.expireAfter`: a duration or `Never`; unset means `720h`.
    #[serde(default)]
    pub expire_after: Option<String>,
    /// `spec.template.spec.terminationGracePeriod`.
    #[serde(default)]
    pub termination_grace_period: Option<String>,
    /// `spec.replicas`: set for a static NodePool.
    #[serde(default)]
    pub replicas: Option<i64>,
    /// False when the NodePool is not Ready (its node class is not) or is being deleted: the provisioner will not
    /// launch from it, so no simulation may either.
    #[serde(default = "yes")]
    pub ready: bool,
}

/// `spec.disruption` of a NodePool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Disruption {
    /// `WhenEmpty`, `WhenEmptyOrUnderutilized` (the default) or `Balanced`.
    #[serde(default)]
    pub consolidation_policy: Option<String>,
    /// A duration or `Never`; unset means `0s`.
    #[serde(default)]
    pub consolidate_after: Option<String>,
    /// Budgets; unset means one budget of `10%`, an empty list means no limit.
    #[serde(default)]
    pub budgets: Option<Vec<Budget>>,
}

/// One disruption budget.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Budget {
    /// A node count or a percentage such as `10%`.
    pub nodes: String,
    /// A cron schedule (UTC) at which the budget starts being active.
    #[serde(default)]
    pub schedule: Option<String>,
    /// How long the budget stays active after each schedule hit.
    #[serde(default)]
    pub duration: Option<String>,
    /// Reasons it applies to; unset means every reason.
    #[serde(default)]
    pub reasons: Option<Vec<String>>,
}

/// One of the cloud provider's repair policies (`cloudprovider.RepairPolicy`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepairPolicy {
    /// The node condition type it watches.
    pub condition_type: String,
    /// The unhealthy status: `True`, `False` or `Unknown`.
    pub condition_status: String,
    /// A regular expression searched for in the condition's reason; empty makes the policy the set's fallback.
    #[serde(default)]
    pub reason_regex: String,
    /// How long the condition must last before the policy applies (a duration).
    pub toleration_duration: String,
    /// A bound on the drain (a duration; `0s` is forceful); unset inherits the NodeClaim's.
    #[serde(default)]
    pub termination_grace_period: Option<String>,
    /// 0..100; higher repairs first.
    #[serde(default)]
    pub priority: i32,
    /// `ReplaceNode` (the default) or `RebootNode`.
    #[serde(default)]
    pub action: Option<String>,
}
