//! Instance types compiled once and filtered by many NodePools: what `karpenter catalog` and a cloud provider
//! need to answer "which instance types does this NodePool allow?" with the scheduler's own rules.

use crate::MinValuesPolicy;
use crate::SolverConfig;
use crate::compile::{self, Compiled};
use crate::filter::filter_instance_types;
use crate::model::{InstanceType, NodePool, Problem};
use crate::plan::InputError;

/// A list of instance types, compiled once, that can be filtered by NodePools.
///
/// The filter is the one the scheduler applies to a NodePool before any pod is placed: the NodePool's requirements
/// and labels must intersect the instance type's, an available offering must match them, the type must have room
/// for nothing at all (no negative allocatable), and minValues must be met across the allowed types.
///
/// ```
/// use karpenter_solver::{InstanceTypeIndex, SolverConfig, model::*};
///
/// let types: Vec<InstanceType> = serde_json::from_str(r#"[
///   {"name": "a", "requirements": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}],
///    "capacity": {"cpu": "2"}, "offerings": [{"zone": "z", "capacityType": "on-demand", "price": 0.1}]},
///   {"name": "b", "requirements": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}],
///    "capacity": {"cpu": "2"}, "offerings": [{"zone": "z", "capacityType": "on-demand", "price": 0.1}]}
/// ]"#).unwrap();
/// let mut index = InstanceTypeIndex::new(&types, &SolverConfig::default());
/// let pool = NodePool {
///     name: "arm".into(),
///     requirements: vec![NodeSelectorRequirement::new("kubernetes.io/arch", "In", &["arm64"])],
///     ..NodePool::default()
/// };
/// assert_eq!(index.allowed(&pool).unwrap(), vec![0]);
/// ```
pub struct InstanceTypeIndex {
    compiled: Compiled,
    best_effort: bool,
}

impl InstanceTypeIndex {
    /// Compiles the instance types. Malformed ones are set aside and listed by [`InstanceTypeIndex::input_errors`].
    pub fn new(instance_types: &[InstanceType], config: &SolverConfig) -> Self {
        let problem = Problem { instance_types: instance_types.to_vec(), ..Problem::default() };
        InstanceTypeIndex {
            compiled: compile::compile(&problem, config),
            best_effort: config.min_values_policy == MinValuesPolicy::BestEffort,
        }
    }

    /// Instance types that were set aside, with the reason.
    pub fn input_errors(&self) -> &[InputError] {
        &self.compiled.input_errors
    }

    /// Positions (in the list given to [`InstanceTypeIndex::new`]) of the instance types the NodePool allows, in
    /// list order. A malformed NodePool is an error naming the field.
    pub fn allowed(&mut self, pool: &NodePool) -> Result<Vec<usize>, InputError> {
        let c = &mut self.compiled;
        let everything: Vec<u32> = (0..c.instance_types.len() as u32).collect();
        let template = compile::compile_template(&mut c.interner, &c.table, pool, everything)?;
        let zero = c.table.zero();
        let mut requirements = template.requirements.clone();
        let allowed = match filter_instance_types(
            c,
            &template.instance_types,
            &mut requirements,
            &zero,
            |_| Some(&zero),
            self.best_effort,
            true,
        ) {
            Ok((allowed, _)) => allowed,
            Err(_) => Vec::new(),
        };
        Ok(allowed.into_iter().map(|i| c.shared_positions[i as usize]).collect())
    }
}
