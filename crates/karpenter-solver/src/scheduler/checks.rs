//! Every admission check, each a small function, in the one order both admission paths make them
//! (`existingnode.go` `CanAdd`, `nodeclaim.go` `CanAdd`):
//!
//! 1. [`resources`]: the pod fits what is left of a node, or, for a NodeClaim, the most any of its instance types
//!    can still hold (the cheapest check, and the one that rules out most targets);
//! 2. [`taints`]: the pod tolerates the target's taints;
//! 3. [`host_ports`]: none of the pod's host ports is taken there;
//! 4. [`requirements`]: the pod's node selector and affinity are compatible with the target's labels;
//! 5. [`volumes_and_topology`]: one of the pod's volume alternatives, then the domains topology allows, tried for
//!    each alternative in turn;
//! 6. for a NodeClaim only, [`claim_instance_types`]: the instance types that still fit and can be bought.
//!
//! [`admit`] makes checks 1 to 4; the two paths (`existing.rs`, `claims.rs`) then make 5 and 6. A new constraint
//! is a new function here, called in its place. Refusals are put into words only
//! when they are reported (refusals of new NodeClaims): formatting every refusal made large solves quadratic.

use std::borrow::Cow;

use crate::compile::PodData;
use crate::filter::{FilterFailure, Query, Types, filter_instance_types};
use crate::ids::{PodId, TypeId};
use crate::interner::Interner;
use crate::plan::Check;
use crate::podterms::HostPort;
use crate::requirements::{Requirements, Undefined};
use crate::resources::{self, Res};
use crate::taints::{self, Taint, Toleration};
use crate::templates::Template;
use crate::topology::{Constraints, Topology};

/// Why a pod cannot go somewhere: the checks that failed and, when it is reported, why in words.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub(crate) checks: Vec<Check>,
    pub(crate) message: String,
}

impl Refusal {
    fn new(check: Check, message: String) -> Self {
        Refusal { checks: vec![check], message }
    }
}

/// Whether refusals are put into words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Explain {
    /// The refusal is not reported: only its existence matters.
    Silently,
    /// The refusal is reported to the user.
    InWords,
}

/// One attempt to place a pod: everything the checks need, worked out once.
pub(crate) struct Attempt<'a> {
    pub(crate) pod: PodId,
    pub(crate) data: &'a PodData,
    /// Node selector, the current required term and (under Respect) the current preferred term.
    pub(crate) requirements: &'a Requirements,
    /// Node selector and the current required term only.
    pub(crate) strict: &'a Requirements,
    pub(crate) constraints: &'a Constraints,
    pub(crate) extra_toleration: Option<&'a Toleration>,
    pub(crate) explain: Explain,
}

impl Attempt<'_> {
    fn words(&self, explanation: impl FnOnce() -> String) -> String {
        match self.explain {
            Explain::InWords => explanation(),
            Explain::Silently => String::new(),
        }
    }
}

/// What a target has room for.
pub(crate) enum Room<'t> {
    /// What is left of a node.
    Node(&'t Res),
    /// A NodeClaim's pods so far, and the most any of its instance types can hold (empty before its first pod:
    /// check 6 decides alone).
    Claim { requests: &'t Res, headroom: &'t Res },
}

/// Where a pod may go: an existing (or in-flight) node, or a NodeClaim of this round.
pub(crate) struct Target<'t> {
    pub(crate) room: Room<'t>,
    pub(crate) taints: &'t [Taint],
    pub(crate) ports: &'t [HostPort],
    pub(crate) requirements: &'t Requirements,
    /// Nodes must define every label asked for; NodeClaims get well-known labels at launch.
    pub(crate) undefined: Undefined,
}

/// Checks 1 to 4 for any target. Returns the target's requirements narrowed by the pod's own, ready for
/// [`volumes_and_topology`].
pub(crate) fn admit<'t>(
    interner: &Interner,
    target: &Target<'t>,
    attempt: &Attempt<'_>,
) -> Result<Cow<'t, Requirements>, Refusal> {
    resources(target, attempt)?;
    taints(target, attempt)?;
    host_ports(target, attempt)?;
    requirements(interner, target, attempt)?;
    let mut narrowed = Cow::Borrowed(target.requirements);
    add_narrowing(interner, &mut narrowed, attempt.requirements);
    Ok(narrowed)
}

/// Check 1: the pod's requests fit the target's room.
pub(crate) fn resources(target: &Target<'_>, attempt: &Attempt<'_>) -> Result<(), Refusal> {
    let requests = &attempt.data.requests;
    let fits = match target.room {
        Room::Node(remaining) => resources::fits(requests, remaining),
        Room::Claim { requests: held, headroom } => {
            headroom.is_empty() || resources::fits_with(held, requests, headroom)
        }
    };
    if fits {
        Ok(())
    } else {
        Err(Refusal::new(Check::Resources, attempt.words(|| "not enough resources left".to_string())))
    }
}

/// Check 2: the pod tolerates every taint of the target (with PreferNoSchedule once relaxation allows it).
pub(crate) fn taints(target: &Target<'_>, attempt: &Attempt<'_>) -> Result<(), Refusal> {
    match taints::first_untolerated(target.taints, &attempt.data.tolerations, attempt.extra_toleration) {
        Some(taint) => {
            Err(Refusal::new(Check::Taints, attempt.words(|| format!("did not tolerate taint {taint}"))))
        }
        None => Ok(()),
    }
}

/// Check 3: none of the pod's host ports collides with one already taken on the target.
pub(crate) fn host_ports(target: &Target<'_>, attempt: &Attempt<'_>) -> Result<(), Refusal> {
    match ports_collide(&attempt.data.host_ports, target.ports) {
        Some((port, taken)) => Err(Refusal::new(
            Check::HostPorts,
            attempt.words(|| format!("host port {port} conflicts with {taken} of another pod")),
        )),
        None => Ok(()),
    }
}

/// Check 4: the target's labels allow the pod's node selector and node affinity.
pub(crate) fn requirements(
    interner: &Interner,
    target: &Target<'_>,
    attempt: &Attempt<'_>,
) -> Result<(), Refusal> {
    target.requirements.compatible(interner, attempt.requirements, target.undefined).map_err(|conflict| {
        let why = attempt.words(|| target.requirements.explain(interner, attempt.requirements, conflict));
        Refusal::new(Check::Requirements, format!("incompatible requirements, {why}"))
    })
}

/// Check 5: adds a volume alternative and the topology's domain requirements to `requirements`, checking each
/// is compatible.
pub(crate) fn volumes_and_topology<'r>(
    interner: &Interner,
    topology: &Topology,
    mut requirements: Cow<'r, Requirements>,
    volume: Option<&Requirements>,
    attempt: &Attempt<'_>,
    undefined: Undefined,
) -> Result<Cow<'r, Requirements>, Refusal> {
    if let Some(volume) = volume {
        if let Err(conflict) = requirements.compatible(interner, volume, undefined) {
            let why = attempt.words(|| requirements.explain(interner, volume, conflict));
            return Err(Refusal::new(Check::Volumes, format!("incompatible volume requirements, {why}")));
        }
        add_narrowing(interner, &mut requirements, volume);
    }
    if !attempt.constraints.is_empty() {
        let domains = topology
            .domain_requirements(interner, attempt.pod, attempt.constraints, attempt.strict, &requirements)
            .map_err(|conflict| {
                Refusal::new(
                    Check::Topology,
                    attempt.words(|| topology.explain(interner, &conflict, attempt.strict, &requirements)),
                )
            })?;
        let mut domain_requirements = Requirements::default();
        for (key, requirement) in domains {
            domain_requirements.add(interner, key, requirement);
        }
        if let Err(conflict) = requirements.compatible(interner, &domain_requirements, undefined) {
            let why = attempt.words(|| requirements.explain(interner, &domain_requirements, conflict));
            return Err(Refusal::new(Check::Topology, format!("topology requirements conflict, {why}")));
        }
        add_narrowing(interner, &mut requirements, &domain_requirements);
    }
    Ok(requirements)
}

/// The pod's volume alternatives, or one "no constraint" alternative.
pub(crate) fn volume_alternatives(data: &PodData) -> impl Iterator<Item = Option<&Requirements>> + '_ {
    let count = data.volume_alternatives.len().max(1);
    (0..count).map(|i| data.volume_alternatives.get(i))
}

/// Check 6: the claim's instance types that can hold its pods and this one (with the DaemonSet overhead of each
/// type's group, whose pods must not take the pod's host ports either) and be bought under `requirements`.
pub(crate) fn claim_instance_types(
    types: Types<'_>,
    template: &Template,
    pod: &PodData,
    query: Query<'_>,
) -> Result<crate::filter::Filtered, FilterFailure> {
    let overhead_of = |it: TypeId| {
        let group = template.group(it)?;
        ports_collide(&pod.host_ports, &group.ports).is_none().then_some(&group.overhead)
    };
    filter_instance_types(types, query, overhead_of)
}

/// The first of `ports` that collides with one of `taken`, with what it collides with.
pub(crate) fn ports_collide<'p>(
    ports: &'p [HostPort],
    taken: &'p [HostPort],
) -> Option<(&'p HostPort, &'p HostPort)> {
    ports.iter().find_map(|port| taken.iter().find(|t| port.collides(t)).map(|t| (port, t)))
}

/// Adds requirements, copying the borrowed set (and the added requirement) only when one actually narrows it.
pub(crate) fn add_narrowing(
    interner: &Interner,
    requirements: &mut Cow<'_, Requirements>,
    added: &Requirements,
) {
    for (key, requirement) in added.iter() {
        let narrows = match requirements.get(key) {
            Some(existing) => requirement.intersection(interner, existing) != *existing,
            None => true,
        };
        if narrows {
            requirements.to_mut().add(interner, key, requirement.clone());
        }
    }
}

/// Puts a failed instance-type filter into upstream's words, with the pod's requests plus the range of DaemonSet
/// overhead over the template's types.
pub(crate) fn describe_failure(
    types: Types<'_>,
    table: &crate::resources::ResourceTable,
    template: &Template,
    failure: &FilterFailure,
    requirements: &Requirements,
    pod_requests: &Res,
) -> Refusal {
    let (checks, text): (Vec<Check>, String) = if let Some(keys) = &failure.min_values {
        (vec![Check::MinValues], format!("minValues requirement is not met for label(s) {}", keys.join(", ")))
    } else {
        let f = failure;
        let (checks, text) = match (f.requirements_met, f.fits, f.has_offering) {
            (false, false, false) => (
                vec![Check::Requirements, Check::Resources, Check::Offering],
                "no instance type met the scheduling requirements or had enough resources or had a required offering",
            ),
            (false, false, true) => (
                vec![Check::Requirements, Check::Resources],
                "no instance type met the scheduling requirements or had enough resources",
            ),
            (false, true, false) => (
                vec![Check::Requirements, Check::Offering],
                "no instance type met the scheduling requirements or had a required offering",
            ),
            (true, false, false) => (
                vec![Check::Resources, Check::Offering],
                "no instance type had enough resources or had a required offering",
            ),
            (false, true, true) => (vec![Check::Requirements], "no instance type met all requirements"),
            (true, false, true) => (vec![Check::Resources], "no instance type has enough resources"),
            (true, true, false) => (vec![Check::Offering], "no instance type has the required offering"),
            (true, true, true) if f.requirements_and_fits => (
                vec![Check::Offering],
                "no instance type which met the scheduling requirements and had enough resources, had a required offering",
            ),
            (true, true, true) if f.fits_and_offering => (
                vec![Check::Requirements],
                "no instance type which had enough resources and the required offering met the scheduling requirements",
            ),
            (true, true, true) if f.requirements_and_offering => (
                vec![Check::Resources],
                "no instance type which met the scheduling requirements and the required offering had the required resources",
            ),
            (true, true, true) => (
                vec![Check::Requirements, Check::Resources, Check::Offering],
                "no instance type met the requirements/resources/offering tuple",
            ),
        };
        (checks, text.to_string())
    };
    let mut low: Option<Res> = None;
    let mut high: Option<Res> = None;
    for group in &template.groups {
        let total = resources::sum(pod_requests, &group.overhead);
        match (&mut low, &mut high) {
            (Some(l), Some(h)) => {
                for ((l, h), t) in l.iter_mut().zip(h.iter_mut()).zip(&total) {
                    *l = (*l).min(*t);
                    *h = (*h).max(*t);
                }
            }
            _ => {
                low = Some(total.clone());
                high = Some(total);
            }
        }
    }
    let resources_text = match (low, high) {
        (Some(l), Some(h)) if l != h => format!("min={}, max={}", table.describe(&l), table.describe(&h)),
        (Some(l), _) => table.describe(&l),
        _ => table.describe(pod_requests),
    };
    let mut message =
        format!("{text}, requirements={}, resources={resources_text}", requirements.describe(types.interner));
    if !failure.fits && pod_requests[resources::CPU_INDEX] >= 1_000_000_000 {
        message.push_str(" (CPU request >= 1 Million, m vs M typo?)");
    }
    Refusal { checks, message }
}
