//! Consumer-group members as separate client processes, watched through what they print.
//!
//! A member driver (`e2e/python/kafka_python_client.py member`, `aiokafka_client.py`,
//! `confluent_kafka_client.py`, `e2e/node/kafkajs_client.js`) is one long-lived member of a group. It prints one
//! line per fact, flushed as it happens:
//!
//! ```text
//! assigned 0,3        its whole assignment after a change ("assigned " when it holds none)
//! record 3 17         it processed the record at partition 3, offset 17
//! stopped             it left the group and is exiting
//! ```
//!
//! and stops on SIGTERM, on its stdin closing, or after a bounded time of its own. Any other
//! line, and everything on stderr, is kept only to explain a failure (records are counted
//! there, not listed). The Python drivers log their client at the level `FJORD_CLIENT_LOG`
//! names (`debug` shows every request and response) and dump their stacks on SIGUSR1.
//!
//! [`Members`] spawns the processes and funnels every line of every member into one channel
//! (one reader thread per pipe), so a test waits on a condition over all members with a
//! single deadline: `wait_until(timeout, what, |members| ...)`. Each [`Member`] keeps every
//! assignment it printed and the records it printed, and notes a record printed for a
//! partition outside its assignment at that moment. Dropping `Members` kills what is left.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::tool;

/// The member drivers the tests have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// kafka-python 3.0, `e2e/python/kafka_python_client.py member`.
    KafkaPython,
    /// aiokafka 0.14, `e2e/python/aiokafka_client.py member`.
    AioKafka,
    /// kafkajs 2.2 under node, `e2e/node/kafkajs_client.js member`.
    KafkaJs,
    /// confluent-kafka (librdkafka) with the classic protocol,
    /// `e2e/python/confluent_kafka_client.py member ... classic`.
    ConfluentKafka,
    /// confluent-kafka with the KIP-848 consumer protocol (`group.protocol=consumer`),
    /// `e2e/python/confluent_kafka_client.py member ... consumer`: the broker decides the
    /// session timeout, so the one given to [`Client::member_command`] is not used.
    ConfluentKafkaConsumerProtocol,
}

impl Client {
    /// The command that runs one member of `group` reading `topic`, with the given session
    /// timeout, that exits by itself after `lifetime`. Fails, saying how to install it, when
    /// the client's tool is missing.
    pub fn member_command(
        self,
        bootstrap: &str,
        topic: &str,
        group: &str,
        session_timeout: Duration,
        lifetime: Duration,
    ) -> anyhow::Result<Command> {
        let e2e = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut command = match self {
            Self::KafkaPython
            | Self::AioKafka
            | Self::ConfluentKafka
            | Self::ConfluentKafkaConsumerProtocol => {
                let script = match self {
                    Self::KafkaPython => "python/kafka_python_client.py",
                    Self::AioKafka => "python/aiokafka_client.py",
                    _ => "python/confluent_kafka_client.py",
                };
                let mut command = Command::new(tool("FJORD_PYTHON", "python3")?);
                command.arg(e2e.join(script));
                command
            }
            Self::KafkaJs => {
                let modules = std::env::var_os("FJORD_NODE_PATH")
                    .filter(|path| Path::new(path).join("kafkajs").is_dir())
                    .context(
                        "kafkajs not found: FJORD_NODE_PATH must name the node_modules holding \
                         it (run scripts/install-test-tools and source its env)",
                    )?;
                let mut command = Command::new(tool("FJORD_NODE", "node")?);
                command
                    .env("NODE_PATH", modules)
                    .arg(e2e.join("node/kafkajs_client.js"));
                command
            }
        };
        command
            .arg("member")
            .args([bootstrap, topic, group])
            .arg(session_timeout.as_millis().to_string())
            .arg(lifetime.as_secs().max(1).to_string());
        if let Some(protocol) = self.group_protocol() {
            command.arg(protocol);
        }
        Ok(command)
    }

    /// The `group.protocol` a driver that can speak both is told to use.
    fn group_protocol(self) -> Option<&'static str> {
        match self {
            Self::ConfluentKafka => Some("classic"),
            Self::ConfluentKafkaConsumerProtocol => Some("consumer"),
            Self::KafkaPython | Self::AioKafka | Self::KafkaJs => None,
        }
    }
}

/// One member process and what it has printed so far.
pub struct Member {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    closed_pipes: usize,
    exit: Option<ExitStatus>,
    printed: Printed,
}

impl Member {
    /// Its assignment as last printed; `None` before the first.
    pub fn assignment(&self) -> Option<&BTreeSet<i32>> {
        self.printed.assignments.last()
    }

    /// Every assignment it printed, in order: `assignments()[mark..]` are those printed
    /// after an earlier `assignments().len()` was taken as `mark`.
    pub fn assignments(&self) -> &[BTreeSet<i32>] {
        &self.printed.assignments
    }

    /// Every record it printed, `(partition, offset)`, in order.
    pub fn records(&self) -> &[(i32, i64)] {
        &self.printed.records
    }

    /// Records it printed for a partition outside its assignment at the time.
    pub fn foreign_records(&self) -> &[(i32, i64)] {
        &self.printed.foreign
    }

    /// Whether it printed `stopped` (it left the group on its way out).
    pub fn stopped(&self) -> bool {
        self.printed.stopped
    }

    /// Whether the process is still running, as far as the test knows.
    pub fn is_live(&self) -> bool {
        self.exit.is_none()
    }

    /// Its last lines of stdout and stderr but the records, which it counts, for a failure
    /// message.
    pub fn transcript(&self) -> String {
        let records = &self.printed.records;
        format!(
            "--- {} ({} records, the last {:?}) ---\n{}",
            self.name,
            records.len(),
            records.last(),
            self.printed.transcript.join("\n")
        )
    }

    fn take(&mut self, line: Line) {
        match line {
            Line::Out(text) => self.printed.parse(text),
            Line::Err(text) => self.printed.keep(format!("stderr: {text}")),
            Line::Closed => self.closed_pipes += 1,
        }
    }
}

/// Lines kept per member to explain a failure.
const TRANSCRIPT_LINES: usize = 200;

/// What a member's lines said.
#[derive(Default)]
struct Printed {
    assignments: Vec<BTreeSet<i32>>,
    records: Vec<(i32, i64)>,
    foreign: Vec<(i32, i64)>,
    stopped: bool,
    transcript: Vec<String>,
}

impl Printed {
    fn keep(&mut self, text: String) {
        if self.transcript.len() == TRANSCRIPT_LINES {
            self.transcript.remove(0);
        }
        self.transcript.push(text);
    }

    fn parse(&mut self, text: String) {
        if let Some(list) = text.strip_prefix("assigned") {
            let partitions: Result<BTreeSet<i32>, _> = list
                .trim()
                .split(',')
                .filter(|p| !p.is_empty())
                .map(str::parse)
                .collect();
            match partitions {
                Ok(partitions) => self.assignments.push(partitions),
                Err(_) => self.keep(format!("(unparsed assignment line {text:?})")),
            }
        } else if let Some(rest) = text.strip_prefix("record ") {
            let mut fields = rest.split_whitespace();
            let partition = fields.next().and_then(|p| p.parse::<i32>().ok());
            let offset = fields.next().and_then(|o| o.parse::<i64>().ok());
            let (Some(partition), Some(offset)) = (partition, offset) else {
                self.keep(format!("(unparsed record line {text:?})"));
                return;
            };
            let owned = self
                .assignments
                .last()
                .is_some_and(|a| a.contains(&partition));
            if !owned {
                self.foreign.push((partition, offset));
            }
            self.records.push((partition, offset));
            return;
        } else if text == "stopped" {
            self.stopped = true;
        }
        self.keep(text);
    }
}

enum Line {
    Out(String),
    Err(String),
    Closed,
}

/// A set of member processes whose lines arrive on one channel.
pub struct Members {
    members: Vec<Member>,
    lines: mpsc::Receiver<(usize, Line)>,
    sender: mpsc::Sender<(usize, Line)>,
}

impl Default for Members {
    fn default() -> Self {
        Self::new()
    }
}

impl Members {
    pub fn new() -> Self {
        let (sender, lines) = mpsc::channel();
        Self {
            members: Vec::new(),
            lines,
            sender,
        }
    }

    /// Spawns `command` as a member named `name`; returns its index.
    pub fn spawn(&mut self, name: &str, mut command: Command) -> anyhow::Result<usize> {
        // cargo points LD_LIBRARY_PATH at build outputs, which may hold another librdkafka
        // than the one a client was built for.
        let mut child = command
            .env_remove("LD_LIBRARY_PATH")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawning member {name}: {command:?}"))?;
        let index = self.members.len();
        let stdout = child.stdout.take().context("member stdout")?;
        let stderr = child.stderr.take().context("member stderr")?;
        self.read_lines(index, stdout, Line::Out);
        self.read_lines(index, stderr, Line::Err);
        self.members.push(Member {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            closed_pipes: 0,
            exit: None,
            printed: Printed::default(),
        });
        Ok(index)
    }

    fn read_lines(&self, index: usize, pipe: impl Read + Send + 'static, wrap: fn(String) -> Line) {
        let sender = self.sender.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if sender.send((index, wrap(line))).is_err() {
                    return;
                }
            }
            let _ = sender.send((index, Line::Closed));
        });
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    pub fn member(&self, index: usize) -> &Member {
        &self.members[index]
    }

    /// Every member's transcript, for a failure message.
    pub fn transcripts(&self) -> String {
        self.members
            .iter()
            .map(Member::transcript)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Takes lines as they come until `done` holds over the members, or fails after
    /// `timeout` saying `what` it waited for, with every member's transcript. Also fails
    /// when a member exits on its own before that (it crashed or gave up).
    pub fn wait_until(
        &mut self,
        timeout: Duration,
        what: &str,
        mut done: impl FnMut(&[Member]) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.members) {
                return Ok(());
            }
            if let Some(member) = self
                .members
                .iter_mut()
                .find(|m| m.is_live() && m.closed_pipes == 2)
            {
                let status = member.child.wait()?;
                member.exit = Some(status);
                let name = member.name.clone();
                bail!(
                    "member {name} exited ({status}) while waiting for {what}\n{}",
                    self.transcripts()
                );
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("no {what} within {timeout:?}\n{}", self.transcripts());
            }
            match self.lines.recv_timeout(left) {
                Ok((index, line)) => self.members[index].take(line),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => bail!("member readers gone"),
            }
        }
    }

    /// Waits until the live members' latest assignments are non-empty, disjoint and together
    /// cover partitions `0..partitions`; returns them, in member order.
    pub fn wait_for_assignment(
        &mut self,
        partitions: i32,
        timeout: Duration,
    ) -> anyhow::Result<Vec<BTreeSet<i32>>> {
        let what = format!("assignment of partitions 0..{partitions} over the live members");
        self.wait_until(timeout, &what, |members| {
            let live: Vec<Option<&BTreeSet<i32>>> = members
                .iter()
                .filter(|m| m.is_live())
                .map(Member::assignment)
                .collect();
            partition_exactly(&live, partitions)
        })?;
        Ok(self
            .members
            .iter()
            .filter(|m| m.is_live())
            .filter_map(|m| m.assignment().cloned())
            .collect())
    }

    /// Kills a member with SIGKILL: it leaves no LeaveGroup behind, as a crash would.
    pub fn kill(&mut self, index: usize) -> anyhow::Result<()> {
        let member = &mut self.members[index];
        member.child.kill()?;
        member.exit = Some(member.child.wait()?);
        Ok(())
    }

    /// Asks a member to stop (SIGTERM) and waits up to `timeout` for it to print `stopped`
    /// and exit; returns its exit status.
    pub fn stop(&mut self, index: usize, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let pid = i32::try_from(self.members[index].child.id())?;
        // SAFETY: kill(2) on a child we spawned and have not reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        self.finish(index, timeout)
    }

    /// Closes a member's stdin, its other way to be told to stop, and waits as [`Self::stop`].
    pub fn close_stdin(&mut self, index: usize, timeout: Duration) -> anyhow::Result<ExitStatus> {
        drop(self.members[index].stdin.take());
        self.finish(index, timeout)
    }

    fn finish(&mut self, index: usize, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let name = self.members[index].name.clone();
        self.wait_until(timeout, &format!("exit of {name}"), |members| {
            members[index].closed_pipes == 2
        })?;
        let member = &mut self.members[index];
        let status = member.child.wait()?;
        member.exit = Some(status);
        Ok(status)
    }
}

impl Drop for Members {
    fn drop(&mut self) {
        for member in &mut self.members {
            if member.exit.is_none() {
                let _ = member.child.kill();
                let _ = member.child.wait();
            }
        }
    }
}

/// Whether every assignment is known and non-empty, no partition is in two, and together
/// they hold exactly `0..partitions`.
pub fn partition_exactly(assignments: &[Option<&BTreeSet<i32>>], partitions: i32) -> bool {
    let mut seen = BTreeSet::new();
    for assignment in assignments {
        let Some(assignment) = assignment.filter(|a| !a.is_empty()) else {
            return false;
        };
        for &partition in assignment {
            if !seen.insert(partition) {
                return false;
            }
        }
    }
    !assignments.is_empty() && seen.into_iter().eq(0..partitions)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{Printed, partition_exactly};

    fn set(partitions: &[i32]) -> BTreeSet<i32> {
        partitions.iter().copied().collect()
    }

    #[test]
    fn only_disjoint_non_empty_assignments_covering_every_partition_partition_exactly() {
        let (a, b, c) = (set(&[0, 3]), set(&[1, 4]), set(&[2, 5]));
        assert!(partition_exactly(&[Some(&a), Some(&b), Some(&c)], 6));
        assert!(
            !partition_exactly(&[Some(&a), Some(&b)], 6),
            "2 and 5 unowned"
        );
        let overlap = set(&[2, 5, 0]);
        assert!(!partition_exactly(&[Some(&a), Some(&b), Some(&overlap)], 6));
        let beyond = set(&[2, 5, 6]);
        assert!(!partition_exactly(&[Some(&a), Some(&b), Some(&beyond)], 6));
        let all = set(&[0, 1, 2, 3, 4, 5]);
        let empty = set(&[]);
        assert!(
            !partition_exactly(&[Some(&all), Some(&empty)], 6),
            "an idle member"
        );
        assert!(
            !partition_exactly(&[Some(&all), None], 6),
            "a member not yet assigned"
        );
        assert!(!partition_exactly(&[], 0));
    }

    #[test]
    fn a_member_notes_records_printed_outside_its_assignment() {
        let mut printed = Printed::default();
        for line in [
            "record 1 0",
            "assigned 0,3",
            "record 3 7",
            "assigned ",
            "record 0 8",
            "assigned 1",
            "stopped",
        ] {
            printed.parse(line.into());
        }
        assert_eq!(printed.records, [(1, 0), (3, 7), (0, 8)]);
        assert_eq!(printed.foreign, [(1, 0), (0, 8)]);
        assert_eq!(printed.assignments, [set(&[0, 3]), set(&[]), set(&[1])]);
        assert!(printed.stopped);
    }

    #[test]
    fn a_member_keeps_lines_it_cannot_parse_for_the_failure_message() {
        let mut printed = Printed::default();
        printed.parse("assigned 0,x".into());
        printed.parse("record 1".into());
        assert!(printed.assignments.is_empty());
        assert!(printed.records.is_empty());
        let transcript = printed.transcript.join("\n");
        assert!(transcript.contains("unparsed assignment"), "{transcript}");
        assert!(transcript.contains("unparsed record"), "{transcript}");
    }
}
