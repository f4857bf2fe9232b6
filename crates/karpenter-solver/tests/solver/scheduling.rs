//! Scheduling behaviour, case by case, after upstream's scheduling suite
//! (`pkg/controllers/provisioning/scheduling/suite_test.go`, `instance_selection_test.go`). Each case is a fixture
//! and the rendered plan it must produce.

use karpenter_fixture as fixture;

use expect_test::{Expect, expect};
use karpenter_solver::solve;

fn check(text: &str, expected: Expect) {
    let (problem, config) = fixture::parse(text);
    let plan = solve(&problem, &config);
    expected.assert_eq(&plan.render());
}

const TYPES: &str = "
type small cpu=2 memory=4Gi pods=10 price=0.1 zones=a,b
type medium cpu=4 memory=8Gi pods=20 price=0.2 zones=a,b
type large cpu=8 memory=16Gi pods=40 price=0.4 zones=a,b
";

fn with_types(text: &str) -> String {
    format!("{text}\n{TYPES}")
}

// ---- Packing and instance selection ----

#[test]
fn one_pod_gets_every_type_that_fits_cheapest_first() {
    check(
        &with_types("pool default\npod web cpu=1 memory=1Gi"),
        expect![[r#"
            nodeclaim 0 pool=default: web
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1 memory=1Gi pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn pods_pack_first_fit_decreasing_into_flexible_claims() {
    check(
        &with_types(
            "pool default\npod big cpu=6 memory=1Gi\npod mid x2 cpu=1500m memory=1Gi\npod tiny x3 cpu=100m",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: big mid-0 tiny-1
              options: large($0.4)
              requests: cpu=7600m memory=2Gi pods=3
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
            nodeclaim 1 pool=default: mid-1 tiny-0 tiny-2
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1700m memory=1Gi pods=3
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn a_pod_larger_than_every_type_is_reported_with_its_resources() {
    check(
        &with_types("pool default\npod huge cpu=16 memory=1Gi"),
        expect![[r#"
        unschedulable default/huge: nodepool default [resources]: no instance type has enough resources, requirements=karpenter.sh/initialized In [true], karpenter.sh/nodepool In [default], karpenter.sh/registered In [true], resources=cpu=16 memory=1Gi pods=1
    "#]],
    );
}

#[test]
fn cpu_typo_hint_for_absurd_requests() {
    check(
        &with_types("pool default\npod typo cpu=2000000"),
        expect![[r#"
        unschedulable default/typo: nodepool default [resources]: no instance type has enough resources, requirements=karpenter.sh/initialized In [true], karpenter.sh/nodepool In [default], karpenter.sh/registered In [true], resources=cpu=2000000 pods=1 (CPU request >= 1 Million, m vs M typo?)
    "#]],
    );
}

#[test]
fn pod_count_is_a_resource() {
    check(
        "pool default\ntype tiny cpu=8 memory=8Gi pods=2 price=0.1\npod p x5 cpu=100m",
        expect![[r#"
            nodeclaim 0 pool=default: p-0 p-1
              options: tiny($0.1)
              requests: cpu=200m pods=2
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
            nodeclaim 1 pool=default: p-2 p-3
              options: tiny($0.1)
              requests: cpu=200m pods=2
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
            nodeclaim 2 pool=default: p-4
              options: tiny($0.1)
              requests: cpu=100m pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn extended_resources_need_a_type_that_has_them() {
    check(
        "pool default
type cpu-only cpu=8 memory=32Gi pods=50 price=0.3
type gpu cpu=8 memory=32Gi pods=50 price=1.2
  cap nvidia.com/gpu=1
pod trainer cpu=1
  request nvidia.com/gpu=1
pod web cpu=1",
        expect![[r#"
            nodeclaim 0 pool=default: trainer web
              options: gpu($1.2)
              requests: cpu=2 nvidia.com/gpu=1 pods=2
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn overhead_is_subtracted_from_capacity() {
    check(
        "pool default
type exact cpu=2 memory=4Gi pods=10 price=0.1
  overhead cpu=100m memory=10Mi
pod full cpu=2
pod fits cpu=1900m",
        expect![[r#"
            nodeclaim 0 pool=default: fits
              options: exact($0.1)
              requests: cpu=1900m pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
            unschedulable default/full: nodepool default [resources]: no instance type has enough resources, requirements=karpenter.sh/initialized In [true], karpenter.sh/nodepool In [default], karpenter.sh/registered In [true], resources=cpu=2 pods=1
        "#]],
    );
}

#[test]
fn effective_requests_take_init_and_sidecar_containers_into_account() {
    // The init container needs 3 CPU while the 500m sidecar runs (3.5), more than the 1 + 0.5 needed afterwards.
    check(
        &with_types(
            "pool default
pod init-heavy cpu=1
  sidecar cpu=500m
  init cpu=3
pod with-overhead cpu=1
  overhead cpu=250m memory=100Mi",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: init-heavy with-overhead
              options: large($0.4)
              requests: cpu=4750m memory=100Mi pods=2
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn queue_order_is_cpu_then_memory_then_age_then_uid() {
    check(
        &with_types(
            "pool default
pod c-young cpu=1 memory=1Gi created=20
pod b-old cpu=1 memory=1Gi created=10
pod a-more-memory cpu=1 memory=2Gi created=30
pod z-more-cpu cpu=2 memory=1Gi created=40
pod uid-b cpu=500m uid=b
pod uid-a cpu=500m uid=a",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: z-more-cpu a-more-memory b-old c-young uid-a uid-b
              options: large($0.4)
              requests: cpu=6 memory=5Gi pods=6
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn truncates_options_to_the_configured_maximum_by_price() {
    check(
        &with_types("config maxTypes=2\npool default\npod web cpu=1"),
        expect![[r#"
        nodeclaim 0 pool=default: web
          options: small($0.1) medium($0.2)
          requests: cpu=1 pods=1
          require karpenter.sh/capacity-type In on-demand
          require karpenter.sh/nodepool In default
          label karpenter.sh/nodepool=default
    "#]],
    );
}

#[test]
fn price_ties_are_broken_by_name() {
    check(
        "pool default
type b-type cpu=4 memory=8Gi pods=10 price=0.2
type a-type cpu=4 memory=8Gi pods=10 price=0.2
pod web cpu=1",
        expect![[r#"
            nodeclaim 0 pool=default: web
              options: a-type($0.2) b-type($0.2)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
        "#]],
    );
}

// ---- Requirements ----

#[test]
fn node_selector_narrows_types_and_zones() {
    check(
        "pool default
type amd cpu=4 memory=8Gi pods=10 price=0.2 zones=a,b arch=amd64
type arm cpu=4 memory=8Gi pods=10 price=0.15 zones=a,b arch=arm64
pod web cpu=1
  select kubernetes.io/arch=amd64 topology.kubernetes.io/zone=b",
        expect![[r#"
            nodeclaim 0 pool=default: web
              options: amd($0.2)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              require kubernetes.io/arch In amd64
              require topology.kubernetes.io/zone In b
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn deprecated_label_aliases_are_normalised() {
    check(
        "pool default
type amd cpu=4 memory=8Gi pods=10 price=0.2 arch=amd64
type arm cpu=4 memory=8Gi pods=10 price=0.15 arch=arm64
pod web cpu=1
  select beta.kubernetes.io/arch=amd64",
        expect![[r#"
            nodeclaim 0 pool=default: web
              options: amd($0.2)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              require kubernetes.io/arch In amd64
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn unknown_custom_label_is_rejected_with_a_reason() {
    check(
        &with_types("pool default\npod web cpu=1\n  select example.com/team=ml"),
        expect![[r#"
        unschedulable default/web: nodepool default [requirements]: incompatible requirements, label "example.com/team" does not have known values
    "#]],
    );
}

#[test]
fn pool_labels_satisfy_custom_selectors() {
    check(
        &with_types(
            "pool ml\n  label example.com/team=ml\npool web\npod trainer cpu=1\n  select example.com/team=ml",
        ),
        expect![[r#"
            nodeclaim 0 pool=ml: trainer
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1 pods=1
              require example.com/team In ml
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In ml
              label example.com/team=ml
              label karpenter.sh/nodepool=ml
        "#]],
    );
}

#[test]
fn custom_requirement_in_pool_becomes_a_node_label() {
    check(
        &with_types(
            "pool default\n  req example.com/tier In gold,silver\npod web cpu=1\n  require example.com/tier In silver",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1 pods=1
              require example.com/tier In silver
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label example.com/tier=silver
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn exists_on_a_custom_pool_key_resolves_a_label_value() {
    check(
        &with_types(
            "pool default\n  req example.com/shard Exists\npod web cpu=1\n  require example.com/shard NotIn 0,1",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1 pods=1
              require example.com/shard NotIn 0,1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label example.com/shard=2
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn gt_and_lt_bound_integer_labels() {
    check(
        "pool default
  req example.com/generation Gt 3
type gen3 cpu=4 memory=8Gi pods=10 price=0.1
  req example.com/generation In 3
type gen5 cpu=4 memory=8Gi pods=10 price=0.2
  req example.com/generation In 5
type gen9 cpu=4 memory=8Gi pods=10 price=0.3
  req example.com/generation In 9
pod web cpu=1
  require example.com/generation Lt 9",
        expect![[r#"
            nodeclaim 0 pool=default: web
              options: gen5($0.2)
              requests: cpu=1 pods=1
              require example.com/generation Gte 4
              require example.com/generation Lte 8
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn not_in_and_does_not_exist_on_undefined_labels_are_satisfied() {
    check(
        &with_types(
            "pool default
pod not-in cpu=1
  require example.com/team NotIn ml
pod absent cpu=1
  require example.com/team DoesNotExist",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: absent not-in
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=2 pods=2
              require example.com/team DoesNotExist
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn capacity_type_requirement_selects_offerings() {
    check(
        "pool default
type m cpu=4 memory=8Gi pods=10 price=0.2 zones=a,b ct=on-demand
  offering zone=a ct=spot price=0.05
pod spot-only cpu=1
  require karpenter.sh/capacity-type In spot
pod anything cpu=1",
        expect![[r#"
            nodeclaim 0 pool=default: anything spot-only
              options: m($0.05)
              requests: cpu=2 pods=2
              require karpenter.sh/capacity-type In spot
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn unavailable_offerings_are_not_launched() {
    check(
        "pool default
type m cpu=4 memory=8Gi pods=10 price=0.2 zones=a
  offering zone=b ct=on-demand price=0.2 unavailable
pod in-b cpu=1
  select topology.kubernetes.io/zone=b
pod anywhere cpu=1",
        expect![[r#"
            nodeclaim 0 pool=default: anywhere
              options: m($0.2)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
            unschedulable default/in-b: nodepool default [offering]: no instance type has the required offering, requirements=karpenter.sh/initialized In [true], karpenter.sh/nodepool In [default], karpenter.sh/registered In [true], topology.kubernetes.io/zone In [b], resources=cpu=1 pods=1
        "#]],
    );
}

#[test]
fn required_node_affinity_terms_are_tried_in_order() {
    // The first term (zone c) cannot be met; it is dropped and the second term (zone b) is used.
    check(
        &with_types(
            "pool default
pod web cpu=1
  require topology.kubernetes.io/zone In c
  or topology.kubernetes.io/zone In b",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              require topology.kubernetes.io/zone In b
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn preferred_node_affinity_is_respected_then_relaxed() {
    check(
        &with_types(
            "pool default
pod likes-b cpu=1
  prefer 50 topology.kubernetes.io/zone In b
pod likes-c cpu=1
  prefer 50 topology.kubernetes.io/zone In c
  prefer 10 kubernetes.io/arch In amd64",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: likes-b likes-c
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=2 pods=2
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              require kubernetes.io/arch In amd64
              require topology.kubernetes.io/zone In b
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn preferences_are_ignored_under_ignore_policy() {
    check(
        &with_types(
            "config preference=Ignore\npool default\npod likes-b cpu=1\n  prefer 50 topology.kubernetes.io/zone In b",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: likes-b
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
        "#]],
    );
}

// ---- Taints and tolerations ----

#[test]
fn pool_taints_must_be_tolerated() {
    check(
        &with_types(
            "pool gpu weight=10
  taint nvidia.com/gpu=true:NoSchedule
pool general
pod tolerant cpu=1
  tolerate nvidia.com/gpu=true:NoSchedule
pod intolerant cpu=1",
        ),
        expect![[r#"
            nodeclaim 0 pool=general: intolerant tolerant
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=2 pods=2
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In general
              label karpenter.sh/nodepool=general
        "#]],
    );
}

#[test]
fn an_empty_key_exists_toleration_tolerates_everything() {
    check(
        &with_types(
            "pool tainted\n  taint a=b:NoExecute\n  taint c:NoSchedule\npod anything cpu=1\n  tolerate *",
        ),
        expect![[r#"
            nodeclaim 0 pool=tainted: anything
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In tainted
              label karpenter.sh/nodepool=tainted
        "#]],
    );
}

#[test]
fn prefer_no_schedule_is_tolerated_as_the_last_relaxation() {
    check(
        &with_types("pool soft\n  taint example.com/soft=true:PreferNoSchedule\npod web cpu=1"),
        expect![[r#"
            nodeclaim 0 pool=soft: web
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In soft
              label karpenter.sh/nodepool=soft
        "#]],
    );
}

#[test]
fn startup_taints_do_not_need_tolerations() {
    check(
        &with_types("pool default\n  startup-taint example.com/agent-not-ready:NoSchedule\npod web cpu=1"),
        expect![[r#"
            nodeclaim 0 pool=default: web
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
        "#]],
    );
}

// ---- NodePools: weight, limits, minValues ----

#[test]
fn heavier_pools_are_tried_first_and_ties_go_to_the_later_name() {
    check(
        &with_types("pool a weight=5\npool b weight=5\npool light weight=1\npod web cpu=1"),
        expect![[r#"
            nodeclaim 0 pool=b: web
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In b
              label karpenter.sh/nodepool=b
        "#]],
    );
}

#[test]
fn a_pool_that_cannot_take_the_pod_falls_back_to_the_next() {
    check(
        "pool arm weight=50
  req kubernetes.io/arch In arm64
pool amd
type a1 cpu=4 memory=8Gi pods=10 price=0.1 arch=arm64
type m1 cpu=4 memory=8Gi pods=10 price=0.2 arch=amd64
pod arm-ok cpu=1
pod amd-only cpu=1
  select kubernetes.io/arch=amd64",
        expect![[r#"
            nodeclaim 0 pool=amd: amd-only arm-ok
              options: m1($0.2)
              requests: cpu=2 pods=2
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In amd
              require kubernetes.io/arch In amd64
              label karpenter.sh/nodepool=amd
        "#]],
    );
}

#[test]
fn limits_filter_types_and_are_charged_pessimistically() {
    // After the first claim the pool is charged its largest option (8 CPU), leaving 4: only small and medium fit.
    check(
        &with_types("pool default\n  limits cpu=12\npod a cpu=7\npod b cpu=3\npod c cpu=3"),
        expect![[r#"
        nodeclaim 0 pool=default: a
          options: large($0.4)
          requests: cpu=7 pods=1
          require karpenter.sh/capacity-type In on-demand
          require karpenter.sh/nodepool In default
          label karpenter.sh/nodepool=default
        nodeclaim 1 pool=default: b
          options: medium($0.2)
          requests: cpu=3 pods=1
          require karpenter.sh/capacity-type In on-demand
          require karpenter.sh/nodepool In default
          label karpenter.sh/nodepool=default
        unschedulable default/c: nodepool default [limits]: all available instance types exceed limits for nodepool
    "#]],
    );
}

#[test]
fn existing_nodes_count_against_limits() {
    check(
        &with_types(
            "pool default\n  limits cpu=10\nnode n1 pool=default cpu=8 memory=16Gi pods=40\n  pod busy cpu=8\npod web cpu=3",
        ),
        expect![[r#"
            unschedulable default/web: nodepool default [resources,limits]: no instance type has enough resources, requirements=karpenter.sh/initialized In [true], karpenter.sh/nodepool In [default], karpenter.sh/registered In [true], resources=cpu=3 pods=1 (2 of 3 instance types were excluded because they would breach limits)
        "#]],
    );
}

#[test]
fn node_limits_cap_the_number_of_claims() {
    check(
        &with_types("pool default\n  limits nodes=2\npod a x3 cpu=7"),
        expect![[r#"
        nodeclaim 0 pool=default: a-0
          options: large($0.4)
          requests: cpu=7 pods=1
          require karpenter.sh/capacity-type In on-demand
          require karpenter.sh/nodepool In default
          label karpenter.sh/nodepool=default
        nodeclaim 1 pool=default: a-1
          options: large($0.4)
          requests: cpu=7 pods=1
          require karpenter.sh/capacity-type In on-demand
          require karpenter.sh/nodepool In default
          label karpenter.sh/nodepool=default
        unschedulable default/a-2: nodepool default [limits]: node limits have been exhausted for nodepool
    "#]],
    );
}

#[test]
fn min_values_keeps_enough_distinct_types() {
    check(
        &with_types("pool default\n  req node.kubernetes.io/instance-type Exists min=3\npod a cpu=1"),
        expect![[r#"
            nodeclaim 0 pool=default: a
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn min_values_strict_refuses_when_too_few_types_fit() {
    check(
        &with_types("pool default\n  req node.kubernetes.io/instance-type Exists min=3\npod a cpu=5"),
        expect![[r#"
            unschedulable default/a: nodepool default [minValues]: minValues requirement is not met for label(s) node.kubernetes.io/instance-type, requirements=karpenter.sh/initialized In [true], karpenter.sh/nodepool In [default], karpenter.sh/registered In [true], node.kubernetes.io/instance-type Exists minValues 3, resources=cpu=5 pods=1
        "#]],
    );
}

#[test]
fn min_values_best_effort_relaxes_and_marks_the_claim() {
    check(
        &with_types(
            "config minValues=BestEffort\npool default\n  req node.kubernetes.io/instance-type Exists min=3\npod a cpu=5",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: a
              options: large($0.4)
              requests: cpu=5 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
              minValues relaxed
        "#]],
    );
}

#[test]
fn min_values_strict_breaks_after_truncation() {
    check(
        &with_types(
            "config maxTypes=2\npool default\n  req node.kubernetes.io/instance-type Exists min=3\npod a cpu=1",
        ),
        expect![[r#"
            unschedulable default/a: nodepool default [minValues]: the cheapest 2 instance types no longer meet minValues for label(s) node.kubernetes.io/instance-type
        "#]],
    );
}

#[test]
fn a_pool_whose_requirements_match_no_type_is_skipped() {
    check(
        &with_types("pool arm\n  req kubernetes.io/arch In arm64\npod web cpu=1"),
        expect![[r#"
        skipped NodePool/arm: requirements filtered out all instance types
        unschedulable default/web: no NodePool has any instance type left to offer
    "#]],
    );
}

#[test]
fn node_class_ref_becomes_a_label() {
    check(
        &with_types("pool default nodeclass=karpenter.k8s.aws/EC2NodeClass/default\npod web cpu=1"),
        expect![[r#"
            nodeclaim 0 pool=default: web
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1 pods=1
              require karpenter.k8s.aws/ec2nodeclass In default
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.k8s.aws/ec2nodeclass=default
              label karpenter.sh/nodepool=default
        "#]],
    );
}

// ---- Existing nodes ----

#[test]
fn existing_nodes_are_filled_before_new_claims() {
    check(
        &with_types(
            "pool default
node n1 pool=default cpu=4 memory=8Gi pods=20
  pod running cpu=3
pod fits cpu=500m
pod too-big cpu=2",
        ),
        expect![[r#"
            existing n1: fits
            nodeclaim 0 pool=default: too-big
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=2 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn initialized_nodes_are_tried_before_in_flight_ones() {
    check(
        &with_types(
            "pool default
node a-in-flight pool=default cpu=4 memory=8Gi pods=20 uninitialized
node b-ready pool=default cpu=4 memory=8Gi pods=20
pod web cpu=1",
        ),
        expect![[r#"
            existing b-ready: web
        "#]],
    );
}

#[test]
fn existing_nodes_must_have_the_labels_pods_select() {
    check(
        &with_types(
            "pool default
node n1 pool=default cpu=4 memory=8Gi pods=20
  label topology.kubernetes.io/zone=a
pod wants-b cpu=1
  select topology.kubernetes.io/zone=b
pod wants-a cpu=1
  select topology.kubernetes.io/zone=a",
        ),
        expect![[r#"
            existing n1: wants-a
            nodeclaim 0 pool=default: wants-b
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              require topology.kubernetes.io/zone In b
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn node_taints_repel_but_startup_taints_of_uninitialized_nodes_do_not() {
    check(
        &with_types(
            "pool default
node tainted pool=default cpu=4 memory=8Gi pods=20
  taint dedicated=db:NoSchedule
node starting pool=default cpu=4 memory=8Gi pods=20 uninitialized
  taint example.com/agent:NoSchedule
  startup-taint example.com/agent:NoSchedule
  taint node.kubernetes.io/not-ready:NoSchedule
pod web cpu=1",
        ),
        expect![[r#"
            existing starting: web
        "#]],
    );
}

#[test]
fn deleting_nodes_take_no_pods() {
    check(
        &with_types("pool default\nnode old pool=default cpu=4 memory=8Gi pods=20 deleting\npod web cpu=1"),
        expect![[r#"
        nodeclaim 0 pool=default: web
          options: small($0.1) medium($0.2) large($0.4)
          requests: cpu=1 pods=1
          require karpenter.sh/capacity-type In on-demand
          require karpenter.sh/nodepool In default
          label karpenter.sh/nodepool=default
    "#]],
    );
}

// ---- DaemonSets ----

#[test]
fn daemon_overhead_is_reserved_on_new_claims() {
    // small (2 CPU) cannot hold 1.5 CPU of pod plus 1 CPU of daemons.
    check(
        &with_types("pool default\ndaemonset agent cpu=1 memory=100Mi\npod web cpu=1500m"),
        expect![[r#"
        nodeclaim 0 pool=default: web
          options: medium($0.2) large($0.4)
          requests: cpu=2500m memory=100Mi pods=2
          require karpenter.sh/capacity-type In on-demand
          require karpenter.sh/nodepool In default
          label karpenter.sh/nodepool=default
    "#]],
    );
}

#[test]
fn daemons_that_do_not_tolerate_the_pool_add_no_overhead() {
    check(
        &with_types(
            "pool tainted
  taint dedicated=batch:NoSchedule
daemonset agent cpu=1
pod batch cpu=1500m
  tolerate dedicated=batch:NoSchedule",
        ),
        expect![[r#"
            nodeclaim 0 pool=tainted: batch
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1500m pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In tainted
              label karpenter.sh/nodepool=tainted
        "#]],
    );
}

#[test]
fn daemon_overhead_groups_follow_instance_type_requirements() {
    // The agent only runs on arm64, so amd64 types carry no overhead and small-amd still fits 1.5 CPU.
    check(
        "pool default
type small-amd cpu=2 memory=4Gi pods=10 price=0.1 arch=amd64
type small-arm cpu=2 memory=4Gi pods=10 price=0.08 arch=arm64
type big-arm cpu=4 memory=8Gi pods=10 price=0.16 arch=arm64
daemonset arm-agent cpu=1
  select kubernetes.io/arch=arm64
pod web cpu=1500m",
        expect![[r#"
            nodeclaim 0 pool=default: web
              options: small-amd($0.1) big-arm($0.16)
              requests: cpu=1500m pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn daemons_already_running_on_a_node_are_not_counted_twice() {
    check(
        &with_types(
            "pool default
daemonset agent cpu=1
node n1 pool=default cpu=4 memory=8Gi pods=20
  pod agent-n1 cpu=1 daemon
pod web cpu=3",
        ),
        expect![[r#"
            existing n1: web
        "#]],
    );
}

#[test]
fn daemons_not_yet_running_reserve_room_on_existing_nodes() {
    check(
        &with_types(
            "pool default\ndaemonset agent cpu=1\nnode n1 pool=default cpu=4 memory=8Gi pods=20\npod web cpu=3500m",
        ),
        expect![[r#"
        nodeclaim 0 pool=default: web
          options: large($0.4)
          requests: cpu=4500m pods=2
          require karpenter.sh/capacity-type In on-demand
          require karpenter.sh/nodepool In default
          label karpenter.sh/nodepool=default
    "#]],
    );
}

// ---- Bad input ----

#[test]
fn a_bad_pod_is_reported_and_the_others_are_solved() {
    check(
        &with_types(
            "pool default
pod bad-quantity cpu=lots
pod bad-operator cpu=1
  require topology.kubernetes.io/zone Near a
pod bad-gt cpu=1
  require example.com/gen Gt x
pod match-fields cpu=1
  fields metadata.name In n1
pod hostname cpu=1
  select kubernetes.io/hostname=n1
pod opt-out cpu=1
  require karpenter.sh/nodepool DoesNotExist
pod bad-toleration cpu=1
  tolerate key=value:Sometimes
pod good cpu=1",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: good
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
            unschedulable default/bad-gt: invalid spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: key example.com/gen: operators Gt, Lt, Gte and Lte need exactly one integer value
            unschedulable default/bad-operator: invalid spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator: key topology.kubernetes.io/zone: unknown operator "Near", expected one of In, NotIn, Exists, DoesNotExist, Gt, Lt, Gte, Lte
            unschedulable default/bad-quantity: invalid spec.containers[0].resources.requests.cpu: quantity "lots" does not start with a number
            unschedulable default/bad-toleration: invalid spec.tolerations[0]: unknown toleration effect "Sometimes", expected NoSchedule, PreferNoSchedule or NoExecute
            unschedulable default/hostname: invalid spec.nodeSelector[kubernetes.io/hostname]: label kubernetes.io/hostname is restricted: Karpenter cannot provision a node that satisfies it in advance
            unschedulable default/match-fields: invalid spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields: node selector terms with matchFields are not supported
            unschedulable default/opt-out: invalid spec.affinity.nodeAffinity: configured to not run on a Karpenter provisioned node (karpenter.sh/nodepool DoesNotExist)
        "#]],
    );
}

#[test]
fn bad_node_pools_and_types_are_set_aside() {
    check(
        "pool broken
  req kubernetes.io/arch Near amd64
pool limited
  limits cpu=ten
pool heavy weight=1000
pool ok
type good cpu=4 memory=8Gi pods=10 price=0.2
type bad cpu=4x memory=8Gi pods=10 price=0.1
pod web cpu=1",
        expect![[r#"
            skipped InstanceType/bad: capacity.cpu: quantity "4x" has an unknown suffix (expected one of Ki Mi Gi Ti Pi Ei n u m k M G T P E or an exponent)
            skipped NodePool/broken: spec.template.spec.requirements[0].operator: key kubernetes.io/arch: unknown operator "Near", expected one of In, NotIn, Exists, DoesNotExist, Gt, Lt, Gte, Lte
            skipped NodePool/heavy: spec.weight: weight must be between 1 and 100, got 1000
            skipped NodePool/limited: spec.limits.cpu: quantity "ten" does not start with a number
            nodeclaim 0 pool=ok: web
              options: good($0.2)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In ok
              label karpenter.sh/nodepool=ok
        "#]],
    );
}

#[test]
fn a_node_whose_bound_pod_is_malformed_is_set_aside() {
    // The node's error names the bound pod and its field; the pending pod is solved without the node.
    check(
        &with_types(
            "pool default
node n1 pool=default cpu=4 memory=8Gi pods=20
  pod running cpu=100m
  pod-tolerate key=value:Sometimes
pod web cpu=1",
        ),
        expect![[r#"
            skipped Node/n1: pods[default/running].spec.tolerations[0]: unknown toleration effect "Sometimes", expected NoSchedule, PreferNoSchedule or NoExecute
            nodeclaim 0 pool=default: web
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn no_node_pools_at_all() {
    check(
        &with_types("pod web cpu=1"),
        expect![[r#"
        unschedulable default/web: no NodePool has any instance type left to offer
    "#]],
    );
}

// ---- More of upstream's suite ----

#[test]
fn the_last_required_term_is_never_relaxed() {
    check(
        &with_types(
            "pool default
pod impossible cpu=1
  require topology.kubernetes.io/zone In c
  or topology.kubernetes.io/zone In d",
        ),
        expect![[r#"
            unschedulable default/impossible: nodepool default [requirements,offering]: no instance type met the scheduling requirements or had a required offering, requirements=karpenter.sh/initialized In [true], karpenter.sh/nodepool In [default], karpenter.sh/registered In [true], topology.kubernetes.io/zone In [d], resources=cpu=1 pods=1
        "#]],
    );
}

#[test]
fn several_required_terms_are_relaxed_in_turn() {
    check(
        &with_types(
            "pool default
pod third-term cpu=1
  require topology.kubernetes.io/zone In c
  or kubernetes.io/arch In arm64
  or topology.kubernetes.io/zone In a",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: third-term
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              require topology.kubernetes.io/zone In a
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn lighter_preferences_are_kept_when_heavier_ones_fail() {
    check(
        &with_types(
            "pool default
pod web cpu=1
  prefer 100 topology.kubernetes.io/zone In c
  prefer 50 kubernetes.io/arch In arm64
  prefer 1 topology.kubernetes.io/zone In b",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              require topology.kubernetes.io/zone In b
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn a_preference_conflicting_with_a_requirement_is_dropped() {
    check(
        &with_types(
            "pool default
pod web cpu=1
  require topology.kubernetes.io/zone In a
  prefer 10 topology.kubernetes.io/zone In b",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              require topology.kubernetes.io/zone In a
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn gte_and_lte_on_pods() {
    // The provider registers example.com/generation as well-known, as the AWS provider does for its labels.
    check(
        "config wellKnown=example.com/generation
pool default
type gen3 cpu=4 memory=8Gi pods=10 price=0.1
  req example.com/generation In 3
type gen5 cpu=4 memory=8Gi pods=10 price=0.2
  req example.com/generation In 5
pod new cpu=1
  require example.com/generation Gte 4
pod old cpu=1
  require example.com/generation Lte 3",
        expect![[r#"
            nodeclaim 0 pool=default: new
              options: gen5($0.2)
              requests: cpu=1 pods=1
              require example.com/generation Gte 4
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
            nodeclaim 1 pool=default: old
              options: gen3($0.1)
              requests: cpu=1 pods=1
              require example.com/generation Lte 3
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn exists_needs_a_defined_key_and_does_not_exist_forbids_one() {
    check(
        &with_types(
            "pool default
  label example.com/team=ml
pod exists-undefined cpu=1
  require example.com/undefined Exists
pod does-not-exist-defined cpu=1
  require example.com/team DoesNotExist
pod exists-defined cpu=1
  require example.com/team Exists",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: exists-defined
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1 pods=1
              require example.com/team In ml
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label example.com/team=ml
              label karpenter.sh/nodepool=default
            unschedulable default/does-not-exist-defined: nodepool default [requirements]: incompatible requirements, key example.com/team, DoesNotExist not in In [ml]
            unschedulable default/exists-undefined: nodepool default [requirements]: incompatible requirements, label "example.com/undefined" does not have known values
        "#]],
    );
}

#[test]
fn pods_with_conflicting_selectors_go_to_different_claims() {
    check(
        &with_types(
            "pool default
pod in-a x2 cpu=1
  select topology.kubernetes.io/zone=a
pod in-b x2 cpu=1
  select topology.kubernetes.io/zone=b",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: in-a-0 in-a-1
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=2 pods=2
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              require topology.kubernetes.io/zone In a
              label karpenter.sh/nodepool=default
            nodeclaim 1 pool=default: in-b-0 in-b-1
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=2 pods=2
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              require topology.kubernetes.io/zone In b
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn small_and_large_pods_pack_together() {
    check(
        &with_types("pool default\npod large x2 cpu=3500m\npod small x6 cpu=500m"),
        expect![[r#"
        nodeclaim 0 pool=default: large-0 large-1 small-0 small-1
          options: large($0.4)
          requests: cpu=8 pods=4
          require karpenter.sh/capacity-type In on-demand
          require karpenter.sh/nodepool In default
          label karpenter.sh/nodepool=default
        nodeclaim 1 pool=default: small-2 small-3 small-4 small-5
          options: small($0.1) medium($0.2) large($0.4)
          requests: cpu=2 pods=4
          require karpenter.sh/capacity-type In on-demand
          require karpenter.sh/nodepool In default
          label karpenter.sh/nodepool=default
    "#]],
    );
}

#[test]
fn zero_quantity_requests_are_fine() {
    check(
        &with_types("pool default\npod zero cpu=0 memory=0"),
        expect![[r#"
        nodeclaim 0 pool=default: zero
          options: small($0.1) medium($0.2) large($0.4)
          requests: pods=1
          require karpenter.sh/capacity-type In on-demand
          require karpenter.sh/nodepool In default
          label karpenter.sh/nodepool=default
    "#]],
    );
}

#[test]
fn daemons_selecting_karpenter_simulation_labels_count_on_new_nodes() {
    check(
        &with_types(
            "pool default
daemonset after-init cpu=1
  require karpenter.sh/initialized In true
pod web cpu=1500m",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web
              options: medium($0.2) large($0.4)
              requests: cpu=2500m pods=2
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn in_flight_nodes_are_used_before_launching_more() {
    check(
        &with_types(
            "pool default
node in-flight pool=default cpu=4 memory=8Gi pods=20 uninitialized
  label topology.kubernetes.io/zone=a
pod first cpu=2
pod second cpu=1
  select topology.kubernetes.io/zone=a
pod third cpu=2",
        ),
        expect![[r#"
            existing in-flight: first third
            nodeclaim 0 pool=default: second
              options: small($0.1) medium($0.2) large($0.4)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              require topology.kubernetes.io/zone In a
              label karpenter.sh/nodepool=default
        "#]],
    );
}

#[test]
fn a_heavier_pool_at_its_limit_falls_back_to_the_next() {
    check(
        &with_types("pool reserved weight=100\n  limits cpu=4\npool overflow\npod web x3 cpu=3"),
        expect![[r#"
            nodeclaim 0 pool=reserved: web-0
              options: medium($0.2)
              requests: cpu=3 pods=1
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In reserved
              label karpenter.sh/nodepool=reserved
            nodeclaim 1 pool=overflow: web-1 web-2
              options: large($0.4)
              requests: cpu=6 pods=2
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In overflow
              label karpenter.sh/nodepool=overflow
        "#]],
    );
}

#[test]
fn a_provider_reserved_domain_is_selectable_only_through_its_well_known_labels() {
    // As the AWS provider reserves `karpenter.k8s.aws`: `instance-family` is well-known, `secret` is not.
    check(
        "
config restricted=example.com wellKnown=example.com/family
pool default
type small cpu=2 memory=4Gi pods=10 price=0.1 zones=a
  req example.com/family In s
pod fine cpu=1
  select example.com/family=s
pod refused cpu=1
  select example.com/secret=x
pod refused-too cpu=1
  require sub.example.com/secret In x
",
        expect![[r#"
            nodeclaim 0 pool=default: fine
              options: small($0.1)
              requests: cpu=1 pods=1
              require example.com/family In s
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
            unschedulable default/refused: invalid spec.nodeSelector[example.com/secret]: label example.com/secret is restricted: Karpenter cannot provision a node that satisfies it in advance
            unschedulable default/refused-too: invalid spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key: label sub.example.com/secret is restricted: Karpenter cannot provision a node that satisfies it in advance
        "#]],
    );
}
