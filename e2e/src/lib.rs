//! What the end-to-end tests share: starting a real `fjord-broker` process on
//! loopback with free ports, and finding the real client tools.
//!
//! Tools are found through the variables `scripts/install-test-tools` writes
//! (`FJORD_KCAT`, `FJORD_PYTHON`, ...) or on `PATH`. A missing tool fails the
//! test with a message saying how to install it: a test that silently skips
//! proves nothing.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, bail};

/// A `fjord-broker` process with its own data directory.
pub struct BrokerProcess {
    child: Child,
    pub kafka: SocketAddr,
    pub admin: SocketAddr,
    /// The broker-to-broker gRPC listener.
    pub rpc: SocketAddr,
    pub data_dir: PathBuf,
    _owned_dir: Option<tempfile::TempDir>,
}

impl BrokerProcess {
    /// Starts a broker on free loopback ports in a fresh temporary directory.
    pub fn start(extra_args: &[&str]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().to_path_buf();
        let mut broker = Self::start_in(&path, extra_args)?;
        broker._owned_dir = Some(dir);
        Ok(broker)
    }

    /// Starts a broker on free loopback ports over `data_dir` (which may hold
    /// data from an earlier broker).
    pub fn start_in(data_dir: &Path, extra_args: &[&str]) -> anyhow::Result<Self> {
        Self::start_on(data_dir, "127.0.0.1:0", extra_args)
    }

    /// Starts a broker over `data_dir` with its Kafka listener on `listen` (a
    /// restarted broker on its predecessor's address, so clients reconnect to it).
    pub fn start_on(data_dir: &Path, listen: &str, extra_args: &[&str]) -> anyhow::Result<Self> {
        Self::start_logged(data_dir, listen, extra_args, None)
    }

    /// [`start_on`](Self::start_on), appending the broker's log (stderr) to `log` when given.
    pub fn start_logged(
        data_dir: &Path,
        listen: &str,
        extra_args: &[&str],
        log: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let stderr = match log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening {}", path.display()))?,
            ),
            None => Stdio::inherit(),
        };
        // A free gRPC port unless the test chose one (the default, 9093, would be shared by
        // the brokers of tests running at once).
        let rpc_listen: &[&str] = if extra_args.contains(&"--rpc-listen") {
            &[]
        } else {
            &["--rpc-listen", "127.0.0.1:0"]
        };
        let mut child = Command::new(broker_binary()?)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", listen, "--admin-listen", "127.0.0.1:0"])
            .args(rpc_listen)
            .args(extra_args)
            .env(
                "FJORD_LOG_LEVEL",
                std::env::var("FJORD_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .context("spawning fjord-broker")?;
        let stdout = child.stdout.take().context("broker stdout")?;
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let line = match received.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait()?;
                bail!("fjord-broker printed no listening line within 60 s (exit: {status})");
            }
        };
        let field = |name: &str| -> anyhow::Result<SocketAddr> {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix(name))
                .with_context(|| format!("no {name} in {line:?}"))?
                .parse()
                .with_context(|| format!("bad address in {line:?}"))
        };
        Ok(Self {
            kafka: field("kafka=")?,
            admin: field("admin=")?,
            rpc: field("rpc=")?,
            child,
            data_dir: data_dir.to_path_buf(),
            _owned_dir: None,
        })
    }

    /// The `host:port` clients bootstrap from.
    pub fn bootstrap(&self) -> String {
        self.kafka.to_string()
    }

    /// Sends SIGTERM and waits for a graceful exit (up to 30 s).
    pub fn stop(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let pid = i32::try_from(self.child.id())?;
        // SAFETY: kill(2) on a child we spawned and have not reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        wait_with_timeout(&mut self.child, Duration::from_secs(30))
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// GET on the admin port; returns (status, body).
    pub fn admin_get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(self.admin)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .with_context(|| format!("bad HTTP response {response:?}"))?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_with_timeout(
    child: &mut Child,
    timeout: Duration,
) -> anyhow::Result<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            bail!("process did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `fjord-broker` binary cargo built next to this test executable.
///
/// `cargo nextest run --workspace` (and `cargo test`) builds it because the
/// broker crate has integration tests of its own (`broker/tests/`). A binary
/// that is missing, or older than a source file of the broker or of
/// `fjord-common`, is refused: the tests would otherwise run against whatever
/// an earlier build left in a shared target directory.
pub fn broker_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("FJORD_BROKER_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test> -> target/<profile>/fjord-broker
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test executable has no profile directory")?;
    let path = profile_dir.join("fjord-broker");
    // The sources the binary was built from, as cargo's dep-info lists them: a change to a
    // test-only file does not rebuild the binary and must not fail the check. Without one,
    // the crates' source directories.
    let sources = dep_info_sources(&path).unwrap_or_else(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        ["broker", "common"]
            .map(|krate| workspace.join(krate).join("src"))
            .to_vec()
    });
    check_built_after(&path, sources)?;
    Ok(path)
}

/// The source files cargo's dep-info file (`<binary>.d`) says `binary` was built from.
fn dep_info_sources(binary: &Path) -> Option<Vec<PathBuf>> {
    let mut name = binary.as_os_str().to_owned();
    name.push(".d");
    let text = std::fs::read_to_string(PathBuf::from(name)).ok()?;
    let (_, deps) = text.lines().next()?.split_once(": ")?;
    // Paths are space-separated; a space inside one is escaped as `\ `.
    let mut sources = Vec::new();
    let mut current = String::new();
    let mut chars = deps.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&' ') => {
                current.push(' ');
                chars.next();
            }
            ' ' => {
                if !current.is_empty() {
                    sources.push(PathBuf::from(std::mem::take(&mut current)));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        sources.push(PathBuf::from(current));
    }
    (!sources.is_empty()).then_some(sources)
}

/// Fails unless `binary` exists and was written after every file in
/// `sources` (files, or directories searched recursively) last changed.
pub fn check_built_after(
    binary: &Path,
    sources: impl IntoIterator<Item = PathBuf>,
) -> anyhow::Result<()> {
    const HOW: &str = "build it with `cargo build -p fjord-broker`; `cargo nextest run \
                       --workspace` builds it too, for the broker's own integration tests";
    let built = match std::fs::metadata(binary) {
        Ok(meta) => meta.modified()?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            bail!("{} does not exist: {HOW}", binary.display())
        }
        Err(error) => return Err(error).context(format!("reading {}", binary.display())),
    };
    let mut pending: Vec<PathBuf> = sources.into_iter().collect();
    while let Some(source) = pending.pop() {
        let meta =
            std::fs::metadata(&source).with_context(|| format!("reading {}", source.display()))?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&source)? {
                pending.push(entry?.path());
            }
        } else if meta.modified()? > built {
            bail!(
                "{} is older than {}: {HOW}",
                binary.display(),
                source.display()
            );
        }
    }
    Ok(())
}

/// A client tool: from the named variable, else found on `PATH`.
pub fn tool(variable: &str, name: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(variable).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .with_context(|| {
            format!("{name} not found (set {variable} or run scripts/install-test-tools)")
        })
}

/// Runs a command with a deadline; returns stdout, failing with stderr.
pub fn run_tool(command: &mut Command, timeout: Duration) -> anyhow::Result<String> {
    // cargo points LD_LIBRARY_PATH at build outputs, which may hold another
    // librdkafka than the one the tool was built for.
    let mut child = command
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawning {command:?}"))?;
    let stdout = child.stdout.take().context("stdout")?;
    let stderr = child.stderr.take().context("stderr")?;
    let out = std::thread::spawn(move || std::io::read_to_string(stdout));
    let err = std::thread::spawn(move || std::io::read_to_string(stderr));
    let status = wait_with_timeout(&mut child, timeout)
        .with_context(|| format!("{command:?} did not finish"))?;
    let stdout = out.join().map_err(|_| anyhow::anyhow!("stdout reader"))??;
    let stderr = err.join().map_err(|_| anyhow::anyhow!("stderr reader"))??;
    if !status.success() {
        bail!("{command:?} failed ({status}): {stderr}");
    }
    Ok(stdout)
}

/// Runs `e2e/java/JavaClient.java` with `args` under the Kafka Java client; its stdout.
///
/// Needs `FJORD_JAVA` (a JDK's `java`) and `FJORD_KAFKA_JAVA_CP` (the client jars), both
/// written by `scripts/install-test-tools`.
pub fn java_client(args: &[&str]) -> anyhow::Result<String> {
    let java = tool("FJORD_JAVA", "java")?;
    let classpath = std::env::var("FJORD_KAFKA_JAVA_CP").context(
        "FJORD_KAFKA_JAVA_CP is not set: run scripts/install-test-tools and source its env",
    )?;
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("java/JavaClient.java");
    run_tool(
        Command::new(java)
            .arg("-cp")
            .arg(classpath)
            .arg(source)
            .args(args),
        Duration::from_secs(240),
    )
}

pub mod cluster;
pub mod group_checks;
pub mod kafka;
pub mod member_processes;
pub mod members;
pub mod rebalance;
pub mod transcript;
pub mod wire;

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::time::{Duration, SystemTime};

    use super::{check_built_after, dep_info_sources};

    fn file_written_at(path: &std::path::Path, when: SystemTime) {
        File::create(path)
            .and_then(|file| file.set_modified(when))
            .expect("temporary file");
    }

    #[test]
    fn a_missing_broker_binary_is_refused_with_how_to_build_it() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let error =
            check_built_after(&dir.path().join("fjord-broker"), []).expect_err("missing binary");
        let message = error.to_string();
        assert!(message.contains("does not exist"), "{message}");
        assert!(message.contains("cargo build -p fjord-broker"), "{message}");
    }

    #[test]
    fn a_broker_binary_older_than_a_nested_source_is_refused() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let now = SystemTime::now();
        let binary = dir.path().join("fjord-broker");
        file_written_at(&binary, now - Duration::from_secs(60));
        let src = dir.path().join("src/log");
        std::fs::create_dir_all(&src).expect("source directory");
        file_written_at(&src.join("old.rs"), now - Duration::from_secs(120));
        file_written_at(&src.join("edited.rs"), now);

        let error = check_built_after(&binary, [dir.path().join("src")]).expect_err("stale");
        assert!(error.to_string().contains("edited.rs"), "{error}");
    }

    #[test]
    fn a_broker_binary_built_after_every_source_is_used() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let now = SystemTime::now();
        let src = dir.path().join("src");
        std::fs::create_dir_all(&src).expect("source directory");
        file_written_at(&src.join("lib.rs"), now - Duration::from_secs(60));
        file_written_at(
            &dir.path().join("Cargo.lock"),
            now - Duration::from_secs(90),
        );
        let binary = dir.path().join("fjord-broker");
        file_written_at(&binary, now);

        check_built_after(&binary, [src, dir.path().join("Cargo.lock")]).expect("fresh binary");
    }

    #[test]
    fn the_sources_of_a_binary_come_from_its_dep_info_file() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("fjord-broker");
        assert_eq!(dep_info_sources(&binary), None, "no dep-info file");
        std::fs::write(
            dir.path().join("fjord-broker.d"),
            "/t/fjord-broker: /src/lib.rs /src/with\\ space.rs /src/main.rs\n\n/src/lib.rs:\n",
        )
        .unwrap();
        assert_eq!(
            dep_info_sources(&binary).unwrap(),
            ["/src/lib.rs", "/src/with space.rs", "/src/main.rs"]
                .map(std::path::PathBuf::from)
                .to_vec()
        );
    }
}
