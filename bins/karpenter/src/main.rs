//! The `karpenter` command line.
//!
//! `karpenter catalog` lists the instance types a set of NodePool requirements allows, from the embedded AWS
//! catalog, as a table or as JSON. `karpenter crds` prints the CustomResourceDefinitions of NodePool, NodeClaim,
//! EC2NodeClass and the KWOK provider's KWOKNodeClass, or writes them into a directory (the Helm chart's
//! `crds/`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use karpenter_catalog::{AmiFamily, Catalog, NodeClassSettings, well_known_labels};
use karpenter_solver::model::{InstanceType, NodePool, NodeSelectorRequirement, ResourceList};
use karpenter_solver::{InstanceTypeIndex, SolverConfig, allocatable};
use serde::Serialize;

#[derive(Parser)]
#[command(name = "karpenter", version, about = "A Karpenter-compatible node autoscaler")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the instance types a set of NodePool requirements allows.
    Catalog(CatalogArgs),
    /// Print the CRDs of NodePool, NodeClaim, EC2NodeClass and KWOKNodeClass as YAML.
    Crds(CrdsArgs),
}

#[derive(clap::Args)]
struct CrdsArgs {
    /// Write one file per CRD into this directory (as `charts/karpenter/crds/` holds them) instead of printing.
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Parser)]
struct CatalogArgs {
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
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Table,
    Json,
}

/// One instance type in `-o json`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Listed<'a> {
    name: &'a str,
    capacity: &'a ResourceList,
    allocatable: ResourceList,
    labels: BTreeMap<&'a str, serde_json::Value>,
    offerings: Vec<ListedOffering<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListedOffering<'a> {
    zone: &'a str,
    capacity_type: &'a str,
    price: f64,
    available: bool,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Catalog(args) => catalog(&args),
        Command::Crds(args) => crds(&args),
    }
}

/// Prints the CRDs, or writes them into `--dir`.
fn crds(args: &CrdsArgs) -> Result<()> {
    let Some(dir) = &args.dir else {
        let yaml = karpenter_api::crds::to_yaml()?;
        std::io::stdout().lock().write_all(yaml.as_bytes()).context("writing the CRDs to standard output")?;
        return Ok(());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (file, yaml) in karpenter_api::crds::files()? {
        let path = dir.join(file);
        std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
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

fn cheapest(it: &InstanceType) -> Option<f64> {
    it.offerings.iter().filter(|o| o.available).map(|o| o.price).min_by(f64::total_cmp)
}

#[allow(clippy::print_stdout, reason = "the listing is the command's output")]
fn catalog(args: &CatalogArgs) -> Result<()> {
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
    let config = SolverConfig { well_known_labels: well_known_labels(), ..SolverConfig::default() };
    let index = InstanceTypeIndex::new(&types, &config);
    let allowed = index.allowed(&pool).map_err(|e| {
        anyhow::anyhow!(
            "--requirement: {}{}",
            e.field.map(|f| format!("{f}: ")).unwrap_or_default(),
            e.message
        )
    })?;

    let rows = allowed
        .iter()
        .map(|&i| {
            let it = &types[i];
            let alloc = allocatable(it).map_err(|e| anyhow::anyhow!("{}: {}", e.object, e.message))?;
            Ok((it, alloc))
        })
        .collect::<Result<Vec<_>>>()?;

    match args.output {
        Output::Json => {
            let listed: Vec<Listed<'_>> = rows
                .into_iter()
                .map(|(it, allocatable)| Listed {
                    name: &it.name,
                    capacity: &it.capacity,
                    allocatable,
                    labels: labels(it),
                    offerings: it
                        .offerings
                        .iter()
                        .map(|o| ListedOffering {
                            zone: &o.zone,
                            capacity_type: &o.capacity_type,
                            price: o.price,
                            available: o.available,
                        })
                        .collect(),
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&listed)?);
        }
        Output::Table => {
            println!(
                "{:<24} {:>5} {:>10} {:>10} {:>12} {:>6} {:>10}",
                "NAME", "VCPU", "MEMORY", "ALLOC CPU", "ALLOC MEMORY", "PODS", "PRICE/H"
            );
            for (it, alloc) in &rows {
                let price = cheapest(it).map_or_else(|| "-".to_string(), |p| format!("{p:.4}"));
                println!(
                    "{:<24} {:>5} {:>10} {:>10} {:>12} {:>6} {:>10}",
                    it.name,
                    it.capacity["cpu"],
                    it.capacity["memory"],
                    alloc["cpu"],
                    alloc["memory"],
                    alloc["pods"],
                    price
                );
            }
            println!("{} instance types", rows.len());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
