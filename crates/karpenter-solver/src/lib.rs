//! Karpenter's provisioning simulation as a pure, deterministic function.
//!
//! Given pending pods, existing nodes, NodePools and instance types, [`solve`] decides which pods go on which existing
//! nodes and which new NodeClaims to launch, the way upstream Karpenter's provisioner does
//! (`kubernetes-sigs/karpenter: pkg/controllers/provisioning/scheduling`). It reads no clock, environment or
//! network, and equal input gives equal output: every list is put in a documented order before it is used.
//!
//! ```
//! use karpenter_solver::{solve, SolverConfig, model::*};
//!
//! let problem: Problem = serde_json::from_str(r#"{
//!   "pods": [{"name": "web", "containers": [{"requests": {"cpu": "1", "memory": "1Gi"}}]}],
//!   "nodePools": [{"name": "default"}],
//!   "instanceTypes": [{
//!     "name": "m.large",
//!     "requirements": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}],
//!     "capacity": {"cpu": "2", "memory": "8Gi", "pods": "29"},
//!     "offerings": [{"zone": "a", "capacityType": "on-demand", "price": 0.096}]
//!   }]
//! }"#).unwrap();
//! let plan = solve(&problem, &SolverConfig::default());
//! assert_eq!(plan.new_node_claims.len(), 1);
//! assert_eq!(&*plan.new_node_claims[0].instance_type_options[0].name, "m.large");
//! ```

mod compile;
mod filter;
mod index;
pub mod labels;
pub mod model;
pub mod plan;
mod podterms;
pub mod quantity;
mod requirements;
pub mod resources;
mod scheduler;
mod taints;
mod topology;

pub use index::{AllowedType, InstanceTypeIndex, compatible_offerings};
pub use plan::Plan;

/// Whether preferences (preferred node affinity, and later preferred pod affinity and ScheduleAnyway spread) are
/// honoured first and relaxed one by one, or ignored from the start (upstream `PREFERENCE_POLICY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum PreferencePolicy {
    /// Treat preferences as required, then relax them one at a time (the default).
    #[default]
    Respect,
    /// Drop preferences before scheduling.
    Ignore,
}

/// What to do when the instance types left for a NodeClaim span fewer values than a requirement's `minValues`
/// (upstream `MIN_VALUES_POLICY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum MinValuesPolicy {
    /// The NodeClaim cannot be made (the default).
    #[default]
    Strict,
    /// Lower minValues to what the instance types reach and mark the NodeClaim.
    BestEffort,
}

/// Settings of a solve. `Default` gives upstream's defaults.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SolverConfig {
    /// Preference handling.
    pub preference_policy: PreferencePolicy,
    /// minValues handling.
    pub min_values_policy: MinValuesPolicy,
    /// Launch options kept per NodeClaim, cheapest first (upstream `MaxInstanceTypes` = 600).
    pub max_instance_types: usize,
    /// Label keys the cloud provider registers as well-known, in addition to Karpenter's own: instance types may
    /// leave them undefined while pods still select them.
    pub well_known_labels: Vec<String>,
}

impl Default for SolverConfig {
    fn default() -> Self {
        SolverConfig {
            preference_policy: PreferencePolicy::Respect,
            min_values_policy: MinValuesPolicy::Strict,
            max_instance_types: 600,
            well_known_labels: Vec::new(),
        }
    }
}

/// What an instance type leaves for pods: capacity minus kube-reserved, system-reserved and eviction thresholds
/// (only for resources the machine has), memory further reduced by hugepages, as the scheduler computes it. A
/// malformed instance type is an error naming the field.
pub fn allocatable(instance_type: &model::InstanceType) -> Result<model::ResourceList, plan::InputError> {
    let problem = model::Problem { instance_types: vec![instance_type.clone()], ..model::Problem::default() };
    let compiled = compile::compile(&problem, &SolverConfig::default());
    // A type that did not compile is set aside with its reason; notices about a type that did (such as ignored
    // reserved offerings) do not stop its allocatable from being known.
    let Some(data) = compiled.instance_types.first() else {
        return Err(compiled.input_errors.into_iter().next().unwrap_or_else(|| plan::InputError {
            object: format!("InstanceType/{}", instance_type.name),
            field: None,
            message: "the instance type could not be read".to_string(),
        }));
    };
    Ok(instance_type
        .capacity
        .keys()
        .filter_map(|name| {
            let index = compiled.table.index_of(name)?;
            Some((name.clone(), resources::format_amount(name, data.allocatable[index])))
        })
        .collect())
}

/// Simulates one provisioning round.
///
/// Malformed objects never abort the solve: a bad pod is reported in [`Plan::unschedulable`] with the field at
/// fault, a bad NodePool, node, instance type or DaemonSet pod in [`Plan::input_errors`], and everything else is
/// solved as usual.
pub fn solve(problem: &model::Problem, config: &SolverConfig) -> Plan {
    let compiled = compile::compile(problem, config);
    scheduler::Scheduler::new(&compiled, config).solve(problem)
}
