//! What consolidation shares (`kubernetes-sigs/karpenter: pkg/controllers/disruption/consolidation.go`,
//! `balanced.go`, `multinodeconsolidation.go` `filterOutSameInstanceType`): the candidate filter, the simulation
//! that turns candidates into a delete or a single cheaper replacement, the price rules, and the Balanced score.

use std::collections::{BTreeMap, BTreeSet};

use karpenter_solver::labels;
use karpenter_solver::model::{InstanceType, NodeSelectorRequirement, Offering};
use karpenter_solver::plan::{InstanceTypeOption, NewNodeClaim};

use crate::candidate::Candidate;
use crate::cluster::{Cluster, Policy};
use crate::decision::{Action, KeptReason, PodFailure};
use crate::simulate::{self, Outcome, Simulator};

/// Spot-to-spot single-node consolidation needs this many cheaper types, and launches from that many.
pub(crate) const MIN_SPOT_TO_SPOT_TYPES: usize = 15;

/// The Balanced policy's k: a move passes when its score reaches 1/k.
pub(crate) const BALANCED_K: f64 = 2.0;

/// The consolidation filter (`consolidation.ShouldDisrupt`), as the reason a candidate is left out.
pub(crate) fn refusal(cluster: &Cluster<'_>, c: &Candidate<'_>) -> Option<KeptReason> {
    let node = &cluster.nodes[c.node];
    let pool = cluster.pools.get(c.pool)?;
    if pool.is_static {
        return Some(KeptReason::StaticNodePool);
    }
    if node.instance_type.is_none() {
        return Some(KeptReason::UnknownInstanceType {
            instance_type: node.label(labels::INSTANCE_TYPE).unwrap_or("").to_string(),
        });
    }
    if node.label(labels::CAPACITY_TYPE).is_none() {
        return Some(KeptReason::MissingLabel { label: labels::CAPACITY_TYPE.to_string() });
    }
    if node.label(labels::ZONE).is_none() {
        return Some(KeptReason::MissingLabel { label: labels::ZONE.to_string() });
    }
    if pool.consolidate_after.is_none() {
        return Some(KeptReason::ConsolidationDisabled);
    }
    // Empty nodes belong to emptiness, which budgets them under their own reason; no message, as upstream.
    if c.is_empty() {
        return Some(KeptReason::NoAction);
    }
    if pool.policy == Policy::WhenEmpty {
        return Some(KeptReason::WhenEmptyNotEmpty);
    }
    if !cluster.consolidatable(node) {
        return Some(match cluster.under_consolidate_after(node) {
            Some(until) => KeptReason::ConsolidateAfterNotElapsed { until },
            None => KeptReason::NotInitialized,
        });
    }
    None
}

/// A consolidation the simulation found, before any method-specific filter.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub(crate) action: Action,
    pub(crate) replacement: Option<NewNodeClaim>,
    pub(crate) outcome: Outcome,
}

/// `computeConsolidation`: simulate removing the candidates and apply the price rules.
pub(crate) fn compute(
    cluster: &Cluster<'_>,
    simulator: &dyn Simulator,
    candidates: &[&Candidate<'_>],
) -> Result<Found, KeptReason> {
    let outcome = simulate::run(
        cluster,
        simulator,
        candidates,
        simulate::Options { consolidation: true, ..Default::default() },
    );
    if !outcome.failures.is_empty() {
        let more = outcome.failures.len().saturating_sub(5);
        return Err(KeptReason::PodsWouldNotFit {
            pods: outcome.failures.iter().take(5).cloned().collect(),
            more,
        });
    }
    if let Some(node) = &outcome.uninitialized {
        return Err(KeptReason::WouldUseUninitializedNode { node: node.clone() });
    }
    if outcome.new_claims.is_empty() {
        return Ok(Found { action: Action::Delete, replacement: None, outcome });
    }
    if outcome.new_claims.len() > 1 {
        return Err(KeptReason::NeedsMultipleReplacements { count: outcome.new_claims.len() });
    }
    let source_price: f64 = candidates.iter().map(|c| c.price).sum();
    let all_spot = candidates
        .iter()
        .all(|c| cluster.nodes[c.node].label(labels::CAPACITY_TYPE) == Some(labels::CAPACITY_TYPE_SPOT));
    let types = types_of(cluster, &outcome.new_claims[0]);
    let mut claim = outcome.new_claims[0].clone();
    order_by_price(&mut claim, &types);
    let replacement =
        if all_spot && admits(&claim.requirements, labels::CAPACITY_TYPE, labels::CAPACITY_TYPE_SPOT) {
            spot_to_spot(cluster, claim, &types, source_price, candidates.len())?
        } else {
            let mut claim = remove_by_price(claim, &types, source_price)?;
            if claim.instance_type_options.is_empty() {
                return Err(KeptReason::NotCheaper);
            }
            // The options were priced as spot; if spot and on-demand were both allowed, insist on spot so that a spot
            // shortage cannot launch a pricier on-demand node instead.
            if admits(&claim.requirements, labels::CAPACITY_TYPE, labels::CAPACITY_TYPE_SPOT)
                && admits(&claim.requirements, labels::CAPACITY_TYPE, labels::CAPACITY_TYPE_ON_DEMAND)
            {
                restrict(&mut claim, labels::CAPACITY_TYPE, labels::CAPACITY_TYPE_SPOT);
                reprice(&mut claim, &types);
            }
            claim
        };
    Ok(Found { action: Action::Replace, replacement: Some(replacement), outcome })
}

fn spot_to_spot(
    cluster: &Cluster<'_>,
    mut claim: NewNodeClaim,
    types: &BTreeMap<String, &InstanceType>,
    source_price: f64,
    candidates: usize,
) -> Result<NewNodeClaim, KeptReason> {
    if !cluster.view.feature_gates.spot_to_spot_consolidation {
        return Err(KeptReason::SpotToSpotDisabled);
    }
    restrict(&mut claim, labels::CAPACITY_TYPE, labels::CAPACITY_TYPE_SPOT);
    let requirements = claim.requirements.clone();
    claim.instance_type_options.retain(|o| {
        types.get(&*o.name).is_some_and(|it| {
            it.offerings.iter().any(|of| of.available && offering_compatible(of, &requirements))
        })
    });
    let mut claim = remove_by_price(claim, types, source_price)?;
    if claim.instance_type_options.is_empty() {
        return Err(KeptReason::NotCheaper);
    }
    reprice(&mut claim, types);
    if candidates > 1 {
        return Ok(claim);
    }
    if claim.instance_type_options.len() < MIN_SPOT_TO_SPOT_TYPES {
        return Err(KeptReason::SpotToSpotTooFewOptions { cheaper: claim.instance_type_options.len() });
    }
    // Launching from only the cheapest 15 (or as many as minValues needs) keeps whatever the provider picks inside
    // the set the next pass would consider, so spot-to-spot does not chase its own tail.
    let keep = if has_min_values(&claim) {
        MIN_SPOT_TO_SPOT_TYPES.max(min_values_prefix(&claim, types).unwrap_or(0))
    } else {
        MIN_SPOT_TO_SPOT_TYPES
    };
    claim.instance_type_options.truncate(keep);
    Ok(claim)
}

/// The instance types behind a claim's options.
pub(crate) fn types_of<'v>(
    cluster: &Cluster<'v>,
    claim: &NewNodeClaim,
) -> BTreeMap<String, &'v InstanceType> {
    let Some(pool) = cluster.pools.get(claim.node_pool.as_str()) else { return BTreeMap::new() };
    claim
        .instance_type_options
        .iter()
        .filter_map(|o| pool.instance_types.get(&*o.name).map(|it| (o.name.to_string(), *it)))
        .collect()
}

/// Whether every requirement on `key` admits `value` (no requirement admits everything).
pub(crate) fn admits(requirements: &[NodeSelectorRequirement], key: &str, value: &str) -> bool {
    requirements.iter().filter(|r| r.key == key).all(|r| match r.operator.as_str() {
        "In" => r.values.iter().any(|v| v == value),
        "NotIn" => !r.values.iter().any(|v| v == value),
        "Exists" => true,
        "DoesNotExist" => false,
        _ => true,
    })
}

fn restrict(claim: &mut NewNodeClaim, key: &str, value: &str) {
    claim.requirements.retain(|r| r.key != key);
    claim.requirements.push(NodeSelectorRequirement::new(key, "In", &[value]));
    claim.requirements.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.operator.cmp(&b.operator)));
}

fn offering_compatible(offering: &Offering, requirements: &[NodeSelectorRequirement]) -> bool {
    admits(requirements, labels::ZONE, &offering.zone)
        && admits(requirements, labels::CAPACITY_TYPE, &offering.capacity_type)
}

/// Available, and for a reservation, with room left (`Offering.Launchable`).
fn launchable(offering: &Offering) -> bool {
    offering.available
        && (offering.capacity_type != labels::CAPACITY_TYPE_RESERVED
            || offering.reservation_capacity.unwrap_or(0) > 0)
}

/// The cheapest launchable offering compatible with the requirements.
pub(crate) fn launch_price(it: &InstanceType, requirements: &[NodeSelectorRequirement]) -> Option<f64> {
    it.offerings
        .iter()
        .filter(|o| launchable(o) && offering_compatible(o, requirements))
        .map(|o| o.price)
        .min_by(f64::total_cmp)
}

/// `WorstLaunchPrice`: among launchable compatible offerings of the first capacity type present in the order
/// reserved, spot, on-demand, the most expensive.
fn worst_launch_price(it: &InstanceType, requirements: &[NodeSelectorRequirement]) -> f64 {
    for capacity_type in
        [labels::CAPACITY_TYPE_RESERVED, labels::CAPACITY_TYPE_SPOT, labels::CAPACITY_TYPE_ON_DEMAND]
    {
        let worst = it
            .offerings
            .iter()
            .filter(|o| {
                launchable(o) && o.capacity_type == capacity_type && offering_compatible(o, requirements)
            })
            .map(|o| o.price)
            .max_by(f64::total_cmp);
        if let Some(worst) = worst {
            return worst;
        }
    }
    f64::MAX
}

/// `OrderByPrice`: cheapest launchable compatible offering first; the sort is stable.
fn order_by_price(claim: &mut NewNodeClaim, types: &BTreeMap<String, &InstanceType>) {
    reprice(claim, types);
    claim.instance_type_options.sort_by(|a, b| a.price.total_cmp(&b.price));
}

/// Sets each option's price to its cheapest launchable offering under the claim's current requirements.
fn reprice(claim: &mut NewNodeClaim, types: &BTreeMap<String, &InstanceType>) {
    let requirements = claim.requirements.clone();
    for option in &mut claim.instance_type_options {
        option.price =
            types.get(&*option.name).and_then(|it| launch_price(it, &requirements)).unwrap_or(f64::MAX);
    }
}

/// `RemoveInstanceTypeOptionsByPriceAndMinValues`: keep the options whose worst launch price is strictly below
/// `max_price`, then check minValues.
fn remove_by_price(
    mut claim: NewNodeClaim,
    types: &BTreeMap<String, &InstanceType>,
    max_price: f64,
) -> Result<NewNodeClaim, KeptReason> {
    let requirements = claim.requirements.clone();
    claim
        .instance_type_options
        .retain(|o| types.get(&*o.name).is_some_and(|it| worst_launch_price(it, &requirements) < max_price));
    if has_min_values(&claim) && min_values_prefix(&claim, types).is_none() {
        return Err(KeptReason::MinValues {
            message: "the cheaper instance types do not satisfy the NodePool's minValues".to_string(),
        });
    }
    Ok(claim)
}

fn has_min_values(claim: &NewNodeClaim) -> bool {
    claim.instance_type_min_values.is_some() || claim.requirements.iter().any(|r| r.min_values.is_some())
}

/// The shortest prefix of the options that satisfies every minValues (`SatisfiesMinValues`), or `None`.
fn min_values_prefix(claim: &NewNodeClaim, types: &BTreeMap<String, &InstanceType>) -> Option<usize> {
    let mut wanted: Vec<(&str, usize)> = claim
        .requirements
        .iter()
        .filter_map(|r| r.min_values.map(|m| (r.key.as_str(), m as usize)))
        .collect();
    if let Some(m) = claim.instance_type_min_values {
        wanted.push((labels::INSTANCE_TYPE, m as usize));
    }
    let mut seen: Vec<BTreeSet<String>> = vec![BTreeSet::new(); wanted.len()];
    for (i, option) in claim.instance_type_options.iter().enumerate() {
        for ((key, _), values) in wanted.iter().zip(&mut seen) {
            if *key == labels::INSTANCE_TYPE {
                values.insert(option.name.to_string());
            } else if let Some(it) = types.get(&*option.name) {
                for r in it.requirements.iter().filter(|r| r.key == *key && r.operator == "In") {
                    values.extend(r.values.iter().cloned());
                }
            }
        }
        if wanted.iter().zip(&seen).all(|((_, m), values)| values.len() >= *m) {
            return Some(i + 1);
        }
    }
    None
}

/// `filterOutSameInstanceType`: when a replacement option is the type of a node being removed, replacing is only
/// worth it below that node's price; otherwise deleting the other nodes alone would do.
pub(crate) fn filter_out_same_type(
    cluster: &Cluster<'_>,
    candidates: &[&Candidate<'_>],
    mut claim: NewNodeClaim,
) -> Result<NewNodeClaim, KeptReason> {
    let mut existing: BTreeMap<&str, f64> = BTreeMap::new();
    for c in candidates {
        let node = &cluster.nodes[c.node];
        let Some(it) = node.instance_type else { continue };
        let entry = existing.entry(it.name.as_str()).or_insert(f64::MAX);
        let zone = node.label(labels::ZONE);
        let capacity_type = node.label(labels::CAPACITY_TYPE);
        let compatible = it.offerings.iter().filter(|o| {
            zone.is_none_or(|z| z == o.zone) && capacity_type.is_none_or(|ct| ct == o.capacity_type)
        });
        if let Some(price) = compatible.map(|o| o.price).min_by(f64::total_cmp) {
            *entry = entry.min(price);
        }
    }
    let max_price = claim
        .instance_type_options
        .iter()
        .filter_map(|o| existing.get(&*o.name).copied())
        .fold(f64::MAX, f64::min);
    let types = types_of(cluster, &claim);
    claim = remove_by_price(claim, &types, max_price)?;
    if claim.instance_type_options.is_empty() {
        return Err(KeptReason::NotCheaper);
    }
    Ok(claim)
}

/// `EstimatedSavings`: source price minus, per replacement, its cheapest launchable compatible offering.
pub(crate) fn savings(
    cluster: &Cluster<'_>,
    candidates: &[&Candidate<'_>],
    replacements: &[NewNodeClaim],
) -> f64 {
    let source: f64 = candidates.iter().map(|c| c.price).sum();
    let destination: f64 = replacements
        .iter()
        .filter_map(|claim| {
            let first: &InstanceTypeOption = claim.instance_type_options.first()?;
            let pool = cluster.pools.get(claim.node_pool.as_str())?;
            pool.instance_types.get(&*first.name).and_then(|it| launch_price(it, &claim.requirements))
        })
        .sum();
    source - destination
}

/// Per-NodePool totals the Balanced score normalises against (`computeNodePoolTotals`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PoolTotals {
    pub(crate) cost: f64,
    pub(crate) disruption: f64,
}

/// Totals over every node of each pool: the price of its NodeClaims, and the disruption cost of every node (the
/// candidate's reschedule cost when it is one).
pub(crate) fn pool_totals(
    cluster: &Cluster<'_>,
    candidates: &[Candidate<'_>],
) -> BTreeMap<String, PoolTotals> {
    let by_node: BTreeMap<usize, &Candidate<'_>> = candidates.iter().map(|c| (c.node, c)).collect();
    let managed_costs = cluster.view.feature_gates.pod_deletion_cost_management;
    let mut totals: BTreeMap<String, PoolTotals> = BTreeMap::new();
    let mut fallback: BTreeMap<&str, f64> = BTreeMap::new();
    for c in candidates {
        *fallback.entry(c.pool).or_default() += c.price;
    }
    for (i, node) in cluster.nodes.iter().enumerate() {
        let Some(pool) = node.pool else { continue };
        let entry = totals.entry(pool.to_string()).or_default();
        entry.disruption += match by_node.get(&i) {
            Some(c) => c.reschedule_cost,
            None => crate::cluster::node_disruption_cost(node.view, managed_costs),
        };
        if node.managed() {
            entry.cost += node.price;
        }
    }
    for (pool, entry) in &mut totals {
        if entry.cost <= 0.0 {
            entry.cost = fallback.get(pool.as_str()).copied().unwrap_or(0.0);
        }
    }
    totals
}

/// `ScoreMove`: (savings / pool cost) ÷ (move disruption / pool disruption); 0 for no savings or no totals.
pub(crate) fn score(savings: f64, disruption: f64, totals: PoolTotals) -> f64 {
    if totals.cost <= 0.0 || totals.disruption <= 0.0 {
        return 0.0;
    }
    let savings_fraction = savings / totals.cost;
    let disruption_fraction = disruption / totals.disruption;
    if savings_fraction <= 0.0 {
        0.0
    } else if disruption_fraction == 0.0 {
        f64::INFINITY
    } else {
        savings_fraction / disruption_fraction
    }
}

/// `EvaluateBalancedMove`: every Balanced pool among the candidates must approve its share of the move.
pub(crate) fn balanced_approval(
    cluster: &Cluster<'_>,
    totals: &BTreeMap<String, PoolTotals>,
    candidates: &[&Candidate<'_>],
    savings: f64,
) -> Result<(), KeptReason> {
    let mut by_pool: BTreeMap<&str, Vec<&Candidate<'_>>> = BTreeMap::new();
    for c in candidates {
        by_pool.entry(c.pool).or_default().push(c);
    }
    let source: f64 = candidates.iter().map(|c| c.price).sum();
    for (pool, members) in &by_pool {
        if cluster.pools.get(pool).is_none_or(|p| p.policy != Policy::Balanced) {
            continue;
        }
        let pool_cost: f64 = members.iter().map(|c| c.price).sum();
        let share = if source > 0.0 && by_pool.len() > 1 { savings * (pool_cost / source) } else { savings };
        let disruption: f64 = members.iter().map(|c| c.reschedule_cost).sum();
        let value = score(share, disruption, totals.get(*pool).copied().unwrap_or_default());
        if value < 1.0 / BALANCED_K {
            return Err(KeptReason::BalancedScore { score: value, threshold: 1.0 / BALANCED_K });
        }
    }
    Ok(())
}

/// `CanPassThreshold`: whether even deleting the candidate outright could pass its pool's Balanced score.
pub(crate) fn can_pass_threshold(
    cluster: &Cluster<'_>,
    totals: &BTreeMap<String, PoolTotals>,
    c: &Candidate<'_>,
) -> Result<(), KeptReason> {
    if cluster.pools.get(c.pool).is_none_or(|p| p.policy != Policy::Balanced) {
        return Ok(());
    }
    let Some(pool_totals) = totals.get(c.pool).filter(|t| t.cost > 0.0) else { return Ok(()) };
    let value = score(c.price, c.reschedule_cost, *pool_totals);
    if value < 1.0 / BALANCED_K {
        return Err(KeptReason::BalancedScore { score: value, threshold: 1.0 / BALANCED_K });
    }
    Ok(())
}

/// Keeps the first five failures for a reason.
pub(crate) fn would_not_fit(failures: &[PodFailure]) -> KeptReason {
    KeptReason::PodsWouldNotFit {
        pods: failures.iter().take(5).cloned().collect(),
        more: failures.len().saturating_sub(5),
    }
}
