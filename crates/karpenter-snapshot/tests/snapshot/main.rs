//! The mapping's tests, one binary: fixtures of Kubernetes manifests and what they map to, the invariants of
//! generated clusters, and the seed's cluster solved end to end.

mod common;
mod end_to_end;
mod fixtures;
mod fuzz_regressions;
mod properties;
