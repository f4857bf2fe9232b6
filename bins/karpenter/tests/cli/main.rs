//! The command line's tests, one binary: the CRDs it prints and writes, `plan` over files and a live cluster, `simulate`, and every subcommand ending quietly when
//! its reader goes away.

mod crds;
mod pipes;
mod plan;
mod plan_live;
mod simulate;
