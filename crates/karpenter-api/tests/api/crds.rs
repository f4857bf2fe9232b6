//! The generated CRDs against upstream's, and against the copies checked in under `charts/karpenter/crds/`.

use std::path::Path;

use expect_test::expect;
use serde_json::Value;

/// Removes every `description`: ours are written for this project, upstream's are its own.
fn without_descriptions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("description");
            map.values_mut().for_each(without_descriptions);
        }
        Value::Array(items) => items.iter_mut().for_each(without_descriptions),
        _ => {}
    }
}

/// Every place where `ours` and `upstream` differ, one line each, as a JSON pointer and the two values.
fn differences(path: &str, ours: Option<&Value>, upstream: Option<&Value>, out: &mut Vec<String>) {
    match (ours, upstream) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                differences(&format!("{path}/{key}"), a.get(key), b.get(key), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() => {
            for (index, (x, y)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}/{index}"), Some(x), Some(y), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!(
            "{path}: ours {} | upstream {}",
            a.map_or("absent".into(), Value::to_string),
            b.map_or("absent".into(), Value::to_string)
        )),
    }
}

#[test]
fn generated_crds_match_upstream_field_for_field() {
    let upstream_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/upstream");
    let mut report = Vec::new();
    for crd in karpenter_api::crds::all().unwrap() {
        let name = crd.metadata.name.clone().unwrap();
        let file = format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural);
        let text = std::fs::read_to_string(upstream_dir.join(&file)).unwrap();
        let mut upstream: Value = serde_norway::from_str(&text).unwrap();
        let mut ours = serde_json::to_value(&crd).unwrap();
        karpenter_api::crds::whole_numbers_as_integers(&mut ours);
        without_descriptions(&mut ours);
        without_descriptions(&mut upstream);
        differences(&name, Some(&ours), Some(&upstream), &mut report);
    }
    // The only difference: upstream's files record the controller-gen version that wrote them.
    expect![[r#"
        nodepools.karpenter.sh/metadata/annotations: ours absent | upstream {"controller-gen.kubebuilder.io/version":"v0.20.1"}
        nodeclaims.karpenter.sh/metadata/annotations: ours absent | upstream {"controller-gen.kubebuilder.io/version":"v0.20.1"}
        ec2nodeclasses.karpenter.k8s.aws/metadata/annotations: ours absent | upstream {"controller-gen.kubebuilder.io/version":"v0.21.0"}
        kwoknodeclasses.karpenter.kwok.sh/metadata/annotations: ours absent | upstream {"controller-gen.kubebuilder.io/version":"v0.20.1"}
        nodeoverlays.karpenter.sh/metadata/annotations: ours absent | upstream {"controller-gen.kubebuilder.io/version":"v0.20.1"}
        capacitybuffers.autoscaling.x-k8s.io/metadata/annotations: ours absent | upstream {"controller-gen.kubebuilder.io/version":"v0.20.1"}"#]]
    .assert_eq(&report.join("\n"));
}

#[test]
fn every_field_of_the_types_has_a_description() {
    fn undocumented(path: &str, schema: &Value, out: &mut Vec<String>) {
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return };
        for (name, property) in properties {
            let here = format!("{path}.{name}");
            if property.get("description").is_none()
                && !["apiVersion", "kind", "metadata"].contains(&name.as_str())
            {
                out.push(here.clone());
            }
            undocumented(&here, property, out);
            if let Some(items) = property.get("items") {
                undocumented(&format!("{here}[]"), items, out);
            }
        }
    }
    let mut missing = Vec::new();
    for crd in karpenter_api::crds::all().unwrap() {
        let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
        undocumented(&crd.spec.names.kind, &schema["openAPIV3Schema"], &mut missing);
    }
    assert!(missing.is_empty(), "fields without a description (kubectl explain shows nothing): {missing:#?}");
}

#[test]
fn checked_in_crds_are_current() {
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/karpenter/crds");
    for (file, yaml) in karpenter_api::crds::files().unwrap() {
        let checked_in = std::fs::read_to_string(chart.join(&file)).unwrap_or_default();
        assert!(
            checked_in == yaml,
            "charts/karpenter/crds/{file} is stale; regenerate with `cargo run -p karpenter -- crds --dir charts/karpenter/crds`"
        );
    }
}
