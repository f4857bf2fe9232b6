//! NodePools and Namespaces onto the solver's model, and which NodePools take part in a provisioning round
//! (`kubernetes-sigs/karpenter: pkg/controllers/provisioning/provisioner.go` `NewScheduler`,
//! `pkg/apis/v1/nodepool.go`).

use k8s_openapi::api::core::v1::Namespace;
use karpenter_api::labels::condition;
use karpenter_api::{NodePool, NodeSelectorOperator};
use karpenter_solver::model;

use crate::convert;
use crate::report::{Error, ObjectRef, Result};

/// The NodePool as an object reference, for reports.
pub fn node_pool_ref(pool: &NodePool) -> ObjectRef {
    ObjectRef::cluster("NodePool", pool.metadata.name.as_deref().unwrap_or(""))
}

/// Maps a NodePool's template, weight and limits. Requirements keep their operators as written (`Gt`, `Gte`...);
/// the solver reads them.
pub fn map_node_pool(pool: &NodePool) -> Result<model::NodePool> {
    let name = pool
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::missing("metadata.name"))?;
    let template = &pool.spec.template;
    let mut requirements = Vec::with_capacity(template.spec.requirements.len());
    for (i, r) in template.spec.requirements.iter().enumerate() {
        let min_values = r
            .min_values
            .map(|m| {
                u32::try_from(m).map_err(|_| {
                    Error::invalid(
                        format!("spec.template.spec.requirements[{i}].minValues"),
                        format!("{m} is not a count"),
                    )
                })
            })
            .transpose()?;
        requirements.push(model::NodeSelectorRequirement {
            key: r.key.clone(),
            operator: operator(r.operator).to_string(),
            values: r.values.clone().unwrap_or_default(),
            min_values,
        });
    }
    let node_class = &template.spec.node_class_ref;
    Ok(model::NodePool {
        name,
        weight: pool.spec.weight,
        labels: convert::labels(template.metadata.as_ref().and_then(|m| m.labels.as_ref())),
        requirements,
        taints: convert::taints(template.spec.taints.as_ref()),
        startup_taints: convert::taints(template.spec.startup_taints.as_ref()),
        limits: convert::quantities(pool.spec.limits.as_ref()),
        node_class_ref: Some(model::NodeClassRef {
            group: node_class.group.clone(),
            kind: node_class.kind.clone(),
            name: node_class.name.clone(),
        }),
    })
}

/// Maps a NodeOverlay (`karpenter.sh/v1alpha1`) for the solver, which validates and applies it
/// (`karpenter_solver::overlay`); the caller passes overlays on only under the `NodeOverlay` gate.
pub fn map_node_overlay(overlay: &karpenter_api::NodeOverlay) -> Result<model::NodeOverlay> {
    let name = overlay
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::missing("metadata.name"))?;
    let spec = &overlay.spec;
    Ok(model::NodeOverlay {
        name,
        weight: spec.weight,
        requirements: spec
            .requirements
            .iter()
            .map(|r| model::NodeSelectorRequirement {
                key: r.key.clone(),
                operator: operator(r.operator).to_string(),
                values: r.values.clone().unwrap_or_default(),
                min_values: None,
            })
            .collect(),
        price: spec.price.clone(),
        price_adjustment: spec.price_adjustment.clone(),
        capacity: spec
            .capacity
            .as_ref()
            .map(|c| c.iter().map(|(k, q)| (k.clone(), q.0.clone())).collect())
            .unwrap_or_default(),
    })
}

/// An operator as the API spells it.
fn operator(op: NodeSelectorOperator) -> &'static str {
    match op {
        NodeSelectorOperator::In => "In",
        NodeSelectorOperator::NotIn => "NotIn",
        NodeSelectorOperator::Exists => "Exists",
        NodeSelectorOperator::DoesNotExist => "DoesNotExist",
        NodeSelectorOperator::Gt => "Gt",
        NodeSelectorOperator::Lt => "Lt",
        NodeSelectorOperator::Gte => "Gte",
        NodeSelectorOperator::Lte => "Lte",
    }
}

/// Whether a NodePool takes part in a provisioning round: not static (`spec.replicas`, which its own controller
/// serves), not being deleted, and, when `require_ready` is set, `Ready`. `karpenter plan` reads NodePools from
/// files, which have no status, and so does not require readiness.
pub fn node_pool_in_round(pool: &NodePool, require_ready: bool) -> Result<()> {
    if pool.spec.replicas.is_some() {
        return Err(Error::skipped(
            "a static NodePool (spec.replicas) is not provisioned for by pending pods",
        ));
    }
    if pool.metadata.deletion_timestamp.is_some() {
        return Err(Error::skipped("the NodePool is being deleted"));
    }
    if require_ready {
        let conditions = pool.status.as_ref().and_then(|s| s.conditions.as_ref());
        if convert::condition_status(conditions, condition::READY) != Some("True") {
            return Err(Error::skipped("the NodePool is not Ready"));
        }
    }
    Ok(())
}

/// Maps a Namespace: its name and labels, for `namespaceSelector`.
pub fn map_namespace(namespace: &Namespace) -> Result<model::Namespace> {
    let name = namespace
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::missing("metadata.name"))?;
    Ok(model::Namespace { name, labels: convert::labels(namespace.metadata.labels.as_ref()) })
}
