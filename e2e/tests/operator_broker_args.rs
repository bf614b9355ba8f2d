//! The broker accepts what the operator renders: the StatefulSet's arguments
//! and environment and the ConfigMap's `server.properties` start a real
//! `fjord-broker`, which then advertises the pod's DNS name.
//!
//! Only what cannot work outside a pod is replaced: paths point into a
//! temporary directory and the listeners bind 127.0.0.1:0.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use fjord_crds::KafkaCluster;
use fjord_operator::cluster::build::{CONFIG_FILE, build};

const CLUSTER: &str = r#"
apiVersion: fjord.dev/v1alpha1
kind: KafkaCluster
metadata: { name: main, namespace: streaming, uid: 6f1c2a4e-0b7d-4c1e-9a55-2f3d4e5a6b7c }
spec:
  config: { num.partitions: "4", log.retention.ms: "3600000", auto.create.topics.enable: "false" }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_broker_starts_from_the_objects_the_operator_builds() {
    let cluster: KafkaCluster = serde_yaml::from_str(CLUSTER).unwrap();
    let objects = build(&cluster, "unused");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join(CONFIG_FILE);
    std::fs::write(
        &config,
        &objects.config_map.data.as_ref().unwrap()[CONFIG_FILE],
    )
    .unwrap();

    let container = &objects
        .stateful_set
        .spec
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0];
    let mut args = container.args.clone().unwrap();
    let mut replace = |flag: &str, value: String| {
        let at = args
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("no {flag}"));
        args[at + 1] = value;
    };
    replace("--config", config.display().to_string());
    replace("--data-dir", dir.path().join("data").display().to_string());
    replace("--listen", "127.0.0.1:0".into());
    replace("--admin-listen", "127.0.0.1:0".into());
    // What the kubelet does with $(VAR) in args.
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            a.replace("$(POD_NAME)", "main-broker-0")
                .replace("$(POD_NAMESPACE)", "streaming")
        })
        .collect();
    let mut command = Command::new(fjord_e2e::broker_binary().unwrap());
    command
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for env in container.env.as_ref().unwrap() {
        match (&env.value, env.name.as_str()) {
            (Some(value), name) => command.env(name, value),
            // The downward API: the pod's ordinal label is 0 here.
            (None, "FJORD_NODE_ID") => command.env("FJORD_NODE_ID", "0"),
            (None, _) => &mut command,
        };
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let line = received.recv_timeout(Duration::from_secs(60));
    let advertised = line
        .as_ref()
        .ok()
        .and_then(|line| advertised_hosts(line).ok());
    let _ = child.kill();
    let _ = child.wait();
    let line = line.expect("the broker started and printed its listening line");
    assert!(line.starts_with("listening kafka="), "{line}");
    assert_eq!(
        advertised,
        Some(vec![(
            "main-broker-0.main-brokers.streaming.svc".to_owned(),
            9092
        )]),
        "Metadata advertises the pod's DNS name and the listener port"
    );
    let meta = std::fs::read_to_string(dir.path().join("data/meta.properties")).unwrap_or_default();
    assert!(
        meta.contains("bxwqTgt9TB6aVS89TlprfA"),
        "the cluster id reached the broker: {meta}"
    );
}

/// The brokers a Metadata request names, from the broker's listening line.
fn advertised_hosts(line: &str) -> anyhow::Result<Vec<(String, i32)>> {
    use anyhow::Context as _;
    use kafka_protocol::messages::{ApiKey, MetadataRequest, RequestKind, ResponseKind};
    let address = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("kafka="))
        .context("no kafka= address")?
        .parse()?;
    let mut wire = fjord_e2e::wire::WireClient::connect(address)?;
    let response = wire.call(
        ApiKey::Metadata,
        9,
        RequestKind::Metadata(MetadataRequest::default()),
    )?;
    let ResponseKind::Metadata(metadata) = response else {
        anyhow::bail!("not a Metadata response");
    };
    Ok(metadata
        .brokers
        .iter()
        .map(|b| (b.host.as_str().to_owned(), b.port))
        .collect())
}
