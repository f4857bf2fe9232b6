//! Node termination (`kubernetes-sigs/karpenter: pkg/controllers/node/termination/controller.go`,
//! `terminator/terminator.go`, `terminator/eviction.go`, `pkg/utils/pod/scheduling.go`): a deleted node that
//! carries the termination finalizer has its NodeClaim deleted, is tainted `karpenter.sh/disrupted:NoSchedule`
//! and excluded from load balancers, and is drained in four tiers, each finished before the next
//! (non-critical non-DaemonSet pods, non-critical DaemonSet pods, critical non-DaemonSet pods, critical DaemonSet
//! pods) through the Eviction API, which honours PodDisruptionBudgets; a refused eviction is retried with backoff.
//! With a termination grace period, each pod is deleted outright once the node's deadline minus the pod's own
//! grace period has passed, whatever its tier, budgets or do-not-disrupt annotation. Once drained (at least 5 s
//! after draining began), the instance is terminated until the provider says it is gone, and the finalizer is
//! removed.
//!
//! Volume attachments are not awaited: the store does not watch VolumeAttachments yet
//! (`docs/design/0010-controller.md`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::jiff::Timestamp;
use karpenter_api::NodeClaim;
use karpenter_api::labels::{annotation, condition, finalizer, label, taint};
use karpenter_cloud::{CloudProvider, Deletion};

use crate::clock::{Clock, since, until};
use crate::conditions::ConditionSet;
use crate::context::Context;
use crate::error::Result;
use crate::events::{Event, Regarding, reason};
use crate::lifecycle::{Requeue, has_termination_finalizer};
use crate::metrics::{CodeLabels, NodeLabels};
use crate::store::{Cluster, ClusterState, StoreError};

/// Drained needs at least this long after draining began, so that pods the scheduler bound just before it saw the
/// taint are drained too (upstream's `MinDrainTime`).
pub const MIN_DRAIN_TIME: Duration = Duration::from_secs(5);
/// A pod terminating for longer than this past its deletion timestamp no longer holds the drain up.
pub const STUCK_TERMINATING: Duration = Duration::from_secs(60);
/// First backoff of a refused eviction.
pub const EVICTION_BACKOFF_BASE: Duration = Duration::from_millis(100);
/// Longest backoff of a refused eviction.
pub const EVICTION_BACKOFF_MAX: Duration = Duration::from_secs(10);

/// The priority classes that make a pod critical.
const CRITICAL_PRIORITY_CLASSES: [&str; 2] = ["system-cluster-critical", "system-node-critical"];

/// The drain tiers, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Ordinary pods go first.
    NonCriticalNonDaemon,
    /// Then ordinary DaemonSet pods.
    NonCriticalDaemon,
    /// Then critical pods.
    CriticalNonDaemon,
    /// Critical DaemonSet pods go last.
    CriticalDaemon,
}

/// The tier of a pod.
pub fn tier(pod: &Pod) -> Tier {
    let critical = pod
        .spec
        .as_ref()
        .and_then(|s| s.priority_class_name.as_deref())
        .is_some_and(|c| CRITICAL_PRIORITY_CLASSES.contains(&c));
    let daemon = karpenter_snapshot::is_owned_by_daemon_set(pod);
    match (critical, daemon) {
        (false, false) => Tier::NonCriticalNonDaemon,
        (false, true) => Tier::NonCriticalDaemon,
        (true, false) => Tier::CriticalNonDaemon,
        (true, true) => Tier::CriticalDaemon,
    }
}

/// A pod that has been terminating for more than a minute past its deletion timestamp (which already includes
/// its grace period).
pub fn is_stuck_terminating(pod: &Pod, now: Timestamp) -> bool {
    pod.metadata.deletion_timestamp.as_ref().is_some_and(|t| t.0 < now && since(now, t.0) > STUCK_TERMINATING)
}

/// A pod the drain waits for: not finished, not tolerating the disrupted taint, not stuck terminating, not a
/// mirror pod. Pods under an active do-not-disrupt annotation count: the drain waits for them.
pub fn is_waiting_eviction(pod: &Pod, now: Timestamp) -> bool {
    !karpenter_snapshot::is_terminal(pod)
        && !karpenter_snapshot::tolerates_disrupted_taint(pod)
        && !is_stuck_terminating(pod, now)
        && !karpenter_snapshot::is_owned_by_node(pod)
}

/// Whether a pod must be deleted now rather than evicted: the node's deadline minus the pod's own grace period
/// has passed (or, for a terminating pod, its deletion timestamp lies past the deadline).
pub fn needs_force_delete(pod: &Pod, deadline: Option<Timestamp>, now: Timestamp) -> bool {
    let Some(deadline) = deadline else { return false };
    if let Some(deleting) = &pod.metadata.deletion_timestamp {
        return deleting.0 > deadline;
    }
    let Some(grace) = pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds) else {
        return false;
    };
    let delete_at =
        deadline.saturating_sub(k8s_openapi::jiff::SignedDuration::from_secs(grace)).unwrap_or(deadline);
    now > delete_at
}

/// What to do about the pods of a draining node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DrainPlan<'a> {
    /// Pods past their deadline: deleted outright, whatever their tier.
    pub force_delete: Vec<&'a Pod>,
    /// Pods of the first tier that still has pods, to evict now; those not evictable (finished, terminating,
    /// do-not-disrupt) are waited for.
    pub evict: Vec<&'a Pod>,
    /// Pods the drain is waiting for, in every tier.
    pub waiting: usize,
}

impl DrainPlan<'_> {
    /// Nothing left to wait for.
    pub fn drained(&self) -> bool {
        self.waiting == 0
    }
}

/// Plans the drain of the pods bound to a node (upstream's `Terminator.Drain`).
pub fn drain_plan<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    deadline: Option<Timestamp>,
    now: Timestamp,
) -> DrainPlan<'a> {
    let waiting: Vec<&Pod> = pods.into_iter().filter(|p| is_waiting_eviction(p, now)).collect();
    let (force_delete, graceful): (Vec<&Pod>, Vec<&Pod>) =
        waiting.iter().partition(|p| needs_force_delete(p, deadline, now));
    let first_tier = graceful.iter().map(|p| tier(p)).min();
    let evict = graceful
        .into_iter()
        .filter(|p| Some(tier(p)) == first_tier)
        .filter(|p| karpenter_snapshot::is_active(p) && karpenter_snapshot::is_evictable(p, now))
        .collect();
    DrainPlan { force_delete, evict, waiting: waiting.len() }
}

/// The node tainted `karpenter.sh/disrupted:NoSchedule` (replacing a disrupted taint of another effect) and
/// labelled to leave load balancers.
pub fn disrupted_node(node: &Node) -> Node {
    let mut node = node.clone();
    let wanted = taint::disrupted();
    let taints = node.spec.get_or_insert_with(Default::default).taints.get_or_insert_with(Vec::new);
    if !taints.iter().any(|t| t.key == wanted.key && t.effect == wanted.effect) {
        taints.retain(|t| t.key != wanted.key);
        taints.push(wanted);
    }
    node.metadata
        .labels
        .get_or_insert_with(Default::default)
        .insert(label::EXCLUDE_FROM_EXTERNAL_LOAD_BALANCERS.to_string(), "karpenter".to_string());
    node
}

/// The node's deadline: the NodeClaim's `karpenter.sh/nodeclaim-termination-timestamp`.
pub fn termination_deadline(claim: Option<&NodeClaim>) -> Option<Timestamp> {
    claim?.metadata.annotations.as_ref()?.get(annotation::NODE_CLAIM_TERMINATION_TIMESTAMP)?.parse().ok()
}

fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Refused evictions and when each pod may be tried again.
#[derive(Debug, Default)]
pub struct EvictionBackoff {
    pods: Mutex<BTreeMap<String, (u32, Timestamp)>>,
}

impl EvictionBackoff {
    fn ready(&self, uid: &str, now: Timestamp) -> bool {
        self.pods.lock().unwrap_or_else(|p| p.into_inner()).get(uid).is_none_or(|(_, at)| *at <= now)
    }

    /// Records a refusal; returns how long until the next try.
    fn refused(&self, uid: &str, now: Timestamp) -> Duration {
        let mut pods = self.pods.lock().unwrap_or_else(|p| p.into_inner());
        let attempts = pods.get(uid).map_or(0, |(n, _)| *n);
        let wait =
            EVICTION_BACKOFF_BASE.saturating_mul(2u32.saturating_pow(attempts)).min(EVICTION_BACKOFF_MAX);
        let at = now.saturating_add(crate::clock::signed(wait)).unwrap_or(now);
        pods.insert(uid.to_string(), (attempts + 1, at));
        wait
    }

    fn done(&self, uid: &str) {
        self.pods.lock().unwrap_or_else(|p| p.into_inner()).remove(uid);
    }
}

/// Whether the node is one of Karpenter's: it carries a NodePool label.
pub fn is_managed_node(node: &Node) -> bool {
    node.metadata.labels.as_ref().and_then(|l| l.get(label::NODE_POOL)).is_some_and(|v| !v.is_empty())
}

/// The NodeClaim of a node: the one NodeClaim with its provider id (none when there are several).
pub fn claim_of<'a>(state: &'a ClusterState, node: &Node) -> Option<&'a std::sync::Arc<NodeClaim>> {
    let provider_id = karpenter_snapshot::node_provider_id(node)?;
    let mut claims = state
        .objects
        .node_claims
        .iter()
        .filter(|c| karpenter_snapshot::claim_provider_id(c) == Some(provider_id));
    let first = claims.next()?;
    claims.next().is_none().then_some(first)
}

/// Reconciles one node by name.
pub async fn reconcile<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    backoff: &EvictionBackoff,
    name: &str,
) -> Result<Requeue> {
    let state = ctx.cluster.state();
    let Some(node) = state.node(name).cloned() else { return Ok(Requeue::NONE) };
    if node.metadata.deletion_timestamp.is_none()
        || !has_termination_finalizer(node.metadata.finalizers.as_ref())
        || !is_managed_node(&node)
    {
        return Ok(Requeue::NONE);
    }
    let claim = claim_of(&state, &node).cloned();
    if let Some(claim) = &claim
        && claim.metadata.deletion_timestamp.is_none()
    {
        match ctx.cluster.delete_node_claim(claim.metadata.name.as_deref().unwrap_or_default()).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    let provider_id = karpenter_snapshot::node_provider_id(&node).map(str::to_string);
    // A node that is not Ready and whose instance is gone has nothing left to drain gracefully.
    if !node_ready(&node)
        && let Some(provider_id) = &provider_id
    {
        match ctx.provider.get(provider_id).await {
            Err(error) if error.is_not_found() => return remove_finalizer(ctx, &node).await,
            Err(error) => return Err(error.into()),
            Ok(_) => {}
        }
    }
    let now = ctx.now();
    let deadline = termination_deadline(claim.as_deref());
    let tainted = disrupted_node(&node);
    let node = if tainted == *node {
        node
    } else {
        match ctx.cluster.update_node(&tainted).await {
            Ok(updated) => {
                tracing::info!(node = name, taint = taint::DISRUPTED, "tainted node");
                updated
            }
            Err(e) if e.is_conflict() => return Ok(Requeue::after(Duration::from_millis(100))),
            Err(e) => return Err(e.into()),
        }
    };
    let mut claim_status = claim.as_deref().cloned();

    // Drain.
    let pods: Vec<&Pod> = state
        .objects
        .pods
        .iter()
        .map(|p| &**p)
        .filter(|p| karpenter_snapshot::node_name(p) == Some(name))
        .collect();
    let plan = drain_plan(pods, deadline, now);
    let mut requeue = Requeue::NONE;
    for pod in &plan.force_delete {
        let grace = deadline.map_or(1, |d| (until(now, d).as_secs() as i64).max(1));
        let (namespace, pod_name, uid) = pod_key(pod);
        ctx.publish(Event::normal(
            Regarding::pod(pod),
            reason::DISRUPTED,
            format!("Deleting the pod to accommodate the terminationTime of the node, grace period {grace}s"),
        ))
        .await;
        match ctx.cluster.delete_pod(&namespace, &pod_name, &uid, grace).await {
            Ok(()) | Err(StoreError::NotFound { .. } | StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for pod in &plan.evict {
        let (namespace, pod_name, uid) = pod_key(pod);
        if !backoff.ready(&uid, now) {
            requeue = requeue.min(Requeue::after(EVICTION_BACKOFF_BASE));
            continue;
        }
        match ctx.cluster.evict_pod(&namespace, &pod_name, &uid).await {
            Ok(()) => {
                backoff.done(&uid);
                ctx.metrics.eviction_requests.get_or_create(&CodeLabels { code: "200".into() }).inc();
                ctx.publish(Event::normal(
                    Regarding::pod(pod),
                    reason::EVICTED,
                    "Evicted pod: Forceful Termination",
                ))
                .await;
            }
            Err(StoreError::NotFound { .. } | StoreError::Conflict { .. }) => backoff.done(&uid),
            Err(StoreError::EvictionRefused { message, .. }) => {
                ctx.metrics.eviction_requests.get_or_create(&CodeLabels { code: "429".into() }).inc();
                let wait = backoff.refused(&uid, now);
                requeue = requeue.min(Requeue::after(wait));
                let why = if message.contains("more than one PodDisruptionBudget") {
                    "eviction does not support multiple PDBs"
                } else {
                    "evicting pod violates a PDB"
                };
                ctx.publish(Event::warning(
                    Regarding::node(&node),
                    reason::FAILED_DRAINING,
                    format!("Failed to drain node, {why} (Pod={namespace}/{pod_name})"),
                ))
                .await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(claim) = claim_status.as_mut()
        && ConditionSet::node_claim(claim, now)
            .get(condition::DRAINED)
            .is_none_or(|c| c.status == "True" && !plan.drained())
    {
        ConditionSet::node_claim(claim, now).set_unknown_with_reason(
            condition::DRAINED,
            "Draining",
            "Draining",
        );
    }
    if !plan.drained() {
        write_claim_status(ctx, claim.as_deref(), claim_status.as_ref()).await?;
        return Ok(requeue.min(Requeue::after(Duration::from_secs(1))));
    }
    let draining_since = claim_status.as_ref().and_then(|c| {
        crate::conditions::claim_condition(c, condition::DRAINED)
            .filter(|c| c.status != "True")
            .map(|c| c.last_transition_time.0)
    });
    if let Some(draining_since) = draining_since {
        let elapsed = since(now, draining_since);
        if elapsed < MIN_DRAIN_TIME {
            write_claim_status(ctx, claim.as_deref(), claim_status.as_ref()).await?;
            return Ok(Requeue::after(MIN_DRAIN_TIME - elapsed));
        }
    }
    if let Some(claim) = claim_status.as_mut() {
        ConditionSet::node_claim(claim, now).set_true(condition::DRAINED);
    }

    // Terminate the instance.
    if claim.is_some()
        && let Some(provider_id) = &provider_id
    {
        let deletion = match ctx.provider.delete(provider_id).await {
            Ok(deletion) => deletion,
            Err(error) if error.is_not_found() => Deletion::Gone,
            Err(error) => return Err(error.into()),
        };
        if let Some(claim) = claim_status.as_mut() {
            ConditionSet::node_claim(claim, now).set_true(condition::INSTANCE_TERMINATING);
        }
        if deletion == Deletion::Terminating {
            write_claim_status(ctx, claim.as_deref(), claim_status.as_ref()).await?;
            return Ok(Requeue::after(Duration::from_secs(5)));
        }
    }
    write_claim_status(ctx, claim.as_deref(), claim_status.as_ref()).await?;
    remove_finalizer(ctx, &node).await
}

fn pod_key(pod: &Pod) -> (String, String, String) {
    (
        karpenter_snapshot::namespace(pod).to_string(),
        pod.metadata.name.clone().unwrap_or_default(),
        pod.metadata.uid.clone().unwrap_or_default(),
    )
}

/// Writes the NodeClaim's status when it changed; a NodeClaim that is gone or changed meanwhile is left for the
/// next look.
async fn write_claim_status<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    stored: Option<&NodeClaim>,
    updated: Option<&NodeClaim>,
) -> Result<()> {
    let (Some(stored), Some(updated)) = (stored, updated) else { return Ok(()) };
    if stored.status == updated.status {
        return Ok(());
    }
    match ctx.cluster.update_node_claim_status(updated).await {
        Ok(_) | Err(StoreError::NotFound { .. } | StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn remove_finalizer<C: Cluster, P: CloudProvider, K: Clock>(
    ctx: &Context<C, P, K>,
    node: &Node,
) -> Result<Requeue> {
    let mut released = node.clone();
    if let Some(finalizers) = released.metadata.finalizers.as_mut() {
        finalizers.retain(|f| f != finalizer::TERMINATION);
    }
    match ctx.cluster.update_node(&released).await {
        Ok(_) => {}
        Err(e) if e.is_not_found() => return Ok(Requeue::NONE),
        Err(e) if e.is_conflict() => return Ok(Requeue::after(Duration::from_millis(100))),
        Err(e) => return Err(e.into()),
    }
    let labels = node.metadata.labels.as_ref();
    ctx.metrics
        .nodes_terminated
        .get_or_create(&NodeLabels {
            nodepool: labels.and_then(|l| l.get(label::NODE_POOL)).cloned().unwrap_or_default(),
            zone: labels.and_then(|l| l.get(label::ZONE)).cloned().unwrap_or_default(),
        })
        .inc();
    tracing::info!(node = ?node.metadata.name, "deleted node");
    Ok(Requeue::NONE)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use expect_test::expect;
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use serde_json::json;

    use super::*;
    use crate::lifecycle::{LaunchCache, reconcile as reconcile_claim};
    use crate::provisioner::{PreparedCache, provision};
    use crate::testing::{TestContext, context, joining_node, node_pool, pending_pod, provider};

    fn pod(name: &str, node: &str, extra: serde_json::Value) -> Pod {
        let mut value = json!({
            "metadata": {"name": name, "namespace": "shop", "labels": {"app": name},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs"}]},
            "spec": {"nodeName": node, "containers": [{"name": "c"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        });
        merge(&mut value, extra);
        serde_json::from_value(value).unwrap()
    }

    fn merge(base: &mut serde_json::Value, extra: serde_json::Value) {
        match (base, extra) {
            (serde_json::Value::Object(base), serde_json::Value::Object(extra)) => {
                for (key, value) in extra {
                    merge(base.entry(key).or_insert(serde_json::Value::Null), value);
                }
            }
            (base, extra) => *base = extra,
        }
    }

    fn daemon() -> serde_json::Value {
        json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds", "uid": "ds"}]}})
    }

    fn critical() -> serde_json::Value {
        json!({"spec": {"priorityClassName": "system-node-critical"}})
    }

    #[test]
    fn pods_drain_tier_by_tier_and_past_deadline_pods_go_at_once() {
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let mut with_daemon_and_critical = daemon();
        merge(&mut with_daemon_and_critical, critical());
        let pods = [
            pod("critical-daemon", "n", with_daemon_and_critical),
            pod("critical", "n", critical()),
            pod("daemon", "n", daemon()),
            pod("web", "n", json!({})),
            pod(
                "protected",
                "n",
                json!({"metadata": {"annotations": {"karpenter.sh/do-not-disrupt": "true"}}}),
            ),
            pod(
                "tolerant",
                "n",
                json!({"spec": {"tolerations": [{"key": "karpenter.sh/disrupted", "operator": "Exists"}]}}),
            ),
            pod("done", "n", json!({"status": {"phase": "Succeeded"}})),
            pod("slow", "n", json!({"spec": {"terminationGracePeriodSeconds": 600}})),
        ];
        let show = |plan: &DrainPlan<'_>| {
            let names = |pods: &[&Pod]| {
                pods.iter().map(|p| p.metadata.name.clone().unwrap()).collect::<Vec<_>>().join(" ")
            };
            format!(
                "force: [{}] evict: [{}] waiting: {}",
                names(&plan.force_delete),
                names(&plan.evict),
                plan.waiting
            )
        };
        expect!["force: [] evict: [web slow] waiting: 6"].assert_eq(&show(&drain_plan(&pods, None, now)));
        // Five minutes to the deadline: the pod that needs ten to stop goes now, whatever its tier.
        let deadline: Timestamp = "2026-01-01T00:15:00Z".parse().unwrap();
        expect!["force: [slow] evict: [web] waiting: 6"].assert_eq(&show(&drain_plan(
            &pods,
            Some(deadline),
            now,
        )));
        let later_tiers = [&pods[0], &pods[1], &pods[2]].map(|p| (*p).clone());
        expect!["force: [] evict: [daemon] waiting: 3"].assert_eq(&show(&drain_plan(
            &later_tiers,
            None,
            now,
        )));
        expect!["force: [] evict: [critical] waiting: 2"].assert_eq(&show(&drain_plan(
            &later_tiers[..2],
            None,
            now,
        )));
    }

    /// A registered, initialised node of a NodeClaim, with pods on it.
    async fn node_with_pods(grace: Option<&str>) -> (Arc<TestContext>, String, String) {
        let ctx = context(provider());
        let mut pool = node_pool("default", None);
        pool.spec.template.spec.startup_taints = None;
        pool.spec.template.spec.termination_grace_period = grace.map(str::to_string);
        ctx.cluster.apply(pool);
        ctx.cluster.apply(pending_pod("seed", "500m"));
        let claim = provision(&ctx, &PreparedCache::default()).await.unwrap().created[0].clone();
        let launches = LaunchCache::default();
        reconcile_claim(&ctx, &launches, &claim).await.unwrap();
        let node = joining_node(&ctx.cluster, &claim, true).metadata.name.clone().unwrap();
        reconcile_claim(&ctx, &launches, &claim).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        reconcile_claim(&ctx, &launches, &claim).await.unwrap();
        ctx.cluster.delete::<Pod>("shop", "seed").unwrap();
        (ctx, claim, node)
    }

    fn drain_events(ctx: &TestContext) -> Vec<String> {
        ctx.cluster
            .events()
            .iter()
            .filter(|e| e.reason != reason::NOMINATED)
            .map(ToString::to_string)
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_deleted_node_is_drained_in_tiers_through_its_budgets_then_its_instance_terminated() {
        let (ctx, claim, node) = node_with_pods(None).await;
        ctx.cluster.apply(pod("web", &node, json!({})));
        ctx.cluster.apply(pod("agent", &node, daemon()));
        ctx.cluster.apply(pod("dns", &node, critical()));
        let pdb: PodDisruptionBudget = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "minAvailable": 1},
            "status": {"disruptionsAllowed": 0, "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1}
        }))
        .unwrap();
        let pdb = ctx.cluster.apply(pdb);
        let launches = LaunchCache::default();
        let backoff = EvictionBackoff::default();

        ctx.cluster.delete_node_claim(&claim).await.unwrap();
        reconcile_claim(&ctx, &launches, &claim).await.unwrap();
        // The budget holds the first tier; the others wait behind it.
        let requeue = reconcile(&ctx, &backoff, &node).await.unwrap();
        assert_eq!(requeue, Requeue::after(EVICTION_BACKOFF_BASE));
        let tainted = ctx.cluster.get::<Node>("", &node).unwrap();
        assert!(tainted.spec.as_ref().unwrap().taints.iter().flatten().any(|t| t.key == taint::DISRUPTED));
        tokio::time::sleep(Duration::from_millis(100)).await;
        reconcile(&ctx, &backoff, &node).await.unwrap();
        // The budget allows one disruption now.
        let mut allowing = (*pdb).clone();
        allowing.status.as_mut().unwrap().disruptions_allowed = Some(1);
        ctx.cluster.apply(allowing);
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            reconcile(&ctx, &backoff, &node).await.unwrap();
        }
        let claim_object = ctx.cluster.get::<NodeClaim>("", &claim).unwrap();
        let drained = crate::conditions::claim_condition(&claim_object, condition::DRAINED).unwrap();
        assert_eq!(
            (drained.status.as_str(), drained.reason.as_str()),
            ("Unknown", "Draining"),
            "drained needs 5 s"
        );
        tokio::time::sleep(MIN_DRAIN_TIME).await;
        assert_eq!(reconcile(&ctx, &backoff, &node).await.unwrap(), Requeue::NONE);
        assert!(ctx.cluster.get::<Node>("", &node).is_none(), "the finalizer was removed");
        assert!(ctx.provider.instances().is_empty(), "the instance was terminated");
        expect![[r#"
            Warning Node/node-default-vll49 FailedDraining: Failed to drain node, evicting pod violates a PDB (Pod=shop/web)
            Normal Pod/shop/web Evicted: Evicted pod: Forceful Termination
            Normal Pod/shop/agent Evicted: Evicted pod: Forceful Termination
            Normal Pod/shop/dns Evicted: Evicted pod: Forceful Termination"#]]
        .assert_eq(&drain_events(&ctx).join("\n"));
        // The NodeClaim goes once its node has.
        reconcile_claim(&ctx, &launches, &claim).await.unwrap();
        assert!(ctx.cluster.get::<NodeClaim>("", &claim).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn the_termination_grace_period_overrides_do_not_disrupt() {
        let (ctx, claim, node) = node_with_pods(Some("2m")).await;
        ctx.cluster.apply(pod(
            "pinned",
            &node,
            json!({"metadata": {"annotations": {"karpenter.sh/do-not-disrupt": "true"}},
                   "spec": {"terminationGracePeriodSeconds": 30}}),
        ));
        let launches = LaunchCache::default();
        let backoff = EvictionBackoff::default();
        ctx.cluster.delete_node_claim(&claim).await.unwrap();
        reconcile_claim(&ctx, &launches, &claim).await.unwrap();
        let annotated = ctx.cluster.get::<NodeClaim>("", &claim).unwrap();
        assert_eq!(
            annotated.metadata.annotations.as_ref().unwrap()[annotation::NODE_CLAIM_TERMINATION_TIMESTAMP],
            "2026-01-01T00:02:01Z"
        );
        reconcile(&ctx, &backoff, &node).await.unwrap();
        assert!(
            ctx.cluster.get::<Pod>("shop", "pinned").is_some(),
            "do-not-disrupt holds until the deadline nears"
        );
        // 30 s before the deadline the pod is deleted so that it can stop within its own grace period.
        tokio::time::sleep(Duration::from_secs(91)).await;
        reconcile(&ctx, &backoff, &node).await.unwrap();
        assert!(ctx.cluster.get::<Pod>("shop", "pinned").is_none());
    }
}
