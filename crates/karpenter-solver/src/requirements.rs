//! The requirement algebra of `pkg/scheduling/requirement.go` and `requirements.go`, over interned labels.
//!
//! A requirement on one key is a set of allowed values, possibly the complement of a set (`NotIn`, `Exists`), with
//! optional inclusive integer bounds (`Gt N` is kept as `>= N+1`, `Lt N` as `<= N-1`). Keys and values are interned
//! ([`crate::interner`]) so that the hot loops compare integers, not strings.

use std::borrow::Cow;
use std::fmt::Write as _;

pub(crate) use crate::ids::{KeyId, ValueId};
pub(crate) use crate::interner::Interner;
use crate::labels;

/// Whether a well-known label that one side leaves undefined is compatible with any value: true for NodeClaims,
/// whose zone, capacity type and the like are decided at launch, false for nodes that already exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Undefined {
    /// An undefined well-known label may still take the value asked for.
    Allowed,
    /// Every label asked for must be defined.
    Refused,
}

/// The operators of `NodeSelectorRequirement`, with Karpenter's `Gte` and `Lte`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    Gt,
    Lt,
    Gte,
    Lte,
}

impl Operator {
    pub(crate) fn parse(operator: &str) -> Option<Operator> {
        Some(match operator {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            "Gt" => Operator::Gt,
            "Lt" => Operator::Lt,
            "Gte" => Operator::Gte,
            "Lte" => Operator::Lte,
            _ => return None,
        })
    }
}

/// The operator a requirement is equivalent to once bounds are set aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// What one key may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requirement {
    complement: bool,
    /// Sorted, distinct.
    values: Vec<ValueId>,
    gte: Option<i64>,
    lte: Option<i64>,
    pub(crate) min_values: Option<u32>,
}

/// Why a requirement could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RequirementError {
    UnknownOperator(String),
    NeedsValues,
    NeedsOneInteger,
    UnexpectedValues,
}

impl std::fmt::Display for RequirementError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequirementError::UnknownOperator(op) => write!(
                f,
                "unknown operator {op:?}, expected one of In, NotIn, Exists, DoesNotExist, Gt, Lt, Gte, Lte"
            ),
            RequirementError::NeedsValues => f.write_str("operator In needs at least one value"),
            RequirementError::NeedsOneInteger => {
                f.write_str("operators Gt, Lt, Gte and Lte need exactly one integer value")
            }
            RequirementError::UnexpectedValues => {
                f.write_str("operators Exists and DoesNotExist take no values")
            }
        }
    }
}

impl Requirement {
    pub(crate) fn exists() -> Self {
        Requirement { complement: true, values: Vec::new(), gte: None, lte: None, min_values: None }
    }

    pub(crate) fn does_not_exist() -> Self {
        Requirement { complement: false, values: Vec::new(), gte: None, lte: None, min_values: None }
    }

    pub(crate) fn in_values(mut values: Vec<ValueId>) -> Self {
        values.sort_unstable();
        values.dedup();
        Requirement { complement: false, values, gte: None, lte: None, min_values: None }
    }

    /// Builds a requirement from an operator and its string values, checking the value count.
    pub(crate) fn build(
        interner: &mut Interner,
        operator: &str,
        values: &[String],
        min_values: Option<u32>,
    ) -> Result<Requirement, RequirementError> {
        let op = Operator::parse(operator)
            .ok_or_else(|| RequirementError::UnknownOperator(operator.to_string()))?;
        let mut ids = || values.iter().map(|v| interner.value(v)).collect::<Vec<_>>();
        let integer = || -> Result<i64, RequirementError> {
            match values {
                [one] => one.trim().parse::<i64>().map_err(|_| RequirementError::NeedsOneInteger),
                _ => Err(RequirementError::NeedsOneInteger),
            }
        };
        let mut requirement = match op {
            Operator::In => {
                if values.is_empty() {
                    return Err(RequirementError::NeedsValues);
                }
                Requirement::in_values(ids())
            }
            Operator::NotIn => {
                let mut values = ids();
                values.sort_unstable();
                values.dedup();
                Requirement { complement: true, values, gte: None, lte: None, min_values: None }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !values.is_empty() {
                    return Err(RequirementError::UnexpectedValues);
                }
                if op == Operator::Exists { Requirement::exists() } else { Requirement::does_not_exist() }
            }
            Operator::Gt => match integer()?.checked_add(1) {
                Some(bound) => Requirement { gte: Some(bound), ..Requirement::exists() },
                // Nothing is greater than the largest integer.
                None => Requirement::does_not_exist(),
            },
            Operator::Lt => match integer()?.checked_sub(1) {
                Some(bound) => Requirement { lte: Some(bound), ..Requirement::exists() },
                None => Requirement::does_not_exist(),
            },
            Operator::Gte => Requirement { gte: Some(integer()?), ..Requirement::exists() },
            Operator::Lte => Requirement { lte: Some(integer()?), ..Requirement::exists() },
        };
        requirement.min_values = min_values;
        Ok(requirement)
    }

    pub(crate) fn shape(&self) -> Shape {
        match (self.complement, self.values.is_empty()) {
            (true, false) => Shape::NotIn,
            (true, true) => Shape::Exists,
            (false, false) => Shape::In,
            (false, true) => Shape::DoesNotExist,
        }
    }

    /// The concrete allowed values of an `In` requirement (empty for complements).
    pub(crate) fn values(&self) -> &[ValueId] {
        if self.complement { &[] } else { &self.values }
    }

    fn within_bounds(&self, interner: &Interner, value: ValueId, gte: Option<i64>, lte: Option<i64>) -> bool {
        within_bounds(interner, value, gte, lte)
    }

    /// True when the requirement allows the value.
    pub(crate) fn has(&self, interner: &Interner, value: ValueId) -> bool {
        let listed = self.values.binary_search(&value).is_ok();
        listed != self.complement && self.within_bounds(interner, value, self.gte, self.lte)
    }

    /// The values both requirements allow.
    pub(crate) fn intersection(&self, interner: &Interner, other: &Requirement) -> Requirement {
        let complement = self.complement && other.complement;
        let gte = max_option(self.gte, other.gte);
        let lte = min_option(self.lte, other.lte);
        let min_values = max_option(self.min_values, other.min_values);
        if let (Some(low), Some(high)) = (gte, lte)
            && low > high
        {
            return Requirement { min_values, ..Requirement::does_not_exist() };
        }
        let mut values = match (self.complement, other.complement) {
            (true, true) => union(&self.values, &other.values),
            (true, false) => difference(&other.values, &self.values),
            (false, true) => difference(&self.values, &other.values),
            (false, false) => intersect(&self.values, &other.values),
        };
        values.retain(|&v| within_bounds(interner, v, gte, lte));
        // Bounds only mean something for complements; a concrete set has already been filtered by them.
        let (gte, lte) = if complement { (gte, lte) } else { (None, None) };
        Requirement { complement, values, gte, lte, min_values }
    }

    /// True when some value satisfies both, without building the intersection.
    pub(crate) fn has_intersection(&self, interner: &Interner, other: &Requirement) -> bool {
        let gte = max_option(self.gte, other.gte);
        let lte = min_option(self.lte, other.lte);
        if let (Some(low), Some(high)) = (gte, lte)
            && low > high
        {
            return false;
        }
        match (self.complement, other.complement) {
            (true, true) => true,
            (true, false) => other
                .values
                .iter()
                .any(|v| self.values.binary_search(v).is_err() && within_bounds(interner, *v, gte, lte)),
            (false, true) => self
                .values
                .iter()
                .any(|v| other.values.binary_search(v).is_err() && within_bounds(interner, *v, gte, lte)),
            (false, false) => {
                let (small, large) =
                    if self.values.len() <= other.values.len() { (self, other) } else { (other, self) };
                small
                    .values
                    .iter()
                    .any(|v| large.values.binary_search(v).is_ok() && within_bounds(interner, *v, gte, lte))
            }
        }
    }

    /// A deterministic value the requirement allows, used to label a node for a custom requirement: the smallest
    /// allowed value of an `In`, otherwise the smallest non-negative integer inside the bounds that is not excluded.
    pub(crate) fn any_value(&self, interner: &Interner) -> Option<String> {
        match self.shape() {
            Shape::In => self.values.iter().map(|v| interner.value_name(*v)).min().map(Cow::into_owned),
            Shape::DoesNotExist => None,
            Shape::NotIn | Shape::Exists => {
                let low = self.gte.unwrap_or(0).max(0);
                let high = self.lte.unwrap_or(i64::MAX);
                (low..=high)
                    .take(self.values.len() + 1)
                    .find(|candidate| !self.values.iter().any(|v| interner.value_int(*v) == Some(*candidate)))
                    .map(|v| v.to_string())
            }
        }
    }

    /// Renders as a node selector requirement: `(operator, values)` pairs (two for a bounded range).
    pub(crate) fn to_selector(&self, interner: &Interner) -> Vec<(&'static str, Vec<String>)> {
        let names = |values: &[ValueId]| {
            let mut names: Vec<String> = values.iter().map(|v| interner.value_name(*v).to_string()).collect();
            names.sort();
            names
        };
        match (self.gte, self.lte) {
            (Some(low), Some(high)) => vec![("Gte", vec![low.to_string()]), ("Lte", vec![high.to_string()])],
            (Some(low), None) => vec![("Gte", vec![low.to_string()])],
            (None, Some(high)) => vec![("Lte", vec![high.to_string()])],
            (None, None) => vec![match self.shape() {
                Shape::In => ("In", names(&self.values)),
                Shape::NotIn => ("NotIn", names(&self.values)),
                Shape::Exists => ("Exists", Vec::new()),
                Shape::DoesNotExist => ("DoesNotExist", Vec::new()),
            }],
        }
    }

    /// Human-readable form, e.g. `In [a b]`, `NotIn [x] >=4`, at most five values listed.
    pub(crate) fn describe(&self, interner: &Interner) -> String {
        let mut text = String::new();
        match self.shape() {
            Shape::Exists => text.push_str("Exists"),
            Shape::DoesNotExist => text.push_str("DoesNotExist"),
            shape => {
                let mut names: Vec<Cow<'_, str>> =
                    self.values.iter().map(|v| interner.value_name(*v)).collect();
                names.sort_unstable();
                let shown = names.iter().take(5).map(|n| n.as_ref()).collect::<Vec<_>>().join(" ");
                let op = if shape == Shape::In { "In" } else { "NotIn" };
                let _ = write!(text, "{op} [{shown}");
                if names.len() > 5 {
                    let _ = write!(text, " and {} others", names.len() - 5);
                }
                text.push(']');
            }
        }
        if let Some(low) = self.gte {
            let _ = write!(text, " >={low}");
        }
        if let Some(high) = self.lte {
            let _ = write!(text, " <={high}");
        }
        if let Some(min) = self.min_values {
            let _ = write!(text, " minValues {min}");
        }
        text
    }
}

fn within_bounds(interner: &Interner, value: ValueId, gte: Option<i64>, lte: Option<i64>) -> bool {
    if gte.is_none() && lte.is_none() {
        return true;
    }
    let Some(number) = interner.value_int(value) else {
        // With bounds set, values that are not integers are out of range.
        return false;
    };
    gte.is_none_or(|low| number >= low) && lte.is_none_or(|high| number <= high)
}

fn max_option<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn min_option<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn union(a: &[ValueId], b: &[ValueId]) -> Vec<ValueId> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    out.extend_from_slice(a);
    out.extend_from_slice(b);
    out.sort_unstable();
    out.dedup();
    out
}

fn difference(a: &[ValueId], b: &[ValueId]) -> Vec<ValueId> {
    a.iter().copied().filter(|v| b.binary_search(v).is_err()).collect()
}

fn intersect(a: &[ValueId], b: &[ValueId]) -> Vec<ValueId> {
    a.iter().copied().filter(|v| b.binary_search(v).is_ok()).collect()
}

/// Requirements on several keys, at most one per key, kept sorted by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Requirements {
    entries: Vec<(KeyId, Requirement)>,
}

/// A key on which two requirement sets disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Conflict {
    pub(crate) key: KeyId,
    /// True when the key is required but the other side does not define it at all.
    pub(crate) undefined: bool,
}

impl Requirements {
    pub(crate) fn iter(&self) -> impl Iterator<Item = (KeyId, &Requirement)> {
        self.entries.iter().map(|(k, r)| (*k, r))
    }

    pub(crate) fn get(&self, key: KeyId) -> Option<&Requirement> {
        self.entries.binary_search_by_key(&key, |(k, _)| *k).ok().map(|i| &self.entries[i].1)
    }

    pub(crate) fn get_mut(&mut self, key: KeyId) -> Option<&mut Requirement> {
        self.entries.binary_search_by_key(&key, |(k, _)| *k).ok().map(|i| &mut self.entries[i].1)
    }

    /// Adds a requirement, intersecting it with any requirement already on the key.
    pub(crate) fn add(&mut self, interner: &Interner, key: KeyId, requirement: Requirement) {
        match self.entries.binary_search_by_key(&key, |(k, _)| *k) {
            Ok(i) => {
                let merged = requirement.intersection(interner, &self.entries[i].1);
                self.entries[i].1 = merged;
            }
            Err(i) => self.entries.insert(i, (key, requirement)),
        }
    }

    /// Adds every requirement of `other`.
    pub(crate) fn add_all(&mut self, interner: &Interner, other: &Requirements) {
        for (key, requirement) in other.iter() {
            self.add(interner, key, requirement.clone());
        }
    }

    /// Removes the requirement on a key.
    pub(crate) fn remove(&mut self, key: KeyId) {
        self.entries.retain(|(k, _)| *k != key);
    }

    /// `In` requirements for a set of labels.
    pub(crate) fn from_labels<'a>(
        interner: &mut Interner,
        labels: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Requirements {
        let mut requirements = Requirements::default();
        for (key, value) in labels {
            let key = interner.key(key);
            let value = interner.value(value);
            requirements.add(interner, key, Requirement::in_values(vec![value]));
        }
        requirements
    }

    /// True when any requirement carries minValues.
    pub(crate) fn has_min_values(&self) -> bool {
        self.entries.iter().any(|(_, r)| r.min_values.is_some())
    }

    /// Upstream's `Compatible`: every key `other` constrains must be defined here (unless well-known and
    /// `allow_undefined` is set, or `other` only excludes values), and shared keys must intersect.
    pub(crate) fn compatible(
        &self,
        interner: &Interner,
        other: &Requirements,
        undefined: Undefined,
    ) -> Result<(), Conflict> {
        for (key, requirement) in other.iter() {
            if undefined == Undefined::Allowed && interner.is_well_known(key) {
                continue;
            }
            if self.get(key).is_some() || matches!(requirement.shape(), Shape::NotIn | Shape::DoesNotExist) {
                continue;
            }
            return Err(Conflict { key, undefined: true });
        }
        self.intersects(interner, other)
    }

    /// Upstream's `Intersects`: every key both sides constrain must have a common value, except that two
    /// requirements which only exclude values never conflict.
    pub(crate) fn intersects(&self, interner: &Interner, other: &Requirements) -> Result<(), Conflict> {
        let (mut i, mut j) = (0, 0);
        while i < self.entries.len() && j < other.entries.len() {
            let (key_a, existing) = &self.entries[i];
            let (key_b, incoming) = &other.entries[j];
            match key_a.cmp(key_b) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    if !existing.has_intersection(interner, incoming) {
                        let excludes_only =
                            |r: &Requirement| matches!(r.shape(), Shape::NotIn | Shape::DoesNotExist);
                        if !(excludes_only(incoming) && excludes_only(existing)) {
                            return Err(Conflict { key: *key_a, undefined: false });
                        }
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        Ok(())
    }

    /// The requirements of `self` that `base` does not have, or has differently: what a set narrowed from `base`
    /// added to it.
    pub(crate) fn changed_from(&self, base: &Requirements) -> Requirements {
        let entries = self
            .entries
            .iter()
            .filter(|(key, requirement)| base.get(*key) != Some(requirement))
            .cloned()
            .collect();
        Requirements { entries }
    }

    /// Explains a conflict found by [`Requirements::compatible`] in words.
    pub(crate) fn explain(&self, interner: &Interner, other: &Requirements, conflict: Conflict) -> String {
        let key = interner.key_name(conflict.key);
        if conflict.undefined {
            return format!("label {key:?} does not have known values");
        }
        let existing = self.get(conflict.key).map_or_else(|| "Exists".to_string(), |r| r.describe(interner));
        let incoming = other.get(conflict.key).map_or_else(|| "Exists".to_string(), |r| r.describe(interner));
        format!("key {key}, {incoming} not in {existing}")
    }

    /// Renders the requirements as `key Op [values]`, sorted by key, skipping hostname.
    pub(crate) fn describe(&self, interner: &Interner) -> String {
        let mut parts: Vec<String> = self
            .entries
            .iter()
            .filter(|(k, _)| interner.key_name(*k) != labels::HOSTNAME)
            .map(|(k, r)| format!("{} {}", interner.key_name(*k), r.describe(interner)))
            .collect();
        parts.sort();
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(interner: &mut Interner, op: &str, values: &[&str]) -> Requirement {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        Requirement::build(interner, op, &values, None).unwrap()
    }

    fn show(interner: &Interner, r: &Requirement) -> String {
        r.describe(interner)
    }

    #[test]
    fn intersections_follow_set_algebra() {
        let mut i = Interner::new(&[]);
        let cases = [
            (("In", &["a", "b"][..]), ("In", &["b", "c"][..]), "In [b]"),
            (("In", &["a", "b"][..]), ("NotIn", &["b"][..]), "In [a]"),
            (("NotIn", &["a"][..]), ("NotIn", &["b"][..]), "NotIn [a b]"),
            (("Exists", &[][..]), ("In", &["a"][..]), "In [a]"),
            (("Exists", &[][..]), ("DoesNotExist", &[][..]), "DoesNotExist"),
            (("Gt", &["3"][..]), ("In", &["2", "4", "x"][..]), "In [4]"),
            (("Gt", &["3"][..]), ("Lt", &["10"][..]), "Exists >=4 <=9"),
            (("Gte", &["5"][..]), ("Lte", &["4"][..]), "DoesNotExist"),
            (("Gt", &["1"][..]), ("NotIn", &["5"][..]), "NotIn [5] >=2"),
            (("Gt", &["9223372036854775807"][..]), ("Exists", &[][..]), "DoesNotExist"),
        ];
        for ((op_a, va), (op_b, vb), expected) in cases {
            let a = req(&mut i, op_a, va);
            let b = req(&mut i, op_b, vb);
            assert_eq!(show(&i, &a.intersection(&i, &b)), expected, "{op_a} {va:?} ∩ {op_b} {vb:?}");
            assert_eq!(
                show(&i, &b.intersection(&i, &a)),
                expected,
                "commutes: {op_b} {vb:?} ∩ {op_a} {va:?}"
            );
            let non_empty = a.intersection(&i, &b).shape() != Shape::DoesNotExist;
            assert_eq!(a.has_intersection(&i, &b), non_empty, "has_intersection agrees for {op_a} ∩ {op_b}");
        }
    }

    #[test]
    fn undefined_well_known_labels_are_allowed_only_when_asked() {
        let mut i = Interner::new(&[]);
        let zone = i.key(labels::ZONE);
        let custom = i.key("example.com/team");
        let node = Requirements::default();
        let mut pod = Requirements::default();
        let r = req(&mut i, "In", &["a"]);
        pod.add(&i, zone, r);
        assert!(node.compatible(&i, &pod, Undefined::Allowed).is_ok());
        assert_eq!(
            node.compatible(&i, &pod, Undefined::Refused),
            Err(Conflict { key: zone, undefined: true })
        );
        let mut pod = Requirements::default();
        let r = req(&mut i, "In", &["ml"]);
        pod.add(&i, custom, r);
        assert_eq!(
            node.compatible(&i, &pod, Undefined::Allowed),
            Err(Conflict { key: custom, undefined: true })
        );
        let mut pod = Requirements::default();
        let r = req(&mut i, "NotIn", &["ml"]);
        pod.add(&i, custom, r);
        assert!(
            node.compatible(&i, &pod, Undefined::Refused).is_ok(),
            "NotIn on an undefined label is satisfied"
        );
    }

    #[test]
    fn two_exclusions_never_conflict() {
        let mut i = Interner::new(&[]);
        let key = i.key("example.com/team");
        let mut a = Requirements::default();
        let r = req(&mut i, "DoesNotExist", &[]);
        a.add(&i, key, r);
        let mut b = Requirements::default();
        let r = req(&mut i, "NotIn", &["x"]);
        b.add(&i, key, r);
        assert!(a.intersects(&i, &b).is_ok());
        let mut c = Requirements::default();
        let r = req(&mut i, "In", &["x"]);
        c.add(&i, key, r);
        assert_eq!(a.intersects(&i, &c), Err(Conflict { key, undefined: false }));
    }

    #[test]
    fn aliases_are_normalised_when_interned() {
        let mut i = Interner::new(&[]);
        assert_eq!(i.key("beta.kubernetes.io/arch"), i.key(labels::ARCH));
        let zone = i.key("failure-domain.beta.kubernetes.io/zone");
        assert!(i.is_well_known(zone));
    }

    #[test]
    fn malformed_requirements_are_rejected() {
        let mut i = Interner::new(&[]);
        let none: Vec<String> = Vec::new();
        assert_eq!(Requirement::build(&mut i, "In", &none, None), Err(RequirementError::NeedsValues));
        assert_eq!(
            Requirement::build(&mut i, "Gt", &["x".to_string()], None),
            Err(RequirementError::NeedsOneInteger)
        );
        assert_eq!(
            Requirement::build(&mut i, "Exists", &["x".to_string()], None),
            Err(RequirementError::UnexpectedValues)
        );
        assert!(matches!(
            Requirement::build(&mut i, "Near", &none, None),
            Err(RequirementError::UnknownOperator(_))
        ));
    }

    #[test]
    fn any_value_is_deterministic() {
        let mut i = Interner::new(&[]);
        assert_eq!(req(&mut i, "In", &["b", "a"]).any_value(&i).as_deref(), Some("a"));
        assert_eq!(req(&mut i, "NotIn", &["0", "1"]).any_value(&i).as_deref(), Some("2"));
        assert_eq!(req(&mut i, "Gt", &["3"]).any_value(&i).as_deref(), Some("4"));
        assert_eq!(req(&mut i, "DoesNotExist", &[]).any_value(&i), None);
    }
}
