//! Pods: effective requests (`pkg/utils/resources`, KEP-753), node selectors and affinity, tolerations, topology
//! terms, host ports and volume topology, checked as upstream's provisioner validates pending pods
//! (`provisioner.go`, `Validate`).

use super::selectors::{KeyCheck, build_requirement, check_pod_key, compile_term};
use super::{NamespaceIndex, PodData, QueueKey};
use crate::error::FieldError;
use crate::interner::Interner;
use crate::labels;
use crate::model::{self, NodeSelectorRequirement, Pod};
use crate::plan::PodRef;
use crate::podterms::{self, Kind, Term};
use crate::requirements::{Requirements, Shape};
use crate::resources::{self, PODS_INDEX, Res, ResourceTable};
use crate::taints::Toleration;

/// Which pods are compiled, for the checks that differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PodKind {
    /// A pod waiting for capacity: its selectors must name keys Karpenter can promise.
    Pending,
    /// A DaemonSet's pod, for the overhead it adds to every node it would run on.
    DaemonSet,
}

impl PodKind {
    fn key_check(self) -> KeyCheck {
        if self == PodKind::Pending { KeyCheck::PodSelectable } else { KeyCheck::Any }
    }
}

/// Effective requests as kube-scheduler computes them (KEP-753): the larger of the app containers plus sidecars and
/// the largest init container (plus the sidecars started before it), then pod overhead; the pod count is one.
pub(crate) fn pod_requests(table: &ResourceTable, pod: &Pod) -> Result<Res, FieldError> {
    let parse = |list: &model::ResourceList, field: String| table.parse(list).map_err(|e| e.under(&field));
    let mut requests = table.zero();
    for (i, container) in pod.containers.iter().enumerate() {
        let r = parse(&container.requests, format!("spec.containers[{i}].resources.requests"))?;
        resources::add_assign(&mut requests, &r);
    }
    let mut sidecars = table.zero();
    let mut largest_init = table.zero();
    for (i, container) in pod.init_containers.iter().enumerate() {
        let r = parse(&container.requests, format!("spec.initContainers[{i}].resources.requests"))?;
        let during_init = match container.restart_policy.as_deref() {
            Some("Always") => {
                resources::add_assign(&mut requests, &r);
                resources::add_assign(&mut sidecars, &r);
                sidecars.clone()
            }
            None | Some("") => resources::sum(&r, &sidecars),
            Some(other) => {
                return Err(FieldError::new(
                    format!("spec.initContainers[{i}].restartPolicy"),
                    format!("unknown restart policy {other:?}, only Always is allowed"),
                ));
            }
        };
        resources::max_assign(&mut largest_init, &during_init);
    }
    resources::max_assign(&mut requests, &largest_init);
    let overhead = parse(&pod.overhead, "spec.overhead".to_string())?;
    resources::add_assign(&mut requests, &overhead);
    requests[PODS_INDEX] = 1;
    Ok(requests)
}

/// Compiles a pod; the error names the field at fault.
pub(crate) fn compile_pod(
    interner: &mut Interner,
    table: &ResourceTable,
    namespaces: &NamespaceIndex<'_>,
    pod: &Pod,
    kind: PodKind,
) -> Result<PodData, FieldError> {
    let requests = pod_requests(table, pod)?;
    let keys = kind.key_check();
    let mut node_selector = Requirements::default();
    for (key, value) in &pod.node_selector {
        let field = format!("spec.nodeSelector[{key}]");
        if keys == KeyCheck::PodSelectable {
            check_pod_key(interner, key).map_err(|m| FieldError::new(field.clone(), m))?;
        }
        let requirement =
            build_requirement(interner, &NodeSelectorRequirement::new(key.clone(), "In", &[value]), &field)?;
        let key = interner.key(key);
        node_selector.add(interner, key, requirement);
    }
    let mut required_terms = Vec::new();
    let mut preferred = Vec::new();
    if let Some(affinity) = &pod.node_affinity {
        for (t, term) in affinity.required.iter().enumerate() {
            let field = format!(
                "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[{t}]"
            );
            if !term.match_fields.is_empty() {
                return Err(FieldError::new(
                    format!("{field}.matchFields"),
                    "node selector terms with matchFields are not supported",
                ));
            }
            required_terms.push(compile_term(interner, &term.match_expressions, &field, keys)?);
        }
        for (t, term) in affinity.preferred.iter().enumerate() {
            let field = format!(
                "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[{t}].preference"
            );
            preferred.push((
                term.weight,
                compile_term(interner, &term.preference.match_expressions, &field, KeyCheck::Any)?,
            ));
        }
    }
    let preferred_terms = podterms::by_weight_desc(preferred);
    let tolerations = pod_tolerations(pod)?;
    if kind == PodKind::Pending {
        // A pod that asks not to run on Karpenter nodes gets a clear answer rather than a requirement mismatch.
        let mut effective = node_selector.clone();
        if let Some(term) = preferred_terms.first() {
            effective.add_all(interner, term);
        }
        if let Some(term) = required_terms.first() {
            effective.add_all(interner, term);
        }
        let pool_key = interner.keys().node_pool;
        if effective.get(pool_key).is_some_and(|r| r.shape() == Shape::DoesNotExist) {
            return Err(FieldError::new(
                "spec.affinity.nodeAffinity",
                format!(
                    "configured to not run on a Karpenter provisioned node ({} DoesNotExist)",
                    labels::NODE_POOL
                ),
            ));
        }
    }
    // Spread constraints count only nodes the pod could use: its node selector with each required term.
    let filter_requirements: Vec<Requirements> = if required_terms.is_empty() {
        vec![node_selector.clone()]
    } else {
        required_terms
            .iter()
            .map(|term| {
                let mut both = node_selector.clone();
                both.add_all(interner, term);
                both
            })
            .collect()
    };
    let mut spread = Vec::new();
    for (i, constraint) in pod.topology_spread_constraints.iter().enumerate() {
        let field = format!("spec.topologySpreadConstraints[{i}]");
        spread.push(podterms::spread_term(
            interner,
            pod,
            constraint,
            filter_requirements.clone(),
            &tolerations,
            &field,
        )?);
    }
    let (affinity_required, affinity_preferred) =
        affinity_terms(interner, namespaces, pod, Kind::Affinity, pod.pod_affinity.as_ref())?;
    let (anti_required, anti_preferred) =
        affinity_terms(interner, namespaces, pod, Kind::AntiAffinity, pod.pod_anti_affinity.as_ref())?;
    let host_ports = podterms::host_ports(pod)?;
    let mut volume_alternatives = Vec::new();
    for (i, term) in pod.volume_topology.iter().enumerate() {
        let field = format!("volumeTopology[{i}]");
        volume_alternatives.push(compile_term(interner, &term.match_expressions, &field, KeyCheck::Any)?);
    }
    Ok(PodData {
        reference: PodRef::of(pod),
        queue: QueueKey::new(pod, &requests),
        requests,
        node_selector,
        required_terms,
        preferred_terms,
        tolerations,
        namespace: pod.namespace.clone(),
        labels: pod.labels.clone(),
        spread,
        affinity_required,
        affinity_preferred,
        anti_required,
        anti_preferred,
        host_ports,
        volume_alternatives,
        uses_dra: !pod.resource_claims.is_empty(),
    })
}

/// A pod's tolerations; the error names the one at fault.
pub(crate) fn pod_tolerations(pod: &Pod) -> Result<Vec<Toleration>, FieldError> {
    pod.tolerations
        .iter()
        .enumerate()
        .map(|(i, t)| {
            Toleration::from_model(t).map_err(|m| FieldError::new(format!("spec.tolerations[{i}]"), m))
        })
        .collect()
}

/// The API field of an affinity kind.
fn field_name(kind: Kind) -> &'static str {
    if kind == Kind::AntiAffinity { "podAntiAffinity" } else { "podAffinity" }
}

/// Required terms of a pod affinity or anti-affinity.
pub(crate) fn required_affinity_terms(
    interner: &mut Interner,
    namespaces: &NamespaceIndex<'_>,
    pod: &Pod,
    kind: Kind,
    affinity: Option<&model::PodAffinity>,
) -> Result<Vec<Term>, FieldError> {
    let Some(affinity) = affinity else { return Ok(Vec::new()) };
    let name = field_name(kind);
    let mut required = Vec::with_capacity(affinity.required.len());
    for (i, term) in affinity.required.iter().enumerate() {
        let field = format!("spec.affinity.{name}.requiredDuringSchedulingIgnoredDuringExecution[{i}]");
        required.push(podterms::affinity_term(interner, namespaces, pod, kind, term, &field)?);
    }
    Ok(required)
}

/// Required and preferred (heaviest first) terms of a pod affinity or anti-affinity.
fn affinity_terms(
    interner: &mut Interner,
    namespaces: &NamespaceIndex<'_>,
    pod: &Pod,
    kind: Kind,
    affinity: Option<&model::PodAffinity>,
) -> Result<(Vec<Term>, Vec<Term>), FieldError> {
    let required = required_affinity_terms(interner, namespaces, pod, kind, affinity)?;
    let Some(affinity) = affinity else { return Ok((required, Vec::new())) };
    let name = field_name(kind);
    let mut preferred = Vec::new();
    for (i, term) in affinity.preferred.iter().enumerate() {
        let field = format!(
            "spec.affinity.{name}.preferredDuringSchedulingIgnoredDuringExecution[{i}].podAffinityTerm"
        );
        preferred.push((
            term.weight,
            podterms::affinity_term(interner, namespaces, pod, kind, &term.pod_affinity_term, &field)?,
        ));
    }
    Ok((required, podterms::by_weight_desc(preferred)))
}
