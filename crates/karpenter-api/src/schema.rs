//! Schema fragments shared by the CRDs, and the pass that turns schemars' output into the plain structural
//! schema upstream's controller-gen writes.
//!
//! Fragments are JSON because the same Go type is published with different validation in different places
//! (a requirement on `karpenter.sh/nodepool` is refused in a NodePool but is how a NodeClaim names its pool;
//! NodePool conditions require a reason, NodeClaim conditions do not), which field attributes on one Rust type
//! cannot say, and because the core types (taints) carry k8s-openapi's schema, not the stricter one upstream
//! publishes.

use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};

/// A label key or taint key: an optional DNS-subdomain prefix and a name.
pub(crate) const QUALIFIED_NAME: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(\/))?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$";
/// A label value (possibly empty).
pub(crate) const LABEL_VALUE: &str = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";
/// A resource quantity.
const QUANTITY: &str = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";
/// A Go duration of whole hours, minutes and seconds, or `Never`.
pub(crate) const DURATION_OR_NEVER: &str = r"^(([0-9]+(s|m|h))+|Never)$";
/// A Go duration of whole hours, minutes and seconds.
pub(crate) const DURATION: &str = r"^([0-9]+(s|m|h))+$";

/// One `x-kubernetes-validations` entry.
pub(crate) fn rule(rule: &str, message: &str) -> Value {
    json!({ "rule": rule, "message": message })
}

/// A map of resource names to quantities (`corev1.ResourceList`). The `anyOf` integer-or-string alternatives are
/// written by [`finalize`]: kube's structural rewrite would drop them from here.
pub(crate) fn resource_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": {
            "pattern": QUANTITY,
            "x-kubernetes-int-or-string": true,
        },
    })
}

/// The AWS provider's labels that a requirement may name in its `karpenter.k8s.aws` domain, in the order its CRD
/// rule lists them (the provider's `hack/validation` adds the rule to the core CRDs it ships).
const AWS_LABELS: [&str; 28] = [
    "instance-tenancy",
    "capacity-reservation-type",
    "capacity-reservation-id",
    "capacity-reservation-interruptible",
    "ec2nodeclass",
    "instance-encryption-in-transit-supported",
    "instance-category",
    "instance-hypervisor",
    "instance-family",
    "instance-generation",
    "instance-local-nvme",
    "instance-size",
    "instance-cpu",
    "instance-cpu-manufacturer",
    "instance-cpu-sustained-clock-speed-mhz",
    "instance-memory",
    "instance-ebs-bandwidth",
    "instance-network-bandwidth",
    "instance-gpu-name",
    "instance-gpu-manufacturer",
    "instance-gpu-count",
    "instance-gpu-memory",
    "instance-accelerator-name",
    "instance-accelerator-manufacturer",
    "instance-accelerator-count",
    "instance-capability-flex",
    "placement-group-id",
    "placement-group-partition",
];

/// Where a set of label rules is published; each place lists a different set of allowed AWS labels.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LabelPlace {
    /// NodePool template labels. Upstream's list names `capacity-reservation-interruptible` twice; kept, since
    /// the rule text is compared verbatim.
    PoolLabels,
    /// NodePool template requirement keys.
    PoolRequirement,
    /// NodeClaim requirement keys.
    ClaimRequirement,
    /// NodeOverlay requirement keys: without the tenancy, capacity reservation and placement group labels,
    /// which overlays do not match on.
    OverlayRequirement,
}

/// The allowed `karpenter.k8s.aws` labels of `place`, quoted and comma-separated as the CEL list literal holds them.
fn aws_label_list(place: LabelPlace) -> String {
    let labels: Vec<&str> = match place {
        LabelPlace::PoolLabels => {
            let mut labels = AWS_LABELS.to_vec();
            labels.insert(4, "capacity-reservation-interruptible");
            labels
        }
        LabelPlace::PoolRequirement | LabelPlace::ClaimRequirement => AWS_LABELS.to_vec(),
        LabelPlace::OverlayRequirement => AWS_LABELS[4..26].to_vec(),
    };
    labels.iter().map(|label| format!(r#""karpenter.k8s.aws/{label}""#)).collect::<Vec<_>>().join(", ")
}

/// The rules that keep Karpenter's own labels and the hostname out of a key (`self`) or of every key of a map
/// (`self.all(x, ...)`): the core's three (two where the NodePool label may be named) and the AWS provider's
/// restriction of its own domain.
fn restricted_label_rules(subject: &str, place: LabelPlace) -> Vec<Value> {
    let all = |body: String| if subject == "self" { body } else { format!("self.all(x, {body})") };
    let mut rules = vec![rule(
        &all(format!(
            r#"{subject} in ["karpenter.sh/capacity-type", "karpenter.sh/nodepool"] || !{subject}.find("^([^/]+)").endsWith("karpenter.sh")"#
        )),
        r#"label domain "karpenter.sh" is restricted"#,
    )];
    if matches!(place, LabelPlace::PoolLabels | LabelPlace::PoolRequirement) {
        rules.push(rule(
            &all(format!(r#"{subject} != "karpenter.sh/nodepool""#)),
            r#"label "karpenter.sh/nodepool" is restricted"#,
        ));
    }
    rules.push(rule(
        &all(format!(r#"{subject} != "kubernetes.io/hostname""#)),
        r#"label "kubernetes.io/hostname" is restricted"#,
    ));
    rules.push(rule(
        &all(format!(
            r#"{subject} in [{}] || !{subject}.find("^([^/]+)").endsWith("karpenter.k8s.aws")"#,
            aws_label_list(place)
        )),
        r#"label domain "karpenter.k8s.aws" is restricted"#,
    ));
    rules
}

/// NodePool template labels: label values, at most 100, no restricted keys.
pub(crate) fn template_labels(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Labels copied to every NodeClaim and node made from this template; they also act as `In` requirements.",
        "type": "object",
        "additionalProperties": { "type": "string", "maxLength": 63, "pattern": LABEL_VALUE },
        "maxProperties": 100,
        "x-kubernetes-map-type": "atomic",
        "x-kubernetes-validations": restricted_label_rules("x", LabelPlace::PoolLabels),
    })
}

/// NodePool template annotations.
pub(crate) fn template_annotations(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Annotations copied to every NodeClaim and node made from this template.",
        "type": "object",
        "additionalProperties": { "type": "string" },
        "x-kubernetes-map-type": "granular",
    })
}

/// The requirement list of a NodePool template, a NodeClaim or a NodeOverlay. NodeOverlay requirements have no
/// `minValues` and their own rules (a `NotIn` needs values too; one message words the numeric operators
/// differently), as upstream's `v1alpha1` API writes them.
fn requirements(place: LabelPlace) -> Schema {
    let overlay = place == LabelPlace::OverlayRequirement;
    let key = json!({
        "description": "The node label the requirement constrains.",
        "type": "string",
        "maxLength": 316,
        "pattern": QUALIFIED_NAME,
        "x-kubernetes-validations": restricted_label_rules("self", place),
    });
    let mut properties = json!({
        "key": key,
        "operator": {
            "description": "How the key relates to the values.",
            "type": "string",
            "enum": ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Gte", "Lte"],
        },
        "values": {
            "description": "The values; one non-negative integer for Gt, Lt, Gte and Lte, none for Exists and DoesNotExist.",
            "type": "array",
            "items": { "type": "string" },
            "maxLength": 63,
            "pattern": LABEL_VALUE,
            "x-kubernetes-list-type": "atomic",
        },
    });
    let mut rules = vec![rule(
        "self.all(x, x.operator == 'In' ? x.values.size() != 0 : true)",
        "requirements with operator 'In' must have a value defined",
    )];
    if overlay {
        rules.insert(
            0,
            rule(
                "self.all(x, x.operator == 'NotIn' ? x.values.size() != 0 : true)",
                "requirements with operator 'NotIn' must have a value defined",
            ),
        );
        rules.push(rule("self.all(x, (x.operator == 'Gt' || x.operator == 'Lt' || x.operator == 'Gte' || x.operator == 'Lte') ? (x.values.size() == 1 && int(x.values[0]) >= 0) : true)",
            "requirements operator 'Gt', 'Lt', 'Gte' or 'Lte' must have a single positive integer value"));
    } else {
        properties["minValues"] = json!({
            "description": "The least number of distinct values of the key that the instance types of a NodeClaim must span.",
            "type": "integer",
            "minimum": 1,
            "maximum": 50,
        });
        rules.push(rule("self.all(x, (x.operator == 'Gt' || x.operator == 'Lt' || x.operator == 'Gte' || x.operator == 'Lte') ? (x.values.size() == 1 && int(x.values[0]) >= 0) : true)",
            "requirements operator 'Gt', 'Lt', 'Gte', or 'Lte' must have a single positive integer value"));
        rules.push(rule("self.all(x, (x.operator == 'In' && has(x.minValues)) ? x.values.size() >= x.minValues : true)",
            "requirements with 'minValues' must have at least that many values specified in the 'values' field"));
    }
    let item_description = if overlay {
        "A node selector requirement."
    } else {
        "A node selector requirement with an optional minimum number of distinct values."
    };
    json_schema!({
        "description": "Requirements on node labels, intersected with the pods' and the instance types' requirements.",
        "type": "array",
        "maxItems": 100,
        "x-kubernetes-list-type": "atomic",
        "items": {
            "description": item_description,
            "type": "object",
            "required": ["key", "operator"],
            "properties": properties,
        },
        "x-kubernetes-validations": rules,
    })
}

/// Requirements as a NodePool template publishes them.
pub(crate) fn node_pool_requirements(_: &mut SchemaGenerator) -> Schema {
    requirements(LabelPlace::PoolRequirement)
}

/// Requirements as a NodeClaim publishes them.
pub(crate) fn node_claim_requirements(_: &mut SchemaGenerator) -> Schema {
    requirements(LabelPlace::ClaimRequirement)
}

/// Requirements as a NodeOverlay publishes them: the instance types (and NodePools) the overlay applies to.
pub(crate) fn node_overlay_requirements(_: &mut SchemaGenerator) -> Schema {
    requirements(LabelPlace::OverlayRequirement)
}

/// The extended resources a NodeOverlay adds to matching instance types; the resources every instance type
/// already reports (cpu, memory, ephemeral-storage, pods) are refused.
pub(crate) fn overlay_capacity(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = resource_list(generator);
    schema.insert(
        "x-kubernetes-validations".into(),
        json!([rule(
            "self.all(x, !(x in ['cpu', 'memory', 'ephemeral-storage', 'pods']))",
            "invalid resource restricted"
        )]),
    );
    schema
}

/// A taint list.
fn taints(description: &str) -> Schema {
    json_schema!({
        "description": description,
        "type": "array",
        "x-kubernetes-list-type": "atomic",
        "items": {
            "description": "A node taint.",
            "type": "object",
            "required": ["effect", "key"],
            "properties": {
                "effect": {
                    "description": "What happens to pods that do not tolerate the taint.",
                    "type": "string",
                    "enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"],
                },
                "key": { "description": "The taint key.", "type": "string", "minLength": 1, "pattern": QUALIFIED_NAME },
                "timeAdded": {
                    "description": "When a NoExecute taint was added.",
                    "type": "string",
                    "format": "date-time",
                },
                "value": { "description": "The taint value.", "type": "string", "pattern": QUALIFIED_NAME },
            },
        },
    })
}

/// Taints of a NodePool template or a NodeClaim.
pub(crate) fn node_taints(_: &mut SchemaGenerator) -> Schema {
    taints("Taints put on the node; pods must tolerate them to be scheduled there.")
}

/// Startup taints of a NodePool template or a NodeClaim.
pub(crate) fn startup_taints(_: &mut SchemaGenerator) -> Schema {
    taints(
        "Taints put on the node at launch that something on the node is expected to remove; pods need not tolerate them.",
    )
}

/// A condition list. `strict` conditions (NodePool, EC2NodeClass) need a reason and a message and check the
/// reason to be a word; NodeClaim conditions may leave the reason and message empty.
fn conditions(strict: bool, list_map: bool) -> Schema {
    let mut properties = json!({
        "lastTransitionTime": {
            "description": "When the status last changed.",
            "type": "string",
            "format": "date-time",
        },
        "message": { "description": "A human-readable explanation.", "type": "string", "maxLength": 32768 },
        "observedGeneration": {
            "description": "The object generation the condition was computed from.",
            "type": "integer",
            "format": "int64",
            "minimum": 0,
        },
        "reason": {
            "description": "A CamelCase word saying why the condition has its status.",
            "type": "string",
            "maxLength": 1024,
            "pattern": "^([A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?|)$",
        },
        "status": { "description": "True, False or Unknown.", "type": "string", "enum": ["True", "False", "Unknown"] },
        "type": {
            "description": "The condition type.",
            "type": "string",
            "maxLength": 316,
            "pattern": r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        },
    });
    let mut required = vec!["lastTransitionTime", "status", "type"];
    if strict {
        properties["reason"]["minLength"] = json!(1);
        properties["reason"]["pattern"] = json!("^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$");
        required = vec!["lastTransitionTime", "message", "reason", "status", "type"];
    }
    let mut schema = json!({
        "description": "The current state of the object, one entry per condition type.",
        "type": "array",
        "items": {
            "description": "One aspect of the object's state.",
            "type": "object",
            "required": required,
            "properties": properties,
        },
    });
    if list_map {
        schema["x-kubernetes-list-map-keys"] = json!(["type"]);
        schema["x-kubernetes-list-type"] = json!("map");
    }
    Schema::try_from(schema).expect("a condition schema is an object")
}

/// NodePool status conditions.
pub(crate) fn node_pool_conditions(_: &mut SchemaGenerator) -> Schema {
    conditions(true, true)
}

/// NodeClaim status conditions.
pub(crate) fn node_claim_conditions(_: &mut SchemaGenerator) -> Schema {
    conditions(false, true)
}

/// NodeOverlay status conditions.
pub(crate) fn node_overlay_conditions(_: &mut SchemaGenerator) -> Schema {
    conditions(true, true)
}

/// CapacityBuffer status conditions (`metav1.Condition`, whose schema is the same as the strict one).
pub(crate) fn capacity_buffer_conditions(_: &mut SchemaGenerator) -> Schema {
    conditions(true, true)
}

/// EC2NodeClass status conditions (upstream publishes them without list-map markers).
pub(crate) fn ec2_node_class_conditions(_: &mut SchemaGenerator) -> Schema {
    conditions(true, false)
}

/// A free-form kubelet configuration object.
pub(crate) fn kubelet(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Kubelet configuration, any key of the upstream KubeletConfiguration; Karpenter reads the keys that change node capacity and passes the rest to AL2023's nodeadm.",
        "type": "object",
        "additionalProperties": { "x-kubernetes-preserve-unknown-fields": true },
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// Rewrites schemars' output into the shape controller-gen gives upstream's CRDs: no `nullable` (absent means
/// unset), int-or-string values spelled as `anyOf` integer or string (kube's structural rewrite drops the
/// alternatives), and keys in sorted order so that the YAML reads like upstream's and diffs cleanly.
pub(crate) fn finalize(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("nullable");
            if map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
                map.insert("anyOf".into(), json!([{ "type": "integer" }, { "type": "string" }]));
            }
            for child in map.values_mut() {
                finalize(child);
            }
            let sorted: Map<String, Value> = {
                let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                entries.into_iter().collect()
            };
            *map = sorted;
        }
        Value::Array(items) => items.iter_mut().for_each(finalize),
        _ => {}
    }
}
