//! Disruption budgets (`kubernetes-sigs/karpenter: pkg/apis/v1/nodepool.go` `GetAllowedDisruptionsByReason`,
//! `pkg/controllers/disruption/helpers.go` `BuildDisruptionBudgetMapping`).
//!
//! Per NodePool and reason: count the managed, initialised nodes that are not already terminating; each budget
//! active now allows its node count or its percentage of that total, rounded up; the smallest allowance among the
//! budgets that apply to the reason wins; nodes already being disrupted (deleting, rebooting, or NotReady for every
//! reason but Unhealthy) are subtracted, floored at zero. A budget that cannot be read blocks the NodePool for every
//! reason (fail closed), as upstream does.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::cluster::Cluster;
use crate::decision::Reason;
use crate::duration::{self, Duration};
use crate::view::{Budget, Timestamp};

/// What each NodePool may still disrupt for one reason.
#[derive(Debug, Clone, Default)]
pub(crate) struct Budgets {
    pub(crate) remaining: BTreeMap<String, usize>,
}

impl Budgets {
    /// Builds the mapping for `reason` over every NodePool of the view.
    pub(crate) fn build(cluster: &Cluster<'_>, reason: Reason) -> Self {
        let mut total: BTreeMap<&str, usize> = BTreeMap::new();
        let mut disrupting: BTreeMap<&str, usize> = BTreeMap::new();
        for node in &cluster.nodes {
            let Some(claim) = node.view.node_claim.as_ref() else { continue };
            let rebooting = node.rebooting();
            if (!node.view.initialized && !rebooting) || node.instance_terminating() {
                continue;
            }
            let _ = claim;
            let pool = node.pool.unwrap_or("");
            *total.entry(pool).or_default() += 1;
            // Repair does not count merely-unhealthy nodes: they are what it is there to fix.
            let not_ready = !node.ready() && reason != Reason::Unhealthy;
            if node.deleting() || rebooting || not_ready {
                *disrupting.entry(pool).or_default() += 1;
            }
        }
        let mut remaining = BTreeMap::new();
        for (name, pool) in &cluster.pools {
            let nodes = total.get(name).copied().unwrap_or(0);
            let allowed =
                allowed_disruptions(pool.view.disruption.budgets.as_deref(), cluster.now, nodes, reason)
                    .unwrap_or(0);
            let left = allowed.saturating_sub(disrupting.get(name).copied().unwrap_or(0) as i64).max(0);
            remaining.insert(name.to_string(), usize::try_from(left).unwrap_or(usize::MAX));
        }
        Budgets { remaining }
    }

    pub(crate) fn get(&self, pool: &str) -> usize {
        self.remaining.get(pool).copied().unwrap_or(0)
    }

    /// Takes one disruption from the pool's budget; false when none is left.
    pub(crate) fn take(&mut self, pool: &str) -> bool {
        match self.remaining.get_mut(pool) {
            Some(left) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        }
    }
}

/// The default when `spec.disruption.budgets` is unset.
fn default_budgets() -> Vec<Budget> {
    vec![Budget { nodes: "10%".to_string(), ..Budget::default() }]
}

/// The NodePool's allowance for `reason` with `nodes` counted nodes, or the first error among its budgets.
pub(crate) fn allowed_disruptions(
    budgets: Option<&[Budget]>,
    now: Timestamp,
    nodes: usize,
    reason: Reason,
) -> Result<i64, String> {
    let defaults;
    let budgets = match budgets {
        Some(budgets) => budgets,
        None => {
            defaults = default_budgets();
            &defaults
        }
    };
    let mut allowed = i64::from(i32::MAX);
    let mut error = None;
    for (i, budget) in budgets.iter().enumerate() {
        let value = match budget_value(budget, now, nodes) {
            Ok(value) => value,
            Err(message) => {
                error.get_or_insert(format!("budgets[{i}]: {message}"));
                0
            }
        };
        let applies =
            budget.reasons.as_ref().is_none_or(|reasons| reasons.iter().any(|r| r == reason.as_str()));
        if applies {
            allowed = allowed.min(value);
        }
    }
    match error {
        Some(error) => Err(error),
        None => Ok(allowed),
    }
}

/// One budget's allowance now: unbounded while inactive, else its count or rounded-up percentage.
fn budget_value(budget: &Budget, now: Timestamp, nodes: usize) -> Result<i64, String> {
    if !is_active(budget, now)? {
        return Ok(i64::from(i32::MAX));
    }
    scaled_value(&budget.nodes, nodes)
}

/// `intstr.GetScaledValueFromIntOrPercent(value, total, roundUp=true)`.
fn scaled_value(text: &str, total: usize) -> Result<i64, String> {
    if let Ok(count) = text.parse::<i64>() {
        return Ok(count);
    }
    let percent = text
        .strip_suffix('%')
        .and_then(|p| p.parse::<i64>().ok())
        .ok_or_else(|| format!("nodes {text:?} is neither a count nor a percentage"))?;
    let total = total as i64;
    Ok((percent * total + 99).div_euclid(100))
}

/// Whether a budget is active at `now`: always without a schedule; with one, when the last schedule hit is no
/// more than `duration` ago, found by asking for the next hit after `now - duration`.
pub(crate) fn is_active(budget: &Budget, now: Timestamp) -> Result<bool, String> {
    if budget.schedule.is_none() && budget.duration.is_none() {
        return Ok(true);
    }
    let schedule = parse_schedule(budget.schedule.as_deref().unwrap_or(""))?;
    let window = match budget.duration.as_deref() {
        Some(text) => duration::parse_go(text).map_err(|m| format!("duration: {m}"))?,
        None => Duration::ZERO,
    };
    let checkpoint_nanos = i128::from(now) * 1_000_000_000 - window.0;
    let checkpoint = utc(checkpoint_nanos.div_euclid(1_000_000_000) as i64)?;
    let next = schedule
        .find_next_occurrence(&checkpoint, false)
        .map_err(|e| format!("schedule: no next occurrence ({e})"))?;
    Ok(next.timestamp() <= now)
}

/// The next instant after `now` at which the budget turns on or off: the next schedule hit while it is off, the
/// end of the current window while it is on. `None` for a budget without a schedule (always on) or one that does
/// not parse (its error is reported by [`allowed_disruptions`]).
pub(crate) fn next_switch(budget: &Budget, now: Timestamp) -> Option<Timestamp> {
    let schedule = parse_schedule(budget.schedule.as_deref()?).ok()?;
    let window = match budget.duration.as_deref() {
        Some(text) => duration::parse_go(text).ok()?,
        None => Duration::ZERO,
    };
    let checkpoint_nanos = i128::from(now) * 1_000_000_000 - window.0;
    let checkpoint = utc(checkpoint_nanos.div_euclid(1_000_000_000) as i64).ok()?;
    let hit = schedule.find_next_occurrence(&checkpoint, false).ok()?.timestamp();
    if hit > now {
        return Some(hit);
    }
    let closes =
        hit.saturating_add(window.whole_seconds()).saturating_add(i64::from(window.0 % 1_000_000_000 != 0));
    Some(closes.max(now + 1))
}

fn utc(seconds: i64) -> Result<DateTime<Utc>, String> {
    DateTime::<Utc>::from_timestamp(seconds, 0).ok_or_else(|| format!("time {seconds} is out of range"))
}

/// Parses a standard five-field cron schedule or a descriptor, in UTC. Extensions that Go's cron package (which
/// upstream uses) does not accept (`L`, `W`, `#`, seconds, years) are refused, so they fail closed as upstream does.
pub(crate) fn parse_schedule(text: &str) -> Result<Cron, String> {
    let text = text.trim();
    let pattern = match text {
        "@midnight" => "@daily",
        other => other,
    };
    if pattern.starts_with('@') {
        if !matches!(pattern, "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@hourly") {
            return Err(format!("schedule {text:?}: unknown descriptor"));
        }
    } else {
        let fields: Vec<&str> = pattern.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!("schedule {text:?}: expected exactly 5 fields, found {}", fields.len()));
        }
        for field in &fields {
            let mut rest = field.to_ascii_uppercase();
            for name in [
                "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", "SUN",
                "MON", "TUE", "WED", "THU", "FRI", "SAT",
            ] {
                rest = rest.replace(name, "0");
            }
            if !rest.chars().all(|c| c.is_ascii_digit() || matches!(c, '*' | '?' | ',' | '-' | '/')) {
                return Err(format!("schedule {text:?}: unsupported characters in field {field:?}"));
            }
        }
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(pattern)
        .map_err(|e| format!("schedule {text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(nodes: &str, schedule: Option<&str>, duration: Option<&str>) -> Budget {
        Budget {
            nodes: nodes.to_string(),
            schedule: schedule.map(str::to_string),
            duration: duration.map(str::to_string),
            reasons: None,
        }
    }

    // 2026-01-05T09:30:00Z, a Monday.
    const MONDAY_0930: Timestamp = 1_767_605_400;

    #[test]
    fn percentages_round_up() {
        assert_eq!(scaled_value("10%", 5), Ok(1));
        assert_eq!(scaled_value("10%", 10), Ok(1));
        assert_eq!(scaled_value("10%", 11), Ok(2));
        assert_eq!(scaled_value("0%", 11), Ok(0));
        assert_eq!(scaled_value("3", 1), Ok(3));
        assert!(scaled_value("ten", 1).is_err());
    }

    #[test]
    fn schedules_are_utc_windows() {
        // Active from 09:00 for 1h on weekdays.
        let weekday = budget("0", Some("0 9 * * 1-5"), Some("1h"));
        assert_eq!(is_active(&weekday, MONDAY_0930), Ok(true));
        assert_eq!(is_active(&weekday, MONDAY_0930 + 3600), Ok(false));
        // The window opens at the hit and closes just before `duration` has passed: Go's cron looks for the next
        // hit strictly after `now - duration`.
        assert_eq!(is_active(&weekday, MONDAY_0930 - 1800), Ok(true));
        assert_eq!(is_active(&weekday, MONDAY_0930 + 1799), Ok(true));
        assert_eq!(is_active(&weekday, MONDAY_0930 + 1800), Ok(false));
        let sunday = budget("0", Some("@weekly"), Some("30m"));
        assert_eq!(is_active(&sunday, MONDAY_0930), Ok(false));
        assert_eq!(is_active(&budget("0", Some("@midnight"), Some("10h")), MONDAY_0930), Ok(true));
        // A schedule without a duration is never active; a duration without a schedule cannot be read.
        assert_eq!(is_active(&budget("0", Some("0 9 * * *"), None), MONDAY_0930), Ok(false));
        assert!(is_active(&budget("0", None, Some("1h")), MONDAY_0930).is_err());
        assert!(is_active(&budget("0", Some("0 9 L * *"), Some("1h")), MONDAY_0930).is_err());
        assert!(is_active(&budget("0", Some("not a cron"), Some("1h")), MONDAY_0930).is_err());
    }

    #[test]
    fn upstream_schedule_cases() {
        // pkg/apis/v1/nodepool_budgets_test.go, "IsActive".
        let jan_1000_noon = -30_610_180_800; // 1000-01-01T12:00:00Z
        let jan_7_2024 = 1_704_585_600; // 2024-01-07T00:00:00Z, a Sunday
        let cases = [
            (budget("0", Some("@yearly"), Some("24h")), jan_1000_noon, Ok(true)),
            (budget("0", Some("@daily"), Some("48h")), jan_7_2024, Ok(true)),
            (budget("0", Some("30 6 * * SUN"), Some("6h")), jan_7_2024, Ok(false)),
            (budget("0", Some("@yearly"), Some("30m")), jan_7_2024, Ok(false)),
        ];
        for (b, now, want) in cases {
            assert_eq!(is_active(&b, now), want, "{:?} at {now}", b.schedule);
        }
        assert!(is_active(&budget("0", Some("0 0 * * tue-mon"), Some("1h")), jan_7_2024).is_err());
    }

    #[test]
    fn most_restrictive_active_budget_wins() {
        let budgets = vec![
            budget("10%", None, None),
            Budget { reasons: Some(vec!["Drifted".into()]), ..budget("0", None, None) },
            budget("1", Some("0 9 * * *"), Some("1h")),
        ];
        assert_eq!(allowed_disruptions(Some(&budgets), MONDAY_0930, 50, Reason::Empty), Ok(1));
        assert_eq!(allowed_disruptions(Some(&budgets), MONDAY_0930 + 7200, 50, Reason::Empty), Ok(5));
        assert_eq!(allowed_disruptions(Some(&budgets), MONDAY_0930 + 7200, 50, Reason::Drifted), Ok(0));
        assert_eq!(allowed_disruptions(None, MONDAY_0930, 50, Reason::Drifted), Ok(5));
        assert_eq!(allowed_disruptions(Some(&[]), MONDAY_0930, 50, Reason::Drifted), Ok(i64::from(i32::MAX)));
        // One unreadable budget blocks every reason.
        let broken = vec![budget("100%", None, None), budget("5", Some("61 * * * *"), Some("1h"))];
        assert!(allowed_disruptions(Some(&broken), MONDAY_0930, 50, Reason::Empty).is_err());
    }
}
