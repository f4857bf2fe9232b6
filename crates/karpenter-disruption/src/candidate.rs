//! Disruption candidates (`kubernetes-sigs/karpenter: pkg/controllers/disruption/types.go` `NewCandidate`,
//! `state/statenode.go` `ValidateNodeDisruptable`, `ValidatePodsDisruptable`).
//!
//! A node is a candidate when Karpenter manages it, it is registered, initialised, not deleting, rebooting or
//! nominated, it carries no `karpenter.sh/do-not-disrupt: "true"`, its NodePool is known, and no pod blocks
//! eviction (do-not-disrupt in force, a PDB with no disruption left, or more than one PDB). Drift ignores pod
//! blockers when the NodeClaim has a terminationGracePeriod; repair ignores them (and the node annotation, and an
//! uninitialised but registered node) and decides later whether its drain bound allows it.

use crate::cluster::{self, Cluster};
use crate::decision::KeptReason;
use crate::view::BoundPod;

/// How a method disrupts, which decides which blockers it respects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Respects every blocker (emptiness, consolidation).
    Graceful,
    /// Bounded by the NodeClaim's terminationGracePeriod (drift).
    Eventual,
    /// Voluntary repair.
    Repair,
}

/// A node that a method may disrupt, with its price and costs.
#[derive(Debug, Clone)]
pub(crate) struct Candidate<'v> {
    pub(crate) node: usize,
    pub(crate) pool: &'v str,
    pub(crate) price: f64,
    /// Σ eviction cost of every pod × the fraction of the node's lifetime remaining.
    pub(crate) disruption_cost: f64,
    /// 1 + Σ positive eviction cost of the reschedulable pods.
    pub(crate) reschedule_cost: f64,
    /// Indices into the node's pods of those that must move.
    pub(crate) reschedulable: Vec<usize>,
    /// Repair only: some pod blocks eviction, so a drain bound is needed.
    pub(crate) has_pod_blockers: bool,
}

impl Candidate<'_> {
    /// `IsEmpty`: no pod adds a positive reschedule cost.
    pub(crate) fn is_empty(&self) -> bool {
        self.reschedule_cost <= 1.0
    }

    /// Price per unit of disruption; higher is disrupted first.
    pub(crate) fn savings_ratio(&self) -> f64 {
        self.price / self.reschedule_cost
    }

    pub(crate) fn pods<'a>(
        &self,
        cluster: &'a Cluster<'_>,
    ) -> impl Iterator<Item = &'a BoundPod> + use<'a, '_> {
        let node = cluster.nodes[self.node].view;
        self.reschedulable.iter().map(move |&i| &node.pods[i])
    }
}

/// Builds the candidate for `node`, or says why it is not one.
pub(crate) fn candidate<'v>(
    cluster: &Cluster<'v>,
    node: usize,
    class: Class,
) -> Result<Candidate<'v>, KeptReason> {
    let info = &cluster.nodes[node];
    let view = info.view;
    if view.node_claim.is_none() {
        return Err(KeptReason::NotManaged);
    }
    if class == Class::Repair && info.pool.is_none_or(str::is_empty) {
        return Err(KeptReason::NoNodePoolLabel);
    }
    if !view.registered {
        return Err(KeptReason::NotRegistered);
    }
    if info.rebooting() {
        return Err(KeptReason::Rebooting);
    }
    if info.deleting() {
        return Err(KeptReason::MarkedForDeletion);
    }
    if !view.initialized && class != Class::Repair {
        return Err(KeptReason::NotInitialized);
    }
    if view.nominated {
        return Err(KeptReason::Nominated);
    }
    if view.annotations.get(cluster::DO_NOT_DISRUPT).is_some_and(|v| v == "true") && class != Class::Repair {
        return Err(KeptReason::NodeDoNotDisrupt);
    }
    let Some(pool_name) = info.pool else {
        return Err(KeptReason::NoNodePoolLabel);
    };
    let Some(pool) = cluster.pools.get(pool_name).filter(|p| !p.instance_types.is_empty()) else {
        return Err(KeptReason::NodePoolNotFound { node_pool: pool_name.to_string() });
    };
    let _ = pool;

    // Pods in a stable order, so the blocker reported does not depend on input order.
    let mut order: Vec<usize> = (0..view.pods.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&view.pods[a].pod, &view.pods[b].pod);
        (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name))
    });
    let blocker = order
        .iter()
        .find_map(|&i| cluster::disruption_blocker(&view.pods[i], cluster.now).map(|b| (i, b)))
        .or_else(|| {
            cluster
                .pdbs
                .eviction_blocker(order.iter().map(|&i| &view.pods[i]), cluster.now)
                .map(|(pod, b)| (view.pods.iter().position(|p| std::ptr::eq(p, pod)).unwrap_or(0), b))
        });
    let mut has_pod_blockers = false;
    if let Some((pod, by)) = blocker {
        let ignored = match class {
            Class::Repair => true,
            Class::Eventual => info.termination_grace_period.is_some(),
            Class::Graceful => false,
        };
        if !ignored {
            return Err(KeptReason::PodBlocks { pod: cluster::pod_ref(&view.pods[pod].pod), by });
        }
        has_pod_blockers = class == Class::Repair;
    }
    let managed_costs = cluster.view.feature_gates.pod_deletion_cost_management;
    let reschedulable: Vec<usize> =
        order.iter().copied().filter(|&i| cluster::is_reschedulable(&view.pods[i])).collect();
    let all_costs: f64 = view.pods.iter().map(|p| cluster::eviction_cost(p, managed_costs)).sum();
    let reschedule_cost = 1.0
        + reschedulable
            .iter()
            .map(|&i| cluster::eviction_cost(&view.pods[i], managed_costs).max(0.0))
            .sum::<f64>();
    Ok(Candidate {
        node,
        pool: pool_name,
        price: info.price,
        disruption_cost: all_costs * cluster::lifetime_remaining(cluster.now, info),
        reschedule_cost,
        reschedulable,
        has_pod_blockers,
    })
}

/// Candidates of every node for a class, in name order, with the reasons of the nodes that are not.
pub(crate) fn all<'v>(cluster: &Cluster<'v>, class: Class) -> (Vec<Candidate<'v>>, Vec<(usize, KeptReason)>) {
    let mut candidates = Vec::new();
    let mut refused = Vec::new();
    for &node in &cluster.by_name {
        match candidate(cluster, node, class) {
            Ok(c) => candidates.push(c),
            Err(reason) => refused.push((node, reason)),
        }
    }
    (candidates, refused)
}

/// Sorts by savings ratio, highest first; equal ratios keep name order (upstream's sort is not stable).
pub(crate) fn sort_by_savings_ratio(candidates: &mut [Candidate<'_>]) {
    candidates.sort_by(|a, b| b.savings_ratio().total_cmp(&a.savings_ratio()));
}
