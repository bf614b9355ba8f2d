//! Checkpoint files: small text files in Kafka's checkpoint format.
//!
//! ```text
//! 0            <- format version, must be 0
//! 2            <- number of entry lines
//! 0 0          <- entries: space-separated integers
//! 3 1200
//! ```
//!
//! A partition directory holds these:
//! - `recovery-point-offset-checkpoint`: one entry, the offset below which everything is fsynced
//!   together with its indexes; unclean recovery scans only from the segment containing it.
//! - `log-start-offset-checkpoint`: one entry, the log start offset (DeleteRecords, retention).
//! - `leader-epoch-checkpoint`: `epoch start_offset` per leader epoch, oldest first.
//! - `cleaner-offset-checkpoint` (compacted topics): one entry, the first dirty offset.
//!
//! Writes are atomic: write `<name>.tmp`, fsync it, rename over `<name>`, fsync the directory.
//! A crash leaves either the old or the new file, never a mix; a stray `.tmp` is ignored.
//! Reading is strict: a file that does not parse is reported, never half-used.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use super::error::LogError;

pub(crate) const RECOVERY_POINT: &str = "recovery-point-offset-checkpoint";
pub(crate) const LOG_START_OFFSET: &str = "log-start-offset-checkpoint";
pub(crate) const LEADER_EPOCH: &str = "leader-epoch-checkpoint";
/// The cleaner's first dirty offset: everything below it has been compacted.
pub(crate) const CLEANER_OFFSET: &str = "cleaner-offset-checkpoint";

const VERSION: i64 = 0;

/// Atomically replaces `dir/name` with the given entries.
pub(crate) fn write(dir: &Path, name: &str, entries: &[Vec<i64>]) -> Result<(), LogError> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut text = format!("{VERSION}\n{}\n", entries.len());
    for entry in entries {
        let fields: Vec<String> = entry.iter().map(i64::to_string).collect();
        text.push_str(&fields.join(" "));
        text.push('\n');
    }
    let mut file = File::create(&tmp).map_err(LogError::io("create checkpoint", &tmp))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(LogError::io("write checkpoint", &tmp))?;
    fs::rename(&tmp, &path).map_err(LogError::io("rename checkpoint", &path))?;
    sync_dir(dir)
}

/// Reads `dir/name`; `Ok(None)` if it does not exist. Every entry must have `width` fields.
pub(crate) fn read(
    dir: &Path,
    name: &str,
    width: usize,
) -> Result<Option<Vec<Vec<i64>>>, LogError> {
    let path = dir.join(name);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io("read checkpoint", &path)(e)),
    };
    parse(&text, width)
        .map(Some)
        .map_err(|reason| LogError::Corrupt { path, reason })
}

fn parse(text: &str, width: usize) -> Result<Vec<Vec<i64>>, String> {
    let mut lines = text.lines();
    let mut number = |what: &str| -> Result<i64, String> {
        let line = lines.next().ok_or_else(|| format!("missing {what} line"))?;
        line.trim()
            .parse()
            .map_err(|_| format!("bad {what} line {line:?}"))
    };
    let version = number("version")?;
    if version != VERSION {
        return Err(format!("unknown checkpoint version {version}"));
    }
    let count = number("count")?;
    let entries = lines
        .map(|line| {
            let fields: Result<Vec<i64>, _> = line.split_whitespace().map(str::parse).collect();
            match fields {
                Ok(f) if f.len() == width => Ok(f),
                _ => Err(format!("bad entry line {line:?}")),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    if entries.len() as i64 != count {
        return Err(format!(
            "header says {count} entries, found {}",
            entries.len()
        ));
    }
    Ok(entries)
}

/// Reads a one-entry, one-field checkpoint.
pub(crate) fn read_offset(dir: &Path, name: &str) -> Result<Option<i64>, LogError> {
    match read(dir, name, 1)? {
        None => Ok(None),
        Some(entries) => match entries.as_slice() {
            [entry] => Ok(Some(entry[0])),
            _ => Err(LogError::Corrupt {
                path: dir.join(name),
                reason: format!("expected one entry, found {}", entries.len()),
            }),
        },
    }
}

pub(crate) fn write_offset(dir: &Path, name: &str, offset: i64) -> Result<(), LogError> {
    write(dir, name, &[vec![offset]])
}

/// Makes directory entries (created, renamed, removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(LogError::io("fsync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), LEADER_EPOCH, &[vec![0, 0], vec![3, 1200]]).expect("write");
        assert_eq!(
            read(dir.path(), LEADER_EPOCH, 2).expect("read"),
            Some(vec![vec![0, 0], vec![3, 1200]])
        );
        write_offset(dir.path(), RECOVERY_POINT, 42).expect("write");
        assert_eq!(
            read_offset(dir.path(), RECOVERY_POINT).expect("read"),
            Some(42)
        );
        assert!(!dir.path().join(format!("{RECOVERY_POINT}.tmp")).exists());
    }

    #[test]
    fn a_missing_checkpoint_reads_as_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            read_offset(dir.path(), LOG_START_OFFSET).expect("read"),
            None
        );
    }

    #[test]
    fn a_malformed_checkpoint_is_reported_as_corrupt() {
        let dir = tempfile::tempdir().expect("tempdir");
        for text in ["", "1\n1\n5\n", "0\n2\n5\n", "0\n1\nfive\n", "0\n1\n5 6\n"] {
            fs::write(dir.path().join(LOG_START_OFFSET), text).expect("write");
            let err = read_offset(dir.path(), LOG_START_OFFSET).expect_err(text);
            assert!(matches!(err, LogError::Corrupt { .. }), "{text:?}: {err}");
        }
    }
}
