//! Launches one node of the seed overview's NodePool through the AWS provider against any EC2 endpoint (an
//! emulator such as moto), prints the instance, and terminates it.
//!
//! `cargo run -p karpenter-examples --example aws_launch_emulated -- --endpoint-url http://127.0.0.1:5000 [--keep]`
//!
//! It seeds what a cluster would already have (a VPC, private subnets tagged `karpenter.sh/discovery` in two
//! zones, the cluster security group, a node role) and picks an arm64 image, resolves the seed's EC2NodeClass
//! (by image id: emulators refuse the `/aws/` SSM names aliases read), launches a NodeClaim of the seed's
//! NodePool, and shows the instance as EC2 reports it and its launch template's metadata options.

use anyhow::{Context, Result, bail};
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use karpenter_api::{AmiSelectorTerm, EC2NodeClass, NodePool};
use karpenter_aws::{AwsProvider, Settings};
use karpenter_cloud::{CloudProvider, Deletion, LaunchRequest};
use karpenter_snapshot::{ProviderFlags, map_node_pool, node_class_settings};

const SEED: &str = include_str!("../../crates/karpenter-api/tests/manifests/seed.yaml");

struct Args {
    endpoint_url: String,
    region: String,
    keep: bool,
}

fn args() -> Result<Args> {
    let mut endpoint_url = None;
    let mut region = "us-east-1".to_string();
    let mut keep = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--endpoint-url" => endpoint_url = Some(args.next().context("--endpoint-url needs a URL")?),
            "--region" => region = args.next().context("--region needs a region")?,
            "--keep" => keep = true,
            other => bail!(
                "unknown argument {other:?}; usage: aws_launch_emulated --endpoint-url URL [--region R] [--keep]"
            ),
        }
    }
    let endpoint_url =
        endpoint_url.context("usage: aws_launch_emulated --endpoint-url URL [--region R] [--keep]")?;
    Ok(Args { endpoint_url, region, keep })
}

fn seed_documents() -> Result<(EC2NodeClass, NodePool)> {
    let mut class = None;
    let mut pool = None;
    for document in serde_norway::Deserializer::from_str(SEED) {
        let value: serde_json::Value = serde::Deserialize::deserialize(document)?;
        match value["kind"].as_str() {
            Some("EC2NodeClass") => class = Some(serde_json::from_value(value)?),
            Some("NodePool") => pool = Some(serde_json::from_value(value)?),
            _ => {}
        }
    }
    Ok((class.context("the seed has an EC2NodeClass")?, pool.context("the seed has a NodePool")?))
}

fn tagged(resource: ResourceType, key: &str, value: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource)
        .tags(Tag::builder().key(key).value(value).build())
        .build()
}

#[allow(clippy::print_stdout, reason = "an example's job is to print")]
#[allow(
    clippy::disallowed_methods,
    reason = "an example is a binary: it reads the clock and passes `now` in"
)]
#[tokio::main]
async fn main() -> Result<()> {
    let args = args()?;
    let config = aws_config::defaults(aws_config::BehaviorVersion::v2026_01_12())
        .endpoint_url(&args.endpoint_url)
        .region(aws_config::Region::new(args.region.clone()))
        .test_credentials()
        .load()
        .await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let cluster = format!("example-{}", std::process::id());

    // What the cluster would already have.
    let vpc = ec2.create_vpc().cidr_block("10.30.0.0/16").send().await?;
    let vpc = vpc.vpc().and_then(|v| v.vpc_id()).context("no VPC id")?.to_string();
    for (zone, cidr) in [("a", "10.30.1.0/24"), ("b", "10.30.2.0/24")] {
        ec2.create_subnet()
            .vpc_id(&vpc)
            .availability_zone(format!("{}{zone}", args.region))
            .cidr_block(cidr)
            .tag_specifications(tagged(ResourceType::Subnet, "karpenter.sh/discovery", &cluster))
            .send()
            .await?;
    }
    ec2.create_security_group()
        .vpc_id(&vpc)
        .group_name(format!("{cluster}-nodes"))
        .description("cluster security group")
        .tag_specifications(tagged(ResourceType::SecurityGroup, "karpenter.sh/discovery", &cluster))
        .send()
        .await?;
    let images = ec2
        .describe_images()
        .owners("amazon")
        .filters(Filter::builder().name("architecture").values("arm64").build())
        .send()
        .await?;
    let image =
        images.images().iter().filter_map(|i| i.image_id()).min().context("no arm64 image")?.to_string();
    let role = format!("KarpenterNodeRole-{cluster}");
    aws_sdk_iam::Client::new(&config)
        .create_role()
        .role_name(&role)
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#)
        .send()
        .await?;

    // The seed's EC2NodeClass, pointed at it.
    let (mut class, pool) = seed_documents()?;
    for term in class.spec.subnet_selector_terms.iter_mut() {
        term.tags = Some([("karpenter.sh/discovery".to_string(), cluster.clone())].into());
    }
    for term in class.spec.security_group_selector_terms.iter_mut() {
        term.tags = Some([("karpenter.sh/discovery".to_string(), cluster.clone())].into());
    }
    class.spec.ami_selector_terms = vec![AmiSelectorTerm { id: Some(image.clone()), ..Default::default() }];
    class.spec.ami_family = Some(karpenter_api::AmiFamily::AL2023);
    class.spec.role = Some(role);

    let mut settings = Settings::new(&cluster, "https://api.example.com", &args.region);
    settings.cluster_cidr = Some("10.100.0.0/16".to_string());
    settings.cluster_dns = Some("10.100.0.10".to_string());
    let provider = AwsProvider::new(&config, settings);
    let resolution = provider.resolve_node_class(&class, std::time::SystemTime::now()).await;
    for condition in resolution.status.conditions.iter().flatten() {
        println!(
            "{:<22} {:<6} {} {}",
            condition.type_, condition.status, condition.reason, condition.message
        );
    }
    class.status = Some(resolution.status);
    provider.set_node_class(&class, node_class_settings(&class, &ProviderFlags::default())?)?;

    // A NodeClaim of the seed's NodePool.
    let pool = map_node_pool(&pool)?;
    let types = provider.instance_types(&pool).await?;
    let mut labels = pool.labels.clone();
    labels.insert("karpenter.sh/nodepool".to_string(), pool.name.clone());
    let request = LaunchRequest {
        node_claim: format!("{}-example", pool.name),
        node_pool: pool.name.clone(),
        node_class: pool.node_class_ref.clone().context("the NodePool names its node class")?,
        labels,
        taints: pool.taints.clone(),
        startup_taints: pool.startup_taints.clone(),
        requirements: pool.requirements.clone(),
        requests: [("cpu".to_string(), "1".to_string()), ("memory".to_string(), "2Gi".to_string())].into(),
        instance_types: types.to_vec(),
    };
    let instance = provider.create(&request).await?;
    println!(
        "\nlaunched {} ({} in {}, {}) from {}",
        instance.provider_id,
        instance.instance_type,
        instance.zone,
        instance.capacity_type,
        instance.image_id.as_deref().unwrap_or("?")
    );
    println!("capacity    {:?}", instance.capacity);
    println!("allocatable {:?}", instance.allocatable);

    let id = instance.provider_id.rsplit('/').next().unwrap_or_default().to_string();
    let described = ec2.describe_instances().instance_ids(&id).send().await?;
    for ec2_instance in described.reservations().iter().flat_map(|r| r.instances()) {
        let mut tags: Vec<String> = ec2_instance
            .tags()
            .iter()
            .map(|t| format!("{}={}", t.key().unwrap_or(""), t.value().unwrap_or("")))
            .collect();
        tags.sort();
        println!(
            "EC2 reports subnet {} image {} tags {}",
            ec2_instance.subnet_id().unwrap_or("?"),
            ec2_instance.image_id().unwrap_or("?"),
            tags.join(", ")
        );
    }
    let templates = ec2
        .describe_launch_templates()
        .filters(Filter::builder().name("tag:eks:eks-cluster-name").values(&cluster).build())
        .send()
        .await?;
    for template in templates.launch_templates() {
        let versions = ec2
            .describe_launch_template_versions()
            .launch_template_id(template.launch_template_id().unwrap_or_default())
            .versions("$Latest")
            .send()
            .await?;
        for version in versions.launch_template_versions() {
            let metadata = version.launch_template_data().and_then(|d| d.metadata_options());
            println!(
                "launch template {}: HttpTokens={:?} hop limit {:?}",
                template.launch_template_name().unwrap_or("?"),
                metadata.and_then(|m| m.http_tokens()).map(|t| t.as_str()),
                metadata.and_then(|m| m.http_put_response_hop_limit())
            );
        }
    }

    if !args.keep {
        while provider.delete(&instance.provider_id).await? != Deletion::Gone {}
        println!("terminated {}", instance.provider_id);
    }
    Ok(())
}
