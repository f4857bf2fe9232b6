//! Pricing for column generation: the most valuable set of pods one node of a kind can hold, pods valued at the
//! master LP's duals. A bounded multi-dimensional knapsack with a handful of dimensions (CPU, memory, pods, the
//! cliques), solved by depth-first branch and bound; when its node budget runs out, the answer carries a proven upper
//! bound instead of the optimum.
//!
//! Bounds are Lagrangian: for multipliers `w >= 0` on the dimensions, every pattern `n` that fits satisfies
//! `value(n) <= w . room + sum_i u_i * max(0, v_i - w . size_i)`, with `u_i` the most pods of item `i` that fit. Any
//! `w` gives a valid bound; the best is the dual of the knapsack's LP relaxation, which a small bounded-variable
//! simplex (`relax`) finds. Its result only *chooses* `w`: the bound is always evaluated from `w` itself, so
//! round-off in the simplex can weaken a bound but never make it wrong. The relaxation's solution rounded down and
//! topped up greedily is the starting pattern, which for big nodes is nearly optimal already.

use crate::model::Kind;

/// The answer of one pricing problem.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Priced {
    /// Value of the best pattern found.
    pub(crate) value: f64,
    /// That pattern: (class, pods), classes ascending, counts positive.
    pub(crate) counts: Vec<(usize, u32)>,
    /// A proven upper bound on the value of any pattern of the kind (equal to `value` when `exact`).
    pub(crate) upper: f64,
    /// True when the search finished, so `value` is the optimum.
    pub(crate) exact: bool,
}

struct Item {
    class: usize,
    value: f64,
    size: Vec<i64>,
    /// Size as a fraction of the kind's room, per dimension.
    scaled: Vec<f64>,
    most: i64,
}

/// The pricing problem of one kind under duals `values` (one per class), with at most `demand[c]` pods of class `c`.
/// `node_limit` bounds the search; at or above [`DEEP`] nodes every node of the search is bounded by its own LP
/// relaxation rather than by the root's multipliers. When no pattern can be worth more than `threshold`, the search
/// is skipped and only the bound returned.
pub(crate) fn price(
    kind: &Kind,
    weights: &[Vec<i64>],
    demand: &[u32],
    values: &[f64],
    node_limit: u64,
    threshold: f64,
) -> Priced {
    let room = &kind.capacity;
    let scale: Vec<f64> = room.iter().map(|r| if *r > 0 { 1.0 / *r as f64 } else { 0.0 }).collect();
    let items: Vec<Item> = kind
        .classes
        .iter()
        .filter(|&&c| values[c] > 1e-12)
        .filter_map(|&c| {
            let size = weights[c].clone();
            let most = fit(&size, room).min(i64::from(demand[c]));
            let scaled = size.iter().zip(&scale).map(|(s, f)| *s as f64 * f).collect();
            (most > 0).then_some(Item { class: c, value: values[c], size, scaled, most })
        })
        .collect();
    if items.is_empty() {
        return Priced { value: 0.0, counts: Vec::new(), upper: 0.0, exact: true };
    }
    let full: Vec<f64> = vec![1.0; room.len()];
    let all: Vec<usize> = (0..items.len()).collect();
    let most: Vec<f64> = items.iter().map(|i| i.most as f64).collect();
    let (x, w) = relax(&items, &all, &most, &full);
    let root_bound = lagrangian(&items, &all, &most, &full, &w);
    // No pattern is worth the threshold (pricing's is the node's price): nothing to search for.
    if root_bound <= threshold {
        return Priced { value: 0.0, counts: Vec::new(), upper: root_bound, exact: false };
    }
    let work = if node_limit >= DEEP { DP_WORK_DEEP } else { DP_WORK };
    if let Some(priced) = dynamic(&items, room, work) {
        return priced;
    }

    // Most efficient first under the multipliers: the order the search tries items in.
    let efficiency = |i: &Item| {
        let cost: f64 = i.scaled.iter().zip(&w).map(|(s, w)| s * w).sum();
        if cost <= 1e-15 { f64::INFINITY } else { i.value / cost }
    };
    // Items of which one pod at most fits (a clique's members, a pod as big as the node) are decided first: the
    // relaxation splits them fractionally, and once they are fixed the bounds on the rest are tight.
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| {
        (items[a].most > 1)
            .cmp(&(items[b].most > 1))
            .then(efficiency(&items[b]).total_cmp(&efficiency(&items[a])))
            .then(items[a].class.cmp(&items[b].class))
    });
    let (start_value, start) = rounded(&items, &order, &x, room);

    let mut search = Search {
        items: &items,
        order: &order,
        w: &w,
        scale: &scale,
        deep: node_limit >= DEEP,
        best: start_value,
        best_counts: start,
        counts: vec![0; items.len()],
        nodes: 0,
        limit: node_limit,
    };
    let mut remaining = room.clone();
    search.dfs(0, &mut remaining, 0.0);
    let exact = search.nodes <= search.limit;
    let mut value = search.best;
    let mut best_counts = search.best_counts;
    let mut upper = if exact { value } else { root_bound.max(value) };
    if !exact {
        let steps = if node_limit >= DEEP { 12 } else { 3 };
        let (bound, found) = lagrangian_table(&items, room, &w, value, steps);
        upper = upper.min(bound.max(value));
        if let Some((found_value, found_counts)) = found
            && found_value > value
        {
            value = found_value;
            best_counts = found_counts;
        }
    }
    let mut counts: Vec<(usize, u32)> = items
        .iter()
        .zip(&best_counts)
        .filter(|(_, n)| **n > 0)
        .map(|(item, n)| (item.class, *n as u32))
        .collect();
    counts.sort_unstable();
    Priced { value, counts, upper, exact }
}

/// A Lagrangian bound that keeps one dimension exact: every other dimension is priced at multipliers `w` (scaled
/// like [`Item::scaled`]) and the rest is a one-dimensional knapsack over the kept dimension, solved by a table in
/// the items' greatest common divisor. Any multipliers give a bound; starting from the LP relaxation's, a few
/// subgradient steps towards `known` (the value of a known pattern) tighten it. Returns the bound and the best
/// pattern the tables met that fits every dimension.
fn lagrangian_table(
    items: &[Item],
    room: &[i64],
    w: &[f64],
    known: f64,
    steps: usize,
) -> (f64, Option<(f64, Vec<i64>)>) {
    let dims = room.len();
    // Keep the dimension whose table is smallest.
    let units = |k: usize| {
        let g = items.iter().map(|i| i.size[k]).filter(|s| *s > 0).fold(0i64, num_gcd);
        if g == 0 { None } else { Some((room[k] / g, g)) }
    };
    // CPU or memory: a clique or the pod count is better priced than kept.
    let Some((kept, (cells, g))) =
        (0..dims.min(2)).filter_map(|k| units(k).map(|u| (k, u))).min_by_key(|(k, (cells, _))| (*cells, *k))
    else {
        return (f64::INFINITY, None);
    };
    if cells as u64 * items.len() as u64 * 8 > DP_WORK_DEEP {
        return (f64::INFINITY, None);
    }
    let cells = cells as usize;
    // A clique (room 1, sizes 0 or 1) is kept exact too: its members are tried one at a time on top of the table.
    let clique = (0..dims).find(|&k| {
        k != kept
            && room[k] == 1
            && items.iter().all(|i| i.size[k] <= 1)
            && items.iter().any(|i| i.size[k] == 1)
    });
    let in_clique = |i: &Item| clique.is_some_and(|k| i.size[k] > 0);
    let mut w = w.to_vec();
    w[kept] = 0.0;
    if let Some(k) = clique {
        w[k] = 0.0;
    }
    let mut best_bound = f64::INFINITY;
    let mut found: Option<(f64, Vec<i64>)> = None;
    let mut factor = 1.0;
    for _ in 0..steps {
        // The kept dimension's knapsack at values reduced by the other dimensions' prices.
        let reduced: Vec<f64> = items
            .iter()
            .map(|i| i.value - i.scaled.iter().zip(&w).map(|(s, w)| s * w).sum::<f64>())
            .collect();
        let mut table = vec![0.0f64; cells + 1];
        let mut chunks: Vec<(usize, i64)> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            if reduced[index] <= 0.0 || in_clique(item) {
                continue;
            }
            let mut left = item.most;
            let mut size = 1;
            while left > 0 {
                let take = size.min(left);
                chunks.push((index, take));
                left -= take;
                size *= 2;
            }
        }
        let mut taken = vec![false; chunks.len() * (cells + 1)];
        for (t, &(index, n)) in chunks.iter().enumerate() {
            let a = (items[index].size[kept] / g * n) as usize;
            let v = reduced[index] * n as f64;
            if a > cells {
                continue;
            }
            for x in (a..=cells).rev() {
                if table[x - a] + v > table[x] + 1e-15 {
                    table[x] = table[x - a] + v;
                    taken[t * (cells + 1) + x] = true;
                }
            }
        }
        let mut top = (table[cells], None, cells);
        for (index, item) in items.iter().enumerate().filter(|(_, i)| in_clique(i)) {
            let a = (item.size[kept] / g) as usize;
            if a <= cells && reduced[index] + table[cells - a] > top.0 {
                top = (reduced[index] + table[cells - a], Some(index), cells - a);
            }
        }
        let bound = w.iter().sum::<f64>() + top.0;
        best_bound = best_bound.min(bound);
        // The pattern behind the table, for the subgradient and as a candidate.
        let mut counts = vec![0i64; items.len()];
        if let Some(index) = top.1 {
            counts[index] = 1;
        }
        let mut x = top.2;
        for (t, &(index, n)) in chunks.iter().enumerate().rev() {
            if taken[t * (cells + 1) + x] {
                counts[index] += n;
                x -= (items[index].size[kept] / g * n) as usize;
            }
        }
        let usage: Vec<f64> = (0..dims)
            .map(|k| items.iter().zip(&counts).map(|(i, n)| i.scaled[k] * *n as f64).sum::<f64>())
            .collect();
        let fits =
            (0..dims).all(|k| items.iter().zip(&counts).map(|(i, n)| i.size[k] * n).sum::<i64>() <= room[k]);
        if fits {
            let value: f64 = items.iter().zip(&counts).map(|(i, n)| i.value * *n as f64).sum();
            if found.as_ref().is_none_or(|(v, _)| value > *v) {
                found = Some((value, counts));
            }
        }
        let target = found.as_ref().map_or(known, |(v, _)| v.max(known));
        let gradient: Vec<f64> =
            (0..dims).map(|k| if k == kept || Some(k) == clique { 0.0 } else { 1.0 - usage[k] }).collect();
        let norm: f64 = gradient.iter().map(|g| g * g).sum();
        if norm <= 1e-18 || bound - target <= 1e-9 * target.max(1e-9) {
            break;
        }
        let step = factor * (bound - target) / norm;
        for (wk, gk) in w.iter_mut().zip(&gradient) {
            *wk = (*wk - step * gk).max(0.0);
        }
        factor *= 0.7;
    }
    (best_bound, found)
}

/// Node budgets from this size on bound every node of the search by its own LP relaxation.
pub(crate) const DEEP: u64 = 1000;

/// Most table cells times item chunks the dynamic program may touch, in heuristic and in exhaustive pricing.
const DP_WORK: u64 = 300_000;
const DP_WORK_DEEP: u64 = 40_000_000;

/// The knapsack solved exactly by dynamic programming over CPU and memory, when that is small: both measured in the
/// greatest common divisor of the items' sizes (exact, since every pattern's use is a multiple of it), every other
/// dimension either unable to bind (the items' most cannot exceed it together) or a clique whose members are tried
/// one at a time. `None` when the table would take more than `work` cell updates, or another dimension could bind.
fn dynamic(items: &[Item], room: &[i64], work: u64) -> Option<Priced> {
    let dims = room.len();
    if dims < 2 {
        return None;
    }
    let gcd = |k: usize| items.iter().map(|i| i.size[k]).filter(|s| *s > 0).fold(0i64, num_gcd);
    let (g0, g1) = (gcd(0).max(1), gcd(1).max(1));
    let (c0, c1) = ((room[0] / g0) as usize, (room[1] / g1) as usize);
    // Other dimensions: at most one clique (capacity 1, items of size 0 or 1) is allowed to bind.
    let mut clique: Option<usize> = None;
    for k in 2..dims {
        // What a pattern can use of dimension k: at most every item's most, and at most what CPU or memory allow
        // at the items' highest ratio of k to that resource.
        let total: i64 = items.iter().map(|i| i.size[k].saturating_mul(i.most)).sum();
        let by_ratio = (0..2)
            .filter(|&j| items.iter().all(|i| i.size[j] > 0))
            .map(|j| {
                let ratio = items.iter().map(|i| i.size[k] as f64 / i.size[j] as f64).fold(0.0, f64::max);
                (room[j] as f64 * ratio * (1.0 + 1e-9)).floor() as i64
            })
            .min()
            .unwrap_or(i64::MAX);
        if total.min(by_ratio) <= room[k] {
            continue;
        }
        let is_clique = room[k] == 1 && items.iter().all(|i| i.size[k] <= 1);
        if !is_clique || clique.is_some() {
            return None;
        }
        clique = Some(k);
    }
    let in_clique = |i: &Item| clique.is_some_and(|k| i.size[k] > 0);
    // Chunks of the bounded items (binary splitting), clique members excluded.
    let mut chunks: Vec<(usize, i64)> = Vec::new();
    for (index, item) in items.iter().enumerate().filter(|(_, i)| !in_clique(i)) {
        let mut left = item.most;
        let mut size = 1;
        while left > 0 {
            let take = size.min(left);
            chunks.push((index, take));
            left -= take;
            size *= 2;
        }
    }
    let cells = (c0 + 1) as u64 * (c1 + 1) as u64;
    if cells.saturating_mul(chunks.len() as u64 + 1) > work {
        return None;
    }
    let width = c1 + 1;
    let mut table = vec![0.0f64; (c0 + 1) * width];
    let mut taken = vec![false; chunks.len() * table.len()];
    for (t, &(index, n)) in chunks.iter().enumerate() {
        let item = &items[index];
        let (a, b) = ((item.size[0] / g0 * n) as usize, (item.size[1] / g1 * n) as usize);
        let value = item.value * n as f64;
        if a > c0 || b > c1 {
            continue;
        }
        for x in (a..=c0).rev() {
            for y in (b..=c1).rev() {
                let with = table[(x - a) * width + y - b] + value;
                if with > table[x * width + y] + 1e-12 {
                    table[x * width + y] = with;
                    taken[t * (c0 + 1) * width + x * width + y] = true;
                }
            }
        }
    }
    // The best without a clique member, then with each member that fits.
    let mut best = (table[c0 * width + c1], None, c0, c1);
    for (index, item) in items.iter().enumerate().filter(|(_, i)| in_clique(i)) {
        let (a, b) = ((item.size[0] / g0) as usize, (item.size[1] / g1) as usize);
        if a <= c0 && b <= c1 {
            let with = item.value + table[(c0 - a) * width + c1 - b];
            if with > best.0 + 1e-12 {
                best = (with, Some(index), c0 - a, c1 - b);
            }
        }
    }
    let (value, member, mut x, mut y) = best;
    let mut counts = vec![0i64; items.len()];
    if let Some(index) = member {
        counts[index] = 1;
    }
    for (t, &(index, n)) in chunks.iter().enumerate().rev() {
        if taken[t * (c0 + 1) * width + x * width + y] {
            counts[index] += n;
            x -= (items[index].size[0] / g0 * n) as usize;
            y -= (items[index].size[1] / g1 * n) as usize;
        }
    }
    let mut pattern: Vec<(usize, u32)> =
        items.iter().zip(&counts).filter(|(_, n)| **n > 0).map(|(item, n)| (item.class, *n as u32)).collect();
    pattern.sort_unstable();
    Some(Priced { value, counts: pattern, upper: value, exact: true })
}

fn num_gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { num_gcd(b, a % b) }
}

/// How many of `size` fit in `room`.
fn fit(size: &[i64], room: &[i64]) -> i64 {
    size.iter()
        .zip(room)
        .filter(|(s, _)| **s > 0)
        .map(|(s, r)| if *r < 0 { 0 } else { r / s })
        .min()
        .unwrap_or(i64::MAX)
}

/// The Lagrangian bound on what `subset` of the items (each at most `most[i]`, indexed like `items`) can add in
/// `room` (fractions of the kind's room), for multipliers `w`.
fn lagrangian(items: &[Item], subset: &[usize], most: &[f64], room: &[f64], w: &[f64]) -> f64 {
    let mut bound: f64 = room.iter().zip(w).map(|(r, w)| r * w).sum();
    for &i in subset {
        let cost: f64 = items[i].scaled.iter().zip(w).map(|(s, w)| s * w).sum();
        if items[i].value > cost {
            bound += most[i] * (items[i].value - cost);
        }
    }
    bound
}

/// The LP relaxation's solution rounded down, then topped up in `order` with whatever still fits.
fn rounded(items: &[Item], order: &[usize], x: &[f64], room: &[i64]) -> (f64, Vec<i64>) {
    let mut left = room.to_vec();
    let mut counts = vec![0i64; items.len()];
    let mut value = 0.0;
    let mut take = |i: usize, n: i64, left: &mut Vec<i64>, counts: &mut Vec<i64>| {
        if n > 0 {
            for (l, s) in left.iter_mut().zip(&items[i].size) {
                *l -= s * n;
            }
            counts[i] += n;
            value += items[i].value * n as f64;
        }
    };
    for &i in order {
        let n = ((x[i] + 1e-9).floor() as i64).min(fit(&items[i].size, &left)).min(items[i].most);
        take(i, n, &mut left, &mut counts);
    }
    for &i in order {
        let n = fit(&items[i].size, &left).min(items[i].most - counts[i]);
        take(i, n, &mut left, &mut counts);
    }
    (value, counts)
}

/// The LP relaxation of the knapsack over `subset`: maximise `sum v_i x_i` subject to `sum scaled_i x_i <= room` and
/// `0 <= x_i <= most[i]`, by a bounded-variable primal simplex on the few dimension rows. Returns the solution
/// (indexed like `items`) and the dimensions' multipliers (non-negative; for the unscaled room of each dimension
/// as a fraction of the kind's). If the simplex does not finish, what it has is returned: the multipliers are then
/// merely not the best.
fn relax(items: &[Item], subset: &[usize], most: &[f64], room: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let dims = room.len();
    let mut x = vec![0.0; items.len()];
    let mut w = vec![0.0; dims];
    // Rows: dimensions some item uses and that have room; an item that needs a dimension without room stays at 0.
    let used = |k: usize| subset.iter().any(|&i| items[i].scaled[k] > 0.0 && most[i] > 0.0);
    let rows: Vec<usize> = (0..dims).filter(|&k| used(k) && room[k] > 1e-12).collect();
    let cols: Vec<usize> = subset
        .iter()
        .copied()
        .filter(|&i| most[i] > 0.0 && (0..dims).all(|k| items[i].scaled[k] <= 0.0 || room[k] > 1e-12))
        .collect();
    let (m, n) = (rows.len(), cols.len());
    if n == 0 {
        return (x, w);
    }
    // Tableau B^-1 [A I] over rows scaled so that every right-hand side is 1; basic values; basis; bounds.
    let width = n + m;
    let mut t = vec![0.0f64; m * width];
    for (r, &k) in rows.iter().enumerate() {
        for (j, &i) in cols.iter().enumerate() {
            t[r * width + j] = items[i].scaled[k] / room[k];
        }
        t[r * width + n + r] = 1.0;
    }
    let cost: Vec<f64> = (0..width).map(|j| if j < n { items[cols[j]].value } else { 0.0 }).collect();
    let upper: Vec<f64> = (0..width).map(|j| if j < n { most[cols[j]] } else { f64::INFINITY }).collect();
    let mut beta = vec![1.0f64; m];
    let mut basis: Vec<usize> = (n..width).collect();
    let mut at_upper = vec![false; width];
    let mut is_basic = vec![false; width];
    for &b in &basis {
        is_basic[b] = true;
    }
    const TOL: f64 = 1e-11;
    for _ in 0..50 * (width + 1) {
        // Entering column: the largest reduced cost that can improve (Dantzig's rule).
        let mut entering: Option<(usize, f64)> = None;
        for j in 0..width {
            if is_basic[j] {
                continue;
            }
            let d = cost[j] - (0..m).map(|r| cost[basis[r]] * t[r * width + j]).sum::<f64>();
            let gain = if at_upper[j] { -d } else { d };
            if gain > TOL * (1.0 + cost[j].abs()) && entering.is_none_or(|(_, g)| gain > g) {
                entering = Some((j, gain));
            }
        }
        let Some((j, _)) = entering else { break };
        let dir = if at_upper[j] { -1.0 } else { 1.0 };
        // Ratio test: the entering column's own bound, or a basic variable reaching one of its bounds.
        let mut step = upper[j];
        let mut leaving: Option<(usize, bool)> = None;
        for r in 0..m {
            let rate = -dir * t[r * width + j];
            let limit = if rate < -TOL {
                beta[r].max(0.0) / -rate
            } else if rate > TOL && upper[basis[r]].is_finite() {
                (upper[basis[r]] - beta[r]).max(0.0) / rate
            } else {
                continue;
            };
            if limit < step {
                step = limit;
                leaving = Some((r, rate > 0.0));
            }
        }
        if !step.is_finite() {
            break;
        }
        for r in 0..m {
            beta[r] += -dir * t[r * width + j] * step;
        }
        match leaving {
            None => at_upper[j] = !at_upper[j],
            Some((r, to_upper)) => {
                let entering_value = if at_upper[j] { upper[j] - step } else { step };
                let out = basis[r];
                is_basic[out] = false;
                at_upper[out] = to_upper;
                is_basic[j] = true;
                at_upper[j] = false;
                basis[r] = j;
                beta[r] = entering_value;
                let pivot = t[r * width + j];
                for c in 0..width {
                    t[r * width + c] /= pivot;
                }
                for q in 0..m {
                    if q != r {
                        let factor = t[q * width + j];
                        if factor != 0.0 {
                            for c in 0..width {
                                t[q * width + c] -= factor * t[r * width + c];
                            }
                        }
                    }
                }
            }
        }
    }
    for (j, &i) in cols.iter().enumerate() {
        x[i] = if at_upper[j] { upper[j] } else { 0.0 };
    }
    for (r, &b) in basis.iter().enumerate() {
        if b < n {
            x[cols[b]] = beta[r].clamp(0.0, upper[b]);
        }
    }
    for (r, &k) in rows.iter().enumerate() {
        let dual: f64 = (0..m).map(|q| cost[basis[q]] * t[q * width + n + r]).sum();
        w[k] = (dual / room[k]).max(0.0);
    }
    (x, w)
}

struct Search<'a> {
    items: &'a [Item],
    /// Items in the order they are branched on.
    order: &'a [usize],
    w: &'a [f64],
    scale: &'a [f64],
    /// Bound every node by its own LP relaxation.
    deep: bool,
    best: f64,
    best_counts: Vec<i64>,
    counts: Vec<i64>,
    nodes: u64,
    limit: u64,
}

impl Search<'_> {
    /// An upper bound on what the items from position `from` of the order can add in `room`.
    fn bound(&self, from: usize, room: &[i64]) -> f64 {
        let subset = &self.order[from..];
        let mut most = vec![0.0; self.items.len()];
        for &i in subset {
            most[i] = fit(&self.items[i].size, room).min(self.items[i].most) as f64;
        }
        let scaled_room: Vec<f64> =
            room.iter().zip(self.scale).map(|(r, f)| (*r as f64 * f).max(0.0)).collect();
        let shallow = lagrangian(self.items, subset, &most, &scaled_room, self.w);
        if !self.deep || shallow <= self.best * 1.0000001 {
            return shallow;
        }
        let (_, w) = relax(self.items, subset, &most, &scaled_room);
        shallow.min(lagrangian(self.items, subset, &most, &scaled_room, &w))
    }

    fn dfs(&mut self, position: usize, room: &mut [i64], value: f64) {
        self.nodes += 1;
        if value > self.best + 1e-12 {
            self.best = value;
            self.best_counts.clone_from(&self.counts);
        }
        if position == self.order.len() || self.nodes > self.limit {
            return;
        }
        if value + self.bound(position, room) <= self.best + 1e-9 * self.best.max(1e-9) {
            return;
        }
        let i = self.order[position];
        let item = &self.items[i];
        let most = fit(&item.size, room).min(item.most);
        for n in (0..=most).rev() {
            for (r, s) in room.iter_mut().zip(&item.size) {
                *r -= s * n;
            }
            self.counts[i] = n;
            self.dfs(position + 1, room, value + item.value * n as f64);
            for (r, s) in room.iter_mut().zip(&item.size) {
                *r += s * n;
            }
            if self.nodes > self.limit {
                break;
            }
        }
        self.counts[i] = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    fn kind(capacity: &[i64], classes: &[usize]) -> Kind {
        Kind {
            pool: 0,
            instance_type: Arc::from("t"),
            price: 1.0,
            capacity: capacity.to_vec(),
            classes: classes.to_vec(),
        }
    }

    /// Every pattern, for checking the search on small cases.
    fn brute(kind: &Kind, weights: &[Vec<i64>], demand: &[u32], values: &[f64]) -> f64 {
        fn go(i: usize, kind: &Kind, w: &[Vec<i64>], d: &[u32], v: &[f64], room: &mut Vec<i64>) -> f64 {
            if i == kind.classes.len() {
                return 0.0;
            }
            let c = kind.classes[i];
            let mut best = 0.0f64;
            for n in 0..=i64::from(d[c]) {
                if w[c].iter().zip(room.iter()).any(|(s, r)| s * n > *r) {
                    break;
                }
                for (r, s) in room.iter_mut().zip(&w[c]) {
                    *r -= s * n;
                }
                best = best.max(v[c].max(0.0) * n as f64 + go(i + 1, kind, w, d, v, room));
                for (r, s) in room.iter_mut().zip(&w[c]) {
                    *r += s * n;
                }
            }
            best
        }
        go(0, kind, weights, demand, values, &mut kind.capacity.clone())
    }

    #[test]
    fn finds_the_best_mix_of_cpu_and_memory_heavy_pods() {
        // Room 4 CPU, 16 memory. Class 0: 1 CPU, 1 memory, worth 1. Class 1: 0.5 CPU, 6 memory, worth 1.2.
        let k = kind(&[4000, 16, 10], &[0, 1]);
        let weights = vec![vec![1000, 1, 1], vec![500, 6, 1]];
        let priced = price(&k, &weights, &[10, 10], &[1.0, 1.2], 10_000, 0.0);
        assert!(priced.exact);
        // Two of class 1 (1 CPU, 12 memory) and three of class 0 (3 CPU, 3 memory): 5.4.
        assert!((priced.value - 5.4).abs() < 1e-9, "{priced:?}");
        assert_eq!(priced.counts, vec![(0, 3), (1, 2)]);
    }

    #[test]
    fn the_relaxation_is_the_lp_optimum_and_the_table_the_integer_one() {
        // max x0 + 1.2 x1, x0 + 0.5 x1 <= 4 (CPU), x0 + 6 x1 <= 20 (memory), x0 <= 4, x1 <= 3:
        // x1 = 32/11, x0 = 28/11.
        let k = kind(&[4000, 20], &[0, 1]);
        let weights = vec![vec![1000, 1], vec![500, 6]];
        let items: Vec<Item> = [(0usize, 1.0), (1, 1.2)]
            .iter()
            .map(|&(c, value)| Item {
                class: c,
                value,
                size: weights[c].clone(),
                scaled: weights[c].iter().zip(&k.capacity).map(|(s, r)| *s as f64 / *r as f64).collect(),
                most: [4, 3][c],
            })
            .collect();
        let (x, w) = relax(&items, &[0, 1], &[4.0, 3.0], &[1.0, 1.0]);
        let optimum = 28.0 / 11.0 + 1.2 * 32.0 / 11.0;
        assert!((x[0] - 28.0 / 11.0).abs() < 1e-9 && (x[1] - 32.0 / 11.0).abs() < 1e-9, "{x:?}");
        let bound = lagrangian(&items, &[0, 1], &[4.0, 3.0], &[1.0, 1.0], &w);
        assert!((bound - optimum).abs() < 1e-9, "{bound} against {optimum}");
        // The dynamic program finds the integer optimum: two of class 0 and three of class 1.
        let priced = price(&k, &weights, &[10, 10], &[1.0, 1.2], 0, 0.0);
        assert!(priced.exact && (priced.value - 5.6).abs() < 1e-9, "{priced:?}");
    }

    #[test]
    fn cliques_allow_one_pod_per_node() {
        // The third dimension is a clique: both classes are in it.
        let k = kind(&[8000, 100, 1], &[0, 1]);
        let weights = vec![vec![1000, 1, 1], vec![1000, 1, 1]];
        let priced = price(&k, &weights, &[5, 5], &[1.0, 2.0], 1000, 0.0);
        assert_eq!(priced.counts, vec![(1, 1)]);
    }

    proptest! {
        #[test]
        fn the_search_finds_the_optimum_and_a_cut_short_one_bounds_it(
            items in prop::collection::vec((1i64..40, 1i64..40, 0u32..6, 0.0f64..3.0), 1..5),
            room in (20i64..120, 20i64..120, 1i64..12),
            nodes in 0u64..40,
        ) {
            let k = kind(&[room.0, room.1, room.2], &(0..items.len()).collect::<Vec<_>>());
            let weights: Vec<Vec<i64>> = items.iter().map(|(a, b, _, _)| vec![*a, *b, 1]).collect();
            let demand: Vec<u32> = items.iter().map(|i| i.2).collect();
            let values: Vec<f64> = items.iter().map(|i| i.3).collect();
            let optimum = brute(&k, &weights, &demand, &values);
            let full = price(&k, &weights, &demand, &values, 1_000_000, 0.0);
            prop_assert!(full.exact);
            prop_assert!((full.value - optimum).abs() < 1e-9, "{full:?} against {optimum}");
            let short = price(&k, &weights, &demand, &values, nodes, 0.0);
            prop_assert!(short.upper >= optimum - 1e-9, "{short:?} against {optimum}");
            prop_assert!(short.value <= optimum + 1e-9);
            let value: f64 = short.counts.iter().map(|(c, n)| values[*c] * f64::from(*n)).sum();
            prop_assert!((value - short.value).abs() < 1e-9);
            for (dim, room) in k.capacity.iter().enumerate() {
                let used: i64 = short.counts.iter().map(|(c, n)| weights[*c][dim] * i64::from(*n)).sum();
                prop_assert!(used <= *room);
            }
        }
    }
}
