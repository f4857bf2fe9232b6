//! Instance types compiled once and filtered by many NodePools: what `karpenter catalog` and a cloud provider
//! need to answer "which instance types does this NodePool allow?" with the scheduler's own rules.

use std::sync::Arc;

use crate::SolverConfig;
use crate::compile::{self, KeyCheck};
use crate::filter::{OfferingFilter, Query, RequirementsCheck, filter_instance_types};
use crate::ids::TypeId;
use crate::model::{InstanceType, NodePool, NodeSelectorRequirement};
use crate::plan::InputError;
use crate::prepared::Prepared;

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
/// let index = InstanceTypeIndex::new(&types, &SolverConfig::default());
/// let pool = NodePool {
///     name: "arm".into(),
///     requirements: vec![NodeSelectorRequirement::new("kubernetes.io/arch", "In", &["arm64"])],
///     ..NodePool::default()
/// };
/// assert_eq!(index.allowed(&pool).unwrap(), vec![0]);
/// ```
pub struct InstanceTypeIndex {
    prepared: Prepared,
}

impl InstanceTypeIndex {
    /// Compiles the instance types. Malformed ones are set aside and listed by [`InstanceTypeIndex::input_errors`].
    pub fn new(instance_types: &[InstanceType], config: &SolverConfig) -> Self {
        let types: Vec<Arc<InstanceType>> = instance_types.iter().cloned().map(Arc::new).collect();
        InstanceTypeIndex { prepared: Prepared::new(&[], &types, &Default::default(), &[], config) }
    }

    /// Instance types that were set aside, with the reason.
    pub fn input_errors(&self) -> &[InputError] {
        self.prepared.input_errors()
    }

    /// Positions (in the list given to [`InstanceTypeIndex::new`]) of the instance types the NodePool allows, in
    /// list order. A malformed NodePool is an error naming the field.
    pub fn allowed(&self, pool: &NodePool) -> Result<Vec<usize>, InputError> {
        Ok(self.allowed_offerings(pool)?.into_iter().map(|allowed| allowed.position).collect())
    }

    /// Like [`InstanceTypeIndex::allowed`], with the offerings of each allowed type whose zone and capacity type
    /// the NodePool's requirements allow (available or not: an unavailable offering is still the pool's to ask
    /// for once capacity returns).
    pub fn allowed_offerings(&self, pool: &NodePool) -> Result<Vec<AllowedType>, InputError> {
        let prepared = &self.prepared;
        let mut interner = prepared.interner.extend();
        let everything: Vec<TypeId> = prepared.shared.iter().map(|(_, id)| *id).collect();
        let template = compile::compile_template(&mut interner, &prepared.table, pool, everything)?;
        let zero = prepared.table.zero();
        let mut requirements = template.requirements.clone();
        let types = prepared.types(&interner);
        let query = Query {
            candidates: &template.instance_types,
            requirements: &mut requirements,
            requests: &zero,
            min_values: prepared.config.min_values(),
            check: RequirementsCheck::Check,
        };
        let allowed = match filter_instance_types(types, query, |_| Some(&zero)) {
            Ok(filtered) => filtered.types,
            Err(_) => Vec::new(),
        };
        let offering_filter = OfferingFilter::new(types, &requirements);
        Ok(allowed
            .into_iter()
            .map(|id| {
                let it = types.get(id);
                let offerings = it
                    .offerings
                    .iter()
                    .enumerate()
                    .filter(|(_, o)| offering_filter.allows(o))
                    .map(|(position, _)| position)
                    .collect();
                let position =
                    prepared.shared.iter().find(|(_, t)| *t == id).map_or(0, |(position, _)| *position);
                AllowedType { position, offerings }
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
    let index = InstanceTypeIndex::new(std::slice::from_ref(instance_type), config);
    let prepared = &index.prepared;
    let Some(it) = prepared.instance_types.first() else {
        return Err(prepared.input_errors.first().cloned().unwrap_or_else(|| InputError {
            object: format!("InstanceType/{}", instance_type.name),
            field: None,
            message: "the instance type could not be read".to_string(),
        }));
    };
    let mut interner = prepared.interner.extend();
    let wanted = compile::compile_term(&mut interner, requirements, "requirements", KeyCheck::Any)
        .map_err(|error| error.on("Requirements"))?;
    if it.requirements.intersects(&interner, &wanted).is_err() {
        return Ok(Vec::new());
    }
    let offering_filter = OfferingFilter::new(prepared.types(&interner), &wanted);
    Ok(it
        .offerings
        .iter()
        .enumerate()
        .filter(|(_, o)| o.available && offering_filter.allows(o))
        .map(|(position, _)| position)
        .collect())
}
