//! Random sequences of requests, writes (succeeding or failing), markers and time never leave
//! a transactional id in an impossible state.
//!
//! After every step: no request is answered with an internal error (every transition was one
//! Kafka allows); no id rests in Dead or PrepareEpochFence; Empty and Complete* hold no
//! partitions; an epoch never goes down for a producer id; markers name only partitions added
//! to that id's transaction, at its current epoch; and replaying the durable records rebuilds
//! what the coordinator holds.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

const IDS: [&str; 2] = ["a", "b"];

#[derive(Debug, Clone)]
enum Op {
    Init {
        id: usize,
        with_current: bool,
    },
    Add {
        id: usize,
        parts: Vec<u8>,
        tv2: bool,
        stale: bool,
    },
    Offsets {
        id: usize,
    },
    Verify {
        id: usize,
        part: u8,
        tv2: bool,
    },
    End {
        id: usize,
        commit: bool,
        tv2: bool,
        retry: bool,
    },
    Write {
        index: usize,
        ok: bool,
    },
    Markers {
        index: usize,
    },
    Advance {
        ms: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let rarely = || prop::bool::weighted(0.15);
    prop_oneof![
        2 => (0..2usize, any::<bool>()).prop_map(|(id, with_current)| Op::Init { id, with_current }),
        3 => (0..2usize, prop::collection::vec(0..3u8, 1..3), any::<bool>(), rarely())
            .prop_map(|(id, parts, tv2, stale)| Op::Add { id, parts, tv2, stale }),
        1 => (0..2usize).prop_map(|id| Op::Offsets { id }),
        1 => (0..2usize, 0..3u8, any::<bool>()).prop_map(|(id, part, tv2)| Op::Verify { id, part, tv2 }),
        3 => (0..2usize, any::<bool>(), any::<bool>(), rarely())
            .prop_map(|(id, commit, tv2, retry)| Op::End { id, commit, tv2, retry }),
        6 => (0..4usize, prop::bool::weighted(0.85)).prop_map(|(index, ok)| Op::Write { index, ok }),
        3 => (0..4usize).prop_map(|index| Op::Markers { index }),
        1 => (0..40_000u32).prop_map(|ms| Op::Advance { ms }),
    ]
}

/// Short timeouts and expiry, so random runs reach them.
fn settings() -> TxnSettings {
    TxnSettings {
        transactional_id_expiration_ms: 60_000,
        remove_expired_interval_ms: 20_000,
        ..TxnSettings::default()
    }
}

#[derive(Default)]
struct Sim {
    /// Writes handed out and not yet reported.
    writes: Vec<Write>,
    markers: Vec<TxnMarkers>,
    /// Durable records, in order.
    log: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// What each producer last heard: its id and epoch.
    producers: BTreeMap<&'static str, ProducerIdAndEpoch>,
    added: BTreeMap<String, BTreeSet<TopicPartition>>,
    max_epoch: BTreeMap<i64, i16>,
    /// Ids whose in-memory epoch moved without a record (a failed fence).
    diverged: BTreeSet<String>,
}

fn part(p: u8) -> TopicPartition {
    tp("t", i32::from(p))
}

fn version(tv2: bool) -> TransactionVersion {
    if tv2 {
        TransactionVersion::V2
    } else {
        TransactionVersion::V0
    }
}

impl Sim {
    fn producer(&self, id: &'static str) -> ProducerIdAndEpoch {
        self.producers.get(id).copied().unwrap_or(pe(0, 0))
    }

    fn step<A: std::fmt::Debug>(&mut self, step: Result<Step<A>, TxnError>) -> Option<A> {
        match step {
            Ok(Step::Write(write)) => {
                self.writes.push(write);
                None
            }
            Ok(Step::Answer(answer)) => Some(answer),
            Err(TxnError::Internal(reason)) => panic!("internal error: {reason}"),
            Err(_) => None,
        }
    }

    fn hear(&mut self, id: &'static str, answer: &Answer) {
        match answer {
            Answer::InitProducerId(Ok(p)) => {
                self.producers.insert(id, *p);
            }
            Answer::EndTxn(Ok(p)) if p.producer_id >= 0 => {
                self.producers.insert(id, *p);
            }
            Answer::InitProducerId(Err(TxnError::Internal(r)))
            | Answer::AddPartitions(Err(TxnError::Internal(r)))
            | Answer::EndTxn(Err(TxnError::Internal(r))) => panic!("internal error: {r}"),
            _ => {}
        }
    }

    fn effects(&mut self, effects: Effects) {
        self.writes.extend(effects.writes);
        self.markers.extend(effects.markers);
    }

    fn run(&mut self, c: &mut TxnCoordinator, ids: &mut Ids, now: &mut i64, op: &Op) {
        match op {
            Op::Init { id, with_current } => {
                let name = IDS[*id];
                let current = with_current.then(|| self.producer(name));
                let request = InitProducerId {
                    transactional_id: name.into(),
                    timeout_ms: 30_000,
                    current,
                };
                let result = c.init_producer_id(&request, *now, ids);
                self.step(result);
            }
            Op::Add {
                id,
                parts,
                tv2,
                stale,
            } => {
                let name = IDS[*id];
                let p = self.producer(name);
                let epoch = if *stale {
                    p.producer_epoch - 1
                } else {
                    p.producer_epoch
                };
                let parts: Vec<TopicPartition> = parts.iter().copied().map(part).collect();
                self.added
                    .entry(name.into())
                    .or_default()
                    .extend(parts.iter().cloned());
                let result =
                    c.add_partitions(name, p.producer_id, epoch, &parts, version(*tv2), *now);
                self.step(result);
            }
            Op::Offsets { id } => {
                let name = IDS[*id];
                let p = self.producer(name);
                let offsets = tp(CONSUMER_OFFSETS_TOPIC, partition_for("g", 50));
                self.added.entry(name.into()).or_default().insert(offsets);
                let result = c.add_offsets(name, p.producer_id, p.producer_epoch, "g", 50, *now);
                self.step(result);
            }
            Op::Verify { id, part: p, tv2 } => {
                let name = IDS[*id];
                let producer = self.producer(name);
                self.added.entry(name.into()).or_default().insert(part(*p));
                let result = c.verify_or_add_partition(
                    name,
                    producer.producer_id,
                    producer.producer_epoch,
                    &part(*p),
                    version(*tv2),
                    *now,
                );
                self.step(result);
            }
            Op::End {
                id,
                commit,
                tv2,
                retry,
            } => {
                let name = IDS[*id];
                let p = self.producer(name);
                let epoch = if *retry {
                    p.producer_epoch - 1
                } else {
                    p.producer_epoch
                };
                let result = c.end_txn(
                    name,
                    p.producer_id,
                    epoch,
                    *commit,
                    version(*tv2),
                    *now,
                    ids,
                );
                if let Some(answer) = self.step(result) {
                    self.hear(name, &Answer::EndTxn(Ok(answer)));
                }
            }
            Op::Write { index, ok } => {
                if self.writes.is_empty() {
                    return;
                }
                let write = self.writes.remove(index % self.writes.len());
                let id = write.transactional_id.clone();
                let result = if *ok {
                    Ok(())
                } else {
                    Err(WriteError::CoordinatorNotAvailable)
                };
                let done = c.write_done(&id, write.coordinator_epoch, result.clone(), *now);
                if *ok {
                    self.log.push((write.key_bytes(), write.value_bytes()));
                    self.diverged.remove(&id);
                } else if write
                    .value
                    .as_ref()
                    .is_some_and(|v| v.state == TxnState::PrepareAbort)
                {
                    self.diverged.insert(id.clone());
                }
                let name = IDS.into_iter().find(|n| *n == id).expect("known id");
                if let Some(answer) = &done.answer {
                    self.hear(name, answer);
                }
                self.effects(done.effects);
            }
            Op::Markers { index } => {
                if self.markers.is_empty() {
                    return;
                }
                let markers = self.markers.remove(index % self.markers.len());
                if let Ok(write) =
                    c.markers_written(&markers.transactional_id, markers.coordinator_epoch)
                {
                    self.writes.push(write);
                }
            }
            Op::Advance { ms } => {
                *now += i64::from(*ms);
                let effects = c.tick(*now, ids);
                self.effects(effects);
            }
        }
    }

    fn check(&mut self, c: &TxnCoordinator) {
        for id in c.transactional_ids() {
            let meta = c.metadata(id).unwrap();
            assert!(
                !matches!(meta.state, TxnState::Dead | TxnState::PrepareEpochFence),
                "{id} rests in {:?}",
                meta.state
            );
            if matches!(
                meta.state,
                TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
            ) {
                assert!(meta.partitions.is_empty(), "{id}: {meta:?}");
            }
            let max = self
                .max_epoch
                .entry(meta.producer_id)
                .or_insert(meta.producer_epoch);
            assert!(
                meta.producer_epoch >= *max,
                "{id}: epoch went down: {meta:?}"
            );
            *max = meta.producer_epoch;
        }
        for markers in &self.markers {
            let added = &self.added[&markers.transactional_id];
            assert!(!markers.partitions.is_empty());
            assert!(
                markers.partitions.iter().all(|p| added.contains(p)),
                "{markers:?}"
            );
            let meta = c.metadata(&markers.transactional_id).unwrap();
            assert_eq!(markers.producer_epoch, meta.producer_epoch);
            let expected: Vec<_> = meta.partitions.iter().cloned().collect();
            assert_eq!(markers.partitions, expected);
        }
        let mut replay = TxnLogReplay::default();
        for (key, value) in &self.log {
            replay.apply(key, value.as_deref()).unwrap();
        }
        let mut rebuilt = loaded(settings());
        for p in 0..50 {
            rebuilt.begin_load(p, EPOCH + 1);
        }
        for p in 0..50 {
            let part_replay = replay_of(&self.log, p, &rebuilt);
            rebuilt.finish_load(p, EPOCH + 1, part_replay, 0).unwrap();
        }
        for id in IDS {
            let live = c.metadata(id);
            let stored = rebuilt.metadata(id);
            match (live, stored) {
                (Some(live), _) if live.producer_epoch == NO_PRODUCER_EPOCH => {}
                (Some(_), _) if self.diverged.contains(id) => {}
                // An epoch fence bumps the epoch in memory before its record is durable.
                (Some(_), _) if self.writes.iter().any(|w| w.transactional_id == id) => {}
                (Some(live), Some(stored)) => {
                    let live = TxnMetadata {
                        last_producer_epoch: NO_PRODUCER_EPOCH,
                        ..live.clone()
                    };
                    assert_eq!(&live, stored, "{id}");
                }
                (None, None) => {}
                (live, stored) => panic!("{id}: live {live:?}, stored {stored:?}"),
            }
        }
    }
}

fn replay_of(
    log: &[(Vec<u8>, Option<Vec<u8>>)],
    partition: i32,
    c: &TxnCoordinator,
) -> TxnLogReplay {
    let mut replay = TxnLogReplay::default();
    for (key, value) in log {
        let id = records::decode_key(key).unwrap().unwrap();
        if c.partition_of(&id) == partition {
            replay.apply(key, value.as_deref()).unwrap();
        }
    }
    replay
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_operations_never_leave_an_impossible_state(ops in prop::collection::vec(op(), 1..120)) {
        let mut c = loaded(settings());
        let mut ids = Ids::new();
        let mut now = T0;
        let mut sim = Sim::default();
        for op in &ops {
            sim.run(&mut c, &mut ids, &mut now, op);
            sim.check(&c);
        }
    }
}
