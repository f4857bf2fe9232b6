//! Narrowing a list of instance types by requirements, resources, offerings and minValues
//! (`filterInstanceTypesByRequirements` in upstream's `nodeclaim.go`; `Offerings.Available`, `Compatible`,
//! `InstanceTypes.SatisfiesMinValues` in `pkg/cloudprovider/types.go`), shared by the scheduler,
//! [`crate::Prepared`] and [`crate::InstanceTypeIndex`].

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::compile::{InstanceTypeData, OfferingData};
use crate::ids::{KeyId, TypeId, ValueId};
use crate::interner::Interner;
use crate::requirements::{Requirement, Requirements};
use crate::resources::{self, Res};

/// Compiled instance types with the interner their labels are in.
#[derive(Clone, Copy)]
pub(crate) struct Types<'a> {
    pub(crate) interner: &'a Interner,
    pub(crate) list: &'a [InstanceTypeData],
    pub(crate) slots: Option<&'a OfferingSlots>,
}

/// Every (zone, capacity type) pair the prepared offerings use, numbered, when there are at most 64 of them (a real
/// region has a few zones and three capacity types): an offering's pair is then a bit, a type's available offerings
/// a mask, and "has a compatible offering" one AND instead of a scan.
#[derive(Debug, Clone)]
pub(crate) struct OfferingSlots {
    zones: Vec<ValueId>,
    capacity_types: Vec<ValueId>,
}

impl OfferingSlots {
    /// Numbers the pairs and marks every offering and type; `None` (and nothing marked) when there are too many.
    pub(crate) fn assign(types: &mut [InstanceTypeData]) -> Option<OfferingSlots> {
        let mut zones: Vec<ValueId> = types.iter().flat_map(|t| t.offerings.iter().map(|o| o.zone)).collect();
        let mut capacity_types: Vec<ValueId> =
            types.iter().flat_map(|t| t.offerings.iter().map(|o| o.capacity_type)).collect();
        zones.sort_unstable();
        zones.dedup();
        capacity_types.sort_unstable();
        capacity_types.dedup();
        if zones.len() * capacity_types.len() > 64 {
            return None;
        }
        let slots = OfferingSlots { zones, capacity_types };
        for it in types {
            for offering in &mut it.offerings {
                let slot = slots.slot(offering.zone, offering.capacity_type);
                offering.slot = slot;
                if offering.available
                    && let Some(slot) = slot
                {
                    it.available_slots |= 1 << slot;
                }
            }
        }
        Some(slots)
    }

    fn slot(&self, zone: ValueId, capacity_type: ValueId) -> Option<u8> {
        let z = self.zones.binary_search(&zone).ok()?;
        let c = self.capacity_types.binary_search(&capacity_type).ok()?;
        Some((z * self.capacity_types.len() + c) as u8)
    }
}

impl<'a> Types<'a> {
    pub(crate) fn get(&self, id: TypeId) -> &'a InstanceTypeData {
        &self.list[id.index()]
    }
}

/// What to do when the types left span fewer values than a requirement's minValues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MinValues {
    /// Nothing is left.
    Strict,
    /// Lower the minValues to what the types reach (`MIN_VALUES_POLICY=BestEffort`).
    Relax,
}

/// How much of the requirements still has to be checked against each type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequirementsCheck<'b> {
    /// Check labels and offerings against all of the requirements.
    Check,
    /// Every candidate already meets `base` (labels and an offering): only what the requirements add to it can
    /// rule one out, so only those keys are checked, and offerings only when the zone or capacity type changed.
    Narrowed { base: &'b Requirements },
    /// The types were already filtered by exactly these requirements: only resources can rule one out.
    AlreadyMet,
}

/// Why an instance-type filter left nothing, in the terms of upstream's `InstanceTypeFilterError`.
#[derive(Default)]
pub(crate) struct FilterFailure {
    pub(crate) requirements_met: bool,
    pub(crate) fits: bool,
    pub(crate) has_offering: bool,
    pub(crate) requirements_and_fits: bool,
    pub(crate) requirements_and_offering: bool,
    pub(crate) fits_and_offering: bool,
    pub(crate) min_values: Option<Vec<String>>,
}

/// The types that survive, and whether minValues had to be lowered to keep any.
pub(crate) struct Filtered {
    pub(crate) types: Vec<TypeId>,
    pub(crate) min_values_relaxed: bool,
}

/// What to narrow: candidate types, under requirements (whose minValues a relaxation may lower), for requests.
pub(crate) struct Query<'q> {
    pub(crate) candidates: &'q [TypeId],
    pub(crate) requirements: &'q mut Requirements,
    pub(crate) requests: &'q Res,
    pub(crate) min_values: MinValues,
    pub(crate) check: RequirementsCheck<'q>,
}

/// `filterInstanceTypesByRequirements`: the types whose labels intersect the requirements, that have room for
/// the requests plus their overhead (`overhead_of` answers `None` for a type that cannot be used at all), and
/// that have an available offering the requirements allow; then minValues.
pub(crate) fn filter_instance_types<'o>(
    types: Types<'_>,
    query: Query<'_>,
    overhead_of: impl Fn(TypeId) -> Option<&'o Res>,
) -> Result<Filtered, FilterFailure> {
    let Query { candidates, requirements, requests, min_values, check } = query;
    // What must still be checked: everything, what the requirements add to a base the candidates meet, or nothing.
    let keys = types.interner.keys();
    let (labels, offerings) = match check {
        RequirementsCheck::Check => (Some(Cow::Borrowed(&*requirements)), true),
        RequirementsCheck::Narrowed { base } => {
            let added = requirements.changed_from(base);
            let offerings = added.get(keys.zone).is_some() || added.get(keys.capacity_type).is_some();
            (Some(Cow::Owned(added)), offerings)
        }
        RequirementsCheck::AlreadyMet => (None, false),
    };
    let mut failure = FilterFailure::default();
    let mut remaining = Vec::with_capacity(candidates.len());
    let offering_filter = OfferingFilter::new(types, requirements);
    for &id in candidates {
        let Some(overhead) = overhead_of(id) else { continue };
        let it = types.get(id);
        let fits = resources::fits_with(requests, overhead, &it.allocatable);
        let compatible =
            labels.as_ref().is_none_or(|l| it.requirements.intersects(types.interner, l).is_ok());
        let has_offering = !offerings || offering_filter.any(it);
        failure.requirements_met |= compatible;
        failure.fits |= fits;
        failure.has_offering |= has_offering;
        failure.requirements_and_fits |= compatible && fits && !has_offering;
        failure.requirements_and_offering |= compatible && has_offering && !fits;
        failure.fits_and_offering |= fits && has_offering && !compatible;
        if compatible && fits && has_offering {
            remaining.push(id);
        }
    }
    let mut relaxed = false;
    if requirements.has_min_values()
        && !remaining.is_empty()
        && let Err(unmet) = satisfies_min_values(types, &remaining, requirements)
    {
        if min_values == MinValues::Strict {
            let mut keys: Vec<String> =
                unmet.keys().map(|k| types.interner.key_name(*k).to_string()).collect();
            keys.sort();
            failure.min_values = Some(keys);
            return Err(failure);
        }
        for (key, reachable) in &unmet {
            if let Some(requirement) = requirements.get_mut(*key) {
                requirement.min_values = Some(*reachable as u32);
            }
        }
        relaxed = true;
    }
    if remaining.is_empty() {
        return Err(failure);
    }
    Ok(Filtered { types: remaining, min_values_relaxed: relaxed })
}

/// The zone and capacity-type requirements offerings are matched against (upstream `Offering.Requirements`
/// against the NodeClaim's), looked up once for many offerings.
#[derive(Clone, Copy)]
pub(crate) struct OfferingFilter<'r> {
    interner: &'r Interner,
    zone: Option<&'r Requirement>,
    capacity_type: Option<&'r Requirement>,
    /// The slots the requirements allow, when the types have slots.
    allowed: Option<u64>,
}

impl<'r> OfferingFilter<'r> {
    pub(crate) fn new(types: Types<'r>, requirements: &'r Requirements) -> Self {
        let interner = types.interner;
        let keys = interner.keys();
        let mut filter = OfferingFilter {
            interner,
            zone: requirements.get(keys.zone),
            capacity_type: requirements.get(keys.capacity_type),
            allowed: None,
        };
        filter.allowed = types.slots.map(|slots| {
            let mut mask = 0u64;
            for (z, &zone) in slots.zones.iter().enumerate() {
                for (c, &capacity_type) in slots.capacity_types.iter().enumerate() {
                    if filter.allows_pair(zone, capacity_type) {
                        mask |= 1 << (z * slots.capacity_types.len() + c);
                    }
                }
            }
            mask
        });
        filter
    }

    fn allows_pair(&self, zone: ValueId, capacity_type: ValueId) -> bool {
        self.zone.is_none_or(|r| r.has(self.interner, zone))
            && self.capacity_type.is_none_or(|r| r.has(self.interner, capacity_type))
    }

    /// True when the requirements allow the offering's zone and capacity type, whether or not it is available.
    pub(crate) fn allows(&self, offering: &OfferingData) -> bool {
        match (self.allowed, offering.slot) {
            (Some(mask), Some(slot)) => mask & (1 << slot) != 0,
            _ => self.allows_pair(offering.zone, offering.capacity_type),
        }
    }

    /// Available offerings the requirements allow (upstream `Offerings.Available()` then `Compatible`).
    pub(crate) fn compatible<'i>(
        &self,
        it: &'i InstanceTypeData,
    ) -> impl Iterator<Item = &'i OfferingData> + use<'i, 'r> {
        let filter = *self;
        it.offerings.iter().filter(move |o| o.available && filter.allows(o))
    }

    /// True when some available offering is allowed.
    pub(crate) fn any(&self, it: &InstanceTypeData) -> bool {
        match self.allowed {
            Some(mask) => it.available_slots & mask != 0,
            None => self.compatible(it).next().is_some(),
        }
    }

    /// The price of the cheapest available offering allowed.
    pub(crate) fn cheapest_price(&self, it: &InstanceTypeData) -> f64 {
        self.compatible(it).map(|o| o.price).min_by(f64::total_cmp).unwrap_or(f64::MAX)
    }
}

/// `InstanceTypes.SatisfiesMinValues`: per key with minValues, the distinct values the instance types span.
/// Returns the reachable count of every key that falls short.
pub(crate) fn satisfies_min_values(
    types: Types<'_>,
    candidates: &[TypeId],
    requirements: &Requirements,
) -> Result<(), BTreeMap<KeyId, usize>> {
    let mut unmet = BTreeMap::new();
    for (key, requirement) in requirements.iter() {
        let Some(min) = requirement.min_values else { continue };
        let mut values: Vec<ValueId> = Vec::new();
        for &id in candidates {
            if let Some(r) = types.get(id).requirements.get(key) {
                values.extend_from_slice(r.values());
            }
        }
        values.sort_unstable();
        values.dedup();
        if values.len() < min as usize {
            unmet.insert(key, values.len());
        }
    }
    if unmet.is_empty() { Ok(()) } else { Err(unmet) }
}
