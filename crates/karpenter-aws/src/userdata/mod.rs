//! User data for each AMI family, merged with the user's own (`aws/karpenter-provider-aws:
//! pkg/providers/amifamily/bootstrap/{bootstrap.go,eksbootstrap.go,nodeadm.go,bottlerocket.go,windows.go,custom.go}`).
//!
//! - AL2: a MIME archive, the user's parts first (a plain script becomes a shell-script part), then
//!   Karpenter's `bootstrap.sh` call.
//! - AL2023: a MIME archive, the user's parts (an archive, a NodeConfig YAML or a script) then Karpenter's
//!   NodeConfig.
//! - Bottlerocket: the user's TOML with Karpenter's Kubernetes settings written over it.
//! - Windows: a PowerShell block calling `Start-EKSBootstrap.ps1` after the user's script.
//! - Custom: the user's data, untouched.
//!
//! Renderers return the plain text; the launch template base64-encodes it.

pub mod mime;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use karpenter_api::AmiFamily;
use karpenter_solver::model::Taint;
use serde_json::Value;

use self::mime::Part;

/// Everything a node needs to join the cluster, for one launch template.
#[derive(Debug, Clone, PartialEq)]
pub struct BootstrapInput<'a> {
    /// The family whose format to write.
    pub family: AmiFamily,
    /// The cluster's name.
    pub cluster_name: &'a str,
    /// The API server's URL.
    pub cluster_endpoint: &'a str,
    /// The cluster's CA bundle, base64.
    pub ca_bundle: Option<&'a str>,
    /// The service CIDR (AL2023's NodeConfig needs it).
    pub cluster_cidr: Option<&'a str>,
    /// The kube-dns service IP, used when the kubelet settings name no `clusterDNS`.
    pub cluster_dns: Option<&'a str>,
    /// Labels the node registers with.
    pub labels: &'a BTreeMap<String, String>,
    /// Taints the node registers with.
    pub taints: &'a [Taint],
    /// Max pods for this launch template's instance types.
    pub max_pods: u64,
    /// `spec.kubelet` of the EC2NodeClass, as written.
    pub kubelet: Option<&'a BTreeMap<String, Value>>,
    /// `spec.userData` of the EC2NodeClass.
    pub custom_user_data: Option<&'a str>,
    /// `spec.instanceStorePolicy: RAID0`.
    pub raid0: bool,
}

/// Why user data could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserDataError {
    /// The user's MIME archive is unreadable.
    #[error("spec.userData: {0}")]
    Mime(#[from] mime::MimeError),
    /// The user's Bottlerocket TOML is unreadable.
    #[error("spec.userData: the Bottlerocket settings are not valid TOML: {0}")]
    Toml(String),
    /// AL2023 needs the cluster's service CIDR.
    #[error("the cluster's service CIDR is unknown; AL2023 nodes need it in their NodeConfig")]
    NoClusterCidr,
    /// A kubelet setting has the wrong shape.
    #[error("spec.kubelet.{field}: {reason}")]
    Kubelet {
        /// The setting.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// The kubelet settings Karpenter writes as flags or Bottlerocket settings, read from the raw map.
#[derive(Debug, Default)]
struct KubeletFlags {
    cluster_dns: Vec<String>,
    pods_per_core: Option<i64>,
    system_reserved: BTreeMap<String, String>,
    kube_reserved: BTreeMap<String, String>,
    eviction_hard: BTreeMap<String, String>,
    eviction_soft: BTreeMap<String, String>,
    eviction_soft_grace_period: BTreeMap<String, String>,
    eviction_max_pod_grace_period: Option<i64>,
    image_gc_high: Option<i64>,
    image_gc_low: Option<i64>,
    cpu_cfs_quota: Option<bool>,
}

impl KubeletFlags {
    fn read(input: &BootstrapInput<'_>) -> Result<Self, UserDataError> {
        let empty = BTreeMap::new();
        let map = input.kubelet.unwrap_or(&empty);
        let bad =
            |field: &str, reason: &str| UserDataError::Kubelet { field: field.into(), reason: reason.into() };
        let int = |field: &str| -> Result<Option<i64>, UserDataError> {
            match map.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or_else(|| bad(field, "expected an integer")),
            }
        };
        let strings = |field: &str| -> Result<BTreeMap<String, String>, UserDataError> {
            match map.get(field) {
                None | Some(Value::Null) => Ok(BTreeMap::new()),
                Some(Value::Object(o)) => o
                    .iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => Ok((k.clone(), s.clone())),
                        Value::Number(n) => Ok((k.clone(), n.to_string())),
                        _ => Err(bad(&format!("{field}.{k}"), "expected a string")),
                    })
                    .collect(),
                Some(_) => Err(bad(field, "expected a map")),
            }
        };
        let mut cluster_dns = match map.get("clusterDNS") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(|| bad("clusterDNS", "expected strings")))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad("clusterDNS", "expected a list")),
        };
        if cluster_dns.is_empty()
            && let Some(dns) = input.cluster_dns
        {
            cluster_dns.push(dns.to_string());
        }
        Ok(KubeletFlags {
            cluster_dns,
            pods_per_core: int("podsPerCore")?,
            system_reserved: strings("systemReserved")?,
            kube_reserved: strings("kubeReserved")?,
            eviction_hard: strings("evictionHard")?,
            eviction_soft: strings("evictionSoft")?,
            eviction_soft_grace_period: strings("evictionSoftGracePeriod")?,
            eviction_max_pod_grace_period: int("evictionMaxPodGracePeriod")?,
            image_gc_high: int("imageGCHighThresholdPercent")?,
            image_gc_low: int("imageGCLowThresholdPercent")?,
            cpu_cfs_quota: match map.get("cpuCFSQuota") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_bool().ok_or_else(|| bad("cpuCFSQuota", "expected a boolean"))?),
            },
        })
    }
}

/// A taint as the kubelet's `--register-with-taints` writes it: `key=value:Effect`, or `key:Effect`.
fn taint_text(taint: &Taint) -> String {
    if taint.value.is_empty() {
        format!("{}:{}", taint.key, taint.effect)
    } else {
        format!("{}={}:{}", taint.key, taint.value, taint.effect)
    }
}

/// Go's `%q` of a plain string: double quotes, with quotes and backslashes escaped.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn node_labels_arg(labels: &BTreeMap<String, String>) -> Option<String> {
    if labels.is_empty() {
        return None;
    }
    let joined = labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
    Some(format!("--node-labels={}", quoted(&joined)))
}

fn joined_arg(name: &str, map: &BTreeMap<String, String>, separator: &str) -> Option<String> {
    if map.is_empty() {
        return None;
    }
    let joined = map.iter().map(|(k, v)| format!("{k}{separator}{v}")).collect::<Vec<_>>().join(",");
    Some(format!("{name}={}", quoted(&joined)))
}

/// The kubelet flags of AL2's `--kubelet-extra-args` and Windows' `-KubeletExtraArgs`.
fn kubelet_extra_args(input: &BootstrapInput<'_>, flags: &KubeletFlags) -> String {
    let taints = input.taints.iter().map(taint_text).collect::<Vec<_>>().join(",");
    let mut args: Vec<String> = Vec::new();
    args.extend(node_labels_arg(input.labels));
    args.push(format!("--register-with-taints={}", quoted(&taints)));
    args.push(format!("--max-pods={}", input.max_pods));
    if let Some(per_core) = flags.pods_per_core {
        args.push(format!("--pods-per-core={per_core}"));
    }
    args.extend(joined_arg("--system-reserved", &flags.system_reserved, "="));
    args.extend(joined_arg("--kube-reserved", &flags.kube_reserved, "="));
    args.extend(joined_arg("--eviction-hard", &flags.eviction_hard, "<"));
    args.extend(joined_arg("--eviction-soft", &flags.eviction_soft, "<"));
    args.extend(joined_arg("--eviction-soft-grace-period", &flags.eviction_soft_grace_period, "="));
    if let Some(period) = flags.eviction_max_pod_grace_period {
        args.push(format!("--eviction-max-pod-grace-period={period}"));
    }
    if let Some(high) = flags.image_gc_high {
        args.push(format!("--image-gc-high-threshold={high}"));
    }
    if let Some(low) = flags.image_gc_low {
        args.push(format!("--image-gc-low-threshold={low}"));
    }
    if let Some(quota) = flags.cpu_cfs_quota {
        args.push(format!("--cpu-cfs-quota={quota}"));
    }
    args.join(" ")
}

/// Renders the user data of a launch template.
pub fn render(input: &BootstrapInput<'_>) -> Result<String, UserDataError> {
    match input.family {
        AmiFamily::AL2 => al2(input),
        AmiFamily::AL2023 => al2023(input),
        AmiFamily::Bottlerocket => bottlerocket(input),
        AmiFamily::Windows2019 | AmiFamily::Windows2022 | AmiFamily::Windows2025 => windows(input),
        AmiFamily::Custom => Ok(input.custom_user_data.unwrap_or_default().to_string()),
    }
}

/// The user's parts of a MIME archive: an archive's own parts, or one part of the given type.
fn user_parts(
    custom: Option<&str>,
    plain_type: impl Fn(&str) -> &'static str,
) -> Result<Vec<Part>, UserDataError> {
    let Some(custom) = custom.filter(|c| !c.is_empty()) else { return Ok(Vec::new()) };
    if mime::is_mime(custom) {
        return Ok(mime::parse(custom)?);
    }
    Ok(vec![Part { content_type: plain_type(custom).to_string(), content: custom.to_string() }])
}

fn al2(input: &BootstrapInput<'_>) -> Result<String, UserDataError> {
    let flags = KubeletFlags::read(input)?;
    let mut script = String::from("#!/bin/bash -xe\n");
    script.push_str("exec > >(tee /var/log/user-data.log|logger -t user-data -s 2>/dev/console) 2>&1\n");
    // bootstrap.sh does not take `--flag=value`, so every value is a separate, quoted word.
    let _ = write!(
        script,
        "/etc/eks/bootstrap.sh '{}' --apiserver-endpoint '{}'",
        input.cluster_name, input.cluster_endpoint
    );
    if let Some(ca) = input.ca_bundle {
        let _ = write!(script, " --b64-cluster-ca '{ca}'");
    }
    if let Some(dns) = flags.cluster_dns.first() {
        if dns.contains(':') {
            script.push_str(" \\\n--ip-family ipv6");
        }
        let _ = write!(script, " \\\n--dns-cluster-ip '{dns}'");
    }
    script.push_str(" \\\n--use-max-pods false");
    let _ = write!(script, " \\\n--kubelet-extra-args '{}'", kubelet_extra_args(input, &flags));
    if input.raid0 {
        script.push_str(" \\\n--local-disks raid0");
    }
    let mut parts = user_parts(input.custom_user_data, |_| mime::SHELL_SCRIPT)?;
    parts.push(Part { content_type: mime::SHELL_SCRIPT.to_string(), content: script });
    Ok(mime::serialize(&parts))
}

fn al2023(input: &BootstrapInput<'_>) -> Result<String, UserDataError> {
    let flags = KubeletFlags::read(input)?;
    let cidr = input.cluster_cidr.ok_or(UserDataError::NoClusterCidr)?;
    let mut cluster = serde_json::Map::new();
    cluster.insert("apiServerEndpoint".into(), input.cluster_endpoint.into());
    if let Some(ca) = input.ca_bundle {
        cluster.insert("certificateAuthority".into(), ca.into());
    }
    cluster.insert("cidr".into(), cidr.into());
    cluster.insert("name".into(), input.cluster_name.into());
    // The node's kubelet configuration is the EC2NodeClass's, as written, plus what Karpenter decides.
    let mut config: serde_json::Map<String, Value> = input
        .kubelet
        .map(|k| k.iter().map(|(key, v)| (key.clone(), v.clone())).collect())
        .unwrap_or_default();
    if !flags.cluster_dns.is_empty() {
        config.insert("clusterDNS".into(), flags.cluster_dns.clone().into());
    }
    config.insert("maxPods".into(), input.max_pods.into());
    config.insert(
        "registerWithTaints".into(),
        Value::Array(
            input
                .taints
                .iter()
                .map(|t| {
                    let mut taint = serde_json::Map::new();
                    taint.insert("effect".into(), t.effect.clone().into());
                    taint.insert("key".into(), t.key.clone().into());
                    if !t.value.is_empty() {
                        taint.insert("value".into(), t.value.clone().into());
                    }
                    Value::Object(taint)
                })
                .collect(),
        ),
    );
    let mut kubelet = serde_json::Map::new();
    kubelet.insert("config".into(), Value::Object(config));
    if let Some(labels) = node_labels_arg(input.labels) {
        kubelet.insert("flags".into(), Value::Array(vec![labels.into()]));
    }
    let mut spec = serde_json::Map::new();
    spec.insert("cluster".into(), Value::Object(cluster));
    if input.raid0 {
        spec.insert("instance".into(), serde_json::json!({"localStorage": {"strategy": "RAID0"}}));
    }
    spec.insert("kubelet".into(), Value::Object(kubelet));
    let node_config = serde_json::json!({
        "apiVersion": "node.eks.aws/v1alpha1",
        "kind": "NodeConfig",
        "spec": Value::Object(spec),
    });
    let yaml = serde_norway::to_string(&sorted(node_config)).map_err(|e| UserDataError::Kubelet {
        field: "(all)".into(),
        reason: format!("cannot be written as YAML: {e}"),
    })?;
    let mut parts = user_parts(input.custom_user_data, |custom| {
        // YAML that parses as a map is a NodeConfig of the user's; anything else is a script.
        match serde_norway::from_str::<serde_json::Map<String, Value>>(custom) {
            Ok(_) => mime::NODE_CONFIG,
            Err(_) => mime::SHELL_SCRIPT,
        }
    })?;
    parts.push(Part {
        content_type: mime::NODE_CONFIG.to_string(),
        content: format!("# Karpenter Generated NodeConfig\n{yaml}"),
    });
    Ok(mime::serialize(&parts))
}

/// The value with every map's keys in order, whatever order serde_json keeps them in (its `preserve_order`
/// feature may be on in some builds and not others), so that equal settings render equal user data.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let ordered: BTreeMap<String, Value> = map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(ordered.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn bottlerocket(input: &BootstrapInput<'_>) -> Result<String, UserDataError> {
    use toml::{Table, Value as Toml};

    let flags = KubeletFlags::read(input)?;
    let mut document: Table = match input.custom_user_data.filter(|c| !c.trim().is_empty()) {
        Some(custom) => {
            custom.parse().map_err(|e: toml::de::Error| UserDataError::Toml(e.message().to_string()))?
        }
        None => Table::new(),
    };
    let settings = table_at(&mut document, "settings");
    let kubernetes = table_at(settings, "kubernetes");
    let string = |s: &str| Toml::String(s.to_string());
    let strings = |map: &BTreeMap<String, String>| {
        Toml::Table(map.iter().map(|(k, v)| (k.clone(), Toml::String(v.clone()))).collect())
    };
    // Karpenter's values win over the user's for these keys.
    kubernetes.insert("cluster-name".into(), string(input.cluster_name));
    kubernetes.insert("api-server".into(), string(input.cluster_endpoint));
    if let Some(ca) = input.ca_bundle {
        kubernetes.insert("cluster-certificate".into(), string(ca));
    }
    kubernetes.insert("max-pods".into(), Toml::Integer(i64::try_from(input.max_pods).unwrap_or(i64::MAX)));
    if let Some(dns) = flags.cluster_dns.first() {
        kubernetes.insert("cluster-dns-ip".into(), string(dns));
    }
    for (key, map) in [
        ("system-reserved", &flags.system_reserved),
        ("kube-reserved", &flags.kube_reserved),
        ("eviction-hard", &flags.eviction_hard),
        ("eviction-soft", &flags.eviction_soft),
        ("eviction-soft-grace-period", &flags.eviction_soft_grace_period),
    ] {
        if !map.is_empty() {
            kubernetes.insert(key.into(), strings(map));
        }
    }
    if let Some(period) = flags.eviction_max_pod_grace_period {
        kubernetes.insert("eviction-max-pod-grace-period".into(), Toml::Integer(period));
    }
    if let Some(high) = flags.image_gc_high {
        kubernetes.insert("image-gc-high-threshold-percent".into(), string(&high.to_string()));
    }
    if let Some(low) = flags.image_gc_low {
        kubernetes.insert("image-gc-low-threshold-percent".into(), string(&low.to_string()));
    }
    if let Some(quota) = flags.cpu_cfs_quota {
        kubernetes.insert("cpu-cfs-quota-enforced".into(), Toml::Boolean(quota));
    }
    // Labels merge into the user's; taints replace them.
    let labels = table_at(kubernetes, "node-labels");
    for (key, value) in input.labels {
        labels.insert(key.clone(), string(value));
    }
    let mut taints: BTreeMap<String, Vec<Toml>> = BTreeMap::new();
    for taint in input.taints {
        taints
            .entry(taint.key.clone())
            .or_default()
            .push(string(&format!("{}:{}", taint.value, taint.effect)));
    }
    kubernetes.insert(
        "node-taints".into(),
        Toml::Table(taints.into_iter().map(|(k, v)| (k, Toml::Array(v))).collect()),
    );
    if input.raid0 {
        let commands = table_at(settings, "bootstrap-commands");
        let mut mount = Table::new();
        let command = |words: &[&str]| Toml::Array(words.iter().map(|w| string(w)).collect());
        mount.insert(
            "commands".into(),
            Toml::Array(vec![
                command(&["apiclient", "ephemeral-storage", "init"]),
                command(&[
                    "apiclient",
                    "ephemeral-storage",
                    "bind",
                    "--dirs",
                    "/var/lib/containerd",
                    "/var/lib/kubelet",
                    "/var/log/pods",
                ]),
            ]),
        );
        mount.insert("essential".into(), Toml::Boolean(true));
        mount.insert("mode".into(), string("always"));
        commands.insert("000-mount-instance-storage".into(), Toml::Table(mount));
    }
    toml::to_string(&document).map_err(|e| UserDataError::Toml(e.to_string()))
}

/// The table under `key`, made when missing or replaced when the user wrote something else there.
fn table_at<'t>(table: &'t mut toml::Table, key: &str) -> &'t mut toml::Table {
    let entry = table.entry(key.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if !entry.is_table() {
        *entry = toml::Value::Table(toml::Table::new());
    }
    match entry {
        toml::Value::Table(inner) => inner,
        _ => unreachable!("replaced by a table just above"),
    }
}

fn windows(input: &BootstrapInput<'_>) -> Result<String, UserDataError> {
    let flags = KubeletFlags::read(input)?;
    let mut out = String::from("<powershell>\n");
    if let Some(custom) = input.custom_user_data.filter(|c| !c.trim().is_empty()) {
        let inner = custom.trim().trim_start_matches("<powershell>").trim_end_matches("</powershell>").trim();
        out.push_str(inner);
        out.push('\n');
    }
    out.push_str(
        "[string]$EKSBootstrapScriptFile = \"$env:ProgramFiles\\Amazon\\EKS\\Start-EKSBootstrap.ps1\"\n",
    );
    let _ = write!(
        out,
        "& $EKSBootstrapScriptFile -EKSClusterName '{}' -APIServerEndpoint '{}'",
        input.cluster_name, input.cluster_endpoint
    );
    if let Some(ca) = input.ca_bundle {
        let _ = write!(out, " -Base64ClusterCA '{ca}'");
    }
    let _ = write!(out, " -KubeletExtraArgs '{}'", kubelet_extra_args(input, &flags));
    if let Some(dns) = flags.cluster_dns.first() {
        let _ = write!(out, " -DNSClusterIP '{dns}'");
    }
    out.push_str("\n</powershell>");
    Ok(out)
}

#[cfg(test)]
mod tests;
