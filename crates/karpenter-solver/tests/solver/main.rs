//! The solver's integration tests, one binary: scheduling and topology cases as fixtures with the plans they must
//! produce, the prepared form against plain solves, and the invariants of generated problems.

mod fuzz_regressions;
mod overlays;
mod prepared;
mod properties;
mod scheduling;
mod topology;
