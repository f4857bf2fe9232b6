//! The NodeClaim's `Drifted` condition (`kubernetes-sigs/karpenter: pkg/controllers/nodeclaim/disruption/drift.go`
//! and `controller.go`): the disruption engine replaces NodeClaims that carry it, and this is what sets it.
//!
//! A launched NodeClaim has drifted when, in upstream's order:
//! 1. its NodePool's template changed (`NodePoolDrifted`): the pool's drift hash is not the one the NodeClaim was
//!    annotated with at launch, when both hashes are of the same version;
//! 2. its labels no longer satisfy the pool's requirements (`RequirementsDrifted`);
//! 3. an hour after its creation, its instance type is no longer among the pool's, or no longer has an offering
//!    for its zone and capacity type (`InstanceTypeNotFound`); checked once per NodeClaim, as upstream caches it;
//! 4. the cloud provider says so ([`CloudProvider::is_drifted`]: an image, subnet or node-class change).
//!
//! The first two are pure functions of the objects and are looked at every [`SWEEP_PERIOD`]; the provider is asked
//! at most every [`PROVIDER_PERIOD`] per NodeClaim, upstream's requeue. A NodeClaim that is not launched, or no
//! longer drifted, loses the condition.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use karpenter_api::labels::{annotation, condition, label};
use karpenter_api::{NodeClaim, NodePool, NodeSelectorOperator, NodeSelectorRequirementWithMinValues};
use karpenter_cloud::{CloudProvider, DriftQuery};
use karpenter_solver::model::NodeClassRef;

use crate::clock::{Clock, since};
use crate::conditions;
use crate::context::Context;
use crate::error::Result;
use crate::lifecycle::is_managed;
use crate::provisioner;
use crate::store::{Cluster, ClusterState};

/// How often the objects are compared.
pub const SWEEP_PERIOD: Duration = Duration::from_secs(10);
/// How often the cloud provider is asked about one NodeClaim (upstream requeues drift every 5 minutes).
pub const PROVIDER_PERIOD: Duration = Duration::from_secs(5 * 60);
/// How old a NodeClaim is before its instance type is looked for among the pool's (upstream: an hour).
pub const INSTANCE_TYPE_CHECK_AGE: Duration = Duration::from_secs(60 * 60);

/// `NodePoolDrifted`: the NodePool's template changed since the launch.
pub const NODE_POOL_DRIFTED: &str = "NodePoolDrifted";
/// `RequirementsDrifted`: the NodeClaim's labels no longer satisfy the NodePool's requirements.
pub const REQUIREMENTS_DRIFTED: &str = "RequirementsDrifted";
/// `InstanceTypeNotFound`: the NodePool no longer offers the NodeClaim's instance type where it runs.
pub const INSTANCE_TYPE_NOT_FOUND: &str = "InstanceTypeNotFound";

/// `areStaticFieldsDrifted`: the pool's hash differs from the one the NodeClaim was launched with. A NodeClaim
/// without a hash, or with a hash of another version (a release that changed the hash), is not drifted by it.
pub fn static_drift(pool: &NodePool, claim: &NodeClaim) -> Option<&'static str> {
    let annotations = claim.metadata.annotations.as_ref()?;
    let launched_with = annotations.get(annotation::NODE_POOL_HASH)?;
    let version = annotations.get(annotation::NODE_POOL_HASH_VERSION)?;
    if version != karpenter_api::labels::hash_version::NODE_POOL {
        return None;
    }
    // A template that cannot be hashed is reported by the NodePool's status; it drifts nothing.
    let current = pool.hash().ok()?;
    (current != *launched_with).then_some(NODE_POOL_DRIFTED)
}

/// `areRequirementsDrifted`: every requirement of the pool must hold for the NodeClaim's labels. A label the
/// NodeClaim lacks satisfies only `NotIn` and `DoesNotExist`, as upstream's `Compatible` without undefined labels.
pub fn requirements_drift(pool: &NodePool, claim: &NodeClaim) -> Option<&'static str> {
    let empty = BTreeMap::new();
    let labels = claim.metadata.labels.as_ref().unwrap_or(&empty);
    let requirements = pool.spec.template.spec.requirements.iter();
    let holds =
        |r: &NodeSelectorRequirementWithMinValues| satisfied(r, labels.get(&r.key).map(String::as_str));
    (!requirements.into_iter().all(holds)).then_some(REQUIREMENTS_DRIFTED)
}

/// Whether a label value (`None`: no such label) satisfies one requirement.
fn satisfied(requirement: &NodeSelectorRequirementWithMinValues, value: Option<&str>) -> bool {
    let values = requirement.values.as_deref().unwrap_or_default();
    let bound = || values.first().and_then(|v| v.parse::<i64>().ok());
    let number = || value.and_then(|v| v.parse::<i64>().ok());
    let compare = |ok: fn(i64, i64) -> bool| matches!((number(), bound()), (Some(n), Some(b)) if ok(n, b));
    match requirement.operator {
        NodeSelectorOperator::In => value.is_some_and(|v| values.iter().any(|x| x == v)),
        NodeSelectorOperator::NotIn => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        NodeSelectorOperator::Exists => value.is_some(),
        NodeSelectorOperator::DoesNotExist => value.is_none(),
        NodeSelectorOperator::Gt => compare(|n, b| n > b),
        NodeSelectorOperator::Lt => compare(|n, b| n < b),
        NodeSelectorOperator::Gte => compare(|n, b| n >= b),
        NodeSelectorOperator::Lte => compare(|n, b| n <= b),
    }
}

/// The NodeClaim with its `Drifted` condition set to `reason` (`None`: removed), or `None` when it already is.
pub fn with_drifted(claim: &NodeClaim, reason: Option<&str>, now: Timestamp) -> Option<NodeClaim> {
    conditions::with_claim_condition(claim, condition::DRIFTED, reason, now)
}

/// What the sweep remembers about each NodeClaim between passes.
#[derive(Debug, Default)]
struct Memory {
    /// When the provider was last asked, and what it said.
    provider: BTreeMap<String, (Timestamp, Option<String>)>,
    /// NodeClaims whose instance type was found among their pool's, an hour or more after creation.
    instance_type_found: std::collections::BTreeSet<String>,
}

/// Sweeps until the task is dropped.
pub async fn run<C: Cluster, P: CloudProvider, K: Clock>(ctx: Arc<crate::context::Context<C, P, K>>) {
    let mut memory = Memory::default();
    loop {
        if let Err(error) = sweep(&ctx, &mut memory).await
            && !matches!(error, crate::error::Error::Store(crate::store::StoreError::Conflict { .. }))
        {
            ctx.metrics.reconcile_errors.inc();
            tracing::warn!(%error, "drift sweep failed; retrying");
        }
        tokio::time::sleep(SWEEP_PERIOD).await;
    }
}

/// The provider's question about a NodeClaim.
fn query(claim: &NodeClaim) -> DriftQuery {
    let reference = &claim.spec.node_class_ref;
    let labels = claim.metadata.labels.clone().unwrap_or_default();
    DriftQuery {
        node_claim: claim.metadata.name.clone().unwrap_or_default(),
        provider_id: claim.status.as_ref().and_then(|s| s.provider_id.clone()).unwrap_or_default(),
        node_pool: labels.get(label::NODE_POOL).cloned().unwrap_or_default(),
        node_class: NodeClassRef {
            group: reference.group.clone(),
            kind: reference.kind.clone(),
            name: reference.name.clone(),
        },
        image_id: claim.status.as_ref().and_then(|s| s.image_id.clone()),
        labels,
        annotations: claim.metadata.annotations.clone().unwrap_or_default(),
    }
}

/// One pass over every managed NodeClaim.
async fn sweep<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    memory: &mut Memory,
) -> Result<()> {
    let state = ctx.cluster.state();
    if !state.synced {
        return Ok(());
    }
    let now = ctx.now();
    let names: std::collections::BTreeSet<&str> =
        state.objects.node_claims.iter().filter_map(|c| c.metadata.name.as_deref()).collect();
    memory.provider.retain(|name, _| names.contains(name.as_str()));
    memory.instance_type_found.retain(|name| names.contains(name.as_str()));
    let mut instance_types = None;
    for claim in &state.objects.node_claims {
        if claim.metadata.deletion_timestamp.is_some() || !is_managed(claim, ctx.provider.as_ref()) {
            continue;
        }
        let name = claim.metadata.name.clone().unwrap_or_default();
        let reason = if conditions::is_true(conditions::of_claim(claim), condition::LAUNCHED) {
            match pool_of(&state, claim) {
                Some(pool) => {
                    drift_of(ctx, &state, pool, claim, &name, now, memory, &mut instance_types).await
                }
                None => None,
            }
        } else {
            None
        };
        if let Some(updated) = with_drifted(claim, reason.as_deref(), now) {
            match reason.as_deref() {
                Some(reason) => tracing::info!(nodeclaim = %name, reason, "marking drifted"),
                None => tracing::debug!(nodeclaim = %name, "removing the drifted condition"),
            }
            crate::store::unless_gone(ctx.cluster.update_node_claim_status(&updated).await)?;
        }
    }
    Ok(())
}

fn pool_of<'a>(state: &'a ClusterState, claim: &NodeClaim) -> Option<&'a NodePool> {
    let name = claim.metadata.labels.as_ref()?.get(label::NODE_POOL)?;
    state.node_pool(name).map(|p| &**p)
}

/// Why a launched NodeClaim has drifted, in upstream's order; `None` when it has not.
#[allow(
    clippy::too_many_arguments,
    reason = "the sweep's state, passed down rather than bundled for one call"
)]
async fn drift_of<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    state: &ClusterState,
    pool: &NodePool,
    claim: &NodeClaim,
    name: &str,
    now: Timestamp,
    memory: &mut Memory,
    instance_types: &mut Option<BTreeMap<String, Vec<Arc<karpenter_solver::model::InstanceType>>>>,
) -> Option<String> {
    if let Some(reason) = static_drift(pool, claim).or_else(|| requirements_drift(pool, claim)) {
        return Some(reason.to_string());
    }
    let created = claim.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0);
    if !memory.instance_type_found.contains(name) && since(now, created) > INSTANCE_TYPE_CHECK_AGE {
        let types = match instance_types {
            Some(types) => types,
            None => instance_types.insert(provisioner::instance_types(ctx, state, true).await),
        };
        let pool_name = pool.metadata.name.as_deref().unwrap_or_default();
        match types.get(pool_name) {
            Some(types) if !offered(types, claim) => return Some(INSTANCE_TYPE_NOT_FOUND.to_string()),
            Some(_) => {
                memory.instance_type_found.insert(name.to_string());
            }
            // The provider could not list the pool's types this time: ask again next sweep.
            None => {}
        }
    }
    let due = memory.provider.get(name).is_none_or(|(at, _)| since(now, *at) >= PROVIDER_PERIOD);
    if due {
        match ctx.provider.is_drifted(&query(claim)).await {
            Ok(reason) => {
                memory.provider.insert(name.to_string(), (now, reason.map(|r| r.as_str().to_string())));
            }
            Err(error) => {
                // Not knowing is not drift: keep what was known and ask again next time.
                tracing::debug!(nodeclaim = %name, %error, "the provider could not say whether it drifted");
            }
        }
    }
    memory.provider.get(name).and_then(|(_, reason)| reason.clone())
}

/// `instanceTypeNotFound`: the NodeClaim's instance type is among the pool's and has an offering in its zone with
/// its capacity type (available or not: an offering out of capacity now is still offered).
fn offered(types: &[Arc<karpenter_solver::model::InstanceType>], claim: &NodeClaim) -> bool {
    let Some(labels) = claim.metadata.labels.as_ref() else { return false };
    let Some(instance_type) = labels.get(label::INSTANCE_TYPE) else { return false };
    let zone = labels.get(label::ZONE);
    let capacity_type = labels.get(label::CAPACITY_TYPE);
    types.iter().filter(|t| t.name == *instance_type).any(|t| {
        t.offerings.iter().any(|o| {
            zone.is_none_or(|z| *z == o.zone)
                && capacity_type.is_none_or(|c| {
                    *c == o.capacity_type || (c == "reserved" && o.capacity_type == "on-demand")
                })
        })
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pool(requirements: serde_json::Value, labels: serde_json::Value) -> NodePool {
        serde_json::from_value(json!({
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "metadata": {"name": "default"},
            "spec": {"template": {
                "metadata": {"labels": labels},
                "spec": {
                    "requirements": requirements,
                    "nodeClassRef": {"group": "karpenter.test.sh", "kind": "TestNodeClass", "name": "default"}
                }
            }}
        }))
        .unwrap()
    }

    fn claim(of: &NodePool, labels: serde_json::Value) -> NodeClaim {
        serde_json::from_value(json!({
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodeClaim",
            "metadata": {"name": "default-abc", "labels": labels, "annotations": {
                "karpenter.sh/nodepool-hash": of.hash().unwrap(),
                "karpenter.sh/nodepool-hash-version": karpenter_api::labels::hash_version::NODE_POOL
            }},
            "spec": {
                "requirements": [],
                "nodeClassRef": {"group": "karpenter.test.sh", "kind": "TestNodeClass", "name": "default"}
            }
        }))
        .unwrap()
    }

    fn arm64() -> serde_json::Value {
        json!([
            {"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]},
            {"key": "karpenter.k8s.aws/instance-generation", "operator": "Gt", "values": ["3"]},
            {"key": "example.com/team", "operator": "NotIn", "values": ["blue"]},
            {"key": "example.com/legacy", "operator": "DoesNotExist"}
        ])
    }

    #[test]
    fn a_changed_template_drifts_the_node_claims_launched_from_the_old_one() {
        let launched_from = pool(arm64(), json!({"team": "a"}));
        let claim = claim(&launched_from, json!({}));
        assert_eq!(static_drift(&launched_from, &claim), None, "the same template");
        let changed = pool(arm64(), json!({"team": "b"}));
        assert_eq!(static_drift(&changed, &claim), Some(NODE_POOL_DRIFTED));
        // A hash of another version says nothing (upstream re-annotates such NodeClaims instead).
        let mut older = claim.clone();
        older
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(annotation::NODE_POOL_HASH_VERSION.into(), "v1".into());
        assert_eq!(static_drift(&changed, &older), None);
        let mut unannotated = claim;
        unannotated.metadata.annotations = None;
        assert_eq!(static_drift(&changed, &unannotated), None);
    }

    #[test]
    fn labels_that_no_longer_satisfy_the_requirements_drift() {
        let pool = pool(arm64(), json!({}));
        let labels = |arch: &str, generation: &str| json!({"kubernetes.io/arch": arch, "karpenter.k8s.aws/instance-generation": generation});
        assert_eq!(requirements_drift(&pool, &claim(&pool, labels("arm64", "4"))), None);
        assert_eq!(
            requirements_drift(&pool, &claim(&pool, labels("amd64", "4"))),
            Some(REQUIREMENTS_DRIFTED)
        );
        assert_eq!(
            requirements_drift(&pool, &claim(&pool, labels("arm64", "3"))),
            Some(REQUIREMENTS_DRIFTED)
        );
        assert_eq!(
            requirements_drift(&pool, &claim(&pool, labels("arm64", "x"))),
            Some(REQUIREMENTS_DRIFTED)
        );
        // A missing label satisfies only NotIn and DoesNotExist.
        let missing = claim(&pool, json!({"kubernetes.io/arch": "arm64"}));
        assert_eq!(requirements_drift(&pool, &missing), Some(REQUIREMENTS_DRIFTED));
        let mut excluded = labels("arm64", "5");
        excluded["example.com/team"] = json!("blue");
        assert_eq!(requirements_drift(&pool, &claim(&pool, excluded)), Some(REQUIREMENTS_DRIFTED));
        let mut legacy = labels("arm64", "5");
        legacy["example.com/legacy"] = json!("yes");
        assert_eq!(requirements_drift(&pool, &claim(&pool, legacy)), Some(REQUIREMENTS_DRIFTED));
    }

    #[test]
    fn the_condition_is_written_only_when_it_changes() {
        let pool = pool(arm64(), json!({}));
        let now: Timestamp = "2026-01-05T00:00:00Z".parse().unwrap();
        let plain = claim(&pool, json!({}));
        assert!(with_drifted(&plain, None, now).is_none(), "nothing to remove");
        let drifted = with_drifted(&plain, Some(NODE_POOL_DRIFTED), now).unwrap();
        let condition = conditions::claim_condition(&drifted, condition::DRIFTED).unwrap();
        assert_eq!((condition.status.as_str(), condition.reason.as_str()), ("True", NODE_POOL_DRIFTED));
        assert!(with_drifted(&drifted, Some(NODE_POOL_DRIFTED), now).is_none(), "already so");
        let other = with_drifted(&drifted, Some(REQUIREMENTS_DRIFTED), now).unwrap();
        assert_eq!(
            conditions::claim_condition(&other, condition::DRIFTED).unwrap().reason,
            REQUIREMENTS_DRIFTED
        );
        let cleared = with_drifted(&drifted, None, now).unwrap();
        assert!(conditions::claim_condition(&cleared, condition::DRIFTED).is_none());
    }
}
