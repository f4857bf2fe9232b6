//! The interruption messages' fuzz target (`fuzz/`, docs/testing.md "Fuzzing") replayed on stable Rust: every
//! input of its checked-in corpus and every crash it found, through the same check the target runs.

#[allow(unreachable_pub, dead_code)]
#[path = "../../../../fuzz/src/replay.rs"]
mod replay;

#[allow(unreachable_pub)]
#[path = "../../../../fuzz/src/checks/interruption.rs"]
mod interruption;

#[test]
fn interruption_corpus_and_regressions() {
    replay::replay(env!("CARGO_MANIFEST_DIR"), "interruption", interruption::check);
}
