//! The last pod event of each NodeClaim (`kubernetes-sigs/karpenter: pkg/controllers/nodeclaim/podevents/
//! controller.go`): when a pod binds to a node, finishes, starts terminating or goes away, the node's NodeClaim
//! gets `status.lastPodEventTime`. Consolidation counts `consolidateAfter` from that time, so an emptied node is
//! kept for `consolidateAfter` after its last pod left rather than after it was initialised.
//!
//! Which pods changed in a way that counts is decided from two consecutive states of the store
//! ([`touched`]); the write is deduplicated: a NodeClaim whose time is less than [`DEDUPE`] old is left alone,
//! as upstream does to keep a busy node from writing its NodeClaim on every pod.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use karpenter_cloud::CloudProvider;

use crate::clock::{Clock, since};
use crate::context::Context;
use crate::error::Result;
use crate::lifecycle::{Requeue, is_managed};
use crate::store::{Cluster, ClusterState};
use crate::termination::claim_of;

/// A NodeClaim's last pod event time is not rewritten within this long of the last one.
pub const DEDUPE: Duration = Duration::from_secs(10);

fn key(pod: &Pod) -> (&str, &str) {
    (karpenter_snapshot::namespace(pod), pod.metadata.name.as_deref().unwrap_or_default())
}

/// The NodeClaims (by name) whose nodes saw a pod event between `previous` and `next`, among the pods named in
/// `changed` (namespace, name): a pod bound to a node, a bound pod that finished or started terminating, and a
/// bound pod that is gone. DaemonSet pods do not count, as upstream.
pub fn touched(
    previous: &ClusterState,
    next: &ClusterState,
    changed: &BTreeSet<(String, String)>,
) -> BTreeSet<String> {
    let is_changed = |pod: &Pod| {
        let (namespace, name) = key(pod);
        changed.contains(&(namespace.to_string(), name.to_string()))
    };
    let before: BTreeMap<(&str, &str), &Pod> =
        previous.objects.pods.iter().filter(|p| is_changed(p)).map(|p| (key(p), &**p)).collect();
    let after: BTreeMap<(&str, &str), &Pod> =
        next.objects.pods.iter().filter(|p| is_changed(p)).map(|p| (key(p), &**p)).collect();
    let mut nodes: BTreeSet<&str> = BTreeSet::new();
    for (pod_key, pod) in &after {
        let Some(node) = karpenter_snapshot::node_name(pod) else { continue };
        if karpenter_snapshot::is_owned_by_daemon_set(pod) {
            continue;
        }
        let old = before.get(pod_key);
        let bound = old.is_none_or(|o| karpenter_snapshot::node_name(o).is_none());
        let terminal =
            karpenter_snapshot::is_terminal(pod) && !old.is_some_and(|o| karpenter_snapshot::is_terminal(o));
        let terminating = karpenter_snapshot::is_terminating(pod)
            && !old.is_some_and(|o| karpenter_snapshot::is_terminating(o));
        if bound || terminal || terminating {
            nodes.insert(node);
        }
    }
    for (pod_key, pod) in &before {
        if after.contains_key(pod_key) || karpenter_snapshot::is_owned_by_daemon_set(pod) {
            continue;
        }
        if let Some(node) = karpenter_snapshot::node_name(pod) {
            nodes.insert(node);
        }
    }
    nodes
        .into_iter()
        .filter_map(|name| {
            // A node that went too is looked up where it was.
            let node = next.node(name).or_else(|| previous.node(name))?;
            claim_of(next, node).and_then(|c| c.metadata.name.clone())
        })
        .collect()
}

/// Records a pod event on a NodeClaim now, unless it has one younger than [`DEDUPE`].
pub async fn reconcile<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    name: &str,
) -> Result<Requeue> {
    let state = ctx.cluster.state();
    let Some(stored) = state.node_claim(name) else { return Ok(Requeue::NONE) };
    if !is_managed(stored, ctx.provider.as_ref()) || stored.metadata.deletion_timestamp.is_some() {
        return Ok(Requeue::NONE);
    }
    let now = ctx.now();
    let last = stored.status.as_ref().and_then(|s| s.last_pod_event_time.as_ref());
    if last.is_some_and(|t| since(now, t.0) < DEDUPE) {
        return Ok(Requeue::NONE);
    }
    let mut claim = (**stored).clone();
    claim.status.get_or_insert_with(Default::default).last_pod_event_time = Some(Time(now));
    match ctx.cluster.update_node_claim_status(&claim).await {
        Ok(_) => Ok(Requeue::NONE),
        Err(error) if error.is_not_found() => Ok(Requeue::NONE),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use karpenter_api::NodeClaim;
    use serde_json::json;

    use super::*;
    use crate::testing::pending_pod;

    fn state(pods: Vec<Pod>) -> ClusterState {
        let mut state = ClusterState { synced: true, ..ClusterState::default() };
        let node: k8s_openapi::api::core::v1::Node = serde_json::from_value(json!({
            "metadata": {"name": "n1"}, "spec": {"providerID": "fake://1"}
        }))
        .unwrap();
        let claim: NodeClaim = serde_json::from_value(json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
            "metadata": {"name": "c1"},
            "spec": {"requirements": [], "nodeClassRef": {"group": "g", "kind": "K", "name": "n"}},
            "status": {"providerID": "fake://1", "nodeName": "n1"}
        }))
        .unwrap();
        state.objects.nodes.push(Arc::new(node));
        state.objects.node_claims.push(Arc::new(claim));
        state.objects.pods = pods.into_iter().map(Arc::new).collect();
        state
    }

    fn bound(name: &str) -> Pod {
        let mut pod = pending_pod(name, "1");
        pod.spec.as_mut().unwrap().node_name = Some("n1".into());
        pod.status = None;
        pod
    }

    fn changed(names: &[&str]) -> BTreeSet<(String, String)> {
        names.iter().map(|n| ("shop".to_string(), n.to_string())).collect()
    }

    #[test]
    fn binding_finishing_and_leaving_are_pod_events_and_other_changes_are_not() {
        let pending = state(vec![pending_pod("a", "1")]);
        let running = state(vec![bound("a")]);
        assert_eq!(touched(&pending, &running, &changed(&["a"])), BTreeSet::from(["c1".to_string()]));
        // A change to a pod that stays bound and active (a label, a status condition) is not.
        assert!(touched(&running, &running, &changed(&["a"])).is_empty());
        // Changes to other pods are not looked at.
        assert!(touched(&pending, &running, &changed(&["b"])).is_empty());
        let mut done = bound("a");
        done.status = Some(serde_json::from_value(json!({"phase": "Succeeded"})).unwrap());
        assert_eq!(touched(&running, &state(vec![done]), &changed(&["a"])).len(), 1);
        assert_eq!(touched(&running, &state(Vec::new()), &changed(&["a"])).len(), 1, "a pod that went away");
        let mut daemon = bound("d");
        daemon.metadata.owner_references =
            Some(vec![serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds", "uid": "ds", "controller": true
        }))
        .unwrap()]);
        assert!(touched(&state(Vec::new()), &state(vec![daemon]), &changed(&["d"])).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_time_is_written_at_most_once_per_dedupe_window() {
        let ctx = crate::testing::context(crate::testing::provider());
        ctx.cluster.apply(crate::testing::node_pool("default", None));
        ctx.cluster.apply(pending_pod("a", "500m"));
        let cache = crate::provisioner::PreparedCache::default();
        let outcome = crate::provisioner::provision(&ctx, &cache).await.unwrap();
        let name = outcome.created[0].clone();
        let time = |ctx: &crate::testing::TestContext| {
            ctx.cluster
                .get::<NodeClaim>("", &name)
                .unwrap()
                .status
                .as_ref()
                .unwrap()
                .last_pod_event_time
                .clone()
        };
        reconcile(&ctx, &name).await.unwrap();
        let first = time(&ctx).expect("written");
        tokio::time::sleep(Duration::from_secs(5)).await;
        reconcile(&ctx, &name).await.unwrap();
        assert_eq!(time(&ctx), Some(first.clone()), "within the dedupe window");
        tokio::time::sleep(Duration::from_secs(6)).await;
        reconcile(&ctx, &name).await.unwrap();
        assert!(time(&ctx).unwrap().0 > first.0);
    }
}
