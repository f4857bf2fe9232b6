//! What every end-to-end test needs: the harness's cluster, the `karpenter` binary and helm, the chart's RBAC
//! installed under a name of the test's own, a kubeconfig holding the chart ServiceAccount's token, the controller
//! process, and cleanup that leaves the shared cluster as it found it.
#![cfg(feature = "cluster-tests")]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use karpenter_api::{KWOKNodeClass, NodeClaim, NodePool};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The helm release the tests build, as the harness builds Kubernetes: from the Go module proxy.
pub(crate) const HELM_VERSION: &str = "v3.22.0";

/// One test at a time: each runs its own controller, and two controllers would act on each other's NodeClaims.
pub(crate) static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `target/` (or `CARGO_TARGET_DIR`), where the harness keeps the cluster.
pub(crate) fn target_dir() -> PathBuf {
    let kubeconfig = karpenter_test_support::kubeconfig_path();
    kubeconfig
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// The `karpenter` binary of this build: `KARPENTER_BIN`, else the one cargo built beside this test.
pub(crate) fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("KARPENTER_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test knows its own path");
    // target/<profile>/deps/e2e-<hash> -> target/<profile>/karpenter
    let path = exe.parent().and_then(Path::parent).map(|dir| dir.join("karpenter")).unwrap_or_default();
    assert!(
        path.exists(),
        "the karpenter binary is not built at {}: run `cargo build -p karpenter` (or `cargo xtask e2e`, which builds it), or set KARPENTER_BIN",
        path.display()
    );
    path
}

/// helm, built with the machine's Go toolchain the first time (a few minutes; the Go caches make later builds
/// quick), cached under `target/cluster/bin/helm-<version>/`.
pub(crate) fn helm() -> PathBuf {
    static BUILT: Mutex<()> = Mutex::new(());
    let _guard = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    let dir = target_dir().join("cluster/bin").join(format!("helm-{HELM_VERSION}"));
    let path = dir.join("helm");
    if path.exists() {
        return path;
    }
    std::fs::create_dir_all(&dir).expect("creating helm's folder");
    let output = Command::new("go")
        .args(["install", &format!("helm.sh/helm/v3/cmd/helm@{HELM_VERSION}")])
        .env("GOBIN", &dir)
        .output()
        .expect("building helm needs the Go toolchain (the cluster harness needs it too)");
    assert!(
        output.status.success(),
        "building helm {HELM_VERSION} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    path
}

/// The chart's folder.
pub(crate) fn chart_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../charts/karpenter")
}

/// Runs helm; panics with its output when it fails.
pub(crate) fn run_helm(args: &[&str]) -> String {
    let output = Command::new(helm()).args(args).output().expect("helm runs");
    assert!(
        output.status.success(),
        "helm {} failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Polls until `check` says done or the time is up; the failure shows the last state seen.
pub(crate) async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F) -> String
where
    F: FnMut() -> Fut,
    Fut: Future<Output = (bool, String)>,
{
    let started = Instant::now();
    loop {
        let (done, state) = check().await;
        if done {
            return state;
        }
        assert!(started.elapsed() < timeout, "{what} within {timeout:?}; last seen: {state}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A free loopback port.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Installs the CRDs (server-side apply: a no-op when they are there already).
pub(crate) async fn install_crds(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in karpenter_api::crds::all().expect("the CRDs render") {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let params = PatchParams::apply("karpenter-e2e").force();
        crds.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .unwrap_or_else(|e| panic!("installing {name}: {e}"));
    }
    // The API server serves a new CRD a moment after accepting it.
    let node_pools: Api<NodePool> = Api::all(client.clone());
    eventually("the CRDs are served", Duration::from_secs(30), || async {
        let listed = node_pools.list(&ListParams::default().limit(1)).await;
        (listed.is_ok(), format!("{:?}", listed.err()))
    })
    .await;
}

fn typed<T: DeserializeOwned>(value: &Value) -> T {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}: {value}"))
}

/// One test's world: a namespace, the chart's RBAC under the test's name, and a kubeconfig that authenticates as
/// the chart's ServiceAccount.
pub(crate) struct World {
    /// The admin client (the test's own actions).
    pub(crate) client: kube::Client,
    /// The name of everything the test makes: namespace, NodePool, node class, release.
    pub(crate) id: String,
    /// Logs and kubeconfigs.
    pub(crate) dir: PathBuf,
    /// The ServiceAccount's kubeconfig.
    pub(crate) kubeconfig: PathBuf,
    /// The admin kubeconfig as YAML, for variants (a proxy in between).
    admin_kubeconfig: Value,
    token: String,
}

impl World {
    /// Makes the namespace, installs the chart's RBAC (and dry-runs the rest of the chart) as release `id`, and
    /// writes a kubeconfig with a token of the chart's ServiceAccount.
    pub(crate) async fn new(test: &str) -> World {
        let client = karpenter_test_support::cluster().await.unwrap_or_else(|e| panic!("{e}"));
        install_crds(&client).await;
        let id = format!("e2e-{test}-{}", std::process::id());
        let dir = target_dir().join("e2e").join(&id);
        std::fs::create_dir_all(&dir).unwrap();
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .create(&PostParams::default(), &typed(&json!({"metadata": {"name": id}})))
            .await
            .unwrap_or_else(|e| panic!("creating namespace {id}: {e}"));
        let rendered = run_helm(&[
            "template",
            &id,
            chart_dir().to_str().unwrap(),
            "--namespace",
            &id,
            "--set",
            "settings.cloudProvider=kwok",
            "--set",
            &format!("fullnameOverride={id}"),
            "--set",
            &format!("podDisruptionBudget.name={id}"),
        ]);
        apply_chart(&client, &id, &rendered).await;
        let service_accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &id);
        let request = TokenRequest {
            spec: Some(TokenRequestSpec { expiration_seconds: Some(3600), ..TokenRequestSpec::default() }),
            ..TokenRequest::default()
        };
        let issued: TokenRequest = service_accounts
            .create_subresource("token", &id, &PostParams::default(), &request)
            .await
            .unwrap_or_else(|e| panic!("requesting a token for ServiceAccount {id}: {e}"));
        let token = issued.status.and_then(|s| s.token).expect("the API server issued a token");
        let admin_kubeconfig: Value = serde_norway::from_str(
            &std::fs::read_to_string(karpenter_test_support::kubeconfig_path()).unwrap(),
        )
        .unwrap();
        let kubeconfig = dir.join("kubeconfig");
        let world = World { client, id, dir, kubeconfig, admin_kubeconfig, token };
        world.write_kubeconfig(&world.kubeconfig, None);
        world
    }

    /// Writes a kubeconfig with the ServiceAccount's token, pointed at `server` (the API server when `None`).
    pub(crate) fn write_kubeconfig(&self, path: &Path, server: Option<&str>) {
        let mut config = self.admin_kubeconfig.clone();
        if let Some(server) = server {
            config["clusters"][0]["cluster"]["server"] = json!(server);
        }
        config["users"] = json!([{"name": "admin", "user": {"token": self.token}}]);
        std::fs::write(path, serde_norway::to_string(&config).unwrap()).unwrap();
    }

    /// The API server's address, from the admin kubeconfig.
    pub(crate) fn api_server(&self) -> String {
        self.admin_kubeconfig["clusters"][0]["cluster"]["server"].as_str().unwrap().to_string()
    }

    /// Creates the KWOKNodeClass `id` and a NodePool `id` shaped like the seed's (arm64, on-demand, families c and
    /// m, limits 100 CPU / 200Gi, WhenEmpty), tainted so that only this test's pods land on its nodes. `extra`
    /// is merged into the NodePool's spec.
    pub(crate) async fn node_pool(&self, extra: Value) -> Arc<NodePool> {
        let classes: Api<KWOKNodeClass> = Api::all(self.client.clone());
        classes
            .create(&PostParams::default(), &typed(&json!({
                "apiVersion": "karpenter.kwok.sh/v1alpha1", "kind": "KWOKNodeClass", "metadata": {"name": self.id}
            })))
            .await
            .unwrap_or_else(|e| panic!("creating the KWOKNodeClass: {e}"));
        let mut spec = json!({
            "template": {
                "spec": {
                    "requirements": [
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]},
                        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                        {"key": "karpenter.kwok.sh/instance-family", "operator": "In", "values": ["c", "m"]}
                    ],
                    "nodeClassRef": {"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": self.id},
                    "taints": [{"key": "e2e/run", "value": self.id, "effect": "NoSchedule"}]
                }
            },
            "limits": {"cpu": "100", "memory": "200Gi"},
            "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "30s"}
        });
        merge(&mut spec, extra);
        let pools: Api<NodePool> = Api::all(self.client.clone());
        let pool = pools
            .create(&PostParams::default(), &typed(&json!({
                "apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": self.id}, "spec": spec
            })))
            .await
            .unwrap_or_else(|e| panic!("creating the NodePool: {e}"));
        Arc::new(pool)
    }

    /// A Deployment of pause pods, `replicas` strong, each requesting `cpu` and `memory`, that only fit on this
    /// test's nodes.
    pub(crate) async fn deployment(&self, name: &str, replicas: i32, cpu: &str, memory: &str) {
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), &self.id);
        deployments
            .create(&PostParams::default(), &typed(&self.deployment_object(name, replicas, cpu, memory)))
            .await
            .unwrap_or_else(|e| panic!("creating deployment {name}: {e}"));
    }

    /// The Deployment object of [`World::deployment`].
    pub(crate) fn deployment_object(&self, name: &str, replicas: i32, cpu: &str, memory: &str) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": self.id},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "nodeSelector": {"karpenter.sh/nodepool": self.id},
                        "tolerations": [{"key": "e2e/run", "operator": "Exists", "effect": "NoSchedule"}],
                        "terminationGracePeriodSeconds": 0,
                        "containers": [{
                            "name": "pause",
                            "image": "public.ecr.aws/eks-distro/kubernetes/pause:3.7",
                            "resources": {"requests": {"cpu": cpu, "memory": memory}}
                        }]
                    }
                }
            }
        })
    }

    /// Scales a Deployment.
    pub(crate) async fn scale(&self, name: &str, replicas: i32) {
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), &self.id);
        deployments
            .patch(name, &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": replicas}})))
            .await
            .unwrap_or_else(|e| panic!("scaling {name}: {e}"));
    }

    /// The pods of the test's namespace.
    pub(crate) async fn pods(&self) -> Vec<Pod> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.id);
        pods.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default()
    }

    /// The NodeClaims of the test's NodePool.
    pub(crate) async fn node_claims(&self) -> Vec<NodeClaim> {
        let claims: Api<NodeClaim> = Api::all(self.client.clone());
        let params = ListParams::default().labels(&format!("karpenter.sh/nodepool={}", self.id));
        claims.list(&params).await.map(|l| l.items).unwrap_or_default()
    }

    /// The nodes of the test's NodePool.
    pub(crate) async fn nodes(&self) -> Vec<Node> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let params = ListParams::default().labels(&format!("karpenter.sh/nodepool={}", self.id));
        nodes.list(&params).await.map(|l| l.items).unwrap_or_default()
    }

    /// Waits until `count` pods of the namespace run.
    pub(crate) async fn wait_running(&self, count: usize, timeout: Duration) -> Duration {
        let started = Instant::now();
        eventually(&format!("{count} pods run"), timeout, || async {
            let pods = self.pods().await;
            let running = pods.iter().filter(|p| running(p)).count();
            (running == count && pods.len() == count, format!("{} pods, {running} running", pods.len()))
        })
        .await;
        started.elapsed()
    }

    /// Starts the controller as the chart's ServiceAccount (through `kubeconfig` when given, for a proxy).
    pub(crate) async fn controller(&self, name: &str, kubeconfig: Option<&Path>) -> Controller {
        Controller::start(self, name, kubeconfig.unwrap_or(&self.kubeconfig)).await
    }

    /// Removes everything the test made. The controller (if given and running) finalises the NodeClaims;
    /// whatever is left after that is released by hand.
    pub(crate) async fn cleanup(self, controller: Option<Controller>) {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        // The harness runs no garbage collector or namespace controller: Deployments, their ReplicaSets and their
        // pods are each deleted here, or the ReplicaSets would make the pods again.
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), &self.id);
        let _ = deployments.delete_collection(&DeleteParams::default(), &ListParams::default()).await;
        let replica_sets: Api<ReplicaSet> = Api::namespaced(self.client.clone(), &self.id);
        let _ = replica_sets.delete_collection(&DeleteParams::default(), &ListParams::default()).await;
        let claims: Api<NodeClaim> = Api::all(self.client.clone());
        for claim in self.node_claims().await {
            let _ = claims
                .delete(claim.metadata.name.as_deref().unwrap_or_default(), &DeleteParams::default())
                .await;
        }
        let started = Instant::now();
        let mut controller = controller;
        while let Some(running) = controller.as_mut() {
            if self.node_claims().await.is_empty() && self.nodes().await.is_empty() {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) || !running.alive() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if let Some(controller) = controller {
            controller.terminate().await;
        }
        // Whatever is still there is released by hand.
        let nodes: Api<Node> = Api::all(self.client.clone());
        let release = json!({"metadata": {"finalizers": null}});
        for claim in self.node_claims().await {
            let name = claim.metadata.name.clone().unwrap_or_default();
            let _ = claims.patch(&name, &PatchParams::default(), &Patch::Merge(&release)).await;
            let _ = claims.delete(&name, &DeleteParams::default()).await;
        }
        for node in self.nodes().await {
            let name = node.metadata.name.clone().unwrap_or_default();
            let _ = nodes.patch(&name, &PatchParams::default(), &Patch::Merge(&release)).await;
            let _ = nodes.delete(&name, &DeleteParams::default()).await;
        }
        let pools: Api<NodePool> = Api::all(self.client.clone());
        let _ = pools.delete(&self.id, &DeleteParams::default()).await;
        let classes: Api<KWOKNodeClass> = Api::all(self.client.clone());
        let _ = classes.delete(&self.id, &DeleteParams::default()).await;
        let cluster_roles: Api<ClusterRole> = Api::all(self.client.clone());
        let _ = cluster_roles.delete(&self.id, &DeleteParams::default()).await;
        let bindings: Api<ClusterRoleBinding> = Api::all(self.client.clone());
        let _ = bindings.delete(&self.id, &DeleteParams::default()).await;
        // KWOK removes deleted pods at once.
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.id);
        let _ =
            pods.delete_collection(&DeleteParams::default().grace_period(0), &ListParams::default()).await;
        let _ = namespaces.delete(&self.id, &DeleteParams::default()).await;
    }
}

/// Applies what `helm template` rendered: the ServiceAccount and RBAC for real, the Deployment, Service and
/// PodDisruptionBudget as a server-side dry run (they are checked by the API server; the controller itself runs
/// as a local process).
async fn apply_chart(client: &kube::Client, namespace: &str, rendered: &str) {
    let create = PostParams::default();
    let dry_run = PostParams { dry_run: true, ..PostParams::default() };
    let mut kinds = Vec::new();
    for document in serde_norway::Deserializer::from_str(rendered) {
        let value = Value::deserialize(document).expect("helm renders YAML");
        if value.is_null() {
            continue;
        }
        let kind = value["kind"].as_str().unwrap_or_default().to_string();
        let result = match kind.as_str() {
            "ServiceAccount" => Api::<ServiceAccount>::namespaced(client.clone(), namespace)
                .create(&create, &typed(&value))
                .await
                .map(drop),
            "ClusterRole" => {
                Api::<ClusterRole>::all(client.clone()).create(&create, &typed(&value)).await.map(drop)
            }
            "ClusterRoleBinding" => {
                Api::<ClusterRoleBinding>::all(client.clone()).create(&create, &typed(&value)).await.map(drop)
            }
            "Role" => Api::<Role>::namespaced(client.clone(), namespace)
                .create(&create, &typed(&value))
                .await
                .map(drop),
            "RoleBinding" => Api::<RoleBinding>::namespaced(client.clone(), namespace)
                .create(&create, &typed(&value))
                .await
                .map(drop),
            "Deployment" => Api::<Deployment>::namespaced(client.clone(), namespace)
                .create(&dry_run, &typed(&value))
                .await
                .map(drop),
            "Service" => Api::<Service>::namespaced(client.clone(), namespace)
                .create(&dry_run, &typed(&value))
                .await
                .map(drop),
            "PodDisruptionBudget" => Api::<PodDisruptionBudget>::namespaced(client.clone(), namespace)
                .create(&dry_run, &typed(&value))
                .await
                .map(drop),
            other => panic!("the chart renders a {other} the test does not know how to apply"),
        };
        result.unwrap_or_else(|e| panic!("applying the chart's {kind}: {e}"));
        kinds.push(kind);
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "PodDisruptionBudget",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount"
        ],
        "the chart renders these objects"
    );
}

/// Merges `extra` into `base`, objects key by key.
pub(crate) fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(base), Value::Object(extra)) => {
            for (key, value) in extra {
                merge(base.entry(key).or_insert(Value::Null), value);
            }
        }
        (base, extra) => *base = extra,
    }
}

/// The pod runs.
pub(crate) fn running(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        && pod.metadata.deletion_timestamp.is_none()
}

/// The controller process.
pub(crate) struct Controller {
    child: Child,
    health_port: u16,
    metrics_port: u16,
    /// Its log.
    pub(crate) log: PathBuf,
}

impl Controller {
    async fn start(world: &World, name: &str, kubeconfig: &Path) -> Controller {
        // A free port can be taken by someone else between our probe and the controller's bind (another test's
        // process, the cluster): the controller then exits saying so, and is started again on other ports.
        for attempt in 1..=3 {
            let log = world.dir.join(format!("{name}.log"));
            let file = std::fs::File::create(&log).unwrap();
            let health_port = free_port();
            let metrics_port = std::iter::repeat_with(free_port).find(|p| *p != health_port).unwrap();
            let child = Command::new(binary())
                .args(["run", "--cloud-provider", "kwok"])
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .args([
                    "--metrics-port",
                    &metrics_port.to_string(),
                    "--health-probe-port",
                    &health_port.to_string(),
                ])
                .args(["--leader-election-namespace", &world.id])
                .env("LOG_LEVEL", "info")
                .env("POD_NAME", format!("{}-{name}", world.id))
                .env_remove("KUBECONFIG")
                .stdin(Stdio::null())
                .stdout(file.try_clone().unwrap())
                .stderr(file)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", binary().display()));
            let mut controller = Controller { child, health_port, metrics_port, log };
            let url = format!("http://127.0.0.1:{health_port}/readyz");
            let started = Instant::now();
            loop {
                if !controller.alive() {
                    let log = controller.log_text();
                    if attempt < 3 && log.contains("Address already in use") {
                        break;
                    }
                    panic!("the controller exited at start; its log:\n{log}");
                }
                if http_ok(&url) {
                    return controller;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "the controller is not ready after 60 s; its log:\n{}",
                    controller.log_text()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        unreachable!("the third attempt either returns or panics")
    }

    /// Whether the process still runs.
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its log so far.
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its peak resident memory in KiB (`VmHWM`).
    pub(crate) fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// `/readyz` answers ok.
    /// What `/metrics` answers now (Prometheus text), as a scraper sees it.
    pub(crate) fn metrics(&self) -> String {
        http_get(&format!("http://127.0.0.1:{}/metrics", self.metrics_port))
            .unwrap_or_else(|| panic!("GET /metrics on port {} did not answer 200", self.metrics_port))
    }

    pub(crate) fn ready(&self) -> bool {
        http_ok(&format!("http://127.0.0.1:{}/readyz", self.health_port))
    }

    /// Kills it outright, as a node failure would.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits up to 30 s for it to exit (then kills it); the exit status, if it exited by itself.
    pub(crate) async fn terminate(mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if started.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends SIGTERM; panics unless it exits cleanly within 30 s.
    pub(crate) async fn stop(self) {
        let log = self.log.clone();
        let status = self.terminate().await;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            status.is_some_and(|s| s.success()),
            "the controller did not exit cleanly on SIGTERM ({status:?}); its log:\n{}",
            tail(&text, 30)
        );
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A plain HTTP GET on loopback answers 200.
fn http_ok(url: &str) -> bool {
    http_get(url).is_some()
}

/// The body of a plain HTTP GET on loopback that answers 200.
fn http_get(url: &str) -> Option<String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    stream
        .write_all(format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())
        .ok()?;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    if !answer.starts_with("HTTP/1.1 200") {
        return None;
    }
    let (_, body) = answer.split_once("\r\n\r\n")?;
    Some(body.to_string())
}

/// The sum of a metric's samples (the exact name, any labels) whose labels include every `label="value"` given.
pub(crate) fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
                .then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// The JSON log lines of a controller with this message.
pub(crate) fn log_lines(log: &str, message: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["message"] == message)
        .collect()
}

/// Runs a test body with the world, one test at a time, and cleans up whatever happens.
pub(crate) async fn with_world<F, Fut>(test: &str, body: F)
where
    F: FnOnce(Arc<World>, Arc<tokio::sync::Mutex<Option<Controller>>>) -> Fut,
    Fut: Future<Output = ()>,
{
    use futures::FutureExt;
    let _serial = SERIAL.lock().await;
    let world = Arc::new(World::new(test).await);
    let controller = Arc::new(tokio::sync::Mutex::new(None));
    let outcome =
        std::panic::AssertUnwindSafe(body(Arc::clone(&world), Arc::clone(&controller))).catch_unwind().await;
    let controller = controller.lock().await.take();
    if outcome.is_err()
        && let Some(controller) = &controller
    {
        eprintln!("controller log ({}):\n{}", controller.log.display(), tail(&controller.log_text(), 40));
    }
    match Arc::try_unwrap(world) {
        Ok(world) => world.cleanup(controller).await,
        Err(_) => panic!("the test body kept a handle on its world"),
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The last `n` lines of a text.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
