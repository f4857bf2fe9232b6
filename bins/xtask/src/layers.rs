//! The layering invariants of `docs/ARCHITECTURE.md`, checked over `cargo metadata`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Crates that must stay pure: no Kubernetes client, no async runtime, no AWS SDK, anywhere in their graph.
const PURE_CRATES: [&str; 4] =
    ["karpenter-solver", "karpenter-catalog", "karpenter-disruption", "karpenter-cloud"];

/// Dependencies a pure crate may not reach, by name prefix.
const FORBIDDEN_PREFIXES: [&str; 5] = ["kube", "k8s-openapi", "tokio", "aws-", "hyper"];

/// What the solver itself may depend on directly (normal dependencies only).
const SOLVER_ALLOWED: [&str; 4] = ["serde", "thiserror", "rustc-hash", "good_lp"];

/// What the API crate may not reach when built on its own: it holds types and schemas, never a client or runtime.
const API_FORBIDDEN_PREFIXES: [&str; 5] = ["kube-client", "kube-runtime", "tokio", "aws-", "hyper"];

/// Checks the invariants and describes what was checked.
pub(crate) fn check(root: &Path) -> Result<String> {
    let graph = check_graph(root)?;
    let api = check_api(root)?;
    Ok(format!("{graph}; {api}"))
}

/// karpenter-api, built alone (features resolved for it only, unlike the workspace-wide `cargo metadata`
/// graph, where the test support's kube client is unified in), stays free of clients and runtimes.
fn check_api(root: &Path) -> Result<String> {
    let output = Command::new("cargo")
        .args(["tree", "--locked", "-p", "karpenter-api", "-e", "normal", "--prefix", "none", "-f", "{p}"])
        .current_dir(root)
        .output()
        .context("could not run cargo tree")?;
    if !output.status.success() {
        bail!("cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    let forbidden: BTreeSet<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| API_FORBIDDEN_PREFIXES.iter().any(|prefix| name.starts_with(prefix)))
        .collect();
    if !forbidden.is_empty() {
        bail!(
            "layering violation: karpenter-api must not depend on {}",
            forbidden.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    Ok("karpenter-api needs no client, runtime or AWS crate".into())
}

/// Checks the pure crates over the workspace's resolved dependency graph.
fn check_graph(root: &Path) -> Result<String> {
    let output = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(root)
        .output()
        .context("could not run cargo metadata")?;
    if !output.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("cargo metadata printed invalid JSON")?;
    check_metadata(&metadata)
}

fn check_metadata(metadata: &Value) -> Result<String> {
    let packages = metadata["packages"].as_array().context("metadata has no packages")?;
    let name_of: BTreeMap<&str, &str> =
        packages.iter().filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?))).collect();
    let nodes = metadata["resolve"]["nodes"].as_array().context("metadata has no resolve graph")?;
    // Normal (non-dev, non-build) edges only: tests may use anything.
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for node in nodes {
        let id = node["id"].as_str().unwrap_or_default();
        let deps = node["deps"].as_array().map(Vec::as_slice).unwrap_or_default();
        for dep in deps {
            let normal =
                dep["dep_kinds"].as_array().is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()));
            if normal && let Some(pkg) = dep["pkg"].as_str() {
                edges.entry(id).or_default().push(pkg);
            }
        }
    }
    let mut problems = Vec::new();
    let mut checked = Vec::new();
    for package in packages {
        let name = package["name"].as_str().unwrap_or_default();
        if !PURE_CRATES.contains(&name) || package["source"].is_string() {
            continue;
        }
        checked.push(name);
        let id = package["id"].as_str().unwrap_or_default();
        let mut seen = BTreeSet::new();
        let mut stack = vec![id];
        while let Some(current) = stack.pop() {
            for &next in edges.get(current).map(Vec::as_slice).unwrap_or_default() {
                if seen.insert(next) {
                    stack.push(next);
                    let dep_name = name_of.get(next).copied().unwrap_or(next);
                    if FORBIDDEN_PREFIXES.iter().any(|prefix| dep_name.starts_with(prefix)) {
                        problems.push(format!("{name} must not depend on {dep_name}"));
                    }
                }
            }
        }
        if name == "karpenter-solver" {
            for &direct in edges.get(id).map(Vec::as_slice).unwrap_or_default() {
                let dep_name = name_of.get(direct).copied().unwrap_or(direct);
                if !SOLVER_ALLOWED.contains(&dep_name) {
                    problems.push(format!("karpenter-solver may only depend on std, serde, thiserror, rustc-hash and good_lp, not {dep_name}"));
                }
            }
        }
    }
    if !problems.is_empty() {
        bail!("layering violations:\n  {}", problems.join("\n  "));
    }
    Ok(format!("layering ok: {} stay free of kube, tokio and AWS crates", checked.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_respects_its_layers() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap();
        let report = check(root).unwrap();
        assert!(report.contains("karpenter-solver"), "the solver must be among the checked crates: {report}");
    }

    #[test]
    fn a_forbidden_edge_is_reported() {
        let metadata = serde_json::json!({
            "packages": [
                {"id": "solver", "name": "karpenter-solver", "source": null},
                {"id": "tokio", "name": "tokio", "source": "registry"}
            ],
            "resolve": {"nodes": [
                {"id": "solver", "deps": [{"pkg": "tokio", "dep_kinds": [{"kind": null}]}]}
            ]}
        });
        let error = check_metadata(&metadata).unwrap_err().to_string();
        assert!(error.contains("karpenter-solver must not depend on tokio"), "{error}");
        assert!(
            error.contains("may only depend on std, serde, thiserror, rustc-hash and good_lp, not tokio"),
            "{error}"
        );
    }
}
