//! AddPartitionsToTxn, AddOffsetsToTxn and the produce path's verify-or-add.

use super::*;
use TransactionVersion::*;

#[test]
fn the_first_partitions_start_the_transaction() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    let p = init(&mut c, &mut ids, ID, T0);
    let parts = [tp("b", 1), tp("a", 0), tp("b", 0)];
    let write = expect_write(c.add_partitions(ID, 1000, 0, &parts, V0, T0 + 5));
    let value = write.value.clone().unwrap();
    assert_eq!(value.state, TxnState::Ongoing);
    assert_eq!(value.start_timestamp_ms, T0 + 5);
    let topics = value.partitions.unwrap();
    assert_eq!(topics[0].topic, "a");
    assert_eq!(topics[1].partitions, [0, 1]);
    assert_eq!(state(&c, ID), TxnState::Empty, "applied after the write");
    ok(&mut c, &write, T0 + 5);
    assert_eq!(state(&c, ID), TxnState::Ongoing);
    // More partitions later keep the start time.
    add(&mut c, ID, p, &[tp("c", 0)], V0, T0 + 9);
    let meta = c.metadata(ID).unwrap();
    assert_eq!(meta.start_timestamp_ms, T0 + 5);
    assert_eq!(meta.last_update_timestamp_ms, T0 + 9);
    assert_eq!(meta.partitions.len(), 4);
}

#[test]
fn partitions_already_in_the_open_transaction_are_answered_without_a_write() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    let p = init(&mut c, &mut ids, ID, T0);
    add(&mut c, ID, p, &[tp("a", 0), tp("a", 1)], V0, T0);
    let step = c.add_partitions(ID, 1000, 0, &[tp("a", 1)], V0, T0);
    assert_eq!(step, Ok(Step::Answer(())));
}

#[test]
fn add_partitions_refusals_come_in_kafkas_order() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    init(&mut c, &mut ids, ID, T0);
    let parts = [tp("a", 0)];
    let cases = [
        (
            "",
            1000,
            0,
            TxnError::InvalidRequest("the transactional id is empty"),
        ),
        ("unknown", 1000, 0, TxnError::InvalidProducerIdMapping),
        (ID, 999, 5, TxnError::InvalidProducerIdMapping),
        (ID, 1000, 5, TxnError::ProducerFenced),
    ];
    for (id, producer_id, epoch, expected) in cases {
        let got = c.add_partitions(id, producer_id, epoch, &parts, V0, T0);
        assert_eq!(got, Err(expected), "{id} {producer_id} {epoch}");
    }
    let long = [tp(&"x".repeat(32_768), 0)];
    let got = c.add_partitions(ID, 1000, 0, &long, V0, T0);
    assert_eq!(
        got,
        Err(TxnError::InvalidRequest("a topic name is too long"))
    );
    let _write = expect_write(c.add_partitions(ID, 1000, 0, &parts, V0, T0));
    let got = c.add_partitions(ID, 1000, 0, &parts, V0, T0);
    assert_eq!(got, Err(TxnError::ConcurrentTransactions));
}

#[test]
fn add_offsets_adds_the_groups_consumer_offsets_partition() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    init(&mut c, &mut ids, ID, T0);
    let write = expect_write(c.add_offsets(ID, 1000, 0, "test", 50, T0));
    ok(&mut c, &write, T0);
    // Java: "test".hashCode() == 3556498; 3556498 % 50 == 48.
    let expected = [tp(CONSUMER_OFFSETS_TOPIC, 48)].into();
    assert_eq!(c.metadata(ID).unwrap().partitions, expected);
    assert_eq!(
        c.add_offsets(ID, 1000, 1, "test", 50, T0),
        Err(TxnError::ProducerFenced)
    );
}

#[test]
fn partitions_follow_javas_string_hash_code() {
    assert_eq!(partition_for("a", 50), 97 % 50);
    assert_eq!(partition_for("test", 50), 3_556_498 % 50);
    // "polygenelubricants".hashCode() == Integer.MIN_VALUE: Kafka's abs makes it 0.
    assert_eq!(partition_for("polygenelubricants", 50), 0);
    // "my-transactional-id".hashCode() == -959806496: made positive first.
    assert_eq!(partition_for("my-transactional-id", 50), 959_806_496 % 50);
}

#[test]
fn tv1_produce_verification_accepts_only_partitions_of_the_transaction() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    let p = init(&mut c, &mut ids, ID, T0);
    add(&mut c, ID, p, &[tp("a", 0)], V0, T0);
    let verify = |c: &mut TxnCoordinator, id: &str, producer_id, epoch, part: TopicPartition| {
        c.verify_or_add_partition(id, producer_id, epoch, &part, V0, T0)
    };
    assert_eq!(
        verify(&mut c, ID, 1000, 0, tp("a", 0)),
        Ok(Step::Answer(()))
    );
    assert_eq!(
        verify(&mut c, ID, 1000, 0, tp("a", 1)),
        Err(TxnError::TransactionAbortable)
    );
    assert_eq!(
        verify(&mut c, ID, 1000, 1, tp("a", 0)),
        Err(TxnError::ProducerFenced)
    );
    assert_eq!(
        verify(&mut c, ID, 1, 0, tp("a", 0)),
        Err(TxnError::InvalidProducerIdMapping)
    );
    assert_eq!(
        verify(&mut c, "x", 1000, 0, tp("a", 0)),
        Err(TxnError::InvalidProducerIdMapping)
    );
    let write = expect_write(c.end_txn(ID, 1000, 0, true, V0, T0, &mut ids));
    ok(&mut c, &write, T0);
    assert_eq!(
        verify(&mut c, ID, 1000, 0, tp("a", 0)),
        Err(TxnError::ConcurrentTransactions)
    );
}

#[test]
fn tv2_produce_adds_the_partition_and_starts_the_transaction() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    let p = init(&mut c, &mut ids, ID, T0);
    add(&mut c, ID, p, &[tp("a", 0)], V2, T0);
    end(&mut c, &mut ids, ID, p, true, V2, T0);
    assert_eq!(state(&c, ID), TxnState::CompleteCommit);
    let step = c.verify_or_add_partition(ID, 1000, 1, &tp("b", 3), V2, T0 + 50);
    let write = expect_write(step);
    assert_eq!(write.value.as_ref().unwrap().client_transaction_version, 2);
    ok(&mut c, &write, T0 + 50);
    let meta = c.metadata(ID).unwrap();
    assert_eq!(meta.state, TxnState::Ongoing);
    assert_eq!(meta.start_timestamp_ms, T0 + 50);
    assert_eq!(meta.partitions, [tp("b", 3)].into());
    let again = c.verify_or_add_partition(ID, 1000, 1, &tp("b", 3), V2, T0 + 51);
    assert_eq!(again, Ok(Step::Answer(())));
    let stale = c.verify_or_add_partition(ID, 1000, 0, &tp("b", 4), V2, T0 + 51);
    assert_eq!(stale, Err(TxnError::ProducerFenced));
}
