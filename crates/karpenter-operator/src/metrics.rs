//! The controller's metrics, under upstream's names and labels (`kubernetes-sigs/karpenter: pkg/metrics/metrics.go`,
//! `pkg/controllers/provisioning/scheduling/metrics.go`, `pkg/controllers/node/termination/terminator/metrics.go`),
//! so that dashboards built for Karpenter keep working. Labels are low-cardinality: NodePool, zone, capacity type,
//! reason; never an object's name.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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
    /// `karpenter_nodeclaims_disrupted_total`: deleted by the controller itself (capacity, timeouts, garbage).
    pub node_claims_disrupted: Family<NodeClaimLabels, Counter>,
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
    }
}
