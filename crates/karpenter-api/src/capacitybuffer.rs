//! `autoscaling.x-k8s.io/v1beta1` CapacityBuffer (alpha, `CapacityBuffer` feature gate): spare capacity to keep
//! ready, as a number of copies ("chunks") of a pod template or a share of a scalable workload's replicas,
//! optionally capped by resource limits. Karpenter schedules virtual pods for the chunks so that nodes with room
//! for them exist before real pods need it. The API is the Cluster Autoscaler's, which upstream Karpenter copies
//! (kubernetes-sigs/karpenter `pkg/apis/autoscaling/v1beta1/capacitybuffer.go` and `constants.go`).
//!
//! This module holds the type and its schema; turning buffers into virtual pods belongs to the provisioner.

#![allow(
    clippy::duplicated_attributes,
    reason = "kube's printcolumn(...) arguments repeat `type_ = \"string\"`, which clippy takes for repeated attributes"
)]

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema;
use crate::status::Condition;

/// The API group of CapacityBuffer.
pub const GROUP: &str = "autoscaling.x-k8s.io";
/// The API version of CapacityBuffer.
pub const VERSION: &str = "v1beta1";
/// The kind.
pub const KIND: &str = "CapacityBuffer";
/// The default (and only) provisioning strategy: keep the buffer as placeholder capacity that scales the cluster.
pub const ACTIVE_CAPACITY: &str = "buffer.x-k8s.io/active-capacity";

/// Condition types on a CapacityBuffer's status.
pub mod condition {
    /// The buffer's spec was resolved into a pod template and a chunk count.
    pub const READY_FOR_PROVISIONING: &str = "ReadyForProvisioning";
    /// The buffer's chunks are being provisioned.
    pub const PROVISIONING: &str = "Provisioning";
    /// The chunk count was cut by the buffer's limits.
    pub const LIMITED_BY_QUOTAS: &str = "LimitedByQuotas";
}

/// The kinds a `scalableRef` may name.
pub mod scalable_kind {
    /// `apps/v1` Deployment.
    pub const DEPLOYMENT: &str = "Deployment";
    /// `apps/v1` StatefulSet.
    pub const STATEFUL_SET: &str = "StatefulSet";
    /// `apps/v1` ReplicaSet.
    pub const REPLICA_SET: &str = "ReplicaSet";
}

/// Annotations on the virtual pods made for a buffer.
pub mod annotation {
    /// Marks a virtual pod made for a CapacityBuffer (value `"true"`).
    pub const FAKE_POD: &str = "karpenter.sh/capacity-buffer-fake-pod";
    /// The name of the buffer a virtual pod was made for.
    pub const BUFFER_NAME: &str = "karpenter.sh/capacity-buffer-name";
    /// The namespace of the buffer a virtual pod was made for.
    pub const BUFFER_NAMESPACE: &str = "karpenter.sh/capacity-buffer-namespace";
}

/// The priority of virtual buffer pods: the lowest there is, so that they are the first thing given up.
pub const VIRTUAL_POD_PRIORITY: i32 = i32::MIN;

/// The desired state of a CapacityBuffer.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "autoscaling.x-k8s.io",
    version = "v1beta1",
    kind = "CapacityBuffer",
    status = "CapacityBufferStatus",
    namespaced,
    category = "autoscaling",
    shortname = "cb",
    doc = "A CapacityBuffer keeps spare capacity ready in the cluster: room for a number of copies of a pod template, or for a share of a workload's replicas.",
    printcolumn(
        name = "Strategy",
        type_ = "string",
        json_path = ".spec.provisioningStrategy",
        description = "How the buffer is provisioned."
    ),
    printcolumn(
        name = "PodTemplate",
        type_ = "string",
        json_path = ".status.podTemplateRef.name",
        description = "The pod template one chunk is made from."
    ),
    printcolumn(
        name = "Replicas",
        type_ = "integer",
        json_path = ".status.replicas",
        description = "The number of chunks provisioned."
    ),
    printcolumn(
        name = "ConditionsType",
        type_ = "string",
        json_path = ".status.conditions[*].type",
        description = "The condition types."
    ),
    printcolumn(
        name = "ConditionsStatus",
        type_ = "string",
        json_path = ".status.conditions[*].status",
        description = "The condition statuses."
    ),
    printcolumn(
        name = "ConditionsReason",
        type_ = "string",
        json_path = ".status.conditions[*].reason",
        description = "The condition reasons."
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "How long ago the buffer was created."
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    schema::rule("!has(self.podTemplateRef) || has(self.replicas) || has(self.limits)",
        "If podTemplateRef is set, replicas or limits must also be set"),
    schema::rule("!(has(self.podTemplateRef) && has(self.scalableRef))",
        "You must define either PodTemplateRef or ScalableRef, but not both"),
]))]
pub struct CapacityBufferSpec {
    /// How the buffer is provisioned; `buffer.x-k8s.io/active-capacity` (placeholder pods that scale the
    /// cluster up) by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = ACTIVE_CAPACITY))]
    pub provisioning_strategy: Option<String>,
    /// A PodTemplate in the buffer's namespace: the shape of one chunk. Exactly one of `podTemplateRef` and
    /// `scalableRef` is expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template_ref: Option<LocalObjectRef>,
    /// A workload with a scale subresource (Deployment, StatefulSet, ReplicaSet) whose pod template is the shape of
    /// one chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalable_ref: Option<ScalableRef>,
    /// The number of chunks. With `percentage` as well, upstream's controller takes the larger of the two (its
    /// field documentation says the smaller); `limits` caps either; with neither, as many chunks as fit in
    /// `limits`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub replicas: Option<i32>,
    /// The number of chunks as a percentage of the `scalableRef` workload's replicas, rounded up (and at least 1
    /// when both are positive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub percentage: Option<i32>,
    /// A ceiling on the chunks' total resource requests (cpu, memory, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::resource_list")]
    pub limits: Option<BTreeMap<String, Quantity>>,
}

/// A reference to an object in the buffer's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectRef {
    /// The object's name.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// A reference to an object with a scale subresource.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScalableRef {
    /// The object's API group; empty or unset for the core group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// The object's kind.
    #[schemars(length(min = 1))]
    pub kind: String,
    /// The object's name.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// The observed state of a CapacityBuffer.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapacityBufferStatus {
    /// The PodTemplate the buffer was provisioned from (for a `scalableRef`, one made from the workload's
    /// template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template_ref: Option<LocalObjectRef>,
    /// The number of chunks provisioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// The generation of the PodTemplate the status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template_generation: Option<i64>,
    /// Conditions: `ReadyForProvisioning`, `Provisioning`, `LimitedByQuotas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::capacity_buffer_conditions")]
    pub conditions: Option<Vec<Condition>>,
    /// The provisioning strategy in effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_strategy: Option<String>,
}

impl CapacityBufferSpec {
    /// The strategy in effect: the one set, or the default.
    pub fn strategy(&self) -> &str {
        self.provisioning_strategy.as_deref().unwrap_or(ACTIVE_CAPACITY)
    }
}
