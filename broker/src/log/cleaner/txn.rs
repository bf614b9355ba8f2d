//! Transactions through a clean, as Kafka's `CleanedTransactionMetadata`: which data batches
//! belong to an aborted transaction, and which markers end a transaction of which nothing is
//! left before them.
//!
//! The tracker is fed every batch of the range a pass reads, in offset order, and is seeded
//! with the aborted transactions the transaction indexes list for that range. A producer has
//! at most one transaction open at a time, so from an aborted transaction's first offset to
//! its ABORT marker, every transactional batch of its producer belongs to it.
//!
//! - A transactional data batch inside an aborted transaction is aborted: its records never
//!   enter the key map and the clean drops them. Any other transactional batch marks its
//!   producer's transaction as having data in this pass.
//! - An ABORT marker whose transaction had a batch in this pass is kept, and its entry goes
//!   to the cleaned segment's transaction index. One whose transaction had none (its data was
//!   removed by an earlier clean) may go: the clean sets its delete horizon, and a clean after
//!   that horizon removes it. A COMMIT marker likewise, by whether its transaction had a batch.
//! - Since a marker may go only in a pass that met no batch of its transaction, a batch of a
//!   transaction never outlives its marker: a rebuild of producer state from the log never
//!   finds a transaction left open by compaction.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::log::batch::BatchHeader;
use crate::log::control::EndTxnMarker;
use crate::log::txn_index::AbortedTxn;

/// What the transactions say about one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TxnVerdict {
    /// For a data batch: it belongs to an aborted transaction, its records go. For a control
    /// batch: nothing of its transaction is left before it, it may go once its horizon passed.
    pub discardable: bool,
    /// An ABORT marker that stays with data of its transaction before it: its index entry.
    pub index_entry: Option<AbortedTxn>,
}

const KEEP: TxnVerdict = TxnVerdict {
    discardable: false,
    index_entry: None,
};

/// An aborted transaction the scan is inside of, and whether a batch of it was met.
struct OpenAbort {
    entry: AbortedTxn,
    seen_batch: bool,
}

/// Transaction state along one pass over the log (see the module docs).
pub(super) struct TxnTracker {
    /// Aborted transactions not reached yet, by first offset.
    pending: VecDeque<AbortedTxn>,
    /// By producer: the aborted transaction the scan is inside of.
    aborting: HashMap<i64, OpenAbort>,
    /// Producers whose (not aborted) transaction had a batch since their last marker.
    committing: HashSet<i64>,
}

impl TxnTracker {
    /// A tracker for a pass whose range the aborted transactions `aborted` overlap.
    pub(super) fn new(mut aborted: Vec<AbortedTxn>) -> TxnTracker {
        aborted.sort_by_key(|txn| (txn.first_offset, txn.producer_id, txn.last_offset));
        aborted.dedup();
        TxnTracker {
            pending: aborted.into(),
            aborting: HashMap::new(),
            committing: HashSet::new(),
        }
    }

    /// Moves the aborted transactions that started at or before `offset` into `aborting`.
    fn reach(&mut self, offset: i64) {
        while self
            .pending
            .front()
            .is_some_and(|txn| txn.first_offset <= offset)
        {
            let Some(entry) = self.pending.pop_front() else {
                break;
            };
            self.aborting.insert(
                entry.producer_id,
                OpenAbort {
                    entry,
                    seen_batch: false,
                },
            );
        }
    }

    /// Feeds the next batch: `batch` is the whole stored batch whose header is `header`.
    pub(super) fn on_batch(&mut self, batch: &[u8], header: &BatchHeader) -> TxnVerdict {
        self.reach(header.last_offset());
        if header.is_control() {
            return self.on_control(batch, header);
        }
        if !header.is_transactional() {
            return KEEP;
        }
        match self.aborting.get_mut(&header.producer_id) {
            Some(open) => {
                open.seen_batch = true;
                TxnVerdict {
                    discardable: true,
                    index_entry: None,
                }
            }
            None => {
                self.committing.insert(header.producer_id);
                KEEP
            }
        }
    }

    fn on_control(&mut self, batch: &[u8], header: &BatchHeader) -> TxnVerdict {
        if header.record_count == 0 {
            // Emptied by an earlier clean: it ends nothing any more.
            return TxnVerdict {
                discardable: true,
                index_entry: None,
            };
        }
        let marker = match EndTxnMarker::from_batch(batch) {
            Ok(Some(marker)) => marker,
            // Another control type, or one that does not parse: kept as it is.
            Ok(None) | Err(_) => return KEEP,
        };
        let producer = header.producer_id;
        if marker.commit {
            return TxnVerdict {
                discardable: !self.committing.remove(&producer),
                index_entry: None,
            };
        }
        match self.aborting.remove(&producer) {
            Some(open) if open.seen_batch => TxnVerdict {
                discardable: false,
                index_entry: Some(open.entry),
            },
            _ => TxnVerdict {
                discardable: true,
                index_entry: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::builder::BatchBuilder;

    fn data(producer: i64, base: i64, transactional: bool) -> (Vec<u8>, BatchHeader) {
        let mut builder = BatchBuilder::new(0).producer(producer, 0, 0);
        if transactional {
            builder = builder.transactional();
        }
        let mut batch = builder.record(Some(b"k"), Some(b"v"), 0).build();
        batch[..8].copy_from_slice(&base.to_be_bytes());
        let header = BatchHeader::parse(&batch).expect("header");
        (batch, header)
    }

    fn marker(producer: i64, base: i64, commit: bool) -> (Vec<u8>, BatchHeader) {
        let mut batch = EndTxnMarker {
            commit,
            coordinator_epoch: 0,
        }
        .batch(producer, 0, 0);
        batch[..8].copy_from_slice(&base.to_be_bytes());
        let header = BatchHeader::parse(&batch).expect("header");
        (batch, header)
    }

    fn feed(tracker: &mut TxnTracker, (batch, header): (Vec<u8>, BatchHeader)) -> TxnVerdict {
        tracker.on_batch(&batch, &header)
    }

    fn aborted(producer: i64, first: i64, last: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: producer,
            first_offset: first,
            last_offset: last,
            last_stable_offset: last + 1,
        }
    }

    #[test]
    fn batches_of_an_aborted_transaction_are_discardable_and_its_marker_keeps_its_entry() {
        let entry = aborted(1, 0, 3);
        let mut tracker = TxnTracker::new(vec![entry]);
        assert!(feed(&mut tracker, data(1, 0, true)).discardable);
        // Another producer's transactional batch in between is not aborted.
        assert_eq!(feed(&mut tracker, data(2, 1, true)), KEEP);
        // Nor is a plain batch of the aborting producer.
        assert_eq!(feed(&mut tracker, data(1, 2, false)), KEEP);
        let verdict = feed(&mut tracker, marker(1, 3, false));
        assert_eq!(
            verdict,
            TxnVerdict {
                discardable: false,
                index_entry: Some(entry)
            }
        );
        // Producer 2's transaction had a batch: its COMMIT stays.
        assert!(!feed(&mut tracker, marker(2, 4, true)).discardable);
        // The next transaction of producer 1 is not aborted.
        assert_eq!(feed(&mut tracker, data(1, 5, true)), KEEP);
    }

    #[test]
    fn a_marker_whose_transaction_left_no_batch_is_discardable() {
        let mut tracker = TxnTracker::new(vec![aborted(1, 0, 3), aborted(1, 0, 3)]);
        assert_eq!(
            feed(&mut tracker, marker(1, 3, false)),
            TxnVerdict {
                discardable: true,
                index_entry: None
            }
        );
        assert!(feed(&mut tracker, marker(2, 4, true)).discardable);
        // A duplicate entry listed twice does not abort a later transaction.
        assert_eq!(feed(&mut tracker, data(1, 5, true)), KEEP);
        assert!(!feed(&mut tracker, marker(1, 6, true)).discardable);
    }

    #[test]
    fn other_control_batches_are_kept_and_emptied_ones_are_discardable() {
        let mut tracker = TxnTracker::new(Vec::new());
        let other = BatchBuilder::new(0)
            .producer(1, 0, -1)
            .transactional()
            .control()
            .record(Some(&[0u8, 0, 0, 2][..]), Some(&[0u8; 6][..]), 0)
            .build();
        let header = BatchHeader::parse(&other).expect("header");
        assert_eq!(tracker.on_batch(&other, &header), KEEP);
        let emptied = crate::log::cleaner::filter::empty_batch(&header);
        let header = BatchHeader::parse(&emptied).expect("header");
        assert!(tracker.on_batch(&emptied, &header).discardable);
    }
}
