//! The controller's settings, with upstream's defaults (`kubernetes-sigs/karpenter: pkg/operator/options`,
//! `pkg/controllers/nodeclaim/lifecycle/liveness.go`, `pkg/controllers/nodeclaim/garbagecollection`).

use std::time::Duration;

use karpenter_api::FeatureGates;
use karpenter_solver::SolverConfig;

use crate::batcher::BatchWindow;

/// How the reconcilers behave.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The provisioning batch window (`BATCH_IDLE_DURATION`, `BATCH_MAX_DURATION`).
    pub batch: BatchWindow,
    /// Solver settings: `PREFERENCE_POLICY`, `MIN_VALUES_POLICY`, and the provider's well-known labels.
    pub solver: SolverConfig,
    /// A NodeClaim that has not launched this long after creation is deleted.
    pub launch_timeout: Duration,
    /// A NodeClaim whose node has not registered this long after launch is deleted.
    pub registration_timeout: Duration,
    /// How long a node that received pods in a round is nominated (kept from disruption).
    pub nomination: Duration,
    /// How often NodeClaims without an instance and instances without a NodeClaim are looked for.
    pub garbage_collection_interval: Duration,
    /// An instance without a NodeClaim younger than this is left alone: its NodeClaim may not be written yet.
    pub orphan_instance_grace: Duration,
    /// How many NodeClaims, nodes and NodePools are reconciled at once, each.
    pub workers: usize,
    /// `FEATURE_GATES`: of the gates, this controller acts on `NodeOverlay`.
    pub features: FeatureGates,
}

impl Default for Settings {
    fn default() -> Self {
        let batch = BatchWindow::default();
        Settings {
            batch,
            solver: SolverConfig::default(),
            launch_timeout: Duration::from_secs(5 * 60),
            registration_timeout: Duration::from_secs(15 * 60),
            nomination: (batch.max * 2).max(Duration::from_secs(10)),
            garbage_collection_interval: Duration::from_secs(2 * 60),
            orphan_instance_grace: Duration::from_secs(30),
            workers: 16,
            features: FeatureGates::default(),
        }
    }
}
