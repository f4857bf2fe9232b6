//! The `karpenter` command line.
//!
//! `karpenter catalog` lists the instance types a set of NodePool requirements allows, from the embedded AWS
//! catalog, as a table or as JSON. `karpenter crds` prints the CustomResourceDefinitions of NodePool, NodeClaim,
//! EC2NodeClass and the KWOK provider's KWOKNodeClass, or writes them into a directory (the Helm chart's
//! `crds/`). `karpenter run` is the controller (`run.rs`, `docs/operations.md`); `karpenter simulate` runs it over
//! a simulated cluster, cloud and clock (`simulate.rs`, `docs/simulate.md`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

mod catalog;
mod plan;
mod run;
mod simulate;

#[derive(Parser)]
#[command(name = "karpenter", version, about = "A Karpenter-compatible node autoscaler")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the instance types a set of NodePool requirements allows.
    Catalog(catalog::CatalogArgs),
    /// Print the CRDs of NodePool, NodeClaim, EC2NodeClass and KWOKNodeClass as YAML.
    Crds(CrdsArgs),
    /// Run the whole controller over a simulated cluster and cloud: a timeline and a summary of nodes, cost and
    /// pod latency (the built-in scenario, or -f scenario.yaml).
    Simulate(Box<simulate::SimulateArgs>),
    /// Run the controller against a cluster.
    Run(Box<run::RunArgs>),
    /// Show what Karpenter would launch and consolidate for manifests (-f) or a cluster (--live), with the cost.
    Plan(Box<plan::PlanArgs>),
}

#[derive(clap::Args)]
struct CrdsArgs {
    /// Write one file per CRD into this directory (as `charts/karpenter/crds/` holds them) instead of printing.
    #[arg(long)]
    dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::Catalog(args) => catalog::write(&args, &mut std::io::stdout().lock()),
        Command::Crds(args) => crds(&args),
        Command::Run(args) => run::run(*args),
        Command::Simulate(args) => simulate::write(&args, &mut std::io::stdout().lock()),
        Command::Plan(args) => {
            plan::write(&args, &mut std::io::stdout().lock(), &mut std::io::stderr().lock())
        }
    };
    finish(outcome)
}

/// The exit status of a command. A reader that went away (`karpenter catalog | head`) is a normal end, as for
/// any filter in a pipeline: status 0 and no message. Any other error is printed with its causes, status 1.
fn finish(outcome: Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if closed_pipe(&error) => ExitCode::SUCCESS,
        // `karpenter plan` printed its plan and the refusals; status 2 says some input was left out.
        Err(error) if error.downcast_ref::<plan::Refused>().is_some() => {
            let _ = writeln!(std::io::stderr(), "Error: {error}");
            ExitCode::from(2)
        }
        Err(error) => {
            // Best effort: standard error may be gone too.
            let _ = writeln!(std::io::stderr(), "Error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// True when the error comes from writing to a pipe whose reader closed it.
fn closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Prints the CRDs, or writes them into `--dir`.
fn crds(args: &CrdsArgs) -> Result<()> {
    let Some(dir) = &args.dir else {
        let yaml = karpenter_api::crds::to_yaml()?;
        std::io::stdout().lock().write_all(yaml.as_bytes()).context("writing the CRDs to standard output")?;
        return Ok(());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (file, yaml) in karpenter_api::crds::files()? {
        let path = dir.join(file);
        std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_pipe_is_a_normal_end_and_other_errors_fail() {
        let closed =
            anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe)).context("writing");
        assert!(closed_pipe(&closed));
        assert_eq!(finish(Err(closed)), ExitCode::SUCCESS);
        let other = anyhow::anyhow!("--ami-family \"X\": expected AL2");
        assert!(!closed_pipe(&other));
        assert_eq!(finish(Err(other)), ExitCode::FAILURE);
    }
}
