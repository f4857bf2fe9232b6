//! Leader election on a `coordination.k8s.io/v1` Lease, with client-go's semantics
//! (`k8s.io/client-go/tools/leaderelection`, which upstream's controller-runtime manager uses): a replica takes the
//! Lease when it is free or its holder has not renewed it for the lease duration (measured on this replica's
//! clock, from when the record last changed, so clock skew between replicas does not matter); the leader renews
//! it every retry period and gives up leadership when it cannot renew within the renew deadline; on shutdown it
//! releases the Lease so a standby takes over at once.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use tokio::time::Instant;

/// How long a Lease is valid after its last renewal (controller-runtime's default).
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How long the leader keeps trying to renew before it gives up (controller-runtime's default).
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// How often a standby tries to acquire and the leader renews (controller-runtime's default).
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);

/// Contends for one Lease as one identity.
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    /// The last record seen and when it was first seen so.
    observed: Option<(LeaseSpec, Instant)>,
}

impl std::fmt::Debug for LeaderElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector").field("name", &self.name).field("identity", &self.identity).finish()
    }
}

fn record_changed(old: &LeaseSpec, new: &LeaseSpec) -> bool {
    old.holder_identity != new.holder_identity
        || old.renew_time != new.renew_time
        || old.acquire_time != new.acquire_time
        || old.lease_transitions != new.lease_transitions
}

impl LeaderElector {
    /// An elector for the Lease `name` in `namespace`, as `identity` (the pod's name, unique per replica).
    pub fn new(client: kube::Client, namespace: &str, name: &str, identity: &str) -> Self {
        LeaderElector {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            observed: None,
        }
    }

    /// Waits until this replica holds the Lease.
    pub async fn acquire(&mut self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(lease = %self.name, identity = %self.identity, "acquired the leader lease");
                    return;
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(lease = %self.name, %error, "leader election failed; retrying"),
            }
            tokio::time::sleep(RETRY_PERIOD).await;
        }
    }

    /// Renews the Lease every retry period; returns once it could not be renewed within the renew deadline.
    pub async fn hold(&mut self) {
        let mut last_renewal = Instant::now();
        loop {
            tokio::time::sleep(RETRY_PERIOD).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewal = Instant::now(),
                Ok(false) => {
                    tracing::error!(lease = %self.name, "another replica holds the leader lease");
                    return;
                }
                Err(error) => tracing::warn!(lease = %self.name, %error, "renewing the leader lease failed"),
            }
            if last_renewal.elapsed() > RENEW_DEADLINE {
                tracing::error!(lease = %self.name, "could not renew the leader lease within the renew deadline");
                return;
            }
        }
    }

    /// Gives the Lease up, if this replica holds it, so that a standby takes over without waiting.
    pub async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else { return };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => tracing::info!(lease = %self.name, "released the leader lease"),
            Err(error) => tracing::warn!(lease = %self.name, %error, "releasing the leader lease failed"),
        }
    }

    /// One attempt: true when this replica holds the Lease afterwards.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let duration = i32::try_from(LEASE_DURATION.as_secs()).unwrap_or(15);
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(self.name.clone()), ..ObjectMeta::default() },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(duration),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observed = created.spec.map(|s| (s, Instant::now()));
                    Ok(true)
                }
                Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(false),
                Err(error) => Err(error),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        match &self.observed {
            Some((seen, _)) if !record_changed(seen, &spec) => {}
            _ => self.observed = Some((spec.clone(), Instant::now())),
        }
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
        let held_by_me = holder == Some(self.identity.as_str());
        if !held_by_me && holder.is_some() {
            let valid_for = Duration::from_secs(
                u64::try_from(spec.lease_duration_seconds.unwrap_or(duration)).unwrap_or(15),
            );
            let observed_at = self.observed.as_ref().map_or_else(Instant::now, |(_, at)| *at);
            if observed_at.elapsed() < valid_for {
                return Ok(false);
            }
        }
        let mut updated = spec.clone();
        if !held_by_me {
            updated.acquire_time = Some(now.clone());
            updated.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        updated.holder_identity = Some(self.identity.clone());
        updated.lease_duration_seconds = Some(duration);
        updated.renew_time = Some(now);
        lease.spec = Some(updated);
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(replaced) => {
                self.observed = replaced.spec.map(|s| (s, Instant::now()));
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(error) => Err(error),
        }
    }
}
