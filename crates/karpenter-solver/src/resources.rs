//! Resources as dense integer vectors: CPU in millicores, everything else in whole units (bytes, pods, devices).
//!
//! Each solve names every resource that appears in its input once, so that a request, an allocatable amount or a
//! limit is a short vector indexed the same way everywhere (`pkg/utils/resources` does the same with maps).

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::error::FieldError;
use crate::model::{InstanceType, Pod, ResourceList};
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
/// Resources every table starts with, in this order.
const FIXED: usize = 4;

/// The resource names of one solve: the four every machine has, then, sorted, the others its input mentions.
///
/// A [`crate::Prepared`] names the resources of its NodePools, instance types and DaemonSets; a round extends a
/// copy of that table with any new names its pods and nodes bring. Amounts compiled against the shorter table stay
/// valid: every operation below reads a missing trailing entry as zero.
#[derive(Debug, Clone)]
pub(crate) struct ResourceTable {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

/// An amount of every resource of the table (missing trailing entries are zero).
pub(crate) type Res = Vec<i64>;

impl ResourceTable {
    /// A table of cpu, memory, pods and ephemeral storage.
    pub(crate) fn new() -> Self {
        let mut table = ResourceTable { names: Vec::new(), index: HashMap::new() };
        for name in [CPU, MEMORY, PODS, EPHEMERAL_STORAGE] {
            table.insert(name);
        }
        table
    }

    /// Adds every resource the lists name, sorted; `nodes` is kept out because no machine has it.
    pub(crate) fn extend<'a>(&mut self, lists: impl IntoIterator<Item = &'a ResourceList>) {
        let mut extra: Vec<&str> = lists
            .into_iter()
            .flat_map(|l| l.keys())
            .map(String::as_str)
            .filter(|name| *name != NODES && !self.index.contains_key(*name))
            .collect();
        extra.sort_unstable();
        for name in extra {
            self.insert(name);
        }
    }

    /// The resource lists of pods: containers, init containers and overhead.
    pub(crate) fn pod_lists<'a>(
        pods: impl IntoIterator<Item = &'a Pod>,
    ) -> impl Iterator<Item = &'a ResourceList> {
        pods.into_iter().flat_map(|pod| {
            pod.containers.iter().chain(&pod.init_containers).map(|c| &c.requests).chain([&pod.overhead])
        })
    }

    /// The resource lists of an instance type: capacity and the three overheads.
    pub(crate) fn instance_type_lists(it: &InstanceType) -> [&ResourceList; 4] {
        [
            &it.capacity,
            &it.overhead.kube_reserved,
            &it.overhead.system_reserved,
            &it.overhead.eviction_threshold,
        ]
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

    /// Parses a resource list into a vector; the error's field is the resource name.
    pub(crate) fn parse(&self, list: &ResourceList) -> Result<Res, FieldError> {
        let mut out = self.zero();
        for (name, quantity) in list {
            let Some(index) = self.index_of(name) else { continue };
            out[index] =
                parse_amount(name, quantity).map_err(|reason| FieldError::new(name.clone(), reason))?;
        }
        Ok(out)
    }

    /// Renders the non-zero amounts as `cpu=1500m memory=1Gi pods=1`: the four common resources first, then the
    /// others by name, whatever order the table learnt them in.
    pub(crate) fn describe(&self, amounts: &[i64]) -> String {
        let mut shown: Vec<(usize, &str, i64)> = amounts
            .iter()
            .enumerate()
            .filter(|(_, amount)| **amount != 0)
            .map(|(index, amount)| (index, self.names[index].as_str(), *amount))
            .collect();
        shown.sort_by(|a, b| (a.0 >= FIXED, a.1).cmp(&(b.0 >= FIXED, b.1)).then(a.0.cmp(&b.0)));
        let mut text = String::new();
        for (_, name, amount) in shown {
            if !text.is_empty() {
                text.push(' ');
            }
            let _ = write!(text, "{name}={}", format_amount(name, amount));
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

/// Parses one quantity for a resource: CPU in millicores, others in whole units, both rounded up. Negative
/// quantities are refused: no request, capacity or limit can be negative.
pub(crate) fn parse_amount(name: &str, quantity: &str) -> Result<i64, String> {
    let parsed = Quantity::parse(quantity).map_err(|e| e.to_string())?;
    if parsed.is_negative() {
        return Err(format!("quantity {quantity:?} must not be negative"));
    }
    let value = if name == CPU { parsed.to_milli() } else { parsed.to_units() };
    value.ok_or_else(|| format!("quantity {quantity:?} is too large"))
}

/// Entry `index` of an amount, zero past its end.
fn at(amounts: &[i64], index: usize) -> i64 {
    amounts.get(index).copied().unwrap_or(0)
}

/// Makes `total` at least as long as `other`, so that no entry of `other` is dropped.
fn cover(total: &mut Res, other: &[i64]) {
    if total.len() < other.len() {
        total.resize(other.len(), 0);
    }
}

pub(crate) fn add_assign(total: &mut Res, other: &[i64]) {
    cover(total, other);
    for (t, o) in total.iter_mut().zip(other) {
        *t = t.saturating_add(*o);
    }
}

pub(crate) fn sub_assign(total: &mut Res, other: &[i64]) {
    cover(total, other);
    for (t, o) in total.iter_mut().zip(other) {
        *t = t.saturating_sub(*o);
    }
}

/// `total = max(total, other)` entry by entry, a missing entry of either counting as zero.
pub(crate) fn max_assign(total: &mut Res, other: &[i64]) {
    cover(total, other);
    for (index, t) in total.iter_mut().enumerate() {
        *t = (*t).max(at(other, index));
    }
}

pub(crate) fn sum(a: &[i64], b: &[i64]) -> Res {
    (0..a.len().max(b.len())).map(|i| at(a, i).saturating_add(at(b, i))).collect()
}

/// Upstream's `resources.Fits`: nothing fits into a total that is negative anywhere, and every requested amount
/// must be at most the total.
pub(crate) fn fits(request: &[i64], total: &[i64]) -> bool {
    total.iter().all(|t| *t >= 0) && request.iter().enumerate().all(|(i, r)| *r <= at(total, i))
}

/// Like [`fits`] for `request + extra`, without building the sum.
pub(crate) fn fits_with(request: &[i64], extra: &[i64], total: &[i64]) -> bool {
    if !total.iter().all(|t| *t >= 0) {
        return false;
    }
    if request.len() == extra.len() && extra.len() == total.len() {
        return request.iter().zip(extra).zip(total).all(|((r, e), t)| r.saturating_add(*e) <= *t);
    }
    (0..request.len().max(extra.len())).all(|i| at(request, i).saturating_add(at(extra, i)) <= at(total, i))
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
    fn amounts_of_a_shorter_table_read_as_zero_past_their_end() {
        assert!(fits(&[1, 0, 0], &[2, 0]), "a zero request of an unknown resource fits");
        assert!(!fits(&[1, 0, 1], &[2, 0]), "a resource the total does not name is not there");
        assert!(!fits_with(&[1, 0], &[0, 0, 1], &[2, 0]));
        assert!(fits_with(&[1, 0], &[0, 0, 1], &[2, 0, 1]));
        assert_eq!(sum(&[1], &[1, 2]), vec![2, 2]);
        let mut headroom = vec![i64::MIN; 3];
        max_assign(&mut headroom, &[5, 6]);
        assert_eq!(headroom, vec![5, 6, 0]);
        let mut total = vec![1];
        add_assign(&mut total, &[1, 2]);
        sub_assign(&mut total, &[0, 0, 3]);
        assert_eq!(total, vec![2, 2, -3]);
    }

    #[test]
    fn amounts_are_parsed_in_their_units() {
        assert_eq!(parse_amount(CPU, "1.5"), Ok(1500));
        assert_eq!(parse_amount(MEMORY, "1Gi"), Ok(1 << 30));
        assert_eq!(parse_amount("nvidia.com/gpu", "2"), Ok(2));
        assert!(parse_amount(CPU, "-1").unwrap_err().contains("must not be negative"));
        assert!(parse_amount(CPU, "lots").unwrap_err().contains("does not start with a number"));
    }
}
