//! Workloads for benchmarking the solver, reproducing upstream Karpenter's scheduling benchmark
//! (`kubernetes-sigs/karpenter: pkg/controllers/provisioning/scheduling/scheduling_benchmark_test.go`).
//!
//! Upstream draws pod sizes and labels from Go's `math/rand` seeded with 42. `data/go-rand-seed42.bin` holds that
//! stream (written by `data/go-rand/main.go`, one byte per draw: the draw modulo 210), so the pods here are the
//! pods a fresh run of one upstream benchmark builds, without a Go toolchain.

pub mod consolidation;
pub mod cost;
pub mod pools;

use std::collections::BTreeMap;

use karpenter_solver::{PreferencePolicy, SolverConfig};

use karpenter_solver::model::{
    Container, InstanceType, LabelSelector, NodeAffinity, NodePool, NodeSelectorRequirement,
    NodeSelectorTerm, Offering, Overhead, Pod, PodAffinity, PodAffinityTerm, PreferredSchedulingTerm,
    Problem, TopologySpreadConstraint, WeightedPodAffinityTerm,
};

/// The benchmark's random stream, as Go's `rand.New(rand.NewSource(42))` produces it.
pub struct GoRand {
    stream: &'static [u8],
    position: usize,
}

const STREAM: &[u8] = include_bytes!("../data/go-rand-seed42.bin");

impl GoRand {
    /// A fresh stream seeded with 42.
    pub fn seed_42() -> Self {
        GoRand { stream: STREAM, position: 0 }
    }

    /// `r.Intn(k)` for k in 5, 6 and 7 (the only bounds the benchmark uses).
    pub fn intn(&mut self, k: u8) -> usize {
        assert!(matches!(k, 5..=7), "the recorded stream answers Intn(5), Intn(6) and Intn(7) only");
        let residue = *self
            .stream
            .get(self.position)
            .expect("the recorded stream is long enough for every benchmark mix");
        self.position += 1;
        usize::from(residue % k)
    }

    fn label_value(&mut self) -> String {
        ["a", "b", "c", "d", "e", "f", "g"][self.intn(7)].to_string()
    }

    fn cpu(&mut self) -> String {
        format!("{}m", [100, 250, 500, 1000, 1500][self.intn(5)])
    }

    fn memory(&mut self) -> String {
        format!("{}Mi", [100, 256, 512, 1024, 2048, 4096][self.intn(6)])
    }
}

/// `fake.InstanceTypes(n)`: type i has i+1 vCPU, 2(i+1) GiB and 10(i+1) pods, five offerings and a price of
/// 0.1 per vCPU plus 0.1 per GB.
pub fn synthetic_instance_types(count: usize) -> Vec<InstanceType> {
    (0..count)
        .map(|i| {
            let cpu = i as u64 + 1;
            let memory_bytes = 2 * cpu * (1 << 30);
            let price = 0.1 * cpu as f64 + 0.1 * memory_bytes as f64 / 1e9;
            let offering = |zone: &str, capacity_type: &str| Offering {
                zone: zone.to_string(),
                capacity_type: capacity_type.to_string(),
                price,
                available: true,
                ..Offering::default()
            };
            let offerings = vec![
                offering("test-zone-1", "spot"),
                offering("test-zone-2", "spot"),
                offering("test-zone-1", "on-demand"),
                offering("test-zone-2", "on-demand"),
                offering("test-zone-3", "on-demand"),
            ];
            let large = cpu > 4 && memory_bytes > 8 * (1 << 30);
            let name = format!("fake-it-{i}");
            let mut requirements = vec![
                NodeSelectorRequirement::new("node.kubernetes.io/instance-type", "In", &[&name]),
                NodeSelectorRequirement::new("kubernetes.io/arch", "In", &["amd64"]),
                NodeSelectorRequirement::new("kubernetes.io/os", "In", &["darwin", "linux", "windows"]),
                NodeSelectorRequirement::new(
                    "topology.kubernetes.io/zone",
                    "In",
                    &["test-zone-1", "test-zone-2", "test-zone-3"],
                ),
                NodeSelectorRequirement::new("karpenter.sh/capacity-type", "In", &["on-demand", "spot"]),
                NodeSelectorRequirement::new("integer", "In", &[&cpu.to_string()]),
            ];
            if large {
                requirements.push(NodeSelectorRequirement::new("size", "In", &["large"]));
                requirements.push(NodeSelectorRequirement::new("special", "In", &["optional"]));
            } else {
                requirements.push(NodeSelectorRequirement::new("size", "In", &["small"]));
                requirements.push(NodeSelectorRequirement::new("special", "DoesNotExist", &[]));
            }
            InstanceType {
                name,
                requirements,
                capacity: BTreeMap::from([
                    ("cpu".to_string(), cpu.to_string()),
                    ("memory".to_string(), format!("{}Gi", 2 * cpu)),
                    ("pods".to_string(), (10 * cpu).to_string()),
                ]),
                overhead: Overhead {
                    kube_reserved: BTreeMap::from([
                        ("cpu".to_string(), "100m".to_string()),
                        ("memory".to_string(), "10Mi".to_string()),
                    ]),
                    ..Overhead::default()
                },
                offerings,
            }
        })
        .collect()
}

/// The benchmark's one NodePool: no requirements, limits of 10,000,000 CPU and 10,000,000Gi memory.
pub fn benchmark_node_pool() -> NodePool {
    NodePool {
        name: "default".to_string(),
        limits: BTreeMap::from([
            ("cpu".to_string(), "10000000".to_string()),
            ("memory".to_string(), "10000000Gi".to_string()),
        ]),
        ..NodePool::default()
    }
}

/// A pod with CPU and memory requests. Upstream's pods are created one after another, so creation order breaks
/// ties between pods of equal size; `index` stands for that order.
fn pod(kind: &str, index: usize, labels: &[(&str, String)], cpu: String, memory: String) -> Pod {
    Pod {
        name: format!("{kind}-{index}"),
        uid: format!("{index:06}"),
        creation_timestamp: index as i64,
        labels: labels.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        containers: vec![Container {
            name: "app".to_string(),
            requests: BTreeMap::from([("cpu".to_string(), cpu), ("memory".to_string(), memory)]),
            ..Container::default()
        }],
        ..Pod::default()
    }
}

fn selector(key: &str, value: &str) -> Option<LabelSelector> {
    Some(LabelSelector {
        match_labels: BTreeMap::from([(key.to_string(), value.to_string())]),
        ..LabelSelector::default()
    })
}

/// `makeGenericPods(n)`: each pod gets `my-label` in a..g and random CPU and memory requests.
pub fn generic_pods(rand: &mut GoRand, count: usize, first_index: usize) -> Vec<Pod> {
    (0..count)
        .map(|i| {
            let label = rand.label_value();
            let (cpu, memory) = (rand.cpu(), rand.memory());
            pod("generic", first_index + i, &[("my-label", label)], cpu, memory)
        })
        .collect()
}

/// `makeTopologySpreadPods(n, key)`: maxSkew 1, DoNotSchedule, on a selector drawn independently of the pod's
/// own label (so a pod may not select itself).
pub fn spread_pods(rand: &mut GoRand, count: usize, key: &str, first_index: usize) -> Vec<Pod> {
    (0..count)
        .map(|i| {
            let label = rand.label_value();
            let selected = rand.label_value();
            let (cpu, memory) = (rand.cpu(), rand.memory());
            let mut p = pod("spread", first_index + i, &[("my-label", label)], cpu, memory);
            p.topology_spread_constraints = vec![TopologySpreadConstraint {
                max_skew: 1,
                topology_key: key.to_string(),
                when_unsatisfiable: "DoNotSchedule".to_string(),
                label_selector: selector("my-label", &selected),
                ..TopologySpreadConstraint::default()
            }];
            p
        })
        .collect()
}

/// `makePodAffinityPods(n, key)`: required affinity to pods with the same `my-affininity` value (upstream's
/// spelling), so every pod selects itself.
pub fn affinity_pods(rand: &mut GoRand, count: usize, key: &str, first_index: usize) -> Vec<Pod> {
    (0..count)
        .map(|i| {
            let value = rand.label_value();
            let (cpu, memory) = (rand.cpu(), rand.memory());
            let mut p = pod("affinity", first_index + i, &[("my-affininity", value.clone())], cpu, memory);
            p.pod_affinity = Some(PodAffinity {
                required: vec![PodAffinityTerm {
                    label_selector: selector("my-affininity", &value),
                    topology_key: key.to_string(),
                    ..PodAffinityTerm::default()
                }],
                preferred: Vec::new(),
            });
            p
        })
        .collect()
}

/// `makePodAntiAffinityPods(n, key)`: all labelled `app=nginx` with required anti-affinity to `app=nginx`.
pub fn anti_affinity_pods(rand: &mut GoRand, count: usize, key: &str, first_index: usize) -> Vec<Pod> {
    (0..count)
        .map(|i| {
            let (cpu, memory) = (rand.cpu(), rand.memory());
            let mut p = pod("anti", first_index + i, &[("app", "nginx".to_string())], cpu, memory);
            p.pod_anti_affinity = Some(PodAffinity {
                required: vec![PodAffinityTerm {
                    label_selector: selector("app", "nginx"),
                    topology_key: key.to_string(),
                    ..PodAffinityTerm::default()
                }],
                preferred: Vec::new(),
            });
            p
        })
        .collect()
}

/// `makeDiversePods(n)`: five equal fifths (generic, zonal spread, hostname spread, zonal self-affinity, hostname
/// anti-affinity), the remainder generic.
pub fn diverse_pods(rand: &mut GoRand, count: usize) -> Vec<Pod> {
    let fifth = count / 5;
    let mut pods = generic_pods(rand, fifth, 0);
    pods.extend(spread_pods(rand, fifth, ZONE, pods.len()));
    pods.extend(spread_pods(rand, fifth, HOSTNAME, pods.len()));
    pods.extend(affinity_pods(rand, fifth, ZONE, pods.len()));
    pods.extend(anti_affinity_pods(rand, fifth, HOSTNAME, pods.len()));
    let rest = count - pods.len();
    pods.extend(generic_pods(rand, rest, pods.len()));
    pods
}

/// `makePreferencePods(n)`: `app=nginx` pods of one size (drawn once) preferring zone `test-zone-1` (satisfiable),
/// zonal anti-affinity to each other at weight 10 (unsatisfiable after three) and hostname anti-affinity at
/// weight 1.
pub fn preference_pods(rand: &mut GoRand, count: usize) -> Vec<Pod> {
    let (cpu, memory) = (rand.cpu(), rand.memory());
    let anti = |weight: i32, key: &str| WeightedPodAffinityTerm {
        weight,
        pod_affinity_term: PodAffinityTerm {
            label_selector: selector("app", "nginx"),
            topology_key: key.to_string(),
            ..PodAffinityTerm::default()
        },
    };
    (0..count)
        .map(|i| {
            let mut p = pod("preference", i, &[("app", "nginx".to_string())], cpu.clone(), memory.clone());
            p.node_affinity = Some(NodeAffinity {
                required: Vec::new(),
                preferred: vec![PreferredSchedulingTerm {
                    weight: 1,
                    preference: NodeSelectorTerm {
                        match_expressions: vec![NodeSelectorRequirement::new(ZONE, "In", &["test-zone-1"])],
                        match_fields: Vec::new(),
                    },
                }],
            });
            p.pod_anti_affinity = Some(PodAffinity {
                required: Vec::new(),
                preferred: vec![anti(10, ZONE), anti(1, HOSTNAME)],
            });
            p
        })
        .collect()
}

const ZONE: &str = "topology.kubernetes.io/zone";
const HOSTNAME: &str = "kubernetes.io/hostname";

/// A pod mix of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// Every pod from `makeGenericPods`.
    Generic,
    /// `makeDiversePods`.
    Diverse,
    /// `makePreferencePods`, solved with preferences respected.
    Preferences,
    /// `makePreferencePods`, solved with `PreferencePolicy=Ignore`.
    IgnorePreferences,
}

impl Mix {
    /// Every mix.
    pub const ALL: [Mix; 4] = [Mix::Generic, Mix::Diverse, Mix::Preferences, Mix::IgnorePreferences];

    /// Parses a mix name.
    pub fn parse(name: &str) -> Option<Mix> {
        Mix::ALL.into_iter().find(|mix| mix.name() == name)
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Mix::Generic => "generic",
            Mix::Diverse => "diverse",
            Mix::Preferences => "preferences",
            Mix::IgnorePreferences => "ignore-preferences",
        }
    }

    /// The solver settings the mix is run with.
    pub fn config(self) -> SolverConfig {
        let mut config = SolverConfig::default();
        if self == Mix::IgnorePreferences {
            config.preference_policy = PreferencePolicy::Ignore;
        }
        config
    }
}

/// Where the instance types of a benchmark come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Types {
    /// Upstream's `fake.InstanceTypes(400)`.
    Synthetic,
    /// The embedded AWS catalog for us-east-1, filtered by a broad NodePool.
    Aws,
}

impl Types {
    /// Parses `synthetic` or `aws`.
    pub fn parse(name: &str) -> Option<Types> {
        match name {
            "synthetic" => Some(Types::Synthetic),
            "aws" => Some(Types::Aws),
            _ => None,
        }
    }
}

/// The broad NodePool used over the real catalog: Linux, on-demand or spot, categories c, m and r of generation
/// 3 and later, and no limits. (The synthetic benchmark's limits of 10,000,000 CPU and Gi would run out: every
/// NodeClaim is charged its largest option, and the r family reaches terabytes of memory.)
pub fn broad_aws_node_pool() -> NodePool {
    NodePool {
        name: "default".to_string(),
        requirements: vec![
            NodeSelectorRequirement::new("kubernetes.io/os", "In", &["linux"]),
            NodeSelectorRequirement::new("karpenter.sh/capacity-type", "In", &["on-demand", "spot"]),
            NodeSelectorRequirement::new("karpenter.k8s.aws/instance-category", "In", &["c", "m", "r"]),
            NodeSelectorRequirement::new("karpenter.k8s.aws/instance-generation", "Gt", &["2"]),
        ],
        ..NodePool::default()
    }
}

/// The benchmark problem: `pods` pods of the mix over the 400 synthetic instance types and the one NodePool.
pub fn problem(mix: Mix, pods: usize) -> Problem {
    problem_over(mix, pods, Types::Synthetic).0
}

/// The benchmark problem over the chosen instance types, with the solver settings to use.
pub fn problem_over(mix: Mix, pods: usize, types: Types) -> (Problem, SolverConfig) {
    let mut rand = GoRand::seed_42();
    let pods = match mix {
        Mix::Generic => generic_pods(&mut rand, pods, 0),
        Mix::Diverse => diverse_pods(&mut rand, pods),
        Mix::Preferences | Mix::IgnorePreferences => preference_pods(&mut rand, pods),
    };
    let mut config = mix.config();
    let (node_pool, instance_types) = match types {
        Types::Synthetic => (benchmark_node_pool(), synthetic_instance_types(400)),
        Types::Aws => {
            let catalog = karpenter_catalog::Catalog::embedded("us-east-1")
                .expect("the embedded catalog covers us-east-1");
            let instance_types = catalog
                .instance_types(&karpenter_catalog::NodeClassSettings::default())
                .expect("default settings are valid");
            config.well_known_labels = karpenter_catalog::well_known_labels();
            config.restricted_label_domains = karpenter_catalog::restricted_label_domains();
            (broad_aws_node_pool(), instance_types)
        }
    };
    let instance_types = instance_types.into_iter().map(std::sync::Arc::new).collect();
    (Problem { pods, node_pools: vec![node_pool], instance_types, ..Problem::default() }, config)
}

/// Pod counts of upstream's ladder.
pub const LADDER: [usize; 9] = [1, 50, 100, 500, 1000, 2000, 5000, 10000, 20000];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_draws_match_go() {
        // Go: r := rand.New(rand.NewSource(42)); r.Intn(7), r.Intn(5), r.Intn(6) => 5, 2, 2.
        let mut rand = GoRand::seed_42();
        assert_eq!((rand.intn(7), rand.intn(5), rand.intn(6)), (5, 2, 2));
    }

    #[test]
    fn synthetic_types_follow_the_upstream_generator() {
        let types = synthetic_instance_types(400);
        assert_eq!(types.len(), 400);
        assert_eq!(types[0].name, "fake-it-0");
        assert_eq!(types[399].capacity["cpu"], "400");
        assert_eq!(types[399].capacity["memory"], "800Gi");
        assert_eq!(types[399].capacity["pods"], "4000");
        let price = types[0].offerings[0].price;
        assert!((price - (0.1 + 0.1 * 2.0 * 1073741824.0 / 1e9)).abs() < 1e-12);
        assert_eq!(types[0].offerings.len(), 5);
    }
}
