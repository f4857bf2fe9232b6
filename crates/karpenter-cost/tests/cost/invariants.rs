//! The solver's own invariant checks (a copy of `karpenter-solver/tests/solver/properties.rs`, generators and
//! checkers only), so that improved plans are held to exactly what upstream-exact plans are. Shared by both crates
//! once it moves into `karpenter-fixture`.

use std::collections::{BTreeMap, BTreeSet};

use karpenter_solver::Plan;
use karpenter_solver::model::*;
use proptest::prelude::*;

const ZONES: [&str; 3] = ["a", "b", "c"];
const ARCHES: [&str; 2] = ["amd64", "arm64"];
const TAINTS: [(&str, &str); 3] =
    [("dedicated", "NoSchedule"), ("gpu", "NoExecute"), ("soft", "PreferNoSchedule")];

#[derive(Debug, Clone)]
struct GenPod {
    cpu_milli: i64,
    memory_mi: i64,
    zone: Option<usize>,
    arch: Option<usize>,
    team: Option<bool>,
    tolerations: Vec<usize>,
}

#[derive(Debug, Clone)]
struct GenType {
    cpu: i64,
    memory_gi: i64,
    pods: i64,
    zones: Vec<usize>,
    arch: usize,
    price_cents: u32,
}

#[derive(Debug, Clone)]
struct GenPool {
    weight: Option<i32>,
    team: bool,
    taints: Vec<usize>,
    cpu_limit: Option<i64>,
    node_limit: Option<i64>,
}

#[derive(Debug, Clone)]
struct GenNode {
    cpu: i64,
    memory_gi: i64,
    zone: usize,
    arch: usize,
    taint: Option<usize>,
    pool: Option<usize>,
}

fn pod_strategy() -> impl Strategy<Value = GenPod> {
    (
        prop::sample::select(vec![100i64, 250, 500, 1000, 1500, 3000, 7000]),
        prop::sample::select(vec![64i64, 256, 1024, 4096, 12288]),
        prop::option::weighted(0.3, 0..3usize),
        prop::option::weighted(0.3, 0..2usize),
        prop::option::weighted(0.2, any::<bool>()),
        prop::collection::vec(0..3usize, 0..3),
    )
        .prop_map(|(cpu_milli, memory_mi, zone, arch, team, tolerations)| GenPod {
            cpu_milli,
            memory_mi,
            zone,
            arch,
            team,
            tolerations,
        })
}

fn type_strategy() -> impl Strategy<Value = GenType> {
    (
        prop::sample::select(vec![1i64, 2, 4, 8, 16]),
        prop::sample::select(vec![1i64, 2, 4, 8, 16, 32]),
        prop::sample::select(vec![2i64, 8, 29, 110]),
        prop::sample::subsequence(vec![0usize, 1, 2], 1..=3),
        0..2usize,
        1u32..500,
    )
        .prop_map(|(cpu, memory_gi, pods, zones, arch, price_cents)| GenType {
            cpu,
            memory_gi,
            pods,
            zones,
            arch,
            price_cents,
        })
}

fn pool_strategy() -> impl Strategy<Value = GenPool> {
    (
        prop::option::of(1i32..4),
        any::<bool>(),
        prop::collection::vec(0..3usize, 0..2),
        prop::option::weighted(0.3, prop::sample::select(vec![4i64, 16, 64])),
        prop::option::weighted(0.3, 1i64..4),
    )
        .prop_map(|(weight, team, taints, cpu_limit, node_limit)| GenPool {
            weight,
            team,
            taints,
            cpu_limit,
            node_limit,
        })
}

fn node_strategy() -> impl Strategy<Value = GenNode> {
    (
        prop::sample::select(vec![2i64, 4, 8]),
        prop::sample::select(vec![4i64, 8, 16]),
        0..3usize,
        0..2usize,
        prop::option::weighted(0.3, 0..3usize),
        prop::option::of(0..3usize),
    )
        .prop_map(|(cpu, memory_gi, zone, arch, taint, pool)| GenNode {
            cpu,
            memory_gi,
            zone,
            arch,
            taint,
            pool,
        })
}

pub(crate) fn problem_strategy() -> impl Strategy<Value = Problem> {
    (
        prop::collection::vec(pod_strategy(), 0..40),
        prop::collection::vec(type_strategy(), 1..8),
        prop::collection::vec(pool_strategy(), 0..4),
        prop::collection::vec(node_strategy(), 0..4),
    )
        .prop_map(|(pods, types, pools, nodes)| build(&pods, &types, &pools, &nodes))
}

fn taint(index: usize) -> Taint {
    let (key, effect) = TAINTS[index];
    Taint { key: key.into(), value: "true".into(), effect: effect.into() }
}

fn build(pods: &[GenPod], types: &[GenType], pools: &[GenPool], nodes: &[GenNode]) -> Problem {
    let mut problem = Problem::default();
    for (i, p) in pods.iter().enumerate() {
        let mut node_selector = BTreeMap::new();
        if let Some(z) = p.zone {
            node_selector.insert("topology.kubernetes.io/zone".to_string(), ZONES[z].to_string());
        }
        if let Some(a) = p.arch {
            node_selector.insert("kubernetes.io/arch".to_string(), ARCHES[a].to_string());
        }
        if let Some(team) = p.team {
            node_selector.insert("example.com/team".to_string(), if team { "ml" } else { "web" }.to_string());
        }
        problem.pods.push(Pod {
            name: format!("pod-{i:02}"),
            containers: vec![Container {
                name: "app".into(),
                requests: BTreeMap::from([
                    ("cpu".to_string(), format!("{}m", p.cpu_milli)),
                    ("memory".to_string(), format!("{}Mi", p.memory_mi)),
                ]),
                restart_policy: None,
                ports: Vec::new(),
            }],
            node_selector,
            tolerations: p
                .tolerations
                .iter()
                .map(|&t| Toleration {
                    key: TAINTS[t].0.into(),
                    operator: Some("Equal".into()),
                    value: "true".into(),
                    effect: Some(TAINTS[t].1.into()),
                })
                .collect(),
            ..Pod::default()
        });
    }
    for (i, t) in types.iter().enumerate() {
        let name = format!("type-{i}");
        let zones: Vec<&str> = t.zones.iter().map(|&z| ZONES[z]).collect();
        problem.instance_types.push(std::sync::Arc::new(InstanceType {
            requirements: vec![
                NodeSelectorRequirement::new("node.kubernetes.io/instance-type", "In", &[&name]),
                NodeSelectorRequirement::new("kubernetes.io/arch", "In", &[ARCHES[t.arch]]),
                NodeSelectorRequirement::new("topology.kubernetes.io/zone", "In", &zones),
                NodeSelectorRequirement::new("karpenter.sh/capacity-type", "In", &["on-demand"]),
            ],
            capacity: BTreeMap::from([
                ("cpu".to_string(), t.cpu.to_string()),
                ("memory".to_string(), format!("{}Gi", t.memory_gi)),
                ("pods".to_string(), t.pods.to_string()),
            ]),
            offerings: zones
                .iter()
                .map(|z| Offering {
                    zone: z.to_string(),
                    capacity_type: "on-demand".into(),
                    price: f64::from(t.price_cents) / 100.0,
                    available: true,
                    ..Offering::default()
                })
                .collect(),
            overhead: Overhead::default(),
            name,
        }));
    }
    for (i, p) in pools.iter().enumerate() {
        let mut limits = BTreeMap::new();
        if let Some(cpu) = p.cpu_limit {
            limits.insert("cpu".to_string(), cpu.to_string());
        }
        if let Some(nodes) = p.node_limit {
            limits.insert("nodes".to_string(), nodes.to_string());
        }
        problem.node_pools.push(NodePool {
            name: format!("pool-{i}"),
            weight: p.weight,
            labels: if p.team {
                BTreeMap::from([("example.com/team".to_string(), "ml".to_string())])
            } else {
                BTreeMap::new()
            },
            taints: p.taints.iter().map(|&t| taint(t)).collect(),
            limits,
            ..NodePool::default()
        });
    }
    for (i, n) in nodes.iter().enumerate() {
        let mut labels = BTreeMap::from([
            ("topology.kubernetes.io/zone".to_string(), ZONES[n.zone].to_string()),
            ("kubernetes.io/arch".to_string(), ARCHES[n.arch].to_string()),
        ]);
        if let Some(pool) = n.pool {
            labels.insert("karpenter.sh/nodepool".to_string(), format!("pool-{pool}"));
        }
        let resources = BTreeMap::from([
            ("cpu".to_string(), n.cpu.to_string()),
            ("memory".to_string(), format!("{}Gi", n.memory_gi)),
            ("pods".to_string(), "110".to_string()),
        ]);
        problem.nodes.push(ExistingNode {
            name: format!("node-{i}"),
            labels,
            taints: n.taint.map(taint).into_iter().collect(),
            capacity: resources.clone(),
            allocatable: resources,
            ..ExistingNode::default()
        });
    }
    problem
}

fn pod_cpu_memory(pod: &Pod) -> (i64, i64) {
    let requests = &pod.containers[0].requests;
    let cpu = requests["cpu"].trim_end_matches('m').parse::<i64>().unwrap();
    let memory = requests["memory"].trim_end_matches("Mi").parse::<i64>().unwrap() << 20;
    (cpu, memory)
}

fn capacity_of(list: &ResourceList) -> (i64, i64, i64) {
    let cpu = list["cpu"].parse::<i64>().unwrap() * 1000;
    let memory = list["memory"].trim_end_matches("Gi").parse::<i64>().unwrap() << 30;
    let pods = list["pods"].parse::<i64>().unwrap();
    (cpu, memory, pods)
}

fn tolerates(pod: &Pod, taints: &[Taint], allow_prefer_no_schedule: bool) -> bool {
    taints.iter().all(|t| {
        (allow_prefer_no_schedule && t.effect == "PreferNoSchedule")
            || pod.tolerations.iter().any(|tol| {
                tol.key == t.key && tol.value == t.value && tol.effect.as_deref() == Some(&t.effect)
            })
    })
}

fn type_values<'a>(it: &'a InstanceType, key: &str) -> Option<&'a [String]> {
    it.requirements.iter().find(|r| r.key == key).map(|r| r.values.as_slice())
}

/// Checks every invariant of one plan against its problem.
pub(crate) fn check_invariants(problem: &Problem, plan: &Plan) -> Result<(), TestCaseError> {
    let pods: BTreeMap<&str, &Pod> = problem.pods.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut seen = BTreeSet::new();

    for placement in &plan.existing_nodes {
        let node = problem.nodes.iter().find(|n| n.name == placement.node).unwrap();
        let (cpu, memory, max_pods) = capacity_of(&node.allocatable);
        let (mut used_cpu, mut used_memory) = (0, 0);
        for pod_ref in &placement.pods {
            prop_assert!(seen.insert(pod_ref.name.clone()), "{} placed twice", pod_ref.name);
            let pod = pods[pod_ref.name.as_str()];
            let (c, m) = pod_cpu_memory(pod);
            used_cpu += c;
            used_memory += m;
            prop_assert!(tolerates(pod, &node.taints, true), "{} on {} against a taint", pod.name, node.name);
            for (key, value) in &pod.node_selector {
                prop_assert_eq!(
                    node.labels.get(key),
                    Some(value),
                    "{} on {} against its selector",
                    &pod.name,
                    &node.name
                );
            }
        }
        prop_assert!(used_cpu <= cpu && used_memory <= memory && placement.pods.len() as i64 <= max_pods);
    }

    for claim in &plan.new_node_claims {
        let pool = problem.node_pools.iter().find(|p| p.name == claim.node_pool).unwrap();
        prop_assert!(!claim.instance_type_options.is_empty());
        let (mut cpu, mut memory) = (0, 0);
        for pod_ref in &claim.pods {
            prop_assert!(seen.insert(pod_ref.name.clone()), "{} placed twice", pod_ref.name);
            let pod = pods[pod_ref.name.as_str()];
            let (c, m) = pod_cpu_memory(pod);
            cpu += c;
            memory += m;
            prop_assert!(tolerates(pod, &pool.taints, true), "{} against a taint of {}", pod.name, pool.name);
        }
        let claim_zone = claim.requirements.iter().find(|r| r.key == "topology.kubernetes.io/zone");
        for option in &claim.instance_type_options {
            let it = problem.instance_types.iter().find(|t| *t.name == *option.name).unwrap();
            let (a_cpu, a_memory, a_pods) = capacity_of(&it.capacity);
            prop_assert!(
                cpu <= a_cpu && memory <= a_memory && claim.pods.len() as i64 <= a_pods,
                "{} overfilled",
                it.name
            );
            for pod_ref in &claim.pods {
                let pod = pods[pod_ref.name.as_str()];
                for (key, value) in &pod.node_selector {
                    let by_type = type_values(it, key);
                    let by_pool = pool.labels.get(key);
                    prop_assert!(
                        by_type.is_none_or(|v| v.contains(value)),
                        "{} on {} against {key}",
                        pod.name,
                        it.name
                    );
                    prop_assert!(
                        by_type.is_some() || by_pool == Some(value),
                        "{} needs {key}={value}",
                        pod.name
                    );
                    if key == "topology.kubernetes.io/zone" {
                        prop_assert!(
                            claim_zone.is_some_and(|z| z.operator == "In" && z.values == vec![value.clone()])
                        );
                    }
                }
            }
            // Launching must stay possible: some offering of the option is in an allowed zone.
            prop_assert!(it.offerings.iter().any(|o| claim_zone.is_none_or(|z| z.values.contains(&o.zone))));
        }
        if let Some(nodes) = pool.limits.get("nodes") {
            let existing = problem
                .nodes
                .iter()
                .filter(|n| n.labels.get("karpenter.sh/nodepool") == Some(&pool.name))
                .count();
            let claims = plan.new_node_claims.iter().filter(|c| c.node_pool == pool.name).count();
            prop_assert!(
                existing + claims <= nodes.parse::<usize>().unwrap().max(existing),
                "node limit of {}",
                pool.name
            );
        }
    }

    for pod in &plan.unschedulable {
        prop_assert!(seen.insert(pod.pod.name.clone()), "{} both placed and unschedulable", pod.pod.name);
    }
    prop_assert_eq!(seen.len(), problem.pods.len(), "every pod is placed or reported");
    Ok(())
}

/// A deterministic shuffle driven by a seed, so that proptest can shrink it.
pub(crate) fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        items.swap(i, (state >> 33) as usize % (i + 1));
    }
}

// ---- Topology ----

/// Which topology rule a generated pod follows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rule {
    /// Zone spread, maxSkew 1 or 2, over pods of the same rule.
    Spread(i32),
    /// Required hostname anti-affinity to pods of the same rule.
    HostnameAnti,
    /// Required zone anti-affinity to pods of the same rule.
    ZoneAnti,
    /// Required zone self-affinity.
    SelfAffinity,
    None,
}

fn rule_strategy() -> impl Strategy<Value = Rule> {
    prop_oneof![
        (1i32..3).prop_map(Rule::Spread),
        Just(Rule::HostnameAnti),
        Just(Rule::ZoneAnti),
        Just(Rule::SelfAffinity),
        Just(Rule::None),
    ]
}

fn app_of(rule: Rule) -> &'static str {
    match rule {
        Rule::Spread(_) => "spread",
        Rule::HostnameAnti => "hostname-anti",
        Rule::ZoneAnti => "zone-anti",
        Rule::SelfAffinity => "self-affinity",
        Rule::None => "none",
    }
}

pub(crate) fn topology_problem_strategy() -> impl Strategy<Value = (Problem, Vec<Rule>)> {
    (
        prop::collection::vec((pod_strategy(), rule_strategy()), 0..40),
        prop::collection::vec(type_strategy(), 1..6),
        prop::collection::vec(node_strategy(), 0..3),
        1i32..3,
    )
        .prop_map(|(pods, types, nodes, skew)| {
            let plain: Vec<GenPod> = pods
                .iter()
                .map(|(p, _)| GenPod {
                    zone: None,
                    arch: None,
                    team: None,
                    tolerations: Vec::new(),
                    ..p.clone()
                })
                .collect();
            let nodes: Vec<GenNode> = nodes.into_iter().map(|n| GenNode { taint: None, ..n }).collect();
            let pool =
                GenPool { weight: None, team: false, taints: Vec::new(), cpu_limit: None, node_limit: None };
            let mut problem = build(&plain, &types, &[pool], &nodes);
            // One skew for every spread pod, so that they all share one constraint.
            let rules: Vec<Rule> = pods
                .iter()
                .map(|(_, r)| if let Rule::Spread(_) = r { Rule::Spread(skew) } else { *r })
                .collect();
            for (pod, rule) in problem.pods.iter_mut().zip(&rules) {
                let app = app_of(*rule);
                pod.labels.insert("app".to_string(), app.to_string());
                let selector = Some(LabelSelector {
                    match_labels: BTreeMap::from([("app".to_string(), app.to_string())]),
                    ..LabelSelector::default()
                });
                let term = |key: &str| PodAffinityTerm {
                    label_selector: selector.clone(),
                    topology_key: key.to_string(),
                    ..PodAffinityTerm::default()
                };
                match rule {
                    Rule::Spread(skew) => {
                        pod.topology_spread_constraints.push(TopologySpreadConstraint {
                            max_skew: *skew,
                            topology_key: "topology.kubernetes.io/zone".into(),
                            when_unsatisfiable: "DoNotSchedule".into(),
                            label_selector: selector.clone(),
                            ..TopologySpreadConstraint::default()
                        });
                    }
                    Rule::HostnameAnti => {
                        pod.pod_anti_affinity = Some(PodAffinity {
                            required: vec![term("kubernetes.io/hostname")],
                            preferred: vec![],
                        })
                    }
                    Rule::ZoneAnti => {
                        pod.pod_anti_affinity = Some(PodAffinity {
                            required: vec![term("topology.kubernetes.io/zone")],
                            preferred: vec![],
                        })
                    }
                    Rule::SelfAffinity => {
                        pod.pod_affinity = Some(PodAffinity {
                            required: vec![term("topology.kubernetes.io/zone")],
                            preferred: vec![],
                        })
                    }
                    Rule::None => {}
                }
            }
            (problem, rules)
        })
}

/// Where each placed pod went: the node or claim it is on and the zones that place may be in.
fn placements(problem: &Problem, plan: &Plan) -> BTreeMap<String, (String, Vec<String>)> {
    let mut placed = BTreeMap::new();
    for placement in &plan.existing_nodes {
        let node = problem.nodes.iter().find(|n| n.name == placement.node).unwrap();
        let zone = node.labels["topology.kubernetes.io/zone"].clone();
        for pod in &placement.pods {
            placed.insert(pod.name.clone(), (format!("node/{}", node.name), vec![zone.clone()]));
        }
    }
    for (i, claim) in plan.new_node_claims.iter().enumerate() {
        let zones = match claim.requirements.iter().find(|r| r.key == "topology.kubernetes.io/zone") {
            Some(requirement) => requirement.values.clone(),
            None => ZONES.iter().map(|z| z.to_string()).collect(),
        };
        for pod in &claim.pods {
            placed.insert(pod.name.clone(), (format!("claim/{i}"), zones.clone()));
        }
    }
    placed
}

pub(crate) fn check_topology(problem: &Problem, rules: &[Rule], plan: &Plan) -> Result<(), TestCaseError> {
    let placed = placements(problem, plan);
    let of_rule = |wanted: fn(Rule) -> bool| -> Vec<(&String, &Vec<String>)> {
        problem
            .pods
            .iter()
            .zip(rules)
            .filter(|(_, r)| wanted(**r))
            .filter_map(|(p, _)| placed.get(&p.name).map(|(place, zones)| (place, zones)))
            .collect()
    };

    // Hostname anti-affinity: never two on one node.
    let hosts = of_rule(|r| matches!(r, Rule::HostnameAnti));
    let distinct: BTreeSet<&String> = hosts.iter().map(|(place, _)| *place).collect();
    prop_assert_eq!(distinct.len(), hosts.len(), "two hostname-anti-affinity pods share a node");

    // Zone anti-affinity: the zones each pod's node may be in never overlap.
    let zoned = of_rule(|r| matches!(r, Rule::ZoneAnti));
    let mut seen_zones = BTreeSet::new();
    for (_, zones) in &zoned {
        for zone in *zones {
            prop_assert!(
                seen_zones.insert(zone.clone()),
                "two zone-anti-affinity pods may share zone {zone}"
            );
        }
    }

    // Self-affinity: one zone for all.
    let together = of_rule(|r| matches!(r, Rule::SelfAffinity));
    let zones: BTreeSet<&Vec<String>> = together.iter().map(|(_, zones)| *zones).collect();
    prop_assert!(zones.len() <= 1, "self-affinity pods in several zones: {zones:?}");
    prop_assert!(zones.iter().all(|z| z.len() == 1), "a self-affinity pod is not pinned to one zone");

    // Spread: final counts within maxSkew over every zone some instance type offers.
    let skew = rules.iter().find_map(|r| if let Rule::Spread(s) = r { Some(*s) } else { None });
    if let Some(skew) = skew {
        let universe: BTreeSet<String> =
            problem.instance_types.iter().flat_map(|t| t.offerings.iter().map(|o| o.zone.clone())).collect();
        let mut counts: BTreeMap<String, i32> = universe.iter().map(|z| (z.clone(), 0)).collect();
        for (_, zones) in of_rule(|r| matches!(r, Rule::Spread(_))) {
            prop_assert_eq!(zones.len(), 1, "a spread pod is not pinned to one zone");
            *counts.entry(zones[0].clone()).or_insert(0) += 1;
        }
        let max = counts.values().max().copied().unwrap_or(0);
        let min = counts.values().min().copied().unwrap_or(0);
        prop_assert!(max - min <= skew, "zone counts {counts:?} exceed maxSkew {skew}");
    }
    Ok(())
}
