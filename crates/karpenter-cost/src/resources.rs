//! Resource vectors for the bound: the resources a batch's pods request, as integers (CPU in millicores, the rest in
//! whole units), read with the solver's own quantity parser. A pod's effective request follows kube-scheduler
//! (KEP-753, `pkg/utils/resources` upstream): app containers and sidecars, or the largest init container with the
//! sidecars started before it if that is more, plus pod overhead, and one pod.

use std::collections::BTreeMap;

use karpenter_solver::model::{Pod, ResourceList};
use karpenter_solver::quantity::Quantity;
use karpenter_solver::resources::{CPU, MEMORY, PODS};

/// The resources of one batch, each with a dense index. `cpu`, `memory` and `pods` always come first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dims {
    names: Vec<String>,
    index: BTreeMap<String, usize>,
}

impl Dims {
    /// The three resources every pod and machine has, then, in name order, the others `lists` name.
    pub(crate) fn new<'a>(lists: impl IntoIterator<Item = &'a ResourceList>) -> Dims {
        let mut dims = Dims { names: Vec::new(), index: BTreeMap::new() };
        for name in [CPU, MEMORY, PODS] {
            dims.insert(name);
        }
        let mut extra: Vec<&str> = lists.into_iter().flat_map(|l| l.keys()).map(String::as_str).collect();
        extra.sort_unstable();
        for name in extra {
            dims.insert(name);
        }
        dims
    }

    fn insert(&mut self, name: &str) {
        if !self.index.contains_key(name) {
            self.index.insert(name.to_string(), self.names.len());
            self.names.push(name.to_string());
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// Reads a resource list into a vector; resources outside the table are left out (no pod asks for them, so they
    /// cannot decide a fit). A malformed quantity is an error naming the resource.
    pub(crate) fn parse(&self, list: &ResourceList) -> Result<Vec<i64>, String> {
        let mut out = vec![0; self.names.len()];
        for (name, quantity) in list {
            if let Some(&i) = self.index.get(name) {
                out[i] = amount(name, quantity)?;
            }
        }
        Ok(out)
    }
}

/// One quantity in the solver's units: CPU in millicores, everything else in whole units, rounded up.
pub(crate) fn amount(name: &str, quantity: &str) -> Result<i64, String> {
    let parsed = Quantity::parse(quantity).map_err(|e| format!("{name}: {e}"))?;
    let value = if name == CPU { parsed.to_milli() } else { parsed.to_units() };
    value.ok_or_else(|| format!("{name}: quantity {quantity:?} is too large"))
}

/// Every resource list a pod's requests are made of.
pub(crate) fn pod_lists(pod: &Pod) -> impl Iterator<Item = &ResourceList> {
    pod.containers.iter().chain(&pod.init_containers).map(|c| &c.requests).chain([&pod.overhead])
}

/// The pod's effective requests over `dims`. The solver computes the same (its probes check it in this crate's
/// tests); a pod the solver placed has well-formed quantities, so an error here means a pod it did not place.
pub(crate) fn pod_requests(dims: &Dims, pod: &Pod) -> Result<Vec<i64>, String> {
    let add = |total: &mut Vec<i64>, other: &[i64]| {
        for (t, o) in total.iter_mut().zip(other) {
            *t = t.saturating_add(*o);
        }
    };
    let max = |total: &mut Vec<i64>, other: &[i64]| {
        for (t, o) in total.iter_mut().zip(other) {
            *t = (*t).max(*o);
        }
    };
    let mut requests = vec![0; dims.len()];
    for container in &pod.containers {
        add(&mut requests, &dims.parse(&container.requests)?);
    }
    let mut sidecars = vec![0; dims.len()];
    let mut largest_init = vec![0; dims.len()];
    for container in &pod.init_containers {
        let r = dims.parse(&container.requests)?;
        let during_init = if container.restart_policy.as_deref() == Some("Always") {
            add(&mut requests, &r);
            add(&mut sidecars, &r);
            sidecars.clone()
        } else {
            let mut both = r;
            add(&mut both, &sidecars);
            both
        };
        max(&mut largest_init, &during_init);
    }
    max(&mut requests, &largest_init);
    add(&mut requests, &dims.parse(&pod.overhead)?);
    requests[dims.index[PODS]] = 1;
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_solver::model::Container;

    fn container(cpu: &str, memory: &str, sidecar: bool) -> Container {
        Container {
            requests: BTreeMap::from([("cpu".into(), cpu.into()), ("memory".into(), memory.into())]),
            restart_policy: sidecar.then(|| "Always".to_string()),
            ..Container::default()
        }
    }

    #[test]
    fn effective_requests_take_the_larger_of_apps_and_init_containers() {
        let pod = Pod {
            name: "p".into(),
            containers: vec![container("500m", "1Gi", false), container("250m", "1Gi", false)],
            init_containers: vec![container("100m", "64Mi", true), container("2", "512Mi", false)],
            overhead: BTreeMap::from([("cpu".into(), "10m".into())]),
            ..Pod::default()
        };
        let dims = Dims::new(pod_lists(&pod));
        // Apps with the sidecar: 850m and 2112Mi; the init container with the sidecar: 2100m and 576Mi.
        assert_eq!(pod_requests(&dims, &pod).unwrap(), vec![2110, 2112 << 20, 1]);
    }

    #[test]
    fn extended_resources_get_their_own_dimension() {
        let mut pod = Pod { name: "gpu".into(), ..Pod::default() };
        pod.containers.push(Container {
            requests: BTreeMap::from([("nvidia.com/gpu".into(), "2".into())]),
            ..Container::default()
        });
        let dims = Dims::new(pod_lists(&pod));
        assert_eq!(dims.len(), 4);
        assert_eq!(pod_requests(&dims, &pod).unwrap(), vec![0, 0, 1, 2]);
        pod.containers[0].requests.insert("cpu".into(), "lots".into());
        assert!(pod_requests(&dims, &pod).unwrap_err().starts_with("cpu:"));
    }

    proptest::proptest! {
        /// The solver's NodeClaim for a pod alone (no DaemonSets) requests exactly the pod's effective requests.
        #[test]
        fn effective_requests_agree_with_the_solver(
            apps in proptest::collection::vec((0u32..4000, 0u32..4096), 1..3),
            inits in proptest::collection::vec((0u32..4000, 0u32..4096, proptest::bool::ANY), 0..3),
            overhead in 0u32..200,
        ) {
            let container = |cpu: u32, memory: u32, sidecar: bool| Container {
                requests: BTreeMap::from([("cpu".into(), format!("{cpu}m")), ("memory".into(), format!("{memory}Mi"))]),
                restart_policy: sidecar.then(|| "Always".to_string()),
                ..Container::default()
            };
            let pod = Pod {
                name: "p".into(),
                containers: apps.iter().map(|&(c, m)| container(c, m, false)).collect(),
                init_containers: inits.iter().map(|&(c, m, s)| container(c, m, s)).collect(),
                overhead: BTreeMap::from([("cpu".into(), format!("{overhead}m"))]),
                ..Pod::default()
            };
            let it: karpenter_solver::model::InstanceType = serde_json::from_value(serde_json::json!({
                "name": "huge", "capacity": {"cpu": "64", "memory": "256Gi", "pods": "110"},
                "offerings": [{"zone": "a", "capacityType": "on-demand", "price": 1.0}]})).unwrap();
            let problem = karpenter_solver::model::Problem {
                pods: vec![pod.clone()],
                node_pools: vec![karpenter_solver::model::NodePool { name: "default".into(), ..Default::default() }],
                instance_types: vec![std::sync::Arc::new(it)],
                ..Default::default()
            };
            let plan = karpenter_solver::solve(&problem, &karpenter_solver::SolverConfig::default());
            let dims = Dims::new(pod_lists(&pod));
            let solver = dims.parse(&plan.new_node_claims[0].requests).unwrap();
            proptest::prop_assert_eq!(solver, pod_requests(&dims, &pod).unwrap());
        }
    }
}
