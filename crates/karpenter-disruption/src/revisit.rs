//! When a pass that found nothing to do must be run again even if the cluster does not change: the next instant at
//! which the passage of time alone can change a decision.
//!
//! Upstream keeps a "consolidated" state (`kubernetes-sigs/karpenter: pkg/controllers/state/cluster.go`,
//! `ConsolidationState`, and `pkg/controllers/disruption/consolidation.go`, `IsConsolidated`): once the
//! consolidation methods find nothing, they are skipped until the cluster changes or five minutes pass. There, a
//! node becoming consolidatable is itself a change (the nodeclaim disruption controller flips its `Consolidatable`
//! condition). Here the engine reads every deadline from the view against `now`, so a caller that skips passes
//! over an unchanged cluster asks [`next_change`] how long the answer holds.

use crate::budget;
use crate::cluster::{self, Cluster};
use crate::decision::PodBlocker;
use crate::view::{ClusterView, Timestamp};

/// The earliest instant after `view.now` at which a deadline in the view runs out: a node's `consolidateAfter`, a
/// NodeClaim's `expireAfter`, a pod's do-not-disrupt duration, a repair policy's toleration, or a disruption
/// budget's schedule turning on or off. `None` when nothing in the view depends on the time.
pub fn next_change(view: &ClusterView) -> Option<Timestamp> {
    let cluster = Cluster::new(view);
    let now = cluster.now;
    let mut deadlines: Vec<Timestamp> = Vec::new();
    for node in &cluster.nodes {
        deadlines.extend(cluster.under_consolidate_after(node));
        if let (Some(claim), Some(after), None) =
            (node.view.node_claim.as_ref(), node.expire_after, node.expired_at)
        {
            let rounding = i64::from(after.0 % 1_000_000_000 != 0);
            deadlines.push(claim.created.saturating_add(after.whole_seconds()).saturating_add(rounding));
        }
        if let Some(Ok(matcher)) = cluster.repair.as_ref() {
            deadlines.extend(matcher.resolve(node, now).next_eligible);
        }
    }
    for pod in view.nodes.iter().flat_map(|node| &node.pods) {
        if let Some(PodBlocker::DoNotDisrupt { until: Some(until), .. }) = cluster::do_not_disrupt(pod, now) {
            deadlines.push(until);
        }
    }
    for pool in &view.node_pools {
        for budget in pool.disruption.budgets.iter().flatten() {
            deadlines.extend(budget::next_switch(budget, now));
        }
    }
    deadlines.into_iter().filter(|&at| at > now).min()
}
