//! The pod a DaemonSet will run on every node it fits, as the solver counts it against new nodes
//! (`kubernetes-sigs/karpenter: pkg/controllers/provisioning/provisioner.go` `getDaemonSetPods`,
//! `pkg/utils/daemonset/daemonset.go`, `pkg/controllers/state/cluster.go` `UpdateDaemonSet`).
//!
//! The newest pod the DaemonSet controls stands for it when there is one (it carries what admission added, such
//! as defaulted requests); otherwise a pod is made from the template. Either way the pod's required node affinity
//! is the template's: the DaemonSet controller pins each live pod to its node with a `matchFields` term, which
//! says nothing about new nodes.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use karpenter_solver::model;

use crate::convert;
use crate::pod::map_pod;
use crate::report::{Error, ObjectRef, Result};

/// The DaemonSet as an object reference, for reports.
pub fn daemon_set_ref(daemon_set: &DaemonSet) -> ObjectRef {
    ObjectRef::namespaced(
        "DaemonSet",
        daemon_set.metadata.namespace.as_deref().unwrap_or("default"),
        daemon_set.metadata.name.as_deref().unwrap_or(""),
    )
}

/// Whether the DaemonSet is the pod's controller: by UID when both have one (as in a cluster), else by kind and
/// name (as in files).
pub fn controls(daemon_set: &DaemonSet, pod: &Pod) -> bool {
    if pod.metadata.namespace.as_deref().unwrap_or("default")
        != daemon_set.metadata.namespace.as_deref().unwrap_or("default")
    {
        return false;
    }
    pod.metadata.owner_references.iter().flatten().any(|owner| {
        owner.controller == Some(true)
            && owner.kind == "DaemonSet"
            && match (&daemon_set.metadata.uid, owner.uid.is_empty()) {
                (Some(uid), false) => *uid == owner.uid,
                _ => Some(&owner.name) == daemon_set.metadata.name.as_ref(),
            }
    })
}

/// The newest of the pods the DaemonSet controls (ties broken by name), if any.
pub fn newest_pod<'a>(daemon_set: &DaemonSet, pods: impl IntoIterator<Item = &'a Pod>) -> Option<&'a Pod> {
    pods.into_iter().filter(|p| controls(daemon_set, p)).max_by(|a, b| {
        let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
        created(a).cmp(&created(b)).then_with(|| b.metadata.name.cmp(&a.metadata.name))
    })
}

/// The DaemonSet's pod for the solver: `live` (the newest pod it controls, see [`newest_pod`]) when given, else
/// one made from the template. Limits fill in unset requests in both, as the API server does for real pods.
pub fn daemon_set_pod(daemon_set: &DaemonSet, live: Option<&Pod>) -> Result<model::Pod> {
    let name = daemon_set
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::missing("metadata.name"))?;
    let template = daemon_set
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .ok_or_else(|| Error::missing("spec.template.spec"))?;
    let mut pod = match live {
        Some(live) => map_pod(live),
        None => map_pod(&Pod {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: daemon_set.metadata.namespace.clone(),
                ..ObjectMeta::default()
            },
            spec: Some(template.clone()),
            status: None,
        }),
    }
    .map_err(|e| in_template(e, live.is_some()))?;
    pod.node_affinity = required_from_template(template, pod.node_affinity.take());
    pod.daemon_set = true;
    Ok(pod)
}

/// The pod's node affinity with its required terms replaced by the template's.
fn required_from_template(
    template: &PodSpec,
    affinity: Option<model::NodeAffinity>,
) -> Option<model::NodeAffinity> {
    let required: Vec<model::NodeSelectorTerm> = template
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())
        .map(|s| s.node_selector_terms.iter().map(convert::selector_term).collect())
        .unwrap_or_default();
    let mut affinity = affinity.unwrap_or_default();
    affinity.required = required;
    (affinity != model::NodeAffinity::default()).then_some(affinity)
}

/// A field of the synthesised pod is a field of the template.
fn in_template(error: Error, live: bool) -> Error {
    if live {
        return error;
    }
    let prefix = |field: String| format!("spec.template.{field}");
    match error {
        Error::MissingField { field } => Error::MissingField { field: prefix(field) },
        Error::InvalidField { field, reason } => Error::InvalidField { field: prefix(field), reason },
        Error::Unsupported { field, reason } => Error::Unsupported { field: prefix(field), reason },
        other => other,
    }
}
