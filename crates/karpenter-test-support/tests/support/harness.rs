//! The harness works against the real components: the real scheduler marks pods Unschedulable while no node
//! exists, binds them once a KWOK node appears, and KWOK runs them; the AWS SDK talks to moto.
#![cfg(feature = "cluster-tests")]

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

/// Polls until `check` is true or the time is up; the failure shows the last state seen.
async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F) -> String
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (bool, String)>,
{
    let started = Instant::now();
    loop {
        let (done, state) = check().await;
        if done {
            return state;
        }
        assert!(started.elapsed() < timeout, "{what} within {timeout:?}; last seen: {state}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn unschedulable(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|conditions| {
        conditions.iter().any(|c| {
            c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable")
        })
    })
}

fn running_on(pod: &Pod, node: &str) -> bool {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node)
        && pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

#[tokio::test]
async fn pending_pods_wait_for_a_node_then_run_on_a_kwok_node() {
    let client = karpenter_test_support::cluster().await.unwrap_or_else(|e| panic!("{e}"));
    let run = format!("harness-{}", std::process::id());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": run}})).unwrap())
        .await
        .unwrap();

    // A deployment of pause pods that only fit on KWOK nodes of this run.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &run);
    let deployment = json!({
        "metadata": {"name": "pause"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "pause"}},
            "template": {
                "metadata": {"labels": {"app": "pause"}},
                "spec": {
                    "nodeSelector": {"harness-run": run},
                    "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
                    "containers": [{
                        "name": "pause",
                        "image": "registry.k8s.io/pause:3.10",
                        "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}
                    }]
                }
            }
        }
    });
    deployments.create(&PostParams::default(), &serde_json::from_value(deployment).unwrap()).await.unwrap();

    let pods: Api<Pod> = Api::namespaced(client.clone(), &run);
    let list = || async { pods.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default() };
    eventually("the scheduler marks 3 pods Unschedulable", Duration::from_secs(60), || async {
        let all = list().await;
        let marked = all.iter().filter(|p| unschedulable(p)).count();
        (all.len() == 3 && marked == 3, format!("{} pods, {marked} unschedulable", all.len()))
    })
    .await;

    // A KWOK-managed node with room for all of them.
    let node_name = format!("{run}-node");
    let node = json!({
        "metadata": {
            "name": node_name,
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {"harness-run": run, "kubernetes.io/hostname": node_name, "type": "kwok"}
        },
        "spec": {"taints": [{"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}]},
        "status": {
            "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}
        }
    });
    let nodes: Api<Node> = Api::all(client.clone());
    nodes.create(&PostParams::default(), &serde_json::from_value(node).unwrap()).await.unwrap();

    eventually("the 3 pods are bound to the KWOK node and Running", Duration::from_secs(90), || async {
        let all = list().await;
        let running = all.iter().filter(|p| running_on(p, &node_name)).count();
        (running == 3, format!("{running} of {} running on {node_name}", all.len()))
    })
    .await;

    nodes.delete(&node_name, &Default::default()).await.unwrap();
}

#[tokio::test]
async fn the_aws_sdk_talks_to_moto() {
    let config = karpenter_test_support::moto().await.unwrap_or_else(|e| panic!("{e}"));
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let zones =
        ec2.describe_availability_zones().send().await.expect("moto answers DescribeAvailabilityZones");
    let names: Vec<String> =
        zones.availability_zones().iter().filter_map(|z| z.zone_name().map(str::to_string)).collect();
    assert!(names.iter().any(|z| z == "us-east-1a"), "moto's zones for us-east-1: {names:?}");
}
