//! The provisioning simulation of `pkg/controllers/provisioning/scheduling/scheduler.go`, `nodeclaim.go`,
//! `existingnode.go`, `queue.go` and `preferences.go`.
//!
//! Pods are taken largest first. Each goes to the first existing node that takes it, else to the emptiest NodeClaim
//! opened in this round that still has an instance type able to hold it, else to a new NodeClaim from the first
//! NodePool (by weight) that can take it. A NodeClaim keeps every instance type that still fits all of its pods, so
//! packing is first-fit-decreasing into bins whose size is only fixed at the end, when the cheapest types are kept.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::compile::{Compiled, InstanceTypeData, NodeData, PodData, TemplateData};
use crate::filter::{
    FilterFailure, cheapest_price, compatible_offerings, filter_instance_types, satisfies_min_values,
};
use crate::labels;
use crate::model::{NodeSelectorRequirement, Problem};
use crate::plan::{
    Check, ExistingNodePlacement, InputError, InstanceTypeOption, NewNodeClaim, Plan, PodRef, PoolRejection,
    Unschedulable, UnschedulablePod,
};
use crate::podterms::HostPort;
use crate::requirements::{Requirement, Requirements, ValueId};
use crate::resources::{self, Res};
use crate::taints::{self, Effect, Taint, Toleration};
use crate::topology::{Constraints, Topology, TopologyRelaxation};
use crate::{MinValuesPolicy, PreferencePolicy, SolverConfig};

/// How far a pod's soft constraints have been relaxed in the current attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Relaxation {
    required_terms_dropped: usize,
    preferred_terms_dropped: usize,
    tolerate_prefer_no_schedule: bool,
    topology: TopologyRelaxation,
}

impl Relaxation {
    /// Every pod starts each attempt fully constrained.
    fn new(pod: &PodData) -> Self {
        Relaxation {
            required_terms_dropped: 0,
            preferred_terms_dropped: 0,
            tolerate_prefer_no_schedule: false,
            topology: TopologyRelaxation::new(pod),
        }
    }
}

/// Instance types grouped by the DaemonSet pods that would run on them (`buildDaemonOverheadGroups`).
#[derive(Debug, Clone)]
struct DaemonGroup {
    overhead: Res,
    /// Host ports the group's DaemonSet pods take.
    ports: Vec<HostPort>,
}

/// Marks an instance type a template does not offer in [`Template::group_of`].
const NO_GROUP: u32 = u32::MAX;

/// A NodePool template with its instance types narrowed to those its requirements allow.
struct Template<'a> {
    data: &'a TemplateData,
    /// Instance types that survive the template's own requirements, by name.
    instance_types: Vec<u32>,
    /// DaemonSet overhead group of each instance type, indexed by instance type; `NO_GROUP` for types the
    /// template does not offer.
    group_of: Vec<u32>,
    groups: Vec<DaemonGroup>,
    /// What the NodePool may still launch: limit minus existing capacity minus opened claims.
    remaining: Vec<Option<i64>>,
    remaining_nodes: Option<i64>,
}

impl Template<'_> {
    fn group_index(&self, instance_type: u32) -> Option<usize> {
        let group = *self.group_of.get(instance_type as usize)?;
        (group != NO_GROUP).then_some(group as usize)
    }

    fn group(&self, instance_type: u32) -> Option<&DaemonGroup> {
        self.group_index(instance_type).map(|g| &self.groups[g])
    }
}

/// A NodeClaim opened in this round.
struct Claim {
    template: usize,
    requirements: Requirements,
    instance_types: Vec<u32>,
    /// Requests of its pods (DaemonSet overhead is added per group when checking fit).
    requests: Res,
    pods: Vec<usize>,
    min_values_relaxed: bool,
    /// Per resource, the most any remaining instance type can still hold; a pod that exceeds it is refused at once.
    headroom: Res,
    /// Placeholder hostname, for hostname topologies.
    hostname: ValueId,
    /// Host ports its pods take.
    ports: Vec<HostPort>,
}

struct Node<'a> {
    data: &'a NodeData,
    remaining: Res,
    pods: Vec<usize>,
    /// Host ports taken by the pods bound to it and placed on it.
    ports: Vec<HostPort>,
}

/// What adding a pod to a NodeClaim would change.
struct Admission {
    requirements: Option<Requirements>,
    instance_types: Vec<u32>,
    min_values_relaxed: bool,
}

pub(crate) struct Scheduler<'a> {
    compiled: &'a Compiled,
    config: &'a SolverConfig,
    templates: Vec<Template<'a>>,
    nodes: Vec<Node<'a>>,
    claims: Vec<Claim>,
    /// Claim indices ordered emptiest first, ties by age.
    claim_order: Vec<usize>,
    any_prefer_no_schedule_taint: bool,
    input_errors: Vec<InputError>,
    topology: Topology,
}

impl<'a> Scheduler<'a> {
    pub(crate) fn new(compiled: &'a Compiled, config: &'a SolverConfig) -> Self {
        let mut input_errors = compiled.input_errors.clone();
        let any_prefer_no_schedule_taint = compiled
            .templates
            .iter()
            .any(|t| t.taints.iter().any(|taint| taint.effect == Effect::PreferNoSchedule));
        let domain_sources: Vec<(&Requirements, &[Taint], &[u32])> = compiled
            .templates
            .iter()
            .map(|t| (&t.requirements, t.taints.as_slice(), t.instance_types.as_slice()))
            .collect();
        let topology =
            Topology::new(compiled, &domain_sources, config.preference_policy == PreferencePolicy::Respect);
        let mut scheduler = Scheduler {
            compiled,
            config,
            templates: Vec::new(),
            nodes: Vec::new(),
            claims: Vec::new(),
            claim_order: Vec::new(),
            any_prefer_no_schedule_taint,
            input_errors: Vec::new(),
            topology,
        };
        for data in &compiled.templates {
            match scheduler.build_template(data) {
                Ok(template) => scheduler.templates.push(template),
                Err(message) => input_errors.push(InputError {
                    object: format!("NodePool/{}", data.name),
                    field: None,
                    message,
                }),
            }
        }
        for data in &compiled.nodes {
            let remaining = scheduler.node_remaining(data);
            let ports = data.pods.iter().flat_map(|p| p.host_ports.iter().cloned()).collect();
            scheduler.nodes.push(Node { data, remaining, pods: Vec::new(), ports });
            if let Some(hostname) =
                data.requirements.get(compiled.hostname_key).and_then(|r| r.values().first())
            {
                scheduler.topology.register_hostname(*hostname);
            }
            // Existing capacity of a NodePool counts against its limits.
            if let Some(pool) = &data.node_pool
                && let Some(template) = scheduler.templates.iter_mut().find(|t| &t.data.name == pool)
            {
                for (remaining, capacity) in template.remaining.iter_mut().zip(&data.capacity) {
                    if let Some(r) = remaining {
                        *r -= capacity;
                    }
                }
                if let Some(nodes) = &mut template.remaining_nodes {
                    *nodes -= 1;
                }
            }
        }
        input_errors.sort();
        scheduler.input_errors = input_errors;
        scheduler
    }

    fn build_template(&self, data: &'a TemplateData) -> Result<Template<'a>, String> {
        let c = self.compiled;
        let zero = c.table.zero();
        let relax = self.config.min_values_policy == MinValuesPolicy::BestEffort;
        let mut requirements = data.requirements.clone();
        let outcome = filter_instance_types(
            c,
            &data.instance_types,
            &mut requirements,
            &zero,
            |_| Some(&zero),
            relax,
            true,
        );
        let instance_types = match outcome {
            Ok((types, _)) => types,
            Err(failure) => {
                return Err(match failure.min_values {
                    Some(keys) => format!(
                        "requirements filtered out all instance types: minValues requirement is not met for label(s) {}",
                        keys.join(", ")
                    ),
                    None => "requirements filtered out all instance types".to_string(),
                });
            }
        };
        // Group instance types by the set of DaemonSet pods that would run on them.
        let mut group_index: BTreeMap<Vec<usize>, usize> = BTreeMap::new();
        let mut groups = Vec::new();
        let mut group_of = vec![NO_GROUP; c.instance_types.len()];
        for &it in &instance_types {
            let daemons: Vec<usize> = (0..c.daemons.len())
                .filter(|&d| {
                    self.daemon_compatible_with_template(data, &c.instance_types[it as usize], &c.daemons[d])
                })
                .collect();
            let next = groups.len();
            let group = *group_index.entry(daemons.clone()).or_insert(next);
            if group == next {
                let mut overhead = c.table.zero();
                for &d in &daemons {
                    resources::add_assign(&mut overhead, &c.daemons[d].requests);
                }
                if daemons.is_empty() {
                    overhead = c.table.zero();
                } else {
                    overhead[resources::PODS_INDEX] = daemons.len() as i64;
                }
                let ports = daemons.iter().flat_map(|&d| c.daemons[d].host_ports.iter().cloned()).collect();
                groups.push(DaemonGroup { overhead, ports });
            }
            group_of[it as usize] = group as u32;
        }
        Ok(Template {
            data,
            instance_types,
            group_of,
            groups,
            remaining: data.limits.clone(),
            remaining_nodes: data.node_limit,
        })
    }

    /// `isDaemonPodCompatible`: the daemon tolerates the template's taints (PreferNoSchedule always), and one of its
    /// required node-affinity terms is compatible with the template and intersects the instance type.
    fn daemon_compatible_with_template(
        &self,
        template: &TemplateData,
        it: &InstanceTypeData,
        daemon: &PodData,
    ) -> bool {
        let prefer = Toleration::prefer_no_schedule();
        if taints::first_untolerated(&template.taints, &daemon.tolerations, Some(&prefer)).is_some() {
            return false;
        }
        let interner = &self.compiled.interner;
        let terms = daemon.required_terms.len().max(1);
        (0..terms).any(|term| {
            let strict = strict_requirements(self.compiled, daemon, term);
            template.requirements.compatible(interner, &strict, true).is_ok()
                && it.requirements.intersects(interner, &strict).is_ok()
        })
    }

    /// Available resources of an existing node minus DaemonSet pods that will still start there.
    fn node_remaining(&self, node: &NodeData) -> Res {
        let c = self.compiled;
        let mut daemon_requests = c.table.zero();
        for daemon in &c.daemons {
            if taints::first_untolerated(&node.taints, &daemon.tolerations, None).is_some() {
                continue;
            }
            let strict = strict_requirements(c, daemon, 0);
            if node.requirements.compatible(&c.interner, &strict, false).is_ok() {
                resources::add_assign(&mut daemon_requests, &daemon.requests);
            }
        }
        resources::sub_assign(&mut daemon_requests, &node.running_daemon_requests);
        for amount in &mut daemon_requests {
            *amount = (*amount).max(0);
        }
        let mut remaining = node.available.clone();
        resources::sub_assign(&mut remaining, &daemon_requests);
        remaining
    }

    pub(crate) fn solve(mut self, problem: &Problem) -> Plan {
        let c = self.compiled;
        let mut order: Vec<usize> = (0..c.pods.len()).collect();
        order.sort_by(|&a, &b| queue_order(problem, &c.pods[a], &c.pods[b]));
        let mut queue: VecDeque<usize> = order.iter().copied().collect();
        let mut last_length: Vec<Option<usize>> = vec![None; c.pods.len()];
        let mut errors: HashMap<usize, Unschedulable> = HashMap::new();
        // A failed pod goes to the back with the queue length noted; meeting it again at the same length means a
        // whole cycle passed without progress.
        while let Some(&pod) = queue.front() {
            if last_length[pod] == Some(queue.len()) {
                break;
            }
            queue.pop_front();
            match self.try_schedule(pod) {
                Ok(()) => {
                    errors.remove(&pod);
                }
                Err(reason) => {
                    errors.insert(pod, reason);
                    queue.push_back(pod);
                    last_length[pod] = Some(queue.len());
                }
            }
        }
        self.into_plan(problem, &order, errors)
    }

    fn try_schedule(&mut self, pod: usize) -> Result<(), Unschedulable> {
        let data = &self.compiled.pods[pod];
        if data.uses_dra {
            // Never relaxed: nothing about the pod's preferences changes the answer.
            return Err(Unschedulable::NotSupported {
                feature: "DynamicResourceAllocation".to_string(),
                message: "the pod has resourceClaims; Dynamic Resource Allocation is not supported yet"
                    .to_string(),
            });
        }
        let mut relaxation = Relaxation::new(data);
        loop {
            match self.add(pod, &relaxation) {
                Ok(()) => return Ok(()),
                Err(reason) => {
                    if !self.relax(&self.compiled.pods[pod], &mut relaxation) {
                        return Err(reason);
                    }
                }
            }
        }
    }

    /// One step of `Preferences.Relax`, in upstream order: the first of several required node-affinity terms, the
    /// heaviest preferred pod-affinity, pod-anti-affinity and node-affinity terms, one ScheduleAnyway spread
    /// constraint, and last a toleration of PreferNoSchedule taints. Under the Ignore policy preferences were never
    /// in force, so there is nothing to drop.
    fn relax(&self, pod: &PodData, relaxation: &mut Relaxation) -> bool {
        let respect = self.config.preference_policy == PreferencePolicy::Respect;
        if pod.required_terms.len().saturating_sub(relaxation.required_terms_dropped) > 1 {
            relaxation.required_terms_dropped += 1;
            return true;
        }
        let topology = &mut relaxation.topology;
        if respect && topology.affinity_preferred_dropped < pod.affinity_preferred.len() {
            topology.affinity_preferred_dropped += 1;
            return true;
        }
        if respect && topology.anti_preferred_dropped < pod.anti_preferred.len() {
            topology.anti_preferred_dropped += 1;
            return true;
        }
        if respect && relaxation.preferred_terms_dropped < pod.preferred_terms.len() {
            relaxation.preferred_terms_dropped += 1;
            return true;
        }
        if respect
            && let Some(i) = relaxation.topology.spread.iter().position(|&t| pod.spread[t].schedule_anyway)
        {
            // Upstream moves the last constraint into the dropped one's place; later drops follow that order.
            relaxation.topology.spread.swap_remove(i);
            return true;
        }
        if self.any_prefer_no_schedule_taint
            && !relaxation.tolerate_prefer_no_schedule
            && !pod.tolerations.contains(&Toleration::prefer_no_schedule())
        {
            relaxation.tolerate_prefer_no_schedule = true;
            return true;
        }
        false
    }

    fn add(&mut self, pod: usize, relaxation: &Relaxation) -> Result<(), Unschedulable> {
        let c = self.compiled;
        let data = &c.pods[pod];
        let requirements = pod_requirements(c, self.config, data, relaxation);
        let strict = strict_requirements(c, data, relaxation.required_terms_dropped);
        let constraints = self.topology.constraints(pod, data, &relaxation.topology);
        let extra_toleration = relaxation.tolerate_prefer_no_schedule.then(Toleration::prefer_no_schedule);
        let mut attempt = Attempt {
            pod,
            data,
            requirements: &requirements,
            strict: &strict,
            constraints: &constraints,
            extra_toleration: extra_toleration.as_ref(),
            explain: false,
        };

        // 1. Existing and in-flight nodes, initialised first.
        for n in 0..self.nodes.len() {
            if let Some(placed) = self.admit_on_node(&self.nodes[n], &attempt).map(Cow::into_owned) {
                let node = &mut self.nodes[n];
                resources::sub_assign(&mut node.remaining, &data.requests);
                node.pods.push(pod);
                node.ports.extend(data.host_ports.iter().cloned());
                self.topology.record(&c.interner, pod, &self.nodes[n].data.taints, &placed);
                return Ok(());
            }
        }

        // 2. NodeClaims of this round, emptiest first.
        for position in 0..self.claim_order.len() {
            let claim_index = self.claim_order[position];
            let claim = &self.claims[claim_index];
            let template = &self.templates[claim.template];
            if !resources::fits_with(&claim.requests, &data.requests, &claim.headroom)
                || self.topology.refuses_hostname(pod, &constraints, claim.hostname)
            {
                continue;
            }
            if let Ok(admission) = self.admit(template, claim, &attempt, false) {
                self.commit(claim_index, pod, admission);
                self.reorder_claim(position);
                return Ok(());
            }
        }

        // 3. A new NodeClaim from the first NodePool that takes the pod. Only these refusals are reported, so only
        // they are put into words.
        attempt.explain = true;
        if self.templates.is_empty() {
            return Err(Unschedulable::NoNodePools);
        }
        let best_effort = self.config.min_values_policy == MinValuesPolicy::BestEffort;
        let mut rejections = Vec::new();
        for (t, template) in self.templates.iter().enumerate() {
            let rejection = |failed: Vec<Check>, message: String| PoolRejection {
                node_pool: template.data.name.clone(),
                failed,
                message,
            };
            if template.remaining_nodes.is_some_and(|n| n <= 0) {
                rejections.push(rejection(
                    vec![Check::Limits],
                    "node limits have been exhausted for nodepool".into(),
                ));
                continue;
            }
            let within_limits: Vec<u32> = template
                .instance_types
                .iter()
                .copied()
                .filter(|&it| {
                    let capacity = &c.instance_types[it as usize].capacity;
                    template
                        .remaining
                        .iter()
                        .zip(capacity)
                        .all(|(remaining, cap)| remaining.is_none_or(|r| *cap <= r))
                })
                .collect();
            if within_limits.is_empty() {
                rejections.push(rejection(
                    vec![Check::Limits],
                    "all available instance types exceed limits for nodepool".into(),
                ));
                continue;
            }
            let hostname = c.interner.placeholder(self.claims.len());
            let mut requirements = template.data.requirements.clone();
            requirements.add(&c.interner, c.hostname_key, Requirement::in_values(vec![hostname]));
            let claim = Claim {
                template: t,
                requirements,
                instance_types: within_limits,
                requests: c.table.zero(),
                pods: Vec::new(),
                min_values_relaxed: false,
                headroom: Vec::new(),
                hostname,
                ports: Vec::new(),
            };
            let excluded_by_limits = template.instance_types.len() - claim.instance_types.len();
            match self.admit(template, &claim, &attempt, best_effort) {
                Ok(admission) => {
                    let index = self.claims.len();
                    let min_values_relaxed = admission.min_values_relaxed;
                    self.claims.push(claim);
                    self.commit(index, pod, admission);
                    self.claims[index].min_values_relaxed = min_values_relaxed;
                    // A new claim holds one pod, so it goes after every claim with one pod and before fuller ones.
                    let position =
                        self.claim_order.partition_point(|&other| self.claims[other].pods.len() <= 1);
                    self.claim_order.insert(position, index);
                    self.charge_limits(index);
                    return Ok(());
                }
                Err((mut failed, mut message)) => {
                    if excluded_by_limits > 0 && failed.contains(&Check::Resources) {
                        failed.push(Check::Limits);
                        message.push_str(&format!(
                            " ({excluded_by_limits} of {} instance types were excluded because they would breach limits)",
                            template.instance_types.len()
                        ));
                    }
                    rejections.push(rejection(failed, message));
                }
            }
        }
        Err(Unschedulable::Rejected { node_pools: rejections })
    }

    /// `ExistingNode.CanAdd`: taints, host ports, resources, requirements, then each volume alternative with the
    /// topology. Returns the node's requirements narrowed by the pod's, for topology to record.
    fn admit_on_node<'n>(&self, node: &'n Node<'_>, attempt: &Attempt<'_>) -> Option<Cow<'n, Requirements>> {
        let c = self.compiled;
        let data = attempt.data;
        if taints::first_untolerated(&node.data.taints, &data.tolerations, attempt.extra_toleration).is_some()
            || !resources::fits(&data.requests, &node.remaining)
            || ports_collide(&data.host_ports, &node.ports).is_some()
            || node.data.requirements.compatible(&c.interner, attempt.requirements, false).is_err()
        {
            return None;
        }
        let mut base = Cow::Borrowed(&node.data.requirements);
        add_narrowing(&c.interner, &mut base, attempt.requirements);
        self.volume_alternatives(data)
            .find_map(|volume| self.narrow(base.clone(), volume, attempt, false).ok())
    }

    /// Adds a volume alternative and the topology's domain requirements to `requirements`, checking each is
    /// compatible. `allow_undefined` is set for NodeClaims, whose well-known labels are decided at launch.
    fn narrow<'r>(
        &self,
        mut requirements: Cow<'r, Requirements>,
        volume: Option<&Requirements>,
        attempt: &Attempt<'_>,
        allow_undefined: bool,
    ) -> Result<Cow<'r, Requirements>, (Vec<Check>, String)> {
        let c = self.compiled;
        if let Some(volume) = volume {
            if let Err(conflict) = requirements.compatible(&c.interner, volume, allow_undefined) {
                let why = attempt.words(|| requirements.explain(&c.interner, volume, conflict));
                return Err((vec![Check::Volumes], format!("incompatible volume requirements, {why}")));
            }
            add_narrowing(&c.interner, &mut requirements, volume);
        }
        if !attempt.constraints.is_empty() {
            let domains = self
                .topology
                .domain_requirements(
                    &c.interner,
                    attempt.pod,
                    attempt.constraints,
                    attempt.strict,
                    &requirements,
                )
                .map_err(|conflict| {
                    (
                        vec![Check::Topology],
                        attempt.words(|| {
                            self.topology.explain(&c.interner, &conflict, attempt.strict, &requirements)
                        }),
                    )
                })?;
            let mut topology = Requirements::default();
            for (key, requirement) in domains {
                topology.add(&c.interner, key, requirement);
            }
            if let Err(conflict) = requirements.compatible(&c.interner, &topology, allow_undefined) {
                let why = attempt.words(|| requirements.explain(&c.interner, &topology, conflict));
                return Err((vec![Check::Topology], format!("topology requirements conflict, {why}")));
            }
            add_narrowing(&c.interner, &mut requirements, &topology);
        }
        Ok(requirements)
    }

    /// The pod's volume alternatives, or one "no constraint" alternative.
    fn volume_alternatives<'p>(
        &self,
        data: &'p PodData,
    ) -> impl Iterator<Item = Option<&'p Requirements>> + 'p {
        let count = data.volume_alternatives.len().max(1);
        (0..count).map(|i| data.volume_alternatives.get(i))
    }

    /// `NodeClaim.CanAdd`: taints, requirements, each volume alternative with the topology, host ports, then the
    /// instance types that still fit and can be bought.
    fn admit(
        &self,
        template: &Template<'_>,
        claim: &Claim,
        attempt: &Attempt<'_>,
        relax_min_values: bool,
    ) -> Result<Admission, (Vec<Check>, String)> {
        let c = self.compiled;
        let pod = attempt.data;
        let requirements = attempt.requirements;
        if let Some(taint) =
            taints::first_untolerated(&template.data.taints, &pod.tolerations, attempt.extra_toleration)
        {
            return Err((vec![Check::Taints], attempt.words(|| format!("did not tolerate taint {taint}"))));
        }
        if let Err(conflict) = claim.requirements.compatible(&c.interner, requirements, true) {
            let why = attempt.words(|| claim.requirements.explain(&c.interner, requirements, conflict));
            return Err((vec![Check::Requirements], format!("incompatible requirements, {why}")));
        }
        if let Some((port, taken)) = ports_collide(&pod.host_ports, &claim.ports) {
            let why = attempt.words(|| format!("host port {port} conflicts with {taken} of another pod"));
            return Err((vec![Check::HostPorts], why));
        }
        let mut base = Cow::Borrowed(&claim.requirements);
        add_narrowing(&c.interner, &mut base, requirements);
        let new_requests = resources::sum(&claim.requests, &pod.requests);
        let mut last_error = None;
        for volume in self.volume_alternatives(pod) {
            let narrowed = match self.narrow(base.clone(), volume, attempt, true) {
                Ok(narrowed) => narrowed,
                Err(error) => {
                    last_error = Some(error);
                    continue;
                }
            };
            let changed = matches!(&narrowed, Cow::Owned(r) if *r != claim.requirements);
            let mut effective = narrowed.into_owned();
            // DaemonSet groups whose pods take one of the pod's host ports cannot host it.
            let overhead_of = |it: u32| {
                let group = template.group(it)?;
                ports_collide(&pod.host_ports, &group.ports).is_none().then_some(&group.overhead)
            };
            let outcome = filter_instance_types(
                c,
                &claim.instance_types,
                &mut effective,
                &new_requests,
                overhead_of,
                relax_min_values,
                changed,
            );
            match outcome {
                Ok((instance_types, min_values_relaxed)) => {
                    let changed = changed || min_values_relaxed;
                    return Ok(Admission {
                        requirements: changed.then_some(effective),
                        instance_types,
                        min_values_relaxed,
                    });
                }
                Err(failure) => {
                    last_error = Some(if attempt.explain {
                        self.describe_failure(template, &failure, &effective, &pod.requests)
                    } else {
                        (Vec::new(), String::new())
                    });
                }
            }
        }
        Err(last_error.expect("there is always at least one volume alternative"))
    }

    fn describe_failure(
        &self,
        template: &Template<'_>,
        failure: &FilterFailure,
        requirements: &Requirements,
        pod_requests: &Res,
    ) -> (Vec<Check>, String) {
        let c = self.compiled;
        let (checks, text): (Vec<Check>, String) = if let Some(keys) = &failure.min_values {
            (
                vec![Check::MinValues],
                format!("minValues requirement is not met for label(s) {}", keys.join(", ")),
            )
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
        // Resources are the pod's own requests plus the range of DaemonSet overhead over the instance types.
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
            (Some(l), Some(h)) if l != h => {
                format!("min={}, max={}", c.table.describe(&l), c.table.describe(&h))
            }
            (Some(l), _) => c.table.describe(&l),
            _ => c.table.describe(pod_requests),
        };
        let mut message = format!(
            "{text}, requirements={}, resources={resources_text}",
            requirements.describe(&c.interner)
        );
        if !failure.fits && pod_requests[resources::CPU_INDEX] >= 1_000_000_000 {
            message.push_str(" (CPU request >= 1 Million, m vs M typo?)");
        }
        (checks, message)
    }

    fn commit(&mut self, claim_index: usize, pod: usize, admission: Admission) {
        let c = self.compiled;
        let claim = &mut self.claims[claim_index];
        claim.pods.push(pod);
        resources::add_assign(&mut claim.requests, &c.pods[pod].requests);
        claim.ports.extend(c.pods[pod].host_ports.iter().cloned());
        if let Some(requirements) = admission.requirements {
            claim.requirements = requirements;
        }
        self.topology.register_hostname(claim.hostname);
        let taints = &self.templates[claim.template].data.taints;
        self.topology.record(&c.interner, pod, taints, &claim.requirements);
        let types_changed = admission.instance_types.len() != claim.instance_types.len();
        claim.instance_types = admission.instance_types;
        if types_changed || claim.headroom.is_empty() {
            let template = &self.templates[claim.template];
            let mut headroom = vec![i64::MIN; c.table.len()];
            for &it in &claim.instance_types {
                let mut room = c.instance_types[it as usize].allocatable.clone();
                if let Some(group) = template.group(it) {
                    resources::sub_assign(&mut room, &group.overhead);
                }
                resources::max_assign(&mut headroom, &room);
            }
            claim.headroom = headroom;
        }
    }

    /// Keeps `claim_order` sorted by (pod count, age) after the claim at `position` changed.
    fn reorder_claim(&mut self, position: usize) {
        let key = |claims: &[Claim], i: usize| (claims[i].pods.len(), i);
        let mut p = position;
        while p + 1 < self.claim_order.len()
            && key(&self.claims, self.claim_order[p + 1]) < key(&self.claims, self.claim_order[p])
        {
            self.claim_order.swap(p, p + 1);
            p += 1;
        }
    }

    /// Pessimistic limit accounting: a new claim may become its largest option, and it is one node.
    fn charge_limits(&mut self, claim_index: usize) {
        let c = self.compiled;
        let claim = &self.claims[claim_index];
        let mut largest = c.table.zero();
        for &it in &claim.instance_types {
            resources::max_assign(&mut largest, &c.instance_types[it as usize].capacity);
        }
        let template = &mut self.templates[claim.template];
        for (remaining, amount) in template.remaining.iter_mut().zip(&largest) {
            if let Some(r) = remaining {
                *r -= amount;
            }
        }
        if let Some(nodes) = &mut template.remaining_nodes {
            *nodes -= 1;
        }
    }

    fn into_plan(
        self,
        problem: &Problem,
        order: &[usize],
        mut errors: HashMap<usize, Unschedulable>,
    ) -> Plan {
        let c = self.compiled;
        let pod_ref = |data_index: usize| {
            let pod = &problem.pods[c.pods[data_index].index];
            PodRef { namespace: pod.namespace.clone(), name: pod.name.clone() }
        };
        let existing_nodes = self
            .nodes
            .iter()
            .filter(|n| !n.pods.is_empty())
            .map(|n| ExistingNodePlacement {
                node: n.data.name.clone(),
                pods: n.pods.iter().map(|&p| pod_ref(p)).collect(),
            })
            .collect();
        let mut new_node_claims = Vec::new();
        for claim in &self.claims {
            match self.finalize(claim) {
                Ok(mut node_claim) => {
                    node_claim.pods = claim.pods.iter().map(|&p| pod_ref(p)).collect();
                    new_node_claims.push(node_claim);
                }
                Err(message) => {
                    let rejection = PoolRejection {
                        node_pool: self.templates[claim.template].data.name.clone(),
                        failed: vec![Check::MinValues],
                        message,
                    };
                    for &pod in &claim.pods {
                        errors.insert(pod, Unschedulable::Rejected { node_pools: vec![rejection.clone()] });
                    }
                }
            }
        }
        let mut unschedulable = Vec::new();
        for (index, field, message) in &c.invalid_pods {
            let pod = &problem.pods[*index];
            unschedulable.push(UnschedulablePod {
                pod: PodRef { namespace: pod.namespace.clone(), name: pod.name.clone() },
                reason: Unschedulable::InvalidPod { field: field.clone(), message: message.clone() },
            });
        }
        unschedulable.sort_by(|a, b| a.pod.cmp(&b.pod));
        for &pod in order {
            if let Some(reason) = errors.remove(&pod) {
                unschedulable.push(UnschedulablePod { pod: pod_ref(pod), reason });
            }
        }
        Plan { existing_nodes, new_node_claims, unschedulable, input_errors: self.input_errors }
    }

    /// `FinalizeScheduling` and `TruncateInstanceTypes`: drop the placeholder hostname, add the smallest DaemonSet
    /// overhead among the remaining options, keep the cheapest options, and pin the capacity types they offer.
    fn finalize(&self, claim: &Claim) -> Result<NewNodeClaim, String> {
        let c = self.compiled;
        let template = &self.templates[claim.template];
        // Hostname placeholders only exist for hostname topologies, which NodeClaims never carry into a launch.
        let mut requirements = claim.requirements.clone();
        requirements.remove(c.hostname_key);

        let mut requests = claim.requests.clone();
        let mut smallest_overhead: Option<Res> = None;
        let mut seen_groups: Vec<usize> =
            claim.instance_types.iter().filter_map(|&it| template.group_index(it)).collect();
        seen_groups.sort_unstable();
        seen_groups.dedup();
        for group in seen_groups {
            let overhead = &template.groups[group].overhead;
            smallest_overhead = Some(match smallest_overhead {
                None => overhead.clone(),
                Some(current) => current.iter().zip(overhead).map(|(a, b)| (*a).min(*b)).collect(),
            });
        }
        if let Some(overhead) = &smallest_overhead {
            resources::add_assign(&mut requests, overhead);
        }

        let mut options: Vec<(u32, f64)> = claim
            .instance_types
            .iter()
            .map(|&it| (it, cheapest_price(c, &c.instance_types[it as usize], &requirements)))
            .collect();
        options.sort_by(|a, b| {
            a.1.total_cmp(&b.1)
                .then_with(|| c.instance_types[a.0 as usize].name.cmp(&c.instance_types[b.0 as usize].name))
        });
        options.truncate(self.config.max_instance_types);
        if requirements.has_min_values() && self.config.min_values_policy == MinValuesPolicy::Strict {
            let kept: Vec<u32> = options.iter().map(|o| o.0).collect();
            if let Err(unmet) = satisfies_min_values(c, &kept, &requirements) {
                let mut keys: Vec<&str> = unmet.keys().map(|k| c.interner.key_name(*k)).collect();
                keys.sort_unstable();
                return Err(format!(
                    "the cheapest {} instance types no longer meet minValues for label(s) {}",
                    self.config.max_instance_types,
                    keys.join(", ")
                ));
            }
        }

        let mut capacity_types: Vec<String> = Vec::new();
        for (it, _) in &options {
            for offering in compatible_offerings(c, &c.instance_types[*it as usize], &requirements) {
                capacity_types.push(c.interner.value_name(offering.capacity_type).into_owned());
            }
        }
        capacity_types.sort_unstable();
        capacity_types.dedup();

        let mut selectors: Vec<NodeSelectorRequirement> = Vec::new();
        let mut labels_out = template.data.labels.clone();
        for (key, requirement) in requirements.iter() {
            let name = c.interner.key_name(key);
            if labels::is_simulation_only(name) || key == c.instance_type_key || key == c.capacity_type_key {
                continue;
            }
            // A key the instance types define gets its value from the launched type, not from the requirement.
            let defined_by_types =
                options.iter().any(|(it, _)| c.instance_types[*it as usize].requirements.get(key).is_some());
            if !labels::is_label_resolved_by_provider(name)
                && !defined_by_types
                && !labels_out.contains_key(name)
                && let Some(value) = requirement.any_value(&c.interner)
            {
                labels_out.insert(name.to_string(), value);
            }
            push_selectors(&mut selectors, name, requirement, c);
        }
        // The instance-type requirement is the list of options; `NewNodeClaim::node_selector_requirements` adds it
        // back, so thousands of NodeClaims do not each carry every name twice.
        let instance_type_min_values = requirements.get(c.instance_type_key).and_then(|r| r.min_values);
        if !capacity_types.is_empty() {
            let existing_min = requirements.get(c.capacity_type_key).and_then(|r| r.min_values);
            selectors.push(NodeSelectorRequirement {
                key: labels::CAPACITY_TYPE.to_string(),
                operator: "In".to_string(),
                values: capacity_types.iter().map(|s| s.to_string()).collect(),
                min_values: existing_min,
            });
        }
        selectors.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.operator.cmp(&b.operator)));

        let requests_out = (0..c.table.len())
            .filter(|&i| requests[i] != 0)
            .map(|i| (c.table.name(i).to_string(), resources::format_amount(c.table.name(i), requests[i])))
            .collect();
        Ok(NewNodeClaim {
            node_pool: template.data.name.clone(),
            labels: labels_out,
            taints: template.data.model_taints.clone(),
            startup_taints: template.data.model_startup_taints.clone(),
            requirements: selectors,
            instance_type_min_values,
            instance_type_options: options
                .iter()
                .map(|(it, price)| InstanceTypeOption {
                    name: c.instance_types[*it as usize].name.clone(),
                    price: *price,
                })
                .collect(),
            pods: Vec::new(),
            requests: requests_out,
            min_values_relaxed: claim.min_values_relaxed,
        })
    }
}

fn push_selectors(
    out: &mut Vec<NodeSelectorRequirement>,
    key: &str,
    requirement: &Requirement,
    c: &Compiled,
) {
    for (operator, values) in requirement.to_selector(&c.interner) {
        out.push(NodeSelectorRequirement {
            key: key.to_string(),
            operator: operator.to_string(),
            values,
            min_values: requirement.min_values,
        });
    }
}

/// The order pods are tried in: CPU then memory descending, then older first, then UID.
fn queue_order(problem: &Problem, a: &PodData, b: &PodData) -> std::cmp::Ordering {
    let (pa, pb) = (&problem.pods[a.index], &problem.pods[b.index]);
    let uid = |p: &crate::model::Pod| {
        if p.uid.is_empty() { format!("{}/{}", p.namespace, p.name) } else { p.uid.clone() }
    };
    b.requests[resources::CPU_INDEX]
        .cmp(&a.requests[resources::CPU_INDEX])
        .then_with(|| b.requests[resources::MEMORY_INDEX].cmp(&a.requests[resources::MEMORY_INDEX]))
        .then_with(|| pa.creation_timestamp.cmp(&pb.creation_timestamp))
        .then_with(|| uid(pa).cmp(&uid(pb)))
        .then_with(|| (&pa.namespace, &pa.name).cmp(&(&pb.namespace, &pb.name)))
}

/// The pod's requirements for one attempt: node selector, the current required term, and (under Respect) the
/// heaviest preferred term not yet dropped.
fn pod_requirements(
    c: &Compiled,
    config: &SolverConfig,
    pod: &PodData,
    relaxation: &Relaxation,
) -> Requirements {
    let mut requirements = pod.node_selector.clone();
    if config.preference_policy == PreferencePolicy::Respect
        && let Some(term) = pod.preferred_terms.get(relaxation.preferred_terms_dropped)
    {
        requirements.add_all(&c.interner, term);
    }
    if let Some(term) = pod.required_terms.get(relaxation.required_terms_dropped) {
        requirements.add_all(&c.interner, term);
    }
    requirements
}

/// Node selector plus one required term, without preferences.
fn strict_requirements(c: &Compiled, pod: &PodData, term: usize) -> Requirements {
    let mut requirements = pod.node_selector.clone();
    if let Some(term) = pod.required_terms.get(term) {
        requirements.add_all(&c.interner, term);
    }
    requirements
}

/// One attempt to place a pod: everything the checks need, worked out once.
struct Attempt<'a> {
    pod: usize,
    data: &'a PodData,
    requirements: &'a Requirements,
    strict: &'a Requirements,
    constraints: &'a Constraints,
    extra_toleration: Option<&'a Toleration>,
    /// Whether refusals are put into words; they only are where they get reported.
    explain: bool,
}

impl Attempt<'_> {
    fn words(&self, explanation: impl FnOnce() -> String) -> String {
        if self.explain { explanation() } else { String::new() }
    }
}

/// The first of `ports` that collides with one of `taken`, with what it collides with.
fn ports_collide<'p>(ports: &'p [HostPort], taken: &'p [HostPort]) -> Option<(&'p HostPort, &'p HostPort)> {
    ports.iter().find_map(|port| taken.iter().find(|t| port.collides(t)).map(|t| (port, t)))
}

/// Adds requirements, copying the borrowed set (and the added requirement) only when one actually narrows it.
fn add_narrowing(
    interner: &crate::requirements::Interner,
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
