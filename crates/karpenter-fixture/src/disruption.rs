//! Cluster views for the disruption engine's tests: the solver's fixture language (the crate root) extended with
//! what disruption reads (node ages and states, NodeClaim facts, budgets, PDBs, do-not-disrupt, repair policies).
//!
//! One object per unindented line; indented lines add to the object above them.
//!
//! ```text
//! now 100000
//! gates spot-to-spot node-repair pod-deletion-cost-management
//! pool default policy=WhenEmpty after=30s expire=720h tgp=1h replicas=3 weight=10 notready
//!   budget nodes=20% schedule=0_9_*_*_1-5 duration=1h reasons=Empty,Drifted   (`_` stands for a space)
//!   budget nodes=10%                                  (no budget line: the default 10%; `budgets none`: no limit)
//!   req / label / taint / startup-taint / limits      (as in the solver's fixtures)
//! type small cpu=2 memory=4Gi pods=10 price=0.1 zones=a,b ct=on-demand,spot spot-price=0.03 pool=default
//!   offering zone=c ct=spot price=0.03 [unavailable]
//! node n1 pool=default type=small zone=a ct=on-demand created=0 init=10 lastpod=50
//!      [cpu=.. memory=.. pods=..] [price=0.5] [drifted=NodePoolDrifted@500] [expire=1h] [tgp=5m]
//!      [uninitialized] [unregistered] [unmanaged] [deleting] [nominated] [notready] [terminating]
//!      [rebooting@T | rebooted@T] [reboots=2]
//!   label k=v / annotate k=v / taint k=v:Effect / condition Type=Status [reason=R] [since=T]
//!   pod web x3 cpu=1 memory=1Gi [ns=..] [daemon] [mirror] [statefulset] [priority=N] [started=T] [unready]
//!                               [terminating] [phase=Succeeded]
//!   pod-label app=web / pod-annotate k=v / pod-anti ... / pod-<any pod sub-line>  (for the last pod)
//! pending p cpu=1           (a pending pod; indented pod sub-lines follow)
//! daemonset agent cpu=100m
//! pdb ns/name sel=app=web allowed=0 [maxUnavailable=0|0%] [minAvailable=100%] [always-allow]
//! repair Ready=False toleration=30m [reason=regex] [tgp=10m] [priority=N] [action=RebootNode]
//! ```
//!
//! Node labels: `karpenter.sh/nodepool`, the instance type, zone, capacity type and hostname, plus the instance
//! type's single-valued requirements (arch, os). Allocatable defaults to the type's; conditions to `Ready=True`.

use std::collections::BTreeMap;

use super::{options, pairs, pod_line, requirement, selector, taint};

use karpenter_disruption::view::*;
use karpenter_solver::model::{
    self, Container, InstanceType, NodeSelectorRequirement, Offering, Overhead, Pod, ResourceList,
};

/// Parses a fixture into a view.
pub fn parse(text: &str) -> ClusterView {
    let mut view = ClusterView::default();
    let mut current: Option<Object> = None;
    let mut nodes: Vec<(Node, BTreeMap<String, String>, Vec<String>)> = Vec::new();
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("");
        if line.trim().is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if line.starts_with(' ') {
            current
                .as_mut()
                .unwrap_or_else(|| panic!("indented line with no object: {raw}"))
                .sub_line(&words);
            continue;
        }
        if let Some(done) = current.take() {
            done.finish(&mut view, &mut nodes);
        }
        current = match words[0] {
            "now" => {
                view.now = words[1].parse().unwrap();
                None
            }
            "gates" => {
                for gate in &words[1..] {
                    match *gate {
                        "spot-to-spot" => view.feature_gates.spot_to_spot_consolidation = true,
                        "node-repair" => view.feature_gates.node_repair = true,
                        "static-capacity" => view.feature_gates.static_capacity = true,
                        "pod-deletion-cost-management" => {
                            view.feature_gates.pod_deletion_cost_management = true
                        }
                        other => panic!("unknown gate {other}"),
                    }
                }
                None
            }
            "config" => {
                for (key, value) in pairs(&words[1..]) {
                    match key.as_str() {
                        "preference" if value == "Ignore" => {
                            view.solver.preference_policy = karpenter_solver::PreferencePolicy::Ignore
                        }
                        "minValues" if value == "BestEffort" => {
                            view.solver.min_values_policy = karpenter_solver::MinValuesPolicy::BestEffort
                        }
                        "maxTypes" => view.solver.max_instance_types = value.parse().unwrap(),
                        other => panic!("unknown config {other}={value}"),
                    }
                }
                None
            }
            "pool" => Some(Object::Pool(pool(&words[1..]))),
            "type" => Some(Object::Type(instance_type(&words[1..]), option(&words[1..], "pool"))),
            "node" => {
                let fields = options(&words[2..]);
                let flags = words[2..].iter().filter(|w| !w.contains('=')).map(|w| w.to_string()).collect();
                Some(Object::Node(Node { name: words[1].to_string(), ..Node::default() }, fields, flags))
            }
            "pending" => Some(Object::Pods(pods(&words[1..]), false)),
            "daemonset" => Some(Object::Pods(pods(&words[1..]), true)),
            "pdb" => {
                view.pod_disruption_budgets.push(pdb(&words[1..]));
                None
            }
            "repair" => {
                view.repair_policies.push(repair_policy(&words[1..]));
                None
            }
            other => panic!("unknown object {other:?} in {raw}"),
        };
    }
    if let Some(done) = current.take() {
        done.finish(&mut view, &mut nodes);
    }
    for (node, fields, flags) in nodes {
        let node = finish_node(&view, node, &fields, &flags);
        view.nodes.push(node);
    }
    view
}

enum Object {
    Pool(NodePool),
    Type(InstanceType, Option<String>),
    Pods(Vec<Pod>, bool),
    Node(Node, BTreeMap<String, String>, Vec<String>),
}

impl Object {
    fn sub_line(&mut self, words: &[&str]) {
        match self {
            Object::Pool(pool) => match words[0] {
                "budget" => {
                    let fields = options(&words[1..]);
                    pool.disruption.budgets.get_or_insert_with(Vec::new).push(Budget {
                        nodes: fields["nodes"].clone(),
                        schedule: fields.get("schedule").map(|s| s.replace('_', " ")),
                        duration: fields.get("duration").cloned(),
                        reasons: fields.get("reasons").map(|r| r.split(',').map(str::to_string).collect()),
                    });
                }
                "budgets" if words.get(1) == Some(&"none") => pool.disruption.budgets = Some(Vec::new()),
                "req" => pool.pool.requirements.push(requirement(&words[1..])),
                "label" => pool.pool.labels.extend(pairs(&words[1..])),
                "taint" => pool.pool.taints.push(taint(words[1])),
                "startup-taint" => pool.pool.startup_taints.push(taint(words[1])),
                "limits" => pool.pool.limits.extend(pairs(&words[1..])),
                other => panic!("unknown pool line {other}"),
            },
            Object::Type(it, _) => match words[0] {
                "req" => it.requirements.push(requirement(&words[1..])),
                "offering" => {
                    let fields = options(&words[1..]);
                    it.offerings.push(Offering {
                        zone: fields["zone"].clone(),
                        capacity_type: fields["ct"].clone(),
                        price: fields["price"].parse().unwrap(),
                        available: !words.contains(&"unavailable"),
                        ..Offering::default()
                    });
                }
                "overhead" => it.overhead.kube_reserved.extend(pairs(&words[1..])),
                other => panic!("unknown type line {other}"),
            },
            Object::Pods(pods, _) => {
                for pod in pods {
                    pod_line(pod, words);
                }
            }
            Object::Node(node, _, _) => match words[0] {
                "label" => node.labels.extend(pairs(&words[1..])),
                "annotate" => node.annotations.extend(pairs(&words[1..])),
                "taint" => node.taints.push(taint(words[1])),
                "startup-taint" => node.startup_taints.push(taint(words[1])),
                "condition" => {
                    let (kind, status) = words[1].split_once('=').expect("condition Type=Status");
                    let fields = options(&words[2..]);
                    node.conditions.retain(|c| c.condition_type != kind);
                    node.conditions.push(NodeCondition {
                        condition_type: kind.to_string(),
                        status: status.to_string(),
                        reason: fields.get("reason").cloned().unwrap_or_default(),
                        since: fields.get("since").map_or(0, |s| s.parse().unwrap()),
                    });
                }
                "pod" => node.pods.extend(bound_pods(&words[1..])),
                other if other.starts_with("pod-") => {
                    let last = node.pods.last_mut().expect("a pod before its sub-lines");
                    match &other[4..] {
                        "annotate" => last.annotations.extend(pairs(&words[1..])),
                        rest => {
                            let mut line = words.to_vec();
                            line[0] = rest;
                            pod_line(&mut last.pod, &line);
                        }
                    }
                }
                other => panic!("unknown node line {other}"),
            },
        }
    }

    fn finish(self, view: &mut ClusterView, nodes: &mut Vec<(Node, BTreeMap<String, String>, Vec<String>)>) {
        match self {
            Object::Pool(pool) => view.node_pools.push(pool),
            Object::Type(it, None) => view.instance_types.push(std::sync::Arc::new(it)),
            Object::Type(it, Some(pool)) => {
                view.pool_instance_types.entry(pool).or_default().push(std::sync::Arc::new(it))
            }
            Object::Pods(pods, false) => view.pending_pods.extend(pods),
            Object::Pods(pods, true) => view.daemon_set_pods.extend(pods),
            Object::Node(node, fields, flags) => nodes.push((node, fields, flags)),
        }
    }
}

fn finish_node(
    view: &ClusterView,
    mut node: Node,
    fields: &BTreeMap<String, String>,
    flags: &[String],
) -> Node {
    let flag = |f: &str| flags.iter().any(|x| x == f);
    let pool = fields.get("pool").cloned();
    let type_name = fields.get("type").cloned();
    let it = type_name.as_ref().and_then(|t| {
        pool.as_ref()
            .and_then(|p| view.pool_instance_types.get(p))
            .unwrap_or(&view.instance_types)
            .iter()
            .find(|it| &it.name == t)
            .or_else(|| view.instance_types.iter().find(|it| &it.name == t))
            .map(|it| &**it)
    });
    let mut labels = BTreeMap::new();
    if let Some(it) = it {
        for r in &it.requirements {
            if r.operator == "In" && r.values.len() == 1 {
                labels.insert(r.key.clone(), r.values[0].clone());
            }
        }
    }
    if let Some(pool) = &pool {
        labels.insert("karpenter.sh/nodepool".into(), pool.clone());
    }
    if let Some(t) = &type_name {
        labels.insert("node.kubernetes.io/instance-type".into(), t.clone());
    }
    labels.insert(
        "topology.kubernetes.io/zone".into(),
        fields.get("zone").cloned().unwrap_or_else(|| "a".into()),
    );
    labels.insert(
        "karpenter.sh/capacity-type".into(),
        fields.get("ct").cloned().unwrap_or_else(|| "on-demand".into()),
    );
    labels.insert("kubernetes.io/hostname".into(), node.name.clone());
    labels.extend(std::mem::take(&mut node.labels));
    node.labels = labels;
    let mut capacity = it.map(|it| it.capacity.clone()).unwrap_or_default();
    for key in ["cpu", "memory", "pods"] {
        if let Some(v) = fields.get(key) {
            capacity.insert(key.to_string(), v.clone());
        }
    }
    node.allocatable = match it {
        Some(it) if !fields.contains_key("cpu") => karpenter_solver::allocatable(it).unwrap(),
        _ => capacity.clone(),
    };
    node.capacity = capacity;
    node.registered = !flag("unregistered");
    node.initialized = !flag("uninitialized") && !flag("unregistered");
    node.marked_for_deletion = flag("deleting");
    node.nominated = flag("nominated");
    node.price = fields.get("price").map(|p| p.parse().unwrap());
    if !node.conditions.iter().any(|c| c.condition_type == "Ready") && node.registered {
        node.conditions.insert(
            0,
            NodeCondition {
                condition_type: "Ready".into(),
                status: if flag("notready") { "False".into() } else { "True".into() },
                reason: String::new(),
                since: 0,
            },
        );
    }
    if !flag("unmanaged") {
        let created = fields.get("created").map_or(0, |c| c.parse().unwrap());
        let init = fields.get("init").map(|c| c.parse().unwrap()).unwrap_or(created);
        let rebooting = flags.iter().find_map(|f| {
            let (state, at) = f.split_once('@')?;
            let since = at.parse().ok()?;
            match state {
                "rebooting" => Some(Rebooting { in_progress: true, since }),
                "rebooted" => Some(Rebooting { in_progress: false, since }),
                _ => None,
            }
        });
        node.node_claim = Some(NodeClaim {
            name: node.name.clone(),
            created,
            initialized_at: node.initialized.then_some(init),
            last_pod_event_time: fields.get("lastpod").map(|c| c.parse().unwrap()),
            drifted: fields.get("drifted").map(|d| {
                let (reason, since) = d.split_once('@').unwrap_or((d, "0"));
                Drifted { reason: reason.to_string(), since: since.parse().unwrap() }
            }),
            expire_after: fields.get("expire").cloned(),
            termination_grace_period: fields.get("tgp").cloned(),
            instance_terminating: flag("terminating"),
            rebooting,
            recent_reboots: fields.get("reboots").map_or(0, |r| r.parse().unwrap()),
        });
    }
    node
}

fn pool(words: &[&str]) -> NodePool {
    let fields = options(&words[1..]);
    NodePool {
        pool: model::NodePool {
            name: words[0].to_string(),
            weight: fields.get("weight").map(|w| w.parse().unwrap()),
            ..model::NodePool::default()
        },
        disruption: Disruption {
            consolidation_policy: fields.get("policy").cloned(),
            consolidate_after: fields.get("after").cloned(),
            budgets: None,
        },
        expire_after: fields.get("expire").cloned(),
        termination_grace_period: fields.get("tgp").cloned(),
        replicas: fields.get("replicas").map(|r| r.parse().unwrap()),
        ready: !words.contains(&"notready"),
    }
}

fn pdb(words: &[&str]) -> PodDisruptionBudget {
    let (namespace, name) = words[0].split_once('/').expect("pdb ns/name");
    let fields = options(&words[1..]);
    let int_or_string = |v: &String| match v.parse::<i64>() {
        Ok(i) => IntOrString::Int(i),
        Err(_) => IntOrString::String(v.clone()),
    };
    PodDisruptionBudget {
        namespace: namespace.to_string(),
        name: name.to_string(),
        selector: fields.get("sel").map(|s| selector(s)),
        max_unavailable: fields.get("maxUnavailable").map(int_or_string),
        min_available: fields.get("minAvailable").map(int_or_string),
        unhealthy_pod_eviction_policy: words.contains(&"always-allow").then(|| "AlwaysAllow".to_string()),
        disruptions_allowed: fields.get("allowed").map_or(1, |a| a.parse().unwrap()),
    }
}

fn repair_policy(words: &[&str]) -> RepairPolicy {
    let (kind, status) = words[0].split_once('=').expect("repair Type=Status");
    let fields = options(&words[1..]);
    RepairPolicy {
        condition_type: kind.to_string(),
        condition_status: status.to_string(),
        reason_regex: fields.get("reason").cloned().unwrap_or_default(),
        toleration_duration: fields.get("toleration").cloned().unwrap_or_else(|| "0s".into()),
        termination_grace_period: fields.get("tgp").cloned(),
        priority: fields.get("priority").map_or(0, |p| p.parse().unwrap()),
        action: fields.get("action").cloned(),
    }
}

fn option(words: &[&str], key: &str) -> Option<String> {
    options(words).get(key).cloned()
}

const POD_FIELDS: [&str; 6] = ["ns", "created", "uid", "phase", "priority", "started"];

fn resources(words: &[&str]) -> ResourceList {
    pairs(words).into_iter().filter(|(k, _)| !POD_FIELDS.contains(&k.as_str())).collect()
}

fn pods(words: &[&str]) -> Vec<Pod> {
    let name = words[0];
    let count: usize =
        words.iter().find_map(|w| w.strip_prefix('x').and_then(|n| n.parse().ok())).unwrap_or(1);
    let fields = options(&words[1..]);
    (0..count)
        .map(|i| Pod {
            namespace: fields.get("ns").cloned().unwrap_or_else(|| "default".into()),
            name: if count == 1 { name.to_string() } else { format!("{name}-{i}") },
            uid: fields.get("uid").cloned().unwrap_or_default(),
            creation_timestamp: fields.get("created").map_or(0, |c| c.parse().unwrap()),
            phase: fields.get("phase").cloned(),
            terminating: words.contains(&"terminating"),
            daemon_set: words.contains(&"daemon"),
            containers: vec![Container {
                name: "main".into(),
                requests: resources(&words[1..]),
                restart_policy: None,
                ports: Vec::new(),
            }],
            ..Pod::default()
        })
        .collect()
}

fn bound_pods(words: &[&str]) -> Vec<BoundPod> {
    let fields = options(&words[1..]);
    let owner = if words.contains(&"daemon") {
        Some("DaemonSet")
    } else if words.contains(&"mirror") {
        Some("Node")
    } else if words.contains(&"statefulset") {
        Some("StatefulSet")
    } else {
        None
    };
    pods(words)
        .into_iter()
        .map(|pod| BoundPod {
            pod,
            annotations: BTreeMap::new(),
            start_time: fields.get("started").map(|s| s.parse().unwrap()),
            priority: fields.get("priority").map(|p| p.parse().unwrap()),
            owner_kind: owner.map(str::to_string),
            ready: !words.contains(&"unready"),
        })
        .collect()
}

fn instance_type(words: &[&str]) -> InstanceType {
    let name = words[0];
    let fields = options(&words[1..]);
    let mut capacity = ResourceList::new();
    for key in ["cpu", "memory", "pods"] {
        if let Some(v) = fields.get(key) {
            capacity.insert(key.to_string(), v.clone());
        }
    }
    let price: f64 = fields.get("price").map_or(0.1, |p| p.parse().unwrap());
    let spot_price: Option<f64> = fields.get("spot-price").map(|p| p.parse().unwrap());
    let zones = fields.get("zones").map_or("a", String::as_str);
    let cts = fields.get("ct").map_or("on-demand", String::as_str);
    let mut offerings = Vec::new();
    for zone in zones.split(',') {
        for ct in cts.split(',') {
            offerings.push(Offering {
                zone: zone.into(),
                capacity_type: ct.into(),
                price: if ct == "spot" { spot_price.unwrap_or(price) } else { price },
                available: true,
                ..Offering::default()
            });
        }
    }
    let mut zone_values: Vec<String> = zones.split(',').map(str::to_string).collect();
    zone_values.sort();
    let mut ct_values: Vec<String> = cts.split(',').map(str::to_string).collect();
    ct_values.sort();
    let mut requirements = vec![
        NodeSelectorRequirement::new("node.kubernetes.io/instance-type", "In", &[name]),
        NodeSelectorRequirement::new("kubernetes.io/arch", "In", &["amd64"]),
        NodeSelectorRequirement::new("kubernetes.io/os", "In", &["linux"]),
    ];
    requirements.push(NodeSelectorRequirement {
        key: "topology.kubernetes.io/zone".into(),
        operator: "In".into(),
        values: zone_values,
        min_values: None,
    });
    requirements.push(NodeSelectorRequirement {
        key: "karpenter.sh/capacity-type".into(),
        operator: "In".into(),
        values: ct_values,
        min_values: None,
    });
    if let Some(family) = fields.get("family") {
        requirements.push(NodeSelectorRequirement::new("example.com/family", "In", &[family]));
    }
    InstanceType { name: name.to_string(), requirements, capacity, overhead: Overhead::default(), offerings }
}
