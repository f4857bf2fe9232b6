//! The parts of an EC2NodeClass that shape instance types, as the catalog's [`NodeClassSettings`]
//! (`aws/karpenter-provider-aws: pkg/providers/instancetype/instancetype.go`, `pkg/apis/v1/ec2nodeclass.go`
//! `AMIFamily`, `ZoneInfo`, `KubeletConfiguration`).

use std::collections::BTreeMap;

use karpenter_api::{EC2NodeClass, InstanceStorePolicy};
use karpenter_catalog::{AmiFamily, BlockDeviceMapping, NodeClassSettings};
use serde_json::Value;

use crate::report::{Error, ObjectRef, Result};

/// The EC2NodeClass as an object reference, for reports.
pub fn node_class_ref(node_class: &EC2NodeClass) -> ObjectRef {
    ObjectRef::cluster("EC2NodeClass", node_class.metadata.name.as_deref().unwrap_or(""))
}

/// Controller flags that shape instance types beside the node class (`--reserved-enis`,
/// `--vm-memory-overhead-percent`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderFlags {
    /// ENIs kept back from pods.
    pub reserved_enis: u32,
    /// Memory the hypervisor keeps, as a fraction.
    pub vm_memory_overhead_percent: f64,
}

impl Default for ProviderFlags {
    /// Upstream's defaults: no reserved ENIs, 7.5% memory overhead.
    fn default() -> Self {
        let defaults = NodeClassSettings::default();
        ProviderFlags {
            reserved_enis: defaults.reserved_enis,
            vm_memory_overhead_percent: defaults.vm_memory_overhead_percent,
        }
    }
}

/// The catalog settings of an EC2NodeClass: the AMI family (`amiFamily`, else the alias's family, else
/// `Custom`), the kubelet's `maxPods`, `podsPerCore`, `kubeReserved`, `systemReserved` and `evictionHard`, the
/// block device mappings, `instanceStorePolicy: RAID0`, and the zones of the subnets in its status. A class with
/// no subnets in its status (one read from a file) is given every zone; in a cluster, a NodePool whose class has
/// not resolved its subnets is not Ready and takes no part in a round. Values are copied; the catalog checks
/// them.
pub fn node_class_settings(node_class: &EC2NodeClass, flags: &ProviderFlags) -> Result<NodeClassSettings> {
    let spec = &node_class.spec;
    let family_name = spec.resolved_ami_family().as_str();
    let ami_family = AmiFamily::parse(family_name)
        .ok_or_else(|| Error::invalid("spec.amiFamily", format!("unknown AMI family {family_name:?}")))?;
    let kubelet = spec.kubelet.as_ref();
    let setting = |key: &str| kubelet.and_then(|k| k.get(key));
    let subnet_zones = node_class.status.as_ref().and_then(|s| s.subnets.as_ref()).map(|subnets| {
        let mut zones: Vec<String> = subnets.iter().map(|s| s.zone.clone()).collect();
        zones.sort();
        zones.dedup();
        zones
    });
    Ok(NodeClassSettings {
        ami_family,
        max_pods: count("spec.kubelet.maxPods", setting("maxPods"))?,
        pods_per_core: count("spec.kubelet.podsPerCore", setting("podsPerCore"))?,
        kube_reserved: string_map("spec.kubelet.kubeReserved", setting("kubeReserved"))?,
        system_reserved: string_map("spec.kubelet.systemReserved", setting("systemReserved"))?,
        eviction_hard: string_map("spec.kubelet.evictionHard", setting("evictionHard"))?,
        block_device_mappings: spec
            .block_device_mappings
            .iter()
            .flatten()
            .map(|b| BlockDeviceMapping {
                device_name: b.device_name.clone().unwrap_or_default(),
                root_volume: b.root_volume.unwrap_or(false),
                volume_size: b.ebs.as_ref().and_then(|e| e.volume_size.clone()),
            })
            .collect(),
        instance_store_raid0: spec.instance_store_policy == Some(InstanceStorePolicy::RAID0),
        subnet_zones,
        reserved_enis: flags.reserved_enis,
        vm_memory_overhead_percent: flags.vm_memory_overhead_percent,
    })
}

/// A non-negative integer kubelet setting. A string there is a CEL expression (the `NodeClassCEL` gate), which
/// the catalog does not evaluate.
fn count(field: &str, value: Option<&Value>) -> Result<Option<u32>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| Error::invalid(field, format!("{n} is not a count"))),
        Some(Value::String(_)) => Err(Error::Unsupported {
            field: field.to_string(),
            reason: "CEL expressions (the NodeClassCEL gate) are not evaluated".into(),
        }),
        Some(other) => Err(Error::invalid(field, format!("expected an integer, found {other}"))),
    }
}

/// A map of resource or signal names to quantities; numbers are taken as written.
fn string_map(field: &str, value: Option<&Value>) -> Result<BTreeMap<String, String>> {
    let object = match value {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(object)) => object,
        Some(other) => return Err(Error::invalid(field, format!("expected a map, found {other}"))),
    };
    object
        .iter()
        .map(|(key, v)| match v {
            Value::String(s) => Ok((key.clone(), s.clone())),
            Value::Number(n) => Ok((key.clone(), n.to_string())),
            _ => Err(Error::invalid(format!("{field}.{key}"), format!("expected a quantity, found {v}"))),
        })
        .collect()
}
