//! Unit tests of producer state: sequences, transactions, snapshots.

use super::*;
use crate::log::control::EndTxnMarker;

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

fn marker(commit: bool, coordinator_epoch: i32) -> EndTxnMarker {
    EndTxnMarker {
        commit,
        coordinator_epoch,
    }
}

#[test]
fn a_transactional_batch_opens_a_transaction_that_a_marker_completes() {
    let mut states = ProducerStates::default();
    states.record_transactional(7, 0, meta(0, 4, 10));
    states.record_transactional(7, 0, meta(5, 9, 20));
    assert_eq!(states.first_unstable_offset(i64::MAX), Some(10));
    assert_eq!(states.check_txn_state(7, true), Ok(()));
    let completed = states.apply_marker(7, 0, marker(false, 3), 30);
    assert_eq!(
        completed,
        Some(CompletedTxn {
            producer_id: 7,
            first_offset: 10,
            last_offset: 30,
            aborted: true
        })
    );
    // Until the high watermark passes the marker, the transaction still holds the LSO.
    assert_eq!(states.first_unstable_offset(30), Some(10));
    assert_eq!(states.first_unstable_offset(31), None);
    states.forget_replicated(31);
    assert_eq!(states.first_unstable_offset(0), None);
    // The next transactional batch opens a new transaction.
    states.record_transactional(7, 0, meta(10, 10, 31));
    assert_eq!(states.first_unstable_offset(i64::MAX), Some(31));
}

#[test]
fn a_non_transactional_batch_during_an_open_transaction_is_invalid_txn_state() {
    let mut states = ProducerStates::default();
    assert_eq!(states.check_txn_state(7, false), Ok(()));
    states.record_transactional(7, 0, meta(0, 0, 0));
    assert_eq!(
        states.check_txn_state(7, false),
        Err(SequenceError::InvalidTxnState { producer_id: 7 })
    );
    assert_eq!(states.check_txn_state(8, false), Ok(()), "another producer");
    states.apply_marker(7, 0, marker(true, 0), 1);
    assert_eq!(states.check_txn_state(7, false), Ok(()));
}

#[test]
fn markers_with_an_older_producer_or_coordinator_epoch_are_fenced() {
    let mut states = ProducerStates::default();
    states.record_transactional(7, 3, meta(0, 0, 0));
    states.apply_marker(7, 3, marker(true, 5), 1);
    let check = |epoch, coordinator, version| states.check_marker(7, epoch, coordinator, version);
    assert_eq!(
        check(2, 5, TransactionVersion::Legacy),
        Err(SequenceError::FencedEpoch {
            producer_id: 7,
            epoch: 2,
            current: 3
        })
    );
    assert_eq!(check(3, 5, TransactionVersion::Legacy), Ok(()));
    // Transaction version 2 bumps the epoch for each marker: the current epoch is stale.
    assert!(matches!(
        check(3, 5, TransactionVersion::V2),
        Err(SequenceError::FencedEpoch { .. })
    ));
    assert_eq!(check(4, 5, TransactionVersion::V2), Ok(()));
    assert_eq!(
        check(3, 4, TransactionVersion::Legacy),
        Err(SequenceError::CoordinatorFenced {
            producer_id: 7,
            coordinator_epoch: 4,
            current: 5
        })
    );
    assert_eq!(
        states.check_marker(99, 0, 0, TransactionVersion::V2),
        Ok(()),
        "unknown producer"
    );
}

#[test]
fn a_marker_without_an_open_transaction_only_moves_the_epochs() {
    let mut states = ProducerStates::default();
    states.record(7, 0, meta(0, 4, 0));
    assert_eq!(states.apply_marker(7, 1, marker(true, 2), 5), None);
    assert_eq!(states.first_unstable_offset(0), None);
    assert!(matches!(
        states.check(7, 0, 5, 5),
        Err(SequenceError::FencedEpoch { current: 1, .. })
    ));
    assert!(matches!(
        states.check_marker(7, 1, 1, TransactionVersion::Legacy),
        Err(SequenceError::CoordinatorFenced { current: 2, .. })
    ));
}

#[test]
fn the_lso_after_a_completed_transaction_is_the_earliest_other_open_one() {
    let mut states = ProducerStates::default();
    states.record_transactional(1, 0, meta(0, 0, 5));
    states.record_transactional(2, 0, meta(0, 0, 8));
    let completed = states
        .apply_marker(2, 0, marker(false, 0), 9)
        .expect("open");
    assert_eq!(states.last_stable_offset_after(&completed), 5);
    let completed = states
        .apply_marker(1, 0, marker(false, 0), 10)
        .expect("open");
    assert_eq!(states.last_stable_offset_after(&completed), 11);
}

#[test]
fn an_open_transaction_survives_a_snapshot_and_its_producer_is_kept_past_the_log_start() {
    let mut states = ProducerStates::default();
    states.record_transactional(7, 2, meta(0, 4, 100));
    states.apply_marker(8, 1, marker(true, 9), 50);
    let decoded = ProducerStates::decode(&states.encode()).expect("decodes");
    assert_eq!(decoded.first_unstable_offset(0), Some(100));
    assert!(matches!(
        decoded.check_txn_state(7, false),
        Err(SequenceError::InvalidTxnState { .. })
    ));
    assert!(matches!(
        decoded.check_marker(8, 1, 8, TransactionVersion::Legacy),
        Err(SequenceError::CoordinatorFenced { current: 9, .. })
    ));
    let mut decoded = decoded;
    decoded.retain_from(1_000);
    assert_eq!(decoded.first_unstable_offset(0), Some(100));
}

#[test]
fn a_version_1_snapshot_still_loads_with_no_transaction_open() {
    // Written as version 1 laid it out: id, epoch, batch count, batches.
    let mut body = Vec::new();
    body.extend_from_slice(&1u32.to_be_bytes());
    body.extend_from_slice(&7i64.to_be_bytes());
    body.extend_from_slice(&3i16.to_be_bytes());
    body.push(1);
    for field in [0i32, 4] {
        body.extend_from_slice(&field.to_be_bytes());
    }
    for field in [100i64, 104, 1_000] {
        body.extend_from_slice(&field.to_be_bytes());
    }
    let mut bytes = b"FJPS".to_vec();
    bytes.extend_from_slice(&1u16.to_be_bytes());
    bytes.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    bytes.extend_from_slice(&body);
    let states = ProducerStates::decode(&bytes).expect("a version 1 snapshot decodes");
    let batch = BatchMeta {
        timestamp: 1_000,
        ..meta(0, 4, 100)
    };
    assert_eq!(sorted(&states), vec![(7, 3, vec![batch])]);
    assert_eq!(states.first_unstable_offset(0), None);
    assert_eq!(
        states.check(7, 3, 0, 4),
        Ok(SequenceCheck::Duplicate(batch))
    );
    // A version from the future is not guessed at.
    let mut future = bytes.clone();
    future[4..6].copy_from_slice(&3u16.to_be_bytes());
    assert!(ProducerStates::decode(&future).is_none());
}

#[test]
fn an_idle_producer_is_forgotten_unless_its_transaction_is_open() {
    let mut states = ProducerStates::default();
    let batch = |first_offset: i64, timestamp: i64| BatchMeta {
        first_seq: 0,
        last_seq: 0,
        first_offset,
        last_offset: first_offset,
        timestamp,
    };
    states.record(1, 0, batch(0, 1_000));
    states.record_transactional(2, 0, batch(1, 1_000));
    states.record(3, 0, batch(2, 50_000));
    assert_eq!(
        states.expire(60_000, 30_000),
        1,
        "only the idle producer 1 without a transaction"
    );
    assert_eq!(states.len(), 2);
    // Forgotten: its next batch may start at any sequence, as a new producer's.
    assert_eq!(states.check(1, 0, 7, 7), Ok(SequenceCheck::Append));
    assert_eq!(
        states.expire(90_000, 30_000),
        1,
        "producer 3 in turn; 2 keeps its transaction"
    );
}

#[test]
fn a_producer_known_at_its_epoch_with_no_batch_left_starts_again_at_sequence_0() {
    let mut states = ProducerStates::default();
    states.record(
        5,
        0,
        BatchMeta {
            first_seq: 0,
            last_seq: 9,
            first_offset: 0,
            last_offset: 9,
            timestamp: 1_000,
        },
    );
    // A marker moves the producer to epoch 1 (Transactions V2): its batches are forgotten.
    let marker = EndTxnMarker {
        commit: true,
        coordinator_epoch: 0,
    };
    states.apply_marker(5, 1, marker, 10);
    assert_eq!(
        states.check(5, 1, 21, 30),
        Err(SequenceError::OutOfOrder {
            producer_id: 5,
            expected: 0,
            received: 21,
        }),
        "a later batch may not overtake the epoch's first"
    );
    assert_eq!(states.check(5, 1, 0, 4), Ok(SequenceCheck::Append));
    // A producer with no state at all may start anywhere (its batches were deleted).
    assert_eq!(states.check(6, 0, 21, 30), Ok(SequenceCheck::Append));
}

#[test]
fn the_brokers_own_batches_for_a_producer_are_checked_for_their_epoch_only() {
    let mut states = ProducerStates::default();
    let meta = BatchMeta {
        first_seq: -1,
        last_seq: -1,
        first_offset: 0,
        last_offset: 0,
        timestamp: 1_000,
    };
    states.record_transactional(7, 2, meta);
    assert_eq!(states.check_coordinator_batch(7, 2), Ok(()));
    assert_eq!(
        states.check_coordinator_batch(7, 3),
        Ok(()),
        "a newer epoch"
    );
    assert!(matches!(
        states.check_coordinator_batch(7, 1),
        Err(SequenceError::FencedEpoch { .. })
    ));
}
