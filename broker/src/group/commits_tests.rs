//! Offsets committed in transactions, through the coordinator over real partitions.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::group::consumer::assignor::TopicPartitions;
use crate::group::consumer::group::HeartbeatRequest;
use crate::group::tests::{coordinator, offset};
use crate::group::{Join, OffsetAnswer};

const PRODUCER: TxnProducer = TxnProducer {
    producer_id: 4_000,
    producer_epoch: 3,
};

fn committed(groups: &GroupCoordinator, group: &str, stable: bool) -> OffsetAnswer {
    let fetched = groups
        .fetch(group, Some(vec![("t".into(), vec![0])]), stable)
        .unwrap();
    fetched[0].1[0].1.clone()
}

fn partition_of(groups: &GroupCoordinator, group: &str) -> i32 {
    partition_for(group, groups.settings().offsets_partitions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_committed_in_a_transaction_count_only_once_it_commits() {
    let dir = tempfile::tempdir().unwrap();
    let groups = coordinator(dir.path(), false);
    let plain = groups
        .commit("g", "", -1, vec![("t".into(), 0, offset(5, ""))], 1_000)
        .await;
    assert_eq!(plain, [Ok(())]);
    let verdicts = groups
        .txn_commit(
            "g",
            ("", -1),
            PRODUCER,
            vec![("t".into(), 0, offset(9, "txn"))],
            2_000,
        )
        .await;
    assert_eq!(verdicts, [Ok(())]);
    // Open: the offset committed before, or UNSTABLE_OFFSET_COMMIT for a stable read.
    assert_eq!(committed(&groups, "g", false), Ok(Some(offset(5, ""))));
    assert_eq!(
        committed(&groups, "g", true),
        Err(GroupError::UnstableOffsetCommit)
    );
    // A marker of another producer, or on another partition, settles nothing.
    assert_eq!(
        groups.complete_transaction(partition_of(&groups, "g"), 1, true),
        0
    );
    let elsewhere = (partition_of(&groups, "g") + 1) % groups.settings().offsets_partitions;
    assert_eq!(
        groups.complete_transaction(elsewhere, PRODUCER.producer_id, true),
        0
    );
    assert_eq!(
        groups.complete_transaction(partition_of(&groups, "g"), PRODUCER.producer_id, true),
        1
    );
    assert_eq!(committed(&groups, "g", true), Ok(Some(offset(9, "txn"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_of_an_aborted_transaction_are_never_seen() {
    let dir = tempfile::tempdir().unwrap();
    let groups = coordinator(dir.path(), false);
    groups
        .txn_commit(
            "g",
            ("", -1),
            PRODUCER,
            vec![("t".into(), 0, offset(9, ""))],
            2_000,
        )
        .await;
    assert_eq!(
        groups.complete_transaction(partition_of(&groups, "g"), PRODUCER.producer_id, false),
        1
    );
    assert_eq!(committed(&groups, "g", true), Ok(None));
    assert_eq!(committed(&groups, "g", false), Ok(None));
}

fn member_join() -> Join {
    Join {
        member_id: String::new(),
        group_instance_id: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout: Duration::from_secs(10),
        rebalance_timeout: Duration::from_secs(10),
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::new())],
        require_known_member: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transactional_commit_checks_the_member_only_when_it_names_one() {
    let dir = tempfile::tempdir().unwrap();
    let groups = coordinator(dir.path(), false);
    let joined = groups.join("classic", member_join()).await;
    assert_eq!(joined.error, None);
    let commit = || vec![("t".to_owned(), 0, offset(1, ""))];
    let txn = |member: &'static str, generation: i32| {
        let groups = Arc::clone(&groups);
        async move {
            groups
                .txn_commit("classic", (member, generation), PRODUCER, commit(), 1_000)
                .await
        }
    };
    // No member named: a producer outside the group may commit for it, even while it has
    // members (a plain commit could not).
    assert_eq!(txn("", -1).await, [Ok(())]);
    let plain = groups.commit("classic", "", -1, commit(), 1_000).await;
    assert_eq!(plain, [Err(GroupError::UnknownMemberId)]);
    assert_eq!(
        txn("stranger", joined.generation).await,
        [Err(GroupError::UnknownMemberId)]
    );
    let member = groups
        .txn_commit(
            "classic",
            (&joined.member_id, joined.generation + 1),
            PRODUCER,
            commit(),
            1_000,
        )
        .await;
    assert_eq!(member, [Err(GroupError::IllegalGeneration)]);

    // In a consumer group a stale member epoch is ILLEGAL_GENERATION, as Kafka maps it.
    let heartbeat = HeartbeatRequest {
        version: 1,
        member_id: "m".into(),
        member_epoch: 0,
        rebalance_timeout_ms: 10_000,
        subscribed_topic_names: Some(vec!["t".into()]),
        owned: Some(TopicPartitions::new()),
        ..HeartbeatRequest::default()
    };
    let joined = groups.consumer_heartbeat("cg", heartbeat).await.unwrap();
    let stale = groups
        .txn_commit(
            "cg",
            ("m", joined.member_epoch - 1),
            PRODUCER,
            commit(),
            1_000,
        )
        .await;
    assert_eq!(stale, [Err(GroupError::IllegalGeneration)]);
    let current = groups
        .txn_commit("cg", ("m", joined.member_epoch), PRODUCER, commit(), 1_000)
        .await;
    assert_eq!(current, [Ok(())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_markers_in_the_log_decide_the_transactional_offsets() {
    let dir = tempfile::tempdir().unwrap();
    {
        let groups = coordinator(dir.path(), false);
        for (group, producer_id) in [("kept", 10), ("dropped", 11), ("open", 12)] {
            let producer = TxnProducer {
                producer_id,
                producer_epoch: 0,
            };
            let verdicts = groups
                .txn_commit(
                    group,
                    ("", -1),
                    producer,
                    vec![("t".into(), 0, offset(7, ""))],
                    1_000,
                )
                .await;
            assert_eq!(verdicts, [Ok(())]);
            if group == "open" {
                continue;
            }
            // The marker as the transaction coordinator writes it, then the completion.
            let index = partition_of(&groups, group);
            let partition = groups.topics.partition(CONSUMER_OFFSETS, index).unwrap();
            let commit = group == "kept";
            let appended = partition
                .write_marker(producer_id, 0, 0, commit, 2_000)
                .unwrap();
            appended.durable.await.unwrap();
            assert_eq!(groups.complete_transaction(index, producer_id, commit), 1);
        }
    }
    let groups = coordinator(dir.path(), false);
    assert_eq!(committed(&groups, "kept", true), Ok(Some(offset(7, ""))));
    assert_eq!(committed(&groups, "dropped", true), Ok(None));
    assert_eq!(
        committed(&groups, "open", true),
        Err(GroupError::UnstableOffsetCommit),
        "a transaction with no marker is still open after the restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transactional_commit_is_written_whatever_the_producers_epoch() {
    let dir = tempfile::tempdir().unwrap();
    {
        let groups = coordinator(dir.path(), false);
        let index = partition_of(&groups, "g");
        let partition = groups.topics.partition(CONSUMER_OFFSETS, index).unwrap();
        // Three transactions of one producer epoch (librdkafka), then one at a bumped epoch
        // (a restarted producer, or Transactions V2): each commit is written and counts.
        for (at, epoch) in [(10, 0), (20, 0), (30, 0), (40, 1)] {
            let producer = TxnProducer {
                producer_id: 77,
                producer_epoch: epoch,
            };
            let verdicts = groups
                .txn_commit(
                    "g",
                    ("", -1),
                    producer,
                    vec![("t".into(), 0, offset(at, ""))],
                    1_000,
                )
                .await;
            assert_eq!(verdicts, [Ok(())], "the commit at {at}");
            let appended = partition.write_marker(77, epoch, 0, true, 2_000).unwrap();
            appended.durable.await.unwrap();
            assert_eq!(groups.complete_transaction(index, 77, true), 1);
            assert_eq!(committed(&groups, "g", true), Ok(Some(offset(at, ""))));
        }
    }
    let groups = coordinator(dir.path(), false);
    assert_eq!(
        committed(&groups, "g", true),
        Ok(Some(offset(40, ""))),
        "the last commit is the one in the log"
    );
}
