//! The fuzz targets of the manifest reader (`fuzz/`, docs/testing.md "Fuzzing") replayed on stable Rust: every
//! input of their checked-in corpora and every crash they found, through the same checks the targets run.

/// The reader the checks read YAML with (`super::yaml` in them).
use karpenter_snapshot::yaml;

#[allow(unreachable_pub, dead_code)]
#[path = "../../../../fuzz/src/replay.rs"]
mod replay;

#[allow(unreachable_pub)]
#[path = "../../../../fuzz/src/checks/manifests.rs"]
mod manifests;

#[allow(unreachable_pub)]
#[path = "../../../../fuzz/src/checks/yaml_reader.rs"]
mod yaml_reader;

const HERE: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn manifests_corpus_and_regressions() {
    replay::replay(HERE, "manifests", manifests::check);
}

#[test]
fn yaml_corpus_and_regressions() {
    replay::replay(HERE, "yaml", yaml_reader::check);
}
