//! Project automation, run as `cargo xtask <command>`.
//!
//! - `ci`: exactly what `.ci/run` runs: format check, clippy with warnings denied, the layering check,
//!   `cargo deny check` when cargo-deny is installed, and every test (doc tests included).
//! - `layers`: only the layering check of `docs/ARCHITECTURE.md`.
//! - `catalog-data`: regenerates the catalog's embedded AWS data from `../shared/data`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

mod catalog_data;
mod layers;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("catalog-data") => catalog_data::generate(&workspace_root()).and_then(|json| {
            let path = workspace_root().join("crates/karpenter-catalog/data/aws.json");
            std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
            say(&format!("wrote {}", path.display()));
            Ok(())
        }),
        Some("layers") => layers::check(&workspace_root()).map(|report| {
            say(&report);
        }),
        _ => {
            say("usage: cargo xtask <ci|layers|catalog-data>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            say(&format!("xtask: {error:#}"));
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stderr, reason = "xtask reports to the developer's terminal")]
fn say(message: &str) {
    eprintln!("{message}");
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("xtask lives in bins/xtask").to_path_buf()
}

fn ci() -> Result<()> {
    let root = workspace_root();
    cargo(&root, &["fmt", "--all", "--", "--check"]).context("formatting differs: run `cargo fmt --all`")?;
    cargo(&root, &["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"])?;
    say(&layers::check(&root)?);
    if Command::new("cargo").args(["deny", "--version"]).output().is_ok_and(|o| o.status.success()) {
        cargo(&root, &["deny", "check"])?;
    } else {
        say("cargo-deny is not installed; skipping `cargo deny check`");
    }
    // Tests run last so that their summary closes the log.
    cargo(&root, &["test", "--workspace", "--locked"])
}

fn cargo(root: &Path, args: &[&str]) -> Result<()> {
    say(&format!("$ cargo {}", args.join(" ")));
    let status = Command::new("cargo")
        .args(args)
        .current_dir(root)
        .status()
        .with_context(|| format!("could not start cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed with {status}", args.join(" "));
    }
    Ok(())
}
