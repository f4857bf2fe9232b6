//! `karpenter.sh/v1` NodePool: what nodes may be launched, how they may be disrupted, and how many
//! (upstream `pkg/apis/v1/nodepool.go`, `nodepool_status.go`).

#![allow(
    clippy::duplicated_attributes,
    reason = "kube's printcolumn(...) arguments repeat `type_ = \"string\"`, which clippy takes for repeated attributes"
)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Taint;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::nodeclaim::{NodeClassReference, NodeSelectorRequirementWithMinValues};
use crate::schema;
use crate::status::Condition;

/// The desired state of a NodePool.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "karpenter.sh",
    version = "v1",
    kind = "NodePool",
    status = "NodePoolStatus",
    category = "karpenter",
    doc = "A NodePool says which nodes Karpenter may launch for pending pods and how it may disrupt them.",
    printcolumn(name = "NodeClass", type_ = "string", json_path = ".spec.template.spec.nodeClassRef.name"),
    printcolumn(name = "Nodes", type_ = "string", json_path = ".status.nodes"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(name = "Weight", type_ = "integer", json_path = ".spec.weight", priority = 1),
    printcolumn(name = "CPU", type_ = "string", json_path = ".status.resources.cpu", priority = 1),
    printcolumn(name = "Memory", type_ = "string", json_path = ".status.resources.memory", priority = 1),
    scale(spec_replicas_path = ".spec.replicas", status_replicas_path = ".status.nodes")
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    schema::rule("has(self.replicas) == has(oldSelf.replicas)",
        "Cannot transition NodePool between static (replicas set) and dynamic (replicas unset) provisioning modes"),
    schema::rule("!has(self.replicas) || (!has(self.limits) || size(self.limits) == 0 || (size(self.limits) == 1 && 'nodes' in self.limits))",
        "only 'limits.nodes' is supported on static NodePools"),
    schema::rule("!has(self.replicas) || !has(self.weight)", "'weight' is not supported on static NodePools"),
]))]
pub struct NodePoolSpec {
    /// How and when nodes of this pool may be disrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = {"consolidateAfter": "0s"}))]
    pub disruption: Option<Disruption>,
    /// Resource ceilings for all nodes of this pool together (cpu, memory, nodes, or any resource); Karpenter
    /// launches nothing that would exceed them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::resource_list")]
    pub limits: Option<BTreeMap<String, Quantity>>,
    /// A fixed node count (alpha, `StaticCapacity` gate): the pool keeps exactly this many nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub replicas: Option<i64>,
    /// The NodeClaims this pool makes.
    pub template: NodeClaimTemplate,
    /// Pools with a higher weight are tried first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub weight: Option<i32>,
}

/// When nodes may be consolidated, and how many at a time.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Disruption {
    /// Limits on how many nodes may be disrupted at once; the most restrictive active budget wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50), extend(
        "default" = [{"nodes": "10%"}],
        "x-kubernetes-list-type" = "atomic",
        "x-kubernetes-validations" = [schema::rule("self.all(x, has(x.schedule) == has(x.duration))", "'schedule' must be set with 'duration'")],
    ))]
    pub budgets: Option<Vec<Budget>>,
    /// How long a node must go without pods being added or removed before it may be consolidated; `Never`
    /// turns consolidation off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = schema::DURATION_OR_NEVER), extend("default" = "0s"))]
    pub consolidate_after: Option<String>,
    /// Which nodes consolidation may act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "WhenEmptyOrUnderutilized"))]
    pub consolidation_policy: Option<ConsolidationPolicy>,
}

/// Which nodes consolidation may act on.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ConsolidationPolicy {
    /// Only nodes without workload pods.
    WhenEmpty,
    /// Empty nodes and nodes whose pods fit elsewhere or on a cheaper replacement.
    WhenEmptyOrUnderutilized,
    /// Like WhenEmptyOrUnderutilized, but only when the saving is worth the disruption.
    Balanced,
}

/// How many nodes may be disrupted at once, optionally only during a recurring window.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    /// The disruption reasons this budget applies to; all of them when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50), extend("x-kubernetes-list-type" = "set"))]
    pub reasons: Option<Vec<DisruptionReason>>,
    /// A node count or a percentage of the pool's nodes.
    #[schemars(regex(pattern = r"^((100|[0-9]{1,2})%|[0-9]+)$"), extend("default" = "10%"))]
    pub nodes: String,
    /// A cron schedule in UTC (five fields, or `@hourly` .. `@yearly`) at which the budget becomes active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^(@(annually|yearly|monthly|weekly|daily|midnight|hourly))|((.+)\s(.+)\s(.+)\s(.+)\s(.+))$"
    ))]
    pub schedule: Option<String>,
    /// How long the budget stays active after each scheduled start (hours and minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$"))]
    pub duration: Option<String>,
}

/// A reason a node is disrupted, as budgets name them.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
pub enum DisruptionReason {
    /// The node's pods fit elsewhere or on a cheaper node.
    Underutilized,
    /// The node has no workload pods.
    Empty,
    /// The node no longer matches its NodePool or node class.
    Drifted,
    /// The node is being repaired (an unhealthy condition matched a repair policy); budgets with this reason
    /// pace node repair.
    Unhealthy,
}

/// The NodeClaims a NodePool makes: metadata for the nodes and the claim spec without resource requests.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeClaimTemplate {
    /// Labels and annotations for the NodeClaims and nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMetadata>,
    /// The NodeClaim spec.
    pub spec: NodeClaimTemplateSpec,
}

/// Labels and annotations of a NodeClaim template.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateMetadata {
    /// Labels for the NodeClaims and nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::template_labels")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations for the NodeClaims and nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::template_annotations")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A NodeClaim spec as a NodePool template holds it: everything but resource requests.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeClaimTemplateSpec {
    /// Taints for the nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::node_taints")]
    pub taints: Option<Vec<Taint>>,
    /// Startup taints for the nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::startup_taints")]
    pub startup_taints: Option<Vec<Taint>>,
    /// Requirements on node labels.
    #[schemars(schema_with = "schema::node_pool_requirements")]
    pub requirements: Vec<NodeSelectorRequirementWithMinValues>,
    /// The provider's node class for these nodes.
    #[schemars(extend("x-kubernetes-validations" = [
        schema::rule("self.group == oldSelf.group", "nodeClassRef.group is immutable"),
        schema::rule("self.kind == oldSelf.kind", "nodeClassRef.kind is immutable"),
    ]))]
    pub node_class_ref: NodeClassReference,
    /// How long a node may take to drain before its pods are deleted regardless of budgets and PDBs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = schema::DURATION))]
    pub termination_grace_period: Option<String>,
    /// How long a node may live before it is replaced; `Never` keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = schema::DURATION_OR_NEVER), extend("default" = "720h"))]
    pub expire_after: Option<String>,
}

/// The observed state of a NodePool.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodePoolStatus {
    /// Resources of all the pool's nodes together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::resource_list")]
    pub resources: Option<BTreeMap<String, Quantity>>,
    /// Number of nodes the pool has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 0))]
    pub nodes: Option<i64>,
    /// The generation of the node class that the `NodeClassReady` condition reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_class_observed_generation: Option<i64>,
    /// Conditions: `ValidationSucceeded`, `NodeClassReady`, `NodeRegistrationHealthy`, `Ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::node_pool_conditions")]
    pub conditions: Option<Vec<Condition>>,
}
