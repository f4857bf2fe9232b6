//! Existing nodes and in-flight NodeClaims (`pkg/controllers/provisioning/scheduling/existingnode.go`,
//! `NewExistingNode`): what is left of them once their pods are counted, and the pods topology must know about.

use super::pods::{pod_requests, pod_tolerations, required_affinity_terms};
use super::{BoundPod, NamespaceIndex, NodeData};
use crate::error::FieldError;
use crate::interner::Interner;
use crate::labels;
use crate::model::ExistingNode;
use crate::podterms::{self, Kind};
use crate::requirements::{Requirement, Requirements};
use crate::resources::{self, ResourceTable};
use crate::taints::Taint;

/// Compiles a node; the error names the field at fault (a bound pod's fields under `pods[namespace/name]`).
pub(crate) fn compile_node(
    interner: &mut Interner,
    table: &ResourceTable,
    namespaces: &NamespaceIndex<'_>,
    node: &ExistingNode,
) -> Result<NodeData, FieldError> {
    let mut taints = Vec::new();
    for (i, taint) in node.taints.iter().enumerate() {
        taints.push(Taint::from_model(taint).map_err(|m| FieldError::new(format!("spec.taints[{i}]"), m))?);
    }
    if !node.initialized {
        // Until initialisation, startup and ephemeral taints are expected to go away; they don't repel pods.
        let startup: Vec<Taint> =
            node.startup_taints.iter().filter_map(|t| Taint::from_model(t).ok()).collect();
        taints.retain(|t| !t.is_known_ephemeral() && !startup.contains(t));
    }
    let capacity = table.parse(&node.capacity).map_err(|e| e.under("status.capacity"))?;
    let mut available = table.parse(&node.allocatable).map_err(|e| e.under("status.allocatable"))?;
    let mut running_daemon_requests = table.zero();
    let mut pods = Vec::with_capacity(node.pods.len());
    // Pods that have finished hold nothing on the node.
    for pod in node.pods.iter().filter(|p| !matches!(p.phase.as_deref(), Some("Succeeded" | "Failed"))) {
        let parent = format!("pods[{}/{}]", pod.namespace, pod.name);
        let at = |e: FieldError| e.under(&parent);
        let requests = pod_requests(table, pod).map_err(at)?;
        // Only required anti-affinity constrains pending pods; the rest of a bound pod's terms are its own.
        let anti_required = required_affinity_terms(
            interner,
            namespaces,
            pod,
            Kind::AntiAffinity,
            pod.pod_anti_affinity.as_ref(),
        )
        .map_err(at)?;
        pods.push(BoundPod {
            namespace: pod.namespace.clone(),
            labels: pod.labels.clone(),
            anti_required,
            host_ports: podterms::host_ports(pod).map_err(at)?,
            tolerations: pod_tolerations(pod).map_err(at)?,
            counts_for_topology: !pod.terminating,
        });
        resources::sub_assign(&mut available, &requests);
        if pod.daemon_set {
            resources::add_assign(&mut running_daemon_requests, &requests);
        }
    }
    let mut requirements = Requirements::from_labels(interner, &node.labels);
    let hostname_key = interner.keys().hostname;
    if requirements.get(hostname_key).is_none() {
        let hostname = interner.value(&node.name);
        requirements.add(interner, hostname_key, Requirement::in_values(vec![hostname]));
    }
    Ok(NodeData {
        name: node.name.clone(),
        initialized: node.initialized,
        taints,
        requirements,
        available,
        running_daemon_requests,
        capacity,
        node_pool: node.labels.get(labels::NODE_POOL).cloned(),
        pods,
    })
}
