//! `karpenter run --cloud-provider aws`: the AWS provider built from the process's AWS configuration, the
//! EC2NodeClass status controller that resolves every node class (subnets, security groups, images, instance
//! profile) and writes the result to its status (`aws/karpenter-provider-aws: pkg/controllers/nodeclass/
//! controller.go`, `pkg/operator/operator.go`), and, when `INTERRUPTION_QUEUE` names an SQS queue, the
//! interruption controller over it (`pkg/controllers/interruption/controller.go`;
//! [`karpenter_operator::interruption`]).
//!
//! The provider launches only from node classes the controller has registered with it, and the NodePool status
//! controller reads the `Ready` condition written here; so a node class is used exactly when its status says it
//! can be. AWS endpoints, region and credentials come from the standard AWS environment (`AWS_REGION`,
//! `AWS_ENDPOINT_URL`, profiles, the pod's web identity), as the AWS SDKs read it everywhere.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Service;
use karpenter_api::EC2NodeClass;
use karpenter_aws::{AwsProvider, Settings};
use karpenter_cloud::CloudProvider;
use karpenter_operator::clock::{Clock, SystemClock};
use karpenter_operator::interruption::{self, InterruptionMetrics};
use karpenter_snapshot::{ProviderFlags, node_class_settings};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use prometheus_client::registry::Registry;
use serde_json::json;

use super::{Background, Extra, RunContext};

/// How often a node class is resolved again: subnets fill up and images are deprecated without any change to
/// the object. Upstream looks at subnets every minute and at images and security groups every 5; one
/// resolution covers all of them here, so it runs at the shortest of those periods.
const RESOLVE_EVERY: Duration = Duration::from_secs(60);
/// How soon a node class whose lookups failed for a passing reason is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(10);

/// The AWS provider's own flags (upstream's names).
#[derive(Debug, Clone, Args)]
pub(crate) struct AwsArgs {
    /// The API server's URL, written into the nodes' user data.
    #[arg(long, env = "CLUSTER_ENDPOINT", default_value = "")]
    cluster_endpoint: String,
    /// The cluster's service CIDR, which AL2023 nodes are bootstrapped with. Upstream asks EKS for it
    /// (DescribeCluster); here it is given, so that any cluster works.
    #[arg(long, env = "CLUSTER_CIDR")]
    cluster_cidr: Option<String>,
    /// Memory the hypervisor keeps from each instance, as a fraction.
    #[arg(long, env = "VM_MEMORY_OVERHEAD_PERCENT", default_value_t = ProviderFlags::default().vm_memory_overhead_percent)]
    vm_memory_overhead_percent: f64,
    /// Network interfaces kept back from pods on every instance.
    #[arg(long, env = "RESERVED_ENIS", default_value_t = ProviderFlags::default().reserved_enis)]
    reserved_enis: u32,
    /// The SQS queue EventBridge sends interruption events to (spot interruptions, rebalance recommendations,
    /// scheduled changes, state changes); unset, interruptions are not handled.
    #[arg(long, env = "INTERRUPTION_QUEUE")]
    interruption_queue: Option<String>,
}

impl AwsArgs {
    fn flags(&self) -> ProviderFlags {
        ProviderFlags {
            reserved_enis: self.reserved_enis,
            vm_memory_overhead_percent: self.vm_memory_overhead_percent,
        }
    }
}

/// The cluster DNS address nodes are given unless their EC2NodeClass sets one: the `kube-system/kube-dns`
/// Service's cluster IP, as upstream finds it; none when the cluster has no such Service.
async fn kube_dns(client: &kube::Client) -> Option<String> {
    let services: Api<Service> = Api::namespaced(client.clone(), "kube-system");
    match services.get_opt("kube-dns").await {
        Ok(service) => service.and_then(|s| s.spec?.cluster_ip).filter(|ip| !ip.is_empty() && ip != "None"),
        Err(error) => {
            tracing::warn!(%error, "cannot read the kube-system/kube-dns Service; nodes get no cluster DNS address");
            None
        }
    }
}

/// The provider, from the AWS environment and the cluster's name.
pub(crate) async fn provider(
    client: &kube::Client,
    cluster_name: &str,
    args: &AwsArgs,
) -> Result<Arc<AwsProvider>> {
    if cluster_name.is_empty() {
        bail!("--cloud-provider aws needs CLUSTER_NAME (--cluster-name): every instance is tagged with it");
    }
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let region = config
        .region()
        .map(ToString::to_string)
        .context("--cloud-provider aws: no AWS region is configured; set AWS_REGION")?;
    let mut settings = Settings::new(cluster_name, &args.cluster_endpoint, &region);
    settings.cluster_cidr = args.cluster_cidr.clone();
    settings.cluster_dns = kube_dns(client).await;
    settings.interruption_queue = args.interruption_queue.clone().filter(|name| !name.is_empty());
    Ok(Arc::new(AwsProvider::new(&config, settings)))
}

/// The AWS provider's controllers beside the core ones: the EC2NodeClass status controller, and the
/// interruption controller when a queue is configured, whose metrics are registered with the operator's.
pub(super) fn controllers<P: CloudProvider + 'static>(
    client: kube::Client,
    provider: Arc<AwsProvider>,
    args: AwsArgs,
) -> Extra<P> {
    Box::new(move |ctx: &Arc<RunContext<P>>, registry: &mut Registry| {
        let mut controllers: Vec<Background> =
            vec![Box::pin(node_class_controller(client, Arc::clone(&provider), args))];
        if let Some(queue) = provider.interruption_notices() {
            let metrics = InterruptionMetrics::default();
            metrics.register(registry);
            controllers.push(Box::pin(interruption::run(Arc::clone(ctx), queue, metrics)));
        }
        controllers
    })
}

/// What the status controller reconciles with.
struct NodeClasses {
    api: Api<EC2NodeClass>,
    provider: Arc<AwsProvider>,
    flags: ProviderFlags,
}

/// Why a node class could not be reconciled.
#[derive(Debug, thiserror::Error)]
enum ReconcileError {
    #[error("EC2NodeClass {name}: writing its status: {source}")]
    Status { name: String, source: kube::Error },
}

/// Runs the EC2NodeClass status controller until the process stops.
pub(crate) async fn node_class_controller(client: kube::Client, provider: Arc<AwsProvider>, args: AwsArgs) {
    let api: Api<EC2NodeClass> = Api::all(client);
    let context = Arc::new(NodeClasses { api: api.clone(), provider, flags: args.flags() });
    Controller::new(api, watcher::Config::default())
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "EC2NodeClass reconcile");
            }
        })
        .await;
}

async fn reconcile(node_class: Arc<EC2NodeClass>, ctx: Arc<NodeClasses>) -> Result<Action, ReconcileError> {
    let name = node_class.metadata.name.clone().unwrap_or_default();
    if node_class.metadata.deletion_timestamp.is_some() {
        ctx.provider.remove_node_class(&name);
        return Ok(Action::await_change());
    }
    let now = SystemTime::from(SystemClock.now());
    let resolution = ctx.provider.resolve_node_class(&node_class, now).await;
    for error in &resolution.api_errors {
        tracing::warn!(node_class = %name, %error, "EC2NodeClass resolution: a lookup failed; keeping its last result");
    }
    if node_class.status.as_ref() != Some(&resolution.status) {
        ctx.api
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": resolution.status })),
            )
            .await
            .map_err(|source| ReconcileError::Status { name: name.clone(), source })?;
    }
    let mut resolved = (*node_class).clone();
    resolved.status = Some(resolution.status);
    match node_class_settings(&resolved, &ctx.flags) {
        Ok(settings) => {
            if let Err(error) = ctx.provider.set_node_class(&resolved, settings) {
                tracing::warn!(node_class = %name, %error, "EC2NodeClass cannot be used for launches");
                ctx.provider.remove_node_class(&name);
            }
        }
        Err(error) => {
            tracing::warn!(node_class = %name, %error, "EC2NodeClass cannot be used for launches");
            ctx.provider.remove_node_class(&name);
        }
    }
    Ok(Action::requeue(if resolution.api_errors.is_empty() { RESOLVE_EVERY } else { RETRY_AFTER }))
}

fn error_policy(_: Arc<EC2NodeClass>, error: &ReconcileError, _: Arc<NodeClasses>) -> Action {
    tracing::warn!(%error, "retrying");
    Action::requeue(RETRY_AFTER)
}
