//! The Node object a KWOK "machine" is, and how one reads back as an [`Instance`] (upstream's `toNode`,
//! `addInstanceLabels` and `toNodeClaim` in `kubernetes-sigs/karpenter:
//! kwok/cloudprovider/cloudprovider.go`).

use std::collections::BTreeMap;
use std::time::SystemTime;

use k8s_openapi::api::core::v1::{Node, NodeSpec, NodeStatus, Taint as NodeTaint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use karpenter_api::kwok::label;
use karpenter_cloud::{Candidate, Instance, LaunchRequest, instance_labels};
use karpenter_solver::labels;
use karpenter_solver::model::{ResourceList, Taint};

/// Every KWOK provider id starts with this; the rest is the node's name.
pub const PROVIDER_ID_PREFIX: &str = "kwok://";

/// The annotation that records which NodeClaim a node was launched for.
pub const NODE_CLAIM_ANNOTATION: &str = "karpenter.kwok.sh/nodeclaim";

/// The partition every node goes to; upstream spreads nodes over KWOK controllers by this label and runs one.
const PARTITION: &str = "a";

/// The provider id of the node called `name`.
pub fn provider_id(name: &str) -> String {
    format!("{PROVIDER_ID_PREFIX}{name}")
}

/// The node name a KWOK provider id names, if it is one.
pub(crate) fn node_name(provider_id: &str) -> Option<&str> {
    provider_id.strip_prefix(PROVIDER_ID_PREFIX).filter(|name| !name.is_empty())
}

/// The Node that launching `request` on `candidate` writes. It is named after the NodeClaim, so that a
/// repeated launch finds the node of the first one; KWOK takes it over through the `kwok.x-k8s.io/node: fake`
/// annotation and makes it Ready. It carries the NodeClaim's taints and startup taints from the start, as a
/// kubelet registering with them does, plus `karpenter.sh/unregistered` until Karpenter registers it.
pub fn node_for(request: &LaunchRequest, candidate: &Candidate) -> Node {
    let name = request.node_claim.clone();
    let instance_type = &candidate.instance_type;
    let offering = candidate.offering();
    let mut node_labels = instance_labels(request, instance_type, offering);
    node_labels.insert(labels::HOSTNAME.to_string(), name.clone());
    node_labels.insert(label::KWOK_NODE.to_string(), label::KWOK_NODE_VALUE.to_string());
    node_labels.insert(label::NODE_VIEWER_PRICE.to_string(), format!("{:.6}", offering.price));
    node_labels.insert(label::KWOK_PARTITION.to_string(), PARTITION.to_string());
    let annotations = BTreeMap::from([
        (label::KWOK_NODE.to_string(), label::KWOK_NODE_VALUE.to_string()),
        (NODE_CLAIM_ANNOTATION.to_string(), name.clone()),
    ]);
    let mut taints: Vec<NodeTaint> =
        request.taints.iter().chain(&request.startup_taints).map(node_taint).collect();
    taints.push(karpenter_api::labels::taint::unregistered());
    // launch_order only keeps types whose allocatable the solver could compute.
    let allocatable = karpenter_solver::allocatable(instance_type).unwrap_or_default();
    Node {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(node_labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            provider_id: Some(provider_id(&name)),
            taints: Some(taints),
            ..NodeSpec::default()
        }),
        status: Some(NodeStatus {
            capacity: Some(quantities(&instance_type.capacity)),
            allocatable: Some(quantities(&allocatable)),
            phase: Some("Pending".to_string()),
            ..NodeStatus::default()
        }),
    }
}

fn node_taint(taint: &Taint) -> NodeTaint {
    NodeTaint {
        key: taint.key.clone(),
        value: (!taint.value.is_empty()).then(|| taint.value.clone()),
        effect: taint.effect.clone(),
        time_added: None,
    }
}

fn quantities(list: &ResourceList) -> BTreeMap<String, Quantity> {
    list.iter().map(|(name, value)| (name.clone(), Quantity(value.clone()))).collect()
}

fn resource_list(list: Option<&BTreeMap<String, Quantity>>) -> ResourceList {
    list.into_iter().flatten().map(|(name, value)| (name.clone(), value.0.clone())).collect()
}

/// Whether the node is one of this provider's machines: its provider id has the KWOK prefix.
pub(crate) fn is_kwok_node(node: &Node) -> bool {
    node.spec.as_ref().and_then(|s| s.provider_id.as_deref()).is_some_and(|id| node_name(id).is_some())
}

/// Whether the node is being deleted (a finalizer may keep it a while; as a machine it is gone).
pub(crate) fn is_terminating(node: &Node) -> bool {
    node.metadata.deletion_timestamp.is_some()
}

/// The machine a KWOK node stands for. The instance type, zone and capacity type are read from its well-known
/// labels (empty when a label is missing).
pub fn instance_from(node: &Node) -> Instance {
    let node_labels = node.metadata.labels.clone().unwrap_or_default();
    let label = |key: &str| node_labels.get(key).cloned().unwrap_or_default();
    let status = node.status.as_ref();
    Instance {
        provider_id: node.spec.as_ref().and_then(|s| s.provider_id.clone()).unwrap_or_default(),
        node_claim: node.metadata.annotations.as_ref().and_then(|a| a.get(NODE_CLAIM_ANNOTATION)).cloned(),
        instance_type: label(labels::INSTANCE_TYPE),
        zone: label(labels::ZONE),
        capacity_type: label(labels::CAPACITY_TYPE),
        image_id: None,
        capacity: resource_list(status.and_then(|s| s.capacity.as_ref())),
        allocatable: resource_list(status.and_then(|s| s.allocatable.as_ref())),
        launched_at: node.metadata.creation_timestamp.as_ref().map(|t| SystemTime::from(t.0)),
        labels: node_labels,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use expect_test::expect;
    use karpenter_cloud::launch_order;
    use karpenter_solver::SolverConfig;
    use karpenter_solver::model::{Labels, NodeClassRef, NodeSelectorRequirement};

    use super::*;

    fn request() -> LaunchRequest {
        let types = crate::instance_types();
        LaunchRequest {
            node_claim: "default-x7k2p".into(),
            node_pool: "default".into(),
            node_class: NodeClassRef {
                group: "karpenter.kwok.sh".into(),
                kind: "KWOKNodeClass".into(),
                name: "default".into(),
            },
            labels: Labels::from([("team".to_string(), "web".to_string())]),
            taints: vec![Taint { key: "dedicated".into(), value: "web".into(), effect: "NoSchedule".into() }],
            startup_taints: vec![Taint {
                key: "cni-not-ready".into(),
                value: String::new(),
                effect: "NoSchedule".into(),
            }],
            requirements: vec![
                NodeSelectorRequirement::new(
                    labels::INSTANCE_TYPE,
                    "In",
                    &["s-2x-amd64-linux", "c-4x-arm64-linux"],
                ),
                NodeSelectorRequirement::new(labels::CAPACITY_TYPE, "In", &["on-demand"]),
            ],
            requests: [("cpu".to_string(), "1500m".to_string())].into_iter().collect(),
            instance_types: types
                .iter()
                .filter(|t| t.name == "s-2x-amd64-linux" || t.name == "c-4x-arm64-linux")
                .map(Arc::clone)
                .collect(),
        }
    }

    #[test]
    fn the_node_carries_labels_taints_resources_and_the_kwok_annotation() {
        let request = request();
        let order = launch_order(&request, &SolverConfig::default(), usize::MAX).unwrap();
        let node = node_for(&request, &order.candidates[0]);
        let yaml = serde_norway::to_string(&node).unwrap();
        expect![[r#"
            apiVersion: v1
            kind: Node
            metadata:
              annotations:
                karpenter.kwok.sh/nodeclaim: default-x7k2p
                kwok.x-k8s.io/node: fake
              labels:
                eks-node-viewer/instance-price: '0.058590'
                karpenter.kwok.sh/instance-cpu: '2'
                karpenter.kwok.sh/instance-family: s
                karpenter.kwok.sh/instance-memory: 8Gi
                karpenter.kwok.sh/instance-size: '2'
                karpenter.sh/capacity-type: on-demand
                karpenter.sh/nodepool: default
                kubernetes.io/arch: amd64
                kubernetes.io/hostname: default-x7k2p
                kubernetes.io/os: linux
                kwok-partition: a
                kwok.x-k8s.io/node: fake
                node.kubernetes.io/instance-type: s-2x-amd64-linux
                team: web
                topology.kubernetes.io/zone: test-zone-a
              name: default-x7k2p
            spec:
              providerID: kwok://default-x7k2p
              taints:
              - effect: NoSchedule
                key: dedicated
                value: web
              - effect: NoSchedule
                key: cni-not-ready
              - effect: NoExecute
                key: karpenter.sh/unregistered
            status:
              allocatable:
                cpu: 1900m
                ephemeral-storage: 20Gi
                memory: 8182Mi
                pods: '32'
              capacity:
                cpu: '2'
                ephemeral-storage: 20Gi
                memory: 8Gi
                pods: '32'
              phase: Pending
        "#]]
        .assert_eq(&yaml);
    }

    #[test]
    fn a_node_reads_back_as_the_instance_that_was_launched() {
        let request = request();
        let order = launch_order(&request, &SolverConfig::default(), usize::MAX).unwrap();
        let node = node_for(&request, &order.candidates[0]);
        let instance = instance_from(&node);
        assert_eq!(instance.provider_id, "kwok://default-x7k2p");
        assert_eq!(instance.offering(), order.candidates[0].key());
        assert_eq!(instance.node_claim.as_deref(), Some("default-x7k2p"));
        assert_eq!(instance.capacity, order.candidates[0].instance_type.capacity);
        assert_eq!(instance.allocatable["cpu"], "1900m");
        assert!(is_kwok_node(&node) && !is_terminating(&node));
    }

    #[test]
    fn provider_ids_name_nodes() {
        assert_eq!(provider_id("n1"), "kwok://n1");
        assert_eq!(node_name("kwok://n1"), Some("n1"));
        assert_eq!(node_name("kwok://"), None);
        assert_eq!(node_name("aws:///us-east-1a/i-1"), None);
    }
}
