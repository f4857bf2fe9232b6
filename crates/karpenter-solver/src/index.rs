//! Instance types compiled once and filtered by many NodePools: what `karpenter catalog` and a cloud provider
//! need to answer "which instance types does this NodePool allow?" with the scheduler's own rules.

use crate::MinValuesPolicy;
use crate::SolverConfig;
use crate::compile::{self, Compiled};
use crate::filter::{filter_instance_types, offering_allowed};
use crate::model::{InstanceType, NodePool, NodeSelectorRequirement, Problem};
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
        Ok(self.allowed_offerings(pool)?.into_iter().map(|allowed| allowed.position).collect())
    }

    /// Like [`InstanceTypeIndex::allowed`], with the offerings of each allowed type whose zone and capacity type
    /// the NodePool's requirements allow (available or not: an unavailable offering is still the pool's to ask
    /// for once capacity returns).
    pub fn allowed_offerings(&mut self, pool: &NodePool) -> Result<Vec<AllowedType>, InputError> {
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
        Ok(allowed
            .into_iter()
            .map(|i| {
                let it = &c.instance_types[i as usize];
                let offerings = it
                    .offerings
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| offering_allowed(c, o, &requirements))
                    .map(|(position, _)| position)
                    .collect();
                AllowedType { position: c.shared_positions[i as usize], offerings }
            })
            .collect())
    }
}

/// An instance type a NodePool allows, with the offerings its requirements allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedType {
    /// Position in the list given to [`InstanceTypeIndex::new`].
    pub position: usize,
    /// Positions, in the type's `offerings`, of those whose zone and capacity type the requirements allow,
    /// whether available or not.
    pub offerings: Vec<usize>,
}

/// Positions, in `instance_type.offerings`, of the offerings a launch may use under `requirements` (a NodeClaim's
/// requirements, say): available, and with a zone and capacity type the requirements allow. Empty when the
/// instance type's own labels conflict with the requirements. This is the check the scheduler makes, for cloud
/// providers deciding what to ask for. A malformed instance type or requirement is an error naming the field.
///
/// ```
/// use karpenter_solver::{compatible_offerings, SolverConfig, model::*};
///
/// let it: InstanceType = serde_json::from_str(r#"{"name": "m.large", "capacity": {"cpu": "2"}, "offerings": [
///   {"zone": "a", "capacityType": "spot", "price": 0.03},
///   {"zone": "a", "capacityType": "on-demand", "price": 0.1},
///   {"zone": "b", "capacityType": "on-demand", "price": 0.1, "available": false}]}"#).unwrap();
/// let on_demand = [NodeSelectorRequirement::new("karpenter.sh/capacity-type", "In", &["on-demand"])];
/// assert_eq!(compatible_offerings(&it, &on_demand, &SolverConfig::default()).unwrap(), vec![1]);
/// ```
pub fn compatible_offerings(
    instance_type: &InstanceType,
    requirements: &[NodeSelectorRequirement],
    config: &SolverConfig,
) -> Result<Vec<usize>, InputError> {
    let problem = Problem { instance_types: vec![instance_type.clone()], ..Problem::default() };
    let mut c = compile::compile(&problem, config);
    let Some(it) = c.instance_types.first() else {
        return Err(c.input_errors.into_iter().next().unwrap_or_else(|| InputError {
            object: format!("InstanceType/{}", instance_type.name),
            field: None,
            message: "the instance type could not be read".to_string(),
        }));
    };
    let it = it.clone();
    let wanted = compile::compile_term(&mut c.interner, requirements, "requirements", false).map_err(
        |(field, message)| InputError { object: "Requirements".to_string(), field: Some(field), message },
    )?;
    if it.requirements.intersects(&c.interner, &wanted).is_err() {
        return Ok(Vec::new());
    }
    Ok(it
        .offerings
        .iter()
        .enumerate()
        .filter(|(_, o)| o.available && offering_allowed(&c, o, &wanted))
        .map(|(position, _)| position)
        .collect())
}
