//! The disruption budgets' fuzz target (`fuzz/`, docs/testing.md "Fuzzing") replayed on stable Rust: every input
//! of its checked-in corpus and every crash it found, through the same check the target runs.

#[allow(unreachable_pub, dead_code)]
#[path = "../../../../fuzz/src/replay.rs"]
mod replay;

#[allow(unreachable_pub)]
#[path = "../../../../fuzz/src/checks/budgets.rs"]
mod budgets;

#[test]
fn budgets_corpus_and_regressions() {
    replay::replay(env!("CARGO_MANIFEST_DIR"), "budgets", budgets::check);
}
