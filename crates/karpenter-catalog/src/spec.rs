//! Plain records of AWS facts, shaped after the EC2 API so that `DescribeInstanceTypes`,
//! `DescribeInstanceTypeOfferings`, `DescribeSpotPriceHistory` and the pricing API can fill them at run time, and the
//! embedded data fills them without an AWS account.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What Karpenter reads of one `InstanceTypeInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceTypeSpec {
    /// `InstanceType`, e.g. `m5.large`.
    pub name: String,
    /// `VCpuInfo.DefaultVCpus`.
    pub vcpus: u32,
    /// `MemoryInfo.SizeInMiB`.
    pub memory_mib: u64,
    /// `ProcessorInfo.SupportedArchitectures` in API order (`x86_64`, `arm64`, `i386`).
    pub architectures: Vec<String>,
    /// `ProcessorInfo.Manufacturer` (`Intel`, `AMD`, `AWS`, `Apple`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_manufacturer: Option<String>,
    /// `ProcessorInfo.SustainedClockSpeedInGhz`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sustained_clock_ghz: Option<f64>,
    /// `Hypervisor`: `nitro`, `xen`, or empty for bare metal.
    #[serde(default)]
    pub hypervisor: String,
    /// `SupportedUsageClasses`: `on-demand`, `spot`.
    pub usage_classes: Vec<String>,
    /// `NetworkInfo.DefaultNetworkCardIndex`.
    #[serde(default)]
    pub default_network_card: u32,
    /// `NetworkInfo.NetworkCards[].MaximumNetworkInterfaces`, by card index.
    pub network_cards: Vec<u32>,
    /// `NetworkInfo.Ipv4AddressesPerInterface`.
    pub ipv4_per_interface: u32,
    /// `NetworkInfo.EncryptionInTransitSupported`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub encryption_in_transit: bool,
    /// `NetworkInfo.EfaInfo.MaximumEfaInterfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efa_interfaces: Option<u32>,
    /// `GpuInfo.Gpus`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<Device>,
    /// `InferenceAcceleratorInfo.Accelerators`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accelerators: Vec<Device>,
    /// `NeuronInfo.NeuronDevices`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub neuron_devices: Vec<NeuronDevice>,
    /// `InstanceStorageInfo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_storage: Option<InstanceStorage>,
    /// `EbsInfo.EbsOptimizedSupport` (`default`, `supported`, `unsupported`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebs_optimized_support: Option<String>,
    /// `EbsInfo.EbsOptimizedInfo.MaximumBandwidthInMbps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebs_max_bandwidth_mbps: Option<u64>,
    /// `NitroEnclavesSupport == supported`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nitro_enclaves: bool,
}

/// A GPU or inference accelerator entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Device name, e.g. `H100`.
    pub name: String,
    /// Manufacturer, e.g. `NVIDIA`.
    pub manufacturer: String,
    /// How many.
    pub count: u32,
    /// Memory per device in MiB (GPUs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
}

/// A Neuron device entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NeuronDevice {
    /// Device name, e.g. `Inferentia2`.
    pub name: String,
    /// How many.
    pub count: u32,
    /// NeuronCores per device.
    pub cores: u32,
}

/// Local instance-store disks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStorage {
    /// `TotalSizeInGB`.
    pub total_gb: u64,
    /// `NvmeSupport`: `required`, `supported` or `unsupported`.
    pub nvme: String,
}

/// What the VPC resource controller's limits table says of an instance type (`zz_generated.vpclimits.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VpcLimits {
    /// Branch ENIs for security groups for pods.
    pub branch_interfaces: u32,
    /// Whether the type supports a trunk ENI.
    pub trunking: bool,
    /// IPv4 addresses per ENI, primary included.
    pub ipv4_per_interface: u32,
}

/// An availability zone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Zone {
    /// Zone name, e.g. `us-east-1a`.
    pub name: String,
    /// Zone id, e.g. `use1-az4`.
    pub id: String,
}

/// Where a region sells each instance type (`DescribeInstanceTypeOfferings`, location type availability-zone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionOfferings {
    /// The region's zones.
    pub zones: Vec<Zone>,
    /// Instance type name to the zones (by name) that offer it.
    pub instance_types: BTreeMap<String, Vec<String>>,
}
