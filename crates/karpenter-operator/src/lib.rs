//! The controller: the reconcilers that turn pending pods into NodeClaims, NodeClaims into nodes, deleted nodes
//! into terminated machines, and empty, drifted, expired or costly nodes into disruption commands (upstream
//! `kubernetes-sigs/karpenter: pkg/controllers/provisioning`, `nodeclaim/lifecycle`, `nodeclaim/podevents`,
//! `nodeclaim/expiration`, `nodeclaim/garbagecollection`, `node/termination`, `nodepool/*`, `disruption`).
//!
//! A functional core and an imperative shell: every reconciler decides with pure functions over a
//! [`store::ClusterState`] and the time, and acts through three boundaries it is generic over — a cluster-state
//! store ([`store::Cluster`]: [`store::KubeCluster`] on a real API server, [`store::MemoryCluster`] in memory),
//! a [`karpenter_cloud::CloudProvider`], and a [`clock::Clock`]. Timers are tokio's, so the same code runs on a
//! cluster with the wall clock (`karpenter run`) and in memory with paused, simulated time (unit tests and
//! `karpenter simulate`). [`operator::Operator`] wires the reconcilers to the store's change feed
//! (`docs/design/0010-controller.md`).
//!
//! ```
//! use std::sync::Arc;
//! use karpenter_operator::clock::TokioClock;
//! use karpenter_operator::operator::Operator;
//! use karpenter_operator::settings::Settings;
//! use karpenter_operator::store::MemoryCluster;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let clock = TokioClock::starting_at("2026-01-01T00:00:00Z".parse().unwrap());
//! let cluster = Arc::new(MemoryCluster::new(Arc::new(clock)));
//! let provider = Arc::new(karpenter_cloud::fake::FakeProvider::new(Vec::new()));
//! let operator = Operator::new(cluster, provider, clock, Settings::default());
//! // Runs until the future completes: here, one simulated minute.
//! operator.run(tokio::time::sleep(std::time::Duration::from_secs(60))).await;
//! # }
//! ```

pub mod batcher;
pub mod clock;
pub mod conditions;
pub mod context;
pub mod disruption;
pub mod drift;
pub mod error;
pub mod events;
pub mod gc;
pub mod interruption;
pub mod leader;
pub mod lifecycle;
pub mod metrics;
pub mod nodepool;
pub mod operator;
pub mod orchestration;
pub mod podevents;
pub mod provisioner;
pub mod queue;
pub mod settings;
pub mod statemetrics;
pub mod store;
pub mod termination;

#[cfg(test)]
mod testing;
