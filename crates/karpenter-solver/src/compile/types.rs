//! Instance types: capacity, overhead and allocatable as `pkg/cloudprovider/types.go` (`Allocatable`) computes
//! them, and their offerings.

use super::{InstanceTypeData, OfferingData};
use crate::error::FieldError;
use crate::interner::Interner;
use crate::labels;
use crate::model;
use crate::requirements::Requirements;
use crate::resources::{self, ResourceTable};

/// Compiles an instance type; the error names the field at fault.
pub(crate) fn compile_instance_type(
    interner: &mut Interner,
    table: &ResourceTable,
    it: &model::InstanceType,
) -> Result<InstanceTypeData, FieldError> {
    if it.name.is_empty() {
        return Err(FieldError::new("name", "instance type name must not be empty"));
    }
    let mut requirements = Requirements::default();
    for (i, requirement) in it.requirements.iter().enumerate() {
        let built =
            super::selectors::build_requirement(interner, requirement, &format!("requirements[{i}]"))?;
        let key = interner.key(&requirement.key);
        requirements.add(interner, key, built);
    }
    let parse = |list: &model::ResourceList, field: &str| table.parse(list).map_err(|e| e.under(field));
    let capacity = parse(&it.capacity, "capacity")?;
    let mut overhead = parse(&it.overhead.kube_reserved, "overhead.kubeReserved")?;
    resources::add_assign(&mut overhead, &parse(&it.overhead.system_reserved, "overhead.systemReserved")?);
    resources::add_assign(
        &mut overhead,
        &parse(&it.overhead.eviction_threshold, "overhead.evictionThreshold")?,
    );
    // Only resources the machine has are reduced by overhead; hugepages come out of memory.
    let mut allocatable = capacity.clone();
    for index in 0..table.len() {
        if it.capacity.contains_key(table.name(index)) {
            allocatable[index] = capacity[index] - overhead[index];
        }
    }
    for (index, amount) in capacity.iter().enumerate() {
        if table.is_hugepages(index) && *amount > 0 {
            let memory = &mut allocatable[resources::MEMORY_INDEX];
            *memory = (*memory - amount).max(0);
        }
    }
    let mut offerings = Vec::with_capacity(it.offerings.len());
    for (i, offering) in it.offerings.iter().enumerate() {
        if offering.zone.is_empty() || offering.capacity_type.is_empty() {
            return Err(FieldError::new(
                format!("offerings[{i}]"),
                "an offering needs a zone and a capacity type",
            ));
        }
        if !offering.price.is_finite() || offering.price < 0.0 {
            return Err(FieldError::new(
                format!("offerings[{i}].price"),
                format!("price {} is not a non-negative number", offering.price),
            ));
        }
        offerings.push(OfferingData {
            zone: interner.value(&offering.zone),
            capacity_type: interner.value(&offering.capacity_type),
            price: offering.price,
            available: offering.available && offering.capacity_type != labels::CAPACITY_TYPE_RESERVED,
            slot: None,
        });
    }
    Ok(InstanceTypeData {
        name: it.name.as_str().into(),
        requirements,
        capacity,
        allocatable,
        offerings,
        available_slots: 0,
    })
}

/// Notices about offerings the solver ignores: capacity reservations need the reservation manager of upstream's
/// scheduler, which is not modelled yet, so they are reported rather than launched into as if on-demand.
pub(crate) fn ignored_offerings(
    it: &model::InstanceType,
) -> impl Iterator<Item = crate::plan::InputError> + '_ {
    it.offerings.iter().enumerate().filter(|(_, o)| o.capacity_type == labels::CAPACITY_TYPE_RESERVED).map(
        |(i, _)| {
            FieldError::new(
                format!("offerings[{i}]"),
                "reserved capacity is not supported yet; the offering is ignored",
            )
            .on(format!("InstanceType/{}", it.name))
        },
    )
}
