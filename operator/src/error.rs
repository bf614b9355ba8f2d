//! Errors of a reconciliation. Each names the step that failed and the
//! object it failed on; [`Error::category`] labels the failure metric.

use crate::kafka::AdminError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("applying {kind} {namespace}/{name}: {source}")]
    Apply {
        kind: String,
        namespace: String,
        name: String,
        source: Box<kube::Error>,
    },
    #[error("deleting {kind} {namespace}/{name}: {source}")]
    Delete {
        kind: String,
        namespace: String,
        name: String,
        source: Box<kube::Error>,
    },
    #[error("reading {kind} {namespace}/{name}: {source}")]
    Get {
        kind: String,
        namespace: String,
        name: String,
        source: Box<kube::Error>,
    },
    #[error("patching the status of {kind} {namespace}/{name}: {source}")]
    PatchStatus {
        kind: String,
        namespace: String,
        name: String,
        source: Box<kube::Error>,
    },
    #[error("Kafka admin request to {servers}: {source}")]
    Kafka { servers: String, source: AdminError },
    #[error("finalizer of {namespace}/{name}: {source}")]
    Finalizer {
        namespace: String,
        name: String,
        source: Box<kube::runtime::finalizer::Error<Error>>,
    },
    #[error("the object has no {0}")]
    MissingField(&'static str),
}

impl Error {
    /// Low-cardinality label for the failure metric.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Apply { .. }
            | Self::Delete { .. }
            | Self::Get { .. }
            | Self::PatchStatus { .. } => "kubernetes",
            Self::Kafka { .. } => "kafka",
            Self::Finalizer { source, .. } => match source.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.category(),
                _ => "finalizer",
            },
            Self::MissingField(_) => "invalid-object",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
