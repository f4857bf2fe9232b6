//! What went wrong with one object: its kind, namespace and name, the field at fault and the reason.
//!
//! A bad object is reported and left out; it never stops the rest of the snapshot from being mapped. The
//! controller turns these reports into events or status conditions, `karpenter plan` prints them.

use std::fmt;

use serde::Serialize;

/// An object by kind, namespace (for namespaced kinds) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ObjectRef {
    /// The kind, such as `Pod` or `NodePool`.
    pub kind: String,
    /// The namespace; `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

impl ObjectRef {
    /// A namespaced object.
    pub fn namespaced(kind: &str, namespace: &str, name: &str) -> Self {
        ObjectRef { kind: kind.to_string(), namespace: Some(namespace.to_string()), name: name.to_string() }
    }

    /// A cluster-scoped object.
    pub fn cluster(kind: &str, name: &str) -> Self {
        ObjectRef { kind: kind.to_string(), namespace: None, name: name.to_string() }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{}/{}/{}", self.kind, namespace, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// Why one object could not be carried into the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Error {
    /// A field the model needs is absent.
    #[error("{field}: missing")]
    MissingField {
        /// The field, such as `metadata.name`.
        field: String,
    },
    /// The object does not read as its kind (a manifest with a wrong type somewhere).
    #[error("does not read as its kind: {reason}")]
    Malformed {
        /// The parser's complaint.
        reason: String,
    },
    /// A field holds a value the model cannot carry.
    #[error("{field}: {reason}")]
    InvalidField {
        /// The field, such as `spec.template.spec.requirements[0].minValues`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A volume of a pod cannot be provisioned for (a missing claim, an unbound claim with Immediate binding...),
    /// so the pod is not provisionable, as upstream ignores such pods.
    #[error("{field}: {reason}")]
    Volume {
        /// The volume, such as `spec.volumes[0]`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The object uses a feature the solver does not model; it is left out rather than planned for wrongly.
    #[error("{field}: not supported yet: {reason}")]
    Unsupported {
        /// The field that uses the feature.
        field: String,
        /// What is not modelled.
        reason: String,
    },
    /// The object is well-formed but takes no part in this round, as upstream leaves it out (a static or
    /// deleting NodePool, a NodeClaim that has not launched...).
    #[error("left out: {reason}")]
    Skipped {
        /// Why.
        reason: String,
    },
}

impl Error {
    /// The field at fault, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::MissingField { field }
            | Error::InvalidField { field, .. }
            | Error::Volume { field, .. }
            | Error::Unsupported { field, .. } => Some(field),
            Error::Skipped { .. } | Error::Malformed { .. } => None,
        }
    }

    pub(crate) fn missing(field: impl Into<String>) -> Self {
        Error::MissingField { field: field.into() }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidField { field: field.into(), reason: reason.into() }
    }

    pub(crate) fn skipped(reason: impl Into<String>) -> Self {
        Error::Skipped { reason: reason.into() }
    }
}

/// `Result` with an [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One object left out of the model, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The object.
    pub object: ObjectRef,
    /// What is wrong with it.
    pub error: Error,
}

impl Report {
    /// A report on an object.
    pub fn new(object: ObjectRef, error: Error) -> Self {
        Report { object, error }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.object, self.error)
    }
}
