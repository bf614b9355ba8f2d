//! Broker-level settings by their Kafka names, with Kafka's defaults.
//!
//! Topic configs (`retention.ms`, `segment.bytes`, ...) fall back to these
//! (`log.retention.ms`, `log.segment.bytes`, ...); DescribeConfigs on the
//! BROKER resource reports them with their source.

use std::collections::BTreeMap;

/// When an acknowledged write is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// `acks=1`/`acks=all` are answered only after the batch is fsynced
    /// (group commit batches fsyncs across partitions and requests).
    Sync,
    /// Kafka's behaviour: answer once the batch is in the page cache and let
    /// the operating system write it back.
    Os,
}

/// A setting that could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("invalid value {value:?} for {key}: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
}

/// Broker settings, each field named after its Kafka key.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerSettings {
    /// `num.partitions`: partitions of auto-created topics and of CreateTopics
    /// requests that leave the count to the broker.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// `auto.create.topics.enable`: Metadata for an unknown topic creates it.
    pub auto_create_topics_enable: bool,
    /// `log.segment.bytes`.
    pub log_segment_bytes: u64,
    /// `log.roll.ms` (or `log.roll.hours`).
    pub log_roll_ms: u64,
    /// `log.retention.ms` (or `.minutes`, `.hours`); -1 keeps data forever.
    pub log_retention_ms: i64,
    /// `log.retention.bytes`; -1 = no size limit.
    pub log_retention_bytes: i64,
    /// `log.index.interval.bytes`.
    pub log_index_interval_bytes: u64,
    /// `message.max.bytes`: the largest record batch accepted.
    pub message_max_bytes: u32,
    /// `log.message.timestamp.type`: CreateTime or LogAppendTime.
    pub log_message_timestamp_type: String,
    /// `min.insync.replicas`.
    pub min_insync_replicas: i32,
    /// `log.cleanup.policy`: `delete`, `compact` or both, comma-separated.
    pub log_cleanup_policy: String,
    /// `log.cleaner.enable`: run the log cleaner for compacted topics.
    pub log_cleaner_enable: bool,
    /// `log.cleaner.threads`: partitions cleaned at once; 0 cleans none, as in Kafka.
    pub log_cleaner_threads: u32,
    /// `log.cleaner.dedupe.buffer.size`: memory for the key → offset maps of all cleaner
    /// threads; each gets an equal share.
    pub log_cleaner_dedupe_buffer_size: u64,
    /// `log.cleaner.io.max.bytes.per.second`: bytes all cleaner threads together read and
    /// write per second; Kafka's default, `Double.MAX_VALUE`, is unlimited.
    pub log_cleaner_io_max_bytes_per_second: f64,
    /// `log.cleaner.backoff.ms`: pause between cleaner passes.
    pub log_cleaner_backoff_ms: u64,
    /// `log.cleaner.min.cleanable.ratio`: default of `min.cleanable.dirty.ratio`.
    pub log_cleaner_min_cleanable_ratio: f64,
    /// `log.cleaner.min.compaction.lag.ms`: default of `min.compaction.lag.ms`.
    pub log_cleaner_min_compaction_lag_ms: i64,
    /// `log.cleaner.max.compaction.lag.ms`: default of `max.compaction.lag.ms`.
    pub log_cleaner_max_compaction_lag_ms: i64,
    /// `log.cleaner.delete.retention.ms`: default of `delete.retention.ms`.
    pub log_cleaner_delete_retention_ms: i64,
    /// `log.retention.check.interval.ms`.
    pub log_retention_check_interval_ms: u64,
    /// `log.flush.offset.checkpoint.interval.ms`: how often recovery points are
    /// written to their checkpoint files.
    pub log_flush_offset_checkpoint_interval_ms: u64,
    /// `socket.request.max.bytes`: larger frames close the connection.
    pub socket_request_max_bytes: u32,
    /// `max.connections`.
    pub max_connections: u32,
    /// `connections.max.idle.ms`.
    pub connections_max_idle_ms: u64,
    /// `offsets.retention.minutes`.
    pub offsets_retention_minutes: u64,
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets`, fixed at its creation.
    pub offsets_topic_num_partitions: i32,
    /// `offsets.topic.replication.factor`: capped at the live brokers when the topic is created.
    pub offsets_topic_replication_factor: i16,
    /// `offsets.topic.segment.bytes`: `segment.bytes` of `__consumer_offsets`.
    pub offsets_topic_segment_bytes: u64,
    /// `log.flush.policy` (Fjord): `sync` (default) or `os`.
    pub flush_policy: FlushPolicy,
    /// `group.initial.rebalance.delay.ms`: how long a new group waits for more members.
    pub group_initial_rebalance_delay_ms: u64,
    /// `group.min.session.timeout.ms` / `group.max.session.timeout.ms`: the session timeouts
    /// members may ask for.
    pub group_min_session_timeout_ms: u64,
    pub group_max_session_timeout_ms: u64,
    /// `group.max.size`: members per group.
    pub group_max_size: u32,
    /// `group.coordinator.rebalance.protocols`: `classic` (always) and, unless left out,
    /// `consumer` (KIP-848: ConsumerGroupHeartbeat and ConsumerGroupDescribe).
    pub group_coordinator_rebalance_protocols: Vec<String>,
    /// `group.consumer.session.timeout.ms`: a consumer-protocol member's session.
    pub group_consumer_session_timeout_ms: u64,
    /// `group.consumer.heartbeat.interval.ms`: how often consumer-protocol members heartbeat.
    pub group_consumer_heartbeat_interval_ms: u64,
    /// `group.consumer.max.size`: members per consumer-protocol group.
    pub group_consumer_max_size: u32,
    /// `group.consumer.assignors`: the server assignors, the default first.
    pub group_consumer_assignors: Vec<String>,
    /// `transaction.max.timeout.ms` (900000): the longest transaction timeout a producer may ask.
    pub transaction_max_timeout_ms: i32,
    /// `transactional.id.expiration.ms` (7 days): an idle transactional id is removed after it.
    pub transactional_id_expiration_ms: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms` (10000).
    pub transaction_abort_timed_out_interval_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms` (3600000).
    pub transaction_remove_expired_interval_ms: i64,
    /// `transaction.state.log.num.partitions` (50).
    pub transaction_state_log_num_partitions: i32,
    /// `transaction.state.log.segment.bytes` (104857600).
    pub transaction_state_log_segment_bytes: i32,
    /// `transaction.state.log.replication.factor` (3, capped by the live brokers).
    pub transaction_state_log_replication_factor: i16,
    /// `producer.id.expiration.ms` (1 day): a producer idle this long is forgotten.
    pub producer_id_expiration_ms: i64,
    /// `producer.id.expiration.check.interval.ms` (10 minutes).
    pub producer_id_expiration_check_interval_ms: u64,
    /// `group.consumer.migration.policy`: which way groups convert between the protocols
    /// while they have members (`bidirectional`, `upgrade`, `downgrade`, `disabled`).
    pub group_consumer_migration_policy: String,
    /// `offset.metadata.max.bytes`: the largest metadata string of a committed offset.
    pub offset_metadata_max_bytes: u32,
    /// `offsets.retention.check.interval.ms`: how often expired offsets are removed.
    pub offsets_retention_check_interval_ms: u64,
    /// The metadata quorum's settings (`controller.quorum.*`).
    pub cluster: ClusterSettings,
    /// The keys set explicitly in the config file, as written.
    pub explicit: BTreeMap<String, String>,
}

const DAY_MS: i64 = 7 * 24 * 3_600_000;

impl Default for BrokerSettings {
    fn default() -> Self {
        Self {
            num_partitions: 1,
            default_replication_factor: 1,
            auto_create_topics_enable: true,
            log_segment_bytes: 1 << 30,
            log_roll_ms: DAY_MS as u64,
            log_retention_ms: DAY_MS,
            log_retention_bytes: -1,
            log_index_interval_bytes: 4096,
            message_max_bytes: 1_048_588,
            log_message_timestamp_type: "CreateTime".to_owned(),
            min_insync_replicas: 1,
            log_cleanup_policy: "delete".to_owned(),
            log_cleaner_enable: true,
            log_cleaner_threads: 1,
            log_cleaner_dedupe_buffer_size: 134_217_728,
            log_cleaner_io_max_bytes_per_second: f64::MAX,
            log_cleaner_backoff_ms: 15_000,
            log_cleaner_min_cleanable_ratio: 0.5,
            log_cleaner_min_compaction_lag_ms: 0,
            log_cleaner_max_compaction_lag_ms: i64::MAX,
            log_cleaner_delete_retention_ms: 86_400_000,
            log_retention_check_interval_ms: 300_000,
            log_flush_offset_checkpoint_interval_ms: 60_000,
            socket_request_max_bytes: 104_857_600,
            max_connections: i32::MAX as u32,
            connections_max_idle_ms: 600_000,
            offsets_retention_minutes: 10_080,
            offsets_topic_num_partitions: 50,
            offsets_topic_replication_factor: 3,
            offsets_topic_segment_bytes: 104_857_600,
            flush_policy: FlushPolicy::Sync,
            group_initial_rebalance_delay_ms: 3_000,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_max_size: i32::MAX as u32,
            group_coordinator_rebalance_protocols: vec!["classic".into(), "consumer".into()],
            group_consumer_session_timeout_ms: 45_000,
            group_consumer_heartbeat_interval_ms: 5_000,
            group_consumer_max_size: i32::MAX as u32,
            group_consumer_assignors: vec!["uniform".into(), "range".into()],
            group_consumer_migration_policy: "bidirectional".into(),
            transaction_max_timeout_ms: 900_000,
            transactional_id_expiration_ms: 604_800_000,
            transaction_abort_timed_out_interval_ms: 10_000,
            transaction_remove_expired_interval_ms: 3_600_000,
            transaction_state_log_num_partitions: 50,
            transaction_state_log_segment_bytes: 104_857_600,
            transaction_state_log_replication_factor: 3,
            producer_id_expiration_ms: 86_400_000,
            producer_id_expiration_check_interval_ms: 600_000,
            offset_metadata_max_bytes: 4_096,
            offsets_retention_check_interval_ms: 600_000,
            cluster: ClusterSettings::default(),
            explicit: BTreeMap::new(),
        }
    }
}

impl BrokerSettings {
    /// Builds settings from `key=value` pairs. Unknown keys are kept in
    /// [`explicit`](Self::explicit) and reported by [`unknown_keys`](Self::unknown_keys).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, SettingsError> {
        let mut settings = Self::default();
        let map: BTreeMap<String, String> = pairs.into_iter().collect();
        let get = |key: &str| map.get(key).map(String::as_str);

        if let Some(v) = get("num.partitions") {
            settings.num_partitions =
                int_in(key_value("num.partitions", v), 1, i32::MAX as i64)? as i32;
        }
        if let Some(v) = get("default.replication.factor") {
            settings.default_replication_factor = int_in(
                key_value("default.replication.factor", v),
                1,
                i16::MAX as i64,
            )? as i16;
        }
        if let Some(v) = get("auto.create.topics.enable") {
            settings.auto_create_topics_enable =
                boolean(key_value("auto.create.topics.enable", v))?;
        }
        if let Some(v) = get("log.segment.bytes") {
            settings.log_segment_bytes =
                int_in(key_value("log.segment.bytes", v), 14, i32::MAX as i64)? as u64;
        }
        // Kafka's precedence: ms, then hours.
        if let Some(v) = get("log.roll.ms") {
            settings.log_roll_ms = int_in(key_value("log.roll.ms", v), 1, i64::MAX)? as u64;
        } else if let Some(v) = get("log.roll.hours") {
            settings.log_roll_ms =
                int_in(key_value("log.roll.hours", v), 1, i64::MAX / 3_600_000)? as u64 * 3_600_000;
        }
        // Kafka's precedence: ms, then minutes, then hours.
        if let Some(v) = get("log.retention.ms") {
            settings.log_retention_ms = retention(key_value("log.retention.ms", v), 1)?;
        } else if let Some(v) = get("log.retention.minutes") {
            settings.log_retention_ms = retention(key_value("log.retention.minutes", v), 60_000)?;
        } else if let Some(v) = get("log.retention.hours") {
            settings.log_retention_ms = retention(key_value("log.retention.hours", v), 3_600_000)?;
        }
        if let Some(v) = get("log.retention.bytes") {
            settings.log_retention_bytes =
                int_in(key_value("log.retention.bytes", v), -1, i64::MAX)?;
        }
        if let Some(v) = get("log.index.interval.bytes") {
            settings.log_index_interval_bytes =
                int_in(key_value("log.index.interval.bytes", v), 0, i32::MAX as i64)? as u64;
        }
        if let Some(v) = get("message.max.bytes") {
            settings.message_max_bytes =
                int_in(key_value("message.max.bytes", v), 0, i32::MAX as i64)? as u32;
        }
        if let Some(v) = get("log.message.timestamp.type") {
            settings.log_message_timestamp_type = one_of(
                key_value("log.message.timestamp.type", v),
                &["CreateTime", "LogAppendTime"],
            )?;
        }
        if let Some(v) = get("min.insync.replicas") {
            settings.min_insync_replicas =
                int_in(key_value("min.insync.replicas", v), 1, i32::MAX as i64)? as i32;
        }
        if let Some(v) = get("log.cleanup.policy") {
            crate::cluster::topic_config::cleanup_policy(v)
                .map_err(|reason| invalid("log.cleanup.policy", v, reason))?;
            settings.log_cleanup_policy = v.to_owned();
        }
        if let Some(v) = get("log.cleaner.enable") {
            settings.log_cleaner_enable = boolean(key_value("log.cleaner.enable", v))?;
        }
        if let Some(v) = get("log.cleaner.threads") {
            settings.log_cleaner_threads =
                int_in(key_value("log.cleaner.threads", v), 0, i32::MAX as i64)? as u32;
        }
        if let Some(v) = get("log.cleaner.dedupe.buffer.size") {
            settings.log_cleaner_dedupe_buffer_size =
                int_in(key_value("log.cleaner.dedupe.buffer.size", v), 1, i64::MAX)? as u64;
        }
        if let Some(v) = get("log.cleaner.io.max.bytes.per.second") {
            settings.log_cleaner_io_max_bytes_per_second =
                positive(key_value("log.cleaner.io.max.bytes.per.second", v))?;
        }
        if let Some(v) = get("log.cleaner.backoff.ms") {
            settings.log_cleaner_backoff_ms =
                int_in(key_value("log.cleaner.backoff.ms", v), 0, i64::MAX)? as u64;
        }
        if let Some(v) = get("log.cleaner.min.cleanable.ratio") {
            settings.log_cleaner_min_cleanable_ratio =
                ratio(key_value("log.cleaner.min.cleanable.ratio", v))?;
        }
        if let Some(v) = get("log.cleaner.min.compaction.lag.ms") {
            settings.log_cleaner_min_compaction_lag_ms = int_in(
                key_value("log.cleaner.min.compaction.lag.ms", v),
                0,
                i64::MAX,
            )?;
        }
        if let Some(v) = get("log.cleaner.max.compaction.lag.ms") {
            settings.log_cleaner_max_compaction_lag_ms = int_in(
                key_value("log.cleaner.max.compaction.lag.ms", v),
                1,
                i64::MAX,
            )?;
        }
        if let Some(v) = get("log.cleaner.delete.retention.ms") {
            settings.log_cleaner_delete_retention_ms =
                int_in(key_value("log.cleaner.delete.retention.ms", v), 0, i64::MAX)?;
        }
        if let Some(v) = get("log.retention.check.interval.ms") {
            settings.log_retention_check_interval_ms =
                int_in(key_value("log.retention.check.interval.ms", v), 1, i64::MAX)? as u64;
        }
        if let Some(v) = get("log.flush.offset.checkpoint.interval.ms") {
            settings.log_flush_offset_checkpoint_interval_ms = int_in(
                key_value("log.flush.offset.checkpoint.interval.ms", v),
                1,
                i64::MAX,
            )? as u64;
        }
        if let Some(v) = get("socket.request.max.bytes") {
            settings.socket_request_max_bytes =
                int_in(key_value("socket.request.max.bytes", v), 1, i32::MAX as i64)? as u32;
        }
        if let Some(v) = get("max.connections") {
            settings.max_connections =
                int_in(key_value("max.connections", v), 0, i32::MAX as i64)? as u32;
        }
        if let Some(v) = get("connections.max.idle.ms") {
            settings.connections_max_idle_ms =
                int_in(key_value("connections.max.idle.ms", v), 1, i64::MAX)? as u64;
        }
        if let Some(v) = get("offsets.retention.minutes") {
            settings.offsets_retention_minutes = int_in(
                key_value("offsets.retention.minutes", v),
                1,
                i32::MAX as i64,
            )? as u64;
        }
        if let Some(v) = get("offsets.topic.num.partitions") {
            settings.offsets_topic_num_partitions = int_in(
                key_value("offsets.topic.num.partitions", v),
                1,
                i32::MAX as i64,
            )? as i32;
        }
        if let Some(v) = get("offsets.topic.replication.factor") {
            settings.offsets_topic_replication_factor = int_in(
                key_value("offsets.topic.replication.factor", v),
                1,
                i16::MAX as i64,
            )? as i16;
        }
        group::apply(&mut settings, &get)?;
        txn::apply(&mut settings, &get)?;
        cluster::apply(&mut settings.cluster, &get)?;
        if let Some(v) = get("offset.metadata.max.bytes") {
            settings.offset_metadata_max_bytes = int_in(
                key_value("offset.metadata.max.bytes", v),
                0,
                i32::MAX as i64,
            )? as u32;
        }
        if let Some(v) = get("offsets.retention.check.interval.ms") {
            settings.offsets_retention_check_interval_ms = int_in(
                key_value("offsets.retention.check.interval.ms", v),
                1,
                i64::MAX,
            )? as u64;
        }
        if let Some(v) = get("offsets.topic.segment.bytes") {
            settings.offsets_topic_segment_bytes = int_in(
                key_value("offsets.topic.segment.bytes", v),
                1,
                i32::MAX as i64,
            )? as u64;
        }
        if let Some(v) = get("log.flush.policy") {
            settings.flush_policy =
                match one_of(key_value("log.flush.policy", v), &["sync", "os"])?.as_str() {
                    "os" => FlushPolicy::Os,
                    _ => FlushPolicy::Sync,
                };
        }
        settings.explicit = map;
        Ok(settings)
    }

    /// Keys in the file that this broker does not know (logged at start-up,
    /// as Kafka does, rather than refused).
    pub fn unknown_keys(&self) -> impl Iterator<Item = &str> {
        self.explicit.keys().map(String::as_str).filter(|key| {
            !KNOWN_KEYS.contains(key)
                && !txn::keys().any(|k| k == *key)
                && !cluster::keys().any(|k| k == *key)
        })
    }

    /// Every known setting with its effective value, in name order, and
    /// whether the config file set it (for DescribeConfigs on the BROKER).
    pub fn describe(&self) -> Vec<(&'static str, String, bool)> {
        let mut entries: Vec<(&'static str, String)> = vec![
            ("num.partitions", self.num_partitions.to_string()),
            (
                "default.replication.factor",
                self.default_replication_factor.to_string(),
            ),
            (
                "auto.create.topics.enable",
                self.auto_create_topics_enable.to_string(),
            ),
            ("log.segment.bytes", self.log_segment_bytes.to_string()),
            ("log.roll.ms", self.log_roll_ms.to_string()),
            ("log.retention.ms", self.log_retention_ms.to_string()),
            ("log.retention.bytes", self.log_retention_bytes.to_string()),
            (
                "log.index.interval.bytes",
                self.log_index_interval_bytes.to_string(),
            ),
            ("message.max.bytes", self.message_max_bytes.to_string()),
            (
                "log.message.timestamp.type",
                self.log_message_timestamp_type.clone(),
            ),
            ("min.insync.replicas", self.min_insync_replicas.to_string()),
            ("log.cleanup.policy", self.log_cleanup_policy.clone()),
            ("log.cleaner.enable", self.log_cleaner_enable.to_string()),
            ("log.cleaner.threads", self.log_cleaner_threads.to_string()),
            (
                "log.cleaner.dedupe.buffer.size",
                self.log_cleaner_dedupe_buffer_size.to_string(),
            ),
            (
                "log.cleaner.io.max.bytes.per.second",
                java_double(self.log_cleaner_io_max_bytes_per_second),
            ),
            (
                "log.cleaner.backoff.ms",
                self.log_cleaner_backoff_ms.to_string(),
            ),
            (
                "log.cleaner.min.cleanable.ratio",
                self.log_cleaner_min_cleanable_ratio.to_string(),
            ),
            (
                "log.cleaner.min.compaction.lag.ms",
                self.log_cleaner_min_compaction_lag_ms.to_string(),
            ),
            (
                "log.cleaner.max.compaction.lag.ms",
                self.log_cleaner_max_compaction_lag_ms.to_string(),
            ),
            (
                "log.cleaner.delete.retention.ms",
                self.log_cleaner_delete_retention_ms.to_string(),
            ),
            (
                "log.retention.check.interval.ms",
                self.log_retention_check_interval_ms.to_string(),
            ),
            (
                "log.flush.offset.checkpoint.interval.ms",
                self.log_flush_offset_checkpoint_interval_ms.to_string(),
            ),
            (
                "socket.request.max.bytes",
                self.socket_request_max_bytes.to_string(),
            ),
            ("max.connections", self.max_connections.to_string()),
            (
                "connections.max.idle.ms",
                self.connections_max_idle_ms.to_string(),
            ),
            (
                "offsets.retention.minutes",
                self.offsets_retention_minutes.to_string(),
            ),
            (
                "offsets.topic.num.partitions",
                self.offsets_topic_num_partitions.to_string(),
            ),
            (
                "group.initial.rebalance.delay.ms",
                self.group_initial_rebalance_delay_ms.to_string(),
            ),
            (
                "group.min.session.timeout.ms",
                self.group_min_session_timeout_ms.to_string(),
            ),
            (
                "group.max.session.timeout.ms",
                self.group_max_session_timeout_ms.to_string(),
            ),
            ("group.max.size", self.group_max_size.to_string()),
            (
                "group.coordinator.rebalance.protocols",
                self.group_coordinator_rebalance_protocols.join(","),
            ),
            (
                "group.consumer.session.timeout.ms",
                self.group_consumer_session_timeout_ms.to_string(),
            ),
            (
                "group.consumer.heartbeat.interval.ms",
                self.group_consumer_heartbeat_interval_ms.to_string(),
            ),
            (
                "group.consumer.max.size",
                self.group_consumer_max_size.to_string(),
            ),
            (
                "group.consumer.assignors",
                self.group_consumer_assignors.join(","),
            ),
            (
                "group.consumer.migration.policy",
                self.group_consumer_migration_policy.clone(),
            ),
            (
                "offset.metadata.max.bytes",
                self.offset_metadata_max_bytes.to_string(),
            ),
            (
                "offsets.retention.check.interval.ms",
                self.offsets_retention_check_interval_ms.to_string(),
            ),
            (
                "offsets.topic.replication.factor",
                self.offsets_topic_replication_factor.to_string(),
            ),
            (
                "offsets.topic.segment.bytes",
                self.offsets_topic_segment_bytes.to_string(),
            ),
            (
                "log.flush.policy",
                match self.flush_policy {
                    FlushPolicy::Sync => "sync",
                    FlushPolicy::Os => "os",
                }
                .to_owned(),
            ),
        ];
        entries.extend(txn::describe(self));
        entries.extend(cluster::describe(&self.cluster));
        entries.sort_by_key(|(name, _)| *name);
        entries
            .into_iter()
            .map(|(name, value)| {
                let explicit = self.explicit.contains_key(name)
                    || synonyms_of(name)
                        .iter()
                        .any(|s| self.explicit.contains_key(*s));
                (name, value, explicit)
            })
            .collect()
    }
}

/// Keys whose value another key also sets, in Kafka's precedence order.
fn synonyms_of(name: &str) -> &'static [&'static str] {
    match name {
        "log.retention.ms" => &["log.retention.minutes", "log.retention.hours"],
        "log.roll.ms" => &["log.roll.hours"],
        _ => &[],
    }
}

const KNOWN_KEYS: &[&str] = &[
    "num.partitions",
    "default.replication.factor",
    "auto.create.topics.enable",
    "log.segment.bytes",
    "log.roll.ms",
    "log.roll.hours",
    "log.retention.ms",
    "log.retention.minutes",
    "log.retention.hours",
    "log.retention.bytes",
    "log.index.interval.bytes",
    "message.max.bytes",
    "log.message.timestamp.type",
    "min.insync.replicas",
    "log.cleanup.policy",
    "log.cleaner.enable",
    "log.cleaner.threads",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.max.bytes.per.second",
    "log.cleaner.backoff.ms",
    "log.cleaner.min.cleanable.ratio",
    "log.cleaner.min.compaction.lag.ms",
    "log.cleaner.max.compaction.lag.ms",
    "log.cleaner.delete.retention.ms",
    "log.retention.check.interval.ms",
    "log.flush.offset.checkpoint.interval.ms",
    "socket.request.max.bytes",
    "max.connections",
    "connections.max.idle.ms",
    "offsets.retention.minutes",
    "offsets.topic.num.partitions",
    "offsets.topic.replication.factor",
    "offsets.topic.segment.bytes",
    "log.flush.policy",
    "group.initial.rebalance.delay.ms",
    "group.min.session.timeout.ms",
    "group.max.session.timeout.ms",
    "group.max.size",
    "group.coordinator.rebalance.protocols",
    "group.consumer.session.timeout.ms",
    "group.consumer.heartbeat.interval.ms",
    "group.consumer.max.size",
    "group.consumer.assignors",
    "group.consumer.migration.policy",
    "offset.metadata.max.bytes",
    "offsets.retention.check.interval.ms",
];

/// A comma-separated list, entries trimmed, empty entries dropped.
fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect()
}

fn key_value<'a>(key: &'a str, value: &'a str) -> (&'a str, &'a str) {
    (key, value)
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key: key.to_owned(),
        value: value.to_owned(),
        reason: reason.into(),
    }
}

fn int_in((key, value): (&str, &str), min: i64, max: i64) -> Result<i64, SettingsError> {
    let number: i64 = value
        .parse()
        .map_err(|_| invalid(key, value, "not a whole number"))?;
    if number < min || number > max {
        return Err(invalid(
            key,
            value,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(number)
}

fn boolean((key, value): (&str, &str)) -> Result<bool, SettingsError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, value, "must be true or false")),
    }
}

fn one_of((key, value): (&str, &str), allowed: &[&str]) -> Result<String, SettingsError> {
    allowed
        .iter()
        .find(|candidate| candidate.eq_ignore_ascii_case(value))
        .map(|candidate| (*candidate).to_owned())
        .ok_or_else(|| invalid(key, value, format!("must be one of {}", allowed.join(", "))))
}

/// A number between 0 and 1, as Kafka's `between(0, 1)` validator.
fn ratio((key, value): (&str, &str)) -> Result<f64, SettingsError> {
    match value.trim().parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        Ok(_) => Err(invalid(key, value, "must be between 0 and 1")),
        Err(_) => Err(invalid(key, value, "not a number")),
    }
}

/// A number above 0 (a rate).
fn positive((key, value): (&str, &str)) -> Result<f64, SettingsError> {
    match value.trim().parse::<f64>() {
        Ok(number) if number > 0.0 => Ok(number),
        Ok(_) => Err(invalid(key, value, "must be a number above 0")),
        Err(_) => Err(invalid(key, value, "not a number")),
    }
}

/// A double as Java's `Double.toString` writes it (`1.7976931348623157E308`, `1048576.0`), as
/// Kafka reports it.
fn java_double(number: f64) -> String {
    let with_point = |digits: String| {
        if digits.contains('.') || !number.is_finite() {
            digits
        } else {
            format!("{digits}.0")
        }
    };
    if number == 0.0 || (1e-3..1e7).contains(&number.abs()) || !number.is_finite() {
        return with_point(number.to_string());
    }
    let scientific = format!("{number:E}");
    match scientific.split_once('E') {
        Some((mantissa, exponent)) => format!("{}E{exponent}", with_point(mantissa.to_owned())),
        None => scientific,
    }
}

fn retention((key, value): (&str, &str), unit_ms: i64) -> Result<i64, SettingsError> {
    let number = int_in((key, value), -1, i64::MAX / unit_ms)?;
    Ok(if number < 0 { -1 } else { number * unit_ms })
}

#[path = "cluster_settings.rs"]
mod cluster;
#[path = "group_settings.rs"]
mod group;
#[path = "txn_settings.rs"]
mod txn;

pub use cluster::{ClusterSettings, parse_voters};

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
