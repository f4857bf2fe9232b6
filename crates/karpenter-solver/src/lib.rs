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
//!

//! For many rounds over the same NodePools and instance types (the controller's provisioning loop, every
//! consolidation candidate, every simulated second), compile those once with [`Prepared`] and solve each
//! [`Round`] against it: `solve` is `Prepared::from_problem` followed by one `Prepared::solve`.

mod compile;
mod config;
mod error;
mod filter;
mod ids;
mod index;
mod interner;
pub mod labels;
pub mod model;
pub mod overlay;
pub mod plan;
mod podterms;
mod prepared;
pub mod quantity;
mod requirements;
pub mod resources;
mod scheduler;
mod taints;
mod templates;
mod topology;
mod whatif;

pub use config::{MinValuesPolicy, PreferencePolicy, SolverConfig};
pub use error::FieldError;
pub use index::{AllowedType, InstanceTypeIndex, compatible_offerings};
pub use plan::Plan;
pub use prepared::{Prepared, Round};
pub use whatif::{Moving, Protection, Question, WhatIf};

/// What an instance type leaves for pods: capacity minus kube-reserved, system-reserved and eviction thresholds
/// (only for resources the machine has), memory further reduced by hugepages, as the scheduler computes it. A
/// malformed instance type is an error naming the field.
pub fn allocatable(instance_type: &model::InstanceType) -> Result<model::ResourceList, plan::InputError> {
    let types = [std::sync::Arc::new(instance_type.clone())];
    let prepared = Prepared::new(&[], &types, &Default::default(), &[], &SolverConfig::default());
    // A type that did not compile is set aside with its reason; notices about a type that did (such as ignored
    // reserved offerings) do not stop its allocatable from being known.
    let Some(data) = prepared.instance_types.first() else {
        return Err(prepared.input_errors.into_iter().next().unwrap_or_else(|| plan::InputError {
            object: format!("InstanceType/{}", instance_type.name),
            field: None,
            message: "the instance type could not be read".to_string(),
        }));
    };
    Ok(instance_type
        .capacity
        .keys()
        .filter_map(|name| {
            let index = prepared.table.index_of(name)?;
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
    Prepared::from_problem(problem, config).solve(&Round::of(problem))
}
