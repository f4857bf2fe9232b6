//! The view, checked and indexed once per pass: NodePool settings parsed, each node's pool, instance type and
//! price resolved, and the per-pod facts of `kubernetes-sigs/karpenter: pkg/utils/pod/scheduling.go` and
//! `pkg/utils/disruption/disruption.go` (activity, reschedulability, do-not-disrupt, eviction cost).

use std::collections::BTreeMap;

use karpenter_solver::labels;
use karpenter_solver::model::{InstanceType, Pod, Toleration};
use karpenter_solver::plan::{InputError, PodRef};

use crate::decision::PodBlocker;
use crate::duration::{self, Duration};
use crate::pdb::Pdbs;
use crate::view::{BoundPod, ClusterView, Node, NodePool, Timestamp};

/// `karpenter.sh/do-not-disrupt`.
pub(crate) const DO_NOT_DISRUPT: &str = "karpenter.sh/do-not-disrupt";
/// `karpenter.sh/do-not-repair`.
pub(crate) const DO_NOT_REPAIR: &str = "karpenter.sh/do-not-repair";
/// `karpenter.sh/disruption-cost`.
pub(crate) const DISRUPTION_COST: &str = "karpenter.sh/disruption-cost";
/// `controller.kubernetes.io/pod-deletion-cost`.
pub(crate) const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";
/// The taint Karpenter puts on nodes it disrupts.
pub(crate) const DISRUPTED_TAINT: &str = "karpenter.sh/disrupted";

/// A NodePool's consolidation policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    WhenEmpty,
    WhenEmptyOrUnderutilized,
    Balanced,
}

/// A NodePool with its settings parsed.
pub(crate) struct PoolInfo<'v> {
    pub(crate) view: &'v NodePool,
    pub(crate) policy: Policy,
    /// `None` is `Never`.
    pub(crate) consolidate_after: Option<Duration>,
    /// `None` is `Never`.
    pub(crate) expire_after: Option<Duration>,
    pub(crate) termination_grace_period: Option<Duration>,
    pub(crate) instance_types: BTreeMap<&'v str, &'v InstanceType>,
    pub(crate) is_static: bool,
}

/// A node with what disruption derives from it.
pub(crate) struct NodeInfo<'v> {
    pub(crate) view: &'v Node,
    pub(crate) pool: Option<&'v str>,
    pub(crate) instance_type: Option<&'v InstanceType>,
    pub(crate) price: f64,
    /// The NodeClaim's expireAfter, or the pool's; `None` is `Never`.
    pub(crate) expire_after: Option<Duration>,
    /// The NodeClaim's terminationGracePeriod, or the pool's.
    pub(crate) termination_grace_period: Option<Duration>,
    /// Set when the NodeClaim has expired: it is deleted this pass, so the methods treat it as deleting.
    pub(crate) expired_at: Option<Timestamp>,
}

impl NodeInfo<'_> {
    pub(crate) fn name(&self) -> &str {
        &self.view.name
    }

    pub(crate) fn label(&self, key: &str) -> Option<&str> {
        self.view.labels.get(key).map(String::as_str)
    }

    pub(crate) fn managed(&self) -> bool {
        self.view.node_claim.is_some()
    }

    pub(crate) fn rebooting(&self) -> bool {
        self.view.node_claim.as_ref().and_then(|c| c.rebooting).is_some_and(|r| r.in_progress)
    }

    /// Deleting, owned by a command, or expiring this pass (`StateNode.MarkedForDeletion`).
    pub(crate) fn deleting(&self) -> bool {
        self.view.marked_for_deletion || self.expired_at.is_some()
    }

    pub(crate) fn ready(&self) -> bool {
        self.view.conditions.iter().any(|c| c.condition_type == "Ready" && c.status == "True")
    }

    pub(crate) fn instance_terminating(&self) -> bool {
        self.view.node_claim.as_ref().is_some_and(|c| c.instance_terminating)
    }
}

/// The prepared view shared by every method of one pass.
pub(crate) struct Cluster<'v> {
    pub(crate) view: &'v ClusterView,
    pub(crate) now: Timestamp,
    /// Nodes in input order; node ids index this list.
    pub(crate) nodes: Vec<NodeInfo<'v>>,
    /// Node ids ordered by name: the order every method starts from.
    pub(crate) by_name: Vec<usize>,
    pub(crate) pools: BTreeMap<&'v str, PoolInfo<'v>>,
    pub(crate) pdbs: Pdbs<'v>,
    /// The provider's repair policies, compiled when the `NodeRepair` gate is on.
    pub(crate) repair: Option<Result<crate::repair::Matcher, String>>,
    pub(crate) input_errors: Vec<InputError>,
}

impl<'v> Cluster<'v> {
    pub(crate) fn new(view: &'v ClusterView) -> Self {
        let mut input_errors = Vec::new();
        let mut pools = BTreeMap::new();
        for pool in &view.node_pools {
            match parse_pool(view, pool) {
                Ok(info) => {
                    pools.insert(pool.pool.name.as_str(), info);
                }
                Err((field, message)) => input_errors.push(InputError {
                    object: format!("NodePool/{}", pool.pool.name),
                    field: Some(field),
                    message,
                }),
            }
        }
        let mut nodes = Vec::with_capacity(view.nodes.len());
        for node in &view.nodes {
            let pool_name = node.labels.get(labels::NODE_POOL).map(String::as_str);
            let pool = pool_name.and_then(|p| pools.get(p));
            let instance_type = pool.and_then(|p| {
                node.labels.get(labels::INSTANCE_TYPE).and_then(|t| p.instance_types.get(t.as_str()).copied())
            });
            let price = node.price.unwrap_or_else(|| offering_price(node, instance_type));
            let claim = node.node_claim.as_ref();
            let mut expire_after = pool.and_then(|p| p.expire_after);
            let mut termination_grace_period = pool.and_then(|p| p.termination_grace_period);
            if let Some(text) = claim.and_then(|c| c.expire_after.as_deref()) {
                match duration::parse_nillable(text) {
                    Ok(value) => expire_after = value,
                    Err(message) => input_errors.push(node_error(node, "nodeClaim.expireAfter", message)),
                }
            }
            if let Some(text) = claim.and_then(|c| c.termination_grace_period.as_deref()) {
                match duration::parse_go(text) {
                    Ok(value) => termination_grace_period = Some(value),
                    Err(message) => {
                        input_errors.push(node_error(node, "nodeClaim.terminationGracePeriod", message))
                    }
                }
            }
            // Expiration (`nodeclaim/expiration`): a managed NodeClaim not already deleting is deleted once its
            // creation time plus expireAfter has passed.
            let expired_at = match (claim, expire_after) {
                (Some(claim), Some(after)) if !node.marked_for_deletion => {
                    let at = claim.created.saturating_add(after.whole_seconds());
                    (Duration::seconds(view.now - claim.created) >= after).then_some(at)
                }
                _ => None,
            };
            nodes.push(NodeInfo {
                view: node,
                pool: pool_name,
                instance_type,
                price,
                expire_after,
                termination_grace_period,
                expired_at,
            });
        }
        let mut by_name: Vec<usize> = (0..nodes.len()).collect();
        by_name.sort_by(|&a, &b| nodes[a].name().cmp(nodes[b].name()).then(a.cmp(&b)));
        let pdbs = Pdbs::new(&view.pod_disruption_budgets, &mut input_errors);
        let repair =
            view.feature_gates.node_repair.then(|| crate::repair::Matcher::new(&view.repair_policies));
        if let Some(Err(message)) = &repair {
            // Upstream refuses to start with such a set; here repair alone is off and the rest goes on.
            input_errors.push(InputError {
                object: "RepairPolicies".to_string(),
                field: None,
                message: message.clone(),
            });
        }
        input_errors.sort();
        Cluster { view, now: view.now, nodes, by_name, pools, pdbs, repair, input_errors }
    }

    /// Whether consolidateAfter has passed since the node's last pod event (`IsUnderConsolidateAfter`), with the
    /// time it will have passed when it has not.
    pub(crate) fn under_consolidate_after(&self, node: &NodeInfo<'_>) -> Option<Timestamp> {
        let pool = self.pools.get(node.pool?)?;
        let after = pool.consolidate_after?;
        if after == Duration::ZERO {
            return None;
        }
        let claim = node.view.node_claim.as_ref()?;
        let initialized = claim.initialized_at?;
        let since = claim.last_pod_event_time.unwrap_or(initialized);
        let elapsed = Duration::seconds(self.now - since);
        (elapsed < after).then(|| since + after.whole_seconds() + i64::from(after.0 % 1_000_000_000 != 0))
    }

    /// The NodeClaim's `Consolidatable` condition: consolidation enabled, initialised, consolidateAfter elapsed.
    pub(crate) fn consolidatable(&self, node: &NodeInfo<'_>) -> bool {
        let Some(pool) = node.pool.and_then(|p| self.pools.get(p)) else { return false };
        pool.consolidate_after.is_some()
            && node.view.node_claim.as_ref().is_some_and(|c| c.initialized_at.is_some())
            && self.under_consolidate_after(node).is_none()
    }

    pub(crate) fn pool_of(&self, node: usize) -> Option<&PoolInfo<'v>> {
        self.nodes[node].pool.and_then(|p| self.pools.get(p))
    }
}

fn node_error(node: &Node, field: &str, message: String) -> InputError {
    InputError { object: format!("Node/{}", node.name), field: Some(field.to_string()), message }
}

/// `ResolveOfferingPrice`: the price of the first offering in the node's zone and capacity type, 0 when unknown.
fn offering_price(node: &Node, instance_type: Option<&InstanceType>) -> f64 {
    let (Some(it), Some(zone), Some(ct)) =
        (instance_type, node.labels.get(labels::ZONE), node.labels.get(labels::CAPACITY_TYPE))
    else {
        return 0.0;
    };
    it.offerings
        .iter()
        .find(|o| &o.zone == zone && &o.capacity_type == ct)
        .map(|o| o.price)
        .filter(|p| !p.is_nan())
        .unwrap_or(0.0)
}

type FieldError = (String, String);

fn parse_pool<'v>(view: &'v ClusterView, pool: &'v NodePool) -> Result<PoolInfo<'v>, FieldError> {
    let policy = match pool.disruption.consolidation_policy.as_deref() {
        None | Some("WhenEmptyOrUnderutilized") => Policy::WhenEmptyOrUnderutilized,
        Some("WhenEmpty") => Policy::WhenEmpty,
        Some("Balanced") => Policy::Balanced,
        Some(other) => {
            return Err((
                "spec.disruption.consolidationPolicy".to_string(),
                format!("unknown policy {other:?} (WhenEmpty, WhenEmptyOrUnderutilized or Balanced)"),
            ));
        }
    };
    let consolidate_after = match pool.disruption.consolidate_after.as_deref() {
        None => Some(Duration::ZERO),
        Some(text) => {
            duration::parse_nillable(text).map_err(|m| ("spec.disruption.consolidateAfter".to_string(), m))?
        }
    };
    let expire_after = match pool.expire_after.as_deref() {
        None => Some(Duration::seconds(720 * 3600)),
        Some(text) => {
            duration::parse_nillable(text).map_err(|m| ("spec.template.spec.expireAfter".to_string(), m))?
        }
    };
    let termination_grace_period = match pool.termination_grace_period.as_deref() {
        None => None,
        Some(text) => Some(
            duration::parse_go(text)
                .map_err(|m| ("spec.template.spec.terminationGracePeriod".to_string(), m))?,
        ),
    };
    let types = view.pool_instance_types.get(&pool.pool.name).unwrap_or(&view.instance_types);
    let instance_types = types.iter().map(|it| (it.name.as_str(), &**it)).collect();
    Ok(PoolInfo {
        view: pool,
        policy,
        consolidate_after,
        expire_after,
        termination_grace_period,
        instance_types,
        is_static: pool.replicas.is_some(),
    })
}

/// Facts about one bound pod.
pub(crate) fn pod_ref(pod: &Pod) -> PodRef {
    PodRef { namespace: pod.namespace.clone(), name: pod.name.clone() }
}

/// Not terminal and not terminating (`IsActive`).
pub(crate) fn is_active(pod: &BoundPod) -> bool {
    !matches!(pod.pod.phase.as_deref(), Some("Succeeded" | "Failed")) && !pod.pod.terminating
}

pub(crate) fn is_daemon(pod: &BoundPod) -> bool {
    pod.pod.daemon_set || pod.owner_kind.as_deref() == Some("DaemonSet")
}

pub(crate) fn is_mirror(pod: &BoundPod) -> bool {
    pod.owner_kind.as_deref() == Some("Node")
}

/// Whether the pod would need a new home if its node went away (`IsReschedulable`): active (or a terminating
/// StatefulSet pod, which must be gone before its replacement starts), not a DaemonSet pod, not a mirror pod.
pub(crate) fn is_reschedulable(pod: &BoundPod) -> bool {
    let stateful_terminating = pod.owner_kind.as_deref() == Some("StatefulSet") && pod.pod.terminating;
    (is_active(pod) || stateful_terminating) && !is_daemon(pod) && !is_mirror(pod)
}

/// The do-not-disrupt annotation in force on an active pod (`IsDoNotDisruptActive`): `"true"` always, a positive
/// Go duration until the pod is that old (forever if it has not started), anything else is ignored.
pub(crate) fn do_not_disrupt(pod: &BoundPod, now: Timestamp) -> Option<PodBlocker> {
    let value = pod.annotations.get(DO_NOT_DISRUPT)?;
    if value == "true" {
        return Some(PodBlocker::DoNotDisrupt { value: value.clone(), until: None });
    }
    let grace = duration::parse_go(value).ok().filter(|d| *d > Duration::ZERO)?;
    let Some(started) = pod.start_time else {
        return Some(PodBlocker::DoNotDisrupt { value: value.clone(), until: None });
    };
    (Duration::seconds(now - started) < grace).then(|| PodBlocker::DoNotDisrupt {
        value: value.clone(),
        until: Some(started + grace.whole_seconds() + i64::from(grace.0 % 1_000_000_000 != 0)),
    })
}

/// `IsDisruptable`: inactive pods never block; active ones block while do-not-disrupt is in force.
pub(crate) fn disruption_blocker(pod: &BoundPod, now: Timestamp) -> Option<PodBlocker> {
    if !is_active(pod) {
        return None;
    }
    do_not_disrupt(pod, now)
}

/// Whether the pod tolerates `karpenter.sh/disrupted:NoSchedule`; such pods are left on a draining node.
pub(crate) fn tolerates_disrupted_taint(pod: &Pod) -> bool {
    pod.tolerations.iter().any(|t| toleration_matches(t, DISRUPTED_TAINT, "", "NoSchedule"))
}

fn toleration_matches(t: &Toleration, key: &str, value: &str, effect: &str) -> bool {
    let effect_ok = t.effect.as_deref().is_none_or(|e| e.is_empty() || e == effect);
    let exists = t.operator.as_deref() == Some("Exists");
    let key_ok = if t.key.is_empty() { exists } else { t.key == key };
    let value_ok = exists || t.value == value;
    effect_ok && key_ok && value_ok
}

/// `IsEvictable`: the pods Karpenter would call the eviction API for, the only ones PDBs are checked against.
pub(crate) fn is_evictable(pod: &BoundPod, now: Timestamp) -> bool {
    is_active(pod)
        && !tolerates_disrupted_taint(&pod.pod)
        && !is_mirror(pod)
        && do_not_disrupt(pod, now).is_none()
}

/// `EvictionCost`: 1 plus the user's cost annotation over 2^27 plus the priority over 2^25, clamped to [-10, 10].
pub(crate) fn eviction_cost(pod: &BoundPod, pod_deletion_cost_managed: bool) -> f64 {
    let mut cost = 1.0;
    let annotation = match pod.annotations.get(DISRUPTION_COST) {
        Some(value) => Some(value),
        None if !pod_deletion_cost_managed => pod.annotations.get(POD_DELETION_COST),
        None => None,
    };
    // A value that is not an int32 is ignored, as upstream logs and skips it.
    if let Some(value) = annotation.and_then(|v| v.parse::<i32>().ok()) {
        cost += f64::from(value) / 2f64.powi(27);
    }
    if let Some(priority) = pod.priority {
        cost += f64::from(priority) / 2f64.powi(25);
    }
    cost.clamp(-10.0, 10.0)
}

/// `LifetimeRemaining`: the fraction of the NodeClaim's expireAfter still ahead, in [0, 1].
pub(crate) fn lifetime_remaining(now: Timestamp, node: &NodeInfo<'_>) -> f64 {
    let (Some(claim), Some(after)) = (node.view.node_claim.as_ref(), node.expire_after) else {
        return 1.0;
    };
    let total = after.as_secs_f64();
    if total <= 0.0 {
        return 0.0;
    }
    let age = (now - claim.created) as f64;
    ((total - age) / total).clamp(0.0, 1.0)
}

/// `StateNode.DisruptionCost`: 1 plus the positive eviction costs of the node's non-DaemonSet pods.
pub(crate) fn node_disruption_cost(node: &Node, managed_costs: bool) -> f64 {
    1.0 + node
        .pods
        .iter()
        .filter(|p| !is_daemon(p))
        .map(|p| eviction_cost(p, managed_costs).max(0.0))
        .sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(annotations: &[(&str, &str)], priority: Option<i32>) -> BoundPod {
        BoundPod {
            pod: Pod { name: "p".into(), ..Pod::default() },
            annotations: annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            priority,
            ..BoundPod::default()
        }
    }

    #[test]
    fn eviction_costs() {
        assert_eq!(eviction_cost(&pod(&[], None), false), 1.0);
        assert_eq!(eviction_cost(&pod(&[(POD_DELETION_COST, "134217728")], None), false), 2.0);
        // With the gate on, only Karpenter's own annotation counts.
        assert_eq!(eviction_cost(&pod(&[(POD_DELETION_COST, "134217728")], None), true), 1.0);
        assert_eq!(eviction_cost(&pod(&[(DISRUPTION_COST, "-2147483647")], None), true), -10.0);
        assert_eq!(eviction_cost(&pod(&[], Some(2_000_000_000)), false), 10.0);
        assert_eq!(eviction_cost(&pod(&[(DISRUPTION_COST, "x")], None), false), 1.0);
    }

    #[test]
    fn do_not_disrupt_durations() {
        let mut p = pod(&[(DO_NOT_DISRUPT, "10m")], None);
        p.start_time = Some(1000);
        assert!(do_not_disrupt(&p, 1000 + 599).is_some());
        assert!(do_not_disrupt(&p, 1000 + 600).is_none());
        p.start_time = None;
        assert!(do_not_disrupt(&p, 5000).is_some(), "an unstarted pod stays protected");
        let bad = pod(&[(DO_NOT_DISRUPT, "soon")], None);
        assert!(do_not_disrupt(&bad, 0).is_none(), "an invalid value is ignored");
        let negative = pod(&[(DO_NOT_DISRUPT, "-5m")], None);
        assert!(do_not_disrupt(&negative, 0).is_none());
    }
}
