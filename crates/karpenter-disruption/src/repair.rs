//! Repair policies (`kubernetes-sigs/karpenter: pkg/controllers/node/health/policy.go`,
//! `pkg/controllers/disruption/repair_history.go`).
//!
//! A node condition matches the policies of its (type, status) pair whose reason expression finds its reason, or the
//! set's single fallback policy when none does. A match becomes eligible once the condition has lasted the policy's
//! toleration (counted from no earlier than the node's creation and the end of its last reboot). The eligible matches
//! merge into one decision: the most disruptive action (replace over reboot; then higher priority, earlier
//! eligibility, lower condition type), the shortest drain bound, and a score of dense priority rank plus age in
//! units of 30 minutes, which orders repairs.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;

use crate::cluster::NodeInfo;
use crate::duration::{self, Duration};
use crate::view::{RepairPolicy, Timestamp};

/// Age past eligibility that earns one rank.
const AGING_MINUTES: f64 = 30.0;

/// Reboots within the history window before a reboot is escalated to a replacement.
pub(crate) const REBOOTS_BEFORE_REPLACEMENT: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Action {
    Reboot,
    Replace,
}

struct Compiled {
    condition_type: String,
    condition_status: String,
    reason: Option<Regex>,
    toleration: Duration,
    termination_grace_period: Option<Duration>,
    priority: i32,
    rank: usize,
    action: Action,
}

/// The provider's policy set, checked and compiled.
pub(crate) struct Matcher {
    policies: Vec<Compiled>,
    fallback: usize,
    pairs: BTreeSet<(String, String)>,
}

/// The merged decision for one node.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resolution {
    pub(crate) action: Option<Action>,
    pub(crate) termination_grace_period: Option<Duration>,
    score_rank: usize,
    score_eligible_at: Timestamp,
    selected_priority: i32,
    selected_eligible_at: Timestamp,
    selected_condition: String,
    tgp_eligible_at: Timestamp,
    tgp_condition: String,
    /// The earliest time a matching policy that is not yet eligible becomes so.
    pub(crate) next_eligible: Option<Timestamp>,
    /// True when any condition matched a policy, eligible or not.
    pub(crate) matched: bool,
}

impl Resolution {
    /// The repair score at `now`.
    pub(crate) fn score(&self, now: Timestamp) -> f64 {
        if self.action.is_none() {
            return 0.0;
        }
        self.score_rank as f64 + (now - self.score_eligible_at) as f64 / 60.0 / AGING_MINUTES
    }
}

impl Matcher {
    /// Compiles the set; an invalid set is refused whole, as upstream refuses to start repair with one.
    pub(crate) fn new(policies: &[RepairPolicy]) -> Result<Matcher, String> {
        if policies.is_empty() {
            return Err("node repair requires repair policies and the provider defines none".to_string());
        }
        let mut priorities: Vec<i32> = policies.iter().map(|p| p.priority).collect();
        priorities.sort_unstable();
        priorities.dedup();
        let mut compiled = Vec::new();
        let mut fallback = None;
        let mut errors = Vec::new();
        for (i, policy) in policies.iter().enumerate() {
            let at = |message: String| format!("repairPolicies[{i}]: {message}");
            if policy.condition_type.is_empty() {
                errors.push(at("empty condition type".into()));
            }
            if !matches!(policy.condition_status.as_str(), "True" | "False" | "Unknown") {
                errors.push(at(format!("invalid condition status {:?}", policy.condition_status)));
            }
            if !(0..=100).contains(&policy.priority) {
                errors.push(at(format!("priority {} outside 0..100", policy.priority)));
            }
            let toleration = duration::parse_go(&policy.toleration_duration).unwrap_or_else(|m| {
                errors.push(at(format!("tolerationDuration: {m}")));
                Duration::ZERO
            });
            if toleration < Duration::ZERO {
                errors.push(at("negative tolerationDuration".into()));
            }
            let termination_grace_period = match policy.termination_grace_period.as_deref() {
                None => None,
                Some(text) => match duration::parse_go(text) {
                    Ok(d) if d >= Duration::ZERO => Some(d),
                    Ok(_) => {
                        errors.push(at("negative terminationGracePeriod".into()));
                        None
                    }
                    Err(m) => {
                        errors.push(at(format!("terminationGracePeriod: {m}")));
                        None
                    }
                },
            };
            let action = match policy.action.as_deref() {
                None | Some("ReplaceNode") => Action::Replace,
                Some("RebootNode") => Action::Reboot,
                Some(other) => {
                    errors.push(at(format!("unsupported action {other:?}")));
                    Action::Replace
                }
            };
            let reason = if policy.reason_regex.is_empty() {
                if fallback.is_some() {
                    errors.push(at("a second default fallback (empty reasonRegex)".into()));
                } else {
                    fallback = Some(i);
                }
                None
            } else {
                match Regex::new(&policy.reason_regex) {
                    Ok(re) => Some(re),
                    Err(e) => {
                        errors.push(at(format!("invalid reasonRegex: {e}")));
                        None
                    }
                }
            };
            compiled.push(Compiled {
                condition_type: policy.condition_type.clone(),
                condition_status: policy.condition_status.clone(),
                reason,
                toleration,
                termination_grace_period,
                priority: policy.priority,
                rank: priorities.binary_search(&policy.priority).unwrap_or(0),
                action,
            });
        }
        let Some(fallback) = fallback else {
            errors.push("the repair policy set must define one default fallback (empty reasonRegex)".into());
            return Err(errors.join("; "));
        };
        if compiled[fallback].action != Action::Replace {
            errors.push("the default fallback policy must use ReplaceNode".into());
        }
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        let pairs = compiled.iter().map(|p| (p.condition_type.clone(), p.condition_status.clone())).collect();
        Ok(Matcher { policies: compiled, fallback, pairs })
    }

    /// Whether a condition is one the policy set covers, whatever its reason or age (the 20% cut-off counts these).
    pub(crate) fn covers(&self, condition_type: &str, status: &str) -> bool {
        self.pairs.contains(&(condition_type.to_string(), status.to_string()))
    }

    /// The merged repair decision for a node at `now`.
    pub(crate) fn resolve(&self, node: &NodeInfo<'_>, now: Timestamp) -> Resolution {
        let claim = node.view.node_claim.as_ref();
        let created = claim.map_or(Timestamp::MIN, |c| c.created);
        let reboot_finished = claim.and_then(|c| c.rebooting).filter(|r| !r.in_progress).map(|r| r.since);
        let mut result = Resolution::default();
        let mut conditions: Vec<_> = node.view.conditions.iter().collect();
        conditions.sort_by(|a, b| (&a.condition_type, &a.status).cmp(&(&b.condition_type, &b.status)));
        for condition in conditions {
            if !self.covers(&condition.condition_type, &condition.status) {
                continue;
            }
            let since = condition.since.max(created);
            let specific: Vec<usize> = (0..self.policies.len())
                .filter(|&i| {
                    let p = &self.policies[i];
                    p.condition_type == condition.condition_type
                        && p.condition_status == condition.status
                        && p.reason.as_ref().is_some_and(|re| re.is_match(&condition.reason))
                })
                .collect();
            let matched = if specific.is_empty() { vec![self.fallback] } else { specific };
            for i in matched {
                let policy = &self.policies[i];
                result.matched = true;
                let toleration = policy.toleration.whole_seconds();
                let mut eligible_at = since + toleration;
                if let Some(finished) = reboot_finished {
                    eligible_at = eligible_at.max(finished + toleration);
                }
                if eligible_at > now {
                    result.next_eligible =
                        Some(result.next_eligible.map_or(eligible_at, |n| n.min(eligible_at)));
                    continue;
                }
                merge(&mut result, policy, &condition.condition_type, eligible_at, now);
            }
        }
        result
    }
}

fn merge(
    result: &mut Resolution,
    policy: &Compiled,
    condition: &str,
    eligible_at: Timestamp,
    now: Timestamp,
) {
    let first = result.action.is_none();
    let score = policy.rank as f64 + (now - eligible_at) as f64 / 60.0 / AGING_MINUTES;
    if first || score > result.score(now) {
        result.score_rank = policy.rank;
        result.score_eligible_at = eligible_at;
    }
    if let Some(bound) = policy.termination_grace_period {
        let shorter = match result.termination_grace_period {
            None => true,
            Some(current) if bound != current => bound < current,
            Some(_) if eligible_at != result.tgp_eligible_at => eligible_at < result.tgp_eligible_at,
            Some(_) => condition < result.tgp_condition.as_str(),
        };
        if shorter {
            result.termination_grace_period = Some(bound);
            result.tgp_eligible_at = eligible_at;
            result.tgp_condition = condition.to_string();
        }
    }
    let selected = match result.action {
        None => true,
        Some(current) if policy.action != current => policy.action > current,
        Some(_) if policy.priority != result.selected_priority => policy.priority > result.selected_priority,
        Some(_) if eligible_at != result.selected_eligible_at => eligible_at < result.selected_eligible_at,
        Some(_) => condition < result.selected_condition.as_str(),
    };
    if selected {
        result.action = Some(policy.action);
        result.selected_priority = policy.priority;
        result.selected_eligible_at = eligible_at;
        result.selected_condition = condition.to_string();
    }
}

/// Per NodePool, whether more than 20% (rounded up) of its registered nodes have a condition the policies cover.
pub(crate) fn tripped_pools(matcher: &Matcher, nodes: &[NodeInfo<'_>]) -> BTreeSet<String> {
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for node in nodes {
        let Some(pool) = node.pool.filter(|p| !p.is_empty()) else { continue };
        if !node.view.registered {
            continue;
        }
        let entry = counts.entry(pool).or_default();
        entry.0 += 1;
        if node.view.conditions.iter().any(|c| matcher.covers(&c.condition_type, &c.status)) {
            entry.1 += 1;
        }
    }
    counts
        .into_iter()
        .filter(|(_, (total, unhealthy))| *unhealthy > (total * 20).div_ceil(100))
        .map(|(pool, _)| pool.to_string())
        .collect()
}
