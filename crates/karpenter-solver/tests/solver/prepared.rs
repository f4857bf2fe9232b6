//! The prepared form answers exactly as a fresh solve does: whatever rounds came before, however the instance types
//! are shared between NodePools, and whatever new resources or labels a round brings; and a what-if round answers
//! every question about removing nodes as a fresh solve of the cluster without them does.

use std::collections::BTreeMap;
use std::sync::Arc;

use expect_test::expect;
use karpenter_fixture as fixture;
use karpenter_solver::model::{ExistingNode, InstanceType, Pod, Problem, Taint, Toleration};
use karpenter_solver::{Moving, Plan, Prepared, Protection, Question, Round, WhatIf, solve};
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

/// The cluster a plan leaves behind: the problem's nodes with the pods placed on them, and one node per new
/// NodeClaim, of its cheapest option in the zone of its cheapest offering, holding its pods.
fn settle(problem: &Problem, plan: &Plan) -> Vec<ExistingNode> {
    let pods: BTreeMap<&str, &Pod> = problem.pods.iter().map(|p| (p.name.as_str(), p)).collect();
    let bound = |refs: &[karpenter_solver::plan::PodRef]| -> Vec<Pod> {
        refs.iter().map(|r| (*pods[r.name.as_str()]).clone()).collect()
    };
    let mut nodes = problem.nodes.clone();
    for placement in &plan.existing_nodes {
        let node = nodes.iter_mut().find(|n| n.name == placement.node).expect("placed on a known node");
        node.pods.extend(bound(&placement.pods));
    }
    for (i, claim) in plan.new_node_claims.iter().enumerate() {
        let option = &claim.instance_type_options[0];
        let it = problem
            .instance_types
            .iter()
            .chain(problem.pool_instance_types.values().flatten())
            .find(|t| t.name.as_str() == &*option.name)
            .expect("an option is a known type");
        let offering = it
            .offerings
            .iter()
            .filter(|o| o.available)
            .min_by(|a, b| a.price.total_cmp(&b.price).then_with(|| a.zone.cmp(&b.zone)))
            .expect("an option has an offering");
        let mut labels: BTreeMap<String, String> = it
            .requirements
            .iter()
            .filter(|r| r.operator == "In" && r.values.len() == 1)
            .map(|r| (r.key.clone(), r.values[0].clone()))
            .collect();
        labels.extend(claim.labels.clone());
        labels.insert("topology.kubernetes.io/zone".into(), offering.zone.clone());
        labels.insert("karpenter.sh/capacity-type".into(), offering.capacity_type.clone());
        nodes.push(ExistingNode {
            name: format!("claim-{i}"),
            labels,
            taints: claim.taints.clone(),
            capacity: it.capacity.clone(),
            allocatable: karpenter_solver::allocatable(it).unwrap(),
            pods: bound(&claim.pods),
            ..ExistingNode::default()
        });
    }
    nodes
}

/// The taint and toleration a fresh solve uses to say what `Protection` says.
fn protected_taint() -> Taint {
    Taint { key: "test/protected".into(), value: String::new(), effect: "NoSchedule".into() }
}

/// Asks the what-if round and a fresh solve the same question: `removed` gone, their pods moving (avoiding
/// `protected` nodes), plus the pending pods.
fn same_answer(
    what_if: &WhatIf,
    nodes: &[ExistingNode],
    pending: &[Pod],
    removed: &[usize],
    protected: &[usize],
) -> Result<(), TestCaseError> {
    let mut moving: Vec<(Moving, Protection)> =
        (0..pending.len()).map(|i| (Moving::Pending(i), Protection::Anywhere)).collect();
    for &node in removed {
        for pod in 0..nodes[node].pods.len() {
            moving.push((Moving::Bound { node, pod }, Protection::AvoidsProtected));
        }
    }
    let answer = what_if.solve(&Question { removed, pods: &moving, protected });

    let toleration = Toleration {
        key: "test/protected".into(),
        operator: Some("Exists".into()),
        value: String::new(),
        effect: Some("NoSchedule".into()),
    };
    let mut fresh_nodes = nodes.to_vec();
    for &n in removed {
        fresh_nodes[n].marked_for_deletion = true;
    }
    for &n in protected {
        fresh_nodes[n].taints.push(protected_taint());
    }
    let mut fresh_pods: Vec<Pod> = pending
        .iter()
        .cloned()
        .map(|mut p| {
            p.tolerations.push(toleration.clone());
            p
        })
        .collect();
    for &n in removed {
        fresh_pods.extend(nodes[n].pods.iter().cloned());
    }
    let fresh =
        what_if.prepared().solve(&Round { pods: &fresh_pods, nodes: &fresh_nodes, ..Round::default() });
    prop_assert_eq!(
        Plan { stats: Default::default(), ..answer },
        Plan { stats: Default::default(), ..fresh },
        "removed {:?}, protected {:?}",
        removed,
        protected
    );
    Ok(())
}

fn what_if_matches_fresh_solves(problem: &Problem) -> Result<(), TestCaseError> {
    let config = karpenter_solver::SolverConfig::default();
    let prepared = Prepared::from_problem(problem, &config);
    let plan = prepared.solve(&Round::of(problem));
    let nodes = settle(problem, &plan);
    // A few pods still pending in the new round.
    let pending: Vec<Pod> =
        problem.pods.iter().take(3).map(|p| Pod { name: format!("late-{}", p.name), ..p.clone() }).collect();
    let what_if = WhatIf::new(prepared, &Round { pods: &pending, nodes: &nodes, ..Round::default() });
    for n in 0..nodes.len() {
        same_answer(&what_if, &nodes, &pending, &[n], &[])?;
    }
    if nodes.len() >= 3 {
        same_answer(&what_if, &nodes, &pending, &[0, nodes.len() - 1], &[1])?;
        same_answer(&what_if, &nodes, &pending, &[1], &[0, 2])?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn what_if_questions_answer_as_fresh_solves_do(problem in problem_strategy()) {
        what_if_matches_fresh_solves(&problem)?;
    }

    #[test]
    fn what_if_topology_questions_answer_as_fresh_solves_do((problem, _rules) in topology_problem_strategy()) {
        what_if_matches_fresh_solves(&problem)?;
    }
}
