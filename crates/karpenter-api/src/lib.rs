//! The custom resources users already write for Karpenter — `karpenter.sh/v1` NodePool and NodeClaim,
//! `karpenter.k8s.aws/v1` EC2NodeClass, the alpha `karpenter.sh/v1alpha1` NodeOverlay and
//! `autoscaling.x-k8s.io/v1beta1` CapacityBuffer, and the KWOK provider's `karpenter.kwok.sh/v1alpha1`
//! KWOKNodeClass — with their CRDs and drift hashes, so that upstream manifests apply unchanged and NodeClaims
//! launched by upstream Karpenter are not seen as drifted; and the feature gates that switch the alpha APIs on.
//!
//! The types follow upstream's Go API (release v1.15) field for field (`pkg/apis/v1`, `v1alpha1` and
//! `autoscaling/v1beta1` in kubernetes-sigs/karpenter, `pkg/apis/v1` in aws/karpenter-provider-aws). Optional
//! fields are `Option`s, lists and maps included, so that an absent list and an empty one stay distinct: the
//! drift hash tells them apart, as upstream's does.
//!
//! Install the definitions from [`crds::all`] (or `karpenter crds`), not from kube's `NodePool::crd()`: the
//! latter is schemars' raw output, which [`crds::all`] brings to upstream's exact shape.
//!
//! ```
//! let pool: karpenter_api::NodePool = serde_norway::from_str(
//!     r#"
//! apiVersion: karpenter.sh/v1
//! kind: NodePool
//! metadata: {name: default}
//! spec:
//!   template:
//!     spec:
//!       requirements: [{key: kubernetes.io/arch, operator: In, values: [arm64]}]
//!       nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
//!       expireAfter: 720h
//! "#,
//! )
//! .unwrap();
//! // The value upstream Karpenter writes into `karpenter.sh/nodepool-hash` for this template
//! // (computed by upstream's own code, tools/hash-oracle).
//! assert_eq!(pool.hash().unwrap(), "6821555240594823858");
//! ```

pub mod capacitybuffer;
pub mod crds;
mod ec2nodeclass;
mod features;
mod hash;
pub mod kwok;
pub mod labels;
mod nodeclaim;
pub mod nodeoverlay;
mod nodepool;
mod schema;
mod status;
mod validation;

pub use capacitybuffer::{
    CapacityBuffer, CapacityBufferSpec, CapacityBufferStatus, LocalObjectRef, ScalableRef,
};
pub use ec2nodeclass::{
    Ami, AmiFamily, AmiRequirement, AmiSelectorTerm, BlockDevice, BlockDeviceMapping, CapacityReservation,
    CapacityReservationSelectorTerm, CapacityReservationState, CapacityReservationType, ConnectionTracking,
    CpuOptions, EC2NodeClass, EC2NodeClassSpec, EC2NodeClassStatus, EnabledDisabled, EnclaveOptions,
    HttpTokens, InstanceMatchCriteria, InstanceStorePolicy, InterfaceType, MetadataOptions, NetworkInterface,
    PlacementGroupSelector, SecurityGroup, SecurityGroupSelectorTerm, Subnet, SubnetSelectorTerm, VolumeType,
};
pub use features::{FEATURE_GATES, FeatureGate, FeatureGateError, FeatureGates};
pub use hash::Error as HashError;
pub use kwok::{KWOKNodeClass, KWOKNodeClassSpec, KWOKNodeClassStatus};
pub use nodeclaim::{
    NodeClaim, NodeClaimSpec, NodeClaimStatus, NodeClassReference, NodeSelectorOperator,
    NodeSelectorRequirementWithMinValues, ResourceRequirements,
};
pub use nodeoverlay::{NodeOverlay, NodeOverlayRequirement, NodeOverlaySpec, NodeOverlayStatus, PriceChange};
pub use nodepool::{
    Budget, ConsolidationPolicy, Disruption, DisruptionReason, NodeClaimTemplate, NodeClaimTemplateSpec,
    NodePool, NodePoolSpec, NodePoolStatus, TemplateMetadata,
};
pub use status::Condition;
pub use validation::FieldError;
