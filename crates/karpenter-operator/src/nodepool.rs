//! NodePool status (`kubernetes-sigs/karpenter: pkg/controllers/nodepool/counter/controller.go`,
//! `readiness/controller.go`, `validation/controller.go`): the resources and node count of its nodes, whether
//! its spec passes [`NodePool::validate`] (`ValidationSucceeded`), whether its node class exists and is ready
//! (`NodeClassReady`), and `Ready` from both. Only `Ready` NodePools take part in provisioning rounds.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::jiff::Timestamp;
use karpenter_api::NodePool;
use karpenter_api::labels::{condition, label};
use karpenter_cloud::{CloudProvider, NodeClassKind};
use karpenter_solver::quantity::{Quantity as Parsed, format_bytes, format_milli};

use crate::clock::Clock;
use crate::conditions::{ConditionSet, TRUE};
use crate::context::Context;
use crate::error::Result;
use crate::lifecycle::Requeue;
use crate::store::{Cluster, ClusterState, StoreError};

/// Resources every NodePool's status lists, zero when it has no nodes (upstream's `BaseResources`).
const BASE_RESOURCES: [&str; 5] = ["cpu", "memory", "pods", "ephemeral-storage", "nodes"];

fn amount(name: &str, quantity: &str) -> Option<i64> {
    let parsed = Parsed::parse(quantity).ok()?;
    if name == "cpu" { parsed.to_milli() } else { parsed.to_units() }
}

fn format(name: &str, amount: i64) -> String {
    match name {
        "cpu" => format_milli(amount),
        "memory" | "ephemeral-storage" => format_bytes(amount),
        _ if name.starts_with("hugepages-") => format_bytes(amount),
        _ => amount.to_string(),
    }
}

/// The summed capacity of a NodePool's nodes and in-flight NodeClaims, with `nodes` their count.
pub fn resources(state: &ClusterState, pool: &str) -> BTreeMap<String, Quantity> {
    let (nodes, _) = state.objects.existing_nodes();
    let mut sums: BTreeMap<String, i64> = BASE_RESOURCES.iter().map(|r| (r.to_string(), 0)).collect();
    for node in nodes.iter().filter(|n| n.labels.get(label::NODE_POOL).map(String::as_str) == Some(pool)) {
        *sums.entry("nodes".to_string()).or_default() += 1;
        for (name, quantity) in &node.capacity {
            if let Some(value) = amount(name, quantity) {
                *sums.entry(name.clone()).or_default() += value;
            }
        }
    }
    sums.into_iter().map(|(name, value)| (name.clone(), Quantity(format(&name, value)))).collect()
}

/// The NodePool with its status brought up to date; equal to the input when nothing changed.
pub fn with_status(
    pool: &NodePool,
    state: &ClusterState,
    node_classes: &[NodeClassKind],
    now: Timestamp,
) -> NodePool {
    let mut updated = pool.clone();
    let name = pool.metadata.name.clone().unwrap_or_default();
    let resources = resources(state, &name);
    let nodes = resources.get("nodes").and_then(|q| q.0.parse::<i64>().ok()).unwrap_or(0);
    {
        let status = updated.status.get_or_insert_with(Default::default);
        status.resources = Some(resources);
        status.nodes = Some(nodes);
    }
    let problems = pool.validate();
    let reference = &pool.spec.template.spec.node_class_ref;
    let supported = node_classes.iter().any(|k| k.group == reference.group && k.kind == reference.kind);
    let mut set = ConditionSet::node_pool(&mut updated, now);
    if problems.is_empty() {
        set.set_true(condition::VALIDATION_SUCCEEDED);
    } else {
        let message =
            problems.iter().map(|p| format!("{}: {}", p.field, p.message)).collect::<Vec<_>>().join("; ");
        set.set_false(condition::VALIDATION_SUCCEEDED, "NodePoolValidationFailed", &message);
    }
    // A NodePool of another provider's node class is not this controller's to judge.
    if supported {
        match state.node_class(&reference.group, &reference.kind, &reference.name) {
            None => {
                set.set_false(
                    condition::NODE_CLASS_READY,
                    "NodeClassNotFound",
                    "NodeClass not found on cluster",
                );
            }
            Some(class) if class.deleting => {
                set.set_false(
                    condition::NODE_CLASS_READY,
                    "NodeClassTerminating",
                    "NodeClass is Terminating",
                );
            }
            Some(class) => match &class.ready {
                Some(ready) if ready.status == TRUE => {
                    set.set_true(condition::NODE_CLASS_READY);
                }
                Some(ready) if ready.status == "False" => {
                    set.set_false(condition::NODE_CLASS_READY, &ready.reason, &ready.message);
                }
                _ => {
                    set.set_false(
                        condition::NODE_CLASS_READY,
                        "NodeClassReadinessUnknown",
                        "Node Class Readiness Unknown",
                    );
                }
            },
        }
    }
    updated
}

/// Reconciles one NodePool's status by name.
pub async fn reconcile<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    name: &str,
) -> Result<Requeue> {
    let state = ctx.cluster.state();
    // Counting before every object was listed could publish too low a usage.
    if !state.synced {
        return Ok(Requeue::after(std::time::Duration::from_secs(1)));
    }
    let Some(pool) = state.node_pool(name) else { return Ok(Requeue::NONE) };
    if pool.metadata.deletion_timestamp.is_some() {
        return Ok(Requeue::NONE);
    }
    let updated = with_status(pool, &state, &ctx.provider.node_classes(), ctx.now());
    if updated.status != pool.status {
        match ctx.cluster.update_node_pool_status(&updated).await {
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(StoreError::Conflict { .. }) => {
                return Ok(Requeue::after(std::time::Duration::from_millis(200)));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Requeue::NONE)
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use karpenter_cloud::fake::node_class_kind;

    use super::*;
    use crate::lifecycle::{LaunchCache, reconcile as reconcile_claim};
    use crate::provisioner::{PreparedCache, provision};
    use crate::testing::{context, node_pool, pending_pod, provider};

    fn show(pool: &NodePool) -> String {
        let status = pool.status.as_ref().unwrap();
        let conditions: Vec<String> = status
            .conditions
            .iter()
            .flatten()
            .map(|c| format!("{}={} {} {:?}", c.type_, c.status, c.reason, c.message))
            .collect();
        let resources: Vec<String> =
            status.resources.iter().flatten().map(|(k, v)| format!("{k}={}", v.0)).collect();
        format!("nodes={:?} {}\n{}", status.nodes, resources.join(" "), conditions.join("\n"))
    }

    #[tokio::test(start_paused = true)]
    async fn status_counts_nodes_and_rolls_up_validation_and_the_node_class() {
        let ctx = context(provider());
        let mut pool = node_pool("default", None);
        pool.status = None;
        ctx.cluster.apply(pool);
        ctx.cluster.apply(pending_pod("web-0", "500m"));
        reconcile(&ctx, "default").await.unwrap();
        let ready = ctx.cluster.get::<NodePool>("", "default").unwrap();
        expect![[r#"
            nodes=Some(0) cpu=0 ephemeral-storage=0 memory=0 nodes=0 pods=0
            ValidationSucceeded=True ValidationSucceeded ""
            NodeClassReady=True NodeClassReady ""
            Ready=True Ready """#]]
        .assert_eq(&show(&ready));
        // Ready now: a round launches for the pending pod, and the launched claim is counted.
        let created = provision(&ctx, &PreparedCache::default()).await.unwrap().created;
        reconcile_claim(&ctx, &LaunchCache::default(), &created[0]).await.unwrap();
        reconcile(&ctx, "default").await.unwrap();
        let counted = ctx.cluster.get::<NodePool>("", "default").unwrap();
        expect![[r#"
            nodes=Some(1) cpu=2 ephemeral-storage=0 memory=8Gi nodes=1 pods=32
            ValidationSucceeded=True ValidationSucceeded ""
            NodeClassReady=True NodeClassReady ""
            Ready=True Ready """#]]
        .assert_eq(&show(&counted));
    }

    #[tokio::test(start_paused = true)]
    async fn a_missing_node_class_or_an_invalid_template_makes_the_pool_not_ready() {
        let ctx = context(provider());
        let mut pool = node_pool("other", None);
        pool.spec.template.spec.node_class_ref.name = "missing".into();
        let labels = pool.spec.template.metadata.as_mut().unwrap().labels.as_mut().unwrap();
        labels.insert("karpenter.sh/nodepool".into(), "x".into());
        let updated = with_status(&pool, &ctx.cluster.state(), &[node_class_kind()], ctx.now());
        expect![[r#"
            nodes=Some(0) cpu=0 ephemeral-storage=0 memory=0 nodes=0 pods=0
            ValidationSucceeded=False NodePoolValidationFailed "spec.template.metadata.labels[\"karpenter.sh/nodepool\"]: karpenter.sh/nodepool is set by Karpenter"
            NodeClassReady=False NodeClassNotFound "NodeClass not found on cluster"
            Ready=False UnhealthyDependents "ValidationSucceeded=False, NodeClassReady=False""#]]
        .assert_eq(&show(&updated));
    }
}
