//! Consolidation, case by case, after upstream's `consolidation_test.go`, `singlenodeconsolidation_test.go` and
//! `balanced_test.go`: candidate filters, the delete-or-one-cheaper-replacement rule, the price and spot rules,
//! the multi-node prefix search and the Balanced score.

use karpenter_fixture::disruption as fixture;

use expect_test::{Expect, expect};
use karpenter_disruption::{Options, SearchLimit, decide};

fn check(text: &str, expected: Expect) {
    check_with(text, &Options { explain_all: true, ..Options::default() }, expected);
}

fn check_with(text: &str, options: &Options<'_>, expected: Expect) {
    let view = fixture::parse(text);
    let decision = decide(&view, options);
    expected.assert_eq(&decision.render());
}

const TYPES: &str = "
now 100000
type small cpu=2 memory=4Gi pods=10 price=1 zones=a,b ct=on-demand,spot spot-price=0.5
type medium cpu=4 memory=8Gi pods=20 price=2 zones=a,b ct=on-demand,spot spot-price=1
type large cpu=8 memory=16Gi pods=40 price=4 zones=a,b ct=on-demand,spot spot-price=2
pool default
  budget nodes=100%
";

fn with_types(text: &str) -> String {
    format!("{TYPES}\n{text}")
}

#[test]
fn a_node_whose_pods_fit_elsewhere_is_deleted() {
    // `pinned` is no candidate (a do-not-disrupt pod) but has room for the pod of `a`.
    check(
        &with_types(
            "
node a pool=default type=medium
  pod web cpu=1
node pinned pool=default type=large
  pod api cpu=1
  pod-annotate karpenter.sh/do-not-disrupt=true
",
        ),
        expect![[r#"
            single-node consolidation Underutilized delete: [a] savings=$2
            keep pinned: pod default/api blocks eviction: karpenter.sh/do-not-disrupt=true
        "#]],
    );
}

#[test]
fn two_underutilized_nodes_become_one_cheaper_node() {
    // Multi-node consolidation runs first: both nodes' pods fit one small spot node.
    check(
        &with_types(
            "
node a pool=default type=medium
  pod web cpu=1
node b pool=default type=medium
  pod api cpu=1
",
        ),
        expect![[r#"
            multi-node consolidation Underutilized replace: [a b] savings=$3.5
              replacement pool=default capacity-type=spot: small($0.5) medium($1)
        "#]],
    );
}

#[test]
fn an_oversized_on_demand_node_is_replaced_by_a_cheaper_spot_node() {
    // The replacement could be spot or on-demand, so it is priced and pinned as spot.
    check(
        &with_types(
            "
node big pool=default type=large
  pod web cpu=1
",
        ),
        expect![[r#"
            single-node consolidation Underutilized replace: [big] savings=$3.5
              replacement pool=default capacity-type=spot: small($0.5) medium($1) large($2)
        "#]],
    );
}

#[test]
fn a_replacement_must_be_strictly_cheaper() {
    check(
        &with_types(
            "
node snug pool=default type=small ct=spot
  pod web cpu=1500m
",
        ),
        expect![[r#"
            keep snug: single-node consolidation: SpotToSpotConsolidation is disabled, can't replace a spot node with a spot node
        "#]],
    );
    check(
        &with_types(
            "
node snug pool=default type=small
  pod web cpu=1500m
",
        )
        .replace(
            "type small cpu=2 memory=4Gi pods=10 price=1 zones=a,b ct=on-demand,spot spot-price=0.5",
            "type small cpu=2 memory=4Gi pods=10 price=1 zones=a,b",
        ),
        expect![[r#"
            keep snug: single-node consolidation: can't replace with a cheaper node
        "#]],
    );
}

#[test]
fn pods_that_would_not_fit_are_named() {
    check(
        &with_types(
            "
node a pool=default type=large
  pod huge cpu=7
node b pool=default type=large
  pod other cpu=7
",
        )
        .replace(
            "pool default\n  budget nodes=100%",
            "pool default\n  budget nodes=100%\n  req node.kubernetes.io/instance-type In small,medium",
        ),
        expect![[r#"
            keep a: single-node consolidation: pods would not fit: default/huge (nodepool default [resources]: no instance type has enough resources, requirements=karpenter.sh/initialized In [true], karpenter.sh/nodepool In [default], karpenter.sh/registered In [true], node.kubernetes.io/instance-type In [medium small], resources=cpu=7 pods=1)
            keep b: single-node consolidation: pods would not fit: default/other (nodepool default [resources]: no instance type has enough resources, requirements=karpenter.sh/initialized In [true], karpenter.sh/nodepool In [default], karpenter.sh/registered In [true], node.kubernetes.io/instance-type In [medium small], resources=cpu=7 pods=1)
        "#]],
    );
}

#[test]
fn removing_a_node_may_not_need_more_than_one_new_node() {
    // The two pods repel each other by hostname, so they need two new nodes.
    check(
        &with_types(
            "
node big pool=default type=large
  pod a cpu=1
  pod-label app=spread
  pod-anti kubernetes.io/hostname sel=app=spread
  pod b cpu=1
  pod-label app=spread
  pod-anti kubernetes.io/hostname sel=app=spread
",
        ),
        expect![[r#"
            keep big: single-node consolidation: can't remove without creating 2 nodes
        "#]],
    );
}

#[test]
fn spot_to_spot_needs_its_gate_and_fifteen_cheaper_types() {
    let mut types = String::from("now 100000\npool default\n  budget nodes=100%\n");
    for i in 1..=20 {
        types.push_str(&format!(
            "type t{i:02} cpu={i} memory={}Gi pods=100 price={i} zones=a ct=spot\n",
            2 * i
        ));
    }
    let cluster = "node big pool=default type=t20 ct=spot\n  pod web cpu=1\n";
    check(
        &format!("{types}{cluster}"),
        expect![[r#"
            keep big: single-node consolidation: SpotToSpotConsolidation is disabled, can't replace a spot node with a spot node
        "#]],
    );
    check(
        &format!("gates spot-to-spot\n{types}{cluster}"),
        expect![[r#"
            single-node consolidation Underutilized replace: [big] savings=$19
              replacement pool=default capacity-type=spot: t01($1) t02($2) t03($3) t04($4) t05($5) and 10 more
        "#]],
    );
    let small = "node mid pool=default type=t12 ct=spot\n  pod web cpu=1\n";
    check(
        &format!("gates spot-to-spot\n{types}{small}"),
        expect![[r#"
            keep mid: single-node consolidation: SpotToSpotConsolidation requires 15 cheaper instance type options than the current candidate, got 11
        "#]],
    );
}

#[test]
fn pod_blockers_keep_a_node() {
    check(
        &with_types(
            "
node pinned pool=default type=medium
  pod web cpu=1
  pod-annotate karpenter.sh/do-not-disrupt=true
node grace pool=default type=medium
  pod api cpu=1 started=99000
  pod-annotate karpenter.sh/do-not-disrupt=2h
node elapsed pool=default type=medium
  pod job cpu=1 started=90000
  pod-annotate karpenter.sh/do-not-disrupt=2h
node guarded pool=default type=medium
  pod db cpu=1
  pod-label app=db
node doubled pool=default type=medium
  pod cache cpu=1
  pod-label app=cache tier=mem
node sick pool=default type=medium
  pod broken cpu=1 unready
  pod-label app=broken
pdb default/db sel=app=db allowed=0
pdb default/cache-a sel=app=cache allowed=1
pdb default/cache-b sel=tier=mem allowed=1
pdb default/broken sel=app=broken allowed=0 always-allow
",
        ),
        expect![[r#"
            multi-node consolidation Underutilized delete: [elapsed sick] savings=$4
            keep doubled: pod default/cache blocks eviction: eviction does not support multiple PDBs (default/cache-a, default/cache-b)
            keep grace: pod default/api blocks eviction: karpenter.sh/do-not-disrupt=2h until 106200
            keep guarded: pod default/db blocks eviction: PodDisruptionBudget default/db allows no disruption
            keep pinned: pod default/web blocks eviction: karpenter.sh/do-not-disrupt=true
        "#]],
    );
}

#[test]
fn when_empty_pools_only_delete_empty_nodes() {
    check(
        &with_types(
            "
node a pool=default type=large
  pod web cpu=1
",
        )
        .replace("pool default\n", "pool default policy=WhenEmpty\n"),
        expect![[r#"
            keep a: consolidation policy WhenEmpty and the node is not empty
        "#]],
    );
}

#[test]
fn candidate_pods_avoid_nodes_within_consolidate_after() {
    // `recent` had a pod event 10 minutes ago: the pods of `a` may not move there, so `a` stays.
    check(
        &with_types(
            "
node a pool=default type=medium lastpod=10000
  pod web cpu=1
node recent pool=default type=medium lastpod=99400
  pod api cpu=1
",
        )
        .replace("pool default\n", "pool default after=30m\n"),
        expect![[r#"
            single-node consolidation Underutilized replace: [a] savings=$1.5
              replacement pool=default capacity-type=spot: small($0.5) medium($1)
            keep recent: consolidateAfter not elapsed (until 101200)
        "#]],
    );
}

#[test]
fn pods_may_not_depend_on_an_uninitialized_node() {
    check(
        &with_types(
            "
node a pool=default type=small ct=spot
  pod web cpu=1
node coming pool=default type=large uninitialized
",
        ),
        expect![[r#"
            keep a: single-node consolidation: pods would schedule against uninitialized node coming
            keep coming: node isn't initialized
        "#]],
    );
}

#[test]
fn the_most_expensive_node_per_unit_of_disruption_goes_first() {
    check(
        &with_types(
            "
node cheap pool=default type=medium
  pod a cpu=1
node pricey pool=default type=large
  pod b cpu=1
node crowded pool=default type=large
  pod c x4 cpu=100m
",
        ),
        expect![[r#"
            multi-node consolidation Underutilized replace: [pricey cheap crowded] savings=$9
              replacement pool=default capacity-type=spot: medium($1)
        "#]],
    );
}

#[test]
fn multi_node_consolidation_merges_several_nodes_into_one() {
    check(
        &with_types(
            "
node a pool=default type=medium zone=a
  pod p1 cpu=1500m
node b pool=default type=medium zone=a
  pod p2 cpu=1500m
node c pool=default type=medium zone=b
  pod p3 cpu=1500m
",
        ),
        expect![[r#"
            multi-node consolidation Underutilized replace: [a b c] savings=$4
              replacement pool=default capacity-type=spot: large($2)
        "#]],
    );
}

#[test]
fn multi_node_never_replaces_with_the_type_it_removes_unless_cheaper() {
    // Removing two larges and a small: a replacement of type small or more would be no better than keeping the
    // small and deleting the larges, so the same-type rule keeps only types cheaper than the small.
    check(
        &with_types(
            "
node l1 pool=default type=large ct=spot
  pod a cpu=100m
node l2 pool=default type=large ct=spot
  pod b cpu=100m
node s1 pool=default type=small ct=spot
  pod c cpu=100m
",
        )
        .replace("now 100000", "now 100000\ngates spot-to-spot"),
        expect![[r#"
            multi-node consolidation Underutilized delete: [l1 l2] savings=$4
            keep s1: not evaluated: multi-node consolidation issued a command first
        "#]],
    );
}

#[test]
fn balanced_pools_reject_moves_that_save_too_little_for_their_disruption() {
    // Pool cost $8 (two larges), pool disruption (1 + 10) + (1 + 1) = 13. Replacing both with one medium spot
    // node saves $7: (7/8) / (13/13) = 0.875 passes the threshold of 1/2.
    check(
        &with_types(
            "
node busy pool=default type=large
  pod w x10 cpu=100m
node quiet pool=default type=large
  pod q cpu=100m
",
        )
        .replace("pool default\n", "pool default policy=Balanced\n"),
        expect![[r#"
            multi-node consolidation Underutilized replace: [quiet busy] savings=$7
              replacement pool=default capacity-type=spot: medium($1) large($2)
        "#]],
    );
    // Three full large nodes that cannot move make the pool cost $13 and its disruption 6 + 36.8; deleting the
    // small node with nine high-priority pods saves 1/13 of the cost for 86% of the disruption: 0.089 < 0.5.
    check(
        &with_types(
            "
node heavy pool=default type=small
  pod w x9 cpu=10m priority=100000000
node f1 pool=default type=large
  pod a cpu=7
  pod-annotate karpenter.sh/do-not-disrupt=true
node f2 pool=default type=large
  pod b cpu=7
  pod-annotate karpenter.sh/do-not-disrupt=true
node f3 pool=default type=large
  pod c cpu=7
  pod-annotate karpenter.sh/do-not-disrupt=true
",
        )
        .replace("pool default\n", "pool default policy=Balanced\n"),
        expect![[r#"
            keep f1: pod default/a blocks eviction: karpenter.sh/do-not-disrupt=true
            keep f2: pod default/b blocks eviction: karpenter.sh/do-not-disrupt=true
            keep f3: pod default/c blocks eviction: karpenter.sh/do-not-disrupt=true
            keep heavy: single-node consolidation: Balanced score 0.089 below threshold 0.500
        "#]],
    );
}

#[test]
fn an_evaluation_limit_stops_single_node_consolidation_and_remembers_the_pools() {
    let text = with_types(
        "
pool other
  budget nodes=100%
node a pool=default type=small ct=spot
  pod x cpu=1500m
node b pool=default type=small ct=spot
  pod y cpu=1500m
node c pool=other type=small ct=spot
  pod z cpu=1500m
",
    );
    let options = Options {
        single_node: SearchLimit { max_evaluations: Some(1), deadline: None },
        ..Options::default()
    };
    let view = fixture::parse(&text);
    let decision = decide(&view, &options);
    expect![[r#"
        keep a: single-node consolidation: SpotToSpotConsolidation is disabled, can't replace a spot node with a spot node
        keep b: single-node consolidation: not evaluated: the evaluation limit ran out
        keep c: single-node consolidation: not evaluated: the evaluation limit ran out
    "#]]
    .assert_eq(&decision.render());
    assert_eq!(decision.unseen_node_pools, ["other"]);
    // The next pass starts with the pool the last one did not reach.
    let next = Options { unseen_node_pools: decision.unseen_node_pools.clone(), ..options };
    check_with(
        &text,
        &next,
        expect![[r#"
            keep a: single-node consolidation: not evaluated: the evaluation limit ran out
            keep b: single-node consolidation: not evaluated: the evaluation limit ran out
            keep c: single-node consolidation: SpotToSpotConsolidation is disabled, can't replace a spot node with a spot node
        "#]],
    );
}

#[test]
fn the_greedy_search_finds_a_set_the_prefix_search_cannot() {
    // `stuck` goes first by savings ratio, but its pod selects a label only `stuck` has: no prefix containing it
    // can move, so upstream's prefix search finds nothing. The greedy search leaves it out and merges the others.
    let text = with_types(
        "
node stuck pool=default type=large zone=a
  label example.com/special=yes
  pod pinned cpu=1
  pod-select example.com/special=yes
node a pool=default type=medium zone=a
  pod p1 cpu=1
node b pool=default type=medium zone=a
  pod p2 cpu=1
node c pool=default type=medium zone=b
  pod p3 cpu=1
",
    );
    check_with(
        &text,
        &Options::default(),
        expect![[r#"
        single-node consolidation Underutilized delete: [a] savings=$2
        keep b: single-node consolidation: not evaluated: an earlier candidate was chosen this pass
        keep c: single-node consolidation: not evaluated: an earlier candidate was chosen this pass
        keep stuck: single-node consolidation: pods would not fit: default/pinned (nodepool default [requirements]: incompatible requirements, label "example.com/special" does not have known values)
    "#]],
    );
    check_with(
        &text,
        &Options { multi_node_search: karpenter_disruption::MultiNodeSearch::GREEDY, ..Options::default() },
        expect![[r#"
            multi-node consolidation Underutilized delete: [a b c] savings=$6
            keep stuck: not evaluated: multi-node consolidation issued a command first
        "#]],
    );
}
