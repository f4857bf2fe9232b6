//! `karpenter run`: the controller against a cluster. Flags and environment variables carry upstream's names
//! (`kubernetes-sigs/karpenter: pkg/operator/options/options.go`); the cloud provider is chosen with
//! `--cloud-provider`. The process serves `/metrics` on `METRICS_PORT` and `/healthz` and `/readyz` on
//! `HEALTH_PROBE_PORT`, contends for a coordination Lease unless leader election is disabled, and on SIGTERM
//! (or Ctrl-C) stops taking work, finishes what is in flight, releases the Lease and exits.

mod aws;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::{Args, ValueEnum};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use karpenter_api::FeatureGates;
use karpenter_cloud::{CloudProvider, Metered};
use karpenter_operator::batcher::BatchWindow;
use karpenter_operator::clock::SystemClock;
use karpenter_operator::leader::LeaderElector;
use karpenter_operator::metrics::CloudProviderMetrics;
use karpenter_operator::operator::Operator;
use karpenter_operator::settings::Settings;
use karpenter_operator::store::{Cluster, KubeCluster, Reporter};
use karpenter_solver::{MinValuesPolicy, PreferencePolicy, SolverConfig};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

/// Which cloud provider launches nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Provider {
    /// Node objects for KWOK to animate (`karpenter.kwok.sh/v1alpha1` KWOKNodeClass).
    Kwok,
    /// EC2 (`karpenter.k8s.aws/v1` EC2NodeClass).
    Aws,
}

/// Upstream's preference policy names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Preferences {
    /// Honour preferences, relaxing them one at a time.
    #[value(name = "Respect")]
    Respect,
    /// Ignore preferences.
    #[value(name = "Ignore")]
    Ignore,
}

/// Upstream's minValues policy names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum MinValues {
    /// A NodeClaim that cannot meet minValues is not made.
    #[value(name = "Strict")]
    Strict,
    /// minValues is lowered to what the instance types reach.
    #[value(name = "BestEffort")]
    BestEffort,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The cloud provider.
    #[arg(long, env = "CLOUD_PROVIDER", value_enum)]
    cloud_provider: Provider,
    /// Kubeconfig to reach the cluster; without it (and without KUBECONFIG) the in-cluster service account is used.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// The cluster's name, for the provider's tags and discovery.
    #[arg(long, env = "CLUSTER_NAME", default_value = "")]
    cluster_name: String,
    /// A provisioning batch closes after this long without a new pending pod.
    #[arg(long, env = "BATCH_IDLE_DURATION", default_value = "1s", value_parser = karpenter_snapshot::parse_duration)]
    batch_idle_duration: Duration,
    /// A provisioning batch closes this long after its first pending pod.
    #[arg(long, env = "BATCH_MAX_DURATION", default_value = "10s", value_parser = karpenter_snapshot::parse_duration)]
    batch_max_duration: Duration,
    /// Feature gates, `Name=true|false,...` (upstream's names).
    #[arg(
        long,
        env = "FEATURE_GATES",
        default_value = "",
        value_parser = feature_gates
    )]
    feature_gates: FeatureGates,
    /// `debug`, `info` (default), `warn` or `error`; or a tracing filter such as `karpenter_operator=debug`.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// Port of `/metrics`.
    #[arg(long, env = "METRICS_PORT", default_value_t = 8080)]
    metrics_port: u16,
    /// Port of `/healthz` and `/readyz`.
    #[arg(long, env = "HEALTH_PROBE_PORT", default_value_t = 8081)]
    health_probe_port: u16,
    /// Run without leader election (one replica only).
    #[arg(long, env = "DISABLE_LEADER_ELECTION", default_value_t = false)]
    disable_leader_election: bool,
    /// Name of the Lease replicas contend for.
    #[arg(long, env = "LEADER_ELECTION_NAME", default_value = "karpenter-leader-election")]
    leader_election_name: String,
    /// Namespace of the Lease; defaults to the namespace the controller runs in.
    #[arg(long, env = "LEADER_ELECTION_NAMESPACE")]
    leader_election_namespace: Option<String>,
    /// How pod preferences are treated.
    #[arg(long, env = "PREFERENCE_POLICY", value_enum, default_value = "Respect")]
    preference_policy: Preferences,
    /// How NodePool minValues are treated.
    #[arg(long, env = "MIN_VALUES_POLICY", value_enum, default_value = "Strict")]
    min_values_policy: MinValues,
    /// KWOK only: offerings whose launches fail for lack of capacity, `type/zone/capacity-type,...` (`*` matches
    /// anything).
    #[arg(long, env = "KWOK_INSUFFICIENT_CAPACITY", default_value = "")]
    kwok_insufficient_capacity: String,
    /// The AWS provider's flags.
    #[command(flatten)]
    aws: aws::AwsArgs,
}

/// A controller the provider brings beside the core ones, run while this replica leads.
type Background = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The operator's shared context in `karpenter run`.
type RunContext<P> = karpenter_operator::context::Context<KubeCluster, P, SystemClock>;

/// The controllers a provider brings beside the core ones (the AWS provider's node-class status and
/// interruption controllers). Called once the operator exists, with its context (the interruption controller
/// deletes NodeClaims and counts through it) and the metrics registry, in which it registers their metrics
/// before `/metrics` is served.
type Extra<P> = Box<dyn FnOnce(&Arc<RunContext<P>>, &mut Registry) -> Vec<Background> + Send>;

/// `FEATURE_GATES` over upstream's defaults; the gates this controller cannot act on yet may only be off.
fn feature_gates(text: &str) -> Result<FeatureGates, String> {
    let gates = FeatureGates::parse(text).map_err(|error| error.to_string())?;
    let acted_on = ["ReservedCapacity", "NodeOverlay"];
    for gate in karpenter_api::FEATURE_GATES {
        if !acted_on.contains(&gate.name) && gates.get(gate.name) == Some(true) {
            return Err(format!("{}=true is not supported by this controller yet", gate.name));
        }
    }
    Ok(gates)
}

fn init_logging(level: &str) -> Result<()> {
    let filter = match level {
        "debug" | "info" | "warn" | "error" => tracing_subscriber::EnvFilter::new(format!(
            "warn,karpenter={level},karpenter_operator={level},karpenter_kwok={level},karpenter_cloud={level}"
        )),
        custom => {
            tracing_subscriber::EnvFilter::try_new(custom).with_context(|| format!("LOG_LEVEL {custom:?}"))?
        }
    };
    tracing_subscriber::fmt().json().with_env_filter(filter).with_current_span(false).init();
    Ok(())
}

async fn client(kubeconfig: Option<&PathBuf>) -> Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading the kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
                .await
                .with_context(|| format!("using the kubeconfig {}", path.display()))?
        }
        None => kube::Config::incluster()
            .context("no --kubeconfig or KUBECONFIG given, and not running in a cluster")?,
    };
    kube::Client::try_from(config).context("building the Kubernetes client")
}

/// The namespace this pod runs in, as the service account mount says.
fn pod_namespace() -> Option<String> {
    std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        .ok()
        .map(|s| s.trim().to_string())
}

#[allow(clippy::disallowed_methods, reason = "the binary reads its environment; libraries are given values")]
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// What `/metrics` and `/readyz` answer from.
struct Served {
    registry: Mutex<Registry>,
    ready: Box<dyn Fn() -> bool + Send + Sync>,
}

async fn serve(listener: TcpListener, served: Arc<Served>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let served = Arc::clone(&served);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let served = Arc::clone(&served);
                async move { Ok::<_, Infallible>(answer(&served, request.uri().path())) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer(served: &Served, path: &str) -> Response<Full<Bytes>> {
    let respond = |status: StatusCode, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
    };
    match path {
        "/healthz" => respond(StatusCode::OK, "ok".into()),
        "/readyz" if (served.ready)() => respond(StatusCode::OK, "ok".into()),
        "/readyz" => respond(StatusCode::SERVICE_UNAVAILABLE, "cluster state not synced".into()),
        "/metrics" => {
            let mut text = String::new();
            let registry = served.registry.lock().unwrap_or_else(|p| p.into_inner());
            match prometheus_client::encoding::text::encode(&mut text, &registry) {
                Ok(()) => respond(StatusCode::OK, text),
                Err(error) => respond(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
            }
        }
        _ => respond(StatusCode::NOT_FOUND, "not found".into()),
    }
}

async fn listen(port: u16, what: &str) -> Result<TcpListener> {
    let address = SocketAddr::from(([0, 0, 0, 0], port));
    TcpListener::bind(address).await.with_context(|| format!("{what}: cannot listen on port {port}"))
}

/// Completes on SIGTERM or Ctrl-C.
async fn terminated() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("received SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("received an interrupt"),
    }
}

pub(crate) fn run(args: RunArgs) -> Result<()> {
    init_logging(&args.log_level)?;
    // kube's TLS needs a process-wide crypto provider; with more than one compiled in (the AWS SDK brings its
    // own), rustls will not pick one by itself.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(async {
            let client = client(args.kubeconfig.as_ref()).await?;
            match args.cloud_provider {
                Provider::Kwok => {
                    let insufficient = karpenter_kwok::capacity::parse_list(&args.kwok_insufficient_capacity)
                        .map_err(|e| anyhow::anyhow!("KWOK_INSUFFICIENT_CAPACITY: {e}"))?;
                    let settings = karpenter_kwok::Settings {
                        insufficient_capacity: insufficient,
                        ..karpenter_kwok::Settings::default()
                    };
                    let metrics = CloudProviderMetrics::default();
                    let provider = Metered::with_observer(
                        karpenter_kwok::KwokProvider::new(client.clone(), settings),
                        metrics.clone(),
                    );
                    let solver = SolverConfig { ..karpenter_kwok::solver_config() };
                    controller(args, client, provider, metrics, solver, None).await
                }
                Provider::Aws => {
                    let aws = aws::provider(&client, &args.cluster_name, &args.aws).await?;
                    let metrics = CloudProviderMetrics::default();
                    let extra = aws::controllers(client.clone(), Arc::clone(&aws), args.aws.clone());
                    let provider = Metered::with_observer(aws, metrics.clone());
                    controller(args, client, provider, metrics, karpenter_aws::solver_config(), Some(extra))
                        .await
                }
            }
        })
}

async fn controller<P: CloudProvider + 'static>(
    args: RunArgs,
    client: kube::Client,
    provider: P,
    provider_metrics: CloudProviderMetrics,
    solver: SolverConfig,
    extra: Option<Extra<P>>,
) -> Result<()> {
    let identity = env("POD_NAME").unwrap_or_else(|| format!("karpenter-{}", std::process::id()));
    let provider = Arc::new(provider);
    let cluster = Arc::new(KubeCluster::start(
        client.clone(),
        &provider.node_classes(),
        args.feature_gates.node_overlay,
        Reporter { controller: "karpenter".into(), instance: Some(identity.clone()) },
    ));
    let settings = Settings {
        batch: BatchWindow { idle: args.batch_idle_duration, max: args.batch_max_duration },
        solver: SolverConfig {
            preference_policy: match args.preference_policy {
                Preferences::Respect => PreferencePolicy::Respect,
                Preferences::Ignore => PreferencePolicy::Ignore,
            },
            min_values_policy: match args.min_values_policy {
                MinValues::Strict => MinValuesPolicy::Strict,
                MinValues::BestEffort => MinValuesPolicy::BestEffort,
            },
            ..solver
        },
        features: args.feature_gates,
        ..Settings::default()
    };
    let operator = Operator::new(Arc::clone(&cluster), provider, SystemClock, settings);
    let mut registry = Registry::default();
    operator.context().metrics.register(&mut registry);
    provider_metrics.register(&mut registry);
    let background = extra.map(|extra| extra(operator.context(), &mut registry)).unwrap_or_default();
    let readiness = Arc::clone(&cluster);
    let served = Arc::new(Served {
        registry: Mutex::new(registry),
        ready: Box::new(move || readiness.state().synced),
    });
    let metrics_listener = listen(args.metrics_port, "METRICS_PORT").await?;
    let health_listener = listen(args.health_probe_port, "HEALTH_PROBE_PORT").await?;
    tokio::spawn(serve(metrics_listener, Arc::clone(&served)));
    tokio::spawn(serve(health_listener, served));
    tracing::info!(
        cloud_provider = ?args.cloud_provider,
        cluster_name = %args.cluster_name,
        metrics_port = args.metrics_port,
        health_probe_port = args.health_probe_port,
        identity = %identity,
        "starting the controller"
    );

    let shutdown = terminated();
    tokio::pin!(shutdown);
    let mut elector = None;
    if !args.disable_leader_election {
        let namespace = args
            .leader_election_namespace
            .clone()
            .or_else(|| env("SYSTEM_NAMESPACE"))
            .or_else(pod_namespace)
            .unwrap_or_else(|| "default".to_string());
        let mut lease = LeaderElector::new(client.clone(), &namespace, &args.leader_election_name, &identity);
        tokio::select! {
            () = lease.acquire() => {}
            () = &mut shutdown => return Ok(()),
        }
        elector = Some(lease);
    }
    cluster.wait_synced().await;
    tracing::info!("cluster state synced; reconciling");
    let background: Vec<_> = background.into_iter().map(tokio::spawn).collect();
    let lost = async {
        match elector.as_mut() {
            Some(lease) => lease.hold().await,
            None => std::future::pending().await,
        }
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<&'static str>();
    let running = tokio::spawn(operator.run(async move {
        let why = stopped.await.unwrap_or("stop");
        tracing::info!(reason = why, "stopping");
    }));
    let lost_leadership = tokio::select! {
        () = &mut shutdown => false,
        () = lost => true,
    };
    let _ = stop.send(if lost_leadership { "lost the leader lease" } else { "shutdown" });
    running.await.context("the controller task failed")?;
    for task in background {
        task.abort();
    }
    if lost_leadership {
        bail!("lost the leader lease; exiting so that a fresh start contends again");
    }
    if let Some(lease) = elector.as_mut() {
        lease.release().await;
    }
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_upstreams_flags() {
        let duration = karpenter_snapshot::parse_duration;
        assert_eq!(duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(duration("10").is_err());
        assert!(duration("").is_err());
    }

    #[test]
    fn feature_gates_use_upstreams_names() {
        let gates = feature_gates("NodeRepair=false, ReservedCapacity=true,NodeOverlay=true").unwrap();
        assert!(!gates.node_repair && gates.reserved_capacity && gates.node_overlay);
        assert!(feature_gates("Drift=true").unwrap_err().contains("unknown gate \"Drift\""));
        assert!(feature_gates("NodeRepair=yes").unwrap_err().contains("is not a boolean"));
        assert!(
            feature_gates("NodeRepair=true").unwrap_err().contains("not supported by this controller yet")
        );
    }
}
