//! Injected capacity failures: which offerings the KWOK provider pretends have no capacity, so that the
//! controller's fallback to other offerings can be exercised against the real API server. Upstream's KWOK
//! provider has no such switch (its launches never fail for capacity); this one fails as the AWS provider
//! does (`aws/karpenter-provider-aws: pkg/providers/instance/instance.go`, insufficient-capacity fleet
//! errors).

use std::fmt;
use std::str::FromStr;

use karpenter_cloud::OfferingKey;

/// The environment variable the `karpenter` binary reads the patterns from (a comma-separated list of
/// [`OfferingPattern`]s, see [`parse_list`]); the library itself reads no environment.
pub const ENV: &str = "KWOK_INSUFFICIENT_CAPACITY";

/// A set of offerings, written `<instance-type>/<zone>/<capacity-type>` where any part may be `*`:
/// `c-1x-amd64-linux/test-zone-a/spot`, `*/test-zone-b/*` (a whole zone), `*/*/spot` (all spot capacity).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OfferingPattern {
    /// The instance type, or `None` for any.
    pub instance_type: Option<String>,
    /// The zone, or `None` for any.
    pub zone: Option<String>,
    /// The capacity type, or `None` for any.
    pub capacity_type: Option<String>,
}

impl OfferingPattern {
    /// A pattern that matches exactly one offering.
    pub fn exactly(key: &OfferingKey) -> Self {
        OfferingPattern {
            instance_type: Some(key.instance_type.clone()),
            zone: Some(key.zone.clone()),
            capacity_type: Some(key.capacity_type.clone()),
        }
    }

    /// Whether the offering is one of the pattern's.
    pub fn matches(&self, key: &OfferingKey) -> bool {
        let part = |pattern: &Option<String>, value: &str| pattern.as_deref().is_none_or(|p| p == value);
        part(&self.instance_type, &key.instance_type)
            && part(&self.zone, &key.zone)
            && part(&self.capacity_type, &key.capacity_type)
    }
}

impl fmt::Display for OfferingPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let part = |p: &Option<String>| p.clone().unwrap_or_else(|| "*".to_string());
        write!(f, "{}/{}/{}", part(&self.instance_type), part(&self.zone), part(&self.capacity_type))
    }
}

/// A pattern that does not read as `<instance-type>/<zone>/<capacity-type>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ENV}: {text:?} is not <instance-type>/<zone>/<capacity-type> (each part a name or *)")]
pub struct PatternError {
    /// The text that was read.
    pub text: String,
}

impl FromStr for OfferingPattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || PatternError { text: text.to_string() };
        let parts: Vec<&str> = text.trim().split('/').map(str::trim).collect();
        let [instance_type, zone, capacity_type] = parts.as_slice() else { return Err(bad()) };
        let part = |p: &str| match p {
            "" => Err(bad()),
            "*" => Ok(None),
            name => Ok(Some(name.to_string())),
        };
        Ok(OfferingPattern {
            instance_type: part(instance_type)?,
            zone: part(zone)?,
            capacity_type: part(capacity_type)?,
        })
    }
}

/// Reads a comma-separated list of patterns; empty entries are ignored.
pub fn parse_list(text: &str) -> Result<Vec<OfferingPattern>, PatternError> {
    text.split(',').filter(|entry| !entry.trim().is_empty()).map(str::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_read_with_wildcards_and_match_offerings() {
        let patterns =
            parse_list(" c-1x-amd64-linux/test-zone-a/spot, */test-zone-b/* ,*/*/on-demand,").unwrap();
        let shown: Vec<String> = patterns.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["c-1x-amd64-linux/test-zone-a/spot", "*/test-zone-b/*", "*/*/on-demand"]);
        let key = |t: &str, z: &str, c: &str| OfferingKey::new(t, z, c);
        assert!(patterns[0].matches(&key("c-1x-amd64-linux", "test-zone-a", "spot")));
        assert!(!patterns[0].matches(&key("c-1x-amd64-linux", "test-zone-a", "on-demand")));
        assert!(patterns[1].matches(&key("m-2x-arm64-linux", "test-zone-b", "spot")));
        assert!(!patterns[1].matches(&key("m-2x-arm64-linux", "test-zone-c", "spot")));
        assert!(patterns[2].matches(&key("s-4x-amd64-windows", "test-zone-d", "on-demand")));
        let exact = OfferingPattern::exactly(&key("a", "b", "c"));
        assert!(exact.matches(&key("a", "b", "c")) && !exact.matches(&key("a", "b", "d")));
    }

    #[test]
    fn a_malformed_pattern_is_named() {
        for bad in ["c-1x-amd64-linux/test-zone-a", "a/b/c/d", "a//c", "spot"] {
            let error = parse_list(bad).unwrap_err();
            assert_eq!(error.text, bad);
            assert!(error.to_string().starts_with("KWOK_INSUFFICIENT_CAPACITY: "), "{error}");
        }
        assert_eq!(parse_list(""), Ok(Vec::new()));
    }
}
