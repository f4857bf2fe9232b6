//! The prepared form answers exactly as a fresh solve does: whatever rounds came before, however the instance types
//! are shared between NodePools, and whatever new resources or labels a round brings.

use std::collections::BTreeMap;
use std::sync::Arc;

use expect_test::expect;
use karpenter_fixture as fixture;
use karpenter_solver::model::{InstanceType, Problem};
use karpenter_solver::{Plan, Prepared, Round, solve};
use proptest::prelude::*;

use super::properties::{problem_strategy, topology_problem_strategy};

/// The problem with its pods cut to those `keep` selects, as a second round over the same NodePools.
fn with_pods(problem: &Problem, keep: impl Fn(usize) -> bool) -> Problem {
    let pods = problem.pods.iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, p)| p.clone()).collect();
    Problem { pods, ..problem.clone() }
}

/// Every NodePool gets its own list of the shared instance types: the same `Arc`s, or deep copies.
fn per_pool(problem: &Problem, deep: bool) -> Problem {
    let lists: BTreeMap<String, Vec<Arc<InstanceType>>> = problem
        .node_pools
        .iter()
        .map(|pool| {
            let list = problem
                .instance_types
                .iter()
                .map(|it| if deep { Arc::new((**it).clone()) } else { Arc::clone(it) })
                .collect();
            (pool.name.clone(), list)
        })
        .collect();
    Problem { instance_types: Vec::new(), pool_instance_types: lists, ..problem.clone() }
}

fn rounds_match(problem: &Problem) -> Result<(), TestCaseError> {
    let config = karpenter_solver::SolverConfig::default();
    let prepared = Prepared::from_problem(problem, &config);
    let odd = with_pods(problem, |i| i % 2 == 1);
    let plans: Vec<Plan> = [problem, &odd, problem].iter().map(|p| prepared.solve(&Round::of(p))).collect();
    prop_assert_eq!(&plans[0], &solve(problem, &config), "first round");
    prop_assert_eq!(&plans[1], &solve(&odd, &config), "a second round with other pods");
    prop_assert_eq!(&plans[2], &plans[0], "the first round again");
    for deep in [false, true] {
        let shared = per_pool(problem, deep);
        prop_assert_eq!(&solve(&shared, &config), &plans[0], "per-pool lists (deep copies: {})", deep);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_prepared_problem_solves_every_round_as_a_fresh_solve(problem in problem_strategy()) {
        rounds_match(&problem)?;
    }

    #[test]
    fn prepared_topology_rounds_match_fresh_solves((problem, _rules) in topology_problem_strategy()) {
        rounds_match(&problem)?;
    }
}

#[test]
fn a_round_may_bring_resources_and_labels_the_prepared_pools_never_named() {
    let (problem, config) = fixture::parse(
        "
pool default
type small cpu=2 memory=4Gi pods=10 price=0.1 zones=a
node gpu-node pool=default cpu=8 memory=32Gi pods=110 example.com/fpga=1
  label example.com/accelerator=fpga
pod fpga-job cpu=1
  request example.com/fpga=1
  select example.com/accelerator=fpga
pod web cpu=1
  request example.com/other=1
",
    );
    let prepared = Prepared::from_problem(&problem, &config);
    let plan = prepared.solve(&Round::of(&problem));
    assert_eq!(plan, solve(&problem, &config));
    expect![[r#"
        existing gpu-node: fpga-job
        unschedulable default/web: nodepool default [resources]: no instance type has enough resources, requirements=karpenter.sh/initialized In [true], karpenter.sh/nodepool In [default], karpenter.sh/registered In [true], resources=cpu=1 pods=1 example.com/other=1
    "#]]
    .assert_eq(&plan.render());
}

#[test]
fn stats_count_the_work_and_time_phases_only_with_a_clock() {
    let (problem, config) = fixture::parse(
        "
pool default
type small cpu=2 memory=4Gi pods=10 price=0.1 zones=a,b
type large cpu=8 memory=16Gi pods=40 price=0.4 zones=a,b
node n1 pool=default cpu=2 memory=4Gi pods=10
pod web x4 cpu=1
",
    );
    let prepared = Prepared::from_problem(&problem, &config);
    let plan = prepared.solve(&Round::of(&problem));
    // Two pods fill the node, the third opens a claim, the fourth tries the full node, then the claim.
    assert_eq!(plan.stats.pods, 4);
    assert_eq!(plan.stats.nodes, 1);
    assert_eq!(plan.stats.claims, 1);
    assert_eq!(plan.stats.options, 2);
    assert_eq!(plan.stats.attempts, 4);
    assert_eq!((plan.stats.nodes_tried, plan.stats.claims_tried), (4, 1));
    assert_eq!(plan.stats.phases, None, "no clock, no timings");

    let ticks = std::sync::atomic::AtomicU64::new(0);
    let clock = || std::time::Duration::from_millis(ticks.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
    let timed = prepared.solve(&Round { clock: Some(&clock), ..Round::of(&problem) });
    let phases = timed.stats.phases.expect("a clock times every phase");
    assert_eq!(
        phases.compile + phases.topology + phases.schedule + phases.finalize,
        std::time::Duration::from_millis(4)
    );
    assert_eq!(Plan { stats: plan.stats.clone(), ..timed }, plan, "the clock changes nothing else");
}
