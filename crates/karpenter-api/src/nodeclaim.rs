//! `karpenter.sh/v1` NodeClaim: one node Karpenter has decided to launch, from request to registration
//! (upstream `pkg/apis/v1/nodeclaim.go`, `nodeclaim_status.go`).

#![allow(
    clippy::duplicated_attributes,
    reason = "kube's printcolumn(...) arguments repeat `type_ = \"string\"`, which clippy takes for repeated attributes"
)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Taint;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema;
use crate::status::Condition;

/// The desired state of a NodeClaim; immutable once created.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "karpenter.sh",
    version = "v1",
    kind = "NodeClaim",
    status = "NodeClaimStatus",
    category = "karpenter",
    doc = "A NodeClaim is a request for one node: the instance types it may be, and the machine that became it.",
    printcolumn(
        name = "Type",
        type_ = "string",
        json_path = r".metadata.labels.node\.kubernetes\.io/instance-type"
    ),
    printcolumn(
        name = "Capacity",
        type_ = "string",
        json_path = r".metadata.labels.karpenter\.sh/capacity-type"
    ),
    printcolumn(
        name = "Zone",
        type_ = "string",
        json_path = r".metadata.labels.topology\.kubernetes\.io/zone"
    ),
    printcolumn(name = "Node", type_ = "string", json_path = ".status.nodeName"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(name = "ImageID", type_ = "string", json_path = ".status.imageID", priority = 1),
    printcolumn(name = "ID", type_ = "string", json_path = ".status.providerID", priority = 1),
    printcolumn(
        name = "NodePool",
        type_ = "string",
        json_path = r".metadata.labels.karpenter\.sh/nodepool",
        priority = 1
    ),
    printcolumn(name = "NodeClass", type_ = "string", json_path = ".spec.nodeClassRef.name", priority = 1),
    printcolumn(
        name = "Drifted",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Drifted")].status"#,
        priority = 1
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [schema::rule("self == oldSelf", "spec is immutable")]))]
pub struct NodeClaimSpec {
    /// Taints for the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::node_taints")]
    pub taints: Option<Vec<Taint>>,
    /// Startup taints for the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::startup_taints")]
    pub startup_taints: Option<Vec<Taint>>,
    /// Requirements on node labels: the instance types, zones and capacity types the node may have.
    #[schemars(schema_with = "schema::node_claim_requirements")]
    pub requirements: Vec<NodeSelectorRequirementWithMinValues>,
    /// The resources the node must be able to offer its pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// The provider's node class for this node.
    pub node_class_ref: NodeClassReference,
    /// How long the node may take to drain before its pods are deleted regardless of budgets and PDBs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = schema::DURATION))]
    pub termination_grace_period: Option<String>,
    /// How long the node may live before it is replaced; `Never` keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = schema::DURATION_OR_NEVER), extend("default" = "720h"))]
    pub expire_after: Option<String>,
}

/// Resource requests of a NodeClaim.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirements {
    /// The least resources the node must be able to offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::resource_list")]
    pub requests: Option<BTreeMap<String, Quantity>>,
}

/// A reference to the provider's node class object, such as an EC2NodeClass.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeClassReference {
    /// The kind of the node class, such as `EC2NodeClass`.
    #[schemars(extend("x-kubernetes-validations" = [schema::rule("self != ''", "kind may not be empty")]))]
    pub kind: String,
    /// The name of the node class.
    #[schemars(extend("x-kubernetes-validations" = [schema::rule("self != ''", "name may not be empty")]))]
    pub name: String,
    /// The API group of the node class, such as `karpenter.k8s.aws`.
    #[schemars(regex(pattern = r"^[^/]*$"), extend("x-kubernetes-validations" = [schema::rule("self != ''", "group may not be empty")]))]
    pub group: String,
}

/// A node selector requirement, with the least number of distinct values the NodeClaim's instance types must span.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorRequirementWithMinValues {
    /// The node label.
    pub key: String,
    /// How the label relates to the values.
    pub operator: NodeSelectorOperator,
    /// The values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// The least number of distinct values of the key the NodeClaim's instance types must span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_values: Option<i64>,
}

/// The operators of a node selector requirement, with Karpenter's `Gte` and `Lte`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
pub enum NodeSelectorOperator {
    /// The label has one of the values.
    In,
    /// The label is missing or has none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is missing.
    DoesNotExist,
    /// The label is an integer greater than the value.
    Gt,
    /// The label is an integer less than the value.
    Lt,
    /// The label is an integer greater than or equal to the value.
    Gte,
    /// The label is an integer less than or equal to the value.
    Lte,
}

/// The observed state of a NodeClaim.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeClaimStatus {
    /// The name of the node that registered for this claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// The cloud provider's id of the machine.
    #[serde(rename = "providerID", default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// The image the machine runs.
    #[serde(rename = "imageID", default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// The machine's resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::resource_list")]
    pub capacity: Option<BTreeMap<String, Quantity>>,
    /// The machine's resources available to pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::resource_list")]
    pub allocatable: Option<BTreeMap<String, Quantity>>,
    /// Conditions: `Launched`, `Registered`, `Initialized`, `Ready`, `Drifted`, `Consolidatable` and others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::node_claim_conditions")]
    pub conditions: Option<Vec<Condition>>,
    /// When a pod was last bound to or removed from the node; consolidateAfter counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pod_event_time: Option<Time>,
}
