//! Disruption on the real API server: an under-utilised node is consolidated onto a cheaper replacement (the
//! replacement launched and initialised first, the pod moved by its ReplicaSet); a budget of `nodes: "0"` keeps
//! empty nodes, and a do-not-disrupt pod or a PodDisruptionBudget an under-utilised one, with an event saying why;
//! NodeClaims of a changed template are replaced as drifted, and expired ones are replaced.
#![cfg(feature = "cluster-tests")]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use k8s_openapi::api::events::v1::Event;
use karpenter_api::NodeClaim;
use serde_json::json;

use super::common::{World, eventually, log_lines, with_world};

/// The cheapest on-demand price of a KWOK instance type.
fn price(instance_type: &str) -> f64 {
    karpenter_kwok::instance_types()
        .iter()
        .find(|t| t.name == instance_type)
        .and_then(|t| {
            t.offerings.iter().filter(|o| o.capacity_type == "on-demand").map(|o| o.price).reduce(f64::min)
        })
        .unwrap_or_else(|| panic!("{instance_type} is a KWOK instance type"))
}

fn instance_type(claim: &NodeClaim) -> String {
    claim
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("node.kubernetes.io/instance-type"))
        .cloned()
        .unwrap_or_default()
}

/// Events in `default` (where events about cluster-scoped objects go) of a reason about one of `names`.
async fn events_about(world: &World, reason: &str, names: &BTreeSet<String>) -> Vec<Event> {
    let events: kube::Api<Event> = kube::Api::namespaced(world.client.clone(), "default");
    let list = events.list(&Default::default()).await.map(|l| l.items).unwrap_or_default();
    list.into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_ref()).is_some_and(|n| names.contains(n)))
        .collect()
}

#[tokio::test]
async fn an_underutilized_node_is_consolidated_onto_a_cheaper_replacement() {
    with_world("consolidate", |world, slot| async move {
        let controller = world.controller("controller", None).await;
        *slot.lock().await = Some(controller);
        world
            .node_pool(json!({"disruption": {
                "consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "5s"
            }}))
            .await;
        world.deployment("inflate", 6, "1", "1Gi").await;
        world.wait_running(6, Duration::from_secs(120)).await;
        let before = world.node_claims().await;
        let names: BTreeSet<String> = before.iter().filter_map(|c| c.metadata.name.clone()).collect();
        let before_price: f64 = before.iter().map(|c| price(&instance_type(c))).sum();
        // Five of six pods go: what is left fits a smaller, cheaper node.
        let started = Instant::now();
        world.scale("inflate", 1).await;
        let outcome = eventually("the node is replaced by a cheaper one", Duration::from_secs(240), || async {
            let claims = world.node_claims().await;
            let nodes = world.nodes().await;
            let replaced = claims.len() == 1
                && nodes.len() == 1
                && !names.contains(claims[0].metadata.name.as_deref().unwrap_or_default());
            let running = world.pods().await.iter().filter(|p| super::common::running(p)).count();
            let shown: Vec<String> = claims.iter().map(instance_type).collect();
            (replaced && running == 1, format!("claims {shown:?}, {} nodes, {running} running", nodes.len()))
        })
        .await;
        let after = world.node_claims().await;
        let after_price = price(&instance_type(&after[0]));
        println!(
            "consolidation: {outcome} {:.1} s after the scale-down; ${before_price:.4}/h -> ${after_price:.4}/h",
            started.elapsed().as_secs_f64()
        );
        assert!(after_price < before_price, "cheaper: {before_price} -> {after_price}");
        let slot = slot.lock().await;
        let log = slot.as_ref().unwrap().log_text();
        let commands = log_lines(&log, "disrupting node(s)");
        assert!(
            commands.iter().any(|l| l["fields"]["command"]
                .as_str()
                .is_some_and(|c| c.starts_with("Underutilized/") && c.contains("replace"))),
            "a replace command: {commands:?}"
        );
        let launching =
            events_about(&world, "DisruptionLaunching", &after.iter().filter_map(|c| c.metadata.name.clone()).collect())
                .await;
        assert!(!launching.is_empty(), "the replacement said it was launching");
    })
    .await;
}

#[tokio::test]
async fn a_budget_of_zero_nodes_keeps_empty_nodes_with_an_event() {
    with_world("budget", |world, slot| async move {
        let controller = world.controller("controller", None).await;
        *slot.lock().await = Some(controller);
        world.node_pool(json!({"disruption": {"consolidateAfter": "5s", "budgets": [{"nodes": "0"}]}})).await;
        world.deployment("inflate", 5, "1", "1Gi").await;
        world.wait_running(5, Duration::from_secs(120)).await;
        let nodes: BTreeSet<String> =
            world.nodes().await.iter().filter_map(|n| n.metadata.name.clone()).collect();
        world.scale("inflate", 0).await;
        world.wait_running(0, Duration::from_secs(60)).await;
        // (Right after provisioning a node is nominated for its pods, which blocks disruption too and says so.)
        let note = "Empty budget allows 0 more disruption(s)";
        eventually("each empty node says why it stays", Duration::from_secs(90), || async {
            let events = events_about(&world, "DisruptionBlocked", &nodes).await;
            let about: BTreeSet<String> = events
                .iter()
                .filter(|e| e.note.as_deref() == Some(note))
                .filter_map(|e| e.regarding.as_ref()?.name.clone())
                .collect();
            let notes: BTreeSet<String> = events.iter().filter_map(|e| e.note.clone()).collect();
            (about == nodes, format!("{notes:?}"))
        })
        .await;
        // Well past consolidateAfter, the validation period and a few polls: every node is still there, untainted.
        tokio::time::sleep(Duration::from_secs(30)).await;
        let still: Vec<k8s_openapi::api::core::v1::Node> = world.nodes().await;
        assert_eq!(still.len(), nodes.len(), "no node was removed");
        for node in &still {
            let taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
            assert!(!taints.iter().any(|t| t.key == "karpenter.sh/disrupted"), "{taints:?}");
        }
        println!("budget: {} empty node(s) kept under nodes: \"0\": {note}", nodes.len());
    })
    .await;
}

/// Waits for a `DisruptionBlocked` event on one of `nodes` whose note contains `says`; returns the note.
async fn blocked_because(world: &World, nodes: &BTreeSet<String>, says: &str) -> String {
    eventually(&format!("a DisruptionBlocked event saying {says:?}"), Duration::from_secs(120), || async {
        let events = events_about(world, "DisruptionBlocked", nodes).await;
        let notes: BTreeSet<String> = events.iter().filter_map(|e| e.note.clone()).collect();
        (notes.iter().any(|n| n.contains(says)), format!("{notes:?}"))
    })
    .await
}

#[tokio::test]
async fn pods_that_may_not_be_evicted_keep_an_underutilized_node_with_an_event() {
    with_world("blockers", |world, slot| async move {
        let controller = world.controller("controller", None).await;
        *slot.lock().await = Some(controller);
        world
            .node_pool(json!({"disruption": {
                "consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "5s"
            }}))
            .await;
        // The shape of the consolidation test above, whose last pod would move to a cheaper node, but the pods
        // may not be disrupted.
        let mut deployment = world.deployment_object("inflate", 6, "1", "1Gi");
        deployment["spec"]["template"]["metadata"]["annotations"] =
            json!({"karpenter.sh/do-not-disrupt": "true"});
        let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
            kube::Api::namespaced(world.client.clone(), &world.id);
        deployments.create(&Default::default(), &serde_json::from_value(deployment).unwrap()).await.unwrap();
        world.wait_running(6, Duration::from_secs(120)).await;
        world.scale("inflate", 1).await;
        world.wait_running(1, Duration::from_secs(60)).await;
        let nodes: BTreeSet<String> =
            world.nodes().await.iter().filter_map(|n| n.metadata.name.clone()).collect();
        let note = blocked_because(&world, &nodes, "karpenter.sh/do-not-disrupt=true").await;
        println!("blockers: do-not-disrupt: {note}");

        // The annotation goes (a rollout replaces the pod) and a PodDisruptionBudget that allows no eviction
        // takes over.
        let budgets: kube::Api<k8s_openapi::api::policy::v1::PodDisruptionBudget> =
            kube::Api::namespaced(world.client.clone(), &world.id);
        let budget = json!({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "inflate", "namespace": world.id},
            "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "inflate"}}}
        });
        budgets.create(&Default::default(), &serde_json::from_value(budget).unwrap()).await.unwrap();
        let unannotated = json!({"spec": {"template": {"metadata": {"annotations": null}}}});
        deployments
            .patch("inflate", &Default::default(), &kube::api::Patch::Merge(unannotated))
            .await
            .unwrap();
        eventually("the rollout leaves one pod without the annotation", Duration::from_secs(90), || async {
            let pods = world.pods().await;
            let running: Vec<_> = pods.iter().filter(|p| super::common::running(p)).collect();
            let bare = running.len() == 1
                && pods.len() == 1
                && running[0]
                    .metadata
                    .annotations
                    .as_ref()
                    .is_none_or(|a| !a.contains_key("karpenter.sh/do-not-disrupt"));
            (bare, format!("{} pods, {} running", pods.len(), running.len()))
        })
        .await;
        let nodes: BTreeSet<String> =
            world.nodes().await.iter().filter_map(|n| n.metadata.name.clone()).collect();
        let note = blocked_because(&world, &nodes, "PodDisruptionBudget").await;
        println!("blockers: PDB: {note}");
        // Well past consolidateAfter, the validation period and a few polls: the nodes stay, untainted.
        tokio::time::sleep(Duration::from_secs(30)).await;
        let still: BTreeSet<String> =
            world.nodes().await.iter().filter_map(|n| n.metadata.name.clone()).collect();
        assert!(nodes.is_subset(&still), "no node was removed: {nodes:?} -> {still:?}");
        for node in world.nodes().await {
            let taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
            assert!(!taints.iter().any(|t| t.key == "karpenter.sh/disrupted"), "{taints:?}");
        }
    })
    .await;
}

/// The NodeClaims' names.
async fn claim_names(world: &World) -> BTreeSet<String> {
    world.node_claims().await.iter().filter_map(|c| c.metadata.name.clone()).collect()
}

/// Waits until every NodeClaim of `before` is gone and `running` pods run on NodeClaims made since.
async fn replaced(world: &World, before: &BTreeSet<String>, running: usize, what: &str) -> String {
    eventually(what, Duration::from_secs(240), || async {
        let now = claim_names(world).await;
        let pods = world.pods().await.iter().filter(|p| super::common::running(p)).count();
        (
            now.is_disjoint(before) && !now.is_empty() && pods == running,
            format!("claims {now:?}, {pods} running"),
        )
    })
    .await
}

#[tokio::test]
async fn node_claims_of_a_changed_template_are_replaced_as_drifted() {
    with_world("replace", |world, slot| async move {
        let controller = world.controller("controller", None).await;
        *slot.lock().await = Some(controller);
        world.node_pool(json!({"disruption": {"consolidateAfter": "Never"}})).await;
        world.deployment("inflate", 2, "1", "1Gi").await;
        world.wait_running(2, Duration::from_secs(120)).await;
        let before = claim_names(&world).await;

        // Drift: a label added to the NodePool's template changes its hash.
        let started = Instant::now();
        let pools: kube::Api<karpenter_api::NodePool> = kube::Api::all(world.client.clone());
        let labelled = json!({"spec": {"template": {"metadata": {"labels": {"example.com/team": "b"}}}}});
        pools.patch(&world.id, &Default::default(), &kube::api::Patch::Merge(labelled)).await.unwrap();
        replaced(&world, &before, 2, "the drifted NodeClaims are replaced").await;
        let after = world.node_claims().await;
        for claim in &after {
            let labels = claim.metadata.labels.clone().unwrap_or_default();
            assert_eq!(
                labels.get("example.com/team").map(String::as_str),
                Some("b"),
                "launched from the new template"
            );
        }
        println!(
            "replace: drift: {} NodeClaim(s) replaced in {:.1} s",
            before.len(),
            started.elapsed().as_secs_f64()
        );
        let slot_log = slot.lock().await.as_ref().unwrap().log_text();
        assert!(
            log_lines(&slot_log, "disrupting node(s)")
                .iter()
                .any(|l| l["fields"]["command"].as_str().is_some_and(|c| c.starts_with("Drifted/"))),
            "a drift command was logged"
        );
    })
    .await;
}

#[tokio::test]
async fn an_expired_node_claim_is_replaced() {
    with_world("expire", |world, slot| async move {
        let controller = world.controller("controller", None).await;
        *slot.lock().await = Some(controller);
        let expiring = json!({
            "disruption": {"consolidateAfter": "Never"},
            "template": {"spec": {"expireAfter": "45s"}}
        });
        world.node_pool(expiring).await;
        world.deployment("inflate", 2, "1", "1Gi").await;
        world.wait_running(2, Duration::from_secs(120)).await;
        let before = claim_names(&world).await;
        let started = Instant::now();
        // Each NodeClaim is deleted once 45 s old, at once and outside budgets, and its pods get a new one.
        replaced(&world, &before, 2, "the expired NodeClaims are replaced").await;
        println!(
            "expire: {} NodeClaim(s) replaced {:.1} s after their pods ran",
            before.len(),
            started.elapsed().as_secs_f64()
        );
        let log = slot.lock().await.as_ref().unwrap().log_text();
        let expired = log_lines(&log, "deleting expired nodeclaim");
        assert!(
            expired.iter().any(|l| l["fields"]["nodeclaim"].as_str().is_some_and(|n| before.contains(n))),
            "the expiration was logged: {expired:?}"
        );
    })
    .await;
}
