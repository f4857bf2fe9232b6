//! Well-known names that users and other controllers already rely on: labels, annotations, taints, finalizers
//! and condition types, spelled exactly as upstream (`pkg/apis/v1/labels.go`, `taints.go`, `nodeclaim_status.go`,
//! `nodepool_status.go` in kubernetes-sigs/karpenter; `pkg/apis/v1/labels.go` and `ec2nodeclass_status.go` in
//! aws/karpenter-provider-aws).

/// The API group of NodePool and NodeClaim, and the domain of Karpenter's own labels.
pub const GROUP: &str = "karpenter.sh";
/// The API group of EC2NodeClass, and the domain of the AWS provider's labels.
pub const AWS_GROUP: &str = "karpenter.k8s.aws";

/// Labels Karpenter puts on nodes and that pods may select. The scheduling labels are the solver's and the AWS
/// instance labels the catalog's, re-exported here so that there is one spelling of each.
pub mod label {
    pub use karpenter_solver::labels::{
        ARCH, CAPACITY_TYPE, CAPACITY_TYPE_ON_DEMAND, CAPACITY_TYPE_RESERVED, CAPACITY_TYPE_SPOT, HOSTNAME,
        INITIALIZED, INSTANCE_TYPE, NODE_POOL, OS, REGION, REGISTERED, WELL_KNOWN, WINDOWS_BUILD, ZONE,
    };

    /// The AWS provider's labels (`karpenter.k8s.aws/instance-family`, `topology.k8s.aws/zone-id`, ...) and
    /// extended resource names.
    pub use karpenter_catalog::labels as aws;

    /// Asks Karpenter not to copy NodeClaim taints onto the node.
    pub const DO_NOT_SYNC_TAINTS: &str = "karpenter.sh/do-not-sync-taints";
    /// Put on a node while it drains so that load balancers stop sending it traffic.
    pub const EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS: &str =
        "node.kubernetes.io/exclude-from-external-load-balancers";
    /// The EC2NodeClass a node was launched from.
    pub const EC2_NODE_CLASS: &str = "karpenter.k8s.aws/ec2nodeclass";

    /// The label naming a node's node class: `<group>/<kind in lower case>`, such as
    /// `karpenter.k8s.aws/ec2nodeclass` for an EC2NodeClass.
    pub fn node_class(group: &str, kind: &str) -> String {
        format!("{group}/{}", kind.to_lowercase())
    }
}

/// Annotations Karpenter reads or writes.
pub mod annotation {
    /// On a pod (`"true"` or a duration) or a node: do not disrupt voluntarily.
    pub const DO_NOT_DISRUPT: &str = "karpenter.sh/do-not-disrupt";
    /// On a node or NodeClaim (`"true"`): do not repair it, whatever `do-not-disrupt` says (v1.15).
    pub const DO_NOT_REPAIR: &str = "karpenter.sh/do-not-repair";
    /// On a pod: an int32 cost of evicting it; consolidation prefers nodes whose pods cost less (v1.15).
    pub const DISRUPTION_COST: &str = "karpenter.sh/disruption-cost";
    /// On a NodeClaim: the node's boot id before Karpenter asked for a reboot (v1.15).
    pub const REBOOT_PRE_BOOT_ID: &str = "karpenter.sh/reboot-pre-boot-id";
    /// On a NodeClaim: how long the drain before a reboot may take (v1.15).
    pub const REBOOT_TERMINATION_GRACE_PERIOD: &str = "karpenter.sh/reboot-termination-grace-period";
    /// The drift hash of the NodePool template a NodeClaim was made from.
    pub const NODE_POOL_HASH: &str = "karpenter.sh/nodepool-hash";
    /// The version of the NodePool hash scheme.
    pub const NODE_POOL_HASH_VERSION: &str = "karpenter.sh/nodepool-hash-version";
    /// When a deleting NodeClaim's termination grace period runs out.
    pub const NODE_CLAIM_TERMINATION_TIMESTAMP: &str = "karpenter.sh/nodeclaim-termination-timestamp";
    /// Set when a NodeClaim was launched with minValues relaxed (`MIN_VALUES_POLICY=BestEffort`).
    pub const NODE_CLAIM_MIN_VALUES_RELAXED: &str = "karpenter.sh/nodeclaim-min-values-relaxed";
    /// The DRA drivers a NodeClaim's pods asked for.
    pub const REQUESTED_DRA_DRIVERS: &str = "karpenter.sh/requested-dra-drivers";
    /// The drift hash of the EC2NodeClass a NodeClaim was launched from.
    pub const EC2_NODE_CLASS_HASH: &str = "karpenter.k8s.aws/ec2nodeclass-hash";
    /// The version of the EC2NodeClass hash scheme.
    pub const EC2_NODE_CLASS_HASH_VERSION: &str = "karpenter.k8s.aws/ec2nodeclass-hash-version";
    /// The instance profile Karpenter manages for an EC2NodeClass with a role.
    pub const INSTANCE_PROFILE_NAME: &str = "karpenter.k8s.aws/instance-profile-name";
    /// Set on a NodeClaim once its instance carries its tags.
    pub const INSTANCE_TAGGED: &str = "karpenter.k8s.aws/tagged";
    /// On an EC2NodeClass: how NVIDIA GPUs are shared as DRA consumable capacity (needs the AWS provider's
    /// `DRANVIDIAGPU` gate; v1.15).
    pub const NVIDIA_CONSUMABLE_CAPACITY: &str = "karpenter.k8s.aws/nvidia-consumable-capacity";
}

/// Taints Karpenter puts on nodes.
pub mod taint {
    use k8s_openapi::api::core::v1::Taint;

    /// Key of the `NoSchedule` taint a node carries while it is being disrupted or terminated.
    pub const DISRUPTED: &str = "karpenter.sh/disrupted";
    /// Key of the `NoExecute` taint a node carries until it has registered.
    pub const UNREGISTERED: &str = "karpenter.sh/unregistered";
    /// Key of the `NoSchedule` taint a node carries from a reboot request until it boots again (v1.15).
    pub const REBOOTING: &str = "karpenter.sh/rebooting";

    /// The taint of a node being disrupted or terminated: no new pods.
    pub fn disrupted() -> Taint {
        Taint { key: DISRUPTED.into(), effect: "NoSchedule".into(), ..Taint::default() }
    }

    /// The taint of a node being rebooted: no new pods until it is back.
    pub fn rebooting() -> Taint {
        Taint { key: REBOOTING.into(), effect: "NoSchedule".into(), ..Taint::default() }
    }

    /// The taint of a node that has not registered yet.
    pub fn unregistered() -> Taint {
        Taint { key: UNREGISTERED.into(), effect: "NoExecute".into(), ..Taint::default() }
    }
}

/// Finalizers Karpenter puts on its objects.
pub mod finalizer {
    /// On NodeClaims and nodes: the instance must be terminated first.
    pub const TERMINATION: &str = "karpenter.sh/termination";
    /// On EC2NodeClasses: NodeClaims and the instance profile must be gone first.
    pub const AWS_TERMINATION: &str = "karpenter.k8s.aws/termination";
}

/// Condition types on the status of each kind.
pub mod condition {
    /// Every kind: the roll-up of its other conditions.
    pub const READY: &str = "Ready";
    /// NodePool and EC2NodeClass: the spec passed validation.
    pub const VALIDATION_SUCCEEDED: &str = "ValidationSucceeded";
    /// NodePool: the referenced node class exists and is ready.
    pub const NODE_CLASS_READY: &str = "NodeClassReady";
    /// NodePool: recent launches registered, so there is no misconfiguration to investigate.
    pub const NODE_REGISTRATION_HEALTHY: &str = "NodeRegistrationHealthy";

    /// NodeClaim: the cloud provider created the instance.
    pub const LAUNCHED: &str = "Launched";
    /// NodeClaim: the node joined the cluster.
    pub const REGISTERED: &str = "Registered";
    /// NodeClaim: the node is ready with startup taints gone and resources registered.
    pub const INITIALIZED: &str = "Initialized";
    /// NodeClaim: quiet for consolidateAfter, so consolidation may consider it.
    pub const CONSOLIDATABLE: &str = "Consolidatable";
    /// NodeClaim: no longer matches its NodePool or node class.
    pub const DRIFTED: &str = "Drifted";
    /// NodeClaim: its node has been drained.
    pub const DRAINED: &str = "Drained";
    /// NodeClaim: its node's volumes are detached.
    pub const VOLUMES_DETACHED: &str = "VolumesDetached";
    /// NodeClaim: its instance is terminating.
    pub const INSTANCE_TERMINATING: &str = "InstanceTerminating";
    /// NodeClaim: its node's shape matches what was launched.
    pub const CONSISTENT_STATE_FOUND: &str = "ConsistentStateFound";
    /// NodeClaim: why a disruption command is running against it.
    pub const DISRUPTION_REASON: &str = "DisruptionReason";
    /// NodeClaim: a reboot was requested, issued, or finished (the reason says which; v1.15).
    pub const REBOOTING: &str = "Rebooting";

    /// EC2NodeClass: subnets were found.
    pub const SUBNETS_READY: &str = "SubnetsReady";
    /// EC2NodeClass: security groups were found.
    pub const SECURITY_GROUPS_READY: &str = "SecurityGroupsReady";
    /// EC2NodeClass: images were found.
    pub const AMIS_READY: &str = "AMIsReady";
    /// EC2NodeClass: the instance profile exists.
    pub const INSTANCE_PROFILE_READY: &str = "InstanceProfileReady";
    /// EC2NodeClass: capacity reservations were resolved (only with the `ReservedCapacity` gate).
    pub const CAPACITY_RESERVATIONS_READY: &str = "CapacityReservationsReady";
    /// EC2NodeClass: the placement group was resolved.
    pub const PLACEMENT_GROUP_READY: &str = "PlacementGroupReady";
}

/// The versions of the drift hash schemes; a NodeClaim whose version differs is re-hashed, not drifted.
pub mod hash_version {
    /// Version of `karpenter.sh/nodepool-hash`.
    pub const NODE_POOL: &str = "v3";
    /// Version of `karpenter.k8s.aws/ec2nodeclass-hash`.
    pub const EC2_NODE_CLASS: &str = "v6";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_class_label_is_the_group_and_the_lower_case_kind() {
        assert_eq!(label::node_class(AWS_GROUP, "EC2NodeClass"), label::EC2_NODE_CLASS);
    }
}
