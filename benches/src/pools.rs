//! The NodePool axis: the same pods over the real us-east-1 catalog offered to 1 … 50 distinct NodePools, with
//! the instance types passed once for every pool, or as one list per pool (what a cloud provider answering
//! "instance types for this NodePool" produces), either sharing the catalog's `Arc`s or as deep copies.

use std::collections::BTreeMap;
use std::sync::Arc;

use karpenter_solver::SolverConfig;
use karpenter_solver::model::{InstanceType, NodePool, NodeSelectorRequirement, Problem};

use crate::{GoRand, diverse_pods};

/// How the instance types reach the NodePools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lists {
    /// One list for every pool (`Problem::instance_types`).
    Shared,
    /// A list per pool holding the same `Arc`s.
    PerPool,
    /// A list per pool of deep copies (as a provider that builds each answer anew would).
    PerPoolCopies,
}

impl Lists {
    /// Parses `shared`, `per-pool` or `per-pool-copies`.
    pub fn parse(name: &str) -> Option<Lists> {
        Some(match name {
            "shared" => Lists::Shared,
            "per-pool" => Lists::PerPool,
            "per-pool-copies" => Lists::PerPoolCopies,
            _ => return None,
        })
    }

    /// The name `parse` reads.
    pub fn name(self) -> &'static str {
        match self {
            Lists::Shared => "shared",
            Lists::PerPool => "per-pool",
            Lists::PerPoolCopies => "per-pool-copies",
        }
    }
}

/// The `index`th of the distinct NodePools: a rotating set of categories and capacity types, its own label and a
/// weight, so that no two pools offer the same types under the same labels.
pub fn distinct_pool(index: usize) -> NodePool {
    const CATEGORIES: [&[&str]; 7] =
        [&["c", "m", "r"], &["c"], &["m"], &["r"], &["c", "m"], &["m", "r"], &["c", "r"]];
    const CAPACITY: [&[&str]; 3] = [&["on-demand", "spot"], &["on-demand"], &["spot"]];
    NodePool {
        name: format!("pool-{index:02}"),
        weight: Some((index % 10 + 1) as i32),
        labels: BTreeMap::from([("example.com/pool".to_string(), index.to_string())]),
        requirements: vec![
            NodeSelectorRequirement::new("kubernetes.io/os", "In", &["linux"]),
            NodeSelectorRequirement::new("karpenter.sh/capacity-type", "In", CAPACITY[index % 3]),
            NodeSelectorRequirement::new("karpenter.k8s.aws/instance-category", "In", CATEGORIES[index % 7]),
            NodeSelectorRequirement::new("karpenter.k8s.aws/instance-generation", "Gt", &["2"]),
        ],
        ..NodePool::default()
    }
}

/// `pods` diverse pods (seed-42) for `pools` distinct NodePools over the us-east-1 catalog.
pub fn pools_problem(pools: usize, pods: usize, lists: Lists) -> (Problem, SolverConfig) {
    let catalog =
        karpenter_catalog::Catalog::embedded("us-east-1").expect("the embedded catalog covers us-east-1");
    let types: Vec<Arc<InstanceType>> = catalog
        .instance_types(&karpenter_catalog::NodeClassSettings::default())
        .expect("default settings are valid")
        .into_iter()
        .map(Arc::new)
        .collect();
    let node_pools: Vec<NodePool> = (0..pools).map(distinct_pool).collect();
    let config = karpenter_catalog::solver_config();
    let pods = diverse_pods(&mut GoRand::seed_42(), pods);
    let problem = match lists {
        Lists::Shared => Problem { pods, node_pools, instance_types: types, ..Problem::default() },
        Lists::PerPool | Lists::PerPoolCopies => {
            let pool_instance_types = node_pools
                .iter()
                .map(|pool| {
                    let list =
                        types
                            .iter()
                            .map(|it| {
                                if lists == Lists::PerPool {
                                    Arc::clone(it)
                                } else {
                                    Arc::new((**it).clone())
                                }
                            })
                            .collect();
                    (pool.name.clone(), list)
                })
                .collect();
            Problem { pods, node_pools, pool_instance_types, ..Problem::default() }
        }
    };
    (problem, config)
}
