//! The command line's tests, one binary: the CRDs it prints and writes, and every subcommand ending quietly when
//! its reader goes away.

mod crds;
mod pipes;
