//! Emptiness, budgets and expiration, case by case, after upstream's `emptiness_test.go`,
//! `pkg/apis/v1/nodepool_budgets_test.go` and `nodeclaim/expiration/suite_test.go`. Each case is a view and the
//! rendered decision it must produce.

use karpenter_fixture::disruption as fixture;

use expect_test::{Expect, expect};
use karpenter_disruption::{Options, decide};

fn check(text: &str, expected: Expect) {
    let view = fixture::parse(text);
    let decision = decide(&view, &Options { explain_all: true, ..Options::default() });
    expected.assert_eq(&decision.render());
}

const TYPES: &str = "
now 100000
type small cpu=2 memory=4Gi pods=10 price=1 zones=a,b ct=on-demand,spot spot-price=0.5
type medium cpu=4 memory=8Gi pods=20 price=2 zones=a,b ct=on-demand,spot spot-price=1
type large cpu=8 memory=16Gi pods=40 price=4 zones=a,b ct=on-demand,spot spot-price=2
";

fn with_types(text: &str) -> String {
    format!("{TYPES}\n{text}")
}

#[test]
fn an_empty_node_of_a_when_empty_pool_is_deleted() {
    check(
        &with_types(
            "
pool default policy=WhenEmpty after=30s
  budget nodes=100%
node idle pool=default type=medium init=10
node busy pool=default type=medium init=10
  pod web cpu=1
",
        ),
        expect![[r#"
            emptiness Empty delete: [idle] savings=$2
            keep busy: consolidation policy WhenEmpty and the node is not empty
        "#]],
    );
}

#[test]
fn daemonset_and_mirror_pods_do_not_make_a_node_busy() {
    check(
        &with_types(
            "
pool default
  budget nodes=100%
node idle pool=default type=small
  pod agent cpu=100m daemon
  pod static cpu=100m mirror
  pod done cpu=1 phase=Succeeded
",
        ),
        expect![[r#"
            emptiness Empty delete: [idle] savings=$1
        "#]],
    );
}

#[test]
fn pods_whose_eviction_costs_nothing_leave_a_node_empty() {
    // The reschedule cost counts only positive eviction costs; a pod with a very low deletion cost adds none.
    check(
        &with_types(
            "
pool default
  budget nodes=100%
node cheap pool=default type=small
  pod batch cpu=1
  pod-annotate controller.kubernetes.io/pod-deletion-cost=-2147483647
",
        ),
        expect![[r#"
            emptiness Empty delete: [cheap] savings=$1
        "#]],
    );
}

#[test]
fn consolidate_after_must_pass_since_the_last_pod_event() {
    check(
        &with_types(
            "
pool default after=1h
  budget nodes=100%
node recent pool=default type=small init=10 lastpod=99000
node settled pool=default type=small init=10 lastpod=96400
node fresh pool=default type=small init=97000
",
        ),
        expect![[r#"
            emptiness Empty delete: [settled] savings=$1
            keep fresh: emptiness: consolidateAfter not elapsed (until 100600)
            keep recent: emptiness: consolidateAfter not elapsed (until 102600)
        "#]],
    );
}

#[test]
fn consolidate_after_never_disables_emptiness_and_consolidation() {
    check(
        &with_types(
            "
pool default after=Never
  budget nodes=100%
node idle pool=default type=small
node busy pool=default type=large
  pod web cpu=1
",
        ),
        expect![[r#"
            keep busy: consolidateAfter is Never
            keep idle: consolidateAfter is Never
        "#]],
    );
}

#[test]
fn a_budget_count_limits_how_many_empty_nodes_go_at_once() {
    // The most expensive per unit of disruption go first.
    check(
        &with_types(
            "
pool default
  budget nodes=2
node a pool=default type=small
node b pool=default type=large
node c pool=default type=medium
",
        ),
        expect![[r#"
            emptiness Empty delete: [b c] savings=$6
            keep a: emptiness: Empty budget allows 0 more disruption(s)
        "#]],
    );
}

#[test]
fn the_default_budget_is_ten_percent_rounded_up() {
    check(
        &with_types(
            "
pool default
node a pool=default type=small
node b pool=default type=small
node c pool=default type=small
node d pool=default type=small
node e pool=default type=small
",
        ),
        expect![[r#"
            emptiness Empty delete: [a] savings=$1
            keep b: emptiness: Empty budget allows 0 more disruption(s)
            keep c: emptiness: Empty budget allows 0 more disruption(s)
            keep d: emptiness: Empty budget allows 0 more disruption(s)
            keep e: emptiness: Empty budget allows 0 more disruption(s)
        "#]],
    );
}

#[test]
fn not_ready_and_deleting_nodes_count_against_the_budget() {
    check(
        &with_types(
            "
pool default
  budget nodes=2
node a pool=default type=small
node b pool=default type=small notready
  pod web cpu=1
node c pool=default type=small deleting
node d pool=default type=small
",
        ),
        expect![[r#"
            keep a: emptiness: Empty budget allows 0 more disruption(s)
            keep b: Underutilized budget allows 0 more disruption(s)
            keep c: node is deleting or marked for deletion
            keep d: emptiness: Empty budget allows 0 more disruption(s)
        "#]],
    );
}

#[test]
fn budgets_apply_per_reason_and_the_most_restrictive_active_one_wins() {
    check(
        &with_types(
            "
pool default
  budget nodes=100%
  budget nodes=0 reasons=Empty
  budget nodes=1 reasons=Drifted,Underutilized
node idle pool=default type=small
",
        ),
        expect![[r#"
            keep idle: emptiness: Empty budget allows 0 more disruption(s)
        "#]],
    );
}

#[test]
fn a_scheduled_budget_blocks_only_inside_its_window() {
    // now = 2026-01-05T09:30:00Z, a Monday; the budget blocks from 09:00 UTC for one hour on weekdays.
    let window = "
pool default expire=Never
  budget nodes=100%
  budget nodes=0 schedule=0_9_*_*_1-5 duration=1h
node idle pool=default type=small
";
    check(
        &format!("{}\nnow 1767605400\n{window}", TYPES.replace("now 100000", "")),
        expect![[r#"
            keep idle: emptiness: Empty budget allows 0 more disruption(s)
        "#]],
    );
    check(
        &format!("{}\nnow 1767609000\n{window}", TYPES.replace("now 100000", "")),
        expect![[r#"
            emptiness Empty delete: [idle] savings=$1
        "#]],
    );
}

#[test]
fn an_unreadable_schedule_fails_closed() {
    check(
        &with_types(
            "
pool default
  budget nodes=100%
  budget nodes=5 schedule=0_9_L_*_* duration=1h reasons=Drifted
node idle pool=default type=small
",
        ),
        expect![[r#"
            keep idle: emptiness: Empty budget allows 0 more disruption(s)
        "#]],
    );
}

#[test]
fn no_budgets_means_no_limit() {
    check(
        &with_types(
            "
pool default
  budgets none
node a pool=default type=small
node b pool=default type=small
",
        ),
        expect![[r#"
            emptiness Empty delete: [a b] savings=$2
        "#]],
    );
}

#[test]
fn static_node_pools_are_never_emptied() {
    check(
        &with_types(
            "
pool fixed replicas=2
  budget nodes=100%
node a pool=fixed type=small
",
        ),
        expect![[r#"
            keep a: static NodePool
        "#]],
    );
}

#[test]
fn candidate_filters_apply_to_empty_nodes_too() {
    check(
        &with_types(
            "
pool default
  budget nodes=100%
node nominated pool=default type=small nominated
node initializing pool=default type=small uninitialized
node launching pool=default type=small unregistered
node annotated pool=default type=small
  annotate karpenter.sh/do-not-disrupt=true
node protected pool=default type=small
  pod agent cpu=100m daemon
  pod-annotate karpenter.sh/do-not-disrupt=true
node foreign type=small unmanaged
node orphan pool=gone type=small
",
        ),
        expect![[r#"
            keep annotated: disruption is blocked by karpenter.sh/do-not-disrupt on the node
            keep foreign: not managed by Karpenter
            keep initializing: node isn't initialized
            keep launching: node isn't registered
            keep nominated: node is nominated for a pending pod
            keep orphan: NodePool gone not found
            keep protected: pod default/agent blocks eviction: karpenter.sh/do-not-disrupt=true
        "#]],
    );
}

#[test]
fn expired_node_claims_are_deleted_outside_budgets() {
    check(
        &with_types(
            "
pool default expire=24h
  budget nodes=0
node old pool=default type=small created=10000
  pod web cpu=1
node young pool=default type=small created=90000
node custom pool=default type=small created=0 expire=Never
",
        ),
        expect![[r#"
            expire old (expired at 96400)
            keep custom: emptiness: Empty budget allows 0 more disruption(s)
            keep young: emptiness: Empty budget allows 0 more disruption(s)
        "#]],
    );
}
