//! The transaction coordinator at work: the pure [`TxnCoordinator`] behind a lock, its
//! records appended to `__transaction_state`, its markers written to the data partitions, its
//! partitions loaded when this broker leads them, and its clock ticking.
//!
//! ```text
//!  request ─► (blocking pool) coordinator step ─► Answer now
//!                                             └► Write ─► append to __transaction_state-N
//!                                                ─► durable + committed ─► write_done
//!                                                ─► the waiting request's answer; effects:
//!  effects: writes ─► the same path        markers ─► write_marker on every partition of the
//!     transaction (retried) ─► __consumer_offsets: the group coordinator settles the offsets
//!     ─► markers_written ─► the CompleteCommit/CompleteAbort record
//!  __transaction_state-N led here ─► begin_load, replay from the start, finish_load (markers
//!     of decided transactions are written again)      lost ─► unload
//!  every second ─► tick: aborts of timed-out transactions, expiry of idle transactional ids
//! ```
//!
//! Markers go through [`MarkerWriter`]: on one node every partition is local; the replicated
//! cluster adds a writer for partitions led elsewhere (WriteTxnMarkers).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::{
    Answer, Effects, InitProducerId, ListFilter, ProducerIdAndEpoch, ProducerIdSource, Step,
    TRANSACTION_STATE_TOPIC, TopicPartition, TransactionVersion, TxnCoordinator, TxnDescription,
    TxnError, TxnList, TxnLogReplay, TxnMarkers, Write, WriteError,
};
use crate::cluster::topics::CONSUMER_OFFSETS;
use crate::group::{GroupCoordinator, StoredEntry, read_batches};
use crate::log::builder::BatchBuilder;
use crate::partition::{AppendOrigin, Isolation, PartitionError, PartitionEvent};
use crate::topics::Topics;

/// How often the coordinator's clock ticks (its own intervals decide what is due).
const TICK: Duration = Duration::from_secs(1);
/// Attempts at writing one partition's marker before the transaction is left for the next
/// load of its partition to finish.
const MARKER_ATTEMPTS: u32 = 50;
/// Largest decompressed batch the loader accepts.
const LOAD_BATCH_LIMIT: usize = 64 << 20;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_ms() -> i64 {
    crate::api::now_ms()
}

/// Why a marker was not written (the caller retries).
#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    #[error(transparent)]
    Partition(#[from] PartitionError),
    /// The blocking task that appends it ended without an answer.
    #[error("the marker's append stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Writes transaction markers to the partitions of a transaction.
pub trait MarkerWriter: Send + Sync {
    /// Writes `markers`' marker to `partition`, durable and committed; `Ok(false)`: the
    /// partition no longer exists (its topic was deleted), so there is nothing to mark.
    fn write(
        &self,
        markers: &TxnMarkers,
        partition: &TopicPartition,
    ) -> impl Future<Output = Result<bool, MarkerError>> + Send;
}

/// Markers on partitions this broker leads; a `__consumer_offsets` marker also settles the
/// group coordinator's pending offsets of the producer.
pub struct LocalMarkers {
    topics: Arc<Topics>,
    groups: Arc<GroupCoordinator>,
}

impl MarkerWriter for LocalMarkers {
    async fn write(
        &self,
        markers: &TxnMarkers,
        target: &TopicPartition,
    ) -> Result<bool, MarkerError> {
        let Some(partition) = self.topics.partition(&target.topic, target.partition) else {
            return Ok(false);
        };
        let (producer_id, epoch) = (markers.producer_id, markers.producer_epoch);
        let (coordinator_epoch, commit) = (markers.coordinator_epoch, markers.commit);
        let appended = tokio::task::spawn_blocking(move || {
            partition.write_marker(producer_id, epoch, coordinator_epoch, commit, now_ms())
        })
        .await??;
        appended.durable.await.map_err(PartitionError::from)?;
        appended.committed.await?;
        if target.topic == CONSUMER_OFFSETS {
            self.groups
                .complete_transaction(target.partition, producer_id, commit);
        }
        Ok(true)
    }
}

/// The transaction coordinator of the `__transaction_state` partitions this broker leads.
pub struct TxnService {
    topics: Arc<Topics>,
    groups: Arc<GroupCoordinator>,
    state: Mutex<TxnCoordinator>,
    /// The request waiting on each transactional id's write (at most one: the coordinator
    /// answers CONCURRENT_TRANSACTIONS while a write is in flight).
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    markers: LocalMarkers,
}

/// Producer ids from the cluster's blocks (a new block's fsync blocks: the blocking pool).
struct ClusterIds<'a>(&'a Topics);

impl ProducerIdSource for ClusterIds<'_> {
    fn next_producer_id(&mut self) -> Result<i64, TxnError> {
        self.0.metadata().allocate_producer_id().map_err(|error| {
            tracing::error!(%error, "allocating a producer id failed");
            TxnError::CoordinatorNotAvailable
        })
    }
}

impl TxnService {
    pub fn new(
        topics: Arc<Topics>,
        groups: Arc<GroupCoordinator>,
        settings: super::TxnSettings,
    ) -> Arc<Self> {
        Arc::new(TxnService {
            markers: LocalMarkers {
                topics: Arc::clone(&topics),
                groups: Arc::clone(&groups),
            },
            topics,
            groups,
            state: Mutex::new(TxnCoordinator::new(settings, now_ms())),
            waiting: Mutex::new(HashMap::new()),
        })
    }

    /// Loads the `__transaction_state` partitions led here, follows leadership changes and
    /// ticks the clock; ends with `shutdown`.
    pub fn start(self: &Arc<Self>, shutdown: tokio_util::sync::CancellationToken) {
        let mut events = self.topics.events().subscribe();
        self.load_all();
        let service = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(TICK);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = ticks.tick() => service.spawn_tick(),
                    event = events.recv() => match event {
                        Ok(PartitionEvent::BecameLeader { topic, partition, leader_epoch })
                            if topic == TRANSACTION_STATE_TOPIC => {
                            service.spawn_load(partition, leader_epoch);
                        }
                        Ok(PartitionEvent::StoppedLeading { topic, partition })
                            if topic == TRANSACTION_STATE_TOPIC => {
                            let answers = lock(&service.state).unload(partition);
                            service.answer_all(answers);
                        }
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "transaction coordinator missed partition events; reloading");
                            service.load_all();
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        });
    }

    /// Creates `__transaction_state` if it does not exist yet (on the first transactional
    /// request, as Kafka does).
    pub fn ensure_state_topic(&self) -> Result<(), TxnError> {
        if self
            .topics
            .snapshot()
            .topics
            .contains_key(TRANSACTION_STATE_TOPIC)
        {
            return Ok(());
        }
        self.topics
            .metadata()
            .transaction_state_topic(self.topics.settings())
            .map(|_| ())
            .map_err(|error| {
                tracing::error!(%error, "creating {TRANSACTION_STATE_TOPIC} failed");
                TxnError::CoordinatorNotAvailable
            })
    }

    /// Whether this broker coordinates `transactional_id` now.
    pub fn check_coordinator(&self, transactional_id: &str) -> Result<(), TxnError> {
        let state = lock(&self.state);
        let partition = state.partition_of(transactional_id);
        drop(state);
        if self
            .topics
            .partition(TRANSACTION_STATE_TOPIC, partition)
            .is_none()
        {
            return Err(TxnError::CoordinatorNotAvailable);
        }
        Ok(())
    }

    pub async fn init_producer_id(
        self: &Arc<Self>,
        request: InitProducerId,
    ) -> Result<ProducerIdAndEpoch, TxnError> {
        let id = request.transactional_id.clone();
        self.run(
            &id,
            move |c, ids, now| c.init_producer_id(&request, now, ids),
            |a| match a {
                Answer::InitProducerId(result) => Some(result),
                _ => None,
            },
        )
        .await
    }

    pub async fn add_partitions(
        self: &Arc<Self>,
        transactional_id: &str,
        producer: ProducerIdAndEpoch,
        partitions: Vec<TopicPartition>,
        version: TransactionVersion,
    ) -> Result<(), TxnError> {
        let id = transactional_id.to_owned();
        self.run(
            transactional_id,
            move |c, _, now| {
                let (pid, epoch) = (producer.producer_id, producer.producer_epoch);
                c.add_partitions(&id, pid, epoch, &partitions, version, now)
            },
            added,
        )
        .await
    }

    pub async fn add_offsets(
        self: &Arc<Self>,
        transactional_id: &str,
        producer: ProducerIdAndEpoch,
        group_id: &str,
    ) -> Result<(), TxnError> {
        let id = transactional_id.to_owned();
        let group = group_id.to_owned();
        let offsets_partitions = self.groups.settings().offsets_partitions;
        self.run(
            transactional_id,
            move |c, _, now| {
                let (pid, epoch) = (producer.producer_id, producer.producer_epoch);
                c.add_offsets(&id, pid, epoch, &group, offsets_partitions, now)
            },
            added,
        )
        .await
    }

    /// A transactional write to `partition` (Produce, TxnOffsetCommit): it must be in the
    /// transaction, or under Transactions V2 it joins it.
    pub async fn verify_or_add_partition(
        self: &Arc<Self>,
        transactional_id: &str,
        producer: ProducerIdAndEpoch,
        partition: TopicPartition,
        version: TransactionVersion,
    ) -> Result<(), TxnError> {
        let id = transactional_id.to_owned();
        self.run(
            transactional_id,
            move |c, _, now| {
                let (pid, epoch) = (producer.producer_id, producer.producer_epoch);
                c.verify_or_add_partition(&id, pid, epoch, &partition, version, now)
            },
            added,
        )
        .await
    }

    pub async fn end_txn(
        self: &Arc<Self>,
        transactional_id: &str,
        producer: ProducerIdAndEpoch,
        commit: bool,
        version: TransactionVersion,
    ) -> Result<ProducerIdAndEpoch, TxnError> {
        let id = transactional_id.to_owned();
        self.run(
            transactional_id,
            move |c, ids, now| {
                let (pid, epoch) = (producer.producer_id, producer.producer_epoch);
                c.end_txn(&id, pid, epoch, commit, version, now, ids)
            },
            |a| match a {
                Answer::EndTxn(result) => Some(result),
                _ => None,
            },
        )
        .await
    }

    pub fn describe(&self, transactional_id: &str) -> Result<TxnDescription, TxnError> {
        lock(&self.state).describe(transactional_id)
    }

    pub fn list(&self, filter: &ListFilter) -> Result<TxnList, TxnError> {
        lock(&self.state).list(filter, now_ms())
    }

    /// Runs one coordinator step on the blocking pool (it may allocate a producer id); an
    /// answer comes back now, a write is appended and its answer awaited.
    async fn run<A: Send + 'static>(
        self: &Arc<Self>,
        transactional_id: &str,
        step: impl FnOnce(
            &mut TxnCoordinator,
            &mut dyn ProducerIdSource,
            i64,
        ) -> Result<Step<A>, TxnError>
        + Send
        + 'static,
        answer: fn(Answer) -> Option<Result<A, TxnError>>,
    ) -> Result<A, TxnError> {
        self.ensure_state_topic()?;
        let service = Arc::clone(self);
        let id = transactional_id.to_owned();
        let stepped = tokio::task::spawn_blocking(move || {
            let mut ids = ClusterIds(&service.topics);
            let mut state = lock(&service.state);
            match step(&mut state, &mut ids, now_ms())? {
                Step::Answer(answer) => Ok(Ok(answer)),
                Step::Write(write) => {
                    let (send, receive) = oneshot::channel();
                    lock(&service.waiting).insert(id, send);
                    Ok(Err((write, receive)))
                }
            }
        })
        .await
        .map_err(|error| TxnError::Internal(error.to_string()))?;
        match stepped? {
            Ok(answered) => Ok(answered),
            Err((write, receive)) => {
                self.spawn_write(write);
                match receive.await {
                    Ok(done) => answer(done)
                        .unwrap_or_else(|| Err(TxnError::Internal("a mismatched answer".into()))),
                    Err(_) => Err(TxnError::NotCoordinator),
                }
            }
        }
    }

    fn spawn_write(self: &Arc<Self>, write: Write) {
        let service = Arc::clone(self);
        tokio::spawn(async move {
            let result = service.append(&write).await;
            if let Err(error) = &result {
                tracing::warn!(transactional_id = %write.transactional_id, ?error, "writing transaction state failed");
            }
            let done = lock(&service.state).write_done(
                &write.transactional_id,
                write.coordinator_epoch,
                result,
                now_ms(),
            );
            if let Some(answer) = done.answer
                && let Some(waiting) = lock(&service.waiting).remove(&write.transactional_id)
            {
                let _ = waiting.send(answer);
            }
            service.process(done.effects);
        });
    }

    /// Appends `write`'s record and waits until it is durable and committed.
    async fn append(&self, write: &Write) -> Result<(), WriteError> {
        let partition = self
            .topics
            .partition(TRANSACTION_STATE_TOPIC, write.partition)
            .ok_or(WriteError::CoordinatorNotAvailable)?;
        let now = now_ms();
        let (key, value) = (write.key_bytes(), write.value_bytes());
        let batch = BatchBuilder::new(now)
            .record(Some(&key), value.as_deref(), now)
            .build();
        let appended = tokio::task::spawn_blocking(move || {
            partition.append(Bytes::from(batch), AppendOrigin::Coordinator, now)
        })
        .await
        .map_err(|error| WriteError::Failed(error.to_string()))?
        .map_err(|error| match error {
            PartitionError::NotLeader { .. } | PartitionError::Log(_) => WriteError::NotCoordinator,
            other => WriteError::Failed(other.to_string()),
        })?;
        appended
            .durable
            .await
            .map_err(|_| WriteError::NotCoordinator)?;
        appended
            .committed
            .await
            .map_err(|_| WriteError::NotCoordinator)?;
        Ok(())
    }

    /// Starts the writes and marker sends of `effects`.
    fn process(self: &Arc<Self>, effects: Effects) {
        for write in effects.writes {
            self.spawn_write(write);
        }
        for markers in effects.markers {
            let service = Arc::clone(self);
            tokio::spawn(async move { service.send_markers(markers).await });
        }
    }

    /// Writes the transaction's marker on every partition at once (each retried), then its
    /// completion record. Under `log.flush.policy=sync` each marker waits for an fsync: one
    /// after another, a transaction's end would take as many as it has partitions.
    async fn send_markers(self: Arc<Self>, markers: TxnMarkers) {
        let written = futures::future::join_all(
            markers
                .partitions
                .iter()
                .map(|partition| self.write_marker(&markers, partition)),
        )
        .await;
        if written.contains(&false) {
            return;
        }
        let completed =
            lock(&self.state).markers_written(&markers.transactional_id, markers.coordinator_epoch);
        match completed {
            Ok(write) => self.spawn_write(write),
            Err(error) => {
                tracing::debug!(transactional_id = %markers.transactional_id, %error, "markers written for a transaction no longer waited on");
            }
        }
    }

    /// One partition's marker, retried; `false` when it was given up.
    async fn write_marker(&self, markers: &TxnMarkers, partition: &TopicPartition) -> bool {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.markers.write(markers, partition).await {
                Ok(_) => return true,
                Err(error) if attempt < MARKER_ATTEMPTS => {
                    tracing::warn!(transactional_id = %markers.transactional_id, topic = %partition.topic, partition = partition.partition, %error, "writing a transaction marker failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt.min(10))))
                        .await;
                }
                Err(error) => {
                    tracing::error!(transactional_id = %markers.transactional_id, topic = %partition.topic, partition = partition.partition, %error, "giving up writing a transaction marker; the transaction completes when its coordinator partition is loaded again");
                    return false;
                }
            }
        }
    }

    fn spawn_tick(self: &Arc<Self>) {
        let service = Arc::clone(self);
        tokio::spawn(async move {
            let ticked = tokio::task::spawn_blocking({
                let service = Arc::clone(&service);
                move || {
                    let mut ids = ClusterIds(&service.topics);
                    lock(&service.state).tick(now_ms(), &mut ids)
                }
            })
            .await;
            if let Ok(effects) = ticked {
                service.process(effects);
            }
        });
    }

    /// Loads every `__transaction_state` partition hosted here (led, on one node).
    fn load_all(self: &Arc<Self>) {
        for partition in self.topics.all_partitions() {
            if partition.topic == TRANSACTION_STATE_TOPIC {
                self.spawn_load(partition.index, partition.leader_epoch());
            }
        }
    }

    fn spawn_load(self: &Arc<Self>, partition: i32, leader_epoch: i32) {
        let service = Arc::clone(self);
        tokio::spawn(async move {
            let loaded = tokio::task::spawn_blocking({
                let service = Arc::clone(&service);
                move || service.load(partition, leader_epoch)
            })
            .await;
            match loaded {
                Ok(Ok(effects)) => service.process(effects),
                Ok(Err(error)) => {
                    tracing::warn!(partition, %error, "loading {TRANSACTION_STATE_TOPIC} stopped")
                }
                Err(error) => tracing::error!(partition, %error, "the loader failed"),
            }
        });
    }

    /// Reads `__transaction_state-partition` from its start into the coordinator.
    fn load(&self, index: i32, leader_epoch: i32) -> Result<Effects, TxnError> {
        let answers = lock(&self.state).begin_load(index, leader_epoch);
        self.answer_all(answers);
        let Some(partition) = self.topics.partition(TRANSACTION_STATE_TOPIC, index) else {
            return Err(TxnError::NotCoordinator);
        };
        let mut replay = TxnLogReplay::default();
        let mut offset = partition.offsets().log_start;
        loop {
            let read = partition
                .read(offset, 1 << 20, Isolation::ReadUncommitted)
                .map_err(|error| TxnError::Internal(error.to_string()))?;
            if read.records.is_empty() {
                break;
            }
            let stored = read_batches(&read.records, LOAD_BATCH_LIMIT);
            for error in &stored.skipped {
                tracing::warn!(partition = index, %error, "skipping a batch of {TRANSACTION_STATE_TOPIC}");
            }
            for entry in stored.entries {
                let StoredEntry::Record { key, value, .. } = entry else {
                    continue;
                };
                if let Err(error) = replay.apply(&key, value.as_deref()) {
                    tracing::warn!(partition = index, %error, "skipping a record of {TRANSACTION_STATE_TOPIC}");
                }
            }
            let next = stored.next_offset.unwrap_or(offset);
            if next <= offset {
                break;
            }
            offset = next;
        }
        let loaded = replay.len();
        let effects = lock(&self.state).finish_load(index, leader_epoch, replay, now_ms())?;
        tracing::info!(
            partition = index,
            transactional_ids = loaded,
            "loaded {TRANSACTION_STATE_TOPIC} partition"
        );
        Ok(effects)
    }

    fn answer_all(&self, answers: Vec<(String, Answer)>) {
        let mut waiting = lock(&self.waiting);
        for (id, answer) in answers {
            if let Some(sender) = waiting.remove(&id) {
                let _ = sender.send(answer);
            }
        }
    }
}

fn added(answer: Answer) -> Option<Result<(), TxnError>> {
    match answer {
        Answer::AddPartitions(result) => Some(result),
        _ => None,
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
