//! Well-known names that users and other controllers already rely on: labels, annotations, taints, finalizers
//! and condition types, spelled exactly as upstream (`pkg/apis/v1/labels.go`, `taints.go`, `nodeclaim_status.go`,
//! `nodepool_status.go` in kubernetes-sigs/karpenter; `pkg/apis/v1/labels.go` and `ec2nodeclass_status.go` in
//! aws/karpenter-provider-aws).

/// The API group of NodePool and NodeClaim, and the domain of Karpenter's own labels.
pub const GROUP: &str = "karpenter.sh";
/// The API group of EC2NodeClass, and the domain of the AWS provider's labels.
pub const AWS_GROUP: &str = "karpenter.k8s.aws";

/// Labels Karpenter puts on nodes and that pods may select.
pub mod label {
    /// The NodePool a node was launched for.
    pub const NODE_POOL: &str = "karpenter.sh/nodepool";
    /// `on-demand`, `spot` or `reserved`.
    pub const CAPACITY_TYPE: &str = "karpenter.sh/capacity-type";
    /// Set once the node has registered with the API server.
    pub const REGISTERED: &str = "karpenter.sh/registered";
    /// Set once the node is ready with its startup taints removed and resources registered.
    pub const INITIALIZED: &str = "karpenter.sh/initialized";
    /// Asks Karpenter not to copy NodeClaim taints onto the node.
    pub const DO_NOT_SYNC_TAINTS: &str = "karpenter.sh/do-not-sync-taints";
    /// Put on a node while it drains so that load balancers stop sending it traffic.
    pub const EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS: &str =
        "node.kubernetes.io/exclude-from-external-load-balancers";

    /// Kubernetes' zone label.
    pub const ZONE: &str = "topology.kubernetes.io/zone";
    /// Kubernetes' region label.
    pub const REGION: &str = "topology.kubernetes.io/region";
    /// Kubernetes' instance-type label.
    pub const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
    /// Kubernetes' architecture label (`amd64`, `arm64`).
    pub const ARCH: &str = "kubernetes.io/arch";
    /// Kubernetes' operating-system label.
    pub const OS: &str = "kubernetes.io/os";
    /// Kubernetes' Windows build label.
    pub const WINDOWS_BUILD: &str = "node.kubernetes.io/windows-build";
    /// Kubernetes' hostname label; a NodePool may not set or require it.
    pub const HOSTNAME: &str = "kubernetes.io/hostname";

    /// Labels that every instance type is described by, and that a NodePool may require without defining.
    pub const WELL_KNOWN: [&str; 8] =
        [NODE_POOL, ZONE, REGION, INSTANCE_TYPE, ARCH, OS, CAPACITY_TYPE, WINDOWS_BUILD];

    /// Capacity type values.
    pub const CAPACITY_TYPE_ON_DEMAND: &str = "on-demand";
    /// Capacity type values.
    pub const CAPACITY_TYPE_SPOT: &str = "spot";
    /// Capacity type values.
    pub const CAPACITY_TYPE_RESERVED: &str = "reserved";

    /// The AWS provider's instance labels (`karpenter.k8s.aws/...`), which NodePool requirements commonly use.
    pub mod aws {
        /// The EC2NodeClass a node was launched from.
        pub const EC2_NODE_CLASS: &str = "karpenter.k8s.aws/ec2nodeclass";
        /// The zone id (`use1-az1`) of the node's zone.
        pub const ZONE_ID: &str = "topology.k8s.aws/zone-id";
        /// Instance category, such as `c`, `m`, `r`, `t`.
        pub const INSTANCE_CATEGORY: &str = "karpenter.k8s.aws/instance-category";
        /// Instance family, such as `m7g`.
        pub const INSTANCE_FAMILY: &str = "karpenter.k8s.aws/instance-family";
        /// Instance generation, an integer.
        pub const INSTANCE_GENERATION: &str = "karpenter.k8s.aws/instance-generation";
        /// Instance size, such as `large`.
        pub const INSTANCE_SIZE: &str = "karpenter.k8s.aws/instance-size";
        /// Whether the type has the `flex` capability.
        pub const INSTANCE_CAPABILITY_FLEX: &str = "karpenter.k8s.aws/instance-capability-flex";
        /// Hypervisor, `nitro` or `xen`.
        pub const INSTANCE_HYPERVISOR: &str = "karpenter.k8s.aws/instance-hypervisor";
        /// Whether traffic between such instances is encrypted in transit.
        pub const INSTANCE_ENCRYPTION_IN_TRANSIT_SUPPORTED: &str =
            "karpenter.k8s.aws/instance-encryption-in-transit-supported";
        /// Whether Nitro Enclaves are supported.
        pub const INSTANCE_NITRO_ENCLAVES_SUPPORTED: &str = "karpenter.k8s.aws/nitro-sandbox";
        /// Local NVMe storage in GiB.
        pub const INSTANCE_LOCAL_NVME: &str = "karpenter.k8s.aws/instance-local-nvme";
        /// vCPU count.
        pub const INSTANCE_CPU: &str = "karpenter.k8s.aws/instance-cpu";
        /// CPU manufacturer: `intel`, `amd`, `aws`, `apple`.
        pub const INSTANCE_CPU_MANUFACTURER: &str = "karpenter.k8s.aws/instance-cpu-manufacturer";
        /// Sustained clock speed in MHz.
        pub const INSTANCE_CPU_SUSTAINED_CLOCK_SPEED_MHZ: &str =
            "karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz";
        /// Memory in MiB.
        pub const INSTANCE_MEMORY: &str = "karpenter.k8s.aws/instance-memory";
        /// EBS bandwidth in Mbps.
        pub const INSTANCE_EBS_BANDWIDTH: &str = "karpenter.k8s.aws/instance-ebs-bandwidth";
        /// Network bandwidth in Mbps.
        pub const INSTANCE_NETWORK_BANDWIDTH: &str = "karpenter.k8s.aws/instance-network-bandwidth";
        /// GPU name, lower case.
        pub const INSTANCE_GPU_NAME: &str = "karpenter.k8s.aws/instance-gpu-name";
        /// GPU manufacturer, lower case.
        pub const INSTANCE_GPU_MANUFACTURER: &str = "karpenter.k8s.aws/instance-gpu-manufacturer";
        /// GPU count.
        pub const INSTANCE_GPU_COUNT: &str = "karpenter.k8s.aws/instance-gpu-count";
        /// GPU memory in MiB.
        pub const INSTANCE_GPU_MEMORY: &str = "karpenter.k8s.aws/instance-gpu-memory";
        /// Accelerator name, lower case.
        pub const INSTANCE_ACCELERATOR_NAME: &str = "karpenter.k8s.aws/instance-accelerator-name";
        /// Accelerator manufacturer, lower case.
        pub const INSTANCE_ACCELERATOR_MANUFACTURER: &str =
            "karpenter.k8s.aws/instance-accelerator-manufacturer";
        /// Accelerator count.
        pub const INSTANCE_ACCELERATOR_COUNT: &str = "karpenter.k8s.aws/instance-accelerator-count";
        /// Tenancy, `default` or `dedicated`.
        pub const INSTANCE_TENANCY: &str = "karpenter.k8s.aws/instance-tenancy";
        /// Capacity reservation id of a reserved offering.
        pub const CAPACITY_RESERVATION_ID: &str = "karpenter.k8s.aws/capacity-reservation-id";
        /// Capacity reservation type, `default` or `capacity-block`.
        pub const CAPACITY_RESERVATION_TYPE: &str = "karpenter.k8s.aws/capacity-reservation-type";
        /// Whether the capacity reservation is interruptible.
        pub const CAPACITY_RESERVATION_INTERRUPTIBLE: &str =
            "karpenter.k8s.aws/capacity-reservation-interruptible";
        /// Placement group id.
        pub const PLACEMENT_GROUP_ID: &str = "karpenter.k8s.aws/placement-group-id";
        /// Placement group partition number.
        pub const PLACEMENT_GROUP_PARTITION: &str = "karpenter.k8s.aws/placement-group-partition";
    }
}

/// Annotations Karpenter reads or writes.
pub mod annotation {
    /// On a pod (`"true"` or a duration) or a node: do not disrupt voluntarily.
    pub const DO_NOT_DISRUPT: &str = "karpenter.sh/do-not-disrupt";
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
}

/// Taint keys Karpenter puts on nodes.
pub mod taint {
    /// `NoSchedule`, while a node is being disrupted or terminated.
    pub const DISRUPTED: &str = "karpenter.sh/disrupted";
    /// `NoExecute`, until the node has registered.
    pub const UNREGISTERED: &str = "karpenter.sh/unregistered";
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
