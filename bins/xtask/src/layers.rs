//! The layering rules of `docs/ARCHITECTURE.md`, as a table checked against the workspace: one row per crate with
//! the workspace crates it may depend on and the external crates it must never reach (by name prefix, through any
//! path of normal dependencies, resolved as when the crate is built on its own).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// One crate's place in the layers.
struct Layer {
    name: &'static str,
    /// Workspace crates it may depend on (normal dependencies).
    internal: &'static [&'static str],
    /// Name prefixes of crates it must not reach.
    forbidden: &'static [&'static str],
    /// When set, the only external crates it may depend on directly.
    external: Option<&'static [&'static str]>,
    /// Features turned on for the check, so that what they add is checked too.
    features: &'static [&'static str],
}

/// The pure core: no Kubernetes client or types, no async runtime, no HTTP stack, no cloud SDK.
const PURE: &[&str] = &["kube", "k8s-openapi", "tokio", "hyper", "aws-"];
/// Crates holding API types: kube's derive and k8s-openapi, but never a client, runtime or cloud SDK.
const TYPES_ONLY: &[&str] = &["kube-client", "kube-runtime", "tokio", "hyper", "aws-"];
/// Crates that talk to the API server but never to AWS.
const NO_AWS: &[&str] = &["aws-"];
/// The AWS provider never talks to the Kubernetes API server.
const NO_KUBE_CLIENT: &[&str] = &["kube-client", "kube-runtime"];

const LAYERS: &[Layer] = &[
    Layer {
        name: "karpenter-solver",
        internal: &[],
        forbidden: PURE,
        external: Some(&["serde", "thiserror", "rustc-hash", "good_lp"]),
        features: &[],
    },
    Layer {
        name: "karpenter-catalog",
        internal: &["karpenter-solver"],
        forbidden: PURE,
        external: None,
        features: &[],
    },
    Layer {
        name: "karpenter-fixture",
        internal: &["karpenter-solver", "karpenter-disruption"],
        forbidden: PURE,
        external: None,
        features: &[],
    },
    Layer {
        name: "karpenter-cloud",
        internal: &["karpenter-solver"],
        forbidden: PURE,
        external: None,
        features: &["test-util"],
    },
    Layer {
        name: "karpenter-disruption",
        internal: &["karpenter-solver", "karpenter-cloud"],
        forbidden: PURE,
        external: None,
        features: &[],
    },
    // HiGHS is a C++ library linked in: pure, no IO.
    Layer {
        name: "karpenter-cost",
        internal: &["karpenter-solver"],
        forbidden: PURE,
        external: None,
        features: &[],
    },
    Layer {
        name: "karpenter-api",
        internal: &["karpenter-solver", "karpenter-catalog"],
        forbidden: TYPES_ONLY,
        external: None,
        features: &[],
    },
    Layer {
        name: "karpenter-snapshot",
        internal: &["karpenter-solver", "karpenter-catalog", "karpenter-api", "karpenter-disruption"],
        forbidden: TYPES_ONLY,
        external: None,
        features: &[],
    },
    Layer {
        name: "karpenter-kwok",
        internal: &["karpenter-solver", "karpenter-cloud", "karpenter-api"],
        forbidden: NO_AWS,
        external: None,
        features: &[],
    },
    Layer {
        name: "karpenter-aws",
        internal: &["karpenter-solver", "karpenter-catalog", "karpenter-cloud", "karpenter-api"],
        forbidden: NO_KUBE_CLIENT,
        external: None,
        features: &[],
    },
    Layer {
        name: "karpenter-operator",
        internal: &[
            "karpenter-solver",
            "karpenter-catalog",
            "karpenter-api",
            "karpenter-snapshot",
            "karpenter-cloud",
            "karpenter-disruption",
        ],
        forbidden: NO_AWS,
        external: None,
        features: &[],
    },
    Layer { name: "karpenter-test-support", internal: &[], forbidden: &[], external: None, features: &[] },
    // The binaries and the dev packages sit on top and may use anything.
    Layer { name: "karpenter", internal: &["*"], forbidden: &[], external: None, features: &[] },
    Layer { name: "karpenter-benches", internal: &["*"], forbidden: &[], external: None, features: &[] },
    Layer { name: "karpenter-examples", internal: &["*"], forbidden: &[], external: None, features: &[] },
    Layer { name: "xtask", internal: &["*"], forbidden: &[], external: None, features: &[] },
];

/// Checks every workspace crate against its row and describes what was checked.
pub(crate) fn check(root: &Path) -> Result<String> {
    let metadata = metadata(root)?;
    let mut problems = check_direct(&metadata)?;
    let mut lines = Vec::new();
    for layer in LAYERS.iter().filter(|l| !l.forbidden.is_empty()) {
        if !workspace_members(&metadata)?.contains(layer.name) {
            continue;
        }
        let reached = reached(root, layer.name, layer.features)?;
        for name in &reached {
            if let Some(prefix) = layer.forbidden.iter().find(|prefix| name.starts_with(*prefix)) {
                problems.push(format!(
                    "{} must not depend on {name} (nothing starting with {prefix:?})",
                    layer.name
                ));
            }
        }
        let with = if layer.features.is_empty() {
            String::new()
        } else {
            format!(" (with {})", layer.features.join(", "))
        };
        lines.push(format!("{}{with} reaches none of {}", layer.name, layer.forbidden.join(", ")));
    }
    if !problems.is_empty() {
        bail!("layering violations:\n  {}", problems.join("\n  "));
    }
    Ok(format!("layering ok:\n  {}", lines.join("\n  ")))
}

fn metadata(root: &Path) -> Result<Value> {
    let output = Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--locked", "--no-deps"])
        .current_dir(root)
        .output()
        .context("could not run cargo metadata")?;
    if !output.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    serde_json::from_slice(&output.stdout).context("cargo metadata printed invalid JSON")
}

fn workspace_members(metadata: &Value) -> Result<BTreeSet<&str>> {
    let packages = metadata["packages"].as_array().context("metadata has no packages")?;
    Ok(packages.iter().filter_map(|p| p["name"].as_str()).collect())
}

/// Direct normal dependencies of every workspace crate against its row: internal ones must be listed, and a row
/// with an external list allows nothing else. A crate without a row is a violation too.
fn check_direct(metadata: &Value) -> Result<Vec<String>> {
    let packages = metadata["packages"].as_array().context("metadata has no packages")?;
    let members = workspace_members(metadata)?;
    let mut problems = Vec::new();
    for package in packages {
        let name = package["name"].as_str().unwrap_or_default();
        let Some(layer) = LAYERS.iter().find(|l| l.name == name) else {
            problems.push(format!("{name} has no row in the layer table of bins/xtask/src/layers.rs"));
            continue;
        };
        let dependencies = package["dependencies"].as_array().map(Vec::as_slice).unwrap_or_default();
        for dependency in dependencies.iter().filter(|d| d["kind"].is_null()) {
            let dep = dependency["name"].as_str().unwrap_or_default();
            if members.contains(dep) {
                if !layer.internal.contains(&"*") && !layer.internal.contains(&dep) {
                    problems.push(format!(
                        "{name} may depend on {} among the workspace's crates, not {dep}",
                        if layer.internal.is_empty() {
                            "none".to_string()
                        } else {
                            layer.internal.join(", ")
                        }
                    ));
                }
            } else if let Some(allowed) = layer.external
                && !allowed.contains(&dep)
            {
                problems.push(format!("{name} may only depend on {}, not {dep}", allowed.join(", ")));
            }
        }
    }
    Ok(problems)
}

/// Every crate the package reaches through normal dependencies, with features resolved for it alone (the
/// workspace-wide graph would unify in what other crates enable, such as the test support's kube client).
fn reached(root: &Path, package: &str, features: &[&str]) -> Result<BTreeSet<String>> {
    let mut command = Command::new("cargo");
    command.args(["tree", "--locked", "-p", package, "-e", "normal", "--prefix", "none", "-f", "{p}"]);
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    let output = command.current_dir(root).output().context("could not run cargo tree")?;
    if !output.status.success() {
        bail!("cargo tree -p {package} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_respects_its_layers() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap();
        let report = check(root).unwrap();
        assert!(report.contains("karpenter-solver reaches none of"), "{report}");
        assert!(report.contains("karpenter-api reaches none of kube-client"), "{report}");
    }

    #[test]
    fn an_edge_against_the_table_is_reported() {
        let metadata = serde_json::json!({
            "packages": [
                {"name": "karpenter-solver", "dependencies": [
                    {"name": "tokio", "kind": null},
                    {"name": "proptest", "kind": "dev"}
                ]},
                {"name": "karpenter-catalog", "dependencies": [{"name": "karpenter-api", "kind": null}]},
                {"name": "karpenter-api", "dependencies": []},
                {"name": "karpenter-newcomer", "dependencies": []}
            ]
        });
        let problems = check_direct(&metadata).unwrap().join("\n");
        expect_test::expect![[r#"
            karpenter-solver may only depend on serde, thiserror, rustc-hash, good_lp, not tokio
            karpenter-catalog may depend on karpenter-solver among the workspace's crates, not karpenter-api
            karpenter-newcomer has no row in the layer table of bins/xtask/src/layers.rs"#]]
        .assert_eq(&problems);
    }
}
