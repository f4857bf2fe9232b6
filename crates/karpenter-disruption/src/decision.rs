//! The engine's answer: the commands upstream Karpenter would issue, and why every other node stays.
//!
//! Shapes follow `kubernetes-sigs/karpenter: pkg/controllers/disruption/types.go` (`Command`, `Decision`,
//! `EstimatedSavings`); the reasons for kept nodes are the events upstream publishes (`Blocked`, `Unconsolidatable`,
//! `NodePoolBlockedForDisruptionReason`) as data.

use std::fmt::{self, Write as _};

use karpenter_solver::plan::{ExistingNodePlacement, InputError, NewNodeClaim, PodRef};
use serde::Serialize;

use crate::duration::Duration;

/// Why a node is disrupted, as upstream's `DisruptionReason` (the budget reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Reason {
    /// Repair of an unhealthy node.
    Unhealthy,
    /// An empty node.
    Empty,
    /// A drifted node.
    Drifted,
    /// Consolidation of underutilised nodes.
    Underutilized,
}

impl Reason {
    /// The name budgets use.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unhealthy => "Unhealthy",
            Reason::Empty => "Empty",
            Reason::Drifted => "Drifted",
            Reason::Underutilized => "Underutilized",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The disruption methods, in the order upstream v1.15 runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Method {
    /// Node repair (feature gate `NodeRepair`).
    Repair,
    /// Deletion of empty nodes.
    Emptiness,
    /// Replacement of drifted nodes of static NodePools.
    StaticDrift,
    /// Replacement of drifted nodes.
    Drift,
    /// Several nodes removed at once, with at most one replacement.
    MultiNodeConsolidation,
    /// One node removed or replaced by a cheaper one.
    SingleNodeConsolidation,
}

impl Method {
    /// Every method, in evaluation order.
    pub const ALL: [Method; 6] = [
        Method::Repair,
        Method::Emptiness,
        Method::StaticDrift,
        Method::Drift,
        Method::MultiNodeConsolidation,
        Method::SingleNodeConsolidation,
    ];

    /// The budget reason the method is counted under.
    pub fn reason(self) -> Reason {
        match self {
            Method::Repair => Reason::Unhealthy,
            Method::Emptiness => Reason::Empty,
            Method::StaticDrift | Method::Drift => Reason::Drifted,
            Method::MultiNodeConsolidation | Method::SingleNodeConsolidation => Reason::Underutilized,
        }
    }

    /// A short name for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Repair => "repair",
            Method::Emptiness => "emptiness",
            Method::StaticDrift => "static drift",
            Method::Drift => "drift",
            Method::MultiNodeConsolidation => "multi-node consolidation",
            Method::SingleNodeConsolidation => "single-node consolidation",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a command does to its candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// Delete the candidates; their pods fit elsewhere.
    Delete,
    /// Launch the replacements, wait for them to initialise, then delete the candidates.
    Replace,
    /// Reboot the node in place (repair policies with `RebootNode`).
    Reboot,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Delete => "delete",
            Action::Replace => "replace",
            Action::Reboot => "reboot",
        })
    }
}

/// One node a command disrupts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandCandidate {
    /// Node name.
    pub node: String,
    /// NodeClaim name.
    pub node_claim: String,
    /// NodePool name.
    pub node_pool: String,
    /// Instance type label.
    pub instance_type: Option<String>,
    /// Capacity type label.
    pub capacity_type: Option<String>,
    /// Zone label.
    pub zone: Option<String>,
    /// Hourly price.
    pub price: f64,
    /// Pods that will be evicted and rescheduled.
    pub pods: Vec<PodRef>,
}

/// A command upstream Karpenter would hand to its orchestration queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    /// The method that produced it.
    pub method: Method,
    /// The budget reason.
    pub reason: Reason,
    /// Delete, replace or reboot.
    pub action: Action,
    /// The nodes it disrupts, in the order the method chose them.
    pub candidates: Vec<CommandCandidate>,
    /// NodeClaims to launch first (their instance-type options already filtered by the price rules).
    pub replacements: Vec<NewNodeClaim>,
    /// Existing nodes the simulation placed the moved pods on (upstream nominates them).
    pub destinations: Vec<ExistingNodePlacement>,
    /// Source price minus the price of the cheapest launch option of each replacement (`EstimatedSavings`).
    pub savings_per_hour: f64,
    /// A drain bound chosen by a repair policy, applied when the candidates are deleted.
    pub termination_grace_period: Option<Duration>,
    /// True when a repair policy asked for a reboot and recent reboots made it a replacement.
    pub reboot_escalated: bool,
}

impl Command {
    /// Names of the candidate nodes.
    pub fn node_names(&self) -> Vec<&str> {
        self.candidates.iter().map(|c| c.node.as_str()).collect()
    }

    /// Sum of the candidates' prices.
    pub fn source_price(&self) -> f64 {
        self.candidates.iter().map(|c| c.price).sum()
    }
}

/// What blocks eviction of a pod.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum PodBlocker {
    /// `karpenter.sh/do-not-disrupt: "true"`, or a duration not yet elapsed since the pod started.
    DoNotDisrupt {
        /// The annotation's value.
        value: String,
        /// When a duration value stops protecting the pod.
        until: Option<i64>,
    },
    /// A PodDisruptionBudget that allows no disruption now.
    Pdb {
        /// `namespace/name` of the PDB.
        name: String,
    },
    /// More than one PDB selects the pod; the eviction API refuses such pods.
    MultiplePdbs {
        /// `namespace/name` of each PDB.
        names: Vec<String>,
    },
}

impl fmt::Display for PodBlocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PodBlocker::DoNotDisrupt { value, until: None } => {
                write!(f, "karpenter.sh/do-not-disrupt={value}")
            }
            PodBlocker::DoNotDisrupt { value, until: Some(until) } => {
                write!(f, "karpenter.sh/do-not-disrupt={value} until {until}")
            }
            PodBlocker::Pdb { name } => write!(f, "PodDisruptionBudget {name} allows no disruption"),
            PodBlocker::MultiplePdbs { names } => {
                write!(f, "eviction does not support multiple PDBs ({})", names.join(", "))
            }
        }
    }
}

/// A pod that would not fit anywhere, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodFailure {
    /// The pod.
    pub pod: PodRef,
    /// Why it cannot be placed.
    pub reason: String,
}

/// Why a node is not disrupted.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum KeptReason {
    /// The node has no NodeClaim: Karpenter does not manage it.
    NotManaged,
    /// The NodeClaim has no registered node yet.
    NotRegistered,
    /// The node is not initialised yet.
    NotInitialized,
    /// The node is already being deleted, or a command owns it.
    MarkedForDeletion,
    /// A reboot is in progress.
    Rebooting,
    /// A recent provisioning pass nominated the node for a pending pod.
    Nominated,
    /// `karpenter.sh/do-not-disrupt: "true"` on the node.
    NodeDoNotDisrupt,
    /// The node lacks the `karpenter.sh/nodepool` label.
    NoNodePoolLabel,
    /// The node's NodePool is unknown or has no instance types.
    NodePoolNotFound {
        /// The NodePool named by the node.
        node_pool: String,
    },
    /// A pod blocks eviction.
    PodBlocks {
        /// The pod.
        pod: PodRef,
        /// What blocks it.
        by: PodBlocker,
    },
    /// The NodePool is static (`spec.replicas`): it is never consolidated.
    StaticNodePool,
    /// `consolidateAfter: Never`.
    ConsolidationDisabled,
    /// The node had pod activity too recently.
    ConsolidateAfterNotElapsed {
        /// When the node becomes consolidatable.
        until: i64,
    },
    /// `consolidationPolicy: WhenEmpty` and the node has pods.
    WhenEmptyNotEmpty,
    /// The node's instance type is not among its NodePool's.
    UnknownInstanceType {
        /// The instance type label.
        instance_type: String,
    },
    /// A label price comparison needs is missing.
    MissingLabel {
        /// The label key.
        label: String,
    },
    /// The NodePool's budget for this reason is spent.
    Budget {
        /// The budget reason.
        reason: Reason,
        /// Disruptions the budget allows right now.
        allowed: usize,
    },
    /// The pods would not all fit on other nodes and at most the replacements the method allows.
    PodsWouldNotFit {
        /// The pods that fail, at most five.
        pods: Vec<PodFailure>,
        /// How many more failed.
        more: usize,
    },
    /// The pods would only fit on a node that is not initialised yet.
    WouldUseUninitializedNode {
        /// That node.
        node: String,
    },
    /// Removing the node would take more than one new node.
    NeedsMultipleReplacements {
        /// How many.
        count: usize,
    },
    /// No replacement is strictly cheaper than the node.
    NotCheaper,
    /// The price filter left too few instance types for a requirement's minValues.
    MinValues {
        /// Details.
        message: String,
    },
    /// Spot-to-spot consolidation is behind the `SpotToSpotConsolidation` feature gate.
    SpotToSpotDisabled,
    /// Spot-to-spot single-node consolidation needs 15 cheaper instance types.
    SpotToSpotTooFewOptions {
        /// How many cheaper types there were.
        cheaper: usize,
    },
    /// The Balanced policy's score rejected the move.
    BalancedScore {
        /// The move's score.
        score: f64,
        /// The threshold (1/k).
        threshold: f64,
    },
    /// The static NodePool cannot stage a replacement within its node limit.
    StaticAtLimit,
    /// The static NodePool is still scaling down.
    StaticScalingDown,
    /// `karpenter.sh/do-not-repair: "true"`.
    DoNotRepair,
    /// Repair would have to wait on blocking pods forever: neither the policy nor the NodeClaim bounds the drain.
    RepairNeedsTerminationGracePeriod,
    /// More than 20% of the NodePool's nodes are unhealthy; repair waits for a correlated failure to pass.
    UnhealthyThreshold,
    /// A repair policy matches but its toleration has not elapsed.
    RepairTolerationNotElapsed {
        /// When the earliest matching policy becomes eligible.
        until: i64,
    },
    /// The evaluation limit (upstream's timeout) ran out before the node was looked at.
    NotEvaluated,
    /// An earlier method issued commands this pass; upstream runs only the first method that acts.
    EarlierMethodActed {
        /// That method.
        method: Method,
    },
    /// An earlier candidate of the same method was chosen; upstream issues one command per pass.
    EarlierCandidateChosen,
    /// Nothing to do: the node is healthy, not drifted, not empty, and consolidation found no cheaper layout.
    NoAction,
}

impl fmt::Display for KeptReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeptReason::NotManaged => f.write_str("not managed by Karpenter"),
            KeptReason::NotRegistered => f.write_str("node isn't registered"),
            KeptReason::NotInitialized => f.write_str("node isn't initialized"),
            KeptReason::MarkedForDeletion => f.write_str("node is deleting or marked for deletion"),
            KeptReason::Rebooting => f.write_str("node is rebooting"),
            KeptReason::Nominated => f.write_str("node is nominated for a pending pod"),
            KeptReason::NodeDoNotDisrupt => {
                f.write_str("disruption is blocked by karpenter.sh/do-not-disrupt on the node")
            }
            KeptReason::NoNodePoolLabel => f.write_str("node has no karpenter.sh/nodepool label"),
            KeptReason::NodePoolNotFound { node_pool } => write!(f, "NodePool {node_pool} not found"),
            KeptReason::PodBlocks { pod, by } => write!(f, "pod {pod} blocks eviction: {by}"),
            KeptReason::StaticNodePool => f.write_str("static NodePool"),
            KeptReason::ConsolidationDisabled => f.write_str("consolidateAfter is Never"),
            KeptReason::ConsolidateAfterNotElapsed { until } => {
                write!(f, "consolidateAfter not elapsed (until {until})")
            }
            KeptReason::WhenEmptyNotEmpty => {
                f.write_str("consolidation policy WhenEmpty and the node is not empty")
            }
            KeptReason::UnknownInstanceType { instance_type } => {
                write!(f, "instance type {instance_type:?} not found")
            }
            KeptReason::MissingLabel { label } => write!(f, "node does not have label {label}"),
            KeptReason::Budget { reason, allowed } => {
                write!(f, "{reason} budget allows {allowed} more disruption(s)")
            }
            KeptReason::PodsWouldNotFit { pods, more } => {
                f.write_str("pods would not fit: ")?;
                for (i, p) in pods.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{} ({})", p.pod, p.reason)?;
                }
                if *more > 0 {
                    write!(f, " and {more} more")?;
                }
                Ok(())
            }
            KeptReason::WouldUseUninitializedNode { node } => {
                write!(f, "pods would schedule against uninitialized node {node}")
            }
            KeptReason::NeedsMultipleReplacements { count } => {
                write!(f, "can't remove without creating {count} nodes")
            }
            KeptReason::NotCheaper => f.write_str("can't replace with a cheaper node"),
            KeptReason::MinValues { message } => write!(f, "filtering by price: {message}"),
            KeptReason::SpotToSpotDisabled => {
                f.write_str("SpotToSpotConsolidation is disabled, can't replace a spot node with a spot node")
            }
            KeptReason::SpotToSpotTooFewOptions { cheaper } => write!(
                f,
                "SpotToSpotConsolidation requires 15 cheaper instance type options than the current candidate, got {cheaper}"
            ),
            KeptReason::BalancedScore { score, threshold } => {
                write!(f, "Balanced score {score:.3} below threshold {threshold:.3}")
            }
            KeptReason::StaticAtLimit => {
                f.write_str("static NodePool is at its node limit and cannot stage a replacement")
            }
            KeptReason::StaticScalingDown => f.write_str("static NodePool is scaling down"),
            KeptReason::DoNotRepair => f.write_str("repair is blocked by karpenter.sh/do-not-repair"),
            KeptReason::RepairNeedsTerminationGracePeriod => {
                f.write_str("repair requires a termination grace period to bypass blocking pods")
            }
            KeptReason::UnhealthyThreshold => {
                f.write_str("more than 20% of the NodePool's nodes are unhealthy")
            }
            KeptReason::RepairTolerationNotElapsed { until } => {
                write!(f, "unhealthy, repair toleration not elapsed (until {until})")
            }
            KeptReason::NotEvaluated => f.write_str("not evaluated: the evaluation limit ran out"),
            KeptReason::EarlierMethodActed { method } => {
                write!(f, "not evaluated: {method} issued a command first")
            }
            KeptReason::EarlierCandidateChosen => {
                f.write_str("not evaluated: an earlier candidate was chosen this pass")
            }
            KeptReason::NoAction => f.write_str("nothing to do"),
        }
    }
}

/// One reason a node is kept, with the method that gave it (`None` for the checks every method shares).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Why {
    /// The method, if the reason is particular to one.
    pub method: Option<Method>,
    /// The reason.
    pub reason: KeptReason,
}

/// A node that is not disrupted, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptNode {
    /// Node name.
    pub node: String,
    /// Its NodePool, when known.
    pub node_pool: Option<String>,
    /// Every reason found, in method order.
    pub why: Vec<Why>,
}

/// A NodeClaim past its `expireAfter`: upstream deletes it at once, outside budgets (forceful).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Expiration {
    /// Node name.
    pub node: String,
    /// NodeClaim name.
    pub node_claim: String,
    /// When it expired.
    pub expired_at: i64,
}

/// How much work each method did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluations {
    /// Candidates per method after its filters.
    pub candidates: Vec<(Method, usize)>,
    /// Scheduling simulations run.
    pub simulations: usize,
    /// Single-node candidates examined (upstream's `candidates_evaluated`).
    pub single_node_examined: usize,
    /// True when an evaluation limit stopped a method before it finished.
    pub limited: bool,
}

/// Everything one disruption pass decides.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// Commands of the first method that produced any.
    pub commands: Vec<Command>,
    /// NodeClaims to delete forcefully because they expired.
    pub expirations: Vec<Expiration>,
    /// Every other node with the reasons it stays.
    pub kept: Vec<KeptNode>,
    /// Objects of the view that were set aside, with the reason.
    pub input_errors: Vec<InputError>,
    /// NodePools single-node consolidation did not reach; pass them back so the next pass starts with them.
    pub unseen_node_pools: Vec<String>,
    /// Work done.
    pub evaluations: Evaluations,
}

impl Decision {
    /// Total savings per hour of the commands.
    pub fn savings_per_hour(&self) -> f64 {
        self.commands.iter().map(|c| c.savings_per_hour).sum()
    }

    /// A stable, human-readable rendering for the CLI and snapshot tests.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for error in &self.input_errors {
            let field = error.field.as_deref().map(|f| format!(" {f}:")).unwrap_or_default();
            let _ = writeln!(out, "skipped {}:{field} {}", error.object, error.message);
        }
        for expiration in &self.expirations {
            let _ = writeln!(out, "expire {} (expired at {})", expiration.node, expiration.expired_at);
        }
        for command in &self.commands {
            let _ = writeln!(
                out,
                "{} {} {}: [{}] savings=${}",
                command.method,
                command.reason,
                command.action,
                command.node_names().join(" "),
                round(command.savings_per_hour)
            );
            for replacement in &command.replacements {
                let shown: Vec<String> = replacement
                    .instance_type_options
                    .iter()
                    .take(5)
                    .map(|o| format!("{}(${})", o.name, round(o.price)))
                    .collect();
                let more = replacement.instance_type_options.len().saturating_sub(5);
                let more = if more > 0 { format!(" and {more} more") } else { String::new() };
                let shown = if shown.is_empty() {
                    vec!["(instance types chosen at launch)".to_string()]
                } else {
                    shown
                };
                let capacity_types: Vec<&str> = replacement
                    .requirements
                    .iter()
                    .filter(|r| r.key == karpenter_solver::labels::CAPACITY_TYPE && r.operator == "In")
                    .flat_map(|r| r.values.iter().map(String::as_str))
                    .collect();
                let _ = writeln!(
                    out,
                    "  replacement pool={} capacity-type={}: {}{more}",
                    replacement.node_pool,
                    if capacity_types.is_empty() { "any".to_string() } else { capacity_types.join(",") },
                    shown.join(" ")
                );
            }
            if let Some(tgp) = command.termination_grace_period {
                let _ = writeln!(out, "  terminationGracePeriod={tgp}");
            }
            if command.reboot_escalated {
                let _ = writeln!(out, "  reboot escalated to replacement");
            }
        }
        for kept in &self.kept {
            let reasons: Vec<String> = kept
                .why
                .iter()
                .map(|w| match w.method {
                    Some(method) => format!("{method}: {}", w.reason),
                    None => w.reason.to_string(),
                })
                .collect();
            let _ = writeln!(out, "keep {}: {}", kept.node, reasons.join(" | "));
        }
        out
    }
}

pub(crate) fn round(price: f64) -> String {
    let text = format!("{price:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".to_string() } else { text.to_string() }
}
