//! Whether a pod may be moved off its node: the `karpenter.sh/do-not-disrupt` annotation, tolerations of the
//! disrupted taint, and PodDisruptionBudgets (`kubernetes-sigs/karpenter: pkg/utils/pod/scheduling.go`
//! `IsEvictable`, `IsDisruptable`, `IsDoNotDisruptActive`; `pkg/utils/pdb/pdb.go`). A provisioning round uses
//! them to pick the pods of deleting nodes that need new places; the disruption engine will use them to pick
//! candidates.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use karpenter_api::labels::{annotation, taint};

use crate::duration::parse_go_duration;
use crate::pod::{is_active, is_owned_by_node, is_reschedulable, namespace};
use crate::report::{Error, ObjectRef, Report};

/// What a pod's `karpenter.sh/do-not-disrupt` annotation says at a given time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DoNotDisrupt {
    /// No annotation.
    Absent,
    /// `"true"`, or a duration the pod has not yet run for (or whose start is unknown).
    Active,
    /// A duration the pod has run for.
    Elapsed,
    /// A value that is neither `"true"` nor a positive duration; it is ignored (the controller says so in an
    /// event).
    Invalid(String),
}

impl DoNotDisrupt {
    /// True only for [`DoNotDisrupt::Active`].
    pub fn is_active(&self) -> bool {
        *self == DoNotDisrupt::Active
    }
}

/// Reads the pod's `karpenter.sh/do-not-disrupt` annotation at `now`.
pub fn do_not_disrupt(pod: &Pod, now: Timestamp) -> DoNotDisrupt {
    let Some(value) = pod.metadata.annotations.as_ref().and_then(|a| a.get(annotation::DO_NOT_DISRUPT))
    else {
        return DoNotDisrupt::Absent;
    };
    if value == "true" {
        return DoNotDisrupt::Active;
    }
    let grace = match parse_go_duration(value) {
        Ok(nanos) if nanos > 0 => nanos,
        Ok(_) => return DoNotDisrupt::Invalid(format!("duration {value:?} must be positive")),
        Err(reason) => return DoNotDisrupt::Invalid(reason),
    };
    let Some(started) = pod.status.as_ref().and_then(|s| s.start_time.as_ref()) else {
        // Without a start time the age is unknown; the pod stays protected.
        return DoNotDisrupt::Active;
    };
    let age = now.as_nanosecond() - started.0.as_nanosecond();
    if age < grace { DoNotDisrupt::Active } else { DoNotDisrupt::Elapsed }
}

/// Whether one of the pod's tolerations tolerates the `karpenter.sh/disrupted:NoSchedule` taint.
pub fn tolerates_disrupted_taint(pod: &Pod) -> bool {
    let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.as_ref());
    tolerations.into_iter().flatten().any(|t| {
        let effect_matches = t.effect.as_deref().is_none_or(|e| e.is_empty() || e == "NoSchedule");
        let key = t.key.as_deref().unwrap_or_default();
        let exists = t.operator.as_deref() == Some("Exists");
        let key_matches = (key.is_empty() && exists) || key == taint::DISRUPTED;
        let value_matches = exists || t.value.as_deref().unwrap_or_default().is_empty();
        effect_matches && key_matches && value_matches
    })
}

/// A pod Karpenter would evict when it drains the node: active, not tolerating the disrupted taint, not a mirror
/// pod, and not protected by an active do-not-disrupt annotation.
pub fn is_evictable(pod: &Pod, now: Timestamp) -> bool {
    is_active(pod)
        && !tolerates_disrupted_taint(pod)
        && !is_owned_by_node(pod)
        && !do_not_disrupt(pod, now).is_active()
}

/// A pod that does not block voluntary disruption of its node: finished or terminating, or not protected by an
/// active do-not-disrupt annotation.
pub fn is_disruptable(pod: &Pod, now: Timestamp) -> bool {
    !is_active(pod) || !do_not_disrupt(pod, now).is_active()
}

/// One PodDisruptionBudget, as eviction checks need it.
#[derive(Debug, Clone)]
struct Budget {
    object: ObjectRef,
    namespace: String,
    /// `None` selects nothing (a budget without a selector).
    selector: Option<LabelSelector>,
    disruptions_allowed: i32,
    /// `maxUnavailable: 0` or `0%`, or `minAvailable: 100%`: no eviction will ever be allowed.
    fully_blocking: bool,
    /// `unhealthyPodEvictionPolicy: AlwaysAllow`: pods that are not Ready may always be evicted.
    always_evict_unhealthy: bool,
}

/// Which check an eviction is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blocker {
    /// The budget allows no disruption right now.
    NoDisruptionsAllowed,
    /// The budget can never allow one.
    FullyBlocking,
}

/// The cluster's PodDisruptionBudgets.
#[derive(Debug, Clone, Default)]
pub struct PdbLimits {
    budgets: Vec<Budget>,
}

impl PdbLimits {
    /// Reads the budgets; one whose selector cannot be read is reported and left out.
    pub fn new<'a>(pdbs: impl IntoIterator<Item = &'a PodDisruptionBudget>) -> (PdbLimits, Vec<Report>) {
        let mut budgets = Vec::new();
        let mut reports = Vec::new();
        for pdb in pdbs {
            let namespace = pdb.metadata.namespace.clone().unwrap_or_else(|| "default".into());
            let object = ObjectRef::namespaced(
                "PodDisruptionBudget",
                &namespace,
                pdb.metadata.name.as_deref().unwrap_or_default(),
            );
            let spec = pdb.spec.as_ref();
            let selector = spec.and_then(|s| s.selector.clone());
            if let Some(error) = selector.as_ref().and_then(check_selector) {
                reports.push(Report::new(object, error));
                continue;
            }
            let is_string =
                |v: Option<&IntOrString>, s: &str| matches!(v, Some(IntOrString::String(x)) if x == s);
            let max_unavailable = spec.and_then(|s| s.max_unavailable.as_ref());
            let min_available = spec.and_then(|s| s.min_available.as_ref());
            budgets.push(Budget {
                object,
                namespace,
                selector,
                disruptions_allowed: pdb.status.as_ref().and_then(|s| s.disruptions_allowed).unwrap_or(0),
                fully_blocking: matches!(max_unavailable, Some(IntOrString::Int(0)))
                    || is_string(max_unavailable, "0%")
                    || is_string(min_available, "100%"),
                always_evict_unhealthy: spec.and_then(|s| s.unhealthy_pod_eviction_policy.as_deref())
                    == Some("AlwaysAllow"),
            });
        }
        (PdbLimits { budgets }, reports)
    }

    /// The budgets that keep the pod from being evicted under `blocker`; empty when it may be evicted.
    fn blocking(&self, pod: &Pod, now: Timestamp, blocker: Blocker) -> Vec<ObjectRef> {
        // A pod Karpenter would not evict is not held back by budgets.
        if !is_evictable(pod, now) {
            return Vec::new();
        }
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let matching: Vec<&Budget> = self
            .budgets
            .iter()
            .filter(|b| {
                b.namespace == namespace(pod) && b.selector.as_ref().is_some_and(|s| matches(s, &labels))
            })
            .collect();
        // The eviction API refuses a pod under more than one budget, whatever they allow.
        if matching.len() > 1 {
            return matching.iter().map(|b| b.object.clone()).collect();
        }
        let not_ready = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "False");
        for budget in matching {
            if budget.always_evict_unhealthy && not_ready {
                return Vec::new();
            }
            let blocked = match blocker {
                Blocker::NoDisruptionsAllowed => budget.disruptions_allowed == 0,
                Blocker::FullyBlocking => budget.fully_blocking,
            };
            if blocked {
                return vec![budget.object.clone()];
            }
        }
        Vec::new()
    }

    /// The budgets that keep any of the pods from being evicted now; empty when every pod may be (not
    /// necessarily all at once).
    pub fn blocking_evictions<'a>(
        &self,
        pods: impl IntoIterator<Item = &'a Pod>,
        now: Timestamp,
    ) -> Vec<ObjectRef> {
        pods.into_iter()
            .map(|pod| self.blocking(pod, now, Blocker::NoDisruptionsAllowed))
            .find(|blocking| !blocking.is_empty())
            .unwrap_or_default()
    }

    /// A pod that will move when its node goes, so that capacity is worth making for it now: reschedulable, not
    /// protected by do-not-disrupt, and not under a budget that can never allow its eviction.
    pub fn is_currently_reschedulable(&self, pod: &Pod, now: Timestamp) -> bool {
        is_reschedulable(pod)
            && is_disruptable(pod, now)
            && self.blocking(pod, now, Blocker::FullyBlocking).is_empty()
    }
}

/// An operator Kubernetes label selectors do not have, or a set operator without values.
fn check_selector(selector: &LabelSelector) -> Option<Error> {
    for (i, e) in selector.match_expressions.iter().flatten().enumerate() {
        let field = format!("spec.selector.matchExpressions[{i}]");
        let values = e.values.as_ref().map_or(0, Vec::len);
        match e.operator.as_str() {
            "In" | "NotIn" if values == 0 => return Some(Error::invalid(field, "In and NotIn need values")),
            "Exists" | "DoesNotExist" if values > 0 => {
                return Some(Error::invalid(field, "Exists and DoesNotExist take no values"));
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => return Some(Error::invalid(field, format!("unknown operator {other:?}"))),
        }
    }
    None
}

/// Whether a (checked) label selector matches the labels; an empty selector matches everything.
pub(crate) fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = selector.match_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    by_labels
        && selector.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}
