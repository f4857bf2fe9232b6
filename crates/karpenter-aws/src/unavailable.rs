//! The unavailable-offerings cache: offerings (capacity type, instance type, zone) that just failed for lack
//! of capacity, whole capacity types that cannot be used, and subnets without free addresses, each for a
//! while (`aws/karpenter-provider-aws: pkg/cache/unavailableofferings.go`; TTL 3 minutes).
//!
//! Time is tokio's clock, so that tests can pause and advance it.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use karpenter_cloud::OfferingKey;
use tokio::time::Instant;

/// How long an offering that failed stays unavailable, as upstream.
pub const UNAVAILABLE_OFFERINGS_TTL: Duration = Duration::from_secs(3 * 60);

#[derive(Debug, Default)]
struct Entries {
    offerings: BTreeMap<OfferingKey, Instant>,
    capacity_types: BTreeMap<String, Instant>,
    subnets: BTreeMap<String, Instant>,
}

/// The cache. Entries expire by themselves; reads drop expired ones.
#[derive(Debug)]
pub struct UnavailableOfferings {
    ttl: Duration,
    entries: Mutex<Entries>,
}

impl UnavailableOfferings {
    /// An empty cache whose entries last `ttl`.
    pub fn new(ttl: Duration) -> Self {
        UnavailableOfferings { ttl, entries: Mutex::new(Entries::default()) }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // Every update is one map operation, so a panic elsewhere cannot leave the maps half-updated.
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        entries.offerings.retain(|_, until| *until > now);
        entries.capacity_types.retain(|_, until| *until > now);
        entries.subnets.retain(|_, until| *until > now);
        entries
    }

    /// Marks one offering unavailable.
    pub fn mark(&self, offering: OfferingKey) {
        let until = Instant::now() + self.ttl;
        self.lock().offerings.insert(offering, until);
    }

    /// Marks every offering of a capacity type unavailable (spot without its service-linked role).
    pub fn mark_capacity_type(&self, capacity_type: &str) {
        let until = Instant::now() + self.ttl;
        self.lock().capacity_types.insert(capacity_type.to_string(), until);
    }

    /// Marks a subnet as out of addresses.
    pub fn mark_subnet(&self, subnet_id: &str) {
        let until = Instant::now() + self.ttl;
        self.lock().subnets.insert(subnet_id.to_string(), until);
    }

    /// Whether the offering, or its whole capacity type, is unavailable now.
    pub fn is_unavailable(&self, offering: &OfferingKey) -> bool {
        let entries = self.lock();
        entries.offerings.contains_key(offering)
            || entries.capacity_types.contains_key(&offering.capacity_type)
    }

    /// Whether the subnet is out of addresses now.
    pub fn is_subnet_unavailable(&self, subnet_id: &str) -> bool {
        self.lock().subnets.contains_key(subnet_id)
    }

    /// A snapshot of the unavailable offerings and capacity types, for checking many offerings at once.
    pub fn snapshot(&self) -> Snapshot {
        let entries = self.lock();
        Snapshot {
            offerings: entries.offerings.keys().cloned().collect(),
            capacity_types: entries.capacity_types.keys().cloned().collect(),
        }
    }

    /// The offerings marked unavailable now, sorted.
    pub fn offerings(&self) -> Vec<OfferingKey> {
        self.lock().offerings.keys().cloned().collect()
    }
}

/// The cache's content at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    offerings: std::collections::BTreeSet<OfferingKey>,
    capacity_types: std::collections::BTreeSet<String>,
}

impl Snapshot {
    /// Whether the offering, or its whole capacity type, was unavailable.
    pub fn is_unavailable(&self, offering: &OfferingKey) -> bool {
        self.offerings.contains(offering) || self.capacity_types.contains(&offering.capacity_type)
    }

    /// Whether nothing was unavailable.
    pub fn is_empty(&self) -> bool {
        self.offerings.is_empty() && self.capacity_types.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn entries_expire_after_the_ttl() {
        let cache = UnavailableOfferings::new(UNAVAILABLE_OFFERINGS_TTL);
        let key = OfferingKey::new("c7g.large", "us-east-1a", "spot");
        cache.mark(key.clone());
        cache.mark_subnet("subnet-1");
        assert!(cache.is_unavailable(&key));
        assert!(!cache.is_unavailable(&OfferingKey::new("c7g.large", "us-east-1b", "spot")));
        assert!(cache.is_subnet_unavailable("subnet-1"));
        tokio::time::advance(UNAVAILABLE_OFFERINGS_TTL - Duration::from_secs(1)).await;
        assert!(cache.is_unavailable(&key), "still inside the TTL");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!cache.is_unavailable(&key), "expired");
        assert!(!cache.is_subnet_unavailable("subnet-1"));
        assert!(cache.offerings().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_capacity_type_mark_covers_every_offering_of_it() {
        let cache = UnavailableOfferings::new(UNAVAILABLE_OFFERINGS_TTL);
        cache.mark_capacity_type("spot");
        let snapshot = cache.snapshot();
        assert!(snapshot.is_unavailable(&OfferingKey::new("m7g.large", "us-east-1a", "spot")));
        assert!(!snapshot.is_unavailable(&OfferingKey::new("m7g.large", "us-east-1a", "on-demand")));
        assert!(!snapshot.is_empty());
    }
}
