//! `karpenter.kwok.sh/v1alpha1` KWOKNodeClass: the node class of the KWOK provider, which launches Node
//! objects for KWOK to animate instead of machines (upstream kubernetes-sigs/karpenter `kwok/apis/v1alpha1/
//! kwoknodeclass.go`, `kwoknodeclass_status.go` and `labels.go`). A NodePool written for upstream's KWOK
//! provider names it as `nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: ...}`.

use std::time::Duration;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

use crate::schema;
use crate::status::Condition;

/// The API group of KWOKNodeClass, and the domain of the KWOK provider's labels.
pub const GROUP: &str = "karpenter.kwok.sh";
/// The API version of KWOKNodeClass.
pub const VERSION: &str = "v1alpha1";
/// The kind.
pub const KIND: &str = "KWOKNodeClass";

/// Labels the KWOK provider puts on its nodes.
pub mod label {
    /// The instance size: the vCPU count of the generated types (`karpenter.kwok.sh/instance-size`).
    pub const INSTANCE_SIZE: &str = "karpenter.kwok.sh/instance-size";
    /// The instance family: `c`, `s` or `m` for the generated types.
    pub const INSTANCE_FAMILY: &str = "karpenter.kwok.sh/instance-family";
    /// The vCPU count.
    pub const INSTANCE_CPU: &str = "karpenter.kwok.sh/instance-cpu";
    /// The memory, as a Kubernetes quantity (`2Gi`).
    pub const INSTANCE_MEMORY: &str = "karpenter.kwok.sh/instance-memory";
    /// Labels pods may select that instance types define, which the scheduler treats as well-known.
    pub const WELL_KNOWN: [&str; 4] = [INSTANCE_SIZE, INSTANCE_FAMILY, INSTANCE_CPU, INSTANCE_MEMORY];

    /// Label and annotation that hand a node to KWOK (`kwok.x-k8s.io/node: fake`).
    pub const KWOK_NODE: &str = "kwok.x-k8s.io/node";
    /// The value of [`KWOK_NODE`].
    pub const KWOK_NODE_VALUE: &str = "fake";
    /// The hourly price of the node, for `eks-node-viewer`.
    pub const NODE_VIEWER_PRICE: &str = "eks-node-viewer/instance-price";
    /// The KWOK controller partition a node belongs to (upstream spreads nodes over partitions for scale).
    pub const KWOK_PARTITION: &str = "kwok-partition";
}

/// The desired state of a KWOKNodeClass; every field is optional.
// `spec` itself may be left out, as upstream's README does: see the `Deserialize` implementation below.
#[derive(CustomResource, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "karpenter.kwok.sh",
    version = "v1alpha1",
    kind = "KWOKNodeClass",
    status = "KWOKNodeClassStatus",
    category = "karpenter",
    shortname = "kwoknc",
    shortname = "kwokncs",
    plural = "kwoknodeclasses",
    doc = "A KWOKNodeClass is the node class of the KWOK provider, which makes Node objects for KWOK to run instead of machines."
)]
#[serde(rename_all = "camelCase")]
pub struct KWOKNodeClassSpec {
    /// How long a launched node takes to appear in the cluster, to model a machine's boot time
    /// (`30s`, `1m30s`); none when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = schema::DURATION))]
    pub node_registration_delay: Option<String>,
}

/// The spec's fields, read when `spec` is present.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpecFields {
    #[serde(default)]
    node_registration_delay: Option<String>,
}

impl<'de> Deserialize<'de> for KWOKNodeClassSpec {
    /// Reads an absent or null `spec` as the default. The field of kube's generated root type has no
    /// `#[serde(default)]`, but serde reads a missing field through `deserialize_option`, which lands here.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = Option::<SpecFields>::deserialize(deserializer)?;
        Ok(fields.map_or_else(KWOKNodeClassSpec::default, |f| KWOKNodeClassSpec {
            node_registration_delay: f.node_registration_delay,
        }))
    }
}

/// A `nodeRegistrationDelay` that does not read as whole hours, minutes and seconds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("nodeRegistrationDelay {0:?} is not a duration of whole hours, minutes and seconds (such as 1m30s)")]
pub struct DelayError(pub String);

impl KWOKNodeClassSpec {
    /// The registration delay; zero when unset.
    pub fn node_registration_delay(&self) -> Result<Duration, DelayError> {
        let Some(text) = self.node_registration_delay.as_deref() else { return Ok(Duration::ZERO) };
        let bad = || DelayError(text.to_string());
        let mut seconds: u64 = 0;
        let mut number: Option<u64> = None;
        for c in text.chars() {
            if let Some(digit) = c.to_digit(10) {
                let n = number.unwrap_or(0).checked_mul(10).and_then(|n| n.checked_add(u64::from(digit)));
                number = Some(n.ok_or_else(bad)?);
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                _ => return Err(bad()),
            };
            let amount = number.take().ok_or_else(bad)?.checked_mul(unit).ok_or_else(bad)?;
            seconds = seconds.checked_add(amount).ok_or_else(bad)?;
        }
        if number.is_some() || text.is_empty() {
            return Err(bad());
        }
        Ok(Duration::from_secs(seconds))
    }
}

/// The observed state of a KWOKNodeClass. The CRD defaults it to one `Ready` condition, so a KWOKNodeClass is
/// ready as soon as it exists unless something writes otherwise.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("default" = json!({"conditions": [{
    "lastTransitionTime": "2024-01-01T01:01:01Z",
    "message": "",
    "reason": "Ready",
    "status": "True",
    "type": "Ready",
}]})))]
pub struct KWOKNodeClassStatus {
    /// Conditions: `Ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::ec2_node_class_conditions")]
    pub conditions: Option<Vec<Condition>>,
}

impl KWOKNodeClass {
    /// The `Ready` condition, if the status has one.
    pub fn ready_condition(&self) -> Option<&Condition> {
        self.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == crate::labels::condition::READY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_without_spec_reads_as_the_default() {
        let class: KWOKNodeClass = serde_norway::from_str(
            "apiVersion: karpenter.kwok.sh/v1alpha1\nkind: KWOKNodeClass\nmetadata: {name: default}\n",
        )
        .unwrap();
        assert_eq!(class.spec, KWOKNodeClassSpec::default());
        let json: KWOKNodeClass = serde_json::from_value(json!({
            "apiVersion": "karpenter.kwok.sh/v1alpha1", "kind": "KWOKNodeClass",
            "metadata": {"name": "slow"}, "spec": {"nodeRegistrationDelay": "1m30s"},
        }))
        .unwrap();
        assert_eq!(json.spec.node_registration_delay.as_deref(), Some("1m30s"));
        let null: KWOKNodeClass =
            serde_json::from_value(json!({"metadata": {"name": "n"}, "spec": null})).unwrap();
        assert_eq!(null.spec, KWOKNodeClassSpec::default());
    }

    #[test]
    fn registration_delays_read_like_go_durations() {
        let delay = |text: &str| {
            KWOKNodeClassSpec { node_registration_delay: Some(text.to_string()) }.node_registration_delay()
        };
        assert_eq!(KWOKNodeClassSpec::default().node_registration_delay(), Ok(Duration::ZERO));
        assert_eq!(delay("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(delay("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(delay("2h1m"), Ok(Duration::from_secs(7260)));
        assert_eq!(delay("0s"), Ok(Duration::ZERO));
        for bad in ["", "30", "1.5s", "s", "1d", "99999999999999999999h"] {
            assert_eq!(delay(bad), Err(DelayError(bad.to_string())), "{bad:?}");
        }
    }

    #[test]
    fn readiness_comes_from_the_ready_condition() {
        let mut class = KWOKNodeClass::new("default", KWOKNodeClassSpec::default());
        assert!(class.ready_condition().is_none());
        class.status = Some(
            serde_json::from_value(json!({"conditions": [{
                "type": "Ready", "status": "False", "reason": "Broken", "message": "no",
                "lastTransitionTime": "2024-01-01T01:01:01Z",
            }]}))
            .unwrap(),
        );
        assert_eq!(class.ready_condition().map(|c| c.status.as_str()), Some("False"));
    }
}
