//! Garbage collection (`kubernetes-sigs/karpenter: pkg/controllers/nodeclaim/garbagecollection/controller.go`,
//! `aws/karpenter-provider-aws: pkg/controllers/nodeclaim/garbagecollection/controller.go`): a registered
//! NodeClaim whose instance the provider no longer lists, and whose node is gone or not Ready, is deleted; an
//! instance the provider runs that no NodeClaim names, and that is older than a grace period (its NodeClaim may
//! not be written yet), is terminated.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use k8s_openapi::jiff::Timestamp;
use karpenter_api::labels::condition;
use karpenter_cloud::{CloudProvider, Instance};

use crate::clock::Clock;
use crate::conditions::claim_condition;
use crate::context::Context;
use crate::error::Result;
use crate::events::{Event, Regarding, reason};
use crate::metrics::DisruptedLabels;
use crate::store::{Cluster, ClusterState};

/// What garbage collection found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Garbage {
    /// NodeClaims to delete, by name.
    pub node_claims: Vec<String>,
    /// Instances to terminate, by provider id.
    pub instances: Vec<String>,
}

fn node_ready(state: &ClusterState, provider_id: &str) -> bool {
    state.nodes_with_provider_id(provider_id).any(|n| {
        n.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

/// When each instance without a NodeClaim was first seen so, for providers that do not report launch times.
#[derive(Debug, Default)]
pub struct Orphans {
    first_seen: std::sync::Mutex<std::collections::BTreeMap<String, Timestamp>>,
}

impl Orphans {
    /// Records the instances seen without a NodeClaim now (forgetting the others) and returns, for each, since
    /// when it has been seen so.
    fn seen(&self, orphans: &[&Instance], now: Timestamp) -> std::collections::BTreeMap<String, Timestamp> {
        let mut first_seen = self.first_seen.lock().unwrap_or_else(|p| p.into_inner());
        first_seen.retain(|id, _| orphans.iter().any(|i| i.provider_id == *id));
        for instance in orphans {
            first_seen.entry(instance.provider_id.clone()).or_insert(now);
        }
        first_seen.clone()
    }
}

/// Finds the garbage, given what the provider lists. An instance without a NodeClaim is garbage once it is older
/// than `grace`: by its launch time when the provider reports one, else by when `orphans` first saw it so.
pub fn garbage(
    state: &ClusterState,
    instances: &[Instance],
    orphans: &Orphans,
    now: Timestamp,
    grace: Duration,
) -> Garbage {
    let listed: BTreeSet<&str> = instances.iter().map(|i| i.provider_id.as_str()).collect();
    let node_claims = state
        .objects
        .node_claims
        .iter()
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .filter(|c| claim_condition(c, condition::REGISTERED).is_some_and(|r| r.status == "True"))
        .filter_map(|c| Some((c, karpenter_snapshot::claim_provider_id(c)?)))
        .filter(|(_, id)| !listed.contains(id) && !node_ready(state, id))
        .map(|(c, _)| c.metadata.name.clone().unwrap_or_default())
        .collect();
    let claimed_ids: BTreeSet<&str> =
        state.objects.node_claims.iter().filter_map(|c| karpenter_snapshot::claim_provider_id(c)).collect();
    let claim_names: BTreeSet<&str> =
        state.objects.node_claims.iter().filter_map(|c| c.metadata.name.as_deref()).collect();
    let unclaimed: Vec<&Instance> = instances
        .iter()
        .filter(|i| !claimed_ids.contains(i.provider_id.as_str()))
        .filter(|i| i.node_claim.as_deref().is_none_or(|name| !claim_names.contains(name)))
        .collect();
    let first_seen = orphans.seen(&unclaimed, now);
    let wall = SystemTime::from(now);
    let instances = unclaimed
        .iter()
        .filter(|i| match i.launched_at {
            Some(at) => wall.duration_since(at).is_ok_and(|age| age >= grace),
            None => {
                first_seen.get(&i.provider_id).is_some_and(|seen| crate::clock::since(now, *seen) >= grace)
            }
        })
        .map(|i| i.provider_id.clone())
        .collect();
    Garbage { node_claims, instances }
}

/// Runs one garbage collection pass.
pub async fn collect<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    orphans: &Orphans,
) -> Result<Garbage> {
    let state = ctx.cluster.state();
    if !state.synced {
        return Ok(Garbage::default());
    }
    let instances = ctx.provider.list().await?;
    // The state may have moved on while the provider answered; the NodeClaims are read again afterwards so that a
    // claim created meanwhile is not missed.
    let state = ctx.cluster.state();
    let found = garbage(&state, &instances, orphans, ctx.now(), ctx.settings.orphan_instance_grace);
    for name in &found.node_claims {
        let Some(claim) = state.node_claim(name) else { continue };
        tracing::info!(nodeclaim = %name, "garbage collecting nodeclaim with no cloudprovider representation");
        ctx.publish(Event::normal(
            Regarding::node_claim(claim),
            reason::GARBAGE_COLLECTED,
            "NodeClaim has no cloud provider instance",
        ))
        .await;
        match ctx.cluster.delete_node_claim(name).await {
            Ok(()) => {
                ctx.metrics
                    .node_claims_disrupted
                    .get_or_create(&DisruptedLabels::of(claim, "garbage_collected"))
                    .inc();
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    for provider_id in &found.instances {
        tracing::info!(provider_id = %provider_id, "garbage collecting instance with no nodeclaim");
        ctx.provider.delete(provider_id).await?;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use karpenter_api::NodeClaim;
    use karpenter_cloud::LaunchRequest;

    use super::*;
    use crate::lifecycle::{LaunchCache, reconcile as reconcile_claim};
    use crate::provisioner::{PreparedCache, provision};
    use crate::testing::{context, joining_node, node_pool, pending_pod, provider};

    #[tokio::test(start_paused = true)]
    async fn instances_without_claims_and_claims_without_instances_are_collected() {
        let provider = provider();
        let ctx = context(std::sync::Arc::clone(&provider));
        ctx.cluster.apply(node_pool("default", None));
        ctx.cluster.apply(pending_pod("web-0", "500m"));
        let claim = provision(&ctx, &PreparedCache::default()).await.unwrap().created[0].clone();
        let launches = LaunchCache::default();
        reconcile_claim(&ctx, &launches, &claim).await.unwrap();
        let node = joining_node(&ctx.cluster, &claim, false);
        reconcile_claim(&ctx, &launches, &claim).await.unwrap();
        // An instance launched for a NodeClaim that was never written.
        let mut request: LaunchRequest = provider.create_calls()[0].clone();
        request.node_claim = "lost".into();
        let orphan = provider.create(&request).await.unwrap();

        let orphans = Orphans::default();
        let first = collect(&ctx, &orphans).await.unwrap();
        assert_eq!(first, Garbage::default(), "nothing is old enough yet, and the claim's instance exists");
        tokio::time::sleep(Duration::from_secs(30)).await;
        let second = collect(&ctx, &orphans).await.unwrap();
        assert_eq!(second.instances, vec![orphan.provider_id.clone()]);
        assert_eq!(provider.instances().len(), 1);

        // The claim's instance disappears behind our back while its node is not Ready.
        let provider_id =
            karpenter_snapshot::claim_provider_id(&ctx.cluster.get::<NodeClaim>("", &claim).unwrap())
                .unwrap()
                .to_string();
        provider.delete(&provider_id).await.unwrap();
        let third = collect(&ctx, &orphans).await.unwrap();
        assert_eq!(third.node_claims, vec![claim.clone()]);
        assert!(ctx.cluster.get::<NodeClaim>("", &claim).unwrap().metadata.deletion_timestamp.is_some());
        let _ = node;
    }
}
