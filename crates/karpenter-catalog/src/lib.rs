//! AWS instance types as Karpenter sees them: capacity, overhead, labels, offerings and prices, built exactly as
//! the AWS provider builds them (`aws/karpenter-provider-aws: pkg/providers/instancetype`,
//! `pkg/providers/pricing`), as the solver's [`karpenter_solver::model::InstanceType`].
//!
//! A [`Catalog`] holds plain AWS facts ([`spec`] records) for one region. [`Catalog::embedded`] fills it from
//! data shipped with this crate, so that the solver can run over the real catalog with no AWS account; a cloud
//! provider fills the same records from `DescribeInstanceTypes`, `DescribeInstanceTypeOfferings`,
//! `DescribeSpotPriceHistory` and the pricing API with [`Catalog::new`] and [`Catalog::set_spot_prices`].
//!
//! ```
//! use karpenter_catalog::{Catalog, NodeClassSettings};
//!
//! let catalog = Catalog::embedded("us-east-1").unwrap();
//! let types = catalog.instance_types(&NodeClassSettings::default()).unwrap();
//! let m5 = types.iter().find(|t| t.name == "m5.large").unwrap();
//! assert_eq!(m5.capacity["memory"], "7577Mi");
//! assert_eq!(m5.capacity["pods"], "29");
//! ```

mod build;
pub mod labels;
mod settings;
pub mod spec;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use karpenter_solver::model::InstanceType;
use serde::Deserialize;

pub use build::{eni_limited_pods, kube_reserved_cpu_milli, memory_mib};
pub use settings::{AmiFamily, BlockDeviceMapping, NodeClassSettings};
use spec::{InstanceTypeSpec, RegionOfferings, VpcLimits};

/// Why a catalog could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogError {
    /// The embedded data has no offerings for the region.
    #[error("no instance type offerings are known for region {region:?} (embedded: {known})")]
    UnknownRegion {
        /// The region asked for.
        region: String,
        /// Regions the embedded data covers.
        known: String,
    },
    /// A node class setting could not be used.
    #[error("invalid {field}: {reason}")]
    Setting {
        /// The setting, e.g. `kubelet.evictionHard.memory.available`.
        field: String,
        /// Why.
        reason: String,
    },
}

/// `Result` with a [`CatalogError`].
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// AWS facts for one region, ready to become instance types.
#[derive(Debug, Clone)]
pub struct Catalog {
    region: String,
    // Shared, not copied: the embedded facts are the same for every catalog made from them.
    specs: Arc<Vec<InstanceTypeSpec>>,
    offerings: Arc<RegionOfferings>,
    on_demand: Arc<BTreeMap<String, f64>>,
    spot: Option<BTreeMap<String, BTreeMap<String, f64>>>,
    vpc_limits: Arc<BTreeMap<String, VpcLimits>>,
    bandwidth_mbps: Arc<BTreeMap<String, u64>>,
    unavailable: BTreeSet<(String, String, String)>,
}

/// The data shipped with the crate (`data/aws.json`, written by `cargo xtask catalog-data` from the team's AWS
/// facts).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Embedded {
    instance_types: Arc<Vec<InstanceTypeSpec>>,
    regions: BTreeMap<String, Arc<RegionOfferings>>,
    on_demand_prices: BTreeMap<String, Arc<BTreeMap<String, f64>>>,
    vpc_limits: Arc<BTreeMap<String, VpcLimits>>,
    bandwidth_mbps: Arc<BTreeMap<String, u64>>,
}

fn embedded() -> &'static Embedded {
    static DATA: OnceLock<Embedded> = OnceLock::new();
    DATA.get_or_init(|| {
        serde_json::from_str(include_str!("../data/aws.json"))
            .expect("the embedded catalog is valid JSON for its schema")
    })
}

/// The region whose static on-demand prices stand in for a region without its own table: upstream ships
/// us-east-1 for every commercial region, and the GovCloud and China tables for theirs.
fn price_region<T>(region: &str, tables: &BTreeMap<String, T>) -> String {
    if tables.contains_key(region) { region.to_string() } else { "us-east-1".to_string() }
}

impl Catalog {
    /// The embedded catalog for a region (`us-east-1` or `us-west-2`).
    pub fn embedded(region: &str) -> Result<Catalog> {
        let data = embedded();
        let offerings = data.regions.get(region).cloned().ok_or_else(|| CatalogError::UnknownRegion {
            region: region.to_string(),
            known: data.regions.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
        let on_demand = data
            .on_demand_prices
            .get(&price_region(region, &data.on_demand_prices))
            .cloned()
            .unwrap_or_default();
        Ok(Catalog {
            region: region.to_string(),
            specs: Arc::clone(&data.instance_types),
            offerings,
            on_demand,
            spot: None,
            vpc_limits: Arc::clone(&data.vpc_limits),
            bandwidth_mbps: Arc::clone(&data.bandwidth_mbps),
            unavailable: BTreeSet::new(),
        })
    }

    /// Regions the embedded data covers.
    pub fn embedded_regions() -> Vec<String> {
        embedded().regions.keys().cloned().collect()
    }

    /// A catalog from live records.
    pub fn new(
        region: &str,
        specs: Vec<InstanceTypeSpec>,
        offerings: RegionOfferings,
        on_demand_prices: BTreeMap<String, f64>,
        vpc_limits: BTreeMap<String, VpcLimits>,
        bandwidth_mbps: BTreeMap<String, u64>,
    ) -> Catalog {
        Catalog {
            region: region.to_string(),
            specs: Arc::new(specs),
            offerings: Arc::new(offerings),
            on_demand: Arc::new(on_demand_prices),
            spot: None,
            vpc_limits: Arc::new(vpc_limits),
            bandwidth_mbps: Arc::new(bandwidth_mbps),
            unavailable: BTreeSet::new(),
        }
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The instance-type records.
    pub fn specs(&self) -> &[InstanceTypeSpec] {
        &self.specs
    }

    /// Replaces spot prices (instance type → zone → price). Until the first call, spot offerings are priced as
    /// on-demand; afterwards a zone without a spot price has no spot offering available.
    pub fn set_spot_prices(&mut self, prices: BTreeMap<String, BTreeMap<String, f64>>) {
        self.spot = Some(prices);
    }

    /// Marks an offering unavailable (the provider's insufficient-capacity cache decides which and for how long).
    pub fn mark_unavailable(&mut self, instance_type: &str, zone: &str, capacity_type: &str) {
        self.unavailable.insert((instance_type.to_string(), zone.to_string(), capacity_type.to_string()));
    }

    /// Forgets every unavailability mark.
    pub fn clear_unavailable(&mut self) {
        self.unavailable.clear();
    }

    /// Every instance type of the region as the node class shapes it, sorted by name. Types Kubernetes cannot run
    /// (no x86_64 or arm64 architecture) are left out; all others are kept, unavailable offerings included, as
    /// upstream's `GetInstanceTypes` returns them.
    pub fn instance_types(&self, settings: &NodeClassSettings) -> Result<Vec<InstanceType>> {
        let checked = build::Checked::new(settings)?;
        let facts = build::Facts {
            region: &self.region,
            offerings: &self.offerings,
            on_demand: &self.on_demand,
            spot: self.spot.as_ref(),
            vpc_limits: &self.vpc_limits,
            bandwidth_mbps: &self.bandwidth_mbps,
            unavailable: &self.unavailable,
        };
        let mut types: Vec<InstanceType> =
            self.specs.iter().filter_map(|spec| build::instance_type(spec, &facts, &checked)).collect();
        types.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(types)
    }
}

/// The label domain the AWS provider reserves (`karpenter.k8s.aws`): pods may select only its well-known labels.
pub fn restricted_label_domains() -> Vec<String> {
    vec!["karpenter.k8s.aws".to_string()]
}

/// The solver's settings for the AWS provider: its well-known labels and its reserved label domain, with
/// upstream's defaults otherwise.
pub fn solver_config() -> karpenter_solver::SolverConfig {
    karpenter_solver::SolverConfig {
        well_known_labels: well_known_labels(),
        restricted_label_domains: restricted_label_domains(),
        ..karpenter_solver::SolverConfig::default()
    }
}

/// The AWS provider's well-known labels, for `SolverConfig::well_known_labels`: instance types may leave them
/// undefined while pods still select them.
pub fn well_known_labels() -> Vec<String> {
    labels::WELL_KNOWN.iter().map(|l| l.to_string()).collect()
}
