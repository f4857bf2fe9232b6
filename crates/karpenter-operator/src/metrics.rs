//! The controller's metrics, under upstream's names and labels (`kubernetes-sigs/karpenter: pkg/metrics/metrics.go`,
//! `pkg/controllers/provisioning/scheduling/metrics.go`, `pkg/controllers/node/termination/terminator/metrics.go`,
//! `pkg/controllers/disruption/metrics.go`, `pkg/controllers/metrics/{pod,node,nodepool}/controller.go`),
//! so that dashboards built for Karpenter keep working. The counters' and histograms' labels are low-cardinality:
//! NodePool, zone, capacity type, reason. The state gauges (`karpenter_pods_state`, `karpenter_nodes_*`) carry the
//! pod's or node's name as upstream's do: they describe objects, one series each, and
//! [`crate::statemetrics`] removes a series when its object goes.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of NodeClaim counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct NodeClaimLabels {
    /// The NodePool.
    pub nodepool: String,
    /// Why (`provisioning`, `insufficient_capacity`, `launch_timeout`, ...); empty where upstream has none.
    pub reason: String,
}

/// Labels of `karpenter_nodeclaims_disrupted_total`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DisruptedLabels {
    /// Why (`empty`, `underutilized`, `drifted`, `expired`, `insufficient_capacity`, `launch_timeout`, ...).
    pub reason: String,
    /// The NodePool.
    pub nodepool: String,
    /// The NodeClaim's capacity type label; empty while it has none.
    pub capacity_type: String,
}

/// Labels of disruption decisions (`karpenter_voluntary_disruption_decisions_total`, `..._queue_failures_total`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `delete` or `replace`.
    pub decision: String,
    /// The disruption reason, lower case (`empty`, `underutilized`, `drifted`, `unhealthy`).
    pub reason: String,
    /// `empty`, `multi`, `single`, or empty for methods that are not consolidation.
    pub consolidation_type: String,
}

/// Labels of `karpenter_voluntary_disruption_decision_evaluation_duration_seconds`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct EvaluationLabels {
    /// The disruption reason of the method that acted, lower case; empty when none did.
    pub reason: String,
    /// Its consolidation type, as in [`DecisionLabels`].
    pub consolidation_type: String,
}

/// Labels of `karpenter_voluntary_disruption_eligible_nodes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReasonLabels {
    /// The disruption reason, lower case.
    pub reason: String,
}

/// Labels of `karpenter_voluntary_disruption_failed_validations_total`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ConsolidationTypeLabels {
    /// `empty`, `multi` or `single`.
    pub consolidation_type: String,
}

/// Labels of node counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct NodeLabels {
    /// The NodePool.
    pub nodepool: String,
    /// The zone.
    pub zone: String,
}

/// Labels of eviction requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CodeLabels {
    /// The HTTP-like code of the answer (`200`, `429`, `404`...).
    pub code: String,
}

/// Labels of cloud-provider calls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ProviderCallLabels {
    /// The method, as upstream names it (`Create`, `GetInstanceTypes`...).
    pub method: String,
    /// The provider (`kwok`, `aws`).
    pub provider: String,
}

/// Labels of cloud-provider errors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ProviderErrorLabels {
    /// The method.
    pub method: String,
    /// The provider.
    pub provider: String,
    /// The error's kind (`InsufficientCapacityError`...).
    pub error: String,
}

/// Labels of `karpenter_pods_state`: the pod, its owner, and the node it is bound to (empty while unbound).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, EncodeLabelSet)]
pub struct PodStateLabels {
    /// The pod's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Its first owner as `/apis/<apiVersion>/namespaces/<namespace>/<kind>s/<name>`, in lower case.
    pub owner: String,
    /// The node it is bound to.
    pub node: String,
    /// `true` when bound to a node.
    pub scheduled: String,
    /// The node's NodePool.
    pub nodepool: String,
    /// The node's zone.
    pub zone: String,
    /// The node's architecture.
    pub arch: String,
    /// The node's capacity type.
    pub capacity_type: String,
    /// The node's instance type.
    pub instance_type: String,
    /// The pod's phase (`Pending`, `Running`, ...).
    pub phase: String,
    /// `true` when its `Ready` condition is true.
    pub ready: String,
    /// `true` when its node belongs to a NodePool.
    pub managed: String,
}

/// Labels of `karpenter_nodepools_usage` and `karpenter_nodepools_limit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, EncodeLabelSet)]
pub struct NodePoolResourceLabels {
    /// The NodePool.
    pub nodepool: String,
    /// The resource in lower case with `_` for `-` (`cpu`, `memory`, `ephemeral_storage`, `nodes`).
    pub resource_type: String,
}

/// Labels of the node gauges: the node, its phase, whether a NodeClaim stands for it, and its well-known labels
/// under their last path segment in snake case.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, EncodeLabelSet)]
pub struct NodeStateLabels {
    /// The node's name.
    pub node_name: String,
    /// `status.phase` (empty on most nodes: the kubelet no longer sets it).
    pub phase: String,
    /// `true` when a NodeClaim has the node's provider id.
    pub managed: String,
    /// `karpenter.sh/nodepool`.
    pub nodepool: String,
    /// `topology.kubernetes.io/zone`.
    pub zone: String,
    /// `topology.kubernetes.io/region`.
    pub region: String,
    /// `node.kubernetes.io/instance-type`.
    pub instance_type: String,
    /// `kubernetes.io/arch`.
    pub arch: String,
    /// `kubernetes.io/os`.
    pub os: String,
    /// `karpenter.sh/capacity-type`.
    pub capacity_type: String,
    /// `node.kubernetes.io/windows-build`.
    pub windows_build: String,
}

/// Labels of the node resource gauges (`karpenter_nodes_allocatable`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, EncodeLabelSet)]
pub struct NodeResourceLabels {
    /// The node.
    #[prometheus(flatten)]
    pub node: NodeStateLabels,
    /// The resource, as in [`NodePoolResourceLabels`].
    pub resource_type: String,
}

/// A gauge of fractional values (CPU cores, seconds).
pub type FloatGauge = Gauge<f64, AtomicU64>;

/// `karpenter_cloudprovider_duration_seconds` and `karpenter_cloudprovider_errors_total`, fed by the
/// [`karpenter_cloud::Metered`] decorator through its observer.
#[derive(Debug, Clone)]
pub struct CloudProviderMetrics {
    /// Call durations.
    pub duration: Family<ProviderCallLabels, Histogram>,
    /// Failed calls.
    pub errors: Family<ProviderErrorLabels, Counter>,
}

impl Default for CloudProviderMetrics {
    fn default() -> Self {
        CloudProviderMetrics {
            duration: Family::new_with_constructor(duration_histogram),
            errors: Family::default(),
        }
    }
}

impl CloudProviderMetrics {
    /// Registers both metrics under the `karpenter` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let karpenter = registry.sub_registry_with_prefix("karpenter");
        karpenter.register(
            "cloudprovider_duration_seconds",
            "Duration of cloud provider calls",
            self.duration.clone(),
        );
        karpenter.register("cloudprovider_errors", "Failed cloud provider calls", self.errors.clone());
    }
}

impl karpenter_cloud::Observer for CloudProviderMetrics {
    fn observe(
        &self,
        provider: &str,
        method: karpenter_cloud::Method,
        elapsed: std::time::Duration,
        error: Option<&karpenter_cloud::Error>,
    ) {
        let labels =
            ProviderCallLabels { method: method.as_str().to_string(), provider: provider.to_string() };
        self.duration.get_or_create(&labels).observe(elapsed.as_secs_f64());
        if let Some(error) = error {
            self.errors
                .get_or_create(&ProviderErrorLabels {
                    method: labels.method,
                    provider: labels.provider,
                    error: error.kind().to_string(),
                })
                .inc();
        }
    }
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// Buckets from half a second to about 17 minutes: a pod that waits for a new node starts in a minute or two, one
/// that lands on an existing node in seconds.
fn startup_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.5, 2.0, 12))
}

/// The counters and histograms every reconciler updates. Cloning shares them.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// `karpenter_nodeclaims_created_total`.
    pub node_claims_created: Family<NodeClaimLabels, Counter>,
    /// `karpenter_nodeclaims_terminated_total`.
    pub node_claims_terminated: Family<NodeClaimLabels, Counter>,
    /// `karpenter_nodeclaims_disrupted_total`: deleted by the controller itself (disruption, expiration,
    /// capacity, timeouts, garbage).
    pub node_claims_disrupted: Family<DisruptedLabels, Counter>,
    /// `karpenter_nodes_created_total`: nodes registered.
    pub nodes_created: Family<NodeLabels, Counter>,
    /// `karpenter_nodes_terminated_total`.
    pub nodes_terminated: Family<NodeLabels, Counter>,
    /// `karpenter_nodes_eviction_requests_total`.
    pub eviction_requests: Family<CodeLabels, Counter>,
    /// `karpenter_provisioner_scheduling_duration_seconds`: one solve.
    pub scheduling_duration: Histogram,
    /// `karpenter_cloudprovider_errors_total` is the `Metered` decorator's; this counts failed reconciles.
    pub reconcile_errors: Counter,
    /// `karpenter_voluntary_disruption_decisions_total`: commands the disruption controller started.
    pub disruption_decisions: Family<DecisionLabels, Counter>,
    /// `karpenter_voluntary_disruption_eligible_nodes`: candidates of each reason in the last pass.
    pub disruption_eligible_nodes: Family<ReasonLabels, Gauge>,
    /// `karpenter_voluntary_disruption_decision_evaluation_duration_seconds`: one disruption pass.
    pub disruption_evaluation_duration: Family<EvaluationLabels, Histogram>,
    /// `karpenter_voluntary_disruption_failed_validations_total`: commands abandoned by the 15-second check.
    pub disruption_failed_validations: Family<ConsolidationTypeLabels, Counter>,
    /// `karpenter_voluntary_disruption_queue_failures_total`: commands rolled back.
    pub disruption_queue_failures: Family<DecisionLabels, Counter>,
    /// `karpenter_provisioner_scheduling_queue_depth`: the pending pods while a round solves; after the solve, the
    /// pods it could not place.
    pub scheduling_queue_depth: Gauge,
    /// `karpenter_pods_state`: 1 for every pod.
    pub pods_state: Family<PodStateLabels, Gauge>,
    /// `karpenter_pods_startup_duration_seconds`: from a pod's creation until it was ready, for pods seen pending.
    pub pods_startup_duration: Histogram,
    /// `karpenter_nodepools_usage`: a NodePool's `status.resources`.
    pub nodepools_usage: Family<NodePoolResourceLabels, FloatGauge>,
    /// `karpenter_nodepools_limit`: a NodePool's `spec.limits`.
    pub nodepools_limit: Family<NodePoolResourceLabels, FloatGauge>,
    /// `karpenter_nodes_allocatable`: a node's `status.allocatable`.
    pub nodes_allocatable: Family<NodeResourceLabels, FloatGauge>,
    /// `karpenter_nodes_total_pod_requests`: requests of the pods bound to a node, DaemonSet pods included.
    pub nodes_total_pod_requests: Family<NodeResourceLabels, FloatGauge>,
    /// `karpenter_nodes_total_daemon_requests`: requests of the DaemonSet pods bound to a node.
    pub nodes_total_daemon_requests: Family<NodeResourceLabels, FloatGauge>,
    /// `karpenter_nodes_system_overhead`: a node's capacity less its allocatable.
    pub nodes_system_overhead: Family<NodeResourceLabels, FloatGauge>,
    /// `karpenter_nodes_current_lifetime_seconds`: a node's age.
    pub nodes_current_lifetime: Family<NodeStateLabels, FloatGauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            node_claims_created: Family::default(),
            node_claims_terminated: Family::default(),
            node_claims_disrupted: Family::default(),
            nodes_created: Family::default(),
            nodes_terminated: Family::default(),
            eviction_requests: Family::default(),
            scheduling_duration: duration_histogram(),
            reconcile_errors: Counter::default(),
            disruption_decisions: Family::default(),
            disruption_eligible_nodes: Family::default(),
            disruption_evaluation_duration: Family::new_with_constructor(duration_histogram),
            disruption_failed_validations: Family::default(),
            disruption_queue_failures: Family::default(),
            scheduling_queue_depth: Gauge::default(),
            pods_state: Family::default(),
            pods_startup_duration: startup_histogram(),
            nodepools_usage: Family::default(),
            nodepools_limit: Family::default(),
            nodes_allocatable: Family::default(),
            nodes_total_pod_requests: Family::default(),
            nodes_total_daemon_requests: Family::default(),
            nodes_system_overhead: Family::default(),
            nodes_current_lifetime: Family::default(),
        }
    }
}

impl Metrics {
    /// Registers every metric (sharing the counters) in `registry`, under the `karpenter` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let karpenter = registry.sub_registry_with_prefix("karpenter");
        karpenter.register(
            "nodeclaims_created",
            "NodeClaims created, by NodePool and reason",
            self.node_claims_created.clone(),
        );
        karpenter.register(
            "nodeclaims_terminated",
            "NodeClaims whose instance was terminated and finalizer removed",
            self.node_claims_terminated.clone(),
        );
        karpenter.register(
            "nodeclaims_disrupted",
            "NodeClaims the controller deleted, by reason",
            self.node_claims_disrupted.clone(),
        );
        karpenter.register("nodes_created", "Nodes registered", self.nodes_created.clone());
        karpenter.register(
            "nodes_terminated",
            "Nodes whose finalizer was removed",
            self.nodes_terminated.clone(),
        );
        karpenter.register(
            "nodes_eviction_requests",
            "Eviction requests, by response code",
            self.eviction_requests.clone(),
        );
        karpenter.register(
            "provisioner_scheduling_duration_seconds",
            "Duration of one provisioning solve",
            self.scheduling_duration.clone(),
        );
        karpenter.register(
            "reconcile_errors",
            "Reconciles that failed and were retried",
            self.reconcile_errors.clone(),
        );
        karpenter.register(
            "voluntary_disruption_decisions",
            "Disruption decisions performed, by decision, reason and consolidation type",
            self.disruption_decisions.clone(),
        );
        karpenter.register(
            "voluntary_disruption_eligible_nodes",
            "Nodes eligible for disruption in the last pass, by reason",
            self.disruption_eligible_nodes.clone(),
        );
        karpenter.register(
            "voluntary_disruption_decision_evaluation_duration_seconds",
            "Duration of one disruption pass, by the reason and consolidation type of the method that acted",
            self.disruption_evaluation_duration.clone(),
        );
        karpenter.register(
            "voluntary_disruption_failed_validations",
            "Disruption commands abandoned by the validation 15 seconds after they were computed",
            self.disruption_failed_validations.clone(),
        );
        karpenter.register(
            "voluntary_disruption_queue_failures",
            "Disruption commands that failed or timed out and were rolled back",
            self.disruption_queue_failures.clone(),
        );
        karpenter.register(
            "provisioner_scheduling_queue_depth",
            "Pending pods while a provisioning round solves; after the solve, the pods it could not place",
            self.scheduling_queue_depth.clone(),
        );
        karpenter.register(
            "pods_state",
            "One for every pod, labelled by its phase, readiness, owner and the node it is bound to",
            self.pods_state.clone(),
        );
        karpenter.register(
            "pods_startup_duration_seconds",
            "Time from a pod's creation until it was ready, for pods the controller saw pending",
            self.pods_startup_duration.clone(),
        );
        karpenter.register(
            "nodepools_usage",
            "Resources provisioned for a NodePool, by resource type",
            self.nodepools_usage.clone(),
        );
        karpenter.register(
            "nodepools_limit",
            "Limits of a NodePool, by resource type",
            self.nodepools_limit.clone(),
        );
        karpenter.register(
            "nodes_allocatable",
            "Resources allocatable on a node",
            self.nodes_allocatable.clone(),
        );
        karpenter.register(
            "nodes_total_pod_requests",
            "Requests of the pods bound to a node, DaemonSet pods included",
            self.nodes_total_pod_requests.clone(),
        );
        karpenter.register(
            "nodes_total_daemon_requests",
            "Requests of the DaemonSet pods bound to a node",
            self.nodes_total_daemon_requests.clone(),
        );
        karpenter.register(
            "nodes_system_overhead",
            "Resources of a node reserved for the system: its capacity less its allocatable",
            self.nodes_system_overhead.clone(),
        );
        karpenter.register(
            "nodes_current_lifetime_seconds",
            "Age of a node in seconds",
            self.nodes_current_lifetime.clone(),
        );
    }
}

impl DisruptedLabels {
    /// The labels for a NodeClaim deleted for `reason`: its NodePool and capacity type labels.
    pub fn of(claim: &karpenter_api::NodeClaim, reason: &str) -> Self {
        let label =
            |key: &str| claim.metadata.labels.as_ref().and_then(|l| l.get(key)).cloned().unwrap_or_default();
        DisruptedLabels {
            reason: reason.to_string(),
            nodepool: label(karpenter_api::labels::label::NODE_POOL),
            capacity_type: label(karpenter_api::labels::label::CAPACITY_TYPE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disruption_metrics_render_under_upstream_names_and_labels() {
        let metrics = Metrics::default();
        let decision = DecisionLabels {
            decision: "delete".into(),
            reason: "empty".into(),
            consolidation_type: "empty".into(),
        };
        metrics.disruption_decisions.get_or_create(&decision).inc();
        metrics.disruption_queue_failures.get_or_create(&decision).inc();
        metrics.disruption_eligible_nodes.get_or_create(&ReasonLabels { reason: "empty".into() }).set(3);
        metrics
            .disruption_evaluation_duration
            .get_or_create(&EvaluationLabels { reason: "empty".into(), consolidation_type: "empty".into() })
            .observe(0.02);
        metrics
            .disruption_failed_validations
            .get_or_create(&ConsolidationTypeLabels { consolidation_type: "single".into() })
            .inc();
        metrics
            .node_claims_disrupted
            .get_or_create(&DisruptedLabels {
                reason: "expired".into(),
                nodepool: "default".into(),
                capacity_type: "spot".into(),
            })
            .inc_by(2);
        let text = crate::testing::scraped(|registry| metrics.register(registry));
        for line in [
            "karpenter_voluntary_disruption_decisions_total{decision=\"delete\",reason=\"empty\",consolidation_type=\"empty\"} 1",
            "karpenter_voluntary_disruption_queue_failures_total{decision=\"delete\",reason=\"empty\",consolidation_type=\"empty\"} 1",
            "karpenter_voluntary_disruption_eligible_nodes{reason=\"empty\"} 3",
            "karpenter_voluntary_disruption_decision_evaluation_duration_seconds_count{reason=\"empty\",consolidation_type=\"empty\"} 1",
            "karpenter_voluntary_disruption_failed_validations_total{consolidation_type=\"single\"} 1",
            "karpenter_nodeclaims_disrupted_total{reason=\"expired\",nodepool=\"default\",capacity_type=\"spot\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
    }

    /// One series with empty labels in a family: the text encoder leaves out families that have none.
    fn touch<S, M, C>(family: &Family<S, M, C>)
    where
        S: Clone + std::hash::Hash + Eq + Default,
        M: Clone,
        C: prometheus_client::metrics::family::MetricConstructor<M>,
    {
        family.get_or_create_owned(&S::default());
    }

    /// Every metric name a scrape of the controller can show: a counter as `<name>_total`, a histogram as its
    /// `_bucket`, `_sum` and `_count` series, a gauge as itself.
    fn scraped_names() -> std::collections::BTreeSet<String> {
        let (metrics, provider) = (Metrics::default(), CloudProviderMetrics::default());
        touch(&metrics.node_claims_created);
        touch(&metrics.node_claims_terminated);
        touch(&metrics.node_claims_disrupted);
        touch(&metrics.nodes_created);
        touch(&metrics.nodes_terminated);
        touch(&metrics.eviction_requests);
        touch(&metrics.disruption_decisions);
        touch(&metrics.disruption_eligible_nodes);
        touch(&metrics.disruption_evaluation_duration);
        touch(&metrics.disruption_failed_validations);
        touch(&metrics.disruption_queue_failures);
        touch(&metrics.pods_state);
        touch(&metrics.nodepools_usage);
        touch(&metrics.nodepools_limit);
        touch(&metrics.nodes_allocatable);
        touch(&metrics.nodes_total_pod_requests);
        touch(&metrics.nodes_total_daemon_requests);
        touch(&metrics.nodes_system_overhead);
        touch(&metrics.nodes_current_lifetime);
        touch(&provider.duration);
        touch(&provider.errors);
        let text = crate::testing::scraped(|registry| {
            metrics.register(registry);
            provider.register(registry);
        });
        let mut names = std::collections::BTreeSet::new();
        for line in text.lines() {
            let mut words = line.split(' ');
            let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
                (words.next(), words.next(), words.next(), words.next())
            else {
                continue;
            };
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                _ => &[""],
            };
            names.extend(suffixes.iter().map(|suffix| format!("{name}{suffix}")));
        }
        names
    }

    fn exprs(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(fields) => {
                for (key, field) in fields {
                    match field {
                        serde_json::Value::String(expr) if key == "expr" => out.push(expr.clone()),
                        _ => exprs(field, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|item| exprs(item, out)),
            _ => {}
        }
    }

    #[test]
    fn every_metric_the_dashboard_queries_is_registered() {
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../../charts/karpenter/dashboards/karpenter.json"))
                .unwrap();
        let mut queries = Vec::new();
        exprs(&dashboard, &mut queries);
        assert!(queries.len() > 10, "the dashboard's queries are found: {queries:?}");
        let registered = scraped_names();
        assert!(registered.contains("karpenter_pods_startup_duration_seconds_bucket"), "{registered:?}");
        let mut unknown = Vec::new();
        for query in &queries {
            // Metric names are the words that start with `karpenter_`; label names and values never do.
            let words = query.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
            for name in words.filter(|w| w.starts_with("karpenter_")) {
                if !registered.contains(name) {
                    unknown.push(format!("{name} in {query}"));
                }
            }
        }
        assert!(unknown.is_empty(), "not registered:\n{}", unknown.join("\n"));
    }
}
