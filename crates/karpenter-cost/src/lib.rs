//! Cost quality for the solver's plans: a provable lower bound on the hourly price of the new capacity a batch needs,
//! and an improvement phase that re-packs the batch's new NodeClaims more cheaply, keeping every hard constraint.
//!
//! Upstream Karpenter (`pkg/controllers/provisioning/scheduling/scheduler.go`) packs pods first-fit-decreasing into
//! flexible NodeClaims and launches the cheapest type that fits at the end; that plan is this crate's starting point
//! and, in [`Mode::UpstreamExact`], its answer. On top of it:
//!
//! - **The bound** is the configuration LP (Gilmore-Gomory) over pod classes and kinds of node, solved by column
//!   generation on HiGHS with knapsack pricing over the pods' resource vectors. Which instance types, offerings and
//!   prices a class may use, and the DaemonSet overhead that comes with them, are asked of the solver itself
//!   (`probe`), so NodePool requirements, taints, zones and availability are the solver's. Stopped early, the bound
//!   is still valid (Farley). It covers the pods the first fit put on new NodeClaims, each kept in the NodePool the
//!   first fit chose (so pool weights and the order of pools stay as upstream has them).
//! - **The improvement** rounds the LP solution down and repairs the rest greedily with the pricing knapsack, turns
//!   the nodes into bins (choosing which pod of a class goes where so that the terms the bound relaxed clash as little
//!   as possible), pins each pod to its bin with a requirement on a key the bins' NodePools accept with `Exists`,
//!   and has the solver place the pinned batch. The solver makes every check it always makes (topology spread, pod (anti-)affinity, host
//!   ports, limits, minValues) and gives each bin's NodeClaim every instance type that fits it. The result is taken
//!   only if every pod the first fit placed is placed and the price is lower.
//!
//! The crate is pure: no IO and no clock of its own. A time budget is enforced only through a clock the caller
//! passes; without one, work limits alone stop the search and equal input gives equal output.
//!
//! ```
//! use karpenter_cost::{CostConfig, CostEngine, Phase};
//! use karpenter_solver::{Round, SolverConfig, model::*};
//!
//! let types: Vec<std::sync::Arc<InstanceType>> = serde_json::from_str(r#"[
//!   {"name": "big", "capacity": {"cpu": "16", "memory": "64Gi", "pods": "110"},
//!    "offerings": [{"zone": "a", "capacityType": "on-demand", "price": 1.6}]},
//!   {"name": "small", "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"},
//!    "offerings": [{"zone": "a", "capacityType": "on-demand", "price": 0.1}]}]"#).unwrap();
//! let pools = [NodePool { name: "default".into(), ..NodePool::default() }];
//! let engine = CostEngine::new(&pools, &types, &Default::default(), &[], &SolverConfig::default());
//! // Three pods of 1.5 CPU: first fit packs them onto one "big" node (1.6); three "small" nodes cost 0.3.
//! let pods: Vec<Pod> = (0..3).map(|i| serde_json::from_value(serde_json::json!({
//!     "name": format!("p{i}"), "containers": [{"requests": {"cpu": "1500m"}}]})).unwrap()).collect();
//! let costed = engine.plan(&Round { pods: &pods, ..Round::default() }, &CostConfig::default(), None);
//! assert_eq!(costed.first_fit_cost, 1.6);
//! assert_eq!(costed.phase, Phase::Improved);
//! assert!((costed.cost - 0.3).abs() < 1e-9);
//! assert!(costed.bound.unwrap().value <= costed.cost);
//! ```

mod assign;
mod classes;
mod error;
mod improve;
mod knapsack;
mod lp;
mod model;
mod probe;
mod resources;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use karpenter_solver::model::{InstanceType, NodePool, NodeSelectorRequirement, Pod, Problem, ResourceList};
use karpenter_solver::plan::PodRef;
use karpenter_solver::{MinValuesPolicy, Plan, PreferencePolicy, Prepared, Round, SolverConfig};
use serde::{Deserialize, Serialize};

pub use error::Error;

use crate::classes::Classes;
use crate::lp::{Column, Limits};
use crate::model::Batch;
use crate::resources::Dims;

/// The label key that ties a pinned pod to its bin. The bins' NodePools accept it with `Exists`; it never reaches a
/// NodeClaim the engine returns.
pub const BIN_KEY: &str = "cost.karpenter-rs.dev/bin";

/// Which placements a plan uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Mode {
    /// Upstream's first fit, unchanged (for parity with upstream). The bound is computed only when
    /// [`CostConfig::bound`] asks for it.
    UpstreamExact,
    /// First fit, then the LP's re-packing when it is cheaper (the default).
    #[default]
    Improved,
}

/// Settings of a costed solve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CostConfig {
    /// Upstream-exact or improved placements.
    pub mode: Mode,
    /// Whether [`Mode::UpstreamExact`] also computes the bound ([`Mode::Improved`] always does).
    pub bound: bool,
    /// Time for one batch, measured on the clock the caller passes; after it the best plan so far is returned.
    pub budget: Duration,
    /// Most master LPs column generation solves.
    pub max_iterations: usize,
    /// Most patterns added to the master per iteration.
    pub columns_per_iteration: usize,
    /// Branch-and-bound nodes per knapsack while the duals are still moving.
    pub heuristic_nodes: u64,
    /// Branch-and-bound nodes per knapsack when proving that no pattern improves.
    pub exact_nodes: u64,
    /// Column generation stops once the master LP's value is within this fraction of the proven bound.
    pub bound_tolerance: f64,
}

impl Default for CostConfig {
    fn default() -> Self {
        CostConfig {
            mode: Mode::Improved,
            bound: false,
            budget: Duration::from_secs(1),
            max_iterations: 200,
            columns_per_iteration: 40,
            heuristic_nodes: 200,
            exact_nodes: 20_000,
            bound_tolerance: 0.001,
        }
    }
}

impl CostConfig {
    fn limits(&self) -> Limits {
        Limits {
            iterations: self.max_iterations,
            columns_per_iteration: self.columns_per_iteration,
            heuristic_nodes: self.heuristic_nodes,
            exact_nodes: self.exact_nodes,
        }
    }
}

/// Which phase produced the plan returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Upstream's first fit.
    FirstFit,
    /// The LP's re-packing, placed by the solver.
    Improved,
}

/// The lower bound on a batch's new capacity.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bound {
    /// Hourly price no packing of the batch's pods (in the NodePools the first fit chose) can go below.
    pub value: f64,
    /// True when column generation converged, so `value` is the LP optimum itself; otherwise Farley's bound from
    /// the last duals.
    pub converged: bool,
    /// Pod classes (rows of the LP).
    pub classes: usize,
    /// Kinds of node left after dominance.
    pub kinds: usize,
    /// Patterns generated.
    pub columns: usize,
    /// Master LPs solved.
    pub iterations: usize,
}

/// A plan with its price, the bound, and how it was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CostedPlan {
    /// The plan.
    pub plan: Plan,
    /// Its new capacity's hourly price ([`Plan::new_capacity_price`]).
    pub cost: f64,
    /// The first fit's price.
    pub first_fit_cost: f64,
    /// The lower bound, when computed.
    pub bound: Option<Bound>,
    /// Which phase produced `plan`.
    pub phase: Phase,
    /// True when the time budget ran out before every phase had run.
    pub stopped_early: bool,
    /// Why the bound or the improvement is missing or was not taken, if so.
    pub note: Option<String>,
}

impl CostedPlan {
    /// `(cost - bound) / bound`; zero when both are zero, `None` without a bound or with a zero bound under a
    /// positive cost.
    pub fn gap(&self) -> Option<f64> {
        let bound = self.bound.as_ref()?.value;
        if bound > 0.0 {
            Some(((self.cost - bound) / bound).max(0.0))
        } else if self.cost <= 0.0 {
            Some(0.0)
        } else {
            None
        }
    }
}

/// The solver prepared for costed solves: the upstream-exact form, the form probes ask, and the form that places
/// pinned bins. Like [`Prepared`], build it once per set of NodePools, instance types and DaemonSets.
pub struct CostEngine {
    prepared: Prepared,
    probe: Prepared,
    pinned: Prepared,
    /// NodePool names, in the order given.
    pools: Vec<String>,
    /// Per NodePool, its instance types by name.
    types: Vec<BTreeMap<String, Arc<InstanceType>>>,
    /// Allocatable per instance type (by the `Arc`'s address), worked out on first use.
    allocatable: Mutex<HashMap<usize, Option<ResourceList>>>,
}

impl std::fmt::Debug for CostEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CostEngine").field("prepared", &self.prepared).finish_non_exhaustive()
    }
}

impl CostEngine {
    /// Prepares the solver three ways for the same NodePools, instance types and DaemonSet pods (arguments as
    /// [`Prepared::new`]).
    pub fn new(
        node_pools: &[NodePool],
        instance_types: &[Arc<InstanceType>],
        pool_instance_types: &BTreeMap<String, Vec<Arc<InstanceType>>>,
        daemon_set_pods: &[Pod],
        config: &SolverConfig,
    ) -> CostEngine {
        let prepared =
            Prepared::new(node_pools, instance_types, pool_instance_types, daemon_set_pods, config);
        // Probes see every launch option, never narrowed by preferences, and never fail on minValues (a bound over
        // more options is still a bound).
        let probe_config = SolverConfig {
            preference_policy: PreferencePolicy::Ignore,
            min_values_policy: MinValuesPolicy::BestEffort,
            max_instance_types: usize::MAX,
            ..config.clone()
        };
        let probe =
            Prepared::new(node_pools, instance_types, pool_instance_types, daemon_set_pods, &probe_config);
        let pinned_pools: Vec<NodePool> = node_pools
            .iter()
            .map(|pool| {
                let mut pool = pool.clone();
                pool.requirements.push(NodeSelectorRequirement::new(BIN_KEY, "Exists", &[]));
                pool
            })
            .collect();
        let pinned =
            Prepared::new(&pinned_pools, instance_types, pool_instance_types, daemon_set_pods, config);
        let pools: Vec<String> = node_pools.iter().map(|p| p.name.clone()).collect();
        let types = pools
            .iter()
            .map(|name| {
                pool_instance_types
                    .get(name)
                    .map_or(instance_types, Vec::as_slice)
                    .iter()
                    .map(|it| (it.name.clone(), Arc::clone(it)))
                    .collect()
            })
            .collect();
        CostEngine { prepared, probe, pinned, pools, types, allocatable: Mutex::default() }
    }

    /// [`CostEngine::new`] over a problem's NodePools, instance types and DaemonSet pods.
    pub fn from_problem(problem: &Problem, config: &SolverConfig) -> CostEngine {
        CostEngine::new(
            &problem.node_pools,
            &problem.instance_types,
            &problem.pool_instance_types,
            &problem.daemon_set_pods,
            config,
        )
    }

    /// The upstream-exact prepared solver.
    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    /// Solves a round: first fit, then (by `config`) the bound and the improvement, within the budget measured on
    /// `clock`. Never more expensive than the first fit, and never leaves a pod pending that the first fit placed.
    pub fn plan(
        &self,
        round: &Round<'_>,
        config: &CostConfig,
        clock: Option<&dyn Fn() -> Duration>,
    ) -> CostedPlan {
        let started = clock.map(|c| c());
        let elapsed = || match (clock, started) {
            (Some(c), Some(s)) => c().saturating_sub(s),
            _ => Duration::ZERO,
        };
        let first = self.prepared.solve(round);
        let first_fit_time = elapsed();
        let first_fit_cost = first.new_capacity_price();
        let mut costed = CostedPlan {
            cost: first_fit_cost,
            first_fit_cost,
            plan: first,
            bound: None,
            phase: Phase::FirstFit,
            stopped_early: false,
            note: None,
        };
        if config.mode == Mode::UpstreamExact && !config.bound {
            return costed;
        }
        if costed.plan.new_node_claims.is_empty() {
            costed.bound =
                Some(Bound { value: 0.0, converged: true, classes: 0, kinds: 0, columns: 0, iterations: 0 });
            return costed;
        }
        // The improvement needs about one more solve of the batch (and its bins); column generation leaves it that
        // time, twice over.
        let reserve = if config.mode == Mode::Improved { first_fit_time * 2 } else { Duration::ZERO };
        let expired = || clock.is_some() && elapsed() + reserve >= config.budget;
        let (batch, generated) = match self.bound_of(round, &costed.plan, config, &expired) {
            Ok(found) => found,
            Err(error) => {
                costed.note = Some(error.to_string());
                return costed;
            }
        };
        costed.bound = Some(bound_summary(&batch, &generated));
        costed.stopped_early = expired();
        if config.mode == Mode::UpstreamExact {
            return costed;
        }
        if clock.is_some() && elapsed() + first_fit_time >= config.budget {
            costed.note = Some("the time budget ran out before the improvement".to_string());
            return costed;
        }
        let (columns, counts) = lp::round_and_repair(&batch, &generated, config.heuristic_nodes);
        let repacked = improve::repack(self, round, &costed.plan, &batch, &columns, &counts);
        match repacked {
            Ok(plan) => {
                let cost = plan.new_capacity_price();
                if cost < costed.first_fit_cost - 1e-9 {
                    costed.plan = plan;
                    costed.cost = cost;
                    costed.phase = Phase::Improved;
                } else {
                    costed.note = Some(format!(
                        "the re-packing costs {cost:.4}, not less than the first fit's {:.4}",
                        costed.first_fit_cost
                    ));
                }
            }
            Err(reason) => costed.note = Some(reason),
        }
        costed
    }

    /// The lower bound for the pods `plan` puts on new NodeClaims (each in the NodePool the plan chose), with the
    /// placements on existing nodes as they are. `expired` may stop the search early; the bound stays valid.
    pub fn lower_bound(
        &self,
        round: &Round<'_>,
        plan: &Plan,
        config: &CostConfig,
        expired: &dyn Fn() -> bool,
    ) -> Result<Bound, Error> {
        if plan.new_node_claims.is_empty() {
            return Ok(Bound {
                value: 0.0,
                converged: true,
                classes: 0,
                kinds: 0,
                columns: 0,
                iterations: 0,
            });
        }
        let (batch, generated) = self.bound_of(round, plan, config, expired)?;
        Ok(bound_summary(&batch, &generated))
    }

    fn bound_of(
        &self,
        round: &Round<'_>,
        plan: &Plan,
        config: &CostConfig,
        expired: &dyn Fn() -> bool,
    ) -> Result<(Batch, lp::Generated), Error> {
        let batch = self.batch(round, plan)?;
        let mut initial = self.first_fit_columns(round, plan, &batch);
        initial.extend(single_class_columns(&batch).map_err(|c| {
            let class = &batch.classes.list[c];
            Error::Unplaceable {
                pod: PodRef::of(&round.pods[class.pods[0]]).to_string(),
                node_pool: self.pools[class.pool].clone(),
            }
        })?);
        let generated = lp::generate(&batch, initial, config.limits(), config.bound_tolerance, expired)?;
        Ok((batch, generated))
    }

    /// The pods the plan put on new NodeClaims as classes, with the kinds of node the probes allow them.
    fn batch(&self, round: &Round<'_>, plan: &Plan) -> Result<Batch, Error> {
        let positions = pod_positions(round.pods);
        // Each pod with the pool the plan chose for it; a pod is kept in that pool.
        let mut members: Vec<(usize, usize)> = Vec::new();
        for claim in &plan.new_node_claims {
            let Some(pool) = self.pools.iter().position(|p| *p == claim.node_pool) else { continue };
            members.extend(claim.pods.iter().filter_map(|r| positions.get(r)).map(|&i| (i, pool)));
        }
        let dims = Dims::new(members.iter().flat_map(|&(i, _)| resources::pod_lists(&round.pods[i])));
        let classes = Classes::build(round.pods, &members, &dims)
            .map_err(|(i, message)| Error::Pod { pod: PodRef::of(&round.pods[i]).to_string(), message })?;
        let answers: Vec<Vec<Option<probe::Answer>>> = classes
            .list
            .iter()
            .map(|class| {
                let pool = class.pool;
                let mut per_pool = vec![None; self.pools.len()];
                per_pool[pool] =
                    probe::probe(&self.probe, &self.pools[pool], &class.probe, &class.requests, &dims);
                per_pool
            })
            .collect();
        for (class, per_pool) in classes.list.iter().zip(&answers) {
            if per_pool.iter().all(Option::is_none) {
                return Err(Error::Unplaceable {
                    pod: PodRef::of(&round.pods[class.pods[0]]).to_string(),
                    node_pool: self.pools[class.pool].clone(),
                });
            }
        }
        let allocatable = |pool: usize, name: &str| -> Option<Vec<i64>> {
            let it = self.types[pool].get(name)?;
            let list = self.allocatable_of(it)?;
            dims.parse(&list).ok()
        };
        Ok(Batch::new(classes, &answers, self.pools.len(), &allocatable))
    }

    fn allocatable_of(&self, it: &Arc<InstanceType>) -> Option<ResourceList> {
        let key = Arc::as_ptr(it) as usize;
        let mut cache = self.allocatable.lock().unwrap_or_else(PoisonError::into_inner);
        cache.entry(key).or_insert_with(|| karpenter_solver::allocatable(it).ok()).clone()
    }

    /// The first fit's NodeClaims as patterns (where the model has a kind for them): the master starts from a
    /// solution at least as good as the first fit's.
    fn first_fit_columns(&self, round: &Round<'_>, plan: &Plan, batch: &Batch) -> Vec<Column> {
        let positions = pod_positions(round.pods);
        let mut class_of: HashMap<usize, usize> = HashMap::new();
        for (c, class) in batch.classes.list.iter().enumerate() {
            for &p in &class.pods {
                class_of.insert(p, c);
            }
        }
        let mut columns = Vec::new();
        for claim in &plan.new_node_claims {
            let Some(pool) = self.pools.iter().position(|p| *p == claim.node_pool) else { continue };
            let mut counts: BTreeMap<usize, u32> = BTreeMap::new();
            for pod in &claim.pods {
                if let Some(c) = positions.get(pod).and_then(|p| class_of.get(p)) {
                    *counts.entry(*c).or_default() += 1;
                }
            }
            let counts: Vec<(usize, u32)> = counts.into_iter().collect();
            let fits = |kind: &model::Kind| {
                counts.iter().all(|(c, _)| kind.classes.binary_search(c).is_ok())
                    && (0..kind.capacity.len()).all(|k| {
                        counts.iter().map(|(c, n)| batch.weights[*c][k] * i64::from(*n)).sum::<i64>()
                            <= kind.capacity[k]
                    })
            };
            // The cheapest kind of the pool that holds the claim's pods (usually its own cheapest option).
            let best = batch
                .kinds
                .iter()
                .enumerate()
                .filter(|(_, kind)| kind.pool == pool && fits(kind))
                .min_by(|a, b| a.1.price.total_cmp(&b.1.price).then(a.0.cmp(&b.0)));
            if let Some((kind, _)) = best {
                columns.push(Column { kind, counts });
            }
        }
        columns
    }
}

/// For every class, the kind that holds its pods most cheaply per pod, filled with that class only: a cover of the
/// batch to start column generation from.
fn single_class_columns(batch: &Batch) -> Result<Vec<Column>, usize> {
    let mut columns = Vec::new();
    for c in 0..batch.classes.list.len() {
        let mut best: Option<(f64, usize, u32)> = None;
        for (k, kind) in batch.kinds.iter().enumerate() {
            if kind.classes.binary_search(&c).is_err() {
                continue;
            }
            let fit = batch.weights[c]
                .iter()
                .zip(&kind.capacity)
                .filter(|(w, _)| **w > 0)
                .map(|(w, cap)| cap / w)
                .min()
                .unwrap_or(i64::MAX)
                .min(i64::from(batch.demand[c])) as u32;
            if fit == 0 {
                continue;
            }
            let per_pod = kind.price / f64::from(fit);
            if best.is_none_or(|(b, _, _)| per_pod < b) {
                best = Some((per_pod, k, fit));
            }
        }
        let Some((_, kind, fit)) = best else { return Err(c) };
        columns.push(Column { kind, counts: vec![(c, fit)] });
    }
    Ok(columns)
}

fn bound_summary(batch: &Batch, generated: &lp::Generated) -> Bound {
    Bound {
        value: generated.lower_bound.max(0.0),
        converged: generated.converged,
        classes: batch.classes.list.len(),
        kinds: batch.kinds.len(),
        columns: generated.columns.len(),
        iterations: generated.iterations,
    }
}

/// Position of each pod in the round's list, by reference (the first of equal references).
fn pod_positions(pods: &[Pod]) -> HashMap<PodRef, usize> {
    let mut positions = HashMap::new();
    for (i, pod) in pods.iter().enumerate() {
        positions.entry(PodRef::of(pod)).or_insert(i);
    }
    positions
}
