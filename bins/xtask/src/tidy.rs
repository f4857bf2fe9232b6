//! Repository rules that the compiler cannot check.
//!
//! Tests that need the local cluster or moto run only with their crate's `cluster-tests` feature, which
//! `cargo xtask ci` turns on; `cargo test --workspace` on a fresh clone then needs neither. A test that reaches for
//! the harness without that marker would fail on such a machine, or, worse, be skipped by someone's local
//! workaround: this check fails instead, naming the file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// What a test calls to reach a real component (the harness crate's functions that find the running ones).
const HARNESS_CALLS: [&str; 4] = ["cluster()", "moto()", "kubeconfig_path()", "moto_endpoint_path()"];

/// The first line (after comments) of a test file that needs the cluster or moto.
pub(crate) const MARKER: &str = "#![cfg(feature = \"cluster-tests\")]";

/// Checks every test file of the workspace; describes what was checked.
pub(crate) fn check(root: &Path) -> Result<String> {
    let mut files = Vec::new();
    for folder in ["crates", "bins", "benches", "examples"] {
        collect(&root.join(folder), &mut files)?;
    }
    let mut problems = Vec::new();
    let mut gated = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        if !text.contains("karpenter_test_support") || !HARNESS_CALLS.iter().any(|call| text.contains(call)) {
            continue;
        }
        let shown = file.strip_prefix(root).unwrap_or(file).display().to_string();
        if !has_marker(&text) {
            problems.push(format!("{shown} uses the cluster or moto but does not start with `{MARKER}`"));
            continue;
        }
        match crate_manifest(file) {
            Some(manifest) => {
                let manifest_text = std::fs::read_to_string(&manifest)
                    .with_context(|| format!("reading {}", manifest.display()))?;
                if !manifest_text.lines().any(|line| line.trim_start().starts_with("cluster-tests")) {
                    problems.push(format!(
                        "{shown} is gated on `cluster-tests`, which {} does not declare",
                        manifest.strip_prefix(root).unwrap_or(&manifest).display()
                    ));
                }
            }
            None => problems.push(format!("{shown} is not inside a crate")),
        }
        gated += 1;
    }
    if !problems.is_empty() {
        bail!("tidy:\n  {}", problems.join("\n  "));
    }
    Ok(format!("tidy ok: {gated} test files that need the cluster or moto are gated on `cluster-tests`"))
}

/// True when the first item of the file (after comments and blank lines) is the marker.
fn has_marker(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with("//"))
        .is_some_and(|line| line == MARKER)
}

/// Rust files under `tests/` folders, skipping build output.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                collect(&path, out)?;
            }
        } else if name.ends_with(".rs") && path.components().any(|c| c.as_os_str() == "tests") {
            out.push(path);
        }
    }
    Ok(())
}

/// The `Cargo.toml` of the crate a file belongs to.
fn crate_manifest(file: &Path) -> Option<PathBuf> {
    file.ancestors().skip(1).map(|dir| dir.join("Cargo.toml")).find(|manifest| manifest.exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_is_tidy() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap();
        let report = check(root).unwrap();
        assert!(report.starts_with("tidy ok"), "{report}");
    }

    #[test]
    fn a_cluster_test_without_the_marker_is_named() {
        let dir = std::env::temp_dir().join(format!("xtask-tidy-{}", std::process::id()));
        let tests = dir.join("crates/demo/tests");
        std::fs::create_dir_all(&tests).unwrap();
        std::fs::write(dir.join("crates/demo/Cargo.toml"), "[package]\nname = \"demo\"\n").unwrap();
        std::fs::write(tests.join("ok.rs"), "//! Offline.\nfn main() {}\n").unwrap();
        std::fs::write(
            tests.join("cluster.rs"),
            "//! Needs the cluster.\n\nasync fn t() { karpenter_test_support::cluster().await.unwrap(); }\n",
        )
        .unwrap();
        std::fs::write(
            tests.join("gated.rs"),
            "//! Gated.\n#![cfg(feature = \"cluster-tests\")]\nasync fn t() { karpenter_test_support::moto().await; }\n",
        )
        .unwrap();
        let error = check(&dir).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            error.contains("crates/demo/tests/cluster.rs uses the cluster or moto but does not start with"),
            "{error}"
        );
        assert!(error.contains("crates/demo/tests/gated.rs is gated on `cluster-tests`, which crates/demo/Cargo.toml does not declare"), "{error}");
        assert!(!error.contains("ok.rs"), "{error}");
    }
}
