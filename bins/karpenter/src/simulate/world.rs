//! The parts of a cluster and a cloud that `karpenter simulate` plays around the real controller: the workload
//! controllers (a ReplicaSet per workload: `kubernetes/kubernetes: pkg/controller/replicaset`), the
//! kube-scheduler (`pkg/scheduler`: binding pending pods to Ready nodes, marking the rest `Unschedulable`), the
//! kubelet (`pkg/kubelet/kubelet_node_status.go`: a launched machine registers its Node, Ready, after a delay), the
//! pod garbage collector (`pkg/controller/podgc`: pods of vanished nodes) and the cloud's own events (spot
//! interruptions, capacity running out).
//!
//! None of them decides anything Karpenter decides. The kube-scheduler places pods with the solver the controller
//! uses, given the Ready nodes and no NodePool, so that it can only bind to capacity that exists; every launch,
//! registration, disruption and termination is the controller's (`Operator::run` on the same store).

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Node, NodeCondition, NodeSpec, NodeStatus, Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use karpenter_api::NodeClaim;
use karpenter_cloud::fake::FakeProvider;
use karpenter_cloud::fake_queue::FakeQueue;
use karpenter_cloud::{CloudProvider, Instance, NoticeKind, OfferingKey, instance_id};
use karpenter_operator::store::{Cluster, ClusterState, MemoryCluster};
use karpenter_snapshot::Snapshot;
use karpenter_solver::SolverConfig;
use karpenter_solver::model::{Problem, ResourceList};

use super::record::Recorder;
use super::scenario::{Rng, Scenario};

/// The label the kubelet sets to the node's name.
const HOSTNAME: &str = "kubernetes.io/hostname";

/// One workload's controller state.
#[derive(Debug, Default)]
struct WorkloadState {
    /// The next pod's number.
    next: u64,
    /// The replica count last acted on, for the timeline.
    replicas: Option<u32>,
}

/// A cloud event of the scenario, in time order.
#[derive(Debug, Clone)]
enum CloudEvent {
    /// An offering's capacity runs out (`true`) or comes back (`false`).
    Capacity(OfferingKey, bool),
    /// Spot interruption `index` of the scenario.
    Interruption(usize),
    /// The interruption controller's mark on a reclaimed spot offering runs out: the AWS provider keeps such
    /// an offering in its unavailable-offerings cache for 3 minutes.
    Reclaimed(OfferingKey),
}

/// How long a reclaimed spot offering is not offered (the AWS provider's unavailable-offerings cache).
const RECLAIMED_FOR: Duration = Duration::from_secs(3 * 60);

/// The simulated cluster around the controller.
pub(crate) struct World {
    pub(crate) cluster: Arc<MemoryCluster>,
    pub(crate) fake: Arc<FakeProvider>,
    /// The interruption queue the controller reads: spot interruption warnings go there.
    queue: Arc<FakeQueue>,
    scenario: Arc<Scenario>,
    seed: u64,
    solver: SolverConfig,
    start_minute: u32,
    workloads: Vec<WorkloadState>,
    /// When each launched NodeClaim was first seen launched, by name.
    launched_at: BTreeMap<String, Duration>,
    /// Cloud events still to come, by time.
    cloud_events: Vec<(Duration, CloudEvent)>,
    /// Interrupted machines and when the cloud terminates them.
    terminating: Vec<(Duration, String)>,
    /// Machines the cloud terminated, whose nodes the kubelet no longer reports Ready.
    terminated: BTreeSet<String>,
    /// The inputs of the last kube-scheduler pass that bound nothing: the same inputs bind nothing again.
    last_idle_pass: Option<u64>,
    /// The store's state when the last full step ended: while it stays the same and nothing is due, a step has
    /// nothing to do (which makes idle simulated hours cheap).
    settled: Option<Arc<ClusterState>>,
    /// When the next launched machine's node is due to register.
    next_node: Option<Duration>,
    pub(crate) recorder: Recorder,
}

impl World {
    #[allow(clippy::too_many_arguments, reason = "the world's parts, each made by the caller")]
    pub(crate) fn new(
        cluster: Arc<MemoryCluster>,
        fake: Arc<FakeProvider>,
        queue: Arc<FakeQueue>,
        scenario: Arc<Scenario>,
        seed: u64,
        solver: SolverConfig,
        recorder: Recorder,
    ) -> World {
        let start = scenario.start();
        let start_minute = {
            let seconds = start.as_second().rem_euclid(86_400);
            (seconds / 60) as u32
        };
        let mut cloud_events = Vec::new();
        for error in &scenario.capacity_errors {
            let key = OfferingKey::new(&error.instance_type, &error.zone, &error.capacity_type);
            cloud_events.push((error.from.0, CloudEvent::Capacity(key.clone(), true)));
            if let Some(until) = error.until {
                cloud_events.push((until.0, CloudEvent::Capacity(key, false)));
            }
        }
        for (index, interruption) in scenario.interruptions.iter().enumerate() {
            cloud_events.push((interruption.at.0, CloudEvent::Interruption(index)));
        }
        // A stable sort keeps the scenario's order among events of the same time.
        cloud_events.sort_by_key(|(at, _)| *at);
        let mut namespaces: Vec<&str> = scenario.workloads.iter().map(|w| w.namespace.as_str()).collect();
        namespaces.sort_unstable();
        namespaces.dedup();
        for name in namespaces {
            cluster.apply(Namespace {
                metadata: ObjectMeta { name: Some(name.to_string()), ..ObjectMeta::default() },
                ..Namespace::default()
            });
        }
        World {
            workloads: scenario.workloads.iter().map(|_| WorkloadState::default()).collect(),
            cluster,
            fake,
            queue,
            scenario,
            seed,
            solver,
            start_minute,
            launched_at: BTreeMap::new(),
            cloud_events,
            terminating: Vec::new(),
            terminated: BTreeSet::new(),
            last_idle_pass: None,
            settled: None,
            next_node: None,
            recorder,
        }
    }

    /// Everything the world does at `elapsed` since the start, in the order a cluster would see it within one
    /// scheduler period: the cloud, the kubelets, the pod garbage collector, the workload controllers, the
    /// kube-scheduler; then the recorder looks.
    pub(crate) async fn step(&mut self, elapsed: Duration) {
        // The fake remembers every call for tests; the simulation never reads them.
        self.fake.clear_calls();
        let state = self.cluster.state();
        let unchanged = self.settled.as_ref().is_some_and(|settled| Arc::ptr_eq(settled, &state));
        let cloud_due = self.cloud_events.first().is_some_and(|(at, _)| *at <= elapsed)
            || self.terminating.iter().any(|(at, _)| *at <= elapsed);
        let node_due = self.next_node.is_some_and(|at| at <= elapsed);
        let rescaled =
            self.scenario.workloads.iter().zip(&self.workloads).enumerate().any(|(index, (w, s))| {
                s.replicas != Some(w.replicas_at(elapsed, self.start_minute, self.seed, index))
            });
        if unchanged && !cloud_due && !node_due && !rescaled {
            self.recorder.observe(&state, &self.cluster, &self.fake, elapsed);
            return;
        }
        self.cloud(elapsed).await;
        let state = self.cluster.state();
        self.kubelet(&state, elapsed);
        let state = self.cluster.state();
        self.pod_gc(&state);
        self.workload_controllers(elapsed);
        let state = self.cluster.state();
        self.schedule(&state, elapsed);
        let state = self.cluster.state();
        self.recorder.observe(&state, &self.cluster, &self.fake, elapsed);
        self.settled = Some(state);
    }

    /// Capacity errors start and end; interrupted spot machines get their warning and are terminated at its end.
    async fn cloud(&mut self, elapsed: Duration) {
        while self.cloud_events.first().is_some_and(|(at, _)| *at <= elapsed) {
            let (_, event) = self.cloud_events.remove(0);
            match event {
                CloudEvent::Capacity(key, true) => {
                    self.fake.set_capacity(key.clone(), 0);
                    self.recorder.note(
                        elapsed,
                        format!(
                            "capacity of {} {} {} runs out",
                            key.instance_type, key.zone, key.capacity_type
                        ),
                    );
                }
                CloudEvent::Capacity(key, false) => {
                    self.fake.clear_capacity(&key);
                    self.recorder.note(
                        elapsed,
                        format!(
                            "capacity of {} {} {} is back",
                            key.instance_type, key.zone, key.capacity_type
                        ),
                    );
                }
                CloudEvent::Interruption(index) => self.interrupt(index, elapsed),
                CloudEvent::Reclaimed(key) => self.fake.forget_unavailable(&key),
            }
        }
        while let Some(position) = self.terminating.iter().position(|(at, _)| *at <= elapsed) {
            let (_, provider_id) = self.terminating.remove(position);
            // Karpenter may have terminated the machine itself on the warning; otherwise the cloud does now. The
            // fake's delete never fails without an injected error.
            let running = self.fake.instances().iter().any(|i| i.provider_id == provider_id);
            let _ = self.fake.delete(&provider_id).await;
            self.terminated.insert(provider_id.clone());
            if running {
                self.recorder.note(elapsed, format!("spot instance {provider_id} terminated by the cloud"));
            }
        }
    }

    fn interrupt(&mut self, index: usize, elapsed: Duration) {
        let interruption = &self.scenario.interruptions[index];
        let warned: BTreeSet<&str> = self.terminating.iter().map(|(_, id)| id.as_str()).collect();
        let mut candidates: Vec<Instance> = self
            .fake
            .instances()
            .into_iter()
            .filter(|i| i.capacity_type == "spot" && !warned.contains(i.provider_id.as_str()))
            .filter(|i| interruption.instance_type.as_ref().is_none_or(|t| *t == i.instance_type))
            .filter(|i| interruption.zone.as_ref().is_none_or(|z| *z == i.zone))
            .collect();
        candidates.sort_by(|a, b| a.provider_id.cmp(&b.provider_id));
        if candidates.is_empty() {
            self.recorder.note(elapsed, format!("spot interruption {index}: no spot instance matches"));
            return;
        }
        let mut rng = Rng::new(self.seed, 0x5107 + index as u64);
        for _ in 0..interruption.count {
            if candidates.is_empty() {
                break;
            }
            let chosen = candidates.remove(rng.below(candidates.len()));
            let at = elapsed + self.scenario.delays.interruption_notice.0;
            self.recorder.note(
                elapsed,
                format!(
                    "spot interruption warning for {} ({} {})",
                    chosen.node_claim.as_deref().unwrap_or(&chosen.provider_id),
                    chosen.instance_type,
                    chosen.zone
                ),
            );
            // The fake's provider ids end in an instance id, as AWS's do.
            if let Some(instance) = instance_id(&chosen.provider_id) {
                self.queue.push(NoticeKind::SpotInterrupted, [instance.to_string()]);
            }
            let offering = OfferingKey::new(&chosen.instance_type, &chosen.zone, &chosen.capacity_type);
            let until = elapsed + RECLAIMED_FOR;
            let position = self.cloud_events.partition_point(|(at, _)| *at <= until);
            self.cloud_events.insert(position, (until, CloudEvent::Reclaimed(offering)));
            self.terminating.push((at, chosen.provider_id));
        }
    }

    /// A launched machine's kubelet registers its Node, Ready, `delays.nodeReady` after the launch, with the
    /// NodeClaim's taints and `karpenter.sh/unregistered`; once Karpenter registered the node, the daemons that
    /// own the startup taints remove them; a machine the cloud terminated stops reporting Ready.
    fn kubelet(&mut self, state: &ClusterState, elapsed: Duration) {
        let nodes: BTreeMap<&str, &Arc<Node>> = state
            .objects
            .nodes
            .iter()
            .filter_map(|n| Some((karpenter_snapshot::node_provider_id(n)?, n)))
            .collect();
        let mut due: Vec<&Arc<NodeClaim>> = Vec::new();
        self.next_node = None;
        for claim in &state.objects.node_claims {
            let Some(provider_id) = karpenter_snapshot::claim_provider_id(claim) else { continue };
            let name = claim.metadata.name.as_deref().unwrap_or_default();
            let launched = match self.launched_at.get(name) {
                Some(at) => *at,
                None => {
                    self.launched_at.insert(name.to_string(), elapsed);
                    elapsed
                }
            };
            if claim.metadata.deletion_timestamp.is_none()
                && !nodes.contains_key(provider_id)
                && !self.terminated.contains(provider_id)
            {
                let at = launched + self.scenario.delays.node_ready.0;
                if elapsed >= at {
                    due.push(claim);
                } else {
                    self.next_node = Some(self.next_node.map_or(at, |next| next.min(at)));
                }
            }
        }
        if !due.is_empty() {
            let instances: BTreeMap<String, Instance> =
                self.fake.instances().into_iter().map(|i| (i.provider_id.clone(), i)).collect();
            for claim in due {
                let provider_id = karpenter_snapshot::claim_provider_id(claim).unwrap_or_default();
                if let Some(instance) = instances.get(provider_id) {
                    self.cluster.apply(joining_node(claim, instance));
                }
            }
        }
        let claims: BTreeMap<&str, &Arc<NodeClaim>> = state
            .objects
            .node_claims
            .iter()
            .filter_map(|c| Some((karpenter_snapshot::claim_provider_id(c)?, c)))
            .collect();
        for (provider_id, node) in &nodes {
            if self.terminated.contains(*provider_id) {
                if is_ready(node) {
                    let mut updated = (***node).clone();
                    set_ready(&mut updated, false);
                    self.cluster.apply(updated);
                }
                continue;
            }
            let registered = node.metadata.labels.as_ref().is_some_and(|l| {
                l.get(karpenter_api::labels::label::REGISTERED).is_some_and(|v| v == "true")
            });
            let Some(claim) = claims.get(provider_id) else { continue };
            let startup = claim.spec.startup_taints.as_deref().unwrap_or_default();
            let taints = node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or_default();
            if registered
                && !startup.is_empty()
                && taints.iter().any(|t| startup.iter().any(|s| s.key == t.key && s.effect == t.effect))
            {
                let mut updated = (***node).clone();
                if let Some(spec) = updated.spec.as_mut() {
                    spec.taints = Some(
                        taints
                            .iter()
                            .filter(|t| !startup.iter().any(|s| s.key == t.key && s.effect == t.effect))
                            .cloned()
                            .collect(),
                    );
                }
                self.cluster.apply(updated);
            }
        }
    }

    /// Pods bound to a node that no longer exists are deleted, as the pod garbage collector does.
    fn pod_gc(&mut self, state: &ClusterState) {
        let nodes: BTreeSet<&str> =
            state.objects.nodes.iter().filter_map(|n| n.metadata.name.as_deref()).collect();
        for pod in &state.objects.pods {
            if let Some(node) = karpenter_snapshot::node_name(pod)
                && !nodes.contains(node)
            {
                let (namespace, name) = pod_key(pod);
                let _ = self.cluster.delete::<Pod>(&namespace, &name);
            }
        }
    }

    /// Each workload's ReplicaSet: pods are created up to the replica count at this time, and the surplus is
    /// deleted, unbound pods first, then the newest (the ReplicaSet controller's order).
    fn workload_controllers(&mut self, elapsed: Duration) {
        let state = self.cluster.state();
        let mut by_workload: BTreeMap<(&str, &str), Vec<&Arc<Pod>>> = BTreeMap::new();
        for pod in &state.objects.pods {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            if let Some(owner) = pod.metadata.labels.as_ref().and_then(|l| l.get(WORKLOAD_LABEL)) {
                let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
                by_workload.entry((namespace, owner.as_str())).or_default().push(pod);
            }
        }
        let scenario = Arc::clone(&self.scenario);
        for (index, workload) in scenario.workloads.iter().enumerate() {
            let wanted = workload.replicas_at(elapsed, self.start_minute, self.seed, index);
            let state_of = &mut self.workloads[index];
            if state_of.replicas != Some(wanted) {
                let stepped = workload
                    .daily
                    .is_none_or(|d| elapsed < d.from.0 || d.until.is_some_and(|until| elapsed >= until.0));
                if stepped && (state_of.replicas.is_some() || wanted > 0) {
                    self.recorder.note(
                        elapsed,
                        format!("{}/{} scaled to {wanted}", workload.namespace, workload.name),
                    );
                }
                state_of.replicas = Some(wanted);
            }
            let mut pods: Vec<&Arc<Pod>> = by_workload
                .remove(&(workload.namespace.as_str(), workload.name.as_str()))
                .unwrap_or_default();
            let have = pods.len() as u32;
            if have < wanted {
                for _ in have..wanted {
                    let number = state_of.next;
                    state_of.next += 1;
                    let pod = new_pod(workload, number);
                    self.recorder.pod_created(&pod, elapsed);
                    self.cluster.apply(pod);
                }
            } else if have > wanted {
                // Unbound first, then the newest: the order of the pods' numbers, from the end.
                pods.sort_by_key(|p| {
                    (karpenter_snapshot::node_name(p).is_some(), std::cmp::Reverse(pod_number(p)))
                });
                for pod in pods.into_iter().take((have - wanted) as usize) {
                    let (namespace, name) = pod_key(pod);
                    let _ = self.cluster.delete::<Pod>(&namespace, &name);
                }
            }
        }
    }

    /// The kube-scheduler: pending pods go to Ready nodes through the solver with no NodePool (it can only choose
    /// among nodes that exist); pods it cannot place are marked `PodScheduled=False`, `Unschedulable`, which is
    /// what makes Karpenter provision for them.
    fn schedule(&mut self, state: &ClusterState, elapsed: Duration) {
        let pending: Vec<&Arc<Pod>> = state
            .objects
            .pods
            .iter()
            .filter(|p| karpenter_snapshot::node_name(p).is_none() && p.metadata.deletion_timestamp.is_none())
            .collect();
        if pending.is_empty() {
            self.last_idle_pass = None;
            return;
        }
        let ready: Vec<Arc<Node>> = state.objects.nodes.iter().filter(|n| is_ready(n)).cloned().collect();
        let fingerprint = {
            let mut hasher = rustc_hash::FxHasher::default();
            for pod in &pending {
                pod.metadata.uid.hash(&mut hasher);
            }
            for node in &ready {
                node.metadata.resource_version.hash(&mut hasher);
            }
            hasher.finish()
        };
        if self.last_idle_pass == Some(fingerprint) {
            return;
        }
        let view = Snapshot {
            pods: state.objects.pods.clone(),
            nodes: ready,
            namespaces: state.objects.namespaces.clone(),
            persistent_volume_claims: state.objects.persistent_volume_claims.clone(),
            persistent_volumes: state.objects.persistent_volumes.clone(),
            storage_classes: state.objects.storage_classes.clone(),
            ..Snapshot::default()
        };
        let (nodes, _) = view.existing_nodes();
        let (namespaces, _) = view.model_namespaces();
        let mut mapped = Vec::new();
        for pod in &pending {
            if let Ok(pod) = view.map_pending_pod(pod) {
                mapped.push(pod);
            }
        }
        let problem = Problem { pods: mapped, nodes, namespaces, ..Problem::default() };
        let plan = karpenter_solver::solve(&problem, &self.solver);
        let pods: BTreeMap<(&str, &str), &Arc<Pod>> = pending
            .iter()
            .map(|p| {
                (
                    (
                        p.metadata.namespace.as_deref().unwrap_or_default(),
                        p.metadata.name.as_deref().unwrap_or_default(),
                    ),
                    *p,
                )
            })
            .collect();
        let mut bound = 0;
        for placement in &plan.existing_nodes {
            for pod_ref in &placement.pods {
                let Some(pod) = pods.get(&(pod_ref.namespace.as_str(), pod_ref.name.as_str())) else {
                    continue;
                };
                let mut pod = (***pod).clone();
                if let Some(spec) = pod.spec.as_mut() {
                    spec.node_name = Some(placement.node.clone());
                }
                pod.status = Some(running_status());
                self.recorder.pod_bound(&pod, elapsed);
                self.cluster.apply(pod);
                bound += 1;
            }
        }
        for unschedulable in &plan.unschedulable {
            let key = (unschedulable.pod.namespace.as_str(), unschedulable.pod.name.as_str());
            let Some(pod) = pods.get(&key) else { continue };
            if karpenter_snapshot::is_provisionable(pod) {
                continue;
            }
            let mut pod = (***pod).clone();
            pod.status = Some(unschedulable_status(&unschedulable.reason.to_string()));
            self.cluster.apply(pod);
        }
        self.last_idle_pass = (bound == 0).then_some(fingerprint);
    }
}

/// The label that ties a pod to its workload.
pub(crate) const WORKLOAD_LABEL: &str = "simulate.karpenter.sh/workload";

fn pod_key(pod: &Pod) -> (String, String) {
    (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default())
}

fn pod_number(pod: &Pod) -> u64 {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    name.rsplit('-').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// A workload's pod number `number`, as its ReplicaSet would create it.
fn new_pod(workload: &super::scenario::Workload, number: u64) -> Pod {
    let template = &workload.template;
    let mut metadata = template.metadata.clone().unwrap_or_default();
    let labels = metadata.labels.get_or_insert_with(BTreeMap::new);
    if labels.is_empty() {
        labels.insert("app".to_string(), workload.name.clone());
    }
    labels.insert(WORKLOAD_LABEL.to_string(), workload.name.clone());
    metadata.name = Some(format!("{}-{number}", workload.name));
    metadata.namespace = Some(workload.namespace.clone());
    metadata.owner_references = Some(vec![OwnerReference {
        api_version: "apps/v1".to_string(),
        kind: "ReplicaSet".to_string(),
        name: format!("{}-rs", workload.name),
        uid: format!("rs-{}-{}", workload.namespace, workload.name),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }]);
    Pod {
        metadata,
        spec: template.spec.clone(),
        status: Some(k8s_openapi::api::core::v1::PodStatus {
            phase: Some("Pending".to_string()),
            ..Default::default()
        }),
    }
}

fn running_status() -> k8s_openapi::api::core::v1::PodStatus {
    let condition = |type_: &str| PodCondition {
        type_: type_.to_string(),
        status: "True".to_string(),
        ..Default::default()
    };
    k8s_openapi::api::core::v1::PodStatus {
        phase: Some("Running".to_string()),
        conditions: Some(vec![condition("PodScheduled"), condition("Ready")]),
        ..Default::default()
    }
}

fn unschedulable_status(message: &str) -> k8s_openapi::api::core::v1::PodStatus {
    k8s_openapi::api::core::v1::PodStatus {
        phase: Some("Pending".to_string()),
        conditions: Some(vec![PodCondition {
            type_: "PodScheduled".to_string(),
            status: "False".to_string(),
            reason: Some("Unschedulable".to_string()),
            message: Some(message.to_string()),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

fn is_ready(node: &Node) -> bool {
    node.metadata.deletion_timestamp.is_none()
        && node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn set_ready(node: &mut Node, ready: bool) {
    let status = node.status.get_or_insert_with(NodeStatus::default);
    status.conditions = Some(vec![NodeCondition {
        type_: "Ready".to_string(),
        status: if ready { "True" } else { "False" }.to_string(),
        reason: Some(if ready { "KubeletReady" } else { "NodeStatusUnknown" }.to_string()),
        ..Default::default()
    }]);
}

fn quantities(list: &ResourceList) -> BTreeMap<String, Quantity> {
    list.iter().map(|(name, value)| (name.clone(), Quantity(value.clone()))).collect()
}

/// The Node the machine launched for `claim` registers as: named after the claim, the machine's labels and the
/// hostname label, its capacity and allocatable, the claim's taints plus `karpenter.sh/unregistered` (Karpenter
/// adds the startup taints when it registers the node), Ready.
fn joining_node(claim: &NodeClaim, instance: &Instance) -> Node {
    let name = claim.metadata.name.clone().unwrap_or_default();
    let mut labels = instance.labels.clone();
    labels.insert(HOSTNAME.to_string(), name.clone());
    let mut taints: Vec<k8s_openapi::api::core::v1::Taint> = claim.spec.taints.clone().unwrap_or_default();
    taints.push(karpenter_api::labels::taint::unregistered());
    let mut node = Node {
        metadata: ObjectMeta { name: Some(name), labels: Some(labels), ..ObjectMeta::default() },
        spec: Some(NodeSpec {
            provider_id: Some(instance.provider_id.clone()),
            taints: Some(taints),
            ..NodeSpec::default()
        }),
        status: Some(NodeStatus {
            capacity: Some(quantities(&instance.capacity)),
            allocatable: Some(quantities(&instance.allocatable)),
            phase: Some("Running".to_string()),
            ..NodeStatus::default()
        }),
    };
    set_ready(&mut node, true);
    node
}
