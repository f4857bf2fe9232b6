//! The checks behind the fuzz targets. Each file of `src/checks/` is also compiled into the tests of the crate it
//! checks (with `#[path]`), which replay every file of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`
//! through it on stable Rust; so a check uses nothing but its crate's own dependencies, `serde_json` and
//! `arbitrary`, and panics on any broken invariant.

/// The bounded YAML reader of `karpenter-snapshot`, compiled in from its source so that the targets do not wait
/// for the crate to export it.
#[path = "../../crates/karpenter-snapshot/src/yaml.rs"]
pub mod yaml;

/// One module per target (the solver's targets share one).
pub mod checks {
    pub use crate::yaml;

    #[path = "budgets.rs"]
    pub mod budgets;
    #[cfg(feature = "aws")]
    #[path = "interruption.rs"]
    pub mod interruption;
    #[path = "manifests.rs"]
    pub mod manifests;
    #[path = "quantity.rs"]
    pub mod quantity;
    #[path = "solver.rs"]
    pub mod solver;
    #[path = "yaml_reader.rs"]
    pub mod yaml_reader;
}
