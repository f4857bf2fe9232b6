//! `cargo xtask cluster up|down|status`: a real Kubernetes control plane on loopback, built from upstream's Go
//! modules with the machine's Go toolchain (no container engine), the way envtest and upstream Karpenter's KWOK
//! perf suite run: etcd, kube-apiserver, kube-controller-manager (for Deployments), kube-scheduler and KWOK.
//!
//! Binaries are built once and cached under `target/cluster/bin/<versions>`; certificates, data and logs live in
//! `target/cluster/`. `up` returns once `/readyz` answers ok and writes `target/cluster/kubeconfig`.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::process::{alive, free_port};
use crate::say;

/// Kubernetes release and the matching staging-module version.
const KUBERNETES: &str = "v1.36.3";
const STAGING: &str = "v0.36.3";
const ETCD: &str = "v3.6.6";
const KWOK: &str = "v0.8.0";

/// Modules that `k8s.io/kubernetes` replaces with its `staging/` folder; a consumer must pin them itself.
const STAGING_MODULES: [&str; 33] = [
    "api",
    "apiextensions-apiserver",
    "apimachinery",
    "apiserver",
    "cli-runtime",
    "client-go",
    "cloud-provider",
    "cluster-bootstrap",
    "code-generator",
    "component-base",
    "component-helpers",
    "controller-manager",
    "cri-api",
    "cri-client",
    "cri-streaming",
    "csi-translation-lib",
    "dynamic-resource-allocation",
    "endpointslice",
    "externaljwt",
    "kms",
    "kube-aggregator",
    "kube-controller-manager",
    "kube-proxy",
    "kube-scheduler",
    "kubectl",
    "kubelet",
    "metrics",
    "mount-utils",
    "pod-security-admission",
    "sample-apiserver",
    "sample-cli-plugin",
    "sample-controller",
    "streaming",
];

/// The admin token written into the token file and the kubeconfig; the cluster only listens on loopback.
const ADMIN_TOKEN: &str = "karpenter-rs-test-admin";

struct Paths {
    dir: PathBuf,
    bin: PathBuf,
    src: PathBuf,
    pki: PathBuf,
    logs: PathBuf,
    etcd_data: PathBuf,
    pids: PathBuf,
    kubeconfig: PathBuf,
}

impl Paths {
    fn new(root: &Path) -> Self {
        let dir = root.join("target/cluster");
        Paths {
            bin: dir.join("bin").join(format!("k8s-{KUBERNETES}-etcd-{ETCD}-kwok-{KWOK}")),
            src: dir.join("src"),
            pki: dir.join("pki"),
            logs: dir.join("logs"),
            etcd_data: dir.join("etcd"),
            pids: dir.join("pids"),
            kubeconfig: dir.join("kubeconfig"),
            dir,
        }
    }
}

pub(crate) fn run(root: &Path, action: Option<&str>) -> Result<()> {
    let paths = Paths::new(root);
    match action {
        Some("up") => up(&paths),
        Some("down") => down(&paths),
        Some("status") => status(&paths),
        Some("build") => build(&paths),
        _ => bail!("usage: cargo xtask cluster <up|down|status|build>"),
    }
}

fn require_tool(tool: &str, hint: &str) -> Result<()> {
    let found =
        Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
            || Command::new(tool).arg("version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !found {
        bail!("{tool} is not on PATH: {hint}");
    }
    Ok(())
}

/// Runs a build step with its output in a log file; a failure names the log.
fn logged(command: &mut Command, log: &Path, what: &str) -> Result<()> {
    let file = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let status = command
        .stdout(file.try_clone()?)
        .stderr(file)
        .status()
        .with_context(|| format!("could not start the {what} step"))?;
    if !status.success() {
        let tail = fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(15).collect();
        bail!(
            "{what} failed ({status}); the last lines of {} are:\n{}",
            log.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(())
}

/// Builds whatever binary is missing. Go's module and build caches make a second build on the same machine quick.
fn build(paths: &Paths) -> Result<()> {
    require_tool("go", "install the Go toolchain (1.26 or later) and retry")?;
    fs::create_dir_all(&paths.bin)?;
    fs::create_dir_all(&paths.logs)?;
    let started = Instant::now();

    let k8s = ["kube-apiserver", "kube-scheduler", "kube-controller-manager"];
    if k8s.iter().any(|b| !paths.bin.join(b).exists()) {
        let replaces: String = STAGING_MODULES
            .iter()
            .map(|module| format!("\tk8s.io/{module} => k8s.io/{module} {STAGING}\n"))
            .collect();
        say(&format!("building Kubernetes {KUBERNETES} (first time: several minutes)"));
        go_build(
            paths,
            "kubernetes",
            &format!("require k8s.io/kubernetes {KUBERNETES}\n\nreplace (\n{replaces})\n"),
            &k8s.map(|binary| (binary, format!("k8s.io/kubernetes/cmd/{binary}"))),
        )?;
    }
    if !paths.bin.join("etcd").exists() {
        let requires: String = ["server/v3", "api/v3", "client/pkg/v3", "client/v3", "pkg/v3"]
            .iter()
            .map(|m| format!("\tgo.etcd.io/etcd/{m} {ETCD}\n"))
            .collect();
        say(&format!("building etcd {ETCD}"));
        go_build(
            paths,
            "etcd",
            &format!("require (\n{requires})\n"),
            &[("etcd", "go.etcd.io/etcd/server/v3".into())],
        )?;
    }
    if !paths.bin.join("kwok").exists() {
        say(&format!("building KWOK {KWOK}"));
        logged(
            Command::new("go")
                .args(["install", &format!("sigs.k8s.io/kwok/cmd/kwok@{KWOK}")])
                .env("GOBIN", &paths.bin),
            &paths.logs.join("build-kwok.log"),
            "building kwok",
        )?;
    }
    say(&format!("binaries ready in {} ({:.0} s)", paths.bin.display(), started.elapsed().as_secs_f64()));
    Ok(())
}

/// Builds `binaries` (name, main package) into the bin folder from a throwaway module `name` whose go.mod body is
/// `requirements`. A `tools.go` imports the main packages so that `go mod tidy` keeps every module they need.
fn go_build(paths: &Paths, name: &str, requirements: &str, binaries: &[(&str, String)]) -> Result<()> {
    let dir = paths.src.join(name);
    fs::create_dir_all(&dir)?;
    fs::write(
        dir.join("go.mod"),
        format!("module karpenter-rs/cluster/{name}\n\ngo 1.26.0\n\n{requirements}"),
    )?;
    let imports: String = binaries.iter().map(|(_, package)| format!("\t_ \"{package}\"\n")).collect();
    fs::write(dir.join("tools.go"), format!("//go:build tools\n\npackage tools\n\nimport (\n{imports})\n"))?;
    logged(
        Command::new("go").args(["mod", "tidy"]).env("GOFLAGS", "-mod=mod").current_dir(&dir),
        &paths.logs.join(format!("build-{name}-modules.log")),
        &format!("resolving the {name} modules"),
    )?;
    for (binary, package) in binaries {
        logged(
            Command::new("go")
                .args(["build", "-o"])
                .arg(paths.bin.join(binary))
                .arg(package)
                .current_dir(&dir),
            &paths.logs.join(format!("build-{binary}.log")),
            &format!("building {binary}"),
        )?;
    }
    Ok(())
}

fn openssl(args: &[&str], dir: &Path, log: &Path) -> Result<()> {
    logged(Command::new("openssl").args(args).current_dir(dir), log, &format!("openssl {}", args[0]))
}

/// A CA, a serving certificate for 127.0.0.1, and the service-account signing key.
fn certificates(paths: &Paths) -> Result<()> {
    require_tool("openssl", "install openssl (Debian: apt-get install openssl) and retry")?;
    fs::create_dir_all(&paths.pki)?;
    let log = paths.logs.join("pki.log");
    let dir = &paths.pki;
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "3650",
            "-subj",
            "/CN=karpenter-rs-test-ca",
        ],
        dir,
        &log,
    )?;
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "apiserver.key",
            "-out",
            "apiserver.csr",
            "-subj",
            "/CN=kube-apiserver",
        ],
        dir,
        &log,
    )?;
    fs::write(
        dir.join("apiserver.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n",
    )?;
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "apiserver.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "apiserver.crt",
            "-days",
            "3650",
            "-extfile",
            "apiserver.ext",
        ],
        dir,
        &log,
    )?;
    openssl(&["genrsa", "-out", "sa.key", "2048"], dir, &log)?;
    openssl(&["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir, &log)?;
    fs::write(dir.join("tokens.csv"), format!("{ADMIN_TOKEN},admin,admin,system:masters\n"))?;
    Ok(())
}

fn spawn(paths: &Paths, name: &str, program: &Path, args: &[String]) -> Result<u32> {
    let log = fs::File::create(paths.logs.join(format!("{name}.log")))?;
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("could not start {}", program.display()))?;
    let pid = child.id();
    let mut pids = fs::OpenOptions::new().create(true).append(true).open(&paths.pids)?;
    writeln!(pids, "{name} {pid}")?;
    Ok(pid)
}

fn running(paths: &Paths) -> Vec<(String, u32)> {
    fs::read_to_string(&paths.pids)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (name, pid) = line.split_once(' ')?;
            Some((name.to_string(), pid.parse().ok()?))
        })
        .collect()
}

/// Polls a URL with the admin token until it answers `ok`, or a process it depends on dies.
fn wait_ready(url: &str, ca: &Path, deadline: Duration, pid: u32, log: &Path) -> Result<()> {
    let started = Instant::now();
    while started.elapsed() < deadline {
        let output = Command::new("curl")
            .args(["-s", "--max-time", "2", "--cacert"])
            .arg(ca)
            .args(["-H", &format!("Authorization: Bearer {ADMIN_TOKEN}"), url])
            .output();
        if output.is_ok_and(|o| o.stdout == b"ok") {
            return Ok(());
        }
        if !alive(pid) {
            bail!("{}", explain_exit(url, &fs::read_to_string(log).unwrap_or_default(), log));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    bail!("{url} did not answer ok within {} s; see {}", deadline.as_secs(), log.display())
}

/// KWOK's "fast" stages (nodes become Ready at once and keep a heartbeat; pods run, complete and go away), as
/// shipped in the KWOK module that `build` downloaded.
fn kwok_stages() -> Result<Vec<PathBuf>> {
    let output = Command::new("go").args(["env", "GOMODCACHE"]).output().context("could not run go env")?;
    let cache = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let stages = cache.join(format!("sigs.k8s.io/kwok@{KWOK}/kustomize/stage"));
    let files = [
        "node/fast/node-initialize.yaml",
        "node/heartbeat/node-heartbeat.yaml",
        "pod/fast/pod-ready.yaml",
        "pod/fast/pod-complete.yaml",
        "pod/fast/pod-delete.yaml",
    ];
    files
        .iter()
        .map(|f| {
            let path = stages.join(f);
            if path.exists() {
                Ok(path)
            } else {
                bail!(
                    "KWOK stage {} is missing: run `cargo xtask cluster build` to download KWOK {KWOK}",
                    path.display()
                )
            }
        })
        .collect()
}

/// Says why a component stopped, naming a port conflict when the log shows one.
fn explain_exit(what: &str, log_text: &str, log: &Path) -> String {
    if let Some(line) = log_text.lines().find(|l| l.contains("address already in use")) {
        return format!(
            "{what} could not listen: a port it needs is in use ({}); stop whatever holds it (or run `cargo xtask cluster down`) and retry",
            line.trim()
        );
    }
    format!("{what} exited right after starting; see {}", log.display())
}

fn up(paths: &Paths) -> Result<()> {
    let live: Vec<_> = running(paths).into_iter().filter(|(_, pid)| alive(*pid)).collect();
    if !live.is_empty() {
        say(&format!(
            "the cluster is already up ({} processes); kubeconfig: {}",
            live.len(),
            paths.kubeconfig.display()
        ));
        return Ok(());
    }
    require_tool("curl", "install curl (Debian: apt-get install curl) and retry")?;
    build(paths)?;
    let _ = fs::remove_dir_all(&paths.etcd_data);
    let _ = fs::remove_file(&paths.pids);
    fs::create_dir_all(&paths.logs)?;
    certificates(paths)?;
    let started = Instant::now();

    let (etcd_client, etcd_peer, apiserver, scheduler, kcm, kwok) =
        (free_port()?, free_port()?, free_port()?, free_port()?, free_port()?, free_port()?);
    let pki = |f: &str| paths.pki.join(f).display().to_string();

    let etcd_url = format!("http://127.0.0.1:{etcd_client}");
    let etcd_pid = spawn(
        paths,
        "etcd",
        &paths.bin.join("etcd"),
        &[
            format!("--data-dir={}", paths.etcd_data.display()),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}"),
            format!("--initial-cluster=default=http://127.0.0.1:{etcd_peer}"),
            "--unsafe-no-fsync=true".to_string(),
        ],
    )?;

    let apiserver_pid = spawn(
        paths,
        "kube-apiserver",
        &paths.bin.join("kube-apiserver"),
        &[
            format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1".to_string(),
            "--advertise-address=127.0.0.1".to_string(),
            format!("--secure-port={apiserver}"),
            format!("--tls-cert-file={}", pki("apiserver.crt")),
            format!("--tls-private-key-file={}", pki("apiserver.key")),
            format!("--client-ca-file={}", pki("ca.crt")),
            format!("--token-auth-file={}", pki("tokens.csv")),
            format!("--service-account-key-file={}", pki("sa.pub")),
            format!("--service-account-signing-key-file={}", pki("sa.key")),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".to_string(),
            "--service-cluster-ip-range=10.0.0.0/24".to_string(),
            "--authorization-mode=RBAC".to_string(),
            // Pods in tests need no service account token.
            "--disable-admission-plugins=ServiceAccount".to_string(),
            "--allow-privileged=true".to_string(),
            format!("--cert-dir={}", paths.pki.display()),
        ],
    )?;
    let server = format!("https://127.0.0.1:{apiserver}");
    let apiserver_log = paths.logs.join("kube-apiserver.log");
    if let Err(error) = wait_ready(
        &format!("{server}/readyz"),
        &paths.pki.join("ca.crt"),
        Duration::from_secs(90),
        apiserver_pid,
        &apiserver_log,
    ) {
        let etcd_note = if alive(etcd_pid) { "" } else { " (etcd exited too: see logs/etcd.log)" };
        return Err(error.context(format!("kube-apiserver did not become ready{etcd_note}")));
    }

    let ca = fs::read(paths.pki.join("ca.crt"))?;
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: karpenter-rs-test\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\nusers:\n- name: admin\n  user:\n    token: {ADMIN_TOKEN}\ncontexts:\n- name: karpenter-rs-test\n  context:\n    cluster: karpenter-rs-test\n    user: admin\ncurrent-context: karpenter-rs-test\n",
        base64(&ca)
    );
    fs::write(&paths.kubeconfig, kubeconfig)?;
    let kubeconfig = paths.kubeconfig.display().to_string();

    spawn(
        paths,
        "kube-controller-manager",
        &paths.bin.join("kube-controller-manager"),
        &[
            format!("--kubeconfig={kubeconfig}"),
            // nodelifecycle lifts the not-ready taint the API server puts on every new node once KWOK reports it Ready;
            // disruption keeps PodDisruptionBudgets' status (disruptionsAllowed), which evictions and Karpenter read.
            "--controllers=deployment,replicaset,nodelifecycle,disruption".to_string(),
            "--leader-elect=false".to_string(),
            "--bind-address=127.0.0.1".to_string(),
            format!("--secure-port={kcm}"),
        ],
    )?;
    spawn(
        paths,
        "kube-scheduler",
        &paths.bin.join("kube-scheduler"),
        &[
            format!("--kubeconfig={kubeconfig}"),
            "--leader-elect=false".to_string(),
            "--bind-address=127.0.0.1".to_string(),
            format!("--secure-port={scheduler}"),
        ],
    )?;
    let mut kwok_args = vec![
        format!("--kubeconfig={kubeconfig}"),
        "--manage-all-nodes=false".to_string(),
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake".to_string(),
        format!("--server-address=127.0.0.1:{kwok}"),
    ];
    kwok_args.extend(kwok_stages()?.into_iter().map(|stage| format!("--config={}", stage.display())));
    spawn(paths, "kwok", &paths.bin.join("kwok"), &kwok_args)?;
    std::thread::sleep(Duration::from_millis(500));
    let dead: Vec<String> =
        running(paths).into_iter().filter(|(_, pid)| !alive(*pid)).map(|(n, _)| n).collect();
    if let Some(name) = dead.first() {
        let log = paths.logs.join(format!("{name}.log"));
        bail!("{}", explain_exit(name, &fs::read_to_string(&log).unwrap_or_default(), &log));
    }
    say(&format!(
        "cluster up in {:.1} s: {server}, kubeconfig {kubeconfig}, logs {}",
        started.elapsed().as_secs_f64(),
        paths.logs.display()
    ));
    Ok(())
}

fn down(paths: &Paths) -> Result<()> {
    let processes = running(paths);
    for (_, pid) in &processes {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes.iter().any(|(_, pid)| alive(*pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    for (_, pid) in processes.iter().filter(|(_, pid)| alive(*pid)) {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    for path in [&paths.etcd_data, &paths.pki] {
        let _ = fs::remove_dir_all(path);
    }
    for path in [&paths.pids, &paths.kubeconfig] {
        let _ = fs::remove_file(path);
    }
    say(&format!(
        "stopped {} processes; data removed (binaries kept in {})",
        processes.len(),
        paths.dir.join("bin").display()
    ));
    Ok(())
}

fn status(paths: &Paths) -> Result<()> {
    let processes = running(paths);
    if processes.is_empty() {
        say("the cluster is not running (start it with `cargo xtask cluster up`)");
        return Ok(());
    }
    for (name, pid) in processes {
        say(&format!("{name:<24} pid {pid:<8} {}", if alive(pid) { "running" } else { "exited" }));
    }
    say(&format!("kubeconfig: {}", paths.kubeconfig.display()));
    Ok(())
}

/// Standard base64, for the kubeconfig's certificate data.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_itself_and_the_fix() {
        let error =
            require_tool("surely-not-installed-tool", "install it and retry").unwrap_err().to_string();
        assert_eq!(error, "surely-not-installed-tool is not on PATH: install it and retry");
    }

    #[test]
    fn a_failed_build_step_shows_its_log() {
        let dir = std::env::temp_dir().join(format!("xtask-log-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join("step.log");
        let error = logged(
            Command::new("sh").args(["-c", "echo compiling; echo boom >&2; exit 3"]),
            &log,
            "building thing",
        )
        .unwrap_err()
        .to_string();
        assert!(error.starts_with("building thing failed"), "{error}");
        assert!(error.contains("boom") && error.contains(&log.display().to_string()), "{error}");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_port_conflict_is_named() {
        let log = Path::new("etcd.log");
        let text = "starting\nlisten tcp 127.0.0.1:2379: bind: address already in use\n";
        let message = explain_exit("etcd", text, log);
        assert!(
            message.contains("a port it needs is in use") && message.contains("127.0.0.1:2379"),
            "{message}"
        );
        assert!(explain_exit("etcd", "panic: other", log).contains("exited right after starting"));
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
