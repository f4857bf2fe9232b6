//! What is wrong with an input object: the field at fault and why, found while compiling a problem.

use std::fmt;

use crate::plan::InputError;

/// A field of an input object and what is wrong with it. Fields are paths in the object's own terms
/// (`spec.containers[0].resources.requests.cpu`); errors found deep inside an object are moved under their parent
/// with `FieldError::under` as they travel up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as a path in the object's own terms.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }

    /// The same error as a field of `parent`: `cpu` under `spec.overhead` is `spec.overhead.cpu`.
    pub(crate) fn under(self, parent: &str) -> Self {
        FieldError { field: format!("{parent}.{}", self.field), message: self.message }
    }

    /// The error reported against a whole object, named `Kind/name`.
    pub(crate) fn on(self, object: impl Into<String>) -> InputError {
        InputError { object: object.into(), field: Some(self.field), message: self.message }
    }
}

impl std::error::Error for FieldError {}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}
