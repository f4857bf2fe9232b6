//! Faults: the controller killed in the middle of a launch and started again, the API server unreachable for a
//! while, the API server restarted in the middle of a launch, a pod no NodePool can hold, and a NodePool at its
//! limits.
#![cfg(feature = "cluster-tests")]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

use super::common::{eventually, with_world};
use super::proxy::Proxy;

/// Nodes of 4 vCPUs only, so that each 3-vCPU pod needs a node of its own.
fn four_cpu_nodes() -> serde_json::Value {
    json!({"template": {"spec": {"requirements": [
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
        {"key": "karpenter.kwok.sh/instance-family", "operator": "In", "values": ["c"]},
        {"key": "karpenter.kwok.sh/instance-cpu", "operator": "In", "values": ["4"]}
    ]}}})
}

#[tokio::test]
async fn a_controller_killed_mid_launch_and_restarted_leaves_no_duplicates_and_no_leaks() {
    with_world("restart", |world, slot| async move {
        world.node_pool(four_cpu_nodes()).await;
        world.deployment("inflate", 0, "3", "1Gi").await;
        let first = world.controller("first", None).await;
        world.scale("inflate", 8).await;
        // Kill it as soon as the first NodeClaim exists: the round is creating claims and launches are under way.
        eventually("a NodeClaim appears", Duration::from_secs(60), || async {
            let claims = world.node_claims().await;
            (!claims.is_empty(), format!("{} claims", claims.len()))
        })
        .await;
        first.kill();
        let claims = world.node_claims().await;
        let launched = claims
            .iter()
            .filter(|c| c.status.as_ref().and_then(|s| s.provider_id.as_ref()).is_some())
            .count();
        println!(
            "restart: killed with {} NodeClaim(s), {launched} launched, {} node(s)",
            claims.len(),
            world.nodes().await.len()
        );

        *slot.lock().await = Some(world.controller("second", None).await);
        world.wait_running(8, Duration::from_secs(120)).await;
        let claims = world.node_claims().await;
        let nodes = world.nodes().await;
        assert_eq!(claims.len(), 8, "one NodeClaim per pod, none twice");
        assert_eq!(nodes.len(), 8, "one node per NodeClaim");
        let claimed: BTreeSet<String> =
            claims.iter().filter_map(|c| c.status.as_ref()?.provider_id.clone()).collect();
        for node in &nodes {
            let id = node.spec.as_ref().and_then(|s| s.provider_id.clone()).unwrap_or_default();
            assert!(claimed.contains(&id), "node {:?} has a NodeClaim (no leaked node)", node.metadata.name);
        }
    })
    .await;
}

#[tokio::test]
async fn watches_resume_after_the_api_server_was_unreachable_and_nothing_is_lost() {
    with_world("outage", |world, slot| async move {
        let server: SocketAddr = world.api_server().trim_start_matches("https://").parse().unwrap();
        let proxy = Proxy::start(server).await;
        let through_proxy = world.dir.join("kubeconfig-proxy");
        world.write_kubeconfig(&through_proxy, Some(&format!("https://127.0.0.1:{}", proxy.port)));
        world.node_pool(four_cpu_nodes()).await;
        world.deployment("inflate", 2, "3", "1Gi").await;
        *slot.lock().await = Some(world.controller("controller", Some(&through_proxy)).await);
        world.wait_running(2, Duration::from_secs(90)).await;

        // The API server goes away for 5 s, about as long as the harness's API server takes to restart: every
        // connection drops, new ones fail. Meanwhile the workload grows.
        proxy.cut();
        world.scale("inflate", 5).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        {
            let mut slot = slot.lock().await;
            let controller = slot.as_mut().unwrap();
            assert!(controller.alive(), "the controller survives the outage");
        }
        proxy.restore();
        world.wait_running(5, Duration::from_secs(120)).await;
        let claims = world.node_claims().await;
        assert_eq!(claims.len(), 5, "the pods created during the outage got capacity once, not twice");
        assert_eq!(world.nodes().await.len(), 5);
        assert!(slot.lock().await.as_ref().unwrap().ready(), "the controller is ready again");
        // Termination works through the restored connection too; then the controller stops while the proxy is
        // still there (the cleanup after this body runs without it).
        world.scale("inflate", 0).await;
        world.wait_running(0, Duration::from_secs(60)).await;
        let claims_api: Api<karpenter_api::NodeClaim> = Api::all(world.client.clone());
        for claim in world.node_claims().await {
            claims_api.delete(claim.metadata.name.as_deref().unwrap(), &Default::default()).await.unwrap();
        }
        eventually("the NodeClaims and their nodes are gone", Duration::from_secs(60), || async {
            let (claims, nodes) = (world.node_claims().await.len(), world.nodes().await.len());
            (claims == 0 && nodes == 0, format!("{claims} claims, {nodes} nodes"))
        })
        .await;
        let controller = slot.lock().await.take().unwrap();
        controller.stop().await;
        drop(proxy);
    })
    .await;
}

#[tokio::test]
async fn the_api_server_restarted_mid_launch_loses_nothing_and_duplicates_nothing() {
    with_world("apiserver", |world, slot| async move {
        world.node_pool(four_cpu_nodes()).await;
        world.deployment("inflate", 0, "3", "1Gi").await;
        *slot.lock().await = Some(world.controller("first", None).await);
        world.scale("inflate", 4).await;
        // Restart it as soon as the first NodeClaim exists: the round is creating claims and launches are under way.
        eventually("a NodeClaim appears", Duration::from_secs(60), || async {
            let claims = world.node_claims().await;
            (!claims.is_empty(), format!("{} claims", claims.len()))
        })
        .await;
        let began = std::time::Instant::now();
        tokio::task::spawn_blocking(|| karpenter_test_support::restart_api_server(Duration::from_secs(2)))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{e}"));
        let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(world.client.clone());
        eventually("the API server answers again", Duration::from_secs(60), || async {
            let answer = nodes.list(&ListParams::default()).await;
            (answer.is_ok(), format!("{:?}", answer.err()))
        })
        .await;
        let down = began.elapsed();
        // A controller that could not renew its Lease within the renew deadline exits, as upstream's does, and
        // the Deployment's kubelet would start it again: do what the kubelet does.
        let survived = {
            let mut slot = slot.lock().await;
            let alive = slot.as_mut().unwrap().alive();
            if !alive {
                let log = slot.take().unwrap().log_text();
                assert!(
                    log.contains("lost the leader lease"),
                    "the controller exited for another reason:\n{log}"
                );
            }
            alive
        };
        if !survived {
            *slot.lock().await = Some(world.controller("second", None).await);
        }
        println!(
            "apiserver: down for {:.1} s; the controller {}",
            down.as_secs_f64(),
            if survived { "survived" } else { "lost its Lease and was started again" }
        );
        // What happens after the restart reaches the controller through its resumed watches.
        world.scale("inflate", 6).await;
        world.wait_running(6, Duration::from_secs(180)).await;
        let claims = world.node_claims().await;
        assert_eq!(claims.len(), 6, "one NodeClaim per pod, none twice");
        let claimed: BTreeSet<String> =
            claims.iter().filter_map(|c| c.status.as_ref()?.provider_id.clone()).collect();
        let nodes = world.nodes().await;
        assert_eq!(nodes.len(), 6, "one node per NodeClaim");
        for node in &nodes {
            let id = node.spec.as_ref().and_then(|s| s.provider_id.clone()).unwrap_or_default();
            assert!(claimed.contains(&id), "node {:?} has a NodeClaim (no leaked node)", node.metadata.name);
        }
        assert!(slot.lock().await.as_ref().unwrap().ready(), "the controller is ready");
    })
    .await;
}

#[tokio::test]
async fn an_impossible_pod_gets_a_warning_and_does_not_block_the_others() {
    with_world("impossible", |world, slot| async move {
        *slot.lock().await = Some(world.controller("controller", None).await);
        world.node_pool(json!({})).await;
        let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(world.client.clone(), &world.id);
        let mut huge = world.deployment_object("huge", 1, "1000", "1Gi")["spec"]["template"].clone();
        huge["metadata"]["name"] = json!("huge");
        huge["apiVersion"] = json!("v1");
        huge["kind"] = json!("Pod");
        pods.create(&PostParams::default(), &serde_json::from_value(huge).unwrap()).await.unwrap();
        world.deployment("inflate", 3, "500m", "512Mi").await;
        eventually("the other pods run", Duration::from_secs(90), || async {
            let pods = world.pods().await;
            let running = pods.iter().filter(|p| super::common::running(p)).count();
            (running == 3, format!("{running} of {} running", pods.len()))
        })
        .await;
        let events: Api<Event> = Api::namespaced(world.client.clone(), &world.id);
        let warning =
            eventually("a FailedScheduling warning names the reason", Duration::from_secs(30), || async {
                let list = events.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default();
                let found = list.iter().find(|e| {
                    e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("huge")
                        && e.reason.as_deref() == Some("FailedScheduling")
                        && e.reporting_controller.as_deref() == Some("karpenter")
                });
                (
                    found.is_some(),
                    found.and_then(|e| e.note.clone()).unwrap_or_else(|| format!("{} events", list.len())),
                )
            })
            .await;
        println!("impossible: {warning}");
        assert_eq!(
            world.node_claims().await.len(),
            1,
            "the three small pods share one node and the huge one gets none"
        );
        assert!(warning.contains("resources"), "the warning says which check failed: {warning}");
    })
    .await;
}

#[tokio::test]
async fn a_node_pool_at_its_limits_stops_launching() {
    with_world("limits", |world, slot| async move {
        *slot.lock().await = Some(world.controller("controller", None).await);
        let mut extra = four_cpu_nodes();
        extra["limits"] = json!({"cpu": "8"});
        world.node_pool(extra).await;
        world.deployment("inflate", 4, "3", "1Gi").await;
        eventually("two pods run on the two nodes the limit allows", Duration::from_secs(90), || async {
            let pods = world.pods().await;
            let running = pods.iter().filter(|p| super::common::running(p)).count();
            (running == 2, format!("{running} of {} running", pods.len()))
        })
        .await;
        // Several more rounds come and go (pending pods trigger one every 10 s); none may launch.
        tokio::time::sleep(Duration::from_secs(15)).await;
        assert_eq!(world.node_claims().await.len(), 2, "8 CPUs of limit hold two 4-CPU nodes");
        let pods = world.pods().await;
        assert_eq!(pods.iter().filter(|p| super::common::running(p)).count(), 2);
        let events: Api<Event> = Api::namespaced(world.client.clone(), &world.id);
        let list = events.list(&ListParams::default()).await.unwrap().items;
        assert!(
            list.iter().any(|e| e.reason.as_deref() == Some("FailedScheduling")
                && e.note.as_deref().is_some_and(|n| n.contains("limits"))),
            "the pending pods are told about the limit"
        );
    })
    .await;
}
