//! Scheduling simulations (`kubernetes-sigs/karpenter: pkg/controllers/disruption/helpers.go`
//! `SimulateScheduling`).
//!
//! Every method asks one question: if these nodes went away, where would their pods go? The candidates are removed
//! from the node list, and the pending pods, the candidates' movable pods and the pods of nodes already being
//! deleted are scheduled against the remaining nodes, the NodeClaims in flight and new NodeClaims. The answer is
//! valid when every pod that is not pending finds a place, and no candidate pod lands on a node that is not
//! initialised. In consolidation, candidate pods may not land on nodes still within their consolidateAfter window.
//!
//! All of this goes through [`Simulator`], one small trait, so that the solver's prepared and incremental forms
//! can replace [`SolverSimulator`] without touching the decision logic.

use std::collections::{BTreeMap, BTreeSet};

use karpenter_solver::model::{ExistingNode, Pod};
use karpenter_solver::plan::{ExistingNodePlacement, NewNodeClaim, PodRef};
use karpenter_solver::{Moving, Plan, Prepared, Protection, Question, Round, WhatIf};

use crate::candidate::Candidate;
use crate::cluster::{self, Cluster};
use crate::decision::PodFailure;

/// Where a pod of a simulation comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Waiting for capacity: its failure does not invalidate a decision.
    Pending,
    /// On a candidate node.
    Candidate,
    /// On a node that is already being deleted.
    Deleting,
}

/// Where a pod of a simulation is in the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PodAt {
    /// The view's `n`th pending pod.
    Pending(usize),
    /// The `pod`th pod of the view's `node`th node.
    Node {
        /// Index of the node in the view.
        node: usize,
        /// Index of the pod in the node's pods.
        pod: usize,
    },
}

/// One scheduling question.
#[derive(Debug, Clone)]
pub struct SimulationRequest {
    /// Indices (into the view's nodes) of the nodes assumed gone.
    pub removed: Vec<usize>,
    /// The pods to place, with where they come from.
    pub pods: Vec<(PodAt, Origin)>,
    /// Indices of nodes that may take only pending pods and pods of deleting nodes (consolidation's
    /// consolidateAfter rule).
    pub protected: Vec<usize>,
}

/// Answers scheduling questions about one view.
pub trait Simulator: Sync {
    /// Places the request's pods on every node but the removed ones, in-flight NodeClaims and new NodeClaims.
    fn simulate(&self, request: &SimulationRequest) -> Plan;
}

/// A [`Simulator`] over the solver's [`WhatIf`]: NodePools, instance types and DaemonSets are compiled once per
/// view, and so are its nodes and every pod bound to them; a question then only names the nodes gone and the pods
/// to place, and the solver answers over references into that compiled round, with nothing copied or compiled
/// again (upstream copies the whole cluster state and builds a scheduler for every candidate).
pub struct SolverSimulator {
    what_if: WhatIf,
}

impl SolverSimulator {
    /// Compiles the parts of the view every question shares.
    pub fn new(view: &crate::view::ClusterView) -> Self {
        // Static NodePools and NodePools that are not ready never launch for the provisioner.
        let pools: Vec<_> = view
            .node_pools
            .iter()
            .filter(|p| p.replicas.is_none() && p.ready)
            .map(|p| p.pool.clone())
            .collect();
        let prepared = Prepared::new(
            &pools,
            &view.instance_types,
            &view.pool_instance_types,
            &view.daemon_set_pods,
            &view.solver,
        );
        let nodes: Vec<ExistingNode> = view.nodes.iter().map(existing_node).collect();
        let round =
            Round { pods: &view.pending_pods, nodes: &nodes, namespaces: &view.namespaces, clock: None };
        SolverSimulator { what_if: WhatIf::new(prepared, &round) }
    }
}

impl Simulator for SolverSimulator {
    fn simulate(&self, request: &SimulationRequest) -> Plan {
        let pods: Vec<(Moving, Protection)> = request
            .pods
            .iter()
            .map(|&(at, origin)| {
                let moving = match at {
                    PodAt::Pending(n) => Moving::Pending(n),
                    PodAt::Node { node, pod } => Moving::Bound { node, pod },
                };
                // Only a candidate's pods keep off nodes within consolidateAfter.
                let protection = if origin == Origin::Candidate {
                    Protection::AvoidsProtected
                } else {
                    Protection::Anywhere
                };
                (moving, protection)
            })
            .collect();
        self.what_if.solve(&Question {
            removed: &request.removed,
            pods: &pods,
            protected: &request.protected,
        })
    }
}

fn existing_node(node: &crate::view::Node) -> ExistingNode {
    ExistingNode {
        name: node.name.clone(),
        labels: node.labels.clone(),
        taints: node.taints.clone(),
        startup_taints: node.startup_taints.clone(),
        capacity: node.capacity.clone(),
        allocatable: node.allocatable.clone(),
        initialized: node.initialized,
        marked_for_deletion: node.marked_for_deletion,
        pods: node.pods.iter().map(|p| p.pod.clone()).collect(),
    }
}

/// What a simulation means for a disruption decision.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) new_claims: Vec<NewNodeClaim>,
    pub(crate) destinations: Vec<ExistingNodePlacement>,
    /// Pods that are not pending and found no place.
    pub(crate) failures: Vec<PodFailure>,
    /// An uninitialised node some candidate pod would land on.
    pub(crate) uninitialized: Option<String>,
}

/// Options of one simulation.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Options {
    /// A consolidation simulation: candidate pods avoid nodes within consolidateAfter.
    pub(crate) consolidation: bool,
    /// Repair: move every reschedulable pod, blocked or not.
    pub(crate) include_blocked: bool,
}

/// Runs the simulation for removing `candidates` and interprets it.
pub(crate) fn run(
    cluster: &Cluster<'_>,
    simulator: &dyn Simulator,
    candidates: &[&Candidate<'_>],
    options: Options,
) -> Outcome {
    let now = cluster.now;
    let mut pods: Vec<(PodAt, Origin)> =
        (0..cluster.view.pending_pods.len()).map(|n| (PodAt::Pending(n), Origin::Pending)).collect();
    for candidate in candidates {
        let node = &cluster.nodes[candidate.node].view;
        for &i in &candidate.reschedulable {
            if options.include_blocked || cluster.pdbs.currently_movable(&node.pods[i], now) {
                pods.push((PodAt::Node { node: candidate.node, pod: i }, Origin::Candidate));
            }
        }
    }
    let mut removed: BTreeSet<usize> = candidates.iter().map(|c| c.node).collect();
    let mut deleting_pods = BTreeSet::new();
    for &n in &cluster.by_name {
        let node = &cluster.nodes[n];
        if !node.deleting() || removed.contains(&n) {
            continue;
        }
        for (i, pod) in node.view.pods.iter().enumerate() {
            if cluster::is_reschedulable(pod) && cluster.pdbs.currently_movable(pod, now) {
                pods.push((PodAt::Node { node: n, pod: i }, Origin::Deleting));
                deleting_pods.insert(cluster::pod_ref(&pod.pod));
            }
        }
    }
    // Nodes expiring this pass are gone for the simulation too.
    removed.extend((0..cluster.nodes.len()).filter(|&n| cluster.nodes[n].expired_at.is_some()));
    let removed: Vec<usize> = removed.into_iter().collect();
    let protected: Vec<usize> = if options.consolidation {
        (0..cluster.nodes.len())
            .filter(|n| !removed.contains(n) && !cluster.nodes[*n].deleting())
            .filter(|&n| cluster.under_consolidate_after(&cluster.nodes[n]).is_some())
            .collect()
    } else {
        Vec::new()
    };
    let pod_of = |at: PodAt| -> &Pod {
        match at {
            PodAt::Pending(n) => &cluster.view.pending_pods[n],
            PodAt::Node { node, pod } => &cluster.nodes[node].view.pods[pod].pod,
        }
    };
    let origin: BTreeMap<PodRef, Origin> =
        pods.iter().map(|(at, o)| (cluster::pod_ref(pod_of(*at)), *o)).collect();
    let plan = simulator.simulate(&SimulationRequest { removed, pods, protected });

    let mut failures: Vec<PodFailure> = plan
        .unschedulable
        .iter()
        .filter(|u| origin.get(&u.pod) != Some(&Origin::Pending))
        .map(|u| PodFailure { pod: u.pod.clone(), reason: u.reason.to_string() })
        .collect();
    // Bad objects that kept candidate pods out of the solve are failures too.
    for error in &plan.input_errors {
        if error.object.starts_with("Pod/") {
            failures.push(PodFailure {
                pod: PodRef { namespace: String::new(), name: error.object.clone() },
                reason: error.message.clone(),
            });
        }
    }
    let by_name: BTreeMap<&str, usize> =
        cluster.nodes.iter().enumerate().map(|(i, n)| (n.view.name.as_str(), i)).collect();
    let uninitialized = plan.existing_nodes.iter().find_map(|placement| {
        let node = by_name.get(placement.node.as_str()).map(|&i| &cluster.nodes[i])?;
        let moved = placement.pods.iter().any(|p| origin.get(p) == Some(&Origin::Candidate));
        (!node.view.initialized && moved).then(|| placement.node.clone())
    });
    Outcome { new_claims: plan.new_node_claims, destinations: plan.existing_nodes, failures, uninitialized }
}
