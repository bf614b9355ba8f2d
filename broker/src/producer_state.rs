//! Idempotent-producer state of one partition: for each producer id, its
//! epoch and the last five batches' sequence ranges and offsets (as Kafka
//! keeps them), so a retried batch is answered with its original offsets
//! instead of being written twice.
//!
//! Rules (Kafka's `ProducerAppendInfo`):
//! - an epoch below the known one is fenced: INVALID_PRODUCER_EPOCH;
//! - a new epoch must start at sequence 0;
//! - within an epoch, a batch that repeats one of the last five is a
//!   duplicate; otherwise it must start right after the last sequence
//!   (wrapping at `i32::MAX`): OUT_OF_ORDER_SEQUENCE_NUMBER;
//! - a producer with no state here (new, or its batches were deleted) may
//!   start at any sequence.
//!
//! The state survives restarts through snapshots, as Kafka's
//! `<offset>.snapshot` files do: `<offset>.snapshot` in the partition
//! directory holds the state of every batch below `offset`. One is written
//! when a segment rolls (at the new segment's base offset), by the roll's
//! background sync after the closed segment is fsynced, and is fsynced with
//! its directory entry as Kafka does; one, fsynced, at a clean shutdown (at
//! the log end). A partition opens from the newest
//! snapshot at or below its log end and replays the batch headers after it —
//! at most the active segment — instead of the whole log. A snapshot above
//! the log end (its tail was lost in a crash) is removed, and one that does
//! not decode is passed over for an older one, down to a replay of the whole
//! log.
//!
//! ```text
//! "FJPS" version:u16 crc32c:u32 (of what follows) producers:u32
//!   per producer: id:i64 epoch:i16 batches:u8
//!     per batch: first_seq:i32 last_seq:i32 first_offset:i64 last_offset:i64 timestamp:i64
//! ```
//! (big-endian)

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::log::Syncer;

/// Batches remembered per producer, as Kafka does.
const REMEMBERED_BATCHES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub timestamp: i64,
}

#[derive(Debug, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
}

/// What to do with an incoming idempotent batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// New data: append it.
    Append,
    /// Already written: answer with these offsets, write nothing.
    Duplicate(BatchMeta),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    #[error("producer {producer_id} epoch {epoch} is older than the current epoch {current}")]
    FencedEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    #[error(
        "out of order sequence number for producer {producer_id}: expected {expected}, received {received}"
    )]
    OutOfOrder {
        producer_id: i64,
        expected: i32,
        received: i32,
    },
}

/// Producer state of one partition.
#[derive(Debug, Default)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
}

/// The last sequence of a batch starting at `first` with `count` records.
pub fn last_sequence(first: i32, count: i32) -> i32 {
    if count <= 0 {
        return first;
    }
    let last = i64::from(first) + i64::from(count) - 1;
    if last > i64::from(i32::MAX) {
        (last - i64::from(i32::MAX) - 1) as i32
    } else {
        last as i32
    }
}

fn next_sequence(last: i32) -> i32 {
    if last == i32::MAX { 0 } else { last + 1 }
}

impl ProducerStates {
    /// Decides what to do with a batch of `producer_id` at `epoch` carrying
    /// sequences `first_seq..=last_seq`.
    pub fn check(
        &self,
        producer_id: i64,
        epoch: i16,
        first_seq: i32,
        last_seq: i32,
    ) -> Result<SequenceCheck, SequenceError> {
        let Some(entry) = self.producers.get(&producer_id) else {
            return Ok(SequenceCheck::Append);
        };
        if epoch < entry.epoch {
            return Err(SequenceError::FencedEpoch {
                producer_id,
                epoch,
                current: entry.epoch,
            });
        }
        if epoch > entry.epoch {
            return if first_seq == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(SequenceError::OutOfOrder {
                    producer_id,
                    expected: 0,
                    received: first_seq,
                })
            };
        }
        if let Some(duplicate) = entry
            .batches
            .iter()
            .find(|batch| batch.first_seq == first_seq && batch.last_seq == last_seq)
        {
            return Ok(SequenceCheck::Duplicate(*duplicate));
        }
        match entry.batches.back() {
            None => Ok(SequenceCheck::Append),
            Some(last) if next_sequence(last.last_seq) == first_seq => Ok(SequenceCheck::Append),
            Some(last) => Err(SequenceError::OutOfOrder {
                producer_id,
                expected: next_sequence(last.last_seq),
                received: first_seq,
            }),
        }
    }

    /// Records a batch that was appended (or found in the log on recovery).
    pub fn record(&mut self, producer_id: i64, epoch: i16, batch: BatchMeta) {
        let entry = self.producers.entry(producer_id).or_default();
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == REMEMBERED_BATCHES {
            entry.batches.pop_front();
        }
        entry.batches.push_back(batch);
    }

    /// Producers with state here.
    /// The last offset of every tracked producer's last batch: compaction keeps those
    /// batches (emptied if need be), so a rebuild from the log finds each producer's state.
    pub fn last_batch_offsets(&self) -> std::collections::HashSet<i64> {
        self.producers
            .values()
            .filter_map(|entry| entry.batches.back().map(|batch| batch.last_offset))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Forgets batches that end below `log_start` (deleted by retention or
    /// DeleteRecords), and producers left with none.
    pub fn retain_from(&mut self, log_start: i64) {
        self.producers.retain(|_, entry| {
            entry.batches.retain(|batch| batch.last_offset >= log_start);
            !entry.batches.is_empty()
        });
    }

    fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(4 + self.producers.len() * (11 + 32));
        body.extend_from_slice(
            &u32::try_from(self.producers.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        for (id, entry) in &self.producers {
            body.extend_from_slice(&id.to_be_bytes());
            body.extend_from_slice(&entry.epoch.to_be_bytes());
            // At most REMEMBERED_BATCHES (5), so it fits a byte.
            body.push(u8::try_from(entry.batches.len()).unwrap_or(u8::MAX));
            for batch in &entry.batches {
                body.extend_from_slice(&batch.first_seq.to_be_bytes());
                body.extend_from_slice(&batch.last_seq.to_be_bytes());
                body.extend_from_slice(&batch.first_offset.to_be_bytes());
                body.extend_from_slice(&batch.last_offset.to_be_bytes());
                body.extend_from_slice(&batch.timestamp.to_be_bytes());
            }
        }
        let mut out = Vec::with_capacity(10 + body.len());
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// The state `encode` wrote, or `None` for anything else.
    fn decode(bytes: &[u8]) -> Option<Self> {
        let mut reader = Reader(bytes);
        if reader.take(4)? != SNAPSHOT_MAGIC
            || u16::from_be_bytes(reader.array()?) != SNAPSHOT_VERSION
        {
            return None;
        }
        let crc = u32::from_be_bytes(reader.array()?);
        if crc32c::crc32c(reader.0) != crc {
            return None;
        }
        let count = u32::from_be_bytes(reader.array()?);
        let mut producers = HashMap::new();
        for _ in 0..count {
            let id = i64::from_be_bytes(reader.array()?);
            let epoch = i16::from_be_bytes(reader.array()?);
            let batches = reader.take(1)?[0];
            let mut entry = ProducerEntry {
                epoch,
                batches: VecDeque::with_capacity(usize::from(batches)),
            };
            for _ in 0..batches {
                entry.batches.push_back(BatchMeta {
                    first_seq: i32::from_be_bytes(reader.array()?),
                    last_seq: i32::from_be_bytes(reader.array()?),
                    first_offset: i64::from_be_bytes(reader.array()?),
                    last_offset: i64::from_be_bytes(reader.array()?),
                    timestamp: i64::from_be_bytes(reader.array()?),
                });
            }
            producers.insert(id, entry);
        }
        reader.0.is_empty().then_some(Self { producers })
    }

    /// Writes the snapshot of the batches below `offset` to `dir` (see
    /// [`Snapshot::write`]).
    pub fn write_snapshot(&self, dir: &Path, offset: i64, durable: bool) -> io::Result<()> {
        self.snapshot(dir, offset).write(durable)
    }

    /// The snapshot of the batches below `offset`, encoded now (cheap) to be
    /// written later, e.g. once the partition's locks are released.
    pub fn snapshot(&self, dir: &Path, offset: i64) -> Snapshot {
        Snapshot {
            dir: dir.to_path_buf(),
            offset,
            bytes: self.encode(),
        }
    }

    /// Whether `dir` holds a snapshot at `offset`.
    pub fn has_snapshot(dir: &Path, offset: i64) -> bool {
        snapshot_path(dir, offset).is_file()
    }

    /// The newest snapshot in `dir` at or below `at_most` (the log end) that
    /// decodes, with its offset; `None` when there is none. Snapshots above
    /// `at_most` are removed: they describe batches the log lost, and the
    /// offsets they name will be taken by other batches.
    pub fn read_snapshot(dir: &Path, at_most: i64) -> io::Result<Option<(i64, Self)>> {
        let mut offsets = snapshot_offsets(dir)?;
        offsets.sort_unstable_by(|a, b| b.cmp(a));
        for lost in offsets.iter().filter(|o| **o > at_most) {
            fs::remove_file(snapshot_path(dir, *lost))?;
        }
        for offset in offsets.into_iter().filter(|o| *o <= at_most) {
            let path = snapshot_path(dir, offset);
            match fs::read(&path).map(|bytes| Self::decode(&bytes)) {
                Ok(Some(states)) => return Ok(Some((offset, states))),
                Ok(None) => {
                    tracing::warn!(path = %path.display(), "producer snapshot does not decode; using an older one");
                }
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "producer snapshot unreadable; using an older one");
                }
            }
        }
        Ok(None)
    }
}

/// An encoded snapshot, not yet on disk.
pub struct Snapshot {
    dir: PathBuf,
    offset: i64,
    bytes: Vec<u8>,
}

impl Snapshot {
    /// Writes the snapshot to its directory, replacing any of the same offset
    /// (write a temporary file, rename it), and removes all but the two
    /// newest snapshots there. `durable` fsyncs the file and the directory; without it a
    /// crash may leave a snapshot that fails to decode, which opening passes
    /// over.
    pub fn write(self, durable: bool) -> io::Result<()> {
        let syncer = Syncer::os();
        self.write_with(durable.then_some(&syncer))
    }

    /// [`write`](Self::write), durable, with the file and the directory
    /// fsynced through `syncer` (a roll's snapshot, written by the roll's
    /// background sync).
    pub fn write_synced(self, syncer: &Syncer) -> io::Result<()> {
        self.write_with(Some(syncer))
    }

    fn write_with(self, syncer: Option<&Syncer>) -> io::Result<()> {
        let Self { dir, offset, bytes } = self;
        let path = snapshot_path(&dir, offset);
        let tmp = path.with_extension("snapshot.tmp");
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        if let Some(syncer) = syncer {
            syncer.sync_data(&file, &tmp)?;
        }
        fs::rename(&tmp, &path)?;
        if let Some(syncer) = syncer {
            syncer.sync_dir(&dir)?;
        }
        // Keep the two newest in the directory, whichever this one is: rolls write theirs from
        // background threads, so an older roll's snapshot may land after a newer one.
        let mut offsets = snapshot_offsets(&dir)?;
        offsets.sort_unstable();
        let stale = offsets.len().saturating_sub(2);
        for stale in &offsets[..stale] {
            // Another roll's thread may have removed it already.
            match fs::remove_file(snapshot_path(&dir, *stale)) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
                _ => {}
            }
        }
        Ok(())
    }
}

const SNAPSHOT_MAGIC: &[u8; 4] = b"FJPS";
const SNAPSHOT_VERSION: u16 = 1;

fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}.snapshot"))
}

/// Offsets of the `<offset>.snapshot` files in `dir`.
fn snapshot_offsets(dir: &Path) -> io::Result<Vec<i64>> {
    let mut offsets = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        if let Some(offset) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".snapshot"))
            .and_then(|n| n.parse::<i64>().ok())
        {
            offsets.push(offset);
        }
    }
    Ok(offsets)
}

/// Reads big-endian fields off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(first_seq: i32, last_seq: i32, first_offset: i64) -> BatchMeta {
        BatchMeta {
            first_seq,
            last_seq,
            first_offset,
            last_offset: first_offset + i64::from(last_seq - first_seq),
            timestamp: 0,
        }
    }

    #[test]
    fn a_retried_batch_is_a_duplicate_with_its_original_offsets() {
        let mut states = ProducerStates::default();
        assert_eq!(states.check(7, 0, 0, 9), Ok(SequenceCheck::Append));
        states.record(7, 0, meta(0, 9, 100));
        states.record(7, 0, meta(10, 19, 110));
        assert_eq!(
            states.check(7, 0, 0, 9),
            Ok(SequenceCheck::Duplicate(meta(0, 9, 100)))
        );
        assert_eq!(states.check(7, 0, 20, 29), Ok(SequenceCheck::Append));
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut states = ProducerStates::default();
        for i in 0..6 {
            states.record(1, 0, meta(i * 10, i * 10 + 9, i64::from(i) * 10));
        }
        assert!(matches!(
            states.check(1, 0, 0, 9),
            Err(SequenceError::OutOfOrder { .. })
        ));
        assert!(matches!(
            states.check(1, 0, 10, 19),
            Ok(SequenceCheck::Duplicate(_))
        ));
    }

    #[test]
    fn gaps_and_stale_epochs_are_refused() {
        let mut states = ProducerStates::default();
        states.record(3, 2, meta(0, 4, 0));
        assert_eq!(
            states.check(3, 2, 6, 8),
            Err(SequenceError::OutOfOrder {
                producer_id: 3,
                expected: 5,
                received: 6
            })
        );
        assert_eq!(
            states.check(3, 1, 5, 8),
            Err(SequenceError::FencedEpoch {
                producer_id: 3,
                epoch: 1,
                current: 2
            })
        );
        assert!(matches!(
            states.check(3, 3, 5, 8),
            Err(SequenceError::OutOfOrder { expected: 0, .. })
        ));
        assert_eq!(states.check(3, 3, 0, 3), Ok(SequenceCheck::Append));
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        assert_eq!(last_sequence(i32::MAX - 1, 3), 0);
        let mut states = ProducerStates::default();
        states.record(9, 0, meta(i32::MAX - 2, i32::MAX, 0));
        assert_eq!(states.check(9, 0, 0, 4), Ok(SequenceCheck::Append));
    }

    #[test]
    fn an_unknown_producer_may_start_anywhere() {
        let states = ProducerStates::default();
        assert_eq!(states.check(42, 5, 1234, 1240), Ok(SequenceCheck::Append));
    }

    #[test]
    fn a_snapshot_decodes_to_the_state_it_was_written_from() {
        let mut states = ProducerStates::default();
        for i in 0..7 {
            states.record(1, 0, meta(i * 10, i * 10 + 9, i64::from(i) * 10));
        }
        states.record(2, 3, meta(0, 0, 500));
        let bytes = states.encode();
        let decoded = ProducerStates::decode(&bytes).expect("decodes");
        assert_eq!(
            format!("{:?}", sorted(&decoded)),
            format!("{:?}", sorted(&states))
        );
        // Any cut or flipped byte is refused.
        for cut in 0..bytes.len() {
            assert!(
                ProducerStates::decode(&bytes[..cut]).is_none(),
                "cut at {cut}"
            );
        }
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x40;
            assert!(ProducerStates::decode(&damaged).is_none(), "flip at {at}");
        }
    }

    fn sorted(states: &ProducerStates) -> Vec<(i64, i16, Vec<BatchMeta>)> {
        let mut out: Vec<_> = states
            .producers
            .iter()
            .map(|(id, e)| (*id, e.epoch, e.batches.iter().copied().collect()))
            .collect();
        out.sort_by_key(|(id, _, _)| *id);
        out
    }

    #[test]
    fn batches_below_the_log_start_are_forgotten() {
        let mut states = ProducerStates::default();
        states.record(1, 0, meta(0, 9, 0));
        states.record(1, 0, meta(10, 19, 10));
        states.record(2, 0, meta(0, 4, 20));
        states.retain_from(15);
        assert_eq!(states.len(), 2);
        states.retain_from(25);
        assert_eq!(states.len(), 0);
    }

    #[test]
    fn writing_a_snapshot_keeps_one_older_and_reading_takes_the_newest_that_fits() {
        let dir = tempfile::tempdir().unwrap();
        for (offset, producer) in [(100, 1), (200, 2), (300, 3)] {
            let mut states = ProducerStates::default();
            states.record(producer, 0, meta(0, 0, offset - 1));
            states.write_snapshot(dir.path(), offset, false).unwrap();
        }
        let mut offsets = snapshot_offsets(dir.path()).unwrap();
        offsets.sort_unstable();
        assert_eq!(offsets, vec![200, 300]);
        let read = |at_most| {
            ProducerStates::read_snapshot(dir.path(), at_most)
                .unwrap()
                .map(|(offset, states)| (offset, sorted(&states)[0].0))
        };
        assert_eq!(read(1_000), Some((300, 3)));
        assert_eq!(read(299), Some((200, 2)));
        // The log ended below 300: that snapshot is gone for good.
        assert_eq!(read(1_000), Some((200, 2)));
        assert_eq!(read(199), None);
        assert!(snapshot_offsets(dir.path()).unwrap().is_empty());
    }
}
