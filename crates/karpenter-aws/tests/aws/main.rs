//! The AWS provider's tests, one binary: launches, errors, retries, pagination and alias resolution against
//! `aws-smithy-mocks`, and (with `cluster-tests`) node-class resolution, launches, deletes, capacity fallback
//! and the cloud contract against moto (`cargo xtask moto up`); and `karpenter run --cloud-provider aws`
//! on the local cluster with moto as EC2.

mod contract;
mod controller;
mod emulator;
mod fuzz_regressions;
mod launch;
mod mocks;
mod resolve;
mod support;
