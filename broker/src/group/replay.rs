//! Loading a `__consumer_offsets` partition: its entries replayed in log order into committed
//! offsets, stored groups, and the offsets of transactions still open.
//!
//! An offset commit in a transactional batch (a transactional producer's TxnOffsetCommit)
//! counts only once its producer's COMMIT marker follows; an ABORT marker drops it. Until then
//! it is pending: OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT for its
//! partition, and without it returns the offset committed before. Group metadata records are
//! never transactional.
//!
//! The records of KIP-848 consumer groups (`consumer/records.rs`) are kept as they are, the
//! last one per key (group, record type, member or regular expression); a tombstone removes
//! its key. Building the groups from them is left to the consumer group state.

use std::collections::HashMap;

use super::OffsetMap;
use super::consumer::records::{ConsumerGroupKey, ConsumerGroupRecord, ConsumerGroupValue};
use super::metadata_record::GroupMetadata;
use super::offsets::{self, CommittedOffset, OffsetRecord, RecordFormatError, StoredEntry};

/// An offset committed inside a transaction that has not ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingOffset {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    /// `None`: a deletion.
    pub offset: Option<CommittedOffset>,
}

/// What a partition's entries add up to.
#[derive(Debug, Default)]
pub struct Replay {
    pub offsets: HashMap<String, OffsetMap>,
    /// The last record of each group (`None`: a tombstone).
    pub groups: HashMap<String, Option<GroupMetadata>>,
    /// The last value of each KIP-848 consumer group record's key (tombstoned keys removed).
    pub consumer_groups: HashMap<ConsumerGroupKey, ConsumerGroupValue>,
    /// Offsets of open transactions, by producer id.
    pub pending: HashMap<i64, Vec<PendingOffset>>,
    /// Records read (markers not counted).
    pub records: usize,
}

impl Replay {
    /// Applies one entry; a record that does not decode is an error and changes nothing.
    pub fn apply(&mut self, entry: StoredEntry) -> Result<(), RecordFormatError> {
        match entry {
            StoredEntry::Marker {
                producer_id,
                commit,
            } => {
                let pending = self.pending.remove(&producer_id).unwrap_or_default();
                if commit {
                    for offset in pending {
                        self.set(offset);
                    }
                }
            }
            StoredEntry::Record {
                key,
                value,
                transaction,
            } => {
                self.records += 1;
                match offsets::read_record(&key, value.as_deref())? {
                    Some(OffsetRecord::Commit {
                        group,
                        topic,
                        partition,
                        offset,
                    }) => {
                        let commit = PendingOffset {
                            group,
                            topic,
                            partition,
                            offset,
                        };
                        match transaction {
                            Some(producer_id) => {
                                self.pending.entry(producer_id).or_default().push(commit)
                            }
                            None => self.set(commit),
                        }
                    }
                    Some(OffsetRecord::GroupMetadata { group, value }) => {
                        self.groups.insert(group, value);
                    }
                    Some(OffsetRecord::ConsumerGroup(ConsumerGroupRecord { key, value })) => {
                        match value {
                            Some(value) => {
                                self.consumer_groups.insert(key, value);
                            }
                            None => {
                                self.consumer_groups.remove(&key);
                            }
                        }
                    }
                    None => {}
                }
            }
        }
        Ok(())
    }

    fn set(&mut self, commit: PendingOffset) {
        let group = self.offsets.entry(commit.group).or_default();
        let key = (commit.topic, commit.partition);
        match commit.offset {
            Some(offset) => {
                group.insert(key, offset);
            }
            None => {
                group.remove(&key);
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::group::offsets::{commit_batch, read_batches};
    use crate::log::builder::BatchBuilder;

    pub(in crate::group) fn offset(at: i64) -> CommittedOffset {
        CommittedOffset {
            offset: at,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 1_000,
        }
    }

    /// A transactional commit of `group`'s `t`-0 at `at` by `producer_id`, at `base_offset`.
    pub(in crate::group) fn transactional(
        group: &str,
        at: i64,
        producer_id: i64,
        base_offset: i64,
    ) -> Vec<u8> {
        let key = offsets::offset_key(group, "t", 0);
        let value = offsets::offset_value(&offset(at));
        let mut batch = BatchBuilder::new(1_000)
            .producer(producer_id, 0, 0)
            .transactional()
            .record(Some(&key), Some(&value), 1_000)
            .build();
        batch[..8].copy_from_slice(&base_offset.to_be_bytes());
        batch
    }

    /// A COMMIT (or ABORT) marker of `producer_id` at `base_offset`.
    pub(in crate::group) fn marker(producer_id: i64, commit: bool, base_offset: i64) -> Vec<u8> {
        let key = [0, 0, 0, u8::from(commit)];
        let value = [0, 0, 0, 0, 0, 0];
        let mut batch = BatchBuilder::new(1_000)
            .producer(producer_id, 0, -1)
            .transactional()
            .control()
            .record(Some(&key), Some(&value), 1_000)
            .build();
        batch[..8].copy_from_slice(&base_offset.to_be_bytes());
        batch
    }

    fn replayed(batches: &[Vec<u8>]) -> Replay {
        let bytes: Vec<u8> = batches.concat();
        let stored = read_batches(&bytes, 1 << 20);
        assert!(stored.skipped.is_empty(), "{:?}", stored.skipped);
        let mut replay = Replay::default();
        for entry in stored.entries {
            replay.apply(entry).expect("entry");
        }
        replay
    }

    fn committed(replay: &Replay, group: &str) -> Option<i64> {
        replay
            .offsets
            .get(group)?
            .get(&("t".to_owned(), 0))
            .map(|o| o.offset)
    }

    #[test]
    fn a_transactions_offsets_count_only_once_its_commit_marker_follows() {
        let plain = commit_batch("g", &[("t".into(), 0, Some(offset(5)))], 1_000);
        let replay = replayed(&[plain.clone(), transactional("g", 9, 77, 1)]);
        assert_eq!(
            committed(&replay, "g"),
            Some(5),
            "the open transaction's offset waits"
        );
        assert_eq!(replay.pending[&77].len(), 1);

        let replay = replayed(&[plain, transactional("g", 9, 77, 1), marker(77, true, 2)]);
        assert_eq!(committed(&replay, "g"), Some(9), "committed by the marker");
        assert!(replay.pending.is_empty());
    }

    #[test]
    fn an_aborted_transactions_offsets_are_dropped_and_other_producers_are_untouched() {
        let replay = replayed(&[
            transactional("g", 9, 77, 0),
            transactional("h", 4, 88, 1),
            marker(77, false, 2),
            marker(88, true, 3),
        ]);
        assert_eq!(
            committed(&replay, "g"),
            None,
            "the abort drops producer 77's offset"
        );
        assert_eq!(
            committed(&replay, "h"),
            Some(4),
            "producer 88 commits its own"
        );
        assert!(replay.pending.is_empty());
    }

    #[test]
    fn a_control_record_that_is_neither_marker_is_an_error_of_its_batch() {
        let mut bad = BatchBuilder::new(1_000)
            .producer(1, 0, -1)
            .transactional()
            .control()
            .record(Some(&[0, 0, 0, 7]), Some(&[0, 0]), 1_000)
            .build();
        bad[..8].copy_from_slice(&0i64.to_be_bytes());
        let stored = read_batches(&bad, 1 << 20);
        assert_eq!(stored.skipped.len(), 1);
        assert!(stored.entries.is_empty());
    }

    fn target_epoch(epoch: i32) -> ConsumerGroupRecord {
        use crate::group::consumer::records::TargetAssignmentMetadata;
        ConsumerGroupRecord {
            key: ConsumerGroupKey::TargetAssignmentMetadata { group: "g".into() },
            value: Some(ConsumerGroupValue::TargetAssignmentMetadata(
                TargetAssignmentMetadata {
                    assignment_epoch: epoch,
                    assignment_timestamp: 0,
                },
            )),
        }
    }

    fn assignment(member: &str, epoch: Option<i32>) -> ConsumerGroupRecord {
        use crate::group::consumer::records::CurrentMemberAssignment;
        ConsumerGroupRecord {
            key: ConsumerGroupKey::CurrentMemberAssignment {
                group: "g".into(),
                member: member.into(),
            },
            value: epoch.map(|epoch| {
                ConsumerGroupValue::CurrentMemberAssignment(CurrentMemberAssignment {
                    member_epoch: epoch,
                    previous_member_epoch: epoch - 1,
                    state: 0,
                    assigned_partitions: Vec::new(),
                    partitions_pending_revocation: Vec::new(),
                })
            }),
        }
    }

    fn at(mut batch: Vec<u8>, base_offset: i64) -> Vec<u8> {
        batch[..8].copy_from_slice(&base_offset.to_be_bytes());
        batch
    }

    #[test]
    fn consumer_group_records_keep_the_last_value_per_key_and_tombstones_remove_theirs() {
        use crate::group::consumer::records::record_batch;
        let replay = replayed(&[
            at(
                record_batch(
                    &[
                        target_epoch(1),
                        assignment("a", Some(1)),
                        assignment("b", Some(1)),
                    ],
                    1_000,
                ),
                0,
            ),
            at(
                commit_batch("g", &[("t".into(), 0, Some(offset(5)))], 1_000),
                3,
            ),
            at(
                record_batch(
                    &[
                        target_epoch(2),
                        assignment("a", Some(2)),
                        assignment("b", None),
                    ],
                    1_000,
                ),
                4,
            ),
        ]);
        let expected: HashMap<_, _> = [target_epoch(2), assignment("a", Some(2))]
            .into_iter()
            .map(|r| (r.key, r.value.expect("a value")))
            .collect();
        assert_eq!(replay.consumer_groups, expected, "b's tombstone removed it");
        assert_eq!(
            committed(&replay, "g"),
            Some(5),
            "offsets are kept beside them"
        );
        assert!(replay.groups.is_empty(), "no classic group was stored");
        assert_eq!(replay.records, 7);

        // The same records in the other order: the earlier values win, b stays gone.
        let replay = replayed(&[
            at(
                record_batch(&[target_epoch(2), assignment("b", None)], 1_000),
                0,
            ),
            at(
                record_batch(&[target_epoch(1), assignment("b", Some(1))], 1_000),
                2,
            ),
        ]);
        let expected: HashMap<_, _> = [target_epoch(1), assignment("b", Some(1))]
            .into_iter()
            .map(|r| (r.key, r.value.expect("a value")))
            .collect();
        assert_eq!(replay.consumer_groups, expected);
    }
}
