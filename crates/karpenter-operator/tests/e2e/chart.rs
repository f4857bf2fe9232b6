//! The Helm chart with the real helm: it lints, and renders what the controller needs for each provider. (Every
//! other test of this binary installs its RBAC on the API server and runs the controller as its ServiceAccount.)
#![cfg(feature = "cluster-tests")]

use serde::Deserialize;
use serde_json::Value;

use super::common::{chart_dir, run_helm};

fn render(args: &[&str]) -> Vec<Value> {
    let chart = chart_dir();
    let mut all = vec!["template", "karpenter", chart.to_str().unwrap(), "--namespace", "karpenter"];
    all.extend_from_slice(args);
    let rendered = run_helm(&all);
    serde_norway::Deserializer::from_str(&rendered)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn cluster_role_groups(objects: &[Value]) -> Vec<String> {
    let role = objects.iter().find(|o| o["kind"] == "ClusterRole").expect("a ClusterRole");
    role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {} {}", r["apiGroups"], r["resources"], r["verbs"]))
        .collect()
}

#[test]
fn the_chart_lints_and_renders_least_privilege_rbac_per_provider() {
    let lint = run_helm(&["lint", chart_dir().to_str().unwrap(), "--set", "settings.cloudProvider=kwok"]);
    assert!(lint.contains("0 chart(s) failed"), "{lint}");
    let kwok = render(&["--set", "settings.cloudProvider=kwok"]);
    let rules = cluster_role_groups(&kwok);
    assert!(rules.iter().any(|r| r.contains("kwoknodeclasses")), "{rules:#?}");
    assert!(
        rules.iter().any(|r| r.starts_with(r#"[""] ["nodes"] ["update","delete","create"]"#)),
        "{rules:#?}"
    );
    assert!(!rules.iter().any(|r| r.contains("ec2nodeclasses")), "{rules:#?}");
    let aws = render(&[]);
    let rules = cluster_role_groups(&aws);
    assert!(rules.iter().any(|r| r.contains("ec2nodeclasses")), "{rules:#?}");
    assert!(
        rules.iter().any(|r| r.starts_with(r#"[""] ["nodes"] ["update","delete"]"#)),
        "AWS does not create nodes: {rules:#?}"
    );
    // No wildcard anywhere.
    assert!(!rules.iter().any(|r| r.contains("\"*\"")), "{rules:#?}");

    // The Deployment tolerates the bootstrap node group's taint and stays off the nodes it manages.
    let deployment = kwok.iter().find(|o| o["kind"] == "Deployment").unwrap();
    let spec = &deployment["spec"]["template"]["spec"];
    assert_eq!(spec["tolerations"][0]["key"], "CriticalAddonsOnly");
    assert_eq!(
        spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            [0]["matchExpressions"][0]["key"],
        "karpenter.sh/nodepool"
    );
    let container = &spec["containers"][0];
    assert_eq!(container["args"], serde_json::json!(["run", "--cloud-provider", "kwok"]));
    let env: Vec<&str> =
        container["env"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    for name in [
        "CLUSTER_NAME",
        "BATCH_IDLE_DURATION",
        "BATCH_MAX_DURATION",
        "FEATURE_GATES",
        "LOG_LEVEL",
        "METRICS_PORT",
        "HEALTH_PROBE_PORT",
    ] {
        assert!(env.contains(&name), "{name} is set: {env:?}");
    }
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    let pdb = kwok.iter().find(|o| o["kind"] == "PodDisruptionBudget").unwrap();
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
}

#[test]
fn the_grafana_dashboard_is_a_config_map_only_when_asked_for() {
    let is_dashboards = |o: &&Value| {
        o["kind"] == "ConfigMap" && o["metadata"]["name"].as_str().is_some_and(|n| n.ends_with("-dashboards"))
    };
    let off = render(&["--set", "settings.cloudProvider=kwok"]);
    assert!(!off.iter().any(|o| is_dashboards(&o)), "no dashboard by default");
    let on = render(&["--set", "settings.cloudProvider=kwok", "--set", "dashboards.enabled=true"]);
    let map = on.iter().find(is_dashboards).expect("the dashboard's ConfigMap");
    assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1");
    let rendered: Value = serde_json::from_str(map["data"]["karpenter.json"].as_str().unwrap()).unwrap();
    let file = std::fs::read_to_string(chart_dir().join("dashboards/karpenter.json")).unwrap();
    assert_eq!(rendered, serde_json::from_str::<Value>(&file).unwrap(), "the dashboard, unchanged");
}
