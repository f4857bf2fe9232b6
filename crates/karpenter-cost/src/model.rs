//! The batch as a cutting-stock problem: pod classes with their demand and size, and *kinds* of node (a NodePool, an
//! instance type and a price) with the room they leave for pods and the classes they accept.
//!
//! A kind's price is a lower bound on what any node of it costs: a class's price for a type is the cheapest offering
//! compatible with that class alone, and a node holding several classes pays at least the dearest of those. So a
//! type whose classes see different prices (one class limited to on-demand, another allowed spot) becomes one kind
//! per price level, each accepting the classes whose own price is at most that level. A kind's room is the type's
//! allocatable less the smallest DaemonSet overhead the solver reported for the pool, which is at most the real
//! overhead on any of its types.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::classes::Classes;
use crate::probe::Answer;

/// One kind of node a pattern can be packed into.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Kind {
    /// Position of the NodePool in the engine's list.
    pub(crate) pool: usize,
    /// Instance-type name.
    pub(crate) instance_type: Arc<str>,
    /// Hourly price (a lower bound on any node of the kind).
    pub(crate) price: f64,
    /// Room for pods over the batch's dimensions, then 1 for every clique.
    pub(crate) capacity: Vec<i64>,
    /// Classes the kind accepts, ascending.
    pub(crate) classes: Vec<usize>,
}

/// The batch's cutting-stock data.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub(crate) classes: Classes,
    /// Pods of each class.
    pub(crate) demand: Vec<u32>,
    /// Size of one pod of each class: requests, then 1 for each clique it is in.
    pub(crate) weights: Vec<Vec<i64>>,
    pub(crate) kinds: Vec<Kind>,
}

/// What the engine knows about one pool's instance types: allocatable by name, over the batch's dimensions.
pub(crate) type Allocatable<'a> = dyn Fn(usize, &str) -> Option<Vec<i64>> + 'a;

impl Batch {
    /// Builds the kinds from the probes' answers (`answers[class][pool]`), keeping only kinds no other kind
    /// dominates (cheaper or equal, at least as much room, and accepting every class it accepts).
    pub(crate) fn new(
        classes: Classes,
        answers: &[Vec<Option<Answer>>],
        pools: usize,
        allocatable: &Allocatable<'_>,
    ) -> Batch {
        let cliques = classes.cliques;
        let demand: Vec<u32> = classes.list.iter().map(|c| c.pods.len() as u32).collect();
        let weights: Vec<Vec<i64>> = classes
            .list
            .iter()
            .map(|c| {
                let mut w = c.requests.clone();
                w.extend((0..cliques).map(|q| i64::from(c.cliques.contains(&q))));
                w
            })
            .collect();
        let mut kinds = Vec::new();
        for pool in 0..pools {
            // The smallest overhead any class saw in this pool, entry by entry.
            let mut overhead: Option<Vec<i64>> = None;
            // Instance type -> (class, price) for every class that may use it.
            let mut users: BTreeMap<Arc<str>, Vec<(usize, f64)>> = BTreeMap::new();
            for (class, per_pool) in answers.iter().enumerate() {
                let Some(answer) = &per_pool[pool] else { continue };
                overhead = Some(match overhead {
                    None => answer.overhead.clone(),
                    Some(o) => o.iter().zip(&answer.overhead).map(|(a, b)| (*a).min(*b)).collect(),
                });
                for (name, price) in &answer.options {
                    users.entry(Arc::clone(name)).or_default().push((class, *price));
                }
            }
            let Some(overhead) = overhead else { continue };
            for (name, users) in users {
                let Some(allocatable) = allocatable(pool, &name) else { continue };
                let mut capacity: Vec<i64> = allocatable.iter().zip(&overhead).map(|(a, o)| a - o).collect();
                if capacity.iter().any(|c| *c < 0) {
                    continue;
                }
                capacity.extend(std::iter::repeat_n(1, cliques));
                let mut levels: Vec<f64> = users.iter().map(|(_, p)| *p).collect();
                levels.sort_by(f64::total_cmp);
                levels.dedup();
                for price in levels {
                    let classes: Vec<usize> = users
                        .iter()
                        .filter(|(class, p)| {
                            *p <= price && weights[*class].iter().zip(&capacity).all(|(w, c)| w <= c)
                        })
                        .map(|(class, _)| *class)
                        .collect();
                    if !classes.is_empty() {
                        kinds.push(Kind {
                            pool,
                            instance_type: Arc::clone(&name),
                            price,
                            capacity: capacity.clone(),
                            classes,
                        });
                    }
                }
            }
        }
        let kinds = undominated(kinds);
        Batch { classes, demand, weights, kinds }
    }
}

/// Drops every kind that another kind dominates; of equal kinds the first is kept.
fn undominated(kinds: Vec<Kind>) -> Vec<Kind> {
    let dominates = |a: &Kind, b: &Kind| {
        a.price <= b.price
            && a.capacity.iter().zip(&b.capacity).all(|(x, y)| x >= y)
            && b.classes.iter().all(|c| a.classes.binary_search(c).is_ok())
    };
    // Cheapest first, so that a dominating kind is always seen before the kinds it dominates (or is equal in price).
    let mut order: Vec<usize> = (0..kinds.len()).collect();
    order.sort_by(|&a, &b| kinds[a].price.total_cmp(&kinds[b].price).then(a.cmp(&b)));
    let mut kept: Vec<usize> = Vec::new();
    for &k in &order {
        if !kept.iter().any(|&j| dominates(&kinds[j], &kinds[k])) {
            kept.push(k);
        }
    }
    kept.sort_unstable();
    let mut keep = vec![false; kinds.len()];
    for k in kept {
        keep[k] = true;
    }
    kinds.into_iter().zip(keep).filter(|(_, k)| *k).map(|(kind, _)| kind).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(price: f64, capacity: &[i64], classes: &[usize]) -> Kind {
        Kind {
            pool: 0,
            instance_type: Arc::from(format!("t{price}")),
            price,
            capacity: capacity.to_vec(),
            classes: classes.to_vec(),
        }
    }

    #[test]
    fn dominated_kinds_are_dropped_and_equal_ones_kept_once() {
        let kinds = vec![
            kind(2.0, &[4, 8], &[0]),
            kind(1.0, &[4, 8], &[0, 1]),
            kind(1.0, &[4, 8], &[0, 1]),
            kind(1.5, &[8, 4], &[0]),
            kind(3.0, &[8, 16], &[1]),
        ];
        let kept: Vec<f64> = undominated(kinds).iter().map(|k| k.price).collect();
        assert_eq!(kept, vec![1.0, 1.5, 3.0]);
    }
}
