//! `karpenter.sh/v1alpha1` NodeOverlay (alpha, `NodeOverlay` feature gate): a change to the price or the
//! extended resources of the instance types its requirements match, applied before scheduling sees them
//! (upstream kubernetes-sigs/karpenter `pkg/apis/v1alpha1/nodeoverlay.go`, `nodeoverlay_status.go`,
//! `nodeoverlay_validation.go` and `labels.go`).
//!
//! This module holds the type, its schema and the checks the schema cannot make; applying overlays to instance
//! types belongs to the solver's prepared inputs.

#![allow(
    clippy::duplicated_attributes,
    reason = "kube's printcolumn(...) arguments repeat `type_ = \"string\"`, which clippy takes for repeated attributes"
)]

use std::cmp::Ordering;
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::nodeclaim::NodeSelectorOperator;
use crate::schema;
use crate::status::Condition;

/// The API version of NodeOverlay.
pub const VERSION: &str = "v1alpha1";
/// The kind.
pub const KIND: &str = "NodeOverlay";
/// Put on a NodeClaim whose instance types' prices an overlay changed.
pub const PRICE_OVERLAY_APPLIED: &str = "karpenter.sh/price-overlay-applied";
/// Put on a NodeClaim whose instance types' capacity an overlay changed.
pub const CAPACITY_OVERLAY_APPLIED: &str = "karpenter.sh/capacity-overlay-applied";

/// Reasons the overlay controller gives on a `ValidationSucceeded` condition that is `False`.
pub mod reason {
    /// The spec failed [`NodeOverlay::validate`](super::NodeOverlay::validate).
    pub const RUNTIME_VALIDATION: &str = "RuntimeValidation";
    /// An overlay of the same weight already sets the same price or capacity resource on an instance type this
    /// one matches (upstream's message: "conflict with another overlay").
    pub const CONFLICT: &str = "Conflict";
}

/// The desired state of a NodeOverlay.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "karpenter.sh",
    version = "v1alpha1",
    kind = "NodeOverlay",
    status = "NodeOverlayStatus",
    category = "karpenter",
    shortname = "overlays",
    doc = "A NodeOverlay changes the price or adds extended resources of the instance types it matches, before Karpenter schedules onto them.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(name = "Weight", type_ = "integer", json_path = ".spec.weight", priority = 1)
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    schema::rule("!has(self.price) || !has(self.priceAdjustment)", "cannot set both 'price' and 'priceAdjustment'"),
]))]
pub struct NodeOverlaySpec {
    /// Which instance types the overlay applies to: requirements on their labels (well-known labels such as
    /// `node.kubernetes.io/instance-type` or `karpenter.sh/nodepool`, and the NodePool's template labels).
    #[schemars(schema_with = "schema::node_overlay_requirements")]
    pub requirements: Vec<NodeOverlayRequirement>,
    /// A change to the price of matching instance types: a signed amount (`-0.5`, `+1.2`) or a signed
    /// percentage (`+10%`, `-15%`, at most `-100%`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^(([+-]{1}(\d*\.?\d+))|(\+{1}\d*\.?\d+%)|(^(-\d{1,2}(\.\d+)?%)$)|(-100%))$"
    ))]
    pub price_adjustment: Option<String>,
    /// The price of matching instance types, replacing the provider's (a non-negative decimal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^\d+(\.\d+)?$"))]
    pub price: Option<String>,
    /// Extended resources added to matching instance types; it cannot change cpu, memory, ephemeral-storage or
    /// pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::overlay_capacity")]
    pub capacity: Option<BTreeMap<String, Quantity>>,
    /// Overlays with a higher weight win where several set the same thing; unset counts as 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub weight: Option<i32>,
}

/// A node selector requirement of a NodeOverlay (no `minValues`, unlike a NodePool's).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeOverlayRequirement {
    /// The label.
    pub key: String,
    /// How the label relates to the values.
    pub operator: NodeSelectorOperator,
    /// The values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// The observed state of a NodeOverlay.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeOverlayStatus {
    /// Conditions: `ValidationSucceeded` (the spec passed runtime validation and does not conflict with another
    /// overlay of the same weight) and `Ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::node_overlay_conditions")]
    pub conditions: Option<Vec<Condition>>,
}

pub use karpenter_solver::overlay::PriceChange;

impl NodeOverlaySpec {
    /// The price change, if the overlay sets one: `price` replaces, `priceAdjustment` adds an amount or a
    /// percentage (the solver's reading, which applies overlays). When both are set (which the schema refuses)
    /// `price` wins. The error names the field.
    pub fn price_change(&self) -> Result<Option<PriceChange>, karpenter_solver::FieldError> {
        PriceChange::parse(self.price.as_deref(), self.price_adjustment.as_deref())
    }
}

impl NodeOverlay {
    /// The order in which overlays take precedence, as upstream sorts them: higher weight first (unset is 0),
    /// and among equal weights the name later in the alphabet first.
    pub fn precedence(a: &NodeOverlay, b: &NodeOverlay) -> Ordering {
        let weight = |o: &NodeOverlay| o.spec.weight.unwrap_or(0);
        weight(b).cmp(&weight(a)).then_with(|| b.metadata.name.cmp(&a.metadata.name))
    }

    /// The `Ready` condition, if the status has one.
    pub fn ready_condition(&self) -> Option<&Condition> {
        self.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == crate::labels::condition::READY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlay(name: &str, weight: Option<i32>) -> NodeOverlay {
        NodeOverlay::new(name, NodeOverlaySpec { weight, ..NodeOverlaySpec::default() })
    }

    #[test]
    fn overlays_order_by_weight_then_by_name_descending() {
        let mut overlays =
            [overlay("a", None), overlay("b", Some(10)), overlay("c", Some(10)), overlay("d", Some(1))];
        overlays.sort_by(NodeOverlay::precedence);
        let names: Vec<_> = overlays.iter().map(|o| o.metadata.name.clone().unwrap()).collect();
        assert_eq!(names, ["c", "b", "d", "a"]);
    }

    #[test]
    fn prices_and_adjustments_read_as_upstream_writes_them() {
        let change = |price: Option<&str>, adjustment: Option<&str>| {
            NodeOverlaySpec {
                price: price.map(String::from),
                price_adjustment: adjustment.map(String::from),
                ..NodeOverlaySpec::default()
            }
            .price_change()
        };
        assert_eq!(change(None, None), Ok(None));
        assert_eq!(change(Some("1.25"), None), Ok(Some(PriceChange::Set(1.25))));
        assert_eq!(change(None, Some("-0.5")), Ok(Some(PriceChange::Add(-0.5))));
        assert_eq!(change(None, Some("+.5")), Ok(Some(PriceChange::Add(0.5))));
        assert_eq!(change(None, Some("+10%")), Ok(Some(PriceChange::Percent(10.0))));
        assert_eq!(change(None, Some("-100%")), Ok(Some(PriceChange::Percent(-100.0))));
        for bad in ["10", "-101%", "+x", "+10%%"] {
            assert!(change(None, Some(bad)).is_err(), "{bad}");
        }
        for bad in ["-1", "+1", "one"] {
            assert!(change(Some(bad), None).is_err(), "{bad}");
        }
    }

    #[test]
    fn price_changes_apply_and_never_go_below_zero() {
        assert_eq!(PriceChange::Set(0.3).apply(1.0), 0.3);
        assert_eq!(PriceChange::Add(-0.25).apply(1.0), 0.75);
        assert_eq!(PriceChange::Add(-2.0).apply(1.0), 0.0);
        assert_eq!(PriceChange::Percent(-50.0).apply(0.5), 0.25);
        assert_eq!(PriceChange::Percent(-100.0).apply(0.5), 0.0);
        assert_eq!(PriceChange::Percent(20.0).apply(1.0), 1.2);
    }
}
