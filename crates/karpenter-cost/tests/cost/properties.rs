//! Improved plans keep every constraint upstream-exact plans keep: the solver's own invariant checks run on both
//! modes over the same generated problems, and an improved plan is never dearer and never leaves a pod pending that
//! the first fit placed.

use std::collections::BTreeSet;

use karpenter_cost::{CostConfig, CostEngine, CostedPlan, Mode};
use karpenter_solver::model::Problem;
use karpenter_solver::{Round, SolverConfig};
use proptest::prelude::*;

use crate::invariants::{
    check_invariants, check_topology, problem_strategy, shuffle, topology_problem_strategy,
};

fn improved(problem: &Problem) -> CostedPlan {
    let engine = CostEngine::from_problem(problem, &SolverConfig::default());
    engine.plan(&Round::of(problem), &CostConfig::default(), None)
}

fn placed(plan: &karpenter_solver::Plan) -> BTreeSet<String> {
    plan.existing_nodes
        .iter()
        .flat_map(|n| &n.pods)
        .chain(plan.new_node_claims.iter().flat_map(|c| &c.pods))
        .map(|p| p.to_string())
        .collect()
}

/// What every improved plan must satisfy beyond the solver's invariants.
fn check_against_first_fit(problem: &Problem, costed: &CostedPlan) -> Result<(), TestCaseError> {
    let first = karpenter_solver::solve(problem, &SolverConfig::default());
    prop_assert_eq!(costed.first_fit_cost, first.new_capacity_price());
    prop_assert!(costed.cost <= costed.first_fit_cost + 1e-9, "dearer than first fit: {costed:?}");
    prop_assert!((costed.cost - costed.plan.new_capacity_price()).abs() < 1e-9);
    let missing: Vec<String> = placed(&first).difference(&placed(&costed.plan)).cloned().collect();
    prop_assert!(missing.is_empty(), "placed by first fit, pending after the improvement: {missing:?}");
    if let Some(bound) = &costed.bound {
        prop_assert!(
            bound.value <= costed.cost + 1e-9,
            "bound {} above the plan's cost {}",
            bound.value,
            costed.cost
        );
    }
    for claim in &costed.plan.new_node_claims {
        prop_assert!(claim.requirements.iter().all(|r| r.key != karpenter_cost::BIN_KEY));
        prop_assert!(!claim.labels.contains_key(karpenter_cost::BIN_KEY));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn improved_plans_fit_and_respect_constraints(problem in problem_strategy()) {
        let costed = improved(&problem);
        check_invariants(&problem, &costed.plan)?;
        check_against_first_fit(&problem, &costed)?;
    }

    #[test]
    fn improved_plans_break_no_spread_or_affinity((problem, rules) in topology_problem_strategy()) {
        let costed = improved(&problem);
        check_invariants(&problem, &costed.plan)?;
        check_topology(&problem, &rules, &costed.plan)?;
        check_against_first_fit(&problem, &costed)?;
    }

    #[test]
    fn improved_plans_do_not_depend_on_input_order((problem, _rules) in topology_problem_strategy(), seed in any::<u64>()) {
        let mut shuffled = problem.clone();
        shuffle(&mut shuffled.pods, seed);
        shuffle(&mut shuffled.instance_types, seed.rotate_left(17));
        shuffle(&mut shuffled.nodes, seed.rotate_left(47));
        prop_assert_eq!(improved(&problem), improved(&shuffled));
    }

    #[test]
    fn upstream_exact_plans_are_the_solvers((problem, _rules) in topology_problem_strategy()) {
        let engine = CostEngine::from_problem(&problem, &SolverConfig::default());
        let config = CostConfig { mode: Mode::UpstreamExact, bound: true, ..CostConfig::default() };
        let costed = engine.plan(&Round::of(&problem), &config, None);
        prop_assert_eq!(&costed.plan, &karpenter_solver::solve(&problem, &SolverConfig::default()));
        check_against_first_fit(&problem, &costed)?;
    }
}
