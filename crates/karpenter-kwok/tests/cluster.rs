//! The KWOK provider on the local cluster (`cargo xtask cluster up`): the trait's contract, written once in
//! `karpenter_cloud::contract`, then what only KWOK does — real Node objects that KWOK makes Ready, the node
//! class's readiness and registration delay, and injected capacity failures.
//!
//! Every test works under its own names (`kwok-<test>-<pid>`) and removes its nodes and node class
//! afterwards, even when it fails, because other people's tests share the cluster.

#![cfg(feature = "cluster-tests")]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use karpenter_api::KWOKNodeClass;
use karpenter_cloud::contract::{self, Harness};
use karpenter_cloud::{CloudProvider, Error, LaunchRequest, OfferingKey};
use karpenter_kwok::capacity::{OfferingPattern, parse_list};
use karpenter_kwok::{KwokProvider, Settings};
use karpenter_solver::labels;
use karpenter_solver::model::{NodeClassRef, NodePool, NodeSelectorRequirement, Taint};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

struct KwokHarness {
    client: kube::Client,
    provider: KwokProvider,
    /// The prefix of every name the test makes, and the name of its KWOKNodeClass.
    run: String,
}

impl Harness for KwokHarness {
    type Provider = KwokProvider;

    fn provider(&self) -> &KwokProvider {
        &self.provider
    }

    fn node_pool(&self) -> NodePool {
        NodePool {
            name: self.run.clone(),
            node_class_ref: Some(node_class_ref(&self.run)),
            ..NodePool::default()
        }
    }

    fn node_claim_name(&self, purpose: &str) -> String {
        format!("{}-{purpose}", self.run)
    }

    fn unknown_provider_id(&self) -> String {
        format!("kwok://{}-never-launched", self.run)
    }

    fn exhaust(&self, offerings: &[OfferingKey]) {
        self.provider.add_insufficient_capacity(offerings.iter().map(OfferingPattern::exactly));
    }
}

fn node_class_ref(name: &str) -> NodeClassRef {
    NodeClassRef { group: "karpenter.kwok.sh".into(), kind: "KWOKNodeClass".into(), name: name.into() }
}

fn class_api(client: &kube::Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("karpenter.kwok.sh", "v1alpha1", "KWOKNodeClass");
    Api::all_with(client.clone(), &ApiResource::from_gvk_with_plural(&gvk, "kwoknodeclasses"))
}

/// Installs the KWOKNodeClass CRD (server-side apply, so concurrent tests agree) and waits until it serves.
async fn install_crd(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = karpenter_api::crds::all()
        .unwrap()
        .into_iter()
        .find(|crd| crd.spec.names.kind == "KWOKNodeClass")
        .expect("karpenter crds includes KWOKNodeClass");
    let name = crd.metadata.name.clone().unwrap();
    crds.patch(&name, &PatchParams::apply("karpenter-kwok-tests").force(), &Patch::Apply(&crd))
        .await
        .unwrap();
    for _ in 0..300 {
        let conditions = crds.get(&name).await.unwrap().status.and_then(|s| s.conditions).unwrap_or_default();
        if conditions.iter().any(|c| c.type_ == "Established" && c.status == "True") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} was not established within 30 s");
}

impl KwokHarness {
    /// A provider, a KWOKNodeClass written exactly as upstream's README writes one (no `spec`), and a prefix.
    async fn new(test: &str, settings: Settings) -> Self {
        let client = karpenter_test_support::cluster().await.unwrap_or_else(|e| panic!("{e}"));
        install_crd(&client).await;
        let run = format!("kwok-{test}-{}", std::process::id());
        let manifest = json!({
            "apiVersion": "karpenter.kwok.sh/v1alpha1",
            "kind": "KWOKNodeClass",
            "metadata": {"name": run},
        });
        let class: DynamicObject = serde_json::from_value(manifest).unwrap();
        class_api(&client).create(&PostParams::default(), &class).await.unwrap();
        KwokHarness { provider: KwokProvider::new(client.clone(), settings), client, run }
    }

    fn nodes(&self) -> Api<Node> {
        Api::all(self.client.clone())
    }

    /// Removes every node and node class of this run.
    async fn clean_up(&self) {
        let nodes = self.nodes().list(&ListParams::default()).await.unwrap();
        for node in nodes.items {
            let name = node.metadata.name.unwrap_or_default();
            if name.starts_with(&self.run) {
                let _ = self.nodes().delete(&name, &DeleteParams::default()).await;
            }
        }
        for class in class_api(&self.client).list(&ListParams::default()).await.unwrap().items {
            let name = class.metadata.name.unwrap_or_default();
            if name.starts_with(&self.run) {
                let _ = class_api(&self.client).delete(&name, &DeleteParams::default()).await;
            }
        }
    }
}

/// Runs `check` on a fresh harness, cleans up whatever happened, then passes a failure on.
async fn with_harness<F, Fut>(test: &str, settings: Settings, check: F)
where
    F: FnOnce(Arc<KwokHarness>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let harness = Arc::new(KwokHarness::new(test, settings).await);
    let outcome = tokio::spawn(check(harness.clone())).await;
    harness.clean_up().await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

#[tokio::test]
async fn contract_create_then_get_and_list_find_it() {
    with_harness("create", Settings::default(), |h| async move {
        contract::create_then_get_and_list_find_it(&*h).await;
    })
    .await;
}

#[tokio::test]
async fn contract_delete_twice_is_fine() {
    with_harness("delete", Settings::default(), |h| async move {
        contract::delete_twice_is_fine(&*h).await;
    })
    .await;
}

#[tokio::test]
async fn contract_delete_of_an_unknown_id_is_not_found_as_success() {
    with_harness("unknown", Settings::default(), |h| async move {
        contract::delete_of_an_unknown_id_is_not_found_as_success(&*h).await;
    })
    .await;
}

#[tokio::test]
async fn contract_insufficient_capacity_names_the_failed_offerings_and_the_next_create_avoids_them() {
    with_harness("capacity", Settings::default(), |h| async move {
        contract::insufficient_capacity_names_the_failed_offerings_and_the_next_create_avoids_them(&*h).await;
    })
    .await;
}

/// A request for the cheapest few generated types, like the contract's.
fn request(
    harness: &KwokHarness,
    purpose: &str,
    requirements: Vec<NodeSelectorRequirement>,
) -> LaunchRequest {
    let types = karpenter_kwok::instance_types();
    let options: Vec<_> = types
        .iter()
        .filter(|t| t.name.starts_with("c-1x-") || t.name.starts_with("c-2x-"))
        .cloned()
        .collect();
    LaunchRequest {
        node_claim: harness.node_claim_name(purpose),
        node_pool: harness.run.clone(),
        node_class: node_class_ref(&harness.run),
        labels: [("example.com/team".to_string(), "web".to_string())].into_iter().collect(),
        taints: vec![Taint {
            key: "example.com/dedicated".into(),
            value: "web".into(),
            effect: "NoSchedule".into(),
        }],
        startup_taints: vec![Taint {
            key: "example.com/warming".into(),
            value: String::new(),
            effect: "NoExecute".into(),
        }],
        requirements,
        requests: [("cpu".to_string(), "500m".to_string())].into_iter().collect(),
        instance_types: options,
    }
}

/// Polls until `check` holds, for up to `timeout`; the failure shows the last state seen.
async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = (bool, String)>,
{
    let started = Instant::now();
    loop {
        let (done, state) = check().await;
        if done {
            return;
        }
        assert!(started.elapsed() < timeout, "{what} within {timeout:?}; last seen: {state}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_launched_node_is_taken_over_by_kwok_and_carries_the_launch() {
    with_harness("node", Settings::default(), |h| async move {
        let instance = h.provider.create(&request(&h, "web", vec![])).await.unwrap();
        assert_eq!(instance.offering(), OfferingKey::new("c-1x-amd64-linux", "test-zone-a", "spot"));
        let name = instance.provider_id.strip_prefix("kwok://").unwrap().to_string();
        let node = h.nodes().get(&name).await.unwrap();
        let node_labels = node.metadata.labels.clone().unwrap();
        for (key, value) in [
            ("example.com/team", "web"),
            (labels::INSTANCE_TYPE, "c-1x-amd64-linux"),
            (labels::ZONE, "test-zone-a"),
            (labels::CAPACITY_TYPE, "spot"),
            (labels::ARCH, "amd64"),
            (labels::OS, "linux"),
            (labels::NODE_POOL, h.run.as_str()),
            (labels::HOSTNAME, name.as_str()),
            ("karpenter.kwok.sh/instance-family", "c"),
            ("kwok.x-k8s.io/node", "fake"),
        ] {
            assert_eq!(node_labels.get(key).map(String::as_str), Some(value), "label {key}");
        }
        let annotations = node.metadata.annotations.clone().unwrap();
        assert_eq!(annotations.get("kwok.x-k8s.io/node").map(String::as_str), Some("fake"));
        let taints: Vec<String> = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default()
            .iter()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect();
        for taint in [
            "example.com/dedicated:NoSchedule",
            "example.com/warming:NoExecute",
            "karpenter.sh/unregistered:NoExecute",
        ] {
            assert!(taints.contains(&taint.to_string()), "{taint} missing from {taints:?}");
        }
        // KWOK animates the node: it turns Ready and keeps the capacity the launch wrote.
        let nodes = h.nodes();
        eventually("KWOK makes the node Ready", Duration::from_secs(30), || async {
            let node = nodes.get(&name).await.unwrap();
            let conditions = node.status.and_then(|s| s.conditions).unwrap_or_default();
            let ready = conditions.iter().find(|c| c.type_ == "Ready").map(|c| c.status.clone());
            (ready.as_deref() == Some("True"), format!("Ready={ready:?}"))
        })
        .await;
        let got = h.provider.get(&instance.provider_id).await.unwrap();
        assert_eq!(got.capacity, instance.capacity);
        assert_eq!(got.allocatable, instance.allocatable);
        assert!(got.launched_at.is_some(), "the node's creation time is the launch time");
    })
    .await;
}

#[tokio::test]
async fn a_repeated_launch_for_the_same_node_claim_finds_the_first_node() {
    with_harness("repeat", Settings::default(), |h| async move {
        let first = h.provider.create(&request(&h, "web", vec![])).await.unwrap();
        let zone_b = vec![NodeSelectorRequirement::new(labels::ZONE, "In", &["test-zone-b"])];
        let again = h.provider.create(&request(&h, "web", zone_b)).await.unwrap();
        assert_eq!(again.provider_id, first.provider_id);
        assert_eq!(again.offering(), first.offering(), "the machine that exists is the answer");
        let ours = h
            .provider
            .list()
            .await
            .unwrap()
            .into_iter()
            .filter(|i| i.provider_id == first.provider_id)
            .count();
        assert_eq!(ours, 1);
    })
    .await;
}

#[tokio::test]
async fn the_node_class_must_exist_be_ready_and_be_a_kwok_node_class() {
    with_harness("class", Settings::default(), |h| async move {
        let mut missing = request(&h, "missing", vec![]);
        missing.node_class = node_class_ref(&format!("{}-absent", h.run));
        let error = h.provider.create(&missing).await.unwrap_err();
        assert!(
            matches!(&error, Error::NodeClassNotReady { reason } if reason.ends_with("not found")),
            "{error}"
        );
        assert!(error.retryable());

        let mut foreign = request(&h, "foreign", vec![]);
        foreign.node_class = NodeClassRef {
            group: "karpenter.k8s.aws".into(),
            kind: "EC2NodeClass".into(),
            name: "default".into(),
        };
        let error = h.provider.create(&foreign).await.unwrap_err();
        assert!(
            matches!(&error, Error::Launch { reason, .. } if reason == "UnsupportedNodeClass"),
            "{error}"
        );

        // The status defaults to Ready; a controller that marks it not ready stops launches.
        let classes: Api<KWOKNodeClass> = Api::all(h.client.clone());
        let stored = classes.get(&h.run).await.unwrap();
        assert_eq!(
            stored.ready_condition().map(|c| c.status.as_str()),
            Some("True"),
            "the CRD's status default"
        );
        let not_ready = json!({"status": {"conditions": [{
            "type": "Ready", "status": "False", "reason": "Broken", "message": "switched off by the test",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }]}});
        classes.patch_status(&h.run, &PatchParams::default(), &Patch::Merge(&not_ready)).await.unwrap();
        let error = h.provider.create(&request(&h, "not-ready", vec![])).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "node class is not ready: KWOKNodeClass {}: not ready (Broken): switched off by the test",
                h.run
            )
        );
        assert!(
            h.provider.list().await.unwrap().iter().all(|i| !i.provider_id.contains(&h.run)),
            "nothing launched"
        );
    })
    .await;
}

#[tokio::test]
async fn injected_capacity_failures_send_launches_elsewhere_until_none_is_left() {
    let settings =
        Settings { insufficient_capacity: parse_list("*/test-zone-a/spot").unwrap(), ..Settings::default() };
    with_harness("fallback", settings, |h| async move {
        // Zone a's spot capacity is "gone": the launch falls through to zone b, and zone a is reported
        // unavailable.
        let instance = h.provider.create(&request(&h, "one", vec![])).await.unwrap();
        assert_eq!(instance.offering(), OfferingKey::new("c-1x-amd64-linux", "test-zone-b", "spot"));
        let pool = h.node_pool();
        let types = h.provider.instance_types(&pool).await.unwrap();
        let c1 = types.iter().find(|t| t.name == "c-1x-amd64-linux").unwrap();
        let zone_a_spot =
            c1.offerings.iter().find(|o| o.zone == "test-zone-a" && o.capacity_type == "spot").unwrap();
        assert!(!zone_a_spot.available);
        assert_eq!(types.len(), 144, "every type is still reported");

        // A NodeClaim that may only use zone a's spot capacity gets an error naming every offering it tried.
        let pinned = vec![
            NodeSelectorRequirement::new(labels::ZONE, "In", &["test-zone-a"]),
            NodeSelectorRequirement::new(labels::CAPACITY_TYPE, "In", &["spot"]),
        ];
        let error = h.provider.create(&request(&h, "two", pinned)).await.unwrap_err();
        let failed: Vec<String> = error.failed_offerings().iter().map(ToString::to_string).collect();
        assert_eq!(
            failed,
            [
                "c-1x-amd64-linux/test-zone-a/spot",
                "c-1x-arm64-linux/test-zone-a/spot",
                "c-1x-amd64-windows/test-zone-a/spot",
                "c-1x-arm64-windows/test-zone-a/spot",
                "c-2x-amd64-linux/test-zone-a/spot",
                "c-2x-arm64-linux/test-zone-a/spot",
                "c-2x-amd64-windows/test-zone-a/spot",
                "c-2x-arm64-windows/test-zone-a/spot",
            ]
        );
        assert!(h.nodes().get_opt(&format!("{}-two", h.run)).await.unwrap().is_none(), "no node was written");
    })
    .await;
}

#[tokio::test]
async fn a_registration_delay_holds_the_node_back_like_a_booting_machine() {
    with_harness("delay", Settings::default(), |h| async move {
        let slow = format!("{}-slow", h.run);
        let manifest = json!({
            "apiVersion": "karpenter.kwok.sh/v1alpha1", "kind": "KWOKNodeClass",
            "metadata": {"name": slow}, "spec": {"nodeRegistrationDelay": "2s"},
        });
        class_api(&h.client)
            .create(&PostParams::default(), &serde_json::from_value(manifest).unwrap())
            .await
            .unwrap();
        let mut launch = request(&h, "late", vec![]);
        launch.node_class = node_class_ref(&slow);
        let instance = h.provider.create(&launch).await.unwrap();
        assert!(
            h.provider.get(&instance.provider_id).await.unwrap_err().is_not_found(),
            "not registered yet"
        );
        let provider = &h.provider;
        eventually("the node appears after the delay", Duration::from_secs(20), || async {
            let found = provider.get(&instance.provider_id).await;
            (found.is_ok(), format!("{found:?}"))
        })
        .await;
    })
    .await;
}
