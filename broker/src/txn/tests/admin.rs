//! DescribeTransactions and ListTransactions.

use super::*;
use TransactionVersion::*;

#[test]
fn state_names_are_kafkas() {
    let names: Vec<&str> = TxnState::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        [
            "Empty",
            "Ongoing",
            "PrepareCommit",
            "PrepareAbort",
            "CompleteCommit",
            "CompleteAbort",
            "Dead",
            "PrepareEpochFence"
        ]
    );
    for state in TxnState::ALL {
        assert_eq!(TxnState::from_name(state.name()), Some(state));
        assert_eq!(TxnState::from_id(state.id()), Some(state));
    }
}

#[test]
fn describe_reports_the_open_transaction() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    let p = init(&mut c, &mut ids, ID, T0);
    add(
        &mut c,
        ID,
        p,
        &[tp("b", 2), tp("a", 1), tp("b", 0)],
        V0,
        T0 + 3,
    );
    let described = c.describe(ID).unwrap();
    let expected = TxnDescription {
        transactional_id: ID.into(),
        state: "Ongoing",
        producer_id: 1000,
        producer_epoch: 0,
        timeout_ms: 60_000,
        start_timestamp_ms: T0 + 3,
        topics: vec![("a".into(), vec![1]), ("b".into(), vec![0, 2])],
    };
    assert_eq!(described, expected);
}

#[test]
fn describe_refusals() {
    let mut c = coordinator();
    assert_eq!(c.describe("nope"), Err(TxnError::TransactionalIdNotFound));
    assert!(matches!(c.describe(""), Err(TxnError::InvalidRequest(_))));
    c.unload(c.partition_of(ID));
    assert_eq!(c.describe(ID), Err(TxnError::NotCoordinator));
}

#[test]
fn list_filters_by_state_producer_id_and_duration() {
    let mut c = coordinator();
    let mut ids = Ids::new();
    let a = init(&mut c, &mut ids, "a", T0);
    add(&mut c, "a", a, &[tp("t", 0)], V0, T0);
    init(&mut c, &mut ids, "b", T0);
    let all = c
        .list(
            &ListFilter {
                duration_ms: -1,
                ..ListFilter::default()
            },
            T0,
        )
        .unwrap();
    let names: Vec<(&str, i64, &str)> = all
        .transactions
        .iter()
        .map(|t| (t.transactional_id.as_str(), t.producer_id, t.state))
        .collect();
    assert_eq!(names, [("a", 1000, "Ongoing"), ("b", 1001, "Empty")]);
    let filter = ListFilter {
        states: vec!["Ongoing".into(), "Bogus".into()],
        duration_ms: -1,
        ..ListFilter::default()
    };
    let ongoing = c.list(&filter, T0).unwrap();
    assert_eq!(ongoing.transactions.len(), 1);
    assert_eq!(ongoing.unknown_state_filters, ["Bogus"]);
    let filter = ListFilter {
        producer_ids: vec![1001],
        duration_ms: -1,
        ..ListFilter::default()
    };
    assert_eq!(
        c.list(&filter, T0).unwrap().transactions[0].transactional_id,
        "b"
    );
    let long = ListFilter {
        states: vec!["Ongoing".into()],
        duration_ms: 500,
        ..ListFilter::default()
    };
    assert!(c.list(&long, T0 + 500).unwrap().transactions.is_empty());
    assert_eq!(c.list(&long, T0 + 501).unwrap().transactions.len(), 1);
}

#[test]
fn list_while_a_partition_loads_is_load_in_progress() {
    let mut c = coordinator();
    c.begin_load(3, EPOCH + 1);
    let filter = ListFilter::default();
    assert_eq!(
        c.list(&filter, T0),
        Err(TxnError::CoordinatorLoadInProgress)
    );
}
