//! Invariants of every decision, over random clusters: a command never raises the hourly cost, never exceeds a
//! budget, never evicts a pod that do-not-disrupt or a PDB protects, the pods of removed nodes all fit where the
//! command puts them, and the answer does not depend on the order of the input.

use karpenter_fixture::disruption as fixture;

use std::collections::BTreeMap;

use karpenter_disruption::view::ClusterView;
use karpenter_disruption::{Action, MultiNodeSearch, Options, Reason, decide};
use karpenter_solver::quantity::Quantity;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct NodeSpec {
    size: usize,
    spot: bool,
    zone: bool,
    drifted: bool,
    recent: bool,
    notready: bool,
    pods: Vec<PodSpec>,
}

#[derive(Debug, Clone)]
struct PodSpec {
    cpu_millis: u32,
    pinned: bool,
    app: Option<usize>,
}

#[derive(Debug, Clone)]
struct Spec {
    policy: usize,
    budget_percent: u32,
    spot_to_spot: bool,
    pdb_allowed: [i32; 2],
    nodes: Vec<NodeSpec>,
    pending: Vec<u32>,
}

const SIZES: [(&str, u32); 3] = [("small", 2000), ("medium", 4000), ("large", 8000)];

fn pod_spec() -> impl Strategy<Value = PodSpec> {
    (
        prop::sample::select(vec![100u32, 250, 500, 1000, 1500]),
        prop::bool::weighted(0.1),
        prop::option::weighted(0.3, 0..2usize),
    )
        .prop_map(|(cpu_millis, pinned, app)| PodSpec { cpu_millis, pinned, app })
}

fn node_spec() -> impl Strategy<Value = NodeSpec> {
    (
        0..3usize,
        prop::bool::weighted(0.3),
        any::<bool>(),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.1),
        prop::collection::vec(pod_spec(), 0..4),
    )
        .prop_map(|(size, spot, zone, drifted, recent, notready, pods)| {
            // Keep each node's pods within its size.
            let mut used = 0;
            let pods = pods
                .into_iter()
                .filter(|p| {
                    used += p.cpu_millis;
                    used <= SIZES[size].1 - 100
                })
                .collect();
            NodeSpec { size, spot, zone, drifted, recent, notready, pods }
        })
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..3usize,
        prop::sample::select(vec![10u32, 34, 50, 100]),
        any::<bool>(),
        (0..2i32, 0..2i32),
        prop::collection::vec(node_spec(), 1..7),
        prop::collection::vec(prop::sample::select(vec![100u32, 500, 3000]), 0..2),
    )
        .prop_map(|(policy, budget_percent, spot_to_spot, (a, b), nodes, pending)| Spec {
            policy,
            budget_percent,
            spot_to_spot,
            pdb_allowed: [a, b],
            nodes,
            pending,
        })
}

fn render(spec: &Spec) -> String {
    let policy = ["WhenEmpty", "WhenEmptyOrUnderutilized", "Balanced"][spec.policy];
    let mut text = String::from("now 100000\n");
    if spec.spot_to_spot {
        text.push_str("gates spot-to-spot\n");
    }
    text.push_str(&format!(
        "pool default policy={policy} after=30m\n  budget nodes={}%\n",
        spec.budget_percent
    ));
    for (name, millis) in SIZES {
        let price = f64::from(millis) / 2000.0;
        text.push_str(&format!(
            "type {name} cpu={}m memory=16Gi pods=20 price={price} zones=a,b ct=on-demand,spot spot-price={}\n",
            millis,
            price / 2.0
        ));
    }
    for (i, allowed) in spec.pdb_allowed.iter().enumerate() {
        text.push_str(&format!("pdb default/app{i} sel=app=app{i} allowed={allowed}\n"));
    }
    for (i, cpu) in spec.pending.iter().enumerate() {
        text.push_str(&format!("pending waiting{i} cpu={cpu}m\n"));
    }
    for (i, node) in spec.nodes.iter().enumerate() {
        text.push_str(&format!(
            "node n{i} pool=default type={} ct={} zone={} lastpod={}{}{}\n",
            SIZES[node.size].0,
            if node.spot { "spot" } else { "on-demand" },
            if node.zone { "a" } else { "b" },
            if node.recent { 99_900 } else { 10_000 },
            if node.drifted { " drifted=NodePoolDrifted@500" } else { "" },
            if node.notready { " notready" } else { "" },
        ));
        for (j, pod) in node.pods.iter().enumerate() {
            text.push_str(&format!("  pod p{i}-{j} cpu={}m\n", pod.cpu_millis));
            if pod.pinned {
                text.push_str("  pod-annotate karpenter.sh/do-not-disrupt=true\n");
            }
            if let Some(app) = pod.app {
                text.push_str(&format!("  pod-label app=app{app}\n"));
            }
        }
    }
    text
}

fn cpu(list: &BTreeMap<String, String>) -> i64 {
    list.get("cpu").map_or(0, |q| Quantity::parse(q).ok().and_then(|v| v.to_milli()).unwrap_or(0))
}

fn check_invariants(spec: &Spec, view: &ClusterView, search: MultiNodeSearch) -> Result<(), TestCaseError> {
    let decision =
        decide(view, &Options { explain_all: true, multi_node_search: search, ..Options::default() });
    let by_name: BTreeMap<&str, usize> =
        view.nodes.iter().enumerate().map(|(i, n)| (n.name.as_str(), i)).collect();
    for command in &decision.commands {
        // Cost: consolidation saves strictly; emptiness saves what it deletes.
        match command.reason {
            Reason::Underutilized => prop_assert!(command.savings_per_hour > 0.0, "{command}"),
            Reason::Empty => prop_assert!(command.savings_per_hour >= 0.0, "{command}"),
            _ => {}
        }
        for replacement in &command.replacements {
            if command.reason == Reason::Underutilized {
                let cheapest = replacement.instance_type_options[0].price;
                prop_assert!(cheapest < command.source_price(), "{command}: {cheapest}");
            }
        }
        // Budgets: an independent count, one percentage budget, ready nodes only disrupting when deleting.
        let total = view.nodes.len() as i64;
        let busy = spec.nodes.iter().filter(|n| n.notready).count() as i64;
        let allowed = ((i64::from(spec.budget_percent) * total + 99) / 100 - busy).max(0);
        let allowed = if command.reason == Reason::Unhealthy { allowed + busy } else { allowed };
        prop_assert!(command.candidates.len() as i64 <= allowed, "{command} with {allowed} allowed");
        // Protection: graceful commands evict no pinned pod and no pod of an exhausted PDB.
        for candidate in &command.candidates {
            let node = &view.nodes[by_name[candidate.node.as_str()]];
            for pod in &node.pods {
                let pinned = pod.annotations.contains_key("karpenter.sh/do-not-disrupt");
                let app =
                    pod.pod.labels.get("app").map(|a| a.trim_start_matches("app").parse::<usize>().unwrap());
                let blocked_pdb = app.is_some_and(|a| spec.pdb_allowed[a] == 0);
                prop_assert!(!pinned && !blocked_pdb, "{command} evicts {}", pod.pod.name);
            }
        }
        // Fit: every moved pod is placed, and no destination is overcommitted.
        let mut placed: BTreeMap<String, &str> = BTreeMap::new();
        for destination in &command.destinations {
            for pod in &destination.pods {
                placed.insert(pod.name.clone(), destination.node.as_str());
            }
        }
        for replacement in &command.replacements {
            for pod in &replacement.pods {
                placed.insert(pod.name.clone(), "replacement");
            }
        }
        for candidate in &command.candidates {
            for pod in &candidate.pods {
                prop_assert!(placed.contains_key(&pod.name), "{command}: {} not placed", pod.name);
            }
        }
        if command.action == Action::Delete {
            prop_assert!(command.replacements.is_empty());
        }
        let mut added: BTreeMap<&str, i64> = BTreeMap::new();
        let pod_cpu: BTreeMap<String, i64> = view
            .nodes
            .iter()
            .flat_map(|n| n.pods.iter())
            .map(|p| (p.pod.name.clone(), cpu(&p.pod.containers[0].requests)))
            .chain(view.pending_pods.iter().map(|p| (p.name.clone(), cpu(&p.containers[0].requests))))
            .collect();
        for (pod, node) in &placed {
            if *node != "replacement" {
                *added.entry(node).or_default() += pod_cpu[pod];
            }
        }
        for (node, extra) in added {
            let node = &view.nodes[by_name[node]];
            let used: i64 = node.pods.iter().map(|p| cpu(&p.pod.containers[0].requests)).sum();
            prop_assert!(used + extra <= cpu(&node.allocatable), "{command} overcommits {}", node.name);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn decisions_keep_their_promises(spec in spec()) {
        let view = fixture::parse(&render(&spec));
        check_invariants(&spec, &view, MultiNodeSearch::Prefix)?;
        check_invariants(&spec, &view, MultiNodeSearch::GREEDY)?;
    }

    #[test]
    fn the_greedy_search_saves_at_least_what_the_prefix_search_saves(spec in spec()) {
        let view = fixture::parse(&render(&spec));
        let prefix = decide(&view, &Options::default());
        let greedy = decide(&view, &Options { multi_node_search: MultiNodeSearch::GREEDY, ..Options::default() });
        let multi = |d: &karpenter_disruption::Decision| -> f64 {
            d.commands
                .iter()
                .filter(|c| c.method == karpenter_disruption::Method::MultiNodeConsolidation)
                .map(|c| c.savings_per_hour)
                .sum()
        };
        prop_assert!(multi(&greedy) >= multi(&prefix), "greedy {} < prefix {}", greedy.render(), prefix.render());
    }

    #[test]
    fn decisions_do_not_depend_on_input_order(spec in spec(), seed in any::<u64>()) {
        let view = fixture::parse(&render(&spec));
        let mut shuffled = view.clone();
        let mut state = seed | 1;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for i in (1..shuffled.nodes.len()).rev() {
            let j = next(i + 1);
            shuffled.nodes.swap(i, j);
        }
        for node in &mut shuffled.nodes {
            node.pods.reverse();
        }
        shuffled.instance_types.reverse();
        shuffled.pod_disruption_budgets.reverse();
        let options = Options { explain_all: true, ..Options::default() };
        prop_assert_eq!(decide(&view, &options).render(), decide(&shuffled, &options).render());
        let greedy = Options { multi_node_search: MultiNodeSearch::GREEDY, ..options.clone() };
        prop_assert_eq!(decide(&view, &greedy).render(), decide(&shuffled, &greedy).render());
        // Parallel evaluation gives the same answer.
        let parallel = Options { explain_all: true, parallel: true, ..Options::default() };
        prop_assert_eq!(decide(&view, &options).render(), decide(&view, &parallel).render());
    }
}

/// The properties above are only as good as the clusters they see: most random clusters must lead to commands of
/// several kinds.
#[test]
fn random_clusters_exercise_every_kind_of_command() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..200 {
        let spec = spec().new_tree(&mut runner).unwrap().current();
        let view = fixture::parse(&render(&spec));
        for command in decide(&view, &Options::default()).commands {
            *kinds.entry(format!("{} {}", command.method, command.action)).or_default() += 1;
        }
    }
    let total: usize = kinds.values().sum();
    assert!(total >= 100, "{kinds:?}");
    for kind in [
        "emptiness delete",
        "drift replace",
        "single-node consolidation replace",
        "multi-node consolidation delete",
    ] {
        assert!(kinds.contains_key(kind), "no {kind} in {kinds:?}");
    }
}
