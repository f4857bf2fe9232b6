//! Well-known label keys, aliases and values, with upstream's names (`pkg/apis/v1/labels.go`).

/// `karpenter.sh/nodepool`.
pub const NODE_POOL: &str = "karpenter.sh/nodepool";
/// `karpenter.sh/capacity-type`.
pub const CAPACITY_TYPE: &str = "karpenter.sh/capacity-type";
/// `karpenter.sh/registered`: set on templates so pods selecting it simulate correctly.
pub const REGISTERED: &str = "karpenter.sh/registered";
/// `karpenter.sh/initialized`.
pub const INITIALIZED: &str = "karpenter.sh/initialized";
/// `topology.kubernetes.io/zone`.
pub const ZONE: &str = "topology.kubernetes.io/zone";
/// `topology.kubernetes.io/region`.
pub const REGION: &str = "topology.kubernetes.io/region";
/// `node.kubernetes.io/instance-type`.
pub const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
/// `kubernetes.io/arch`.
pub const ARCH: &str = "kubernetes.io/arch";
/// `kubernetes.io/os`.
pub const OS: &str = "kubernetes.io/os";
/// `node.kubernetes.io/windows-build`.
pub const WINDOWS_BUILD: &str = "node.kubernetes.io/windows-build";
/// `karpenter.sh/reservation-id`: the capacity reservation of a `reserved` offering.
pub const RESERVATION_ID: &str = "karpenter.sh/reservation-id";
/// `kubernetes.io/hostname`.
pub const HOSTNAME: &str = "kubernetes.io/hostname";

/// Capacity type values.
pub const CAPACITY_TYPE_ON_DEMAND: &str = "on-demand";
/// Spot capacity.
pub const CAPACITY_TYPE_SPOT: &str = "spot";
/// Reserved capacity (capacity reservations).
pub const CAPACITY_TYPE_RESERVED: &str = "reserved";

/// Labels an instance type may leave undefined while a pod still requires them: the scheduler assumes the node will
/// get them at launch (a zone, a capacity type...).
pub const WELL_KNOWN: [&str; 8] =
    [NODE_POOL, ZONE, REGION, INSTANCE_TYPE, ARCH, OS, CAPACITY_TYPE, WINDOWS_BUILD];

/// Deprecated keys and the stable keys they mean.
const ALIASES: [(&str, &str); 5] = [
    ("failure-domain.beta.kubernetes.io/zone", ZONE),
    ("failure-domain.beta.kubernetes.io/region", REGION),
    ("beta.kubernetes.io/arch", ARCH),
    ("beta.kubernetes.io/os", OS),
    ("beta.kubernetes.io/instance-type", INSTANCE_TYPE),
];

/// Maps a deprecated label key onto its stable name; other keys are returned unchanged.
pub fn normalize(key: &str) -> &str {
    ALIASES.iter().find(|(alias, _)| *alias == key).map_or(key, |(_, stable)| stable)
}

/// Keys the scheduler adds to templates only to simulate, never written to a NodeClaim.
pub(crate) fn is_simulation_only(key: &str) -> bool {
    key == REGISTERED || key == INITIALIZED
}

/// Keys Karpenter reserves (`IsRestrictedLabel`): the hostname, and the `karpenter.sh` domain and its subdomains
/// except the well-known labels.
pub fn is_restricted(key: &str) -> bool {
    let key = normalize(key);
    if WELL_KNOWN.contains(&key) {
        return false;
    }
    let domain = key.split_once('/').map_or("", |(domain, _)| domain);
    key == HOSTNAME || domain == "karpenter.sh" || domain.ends_with(".karpenter.sh")
}

/// Keys that never become NodeClaim labels: well-known, restricted and simulation-only keys.
pub(crate) fn is_label_resolved_by_provider(key: &str) -> bool {
    WELL_KNOWN.contains(&key) || is_simulation_only(key) || is_restricted(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_map_onto_stable_keys() {
        assert_eq!(normalize("beta.kubernetes.io/arch"), ARCH);
        assert_eq!(normalize("failure-domain.beta.kubernetes.io/zone"), ZONE);
        assert_eq!(normalize("example.com/team"), "example.com/team");
    }

    #[test]
    fn restricted_keys_follow_upstream() {
        assert!(is_restricted(HOSTNAME));
        assert!(is_restricted("karpenter.sh/custom"));
        assert!(is_restricted("team.karpenter.sh/custom"));
        assert!(!is_restricted(CAPACITY_TYPE), "well-known keys of the domain are allowed");
        assert!(!is_restricted("karpenter.k8s.aws/instance-family"));
        assert!(!is_restricted("example.com/team"));
    }

    #[test]
    fn restricted_domains_are_not_copied_to_labels() {
        assert!(is_label_resolved_by_provider("karpenter.sh/anything"));
        assert!(is_label_resolved_by_provider("sub.karpenter.sh/anything"));
        assert!(is_label_resolved_by_provider(HOSTNAME));
        assert!(!is_label_resolved_by_provider("example.com/team"));
    }
}
