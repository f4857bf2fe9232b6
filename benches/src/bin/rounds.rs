//! Solves the same round many times against one prepared problem, for profilers.
//!
//! `cargo run --release -p karpenter-benches --bin rounds -- --pods 10 --rounds 2000` prints
//! `pods=<n> rounds=<r> seconds_per_round=<s> claims=<c> attempts=<a> claims_tried=<t> options=<o>`.

use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use karpenter_benches::{Mix, Types, problem_over};
use karpenter_solver::{Prepared, Round};

#[derive(Parser)]
#[command(about = "Solve one round repeatedly against a prepared problem over the us-east-1 catalog")]
struct Args {
    /// Pods of upstream's diverse mix.
    #[arg(long, default_value_t = 10)]
    pods: usize,
    /// Rounds to solve.
    #[arg(long, default_value_t = 1000)]
    rounds: usize,
}

#[allow(clippy::print_stdout, reason = "the runner's output is its report")]
fn main() -> Result<()> {
    let args = Args::parse();
    let (problem, config) = problem_over(Mix::Diverse, args.pods, Types::Aws);
    let prepared = Prepared::from_problem(&problem, &config);
    let round = Round::of(&problem);
    let start = Instant::now();
    let mut claims = 0;
    let mut stats = None;
    for _ in 0..args.rounds.max(1) {
        let plan = prepared.solve(&round);
        claims = plan.new_node_claims.len();
        stats = Some(plan.stats);
    }
    let per_round = start.elapsed().as_secs_f64() / args.rounds.max(1) as f64;
    let stats = stats.expect("at least one round");
    println!(
        "pods={} rounds={} seconds_per_round={per_round:.6} claims={claims} attempts={} claims_tried={} options={}",
        args.pods, args.rounds, stats.attempts, stats.claims_tried, stats.options
    );
    Ok(())
}
