//! Consumer groups through the coordinator over real partitions.

use std::sync::Arc;

use super::*;
use crate::group::tests::coordinator;

fn join(member: &str, topics: &[&str]) -> HeartbeatRequest {
    HeartbeatRequest {
        version: 1,
        member_id: member.to_owned(),
        member_epoch: 0,
        rebalance_timeout_ms: 30_000,
        subscribed_topic_names: Some(topics.iter().map(|t| (*t).to_owned()).collect()),
        owned: Some(TopicPartitions::new()),
        ..HeartbeatRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_member_gets_every_partition_of_its_topic_and_the_records_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let groups = coordinator(dir.path(), false);
    let index = groups.offsets_partition("cg");
    let partition = groups.topics.partition(CONSUMER_OFFSETS, index).unwrap();
    let before = partition.offsets().log_end;
    let answer = groups
        .consumer_heartbeat("cg", join("m1", &["t"]))
        .await
        .unwrap();
    assert_eq!(answer.member_epoch, 1);
    let assigned = answer.assignment.unwrap();
    assert_eq!(assigned.values().map(|p| p.len()).sum::<usize>(), 2);
    assert!(
        partition.offsets().log_end > before,
        "records were appended"
    );
    let described = groups.describe_consumer_group("cg").unwrap();
    assert_eq!(described.state, "Stable");
    assert_eq!(described.group_epoch, 1);
    assert_eq!(described.assignor, "uniform");
    assert_eq!(
        groups.list_consumer_groups(&[]),
        vec![("cg".into(), "Stable")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_must_carry_the_members_current_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let groups = coordinator(dir.path(), false);
    groups
        .consumer_heartbeat("cg", join("m1", &["t"]))
        .await
        .unwrap();
    let commit = || vec![("t".to_owned(), 0, crate::group::tests::offset(5, ""))];
    let stale = groups.commit("cg", "m1", 0, commit(), 1_000).await;
    assert_eq!(stale, vec![Err(GroupError::StaleMemberEpoch)]);
    let unknown = groups.commit("cg", "nobody", 1, commit(), 1_000).await;
    assert_eq!(unknown, vec![Err(GroupError::UnknownMemberId)]);
    let outside = groups.commit("cg", "", -1, commit(), 1_000).await;
    assert_eq!(outside, vec![Err(GroupError::UnknownMemberId)]);
    let current = groups.commit("cg", "m1", 1, commit(), 1_000).await;
    assert_eq!(current, vec![Ok(())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regex_subscription_follows_topics_created_later() {
    let dir = tempfile::tempdir().unwrap();
    let groups = coordinator(dir.path(), false);
    let mut request = join("m1", &[]);
    request.subscribed_topic_names = None;
    request.subscribed_topic_regex = Some("orders.*".into());
    let first = groups.consumer_heartbeat("cg", request).await.unwrap();
    assert!(first.assignment.unwrap().is_empty());
    groups
        .topics
        .create(
            &crate::topics::NewTopic {
                name: "orders-eu".to_owned(),
                partitions: 3,
                replication_factor: -1,
                configs: Default::default(),
            },
            false,
        )
        .unwrap();
    let next = HeartbeatRequest {
        version: 1,
        member_id: "m1".into(),
        member_epoch: first.member_epoch,
        rebalance_timeout_ms: -1,
        ..HeartbeatRequest::default()
    };
    let answer = groups.consumer_heartbeat("cg", next).await.unwrap();
    assert!(answer.member_epoch > first.member_epoch);
    let assigned = answer.assignment.unwrap();
    assert_eq!(assigned.values().map(|p| p.len()).sum::<usize>(), 3);
}

fn classic_join() -> crate::group::Join {
    crate::group::Join {
        member_id: String::new(),
        group_instance_id: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout: std::time::Duration::from_secs(10),
        rebalance_timeout: std::time::Duration::from_secs(10),
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::new())],
        require_known_member: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_regex_and_members_without_a_consumer_subscription_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let groups = coordinator(dir.path(), false);
    let mut request = join("m1", &[]);
    request.subscribed_topic_regex = Some("(unclosed".into());
    let error = groups.consumer_heartbeat("cg", request).await.unwrap_err();
    assert!(matches!(error, ConsumerHeartbeatError::Regex(_)), "{error}");
    assert!(!groups.is_consumer_group("cg"));

    let classic = classic_join();
    // The join waits for its phase to end (no tick runs here): the member is in the group.
    let joining = {
        let groups = Arc::clone(&groups);
        tokio::spawn(async move { groups.join("classic", classic).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let error = groups
        .consumer_heartbeat("classic", join("m1", &["t"]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ConsumerHeartbeatError::Coordinator(GroupError::GroupIdNotFound)
        ),
        "{error}"
    );
    joining.abort();

    // A classic group whose member's metadata is no consumer subscription cannot convert
    // (above); nor can such a member join a consumer group with members.
    groups
        .consumer_heartbeat("cg", join("m1", &["t"]))
        .await
        .unwrap();
    let answer = groups.join("cg", classic_join()).await;
    assert_eq!(answer.error, Some(GroupError::InconsistentGroupProtocol));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_members_go_on_at_their_epochs_without_a_new_assignment() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = {
        let groups = coordinator(dir.path(), false);
        let first = groups
            .consumer_heartbeat("cg", join("m1", &["t"]))
            .await
            .unwrap();
        // m2 joins: m1 must give up one partition before m2 gets it.
        let second = groups
            .consumer_heartbeat("cg", join("m2", &["t"]))
            .await
            .unwrap();
        (first, second)
    };
    assert_eq!(first.member_epoch, 1);
    assert_eq!(second.member_epoch, 2);
    let groups = coordinator(dir.path(), false);
    let described = groups.describe_consumer_group("cg").unwrap();
    assert_eq!(described.group_epoch, 2);
    assert_eq!(described.assignment_epoch, 2);
    assert_eq!(described.members.len(), 2);
    let member = |id: &str| {
        described
            .members
            .iter()
            .find(|(m, _)| m.member_id == id)
            .cloned()
            .unwrap()
    };
    // m1 has not heartbeaten since m2 joined: still at epoch 1 with both partitions; m2 waits
    // for the one m1 must give up.
    let (m1, kept) = member("m1");
    assert_eq!((m1.member_epoch, m1.state), (1, MemberState::Stable));
    assert_eq!(m1.assigned.values().map(|p| p.len()).sum::<usize>(), 2);
    let (m2, wanted) = member("m2");
    assert_eq!(m2.state, MemberState::UnreleasedPartitions);
    assert_eq!(
        kept.values()
            .chain(wanted.values())
            .map(|p| p.len())
            .sum::<usize>(),
        2
    );

    // m1 goes on at epoch 1: it is told to revoke, then, owning only what it keeps, it moves
    // to epoch 2. No new target was computed (the group epoch stays 2).
    let beat = |epoch: i32, owned: &TopicPartitions| HeartbeatRequest {
        version: 1,
        member_id: "m1".into(),
        member_epoch: epoch,
        rebalance_timeout_ms: -1,
        owned: Some(owned.clone()),
        ..HeartbeatRequest::default()
    };
    let revoke = groups
        .consumer_heartbeat("cg", beat(1, &m1.assigned))
        .await
        .unwrap();
    assert_eq!(revoke.member_epoch, 1);
    assert_eq!(revoke.assignment, Some(kept.clone()));
    let answer = groups
        .consumer_heartbeat("cg", beat(1, &kept))
        .await
        .unwrap();
    assert_eq!(answer.member_epoch, 2);
    assert_eq!(groups.describe_consumer_group("cg").unwrap().group_epoch, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_fetch_checks_the_member_epoch_and_delete_waits_for_the_group_to_empty() {
    let dir = tempfile::tempdir().unwrap();
    let groups = coordinator(dir.path(), false);
    let joined = groups
        .consumer_heartbeat("cg", join("m1", &["t"]))
        .await
        .unwrap();
    assert_eq!(groups.check_offset_fetch("cg", Some("m1"), 1), Ok(()));
    assert_eq!(groups.check_offset_fetch("cg", None, -1), Ok(()));
    assert_eq!(
        groups.check_offset_fetch("cg", Some("m1"), 0),
        Err(GroupError::StaleMemberEpoch)
    );
    assert_eq!(
        groups.check_offset_fetch("cg", Some("m9"), 1),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(
        groups.delete_group("cg", 1_000).await,
        Err(GroupError::NonEmptyGroup)
    );
    let leave = HeartbeatRequest {
        version: 1,
        member_id: "m1".into(),
        member_epoch: -1,
        rebalance_timeout_ms: -1,
        ..HeartbeatRequest::default()
    };
    let left = groups.consumer_heartbeat("cg", leave).await.unwrap();
    assert_eq!((left.member_id, left.member_epoch), (joined.member_id, -1));
    assert_eq!(
        groups.list_consumer_groups(&[]),
        vec![("cg".into(), "Empty")]
    );
    groups.delete_group("cg", 1_000).await.unwrap();
    assert!(!groups.is_consumer_group("cg"));
    assert_eq!(
        groups.delete_group("cg", 1_000).await,
        Err(GroupError::GroupIdNotFound)
    );
    // Deleted for good: a reload does not bring it back.
    drop(groups);
    let groups = coordinator(dir.path(), false);
    assert!(!groups.is_consumer_group("cg"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_consumer_group_goes_once_its_offsets_expire() {
    let dir = tempfile::tempdir().unwrap();
    let groups = coordinator(dir.path(), false);
    for group in ["busy", "idle"] {
        groups
            .consumer_heartbeat(group, join("m1", &["t"]))
            .await
            .unwrap();
        let commit = vec![("t".to_owned(), 0, crate::group::tests::offset(5, ""))];
        assert_eq!(
            groups.commit(group, "m1", 1, commit, 1_000).await,
            vec![Ok(())]
        );
    }
    let leave = HeartbeatRequest {
        version: 1,
        member_id: "m1".into(),
        member_epoch: -1,
        rebalance_timeout_ms: -1,
        ..HeartbeatRequest::default()
    };
    groups.consumer_heartbeat("idle", leave).await.unwrap();
    // The tick marks groups with members as active, as the coordinator's loop does.
    let now_ms = crate::api::now_ms();
    groups.tick_consumer_groups(Instant::now(), now_ms);
    let later = now_ms + groups.settings.offsets_retention_ms + 1;
    groups.expire_offsets(later).await;
    assert!(
        groups.is_consumer_group("busy"),
        "a group with members stays"
    );
    assert!(!groups.is_consumer_group("idle"));
    drop(groups);
    let groups = coordinator(dir.path(), false);
    assert!(groups.is_consumer_group("busy"));
    assert!(
        !groups.is_consumer_group("idle"),
        "its tombstones were written"
    );
}
