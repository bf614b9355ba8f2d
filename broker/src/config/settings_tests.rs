//! Parsing, bounds and defaults of the broker settings.

use super::*;

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn defaults_are_kafkas() {
    let settings = BrokerSettings::default();
    assert_eq!(settings.log_retention_ms, 604_800_000);
    assert_eq!(settings.log_segment_bytes, 1_073_741_824);
    assert_eq!(settings.message_max_bytes, 1_048_588);
    assert_eq!(settings.socket_request_max_bytes, 104_857_600);
    assert!(settings.auto_create_topics_enable);
    assert_eq!(settings.flush_policy, FlushPolicy::Sync);
    assert_eq!(settings.log_flush_offset_checkpoint_interval_ms, 60_000);
}

#[test]
fn the_consumer_group_settings_have_kafkas_defaults_and_are_checked() {
    let defaults = BrokerSettings::default();
    assert_eq!(
        defaults.group_coordinator_rebalance_protocols,
        ["classic", "consumer"]
    );
    assert_eq!(defaults.group_consumer_session_timeout_ms, 45_000);
    assert_eq!(defaults.group_consumer_heartbeat_interval_ms, 5_000);
    assert_eq!(defaults.group_consumer_assignors, ["uniform", "range"]);
    assert_eq!(defaults.group_consumer_migration_policy, "bidirectional");
    let s = BrokerSettings::from_pairs(pairs(&[
        ("group.coordinator.rebalance.protocols", "classic"),
        ("group.consumer.heartbeat.interval.ms", "500"),
        ("group.consumer.assignors", "range, uniform"),
        ("group.consumer.migration.policy", "UPGRADE"),
    ]))
    .unwrap();
    assert_eq!(s.group_consumer_migration_policy, "upgrade");
    assert_eq!(s.group_coordinator_rebalance_protocols, ["classic"]);
    assert_eq!(s.group_consumer_heartbeat_interval_ms, 500);
    assert_eq!(s.group_consumer_assignors, ["range", "uniform"]);
    assert!(s.describe().iter().any(|(n, v, explicit)| {
        *n == "group.consumer.assignors" && v == "range,uniform" && *explicit
    }));
    for (key, bad) in [
        ("group.coordinator.rebalance.protocols", "consumer"),
        ("group.coordinator.rebalance.protocols", "classic,share"),
        ("group.consumer.assignors", "sticky"),
        ("group.consumer.assignors", ","),
        ("group.consumer.heartbeat.interval.ms", "45000"),
        ("group.consumer.session.timeout.ms", "0"),
        ("group.consumer.max.size", "0"),
        ("group.consumer.migration.policy", "sideways"),
    ] {
        let error = BrokerSettings::from_pairs(pairs(&[(key, bad)])).unwrap_err();
        assert!(error.to_string().contains(key), "{key}={bad}: {error}");
    }
}

#[test]
fn the_checkpoint_interval_is_a_positive_number_of_ms() {
    let key = "log.flush.offset.checkpoint.interval.ms";
    let s = BrokerSettings::from_pairs(pairs(&[(key, "5000")])).unwrap();
    assert_eq!(s.log_flush_offset_checkpoint_interval_ms, 5_000);
    assert!(
        s.describe()
            .iter()
            .any(|(n, v, explicit)| *n == key && v == "5000" && *explicit)
    );
    for bad in ["0", "-1", "soon"] {
        let error = BrokerSettings::from_pairs(pairs(&[(key, bad)])).unwrap_err();
        assert!(error.to_string().contains(key), "{error}");
    }
}

#[test]
fn the_offsets_topic_settings_have_kafkas_defaults_and_bounds() {
    let defaults = BrokerSettings::default();
    assert_eq!(defaults.offsets_topic_num_partitions, 50);
    assert_eq!(defaults.offsets_topic_replication_factor, 3);
    assert_eq!(defaults.offsets_topic_segment_bytes, 104_857_600);
    let s = BrokerSettings::from_pairs(pairs(&[
        ("offsets.topic.num.partitions", "3"),
        ("offsets.topic.replication.factor", "1"),
        ("offsets.topic.segment.bytes", "1048576"),
    ]))
    .unwrap();
    assert_eq!(s.offsets_topic_num_partitions, 3);
    assert_eq!(s.offsets_topic_replication_factor, 1);
    assert_eq!(s.offsets_topic_segment_bytes, 1_048_576);
    assert_eq!(s.unknown_keys().count(), 0);
    for key in [
        "offsets.topic.num.partitions",
        "offsets.topic.replication.factor",
    ] {
        let error = BrokerSettings::from_pairs(pairs(&[(key, "0")])).unwrap_err();
        assert!(error.to_string().contains(key), "{error}");
    }
}

#[test]
fn retention_in_ms_wins_over_minutes_and_hours() {
    let s = BrokerSettings::from_pairs(pairs(&[
        ("log.retention.hours", "1"),
        ("log.retention.minutes", "2"),
    ]))
    .unwrap();
    assert_eq!(s.log_retention_ms, 120_000);
    let s = BrokerSettings::from_pairs(pairs(&[
        ("log.retention.hours", "1"),
        ("log.retention.ms", "5"),
    ]))
    .unwrap();
    assert_eq!(s.log_retention_ms, 5);
    let described = s.describe();
    let entry = described
        .iter()
        .find(|(n, _, _)| *n == "log.retention.ms")
        .unwrap();
    assert_eq!((entry.1.as_str(), entry.2), ("5", true));
}

#[test]
fn invalid_values_name_the_key_and_the_rule() {
    let error = BrokerSettings::from_pairs(pairs(&[("num.partitions", "0")])).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid value \"0\" for num.partitions: must be between 1 and 2147483647"
    );
    let error =
        BrokerSettings::from_pairs(pairs(&[("auto.create.topics.enable", "yes")])).unwrap_err();
    assert!(error.to_string().contains("must be true or false"));
    let error = BrokerSettings::from_pairs(pairs(&[("log.flush.policy", "never")])).unwrap_err();
    assert!(error.to_string().contains("must be one of sync, os"));
}

#[test]
fn the_cleaner_settings_have_kafkas_defaults_and_bounds() {
    let defaults = BrokerSettings::default();
    assert!(defaults.log_cleaner_enable);
    assert_eq!(defaults.log_cleaner_threads, 1);
    assert_eq!(defaults.log_cleaner_dedupe_buffer_size, 134_217_728);
    assert_eq!(defaults.log_cleaner_io_max_bytes_per_second, f64::MAX);
    assert_eq!(defaults.log_cleaner_backoff_ms, 15_000);
    assert_eq!(defaults.log_cleaner_min_cleanable_ratio, 0.5);
    assert_eq!(defaults.log_cleaner_max_compaction_lag_ms, i64::MAX);
    assert_eq!(defaults.log_cleaner_delete_retention_ms, 86_400_000);
    let s = BrokerSettings::from_pairs(pairs(&[
        ("log.cleanup.policy", "compact,delete"),
        ("log.cleaner.enable", "false"),
        ("log.cleaner.backoff.ms", "100"),
        ("log.cleaner.min.cleanable.ratio", "0.01"),
        ("log.cleaner.dedupe.buffer.size", "1048576"),
        ("log.cleaner.io.max.bytes.per.second", "5e5"),
        ("log.cleaner.threads", "3"),
    ]))
    .unwrap();
    assert_eq!(s.log_cleaner_io_max_bytes_per_second, 500_000.0);
    assert_eq!(s.log_cleaner_threads, 3);
    assert_eq!(s.log_cleanup_policy, "compact,delete");
    assert!(!s.log_cleaner_enable);
    assert_eq!(s.log_cleaner_backoff_ms, 100);
    assert_eq!(s.log_cleaner_min_cleanable_ratio, 0.01);
    assert_eq!(s.unknown_keys().count(), 0);
    for (key, bad) in [
        ("log.cleanup.policy", "shred"),
        ("log.cleaner.enable", "sometimes"),
        ("log.cleaner.threads", "-1"),
        ("log.cleaner.dedupe.buffer.size", "0"),
        ("log.cleaner.io.max.bytes.per.second", "0"),
        ("log.cleaner.io.max.bytes.per.second", "-1.5"),
        ("log.cleaner.io.max.bytes.per.second", "fast"),
        ("log.cleaner.io.max.bytes.per.second", "NaN"),
        ("log.cleaner.backoff.ms", "-5"),
        ("log.cleaner.min.cleanable.ratio", "2"),
        ("log.cleaner.min.compaction.lag.ms", "-1"),
        ("log.cleaner.max.compaction.lag.ms", "0"),
        ("log.cleaner.delete.retention.ms", "-1"),
    ] {
        let error = BrokerSettings::from_pairs(pairs(&[(key, bad)])).unwrap_err();
        assert!(error.to_string().contains(key), "{error}");
    }
}

#[test]
fn the_cleaner_io_rate_is_described_as_kafka_writes_a_double() {
    let describe = |s: &BrokerSettings| {
        s.describe()
            .into_iter()
            .find(|(key, _, _)| *key == "log.cleaner.io.max.bytes.per.second")
            .map(|(_, value, explicit)| (value, explicit))
    };
    let defaults = BrokerSettings::default();
    assert_eq!(
        describe(&defaults),
        Some(("1.7976931348623157E308".to_owned(), false))
    );
    let set =
        BrokerSettings::from_pairs(pairs(&[("log.cleaner.io.max.bytes.per.second", "1048576")]))
            .unwrap();
    assert_eq!(describe(&set), Some(("1048576.0".to_owned(), true)));
    assert_eq!(java_double(1e7), "1.0E7");
    assert_eq!(java_double(0.5), "0.5");
    assert_eq!(java_double(2.5e-4), "2.5E-4");
    let error = BrokerSettings::from_pairs(pairs(&[("log.cleaner.io.max.bytes.per.second", "0")]))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid value \"0\" for log.cleaner.io.max.bytes.per.second: must be a number above 0"
    );
}

#[test]
fn unknown_keys_are_kept_and_reported() {
    let s =
        BrokerSettings::from_pairs(pairs(&[("log.dirs", "/x"), ("num.partitions", "3")])).unwrap();
    assert_eq!(s.num_partitions, 3);
    assert_eq!(s.unknown_keys().collect::<Vec<_>>(), vec!["log.dirs"]);
}

#[test]
fn the_transaction_settings_have_kafkas_defaults_and_bounds() {
    let defaults = BrokerSettings::default();
    assert_eq!(defaults.transaction_max_timeout_ms, 900_000);
    assert_eq!(defaults.transactional_id_expiration_ms, 604_800_000);
    assert_eq!(defaults.transaction_state_log_num_partitions, 50);
    let s = BrokerSettings::from_pairs(pairs(&[
        ("transaction.max.timeout.ms", "60000"),
        ("transaction.state.log.num.partitions", "3"),
    ]))
    .unwrap();
    assert_eq!(s.transaction_max_timeout_ms, 60_000);
    assert_eq!(s.transaction_state_log_num_partitions, 3);
    assert_eq!(s.unknown_keys().count(), 0);
    assert!(s.describe().iter().any(|(n, v, explicit)| {
        *n == "transaction.max.timeout.ms" && v == "60000" && *explicit
    }));
    for (key, bad) in [
        ("transaction.max.timeout.ms", "0"),
        ("transaction.state.log.num.partitions", "0"),
        ("transactional.id.expiration.ms", "x"),
    ] {
        let error = BrokerSettings::from_pairs(pairs(&[(key, bad)])).unwrap_err();
        assert!(error.to_string().contains(key), "{key}={bad}: {error}");
    }
}
