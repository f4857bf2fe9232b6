//! The cost-quality suite (issue 18): pod mixes over the embedded us-east-1 catalog, on-demand prices, under a
//! NodePool of all c/m/r families (optionally capped in vCPU) or the seed document's Graviton NodePool.
//!
//! `diverse` is upstream's benchmark mix (seed-42 stream); the others are drawn from a SplitMix64 stream seeded per
//! mix, so every run of a mix and size builds the same pods.

use std::collections::BTreeMap;
use std::sync::Arc;

use karpenter_solver::SolverConfig;
use karpenter_solver::model::{Container, NodePool, NodeSelectorRequirement, Pod, Problem};

use crate::{GoRand, diverse_pods};

/// A pod mix of the cost suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostMix {
    /// Upstream's `makeDiversePods`: generic, zonal and hostname spread, zonal affinity, hostname anti-affinity.
    Diverse,
    /// Services: 70% small pods (100m-500m, 128Mi-1Gi), 25% medium (1-2 vCPU, 1-4Gi), 5% with 4-8 vCPU.
    Services,
    /// Memory-heavy: 250m-4 vCPU with 6-10 GiB per vCPU (about 1:8).
    MemoryHeavy,
    /// CPU-heavy: 500m-4 vCPU with 0.5-1.5 GiB per vCPU.
    CpuHeavy,
}

impl CostMix {
    /// Every mix.
    pub const ALL: [CostMix; 4] =
        [CostMix::Diverse, CostMix::Services, CostMix::MemoryHeavy, CostMix::CpuHeavy];

    /// Parses a mix name.
    pub fn parse(name: &str) -> Option<CostMix> {
        CostMix::ALL.into_iter().find(|mix| mix.name() == name)
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            CostMix::Diverse => "diverse",
            CostMix::Services => "services",
            CostMix::MemoryHeavy => "memory-heavy",
            CostMix::CpuHeavy => "cpu-heavy",
        }
    }

    /// `count` pods of the mix.
    pub fn pods(self, count: usize) -> Vec<Pod> {
        let mut rand = SplitMix64(match self {
            CostMix::Diverse => return diverse_pods(&mut GoRand::seed_42(), count),
            CostMix::Services => 0x5e41,
            CostMix::MemoryHeavy => 0x3e30,
            CostMix::CpuHeavy => 0xc0c0,
        });
        (0..count)
            .map(|i| {
                let (cpu_milli, memory_mi) = match self {
                    CostMix::Diverse => unreachable!("returned above"),
                    CostMix::Services => {
                        let roll = rand.below(100);
                        if roll < 70 {
                            (rand.pick(&[100, 250, 500]), rand.pick(&[128, 256, 512, 1024]))
                        } else if roll < 95 {
                            (rand.pick(&[1000, 2000]), rand.pick(&[1024, 2048, 4096]))
                        } else {
                            let cpu = rand.pick(&[4000, 6000, 8000]);
                            (cpu, cpu / 1000 * rand.pick(&[2048, 4096]))
                        }
                    }
                    CostMix::MemoryHeavy => {
                        let cpu = rand.pick(&[250, 500, 1000, 2000, 4000]);
                        (cpu, cpu * rand.pick(&[6, 8, 10]) * 1024 / 1000)
                    }
                    CostMix::CpuHeavy => {
                        let cpu = rand.pick(&[500, 1000, 2000, 4000]);
                        (cpu, cpu * rand.pick(&[512, 1024, 1536]) / 1000)
                    }
                };
                Pod {
                    name: format!("{}-{i}", self.name()),
                    uid: format!("{i:06}"),
                    creation_timestamp: i as i64,
                    labels: BTreeMap::from([("app".to_string(), format!("app-{}", i % 17))]),
                    containers: vec![Container {
                        name: "app".to_string(),
                        requests: BTreeMap::from([
                            ("cpu".to_string(), format!("{cpu_milli}m")),
                            ("memory".to_string(), format!("{memory_mi}Mi")),
                        ]),
                        ..Container::default()
                    }],
                    ..Pod::default()
                }
            })
            .collect()
    }
}

/// Which NodePool the suite solves under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostPool {
    /// Linux, on-demand, categories c, m and r of generation 3 and later.
    Cmr,
    /// The seed document's NodePool: arm64 (Graviton), on-demand, categories c, m and t of generation 4 and later.
    Seed,
}

impl CostPool {
    /// Parses `cmr` or `seed`.
    pub fn parse(name: &str) -> Option<CostPool> {
        match name {
            "cmr" => Some(CostPool::Cmr),
            "seed" => Some(CostPool::Seed),
            _ => None,
        }
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            CostPool::Cmr => "cmr",
            CostPool::Seed => "seed",
        }
    }

    /// The NodePool, with instance types of at most `max_vcpu` vCPU when given. No limits: the suite measures
    /// packing, not limits.
    pub fn node_pool(self, max_vcpu: Option<u32>) -> NodePool {
        let mut requirements = match self {
            CostPool::Cmr => vec![
                NodeSelectorRequirement::new("kubernetes.io/os", "In", &["linux"]),
                NodeSelectorRequirement::new("karpenter.sh/capacity-type", "In", &["on-demand"]),
                NodeSelectorRequirement::new("karpenter.k8s.aws/instance-category", "In", &["c", "m", "r"]),
                NodeSelectorRequirement::new("karpenter.k8s.aws/instance-generation", "Gt", &["2"]),
            ],
            CostPool::Seed => vec![
                NodeSelectorRequirement::new("kubernetes.io/arch", "In", &["arm64"]),
                NodeSelectorRequirement::new("karpenter.sh/capacity-type", "In", &["on-demand"]),
                NodeSelectorRequirement::new("karpenter.k8s.aws/instance-category", "In", &["c", "m", "t"]),
                NodeSelectorRequirement::new("karpenter.k8s.aws/instance-generation", "Gt", &["3"]),
            ],
        };
        if let Some(max) = max_vcpu {
            requirements.push(NodeSelectorRequirement::new(
                "karpenter.k8s.aws/instance-cpu",
                "Lt",
                &[&(max + 1).to_string()],
            ));
        }
        NodePool { name: "default".to_string(), requirements, ..NodePool::default() }
    }
}

/// The suite's problem: `pods` pods of the mix, the NodePool, and the embedded us-east-1 catalog with default node
/// class settings; the solver settings carry the AWS provider's well-known labels.
pub fn cost_problem(
    mix: CostMix,
    pods: usize,
    pool: CostPool,
    max_vcpu: Option<u32>,
) -> (Problem, SolverConfig) {
    let catalog =
        karpenter_catalog::Catalog::embedded("us-east-1").expect("the embedded catalog covers us-east-1");
    let instance_types = catalog
        .instance_types(&karpenter_catalog::NodeClassSettings::default())
        .expect("default settings are valid")
        .into_iter()
        .map(Arc::new)
        .collect();
    let config =
        SolverConfig { well_known_labels: karpenter_catalog::well_known_labels(), ..SolverConfig::default() };
    let problem = Problem {
        pods: mix.pods(pods),
        node_pools: vec![pool.node_pool(max_vcpu)],
        instance_types,
        ..Problem::default()
    };
    (problem, config)
}

/// SplitMix64: a small, well-mixed stream, enough for drawing pod sizes.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick(&mut self, values: &[u64]) -> u64 {
        values[self.below(values.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_have_their_advertised_shapes() {
        let cpu =
            |p: &Pod| karpenter_solver::quantity::Quantity::parse(&p.containers[0].requests["cpu"]).unwrap();
        let services = CostMix::Services.pods(2000);
        let big = services.iter().filter(|p| cpu(p).to_milli().unwrap() >= 4000).count();
        assert!((60..=140).contains(&big), "about 5% of 2,000 services pods have 4-8 vCPU, got {big}");
        let memory = CostMix::MemoryHeavy.pods(100);
        for pod in &memory {
            let milli = cpu(pod).to_milli().unwrap();
            let mem = karpenter_solver::quantity::Quantity::parse(&pod.containers[0].requests["memory"])
                .unwrap()
                .to_units()
                .unwrap();
            let gib_per_vcpu = mem as f64 / (1u64 << 30) as f64 / (milli as f64 / 1000.0);
            assert!((5.9..=10.1).contains(&gib_per_vcpu), "{gib_per_vcpu}");
        }
        assert_eq!(CostMix::CpuHeavy.pods(10), CostMix::CpuHeavy.pods(10), "the same pods every time");
    }

    #[test]
    fn a_vcpu_cap_is_a_requirement_on_the_instance_cpu_label() {
        let pool = CostPool::Cmr.node_pool(Some(8));
        let cap = pool.requirements.last().unwrap();
        assert_eq!(
            (cap.key.as_str(), cap.operator.as_str(), cap.values.as_slice()),
            ("karpenter.k8s.aws/instance-cpu", "Lt", &["9".to_string()][..])
        );
    }
}
