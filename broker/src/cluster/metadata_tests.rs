use std::collections::BTreeMap;

use uuid::Uuid;

use super::*;
use crate::cluster::TopicRecord;
use crate::cluster::topics::{CONSUMER_OFFSETS, TopicError};
use crate::config::BrokerSettings;

fn topic(name: &str, id: u128) -> TopicRecord {
    TopicRecord {
        name: name.to_owned(),
        id: Uuid::from_u128(id),
        partitions: 3,
        replication_factor: 1,
        configs: BTreeMap::from([("retention.ms".to_owned(), "1000".to_owned())]),
        internal: false,
        assignments: Vec::new(),
    }
}

fn open(dir: &Path) -> Metadata {
    Metadata::open(dir, 1, Vec::new()).unwrap()
}

/// Records every change it hears.
#[derive(Default)]
struct Recorder(Mutex<Vec<(u64, Change, usize)>>);

impl MetadataListener for Recorder {
    fn on_change(&self, index: u64, state: &ClusterState, change: &Change) {
        lock(&self.0).push((index, change.clone(), state.topics.len()));
    }
}

#[test]
fn committed_topics_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let metadata = open(dir.path());
    let orders = topic("orders", 1);
    let applied = metadata
        .propose_blocking(Command::CreateTopic(orders.clone()))
        .unwrap();
    assert_eq!(applied.outcome, Ok(Change::TopicCreated(orders.clone())));
    drop(metadata);
    let reopened = open(dir.path());
    assert_eq!(reopened.snapshot().topics.get("orders"), Some(&orders));
    assert_eq!(reopened.applied_index(), applied.index);
}

#[test]
fn listeners_hear_each_change_in_log_order_before_propose_returns() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder::default());
    let metadata = Metadata::open(dir.path(), 1, vec![recorder.clone()]).unwrap();
    let start = metadata.applied_index();
    let orders = topic("orders", 1);
    let first = metadata
        .propose_blocking(Command::CreateTopic(orders.clone()))
        .unwrap();
    assert_eq!(lock(&recorder.0).len(), 1, "heard before propose returned");
    let refused = metadata
        .propose_blocking(Command::CreateTopic(topic("orders", 2)))
        .unwrap();
    assert_eq!(
        refused.outcome,
        Err(CommandError::TopicExists("orders".into()))
    );
    let grown = metadata
        .propose_blocking(Command::CreatePartitions {
            name: "orders".into(),
            count: 5,
            assignments: Vec::new(),
        })
        .unwrap();
    assert_eq!(
        (first.index, refused.index, grown.index),
        (start + 1, start + 2, start + 3)
    );
    let mut grown_record = orders.clone();
    grown_record.partitions = 5;
    assert_eq!(
        *lock(&recorder.0),
        vec![
            (first.index, Change::TopicCreated(orders), 1),
            (
                grown.index,
                Change::PartitionsCreated {
                    topic: grown_record,
                    from: 3
                },
                1
            ),
        ],
        "a refused command is not announced"
    );
    assert_eq!(metadata.applied_index(), grown.index);
}

#[tokio::test]
async fn wait_applied_returns_once_the_index_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let metadata = Arc::new(open(dir.path()));
    let next = metadata.applied_index() + 1;
    let waiter = {
        let metadata = metadata.clone();
        tokio::spawn(async move { metadata.wait_applied(next).await })
    };
    tokio::task::yield_now().await;
    assert!(!waiter.is_finished(), "returned before the entry existed");
    let applied = metadata
        .propose(Command::CreateTopic(topic("orders", 1)))
        .await
        .unwrap();
    assert_eq!(applied.index, next);
    tokio::time::timeout(std::time::Duration::from_secs(10), waiter)
        .await
        .expect("wait_applied returned")
        .unwrap();
    // An index already applied returns at once.
    metadata.wait_applied(next).await;
}

#[test]
fn snapshots_purge_the_log_and_reopening_gives_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let metadata = Metadata::open_with(dir.path(), 1, Vec::new(), 3).unwrap();
    for id in 0..10 {
        metadata
            .propose_blocking(Command::CreateTopic(topic(&format!("t{id}"), id)))
            .unwrap();
    }
    metadata
        .propose_blocking(Command::DeleteTopic {
            name: "t4".into(),
            id: Uuid::from_u128(4),
        })
        .unwrap();
    let state = metadata.snapshot();
    let index = metadata.applied_index();
    // Raft snapshots and purges in the background, after the entries are applied.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while metadata
        .quorum()
        .metrics()
        .borrow()
        .purged
        .is_none_or(|purged| purged.index + 2 < index)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no snapshot near {index}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(metadata);
    let log_dir = dir.path().join(METADATA_LOG_DIR);
    let files: Vec<String> = std::fs::read_dir(&log_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let snapshots = files.iter().filter(|f| f.starts_with("snapshot-")).count();
    assert_eq!(snapshots, 1, "older snapshots are removed: {files:?}");
    let log = FileLog::open(&log_dir).unwrap();
    let kept = log.entries(0, u64::MAX);
    assert!(
        kept.len() < 3,
        "entries before the snapshot were purged: {kept:?}"
    );
    drop(log);
    let reopened = Metadata::open_with(dir.path(), 1, Vec::new(), 3).unwrap();
    assert_eq!(reopened.snapshot(), state);
    assert_eq!(reopened.applied_index(), index);
    assert!(!reopened.snapshot().topics.contains_key("t4"));
}

#[test]
fn producer_ids_are_never_reused_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let metadata = open(dir.path());
    let first: Vec<i64> = (0..3)
        .map(|_| metadata.allocate_producer_id().unwrap())
        .collect();
    assert_eq!(first, vec![0, 1, 2]);
    drop(metadata);
    let reopened = open(dir.path());
    let next = reopened.allocate_producer_id().unwrap();
    assert!(next > 2, "reused producer id {next}");
}

/// The document an earlier release wrote (see `store.rs`), by hand.
fn write_old_document(dir: &Path) -> &'static str {
    let document = r#"{
  "version": 1,
  "state": {
    "topics": {
      "orders": {
        "name": "orders",
        "id": "00000000-0000-0000-0000-00000000000a",
        "partitions": 4,
        "replication_factor": 1,
        "configs": { "retention.ms": "60000" }
      }
    },
    "next_producer_id": 2000
  }
}"#;
    std::fs::write(dir.join("cluster-metadata.json"), document).unwrap();
    document
}

#[test]
fn an_old_metadata_document_is_migrated_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let document = write_old_document(dir.path());
    let metadata = open(dir.path());
    let state = metadata.snapshot();
    let orders = &state.topics["orders"];
    assert_eq!(orders.id, Uuid::from_u128(10));
    assert_eq!(orders.partitions, 4);
    assert_eq!(orders.configs["retention.ms"], "60000");
    assert!(!orders.internal);
    assert_eq!(state.next_producer_id, 2000);
    assert!(!dir.path().join("cluster-metadata.json").exists());
    let migrated = dir.path().join("cluster-metadata.json.migrated");
    assert_eq!(std::fs::read_to_string(&migrated).unwrap(), document);
    assert!(metadata.allocate_producer_id().unwrap() >= 2000);
    metadata
        .propose_blocking(Command::DeleteTopic {
            name: "orders".into(),
            id: orders.id,
        })
        .unwrap();
    drop(metadata);
    // Even with the old document back in place, the log is the truth from now on.
    write_old_document(dir.path());
    let reopened = open(dir.path());
    assert!(reopened.snapshot().topics.is_empty(), "migrated again");
    assert!(reopened.snapshot().next_producer_id >= 3000);
}

#[test]
fn an_old_document_of_an_unknown_version_stops_the_open() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cluster-metadata.json"),
        r#"{"version": 7, "state": {}}"#,
    )
    .unwrap();
    let error = Metadata::open(dir.path(), 1, Vec::new())
        .err()
        .expect("opened");
    assert!(error.to_string().contains("version 7"), "{error}");
}

#[test]
fn the_consumer_offsets_topic_is_created_once_and_cannot_be_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let metadata = open(dir.path());
    let settings = BrokerSettings {
        offsets_topic_num_partitions: 3,
        ..BrokerSettings::default()
    };
    let created = metadata.consumer_offsets_topic(&settings).unwrap();
    assert!(created.internal);
    assert_eq!(created.partitions, 3);
    let index = metadata.applied_index();
    let again = metadata.consumer_offsets_topic(&settings).unwrap();
    assert_eq!(again, created);
    assert_eq!(metadata.applied_index(), index, "no second command");
    assert!(matches!(
        metadata.delete_topic(CONSUMER_OFFSETS),
        Err(TopicError::Internal(_))
    ));
    assert!(metadata.snapshot().topics[CONSUMER_OFFSETS].internal);
    drop(metadata);
    let reopened = open(dir.path());
    assert_eq!(reopened.snapshot().topics[CONSUMER_OFFSETS], created);
}

/// Writes a metadata log as the release before Raft wrote it: a one-voter log from index 1,
/// the vote naming `node_id`, the membership as `voters`, no committed hint.
fn write_log_of_the_one_voter_release(dir: &Path, topic_json: &str) {
    let log_dir = dir.join(METADATA_LOG_DIR);
    std::fs::create_dir_all(&log_dir).unwrap();
    std::fs::write(
        log_dir.join("vote.json"),
        r#"{"version":1,"value":{"term":1,"node_id":1,"committed":true}}"#,
    )
    .unwrap();
    let mut segment = b"FJMLOG".to_vec();
    segment.extend_from_slice(&1u16.to_be_bytes());
    for entry in [
        r#"{"log_id":{"term":1,"index":1},"payload":{"Membership":{"voters":[1]}}}"#.to_owned(),
        format!(
            r#"{{"log_id":{{"term":1,"index":2}},"payload":{{"Normal":{{"CreateTopic":{topic_json}}}}}}}"#
        ),
    ] {
        segment.extend_from_slice(&u32::try_from(entry.len()).unwrap().to_be_bytes());
        segment.extend_from_slice(&crc32c::crc32c(entry.as_bytes()).to_be_bytes());
        segment.extend_from_slice(entry.as_bytes());
    }
    std::fs::write(log_dir.join(format!("{:020}.log", 1)), segment).unwrap();
}

#[test]
fn a_log_of_the_one_voter_release_opens_with_its_entries_committed_and_takes_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let orders = topic("orders", 7);
    write_log_of_the_one_voter_release(dir.path(), &serde_json::to_string(&orders).unwrap());
    let metadata = open(dir.path());
    assert_eq!(metadata.snapshot().topics.get("orders"), Some(&orders));
    let applied = metadata
        .propose_blocking(Command::CreateTopic(topic("payments", 8)))
        .unwrap();
    assert!(applied.outcome.is_ok(), "{:?}", applied.outcome);
    assert!(applied.index > 2);
    drop(metadata);
    let reopened = open(dir.path());
    let state = reopened.snapshot();
    assert_eq!(
        state.topics.keys().collect::<Vec<_>>(),
        ["orders", "payments"]
    );
    assert_eq!(reopened.quorum().leader(), Some(1), "it leads alone again");
}

#[test]
fn a_new_one_voter_log_starts_where_raft_starts_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let metadata = open(dir.path());
    assert_eq!(metadata.quorum().leader(), Some(1));
    drop(metadata);
    let log = FileLog::open(&dir.path().join(METADATA_LOG_DIR)).unwrap();
    let first = log.entries(0, 1);
    assert!(
        matches!(&first[..], [Entry { log_id: LogId { term: 0, index: 0 }, payload: EntryPayload::Membership(m) }]
            if m.voter_ids() == [1].into()),
        "{first:?}"
    );
    assert!(log.read_committed().is_some(), "the committed hint is kept");
}
