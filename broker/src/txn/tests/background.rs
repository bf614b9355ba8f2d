//! Timeouts, expiry, loading and giving up partitions.

use super::*;
use TransactionVersion::*;

fn open_at(c: &mut TxnCoordinator, ids: &mut Ids, id: &str, now: i64) -> ProducerIdAndEpoch {
    let p = init(c, ids, id, now);
    add(c, id, p, &[tp("t", 0)], V0, now);
    p
}

#[test]
fn a_transaction_open_longer_than_its_timeout_is_aborted_with_a_new_epoch() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    open_at(&mut c, &mut ids, ID, T0);
    assert_eq!(
        c.abort_timed_out(T0 + 60_000, &mut ids),
        Effects::default(),
        "not yet"
    );
    let effects = c.abort_timed_out(T0 + 60_001, &mut ids);
    let write = &effects.writes[0];
    let value = write.value.clone().unwrap();
    assert_eq!(value.state, TxnState::PrepareAbort);
    assert_eq!(
        value.producer_epoch, 2,
        "fenced, then bumped by the TV2 abort"
    );
    let done = ok(&mut c, write, T0 + 60_001);
    assert_eq!(done.answer, None, "nobody asked");
    let markers = done.effects.markers[0].clone();
    assert_eq!((markers.producer_epoch, markers.commit), (2, false));
    finish(&mut c, done.effects, T0 + 60_002);
    assert_eq!(state(&c, ID), TxnState::CompleteAbort);
    // The producer learns it was fenced.
    let error = c.end_txn(ID, 1000, 0, true, V0, T0 + 60_003, &mut ids);
    assert_eq!(error, Err(TxnError::ProducerFenced));
}

#[test]
fn tick_runs_the_abort_check_once_per_interval() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    let timeout = InitProducerId {
        timeout_ms: 1_000,
        ..init_request(ID, None)
    };
    let write = expect_write(c.init_producer_id(&timeout, T0, &mut ids));
    ok(&mut c, &write, T0);
    add(&mut c, ID, pe(1000, 0), &[tp("t", 0)], V0, T0);
    assert!(
        c.tick(T0 + 9_999, &mut ids).writes.is_empty(),
        "interval not reached"
    );
    assert_eq!(c.tick(T0 + 10_000, &mut ids).writes.len(), 1);
}

#[test]
fn a_transaction_with_a_write_in_flight_is_not_aborted() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    open_at(&mut c, &mut ids, ID, T0);
    let _write = expect_write(c.end_txn(ID, 1000, 0, true, V0, T0, &mut ids));
    assert!(c.abort_timed_out(T0 + 100_000, &mut ids).writes.is_empty());
}

#[test]
fn a_failed_fence_is_not_bumped_again() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    open_at(&mut c, &mut ids, ID, T0);
    let write = c.abort_timed_out(T0 + 60_001, &mut ids).writes.remove(0);
    c.write_done(ID, EPOCH, Err(WriteError::CoordinatorNotAvailable), T0);
    assert_eq!(state(&c, ID), TxnState::Ongoing);
    assert_eq!(epoch(&c, ID), 1, "the fence stays in memory, as in Kafka");
    let again = c.abort_timed_out(T0 + 60_002, &mut ids).writes.remove(0);
    assert_eq!(
        again.value.unwrap().producer_epoch,
        write.value.unwrap().producer_epoch
    );
}

#[test]
fn an_idle_id_expires_with_a_tombstone_and_is_removed_once_it_is_written() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    init(&mut c, &mut ids, ID, T0);
    open_at(&mut c, &mut ids, "busy", T0);
    let expiry = 604_800_000;
    assert!(
        c.expire_transactional_ids(T0 + expiry - 1)
            .writes
            .is_empty()
    );
    let effects = c.expire_transactional_ids(T0 + expiry);
    assert_eq!(effects.writes.len(), 1, "an Ongoing id does not expire");
    let tombstone = &effects.writes[0];
    assert_eq!(tombstone.transactional_id, ID);
    assert_eq!(tombstone.value_bytes(), None);
    assert_eq!(tombstone.key_bytes(), records::encode_key(ID));
    assert_eq!(c.pending_state(ID), Some(TxnState::Dead));
    let busy = c.init_producer_id(&init_request(ID, None), T0, &mut ids);
    assert_eq!(busy, Err(TxnError::ConcurrentTransactions));
    ok(&mut c, tombstone, T0 + expiry);
    assert!(c.metadata(ID).is_none());
    assert!(c.metadata("busy").is_some());
}

#[test]
fn a_failed_tombstone_keeps_the_id() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    init(&mut c, &mut ids, ID, T0);
    let effects = c.expire_transactional_ids(T0 + 604_800_000);
    let write = &effects.writes[0];
    c.write_done(
        ID,
        write.coordinator_epoch,
        Err(WriteError::NotCoordinator),
        T0,
    );
    assert_eq!(state(&c, ID), TxnState::Empty);
    assert_eq!(c.pending_state(ID), None);
}

#[test]
fn tick_expires_ids_once_per_cleanup_interval() {
    let settings = TxnSettings {
        transactional_id_expiration_ms: 1_000,
        remove_expired_interval_ms: 5_000,
        ..TxnSettings::default()
    };
    let mut c = loaded(settings);
    let mut ids = Ids::new();
    init(&mut c, &mut ids, ID, T0);
    assert!(c.tick(T0 + 4_999, &mut ids).writes.is_empty());
    assert_eq!(c.tick(T0 + 5_000, &mut ids).writes.len(), 1);
}

#[test]
fn loading_replays_records_in_order_and_tombstones_remove() {
    let mut c = TxnCoordinator::new(TxnSettings::default(), T0);
    let partition = c.partition_of(ID);
    let mut replay = TxnLogReplay::default();
    let mut meta = TxnMetadata::new(5, 1000, T0)
        .increment_epoch(1000, None, T0)
        .unwrap();
    let key = records::encode_key(ID);
    replay
        .apply(&key, Some(&meta.to_log_value().encode(0)))
        .unwrap();
    meta.producer_epoch = 3;
    replay
        .apply(&key, Some(&meta.to_log_value().encode(1)))
        .unwrap();
    replay
        .apply(
            &records::encode_key("gone"),
            Some(&meta.to_log_value().encode(1)),
        )
        .unwrap();
    replay.apply(&records::encode_key("gone"), None).unwrap();
    replay.apply(&[0, 9, 0, 0], Some(&[1, 2])).unwrap();
    assert!(replay.apply(&key, Some(&[0, 7])).is_err());
    assert_eq!(replay.len(), 1);
    c.begin_load(partition, 3);
    assert_eq!(c.describe(ID), Err(TxnError::CoordinatorLoadInProgress));
    let effects = c.finish_load(partition, 3, replay, T0).unwrap();
    assert_eq!(effects, Effects::default());
    assert_eq!(epoch(&c, ID), 3);
    let mut ids = Ids::new();
    let write = expect_write(c.init_producer_id(&init_request(ID, None), T0, &mut ids));
    assert_eq!(write.coordinator_epoch, 3);
}

#[test]
fn a_decision_found_at_load_gets_its_markers_again() {
    let meta = TxnMetadata {
        partitions: [tp("t", 0)].into(),
        start_timestamp_ms: T0,
        ..idle_meta(TxnState::PrepareCommit, 4, V2)
    };
    let (mut c, effects) = loaded_with(TxnSettings::default(), ID, &meta);
    let markers = &effects.markers[0];
    assert_eq!((markers.producer_id, markers.producer_epoch), (500, 4));
    assert!(markers.commit);
    assert_eq!(markers.coordinator_epoch, EPOCH + 1);
    finish(&mut c, effects, T0);
    assert_eq!(state(&c, ID), TxnState::CompleteCommit);
}

#[test]
fn giving_up_a_partition_answers_waiting_requests_not_coordinator() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    let write = expect_write(c.init_producer_id(&init_request(ID, None), T0, &mut ids));
    let answers = c.unload(write.partition);
    let expected = Answer::InitProducerId(Err(TxnError::NotCoordinator));
    assert_eq!(answers, [(ID.to_owned(), expected)]);
    assert_eq!(
        ok(&mut c, &write, T0),
        WriteDone::default(),
        "a late write changes nothing"
    );
    assert!(c.metadata(ID).is_none());
    let again = c.init_producer_id(&init_request(ID, None), T0, &mut ids);
    assert_eq!(again, Err(TxnError::NotCoordinator));
}

#[test]
fn a_write_from_before_a_reload_is_ignored() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    init(&mut c, &mut ids, ID, T0);
    let write = expect_write(c.init_producer_id(&init_request(ID, None), T0, &mut ids));
    let partition = write.partition;
    c.begin_load(partition, EPOCH + 1);
    assert_eq!(
        c.finish_load(partition, EPOCH, TxnLogReplay::default(), T0),
        Err(TxnError::NotCoordinator)
    );
    c.finish_load(partition, EPOCH + 1, TxnLogReplay::default(), T0)
        .unwrap();
    assert_eq!(ok(&mut c, &write, T0), WriteDone::default());
}
