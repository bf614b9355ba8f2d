//! The brokers under test, as child processes on loopback.
//!
//! A [`Server`] owns its child: dropping it kills and reaps the process, and
//! the child is also started with `PR_SET_PDEATHSIG = SIGKILL`, so it dies
//! with the benchmark even when the benchmark itself is killed. Each child's
//! stderr goes to a log file in the work directory, whose tail is shown when
//! the child fails to start.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _, Seek as _, SeekFrom};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// How long a broker may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A broker process under test.
pub struct Server {
    child: Child,
    pub kafka: SocketAddr,
    log: PathBuf,
}

impl Server {
    /// Starts `fjord-broker` on free loopback ports over `data_dir`, with an
    /// optional `--config` file, and reads its `listening kafka=.. admin=..`
    /// line.
    pub fn start_fjord(
        binary: &Path,
        data_dir: &Path,
        config: Option<&Path>,
        log: PathBuf,
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(binary);
        command
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .env("FJORD_LOG_LEVEL", "warn");
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        let mut child = spawn(command, &log)?;
        let stdout = child.stdout.take().context("broker stdout")?;
        let (lines, received) = mpsc::channel();
        // Keeps draining stdout so the broker never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let started = Instant::now();
        let line = loop {
            let left = START_TIMEOUT.saturating_sub(started.elapsed());
            match received.recv_timeout(left) {
                Ok(line) if line.starts_with("listening ") => break line,
                Ok(_) => continue,
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait()?;
                    bail!(
                        "{} printed no listening line within {START_TIMEOUT:?} (exit: {status})\n{}",
                        binary.display(),
                        tail(&log)
                    );
                }
            }
        };
        let kafka = parse_listening_line(&line, "kafka")
            .with_context(|| format!("bad listening line {line:?}"))?;
        Ok(Self { child, kafka, log })
    }

    /// Starts `tansu broker` with its in-memory storage engine on a free
    /// loopback port and waits until the port accepts connections.
    pub fn start_tansu(binary: &Path, log: PathBuf) -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let kafka = SocketAddr::from(([127, 0, 0, 1], port));
        let url = format!("tcp://{kafka}");
        let mut command = Command::new(binary);
        command
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"]);
        let mut child = spawn(command, &log)?;
        if let Some(stdout) = child.stdout.take() {
            // Drained so tansu never blocks on a full pipe.
            std::thread::spawn(
                move || {
                    for _ in BufReader::new(stdout).lines().map_while(Result::ok) {}
                },
            );
        }
        let started = Instant::now();
        while TcpStream::connect_timeout(&kafka, Duration::from_millis(200)).is_err() {
            if let Some(status) = child.try_wait()? {
                bail!("tansu exited at start ({status})\n{}", tail(&log));
            }
            if started.elapsed() > START_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                bail!("tansu did not listen on {kafka} within {START_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self { child, kafka, log })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn bootstrap(&self) -> String {
        self.kafka.to_string()
    }

    /// Fails with the log's tail if the process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("broker exited ({status})\n{}", tail(&self.log));
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(mut command: Command, log: &Path) -> anyhow::Result<Child> {
    let stderr = File::create(log).with_context(|| format!("creating {}", log.display()))?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    // SAFETY: prctl is async-signal-safe and touches only this (forked) process.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
        .spawn()
        .with_context(|| format!("spawning {:?}", command.get_program()))
}

/// The `name=ADDR` address of a `listening kafka=ADDR admin=ADDR` line.
pub fn parse_listening_line(line: &str, name: &str) -> Option<SocketAddr> {
    let rest = line.strip_prefix("listening ")?;
    rest.split_whitespace()
        .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))?
        .parse()
        .ok()
}

/// The last 4 KiB of a log file, for error messages.
fn tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = file.seek(SeekFrom::Start(len.saturating_sub(4096)));
        let _ = file.read_to_string(&mut text);
    }
    format!("--- {} (tail) ---\n{text}", path.display())
}

#[cfg(test)]
mod tests {
    use super::parse_listening_line;

    #[test]
    fn listening_line_gives_each_address() {
        let line = "listening kafka=127.0.0.1:40123 admin=127.0.0.1:40124";
        assert_eq!(
            parse_listening_line(line, "kafka").map(|a| a.port()),
            Some(40123)
        );
        assert_eq!(
            parse_listening_line(line, "admin").map(|a| a.port()),
            Some(40124)
        );
    }

    #[test]
    fn other_lines_and_bad_addresses_are_refused() {
        assert_eq!(
            parse_listening_line("starting kafka=1.2.3.4:5", "kafka"),
            None
        );
        assert_eq!(
            parse_listening_line("listening kafka=nowhere", "kafka"),
            None
        );
        assert_eq!(
            parse_listening_line("listening kafkaish=127.0.0.1:1", "kafka"),
            None
        );
    }
}
