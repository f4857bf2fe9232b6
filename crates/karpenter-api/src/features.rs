//! Feature gates, read from `FEATURE_GATES` (or `--feature-gates`) as upstream reads them: comma-separated
//! `Name=bool` pairs over the v1.15 defaults (kubernetes-sigs/karpenter `pkg/operator/options/options.go`,
//! `KarpenterFeatureGates` and `ParseFeatureGates`, which parses with component-base's `MapStringBool`).
//!
//! One deviation: upstream ignores a name it does not know; this parser refuses it, so that a misspelt gate
//! (`NodeOverlays=true`) is an error at start-up rather than a feature silently left off.

use std::fmt;
use std::str::FromStr;

/// One feature gate: its name in `FEATURE_GATES`, its default and its stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureGate {
    /// The name, as `FEATURE_GATES` spells it.
    pub name: &'static str,
    /// Whether it is on when `FEATURE_GATES` does not name it.
    pub default: bool,
    /// `Alpha` or `Beta`.
    pub stage: &'static str,
}

/// Every gate upstream v1.15 knows, in the order its `--feature-gates` help lists them.
pub const FEATURE_GATES: [FeatureGate; 9] = [
    FeatureGate { name: "NodeRepair", default: false, stage: "Alpha" },
    FeatureGate { name: "ReservedCapacity", default: true, stage: "Beta" },
    FeatureGate { name: "SpotToSpotConsolidation", default: false, stage: "Alpha" },
    FeatureGate { name: "NodeOverlay", default: false, stage: "Alpha" },
    FeatureGate { name: "StaticCapacity", default: false, stage: "Alpha" },
    FeatureGate { name: "CapacityBuffer", default: false, stage: "Alpha" },
    FeatureGate { name: "TerminateFirstDrift", default: false, stage: "Alpha" },
    FeatureGate { name: "TerminateFirstRepair", default: false, stage: "Alpha" },
    FeatureGate { name: "PodDeletionCostManagement", default: false, stage: "Alpha" },
];

/// The state of every feature gate. `Default` is upstream's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureGates {
    /// Replace nodes whose conditions match one of the provider's repair policies, within disruption budgets.
    pub node_repair: bool,
    /// Launch into capacity reservations (the `reserved` capacity type), preferred over on-demand and spot.
    pub reserved_capacity: bool,
    /// Consolidation may replace spot nodes with cheaper spot nodes.
    pub spot_to_spot_consolidation: bool,
    /// Apply NodeOverlays' price and capacity changes to instance types.
    pub node_overlay: bool,
    /// Keep NodePools that set `spec.replicas` at that many nodes.
    pub static_capacity: bool,
    /// Provision the spare capacity CapacityBuffers describe.
    pub capacity_buffer: bool,
    /// Drift may terminate a node before its replacement is ready when the replacement cannot be launched first.
    pub terminate_first_drift: bool,
    /// Repair may terminate a node before its replacement is ready when the replacement cannot be launched first.
    pub terminate_first_repair: bool,
    /// Karpenter writes `controller.kubernetes.io/pod-deletion-cost` itself instead of reading it as a
    /// disruption cost.
    pub pod_deletion_cost_management: bool,
}

impl Default for FeatureGates {
    fn default() -> Self {
        let mut gates = FeatureGates {
            node_repair: false,
            reserved_capacity: false,
            spot_to_spot_consolidation: false,
            node_overlay: false,
            static_capacity: false,
            capacity_buffer: false,
            terminate_first_drift: false,
            terminate_first_repair: false,
            pod_deletion_cost_management: false,
        };
        for gate in FEATURE_GATES {
            *gates.gate_mut(gate.name).expect("every listed gate has a field") = gate.default;
        }
        gates
    }
}

/// Why a `FEATURE_GATES` value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeatureGateError {
    /// A comma-separated entry is not `Name=value`.
    #[error("feature gates: {entry:?} is not Name=true or Name=false")]
    MalformedPair {
        /// The entry as written.
        entry: String,
    },
    /// The name is not one of the known gates.
    #[error("feature gates: unknown gate {name:?}; the gates are {}", known_names())]
    UnknownGate {
        /// The name as written (trimmed).
        name: String,
    },
    /// The value is not a boolean Go's `strconv.ParseBool` accepts.
    #[error(
        "feature gates: {name}={value:?} is not a boolean (true, false, 1, 0, t, f, TRUE, FALSE, True, False)"
    )]
    BadValue {
        /// The gate.
        name: String,
        /// The value as written (trimmed).
        value: String,
    },
}

fn known_names() -> String {
    FEATURE_GATES.iter().map(|gate| gate.name).collect::<Vec<_>>().join(", ")
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

impl FeatureGates {
    /// Reads a `FEATURE_GATES` value such as `NodeOverlay=true,SpotToSpotConsolidation=false` over the
    /// defaults. Empty entries are skipped; names and values are trimmed; a later entry for the same gate wins.
    pub fn parse(text: &str) -> Result<FeatureGates, FeatureGateError> {
        let mut gates = FeatureGates::default();
        for entry in text.split(',').filter(|entry| !entry.is_empty()) {
            let (name, value) = entry
                .split_once('=')
                .ok_or_else(|| FeatureGateError::MalformedPair { entry: entry.to_owned() })?;
            let (name, value) = (name.trim(), value.trim());
            let slot = gates
                .gate_mut(name)
                .ok_or_else(|| FeatureGateError::UnknownGate { name: name.to_owned() })?;
            *slot = parse_go_bool(value).ok_or_else(|| FeatureGateError::BadValue {
                name: name.to_owned(),
                value: value.to_owned(),
            })?;
        }
        Ok(gates)
    }

    /// Whether the gate named `name` is on; `None` for an unknown name.
    pub fn get(&self, name: &str) -> Option<bool> {
        let mut copy = *self;
        copy.gate_mut(name).map(|slot| *slot)
    }

    fn gate_mut(&mut self, name: &str) -> Option<&mut bool> {
        Some(match name {
            "NodeRepair" => &mut self.node_repair,
            "ReservedCapacity" => &mut self.reserved_capacity,
            "SpotToSpotConsolidation" => &mut self.spot_to_spot_consolidation,
            "NodeOverlay" => &mut self.node_overlay,
            "StaticCapacity" => &mut self.static_capacity,
            "CapacityBuffer" => &mut self.capacity_buffer,
            "TerminateFirstDrift" => &mut self.terminate_first_drift,
            "TerminateFirstRepair" => &mut self.terminate_first_repair,
            "PodDeletionCostManagement" => &mut self.pod_deletion_cost_management,
            _ => return None,
        })
    }
}

impl FromStr for FeatureGates {
    type Err = FeatureGateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        FeatureGates::parse(text)
    }
}

/// Every gate as `Name=bool`, in upstream's order: the form `FEATURE_GATES` takes, and what `parse` reads back.
impl fmt::Display for FeatureGates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<String> = FEATURE_GATES
            .iter()
            .map(|gate| format!("{}={}", gate.name, self.get(gate.name).unwrap_or_default()))
            .collect();
        f.write_str(&pairs.join(","))
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn defaults_are_upstreams_v1_15_defaults() {
        expect![["NodeRepair=false,ReservedCapacity=true,SpotToSpotConsolidation=false,NodeOverlay=false,StaticCapacity=false,CapacityBuffer=false,TerminateFirstDrift=false,TerminateFirstRepair=false,PodDeletionCostManagement=false"]]
            .assert_eq(&FeatureGates::default().to_string());
        assert_eq!(FeatureGates::parse(""), Ok(FeatureGates::default()));
    }

    #[test]
    fn named_gates_override_the_defaults() {
        let gates =
            FeatureGates::parse("NodeOverlay=true, CapacityBuffer = 1,ReservedCapacity=False,,").unwrap();
        assert!(gates.node_overlay && gates.capacity_buffer);
        assert!(!gates.reserved_capacity);
        assert!(!gates.static_capacity, "a gate not named keeps its default");
        // The chart's value names every gate.
        let chart = "ReservedCapacity=true,SpotToSpotConsolidation=false,NodeRepair=false,NodeOverlay=false,StaticCapacity=true,CapacityBuffer=false,TerminateFirstDrift=false,TerminateFirstRepair=false,PodDeletionCostManagement=false";
        let gates = FeatureGates::parse(chart).unwrap();
        assert_eq!(gates, FeatureGates { static_capacity: true, ..FeatureGates::default() });
        assert!(
            !FeatureGates::parse("NodeRepair=true,NodeRepair=false").unwrap().node_repair,
            "the last entry wins"
        );
    }

    #[test]
    fn errors_name_the_gate_and_the_value() {
        let error = |text: &str| FeatureGates::parse(text).unwrap_err().to_string();
        expect![[r#"feature gates: unknown gate "NodeOverlays"; the gates are NodeRepair, ReservedCapacity, SpotToSpotConsolidation, NodeOverlay, StaticCapacity, CapacityBuffer, TerminateFirstDrift, TerminateFirstRepair, PodDeletionCostManagement"#]]
            .assert_eq(&error("NodeRepair=true,NodeOverlays=true"));
        expect![[r#"feature gates: NodeOverlay="yes" is not a boolean (true, false, 1, 0, t, f, TRUE, FALSE, True, False)"#]]
            .assert_eq(&error("NodeOverlay=yes"));
        expect![[r#"feature gates: "NodeOverlay" is not Name=true or Name=false"#]]
            .assert_eq(&error("NodeOverlay"));
        expect![[r#"feature gates: NodeOverlay="" is not a boolean (true, false, 1, 0, t, f, TRUE, FALSE, True, False)"#]]
            .assert_eq(&error("NodeOverlay="));
        expect![[r#"feature gates: " " is not Name=true or Name=false"#]]
            .assert_eq(&error("NodeRepair=true, "));
    }

    #[test]
    fn every_listed_gate_is_read_by_its_name() {
        for gate in FEATURE_GATES {
            let flipped = FeatureGates::parse(&format!("{}={}", gate.name, !gate.default)).unwrap();
            assert_eq!(flipped.get(gate.name), Some(!gate.default), "{}", gate.name);
            let changed: Vec<_> = FEATURE_GATES
                .iter()
                .filter(|other| flipped.get(other.name) != Some(other.default))
                .map(|other| other.name)
                .collect();
            assert_eq!(changed, [gate.name], "only {} changes", gate.name);
        }
        assert_eq!(FeatureGates::default().get("Unknown"), None);
    }

    proptest! {
        #[test]
        fn printing_and_parsing_round_trip(bits in proptest::collection::vec(any::<bool>(), 9)) {
            let mut text = Vec::new();
            for (gate, on) in FEATURE_GATES.iter().zip(&bits) {
                text.push(format!("{}={on}", gate.name));
            }
            let gates = FeatureGates::parse(&text.join(",")).unwrap();
            prop_assert_eq!(gates.to_string(), text.join(","));
            prop_assert_eq!(FeatureGates::parse(&gates.to_string()).unwrap(), gates);
        }
    }
}
