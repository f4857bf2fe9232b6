//! The errors the core branches on, one enum for every provider (upstream's `NodeClaimNotFoundError`,
//! `InsufficientCapacityError`, `NodeClassNotReadyError` and `CreateError` in
//! `kubernetes-sigs/karpenter: pkg/cloudprovider/types.go`, and the error label values of
//! `pkg/cloudprovider/metrics/cloudprovider.go`).

use crate::types::OfferingKey;

/// The result of a provider call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a provider call failed. The core decides what to do from the variant alone; the text is for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No machine has this provider id (or it is already terminated).
    #[error("no instance has provider id {provider_id:?}")]
    NotFound {
        /// The provider id that was asked for.
        provider_id: String,
    },
    /// The provider has no capacity for the offerings it tried. The core stops offering them for a while and
    /// plans again with what is left.
    #[error("insufficient capacity for {}", offering_list(offerings))]
    InsufficientCapacity {
        /// The offerings (type, zone, capacity type) that failed; empty when no offering was left to try at
        /// all.
        offerings: Vec<OfferingKey>,
    },
    /// The node class the NodeClaim names cannot be launched from yet (missing, or not resolved).
    #[error("node class is not ready: {reason}")]
    NodeClassNotReady {
        /// What is missing.
        reason: String,
    },
    /// The launch was refused for a reason other than capacity; repeating it unchanged fails again.
    #[error("launch failed ({reason}): {message}")]
    Launch {
        /// A CamelCase word for the NodeClaim's `Launched` condition, such as `InvalidRequest`.
        reason: String,
        /// The details.
        message: String,
    },
    /// The provider's API is rate-limiting us.
    #[error("the provider's API is throttling requests: {message}")]
    Throttled {
        /// What the provider said.
        message: String,
    },
    /// The provider's API could not be reached or answered with an error that fits no other variant.
    #[error("the provider's API failed: {message}")]
    Api {
        /// What failed.
        message: String,
        /// Whether the failure looks transient (a timeout, a server error) rather than a refusal.
        retryable: bool,
    },
}

impl Error {
    /// Whether repeating the same call later, unchanged, may succeed: true for throttling, transient API
    /// failures and a node class that is not ready yet. Insufficient capacity is not retryable in this sense:
    /// the right reaction is to plan again without the failed offerings, not to ask for them again.
    pub fn retryable(&self) -> bool {
        match self {
            Error::Throttled { .. } | Error::NodeClassNotReady { .. } => true,
            Error::Api { retryable, .. } => *retryable,
            Error::NotFound { .. } | Error::InsufficientCapacity { .. } | Error::Launch { .. } => false,
        }
    }

    /// A stable name of the variant, for metric labels. The first three are the values upstream's
    /// `karpenter_cloudprovider_errors_total` uses; upstream labels the others with an empty string.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NotFound { .. } => "NodeClaimNotFoundError",
            Error::InsufficientCapacity { .. } => "InsufficientCapacityError",
            Error::NodeClassNotReady { .. } => "NodeClassNotReadyError",
            Error::Launch { .. } => "CreateError",
            Error::Throttled { .. } => "ThrottledError",
            Error::Api { .. } => "ApiError",
        }
    }

    /// True for [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// The offerings an [`Error::InsufficientCapacity`] names; empty for every other variant.
    pub fn failed_offerings(&self) -> &[OfferingKey] {
        match self {
            Error::InsufficientCapacity { offerings } => offerings,
            _ => &[],
        }
    }
}

fn offering_list(offerings: &[OfferingKey]) -> String {
    if offerings.is_empty() {
        return "every requested offering (none was available)".to_string();
    }
    offerings.iter().map(OfferingKey::to_string).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    fn every_variant() -> Vec<Error> {
        vec![
            Error::NotFound { provider_id: "kwok://a".into() },
            Error::InsufficientCapacity {
                offerings: vec![
                    OfferingKey::new("c-1x-amd64-linux", "test-zone-a", "spot"),
                    OfferingKey::new("c-1x-amd64-linux", "test-zone-b", "spot"),
                ],
            },
            Error::InsufficientCapacity { offerings: vec![] },
            Error::NodeClassNotReady { reason: "KWOKNodeClass default not found".into() },
            Error::Launch { reason: "InvalidRequest".into(), message: "no instance type".into() },
            Error::Throttled { message: "429 Too Many Requests".into() },
            Error::Api { message: "connection refused".into(), retryable: true },
            Error::Api { message: "403 Forbidden".into(), retryable: false },
        ]
    }

    #[test]
    fn each_variant_has_a_kind_a_retry_answer_and_a_message() {
        let table: Vec<String> = every_variant()
            .iter()
            .map(|e| format!("{:<26} retryable={:<5} {e}", e.kind(), e.retryable()))
            .collect();
        expect![[r#"
            NodeClaimNotFoundError     retryable=false no instance has provider id "kwok://a"
            InsufficientCapacityError  retryable=false insufficient capacity for c-1x-amd64-linux/test-zone-a/spot, c-1x-amd64-linux/test-zone-b/spot
            InsufficientCapacityError  retryable=false insufficient capacity for every requested offering (none was available)
            NodeClassNotReadyError     retryable=true  node class is not ready: KWOKNodeClass default not found
            CreateError                retryable=false launch failed (InvalidRequest): no instance type
            ThrottledError             retryable=true  the provider's API is throttling requests: 429 Too Many Requests
            ApiError                   retryable=true  the provider's API failed: connection refused
            ApiError                   retryable=false the provider's API failed: 403 Forbidden"#]]
        .assert_eq(&table.join("\n"));
    }

    #[test]
    fn kinds_that_upstream_labels_keep_upstreams_names() {
        // Dashboards built on upstream's `karpenter_cloudprovider_errors_total{error=...}` keep working.
        let kinds: Vec<&str> = every_variant().iter().map(Error::kind).collect();
        for upstream in ["NodeClaimNotFoundError", "InsufficientCapacityError", "NodeClassNotReadyError"] {
            assert!(kinds.contains(&upstream), "{upstream} is missing from {kinds:?}");
        }
    }

    #[test]
    fn only_insufficient_capacity_names_offerings_and_only_not_found_is_not_found() {
        for error in every_variant() {
            let is_ice = matches!(error, Error::InsufficientCapacity { .. });
            if !is_ice {
                assert!(error.failed_offerings().is_empty(), "{error}");
            }
            assert_eq!(error.is_not_found(), error.kind() == "NodeClaimNotFoundError", "{error}");
        }
        assert_eq!(every_variant()[1].failed_offerings().len(), 2);
    }
}
