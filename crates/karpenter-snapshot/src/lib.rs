//! The one mapping from Kubernetes and Karpenter API objects to the solver's model and the catalog's settings,
//! shared by the controller, `karpenter plan` and `karpenter simulate`.
//!
//! Each kind has a small function of its own, usable alone from a reflector store or a file:
//! [`map_pod`] and [`volume_topology`] for pods, [`map_node`] and [`map_node_claim`] for nodes and in-flight
//! NodeClaims, [`map_node_pool`], [`daemon_set_pod`], [`map_namespace`], and [`node_class_settings`] for an
//! EC2NodeClass. The predicates upstream uses to pick pods ([`is_provisionable`], [`is_reschedulable`],
//! [`is_active`], and [`PdbLimits`] with the do-not-disrupt annotation) live here too. A [`Snapshot`] holds a
//! cluster's objects and turns them into a solver [`Problem`](karpenter_solver::model::Problem) for a
//! provisioning round.
//!
//! The mapping translates faithfully and leaves validation to the solver's compile step: a bad quantity or
//! operator is copied and reported by the solver against the field it came from. What cannot be carried into
//! the model at all (a missing name, a volume claim that does not exist, a NodePool minValues that is not a
//! count) is a [`Report`] naming the object, the field and the reason; a bad object never stops the rest.
//!
//! The crate is pure: no Kubernetes client, no async runtime, no clock (the time is an argument).
//!
//! ```
//! use karpenter_snapshot::{Snapshot, RoundOptions};
//!
//! let mut snapshot = Snapshot::new();
//! let reports = snapshot.add(serde_json::json!({
//!     "apiVersion": "v1", "kind": "Pod",
//!     "metadata": {"name": "web", "namespace": "shop"},
//!     "spec": {"containers": [{"name": "app", "resources": {"requests": {"cpu": "1"}}}]},
//!     "status": {"phase": "Pending", "conditions": [
//!         {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}
//! }));
//! assert!(reports.is_empty());
//! let options = RoundOptions { now: "2026-01-01T00:00:00Z".parse().unwrap(), require_ready_node_pools: false };
//! let round = snapshot.provisioning_round(Default::default(), &options);
//! assert_eq!(round.problem.pods[0].containers[0].requests["cpu"], "1");
//! ```

mod convert;
mod daemonset;
mod disruption;
mod disruption_view;
mod duration;
mod node;
mod nodeclass;
mod nodepool;
mod pod;
mod report;
mod snapshot;
mod volume;
mod workloads;
pub mod yaml;

pub use daemonset::{controls, daemon_set_pod, daemon_set_ref, newest_pod};
pub use disruption::{
    DoNotDisrupt, PdbLimits, do_not_disrupt, is_disruptable, is_evictable, tolerates_disrupted_taint,
};
pub use disruption_view::{ViewOptions, cluster_view};
pub use duration::parse_duration;
pub use node::{
    claim_deleting, claim_provider_id, map_node, map_node_claim, node_claim_ref, node_provider_id, node_ref,
    node_tracked,
};
pub use nodeclass::{ProviderFlags, node_class_ref, node_class_settings};
pub use nodepool::{map_namespace, map_node_overlay, map_node_pool, node_pool_in_round, node_pool_ref};
pub use pod::{
    failed_to_schedule, is_active, is_owned_by_daemon_set, is_owned_by_node, is_owned_by_stateful_set,
    is_preempting, is_provisionable, is_reschedulable, is_scheduled, is_terminal, is_terminating, map_pod,
    namespace, node_name, object_ref,
};
pub use report::{Error, ObjectRef, Report, Result};
pub use snapshot::{Round, RoundOptions, Snapshot};
pub use volume::{BIND_COMPLETED, VolumeObjects, volume_topology};
pub use workloads::{
    Workloads, add_daemon_set_node_pods, add_ephemeral_claims, malformed_field, mark_file_pods_unschedulable,
    read_object,
};
