//! NodeOverlays, case by case, after upstream's `pkg/controllers/nodeoverlay/suite_test.go` and `store_test.go`: a
//! price overlay changes which type is cheapest, a capacity overlay gives types an extended resource, heavier
//! overlays win, equal weights setting the same thing conflict, invalid overlays are left out.

use expect_test::{Expect, expect};
use karpenter_fixture as fixture;
use karpenter_solver::Prepared;
use karpenter_solver::Round;

fn check(text: &str, expected: Expect) {
    let (problem, config) = fixture::parse(text);
    let prepared = Prepared::from_problem(&problem, &config);
    let plan = prepared.solve(&Round::of(&problem));
    let mut out = plan.render();
    for status in prepared.overlay_statuses() {
        out.push_str(&format!(
            "overlay {}: {}\n",
            status.name,
            serde_json::to_string(&status.state).unwrap()
        ));
    }
    expected.assert_eq(&out);
    assert_eq!(plan, karpenter_solver::solve(&problem, &config), "solve applies the problem's overlays too");
}

const TYPES: &str = "
pool default
type small cpu=2 memory=4Gi pods=10 price=0.1 zones=a,b ct=on-demand,spot
type medium cpu=4 memory=8Gi pods=20 price=0.2 zones=a,b ct=on-demand,spot
";

fn with_types(text: &str) -> String {
    format!("{TYPES}\n{text}")
}

#[test]
fn a_price_overlay_changes_which_type_is_cheapest() {
    check(
        &with_types(
            "
overlay cheap-medium price=0.05
  req node.kubernetes.io/instance-type In medium
pod web cpu=1
",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web
              options: medium($0.05) small($0.1)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand,spot
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
            overlay cheap-medium: {"state":"applied"}
        "#]],
    );
}

#[test]
fn a_percentage_adjustment_applies_to_the_offerings_it_selects() {
    check(
        &with_types(
            "
overlay spot-discount adjust=-60%
  req karpenter.sh/capacity-type In spot
  req node.kubernetes.io/instance-type In medium
pod web cpu=1
",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web
              options: medium($0.08) small($0.1)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand,spot
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
            overlay spot-discount: {"state":"applied"}
        "#]],
    );
}

#[test]
fn a_capacity_overlay_gives_types_an_extended_resource() {
    check(
        &with_types(
            "
overlay fuse weight=5
  req node.kubernetes.io/instance-type In medium
  cap example.com/fuse=2
pod mounter cpu=1
  request example.com/fuse=1
",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: mounter
              options: medium($0.2)
              requests: cpu=1 example.com/fuse=1 pods=1
              require karpenter.sh/capacity-type In on-demand,spot
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
            overlay fuse: {"state":"applied"}
        "#]],
    );
}

#[test]
fn the_heavier_overlay_wins_and_equal_weights_conflict() {
    check(
        &with_types(
            "
overlay heavy weight=20 price=0.01
  req node.kubernetes.io/instance-type In medium
overlay light weight=10 price=0.5
  req node.kubernetes.io/instance-type In medium
overlay b-same weight=10 price=0.3
  req node.kubernetes.io/instance-type In small
overlay a-same weight=10 price=0.02
  req node.kubernetes.io/instance-type In small
pod web cpu=1
",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web
              options: medium($0.01) small($0.3)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand,spot
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
            overlay heavy: {"state":"applied"}
            overlay light: {"state":"applied"}
            overlay b-same: {"state":"applied"}
            overlay a-same: {"state":"conflict"}
        "#]],
    );
}

#[test]
fn invalid_overlays_are_left_out_with_the_reason() {
    check(
        &with_types(
            "
overlay more-cpu
  cap cpu=64
overlay bad-price price=cheap
overlay bad-adjust adjust=10%
pod web cpu=1
",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web
              options: small($0.1) medium($0.2)
              requests: cpu=1 pods=1
              require karpenter.sh/capacity-type In on-demand,spot
              require karpenter.sh/nodepool In default
              label karpenter.sh/nodepool=default
            overlay more-cpu: {"state":"invalid","field":"spec.capacity.cpu","message":"a well-known resource cannot be overlaid"}
            overlay bad-price: {"state":"invalid","field":"spec.price","message":"\"cheap\" is not a non-negative decimal"}
            overlay bad-adjust: {"state":"invalid","field":"spec.priceAdjustment","message":"\"10%\" is not a signed amount (+0.5, -1) or signed percentage (+10%, -15%)"}
        "#]],
    );
}

#[test]
fn an_overlay_sees_the_pool_labels_of_each_pool() {
    check(
        "
pool team-a weight=10
  label example.com/team=a
pool team-b
  label example.com/team=b
type small cpu=2 memory=4Gi pods=10 price=0.1 zones=a ct=on-demand
overlay team-b-price price=0.01
  req example.com/team In b
pod web cpu=1
  select example.com/team=a
pod ml cpu=1
  select example.com/team=b
",
        expect![[r#"
            nodeclaim 0 pool=team-b: ml
              options: small($0.01)
              requests: cpu=1 pods=1
              require example.com/team In b
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In team-b
              label example.com/team=b
              label karpenter.sh/nodepool=team-b
            nodeclaim 1 pool=team-a: web
              options: small($0.1)
              requests: cpu=1 pods=1
              require example.com/team In a
              require karpenter.sh/capacity-type In on-demand
              require karpenter.sh/nodepool In team-a
              label example.com/team=a
              label karpenter.sh/nodepool=team-a
            overlay team-b-price: {"state":"applied"}
        "#]],
    );
}
