//! Interned label keys and values, so that the scheduler's hot loops compare integers, not strings.
//!
//! An interner is two layers: a frozen, shared base (everything a [`crate::Prepared`] compiled: NodePools,
//! instance types, DaemonSets) and a small local layer for what one round adds (its pods' and nodes' labels).
//! Ids of the local layer continue after the base's, so data compiled against the base stays valid in every round
//! without being copied, and a round costs nothing for the thousands of labels of a real catalog.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use crate::ids::{KeyId, ValueId};
use crate::labels;

/// One layer of interned keys and values.
#[derive(Debug, Clone, Default)]
struct Symbols {
    keys: Vec<String>,
    key_index: HashMap<String, KeyId>,
    well_known: Vec<bool>,
    values: Vec<String>,
    value_index: HashMap<String, ValueId>,
    value_int: Vec<Option<i64>>,
}

/// The keys the scheduler looks up by name, interned first so that their ids are the same in every interner.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WellKnownKeys {
    pub(crate) zone: KeyId,
    pub(crate) capacity_type: KeyId,
    pub(crate) instance_type: KeyId,
    pub(crate) hostname: KeyId,
    pub(crate) node_pool: KeyId,
}

/// Interned label keys and values: a shared base plus what this solve added.
#[derive(Debug, Clone)]
pub(crate) struct Interner {
    base: Arc<Symbols>,
    local: Symbols,
    keys: WellKnownKeys,
    /// Label domains the provider reserves (`karpenter.k8s.aws`): pods may select only their well-known labels.
    restricted_domains: Arc<[String]>,
}

impl Interner {
    /// An interner that knows the well-known labels plus any the caller's provider registers.
    pub(crate) fn new(extra_well_known: &[String]) -> Self {
        let placeholder = KeyId(0);
        let mut interner = Interner {
            base: Arc::default(),
            local: Symbols::default(),
            keys: WellKnownKeys {
                zone: placeholder,
                capacity_type: placeholder,
                instance_type: placeholder,
                hostname: placeholder,
                node_pool: placeholder,
            },
            restricted_domains: Arc::from([]),
        };
        for key in labels::WELL_KNOWN.iter().copied().chain(extra_well_known.iter().map(String::as_str)) {
            let id = interner.key(key);
            interner.local.well_known[id.index()] = true;
        }
        interner.keys = WellKnownKeys {
            zone: interner.key(labels::ZONE),
            capacity_type: interner.key(labels::CAPACITY_TYPE),
            instance_type: interner.key(labels::INSTANCE_TYPE),
            hostname: interner.key(labels::HOSTNAME),
            node_pool: interner.key(labels::NODE_POOL),
        };
        interner
    }

    /// Freezes everything interned so far into a shared base; [`Interner::extend`] starts rounds on top of it.
    pub(crate) fn freeze(self) -> Interner {
        if self.local.keys.is_empty() && self.local.values.is_empty() {
            return self;
        }
        // Local ids already continue after the base's, so the layers merge by appending.
        let mut merged = (*self.base).clone();
        merged.keys.extend(self.local.keys);
        merged.key_index.extend(self.local.key_index);
        merged.well_known.extend(self.local.well_known);
        merged.values.extend(self.local.values);
        merged.value_index.extend(self.local.value_index);
        merged.value_int.extend(self.local.value_int);
        Interner {
            base: Arc::new(merged),
            local: Symbols::default(),
            keys: self.keys,
            restricted_domains: self.restricted_domains,
        }
    }

    /// A new interner on top of this one's base, with nothing of its own yet. Only a frozen interner is
    /// extended: its local layer would otherwise be lost.
    pub(crate) fn extend(&self) -> Interner {
        debug_assert!(self.local.keys.is_empty() && self.local.values.is_empty(), "extend a frozen interner");
        Interner {
            base: Arc::clone(&self.base),
            local: Symbols::default(),
            keys: self.keys,
            restricted_domains: Arc::clone(&self.restricted_domains),
        }
    }

    /// The label domains the provider reserves (see [`crate::SolverConfig::restricted_label_domains`]).
    pub(crate) fn with_restricted_domains(mut self, domains: &[String]) -> Self {
        self.restricted_domains = Arc::from(domains);
        self
    }

    /// True for a key in a domain the provider reserves (or a subdomain) that is not one of its well-known labels:
    /// no pod may select it, since nothing promises a node will have it.
    pub(crate) fn is_provider_restricted(&mut self, key: &str) -> bool {
        let domain = key.split_once('/').map_or("", |(domain, _)| domain);
        let reserved = self.restricted_domains.iter().any(|d| {
            domain == d.as_str() || domain.strip_suffix(d.as_str()).is_some_and(|p| p.ends_with('.'))
        });
        reserved && {
            let id = self.key(key);
            !self.is_well_known(id)
        }
    }

    /// The ids of the keys the scheduler names.
    pub(crate) fn keys(&self) -> WellKnownKeys {
        self.keys
    }

    fn key_offset(&self) -> usize {
        self.base.keys.len()
    }

    fn value_offset(&self) -> usize {
        self.base.values.len()
    }

    /// The id of a key, if it was interned (after mapping deprecated aliases onto stable keys).
    pub(crate) fn find_key(&self, key: &str) -> Option<KeyId> {
        let key = labels::normalize(key);
        self.base.key_index.get(key).or_else(|| self.local.key_index.get(key)).copied()
    }

    /// Interns a key after mapping deprecated aliases onto stable keys.
    pub(crate) fn key(&mut self, key: &str) -> KeyId {
        if let Some(id) = self.find_key(key) {
            return id;
        }
        let key = labels::normalize(key);
        let id = KeyId::new(self.key_offset() + self.local.keys.len());
        self.local.keys.push(key.to_string());
        self.local.key_index.insert(key.to_string(), id);
        self.local.well_known.push(false);
        id
    }

    /// Interns a value.
    pub(crate) fn value(&mut self, value: &str) -> ValueId {
        if let Some(&id) = self.base.value_index.get(value).or_else(|| self.local.value_index.get(value)) {
            return id;
        }
        let id = ValueId::new(self.value_offset() + self.local.values.len());
        self.local.values.push(value.to_string());
        self.local.value_index.insert(value.to_string(), id);
        self.local.value_int.push(value.parse::<i64>().ok());
        id
    }

    pub(crate) fn key_name(&self, key: KeyId) -> &str {
        match key.index().checked_sub(self.key_offset()) {
            None => &self.base.keys[key.index()],
            Some(local) => &self.local.keys[local],
        }
    }

    pub(crate) fn value_name(&self, value: ValueId) -> Cow<'_, str> {
        if let Some(claim) = value.placeholder_claim() {
            return Cow::Owned(format!("hostname-placeholder-{:04}", claim.0));
        }
        match value.index().checked_sub(self.value_offset()) {
            None => Cow::Borrowed(&self.base.values[value.index()]),
            Some(local) => Cow::Borrowed(&self.local.values[local]),
        }
    }

    /// The value as an integer, for the comparison operators; placeholders are not integers.
    pub(crate) fn value_int(&self, value: ValueId) -> Option<i64> {
        if value.placeholder_claim().is_some() {
            return None;
        }
        match value.index().checked_sub(self.value_offset()) {
            None => self.base.value_int[value.index()],
            Some(local) => self.local.value_int.get(local).copied().flatten(),
        }
    }

    /// True for a key of the shared base (not one a round added).
    pub(crate) fn in_base(&self, key: KeyId) -> bool {
        key.index() < self.key_offset()
    }

    pub(crate) fn is_well_known(&self, key: KeyId) -> bool {
        match key.index().checked_sub(self.key_offset()) {
            None => self.base.well_known[key.index()],
            Some(local) => self.local.well_known[local],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_extends_the_frozen_base_without_changing_its_ids() {
        let mut base = Interner::new(&[]);
        let arch = base.key("kubernetes.io/arch");
        let arm = base.value("arm64");
        let base = base.freeze();
        let mut round = base.extend();
        assert_eq!(round.key("beta.kubernetes.io/arch"), arch, "aliases map onto the base's key");
        assert_eq!(round.value("arm64"), arm);
        let team = round.key("example.com/team");
        let seven = round.value("7");
        assert!(team.index() >= arch.index() && seven > arm);
        assert_eq!(round.key_name(team), "example.com/team");
        assert_eq!(round.value_int(seven), Some(7));
        assert!(round.is_well_known(arch) && !round.is_well_known(team));
        let other = base.extend();
        assert_eq!(other.find_key("example.com/team"), None, "rounds do not see each other's additions");
        assert_eq!(round.keys().zone, base.keys().zone);
    }
}
