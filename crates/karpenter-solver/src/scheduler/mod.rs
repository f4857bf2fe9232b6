//! The provisioning simulation of upstream's `pkg/controllers/provisioning/scheduling`, one file per part of
//! upstream's file map:
//!
//! - here, the loop and the queue (`scheduler.go` `Solve`, `queue.go`): pods are taken largest first, and a pod
//!   that fits nowhere goes to the back of the queue until a whole cycle passes without progress;
//! - [`preferences`]: relaxing a pod's preferences one at a time (`preferences.go`);
//! - [`checks`]: every admission check, in the one order both paths make them;
//! - [`existing`]: existing and in-flight nodes (`existingnode.go`);
//! - [`claims`]: NodeClaims of the round and new ones from NodePool templates (`nodeclaim.go`);
//! - [`finalize`]: DaemonSet overhead, price-ordered truncation and the plan (`FinalizeScheduling`).
//!
//! Each pod goes to the first existing node that takes it, else to the emptiest NodeClaim opened in this round that
//! still has an instance type able to hold it, else to a new NodeClaim from the first NodePool (by weight) that can
//! take it. A NodeClaim keeps every instance type that still fits all of its pods, so packing is
//! first-fit-decreasing into bins whose size is only fixed at the end, when the cheapest types are kept.

mod checks;
mod claims;
mod existing;
mod finalize;
mod preferences;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crate::Prepared;
use crate::compile::RoundView;
use crate::filter::Types;
use crate::ids::{ClaimId, PodId};
use crate::plan::{PhaseTimings, SolveStats, Unschedulable};
use crate::topology::Topology;

use checks::{Attempt, Explain};
use claims::Claim;
use existing::Node;
use preferences::{PreferNoScheduleTaints, Relaxation};

/// A monotonic clock passed in by the caller; see [`crate::Round::clock`].
type Clock<'a> = &'a (dyn Fn() -> Duration + Sync);

/// What a NodePool may still launch in this round: its limits minus existing capacity minus opened claims.
pub(crate) struct PoolBudget {
    remaining: Vec<Option<i64>>,
    remaining_nodes: Option<i64>,
}

pub(crate) struct Scheduler<'a> {
    prepared: &'a Prepared,
    c: RoundView<'a>,
    /// Per template of `prepared`, in the same order.
    budgets: Vec<PoolBudget>,
    nodes: Vec<Node<'a>>,
    claims: Vec<Claim>,
    /// Claim ids ordered emptiest first, ties by age.
    claim_order: Vec<ClaimId>,
    topology: Topology,
    stats: SolveStats,
    clock: Option<Clock<'a>>,
}

impl<'a> Scheduler<'a> {
    pub(crate) fn new(prepared: &'a Prepared, c: RoundView<'a>, clock: Option<Clock<'a>>) -> Self {
        let topology = Topology::new(&c, prepared);
        let budgets = prepared
            .templates
            .iter()
            .map(|t| PoolBudget { remaining: t.data.limits.clone(), remaining_nodes: t.data.node_limit })
            .collect();
        let mut scheduler = Scheduler {
            prepared,
            c,
            budgets,
            nodes: Vec::with_capacity(c.nodes.len()),
            claims: Vec::new(),
            claim_order: Vec::new(),
            topology,
            stats: SolveStats { pods: c.pods.len(), nodes: c.nodes.len(), ..SolveStats::default() },
            clock,
        };
        let hostname_key = c.keys().hostname;
        let hostnames: Vec<_> = c
            .nodes
            .iter()
            .filter_map(|data| data.requirements.get(hostname_key).and_then(|r| r.values().first()).copied())
            .collect();
        scheduler.topology.register_hostnames(hostnames);
        for &data in c.nodes {
            scheduler.nodes.push(Node::new(prepared, &c, data));
            // Existing capacity of a NodePool counts against its limits.
            if let Some(pool) = &data.node_pool
                && let Some(index) = prepared.templates.iter().position(|t| &t.data.name == pool)
            {
                scheduler.budgets[index].charge(&data.capacity);
            }
        }
        scheduler
    }

    /// The round's instance types: the prepared table read through the round's interner.
    fn types(&self) -> Types<'a> {
        self.prepared.types(self.c.interner)
    }

    /// Runs the queue and returns the plan. `started` and `compiled_at` are the clock's readings before and
    /// after the round was compiled, when there is a clock.
    pub(crate) fn solve(mut self, started: Option<Duration>, compiled_at: Option<Duration>) -> Plan {
        let now = |clock: Option<Clock<'_>>| clock.map(|clock| clock());
        let topology_built = now(self.clock);
        let c = self.c;
        let mut order: Vec<PodId> = (0..c.pods.len()).map(PodId::new).collect();
        order.sort_by(|&a, &b| {
            let (pa, pb) = (c.pod(a), c.pod(b));
            pa.queue.cmp(&pb.queue).then_with(|| pa.reference.cmp(&pb.reference))
        });
        let mut queue: VecDeque<PodId> = order.iter().copied().collect();
        let mut last_length: Vec<Option<usize>> = vec![None; c.pods.len()];
        let mut errors: HashMap<PodId, Unschedulable> = HashMap::new();
        // A failed pod goes to the back with the queue length noted; meeting it again at the same length means a
        // whole cycle passed without progress.
        while let Some(&pod) = queue.front() {
            if last_length[pod.index()] == Some(queue.len()) {
                break;
            }
            queue.pop_front();
            match self.try_schedule(pod) {
                Ok(()) => {
                    errors.remove(&pod);
                }
                Err(reason) => {
                    errors.insert(pod, reason);
                    queue.push_back(pod);
                    last_length[pod.index()] = Some(queue.len());
                }
            }
        }
        let scheduled = now(self.clock);
        let clock = self.clock;
        let mut stats = self.stats.clone();
        stats.claims = self.claims.len();
        let mut plan = self.into_plan(&order, errors, stats);
        if let (Some(clock), Some(started), Some(compiled_at), Some(topology_built), Some(scheduled)) =
            (clock, started, compiled_at, topology_built, scheduled)
        {
            let finished = clock();
            plan.stats.phases = Some(PhaseTimings {
                compile: compiled_at.saturating_sub(started),
                topology: topology_built.saturating_sub(compiled_at),
                schedule: scheduled.saturating_sub(topology_built),
                finalize: finished.saturating_sub(scheduled),
            });
        }
        plan
    }

    fn try_schedule(&mut self, pod: PodId) -> Result<(), Unschedulable> {
        let data = self.c.pod(pod);
        if data.uses_dra {
            // Never relaxed: nothing about the pod's preferences changes the answer.
            return Err(Unschedulable::NotSupported {
                feature: "DynamicResourceAllocation".to_string(),
                message: "the pod has resourceClaims; Dynamic Resource Allocation is not supported yet"
                    .to_string(),
            });
        }
        let policy = self.prepared.config.preference_policy;
        let taints = if self.prepared.any_prefer_no_schedule_taint {
            PreferNoScheduleTaints::Present
        } else {
            PreferNoScheduleTaints::Absent
        };
        let mut relaxation = Relaxation::new(data);
        loop {
            self.stats.attempts += 1;
            match self.add(pod, &relaxation) {
                Ok(()) => return Ok(()),
                Err(reason) => {
                    if !relaxation.relax(data, policy, taints) {
                        return Err(reason);
                    }
                }
            }
        }
    }

    /// Places the pod on the first existing node that takes it, else on a NodeClaim of this round, else on a new
    /// NodeClaim (`scheduler.go` `add`).
    fn add(&mut self, pod: PodId, relaxation: &Relaxation) -> Result<(), Unschedulable> {
        let c = self.c;
        let interner = &c.interner;
        let data = c.pod(pod);
        let requirements = relaxation.requirements(interner, data, self.prepared.config.preference_policy);
        let strict = relaxation.strict_requirements(interner, data);
        let constraints = self.topology.constraints(pod, data, &relaxation.topology);
        let extra_toleration = relaxation.extra_toleration();
        let mut attempt = Attempt {
            pod,
            data,
            requirements: &requirements,
            strict: &strict,
            constraints: &constraints,
            extra_toleration: extra_toleration.as_ref(),
            explain: Explain::Silently,
        };

        // 1. Existing and in-flight nodes, initialised first.
        for n in 0..self.nodes.len() {
            self.stats.nodes_tried += 1;
            if c.kept_off(pod, n) {
                continue;
            }
            // A shortcut of check 5 for the common hostname topologies: one lookup, no requirement built.
            if let Some(hostname) = self.nodes[n].hostname
                && self.topology.refuses_hostname(pod, &constraints, hostname)
            {
                continue;
            }
            if let Some(placed) = self.nodes[n].admit(&c, &self.topology, &attempt) {
                let node = &mut self.nodes[n];
                crate::resources::sub_assign(&mut node.remaining, &data.requests);
                node.pods.push(pod);
                node.ports.extend(data.host_ports.iter().cloned());
                self.topology.record(interner, pod, &node.data.taints, &placed);
                return Ok(());
            }
        }

        // 2. NodeClaims of this round, emptiest first.
        if self.place_on_claims(&attempt) {
            return Ok(());
        }

        // 3. A new NodeClaim from the first NodePool that takes the pod. Only these refusals are reported, so only
        // they are put into words.
        attempt.explain = Explain::InWords;
        self.open_claim(&attempt)
    }
}

use crate::plan::Plan;
