//! `karpenter run --cloud-provider aws` end to end: the controller process on the local cluster with moto as
//! EC2 and SQS (`cargo xtask cluster up`, `cargo xtask moto up`). It resolves the seed's EC2NodeClass into its
//! status, launches one instance for a pending pod of the seed's NodePool, and, when a spot interruption warning
//! for that instance arrives on its interruption queue, deletes the NodeClaim, terminates the instance and
//! deletes the message; a node class whose subnets match nothing is reported on its status and launches nothing.
#![cfg(feature = "cluster-tests")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use karpenter_api::{EC2NodeClass, NodeClaim, NodePool};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::emulator::{Seeded, seed};

/// The `karpenter` binary of this build: `KARPENTER_BIN`, else the one cargo built beside this test
/// (`cargo test --workspace` builds it).
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("KARPENTER_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test knows its own path");
    let path = exe.parent().and_then(Path::parent).map(|dir| dir.join("karpenter")).unwrap_or_default();
    assert!(
        path.exists(),
        "the karpenter binary is not built at {}: run `cargo build -p karpenter`, or set KARPENTER_BIN",
        path.display()
    );
    path
}

async fn install_crds(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in karpenter_api::crds::all().expect("the CRDs render") {
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.patch(&name, &PatchParams::apply("karpenter-aws-tests").force(), &Patch::Apply(&crd))
            .await
            .unwrap_or_else(|e| panic!("installing {name}: {e}"));
    }
    let classes: Api<EC2NodeClass> = Api::all(client.clone());
    eventually("the CRDs are served", Duration::from_secs(30), || async {
        let listed = classes.list(&ListParams::default().limit(1)).await;
        (listed.is_ok(), format!("{:?}", listed.err()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

/// Polls until `check` says done: the last state seen, or what was expected and that state when the time is up.
async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<String, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (bool, String)>,
{
    let started = Instant::now();
    loop {
        let (done, state) = check().await;
        if done {
            return Ok(state);
        }
        if started.elapsed() > timeout {
            return Err(format!("expected {what} within {timeout:?}; last seen: {state}"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The controller process; killed when dropped, its log kept for a failure's message.
struct Controller {
    child: Child,
    log: PathBuf,
}

impl Controller {
    fn start(seeded: &Seeded, interruption_queue: &str) -> Controller {
        let endpoint = std::fs::read_to_string(karpenter_test_support::moto_endpoint_path())
            .expect("moto is up (`cargo xtask moto up`)");
        let log = std::env::temp_dir().join(format!("karpenter-aws-{}.log", seeded.cluster));
        let child = Command::new(binary())
            .args(["run", "--cloud-provider", "aws"])
            .env("KUBECONFIG", karpenter_test_support::kubeconfig_path())
            .env("CLUSTER_NAME", &seeded.cluster)
            .env("CLUSTER_ENDPOINT", "https://127.0.0.1:6443")
            .env("CLUSTER_CIDR", "10.100.0.0/16")
            .env("AWS_ENDPOINT_URL", endpoint.trim())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("DISABLE_LEADER_ELECTION", "true")
            .env("METRICS_PORT", free_port().to_string())
            .env("HEALTH_PROBE_PORT", free_port().to_string())
            .env("BATCH_IDLE_DURATION", "1s")
            .env("LOG_LEVEL", "info")
            .env("INTERRUPTION_QUEUE", interruption_queue)
            .stdout(std::fs::File::create(&log).expect("the log file"))
            .stderr(Stdio::null())
            .spawn()
            .expect("the karpenter binary starts");
        Controller { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn condition(class: &EC2NodeClass, type_: &str) -> Option<(String, String)> {
    let conditions = class.status.as_ref()?.conditions.as_ref()?;
    conditions.iter().find(|c| c.type_ == type_).map(|c| (c.status.clone(), c.message.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_the_aws_provider_resolves_launches_and_terminates_against_moto() {
    let seeded = seed("controller").await;
    let client = karpenter_test_support::cluster().await.unwrap_or_else(|e| panic!("{e}"));
    let outcome = tokio::spawn(launch_and_terminate(seeded.clone(), client.clone())).await;
    // The cluster is shared with the other tests: what this one made goes whether it passed or not, so that no
    // other test's controller finds its NodePool or its pending pod.
    let name = seeded.cluster.clone();
    let _ = Api::<NodePool>::all(client.clone()).delete(&name, &DeleteParams::default()).await;
    let _ = Api::<Namespace>::all(client.clone()).delete(&name, &DeleteParams::default()).await;
    let claims: Api<NodeClaim> = Api::all(client.clone());
    let selector = ListParams::default().labels(&format!("karpenter.sh/nodepool={name}"));
    for claim in claims.list(&selector).await.map(|l| l.items).unwrap_or_default() {
        let claim_name = claim.metadata.name.unwrap_or_default();
        let _ = claims
            .patch(
                &claim_name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"finalizers": null}})),
            )
            .await;
        let _ = claims.delete(&claim_name, &DeleteParams::default()).await;
    }
    let classes: Api<EC2NodeClass> = Api::all(client);
    let _ = classes.delete(&name, &DeleteParams::default()).await;
    let _ = classes.delete(&format!("{name}-nowhere"), &DeleteParams::default()).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}

async fn launch_and_terminate(seeded: Seeded, client: kube::Client) {
    install_crds(&client).await;
    let name = seeded.cluster.clone();

    let classes: Api<EC2NodeClass> = Api::all(client.clone());
    let mut class = seeded.node_class(&name);
    class.metadata.uid = None;
    class.metadata.generation = None;
    classes.create(&PostParams::default(), &class).await.expect("creating the EC2NodeClass");
    let mut unmatched = seeded.node_class(&format!("{name}-nowhere"));
    unmatched.metadata.uid = None;
    unmatched.metadata.generation = None;
    for term in &mut unmatched.spec.subnet_selector_terms {
        term.tags = Some([("karpenter.sh/discovery".to_string(), format!("{name}-nowhere"))].into());
    }
    classes.create(&PostParams::default(), &unmatched).await.expect("creating the unmatched EC2NodeClass");

    let (_, mut pool) = super::support::seed();
    pool.metadata.name = Some(name.clone());
    pool.spec.template.spec.node_class_ref.name = name.clone();
    let pools: Api<NodePool> = Api::all(client.clone());
    pools.create(&PostParams::default(), &pool).await.expect("creating the NodePool");

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    namespaces.create(&PostParams::default(), &namespace).await.expect("creating the namespace");
    let pods: Api<Pod> = Api::namespaced(client.clone(), &name);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "inflate"},
        "spec": {
            "nodeSelector": {"karpenter.sh/nodepool": name},
            "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                            "resources": {"requests": {"cpu": "1"}}}]
        }
    }))
    .unwrap();

    // EventBridge's target: the queue the controller polls, named after the test's cluster.
    let sqs = aws_sdk_sqs::Client::new(&seeded.config);
    let queue_url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .expect("a queue URL")
        .to_string();

    let controller = Controller::start(&seeded, &name);
    let fail = |what: String| -> String { format!("{what}\ncontroller log:\n{}", controller.log()) };
    let or_fail = |result: Result<String, String>| result.unwrap_or_else(|e| panic!("{}", fail(e)));

    // The status controller resolves both classes: one Ready, one naming what it lacks.
    let state = eventually("the EC2NodeClass becomes Ready", Duration::from_secs(60), || async {
        let class = classes.get(&name).await.expect("the EC2NodeClass");
        let ready = condition(&class, "Ready");
        (ready.as_ref().is_some_and(|(status, _)| status == "True"), format!("{ready:?}"))
    })
    .await;
    or_fail(state);
    let refused = classes.get(&format!("{name}-nowhere")).await.expect("the unmatched EC2NodeClass");
    let subnets = condition(&refused, "SubnetsReady");
    assert!(
        subnets.as_ref().is_some_and(|(status, message)| status == "False" && message.contains("subnet")),
        "{}",
        fail(format!("SubnetsReady of the unmatched class: {subnets:?}"))
    );

    // A pending pod of the pool gets a NodeClaim, launched as one instance in moto.
    pods.create(&PostParams::default(), &pod).await.expect("creating the pod");
    let claims: Api<NodeClaim> = Api::all(client.clone());
    let selector = ListParams::default().labels(&format!("karpenter.sh/nodepool={name}"));
    let launched = eventually("a NodeClaim of the pool is launched", Duration::from_secs(90), || async {
        let listed = claims.list(&selector).await.expect("listing NodeClaims");
        let ids: Vec<String> =
            listed.items.iter().filter_map(|c| c.status.as_ref()?.provider_id.clone()).collect();
        (ids.len() == 1, ids.join(","))
    })
    .await;
    let launched = or_fail(launched);
    assert!(launched.starts_with("aws:///us-east-1"), "{}", fail(format!("provider id {launched}")));
    let instances = seeded.live_instances().await;
    assert_eq!(instances.len(), 1, "{}", fail(format!("instances in moto: {instances:?}")));
    let instance = &instances[0];
    assert!(launched.ends_with(instance.instance_id().unwrap_or_default()), "{launched} vs {instance:?}");
    assert_eq!(instance.image_id(), Some(seeded.arm64_image.as_str()));
    let instance_type = instance.instance_type().map(|t| t.as_str().to_string()).unwrap_or_default();
    let family = instance_type.split('.').next().unwrap_or_default();
    assert!(
        family.ends_with('g') || family.ends_with("gd") || family.ends_with("gn"),
        "a Graviton type, got {instance_type}"
    );

    // A spot interruption warning for the instance deletes its NodeClaim; the termination terminates the
    // instance and then lets the NodeClaim go, and the message leaves the queue. The pod goes first, so that
    // nothing is launched in its place.
    pods.delete("inflate", &DeleteParams::default()).await.expect("deleting the pod");
    let instance_id = instance.instance_id().unwrap_or_default();
    let zone = instance.placement().and_then(|p| p.availability_zone()).unwrap_or("us-east-1a");
    let warning = json!({
        "version": "0",
        "id": format!("{name}-spot"),
        "detail-type": "EC2 Spot Instance Interruption Warning",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [format!("arn:aws:ec2:{zone}:instance/{instance_id}")],
        "detail": {"instance-id": instance_id, "instance-action": "terminate"}
    });
    sqs.send_message()
        .queue_url(&queue_url)
        .message_body(warning.to_string())
        .send()
        .await
        .expect("SendMessage");
    let left = eventually("the interrupted NodeClaim is gone", Duration::from_secs(90), || async {
        let listed = claims.list(&selector).await.expect("listing NodeClaims");
        (listed.items.is_empty(), format!("{} NodeClaims", listed.items.len()))
    })
    .await;
    let left = or_fail(left);
    assert!(seeded.live_instances().await.is_empty(), "{}", fail(format!("instances left after {left}")));
    let drained = eventually("the message is deleted", Duration::from_secs(30), || async {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("GetQueueAttributes");
        let counts: Vec<String> =
            attributes.attributes().map(|a| a.values().cloned().collect()).unwrap_or_default();
        (counts.len() == 2 && counts.iter().all(|c| c == "0"), format!("{counts:?} messages"))
    })
    .await;
    or_fail(drained);
    let log = controller.log();
    assert!(log.contains("initiating delete from interruption message"), "{}", fail(String::new()));
    let _ = sqs.delete_queue().queue_url(&queue_url).send().await;

    drop(controller);
}
