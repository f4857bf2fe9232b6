//! The cost-quality runner (issue 18): one mix and size over the embedded us-east-1 catalog, first fit against the
//! improved plan and the configuration-LP lower bound.
//!
//! `cargo run --release -p karpenter-benches --bin cost -- --mix services --pods 2000 [--max-vcpu 8] [--pool seed]`
//!
//! Prints one line: `mix=<m> pods=<n> cost_first_fit=<a> cost=<b> lower_bound=<lb> gap_pct=<g> seconds=<s>`, then
//! the catalog, the phase that produced the plan, the first fit's own gap, node counts, pods no plan can place (a
//! pod larger than every allowed type), the time to prepare the engine (once per
//! set of NodePools and instance types, like `Prepared::new`) and the LP's size. `seconds` is one costed solve:
//! first fit, bound and improvement, within the budget.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use karpenter_benches::cost::{CostMix, CostPool, cost_problem};
use karpenter_cost::{CostConfig, CostEngine, Mode};
use karpenter_solver::Round;

#[derive(Parser)]
#[command(about = "First fit against the improved plan and the lower bound, for one pod mix")]
struct Args {
    /// Pod mix: diverse, services, memory-heavy or cpu-heavy.
    #[arg(long)]
    mix: String,
    /// Number of pods.
    #[arg(long)]
    pods: usize,
    /// Only instance types with at most this many vCPU.
    #[arg(long)]
    max_vcpu: Option<u32>,
    /// NodePool: `cmr` (c/m/r families, on-demand) or `seed` (the seed document's Graviton NodePool).
    #[arg(long, default_value = "cmr")]
    pool: String,
    /// Time budget per batch in seconds (default: 1, or 3 from 10,000 pods).
    #[arg(long)]
    budget: Option<f64>,
    /// Upstream-exact placements with the bound only.
    #[arg(long)]
    upstream_exact: bool,
}

#[allow(clippy::print_stdout, reason = "the runner's output is its report")]
fn main() -> Result<()> {
    let args = Args::parse();
    let mix = CostMix::parse(&args.mix).with_context(|| {
        format!("unknown mix {:?} (known: diverse, services, memory-heavy, cpu-heavy)", args.mix)
    })?;
    let pool = CostPool::parse(&args.pool)
        .with_context(|| format!("unknown pool {:?} (known: cmr, seed)", args.pool))?;
    let (problem, solver_config) = cost_problem(mix, args.pods, pool, args.max_vcpu);

    let prepare_started = Instant::now();
    let engine = CostEngine::from_problem(&problem, &solver_config);
    let prepare = prepare_started.elapsed().as_secs_f64();

    let budget = args.budget.unwrap_or(if args.pods >= 10_000 { 3.0 } else { 1.0 });
    let config = CostConfig {
        mode: if args.upstream_exact { Mode::UpstreamExact } else { Mode::Improved },
        bound: true,
        budget: Duration::from_secs_f64(budget),
        ..CostConfig::default()
    };
    let started = Instant::now();
    let clock = move || started.elapsed();
    let costed = engine.plan(&Round::of(&problem), &config, Some(&clock));
    let seconds = started.elapsed().as_secs_f64();

    let bound = costed.bound.as_ref().map_or(f64::NAN, |b| b.value);
    let pct = |cost: f64| if bound > 0.0 { (cost - bound) / bound * 100.0 } else { f64::NAN };
    let catalog = match args.max_vcpu {
        Some(max) => format!("{}-max{max}vcpu", pool.name()),
        None => pool.name().to_string(),
    };
    println!(
        "mix={} pods={} cost_first_fit={:.4} cost={:.4} lower_bound={:.4} gap_pct={:.2} seconds={:.3} catalog={catalog} \
         phase={:?} gap_first_fit_pct={:.2} nodes_first_fit={} nodes={} unschedulable={} prepare_seconds={:.3}{}{}{}",
        mix.name(),
        args.pods,
        costed.first_fit_cost,
        costed.cost,
        bound,
        pct(costed.cost),
        seconds,
        costed.phase,
        pct(costed.first_fit_cost),
        engine.prepared().solve(&Round::of(&problem)).new_node_claims.len(),
        costed.plan.new_node_claims.len(),
        costed.plan.unschedulable.len(),
        prepare,
        costed.bound.as_ref().map_or(String::new(), |b| format!(
            " classes={} kinds={} columns={} iterations={} converged={}",
            b.classes, b.kinds, b.columns, b.iterations, b.converged
        )),
        if costed.stopped_early { " stopped_early=true" } else { "" },
        costed.note.as_ref().map_or(String::new(), |n| format!(" note={n:?}")),
    );
    Ok(())
}
