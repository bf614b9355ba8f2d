//! Groups written to `__consumer_offsets` and found again after a restart (the same log,
//! loaded again).

use std::time::Duration;

use bytes::Bytes;

use super::super::tests::{coordinator, offset};
use crate::group::{CommittedOffset, GroupError, GroupState, Join};

fn join(member_id: &str) -> Join {
    Join {
        member_id: member_id.to_owned(),
        group_instance_id: None,
        client_id: "c".to_owned(),
        client_host: "/127.0.0.1".to_owned(),
        session_timeout: Duration::from_secs(30),
        rebalance_timeout: Duration::from_secs(30),
        protocol_type: "consumer".to_owned(),
        protocols: vec![("range".to_owned(), Bytes::from_static(b"subscription"))],
        require_known_member: false,
    }
}

/// A one-member group taken to Stable: `(member, generation)`.
async fn stable_member(
    groups: &std::sync::Arc<super::GroupCoordinator>,
    group: &str,
) -> (String, i32) {
    let answer = groups.join(group, join("")).await;
    assert_eq!(answer.error, None);
    let member = answer.member_id;
    let assignment = groups
        .sync(
            group,
            (&member, None),
            answer.generation,
            (None, None),
            vec![(member.clone(), Bytes::from_static(b"assigned"))],
        )
        .await;
    assert_eq!(assignment, Ok(Bytes::from_static(b"assigned")));
    (member, answer.generation)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stable_group_is_found_after_a_restart_and_its_members_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let groups = coordinator(dir.path(), false);
    let first = groups.join("g", join("")).await;
    let a = first.member_id.clone();
    // A second member: both rejoin into generation 2, the first leads.
    let (b_answer, a_answer) = tokio::join!(groups.join("g", join("")), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        groups.join("g", join(&a)).await
    });
    assert_eq!((a_answer.error, b_answer.error), (None, None));
    let generation = a_answer.generation;
    assert_eq!(a_answer.leader, a);
    let b = b_answer.member_id;
    let (b_sync, a_sync) = tokio::join!(
        groups.sync("g", (&b, None), generation, (None, None), vec![]),
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            groups
                .sync(
                    "g",
                    (&a, None),
                    generation,
                    (None, None),
                    vec![
                        (a.clone(), Bytes::from_static(b"A")),
                        (b.clone(), Bytes::from_static(b"B")),
                    ],
                )
                .await
        }
    );
    assert_eq!(a_sync, Ok(Bytes::from_static(b"A")));
    assert_eq!(b_sync, Ok(Bytes::from_static(b"B")));
    drop(groups);

    let reopened = coordinator(dir.path(), false);
    let described = reopened.describe("g").unwrap();
    assert_eq!(described.state, GroupState::Stable);
    assert_eq!(described.protocol_type, "consumer");
    assert_eq!(described.protocol, "range");
    let members: Vec<_> = described
        .members
        .iter()
        .map(|m| {
            (
                m.member_id.clone(),
                m.client_host.as_str(),
                m.assignment.clone(),
            )
        })
        .collect();
    assert_eq!(
        members,
        vec![
            (a.clone(), "/127.0.0.1", Bytes::from_static(b"A")),
            (b.clone(), "/127.0.0.1", Bytes::from_static(b"B")),
        ]
    );
    assert_eq!(
        described.members[0].metadata,
        Bytes::from_static(b"subscription")
    );
    // Both members heartbeat on at their generation: no rebalance.
    assert_eq!(reopened.heartbeat("g", &a, None, generation), Ok(()));
    assert_eq!(reopened.heartbeat("g", &b, None, generation), Ok(()));
    assert_eq!(
        reopened.heartbeat("g", &b, None, generation + 1),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(
        reopened
            .sync("g", (&b, None), generation, (None, None), vec![])
            .await,
        Ok(Bytes::from_static(b"B"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_groups_come_back_empty_and_deleted_or_expired_ones_do_not_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let groups = coordinator(dir.path(), false);
    for group in ["empty", "deleted", "expired"] {
        let (member, _) = stable_member(&groups, group).await;
        groups.leave(group, &member, None).unwrap();
    }
    assert_eq!(groups.delete_group("deleted", 0).await, Ok(()));
    assert_eq!(groups.describe("expired").unwrap().state, GroupState::Empty);
    // An empty group without offsets goes at the next expiry check; "empty" has fresh ones.
    let now = crate::api::now_ms();
    let fresh = CommittedOffset {
        commit_timestamp: now,
        ..offset(3, "")
    };
    let verdicts = groups
        .commit("empty", "", -1, vec![("t".into(), 0, fresh)], now)
        .await;
    assert_eq!(verdicts, vec![Ok(())]);
    assert_eq!(groups.expire_offsets(now).await, 0);
    assert_eq!(groups.describe("expired").unwrap().state, GroupState::Dead);
    // Let the empty groups' records become durable.
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(groups);

    let reopened = coordinator(dir.path(), false);
    let empty = reopened.describe("empty").unwrap();
    assert_eq!(empty.state, GroupState::Empty);
    assert_eq!(empty.protocol_type, "consumer");
    assert!(empty.members.is_empty());
    assert_eq!(
        reopened.describe("deleted").unwrap().state,
        GroupState::Dead
    );
    assert_eq!(
        reopened.describe("expired").unwrap().state,
        GroupState::Dead
    );
    assert_eq!(
        reopened.list(&[]),
        vec![("empty".to_owned(), "consumer".to_owned(), GroupState::Empty)]
    );
    // The empty group goes on from its generation.
    let answer = reopened.join("empty", join("")).await;
    assert_eq!(answer.generation, 3, "generation 1, Empty at 2, then 3");
}
