//! The harness's tests, one binary: a missing component names the command that starts it, and (with
//! `cluster-tests`) the harness works against the real components.

mod harness;
mod not_up;
