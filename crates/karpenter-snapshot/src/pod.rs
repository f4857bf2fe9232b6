//! Pods: the predicates upstream uses to pick the pods a round provisions for and the pods that move when a node
//! goes (`kubernetes-sigs/karpenter: pkg/utils/pod/scheduling.go`), and the mapping of a pod's scheduling
//! constraints onto the solver's [`model::Pod`].

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::core::v1::Pod;
use karpenter_solver::model;

use crate::convert;
use crate::report::{Error, ObjectRef, Result};

/// The API version and kind of a DaemonSet owner.
const DAEMON_SET: (&str, &str) = ("apps/v1", "DaemonSet");
/// The API version and kind of a StatefulSet owner.
const STATEFUL_SET: (&str, &str) = ("apps/v1", "StatefulSet");
/// The API version and kind of the Node that owns a mirror (static) pod.
const NODE: (&str, &str) = ("v1", "Node");

/// The pod's namespace; a manifest without one lands in `default`, as `kubectl apply` would put it.
pub fn namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or("default")
}

/// The pod as an object reference, for reports.
pub fn object_ref(pod: &Pod) -> ObjectRef {
    ObjectRef::namespaced("Pod", namespace(pod), pod.metadata.name.as_deref().unwrap_or(""))
}

/// The node the pod is bound to, if any.
pub fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref()?.node_name.as_deref().filter(|n| !n.is_empty())
}

fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

/// The scheduler marked the pod `PodScheduled` with reason `Unschedulable` (its status is then `False`). Pods of
/// other schedulers that say so differently are not Karpenter's to provision for.
pub fn failed_to_schedule(pod: &Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "PodScheduled" && c.reason.as_deref() == Some("Unschedulable"))
}

/// The pod is bound to a node.
pub fn is_scheduled(pod: &Pod) -> bool {
    node_name(pod).is_some()
}

/// The scheduler is preempting other pods to make room for this one (`status.nominatedNodeName`).
pub fn is_preempting(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.nominated_node_name.as_deref()).is_some_and(|n| !n.is_empty())
}

/// The pod has finished (`Succeeded` or `Failed`).
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), Some("Succeeded" | "Failed"))
}

/// The pod has a deletion timestamp.
pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// Neither finished nor being deleted.
pub fn is_active(pod: &Pod) -> bool {
    !is_terminal(pod) && !is_terminating(pod)
}

/// Some owner reference has exactly this API version and kind.
fn is_owned_by(pod: &Pod, (api_version, kind): (&str, &str)) -> bool {
    let owners = pod.metadata.owner_references.as_ref();
    owners.into_iter().flatten().any(|o| o.api_version == api_version && o.kind == kind)
}

/// Owned by a DaemonSet.
pub fn is_owned_by_daemon_set(pod: &Pod) -> bool {
    is_owned_by(pod, DAEMON_SET)
}

/// Owned by a StatefulSet.
pub fn is_owned_by_stateful_set(pod: &Pod) -> bool {
    is_owned_by(pod, STATEFUL_SET)
}

/// A mirror pod: the kubelet runs it from a static manifest, and the API server shows it owned by the Node.
pub fn is_owned_by_node(pod: &Pod) -> bool {
    is_owned_by(pod, NODE)
}

/// A pod a provisioning round is for: the scheduler found no node for it, it is not bound, not about to take a
/// node by preemption, neither a DaemonSet's pod (those come with their nodes) nor a mirror pod, and still
/// wanted (neither finished nor being deleted; upstream's `IsProvisionable` has no such check, see
/// `docs/design/0008-snapshot-mapping.md`).
pub fn is_provisionable(pod: &Pod) -> bool {
    failed_to_schedule(pod)
        && !is_scheduled(pod)
        && !is_preempting(pod)
        && !is_owned_by_daemon_set(pod)
        && !is_owned_by_node(pod)
        && is_active(pod)
}

/// A pod that must find another node when its node goes: active (or a terminating StatefulSet pod, whose
/// replacement waits for it), and neither a DaemonSet's pod nor a mirror pod (upstream's `IsReschedulable`).
pub fn is_reschedulable(pod: &Pod) -> bool {
    (is_active(pod) || (is_owned_by_stateful_set(pod) && is_terminating(pod)))
        && !is_owned_by_daemon_set(pod)
        && !is_owned_by_node(pod)
}

/// Maps a pod's scheduling constraints onto the solver's model, without volume topology (see
/// [`crate::volume::volume_topology`], which needs the cluster's claims and volumes).
///
/// The mapping copies; the solver's compile step checks (operators, quantities, keys, `matchFields`). Two
/// defaults the API server applies to every pod it stores are applied here too, so that a pod read from a file
/// asks for what it will ask for once created: a container's limits stand in for requests it does not set, and
/// with `hostNetwork` a port's `hostPort` defaults to its `containerPort`.
pub fn map_pod(pod: &Pod) -> Result<model::Pod> {
    let name =
        pod.metadata.name.clone().filter(|n| !n.is_empty()).ok_or_else(|| Error::missing("metadata.name"))?;
    let spec = pod.spec.as_ref().ok_or_else(|| Error::missing("spec"))?;
    if spec.resources.as_ref().is_some_and(|r| r.requests.as_ref().is_some_and(|q| !q.is_empty())) {
        return Err(Error::Unsupported {
            field: "spec.resources".into(),
            reason: "pod-level resource requests are not modelled by the solver".into(),
        });
    }
    let host_network = spec.host_network.unwrap_or(false);
    let affinity = spec.affinity.as_ref();
    Ok(model::Pod {
        namespace: namespace(pod).to_string(),
        name,
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        creation_timestamp: pod.metadata.creation_timestamp.as_ref().map_or(0, |t| t.0.as_second()),
        labels: convert::labels(pod.metadata.labels.as_ref()),
        containers: spec.containers.iter().map(|c| container(c, host_network)).collect(),
        init_containers: spec.init_containers.iter().flatten().map(|c| container(c, host_network)).collect(),
        overhead: convert::quantities(spec.overhead.as_ref()),
        node_selector: convert::labels(spec.node_selector.as_ref()),
        node_affinity: affinity.and_then(|a| a.node_affinity.as_ref()).map(node_affinity),
        tolerations: spec.tolerations.iter().flatten().map(convert::toleration).collect(),
        topology_spread_constraints: spec.topology_spread_constraints.iter().flatten().map(spread).collect(),
        pod_affinity: affinity.and_then(|a| a.pod_affinity.as_ref()).map(|a| {
            pod_affinity(
                a.required_during_scheduling_ignored_during_execution.as_ref(),
                a.preferred_during_scheduling_ignored_during_execution.as_ref(),
            )
        }),
        pod_anti_affinity: affinity.and_then(|a| a.pod_anti_affinity.as_ref()).map(|a| {
            pod_affinity(
                a.required_during_scheduling_ignored_during_execution.as_ref(),
                a.preferred_during_scheduling_ignored_during_execution.as_ref(),
            )
        }),
        volume_topology: Vec::new(),
        resource_claims: spec.resource_claims.iter().flatten().map(|c| c.name.clone()).collect(),
        daemon_set: is_owned_by_daemon_set(pod),
        phase: phase(pod).map(str::to_string),
        terminating: is_terminating(pod),
    })
}

/// A container's requests (limits filling in unset requests), restart policy and ports.
pub(crate) fn container(c: &core::Container, host_network: bool) -> model::Container {
    let resources = c.resources.as_ref();
    let mut requests = convert::quantities(resources.and_then(|r| r.requests.as_ref()));
    for (name, quantity) in resources.and_then(|r| r.limits.as_ref()).into_iter().flatten() {
        requests.entry(name.clone()).or_insert_with(|| quantity.0.clone());
    }
    model::Container {
        name: c.name.clone(),
        requests,
        restart_policy: c.restart_policy.clone(),
        ports: c
            .ports
            .iter()
            .flatten()
            .map(|p| {
                let host_port = p.host_port.unwrap_or(0);
                model::ContainerPort {
                    container_port: p.container_port,
                    host_port: if host_network && host_port == 0 { p.container_port } else { host_port },
                    protocol: p.protocol.clone(),
                    host_ip: p.host_ip.clone().unwrap_or_default(),
                }
            })
            .collect(),
    }
}

fn node_affinity(a: &core::NodeAffinity) -> model::NodeAffinity {
    model::NodeAffinity {
        required: a
            .required_during_scheduling_ignored_during_execution
            .iter()
            .flat_map(|s| s.node_selector_terms.iter())
            .map(convert::selector_term)
            .collect(),
        preferred: a
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .map(|p| model::PreferredSchedulingTerm {
                weight: p.weight,
                preference: convert::selector_term(&p.preference),
            })
            .collect(),
    }
}

fn spread(c: &core::TopologySpreadConstraint) -> model::TopologySpreadConstraint {
    model::TopologySpreadConstraint {
        max_skew: c.max_skew,
        topology_key: c.topology_key.clone(),
        when_unsatisfiable: c.when_unsatisfiable.clone(),
        label_selector: c.label_selector.as_ref().map(convert::label_selector),
        min_domains: c.min_domains,
        match_label_keys: c.match_label_keys.clone().unwrap_or_default(),
        node_affinity_policy: c.node_affinity_policy.clone(),
        node_taints_policy: c.node_taints_policy.clone(),
    }
}

fn affinity_term(t: &core::PodAffinityTerm) -> model::PodAffinityTerm {
    // matchLabelKeys and mismatchLabelKeys need no mapping: the API server merges them into the label selector
    // when it admits the pod.
    model::PodAffinityTerm {
        label_selector: t.label_selector.as_ref().map(convert::label_selector),
        namespaces: t.namespaces.clone().unwrap_or_default(),
        namespace_selector: t.namespace_selector.as_ref().map(convert::label_selector),
        topology_key: t.topology_key.clone(),
    }
}

fn pod_affinity(
    required: Option<&Vec<core::PodAffinityTerm>>,
    preferred: Option<&Vec<core::WeightedPodAffinityTerm>>,
) -> model::PodAffinity {
    model::PodAffinity {
        required: required.into_iter().flatten().map(affinity_term).collect(),
        preferred: preferred
            .into_iter()
            .flatten()
            .map(|w| model::WeightedPodAffinityTerm {
                weight: w.weight,
                pod_affinity_term: affinity_term(&w.pod_affinity_term),
            })
            .collect(),
    }
}
