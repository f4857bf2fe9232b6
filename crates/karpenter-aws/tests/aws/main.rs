//! The AWS provider's tests, one binary: launches, errors, retries, pagination and alias resolution against
//! `aws-smithy-mocks`, and (with `cluster-tests`) node-class resolution, launches, deletes, capacity fallback
//! and the cloud contract against moto (`cargo xtask moto up`).

mod contract;
mod emulator;
mod launch;
mod mocks;
mod resolve;
mod support;
