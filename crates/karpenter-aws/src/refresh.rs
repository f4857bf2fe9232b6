//! Catalog refresh: live `DescribeInstanceTypes`, `DescribeInstanceTypeOfferings`, `DescribeAvailabilityZones`,
//! `DescribeSpotPriceHistory` and the pricing API's `GetProducts` become the records `karpenter-catalog`
//! builds instance types from (`aws/karpenter-provider-aws: pkg/providers/instancetype/instancetype.go`
//! `UpdateInstanceTypes`/`UpdateInstanceTypeOfferings`, `pkg/providers/pricing/pricing.go`).
//!
//! Each source is used when its calls succeed; otherwise what the provider had stays (the embedded catalog
//! at first), as upstream keeps its previous data when a refresh fails.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::SystemTime;

use aws_sdk_ec2::types::{Filter, InstanceTypeInfo, LocationType};
use karpenter_catalog::Catalog;
use karpenter_catalog::spec::{
    Device, InstanceStorage, InstanceTypeSpec, NeuronDevice, RegionOfferings, VpcLimits, Zone,
};
use serde::Deserialize;

use crate::Clients;
use crate::error::AwsError;

/// The facts no AWS API serves (VPC limits, network bandwidth) and the static on-demand prices, from the
/// catalog's embedded data.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StaticTables {
    on_demand_prices: BTreeMap<String, BTreeMap<String, f64>>,
    vpc_limits: BTreeMap<String, VpcLimits>,
    bandwidth_mbps: BTreeMap<String, u64>,
    regions: BTreeMap<String, RegionOfferings>,
}

fn static_tables() -> &'static StaticTables {
    static TABLES: OnceLock<StaticTables> = OnceLock::new();
    TABLES.get_or_init(|| {
        serde_json::from_str(include_str!("../../karpenter-catalog/data/aws.json"))
            .expect("the catalog's embedded data has its documented shape")
    })
}

/// What a refresh did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RefreshReport {
    /// Instance types read from DescribeInstanceTypes (with their offerings), if that part succeeded.
    pub instance_types: Option<usize>,
    /// Spot prices read (type and zone pairs), if that part succeeded.
    pub spot_prices: Option<usize>,
    /// On-demand prices read from the pricing API, if that part succeeded.
    pub on_demand_prices: Option<usize>,
    /// The parts that failed, with why; their data stayed as it was.
    pub failures: Vec<String>,
}

/// Reads an `InstanceTypeInfo` into the catalog's record.
pub fn spec_of(info: &InstanceTypeInfo) -> InstanceTypeSpec {
    let processor = info.processor_info();
    let network = info.network_info();
    let memory_mib = info.memory_info().and_then(|m| m.size_in_mib()).unwrap_or(0);
    let mut cards: Vec<(i32, u32)> = network
        .map(|n| {
            n.network_cards()
                .iter()
                .map(|c| {
                    (
                        c.network_card_index().unwrap_or(0),
                        u32::try_from(c.maximum_network_interfaces().unwrap_or(0)).unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    cards.sort();
    if cards.is_empty() {
        cards.push((
            0,
            network
                .and_then(|n| n.maximum_network_interfaces())
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0),
        ));
    }
    let count = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
    InstanceTypeSpec {
        name: info.instance_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
        vcpus: count(info.v_cpu_info().and_then(|v| v.default_v_cpus())),
        memory_mib: u64::try_from(memory_mib).unwrap_or(0),
        architectures: processor
            .map(|p| p.supported_architectures().iter().map(|a| a.as_str().to_string()).collect())
            .unwrap_or_default(),
        cpu_manufacturer: processor.and_then(|p| p.manufacturer()).map(str::to_string),
        sustained_clock_ghz: processor.and_then(|p| p.sustained_clock_speed_in_ghz()),
        hypervisor: info.hypervisor().map(|h| h.as_str().to_string()).unwrap_or_default(),
        usage_classes: info.supported_usage_classes().iter().map(|c| c.as_str().to_string()).collect(),
        default_network_card: count(network.and_then(|n| n.default_network_card_index())),
        network_cards: cards.into_iter().map(|(_, enis)| enis).collect(),
        ipv4_per_interface: count(network.and_then(|n| n.ipv4_addresses_per_interface())),
        encryption_in_transit: network.and_then(|n| n.encryption_in_transit_supported()).unwrap_or(false),
        efa_interfaces: network
            .and_then(|n| n.efa_info())
            .and_then(|e| e.maximum_efa_interfaces())
            .and_then(|v| u32::try_from(v).ok()),
        gpus: info
            .gpu_info()
            .map(|g| {
                g.gpus()
                    .iter()
                    .map(|d| Device {
                        name: d.name().unwrap_or_default().to_string(),
                        manufacturer: d.manufacturer().unwrap_or_default().to_string(),
                        count: count(d.count()),
                        memory_mib: d
                            .memory_info()
                            .and_then(|m| m.size_in_mib())
                            .and_then(|v| u64::try_from(v).ok()),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        accelerators: info
            .inference_accelerator_info()
            .map(|a| {
                a.accelerators()
                    .iter()
                    .map(|d| Device {
                        name: d.name().unwrap_or_default().to_string(),
                        manufacturer: d.manufacturer().unwrap_or_default().to_string(),
                        count: count(d.count()),
                        memory_mib: d
                            .memory_info()
                            .and_then(|m| m.size_in_mib())
                            .and_then(|v| u64::try_from(v).ok()),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        neuron_devices: info
            .neuron_info()
            .map(|n| {
                n.neuron_devices()
                    .iter()
                    .map(|d| NeuronDevice {
                        name: d.name().unwrap_or_default().to_string(),
                        count: count(d.count()),
                        cores: count(d.core_info().and_then(|c| c.count())),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        instance_storage: info.instance_storage_info().map(|s| InstanceStorage {
            total_gb: s.total_size_in_gb().and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
            nvme: s
                .nvme_support()
                .map(|n| n.as_str().to_string())
                .unwrap_or_else(|| "unsupported".to_string()),
        }),
        ebs_optimized_support: info
            .ebs_info()
            .and_then(|e| e.ebs_optimized_support())
            .map(|s| s.as_str().to_string()),
        ebs_max_bandwidth_mbps: info
            .ebs_info()
            .and_then(|e| e.ebs_optimized_info())
            .and_then(|o| o.maximum_bandwidth_in_mbps())
            .and_then(|v| u64::try_from(v).ok()),
        nitro_enclaves: info.nitro_enclaves_support().is_some_and(|s| s.as_str() == "supported"),
    }
}

fn filter(name: &str, values: &[&str]) -> Filter {
    Filter::builder().name(name).set_values(Some(values.iter().map(|v| v.to_string()).collect())).build()
}

/// Every instance type of the region that runs x86_64 or arm64 under HVM.
pub async fn instance_types(clients: &Clients) -> Result<Vec<InstanceTypeSpec>, AwsError> {
    let mut pages = clients
        .ec2
        .describe_instance_types()
        .filters(filter("supported-virtualization-type", &["hvm"]))
        .filters(filter("processor-info.supported-architecture", &["x86_64", "arm64"]))
        .max_results(100)
        .into_paginator()
        .send();
    let mut specs = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("DescribeInstanceTypes", e))?;
        specs.extend(page.instance_types().iter().map(spec_of));
    }
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(specs)
}

/// The region's zones and where each type is sold.
pub async fn offerings(clients: &Clients) -> Result<RegionOfferings, AwsError> {
    let zones = clients
        .ec2
        .describe_availability_zones()
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeAvailabilityZones", e))?;
    let mut zones: Vec<Zone> = zones
        .availability_zones()
        .iter()
        .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
        .filter_map(|z| {
            Some(Zone { name: z.zone_name()?.to_string(), id: z.zone_id().unwrap_or_default().to_string() })
        })
        .collect();
    zones.sort();
    let mut instance_types: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut pages = clients
        .ec2
        .describe_instance_type_offerings()
        .location_type(LocationType::AvailabilityZone)
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("DescribeInstanceTypeOfferings", e))?;
        for offering in page.instance_type_offerings() {
            if let (Some(t), Some(zone)) = (offering.instance_type(), offering.location()) {
                instance_types.entry(t.as_str().to_string()).or_default().push(zone.to_string());
            }
        }
    }
    for zones in instance_types.values_mut() {
        zones.sort();
        zones.dedup();
    }
    Ok(RegionOfferings { zones, instance_types })
}

/// The latest Linux spot price of each type in each zone (quotes from `now` on, which EC2 answers with the
/// price in force).
pub async fn spot_prices(
    clients: &Clients,
    now: SystemTime,
) -> Result<BTreeMap<String, BTreeMap<String, f64>>, AwsError> {
    let mut latest: BTreeMap<(String, String), (i64, f64)> = BTreeMap::new();
    let mut pages = clients
        .ec2
        .describe_spot_price_history()
        .product_descriptions("Linux/UNIX")
        .product_descriptions("Linux/UNIX (Amazon VPC)")
        .start_time(aws_smithy_types::DateTime::from(now))
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("DescribeSpotPriceHistory", e))?;
        for quote in page.spot_price_history() {
            let (Some(t), Some(zone), Some(price)) = (
                quote.instance_type(),
                quote.availability_zone(),
                quote.spot_price().and_then(|p| p.parse::<f64>().ok()),
            ) else {
                continue;
            };
            let at = quote.timestamp().map_or(0, |t| t.secs());
            let key = (t.as_str().to_string(), zone.to_string());
            if latest.get(&key).is_none_or(|(seen, _)| at >= *seen) {
                latest.insert(key, (at, price));
            }
        }
    }
    let mut prices: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for ((t, zone), (_, price)) in latest {
        prices.entry(t).or_default().insert(zone, price);
    }
    Ok(prices)
}

/// The region whose pricing endpoint serves a region's prices.
pub fn pricing_region(region: &str) -> &'static str {
    if region.starts_with("ap-") {
        "ap-south-1"
    } else if region.starts_with("cn-") {
        "cn-northwest-1"
    } else if region.starts_with("eu-") {
        "eu-central-1"
    } else {
        "us-east-1"
    }
}

/// The on-demand price in one GetProducts price-list entry: (instance type, USD or CNY per hour).
pub fn parse_price_list(entry: &str) -> Option<(String, f64)> {
    let value: serde_json::Value = serde_json::from_str(entry).ok()?;
    let instance_type = value.pointer("/product/attributes/instanceType")?.as_str()?.to_string();
    let terms = value.pointer("/terms/OnDemand")?.as_object()?;
    for term in terms.values() {
        for dimension in term.get("priceDimensions")?.as_object()?.values() {
            let per_unit = dimension.get("pricePerUnit")?;
            let price = per_unit.get("USD").or_else(|| per_unit.get("CNY"))?.as_str()?.parse::<f64>().ok()?;
            if price > 0.0 {
                return Some((instance_type, price));
            }
        }
    }
    None
}

/// On-demand Linux prices of a region: shared-tenancy instances and bare metal, both of which must answer.
pub async fn on_demand_prices(clients: &Clients, region: &str) -> Result<BTreeMap<String, f64>, AwsError> {
    use aws_sdk_pricing::types::{Filter as PriceFilter, FilterType};

    let mut prices = BTreeMap::new();
    for (tenancy, family) in [("Shared", "Compute Instance"), ("Dedicated", "Compute Instance (bare metal)")]
    {
        let term = |field: &str, value: &str| {
            PriceFilter::builder()
                .r#type(FilterType::TermMatch)
                .field(field)
                .value(value)
                .build()
                .expect("all fields set")
        };
        let mut pages = clients
            .pricing
            .get_products()
            .service_code("AmazonEC2")
            .filters(term("regionCode", region))
            .filters(term("preInstalledSw", "NA"))
            .filters(term("operatingSystem", "Linux"))
            .filters(term("capacitystatus", "Used"))
            .filters(term("marketoption", "OnDemand"))
            .filters(term("tenancy", tenancy))
            .filters(term("productFamily", family))
            .max_results(100)
            .into_paginator()
            .send();
        let mut found = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("GetProducts", e))?;
            for entry in page.price_list() {
                if let Some((t, price)) = parse_price_list(entry) {
                    prices.insert(t, price);
                    found += 1;
                }
            }
        }
        if found == 0 {
            return Err(AwsError {
                operation: "GetProducts",
                code: None,
                message: format!("no {tenancy} {family} prices for {region}"),
                transient: true,
            });
        }
    }
    Ok(prices)
}

/// Refreshes `current` from the live APIs. Instance types replace the catalog's only together with their
/// offerings; spot and on-demand prices are applied when they answer; whatever fails is kept as it was.
pub async fn refresh(
    clients: &Clients,
    region: &str,
    current: &Catalog,
    now: SystemTime,
) -> (Catalog, RefreshReport) {
    let mut report = RefreshReport::default();
    let live = match (instance_types(clients).await, offerings(clients).await) {
        (Ok(specs), Ok(offerings)) if !specs.is_empty() => Some((specs, offerings)),
        (Ok(_), Ok(_)) => {
            report.failures.push("DescribeInstanceTypes: no instance type returned".to_string());
            None
        }
        (types, offerings) => {
            report.failures.extend(types.err().map(|e| e.to_string()));
            report.failures.extend(offerings.err().map(|e| e.to_string()));
            None
        }
    };
    let on_demand = match on_demand_prices(clients, region).await {
        Ok(prices) => {
            report.on_demand_prices = Some(prices.len());
            Some(prices)
        }
        Err(e) => {
            report.failures.push(e.to_string());
            None
        }
    };
    let tables = static_tables();
    let mut catalog = match live {
        Some((specs, offerings)) => {
            report.instance_types = Some(specs.len());
            let prices = on_demand.clone().unwrap_or_else(|| {
                let fallback =
                    if tables.on_demand_prices.contains_key(region) { region } else { "us-east-1" };
                tables.on_demand_prices.get(fallback).cloned().unwrap_or_default()
            });
            Catalog::new(
                region,
                specs,
                offerings,
                prices,
                tables.vpc_limits.clone(),
                tables.bandwidth_mbps.clone(),
            )
        }
        None => match on_demand {
            // New prices over the embedded types and offerings.
            Some(prices) => match Catalog::embedded(region) {
                Ok(embedded) => Catalog::new(
                    region,
                    embedded.specs().to_vec(),
                    embedded_offerings(region)
                        .unwrap_or(RegionOfferings { zones: Vec::new(), instance_types: BTreeMap::new() }),
                    prices,
                    tables.vpc_limits.clone(),
                    tables.bandwidth_mbps.clone(),
                ),
                Err(_) => current.clone(),
            },
            None => current.clone(),
        },
    };
    match spot_prices(clients, now).await {
        Ok(prices) => {
            report.spot_prices = Some(prices.values().map(BTreeMap::len).sum());
            catalog.set_spot_prices(prices);
        }
        Err(e) => report.failures.push(e.to_string()),
    }
    (catalog, report)
}

/// The embedded offerings of a region.
fn embedded_offerings(region: &str) -> Option<RegionOfferings> {
    static_tables().regions.get(region).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_list_entries_give_the_hourly_on_demand_price() {
        let entry = r#"{"product":{"attributes":{"instanceType":"c7g.large","regionCode":"us-east-1"}},
            "terms":{"OnDemand":{"X.JRTCKXETXF":{"priceDimensions":{"X.JRTCKXETXF.6YS6EN2CT7":{"unit":"Hrs","pricePerUnit":{"USD":"0.0725000000"}}}}}}}"#;
        assert_eq!(parse_price_list(entry), Some(("c7g.large".to_string(), 0.0725)));
        let zero = entry.replace("0.0725000000", "0.0000000000");
        assert_eq!(parse_price_list(&zero), None, "zero prices are skipped");
        assert_eq!(parse_price_list("{}"), None);
    }

    #[test]
    fn pricing_endpoints_by_region() {
        assert_eq!(pricing_region("ap-northeast-1"), "ap-south-1");
        assert_eq!(pricing_region("eu-west-1"), "eu-central-1");
        assert_eq!(pricing_region("cn-north-1"), "cn-northwest-1");
        assert_eq!(pricing_region("us-west-2"), "us-east-1");
    }

    #[test]
    fn the_static_tables_load() {
        assert!(static_tables().vpc_limits.contains_key("m5.large"));
        assert!(static_tables().on_demand_prices.contains_key("us-east-1"));
        assert!(embedded_offerings("us-east-1").is_some_and(|o| !o.zones.is_empty()));
    }
}
