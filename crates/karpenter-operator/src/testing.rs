//! Fixtures for the crate's unit tests: a fake provider with a small catalogue, NodePools and pods as a user
//! would write them, and the parts of a cluster the in-memory store does not play (a node joining for a launched
//! NodeClaim, the scheduler binding a pod).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use karpenter_api::NodePool;
use karpenter_cloud::fake::{FakeProvider, node_class_kind};
use karpenter_solver::model::InstanceType;
use serde_json::json;

use crate::clock::TokioClock;
use crate::context::Context;
use crate::settings::Settings;
use crate::store::{Cluster, MemoryCluster, NodeClass};
use karpenter_api::labels::label;

/// The time tests start at.
pub(crate) const START: &str = "2026-01-01T00:00:00Z";

pub(crate) type TestContext = Context<MemoryCluster, FakeProvider, TokioClock>;

/// A fake-provider instance type, offered on demand in test-zone-a.
pub(crate) fn instance_type(name: &str, cpu: u32, memory_gi: u32, price: f64) -> InstanceType {
    offered_type(name, cpu, memory_gi, &[("on-demand", price)])
}

/// A fake-provider instance type with one offering in test-zone-a per `(capacity type, price)`.
pub(crate) fn offered_type(name: &str, cpu: u32, memory_gi: u32, offerings: &[(&str, f64)]) -> InstanceType {
    let capacity_types: Vec<&str> = offerings.iter().map(|(capacity_type, _)| *capacity_type).collect();
    let offerings: Vec<serde_json::Value> = offerings
        .iter()
        .map(|(capacity_type, price)| json!({"zone": "test-zone-a", "capacityType": capacity_type, "price": price}))
        .collect();
    serde_json::from_value(json!({
        "name": name,
        "requirements": [
            {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [name]},
            {"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]},
            {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
            {"key": "karpenter.sh/capacity-type", "operator": "In", "values": capacity_types},
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["test-zone-a"]}
        ],
        "capacity": {"cpu": cpu.to_string(), "memory": format!("{memory_gi}Gi"), "pods": "32"},
        "offerings": offerings
    }))
    .unwrap()
}

/// What a registry's metrics look like to a Prometheus scrape, after `register` put them in it.
pub(crate) fn scraped(register: impl FnOnce(&mut prometheus_client::registry::Registry)) -> String {
    let mut registry = prometheus_client::registry::Registry::default();
    register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    text
}

/// A fake provider with a 2-vCPU and an 8-vCPU type.
pub(crate) fn provider() -> Arc<FakeProvider> {
    Arc::new(FakeProvider::new([instance_type("small", 2, 8, 0.1), instance_type("large", 8, 32, 0.4)]))
}

/// A context on an empty in-memory cluster that holds the fake provider's node class `default`, Ready.
pub(crate) fn context(provider: Arc<FakeProvider>) -> Arc<TestContext> {
    let clock = TokioClock::starting_at(START.parse().unwrap());
    let cluster = Arc::new(MemoryCluster::new(Arc::new(clock)));
    let kind = node_class_kind();
    cluster.apply_node_class(NodeClass {
        group: kind.group,
        kind: kind.kind,
        name: "default".into(),
        deleting: false,
        ready: Some(
            serde_json::from_value(json!({
                "type": "Ready", "status": "True", "reason": "Ready", "message": "",
                "lastTransitionTime": START,
            }))
            .unwrap(),
        ),
    });
    Arc::new(Context::new(cluster, provider, clock, Settings { workers: 4, ..Settings::default() }))
}

/// A NodePool of the fake node class, with optional CPU limit, already Ready as the NodePool controller would
/// make it.
pub(crate) fn node_pool(name: &str, cpu_limit: Option<&str>) -> NodePool {
    let mut pool: NodePool = serde_json::from_value(json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "metadata": {"labels": {"team": "web"}},
                "spec": {
                    "requirements": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}],
                    "nodeClassRef": {"group": "karpenter.test.sh", "kind": "TestNodeClass", "name": "default"},
                    "startupTaints": [{"key": "example.com/booting", "effect": "NoSchedule"}],
                    "expireAfter": "720h"
                }
            },
            "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "30s"}
        }
    }))
    .unwrap();
    if let Some(cpu) = cpu_limit {
        pool.spec.limits = Some(
            [("cpu".to_string(), k8s_openapi::apimachinery::pkg::api::resource::Quantity(cpu.into()))].into(),
        );
    }
    pool.status = Some(
        serde_json::from_value(json!({"conditions": [
            {"type": "Ready", "status": "True", "reason": "Ready", "message": "", "lastTransitionTime": START}
        ]}))
        .unwrap(),
    );
    pool
}

/// A pod the scheduler could not place.
pub(crate) fn pending_pod(name: &str, cpu: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": "inflate"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "inflate-1", "uid": "rs"}]},
        "spec": {"containers": [{"name": "pause", "image": "pause", "resources": {"requests": {"cpu": cpu, "memory": "256Mi"}}}]},
        "status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}
    }))
    .unwrap()
}

/// The node a launched NodeClaim's machine registers as, as a kubelet would create it: the provider's labels,
/// the NodeClaim's taints, the unregistered taint, and Ready.
pub(crate) fn joining_node(cluster: &MemoryCluster, claim_name: &str, ready: bool) -> Arc<Node> {
    let claim = cluster.get::<karpenter_api::NodeClaim>("", claim_name).expect("the claim exists");
    let status = claim.status.clone().unwrap_or_default();
    let provider_id = status.provider_id.expect("the claim launched");
    let mut taints: Vec<serde_json::Value> = claim
        .spec
        .taints
        .iter()
        .flatten()
        .chain(claim.spec.startup_taints.iter().flatten())
        .map(|t| serde_json::to_value(t).unwrap())
        .collect();
    taints.push(json!({"key": "karpenter.sh/unregistered", "effect": "NoExecute"}));
    let name = format!("node-{claim_name}");
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": claim.metadata.labels.clone().unwrap_or_default()},
        "spec": {"providerID": provider_id, "taints": taints},
        "status": {
            "capacity": status.capacity, "allocatable": status.allocatable,
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]
        }
    }))
    .unwrap();
    cluster.apply(node)
}

/// Binds a pod to a node and marks it running, as the scheduler and the kubelet would.
pub(crate) fn bind(cluster: &MemoryCluster, namespace: &str, pod: &str, node: &str) {
    let mut bound = (*cluster.get::<Pod>(namespace, pod).expect("the pod exists")).clone();
    bound.spec.as_mut().unwrap().node_name = Some(node.to_string());
    bound.status = Some(
        serde_json::from_value(json!({"phase": "Running", "conditions": [
        {"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}]}))
        .unwrap(),
    );
    cluster.apply(bound);
}

/// Every NodeClaim's name.
pub(crate) fn claim_names(ctx: &TestContext) -> Vec<String> {
    ctx.cluster
        .state()
        .objects
        .node_claims
        .iter()
        .map(|c| c.metadata.name.clone().unwrap_or_default())
        .collect()
}

/// How [`cluster_around`] plays the rest of the cluster.
#[derive(Debug, Clone)]
pub(crate) struct Around {
    /// Nodes that join become Ready; when false they stay NotReady and never initialise.
    pub(crate) nodes_ready: Arc<AtomicBool>,
}

impl Default for Around {
    fn default() -> Self {
        Around { nodes_ready: Arc::new(AtomicBool::new(true)) }
    }
}

/// The parts of a cluster that are not the controller: a machine's node joins (Ready, unless `around` says
/// otherwise) once its NodeClaim launched, and the scheduler binds each pending pod to the first initialised,
/// untainted node with room.
pub(crate) async fn cluster_around(cluster: Arc<MemoryCluster>, around: Around) {
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let state = cluster.state();
        for claim in &state.objects.node_claims {
            let name = claim.metadata.name.clone().unwrap_or_default();
            let launched = karpenter_snapshot::claim_provider_id(claim);
            if claim.metadata.deletion_timestamp.is_none()
                && launched.is_some_and(|id| state.nodes_with_provider_id(id).next().is_none())
            {
                let node = joining_node(&cluster, &name, around.nodes_ready.load(Ordering::SeqCst));
                let mut untainted = (*node).clone();
                untainted
                    .spec
                    .as_mut()
                    .unwrap()
                    .taints
                    .as_mut()
                    .unwrap()
                    .retain(|t| t.key == "karpenter.sh/unregistered");
                cluster.apply(untainted);
            }
        }
        let milli = |p: &Pod| {
            let cpu = &p.spec.as_ref().unwrap().containers[0]
                .resources
                .as_ref()
                .unwrap()
                .requests
                .as_ref()
                .unwrap()["cpu"]
                .0;
            match cpu.strip_suffix('m') {
                Some(milli) => milli.parse::<i64>().unwrap(),
                None => cpu.parse::<i64>().unwrap() * 1000,
            }
        };
        let mut placed: Vec<(String, i64)> = Vec::new();
        for pod in state.objects.provisionable_pods() {
            let fits = state.objects.nodes.iter().find(|n| {
                let initialized =
                    n.metadata.labels.as_ref().is_some_and(|l| l.contains_key(label::INITIALIZED));
                let tainted = n.spec.as_ref().and_then(|s| s.taints.as_ref()).is_some_and(|t| !t.is_empty());
                let name = n.metadata.name.as_deref();
                let used: i64 = state
                    .objects
                    .pods
                    .iter()
                    .filter(|p| karpenter_snapshot::node_name(p) == name)
                    .map(|p| milli(p))
                    .sum::<i64>()
                    + placed.iter().filter(|(n, _)| Some(n.as_str()) == name).map(|(_, m)| m).sum::<i64>();
                let cpu =
                    n.status.as_ref().unwrap().allocatable.as_ref().unwrap()["cpu"].0.parse::<i64>().unwrap()
                        * 1000;
                initialized && !tainted && n.metadata.deletion_timestamp.is_none() && used + milli(pod) <= cpu
            });
            if let Some(node) = fits {
                let node = node.metadata.name.clone().unwrap();
                placed.push((node.clone(), milli(pod)));
                bind(&cluster, "shop", pod.metadata.name.as_deref().unwrap(), &node);
            }
        }
    }
}
