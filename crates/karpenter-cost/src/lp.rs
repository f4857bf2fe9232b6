//! The configuration LP (Gilmore-Gomory) and its integer form, on HiGHS through `good_lp`.
//!
//! Master problem: one variable per pattern (a kind of node and how many pods of each class it holds), minimise the
//! price of the nodes subject to every class's pods being covered. Column generation adds patterns that the pricing
//! knapsack finds at a negative reduced cost. Whenever pricing has an upper bound `v_k` on every kind's best pattern
//! value, the duals `pi` scaled by `1 / max(1, max_k v_k / price_k)` are feasible for the full dual (Farley's bound),
//! so `pi . demand / max(1, max_k v_k / price_k)` is a lower bound on the cost of every feasible packing, however early
//! the generation stops. When no kind can improve, the factor is one and the bound is the LP optimum.
//!
//! The LP solution becomes a packing by rounding plus repair (`round_and_repair`): no branching, so its time is
//! predictable, and equal input gives equal output.

use std::collections::HashSet;

use crate::Error;
use crate::knapsack::price;
use crate::model::Batch;

/// A pattern: one node of a kind and the pods of each class it holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Column {
    pub(crate) kind: usize,
    /// (class, pods), classes ascending, counts positive.
    pub(crate) counts: Vec<(usize, u32)>,
}

/// Work limits of the LP phases. They make the result depend on the input only (a time budget may still cut a run
/// short, between steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) iterations: usize,
    pub(crate) columns_per_iteration: usize,
    pub(crate) heuristic_nodes: u64,
    pub(crate) exact_nodes: u64,
}

/// What column generation produced.
#[derive(Debug, Clone)]
pub(crate) struct Generated {
    pub(crate) columns: Vec<Column>,
    /// The last master LP's solution, one value per column (columns added after it are zero).
    pub(crate) x: Vec<f64>,
    /// The last master LP's duals, one per class.
    pub(crate) duals: Vec<f64>,
    /// The best proven lower bound.
    pub(crate) lower_bound: f64,
    /// True when pricing proved that no pattern improves: the bound is the LP optimum.
    pub(crate) converged: bool,
    pub(crate) iterations: usize,
}

struct MasterSolution {
    x: Vec<f64>,
    duals: Vec<f64>,
    value: f64,
}

/// The master LP, kept in HiGHS between iterations: new patterns are added as columns and the next solve starts
/// from the last basis (`good_lp` rebuilds a model on every solve, which costs more than the solve itself here).
struct Master {
    model: Option<highs::Model>,
    rows: Vec<highs::Row>,
    columns: usize,
}

impl Master {
    fn new(batch: &Batch, columns: &[Column]) -> Master {
        let mut problem = highs::ColProblem::default();
        let rows: Vec<highs::Row> = batch.demand.iter().map(|d| problem.add_row(f64::from(*d)..)).collect();
        for column in columns {
            let factors: Vec<(highs::Row, f64)> =
                column.counts.iter().map(|&(class, n)| (rows[class], f64::from(n))).collect();
            problem.add_column(batch.kinds[column.kind].price, 0.0.., factors);
        }
        let mut model = problem.optimise(highs::Sense::Minimise);
        // One thread and no parallel simplex: the answer must not depend on scheduling.
        model.set_option("threads", 1);
        model.set_option("parallel", "off");
        Master { model: Some(model), rows, columns: columns.len() }
    }

    fn add(&mut self, batch: &Batch, column: &Column) {
        let factors: Vec<(highs::Row, f64)> =
            column.counts.iter().map(|&(class, n)| (self.rows[class], f64::from(n))).collect();
        if let Some(model) = &mut self.model {
            model.add_col(batch.kinds[column.kind].price, 0.0.., factors);
            self.columns += 1;
        }
    }

    fn solve(&mut self, batch: &Batch, columns: &[Column]) -> Result<MasterSolution, Error> {
        let failed = |message: String| Error::Lp { stage: "master LP", message };
        let model = self.model.take().ok_or_else(|| failed("an earlier solve failed".to_string()))?;
        let solved = model.try_solve().map_err(|e| failed(format!("{e:?}")))?;
        if solved.status() != highs::HighsModelStatus::Optimal {
            return Err(failed(format!("status {:?}", solved.status())));
        }
        let solution = solved.get_solution();
        let x = solution.columns().to_vec();
        // A covering row's dual is non-negative; round-off below zero is clipped, which keeps Farley's bound valid.
        let duals: Vec<f64> = solution.dual_rows().iter().map(|d| d.max(0.0)).collect();
        let value: f64 = columns.iter().zip(&x).map(|(c, x)| batch.kinds[c.kind].price * x).sum();
        self.model = Some(highs::Model::from(solved));
        Ok(MasterSolution { x, duals, value })
    }
}

/// Column generation from `initial` (which must cover every class), within `limits`, stopping early when `expired`
/// says so or once the LP value is within `tolerance` of the proven bound. The bound is valid whenever it stops.
pub(crate) fn generate(
    batch: &Batch,
    initial: Vec<Column>,
    limits: Limits,
    tolerance: f64,
    expired: &dyn Fn() -> bool,
) -> Result<Generated, Error> {
    let mut columns: Vec<Column> = Vec::new();
    let mut seen: HashSet<Column> = HashSet::new();
    for column in initial {
        if seen.insert(column.clone()) {
            columns.push(column);
        }
    }
    let mut master = Master::new(batch, &columns);
    let demand: Vec<f64> = batch.demand.iter().map(|d| f64::from(*d)).collect();
    let mut lower_bound = 0.0f64;
    let mut best_duals: Option<Vec<f64>> = None;
    let mut center: Option<Vec<f64>> = None;
    let mut iterations = 0;
    loop {
        iterations += 1;
        let solution = master.solve(batch, &columns)?;
        let value_of = |duals: &[f64]| -> f64 { duals.iter().zip(&demand).map(|(p, d)| p * d).sum() };
        let stop = expired() || iterations >= limits.iterations;
        let nodes = if stop { 0 } else { limits.heuristic_nodes };
        // Wentges smoothing: price at a point between the duals that gave the best bound so far and the current
        // ones, which damps the duals' oscillation; a point that finds nothing (mispricing) is still a bound, and
        // the current duals are priced then.
        let mut found = None;
        if let Some(center) = center.as_ref().filter(|_| !stop) {
            let smoothed: Vec<f64> = center
                .iter()
                .zip(&solution.duals)
                .map(|(c, d)| SMOOTHING * c + (1.0 - SMOOTHING) * d)
                .collect();
            let priced = pricing(batch, &smoothed, nodes);
            let bound = value_of(&smoothed) / priced.ratio.max(1.0);
            if bound > lower_bound {
                lower_bound = bound;
                best_duals = Some(smoothed);
            }
            if !priced.columns.is_empty() {
                found = Some(priced);
            }
        }
        let mut found = match found {
            Some(found) => found,
            None => {
                let priced = pricing(batch, &solution.duals, nodes);
                let bound = value_of(&solution.duals) / priced.ratio.max(1.0);
                if bound > lower_bound {
                    lower_bound = bound;
                    best_duals = Some(solution.duals.clone());
                }
                priced
            }
        };
        center.clone_from(&best_duals);
        // The exhaustive search only once the heuristic finds nothing at the current duals.
        let mut exhaustive = false;
        if !stop && found.columns.is_empty() && !found.proven {
            found = pricing(batch, &solution.duals, limits.exact_nodes);
            exhaustive = true;
            let bound = value_of(&solution.duals) / found.ratio.max(1.0);
            if bound > lower_bound {
                lower_bound = bound;
                best_duals = Some(solution.duals.clone());
                center.clone_from(&best_duals);
            }
        }
        let converged = found.columns.is_empty() && found.proven;
        let close = solution.value <= lower_bound * (1.0 + tolerance);
        let done = converged || stop || close || (exhaustive && found.columns.is_empty());
        let mut added = 0;
        if !done {
            for column in found.columns {
                if added >= limits.columns_per_iteration {
                    break;
                }
                if seen.insert(column.clone()) {
                    master.add(batch, &column);
                    columns.push(column);
                    added += 1;
                }
            }
        }
        // No new pattern (all improving ones are in already: degenerate duals) ends it too.
        if done || added == 0 {
            let mut x = solution.x;
            x.resize(columns.len(), 0.0);
            return Ok(Generated {
                columns,
                x,
                duals: solution.duals,
                // Round-off in the duals is far below this margin.
                lower_bound: lower_bound * (1.0 - 1e-9),
                converged,
                iterations,
            });
        }
    }
}

struct Found {
    /// Improving patterns, most improving (value per price) first.
    columns: Vec<Column>,
    /// max over kinds of (upper bound on the best pattern's value) / price.
    ratio: f64,
    /// True when no kind's upper bound exceeds its price: no pattern improves.
    proven: bool,
}

fn pricing(batch: &Batch, duals: &[f64], nodes: u64) -> Found {
    let mut improving: Vec<(f64, Column)> = Vec::new();
    let mut ratio = 0.0f64;
    for (k, kind) in batch.kinds.iter().enumerate() {
        let priced = price(kind, &batch.weights, &batch.demand, duals, nodes, kind.price * (1.0 + 1e-9));
        ratio = ratio.max(priced.upper / kind.price);
        if priced.value > kind.price * (1.0 + 1e-7) {
            improving.push((priced.value / kind.price, Column { kind: k, counts: priced.counts }));
        }
    }
    improving.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.kind.cmp(&b.1.kind)));
    Found { proven: ratio <= 1.0 + 1e-7, ratio, columns: improving.into_iter().map(|(_, c)| c).collect() }
}

/// Weight of the best bound's duals in the smoothed pricing point.
const SMOOTHING: f64 = 0.5;

/// An integer cover without branching (rounding plus repair): every pattern of the LP solution as many times as it is
/// used whole, then the pods left over packed greedily, one node at a time, into the pattern that covers the most
/// dual value per unit of price (pricing's knapsack over what is left). For big batches this is within a few nodes
/// of the LP; for small ones it is where most of the gap comes from.
pub(crate) fn round_and_repair(batch: &Batch, generated: &Generated, nodes: u64) -> (Vec<Column>, Vec<u32>) {
    let mut columns = generated.columns.clone();
    let mut counts: Vec<u32> = generated.x.iter().map(|x| (x + 1e-9).floor().max(0.0) as u32).collect();
    let mut left: Vec<i64> = batch.demand.iter().map(|d| i64::from(*d)).collect();
    for (column, &n) in columns.iter().zip(&counts) {
        for &(class, pods) in &column.counts {
            left[class] -= i64::from(pods) * i64::from(n);
        }
    }
    // Classes the LP covers without a dual price still need a value to be packed at all.
    let values: Vec<f64> = generated.duals.iter().map(|d| d.max(1e-6)).collect();
    while left.iter().any(|l| *l > 0) {
        let residual: Vec<u32> = left.iter().map(|l| (*l).max(0) as u32).collect();
        let mut best: Option<(f64, Column)> = None;
        for (k, kind) in batch.kinds.iter().enumerate() {
            // Only a pattern better than the best so far matters.
            let threshold = best.as_ref().map_or(0.0, |(score, _)| score * kind.price);
            let priced = price(kind, &batch.weights, &residual, &values, nodes, threshold);
            if priced.counts.is_empty() {
                continue;
            }
            let score = priced.value / kind.price;
            if best.as_ref().is_none_or(|(b, _)| score > *b) {
                best = Some((score, Column { kind: k, counts: priced.counts }));
            }
        }
        let Some((_, column)) = best else { break };
        for &(class, pods) in &column.counts {
            left[class] -= i64::from(pods);
        }
        match columns.iter().position(|c| *c == column) {
            Some(j) => counts[j] += 1,
            None => {
                columns.push(column);
                counts.push(1);
            }
        }
    }
    (columns, counts)
}
