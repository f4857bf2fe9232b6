//! Where a class of pods can go, asked of the solver itself: one pod of the class, stripped of its topology terms and
//! pinned to one NodePool, solved alone against a prepared form that ignores preferences, tolerates
//! `PreferNoSchedule` taints and keeps every launch option. The answer (the NodeClaim's launch options with their
//! prices, and its requests) says which instance types and offerings the class is compatible with under the pool's
//! requirements, taints, zones and availability, with the same requirement algebra as every other caller uses, and
//! how much DaemonSet overhead comes with it.
//!
//! Dropping terms only widens what a pod may use, so every probe answer is a superset of where the pod can really
//! go: the bound built on it stays a bound.

use std::sync::Arc;

use karpenter_solver::labels::NODE_POOL;
use karpenter_solver::model::{NodeSelectorRequirement, NodeSelectorTerm, Pod, Toleration};
use karpenter_solver::{Prepared, Round};

use crate::resources::Dims;

/// What the solver answered for one class in one NodePool.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    /// Launch options (instance-type name and the cheapest compatible offering's price), by name.
    pub(crate) options: Vec<(Arc<str>, f64)>,
    /// The smallest DaemonSet overhead among the options, entry by entry, over the batch's dimensions.
    pub(crate) overhead: Vec<i64>,
}

/// Asks the solver where a class can go in `pool`. `None` when the pool takes no pod of the class.
pub(crate) fn probe(
    prepared: &Prepared,
    pool: &str,
    class_probe: &Pod,
    requests: &[i64],
    dims: &Dims,
) -> Option<Answer> {
    let mut options: Vec<(Arc<str>, f64)> = Vec::new();
    let mut overhead: Option<Vec<i64>> = None;
    for pod in variants(class_probe, pool) {
        let plan = prepared.solve(&Round { pods: std::slice::from_ref(&pod), ..Round::default() });
        let Some(claim) = plan.new_node_claims.first() else { continue };
        let Ok(claimed) = dims.parse(&claim.requests) else { continue };
        let found: Vec<i64> = claimed.iter().zip(requests).map(|(c, r)| (c - r).max(0)).collect();
        overhead = Some(match overhead {
            None => found,
            Some(current) => current.iter().zip(&found).map(|(a, b)| (*a).min(*b)).collect(),
        });
        for option in &claim.instance_type_options {
            match options.iter_mut().find(|(name, _)| *name == option.name) {
                Some((_, price)) => *price = price.min(option.price),
                None => options.push((Arc::clone(&option.name), option.price)),
            }
        }
    }
    options.sort_by(|a, b| a.0.cmp(&b.0));
    overhead.map(|overhead| Answer { options, overhead })
}

/// One probe pod per alternative the solver would try one at a time (ORed required node-affinity terms, volume
/// topology alternatives), each pinned to the pool, so that together they cover every alternative.
fn variants(pod: &Pod, pool: &str) -> Vec<Pod> {
    let pin = NodeSelectorRequirement::new(NODE_POOL, "In", &[pool]);
    let terms: Vec<NodeSelectorTerm> = match pod.node_affinity.as_ref().map(|a| &a.required) {
        Some(terms) if !terms.is_empty() => terms
            .iter()
            .map(|t| {
                let mut term = t.clone();
                term.match_expressions.push(pin.clone());
                term
            })
            .collect(),
        _ => vec![NodeSelectorTerm { match_expressions: vec![pin], match_fields: Vec::new() }],
    };
    let volumes: Vec<Vec<NodeSelectorTerm>> = if pod.volume_topology.is_empty() {
        vec![Vec::new()]
    } else {
        pod.volume_topology.iter().map(|v| vec![v.clone()]).collect()
    };
    let mut out = Vec::new();
    for term in &terms {
        for volume in &volumes {
            let mut probe = pod.clone();
            probe.node_affinity = Some(karpenter_solver::model::NodeAffinity {
                required: vec![term.clone()],
                preferred: Vec::new(),
            });
            probe.volume_topology = volume.clone();
            probe.tolerations.push(Toleration {
                operator: Some("Exists".to_string()),
                effect: Some("PreferNoSchedule".to_string()),
                ..Toleration::default()
            });
            out.push(probe);
        }
    }
    out
}
