//! `next_change`: the instant a decision over an unchanged cluster may change with the time alone, which the
//! controller uses to skip passes over a cluster that is settled (upstream's consolidated state).

use karpenter_disruption::next_change;
use karpenter_fixture::disruption as fixture;

/// A node whose last pod event was at 100 in a pool with `consolidateAfter: 5m` and `expireAfter: 23h30m`, a pod
/// that may not be disrupted for ten minutes after it started at 50, and a budget that allows nothing for the
/// first five minutes of every hour.
fn at(now: i64) -> Option<i64> {
    next_change(&fixture::parse(&format!(
        "
now {now}
type small cpu=2 memory=4Gi pods=10 price=1 zones=a ct=on-demand
pool default policy=WhenEmptyOrUnderutilized after=5m expire=23h30m
  budget nodes=0 schedule=0_*_*_*_* duration=5m
  budget nodes=100%
node n1 pool=default type=small created=0 init=10 lastpod=100
  pod batch cpu=1 started=50
  pod-annotate karpenter.sh/do-not-disrupt=10m
"
    )))
}

#[test]
fn the_earliest_deadline_ahead_is_the_next_change() {
    // The budget's first window (from 0) closes at 300, consolidateAfter ends at 100 + 300, do-not-disrupt at
    // 50 + 600, and the budget turns on again at 3600.
    assert_eq!(at(120), Some(300));
    assert_eq!(at(300), Some(400));
    assert_eq!(at(400), Some(650));
    assert_eq!(at(650), Some(3600));
    // Inside the budget's window, its end comes next; the NodeClaim expires at 84600, before the next hour.
    assert_eq!(at(3600), Some(3900));
    assert_eq!(at(84_000), Some(84_600));
}

#[test]
fn a_view_without_deadlines_never_changes_with_time() {
    let view = fixture::parse(
        "
now 1000
type small cpu=2 memory=4Gi pods=10 price=1 zones=a ct=on-demand
pool default policy=WhenEmpty after=30s expire=Never
  budget nodes=100%
node n1 pool=default type=small created=0 init=10
  pod web cpu=1
",
    );
    assert_eq!(next_change(&view), None);
}
