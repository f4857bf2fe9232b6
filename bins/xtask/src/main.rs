//! Project automation, run as `cargo xtask <command>`.
//!
//! - `ci`: exactly what `.ci/run` runs: format check, clippy with warnings denied, the layering check,
//!   the docs with warnings denied, one test build, `cargo deny check licenses bans sources`, then the test
//!   cluster and moto up, every example and test (doc and integration tests included), and both down again. The
//!   control plane, helm, moto and cargo-deny are built and installed beside the Rust builds when missing.
//! - `layers`: only the layering check of `docs/ARCHITECTURE.md`.
//! - `catalog-data`: regenerates the catalog's embedded AWS data from `../shared/data`.
//! - `cluster up|down|status|build`: the local control plane of `docs/testing.md`.
//! - `moto up|down`: moto's AWS emulator on loopback.
//! - `fuzz [--seconds N] [--update-corpus] [TARGET...]`: the cargo-fuzz targets of `fuzz/` (nightly and
//!   cargo-fuzz), each for N seconds, crashes copied to `fuzz/regressions/` (docs/testing.md, "Fuzzing").
//! - `e2e [--scale [N]]`: the controller's end-to-end tests on the local cluster; `--scale` adds the long run
//!   with N pending pods (1,000 by default).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

mod catalog_data;
mod cluster;
mod e2e;
mod fuzz;
mod layers;
mod moto;
mod process;
mod tidy;

/// When xtask started, so that every message says how far into a run it came (CI's time limit is a budget).
static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

fn main() -> ExitCode {
    STARTED.get_or_init(std::time::Instant::now);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("catalog-data") => catalog_data::generate(&workspace_root()).and_then(|json| {
            let path = workspace_root().join("crates/karpenter-catalog/data/aws.json");
            std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
            say(&format!("wrote {}", path.display()));
            Ok(())
        }),
        Some("e2e") => e2e::run(&workspace_root(), &args[1..]),
        Some("fuzz") => fuzz::run(&workspace_root(), &args[1..]),
        Some("cluster") => cluster::run(&workspace_root(), args.get(1).map(String::as_str)),
        Some("moto") => moto::run(&workspace_root(), args.get(1).map(String::as_str)),
        Some("layers") => layers::check(&workspace_root()).map(|report| {
            say(&report);
        }),
        Some("tidy") => tidy::check(&workspace_root()).map(|report| {
            say(&report);
        }),
        _ => {
            say(
                "usage: cargo xtask <ci|layers|tidy|catalog-data|fuzz [--seconds N] [TARGET...]|e2e [--scale [N]]|cluster up|down|status|build|moto up|down>",
            );
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
pub(crate) fn say(message: &str) {
    let elapsed = STARTED.get_or_init(std::time::Instant::now).elapsed().as_secs();
    eprintln!("[{:02}:{:02}] {message}", elapsed / 60, elapsed % 60);
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("xtask lives in bins/xtask").to_path_buf()
}

fn ci() -> Result<()> {
    let root = workspace_root();
    // The Go control plane, helm and moto build and install while cargo works: rustc spends long stretches on one
    // core (the AWS SDK crates), and the downloads wait on the network rather than the processor.
    let components = {
        let root = root.clone();
        std::thread::spawn(move || {
            cluster::run(&root, Some("build"))?;
            e2e::helm(&root)?;
            moto::install()?;
            install_cargo_deny(&root)
        })
    };
    cargo(&root, &["fmt", "--all", "--", "--check"]).context("formatting differs: run `cargo fmt --all`")?;
    // Clippy sees the cluster tests too: the feature only adds code.
    let features = cluster_test_features(&root)?;
    cargo(
        &root,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--features",
            &features,
            "--",
            "-D",
            "warnings",
        ],
    )?;
    say(&layers::check(&root)?);
    say(&tidy::check(&root)?);
    say("$ RUSTDOCFLAGS='-D warnings' cargo doc --workspace --no-deps --locked");
    let docs = Command::new("cargo")
        .args(["doc", "--workspace", "--no-deps", "--locked"])
        .env("RUSTDOCFLAGS", "-D warnings")
        .current_dir(&root)
        .status()
        .context("could not start cargo doc")?;
    if !docs.success() {
        bail!("cargo doc failed with {docs}: the docs have broken links or other warnings");
    }
    // One build, with the features the tests run with, serves the examples too: `cargo test` builds every
    // example, and running them from that build keeps a second feature set (and a second build) away.
    let test = ["test", "--workspace", "--locked", "--features", &features];
    cargo(&root, &[&test[..], &["--no-run"]].concat())?;
    components.join().map_err(|_| anyhow::anyhow!("building the test components panicked"))??;
    // Advisories need a network database that changes under us; they stay out of CI (deny.toml).
    cargo(&root, &["deny", "check", "licenses", "bans", "sources"])?;
    // Examples and integration tests run against the real components: start them, run every example and test,
    // and stop them whatever the outcome. Tests run last so that their summary closes the log.
    cluster::run(&root, Some("up"))?;
    if let Err(error) = moto::run(&root, Some("up")) {
        let _ = cluster::run(&root, Some("down"));
        return Err(error);
    }
    let tests = run_examples(&root).and_then(|()| cargo(&root, &test));
    let _ = moto::run(&root, Some("down"));
    let _ = cluster::run(&root, Some("down"));
    tests
}

/// Installs cargo-deny (the dependency policy of `deny.toml`) unless it is there.
fn install_cargo_deny(root: &Path) -> Result<()> {
    if Command::new("cargo").args(["deny", "--version"]).output().is_ok_and(|o| o.status.success()) {
        return Ok(());
    }
    say("installing cargo-deny (the dependency policy check)");
    cargo(root, &["install", "--locked", "--quiet", "cargo-deny"])
}

/// Runs every example from the test build; the ones that talk to AWS are pointed at moto.
fn run_examples(root: &Path) -> Result<()> {
    let moto = moto::endpoint(root)?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    for example in examples(root)? {
        let program = target.join("debug/examples").join(&example);
        let mut command = Command::new(&program);
        if example.starts_with("aws_") {
            command.args(["--endpoint-url", moto.as_str()]);
        }
        say(&format!("$ {}", program.display()));
        let status = command
            .current_dir(root)
            .status()
            .with_context(|| format!("could not start {}: was it built?", program.display()))?;
        if !status.success() {
            bail!("example {example} failed with {status}");
        }
    }
    Ok(())
}

/// The examples of `examples/examples/`, by name.
fn examples(root: &Path) -> Result<Vec<String>> {
    let dir = root.join("examples/examples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.strip_suffix(".rs").map(str::to_string))
        .collect();
    names.sort();
    Ok(names)
}

/// `crate/cluster-tests` for every workspace crate that declares the feature.
fn cluster_test_features(root: &Path) -> Result<String> {
    let output = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--locked", "--no-deps"])
        .current_dir(root)
        .output()
        .context("could not run cargo metadata")?;
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("reading cargo metadata")?;
    let packages = metadata["packages"].as_array().context("cargo metadata lists no packages")?;
    let features: Vec<String> = packages
        .iter()
        .filter(|p| p["features"].get("cluster-tests").is_some())
        .filter_map(|p| Some(format!("{}/cluster-tests", p["name"].as_str()?)))
        .collect();
    Ok(features.join(","))
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
