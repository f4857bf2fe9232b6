//! The boundary through which the controller, the disruption engine and `karpenter simulate` launch and
//! delete machines: the [`CloudProvider`] trait, the [`Error`] taxonomy the core branches on, the pure
//! [`launch_order`] every provider tries offerings in, and the [`Metered`] decorator; and the provider-neutral
//! half of interruption handling ([`interruption`]: the [`InterruptionQueue`] a provider delivers [`Notice`]s
//! through, and what each [`NoticeKind`] makes the controller do). With the `test-util` feature, a programmable
//! `fake::FakeProvider`, a `fake_queue::FakeQueue` and the trait's `contract` suite.
//!
//! The trait follows upstream's `CloudProvider` interface (`kubernetes-sigs/karpenter:
//! pkg/cloudprovider/types.go`) method for method, but trades small provider-neutral types instead of
//! NodeClaim objects: a [`LaunchRequest`] goes in, an [`Instance`] comes out, and instance types are the
//! solver's own [`karpenter_solver::model::InstanceType`]. No provider depends on the CRD types, and this
//! crate depends on neither kube nor an async runtime nor any cloud SDK
//! (`docs/design/0007-cloud-provider-boundary.md`).
//!
//! ```
//! use karpenter_cloud::{CloudProvider, Error};
//!
//! /// Deletes a machine until nothing is left of it; NotFound is success, so a repeated call is harmless.
//! async fn terminate(provider: &impl CloudProvider, provider_id: &str) -> Result<(), Error> {
//!     while provider.delete(provider_id).await? == karpenter_cloud::Deletion::Terminating {}
//!     Ok(())
//! }
//! ```

use std::future::Future;

use karpenter_solver::model::NodePool;

mod error;
pub mod interruption;
mod metered;
mod order;
mod types;

#[cfg(feature = "test-util")]
pub mod contract;
#[cfg(feature = "test-util")]
pub mod fake;
#[cfg(feature = "test-util")]
pub mod fake_queue;

pub use error::{Error, Result};
pub use interruption::{
    InterruptionQueue, Notice, NoticeAction, NoticeEvent, NoticeHandle, NoticeKind, instance_id,
    names_instance,
};
pub use metered::{Counters, Metered, Method, MethodStats, Observer};
pub use order::{Candidate, LaunchOrder, OrderError, instance_labels, launch_order, with_unavailable};
pub use types::{
    ConditionStatus, Deletion, DriftQuery, DriftReason, Instance, InstanceTypes, LaunchRequest,
    NodeClassKind, OfferingKey, RepairPolicy,
};

/// A cloud that launches and deletes machines for NodeClaims.
///
/// Methods that talk to the cloud are asynchronous and their futures are `Send`, so that a controller generic
/// over `P: CloudProvider` can run them on a multi-threaded runtime. Implementations may write them as
/// `async fn`. Errors are [`Error`]s; see each method for the variants it may return.
pub trait CloudProvider: Send + Sync {
    /// Launches one machine for a NodeClaim, trying the request's offerings cheapest first (see
    /// [`launch_order`]), and reports what was launched. Fails with [`Error::InsufficientCapacity`] naming
    /// the offerings that had no capacity, [`Error::NodeClassNotReady`], or [`Error::Launch`].
    fn create(&self, request: &LaunchRequest) -> impl Future<Output = Result<Instance>> + Send;

    /// Starts or checks the termination of a machine. Idempotent: a machine that does not exist (any more) is
    /// [`Deletion::Gone`], never an error, so the core calls it until it answers `Gone`.
    fn delete(&self, provider_id: &str) -> impl Future<Output = Result<Deletion>> + Send;

    /// The machine with this provider id; [`Error::NotFound`] when there is none or it is terminating.
    fn get(&self, provider_id: &str) -> impl Future<Output = Result<Instance>> + Send;

    /// Every machine this provider runs for the cluster and is not terminating, for garbage collection.
    fn list(&self) -> impl Future<Output = Result<Vec<Instance>>> + Send;

    /// Every instance type the NodePool may launch, offerings that are unavailable now included (marked
    /// `available: false`), so that the core can tell "not now" from "never".
    fn instance_types(&self, node_pool: &NodePool) -> impl Future<Output = Result<InstanceTypes>> + Send;

    /// Why the provider considers a launched NodeClaim drifted from its node class, or `None`.
    fn is_drifted(&self, query: &DriftQuery) -> impl Future<Output = Result<Option<DriftReason>>> + Send;

    /// The node conditions that, held long enough, make a node be replaced (node repair).
    fn repair_policies(&self) -> Vec<RepairPolicy>;

    /// The provider's name, for logs and metric labels (`aws`, `kwok`, `fake`).
    fn name(&self) -> &str;

    /// The node-class kinds NodePools may name for this provider; the first is the default.
    fn node_classes(&self) -> Vec<NodeClassKind>;
}

/// Forwards every method through a pointer, so that `&P` and `Arc<P>` are providers too (a test keeps a
/// handle on the fake it gave the controller).
macro_rules! forward_through_pointer {
    ($($pointer:ty),*) => {$(
        impl<P: CloudProvider> CloudProvider for $pointer {
            fn create(&self, request: &LaunchRequest) -> impl Future<Output = Result<Instance>> + Send {
                (**self).create(request)
            }

            fn delete(&self, provider_id: &str) -> impl Future<Output = Result<Deletion>> + Send {
                (**self).delete(provider_id)
            }

            fn get(&self, provider_id: &str) -> impl Future<Output = Result<Instance>> + Send {
                (**self).get(provider_id)
            }

            fn list(&self) -> impl Future<Output = Result<Vec<Instance>>> + Send {
                (**self).list()
            }

            fn instance_types(
                &self,
                node_pool: &NodePool,
            ) -> impl Future<Output = Result<InstanceTypes>> + Send {
                (**self).instance_types(node_pool)
            }

            fn is_drifted(
                &self,
                query: &DriftQuery,
            ) -> impl Future<Output = Result<Option<DriftReason>>> + Send {
                (**self).is_drifted(query)
            }

            fn repair_policies(&self) -> Vec<RepairPolicy> {
                (**self).repair_policies()
            }

            fn name(&self) -> &str {
                (**self).name()
            }

            fn node_classes(&self) -> Vec<NodeClassKind> {
                (**self).node_classes()
            }
        }
    )*};
}

forward_through_pointer!(&P, std::sync::Arc<P>);
