//! The example manifests, shared by the offline tests and the API-server tests.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::path::Path;

use serde_json::Value;

/// One YAML document of a manifest file, as JSON.
pub(crate) struct Document {
    /// The file name under `tests/manifests/`.
    pub(crate) file: String,
    /// The document.
    pub(crate) value: Value,
}

impl Document {
    /// The object's kind.
    pub(crate) fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }

    /// The object's name.
    pub(crate) fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }
}

/// Every document of every file under `tests/manifests/`, in file order.
pub(crate) fn documents() -> Vec<Document> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/manifests");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    files.sort();
    let mut documents = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for document in serde_norway::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(document)
                .unwrap_or_else(|error| panic!("{file}: not YAML: {error}"));
            documents.push(Document { file: file.clone(), value });
        }
    }
    documents
}
