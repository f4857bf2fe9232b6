//! Pod classes: the pods of a batch grouped by everything that decides where they can go and what they take, so
//! that the configuration LP has one row per class rather than one per pod (the cutting-stock view of bin packing).
//!
//! Topology terms are left out of a class (the bound relaxes them), with one exception that keeps the bound useful:
//! pods that may not share a node with each other. Pods that carry the same required hostname anti-affinity term and
//! match it themselves, or that ask for the same host port, form a clique: at most one of them per node. Both are
//! rules kube-scheduler and upstream's scheduler enforce whatever the order pods are placed in
//! (`topology.go` inverse anti-affinity, `hostportusage.go`), so the limit holds in every feasible plan.

use std::collections::{BTreeMap, BTreeSet};

use karpenter_solver::labels::HOSTNAME;
use karpenter_solver::model::{Container, LabelSelector, NodeAffinity, Pod};

use crate::resources::{Dims, pod_requests};

/// Pods that can stand in for each other in a packing.
#[derive(Debug, Clone)]
pub(crate) struct Class {
    /// The first pod of the class with its name, labels and topology terms cleared: what the solver is asked about.
    pub(crate) probe: Pod,
    /// Effective requests, over the batch's dimensions.
    pub(crate) requests: Vec<i64>,
    /// The cliques the class belongs to (at most one pod of a clique per node).
    pub(crate) cliques: Vec<usize>,
    /// Positions of its pods in the round's pod list, in that order.
    pub(crate) pods: Vec<usize>,
    /// Position of the NodePool its pods stay in.
    pub(crate) pool: usize,
}

/// The classes of a batch and the number of cliques among them.
#[derive(Debug, Clone)]
pub(crate) struct Classes {
    pub(crate) list: Vec<Class>,
    pub(crate) cliques: usize,
}

impl Classes {
    /// Groups `members` (positions in `pods`, each with the position of its NodePool) into classes, in order of
    /// first appearance. A pod whose requests do not parse is returned as an error with its position (the solver
    /// would not have placed it).
    pub(crate) fn build(
        pods: &[Pod],
        members: &[(usize, usize)],
        dims: &Dims,
    ) -> Result<Classes, (usize, String)> {
        let mut by_key: BTreeMap<String, usize> = BTreeMap::new();
        let mut clique_ids: BTreeMap<String, usize> = BTreeMap::new();
        let mut list: Vec<Class> = Vec::new();
        for &(position, pool) in members {
            let pod = &pods[position];
            let probe = stripped(pod);
            let cliques: Vec<usize> = clique_keys(pod)
                .into_iter()
                .map(|key| {
                    let next = clique_ids.len();
                    *clique_ids.entry(key).or_insert(next)
                })
                .collect();
            let key = format!("{pool} {probe:?}{cliques:?}");
            match by_key.get(&key) {
                Some(&class) => list[class].pods.push(position),
                None => {
                    let requests = pod_requests(dims, pod).map_err(|e| (position, e))?;
                    by_key.insert(key, list.len());
                    list.push(Class { probe, requests, cliques, pods: vec![position], pool });
                }
            }
        }
        Ok(Classes { list, cliques: clique_ids.len() })
    }
}

/// The pod as the bound sees it: requests, selectors, required node affinity, tolerations, volume topology, host
/// ports and resource claims kept; identity, labels, preferences and pod topology terms dropped.
pub(crate) fn stripped(pod: &Pod) -> Pod {
    let containers = |list: &[Container]| -> Vec<Container> {
        list.iter()
            .map(|c| Container {
                name: String::new(),
                requests: c.requests.clone(),
                restart_policy: c.restart_policy.clone(),
                ports: c.ports.iter().filter(|p| p.host_port > 0).cloned().collect(),
            })
            .collect()
    };
    Pod {
        namespace: "cost-probe".to_string(),
        name: "probe".to_string(),
        containers: containers(&pod.containers),
        init_containers: containers(&pod.init_containers),
        overhead: pod.overhead.clone(),
        node_selector: pod.node_selector.clone(),
        node_affinity: pod.node_affinity.as_ref().and_then(|a| {
            (!a.required.is_empty())
                .then(|| NodeAffinity { required: a.required.clone(), preferred: Vec::new() })
        }),
        tolerations: pod.tolerations.clone(),
        volume_topology: pod.volume_topology.clone(),
        resource_claims: pod.resource_claims.clone(),
        ..Pod::default()
    }
}

/// The cliques a pod belongs to: one per required hostname anti-affinity term that selects the pod itself (named by
/// the term's selector and namespaces, so that every pod with the same key conflicts with every other), and one per
/// host port it asks for.
fn clique_keys(pod: &Pod) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for term in pod.pod_anti_affinity.iter().flat_map(|a| &a.required) {
        // A namespace selector needs the namespaces' labels; such a term is left to the solver (a weaker bound).
        if term.topology_key != HOSTNAME || term.namespace_selector.is_some() {
            continue;
        }
        let Some(selector) = &term.label_selector else { continue };
        let scope: BTreeSet<&str> = if term.namespaces.is_empty() {
            BTreeSet::from([pod.namespace.as_str()])
        } else {
            term.namespaces.iter().map(String::as_str).collect()
        };
        if scope.contains(pod.namespace.as_str()) && selects(selector, &pod.labels) {
            keys.insert(format!("anti {selector:?} in {scope:?}"));
        }
    }
    for container in pod.containers.iter().chain(&pod.init_containers) {
        for port in container.ports.iter().filter(|p| p.host_port > 0) {
            let protocol = port.protocol.as_deref().unwrap_or("TCP");
            let ip = if port.host_ip.is_empty() { "0.0.0.0" } else { port.host_ip.as_str() };
            keys.insert(format!("port {protocol}/{ip}:{}", port.host_port));
        }
    }
    keys
}

/// Whether a label selector selects a set of labels (`metav1.LabelSelectorAsSelector`).
pub(crate) fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    selector.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
        && selector.match_expressions.iter().all(|e| {
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| e.values.contains(v)),
                "NotIn" => value.is_none_or(|v| !e.values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                // An operator the API server would have refused selects nothing.
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_solver::model::{ContainerPort, LabelSelectorRequirement, PodAffinity, PodAffinityTerm};

    fn pod(name: &str, app: &str, cpu: &str) -> Pod {
        Pod {
            name: name.into(),
            namespace: "default".into(),
            labels: BTreeMap::from([("app".into(), app.into())]),
            containers: vec![Container {
                requests: BTreeMap::from([("cpu".into(), cpu.into())]),
                ..Container::default()
            }],
            ..Pod::default()
        }
    }

    fn anti(mut p: Pod, app: &str, key: &str) -> Pod {
        p.pod_anti_affinity = Some(PodAffinity {
            required: vec![PodAffinityTerm {
                label_selector: Some(LabelSelector {
                    match_labels: BTreeMap::from([("app".into(), app.into())]),
                    ..LabelSelector::default()
                }),
                topology_key: key.into(),
                ..PodAffinityTerm::default()
            }],
            preferred: Vec::new(),
        });
        p
    }

    #[test]
    fn pods_differing_only_in_name_and_labels_share_a_class() {
        let pods = vec![pod("a", "x", "1"), pod("b", "y", "1"), pod("c", "x", "2")];
        let dims = Dims::new(pods.iter().flat_map(crate::resources::pod_lists));
        let classes = Classes::build(&pods, &[(0, 0), (1, 0), (2, 0)], &dims).unwrap();
        let members: Vec<_> = classes.list.iter().map(|c| c.pods.clone()).collect();
        assert_eq!(members, vec![vec![0, 1], vec![2]]);
        assert_eq!(classes.cliques, 0);
    }

    #[test]
    fn self_selecting_hostname_anti_affinity_and_host_ports_make_cliques() {
        let mut with_port = pod("port", "web", "1");
        with_port.containers[0].ports.push(ContainerPort { host_port: 80, ..ContainerPort::default() });
        let pods = vec![
            anti(pod("a", "nginx", "1"), "nginx", HOSTNAME),
            anti(pod("b", "nginx", "2"), "nginx", HOSTNAME),
            // Selects other pods only: a conflict, but not a clique.
            anti(pod("c", "other", "1"), "nginx", HOSTNAME),
            // Zonal anti-affinity is left to the solver.
            anti(pod("d", "nginx", "1"), "nginx", "topology.kubernetes.io/zone"),
            with_port,
        ];
        let dims = Dims::new(pods.iter().flat_map(crate::resources::pod_lists));
        let classes = Classes::build(&pods, &[(0, 0), (1, 0), (2, 0), (3, 0), (4, 0)], &dims).unwrap();
        let cliques: Vec<_> = classes.list.iter().map(|c| c.cliques.clone()).collect();
        // "c" and "d" differ only in terms the bound drops: one class.
        assert_eq!(cliques, vec![vec![0], vec![0], vec![], vec![1]]);
        assert_eq!(classes.list[2].pods, vec![2, 3]);
        assert_eq!(classes.cliques, 2);
    }

    #[test]
    fn selectors_follow_the_label_selector_operators() {
        let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        let expression = |operator: &str, values: &[&str]| LabelSelector {
            match_expressions: vec![LabelSelectorRequirement {
                key: "app".into(),
                operator: operator.into(),
                values: values.iter().map(|v| v.to_string()).collect(),
            }],
            ..LabelSelector::default()
        };
        assert!(selects(&LabelSelector::default(), &labels));
        assert!(selects(&expression("In", &["web", "db"]), &labels));
        assert!(!selects(&expression("NotIn", &["web"]), &labels));
        assert!(selects(&expression("Exists", &[]), &labels));
        assert!(!selects(&expression("DoesNotExist", &[]), &labels));
        assert!(!selects(&expression("Gt", &["1"]), &labels));
    }
}
