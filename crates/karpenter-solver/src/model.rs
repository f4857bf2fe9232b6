//! The solver's input: plain, serialisable data that mirrors the Kubernetes and Karpenter objects it is drawn from.
//!
//! Field names follow the Kubernetes API (camelCase in JSON) so that a problem file reads like the objects a user
//! already knows. Quantities and operators stay strings here; they are checked when a problem is solved, and a bad
//! value is reported against the object and field it came from instead of failing the whole problem.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Resource names to quantity strings, as in `resources.requests` (`cpu: "500m"`, `memory: "1Gi"`).
pub type ResourceList = BTreeMap<String, String>;

/// Label keys to values.
pub type Labels = BTreeMap<String, String>;

/// Everything one provisioning round looks at.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Problem {
    /// Pods waiting for capacity.
    #[serde(default)]
    pub pods: Vec<Pod>,
    /// Nodes that exist or are being launched, with the pods bound to them.
    #[serde(default)]
    pub nodes: Vec<ExistingNode>,
    /// The NodePools new capacity may come from.
    #[serde(default)]
    pub node_pools: Vec<NodePool>,
    /// Instance types offered to every NodePool that has no entry in `pool_instance_types`. Shared (`Arc`): a
    /// provider's catalog is built once and handed to many problems and NodePools without copies.
    #[serde(default)]
    pub instance_types: Vec<Arc<InstanceType>>,
    /// Instance types for particular NodePools (the cloud provider answers per NodePool). A type listed for
    /// several pools (the same `Arc`, or an equal type) is compiled once.
    #[serde(default)]
    pub pool_instance_types: BTreeMap<String, Vec<Arc<InstanceType>>>,
    /// Pods of the DaemonSets that will run on every node they tolerate and select.
    #[serde(default)]
    pub daemon_set_pods: Vec<Pod>,
    /// Namespaces with their labels, for `namespaceSelector` in pod (anti-)affinity terms.
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
    /// NodeOverlays (gate `NodeOverlay`): price and capacity changes applied to the NodePools' instance types
    /// before anything is scheduled.
    #[serde(default)]
    pub node_overlays: Vec<NodeOverlay>,
}

/// A NodeOverlay (`karpenter.sh/v1alpha1`): a price or price adjustment for the offerings, and extended-resource
/// capacity for the instance types, that its requirements select in every NodePool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeOverlay {
    /// Name; among overlays of equal weight, the one later in the alphabet goes first.
    pub name: String,
    /// `spec.weight`; heavier overlays go first and win. Unset is 0.
    #[serde(default)]
    pub weight: Option<i32>,
    /// `spec.requirements`: which instance types (with the NodePool's labels) and offerings it applies to.
    #[serde(default)]
    pub requirements: Vec<NodeSelectorRequirement>,
    /// `spec.price`: the hourly price of the selected offerings, a non-negative decimal.
    #[serde(default)]
    pub price: Option<String>,
    /// `spec.priceAdjustment`: a signed amount (`+0.5`, `-1`) or percentage (`-15%`) added to the price.
    #[serde(default)]
    pub price_adjustment: Option<String>,
    /// `spec.capacity`: extended resources the selected instance types have (replacing any they had).
    #[serde(default)]
    pub capacity: ResourceList,
}

/// A namespace and its labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Namespace {
    /// Namespace name.
    pub name: String,
    /// Namespace labels.
    #[serde(default)]
    pub labels: Labels,
}

/// The parts of a pod that decide where it can run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pod {
    /// Namespace of the pod.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Name of the pod.
    pub name: String,
    /// UID; the last tie-break of the queue order. Defaults to `namespace/name`.
    #[serde(default)]
    pub uid: String,
    /// Creation time in seconds since the epoch; older pods are tried first among pods of equal size.
    #[serde(default)]
    pub creation_timestamp: i64,
    /// Pod labels.
    #[serde(default)]
    pub labels: Labels,
    /// Application containers.
    #[serde(default)]
    pub containers: Vec<Container>,
    /// Init containers, sidecars (`restartPolicy: Always`) included.
    #[serde(default)]
    pub init_containers: Vec<Container>,
    /// `spec.overhead`, added on top of the containers' requests.
    #[serde(default)]
    pub overhead: ResourceList,
    /// `spec.nodeSelector`.
    #[serde(default)]
    pub node_selector: Labels,
    /// `spec.affinity.nodeAffinity`.
    #[serde(default)]
    pub node_affinity: Option<NodeAffinity>,
    /// `spec.tolerations`.
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    /// `spec.topologySpreadConstraints`.
    #[serde(default)]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    /// `spec.affinity.podAffinity`.
    #[serde(default)]
    pub pod_affinity: Option<PodAffinity>,
    /// `spec.affinity.podAntiAffinity`.
    #[serde(default)]
    pub pod_anti_affinity: Option<PodAffinity>,
    /// Where the pod's volumes allow it to run: ORed alternatives, one per combination of its volumes' topologies
    /// (bound PersistentVolume node affinity or StorageClass `allowedTopologies`). Empty means anywhere.
    #[serde(default)]
    pub volume_topology: Vec<NodeSelectorTerm>,
    /// Names of the pod's `resourceClaims` (Dynamic Resource Allocation).
    #[serde(default)]
    pub resource_claims: Vec<String>,
    /// True for a pod owned by a DaemonSet (only meaningful for pods bound to existing nodes).
    #[serde(default)]
    pub daemon_set: bool,
    /// `status.phase`. A bound pod that has `Succeeded` or `Failed` holds no resources and counts for no topology.
    #[serde(default)]
    pub phase: Option<String>,
    /// True when the pod has a deletion timestamp: it still holds its resources but no longer counts for topology.
    #[serde(default)]
    pub terminating: bool,
}

/// `spec.topologySpreadConstraints[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TopologySpreadConstraint {
    /// Largest allowed difference between the fullest and the emptiest domain.
    pub max_skew: i32,
    /// Node label that defines the domains.
    pub topology_key: String,
    /// `DoNotSchedule` or `ScheduleAnyway`.
    pub when_unsatisfiable: String,
    /// Pods counted in each domain.
    #[serde(default)]
    pub label_selector: Option<LabelSelector>,
    /// Below this many eligible domains the global minimum is taken as zero.
    #[serde(default)]
    pub min_domains: Option<i32>,
    /// Label keys whose values, taken from the incoming pod, narrow the selector.
    #[serde(default)]
    pub match_label_keys: Vec<String>,
    /// `Honor` (default) or `Ignore`: whether the pod's node affinity limits the counted nodes.
    #[serde(default)]
    pub node_affinity_policy: Option<String>,
    /// `Honor` or `Ignore` (default): whether taints the pod does not tolerate limit the counted nodes.
    #[serde(default)]
    pub node_taints_policy: Option<String>,
}

/// `spec.affinity.podAffinity` or `podAntiAffinity`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodAffinity {
    /// `requiredDuringSchedulingIgnoredDuringExecution`.
    #[serde(default)]
    pub required: Vec<PodAffinityTerm>,
    /// `preferredDuringSchedulingIgnoredDuringExecution`.
    #[serde(default)]
    pub preferred: Vec<WeightedPodAffinityTerm>,
}

/// A pod (anti-)affinity term.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodAffinityTerm {
    /// Pods the term is about. A term without a selector selects nothing.
    #[serde(default)]
    pub label_selector: Option<LabelSelector>,
    /// Namespaces to look in; with neither this nor `namespaceSelector`, the pod's own namespace.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Namespaces to look in, by label (added to `namespaces`).
    #[serde(default)]
    pub namespace_selector: Option<LabelSelector>,
    /// Node label that defines "the same place".
    pub topology_key: String,
}

/// A weighted preferred pod (anti-)affinity term.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WeightedPodAffinityTerm {
    /// Weight 1..100; heavier terms are kept longer during relaxation.
    pub weight: i32,
    /// The term.
    pub pod_affinity_term: PodAffinityTerm,
}

/// A Kubernetes label selector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    /// Labels that must be present with these values.
    #[serde(default)]
    pub match_labels: Labels,
    /// Expressions that must all hold.
    #[serde(default)]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// `{key, operator, values}` of a label selector: `In`, `NotIn`, `Exists`, `DoesNotExist`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    /// Label key.
    pub key: String,
    /// Operator.
    pub operator: String,
    /// Values for `In` and `NotIn`.
    #[serde(default)]
    pub values: Vec<String>,
}

/// A container port; only `hostPort` matters to scheduling.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerPort {
    /// Port inside the container.
    #[serde(default)]
    pub container_port: i32,
    /// Port claimed on the node; 0 claims none.
    #[serde(default)]
    pub host_port: i32,
    /// `TCP` (default), `UDP` or `SCTP`.
    #[serde(default)]
    pub protocol: Option<String>,
    /// Node address the port binds; empty means every address.
    #[serde(default)]
    pub host_ip: String,
}

fn default_namespace() -> String {
    "default".to_string()
}

/// A container's resource requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Container {
    /// Container name.
    #[serde(default)]
    pub name: String,
    /// `resources.requests`.
    #[serde(default)]
    pub requests: ResourceList,
    /// `Always` marks an init container as a sidecar that keeps running beside the app containers.
    #[serde(default)]
    pub restart_policy: Option<String>,
    /// Container ports; host ports must be free on the node.
    #[serde(default)]
    pub ports: Vec<ContainerPort>,
}

/// `spec.affinity.nodeAffinity`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeAffinity {
    /// `requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`: ORed terms.
    #[serde(default)]
    pub required: Vec<NodeSelectorTerm>,
    /// `preferredDuringSchedulingIgnoredDuringExecution`.
    #[serde(default)]
    pub preferred: Vec<PreferredSchedulingTerm>,
}

/// A node selector term: ANDed expressions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSelectorTerm {
    /// Label expressions.
    #[serde(default)]
    pub match_expressions: Vec<NodeSelectorRequirement>,
    /// Field expressions; Karpenter cannot provision for these, so a pod that uses them is reported.
    #[serde(default)]
    pub match_fields: Vec<NodeSelectorRequirement>,
}

/// A weighted preferred term.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreferredSchedulingTerm {
    /// Weight 1..100; heavier terms are kept longer during relaxation.
    pub weight: i32,
    /// The preferred term.
    pub preference: NodeSelectorTerm,
}

/// `{key, operator, values, minValues}` as in NodePool requirements and node affinity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSelectorRequirement {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`, `Gte` or `Lte`.
    pub operator: String,
    /// Values for `In`/`NotIn`; one integer for the comparison operators.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Least number of distinct values the launch options must span (NodePool requirements only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_values: Option<u32>,
}

impl NodeSelectorRequirement {
    /// Builds a requirement from its parts.
    pub fn new(key: impl Into<String>, operator: impl Into<String>, values: &[&str]) -> Self {
        NodeSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
            min_values: None,
        }
    }
}

/// A taint on a node or in a NodePool template.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Taint {
    /// Taint key.
    pub key: String,
    /// Taint value (may be empty).
    #[serde(default)]
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

/// A pod toleration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Toleration {
    /// Key to match; empty with `Exists` matches every taint.
    #[serde(default)]
    pub key: String,
    /// `Equal` (the default) or `Exists`.
    #[serde(default)]
    pub operator: Option<String>,
    /// Value to match for `Equal`.
    #[serde(default)]
    pub value: String,
    /// Effect to match; empty matches every effect.
    #[serde(default)]
    pub effect: Option<String>,
}

/// A NodePool as the solver needs it: its template and limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodePool {
    /// NodePool name.
    pub name: String,
    /// `spec.weight`; higher is tried first, unset is 0.
    #[serde(default)]
    pub weight: Option<i32>,
    /// `spec.template.metadata.labels`.
    #[serde(default)]
    pub labels: Labels,
    /// `spec.template.spec.requirements`.
    #[serde(default)]
    pub requirements: Vec<NodeSelectorRequirement>,
    /// `spec.template.spec.taints`: pods must tolerate these.
    #[serde(default)]
    pub taints: Vec<Taint>,
    /// `spec.template.spec.startupTaints`: put on the node, ignored for scheduling.
    #[serde(default)]
    pub startup_taints: Vec<Taint>,
    /// `spec.limits`: cpu, memory, nodes or any resource.
    #[serde(default)]
    pub limits: ResourceList,
    /// `spec.template.spec.nodeClassRef`.
    #[serde(default)]
    pub node_class_ref: Option<NodeClassRef>,
}

/// Reference to the provider-specific node class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeClassRef {
    /// API group, e.g. `karpenter.k8s.aws`.
    pub group: String,
    /// Kind, e.g. `EC2NodeClass`.
    pub kind: String,
    /// Name of the node class.
    pub name: String,
}

/// A node that exists, or a NodeClaim that is being launched.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExistingNode {
    /// Node (or NodeClaim) name.
    pub name: String,
    /// Node labels; `karpenter.sh/nodepool` ties it to a NodePool's limits.
    #[serde(default)]
    pub labels: Labels,
    /// Node taints.
    #[serde(default)]
    pub taints: Vec<Taint>,
    /// Startup taints of its NodeClaim, ignored until the node is initialised.
    #[serde(default)]
    pub startup_taints: Vec<Taint>,
    /// `status.capacity`, counted against NodePool limits.
    #[serde(default)]
    pub capacity: ResourceList,
    /// `status.allocatable`.
    #[serde(default)]
    pub allocatable: ResourceList,
    /// False for an in-flight NodeClaim or a node that has not finished initialisation.
    #[serde(default = "default_true")]
    pub initialized: bool,
    /// Nodes being deleted take no new pods.
    #[serde(default)]
    pub marked_for_deletion: bool,
    /// Pods already bound to the node.
    #[serde(default)]
    pub pods: Vec<Pod>,
}

fn default_true() -> bool {
    true
}

/// An instance type a NodePool may launch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstanceType {
    /// Instance type name.
    pub name: String,
    /// Labels the node will carry, as requirements (zones and capacity types may list several values).
    #[serde(default)]
    pub requirements: Vec<NodeSelectorRequirement>,
    /// Machine capacity.
    #[serde(default)]
    pub capacity: ResourceList,
    /// Resources held back from pods.
    #[serde(default)]
    pub overhead: Overhead,
    /// Where and how the type can be bought.
    #[serde(default)]
    pub offerings: Vec<Offering>,
}

/// Kubelet and system reservations subtracted from capacity to give allocatable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Overhead {
    /// `kubeReserved`.
    #[serde(default)]
    pub kube_reserved: ResourceList,
    /// `systemReserved`.
    #[serde(default)]
    pub system_reserved: ResourceList,
    /// Hard eviction thresholds.
    #[serde(default)]
    pub eviction_threshold: ResourceList,
}

/// One zone and capacity type an instance type is sold in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Offering {
    /// `topology.kubernetes.io/zone`.
    pub zone: String,
    /// `karpenter.sh/capacity-type`: `on-demand`, `spot` or `reserved`.
    pub capacity_type: String,
    /// Hourly price.
    pub price: f64,
    /// False when the provider knows it cannot be launched now (e.g. insufficient capacity).
    #[serde(default = "default_true")]
    pub available: bool,
    /// Capacity reservation id, for `reserved` offerings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation_id: Option<String>,
    /// Instances still free in the reservation, for `reserved` offerings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation_capacity: Option<u32>,
}
