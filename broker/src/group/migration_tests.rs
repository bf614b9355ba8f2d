//! Groups moving between the protocols through the coordinator, over real partitions: the
//! requests classic and consumer-protocol clients send, the records, a restart.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut as _, Bytes, BytesMut};
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::{Encodable as _, StrBytes};

use super::embedded::{decode_assignment, encode_assignment};
use crate::group::consumer::assignor::TopicPartitions;
use crate::group::consumer::group::HeartbeatRequest;
use crate::group::tests::{coordinator, coordinator_with, offset, settings};
use crate::group::{GroupCoordinator, GroupError, GroupState, Join, JoinAnswer};

fn subscription(topics: &[&str]) -> Bytes {
    let subscription = ConsumerProtocolSubscription::default().with_topics(
        topics
            .iter()
            .map(|t| StrBytes::from_string((*t).to_owned()))
            .collect(),
    );
    let mut out = BytesMut::new();
    out.put_i16(1);
    subscription.encode(&mut out, 1).expect("encodes");
    out.freeze()
}

fn classic(member_id: &str) -> Join {
    Join {
        member_id: member_id.to_owned(),
        group_instance_id: None,
        client_id: "classic".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout: Duration::from_secs(10),
        rebalance_timeout: Duration::from_secs(10),
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), subscription(&["t"]))],
        require_known_member: false,
    }
}

fn consumer_join(member: &str) -> HeartbeatRequest {
    HeartbeatRequest {
        version: 1,
        member_id: member.to_owned(),
        member_epoch: 0,
        rebalance_timeout_ms: 10_000,
        subscribed_topic_names: Some(vec!["t".into()]),
        owned: Some(TopicPartitions::new()),
        ..HeartbeatRequest::default()
    }
}

fn beat(member: &str, epoch: i32, owned: &TopicPartitions) -> HeartbeatRequest {
    HeartbeatRequest {
        version: 1,
        member_id: member.to_owned(),
        member_epoch: epoch,
        rebalance_timeout_ms: -1,
        owned: Some(owned.clone()),
        ..HeartbeatRequest::default()
    }
}

fn partitions(assignment: &Bytes) -> Vec<i32> {
    decode_assignment(assignment)
        .expect("an assignment")
        .into_iter()
        .flat_map(|(_, partitions)| partitions)
        .collect()
}

/// A classic group "g" of one member that holds both partitions of "t" and has committed.
async fn classic_group(groups: &Arc<GroupCoordinator>) -> JoinAnswer {
    let joined = groups.join("g", classic("")).await;
    assert_eq!(joined.error, None);
    let assignment = encode_assignment(1, &[("t".into(), vec![0, 1])]);
    let synced = groups
        .sync(
            "g",
            (&joined.member_id, None),
            joined.generation,
            (Some("consumer"), Some("range")),
            vec![(joined.member_id.clone(), assignment)],
        )
        .await
        .expect("synced");
    assert_eq!(partitions(&synced), [0, 1]);
    let committed = groups
        .commit(
            "g",
            &joined.member_id,
            joined.generation,
            vec![("t".into(), 0, offset(42, ""))],
            1_000,
        )
        .await;
    assert_eq!(committed, [Ok(())]);
    joined
}

/// The classic member's rejoin and sync: its generation and partitions.
async fn classic_rejoin(groups: &Arc<GroupCoordinator>, member: &str) -> (i32, Vec<i32>) {
    let joined = groups.join("g", classic(member)).await;
    assert_eq!(joined.error, None, "{joined:?}");
    let synced = groups
        .sync(
            "g",
            (member, None),
            joined.generation,
            (Some("consumer"), joined.protocol_name.as_deref()),
            Vec::new(),
        )
        .await
        .expect("synced");
    (joined.generation, partitions(&synced))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_classic_group_upgrades_when_a_consumer_member_joins_and_downgrades_when_it_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let groups = coordinator(dir.path(), false);
    let a = classic_group(&groups).await;
    let a_id = a.member_id.clone();

    // A consumer-protocol member joins: the group converts, a keeps its partitions for now.
    let joined = groups
        .consumer_heartbeat("g", consumer_join("m"))
        .await
        .expect("the group upgrades");
    assert!(groups.is_consumer_group("g"));
    assert_eq!(joined.member_epoch, a.generation + 1);
    assert_eq!(joined.assignment, Some(TopicPartitions::new()));
    let described = groups.describe_consumer_group("g").unwrap();
    let (member_a, _) = described
        .members
        .iter()
        .find(|(m, _)| m.member_id == a_id)
        .expect("a is a member");
    assert!(member_a.classic.is_some());
    assert_eq!(member_a.member_epoch, a.generation);

    // a hears of the rebalance, rejoins owning nothing (eager), and gets its share.
    assert_eq!(
        groups.heartbeat("g", &a_id, None, a.generation),
        Err(GroupError::RebalanceInProgress)
    );
    let (generation, kept) = classic_rejoin(&groups, &a_id).await;
    assert_eq!(generation, joined.member_epoch);
    assert_eq!(kept.len(), 1);
    assert_eq!(groups.heartbeat("g", &a_id, None, generation), Ok(()));
    // m gets the other partition now that a released it.
    let answer = groups
        .consumer_heartbeat("g", beat("m", joined.member_epoch, &TopicPartitions::new()))
        .await
        .unwrap();
    let taken: Vec<i32> = answer
        .assignment
        .expect("an assignment")
        .values()
        .flatten()
        .copied()
        .collect();
    assert_eq!(taken.len(), 1);
    assert_ne!(taken, kept);
    // A classic commit uses the generation; the offset committed before is still there.
    let stale = groups
        .commit(
            "g",
            &a_id,
            a.generation,
            vec![("t".into(), 1, offset(7, ""))],
            2_000,
        )
        .await;
    assert_eq!(stale, [Err(GroupError::IllegalGeneration)]);
    let current = groups
        .commit(
            "g",
            &a_id,
            generation,
            vec![("t".into(), 1, offset(7, ""))],
            2_000,
        )
        .await;
    assert_eq!(current, [Ok(())]);
    let fetched = groups.fetch("g", None, false).unwrap();
    assert_eq!(fetched.len(), 1, "{fetched:?}");
    assert_eq!(fetched[0].1.len(), 2, "both commits: {fetched:?}");

    // m leaves: only a classic member is left, the group is classic again and rebalances.
    let mut leave = beat("m", answer.member_epoch, &TopicPartitions::new());
    leave.member_epoch = -1;
    groups.consumer_heartbeat("g", leave).await.unwrap();
    assert!(!groups.is_consumer_group("g"));
    assert_eq!(
        groups.describe("g").unwrap().state,
        GroupState::PreparingRebalance
    );
    assert_eq!(
        groups.heartbeat("g", &a_id, None, generation),
        Err(GroupError::RebalanceInProgress)
    );
    let joined = groups.join("g", classic(&a_id)).await;
    assert_eq!(
        (joined.error, joined.leader.as_str()),
        (None, a_id.as_str())
    );
    assert!(joined.generation > generation);
    let all = encode_assignment(1, &[("t".into(), vec![0, 1])]);
    let synced = groups
        .sync(
            "g",
            (&a_id, None),
            joined.generation,
            (Some("consumer"), Some("range")),
            vec![(a_id.clone(), all)],
        )
        .await
        .unwrap();
    assert_eq!(partitions(&synced), [0, 1]);
    assert_eq!(groups.fetch("g", None, false).unwrap()[0].1.len(), 2);

    // After a restart the group is the classic group it last was.
    drop(groups);
    let groups = coordinator(dir.path(), false);
    assert!(!groups.is_consumer_group("g"));
    let described = groups.describe("g").unwrap();
    assert_eq!(
        (described.state, described.members.len()),
        (GroupState::Stable, 1)
    );
    assert_eq!(
        groups.heartbeat("g", &a_id, None, joined.generation),
        Ok(())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_group_comes_back_after_a_restart_with_its_classic_member() {
    let dir = tempfile::tempdir().unwrap();
    let a = {
        let groups = coordinator(dir.path(), false);
        let a = classic_group(&groups).await;
        groups
            .consumer_heartbeat("g", consumer_join("m"))
            .await
            .unwrap();
        a
    };
    let groups = coordinator(dir.path(), false);
    assert!(groups.is_consumer_group("g"));
    let described = groups.describe_consumer_group("g").unwrap();
    assert_eq!(described.members.len(), 2);
    let (member_a, _) = described
        .members
        .iter()
        .find(|(m, _)| m.member_id == a.member_id)
        .unwrap();
    let classic = member_a.classic.as_ref().expect("still a classic member");
    assert_eq!(classic.session_timeout_ms, 10_000);
    assert_eq!(
        member_a.assigned.values().map(|p| p.len()).sum::<usize>(),
        2
    );
    // It goes on with the classic protocol: told to rejoin, which it can.
    assert_eq!(
        groups.heartbeat("g", &a.member_id, None, a.generation),
        Err(GroupError::RebalanceInProgress)
    );
    let (_, kept) = classic_rejoin(&groups, &a.member_id).await;
    assert_eq!(kept.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_policy_or_the_consumer_protocol_type_a_classic_group_does_not_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let mut disabled = settings();
    disabled.group_consumer_migration_policy = "downgrade".into();
    let groups = coordinator_with(dir.path(), false, disabled);
    let a = classic_group(&groups).await;
    let refused = groups
        .consumer_heartbeat("g", consumer_join("m"))
        .await
        .unwrap_err();
    assert_eq!(refused.to_string(), GroupError::GroupIdNotFound.to_string());
    assert!(!groups.is_consumer_group("g"));
    assert_eq!(
        groups.heartbeat("g", &a.member_id, None, a.generation),
        Ok(())
    );

    // A group of another protocol type (Connect workers, say) never converts.
    let groups = coordinator(tempfile::tempdir().unwrap().path(), false);
    let mut worker = classic("");
    worker.protocol_type = "connect".into();
    let joined = groups.join("w", worker).await;
    assert_eq!(joined.error, None);
    let refused = groups
        .consumer_heartbeat("w", consumer_join("m"))
        .await
        .unwrap_err();
    assert_eq!(refused.to_string(), GroupError::GroupIdNotFound.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_a_full_group_refuses_leaves_the_classic_group_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let mut one_member = settings();
    one_member.group_consumer_max_size = 1;
    let groups = coordinator_with(dir.path(), false, one_member);
    let a = classic_group(&groups).await;
    let refused = groups
        .consumer_heartbeat("g", consumer_join("m"))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("group.consumer.max.size"),
        "{refused}"
    );
    assert!(!groups.is_consumer_group("g"));
    assert_eq!(
        groups.heartbeat("g", &a.member_id, None, a.generation),
        Ok(())
    );
    drop(groups);
    let groups = coordinator(dir.path(), false);
    assert!(
        !groups.is_consumer_group("g"),
        "nothing of the conversion was written"
    );
    assert_eq!(groups.describe("g").unwrap().members.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_protocol_member_must_commit_with_offset_commit_v9() {
    let dir = tempfile::tempdir().unwrap();
    let groups = coordinator(dir.path(), false);
    let joined = groups
        .consumer_heartbeat("cg", consumer_join("m"))
        .await
        .unwrap();
    let commit = || vec![("t".to_owned(), 0, offset(1, ""))];
    let old = groups
        .commit_with_version("cg", "m", joined.member_epoch, 8, commit(), 1_000)
        .await;
    assert_eq!(old, [Err(GroupError::UnsupportedVersion)]);
    let new = groups
        .commit_with_version("cg", "m", joined.member_epoch, 9, commit(), 1_000)
        .await;
    assert_eq!(new, [Ok(())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_classic_join_takes_the_id_of_an_empty_consumer_group() {
    let dir = tempfile::tempdir().unwrap();
    let groups = coordinator(dir.path(), false);
    let joined = groups
        .consumer_heartbeat("g", consumer_join("m"))
        .await
        .unwrap();
    let mut leave = beat("m", joined.member_epoch, &TopicPartitions::new());
    leave.member_epoch = -1;
    groups.consumer_heartbeat("g", leave).await.unwrap();
    assert!(
        groups.is_consumer_group("g"),
        "empty, it stays until it expires"
    );
    let a = classic_group(&groups).await;
    assert!(!groups.is_consumer_group("g"));
    drop(groups);
    let groups = coordinator(dir.path(), false);
    assert!(
        !groups.is_consumer_group("g"),
        "its tombstones are in the log"
    );
    assert_eq!(
        groups.heartbeat("g", &a.member_id, None, a.generation),
        Ok(())
    );
}
