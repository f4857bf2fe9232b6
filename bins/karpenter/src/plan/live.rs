//! `karpenter plan --live`: the objects a provisioning round and a disruption pass read, listed from the cluster
//! of a kubeconfig (`--kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`, else the in-cluster service
//! account), as upstream's controller watches them (`kubernetes-sigs/karpenter: pkg/operator/operator.go`
//! informers). A cluster holds pods rather than workloads, so Deployments and the like are not read.

use anyhow::{Context, Result};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde_json::Value;

use super::input::{Located, Problem, Source};

/// Each kind read: group, version, kind, plural.
const KINDS: [(&str, &str, &str, &str); 11] = [
    ("", "v1", "Node", "nodes"),
    ("", "v1", "Pod", "pods"),
    ("", "v1", "Namespace", "namespaces"),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    ("", "v1", "PersistentVolume", "persistentvolumes"),
    ("apps", "v1", "DaemonSet", "daemonsets"),
    ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets"),
    ("storage.k8s.io", "v1", "StorageClass", "storageclasses"),
    ("karpenter.sh", "v1", "NodePool", "nodepools"),
    ("karpenter.sh", "v1", "NodeClaim", "nodeclaims"),
    ("karpenter.k8s.aws", "v1", "EC2NodeClass", "ec2nodeclasses"),
];

/// Objects listed per request, so that a large cluster is read in pages.
const PAGE: u32 = 500;

/// Lists every kind from the cluster. A kind the cluster does not serve (a CRD not installed) is a problem and
/// the rest is read; a cluster that cannot be reached is an error.
pub(crate) fn read(kubeconfig: Option<&std::path::Path>) -> Result<(Vec<Located>, Vec<Problem>)> {
    // Both of rustls's providers are linked in (the AWS SDK brings its own), so it cannot pick one by itself; an
    // error here means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime that talks to the cluster")?;
    runtime.block_on(list_all(kubeconfig))
}

async fn client(kubeconfig: Option<&std::path::Path>) -> Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading the kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
                .await
                .with_context(|| format!("using the kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer().await.context("finding a kubeconfig (KUBECONFIG, ~/.kube/config)")?,
    };
    kube::Client::try_from(config).context("building the Kubernetes client")
}

async fn list_all(kubeconfig: Option<&std::path::Path>) -> Result<(Vec<Located>, Vec<Problem>)> {
    let client = client(kubeconfig).await?;
    let mut objects = Vec::new();
    let mut problems = Vec::new();
    for (group, version, kind, plural) in KINDS {
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let source = Source { file: format!("cluster {}", resource.api_version), line: None };
        let mut params = ListParams::default().limit(PAGE);
        loop {
            let page = match api.list(&params).await {
                Ok(page) => page,
                Err(kube::Error::Api(status)) if status.is_not_found() => {
                    problems.push(Problem {
                        source: source.clone(),
                        message: format!("{kind}: the cluster does not serve {plural}.{group}"),
                    });
                    break;
                }
                Err(error) => return Err(error).with_context(|| format!("listing {plural}")),
            };
            for item in page.items {
                // List responses leave out each item's apiVersion and kind.
                let mut value = serde_json::to_value(&item).context("reading a listed object")?;
                if let Value::Object(map) = &mut value {
                    map.insert("apiVersion".into(), Value::String(resource.api_version.clone()));
                    map.insert("kind".into(), Value::String(kind.to_string()));
                }
                objects.push(Located { source: source.clone(), value });
            }
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params.continue_token = Some(token),
                None => break,
            }
        }
    }
    Ok((objects, problems))
}
