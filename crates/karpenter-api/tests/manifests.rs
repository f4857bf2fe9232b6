//! The example manifests under `tests/manifests/`: they decode into our types without losing a field, and their
//! drift hashes equal the ones upstream's own Go code computes (`hash-vectors.json`, written by
//! `tools/hash-oracle`).

mod common;

use common::{Document, documents};
use karpenter_api::{EC2NodeClass, NodeClaim, NodePool};
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
            other => panic!("{}: unexpected kind {other}", document.file),
        };
        assert_eq!(again, document.value, "{}: {} changed in a round trip", document.file, document.name());
        kinds.push(document.kind().to_owned());
    }
    kinds.sort();
    kinds.dedup();
    assert_eq!(kinds, ["EC2NodeClass", "NodeClaim", "NodePool"]);
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
