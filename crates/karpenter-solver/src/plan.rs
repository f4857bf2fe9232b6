//! The solver's answer: where pods go, which NodeClaims to launch, and why any pod could not be placed.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use serde::Serialize;

use crate::model::{NodeSelectorRequirement, ResourceList, Taint};

/// The outcome of one provisioning simulation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Existing or in-flight nodes that receive pods, in the order they were tried.
    pub existing_nodes: Vec<ExistingNodePlacement>,
    /// NodeClaims to create, in the order they were opened.
    pub new_node_claims: Vec<NewNodeClaim>,
    /// Pods that cannot be placed, each with the reason, in queue order.
    pub unschedulable: Vec<UnschedulablePod>,
    /// Objects of the input that were set aside (a malformed NodePool, node or instance type, or a NodePool
    /// whose requirements leave no instance type), with the reason.
    pub input_errors: Vec<InputError>,
    /// What the solve did, for metrics.
    pub stats: SolveStats,
}

/// What a solve did, for the controller's metrics. The counts depend only on the input; phases are timed only
/// when the round passes a clock ([`crate::Round::clock`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SolveStats {
    /// Pending pods in the round (malformed ones excluded).
    pub pods: usize,
    /// Existing and in-flight nodes that could take pods.
    pub nodes: usize,
    /// NodeClaims opened.
    pub claims: usize,
    /// Launch options over all new NodeClaims.
    pub options: usize,
    /// Placement attempts, one per pod and relaxation step.
    pub attempts: u64,
    /// Existing nodes a pod was checked against.
    pub nodes_tried: u64,
    /// NodeClaims of the round a pod was checked against.
    pub claims_tried: u64,
    /// Time spent in each phase, when the round passed a clock.
    pub phases: Option<PhaseTimings>,
}

/// Time spent in each phase of a round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PhaseTimings {
    /// Checking and interning the round's pods and nodes.
    pub compile: std::time::Duration,
    /// Building topology groups and counting running pods.
    pub topology: std::time::Duration,
    /// The queue: placing pods.
    pub schedule: std::time::Duration,
    /// DaemonSet overhead, price ordering and truncation of new NodeClaims.
    pub finalize: std::time::Duration,
}

/// A pod by namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PodRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl PodRef {
    /// The reference of a pod.
    pub fn of(pod: &crate::model::Pod) -> Self {
        PodRef { namespace: pod.namespace.clone(), name: pod.name.clone() }
    }
}

impl fmt::Display for PodRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Pods placed on a node that already exists or is already being launched.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExistingNodePlacement {
    /// Node name.
    pub node: String,
    /// Pods nominated to it.
    pub pods: Vec<PodRef>,
}

/// A NodeClaim to launch: every instance type listed can hold all of its pods.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewNodeClaim {
    /// The NodePool it comes from.
    pub node_pool: String,
    /// Labels for the NodeClaim (template labels and single-valued custom requirements).
    pub labels: BTreeMap<String, String>,
    /// Taints the node will carry.
    pub taints: Vec<Taint>,
    /// Startup taints the node will carry until initialised.
    pub startup_taints: Vec<Taint>,
    /// The NodeClaim's requirements, capacity types included. The instance-type requirement is
    /// `instance_type_options`; [`NewNodeClaim::node_selector_requirements`] gives the complete list.
    pub requirements: Vec<NodeSelectorRequirement>,
    /// minValues of the `node.kubernetes.io/instance-type` requirement, if the NodePool sets one.
    pub instance_type_min_values: Option<u32>,
    /// Launch options, cheapest first.
    pub instance_type_options: Vec<InstanceTypeOption>,
    /// Pods it is meant for.
    pub pods: Vec<PodRef>,
    /// Requests of its pods plus the smallest DaemonSet overhead among its options.
    pub requests: ResourceList,
    /// True when `MinValuesPolicy=BestEffort` had to lower a minValues to find launch options.
    pub min_values_relaxed: bool,
}

impl NewNodeClaim {
    /// Price of the cheapest launch option.
    pub fn cheapest_price(&self) -> Option<f64> {
        self.instance_type_options.first().map(|o| o.price)
    }

    /// Every requirement of the NodeClaim as it is written to the API: `requirements` plus
    /// `node.kubernetes.io/instance-type In` the launch options, sorted by key.
    pub fn node_selector_requirements(&self) -> Vec<NodeSelectorRequirement> {
        let mut names: Vec<String> = self.instance_type_options.iter().map(|o| o.name.to_string()).collect();
        names.sort();
        let mut all = self.requirements.clone();
        all.push(NodeSelectorRequirement {
            key: crate::labels::INSTANCE_TYPE.to_string(),
            operator: "In".to_string(),
            values: names,
            min_values: self.instance_type_min_values,
        });
        all.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.operator.cmp(&b.operator)));
        all
    }
}

/// One instance type a NodeClaim may launch as.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceTypeOption {
    /// Instance type name.
    pub name: Arc<str>,
    /// Its cheapest available offering compatible with the NodeClaim.
    pub price: f64,
}

/// A pod left pending, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnschedulablePod {
    /// The pod.
    pub pod: PodRef,
    /// Why no node can take it.
    pub reason: Unschedulable,
}

/// Why a pod cannot be placed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Unschedulable {
    /// The pod itself is malformed; nothing was tried.
    InvalidPod {
        /// The pod field at fault, e.g. `spec.containers[0].resources.requests.cpu`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// No NodePool could offer any instance type (none exist, or all were filtered out or invalid).
    NoNodePools,
    /// The pod needs a feature the solver does not model yet; it is left for a later version rather than
    /// placed wrongly.
    NotSupported {
        /// The feature, e.g. `DynamicResourceAllocation`.
        feature: String,
        /// Details.
        message: String,
    },
    /// No existing node took it, and every NodePool refused it.
    Rejected {
        /// The refusal of each NodePool, in the order they were tried.
        node_pools: Vec<PoolRejection>,
    },
}

/// One NodePool's refusal of a pod.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolRejection {
    /// NodePool name.
    pub node_pool: String,
    /// The checks that failed.
    pub failed: Vec<Check>,
    /// The details in words.
    pub message: String,
}

/// The kind of check that kept a pod off a NodePool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Check {
    /// Label requirements (node selector, node affinity, NodePool and instance-type requirements).
    Requirements,
    /// A taint the pod does not tolerate.
    Taints,
    /// Not enough CPU, memory, pods or another resource on any instance type.
    Resources,
    /// No available offering (zone, capacity type) compatible with the requirements.
    Offering,
    /// NodePool limits.
    Limits,
    /// Too few distinct values left for a requirement's minValues.
    MinValues,
    /// Topology spread, pod affinity or pod anti-affinity.
    Topology,
    /// A host port already taken on the node.
    HostPorts,
    /// The topology of the pod's volumes.
    Volumes,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Check::Requirements => "requirements",
            Check::Taints => "taints",
            Check::Resources => "resources",
            Check::Offering => "offering",
            Check::Limits => "limits",
            Check::MinValues => "minValues",
            Check::Topology => "topology",
            Check::HostPorts => "hostPorts",
            Check::Volumes => "volumes",
        })
    }
}

/// An input object that took no part in the round.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputError {
    /// The object, as `Kind/name` (`NodePool/default`, `Node/ip-10-0-0-1`, `InstanceType/m5.large`,
    /// `DaemonSetPod/kube-system/aws-node`).
    pub object: String,
    /// The field at fault, when the object is malformed.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{} {field}: {}", self.object, self.message),
            None => write!(f, "{}: {}", self.object, self.message),
        }
    }
}

impl std::error::Error for InputError {}

impl Plan {
    /// Number of pods placed on existing or new nodes.
    pub fn scheduled_pods(&self) -> usize {
        self.existing_nodes.iter().map(|n| n.pods.len()).sum::<usize>()
            + self.new_node_claims.iter().map(|c| c.pods.len()).sum::<usize>()
    }

    /// Sum over new NodeClaims of their cheapest option's hourly price.
    pub fn new_capacity_price(&self) -> f64 {
        self.new_node_claims.iter().filter_map(NewNodeClaim::cheapest_price).sum()
    }

    /// A stable, human-readable rendering, used by the CLI and by snapshot tests.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for error in &self.input_errors {
            let field = error.field.as_deref().map(|f| format!(" {f}:")).unwrap_or_default();
            let _ = writeln!(out, "skipped {}:{field} {}", error.object, error.message);
        }
        for node in &self.existing_nodes {
            let _ = writeln!(out, "existing {}: {}", node.node, join_pods(&node.pods));
        }
        for (i, claim) in self.new_node_claims.iter().enumerate() {
            let _ = writeln!(out, "nodeclaim {i} pool={}: {}", claim.node_pool, join_pods(&claim.pods));
            let shown: Vec<String> = claim
                .instance_type_options
                .iter()
                .take(5)
                .map(|o| format!("{}(${})", o.name, round_price(o.price)))
                .collect();
            let more = claim.instance_type_options.len().saturating_sub(5);
            let more = if more > 0 { format!(" and {more} more") } else { String::new() };
            let _ = writeln!(out, "  options: {}{more}", shown.join(" "));
            let requests: Vec<String> = claim.requests.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(out, "  requests: {}", requests.join(" "));
            for requirement in &claim.requirements {
                let min = requirement.min_values.map(|m| format!(" minValues={m}")).unwrap_or_default();
                let values = if requirement.values.is_empty() {
                    String::new()
                } else {
                    format!(" {}", requirement.values.join(","))
                };
                let _ = writeln!(out, "  require {} {}{values}{min}", requirement.key, requirement.operator);
            }
            for (key, value) in &claim.labels {
                let _ = writeln!(out, "  label {key}={value}");
            }
            if claim.min_values_relaxed {
                let _ = writeln!(out, "  minValues relaxed");
            }
        }
        for pod in &self.unschedulable {
            let _ = writeln!(out, "unschedulable {}: {}", pod.pod, pod.reason);
        }
        out
    }
}

fn round_price(price: f64) -> String {
    let text = format!("{price:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

fn join_pods(pods: &[PodRef]) -> String {
    pods.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(" ")
}

impl fmt::Display for Unschedulable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unschedulable::InvalidPod { field, message } => write!(f, "invalid {field}: {message}"),
            Unschedulable::NoNodePools => f.write_str("no NodePool has any instance type left to offer"),
            Unschedulable::NotSupported { feature, message } => {
                write!(f, "not supported yet ({feature}): {message}")
            }
            Unschedulable::Rejected { node_pools } => {
                if node_pools.is_empty() {
                    return f.write_str("no existing node can take it and no NodePool is left to try");
                }
                for (i, rejection) in node_pools.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    let checks: Vec<String> = rejection.failed.iter().map(Check::to_string).collect();
                    write!(
                        f,
                        "nodepool {} [{}]: {}",
                        rejection.node_pool,
                        checks.join(","),
                        rejection.message
                    )?;
                }
                Ok(())
            }
        }
    }
}
