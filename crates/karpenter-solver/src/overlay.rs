//! NodeOverlays (`karpenter.sh/v1alpha1`, gate `NodeOverlay`), as upstream's nodeoverlay controller and instance-type
//! store apply them (`pkg/controllers/nodeoverlay/controller.go`, `store.go`; `pkg/cloudprovider/types.go`
//! `AdjustedPrice`): before the solver sees a NodePool's instance types, each overlay changes the prices of the
//! offerings and the extended-resource capacity of the types its requirements select.
//!
//! Overlays go heaviest first, then by name later in the alphabet. One that fails validation is left out. One that
//! would set the price of an offering, or a resource of a type, that an earlier overlay of the same weight already
//! sets is in conflict and left out everywhere (it is checked against every NodePool before any is changed). Of the
//! rest, the first to set an offering's price or a type's resource wins it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::compile::{KeyCheck, compile_term};
use crate::error::FieldError;
use crate::interner::Interner;
use crate::labels;
use crate::model::{InstanceType, NodeOverlay, NodePool, ResourceList};
use crate::requirements::{Requirement, Requirements, Undefined};
use crate::resources;

/// What became of one overlay.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum OverlayState {
    /// It was applied (its `Ready` condition is true).
    Applied,
    /// It failed validation (`ValidationSucceeded=False`, reason `RuntimeValidation`).
    Invalid {
        /// The field at fault.
        field: String,
        /// Why.
        message: String,
    },
    /// It sets a price or resource an overlay of the same weight already sets (reason `Conflict`).
    Conflict,
}

/// An overlay's name and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OverlayStatus {
    /// The overlay.
    pub name: String,
    /// What became of it.
    #[serde(flatten)]
    pub state: OverlayState,
}

/// How an overlay changes a price.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PriceChange {
    /// `price`: the new price.
    Set(f64),
    /// `priceAdjustment` without `%`: added (may be negative).
    Add(f64),
    /// `priceAdjustment` with `%`: the price changes by this percentage.
    Percent(f64),
}

impl PriceChange {
    /// Reads `price` or (when it is unset) `priceAdjustment`; the error names the field and why.
    pub fn parse(price: Option<&str>, adjustment: Option<&str>) -> Result<Option<PriceChange>, FieldError> {
        if let Some(price) = price {
            let bad = || FieldError::new("spec.price", format!("{price:?} is not a non-negative decimal"));
            let value: f64 = price.parse().map_err(|_| bad())?;
            if !value.is_finite() || value < 0.0 || price.starts_with(['+', '-']) {
                return Err(bad());
            }
            return Ok(Some(PriceChange::Set(value)));
        }
        let Some(adjustment) = adjustment else { return Ok(None) };
        let bad = || {
            FieldError::new(
                "spec.priceAdjustment",
                format!("{adjustment:?} is not a signed amount (+0.5, -1) or signed percentage (+10%, -15%)"),
            )
        };
        if !adjustment.starts_with(['+', '-']) {
            return Err(bad());
        }
        let (number, percent) = match adjustment.strip_suffix('%') {
            Some(number) => (number, true),
            None => (adjustment, false),
        };
        let value: f64 = number.parse().map_err(|_| bad())?;
        if !value.is_finite() || (percent && value < -100.0) {
            return Err(bad());
        }
        Ok(Some(if percent { PriceChange::Percent(value) } else { PriceChange::Add(value) }))
    }

    /// The changed price; an adjustment never goes below zero.
    pub fn apply(self, price: f64) -> f64 {
        match self {
            PriceChange::Set(value) => value,
            PriceChange::Add(amount) => (price + amount).max(0.0),
            PriceChange::Percent(percent) => (price * (1.0 + percent / 100.0)).max(0.0),
        }
    }
}

/// Resources an overlay may not set: the ones every node has, which the provider knows.
const WELL_KNOWN_RESOURCES: [&str; 4] =
    [resources::CPU, resources::MEMORY, resources::EPHEMERAL_STORAGE, resources::PODS];

/// An overlay, checked.
struct Checked {
    weight: i32,
    requirements: Requirements,
    price: Option<PriceChange>,
}

/// `RuntimeValidate`: requirements well formed (with values for `NotIn`), a readable price, no well-known
/// resource in `capacity`.
fn check(interner: &mut Interner, overlay: &NodeOverlay) -> Result<Checked, FieldError> {
    for (i, requirement) in overlay.requirements.iter().enumerate() {
        if requirement.operator == "NotIn" && requirement.values.is_empty() {
            return Err(FieldError::new(
                format!("spec.requirements[{i}].values"),
                format!("key {} with operator NotIn must have a value defined", requirement.key),
            ));
        }
    }
    let requirements = compile_term(interner, &overlay.requirements, "spec.requirements", KeyCheck::Any)?;
    for name in overlay.capacity.keys() {
        if WELL_KNOWN_RESOURCES.contains(&name.as_str()) {
            return Err(FieldError::new(
                format!("spec.capacity.{name}"),
                "a well-known resource cannot be overlaid",
            ));
        }
    }
    for (name, quantity) in &overlay.capacity {
        resources::parse_amount(name, quantity)
            .map_err(|m| FieldError::new(format!("spec.capacity.{name}"), m))?;
    }
    let price = PriceChange::parse(overlay.price.as_deref(), overlay.price_adjustment.as_deref())?;
    Ok(Checked { weight: overlay.weight.unwrap_or(0), requirements, price })
}

/// An offering, as upstream keys price updates: its zone, capacity type and reservation.
type OfferingKey = (String, String, Option<String>);

/// The changes decided so far for one instance type of one NodePool, with the weight of the last overlay that
/// touched each (upstream's `lowestWeight`, for conflicts).
#[derive(Default)]
struct TypeUpdate {
    prices: BTreeMap<OfferingKey, (PriceChange, i32)>,
    capacity: ResourceList,
    capacity_weight: Option<(i32, Vec<String>)>,
}

/// Applies the overlays to every NodePool's instance types. Returns each pool's list (types no overlay touches
/// are the same `Arc`) and what became of each overlay, in the order they were applied.
pub(crate) fn apply(
    pools: &[NodePool],
    lists: &BTreeMap<String, Vec<Arc<InstanceType>>>,
    overlays: &[NodeOverlay],
    well_known: &[String],
) -> (BTreeMap<String, Vec<Arc<InstanceType>>>, Vec<OverlayStatus>) {
    let mut interner = Interner::new(well_known);
    let mut ordered: Vec<&NodeOverlay> = overlays.iter().collect();
    ordered
        .sort_by(|a, b| b.weight.unwrap_or(0).cmp(&a.weight.unwrap_or(0)).then_with(|| b.name.cmp(&a.name)));

    // What each pool's types say about themselves, with the pool's own labels, compiled once.
    let mut matchers: Vec<(String, Vec<Requirements>)> = Vec::new();
    for pool in pools {
        let Some(list) = lists.get(&pool.name) else { continue };
        let mut pool_labels = pool.labels.clone();
        pool_labels.insert(labels::NODE_POOL.to_string(), pool.name.clone());
        let base = Requirements::from_labels(&mut interner, &pool_labels);
        let per_type = list
            .iter()
            .map(|it| {
                let mut requirements = base.clone();
                if let Ok(own) = compile_term(&mut interner, &it.requirements, "requirements", KeyCheck::Any)
                {
                    requirements.add_all(&interner, &own);
                }
                requirements
            })
            .collect();
        matchers.push((pool.name.clone(), per_type));
    }

    let mut updates: BTreeMap<(String, String), TypeUpdate> = BTreeMap::new();
    let mut statuses = Vec::new();
    for overlay in ordered {
        let checked = match check(&mut interner, overlay) {
            Ok(checked) => checked,
            Err(error) => {
                statuses.push(OverlayStatus {
                    name: overlay.name.clone(),
                    state: OverlayState::Invalid { field: error.field, message: error.message },
                });
                continue;
            }
        };
        // Every (pool, type) the overlay selects, with the offerings it selects.
        let mut selected: Vec<(String, String, Vec<OfferingKey>)> = Vec::new();
        for (pool, per_type) in &matchers {
            let list = &lists[pool];
            for (it, requirements) in list.iter().zip(per_type) {
                if requirements.compatible(&interner, &checked.requirements, Undefined::Refused).is_err() {
                    continue;
                }
                let offerings: Vec<OfferingKey> = it
                    .offerings
                    .iter()
                    .filter(|o| offering_selected(&mut interner, &checked.requirements, o))
                    .map(|o| (o.zone.clone(), o.capacity_type.clone(), o.reservation_id.clone()))
                    .collect();
                if !offerings.is_empty() {
                    selected.push((pool.clone(), it.name.clone(), offerings));
                }
            }
        }
        let conflict = selected.iter().find_map(|(pool, it, offerings)| {
            let update = updates.get(&(pool.clone(), it.clone()))?;
            let price_conflict = checked.price.is_some()
                && offerings.iter().any(|o| update.prices.get(o).is_some_and(|(_, w)| *w == checked.weight));
            let capacity_conflict = !overlay.capacity.is_empty()
                && update.capacity_weight.as_ref().is_some_and(|(w, names)| {
                    *w == checked.weight && overlay.capacity.keys().any(|r| names.contains(r))
                });
            (price_conflict || capacity_conflict).then_some(())
        });
        if conflict.is_some() {
            statuses.push(OverlayStatus { name: overlay.name.clone(), state: OverlayState::Conflict });
            continue;
        }
        for (pool, it, offerings) in selected {
            let update = updates.entry((pool, it)).or_default();
            if let Some(change) = checked.price {
                for offering in offerings {
                    update
                        .prices
                        .entry(offering)
                        .and_modify(|(_, w)| *w = checked.weight)
                        .or_insert((change, checked.weight));
                }
            }
            if !overlay.capacity.is_empty() {
                for (resource, quantity) in &overlay.capacity {
                    update.capacity.entry(resource.clone()).or_insert_with(|| quantity.clone());
                }
                update.capacity_weight = Some((checked.weight, overlay.capacity.keys().cloned().collect()));
            }
        }
        statuses.push(OverlayStatus { name: overlay.name.clone(), state: OverlayState::Applied });
    }

    let overlaid = lists
        .iter()
        .map(|(pool, list)| {
            let list = list
                .iter()
                .map(|it| match updates.get(&(pool.clone(), it.name.clone())) {
                    Some(update) if !update.prices.is_empty() || !update.capacity.is_empty() => {
                        let mut changed = (**it).clone();
                        for offering in &mut changed.offerings {
                            let key = (
                                offering.zone.clone(),
                                offering.capacity_type.clone(),
                                offering.reservation_id.clone(),
                            );
                            if let Some((change, _)) = update.prices.get(&key) {
                                offering.price = change.apply(offering.price);
                            }
                        }
                        changed.capacity.extend(update.capacity.clone());
                        Arc::new(changed)
                    }
                    _ => Arc::clone(it),
                })
                .collect();
            (pool.clone(), list)
        })
        .collect();
    (overlaid, statuses)
}

/// `Offerings.Compatible`: the overlay's requirements allow the offering's zone and capacity type (and its
/// reservation), undefined well-known labels allowed.
fn offering_selected(
    interner: &mut Interner,
    requirements: &Requirements,
    offering: &crate::model::Offering,
) -> bool {
    let mut own: Vec<(&str, &str)> =
        vec![(labels::ZONE, &offering.zone), (labels::CAPACITY_TYPE, &offering.capacity_type)];
    if let Some(id) = &offering.reservation_id {
        own.push((labels::RESERVATION_ID, id));
    }
    own.into_iter().all(|(key, value)| {
        let key = interner.key(key);
        let value = interner.value(value);
        requirements.get(key).is_none_or(|r: &Requirement| r.has(interner, value))
    })
}
