//! Solves a problem file and prints the plan: the README's first command.
//!
//! `cargo run -p karpenter-examples --example solve [-- PROBLEM.json [--json]]`
//!
//! Without a path it solves the seed overview's cluster: an ARM64 Graviton NodePool, on-demand only, categories c, m
//! and t of generation 4 and later, limited to 100 vCPU and 200Gi, and the `inflate` deployment scaled to five.

use anyhow::{Context, Result};
use karpenter_solver::model::Problem;
use karpenter_solver::{SolverConfig, solve};

const SEED_PROBLEM: &str = include_str!("../problems/seed-overview.json");

#[allow(clippy::print_stdout, reason = "an example's job is to print")]
fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json_output = args.iter().any(|a| a == "--json");
    let path = args.iter().find(|a| !a.starts_with("--"));
    let text = match path {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        None => SEED_PROBLEM.to_string(),
    };
    let problem: Problem = serde_json::from_str(&text).context("the problem file is not a valid problem")?;
    let plan = solve(&problem, &SolverConfig::default());
    if json_output {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", plan.render());
        println!(
            "scheduled {} of {} pods on {} new NodeClaim(s), ${:.4}/hour for the cheapest options",
            plan.scheduled_pods(),
            problem.pods.len(),
            plan.new_node_claims.len(),
            plan.new_capacity_price()
        );
    }
    Ok(())
}
