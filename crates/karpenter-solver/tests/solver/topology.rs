//! Topology spread, pod affinity and anti-affinity, preferences, host ports and volumes, case by case, after
//! upstream's `topology_test.go` and the preference and host-port cases of `suite_test.go`.

use karpenter_fixture as fixture;

use expect_test::{Expect, expect};
use karpenter_solver::solve;

fn check(text: &str, expected: Expect) {
    let (problem, config) = fixture::parse(text);
    let plan = solve(&problem, &config);
    expected.assert_eq(&short(&plan.render()));
}

/// Like [`check`], keeping the launch options.
fn check_options(text: &str, expected: Expect) {
    let (problem, config) = fixture::parse(text);
    let plan = solve(&problem, &config);
    let rendered: String = plan
        .render()
        .lines()
        .filter(|l| {
            l.starts_with("nodeclaim") || l.starts_with("existing") || l.trim_start().starts_with("options:")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    expected.assert_eq(&rendered);
}

/// The plan without the lines every case shares (capacity type, NodePool label), so each case shows what it is about.
fn short(rendered: &str) -> String {
    rendered
        .lines()
        .filter(|l| {
            !l.contains("require karpenter.sh/capacity-type")
                && !l.contains("require karpenter.sh/nodepool")
                && !l.contains("label karpenter.sh/nodepool")
                && !l.trim_start().starts_with("options:")
                && !l.trim_start().starts_with("requests:")
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

const ZONES: &str = "
pool default
type m cpu=8 memory=32Gi pods=50 price=0.4 zones=a,b,c
";

fn with_zones(text: &str) -> String {
    format!("{ZONES}\n{text}")
}

// ---- Topology spread ----

#[test]
fn zonal_spread_fills_domains_evenly() {
    check(
        &with_zones(
            "pod web x6 cpu=1\n  label app=web\n  spread topology.kubernetes.io/zone skew=1 sel=app=web",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web-0 web-3
              require topology.kubernetes.io/zone In a
            nodeclaim 1 pool=default: web-1 web-4
              require topology.kubernetes.io/zone In b
            nodeclaim 2 pool=default: web-2 web-5
              require topology.kubernetes.io/zone In c
        "#]],
    );
}

#[test]
fn hostname_spread_puts_one_pod_per_node() {
    check(
        &with_zones("pod web x3 cpu=1\n  label app=web\n  spread kubernetes.io/hostname skew=1 sel=app=web"),
        expect![[r#"
            nodeclaim 0 pool=default: web-0
            nodeclaim 1 pool=default: web-1
            nodeclaim 2 pool=default: web-2
        "#]],
    );
}

#[test]
fn larger_skew_allows_doubling_up() {
    check(
        &with_zones("pod web x4 cpu=1\n  label app=web\n  spread kubernetes.io/hostname skew=2 sel=app=web"),
        expect![[r#"
            nodeclaim 0 pool=default: web-0 web-1
            nodeclaim 1 pool=default: web-2 web-3
        "#]],
    );
}

#[test]
fn pods_already_running_count_towards_the_spread() {
    check(
        &with_zones(
            "node n1 pool=default cpu=8 memory=32Gi pods=50
  label topology.kubernetes.io/zone=a
  pod running-1 cpu=100m
  pod-label app=web
  pod running-2 cpu=100m
  pod-label app=web
pod web x2 cpu=7
  label app=web
  spread topology.kubernetes.io/zone skew=1 sel=app=web",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web-0
              require topology.kubernetes.io/zone In b
            nodeclaim 1 pool=default: web-1
              require topology.kubernetes.io/zone In c
        "#]],
    );
}

#[test]
fn min_domains_holds_the_global_minimum_at_zero() {
    // Three zones exist but five are wanted: every zone may hold at most maxSkew = 1 pod.
    check(
        &with_zones(
            "pod web x4 cpu=1\n  label app=web\n  spread topology.kubernetes.io/zone skew=1 sel=app=web min=5",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web-0
              require topology.kubernetes.io/zone In a
            nodeclaim 1 pool=default: web-1
              require topology.kubernetes.io/zone In b
            nodeclaim 2 pool=default: web-2
              require topology.kubernetes.io/zone In c
            unschedulable default/web-3: nodepool default [topology]: unsatisfiable topology spread constraint on topology.kubernetes.io/zone (counts: a=1, b=1, c=1; pod allows Exists; node allows Exists)
        "#]],
    );
}

#[test]
fn spread_counts_only_domains_the_pod_may_use() {
    // The pod may only use zone a, so the global minimum is zone a's own count: the zone spread never blocks it.
    check(
        &with_zones(
            "pod web x3 cpu=1
  label app=web
  select topology.kubernetes.io/zone=a
  spread kubernetes.io/hostname skew=1 sel=app=web
  spread topology.kubernetes.io/zone skew=1 sel=app=web",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web-0
              require topology.kubernetes.io/zone In a
            nodeclaim 1 pool=default: web-1
              require topology.kubernetes.io/zone In a
            nodeclaim 2 pool=default: web-2
              require topology.kubernetes.io/zone In a
        "#]],
    );
}

#[test]
fn schedule_anyway_is_relaxed_when_it_cannot_be_met() {
    // As in the minDomains case, a fourth pod breaks the spread; ScheduleAnyway lets it go anyway.
    check(
        &with_zones(
            "pod web x4 cpu=1\n  label app=web\n  spread topology.kubernetes.io/zone skew=1 sel=app=web min=5 anyway",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web-0 web-3
              require topology.kubernetes.io/zone In a
            nodeclaim 1 pool=default: web-1
              require topology.kubernetes.io/zone In b
            nodeclaim 2 pool=default: web-2
              require topology.kubernetes.io/zone In c
        "#]],
    );
}

#[test]
fn schedule_anyway_is_ignored_under_the_ignore_policy() {
    check(
        &with_zones(
            "config preference=Ignore
pod web x3 cpu=1
  label app=web
  spread topology.kubernetes.io/zone skew=1 sel=app=web anyway",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web-0 web-1 web-2
        "#]],
    );
}

#[test]
fn match_label_keys_narrow_the_selector_to_the_pods_own_value() {
    // Two versions spread independently: each version takes zones a, b, c in turn.
    check(
        &with_zones(
            "pod v1 x2 cpu=1
  label app=web version=1
  spread topology.kubernetes.io/zone skew=1 sel=app=web keys=version
pod v2 x2 cpu=1
  label app=web version=2
  spread topology.kubernetes.io/zone skew=1 sel=app=web keys=version",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: v1-0 v2-0
              require topology.kubernetes.io/zone In a
            nodeclaim 1 pool=default: v1-1 v2-1
              require topology.kubernetes.io/zone In b
        "#]],
    );
}

#[test]
fn node_taints_policy_honor_leaves_out_domains_the_pod_cannot_use() {
    // Zone c is only offered by a tainted pool: under Honor it is not a domain for the pod, so the spread over a
    // and b is satisfiable; under the default Ignore it would be counted empty and block a third pod.
    check(
        "pool open
  req topology.kubernetes.io/zone In a,b
pool tainted
  req topology.kubernetes.io/zone In c
  taint dedicated=x:NoSchedule
type m cpu=8 memory=32Gi pods=50 price=0.4 zones=a,b,c
pod honor x3 cpu=1
  label app=honor
  spread topology.kubernetes.io/zone skew=1 sel=app=honor taints=Honor
pod ignore x3 cpu=1
  label app=ignore
  spread topology.kubernetes.io/zone skew=1 sel=app=ignore",
        expect![[r#"
            nodeclaim 0 pool=open: honor-0 honor-2 ignore-1
              require topology.kubernetes.io/zone In a
            nodeclaim 1 pool=open: honor-1 ignore-0
              require topology.kubernetes.io/zone In b
            unschedulable default/ignore-2: nodepool tainted [taints]: did not tolerate taint dedicated=x:NoSchedule; nodepool open [topology]: unsatisfiable topology spread constraint on topology.kubernetes.io/zone (counts: a=1, b=1, c=0; pod allows Exists; node allows In [a b])
        "#]],
    );
}

#[test]
fn node_affinity_policy_decides_which_running_pods_count() {
    // Two pods run in zone a on a node without tier=gold, which both pending pods require. Under Honor (the
    // default) that node does not count and zone a looks empty; under Ignore zone a counts 2.
    check(
        &with_zones(
            "pool gold weight=10
  label tier=gold
node n1 pool=default cpu=8 memory=32Gi pods=50
  label topology.kubernetes.io/zone=a
  pod running-1 cpu=100m
  pod-label app=web
  pod running-2 cpu=100m
  pod-label app=web
pod honor cpu=7
  select tier=gold
  spread topology.kubernetes.io/zone skew=1 sel=app=web
pod ignore cpu=7
  select tier=gold
  spread topology.kubernetes.io/zone skew=1 sel=app=web affinity=Ignore",
        ),
        expect![[r#"
            nodeclaim 0 pool=gold: honor
              require tier In gold
              require topology.kubernetes.io/zone In a
              label tier=gold
            nodeclaim 1 pool=gold: ignore
              require tier In gold
              require topology.kubernetes.io/zone In b
              label tier=gold
        "#]],
    );
}

// ---- Pod affinity ----

#[test]
fn affinity_follows_a_running_pod() {
    check(
        &with_zones(
            "node db-node pool=default cpu=8 memory=32Gi pods=50
  label topology.kubernetes.io/zone=b
  pod db cpu=8
  pod-label app=db
pod web x2 cpu=1
  affinity topology.kubernetes.io/zone sel=app=db",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web-0 web-1
              require topology.kubernetes.io/zone In b
        "#]],
    );
}

#[test]
fn affinity_to_nothing_is_unschedulable() {
    check(
        &with_zones("pod web cpu=1\n  affinity topology.kubernetes.io/zone sel=app=db"),
        expect![[r#"
        unschedulable default/web: nodepool default [topology]: unsatisfiable pod affinity constraint on topology.kubernetes.io/zone (counts: a=0, b=0, c=0; pod allows Exists; node allows Exists)
    "#]],
    );
}

#[test]
fn self_affinity_bootstraps_one_domain() {
    check(
        &with_zones(
            "pod web x3 cpu=5
  label app=web
  affinity topology.kubernetes.io/zone sel=app=web",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web-0
              require topology.kubernetes.io/zone In a
            nodeclaim 1 pool=default: web-1
              require topology.kubernetes.io/zone In a
            nodeclaim 2 pool=default: web-2
              require topology.kubernetes.io/zone In a
        "#]],
    );
}

#[test]
fn affinity_to_a_pod_placed_in_the_same_round() {
    // The web pod comes first in the queue (more CPU) but its target only appears later: it is retried and lands
    // next to the db pod.
    check(
        &with_zones(
            "pod web cpu=2
  affinity kubernetes.io/hostname sel=app=db
pod db cpu=1
  label app=db",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: db web
        "#]],
    );
}

#[test]
fn affinity_namespaces_and_namespace_selectors() {
    check(
        &with_zones(
            "namespace team-a env=prod
namespace team-b env=dev
node n1 pool=default cpu=8 memory=32Gi pods=50
  label topology.kubernetes.io/zone=a
  pod db-a cpu=7 ns=team-a
  pod-label app=db
node n2 pool=default cpu=8 memory=32Gi pods=50
  label topology.kubernetes.io/zone=b
  pod db-b cpu=7 ns=team-b
  pod-label app=db
pod own-namespace cpu=2
  affinity topology.kubernetes.io/zone sel=app=db
pod listed cpu=2
  affinity topology.kubernetes.io/zone sel=app=db ns=team-b
pod by-selector cpu=2
  affinity topology.kubernetes.io/zone sel=app=db nssel=env=prod",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: by-selector
              require topology.kubernetes.io/zone In a
            nodeclaim 1 pool=default: listed
              require topology.kubernetes.io/zone In b
            unschedulable default/own-namespace: nodepool default [topology]: unsatisfiable pod affinity constraint on topology.kubernetes.io/zone (counts: a=0, b=0, c=0; pod allows Exists; node allows Exists)
        "#]],
    );
}

// ---- Pod anti-affinity ----

#[test]
fn hostname_anti_affinity_gives_each_pod_its_node() {
    check(
        &with_zones("pod web x3 cpu=1\n  label app=web\n  anti kubernetes.io/hostname sel=app=web"),
        expect![[r#"
        nodeclaim 0 pool=default: web-0
        nodeclaim 1 pool=default: web-1
        nodeclaim 2 pool=default: web-2
    "#]],
    );
}

#[test]
fn zonal_anti_affinity_runs_out_of_zones() {
    check(
        &with_zones(
            "pod web x4 cpu=1\n  label app=web\n  select topology.kubernetes.io/zone=a\n  anti topology.kubernetes.io/zone sel=app=web",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web-0
              require topology.kubernetes.io/zone In a
            unschedulable default/web-1: nodepool default [topology]: unsatisfiable pod anti-affinity constraint on topology.kubernetes.io/zone (counts: a=1, b=0, c=0; pod allows In [a]; node allows In [a])
            unschedulable default/web-2: nodepool default [topology]: unsatisfiable pod anti-affinity constraint on topology.kubernetes.io/zone (counts: a=1, b=0, c=0; pod allows In [a]; node allows In [a])
            unschedulable default/web-3: nodepool default [topology]: unsatisfiable pod anti-affinity constraint on topology.kubernetes.io/zone (counts: a=1, b=0, c=0; pod allows In [a]; node allows In [a])
        "#]],
    );
}

#[test]
fn an_unpinned_claim_blocks_every_zone_it_might_use() {
    // The first pod's NodeClaim may land in any zone, so all three count as taken.
    check(
        &with_zones("pod web x2 cpu=1\n  label app=web\n  anti topology.kubernetes.io/zone sel=app=web"),
        expect![[r#"
            nodeclaim 0 pool=default: web-0
              require topology.kubernetes.io/zone In a,b,c
            unschedulable default/web-1: nodepool default [topology]: unsatisfiable pod anti-affinity constraint on topology.kubernetes.io/zone (counts: a=1, b=1, c=1; pod allows Exists; node allows Exists)
        "#]],
    );
}

#[test]
fn running_pods_anti_affinity_keeps_others_away() {
    check(
        &with_zones(
            "node n1 pool=default cpu=8 memory=32Gi pods=50
  label topology.kubernetes.io/zone=a
  pod loner cpu=1
  pod-anti topology.kubernetes.io/zone sel=app=web
pod web cpu=1
  label app=web",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web
              require topology.kubernetes.io/zone In b,c
        "#]],
    );
}

#[test]
fn anti_affinity_in_the_batch_is_respected_by_later_pods() {
    // The big pod with anti-affinity to app=web is placed first; the web pods then stay off its node.
    check(
        &with_zones(
            "pod big cpu=4
  anti kubernetes.io/hostname sel=app=web
pod web x2 cpu=1
  label app=web",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: big
            nodeclaim 1 pool=default: web-0 web-1
        "#]],
    );
}

// ---- Preferences ----

#[test]
fn preferred_anti_affinity_is_relaxed_when_it_cannot_be_met() {
    check(
        &with_zones(
            "pod web x4 cpu=1
  label app=web
  select topology.kubernetes.io/zone=a
  prefer-anti 10 topology.kubernetes.io/zone sel=app=web",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web-0 web-1 web-2 web-3
              require topology.kubernetes.io/zone In a
        "#]],
    );
}

#[test]
fn preferred_affinity_is_kept_when_it_can_be_met() {
    check(
        &with_zones(
            "node db-node pool=default cpu=8 memory=32Gi pods=50
  label topology.kubernetes.io/zone=c
  pod db cpu=8
  pod-label app=db
pod web cpu=1
  prefer-affinity 10 topology.kubernetes.io/zone sel=app=db
pod orphan cpu=1
  prefer-affinity 10 topology.kubernetes.io/zone sel=app=nothing",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: orphan web
              require topology.kubernetes.io/zone In c
        "#]],
    );
}

#[test]
fn the_upstream_preference_workload_in_small() {
    // Zone-1 is preferred; zonal anti-affinity (weight 10) is dropped after the first pod; hostname anti-affinity
    // (weight 1) then puts every pod on its own node in zone a.
    check(
        &with_zones(
            "pod p x3 cpu=1
  label app=nginx
  prefer 1 topology.kubernetes.io/zone In a
  prefer-anti 10 topology.kubernetes.io/zone sel=app=nginx
  prefer-anti 1 kubernetes.io/hostname sel=app=nginx",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: p-0
              require topology.kubernetes.io/zone In a
            nodeclaim 1 pool=default: p-1
              require topology.kubernetes.io/zone In a
            nodeclaim 2 pool=default: p-2
              require topology.kubernetes.io/zone In a
        "#]],
    );
}

// ---- Host ports ----

#[test]
fn pods_sharing_a_host_port_go_to_different_nodes() {
    check(
        &with_zones(
            "pod a cpu=1\n  hostport 80\npod b cpu=1\n  hostport 80\npod udp cpu=1\n  hostport 80 proto=UDP\npod other-ip cpu=1\n  hostport 81 ip=10.0.0.1\npod same-port-other-ip cpu=1\n  hostport 81 ip=10.0.0.2",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: a other-ip udp
            nodeclaim 1 pool=default: b same-port-other-ip
        "#]],
    );
}

#[test]
fn host_ports_of_running_pods_and_daemons_are_taken() {
    // The exporter holds port 9100 on n1, and the agent DaemonSet holds it on every arm64 node: only `small` is left.
    check_options(
        "pool default
type small cpu=2 memory=4Gi pods=10 price=0.1
type big cpu=8 memory=16Gi pods=40 price=0.4 arch=arm64
daemonset agent cpu=100m
  hostport 9100
  require kubernetes.io/arch In arm64
node n1 pool=default cpu=8 memory=32Gi pods=50
  pod exporter cpu=100m
  pod-hostport 9100
pod metrics cpu=1
  hostport 9100",
        expect![[r#"
            nodeclaim 0 pool=default: metrics
              options: small($0.1)
        "#]],
    );
}

// ---- Volumes ----

#[test]
fn volume_topology_pins_the_zone() {
    check(
        &with_zones("pod db cpu=1\n  volume topology.kubernetes.io/zone In b"),
        expect![[r#"
        nodeclaim 0 pool=default: db
          require topology.kubernetes.io/zone In b
    "#]],
    );
}

#[test]
fn volume_alternatives_are_tried_in_order() {
    check(
        &with_zones(
            "pod db cpu=1
  select topology.kubernetes.io/zone=c
  volume topology.kubernetes.io/zone In a
  volume-or topology.kubernetes.io/zone In c",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: db
              require topology.kubernetes.io/zone In c
        "#]],
    );
}

#[test]
fn volumes_that_conflict_with_the_pod_are_reported() {
    check(
        &with_zones(
            "pod db cpu=1\n  select topology.kubernetes.io/zone=a\n  volume topology.kubernetes.io/zone In b",
        ),
        expect![[r#"
            unschedulable default/db: nodepool default [volumes]: incompatible volume requirements, key topology.kubernetes.io/zone, In [b] not in In [a]
        "#]],
    );
}

#[test]
fn volume_zones_do_not_count_for_spread() {
    // Volumes narrow the NodeClaim, not the pod's own domains: the spread still sees all three zones.
    check(
        &with_zones(
            "pod web x2 cpu=1
  label app=web
  spread topology.kubernetes.io/zone skew=1 sel=app=web
  volume topology.kubernetes.io/zone In a,b",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web-0
              require topology.kubernetes.io/zone In a
            nodeclaim 1 pool=default: web-1
              require topology.kubernetes.io/zone In b
        "#]],
    );
}

// ---- Not supported yet ----

#[test]
fn dra_pods_are_reported_not_dropped() {
    check(
        &with_zones("pod trainer cpu=1\n  claim gpu-claim\npod web cpu=1"),
        expect![[r#"
        nodeclaim 0 pool=default: web
        unschedulable default/trainer: not supported yet (DynamicResourceAllocation): the pod has resourceClaims; Dynamic Resource Allocation is not supported yet
    "#]],
    );
}

#[test]
fn reserved_offerings_are_reported_not_used() {
    check(
        "pool default
type m cpu=8 memory=32Gi pods=50 price=0.4 zones=a
  offering zone=a ct=reserved price=0.1
pod web cpu=1",
        expect![[r#"
            skipped InstanceType/m: offerings[1]: reserved capacity is not supported yet; the offering is ignored
            nodeclaim 0 pool=default: web
        "#]],
    );
}

#[test]
fn malformed_topology_terms_name_the_field() {
    check(
        &with_zones(
            "pod bad-skew cpu=1\n  spread topology.kubernetes.io/zone skew=0 sel=app=web\npod bad-port cpu=1\n  hostport 70000\npod good cpu=1",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: good
            unschedulable default/bad-port: invalid spec.containers[0].ports[0].hostPort: host port 70000 is out of range
            unschedulable default/bad-skew: invalid spec.topologySpreadConstraints[0].maxSkew: maxSkew must be at least 1, got 0
        "#]],
    );
}

// ---- More of upstream's topology suite ----

#[test]
fn only_running_pods_with_matching_labels_on_nodes_with_the_domain_count() {
    // Upstream: "should only count running/scheduled pods with matching labels scheduled to nodes with a
    // corresponding domain". Zone a holds two counted pods, zone b one; the rest are ignored (no labels, wrong
    // namespace, finished, terminating, node without a zone). Two new pods go to c, then b: counts 2, 2, 1... then 2.
    check(
        &with_zones(
            "namespace elsewhere
node first pool=default cpu=8 memory=32Gi pods=50
  label topology.kubernetes.io/zone=a
  pod unlabelled cpu=100m
  pod elsewhere cpu=100m ns=elsewhere
  pod-label app=web
  pod failed cpu=100m phase=Failed
  pod-label app=web
  pod succeeded cpu=100m phase=Succeeded
  pod-label app=web
  pod going cpu=100m terminating
  pod-label app=web
  pod counted-1 cpu=100m
  pod-label app=web
  pod counted-2 cpu=100m
  pod-label app=web
node second pool=default cpu=8 memory=32Gi pods=50
  label topology.kubernetes.io/zone=b
  pod counted-3 cpu=100m
  pod-label app=web
node third pool=default cpu=8 memory=32Gi pods=50
  pod no-domain cpu=100m
  pod-label app=web
pod web x2 cpu=7900m
  label app=web
  spread topology.kubernetes.io/zone skew=1 sel=app=web",
        ),
        expect![[r#"
            existing second: web-1
            nodeclaim 0 pool=default: web-0
              require topology.kubernetes.io/zone In c
        "#]],
    );
}

#[test]
fn a_non_minimum_domain_is_used_when_it_is_all_that_is_left() {
    // Upstream: "should schedule to the non-minimum domain if its all that's available". Zones a and b hold one
    // pod each on full nodes; the NodePool can only launch in c; with maxSkew 5, c takes 6 and the rest wait.
    check(
        "pool only-c
  req topology.kubernetes.io/zone In c
type m cpu=2 memory=8Gi pods=50 price=0.1 zones=a,b,c
node in-a pool=only-c cpu=2 memory=8Gi pods=50
  label topology.kubernetes.io/zone=a
  pod earlier-a cpu=1100m
  pod-label app=web
node in-b pool=only-c cpu=2 memory=8Gi pods=50
  label topology.kubernetes.io/zone=b
  pod earlier-b cpu=1100m
  pod-label app=web
pod web x10 cpu=1100m
  label app=web
  spread topology.kubernetes.io/zone skew=5 sel=app=web",
        expect![[r#"
            nodeclaim 0 pool=only-c: web-0
              require topology.kubernetes.io/zone In c
            nodeclaim 1 pool=only-c: web-1
              require topology.kubernetes.io/zone In c
            nodeclaim 2 pool=only-c: web-2
              require topology.kubernetes.io/zone In c
            nodeclaim 3 pool=only-c: web-3
              require topology.kubernetes.io/zone In c
            nodeclaim 4 pool=only-c: web-4
              require topology.kubernetes.io/zone In c
            nodeclaim 5 pool=only-c: web-5
              require topology.kubernetes.io/zone In c
            unschedulable default/web-6: nodepool only-c [topology]: unsatisfiable topology spread constraint on topology.kubernetes.io/zone (counts: a=1, b=1, c=6; pod allows Exists; node allows In [c])
            unschedulable default/web-7: nodepool only-c [topology]: unsatisfiable topology spread constraint on topology.kubernetes.io/zone (counts: a=1, b=1, c=6; pod allows Exists; node allows In [c])
            unschedulable default/web-8: nodepool only-c [topology]: unsatisfiable topology spread constraint on topology.kubernetes.io/zone (counts: a=1, b=1, c=6; pod allows Exists; node allows In [c])
            unschedulable default/web-9: nodepool only-c [topology]: unsatisfiable topology spread constraint on topology.kubernetes.io/zone (counts: a=1, b=1, c=6; pod allows Exists; node allows In [c])
        "#]],
    );
}

#[test]
fn a_selector_that_matches_no_pod_never_limits_the_spread() {
    // Upstream: "should handle interdependent selectors": the pods do not carry the selected label, so they never
    // count, and all five share one node.
    check(
        &with_zones("pod web x5 cpu=1\n  spread kubernetes.io/hostname skew=1 sel=app=other"),
        expect![[r#"
        nodeclaim 0 pool=default: web-0 web-1 web-2 web-3 web-4
    "#]],
    );
}

#[test]
fn spread_over_capacity_types() {
    // Upstream: "should balance pods across capacity types".
    check(
        "pool default
type m cpu=8 memory=32Gi pods=50 price=0.4 zones=a ct=on-demand,spot
pod web x4 cpu=1
  label app=web
  spread karpenter.sh/capacity-type skew=1 sel=app=web",
        expect![[r#"
            nodeclaim 0 pool=default: web-0 web-2
            nodeclaim 1 pool=default: web-1 web-3
        "#]],
    );
}

#[test]
fn self_affinity_on_hostname_fills_one_node_then_waits() {
    // Upstream: "should respect self pod affinity for first empty topology domain only (hostname)": the node
    // holds five pods, the other five cannot start a second node.
    check(
        "pool default
type five cpu=8 memory=32Gi pods=5 price=0.1
pod web x10 cpu=100m
  label security=s2
  affinity kubernetes.io/hostname sel=security=s2",
        expect![[r#"
            nodeclaim 0 pool=default: web-0 web-1 web-2 web-3 web-4
            unschedulable default/web-5: nodepool default [topology]: unsatisfiable pod affinity constraint on kubernetes.io/hostname (counts: hostname-placeholder-0000=5; pod allows Exists; node allows In [hostname-placeholder-0001])
            unschedulable default/web-6: nodepool default [topology]: unsatisfiable pod affinity constraint on kubernetes.io/hostname (counts: hostname-placeholder-0000=5; pod allows Exists; node allows In [hostname-placeholder-0001])
            unschedulable default/web-7: nodepool default [topology]: unsatisfiable pod affinity constraint on kubernetes.io/hostname (counts: hostname-placeholder-0000=5; pod allows Exists; node allows In [hostname-placeholder-0001])
            unschedulable default/web-8: nodepool default [topology]: unsatisfiable pod affinity constraint on kubernetes.io/hostname (counts: hostname-placeholder-0000=5; pod allows Exists; node allows In [hostname-placeholder-0001])
            unschedulable default/web-9: nodepool default [topology]: unsatisfiable pod affinity constraint on kubernetes.io/hostname (counts: hostname-placeholder-0000=5; pod allows Exists; node allows In [hostname-placeholder-0001])
        "#]],
    );
}

#[test]
fn anti_affinity_blocks_every_zone_its_pod_might_use() {
    // Upstream: "should not violate pod anti-affinity on zone (Schrödinger)": the anti-affinity pod is placed
    // first, on a NodeClaim that may land in any zone, so the pod it repels cannot go anywhere this round.
    check(
        &with_zones(
            "pod zone-anywhere cpu=2
  anti topology.kubernetes.io/zone sel=security=s2
pod repelled cpu=1
  label security=s2",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: zone-anywhere
              require topology.kubernetes.io/zone In a,b,c
            unschedulable default/repelled: nodepool default [topology]: unsatisfiable pod anti-affinity constraint on topology.kubernetes.io/zone (counts: a=1, b=1, c=1; pod allows Exists; node allows Exists) (required anti-affinity of pods already placed)
        "#]],
    );
}

#[test]
fn a_chain_of_affinities_resolves_within_one_round() {
    // Upstream: "should handle multiple dependent affinities": ui -> cache -> web -> db, queued in the wrong
    // order; failed pods go to the back of the queue and everyone lands together.
    check(
        &with_zones(
            "pod ui cpu=4
  label type=ui
  affinity kubernetes.io/hostname sel=type=cache
pod cache cpu=3
  label type=cache
  affinity kubernetes.io/hostname sel=type=web
pod web cpu=500m
  label type=web
  affinity kubernetes.io/hostname sel=type=db
pod db cpu=100m
  label type=db",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: db web cache ui
        "#]],
    );
}

#[test]
fn affinity_to_a_pod_that_never_comes_ends_the_round() {
    // Upstream: "should fail to schedule pods with unsatisfiable dependencies" (and must not loop forever).
    check(
        &with_zones("pod db cpu=1\n  label type=db\n  affinity kubernetes.io/hostname sel=type=web"),
        expect![[r#"
        unschedulable default/db: nodepool default [topology]: unsatisfiable pod affinity constraint on kubernetes.io/hostname (counts: ; pod allows Exists; node allows In [hostname-placeholder-0000])
    "#]],
    );
}

#[test]
fn nodepool_zones_limit_the_spread() {
    // Upstream: "should respect NodePool zonal constraints (subset) with labels across NodePools".
    check(
        "pool in-a
  label topology.kubernetes.io/zone=a
pool in-b
  label topology.kubernetes.io/zone=b
type m cpu=8 memory=32Gi pods=50 price=0.4 zones=a,b,c
pod web x4 cpu=5
  label app=web
  spread topology.kubernetes.io/zone skew=1 sel=app=web",
        expect![[r#"
            nodeclaim 0 pool=in-b: web-0
              require topology.kubernetes.io/zone In b
              label topology.kubernetes.io/zone=b
            nodeclaim 1 pool=in-a: web-1
              require topology.kubernetes.io/zone In a
              label topology.kubernetes.io/zone=a
            nodeclaim 2 pool=in-b: web-2
              require topology.kubernetes.io/zone In b
              label topology.kubernetes.io/zone=b
            nodeclaim 3 pool=in-a: web-3
              require topology.kubernetes.io/zone In a
              label topology.kubernetes.io/zone=a
        "#]],
    );
}

#[test]
fn inverse_anti_affinity_of_running_pods_in_every_zone_they_use() {
    // Upstream: "should not violate pod anti-affinity on zone (inverse w/existing nodes)": running pods in a and b
    // repel app=web pods, which can only go to c.
    check(
        &with_zones(
            "node in-a pool=default cpu=8 memory=32Gi pods=50
  label topology.kubernetes.io/zone=a
  pod guard-a cpu=100m
  pod-anti topology.kubernetes.io/zone sel=app=web
node in-b pool=default cpu=8 memory=32Gi pods=50
  label topology.kubernetes.io/zone=b
  pod guard-b cpu=100m
  pod-anti topology.kubernetes.io/zone sel=app=web
pod web x2 cpu=1
  label app=web",
        ),
        expect![[r#"
            nodeclaim 0 pool=default: web-0 web-1
              require topology.kubernetes.io/zone In c
        "#]],
    );
}
