//! InitProducerId with a transactional id.

use super::*;
use TransactionVersion::*;

#[test]
fn a_new_transactional_id_gets_a_new_producer_id_at_epoch_0_once_written() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    let write = expect_write(c.init_producer_id(&init_request(ID, None), T0, &mut ids));
    assert_eq!(write.partition, c.partition_of(ID));
    assert_eq!(write.coordinator_epoch, EPOCH);
    assert_eq!(write.value_version, 1);
    let value = write.value.clone().unwrap();
    assert_eq!((value.producer_id, value.producer_epoch), (1000, 0));
    assert_eq!(value.state, TxnState::Empty);
    assert_eq!(value.partitions, None);
    assert_eq!(value.transaction_timeout_ms, 60_000);
    assert_eq!(
        epoch(&c, ID),
        NO_PRODUCER_EPOCH,
        "not applied before the write"
    );
    let done = ok(&mut c, &write, T0);
    assert_eq!(done.answer, Some(Answer::InitProducerId(Ok(pe(1000, 0)))));
    assert_eq!(epoch(&c, ID), 0);
}

#[test]
fn a_second_init_while_the_first_is_written_is_concurrent_transactions() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    let _write = expect_write(c.init_producer_id(&init_request(ID, None), T0, &mut ids));
    let again = c.init_producer_id(&init_request(ID, None), T0, &mut ids);
    assert_eq!(again, Err(TxnError::ConcurrentTransactions));
}

#[test]
fn a_known_id_keeps_its_producer_id_and_its_epoch_goes_up() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    assert_eq!(init(&mut c, &mut ids, ID, T0), pe(1000, 0));
    assert_eq!(init(&mut c, &mut ids, ID, T0 + 1), pe(1000, 1));
    let p = pe(1000, 1);
    add(&mut c, ID, p, &[tp("t", 0)], V0, T0 + 3);
    end(&mut c, &mut ids, ID, p, true, V0, T0 + 4);
    assert_eq!(init(&mut c, &mut ids, ID, T0 + 5), pe(1000, 2));
}

#[test]
fn init_after_a_completed_transaction_bumps_the_epoch() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    let p = init(&mut c, &mut ids, ID, T0);
    add(&mut c, ID, p, &[tp("t", 0)], V0, T0);
    end(&mut c, &mut ids, ID, p, false, V0, T0);
    assert_eq!(state(&c, ID), TxnState::CompleteAbort);
    assert_eq!(init(&mut c, &mut ids, ID, T0), pe(1000, 1));
    assert_eq!(state(&c, ID), TxnState::Empty);
}

#[test]
fn an_exhausted_epoch_moves_to_a_new_producer_id_at_epoch_0() {
    let meta = idle_meta(TxnState::CompleteCommit, i16::MAX - 1, V0);
    let (mut c, _) = loaded_with(TxnSettings::default(), ID, &meta);
    let mut ids = Ids::new();
    assert_eq!(init(&mut c, &mut ids, ID, T0), pe(1000, 0));
    let meta = c.metadata(ID).unwrap();
    assert_eq!(meta.previous_producer_id, 500);
    assert_eq!(meta.last_producer_epoch, NO_PRODUCER_EPOCH);
}

#[test]
fn an_empty_transactional_id_is_invalid_request() {
    let mut c = coordinator();
    let error = c.init_producer_id(&init_request("", None), T0, &mut Ids::new());
    assert!(matches!(error, Err(TxnError::InvalidRequest(_))));
}

#[test]
fn a_timeout_out_of_range_is_invalid_transaction_timeout() {
    let mut c = coordinator();
    for timeout_ms in [0, -1, 900_001] {
        let request = InitProducerId {
            timeout_ms,
            ..init_request(ID, None)
        };
        let error = c.init_producer_id(&request, T0, &mut Ids::new());
        assert_eq!(error, Err(TxnError::InvalidTransactionTimeout(timeout_ms)));
    }
    let request = InitProducerId {
        timeout_ms: 900_000,
        ..init_request(ID, None)
    };
    assert!(c.init_producer_id(&request, T0, &mut Ids::new()).is_ok());
}

#[test]
fn an_open_transaction_is_aborted_first_and_init_is_told_concurrent_transactions() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    let p = init(&mut c, &mut ids, ID, T0);
    add(&mut c, ID, p, &[tp("t", 0), tp("t", 1)], V0, T0);
    let write = expect_write(c.init_producer_id(&init_request(ID, None), T0 + 5, &mut ids));
    let value = write.value.clone().unwrap();
    assert_eq!(value.state, TxnState::PrepareAbort);
    // Fenced to 1, then the TV2 abort bumps once more.
    assert_eq!(value.producer_epoch, 2);
    let done = ok(&mut c, &write, T0 + 5);
    assert_eq!(
        done.answer,
        Some(Answer::InitProducerId(Err(
            TxnError::ConcurrentTransactions
        )))
    );
    let markers = done.effects.markers[0].clone();
    assert_eq!((markers.producer_id, markers.producer_epoch), (1000, 2));
    assert!(!markers.commit);
    assert_eq!(markers.partitions, [tp("t", 0), tp("t", 1)]);
    // Until the markers are written, the retry waits.
    let retry = c.init_producer_id(&init_request(ID, None), T0 + 6, &mut ids);
    assert_eq!(retry, Err(TxnError::ConcurrentTransactions));
    finish(&mut c, done.effects, T0 + 6);
    assert_eq!(state(&c, ID), TxnState::CompleteAbort);
    assert_eq!(init(&mut c, &mut ids, ID, T0 + 7), pe(1000, 3));
    // The old producer is fenced.
    let old = c.end_txn(ID, 1000, 0, true, V0, T0 + 8, &mut ids);
    assert_eq!(old, Err(TxnError::ProducerFenced));
}

#[test]
fn under_transaction_version_1_the_fence_bumps_the_epoch_once() {
    let settings = TxnSettings {
        transaction_version: V1,
        ..TxnSettings::default()
    };
    let mut c = loaded(settings);
    let mut ids = Ids::new();
    let p = init(&mut c, &mut ids, ID, T0);
    add(&mut c, ID, p, &[tp("t", 0)], V0, T0);
    let write = expect_write(c.init_producer_id(&init_request(ID, None), T0, &mut ids));
    assert_eq!(write.value.as_ref().unwrap().producer_epoch, 1);
    assert_eq!(write.value.as_ref().unwrap().client_transaction_version, 0);
}

#[test]
fn kip_360_the_producer_recovers_with_its_current_id_and_epoch() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    let p = init(&mut c, &mut ids, ID, T0);
    let write = expect_write(c.init_producer_id(&init_request(ID, Some(p)), T0, &mut ids));
    let done = ok(&mut c, &write, T0);
    assert_eq!(done.answer, Some(Answer::InitProducerId(Ok(pe(1000, 1)))));
    assert_eq!(c.metadata(ID).unwrap().last_producer_epoch, 0);
    // Its response was lost: the retry with the old epoch gets the same epoch again.
    let write = expect_write(c.init_producer_id(&init_request(ID, Some(p)), T0, &mut ids));
    let done = ok(&mut c, &write, T0);
    assert_eq!(done.answer, Some(Answer::InitProducerId(Ok(pe(1000, 1)))));
}

#[test]
fn kip_360_another_producer_id_or_an_older_epoch_is_fenced() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    init(&mut c, &mut ids, ID, T0);
    init(&mut c, &mut ids, ID, T0);
    init(&mut c, &mut ids, ID, T0);
    for current in [pe(77, 2), pe(1000, 0)] {
        let error = c.init_producer_id(&init_request(ID, Some(current)), T0, &mut ids);
        assert_eq!(error, Err(TxnError::ProducerFenced), "{current:?}");
    }
}

#[test]
fn kip_360_a_fresh_id_accepts_any_current_producer() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    let request = init_request(ID, Some(pe(77, 4)));
    let write = expect_write(c.init_producer_id(&request, T0, &mut ids));
    let done = ok(&mut c, &write, T0);
    assert_eq!(done.answer, Some(Answer::InitProducerId(Ok(pe(1000, 0)))));
}

#[test]
fn kip_360_a_retry_after_a_rotation_with_the_old_exhausted_id_is_accepted() {
    let meta = idle_meta(TxnState::Empty, i16::MAX - 1, V0);
    let (mut c, _) = loaded_with(TxnSettings::default(), ID, &meta);
    let mut ids = Ids::new();
    let old = pe(500, i16::MAX - 1);
    let write = expect_write(c.init_producer_id(&init_request(ID, Some(old)), T0, &mut ids));
    let done = ok(&mut c, &write, T0);
    assert_eq!(done.answer, Some(Answer::InitProducerId(Ok(pe(1000, 0)))));
    assert_eq!(c.metadata(ID).unwrap().last_producer_epoch, i16::MAX - 1);
    let write = expect_write(c.init_producer_id(&init_request(ID, Some(old)), T0, &mut ids));
    let done = ok(&mut c, &write, T0);
    assert_eq!(done.answer, Some(Answer::InitProducerId(Ok(pe(1000, 0)))));
}

#[test]
fn a_failed_write_answers_its_error_and_changes_nothing() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    init(&mut c, &mut ids, ID, T0);
    for (error, expected) in [
        (
            WriteError::CoordinatorNotAvailable,
            TxnError::CoordinatorNotAvailable,
        ),
        (WriteError::NotCoordinator, TxnError::NotCoordinator),
        (
            WriteError::Failed("too large".into()),
            TxnError::Internal("too large".into()),
        ),
    ] {
        let write = expect_write(c.init_producer_id(&init_request(ID, None), T0, &mut ids));
        let done = c.write_done(ID, write.coordinator_epoch, Err(error), T0);
        assert_eq!(done.answer, Some(Answer::InitProducerId(Err(expected))));
        assert_eq!(epoch(&c, ID), 0);
        assert_eq!(c.pending_state(ID), None);
    }
}

#[test]
fn a_producer_id_that_cannot_be_allocated_is_the_answer() {
    let mut c = coordinator();
    let mut failing = || Err(TxnError::CoordinatorLoadInProgress);
    let error = c.init_producer_id(&init_request(ID, None), T0, &mut failing);
    assert_eq!(error, Err(TxnError::CoordinatorLoadInProgress));
    assert!(c.metadata(ID).is_none());
}

#[test]
fn a_partition_not_led_here_is_not_coordinator_and_one_loading_is_load_in_progress() {
    let mut c = TxnCoordinator::new(TxnSettings::default(), T0);
    let mut ids = Ids::new();
    let error = c.init_producer_id(&init_request(ID, None), T0, &mut ids);
    assert_eq!(error, Err(TxnError::NotCoordinator));
    c.begin_load(c.partition_of(ID), 1);
    let error = c.init_producer_id(&init_request(ID, None), T0, &mut ids);
    assert_eq!(error, Err(TxnError::CoordinatorLoadInProgress));
}

#[test]
fn clients_before_kip_588_get_invalid_producer_epoch_for_fencing() {
    assert!(TxnError::fenced_code_is_legacy(22, 3));
    assert!(!TxnError::fenced_code_is_legacy(22, 4));
    for api in [24, 25, 26] {
        assert!(TxnError::fenced_code_is_legacy(api, 1));
        assert!(!TxnError::fenced_code_is_legacy(api, 2));
    }
    assert!(!TxnError::fenced_code_is_legacy(0, 0));
}
