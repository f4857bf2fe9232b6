//! Fuzz check `yaml`: any text through the bounded YAML reader (`karpenter_snapshot::yaml`). It never panics or
//! hangs (the target runs with a per-input timeout), what it returns is within its limits, and what it accepts
//! survives a round trip: the values written back as YAML read back equal.

use super::yaml::{Limits, read_documents};

/// Runs the check on one input.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(documents) = read_documents(text) else { return };
    let limits = Limits::default();
    for document in &documents {
        assert!(!document.is_null(), "{text:?}: an empty document was returned");
        let written = serde_norway::to_string(document).expect("a JSON value writes as YAML");
        let again =
            read_documents(&written).unwrap_or_else(|e| panic!("{text:?} written as {written:?}: {e}"));
        assert_eq!(again.len(), 1, "{text:?} written as {written:?}");
        assert_eq!(&again[0], document, "{text:?} written as {written:?}");
        assert!(depth(document) <= limits.max_depth, "{text:?}: deeper than the limit");
    }
}

fn depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}
