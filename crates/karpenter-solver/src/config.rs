//! The settings of a solve, with upstream's names and defaults (`pkg/operator/options/options.go`:
//! `PREFERENCE_POLICY`, `MIN_VALUES_POLICY`; `nodeclaimtemplate.go`: `MaxInstanceTypes`).

use serde::{Deserialize, Serialize};

/// Whether preferences (preferred node affinity, preferred pod affinity and anti-affinity, ScheduleAnyway spread)
/// are honoured first and relaxed one by one, or ignored from the start (upstream `PREFERENCE_POLICY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PreferencePolicy {
    /// Treat preferences as required, then relax them one at a time (the default).
    #[default]
    Respect,
    /// Drop preferences before scheduling.
    Ignore,
}

/// What to do when the instance types left for a NodeClaim span fewer values than a requirement's `minValues`
/// (upstream `MIN_VALUES_POLICY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum MinValuesPolicy {
    /// The NodeClaim cannot be made (the default).
    #[default]
    Strict,
    /// Lower minValues to what the instance types reach and mark the NodeClaim.
    BestEffort,
}

/// Settings of a solve. `Default` gives upstream's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SolverConfig {
    /// Preference handling.
    pub preference_policy: PreferencePolicy,
    /// minValues handling.
    pub min_values_policy: MinValuesPolicy,
    /// Launch options kept per NodeClaim, cheapest first (upstream `MaxInstanceTypes` = 600).
    pub max_instance_types: usize,
    /// Label keys the cloud provider registers as well-known, in addition to Karpenter's own: instance types may
    /// leave them undefined while pods still select them.
    pub well_known_labels: Vec<String>,
    /// Label domains the cloud provider reserves (the AWS provider: `karpenter.k8s.aws`): a pod may select only
    /// the well-known labels of these domains.
    #[serde(default)]
    pub restricted_label_domains: Vec<String>,
}

impl Default for SolverConfig {
    fn default() -> Self {
        SolverConfig {
            preference_policy: PreferencePolicy::Respect,
            min_values_policy: MinValuesPolicy::Strict,
            max_instance_types: 600,
            well_known_labels: Vec::new(),
            restricted_label_domains: Vec::new(),
        }
    }
}

impl SolverConfig {
    /// True under [`PreferencePolicy::Respect`].
    pub(crate) fn respects_preferences(&self) -> bool {
        self.preference_policy == PreferencePolicy::Respect
    }

    /// How instance-type filters treat minValues that the types cannot reach.
    pub(crate) fn min_values(&self) -> crate::filter::MinValues {
        match self.min_values_policy {
            MinValuesPolicy::Strict => crate::filter::MinValues::Strict,
            MinValuesPolicy::BestEffort => crate::filter::MinValues::Relax,
        }
    }
}
