//! Durable storage of the cluster metadata.
//!
//! [`FileStore`] writes the whole state as one versioned JSON document:
//! write `cluster-metadata.json.tmp`, fsync it, rename it over
//! `cluster-metadata.json`, fsync the directory. A crash leaves either the old
//! or the new document, never a mix. A document of an unknown version or that
//! does not parse stops the broker rather than being guessed at.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ClusterState;

/// Where committed metadata lives. Implementations must make `commit` durable
/// before returning.
pub trait MetadataStore: Send + Sync {
    /// The last committed state, `None` on a fresh data directory.
    fn load(&self) -> Result<Option<ClusterState>, StoreError>;
    /// Makes `state` the committed state.
    fn commit(&self, state: &ClusterState) -> Result<(), StoreError>;
}

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

const FILE: &str = "cluster-metadata.json";
const FORMAT_VERSION: u32 = 1;

#[derive(Deserialize)]
struct Header {
    version: u32,
}

#[derive(Serialize, Deserialize)]
struct Document {
    version: u32,
    state: ClusterState,
}

/// Single-node metadata store: one JSON document in the data directory.
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

impl MetadataStore for FileStore {
    fn load(&self) -> Result<Option<ClusterState>, StoreError> {
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

    fn commit(&self, state: &ClusterState) -> Result<(), StoreError> {
        let path = self.dir.join(FILE);
        let tmp = self.dir.join(format!("{FILE}.tmp"));
        let document = Document {
            version: FORMAT_VERSION,
            state: state.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&document).map_err(|error| StoreError::Format {
            path: path.clone(),
            reason: error.to_string(),
        })?;
        let mut file = std::fs::File::create(&tmp).map_err(io("creating", &tmp))?;
        file.write_all(&bytes).map_err(io("writing", &tmp))?;
        file.sync_all().map_err(io("syncing", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("renaming into place", &path))?;
        std::fs::File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io("syncing", &self.dir))?;
        Ok(())
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
