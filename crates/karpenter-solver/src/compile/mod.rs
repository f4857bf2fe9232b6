//! Turns input objects into checked, interned data the scheduler can use without further parsing.
//!
//! Every object is checked on its own: a malformed pod becomes an [`Unschedulable::InvalidPod`] naming the field,
//! a malformed NodePool, node, instance type or DaemonSet pod becomes an [`InputError`], and the rest of the
//! problem is solved as usual. Upstream's checks live in `pkg/controllers/provisioning/provisioner.go`
//! (`Validate`) and `pkg/apis/v1/nodeclaim_validation.go` (`ValidateRequirement`).
//!
//! What does not change between rounds (NodePools, instance types, DaemonSets) is compiled once by
//! [`crate::Prepared`] with the functions of `pools`, `types` and `pods`; [`compile_round`] compiles what a round
//! brings (pending pods, nodes, namespaces) on top of it.
//!
//! [`Unschedulable::InvalidPod`]: crate::plan::Unschedulable::InvalidPod

mod nodes;
mod pods;
mod pools;
mod selectors;
mod types;

use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) use nodes::compile_node;
pub(crate) use pods::{PodKind, compile_pod};
pub(crate) use pools::compile_template;
pub(crate) use selectors::{KeyCheck, compile_term};
pub(crate) use types::{compile_instance_type, ignored_offerings};

use crate::error::FieldError;
use crate::ids::{PodId, TypeId, ValueId};
use crate::interner::{Interner, WellKnownKeys};
use crate::model::{self, Namespace};
use crate::plan::{InputError, PodRef};
use crate::podterms::{HostPort, Term};
use crate::requirements::Requirements;
use crate::resources::{Res, ResourceTable};
use crate::taints::{Taint, Toleration};
use crate::{Prepared, Round};

/// The order pods are tried in (`queue.go`): CPU then memory descending, then older first, then UID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueueKey {
    cpu: i64,
    memory: i64,
    created: i64,
    /// The pod's UID, `namespace/name` when it has none.
    uid: String,
}

impl QueueKey {
    pub(crate) fn new(pod: &model::Pod, requests: &Res) -> Self {
        QueueKey {
            cpu: requests[crate::resources::CPU_INDEX],
            memory: requests[crate::resources::MEMORY_INDEX],
            created: pod.creation_timestamp,
            uid: if pod.uid.is_empty() { format!("{}/{}", pod.namespace, pod.name) } else { pod.uid.clone() },
        }
    }
}

impl Ord for QueueKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .cpu
            .cmp(&self.cpu)
            .then_with(|| other.memory.cmp(&self.memory))
            .then_with(|| self.created.cmp(&other.created))
            .then_with(|| self.uid.cmp(&other.uid))
    }
}

impl PartialOrd for QueueKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A pod's scheduling data, computed once.
#[derive(Debug, Clone)]
pub(crate) struct PodData {
    /// The pod, for the plan.
    pub(crate) reference: PodRef,
    /// Where it stands in the queue.
    pub(crate) queue: QueueKey,
    pub(crate) requests: Res,
    pub(crate) node_selector: Requirements,
    /// ORed required node-affinity terms.
    pub(crate) required_terms: Vec<Requirements>,
    /// Preferred node-affinity terms, heaviest first (stable for equal weights).
    pub(crate) preferred_terms: Vec<Requirements>,
    pub(crate) tolerations: Vec<Toleration>,
    pub(crate) namespace: String,
    pub(crate) labels: BTreeMap<String, String>,
    /// Topology spread constraints, in the pod's order.
    pub(crate) spread: Vec<Term>,
    pub(crate) affinity_required: Vec<Term>,
    /// Preferred pod-affinity terms, heaviest first.
    pub(crate) affinity_preferred: Vec<Term>,
    pub(crate) anti_required: Vec<Term>,
    /// Preferred pod-anti-affinity terms, heaviest first.
    pub(crate) anti_preferred: Vec<Term>,
    pub(crate) host_ports: Vec<HostPort>,
    /// ORed alternatives the pod's volumes allow; empty when its volumes do not constrain it.
    pub(crate) volume_alternatives: Vec<Requirements>,
    /// The pod asks for Dynamic Resource Allocation claims.
    pub(crate) uses_dra: bool,
}

impl PodData {
    /// Node selector plus one required node-affinity term, without preferences: what the pod needs whatever is
    /// relaxed.
    pub(crate) fn strict_requirements(&self, interner: &Interner, term: usize) -> Requirements {
        let mut requirements = self.node_selector.clone();
        if let Some(term) = self.required_terms.get(term) {
            requirements.add_all(interner, term);
        }
        requirements
    }
}

/// A pod already running on a node, as topology sees it.
#[derive(Debug, Clone)]
pub(crate) struct BoundPod {
    pub(crate) namespace: String,
    pub(crate) labels: BTreeMap<String, String>,
    /// Required anti-affinity terms: they keep matching pods out of this pod's domains.
    pub(crate) anti_required: Vec<Term>,
    pub(crate) host_ports: Vec<HostPort>,
    pub(crate) tolerations: Vec<Toleration>,
    /// False for a terminating pod: upstream's `IgnoredForTopology`.
    pub(crate) counts_for_topology: bool,
}

/// An instance type with its allocatable resources worked out.
#[derive(Debug, Clone)]
pub(crate) struct InstanceTypeData {
    /// Shared with every plan option that names it.
    pub(crate) name: Arc<str>,
    pub(crate) requirements: Requirements,
    pub(crate) capacity: Res,
    pub(crate) allocatable: Res,
    pub(crate) offerings: Vec<OfferingData>,
    /// The slots (see [`crate::filter::OfferingSlots`]) of its available offerings, as bits.
    pub(crate) available_slots: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct OfferingData {
    pub(crate) zone: ValueId,
    pub(crate) capacity_type: ValueId,
    pub(crate) price: f64,
    pub(crate) available: bool,
    /// Its (zone, capacity type) slot, when the prepared types have few enough for a bit mask.
    pub(crate) slot: Option<u8>,
}

/// A NodePool's template, ready to open NodeClaims from.
#[derive(Debug, Clone)]
pub(crate) struct TemplateData {
    pub(crate) name: String,
    /// `spec.weight`, 0 when unset.
    pub(crate) weight: i32,
    pub(crate) requirements: Requirements,
    pub(crate) taints: Vec<Taint>,
    pub(crate) model_taints: Vec<model::Taint>,
    pub(crate) model_startup_taints: Vec<model::Taint>,
    pub(crate) labels: BTreeMap<String, String>,
    /// Limits per resource index; `None` where the NodePool sets no limit.
    pub(crate) limits: Vec<Option<i64>>,
    pub(crate) node_limit: Option<i64>,
    /// The instance types offered to the pool, sorted by name.
    pub(crate) instance_types: Vec<TypeId>,
}

/// A node that can take pods, with what is left of it.
#[derive(Debug, Clone)]
pub(crate) struct NodeData {
    pub(crate) name: String,
    pub(crate) initialized: bool,
    pub(crate) taints: Vec<Taint>,
    pub(crate) requirements: Requirements,
    /// Allocatable minus bound pods.
    pub(crate) available: Res,
    /// Requests of the DaemonSet pods already running there.
    pub(crate) running_daemon_requests: Res,
    pub(crate) capacity: Res,
    pub(crate) node_pool: Option<String>,
    pub(crate) pods: Vec<BoundPod>,
}

/// A pending pod that could not be read, and why.
#[derive(Debug, Clone)]
pub(crate) struct InvalidPod {
    pub(crate) reference: PodRef,
    pub(crate) error: FieldError,
}

/// The namespaces of a round, for `namespaceSelector` in pod (anti-)affinity terms: read once per round.
pub(crate) struct NamespaceIndex<'a> {
    namespaces: &'a [Namespace],
}

impl<'a> NamespaceIndex<'a> {
    pub(crate) fn new(namespaces: &'a [Namespace]) -> Self {
        NamespaceIndex { namespaces }
    }

    /// Names of the namespaces whose labels the selector matches.
    pub(crate) fn selected<'s>(
        &'s self,
        selector: &'s crate::podterms::Selector,
    ) -> impl Iterator<Item = &'a str> + 's {
        self.namespaces.iter().filter(move |ns| selector.matches(&ns.labels)).map(|ns| ns.name.as_str())
    }
}

/// What a round brings, checked and interned on top of a [`Prepared`]'s base.
pub(crate) struct Compiled {
    /// The prepared base plus the round's own labels.
    pub(crate) interner: Interner,
    /// The prepared resources plus any the round's pods and nodes name.
    pub(crate) table: ResourceTable,
    pub(crate) pods: Vec<PodData>,
    pub(crate) invalid_pods: Vec<InvalidPod>,
    /// For each pod of the round, in its order: where it went (`Ok`: its id; `Err`: its place in `invalid_pods`).
    pub(crate) pod_positions: Vec<Result<PodId, usize>>,
    /// Nodes that can take pods, initialised first, then by name.
    pub(crate) nodes: Vec<NodeData>,
    /// For each node of the round, in its order: its place in `nodes`, if it can take pods.
    pub(crate) node_positions: Vec<Option<usize>>,
    /// Nodes that were set aside.
    pub(crate) input_errors: Vec<InputError>,
}

impl Compiled {
    /// The whole round, for the scheduler: `nodes` are references to `self.nodes` (the caller holds them).
    pub(crate) fn view<'a>(&'a self, nodes: &'a [&'a NodeData]) -> RoundView<'a> {
        RoundView {
            interner: &self.interner,
            table: &self.table,
            pods: &self.pods,
            invalid_pods: &self.invalid_pods,
            nodes,
            protected: &[],
            avoids_protected: &[],
            input_errors: &self.input_errors,
            base: None,
        }
    }
}

/// What a scheduler reads of a round: the whole compiled round, or a question's selection of it (some nodes gone,
/// some pods to move; see [`crate::WhatIf`]). Only references, so that a question costs no copy of the cluster.
#[derive(Clone, Copy)]
pub(crate) struct RoundView<'a> {
    pub(crate) interner: &'a Interner,
    pub(crate) table: &'a ResourceTable,
    /// The pods to place.
    pub(crate) pods: &'a [PodData],
    pub(crate) invalid_pods: &'a [InvalidPod],
    /// Nodes that can take pods, initialised first, then by name.
    pub(crate) nodes: &'a [&'a NodeData],
    /// For each of `nodes`, whether it is protected: pods that avoid protected nodes may not land there (empty when
    /// none is).
    pub(crate) protected: &'a [bool],
    /// For each of `pods`, whether it avoids protected nodes (empty when none does).
    pub(crate) avoids_protected: &'a [bool],
    pub(crate) input_errors: &'a [InputError],
    /// For a what-if question: the topology counted over every node of the round, to copy groups from.
    pub(crate) base: Option<crate::topology::BaseRef<'a>>,
}

impl<'a> RoundView<'a> {
    pub(crate) fn keys(&self) -> WellKnownKeys {
        self.interner.keys()
    }

    pub(crate) fn pod(&self, pod: PodId) -> &'a PodData {
        &self.pods[pod.index()]
    }

    /// True when the pod may not land on the `n`th node.
    pub(crate) fn kept_off(&self, pod: PodId, n: usize) -> bool {
        self.protected.get(n).copied().unwrap_or(false)
            && self.avoids_protected.get(pod.index()).copied().unwrap_or(false)
    }
}

/// Compiles a round's pending pods and nodes against a prepared problem.
pub(crate) fn compile_round(prepared: &Prepared, round: &Round<'_>) -> Compiled {
    let mut interner = prepared.interner.extend();
    let mut table = prepared.table.clone();
    table.extend(ResourceTable::pod_lists(round.pods.iter().chain(round.nodes.iter().flat_map(|n| &n.pods))));
    table.extend(round.nodes.iter().flat_map(|n| [&n.capacity, &n.allocatable]));
    let namespaces = NamespaceIndex::new(round.namespaces);

    let mut pods = Vec::with_capacity(round.pods.len());
    let mut invalid_pods = Vec::new();
    let mut pod_positions = Vec::with_capacity(round.pods.len());
    for pod in round.pods {
        match compile_pod(&mut interner, &table, &namespaces, pod, PodKind::Pending) {
            Ok(data) => {
                pod_positions.push(Ok(PodId::new(pods.len())));
                pods.push(data);
            }
            Err(error) => {
                pod_positions.push(Err(invalid_pods.len()));
                invalid_pods.push(InvalidPod { reference: PodRef::of(pod), error });
            }
        }
    }

    let mut nodes = Vec::new();
    let mut input_errors = Vec::new();
    let mut from_round = Vec::new();
    for (position, node) in round.nodes.iter().enumerate() {
        if node.marked_for_deletion {
            continue;
        }
        match compile_node(&mut interner, &table, &namespaces, node) {
            Ok(data) => {
                nodes.push(data);
                from_round.push(position);
            }
            Err(error) => input_errors.push(error.on(format!("Node/{}", node.name))),
        }
    }
    // Initialised nodes first, then by name: consolidation relies on filling settled nodes before in-flight ones.
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&nodes[a], &nodes[b]);
        b.initialized.cmp(&a.initialized).then_with(|| a.name.cmp(&b.name))
    });
    let mut node_positions = vec![None; round.nodes.len()];
    for (sorted, &compiled) in order.iter().enumerate() {
        node_positions[from_round[compiled]] = Some(sorted);
    }
    let mut slots: Vec<Option<NodeData>> = nodes.into_iter().map(Some).collect();
    let nodes = order.iter().map(|&i| slots[i].take().expect("each node once")).collect();
    Compiled { interner, table, pods, invalid_pods, pod_positions, nodes, node_positions, input_errors }
}
