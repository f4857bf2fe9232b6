//! The checks on a NodePool (and a NodeOverlay) that its CRD schema cannot make, which upstream runs in its
//! validation controllers and reports as the `ValidationSucceeded` condition (`NodePool.RuntimeValidate` in
//! kubernetes-sigs/karpenter `pkg/apis/v1/nodepool_validation.go` and `nodeclaim_validation.go`): label keys and
//! taint keys and values must be qualified names, label and requirement values must be label values, restricted
//! label domains stay out (the AWS provider adds `karpenter.k8s.aws`), requirements on well-known labels with a
//! fixed set of values must name at least one of them, and no two taints may share a key and effect. A
//! NodeOverlay's requirements get the same checks (`NodeOverlay.RuntimeValidate`, `pkg/apis/v1alpha1/
//! nodeoverlay_validation.go`), and its capacity may not name a resource the instance types report themselves.

use std::collections::BTreeSet;
use std::fmt;

use k8s_openapi::api::core::v1::Taint;

use crate::labels::label;
use crate::{NodeOverlay, NodePool, NodeSelectorOperator};

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as a path from the object (`spec.template.spec.requirements[2].key`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Well-known labels whose values are a fixed set.
const KNOWN_VALUES: [(&str, &[&str]); 2] = [
    (
        label::CAPACITY_TYPE,
        &[label::CAPACITY_TYPE_ON_DEMAND, label::CAPACITY_TYPE_SPOT, label::CAPACITY_TYPE_RESERVED],
    ),
    (label::aws::INSTANCE_TENANCY, &["dedicated", "default"]),
];

/// `1 to 63 characters: alphanumerics, '-', '_' and '.', starting and ending with an alphanumeric`.
fn is_name(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A DNS subdomain: dot-separated lower-case labels of alphanumerics and '-', at most 253 characters.
fn is_dns_subdomain(text: &str) -> bool {
    text.len() <= 253
        && text.split('.').all(|part| {
            let bytes = part.as_bytes();
            !bytes.is_empty()
                && bytes[0].is_ascii_alphanumeric()
                && bytes[bytes.len() - 1].is_ascii_alphanumeric()
                && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        })
}

/// Why `text` is not a qualified name (`prefix/name` or `name`), if it is not one.
fn qualified_name_problem(text: &str) -> Option<&'static str> {
    let (prefix, name) = match text.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, text),
    };
    if name.contains('/') {
        return Some("a qualified name has at most one '/'");
    }
    if let Some(prefix) = prefix
        && !is_dns_subdomain(prefix)
    {
        return Some("the prefix before '/' must be a lower-case DNS subdomain of at most 253 characters");
    }
    (!is_name(name)).then_some(
        "the name must be 1 to 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric",
    )
}

/// Whether `text` is a label value: empty, or a name.
fn is_label_value(text: &str) -> bool {
    text.is_empty() || is_name(text)
}

/// Whether a label key is kept for Karpenter: the solver's rule (the hostname, and the `karpenter.sh` domain apart
/// from its well-known labels) with the AWS provider's addition, the `karpenter.k8s.aws` domain apart from its
/// well-known labels.
fn is_restricted_label(key: &str) -> bool {
    let key = karpenter_solver::labels::normalize(key);
    let domain = key.split_once('/').map_or("", |(domain, _)| domain);
    let aws_domain = domain == crate::labels::AWS_GROUP || domain.ends_with(".karpenter.k8s.aws");
    karpenter_solver::labels::is_restricted(key) || (aws_domain && !label::aws::WELL_KNOWN.contains(&key))
}

fn restricted_message(key: &str) -> String {
    format!(
        "{key:?} is kept for Karpenter's own use; use a well-known label or a label outside the karpenter.sh and karpenter.k8s.aws domains"
    )
}

fn check_taints(
    field: &str,
    taints: &Option<Vec<Taint>>,
    seen: &mut BTreeSet<(String, String)>,
    out: &mut Vec<FieldError>,
) {
    for (index, taint) in taints.iter().flatten().enumerate() {
        let at = |part: &str| format!("spec.template.spec.{field}[{index}]{part}");
        if let Some(problem) = qualified_name_problem(&taint.key) {
            out.push(FieldError {
                field: at(".key"),
                message: format!("{:?} is not a qualified name: {problem}", taint.key),
            });
        }
        if let Some(value) = taint.value.as_deref().filter(|v| !v.is_empty())
            && let Some(problem) = qualified_name_problem(value)
        {
            out.push(FieldError {
                field: at(".value"),
                message: format!("{value:?} is not a qualified name: {problem}"),
            });
        }
        if !["NoSchedule", "PreferNoSchedule", "NoExecute", ""].contains(&taint.effect.as_str()) {
            out.push(FieldError {
                field: at(".effect"),
                message: format!("{:?} is not NoSchedule, PreferNoSchedule or NoExecute", taint.effect),
            });
        }
        if !seen.insert((taint.key.clone(), taint.effect.clone())) {
            out.push(FieldError {
                field: at(""),
                message: format!("another taint already has key {:?} and effect {}", taint.key, taint.effect),
            });
        }
    }
}

/// A requirement as the checks see it, whichever kind it comes from.
struct Requirement<'a> {
    key: &'a str,
    operator: NodeSelectorOperator,
    values: &'a [String],
    min_values: Option<i64>,
}

/// Upstream's `ValidateRequirement`, for the requirement at `path`. A NodePool's requirement may not name
/// `karpenter.sh/nodepool` (its nodes get that label from the pool); a NodeOverlay's may, to match pools.
fn check_requirement(
    path: &str,
    requirement: &Requirement<'_>,
    in_node_pool: bool,
    out: &mut Vec<FieldError>,
) {
    let at = |part: &str| format!("{path}{part}");
    let key = karpenter_solver::labels::normalize(requirement.key);
    if key == label::NODE_POOL {
        if in_node_pool {
            out.push(FieldError {
                field: at(".key"),
                message: "a NodePool's nodes get karpenter.sh/nodepool itself; it may not be required".into(),
            });
        }
    } else if is_restricted_label(key) {
        out.push(FieldError { field: at(".key"), message: restricted_message(key) });
    }
    if let Some(problem) = qualified_name_problem(key) {
        out.push(FieldError {
            field: at(".key"),
            message: format!("{key:?} is not a qualified name: {problem}"),
        });
    }
    let values = requirement.values;
    for (position, value) in values.iter().enumerate() {
        if !is_label_value(value) {
            out.push(FieldError {
                field: at(&format!(".values[{position}]")),
                message: format!("{value:?} is not a label value (at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric)"),
            });
        }
    }
    let operator = requirement.operator;
    if operator == NodeSelectorOperator::In {
        if values.is_empty() {
            out.push(FieldError {
                field: at(".values"),
                message: "an In requirement needs at least one value".into(),
            });
        }
        if let Some(min) = requirement.min_values
            && (values.len() as i64) < min
        {
            out.push(FieldError {
                field: at(".minValues"),
                message: format!("minValues {min} is more than the {} values given", values.len()),
            });
        }
        if let Some((_, known)) = KNOWN_VALUES.iter().find(|(known_key, _)| *known_key == key) {
            let valid = values.iter().filter(|value| known.contains(&value.as_str())).count();
            if valid == 0 && !values.is_empty() {
                out.push(FieldError {
                    field: at(".values"),
                    message: format!("none of {values:?} is a value of {key} (one of {known:?})"),
                });
            } else if let Some(min) = requirement.min_values.filter(|min| (valid as i64) < *min) {
                out.push(FieldError {
                    field: at(".minValues"),
                    message: format!("minValues {min} is more than the {valid} known values of {key} given"),
                });
            }
        }
    }
    let numeric = matches!(
        operator,
        NodeSelectorOperator::Gt
            | NodeSelectorOperator::Lt
            | NodeSelectorOperator::Gte
            | NodeSelectorOperator::Lte
    );
    if numeric && !matches!(values, [single] if single.parse::<i64>().is_ok_and(|n| n >= 0)) {
        out.push(FieldError {
            field: at(".values"),
            message: format!("{operator:?} needs exactly one value, a non-negative integer"),
        });
    }
}

/// Resources every instance type reports itself, which a NodeOverlay may not add: the core's (cpu, memory,
/// ephemeral-storage, pods) and those the AWS provider registers (`karpenter.k8s.aws` `labels.go` adds them to
/// the core's `WellKnownResources`).
const WELL_KNOWN_RESOURCES: [&str; 9] = [
    "cpu",
    "memory",
    "ephemeral-storage",
    "pods",
    label::aws::RESOURCE_POD_ENI,
    label::aws::RESOURCE_NEURON,
    label::aws::RESOURCE_NEURON_CORE,
    label::aws::RESOURCE_HABANA_GAUDI,
    label::aws::RESOURCE_EFA,
];

impl NodeOverlay {
    /// The problems its CRD schema lets through (upstream's `NodeOverlay.RuntimeValidate`); empty when the
    /// overlay is valid. The overlay controller reports them on the `ValidationSucceeded` condition and does not
    /// apply the overlay until they are fixed.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        for (index, requirement) in self.spec.requirements.iter().enumerate() {
            let path = format!("spec.requirements[{index}]");
            let values = requirement.values.as_deref().unwrap_or_default();
            let view = Requirement {
                key: &requirement.key,
                operator: requirement.operator,
                values,
                min_values: None,
            };
            check_requirement(&path, &view, false, &mut out);
            if requirement.operator == NodeSelectorOperator::NotIn && values.is_empty() {
                out.push(FieldError {
                    field: format!("{path}.values"),
                    message: "a NotIn requirement needs at least one value".into(),
                });
            }
        }
        for resource in self.spec.capacity.iter().flat_map(|capacity| capacity.keys()) {
            if WELL_KNOWN_RESOURCES.contains(&resource.as_str()) {
                out.push(FieldError {
                    field: format!("spec.capacity[{resource:?}]"),
                    message: format!(
                        "{resource} is reported by the instance types themselves; an overlay may only add other extended resources"
                    ),
                });
            }
        }
        out
    }
}

impl NodePool {
    /// The problems its CRD schema lets through; empty when the NodePool is valid. The NodePool controller reports
    /// them on the `ValidationSucceeded` condition and provisions nothing from the pool until they are fixed.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        let template = &self.spec.template;
        let labels = template.metadata.as_ref().and_then(|m| m.labels.as_ref());
        for (key, value) in labels.into_iter().flatten() {
            let field = format!("spec.template.metadata.labels[{key:?}]");
            if key == label::NODE_POOL {
                out.push(FieldError {
                    field: field.clone(),
                    message: "karpenter.sh/nodepool is set by Karpenter".into(),
                });
            } else if is_restricted_label(key) {
                out.push(FieldError { field: field.clone(), message: restricted_message(key) });
            }
            if let Some(problem) = qualified_name_problem(key) {
                out.push(FieldError {
                    field: field.clone(),
                    message: format!("{key:?} is not a qualified name: {problem}"),
                });
            }
            if !is_label_value(value) {
                out.push(FieldError { field, message: format!("{value:?} is not a label value") });
            }
        }
        let mut seen = BTreeSet::new();
        check_taints("taints", &template.spec.taints, &mut seen, &mut out);
        check_taints("startupTaints", &template.spec.startup_taints, &mut seen, &mut out);
        for (index, requirement) in template.spec.requirements.iter().enumerate() {
            let view = Requirement {
                key: &requirement.key,
                operator: requirement.operator,
                values: requirement.values.as_deref().unwrap_or_default(),
                min_values: requirement.min_values,
            };
            check_requirement(&format!("spec.template.spec.requirements[{index}]"), &view, true, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use crate::NodePool;

    /// Validates a NodePool whose template spec ends with the YAML lines `spec` and whose template labels are
    /// `labels` (a YAML flow mapping's entries), and compares the problems found with `expected`.
    fn check(spec: &str, labels: &str, expected: Expect) {
        let yaml = format!(
            r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {{name: p}}
spec:
  template:
    metadata: {{labels: {{{labels}}}}}
    spec:
      nodeClassRef: {{group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}}
{spec}
"#
        );
        let pool: NodePool = serde_norway::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let problems: Vec<String> = pool.validate().iter().map(ToString::to_string).collect();
        expected.assert_eq(&problems.join("\n"));
    }

    #[test]
    fn a_valid_pool_has_no_problems() {
        check(
            "      requirements:
        - {key: karpenter.sh/capacity-type, operator: In, values: [spot, on-demand], minValues: 2}
        - {key: karpenter.k8s.aws/instance-family, operator: In, values: [m7g]}
        - {key: failure-domain.beta.kubernetes.io/zone, operator: In, values: [us-east-1a]}
        - {key: karpenter.k8s.aws/instance-cpu, operator: Gte, values: ['4']}
      taints: [{key: example.com/a, value: b, effect: NoSchedule}]
      startupTaints: [{key: example.com/a, effect: NoExecute}]",
            "team: a, example.com/tier: '1', empty: ''",
            expect![[""]],
        );
    }

    #[test]
    fn labels_must_be_qualified_unrestricted_and_valued() {
        check(
            "      requirements: []",
            "karpenter.sh/nodepool: x, karpenter.sh/custom: x, karpenter.k8s.aws/custom: x, sub.karpenter.sh/x: y, kubernetes.io/hostname: h, Bad_Prefix/x: y, a/b/c: d, ok: 'bad value'",
            expect![[r#"
                spec.template.metadata.labels["Bad_Prefix/x"]: "Bad_Prefix/x" is not a qualified name: the prefix before '/' must be a lower-case DNS subdomain of at most 253 characters
                spec.template.metadata.labels["a/b/c"]: "a/b/c" is not a qualified name: a qualified name has at most one '/'
                spec.template.metadata.labels["karpenter.k8s.aws/custom"]: "karpenter.k8s.aws/custom" is kept for Karpenter's own use; use a well-known label or a label outside the karpenter.sh and karpenter.k8s.aws domains
                spec.template.metadata.labels["karpenter.sh/custom"]: "karpenter.sh/custom" is kept for Karpenter's own use; use a well-known label or a label outside the karpenter.sh and karpenter.k8s.aws domains
                spec.template.metadata.labels["karpenter.sh/nodepool"]: karpenter.sh/nodepool is set by Karpenter
                spec.template.metadata.labels["kubernetes.io/hostname"]: "kubernetes.io/hostname" is kept for Karpenter's own use; use a well-known label or a label outside the karpenter.sh and karpenter.k8s.aws domains
                spec.template.metadata.labels["ok"]: "bad value" is not a label value
                spec.template.metadata.labels["sub.karpenter.sh/x"]: "sub.karpenter.sh/x" is kept for Karpenter's own use; use a well-known label or a label outside the karpenter.sh and karpenter.k8s.aws domains"#]],
        );
    }

    #[test]
    fn requirements_are_checked_as_upstream_checks_them() {
        check(
            "      requirements:
        - {key: karpenter.sh/nodepool, operator: In, values: [a]}
        - {key: karpenter.k8s.aws/instance-colour, operator: Exists}
        - {key: karpenter.sh/capacity-type, operator: In, values: [ondemand]}
        - {key: karpenter.sh/capacity-type, operator: In, values: [spot, cheap], minValues: 2}
        - {key: karpenter.k8s.aws/instance-tenancy, operator: In, values: [shared]}
        - {key: example.com/x, operator: In, values: ['a b']}
        - {key: example.com/y, operator: In}
        - {key: example.com/z, operator: In, values: [a], minValues: 3}
        - {key: karpenter.k8s.aws/instance-cpu, operator: Gt, values: ['-1']}
        - {key: karpenter.k8s.aws/instance-cpu, operator: Lte, values: ['1', '2']}
        - {key: 'example.com/', operator: Exists}",
            "",
            expect![[r#"
                spec.template.spec.requirements[0].key: a NodePool's nodes get karpenter.sh/nodepool itself; it may not be required
                spec.template.spec.requirements[1].key: "karpenter.k8s.aws/instance-colour" is kept for Karpenter's own use; use a well-known label or a label outside the karpenter.sh and karpenter.k8s.aws domains
                spec.template.spec.requirements[2].values: none of ["ondemand"] is a value of karpenter.sh/capacity-type (one of ["on-demand", "spot", "reserved"])
                spec.template.spec.requirements[3].minValues: minValues 2 is more than the 1 known values of karpenter.sh/capacity-type given
                spec.template.spec.requirements[4].values: none of ["shared"] is a value of karpenter.k8s.aws/instance-tenancy (one of ["dedicated", "default"])
                spec.template.spec.requirements[5].values[0]: "a b" is not a label value (at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric)
                spec.template.spec.requirements[6].values: an In requirement needs at least one value
                spec.template.spec.requirements[7].minValues: minValues 3 is more than the 1 values given
                spec.template.spec.requirements[8].values[0]: "-1" is not a label value (at most 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric)
                spec.template.spec.requirements[8].values: Gt needs exactly one value, a non-negative integer
                spec.template.spec.requirements[9].values: Lte needs exactly one value, a non-negative integer
                spec.template.spec.requirements[10].key: "example.com/" is not a qualified name: the name must be 1 to 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"#]],
        );
    }

    #[test]
    fn taints_must_be_qualified_and_unique_by_key_and_effect() {
        check(
            "      requirements: []
      taints:
        - {key: example.com/a, effect: NoSchedule}
        - {key: 'bad key', value: 'bad value', effect: NoSchedule}
        - {key: example.com/b, effect: Sometimes}
      startupTaints:
        - {key: example.com/a, effect: NoSchedule}",
            "",
            expect![[r#"
                spec.template.spec.taints[1].key: "bad key" is not a qualified name: the name must be 1 to 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric
                spec.template.spec.taints[1].value: "bad value" is not a qualified name: the name must be 1 to 63 alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric
                spec.template.spec.taints[2].effect: "Sometimes" is not NoSchedule, PreferNoSchedule or NoExecute
                spec.template.spec.startupTaints[0]: another taint already has key "example.com/a" and effect NoSchedule"#]],
        );
    }
    /// Validates a NodeOverlay whose spec is the YAML lines `spec`, and compares the problems with `expected`.
    fn check_overlay(spec: &str, expected: Expect) {
        let yaml = format!(
            "apiVersion: karpenter.sh/v1alpha1\nkind: NodeOverlay\nmetadata: {{name: o}}\nspec:\n{spec}\n"
        );
        let overlay: crate::NodeOverlay =
            serde_norway::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let problems: Vec<String> = overlay.validate().iter().map(ToString::to_string).collect();
        expected.assert_eq(&problems.join("\n"));
    }

    #[test]
    fn overlay_requirements_may_match_pools_and_well_known_labels() {
        check_overlay(
            "  requirements:
    - {key: karpenter.sh/nodepool, operator: In, values: [gpu]}
    - {key: karpenter.sh/capacity-type, operator: NotIn, values: [spot]}
    - {key: karpenter.k8s.aws/instance-family, operator: In, values: [g5]}
    - {key: beta.kubernetes.io/instance-type, operator: Exists}
    - {key: example.com/team, operator: DoesNotExist}
  capacity: {example.com/licence: '1', nvidia.com/gpu: '1'}
  priceAdjustment: '-10%'",
            expect![[""]],
        );
    }

    #[test]
    fn overlays_are_checked_as_upstream_checks_them() {
        check_overlay(
            "  requirements:
    - {key: karpenter.sh/custom, operator: Exists}
    - {key: karpenter.k8s.aws/instance-colour, operator: Exists}
    - {key: kubernetes.io/hostname, operator: In, values: [a]}
    - {key: karpenter.sh/capacity-type, operator: In, values: [cheap]}
    - {key: example.com/x, operator: NotIn}
    - {key: example.com/y, operator: In, values: []}
    - {key: example.com/z, operator: Gt, values: ['1', '2']}
    - {key: 'Bad_Prefix/x', operator: Exists}
  capacity: {cpu: '1', vpc.amazonaws.com/efa: '1', example.com/ok: '1'}",
            expect![[r#"
                spec.requirements[0].key: "karpenter.sh/custom" is kept for Karpenter's own use; use a well-known label or a label outside the karpenter.sh and karpenter.k8s.aws domains
                spec.requirements[1].key: "karpenter.k8s.aws/instance-colour" is kept for Karpenter's own use; use a well-known label or a label outside the karpenter.sh and karpenter.k8s.aws domains
                spec.requirements[2].key: "kubernetes.io/hostname" is kept for Karpenter's own use; use a well-known label or a label outside the karpenter.sh and karpenter.k8s.aws domains
                spec.requirements[3].values: none of ["cheap"] is a value of karpenter.sh/capacity-type (one of ["on-demand", "spot", "reserved"])
                spec.requirements[4].values: a NotIn requirement needs at least one value
                spec.requirements[5].values: an In requirement needs at least one value
                spec.requirements[6].values: Gt needs exactly one value, a non-negative integer
                spec.requirements[7].key: "Bad_Prefix/x" is not a qualified name: the prefix before '/' must be a lower-case DNS subdomain of at most 253 characters
                spec.capacity["cpu"]: cpu is reported by the instance types themselves; an overlay may only add other extended resources
                spec.capacity["vpc.amazonaws.com/efa"]: vpc.amazonaws.com/efa is reported by the instance types themselves; an overlay may only add other extended resources"#]],
        );
    }
}
