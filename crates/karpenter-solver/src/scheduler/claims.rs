//! NodeClaims opened in a round (`nodeclaim.go`): admitting a pod to one (checks 1 to 6), opening a new one from
//! the first NodePool template that takes the pod, and charging NodePool limits pessimistically
//! (`scheduler.go` `add`, `remainingResources`).

use std::borrow::Cow;
use std::cell::OnceCell;

use crate::filter::{Filtered, Query, RequirementsCheck, Types};
use crate::ids::{ClaimId, PodId, PoolId, TypeId, ValueId};
use crate::plan::{Check, PoolRejection, Unschedulable};
use crate::podterms::HostPort;
use crate::requirements::{Requirement, Requirements, Undefined};
use crate::resources::{self, Res};
use crate::templates::Template;

use super::checks::{self, Attempt, Explain, Refusal, Room, Target};
use super::{PoolBudget, Scheduler};

/// A NodeClaim opened in this round.
pub(crate) struct Claim {
    pub(crate) pool: PoolId,
    pub(crate) requirements: Requirements,
    pub(crate) instance_types: Vec<TypeId>,
    /// Requests of its pods (DaemonSet overhead is added per group when checking fit).
    pub(crate) requests: Res,
    pub(crate) pods: Vec<PodId>,
    pub(crate) min_values_relaxed: bool,
    /// Per resource, the most any remaining instance type can still hold; a pod that exceeds it is refused at once.
    pub(crate) headroom: Res,
    /// Per resource, what every remaining instance type can hold, worked out when first asked for after the types
    /// changed: a pod within it keeps every type.
    pub(crate) floor: OnceCell<Res>,
    /// Placeholder hostname, for hostname topologies.
    pub(crate) hostname: ValueId,
    /// Host ports its pods take.
    pub(crate) ports: Vec<HostPort>,
}

/// What adding a pod to a NodeClaim would change.
pub(crate) struct Admission {
    requirements: Option<Requirements>,
    /// `None` when every instance type stays.
    instance_types: Option<Vec<TypeId>>,
    min_values_relaxed: bool,
}

impl Scheduler<'_> {
    /// Places the pod on the emptiest NodeClaim of this round that takes it.
    pub(super) fn place_on_claims(&mut self, attempt: &Attempt<'_>) -> bool {
        for position in 0..self.claim_order.len() {
            let claim_id = self.claim_order[position];
            let claim = &self.claims[claim_id.index()];
            self.stats.claims_tried += 1;
            // A shortcut of check 5 for the common hostname topologies: one lookup, no requirement built.
            if self.topology.refuses_hostname(attempt.pod, attempt.constraints, claim.hostname) {
                continue;
            }
            let template = self.prepared.template(claim.pool);
            if let Ok(admission) =
                self.admit_to_claim(template, claim, attempt, crate::filter::MinValues::Strict)
            {
                self.commit(claim_id, attempt.pod, admission);
                self.reorder_claim(position);
                return true;
            }
        }
        false
    }

    /// Opens a new NodeClaim from the first NodePool template that takes the pod, or says why each refused.
    pub(super) fn open_claim(&mut self, attempt: &Attempt<'_>) -> Result<(), Unschedulable> {
        let c = self.c;
        let types = self.types();
        if self.prepared.templates.is_empty() {
            return Err(Unschedulable::NoNodePools);
        }
        let min_values = self.prepared.config.min_values();
        let mut rejections = Vec::new();
        for (index, template) in self.prepared.templates.iter().enumerate() {
            let pool = PoolId::new(index);
            let budget = &self.budgets[index];
            let rejection = |failed: Vec<Check>, message: String| PoolRejection {
                node_pool: template.data.name.clone(),
                failed,
                message,
            };
            if budget.remaining_nodes.is_some_and(|n| n <= 0) {
                rejections.push(rejection(
                    vec![Check::Limits],
                    "node limits have been exhausted for nodepool".into(),
                ));
                continue;
            }
            let within_limits: Vec<TypeId> = template
                .instance_types
                .iter()
                .copied()
                .filter(|&it| budget.allows(&types.get(it).capacity))
                .collect();
            if within_limits.is_empty() {
                rejections.push(rejection(
                    vec![Check::Limits],
                    "all available instance types exceed limits for nodepool".into(),
                ));
                continue;
            }
            let claim_id = ClaimId::new(self.claims.len());
            let hostname = ValueId::placeholder(claim_id);
            let mut requirements = template.data.requirements.clone();
            requirements.add(c.interner, c.keys().hostname, Requirement::in_values(vec![hostname]));
            let claim = Claim {
                pool,
                requirements,
                instance_types: within_limits,
                requests: c.table.zero(),
                pods: Vec::new(),
                min_values_relaxed: false,
                headroom: Vec::new(),
                floor: OnceCell::new(),
                hostname,
                ports: Vec::new(),
            };
            let excluded_by_limits = template.instance_types.len() - claim.instance_types.len();
            match self.admit_to_claim(template, &claim, attempt, min_values) {
                Ok(admission) => {
                    let min_values_relaxed = admission.min_values_relaxed;
                    self.claims.push(claim);
                    self.commit(claim_id, attempt.pod, admission);
                    self.claims[claim_id.index()].min_values_relaxed = min_values_relaxed;
                    // A new claim holds one pod, so it goes after every claim with one pod and before fuller ones.
                    let claims = &self.claims;
                    let position =
                        self.claim_order.partition_point(|&other| claims[other.index()].pods.len() <= 1);
                    self.claim_order.insert(position, claim_id);
                    self.charge_limits(claim_id);
                    return Ok(());
                }
                Err(mut refusal) => {
                    if excluded_by_limits > 0 && refusal.checks.contains(&Check::Resources) {
                        refusal.checks.push(Check::Limits);
                        refusal.message.push_str(&format!(
                            " ({excluded_by_limits} of {} instance types were excluded because they would breach limits)",
                            template.instance_types.len()
                        ));
                    }
                    rejections.push(rejection(refusal.checks, refusal.message));
                }
            }
        }
        Err(Unschedulable::Rejected { node_pools: rejections })
    }

    /// Checks 1 to 6 for a NodeClaim: what adding the pod would change, or why it cannot be added.
    fn admit_to_claim(
        &self,
        template: &Template,
        claim: &Claim,
        attempt: &Attempt<'_>,
        min_values: crate::filter::MinValues,
    ) -> Result<Admission, Refusal> {
        let interner = &self.c.interner;
        let target = Target {
            room: Room::Claim { requests: &claim.requests, headroom: &claim.headroom },
            taints: &template.data.taints,
            ports: &claim.ports,
            requirements: &claim.requirements,
            undefined: Undefined::Allowed,
        };
        let base = checks::admit(interner, &target, attempt)?;
        let pod = attempt.data;
        let unconstrained = pod.volume_alternatives.is_empty() && attempt.constraints.is_empty();
        if unconstrained
            && matches!(base, Cow::Borrowed(_))
            && pod.host_ports.is_empty()
            && !claim.headroom.is_empty()
            && resources::fits_with(&claim.requests, &pod.requests, self.floor(template, claim))
        {
            // Check 6 in one comparison: the pod changes no requirement and fits every type the claim keeps.
            return Ok(Admission { requirements: None, instance_types: None, min_values_relaxed: false });
        }
        let new_requests = resources::sum(&claim.requests, &pod.requests);
        let mut last_refusal = None;
        for volume in checks::volume_alternatives(pod) {
            let narrowed = match checks::volumes_and_topology(
                interner,
                &self.topology,
                base.clone(),
                volume,
                attempt,
                Undefined::Allowed,
            ) {
                Ok(narrowed) => narrowed,
                Err(refusal) => {
                    last_refusal = Some(refusal);
                    continue;
                }
            };
            let changed = matches!(&narrowed, Cow::Owned(r) if *r != claim.requirements);
            let mut effective = narrowed.into_owned();
            // The claim's types meet its requirements; only what the pod and its topology add needs checking.
            let check = if changed {
                RequirementsCheck::Narrowed { base: &claim.requirements }
            } else {
                RequirementsCheck::AlreadyMet
            };
            let query = Query {
                candidates: &claim.instance_types,
                requirements: &mut effective,
                requests: &new_requests,
                min_values,
                check,
            };
            match checks::claim_instance_types(self.types(), template, pod, query) {
                Ok(Filtered { types, min_values_relaxed }) => {
                    let changed = changed || min_values_relaxed;
                    return Ok(Admission {
                        requirements: changed.then_some(effective),
                        instance_types: Some(types),
                        min_values_relaxed,
                    });
                }
                Err(failure) => {
                    last_refusal = Some(match attempt.explain {
                        Explain::InWords => checks::describe_failure(
                            self.types(),
                            self.c.table,
                            template,
                            &failure,
                            &effective,
                            &pod.requests,
                        ),
                        Explain::Silently => Refusal { checks: Vec::new(), message: String::new() },
                    });
                }
            }
        }
        Err(last_refusal.expect("there is always at least one volume alternative"))
    }

    fn commit(&mut self, claim_id: ClaimId, pod: PodId, admission: Admission) {
        let c = self.c;
        let types = self.types();
        let data = c.pod(pod);
        let claim = &mut self.claims[claim_id.index()];
        claim.pods.push(pod);
        resources::add_assign(&mut claim.requests, &data.requests);
        claim.ports.extend(data.host_ports.iter().cloned());
        if let Some(requirements) = admission.requirements {
            claim.requirements = requirements;
        }
        self.topology.register_hostname(claim.hostname);
        let template = self.prepared.template(claim.pool);
        self.topology.record(c.interner, pod, &template.data.taints, &claim.requirements);
        let types_changed =
            admission.instance_types.as_ref().is_some_and(|kept| kept.len() != claim.instance_types.len());
        if let Some(kept) = admission.instance_types {
            claim.instance_types = kept;
        }
        if types_changed || claim.headroom.is_empty() {
            claim.headroom = room(types, template, &claim.instance_types, c.table.len(), Bound::Most);
            claim.floor = OnceCell::new();
        }
    }

    /// What every type the claim keeps can hold, worked out on first use.
    fn floor<'c>(&self, template: &Template, claim: &'c Claim) -> &'c Res {
        claim.floor.get_or_init(|| {
            room(self.types(), template, &claim.instance_types, self.c.table.len(), Bound::Least)
        })
    }

    /// Keeps `claim_order` sorted by (pod count, age) after the claim at `position` changed.
    fn reorder_claim(&mut self, position: usize) {
        let key = |claims: &[Claim], id: ClaimId| (claims[id.index()].pods.len(), id);
        let mut p = position;
        while p + 1 < self.claim_order.len()
            && key(&self.claims, self.claim_order[p + 1]) < key(&self.claims, self.claim_order[p])
        {
            self.claim_order.swap(p, p + 1);
            p += 1;
        }
    }

    /// Pessimistic limit accounting: a new claim may become its largest option, and it is one node.
    fn charge_limits(&mut self, claim_id: ClaimId) {
        let types = self.types();
        let claim = &self.claims[claim_id.index()];
        let mut largest = self.c.table.zero();
        for &it in &claim.instance_types {
            resources::max_assign(&mut largest, &types.get(it).capacity);
        }
        self.budgets[claim.pool.index()].charge(&largest);
    }
}

/// Which bound of the types' room to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// The most any type can hold.
    Most,
    /// What every type can hold.
    Least,
}

/// Per resource, the most any of the instance types can hold once its DaemonSet overhead is counted, or what all
/// of them can (zero for a resource none of them has). A claim always keeps at least one type.
fn room(types: Types<'_>, template: &Template, instance_types: &[TypeId], len: usize, bound: Bound) -> Res {
    let (start, pick): (i64, fn(i64, i64) -> i64) = match bound {
        Bound::Most => (i64::MIN, i64::max),
        Bound::Least => (i64::MAX, i64::min),
    };
    let mut room = vec![start; len];
    for &it in instance_types {
        let allocatable = &types.get(it).allocatable;
        let overhead = template.group(it).map(|g| g.overhead.as_slice()).unwrap_or_default();
        if allocatable.len() == len && overhead.len() == len {
            for ((r, a), o) in room.iter_mut().zip(allocatable).zip(overhead) {
                *r = pick(*r, a - o);
            }
            continue;
        }
        for (index, r) in room.iter_mut().enumerate() {
            let here =
                allocatable.get(index).copied().unwrap_or(0) - overhead.get(index).copied().unwrap_or(0);
            *r = pick(*r, here);
        }
    }
    room
}

impl PoolBudget {
    /// True when a machine of this capacity stays within every limit.
    fn allows(&self, capacity: &Res) -> bool {
        self.remaining.iter().zip(capacity).all(|(remaining, cap)| remaining.is_none_or(|r| *cap <= r))
    }

    /// Takes a machine of this capacity, and one node, off what is left.
    pub(super) fn charge(&mut self, capacity: &Res) {
        for (remaining, amount) in self.remaining.iter_mut().zip(capacity) {
            if let Some(r) = remaining {
                *r -= amount;
            }
        }
        if let Some(nodes) = &mut self.remaining_nodes {
            *nodes -= 1;
        }
    }
}
