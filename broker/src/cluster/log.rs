//! The command log: entries, the stored vote and purging, on the local disk.
//!
//! Shaped like openraft's `RaftLogStorage` (`LogId { term, index }`, `Entry { log_id, payload:
//! Blank | Normal | Membership }`, `Vote`, `get_log_state`, `save_vote`/`read_vote`, `append`,
//! `truncate`, `purge`) so that Raft can later drive these files unchanged.
//!
//! Layout of `__cluster_metadata-0/`:
//!
//! ```text
//!  <first index, 20 digits>.log   segment: "FJMLOG" + u16 version, then frames
//!                                 frame: u32 length, u32 CRC-32C of the payload, JSON entry
//!  vote.json                      the stored vote (versioned; temp file, fsync, rename)
//!  purged.json                    the last purged log id (same)
//! ```
//!
//! `append` writes the frames and fsyncs the segment (and the directory when it created the
//! segment) before returning: an entry is durable — on one node, committed — once it returns.
//! Reopening reads every segment: a torn last frame (a crash mid-write: cut short, or ending
//! at the end of the file with a bad CRC, or zeros) is cut off with a warning; a bad frame with
//! more data after it, an undecodable entry, a gap in the indexes or an unknown version stops
//! the broker with the file and the offset, rather than guessing at cluster metadata.
//! `purge` records the purged id first, then deletes the segments it emptied; segments are
//! started afresh after a purge emptied the last one, so purging after a snapshot frees disk.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::command::Command;
use super::store::StoreError;

/// An entry's place in the log: the term of the leader that wrote it and its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LogId {
    pub term: u64,
    pub index: u64,
}

/// A vote for `voted_for` as leader of `term`; `committed` once a quorum granted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub term: u64,
    /// `None` while this node has not voted in `term` (earlier releases wrote `node_id`).
    #[serde(alias = "node_id")]
    pub voted_for: Option<u64>,
    pub committed: bool,
}

/// The members of the metadata quorum: who votes, and every member's RPC address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredMembership")]
pub struct Membership {
    /// The voter sets: one, or the old and the new one while a change is joint.
    pub configs: Vec<BTreeSet<u64>>,
    /// Voters and observers by node id, with their RPC addresses (empty in logs of releases
    /// that had one voter and no RPC).
    pub nodes: BTreeMap<u64, String>,
}

impl Membership {
    /// One set of voters, with no known addresses.
    pub fn voters(voters: impl IntoIterator<Item = u64>) -> Self {
        let voters: BTreeSet<u64> = voters.into_iter().collect();
        Membership {
            nodes: voters.iter().map(|id| (*id, String::new())).collect(),
            configs: vec![voters],
        }
    }

    /// Every voter, of either set while a change is joint.
    pub fn voter_ids(&self) -> BTreeSet<u64> {
        self.configs.iter().flatten().copied().collect()
    }
}

/// A membership as written: earlier releases wrote only `voters`.
#[derive(Deserialize)]
struct StoredMembership {
    #[serde(default)]
    configs: Vec<BTreeSet<u64>>,
    #[serde(default)]
    nodes: BTreeMap<u64, String>,
    #[serde(default)]
    voters: Option<BTreeSet<u64>>,
}

impl From<StoredMembership> for Membership {
    fn from(stored: StoredMembership) -> Self {
        match stored.voters {
            Some(voters) if stored.configs.is_empty() => {
                let mut membership = Membership::voters(voters);
                membership.nodes.extend(stored.nodes);
                membership
            }
            _ => Membership {
                configs: stored.configs,
                nodes: stored.nodes,
            },
        }
    }
}

/// What an entry carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryPayload {
    /// Written by a new leader to commit its term.
    Blank,
    Normal(Command),
    Membership(Membership),
}

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub log_id: LogId,
    pub payload: EntryPayload,
}

/// The log's extent: `last_log_id` is the last entry's id, or the last purged one when the log
/// holds no entries after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogState {
    pub last_purged_log_id: Option<LogId>,
    pub last_log_id: Option<LogId>,
}

/// Durable log storage, as openraft's `RaftLogStorage` (synchronous here: callers run on the
/// blocking pool). Every method that changes the log is durable when it returns.
pub trait LogStorage {
    fn get_log_state(&self) -> LogState;
    fn save_vote(&mut self, vote: &Vote) -> Result<(), StoreError>;
    fn read_vote(&self) -> Option<Vote>;
    /// Appends entries whose indexes follow the last one, then fsyncs.
    fn append(&mut self, entries: &[Entry]) -> Result<(), StoreError>;
    /// The entries with indexes in `from..to` that the log still holds.
    fn entries(&self, from: u64, to: u64) -> Vec<Entry>;
    /// Removes the entries from `since` on (a follower's conflicting tail).
    fn truncate(&mut self, since: LogId) -> Result<(), StoreError>;
    /// Removes the entries up to and including `upto` (covered by a snapshot).
    fn purge(&mut self, upto: LogId) -> Result<(), StoreError>;
    /// Records the last committed log id: a hint that lets a restart apply committed entries
    /// at once. Not fsynced: after a crash an older value (or none) only means less progress.
    fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StoreError>;
    fn read_committed(&self) -> Option<LogId>;
}

const MAGIC: &[u8; 6] = b"FJMLOG";
const FORMAT_VERSION: u16 = 1;
const HEADER_LEN: usize = 8;
const FRAME_HEADER_LEN: usize = 8;
const VOTE_FILE: &str = "vote.json";
const PURGED_FILE: &str = "purged.json";
const COMMITTED_FILE: &str = "committed.json";

struct Stored {
    entry: Entry,
    /// Base index of the segment holding it, and its frame's byte offset there.
    segment: u64,
    offset: u64,
}

/// [`LogStorage`] in segment files of one directory.
pub struct FileLog {
    dir: PathBuf,
    vote: Option<Vote>,
    last_purged: Option<LogId>,
    /// Segment base index → file length.
    segments: BTreeMap<u64, u64>,
    entries: BTreeMap<u64, Stored>,
    /// Append handle of the last segment.
    active: Option<File>,
    committed: Option<LogId>,
}

impl FileLog {
    /// Opens (creating if needed) the log in `dir`, cutting off a torn last entry.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        create_dir_durably(dir)?;
        let mut log = Self {
            dir: dir.to_path_buf(),
            vote: read_versioned(&dir.join(VOTE_FILE))?,
            last_purged: read_versioned(&dir.join(PURGED_FILE))?,
            committed: read_committed_hint(&dir.join(COMMITTED_FILE)),
            segments: BTreeMap::new(),
            entries: BTreeMap::new(),
            active: None,
        };
        let mut bases: Vec<u64> = std::fs::read_dir(dir)
            .map_err(io("listing", dir))?
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".log")?.parse::<u64>().ok()
            })
            .collect();
        bases.sort_unstable();
        let last = bases.last().copied();
        let mut previous: Option<u64> = None;
        for base in bases {
            log.read_segment(base, Some(base) == last, &mut previous)?;
        }
        if let Some((&first, stored)) = log.entries.iter().next() {
            let expected = log.last_purged.map_or(1, |id| id.index + 1);
            if first > expected {
                return Err(StoreError::Format {
                    path: log.segment_path(stored.segment),
                    reason: format!(
                        "the log starts at index {first} but entries from {expected} are missing"
                    ),
                });
            }
        }
        if let Some(&base) = log.segments.keys().next_back() {
            log.active = Some(open_append(&log.segment_path(base))?);
        }
        Ok(log)
    }

    fn segment_path(&self, base: u64) -> PathBuf {
        self.dir.join(format!("{base:020}.log"))
    }

    fn read_segment(
        &mut self,
        base: u64,
        last: bool,
        previous: &mut Option<u64>,
    ) -> Result<(), StoreError> {
        let path = self.segment_path(base);
        let bytes = std::fs::read(&path).map_err(io("reading", &path))?;
        let corrupt = |reason: String| StoreError::Format {
            path: path.clone(),
            reason,
        };
        if bytes.len() < HEADER_LEN {
            if last {
                // Created but its header never reached the disk.
                tracing::warn!(file = %path.display(), "removing a metadata log segment cut short at creation");
                std::fs::remove_file(&path).map_err(io("removing", &path))?;
                return sync_dir(&self.dir);
            }
            return Err(corrupt("the segment header is cut short".into()));
        }
        if &bytes[..MAGIC.len()] != MAGIC {
            return Err(corrupt("not a metadata log segment".into()));
        }
        let version = u16::from_be_bytes([bytes[6], bytes[7]]);
        if version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "version {version} (expected {FORMAT_VERSION})"
            )));
        }
        let mut position = HEADER_LEN;
        while position < bytes.len() {
            match frame_at(&bytes, position) {
                Frame::Valid { payload, next } => {
                    let entry: Entry = serde_json::from_slice(payload).map_err(|error| {
                        corrupt(format!("undecodable entry at byte {position}: {error}"))
                    })?;
                    let index = entry.log_id.index;
                    if let Some(previous) = *previous
                        && index != previous + 1
                    {
                        return Err(corrupt(format!(
                            "entry {index} at byte {position} follows entry {previous}"
                        )));
                    }
                    *previous = Some(index);
                    if self.last_purged.is_none_or(|purged| index > purged.index) {
                        self.entries.insert(
                            index,
                            Stored {
                                entry,
                                segment: base,
                                offset: position as u64,
                            },
                        );
                    }
                    position = next;
                }
                Frame::Torn if last => {
                    tracing::warn!(file = %path.display(), offset = position, "cutting off a torn metadata log entry");
                    let file = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(io("opening", &path))?;
                    file.set_len(position as u64)
                        .and_then(|()| file.sync_all())
                        .map_err(io("truncating", &path))?;
                    break;
                }
                Frame::Torn | Frame::Corrupt => {
                    return Err(corrupt(format!(
                        "a damaged entry at byte {position} is followed by more data; \
                         the metadata log cannot be read safely"
                    )));
                }
            }
        }
        self.segments.insert(base, position.min(bytes.len()) as u64);
        Ok(())
    }

    /// Starts a segment whose first entry is `base`.
    fn start_segment(&mut self, base: u64) -> Result<(), StoreError> {
        let path = self.segment_path(base);
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io("creating", &path))?;
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        file.write_all(&header)
            .and_then(|()| file.sync_all())
            .map_err(io("writing", &path))?;
        sync_dir(&self.dir)?;
        self.segments.insert(base, HEADER_LEN as u64);
        self.active = Some(file);
        Ok(())
    }
}

enum Frame<'a> {
    Valid {
        payload: &'a [u8],
        next: usize,
    },
    /// Cut short or damaged at the very end: what a crash mid-append leaves.
    Torn,
    Corrupt,
}

fn frame_at(bytes: &[u8], position: usize) -> Frame<'_> {
    let rest = &bytes[position..];
    let zeros = || rest.iter().all(|byte| *byte == 0);
    if rest.len() < FRAME_HEADER_LEN {
        return Frame::Torn;
    }
    let length = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let crc = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
    let end = FRAME_HEADER_LEN.saturating_add(length);
    if length == 0 {
        return if zeros() { Frame::Torn } else { Frame::Corrupt };
    }
    if end > rest.len() {
        return Frame::Torn;
    }
    let payload = &rest[FRAME_HEADER_LEN..end];
    if crc32c::crc32c(payload) != crc {
        return if end == rest.len() || zeros() {
            Frame::Torn
        } else {
            Frame::Corrupt
        };
    }
    Frame::Valid {
        payload,
        next: position + end,
    }
}

fn encode_frame(entry: &Entry, out: &mut Vec<u8>) {
    let payload = serde_json::to_vec(entry).expect("log entries always serialise");
    let length = u32::try_from(payload.len()).expect("a metadata entry is far below 4 GiB");
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
    out.extend_from_slice(&payload);
}

impl LogStorage for FileLog {
    fn get_log_state(&self) -> LogState {
        let last_entry = self.entries.values().next_back().map(|s| s.entry.log_id);
        LogState {
            last_purged_log_id: self.last_purged,
            last_log_id: last_entry.or(self.last_purged),
        }
    }

    fn save_vote(&mut self, vote: &Vote) -> Result<(), StoreError> {
        write_versioned(&self.dir, VOTE_FILE, vote)?;
        self.vote = Some(*vote);
        Ok(())
    }

    fn read_vote(&self) -> Option<Vote> {
        self.vote
    }

    fn append(&mut self, entries: &[Entry]) -> Result<(), StoreError> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        // An empty log starts at 0 (Raft's first membership entry) or 1 (a one-voter log of
        // earlier releases).
        let next = self
            .get_log_state()
            .last_log_id
            .map_or(first.log_id.index.min(1), |id| id.index + 1);
        for (expected, entry) in (next..).zip(entries) {
            if entry.log_id.index != expected {
                return Err(StoreError::Format {
                    path: self.dir.clone(),
                    reason: format!(
                        "appending entry {} where entry {expected} is next",
                        entry.log_id.index
                    ),
                });
            }
        }
        if self.active.is_none() {
            self.start_segment(first.log_id.index)?;
        }
        let (&base, &length) = self
            .segments
            .iter()
            .next_back()
            .expect("an active segment is a known segment");
        let mut bytes = Vec::new();
        let mut placed = Vec::with_capacity(entries.len());
        for entry in entries {
            placed.push(length + bytes.len() as u64);
            encode_frame(entry, &mut bytes);
        }
        let path = self.segment_path(base);
        let file = self.active.as_mut().expect("started above");
        file.write_all(&bytes)
            .and_then(|()| file.sync_data())
            .map_err(io("appending to", &path))?;
        self.segments.insert(base, length + bytes.len() as u64);
        for (entry, offset) in entries.iter().zip(placed) {
            self.entries.insert(
                entry.log_id.index,
                Stored {
                    entry: entry.clone(),
                    segment: base,
                    offset,
                },
            );
        }
        Ok(())
    }

    fn entries(&self, from: u64, to: u64) -> Vec<Entry> {
        if from >= to {
            return Vec::new();
        }
        self.entries
            .range(from..to)
            .map(|(_, stored)| stored.entry.clone())
            .collect()
    }

    fn truncate(&mut self, since: LogId) -> Result<(), StoreError> {
        let Some(stored) = self.entries.get(&since.index) else {
            return Ok(());
        };
        let (segment, offset) = (stored.segment, stored.offset);
        let path = self.segment_path(segment);
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io("opening", &path))?;
        file.set_len(offset)
            .and_then(|()| file.sync_all())
            .map_err(io("truncating", &path))?;
        let later: Vec<u64> = self
            .segments
            .range(segment + 1..)
            .map(|(b, _)| *b)
            .collect();
        for base in later {
            let path = self.segment_path(base);
            std::fs::remove_file(&path).map_err(io("removing", &path))?;
            self.segments.remove(&base);
        }
        sync_dir(&self.dir)?;
        self.segments.insert(segment, offset);
        self.entries.split_off(&since.index);
        self.active = Some(open_append(&path)?);
        Ok(())
    }

    fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StoreError> {
        if committed == self.committed {
            return Ok(());
        }
        let path = self.dir.join(COMMITTED_FILE);
        let tmp = self.dir.join(format!("{COMMITTED_FILE}.tmp"));
        let bytes = serde_json::to_vec(&Versioned {
            version: 1,
            value: committed,
        })
        .expect("log ids always serialise");
        std::fs::write(&tmp, bytes).map_err(io("writing", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("renaming into place", &path))?;
        self.committed = committed;
        Ok(())
    }

    fn read_committed(&self) -> Option<LogId> {
        self.committed
    }

    fn purge(&mut self, upto: LogId) -> Result<(), StoreError> {
        if self
            .last_purged
            .is_some_and(|purged| purged.index >= upto.index)
        {
            return Ok(());
        }
        // The id first: a crash before the files are gone leaves entries that are skipped.
        write_versioned(&self.dir, PURGED_FILE, &upto)?;
        self.last_purged = Some(upto);
        self.entries = self.entries.split_off(&(upto.index + 1));
        let used: BTreeSet<u64> = self.entries.values().map(|s| s.segment).collect();
        let emptied: Vec<u64> = self
            .segments
            .keys()
            .filter(|base| !used.contains(base))
            .copied()
            .collect();
        let last = self.segments.keys().next_back().copied();
        for base in emptied {
            let path = self.segment_path(base);
            std::fs::remove_file(&path).map_err(io("removing", &path))?;
            self.segments.remove(&base);
            if Some(base) == last {
                self.active = None;
            }
        }
        sync_dir(&self.dir)
    }
}

/// A file of one versioned JSON value, written atomically.
#[derive(Serialize, Deserialize)]
struct Versioned<T> {
    version: u32,
    value: T,
}

#[derive(Deserialize)]
struct Header {
    version: u32,
}

/// Reads a file written by [`write_versioned`]; `None` if it does not exist.
pub(super) fn read_versioned<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, StoreError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io("reading", path)(error)),
    };
    let format = |reason: String| StoreError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let header: Header = serde_json::from_slice(&bytes).map_err(|e| format(e.to_string()))?;
    if header.version != 1 {
        return Err(format(format!("version {} (expected 1)", header.version)));
    }
    let document: Versioned<T> =
        serde_json::from_slice(&bytes).map_err(|e| format(e.to_string()))?;
    Ok(Some(document.value))
}

/// The committed hint in `path`; one that does not read (a crash left it empty) is no hint.
fn read_committed_hint(path: &Path) -> Option<LogId> {
    match read_versioned::<Option<LogId>>(path) {
        Ok(hint) => hint.flatten(),
        Err(error) => {
            tracing::warn!(%error, "ignoring the metadata log's committed hint");
            None
        }
    }
}

/// Writes `value` to `dir/name`: temp file, fsync, rename, directory fsync.
pub(super) fn write_versioned<T: Serialize>(
    dir: &Path,
    name: &str,
    value: &T,
) -> Result<(), StoreError> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let bytes = serde_json::to_vec(&Versioned { version: 1, value })
        .expect("metadata files always serialise");
    let mut file = File::create(&tmp).map_err(io("creating", &tmp))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(io("writing", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(io("renaming into place", &path))?;
    sync_dir(dir)
}

pub(super) fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { op, path, source }
}

pub(super) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io("syncing", dir))
}

/// Creates `dir` if missing and makes its entry in the parent durable.
pub(super) fn create_dir_durably(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    match dir.parent() {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

fn open_append(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io("opening", path))
}

#[cfg(test)]
#[path = "log_tests.rs"]
mod tests;
