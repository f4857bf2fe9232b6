//! The fuzz targets of the solver (`fuzz/`, docs/testing.md "Fuzzing") replayed on stable Rust: every input of
//! their checked-in corpora and every crash they found, through the same checks the targets run.

#[allow(unreachable_pub, dead_code)]
#[path = "../../../../fuzz/src/replay.rs"]
mod replay;

#[allow(unreachable_pub)]
#[path = "../../../../fuzz/src/checks/quantity.rs"]
mod quantity;

#[allow(unreachable_pub)]
#[path = "../../../../fuzz/src/checks/solver.rs"]
mod solver;

const HERE: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn quantity_corpus_and_regressions() {
    replay::replay(HERE, "quantity", quantity::check);
}

#[test]
fn selectors_corpus_and_regressions() {
    replay::replay(HERE, "selectors", solver::check_selectors);
}

#[test]
fn solver_json_corpus_and_regressions() {
    replay::replay(HERE, "solver_json", solver::check_json);
}

#[test]
fn solver_structured_corpus_and_regressions() {
    replay::replay(HERE, "solver_structured", solver::check_structured);
}
