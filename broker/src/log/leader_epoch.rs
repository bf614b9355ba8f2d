//! Leader epoch cache: which leader epoch began at which offset, kept in `leader-epoch-checkpoint`.
//!
//! Invariant: epochs and start offsets both strictly increase. A new epoch is checkpointed
//! (fsynced) before the first batch of that epoch is written, so after a crash the file may name
//! an epoch whose batch was lost; recovery then drops entries at or past the log end offset.
//! OffsetForLeaderEpoch answers follow Kafka's `LeaderEpochFileCache.endOffsetFor`.

use std::path::{Path, PathBuf};

use super::checkpoint;
use super::error::LogError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

#[derive(Debug)]
pub(crate) struct LeaderEpochCache {
    dir: PathBuf,
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    pub(crate) fn load(dir: &Path) -> Result<LeaderEpochCache, LogError> {
        let rows = checkpoint::read(dir, checkpoint::LEADER_EPOCH, 2)?.unwrap_or_default();
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            let entry = EpochEntry {
                epoch: i32::try_from(row[0]).map_err(|_| LogError::Corrupt {
                    path: dir.join(checkpoint::LEADER_EPOCH),
                    reason: format!("epoch {} out of range", row[0]),
                })?,
                start_offset: row[1],
            };
            if entries.last().is_some_and(|l: &EpochEntry| {
                l.epoch >= entry.epoch || l.start_offset >= entry.start_offset
            }) {
                return Err(LogError::Corrupt {
                    path: dir.join(checkpoint::LEADER_EPOCH),
                    reason: "epochs or start offsets do not increase".to_string(),
                });
            }
            entries.push(entry);
        }
        Ok(LeaderEpochCache {
            dir: dir.to_path_buf(),
            entries,
        })
    }

    pub(crate) fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    pub(crate) fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Records that `epoch` starts at `start_offset` if it is newer than the latest epoch.
    /// Returns whether the cache changed (and so needs [`Self::persist`]).
    pub(crate) fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || self.latest_epoch().is_some_and(|latest| epoch <= latest) {
            return false;
        }
        // A newer epoch starting at or before older entries supersedes them.
        self.entries.retain(|e| e.start_offset < start_offset);
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        true
    }

    pub(crate) fn persist(&self) -> Result<(), LogError> {
        let rows: Vec<Vec<i64>> = self
            .entries
            .iter()
            .map(|e| vec![i64::from(e.epoch), e.start_offset])
            .collect();
        checkpoint::write(&self.dir, checkpoint::LEADER_EPOCH, &rows)
    }

    /// Forgets every epoch (the log was emptied).
    pub(crate) fn clear(&mut self) -> bool {
        let changed = !self.entries.is_empty();
        self.entries.clear();
        changed
    }

    /// Drops epochs that start at or after `end_offset` (the log was truncated there).
    pub(crate) fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        before != self.entries.len()
    }

    /// Drops epochs wholly below `start_offset`; the epoch covering it now starts there.
    pub(crate) fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let covering = self
            .entries
            .iter()
            .rposition(|e| e.start_offset <= start_offset);
        match covering {
            Some(i) if i > 0 || self.entries[i].start_offset < start_offset => {
                self.entries.drain(..i);
                self.entries[0].start_offset = start_offset;
                true
            }
            _ => false,
        }
    }

    /// `(epoch, end offset)` for OffsetForLeaderEpoch: the start offset of the first epoch after
    /// `epoch`, or the log end offset if `epoch` is the latest. `None` means UNDEFINED
    /// (epoch -1, offset -1): unknown epoch newer than all, or an empty cache.
    pub(crate) fn end_offset_for(&self, epoch: i32, log_end_offset: i64) -> Option<(i32, i64)> {
        end_offset_for(&self.entries, epoch, log_end_offset)
    }
}

/// Kafka's `LeaderEpochFileCache.endOffsetFor` over `entries` (epochs and start offsets
/// increasing): the start offset of the first epoch after `epoch` with the largest epoch not
/// above it, or the log end offset if `epoch` is the latest. `None` means UNDEFINED (epoch -1,
/// offset -1): a negative epoch, one newer than all, or no entries.
pub fn end_offset_for(
    entries: &[EpochEntry],
    epoch: i32,
    log_end_offset: i64,
) -> Option<(i32, i64)> {
    if epoch < 0 {
        return None;
    }
    if entries.last().map(|e| e.epoch) == Some(epoch) {
        return Some((epoch, log_end_offset));
    }
    let higher = entries.iter().find(|e| e.epoch > epoch)?;
    match entries.iter().rev().find(|e| e.epoch <= epoch) {
        Some(floor) => Some((floor.epoch, higher.start_offset)),
        None => Some((epoch, higher.start_offset)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> (tempfile::TempDir, LeaderEpochCache) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = LeaderEpochCache::load(dir.path()).expect("empty");
        for (e, o) in entries {
            assert!(c.assign(*e, *o));
        }
        (dir, c)
    }

    #[test]
    fn end_offset_follows_kafka_semantics() {
        let (_d, c) = cache(&[(1, 0), (3, 100), (5, 250)]);
        assert_eq!(
            c.end_offset_for(5, 300),
            Some((5, 300)),
            "latest epoch ends at the LEO"
        );
        assert_eq!(c.end_offset_for(3, 300), Some((3, 250)));
        assert_eq!(
            c.end_offset_for(4, 300),
            Some((3, 250)),
            "unknown epoch in a gap → floor"
        );
        assert_eq!(
            c.end_offset_for(0, 300),
            Some((0, 0)),
            "older than all → its own epoch"
        );
        assert_eq!(
            c.end_offset_for(6, 300),
            None,
            "newer than all is undefined"
        );
        assert_eq!(c.end_offset_for(-1, 300), None);
        let (_d, empty) = cache(&[]);
        assert_eq!(empty.end_offset_for(0, 10), None);
    }

    #[test]
    fn older_epochs_are_not_assigned() {
        let (_d, mut c) = cache(&[(2, 10)]);
        assert!(!c.assign(2, 20));
        assert!(!c.assign(1, 30));
        assert_eq!(c.latest_epoch(), Some(2));
    }

    #[test]
    fn truncation_from_either_end_keeps_the_covering_epoch() {
        let (_d, mut c) = cache(&[(1, 0), (3, 100), (5, 250)]);
        assert!(c.truncate_from_end(250));
        assert_eq!(c.latest_epoch(), Some(3));
        assert!(c.truncate_from_start(150));
        assert_eq!(
            c.entries,
            vec![EpochEntry {
                epoch: 3,
                start_offset: 150
            }]
        );
        assert!(!c.truncate_from_start(150));
    }

    #[test]
    fn the_cache_survives_a_reload() {
        let (dir, c) = cache(&[(1, 0), (3, 100)]);
        c.persist().expect("persist");
        let again = LeaderEpochCache::load(dir.path()).expect("load");
        assert_eq!(again.entries, c.entries);
    }
}
