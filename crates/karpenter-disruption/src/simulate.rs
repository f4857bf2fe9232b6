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
use std::sync::Mutex;

use karpenter_solver::model::{ExistingNode, Pod, Taint, Toleration};
use karpenter_solver::plan::{ExistingNodePlacement, NewNodeClaim, PodRef};
use karpenter_solver::{Plan, Prepared, Round};

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

/// One scheduling question.
#[derive(Debug, Clone)]
pub struct SimulationRequest<'a> {
    /// Indices (into the view's nodes) of the nodes assumed gone.
    pub removed: Vec<usize>,
    /// The pods to place, with where they come from.
    pub pods: Vec<(&'a Pod, Origin)>,
    /// Indices of nodes that may take only pending pods and pods of deleting nodes (consolidation's
    /// consolidateAfter rule).
    pub protected: Vec<usize>,
}

/// Answers scheduling questions about one view.
pub trait Simulator: Sync {
    /// Places the request's pods on every node but the removed ones, in-flight NodeClaims and new NodeClaims.
    fn simulate(&self, request: &SimulationRequest<'_>) -> Plan;
}

/// A [`Simulator`] over the solver's prepared form: NodePools, instance types and DaemonSets are compiled once per
/// view, and each question is one [`Prepared::solve`] round.
///
/// A round takes the node list as a slice, so to avoid copying every node for every question the simulator keeps
/// a few node lists that already hold all the nodes; a question marks its removed nodes as deleting (the solver
/// skips those), taints the protected ones, solves, and undoes its changes. Questions run in parallel each take
/// their own list.
pub struct SolverSimulator {
    prepared: Prepared,
    nodes: Vec<ExistingNode>,
    namespaces: Vec<karpenter_solver::model::Namespace>,
    /// Node lists not in use by a question.
    spare: Mutex<Vec<Vec<ExistingNode>>>,
}

/// A taint no real pod tolerates, put on protected nodes for the duration of a question.
const PROTECTED_TAINT: &str = "karpenter-rs.internal/consolidate-after";

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
        let daemons: Vec<Pod> =
            view.daemon_set_pods.iter().cloned().map(with_protection_toleration).collect();
        let prepared =
            Prepared::new(&pools, &view.instance_types, &view.pool_instance_types, &daemons, &view.solver);
        SolverSimulator {
            prepared,
            nodes: view.nodes.iter().map(existing_node).collect(),
            namespaces: view.namespaces.clone(),
            spare: Mutex::new(Vec::new()),
        }
    }
}

impl Simulator for SolverSimulator {
    fn simulate(&self, request: &SimulationRequest<'_>) -> Plan {
        let spare = self.spare.lock().map(|mut s| s.pop()).unwrap_or(None);
        let mut nodes = spare.unwrap_or_else(|| self.nodes.clone());
        for &n in &request.removed {
            nodes[n].marked_for_deletion = true;
        }
        for &n in &request.protected {
            nodes[n].taints.push(Taint {
                key: PROTECTED_TAINT.to_string(),
                value: String::new(),
                effect: "NoSchedule".to_string(),
            });
        }
        let pods: Vec<Pod> = request
            .pods
            .iter()
            .map(|(pod, origin)| {
                let pod = (*pod).clone();
                if *origin == Origin::Candidate { pod } else { with_protection_toleration(pod) }
            })
            .collect();
        let plan = self.prepared.solve(&Round {
            pods: &pods,
            nodes: &nodes,
            namespaces: &self.namespaces,
            clock: None,
        });
        for &n in &request.removed {
            nodes[n].marked_for_deletion = self.nodes[n].marked_for_deletion;
        }
        for &n in &request.protected {
            nodes[n].taints.pop();
        }
        if let Ok(mut spare) = self.spare.lock() {
            spare.push(nodes);
        }
        plan
    }
}

fn with_protection_toleration(mut pod: Pod) -> Pod {
    pod.tolerations.push(Toleration {
        key: PROTECTED_TAINT.to_string(),
        operator: Some("Exists".to_string()),
        value: String::new(),
        effect: Some("NoSchedule".to_string()),
    });
    pod
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
    let mut pods: Vec<(&Pod, Origin)> =
        cluster.view.pending_pods.iter().map(|p| (p, Origin::Pending)).collect();
    for candidate in candidates {
        for pod in candidate.pods(cluster) {
            if options.include_blocked || cluster.pdbs.currently_movable(pod, now) {
                pods.push((&pod.pod, Origin::Candidate));
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
        for pod in &node.view.pods {
            if cluster::is_reschedulable(pod) && cluster.pdbs.currently_movable(pod, now) {
                pods.push((&pod.pod, Origin::Deleting));
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
    let origin: BTreeMap<PodRef, Origin> = pods.iter().map(|(p, o)| (cluster::pod_ref(p), *o)).collect();
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
