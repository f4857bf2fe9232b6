//! The parts of a pod that relate it to other pods: label selectors, topology spread constraints, pod
//! (anti-)affinity terms and host ports, checked and put in the form the topology and the scheduler use.
//!
//! Upstream: `topologygroup.go` (`NewTopologyGroup`, `Hash`), `topology.go` (`newForTopologies`,
//! `newForAffinities`, `buildNamespaceList`), `topologynodefilter.go`, `pkg/scheduling/hostportusage.go`.

use std::fmt::Write as _;

use crate::compile::NamespaceIndex;
use crate::error::FieldError;
use crate::model::{self, LabelSelector, Labels, Pod, PodAffinityTerm};
use crate::requirements::{Interner, KeyId};

/// A compiled label selector. `Nothing` is what Kubernetes makes of a missing selector: it matches no pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selector {
    Nothing,
    Match(Vec<SelectorTerm>),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SelectorTerm {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Selector {
    /// Compiles a selector; an unknown operator or a missing value list is an error naming the expression.
    pub(crate) fn compile(
        selector: Option<&LabelSelector>,
        extra: &[(String, String)],
    ) -> Result<Selector, String> {
        let Some(selector) = selector else { return Ok(Selector::Nothing) };
        let mut terms = Vec::new();
        for (key, value) in &selector.match_labels {
            terms.push(SelectorTerm::In(key.clone(), vec![value.clone()]));
        }
        for (i, expression) in selector.match_expressions.iter().enumerate() {
            let mut values = expression.values.clone();
            values.sort();
            values.dedup();
            let term = match expression.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(format!(
                        "matchExpressions[{i}]: operator {} needs values",
                        expression.operator
                    ));
                }
                "In" => SelectorTerm::In(expression.key.clone(), values),
                "NotIn" => SelectorTerm::NotIn(expression.key.clone(), values),
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(format!(
                        "matchExpressions[{i}]: operator {} takes no values",
                        expression.operator
                    ));
                }
                "Exists" => SelectorTerm::Exists(expression.key.clone()),
                "DoesNotExist" => SelectorTerm::DoesNotExist(expression.key.clone()),
                other => {
                    return Err(format!(
                        "matchExpressions[{i}]: unknown operator {other:?}, expected In, NotIn, Exists or DoesNotExist"
                    ));
                }
            };
            terms.push(term);
        }
        for (key, value) in extra {
            terms.push(SelectorTerm::In(key.clone(), vec![value.clone()]));
        }
        // A selector is a set of terms: order and repeats do not change what it selects.
        terms.sort();
        terms.dedup();
        Ok(Selector::Match(terms))
    }

    pub(crate) fn matches(&self, labels: &Labels) -> bool {
        match self {
            Selector::Nothing => false,
            Selector::Match(terms) => terms.iter().all(|term| match term {
                SelectorTerm::In(key, values) => labels.get(key).is_some_and(|v| values.contains(v)),
                SelectorTerm::NotIn(key, values) => labels.get(key).is_none_or(|v| !values.contains(v)),
                SelectorTerm::Exists(key) => labels.contains_key(key),
                SelectorTerm::DoesNotExist(key) => !labels.contains_key(key),
            }),
        }
    }

    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

/// What a topology group counts and how: everything upstream hashes to share one group among many pods.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct GroupKey(String);

/// Which pods count for a spread constraint's domains (`TopologyNodeFilter`).
#[derive(Debug, Clone)]
pub(crate) struct NodeFilter {
    /// ORed requirement sets (node selector plus each required node-affinity term); empty matches every node.
    pub(crate) requirements: Vec<crate::requirements::Requirements>,
    pub(crate) honor_affinity: bool,
    pub(crate) honor_taints: bool,
    pub(crate) tolerations: Vec<crate::taints::Toleration>,
}

/// The three kinds of topology group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Kind {
    Spread,
    Affinity,
    AntiAffinity,
}

impl Kind {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Kind::Spread => "topology spread",
            Kind::Affinity => "pod affinity",
            Kind::AntiAffinity => "pod anti-affinity",
        }
    }
}

/// One spread constraint or (anti-)affinity term of a pod, ready to be turned into a topology group.
#[derive(Debug, Clone)]
pub(crate) struct Term {
    pub(crate) kind: Kind,
    pub(crate) key: KeyId,
    pub(crate) namespaces: Vec<String>,
    pub(crate) selector: Selector,
    pub(crate) max_skew: i32,
    pub(crate) min_domains: Option<i32>,
    pub(crate) filter: Option<NodeFilter>,
    /// True for a `ScheduleAnyway` spread constraint, which relaxation may drop.
    pub(crate) schedule_anyway: bool,
    pub(crate) group_key: GroupKey,
}

/// A port a pod claims on its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostPort {
    ip: String,
    port: i32,
    protocol: String,
}

impl HostPort {
    fn unspecified(ip: &str) -> bool {
        ip == "0.0.0.0" || ip == "::"
    }

    /// Two claims collide on the same protocol and port unless both bind distinct, specific addresses.
    pub(crate) fn collides(&self, other: &HostPort) -> bool {
        self.protocol == other.protocol
            && self.port == other.port
            && (self.ip == other.ip || HostPort::unspecified(&self.ip) || HostPort::unspecified(&other.ip))
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}/{}", self.ip, self.port, self.protocol)
    }
}

/// The host ports of a pod's app containers; the error names the port at fault.
pub(crate) fn host_ports(pod: &Pod) -> Result<Vec<HostPort>, FieldError> {
    let mut ports = Vec::new();
    for (c, container) in pod.containers.iter().enumerate() {
        for (p, port) in container.ports.iter().enumerate() {
            if port.host_port == 0 {
                continue;
            }
            let field = format!("spec.containers[{c}].ports[{p}]");
            if !(1..=65535).contains(&port.host_port) {
                return Err(FieldError::new(
                    format!("{field}.hostPort"),
                    format!("host port {} is out of range", port.host_port),
                ));
            }
            let protocol = port.protocol.clone().unwrap_or_else(|| "TCP".to_string());
            if !matches!(protocol.as_str(), "TCP" | "UDP" | "SCTP") {
                return Err(FieldError::new(
                    format!("{field}.protocol"),
                    format!("unknown protocol {protocol:?}, expected TCP, UDP or SCTP"),
                ));
            }
            let ip = if port.host_ip.is_empty() { "0.0.0.0".to_string() } else { port.host_ip.clone() };
            ports.push(HostPort { ip, port: port.host_port, protocol });
        }
    }
    Ok(ports)
}

/// `buildNamespaceList`: the pod's namespace by default, else the listed ones plus those the selector picks.
fn namespaces_of(
    namespaces: &NamespaceIndex<'_>,
    pod: &Pod,
    term: &PodAffinityTerm,
) -> Result<Vec<String>, String> {
    let mut namespaces: Vec<String> = match &term.namespace_selector {
        None if term.namespaces.is_empty() => vec![pod.namespace.clone()],
        None => term.namespaces.clone(),
        Some(selector) => {
            let selector =
                Selector::compile(Some(selector), &[]).map_err(|e| format!("namespaceSelector: {e}"))?;
            let mut selected: Vec<String> = namespaces.selected(&selector).map(str::to_string).collect();
            selected.extend(term.namespaces.iter().cloned());
            selected
        }
    };
    namespaces.sort();
    namespaces.dedup();
    Ok(namespaces)
}

/// Compiles a pod (anti-)affinity term.
pub(crate) fn affinity_term(
    interner: &mut Interner,
    namespaces: &NamespaceIndex<'_>,
    pod: &Pod,
    kind: Kind,
    term: &PodAffinityTerm,
    field: &str,
) -> Result<Term, FieldError> {
    if term.topology_key.is_empty() {
        return Err(FieldError::new(format!("{field}.topologyKey"), "topologyKey must not be empty"));
    }
    let selector = Selector::compile(term.label_selector.as_ref(), &[])
        .map_err(|e| FieldError::new(format!("{field}.labelSelector"), e))?;
    let namespaces = namespaces_of(namespaces, pod, term).map_err(|e| FieldError::new(field, e))?;
    let key = interner.key(&term.topology_key);
    let mut group_key = String::new();
    let _ = write!(group_key, "{kind:?}|{}|{namespaces:?}|{}", interner.key_name(key), selector.describe());
    Ok(Term {
        kind,
        key,
        namespaces,
        selector,
        max_skew: i32::MAX,
        min_domains: None,
        filter: None,
        schedule_anyway: false,
        group_key: GroupKey(group_key),
    })
}

/// Compiles a topology spread constraint, with `matchLabelKeys` folded into the selector.
pub(crate) fn spread_term(
    interner: &mut Interner,
    pod: &Pod,
    constraint: &model::TopologySpreadConstraint,
    filter_requirements: Vec<crate::requirements::Requirements>,
    tolerations: &[crate::taints::Toleration],
    field: &str,
) -> Result<Term, FieldError> {
    if constraint.topology_key.is_empty() {
        return Err(FieldError::new(format!("{field}.topologyKey"), "topologyKey must not be empty"));
    }
    if constraint.max_skew < 1 {
        return Err(FieldError::new(
            format!("{field}.maxSkew"),
            format!("maxSkew must be at least 1, got {}", constraint.max_skew),
        ));
    }
    if constraint.min_domains.is_some_and(|m| m < 1) {
        return Err(FieldError::new(format!("{field}.minDomains"), "minDomains must be at least 1"));
    }
    let schedule_anyway = match constraint.when_unsatisfiable.as_str() {
        "DoNotSchedule" => false,
        "ScheduleAnyway" => true,
        other => {
            return Err(FieldError::new(
                format!("{field}.whenUnsatisfiable"),
                format!("unknown value {other:?}, expected DoNotSchedule or ScheduleAnyway"),
            ));
        }
    };
    let policy = |value: &Option<String>, default_honor: bool, name: &str| match value.as_deref() {
        None => Ok(default_honor),
        Some("Honor") => Ok(true),
        Some("Ignore") => Ok(false),
        Some(other) => Err(FieldError::new(
            format!("{field}.{name}"),
            format!("unknown policy {other:?}, expected Honor or Ignore"),
        )),
    };
    let honor_affinity = policy(&constraint.node_affinity_policy, true, "nodeAffinityPolicy")?;
    let honor_taints = policy(&constraint.node_taints_policy, false, "nodeTaintsPolicy")?;
    let extra: Vec<(String, String)> = constraint
        .match_label_keys
        .iter()
        .filter_map(|key| pod.labels.get(key).map(|value| (key.clone(), value.clone())))
        .collect();
    let selector = Selector::compile(constraint.label_selector.as_ref(), &extra)
        .map_err(|e| FieldError::new(format!("{field}.labelSelector"), e))?;
    let key = interner.key(&constraint.topology_key);
    let namespaces = vec![pod.namespace.clone()];
    // The node filter depends on the pod's node selector, required node affinity and tolerations; pods that share
    // all of them share the group.
    let mut group_key = String::new();
    let _ = write!(
        group_key,
        "Spread|{}|{namespaces:?}|{}|{}|{honor_affinity}|{honor_taints}|{:?}|{:?}|{:?}",
        interner.key_name(key),
        constraint.max_skew,
        selector.describe(),
        pod.node_selector,
        pod.node_affinity.as_ref().map(|a| &a.required),
        pod.tolerations,
    );
    Ok(Term {
        kind: Kind::Spread,
        key,
        namespaces,
        selector,
        max_skew: constraint.max_skew,
        min_domains: constraint.min_domains,
        filter: Some(NodeFilter {
            requirements: filter_requirements,
            honor_affinity,
            honor_taints,
            tolerations: tolerations.to_vec(),
        }),
        schedule_anyway,
        group_key: GroupKey(group_key),
    })
}

/// Preferred terms heaviest first; equal weights keep their order.
pub(crate) fn by_weight_desc<T>(mut terms: Vec<(i32, T)>) -> Vec<T> {
    terms.sort_by_key(|(weight, _)| std::cmp::Reverse(*weight));
    terms.into_iter().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn selectors_follow_kubernetes() {
        let selector = LabelSelector {
            match_labels: labels(&[("app", "web")]),
            match_expressions: vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "NotIn".into(),
                    values: vec!["db".into()],
                },
                LabelSelectorRequirement {
                    key: "canary".into(),
                    operator: "DoesNotExist".into(),
                    values: vec![],
                },
            ],
        };
        let compiled = Selector::compile(Some(&selector), &[]).unwrap();
        assert!(compiled.matches(&labels(&[("app", "web")])));
        assert!(compiled.matches(&labels(&[("app", "web"), ("tier", "front")])));
        assert!(!compiled.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(!compiled.matches(&labels(&[("app", "web"), ("canary", "1")])));
        assert!(!compiled.matches(&labels(&[("app", "api")])));
        assert!(
            !Selector::compile(None, &[]).unwrap().matches(&labels(&[])),
            "a missing selector selects nothing"
        );
        assert!(Selector::compile(Some(&LabelSelector::default()), &[]).unwrap().matches(&labels(&[])));
        let bad = LabelSelector {
            match_labels: Labels::new(),
            match_expressions: vec![LabelSelectorRequirement {
                key: "a".into(),
                operator: "Near".into(),
                values: vec![],
            }],
        };
        assert!(Selector::compile(Some(&bad), &[]).unwrap_err().contains("unknown operator"));
    }

    #[test]
    fn host_ports_collide_unless_addresses_differ() {
        let port =
            |ip: &str, port: i32, protocol: &str| HostPort { ip: ip.into(), port, protocol: protocol.into() };
        assert!(port("0.0.0.0", 80, "TCP").collides(&port("10.0.0.1", 80, "TCP")));
        assert!(!port("10.0.0.2", 80, "TCP").collides(&port("10.0.0.1", 80, "TCP")));
        assert!(!port("0.0.0.0", 80, "UDP").collides(&port("0.0.0.0", 80, "TCP")));
        assert!(!port("0.0.0.0", 81, "TCP").collides(&port("0.0.0.0", 80, "TCP")));
    }
}
