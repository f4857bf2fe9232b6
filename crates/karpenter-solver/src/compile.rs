//! Turns a [`Problem`] into checked, interned data the scheduler can use without further parsing.
//!
//! Every object is checked on its own: a malformed pod becomes an [`Unschedulable::InvalidPod`] naming the field,
//! a malformed NodePool, node, instance type or DaemonSet pod becomes an [`InputError`], and the rest of the problem
//! is solved as usual. Upstream's checks live in `pkg/controllers/provisioning/provisioner.go` (`Validate`) and
//! `pkg/apis/v1/nodeclaim_validation.go` (`ValidateRequirement`).

use std::collections::BTreeMap;

use crate::SolverConfig;
use crate::labels;
use crate::model::{self, ExistingNode, NodePool, NodeSelectorRequirement, Pod, Problem};
use crate::plan::InputError;
use crate::podterms::{self, HostPort, Kind, Term};
use crate::requirements::{Interner, KeyId, Requirement, RequirementError, Requirements, Shape, ValueId};
use crate::resources::{self, PODS_INDEX, Res, ResourceTable};
use crate::taints::{Taint, Toleration};

/// A pod's scheduling data, computed once.
#[derive(Debug, Clone)]
pub(crate) struct PodData {
    /// Index into the problem's pod list.
    pub(crate) index: usize,
    pub(crate) requests: Res,
    pub(crate) node_selector: Requirements,
    /// ORed required node-affinity terms.
    pub(crate) required_terms: Vec<Requirements>,
    /// Preferred node-affinity terms, heaviest first (stable for equal weights).
    pub(crate) preferred_terms: Vec<Requirements>,
    pub(crate) tolerations: Vec<Toleration>,
    pub(crate) namespace: String,
    pub(crate) labels: BTreeMap<String, String>,
    /// Topology spread constraints, in the pod's order.
    pub(crate) spread: Vec<Term>,
    pub(crate) affinity_required: Vec<Term>,
    /// Preferred pod-affinity terms, heaviest first.
    pub(crate) affinity_preferred: Vec<Term>,
    pub(crate) anti_required: Vec<Term>,
    /// Preferred pod-anti-affinity terms, heaviest first.
    pub(crate) anti_preferred: Vec<Term>,
    pub(crate) host_ports: Vec<HostPort>,
    /// ORed alternatives the pod's volumes allow; empty when its volumes do not constrain it.
    pub(crate) volume_alternatives: Vec<Requirements>,
    /// The pod asks for Dynamic Resource Allocation claims.
    pub(crate) uses_dra: bool,
}

/// A pod already running on a node, as topology sees it.
#[derive(Debug, Clone)]
pub(crate) struct BoundPod {
    pub(crate) namespace: String,
    pub(crate) labels: BTreeMap<String, String>,
    /// Required anti-affinity terms: they keep matching pods out of this pod's domains.
    pub(crate) anti_required: Vec<Term>,
    pub(crate) host_ports: Vec<HostPort>,
    pub(crate) tolerations: Vec<Toleration>,
    /// False for a terminating pod: upstream's `IgnoredForTopology`.
    pub(crate) counts_for_topology: bool,
}

/// An instance type with its allocatable resources worked out.
#[derive(Debug, Clone)]
pub(crate) struct InstanceTypeData {
    /// Shared with every plan option that names it.
    pub(crate) name: std::sync::Arc<str>,
    pub(crate) requirements: Requirements,
    pub(crate) capacity: Res,
    pub(crate) allocatable: Res,
    pub(crate) offerings: Vec<OfferingData>,
}

#[derive(Debug, Clone)]
pub(crate) struct OfferingData {
    pub(crate) zone: ValueId,
    pub(crate) capacity_type: ValueId,
    pub(crate) price: f64,
    pub(crate) available: bool,
}

/// A NodePool's template, ready to open NodeClaims from.
#[derive(Debug, Clone)]
pub(crate) struct TemplateData {
    pub(crate) name: String,
    /// `spec.weight`, 0 when unset.
    pub(crate) weight: i32,
    pub(crate) requirements: Requirements,
    pub(crate) taints: Vec<Taint>,
    pub(crate) model_taints: Vec<model::Taint>,
    pub(crate) model_startup_taints: Vec<model::Taint>,
    pub(crate) labels: BTreeMap<String, String>,
    /// Limits per resource index; `None` where the NodePool sets no limit.
    pub(crate) limits: Vec<Option<i64>>,
    pub(crate) node_limit: Option<i64>,
    /// Indices into [`Compiled::instance_types`], sorted by name.
    pub(crate) instance_types: Vec<u32>,
}

/// A node that can take pods, with what is left of it.
#[derive(Debug, Clone)]
pub(crate) struct NodeData {
    pub(crate) name: String,
    pub(crate) initialized: bool,
    pub(crate) taints: Vec<Taint>,
    pub(crate) requirements: Requirements,
    /// Allocatable minus bound pods.
    pub(crate) available: Res,
    /// Requests of the DaemonSet pods already running there.
    pub(crate) running_daemon_requests: Res,
    pub(crate) capacity: Res,
    pub(crate) node_pool: Option<String>,
    pub(crate) pods: Vec<BoundPod>,
}

/// The whole problem, checked.
pub(crate) struct Compiled {
    pub(crate) interner: Interner,
    pub(crate) table: ResourceTable,
    pub(crate) pods: Vec<PodData>,
    pub(crate) invalid_pods: Vec<(usize, String, String)>,
    pub(crate) daemons: Vec<PodData>,
    pub(crate) instance_types: Vec<InstanceTypeData>,
    pub(crate) templates: Vec<TemplateData>,
    pub(crate) nodes: Vec<NodeData>,
    pub(crate) input_errors: Vec<InputError>,
    pub(crate) zone_key: KeyId,
    pub(crate) capacity_type_key: KeyId,
    pub(crate) instance_type_key: KeyId,
    pub(crate) hostname_key: KeyId,
    /// For each of `instance_types` compiled from the problem's shared list, its position in that list.
    pub(crate) shared_positions: Vec<usize>,
}

/// A field path and what is wrong with it.
type FieldError = (String, String);

pub(crate) fn compile(problem: &Problem, config: &SolverConfig) -> Compiled {
    let mut interner = Interner::new(&config.well_known_labels);
    let table = ResourceTable::for_problem(problem);
    let mut input_errors = Vec::new();

    let mut pods = Vec::with_capacity(problem.pods.len());
    let mut invalid_pods = Vec::new();
    for (index, pod) in problem.pods.iter().enumerate() {
        match compile_pod(&mut interner, &table, problem, pod, index, true) {
            Ok(data) => pods.push(data),
            Err((field, message)) => invalid_pods.push((index, field, message)),
        }
    }

    let mut daemons = Vec::new();
    for (index, pod) in problem.daemon_set_pods.iter().enumerate() {
        match compile_pod(&mut interner, &table, problem, pod, index, false) {
            Ok(data) => daemons.push(data),
            Err((field, message)) => input_errors.push(InputError {
                object: format!("DaemonSetPod/{}/{}", pod.namespace, pod.name),
                field: Some(field),
                message,
            }),
        }
    }

    // Instance types shared by every NodePool are compiled once; per-pool lists are compiled separately.
    let mut instance_types = Vec::new();
    let mut positions: Vec<usize> = Vec::new();
    let mut compile_types = |interner: &mut Interner,
                             list: &[model::InstanceType],
                             errors: &mut Vec<InputError>| {
        let mut indices = Vec::with_capacity(list.len());
        for (position, it) in list.iter().enumerate() {
            match compile_instance_type(interner, &table, it) {
                Ok(data) => {
                    // Capacity reservations need the reservation manager of upstream's scheduler, which is not
                    // modelled yet: say so rather than launch into a reservation as if it were on-demand.
                    for (i, offering) in it.offerings.iter().enumerate() {
                        if offering.capacity_type == labels::CAPACITY_TYPE_RESERVED {
                            errors.push(InputError {
                                object: format!("InstanceType/{}", it.name),
                                field: Some(format!("offerings[{i}]")),
                                message: "reserved capacity is not supported yet; the offering is ignored"
                                    .to_string(),
                            });
                        }
                    }
                    indices.push(instance_types.len() as u32);
                    instance_types.push(data);
                    positions.push(position);
                }
                Err((field, message)) => errors.push(InputError {
                    object: format!("InstanceType/{}", it.name),
                    field: Some(field),
                    message,
                }),
            }
        }
        indices
    };
    let shared_types = compile_types(&mut interner, &problem.instance_types, &mut input_errors);
    let mut templates = Vec::new();
    for pool in &problem.node_pools {
        let types = match problem.pool_instance_types.get(&pool.name) {
            Some(list) => compile_types(&mut interner, list, &mut input_errors),
            None => shared_types.clone(),
        };
        match compile_template(&mut interner, &table, pool, types) {
            Ok(template) => templates.push(template),
            Err(error) => input_errors.push(error),
        }
    }
    // Bad instance types were set aside; the index needs the input position of each one kept.
    let shared_positions: Vec<usize> = shared_types.iter().map(|&t| positions[t as usize]).collect();
    for template in &mut templates {
        template
            .instance_types
            .sort_by(|a, b| instance_types[*a as usize].name.cmp(&instance_types[*b as usize].name));
    }
    // Weight first, then name descending, as upstream orders NodePools.
    templates.sort_by(|a, b| b.weight.cmp(&a.weight).then_with(|| b.name.cmp(&a.name)));

    let mut nodes = Vec::new();
    for node in &problem.nodes {
        if node.marked_for_deletion {
            continue;
        }
        match compile_node(&mut interner, &table, problem, node) {
            Ok(data) => nodes.push(data),
            Err((field, message)) => input_errors.push(InputError {
                object: format!("Node/{}", node.name),
                field: Some(field),
                message,
            }),
        }
    }
    // Initialised nodes first, then by name: consolidation relies on filling settled nodes before in-flight ones.
    nodes.sort_by(|a, b| b.initialized.cmp(&a.initialized).then_with(|| a.name.cmp(&b.name)));

    let zone_key = interner.key(labels::ZONE);
    let capacity_type_key = interner.key(labels::CAPACITY_TYPE);
    let instance_type_key = interner.key(labels::INSTANCE_TYPE);
    let hostname_key = interner.key(labels::HOSTNAME);
    Compiled {
        interner,
        table,
        pods,
        invalid_pods,
        daemons,
        instance_types,
        templates,
        nodes,
        input_errors,
        zone_key,
        capacity_type_key,
        instance_type_key,
        hostname_key,
        shared_positions,
    }
}

/// Effective requests as kube-scheduler computes them (KEP-753): the larger of the app containers plus sidecars and
/// the largest init container (plus the sidecars started before it), then pod overhead; the pod count is one.
fn pod_requests(table: &ResourceTable, pod: &Pod) -> Result<Res, FieldError> {
    let parse = |list: &model::ResourceList, field: String| {
        table.parse(list, false).map_err(|(name, reason)| (format!("{field}.{name}"), reason))
    };
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
                return Err((
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

fn compile_pod(
    interner: &mut Interner,
    table: &ResourceTable,
    problem: &Problem,
    pod: &Pod,
    index: usize,
    pending: bool,
) -> Result<PodData, FieldError> {
    let requests = pod_requests(table, pod)?;
    let mut node_selector = Requirements::default();
    for (key, value) in &pod.node_selector {
        let field = format!("spec.nodeSelector[{key}]");
        if pending {
            check_pod_key(key).map_err(|m| (field.clone(), m))?;
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
                return Err((
                    format!("{field}.matchFields"),
                    "node selector terms with matchFields are not supported".into(),
                ));
            }
            required_terms.push(compile_term(interner, &term.match_expressions, &field, pending)?);
        }
        for (t, term) in affinity.preferred.iter().enumerate() {
            let field = format!(
                "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[{t}].preference"
            );
            preferred.push((
                term.weight,
                compile_term(interner, &term.preference.match_expressions, &field, false)?,
            ));
        }
    }
    let preferred_terms = podterms::by_weight_desc(preferred);
    let tolerations = pod_tolerations(pod)?;
    if pending {
        // A pod that asks not to run on Karpenter nodes gets a clear answer rather than a requirement mismatch.
        let mut effective = node_selector.clone();
        if let Some(term) = preferred_terms.first() {
            effective.add_all(interner, term);
        }
        if let Some(term) = required_terms.first() {
            effective.add_all(interner, term);
        }
        let pool_key = interner.key(labels::NODE_POOL);
        if effective.get(pool_key).is_some_and(|r| r.shape() == Shape::DoesNotExist) {
            return Err((
                "spec.affinity.nodeAffinity".to_string(),
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
        affinity_terms(interner, problem, pod, Kind::Affinity, pod.pod_affinity.as_ref(), "podAffinity")?;
    let (anti_required, anti_preferred) = affinity_terms(
        interner,
        problem,
        pod,
        Kind::AntiAffinity,
        pod.pod_anti_affinity.as_ref(),
        "podAntiAffinity",
    )?;
    let host_ports = podterms::host_ports(pod)?;
    let mut volume_alternatives = Vec::new();
    for (i, term) in pod.volume_topology.iter().enumerate() {
        let field = format!("volumeTopology[{i}]");
        volume_alternatives.push(compile_term(interner, &term.match_expressions, &field, false)?);
    }
    Ok(PodData {
        index,
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
fn pod_tolerations(pod: &Pod) -> Result<Vec<Toleration>, FieldError> {
    pod.tolerations
        .iter()
        .enumerate()
        .map(|(i, t)| Toleration::from_model(t).map_err(|m| (format!("spec.tolerations[{i}]"), m)))
        .collect()
}

/// Required terms of a pod affinity or anti-affinity.
fn required_affinity_terms(
    interner: &mut Interner,
    problem: &Problem,
    pod: &Pod,
    kind: Kind,
    affinity: Option<&model::PodAffinity>,
    name: &str,
) -> Result<Vec<Term>, FieldError> {
    let Some(affinity) = affinity else { return Ok(Vec::new()) };
    let mut required = Vec::with_capacity(affinity.required.len());
    for (i, term) in affinity.required.iter().enumerate() {
        let field = format!("spec.affinity.{name}.requiredDuringSchedulingIgnoredDuringExecution[{i}]");
        required.push(podterms::affinity_term(interner, problem, pod, kind, term, &field)?);
    }
    Ok(required)
}

type TermLists = (Vec<Term>, Vec<Term>);

/// Required and preferred (heaviest first) terms of a pod affinity or anti-affinity.
fn affinity_terms(
    interner: &mut Interner,
    problem: &Problem,
    pod: &Pod,
    kind: Kind,
    affinity: Option<&model::PodAffinity>,
    name: &str,
) -> Result<TermLists, FieldError> {
    let required = required_affinity_terms(interner, problem, pod, kind, affinity, name)?;
    let Some(affinity) = affinity else { return Ok((required, Vec::new())) };
    let mut preferred = Vec::new();
    for (i, term) in affinity.preferred.iter().enumerate() {
        let field = format!(
            "spec.affinity.{name}.preferredDuringSchedulingIgnoredDuringExecution[{i}].podAffinityTerm"
        );
        preferred.push((
            term.weight,
            podterms::affinity_term(interner, problem, pod, kind, &term.pod_affinity_term, &field)?,
        ));
    }
    Ok((required, podterms::by_weight_desc(preferred)))
}

/// Pods may not select labels Karpenter cannot promise before launch: the hostname and the `karpenter.sh` domain
/// (other than its well-known labels).
fn check_pod_key(key: &str) -> Result<(), String> {
    if labels::is_restricted(key) {
        return Err(format!(
            "label {key} is restricted: Karpenter cannot provision a node that satisfies it in advance"
        ));
    }
    Ok(())
}

pub(crate) fn compile_term(
    interner: &mut Interner,
    expressions: &[NodeSelectorRequirement],
    field: &str,
    check_keys: bool,
) -> Result<Requirements, FieldError> {
    let mut requirements = Requirements::default();
    for (i, expression) in expressions.iter().enumerate() {
        let field = format!("{field}.matchExpressions[{i}]");
        if check_keys {
            check_pod_key(&expression.key).map_err(|m| (format!("{field}.key"), m))?;
        }
        let requirement = build_requirement(interner, expression, &field)?;
        let key = interner.key(&expression.key);
        requirements.add(interner, key, requirement);
    }
    Ok(requirements)
}

fn build_requirement(
    interner: &mut Interner,
    requirement: &NodeSelectorRequirement,
    field: &str,
) -> Result<Requirement, FieldError> {
    if requirement.key.is_empty() {
        return Err((format!("{field}.key"), "key must not be empty".to_string()));
    }
    if let Some(min) = requirement.min_values {
        if !(1..=50).contains(&min) {
            return Err((
                format!("{field}.minValues"),
                format!("minValues must be between 1 and 50, got {min}"),
            ));
        }
        if requirement.operator == "In" && (requirement.values.len() as u32) < min {
            return Err((
                format!("{field}.minValues"),
                format!("minValues {min} is more than the {} value(s) listed", requirement.values.len()),
            ));
        }
    }
    let is_bound = matches!(requirement.operator.as_str(), "Gt" | "Lt" | "Gte" | "Lte");
    if is_bound
        && requirement.values.len() == 1
        && requirement.values[0].trim().parse::<i64>().is_ok_and(|v| v < 0)
    {
        return Err((
            format!("{field}.values"),
            "comparison operators need a non-negative integer".to_string(),
        ));
    }
    Requirement::build(interner, &requirement.operator, &requirement.values, requirement.min_values).map_err(
        |e| {
            let part = if matches!(e, RequirementError::UnknownOperator(_)) { "operator" } else { "values" };
            (format!("{field}.{part}"), format!("key {}: {e}", requirement.key))
        },
    )
}

fn compile_instance_type(
    interner: &mut Interner,
    table: &ResourceTable,
    it: &model::InstanceType,
) -> Result<InstanceTypeData, FieldError> {
    if it.name.is_empty() {
        return Err(("name".to_string(), "instance type name must not be empty".to_string()));
    }
    let mut requirements = Requirements::default();
    for (i, requirement) in it.requirements.iter().enumerate() {
        let field = format!("requirements[{i}]");
        let built = build_requirement(interner, requirement, &field)?;
        let key = interner.key(&requirement.key);
        requirements.add(interner, key, built);
    }
    let parse = |list: &model::ResourceList, field: &str| {
        table.parse(list, false).map_err(|(name, reason)| (format!("{field}.{name}"), reason))
    };
    let capacity = parse(&it.capacity, "capacity")?;
    let mut overhead = parse(&it.overhead.kube_reserved, "overhead.kubeReserved")?;
    resources::add_assign(&mut overhead, &parse(&it.overhead.system_reserved, "overhead.systemReserved")?);
    resources::add_assign(
        &mut overhead,
        &parse(&it.overhead.eviction_threshold, "overhead.evictionThreshold")?,
    );
    // Only resources the machine has are reduced by overhead; hugepages come out of memory.
    let mut allocatable = capacity.clone();
    for index in 0..table.len() {
        if it.capacity.contains_key(table.name(index)) {
            allocatable[index] = capacity[index] - overhead[index];
        }
    }
    for (index, amount) in capacity.iter().enumerate() {
        if table.is_hugepages(index) && *amount > 0 {
            let memory = &mut allocatable[resources::MEMORY_INDEX];
            *memory = (*memory - amount).max(0);
        }
    }
    let mut offerings = Vec::with_capacity(it.offerings.len());
    for (i, offering) in it.offerings.iter().enumerate() {
        if offering.zone.is_empty() || offering.capacity_type.is_empty() {
            return Err((
                format!("offerings[{i}]"),
                "an offering needs a zone and a capacity type".to_string(),
            ));
        }
        if !offering.price.is_finite() || offering.price < 0.0 {
            return Err((
                format!("offerings[{i}].price"),
                format!("price {} is not a non-negative number", offering.price),
            ));
        }
        offerings.push(OfferingData {
            zone: interner.value(&offering.zone),
            capacity_type: interner.value(&offering.capacity_type),
            price: offering.price,
            available: offering.available && offering.capacity_type != labels::CAPACITY_TYPE_RESERVED,
        });
    }
    Ok(InstanceTypeData { name: it.name.as_str().into(), requirements, capacity, allocatable, offerings })
}

/// A NodePool as the scheduler uses it, over `instance_types`; a malformed NodePool is an error naming the field.
pub(crate) fn compile_template(
    interner: &mut Interner,
    table: &ResourceTable,
    pool: &NodePool,
    instance_types: Vec<u32>,
) -> Result<TemplateData, InputError> {
    template_data(interner, table, pool, instance_types).map_err(|(field, message)| InputError {
        object: format!("NodePool/{}", pool.name),
        field: Some(field),
        message,
    })
}

fn template_data(
    interner: &mut Interner,
    table: &ResourceTable,
    pool: &NodePool,
    instance_types: Vec<u32>,
) -> Result<TemplateData, FieldError> {
    if let Some(weight) = pool.weight
        && !(1..=100).contains(&weight)
    {
        return Err(("spec.weight".to_string(), format!("weight must be between 1 and 100, got {weight}")));
    }
    let mut requirements = Requirements::default();
    for (i, requirement) in pool.requirements.iter().enumerate() {
        let field = format!("spec.template.spec.requirements[{i}]");
        if labels::is_restricted(&requirement.key) {
            return Err((format!("{field}.key"), format!("label {} is restricted", requirement.key)));
        }
        let built = build_requirement(interner, requirement, &field)?;
        let key = interner.key(&requirement.key);
        requirements.add(interner, key, built);
    }
    let mut labels_map = pool.labels.clone();
    labels_map.insert(labels::NODE_POOL.to_string(), pool.name.clone());
    if let Some(class) = &pool.node_class_ref {
        labels_map.insert(format!("{}/{}", class.group, class.kind.to_lowercase()), class.name.clone());
    }
    let label_requirements = Requirements::from_labels(interner, &labels_map);
    requirements.add_all(interner, &label_requirements);
    let registered = interner.key(labels::REGISTERED);
    let initialized = interner.key(labels::INITIALIZED);
    let truth = interner.value("true");
    requirements.add(interner, registered, Requirement::in_values(vec![truth]));
    requirements.add(interner, initialized, Requirement::in_values(vec![truth]));

    let taints = pool
        .taints
        .iter()
        .enumerate()
        .map(|(i, t)| Taint::from_model(t).map_err(|m| (format!("spec.template.spec.taints[{i}]"), m)))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, taint) in pool.startup_taints.iter().enumerate() {
        Taint::from_model(taint).map_err(|m| (format!("spec.template.spec.startupTaints[{i}]"), m))?;
    }
    let mut limits = vec![None; table.len()];
    let mut node_limit = None;
    for (name, quantity) in &pool.limits {
        let amount =
            resources::parse_amount(name, quantity, false).map_err(|m| (format!("spec.limits.{name}"), m))?;
        match table.index_of(name) {
            Some(index) => limits[index] = Some(amount),
            None if name == resources::NODES => node_limit = Some(amount),
            None => {}
        }
    }
    Ok(TemplateData {
        name: pool.name.clone(),
        weight: pool.weight.unwrap_or(0),
        requirements,
        taints,
        model_taints: pool.taints.clone(),
        model_startup_taints: pool.startup_taints.clone(),
        labels: labels_map,
        limits,
        node_limit,
        instance_types,
    })
}

fn compile_node(
    interner: &mut Interner,
    table: &ResourceTable,
    problem: &Problem,
    node: &ExistingNode,
) -> Result<NodeData, FieldError> {
    let mut taints = Vec::new();
    for (i, taint) in node.taints.iter().enumerate() {
        taints.push(Taint::from_model(taint).map_err(|m| (format!("spec.taints[{i}]"), m))?);
    }
    if !node.initialized {
        // Until initialisation, startup and ephemeral taints are expected to go away; they don't repel pods.
        let startup: Vec<Taint> =
            node.startup_taints.iter().filter_map(|t| Taint::from_model(t).ok()).collect();
        taints.retain(|t| !t.is_known_ephemeral() && !startup.contains(t));
    }
    let capacity =
        table.parse(&node.capacity, false).map_err(|(n, m)| (format!("status.capacity.{n}"), m))?;
    let mut available =
        table.parse(&node.allocatable, false).map_err(|(n, m)| (format!("status.allocatable.{n}"), m))?;
    let mut running_daemon_requests = table.zero();
    let mut pods = Vec::with_capacity(node.pods.len());
    // Pods that have finished hold nothing on the node.
    for pod in node.pods.iter().filter(|p| !matches!(p.phase.as_deref(), Some("Succeeded" | "Failed"))) {
        let at = |(f, m): FieldError| (format!("pods[{}/{}].{f}", pod.namespace, pod.name), m);
        let requests = pod_requests(table, pod).map_err(at)?;
        // Only required anti-affinity constrains pending pods; the rest of a bound pod's terms are its own.
        let anti_required = required_affinity_terms(
            interner,
            problem,
            pod,
            Kind::AntiAffinity,
            pod.pod_anti_affinity.as_ref(),
            "podAntiAffinity",
        )
        .map_err(at)?;
        pods.push(BoundPod {
            namespace: pod.namespace.clone(),
            labels: pod.labels.clone(),
            anti_required,
            host_ports: podterms::host_ports(pod).map_err(at)?,
            tolerations: pod_tolerations(pod).map_err(at)?,
            counts_for_topology: !pod.terminating,
        });
        resources::sub_assign(&mut available, &requests);
        if pod.daemon_set {
            resources::add_assign(&mut running_daemon_requests, &requests);
        }
    }
    let mut requirements = Requirements::from_labels(interner, &node.labels);
    let hostname_key = interner.key(labels::HOSTNAME);
    if requirements.get(hostname_key).is_none() {
        let hostname = interner.value(&node.name);
        requirements.add(interner, hostname_key, Requirement::in_values(vec![hostname]));
    }
    Ok(NodeData {
        name: node.name.clone(),
        initialized: node.initialized,
        taints,
        requirements,
        available,
        running_daemon_requests,
        capacity,
        node_pool: node.labels.get(labels::NODE_POOL).cloned(),
        pods,
    })
}
