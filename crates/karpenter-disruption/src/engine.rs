//! One disruption pass (`kubernetes-sigs/karpenter: pkg/controllers/disruption/controller.go` and the methods in
//! `repair.go`, `emptiness.go`, `staticdrift.go`, `drift.go`, `multinodeconsolidation.go`,
//! `singlenodeconsolidation.go`).
//!
//! The methods run in upstream's order and the first that produces commands ends the pass. Each builds its
//! candidates, the budget mapping of its reason, and its commands; every node it looks at and leaves alone gets a
//! reason.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use karpenter_solver::labels;
use karpenter_solver::model::NodeSelectorRequirement;
use karpenter_solver::plan::NewNodeClaim;
use rayon::prelude::*;

use crate::budget::Budgets;
use crate::candidate::{self, Candidate, Class};
use crate::cluster::{self, Cluster};
use crate::consolidation::{self, PoolTotals};
use crate::decision::{
    Action, Command, CommandCandidate, Decision, Evaluations, Expiration, KeptNode, KeptReason, Method,
    Reason, Why,
};
use crate::repair;
use crate::simulate::{self, Simulator};
use crate::{MultiNodeSearch, Options, SearchLimit};

/// How many first candidates the greedy multi-node search tries as the seed of its set.
const GREEDY_SEEDS: usize = 5;

/// The largest prefix multi-node consolidation considers (upstream `maxParallel`).
pub(crate) const MULTI_NODE_CAP: usize = 100;

pub(crate) struct Pass<'c, 'v> {
    pub(crate) cluster: &'c Cluster<'v>,
    pub(crate) simulator: &'c dyn Simulator,
    pub(crate) options: &'c Options<'c>,
    notes: BTreeMap<usize, Vec<Why>>,
    acted: Option<Method>,
    simulations: AtomicUsize,
    evaluations: Evaluations,
    unseen_node_pools: Vec<String>,
}

impl<'c, 'v> Pass<'c, 'v> {
    pub(crate) fn new(
        cluster: &'c Cluster<'v>,
        simulator: &'c dyn Simulator,
        options: &'c Options<'c>,
    ) -> Self {
        Pass {
            cluster,
            simulator,
            options,
            notes: BTreeMap::new(),
            acted: None,
            simulations: AtomicUsize::new(0),
            evaluations: Evaluations::default(),
            unseen_node_pools: Vec::new(),
        }
    }

    /// Records why a node stays. A reason several methods give is kept once, without a method.
    fn note(&mut self, node: usize, method: Option<Method>, reason: KeptReason) {
        let notes = self.notes.entry(node).or_default();
        match notes.iter_mut().find(|w| w.reason == reason) {
            Some(existing) if existing.method != method => existing.method = None,
            Some(_) => {}
            None => notes.push(Why { method, reason }),
        }
    }

    /// After a method has acted, later methods only explain their filters; the nodes they would have evaluated
    /// say which method acted. Returns true when that is the case.
    fn stop_after_filters(&mut self, candidates: impl IntoIterator<Item = usize>) -> bool {
        let Some(method) = self.acted else { return false };
        for node in candidates {
            // A node that already says why an earlier method left it needs no more.
            if self.notes.get(&node).is_none_or(Vec::is_empty) {
                self.note(node, None, KeptReason::EarlierMethodActed { method });
            }
        }
        true
    }

    fn simulate(&self, candidates: &[&Candidate<'_>], options: simulate::Options) -> simulate::Outcome {
        self.simulations.fetch_add(1, Ordering::Relaxed);
        simulate::run(self.cluster, self.simulator, candidates, options)
    }

    fn compute(&self, candidates: &[&Candidate<'_>]) -> Result<consolidation::Found, KeptReason> {
        self.simulations.fetch_add(1, Ordering::Relaxed);
        consolidation::compute(self.cluster, self.simulator, candidates)
    }

    /// Runs the methods in order and assembles the decision.
    pub(crate) fn run(mut self) -> Decision {
        let cluster = self.cluster;
        let expirations: Vec<Expiration> = cluster
            .by_name
            .iter()
            .filter_map(|&n| {
                let node = &cluster.nodes[n];
                Some(Expiration {
                    node: node.view.name.clone(),
                    node_claim: node.view.node_claim.as_ref()?.name.clone(),
                    expired_at: node.expired_at?,
                })
            })
            .collect();
        // The checks every method shares, from the strictest class, so each kept node says first what stops it.
        let (_, refused) = candidate::all(cluster, Class::Graceful);
        for (node, reason) in refused {
            if cluster.nodes[node].expired_at.is_none() {
                self.note(node, None, reason);
            }
        }
        // The first method that acts ends the pass; the later ones still run their filters, so every node says
        // everything that stops it.
        let mut commands = Vec::new();
        for method in Method::ALL {
            let produced = match method {
                Method::Repair => self.repair(),
                Method::Emptiness => self.emptiness(),
                Method::StaticDrift => self.static_drift(),
                Method::Drift => self.drift(),
                Method::MultiNodeConsolidation => self.multi_node(),
                Method::SingleNodeConsolidation => self.single_node(),
            };
            if !produced.is_empty() && self.acted.is_none() {
                self.acted = Some(method);
                commands = produced;
            }
        }
        let acted = self.acted;
        let disrupted: BTreeSet<&str> =
            commands.iter().flat_map(|c| c.candidates.iter().map(|c| c.node.as_str())).collect();
        let mut kept = Vec::new();
        for &n in &cluster.by_name {
            let node = &cluster.nodes[n];
            if disrupted.contains(node.view.name.as_str()) || node.expired_at.is_some() {
                continue;
            }
            let mut why = self.notes.remove(&n).unwrap_or_default();
            if why.is_empty() {
                why.push(Why {
                    method: None,
                    reason: match acted {
                        Some(method) => KeptReason::EarlierMethodActed { method },
                        None => KeptReason::NoAction,
                    },
                });
            }
            kept.push(KeptNode {
                node: node.view.name.clone(),
                node_pool: node.pool.map(str::to_string),
                why,
            });
        }
        self.evaluations.simulations = self.simulations.load(Ordering::Relaxed);
        Decision {
            commands,
            expirations,
            kept,
            input_errors: cluster.input_errors.clone(),
            unseen_node_pools: self.unseen_node_pools,
            evaluations: self.evaluations,
        }
    }

    fn count(&mut self, method: Method, candidates: usize) {
        self.evaluations.candidates.push((method, candidates));
    }

    fn command(
        &self,
        method: Method,
        action: Action,
        candidates: &[&Candidate<'_>],
        replacements: Vec<NewNodeClaim>,
        outcome: Option<&simulate::Outcome>,
    ) -> Command {
        let cluster = self.cluster;
        let savings = consolidation::savings(cluster, candidates, &replacements);
        Command {
            method,
            reason: method.reason(),
            action,
            candidates: candidates
                .iter()
                .map(|c| {
                    let node = &cluster.nodes[c.node];
                    CommandCandidate {
                        node: node.view.name.clone(),
                        node_claim: node.view.node_claim.as_ref().map(|c| c.name.clone()).unwrap_or_default(),
                        node_pool: c.pool.to_string(),
                        instance_type: node.label(labels::INSTANCE_TYPE).map(str::to_string),
                        capacity_type: node.label(labels::CAPACITY_TYPE).map(str::to_string),
                        zone: node.label(labels::ZONE).map(str::to_string),
                        price: c.price,
                        pods: c.pods(cluster).map(|p| cluster::pod_ref(&p.pod)).collect(),
                    }
                })
                .collect(),
            replacements,
            destinations: outcome.map(|o| o.destinations.clone()).unwrap_or_default(),
            savings_per_hour: savings,
            termination_grace_period: None,
            reboot_escalated: false,
        }
    }

    // Repair ------------------------------------------------------------------------------------------------

    fn repair(&mut self) -> Vec<Command> {
        let cluster = self.cluster;
        if !cluster.view.feature_gates.node_repair {
            return Vec::new();
        }
        let Some(Ok(matcher)) = cluster.repair.as_ref() else { return Vec::new() };
        let method = Some(Method::Repair);
        let (candidates, refused) = candidate::all(cluster, Class::Repair);
        for (node, reason) in refused {
            if matcher.resolve(&cluster.nodes[node], cluster.now).matched {
                self.note(node, method, reason);
            }
        }
        let mut eligible = Vec::new();
        for c in candidates {
            let node = &cluster.nodes[c.node];
            let mut resolution = matcher.resolve(node, cluster.now);
            let Some(mut action) = resolution.action else {
                if let Some(until) = resolution.next_eligible {
                    self.note(c.node, method, KeptReason::RepairTolerationNotElapsed { until });
                }
                continue;
            };
            let claim = node.view.node_claim.as_ref();
            let escalated = action == repair::Action::Reboot
                && claim.is_some_and(|c| c.recent_reboots >= repair::REBOOTS_BEFORE_REPLACEMENT);
            if escalated {
                action = repair::Action::Replace;
                resolution.action = Some(action);
            }
            if node.view.annotations.get(cluster::DO_NOT_REPAIR).is_some_and(|v| v == "true") {
                self.note(c.node, method, KeptReason::DoNotRepair);
                continue;
            }
            if c.has_pod_blockers
                && resolution.termination_grace_period.is_none()
                && node.termination_grace_period.is_none()
            {
                self.note(c.node, method, KeptReason::RepairNeedsTerminationGracePeriod);
                continue;
            }
            eligible.push((c, resolution, escalated));
        }
        self.count(Method::Repair, eligible.len());
        if self.stop_after_filters(eligible.iter().map(|e| e.0.node).collect::<Vec<_>>()) {
            return Vec::new();
        }
        let now = cluster.now;
        eligible.sort_by(|a, b| {
            b.1.score(now)
                .total_cmp(&a.1.score(now))
                .then(a.0.disruption_cost.total_cmp(&b.0.disruption_cost))
                .then_with(|| cluster.nodes[a.0.node].name().cmp(cluster.nodes[b.0.node].name()))
        });
        let tripped = repair::tripped_pools(matcher, &cluster.nodes);
        let budgets = Budgets::build(cluster, Reason::Unhealthy);
        let mut chosen = None;
        for (c, resolution, escalated) in &eligible {
            if chosen.is_some() {
                self.note(c.node, method, KeptReason::EarlierCandidateChosen);
                continue;
            }
            let node = &cluster.nodes[c.node];
            if tripped.contains(c.pool) {
                self.note(c.node, method, KeptReason::UnhealthyThreshold);
                continue;
            }
            if node.view.initialized && budgets.get(c.pool) == 0 {
                self.note(c.node, method, KeptReason::Budget { reason: Reason::Unhealthy, allowed: 0 });
                continue;
            }
            // The drain bound: the policy's, capped by the NodeClaim's own.
            let bound =
                resolution.termination_grace_period.map(|policy| match node.termination_grace_period {
                    Some(own) if own < policy => own,
                    _ => policy,
                });
            let mut command = if resolution.action == Some(repair::Action::Reboot) {
                self.command(Method::Repair, Action::Reboot, &[c], Vec::new(), None)
            } else if cluster.pools.get(c.pool).is_some_and(|p| p.is_static) {
                match self.static_replacement(c.pool, 1) {
                    Ok(0) => {
                        self.note(c.node, method, KeptReason::StaticAtLimit);
                        continue;
                    }
                    Ok(_) => self.command(
                        Method::Repair,
                        Action::Replace,
                        &[c],
                        vec![template_claim(cluster, c.pool)],
                        None,
                    ),
                    Err(reason) => {
                        self.note(c.node, method, reason);
                        continue;
                    }
                }
            } else {
                let outcome =
                    self.simulate(&[c], simulate::Options { include_blocked: true, ..Default::default() });
                if let Some(reason) = unschedulable(&outcome) {
                    self.note(c.node, method, reason);
                    continue;
                }
                let action = if outcome.new_claims.is_empty() { Action::Delete } else { Action::Replace };
                self.command(Method::Repair, action, &[c], outcome.new_claims.clone(), Some(&outcome))
            };
            if command.action == Action::Reboot {
                command.savings_per_hour = 0.0;
            }
            command.termination_grace_period = bound;
            command.reboot_escalated = *escalated;
            chosen = Some(command);
        }
        chosen.into_iter().collect()
    }

    /// How many replacements a static NodePool can stage within its node limit (`ReserveNodeCount`), or why none.
    fn static_replacement(&self, pool: &str, wanted: usize) -> Result<usize, KeptReason> {
        let cluster = self.cluster;
        let Some(info) = cluster.pools.get(pool) else { return Ok(0) };
        let replicas = info.view.replicas.unwrap_or(0);
        let (mut active, mut deleting) = (0i64, 0i64);
        for node in &cluster.nodes {
            if node.pool == Some(pool) && node.managed() {
                if node.deleting() { deleting += 1 } else { active += 1 }
            }
        }
        if active > replicas {
            return Err(KeptReason::StaticScalingDown);
        }
        let limit =
            info.view.pool.limits.get("nodes").and_then(|v| v.parse::<i64>().ok()).unwrap_or(i64::MAX);
        let remaining = limit.saturating_sub(active + deleting);
        if remaining < 0 {
            return Ok(0);
        }
        Ok((wanted as i64).min(remaining) as usize)
    }

    // Emptiness ---------------------------------------------------------------------------------------------

    fn emptiness(&mut self) -> Vec<Command> {
        let cluster = self.cluster;
        let method = Some(Method::Emptiness);
        let (candidates, _) = candidate::all(cluster, Class::Graceful);
        let mut empty = Vec::new();
        for c in candidates {
            if let Some(reason) = emptiness_refusal(cluster, &c) {
                if c.is_empty() {
                    self.note(c.node, method, reason);
                }
                continue;
            }
            empty.push(c);
        }
        self.count(Method::Emptiness, empty.len());
        if self.stop_after_filters(empty.iter().map(|c| c.node).collect::<Vec<_>>()) {
            return Vec::new();
        }
        candidate::sort_by_savings_ratio(&mut empty);
        let mut budgets = Budgets::build(cluster, Reason::Empty);
        let mut chosen = Vec::new();
        for c in &empty {
            if !budgets.take(c.pool) {
                self.note(c.node, method, KeptReason::Budget { reason: Reason::Empty, allowed: 0 });
                continue;
            }
            chosen.push(c);
        }
        if chosen.is_empty() {
            return Vec::new();
        }
        vec![self.command(Method::Emptiness, Action::Delete, &chosen, Vec::new(), None)]
    }

    // Drift -------------------------------------------------------------------------------------------------

    fn drifted(&mut self, static_pools: bool) -> Vec<Candidate<'v>> {
        let cluster = self.cluster;
        let method = Some(if static_pools { Method::StaticDrift } else { Method::Drift });
        let (candidates, refused) = candidate::all(cluster, Class::Eventual);
        let is_static = |node: usize| cluster.pool_of(node).is_some_and(|p| p.is_static);
        let drifted =
            |node: usize| cluster.nodes[node].view.node_claim.as_ref().and_then(|c| c.drifted.as_ref());
        for (node, reason) in refused {
            if drifted(node).is_some() && is_static(node) == static_pools {
                self.note(node, method, reason);
            }
        }
        let mut out: Vec<Candidate<'v>> = candidates
            .into_iter()
            .filter(|c| drifted(c.node).is_some() && is_static(c.node) == static_pools)
            .collect();
        out.sort_by_key(|c| drifted(c.node).map_or(0, |d| d.since));
        out
    }

    fn static_drift(&mut self) -> Vec<Command> {
        let cluster = self.cluster;
        let method = Some(Method::StaticDrift);
        let candidates = self.drifted(true);
        self.count(Method::StaticDrift, candidates.len());
        if self.stop_after_filters(candidates.iter().map(|c| c.node).collect::<Vec<_>>()) {
            return Vec::new();
        }
        let budgets = Budgets::build(cluster, Reason::Drifted);
        let mut by_pool: BTreeMap<&str, Vec<&Candidate<'_>>> = BTreeMap::new();
        for c in &candidates {
            by_pool.entry(c.pool).or_default().push(c);
        }
        let mut commands = Vec::new();
        for (pool, members) in by_pool {
            let allowed = budgets.get(pool);
            if allowed == 0 {
                for c in &members {
                    self.note(c.node, method, KeptReason::Budget { reason: Reason::Drifted, allowed: 0 });
                }
                continue;
            }
            let wanted = allowed.min(members.len());
            let granted = match self.static_replacement(pool, wanted) {
                Ok(granted) => granted,
                Err(reason) => {
                    for c in &members {
                        self.note(c.node, method, reason.clone());
                    }
                    continue;
                }
            };
            for (i, c) in members.iter().enumerate() {
                if i < granted {
                    commands.push(self.command(
                        Method::StaticDrift,
                        Action::Replace,
                        &[c],
                        vec![template_claim(cluster, pool)],
                        None,
                    ));
                } else if i < wanted {
                    self.note(c.node, method, KeptReason::StaticAtLimit);
                } else {
                    self.note(c.node, method, KeptReason::Budget { reason: Reason::Drifted, allowed: 0 });
                }
            }
        }
        commands
    }

    fn drift(&mut self) -> Vec<Command> {
        let cluster = self.cluster;
        let method = Some(Method::Drift);
        let candidates = self.drifted(false);
        self.count(Method::Drift, candidates.len());
        if self.stop_after_filters(candidates.iter().map(|c| c.node).collect::<Vec<_>>()) {
            return Vec::new();
        }
        // Empty nodes first: their removal moves nothing, and pods moved earlier would only have to move again.
        let (empty, busy): (Vec<_>, Vec<_>) = candidates.iter().partition(|c| c.reschedulable.is_empty());
        let budgets = Budgets::build(cluster, Reason::Drifted);
        let mut chosen = None;
        for c in empty.into_iter().chain(busy) {
            if chosen.is_some() {
                self.note(c.node, method, KeptReason::EarlierCandidateChosen);
                continue;
            }
            if budgets.get(c.pool) == 0 {
                self.note(c.node, method, KeptReason::Budget { reason: Reason::Drifted, allowed: 0 });
                continue;
            }
            let outcome = self.simulate(&[c], simulate::Options::default());
            if let Some(reason) = unschedulable(&outcome) {
                self.note(c.node, method, reason);
                continue;
            }
            let action = if outcome.new_claims.is_empty() { Action::Delete } else { Action::Replace };
            chosen =
                Some(self.command(Method::Drift, action, &[c], outcome.new_claims.clone(), Some(&outcome)));
        }
        chosen.into_iter().collect()
    }

    // Consolidation -----------------------------------------------------------------------------------------

    /// Consolidation candidates, noting why the others are left out, with the Balanced totals.
    fn consolidation_candidates(
        &mut self,
        method: Method,
    ) -> (Vec<Candidate<'v>>, BTreeMap<String, PoolTotals>) {
        let cluster = self.cluster;
        let (candidates, _) = candidate::all(cluster, Class::Graceful);
        let totals = consolidation::pool_totals(cluster, &candidates);
        let mut out = Vec::new();
        for c in candidates {
            match consolidation::refusal(cluster, &c) {
                None => out.push(c),
                Some(KeptReason::NoAction) => {}
                Some(reason) => self.note(c.node, Some(method), reason),
            }
        }
        candidate::sort_by_savings_ratio(&mut out);
        (out, totals)
    }

    fn multi_node(&mut self) -> Vec<Command> {
        let cluster = self.cluster;
        let method = Method::MultiNodeConsolidation;
        let (candidates, totals) = self.consolidation_candidates(method);
        if self.stop_after_filters(candidates.iter().map(|c| c.node).collect::<Vec<_>>()) {
            return Vec::new();
        }
        let mut budgets = Budgets::build(cluster, Reason::Underutilized);
        let mut disruptable = Vec::new();
        for c in &candidates {
            if budgets.take(c.pool) {
                disruptable.push(c);
            } else {
                self.note(
                    c.node,
                    Some(method),
                    KeptReason::Budget { reason: Reason::Underutilized, allowed: 0 },
                );
            }
        }
        self.count(method, disruptable.len());
        if disruptable.len() < 2 {
            return Vec::new();
        }
        let limit = &self.options.multi_node;
        let mut max = disruptable.len().min(MULTI_NODE_CAP);
        if disruptable.len() <= max {
            max = disruptable.len() - 1;
        }
        let (mut low, mut high) = (1usize, max);
        let mut best: Option<Command> = None;
        let mut tried = 0usize;
        while low <= high {
            if limit.exhausted(tried) {
                self.evaluations.limited = true;
                break;
            }
            tried += 1;
            let mid = (low + high) / 2;
            let prefix = &disruptable[..=mid];
            let valid = self.multi_node_command(prefix, &totals);
            match valid {
                Some(command) => {
                    best = Some(command);
                    low = mid + 1;
                }
                None => {
                    if mid == 0 {
                        break;
                    }
                    high = mid - 1;
                }
            }
        }
        if let MultiNodeSearch::Greedy { candidates } = self.options.multi_node_search
            && let Some(greedy) =
                self.greedy_multi_node(&disruptable[..disruptable.len().min(candidates)], &totals, tried)
            && best.as_ref().is_none_or(|b| greedy.savings_per_hour > b.savings_per_hour)
        {
            best = Some(greedy);
        }
        best.into_iter().collect()
    }

    /// [`MultiNodeSearch::Greedy`]: grows a set from the first candidate, keeping each next candidate whose addition
    /// leaves a valid command; when nothing joins the first candidate (it cannot go with any other), the next one
    /// seeds the set, up to [`GREEDY_SEEDS`] times. Every set it proposes passes the same checks as the prefix
    /// search's (the simulation, the price rules, Balanced approval), and every candidate is within its budget.
    fn greedy_multi_node(
        &mut self,
        disruptable: &[&Candidate<'v>],
        totals: &BTreeMap<String, PoolTotals>,
        mut tried: usize,
    ) -> Option<Command> {
        let limit = &self.options.multi_node;
        let considered = disruptable;
        for seed in 0..considered.len().min(GREEDY_SEEDS) {
            let mut set: Vec<&Candidate<'v>> = vec![considered[seed]];
            let mut best: Option<Command> = None;
            for &candidate in &considered[seed + 1..] {
                if limit.exhausted(tried) {
                    self.evaluations.limited = true;
                    return best;
                }
                tried += 1;
                set.push(candidate);
                match self.multi_node_command(&set, totals) {
                    Some(command) => best = Some(command),
                    None => {
                        set.pop();
                    }
                }
            }
            if best.is_some() {
                return best;
            }
        }
        None
    }

    /// Whether removing `prefix` together is a valid multi-node command (delete, or one replacement that still has
    /// options after the same-type rule, approved by Balanced pools).
    fn multi_node_command(
        &self,
        prefix: &[&Candidate<'_>],
        totals: &BTreeMap<String, PoolTotals>,
    ) -> Option<Command> {
        let found = self.compute(prefix).ok()?;
        let replacements = match found.replacement {
            None => Vec::new(),
            Some(claim) => vec![consolidation::filter_out_same_type(self.cluster, prefix, claim).ok()?],
        };
        let savings = consolidation::savings(self.cluster, prefix, &replacements);
        consolidation::balanced_approval(self.cluster, totals, prefix, savings).ok()?;
        Some(self.command(
            Method::MultiNodeConsolidation,
            found.action,
            prefix,
            replacements,
            Some(&found.outcome),
        ))
    }

    fn single_node(&mut self) -> Vec<Command> {
        let cluster = self.cluster;
        let method = Method::SingleNodeConsolidation;
        let (candidates, totals) = self.consolidation_candidates(method);
        self.count(method, candidates.len());
        // Explaining every node means evaluating every candidate, even after an earlier method acted (its command
        // is then not issued).
        if !self.options.explain_all
            && self.stop_after_filters(candidates.iter().map(|c| c.node).collect::<Vec<_>>())
        {
            return Vec::new();
        }
        // Round-robin across NodePools, pools a timed-out pass did not reach first, then by name.
        let mut groups: BTreeMap<&str, Vec<&Candidate<'_>>> = BTreeMap::new();
        for c in &candidates {
            groups.entry(c.pool).or_default().push(c);
        }
        let mut pool_order: Vec<&str> = Vec::new();
        for pool in &self.options.unseen_node_pools {
            if let Some((name, _)) = groups.get_key_value(pool.as_str()) {
                pool_order.push(name);
            }
        }
        for name in groups.keys() {
            if !pool_order.contains(name) {
                pool_order.push(name);
            }
        }
        let longest = groups.values().map(Vec::len).max().unwrap_or(0);
        let mut order: Vec<&Candidate<'_>> = Vec::with_capacity(candidates.len());
        for i in 0..longest {
            for pool in &pool_order {
                if let Some(c) = groups[pool].get(i) {
                    order.push(c);
                }
            }
        }
        let budgets = Budgets::build(cluster, Reason::Underutilized);
        let limit = &self.options.single_node;
        let mut unseen: BTreeSet<&str> = groups.keys().copied().collect();
        // Walk in order; cheap refusals are noted at once, the rest are simulated in batches, in parallel, and the
        // first valid one in order wins, so the answer is the one a sequential walk gives.
        let mut pending: Vec<(usize, &Candidate<'_>)> = Vec::new();
        let mut chosen: Option<Command> = None;
        let mut examined = 0usize;
        let batch = if self.options.explain_all { usize::MAX } else { self.options.batch_size() };
        let mut position = 0usize;
        while position <= order.len() {
            let at_end = position == order.len();
            let stop = !at_end && limit.exhausted(examined);
            if stop || at_end || pending.len() >= batch {
                let results: Vec<Result<Command, KeptReason>> = if self.options.parallel {
                    pending.par_iter().map(|(_, c)| self.single_node_command(c, &totals)).collect()
                } else {
                    pending.iter().map(|(_, c)| self.single_node_command(c, &totals)).collect()
                };
                for ((_, c), result) in pending.drain(..).zip(results) {
                    match result {
                        // Valid on its own, but an earlier method's command is this pass's.
                        Ok(_) if self.acted.is_some() => {
                            let method = self.acted.unwrap_or(Method::SingleNodeConsolidation);
                            self.note(c.node, None, KeptReason::EarlierMethodActed { method })
                        }
                        Ok(command) if chosen.is_none() => chosen = Some(command),
                        Ok(_) => self.note(c.node, Some(method), KeptReason::EarlierCandidateChosen),
                        Err(reason) => self.note(c.node, Some(method), reason),
                    }
                }
                if chosen.is_some() && !self.options.explain_all {
                    for c in &order[position..] {
                        self.note(c.node, Some(method), KeptReason::EarlierCandidateChosen);
                    }
                    break;
                }
                if stop {
                    self.evaluations.limited = true;
                    for c in &order[position..] {
                        self.note(c.node, Some(method), KeptReason::NotEvaluated);
                    }
                    self.unseen_node_pools = unseen.iter().map(|p| p.to_string()).collect();
                    break;
                }
                if at_end {
                    break;
                }
            }
            let c = order[position];
            examined += 1;
            unseen.remove(c.pool);
            position += 1;
            if budgets.get(c.pool) == 0 {
                self.note(
                    c.node,
                    Some(method),
                    KeptReason::Budget { reason: Reason::Underutilized, allowed: 0 },
                );
                continue;
            }
            if let Err(reason) = consolidation::can_pass_threshold(cluster, &totals, c) {
                self.note(c.node, Some(method), reason);
                continue;
            }
            pending.push((position - 1, c));
        }
        self.evaluations.single_node_examined = examined;
        chosen.into_iter().collect()
    }

    fn single_node_command(
        &self,
        c: &Candidate<'_>,
        totals: &BTreeMap<String, PoolTotals>,
    ) -> Result<Command, KeptReason> {
        let found = self.compute(&[c])?;
        let replacements: Vec<NewNodeClaim> = found.replacement.into_iter().collect();
        let savings = consolidation::savings(self.cluster, &[c], &replacements);
        consolidation::balanced_approval(self.cluster, totals, &[c], savings)?;
        Ok(self.command(
            Method::SingleNodeConsolidation,
            found.action,
            &[c],
            replacements,
            Some(&found.outcome),
        ))
    }
}

/// The emptiness filter (`Emptiness.ShouldDisrupt`).
pub(crate) fn emptiness_refusal(cluster: &Cluster<'_>, c: &Candidate<'_>) -> Option<KeptReason> {
    let pool = cluster.pools.get(c.pool)?;
    if pool.is_static {
        return Some(KeptReason::StaticNodePool);
    }
    if pool.consolidate_after.is_none() {
        return Some(KeptReason::ConsolidationDisabled);
    }
    if !c.is_empty() {
        return Some(KeptReason::NoAction);
    }
    if !cluster.consolidatable(&cluster.nodes[c.node]) {
        return Some(match cluster.under_consolidate_after(&cluster.nodes[c.node]) {
            Some(until) => KeptReason::ConsolidateAfterNotElapsed { until },
            None => KeptReason::NotInitialized,
        });
    }
    None
}

/// The reason a simulation that did not place every pod gives.
fn unschedulable(outcome: &simulate::Outcome) -> Option<KeptReason> {
    if !outcome.failures.is_empty() {
        return Some(consolidation::would_not_fit(&outcome.failures));
    }
    outcome.uninitialized.as_ref().map(|node| KeptReason::WouldUseUninitializedNode { node: node.clone() })
}

/// A static NodePool's replacement: its template as a NodeClaim, instance types left for the launch to choose.
fn template_claim(cluster: &Cluster<'_>, pool: &str) -> NewNodeClaim {
    let view = cluster.pools.get(pool).map(|p| &p.view.pool);
    let mut labels = view.map(|p| p.labels.clone()).unwrap_or_default();
    labels.insert(labels::NODE_POOL.to_string(), pool.to_string());
    let mut requirements: Vec<NodeSelectorRequirement> =
        view.map(|p| p.requirements.clone()).unwrap_or_default();
    requirements.push(NodeSelectorRequirement::new(labels::NODE_POOL, "In", &[pool]));
    requirements.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.operator.cmp(&b.operator)));
    NewNodeClaim {
        node_pool: pool.to_string(),
        labels,
        taints: view.map(|p| p.taints.clone()).unwrap_or_default(),
        startup_taints: view.map(|p| p.startup_taints.clone()).unwrap_or_default(),
        requirements,
        instance_type_min_values: None,
        instance_type_options: Vec::new(),
        pods: Vec::new(),
        requests: Default::default(),
        min_values_relaxed: false,
    }
}

impl SearchLimit<'_> {
    pub(crate) fn exhausted(&self, done: usize) -> bool {
        self.max_evaluations.is_some_and(|max| done >= max) || self.deadline.is_some_and(|expired| expired())
    }
}
