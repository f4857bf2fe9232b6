//! Node selector requirements and terms (`pkg/apis/v1/nodeclaim_validation.go`, `ValidateRequirement`).

use crate::error::FieldError;
use crate::interner::Interner;
use crate::labels;
use crate::model::NodeSelectorRequirement;
use crate::requirements::{Requirement, RequirementError, Requirements};

/// Whether the keys of a term must be ones a pod may select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyCheck {
    /// A pending pod's term: the hostname and the `karpenter.sh` domain are refused.
    PodSelectable,
    /// Anything else: any key.
    Any,
}

/// Pods may not select labels Karpenter cannot promise before launch: the hostname, the `karpenter.sh` domain
/// (other than its well-known labels), and the provider's reserved domains (other than their well-known labels).
pub(crate) fn check_pod_key(interner: &mut Interner, key: &str) -> Result<(), String> {
    if labels::is_restricted(key) || interner.is_provider_restricted(key) {
        return Err(format!(
            "label {key} is restricted: Karpenter cannot provision a node that satisfies it in advance"
        ));
    }
    Ok(())
}

/// Compiles ANDed expressions; the error names `{field}.matchExpressions[i]`.
pub(crate) fn compile_term(
    interner: &mut Interner,
    expressions: &[NodeSelectorRequirement],
    field: &str,
    keys: KeyCheck,
) -> Result<Requirements, FieldError> {
    let mut requirements = Requirements::default();
    for (i, expression) in expressions.iter().enumerate() {
        let field = format!("{field}.matchExpressions[{i}]");
        if keys == KeyCheck::PodSelectable {
            check_pod_key(interner, &expression.key)
                .map_err(|m| FieldError::new(format!("{field}.key"), m))?;
        }
        let requirement = build_requirement(interner, expression, &field)?;
        let key = interner.key(&expression.key);
        requirements.add(interner, key, requirement);
    }
    Ok(requirements)
}

/// Checks and builds one requirement; the error names `{field}.key`, `.operator`, `.values` or `.minValues`.
pub(crate) fn build_requirement(
    interner: &mut Interner,
    requirement: &NodeSelectorRequirement,
    field: &str,
) -> Result<Requirement, FieldError> {
    if requirement.key.is_empty() {
        return Err(FieldError::new(format!("{field}.key"), "key must not be empty"));
    }
    if let Some(min) = requirement.min_values {
        if !(1..=50).contains(&min) {
            return Err(FieldError::new(
                format!("{field}.minValues"),
                format!("minValues must be between 1 and 50, got {min}"),
            ));
        }
        if requirement.operator == "In" && (requirement.values.len() as u32) < min {
            return Err(FieldError::new(
                format!("{field}.minValues"),
                format!("minValues {min} is more than the {} value(s) listed", requirement.values.len()),
            ));
        }
    }
    let is_bound = matches!(requirement.operator.as_str(), "Gt" | "Lt" | "Gte" | "Lte");
    if is_bound
        && requirement.values.len() == 1
        && requirement.values[0].trim().parse::<i64>().is_ok_and(|v| v < 0)
    {
        return Err(FieldError::new(
            format!("{field}.values"),
            "comparison operators need a non-negative integer",
        ));
    }
    Requirement::build(interner, &requirement.operator, &requirement.values, requirement.min_values).map_err(
        |e| {
            let part = if matches!(e, RequirementError::UnknownOperator(_)) { "operator" } else { "values" };
            FieldError::new(format!("{field}.{part}"), format!("key {}: {e}", requirement.key))
        },
    )
}
