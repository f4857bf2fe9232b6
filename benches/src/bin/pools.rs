//! The NodePool axis: one cold solve of diverse pods over the us-east-1 catalog offered to N distinct NodePools.
//!
//! `cargo run --release -p karpenter-benches --bin pools -- --pools 50 --lists per-pool`
//!
//! Prints one line: `pools=<n> lists=<shared|per-pool|per-pool-copies> pods=<p> scheduled=<k> nodes=<m>
//! seconds=<s> peak_rss_mb=<r>`. Run one configuration per process: the peak resident set (`VmHWM`) is the
//! process's whole life, catalog loading included.

use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use karpenter_benches::pools::{Lists, pools_problem};
use karpenter_solver::solve;

#[derive(Parser)]
#[command(about = "Solve diverse pods over the real catalog for N distinct NodePools")]
struct Args {
    /// Number of distinct NodePools.
    #[arg(long)]
    pools: usize,
    /// How the instance types reach the pools: shared, per-pool or per-pool-copies.
    #[arg(long, default_value = "shared")]
    lists: String,
    /// Number of pods (upstream's diverse mix, seed 42).
    #[arg(long, default_value_t = 1000)]
    pods: usize,
}

/// The process's peak resident set in MB, from `/proc/self/status`.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[allow(clippy::print_stdout, reason = "the runner's output is its report")]
fn main() -> Result<()> {
    let args = Args::parse();
    let lists = Lists::parse(&args.lists).with_context(|| {
        format!("unknown --lists {:?} (known: shared, per-pool, per-pool-copies)", args.lists)
    })?;
    let (problem, config) = pools_problem(args.pools, args.pods, lists);
    let start = Instant::now();
    let plan = solve(&problem, &config);
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "pools={} lists={} pods={} scheduled={} nodes={} seconds={seconds:.3} peak_rss_mb={:.0}",
        args.pools,
        lists.name(),
        args.pods,
        plan.scheduled_pods(),
        plan.new_node_claims.len(),
        peak_rss_mb().unwrap_or(f64::NAN),
    );
    Ok(())
}
