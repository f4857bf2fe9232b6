//! The example manifests under `tests/manifests/`: they decode into our types without losing a field, and their
//! drift hashes equal the ones upstream's own Go code computes (`hash-vectors.json`, written by
//! `tools/hash-oracle`).

use super::common::{Document, documents};
use karpenter_api::{CapacityBuffer, EC2NodeClass, KWOKNodeClass, NodeClaim, NodeOverlay, NodePool};
use serde::Deserialize;
use serde_json::Value;

/// Decodes `document` as `T` and encodes it again.
fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(document: &Document) -> Value {
    let typed: T = serde_json::from_value(document.value.clone())
        .unwrap_or_else(|error| panic!("{}: {} does not decode: {error}", document.file, document.name()));
    serde_json::to_value(typed).unwrap()
}

#[test]
fn every_manifest_survives_a_round_trip_through_the_types() {
    let mut kinds = Vec::new();
    for document in documents() {
        let again = match document.kind() {
            "NodePool" => round_trip::<NodePool>(&document),
            "NodeClaim" => round_trip::<NodeClaim>(&document),
            "EC2NodeClass" => round_trip::<EC2NodeClass>(&document),
            "KWOKNodeClass" => round_trip::<KWOKNodeClass>(&document),
            "NodeOverlay" => round_trip::<NodeOverlay>(&document),
            "CapacityBuffer" => round_trip::<CapacityBuffer>(&document),
            other => panic!("{}: unexpected kind {other}", document.file),
        };
        assert_eq!(again, document.value, "{}: {} changed in a round trip", document.file, document.name());
        kinds.push(document.kind().to_owned());
    }
    kinds.sort();
    kinds.dedup();
    assert_eq!(
        kinds,
        ["CapacityBuffer", "EC2NodeClass", "KWOKNodeClass", "NodeClaim", "NodeOverlay", "NodePool"]
    );
}

#[derive(Deserialize)]
struct Vector {
    file: String,
    kind: String,
    name: String,
    hash: String,
}

#[test]
fn drift_hashes_equal_upstream_for_every_manifest() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hash-vectors.json")).unwrap();
    let vectors: Vec<Vector> = serde_json::from_str(&text).unwrap();
    let ca_bundle = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t";
    let mut compared = 0;
    for document in documents() {
        let ours: Vec<(String, String)> = match document.kind() {
            "NodePool" => {
                let pool: NodePool = serde_json::from_value(document.value.clone()).unwrap();
                vec![(document.name().to_owned(), pool.hash().unwrap())]
            }
            "EC2NodeClass" => {
                let class: EC2NodeClass = serde_json::from_value(document.value.clone()).unwrap();
                vec![
                    (document.name().to_owned(), class.hash(None).unwrap()),
                    (format!("{}+ca", document.name()), class.hash(Some(ca_bundle)).unwrap()),
                ]
            }
            _ => continue,
        };
        for (name, hash) in ours {
            let vector = vectors
                .iter()
                .find(|v| v.file == document.file && v.kind == document.kind() && v.name == name)
                .unwrap_or_else(|| {
                    panic!(
                        "no vector for {} {name} in {}; rerun tools/hash-oracle",
                        document.kind(),
                        document.file
                    )
                });
            assert_eq!(hash, vector.hash, "{}: {} {name}", document.file, document.kind());
            compared += 1;
        }
    }
    assert_eq!(compared, vectors.len(), "every vector has a manifest");
}

/// Every property path of a CRD schema (`spec.template.spec.taints[].key`), leaving out free-form maps' keys.
fn schema_paths(path: &str, schema: &Value, out: &mut Vec<String>) {
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            let here = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
            if ["apiVersion", "kind", "metadata"].contains(&here.as_str()) {
                continue;
            }
            out.push(here.clone());
            schema_paths(&here, property, out);
        }
    }
    if let Some(items) = schema.get("items") {
        schema_paths(&format!("{path}[]"), items, out);
    }
}

/// Every property path present in an object, in the same notation.
fn value_paths(path: &str, value: &Value, out: &mut std::collections::BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (name, child) in map {
                let here = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
                out.insert(here.clone());
                value_paths(&here, child, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| value_paths(&format!("{path}[]"), item, out)),
        _ => {}
    }
}

#[test]
fn the_manifests_together_set_every_field_of_every_kind() {
    let mut present = std::collections::BTreeSet::new();
    let documents = documents();
    let mut missing = Vec::new();
    for crd in karpenter_api::crds::all().unwrap() {
        let kind = &crd.spec.names.kind;
        present.clear();
        for document in documents.iter().filter(|d| d.kind() == kind) {
            value_paths("", &document.value, &mut present);
        }
        let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
        let mut paths = Vec::new();
        schema_paths("", &schema["openAPIV3Schema"], &mut paths);
        // Free-form maps (limits, tags, kubelet, ...) have no properties, so their own keys are not required.
        missing.extend(
            paths.into_iter().filter(|path| !present.contains(path)).map(|path| format!("{kind} {path}")),
        );
    }
    assert!(missing.is_empty(), "fields no manifest sets: {missing:#?}");
}

#[test]
fn every_example_node_pool_and_overlay_passes_runtime_validation() {
    let mut checked = 0;
    for document in documents() {
        let problems = match document.kind() {
            "NodePool" => serde_json::from_value::<NodePool>(document.value.clone()).unwrap().validate(),
            "NodeOverlay" => {
                serde_json::from_value::<NodeOverlay>(document.value.clone()).unwrap().validate()
            }
            _ => continue,
        };
        let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(problems.is_empty(), "{} {}: {problems:#?}", document.file, document.name());
        checked += 1;
    }
    assert!(checked > 5, "the examples include NodePools and NodeOverlays");
}
