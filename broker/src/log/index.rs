//! Sparse offset index (`.index`) and the file plumbing both indexes share.
//!
//! On disk an index is a flat array of fixed-size big-endian entries, appended in order, never
//! preallocated (the file is exactly `entries × size` bytes). `.index` entries are
//! `relative offset u32 | position u32`: the last offset of a batch minus the segment's base
//! offset, and the byte position where that batch starts in the `.log`. One entry is written
//! after every `index.interval.bytes` of appended batches, so both columns strictly increase.
//!
//! Lookups are binary searches that `pread` one entry per probe: nothing of an index is kept in
//! memory beyond its entry count, so memory does not grow with retained data.
//!
//! An index is derived data. A missing one, or one failing [`check`], is rebuilt from the log.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// A fixed-size index entry ordered by `key`.
pub(crate) trait IndexEntry: Copy {
    const SIZE: usize;
    type Key: Ord + Copy;
    fn encode(&self) -> Vec<u8>;
    fn decode(bytes: &[u8]) -> Self;
    fn key(&self) -> Self::Key;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

impl IndexEntry for OffsetEntry {
    const SIZE: usize = 8;
    type Key = u32;

    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(8);
        b.extend_from_slice(&self.relative_offset.to_be_bytes());
        b.extend_from_slice(&self.position.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Self {
        OffsetEntry {
            relative_offset: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            position: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    fn key(&self) -> u32 {
        self.relative_offset
    }
}

/// Index of the last entry whose key is `<= target`, among `len` entries sorted by key, reading
/// entry `i` through `key_at(i)`. The pure core of every index lookup.
pub(crate) fn floor_search<K: Ord>(
    len: u64,
    target: K,
    mut key_at: impl FnMut(u64) -> io::Result<K>,
) -> io::Result<Option<u64>> {
    // Invariant: entries below `lo` have key <= target, entries at or above `hi` have key > target.
    let (mut lo, mut hi) = (0u64, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if key_at(mid)? <= target {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo.checked_sub(1))
}

/// Reads entry `i` of an index file.
pub(crate) fn read_entry<E: IndexEntry>(file: &File, i: u64) -> io::Result<E> {
    let mut buf = [0u8; 16];
    let buf = &mut buf[..E::SIZE];
    file.read_exact_at(buf, i * E::SIZE as u64)?;
    Ok(E::decode(buf))
}

/// The last entry with key `<= target`, if any.
pub(crate) fn lookup<E: IndexEntry>(
    file: &File,
    entries: u64,
    target: E::Key,
) -> io::Result<Option<E>> {
    match floor_search(entries, target, |i| {
        read_entry::<E>(file, i).map(|e| e.key())
    })? {
        Some(i) => read_entry(file, i).map(Some),
        None => Ok(None),
    }
}

/// Appends one entry at slot `entries` (the file's current end).
pub(crate) fn append<E: IndexEntry>(file: &File, entries: u64, entry: E) -> io::Result<()> {
    file.write_all_at(&entry.encode(), entries * E::SIZE as u64)
}

/// Cheap sanity check of an index file of `len` bytes: whole entries, and a last entry that
/// `last_ok` accepts. Returns the entry count and the last entry, or why the index is unusable.
pub(crate) fn check<E: IndexEntry>(
    file: &File,
    len: u64,
    last_ok: impl Fn(&E) -> bool,
) -> Result<(u64, Option<E>), String> {
    if !len.is_multiple_of(E::SIZE as u64) {
        return Err(format!("length {len} is not a multiple of {}", E::SIZE));
    }
    let entries = len / E::SIZE as u64;
    if entries == 0 {
        return Ok((0, None));
    }
    let last =
        read_entry::<E>(file, entries - 1).map_err(|e| format!("reading last entry: {e}"))?;
    if !last_ok(&last) {
        return Err("last entry points outside the segment".to_string());
    }
    Ok((entries, Some(last)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn write_index(entries: &[OffsetEntry]) -> (tempfile::NamedTempFile, File) {
        let tmp = tempfile::NamedTempFile::new().expect("temp file");
        let file = tmp.reopen().expect("reopen");
        for (i, e) in entries.iter().enumerate() {
            append(&file, i as u64, *e).expect("append");
        }
        (tmp, file)
    }

    #[test]
    fn lookup_finds_the_last_entry_at_or_below_the_target() {
        let entries = [(3, 0), (10, 4100), (25, 8300)].map(|(o, p)| OffsetEntry {
            relative_offset: o,
            position: p,
        });
        let (_tmp, file) = write_index(&entries);
        assert_eq!(lookup::<OffsetEntry>(&file, 3, 2).expect("read"), None);
        assert_eq!(
            lookup::<OffsetEntry>(&file, 3, 3).expect("read"),
            Some(entries[0])
        );
        assert_eq!(
            lookup::<OffsetEntry>(&file, 3, 24).expect("read"),
            Some(entries[1])
        );
        assert_eq!(
            lookup::<OffsetEntry>(&file, 3, 1000).expect("read"),
            Some(entries[2])
        );
        assert_eq!(lookup::<OffsetEntry>(&file, 0, 1000).expect("read"), None);
    }

    #[test]
    fn check_rejects_partial_entries_and_bad_last_entries() {
        let entries = [OffsetEntry {
            relative_offset: 5,
            position: 100,
        }];
        let (_tmp, file) = write_index(&entries);
        assert_eq!(
            check::<OffsetEntry>(&file, 8, |_| true),
            Ok((1, Some(entries[0])))
        );
        assert!(check::<OffsetEntry>(&file, 7, |_| true).is_err());
        assert!(check::<OffsetEntry>(&file, 8, |e: &OffsetEntry| e.position < 50).is_err());
        assert_eq!(check::<OffsetEntry>(&file, 0, |_| false), Ok((0, None)));
    }

    proptest! {
        #[test]
        fn floor_search_agrees_with_a_linear_scan(
            mut keys in proptest::collection::vec(0u32..1000, 0..64), target in 0u32..1100
        ) {
            keys.sort_unstable();
            keys.dedup();
            let expected = keys.iter().rposition(|k| *k <= target).map(|i| i as u64);
            let got = floor_search(keys.len() as u64, target, |i| Ok(keys[i as usize])).expect("pure");
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn file_lookup_agrees_with_a_linear_scan(
            mut offsets in proptest::collection::vec(0u32..100_000, 0..40), target in 0u32..110_000
        ) {
            offsets.sort_unstable();
            offsets.dedup();
            let entries: Vec<OffsetEntry> = offsets.iter().enumerate()
                .map(|(i, o)| OffsetEntry { relative_offset: *o, position: i as u32 * 4096 })
                .collect();
            let (_tmp, file) = write_index(&entries);
            let expected = entries.iter().rev().find(|e| e.relative_offset <= target).copied();
            prop_assert_eq!(lookup::<OffsetEntry>(&file, entries.len() as u64, target).expect("read"), expected);
        }
    }
}
