//! NodePool templates (`nodeclaimtemplate.go`, `NewNodeClaimTemplate`): requirements with the template's labels,
//! taints, limits and weight. Upstream's `RuntimeValidate` checks that the schema cannot make are made here.

use super::TemplateData;
use crate::error::FieldError;
use crate::ids::TypeId;
use crate::interner::Interner;
use crate::labels;
use crate::model::NodePool;
use crate::plan::InputError;
use crate::requirements::{Requirement, Requirements};
use crate::resources::{self, ResourceTable};
use crate::taints::Taint;

/// A NodePool as the scheduler uses it, over `instance_types`; a malformed NodePool is an error naming the field.
pub(crate) fn compile_template(
    interner: &mut Interner,
    table: &ResourceTable,
    pool: &NodePool,
    instance_types: Vec<TypeId>,
) -> Result<TemplateData, InputError> {
    template_data(interner, table, pool, instance_types).map_err(|e| e.on(format!("NodePool/{}", pool.name)))
}

fn template_data(
    interner: &mut Interner,
    table: &ResourceTable,
    pool: &NodePool,
    instance_types: Vec<TypeId>,
) -> Result<TemplateData, FieldError> {
    if let Some(weight) = pool.weight
        && !(1..=100).contains(&weight)
    {
        return Err(FieldError::new(
            "spec.weight",
            format!("weight must be between 1 and 100, got {weight}"),
        ));
    }
    let mut requirements = Requirements::default();
    for (i, requirement) in pool.requirements.iter().enumerate() {
        let field = format!("spec.template.spec.requirements[{i}]");
        if labels::is_restricted(&requirement.key) {
            return Err(FieldError::new(
                format!("{field}.key"),
                format!("label {} is restricted", requirement.key),
            ));
        }
        let built = super::selectors::build_requirement(interner, requirement, &field)?;
        let key = interner.key(&requirement.key);
        requirements.add(interner, key, built);
    }
    let mut labels_map = pool.labels.clone();
    labels_map.insert(labels::NODE_POOL.to_string(), pool.name.clone());
    if let Some(class) = &pool.node_class_ref {
        labels_map.insert(format!("{}/{}", class.group, class.kind.to_lowercase()), class.name.clone());
    }
    let label_requirements = Requirements::from_labels(interner, &labels_map);
    requirements.add_all(interner, &label_requirements);
    let registered = interner.key(labels::REGISTERED);
    let initialized = interner.key(labels::INITIALIZED);
    let truth = interner.value("true");
    requirements.add(interner, registered, Requirement::in_values(vec![truth]));
    requirements.add(interner, initialized, Requirement::in_values(vec![truth]));

    let taints = pool
        .taints
        .iter()
        .enumerate()
        .map(|(i, t)| {
            Taint::from_model(t).map_err(|m| FieldError::new(format!("spec.template.spec.taints[{i}]"), m))
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (i, taint) in pool.startup_taints.iter().enumerate() {
        Taint::from_model(taint)
            .map_err(|m| FieldError::new(format!("spec.template.spec.startupTaints[{i}]"), m))?;
    }
    let mut limits = vec![None; table.len()];
    let mut node_limit = None;
    for (name, quantity) in &pool.limits {
        let amount = resources::parse_amount(name, quantity)
            .map_err(|m| FieldError::new(format!("spec.limits.{name}"), m))?;
        match table.index_of(name) {
            Some(index) => limits[index] = Some(amount),
            None if name == resources::NODES => node_limit = Some(amount),
            None => {}
        }
    }
    Ok(TemplateData {
        name: pool.name.clone(),
        weight: pool.weight.unwrap_or(0),
        requirements,
        taints,
        model_taints: pool.taints.clone(),
        model_startup_taints: pool.startup_taints.clone(),
        labels: labels_map,
        limits,
        node_limit,
        instance_types,
    })
}
