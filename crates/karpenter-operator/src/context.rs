//! What every reconciler shares: the store, the cloud provider, the clock, the settings, the event de-duplication
//! and the nominations (nodes that just received pods and must not be disrupted).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use k8s_openapi::jiff::Timestamp;
use karpenter_cloud::CloudProvider;

use crate::clock::{Clock, signed};
use crate::events::{Dedupe, Event};
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::store::Cluster;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is one step, so a poisoned lock holds consistent data.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The reconcilers' shared context.
pub struct Context<C, P, K> {
    /// The cluster.
    pub cluster: Arc<C>,
    /// The cloud provider.
    pub provider: Arc<P>,
    /// The clock.
    pub clock: K,
    /// The settings.
    pub settings: Settings,
    /// Counters and gauges.
    pub metrics: Metrics,
    dedupe: Mutex<Dedupe>,
    nominations: Mutex<BTreeMap<String, Timestamp>>,
}

impl<C: Cluster, P: CloudProvider, K: Clock> Context<C, P, K> {
    /// A context.
    pub fn new(cluster: Arc<C>, provider: Arc<P>, clock: K, settings: Settings) -> Self {
        Context {
            cluster,
            provider,
            clock,
            settings,
            metrics: Metrics::default(),
            dedupe: Mutex::default(),
            nominations: Mutex::default(),
        }
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Publishes an event unless the same one was published lately.
    pub async fn publish(&self, event: Event) {
        let admitted = lock(&self.dedupe).admit(&event, self.now());
        if admitted {
            tracing::debug!(%event, "event");
            self.cluster.publish(event).await;
        }
    }

    /// Marks a node (by node or NodeClaim name) as about to receive pods.
    pub fn nominate(&self, name: &str) {
        let until =
            self.now().saturating_add(signed(self.settings.nomination)).unwrap_or_else(|_| self.now());
        lock(&self.nominations).insert(name.to_string(), until);
    }

    /// Whether a node (by node or NodeClaim name) was nominated recently.
    pub fn is_nominated(&self, name: &str) -> bool {
        let now = self.now();
        let mut nominations = lock(&self.nominations);
        nominations.retain(|_, until| *until > now);
        nominations.contains_key(name)
    }
}
