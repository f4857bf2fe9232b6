//! The bound never exceeds the cost of a feasible plan: on instances small enough to try every partition of the pods
//! into nodes, the cheapest feasible partition is at least the bound, and the engine's own plan at least that.

use std::collections::BTreeMap;
use std::sync::Arc;

use karpenter_cost::{CostConfig, CostEngine};
use karpenter_solver::model::*;
use karpenter_solver::{Round, SolverConfig};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct TinyPod {
    cpu_milli: i64,
    memory_mi: i64,
    host_port: bool,
    anti: bool,
}

#[derive(Debug, Clone)]
struct TinyType {
    cpu: i64,
    memory_gi: i64,
    pods: i64,
    price_cents: u32,
}

fn pod_strategy() -> impl Strategy<Value = TinyPod> {
    (
        prop::sample::select(vec![250i64, 500, 1000, 1500, 3000]),
        prop::sample::select(vec![256i64, 1024, 3072, 6144]),
        prop::bool::weighted(0.25),
        prop::bool::weighted(0.25),
    )
        .prop_map(|(cpu_milli, memory_mi, host_port, anti)| TinyPod {
            cpu_milli,
            memory_mi,
            host_port,
            anti,
        })
}

fn type_strategy() -> impl Strategy<Value = TinyType> {
    (
        prop::sample::select(vec![1i64, 2, 4, 8]),
        prop::sample::select(vec![2i64, 4, 8, 16]),
        prop::sample::select(vec![3i64, 110]),
        1u32..400,
    )
        .prop_map(|(cpu, memory_gi, pods, price_cents)| TinyType { cpu, memory_gi, pods, price_cents })
}

fn instance_type(name: &str, cpu: i64, memory_gi: i64, pods: i64, price: f64) -> Arc<InstanceType> {
    Arc::new(InstanceType {
        name: name.to_string(),
        requirements: vec![NodeSelectorRequirement::new("node.kubernetes.io/instance-type", "In", &[name])],
        capacity: BTreeMap::from([
            ("cpu".to_string(), cpu.to_string()),
            ("memory".to_string(), format!("{memory_gi}Gi")),
            ("pods".to_string(), pods.to_string()),
        ]),
        offerings: vec![Offering {
            zone: "a".into(),
            capacity_type: "on-demand".into(),
            price,
            available: true,
            ..Offering::default()
        }],
        ..InstanceType::default()
    })
}

fn problem(pods: &[TinyPod], types: &[TinyType], daemon: bool) -> Problem {
    let mut instance_types: Vec<Arc<InstanceType>> = types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            instance_type(&format!("t{i}"), t.cpu, t.memory_gi, t.pods, f64::from(t.price_cents) / 100.0)
        })
        .collect();
    // Room for any single pod, so that the first fit places every pod.
    instance_types.push(instance_type("huge", 32, 128, 110, 9.99));
    let pods = pods
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut pod = Pod {
                name: format!("p{i}"),
                labels: BTreeMap::from([(
                    "app".to_string(),
                    if p.anti { "solo" } else { "any" }.to_string(),
                )]),
                containers: vec![Container {
                    requests: BTreeMap::from([
                        ("cpu".to_string(), format!("{}m", p.cpu_milli)),
                        ("memory".to_string(), format!("{}Mi", p.memory_mi)),
                    ]),
                    ports: if p.host_port {
                        vec![ContainerPort { container_port: 80, host_port: 80, ..ContainerPort::default() }]
                    } else {
                        Vec::new()
                    },
                    ..Container::default()
                }],
                ..Pod::default()
            };
            if p.anti {
                pod.pod_anti_affinity = Some(PodAffinity {
                    required: vec![PodAffinityTerm {
                        label_selector: Some(LabelSelector {
                            match_labels: BTreeMap::from([("app".to_string(), "solo".to_string())]),
                            ..LabelSelector::default()
                        }),
                        topology_key: "kubernetes.io/hostname".into(),
                        ..PodAffinityTerm::default()
                    }],
                    preferred: Vec::new(),
                });
            }
            pod
        })
        .collect();
    let daemon_set_pods = if daemon {
        vec![Pod {
            name: "agent".into(),
            namespace: "kube-system".into(),
            daemon_set: true,
            containers: vec![Container {
                requests: BTreeMap::from([
                    ("cpu".to_string(), "200m".to_string()),
                    ("memory".to_string(), "256Mi".to_string()),
                ]),
                ..Container::default()
            }],
            ..Pod::default()
        }]
    } else {
        Vec::new()
    };
    Problem {
        pods,
        node_pools: vec![NodePool { name: "default".into(), ..NodePool::default() }],
        instance_types,
        daemon_set_pods,
        ..Problem::default()
    }
}

/// The cheapest plan, by trying every partition of the pods into nodes. A node of a type holds a group when the
/// group's requests plus the DaemonSet's fit the type's allocatable, and no two pods of the group share the host
/// port or the anti-affinity.
fn cheapest(pods: &[TinyPod], problem: &Problem, daemon: bool) -> f64 {
    let types: Vec<(i64, i64, i64, f64)> = problem
        .instance_types
        .iter()
        .map(|it| {
            let a = karpenter_solver::allocatable(it).unwrap();
            let cpu = karpenter_solver::quantity::Quantity::parse(&a["cpu"]).unwrap().to_milli().unwrap();
            let memory =
                karpenter_solver::quantity::Quantity::parse(&a["memory"]).unwrap().to_units().unwrap();
            let count = a["pods"].parse::<i64>().unwrap();
            (cpu, memory, count, it.offerings[0].price)
        })
        .collect();
    let node_price = |group: &[usize]| -> Option<f64> {
        if group.iter().filter(|&&i| pods[i].host_port).count() > 1
            || group.iter().filter(|&&i| pods[i].anti).count() > 1
        {
            return None;
        }
        let extra = i64::from(daemon);
        let cpu: i64 = group.iter().map(|&i| pods[i].cpu_milli).sum::<i64>() + 200 * extra;
        let memory: i64 = group.iter().map(|&i| pods[i].memory_mi << 20).sum::<i64>() + (256 << 20) * extra;
        let count = group.len() as i64 + extra;
        types
            .iter()
            .filter(|t| cpu <= t.0 && memory <= t.1 && count <= t.2)
            .map(|t| t.3)
            .min_by(f64::total_cmp)
    };
    // Restricted growth strings enumerate the set partitions.
    fn go(
        i: usize,
        n: usize,
        labels: &mut Vec<usize>,
        best: &mut f64,
        price: &dyn Fn(&[usize]) -> Option<f64>,
    ) {
        if i == n {
            let groups = labels.iter().max().map_or(0, |m| m + 1);
            let mut total = 0.0;
            for g in 0..groups {
                let members: Vec<usize> = (0..n).filter(|&k| labels[k] == g).collect();
                match price(&members) {
                    Some(p) => total += p,
                    None => return,
                }
            }
            *best = best.min(total);
            return;
        }
        let groups = labels.iter().max().map_or(0, |m| m + 1);
        for g in 0..=groups {
            labels.push(g);
            go(i + 1, n, labels, best, price);
            labels.pop();
        }
    }
    let mut best = f64::INFINITY;
    go(0, pods.len(), &mut Vec::new(), &mut best, &node_price);
    best
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn the_bound_is_at_most_the_cheapest_plan(
        pods in prop::collection::vec(pod_strategy(), 1..7),
        types in prop::collection::vec(type_strategy(), 1..4),
        daemon in any::<bool>(),
    ) {
        let problem = problem(&pods, &types, daemon);
        let engine = CostEngine::from_problem(&problem, &SolverConfig::default());
        let costed = engine.plan(&Round::of(&problem), &CostConfig::default(), None);
        prop_assert!(costed.plan.unschedulable.is_empty(), "{:?}", costed.plan.unschedulable);
        let optimum = cheapest(&pods, &problem, daemon);
        let bound = costed.bound.as_ref().expect("a bound").value;
        prop_assert!(bound <= optimum + 1e-9, "bound {bound} above the cheapest plan {optimum}");
        prop_assert!(optimum <= costed.cost + 1e-9, "the engine's plan {} is below the brute-force optimum {optimum}", costed.cost);
        prop_assert!(costed.cost <= costed.first_fit_cost + 1e-9);
    }
}

#[test]
fn a_stopped_search_still_gives_a_valid_bound() {
    let pods: Vec<TinyPod> = (0..6)
        .map(|i| TinyPod {
            cpu_milli: [250, 1500, 3000][i % 3],
            memory_mi: [256, 3072][i % 2],
            host_port: false,
            anti: false,
        })
        .collect();
    let types = [
        TinyType { cpu: 2, memory_gi: 4, pods: 110, price_cents: 10 },
        TinyType { cpu: 4, memory_gi: 16, pods: 110, price_cents: 25 },
    ];
    let problem = problem(&pods, &types, false);
    let engine = CostEngine::from_problem(&problem, &SolverConfig::default());
    let optimum = cheapest(&pods, &problem, false);
    // One master LP: Farley's bound from the first duals, no better than where the full search ends.
    let config = CostConfig { max_iterations: 1, ..CostConfig::default() };
    let early = engine
        .lower_bound(&Round::of(&problem), &engine.prepared().solve(&Round::of(&problem)), &config, &|| false)
        .unwrap();
    let full = engine
        .lower_bound(
            &Round::of(&problem),
            &engine.prepared().solve(&Round::of(&problem)),
            &CostConfig::default(),
            &|| false,
        )
        .unwrap();
    assert!(early.value <= full.value + 1e-9, "{early:?} {full:?}");
    assert!(full.value <= optimum + 1e-9, "{full:?} against {optimum}");
    assert!(early.value > 0.0, "{early:?}");
}
