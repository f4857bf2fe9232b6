//! Launch templates: one per image and bootstrap variant, named by a hash of what they contain, found by
//! name and created when missing (`aws/karpenter-provider-aws: pkg/providers/launchtemplate/{launchtemplate.go,types.go}`,
//! `pkg/providers/amifamily/resolver.go`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use aws_sdk_ec2::types::{
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
    LaunchTemplateHttpTokensState, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateInstanceMetadataProtocolIpv6, LaunchTemplateInstanceMetadataTagsState,
    LaunchTemplateInstanceNetworkInterfaceSpecificationRequest, LaunchTemplatePlacementRequest,
    LaunchTemplateTagSpecificationRequest, LaunchTemplatesMonitoringRequest, RequestLaunchTemplateData,
    ResourceType, Tag, TagSpecification, Tenancy, VolumeType,
};
use karpenter_api::{AmiFamily, EC2NodeClassSpec, EnabledDisabled, HttpTokens};
use karpenter_solver::quantity::Quantity;
use serde::Serialize;

use crate::Clients;
use crate::error::AwsError;

/// The prefix of every launch template Karpenter names.
pub const NAME_PREFIX: &str = "karpenter.k8s.aws";

/// FNV-1a, 64 bits: a stable hash for names (the same input names the same template in every process and
/// release).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Instance metadata options as the launch template gets them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Metadata {
    /// `enabled` or `disabled`.
    pub http_endpoint: String,
    /// `enabled` or `disabled`.
    pub http_protocol_ipv6: String,
    /// Hops a metadata response may travel.
    pub http_put_response_hop_limit: i64,
    /// `required` (IMDSv2) or `optional`.
    pub http_tokens: String,
}

impl Metadata {
    /// The node class's options, each missing field taken from the CRD's default (enabled, IPv6 disabled,
    /// hop limit 1, tokens required). Upstream's code has a different fallback (disabled, hop limit 2) that
    /// the CRD default makes unreachable; this follows what users actually get.
    pub fn of(spec: &EC2NodeClassSpec) -> Metadata {
        let options = spec.metadata_options.clone().unwrap_or_default();
        let switch = |value: Option<EnabledDisabled>, default: &str| match value {
            Some(EnabledDisabled::Enabled) => "enabled".to_string(),
            Some(EnabledDisabled::Disabled) => "disabled".to_string(),
            None => default.to_string(),
        };
        Metadata {
            http_endpoint: switch(options.http_endpoint, "enabled"),
            http_protocol_ipv6: switch(options.http_protocol_ipv6, "disabled"),
            http_put_response_hop_limit: options.http_put_response_hop_limit.unwrap_or(1),
            http_tokens: match options.http_tokens {
                Some(HttpTokens::Optional) => "optional".to_string(),
                _ => "required".to_string(),
            },
        }
    }
}

/// A block device as the launch template gets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockDevice {
    /// Device name.
    pub device_name: String,
    /// Size in GiB, rounded up.
    pub volume_size_gib: Option<i32>,
    /// Volume type.
    pub volume_type: Option<String>,
    /// Encrypted.
    pub encrypted: Option<bool>,
    /// Deleted with the instance.
    pub delete_on_termination: Option<bool>,
    /// IOPS.
    pub iops: Option<i64>,
    /// Throughput.
    pub throughput: Option<i64>,
    /// KMS key.
    pub kms_key_id: Option<String>,
    /// Snapshot.
    pub snapshot_id: Option<String>,
}

/// Why the node class's block devices cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("spec.blockDeviceMappings[{index}].ebs.volumeSize: {reason}")]
pub struct BlockDeviceError {
    /// Which mapping.
    pub index: usize,
    /// What is wrong.
    pub reason: String,
}

/// The node class's block devices, or the family's defaults: a 20 GiB encrypted gp3 root for Amazon Linux,
/// 4 GiB + 20 GiB for Bottlerocket, 50 GiB for Windows, none for a custom image.
pub fn block_devices(
    spec: &EC2NodeClassSpec,
    family: AmiFamily,
) -> Result<Vec<BlockDevice>, BlockDeviceError> {
    let default = |device: &str, gib: i32| BlockDevice {
        device_name: device.to_string(),
        volume_size_gib: Some(gib),
        volume_type: Some("gp3".to_string()),
        encrypted: Some(true),
        delete_on_termination: None,
        iops: None,
        throughput: None,
        kms_key_id: None,
        snapshot_id: None,
    };
    let Some(mappings) = spec.block_device_mappings.as_ref().filter(|m| !m.is_empty()) else {
        return Ok(match family {
            AmiFamily::AL2 | AmiFamily::AL2023 => vec![default("/dev/xvda", 20)],
            AmiFamily::Bottlerocket => vec![default("/dev/xvda", 4), default("/dev/xvdb", 20)],
            AmiFamily::Windows2019 | AmiFamily::Windows2022 | AmiFamily::Windows2025 => {
                vec![default("/dev/sda1", 50)]
            }
            AmiFamily::Custom => Vec::new(),
        });
    };
    mappings
        .iter()
        .enumerate()
        .map(|(index, mapping)| {
            let ebs = mapping.ebs.clone().unwrap_or_default();
            let volume_size_gib = ebs
                .volume_size
                .as_deref()
                .map(|size| {
                    let bytes = Quantity::parse(size).ok().and_then(|q| q.to_units()).ok_or_else(|| {
                        BlockDeviceError { index, reason: format!("{size:?} is not a size") }
                    })?;
                    let gib = (bytes + (1 << 30) - 1) >> 30;
                    i32::try_from(gib)
                        .map_err(|_| BlockDeviceError { index, reason: format!("{size:?} is too large") })
                })
                .transpose()?;
            Ok(BlockDevice {
                device_name: mapping.device_name.clone().unwrap_or_default(),
                volume_size_gib,
                volume_type: ebs.volume_type.map(|t| {
                    serde_json::to_value(t)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                }),
                encrypted: ebs.encrypted,
                delete_on_termination: ebs.delete_on_termination,
                iops: ebs.iops,
                throughput: ebs.throughput,
                kms_key_id: ebs.kms_key_id,
                snapshot_id: ebs.snapshot_id,
            })
        })
        .collect()
}

/// Everything a launch template holds. Its hash names it, so equal contents share one template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaunchTemplateSpec {
    /// The EC2NodeClass it was made for.
    pub node_class: String,
    /// The image.
    pub image_id: String,
    /// The rendered user data, plain text (base64-encoded when sent).
    pub user_data: String,
    /// The instance profile's name.
    pub instance_profile: String,
    /// Security group ids, sorted.
    pub security_group_ids: Vec<String>,
    /// Metadata options.
    pub metadata: Metadata,
    /// Block devices.
    pub block_devices: Vec<BlockDevice>,
    /// CloudWatch detailed monitoring.
    pub detailed_monitoring: bool,
    /// Whether the primary interface gets a public address; `None` leaves it to the subnet.
    pub associate_public_ip_address: Option<bool>,
    /// Tags of the template, its interfaces and spot requests.
    pub tags: BTreeMap<String, String>,
    /// `spot` adds a tag specification for spot requests.
    pub capacity_type: String,
    /// `default` or `dedicated`.
    pub tenancy: String,
}

impl LaunchTemplateSpec {
    /// `karpenter.k8s.aws/<FNV-1a of the contents>`.
    pub fn name(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        format!("{NAME_PREFIX}/{}", fnv1a64(text.as_bytes()))
    }

    fn tags(&self, resource: ResourceType) -> TagSpecification {
        TagSpecification::builder().resource_type(resource).set_tags(Some(ec2_tags(&self.tags))).build()
    }

    /// The CreateLaunchTemplate data.
    pub fn data(&self) -> RequestLaunchTemplateData {
        let metadata = LaunchTemplateInstanceMetadataOptionsRequest::builder()
            .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::from(
                self.metadata.http_endpoint.as_str(),
            ))
            .http_protocol_ipv6(LaunchTemplateInstanceMetadataProtocolIpv6::from(
                self.metadata.http_protocol_ipv6.as_str(),
            ))
            .http_put_response_hop_limit(
                i32::try_from(self.metadata.http_put_response_hop_limit).unwrap_or(1),
            )
            .http_tokens(LaunchTemplateHttpTokensState::from(self.metadata.http_tokens.as_str()))
            // Tags stay out of the metadata service: they may hold what pods should not read.
            .instance_metadata_tags(LaunchTemplateInstanceMetadataTagsState::Disabled)
            .build();
        let mut tag_specifications = vec![
            LaunchTemplateTagSpecificationRequest::builder()
                .resource_type(ResourceType::NetworkInterface)
                .set_tags(Some(ec2_tags(&self.tags)))
                .build(),
        ];
        if self.capacity_type == "spot" {
            tag_specifications.push(
                LaunchTemplateTagSpecificationRequest::builder()
                    .resource_type(ResourceType::SpotInstancesRequest)
                    .set_tags(Some(ec2_tags(&self.tags)))
                    .build(),
            );
        }
        let mut data = RequestLaunchTemplateData::builder()
            .image_id(&self.image_id)
            .user_data(aws_smithy_types::base64::encode(self.user_data.as_bytes()))
            .iam_instance_profile(
                LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                    .name(&self.instance_profile)
                    .build(),
            )
            .metadata_options(metadata)
            .monitoring(LaunchTemplatesMonitoringRequest::builder().enabled(self.detailed_monitoring).build())
            .set_block_device_mappings(Some(self.block_devices.iter().map(block_device_request).collect()))
            .set_tag_specifications(Some(tag_specifications));
        if self.tenancy == "dedicated" {
            data =
                data.placement(LaunchTemplatePlacementRequest::builder().tenancy(Tenancy::Dedicated).build());
        }
        // With a public-address choice the groups go on the primary interface, which then has to be spelled out.
        data = match self.associate_public_ip_address {
            Some(public) => data.network_interfaces(
                LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
                    .device_index(0)
                    .network_card_index(0)
                    .associate_public_ip_address(public)
                    .set_groups(Some(self.security_group_ids.clone()))
                    .build(),
            ),
            None => data.set_security_group_ids(Some(self.security_group_ids.clone())),
        };
        data.build()
    }
}

fn block_device_request(device: &BlockDevice) -> LaunchTemplateBlockDeviceMappingRequest {
    let ebs = LaunchTemplateEbsBlockDeviceRequest::builder()
        .set_volume_size(device.volume_size_gib)
        .set_volume_type(device.volume_type.as_deref().map(VolumeType::from))
        .set_encrypted(device.encrypted)
        .set_delete_on_termination(device.delete_on_termination)
        .set_iops(device.iops.and_then(|v| i32::try_from(v).ok()))
        .set_throughput(device.throughput.and_then(|v| i32::try_from(v).ok()))
        .set_kms_key_id(device.kms_key_id.clone())
        .set_snapshot_id(device.snapshot_id.clone())
        .build();
    LaunchTemplateBlockDeviceMappingRequest::builder().device_name(&device.device_name).ebs(ebs).build()
}

/// Tags as EC2 takes them.
pub fn ec2_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// Launch templates known to exist, by name; a launch that finds its template gone forgets it and retries.
#[derive(Debug, Default)]
pub struct LaunchTemplates {
    known: Mutex<BTreeMap<String, String>>,
}

impl LaunchTemplates {
    fn known(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        // One insert or remove at a time; a panic elsewhere leaves the map whole.
        self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes sure the template exists: known, or found by name, or created. Returns its name.
    pub async fn ensure(&self, clients: &Clients, spec: &LaunchTemplateSpec) -> Result<String, AwsError> {
        let name = spec.name();
        if self.known().contains_key(&name) {
            return Ok(name);
        }
        match clients.ec2.describe_launch_templates().launch_template_names(&name).send().await {
            Ok(answer) if !answer.launch_templates().is_empty() => {
                let id = answer.launch_templates()[0].launch_template_id().unwrap_or_default().to_string();
                self.known().insert(name.clone(), id);
                return Ok(name);
            }
            Ok(_) => {}
            Err(e) => {
                let error = AwsError::from_sdk("DescribeLaunchTemplates", e);
                if !error.is_not_found() {
                    return Err(error);
                }
            }
        }
        let created = clients
            .ec2
            .create_launch_template()
            .launch_template_name(&name)
            .launch_template_data(spec.data())
            .tag_specifications(spec.tags(ResourceType::LaunchTemplate))
            .send()
            .await;
        match created {
            Ok(answer) => {
                let id = answer
                    .launch_template()
                    .and_then(|t| t.launch_template_id())
                    .unwrap_or_default()
                    .to_string();
                tracing::debug!(launch_template = %name, %id, "created launch template");
                self.known().insert(name.clone(), id);
                Ok(name)
            }
            Err(e) => {
                let error = AwsError::from_sdk("CreateLaunchTemplate", e);
                // Another launch created the same template a moment ago.
                if error.is_already_exists() {
                    self.known().insert(name.clone(), String::new());
                    return Ok(name);
                }
                Err(error)
            }
        }
    }

    /// Forgets templates a fleet request did not find, so that the next launch looks them up again.
    pub fn forget(&self, names: &[String]) {
        let mut known = self.known();
        for name in names {
            known.remove(name);
        }
    }
}
