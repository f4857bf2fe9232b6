//! Resources as dense integer vectors: CPU in millicores, everything else in whole units (bytes, pods, devices).
//!
//! Each solve names every resource that appears in its input once, so that a request, an allocatable amount or a
//! limit is a short vector indexed the same way everywhere (`pkg/utils/resources` does the same with maps).

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::model::{Problem, ResourceList};
use crate::quantity::{Quantity, format_bytes, format_milli};

/// `cpu`.
pub const CPU: &str = "cpu";
/// `memory`.
pub const MEMORY: &str = "memory";
/// `pods`.
pub const PODS: &str = "pods";
/// `ephemeral-storage`.
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
/// `nodes`: only meaningful in NodePool limits.
pub const NODES: &str = "nodes";

pub(crate) const CPU_INDEX: usize = 0;
pub(crate) const MEMORY_INDEX: usize = 1;
pub(crate) const PODS_INDEX: usize = 2;

/// The resource names of one solve.
#[derive(Debug, Clone)]
pub(crate) struct ResourceTable {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

/// An amount of every resource of the table.
pub(crate) type Res = Vec<i64>;

impl ResourceTable {
    /// Collects every resource name the problem mentions; `nodes` is kept out because no machine has it.
    pub(crate) fn for_problem(problem: &Problem) -> Self {
        let mut table = ResourceTable { names: Vec::new(), index: HashMap::new() };
        for name in [CPU, MEMORY, PODS, EPHEMERAL_STORAGE] {
            table.insert(name);
        }
        let mut lists: Vec<&ResourceList> = Vec::new();
        for pod in problem
            .pods
            .iter()
            .chain(&problem.daemon_set_pods)
            .chain(problem.nodes.iter().flat_map(|n| &n.pods))
        {
            lists.extend(pod.containers.iter().chain(&pod.init_containers).map(|c| &c.requests));
            lists.push(&pod.overhead);
        }
        for node in &problem.nodes {
            lists.push(&node.capacity);
            lists.push(&node.allocatable);
        }
        for pool in &problem.node_pools {
            lists.push(&pool.limits);
        }
        for it in problem.instance_types.iter().chain(problem.pool_instance_types.values().flatten()) {
            lists.extend([&it.capacity, &it.overhead.kube_reserved, &it.overhead.system_reserved]);
            lists.push(&it.overhead.eviction_threshold);
        }
        let mut extra: Vec<&str> = lists.iter().flat_map(|l| l.keys()).map(String::as_str).collect();
        extra.sort_unstable();
        for name in extra {
            if name != NODES {
                table.insert(name);
            }
        }
        table
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

    pub(crate) fn zero(&self) -> Res {
        vec![0; self.names.len()]
    }

    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub(crate) fn name(&self, index: usize) -> &str {
        &self.names[index]
    }

    /// Parses a resource list into a vector; the error names the resource and why it was refused.
    pub(crate) fn parse(&self, list: &ResourceList, allow_negative: bool) -> Result<Res, (String, String)> {
        let mut out = self.zero();
        for (name, quantity) in list {
            let Some(index) = self.index_of(name) else { continue };
            out[index] =
                parse_amount(name, quantity, allow_negative).map_err(|reason| (name.clone(), reason))?;
        }
        Ok(out)
    }

    /// Renders the non-zero amounts as `cpu=1500m memory=1Gi pods=1`.
    pub(crate) fn describe(&self, amounts: &[i64]) -> String {
        let mut text = String::new();
        for (index, &amount) in amounts.iter().enumerate() {
            if amount == 0 {
                continue;
            }
            if !text.is_empty() {
                text.push(' ');
            }
            let _ = write!(text, "{}={}", self.names[index], format_amount(&self.names[index], amount));
        }
        if text.is_empty() { "{}".to_string() } else { text }
    }

    /// True for `hugepages-*` resources, which come out of memory.
    pub(crate) fn is_hugepages(&self, index: usize) -> bool {
        self.names[index].starts_with("hugepages-")
    }
}

/// Renders one amount in the unit users expect for the resource.
pub(crate) fn format_amount(name: &str, amount: i64) -> String {
    match name {
        CPU => format_milli(amount),
        MEMORY | EPHEMERAL_STORAGE => format_bytes(amount),
        _ if name.starts_with("hugepages-") => format_bytes(amount),
        _ => amount.to_string(),
    }
}

/// Parses one quantity for a resource: CPU in millicores, others in whole units, both rounded up.
pub(crate) fn parse_amount(name: &str, quantity: &str, allow_negative: bool) -> Result<i64, String> {
    let parsed = Quantity::parse(quantity).map_err(|e| e.to_string())?;
    if parsed.is_negative() && !allow_negative {
        return Err(format!("quantity {quantity:?} must not be negative"));
    }
    let value = if name == CPU { parsed.to_milli() } else { parsed.to_units() };
    value.ok_or_else(|| format!("quantity {quantity:?} is too large"))
}

pub(crate) fn add_assign(total: &mut [i64], other: &[i64]) {
    for (t, o) in total.iter_mut().zip(other) {
        *t = t.saturating_add(*o);
    }
}

pub(crate) fn sub_assign(total: &mut [i64], other: &[i64]) {
    for (t, o) in total.iter_mut().zip(other) {
        *t = t.saturating_sub(*o);
    }
}

pub(crate) fn max_assign(total: &mut [i64], other: &[i64]) {
    for (t, o) in total.iter_mut().zip(other) {
        *t = (*t).max(*o);
    }
}

pub(crate) fn sum(a: &[i64], b: &[i64]) -> Res {
    a.iter().zip(b).map(|(x, y)| x.saturating_add(*y)).collect()
}

/// Upstream's `resources.Fits`: nothing fits into a total that is negative anywhere, and every requested amount
/// must be at most the total.
pub(crate) fn fits(request: &[i64], total: &[i64]) -> bool {
    total.iter().all(|t| *t >= 0) && request.iter().zip(total).all(|(r, t)| r <= t)
}

/// Like [`fits`] for `request + extra`, without building the sum.
pub(crate) fn fits_with(request: &[i64], extra: &[i64], total: &[i64]) -> bool {
    total.iter().all(|t| *t >= 0)
        && request.iter().zip(extra).zip(total).all(|((r, e), t)| r.saturating_add(*e) <= *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_totals_fit_nothing() {
        assert!(fits(&[1, 0], &[2, 0]));
        assert!(!fits(&[0, 0], &[2, -1]));
        assert!(!fits(&[3, 0], &[2, 0]));
        assert!(fits_with(&[1, 0], &[1, 0], &[2, 0]));
        assert!(!fits_with(&[1, 0], &[2, 0], &[2, 0]));
    }

    #[test]
    fn amounts_are_parsed_in_their_units() {
        assert_eq!(parse_amount(CPU, "1.5", false), Ok(1500));
        assert_eq!(parse_amount(MEMORY, "1Gi", false), Ok(1 << 30));
        assert_eq!(parse_amount("nvidia.com/gpu", "2", false), Ok(2));
        assert!(parse_amount(CPU, "-1", false).unwrap_err().contains("must not be negative"));
        assert!(parse_amount(CPU, "lots", false).unwrap_err().contains("does not start with a number"));
    }
}
