//! Status conditions as Karpenter's objects carry them (awslabs/operatorpkg `status/condition_set.go`): a root
//! `Ready` condition computed from a fixed set of dependent conditions, dependents initialised `Unknown` as of the
//! object's creation, and a transition time that moves only when the status does.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use karpenter_api::labels::condition;
use karpenter_api::{Condition, NodeClaim, NodePool};

/// `True`.
pub const TRUE: &str = "True";
/// `False`.
pub const FALSE: &str = "False";
/// `Unknown`.
pub const UNKNOWN: &str = "Unknown";

/// The dependents of a NodeClaim's `Ready` condition.
pub const NODE_CLAIM_DEPENDENTS: &[&str] =
    &[condition::LAUNCHED, condition::REGISTERED, condition::INITIALIZED];
/// The dependents of a NodePool's `Ready` condition.
pub const NODE_POOL_DEPENDENTS: &[&str] = &[condition::VALIDATION_SUCCEEDED, condition::NODE_CLASS_READY];

/// The condition of a type in a list, if present.
pub fn get<'a>(conditions: Option<&'a Vec<Condition>>, type_: &str) -> Option<&'a Condition> {
    conditions?.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of a type is present and `True`.
pub fn is_true(conditions: Option<&Vec<Condition>>, type_: &str) -> bool {
    get(conditions, type_).is_some_and(|c| c.status == TRUE)
}

/// The conditions of a NodeClaim.
pub fn of_claim(claim: &NodeClaim) -> Option<&Vec<Condition>> {
    claim.status.as_ref()?.conditions.as_ref()
}

/// A NodeClaim's condition of a type.
pub fn claim_condition<'a>(claim: &'a NodeClaim, type_: &str) -> Option<&'a Condition> {
    get(of_claim(claim), type_)
}

/// The NodeClaim with a condition that is not a dependent of `Ready` (`DisruptionReason`, `Drifted`) set `True`
/// with `reason` as reason and message, or removed when `reason` is `None`; `None` when it already is so, so that
/// callers write only changes.
pub fn with_claim_condition(
    claim: &NodeClaim,
    type_: &str,
    reason: Option<&str>,
    now: Timestamp,
) -> Option<NodeClaim> {
    let current = claim_condition(claim, type_);
    let mut changed = claim.clone();
    match reason {
        Some(reason) => {
            if current.is_some_and(|c| c.status == TRUE && c.reason == reason) {
                return None;
            }
            ConditionSet::node_claim(&mut changed, now).set_true_with_reason(type_, reason, reason);
        }
        None => {
            current?;
            if let Some(list) = changed.status.as_mut().and_then(|s| s.conditions.as_mut()) {
                list.retain(|c| c.type_ != type_);
            }
        }
    }
    Some(changed)
}

/// An object's conditions, open for change at one moment.
pub struct ConditionSet<'a> {
    list: &'a mut Option<Vec<Condition>>,
    dependents: &'static [&'static str],
    generation: Option<i64>,
    created: Option<Timestamp>,
    now: Timestamp,
}

impl<'a> ConditionSet<'a> {
    /// The conditions of a NodeClaim, its dependents initialised `Unknown` if they are missing.
    pub fn node_claim(claim: &'a mut NodeClaim, now: Timestamp) -> Self {
        let generation = claim.metadata.generation;
        let created = claim.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let status = claim.status.get_or_insert_with(Default::default);
        ConditionSet::new(&mut status.conditions, NODE_CLAIM_DEPENDENTS, generation, created, now)
    }

    /// The conditions of a NodePool, its dependents initialised `Unknown` if they are missing.
    pub fn node_pool(pool: &'a mut NodePool, now: Timestamp) -> Self {
        let generation = pool.metadata.generation;
        let created = pool.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let status = pool.status.get_or_insert_with(Default::default);
        ConditionSet::new(&mut status.conditions, NODE_POOL_DEPENDENTS, generation, created, now)
    }

    fn new(
        list: &'a mut Option<Vec<Condition>>,
        dependents: &'static [&'static str],
        generation: Option<i64>,
        created: Option<Timestamp>,
        now: Timestamp,
    ) -> Self {
        let mut set = ConditionSet { list, dependents, generation, created, now };
        for dependent in dependents {
            if set.get(dependent).is_none() {
                set.set_unknown_with_reason(
                    dependent,
                    "AwaitingReconciliation",
                    "object is awaiting reconciliation",
                );
            }
        }
        if set.get(condition::READY).is_none() {
            set.recompute_root();
        }
        set
    }

    /// The condition of a type.
    pub fn get(&self, type_: &str) -> Option<&Condition> {
        get(self.list.as_ref(), type_)
    }

    /// Whether the condition of a type is `True`.
    pub fn is_true(&self, type_: &str) -> bool {
        is_true(self.list.as_ref(), type_)
    }

    /// Sets a condition `True` with its type as the reason.
    pub fn set_true(&mut self, type_: &str) -> bool {
        self.set(type_, TRUE, type_, "")
    }

    /// Sets a condition `True` with a reason.
    pub fn set_true_with_reason(&mut self, type_: &str, reason: &str, message: &str) -> bool {
        self.set(type_, TRUE, reason, message)
    }

    /// Sets a condition `False`.
    pub fn set_false(&mut self, type_: &str, reason: &str, message: &str) -> bool {
        self.set(type_, FALSE, reason, message)
    }

    /// Sets a condition `Unknown`.
    pub fn set_unknown_with_reason(&mut self, type_: &str, reason: &str, message: &str) -> bool {
        self.set(type_, UNKNOWN, reason, message)
    }

    /// Sets a condition; returns whether anything changed. The transition time moves only with the status; a
    /// dependent seen for the first time dates from the object's creation.
    pub fn set(&mut self, type_: &str, status: &str, reason: &str, message: &str) -> bool {
        let existing = self.get(type_).cloned();
        let transition = match &existing {
            Some(old) if old.status == status => old.last_transition_time.clone(),
            Some(_) => Time(self.now),
            None if self.dependents.contains(&type_) => Time(self.created.unwrap_or(self.now)),
            None => Time(self.now),
        };
        let new = Condition {
            type_: type_.to_string(),
            status: status.to_string(),
            observed_generation: self.generation,
            last_transition_time: transition,
            reason: reason.to_string(),
            message: message.to_string(),
        };
        if existing.as_ref() == Some(&new) {
            return false;
        }
        let list = self.list.get_or_insert_with(Vec::new);
        list.retain(|c| c.type_ != type_);
        list.push(new);
        // The root last, the others by transition time, as kubectl shows them.
        list.sort_by(|a, b| {
            let root = (a.type_ == condition::READY).cmp(&(b.type_ == condition::READY));
            root.then_with(|| a.last_transition_time.0.cmp(&b.last_transition_time.0))
        });
        if type_ != condition::READY {
            self.recompute_root();
        }
        true
    }

    /// `Ready` is `True` when every dependent is; `False` when one is `False`; `Unknown` otherwise.
    fn recompute_root(&mut self) {
        let mut unhealthy: Vec<Condition> = self
            .dependents
            .iter()
            .filter_map(|d| self.get(d))
            .filter(|c| c.status != TRUE || c.observed_generation != self.generation)
            .cloned()
            .collect();
        if unhealthy.is_empty() {
            self.set(condition::READY, TRUE, condition::READY, "");
            return;
        }
        unhealthy.sort_by_key(|c| std::cmp::Reverse(c.last_transition_time.0));
        let failed = unhealthy.iter().any(|c| c.status == FALSE && c.observed_generation == self.generation);
        let message =
            unhealthy.iter().map(|c| format!("{}={}", c.type_, c.status)).collect::<Vec<_>>().join(", ");
        if failed {
            self.set(condition::READY, FALSE, "UnhealthyDependents", &message);
        } else {
            self.set(condition::READY, UNKNOWN, "ReconcilingDependents", &message);
        }
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn show(claim: &NodeClaim) -> String {
        of_claim(claim)
            .into_iter()
            .flatten()
            .map(|c| {
                format!(
                    "{} {} {} {:?} @{}\n",
                    c.type_, c.status, c.reason, c.message, c.last_transition_time.0
                )
            })
            .collect()
    }

    #[test]
    fn dependents_start_unknown_as_of_creation_and_ready_follows_them() {
        let mut claim = NodeClaim::new("c", Default::default());
        claim.metadata.creation_timestamp = Some(Time(at("2026-01-01T00:00:00Z")));
        let mut set = ConditionSet::node_claim(&mut claim, at("2026-01-01T00:00:10Z"));
        set.set_true(condition::LAUNCHED);
        expect![[r#"
            Registered Unknown AwaitingReconciliation "object is awaiting reconciliation" @2026-01-01T00:00:00Z
            Initialized Unknown AwaitingReconciliation "object is awaiting reconciliation" @2026-01-01T00:00:00Z
            Launched True Launched "" @2026-01-01T00:00:10Z
            Ready Unknown ReconcilingDependents "Registered=Unknown, Initialized=Unknown" @2026-01-01T00:00:10Z
        "#]]
        .assert_eq(&show(&claim));

        let mut set = ConditionSet::node_claim(&mut claim, at("2026-01-01T00:00:20Z"));
        set.set_true(condition::REGISTERED);
        assert!(!set.set_true(condition::REGISTERED), "setting the same condition twice changes nothing");
        set.set_false(condition::INITIALIZED, "NodeNotReady", "Node status is NotReady");
        set.set_true(condition::INITIALIZED);
        expect![[r#"
            Launched True Launched "" @2026-01-01T00:00:10Z
            Registered True Registered "" @2026-01-01T00:00:20Z
            Initialized True Initialized "" @2026-01-01T00:00:20Z
            Ready True Ready "" @2026-01-01T00:00:20Z
        "#]]
        .assert_eq(&show(&claim));
    }

    #[test]
    fn a_false_dependent_makes_ready_false() {
        let mut pool = NodePool::new("default", Default::default());
        let mut set = ConditionSet::node_pool(&mut pool, at("2026-01-01T00:00:00Z"));
        set.set_true(condition::VALIDATION_SUCCEEDED);
        set.set_false(condition::NODE_CLASS_READY, "NodeClassNotFound", "NodeClass not found on cluster");
        let ready = set.get(condition::READY).unwrap();
        assert_eq!((ready.status.as_str(), ready.reason.as_str()), (FALSE, "UnhealthyDependents"));
        assert_eq!(ready.message, "NodeClassReady=False");
    }
}
