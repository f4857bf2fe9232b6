//! The catalog against the worked examples of `karpenter-aws.md` section 2, the labels upstream writes, the seed
//! NodePool, and invariants over every instance type.

use std::collections::{BTreeMap, BTreeSet};

use expect_test::expect;
use karpenter_catalog::spec::{Device, InstanceTypeSpec, RegionOfferings, Zone};
use karpenter_catalog::{AmiFamily, Catalog, NodeClassSettings, eni_limited_pods};
use karpenter_solver::model::InstanceType;
use karpenter_solver::{InstanceTypeIndex, allocatable};
use proptest::prelude::*;

mod seed;

fn us_east_1() -> Vec<InstanceType> {
    Catalog::embedded("us-east-1").unwrap().instance_types(&NodeClassSettings::default()).unwrap()
}

/// A minimal x86_64 record, as DescribeInstanceTypes would return it, for hand-written cases.
fn x86_spec(name: &str) -> InstanceTypeSpec {
    InstanceTypeSpec {
        name: name.into(),
        vcpus: 4,
        memory_mib: 16384,
        architectures: vec!["x86_64".into()],
        cpu_manufacturer: None,
        sustained_clock_ghz: None,
        hypervisor: "nitro".into(),
        usage_classes: vec!["on-demand".into()],
        default_network_card: 0,
        network_cards: vec![4],
        ipv4_per_interface: 15,
        encryption_in_transit: false,
        efa_interfaces: None,
        gpus: vec![],
        accelerators: vec![],
        neuron_devices: vec![],
        instance_storage: None,
        ebs_optimized_support: None,
        ebs_max_bandwidth_mbps: None,
        nitro_enclaves: false,
    }
}

fn find<'a>(types: &'a [InstanceType], name: &str) -> &'a InstanceType {
    types.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("{name} is in the catalog"))
}

/// `cpu/memory/pods/ephemeral-storage` of capacity and allocatable, as one line.
fn shape(it: &InstanceType) -> String {
    let alloc = allocatable(it).unwrap();
    let pick = |list: &BTreeMap<String, String>| {
        ["cpu", "memory", "pods", "ephemeral-storage"]
            .iter()
            .map(|k| list[*k].clone())
            .collect::<Vec<_>>()
            .join(" / ")
    };
    format!("{}: capacity {} -> allocatable {}", it.name, pick(&it.capacity), pick(&alloc))
}

#[test]
fn worked_examples_of_capacity_and_allocatable() {
    let types = us_east_1();
    let lines: Vec<String> =
        ["m5.large", "c6g.large", "t3.micro", "m5.24xlarge"].iter().map(|n| shape(find(&types, n))).collect();
    expect![[r#"
        m5.large: capacity 2 / 7577Mi / 29 / 20Gi -> allocatable 1930m / 6903Mi / 29 / 17Gi
        c6g.large: capacity 2 / 3729Mi / 29 / 20Gi -> allocatable 1930m / 3055Mi / 29 / 17Gi
        t3.micro: capacity 2 / 947Mi / 4 / 20Gi -> allocatable 1930m / 548Mi / 4 / 17Gi
        m5.24xlarge: capacity 96 / 363724Mi / 737 / 20Gi -> allocatable 95690m / 355262Mi / 737 / 17Gi"#]]
    .assert_eq(&lines.join("\n"));
}

#[test]
fn eni_limited_max_pods() {
    let catalog = Catalog::embedded("us-east-1").unwrap();
    let pods: Vec<String> = ["t3.micro", "m5.large", "m5.xlarge", "c6g.large", "m5.24xlarge", "p5.48xlarge"]
        .iter()
        .map(|name| {
            let spec = catalog.specs().iter().find(|s| s.name == *name).unwrap();
            format!("{name}={}", eni_limited_pods(spec, 0))
        })
        .collect();
    assert_eq!(
        pods.join(" "),
        "t3.micro=4 m5.large=29 m5.xlarge=58 c6g.large=29 m5.24xlarge=737 p5.48xlarge=100"
    );
}

fn labels(it: &InstanceType) -> String {
    it.requirements
        .iter()
        .map(|r| format!("{} {} {}", r.key, r.operator, r.values.join(",")).trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn labels_of_a_flex_type() {
    expect![[r#"
        node.kubernetes.io/instance-type In m7i-flex.large
        kubernetes.io/arch In amd64
        kubernetes.io/os In linux
        topology.kubernetes.io/zone In us-east-1a,us-east-1b,us-east-1c,us-east-1d,us-east-1f
        topology.kubernetes.io/region In us-east-1
        node.kubernetes.io/windows-build DoesNotExist
        karpenter.sh/capacity-type In on-demand,spot
        karpenter.k8s.aws/instance-cpu In 2
        karpenter.k8s.aws/instance-cpu-manufacturer In intel
        karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz In 3200
        karpenter.k8s.aws/instance-memory In 8192
        karpenter.k8s.aws/instance-ebs-bandwidth In 10000
        karpenter.k8s.aws/instance-network-bandwidth In 390
        karpenter.k8s.aws/instance-hypervisor In nitro
        karpenter.k8s.aws/instance-encryption-in-transit-supported In true
        karpenter.k8s.aws/nitro-sandbox In false
        karpenter.k8s.aws/instance-tenancy In default,dedicated
        karpenter.sh/reservation-id DoesNotExist
        karpenter.k8s.aws/capacity-reservation-type DoesNotExist
        karpenter.k8s.aws/capacity-reservation-interruptible DoesNotExist
        karpenter.k8s.aws/instance-category In m
        karpenter.k8s.aws/instance-generation In 7
        karpenter.k8s.aws/instance-family In m7i-flex
        karpenter.k8s.aws/instance-size In large
        karpenter.k8s.aws/instance-capability-flex In true
        karpenter.k8s.aws/instance-local-nvme DoesNotExist
        karpenter.k8s.aws/instance-gpu-name DoesNotExist
        karpenter.k8s.aws/instance-gpu-manufacturer DoesNotExist
        karpenter.k8s.aws/instance-gpu-count DoesNotExist
        karpenter.k8s.aws/instance-gpu-memory DoesNotExist
        karpenter.k8s.aws/instance-accelerator-name DoesNotExist
        karpenter.k8s.aws/instance-accelerator-manufacturer DoesNotExist
        karpenter.k8s.aws/instance-accelerator-count DoesNotExist
        topology.k8s.aws/zone-id In use1-az2,use1-az4,use1-az6,use1-az1,use1-az5"#]]
    .assert_eq(&labels(find(&us_east_1(), "m7i-flex.large")));
}

#[test]
fn labels_of_a_gpu_type() {
    let types = us_east_1();
    let it = find(&types, "g5.xlarge");
    expect![[r#"
        node.kubernetes.io/instance-type In g5.xlarge
        kubernetes.io/arch In amd64
        kubernetes.io/os In linux
        topology.kubernetes.io/zone In us-east-1a,us-east-1b,us-east-1c,us-east-1d,us-east-1f
        topology.kubernetes.io/region In us-east-1
        node.kubernetes.io/windows-build DoesNotExist
        karpenter.sh/capacity-type In on-demand,spot
        karpenter.k8s.aws/instance-cpu In 4
        karpenter.k8s.aws/instance-cpu-manufacturer In amd
        karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz In 3300
        karpenter.k8s.aws/instance-memory In 16384
        karpenter.k8s.aws/instance-ebs-bandwidth In 3500
        karpenter.k8s.aws/instance-network-bandwidth In 2500
        karpenter.k8s.aws/instance-hypervisor In nitro
        karpenter.k8s.aws/instance-encryption-in-transit-supported In true
        karpenter.k8s.aws/nitro-sandbox In true
        karpenter.k8s.aws/instance-tenancy In default,dedicated
        karpenter.sh/reservation-id DoesNotExist
        karpenter.k8s.aws/capacity-reservation-type DoesNotExist
        karpenter.k8s.aws/capacity-reservation-interruptible DoesNotExist
        karpenter.k8s.aws/instance-category In g
        karpenter.k8s.aws/instance-generation In 5
        karpenter.k8s.aws/instance-family In g5
        karpenter.k8s.aws/instance-size In xlarge
        karpenter.k8s.aws/instance-capability-flex In false
        karpenter.k8s.aws/instance-local-nvme In 250
        karpenter.k8s.aws/instance-gpu-name In a10g
        karpenter.k8s.aws/instance-gpu-manufacturer In nvidia
        karpenter.k8s.aws/instance-gpu-count In 1
        karpenter.k8s.aws/instance-gpu-memory In 22888
        karpenter.k8s.aws/instance-accelerator-name DoesNotExist
        karpenter.k8s.aws/instance-accelerator-manufacturer DoesNotExist
        karpenter.k8s.aws/instance-accelerator-count DoesNotExist
        topology.k8s.aws/zone-id In use1-az2,use1-az4,use1-az6,use1-az1,use1-az5"#]]
    .assert_eq(&labels(it));
    assert_eq!(it.capacity["nvidia.com/gpu"], "1");
}

#[test]
fn labels_and_capacity_of_a_metal_type() {
    let types = us_east_1();
    let it = find(&types, "c5.metal");
    let hypervisor =
        it.requirements.iter().find(|r| r.key == "karpenter.k8s.aws/instance-hypervisor").unwrap();
    assert_eq!(
        hypervisor.values,
        vec![String::new()],
        "bare metal has an empty hypervisor label, as upstream"
    );
    expect!["c5.metal: capacity 96 / 181862Mi / 737 / 20Gi -> allocatable 95690m / 173400Mi / 737 / 17Gi"]
        .assert_eq(&shape(it));
}

#[test]
fn labels_of_a_high_memory_type() {
    // u-12tb1.112xlarge is priced but absent from moto's DescribeInstanceTypes snapshot, so its record is written
    // here from the EC2 documentation, as DescribeInstanceTypes would return it.
    let spec = InstanceTypeSpec {
        vcpus: 448,
        memory_mib: 12_582_912,
        cpu_manufacturer: Some("Intel".into()),
        sustained_clock_ghz: Some(2.1),
        network_cards: vec![15],
        ipv4_per_interface: 50,
        ebs_optimized_support: Some("default".into()),
        ebs_max_bandwidth_mbps: Some(38_000),
        ..x86_spec("u-12tb1.112xlarge")
    };
    let offerings = RegionOfferings {
        zones: vec![Zone { name: "us-east-1a".into(), id: "use1-az4".into() }],
        instance_types: BTreeMap::from([("u-12tb1.112xlarge".to_string(), vec!["us-east-1a".to_string()])]),
    };
    let catalog = Catalog::new(
        "us-east-1",
        vec![spec],
        offerings,
        BTreeMap::from([("u-12tb1.112xlarge".to_string(), 109.2)]),
        BTreeMap::new(),
        BTreeMap::new(),
    );
    let types = catalog.instance_types(&NodeClassSettings::default()).unwrap();
    expect![[r#"
        node.kubernetes.io/instance-type In u-12tb1.112xlarge
        kubernetes.io/arch In amd64
        kubernetes.io/os In linux
        topology.kubernetes.io/zone In us-east-1a
        topology.kubernetes.io/region In us-east-1
        node.kubernetes.io/windows-build DoesNotExist
        karpenter.sh/capacity-type In on-demand
        karpenter.k8s.aws/instance-cpu In 448
        karpenter.k8s.aws/instance-cpu-manufacturer In intel
        karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz In 2100
        karpenter.k8s.aws/instance-memory In 12582912
        karpenter.k8s.aws/instance-ebs-bandwidth In 38000
        karpenter.k8s.aws/instance-network-bandwidth DoesNotExist
        karpenter.k8s.aws/instance-hypervisor In nitro
        karpenter.k8s.aws/instance-encryption-in-transit-supported In false
        karpenter.k8s.aws/nitro-sandbox In false
        karpenter.k8s.aws/instance-tenancy In default,dedicated
        karpenter.sh/reservation-id DoesNotExist
        karpenter.k8s.aws/capacity-reservation-type DoesNotExist
        karpenter.k8s.aws/capacity-reservation-interruptible DoesNotExist
        karpenter.k8s.aws/instance-category In u
        karpenter.k8s.aws/instance-generation In 1
        karpenter.k8s.aws/instance-family In u-12tb1
        karpenter.k8s.aws/instance-size In 112xlarge
        karpenter.k8s.aws/instance-capability-flex In false
        karpenter.k8s.aws/instance-local-nvme DoesNotExist
        karpenter.k8s.aws/instance-gpu-name DoesNotExist
        karpenter.k8s.aws/instance-gpu-manufacturer DoesNotExist
        karpenter.k8s.aws/instance-gpu-count DoesNotExist
        karpenter.k8s.aws/instance-gpu-memory DoesNotExist
        karpenter.k8s.aws/instance-accelerator-name DoesNotExist
        karpenter.k8s.aws/instance-accelerator-manufacturer DoesNotExist
        karpenter.k8s.aws/instance-accelerator-count DoesNotExist
        topology.k8s.aws/zone-id In use1-az4"#]]
    .assert_eq(&labels(&types[0]));
}

#[test]
fn the_seed_node_pool_allows_exactly_graviton_c_m_t_of_generation_4_and_later() {
    let catalog = Catalog::embedded("us-east-1").unwrap();
    let types = catalog.instance_types(&NodeClassSettings::default()).unwrap();
    let config = karpenter_catalog::solver_config();
    let index = InstanceTypeIndex::new(&types, &config);
    assert!(index.input_errors().is_empty(), "{:?}", index.input_errors());
    let seed = seed::seed_node_pool();
    let allowed: BTreeSet<String> =
        index.allowed(&seed).unwrap().into_iter().map(|i| types[i].name.clone()).collect();

    // The same set worked out from the raw records: Graviton, category c/m/t, generation 4 or later, offered in
    // the region and priced on-demand.
    let has_price = |name: &str| {
        types
            .iter()
            .find(|t| t.name == name)
            .is_some_and(|t| t.offerings.iter().any(|o| o.available && o.capacity_type == "on-demand"))
    };
    let expected: BTreeSet<String> = catalog
        .specs()
        .iter()
        .filter(|s| s.architectures.first().is_some_and(|a| a == "arm64"))
        .filter(|s| {
            let family = s.name.split('.').next().unwrap();
            let category: String = family.chars().take_while(char::is_ascii_lowercase).collect();
            let generation: String =
                family[category.len()..].chars().take_while(char::is_ascii_digit).collect();
            ["c", "m", "t"].contains(&category.as_str()) && generation.parse::<u32>().is_ok_and(|g| g > 3)
        })
        .filter(|s| has_price(&s.name))
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(allowed, expected);
    assert!(
        allowed.contains("c6g.large") && allowed.contains("m7g.xlarge") && allowed.contains("t4g.medium")
    );
    assert!(!allowed.contains("a1.large") && !allowed.contains("m5.large") && !allowed.contains("r6g.large"));
    assert!(allowed.len() > 100, "{} Graviton c/m/t types", allowed.len());
    assert_eq!(
        types.len(),
        1386,
        "instance types in the catalog (x86_64 and arm64, offered in the region or not)"
    );
}

#[test]
fn the_seed_node_pool_allows_only_on_demand_offerings_and_a_zone_requirement_narrows_them() {
    let catalog = Catalog::embedded("us-east-1").unwrap();
    let types = catalog.instance_types(&NodeClassSettings::default()).unwrap();
    let config = karpenter_catalog::solver_config();
    let index = InstanceTypeIndex::new(&types, &config);
    let mut seed = seed::seed_node_pool();
    let allowed = index.allowed_offerings(&seed).unwrap();
    assert!(!allowed.is_empty());
    for entry in &allowed {
        let it = &types[entry.position];
        assert!(it.offerings.iter().any(|o| o.capacity_type == "spot"), "{} has spot offerings", it.name);
        assert!(!entry.offerings.is_empty(), "{} keeps an offering", it.name);
        for &o in &entry.offerings {
            assert_eq!(it.offerings[o].capacity_type, "on-demand", "{}", it.name);
        }
    }
    seed.requirements.push(karpenter_solver::model::NodeSelectorRequirement::new(
        "topology.kubernetes.io/zone",
        "In",
        &["us-east-1a"],
    ));
    for entry in index.allowed_offerings(&seed).unwrap() {
        let it = &types[entry.position];
        for &o in &entry.offerings {
            let offering = &it.offerings[o];
            assert_eq!(
                (offering.zone.as_str(), offering.capacity_type.as_str()),
                ("us-east-1a", "on-demand")
            );
        }
    }
}

#[test]
fn node_class_settings_change_pods_and_overhead() {
    let catalog = Catalog::embedded("us-east-1").unwrap();
    let shape_with = |settings: NodeClassSettings| {
        let types = catalog.instance_types(&settings).unwrap();
        shape(find(&types, "m5.large"))
    };
    let bottlerocket =
        shape_with(NodeClassSettings { ami_family: AmiFamily::Bottlerocket, ..Default::default() });
    let windows = shape_with(NodeClassSettings { ami_family: AmiFamily::Windows2022, ..Default::default() });
    let max_pods = shape_with(NodeClassSettings { max_pods: Some(110), ..Default::default() });
    let per_core = shape_with(NodeClassSettings { pods_per_core: Some(4), ..Default::default() });
    let reserved = shape_with(NodeClassSettings { reserved_enis: 1, ..Default::default() });
    let disk = shape_with(NodeClassSettings {
        block_device_mappings: vec![karpenter_catalog::BlockDeviceMapping {
            device_name: "/dev/xvda".into(),
            root_volume: true,
            volume_size: Some("100Gi".into()),
        }],
        eviction_hard: BTreeMap::from([("memory.available".to_string(), "5%".to_string())]),
        kube_reserved: BTreeMap::from([("cpu".to_string(), "200m".to_string())]),
        ..Default::default()
    });
    expect![[r#"
        m5.large: capacity 2 / 7577Mi / 29 / 20Gi -> allocatable 1930m / 6903Mi / 29 / 17Gi
        m5.large: capacity 2 / 7577Mi / 110 / 50Gi -> allocatable 1930m / 6012Mi / 110 / 44Gi
        m5.large: capacity 2 / 7577Mi / 110 / 20Gi -> allocatable 1930m / 6903Mi / 110 / 17Gi
        m5.large: capacity 2 / 7577Mi / 8 / 20Gi -> allocatable 1930m / 6903Mi / 8 / 17Gi
        m5.large: capacity 2 / 7577Mi / 20 / 20Gi -> allocatable 1930m / 6903Mi / 20 / 17Gi
        m5.large: capacity 2 / 7577Mi / 29 / 100Gi -> allocatable 1800m / 6945924710 / 29 / 89Gi"#]]
    .assert_eq(&[bottlerocket, windows, max_pods, per_core, reserved, disk].join("\n"));
}

#[test]
fn ephemeral_storage_comes_from_the_root_the_family_device_or_the_last_mapping() {
    // Without a mapping marked as root, the family's own device sets the size (Bottlerocket keeps its data on
    // /dev/xvdb); a custom AMI's disks are unknown, so its last mapping counts.
    let catalog = Catalog::embedded("us-east-1").unwrap();
    let mapping = |device: &str, size: &str| karpenter_catalog::BlockDeviceMapping {
        device_name: device.into(),
        root_volume: false,
        volume_size: Some(size.into()),
    };
    let two_disks = vec![mapping("/dev/xvda", "30Gi"), mapping("/dev/xvdb", "60Gi")];
    let storage = |ami_family: AmiFamily,
                   block_device_mappings: Vec<karpenter_catalog::BlockDeviceMapping>| {
        let settings = NodeClassSettings { ami_family, block_device_mappings, ..Default::default() };
        let types = catalog.instance_types(&settings).unwrap();
        format!("{ami_family:?}: {}", find(&types, "m5.large").capacity["ephemeral-storage"])
    };
    expect![[r#"
        Al2023: 30Gi
        Bottlerocket: 60Gi
        Custom: 40Gi
        Custom: 20Gi
        Windows2022: 50Gi"#]]
    .assert_eq(
        &[
            storage(AmiFamily::Al2023, two_disks.clone()),
            storage(AmiFamily::Bottlerocket, two_disks.clone()),
            storage(AmiFamily::Custom, vec![mapping("/dev/xvdb", "60Gi"), mapping("/dev/sdf", "40Gi")]),
            storage(AmiFamily::Custom, Vec::new()),
            storage(AmiFamily::Windows2022, vec![mapping("/dev/xvda", "30Gi")]),
        ]
        .join("\n"),
    );
}

#[test]
fn raid0_instance_store_becomes_ephemeral_storage() {
    let catalog = Catalog::embedded("us-east-1").unwrap();
    let settings = NodeClassSettings { instance_store_raid0: true, ..Default::default() };
    let types = catalog.instance_types(&settings).unwrap();
    // m5d.large has one 75 GB NVMe disk; m5.large has none and keeps the root volume.
    expect![[r#"
        m5d.large: capacity 2 / 7577Mi / 29 / 75G -> allocatable 1930m / 6903Mi / 29 / 66426258176
        m5.large: capacity 2 / 7577Mi / 29 / 20Gi -> allocatable 1930m / 6903Mi / 29 / 17Gi"#]]
    .assert_eq(&[shape(find(&types, "m5d.large")), shape(find(&types, "m5.large"))].join("\n"));
}

#[test]
fn bad_settings_name_the_field() {
    let catalog = Catalog::embedded("us-east-1").unwrap();
    let bad = NodeClassSettings {
        eviction_hard: BTreeMap::from([("memory.available".to_string(), "lots".to_string())]),
        ..Default::default()
    };
    let error = catalog.instance_types(&bad).unwrap_err().to_string();
    assert!(error.contains("kubelet.evictionHard.memory.available"), "{error}");
    let unknown = Catalog::embedded("mars-north-1").unwrap_err().to_string();
    assert!(unknown.contains("mars-north-1") && unknown.contains("us-east-1"), "{unknown}");
}

#[test]
fn offerings_follow_zones_prices_and_unavailability() {
    let mut catalog = Catalog::embedded("us-west-2").unwrap();
    catalog.mark_unavailable("m5.large", "us-west-2a", "spot");
    let types = catalog.instance_types(&NodeClassSettings::default()).unwrap();
    let it = find(&types, "m5.large");
    let offerings: Vec<String> = it
        .offerings
        .iter()
        .map(|o| {
            format!(
                "{} {} {} {}",
                o.zone,
                o.capacity_type,
                o.price,
                if o.available { "available" } else { "unavailable" }
            )
        })
        .collect();
    expect![[r#"
        us-west-2a on-demand 0.096 available
        us-west-2a spot 0.096 unavailable
        us-west-2b on-demand 0.096 available
        us-west-2b spot 0.096 available
        us-west-2c on-demand 0.096 available
        us-west-2c spot 0.096 available
        us-west-2d on-demand 0.096 available
        us-west-2d spot 0.096 available"#]]
    .assert_eq(&offerings.join("\n"));
    // Spot prices, once known, replace the on-demand stand-in; zones without a quote have no spot offering.
    catalog.set_spot_prices(BTreeMap::from([(
        "m5.large".to_string(),
        BTreeMap::from([("us-west-2b".to_string(), 0.035)]),
    )]));
    let types = catalog.instance_types(&NodeClassSettings::default()).unwrap();
    let spot: Vec<(String, f64, bool)> = find(&types, "m5.large")
        .offerings
        .iter()
        .filter(|o| o.capacity_type == "spot")
        .map(|o| (o.zone.clone(), o.price, o.available))
        .collect();
    assert_eq!(
        spot.iter().filter(|s| s.2).collect::<Vec<_>>(),
        vec![&("us-west-2b".to_string(), 0.035, true)]
    );
}

#[test]
fn subnets_limit_zones_and_offerings() {
    // The node class reaches two of us-west-2's four zones: the zone label and the offerings keep only those.
    let catalog = Catalog::embedded("us-west-2").unwrap();
    let settings = NodeClassSettings {
        subnet_zones: Some(vec!["us-west-2b".to_string(), "us-west-2c".to_string()]),
        ..NodeClassSettings::default()
    };
    let types = catalog.instance_types(&settings).unwrap();
    let it = find(&types, "m5.large");
    let zone = it.requirements.iter().find(|r| r.key == "topology.kubernetes.io/zone").unwrap();
    assert_eq!(zone.values, vec!["us-west-2b", "us-west-2c"]);
    let offered: Vec<(&str, &str)> =
        it.offerings.iter().map(|o| (o.zone.as_str(), o.capacity_type.as_str())).collect();
    assert_eq!(
        offered,
        vec![
            ("us-west-2b", "on-demand"),
            ("us-west-2b", "spot"),
            ("us-west-2c", "on-demand"),
            ("us-west-2c", "spot")
        ]
    );
    for it in &types {
        assert!(
            it.offerings.iter().all(|o| o.zone == "us-west-2b" || o.zone == "us-west-2c"),
            "{} is offered outside the subnets' zones",
            it.name
        );
    }
}

/// Resource amounts in base units (CPU in millicores) for comparison.
fn amount(name: &str, quantity: &str) -> i64 {
    let q = karpenter_solver::quantity::Quantity::parse(quantity).unwrap();
    if name == "cpu" { q.to_milli().unwrap() } else { q.to_units().unwrap() }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Under any Linux AMI family and kubelet defaults, no instance type's allocatable exceeds its capacity or
    /// drops below zero.
    #[test]
    fn allocatable_is_within_capacity(
        family in prop::sample::select(vec![AmiFamily::Al2, AmiFamily::Al2023, AmiFamily::Bottlerocket, AmiFamily::Custom]),
        reserved_enis in 0u32..3,
        pods_per_core in prop::option::of(1u32..20),
        eviction_percent in prop::option::of(1u32..20),
    ) {
        let catalog = Catalog::embedded("us-east-1").unwrap();
        let mut settings = NodeClassSettings { ami_family: family, reserved_enis, pods_per_core, ..Default::default() };
        if let Some(p) = eviction_percent {
            settings.eviction_hard.insert("memory.available".into(), format!("{p}%"));
        }
        for it in catalog.instance_types(&settings).unwrap() {
            let alloc = allocatable(&it).unwrap();
            for (name, value) in &alloc {
                let (a, c) = (amount(name, value), amount(name, &it.capacity[name]));
                prop_assert!(a <= c, "{} {name}: allocatable {value} above capacity {}", it.name, it.capacity[name]);
                prop_assert!(a >= 0, "{} {name}: allocatable {value} is negative", it.name);
            }
        }
    }
}

#[test]
fn gpu_devices_are_counted_by_manufacturer() {
    let spec = |manufacturer: &str| InstanceTypeSpec {
        gpus: vec![Device {
            name: "Gaudi".into(),
            manufacturer: manufacturer.into(),
            count: 2,
            memory_mib: None,
        }],
        ..x86_spec("x1.large")
    };
    for (manufacturer, resource) in
        [("NVIDIA", "nvidia.com/gpu"), ("AMD", "amd.com/gpu"), ("Habana", "habana.ai/gaudi")]
    {
        let offerings = RegionOfferings { zones: vec![], instance_types: BTreeMap::new() };
        let catalog = Catalog::new(
            "us-east-1",
            vec![spec(manufacturer)],
            offerings,
            BTreeMap::new(),
            BTreeMap::new(),
            BTreeMap::new(),
        );
        let it = &catalog.instance_types(&NodeClassSettings::default()).unwrap()[0];
        assert_eq!(it.capacity[resource], "2", "{manufacturer}");
    }
}
