//! moto as the tests' AWS (`cargo xtask moto up`): a VPC with subnets tagged for discovery in two zones, a
//! security group, an arm64 image, a node role, a provider over it, and a way to make chosen offerings run
//! out of capacity. moto is shared, so every name and tag carries a unique cluster name.
#![cfg(feature = "cluster-tests")]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use aws_sdk_ec2::config::interceptors::{
    BeforeSerializationInterceptorContextMut, FinalizerInterceptorContextMut,
};
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::BoxError;
use aws_sdk_ec2::operation::create_fleet::{CreateFleetInput, CreateFleetOutput};
use aws_sdk_ec2::types::{
    CreateFleetError, DefaultTargetCapacityType, FleetLaunchTemplateOverrides,
    LaunchTemplateAndOverridesResponse, ResourceType, Tag, TagSpecification,
};
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use karpenter_api::{AmiSelectorTerm, EC2NodeClass};
use karpenter_aws::{AwsProvider, Clients};
use karpenter_cloud::OfferingKey;

use super::support::settings;

/// What was made in moto for one test.
#[derive(Debug, Clone)]
pub(crate) struct Seeded {
    /// The cluster name: the discovery tag's value and the cluster tag.
    pub(crate) cluster: String,
    /// Subnet ids, us-east-1a then us-east-1b.
    pub(crate) subnets: Vec<String>,
    /// The cluster security group.
    pub(crate) security_group: String,
    /// An arm64 image.
    pub(crate) arm64_image: String,
    /// An x86_64 image.
    pub(crate) amd64_image: String,
    /// The node role.
    pub(crate) role: String,
    /// The SDK configuration pointed at moto.
    pub(crate) config: aws_config::SdkConfig,
}

fn tags(resource: ResourceType, pairs: &[(&str, &str)]) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource)
        .set_tags(Some(pairs.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build()).collect()))
        .build()
}

/// Seeds a VPC, two tagged private subnets, a tagged security group and a node role, and picks an arm64
/// and an x86_64 image of moto's.
pub(crate) async fn seed(purpose: &str) -> Seeded {
    let config = karpenter_test_support::moto().await.unwrap_or_else(|e| panic!("{e}"));
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let cluster = unique(purpose);
    let discovery = [("karpenter.sh/discovery", cluster.as_str())];
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.20.0.0/16")
        .tag_specifications(tags(ResourceType::Vpc, &[("Name", cluster.as_str())]))
        .send()
        .await
        .expect("CreateVpc")
        .vpc()
        .and_then(|v| v.vpc_id())
        .expect("a VPC id")
        .to_string();
    let mut subnets = Vec::new();
    for (zone, cidr) in [("us-east-1a", "10.20.1.0/24"), ("us-east-1b", "10.20.2.0/24")] {
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .availability_zone(zone)
            .cidr_block(cidr)
            .tag_specifications(tags(ResourceType::Subnet, &discovery))
            .send()
            .await
            .expect("CreateSubnet");
        subnets.push(subnet.subnet().and_then(|s| s.subnet_id()).expect("a subnet id").to_string());
    }
    let security_group = ec2
        .create_security_group()
        .vpc_id(&vpc)
        .group_name(format!("{cluster}-nodes"))
        .description("cluster security group")
        .tag_specifications(tags(ResourceType::SecurityGroup, &discovery))
        .send()
        .await
        .expect("CreateSecurityGroup")
        .group_id()
        .expect("a group id")
        .to_string();
    let image = |arch: &'static str| {
        let ec2 = ec2.clone();
        async move {
            let images = ec2
                .describe_images()
                .owners("amazon")
                .filters(aws_sdk_ec2::types::Filter::builder().name("architecture").values(arch).build())
                .send()
                .await
                .expect("DescribeImages");
            let mut ids: Vec<String> =
                images.images().iter().filter_map(|i| i.image_id().map(str::to_string)).collect();
            ids.sort();
            ids.into_iter().next().unwrap_or_else(|| panic!("moto has no {arch} image"))
        }
    };
    let arm64_image = image("arm64").await;
    let amd64_image = image("x86_64").await;
    let iam = aws_sdk_iam::Client::new(&config);
    let role = format!("KarpenterNodeRole-{cluster}");
    iam.create_role()
        .role_name(&role)
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .expect("CreateRole");
    Seeded { cluster, subnets, security_group, arm64_image, amd64_image, role, config }
}

impl Seeded {
    /// The seed document's EC2NodeClass pointed at what was seeded: the discovery tag, the role, and the
    /// arm64 image by id (moto refuses the `/aws/` SSM names aliases read).
    pub(crate) fn node_class(&self, name: &str) -> EC2NodeClass {
        let (mut class, _) = super::support::seed();
        class.metadata.name = Some(name.to_string());
        class.metadata.generation = Some(1);
        class.metadata.uid = Some(format!("uid-{name}"));
        for term in &mut class.spec.subnet_selector_terms {
            term.tags =
                Some([("karpenter.sh/discovery".to_string(), self.cluster.clone())].into_iter().collect());
        }
        for term in &mut class.spec.security_group_selector_terms {
            term.tags =
                Some([("karpenter.sh/discovery".to_string(), self.cluster.clone())].into_iter().collect());
        }
        class.spec.ami_selector_terms =
            vec![AmiSelectorTerm { id: Some(self.arm64_image.clone()), ..Default::default() }];
        class.spec.ami_family = Some(karpenter_api::AmiFamily::AL2023);
        class.spec.role = Some(self.role.clone());
        class
    }

    /// A provider over moto, its EC2 client wrapped by `injector`.
    pub(crate) fn provider(&self, injector: &CapacityInjector) -> AwsProvider {
        let mut clients = Clients::new(&self.config);
        clients.ec2 = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&self.config).interceptor(injector.clone()).build(),
        );
        AwsProvider::from_clients(clients, settings(&self.cluster))
    }

    /// A plain EC2 client on moto, for looking at what the provider did.
    pub(crate) fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.config)
    }

    /// The cluster's instances that are not terminated.
    pub(crate) async fn live_instances(&self) -> Vec<aws_sdk_ec2::types::Instance> {
        let answer = self
            .ec2()
            .describe_instances()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("tag:eks:eks-cluster-name")
                    .values(&self.cluster)
                    .build(),
            )
            .send()
            .await
            .expect("DescribeInstances");
        answer
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| i.state().and_then(|s| s.name()).is_none_or(|n| n.as_str() != "terminated"))
            .cloned()
            .collect()
    }
}

/// Makes chosen offerings run out of capacity, as EC2 would: their overrides are taken out of CreateFleet
/// requests before moto sees them, and the answer gets an `InsufficientInstanceCapacity` error for each.
#[derive(Debug, Clone, Default)]
pub(crate) struct CapacityInjector {
    exhausted: Arc<Mutex<BTreeSet<OfferingKey>>>,
}

/// The overrides taken out of one request, from serialization to completion.
#[derive(Debug, Clone)]
struct Removed(Vec<FleetLaunchTemplateOverrides>);

impl Storable for Removed {
    type Storer = StoreReplace<Self>;
}

impl CapacityInjector {
    /// Makes these offerings fail from now on.
    pub(crate) fn exhaust(&self, offerings: &[OfferingKey]) {
        self.exhausted.lock().unwrap().extend(offerings.iter().cloned());
    }
}

impl Intercept for CapacityInjector {
    fn name(&self) -> &'static str {
        "CapacityInjector"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(input) = context.input_mut().downcast_mut::<CreateFleetInput>() else { return Ok(()) };
        let exhausted = self.exhausted.lock().unwrap().clone();
        let capacity_type =
            match input.target_capacity_specification.as_ref().and_then(|t| t.default_target_capacity_type())
            {
                Some(DefaultTargetCapacityType::Spot) => "spot",
                _ => "on-demand",
            };
        let mut removed = Vec::new();
        let configs = input.launch_template_configs.take().unwrap_or_default();
        let fallback = configs.first().cloned();
        let mut kept = Vec::new();
        for mut config in configs {
            let overrides = config.overrides.take().unwrap_or_default();
            let (out, stay): (Vec<_>, Vec<_>) = overrides.into_iter().partition(|o| {
                let key = OfferingKey::new(
                    o.instance_type().map(|t| t.as_str()).unwrap_or_default(),
                    o.availability_zone().unwrap_or_default(),
                    capacity_type,
                );
                exhausted.contains(&key)
            });
            removed.extend(out.into_iter().map(|o| {
                FleetLaunchTemplateOverrides::builder()
                    .set_instance_type(o.instance_type().cloned())
                    .set_availability_zone(o.availability_zone().map(str::to_string))
                    .set_subnet_id(o.subnet_id().map(str::to_string))
                    .set_image_id(o.image_id().map(str::to_string))
                    .build()
            }));
            if !stay.is_empty() {
                config.overrides = Some(stay);
                kept.push(config);
            }
        }
        if kept.is_empty() {
            // Nothing left to try: ask moto for nothing (it still needs a valid template to read).
            kept.extend(fallback);
            if let Some(target) = input.target_capacity_specification.as_mut() {
                target.total_target_capacity = Some(0);
            }
        }
        // EC2 takes the cheapest override of all; moto takes the first, so the cheapest template goes first.
        let priority = |c: &aws_sdk_ec2::types::FleetLaunchTemplateConfigRequest| {
            c.overrides().first().and_then(|o| o.priority()).unwrap_or(f64::MAX)
        };
        kept.sort_by(|a, b| priority(a).total_cmp(&priority(b)));
        input.launch_template_configs = Some(kept);
        if !removed.is_empty() {
            cfg.interceptor_state().store_put(Removed(removed));
        }
        Ok(())
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Removed(removed)) = cfg.load::<Removed>().cloned() else { return Ok(()) };
        let Some(Ok(output)) = context.output_or_error_mut() else { return Ok(()) };
        let Some(output) = output.downcast_mut::<CreateFleetOutput>() else { return Ok(()) };
        let errors = output.errors.get_or_insert_with(Vec::new);
        for overrides in removed {
            errors.push(
                CreateFleetError::builder()
                    .error_code("InsufficientInstanceCapacity")
                    .error_message("We currently do not have sufficient capacity in the Availability Zone you requested.")
                    .launch_template_and_overrides(LaunchTemplateAndOverridesResponse::builder().overrides(overrides).build())
                    .build(),
            );
        }
        Ok(())
    }
}

/// A unique suffix for names in the shared emulator.
#[allow(clippy::disallowed_methods, reason = "the clock makes names unique across test runs")]
pub(crate) fn unique(prefix: &str) -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{prefix}-{:x}", nanos % 0xffff_ffff_ffff)
}

/// Tags as a map.
pub(crate) fn tag_map(tags: &[aws_sdk_ec2::types::Tag]) -> std::collections::BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
        .collect()
}
