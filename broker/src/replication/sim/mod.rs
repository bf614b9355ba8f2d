//! A seeded simulation of one partition replicated on three brokers, with the controller: the
//! real rules — [`LeaderProgress`], [`diverging`], [`truncation_offset`] and the controller's
//! `cluster::leadership` — driven by a deterministic scheduler that delays, reorders and drops
//! messages, cuts brokers off (from each other and from the controller), and crashes and
//! restarts them.
//!
//! Under `log.flush.policy=sync` ([`Counts::Durable`]) a crash is a power loss: what a broker
//! had not fsynced is gone. Under `os` ([`Counts::LogEnd`]) it is a process kill: the page
//! cache keeps the log (a power loss of every replica at once may lose records there, as in
//! Kafka).
//!
//! Checked after every event:
//! - at most one leader per leader epoch;
//! - every record acknowledged to an `acks=all` producer is, at its offset, in the log of every
//!   broker that leads at a later epoch — and, at the end, on every replica;
//! - what any replica ever had below its high watermark is the committed log: it never changes
//!   (so replicas agree below their high watermarks, and no high watermark takes anything back);
//! - at the end, once the faults heal, every replica holds the same log, all of it committed.
//!

mod broker;
mod controller;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{Counts, EpochEnd, LeaderProgress, diverging, truncation_offset};
use crate::cluster::PartitionAssignment;
use crate::log::EpochEntry;

/// xorshift64*: small, seedable, good enough to pick events.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const BROKERS: [i32; 3] = [1, 2, 3];
/// The controller's id on the network.
const CONTROLLER: i32 = 0;
const LAG_MAX_MS: i64 = 300;
const SESSION_MS: u64 = 200;
const MAX_FETCH: usize = 5;
const FETCH_TIMEOUT: u64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    epoch: i32,
    value: u64,
}

#[derive(Debug, Clone)]
enum Fetched {
    Records {
        records: Vec<Record>,
        high_watermark: i64,
    },
    Diverging(EpochEnd),
    /// Not the leader at that epoch (or not any more).
    Refused,
}

#[derive(Debug, Clone)]
enum Msg {
    Fetch {
        incarnation: u32,
        leader_epoch: i32,
        fetch_offset: i64,
        last_epoch: i32,
        durable: i64,
    },
    FetchReply {
        leader_epoch: i32,
        /// The fetch offset it answers: a reply to an older fetch (late, or duplicated) finds
        /// the follower's log end moved and is dropped, as Kafka's fetcher drops it.
        fetch_offset: i64,
        fetched: Fetched,
    },
    Assignment(PartitionAssignment),
    AlterIsr {
        leader_epoch: i32,
        partition_epoch: i32,
        isr: Vec<i32>,
    },
    AlterIsrReply {
        leader_epoch: i32,
        accepted: bool,
    },
    /// The failure detector: the controller has not heard from the broker for a session.
    SessionExpired {
        incarnation: u32,
    },
    /// The broker (re)started, or is reachable again, and asks to be unfenced.
    Heartbeat {
        incarnation: u32,
    },
}

struct Envelope {
    at: u64,
    seq: u64,
    from: i32,
    to: i32,
    msg: Msg,
    /// The failure detector's verdict: it sits with the controller, no link can lose it.
    detected: bool,
}

struct Node {
    id: i32,
    up: bool,
    incarnation: u32,
    log: Vec<Record>,
    durable: usize,
    epochs: Vec<EpochEntry>,
    high_watermark: i64,
    view: PartitionAssignment,
    leading: Option<LeaderProgress>,
    /// When its fetch in flight was sent (a lost one times out).
    fetching: Option<u64>,
    /// After a restart it leads only at a leader epoch above this one — the last it knew of,
    /// in its log or led: the controller bumps the epochs of a broker that comes back as a
    /// new incarnation, and a stale message naming it leader at an old epoch must not make a
    /// log that lost its unflushed tail lead that epoch again.
    restarted_after_epoch: i32,
}

impl Node {
    fn log_end(&self) -> i64 {
        self.log.len() as i64
    }

    fn assign_epoch(&mut self, epoch: i32, offset: i64) {
        if self.epochs.last().is_none_or(|last| last.epoch < epoch) {
            self.epochs.retain(|e| e.start_offset < offset);
            self.epochs.push(EpochEntry {
                epoch,
                start_offset: offset,
            });
        }
    }

    fn truncate(&mut self, offset: i64) {
        let offset = offset.clamp(0, self.log_end()) as usize;
        self.log.truncate(offset);
        self.durable = self.durable.min(offset);
        self.epochs.retain(|e| (e.start_offset as usize) < offset);
    }
}

struct Sim {
    rng: Rng,
    counts: Counts,
    now: u64,
    seq: u64,
    nodes: Vec<Node>,
    controller: PartitionAssignment,
    fenced: BTreeSet<i32>,
    incarnations: BTreeMap<i32, u32>,
    net: Vec<Envelope>,
    /// Links cut, both ways (the controller is node 0).
    cut: BTreeSet<(i32, i32)>,
    next_value: u64,
    /// Acknowledgements not yet given: (leader, its epoch, offset, value).
    waiting: VecDeque<(i32, i32, i64, u64)>,
    acked: BTreeMap<i64, (u64, i32)>,
    committed: Vec<Record>,
    leaders: BTreeMap<i32, i32>,
    hw_seen: BTreeMap<(i32, u32), i64>,
}

impl Sim {
    fn new(seed: u64, counts: Counts) -> Self {
        let assignment = PartitionAssignment::new(BROKERS.to_vec());
        let mut sim = Sim {
            rng: Rng::new(seed),
            counts,
            now: 0,
            seq: 0,
            nodes: BROKERS
                .iter()
                .map(|id| Node {
                    id: *id,
                    up: true,
                    incarnation: 0,
                    log: Vec::new(),
                    durable: 0,
                    epochs: Vec::new(),
                    high_watermark: 0,
                    view: assignment.clone(),
                    leading: None,
                    fetching: None,
                    restarted_after_epoch: -1,
                })
                .collect(),
            controller: assignment.clone(),
            fenced: BTreeSet::new(),
            incarnations: BROKERS.iter().map(|id| (*id, 0)).collect(),
            net: Vec::new(),
            cut: BTreeSet::new(),
            next_value: 1,
            waiting: VecDeque::new(),
            acked: BTreeMap::new(),
            committed: Vec::new(),
            leaders: BTreeMap::new(),
            hw_seen: BTreeMap::new(),
        };
        for id in BROKERS {
            sim.apply_view(id, assignment.clone());
        }
        sim
    }

    fn node(&mut self, id: i32) -> &mut Node {
        &mut self.nodes[(id - 1) as usize]
    }

    fn linked(&self, a: i32, b: i32) -> bool {
        !self.cut.contains(&(a.min(b), a.max(b)))
    }

    fn send(&mut self, from: i32, to: i32, msg: Msg) {
        let delay = 1 + self.rng.below(20);
        self.seq += 1;
        self.net.push(Envelope {
            at: self.now + delay,
            seq: self.seq,
            from,
            to,
            msg,
            detected: false,
        });
    }

    /// Every broker hears of a new assignment (each message may be late or lost).
    fn broadcast(&mut self) {
        for id in BROKERS {
            self.send(CONTROLLER, id, Msg::Assignment(self.controller.clone()));
        }
    }

    // --- events ---------------------------------------------------------------------------

    fn deliver_next(&mut self) {
        let Some(index) = (0..self.net.len()).min_by_key(|i| (self.net[*i].at, self.net[*i].seq))
        else {
            return;
        };
        // Reordering: sometimes a later message overtakes.
        let index = if self.net.len() > 1 && self.rng.chance(20) {
            self.rng.below(self.net.len() as u64) as usize
        } else {
            index
        };
        let envelope = self.net.swap_remove(index);
        self.now = self.now.max(envelope.at);
        if !envelope.detected && !self.linked(envelope.from, envelope.to) {
            return;
        }
        if envelope.to == CONTROLLER {
            self.controller_receive(envelope.from, envelope.msg);
        } else if self.nodes[(envelope.to - 1) as usize].up {
            self.receive(envelope.from, envelope.to, envelope.msg);
        }
    }

    fn produce(&mut self) {
        let leaders: Vec<i32> = self
            .nodes
            .iter()
            .filter(|n| n.up && n.leading.is_some())
            .map(|n| n.id)
            .collect();
        if leaders.is_empty() {
            return;
        }
        let id = leaders[self.rng.below(leaders.len() as u64) as usize];
        let value = self.next_value;
        self.next_value += 1;
        let node = self.node(id);
        let epoch = node.view.leader_epoch;
        let offset = node.log_end();
        node.log.push(Record { epoch, value });
        self.waiting.push_back((id, epoch, offset, value));
    }

    fn fetch(&mut self, id: i32) {
        let now = self.now;
        let node = &self.nodes[(id - 1) as usize];
        let in_flight = node.fetching.is_some_and(|sent| now - sent < FETCH_TIMEOUT);
        if !node.up || in_flight || node.leading.is_some() || node.view.leader < 0 {
            return;
        }
        let leader = node.view.leader;
        let msg = Msg::Fetch {
            incarnation: node.incarnation,
            leader_epoch: node.view.leader_epoch,
            fetch_offset: node.log_end(),
            last_epoch: node.log.last().map_or(-1, |r| r.epoch),
            durable: node.durable as i64,
        };
        self.node(id).fetching = Some(now);
        self.send(id, leader, msg);
    }

    fn leader_tick(&mut self, id: i32) {
        let now = self.now as i64;
        let node = self.node(id);
        if !node.up {
            return;
        }
        let (log_end, durable) = (node.log_end(), node.durable as i64);
        let Some(progress) = &mut node.leading else {
            return;
        };
        if let Some(hw) = progress.advance(log_end, durable) {
            node.high_watermark = hw;
        }
        if let Some(isr) = progress.wanted_isr(now, LAG_MAX_MS) {
            progress.proposed(&isr);
            let msg = Msg::AlterIsr {
                leader_epoch: node.view.leader_epoch,
                partition_epoch: progress.partition_epoch(),
                isr,
            };
            self.send(id, CONTROLLER, msg);
        }
    }

    fn crash(&mut self, id: i32) {
        let power_loss = self.counts == Counts::Durable;
        let node = self.node(id);
        node.up = false;
        node.leading = None;
        node.fetching = None;
        node.high_watermark = 0;
        if power_loss {
            let durable = node.durable as i64;
            node.truncate(durable);
        }
        let incarnation = node.incarnation;
        self.expire_session(id, incarnation);
    }

    fn expire_session(&mut self, id: i32, incarnation: u32) {
        // The failure detector tells the controller once a session's worth of silence passed.
        self.seq += 1;
        self.net.push(Envelope {
            at: self.now + SESSION_MS,
            seq: self.seq,
            from: id,
            to: CONTROLLER,
            msg: Msg::SessionExpired { incarnation },
            detected: true,
        });
    }

    fn restart(&mut self, id: i32) {
        let node = self.node(id);
        node.up = true;
        node.incarnation += 1;
        let incarnation = node.incarnation;
        node.restarted_after_epoch = node
            .epochs
            .last()
            .map_or(-1, |e| e.epoch)
            .max(node.view.leader_epoch);
        if node.view.leader == id {
            node.view.leader = -1;
        }
        self.send(id, CONTROLLER, Msg::Heartbeat { incarnation });
    }

    fn acknowledge(&mut self) {
        let mut still = VecDeque::new();
        while let Some((id, epoch, offset, value)) = self.waiting.pop_front() {
            let node = &self.nodes[(id - 1) as usize];
            let here = node.log.get(offset as usize).map(|r| r.value) == Some(value);
            let leading = node.up && node.leading.is_some() && node.view.leader_epoch == epoch;
            if !here || !leading {
                continue; // the producer gets an error and retries with a new record
            }
            if node.high_watermark > offset && node.durable as i64 > offset {
                let before = self.acked.insert(offset, (value, epoch));
                assert!(before.is_none(), "offset {offset} acknowledged twice");
                for other in &self.nodes {
                    if other.up && other.leading.is_some() && other.view.leader_epoch > epoch {
                        assert_eq!(
                            other.log.get(offset as usize).map(|r| r.value),
                            Some(value),
                            "broker {} leads a later epoch without offset {offset} acknowledged at epoch {epoch}",
                            other.id
                        );
                    }
                }
            } else {
                still.push_back((id, epoch, offset, value));
            }
        }
        self.waiting = still;
    }

    fn check(&mut self) {
        for node in &self.nodes {
            if !node.up {
                continue;
            }
            let hw = node.high_watermark.min(node.log_end()) as usize;
            assert!(
                node.high_watermark <= node.log_end(),
                "broker {} has a high watermark {} past its log end {}",
                node.id,
                node.high_watermark,
                node.log_end()
            );
            let seen = self.hw_seen.entry((node.id, node.incarnation)).or_insert(0);
            assert!(
                node.high_watermark >= *seen,
                "broker {}'s high watermark went back from {seen} to {}",
                node.id,
                node.high_watermark
            );
            *seen = node.high_watermark;
            let shared = hw.min(self.committed.len());
            assert_eq!(
                node.log[..shared],
                self.committed[..shared],
                "broker {} disagrees with the committed log below its high watermark",
                node.id
            );
            if hw > self.committed.len() {
                self.committed
                    .extend_from_slice(&node.log[self.committed.len()..hw]);
            }
        }
    }

    fn step(&mut self, faults: bool, producing: bool) {
        let id = BROKERS[self.rng.below(3) as usize];
        match self.rng.below(100) {
            0..=39 => self.deliver_next(),
            40..=54 if producing => self.produce(),
            55..=69 => self.fetch(id),
            70..=79 => self.leader_tick(id),
            80..=87 => {
                let node = self.node(id);
                if node.up {
                    node.durable = node.log.len();
                }
            }
            88..=92 => {
                let node = &self.nodes[(id - 1) as usize];
                if node.up {
                    let incarnation = node.incarnation;
                    self.send(id, CONTROLLER, Msg::Heartbeat { incarnation });
                }
            }
            93..=95 => self.now += 1 + self.rng.below(30),
            96.. if faults => self.fault(),
            _ => self.now += 1,
        }
        self.acknowledge();
        self.check();
    }

    /// Heals every fault, then runs without new records until every replica holds the same
    /// log, all of it committed, with every acknowledged record in it.
    fn finish(&mut self) {
        self.cut.clear();
        for id in BROKERS {
            if !self.nodes[(id - 1) as usize].up {
                self.restart(id);
            }
        }
        for _ in 0..200_000 {
            self.step(false, false);
            if self.converged() {
                break;
            }
        }
        assert!(
            self.converged(),
            "the replicas did not converge: controller {:?}, {}",
            self.controller,
            self.describe()
        );
        for node in &self.nodes {
            for (offset, (value, _)) in &self.acked {
                assert_eq!(
                    node.log.get(*offset as usize).map(|r| r.value),
                    Some(*value),
                    "broker {} lost the record acknowledged at offset {offset}",
                    node.id
                );
            }
        }
    }

    fn converged(&self) -> bool {
        let Some(leader) = self.nodes.iter().find(|n| n.leading.is_some()) else {
            return false;
        };
        self.controller.isr.len() == BROKERS.len()
            && self.nodes.iter().all(|n| {
                n.up && n.view == self.controller
                    && n.log == leader.log
                    && n.high_watermark == leader.log_end()
            })
    }

    fn describe(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                format!(
                    "broker {} (up {}, leading {}, view {:?}): {} records, hw {}, durable {}",
                    n.id,
                    n.up,
                    n.leading.is_some(),
                    n.view,
                    n.log.len(),
                    n.high_watermark,
                    n.durable
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn fault(&mut self) {
        let id = BROKERS[self.rng.below(3) as usize];
        let up = self.nodes[(id - 1) as usize].up;
        match self.rng.below(4) {
            0 if up && self.nodes.iter().filter(|n| n.up).count() > 1 => self.crash(id),
            1 if !up => self.restart(id),
            2 if up => {
                // Cut off from everyone, the controller too, for a while: it may go on leading
                // (a zombie) until it hears it is fenced.
                for other in [CONTROLLER, 1, 2, 3] {
                    if other != id {
                        self.cut.insert((id.min(other), id.max(other)));
                    }
                }
                let incarnation = self.nodes[(id - 1) as usize].incarnation;
                self.expire_session(id, incarnation);
            }
            _ => self.heal(id),
        }
    }

    fn heal(&mut self, id: i32) {
        let was_cut = self.cut.iter().any(|(a, b)| *a == id || *b == id);
        self.cut.retain(|(a, b)| *a != id && *b != id);
        if was_cut && self.nodes[(id - 1) as usize].up {
            let incarnation = self.nodes[(id - 1) as usize].incarnation;
            self.send(id, CONTROLLER, Msg::Heartbeat { incarnation });
        }
    }
}

/// What one seed's run did: records acknowledged, leader epochs.
pub(super) struct Ran {
    pub acked: usize,
    pub epochs: usize,
}

/// Runs one seed: `steps` events with faults, then the healing; panics on a broken invariant.
pub(super) fn run(seed: u64, counts: Counts, steps: usize) -> Ran {
    let mut sim = Sim::new(seed, counts);
    for _ in 0..steps {
        sim.step(true, true);
    }
    sim.finish();
    Ran {
        acked: sim.acked.len(),
        epochs: sim.leaders.len(),
    }
}
