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
//! Transactions (Kafka's `ProducerAppendInfo.appendDataBatch` / `appendEndTxnMarker`):
//! - a transactional batch of a producer with no open transaction opens one at its first
//!   offset; later transactional batches extend it;
//! - a non-transactional batch while the producer has one open: INVALID_TXN_STATE;
//! - a COMMIT or ABORT marker ends it, giving a [`CompletedTxn`] (first offset, the marker's
//!   offset, aborted or not). A marker whose producer epoch is older than the producer's
//!   (under transaction version 2, where the coordinator bumps the epoch for each marker: not
//!   newer) is fenced, INVALID_PRODUCER_EPOCH; one from a coordinator epoch older than the
//!   last seen is TRANSACTION_COORDINATOR_FENCED. A marker for a producer with no open
//!   transaction is accepted (the coordinator writes markers to every partition of the
//!   transaction) and only moves the epochs;
//! - the first unstable offset is the lowest first offset of the open transactions and of
//!   completed ones whose marker is not yet below the high watermark; the last stable offset
//!   is the smaller of it and the high watermark.
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
//!   per producer: id:i64 epoch:i16 coordinator_epoch:i32 txn_first_offset:i64 batches:u8
//!     per batch: first_seq:i32 last_seq:i32 first_offset:i64 last_offset:i64 timestamp:i64
//! ```
//! (big-endian; `txn_first_offset` -1: no open transaction). Version 1 snapshots, without
//! `coordinator_epoch` and `txn_first_offset`, are still read (no transaction open).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::log::control::EndTxnMarker;
use crate::log::{LastRecord, Syncer};

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

#[derive(Debug)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
    /// The epoch of the coordinator that wrote the producer's last marker, -1 before any.
    coordinator_epoch: i32,
    /// First offset of the producer's open transaction.
    txn_first_offset: Option<i64>,
}

impl Default for ProducerEntry {
    fn default() -> Self {
        ProducerEntry {
            epoch: 0,
            batches: VecDeque::new(),
            coordinator_epoch: -1,
            txn_first_offset: None,
        }
    }
}

/// One producer as DescribeProducers reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveProducer {
    pub producer_id: i64,
    pub epoch: i16,
    /// The last sequence written, -1 without a batch remembered.
    pub last_sequence: i32,
    /// The last batch's max timestamp, -1 without one.
    pub last_timestamp: i64,
    pub coordinator_epoch: i32,
    /// The first offset of its open transaction, -1 without one.
    pub current_txn_start_offset: i64,
}

/// A transaction a marker ended in this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub aborted: bool,
}

/// How a marker's producer epoch is checked (Kafka's transaction versions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionVersion {
    /// Versions 0 and 1: the marker carries the producer's epoch; an older one is fenced.
    Legacy,
    /// Version 2: the coordinator bumps the epoch for each marker; one not newer is fenced.
    V2,
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
    /// A non-transactional batch while the producer has a transaction open.
    #[error(
        "expected a transactional write from producer {producer_id}: it has a transaction open"
    )]
    InvalidTxnState { producer_id: i64 },
    /// A marker from a coordinator older than the one that wrote the producer's last marker.
    #[error(
        "coordinator epoch {coordinator_epoch} of a marker for producer {producer_id} is older than the current {current}"
    )]
    CoordinatorFenced {
        producer_id: i64,
        coordinator_epoch: i32,
        current: i32,
    },
}

/// Producer state of one partition.
#[derive(Debug, Default)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
    /// The open transactions, as `(first offset, producer id)`.
    ongoing: BTreeSet<(i64, i64)>,
    /// Completed transactions whose marker is not yet below the high watermark, in marker
    /// order: they keep the last stable offset where it was until it is.
    unreplicated: VecDeque<CompletedTxn>,
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
        // A producer known here at this epoch with no batch remembered (a marker moved it to a
        // new epoch, say) starts at 0, as Kafka's `inSequence(NO_SEQUENCE, first)`; only a
        // producer with no state at all may start anywhere.
        match entry.batches.back() {
            None if first_seq == 0 => Ok(SequenceCheck::Append),
            None => Err(SequenceError::OutOfOrder {
                producer_id,
                expected: 0,
                received: first_seq,
            }),
            Some(last) if next_sequence(last.last_seq) == first_seq => Ok(SequenceCheck::Append),
            Some(last) => Err(SequenceError::OutOfOrder {
                producer_id,
                expected: next_sequence(last.last_seq),
                received: first_seq,
            }),
        }
    }

    /// Checks a batch the broker itself appends for a producer (a TxnOffsetCommit's, to
    /// `__consumer_offsets`): only its epoch, as Kafka checks only clients' sequences.
    pub fn check_coordinator_batch(
        &self,
        producer_id: i64,
        epoch: i16,
    ) -> Result<(), SequenceError> {
        match self.producers.get(&producer_id) {
            Some(entry) if epoch < entry.epoch => Err(SequenceError::FencedEpoch {
                producer_id,
                epoch,
                current: entry.epoch,
            }),
            _ => Ok(()),
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

    /// Refuses a data batch that does not fit the producer's transaction: a non-transactional
    /// one while it has a transaction open (Kafka's INVALID_TXN_STATE).
    pub fn check_txn_state(
        &self,
        producer_id: i64,
        transactional: bool,
    ) -> Result<(), SequenceError> {
        let open = self
            .producers
            .get(&producer_id)
            .is_some_and(|entry| entry.txn_first_offset.is_some());
        if open && !transactional {
            return Err(SequenceError::InvalidTxnState { producer_id });
        }
        Ok(())
    }

    /// Records a transactional data batch: it opens the producer's transaction at its first
    /// offset when none is open, and extends the open one otherwise.
    pub fn record_transactional(&mut self, producer_id: i64, epoch: i16, batch: BatchMeta) {
        self.record(producer_id, epoch, batch);
        let entry = self.producers.entry(producer_id).or_default();
        if entry.txn_first_offset.is_none() {
            entry.txn_first_offset = Some(batch.first_offset);
            self.ongoing.insert((batch.first_offset, producer_id));
        }
    }

    /// Checks a marker of `producer_id` at `epoch` from a coordinator at `coordinator_epoch`
    /// before it is written. A producer unknown here passes.
    pub fn check_marker(
        &self,
        producer_id: i64,
        epoch: i16,
        coordinator_epoch: i32,
        version: TransactionVersion,
    ) -> Result<(), SequenceError> {
        let Some(entry) = self.producers.get(&producer_id) else {
            return Ok(());
        };
        let fenced = match version {
            TransactionVersion::Legacy => epoch < entry.epoch,
            TransactionVersion::V2 => epoch <= entry.epoch,
        };
        if fenced {
            return Err(SequenceError::FencedEpoch {
                producer_id,
                epoch,
                current: entry.epoch,
            });
        }
        if entry.coordinator_epoch > coordinator_epoch {
            return Err(SequenceError::CoordinatorFenced {
                producer_id,
                coordinator_epoch,
                current: entry.coordinator_epoch,
            });
        }
        Ok(())
    }

    /// Applies a marker written (or found on recovery) at `offset`: the producer's epochs
    /// move to the marker's, and its open transaction, if any, ends. The completed
    /// transaction is returned and holds the first unstable offset until
    /// [`forget_replicated`](Self::forget_replicated) passes its marker.
    pub fn apply_marker(
        &mut self,
        producer_id: i64,
        epoch: i16,
        marker: EndTxnMarker,
        offset: i64,
    ) -> Option<CompletedTxn> {
        let entry = self.producers.entry(producer_id).or_default();
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.coordinator_epoch = marker.coordinator_epoch;
        let first_offset = entry.txn_first_offset.take()?;
        self.ongoing.remove(&(first_offset, producer_id));
        let completed = CompletedTxn {
            producer_id,
            first_offset,
            last_offset: offset,
            aborted: !marker.commit,
        };
        self.unreplicated.push_back(completed);
        Some(completed)
    }

    /// The last stable offset right after `completed` ended (what Kafka writes into the
    /// transaction index): the first offset of the earliest transaction still open, or past
    /// the marker.
    pub fn last_stable_offset_after(&self, completed: &CompletedTxn) -> i64 {
        self.ongoing
            .iter()
            .find(|(_, producer_id)| *producer_id != completed.producer_id)
            .map_or(completed.last_offset + 1, |(first, _)| *first)
    }

    /// Forgets completed transactions whose marker is below `high_watermark`.
    pub fn forget_replicated(&mut self, high_watermark: i64) {
        while self
            .unreplicated
            .front()
            .is_some_and(|txn| txn.last_offset < high_watermark)
        {
            self.unreplicated.pop_front();
        }
    }

    /// The lowest first offset of the open transactions and of the completed ones whose
    /// marker is not yet below `high_watermark`; `None` when there is none.
    pub fn first_unstable_offset(&self, high_watermark: i64) -> Option<i64> {
        let ongoing = self.ongoing.first().map(|(first, _)| *first);
        let unreplicated = self
            .unreplicated
            .iter()
            .filter(|txn| txn.last_offset >= high_watermark)
            .map(|txn| txn.first_offset)
            .min();
        match (ongoing, unreplicated) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The last entry of every tracked producer, by producer id: compaction keeps it (its
    /// last data batch, emptied if need be, or its markers at its epoch when a marker that
    /// changed the epoch came last), so a rebuild from the log finds each producer's state.
    pub fn last_records(&self) -> HashMap<i64, LastRecord> {
        self.producers
            .iter()
            .map(|(&producer_id, entry)| {
                let last = LastRecord {
                    last_data_offset: entry.batches.back().map(|batch| batch.last_offset),
                    epoch: entry.epoch,
                };
                (producer_id, last)
            })
            .collect()
    }

    /// Every producer with state here, by producer id.
    pub fn describe(&self) -> Vec<ActiveProducer> {
        let mut active: Vec<ActiveProducer> = self
            .producers
            .iter()
            .map(|(id, entry)| {
                let last = entry.batches.back();
                ActiveProducer {
                    producer_id: *id,
                    epoch: entry.epoch,
                    last_sequence: last.map_or(-1, |b| b.last_seq),
                    last_timestamp: last.map_or(-1, |b| b.timestamp),
                    coordinator_epoch: entry.coordinator_epoch,
                    current_txn_start_offset: entry.txn_first_offset.unwrap_or(-1),
                }
            })
            .collect();
        active.sort_by_key(|p| p.producer_id);
        active
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Forgets batches that end below `log_start` (deleted by retention or
    /// DeleteRecords), and producers left with none and no open transaction (a transaction
    /// stays open until its marker, whatever was deleted of it).
    /// Whether `producer_id` has a transaction open here at `epoch`.
    pub fn has_open_transaction(&self, producer_id: i64, epoch: i16) -> bool {
        self.producers
            .get(&producer_id)
            .is_some_and(|entry| entry.epoch == epoch && entry.txn_first_offset.is_some())
    }

    /// Forgets producers with no open transaction whose last batch is older than
    /// `expiration_ms` at `now_ms` (Kafka's `producer.id.expiration.ms`): their next batch
    /// may start at any sequence, as a new producer's. Returns how many went.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, entry| {
            let last = entry.batches.back().map(|b| b.timestamp);
            entry.txn_first_offset.is_some()
                || last.is_none_or(|at| now_ms.saturating_sub(at) < expiration_ms)
        });
        before - self.producers.len()
    }

    pub fn retain_from(&mut self, log_start: i64) {
        self.producers.retain(|_, entry| {
            entry.batches.retain(|batch| batch.last_offset >= log_start);
            !entry.batches.is_empty() || entry.txn_first_offset.is_some()
        });
        self.unreplicated.retain(|txn| txn.last_offset >= log_start);
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
            body.extend_from_slice(&entry.coordinator_epoch.to_be_bytes());
            body.extend_from_slice(&entry.txn_first_offset.unwrap_or(-1).to_be_bytes());
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
        if reader.take(4)? != SNAPSHOT_MAGIC {
            return None;
        }
        let version = u16::from_be_bytes(reader.array()?);
        if !(1..=SNAPSHOT_VERSION).contains(&version) {
            return None;
        }
        let crc = u32::from_be_bytes(reader.array()?);
        if crc32c::crc32c(reader.0) != crc {
            return None;
        }
        let count = u32::from_be_bytes(reader.array()?);
        let mut producers = HashMap::new();
        let mut ongoing = BTreeSet::new();
        for _ in 0..count {
            let id = i64::from_be_bytes(reader.array()?);
            let epoch = i16::from_be_bytes(reader.array()?);
            let (coordinator_epoch, txn_first_offset) = if version >= 2 {
                let coordinator_epoch = i32::from_be_bytes(reader.array()?);
                let first = i64::from_be_bytes(reader.array()?);
                (coordinator_epoch, (first >= 0).then_some(first))
            } else {
                (-1, None)
            };
            if let Some(first) = txn_first_offset {
                ongoing.insert((first, id));
            }
            let batches = reader.take(1)?[0];
            let mut entry = ProducerEntry {
                epoch,
                batches: VecDeque::with_capacity(usize::from(batches)),
                coordinator_epoch,
                txn_first_offset,
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
        reader.0.is_empty().then_some(Self {
            producers,
            ongoing,
            unreplicated: VecDeque::new(),
        })
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
/// Version 2 added each producer's coordinator epoch and open transaction.
const SNAPSHOT_VERSION: u16 = 2;

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
#[path = "producer_state_tests.rs"]
mod tests;
