//! `karpenter catalog`: the instance types a set of NodePool requirements allows, from the embedded AWS catalog,
//! with the offerings those requirements allow (the scheduler's own check, `InstanceTypeIndex::allowed_offerings`).

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use karpenter_catalog::{AmiFamily, Catalog, NodeClassSettings};
use karpenter_solver::model::{InstanceType, NodePool, NodeSelectorRequirement, Offering, ResourceList};
use karpenter_solver::quantity::Quantity;
use karpenter_solver::{InstanceTypeIndex, allocatable};
use serde::Serialize;

#[derive(Parser)]
pub(crate) struct CatalogArgs {
    /// AWS region of the embedded catalog.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// A NodePool requirement, `key Operator value1,value2` (repeatable), e.g. `kubernetes.io/arch In arm64`.
    #[arg(long = "requirement", value_name = "REQUIREMENT")]
    requirements: Vec<String>,
    /// AMI family of the EC2NodeClass: AL2, AL2023, Bottlerocket, Windows2019, Windows2022, Windows2025, Custom.
    #[arg(long, default_value = "AL2023")]
    ami_family: String,
    /// `kubelet.maxPods` of the EC2NodeClass.
    #[arg(long)]
    max_pods: Option<u32>,
    /// ENIs kept back from pods (`--reserved-enis` of the controller).
    #[arg(long, default_value_t = 0)]
    reserved_enis: u32,
    /// List every offering of each type, marking those the requirements exclude (by default only the offerings
    /// the requirements allow are listed).
    #[arg(long)]
    all_offerings: bool,
    /// Order of the table's rows.
    #[arg(long, value_enum, default_value_t = Sort::Name)]
    sort: Sort,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

/// How the table's rows are ordered.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Sort {
    /// By instance type name.
    Name,
    /// Cheapest allowed available offering first (types without one last), then by name.
    Price,
    /// Fewest vCPUs first, then by name.
    Vcpu,
    /// Least memory first, then by name.
    Memory,
}

/// One instance type in `-o json`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Listed<'a> {
    name: &'a str,
    capacity: &'a ResourceList,
    allocatable: ResourceList,
    labels: BTreeMap<&'a str, serde_json::Value>,
    /// The cheapest available offering the requirements allow.
    cheapest_price: Option<f64>,
    offerings: Vec<ListedOffering<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListedOffering<'a> {
    zone: &'a str,
    capacity_type: &'a str,
    price: f64,
    available: bool,
    /// Whether the requirements allow it (always true unless `--all-offerings`).
    allowed: bool,
}

/// An allowed instance type with what the listing shows of it.
struct Row<'a> {
    it: &'a InstanceType,
    allocatable: ResourceList,
    /// Each offering with whether the requirements allow it.
    offerings: Vec<(&'a Offering, bool)>,
}

impl Row<'_> {
    /// The cheapest available offering the requirements allow: the price the pool can pay.
    fn cheapest(&self) -> Option<f64> {
        self.offerings
            .iter()
            .filter(|(o, allowed)| *allowed && o.available)
            .map(|(o, _)| o.price)
            .min_by(f64::total_cmp)
    }

    /// `5 on-demand`, `5 on-demand, 1 unavailable (6 spot excluded)`: the allowed available offerings by capacity
    /// type, the allowed ones that are unavailable now, and with `--all-offerings` the excluded ones.
    fn offerings_summary(&self, all_offerings: bool) -> String {
        let by_capacity_type = |pick: &dyn Fn(&Offering, bool) -> bool| {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for (offering, allowed) in &self.offerings {
                if pick(offering, *allowed) {
                    *counts.entry(offering.capacity_type.as_str()).or_default() += 1;
                }
            }
            counts.iter().map(|(ct, n)| format!("{n} {ct}")).collect::<Vec<_>>().join(", ")
        };
        let mut text = by_capacity_type(&|o, allowed| allowed && o.available);
        if text.is_empty() {
            text = "none available".to_string();
        }
        let unavailable = self.offerings.iter().filter(|(o, allowed)| *allowed && !o.available).count();
        if unavailable > 0 {
            text.push_str(&format!(", {unavailable} unavailable"));
        }
        let excluded = by_capacity_type(&|_, allowed| !allowed);
        if all_offerings && !excluded.is_empty() {
            text.push_str(&format!(" ({excluded} excluded)"));
        }
        text
    }
}

/// Parses `key Operator v1,v2`.
fn parse_requirement(text: &str) -> Result<NodeSelectorRequirement> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let (key, operator, values) = match words.as_slice() {
        [key, operator] => (*key, *operator, Vec::new()),
        [key, operator, values] => {
            (*key, *operator, values.split(',').filter(|v| !v.is_empty()).map(str::to_string).collect())
        }
        _ => bail!("--requirement {text:?}: expected `key Operator [value1,value2]`"),
    };
    Ok(NodeSelectorRequirement {
        key: key.to_string(),
        operator: operator.to_string(),
        values,
        min_values: None,
    })
}

/// Labels as a map: a single value as a string, several as a list; keys the type does not have are left out.
fn labels(it: &InstanceType) -> BTreeMap<&str, serde_json::Value> {
    it.requirements
        .iter()
        .filter(|r| r.operator == "In")
        .map(|r| {
            let value = match r.values.as_slice() {
                [one] => serde_json::Value::String(one.clone()),
                many => serde_json::Value::from(many.to_vec()),
            };
            (r.key.as_str(), value)
        })
        .collect()
}

/// A capacity quantity in milli-units, for sorting; a missing or odd one sorts first.
fn amount(list: &ResourceList, name: &str) -> i64 {
    list.get(name).and_then(|q| Quantity::parse(q).ok()).and_then(|q| q.to_milli()).unwrap_or(0)
}

/// Writes the listing `args` asks for to `out`.
pub(crate) fn write(args: &CatalogArgs, out: &mut impl Write) -> Result<()> {
    let ami_family = AmiFamily::parse(&args.ami_family).with_context(|| {
        format!(
            "--ami-family {:?}: expected AL2, AL2023, Bottlerocket, Windows2019, Windows2022, Windows2025 or Custom",
            args.ami_family
        )
    })?;
    let settings = NodeClassSettings {
        ami_family,
        max_pods: args.max_pods,
        reserved_enis: args.reserved_enis,
        ..NodeClassSettings::default()
    };
    let catalog = Catalog::embedded(&args.region)?;
    let types = catalog.instance_types(&settings)?;
    let requirements = args.requirements.iter().map(|r| parse_requirement(r)).collect::<Result<Vec<_>>>()?;
    let pool = NodePool { name: "catalog".to_string(), requirements, ..NodePool::default() };
    let config = karpenter_catalog::solver_config();
    let index = InstanceTypeIndex::new(&types, &config);
    let allowed = index.allowed_offerings(&pool).map_err(|e| {
        anyhow::anyhow!(
            "--requirement: {}{}",
            e.field.map(|f| format!("{f}: ")).unwrap_or_default(),
            e.message
        )
    })?;

    let mut rows = allowed
        .iter()
        .map(|entry| {
            let it = &types[entry.position];
            let allocatable = allocatable(it).map_err(|e| anyhow::anyhow!("{}: {}", e.object, e.message))?;
            let offerings = it
                .offerings
                .iter()
                .enumerate()
                .map(|(i, o)| (o, entry.offerings.contains(&i)))
                .filter(|(_, allowed)| *allowed || args.all_offerings)
                .collect();
            Ok(Row { it, allocatable, offerings })
        })
        .collect::<Result<Vec<_>>>()?;
    match args.sort {
        Sort::Name => rows.sort_by(|a, b| a.it.name.cmp(&b.it.name)),
        Sort::Price => rows.sort_by(|a, b| {
            let price = |r: &Row<'_>| r.cheapest().unwrap_or(f64::INFINITY);
            price(a).total_cmp(&price(b)).then_with(|| a.it.name.cmp(&b.it.name))
        }),
        Sort::Vcpu | Sort::Memory => {
            let resource = if args.sort == Sort::Vcpu { "cpu" } else { "memory" };
            rows.sort_by(|a, b| {
                amount(&a.it.capacity, resource)
                    .cmp(&amount(&b.it.capacity, resource))
                    .then_with(|| a.it.name.cmp(&b.it.name))
            });
        }
    }

    match args.output {
        Output::Json => {
            let listed: Vec<Listed<'_>> = rows
                .iter()
                .map(|row| Listed {
                    name: &row.it.name,
                    capacity: &row.it.capacity,
                    allocatable: row.allocatable.clone(),
                    labels: labels(row.it),
                    cheapest_price: row.cheapest(),
                    offerings: row
                        .offerings
                        .iter()
                        .map(|(o, allowed)| ListedOffering {
                            zone: &o.zone,
                            capacity_type: &o.capacity_type,
                            price: o.price,
                            available: o.available,
                            allowed: *allowed,
                        })
                        .collect(),
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&listed)?)?;
        }
        Output::Table => {
            writeln!(
                out,
                "{:<24} {:>5} {:>10} {:>10} {:>12} {:>6} {:>10}  OFFERINGS",
                "NAME", "VCPU", "MEMORY", "ALLOC CPU", "ALLOC MEMORY", "PODS", "PRICE/H"
            )?;
            for row in &rows {
                let price = row.cheapest().map_or_else(|| "-".to_string(), |p| format!("{p:.4}"));
                let field =
                    |list: &ResourceList, name: &str| list.get(name).cloned().unwrap_or_else(|| "-".into());
                writeln!(
                    out,
                    "{:<24} {:>5} {:>10} {:>10} {:>12} {:>6} {:>10}  {}",
                    row.it.name,
                    field(&row.it.capacity, "cpu"),
                    field(&row.it.capacity, "memory"),
                    field(&row.allocatable, "cpu"),
                    field(&row.allocatable, "memory"),
                    field(&row.allocatable, "pods"),
                    price,
                    row.offerings_summary(args.all_offerings),
                )?;
            }
            writeln!(out, "{} instance types", rows.len())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    /// The seed NodePool's requirements (ARM64 Graviton, on-demand, categories c/m/t, generation > 3).
    const SEED: [&str; 4] = [
        "kubernetes.io/arch In arm64",
        "karpenter.sh/capacity-type In on-demand",
        "karpenter.k8s.aws/instance-category In c,m,t",
        "karpenter.k8s.aws/instance-generation Gt 3",
    ];

    fn listing(requirements: &[&str], flags: &[&str]) -> String {
        let mut argv = vec!["catalog"];
        for requirement in SEED.iter().chain(requirements) {
            argv.extend(["--requirement", requirement]);
        }
        argv.extend(flags);
        let args = CatalogArgs::try_parse_from(argv).unwrap();
        let mut out = Vec::new();
        write(&args, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The header, the first rows and the count.
    fn check(requirements: &[&str], flags: &[&str], expected: Expect) {
        let text = listing(requirements, flags);
        let lines: Vec<&str> = text.lines().collect();
        let shown: Vec<&str> = lines.iter().take(4).chain(lines.last()).copied().collect();
        expected.assert_eq(&shown.join("\n"));
    }

    #[test]
    fn requirements_are_parsed_from_flags() {
        let r = parse_requirement("karpenter.k8s.aws/instance-category In c,m,t").unwrap();
        assert_eq!(
            (r.key.as_str(), r.operator.as_str(), r.values.len()),
            ("karpenter.k8s.aws/instance-category", "In", 3)
        );
        let r = parse_requirement("karpenter.k8s.aws/instance-generation Gt 3").unwrap();
        assert_eq!(r.values, vec!["3".to_string()]);
        assert!(parse_requirement("kubernetes.io/arch Exists").unwrap().values.is_empty());
        let error = parse_requirement("just-a-key").unwrap_err().to_string();
        assert!(error.contains("expected `key Operator [value1,value2]`"), "{error}");
    }

    #[test]
    fn the_seed_pool_lists_only_on_demand_offerings() {
        check(
            &[],
            &[],
            expect![[r#"
            NAME                      VCPU     MEMORY  ALLOC CPU ALLOC MEMORY   PODS    PRICE/H  OFFERINGS
            c6g.12xlarge                48    90872Mi     47810m      87943Mi    234     1.6320  5 on-demand, 1 unavailable
            c6g.16xlarge                64   121182Mi     63770m     112720Mi    737     2.1760  5 on-demand, 1 unavailable
            c6g.2xlarge                  8    15096Mi      7910m      14103Mi     58     0.2720  5 on-demand, 1 unavailable
            236 instance types"#]],
        );
    }

    #[test]
    fn a_zone_requirement_lists_only_that_zone() {
        check(
            &["topology.kubernetes.io/zone In us-east-1a"],
            &[],
            expect![[r#"
            NAME                      VCPU     MEMORY  ALLOC CPU ALLOC MEMORY   PODS    PRICE/H  OFFERINGS
            c6g.12xlarge                48    90872Mi     47810m      87943Mi    234     1.6320  1 on-demand
            c6g.16xlarge                64   121182Mi     63770m     112720Mi    737     2.1760  1 on-demand
            c6g.2xlarge                  8    15096Mi      7910m      14103Mi     58     0.2720  1 on-demand
            236 instance types"#]],
        );
    }

    #[test]
    fn all_offerings_restores_the_excluded_ones_marked() {
        check(
            &[],
            &["--all-offerings"],
            expect![[r#"
            NAME                      VCPU     MEMORY  ALLOC CPU ALLOC MEMORY   PODS    PRICE/H  OFFERINGS
            c6g.12xlarge                48    90872Mi     47810m      87943Mi    234     1.6320  5 on-demand, 1 unavailable (6 spot excluded)
            c6g.16xlarge                64   121182Mi     63770m     112720Mi    737     2.1760  5 on-demand, 1 unavailable (6 spot excluded)
            c6g.2xlarge                  8    15096Mi      7910m      14103Mi     58     0.2720  5 on-demand, 1 unavailable (6 spot excluded)
            236 instance types"#]],
        );
        let json = listing(&[], &["-o", "json", "--all-offerings"]);
        let listed: serde_json::Value = serde_json::from_str(&json).unwrap();
        let offerings = listed[0]["offerings"].as_array().unwrap();
        assert!(offerings.iter().any(|o| o["capacityType"] == "spot" && o["allowed"] == false), "{json}");
        assert!(offerings.iter().filter(|o| o["capacityType"] == "spot").all(|o| o["allowed"] == false));
        assert!(offerings.iter().filter(|o| o["capacityType"] == "on-demand").all(|o| o["allowed"] == true));
    }

    #[test]
    fn json_lists_only_allowed_offerings_and_their_cheapest_price() {
        let json = listing(&["topology.kubernetes.io/zone In us-east-1b"], &["-o", "json"]);
        let listed: serde_json::Value = serde_json::from_str(&json).unwrap();
        for it in listed.as_array().unwrap() {
            for offering in it["offerings"].as_array().unwrap() {
                assert_eq!(
                    (&offering["zone"], &offering["capacityType"]),
                    (&"us-east-1b".into(), &"on-demand".into())
                );
            }
            let cheapest = it["offerings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|o| o["available"] == true)
                .map(|o| o["price"].as_f64().unwrap())
                .min_by(f64::total_cmp);
            assert_eq!(it["cheapestPrice"].as_f64(), cheapest, "{}", it["name"]);
        }
    }

    #[test]
    fn rows_sort_by_price_vcpu_or_memory() {
        check(
            &[],
            &["--sort", "price"],
            expect![[r#"
            NAME                      VCPU     MEMORY  ALLOC CPU ALLOC MEMORY   PODS    PRICE/H  OFFERINGS
            t4g.nano                     2      414Mi      1930m         15Mi      4     0.0042  5 on-demand, 1 unavailable
            t4g.micro                    2      888Mi      1930m        489Mi      4     0.0084  5 on-demand, 1 unavailable
            t4g.small                    2     1835Mi      1930m       1359Mi     11     0.0168  5 on-demand, 1 unavailable
            236 instance types"#]],
        );
        check(
            &[],
            &["--sort", "vcpu"],
            expect![[r#"
            NAME                      VCPU     MEMORY  ALLOC CPU ALLOC MEMORY   PODS    PRICE/H  OFFERINGS
            c6g.medium                   1     1835Mi       940m       1392Mi      8     0.0340  5 on-demand, 1 unavailable
            c6gd.medium                  1     1835Mi       940m       1392Mi      8     0.0384  5 on-demand, 1 unavailable
            c6gn.medium                  1     1835Mi       940m       1392Mi      8     0.0432  5 on-demand, 1 unavailable
            236 instance types"#]],
        );
        check(
            &[],
            &["--sort", "memory"],
            expect![[r#"
            NAME                      VCPU     MEMORY  ALLOC CPU ALLOC MEMORY   PODS    PRICE/H  OFFERINGS
            t4g.nano                     2      414Mi      1930m         15Mi      4     0.0042  5 on-demand, 1 unavailable
            t4g.micro                    2      888Mi      1930m        489Mi      4     0.0084  5 on-demand, 1 unavailable
            c6g.medium                   1     1835Mi       940m       1392Mi      8     0.0340  5 on-demand, 1 unavailable
            236 instance types"#]],
        );
    }
}
