//! Loading a partition's segments at open, with recovery of whatever may be unflushed.
//!
//! Order of work:
//! 0. Finish or undo a compaction swap a crash interrupted (`cleaner/swap.rs`).
//! 1. List `<20 digits>.log` files; delete checkpoint temp files and index files without a
//!    `.log` (leftovers of an interrupted write or deletion).
//! 2. Delete segments wholly below the checkpointed log start offset (a deletion interrupted
//!    after its checkpoint was written).
//! 3. Load each segment. Segments that end at or below the recovery point — or all of them
//!    after a clean shutdown — are trusted: sizes from metadata, indexes sanity-checked and
//!    rebuilt only if missing or implausible. The segment containing the recovery point and all
//!    later ones are recovered: every batch validated, indexes rebuilt, torn tail cut.
//! 4. The first segment that had to be cut ends the log: later segments are deleted, since they
//!    were written after data that is now gone.

use std::fs;
use std::path::Path;

use super::error::LogError;
use super::leader_epoch::LeaderEpochCache;
use super::segment::{INDEX_SUFFIX, LOG_SUFFIX, Segment, TIME_INDEX_SUFFIX};
use super::sync::Syncer;
use super::txn_index::TXN_INDEX_SUFFIX;

/// The partition's segments in offset order (possibly none), and whether any was recovered.
pub(super) fn load_segments(
    dir: &Path,
    log_start_offset: Option<i64>,
    recovery_point: i64,
    clean_shutdown: bool,
    index_interval: u64,
    epochs: &mut LeaderEpochCache,
    syncer: &Syncer,
) -> Result<(Vec<Segment>, bool), LogError> {
    super::cleaner::finish_interrupted_swaps(dir, syncer)?;
    let mut bases = list_segments(dir)?;
    if let Some(start) = log_start_offset {
        while bases.len() > 1 && bases[1] <= start {
            Segment::new(dir, bases.remove(0), syncer).delete_files()?;
        }
    }
    let mut segments: Vec<Segment> = Vec::with_capacity(bases.len().max(1));
    let mut recovered = false;
    for (i, &base) in bases.iter().enumerate() {
        let next_base = bases.get(i + 1).copied();
        let holds_unflushed = next_base.is_none_or(|next| next > recovery_point);
        let truncated = if clean_shutdown || !holds_unflushed {
            let (seg, truncated) =
                Segment::load(dir, base, next_base, index_interval, epochs, syncer)?;
            segments.push(seg);
            truncated
        } else {
            let mut seg = Segment::new(dir, base, syncer);
            let truncated = seg.recover(next_base, index_interval, epochs)?;
            recovered = true;
            segments.push(seg);
            truncated
        };
        if truncated > 0 {
            for &later in &bases[i + 1..] {
                tracing::warn!(
                    base_offset = later,
                    "deleting segment after a truncated one"
                );
                Segment::new(dir, later, syncer).delete_files()?;
            }
            break;
        }
    }
    Ok((segments, recovered))
}

/// Base offsets of the segments in `dir`, ascending. Removes leftovers of interrupted work:
/// checkpoint temp files and index files whose `.log` is gone.
fn list_segments(dir: &Path) -> Result<Vec<i64>, LogError> {
    let mut bases = Vec::new();
    let mut index_files = Vec::new();
    let entries = fs::read_dir(dir).map_err(LogError::io("list partition directory", dir))?;
    for entry in entries {
        let path = entry
            .map_err(LogError::io("list partition directory", dir))?
            .path();
        let (Some(stem), Some(ext)) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        let is_offset = stem.len() == 20 && stem.bytes().all(|c| c.is_ascii_digit());
        let base = is_offset.then(|| stem.parse::<i64>().ok()).flatten();
        match (base, ext) {
            (Some(base), LOG_SUFFIX) => bases.push(base),
            (Some(base), INDEX_SUFFIX | TIME_INDEX_SUFFIX | TXN_INDEX_SUFFIX) => {
                index_files.push((base, path));
            }
            (_, "tmp" | "deleted") => remove(&path)?,
            _ => {}
        }
    }
    bases.sort_unstable();
    for (base, path) in index_files {
        if bases.binary_search(&base).is_err() {
            tracing::info!(path = %path.display(), "removing index without a segment");
            remove(&path)?;
        }
    }
    Ok(bases)
}

fn remove(path: &Path) -> Result<(), LogError> {
    fs::remove_file(path).map_err(LogError::io("remove leftover file", path))
}
