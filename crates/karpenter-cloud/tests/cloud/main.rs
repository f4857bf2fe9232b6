//! The cloud boundary's tests, one binary: the fake provider (the contract suite included) and the metering
//! decorator.

mod fake;
mod metered;
