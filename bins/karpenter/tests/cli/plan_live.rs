#![cfg(feature = "cluster-tests")]
//! `karpenter plan --live` against the local test cluster (`cargo xtask cluster up`): a pod the real scheduler
//! marks Unschedulable is planned onto the NodePool it selects. Other tests share the cluster, so the objects here
//! carry unique names and the assertions look only at them.

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

/// Installs the CRDs (server-side apply, as every cluster test may) and waits until they are served.
async fn install_crds(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let apply = PatchParams::apply("karpenter-plan-tests").force();
    for crd in karpenter_api::crds::all().unwrap() {
        let name = crd.metadata.name.clone().unwrap();
        crds.patch(&name, &apply, &Patch::Apply(&crd)).await.unwrap();
        for _ in 0..100 {
            let conditions =
                crds.get(&name).await.unwrap().status.and_then(|s| s.conditions).unwrap_or_default();
            if conditions.iter().any(|c| c.type_ == "Established" && c.status == "True") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn custom(client: &kube::Client, group: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural);
    Api::all_with(client.clone(), &resource)
}

/// Waits until the scheduler has marked the pod Unschedulable.
async fn unschedulable(pods: &Api<Pod>, name: &str) -> bool {
    for _ in 0..120 {
        let pod = pods.get(name).await.unwrap();
        let conditions = pod.status.and_then(|s| s.conditions).unwrap_or_default();
        if conditions
            .iter()
            .any(|c| c.type_ == "PodScheduled" && c.reason.as_deref() == Some("Unschedulable"))
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}

#[tokio::test]
async fn live_plans_a_pending_pod_onto_the_node_pool_it_selects() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig = karpenter_test_support::kubeconfig_path();
    let client = karpenter_test_support::cluster().await.unwrap_or_else(|e| panic!("{e}"));
    install_crds(&client).await;
    let name = format!("plan-live-{}", std::process::id());
    let node_classes = custom(&client, "karpenter.k8s.aws", "EC2NodeClass", "ec2nodeclasses");
    let node_pools = custom(&client, "karpenter.sh", "NodePool", "nodepools");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let create = PostParams::default();
    let object = |value: Value| serde_json::from_value::<DynamicObject>(value).unwrap();
    node_classes
        .create(
            &create,
            &object(json!({
                "apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": {"name": name},
                "spec": {"amiSelectorTerms": [{"alias": "al2023@latest"}], "role": "KarpenterNodeRole-test",
                         "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": name}}],
                         "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": name}}]}
            })),
        )
        .await
        .unwrap();
    node_pools
        .create(
            &create,
            &object(json!({
                "apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": name},
                "spec": {"template": {"spec": {
                    "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": name},
                    "requirements": [
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]},
                        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                        {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["m7g"]}]}}}
            })),
        )
        .await
        .unwrap();
    namespaces
        .create(&create, &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap())
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &name);
    pods.create(
        &create,
        &serde_json::from_value(json!({
            "metadata": {"name": "waiting"},
            "spec": {"nodeSelector": {"karpenter.sh/nodepool": name},
                     "containers": [{"name": "app", "image": "example.com/app",
                                     "resources": {"requests": {"cpu": "3", "memory": "1Gi"}}}]}
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    let marked = unschedulable(&pods, "waiting").await;
    let output = Command::new(env!("CARGO_BIN_EXE_karpenter"))
        .args(["plan", "--live", "-o", "json", "--kubeconfig"])
        .arg(&kubeconfig)
        .output()
        .unwrap();

    // Clean up before judging, so that a failure leaves nothing behind. The harness runs no namespace controller,
    // so the pod is deleted by itself.
    let _ = pods
        .delete("waiting", &DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() })
        .await;
    let _ = namespaces.delete(&name, &DeleteParams::default()).await;
    let _ = node_pools.delete(&name, &DeleteParams::default()).await;
    let _ = node_classes.delete(&name, &DeleteParams::default()).await;

    assert!(marked, "the scheduler never marked the pod Unschedulable");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Other tests' objects may be refused (status 2); the plan is printed either way.
    assert!(matches!(output.status.code(), Some(0 | 2)), "{stderr}");
    let plan: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(plan["settings"]["source"], "live");
    let ours: Vec<&Value> =
        plan["launch"].as_array().unwrap().iter().filter(|l| l["nodePool"] == name.as_str()).collect();
    assert_eq!(ours.len(), 1, "{}", serde_json::to_string_pretty(&plan["launch"]).unwrap());
    assert_eq!(ours[0]["pods"], json!([format!("{name}/waiting")]));
    assert_eq!(ours[0]["instanceType"], "m7g.xlarge", "the cheapest m7g that holds 3 CPUs");
    assert_eq!(ours[0]["capacityType"], "on-demand");
}
