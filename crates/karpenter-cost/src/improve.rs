//! The improvement phase: the rounded LP solution's nodes become bins, each pod of the batch is pinned to its bin,
//! and the solver places the pinned batch. Pinning is a requirement `BIN_KEY In <bin>` (the bins' NodePools accept
//! the key with `Exists`) and one on the pod's NodePool, added to the pod's volume topology (see [`pin`]), so pods of
//! different bins never share a NodeClaim while every other decision stays the solver's: which pods of a bin share a
//! NodeClaim given their topology terms and host ports, zones, limits, minValues, and the launch options (every
//! instance type that fits the bin's pods, cheapest first, as many as upstream keeps). The bin key is then taken off
//! the NodeClaims.
//!
//! Pods the first fit put on existing nodes go into the same solve unpinned (they land where they did unless the
//! solver finds otherwise); pods it could not place are left out and keep the first fit's reasons.

use std::collections::{BTreeMap, HashSet};

use karpenter_solver::labels::NODE_POOL;
use karpenter_solver::model::{NodeSelectorRequirement, NodeSelectorTerm, Pod};
use karpenter_solver::plan::PodRef;
use karpenter_solver::{Plan, Round};

use crate::lp::Column;
use crate::model::Batch;
use crate::{BIN_KEY, CostEngine};

/// Places the batch by the rounded packing (`counts[j]` nodes of `columns[j]`). An error says why the
/// re-packing cannot stand (a pod the first fit placed would stay pending).
pub(crate) fn repack(
    engine: &CostEngine,
    round: &Round<'_>,
    first: &Plan,
    batch: &Batch,
    columns: &[Column],
    counts: &[u32],
) -> Result<Plan, String> {
    let bins = crate::assign::assign(round.pods, batch, columns, counts)?;
    let mut bin_of: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for (b, (pool, pods)) in bins.iter().enumerate() {
        for &p in pods {
            bin_of.insert(p, (b, *pool));
        }
    }
    let pending: HashSet<PodRef> = first.unschedulable.iter().map(|u| u.pod.clone()).collect();
    let pods: Vec<Pod> = round
        .pods
        .iter()
        .enumerate()
        .filter(|(_, pod)| !pending.contains(&PodRef::of(pod)))
        .map(|(i, pod)| {
            let mut pod = pod.clone();
            if let Some(&(bin, pool)) = bin_of.get(&i) {
                pin(&mut pod, &format!("b{bin}"), &engine.pools[pool]);
            }
            pod
        })
        .collect();
    let mut plan = engine.pinned.solve(&Round {
        pods: &pods,
        nodes: round.nodes,
        namespaces: round.namespaces,
        clock: None,
    });
    if let Some(left) = plan.unschedulable.first() {
        return Err(format!(
            "the re-packing leaves {} pod(s) pending that the first fit placed, {} among them: {}",
            plan.unschedulable.len(),
            left.pod,
            left.reason
        ));
    }
    for claim in &mut plan.new_node_claims {
        claim.requirements.retain(|r| r.key != BIN_KEY);
        claim.labels.remove(BIN_KEY);
    }
    plan.unschedulable = first.unschedulable.clone();
    plan.input_errors = first.input_errors.clone();
    Ok(plan)
}

/// Pins a pod to its bin and NodePool through its volume topology: a requirement there narrows the NodeClaim like a
/// node selector does, but is not part of the node selector and required affinity that topology spread constraints
/// filter domains by (`nodeAffinityPolicy: Honor`) or that group their counts, so spreads count across bins as
/// they would without the pin. Each of the pod's own volume alternatives gets the pin added.
fn pin(pod: &mut Pod, bin: &str, pool: &str) {
    let requirements = [
        NodeSelectorRequirement::new(BIN_KEY, "In", &[bin]),
        NodeSelectorRequirement::new(NODE_POOL, "In", &[pool]),
    ];
    if pod.volume_topology.is_empty() {
        pod.volume_topology.push(NodeSelectorTerm::default());
    }
    for alternative in &mut pod.volume_topology {
        alternative.match_expressions.extend(requirements.iter().cloned());
    }
}
