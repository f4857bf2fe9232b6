//! The modes and the budget: upstream-exact plans are the solver's plans, improved plans do not depend on anything
//! but the input, and a spent budget returns the best plan so far with a bound that still holds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use karpenter_cost::{CostConfig, CostEngine, Mode, Phase};
use karpenter_solver::model::*;
use karpenter_solver::{Round, SolverConfig};

/// One large and one small type, priced per CPU alike; pods of 1.5 CPU. First fit opens one claim and keeps adding
/// pods while the large type holds them, so it pays for the large type's empty remainder.
fn one_huge_node(pods: usize) -> Problem {
    let it = |name: &str, cpu: i64, price: f64| {
        Arc::new(InstanceType {
            name: name.into(),
            requirements: vec![NodeSelectorRequirement::new(
                "node.kubernetes.io/instance-type",
                "In",
                &[name],
            )],
            capacity: BTreeMap::from([
                ("cpu".to_string(), cpu.to_string()),
                ("memory".to_string(), format!("{}Gi", cpu * 4)),
                ("pods".to_string(), "110".to_string()),
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
    };
    Problem {
        pods: (0..pods)
            .map(|i| Pod {
                name: format!("web-{i}"),
                containers: vec![Container {
                    requests: BTreeMap::from([("cpu".to_string(), "1500m".to_string())]),
                    ..Container::default()
                }],
                ..Pod::default()
            })
            .collect(),
        node_pools: vec![NodePool { name: "default".into(), ..NodePool::default() }],
        instance_types: vec![it("large", 64, 3.2), it("small", 2, 0.1)],
        ..Problem::default()
    }
}

#[test]
fn the_improvement_splits_one_huge_node_into_small_ones() {
    let problem = one_huge_node(5);
    let engine = CostEngine::from_problem(&problem, &SolverConfig::default());
    let costed = engine.plan(&Round::of(&problem), &CostConfig::default(), None);
    assert_eq!(costed.first_fit_cost, 3.2);
    assert_eq!(costed.phase, Phase::Improved);
    assert!((costed.cost - 0.5).abs() < 1e-9, "{costed:?}");
    let bound = costed.bound.clone().unwrap();
    assert!(bound.converged);
    assert!((bound.value - 0.5).abs() < 1e-6, "{bound:?}");
    assert_eq!(costed.gap().map(|g| (g * 1e6).round()), Some(0.0));
    // Every NodeClaim keeps every type that fits its pod, cheapest first.
    for claim in &costed.plan.new_node_claims {
        let names: Vec<&str> = claim.instance_type_options.iter().map(|o| &*o.name).collect();
        assert_eq!(names, vec!["small", "large"]);
    }
}

#[test]
fn upstream_exact_without_a_bound_is_the_first_fit_alone() {
    let problem = one_huge_node(5);
    let engine = CostEngine::from_problem(&problem, &SolverConfig::default());
    let config = CostConfig { mode: Mode::UpstreamExact, ..CostConfig::default() };
    let costed = engine.plan(&Round::of(&problem), &config, None);
    assert_eq!(costed.plan, karpenter_solver::solve(&problem, &SolverConfig::default()));
    assert_eq!((costed.phase, costed.bound.is_none(), costed.cost), (Phase::FirstFit, true, 3.2));
}

#[test]
fn equal_input_gives_equal_plans() {
    let problem = one_huge_node(23);
    let engine = CostEngine::from_problem(&problem, &SolverConfig::default());
    let first = engine.plan(&Round::of(&problem), &CostConfig::default(), None);
    let again = CostEngine::from_problem(&problem, &SolverConfig::default()).plan(
        &Round::of(&problem),
        &CostConfig::default(),
        None,
    );
    assert_eq!(first, again);
}

#[test]
fn a_spent_budget_returns_the_first_fit_with_a_valid_bound() {
    let problem = one_huge_node(5);
    let engine = CostEngine::from_problem(&problem, &SolverConfig::default());
    // A clock that jumps a minute on every reading: the budget is gone after the first fit.
    let now = std::sync::atomic::AtomicU64::new(0);
    let clock = || Duration::from_secs(now.fetch_add(60, std::sync::atomic::Ordering::Relaxed));
    let costed = engine.plan(&Round::of(&problem), &CostConfig::default(), Some(&clock));
    assert!(costed.stopped_early);
    assert_eq!(costed.phase, Phase::FirstFit);
    let bound = costed.bound.unwrap();
    assert!(bound.value <= 0.5 + 1e-9 && bound.value > 0.0, "{bound:?}");
}

#[test]
fn an_empty_batch_costs_nothing() {
    let problem = one_huge_node(0);
    let engine = CostEngine::from_problem(&problem, &SolverConfig::default());
    let costed = engine.plan(&Round::of(&problem), &CostConfig::default(), None);
    assert_eq!((costed.cost, costed.gap()), (0.0, Some(0.0)));
}
