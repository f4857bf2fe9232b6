//! A [`karpenter_cloud::CloudProvider`] that launches Node objects instead of machines, for KWOK to make
//! Ready and run pods on: tests against a real API server, demos and scale runs need no cloud account
//! (upstream `kubernetes-sigs/karpenter: kwok/`). Besides the controller, this is the only crate that talks
//! to the API server.
//!
//! NodePools name it through upstream's [`karpenter_api::KWOKNodeClass`] (`karpenter.kwok.sh/v1alpha1`), so a
//! manifest written for upstream's KWOK provider applies unchanged. It offers upstream's 144 generated
//! [`instance_types`], and can be told to fail launches of chosen offerings for lack of capacity
//! ([`capacity`]), so that the controller's fallback can be exercised on the real API server.
//!
//! ```no_run
//! use karpenter_kwok::{KwokProvider, Settings, capacity};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = kube::Client::try_default().await?;
//! // What a binary would read from `KWOK_INSUFFICIENT_CAPACITY`: spot capacity in zone a is exhausted.
//! let exhausted = capacity::parse_list("*/test-zone-a/spot")?;
//! let settings = Settings { insufficient_capacity: exhausted, ..Settings::default() };
//! let provider = karpenter_cloud::Metered::new(KwokProvider::new(client, settings));
//! # let _ = provider;
//! # Ok(())
//! # }
//! ```

pub mod capacity;
mod instance_types;
mod node;
mod provider;

pub use instance_types::{ZONES, instance_types};
pub use node::{NODE_CLAIM_ANNOTATION, PROVIDER_ID_PREFIX, instance_from, node_for, provider_id};
pub use provider::{KwokProvider, Settings, UNAVAILABLE_OFFERINGS_TTL, node_class_kind, solver_config};
