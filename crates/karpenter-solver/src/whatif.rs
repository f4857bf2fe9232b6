//! Many "what if these nodes went away?" questions about one round, for the disruption engine (upstream
//! `pkg/controllers/disruption/helpers.go`, `SimulateScheduling`).
//!
//! Upstream answers each question by copying the whole cluster state and building a scheduler from scratch: at a
//! thousand nodes that is tens of milliseconds per candidate, almost all of it copying and set-up. Here the round
//! (its nodes, the pods bound to them, the pending pods) is compiled once, with every bound pod also compiled as a
//! pod that might move. A question then names the nodes that are gone and the pods to place, and the scheduler runs
//! over references into that compiled round: nothing of the cluster is copied or compiled again. The answer is the
//! plan a fresh solve of the same round, with those nodes removed and those pods pending, would give.

use crate::Prepared;
use crate::compile::{self, Compiled, InvalidPod, NamespaceIndex, NodeData, PodData, PodKind};
use crate::error::FieldError;
use crate::plan::{Plan, PodRef};
use crate::prepared::Round;
use crate::scheduler::Scheduler;
use crate::topology::{BaseRef, TopologyBase};

/// A pod a question places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Moving {
    /// The round's `n`th pending pod.
    Pending(usize),
    /// The `pod`th pod bound to the round's `node`th node, moving elsewhere.
    Bound {
        /// Position of the node in the round.
        node: usize,
        /// Position of the pod in the node's pods.
        pod: usize,
    },
}

/// Whether a pod may land on protected nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// It may go anywhere (pending pods, pods of nodes already being deleted).
    Anywhere,
    /// It keeps off protected nodes (consolidation: a candidate's pods do not move onto nodes still within their
    /// `consolidateAfter` window).
    AvoidsProtected,
}

/// One question: these nodes are gone; where do these pods go?
#[derive(Debug, Clone, Copy, Default)]
pub struct Question<'q> {
    /// Positions (in the round) of the nodes assumed gone. Their pods count for nothing unless they are among
    /// `pods`.
    pub removed: &'q [usize],
    /// The pods to place, each with where it may land.
    pub pods: &'q [(Moving, Protection)],
    /// Positions (in the round) of the protected nodes.
    pub protected: &'q [usize],
}

/// A round compiled once, over its prepared NodePools, for many [`Question`]s; see the module documentation.
///
/// ```
/// use std::sync::Arc;
/// use karpenter_solver::{Moving, Prepared, Protection, Question, Round, SolverConfig, WhatIf, model::*};
///
/// let it: InstanceType = serde_json::from_str(r#"{"name": "m.large",
///     "capacity": {"cpu": "2", "memory": "8Gi", "pods": "29"},
///     "offerings": [{"zone": "a", "capacityType": "on-demand", "price": 0.1}]}"#).unwrap();
/// let pools = [NodePool { name: "default".into(), ..NodePool::default() }];
/// let prepared = Prepared::new(&pools, &[Arc::new(it)], &Default::default(), &[], &SolverConfig::default());
/// let node = |name: &str, pods: Vec<Pod>| ExistingNode {
///     name: name.into(),
///     capacity: [("cpu".into(), "2".into()), ("pods".into(), "29".into())].into(),
///     allocatable: [("cpu".into(), "2".into()), ("pods".into(), "29".into())].into(),
///     pods,
///     ..ExistingNode::default()
/// };
/// let web: Pod = serde_json::from_str(r#"{"name": "web", "containers": [{"requests": {"cpu": "500m"}}]}"#).unwrap();
/// let nodes = [node("a", vec![web]), node("b", vec![])];
/// let what_if = WhatIf::new(prepared, &Round { nodes: &nodes, ..Round::default() });
/// // Without node a, its pod fits on node b: node a can go without a replacement.
/// let moving = [(Moving::Bound { node: 0, pod: 0 }, Protection::AvoidsProtected)];
/// let plan = what_if.solve(&Question { removed: &[0], pods: &moving, protected: &[] });
/// assert!(plan.new_node_claims.is_empty());
/// assert_eq!(plan.existing_nodes[0].node, "b");
/// ```
pub struct WhatIf {
    prepared: Prepared,
    compiled: Compiled,
    /// Every pod bound to every node of the round, compiled as a pod to place (by node, then pod); a pod that
    /// cannot be read is the error naming its field.
    bound: Vec<Vec<Result<PodData, FieldError>>>,
    /// The references of those pods.
    bound_refs: Vec<Vec<PodRef>>,
    /// Topology groups counted over every node, worked out as questions need them.
    topology: TopologyBase,
}

impl WhatIf {
    /// Compiles a round once, over `prepared`, to answer many questions about removing some of its nodes.
    pub fn new(prepared: Prepared, round: &Round<'_>) -> WhatIf {
        let mut compiled = compile::compile_round(&prepared, round);
        let namespaces = NamespaceIndex::new(round.namespaces);
        let bound = round
            .nodes
            .iter()
            .map(|node| {
                node.pods
                    .iter()
                    .map(|pod| {
                        compile::compile_pod(
                            &mut compiled.interner,
                            &compiled.table,
                            &namespaces,
                            pod,
                            PodKind::Pending,
                        )
                    })
                    .collect()
            })
            .collect();
        let bound_refs = round.nodes.iter().map(|node| node.pods.iter().map(PodRef::of).collect()).collect();
        WhatIf { prepared, compiled, bound, bound_refs, topology: TopologyBase::default() }
    }

    /// The prepared NodePools, instance types and DaemonSets the questions are asked over.
    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    /// Places the question's pods on every node but the removed ones, then on new NodeClaims, as a fresh solve of
    /// the round with those nodes gone and those pods pending would. Positions out of range are ignored.
    pub fn solve(&self, question: &Question<'_>) -> Plan {
        let c = &self.compiled;
        let mut pods: Vec<PodData> = Vec::with_capacity(question.pods.len());
        let mut avoids: Vec<bool> = Vec::with_capacity(question.pods.len());
        let mut invalid: Vec<InvalidPod> = Vec::new();
        for &(moving, protection) in question.pods {
            let found = match moving {
                Moving::Pending(n) => match c.pod_positions.get(n) {
                    Some(Ok(id)) => Some(Ok(&c.pods[id.index()])),
                    Some(Err(i)) => Some(Err(c.invalid_pods[*i].clone())),
                    None => None,
                },
                Moving::Bound { node, pod } => {
                    self.bound.get(node).and_then(|pods| pods.get(pod)).map(|compiled| match compiled {
                        Ok(data) => Ok(data),
                        Err(error) => Err(InvalidPod {
                            reference: self.bound_refs[node][pod].clone(),
                            error: error.clone(),
                        }),
                    })
                }
            };
            match found {
                Some(Ok(data)) => {
                    pods.push(data.clone());
                    avoids.push(protection == Protection::AvoidsProtected);
                }
                Some(Err(invalid_pod)) => invalid.push(invalid_pod),
                None => {}
            }
        }
        let mut removed = vec![false; c.nodes.len()];
        for &n in question.removed {
            if let Some(Some(position)) = c.node_positions.get(n) {
                removed[*position] = true;
            }
        }
        let mut protected_positions = vec![false; c.nodes.len()];
        for &n in question.protected {
            if let Some(Some(position)) = c.node_positions.get(n) {
                protected_positions[*position] = true;
            }
        }
        let mut nodes: Vec<&NodeData> = Vec::with_capacity(c.nodes.len());
        let mut gone: Vec<&NodeData> = Vec::new();
        let mut protected: Vec<bool> = Vec::with_capacity(c.nodes.len());
        for (position, node) in c.nodes.iter().enumerate() {
            if removed[position] {
                gone.push(node);
            } else {
                nodes.push(node);
                protected.push(protected_positions[position]);
            }
        }
        let mut view = c.view(&nodes);
        view.pods = &pods;
        view.invalid_pods = &invalid;
        view.protected = &protected;
        view.avoids_protected = &avoids;
        view.base = Some(BaseRef { topology: &self.topology, all_nodes: &c.nodes, removed: &gone });
        Scheduler::new(&self.prepared, view, None).solve(None, None)
    }
}
