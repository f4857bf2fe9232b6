//! The seed document's validation steps as a test: a NodePool shaped like the seed's, `inflate` (pause) created
//! with 0 replicas and scaled to 5; NodeClaims are created, KWOK nodes register and become Ready, all 5 pods run,
//! with exactly as many nodes as the solver plans for those pods and no duplicate claims. Then scaled to 0: the
//! empty nodes go by the controller's emptiness disruption once `consolidateAfter` has passed.
#![cfg(feature = "cluster-tests")]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::events::v1::Event;
use karpenter_api::labels::condition;
use karpenter_snapshot::{RoundOptions, Snapshot};
use serde_json::json;

use super::common::{World, eventually, log_lines, metric_sum, with_world};

/// The NodeClaims the solver plans for `replicas` pods of the world's `inflate` on its NodePool, computed here
/// from the same objects with the same mapping, provider catalogue and solver the controller uses.
pub(crate) async fn planned_claims(world: &World, deployment: &str, replicas: usize) -> usize {
    let pools: kube::Api<karpenter_api::NodePool> = kube::Api::all(world.client.clone());
    let pool = pools.get(&world.id).await.unwrap();
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(world.client.clone(), &world.id);
    let template = deployments.get(deployment).await.unwrap().spec.unwrap().template;
    let mut snapshot = Snapshot::new();
    snapshot.node_pools.push(Arc::new(pool));
    for i in 0..replicas {
        let mut pod = serde_json::to_value(&template).unwrap();
        pod["apiVersion"] = json!("v1");
        pod["kind"] = json!("Pod");
        pod["metadata"]["name"] = json!(format!("{deployment}-{i}"));
        pod["metadata"]["namespace"] = json!(world.id);
        pod["metadata"]["uid"] = json!(format!("uid-{i}"));
        pod["status"] = json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]});
        assert!(snapshot.add(pod).is_empty());
    }
    let types = karpenter_kwok::instance_types().to_vec();
    let round = snapshot.provisioning_round(
        [(world.id.clone(), types)].into(),
        &RoundOptions { now: k8s_openapi::jiff::Timestamp::now(), require_ready_node_pools: false },
    );
    let plan = karpenter_solver::solve(&round.problem, &karpenter_kwok::solver_config());
    assert!(plan.unschedulable.is_empty(), "every pod fits: {}", plan.render());
    plan.new_node_claims.len()
}

#[tokio::test]
async fn the_seed_validation_scales_inflate_up_and_down() {
    with_world("seed", |world, slot| async move {
        let controller = world.controller("controller", None).await;
        *slot.lock().await = Some(controller);
        world.node_pool(json!({"disruption": {"consolidateAfter": "5s"}})).await;
        // `kubectl create deployment inflate --image=...pause --replicas=0`, with requests so that nodes are needed.
        world.deployment("inflate", 0, "1", "1Gi").await;
        let pools: kube::Api<karpenter_api::NodePool> = kube::Api::all(world.client.clone());
        eventually("the NodePool is Ready", Duration::from_secs(30), || async {
            let pool = pools.get(&world.id).await.unwrap();
            let conditions = pool.status.and_then(|s| s.conditions).unwrap_or_default();
            let ready = conditions.iter().any(|c| c.type_ == condition::READY && c.status == "True");
            (ready, format!("{conditions:?}"))
        })
        .await;

        // `kubectl scale deployment inflate --replicas=5`.
        let started = Instant::now();
        world.scale("inflate", 5).await;
        world.wait_running(5, Duration::from_secs(120)).await;
        let elapsed = started.elapsed();
        let claims = world.node_claims().await;
        let nodes = world.nodes().await;
        let planned = planned_claims(&world, "inflate", 5).await;
        println!(
            "seed: 5 pods running {:.1} s after the scale-up, on {} node(s) from {} NodeClaim(s); the solver plans {planned}",
            elapsed.as_secs_f64(),
            nodes.len(),
            claims.len()
        );
        assert_eq!(claims.len(), planned, "as many NodeClaims as the solver plans");
        assert_eq!(nodes.len(), planned, "one node per NodeClaim");
        let provider_ids: BTreeSet<String> =
            claims.iter().filter_map(|c| c.status.as_ref()?.provider_id.clone()).collect();
        assert_eq!(provider_ids.len(), claims.len(), "no two claims share an instance");
        for claim in &claims {
            let conditions = claim.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
            assert!(
                conditions.iter().any(|c| c.type_ == condition::READY && c.status == "True"),
                "{:?} is Ready: {conditions:?}",
                claim.metadata.name
            );
        }
        for node in &nodes {
            let labels = node.metadata.labels.clone().unwrap_or_default();
            assert_eq!(labels.get("kubernetes.io/arch").map(String::as_str), Some("arm64"));
            assert_eq!(labels.get("karpenter.sh/capacity-type").map(String::as_str), Some("on-demand"));
            assert_eq!(labels.get("karpenter.sh/initialized").map(String::as_str), Some("true"));
            let taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
            assert!(!taints.iter().any(|t| t.key == "karpenter.sh/unregistered"), "registered: {taints:?}");
        }
        {
            let slot = slot.lock().await;
            let log = slot.as_ref().unwrap().log_text();
            let rounds = log_lines(&log, "computed new nodeclaim(s) to fit pod(s)");
            let created: u64 = rounds.iter().filter_map(|l| l["fields"]["nodeclaims"].as_u64()).sum();
            assert_eq!(created as usize, claims.len(), "the rounds created exactly the claims that exist: {rounds:?}");
        }

        // `kubectl scale deployment inflate --replicas=0`: the pods go, and once `consolidateAfter` (5 s here) has
        // passed the disruption controller deletes the empty nodes by emptiness (WhenEmpty), within the default
        // budget of 10% of the pool's nodes at a time, through the termination path (drain, instance termination,
        // finalizers).
        let claim_names: BTreeSet<String> =
            world.node_claims().await.iter().filter_map(|c| c.metadata.name.clone()).collect();
        let scaled_down = Instant::now();
        world.scale("inflate", 0).await;
        world.wait_running(0, Duration::from_secs(60)).await;
        eventually("every empty node and its NodeClaim is removed", Duration::from_secs(240), || async {
            let (claims, nodes) = (world.node_claims().await.len(), world.nodes().await.len());
            (claims == 0 && nodes == 0, format!("{claims} claims, {nodes} nodes"))
        })
        .await;
        let gone = scaled_down.elapsed();
        println!(
            "seed: scale-down: {} empty node(s) removed by emptiness {:.1} s after scaling inflate to 0 \
             (consolidateAfter 5 s, 15 s validation, 10 s polling, budget 10%)",
            claim_names.len(),
            gone.as_secs_f64()
        );
        // Each NodeClaim was disrupted by the controller, which said so.
        let events: kube::Api<Event> = kube::Api::namespaced(world.client.clone(), "default");
        let list = events.list(&Default::default()).await.unwrap().items;
        let terminating: BTreeSet<String> = list
            .iter()
            .filter(|e| e.reason.as_deref() == Some("DisruptionTerminating"))
            .filter_map(|e| e.regarding.as_ref()?.name.clone())
            .filter(|name| claim_names.contains(name))
            .collect();
        assert_eq!(terminating, claim_names, "a DisruptionTerminating event on every NodeClaim");
        {
            let slot = slot.lock().await;
            let log = slot.as_ref().unwrap().log_text();
            let commands = log_lines(&log, "disrupting node(s)");
            assert!(!commands.is_empty(), "the controller logged its commands");
            assert!(
                commands.iter().all(|l| l["fields"]["command"].as_str().is_some_and(|c| c.starts_with("Empty/emptiness"))),
                "{commands:?}"
            );
        }
        // What a Prometheus scrape of the controller shows after the scenario: upstream's names, and counts that
        // agree with what happened.
        {
            let slot = slot.lock().await;
            let text = slot.as_ref().unwrap().metrics();
            let pool = world.id.as_str();
            let launched = claim_names.len() as f64;
            let count = |name: &str, labels: &[(&str, &str)]| metric_sum(&text, name, labels);
            let nodepool = [("nodepool", pool)];
            assert_eq!(count("karpenter_nodeclaims_created_total", &nodepool), launched, "{text}");
            assert_eq!(count("karpenter_nodeclaims_terminated_total", &nodepool), launched, "{text}");
            assert_eq!(count("karpenter_nodeclaims_disrupted_total", &[("reason", "empty"), ("nodepool", pool)]), launched);
            assert_eq!(count("karpenter_nodes_created_total", &nodepool), launched, "{text}");
            assert_eq!(count("karpenter_nodes_terminated_total", &nodepool), launched, "{text}");
            let decisions = count("karpenter_voluntary_disruption_decisions_total", &[("reason", "empty")]);
            assert!(decisions >= 1.0, "at least one emptiness command: {decisions}");
            assert!(count("karpenter_provisioner_scheduling_duration_seconds_count", &[]) >= 1.0);
            assert!(count("karpenter_cloudprovider_duration_seconds_count", &[("method", "Create")]) >= launched);
            assert_eq!(count("karpenter_nodepools_limit", &[("nodepool", pool), ("resource_type", "cpu")]), 100.0);
            for name in ["karpenter_pods_startup_duration_seconds_count", "karpenter_voluntary_disruption_eligible_nodes"] {
                assert!(text.lines().any(|l| l.starts_with(name)), "{name} is exported");
            }
            println!(
                "seed: /metrics: {launched} NodeClaims created, terminated and disrupted (empty), {decisions} emptiness command(s)"
            );
        }
        // SIGTERM: the controller finishes what is in flight, releases its Lease and exits cleanly.
        let controller = slot.lock().await.take().unwrap();
        controller.stop().await;
        let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
            kube::Api::namespaced(world.client.clone(), &world.id);
        let lease = leases.get("karpenter-leader-election").await.unwrap();
        assert_eq!(lease.spec.unwrap().holder_identity, None, "the Lease was released");
    })
    .await;
}
