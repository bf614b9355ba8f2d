//! Consumer group members as separate processes: the Java client's `member` and `ctp`
//! commands (`e2e/java/JavaClient.java`) and `kcat -G`, each a [`LineProcess`] whose output
//! is read while it runs, so a test can wait for an assignment, stop a member gracefully
//! (close its stdin or SIGTERM) or kill it with SIGKILL, as a crash would.
//!
//! What a member owns is worked out from its own reports: [`Ownership`] applies the
//! `assigned` / `revoked` / `lost` lines of the Java member in order (incremental under a
//! cooperative assignor, whole assignments under an eager one).

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::tool;

/// A running child process; its stdout and stderr lines are collected as they arrive.
pub struct LineProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl LineProcess {
    /// Spawns `command` with piped stdin, stdout and stderr.
    pub fn spawn(command: &mut Command) -> anyhow::Result<Self> {
        // cargo points LD_LIBRARY_PATH at build outputs, which may hold another librdkafka
        // than the one a tool was built for.
        let mut child = command
            .env_remove("LD_LIBRARY_PATH")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawning {command:?}"))?;
        let stdin = child.stdin.take();
        let stdout = collect(child.stdout.take().context("stdout")?);
        let stderr = collect(child.stderr.take().context("stderr")?);
        Ok(Self {
            child,
            stdin,
            stdout,
            stderr,
        })
    }

    /// Every stdout line so far.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout
            .lock()
            .expect("reader thread does not panic")
            .clone()
    }

    /// Every stderr line so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr
            .lock()
            .expect("reader thread does not panic")
            .clone()
    }

    /// Closes stdin: a Java member takes it as the signal to leave the group.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Sends SIGTERM.
    pub fn terminate(&mut self) -> anyhow::Result<()> {
        let pid = i32::try_from(self.child.id())?;
        // SAFETY: kill(2) on a child we spawned and have not reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        Ok(())
    }

    /// Kills the process with SIGKILL, as a crash would, and reaps it.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// The exit status if the process has ended, without waiting.
    pub fn try_wait(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!(
                    "process did not exit within {timeout:?}; stderr: {:?}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for LineProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(stream: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().expect("only this thread writes").push(line);
        }
    });
    lines
}

/// `e2e/java/JavaClient.java` compiled once, so that each member process starts a JVM
/// without compiling the source again.
pub struct JavaClasses {
    /// Holds the class files while members run.
    _dir: tempfile::TempDir,
    classpath: String,
}

impl JavaClasses {
    /// Compiles the client with the `javac` beside `FJORD_JAVA` (or on `PATH`).
    pub fn compile() -> anyhow::Result<Self> {
        let java = tool("FJORD_JAVA", "java")?;
        let javac = java
            .parent()
            .map(|dir| dir.join("javac"))
            .filter(|javac| javac.is_file())
            .map_or_else(|| tool("FJORD_JAVAC", "javac"), Ok)?;
        let classpath = std::env::var("FJORD_KAFKA_JAVA_CP").context(
            "FJORD_KAFKA_JAVA_CP is not set: run scripts/install-test-tools and source its env",
        )?;
        let dir = tempfile::tempdir()?;
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("java/JavaClient.java");
        crate::run_tool(
            Command::new(javac)
                .args(["-nowarn", "-Xlint:-removal", "-cp", &classpath, "-d"])
                .arg(dir.path())
                .arg(source),
            Duration::from_secs(120),
        )?;
        let classpath = format!("{}:{classpath}", dir.path().display());
        Ok(Self {
            _dir: dir,
            classpath,
        })
    }

    /// Starts `JavaClient member BOOTSTRAP TOPIC GROUP ASSIGNOR SECONDS`: a member of
    /// `group` using the Java assignor class `assignor` (`RangeAssignor`,
    /// `CooperativeStickyAssignor`; `consumer` or `consumer:NAME`: the KIP-848 protocol with
    /// the broker's assignor or NAME) that lives at most `seconds`.
    pub fn member(
        &self,
        bootstrap: &str,
        topic: &str,
        group: &str,
        assignor: &str,
        seconds: u32,
    ) -> anyhow::Result<LineProcess> {
        LineProcess::spawn(
            Command::new(tool("FJORD_JAVA", "java")?)
                .args(["-cp", &self.classpath, "JavaClient", "member"])
                .args([bootstrap, topic, group, assignor])
                .arg(seconds.to_string()),
        )
    }

    /// Starts `JavaClient ctp BOOTSTRAP INPUT OUTPUT GROUP TRANSACTIONAL_ID SECONDS`: an
    /// exactly-once consume-transform-produce loop from `input` to `output` as a member of
    /// `group`, with the transactional producer `transactional_id`, that lives at most
    /// `seconds` and prints `committed COUNT PARTITION=NEXT_OFFSET...` per transaction.
    pub fn ctp(
        &self,
        bootstrap: &str,
        input: &str,
        output: &str,
        group: &str,
        transactional_id: &str,
        seconds: u32,
    ) -> anyhow::Result<LineProcess> {
        LineProcess::spawn(
            Command::new(tool("FJORD_JAVA", "java")?)
                .args(["-cp", &self.classpath, "JavaClient", "ctp"])
                .args([bootstrap, input, output, group, transactional_id])
                .arg(seconds.to_string()),
        )
    }
}

/// What a member owns and what it gave up, from its `assigned` / `revoked` / `lost` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ownership {
    /// The partitions it owns after its last report.
    pub owned: BTreeSet<i32>,
    /// The partitions of each non-empty `revoked` or `lost` report, in order.
    pub given_up: Vec<BTreeSet<i32>>,
}

impl Ownership {
    /// Applies a Java member's lines in order; other lines are ignored.
    pub fn from_java_lines(lines: &[String]) -> anyhow::Result<Self> {
        let mut ownership = Self::default();
        for line in lines {
            let mut words = line.split_whitespace();
            let kind = words.next().unwrap_or_default();
            if !matches!(kind, "assigned" | "revoked" | "lost") {
                continue;
            }
            let partitions = words
                .map(str::parse)
                .collect::<Result<BTreeSet<i32>, _>>()
                .with_context(|| format!("bad member line {line:?}"))?;
            if kind == "assigned" {
                ownership.owned.extend(partitions);
            } else if !partitions.is_empty() {
                ownership.owned.retain(|p| !partitions.contains(p));
                ownership.given_up.push(partitions);
            }
        }
        Ok(ownership)
    }

    /// The partitions given up in the reports after those `earlier` had seen.
    pub fn given_up_since(&self, earlier: &Ownership) -> BTreeSet<i32> {
        self.given_up
            .get(earlier.given_up.len()..)
            .unwrap_or_default()
            .iter()
            .flatten()
            .copied()
            .collect()
    }
}

/// The `(partition, offset)` of each `record P O` line of a Java member.
pub fn java_records(lines: &[String]) -> anyhow::Result<Vec<(i32, i64)>> {
    lines
        .iter()
        .filter_map(|line| line.strip_prefix("record "))
        .map(|rest| {
            let (partition, offset) = rest
                .split_once(' ')
                .with_context(|| format!("bad record line {rest:?}"))?;
            Ok((partition.parse()?, offset.parse()?))
        })
        .collect()
}

/// The partitions of the last assignment `kcat -G` reported on stderr (`% Group G rebalanced
/// (memberid M): assigned: topic [0], topic [3]`), empty after a revocation. kcat uses
/// librdkafka's eager protocol: every report is a whole assignment.
pub fn kcat_assignment(stderr: &[String]) -> anyhow::Result<BTreeSet<i32>> {
    let mut owned = BTreeSet::new();
    for line in stderr {
        if let Some((_, list)) = line.split_once("): assigned: ") {
            owned = list
                .split(", ")
                .filter(|entry| !entry.trim().is_empty())
                .map(|entry| {
                    let number = entry
                        .rsplit_once('[')
                        .and_then(|(_, rest)| rest.strip_suffix(']'))
                        .with_context(|| format!("bad kcat assignment {line:?}"))?;
                    Ok(number.parse()?)
                })
                .collect::<anyhow::Result<_>>()?;
        } else if line.contains("): revoked: ") {
            owned.clear();
        }
    }
    Ok(owned)
}

#[cfg(test)]
mod tests {
    use super::{Ownership, java_records, kcat_assignment};

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn a_java_members_ownership_follows_its_listener_lines_in_order() {
        let ownership = Ownership::from_java_lines(&lines(
            "assigned 0 1 2\nrecord 0 5\nrevoked 2\nrevoked\nassigned\nlost 1\nassigned 4 2",
        ))
        .unwrap();
        assert_eq!(ownership.owned, [0, 2, 4].into());
        assert_eq!(ownership.given_up, [[2].into(), [1].into()]);
        let earlier = Ownership::from_java_lines(&lines("assigned 0 1 2\nrevoked 2")).unwrap();
        assert_eq!(ownership.given_up_since(&earlier), [1].into());
        assert!(Ownership::from_java_lines(&lines("assigned x")).is_err());
    }

    #[test]
    fn java_record_lines_are_partition_and_offset() {
        let records = java_records(&lines("assigned 1\nrecord 1 7\nrecord 3 0\nclosed")).unwrap();
        assert_eq!(records, [(1, 7), (3, 0)]);
        assert!(java_records(&lines("record 1")).is_err());
    }

    #[test]
    fn kcats_last_reported_assignment_wins_and_a_revocation_empties_it() {
        let stderr = lines(
            "% Group g rebalanced (memberid m): assigned: t [0], t [1], t [2]\n\
             % Group g rebalanced (memberid m): revoked: t [0], t [1], t [2]\n\
             % Group g rebalanced (memberid m): assigned: t [4], t [5]",
        );
        assert_eq!(kcat_assignment(&stderr).unwrap(), [4, 5].into());
        assert!(kcat_assignment(&stderr[..2]).unwrap().is_empty());
        assert!(
            kcat_assignment(&lines("% Group g rebalanced (memberid m): assigned: t [x]")).is_err()
        );
    }
}
