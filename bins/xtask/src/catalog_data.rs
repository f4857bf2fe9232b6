//! `cargo xtask catalog-data`: turns the team's AWS facts (`../shared/data`, beside the repository) into the
//! trimmed `crates/karpenter-catalog/data/aws.json` the catalog embeds. The product never reads `../shared`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use karpenter_catalog::spec::{
    Device, InstanceStorage, InstanceTypeSpec, NeuronDevice, RegionOfferings, VpcLimits, Zone,
};
use serde_json::Value;

const REGIONS: [&str; 2] = ["us-east-1", "us-west-2"];

fn read(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn number(v: &Value) -> Option<u64> {
    v.as_u64()
}

/// One `InstanceTypeInfo` as the catalog's record, or `None` for what upstream's DescribeInstanceTypes filters
/// leave out (non-HVM, or neither x86_64 nor arm64).
fn spec(info: &Value) -> Result<Option<InstanceTypeSpec>> {
    let name = string(&info["InstanceType"]).context("InstanceType")?;
    let architectures: Vec<String> = info["ProcessorInfo"]["SupportedArchitectures"]
        .as_array()
        .map(|a| a.iter().filter_map(string).collect())
        .unwrap_or_default();
    let hvm = info["SupportedVirtualizationTypes"].as_array().is_some_and(|v| v.iter().any(|t| t == "hvm"));
    if !hvm || !architectures.iter().any(|a| a == "x86_64" || a == "arm64") {
        return Ok(None);
    }
    let network = &info["NetworkInfo"];
    let mut cards: Vec<(u64, u64)> = network["NetworkCards"]
        .as_array()
        .map(|cards| {
            cards
                .iter()
                .map(|c| {
                    (
                        number(&c["NetworkCardIndex"]).unwrap_or(0),
                        number(&c["MaximumNetworkInterfaces"]).unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    cards.sort();
    let devices = |list: &Value, with_memory: bool| -> Vec<Device> {
        list.as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|d| Device {
                        name: string(&d["Name"]).unwrap_or_default(),
                        manufacturer: string(&d["Manufacturer"]).unwrap_or_default(),
                        count: number(&d["Count"]).unwrap_or(0) as u32,
                        memory_mib: if with_memory { number(&d["MemoryInfo"]["SizeInMiB"]) } else { None },
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let neuron_devices = info["NeuronInfo"]["NeuronDevices"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|d| NeuronDevice {
                    name: string(&d["Name"]).unwrap_or_default(),
                    count: number(&d["Count"]).unwrap_or(0) as u32,
                    cores: number(&d["CoreInfo"]["Count"]).unwrap_or(0) as u32,
                })
                .collect()
        })
        .unwrap_or_default();
    let storage = &info["InstanceStorageInfo"];
    Ok(Some(InstanceTypeSpec {
        name,
        vcpus: number(&info["VCpuInfo"]["DefaultVCpus"]).context("DefaultVCpus")? as u32,
        memory_mib: number(&info["MemoryInfo"]["SizeInMiB"]).context("SizeInMiB")?,
        architectures,
        cpu_manufacturer: string(&info["ProcessorInfo"]["Manufacturer"]),
        sustained_clock_ghz: info["ProcessorInfo"]["SustainedClockSpeedInGhz"].as_f64(),
        hypervisor: string(&info["Hypervisor"]).unwrap_or_default(),
        usage_classes: info["SupportedUsageClasses"]
            .as_array()
            .map(|a| a.iter().filter_map(string).collect())
            .unwrap_or_default(),
        default_network_card: number(&network["DefaultNetworkCardIndex"]).unwrap_or(0) as u32,
        network_cards: cards.iter().map(|(_, enis)| *enis as u32).collect(),
        ipv4_per_interface: number(&network["Ipv4AddressesPerInterface"]).unwrap_or(0) as u32,
        encryption_in_transit: network["EncryptionInTransitSupported"].as_bool().unwrap_or(false),
        efa_interfaces: number(&network["EfaInfo"]["MaximumEfaInterfaces"]).map(|n| n as u32),
        gpus: devices(&info["GpuInfo"]["Gpus"], true),
        accelerators: devices(&info["InferenceAcceleratorInfo"]["Accelerators"], false),
        neuron_devices,
        instance_storage: number(&storage["TotalSizeInGB"]).map(|total_gb| InstanceStorage {
            total_gb,
            nvme: string(&storage["NvmeSupport"]).unwrap_or_default(),
        }),
        ebs_optimized_support: string(&info["EbsInfo"]["EbsOptimizedSupport"]),
        ebs_max_bandwidth_mbps: number(&info["EbsInfo"]["EbsOptimizedInfo"]["MaximumBandwidthInMbps"]),
        nitro_enclaves: info["NitroEnclavesSupport"] == "supported",
    }))
}

pub(crate) fn generate(root: &Path) -> Result<String> {
    let data = root.join("../shared/data");
    if !data.is_dir() {
        bail!(
            "{} not found: the team's AWS facts live in ../shared/data beside the repository",
            data.display()
        );
    }
    let types = read(&data.join("aws-instance-types.json"))?;
    let mut specs = Vec::new();
    for info in types.as_array().context("instance types are an array")?.iter().skip(1) {
        if let Some(spec) = spec(info)? {
            specs.push(spec);
        }
    }
    specs.sort_by(|a, b| a.name.cmp(&b.name));

    let mut regions = BTreeMap::new();
    for region in REGIONS {
        let file = read(&data.join(format!("aws-instance-type-offerings-{region}.json")))?;
        let names = file["zones"].as_array().context("zones")?;
        let ids = file["zone_ids"].as_array().context("zone_ids")?;
        // Each type lists its zone names and zone ids as two separately sorted lists, so they cannot be paired
        // by position. A zone name and a zone id are the same zone when the same set of types is offered in them.
        let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut instance_types = BTreeMap::new();
        for (name, offering) in file["instance_types"].as_object().context("instance_types")? {
            let list = |key: &str| -> Vec<String> {
                offering[key].as_array().map(|z| z.iter().filter_map(string).collect()).unwrap_or_default()
            };
            for zone in list("zones") {
                by_name.entry(zone).or_default().push(name.clone());
            }
            for id in list("zone_ids") {
                by_id.entry(id).or_default().push(name.clone());
            }
            instance_types.insert(name.clone(), list("zones"));
        }
        let mut zones = Vec::new();
        for name in names.iter().filter_map(string) {
            let types = by_name.get(&name).cloned().unwrap_or_default();
            let matching: Vec<String> =
                ids.iter().filter_map(string).filter(|id| by_id.get(id) == Some(&types)).collect();
            match matching.as_slice() {
                [id] => zones.push(Zone { name, id: id.clone() }),
                _ => bail!(
                    "{region}: cannot pair zone {name} with one zone id ({} candidates)",
                    matching.len()
                ),
            }
        }
        regions.insert(region.to_string(), RegionOfferings { zones, instance_types });
    }

    let mut prices: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for file in ["aws-ondemand-prices.json", "aws-ondemand-prices-other-partitions.json"] {
        let table = read(&data.join(file))?;
        for (region, by_type) in table["regions"].as_object().context("regions")? {
            let entries = by_type
                .as_object()
                .context("prices")?
                .iter()
                .filter_map(|(t, p)| Some((t.clone(), p.as_f64()?)));
            prices.entry(region.clone()).or_default().extend(entries);
        }
    }

    let limits_file = read(&data.join("aws-vpc-limits.json"))?;
    let mut vpc_limits = BTreeMap::new();
    for (name, limits) in limits_file["instance_types"].as_object().context("instance_types")? {
        vpc_limits.insert(
            name.clone(),
            VpcLimits {
                branch_interfaces: number(&limits["branch_interfaces"]).unwrap_or(0) as u32,
                trunking: limits["is_trunking_compatible"].as_bool().unwrap_or(false),
                ipv4_per_interface: number(&limits["ipv4_per_interface"]).unwrap_or(0) as u32,
            },
        );
    }
    let bandwidth_file = read(&data.join("aws-bandwidth.json"))?;
    let bandwidth: BTreeMap<String, u64> = bandwidth_file["megabits"]
        .as_object()
        .context("megabits")?
        .iter()
        .filter_map(|(t, v)| Some((t.clone(), v.as_u64()?)))
        .collect();

    // One instance type per line keeps diffs of a refresh readable.
    let mut out = String::from(
        "{\n\"source\": \"generated by `cargo xtask catalog-data` from the team's AWS facts: moto 5.2.5 DescribeInstanceTypes and offerings, Karpenter AWS provider 1d927085dd81 prices, VPC limits and bandwidth\",\n\"instanceTypes\": [\n",
    );
    for (i, spec) in specs.iter().enumerate() {
        let sep = if i + 1 < specs.len() { "," } else { "" };
        let _ = writeln!(out, "{}{sep}", serde_json::to_string(spec)?);
    }
    out.push_str("],\n\"regions\": ");
    out.push_str(&serde_json::to_string(&regions)?);
    out.push_str(",\n\"onDemandPrices\": ");
    out.push_str(&serde_json::to_string(&prices)?);
    out.push_str(",\n\"vpcLimits\": ");
    out.push_str(&serde_json::to_string(&vpc_limits)?);
    out.push_str(",\n\"bandwidthMbps\": ");
    out.push_str(&serde_json::to_string(&bandwidth)?);
    out.push_str("\n}\n");
    Ok(out)
}
