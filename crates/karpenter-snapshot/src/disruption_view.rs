//! The disruption engine's view of a snapshot: nodes with their NodeClaims, conditions and bound pods, NodePools
//! with their disruption settings, pending pods, DaemonSet pods, namespaces and PodDisruptionBudgets, as upstream's
//! disruption controller reads them from cluster state (`kubernetes-sigs/karpenter:
//! pkg/controllers/disruption/helpers.go` `GetCandidates`, `pkg/controllers/state/statenode.go`,
//! `pkg/utils/disruption/disruption.go`; the budgets' `disruptionsAllowed` as
//! `kubernetes/kubernetes: pkg/controller/disruption/disruption.go` computes it).
//!
//! Nodes and NodeClaims are joined by provider id as for a provisioning round ([`crate::map_node`],
//! [`crate::map_node_claim`]): the same state node is seen by both. Times become Unix seconds. Objects read from
//! files have no status; what the view needs from it is taken as a cluster would show it for objects that have
//! just been applied: a NodeClaim without a creation time was created at `now`, a NodeClaim whose Node is
//! initialised but which carries no `Initialized` condition was initialised when it was created, and a
//! PodDisruptionBudget without status allows what its pods' health allows.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use karpenter_api::labels::{condition, label};
use karpenter_api::{Condition, NodeClaim, NodePool};
use karpenter_disruption::view;
use karpenter_solver::SolverConfig;
use karpenter_solver::model::InstanceType;

use crate::convert;
use crate::disruption::matches;
use crate::node::{
    claim_deleting, claim_provider_id, map_node, map_node_claim, node_claim_ref, node_provider_id, node_ref,
    node_tracked,
};
use crate::nodepool::{map_node_pool, node_pool_ref};
use crate::pod::{is_active, map_pod, namespace, node_name, object_ref};
use crate::report::{Error, Report};
use crate::snapshot::Snapshot;

/// Settings of a disruption view beside the snapshot's objects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViewOptions {
    /// The instant of the decision.
    pub now: Timestamp,
    /// Feature gates that change what the engine decides.
    pub feature_gates: view::FeatureGates,
    /// The cloud provider's repair policies (read when `NodeRepair` is on).
    pub repair_policies: Vec<view::RepairPolicy>,
    /// Scheduling settings of every simulation.
    pub solver: SolverConfig,
    /// A NodePool whose `Ready` condition is not `True` launches nothing, as in the controller; files have no
    /// status, so `karpenter plan` turns this off.
    pub require_ready_node_pools: bool,
}

fn seconds(time: &Time) -> view::Timestamp {
    time.0.as_second()
}

fn karpenter_condition<'a>(conditions: Option<&'a Vec<Condition>>, type_: &str) -> Option<&'a Condition> {
    conditions.into_iter().flatten().find(|c| c.type_ == type_)
}

/// The disruption engine's view of the snapshot, with the caller's instance types per NodePool, and every object
/// that could not be carried into it.
pub fn cluster_view(
    snapshot: &Snapshot,
    instance_types: BTreeMap<String, Vec<Arc<InstanceType>>>,
    options: &ViewOptions,
) -> (view::ClusterView, Vec<Report>) {
    let mut reports = Vec::new();
    let now = options.now.as_second();
    let nodes = view_nodes(snapshot, now, &mut reports);
    let mut node_pools = Vec::new();
    for pool in &snapshot.node_pools {
        match view_node_pool(pool, options.require_ready_node_pools) {
            Ok(mapped) => node_pools.push(mapped),
            Err(error) => reports.push(Report::new(node_pool_ref(pool), error)),
        }
    }
    let mut pending_pods = Vec::new();
    for pod in snapshot.provisionable_pods() {
        match snapshot.map_pending_pod(pod) {
            Ok(mapped) => pending_pods.push(mapped),
            Err(error) => reports.push(Report::new(object_ref(pod), error)),
        }
    }
    let (daemon_set_pods, daemon_reports) = snapshot.daemon_set_pods();
    reports.extend(daemon_reports);
    let (namespaces, namespace_reports) = snapshot.model_namespaces();
    reports.extend(namespace_reports);
    let pod_disruption_budgets =
        snapshot.pod_disruption_budgets.iter().map(|pdb| view_pdb(pdb, &snapshot.pods)).collect();
    let view = view::ClusterView {
        now,
        nodes,
        node_pools,
        instance_types: Vec::new(),
        pool_instance_types: instance_types,
        pending_pods,
        daemon_set_pods,
        namespaces,
        pod_disruption_budgets,
        feature_gates: options.feature_gates,
        repair_policies: options.repair_policies.clone(),
        solver: options.solver.clone(),
    };
    (view, reports)
}

/// Every state node: each tracked Node with its NodeClaim and bound pods, then each launched NodeClaim without a
/// Node (not registered). Unlaunched NodeClaims are left out and reported, as for a provisioning round.
fn view_nodes(snapshot: &Snapshot, now: view::Timestamp, reports: &mut Vec<Report>) -> Vec<view::Node> {
    let mut claims: BTreeMap<&str, &NodeClaim> = BTreeMap::new();
    let mut unlaunched = Vec::new();
    for claim in &snapshot.node_claims {
        match claim_provider_id(claim) {
            Some(id) => {
                // A second claim with the same provider id is the round's to report; the first one counts.
                claims.entry(id).or_insert(claim);
            }
            None => unlaunched.push(&**claim),
        }
    }
    let mut bound: BTreeMap<&str, Vec<&Pod>> = BTreeMap::new();
    for pod in &snapshot.pods {
        if let Some(node) = node_name(pod) {
            bound.entry(node).or_default().push(pod);
        }
    }
    let mut nodes = Vec::new();
    let mut joined: BTreeSet<&str> = BTreeSet::new();
    let mut keys: BTreeSet<&str> = BTreeSet::new();
    for node in &snapshot.nodes {
        if let Err(error) = node_tracked(node) {
            reports.push(Report::new(node_ref(node), error));
            continue;
        }
        let name = node.metadata.name.as_deref().unwrap_or_default();
        let key = node_provider_id(node).unwrap_or(name);
        if !keys.insert(key) {
            continue;
        }
        let claim = claims.get(key).copied();
        let pods: Vec<&Pod> = bound.get(name).cloned().unwrap_or_default();
        let mut bound_pods = Vec::new();
        for pod in &pods {
            match bound_pod(snapshot, pod) {
                Ok(mapped) => bound_pods.push(mapped),
                Err(error) => reports.push(Report::new(object_ref(pod), error)),
            }
        }
        let model_pods = bound_pods.iter().map(|p| p.pod.clone()).collect();
        let mapped = match map_node(node, claim, model_pods) {
            Ok(mapped) => mapped,
            Err(error) => {
                reports.push(Report::new(node_ref(node), error));
                continue;
            }
        };
        if claim.is_some() {
            joined.insert(key);
        }
        let labels = node.metadata.labels.as_ref();
        let registered =
            claim.is_none() || labels.and_then(|l| l.get(label::REGISTERED)).is_some_and(|v| v == "true");
        nodes.push(view::Node {
            name: mapped.name,
            labels: mapped.labels,
            annotations: node.metadata.annotations.clone().unwrap_or_default(),
            taints: mapped.taints,
            startup_taints: mapped.startup_taints,
            capacity: mapped.capacity,
            allocatable: mapped.allocatable,
            conditions: node_conditions(node),
            registered,
            initialized: mapped.initialized,
            marked_for_deletion: mapped.marked_for_deletion,
            nominated: false,
            node_claim: claim.map(|c| view_claim(c, mapped.initialized, now)),
            price: None,
            pods: bound_pods,
        });
    }
    let in_flight = claims.iter().filter(|(id, _)| !joined.contains(*id)).map(|(_, c)| *c);
    for claim in in_flight.chain(unlaunched) {
        match map_node_claim(claim) {
            Ok(mapped) => nodes.push(view::Node {
                name: mapped.name,
                labels: mapped.labels,
                annotations: claim.metadata.annotations.clone().unwrap_or_default(),
                taints: mapped.taints,
                startup_taints: mapped.startup_taints,
                capacity: mapped.capacity,
                allocatable: mapped.allocatable,
                conditions: Vec::new(),
                registered: false,
                initialized: false,
                marked_for_deletion: claim_deleting(claim),
                nominated: false,
                node_claim: Some(view_claim(claim, false, now)),
                price: None,
                pods: Vec::new(),
            }),
            Err(error) => reports.push(Report::new(node_claim_ref(claim), error)),
        }
    }
    nodes
}

fn node_conditions(node: &Node) -> Vec<view::NodeCondition> {
    let conditions = node.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions
        .into_iter()
        .flatten()
        .map(|c| view::NodeCondition {
            condition_type: c.type_.clone(),
            status: c.status.clone(),
            reason: c.reason.clone().unwrap_or_default(),
            since: c.last_transition_time.as_ref().map_or(0, seconds),
        })
        .collect()
}

/// A NodeClaim's facts for disruption. A claim without a creation time (a file) was created at `now`; one whose
/// node is initialised without an `Initialized` condition was initialised when created.
fn view_claim(claim: &NodeClaim, node_initialized: bool, now: view::Timestamp) -> view::NodeClaim {
    let created = claim.metadata.creation_timestamp.as_ref().map_or(now, seconds);
    let conditions = claim.status.as_ref().and_then(|s| s.conditions.as_ref());
    let initialized_at = match karpenter_condition(conditions, condition::INITIALIZED) {
        Some(c) if c.status == "True" => Some(seconds(&c.last_transition_time)),
        Some(_) => None,
        None => node_initialized.then_some(created),
    };
    let drifted = karpenter_condition(conditions, condition::DRIFTED)
        .filter(|c| c.status == "True")
        .map(|c| view::Drifted { reason: c.reason.clone(), since: seconds(&c.last_transition_time) });
    let rebooting = karpenter_condition(conditions, condition::REBOOTING).map(|c| view::Rebooting {
        in_progress: c.status == "True",
        since: seconds(&c.last_transition_time),
    });
    view::NodeClaim {
        name: claim.metadata.name.clone().unwrap_or_default(),
        created,
        initialized_at,
        last_pod_event_time: claim.status.as_ref().and_then(|s| s.last_pod_event_time.as_ref()).map(seconds),
        drifted,
        expire_after: claim.spec.expire_after.clone(),
        termination_grace_period: claim.spec.termination_grace_period.clone(),
        instance_terminating: convert::condition_true(conditions, condition::INSTANCE_TERMINATING),
        rebooting,
        recent_reboots: 0,
    }
}

/// A bound pod: its scheduling shape (with its volumes' topology when the snapshot has their claims), and what
/// eviction reads.
fn bound_pod(snapshot: &Snapshot, pod: &Pod) -> Result<view::BoundPod, Error> {
    let mapped = match snapshot.map_pending_pod(pod) {
        Ok(mapped) => mapped,
        // A running pod whose claims the input lacks still runs; it is simulated without volume topology.
        Err(Error::Volume { .. }) => map_pod(pod)?,
        Err(error) => return Err(error),
    };
    let owners = pod.metadata.owner_references.iter().flatten();
    let owner_kind = owners
        .clone()
        .find(|o| o.controller == Some(true))
        .or_else(|| owners.clone().next())
        .map(|o| o.kind.clone());
    let status = pod.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_none_or(|c| c.status == "True");
    Ok(view::BoundPod {
        pod: mapped,
        annotations: pod.metadata.annotations.clone().unwrap_or_default(),
        start_time: status.and_then(|s| s.start_time.as_ref()).map(seconds),
        priority: pod.spec.as_ref().and_then(|s| s.priority),
        owner_kind,
        ready,
    })
}

/// A NodePool with its disruption settings. A NodePool that is deleting (or not Ready, when readiness is
/// required) stays in the view, not ready: its nodes are still candidates, but no simulation launches from it. A
/// static NodePool stays too: the engine judges its nodes by its own rules.
fn view_node_pool(pool: &NodePool, require_ready: bool) -> Result<view::NodePool, Error> {
    let mapped = map_node_pool(pool)?;
    let ready = pool.metadata.deletion_timestamp.is_none() && ready_condition_holds(pool, require_ready);
    let disruption = pool.spec.disruption.as_ref();
    Ok(view::NodePool {
        pool: mapped,
        disruption: view::Disruption {
            consolidation_policy: disruption.and_then(|d| d.consolidation_policy).map(|p| format!("{p:?}")),
            consolidate_after: disruption.and_then(|d| d.consolidate_after.clone()),
            budgets: disruption.and_then(|d| d.budgets.as_ref()).map(|budgets| {
                budgets
                    .iter()
                    .map(|b| view::Budget {
                        nodes: b.nodes.clone(),
                        schedule: b.schedule.clone(),
                        duration: b.duration.clone(),
                        reasons: b.reasons.as_ref().map(|r| r.iter().map(|r| format!("{r:?}")).collect()),
                    })
                    .collect()
            }),
        },
        expire_after: pool.spec.template.spec.expire_after.clone(),
        termination_grace_period: pool.spec.template.spec.termination_grace_period.clone(),
        replicas: pool.spec.replicas,
        ready,
    })
}

fn ready_condition_holds(pool: &NodePool, require_ready: bool) -> bool {
    !require_ready
        || convert::condition_status(
            pool.status.as_ref().and_then(|s| s.conditions.as_ref()),
            condition::READY,
        ) == Some("True")
}

fn int_or_string(value: &IntOrString) -> view::IntOrString {
    match value {
        IntOrString::Int(n) => view::IntOrString::Int(i64::from(*n)),
        IntOrString::String(s) => view::IntOrString::String(s.clone()),
    }
}

/// A count or a percentage of `total`, rounded up as the disruption controller rounds both fields.
fn scaled(value: &IntOrString, total: i64) -> Option<i64> {
    match value {
        IntOrString::Int(n) => Some(i64::from(*n)),
        IntOrString::String(s) => {
            let percent: i64 = s.strip_suffix('%')?.parse().ok()?;
            Some((percent * total + 99) / 100)
        }
    }
}

/// A PodDisruptionBudget. Without status (a file), `disruptionsAllowed` is what the disruption controller would
/// compute: the healthy pods it selects (bound, active, not reporting `Ready=False`) minus the healthy count it
/// wants (`minAvailable`, or the selected pods minus `maxUnavailable`), never below zero.
fn view_pdb(pdb: &PodDisruptionBudget, pods: &[Arc<Pod>]) -> view::PodDisruptionBudget {
    let pdb_namespace = pdb.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let spec = pdb.spec.as_ref();
    let selector = spec.and_then(|s| s.selector.as_ref());
    let disruptions_allowed = match pdb.status.as_ref() {
        Some(status) => status.disruptions_allowed.unwrap_or(0),
        None => {
            let selected: Vec<&Pod> = pods
                .iter()
                .map(|p| &**p)
                .filter(|p| namespace(p) == pdb_namespace && is_active(p))
                .filter(|p| {
                    selector.is_some_and(|s| matches(s, &p.metadata.labels.clone().unwrap_or_default()))
                })
                .collect();
            let expected = i64::try_from(selected.len()).unwrap_or(i64::MAX);
            let healthy = selected
                .iter()
                .filter(|p| node_name(p).is_some())
                .filter(|p| {
                    p.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
                        .is_none_or(|c| c.status == "True")
                })
                .count();
            let healthy = i64::try_from(healthy).unwrap_or(i64::MAX);
            let desired = match (
                spec.and_then(|s| s.min_available.as_ref()),
                spec.and_then(|s| s.max_unavailable.as_ref()),
            ) {
                (Some(min), _) => scaled(min, expected),
                (None, Some(max)) => scaled(max, expected).map(|max| (expected - max).max(0)),
                (None, None) => Some(expected),
            };
            desired.map_or(0, |desired| (healthy - desired).clamp(0, i64::from(i32::MAX))) as i32
        }
    };
    view::PodDisruptionBudget {
        namespace: pdb_namespace,
        name: pdb.metadata.name.clone().unwrap_or_default(),
        selector: selector.map(convert::label_selector),
        max_unavailable: spec.and_then(|s| s.max_unavailable.as_ref()).map(int_or_string),
        min_available: spec.and_then(|s| s.min_available.as_ref()).map(int_or_string),
        unhealthy_pod_eviction_policy: spec.and_then(|s| s.unhealthy_pod_eviction_policy.clone()),
        disruptions_allowed,
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use serde_json::json;

    use super::*;

    fn options() -> ViewOptions {
        ViewOptions { now: "2026-11-24T10:30:00Z".parse().unwrap(), ..ViewOptions::default() }
    }

    fn snapshot(objects: Vec<serde_json::Value>) -> Snapshot {
        let mut snapshot = Snapshot::new();
        for object in objects {
            let reports = snapshot.add(object);
            assert!(reports.is_empty(), "{reports:?}");
        }
        snapshot
    }

    #[test]
    fn a_node_and_its_claim_are_one_view_node_with_claim_facts() {
        let snapshot = snapshot(vec![
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {
                "karpenter.sh/nodepool": "default", "karpenter.sh/registered": "true", "karpenter.sh/initialized": "true",
                "node.kubernetes.io/instance-type": "m7g.large"}, "annotations": {"karpenter.sh/do-not-disrupt": "true"}},
                "spec": {"providerID": "aws:///us-east-1a/i-1"},
                "status": {"allocatable": {"cpu": "2"}, "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-24T09:00:00Z"}]}}),
            json!({"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim", "metadata": {"name": "default-abc",
                "creationTimestamp": "2026-11-24T08:00:00Z"},
                "spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                         "requirements": [], "expireAfter": "Never"},
                "status": {"providerID": "aws:///us-east-1a/i-1", "conditions": [
                    {"type": "Drifted", "status": "True", "reason": "NodePoolDrifted", "lastTransitionTime": "2026-11-24T10:00:00Z"}]}}),
            json!({"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim", "metadata": {"name": "default-new"},
                "spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                         "requirements": []},
                "status": {"providerID": "aws:///us-east-1b/i-2", "capacity": {"cpu": "4"}}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "annotations": {"a": "b"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "", "controller": true}]},
                "spec": {"nodeName": "n1", "priority": 5, "containers": [{"name": "c"}]},
                "status": {"startTime": "2026-11-24T09:30:00Z", "conditions": [{"type": "Ready", "status": "False"}]}}),
            json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}}),
        ]);
        let (view, reports) = cluster_view(&snapshot, BTreeMap::new(), &options());
        assert!(reports.is_empty(), "{reports:?}");
        let json =
            serde_json::to_string_pretty(&json!({"nodes": view.nodes, "pdbs": view.pod_disruption_budgets,
            "now": view.now}))
            .unwrap();
        expect![[r#"
            {
              "nodes": [
                {
                  "name": "n1",
                  "labels": {
                    "karpenter.sh/initialized": "true",
                    "karpenter.sh/nodepool": "default",
                    "karpenter.sh/registered": "true",
                    "node.kubernetes.io/instance-type": "m7g.large"
                  },
                  "annotations": {
                    "karpenter.sh/do-not-disrupt": "true"
                  },
                  "taints": [],
                  "startupTaints": [],
                  "capacity": {},
                  "allocatable": {
                    "cpu": "2"
                  },
                  "conditions": [
                    {
                      "type": "Ready",
                      "status": "True",
                      "reason": "",
                      "since": 1795510800
                    }
                  ],
                  "registered": true,
                  "initialized": true,
                  "markedForDeletion": false,
                  "nominated": false,
                  "nodeClaim": {
                    "name": "default-abc",
                    "created": 1795507200,
                    "initializedAt": 1795507200,
                    "lastPodEventTime": null,
                    "drifted": {
                      "reason": "NodePoolDrifted",
                      "since": 1795514400
                    },
                    "expireAfter": "Never",
                    "terminationGracePeriod": null,
                    "instanceTerminating": false,
                    "rebooting": null,
                    "recentReboots": 0
                  },
                  "price": null,
                  "pods": [
                    {
                      "pod": {
                        "namespace": "default",
                        "name": "web",
                        "uid": "",
                        "creationTimestamp": 0,
                        "labels": {},
                        "containers": [
                          {
                            "name": "c",
                            "requests": {},
                            "restartPolicy": null,
                            "ports": []
                          }
                        ],
                        "initContainers": [],
                        "overhead": {},
                        "nodeSelector": {},
                        "nodeAffinity": null,
                        "tolerations": [],
                        "topologySpreadConstraints": [],
                        "podAffinity": null,
                        "podAntiAffinity": null,
                        "volumeTopology": [],
                        "resourceClaims": [],
                        "daemonSet": false,
                        "phase": null,
                        "terminating": false
                      },
                      "annotations": {
                        "a": "b"
                      },
                      "startTime": 1795512600,
                      "priority": 5,
                      "ownerKind": "ReplicaSet",
                      "ready": false
                    }
                  ]
                },
                {
                  "name": "default-new",
                  "labels": {},
                  "annotations": {},
                  "taints": [],
                  "startupTaints": [],
                  "capacity": {
                    "cpu": "4"
                  },
                  "allocatable": {},
                  "conditions": [],
                  "registered": false,
                  "initialized": false,
                  "markedForDeletion": false,
                  "nominated": false,
                  "nodeClaim": {
                    "name": "default-new",
                    "created": 1795516200,
                    "initializedAt": null,
                    "lastPodEventTime": null,
                    "drifted": null,
                    "expireAfter": null,
                    "terminationGracePeriod": null,
                    "instanceTerminating": false,
                    "rebooting": null,
                    "recentReboots": 0
                  },
                  "price": null,
                  "pods": []
                }
              ],
              "pdbs": [
                {
                  "namespace": "default",
                  "name": "web",
                  "selector": {
                    "matchLabels": {
                      "app": "web"
                    },
                    "matchExpressions": []
                  },
                  "maxUnavailable": 1,
                  "minAvailable": null,
                  "unhealthyPodEvictionPolicy": null,
                  "disruptionsAllowed": 0
                }
              ],
              "now": 1795516200
            }"#]]
        .assert_eq(&json);
    }

    #[test]
    fn a_pdb_without_status_allows_what_its_healthy_pods_allow() {
        let pod = |name: &str, node: Option<&str>| {
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}},
                   "spec": {"nodeName": node, "containers": [{"name": "c"}]}})
        };
        let pdb = |spec: serde_json::Value| {
            json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
                   "spec": spec})
        };
        let allowed = |spec: serde_json::Value| {
            let snapshot =
                snapshot(vec![pod("a", Some("n")), pod("b", Some("n")), pod("c", None), pdb(spec)]);
            cluster_view(&snapshot, BTreeMap::new(), &options()).0.pod_disruption_budgets[0]
                .disruptions_allowed
        };
        let selector = json!({"matchLabels": {"app": "web"}});
        // Three pods selected, two healthy (bound).
        assert_eq!(allowed(json!({"selector": selector, "maxUnavailable": 1})), 0);
        assert_eq!(allowed(json!({"selector": selector, "maxUnavailable": 2})), 1);
        assert_eq!(allowed(json!({"selector": selector, "minAvailable": 1})), 1);
        assert_eq!(allowed(json!({"selector": selector, "minAvailable": "50%"})), 0);
        assert_eq!(allowed(json!({"selector": selector, "maxUnavailable": "100%"})), 2);
        assert_eq!(allowed(json!({"maxUnavailable": 1})), 0);
    }
}
