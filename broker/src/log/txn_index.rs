//! The aborted-transaction index (`<base-offset>.txnindex`), in Kafka's on-disk format: one
//! entry per aborted transaction whose ABORT marker is in the segment, in marker order. A
//! segment written by the cleaner lists only the transactions it kept data of (see
//! `cleaner/txn.rs`).
//!
//! ```text
//! version:i16 (0) producer_id:i64 first_offset:i64 last_offset:i64 last_stable_offset:i64
//! ```
//! (34 bytes, big-endian; `last_offset` is the marker's offset, `last_stable_offset` the last
//! stable offset right after the marker.)
//!
//! A read_committed read lists the aborted transactions overlapping what it read from these
//! files, as Kafka's `collectAbortedTxns`: from the segment read onwards, every entry whose
//! range meets the read, until an entry whose last stable offset reaches the read's end (every
//! transaction that could overlap it ended before that one's marker).
//!
//! Files are created at the first entry and read with `pread`; a segment keeps only its entry
//! count in memory. Whatever follows the producer snapshot a partition opens from is cut from
//! these files and written again by the replay of the log after it, so an index never holds an
//! entry for a marker the log lost.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

pub(crate) const TXN_INDEX_SUFFIX: &str = "txnindex";
/// Bytes of one entry.
pub(crate) const ENTRY_SIZE: u64 = 34;
const VERSION: i16 = 0;

/// One aborted transaction in a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The ABORT marker's offset.
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn encode(&self) -> [u8; ENTRY_SIZE as usize] {
        let mut out = [0u8; ENTRY_SIZE as usize];
        out[..2].copy_from_slice(&VERSION.to_be_bytes());
        for (i, field) in [
            self.producer_id,
            self.first_offset,
            self.last_offset,
            self.last_stable_offset,
        ]
        .into_iter()
        .enumerate()
        {
            out[2 + i * 8..10 + i * 8].copy_from_slice(&field.to_be_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<AbortedTxn> {
        let version = i16::from_be_bytes(bytes.get(..2)?.try_into().ok()?);
        let field = |i: usize| -> Option<i64> {
            Some(i64::from_be_bytes(
                bytes.get(2 + i * 8..10 + i * 8)?.try_into().ok()?,
            ))
        };
        (version == VERSION).then_some(())?;
        Some(AbortedTxn {
            producer_id: field(0)?,
            first_offset: field(1)?,
            last_offset: field(2)?,
            last_stable_offset: field(3)?,
        })
    }
}

/// Entries of a file holding `len` bytes: a torn last entry does not count.
pub(crate) fn entries_in(len: u64) -> u64 {
    len / ENTRY_SIZE
}

/// Writes `entry` as entry number `slot` of `file`.
pub(crate) fn append(file: &File, slot: u64, entry: &AbortedTxn) -> io::Result<()> {
    file.write_all_at(&entry.encode(), slot * ENTRY_SIZE)
}

/// Opens (creating if needed) the index at `path` for appending.
pub(crate) fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// The first `count` entries of the index at `path`; an entry that does not decode is
/// `InvalidData`.
pub(crate) fn read(path: &Path, count: u64) -> io::Result<Vec<AbortedTxn>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let file = File::open(path)?;
    read_from(&file, count)
}

pub(crate) fn read_from(file: &File, count: u64) -> io::Result<Vec<AbortedTxn>> {
    let mut bytes = vec![0u8; usize::try_from(count * ENTRY_SIZE).unwrap_or(usize::MAX)];
    file.read_exact_at(&mut bytes, 0)?;
    bytes
        .chunks_exact(ENTRY_SIZE as usize)
        .map(|chunk| {
            AbortedTxn::decode(chunk).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "transaction index entry of an unknown version",
                )
            })
        })
        .collect()
}

/// What a search of one segment's entries found (Kafka's `TxnIndexSearchResult`).
pub(crate) struct Search {
    pub(crate) aborted: Vec<AbortedTxn>,
    /// No later segment can hold a transaction overlapping the range.
    pub(crate) complete: bool,
}

/// The entries overlapping `[from, upper)`; complete once an entry's last stable offset
/// reaches `upper`.
pub(crate) fn search(entries: &[AbortedTxn], from: i64, upper: i64) -> Search {
    let mut aborted = Vec::new();
    for entry in entries {
        if entry.last_offset >= from && entry.first_offset < upper {
            aborted.push(*entry);
        }
        if entry.last_stable_offset >= upper {
            return Search {
                aborted,
                complete: true,
            };
        }
    }
    Search {
        aborted,
        complete: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(producer_id: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id,
            first_offset: first,
            last_offset: last,
            last_stable_offset: lso,
        }
    }

    #[test]
    fn an_entry_is_kafkas_34_bytes_and_decodes_back() {
        let e = entry(0x0102_0304_0506_0708, 10, 20, 21);
        let bytes = e.encode();
        assert_eq!(&bytes[..2], &[0, 0], "version 0");
        assert_eq!(&bytes[2..10], &0x0102_0304_0506_0708i64.to_be_bytes());
        assert_eq!(&bytes[26..34], &21i64.to_be_bytes());
        assert_eq!(AbortedTxn::decode(&bytes), Some(e));
        let mut other = bytes;
        other[1] = 1;
        assert_eq!(AbortedTxn::decode(&other), None, "unknown version");
    }

    #[test]
    fn a_search_keeps_overlapping_entries_and_stops_at_one_whose_lso_reaches_the_end() {
        let entries = [
            entry(1, 0, 5, 6),
            entry(2, 8, 30, 31),
            entry(3, 40, 45, 46),
            entry(4, 50, 60, 61),
        ];
        let found = search(&entries, 10, 42);
        let ids: Vec<i64> = found.aborted.iter().map(|e| e.producer_id).collect();
        assert_eq!(ids, vec![2, 3]);
        assert!(found.complete, "entry 3's last stable offset is past 42");
        let found = search(&entries, 100, 200);
        assert!(found.aborted.is_empty() && !found.complete);
    }

    #[test]
    fn entries_are_written_at_their_slot_and_a_torn_one_does_not_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("0.txnindex");
        let file = open(&path).expect("open");
        let written = [entry(1, 0, 5, 6), entry(2, 7, 9, 10)];
        for (slot, e) in written.iter().enumerate() {
            append(&file, slot as u64, e).expect("append");
        }
        file.set_len(2 * ENTRY_SIZE + 5).expect("torn tail");
        let len = file.metadata().expect("stat").len();
        assert_eq!(entries_in(len), 2);
        assert_eq!(read(&path, 2).expect("read"), written.to_vec());
    }
}
