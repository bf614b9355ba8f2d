//! The coordinator over real partitions: commits go through `__consumer_offsets` and come
//! back after a restart.

use super::*;
use crate::config::BrokerSettings;
use crate::topics::NewTopic;

pub(super) fn settings() -> BrokerSettings {
    BrokerSettings {
        offsets_topic_num_partitions: 3,
        group_initial_rebalance_delay_ms: 0,
        ..BrokerSettings::default()
    }
}

pub(super) fn coordinator(dir: &std::path::Path, clean: bool) -> Arc<GroupCoordinator> {
    coordinator_with(dir, clean, settings())
}

pub(super) fn coordinator_with(
    dir: &std::path::Path,
    clean: bool,
    settings: BrokerSettings,
) -> Arc<GroupCoordinator> {
    let topics = Arc::new(Topics::open(dir, settings.clone(), clean).unwrap());
    if !topics.snapshot().topics.contains_key("t") {
        topics
            .create(
                &NewTopic {
                    name: "t".to_owned(),
                    partitions: 2,
                    replication_factor: -1,
                    configs: BTreeMap::new(),
                },
                false,
            )
            .unwrap();
    }
    let coordinator = GroupCoordinator::new(topics, GroupSettings::from(&settings));
    coordinator.ensure_offsets_topic().unwrap();
    for index in 0..3 {
        coordinator.load(index);
    }
    coordinator
}

pub(super) fn offset(offset: i64, metadata: &str) -> CommittedOffset {
    CommittedOffset {
        offset,
        leader_epoch: 0,
        metadata: metadata.to_owned(),
        commit_timestamp: 1_000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_are_fetched_back_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let groups = coordinator(dir.path(), false);
    let verdicts = groups
        .commit(
            "g",
            "",
            -1,
            vec![
                ("t".into(), 0, offset(10, "a")),
                ("t".into(), 1, offset(20, "")),
                ("missing".into(), 0, offset(5, "")),
                ("t".into(), 0, offset(11, &"x".repeat(5_000))),
            ],
            1_000,
        )
        .await;
    assert_eq!(
        verdicts,
        vec![
            Ok(()),
            Ok(()),
            Err(GroupError::UnknownTopicOrPartition),
            Err(GroupError::OffsetMetadataTooLarge)
        ]
    );
    let fetched = groups
        .fetch("g", Some(vec![("t".into(), vec![0, 1, 7])]), false)
        .unwrap();
    assert_eq!(
        fetched,
        vec![(
            "t".to_owned(),
            vec![
                (0, Ok(Some(offset(10, "a")))),
                (1, Ok(Some(offset(20, "")))),
                (7, Ok(None))
            ]
        )]
    );
    groups
        .commit("g", "", -1, vec![("t".into(), 0, offset(12, "b"))], 2_000)
        .await
        .into_iter()
        .for_each(|v| assert_eq!(v, Ok(())));
    drop(groups);

    // A new broker over the same directory reads the offsets back from the log.
    let reopened = coordinator(dir.path(), false);
    let all = reopened.fetch("g", None, false).unwrap();
    assert_eq!(
        all,
        vec![(
            "t".to_owned(),
            vec![
                (0, Ok(Some(offset(12, "b")))),
                (1, Ok(Some(offset(20, ""))))
            ]
        )]
    );
    assert_eq!(reopened.fetch("other", None, false).unwrap(), vec![]);
    assert_eq!(
        reopened.fetch("", None, false),
        Err(GroupError::InvalidGroupId)
    );
    // An id too long for the offsets record's int16 length is refused, not written corrupt.
    let long = "g".repeat(40_000);
    assert_eq!(
        reopened
            .commit(&long, "", -1, vec![("t".into(), 0, offset(1, ""))], 0)
            .await,
        vec![Err(GroupError::InvalidGroupId)]
    );
    assert!(
        reopened
            .check_coordinator(&"g".repeat(i16::MAX as usize))
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_commit_only_for_their_generation() {
    let dir = tempfile::tempdir().unwrap();
    let groups = coordinator(dir.path(), false);
    let join = |member_id: &str| Join {
        member_id: member_id.to_owned(),
        group_instance_id: None,
        client_id: "c".to_owned(),
        client_host: String::new(),
        session_timeout: Duration::from_secs(10),
        rebalance_timeout: Duration::from_secs(10),
        protocol_type: "consumer".to_owned(),
        protocols: vec![("range".to_owned(), Bytes::new())],
        require_known_member: false,
    };
    let answer = groups.join("g", join("")).await;
    assert_eq!(answer.error, None);
    let member = answer.member_id;
    let commit = |member: String, generation| {
        let groups = Arc::clone(&groups);
        async move {
            groups
                .commit(
                    "g",
                    &member,
                    generation,
                    vec![("t".into(), 0, offset(1, ""))],
                    0,
                )
                .await
        }
    };
    assert_eq!(
        commit(member.clone(), 1).await,
        vec![Err(GroupError::RebalanceInProgress)],
        "not before the sync"
    );
    groups
        .sync(
            "g",
            (&member, None),
            1,
            (None, None),
            vec![(member.clone(), Bytes::new())],
        )
        .await
        .unwrap();
    assert_eq!(commit(member.clone(), 1).await, vec![Ok(())]);
    assert_eq!(
        commit(member.clone(), 2).await,
        vec![Err(GroupError::IllegalGeneration)]
    );
    assert_eq!(
        commit("stranger".into(), 1).await,
        vec![Err(GroupError::UnknownMemberId)]
    );
    assert_eq!(
        commit(String::new(), -1).await,
        vec![Err(GroupError::UnknownMemberId)],
        "no commits from outside while the group has members"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_expire_after_the_retention_unless_the_group_has_members() {
    let dir = tempfile::tempdir().unwrap();
    let groups = coordinator(dir.path(), false);
    let retention = groups.settings().offsets_retention_ms;
    let committed_at = 1_000_000;
    let at = CommittedOffset {
        commit_timestamp: committed_at,
        ..offset(5, "")
    };
    for group in ["standalone", "active"] {
        let verdicts = groups
            .commit(
                group,
                "",
                -1,
                vec![("t".into(), 0, at.clone())],
                committed_at,
            )
            .await;
        assert_eq!(verdicts, vec![Ok(())]);
    }
    // "active" gets a member: its offsets stay, however old.
    let join = Join {
        member_id: String::new(),
        group_instance_id: None,
        client_id: "c".to_owned(),
        client_host: String::new(),
        session_timeout: Duration::from_secs(30),
        rebalance_timeout: Duration::from_secs(30),
        protocol_type: "consumer".to_owned(),
        protocols: vec![("range".to_owned(), Bytes::new())],
        require_known_member: false,
    };
    assert_eq!(groups.join("active", join).await.error, None);

    assert_eq!(groups.expire_offsets(committed_at + retention - 1).await, 0);
    assert_eq!(groups.expire_offsets(committed_at + retention).await, 1);
    assert_eq!(groups.fetch("standalone", None, false).unwrap(), vec![]);
    assert_eq!(groups.fetch("active", None, false).unwrap().len(), 1);
    drop(groups);

    // The expiry was written to the log: a restart does not bring the offset back.
    let reopened = coordinator(dir.path(), false);
    assert_eq!(reopened.fetch("standalone", None, false).unwrap(), vec![]);
    assert_eq!(reopened.fetch("active", None, false).unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn until_its_offsets_partition_is_loaded_a_group_is_answered_load_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings();
    let topics = Arc::new(Topics::open(dir.path(), settings.clone(), false).unwrap());
    let groups = GroupCoordinator::new(topics, GroupSettings::from(&settings));
    groups.ensure_offsets_topic().unwrap();
    assert_eq!(
        groups.fetch("g", None, false),
        Err(GroupError::CoordinatorLoadInProgress)
    );
    groups.load(partition_for("g", 3));
    assert_eq!(groups.fetch("g", None, false), Ok(vec![]));
}

/// Writes `batch` straight into the log, as the transaction coordinator will: produce refuses
/// transactional batches until transactions exist. The partition reopens with it committed.
fn append_raw(partition: &crate::partition::Partition, batch: &mut [u8]) {
    partition.log().append(batch, 0, 1_000).unwrap();
    partition.flush_for_shutdown().unwrap();
}

#[tokio::test]
async fn a_transactions_offsets_count_once_it_commits_and_require_stable_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let groups = coordinator(dir.path(), true);
    let verdicts = groups
        .commit("g", "", -1, vec![("t".into(), 0, offset(10, ""))], 1_000)
        .await;
    assert_eq!(verdicts, vec![Ok(())]);
    // A transactional producer commits offset 9 of t-0 in a transaction still open.
    let partition = groups
        .topics
        .partition(CONSUMER_OFFSETS, groups.offsets_partition("g"))
        .unwrap();
    let mut open = super::replay::tests::transactional("g", 9, 77, 0);
    append_raw(&partition, &mut open);
    drop((groups, partition));

    let reopened = coordinator(dir.path(), false);
    let wanted = || Some(vec![("t".to_owned(), vec![0, 1])]);
    assert_eq!(
        reopened.fetch("g", wanted(), false).unwrap(),
        vec![(
            "t".to_owned(),
            vec![(0, Ok(Some(offset(10, "")))), (1, Ok(None))]
        )],
        "without require_stable: the offset committed before the transaction"
    );
    assert_eq!(
        reopened.fetch("g", wanted(), true).unwrap(),
        vec![(
            "t".to_owned(),
            vec![(0, Err(GroupError::UnstableOffsetCommit)), (1, Ok(None))]
        )],
        "with require_stable: the partition in the open transaction is unstable"
    );

    // The producer's COMMIT marker: the offset counts, after a reload too.
    let partition = reopened
        .topics
        .partition(CONSUMER_OFFSETS, reopened.offsets_partition("g"))
        .unwrap();
    let mut commit = super::replay::tests::marker(77, true, 0);
    append_raw(&partition, &mut commit);
    drop((reopened, partition));
    let reopened = coordinator(dir.path(), false);
    assert_eq!(
        reopened.fetch("g", wanted(), true).unwrap(),
        vec![(
            "t".to_owned(),
            vec![
                (0, Ok(Some(super::replay::tests::offset(9)))),
                (1, Ok(None))
            ]
        )]
    );
}
