//! EndTxn under both transaction versions, markers and completion.

use super::*;
use TransactionVersion::*;

/// An id with an open transaction on t-0 and t-1, under `tv`.
fn open(tv: TransactionVersion) -> (TxnCoordinator, Ids, ProducerIdAndEpoch) {
    let mut c = coordinator();
    let mut ids = Ids::new();
    let p = init(&mut c, &mut ids, ID, T0);
    add(&mut c, ID, p, &[tp("t", 0), tp("t", 1)], tv, T0 + 10);
    (c, ids, p)
}

#[test]
fn tv1_commit_writes_the_decision_then_markers_then_complete_commit() {
    let (mut c, mut ids, p) = open(V0);
    let write = expect_write(c.end_txn(
        ID,
        p.producer_id,
        p.producer_epoch,
        true,
        V0,
        T0 + 20,
        &mut ids,
    ));
    let value = write.value.clone().unwrap();
    assert_eq!(value.state, TxnState::PrepareCommit);
    assert_eq!(value.producer_epoch, 0, "TV1 keeps the epoch");
    assert_eq!(value.start_timestamp_ms, T0 + 10);
    let done = ok(&mut c, &write, T0 + 20);
    assert_eq!(
        done.answer,
        Some(Answer::EndTxn(Ok(ProducerIdAndEpoch::NONE)))
    );
    let expected = TxnMarkers {
        transactional_id: ID.into(),
        producer_id: 1000,
        producer_epoch: 0,
        commit: true,
        partitions: vec![tp("t", 0), tp("t", 1)],
        coordinator_epoch: EPOCH,
        transaction_version: V0,
    };
    assert_eq!(done.effects.markers, [expected]);
    assert_eq!(state(&c, ID), TxnState::PrepareCommit);
    assert_eq!(c.pending_state(ID), Some(TxnState::CompleteCommit));
    let complete = c.markers_written(ID, EPOCH).unwrap();
    let value = complete.value.clone().unwrap();
    assert_eq!(value.state, TxnState::CompleteCommit);
    assert_eq!(value.partitions, Some(vec![]));
    assert_eq!(ok(&mut c, &complete, T0 + 30), WriteDone::default());
    assert_eq!(state(&c, ID), TxnState::CompleteCommit);
    assert!(c.metadata(ID).unwrap().partitions.is_empty());
}

#[test]
fn tv1_abort_ends_in_complete_abort_with_abort_markers() {
    let (mut c, mut ids, p) = open(V0);
    let (answer, markers) = end(&mut c, &mut ids, ID, p, false, V0, T0 + 20);
    assert_eq!(answer, ProducerIdAndEpoch::NONE);
    assert!(!markers.unwrap().commit);
    assert_eq!(state(&c, ID), TxnState::CompleteAbort);
}

#[test]
fn tv1_ending_a_completed_transaction_again_the_same_way_succeeds_the_other_way_is_invalid() {
    let (mut c, mut ids, p) = open(V0);
    end(&mut c, &mut ids, ID, p, true, V0, T0);
    let again = c.end_txn(ID, 1000, 0, true, V0, T0, &mut ids);
    assert_eq!(again, Ok(Step::Answer(ProducerIdAndEpoch::NONE)));
    let other = c.end_txn(ID, 1000, 0, false, V0, T0, &mut ids);
    assert_eq!(other, Err(TxnError::InvalidTxnState("CompleteCommit")));
}

#[test]
fn tv1_ending_with_nothing_open_is_invalid_txn_state() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    init(&mut c, &mut ids, ID, T0);
    for commit in [true, false] {
        let error = c.end_txn(ID, 1000, 0, commit, V0, T0, &mut ids);
        assert_eq!(error, Err(TxnError::InvalidTxnState("Empty")));
    }
}

#[test]
fn ending_while_markers_are_written_is_concurrent_transactions() {
    for tv in [V0, V2] {
        let (mut c, mut ids, p) = open(tv);
        let write = expect_write(c.end_txn(ID, 1000, 0, true, tv, T0, &mut ids));
        let error = c.end_txn(ID, 1000, 0, true, tv, T0, &mut ids);
        assert_eq!(
            error,
            Err(TxnError::ConcurrentTransactions),
            "{tv:?}, writing"
        );
        ok(&mut c, &write, T0);
        let current = if tv == V2 { 1 } else { 0 };
        // Under TV2 the retry's epoch is the one before the bump.
        let error = c.end_txn(ID, 1000, 0, true, tv, T0, &mut ids);
        assert_eq!(
            error,
            Err(TxnError::ConcurrentTransactions),
            "{tv:?}, markers"
        );
        let error = c.add_partitions(ID, 1000, current, &[tp("u", 0)], tv, T0);
        assert_eq!(error, Err(TxnError::ConcurrentTransactions));
        let _ = p;
    }
}

#[test]
fn an_unknown_id_or_another_producer_id_is_invalid_producer_id_mapping() {
    for tv in [V0, V2] {
        let (mut c, mut ids, _) = open(tv);
        let error = c.end_txn("other", 1000, 0, true, tv, T0, &mut ids);
        assert_eq!(error, Err(TxnError::InvalidProducerIdMapping));
        let error = c.end_txn(ID, 999, 0, true, tv, T0, &mut ids);
        assert_eq!(error, Err(TxnError::InvalidProducerIdMapping));
    }
}

#[test]
fn another_epoch_is_producer_fenced() {
    for tv in [V0, V2] {
        let (mut c, mut ids, _) = open(tv);
        for epoch in [1, -1] {
            let error = c.end_txn(ID, 1000, epoch, true, tv, T0, &mut ids);
            assert_eq!(error, Err(TxnError::ProducerFenced), "{tv:?} epoch {epoch}");
        }
    }
}

#[test]
fn an_empty_transactional_id_is_invalid_request() {
    let mut c = coordinator();
    let error = c.end_txn("", 1, 0, true, V2, T0, &mut Ids::new());
    assert!(matches!(error, Err(TxnError::InvalidRequest(_))));
}

#[test]
fn tv2_every_end_bumps_the_epoch_and_returns_it() {
    let (mut c, mut ids, p) = open(V2);
    let write = expect_write(c.end_txn(ID, 1000, 0, true, V2, T0 + 20, &mut ids));
    let value = write.value.clone().unwrap();
    assert_eq!(value.producer_epoch, 1);
    assert_eq!(value.client_transaction_version, 2);
    let done = ok(&mut c, &write, T0 + 20);
    assert_eq!(done.answer, Some(Answer::EndTxn(Ok(pe(1000, 1)))));
    assert_eq!(
        done.effects.markers[0].producer_epoch, 1,
        "markers carry the new epoch"
    );
    assert_eq!(c.metadata(ID).unwrap().last_producer_epoch, 0);
    finish(&mut c, done.effects, T0 + 20);
    // The next transaction runs at epoch 1 and ends at 2.
    let p1 = pe(p.producer_id, 1);
    add(&mut c, ID, p1, &[tp("t", 0)], V2, T0 + 30);
    let (answer, _) = end(&mut c, &mut ids, ID, p1, false, V2, T0 + 40);
    assert_eq!(answer, pe(1000, 2));
}

#[test]
fn tv2_a_retried_end_with_the_old_epoch_is_answered_with_the_current_one() {
    let (mut c, mut ids, _) = open(V2);
    end(&mut c, &mut ids, ID, pe(1000, 0), true, V2, T0);
    let retry = c.end_txn(ID, 1000, 0, true, V2, T0, &mut ids);
    assert_eq!(retry, Ok(Step::Answer(pe(1000, 1))));
    let (mut c, mut ids, _) = open(V2);
    end(&mut c, &mut ids, ID, pe(1000, 0), false, V2, T0);
    let retry = c.end_txn(ID, 1000, 0, false, V2, T0, &mut ids);
    assert_eq!(retry, Ok(Step::Answer(pe(1000, 1))));
}

#[test]
fn tv2_ends_of_idle_ids_follow_kafkas_table() {
    use TxnState::*;
    // (state, commit, epoch sent: retry (current - 1) or current, expected)
    let fenced = Err(TxnError::ProducerFenced);
    let cases: [(TxnState, bool, bool, Result<&str, TxnError>); 12] = [
        (Empty, false, true, fenced.clone()),
        (Empty, false, false, Ok("bump")),
        (Empty, true, true, fenced.clone()),
        (Empty, true, false, Err(TxnError::InvalidTxnState("Empty"))),
        (CompleteAbort, false, true, Ok("done")),
        (CompleteAbort, false, false, Ok("bump")),
        (
            CompleteAbort,
            true,
            true,
            Err(TxnError::InvalidTxnState("CompleteAbort")),
        ),
        (
            CompleteAbort,
            true,
            false,
            Err(TxnError::InvalidTxnState("CompleteAbort")),
        ),
        (
            CompleteCommit,
            false,
            true,
            Err(TxnError::InvalidTxnState("CompleteCommit")),
        ),
        (CompleteCommit, false, false, Ok("bump")),
        (CompleteCommit, true, true, Ok("done")),
        (
            CompleteCommit,
            true,
            false,
            Err(TxnError::InvalidTxnState("CompleteCommit")),
        ),
    ];
    for (state, commit, retry, expected) in cases {
        let meta = idle_meta(state, 5, V2);
        let (mut c, _) = loaded_with(TxnSettings::default(), ID, &meta);
        let sent = if retry { 4 } else { 5 };
        let got = c.end_txn(ID, 500, sent, commit, V2, T0, &mut Ids::new());
        let got = match got {
            Ok(Step::Answer(answer)) => {
                assert_eq!(answer, pe(500, 5));
                Ok("done")
            }
            Ok(Step::Write(write)) => {
                let value = write.value.unwrap();
                assert_eq!(value.state, PrepareAbort);
                assert_eq!(value.producer_epoch, 6);
                Ok("bump")
            }
            Err(error) => Err(error),
        };
        assert_eq!(got, expected, "{state:?} commit={commit} retry={retry}");
    }
}

#[test]
fn tv2_an_abort_with_nothing_open_completes_without_markers() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    init(&mut c, &mut ids, ID, T0);
    let write = expect_write(c.end_txn(ID, 1000, 0, false, V2, T0 + 5, &mut ids));
    assert_eq!(write.value.as_ref().unwrap().start_timestamp_ms, T0 + 5);
    let done = ok(&mut c, &write, T0 + 5);
    assert_eq!(done.answer, Some(Answer::EndTxn(Ok(pe(1000, 1)))));
    assert!(done.effects.markers.is_empty());
    let complete = &done.effects.writes[0];
    assert_eq!(
        complete.value.as_ref().unwrap().state,
        TxnState::CompleteAbort
    );
    ok(&mut c, complete, T0 + 5);
    assert_eq!(state(&c, ID), TxnState::CompleteAbort);
}

#[test]
fn tv2_an_exhausted_epoch_ends_on_a_new_producer_id() {
    let meta = TxnMetadata {
        partitions: [tp("t", 0)].into(),
        start_timestamp_ms: T0,
        ..idle_meta(TxnState::Ongoing, i16::MAX - 1, V2)
    };
    let (mut c, _) = loaded_with(TxnSettings::default(), ID, &meta);
    let mut ids = Ids::new();
    let write = expect_write(c.end_txn(ID, 500, i16::MAX - 1, true, V2, T0, &mut ids));
    let value = write.value.clone().unwrap();
    assert_eq!(
        (value.producer_epoch, value.next_producer_id),
        (i16::MAX, 1000)
    );
    let done = ok(&mut c, &write, T0);
    assert_eq!(done.answer, Some(Answer::EndTxn(Ok(pe(1000, 0)))));
    let markers = &done.effects.markers[0];
    assert_eq!(
        (markers.producer_id, markers.producer_epoch),
        (500, i16::MAX)
    );
    finish(&mut c, done.effects, T0);
    let meta = c.metadata(ID).unwrap();
    assert_eq!((meta.producer_id, meta.producer_epoch), (1000, 0));
    assert_eq!(
        (meta.previous_producer_id, meta.next_producer_id),
        (500, NO_PRODUCER_ID)
    );
    // The producer's retry with its old id and epoch is recognised.
    let retry = c.end_txn(ID, 500, i16::MAX - 1, true, V2, T0, &mut ids);
    assert_eq!(retry, Ok(Step::Answer(pe(1000, 0))));
}

#[test]
fn a_failed_decision_write_answers_the_error_and_leaves_the_transaction_open() {
    let (mut c, mut ids, _) = open(V2);
    let write = expect_write(c.end_txn(ID, 1000, 0, true, V2, T0, &mut ids));
    let done = c.write_done(
        ID,
        write.coordinator_epoch,
        Err(WriteError::NotCoordinator),
        T0,
    );
    assert_eq!(
        done.answer,
        Some(Answer::EndTxn(Err(TxnError::NotCoordinator)))
    );
    assert!(done.effects.markers.is_empty());
    assert_eq!(state(&c, ID), TxnState::Ongoing);
    assert_eq!(epoch(&c, ID), 0);
}

#[test]
fn a_failed_completion_write_is_written_again() {
    let (mut c, mut ids, _) = open(V0);
    let write = expect_write(c.end_txn(ID, 1000, 0, true, V0, T0, &mut ids));
    ok(&mut c, &write, T0);
    let complete = c.markers_written(ID, EPOCH).unwrap();
    let done = c.write_done(ID, EPOCH, Err(WriteError::CoordinatorNotAvailable), T0);
    assert_eq!(done.answer, None);
    assert_eq!(done.effects.writes, std::slice::from_ref(&complete));
    ok(&mut c, &complete, T0);
    assert_eq!(state(&c, ID), TxnState::CompleteCommit);
}

#[test]
fn markers_reported_under_another_coordinator_epoch_are_not_taken() {
    let (mut c, mut ids, _) = open(V0);
    let write = expect_write(c.end_txn(ID, 1000, 0, true, V0, T0, &mut ids));
    ok(&mut c, &write, T0);
    assert_eq!(
        c.markers_written(ID, EPOCH + 1),
        Err(TxnError::NotCoordinator)
    );
    assert_eq!(c.pending_state(ID), Some(TxnState::CompleteCommit));
    assert!(c.markers_written(ID, EPOCH).is_ok());
}
