//! EC2NodeClass resolution against moto: the seed's class finds the tagged subnets, the security group, the
//! image and a managed instance profile for its role; each bad input makes its condition and `Ready` False
//! with a message naming the cause, and a launch from such a class is refused without making an instance.
#![cfg(feature = "cluster-tests")]

use expect_test::expect;
use karpenter_aws::nodeclass::managed_instance_profile_name;
use karpenter_cloud::CloudProvider;

use super::emulator::{CapacityInjector, seed};
use super::support::{launch_request, now, register, seed as seed_documents, solver_pool};

#[tokio::test]
async fn the_seed_node_class_resolves_and_its_instance_profile_is_created_then_reused() {
    let seeded = seed("resolve").await;
    let provider = seeded.provider(&CapacityInjector::default());
    let class = seeded.node_class("default");
    let resolution = provider.resolve_node_class(&class, now()).await;
    assert!(resolution.api_errors.is_empty(), "{:?}", resolution.api_errors);
    let status = resolution.status;
    let mut subnets: Vec<String> = status.subnets.iter().flatten().map(|s| s.id.clone()).collect();
    subnets.sort();
    let mut seeded_subnets = seeded.subnets.clone();
    seeded_subnets.sort();
    assert_eq!(subnets, seeded_subnets);
    let zones: Vec<&str> = {
        let mut z: Vec<&str> = status.subnets.iter().flatten().map(|s| s.zone.as_str()).collect();
        z.sort();
        z
    };
    assert_eq!(zones, ["us-east-1a", "us-east-1b"]);
    assert_eq!(
        status.security_groups.iter().flatten().map(|g| g.id.clone()).collect::<Vec<_>>(),
        std::slice::from_ref(&seeded.security_group)
    );
    let amis = status.amis.clone().unwrap_or_default();
    assert_eq!(amis.len(), 1);
    assert_eq!(amis[0].id, seeded.arm64_image);
    assert_eq!(amis[0].requirements[0].values.as_deref(), Some(&["arm64".to_string()][..]));
    let profile = status.instance_profile.clone().expect("an instance profile");
    assert_eq!(profile, managed_instance_profile_name(&seeded.cluster, "us-east-1", "default", &seeded.role));
    let conditions: Vec<String> =
        status.conditions.iter().flatten().map(|c| format!("{}={}", c.type_, c.status)).collect();
    expect!["AMIsReady=True SubnetsReady=True SecurityGroupsReady=True InstanceProfileReady=True Ready=True"]
        .assert_eq(&conditions.join(" "));

    // The profile exists in IAM with the role, and a second resolution reuses it.
    let iam = aws_sdk_iam::Client::new(&seeded.config);
    let found =
        iam.get_instance_profile().instance_profile_name(&profile).send().await.expect("GetInstanceProfile");
    let roles: Vec<&str> = found.instance_profile().unwrap().roles().iter().map(|r| r.role_name()).collect();
    assert_eq!(roles, [seeded.role.as_str()]);
    let mut resolved = class.clone();
    resolved.status = Some(status.clone());
    let again = provider.resolve_node_class(&resolved, now()).await;
    assert_eq!(again.status.instance_profile, Some(profile));
    let ready = |s: &karpenter_api::EC2NodeClassStatus| {
        s.conditions.iter().flatten().find(|c| c.type_ == "Ready").cloned().unwrap()
    };
    assert_eq!(
        ready(&again.status).last_transition_time,
        ready(&status).last_transition_time,
        "an unchanged condition keeps its time"
    );
}

#[tokio::test]
async fn each_bad_input_names_its_cause_and_no_instance_is_made() {
    let seeded = seed("bad-inputs").await;
    let provider = seeded.provider(&CapacityInjector::default());
    let (_, pool) = seed_documents();
    let mut table = Vec::new();
    type Change = Box<dyn Fn(&mut karpenter_api::EC2NodeClass)>;
    let cases: Vec<(&str, Change)> = vec![
        (
            "no-subnet",
            Box::new(|c| {
                c.spec.subnet_selector_terms[0].tags =
                    Some([("karpenter.sh/discovery".to_string(), "nobody".to_string())].into_iter().collect())
            }),
        ),
        ("no-ami", Box::new(|c| c.spec.ami_selector_terms[0].id = Some("ami-0000000000000dead".into()))),
        (
            "no-profile",
            Box::new(|c| {
                c.spec.role = None;
                c.spec.instance_profile = Some("no-such-profile".into());
            }),
        ),
        ("no-role", Box::new(|c| c.spec.role = Some("no-such-role".into()))),
        (
            "unsupported-alias",
            Box::new(|c| {
                c.spec.ami_selector_terms = vec![karpenter_api::AmiSelectorTerm {
                    alias: Some("al2@latest".into()),
                    ..Default::default()
                }];
                c.spec.ami_family = None;
            }),
        ),
    ];
    for (name, change) in cases {
        let mut class = seeded.node_class(name);
        change(&mut class);
        let resolution = provider.resolve_node_class(&class, now()).await;
        assert!(resolution.api_errors.is_empty(), "{name}: {:?}", resolution.api_errors);
        let ready =
            resolution.status.conditions.iter().flatten().find(|c| c.type_ == "Ready").cloned().unwrap();
        let failing: Vec<String> = resolution
            .status
            .conditions
            .iter()
            .flatten()
            .filter(|c| c.status == "False" && c.type_ != "Ready")
            .map(|c| format!("{} {}", c.type_, c.reason))
            .collect();
        class.status = Some(resolution.status);
        register(&provider, &class);
        let mut node_pool = solver_pool(&pool);
        node_pool.node_class_ref.as_mut().unwrap().name = name.to_string();
        let request = launch_request(&provider, &node_pool, &format!("{name}-claim")).await;
        let error =
            provider.create(&request).await.expect_err("a launch from a class that is not ready fails");
        assert_eq!(error.kind(), "NodeClassNotReadyError", "{name}: {error}");
        assert!(
            error.to_string().contains(&ready.message),
            "{name}: the error carries the condition's message: {error}"
        );
        table.push(format!(
            "{name}: {} | {}",
            failing.join(", "),
            ready.message.replace(&seeded.cluster, "<cluster>")
        ));
    }
    expect![[r#"
        no-subnet: SubnetsReady SubnetsNotFound | SubnetsReady=False (no subnet matches spec.subnetSelectorTerms [{"tags":{"karpenter.sh/discovery":"nobody"}}])
        no-ami: AMIsReady AMINotFound | AMIsReady=False (no image matches spec.amiSelectorTerms [{"id":"ami-0000000000000dead"}])
        no-profile: InstanceProfileReady InstanceProfileNotFound | InstanceProfileReady=False (spec.instanceProfile "no-such-profile" does not exist)
        no-role: InstanceProfileReady RoleNotFound | InstanceProfileReady=False (spec.role "no-such-role" does not exist, so instance profile <cluster>_5807498623499171203 has no role)
        unsupported-alias: AMIsReady UnsupportedAlias | AMIsReady=False (alias "al2@latest" is not supported on Kubernetes 1.34: AL2 images are not published for Kubernetes 1.33 and later)"#]]
    .assert_eq(&table.join("\n"));
    assert!(seeded.live_instances().await.is_empty(), "no instance was made");
}
