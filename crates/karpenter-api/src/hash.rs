//! Drift hashes, bit for bit as upstream computes them, so that NodeClaims launched by upstream Karpenter (or by
//! us from an unchanged template) are not seen as drifted.
//!
//! Upstream hashes Go values with `github.com/mitchellh/hashstructure/v2` (format v2, options `SlicesAsSets`,
//! `IgnoreZeroValue`, `ZeroNil`, FNV-1 64): `NodePool.Hash` in kubernetes-sigs/karpenter `pkg/apis/v1/nodepool.go`
//! and `EC2NodeClass.Hash` in aws/karpenter-provider-aws `pkg/apis/v1/ec2nodeclass.go`. The walk depends on Go's
//! view of the value — struct and field names, declaration order, integer widths, which fields are zero — so the
//! types below describe each hashed value as that Go value ([`GoValue`]) and one function hashes it.
//!
//! The walk, as hashstructure v2 does it:
//! - a string hashes its bytes; an integer its little-endian bytes at its Go width; a bool is an `int8`;
//!   a `time.Time` its `MarshalBinary` bytes;
//! - a struct starts from the hash of its type name and, for each field that is not zero and not tagged
//!   `hash:"ignore"`, in declaration order, XORs in `ordered(name, value)` and then re-hashes the total;
//! - a slice (all slices are sets here) XORs its elements' hashes;
//! - a map XORs `ordered(key, value)` over its entries and re-hashes the total once.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Taint;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

use crate::{
    BlockDevice, BlockDeviceMapping, ConnectionTracking, CpuOptions, EC2NodeClass, EnabledDisabled,
    EnclaveOptions, HttpTokens, InstanceStorePolicy, InterfaceType, MetadataOptions, NetworkInterface,
    NodeClaimTemplate, NodePool, PlacementGroupSelector, VolumeType,
};

/// Why a hash could not be computed: a field holds a value upstream's Go types could not hold either. The CRD
/// schema rejects all of these, so they only arise for objects that never went through the API server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A duration field is not a Go duration.
    #[error("{field}: {value:?} is not a duration (expected whole hours, minutes and seconds such as 1h30m)")]
    Duration {
        /// The field, as a path from the object.
        field: &'static str,
        /// The value found.
        value: String,
    },
    /// A block device size is not a quantity the schema allows.
    #[error("{field}: {value:?} is not a volume size (expected a whole number of Gi, G, Ti or T)")]
    VolumeSize {
        /// The field, as a path from the object.
        field: &'static str,
        /// The value found.
        value: String,
    },
}

/// A value as Go's reflection presents it to hashstructure.
#[derive(Debug, Clone, PartialEq)]
enum GoValue {
    /// A Go struct: its type name and its non-zero, hashed fields in declaration order.
    Struct(&'static str, Vec<(&'static str, GoValue)>),
    /// A string, or a named string type.
    String(String),
    /// An `int64`, `time.Duration` or `int`.
    Int64(i64),
    /// An `int32`.
    Int32(i32),
    /// A `bool`, which hashstructure turns into an `int8`.
    Bool(bool),
    /// A `time.Time`, as its `MarshalBinary` bytes.
    Time(Vec<u8>),
    /// A slice; hashed as a set.
    Slice(Vec<GoValue>),
    /// A map.
    Map(Vec<(GoValue, GoValue)>),
}

/// FNV-1, 64 bit: Go's `hash/fnv.New64`, which hashstructure uses by default.
fn fnv1(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| hash.wrapping_mul(0x0000_0100_0000_01b3) ^ u64::from(*byte))
}

/// Combines two hashes so that order matters.
fn ordered(a: u64, b: u64) -> u64 {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_le_bytes());
    bytes[8..].copy_from_slice(&b.to_le_bytes());
    fnv1(&bytes)
}

/// Re-hashes an XOR of hashes, so that equal members in two groups do not cancel out across levels.
fn finish(a: u64) -> u64 {
    fnv1(&a.to_le_bytes())
}

impl GoValue {
    fn hash(&self) -> u64 {
        match self {
            GoValue::String(text) => fnv1(text.as_bytes()),
            GoValue::Int64(number) => fnv1(&number.to_le_bytes()),
            GoValue::Int32(number) => fnv1(&number.to_le_bytes()),
            GoValue::Bool(flag) => fnv1(&[u8::from(*flag)]),
            GoValue::Time(bytes) => fnv1(bytes),
            GoValue::Slice(items) => items.iter().fold(0, |total, item| total ^ item.hash()),
            GoValue::Map(entries) => finish(
                entries.iter().fold(0, |total, (key, value)| total ^ ordered(key.hash(), value.hash())),
            ),
            GoValue::Struct(name, fields) => {
                fields.iter().fold(fnv1(name.as_bytes()), |total, (field, value)| {
                    finish(total ^ ordered(fnv1(field.as_bytes()), value.hash()))
                })
            }
        }
    }
}

/// Builds a struct, leaving out zero fields as `IgnoreZeroValue` does.
struct GoStruct {
    name: &'static str,
    fields: Vec<(&'static str, GoValue)>,
}

impl GoStruct {
    fn new(name: &'static str) -> Self {
        GoStruct { name, fields: Vec::new() }
    }

    /// A field that is zero when `None` (a Go pointer, slice or map, or a struct whose fields are all zero).
    fn field(mut self, name: &'static str, value: Option<GoValue>) -> Self {
        if let Some(value) = value {
            self.fields.push((name, value));
        }
        self
    }

    /// A Go `string` field (not a pointer): zero when empty.
    fn string(self, name: &'static str, value: &str) -> Self {
        let value = (!value.is_empty()).then(|| GoValue::String(value.to_owned()));
        self.field(name, value)
    }

    /// A Go `int32` field (not a pointer): zero when 0.
    fn int32(self, name: &'static str, value: i32) -> Self {
        self.field(name, (value != 0).then_some(GoValue::Int32(value)))
    }

    fn build(self) -> GoValue {
        GoValue::Struct(self.name, self.fields)
    }
}

fn string(value: &Option<String>) -> Option<GoValue> {
    value.as_ref().map(|text| GoValue::String(text.clone()))
}

fn string_map(map: &Option<BTreeMap<String, String>>) -> Option<GoValue> {
    map.as_ref().map(|map| {
        GoValue::Map(
            map.iter().map(|(k, v)| (GoValue::String(k.clone()), GoValue::String(v.clone()))).collect(),
        )
    })
}

/// Parses a Go duration of the forms the CRDs allow (`^([0-9]+(s|m|h))+$`) into nanoseconds.
fn parse_duration(field: &'static str, text: &str) -> Result<i64, Error> {
    let invalid = || Error::Duration { field, value: text.to_owned() };
    let mut total: i64 = 0;
    let mut digits = String::new();
    for character in text.chars() {
        if character.is_ascii_digit() {
            digits.push(character);
            continue;
        }
        let unit: i64 = match character {
            'h' => 3_600_000_000_000,
            'm' => 60_000_000_000,
            's' => 1_000_000_000,
            _ => return Err(invalid()),
        };
        let number: i64 = digits.parse().map_err(|_| invalid())?;
        digits.clear();
        total = number.checked_mul(unit).and_then(|n| total.checked_add(n)).ok_or_else(invalid)?;
    }
    if !digits.is_empty() || text.is_empty() {
        return Err(invalid());
    }
    Ok(total)
}

/// `time.Time.MarshalBinary` of a timestamp as metav1.Time decodes it: in the local zone of a controller that
/// runs in UTC, which Go records as a zone offset of 0 minutes rather than as UTC itself.
fn time_binary(time: &Time) -> Vec<u8> {
    const SECONDS_FROM_YEAR_ONE_TO_1970: i64 = 62_135_596_800;
    let seconds = time.0.as_second() + SECONDS_FROM_YEAR_ONE_TO_1970;
    let nanos = time.0.subsec_nanosecond();
    let mut bytes = vec![1u8];
    bytes.extend_from_slice(&seconds.to_be_bytes());
    bytes.extend_from_slice(&nanos.to_be_bytes());
    bytes.extend_from_slice(&0i16.to_be_bytes());
    bytes
}

fn taints(taints: &Option<Vec<Taint>>) -> Option<GoValue> {
    let taints = taints.as_ref()?;
    Some(GoValue::Slice(
        taints
            .iter()
            .map(|taint| {
                GoStruct::new("Taint")
                    .string("Key", &taint.key)
                    .string("Value", taint.value.as_deref().unwrap_or_default())
                    .string("Effect", &taint.effect)
                    .field(
                        "TimeAdded",
                        taint.time_added.as_ref().map(|time| {
                            GoStruct::new("Time")
                                .field("Time", Some(GoValue::Time(time_binary(time))))
                                .build()
                        }),
                    )
                    .build()
            })
            .collect(),
    ))
}

impl NodeClaimTemplate {
    /// The template as upstream's `NodeClaimTemplate` Go value. Requirements are left out (`hash:"ignore"`):
    /// they are compared separately, so that widening them does not drift existing nodes.
    fn go_value(&self) -> Result<GoValue, Error> {
        let metadata = self.metadata.as_ref();
        let labels = metadata.and_then(|m| string_map(&m.labels));
        let annotations = metadata.and_then(|m| string_map(&m.annotations));
        let object_meta = (labels.is_some() || annotations.is_some()).then(|| {
            GoStruct::new("ObjectMeta").field("Labels", labels).field("Annotations", annotations).build()
        });
        let spec = &self.spec;
        let class = &spec.node_class_ref;
        let node_class_ref = GoStruct::new("NodeClassReference")
            .string("Kind", &class.kind)
            .string("Name", &class.name)
            .string("Group", &class.group);
        let termination_grace_period = match &spec.termination_grace_period {
            None => None,
            Some(text) => {
                let nanos = parse_duration("spec.template.spec.terminationGracePeriod", text)?;
                Some(
                    GoStruct::new("Duration")
                        .field("Duration", (nanos != 0).then_some(GoValue::Int64(nanos)))
                        .build(),
                )
            }
        };
        // `Never` decodes to an empty NillableDuration, which is zero and so left out like an absent value.
        let expire_after = match spec.expire_after.as_deref() {
            None | Some("Never") => None,
            Some(text) => {
                let nanos = parse_duration("spec.template.spec.expireAfter", text)?;
                Some(GoStruct::new("NillableDuration").field("Duration", Some(GoValue::Int64(nanos))).build())
            }
        };
        let spec = GoStruct::new("NodeClaimTemplateSpec")
            .field("Taints", taints(&spec.taints))
            .field("StartupTaints", taints(&spec.startup_taints))
            .field("NodeClassRef", Some(node_class_ref.build()))
            .field("TerminationGracePeriod", termination_grace_period)
            .field("ExpireAfter", expire_after)
            .build();
        Ok(GoStruct::new("NodeClaimTemplate")
            .field("ObjectMeta", object_meta)
            .field("Spec", Some(spec))
            .build())
    }
}

impl NodePool {
    /// The `karpenter.sh/nodepool-hash` annotation value (hash version [`crate::labels::hash_version::NODE_POOL`]):
    /// the NodePool's template without its requirements.
    pub fn hash(&self) -> Result<String, Error> {
        Ok(self.spec.template.go_value()?.hash().to_string())
    }
}

/// A `resource.Quantity` as its `String()` shows it: the canonical form, where `2048Gi` is `2Ti` and `1000G` is `1T`.
fn canonical_volume_size(text: &str) -> Result<String, Error> {
    let invalid =
        || Error::VolumeSize { field: "spec.blockDeviceMappings[].ebs.volumeSize", value: text.to_owned() };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(invalid)?;
    let (digits, suffix) = text.split_at(split);
    let mut number: u64 = digits.parse().map_err(|_| invalid())?;
    let ladder: &[&str] = match suffix {
        "Gi" | "Ti" | "Pi" | "Ei" => &["Gi", "Ti", "Pi", "Ei"],
        "G" | "T" | "P" | "E" => &["G", "T", "P", "E"],
        _ => return Err(invalid()),
    };
    let step = if suffix.ends_with('i') { 1024 } else { 1000 };
    let mut rung = ladder.iter().position(|unit| *unit == suffix).ok_or_else(invalid)?;
    while number != 0 && number.is_multiple_of(step) && rung + 1 < ladder.len() {
        number /= step;
        rung += 1;
    }
    Ok(format!("{number}{}", ladder[rung]))
}

/// A value's JSON name, for the enums whose Go type is a string.
fn json_name<T: serde::Serialize>(value: &T) -> GoValue {
    GoValue::String(
        serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
    )
}

fn block_device(ebs: &BlockDevice) -> Result<GoValue, Error> {
    let volume_size = match &ebs.volume_size {
        None => None,
        Some(size) => Some(GoValue::String(canonical_volume_size(size)?)),
    };
    Ok(GoStruct::new("BlockDevice")
        .field("DeleteOnTermination", ebs.delete_on_termination.map(GoValue::Bool))
        .field("Encrypted", ebs.encrypted.map(GoValue::Bool))
        .field("IOPS", ebs.iops.map(GoValue::Int64))
        .field("KMSKeyID", string(&ebs.kms_key_id))
        .field("SnapshotID", string(&ebs.snapshot_id))
        .field("Throughput", ebs.throughput.map(GoValue::Int64))
        .field("VolumeInitializationRate", ebs.volume_initialization_rate.map(GoValue::Int32))
        .field("VolumeSize", volume_size)
        .field("VolumeType", ebs.volume_type.as_ref().map(json_name::<VolumeType>))
        .build())
}

fn block_device_mapping(mapping: &BlockDeviceMapping) -> Result<GoValue, Error> {
    let ebs = mapping.ebs.as_ref().map(block_device).transpose()?;
    Ok(GoStruct::new("BlockDeviceMapping")
        .field("DeviceName", string(&mapping.device_name))
        .field("EBS", ebs)
        // A plain Go bool: false is zero.
        .field("RootVolume", (mapping.root_volume == Some(true)).then_some(GoValue::Bool(true)))
        .build())
}

fn network_interface(interface: &NetworkInterface) -> GoValue {
    GoStruct::new("NetworkInterface")
        .int32("NetworkCardIndex", interface.network_card_index)
        .int32("DeviceIndex", interface.device_index)
        .field("InterfaceType", Some(json_name::<InterfaceType>(&interface.interface_type)))
        .build()
}

fn metadata_options(options: &MetadataOptions) -> GoValue {
    GoStruct::new("MetadataOptions")
        .field("HTTPEndpoint", options.http_endpoint.as_ref().map(json_name::<EnabledDisabled>))
        .field("HTTPProtocolIPv6", options.http_protocol_ipv6.as_ref().map(json_name::<EnabledDisabled>))
        .field("HTTPPutResponseHopLimit", options.http_put_response_hop_limit.map(GoValue::Int64))
        .field("HTTPTokens", options.http_tokens.as_ref().map(json_name::<HttpTokens>))
        .build()
}

fn connection_tracking(tracking: &ConnectionTracking) -> GoValue {
    GoStruct::new("ConnectionTracking")
        .field("TCPEstablishedTimeout", tracking.tcp_established_timeout.map(GoValue::Int32))
        .field("UDPStreamTimeout", tracking.udp_stream_timeout.map(GoValue::Int32))
        .field("UDPTimeout", tracking.udp_timeout.map(GoValue::Int32))
        .build()
}

fn placement_group(selector: &PlacementGroupSelector) -> GoValue {
    GoStruct::new("PlacementGroupSelector")
        .field("Name", string(&selector.name))
        .field("ID", string(&selector.id))
        .build()
}

/// A present `enclaveOptions` is hashed even when `enabled` is false: the pointer is not nil, so the struct
/// (with no non-zero fields) still contributes its type name.
fn enclave_options(options: &EnclaveOptions) -> GoValue {
    GoStruct::new("EnclaveOptions").field("Enabled", options.enabled.then_some(GoValue::Bool(true))).build()
}

fn cpu_options(options: &CpuOptions) -> GoValue {
    GoStruct::new("CPUOptions")
        .field(
            "NestedVirtualization",
            options.nested_virtualization.as_ref().map(json_name::<EnabledDisabled>),
        )
        .build()
}

/// The kubelet configuration as Go's `json.Marshal` writes the map: keys sorted, values compact, and `<`, `>`,
/// `&`, U+2028 and U+2029 escaped; `null` when there is none.
fn kubelet_json(kubelet: &Option<BTreeMap<String, Value>>) -> String {
    let Some(kubelet) = kubelet.as_ref().filter(|k| !k.is_empty()) else { return "null".into() };
    let sorted: BTreeMap<&String, Value> =
        kubelet.iter().map(|(key, value)| (key, keys_sorted(value))).collect();
    let compact = serde_json::to_string(&sorted).unwrap_or_default();
    let mut escaped = String::with_capacity(compact.len());
    for character in compact.chars() {
        match character {
            '<' => escaped.push_str("\\u003c"),
            '>' => escaped.push_str("\\u003e"),
            '&' => escaped.push_str("\\u0026"),
            '\u{2028}' => escaped.push_str("\\u2028"),
            '\u{2029}' => escaped.push_str("\\u2029"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// A JSON value whose objects, at every depth, list their keys in byte order as Go's `json.Marshal` writes a map.
/// `serde_json::Map` keeps that order only without its `preserve_order` feature, which any crate in a build can
/// turn on (the AWS SDK's test utilities do); the hash must not change with it.
fn keys_sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(entries.into_iter().map(|(key, value)| (key.clone(), keys_sorted(value))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(keys_sorted).collect()),
        other => other.clone(),
    }
}

impl EC2NodeClass {
    /// The `karpenter.k8s.aws/ec2nodeclass-hash` annotation value (hash version
    /// [`crate::labels::hash_version::EC2_NODE_CLASS`]): the launch-relevant spec fields, the resolved AMI family,
    /// the cluster's CA bundle and the kubelet configuration. Selector terms, `ipPrefixCount` and the literal
    /// `amiFamily` are left out, as upstream leaves them out.
    pub fn hash(&self, ca_bundle: Option<&str>) -> Result<String, Error> {
        let spec = &self.spec;
        let block_device_mappings = match &spec.block_device_mappings {
            None => None,
            Some(mappings) => {
                Some(GoValue::Slice(mappings.iter().map(block_device_mapping).collect::<Result<_, _>>()?))
            }
        };
        let spec_value = GoStruct::new("EC2NodeClassSpec")
            .field("PlacementGroupSelector", spec.placement_group_selector.as_ref().map(placement_group))
            .field("AssociatePublicIPAddress", spec.associate_public_ip_address.map(GoValue::Bool))
            .field("UserData", string(&spec.user_data))
            .string("Role", spec.role.as_deref().unwrap_or_default())
            .field("InstanceProfile", string(&spec.instance_profile))
            .field("Tags", string_map(&spec.tags))
            .field("BlockDeviceMappings", block_device_mappings)
            .field(
                "InstanceStorePolicy",
                spec.instance_store_policy.as_ref().map(json_name::<InstanceStorePolicy>),
            )
            .field(
                "NetworkInterfaces",
                spec.network_interfaces
                    .as_ref()
                    .map(|list| GoValue::Slice(list.iter().map(network_interface).collect())),
            )
            .field("DetailedMonitoring", spec.detailed_monitoring.map(GoValue::Bool))
            .field("MetadataOptions", spec.metadata_options.as_ref().map(metadata_options))
            .field("EnclaveOptions", spec.enclave_options.as_ref().map(enclave_options))
            .field("ConnectionTracking", spec.connection_tracking.as_ref().map(connection_tracking))
            .field("Context", string(&spec.context))
            .field("CPUOptions", spec.cpu_options.as_ref().map(cpu_options))
            .build();
        let hashed = GoValue::Slice(vec![
            spec_value,
            GoValue::String(spec.resolved_ami_family().as_str().to_owned()),
            GoValue::String(ca_bundle.unwrap_or_default().to_owned()),
            GoValue::String(kubelet_json(&spec.kubelet)),
        ]);
        Ok(hashed.hash().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1_matches_the_published_test_vectors() {
        // From the FNV reference (Landon Curt Noll): FNV-1 64 of "" and of "a".
        assert_eq!(fnv1(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1(b"a"), 0xaf63_bd4c_8601_b7be);
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("f", "720h"), Ok(720 * 3_600_000_000_000));
        assert_eq!(parse_duration("f", "1h30m5s"), Ok(5_405_000_000_000));
        assert_eq!(parse_duration("f", "0s"), Ok(0));
        for bad in ["", "10", "5d", "h", "99999999999999999999h"] {
            assert!(parse_duration("f", bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn volume_sizes_take_their_canonical_form() {
        let cases = [
            ("20Gi", "20Gi"),
            ("2048Gi", "2Ti"),
            ("1024Ti", "1Pi"),
            ("1000G", "1T"),
            ("64G", "64G"),
            ("58Ti", "58Ti"),
        ];
        for (input, canonical) in cases {
            assert_eq!(canonical_volume_size(input).as_deref(), Ok(canonical), "{input}");
        }
        assert!(canonical_volume_size("20").is_err());
        assert!(canonical_volume_size("20Mi").is_err());
    }

    #[test]
    fn kubelet_json_escapes_like_go() {
        let kubelet: BTreeMap<String, Value> =
            serde_json::from_str(r#"{"b": 1, "a": {"y": "<&>", "x": [1, 2]}}"#).unwrap();
        assert_eq!(kubelet_json(&Some(kubelet)), r#"{"a":{"x":[1,2],"y":"\u003c\u0026\u003e"},"b":1}"#);
        assert_eq!(kubelet_json(&None), "null");
        assert_eq!(kubelet_json(&Some(BTreeMap::new())), "null");
    }
}

#[cfg(test)]
mod drift {
    //! What changes a hash and what does not, as the disruption controller relies on it.

    use crate::{EC2NodeClass, NodePool};

    fn pool(yaml: &str) -> NodePool {
        serde_norway::from_str(yaml).unwrap()
    }

    const POOL: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: p}
spec:
  template:
    metadata: {labels: {team: a}}
    spec:
      taints: [{key: a, effect: NoSchedule}, {key: b, effect: NoExecute}]
      requirements: [{key: kubernetes.io/arch, operator: In, values: [arm64]}]
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      expireAfter: 720h
"#;

    #[test]
    fn requirements_budgets_limits_and_taint_order_do_not_drift_a_node_pool() {
        let base = pool(POOL).hash().unwrap();
        let changed = POOL.replace("values: [arm64]", "values: [arm64, amd64]").replace(
            "{key: a, effect: NoSchedule}, {key: b, effect: NoExecute}",
            "{key: b, effect: NoExecute}, {key: a, effect: NoSchedule}",
        ) + "  limits: {cpu: \"10\"}\n  disruption: {budgets: [{nodes: \"1\"}]}\n";
        assert_eq!(pool(&changed).hash().unwrap(), base);
    }

    #[test]
    fn labels_taints_node_class_and_expiry_drift_a_node_pool() {
        let base = pool(POOL).hash().unwrap();
        for (from, to) in [
            ("team: a", "team: b"),
            ("key: b, effect: NoExecute", "key: b, effect: NoSchedule"),
            ("name: default", "name: other"),
            ("expireAfter: 720h", "expireAfter: 721h"),
        ] {
            assert_ne!(pool(&POOL.replace(from, to)).hash().unwrap(), base, "{from} -> {to}");
        }
    }

    const CLASS: &str = r#"
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: c}
spec:
  amiSelectorTerms: [{alias: al2023@latest}]
  subnetSelectorTerms: [{tags: {k: v}}]
  securityGroupSelectorTerms: [{tags: {k: v}}]
  role: r
  tags: {team: a}
"#;

    #[test]
    fn selector_terms_and_an_implied_ami_family_do_not_drift_an_ec2_node_class() {
        let class = |yaml: &str| serde_norway::from_str::<EC2NodeClass>(yaml).unwrap().hash(None).unwrap();
        let base = class(CLASS);
        assert_eq!(
            class(
                &CLASS.replace(
                    "subnetSelectorTerms: [{tags: {k: v}}]",
                    "subnetSelectorTerms: [{id: subnet-1}]"
                )
            ),
            base
        );
        assert_eq!(class(&format!("{CLASS}  amiFamily: AL2023\n")), base);
        assert_ne!(class(&format!("{CLASS}  amiFamily: Custom\n")), base);
        assert_ne!(class(&CLASS.replace("team: a", "team: b")), base);
        // Enclave options drift a node whatever `enabled` says, as upstream's pointer-to-struct hashing does.
        let enclaves_off = class(&format!("{CLASS}  enclaveOptions: {{enabled: false}}\n"));
        let enclaves_on = class(&format!("{CLASS}  enclaveOptions: {{enabled: true}}\n"));
        assert!(enclaves_off != base && enclaves_on != base && enclaves_on != enclaves_off);
        assert_ne!(serde_norway::from_str::<EC2NodeClass>(CLASS).unwrap().hash(Some("ca")).unwrap(), base);
    }
}
