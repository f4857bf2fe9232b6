//! Embeds the AWS catalog and the solver: the seed overview's NodePool (ARM64 Graviton, on-demand, categories
//! c/m/t of generation 4 and later, limits 100 vCPU / 200Gi) over the real us-east-1 instance types, with a few
//! workloads, and prints the plan.
//!
//! `cargo run -p karpenter-examples --example catalog`

use std::collections::BTreeMap;

use anyhow::Result;
use karpenter_catalog::{Catalog, NodeClassSettings};
use karpenter_solver::model::{Container, NodeClassRef, NodePool, NodeSelectorRequirement, Pod, Problem};
use karpenter_solver::solve;

fn pods(name: &str, count: usize, cpu: &str, memory: &str) -> Vec<Pod> {
    (0..count)
        .map(|i| Pod {
            name: format!("{name}-{i}"),
            labels: BTreeMap::from([("app".to_string(), name.to_string())]),
            containers: vec![Container {
                name: name.to_string(),
                requests: BTreeMap::from([
                    ("cpu".to_string(), cpu.to_string()),
                    ("memory".to_string(), memory.to_string()),
                ]),
                ..Container::default()
            }],
            ..Pod::default()
        })
        .collect()
}

#[allow(clippy::print_stdout, reason = "an example's job is to print")]
fn main() -> Result<()> {
    let catalog = Catalog::embedded("us-east-1")?;
    let instance_types = catalog.instance_types(&NodeClassSettings::default())?;
    let node_pool = NodePool {
        name: "default".to_string(),
        requirements: vec![
            NodeSelectorRequirement::new("kubernetes.io/arch", "In", &["arm64"]),
            NodeSelectorRequirement::new("karpenter.sh/capacity-type", "In", &["on-demand"]),
            NodeSelectorRequirement::new("karpenter.k8s.aws/instance-category", "In", &["c", "m", "t"]),
            NodeSelectorRequirement::new("karpenter.k8s.aws/instance-generation", "Gt", &["3"]),
        ],
        limits: BTreeMap::from([
            ("cpu".to_string(), "100".to_string()),
            ("memory".to_string(), "200Gi".to_string()),
        ]),
        node_class_ref: Some(NodeClassRef {
            group: "karpenter.k8s.aws".to_string(),
            kind: "EC2NodeClass".to_string(),
            name: "default".to_string(),
        }),
        ..NodePool::default()
    };
    let mut workload = pods("inflate", 5, "1", "1.5Gi");
    workload.extend(pods("api", 4, "500m", "2Gi"));
    workload.extend(pods("batch", 2, "4", "8Gi"));
    let instance_types = instance_types.into_iter().map(std::sync::Arc::new).collect();
    let problem =
        Problem { pods: workload, node_pools: vec![node_pool], instance_types, ..Problem::default() };
    let config = karpenter_catalog::solver_config();
    let plan = solve(&problem, &config);
    print!("{}", plan.render());
    println!(
        "{} of {} pods on {} NodeClaims, ${:.4}/hour for the cheapest options",
        plan.scheduled_pods(),
        problem.pods.len(),
        plan.new_node_claims.len(),
        plan.new_capacity_price()
    );
    Ok(())
}
