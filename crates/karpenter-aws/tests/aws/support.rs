//! What the tests share: the seed document's EC2NodeClass and NodePool, a node class with a resolved status,
//! launch requests, and mocked clients.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_ec2::config::{AsyncSleep, SharedAsyncSleep, Sleep};
use aws_smithy_mocks::{Rule, RuleMode};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use karpenter_api::{
    Ami, AmiRequirement, Condition, EC2NodeClass, EC2NodeClassStatus, NodePool as ApiNodePool, SecurityGroup,
    Subnet,
};
use karpenter_aws::{AwsProvider, Clients, Settings};
use karpenter_cloud::{CloudProvider, LaunchRequest};
use karpenter_snapshot::{ProviderFlags, map_node_pool, node_class_settings};
use karpenter_solver::model::{InstanceType, Labels, NodeClassRef, NodePool};

/// The seed document's EC2NodeClass and NodePool (`karpenter-api/tests/manifests/seed.yaml`).
pub(crate) fn seed() -> (EC2NodeClass, ApiNodePool) {
    let text = include_str!("../../../karpenter-api/tests/manifests/seed.yaml");
    let mut class = None;
    let mut pool = None;
    for document in serde_norway::Deserializer::from_str(text) {
        let value: serde_json::Value = serde::Deserialize::deserialize(document).expect("seed.yaml is YAML");
        match value["kind"].as_str() {
            Some("EC2NodeClass") => class = Some(serde_json::from_value(value).expect("an EC2NodeClass")),
            Some("NodePool") => pool = Some(serde_json::from_value(value).expect("a NodePool")),
            other => panic!("unexpected kind {other:?} in seed.yaml"),
        }
    }
    (class.expect("seed.yaml has an EC2NodeClass"), pool.expect("seed.yaml has a NodePool"))
}

/// The solver's view of a NodePool.
pub(crate) fn solver_pool(pool: &ApiNodePool) -> NodePool {
    map_node_pool(pool).expect("the NodePool maps")
}

/// Registers a node class with the catalog settings the snapshot mapping makes of it.
pub(crate) fn register(provider: &AwsProvider, class: &EC2NodeClass) {
    let settings = node_class_settings(class, &ProviderFlags::default()).expect("the node class maps");
    provider.set_node_class(class, settings).expect("the node class registers");
}

/// A `Ready` condition and the other four, all True.
pub(crate) fn ready_conditions() -> Vec<Condition> {
    let time = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    ["AMIsReady", "SubnetsReady", "SecurityGroupsReady", "InstanceProfileReady", "Ready"]
        .into_iter()
        .map(|type_| Condition {
            type_: type_.to_string(),
            status: "True".to_string(),
            observed_generation: None,
            last_transition_time: time.clone(),
            reason: type_.to_string(),
            message: String::new(),
        })
        .collect()
}

/// The seed's EC2NodeClass (by image id, AL2023) with a resolved, Ready status: subnets in us-east-1a and
/// us-east-1b, one security group, one arm64 image and an instance profile.
pub(crate) fn resolved_class() -> EC2NodeClass {
    let (mut class, _) = seed();
    class.spec.ami_selector_terms =
        vec![karpenter_api::AmiSelectorTerm { id: Some("ami-0arm".into()), ..Default::default() }];
    class.spec.ami_family = Some(karpenter_api::AmiFamily::AL2023);
    class.status = Some(EC2NodeClassStatus {
        subnets: Some(vec![
            Subnet { id: "subnet-a".into(), zone: "us-east-1a".into(), zone_id: Some("use1-az2".into()) },
            Subnet { id: "subnet-b".into(), zone: "us-east-1b".into(), zone_id: Some("use1-az4".into()) },
        ]),
        security_groups: Some(vec![SecurityGroup { id: "sg-1".into(), name: Some("nodes".into()) }]),
        capacity_reservations: None,
        amis: Some(vec![Ami {
            id: "ami-0arm".into(),
            name: Some("arm".into()),
            deprecated: None,
            requirements: vec![AmiRequirement {
                key: "kubernetes.io/arch".into(),
                operator: "In".into(),
                values: Some(vec!["arm64".into()]),
            }],
        }]),
        instance_profile: Some("my-cluster_profile".into()),
        conditions: Some(ready_conditions()),
    });
    class
}

/// Provider settings for a test cluster.
pub(crate) fn settings(cluster: &str) -> Settings {
    let mut settings = Settings::new(cluster, "https://api.example.com", "us-east-1");
    settings.cluster_cidr = Some("10.100.0.0/16".to_string());
    settings.cluster_dns = Some("10.100.0.10".to_string());
    settings.ca_bundle = Some("Y2EtYnVuZGxlCg==".to_string());
    settings.kubernetes_version = "1.34".to_string();
    settings
}

/// A launch request of a NodeClaim of `pool` over every type the provider offers it.
pub(crate) async fn launch_request(
    provider: &AwsProvider,
    pool: &NodePool,
    node_claim: &str,
) -> LaunchRequest {
    let types = provider.instance_types(pool).await.expect("instance types");
    request_with(pool, node_claim, types.iter().cloned().collect())
}

/// A launch request of a NodeClaim of `pool` over `types`.
pub(crate) fn request_with(
    pool: &NodePool,
    node_claim: &str,
    types: Vec<Arc<InstanceType>>,
) -> LaunchRequest {
    let mut labels: Labels = pool.labels.clone();
    labels.insert("karpenter.sh/nodepool".into(), pool.name.clone());
    LaunchRequest {
        node_claim: node_claim.to_string(),
        node_pool: pool.name.clone(),
        node_class: pool.node_class_ref.clone().unwrap_or_else(|| NodeClassRef {
            group: "karpenter.k8s.aws".into(),
            kind: "EC2NodeClass".into(),
            name: "default".into(),
        }),
        labels,
        taints: pool.taints.clone(),
        startup_taints: pool.startup_taints.clone(),
        requirements: pool.requirements.clone(),
        requests: [("cpu".to_string(), "100m".to_string())].into_iter().collect(),
        instance_types: types,
    }
}

/// Sleeps on tokio's clock, so that the SDK's retries back off in tests.
#[derive(Debug)]
pub(crate) struct TokioSleep;

impl AsyncSleep for TokioSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep::new(tokio::time::sleep(duration))
    }
}

/// Clients whose calls the rules answer; the SDK retries with a 1 ms backoff and at most 3 attempts.
pub(crate) fn mocked(ec2: &[&Rule], ssm: &[&Rule], iam: &[&Rule]) -> Clients {
    let retry = aws_sdk_ec2::config::retry::RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5));
    let sleep = SharedAsyncSleep::new(TokioSleep);
    let ec2 = aws_smithy_mocks::mock_client!(aws_sdk_ec2, RuleMode::MatchAny, ec2.iter().copied(), |c| c
        .retry_config(retry.clone())
        .sleep_impl(sleep.clone()));
    let ssm = aws_smithy_mocks::mock_client!(aws_sdk_ssm, RuleMode::MatchAny, ssm.iter().copied(), |c| c
        .retry_config(retry.clone())
        .sleep_impl(sleep.clone()));
    let iam = aws_smithy_mocks::mock_client!(aws_sdk_iam, RuleMode::MatchAny, iam.iter().copied(), |c| c
        .retry_config(retry.clone())
        .sleep_impl(sleep.clone()));
    let no_rules: [&Rule; 0] = [];
    let sqs = aws_smithy_mocks::mock_client!(aws_sdk_sqs, RuleMode::MatchAny, no_rules.iter().copied());
    let pricing =
        aws_smithy_mocks::mock_client!(aws_sdk_pricing, RuleMode::MatchAny, no_rules.iter().copied());
    Clients { ec2, ssm, iam, sqs, pricing }
}

/// Now, for resolutions.
#[allow(clippy::disallowed_methods, reason = "tests against a live emulator run in wall-clock time")]
pub(crate) fn now() -> SystemTime {
    SystemTime::now()
}
