//! The boundary between the reconcilers and the cluster: [`Cluster`] reads a consistent [`ClusterState`] of
//! every object the controller watches and makes every write it needs. Two implementations: [`KubeCluster`]
//! (reflectors and `kube::Api` writes against a real API server) and [`MemoryCluster`] (an in-memory API server
//! for unit tests and `karpenter simulate`). The reconcilers never see which one they run on.
//!
//! Upstream reads through controller-runtime's informer cache and its in-memory `state.Cluster`
//! (`kubernetes-sigs/karpenter: pkg/controllers/state/cluster.go`); here both are the store's snapshot.

use std::future::Future;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;
use karpenter_api::{Condition, NodeClaim, NodePool};
use karpenter_snapshot::Snapshot;
use tokio::sync::broadcast;

use crate::events::Event;

pub mod kube;
pub mod memory;

pub use self::kube::KubeCluster;
pub use ::kube::runtime::events::Reporter;
pub use memory::MemoryCluster;

/// The kinds of objects the controller watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Pods.
    Pod,
    /// Nodes.
    Node,
    /// NodeClaims.
    NodeClaim,
    /// NodePools.
    NodePool,
    /// The cloud provider's node classes.
    NodeClass,
    /// DaemonSets.
    DaemonSet,
    /// Namespaces.
    Namespace,
    /// PodDisruptionBudgets.
    PodDisruptionBudget,
    /// PersistentVolumeClaims.
    PersistentVolumeClaim,
    /// PersistentVolumes.
    PersistentVolume,
    /// StorageClasses.
    StorageClass,
    /// NodeOverlays (watched only with the `NodeOverlay` feature gate).
    NodeOverlay,
}

/// One object that was added, changed or removed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Change {
    /// Its kind.
    pub kind: Kind,
    /// Its namespace, for namespaced kinds.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
}

/// What the receiver of [`Cluster::changes`] sees: an object, or a notice that changes were missed and every
/// object should be looked at again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// One object changed.
    Changed(Change),
    /// Changes were dropped (the receiver lagged, or a watch restarted): look at everything.
    Resync,
}

/// A node class of the cloud provider, as much of it as the controller reads: whether it exists, is being
/// deleted, and its `Ready` condition. Provider-neutral, so that the operator never names a provider's kinds.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeClass {
    /// API group, such as `karpenter.kwok.sh`.
    pub group: String,
    /// Kind, such as `KWOKNodeClass`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Has a deletion timestamp.
    pub deleting: bool,
    /// Its `Ready` condition.
    pub ready: Option<Condition>,
}

/// Everything the controller reads, at one moment.
#[derive(Debug, Clone, Default)]
pub struct ClusterState {
    /// The Kubernetes and Karpenter objects, in the shape `karpenter-snapshot` maps onto the solver's model.
    /// Objects are shared (`Arc`), so a state is cheap to take.
    pub objects: Snapshot,
    /// The provider's node classes.
    pub node_classes: Vec<Arc<NodeClass>>,
    /// Every watched kind has been listed once: until then the state may miss objects, and nothing that counts
    /// (limits, duplicates, garbage) may be decided.
    pub synced: bool,
}

impl ClusterState {
    /// The NodeClaim of a name.
    pub fn node_claim(&self, name: &str) -> Option<&Arc<NodeClaim>> {
        self.objects.node_claims.iter().find(|c| c.metadata.name.as_deref() == Some(name))
    }

    /// The node of a name.
    pub fn node(&self, name: &str) -> Option<&Arc<Node>> {
        self.objects.nodes.iter().find(|n| n.metadata.name.as_deref() == Some(name))
    }

    /// The NodePool of a name.
    pub fn node_pool(&self, name: &str) -> Option<&Arc<NodePool>> {
        self.objects.node_pools.iter().find(|p| p.metadata.name.as_deref() == Some(name))
    }

    /// The nodes with this provider id.
    pub fn nodes_with_provider_id<'a>(&'a self, provider_id: &'a str) -> impl Iterator<Item = &'a Arc<Node>> {
        self.objects
            .nodes
            .iter()
            .filter(move |n| karpenter_snapshot::node_provider_id(n) == Some(provider_id))
    }

    /// The NodeClaims with this provider id.
    pub fn claims_with_provider_id<'a>(
        &'a self,
        provider_id: &'a str,
    ) -> impl Iterator<Item = &'a Arc<NodeClaim>> {
        self.objects
            .node_claims
            .iter()
            .filter(move |c| karpenter_snapshot::claim_provider_id(c) == Some(provider_id))
    }

    /// The node class of a group, kind and name.
    pub fn node_class(&self, group: &str, kind: &str, name: &str) -> Option<&Arc<NodeClass>> {
        self.node_classes.iter().find(|c| c.group == group && c.kind == kind && c.name == name)
    }
}

/// Why a write failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist (any more).
    #[error("{object} not found")]
    NotFound {
        /// The object, as `Kind/name`.
        object: String,
    },
    /// The write was based on an old version of the object (optimistic lock) or a uid precondition failed.
    #[error("{object} changed meanwhile: {message}")]
    Conflict {
        /// The object.
        object: String,
        /// The API server's words.
        message: String,
    },
    /// An object of that name exists already.
    #[error("{object} already exists")]
    AlreadyExists {
        /// The object.
        object: String,
    },
    /// The eviction would violate a PodDisruptionBudget (the Eviction API's 429), or the pod is under more than
    /// one budget, which the Eviction API refuses.
    #[error("evicting {pod} is refused: {message}")]
    EvictionRefused {
        /// The pod, as `namespace/name`.
        pod: String,
        /// Why.
        message: String,
    },
    /// The API server refused the object as invalid.
    #[error("{object} is invalid: {message}")]
    Invalid {
        /// The object.
        object: String,
        /// Why.
        message: String,
    },
    /// Any other failure: the API server could not be reached, answered with an error, or refused access.
    #[error("{message}")]
    Api {
        /// What failed.
        message: String,
    },
}

/// A write whose object is gone did what it had to: the object it would have changed no longer exists. Every
/// other outcome stays as it was.
pub fn unless_gone<T>(result: std::result::Result<T, StoreError>) -> std::result::Result<(), StoreError> {
    match result {
        Ok(_) => Ok(()),
        Err(error) if error.is_not_found() => Ok(()),
        Err(error) => Err(error),
    }
}

impl StoreError {
    /// True for [`StoreError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    /// True for [`StoreError::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

/// `Result` with a [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The cluster the reconcilers read and write.
///
/// Reads come from [`Cluster::state`], a snapshot kept up to date by watches; writes go to the API server (or
/// its in-memory stand-in) and are reflected in the next snapshot. Every update is an optimistic-lock write: it
/// carries the resource version it was based on and fails with [`StoreError::Conflict`] when the object
/// changed meanwhile. Main-resource updates leave the status alone and status updates leave the rest alone, as
/// the API server's status subresource does.
pub trait Cluster: Send + Sync + 'static {
    /// The objects now.
    fn state(&self) -> Arc<ClusterState>;

    /// A feed of changed objects, for the reconcilers' queues.
    fn changes(&self) -> broadcast::Receiver<Notice>;

    /// Creates a NodeClaim; an empty name with `generateName` set gets a generated one.
    fn create_node_claim(&self, claim: &NodeClaim) -> impl Future<Output = Result<Arc<NodeClaim>>> + Send;

    /// Updates a NodeClaim's metadata and spec.
    fn update_node_claim(&self, claim: &NodeClaim) -> impl Future<Output = Result<Arc<NodeClaim>>> + Send;

    /// Updates a NodeClaim's status.
    fn update_node_claim_status(
        &self,
        claim: &NodeClaim,
    ) -> impl Future<Output = Result<Arc<NodeClaim>>> + Send;

    /// Deletes a NodeClaim (it stays, with a deletion timestamp, while it has finalizers).
    fn delete_node_claim(&self, name: &str) -> impl Future<Output = Result<()>> + Send;

    /// Updates a node's metadata and spec.
    fn update_node(&self, node: &Node) -> impl Future<Output = Result<Arc<Node>>> + Send;

    /// Deletes a node (it stays, with a deletion timestamp, while it has finalizers).
    fn delete_node(&self, name: &str) -> impl Future<Output = Result<()>> + Send;

    /// Updates a NodePool's status.
    fn update_node_pool_status(&self, pool: &NodePool) -> impl Future<Output = Result<Arc<NodePool>>> + Send;

    /// Evicts a pod through the Eviction API: refused with [`StoreError::EvictionRefused`] when a
    /// PodDisruptionBudget does not allow it; [`StoreError::Conflict`] when the pod of that name has another uid.
    fn evict_pod(&self, namespace: &str, name: &str, uid: &str) -> impl Future<Output = Result<()>> + Send;

    /// Deletes a pod with a grace period, whatever its budgets say (a node's termination grace period has run
    /// out).
    fn delete_pod(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        grace_period_seconds: i64,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Publishes an event; the store may do so in the background. Failing to publish is logged, never an error of
    /// the reconciler.
    fn publish(&self, event: Event) -> impl Future<Output = ()> + Send;
}
