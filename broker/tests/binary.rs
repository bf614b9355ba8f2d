//! The `fjord-broker` binary as a user meets it: `--help`, and the refusals a
//! mistyped command line or settings file gets before anything is served.
//!
//! These tests also make `cargo test` / `cargo nextest run --workspace` build
//! the binary that the end-to-end tests in `e2e/` start.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BROKER: &str = env!("CARGO_BIN_EXE_fjord-broker");

/// Runs the broker with `args` on free loopback ports; it must exit within 30 s.
fn run_broker(data_dir: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(BROKER)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("FJORD_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning fjord-broker");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("polling fjord-broker").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("fjord-broker {args:?} did not exit within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("fjord-broker output")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The broker exited with `code`, said each of `mentions` on stderr, and served nothing.
fn assert_refused(output: &Output, code: i32, mentions: &[&str]) {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(code), "{message}");
    for mention in mentions {
        assert!(message.contains(mention), "{mention:?} not in: {message}");
    }
    assert!(output.stdout.is_empty(), "nothing may be served");
}

#[test]
fn help_lists_every_flag_with_its_environment_fallback() {
    let output = Command::new(BROKER)
        .arg("--help")
        .output()
        .expect("fjord-broker --help");
    assert!(output.status.success(), "{}", stderr(&output));
    let help = String::from_utf8_lossy(&output.stdout);
    for (flag, variable) in [
        ("--data-dir", "FJORD_DATA_DIR"),
        ("--listen", "FJORD_LISTEN"),
        ("--advertised-address", "FJORD_ADVERTISED_ADDRESS"),
        ("--admin-listen", "FJORD_ADMIN_LISTEN"),
        ("--node-id", "FJORD_NODE_ID"),
        ("--cluster-id", "FJORD_CLUSTER_ID"),
        ("--config", "FJORD_CONFIG"),
        ("--log-format", "FJORD_LOG_FORMAT"),
        ("--log-level", "FJORD_LOG_LEVEL"),
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
        assert!(
            help.contains(&format!("env: {variable}")),
            "--help lacks {variable}:\n{help}"
        );
    }
}

#[test]
fn a_bad_flag_value_exits_with_usage_status_and_names_the_flag() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let output = run_broker(dir.path(), &["--node-id", "minus-one"]);
    assert_refused(&output, 2, &["--node-id"]);
}

#[test]
fn a_missing_settings_file_is_named_and_nothing_is_served() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let missing = dir.path().join("no-such.properties");
    let output = run_broker(
        &dir.path().join("data"),
        &["--config", missing.to_str().expect("utf-8 path")],
    );
    assert_refused(&output, 1, &["cannot read --config", "no-such.properties"]);
}

#[test]
fn a_bad_setting_stops_the_broker_with_the_key_and_the_rule() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("broker.properties");
    std::fs::write(&file, "num.partitions=3\nlog.retention.ms=forever\n").expect("settings");
    let output = run_broker(
        &dir.path().join("data"),
        &["--config", file.to_str().expect("utf-8 path")],
    );
    assert_refused(&output, 1, &["log.retention.ms", "forever"]);
}
