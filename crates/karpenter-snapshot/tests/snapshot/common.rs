//! Shared by the fixture tests: reading manifests into a snapshot, and a compact, line-per-field rendering of
//! mapped objects for snapshots.

#![allow(dead_code, reason = "each test binary uses a different part of this module")]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use karpenter_snapshot::{Report, RoundOptions, Snapshot};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A fixture of this crate.
pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// An example manifest of the api crate.
pub(crate) fn api_manifest(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../karpenter-api/tests/manifests").join(name)
}

/// Every YAML document of a file, as JSON values.
pub(crate) fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

/// A snapshot of the files' objects, with the reports of the objects that could not be added.
pub(crate) fn load(paths: &[PathBuf]) -> (Snapshot, Vec<Report>) {
    let mut snapshot = Snapshot::new();
    let mut reports = Vec::new();
    for path in paths {
        for document in documents(path) {
            reports.extend(snapshot.add(document));
        }
    }
    (snapshot, reports)
}

/// The round options of every fixture: a fixed time, and NodePools without status taken as they are.
pub(crate) fn options() -> RoundOptions {
    RoundOptions { now: "2026-11-24T10:30:00Z".parse().unwrap(), require_ready_node_pools: false }
}

/// One line per report.
pub(crate) fn render_reports(reports: &[Report]) -> String {
    reports.iter().map(|r| format!("report {r}\n")).collect()
}

/// A value as `path: value` lines under a heading, leaving out empty and absent fields; lists of scalars stay on
/// one line.
pub(crate) fn render(heading: &str, value: &impl Serialize) -> String {
    let mut out = format!("{heading}\n");
    flatten(&serde_json::to_value(value).unwrap(), "", &mut out);
    out
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_empty),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

fn flatten(value: &Value, path: &str, out: &mut String) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if !is_empty(child) {
                    let path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                    flatten(child, &path, out);
                }
            }
        }
        Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
            for (i, item) in items.iter().enumerate() {
                flatten(item, &format!("{path}[{i}]"), out);
            }
        }
        _ => {
            let _ = writeln!(out, "  {path}: {value}");
        }
    }
}
