//! Instance types as the AWS provider builds them (`pkg/providers/instancetype/types.go`,
//! `pkg/providers/instancetype/offering`): capacity, overhead, requirements and offerings.

use std::collections::{BTreeMap, BTreeSet};

use karpenter_solver::model::{InstanceType, NodeSelectorRequirement, Offering, Overhead, ResourceList};
use karpenter_solver::quantity::Quantity;

use crate::labels::*;
use crate::settings::{BlockDeviceMapping, NodeClassSettings};
use crate::spec::{InstanceTypeSpec, RegionOfferings, VpcLimits};
use crate::{CatalogError, Result};

/// Everything the builder reads, borrowed from a [`crate::Catalog`].
pub(crate) struct Facts<'a> {
    pub(crate) region: &'a str,
    pub(crate) offerings: &'a RegionOfferings,
    pub(crate) on_demand: &'a BTreeMap<String, f64>,
    pub(crate) spot: Option<&'a BTreeMap<String, BTreeMap<String, f64>>>,
    pub(crate) vpc_limits: &'a BTreeMap<String, VpcLimits>,
    pub(crate) bandwidth_mbps: &'a BTreeMap<String, u64>,
    pub(crate) unavailable: &'a BTreeSet<(String, String, String)>,
}

/// The settings, checked once for every instance type.
pub(crate) struct Checked<'a> {
    settings: &'a NodeClassSettings,
    kube_reserved: Vec<(String, String)>,
    system_reserved: Vec<(String, String)>,
    eviction_memory: Option<Threshold>,
    eviction_storage: Option<Threshold>,
    /// Ephemeral storage unless RAID0 applies: the node class's root volume, else the family's default.
    volume_text: String,
    volume_bytes: u64,
    zones: Option<BTreeSet<String>>,
}

enum Threshold {
    Quantity(String),
    Percent(f64),
}

fn bytes_of(field: &str, value: &str) -> Result<u64> {
    let quantity = Quantity::parse(value)
        .map_err(|e| CatalogError::Setting { field: field.to_string(), reason: e.to_string() })?;
    quantity.to_units().and_then(|v| u64::try_from(v).ok()).ok_or_else(|| CatalogError::Setting {
        field: field.to_string(),
        reason: format!("{value:?} is not a size"),
    })
}

fn threshold(field: &str, value: &str) -> Result<Threshold> {
    if let Some(percent) = value.strip_suffix('%') {
        let p: f64 = percent.trim().parse().map_err(|_| CatalogError::Setting {
            field: field.to_string(),
            reason: format!("{value:?} is not a percentage"),
        })?;
        if !(0.0..=100.0).contains(&p) {
            return Err(CatalogError::Setting {
                field: field.to_string(),
                reason: format!("{value:?} is not between 0% and 100%"),
            });
        }
        // Kubernetes treats 100% as "threshold disabled".
        return Ok(Threshold::Percent(if p == 100.0 { 0.0 } else { p }));
    }
    bytes_of(field, value)?;
    Ok(Threshold::Quantity(value.to_string()))
}

impl<'a> Checked<'a> {
    pub(crate) fn new(settings: &'a NodeClassSettings) -> Result<Self> {
        let quantities = |map: &BTreeMap<String, String>, name: &str| -> Result<Vec<(String, String)>> {
            map.iter()
                .map(|(resource, value)| {
                    Quantity::parse(value).map(|_| (resource.clone(), value.clone())).map_err(|e| {
                        CatalogError::Setting {
                            field: format!("kubelet.{name}.{resource}"),
                            reason: e.to_string(),
                        }
                    })
                })
                .collect()
        };
        let eviction = |signal: &str| {
            settings
                .eviction_hard
                .get(signal)
                .map(|v| threshold(&format!("kubelet.evictionHard.{signal}"), v))
                .transpose()
        };
        // A root volume, else the family's ephemeral device, sets ephemeral storage (see `ephemeral_storage`).
        let mappings = &settings.block_device_mappings;
        let (by_family, default_size) = match settings.ami_family.ephemeral_device() {
            Some((device, size)) => (mappings.iter().find(|b| b.device_name == device), size),
            // Only a custom AMI has no known device: its last mapping is taken for the root.
            None => (mappings.last(), "20Gi"),
        };
        let size_of = |mapping: Option<&BlockDeviceMapping>| mapping.and_then(|b| b.volume_size.clone());
        let volume_text = size_of(mappings.iter().find(|b| b.root_volume))
            .or_else(|| size_of(by_family))
            .unwrap_or_else(|| default_size.to_string());
        let volume_bytes = bytes_of("blockDeviceMappings.ebs.volumeSize", &volume_text)?;
        Ok(Checked {
            settings,
            kube_reserved: quantities(&settings.kube_reserved, "kubeReserved")?,
            system_reserved: quantities(&settings.system_reserved, "systemReserved")?,
            eviction_memory: eviction("memory.available")?,
            eviction_storage: eviction("nodefs.available")?,
            volume_text,
            volume_bytes,
            zones: settings.subnet_zones.as_ref().map(|z| z.iter().cloned().collect()),
        })
    }

    /// Whether the node class's subnets reach the zone (every zone when no subnets are given).
    fn allows_zone(&self, zone: &str) -> bool {
        self.zones.as_ref().is_none_or(|allowed| allowed.contains(zone))
    }
}

fn req(key: &str, values: &[String]) -> NodeSelectorRequirement {
    if values.is_empty() {
        return NodeSelectorRequirement {
            key: key.to_string(),
            operator: "DoesNotExist".into(),
            values: vec![],
            min_values: None,
        };
    }
    NodeSelectorRequirement {
        key: key.to_string(),
        operator: "In".into(),
        values: values.to_vec(),
        min_values: None,
    }
}

fn one(key: &str, value: impl ToString) -> NodeSelectorRequirement {
    req(key, &[value.to_string()])
}

fn none(key: &str) -> NodeSelectorRequirement {
    req(key, &[])
}

/// `In` the value when there is one, else `DoesNotExist`.
fn optional(key: &str, value: Option<impl ToString>) -> NodeSelectorRequirement {
    value.map_or_else(|| none(key), |v| one(key, v))
}

/// Lower case with spaces as dashes, as upstream writes manufacturer and device names into labels.
fn kebab(s: &str) -> String {
    s.replace(' ', "-").to_lowercase()
}

/// The Kubernetes architecture of the first architecture Kubernetes knows.
pub(crate) fn architecture(spec: &InstanceTypeSpec) -> Option<&'static str> {
    spec.architectures.iter().find_map(|a| match a.as_str() {
        "x86_64" => Some(ARCH_AMD64),
        "arm64" => Some(ARCH_ARM64),
        _ => None,
    })
}

/// `^([a-z]+)(-[0-9]+tb)?([0-9]+).*\.` → (category, generation).
fn category_and_generation(name: &str) -> Option<(String, String)> {
    let (family, _) = name.split_once('.')?;
    let letters: String = family.chars().take_while(|c| c.is_ascii_lowercase()).collect();
    if letters.is_empty() {
        return None;
    }
    let mut rest = &family[letters.len()..];
    // The optional "-<n>tb" of high-memory types (u-12tb1).
    if let Some(after_dash) = rest.strip_prefix('-') {
        let digits: String = after_dash.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() && after_dash[digits.len()..].starts_with("tb") {
            rest = &after_dash[digits.len() + 2..];
        }
    }
    let generation: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if generation.is_empty() {
        return None;
    }
    Some((letters, generation))
}

/// Usable ENIs times (IPv4 per ENI − 1) + 2; no 110 or 250 cap.
pub fn eni_limited_pods(spec: &InstanceTypeSpec, reserved_enis: u32) -> u64 {
    let enis = spec.network_cards.get(spec.default_network_card as usize).copied().unwrap_or(0);
    let usable = u64::from(enis.saturating_sub(reserved_enis));
    if usable == 0 {
        return 0;
    }
    usable * u64::from(spec.ipv4_per_interface.saturating_sub(1)) + 2
}

fn pods(spec: &InstanceTypeSpec, settings: &NodeClassSettings) -> u64 {
    let mut count = match settings.max_pods {
        Some(max) => u64::from(max),
        None if settings.ami_family.eni_limited_pods() => eni_limited_pods(spec, settings.reserved_enis),
        None => 110,
    };
    if let Some(per_core) = settings.pods_per_core.filter(|p| *p > 0)
        && settings.ami_family.pods_per_core_enabled()
    {
        count = count.min(u64::from(per_core) * u64::from(spec.vcpus));
    }
    count
}

/// Memory in MiB: Graviton's 64 MiB of CMA and the hypervisor's share are not the node's.
pub fn memory_mib(spec: &InstanceTypeSpec, vm_overhead_percent: f64) -> u64 {
    let mut mib = spec.memory_mib;
    if spec.architectures.first().is_some_and(|a| a == "arm64") {
        mib = mib.saturating_sub(64);
    }
    let overhead = (mib as f64 * vm_overhead_percent).ceil() as u64;
    mib - overhead.min(mib)
}

/// Kube-reserved CPU in millicores: 6% of the first core, 1% of the second, 0.5% of the next two, 0.25% above.
pub fn kube_reserved_cpu_milli(vcpus: u32) -> u64 {
    let cpu = u64::from(vcpus) * 1000;
    let bands: [(u64, u64, f64); 4] =
        [(0, 1000, 0.06), (1000, 2000, 0.01), (2000, 4000, 0.005), (4000, 1 << 31, 0.0025)];
    bands
        .iter()
        .filter(|(start, _, _)| cpu >= *start)
        .map(|(start, end, pct)| ((cpu.min(*end) - start) as f64 * pct) as u64)
        .sum()
}

fn ephemeral_storage(spec: &InstanceTypeSpec, checked: &Checked<'_>) -> (String, u64) {
    if checked.settings.instance_store_raid0
        && let Some(storage) = &spec.instance_storage
    {
        return (format!("{}G", storage.total_gb), storage.total_gb * 1_000_000_000);
    }
    (checked.volume_text.clone(), checked.volume_bytes)
}

fn eviction(threshold: &Option<Threshold>, capacity_bytes: u64, default: String) -> String {
    match threshold {
        None => default,
        Some(Threshold::Quantity(q)) => q.clone(),
        Some(Threshold::Percent(p)) => format!("{}", (capacity_bytes as f64 / 100.0 * p).ceil() as u64),
    }
}

/// One instance type for the region and node class, or `None` for a type Kubernetes cannot run (no x86_64 or
/// arm64 architecture).
pub(crate) fn instance_type(
    spec: &InstanceTypeSpec,
    facts: &Facts<'_>,
    checked: &Checked<'_>,
) -> Option<InstanceType> {
    let arch = architecture(spec)?;
    let settings = checked.settings;
    let family = settings.ami_family;

    // Zones: where the region offers the type, within the node class's subnets.
    let offered: BTreeSet<&str> = facts
        .offerings
        .instance_types
        .get(&spec.name)
        .map(|zones| zones.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let zones: Vec<&crate::spec::Zone> = facts
        .offerings
        .zones
        .iter()
        .filter(|z| offered.contains(z.name.as_str()))
        .filter(|z| checked.allows_zone(&z.name))
        .collect();

    // Capacity.
    let pods = pods(spec, settings);
    let memory = memory_mib(spec, settings.vm_memory_overhead_percent);
    let (storage_text, storage_bytes) = ephemeral_storage(spec, checked);
    let count_by = |manufacturer: &str| {
        spec.gpus.iter().filter(|g| g.manufacturer == manufacturer).map(|g| g.count).sum::<u32>()
    };
    let limits = facts.vpc_limits.get(&spec.name);
    let mut capacity: ResourceList = BTreeMap::from([
        ("cpu".to_string(), spec.vcpus.to_string()),
        ("memory".to_string(), format!("{memory}Mi")),
        ("ephemeral-storage".to_string(), storage_text),
        ("pods".to_string(), pods.to_string()),
        (
            RESOURCE_POD_ENI.to_string(),
            limits.filter(|l| l.trunking).map_or(0, |l| l.branch_interfaces).to_string(),
        ),
        (RESOURCE_NVIDIA_GPU.to_string(), count_by("NVIDIA").to_string()),
        (RESOURCE_AMD_GPU.to_string(), count_by("AMD").to_string()),
        (RESOURCE_HABANA_GAUDI.to_string(), count_by("Habana").to_string()),
        (RESOURCE_NEURON.to_string(), spec.neuron_devices.iter().map(|d| d.count).sum::<u32>().to_string()),
        (
            RESOURCE_NEURON_CORE.to_string(),
            spec.neuron_devices.first().map_or(0, |d| d.count * d.cores).to_string(),
        ),
        (RESOURCE_EFA.to_string(), spec.efa_interfaces.unwrap_or(0).to_string()),
    ]);
    let windows = family.windows_build().is_some();
    if windows && arch == ARCH_AMD64 {
        let ips = limits.map_or(0, |l| l.ipv4_per_interface.saturating_sub(1));
        capacity.insert(RESOURCE_PRIVATE_IPV4.to_string(), ips.to_string());
    }

    // Overhead.
    let memory_pods = if family.eni_limited_memory_overhead() { eni_limited_pods(spec, 0) } else { pods };
    let mut kube_reserved: ResourceList = BTreeMap::from([
        ("cpu".to_string(), format!("{}m", kube_reserved_cpu_milli(spec.vcpus))),
        ("memory".to_string(), format!("{}Mi", 11 * memory_pods + 255)),
        ("ephemeral-storage".to_string(), "1Gi".to_string()),
    ]);
    kube_reserved.extend(checked.kube_reserved.iter().cloned());
    let memory_bytes = memory * 1024 * 1024;
    let eviction_threshold: ResourceList = BTreeMap::from([
        ("memory".to_string(), eviction(&checked.eviction_memory, memory_bytes, "100Mi".to_string())),
        (
            "ephemeral-storage".to_string(),
            eviction(
                &checked.eviction_storage,
                storage_bytes,
                format!("{}", (storage_bytes as f64 / 100.0 * 10.0).ceil() as u64),
            ),
        ),
    ]);
    let overhead = Overhead {
        kube_reserved,
        system_reserved: checked.system_reserved.iter().cloned().collect(),
        eviction_threshold,
    };

    // Requirements.
    let capacity_types: Vec<String> = spec
        .usage_classes
        .iter()
        .filter(|c| *c == CAPACITY_TYPE_ON_DEMAND || *c == CAPACITY_TYPE_SPOT)
        .cloned()
        .collect();
    let os: Vec<String> = match (windows, arch) {
        (true, ARCH_AMD64) => vec!["windows".to_string()],
        (true, _) => Vec::new(),
        (false, _) => vec!["linux".to_string()],
    };
    let (family_name, size) = match spec.name.split('.').collect::<Vec<_>>().as_slice() {
        [family, size] => (Some(family.to_string()), Some(size.to_string())),
        _ => (None, None),
    };
    let mut requirements = vec![
        one(INSTANCE_TYPE, &spec.name),
        one(ARCH, arch),
        req(OS, &os),
        req(ZONE, &zones.iter().map(|z| z.name.clone()).collect::<Vec<_>>()),
        one(REGION, facts.region),
        optional(WINDOWS_BUILD, family.windows_build()),
        req(CAPACITY_TYPE, &capacity_types),
        one(INSTANCE_CPU, spec.vcpus),
        req(INSTANCE_CPU_MANUFACTURER, &spec.cpu_manufacturer.iter().map(|m| kebab(m)).collect::<Vec<_>>()),
        optional(
            INSTANCE_CPU_SUSTAINED_CLOCK_SPEED_MHZ,
            spec.sustained_clock_ghz.map(|g| (g * 1000.0).round() as i64),
        ),
        one(INSTANCE_MEMORY, spec.memory_mib),
        optional(
            INSTANCE_EBS_BANDWIDTH,
            spec.ebs_max_bandwidth_mbps.filter(|_| spec.ebs_optimized_support.as_deref() == Some("default")),
        ),
        optional(INSTANCE_NETWORK_BANDWIDTH, facts.bandwidth_mbps.get(&spec.name)),
        one(INSTANCE_HYPERVISOR, &spec.hypervisor),
        one(INSTANCE_ENCRYPTION_IN_TRANSIT_SUPPORTED, spec.encryption_in_transit),
        one(INSTANCE_NITRO_ENCLAVES_SUPPORTED, spec.nitro_enclaves),
        req(INSTANCE_TENANCY, &["default".to_string(), "dedicated".to_string()]),
        none(RESERVATION_ID),
        none(CAPACITY_RESERVATION_TYPE),
        none(CAPACITY_RESERVATION_INTERRUPTIBLE),
    ];
    let (category, generation) = category_and_generation(&spec.name).unzip();
    requirements.push(optional(INSTANCE_CATEGORY, category));
    requirements.push(optional(INSTANCE_GENERATION, generation));
    requirements.push(optional(INSTANCE_FAMILY, family_name));
    requirements.push(optional(INSTANCE_SIZE, size));
    let flex = spec.name.split('.').next().unwrap_or_default().contains("-flex");
    requirements.push(one(INSTANCE_CAPABILITY_FLEX, flex));
    requirements.push(optional(
        INSTANCE_LOCAL_NVME,
        spec.instance_storage.as_ref().filter(|s| s.nvme != "unsupported").map(|s| s.total_gb),
    ));
    let gpu = (spec.gpus.len() == 1).then(|| &spec.gpus[0]);
    requirements.push(optional(INSTANCE_GPU_NAME, gpu.map(|g| kebab(&g.name))));
    requirements.push(optional(INSTANCE_GPU_MANUFACTURER, gpu.map(|g| kebab(&g.manufacturer))));
    requirements.push(optional(INSTANCE_GPU_COUNT, gpu.map(|g| g.count)));
    requirements.push(optional(INSTANCE_GPU_MEMORY, gpu.and_then(|g| g.memory_mib)));
    // A single inference accelerator (when there is no Neuron device), else a single Neuron device.
    let accelerator: Option<(String, String, u32)> =
        if spec.accelerators.len() == 1 && spec.neuron_devices.is_empty() {
            let a = &spec.accelerators[0];
            Some((kebab(&a.name), kebab(&a.manufacturer), a.count))
        } else if spec.neuron_devices.len() == 1 {
            let d = &spec.neuron_devices[0];
            Some((kebab(&d.name), "aws".to_string(), d.count))
        } else {
            None
        };
    requirements.push(optional(INSTANCE_ACCELERATOR_NAME, accelerator.as_ref().map(|a| &a.0)));
    requirements.push(optional(INSTANCE_ACCELERATOR_MANUFACTURER, accelerator.as_ref().map(|a| &a.1)));
    requirements.push(optional(INSTANCE_ACCELERATOR_COUNT, accelerator.as_ref().map(|a| a.2)));
    let zone_ids: Vec<String> = zones.iter().map(|z| z.id.clone()).collect();
    if !zone_ids.is_empty() {
        requirements.push(req(ZONE_ID, &zone_ids));
    }

    // Offerings: every zone the region offers anything in, for each capacity type the type supports; available
    // where the type is offered, a price is known, and the zone has not been marked unavailable.
    let on_demand = facts.on_demand.get(&spec.name).copied();
    let mut offerings = Vec::new();
    for zone in &facts.offerings.zones {
        if !checked.allows_zone(&zone.name) {
            continue;
        }
        for capacity_type in &capacity_types {
            let price = if capacity_type == CAPACITY_TYPE_SPOT {
                match facts.spot {
                    // Before the first spot price refresh, spot is priced as on-demand (upstream's static fallback).
                    None => on_demand,
                    Some(spot) => spot.get(&spec.name).and_then(|by_zone| by_zone.get(&zone.name)).copied(),
                }
            } else {
                on_demand
            };
            let marked =
                facts.unavailable.contains(&(spec.name.clone(), zone.name.clone(), capacity_type.clone()));
            offerings.push(Offering {
                zone: zone.name.clone(),
                capacity_type: capacity_type.clone(),
                price: price.unwrap_or(0.0),
                available: price.is_some() && offered.contains(zone.name.as_str()) && !marked,
                ..Offering::default()
            });
        }
    }
    Some(InstanceType { name: spec.name.clone(), requirements, capacity, overhead, offerings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_and_generation_follow_upstreams_pattern() {
        let cg = |n: &str| category_and_generation(n);
        assert_eq!(cg("m5.large"), Some(("m".into(), "5".into())));
        assert_eq!(cg("m7i-flex.large"), Some(("m".into(), "7".into())));
        assert_eq!(cg("u-12tb1.112xlarge"), Some(("u".into(), "1".into())));
        assert_eq!(cg("c6gn.16xlarge"), Some(("c".into(), "6".into())));
        assert_eq!(cg("mac2-m2pro.metal"), Some(("mac".into(), "2".into())));
        assert_eq!(cg("x"), None);
    }

    #[test]
    fn kube_reserved_cpu_bands() {
        assert_eq!(kube_reserved_cpu_milli(1), 60);
        assert_eq!(kube_reserved_cpu_milli(2), 70);
        assert_eq!(kube_reserved_cpu_milli(4), 80);
        assert_eq!(kube_reserved_cpu_milli(96), 310);
        assert_eq!(kube_reserved_cpu_milli(192), 550);
    }
}
