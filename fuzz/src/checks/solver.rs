//! Fuzz checks `solver_json`, `solver_structured` and `selectors`: a whole solver [`Problem`] from arbitrary JSON,
//! from structured `arbitrary` input, and from structured input that exercises node-selector requirements and
//! label selectors. Every run checks the solver's own invariants against an independent reading of the problem:
//!
//! - no panic, and the same plan when solved twice (the solver is deterministic);
//! - every pending pod is accounted for exactly once: placed on an existing node, placed on a new NodeClaim, or
//!   reported unschedulable;
//! - every placement fits: on an existing node, the app containers' requests of its new and bound pods stay within
//!   allocatable for every resource a new pod asks for, and the pod count within `pods`; on a new NodeClaim, every
//!   launch option names an instance type of its NodePool whose capacity holds the pods' requests;
//! - taints: a placed pod tolerates every `NoSchedule` and `NoExecute` taint of its node or NodePool;
//! - selectors: a pod placed on an existing node matches its `nodeSelector` and required node affinity, and no two
//!   pods share a node or NodeClaim when either has a required hostname anti-affinity term selecting the other.
//!
//! The bounds on time are the fuzzer's per-input timeout and the targets' maximum input lengths.

use std::collections::BTreeMap;
use std::sync::Arc;

use arbitrary::Unstructured;
use karpenter_solver::model::*;
use karpenter_solver::plan::PodRef;
use karpenter_solver::quantity::Quantity;
use karpenter_solver::{Plan, SolverConfig, solve};

/// `solver_json`: the input is a JSON problem.
pub fn check_json(data: &[u8]) {
    if let Ok(problem) = serde_json::from_slice::<Problem>(data) {
        check_problem(&problem);
    }
}

/// `solver_structured`: the input drives a generator of well-formed-looking problems.
pub fn check_structured(data: &[u8]) {
    if let Some(problem) = generated(data, false) {
        check_problem(&problem);
    }
}

/// `selectors`: like `solver_structured`, with node-selector requirements and label selectors drawn freely.
pub fn check_selectors(data: &[u8]) {
    if let Some(problem) = generated(data, true) {
        check_problem(&problem);
    }
}

/// The problem structured input stands for (`free`: with requirements and selectors drawn freely), to look at
/// a crash.
pub fn generated(data: &[u8], free: bool) -> Option<Problem> {
    generate(&mut Unstructured::new(data), free).ok()
}

/// Solves `problem` and checks every invariant of the module's documentation.
pub fn check_problem(problem: &Problem) {
    let config = SolverConfig::default();
    let plan = solve(problem, &config);
    let again = solve(problem, &config);
    assert!(plan == again, "two solves of one problem differ:\n{}\n{}", plan.render(), again.render());
    check_accounting(problem, &plan);
    check_existing_nodes(problem, &plan);
    check_new_claims(problem, &plan);
    check_anti_affinity(problem, &plan);
}

fn check_accounting(problem: &Problem, plan: &Plan) {
    let mut expected: BTreeMap<PodRef, i64> = BTreeMap::new();
    for pod in &problem.pods {
        *expected.entry(PodRef::of(pod)).or_default() += 1;
    }
    let mut seen: BTreeMap<PodRef, i64> = BTreeMap::new();
    let placed = plan.existing_nodes.iter().flat_map(|p| &p.pods);
    let claimed = plan.new_node_claims.iter().flat_map(|c| &c.pods);
    let reported = plan.unschedulable.iter().map(|u| &u.pod);
    for pod in placed.chain(claimed).chain(reported) {
        *seen.entry(pod.clone()).or_default() += 1;
    }
    assert_eq!(seen, expected, "pods placed or reported differ from the pending pods\n{}", plan.render());
}

/// Resource amounts as the solver counts them: CPU in thousandths, everything else in units.
fn amount(name: &str, text: &str) -> Option<i64> {
    let quantity = Quantity::parse(text).ok()?;
    if name == "cpu" { quantity.to_milli() } else { quantity.to_units() }
}

/// A lower bound of what a pod asks for: the sum of its app containers' requests (its effective request adds
/// init containers, sidecars and overhead on top, or takes a larger init container instead).
fn app_requests(pod: &Pod) -> BTreeMap<String, i128> {
    let mut total = BTreeMap::new();
    for container in &pod.containers {
        for (name, text) in &container.requests {
            if name == "pods" {
                continue;
            }
            let value = amount(name, text).unwrap_or(0).max(0);
            *total.entry(name.clone()).or_insert(0) += i128::from(value);
        }
    }
    total
}

fn holds_resources(pod: &Pod) -> bool {
    !matches!(pod.phase.as_deref(), Some("Succeeded" | "Failed"))
}

/// The pending pods by reference; pods whose reference is not unique are left out, since which of them a plan
/// means cannot be told.
fn by_ref(problem: &Problem) -> BTreeMap<PodRef, &Pod> {
    let mut pods: BTreeMap<PodRef, Option<&Pod>> = BTreeMap::new();
    for pod in &problem.pods {
        pods.entry(PodRef::of(pod)).and_modify(|p| *p = None).or_insert(Some(pod));
    }
    pods.into_iter().filter_map(|(r, p)| Some((r, p?))).collect()
}

fn check_existing_nodes(problem: &Problem, plan: &Plan) {
    let pods = by_ref(problem);
    for placement in &plan.existing_nodes {
        let candidates: Vec<&ExistingNode> =
            problem.nodes.iter().filter(|n| n.name == placement.node).collect();
        assert!(!candidates.is_empty(), "pods placed on unknown node {}", placement.node);
        if candidates.len() > 1 {
            // Which of several nodes of one name took the pods is not for this check to guess.
            continue;
        }
        let node = candidates[0];
        assert!(!node.marked_for_deletion, "pods placed on node {} that is being deleted", node.name);
        let new: Vec<&Pod> = placement.pods.iter().filter_map(|r| pods.get(r).copied()).collect();
        if new.len() == placement.pods.len() {
            check_fit(node, &new);
        }
        for pod in &new {
            if node.initialized {
                let startup = &node.startup_taints;
                let taints: Vec<&Taint> = node.taints.iter().filter(|t| !startup.contains(t)).collect();
                check_tolerates(pod, taints, &format!("node {}", node.name));
            }
            check_node_selection(pod, node);
        }
    }
}

fn check_fit(node: &ExistingNode, new: &[&Pod]) {
    let mut allocatable = BTreeMap::new();
    for (name, text) in &node.allocatable {
        match amount(name, text) {
            Some(value) => allocatable.insert(name.clone(), i128::from(value)),
            None => return,
        };
    }
    if allocatable.is_empty() {
        return;
    }
    let mut asked: BTreeMap<String, i128> = BTreeMap::new();
    for pod in new {
        for (name, value) in app_requests(pod) {
            *asked.entry(name).or_insert(0) += value;
        }
    }
    let mut used: BTreeMap<String, i128> = BTreeMap::new();
    for pod in node.pods.iter().filter(|p| holds_resources(p)) {
        for (name, value) in app_requests(pod) {
            *used.entry(name).or_insert(0) += value;
        }
    }
    for (name, value) in &asked {
        if *value == 0 {
            continue;
        }
        let free = allocatable.get(name).copied().unwrap_or(0) - used.get(name).copied().unwrap_or(0);
        assert!(*value <= free, "node {}: pods placed ask for {value} {name}, {free} was free", node.name);
    }
    if let Some(&max_pods) = allocatable.get("pods") {
        let count = (node.pods.iter().filter(|p| holds_resources(p)).count() + new.len()) as i128;
        assert!(
            new.is_empty() || count <= max_pods.max(node.pods.len() as i128),
            "node {}: {count} pods on a node for {max_pods}",
            node.name
        );
    }
}

/// Kubernetes' `Toleration.ToleratesTaint`, written out again.
fn tolerates(pod: &Pod, taint: &Taint) -> bool {
    pod.tolerations.iter().any(|t| {
        let effect = t.effect.as_deref().unwrap_or("");
        if !effect.is_empty() && effect != taint.effect {
            return false;
        }
        match t.operator.as_deref().unwrap_or("Equal") {
            "Exists" => t.key.is_empty() || t.key == taint.key,
            "Equal" | "" => t.key == taint.key && t.value == taint.value,
            _ => false,
        }
    })
}

fn check_tolerates<'a>(pod: &Pod, taints: impl IntoIterator<Item = &'a Taint>, place: &str) {
    for taint in taints {
        if matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute") {
            assert!(
                tolerates(pod, taint),
                "{}/{} placed on {place} against taint {taint:?}",
                pod.namespace,
                pod.name
            );
        }
    }
}

/// The node's labels under their stable names, or `None` when two names of one label disagree.
fn stable_labels(node: &ExistingNode) -> Option<BTreeMap<&str, &str>> {
    let mut labels = BTreeMap::new();
    for (key, value) in &node.labels {
        let stable = karpenter_solver::labels::normalize(key);
        if labels.insert(stable, value.as_str()).is_some_and(|old| old != value) {
            return None;
        }
    }
    Some(labels)
}

/// One node-selector requirement against concrete labels, or `None` when the requirement is malformed (the pod
/// should then not have been placed by it, but whether it is refused or ignored is not this check's business).
fn requirement_matches(requirement: &NodeSelectorRequirement, labels: &BTreeMap<&str, &str>) -> Option<bool> {
    let value = labels.get(karpenter_solver::labels::normalize(&requirement.key)).copied();
    let values = &requirement.values;
    let integer = || -> Option<(i64, i64)> {
        let [bound] = values.as_slice() else { return None };
        Some((value?.parse().ok()?, bound.parse().ok()?))
    };
    Some(match requirement.operator.as_str() {
        "In" if !values.is_empty() => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" if !values.is_empty() => value.is_none_or(|v| values.iter().all(|x| x != v)),
        "Exists" if values.is_empty() => value.is_some(),
        "DoesNotExist" if values.is_empty() => value.is_none(),
        "Gt" | "Lt" => {
            values.first()?.parse::<i64>().ok()?;
            match integer() {
                Some((v, bound)) => {
                    (requirement.operator == "Gt" && v > bound) || (requirement.operator == "Lt" && v < bound)
                }
                None => false,
            }
        }
        _ => return None,
    })
}

fn check_node_selection(pod: &Pod, node: &ExistingNode) {
    let Some(labels) = stable_labels(node) else { return };
    for (key, value) in &pod.node_selector {
        let found = labels.get(karpenter_solver::labels::normalize(key)).copied();
        assert_eq!(
            found,
            Some(value.as_str()),
            "{}/{} on {} against nodeSelector {key}",
            pod.namespace,
            pod.name,
            node.name
        );
    }
    let Some(affinity) = &pod.node_affinity else { return };
    if affinity.required.is_empty() {
        return;
    }
    let mut any = false;
    for term in &affinity.required {
        // Kubernetes matches no node with an empty term; upstream Karpenter, and so the solver, reads it as no
        // constraint (docs/testing.md, "Fuzzing", lists the difference).
        if !term.match_fields.is_empty() || term.match_expressions.is_empty() {
            return;
        }
        let mut all = true;
        for requirement in &term.match_expressions {
            match requirement_matches(requirement, &labels) {
                Some(matched) => all &= matched,
                None => return,
            }
        }
        any |= all;
    }
    assert!(any, "{}/{} on {} against its required node affinity", pod.namespace, pod.name, node.name);
}

fn check_new_claims(problem: &Problem, plan: &Plan) {
    let pods = by_ref(problem);
    for claim in &plan.new_node_claims {
        let pools: Vec<&NodePool> = problem.node_pools.iter().filter(|p| p.name == claim.node_pool).collect();
        assert!(!pools.is_empty(), "a NodeClaim of unknown NodePool {}", claim.node_pool);
        assert!(
            !claim.instance_type_options.is_empty(),
            "a NodeClaim of {} with no launch option",
            claim.node_pool
        );
        let offered = problem.pool_instance_types.get(&claim.node_pool).unwrap_or(&problem.instance_types);
        let new: Vec<&Pod> = claim.pods.iter().filter_map(|r| pods.get(r).copied()).collect();
        let known = new.len() == claim.pods.len();
        let mut asked: BTreeMap<String, i128> = BTreeMap::new();
        for pod in &new {
            for (name, value) in app_requests(pod) {
                *asked.entry(name).or_insert(0) += value;
            }
        }
        for option in &claim.instance_type_options {
            let types: Vec<&Arc<InstanceType>> = offered.iter().filter(|t| *t.name == *option.name).collect();
            assert!(!types.is_empty(), "launch option {} is not offered to {}", option.name, claim.node_pool);
            let fits_one = types.iter().any(|t| {
                asked.iter().all(|(name, value)| {
                    *value == 0
                        || t.capacity
                            .get(name)
                            .and_then(|c| amount(name, c))
                            .is_some_and(|c| i128::from(c) >= *value)
                })
            });
            assert!(!known || fits_one, "launch option {} cannot hold {asked:?}", option.name);
            assert!(option.price.is_finite(), "launch option {} has price {}", option.name, option.price);
        }
        if let [pool] = pools.as_slice() {
            for pod in &new {
                check_tolerates(pod, &pool.taints, &format!("a NodeClaim of {}", pool.name));
            }
        }
    }
}

/// Kubernetes' label selector semantics, or `None` for a selector Kubernetes would refuse.
fn selects(selector: &LabelSelector, labels: &Labels) -> Option<bool> {
    let mut all = selector.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v));
    for requirement in &selector.match_expressions {
        let value = labels.get(&requirement.key);
        let values = &requirement.values;
        all &= match requirement.operator.as_str() {
            "In" if !values.is_empty() => value.is_some_and(|v| values.contains(v)),
            "NotIn" if !values.is_empty() => value.is_none_or(|v| !values.contains(v)),
            "Exists" if values.is_empty() => value.is_some(),
            "DoesNotExist" if values.is_empty() => value.is_none(),
            _ => return None,
        };
    }
    Some(all)
}

/// True when `pod` has a required hostname anti-affinity term that certainly selects `other`.
fn repels(pod: &Pod, other: &Pod) -> bool {
    let Some(anti) = &pod.pod_anti_affinity else { return false };
    anti.required.iter().any(|term| {
        let same_namespace = term.namespace_selector.is_none()
            && (term.namespaces.is_empty() && pod.namespace == other.namespace
                || term.namespaces.contains(&other.namespace));
        term.topology_key == karpenter_solver::labels::HOSTNAME
            && same_namespace
            && term.label_selector.as_ref().and_then(|s| selects(s, &other.labels)) == Some(true)
    })
}

fn check_anti_affinity(problem: &Problem, plan: &Plan) {
    let pods = by_ref(problem);
    let mut groups: Vec<(String, Vec<&Pod>)> = Vec::new();
    for placement in &plan.existing_nodes {
        let node = problem.nodes.iter().find(|n| n.name == placement.node);
        let mut members: Vec<&Pod> = placement.pods.iter().filter_map(|r| pods.get(r).copied()).collect();
        if let Some(node) = node {
            members.extend(node.pods.iter().filter(|p| holds_resources(p) && !p.terminating));
        }
        groups.push((format!("node {}", placement.node), members));
    }
    for (i, claim) in plan.new_node_claims.iter().enumerate() {
        let members = claim.pods.iter().filter_map(|r| pods.get(r).copied()).collect();
        groups.push((format!("NodeClaim {i} of {}", claim.node_pool), members));
    }
    for (place, members) in &groups {
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                if std::ptr::eq(*a, *b) {
                    continue;
                }
                assert!(
                    !repels(a, b) && !repels(b, a),
                    "{}/{} and {}/{} share {place} against hostname anti-affinity",
                    a.namespace,
                    a.name,
                    b.namespace,
                    b.name
                );
            }
        }
    }
}

// ---- Generation from structured input ----

const ZONES: [&str; 3] = ["a", "b", "c"];
const KEYS: [&str; 10] = [
    "topology.kubernetes.io/zone",
    "kubernetes.io/arch",
    "node.kubernetes.io/instance-type",
    "karpenter.sh/capacity-type",
    "karpenter.sh/nodepool",
    "kubernetes.io/hostname",
    "example.com/team",
    "example.com/size",
    "failure-domain.beta.kubernetes.io/zone",
    "",
];
const VALUES: [&str; 12] =
    ["a", "b", "c", "amd64", "arm64", "spot", "on-demand", "ml", "1", "10", "-3", "99999999999999999999"];
const OPERATORS: [&str; 10] = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Gte", "Lte", "in", ""];
const CPU: [&str; 8] = ["0", "100m", "250m", "1", "1500m", "3", "0.5m", "-1"];
const MEMORY: [&str; 7] = ["0", "64Mi", "256Mi", "1Gi", "3Gi", "1.5Gi", "8Gi"];
const EFFECTS: [&str; 4] = ["NoSchedule", "NoExecute", "PreferNoSchedule", "Other"];

type Draw<T> = arbitrary::Result<T>;

fn pick<'a>(u: &mut Unstructured<'_>, from: &[&'a str]) -> Draw<&'a str> {
    Ok(from[u.choose_index(from.len())?])
}

fn pick_string(u: &mut Unstructured<'_>, from: &[&str]) -> Draw<String> {
    Ok(pick(u, from)?.to_string())
}

fn count(u: &mut Unstructured<'_>, max: usize) -> Draw<usize> {
    u.int_in_range(0..=max)
}

fn requirement(u: &mut Unstructured<'_>, free: bool) -> Draw<NodeSelectorRequirement> {
    let key = if free { pick_string(u, &KEYS)? } else { pick_string(u, &KEYS[..2])? };
    let operator = if free { pick_string(u, &OPERATORS)? } else { pick_string(u, &OPERATORS[..4])? };
    let values = (0..count(u, 3)?).map(|_| pick_string(u, &VALUES)).collect::<Draw<_>>()?;
    let min_values = if free && u.ratio(1, 5)? { Some(u.int_in_range(0..=4)?) } else { None };
    Ok(NodeSelectorRequirement { key, operator, values, min_values })
}

fn selector(u: &mut Unstructured<'_>, free: bool) -> Draw<LabelSelector> {
    let mut selector = LabelSelector::default();
    for _ in 0..count(u, 1)? {
        selector.match_labels.insert("app".into(), pick_string(u, &["web", "db", "batch"])?);
    }
    if free {
        for _ in 0..count(u, 2)? {
            selector.match_expressions.push(LabelSelectorRequirement {
                key: pick_string(u, &["app", "tier", ""])?,
                operator: pick_string(u, &OPERATORS[..4])?,
                values: (0..count(u, 2)?)
                    .map(|_| pick_string(u, &["web", "db", "front"]))
                    .collect::<Draw<_>>()?,
            });
        }
    }
    Ok(selector)
}

fn taint(u: &mut Unstructured<'_>) -> Draw<Taint> {
    Ok(Taint {
        key: pick_string(u, &["dedicated", "gpu", ""])?,
        value: pick_string(u, &["", "true"])?,
        effect: pick_string(u, &EFFECTS)?,
    })
}

fn pod(u: &mut Unstructured<'_>, index: usize, free: bool) -> Draw<Pod> {
    let mut pod = Pod { name: format!("pod-{index}"), ..Pod::default() };
    if u.ratio(1, 8)? {
        pod.namespace = "other".into();
    }
    pod.creation_timestamp = u.int_in_range(0..=3)?;
    for _ in 0..count(u, 2)? {
        pod.labels
            .insert(pick_string(u, &["app", "tier"])?, pick_string(u, &["web", "db", "batch", "front"])?);
    }
    for _ in 0..u.int_in_range(1..=2)? {
        let mut requests = BTreeMap::new();
        requests.insert("cpu".to_string(), pick_string(u, &CPU)?);
        requests.insert("memory".to_string(), pick_string(u, &MEMORY)?);
        if u.ratio(1, 10)? {
            requests.insert("example.com/gpu".to_string(), "1".to_string());
        }
        pod.containers.push(Container { requests, ..Container::default() });
    }
    if u.ratio(1, 6)? {
        let requests = BTreeMap::from([("cpu".to_string(), pick_string(u, &CPU)?)]);
        let restart_policy = if u.ratio(1, 2)? { Some("Always".to_string()) } else { None };
        pod.init_containers.push(Container { requests, restart_policy, ..Container::default() });
    }
    for _ in 0..count(u, 1)? {
        pod.node_selector.insert(pick_string(u, &KEYS[..4])?, pick_string(u, &VALUES)?);
    }
    if u.ratio(1, 3)? {
        let mut affinity = NodeAffinity::default();
        for _ in 0..count(u, 2)? {
            let terms = (0..count(u, 2)?).map(|_| requirement(u, free)).collect::<Draw<_>>()?;
            affinity.required.push(NodeSelectorTerm { match_expressions: terms, match_fields: vec![] });
        }
        for _ in 0..count(u, 2)? {
            let terms = (0..count(u, 2)?).map(|_| requirement(u, free)).collect::<Draw<_>>()?;
            affinity.preferred.push(PreferredSchedulingTerm {
                weight: u.int_in_range(0..=100)?,
                preference: NodeSelectorTerm { match_expressions: terms, match_fields: vec![] },
            });
        }
        pod.node_affinity = Some(affinity);
    }
    for _ in 0..count(u, 2)? {
        pod.tolerations.push(Toleration {
            key: pick_string(u, &["dedicated", "gpu", ""])?,
            operator: Some(pick_string(u, &["Equal", "Exists", "Equal", "Exists", "Bogus"])?),
            value: pick_string(u, &["", "true"])?,
            effect: if u.ratio(1, 2)? { Some(pick_string(u, &EFFECTS)?) } else { None },
        });
    }
    if u.ratio(1, 3)? {
        pod.topology_spread_constraints.push(TopologySpreadConstraint {
            max_skew: if u.ratio(1, 10)? { u.int_in_range(-1..=0)? } else { u.int_in_range(1..=3)? },
            topology_key: pick_string(u, &KEYS[..6])?,
            when_unsatisfiable: pick_string(u, &["DoNotSchedule", "ScheduleAnyway", "Sometimes"])?,
            label_selector: if u.ratio(4, 5)? { Some(selector(u, free)?) } else { None },
            min_domains: if u.ratio(1, 4)? {
                Some(u.int_in_range(1..=5)? - i32::from(u.ratio(1, 10)?) * 2)
            } else {
                None
            },
            match_label_keys: if u.ratio(1, 4)? { vec!["app".into()] } else { vec![] },
            node_affinity_policy: if u.ratio(1, 4)? {
                Some(pick_string(u, &["Honor", "Ignore", "x"])?)
            } else {
                None
            },
            node_taints_policy: if u.ratio(1, 4)? {
                Some(pick_string(u, &["Honor", "Ignore", "x"])?)
            } else {
                None
            },
        });
    }
    for anti in [false, true] {
        if u.ratio(1, 4)? {
            let mut affinity = PodAffinity::default();
            for _ in 0..u.int_in_range(1..=2)? {
                let term = PodAffinityTerm {
                    label_selector: if u.ratio(5, 6)? { Some(selector(u, free)?) } else { None },
                    namespaces: if u.ratio(1, 6)? { vec!["other".into()] } else { vec![] },
                    namespace_selector: None,
                    topology_key: pick_string(u, &KEYS[..6])?,
                };
                if u.ratio(2, 3)? {
                    affinity.required.push(term);
                } else {
                    affinity.preferred.push(WeightedPodAffinityTerm {
                        weight: u.int_in_range(1..=100)?,
                        pod_affinity_term: term,
                    });
                }
            }
            if anti {
                pod.pod_anti_affinity = Some(affinity);
            } else {
                pod.pod_affinity = Some(affinity);
            }
        }
    }
    if u.ratio(1, 10)? {
        pod.containers[0]
            .ports
            .push(ContainerPort { host_port: u.int_in_range(0..=2)? * 80, ..ContainerPort::default() });
    }
    Ok(pod)
}

fn instance_type(u: &mut Unstructured<'_>, index: usize) -> Draw<InstanceType> {
    let name = format!("type-{index}");
    let zones: Vec<&str> = ZONES.iter().copied().filter(|_| u.ratio(2, 3).unwrap_or(true)).collect();
    let arch = pick(u, &["amd64", "arm64"])?;
    let mut capacity = BTreeMap::from([
        ("cpu".to_string(), pick_string(u, &["1", "2", "4", "8", "16"])?),
        ("memory".to_string(), pick_string(u, &["1Gi", "4Gi", "8Gi", "32Gi"])?),
        ("pods".to_string(), pick_string(u, &["2", "8", "29", "110"])?),
    ]);
    if u.ratio(1, 5)? {
        capacity.insert("example.com/gpu".into(), "2".into());
    }
    let mut offerings = Vec::new();
    for zone in &zones {
        for capacity_type in ["on-demand", "spot"] {
            if u.ratio(2, 3)? {
                offerings.push(Offering {
                    zone: zone.to_string(),
                    capacity_type: capacity_type.to_string(),
                    price: f64::from(u.int_in_range(1u32..=500)?) / 100.0,
                    available: u.ratio(7, 8)?,
                    ..Offering::default()
                });
            }
        }
    }
    Ok(InstanceType {
        requirements: vec![
            NodeSelectorRequirement::new("node.kubernetes.io/instance-type", "In", &[&name]),
            NodeSelectorRequirement::new("kubernetes.io/arch", "In", &[arch]),
            NodeSelectorRequirement::new("topology.kubernetes.io/zone", "In", &zones),
            NodeSelectorRequirement::new("karpenter.sh/capacity-type", "In", &["on-demand", "spot"]),
            NodeSelectorRequirement::new("example.com/size", "In", &[&index.to_string()]),
        ],
        capacity,
        overhead: Overhead {
            kube_reserved: BTreeMap::from([("cpu".to_string(), pick_string(u, &["0", "100m"])?)]),
            ..Overhead::default()
        },
        offerings,
        name,
    })
}

fn node(u: &mut Unstructured<'_>, index: usize, pools: usize) -> Draw<ExistingNode> {
    let mut labels = BTreeMap::new();
    for key in KEYS.iter().take(4) {
        if u.ratio(3, 4)? {
            labels.insert(key.to_string(), pick_string(u, &VALUES)?);
        }
    }
    if pools > 0 && u.ratio(1, 2)? {
        labels.insert("karpenter.sh/nodepool".into(), format!("pool-{}", u.choose_index(pools)?));
    }
    labels.insert("kubernetes.io/hostname".into(), format!("node-{index}"));
    let resources = BTreeMap::from([
        ("cpu".to_string(), pick_string(u, &["1", "2", "4"])?),
        ("memory".to_string(), pick_string(u, &["2Gi", "8Gi"])?),
        ("pods".to_string(), pick_string(u, &["1", "3", "110"])?),
    ]);
    let mut bound = Vec::new();
    for i in 0..count(u, 2)? {
        let mut pod = pod(u, 100 + i, false)?;
        pod.name = format!("bound-{index}-{i}");
        pod.phase = if u.ratio(1, 5)? { Some("Succeeded".into()) } else { None };
        pod.terminating = u.ratio(1, 6)?;
        bound.push(pod);
    }
    Ok(ExistingNode {
        name: format!("node-{index}"),
        labels,
        taints: (0..count(u, 1)?).map(|_| taint(u)).collect::<Draw<_>>()?,
        startup_taints: vec![],
        capacity: resources.clone(),
        allocatable: resources,
        initialized: u.ratio(5, 6)?,
        marked_for_deletion: u.ratio(1, 8)?,
        pods: bound,
    })
}

fn generate(u: &mut Unstructured<'_>, free: bool) -> Draw<Problem> {
    let mut problem = Problem::default();
    let types = u.int_in_range(0..=6)?;
    for i in 0..types {
        problem.instance_types.push(Arc::new(instance_type(u, i)?));
    }
    for i in 0..u.int_in_range(0..=3)? {
        let mut limits = BTreeMap::new();
        if u.ratio(1, 4)? {
            limits.insert("cpu".to_string(), pick_string(u, &["2", "8", "100", "0"])?);
        }
        if u.ratio(1, 4)? {
            limits.insert("nodes".to_string(), pick_string(u, &["1", "2", "10"])?);
        }
        let pool = NodePool {
            name: format!("pool-{i}"),
            weight: if u.ratio(1, 2)? { Some(u.int_in_range(0..=100)?) } else { None },
            labels: if u.ratio(1, 4)? {
                BTreeMap::from([("example.com/team".to_string(), "ml".to_string())])
            } else {
                BTreeMap::new()
            },
            requirements: (0..count(u, 3)?).map(|_| requirement(u, free)).collect::<Draw<_>>()?,
            taints: (0..count(u, 1)?).map(|_| taint(u)).collect::<Draw<_>>()?,
            startup_taints: (0..count(u, 1)?).map(|_| taint(u)).collect::<Draw<_>>()?,
            limits,
            node_class_ref: None,
        };
        if types > 1 && u.ratio(1, 5)? {
            // A NodePool with an instance-type list of its own.
            let own = problem.instance_types[..u.int_in_range(1..=types)?].to_vec();
            problem.pool_instance_types.insert(pool.name.clone(), own);
        }
        problem.node_pools.push(pool);
    }
    let pools = problem.node_pools.len();
    for i in 0..u.int_in_range(0..=3)? {
        problem.nodes.push(node(u, i, pools)?);
    }
    for i in 0..u.int_in_range(0..=16)? {
        problem.pods.push(pod(u, i, free)?);
    }
    if u.ratio(1, 5)? {
        let mut daemon = pod(u, 1000, false)?;
        daemon.name = "agent".into();
        problem.daemon_set_pods.push(daemon);
    }
    Ok(problem)
}
