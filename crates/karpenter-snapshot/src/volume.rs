//! Where a pod's volumes let it run, and whether they let it be provisioned for at all
//! (`kubernetes-sigs/karpenter: pkg/controllers/provisioning/scheduling/volumetopology.go`,
//! `pkg/utils/volume/volume.go`).
//!
//! Each PersistentVolumeClaim of the pod (named in the volume, or generated for an ephemeral volume) gives a list
//! of alternatives: the node selector terms of its bound PersistentVolume, or, for a claim that waits for its first
//! consumer, the `allowedTopologies` terms of its StorageClass. The pod's alternatives are the cross product over
//! its volumes. A claim that is missing, being deleted, lost, bound to a missing or deleting volume, not yet
//! marked bound, or unbound with `Immediate` binding makes the pod not provisionable: upstream ignores such a pod,
//! and here it is reported.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use karpenter_solver::model::{NodeSelectorRequirement, NodeSelectorTerm};

use crate::convert;
use crate::pod::namespace;
use crate::report::{Error, Result};

/// The annotation the PersistentVolume controller puts on a claim once binding has completed.
pub const BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";

/// Read access to the storage objects a pod's volumes name.
pub trait VolumeObjects {
    /// A PersistentVolumeClaim by namespace and name.
    fn persistent_volume_claim(&self, namespace: &str, name: &str) -> Option<&PersistentVolumeClaim>;
    /// A PersistentVolume by name.
    fn persistent_volume(&self, name: &str) -> Option<&PersistentVolume>;
    /// A StorageClass by name.
    fn storage_class(&self, name: &str) -> Option<&StorageClass>;
}

/// The alternatives of one volume: each a list of ANDed requirements; none means the volume constrains nothing.
type Alternatives = Vec<Vec<NodeSelectorRequirement>>;

/// The pod's volume topology as ORed node selector terms (empty: anywhere), or the first volume that keeps the
/// pod from being provisioned for.
pub fn volume_topology(pod: &Pod, objects: &dyn VolumeObjects) -> Result<Vec<NodeSelectorTerm>> {
    let Some(spec) = pod.spec.as_ref() else { return Ok(Vec::new()) };
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    let mut alternatives: Alternatives = vec![Vec::new()];
    let mut constrained = false;
    for (i, volume) in spec.volumes.iter().flatten().enumerate() {
        let claim_name = if let Some(source) = &volume.persistent_volume_claim {
            source.claim_name.clone()
        } else if volume.ephemeral.is_some() {
            // The ephemeral volume controller names the claim after the pod and the volume.
            format!("{pod_name}-{}", volume.name)
        } else {
            continue;
        };
        let field = format!("spec.volumes[{i}]");
        let fail = |reason: String| Error::Volume { field: field.clone(), reason };
        let own = volume_alternatives(namespace(pod), &claim_name, objects).map_err(fail)?;
        if own.is_empty() {
            continue;
        }
        constrained = true;
        alternatives = merge(&alternatives, &own);
    }
    if !constrained {
        return Ok(Vec::new());
    }
    Ok(alternatives
        .into_iter()
        .map(|match_expressions| NodeSelectorTerm { match_expressions, match_fields: Vec::new() })
        .collect())
}

/// One claim's alternatives, after the checks kube-scheduler's volume binding makes.
fn volume_alternatives(
    namespace: &str,
    claim_name: &str,
    objects: &dyn VolumeObjects,
) -> Result<Alternatives, String> {
    let claim_ref = format!("PersistentVolumeClaim {namespace}/{claim_name}");
    let claim =
        objects.persistent_volume_claim(namespace, claim_name).ok_or(format!("{claim_ref} not found"))?;
    if claim.metadata.deletion_timestamp.is_some() {
        return Err(format!("{claim_ref} is being deleted"));
    }
    if claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Lost") {
        return Err(format!("{claim_ref} is bound to a PersistentVolume that no longer exists"));
    }
    let spec = claim.spec.as_ref();
    let class_name = spec.and_then(|s| s.storage_class_name.as_deref()).unwrap_or_default();
    if let Some(volume_name) = spec.and_then(|s| s.volume_name.as_deref()).filter(|v| !v.is_empty()) {
        let volume = objects
            .persistent_volume(volume_name)
            .ok_or(format!("PersistentVolume {volume_name} not found"))?;
        if volume.metadata.deletion_timestamp.is_some() {
            return Err(format!("PersistentVolume {volume_name} is being deleted"));
        }
        // kube-scheduler treats a claim that names a volume as bound only once binding has completed.
        if !claim.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(BIND_COMPLETED)) {
            return Err(format!(
                "{claim_ref} names {volume_name} but has no {BIND_COMPLETED} annotation yet"
            ));
        }
        return Ok(persistent_volume_alternatives(volume));
    }
    if class_name.is_empty() {
        return Err(format!("{claim_ref} is unbound and names no StorageClass"));
    }
    let class = objects.storage_class(class_name).ok_or(format!("StorageClass {class_name} not found"))?;
    // The API server defaults an unset binding mode to Immediate.
    let mode = class.volume_binding_mode.as_deref().unwrap_or("Immediate");
    if mode == "Immediate" {
        return Err(format!(
            "{claim_ref} is unbound and StorageClass {class_name} binds Immediately; it must be bound first"
        ));
    }
    Ok(class
        .allowed_topologies
        .iter()
        .flatten()
        .filter_map(|term| {
            let requirements: Vec<NodeSelectorRequirement> = term
                .match_label_expressions
                .iter()
                .flatten()
                .map(|e| NodeSelectorRequirement {
                    key: e.key.clone(),
                    operator: "In".into(),
                    values: e.values.clone(),
                    min_values: None,
                })
                .collect();
            (!requirements.is_empty()).then_some(requirements)
        })
        .collect())
}

/// The ORed terms of a volume's node affinity. A local or hostPath volume's hostname expressions are dropped:
/// the pod is being placed anew, and a term that held only a hostname leaves the pod unconstrained.
fn persistent_volume_alternatives(volume: &PersistentVolume) -> Alternatives {
    let Some(spec) = volume.spec.as_ref() else { return Vec::new() };
    let terms = spec.node_affinity.as_ref().and_then(|a| a.required.as_ref()).map(|r| &r.node_selector_terms);
    let node_local = spec.local.is_some() || spec.host_path.is_some();
    let mut alternatives = Vec::new();
    for term in terms.into_iter().flatten() {
        let all: Vec<NodeSelectorRequirement> =
            term.match_expressions.iter().flatten().map(convert::requirement).collect();
        if node_local {
            let kept: Vec<NodeSelectorRequirement> =
                all.iter().filter(|r| r.key != karpenter_solver::labels::HOSTNAME).cloned().collect();
            if !all.is_empty() && kept.is_empty() {
                alternatives.push(Vec::new());
                continue;
            }
            if !kept.is_empty() {
                alternatives.push(kept);
            }
        } else if !all.is_empty() {
            alternatives.push(all);
        }
    }
    alternatives
}

/// The cross product of the alternatives so far with one more volume's, keeping only the pairs that can both
/// hold; when none can, every pair is kept (and the pod will fail on its volumes), as upstream does.
fn merge(existing: &Alternatives, volume: &Alternatives) -> Alternatives {
    let pairs = || existing.iter().flat_map(|a| volume.iter().map(move |b| (a, b)));
    let join = |(a, b): (&Vec<NodeSelectorRequirement>, &Vec<NodeSelectorRequirement>)| {
        a.iter().chain(b.iter()).cloned().collect::<Vec<_>>()
    };
    let compatible: Alternatives = pairs().filter(|(a, b)| compatible(a, b)).map(join).collect();
    if compatible.is_empty() { pairs().map(join).collect() } else { compatible }
}

/// False when both sides require `In` on one key with no value in common. This is the only clash volume
/// topologies produce in practice (zones); any other is left for the solver, which never picks an alternative
/// whose requirements cannot hold together.
fn compatible(a: &[NodeSelectorRequirement], b: &[NodeSelectorRequirement]) -> bool {
    a.iter().filter(|r| r.operator == "In").all(|left| {
        b.iter()
            .filter(|right| right.operator == "In" && right.key == left.key)
            .all(|right| right.values.iter().any(|v| left.values.contains(v)))
    })
}
