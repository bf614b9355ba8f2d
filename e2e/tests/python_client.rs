//! kafka-python (3.0, a pure-Python client: its own protocol code, not
//! librdkafka) against the real `fjord-broker` binary.
//! `e2e/python/kafka_python_client.py` does the client work and prints what
//! it saw; these tests check it and cross-check the records with librdkafka.
//!
//! Needs `FJORD_PYTHON`: the venv `scripts/install-test-tools` creates, with
//! kafka-python and its codec libraries.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use fjord_e2e::transcript::{self, Facts};
use fjord_e2e::{BrokerProcess, run_tool, tool};

/// Runs `kafka_python_client.py` with `args`; its stdout.
fn python_client(args: &[&str]) -> String {
    let python = tool("FJORD_PYTHON", "python3").unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/kafka_python_client.py");
    run_tool(
        Command::new(python).arg(script).args(args),
        Duration::from_secs(240),
    )
    .unwrap()
}

#[test]
fn kafka_python_round_trips_keyed_records_with_every_codec_and_librdkafka_reads_them() {
    let broker = BrokerProcess::start(&[]).unwrap();
    transcript::assert_round_trips_every_codec(&broker, "python", python_client);
}

#[test]
fn kafka_python_admin_manages_topics_configs_offsets_and_records() {
    let broker = BrokerProcess::start(&[]).unwrap();
    let output = python_client(&["admin", &broker.bootstrap()]);
    let facts = Facts::parse(&output);

    let meta = std::fs::read_to_string(broker.data_dir.join("meta.properties")).unwrap();
    assert!(
        meta.contains(&format!("cluster.id={}\n", facts.get("cluster.id"))),
        "{meta}"
    );
    assert_eq!(facts.get("cluster.nodes"), "1");

    assert_eq!(facts.get("listed"), "True");
    facts.assert_refused("create.twice", "TopicAlreadyExistsError", "already_exists");
    facts.assert_refused("create.bad_name", "InvalidTopicError", "bad/name");
    assert_eq!(facts.get("describe.partitions"), "3");

    assert_eq!(
        facts.get("config.retention.ms"),
        "3600000 DYNAMIC_TOPIC_CONFIG"
    );
    assert_eq!(facts.get("config.cleanup.policy"), "delete DEFAULT_CONFIG");
    assert_eq!(
        facts.get("config.max.message.bytes"),
        "1048588 DEFAULT_CONFIG"
    );
    // The legacy AlterConfigs (not incremental) that kafka-python sends.
    assert_eq!(
        facts.get("altered.retention.ms"),
        "7200000 DYNAMIC_TOPIC_CONFIG"
    );
    facts.assert_refused("alter.bad_value", "InvalidConfigurationError", "soon");

    assert_eq!(facts.get("grown.partitions"), "5");

    assert_eq!(facts.get("offsets.earliest"), "0");
    assert_eq!(facts.get("offsets.latest"), "10");
    assert_eq!(facts.get("offsets.for_timestamp"), "5 5000");
    assert_eq!(facts.get("offsets.after_last_timestamp"), "None");
    assert_eq!(facts.get("delete_records.low_watermark"), "4");
    assert_eq!(facts.get("offsets.earliest_after_delete"), "4");
    assert_eq!(facts.get("deleted.listed"), "False");
}
