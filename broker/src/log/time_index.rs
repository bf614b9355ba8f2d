//! Sparse time index (`.timeindex`).
//!
//! Entries are `timestamp i64 | relative offset u32` (12 bytes, big-endian): "up to this point
//! of the segment the largest batch maxTimestamp is `timestamp`, first reached by the batch
//! starting at `relative offset`". An entry is written next to each `.index` entry, but only
//! when the timestamp grew, so both columns are non-decreasing and timestamps strictly increase.
//! When a segment stops being active (roll, flush, recovery) a final entry records the
//! segment's largest timestamp, so a closed segment's last entry is its max timestamp: that is
//! what retention and ListOffsets(MAX_TIMESTAMP) read after a restart.
//!
//! To find the first batch with maxTimestamp >= T, take the last entry with timestamp < T: every
//! batch before its offset (and up to the next entry) has maxTimestamp < T, so a forward scan of
//! batch headers can start at that offset's position.

use super::index::IndexEntry;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

impl IndexEntry for TimeEntry {
    const SIZE: usize = 12;
    type Key = i64;

    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(12);
        b.extend_from_slice(&self.timestamp.to_be_bytes());
        b.extend_from_slice(&self.relative_offset.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Self {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[..8]);
        TimeEntry {
            timestamp: i64::from_be_bytes(ts),
            relative_offset: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        }
    }

    fn key(&self) -> i64 {
        self.timestamp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::index::{append, lookup};
    use proptest::prelude::*;

    #[test]
    fn entries_round_trip_through_their_encoding() {
        let e = TimeEntry {
            timestamp: -5_000_000_000,
            relative_offset: 77,
        };
        assert_eq!(TimeEntry::decode(&e.encode()), e);
    }

    proptest! {
        #[test]
        fn lookup_below_a_timestamp_agrees_with_a_linear_scan(
            mut stamps in proptest::collection::vec(-1000i64..1_000_000, 0..40), target in -2000i64..1_100_000
        ) {
            stamps.sort_unstable();
            stamps.dedup();
            let tmp = tempfile::NamedTempFile::new().expect("temp file");
            let file = tmp.reopen().expect("reopen");
            let entries: Vec<TimeEntry> = stamps.iter().enumerate()
                .map(|(i, t)| TimeEntry { timestamp: *t, relative_offset: i as u32 * 3 })
                .collect();
            for (i, e) in entries.iter().enumerate() {
                append(&file, i as u64, *e).expect("append");
            }
            let expected = entries.iter().rev().find(|e| e.timestamp < target).copied();
            let got = lookup::<TimeEntry>(&file, entries.len() as u64, target - 1).expect("read");
            prop_assert_eq!(got, expected);
        }
    }
}
