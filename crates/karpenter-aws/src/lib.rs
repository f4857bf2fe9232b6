//! The AWS cloud provider: it turns a NodeClaim into one EC2 instance through a launch template and a
//! CreateFleet `instant` request over the cheapest offerings, resolves EC2NodeClasses into their status, keeps
//! the instance-type catalog fresh, and reads interruption events from SQS. Behaviour follows
//! `aws/karpenter-provider-aws` (`pkg/cloudprovider`, `pkg/providers/*`, `pkg/batcher`, `pkg/controllers/interruption`);
//! each module names the files it follows.
//!
//! The entry point is [`AwsProvider`], a [`karpenter_cloud::CloudProvider`]. The controller builds it from an
//! `aws_config::SdkConfig` and [`Settings`], then:
//! - resolves each EC2NodeClass with [`AwsProvider::resolve_node_class`] and writes the returned status;
//! - registers each EC2NodeClass (with its status and the catalog settings of its snapshot mapping) with
//!   [`AwsProvider::set_node_class`], so that launches and instance types of its NodePools use it;
//! - refreshes the catalog with [`AwsProvider::refresh_catalog`] (12-hourly upstream);
//! - when `--interruption-queue` is set, runs the neutral interruption controller over
//!   [`AwsProvider::interruption_notices`], which reads the SQS queue and marks interrupted spot offerings
//!   unavailable.
//!
//! This crate never talks to the Kubernetes API server (`docs/design/0011-aws-provider.md`).

pub mod ami;
pub mod batcher;
pub mod error;
pub mod fleet;
pub mod instance;
pub mod interruption;
pub mod launch;
pub mod launch_template;
pub mod nodeclass;
mod provider;
pub mod refresh;
mod settings;
pub mod unavailable;
pub mod userdata;

pub use provider::{AwsProvider, node_class_kind, node_labels, node_taints, solver_config};
pub use settings::Settings;

/// One client per AWS service the provider calls.
#[derive(Debug, Clone)]
pub struct Clients {
    /// EC2: subnets, security groups, images, launch templates, fleets, instances, instance types, prices.
    pub ec2: aws_sdk_ec2::Client,
    /// SSM: the public parameters of AMI aliases, and `ssmParameter` selector terms.
    pub ssm: aws_sdk_ssm::Client,
    /// IAM: instance profiles.
    pub iam: aws_sdk_iam::Client,
    /// SQS: the interruption queue.
    pub sqs: aws_sdk_sqs::Client,
    /// The pricing API, on the endpoint region that serves the provider's region.
    pub pricing: aws_sdk_pricing::Client,
}

impl Clients {
    /// Clients over one SDK configuration; the pricing client talks to the region that publishes prices
    /// for the configuration's region.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        let region = config.region().map(|r| r.as_ref().to_string()).unwrap_or_default();
        let pricing = aws_sdk_pricing::config::Builder::from(config)
            .region(aws_config::Region::new(refresh::pricing_region(&region)))
            .build();
        Clients {
            ec2: aws_sdk_ec2::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
            iam: aws_sdk_iam::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            pricing: aws_sdk_pricing::Client::from_conf(pricing),
        }
    }
}

impl AwsProvider {
    /// Refreshes the instance-type catalog from the live APIs and uses it from now on; parts that fail keep
    /// what the provider had (see [`refresh`]). `now` is when spot prices are read from.
    pub async fn refresh_catalog(&self, now: std::time::SystemTime) -> refresh::RefreshReport {
        let current = self.catalog();
        let (catalog, report) =
            refresh::refresh(self.clients(), &self.settings().region, &current, now).await;
        self.set_catalog(catalog);
        report
    }

    /// The interruption queue of the settings, if one is configured.
    pub fn interruption_queue(&self) -> Option<interruption::InterruptionQueue> {
        let name = self.settings().interruption_queue.as_deref()?;
        Some(interruption::InterruptionQueue::new(self.clients().sqs.clone(), name))
    }

    /// The interruption queue of the settings as the controller polls it: its messages as notices, and
    /// interrupted spot offerings marked unavailable in this provider. `None` when no queue is configured.
    pub fn interruption_notices(self: &std::sync::Arc<Self>) -> Option<interruption::AwsInterruptionQueue> {
        let queue = self.interruption_queue()?;
        Some(interruption::AwsInterruptionQueue::new(queue, std::sync::Arc::clone(self)))
    }
}
