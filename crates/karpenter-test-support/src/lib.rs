//! Dev-only support for integration tests that need the real components of `docs/testing.md`: a `kube::Client`
//! on the local test cluster (`cargo xtask cluster up`) and an AWS SDK configuration pointed at moto
//! (`cargo xtask moto up`). When a component is not running, the error says which command starts it; tests fail
//! with that message rather than skip.

use std::path::PathBuf;

/// Why a component of the test harness could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The cluster's kubeconfig is missing.
    #[error("the test cluster is not up ({path} is missing): run `cargo xtask cluster up`")]
    ClusterDown {
        /// Where the kubeconfig was looked for.
        path: String,
    },
    /// The kubeconfig could not be read or used.
    #[error(
        "the test cluster's kubeconfig {path} could not be used: {reason}; try `cargo xtask cluster down && cargo xtask cluster up`"
    )]
    BadKubeconfig {
        /// The kubeconfig.
        path: String,
        /// Why.
        reason: String,
    },
    /// moto's endpoint file is missing.
    #[error("moto is not running ({path} is missing): run `cargo xtask moto up`")]
    MotoDown {
        /// Where the endpoint was looked for.
        path: String,
    },
}

/// The workspace's `target` folder (or `CARGO_TARGET_DIR`).
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
    }
}

/// Path of the test cluster's kubeconfig.
pub fn kubeconfig_path() -> PathBuf {
    target_dir().join("cluster/kubeconfig")
}

/// A client for the local test cluster.
pub async fn cluster() -> Result<kube::Client, HarnessError> {
    cluster_at(&kubeconfig_path()).await
}

/// A client for the cluster of the kubeconfig at `path`.
pub async fn cluster_at(path: &std::path::Path) -> Result<kube::Client, HarnessError> {
    let shown = path.display().to_string();
    if !path.exists() {
        return Err(HarnessError::ClusterDown { path: shown });
    }
    let bad = |reason: String| HarnessError::BadKubeconfig { path: shown.clone(), reason };
    // kube's TLS needs a process-wide crypto provider, and rustls picks none by itself when more than one is
    // compiled in (a workspace-wide test build has the AWS SDK's beside ring). The controller installs ring too.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|e| bad(e.to_string()))?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| bad(e.to_string()))?;
    kube::Client::try_from(config).map_err(|e| bad(e.to_string()))
}

/// Path of the file holding moto's endpoint URL.
pub fn moto_endpoint_path() -> PathBuf {
    target_dir().join("moto/endpoint")
}

/// An AWS SDK configuration pointed at the local moto server, with test credentials and region us-east-1.
pub async fn moto() -> Result<aws_config::SdkConfig, HarnessError> {
    moto_at(&moto_endpoint_path()).await
}

/// An AWS SDK configuration pointed at the moto endpoint written in the file at `path`.
pub async fn moto_at(path: &std::path::Path) -> Result<aws_config::SdkConfig, HarnessError> {
    let endpoint = std::fs::read_to_string(path)
        .map_err(|_| HarnessError::MotoDown { path: path.display().to_string() })?;
    Ok(aws_config::defaults(aws_config::BehaviorVersion::v2026_01_12())
        .endpoint_url(endpoint.trim())
        .region(aws_config::Region::new("us-east-1"))
        .test_credentials()
        .load()
        .await)
}
