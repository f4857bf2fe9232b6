//! Karpenter's disruption decisions as a pure function of a cluster view.
//!
//! Given the nodes with their pods, prices and NodeClaims, the NodePools with their policies and budgets, the
//! pending pods, the PodDisruptionBudgets and `now`, [`decide`] returns the commands upstream Karpenter's disruption
//! controller would issue (`kubernetes-sigs/karpenter: pkg/controllers/disruption`, v1.15): repair, emptiness,
//! static drift, drift, multi-node and single-node consolidation, in that order, the first method that acts ending
//! the pass; plus the NodeClaims that expired, and for every other node the reasons it stays. [`validate`] is the
//! check the controller runs on a consolidation command 15 seconds later, against a fresh view.
//!
//! Every scheduling question goes through the [`Simulator`] trait; [`SolverSimulator`] answers it with
//! `karpenter_solver::solve`. The engine reads no clock: upstream's timeouts are [`SearchLimit`]s the caller sets.
//!
//! ```
//! use karpenter_disruption::{decide, Options, view::*};
//!
//! let view: ClusterView = serde_json::from_str(r#"{
//!   "now": 1000,
//!   "nodePools": [{"pool": {"name": "default"}, "disruption": {"budgets": [{"nodes": "100%"}]}}],
//!   "instanceTypes": [{
//!     "name": "m.large",
//!     "capacity": {"cpu": "2", "memory": "8Gi", "pods": "29"},
//!     "offerings": [{"zone": "a", "capacityType": "on-demand", "price": 0.096}]
//!   }],
//!   "nodes": [{
//!     "name": "idle",
//!     "labels": {"karpenter.sh/nodepool": "default", "node.kubernetes.io/instance-type": "m.large",
//!                "topology.kubernetes.io/zone": "a", "karpenter.sh/capacity-type": "on-demand"},
//!     "allocatable": {"cpu": "2", "memory": "8Gi", "pods": "29"},
//!     "conditions": [{"type": "Ready", "status": "True"}],
//!     "nodeClaim": {"name": "idle", "created": 0, "initializedAt": 10}
//!   }]
//! }"#).unwrap();
//! let decision = decide(&view, &Options::default());
//! assert_eq!(decision.commands.len(), 1);
//! assert_eq!(decision.commands[0].node_names(), ["idle"]);
//! assert_eq!(decision.commands[0].reason.as_str(), "Empty");
//! ```

mod budget;
mod candidate;
mod cluster;
mod consolidation;
pub mod decision;
pub mod duration;
mod engine;
mod pdb;
mod repair;
mod revisit;
mod simulate;
mod validate;
pub mod view;

pub use decision::{Action, Command, Decision, KeptNode, KeptReason, Method, Reason};
pub use revisit::next_change;
pub use simulate::{Origin, PodAt, SimulationRequest, Simulator, SolverSimulator};
pub use validate::{ValidationError, validate, validate_with};

/// A cap on a search upstream bounds with a timeout: a number of evaluations, a deadline the caller checks, or both.
#[derive(Clone, Copy, Default)]
pub struct SearchLimit<'a> {
    /// Stop after this many evaluations (multi-node: simulations; single-node: candidates examined).
    pub max_evaluations: Option<usize>,
    /// Stop as soon as this returns true (for example, a wall-clock deadline the controller owns).
    pub deadline: Option<&'a (dyn Fn() -> bool + Sync)>,
}

impl std::fmt::Debug for SearchLimit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchLimit")
            .field("max_evaluations", &self.max_evaluations)
            .field("deadline", &self.deadline.map(|_| "fn"))
            .finish()
    }
}

/// How multi-node consolidation looks for a set of nodes to remove together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MultiNodeSearch {
    /// Upstream's binary search over prefixes of the candidates, at most 100 of them.
    #[default]
    Prefix,
    /// Upstream's search, then a greedy pass that tries to add each of the first `candidates` candidates, in
    /// order, to the set found so far and keeps it when the set stays a valid command; the command that saves more
    /// is taken (the prefix search's on a tie). Prefix sets are not the only ones that consolidate: a candidate that
    /// cannot go with its predecessors no longer stops the ones after it. Each candidate tried is one simulation of
    /// the whole set: 100 keeps a pass over 5,000 nodes within a minute on two cores.
    Greedy {
        /// How many candidates, in order, the greedy pass considers.
        candidates: usize,
    },
}

/// How one pass searches.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    /// Multi-node consolidation's bound (upstream: a 1-minute timeout).
    pub multi_node: SearchLimit<'a>,
    /// How multi-node consolidation searches.
    pub multi_node_search: MultiNodeSearch,
    /// Single-node consolidation's bound (upstream: a 3-minute timeout).
    pub single_node: SearchLimit<'a>,
    /// NodePools the previous pass did not reach ([`Decision::unseen_node_pools`]); they go first.
    pub unseen_node_pools: Vec<String>,
    /// Simulate every single-node candidate, so that every node carries its own reason; the command is still the
    /// first valid one in order.
    pub explain_all: bool,
    /// Evaluate single-node candidates on several threads (rayon); the answer does not change.
    pub parallel: bool,
}

impl MultiNodeSearch {
    /// The greedy search over the first 100 candidates.
    pub const GREEDY: MultiNodeSearch = MultiNodeSearch::Greedy { candidates: 100 };
}

impl Options<'_> {
    /// Upstream's behaviour: no limits here (the caller supplies deadlines), sequential.
    pub fn upstream() -> Self {
        Options::default()
    }

    pub(crate) fn batch_size(&self) -> usize {
        if self.parallel { rayon::current_num_threads().max(1) } else { 1 }
    }
}

/// Runs one disruption pass over `view`, simulating with the solver.
pub fn decide(view: &view::ClusterView, options: &Options<'_>) -> Decision {
    decide_with(view, &SolverSimulator::new(view), options)
}

/// Runs one disruption pass over `view`, simulating with `simulator`.
pub fn decide_with(view: &view::ClusterView, simulator: &dyn Simulator, options: &Options<'_>) -> Decision {
    let cluster = cluster::Cluster::new(view);
    engine::Pass::new(&cluster, simulator, options).run()
}
