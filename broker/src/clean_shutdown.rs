//! The clean-shutdown marker: a file written after every log was flushed at a
//! graceful stop, and removed (durably) at start-up before anything is
//! written. Present at start-up means the logs need no recovery scan.

use std::path::Path;

const MARKER: &str = ".clean-shutdown";

/// How the data directory was left, as start-up finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastStop {
    /// First start on this directory: nothing to recover.
    NewDataDir,
    /// Stopped cleanly: logs are loaded without recovery scans.
    Clean,
    /// Crashed or killed: logs are recovered from their checkpoints.
    Unclean,
}

impl LastStop {
    /// `identity_existed`: the directory held `meta.properties` before this
    /// start. Takes the marker (see [`take`]).
    pub fn find(data_dir: &Path, identity_existed: bool) -> std::io::Result<LastStop> {
        Ok(match (take(data_dir)?, identity_existed) {
            (true, _) => LastStop::Clean,
            (false, false) => LastStop::NewDataDir,
            (false, true) => LastStop::Unclean,
        })
    }

    /// Whether the logs may skip their recovery scans.
    pub fn clean(self) -> bool {
        self == LastStop::Clean
    }
}

/// Whether the last stop was clean; removes the marker so a crash from now on
/// is detected.
pub fn take(data_dir: &Path) -> std::io::Result<bool> {
    match std::fs::remove_file(data_dir.join(MARKER)) {
        Ok(()) => {
            std::fs::File::open(data_dir)?.sync_all()?;
            Ok(true)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error),
    }
}

/// Records a clean stop.
pub fn mark(data_dir: &Path) -> std::io::Result<()> {
    std::fs::File::create(data_dir.join(MARKER))?.sync_all()?;
    std::fs::File::open(data_dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_directory_an_unclean_stop_and_a_clean_stop_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            LastStop::find(dir.path(), false).unwrap(),
            LastStop::NewDataDir
        );
        assert_eq!(LastStop::find(dir.path(), true).unwrap(), LastStop::Unclean);
        mark(dir.path()).unwrap();
        assert_eq!(LastStop::find(dir.path(), true).unwrap(), LastStop::Clean);
        assert_eq!(
            LastStop::find(dir.path(), true).unwrap(),
            LastStop::Unclean,
            "the marker is taken: a crash from now on is detected"
        );
        assert!(!LastStop::NewDataDir.clean() && !LastStop::Unclean.clean());
    }
}
