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
    /// The API server could not be restarted.
    #[error("restarting the test cluster's API server: {reason}")]
    Restart {
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

/// Stops the test cluster's kube-apiserver, waits `outage`, and starts it again with the same command line and
/// log, as `cargo xtask cluster up` started it; returns once the new process listens. Every client's connections
/// drop and every watch ends, which is what a control-plane upgrade or crash does to a controller. Blocking: the
/// caller's own requests fail until it returns. The harness's process list is updated, so `cargo xtask cluster
/// down` stops the new process.
pub fn restart_api_server(outage: std::time::Duration) -> Result<(), HarnessError> {
    use std::time::{Duration, Instant};
    let fail = |reason: String| HarnessError::Restart { reason };
    let dir = target_dir().join("cluster");
    let pids_path = dir.join("pids");
    let pids = std::fs::read_to_string(&pids_path)
        .map_err(|e| fail(format!("reading {}: {e}; is the cluster up?", pids_path.display())))?;
    let old: u32 = pids
        .lines()
        .filter_map(|line| line.strip_prefix("kube-apiserver "))
        .filter_map(|pid| pid.trim().parse().ok())
        .next_back()
        .ok_or_else(|| fail(format!("{} lists no kube-apiserver", pids_path.display())))?;
    let proc = PathBuf::from(format!("/proc/{old}"));
    let cmdline = std::fs::read(proc.join("cmdline"))
        .map_err(|e| fail(format!("reading the command line of pid {old}: {e}; is it running?")))?;
    let argv: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let (program, args) =
        argv.split_first().ok_or_else(|| fail(format!("pid {old} has an empty command line")))?;
    let port: u16 = args
        .iter()
        .find_map(|a| a.strip_prefix("--secure-port="))
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| fail("the API server's command line has no --secure-port".to_string()))?;

    // The process is the harness's child, not ours: it is gone when its /proc entry is, or is a zombie.
    let stopped = |within: Duration| {
        let started = Instant::now();
        while std::fs::read_to_string(proc.join("stat")).is_ok_and(|stat| !stat.contains(") Z ")) {
            if started.elapsed() > within {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        true
    };
    // SIGTERM first, as an upgrade stops it; the API server drains its requests and may take a while, so after
    // 15 s it is killed, as a crash would stop it.
    let signal =
        |name: &str| std::process::Command::new("kill").args(["-s", name, &old.to_string()]).status();
    if !signal("TERM").is_ok_and(|s| s.success()) {
        return Err(fail(format!("could not signal pid {old}")));
    }
    if !stopped(Duration::from_secs(15)) {
        let _ = signal("KILL");
        if !stopped(Duration::from_secs(15)) {
            return Err(fail(format!("pid {old} did not stop, not even on SIGKILL")));
        }
    }
    std::thread::sleep(outage);

    let log_path = dir.join("logs/kube-apiserver.log");
    let log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&log_path)
        .map_err(|e| fail(format!("opening {}: {e}", log_path.display())))?;
    let stderr = log.try_clone().map_err(|e| fail(e.to_string()))?;
    let child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(stderr)
        .spawn()
        .map_err(|e| fail(format!("starting {program}: {e}")))?;
    let new = child.id();
    let listed: String = pids
        .lines()
        .map(|line| {
            if line == format!("kube-apiserver {old}") {
                format!("kube-apiserver {new}")
            } else {
                line.to_string()
            }
        })
        .map(|line| line + "\n")
        .collect();
    std::fs::write(&pids_path, listed).map_err(|e| fail(format!("writing {}: {e}", pids_path.display())))?;
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(90) {
            return Err(fail(format!(
                "the new API server (pid {new}) did not listen on {port} within 90 s; see {}",
                log_path.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
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
