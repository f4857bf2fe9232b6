//! The disruption engine's tests, one binary: emptiness, budgets and expiration; drift, repair and validation;
//! consolidation; and the invariants of generated clusters.

mod consolidation;
mod drift_repair;
mod emptiness;
mod fuzz_regressions;
mod properties;
