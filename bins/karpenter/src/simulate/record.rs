//! What `karpenter simulate` reports: a timeline (the scenario's own events, NodeClaims launched and removed with
//! their reasons, and a periodic sample of pending pods, nodes and cost per hour) and a summary (node-hours, total
//! cost, pending-to-bound latency percentiles in simulated time, pods never scheduled). No upstream counterpart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use karpenter_api::NodeClaim;
use karpenter_cloud::fake::FakeProvider;
use karpenter_operator::store::{ClusterState, MemoryCluster};
use serde::Serialize;

use super::scenario::clock_time;

/// Prices by instance type, zone and capacity type.
pub(crate) type Prices = BTreeMap<(String, String, String), f64>;

/// One line of the timeline.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Row {
    /// Simulated time since the start, `hh:mm:ss`.
    pub(crate) time: String,
    /// Pods not bound to a node.
    pub(crate) pending: usize,
    /// NodeClaims launched and not yet removed.
    pub(crate) nodes: usize,
    /// What those cost per hour.
    pub(crate) cost_per_hour: f64,
    /// What happened (empty for a periodic sample).
    pub(crate) event: String,
}

/// One point of the series the chart draws.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Point {
    pub(crate) at: Duration,
    pub(crate) pending: usize,
    pub(crate) nodes: usize,
    pub(crate) cost_per_hour: f64,
}

/// A NodeClaim as the recorder follows it.
#[derive(Debug, Clone)]
struct Claim {
    /// Price per hour once launched.
    price: Option<f64>,
    /// Removal seen (deleting or gone).
    removed: bool,
}

/// A pod as the recorder follows it.
#[derive(Debug, Clone, Copy)]
struct PodTimes {
    created: Duration,
    bound: Option<Duration>,
}

/// The summary.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Summary {
    pub(crate) scenario: String,
    pub(crate) seed: u64,
    pub(crate) simulated: String,
    pub(crate) node_claims_launched: usize,
    pub(crate) node_claims_removed: BTreeMap<String, usize>,
    pub(crate) launch_failures: usize,
    pub(crate) peak_nodes: usize,
    pub(crate) node_hours: f64,
    pub(crate) total_cost: f64,
    pub(crate) peak_cost_per_hour: f64,
    pub(crate) pods_created: usize,
    pub(crate) pods_bound: usize,
    pub(crate) latency_p50_seconds: Option<f64>,
    pub(crate) latency_p99_seconds: Option<f64>,
    pub(crate) latency_max_seconds: Option<f64>,
    pub(crate) pods_never_scheduled: usize,
    pub(crate) pods_pending_at_end: usize,
}

/// Follows the cluster as the simulation runs.
pub(crate) struct Recorder {
    prices: Prices,
    sample: Duration,
    next_sample: Duration,
    claims: BTreeMap<String, Claim>,
    pods: BTreeMap<(String, String), PodTimes>,
    rows: Vec<Row>,
    points: Vec<Point>,
    last_state: Option<Arc<ClusterState>>,
    last_at: Duration,
    pending: usize,
    cost_per_hour: f64,
    running: usize,
    node_seconds: f64,
    total_cost: f64,
    peak_nodes: usize,
    peak_cost: f64,
    launched: usize,
    removed: BTreeMap<String, usize>,
    launch_failures: usize,
    events_seen: usize,
}

impl Recorder {
    pub(crate) fn new(prices: Prices, sample: Duration) -> Recorder {
        Recorder {
            prices,
            sample,
            next_sample: Duration::ZERO,
            claims: BTreeMap::new(),
            pods: BTreeMap::new(),
            rows: Vec::new(),
            points: Vec::new(),
            last_state: None,
            last_at: Duration::ZERO,
            pending: 0,
            cost_per_hour: 0.0,
            running: 0,
            node_seconds: 0.0,
            total_cost: 0.0,
            peak_nodes: 0,
            peak_cost: 0.0,
            launched: 0,
            removed: BTreeMap::new(),
            launch_failures: 0,
            events_seen: 0,
        }
    }

    /// A timeline line about something the world did.
    pub(crate) fn note(&mut self, at: Duration, event: String) {
        self.rows.push(Row {
            time: clock_time(at),
            pending: self.pending,
            nodes: self.running,
            cost_per_hour: money(self.cost_per_hour),
            event,
        });
    }

    pub(crate) fn pod_created(&mut self, pod: &Pod, at: Duration) {
        self.pods.insert(key(pod), PodTimes { created: at, bound: None });
    }

    pub(crate) fn pod_bound(&mut self, pod: &Pod, at: Duration) {
        if let Some(times) = self.pods.get_mut(&key(pod)) {
            times.bound.get_or_insert(at);
        }
    }

    /// Looks at the cluster at `at`: charges the time since the last look at the old rate, then notes NodeClaims
    /// launched and removed, and takes a sample when one is due.
    pub(crate) fn observe(
        &mut self,
        state: &Arc<ClusterState>,
        cluster: &MemoryCluster,
        fake: &FakeProvider,
        at: Duration,
    ) {
        let dt = at.saturating_sub(self.last_at).as_secs_f64();
        self.node_seconds += self.running as f64 * dt;
        self.total_cost += self.cost_per_hour * dt / 3600.0;
        self.last_at = at;
        let changed = self.last_state.as_ref().is_none_or(|last| !Arc::ptr_eq(last, state));
        if changed {
            self.last_state = Some(Arc::clone(state));
            self.pending = state
                .objects
                .pods
                .iter()
                .filter(|p| {
                    karpenter_snapshot::node_name(p).is_none() && p.metadata.deletion_timestamp.is_none()
                })
                .count();
            self.claims_changed(state, cluster, fake, at);
        }
        if at >= self.next_sample {
            self.next_sample = at + self.sample;
            self.note(at, String::new());
        }
        self.points.push(Point {
            at,
            pending: self.pending,
            nodes: self.running,
            cost_per_hour: self.cost_per_hour,
        });
    }

    fn claims_changed(
        &mut self,
        state: &ClusterState,
        cluster: &MemoryCluster,
        fake: &FakeProvider,
        at: Duration,
    ) {
        let present: BTreeMap<&str, &Arc<NodeClaim>> = state
            .objects
            .node_claims
            .iter()
            .map(|c| (c.metadata.name.as_deref().unwrap_or_default(), c))
            .collect();
        let mut launches = Vec::new();
        let mut removals = Vec::new();
        for (name, claim) in &present {
            let record =
                self.claims.entry((*name).to_string()).or_insert(Claim { price: None, removed: false });
            if record.price.is_none()
                && !record.removed
                && let Some(provider_id) = karpenter_snapshot::claim_provider_id(claim)
            {
                launches.push(((*name).to_string(), provider_id.to_string(), claim_pool(claim)));
            }
            if claim.metadata.deletion_timestamp.is_some() && !record.removed {
                removals.push((*name).to_string());
            }
        }
        for (name, record) in &self.claims {
            if !record.removed && !present.contains_key(name.as_str()) && !removals.contains(name) {
                removals.push(name.clone());
            }
        }
        if !launches.is_empty() {
            let instances: BTreeMap<String, karpenter_cloud::Instance> =
                fake.instances().into_iter().map(|i| (i.provider_id.clone(), i)).collect();
            for (name, provider_id, pool) in launches {
                let Some(instance) = instances.get(&provider_id) else { continue };
                let price = self
                    .prices
                    .get(&(
                        instance.instance_type.clone(),
                        instance.zone.clone(),
                        instance.capacity_type.clone(),
                    ))
                    .copied()
                    .unwrap_or(0.0);
                if let Some(record) = self.claims.get_mut(&name) {
                    record.price = Some(price);
                }
                self.launched += 1;
                self.running += 1;
                self.cost_per_hour += price;
                self.peak_nodes = self.peak_nodes.max(self.running);
                self.peak_cost = self.peak_cost.max(self.cost_per_hour);
                self.note(
                    at,
                    format!(
                        "+ {name} {} {} {} ${price:.4}/h (NodePool {pool})",
                        instance.instance_type, instance.capacity_type, instance.zone
                    ),
                );
            }
        }
        if !removals.is_empty() {
            let events = cluster.events();
            let fresh = &events[self.events_seen.min(events.len())..];
            for name in removals {
                let claim = present.get(name.as_str());
                let reason = removal_reason(claim.map(|c| &***c), &name, &events, fresh);
                let Some(record) = self.claims.get_mut(&name) else { continue };
                record.removed = true;
                match record.price {
                    Some(price) => {
                        self.running -= 1;
                        self.cost_per_hour -= price;
                        if self.running == 0 {
                            // Float sums drift; an empty cluster costs nothing.
                            self.cost_per_hour = 0.0;
                        }
                        *self.removed.entry(reason.clone()).or_default() += 1;
                        self.note(at, format!("- {name} ({reason})"));
                    }
                    None => {
                        self.launch_failures += 1;
                        self.note(at, format!("x {name} never launched ({reason})"));
                    }
                }
            }
            self.events_seen = events.len();
        }
        // Removed claims that are gone need no record.
        self.claims.retain(|name, record| !record.removed || present.contains_key(name.as_str()));
    }

    /// The timeline.
    pub(crate) fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The series for the chart.
    pub(crate) fn points(&self) -> &[Point] {
        &self.points
    }

    /// The summary at the end.
    pub(crate) fn summary(&self, scenario: String, seed: u64, simulated: Duration) -> Summary {
        let mut latencies: Vec<f64> =
            self.pods.values().filter_map(|p| p.bound.map(|b| (b - p.created).as_secs_f64())).collect();
        latencies.sort_by(f64::total_cmp);
        let percentile = |q: f64| -> Option<f64> {
            if latencies.is_empty() {
                return None;
            }
            // Nearest rank.
            let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
            Some(latencies[rank - 1])
        };
        let pending_at_end = self.pending;
        Summary {
            scenario,
            seed,
            simulated: clock_time(simulated),
            node_claims_launched: self.launched,
            node_claims_removed: self.removed.clone(),
            launch_failures: self.launch_failures,
            peak_nodes: self.peak_nodes,
            node_hours: (self.node_seconds / 3600.0 * 100.0).round() / 100.0,
            total_cost: money(self.total_cost),
            peak_cost_per_hour: money(self.peak_cost),
            pods_created: self.pods.len(),
            pods_bound: latencies.len(),
            latency_p50_seconds: percentile(0.5),
            latency_p99_seconds: percentile(0.99),
            latency_max_seconds: latencies.last().copied(),
            pods_never_scheduled: self.pods.values().filter(|p| p.bound.is_none()).count(),
            pods_pending_at_end: pending_at_end,
        }
    }
}

fn key(pod: &Pod) -> (String, String) {
    (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default())
}

fn claim_pool(claim: &NodeClaim) -> String {
    claim
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(karpenter_api::labels::label::NODE_POOL))
        .cloned()
        .unwrap_or_default()
}

/// Why a NodeClaim went: the disruption reason the controller set on it, else the reason of the controller's
/// latest event about it or its node, else "deleted".
fn removal_reason(
    claim: Option<&NodeClaim>,
    name: &str,
    events: &[karpenter_operator::events::Event],
    fresh: &[karpenter_operator::events::Event],
) -> String {
    let condition = claim
        .and_then(|c| c.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == karpenter_api::labels::condition::DISRUPTION_REASON))
        .filter(|c| c.status == "True");
    if let Some(condition) = condition {
        return format!("disrupted: {}", condition.reason);
    }
    let about = |e: &&karpenter_operator::events::Event| {
        e.regarding.name == name && matches!(e.regarding.kind.as_str(), "NodeClaim" | "Node")
    };
    let interesting = |e: &&karpenter_operator::events::Event| {
        // Events that say why a node stays or what happens to pods do not say why it went.
        !matches!(
            e.reason.as_str(),
            "Nominated"
                | "FailedScheduling"
                | "Evicted"
                | "FailedDraining"
                | "DisruptionBlocked"
                | "Unconsolidatable"
        )
    };
    fresh
        .iter()
        .rev()
        .filter(about)
        .find(interesting)
        .or_else(|| events.iter().rev().filter(about).find(interesting))
        .map_or_else(|| "deleted".to_string(), |e| format!("{}: {}", e.reason, e.message))
}

/// A sum of prices to a millionth, so that float noise does not show.
pub(crate) fn money(value: f64) -> f64 {
    (value * 1e6).round() / 1e6 + 0.0
}

/// The timeline as a table.
pub(crate) fn render_timeline(rows: &[Row]) -> String {
    let mut out = String::from("TIME      PENDING  NODES   $/HOUR  EVENT\n");
    for row in rows {
        let line = format!(
            "{:<9} {:>7} {:>6} {:>8.4}  {}",
            row.time, row.pending, row.nodes, row.cost_per_hour, row.event
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// The summary as text.
pub(crate) fn render_summary(summary: &Summary) -> String {
    let mut out = String::new();
    let seconds = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |s| format!("{s:.0}s"));
    let removed = if summary.node_claims_removed.is_empty() {
        "none".to_string()
    } else {
        summary.node_claims_removed.iter().map(|(r, n)| format!("{n} ({r})")).collect::<Vec<_>>().join(", ")
    };
    let _ = writeln!(
        out,
        "Summary of scenario {} (seed {}), {} simulated",
        summary.scenario, summary.seed, summary.simulated
    );
    let _ = writeln!(out, "  NodeClaims launched:        {}", summary.node_claims_launched);
    let _ = writeln!(out, "  NodeClaims removed:         {removed}");
    let _ = writeln!(out, "  launches failed:            {}", summary.launch_failures);
    let _ = writeln!(out, "  peak nodes:                 {}", summary.peak_nodes);
    let _ = writeln!(out, "  node-hours:                 {:.2}", summary.node_hours);
    let _ = writeln!(out, "  total cost:                 ${:.4}", summary.total_cost);
    let _ = writeln!(out, "  peak cost:                  ${:.4}/h", summary.peak_cost_per_hour);
    let _ = writeln!(out, "  pods created:               {}", summary.pods_created);
    let _ = writeln!(out, "  pods bound:                 {}", summary.pods_bound);
    let _ = writeln!(
        out,
        "  pending-to-bound latency:   p50 {}, p99 {}, max {}",
        seconds(summary.latency_p50_seconds),
        seconds(summary.latency_p99_seconds),
        seconds(summary.latency_max_seconds)
    );
    let _ = writeln!(
        out,
        "  pods never scheduled:       {} ({} still pending at the end)",
        summary.pods_never_scheduled, summary.pods_pending_at_end
    );
    out
}
