//! One consolidation pass over a cluster of `n` nodes, timed.
//!
//! `cargo run --release -p karpenter-benches --bin consolidation -- --nodes 1000 [--workload FILE] [--mode M]`
//!
//! Prints one line: `nodes=<n> evaluated=<k> commands=<c> savings_per_hour=<x> seconds=<s>`, and on stderr the
//! peak resident memory and how many single-node candidates could have been consolidated on their own.
//!
//! With `--workload` (for example `benches/data/consolidation-workload.json`) it rebuilds exactly the first `n`
//! nodes of that file, the cluster upstream Karpenter v1.15.0 was timed on (upstream's 400 synthetic instance
//! types, one NodePool, pods of the listed sizes). Without it, it builds `n` nodes of real us-east-1 instance types
//! at 30-50% requested CPU, spread over three zones, with deployments that spread by zone and keep replicas on
//! separate hosts.
//!
//! Modes: `every` (default) evaluates every single-node candidate, in parallel, and searches multi-node sets
//! greedily as well as by prefix (`MultiNodeSearch::Greedy`); `upstream` runs the pass as upstream does (multi-node
//! prefix search, then single-node until the first valid candidate, one at a time) with upstream's 1-minute and
//! 3-minute timeouts.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Parser;
use karpenter_benches::consolidation::{synthetic_view, workload_view};
use karpenter_disruption::{KeptReason, Method, MultiNodeSearch, Options, SearchLimit, decide};

#[derive(Parser)]
#[command(about = "Time one consolidation pass")]
struct Args {
    /// Number of nodes.
    #[arg(long)]
    nodes: usize,
    /// A `karpenter-consolidation-workload/v1` file; its first `nodes` nodes are used.
    #[arg(long)]
    workload: Option<PathBuf>,
    /// `every` (evaluate every candidate, in parallel) or `upstream` (upstream's search and timeouts).
    #[arg(long, default_value = "every")]
    mode: String,
    /// In `every` mode, how many candidates the greedy multi-node search considers (0: prefix search only).
    #[arg(long, default_value_t = 100)]
    greedy: usize,
}

#[allow(clippy::print_stdout, clippy::print_stderr, reason = "the runner's output is its report")]
fn main() -> Result<()> {
    let args = Args::parse();
    let view = match &args.workload {
        Some(path) => workload_view(path, args.nodes)?,
        None => synthetic_view(args.nodes)?,
    };
    let start = Instant::now();
    let multi_deadline = move || start.elapsed() > Duration::from_secs(60);
    let single_started = std::sync::OnceLock::new();
    let single_deadline = || single_started.get_or_init(Instant::now).elapsed() > Duration::from_secs(180);
    let options = match args.mode.as_str() {
        "every" => Options {
            explain_all: true,
            parallel: true,
            multi_node_search: if args.greedy == 0 {
                MultiNodeSearch::Prefix
            } else {
                MultiNodeSearch::Greedy { candidates: args.greedy }
            },
            ..Options::default()
        },
        "upstream" => Options {
            multi_node: SearchLimit { max_evaluations: None, deadline: Some(&multi_deadline) },
            single_node: SearchLimit { max_evaluations: None, deadline: Some(&single_deadline) },
            ..Options::default()
        },
        other => bail!("unknown mode {other:?} (every or upstream)"),
    };
    let decision = decide(&view, &options);
    let seconds = start.elapsed().as_secs_f64();
    let single_valid =
        decision.commands.iter().filter(|c| c.method == Method::SingleNodeConsolidation).count()
            + decision
                .kept
                .iter()
                .filter(|k| {
                    k.why.iter().any(|w| {
                        w.method == Some(Method::SingleNodeConsolidation)
                            && w.reason == KeptReason::EarlierCandidateChosen
                    })
                })
                .count();
    println!(
        "nodes={} evaluated={} commands={} savings_per_hour={:.4} seconds={:.3}",
        view.nodes.len(),
        decision.evaluations.single_node_examined,
        decision.commands.len(),
        decision.savings_per_hour(),
        seconds
    );
    eprintln!(
        "pods={} simulations={} single_node_consolidatable={} limited={} peak_rss_mb={} command={}",
        view.nodes.iter().map(|n| n.pods.len()).sum::<usize>(),
        decision.evaluations.simulations,
        single_valid,
        decision.evaluations.limited,
        peak_rss_mb().map_or("?".to_string(), |m| m.to_string()),
        decision.commands.first().map_or("none".to_string(), |c| format!(
            "{}/{} {} of {} node(s) with {} replacement(s)",
            c.reason,
            c.method,
            c.action,
            c.candidates.len(),
            c.replacements.len()
        )),
    );
    if std::env::var_os("CONSOLIDATION_EXPLAIN").is_some() {
        eprint!("{}", decision.render());
    }
    Ok(())
}

/// `VmHWM` of this process, in MiB.
fn peak_rss_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}
