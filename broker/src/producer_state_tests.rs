//! Unit tests of producer state: sequences, transactions, snapshots.

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
