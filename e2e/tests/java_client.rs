//! The Apache Kafka Java client (kafka-clients 4.3, unmodified) against the
//! real `fjord-broker` binary. `e2e/java/JavaClient.java` does the client
//! work and prints what it saw; these tests check it, and cross-check records
//! with librdkafka in both directions.
//!
//! Needs `FJORD_JAVA` (a JDK's `java`) and `FJORD_KAFKA_JAVA_CP` (the client
//! jars), both written by `scripts/install-test-tools`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use fjord_e2e::BrokerProcess;
use fjord_e2e::kafka::{assert_same_records, create_topic, keyed_records, produce_all, producer};
use fjord_e2e::transcript::{self, Facts};

const PARTITIONS: i32 = 8;
const RECORD_SIZE: usize = 100;

/// Runs `JavaClient.java` with `args`; its stdout.
fn java_client(args: &[&str]) -> String {
    fjord_e2e::java_client(args).unwrap()
}

#[test]
fn java_client_round_trips_keyed_records_with_every_codec_and_librdkafka_reads_them() {
    let broker = BrokerProcess::start(&[]).unwrap();
    transcript::assert_round_trips_every_codec(&broker, "java", java_client);
}

#[tokio::test(flavor = "multi_thread")]
async fn java_client_reads_what_librdkafka_wrote() {
    let broker = BrokerProcess::start(&[]).unwrap();
    let bootstrap = broker.bootstrap();
    let topic = "from-librdkafka";
    create_topic(&bootstrap, topic, PARTITIONS, &[])
        .await
        .unwrap();
    let records = keyed_records("rdkafka", 5_000, RECORD_SIZE);
    let producer = producer(&bootstrap, &[("compression.type", "zstd")]).unwrap();
    let delivered = produce_all(&producer, topic, &records, 1_000)
        .await
        .unwrap();
    let output = java_client(&["consume", &bootstrap, topic, "8", "5000"]);
    assert_same_records(&delivered, &transcript::consumed(&output));
}

#[test]
fn java_admin_client_manages_topics_configs_offsets_and_records() {
    let broker = BrokerProcess::start(&[]).unwrap();
    let output = java_client(&["admin", &broker.bootstrap()]);
    let facts = Facts::parse(&output);
    let fact = |name: &str| facts.get(name);
    let refused = |name: &str, exception: &str, words: &str| {
        facts.assert_refused(name, exception, words);
    };

    let meta = std::fs::read_to_string(broker.data_dir.join("meta.properties")).unwrap();
    assert!(
        meta.contains(&format!("cluster.id={}\n", fact("cluster.id"))),
        "{meta}"
    );
    assert_eq!(fact("cluster.nodes"), "1");
    assert_eq!(fact("cluster.controller"), "0");

    // Topics: validate_only creates nothing; ids agree; bad input is refused
    // with Kafka's exceptions and the broker's reason.
    assert_eq!(fact("validate_only.listed"), "false");
    assert_eq!(fact("create.partitions"), "3");
    assert_eq!(fact("describe.topic_id"), fact("create.topic_id"));
    assert_eq!(fact("describe.partitions"), "3");
    refused("create.twice", "TopicExistsException", "already_exists");
    refused("create.bad_name", "InvalidTopicException", "bad/name");
    refused(
        "create.bad_config",
        "InvalidConfigurationException",
        "retention.ms",
    );
    refused("describe.unknown", "UnknownTopicOrPartitionException", "");

    // Configs: value, source, is-default, synonyms; set and delete; refusals.
    assert_eq!(
        fact("config.retention.ms"),
        "3600000 DYNAMIC_TOPIC_CONFIG false 2"
    );
    assert_eq!(
        fact("config.segment.bytes"),
        "1048576 DYNAMIC_TOPIC_CONFIG false 2"
    );
    assert_eq!(
        fact("config.cleanup.policy"),
        "delete DEFAULT_CONFIG true 1"
    );
    assert_eq!(
        fact("config.max.message.bytes"),
        "1048588 DEFAULT_CONFIG true 1"
    );
    assert_eq!(fact("altered.retention.ms"), "7200000 DYNAMIC_TOPIC_CONFIG");
    assert_eq!(fact("altered.segment.bytes"), "1073741824 DEFAULT_CONFIG");
    refused("alter.bad_value", "InvalidConfigurationException", "soon");
    refused(
        "alter.unknown_name",
        "InvalidConfigurationException",
        "no.such.config",
    );
    assert_eq!(fact("broker.log.retention.ms"), "604800000");
    assert_eq!(fact("broker.num.partitions"), "1");

    // Partitions grow, never shrink.
    assert_eq!(fact("grown.partitions"), "5");
    refused("shrink", "InvalidPartitionsException", "5_partitions");

    // Ten records one second apart: offsets by position and by timestamp.
    assert_eq!(fact("offsets.earliest"), "0");
    assert_eq!(fact("offsets.latest"), "10");
    assert_eq!(fact("offsets.max_timestamp"), "9 9000");
    assert_eq!(fact("offsets.for_timestamp"), "5 5000");
    assert_eq!(fact("offsets.after_last_timestamp"), "-1");

    // DeleteRecords moves the log start; beyond the end is refused.
    assert_eq!(fact("delete_records.low_watermark"), "4");
    assert_eq!(fact("offsets.earliest_after_delete"), "4");
    refused("delete_records.beyond_end", "OffsetOutOfRangeException", "");

    assert_eq!(fact("deleted.listed"), "false");
    refused(
        "delete.unknown",
        "UnknownTopicOrPartitionException",
        "java-admin",
    );
}

#[test]
fn java_admin_client_reads_and_changes_feature_levels_which_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = BrokerProcess::start_in(dir.path(), &[]).unwrap();
    let out = java_client(&[
        "features",
        &broker.bootstrap(),
        "transaction.version=3",
        "transaction.version=1",
        "no.such.version=1",
        "transaction.version=1:safe",
    ]);
    let facts: Vec<&str> = out.lines().filter(|l| l.starts_with("fact ")).collect();
    let expected_start = [
        // On by default: the Java client uses Transactions V2 only when it sees level 2.
        "fact before-finalized transaction.version 2 2",
        "fact before-supported transaction.version 0 2",
    ];
    assert_eq!(facts[..2], expected_start, "{out}");
    assert!(
        facts[2].starts_with("fact update transaction.version=3 InvalidUpdateVersionException:"),
        "{out}"
    );
    assert!(
        facts[3].starts_with("fact update transaction.version=1 InvalidUpdateVersionException:")
            && facts[3].contains("downgrade"),
        "a downgrade needs a downgrade type: {out}"
    );
    assert!(
        facts[4].starts_with("fact update no.such.version=1 InvalidUpdateVersionException:"),
        "{out}"
    );
    assert_eq!(
        facts[5], "fact update transaction.version=1:safe none",
        "{out}"
    );
    assert_eq!(
        facts[6], "fact after-finalized transaction.version 1 1",
        "{out}"
    );

    // The level is cluster metadata: a restart keeps it.
    drop(broker);
    let broker = BrokerProcess::start_in(dir.path(), &[]).unwrap();
    let out = java_client(&["features", &broker.bootstrap()]);
    assert!(
        out.lines()
            .any(|l| l == "fact before-finalized transaction.version 1 1"),
        "{out}"
    );
}
