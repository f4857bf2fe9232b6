//! Invariants of the mapping over pods built from a few strategies: it never panics, every pending pod is
//! either in the problem or reported (never both, never neither), and the problem holds no pod that is neither
//! pending nor leaving a deleting node.

use std::collections::BTreeSet;

use super::common::{documents, fixture, options};
use karpenter_snapshot::{Snapshot, is_provisionable, node_name, object_ref};
use karpenter_solver::{SolverConfig, solve};
use proptest::prelude::*;
use serde_json::{Value, json};

fn quantity() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("500m".to_string()),
        Just("1Gi".to_string()),
        Just("2".to_string()),
        Just("-1".to_string()),
        Just("lots".to_string()),
        Just(String::new()),
    ]
}

fn resources() -> impl Strategy<Value = Value> {
    (proptest::option::of(quantity()), proptest::option::of(quantity()), any::<bool>()).prop_map(
        |(cpu, memory, as_limits)| {
            let mut list = serde_json::Map::new();
            if let Some(cpu) = cpu {
                list.insert("cpu".into(), json!(cpu));
            }
            if let Some(memory) = memory {
                list.insert("memory".into(), json!(memory));
            }
            if as_limits { json!({"limits": list}) } else { json!({"requests": list}) }
        },
    )
}

fn requirement() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just("topology.kubernetes.io/zone"), Just("karpenter.sh/nodepool"), Just("bad key!")],
        prop_oneof![
            Just("In"),
            Just("NotIn"),
            Just("Exists"),
            Just("DoesNotExist"),
            Just("Gt"),
            Just("Like")
        ],
        proptest::collection::vec(prop_oneof![Just("us-east-1a"), Just("3"), Just("")], 0..3),
    )
        .prop_map(|(key, operator, values)| json!({"key": key, "operator": operator, "values": values}))
}

fn volume() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"name": "v", "emptyDir": {}})),
        Just(json!({"name": "cache", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}})),
        prop_oneof![
            Just("bound-zonal"),
            Just("waiting"),
            Just("unbound-immediate"),
            Just("nowhere"),
            Just("lost"),
            Just("binding")
        ]
        .prop_map(|claim| json!({"name": "data", "persistentVolumeClaim": {"claimName": claim}})),
    ]
}

fn owner() -> impl Strategy<Value = Option<Value>> {
    proptest::option::of(prop_oneof![
        Just(("apps/v1", "DaemonSet")),
        Just(("v1", "Node")),
        Just(("apps/v1", "ReplicaSet")),
        Just(("apps/v1", "StatefulSet")),
    ])
    .prop_map(|o| {
        o.map(|(api_version, kind)| json!({"apiVersion": api_version, "kind": kind, "name": "o", "uid": "u"}))
    })
}

prop_compose! {
    fn pod()(
        named in prop::bool::weighted(0.95),
        scheduled in prop_oneof![Just(None), Just(Some("Unschedulable")), Just(Some("SchedulingGated"))],
        node in prop_oneof![Just(None), Just(Some("worker-1")), Just(Some("ghost"))],
        nominated in prop::bool::weighted(0.1),
        owner in owner(),
        phase in prop_oneof![Just(None), Just(Some("Pending")), Just(Some("Running")), Just(Some("Succeeded"))],
        deleting in prop::bool::weighted(0.1),
        has_spec in prop::bool::weighted(0.95),
        pod_level in prop::bool::weighted(0.05),
        containers in proptest::collection::vec(resources(), 0..3),
        volumes in proptest::collection::vec(volume(), 0..3),
        requirements in proptest::collection::vec(requirement(), 0..3),
        do_not_disrupt in proptest::option::of(prop_oneof![Just("true"), Just("5m"), Just("nonsense")]),
    ) -> Value {
        let mut metadata = json!({"namespace": "shop", "labels": {"app": "web"}});
        if named {
            // Each pod gets a unique name below; an unnamed pod stays unnamed.
            metadata["name"] = json!("");
        }
        if let Some(owner) = owner {
            metadata["ownerReferences"] = json!([owner]);
        }
        if deleting {
            metadata["deletionTimestamp"] = json!("2026-11-24T10:00:00Z");
        }
        if let Some(value) = do_not_disrupt {
            metadata["annotations"] = json!({"karpenter.sh/do-not-disrupt": value});
        }
        let mut status = json!({});
        if let Some(phase) = phase {
            status["phase"] = json!(phase);
        }
        if let Some(reason) = scheduled {
            status["conditions"] = json!([{"type": "PodScheduled", "status": "False", "reason": reason}]);
        }
        if nominated {
            status["nominatedNodeName"] = json!("worker-9");
        }
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "status": status});
        if has_spec {
            let containers: Vec<Value> =
                containers.into_iter().enumerate().map(|(i, r)| json!({"name": format!("c{i}"), "resources": r})).collect();
            let mut spec = json!({
                "containers": containers,
                "volumes": volumes,
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": requirements}]}}},
            });
            if let Some(node) = node {
                spec["nodeName"] = json!(node);
            }
            if pod_level {
                spec["resources"] = json!({"requests": {"cpu": "1"}});
            }
            pod["spec"] = spec;
        }
        pod
    }
}

/// The storage objects of the volume fixture, the pods left out.
fn storage() -> Vec<Value> {
    documents(&fixture("volumes.yaml")).into_iter().filter(|d| d["kind"] != "Pod").collect()
}

fn worker(disrupted: bool) -> Value {
    let taints = if disrupted {
        json!([{"key": "karpenter.sh/disrupted", "effect": "NoSchedule"}])
    } else {
        json!([])
    };
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "worker-1"},
        "spec": {"providerID": "aws:///us-east-1a/i-01", "taints": taints},
        "status": {"capacity": {"cpu": "4", "pods": "10"}, "allocatable": {"cpu": "4", "pods": "10"}},
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_pending_pod_is_mapped_or_reported(pods in proptest::collection::vec(pod(), 0..12), disrupted: bool) {
        let mut snapshot = Snapshot::new();
        for object in storage().into_iter().chain([worker(disrupted)]) {
            prop_assert!(snapshot.add(object).is_empty());
        }
        for (i, mut pod) in pods.into_iter().enumerate() {
            if pod["metadata"]["name"] == json!("") {
                pod["metadata"]["name"] = json!(format!("pod-{i}"));
            }
            let reports = snapshot.add(pod);
            prop_assert!(reports.is_empty(), "{:?}", reports);
        }
        let round = snapshot.provisioning_round(Default::default(), &options());
        let mapped: BTreeSet<(String, String)> =
            round.problem.pods.iter().map(|p| (p.namespace.clone(), p.name.clone())).collect();
        prop_assert_eq!(mapped.len(), round.problem.pods.len(), "a pod is in the problem twice");
        for pod in &snapshot.pods {
            let key = (object_ref(pod).namespace.unwrap_or_default(), object_ref(pod).name);
            let reported = round.reports.iter().any(|r| r.object == object_ref(pod));
            if is_provisionable(pod) {
                prop_assert!(mapped.contains(&key) != reported, "{:?}: mapped {} reported {}", key, mapped.contains(&key), reported);
            } else if mapped.contains(&key) {
                prop_assert!(disrupted && node_name(pod) == Some("worker-1"), "{:?} is neither pending nor moving", key);
            }
        }
        // The problem is input the solver takes without panicking.
        let _ = solve(&round.problem, &SolverConfig::default());
    }
}
