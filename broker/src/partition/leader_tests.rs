//! The partition as a leader: appends and what they hand back, the high-watermark watch,
//! reads planned under the lock and done outside it, leadership and roll events.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::broadcast::error::TryRecvError;

use super::*;
use crate::log::builder::BatchBuilder;
use crate::log::test_batch::batch_of;

const TOPIC: &str = "t";

fn shared(durability: Durability) -> Shared {
    Shared {
        durability,
        events: Events::default(),
        syncer: Syncer::os(),
    }
}

fn open_partition(dir: &Path, config: LogConfig, internal: bool, shared: Shared) -> Partition {
    let id = PartitionId {
        topic: TOPIC.to_owned(),
        topic_id: Uuid::new_v4(),
        index: 0,
        internal,
    };
    Partition::open(id, &dir.join("t-0"), config, false, shared).expect("open partition")
}

/// A leader at epoch 0 with small segments, and a subscription to its events.
fn leader(
    dir: &Path,
    segment_bytes: u64,
) -> (Partition, tokio::sync::broadcast::Receiver<PartitionEvent>) {
    let shared = shared(Durability::Os);
    let events = shared.events.subscribe();
    let config = LogConfig {
        segment_bytes,
        ..LogConfig::default()
    };
    let partition = open_partition(dir, config, false, shared);
    partition.become_leader(0).expect("lead");
    (partition, events)
}

fn append(partition: &Partition, records: usize) -> Appended {
    partition
        .append(
            Bytes::from(batch_of(records, 1_000, b'x')),
            AppendOrigin::Client,
            2_000,
        )
        .expect("append")
}

fn drain(events: &mut tokio::sync::broadcast::Receiver<PartitionEvent>) -> Vec<PartitionEvent> {
    let mut seen = Vec::new();
    loop {
        match events.try_recv() {
            Ok(event) => seen.push(event),
            Err(TryRecvError::Empty) => return seen,
            Err(error) => panic!("events: {error}"),
        }
    }
}

#[tokio::test]
async fn an_append_advances_the_high_watermark_watch_and_its_futures_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let (partition, _) = leader(dir.path(), 1 << 20);
    let mut high_watermark = partition.watch_high_watermark();
    assert_eq!(*high_watermark.borrow_and_update(), 0);

    let appended = append(&partition, 10);
    assert_eq!(appended.base_offset, 0);
    assert!(high_watermark.has_changed().unwrap());
    assert_eq!(*high_watermark.borrow_and_update(), 10);
    assert_eq!(partition.offsets().high_watermark, 10);
    tokio::time::timeout(Duration::from_secs(5), async {
        appended.durable.await.expect("durable");
        appended.committed.await.expect("committed");
    })
    .await
    .expect("on one node, durable (os policy) and committed resolve at once");

    let second = append(&partition, 5);
    assert_eq!(second.base_offset, 10);
    assert_eq!(*high_watermark.borrow_and_update(), 15);
}

#[tokio::test]
async fn committed_waits_for_the_high_watermark_and_fails_when_the_partition_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let (partition, _) = leader(dir.path(), 1 << 20);
    // A follower in the ISR that has not fetched holds the high watermark back.
    partition.replica.lock().unwrap().set_in_sync_follower(2, 0);
    let appended = append(&partition, 3);
    assert_eq!(partition.offsets().high_watermark, 0);
    let committed = tokio::spawn(appended.committed.into_future());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !committed.is_finished(),
        "committed before the high watermark moved"
    );

    partition.replica.lock().unwrap().set_in_sync_follower(2, 3);
    let moved = partition.replica.lock().unwrap().advance_high_watermark(3);
    partition.high_watermark.send_replace(moved.expect("moved"));
    tokio::time::timeout(Duration::from_secs(5), committed)
        .await
        .expect("resolves once the high watermark passes the append")
        .unwrap()
        .expect("committed");

    partition.replica.lock().unwrap().set_in_sync_follower(2, 3);
    let stuck = append(&partition, 1).committed.into_future();
    drop(partition);
    let outcome = tokio::time::timeout(Duration::from_secs(5), stuck)
        .await
        .expect("a closed partition answers rather than hanging");
    assert!(matches!(outcome, Err(PartitionError::NotLeader { .. })));
}

#[test]
fn only_a_leader_appends_and_clients_do_not_append_to_internal_topics() {
    let dir = tempfile::tempdir().unwrap();
    let shared = shared(Durability::Os);
    let partition = open_partition(dir.path(), LogConfig::default(), true, shared);
    let records = || Bytes::from(batch_of(2, 1_000, b'x'));
    assert!(matches!(
        partition.append(records(), AppendOrigin::Coordinator, 0),
        Err(PartitionError::NotLeader { .. })
    ));
    partition.become_leader(0).unwrap();
    assert!(matches!(
        partition.append(records(), AppendOrigin::Client, 0),
        Err(PartitionError::InternalTopic(_))
    ));
    // The broker's own records, built by the batch builder, go through the same path.
    let own = BatchBuilder::new(5_000)
        .record(Some(b"group"), Some(b"offsets"), 5_000)
        .record(Some(b"group"), None, 5_001)
        .build();
    let appended = partition
        .append(Bytes::from(own), AppendOrigin::Coordinator, 0)
        .expect("coordinator append");
    assert_eq!(appended.base_offset, 0);
    assert_eq!(partition.offsets().log_end, 2);
    partition.stop_leading();
    assert!(matches!(
        partition.append(records(), AppendOrigin::Coordinator, 0),
        Err(PartitionError::NotLeader { .. })
    ));
}

#[test]
fn leadership_and_segment_rolls_are_published_as_events() {
    let dir = tempfile::tempdir().unwrap();
    let (partition, mut events) = leader(dir.path(), 1_024);
    assert_eq!(
        drain(&mut events),
        vec![PartitionEvent::BecameLeader {
            topic: TOPIC.to_owned(),
            partition: 0,
            leader_epoch: 0
        }]
    );
    partition.become_leader(0).unwrap();
    assert!(
        drain(&mut events).is_empty(),
        "the same epoch again is no change"
    );

    let mut rolls = Vec::new();
    for _ in 0..20 {
        append(&partition, 20);
    }
    for event in drain(&mut events) {
        match event {
            PartitionEvent::SegmentRolled {
                active_base_offset, ..
            } => rolls.push(active_base_offset),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(rolls.len() >= 2, "{rolls:?}");
    assert!(rolls.windows(2).all(|pair| pair[0] < pair[1]), "{rolls:?}");
    assert_eq!(
        *rolls.last().unwrap(),
        partition.log().active_base_offset(),
        "the last roll names the active segment"
    );

    assert!(matches!(
        partition.become_leader(-1),
        Err(PartitionError::StaleLeaderEpoch { current: 0, .. })
    ));
    partition.become_leader(3).unwrap();
    partition.stop_leading();
    partition.stop_leading();
    assert_eq!(
        drain(&mut events),
        vec![
            PartitionEvent::BecameLeader {
                topic: TOPIC.to_owned(),
                partition: 0,
                leader_epoch: 3
            },
            PartitionEvent::StoppedLeading {
                topic: TOPIC.to_owned(),
                partition: 0
            },
        ]
    );
    assert_eq!(partition.leader_epoch(), 3);
    assert!(matches!(
        partition.check_leader_epoch(2),
        Err(PartitionError::FencedLeaderEpoch { current: 3, .. })
    ));
    assert!(matches!(
        partition.check_leader_epoch(4),
        Err(PartitionError::UnknownLeaderEpoch { current: 3, .. })
    ));
}

#[test]
fn a_produce_completes_while_a_fetch_of_the_same_partition_has_its_read_still_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let (partition, _) = leader(dir.path(), 1 << 20);
    append(&partition, 10);
    let partition = Arc::new(partition);

    let planned = partition
        .plan_read(0, 1 << 20, Isolation::ReadUncommitted)
        .expect("plan");
    // The plan holds no lock: an append from another thread finishes before the read runs.
    let producer = {
        let partition = Arc::clone(&partition);
        std::thread::spawn(move || append(&partition, 5).base_offset)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !producer.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "the append waited for the planned read"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(producer.join().unwrap(), 10);

    // The read serves what was below the high watermark when it was planned.
    let records = planned.execute().expect("read");
    assert_eq!(planned.offsets.high_watermark, 10);
    let header = crate::log::batch::BatchHeader::parse(&records).unwrap();
    assert_eq!((header.base_offset, header.last_offset()), (0, 9));
    assert_eq!(
        records.len(),
        header.size(),
        "only the batch below the plan's bound"
    );
}

/// A partition with three closed segments of 20-record batches and an active one, and the
/// retention that removes the closed ones (everything older than its newest timestamp).
fn segments_for_retention(dir: &Path) -> Partition {
    let config = LogConfig {
        segment_bytes: 1_024,
        retention_ms: 1,
        ..LogConfig::default()
    };
    let partition = open_partition(dir, config, false, shared(Durability::Os));
    partition.become_leader(0).unwrap();
    for _ in 0..8 {
        append(&partition, 20);
    }
    partition.log().wait_for_rolls().unwrap();
    assert!(partition.log().active_base_offset() > 20, "the log rolled");
    partition
}

#[test]
fn a_planned_read_whose_segment_retention_removed_is_planned_again() {
    let dir = tempfile::tempdir().unwrap();
    let partition = segments_for_retention(dir.path());

    // The plan names the first segment; retention renames and unlinks its files before the
    // read opens it: the read finds it gone rather than reading something else.
    let planned = partition
        .plan_read(0, 1 << 20, Isolation::ReadUncommitted)
        .unwrap();
    assert!(partition.apply_retention(i64::MAX / 2).unwrap() > 0);
    assert!(matches!(
        planned.execute(),
        Err(LogError::SegmentRemoved { .. })
    ));

    // Inside `read`, a removed segment means a new plan, which sees the moved log start: the
    // answer is OFFSET_OUT_OF_RANGE (the client resets), not a storage error.
    let dir = tempfile::tempdir().unwrap();
    let partition = segments_for_retention(dir.path());
    let mut removals = 0;
    let outcome = partition.read_with(0, 1 << 20, Isolation::ReadUncommitted, || {
        if removals == 0 {
            assert!(partition.apply_retention(i64::MAX / 2).unwrap() > 0);
        }
        removals += 1;
    });
    assert_eq!(removals, 1, "the second plan is refused before any read");
    let log_start = partition.offsets().log_start;
    assert!(log_start > 0);
    assert!(
        matches!(
            outcome,
            Err(PartitionError::Log(LogError::OffsetOutOfRange { offset: 0, log_start_offset, .. }))
                if log_start_offset == log_start
        ),
        "{outcome:?}"
    );
    // From the new log start the read succeeds.
    let read = partition
        .read(log_start, 1 << 20, Isolation::ReadUncommitted)
        .unwrap();
    assert!(!read.records.is_empty());
}
