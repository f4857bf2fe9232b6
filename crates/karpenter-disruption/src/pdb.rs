//! PodDisruptionBudgets as upstream evaluates them for candidacy (`kubernetes-sigs/karpenter: pkg/utils/pdb/pdb.go`):
//! a pod under more than one PDB can never be evicted, a PDB with no disruptions left blocks its pods, and a PDB
//! that can never allow one (maxUnavailable 0 or 0%, minAvailable 100%) keeps its pods out of simulations.

use karpenter_solver::model::{LabelSelector, Labels};
use karpenter_solver::plan::InputError;

use crate::cluster::{is_active, is_evictable};
use crate::decision::PodBlocker;
use crate::view::{BoundPod, IntOrString, PodDisruptionBudget, Timestamp};

struct Pdb<'v> {
    view: &'v PodDisruptionBudget,
    key: String,
    fully_blocking: bool,
    always_allow_unhealthy: bool,
}

/// The PDBs of the view, checked once.
pub(crate) struct Pdbs<'v> {
    pdbs: Vec<Pdb<'v>>,
}

/// Which PDBs count as blocking.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Blocking {
    /// PDBs with no disruptions allowed right now (candidacy).
    NoDisruptionsLeft,
    /// PDBs that can never allow a disruption (what is worth rescheduling).
    Fully,
}

impl<'v> Pdbs<'v> {
    pub(crate) fn new(pdbs: &'v [PodDisruptionBudget], errors: &mut Vec<InputError>) -> Self {
        let mut out = Vec::new();
        for pdb in pdbs {
            if let Some(selector) = &pdb.selector
                && let Err(message) = check_selector(selector)
            {
                // Upstream fails the whole pass on a selector it cannot read; one bad PDB is set aside here.
                errors.push(InputError {
                    object: format!("PodDisruptionBudget/{}/{}", pdb.namespace, pdb.name),
                    field: Some("spec.selector".to_string()),
                    message,
                });
                continue;
            }
            let fully_blocking = matches!(pdb.max_unavailable, Some(IntOrString::Int(0)))
                || matches!(&pdb.max_unavailable, Some(IntOrString::String(s)) if s == "0%")
                || matches!(&pdb.min_available, Some(IntOrString::String(s)) if s == "100%");
            out.push(Pdb {
                view: pdb,
                key: format!("{}/{}", pdb.namespace, pdb.name),
                fully_blocking,
                always_allow_unhealthy: pdb.unhealthy_pod_eviction_policy.as_deref() == Some("AlwaysAllow"),
            });
        }
        Pdbs { pdbs: out }
    }

    fn blocker(&self, pod: &BoundPod, now: Timestamp, blocking: Blocking) -> Option<PodBlocker> {
        if !is_evictable(pod, now) {
            return None;
        }
        let matching: Vec<&Pdb<'_>> = self
            .pdbs
            .iter()
            .filter(|p| {
                p.view.namespace == pod.pod.namespace
                    && p.view.selector.as_ref().is_some_and(|s| selector_matches(s, &pod.pod.labels))
            })
            .collect();
        if matching.len() > 1 {
            let mut names: Vec<String> = matching.iter().map(|p| p.key.clone()).collect();
            names.sort();
            return Some(PodBlocker::MultiplePdbs { names });
        }
        let pdb = matching.first()?;
        if pdb.always_allow_unhealthy && !pod.ready {
            return None;
        }
        let blocks = match blocking {
            Blocking::NoDisruptionsLeft => pdb.view.disruptions_allowed == 0,
            Blocking::Fully => pdb.fully_blocking,
        };
        blocks.then(|| PodBlocker::Pdb { name: pdb.key.clone() })
    }

    /// The first pod (in the given order) whose eviction a PDB blocks now (`CanEvictPods`).
    pub(crate) fn eviction_blocker<'p>(
        &self,
        pods: impl IntoIterator<Item = &'p BoundPod>,
        now: Timestamp,
    ) -> Option<(&'p BoundPod, PodBlocker)> {
        pods.into_iter().find_map(|p| self.blocker(p, now, Blocking::NoDisruptionsLeft).map(|b| (p, b)))
    }

    /// `IsCurrentlyReschedulable` without the reschedulable check: the pod is not held by do-not-disrupt and no
    /// PDB can ever let it go.
    pub(crate) fn currently_movable(&self, pod: &BoundPod, now: Timestamp) -> bool {
        let held = is_active(pod) && crate::cluster::do_not_disrupt(pod, now).is_some();
        !held && self.blocker(pod, now, Blocking::Fully).is_none()
    }
}

/// Whether a label selector matches a set of labels (`metav1.LabelSelectorAsSelector`): every `matchLabels`
/// entry and every expression must hold; an empty selector matches everything.
pub(crate) fn selector_matches(selector: &LabelSelector, labels: &Labels) -> bool {
    selector.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
        && selector.match_expressions.iter().all(|e| {
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| e.values.contains(v)),
                "NotIn" => value.is_none_or(|v| !e.values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

fn check_selector(selector: &LabelSelector) -> Result<(), String> {
    for (i, e) in selector.match_expressions.iter().enumerate() {
        match e.operator.as_str() {
            "In" | "NotIn" if e.values.is_empty() => {
                return Err(format!("matchExpressions[{i}]: {} needs at least one value", e.operator));
            }
            "Exists" | "DoesNotExist" if !e.values.is_empty() => {
                return Err(format!("matchExpressions[{i}]: {} takes no values", e.operator));
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => return Err(format!("matchExpressions[{i}]: unknown operator {other:?}")),
        }
    }
    Ok(())
}
