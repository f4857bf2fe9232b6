//! Gauges that describe the cluster as it is, recomputed from the store's state every few seconds
//! (`kubernetes-sigs/karpenter: pkg/controllers/metrics/pod/controller.go`, `metrics/node/controller.go`,
//! `metrics/nodepool/controller.go`, and `pkg/metrics/store.go` for how series of objects that went away are
//! removed).
//!
//! [`gauges`] is a pure function of a [`ClusterState`] and the time; [`PodStartups::advance`] is the pure step
//! that finds the pods which started since the last look. [`Refresher`] writes both into [`Metrics`], and [`run`]
//! calls it on a timer. Values follow upstream: CPU in cores, every other resource in whole units, resource names
//! in lower case with `_` for `-`.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Node, Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::jiff::Timestamp;
use karpenter_api::labels::label;
use karpenter_cloud::CloudProvider;
use karpenter_solver::quantity::Quantity as Parsed;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::{Atomic, Gauge};

use crate::clock::Clock;
use crate::context::Context;
use crate::metrics::{Metrics, NodePoolResourceLabels, NodeResourceLabels, NodeStateLabels, PodStateLabels};
use crate::store::{Cluster, ClusterState};

/// How often the gauges are recomputed (upstream's node metrics controller runs every 5 seconds).
pub const REFRESH: Duration = Duration::from_secs(5);

/// Amounts of resources: CPU in millicores, everything else in whole units.
type Amounts = BTreeMap<String, i64>;

/// The state gauges' values at one moment, each family a map from its labels to its value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateGauges {
    /// `karpenter_pods_state`.
    pub pods_state: BTreeMap<PodStateLabels, i64>,
    /// `karpenter_nodepools_usage`.
    pub nodepools_usage: BTreeMap<NodePoolResourceLabels, f64>,
    /// `karpenter_nodepools_limit`.
    pub nodepools_limit: BTreeMap<NodePoolResourceLabels, f64>,
    /// `karpenter_nodes_allocatable`.
    pub nodes_allocatable: BTreeMap<NodeResourceLabels, f64>,
    /// `karpenter_nodes_total_pod_requests`.
    pub nodes_total_pod_requests: BTreeMap<NodeResourceLabels, f64>,
    /// `karpenter_nodes_total_daemon_requests`.
    pub nodes_total_daemon_requests: BTreeMap<NodeResourceLabels, f64>,
    /// `karpenter_nodes_system_overhead`.
    pub nodes_system_overhead: BTreeMap<NodeResourceLabels, f64>,
    /// `karpenter_nodes_current_lifetime_seconds`.
    pub nodes_current_lifetime: BTreeMap<NodeStateLabels, f64>,
}

/// Every state gauge's value for `state` at `now`.
pub fn gauges(state: &ClusterState, now: Timestamp) -> StateGauges {
    let objects = &state.objects;
    let nodes: BTreeMap<&str, &Node> =
        objects.nodes.iter().filter_map(|n| Some((n.metadata.name.as_deref()?, &**n))).collect();
    let mut gauges = StateGauges::default();
    for pod in &objects.pods {
        let node = karpenter_snapshot::node_name(pod).and_then(|name| nodes.get(name).copied());
        gauges.pods_state.insert(pod_state_labels(pod, node), 1);
    }
    for pool in &objects.node_pools {
        let nodepool = pool.metadata.name.clone().unwrap_or_default();
        let usage = pool.status.as_ref().and_then(|s| s.resources.as_ref());
        let limits = pool.spec.limits.as_ref();
        for (target, list) in [(&mut gauges.nodepools_usage, usage), (&mut gauges.nodepools_limit, limits)] {
            for (name, amount) in amounts(list) {
                let labels = NodePoolResourceLabels {
                    nodepool: nodepool.clone(),
                    resource_type: resource_type(&name),
                };
                target.insert(labels, value(&name, amount));
            }
        }
    }
    let claimed: BTreeSet<&str> =
        objects.node_claims.iter().filter_map(|c| karpenter_snapshot::claim_provider_id(c)).collect();
    let mut pod_requests: BTreeMap<&str, Amounts> = BTreeMap::new();
    let mut daemon_requests: BTreeMap<&str, Amounts> = BTreeMap::new();
    // Finished pods hold nothing on their node any more; upstream's cluster state stops counting them too.
    for pod in objects.pods.iter().filter(|p| !karpenter_snapshot::is_terminal(p)) {
        let Some(node) = karpenter_snapshot::node_name(pod) else { continue };
        let requests = requests(pod);
        add(pod_requests.entry(node).or_default(), &requests);
        if karpenter_snapshot::is_owned_by_daemon_set(pod) {
            add(daemon_requests.entry(node).or_default(), &requests);
        }
    }
    for (name, node) in &nodes {
        let labels = node_state_labels(node, &claimed);
        let status = node.status.as_ref();
        let allocatable = amounts(status.and_then(|s| s.allocatable.as_ref()));
        let capacity = amounts(status.and_then(|s| s.capacity.as_ref()));
        let overhead: Amounts = capacity
            .iter()
            .map(|(resource, amount)| {
                (resource.clone(), amount - allocatable.get(resource).copied().unwrap_or(0))
            })
            .collect();
        let empty = Amounts::new();
        for (target, list) in [
            (&mut gauges.nodes_allocatable, &allocatable),
            (&mut gauges.nodes_system_overhead, &overhead),
            (&mut gauges.nodes_total_pod_requests, pod_requests.get(name).unwrap_or(&empty)),
            (&mut gauges.nodes_total_daemon_requests, daemon_requests.get(name).unwrap_or(&empty)),
        ] {
            for (resource, amount) in list {
                let series =
                    NodeResourceLabels { node: labels.clone(), resource_type: resource_type(resource) };
                target.insert(series, value(resource, *amount));
            }
        }
        if let Some(created) = &node.metadata.creation_timestamp {
            let age = now.duration_since(created.0).as_secs_f64().max(0.0);
            gauges.nodes_current_lifetime.insert(labels, age);
        }
    }
    gauges
}

fn label_of<'a>(labels: Option<&'a BTreeMap<String, String>>, key: &str) -> &'a str {
    labels.and_then(|l| l.get(key)).map_or("", String::as_str)
}

fn ready_condition(pod: &Pod) -> Option<&PodCondition> {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.into_iter().flatten().find(|c| c.type_ == "Ready" && c.status == "True")
}

fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

fn pod_state_labels(pod: &Pod, node: Option<&Node>) -> PodStateLabels {
    let namespace = karpenter_snapshot::namespace(pod).to_string();
    // Upstream names the owner by the self link the API server used to set, built from the first owner reference;
    // dashboards group by it.
    let owner = pod.metadata.owner_references.as_ref().and_then(|o| o.first()).map_or(String::new(), |o| {
        format!("/apis/{}/namespaces/{namespace}/{}s/{}", o.api_version, o.kind.to_lowercase(), o.name)
    });
    let node_name = karpenter_snapshot::node_name(pod).unwrap_or_default().to_string();
    let labels = node.and_then(|n| n.metadata.labels.as_ref());
    let nodepool = label_of(labels, label::NODE_POOL);
    PodStateLabels {
        name: pod.metadata.name.clone().unwrap_or_default(),
        namespace,
        owner,
        scheduled: (!node_name.is_empty()).to_string(),
        node: node_name,
        nodepool: nodepool.to_string(),
        zone: label_of(labels, label::ZONE).to_string(),
        arch: label_of(labels, label::ARCH).to_string(),
        capacity_type: label_of(labels, label::CAPACITY_TYPE).to_string(),
        instance_type: label_of(labels, label::INSTANCE_TYPE).to_string(),
        phase: phase(pod).to_string(),
        ready: ready_condition(pod).is_some().to_string(),
        managed: (!nodepool.is_empty()).to_string(),
    }
}

fn node_state_labels(node: &Node, claimed: &BTreeSet<&str>) -> NodeStateLabels {
    let labels = node.metadata.labels.as_ref();
    let get = |key: &str| label_of(labels, key).to_string();
    NodeStateLabels {
        node_name: node.metadata.name.clone().unwrap_or_default(),
        phase: node.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default(),
        managed: karpenter_snapshot::node_provider_id(node)
            .is_some_and(|id| claimed.contains(id))
            .to_string(),
        nodepool: get(label::NODE_POOL),
        zone: get(label::ZONE),
        region: get(label::REGION),
        instance_type: get(label::INSTANCE_TYPE),
        arch: get(label::ARCH),
        os: get(label::OS),
        capacity_type: get(label::CAPACITY_TYPE),
        windows_build: get(label::WINDOWS_BUILD),
    }
}

/// `ephemeral-storage` as `ephemeral_storage`: Prometheus label values in upstream's spelling.
fn resource_type(name: &str) -> String {
    name.to_lowercase().replace('-', "_")
}

fn value(name: &str, amount: i64) -> f64 {
    if name == "cpu" { amount as f64 / 1000.0 } else { amount as f64 }
}

/// A resource list as amounts. The API server has validated every quantity, so one that does not parse is left
/// out rather than reported.
fn amounts(list: Option<&BTreeMap<String, Quantity>>) -> Amounts {
    let parse = |name: &str, quantity: &Quantity| {
        let parsed = Parsed::parse(&quantity.0).ok()?;
        if name == "cpu" { parsed.to_milli() } else { parsed.to_units() }
    };
    list.into_iter()
        .flatten()
        .filter_map(|(name, quantity)| Some((name.clone(), parse(name, quantity)?)))
        .collect()
}

fn add(total: &mut Amounts, other: &Amounts) {
    for (name, amount) in other {
        *total.entry(name.clone()).or_default() += amount;
    }
}

fn max_into(total: &mut Amounts, other: &Amounts) {
    for (name, amount) in other {
        let entry = total.entry(name.clone()).or_default();
        *entry = (*entry).max(*amount);
    }
}

fn container_requests(container: &Container) -> Amounts {
    amounts(container.resources.as_ref().and_then(|r| r.requests.as_ref()))
}

/// What a pod holds on its node, as the kube-scheduler counts it: its containers and sidecars, or the largest
/// init container with the sidecars started before it when that is more, plus the pod's overhead.
fn requests(pod: &Pod) -> Amounts {
    let Some(spec) = pod.spec.as_ref() else { return Amounts::new() };
    let mut total = Amounts::new();
    for container in &spec.containers {
        add(&mut total, &container_requests(container));
    }
    let mut sidecars = Amounts::new();
    let mut init_peak = Amounts::new();
    for container in spec.init_containers.iter().flatten() {
        let requests = container_requests(container);
        if container.restart_policy.as_deref() == Some("Always") {
            add(&mut total, &requests);
            add(&mut sidecars, &requests);
            max_into(&mut init_peak, &sidecars);
        } else {
            let mut during = sidecars.clone();
            add(&mut during, &requests);
            max_into(&mut init_peak, &during);
        }
    }
    max_into(&mut total, &init_peak);
    add(&mut total, &amounts(spec.overhead.as_ref()));
    total
}

/// What [`PodStartups::advance`] remembers between two looks at the cluster: the pods still starting, and every
/// pod seen, by uid.
///
/// Upstream watches every pod and so sees each one while it is `Pending`; a look every few seconds misses pods that
/// start in between. A pod that was not there at the last look is therefore counted as if it had been seen
/// pending: every pod starts that way. Only the first look has nothing to compare with, and counts only the pods
/// pending then, as upstream counts nothing for pods that were running before it started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodStartups {
    starting: BTreeSet<String>,
    seen: Option<BTreeSet<String>>,
}

impl PodStartups {
    /// The next step for `state`, and how long each pod that became ready since the last look took from its
    /// creation. A pod is starting while it is pending or, having been seen starting, is running but not ready;
    /// it stops when it becomes ready (counted) or finishes (not counted: a finished pod is never ready).
    pub fn advance(&self, state: &ClusterState) -> (PodStartups, Vec<Duration>) {
        let mut starting = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut started = Vec::new();
        for pod in &state.objects.pods {
            let key =
                pod.metadata.uid.clone().unwrap_or_else(|| karpenter_snapshot::object_ref(pod).to_string());
            let new = self.seen.as_ref().is_some_and(|seen| !seen.contains(&key));
            if phase(pod) == "Pending" {
                starting.insert(key.clone());
            } else if (new || self.starting.contains(&key)) && !karpenter_snapshot::is_terminal(pod) {
                match ready_condition(pod) {
                    Some(ready) => {
                        let created = pod.metadata.creation_timestamp.as_ref().map(|t| t.0);
                        let at = ready.last_transition_time.as_ref().map(|t| t.0);
                        if let (Some(created), Some(at)) = (created, at) {
                            started.push(crate::clock::since(at, created));
                        }
                    }
                    None => {
                        starting.insert(key.clone());
                    }
                }
            }
            seen.insert(key);
        }
        (PodStartups { starting, seen: Some(seen) }, started)
    }
}

/// Writes the state gauges into [`Metrics`], remembering what it wrote so that the series of objects that went
/// away can be removed.
#[derive(Debug, Default)]
pub struct Refresher {
    last: StateGauges,
    startups: PodStartups,
}

impl Refresher {
    /// Brings every state gauge up to `state` at `now`, and observes the pods that started. Until the store has
    /// listed everything the state misses objects: the gauges would dip, and every running pod would look new.
    pub fn refresh(&mut self, metrics: &Metrics, state: &ClusterState, now: Timestamp) {
        if !state.synced {
            return;
        }
        let next = gauges(state, now);
        let last = &self.last;
        replace(&metrics.pods_state, &last.pods_state, &next.pods_state);
        replace(&metrics.nodepools_usage, &last.nodepools_usage, &next.nodepools_usage);
        replace(&metrics.nodepools_limit, &last.nodepools_limit, &next.nodepools_limit);
        replace(&metrics.nodes_allocatable, &last.nodes_allocatable, &next.nodes_allocatable);
        replace(
            &metrics.nodes_total_pod_requests,
            &last.nodes_total_pod_requests,
            &next.nodes_total_pod_requests,
        );
        replace(
            &metrics.nodes_total_daemon_requests,
            &last.nodes_total_daemon_requests,
            &next.nodes_total_daemon_requests,
        );
        replace(&metrics.nodes_system_overhead, &last.nodes_system_overhead, &next.nodes_system_overhead);
        replace(&metrics.nodes_current_lifetime, &last.nodes_current_lifetime, &next.nodes_current_lifetime);
        self.last = next;
        let (startups, started) = self.startups.advance(state);
        for duration in started {
            metrics.pods_startup_duration.observe(duration.as_secs_f64());
        }
        self.startups = startups;
    }
}

/// Sets every new value, then removes the series that are not among them. Setting before removing, rather than
/// clearing the family first, means a scrape in between never sees a family without its series.
fn replace<L, N, A, C>(family: &Family<L, Gauge<N, A>, C>, last: &BTreeMap<L, N>, next: &BTreeMap<L, N>)
where
    L: Clone + Hash + Eq + Ord,
    N: Copy,
    A: Atomic<N>,
    C: MetricConstructor<Gauge<N, A>>,
{
    for (labels, value) in next {
        family.get_or_create(labels).set(*value);
    }
    for labels in last.keys().filter(|l| !next.contains_key(l)) {
        family.remove(labels);
    }
}

/// Recomputes the state gauges every [`REFRESH`], until cancelled.
pub async fn run<C: Cluster, P: CloudProvider, K: Clock>(ctx: Arc<Context<C, P, K>>) {
    let mut refresher = Refresher::default();
    let mut ticker = tokio::time::interval(REFRESH);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        refresher.refresh(&ctx.metrics, &ctx.cluster.state(), ctx.now());
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};
    use k8s_openapi::jiff::SignedDuration;
    use serde_json::json;

    use super::*;
    use crate::testing::{context, node_pool, pending_pod, provider};

    /// A NodePool with limits and usage, its NodeClaim and node, and pods: one bound with an init container larger
    /// than its app container, a DaemonSet's pod, a finished pod, and a pending pod.
    const MANAGED: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  limits: {cpu: "100"}
  template:
    spec:
      nodeClassRef: {group: karpenter.test.sh, kind: TestNodeClass, name: default}
      requirements: []
status:
  resources: {cpu: "8", memory: 32Gi, nodes: "1", ephemeral-storage: "0"}
---
apiVersion: karpenter.sh/v1
kind: NodeClaim
metadata: {name: default-a, labels: {karpenter.sh/nodepool: default}}
spec:
  nodeClassRef: {group: karpenter.test.sh, kind: TestNodeClass, name: default}
  requirements: []
status: {providerID: "test://a", nodeName: n1}
---
apiVersion: v1
kind: Node
metadata:
  name: n1
  creationTimestamp: "2026-01-01T00:00:00Z"
  labels:
    karpenter.sh/nodepool: default
    karpenter.sh/capacity-type: spot
    topology.kubernetes.io/zone: zone-a
    kubernetes.io/arch: arm64
    node.kubernetes.io/instance-type: large
spec: {providerID: "test://a"}
status:
  capacity: {cpu: "8", memory: 32Gi}
  allocatable: {cpu: 7910m, memory: 31Gi}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-0
  namespace: shop
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-1, uid: rs}]
spec:
  nodeName: n1
  initContainers: [{name: init, resources: {requests: {cpu: "2"}}}]
  containers: [{name: app, resources: {requests: {cpu: 500m, memory: 1Gi}}}]
status:
  phase: Running
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: agent-x
  namespace: kube-system
  ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: agent, uid: ds}]
spec:
  nodeName: n1
  containers: [{name: agent, resources: {requests: {cpu: 100m, memory: 128Mi}}}]
status: {phase: Running}
---
apiVersion: v1
kind: Pod
metadata: {name: done, namespace: shop}
spec:
  nodeName: n1
  containers: [{name: job, resources: {requests: {cpu: "1"}}}]
status: {phase: Succeeded}
---
apiVersion: v1
kind: Pod
metadata: {name: waiting, namespace: shop}
spec:
  containers: [{name: app, resources: {requests: {cpu: "1"}}}]
status: {phase: Pending}
"#;

    /// A node no NodeClaim stands for, a pod bound to a node the state does not have, and a NodePool with neither
    /// limits nor status.
    const UNMANAGED: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: fresh}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.test.sh, kind: TestNodeClass, name: default}
      requirements: []
---
apiVersion: v1
kind: Node
metadata:
  name: bootstrap
  creationTimestamp: "2025-12-31T00:00:00Z"
  labels: {kubernetes.io/os: linux}
spec: {providerID: "test://bootstrap"}
status:
  capacity: {cpu: "4"}
  allocatable: {cpu: "4"}
---
apiVersion: v1
kind: Pod
metadata: {name: orphan, namespace: default}
spec:
  nodeName: gone
  containers: [{name: app}]
status: {phase: Running}
"#;

    const NOW: &str = "2026-01-01T01:00:00Z";

    fn state(yaml: &str) -> ClusterState {
        let mut objects = karpenter_snapshot::Snapshot::new();
        for document in karpenter_snapshot::yaml::read_documents(yaml).unwrap() {
            let reports = objects.add(document);
            assert!(reports.is_empty(), "{reports:?}");
        }
        ClusterState { objects, synced: true, ..ClusterState::default() }
    }

    /// The state gauges' series as Prometheus reads them, sorted (families keep no order).
    fn series(metrics: &Metrics) -> String {
        let text = crate::testing::scraped(|registry| metrics.register(registry));
        let state_gauges = [
            "karpenter_pods_state{",
            "karpenter_nodepools_",
            "karpenter_nodes_allocatable{",
            "karpenter_nodes_total_",
            "karpenter_nodes_system_overhead{",
            "karpenter_nodes_current_lifetime_seconds{",
        ];
        let mut lines: Vec<&str> =
            text.lines().filter(|l| state_gauges.iter().any(|prefix| l.starts_with(prefix))).collect();
        lines.sort_unstable();
        lines.join("\n")
    }

    /// Refreshes fresh metrics from the objects of `yaml` and compares the state gauges' series.
    fn check(yaml: &str, expected: Expect) {
        let metrics = Metrics::default();
        Refresher::default().refresh(&metrics, &state(yaml), NOW.parse().unwrap());
        let shown = series(&metrics);
        assert!(!shown.is_empty(), "every fixture has series");
        expected.assert_eq(&shown);
    }

    #[test]
    fn gauges_of_a_managed_node_its_pods_and_its_node_pool() {
        check(
            MANAGED,
            expect![[r#"
            karpenter_nodepools_limit{nodepool="default",resource_type="cpu"} 100.0
            karpenter_nodepools_usage{nodepool="default",resource_type="cpu"} 8.0
            karpenter_nodepools_usage{nodepool="default",resource_type="ephemeral_storage"} 0.0
            karpenter_nodepools_usage{nodepool="default",resource_type="memory"} 34359738368.0
            karpenter_nodepools_usage{nodepool="default",resource_type="nodes"} 1.0
            karpenter_nodes_allocatable{node_name="n1",phase="",managed="true",nodepool="default",zone="zone-a",region="",instance_type="large",arch="arm64",os="",capacity_type="spot",windows_build="",resource_type="cpu"} 7.91
            karpenter_nodes_allocatable{node_name="n1",phase="",managed="true",nodepool="default",zone="zone-a",region="",instance_type="large",arch="arm64",os="",capacity_type="spot",windows_build="",resource_type="memory"} 33285996544.0
            karpenter_nodes_current_lifetime_seconds{node_name="n1",phase="",managed="true",nodepool="default",zone="zone-a",region="",instance_type="large",arch="arm64",os="",capacity_type="spot",windows_build=""} 3600.0
            karpenter_nodes_system_overhead{node_name="n1",phase="",managed="true",nodepool="default",zone="zone-a",region="",instance_type="large",arch="arm64",os="",capacity_type="spot",windows_build="",resource_type="cpu"} 0.09
            karpenter_nodes_system_overhead{node_name="n1",phase="",managed="true",nodepool="default",zone="zone-a",region="",instance_type="large",arch="arm64",os="",capacity_type="spot",windows_build="",resource_type="memory"} 1073741824.0
            karpenter_nodes_total_daemon_requests{node_name="n1",phase="",managed="true",nodepool="default",zone="zone-a",region="",instance_type="large",arch="arm64",os="",capacity_type="spot",windows_build="",resource_type="cpu"} 0.1
            karpenter_nodes_total_daemon_requests{node_name="n1",phase="",managed="true",nodepool="default",zone="zone-a",region="",instance_type="large",arch="arm64",os="",capacity_type="spot",windows_build="",resource_type="memory"} 134217728.0
            karpenter_nodes_total_pod_requests{node_name="n1",phase="",managed="true",nodepool="default",zone="zone-a",region="",instance_type="large",arch="arm64",os="",capacity_type="spot",windows_build="",resource_type="cpu"} 2.1
            karpenter_nodes_total_pod_requests{node_name="n1",phase="",managed="true",nodepool="default",zone="zone-a",region="",instance_type="large",arch="arm64",os="",capacity_type="spot",windows_build="",resource_type="memory"} 1207959552.0
            karpenter_pods_state{name="agent-x",namespace="kube-system",owner="/apis/apps/v1/namespaces/kube-system/daemonsets/agent",node="n1",scheduled="true",nodepool="default",zone="zone-a",arch="arm64",capacity_type="spot",instance_type="large",phase="Running",ready="false",managed="true"} 1
            karpenter_pods_state{name="done",namespace="shop",owner="",node="n1",scheduled="true",nodepool="default",zone="zone-a",arch="arm64",capacity_type="spot",instance_type="large",phase="Succeeded",ready="false",managed="true"} 1
            karpenter_pods_state{name="waiting",namespace="shop",owner="",node="",scheduled="false",nodepool="",zone="",arch="",capacity_type="",instance_type="",phase="Pending",ready="false",managed="false"} 1
            karpenter_pods_state{name="web-0",namespace="shop",owner="/apis/apps/v1/namespaces/shop/replicasets/web-1",node="n1",scheduled="true",nodepool="default",zone="zone-a",arch="arm64",capacity_type="spot",instance_type="large",phase="Running",ready="true",managed="true"} 1"#]],
        );
    }

    #[test]
    fn gauges_of_a_node_no_node_claim_stands_for() {
        check(
            UNMANAGED,
            expect![[r#"
            karpenter_nodes_allocatable{node_name="bootstrap",phase="",managed="false",nodepool="",zone="",region="",instance_type="",arch="",os="linux",capacity_type="",windows_build="",resource_type="cpu"} 4.0
            karpenter_nodes_current_lifetime_seconds{node_name="bootstrap",phase="",managed="false",nodepool="",zone="",region="",instance_type="",arch="",os="linux",capacity_type="",windows_build=""} 90000.0
            karpenter_nodes_system_overhead{node_name="bootstrap",phase="",managed="false",nodepool="",zone="",region="",instance_type="",arch="",os="linux",capacity_type="",windows_build="",resource_type="cpu"} 0.0
            karpenter_pods_state{name="orphan",namespace="default",owner="",node="gone",scheduled="true",nodepool="",zone="",arch="",capacity_type="",instance_type="",phase="Running",ready="false",managed="false"} 1"#]],
        );
    }

    #[test]
    fn series_of_objects_that_went_away_are_removed_and_the_rest_updated() {
        let metrics = Metrics::default();
        let mut refresher = Refresher::default();
        let now: Timestamp = NOW.parse().unwrap();
        let before = state(MANAGED);
        refresher.refresh(&metrics, &before, now);
        let mut after = before.clone();
        after.objects.pods.retain(|p| p.metadata.name.as_deref() != Some("waiting"));
        after.objects.node_pools.clear();
        refresher.refresh(&metrics, &after, now.saturating_add(SignedDuration::from_secs(60)).unwrap());
        let shown = series(&metrics);
        assert!(!shown.contains("waiting"), "{shown}");
        assert!(!shown.contains("karpenter_nodepools_"), "{shown}");
        assert!(shown.contains(r#"name="web-0""#), "{shown}");
        let line =
            |prefix: &str, suffix: &str| shown.lines().any(|l| l.starts_with(prefix) && l.ends_with(suffix));
        assert!(line("karpenter_nodes_total_pod_requests{", r#"resource_type="cpu"} 2.1"#), "{shown}");
        assert!(line("karpenter_nodes_current_lifetime_seconds{", "} 3660.0"), "{shown}");

        // A state that has not listed everything yet changes nothing.
        refresher.refresh(&metrics, &ClusterState::default(), now);
        assert_eq!(series(&metrics), shown);
    }

    /// A pod at one look: its name, phase, creation and, when ready, when it became so (seconds after the epoch).
    fn pod(name: &str, phase: &str, created: i64, ready_at: Option<i64>) -> Arc<Pod> {
        let at = |s: i64| Timestamp::from_second(s).unwrap().to_string();
        let conditions: Vec<serde_json::Value> = ready_at
            .map(|s| json!({"type": "Ready", "status": "True", "lastTransitionTime": at(s)}))
            .into_iter()
            .collect();
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "shop", "uid": name, "creationTimestamp": at(created)},
                "spec": {"containers": []},
                "status": {"phase": phase, "conditions": conditions},
            }))
            .unwrap(),
        )
    }

    #[test]
    fn a_startup_is_counted_once_for_each_pod_seen_starting() {
        let steps: Vec<(Vec<Arc<Pod>>, Vec<u64>)> = vec![
            // The first look: only the pending pod is starting; the running one predates the controller.
            (vec![pod("a", "Pending", 0, None), pod("b", "Running", 0, Some(5))], vec![]),
            // `a` became ready 42 s after its creation; `c` came and started between two looks; `d` runs, not
            // ready yet; `e` waits.
            (
                vec![
                    pod("a", "Running", 0, Some(42)),
                    pod("b", "Running", 0, Some(5)),
                    pod("c", "Running", 100, Some(103)),
                    pod("d", "Running", 100, None),
                    pod("e", "Pending", 100, None),
                ],
                vec![42, 3],
            ),
            // `d` is ready after 10 s; `e` failed, which is not a start.
            (
                vec![
                    pod("a", "Running", 0, Some(42)),
                    pod("d", "Running", 100, Some(110)),
                    pod("e", "Failed", 100, None),
                ],
                vec![10],
            ),
            // Nothing new: nothing counted twice.
            (vec![pod("a", "Running", 0, Some(42)), pod("d", "Running", 100, Some(110))], vec![]),
        ];
        let mut startups = PodStartups::default();
        for (i, (pods, expected)) in steps.into_iter().enumerate() {
            let mut state = ClusterState { synced: true, ..ClusterState::default() };
            state.objects.pods = pods;
            let (next, started) = startups.advance(&state);
            let seconds: Vec<u64> = started.iter().map(Duration::as_secs).collect();
            assert_eq!(seconds, expected, "look {i}");
            startups = next;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_keeps_the_gauges_up_to_date() {
        let ctx = context(provider());
        let running = tokio::spawn(run(Arc::clone(&ctx)));
        ctx.cluster.apply(node_pool("default", Some("10")));
        ctx.cluster.apply(pending_pod("web-0", "1"));
        tokio::time::sleep(REFRESH + Duration::from_secs(1)).await;
        let limit = NodePoolResourceLabels { nodepool: "default".into(), resource_type: "cpu".into() };
        assert_eq!(ctx.metrics.nodepools_limit.get(&limit).map(|g| g.get()), Some(10.0));
        let pods = |metrics: &Metrics| series(metrics).matches("karpenter_pods_state{").count();
        assert_eq!(pods(&ctx.metrics), 1);

        ctx.cluster.delete::<Pod>("shop", "web-0").unwrap();
        tokio::time::sleep(REFRESH).await;
        assert_eq!(pods(&ctx.metrics), 0, "the deleted pod's series is gone");
        running.abort();
    }
}
