//! Clusters for the consolidation benchmarks: upstream's workload file rebuilt exactly, or a cluster of real
//! us-east-1 instance types at 30-50% requested CPU with zonal spread and hostname anti-affinity.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use karpenter_disruption::view::{ClusterView, Disruption, Node, NodeClaim, NodeCondition, NodePool};
use karpenter_solver::model::{
    self, Container, InstanceType, LabelSelector, Pod, PodAffinity, PodAffinityTerm, TopologySpreadConstraint,
};

/// The time every view is taken at.
pub const NOW: i64 = 1_800_000_000;

fn pod(namespace: &str, name: &str, index: usize, cpu: String, memory: String) -> Pod {
    Pod {
        namespace: namespace.to_string(),
        name: name.to_string(),
        uid: format!("{index:08}"),
        creation_timestamp: index as i64,
        phase: Some("Running".to_string()),
        containers: vec![Container {
            name: "app".to_string(),
            requests: BTreeMap::from([("cpu".to_string(), cpu), ("memory".to_string(), memory)]),
            ..Container::default()
        }],
        ..Pod::default()
    }
}

fn managed_node(name: &str, pool: &str, it: &InstanceType, zone: &str, capacity_type: &str) -> Result<Node> {
    let mut labels = BTreeMap::new();
    for r in &it.requirements {
        if r.operator == "In" && r.values.len() == 1 {
            labels.insert(r.key.clone(), r.values[0].clone());
        }
    }
    labels.insert("karpenter.sh/nodepool".into(), pool.into());
    labels.insert("node.kubernetes.io/instance-type".into(), it.name.clone());
    labels.insert("topology.kubernetes.io/zone".into(), zone.into());
    labels.insert("karpenter.sh/capacity-type".into(), capacity_type.into());
    labels.insert("kubernetes.io/hostname".into(), name.into());
    Ok(Node {
        name: name.to_string(),
        labels,
        capacity: it.capacity.clone(),
        allocatable: karpenter_solver::allocatable(it)
            .map_err(|e| anyhow::anyhow!("{}: {}", e.object, e.message))?,
        conditions: vec![NodeCondition {
            condition_type: "Ready".into(),
            status: "True".into(),
            ..Default::default()
        }],
        node_claim: Some(NodeClaim {
            name: name.to_string(),
            created: NOW - 3600,
            initialized_at: Some(NOW - 3500),
            last_pod_event_time: Some(NOW - 3000),
            ..NodeClaim::default()
        }),
        ..Node::default()
    })
}

fn node_pool(name: &str, pool: model::NodePool) -> NodePool {
    NodePool {
        pool: model::NodePool { name: name.to_string(), ..pool },
        disruption: Disruption {
            consolidation_policy: Some("WhenEmptyOrUnderutilized".into()),
            consolidate_after: Some("0s".into()),
            budgets: Some(vec![karpenter_disruption::view::Budget {
                nodes: "100%".into(),
                ..Default::default()
            }]),
        },
        ..NodePool::default()
    }
}

/// The cluster of a `karpenter-consolidation-workload/v1` file, first `count` nodes.
pub fn workload_view(path: &Path, count: usize) -> Result<ClusterView> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: serde_json::Value = serde_json::from_str(&text).context("parsing the workload")?;
    if file["schema"] != "karpenter-consolidation-workload/v1" {
        bail!("{} is not a karpenter-consolidation-workload/v1 file", path.display());
    }
    let pool_name = file["nodePool"]["metadata"]["name"].as_str().unwrap_or("default").to_string();
    let types: Vec<Arc<InstanceType>> =
        crate::synthetic_instance_types(400).into_iter().map(Arc::new).collect();
    let by_name: BTreeMap<&str, &InstanceType> = types.iter().map(|t| (t.name.as_str(), &**t)).collect();
    let nodes = file["nodes"].as_array().context("the workload has no nodes")?;
    if count > nodes.len() {
        bail!("the workload has {} nodes, {count} asked for", nodes.len());
    }
    let mut view = ClusterView {
        now: NOW,
        node_pools: vec![node_pool(&pool_name, model::NodePool::default())],
        instance_types: types.clone(),
        ..ClusterView::default()
    };
    let mut index = 0;
    for entry in &nodes[..count] {
        let name = entry["name"].as_str().context("node name")?;
        let type_name = entry["instanceType"].as_str().context("instanceType")?;
        let it = by_name.get(type_name).with_context(|| format!("unknown instance type {type_name}"))?;
        let zone = entry["zone"].as_str().context("zone")?;
        let capacity_type = entry["capacityType"].as_str().context("capacityType")?;
        let mut node = managed_node(name, &pool_name, it, zone, capacity_type)?;
        node.price = entry["price"].as_f64();
        for (j, shape) in entry["pods"].as_array().context("pods")?.iter().enumerate() {
            let cpu = shape[0].as_u64().context("pod cpu")?;
            let memory = shape[1].as_u64().context("pod memory")?;
            let pod =
                pod("default", &format!("{name}-p{j:02}"), index, format!("{cpu}m"), format!("{memory}Mi"));
            index += 1;
            node.pods.push(karpenter_disruption::view::BoundPod { pod, ready: true, ..Default::default() });
        }
        view.nodes.push(node);
    }
    Ok(view)
}

/// A small deterministic generator (xorshift), so the cluster is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` nodes of real us-east-1 types at 30-50% requested CPU (each with at least one pod), over three zones; a third of the pods belong to
/// deployments with zonal spread, a tenth keep replicas on separate hosts.
pub fn synthetic_view(count: usize) -> Result<ClusterView> {
    let catalog = karpenter_catalog::Catalog::embedded("us-east-1").context("the embedded catalog")?;
    let all =
        catalog.instance_types(&karpenter_catalog::NodeClassSettings::default()).context("instance types")?;
    let pool = crate::broad_aws_node_pool();
    let index = karpenter_solver::InstanceTypeIndex::new(&all, &Default::default());
    let allowed: Vec<Arc<InstanceType>> = index
        .allowed(&pool)
        .map_err(|e| anyhow::anyhow!("{}: {}", e.object, e.message))?
        .into_iter()
        .map(|i| Arc::new(all[i].clone()))
        .collect();
    let shapes = [
        "m5.large",
        "m5.xlarge",
        "m5.2xlarge",
        "c5.xlarge",
        "c5.2xlarge",
        "r5.large",
        "r5.xlarge",
        "m6i.4xlarge",
    ];
    let zones = ["us-east-1a", "us-east-1b", "us-east-1c"];
    let by_name: BTreeMap<&str, &InstanceType> = allowed.iter().map(|t| (t.name.as_str(), &**t)).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut view = ClusterView {
        now: NOW,
        node_pools: vec![node_pool("default", pool.clone())],
        instance_types: allowed.clone(),
        ..ClusterView::default()
    };
    view.solver = karpenter_catalog::solver_config();
    let mut pod_index = 0;
    for i in 0..count {
        let shape = shapes[rng.below(shapes.len())];
        let it = by_name.get(shape).with_context(|| format!("{shape} not in the catalog"))?;
        let zone = zones[i % zones.len()];
        let capacity_type = if rng.unit() < 0.2 { "spot" } else { "on-demand" };
        let name = format!("node-{i:05}");
        let mut node = managed_node(&name, "default", it, zone, capacity_type)?;
        let allocatable = karpenter_solver::quantity::Quantity::parse(&node.allocatable["cpu"])
            .ok()
            .and_then(|q| q.to_milli())
            .unwrap_or(0);
        let target = (0.30 + 0.20 * rng.unit()) * allocatable as f64;
        let mut used = 0.0;
        let mut j = 0;
        let mut rejects = 0;
        // Like the workload's generator: draw sizes, keep those that stay under the target, stop after ten misses
        // in a row once the node has a pod.
        while rejects < 10 || j == 0 {
            let cpu = [100u64, 250, 500, 1000][rng.below(4)];
            if used + cpu as f64 > target {
                rejects += 1;
                continue;
            }
            rejects = 0;
            used += cpu as f64;
            let memory = [128u64, 256, 512, 1024][rng.below(4)];
            let mut p = pod(
                "default",
                &format!("{name}-p{j:02}"),
                pod_index,
                format!("{cpu}m"),
                format!("{memory}Mi"),
            );
            let kind = rng.below(10);
            if kind < 3 {
                let app = format!("spread-{}", rng.below(20));
                p.labels.insert("app".into(), app.clone());
                p.topology_spread_constraints.push(TopologySpreadConstraint {
                    max_skew: 1,
                    topology_key: "topology.kubernetes.io/zone".into(),
                    when_unsatisfiable: "DoNotSchedule".into(),
                    label_selector: Some(selector(&app)),
                    ..TopologySpreadConstraint::default()
                });
            } else if kind == 3 {
                // At most one replica per host: the app name is unique to this node's slot.
                let app = format!("solo-{}-{}", i % 50, j);
                p.labels.insert("app".into(), app.clone());
                p.pod_anti_affinity = Some(PodAffinity {
                    required: vec![PodAffinityTerm {
                        label_selector: Some(selector(&app)),
                        topology_key: "kubernetes.io/hostname".into(),
                        ..PodAffinityTerm::default()
                    }],
                    preferred: Vec::new(),
                });
            }
            node.pods.push(karpenter_disruption::view::BoundPod {
                pod: p,
                ready: true,
                ..Default::default()
            });
            pod_index += 1;
            j += 1;
        }
        view.nodes.push(node);
    }
    Ok(view)
}

fn selector(app: &str) -> LabelSelector {
    LabelSelector {
        match_labels: BTreeMap::from([("app".to_string(), app.to_string())]),
        ..LabelSelector::default()
    }
}
