//! Field-for-field conversions of the small Kubernetes types the solver's model mirrors: quantities, selector
//! terms, label selectors, taints and tolerations. They copy; they check nothing (the solver's compile step does).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use karpenter_solver::model;

/// A resource list as quantity strings.
pub(crate) fn quantities(list: Option<&BTreeMap<String, Quantity>>) -> model::ResourceList {
    list.map(|l| l.iter().map(|(name, q)| (name.clone(), q.0.clone())).collect()).unwrap_or_default()
}

/// A label map, empty when absent.
pub(crate) fn labels(map: Option<&BTreeMap<String, String>>) -> model::Labels {
    map.cloned().unwrap_or_default()
}

/// A node selector requirement of a pod or volume (no minValues there).
pub(crate) fn requirement(r: &core::NodeSelectorRequirement) -> model::NodeSelectorRequirement {
    model::NodeSelectorRequirement {
        key: r.key.clone(),
        operator: r.operator.clone(),
        values: r.values.clone().unwrap_or_default(),
        min_values: None,
    }
}

/// A node selector term, label and field expressions both.
pub(crate) fn selector_term(term: &core::NodeSelectorTerm) -> model::NodeSelectorTerm {
    model::NodeSelectorTerm {
        match_expressions: term.match_expressions.iter().flatten().map(requirement).collect(),
        match_fields: term.match_fields.iter().flatten().map(requirement).collect(),
    }
}

/// A label selector.
pub(crate) fn label_selector(selector: &meta::LabelSelector) -> model::LabelSelector {
    model::LabelSelector {
        match_labels: labels(selector.match_labels.as_ref()),
        match_expressions: selector
            .match_expressions
            .iter()
            .flatten()
            .map(|e| model::LabelSelectorRequirement {
                key: e.key.clone(),
                operator: e.operator.clone(),
                values: e.values.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

/// A taint; `timeAdded` does not matter to scheduling.
pub(crate) fn taint(t: &core::Taint) -> model::Taint {
    model::Taint { key: t.key.clone(), value: t.value.clone().unwrap_or_default(), effect: t.effect.clone() }
}

/// A list of taints, empty when absent.
pub(crate) fn taints(list: Option<&Vec<core::Taint>>) -> Vec<model::Taint> {
    list.iter().copied().flatten().map(taint).collect()
}

/// A toleration; `tolerationSeconds` only matters once a pod runs.
pub(crate) fn toleration(t: &core::Toleration) -> model::Toleration {
    model::Toleration {
        key: t.key.clone().unwrap_or_default(),
        operator: t.operator.clone(),
        value: t.value.clone().unwrap_or_default(),
        effect: t.effect.clone().filter(|e| !e.is_empty()),
    }
}

/// Whether a condition of the given type is `True` in a list of Karpenter conditions.
pub(crate) fn condition_true(conditions: Option<&Vec<karpenter_api::Condition>>, type_: &str) -> bool {
    conditions.iter().copied().flatten().any(|c| c.type_ == type_ && c.status == "True")
}

/// The status of a condition of the given type, if the list has one.
pub(crate) fn condition_status<'a>(
    conditions: Option<&'a Vec<karpenter_api::Condition>>,
    type_: &str,
) -> Option<&'a str> {
    conditions.iter().copied().flatten().find(|c| c.type_ == type_).map(|c| c.status.as_str())
}
