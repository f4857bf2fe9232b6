//! End to end on the local cluster harness (`cargo xtask cluster up`): the `karpenter` binary runs as the Helm
//! chart's ServiceAccount against the real kube-apiserver, kube-scheduler and KWOK with the KWOK provider, and
//! must turn pending pods into running pods (and, scaled to 0, remove the empty nodes) the way the seed document's
//! validation steps describe; then disruption (consolidation onto a cheaper node, a budget that allows nothing),
//! faults (the controller killed mid-launch, the API server unreachable, an impossible pod, a NodePool at its
//! limits) and a scale run. `cargo xtask e2e` builds the binary and helm and runs these tests; `--scale N` sets the scale run's
//! pod count.
//!
//! The tests run one at a time (each starts its own controller, and two controllers would act on each other's
//! NodeClaims) and work under their own names, removing what they made even when they fail.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the end-to-end tests report timings, and the controller's log when they fail, to the developer"
)]

mod chart;
mod common;
mod disruption;
mod faults;
mod proxy;
mod scale;
mod seed;
