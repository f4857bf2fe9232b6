//! What can go wrong in a reconcile: a write to the cluster or a call to the cloud provider. Either way the
//! reconciler's key is retried with backoff; "does not fit" and "not ready yet" are outcomes, not errors.

/// Why a reconcile failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Reading or writing the cluster failed.
    #[error("cluster: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The cloud provider failed.
    #[error("cloud provider: {0}")]
    Provider(#[from] karpenter_cloud::Error),
}

/// `Result` with an [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
