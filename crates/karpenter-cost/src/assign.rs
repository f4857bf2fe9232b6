//! Which pod goes into which bin. A class's pods are interchangeable for resources, but not for the terms the bound
//! relaxes: a hostname spread allows only so many pods its selector matches on one node, anti-affinity keeps pods
//! apart, a zonal affinity group must share one zone. The rounded LP solution fixes how many pods of each class a bin
//! gets; this chooses the pods, bin by bin, so that a bin holds as few conflicting pods as possible, and the solver
//! then has fewer reasons to split a bin over several NodeClaims (which it does, and must, when a term demands it).

use std::collections::BTreeMap;

use karpenter_solver::labels::HOSTNAME;
use karpenter_solver::model::{LabelSelector, Pod};

use crate::classes::selects;
use crate::lp::Column;
use crate::model::Batch;

/// The terms of one pod that decide whom it may share a node with.
#[derive(Debug, Default)]
struct Terms<'a> {
    /// Topology spread constraints: selector, max skew, whether over hostnames (otherwise over a wider domain).
    spreads: Vec<(&'a LabelSelector, i32, bool)>,
    /// Hostname anti-affinity, required or preferred: selector and namespaces it looks in.
    anti: Vec<(&'a LabelSelector, Vec<&'a str>)>,
    /// Zonal (or wider) pod affinity groups, by selector.
    together: Vec<String>,
}

impl<'a> Terms<'a> {
    fn of(pod: &'a Pod) -> Terms<'a> {
        let mut terms = Terms::default();
        for spread in &pod.topology_spread_constraints {
            if let Some(selector) = &spread.label_selector {
                terms.spreads.push((selector, spread.max_skew.max(1), spread.topology_key == HOSTNAME));
            }
        }
        if let Some(anti) = &pod.pod_anti_affinity {
            let preferred = anti.preferred.iter().map(|w| &w.pod_affinity_term);
            for term in anti.required.iter().chain(preferred) {
                if let (Some(selector), true) = (&term.label_selector, term.topology_key == HOSTNAME) {
                    let scope = if term.namespaces.is_empty() {
                        vec![pod.namespace.as_str()]
                    } else {
                        term.namespaces.iter().map(String::as_str).collect()
                    };
                    terms.anti.push((selector, scope));
                }
            }
        }
        if let Some(affinity) = &pod.pod_affinity {
            let preferred = affinity.preferred.iter().map(|w| &w.pod_affinity_term);
            for term in affinity.required.iter().chain(preferred) {
                if term.topology_key != HOSTNAME {
                    terms.together.push(format!("{}{:?}", term.topology_key, term.label_selector));
                }
            }
        }
        terms
    }

    fn is_empty(&self) -> bool {
        self.spreads.is_empty() && self.anti.is_empty() && self.together.is_empty()
    }
}

/// A bin being filled: its pods, and those of them with terms.
struct Bin<'a> {
    pods: Vec<usize>,
    with_terms: Vec<usize>,
    terms: &'a [Terms<'a>],
}

impl Bin<'_> {
    /// How badly pod `p` fits in: ten for each hostname-level conflict (the solver would split the bin), one for
    /// each zone-level one (the solver may).
    fn conflicts(&self, pods: &[Pod], p: usize) -> u32 {
        let pod = &pods[p];
        let mine = &self.terms[p];
        let mut score = 0;
        let matching = |selector: &LabelSelector, namespace: &str, with_p: bool| -> i32 {
            let others = self
                .pods
                .iter()
                .filter(|&&q| pods[q].namespace == namespace && selects(selector, &pods[q].labels))
                .count() as i32;
            others + i32::from(with_p && pod.namespace == namespace && selects(selector, &pod.labels))
        };
        for &(selector, skew, hostname) in &mine.spreads {
            if matching(selector, &pod.namespace, true) > skew {
                score += if hostname { 10 } else { 1 };
            }
        }
        for (selector, scope) in &mine.anti {
            let hit = self
                .pods
                .iter()
                .any(|&q| scope.contains(&pods[q].namespace.as_str()) && selects(selector, &pods[q].labels));
            if hit {
                score += 10;
            }
        }
        for &q in &self.with_terms {
            let theirs = &self.terms[q];
            for &(selector, skew, hostname) in &theirs.spreads {
                if pods[q].namespace == pod.namespace
                    && selects(selector, &pod.labels)
                    && matching(selector, &pods[q].namespace, true) > skew
                {
                    score += if hostname { 10 } else { 1 };
                }
            }
            for (selector, scope) in &theirs.anti {
                if scope.contains(&pod.namespace.as_str()) && selects(selector, &pod.labels) {
                    score += 10;
                }
            }
            if !mine.together.is_empty() && !theirs.together.is_empty() && mine.together != theirs.together {
                score += 1;
            }
        }
        score
    }

    fn push(&mut self, p: usize) {
        self.pods.push(p);
        if !self.terms[p].is_empty() {
            self.with_terms.push(p);
        }
    }
}

/// The bins of the rounded solution (`counts[j]` nodes of `columns[j]`): each bin's pool and the positions of the
/// pods it gets. A pattern may hold more pods of a class than are left (the rounding covers); bins left empty are
/// dropped.
pub(crate) fn assign(
    pods: &[Pod],
    batch: &Batch,
    columns: &[Column],
    counts: &[u32],
) -> Result<Vec<(usize, Vec<usize>)>, String> {
    let terms: Vec<Terms<'_>> = pods.iter().map(Terms::of).collect();
    // Per class, its pods grouped by everything the conflicts look at, groups in order of first appearance.
    let mut groups: Vec<Vec<Vec<usize>>> = Vec::new();
    for class in &batch.classes.list {
        let mut by_key: BTreeMap<String, usize> = BTreeMap::new();
        let mut list: Vec<Vec<usize>> = Vec::new();
        for &p in &class.pods {
            let pod = &pods[p];
            let key = format!("{} {:?} {:?}", pod.namespace, pod.labels, terms[p]);
            let next = list.len();
            let g = *by_key.entry(key).or_insert(next);
            if g == next {
                list.push(Vec::new());
            }
            list[g].push(p);
        }
        // Taken from the back: reverse so that pods leave in their order.
        for group in &mut list {
            group.reverse();
        }
        groups.push(list);
    }
    let mut bins = Vec::new();
    for (column, &copies) in columns.iter().zip(counts) {
        let pool = batch.kinds[column.kind].pool;
        for _ in 0..copies {
            let mut bin = Bin { pods: Vec::new(), with_terms: Vec::new(), terms: &terms };
            for &(class, n) in &column.counts {
                for _ in 0..n {
                    let mut best: Option<(u32, usize)> = None;
                    for (g, group) in groups[class].iter().enumerate() {
                        let Some(&p) = group.last() else { continue };
                        let score = if terms[p].is_empty() && bin.with_terms.is_empty() {
                            0
                        } else {
                            bin.conflicts(pods, p)
                        };
                        if best.is_none_or(|(s, _)| score < s) {
                            best = Some((score, g));
                        }
                        if score == 0 {
                            break;
                        }
                    }
                    let Some((_, g)) = best else { break };
                    let p = groups[class][g].pop().expect("the group has a pod");
                    bin.push(p);
                }
            }
            if !bin.pods.is_empty() {
                bins.push((pool, bin.pods));
            }
        }
    }
    if let Some(class) = groups.iter().position(|list| list.iter().any(|g| !g.is_empty())) {
        return Err(format!("the rounding left pods of class {class} without a node"));
    }
    Ok(bins)
}
