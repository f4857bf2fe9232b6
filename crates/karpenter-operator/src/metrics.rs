//! The controller's metrics, under upstream's names and labels (`kubernetes-sigs/karpenter: pkg/metrics/metrics.go`,
//! `pkg/controllers/provisioning/scheduling/metrics.go`, `pkg/controllers/node/termination/terminator/metrics.go`,
//! `pkg/controllers/disruption/metrics.go`),
//! so that dashboards built for Karpenter keep working. Labels are low-cardinality: NodePool, zone, capacity type,
//! reason; never an object's name.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of NodeClaim counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct NodeClaimLabels {
    /// The NodePool.
    pub nodepool: String,
    /// Why (`provisioning`, `insufficient_capacity`, `launch_timeout`, ...); empty where upstream has none.
    pub reason: String,
}

/// Labels of `karpenter_nodeclaims_disrupted_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DisruptedLabels {
    /// Why (`empty`, `underutilized`, `drifted`, `expired`, `insufficient_capacity`, `launch_timeout`, ...).
    pub reason: String,
    /// The NodePool.
    pub nodepool: String,
    /// The NodeClaim's capacity type label; empty while it has none.
    pub capacity_type: String,
}

/// Labels of disruption decisions (`karpenter_voluntary_disruption_decisions_total`, `..._queue_failures_total`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `delete` or `replace`.
    pub decision: String,
    /// The disruption reason, lower case (`empty`, `underutilized`, `drifted`, `unhealthy`).
    pub reason: String,
    /// `empty`, `multi`, `single`, or empty for methods that are not consolidation.
    pub consolidation_type: String,
}

/// Labels of `karpenter_voluntary_disruption_decision_evaluation_duration_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct EvaluationLabels {
    /// The disruption reason of the method that acted, lower case; empty when none did.
    pub reason: String,
    /// Its consolidation type, as in [`DecisionLabels`].
    pub consolidation_type: String,
}

/// Labels of `karpenter_voluntary_disruption_eligible_nodes`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReasonLabels {
    /// The disruption reason, lower case.
    pub reason: String,
}

/// Labels of `karpenter_voluntary_disruption_failed_validations_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ConsolidationTypeLabels {
    /// `empty`, `multi` or `single`.
    pub consolidation_type: String,
}

/// Labels of node counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct NodeLabels {
    /// The NodePool.
    pub nodepool: String,
    /// The zone.
    pub zone: String,
}

/// Labels of eviction requests.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CodeLabels {
    /// The HTTP-like code of the answer (`200`, `429`, `404`...).
    pub code: String,
}

/// Labels of cloud-provider calls.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ProviderCallLabels {
    /// The method, as upstream names it (`Create`, `GetInstanceTypes`...).
    pub method: String,
    /// The provider (`kwok`, `aws`).
    pub provider: String,
}

/// Labels of cloud-provider errors.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ProviderErrorLabels {
    /// The method.
    pub method: String,
    /// The provider.
    pub provider: String,
    /// The error's kind (`InsufficientCapacityError`...).
    pub error: String,
}

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
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
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
}
