//! Fuzz check `budgets`: disruption budgets (their node counts and percentages, cron schedules read with croner,
//! durations) and Go durations, through the disruption engine's public entry [`decide`] on a small cluster of
//! empty nodes. Nothing panics, equal views give equal decisions, and a pass never disrupts more nodes than a
//! budget that is always active allows.

use karpenter_disruption::view::{Budget, ClusterView};
use karpenter_disruption::{Options, decide, duration};

use arbitrary::Unstructured;

const CLUSTER: &str = "
now 100000
type small cpu=2 memory=4Gi pods=10 price=1 zones=a,b ct=on-demand
pool default policy=WhenEmpty after=0s
node e1 pool=default type=small
node e2 pool=default type=small
node e3 pool=default type=small
node e4 pool=default type=small
node e5 pool=default type=small
node busy pool=default type=small
  pod web cpu=1
";

const NODES: [&str; 9] = ["0", "1", "3", "10%", "50%", "100%", "-1", "200%", "2147483648"];
const SCHEDULES: [&str; 10] = [
    "@daily",
    "@midnight",
    "@hourly",
    "0 9 * * 1-5",
    "*/5 * * * *",
    "0 0 29 2 *",
    "0 0 31 4 *",
    "0 0 * * tue-mon",
    "0 9 L * *",
    "@every 1h",
];
const DURATIONS: [&str; 7] = ["1h", "30m", "0s", "8760h", "-1h", "1.5h", "2562047h47m16.854775807s"];
const REASONS: [&str; 4] = ["Empty", "Underutilized", "Drifted", "Other"];

fn text(u: &mut Unstructured<'_>, from: &[&str]) -> arbitrary::Result<String> {
    if u.ratio(1, 4)? {
        let free: &str = u.arbitrary()?;
        Ok(free.chars().take(40).collect())
    } else {
        Ok(from[u.choose_index(from.len())?].to_string())
    }
}

fn budgets(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<Vec<Budget>>> {
    if u.ratio(1, 8)? {
        return Ok(None);
    }
    let mut budgets = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        budgets.push(Budget {
            nodes: text(u, &NODES)?,
            schedule: if u.ratio(1, 2)? { Some(text(u, &SCHEDULES)?) } else { None },
            duration: if u.ratio(1, 2)? { Some(text(u, &DURATIONS)?) } else { None },
            reasons: if u.ratio(1, 3)? {
                Some(
                    (0..u.int_in_range(0..=2)?)
                        .map(|_| text(u, &REASONS))
                        .collect::<arbitrary::Result<_>>()?,
                )
            } else {
                None
            },
        });
    }
    Ok(Some(budgets))
}

fn view(u: &mut Unstructured<'_>) -> arbitrary::Result<ClusterView> {
    let mut view = karpenter_fixture::disruption::parse(CLUSTER);
    view.now = if u.ratio(1, 3)? { u.arbitrary()? } else { u.int_in_range(0..=4_000_000_000)? };
    view.node_pools[0].disruption.budgets = budgets(u)?;
    Ok(view)
}

/// Runs the check on one input.
pub fn check(data: &[u8]) {
    let mut u = Unstructured::new(data);
    if let Ok(free) = <&str as arbitrary::Arbitrary>::arbitrary(&mut u) {
        let _ = duration::parse_go(free);
        let _ = duration::parse_nillable(free);
    }
    let Ok(view) = view(&mut u) else { return };
    let options = Options::default();
    let decision = decide(&view, &options);
    let again = decide(&view, &options);
    assert_eq!(decision.render(), again.render(), "two passes over one view differ");
    let mut disrupted: Vec<&str> = decision.commands.iter().flat_map(|c| c.node_names()).collect();
    disrupted.sort_unstable();
    disrupted.dedup();
    for name in &disrupted {
        assert!(view.nodes.iter().any(|n| n.name == *name), "command for unknown node {name}");
    }
    // A budget with a plain count, no schedule and every reason is always active: no pass exceeds it.
    let always: Option<i64> = view.node_pools[0]
        .disruption
        .budgets
        .iter()
        .flatten()
        .filter(|b| b.schedule.is_none() && b.duration.is_none() && b.reasons.is_none())
        .filter_map(|b| b.nodes.parse::<i64>().ok().filter(|n| *n >= 0))
        .min();
    if let Some(limit) = always {
        assert!(
            disrupted.len() as i64 <= limit,
            "{} nodes disrupted under a budget of {limit}:\n{}",
            disrupted.len(),
            decision.render()
        );
    }
}
