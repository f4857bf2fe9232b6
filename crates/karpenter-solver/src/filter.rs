//! Narrowing a list of instance types by requirements, resources, offerings and minValues
//! (`filterInstanceTypesByRequirements` in upstream's `nodeclaim.go`), shared by the scheduler and
//! [`crate::InstanceTypeIndex`].

use std::collections::BTreeMap;

use crate::compile::{Compiled, InstanceTypeData, OfferingData};
use crate::requirements::{KeyId, Requirements, ValueId};
use crate::resources::{self, Res};

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

/// `filterInstanceTypesByRequirements`. When `check_requirements` is false the requirements are known to be
/// those the instance types were already filtered by, so only resources are checked.
pub(crate) fn filter_instance_types<'o>(
    c: &Compiled,
    instance_types: &[u32],
    requirements: &mut Requirements,
    requests: &Res,
    overhead_of: impl Fn(u32) -> Option<&'o Res>,
    relax_min_values: bool,
    check_requirements: bool,
) -> Result<(Vec<u32>, bool), FilterFailure> {
    let mut failure = FilterFailure::default();
    let mut remaining = Vec::with_capacity(instance_types.len());
    for &index in instance_types {
        let Some(overhead) = overhead_of(index) else { continue };
        let it = &c.instance_types[index as usize];
        let fits = resources::fits_with(requests, overhead, &it.allocatable);
        let (compatible, has_offering) = if check_requirements {
            (it.requirements.intersects(&c.interner, requirements).is_ok(), has_offering(c, it, requirements))
        } else {
            (true, true)
        };
        failure.requirements_met |= compatible;
        failure.fits |= fits;
        failure.has_offering |= has_offering;
        failure.requirements_and_fits |= compatible && fits && !has_offering;
        failure.requirements_and_offering |= compatible && has_offering && !fits;
        failure.fits_and_offering |= fits && has_offering && !compatible;
        if compatible && fits && has_offering {
            remaining.push(index);
        }
    }
    let mut relaxed = false;
    if requirements.has_min_values()
        && !remaining.is_empty()
        && let Err(unmet) = satisfies_min_values(c, &remaining, requirements)
    {
        if !relax_min_values {
            let mut keys: Vec<String> = unmet.keys().map(|k| c.interner.key_name(*k).to_string()).collect();
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
    Ok((remaining, relaxed))
}

/// True when an available offering's zone and capacity type are allowed by the requirements.
pub(crate) fn has_offering(c: &Compiled, it: &InstanceTypeData, requirements: &Requirements) -> bool {
    compatible_offerings(c, it, requirements).next().is_some()
}

/// Available offerings whose zone and capacity type the requirements allow (upstream `Offerings.Available()`
/// then `Compatible`).
pub(crate) fn compatible_offerings<'i>(
    c: &'i Compiled,
    it: &'i InstanceTypeData,
    requirements: &'i Requirements,
) -> impl Iterator<Item = &'i OfferingData> + 'i {
    it.offerings.iter().filter(move |o| o.available && offering_allowed(c, o, requirements))
}

/// True when the requirements allow the offering's zone and capacity type, whether or not it is available.
pub(crate) fn offering_allowed(c: &Compiled, offering: &OfferingData, requirements: &Requirements) -> bool {
    let interner = &c.interner;
    requirements.get(c.zone_key).is_none_or(|r| r.has(interner, offering.zone))
        && requirements.get(c.capacity_type_key).is_none_or(|r| r.has(interner, offering.capacity_type))
}

/// The price of the cheapest available offering the requirements allow.
pub(crate) fn cheapest_price(c: &Compiled, it: &InstanceTypeData, requirements: &Requirements) -> f64 {
    compatible_offerings(c, it, requirements).map(|o| o.price).min_by(f64::total_cmp).unwrap_or(f64::MAX)
}

/// `InstanceTypes.SatisfiesMinValues`: per key with minValues, the distinct values the instance types span.
/// Returns the reachable count of every key that falls short.
pub(crate) fn satisfies_min_values(
    c: &Compiled,
    instance_types: &[u32],
    requirements: &Requirements,
) -> Result<(), BTreeMap<KeyId, usize>> {
    let mut unmet = BTreeMap::new();
    for (key, requirement) in requirements.iter() {
        let Some(min) = requirement.min_values else { continue };
        let mut values: Vec<ValueId> = Vec::new();
        for &it in instance_types {
            if let Some(r) = c.instance_types[it as usize].requirements.get(key) {
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
