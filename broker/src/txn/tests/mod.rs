//! The coordinator's transitions and error codes, with a made-up clock and producer ids.

use super::*;

mod admin;
mod background;
mod end;
mod init;
mod membership;
mod props;

/// The coordinator epoch every test partition is loaded at.
const EPOCH: i32 = 7;
/// The time tests start at (ms).
const T0: i64 = 1_000_000;
const ID: &str = "txn";

/// Producer ids 1000, 1001, ...
struct Ids(i64);

impl Ids {
    fn new() -> Self {
        Ids(1000)
    }
}

impl ProducerIdSource for Ids {
    fn next_producer_id(&mut self) -> Result<i64, TxnError> {
        self.0 += 1;
        Ok(self.0 - 1)
    }
}

fn loaded(settings: TxnSettings) -> TxnCoordinator {
    let partitions = settings.state_log_partitions;
    let mut c = TxnCoordinator::new(settings, T0);
    for p in 0..partitions {
        c.begin_load(p, EPOCH);
        c.finish_load(p, EPOCH, TxnLogReplay::default(), T0)
            .unwrap();
    }
    c
}

fn coordinator() -> TxnCoordinator {
    loaded(TxnSettings::default())
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

fn pe(producer_id: i64, producer_epoch: i16) -> ProducerIdAndEpoch {
    ProducerIdAndEpoch {
        producer_id,
        producer_epoch,
    }
}

fn expect_write<A: std::fmt::Debug>(step: Result<Step<A>, TxnError>) -> Write {
    match step {
        Ok(Step::Write(write)) => write,
        other => panic!("expected a write, got {other:?}"),
    }
}

/// Reports `write` durable.
fn ok(c: &mut TxnCoordinator, write: &Write, now: i64) -> WriteDone {
    c.write_done(
        &write.transactional_id,
        write.coordinator_epoch,
        Ok(()),
        now,
    )
}

fn init_request(id: &str, current: Option<ProducerIdAndEpoch>) -> InitProducerId {
    InitProducerId {
        transactional_id: id.into(),
        timeout_ms: 60_000,
        current,
    }
}

/// A whole InitProducerId that succeeds.
fn init(c: &mut TxnCoordinator, ids: &mut Ids, id: &str, now: i64) -> ProducerIdAndEpoch {
    let write = expect_write(c.init_producer_id(&init_request(id, None), now, ids));
    match ok(c, &write, now).answer {
        Some(Answer::InitProducerId(Ok(answer))) => answer,
        other => panic!("{other:?}"),
    }
}

/// Adds partitions (writing when needed).
fn add(
    c: &mut TxnCoordinator,
    id: &str,
    p: ProducerIdAndEpoch,
    parts: &[TopicPartition],
    tv: TransactionVersion,
    now: i64,
) {
    let step = c.add_partitions(id, p.producer_id, p.producer_epoch, parts, tv, now);
    if let Ok(Step::Write(write)) = &step {
        let done = ok(c, write, now);
        assert_eq!(done.answer, Some(Answer::AddPartitions(Ok(()))));
    } else {
        assert_eq!(step, Ok(Step::Answer(())));
    }
}

/// A whole EndTxn that writes: the decision, its markers written, the completion. Returns the
/// answer and the markers.
fn end(
    c: &mut TxnCoordinator,
    ids: &mut Ids,
    id: &str,
    p: ProducerIdAndEpoch,
    commit: bool,
    tv: TransactionVersion,
    now: i64,
) -> (ProducerIdAndEpoch, Option<TxnMarkers>) {
    let write = expect_write(c.end_txn(id, p.producer_id, p.producer_epoch, commit, tv, now, ids));
    let done = ok(c, &write, now);
    let Some(Answer::EndTxn(Ok(answer))) = done.answer else {
        panic!("{done:?}");
    };
    let markers = finish(c, done.effects, now);
    (answer, markers)
}

/// Writes the markers and completion records of `effects`; returns the markers.
fn finish(c: &mut TxnCoordinator, effects: Effects, now: i64) -> Option<TxnMarkers> {
    let mut markers = None;
    let mut writes = effects.writes;
    for m in effects.markers {
        writes.push(
            c.markers_written(&m.transactional_id, m.coordinator_epoch)
                .unwrap(),
        );
        markers = Some(m);
    }
    for write in writes {
        let done = ok(c, &write, now);
        assert_eq!(done, WriteDone::default());
    }
    markers
}

fn state(c: &TxnCoordinator, id: &str) -> TxnState {
    c.metadata(id).unwrap().state
}

fn epoch(c: &TxnCoordinator, id: &str) -> i16 {
    c.metadata(id).unwrap().producer_epoch
}

/// A coordinator holding `id` as `meta` says, as if loaded from its partition.
fn loaded_with(settings: TxnSettings, id: &str, meta: &TxnMetadata) -> (TxnCoordinator, Effects) {
    let mut c = loaded(settings);
    let partition = c.partition_of(id);
    let mut replay = TxnLogReplay::default();
    let value = meta.to_log_value().encode(1);
    replay
        .apply(&records::encode_key(id), Some(&value))
        .unwrap();
    c.begin_load(partition, EPOCH + 1);
    let effects = c.finish_load(partition, EPOCH + 1, replay, T0).unwrap();
    (c, effects)
}

/// An id idle in `state` at `epoch`, producer id 500.
fn idle_meta(state: TxnState, epoch: i16, tv: TransactionVersion) -> TxnMetadata {
    TxnMetadata {
        producer_epoch: epoch,
        previous_producer_id: 500,
        state,
        client_version: tv,
        ..TxnMetadata::new(500, 60_000, T0)
    }
}
