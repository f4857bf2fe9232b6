//! Quick runner for one rung of the benchmark ladder.
//!
//! `cargo run --release -p karpenter-benches --bin ladder -- --mix generic --pods 20000`
//!
//! Prints one line: `mix=<name> pods=<n> scheduled=<k> nodes=<m> seconds=<s> pods_per_sec=<r>`, for the first solve
//! of a fresh problem (the numbers upstream reports come from its first iteration too). `--runs N` repeats the
//! solve and reports the fastest.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use karpenter_benches::{Mix, Types, problem_over};
use karpenter_solver::solve;

#[derive(Parser)]
#[command(about = "Run one rung of the solver benchmark ladder")]
struct Args {
    /// Pod mix: generic, diverse, preferences or ignore-preferences.
    #[arg(long, default_value = "generic")]
    mix: String,
    /// Number of pods.
    #[arg(long)]
    pods: usize,
    /// Instance types: `synthetic` (upstream's 400 fake types) or `aws` (the embedded us-east-1 catalog under a
    /// broad NodePool).
    #[arg(long, default_value = "synthetic")]
    catalog: String,
    /// Solves to run; the fastest is reported.
    #[arg(long, default_value_t = 1)]
    runs: usize,
}

#[allow(clippy::print_stdout, reason = "the ladder's output is its report")]
fn main() -> Result<()> {
    let args = Args::parse();
    let mix =
        Mix::parse(&args.mix).with_context(|| format!("unknown mix {:?} (known: generic)", args.mix))?;
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let types = Types::parse(&args.catalog)
        .with_context(|| format!("unknown catalog {:?} (known: synthetic, aws)", args.catalog))?;
    let (problem, config) = problem_over(mix, args.pods, types);
    let mut best = f64::INFINITY;
    let mut plan = None;
    for _ in 0..args.runs {
        let start = Instant::now();
        let solved = solve(&problem, &config);
        best = best.min(start.elapsed().as_secs_f64());
        plan = Some(solved);
    }
    let plan = plan.expect("at least one run");
    println!(
        "mix={}{} pods={} scheduled={} nodes={} seconds={:.6} pods_per_sec={:.0}",
        mix.name(),
        if types == Types::Aws { " catalog=aws" } else { "" },
        args.pods,
        plan.scheduled_pods(),
        plan.new_node_claims.len(),
        best,
        args.pods as f64 / best
    );
    if !plan.unschedulable.is_empty() {
        bail!("{} pods could not be scheduled; the benchmark expects all to fit", plan.unschedulable.len());
    }
    Ok(())
}
