//! The provider over mocked AWS clients (`aws-smithy-mocks`): how CreateFleet's answers and errors become
//! launches and the cloud error taxonomy, the insufficient-capacity fallback, batching, retries on
//! throttling, pagination, and AMI alias resolution from SSM answers.

use std::sync::Arc;

use aws_sdk_ec2::Client as Ec2;
use aws_sdk_ec2::error::ErrorMetadata;
use aws_sdk_ec2::operation::create_fleet::{CreateFleetError, CreateFleetOutput};
use aws_sdk_ec2::operation::create_launch_template::CreateLaunchTemplateOutput;
use aws_sdk_ec2::operation::create_tags::CreateTagsOutput;
use aws_sdk_ec2::operation::describe_images::DescribeImagesOutput;
use aws_sdk_ec2::operation::describe_launch_templates::{
    DescribeLaunchTemplatesError, DescribeLaunchTemplatesOutput,
};
use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
use aws_sdk_ec2::operation::describe_subnets::{DescribeSubnetsError, DescribeSubnetsOutput};
use aws_sdk_ec2::types::{
    ArchitectureValues, CreateFleetError as FleetError, CreateFleetInstance, FleetLaunchTemplateOverrides,
    Image, InstanceType as Ec2Type, LaunchTemplate, LaunchTemplateAndOverridesResponse, SecurityGroup,
    Subnet,
};
use aws_sdk_iam::Client as Iam;
use aws_sdk_iam::operation::get_instance_profile::GetInstanceProfileOutput;
use aws_sdk_iam::types::InstanceProfile;
use aws_sdk_ssm::Client as Ssm;
use aws_sdk_ssm::operation::get_parameters::GetParametersOutput;
use aws_sdk_ssm::types::Parameter;
use aws_smithy_mocks::{Rule, mock};
use expect_test::expect;
use karpenter_aws::AwsProvider;
use karpenter_aws::error::INSUFFICIENT_CAPACITY_CODES;
use karpenter_cloud::{CloudProvider, Error, LaunchRequest, OfferingKey};
use karpenter_solver::labels;
use karpenter_solver::model::NodeSelectorRequirement;

use super::support::{launch_request, mocked, now, register, resolved_class, seed, settings, solver_pool};

fn launch_template_found() -> Rule {
    mock!(Ec2::describe_launch_templates).then_output(|| {
        DescribeLaunchTemplatesOutput::builder()
            .launch_templates(
                LaunchTemplate::builder().launch_template_id("lt-1").launch_template_name("x").build(),
            )
            .build()
    })
}

fn tags_ok() -> Rule {
    mock!(Ec2::create_tags).then_output(|| CreateTagsOutput::builder().build())
}

/// A fleet answer: instances from the given overrides, errors for others.
fn fleet_answer(instances: &[(&str, &str, &str)], errors: &[(&str, &str, &str)]) -> CreateFleetOutput {
    let overrides = |instance_type: &str, zone: &str| {
        LaunchTemplateAndOverridesResponse::builder()
            .overrides(
                FleetLaunchTemplateOverrides::builder()
                    .instance_type(Ec2Type::from(instance_type))
                    .availability_zone(zone)
                    .subnet_id(format!("subnet-{}", &zone[zone.len() - 1..]))
                    .image_id("ami-0arm")
                    .build(),
            )
            .build()
    };
    let mut output = CreateFleetOutput::builder().fleet_id("fleet-1");
    for (id, instance_type, zone) in instances {
        output = output.instances(
            CreateFleetInstance::builder()
                .instance_ids(*id)
                .instance_type(Ec2Type::from(*instance_type))
                .launch_template_and_overrides(overrides(instance_type, zone))
                .build(),
        );
    }
    for (code, instance_type, zone) in errors {
        output = output.errors(
            FleetError::builder()
                .error_code(*code)
                .error_message(format!("{code} for {instance_type} in {zone}"))
                .launch_template_and_overrides(overrides(instance_type, zone))
                .build(),
        );
    }
    output.build()
}

/// The provider with the seed's node class resolved and registered, over `ec2`.
fn mocked_provider(ec2: &[&Rule]) -> (AwsProvider, karpenter_solver::model::NodePool) {
    let provider = AwsProvider::from_clients(mocked(ec2, &[], &[]), settings("my-cluster"));
    register(&provider, &resolved_class());
    let (_, pool) = seed();
    (provider, solver_pool(&pool))
}

/// A request pinned to a few Graviton types, so that the plan is easy to read.
async fn graviton_request(
    provider: &AwsProvider,
    pool: &karpenter_solver::model::NodePool,
    name: &str,
) -> LaunchRequest {
    let names = ["c7g.large", "m7g.large", "t4g.large"];
    let mut request = launch_request(provider, pool, name).await;
    // The solver hands the provider the NodeClaim's own types, not the whole catalog.
    request.instance_types.retain(|t| names.contains(&t.name.as_str()));
    request.requirements.push(NodeSelectorRequirement::new(labels::INSTANCE_TYPE, "In", &names));
    request
}

#[tokio::test]
async fn a_launch_asks_for_the_cheapest_offerings_with_upstreams_fleet_shape() {
    let fleet = mock!(Ec2::create_fleet).then_compute_output(|input| {
        let config = &input.launch_template_configs()[0];
        let first = &config.overrides()[0];
        fleet_answer(
            &[("i-0001", first.instance_type().unwrap().as_str(), first.availability_zone().unwrap())],
            &[],
        )
    });
    let describe = launch_template_found();
    let tags = tags_ok();
    let (provider, pool) = mocked_provider(&[&fleet, &describe, &tags]);
    let request = graviton_request(&provider, &pool, "default-shape").await;
    let instance = provider.create(&request).await.expect("the launch succeeds");
    expect![[r#"aws:///us-east-1a/i-0001 t4g.large/us-east-1a/on-demand ami-0arm"#]].assert_eq(&format!(
        "{} {} {}",
        instance.provider_id,
        instance.offering(),
        instance.image_id.clone().unwrap_or_default()
    ));
    assert_eq!(instance.labels["topology.k8s.aws/zone-id"], "use1-az2");
    assert_eq!(instance.labels["karpenter.sh/nodepool"], "default");
    assert_eq!(instance.node_claim.as_deref(), Some("default-shape"));
    assert_eq!((fleet.num_calls(), tags.num_calls()), (1, 1), "one fleet call, then the NodeClaim tag");
}

#[tokio::test]
async fn the_fleet_input_has_overrides_per_type_and_zone_priced_and_tagged() {
    let seen = Arc::new(std::sync::Mutex::new(None));
    let recorded = Arc::clone(&seen);
    let fleet = mock!(Ec2::create_fleet).then_compute_output(move |input| {
        *recorded.lock().unwrap() = Some(input.clone());
        fleet_answer(&[("i-0002", "t4g.large", "us-east-1a")], &[])
    });
    let describe = launch_template_found();
    let tags = tags_ok();
    let (provider, pool) = mocked_provider(&[&fleet, &describe, &tags]);
    provider.create(&graviton_request(&provider, &pool, "default-input").await).await.unwrap();
    let input = seen.lock().unwrap().clone().unwrap();
    let capacity = input.target_capacity_specification().unwrap();
    let mut lines = vec![format!(
        "type={:?} total={:?} default={:?} on-demand={:?} spot={:?}",
        input.r#type(),
        capacity.total_target_capacity(),
        capacity.default_target_capacity_type(),
        input.on_demand_options().and_then(|o| o.allocation_strategy()),
        input.spot_options().map(|o| o.allocation_strategy()),
    )];
    for config in input.launch_template_configs() {
        let spec = config.launch_template_specification().unwrap();
        lines.push(format!(
            "template {} {:?}",
            spec.launch_template_name().unwrap().split('/').next().unwrap(),
            spec.version()
        ));
        for o in config.overrides() {
            lines.push(format!(
                "  {} {} {} {} {:?}",
                o.instance_type().unwrap().as_str(),
                o.availability_zone().unwrap(),
                o.subnet_id().unwrap(),
                o.image_id().unwrap(),
                o.priority()
            ));
        }
    }
    for spec in input.tag_specifications() {
        let tags: Vec<String> =
            spec.tags().iter().map(|t| format!("{}={}", t.key().unwrap(), t.value().unwrap())).collect();
        lines.push(format!("tags {:?}: {}", spec.resource_type().unwrap(), tags.join(",")));
    }
    expect![[r#"
        type=Some(Instant) total=Some(1) default=Some(OnDemand) on-demand=Some(LowestPrice) spot=None
        template karpenter.k8s.aws Some("$Latest")
          t4g.large us-east-1a subnet-a ami-0arm Some(0.0672)
          t4g.large us-east-1b subnet-b ami-0arm Some(0.0672)
        template karpenter.k8s.aws Some("$Latest")
          c7g.large us-east-1a subnet-a ami-0arm Some(0.0725)
          c7g.large us-east-1b subnet-b ami-0arm Some(0.0725)
          m7g.large us-east-1a subnet-a ami-0arm Some(0.0816)
          m7g.large us-east-1b subnet-b ami-0arm Some(0.0816)
        tags Instance: eks:eks-cluster-name=my-cluster,karpenter.k8s.aws/ec2nodeclass=default,karpenter.sh/nodepool=default,kubernetes.io/cluster/my-cluster=owned
        tags Volume: eks:eks-cluster-name=my-cluster,karpenter.k8s.aws/ec2nodeclass=default,karpenter.sh/nodepool=default,kubernetes.io/cluster/my-cluster=owned
        tags Fleet: eks:eks-cluster-name=my-cluster,karpenter.k8s.aws/ec2nodeclass=default,karpenter.sh/nodepool=default,kubernetes.io/cluster/my-cluster=owned"#]]
    .assert_eq(&lines.join("\n"));
}

#[tokio::test]
async fn capacity_errors_on_the_cheapest_offerings_fall_back_and_are_remembered() {
    // EC2 could not place the two cheapest overrides and launched the next one.
    let fleet = mock!(Ec2::create_fleet)
        .match_requests(|input| {
            input.launch_template_configs()[0].overrides()[0].instance_type() == Some(&Ec2Type::T4gLarge)
        })
        .then_output(|| {
            fleet_answer(
                &[("i-0003", "c7g.large", "us-east-1a")],
                &[
                    ("InsufficientInstanceCapacity", "t4g.large", "us-east-1a"),
                    ("InsufficientInstanceCapacity", "t4g.large", "us-east-1b"),
                ],
            )
        });
    // Once they are remembered, the next launch starts with the next offering.
    let next = mock!(Ec2::create_fleet)
        .match_requests(|input| {
            input.launch_template_configs()[0].overrides()[0].instance_type() == Some(&Ec2Type::C7gLarge)
        })
        .then_output(|| fleet_answer(&[("i-0004", "c7g.large", "us-east-1a")], &[]));
    let describe = launch_template_found();
    let tags = tags_ok();
    let (provider, pool) = mocked_provider(&[&fleet, &next, &describe, &tags]);
    let first = provider.create(&graviton_request(&provider, &pool, "default-ice-1").await).await.unwrap();
    assert_eq!(first.offering(), OfferingKey::new("c7g.large", "us-east-1a", "on-demand"));
    expect!["[OfferingKey { instance_type: \"t4g.large\", zone: \"us-east-1a\", capacity_type: \"on-demand\" }, OfferingKey { instance_type: \"t4g.large\", zone: \"us-east-1b\", capacity_type: \"on-demand\" }]"]
        .assert_eq(&format!("{:?}", provider.unavailable_offerings()));
    let types = provider.instance_types(&pool).await.unwrap();
    let t4g = types.iter().find(|t| t.name == "t4g.large").unwrap();
    assert!(
        t4g.offerings.iter().filter(|o| o.capacity_type == "on-demand").all(|o| !o.available),
        "reported unavailable"
    );
    let second = provider.create(&graviton_request(&provider, &pool, "default-ice-2").await).await.unwrap();
    assert_eq!(second.provider_id, "aws:///us-east-1a/i-0004");
    assert_eq!((fleet.num_calls(), next.num_calls()), (1, 1));
}

#[tokio::test]
async fn per_override_errors_are_classified_into_the_taxonomy() {
    let mut table = Vec::new();
    for code in
        INSUFFICIENT_CAPACITY_CODES.iter().copied().chain(["InvalidParameterValue", "UnauthorizedOperation"])
    {
        let fleet = mock!(Ec2::create_fleet)
            .then_output(move || fleet_answer(&[], &[(code, "t4g.large", "us-east-1a")]));
        let describe = launch_template_found();
        let (provider, pool) = mocked_provider(&[&fleet, &describe]);
        let mut request = graviton_request(&provider, &pool, "default-codes").await;
        request.requirements.push(NodeSelectorRequirement::new(labels::INSTANCE_TYPE, "In", &["t4g.large"]));
        request.requirements.push(NodeSelectorRequirement::new(labels::ZONE, "In", &["us-east-1a"]));
        let error = provider.create(&request).await.unwrap_err();
        table.push(format!("{code:<35} {:<26} {error}", error.kind()));
    }
    expect![[r#"
        InsufficientInstanceCapacity        InsufficientCapacityError  insufficient capacity for t4g.large/us-east-1a/on-demand
        MaxSpotInstanceCountExceeded        InsufficientCapacityError  insufficient capacity for t4g.large/us-east-1a/on-demand
        VcpuLimitExceeded                   InsufficientCapacityError  insufficient capacity for t4g.large/us-east-1a/on-demand
        UnfulfillableCapacity               InsufficientCapacityError  insufficient capacity for t4g.large/us-east-1a/on-demand
        Unsupported                         InsufficientCapacityError  insufficient capacity for t4g.large/us-east-1a/on-demand
        InsufficientFreeAddressesInSubnet   InsufficientCapacityError  insufficient capacity for t4g.large/us-east-1a/on-demand
        MaxFleetCountExceeded               InsufficientCapacityError  insufficient capacity for t4g.large/us-east-1a/on-demand
        ReservationCapacityExceeded         InsufficientCapacityError  insufficient capacity for t4g.large/us-east-1a/on-demand
        InvalidParameterValue               CreateError                launch failed (LaunchFailed): creating the fleet: the instance launch failed (InvalidParameterValue: InvalidParameterValue for t4g.large in us-east-1a)
        UnauthorizedOperation               CreateError                launch failed (Unauthorized): creating the fleet: not authorized: no identity-based policy allows the operation (UnauthorizedOperation: UnauthorizedOperation for t4g.large in us-east-1a)"#]]
    .assert_eq(&table.join("\n"));
}

#[tokio::test]
async fn fleet_level_errors_become_launch_errors_and_throttling_is_retried_then_reported() {
    let refused = mock!(Ec2::create_fleet).then_error(|| {
        CreateFleetError::generic(
            ErrorMetadata::builder()
                .code("InvalidParameter")
                .message("Security group sg-1 and subnet subnet-a belong to different networks.")
                .build(),
        )
    });
    let describe = launch_template_found();
    let (provider, pool) = mocked_provider(&[&refused, &describe]);
    let error =
        provider.create(&graviton_request(&provider, &pool, "default-refused").await).await.unwrap_err();
    assert!(
        matches!(&error, Error::Launch { reason, .. } if reason == "SecurityGroupSubnetVPCMismatch"),
        "{error}"
    );

    // A throttling storm: every attempt is throttled; the SDK retries, then the launch reports it.
    let throttled = mock!(Ec2::create_fleet).then_error(|| {
        CreateFleetError::generic(
            ErrorMetadata::builder().code("RequestLimitExceeded").message("Request limit exceeded.").build(),
        )
    });
    let describe = launch_template_found();
    let tags = tags_ok();
    let (provider, pool) = mocked_provider(&[&throttled, &describe, &tags]);
    let error =
        provider.create(&graviton_request(&provider, &pool, "default-storm").await).await.unwrap_err();
    assert_eq!((error.kind(), error.retryable()), ("ThrottledError", true), "{error}");
    assert!(error.to_string().contains("RequestLimitExceeded"), "the cause is named: {error}");
    assert_eq!(throttled.num_calls(), 3, "the SDK retried throttling up to its attempt limit");
    assert_eq!(tags.num_calls(), 0, "no instance was made, so none was tagged");
}

#[tokio::test]
async fn concurrent_identical_launches_share_one_fleet_call() {
    let fleet = mock!(Ec2::create_fleet).then_compute_output(|input| {
        let total = input.target_capacity_specification().unwrap().total_target_capacity().unwrap();
        assert_eq!(total, 3, "three launches in one call");
        fleet_answer(
            &[
                ("i-00a", "t4g.large", "us-east-1a"),
                ("i-00b", "t4g.large", "us-east-1a"),
                ("i-00c", "t4g.large", "us-east-1b"),
            ],
            &[],
        )
    });
    let describe = launch_template_found();
    let tags = tags_ok();
    let (provider, pool) = mocked_provider(&[&fleet, &describe, &tags]);
    let provider = Arc::new(provider);
    let mut tasks = Vec::new();
    for i in 0..3 {
        let provider = Arc::clone(&provider);
        let request = graviton_request(&provider, &pool, &format!("default-batch-{i}")).await;
        tasks.push(tokio::spawn(async move { provider.create(&request).await }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap().unwrap().provider_id);
    }
    ids.sort();
    assert_eq!(ids, ["aws:///us-east-1a/i-00a", "aws:///us-east-1a/i-00b", "aws:///us-east-1b/i-00c"]);
    assert_eq!(fleet.num_calls(), 1);
}

#[tokio::test]
async fn a_launch_template_that_vanished_is_recreated_once() {
    let gone = mock!(Ec2::create_fleet)
        .sequence()
        .error(|| {
            CreateFleetError::generic(
                ErrorMetadata::builder()
                    .code("InvalidLaunchTemplateName.NotFoundException")
                    .message("does not exist")
                    .build(),
            )
        })
        .output(|| fleet_answer(&[("i-0005", "t4g.large", "us-east-1a")], &[]))
        .build();
    let describe = mock!(Ec2::describe_launch_templates)
        .sequence()
        .output(|| {
            DescribeLaunchTemplatesOutput::builder()
                .launch_templates(LaunchTemplate::builder().launch_template_id("lt-1").build())
                .build()
        })
        .error(|| {
            DescribeLaunchTemplatesError::generic(
                ErrorMetadata::builder().code("InvalidLaunchTemplateName.NotFoundException").build(),
            )
        })
        .build();
    let create = mock!(Ec2::create_launch_template).then_output(|| {
        CreateLaunchTemplateOutput::builder()
            .launch_template(LaunchTemplate::builder().launch_template_id("lt-2").build())
            .build()
    });
    let tags = tags_ok();
    let (provider, pool) = mocked_provider(&[&gone, &describe, &create, &tags]);
    // One type, so one launch template.
    let mut request = graviton_request(&provider, &pool, "default-lt").await;
    request.instance_types.retain(|t| t.name == "t4g.large");
    let instance = provider.create(&request).await.unwrap();
    assert_eq!(instance.provider_id, "aws:///us-east-1a/i-0005");
    assert_eq!((gone.num_calls(), describe.num_calls(), create.num_calls()), (2, 2, 1));
}

#[tokio::test]
async fn a_node_class_that_is_missing_or_not_ready_stops_the_launch_with_its_reason() {
    let (provider, pool) = mocked_provider(&[]);
    let mut request = graviton_request(&provider, &pool, "default-missing").await;
    request.node_class.name = "absent".into();
    expect!["node class is not ready: EC2NodeClass absent not found"]
        .assert_eq(&provider.create(&request).await.unwrap_err().to_string());

    let mut class = resolved_class();
    let conditions = class.status.as_mut().unwrap().conditions.as_mut().unwrap();
    let ready = conditions.iter_mut().find(|c| c.type_ == "Ready").unwrap();
    ready.status = "False".into();
    ready.reason = "UnhealthyDependents".into();
    ready.message = "SubnetsReady=False (no subnet matches ...)".into();
    register(&provider, &class);
    let request = graviton_request(&provider, &pool, "default-unready").await;
    let error = provider.create(&request).await.unwrap_err();
    assert_eq!(error.kind(), "NodeClassNotReadyError");
    expect!["node class is not ready: EC2NodeClass default: not ready (UnhealthyDependents): SubnetsReady=False (no subnet matches ...)"]
        .assert_eq(&error.to_string());
}

fn subnet(id: &str, zone: &str, free: i32) -> Subnet {
    Subnet::builder()
        .subnet_id(id)
        .availability_zone(zone)
        .availability_zone_id(format!("id-{zone}"))
        .available_ip_address_count(free)
        .build()
}

fn profile_found() -> Rule {
    mock!(Iam::get_instance_profile).then_output(|| {
        GetInstanceProfileOutput::builder()
            .instance_profile(
                InstanceProfile::builder()
                    .instance_profile_name("given")
                    .path("/")
                    .instance_profile_id("AIPA1")
                    .arn("arn:aws:iam::1:instance-profile/given")
                    .create_date(aws_smithy_types::DateTime::from_secs(0))
                    .set_roles(Some(vec![]))
                    .build()
                    .unwrap(),
            )
            .build()
    })
}

#[tokio::test]
async fn resolution_follows_pages_retries_throttling_and_sorts_subnets_by_free_addresses() {
    let page_one = mock!(Ec2::describe_subnets)
        .match_requests(|input| input.next_token().is_none())
        .sequence()
        .error(|| {
            DescribeSubnetsError::generic(ErrorMetadata::builder().code("RequestLimitExceeded").build())
        })
        .output(|| {
            DescribeSubnetsOutput::builder()
                .subnets(subnet("subnet-few", "us-east-1a", 10))
                .next_token("page-2")
                .build()
        })
        .build();
    let page_two = mock!(Ec2::describe_subnets)
        .match_requests(|input| input.next_token() == Some("page-2"))
        .then_output(|| {
            DescribeSubnetsOutput::builder()
                .subnets(subnet("subnet-many", "us-east-1a", 200))
                .subnets(subnet("subnet-b", "us-east-1b", 50))
                .build()
        });
    let groups = mock!(Ec2::describe_security_groups).then_output(|| {
        DescribeSecurityGroupsOutput::builder()
            .security_groups(SecurityGroup::builder().group_id("sg-2").group_name("b").build())
            .security_groups(SecurityGroup::builder().group_id("sg-1").group_name("a").build())
            .build()
    });
    let images = mock!(Ec2::describe_images).then_output(|| {
        DescribeImagesOutput::builder()
            .images(
                Image::builder()
                    .image_id("ami-0arm")
                    .name("node-arm")
                    .architecture(ArchitectureValues::Arm64)
                    .creation_date("2026-11-01T00:00:00.000Z")
                    .build(),
            )
            .build()
    });
    let profile = profile_found();
    let clients = mocked(&[&page_one, &page_two, &groups, &images], &[], &[&profile]);
    let provider = AwsProvider::from_clients(clients, settings("my-cluster"));
    let (mut class, _) = seed();
    class.spec.role = None;
    class.spec.instance_profile = Some("given".into());
    class.spec.ami_selector_terms =
        vec![karpenter_api::AmiSelectorTerm { id: Some("ami-0arm".into()), ..Default::default() }];
    let resolution = provider.resolve_node_class(&class, now()).await;
    assert!(resolution.api_errors.is_empty(), "{:?}", resolution.api_errors);
    let status = resolution.status;
    let subnets: Vec<&str> = status.subnets.iter().flatten().map(|s| s.id.as_str()).collect();
    assert_eq!(subnets, ["subnet-many", "subnet-b", "subnet-few"], "both pages, most free addresses first");
    assert_eq!(page_one.num_calls(), 2, "the throttled first page was retried");
    let groups: Vec<&str> = status.security_groups.iter().flatten().map(|g| g.id.as_str()).collect();
    assert_eq!(groups, ["sg-1", "sg-2"]);
    assert_eq!(status.instance_profile.as_deref(), Some("given"));
    let conditions: Vec<String> = status
        .conditions
        .iter()
        .flatten()
        .map(|c| format!("{}={} {}", c.type_, c.status, c.reason))
        .collect();
    expect!["AMIsReady=True AMIsReady, SubnetsReady=True SubnetsReady, SecurityGroupsReady=True SecurityGroupsReady, InstanceProfileReady=True InstanceProfileReady, Ready=True Ready"]
        .assert_eq(&conditions.join(", "));
}

#[tokio::test]
async fn aliases_resolve_through_ssm_to_the_images_of_each_variant() {
    let parameters = mock!(Ssm::get_parameters).then_compute_output(|input| {
        let mut output = GetParametersOutput::builder();
        for name in input.names() {
            let id = if name.contains("/arm64/standard/") {
                Some("ami-arm-standard")
            } else if name.contains("/x86_64/standard/") {
                Some("ami-x86-standard")
            } else if name.contains("/x86_64/nvidia/") {
                Some("ami-x86-nvidia")
            } else {
                None
            };
            match id {
                Some(id) => output = output.parameters(Parameter::builder().name(name).value(id).build()),
                None => output = output.invalid_parameters(name),
            }
        }
        output.build()
    });
    let image = |id: &str, arch: ArchitectureValues, created: &str| {
        Image::builder()
            .image_id(id)
            .name(format!("name-{id}"))
            .architecture(arch)
            .creation_date(created)
            .build()
    };
    let images = mock!(Ec2::describe_images).then_output(move || {
        DescribeImagesOutput::builder()
            .images(image("ami-arm-standard", ArchitectureValues::Arm64, "2026-11-01T00:00:00.000Z"))
            .images(image("ami-x86-standard", ArchitectureValues::X8664, "2026-11-02T00:00:00.000Z"))
            .images(image("ami-x86-nvidia", ArchitectureValues::X8664, "2026-11-03T00:00:00.000Z"))
            .build()
    });
    let subnets = mock!(Ec2::describe_subnets).then_output(|| DescribeSubnetsOutput::builder().build());
    let groups =
        mock!(Ec2::describe_security_groups).then_output(|| DescribeSecurityGroupsOutput::builder().build());
    let profile = profile_found();
    let clients = mocked(&[&images, &subnets, &groups], &[&parameters], &[&profile]);
    let provider = AwsProvider::from_clients(clients, settings("my-cluster"));
    let (mut class, _) = seed();
    class.spec.ami_selector_terms =
        vec![karpenter_api::AmiSelectorTerm { alias: Some("al2023@latest".into()), ..Default::default() }];
    class.spec.role = None;
    class.spec.instance_profile = Some("given".into());
    let status = provider.resolve_node_class(&class, now()).await.status;
    let amis: Vec<String> = status
        .amis
        .iter()
        .flatten()
        .map(|a| {
            let requirements: Vec<String> = a
                .requirements
                .iter()
                .map(|r| {
                    format!("{} {} {}", r.key, r.operator, r.values.clone().unwrap_or_default().join(","))
                })
                .collect();
            format!("{}: {}", a.id, requirements.join("; "))
        })
        .collect();
    expect![[r#"
        ami-x86-nvidia: kubernetes.io/arch In amd64; karpenter.k8s.aws/instance-gpu-count Exists 
        ami-x86-standard: kubernetes.io/arch In amd64; karpenter.k8s.aws/instance-gpu-count DoesNotExist ; karpenter.k8s.aws/instance-accelerator-count DoesNotExist 
        ami-arm-standard: kubernetes.io/arch In arm64; karpenter.k8s.aws/instance-gpu-count DoesNotExist ; karpenter.k8s.aws/instance-accelerator-count DoesNotExist "#]]
    .assert_eq(&amis.join("\n"));
    // No subnet, no security group: the conditions say so, and Ready names both.
    let ready = status.conditions.iter().flatten().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "UnhealthyDependents"));
    assert!(
        ready.message.contains("SubnetsReady=False (no subnet matches spec.subnetSelectorTerms"),
        "{}",
        ready.message
    );
    assert!(ready.message.contains("SecurityGroupsReady=False"), "{}", ready.message);
}
