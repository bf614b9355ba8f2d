//! The metadata document of earlier releases, read once to migrate it.
//!
//! Releases before the command log kept the whole state as one versioned JSON
//! document, `cluster-metadata.json` (`{"version": 1, "state": ClusterState}`).
//! [`FileStore`] only reads it now: the first start migrates it into the
//! command log (see `metadata.rs`). A document of an unknown version or that
//! does not parse stops the broker rather than being guessed at.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ClusterState;

/// Why cluster metadata could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a metadata document this broker understands: {reason}", path.display())]
    Format { path: PathBuf, reason: String },
}

/// The document's name in the data directory.
pub(super) const FILE: &str = "cluster-metadata.json";
const FORMAT_VERSION: u32 = 1;

#[derive(Deserialize)]
struct Header {
    version: u32,
}

#[derive(Deserialize)]
struct Document {
    state: ClusterState,
}

/// Reader of the old metadata document in a data directory.
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { op, path, source }
}

impl FileStore {
    /// The document's state, `None` if there is none.
    pub fn load(&self) -> Result<Option<ClusterState>, StoreError> {
        let path = self.dir.join(FILE);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io("reading", &path)(error)),
        };
        let format_error = |error: serde_json::Error| StoreError::Format {
            path: path.clone(),
            reason: error.to_string(),
        };
        // The version first: a newer document may not parse as this one.
        let header: Header = serde_json::from_slice(&text).map_err(format_error)?;
        if header.version != FORMAT_VERSION {
            return Err(StoreError::Format {
                path,
                reason: format!("version {} (expected {FORMAT_VERSION})", header.version),
            });
        }
        let document: Document = serde_json::from_slice(&text).map_err(format_error)?;
        Ok(Some(document.state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_of_another_version_is_refused_not_guessed_at() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), r#"{"version": 9, "state": {}}"#).unwrap();
        let error = FileStore::new(dir.path()).load().unwrap_err();
        assert!(error.to_string().contains("version 9"), "{error}");
        std::fs::write(dir.path().join(FILE), "{not json").unwrap();
        assert!(matches!(
            FileStore::new(dir.path()).load(),
            Err(StoreError::Format { .. })
        ));
    }

    #[test]
    fn a_fresh_directory_has_no_state() {
        let dir = tempfile::tempdir().unwrap();
        assert!(FileStore::new(dir.path()).load().unwrap().is_none());
    }
}
