//! The disruption engine's tests, one binary: emptiness, budgets and expiration; drift, repair and validation;
//! consolidation; when a settled decision must be revisited; and the invariants of generated clusters.

mod consolidation;
mod drift_repair;
mod emptiness;
mod fuzz_regressions;
mod properties;
mod revisit;
