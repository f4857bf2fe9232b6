//! Golden user data per AMI family, with and without the user's own (files in `testdata/`, checked by hand
//! against the formats of upstream's bootstrap code; `UPDATE_EXPECT=1 cargo test` rewrites them).

use expect_test::expect_file;
use serde_json::json;

use super::*;

fn labels() -> BTreeMap<String, String> {
    [
        ("karpenter.k8s.aws/ec2nodeclass", "default"),
        ("karpenter.sh/capacity-type", "on-demand"),
        ("karpenter.sh/do-not-sync-taints", "true"),
        ("karpenter.sh/nodepool", "default"),
        ("kubernetes.io/arch", "arm64"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn taints() -> Vec<Taint> {
    vec![
        Taint { key: "dedicated".into(), value: "web".into(), effect: "NoSchedule".into() },
        Taint { key: "karpenter.sh/unregistered".into(), value: String::new(), effect: "NoExecute".into() },
    ]
}

fn kubelet() -> BTreeMap<String, Value> {
    [
        ("podsPerCore", json!(10)),
        ("systemReserved", json!({"cpu": "100m", "memory": "100Mi"})),
        ("evictionHard", json!({"memory.available": "5%"})),
        ("imageGCHighThresholdPercent", json!(85)),
        ("cpuCFSQuota", json!(true)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn render_with(
    family: AmiFamily,
    custom: Option<&str>,
    kubelet: Option<&BTreeMap<String, Value>>,
    raid0: bool,
) -> String {
    let labels = labels();
    let taints = taints();
    let input = BootstrapInput {
        family,
        cluster_name: "my-cluster",
        cluster_endpoint: "https://my-cluster.example.com",
        ca_bundle: Some("Y2EtYnVuZGxlCg=="),
        cluster_cidr: Some("10.100.0.0/16"),
        cluster_dns: Some("10.100.0.10"),
        labels: &labels,
        taints: &taints,
        max_pods: 29,
        kubelet,
        custom_user_data: custom,
        raid0,
    };
    render(&input).unwrap_or_else(|e| format!("error: {e}"))
}

const SHELL: &str = "#!/bin/bash\necho 'hello from the user'\n";
const USER_MIME: &str = "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"BOUNDARY\"\n\n--BOUNDARY\nContent-Type: text/x-shellscript; charset=\"us-ascii\"\n\n#!/bin/bash\necho 'first part'\n\n--BOUNDARY--\n";
const USER_NODE_CONFIG: &str = "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  kubelet:\n    config:\n      shutdownGracePeriod: 30s\n";

#[test]
fn al2023_nodeconfig_alone() {
    expect_file!["testdata/al2023.golden"].assert_eq(&render_with(AmiFamily::AL2023, None, None, false));
}

#[test]
fn al2023_with_kubelet_settings_raid0_and_a_users_nodeconfig() {
    let kubelet = kubelet();
    expect_file!["testdata/al2023_merged_nodeconfig.golden"].assert_eq(&render_with(
        AmiFamily::AL2023,
        Some(USER_NODE_CONFIG),
        Some(&kubelet),
        true,
    ));
}

#[test]
fn al2023_keeps_a_users_mime_parts_and_wraps_a_script() {
    expect_file!["testdata/al2023_merged_mime.golden"].assert_eq(&render_with(
        AmiFamily::AL2023,
        Some(USER_MIME),
        None,
        false,
    ));
    let merged = render_with(AmiFamily::AL2023, Some(SHELL), None, false);
    let parts = mime::parse(&merged).unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!((parts[0].content_type.as_str(), parts[0].content.as_str()), (mime::SHELL_SCRIPT, SHELL));
    assert_eq!(parts[1].content_type, mime::NODE_CONFIG);
}

#[test]
fn al2023_needs_the_service_cidr() {
    let labels = labels();
    let input = BootstrapInput {
        family: AmiFamily::AL2023,
        cluster_name: "c",
        cluster_endpoint: "https://c",
        ca_bundle: None,
        cluster_cidr: None,
        cluster_dns: None,
        labels: &labels,
        taints: &[],
        max_pods: 1,
        kubelet: None,
        custom_user_data: None,
        raid0: false,
    };
    assert_eq!(render(&input), Err(UserDataError::NoClusterCidr));
}

#[test]
fn al2_bootstrap_script() {
    expect_file!["testdata/al2.golden"].assert_eq(&render_with(AmiFamily::AL2, None, None, false));
}

#[test]
fn al2_with_kubelet_flags_raid0_and_a_users_script() {
    let kubelet = kubelet();
    expect_file!["testdata/al2_merged.golden"].assert_eq(&render_with(
        AmiFamily::AL2,
        Some(SHELL),
        Some(&kubelet),
        true,
    ));
}

#[test]
fn bottlerocket_settings() {
    expect_file!["testdata/bottlerocket.golden"].assert_eq(&render_with(
        AmiFamily::Bottlerocket,
        None,
        None,
        false,
    ));
}

#[test]
fn bottlerocket_overwrites_the_users_kubernetes_settings_and_keeps_the_rest() {
    let user = "[settings.kubernetes]\ncluster-name = 'theirs'\nmax-pods = 5\n[settings.kubernetes.node-labels]\n'team' = 'a'\n[settings.host-containers.admin]\nenabled = true\n";
    let kubelet = kubelet();
    expect_file!["testdata/bottlerocket_merged.golden"].assert_eq(&render_with(
        AmiFamily::Bottlerocket,
        Some(user),
        Some(&kubelet),
        true,
    ));
    assert!(
        render_with(AmiFamily::Bottlerocket, Some("not = [toml"), None, false)
            .starts_with("error: spec.userData")
    );
}

#[test]
fn windows_powershell() {
    expect_file!["testdata/windows.golden"].assert_eq(&render_with(
        AmiFamily::Windows2022,
        Some("<powershell>Write-Host 'hi'</powershell>"),
        None,
        false,
    ));
}

#[test]
fn custom_passes_the_users_data_through() {
    assert_eq!(render_with(AmiFamily::Custom, Some(SHELL), None, false), SHELL);
    assert_eq!(render_with(AmiFamily::Custom, None, None, false), "");
}

#[test]
fn bad_kubelet_values_name_the_field() {
    let bad: BTreeMap<String, Value> = [("evictionHard".to_string(), json!(["x"]))].into_iter().collect();
    assert_eq!(
        render_with(AmiFamily::AL2, None, Some(&bad), false),
        "error: spec.kubelet.evictionHard: expected a map"
    );
}
