//! CreateFleet `instant` requests: what one launch asks for, how identical launches are merged into one call,
//! and what each launch gets back (`aws/karpenter-provider-aws: pkg/providers/instance/types.go`
//! `CreateFleetInputBuilder`, `pkg/batcher/createfleet.go`).

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_ec2::types::{
    DefaultTargetCapacityType, FleetLaunchTemplateConfigRequest, FleetLaunchTemplateOverridesRequest,
    FleetLaunchTemplateSpecificationRequest, FleetOnDemandAllocationStrategy, FleetType, InstanceType,
    OnDemandOptionsRequest, ResourceType, SpotAllocationStrategy, SpotOptionsRequest, TagSpecification,
    TargetCapacitySpecificationRequest,
};

use crate::batcher::{Batcher, CREATE_FLEET_WINDOW, Executor};
use crate::error::AwsError;
use crate::launch_template::ec2_tags;

/// One override: an instance type in a zone's subnet, from an image, at a price.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Override {
    /// Instance type.
    pub instance_type: String,
    /// Subnet of the zone.
    pub subnet_id: String,
    /// Zone.
    pub zone: String,
    /// Image.
    pub image_id: String,
    /// The offering's price, as the bits of an `f64` (so that requests compare exactly); the override's
    /// priority.
    pub price_bits: u64,
}

impl Override {
    /// The price.
    pub fn price(&self) -> f64 {
        f64::from_bits(self.price_bits)
    }
}

/// The overrides of one launch template.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TemplateConfig {
    /// The launch template's name (version `$Latest`).
    pub launch_template: String,
    /// Its overrides, cheapest first.
    pub overrides: Vec<Override>,
}

/// Everything one launch asks CreateFleet for. Equal requests made together are merged into one call.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FleetRequest {
    /// `on-demand` or `spot`.
    pub capacity_type: String,
    /// Launch templates and their overrides.
    pub configs: Vec<TemplateConfig>,
    /// Tags of the instance, its volumes and the fleet.
    pub tags: BTreeMap<String, String>,
    /// The EC2NodeClass's `context`.
    pub context: Option<String>,
}

impl FleetRequest {
    /// The CreateFleet input for `count` instances.
    pub fn input(&self, count: i32) -> aws_sdk_ec2::operation::create_fleet::CreateFleetInput {
        let configs = self
            .configs
            .iter()
            .map(|config| {
                FleetLaunchTemplateConfigRequest::builder()
                    .launch_template_specification(
                        FleetLaunchTemplateSpecificationRequest::builder()
                            .launch_template_name(&config.launch_template)
                            .version("$Latest")
                            .build(),
                    )
                    .set_overrides(Some(
                        config
                            .overrides
                            .iter()
                            .map(|o| {
                                FleetLaunchTemplateOverridesRequest::builder()
                                    .instance_type(InstanceType::from(o.instance_type.as_str()))
                                    .subnet_id(&o.subnet_id)
                                    .availability_zone(&o.zone)
                                    .image_id(&o.image_id)
                                    .priority(o.price())
                                    .build()
                            })
                            .collect(),
                    ))
                    .build()
            })
            .collect();
        let tags = |resource: ResourceType| {
            TagSpecification::builder().resource_type(resource).set_tags(Some(ec2_tags(&self.tags))).build()
        };
        let spot = self.capacity_type == "spot";
        let mut input = aws_sdk_ec2::operation::create_fleet::CreateFleetInput::builder()
            .r#type(FleetType::Instant)
            .set_context(self.context.clone())
            .set_launch_template_configs(Some(configs))
            .target_capacity_specification(
                TargetCapacitySpecificationRequest::builder()
                    .total_target_capacity(count)
                    .default_target_capacity_type(if spot {
                        DefaultTargetCapacityType::Spot
                    } else {
                        DefaultTargetCapacityType::OnDemand
                    })
                    .build(),
            )
            .set_tag_specifications(Some(vec![
                tags(ResourceType::Instance),
                tags(ResourceType::Volume),
                tags(ResourceType::Fleet),
            ]));
        input = if spot {
            input.spot_options(
                SpotOptionsRequest::builder()
                    .allocation_strategy(SpotAllocationStrategy::PriceCapacityOptimized)
                    .build(),
            )
        } else {
            input.on_demand_options(
                OnDemandOptionsRequest::builder()
                    .allocation_strategy(FleetOnDemandAllocationStrategy::LowestPrice)
                    .build(),
            )
        };
        input.build().expect("every required field of CreateFleet is set")
    }
}

/// An instance a fleet launched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launched {
    /// Instance id.
    pub instance_id: String,
    /// Instance type.
    pub instance_type: String,
    /// Zone, from the override.
    pub zone: String,
    /// Subnet, from the override.
    pub subnet_id: String,
    /// Image, from the override.
    pub image_id: String,
}

/// A per-override error of a fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideError {
    /// The error code.
    pub code: String,
    /// The message.
    pub message: String,
    /// The override's instance type, when EC2 names it.
    pub instance_type: Option<String>,
    /// The override's zone.
    pub zone: Option<String>,
    /// The override's subnet.
    pub subnet_id: Option<String>,
}

/// What one launch got from a (possibly merged) fleet call: its instance, if any, and every per-override
/// error of the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The launch's instance.
    pub instance: Option<Launched>,
    /// The call's per-override errors.
    pub errors: Vec<OverrideError>,
}

/// A merged fleet call: identical requests within CreateFleet's window become one call with a target of N,
/// and each requester takes one of the instances.
pub type FleetBatcher = Batcher<FleetRequest, FleetRequest, Result<Outcome, AwsError>>;

/// The batcher over an EC2 client.
pub fn batcher(ec2: aws_sdk_ec2::Client) -> FleetBatcher {
    let executor: Executor<FleetRequest, Result<Outcome, AwsError>> =
        Arc::new(move |requests: Vec<FleetRequest>| {
            let ec2 = ec2.clone();
            Box::pin(async move { execute(&ec2, requests).await })
        });
    Batcher::new(CREATE_FLEET_WINDOW, executor)
}

/// Runs one merged call and splits its answer: the i-th instance goes to the i-th request; requests left
/// without one get the errors.
pub async fn execute(
    ec2: &aws_sdk_ec2::Client,
    requests: Vec<FleetRequest>,
) -> Vec<Result<Outcome, AwsError>> {
    let count = requests.len();
    let Some(first) = requests.first() else { return Vec::new() };
    let input = first.input(i32::try_from(count).unwrap_or(i32::MAX));
    let answer = ec2
        .create_fleet()
        .set_type(input.r#type().cloned())
        .set_context(input.context().map(str::to_string))
        .set_launch_template_configs(Some(input.launch_template_configs().to_vec()))
        .set_target_capacity_specification(input.target_capacity_specification().cloned())
        .set_tag_specifications(Some(input.tag_specifications().to_vec()))
        .set_spot_options(input.spot_options().cloned())
        .set_on_demand_options(input.on_demand_options().cloned())
        .send()
        .await;
    let output = match answer {
        Ok(output) => output,
        Err(e) => {
            let error = AwsError::from_sdk("CreateFleet", e);
            return vec![Err(error); count];
        }
    };
    let errors: Vec<OverrideError> = output
        .errors()
        .iter()
        .map(|e| {
            let overrides = e.launch_template_and_overrides().and_then(|l| l.overrides());
            OverrideError {
                code: e.error_code().unwrap_or_default().to_string(),
                message: e.error_message().unwrap_or_default().to_string(),
                instance_type: overrides.and_then(|o| o.instance_type()).map(|t| t.as_str().to_string()),
                zone: overrides.and_then(|o| o.availability_zone()).map(str::to_string),
                subnet_id: overrides.and_then(|o| o.subnet_id()).map(str::to_string),
            }
        })
        .collect();
    let mut launched = Vec::new();
    for fleet_instance in output.instances() {
        let overrides = fleet_instance.launch_template_and_overrides().and_then(|l| l.overrides());
        for id in fleet_instance.instance_ids() {
            launched.push(Launched {
                instance_id: id.clone(),
                instance_type: fleet_instance
                    .instance_type()
                    .map(|t| t.as_str().to_string())
                    .or_else(|| overrides.and_then(|o| o.instance_type()).map(|t| t.as_str().to_string()))
                    .unwrap_or_default(),
                zone: overrides.and_then(|o| o.availability_zone()).unwrap_or_default().to_string(),
                subnet_id: overrides.and_then(|o| o.subnet_id()).unwrap_or_default().to_string(),
                image_id: overrides.and_then(|o| o.image_id()).unwrap_or_default().to_string(),
            });
        }
    }
    if launched.len() > count {
        tracing::error!(
            requested = count,
            launched = launched.len(),
            "CreateFleet launched more instances than requested"
        );
    }
    let mut launched = launched.into_iter();
    (0..count).map(|_| Ok(Outcome { instance: launched.next(), errors: errors.clone() })).collect()
}
