//! Drift, static drift, repair and validation, case by case, after upstream's `drift_test.go`,
//! `staticdrift_test.go`, `repair_test.go` and `validation_test.go`.

use karpenter_fixture::disruption as fixture;

use expect_test::{Expect, expect};
use karpenter_disruption::{Options, decide, validate};

fn check(text: &str, expected: Expect) {
    let view = fixture::parse(text);
    let decision = decide(&view, &Options { explain_all: true, ..Options::default() });
    expected.assert_eq(&decision.render());
}

const TYPES: &str = "
now 100000
type small cpu=2 memory=4Gi pods=10 price=1 zones=a,b
type medium cpu=4 memory=8Gi pods=20 price=2 zones=a,b
type large cpu=8 memory=16Gi pods=40 price=4 zones=a,b
pool default
  budget nodes=100%
";

fn with_types(text: &str) -> String {
    format!("{TYPES}\n{text}")
}

#[test]
fn drift_replaces_the_oldest_drifted_node_empty_ones_first() {
    check(
        &with_types(
            "
node old pool=default type=medium drifted=NodePoolDrifted@100
  pod web cpu=3
node older pool=default type=medium drifted=RequirementsDrifted@50
  pod api cpu=3
node empty pool=default type=medium drifted=NodePoolDrifted@900
",
        ),
        expect![[r#"
            emptiness Empty delete: [empty] savings=$2
            keep old: not evaluated: emptiness issued a command first
            keep older: not evaluated: emptiness issued a command first
        "#]],
    );
}

#[test]
fn drift_without_empty_candidates_takes_the_oldest_and_launches_what_the_pods_need() {
    check(
        &with_types(
            "
node old pool=default type=medium drifted=NodePoolDrifted@100
  pod web cpu=3
node older pool=default type=medium drifted=RequirementsDrifted@50
  pod api cpu=3
",
        ),
        expect![[r#"
            drift Drifted replace: [older] savings=$0
              replacement pool=default capacity-type=on-demand: medium($2) large($4)
            keep old: drift: not evaluated: an earlier candidate was chosen this pass | single-node consolidation: can't replace with a cheaper node
        "#]],
    );
}

#[test]
fn drift_respects_the_drifted_budget_and_pod_blockers_unless_the_claim_has_a_grace_period() {
    check(
        &with_types(
            "
node pinned pool=default type=medium drifted=NodePoolDrifted@100
  pod web cpu=1
  pod-annotate karpenter.sh/do-not-disrupt=true
node bounded pool=default type=medium drifted=NodePoolDrifted@200 tgp=1h
  pod api cpu=1
  pod-annotate karpenter.sh/do-not-disrupt=true
",
        ),
        expect![[r#"
            drift Drifted delete: [bounded] savings=$2
            keep pinned: pod default/web blocks eviction: karpenter.sh/do-not-disrupt=true
        "#]],
    );
    check(
        &with_types(
            "
node bounded pool=default type=medium drifted=NodePoolDrifted@200 tgp=1h
  pod api cpu=1
",
        )
        .replace("budget nodes=100%", "budget nodes=100%\n  budget nodes=0 reasons=Drifted"),
        expect![[r#"
            single-node consolidation Underutilized replace: [bounded] savings=$1
              replacement pool=default capacity-type=on-demand: small($1)
        "#]],
    );
}

#[test]
fn static_drift_stages_a_template_replacement_within_the_node_limit() {
    check(
        &with_types(
            "
pool fixed replicas=2
  budget nodes=100%
  limits nodes=3
node s1 pool=fixed type=small drifted=NodePoolDrifted@10
node s2 pool=fixed type=small drifted=NodePoolDrifted@20
",
        ),
        expect![[r#"
            static drift Drifted replace: [s1] savings=$1
              replacement pool=fixed capacity-type=any: (instance types chosen at launch)
            keep s2: static NodePool | static drift: static NodePool is at its node limit and cannot stage a replacement
        "#]],
    );
}

const REPAIR: &str = "
gates node-repair
repair Ready=False toleration=30m
repair Ready=Unknown toleration=30m reason=.*
repair Storage=True toleration=10m tgp=5m priority=50 reason=Disk.*
repair Kernel=True toleration=0s action=RebootNode reason=Deadlock
";

#[test]
fn repair_replaces_a_node_not_ready_past_its_toleration() {
    check(
        &with_types(&format!(
            "{REPAIR}
node sick pool=default type=medium
  condition Ready=False since=97000
  pod web cpu=1
node waiting pool=default type=medium
  condition Ready=False since=99000
node fine1 pool=default type=medium
node fine2 pool=default type=medium
node fine3 pool=default type=medium
node fine4 pool=default type=large
  pod big cpu=7
"
        )),
        expect![[r#"
            repair Unhealthy delete: [sick] savings=$2
            keep fine1: not evaluated: repair issued a command first
            keep fine2: not evaluated: repair issued a command first
            keep fine3: not evaluated: repair issued a command first
            keep fine4: not evaluated: repair issued a command first | single-node consolidation: can't replace with a cheaper node
            keep waiting: repair: unhealthy, repair toleration not elapsed (until 100800)
        "#]],
    );
}

#[test]
fn repair_orders_by_priority_rank_and_bounds_the_drain() {
    // `notready` became eligible 20 minutes ago (score 0 + 0.67), `disk` 6m40s ago under a policy ranked higher
    // (score 1 + 0.22): the disk goes first, its blocked pod allowed by the policy's 5-minute drain bound.
    check(
        &with_types(&format!(
            "{REPAIR}
node notready pool=default type=medium
  condition Ready=False since=97000
node disk pool=default type=medium
  condition Storage=True reason=DiskPressure since=99000
  pod web cpu=1
  pod-annotate karpenter.sh/do-not-disrupt=true
node f1 pool=default type=medium
node f2 pool=default type=medium
node f3 pool=default type=medium
node f4 pool=default type=medium
node f5 pool=default type=medium
node f6 pool=default type=medium
node f7 pool=default type=medium
node f8 pool=default type=medium
"
        )),
        expect![[r#"
            repair Unhealthy delete: [disk] savings=$2
              terminationGracePeriod=5m0s
            keep f1: not evaluated: repair issued a command first
            keep f2: not evaluated: repair issued a command first
            keep f3: not evaluated: repair issued a command first
            keep f4: not evaluated: repair issued a command first
            keep f5: not evaluated: repair issued a command first
            keep f6: not evaluated: repair issued a command first
            keep f7: not evaluated: repair issued a command first
            keep f8: not evaluated: repair issued a command first
            keep notready: repair: not evaluated: an earlier candidate was chosen this pass
        "#]],
    );
}

#[test]
fn repair_is_vetoed_by_do_not_repair_blocked_pods_and_the_unhealthy_cut_off() {
    check(
        &with_types(&format!(
            "{REPAIR}
node vetoed pool=default type=medium
  condition Ready=False since=1000
  annotate karpenter.sh/do-not-repair=true
node stuck pool=default type=medium
  condition Ready=False since=1000
  pod web cpu=1
  pod-annotate karpenter.sh/do-not-disrupt=true
node f1 pool=default type=medium
node f2 pool=default type=medium
node f3 pool=default type=medium
node f4 pool=default type=medium
node f5 pool=default type=medium
node f6 pool=default type=medium
"
        )),
        expect![[r#"
            emptiness Empty delete: [f1 f2 f3 f4 f5 f6] savings=$12
            keep stuck: pod default/web blocks eviction: karpenter.sh/do-not-disrupt=true | repair: repair requires a termination grace period to bypass blocking pods
            keep vetoed: repair: repair is blocked by karpenter.sh/do-not-repair | emptiness: Empty budget allows 0 more disruption(s)
        "#]],
    );
    // Two of five nodes unhealthy is more than 20% (one node, rounded up): repair waits.
    check(
        &with_types(&format!(
            "{REPAIR}
node s1 pool=default type=medium
  condition Ready=False since=1000
node s2 pool=default type=medium
  condition Ready=Unknown since=1000
node f1 pool=default type=medium
node f2 pool=default type=medium
node f3 pool=default type=medium
"
        )),
        expect![[r#"
            emptiness Empty delete: [f1 f2 f3] savings=$6
            keep s1: repair: more than 20% of the NodePool's nodes are unhealthy | emptiness: Empty budget allows 0 more disruption(s)
            keep s2: repair: more than 20% of the NodePool's nodes are unhealthy | emptiness: Empty budget allows 0 more disruption(s)
        "#]],
    );
}

#[test]
fn repair_reboots_and_escalates_after_two_recent_reboots() {
    check(
        &with_types(&format!(
            "{REPAIR}
node k1 pool=default type=medium
  condition Kernel=True reason=Deadlock since=99000
node f1 pool=default type=medium
node f2 pool=default type=medium
node f3 pool=default type=medium
node f4 pool=default type=medium
"
        )),
        expect![[r#"
            repair Unhealthy reboot: [k1] savings=$0
            keep f1: not evaluated: repair issued a command first
            keep f2: not evaluated: repair issued a command first
            keep f3: not evaluated: repair issued a command first
            keep f4: not evaluated: repair issued a command first
        "#]],
    );
    check(
        &with_types(&format!(
            "{REPAIR}
node k1 pool=default type=medium reboots=2
  condition Kernel=True reason=Deadlock since=99000
node f1 pool=default type=medium
node f2 pool=default type=medium
node f3 pool=default type=medium
node f4 pool=default type=medium
"
        )),
        expect![[r#"
            repair Unhealthy delete: [k1] savings=$2
              reboot escalated to replacement
            keep f1: not evaluated: repair issued a command first
            keep f2: not evaluated: repair issued a command first
            keep f3: not evaluated: repair issued a command first
            keep f4: not evaluated: repair issued a command first
        "#]],
    );
}

#[test]
fn repair_is_off_without_its_gate() {
    check(
        &with_types(
            "
repair Ready=False toleration=30m
node sick pool=default type=medium
  condition Ready=False since=1000
  pod web cpu=1
node roomy pool=default type=large
  pod other cpu=1
  pod-annotate karpenter.sh/do-not-disrupt=true
",
        ),
        expect![[r#"
            single-node consolidation Underutilized delete: [sick] savings=$2
            keep roomy: pod default/other blocks eviction: karpenter.sh/do-not-disrupt=true
        "#]],
    );
}

#[test]
fn validation_keeps_emptiness_candidates_that_stay_empty() {
    let before = fixture::parse(&with_types(
        "
node a pool=default type=small
node b pool=default type=small
",
    ));
    let decision = decide(&before, &Options::default());
    assert_eq!(decision.commands[0].node_names(), ["a", "b"]);
    let after = fixture::parse(&with_types(
        "
node a pool=default type=small
  pod arrived cpu=1
node b pool=default type=small
",
    ));
    let validated = validate(&decision.commands[0], &after).expect("b is still empty");
    assert_eq!(validated.node_names(), ["b"]);
    let both_busy = fixture::parse(&with_types(
        "
node a pool=default type=small
  pod arrived cpu=1
node b pool=default type=small nominated
",
    ));
    expect!["churn: 2 candidates are no longer valid"]
        .assert_eq(&validate(&decision.commands[0], &both_busy).unwrap_err().to_string());
}

#[test]
fn validation_rejects_a_consolidation_the_cluster_no_longer_supports() {
    let text = "
node a pool=default type=medium
  pod web cpu=1
node pinned pool=default type=large
  pod api cpu=1
  pod-annotate karpenter.sh/do-not-disrupt=true
";
    let before = fixture::parse(&with_types(text));
    let command = decide(&before, &Options::default()).commands.remove(0);
    assert_eq!(command.to_string(), "Underutilized/single-node consolidation: delete: [a] (savings: $2.00)");
    assert_eq!(validate(&command, &before), Ok(command.clone()));
    // The room on `pinned` is gone: the delete would now need a new node.
    let full = fixture::parse(&with_types(&text.replace("pod api cpu=1", "pod api cpu=7500m")));
    expect!["scheduling: scheduling simulation produced new results"]
        .assert_eq(&validate(&command, &full).unwrap_err().to_string());
    // The budget closed in the meantime.
    let closed = fixture::parse(
        &with_types(text)
            .replace("budget nodes=100%", "budget nodes=100%\n  budget nodes=0 reasons=Underutilized"),
    );
    expect!["budget: a candidate can no longer be disrupted without violating budgets"]
        .assert_eq(&validate(&command, &closed).unwrap_err().to_string());
    // A pod with do-not-disrupt arrived on the candidate.
    let churned = fixture::parse(&with_types(&text.replace(
        "  pod web cpu=1\n",
        "  pod web cpu=1\n  pod late cpu=1\n  pod-annotate karpenter.sh/do-not-disrupt=true\n",
    )));
    expect!["churn: 1 candidates are no longer valid"]
        .assert_eq(&validate(&command, &churned).unwrap_err().to_string());
}
