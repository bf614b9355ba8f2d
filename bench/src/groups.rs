//! Consumer-group figures, driven by librdkafka members and by a raw protocol client.
//!
//! - **Read as a group**: three members of one group read a 6-partition topic from the
//!   beginning, timed from the first record any of them receives to the last; the same topic
//!   read by a group of one member, in the same run, is the baseline (`vs-1`).
//! - **Time to stable**: a new group of three subscribing at once, from the subscribes until
//!   every member holds a share of the partitions, disjoint and covering all (the broker's
//!   `group.initial.rebalance.delay.ms` is most of it, 3 s by default as in Kafka); and a
//!   third member joining a stable group of two, until all three hold their new shares (the
//!   others learn of the rebalance from their next heartbeat, every `heartbeat.interval.ms`,
//!   3 s by librdkafka's default).
//! - **Many groups**: [`many_groups`] joins [`MANY_GROUPS`] groups of one member each over the
//!   wire (JoinGroup, SyncGroup, OffsetCommit), from several connections at once, so the
//!   broker's resident set can be read with them all stable and holding an offset.
//!
//! Members are `BaseConsumer`s polled on their own threads; their rebalance callbacks record
//! the partitions each holds. Every wait is bounded.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use fjord_e2e::wire::WireClient;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, GroupId, JoinGroupRequest, OffsetCommitRequest, RequestKind, ResponseKind,
    SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext, Rebalance};

/// Partitions of the topic the group figures read.
pub const GROUP_PARTITIONS: i32 = 6;
/// Groups [`many_groups`] creates.
pub const MANY_GROUPS: usize = 10_000;
/// How long a group may take to become stable, or a read to finish.
const WAIT: Duration = Duration::from_secs(60);
/// Connections [`many_groups`] spreads its groups over.
const CONNECTIONS: usize = 16;

/// The partitions each member holds (`None`: not yet assigned), shared with the callbacks.
type Holdings = Arc<Mutex<Vec<Option<BTreeSet<i32>>>>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records what member `index` holds after each rebalance.
struct Tracker {
    index: usize,
    holdings: Holdings,
}

impl ClientContext for Tracker {}

impl ConsumerContext for Tracker {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        // The whole assignment after the change: with the consumer protocol (and cooperative
        // assignors) a callback carries only the partitions added or taken away.
        let held: Option<BTreeSet<i32>> = match rebalance {
            Rebalance::Error(_) => None,
            Rebalance::Assign(_) | Rebalance::Revoke(_) => consumer
                .assignment()
                .ok()
                .map(|list| list.elements().iter().map(|e| e.partition()).collect()),
        };
        if let Some(slot) = lock(&self.holdings).get_mut(self.index) {
            *slot = held.filter(|held| !held.is_empty());
        }
    }
}

/// Records read by all members together.
#[derive(Default)]
struct Reading {
    records: AtomicU64,
    bytes: AtomicU64,
    first: Mutex<Option<Instant>>,
    /// When the record count reached the expected count.
    done: Mutex<Option<Instant>>,
}

/// The rebalance protocol a group's members speak (`group.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// JoinGroup/SyncGroup with the client's assignor (librdkafka's default `range,roundrobin`).
    Classic,
    /// KIP-848: ConsumerGroupHeartbeat, the broker's assignor.
    Consumer,
}

/// A group's members, each polled on its own thread until dropped.
pub struct Group {
    holdings: Holdings,
    reading: Arc<Reading>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<anyhow::Result<()>>>,
    bootstrap: String,
    group: String,
    topic: String,
    expected: u64,
    protocol: Protocol,
}

impl Group {
    /// A group of no members yet; `expected` is the record count that ends a read.
    pub fn new(
        bootstrap: &str,
        group: &str,
        topic: &str,
        expected: u64,
        protocol: Protocol,
    ) -> Self {
        Self {
            protocol,
            holdings: Arc::default(),
            reading: Arc::default(),
            stop: Arc::default(),
            threads: Vec::new(),
            bootstrap: bootstrap.into(),
            group: group.into(),
            topic: topic.into(),
            expected,
        }
    }

    /// Starts one more member, which subscribes at once.
    pub fn add_member(&mut self) -> anyhow::Result<()> {
        let index = {
            let mut holdings = lock(&self.holdings);
            holdings.push(None);
            holdings.len() - 1
        };
        let mut config = ClientConfig::new();
        if self.protocol == Protocol::Consumer {
            config.set("group.protocol", "consumer");
        }
        let consumer: BaseConsumer<Tracker> = config
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", &self.group)
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            // As in kafka_load::fetch_all: measure the read, not librdkafka's queue back-off.
            .set("fetch.queue.backoff.ms", "10")
            .set("queued.min.messages", "1000000")
            .create_with_context(Tracker {
                index,
                holdings: self.holdings.clone(),
            })
            .context("creating a group member")?;
        consumer.subscribe(&[&self.topic])?;
        let (stop, reading, expected) = (self.stop.clone(), self.reading.clone(), self.expected);
        self.threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let Some(message) = consumer.poll(Duration::from_millis(50)) else {
                    continue;
                };
                let message = message.context("a group member's read")?;
                let now = Instant::now();
                lock(&reading.first).get_or_insert(now);
                reading
                    .bytes
                    .fetch_add(message.payload_len() as u64, Ordering::Relaxed);
                if reading.records.fetch_add(1, Ordering::Relaxed) + 1 == expected {
                    *lock(&reading.done) = Some(now);
                }
            }
            consumer.unsubscribe();
            Ok(())
        }));
        Ok(())
    }

    /// Waits until every member holds a share: disjoint, covering every partition, none empty.
    /// Returns how long that took from `since`.
    pub fn wait_stable(&self, since: Instant) -> anyhow::Result<Duration> {
        while since.elapsed() < WAIT {
            if is_stable(&lock(&self.holdings), GROUP_PARTITIONS) {
                return Ok(since.elapsed());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        bail!(
            "group {} not stable within {WAIT:?}: members hold {:?}",
            self.group,
            lock(&self.holdings)
        )
    }

    /// Waits until the members have read the expected records; returns records, bytes and the
    /// time from the first record to the last.
    pub fn wait_read(&self) -> anyhow::Result<(u64, u64, Duration)> {
        let started = Instant::now();
        loop {
            if let (Some(first), Some(done)) =
                (*lock(&self.reading.first), *lock(&self.reading.done))
            {
                return Ok((
                    self.reading.records.load(Ordering::Relaxed),
                    self.reading.bytes.load(Ordering::Relaxed),
                    done.duration_since(first),
                ));
            }
            if started.elapsed() > WAIT {
                bail!(
                    "group {} read {} of {} records within {WAIT:?}",
                    self.group,
                    self.reading.records.load(Ordering::Relaxed),
                    self.expected
                );
            }
            if let Some(finished) = self.threads.iter().position(JoinHandle::is_finished) {
                bail!("member {finished} of group {} stopped reading", self.group);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Whether `holdings` share `partitions` out: every member holds some, no partition twice,
/// none left over.
pub fn is_stable(holdings: &[Option<BTreeSet<i32>>], partitions: i32) -> bool {
    let mut seen = BTreeSet::new();
    for held in holdings {
        match held {
            Some(held) if !held.is_empty() => {
                for partition in held {
                    if !seen.insert(*partition) {
                        return false;
                    }
                }
            }
            _ => return false,
        }
    }
    !holdings.is_empty() && seen == (0..partitions).collect::<BTreeSet<_>>()
}

/// A group of `members`, all subscribing at once: time to stable, then the read of the topic.
pub fn read_as_group(
    bootstrap: &str,
    group: &str,
    topic: &str,
    members: usize,
    expected: u64,
) -> anyhow::Result<(Duration, (u64, u64, Duration))> {
    let mut consumers = Group::new(bootstrap, group, topic, expected, Protocol::Classic);
    let since = Instant::now();
    for _ in 0..members {
        consumers.add_member()?;
    }
    let stable = consumers.wait_stable(since)?;
    let read = consumers.wait_read()?;
    Ok((stable, read))
}

/// A stable group of two, then a third member: the time from its subscribe until all three
/// hold their shares.
pub fn third_member_joins(
    bootstrap: &str,
    group: &str,
    topic: &str,
    protocol: Protocol,
) -> anyhow::Result<Duration> {
    let mut consumers = Group::new(bootstrap, group, topic, u64::MAX, protocol);
    let since = Instant::now();
    consumers.add_member()?;
    consumers.add_member()?;
    consumers.wait_stable(since)?;
    let since = Instant::now();
    consumers.add_member()?;
    consumers.wait_stable(since)
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// Joins `count` groups of one member each, each committing one offset of partition 0 of
/// `topic`, over [`CONNECTIONS`] connections. The broker must complete a lone member's join
/// at once (`group.initial.rebalance.delay.ms=0`). Members stay until their session timeout.
pub fn many_groups(
    address: SocketAddr,
    prefix: &str,
    topic: &str,
    count: usize,
) -> anyhow::Result<()> {
    let threads: Vec<_> = (0..CONNECTIONS)
        .map(|connection| {
            let (prefix, topic) = (prefix.to_owned(), topic.to_owned());
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut client = WireClient::connect(address)?;
                for index in (connection..count).step_by(CONNECTIONS) {
                    one_group(&mut client, &format!("{prefix}-{index:05}"), &topic)?;
                }
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("a group-joining thread panicked"))??;
    }
    Ok(())
}

/// JoinGroup (v3: no member id round trip), SyncGroup with the member's own assignment,
/// OffsetCommit; retried while the coordinator loads.
fn one_group(client: &mut WireClient, group: &str, topic: &str) -> anyhow::Result<()> {
    const JOIN_VERSION: i16 = 3;
    const SYNC_VERSION: i16 = 3;
    const COMMIT_VERSION: i16 = 7;
    /// COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE: ask again.
    const RETRIABLE: [i16; 2] = [14, 15];
    let started = Instant::now();
    let join = loop {
        let request = JoinGroupRequest::default()
            .with_group_id(GroupId(text(group)))
            .with_session_timeout_ms(300_000)
            .with_rebalance_timeout_ms(60_000)
            .with_protocol_type(text("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(text("range"))
                    .with_metadata(bytes::Bytes::new()),
            ]);
        let ResponseKind::JoinGroup(join) = client.call(
            ApiKey::JoinGroup,
            JOIN_VERSION,
            RequestKind::JoinGroup(request),
        )?
        else {
            bail!("JoinGroup of {group}: not a JoinGroup response");
        };
        if RETRIABLE.contains(&join.error_code) && started.elapsed() < WAIT {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        anyhow::ensure!(
            join.error_code == 0,
            "JoinGroup of {group}: error {}",
            join.error_code
        );
        break join;
    };
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_generation_id(join.generation_id)
        .with_member_id(join.member_id.clone())
        .with_assignments(vec![
            SyncGroupRequestAssignment::default()
                .with_member_id(join.member_id.clone())
                .with_assignment(bytes::Bytes::from_static(b"bench")),
        ]);
    let ResponseKind::SyncGroup(synced) = client.call(
        ApiKey::SyncGroup,
        SYNC_VERSION,
        RequestKind::SyncGroup(sync),
    )?
    else {
        bail!("SyncGroup of {group}: not a SyncGroup response");
    };
    anyhow::ensure!(
        synced.error_code == 0,
        "SyncGroup of {group}: error {}",
        synced.error_code
    );
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(text(group)))
        .with_generation_id_or_member_epoch(join.generation_id)
        .with_member_id(join.member_id)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(text(topic)))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(0),
                ]),
        ]);
    let ResponseKind::OffsetCommit(committed) = client.call(
        ApiKey::OffsetCommit,
        COMMIT_VERSION,
        RequestKind::OffsetCommit(commit),
    )?
    else {
        bail!("OffsetCommit of {group}: not an OffsetCommit response");
    };
    for partition in committed.topics.iter().flat_map(|t| &t.partitions) {
        anyhow::ensure!(
            partition.error_code == 0,
            "OffsetCommit of {group}: error {}",
            partition.error_code
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(partitions: &[i32]) -> Option<BTreeSet<i32>> {
        Some(partitions.iter().copied().collect())
    }

    #[test]
    fn a_group_is_stable_when_its_members_share_every_partition_once() {
        assert!(is_stable(&[held(&[0, 1]), held(&[2, 3]), held(&[4, 5])], 6));
        assert!(is_stable(&[held(&[0, 1, 2, 3, 4, 5])], 6));
    }

    #[test]
    fn a_member_without_partitions_or_a_partition_held_twice_or_missing_is_not_stable() {
        assert!(!is_stable(&[held(&[0, 1, 2]), held(&[3, 4, 5]), None], 6));
        assert!(!is_stable(
            &[held(&[0, 1, 2]), held(&[3, 4, 5]), held(&[])],
            6
        ));
        assert!(!is_stable(&[held(&[0, 1, 2]), held(&[2, 3, 4, 5])], 6));
        assert!(!is_stable(&[held(&[0, 1, 2]), held(&[3, 4])], 6));
        assert!(!is_stable(&[held(&[0, 1, 2]), held(&[3, 4, 9])], 6));
        assert!(!is_stable(&[], 6));
    }
}
