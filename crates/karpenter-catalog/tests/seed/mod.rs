//! The NodePool of the seed document (`karpenter-overview.md`), as its requirements reach the solver: Graviton,
//! on-demand, categories c/m/t, generation 4 or later. Shared by the catalog's tests and its bench.

use karpenter_solver::model::{NodePool, NodeSelectorRequirement};

pub(crate) fn seed_node_pool() -> NodePool {
    NodePool {
        name: "default".into(),
        requirements: vec![
            NodeSelectorRequirement::new("kubernetes.io/arch", "In", &["arm64"]),
            NodeSelectorRequirement::new("karpenter.sh/capacity-type", "In", &["on-demand"]),
            NodeSelectorRequirement::new("karpenter.k8s.aws/instance-category", "In", &["c", "m", "t"]),
            NodeSelectorRequirement::new("karpenter.k8s.aws/instance-generation", "Gt", &["3"]),
        ],
        ..NodePool::default()
    }
}
