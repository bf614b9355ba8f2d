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
//! The state is rebuilt from batch headers when a partition opens (see
//! `Topics`), so it survives restarts without a file of its own.

use std::collections::{HashMap, VecDeque};

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
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
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
}
