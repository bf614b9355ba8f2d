//! Several `fjord-broker` processes forming one cluster on loopback.
//!
//! Each broker gets a data directory, a Kafka port and an RPC port chosen when the cluster is
//! made (free ports, kept across restarts, so `controller.quorum.voters` stays true and
//! clients reconnect to a restarted broker). The first `voters` node ids (1, 2, ...) vote;
//! the rest observe. Dropping the cluster kills every broker it started, and only those.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::BrokerProcess;

/// One broker of the cluster, running or not.
pub struct Node {
    pub id: u32,
    pub kafka: SocketAddr,
    pub rpc: SocketAddr,
    pub dir: tempfile::TempDir,
    pub process: Option<BrokerProcess>,
}

/// Brokers of one cluster.
pub struct Cluster {
    pub cluster_id: String,
    /// `controller.quorum.voters`.
    pub voters: String,
    pub nodes: Vec<Node>,
    extra_args: Vec<String>,
    /// Each broker's log (`broker-<id>.log`), printed when a test fails.
    logs: tempfile::TempDir,
}

/// A port free at the time of asking.
pub fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

impl Cluster {
    /// Makes (does not start) a cluster of `voters` voters and `observers` observers.
    pub fn new(voters: u32, observers: u32, extra_args: &[&str]) -> anyhow::Result<Self> {
        let mut nodes = Vec::new();
        for id in 1..=voters + observers {
            nodes.push(Node {
                id,
                kafka: free_port()?,
                rpc: free_port()?,
                dir: tempfile::tempdir()?,
                process: None,
            });
        }
        let voters = nodes
            .iter()
            .take(voters as usize)
            .map(|node| format!("{}@{}", node.id, node.rpc))
            .collect::<Vec<_>>()
            .join(",");
        Ok(Self {
            cluster_id: format!("e2e-{}", uuid_like()),
            voters,
            nodes,
            extra_args: extra_args.iter().map(|a| (*a).to_owned()).collect(),
            logs: tempfile::tempdir()?,
        })
    }

    /// Makes and starts every broker, and waits until each is ready.
    pub fn start(voters: u32, observers: u32, extra_args: &[&str]) -> anyhow::Result<Self> {
        let mut cluster = Self::new(voters, observers, extra_args)?;
        for id in 1..=voters + observers {
            cluster.start_node(id)?;
        }
        cluster.wait_ready(Duration::from_secs(60))?;
        Ok(cluster)
    }

    pub fn node(&self, id: u32) -> &Node {
        &self.nodes[(id - 1) as usize]
    }

    fn node_mut(&mut self, id: u32) -> &mut Node {
        &mut self.nodes[(id - 1) as usize]
    }

    /// The arguments broker `id` runs with.
    pub fn args(&self, id: u32) -> Vec<String> {
        let node = self.node(id);
        let mut args = vec![
            "--node-id".to_owned(),
            id.to_string(),
            "--cluster-id".to_owned(),
            self.cluster_id.clone(),
            "--voters".to_owned(),
            self.voters.clone(),
            "--rpc-listen".to_owned(),
            node.rpc.to_string(),
        ];
        args.extend(self.extra_args.iter().cloned());
        args
    }

    /// Starts (or restarts) broker `id` on its ports and directory; returns once it printed
    /// its listening line (it may not be ready yet).
    pub fn start_node(&mut self, id: u32) -> anyhow::Result<()> {
        let args = self.args(id);
        self.start_node_with(id, &args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// [`start_node`](Self::start_node) with other arguments.
    pub fn start_node_with(&mut self, id: u32, args: &[&str]) -> anyhow::Result<()> {
        let log = self.log_path(id);
        let node = self.node_mut(id);
        anyhow::ensure!(node.process.is_none(), "broker {id} is running");
        let listen = node.kafka.to_string();
        let process = BrokerProcess::start_logged(node.dir.path(), &listen, args, Some(&log))
            .with_context(|| format!("starting broker {id}: {}", tail(&log, 20)))?;
        node.process = Some(process);
        Ok(())
    }

    /// Where broker `id` logs.
    pub fn log_path(&self, id: u32) -> std::path::PathBuf {
        self.logs.path().join(format!("broker-{id}.log"))
    }

    /// Broker `id`'s log so far.
    pub fn log(&self, id: u32) -> String {
        std::fs::read_to_string(self.log_path(id)).unwrap_or_default()
    }

    /// Waits until broker `id`'s log contains `text`.
    pub fn wait_for_log(&self, id: u32, text: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while !self.log(id).contains(text) {
            if Instant::now() > deadline {
                bail!(
                    "broker {id} did not log {text:?} within {timeout:?}: {}",
                    tail(&self.log_path(id), 20)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Kills broker `id` with SIGKILL.
    pub fn kill9(&mut self, id: u32) -> anyhow::Result<()> {
        if let Some(mut process) = self.node_mut(id).process.take() {
            process.kill9()?;
        }
        Ok(())
    }

    /// Stops broker `id` with SIGTERM and waits for it.
    pub fn stop(&mut self, id: u32) -> anyhow::Result<()> {
        if let Some(mut process) = self.node_mut(id).process.take() {
            let status = process.stop()?;
            anyhow::ensure!(status.success(), "broker {id} exited with {status}");
        }
        Ok(())
    }

    /// The running brokers' ids.
    pub fn running(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .filter(|node| node.process.is_some())
            .map(|node| node.id)
            .collect()
    }

    /// Every running broker's Kafka address, comma-separated.
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .filter(|node| node.process.is_some())
            .map(|node| node.kafka.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Broker `id`'s `/readyz` status and body.
    pub fn readyz(&self, id: u32) -> anyhow::Result<(u16, String)> {
        self.node(id)
            .process
            .as_ref()
            .context("not running")?
            .admin_get("/readyz")
    }

    /// Waits until every running broker answers `/readyz` with 200.
    pub fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        for id in self.running() {
            loop {
                match self.readyz(id) {
                    Ok((200, _)) => break,
                    result if Instant::now() > deadline => {
                        bail!("broker {id} not ready within {timeout:?}: {result:?}")
                    }
                    _ => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        }
        Ok(())
    }

    /// The metadata quorum's leader as broker `asked` reports it (DescribeQuorum).
    pub fn quorum_leader(&self, asked: u32) -> anyhow::Result<Option<u32>> {
        let response = crate::wire::describe_quorum(&self.node(asked).kafka.to_string())?;
        let leader = response
            .topics
            .first()
            .and_then(|topic| topic.partitions.first())
            .map(|partition| partition.leader_id.0)
            .context("DescribeQuorum answered no partition")?;
        Ok(u32::try_from(leader).ok())
    }

    /// Waits until broker `asked` reports a leader other than `not`; returns it.
    pub fn wait_for_leader(
        &self,
        asked: u32,
        not: Option<u32>,
        timeout: Duration,
    ) -> anyhow::Result<u32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(leader)) = self.quorum_leader(asked)
                && Some(leader) != not
            {
                return Ok(leader);
            }
            if Instant::now() > deadline {
                bail!("broker {asked} reported no new quorum leader within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for node in &self.nodes {
                eprintln!(
                    "--- broker {} log (last 40 lines) ---\n{}",
                    node.id,
                    tail(&self.log_path(node.id), 40)
                );
            }
        }
    }
}

/// The last `lines` lines of the file at `path`.
pub fn tail(path: &std::path::Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A short id unique enough to tell test clusters apart.
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:x}-{}", nanos, std::process::id())
}
