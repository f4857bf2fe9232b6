//! The parts of an EC2NodeClass that change what an instance type offers: AMI family, kubelet settings, block
//! devices, instance-store policy, subnets' zones, and the controller's `--reserved-enis` and
//! `--vm-memory-overhead-percent`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// AMI families, with the features that matter to capacity (`pkg/providers/amifamily`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AmiFamily {
    /// Amazon Linux 2.
    #[serde(rename = "AL2")]
    Al2,
    /// Amazon Linux 2023 (the default).
    #[default]
    #[serde(rename = "AL2023")]
    Al2023,
    /// Bottlerocket.
    Bottlerocket,
    /// Windows Server 2019.
    Windows2019,
    /// Windows Server 2022.
    Windows2022,
    /// Windows Server 2025.
    Windows2025,
    /// A custom AMI: Karpenter knows nothing of its disks.
    Custom,
}

impl AmiFamily {
    /// Parses a family name as written in an EC2NodeClass (`AL2023`) or an alias (`al2023@latest`), any case.
    pub fn parse(name: &str) -> Option<AmiFamily> {
        let family = name.split('@').next().unwrap_or(name).to_ascii_lowercase();
        Some(match family.as_str() {
            "al2" => AmiFamily::Al2,
            "al2023" => AmiFamily::Al2023,
            "bottlerocket" => AmiFamily::Bottlerocket,
            "windows2019" => AmiFamily::Windows2019,
            "windows2022" => AmiFamily::Windows2022,
            "windows2025" => AmiFamily::Windows2025,
            "custom" => AmiFamily::Custom,
            _ => return None,
        })
    }

    pub(crate) fn windows_build(self) -> Option<&'static str> {
        match self {
            AmiFamily::Windows2019 => Some("10.0.17763"),
            AmiFamily::Windows2022 => Some("10.0.20348"),
            AmiFamily::Windows2025 => Some("10.0.26100"),
            _ => None,
        }
    }

    /// Whether max pods follow the ENI limit (else 110).
    pub(crate) fn eni_limited_pods(self) -> bool {
        self.windows_build().is_none()
    }

    /// Whether kube-reserved memory is computed from ENI-limited pods (else from the actual pods).
    pub(crate) fn eni_limited_memory_overhead(self) -> bool {
        matches!(self, AmiFamily::Al2 | AmiFamily::Al2023 | AmiFamily::Custom)
    }

    pub(crate) fn pods_per_core_enabled(self) -> bool {
        self != AmiFamily::Bottlerocket
    }

    /// The device whose size is ephemeral storage, and its default size.
    pub(crate) fn ephemeral_device(self) -> Option<(&'static str, &'static str)> {
        match self {
            AmiFamily::Al2 | AmiFamily::Al2023 => Some(("/dev/xvda", "20Gi")),
            AmiFamily::Bottlerocket => Some(("/dev/xvdb", "20Gi")),
            AmiFamily::Windows2019 | AmiFamily::Windows2022 | AmiFamily::Windows2025 => {
                Some(("/dev/sda1", "50Gi"))
            }
            AmiFamily::Custom => None,
        }
    }
}

/// A block device mapping of the EC2NodeClass.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDeviceMapping {
    /// Device name, e.g. `/dev/xvda`.
    pub device_name: String,
    /// Marks the root volume, whose size is the node's ephemeral storage.
    #[serde(default)]
    pub root_volume: bool,
    /// `ebs.volumeSize`, a quantity such as `100Gi`.
    #[serde(default)]
    pub volume_size: Option<String>,
}

/// Everything from an EC2NodeClass and the controller's flags that shapes instance types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeClassSettings {
    /// The AMI family.
    pub ami_family: AmiFamily,
    /// `kubelet.maxPods`.
    pub max_pods: Option<u32>,
    /// `kubelet.podsPerCore`.
    pub pods_per_core: Option<u32>,
    /// `kubelet.kubeReserved`: replaces the computed defaults key by key.
    pub kube_reserved: BTreeMap<String, String>,
    /// `kubelet.systemReserved`.
    pub system_reserved: BTreeMap<String, String>,
    /// `kubelet.evictionHard`: `memory.available` and `nodefs.available`, as a quantity or a percentage.
    pub eviction_hard: BTreeMap<String, String>,
    /// `blockDeviceMappings`.
    pub block_device_mappings: Vec<BlockDeviceMapping>,
    /// `instanceStorePolicy: RAID0`: ephemeral storage is the instance store.
    pub instance_store_raid0: bool,
    /// Zones of the EC2NodeClass's subnets; `None` means every zone of the region.
    pub subnet_zones: Option<Vec<String>>,
    /// `--reserved-enis`: ENIs kept back from pods.
    pub reserved_enis: u32,
    /// `--vm-memory-overhead-percent`: memory the hypervisor keeps, as a fraction.
    pub vm_memory_overhead_percent: f64,
}

impl Default for NodeClassSettings {
    fn default() -> Self {
        NodeClassSettings {
            ami_family: AmiFamily::Al2023,
            max_pods: None,
            pods_per_core: None,
            kube_reserved: BTreeMap::new(),
            system_reserved: BTreeMap::new(),
            eviction_hard: BTreeMap::new(),
            block_device_mappings: Vec::new(),
            instance_store_raid0: false,
            subnet_zones: None,
            reserved_enis: 0,
            vm_memory_overhead_percent: 0.075,
        }
    }
}
