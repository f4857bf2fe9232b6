//! Taints and tolerations (`pkg/scheduling/taints.go` over `k8s.io/api/core/v1` toleration matching).

use std::fmt;

use crate::model;

/// The three taint effects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Effect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl Effect {
    pub(crate) fn parse(effect: &str) -> Option<Effect> {
        match effect {
            "NoSchedule" => Some(Effect::NoSchedule),
            "PreferNoSchedule" => Some(Effect::PreferNoSchedule),
            "NoExecute" => Some(Effect::NoExecute),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Effect::NoSchedule => "NoSchedule",
            Effect::PreferNoSchedule => "PreferNoSchedule",
            Effect::NoExecute => "NoExecute",
        }
    }
}

/// A checked taint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Taint {
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) effect: Effect,
}

impl fmt::Display for Taint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}:{}", self.key, self.effect.name())
        } else {
            write!(f, "{}={}:{}", self.key, self.value, self.effect.name())
        }
    }
}

impl Taint {
    /// Checks a taint from the input; the error names the reason.
    pub(crate) fn from_model(taint: &model::Taint) -> Result<Taint, String> {
        if taint.key.is_empty() {
            return Err("taint key must not be empty".to_string());
        }
        let effect = Effect::parse(&taint.effect).ok_or_else(|| {
            format!(
                "unknown taint effect {:?}, expected NoSchedule, PreferNoSchedule or NoExecute",
                taint.effect
            )
        })?;
        Ok(Taint { key: taint.key.clone(), value: taint.value.clone(), effect })
    }

    /// Taints the kubelet and cloud controller put on every new node and remove once it is ready; they say nothing
    /// about where pods may go once the node is initialised.
    pub(crate) fn is_known_ephemeral(&self) -> bool {
        const EPHEMERAL: [(&str, Effect); 4] = [
            ("node.kubernetes.io/not-ready", Effect::NoSchedule),
            ("node.kubernetes.io/not-ready", Effect::NoExecute),
            ("node.kubernetes.io/unreachable", Effect::NoSchedule),
            ("karpenter.sh/unregistered", Effect::NoExecute),
        ];
        EPHEMERAL.iter().any(|(key, effect)| *key == self.key && *effect == self.effect)
            || (self.key == "node.cloudprovider.kubernetes.io/uninitialized"
                && self.effect == Effect::NoSchedule
                && self.value == "true")
            || self.key.starts_with("readiness.k8s.io/")
    }
}

/// A checked toleration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Toleration {
    key: String,
    exists: bool,
    value: String,
    effect: Option<Effect>,
}

impl Toleration {
    /// Checks a toleration from the input; the error names the reason.
    pub(crate) fn from_model(toleration: &model::Toleration) -> Result<Toleration, String> {
        let exists = match toleration.operator.as_deref() {
            None | Some("") | Some("Equal") => false,
            Some("Exists") => true,
            Some(other) => {
                return Err(format!("unknown toleration operator {other:?}, expected Equal or Exists"));
            }
        };
        if exists && !toleration.value.is_empty() {
            return Err("a toleration with operator Exists must not have a value".to_string());
        }
        if toleration.key.is_empty() && !exists {
            return Err("a toleration with an empty key must use operator Exists".to_string());
        }
        let effect = match toleration.effect.as_deref() {
            None | Some("") => None,
            Some(effect) => Some(Effect::parse(effect).ok_or_else(|| {
                format!(
                    "unknown toleration effect {effect:?}, expected NoSchedule, PreferNoSchedule or NoExecute"
                )
            })?),
        };
        Ok(Toleration { key: toleration.key.clone(), exists, value: toleration.value.clone(), effect })
    }

    /// `Exists` for every taint with the PreferNoSchedule effect: what relaxation adds as its last step.
    pub(crate) fn prefer_no_schedule() -> Toleration {
        Toleration {
            key: String::new(),
            exists: true,
            value: String::new(),
            effect: Some(Effect::PreferNoSchedule),
        }
    }

    /// Kubernetes' `Toleration.ToleratesTaint`.
    pub(crate) fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|effect| effect != taint.effect) {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        self.exists || self.value == taint.value
    }
}

/// The first taint in `taints` that none of `tolerations` (plus `extra`) tolerates.
pub(crate) fn first_untolerated<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    extra: Option<&Toleration>,
) -> Option<&'a Taint> {
    taints.iter().find(|taint| !tolerations.iter().chain(extra).any(|t| t.tolerates(taint)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint::from_model(&model::Taint { key: key.into(), value: value.into(), effect: effect.into() })
            .unwrap()
    }

    fn toleration(key: &str, op: &str, value: &str, effect: &str) -> Toleration {
        Toleration::from_model(&model::Toleration {
            key: key.into(),
            operator: Some(op.into()),
            value: value.into(),
            effect: (!effect.is_empty()).then(|| effect.to_string()),
        })
        .unwrap()
    }

    #[test]
    fn toleration_matching_follows_kubernetes() {
        let gpu = taint("nvidia.com/gpu", "true", "NoSchedule");
        assert!(toleration("nvidia.com/gpu", "Equal", "true", "NoSchedule").tolerates(&gpu));
        assert!(
            toleration("nvidia.com/gpu", "Equal", "true", "").tolerates(&gpu),
            "empty effect matches all"
        );
        assert!(!toleration("nvidia.com/gpu", "Equal", "false", "").tolerates(&gpu), "value must match");
        assert!(
            !toleration("nvidia.com/gpu", "Equal", "true", "NoExecute").tolerates(&gpu),
            "effect must match"
        );
        assert!(toleration("nvidia.com/gpu", "Exists", "", "").tolerates(&gpu));
        assert!(
            toleration("", "Exists", "", "").tolerates(&gpu),
            "empty key with Exists matches every taint"
        );
        assert!(!toleration("other", "Exists", "", "").tolerates(&gpu));
        assert!(Toleration::prefer_no_schedule().tolerates(&taint("a", "b", "PreferNoSchedule")));
        assert!(!Toleration::prefer_no_schedule().tolerates(&taint("a", "b", "NoSchedule")));
    }

    #[test]
    fn bad_tolerations_are_explained() {
        let bad = |op: &str, key: &str, value: &str| {
            Toleration::from_model(&model::Toleration {
                key: key.into(),
                operator: Some(op.into()),
                value: value.into(),
                effect: None,
            })
            .unwrap_err()
        };
        assert!(bad("Near", "a", "").contains("unknown toleration operator"));
        assert!(bad("Exists", "a", "x").contains("must not have a value"));
        assert!(bad("Equal", "", "x").contains("empty key"));
    }

    #[test]
    fn ephemeral_taints_are_recognised() {
        assert!(taint("node.kubernetes.io/not-ready", "", "NoSchedule").is_known_ephemeral());
        assert!(taint("readiness.k8s.io/network", "", "NoSchedule").is_known_ephemeral());
        assert!(!taint("dedicated", "gpu", "NoSchedule").is_known_ephemeral());
    }
}
