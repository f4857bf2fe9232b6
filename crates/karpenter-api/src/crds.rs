//! The CustomResourceDefinitions of the six kinds, generated from the Rust types, and their YAML.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::json;

use crate::{CapacityBuffer, EC2NodeClass, KWOKNodeClass, NodeClaim, NodeOverlay, NodePool};

/// Why the CRDs could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A generated definition did not serialize; a bug in the types, not in user input.
    #[error("CRD {name} does not serialize: {source}")]
    Serialize {
        /// The CRD's name.
        name: String,
        /// What serde said.
        source: serde_json::Error,
    },
    /// The YAML emitter failed.
    #[error("CRD {name} does not render as YAML: {source}")]
    Yaml {
        /// The CRD's name.
        name: String,
        /// What the emitter said.
        source: serde_norway::Error,
    },
}

/// The NodePool, NodeClaim, EC2NodeClass, KWOKNodeClass, NodeOverlay and CapacityBuffer definitions, in that
/// order. The last two are alpha APIs behind the `NodeOverlay` and `CapacityBuffer` feature gates; upstream's
/// chart installs their definitions whether the gates are on or not, and so does this list.
pub fn all() -> Result<Vec<CustomResourceDefinition>, Error> {
    [
        NodePool::crd(),
        NodeClaim::crd(),
        EC2NodeClass::crd(),
        KWOKNodeClass::crd(),
        NodeOverlay::crd(),
        CapacityBuffer::crd(),
    ]
    .into_iter()
    .map(finalized)
    .collect()
}

/// Each definition as a YAML document (starting with `---`), with the file name upstream gives it
/// (`<group>_<plural>.yaml`), as `charts/karpenter/crds/` holds them.
pub fn files() -> Result<Vec<(String, String)>, Error> {
    all()?
        .into_iter()
        .map(|crd| {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let file = format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural);
            let mut value = serde_json::to_value(&crd)
                .map_err(|source| Error::Serialize { name: name.clone(), source })?;
            whole_numbers_as_integers(&mut value);
            let yaml = serde_norway::to_string(&value).map_err(|source| Error::Yaml { name, source })?;
            Ok((file, format!("---\n{yaml}")))
        })
        .collect()
}

/// Writes bounds such as `minimum: 1` as integers: the definition types hold them as `f64`, which would print
/// as `1.0` where every other CRD (and `kubectl get crd -o yaml`) says `1`.
pub fn whole_numbers_as_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(number) => {
            if let Some(float) = number.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15) {
                *number = serde_json::Number::from(float as i64);
            }
        }
        serde_json::Value::Object(map) => map.values_mut().for_each(whole_numbers_as_integers),
        serde_json::Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

/// All definitions as one YAML stream, as `karpenter crds` prints it.
pub fn to_yaml() -> Result<String, Error> {
    Ok(files()?.into_iter().map(|(_, yaml)| yaml).collect())
}

/// Brings kube's generated definition to upstream's shape: the list kind named, the standard object fields
/// declared, no schema title, `spec` optional where upstream's Go type omits it when empty (EC2NodeClass,
/// KWOKNodeClass), and [`crate::schema::finalize`] over everything.
fn finalized(crd: CustomResourceDefinition) -> Result<CustomResourceDefinition, Error> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let serialize = |source| Error::Serialize { name: name.clone(), source };
    let mut value = serde_json::to_value(&crd).map_err(serialize)?;
    let kind = value["spec"]["names"]["kind"].as_str().unwrap_or_default().to_owned();
    value["spec"]["names"]["listKind"] = json!(format!("{kind}List"));
    for version in value["spec"]["versions"].as_array_mut().into_iter().flatten() {
        let schema = &mut version["schema"]["openAPIV3Schema"];
        if let Some(schema) = schema.as_object_mut() {
            schema.remove("title");
            if kind == "EC2NodeClass" || kind == "KWOKNodeClass" {
                schema.remove("required");
            }
        }
        let properties = &mut schema["properties"];
        properties["apiVersion"] = json!({
            "description": "The versioned schema of this object; see the Kubernetes API conventions.",
            "type": "string",
        });
        properties["kind"] = json!({
            "description": "The REST resource this object represents; see the Kubernetes API conventions.",
            "type": "string",
        });
        properties["metadata"] = json!({ "type": "object" });
    }
    crate::schema::finalize(&mut value);
    serde_json::from_value(value).map_err(serialize)
}
