//! The clean-shutdown marker: a file written after every log was flushed at a
//! graceful stop, and removed (durably) at start-up before anything is
//! written. Present at start-up means the logs need no recovery scan.

use std::path::Path;

const MARKER: &str = ".clean-shutdown";

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
