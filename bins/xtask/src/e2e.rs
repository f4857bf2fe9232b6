//! `cargo xtask e2e [--scale [N]]`: the controller end to end on the local cluster (`docs/operations.md`,
//! `crates/karpenter-operator/tests/e2e/`). Starts the cluster if it is down (and stops it again afterwards),
//! builds the `karpenter` binary and helm, then runs the end-to-end tests one at a time with their output shown:
//! the chart, the seed's validation steps, the faults and a 100-pod scale run. With `--scale N` only the scale run,
//! with N pods (1,000 when N is left out).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::say;

/// The helm release the end-to-end tests use (the tests build the same one when it is missing).
const HELM_VERSION: &str = "v3.22.0";
/// Pods of `--scale` without a number.
const DEFAULT_SCALE: usize = 1000;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    /// `Some(n)`: only the scale run, with n pods.
    scale: Option<usize>,
}

fn options(args: &[String]) -> Result<Options> {
    let mut scale = None;
    let mut args = args.iter().peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--scale" => {
                let n = match args.peek() {
                    Some(next) if !next.starts_with("--") => {
                        let n =
                            next.parse().with_context(|| format!("--scale {next}: expected a pod count"))?;
                        args.next();
                        n
                    }
                    _ => DEFAULT_SCALE,
                };
                if n == 0 {
                    bail!("--scale 0: the scale run needs at least one pod");
                }
                scale = Some(n);
            }
            other => bail!("unknown argument {other:?}; usage: cargo xtask e2e [--scale [N]]"),
        }
    }
    Ok(Options { scale })
}

fn target_dir(root: &Path) -> PathBuf {
    // The binary is where cargo puts it: CARGO_TARGET_DIR when set.
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"))
}

/// Builds helm into the cluster's binary folder unless it is there.
pub(crate) fn helm(root: &Path) -> Result<PathBuf> {
    let dir = root.join("target/cluster/bin").join(format!("helm-{HELM_VERSION}"));
    let path = dir.join("helm");
    if path.exists() {
        return Ok(path);
    }
    say(&format!("building helm {HELM_VERSION} (first time: a few minutes)"));
    std::fs::create_dir_all(&dir)?;
    let status = Command::new("go")
        .args(["install", &format!("helm.sh/helm/v3/cmd/helm@{HELM_VERSION}")])
        .env("GOBIN", &dir)
        .status()
        .context("building helm needs the Go toolchain (1.26 or later)")?;
    if !status.success() {
        bail!("building helm {HELM_VERSION} failed ({status})");
    }
    Ok(path)
}

fn cargo(root: &Path, args: &[&str], envs: &[(&str, String)]) -> Result<()> {
    say(&format!(
        "$ {}cargo {}",
        envs.iter().map(|(k, v)| format!("{k}={v} ")).collect::<String>(),
        args.join(" ")
    ));
    let status = Command::new("cargo")
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(root)
        .status()
        .with_context(|| format!("could not start cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed with {status}", args.join(" "));
    }
    Ok(())
}

pub(crate) fn run(root: &Path, args: &[String]) -> Result<()> {
    let options = options(args)?;
    let started_cluster = !root.join("target/cluster/kubeconfig").exists();
    if started_cluster {
        crate::cluster::run(root, Some("up"))?;
    }
    let result = (|| {
        helm(root)?;
        cargo(root, &["build", "-p", "karpenter"], &[])?;
        let binary = target_dir(root).join("debug/karpenter");
        let mut envs = vec![("KARPENTER_BIN", binary.display().to_string())];
        let mut test = vec![
            "test",
            "-p",
            "karpenter-operator",
            "--features",
            "cluster-tests",
            "--test",
            "e2e",
            "--",
            "--nocapture",
            "--test-threads=1",
        ];
        if let Some(pods) = options.scale {
            envs.push(("KARPENTER_E2E_SCALE", pods.to_string()));
            test.push("scale::");
        }
        cargo(root, &test, &envs)
    })();
    if started_cluster {
        let _ = crate::cluster::run(root, Some("down"));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options> {
        options(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn scale_takes_an_optional_pod_count() {
        assert_eq!(parse(&[]).unwrap(), Options { scale: None });
        assert_eq!(parse(&["--scale"]).unwrap(), Options { scale: Some(1000) });
        assert_eq!(parse(&["--scale", "250"]).unwrap(), Options { scale: Some(250) });
        assert!(parse(&["--scale", "lots"]).unwrap_err().to_string().contains("expected a pod count"));
        assert!(parse(&["--scale", "0"]).is_err());
        assert!(parse(&["--faults"]).unwrap_err().to_string().contains("usage: cargo xtask e2e"));
    }
}
