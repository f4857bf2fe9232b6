//! Fuzz check `manifests`: any text as the YAML files `karpenter plan` reads, through the bounded YAML reader
//! and into the API types (NodePool, NodeClaim, EC2NodeClass, NodeOverlay, CapacityBuffer, KWOKNodeClass), then
//! `validate` and the drift hashes. Nothing panics, and a decoded object survives a round trip through JSON with
//! the same value and the same hashes (upstream's hash is a function of the object, so ours must be too).

use karpenter_api::{CapacityBuffer, EC2NodeClass, KWOKNodeClass, NodeClaim, NodeOverlay, NodePool};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::yaml::read_documents;

/// Runs the check on one input.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(documents) = read_documents(text) else { return };
    for document in documents {
        let kind = document.get("kind").and_then(Value::as_str).unwrap_or_default().to_owned();
        match kind.as_str() {
            "NodeClaim" => {
                round_trip::<NodeClaim>(&document);
            }
            "KWOKNodeClass" => {
                round_trip::<KWOKNodeClass>(&document);
            }
            "CapacityBuffer" => {
                if let Some(buffer) = round_trip::<CapacityBuffer>(&document) {
                    let _ = buffer.spec.strategy();
                }
            }
            "NodeOverlay" => {
                if let Some(overlay) = round_trip::<NodeOverlay>(&document) {
                    let _ = overlay.validate();
                    let _ = overlay.spec.price_change();
                }
            }
            "EC2NodeClass" => {
                if let Some(class) = round_trip::<EC2NodeClass>(&document) {
                    let again: EC2NodeClass =
                        serde_json::from_value(serde_json::to_value(&class).unwrap()).unwrap();
                    for ca in [None, Some("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t")] {
                        assert_eq!(
                            class.hash(ca),
                            again.hash(ca),
                            "EC2NodeClass hash changed in a round trip"
                        );
                    }
                }
            }
            // Everything else is tried as a NodePool, the object users write most.
            _ => {
                if let Some(pool) = round_trip::<NodePool>(&document) {
                    let _ = pool.validate();
                    let again: NodePool =
                        serde_json::from_value(serde_json::to_value(&pool).unwrap()).unwrap();
                    assert_eq!(pool.hash(), again.hash(), "NodePool hash changed in a round trip");
                }
            }
        }
    }
}

/// Decodes `document` as `T`; when it decodes, its encoding decodes again and encodes the same (the API types
/// have no `PartialEq`, so their JSON is compared).
fn round_trip<T: DeserializeOwned + Serialize>(document: &Value) -> Option<T> {
    let typed: T = serde_json::from_value(document.clone()).ok()?;
    let encoded = serde_json::to_value(&typed).expect("a decoded object encodes");
    let again: T = serde_json::from_value(encoded.clone())
        .unwrap_or_else(|e| panic!("{encoded} was encoded from a decoded object but does not decode: {e}"));
    let encoded_again = serde_json::to_value(&again).expect("a decoded object encodes");
    assert_eq!(encoded_again, encoded, "changed in a round trip");
    Some(typed)
}
