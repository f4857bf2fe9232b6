//! The API crate's tests, one binary: the CRDs against upstream's, the example manifests and their drift hashes,
//! the hashes' properties, and (with `cluster-tests`) the CRDs on the real API server.

mod apiserver;
mod common;
mod crds;
mod manifests;
mod properties;
