//! The check a command must pass 15 seconds after it was computed, against a fresh view
//! (`kubernetes-sigs/karpenter: pkg/controllers/disruption/validation.go`).
//!
//! Emptiness keeps the candidates that are still empty, not nominated and within budget, and fails only when none
//! is left. Consolidation fails unless every candidate still qualifies and fits the budget, and a new simulation
//! gives the same kind of answer: a delete stays a delete, a replacement is still one NodeClaim whose options
//! include every option of the command. Drift, static drift and repair are not validated, as upstream.

use std::collections::BTreeSet;
use std::fmt;

use crate::budget::Budgets;
use crate::candidate::{self, Candidate, Class};
use crate::cluster::Cluster;
use crate::consolidation;
use crate::decision::{Command, Method, Reason};
use crate::engine::emptiness_refusal;
use crate::simulate::{self, Simulator, SolverSimulator};
use crate::view::ClusterView;

/// Why a command no longer holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// Candidates changed: some no longer qualify (pods arrived, a blocker appeared...).
    #[error("churn: {0}")]
    Churn(String),
    /// A candidate was nominated for a pending pod, or the budget no longer allows the command.
    #[error("budget: {0}")]
    Budget(String),
    /// The pods no longer fit the way the command assumed.
    #[error("scheduling: {0}")]
    Scheduling(String),
}

impl ValidationError {
    /// `budget`, `scheduling` or `churn`, as upstream's failure metric labels them.
    pub fn label(&self) -> &'static str {
        match self {
            ValidationError::Churn(_) => "churn",
            ValidationError::Budget(_) => "budget",
            ValidationError::Scheduling(_) => "scheduling",
        }
    }
}

/// Validates `command` against `view` with the solver simulator.
pub fn validate(command: &Command, view: &ClusterView) -> Result<Command, ValidationError> {
    validate_with(command, view, &SolverSimulator::new(view))
}

/// Validates `command` against `view`, simulating with `simulator`.
pub fn validate_with(
    command: &Command,
    view: &ClusterView,
    simulator: &dyn Simulator,
) -> Result<Command, ValidationError> {
    let cluster = Cluster::new(view);
    match command.method {
        Method::Emptiness => emptiness(&cluster, command),
        Method::MultiNodeConsolidation | Method::SingleNodeConsolidation => {
            consolidation(&cluster, simulator, command)
        }
        Method::Repair | Method::StaticDrift | Method::Drift => Ok(command.clone()),
    }
}

/// The command's candidates as they are now, in the command's order, among those passing `keep`.
fn current<'v>(
    cluster: &Cluster<'v>,
    command: &Command,
    keep: impl Fn(&Candidate<'v>) -> bool,
) -> Vec<Candidate<'v>> {
    let names: BTreeSet<&str> = command.candidates.iter().map(|c| c.node.as_str()).collect();
    let (candidates, _) = candidate::all(cluster, Class::Graceful);
    let mut found: Vec<Candidate<'v>> =
        candidates.into_iter().filter(|c| names.contains(cluster.nodes[c.node].name()) && keep(c)).collect();
    let position =
        |c: &Candidate<'_>| command.candidates.iter().position(|x| x.node == cluster.nodes[c.node].name());
    found.sort_by_key(position);
    found
}

fn emptiness(cluster: &Cluster<'_>, command: &Command) -> Result<Command, ValidationError> {
    let still = current(cluster, command, |c| emptiness_refusal(cluster, c).is_none());
    if still.is_empty() {
        return Err(ValidationError::Churn(format!(
            "{} candidates are no longer valid",
            command.candidates.len()
        )));
    }
    let mut budgets = Budgets::build(cluster, Reason::Empty);
    let valid: Vec<&Candidate<'_>> = still.iter().filter(|c| budgets.take(c.pool)).collect();
    if valid.is_empty() {
        return Err(ValidationError::Budget(format!(
            "{} candidates were nominated for a pod or would violate disruption budgets",
            command.candidates.len()
        )));
    }
    let names: BTreeSet<&str> = valid.iter().map(|c| cluster.nodes[c.node].name()).collect();
    let mut out = command.clone();
    out.candidates.retain(|c| names.contains(c.node.as_str()));
    out.savings_per_hour = out.source_price();
    Ok(out)
}

fn consolidation(
    cluster: &Cluster<'_>,
    simulator: &dyn Simulator,
    command: &Command,
) -> Result<Command, ValidationError> {
    let still = current(cluster, command, |c| consolidation::refusal(cluster, c).is_none());
    if still.len() != command.candidates.len() {
        return Err(ValidationError::Churn(format!(
            "{} candidates are no longer valid",
            command.candidates.len() - still.len()
        )));
    }
    let mut budgets = Budgets::build(cluster, Reason::Underutilized);
    for c in &still {
        if !budgets.take(c.pool) {
            return Err(ValidationError::Budget(
                "a candidate can no longer be disrupted without violating budgets".to_string(),
            ));
        }
    }
    let refs: Vec<&Candidate<'_>> = still.iter().collect();
    let outcome = simulate::run(
        cluster,
        simulator,
        &refs,
        simulate::Options { consolidation: true, ..Default::default() },
    );
    if let Some(failure) = outcome.failures.first() {
        return Err(ValidationError::Scheduling(format!(
            "not all pods would schedule, {} => {}",
            failure.pod, failure.reason
        )));
    }
    if let Some(node) = outcome.uninitialized {
        return Err(ValidationError::Scheduling(format!("would schedule against uninitialized node {node}")));
    }
    let changed = || ValidationError::Scheduling("scheduling simulation produced new results".to_string());
    match (outcome.new_claims.len(), command.replacements.first()) {
        (0, None) => Ok(command.clone()),
        (1, Some(replacement)) => {
            let now: BTreeSet<&str> =
                outcome.new_claims[0].instance_type_options.iter().map(|o| &*o.name).collect();
            if replacement.instance_type_options.iter().all(|o| now.contains(&*o.name)) {
                Ok(command.clone())
            } else {
                Err(changed())
            }
        }
        _ => Err(changed()),
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}: {}: [{}]", self.reason, self.method, self.action, self.node_names().join(", "))?;
        if !self.replacements.is_empty() {
            write!(f, " -> [{} replacement(s)]", self.replacements.len())?;
        }
        write!(f, " (savings: ${:.2})", self.savings_per_hour)
    }
}
