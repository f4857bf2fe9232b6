//! Launches against moto: a NodeClaim of the seed's NodePool becomes exactly one Graviton c/m/t instance of
//! generation 4 or later, from the arm64 image, in a tagged subnet, with the cluster and NodePool tags and a
//! launch template that requires IMDSv2; deleting it terminates it. With the cheapest offerings out of
//! capacity, the launch falls back to the next one.
#![cfg(feature = "cluster-tests")]

use karpenter_aws::launch;
use karpenter_cloud::{CloudProvider, Deletion, OfferingKey};

use super::emulator::tag_map;
use super::emulator::{CapacityInjector, seed};
use super::support::{launch_request, now, register, seed as seed_documents, solver_pool};

/// A seeded cluster with the seed's node class resolved and registered.
async fn ready(
    purpose: &str,
    injector: &CapacityInjector,
) -> (super::emulator::Seeded, karpenter_aws::AwsProvider) {
    let seeded = seed(purpose).await;
    let provider = seeded.provider(injector);
    let mut class = seeded.node_class("default");
    let resolution = provider.resolve_node_class(&class, now()).await;
    class.status = Some(resolution.status);
    register(&provider, &class);
    (seeded, provider)
}

#[tokio::test]
async fn a_node_claim_of_the_seed_node_pool_becomes_one_graviton_instance_and_is_terminated() {
    let (seeded, provider) = ready("launch", &CapacityInjector::default()).await;
    let (_, pool) = seed_documents();
    let pool = solver_pool(&pool);
    let request = launch_request(&provider, &pool, "default-abcde").await;
    let instance = provider.create(&request).await.unwrap_or_else(|e| panic!("launch failed: {e}"));

    let live = seeded.live_instances().await;
    assert_eq!(live.len(), 1, "exactly one instance: {live:?}");
    let ec2 = &live[0];
    let instance_type = ec2.instance_type().unwrap().as_str().to_string();
    let family = instance_type.split('.').next().unwrap();
    let category = &family[..1];
    let generation: u32 =
        family[1..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap();
    assert!(
        ["c", "m", "t"].contains(&category) && generation >= 4 && family.contains('g'),
        "{instance_type} is a Graviton c/m/t of generation 4+"
    );
    assert_eq!(instance.instance_type, instance_type);
    assert_eq!(instance.labels["kubernetes.io/arch"], "arm64");
    assert_eq!(instance.capacity_type, "on-demand");
    assert_eq!(ec2.image_id(), Some(seeded.arm64_image.as_str()));
    assert!(
        seeded.subnets.iter().any(|s| Some(s.as_str()) == ec2.subnet_id()),
        "a tagged subnet: {:?}",
        ec2.subnet_id()
    );
    let tags = tag_map(ec2.tags());
    assert_eq!(
        tags.get(&format!("kubernetes.io/cluster/{}", seeded.cluster)).map(String::as_str),
        Some("owned")
    );
    assert_eq!(tags.get("karpenter.sh/nodepool").map(String::as_str), Some("default"));
    assert_eq!(tags.get("eks:eks-cluster-name"), Some(&seeded.cluster));
    assert_eq!(tags.get("karpenter.sh/nodeclaim").map(String::as_str), Some("default-abcde"));
    assert_eq!(instance.provider_id, format!("aws:///{}/{}", instance.zone, ec2.instance_id().unwrap()));

    // The launch template requires IMDSv2 with a hop limit of 1 (moto does not copy it onto the instance).
    let templates = seeded
        .ec2()
        .describe_launch_templates()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:eks:eks-cluster-name")
                .values(&seeded.cluster)
                .build(),
        )
        .send()
        .await
        .expect("DescribeLaunchTemplates");
    assert!(!templates.launch_templates().is_empty());
    for template in templates.launch_templates() {
        let versions = seeded
            .ec2()
            .describe_launch_template_versions()
            .launch_template_id(template.launch_template_id().unwrap())
            .versions("$Latest")
            .send()
            .await
            .expect("DescribeLaunchTemplateVersions");
        let data = versions.launch_template_versions()[0].launch_template_data().unwrap();
        let metadata = data.metadata_options().expect("metadata options");
        assert_eq!(metadata.http_tokens().map(|t| t.as_str()), Some("required"));
        assert_eq!(metadata.http_put_response_hop_limit(), Some(1));
        assert_eq!(data.image_id(), Some(seeded.arm64_image.as_str()));
        assert!(template.launch_template_name().unwrap().starts_with("karpenter.k8s.aws/"));
    }

    // get and list see it; delete terminates it.
    let got = provider.get(&instance.provider_id).await.expect("get");
    assert_eq!(got.node_claim.as_deref(), Some("default-abcde"));
    assert_eq!(got.capacity, instance.capacity);
    assert!(provider.list().await.unwrap().iter().any(|i| i.provider_id == instance.provider_id));
    let mut deletions = Vec::new();
    for _ in 0..10 {
        let deletion = provider.delete(&instance.provider_id).await.expect("delete");
        deletions.push(deletion);
        if deletion == Deletion::Gone {
            break;
        }
    }
    assert_eq!(deletions.first(), Some(&Deletion::Terminating));
    assert_eq!(deletions.last(), Some(&Deletion::Gone));
    assert!(seeded.live_instances().await.is_empty(), "terminated");
    assert!(provider.get(&instance.provider_id).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn with_the_cheapest_offerings_out_of_capacity_the_launch_takes_the_next_one() {
    let injector = CapacityInjector::default();
    let (seeded, provider) = ready("fallback", &injector).await;
    let (_, pool) = seed_documents();
    let pool = solver_pool(&pool);
    let request = launch_request(&provider, &pool, "default-fallback").await;
    let plan = launch::plan(&request, &karpenter_aws::solver_config(), 60).expect("a plan");
    // The two cheapest offerings (one type in both zones, as prices are per type) have no capacity.
    let exhausted: Vec<OfferingKey> = plan.candidates.iter().take(2).map(|c| c.key()).collect();
    let next = plan.candidates[2].key();
    injector.exhaust(&exhausted);

    let instance = provider.create(&request).await.unwrap_or_else(|e| panic!("launch failed: {e}"));
    assert_eq!(instance.offering(), next, "the launch fell back to the next offering");
    let mut remembered = provider.unavailable_offerings();
    remembered.sort();
    let mut expected = exhausted.clone();
    expected.sort();
    assert_eq!(remembered, expected, "the failed offerings are remembered");
    assert_eq!(seeded.live_instances().await.len(), 1);
    while provider.delete(&instance.provider_id).await.unwrap() != Deletion::Gone {}
    assert!(seeded.live_instances().await.is_empty());
}
