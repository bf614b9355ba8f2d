//! Topic-level configs by their Kafka names: which exist, how each is
//! validated, which broker setting it falls back to, and the effective value
//! with its source (for DescribeConfigs).

use std::collections::BTreeMap;

use crate::config::BrokerSettings;
use crate::log::{LogConfig, TimestampType};

/// The value type, as DescribeConfigs v3+ reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int = 3,
    Long = 5,
    Double = 6,
    String = 2,
    List = 7,
}

/// Where an effective value comes from (Kafka's `ConfigSource` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Topic = 1,
    StaticBroker = 4,
    Default = 5,
}

/// One topic config.
pub struct ConfigDef {
    pub name: &'static str,
    /// The broker setting that supplies the default.
    pub broker_key: &'static str,
    pub kind: Kind,
    pub doc: &'static str,
    validate: fn(&str) -> Result<(), String>,
}

fn long_at_least(min: i64) -> impl Fn(&str) -> Result<(), String> {
    move |value| match value.parse::<i64>() {
        Ok(n) if n >= min => Ok(()),
        Ok(_) => Err(format!("must be at least {min}")),
        Err(_) => Err("not a whole number".to_owned()),
    }
}

fn int_at_least(min: i64) -> impl Fn(&str) -> Result<(), String> {
    move |value| match value.parse::<i32>() {
        Ok(n) if i64::from(n) >= min => Ok(()),
        Ok(_) => Err(format!("must be at least {min}")),
        Err(_) => Err("not a 32-bit whole number".to_owned()),
    }
}

/// `cleanup.policy`: a comma-separated list of `compact` and `delete` (Kafka's `ValidList`).
pub fn cleanup_policy(value: &str) -> Result<(), String> {
    let items: Vec<&str> = value.split(',').map(str::trim).collect();
    if items
        .iter()
        .all(|item| matches!(*item, "compact" | "delete"))
    {
        Ok(())
    } else {
        Err("String must be one of: compact, delete".to_owned())
    }
}

/// Every topic config this broker knows.
pub const TOPIC_CONFIGS: &[ConfigDef] = &[
    ConfigDef {
        name: "cleanup.policy",
        broker_key: "log.cleanup.policy",
        kind: Kind::List,
        doc: "What happens to old segments: delete (by retention.ms and retention.bytes), \
              compact (keep the latest record per key), or both: compact,delete.",
        validate: cleanup_policy,
    },
    ConfigDef {
        name: "min.cleanable.dirty.ratio",
        broker_key: "log.cleaner.min.cleanable.ratio",
        kind: Kind::Double,
        doc: "Share of the log that must be uncompacted before the cleaner compacts it.",
        validate: |value| match value.trim().parse::<f64>() {
            Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(()),
            Ok(_) => Err("Value must be between 0 and 1".to_owned()),
            Err(_) => Err("not a number".to_owned()),
        },
    },
    ConfigDef {
        name: "min.compaction.lag.ms",
        broker_key: "log.cleaner.min.compaction.lag.ms",
        kind: Kind::Long,
        doc: "Minimum time a record stays uncompacted.",
        validate: |v| long_at_least(0)(v),
    },
    ConfigDef {
        name: "max.compaction.lag.ms",
        broker_key: "log.cleaner.max.compaction.lag.ms",
        kind: Kind::Long,
        doc: "Maximum time a record stays uncompacted, whatever the dirty ratio.",
        validate: |v| long_at_least(1)(v),
    },
    ConfigDef {
        name: "delete.retention.ms",
        broker_key: "log.cleaner.delete.retention.ms",
        kind: Kind::Long,
        doc: "How long a tombstone is kept after compaction first keeps it.",
        validate: |v| long_at_least(0)(v),
    },
    ConfigDef {
        name: "retention.ms",
        broker_key: "log.retention.ms",
        kind: Kind::Long,
        doc: "How long segments are kept before deletion; -1 keeps them forever.",
        validate: |v| long_at_least(-1)(v),
    },
    ConfigDef {
        name: "retention.bytes",
        broker_key: "log.retention.bytes",
        kind: Kind::Long,
        doc: "Largest size a partition may grow to before old segments are deleted; -1 = no limit.",
        validate: |v| long_at_least(-1)(v),
    },
    ConfigDef {
        name: "segment.bytes",
        broker_key: "log.segment.bytes",
        kind: Kind::Int,
        doc: "Size at which a segment is closed and a new one started.",
        validate: |v| int_at_least(14)(v),
    },
    ConfigDef {
        name: "segment.ms",
        broker_key: "log.roll.ms",
        kind: Kind::Long,
        doc: "Age at which a segment is closed even if not full.",
        validate: |v| long_at_least(1)(v),
    },
    ConfigDef {
        name: "index.interval.bytes",
        broker_key: "log.index.interval.bytes",
        kind: Kind::Int,
        doc: "Bytes between offset-index entries.",
        validate: |v| int_at_least(0)(v),
    },
    ConfigDef {
        name: "max.message.bytes",
        broker_key: "message.max.bytes",
        kind: Kind::Int,
        doc: "Largest record batch accepted.",
        validate: |v| int_at_least(0)(v),
    },
    ConfigDef {
        name: "message.timestamp.type",
        broker_key: "log.message.timestamp.type",
        kind: Kind::String,
        doc: "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches on append.",
        validate: |value| match value {
            "CreateTime" | "LogAppendTime" => Ok(()),
            _ => Err("must be CreateTime or LogAppendTime".to_owned()),
        },
    },
    ConfigDef {
        name: "min.insync.replicas",
        broker_key: "min.insync.replicas",
        kind: Kind::Int,
        doc: "Replicas that must acknowledge an acks=all write.",
        validate: |v| int_at_least(1)(v),
    },
];

/// Finds a topic config by name.
pub fn find(name: &str) -> Option<&'static ConfigDef> {
    TOPIC_CONFIGS.iter().find(|def| def.name == name)
}

/// Checks one override; the error is the message for INVALID_CONFIG.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let def = find(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    (def.validate)(value)
        .map_err(|reason| format!("Invalid value {value} for configuration {name}: {reason}"))
}

/// Checks a whole set of overrides.
pub fn validate_all(configs: &BTreeMap<String, String>) -> Result<(), String> {
    configs
        .iter()
        .try_for_each(|(name, value)| validate(name, value))
}

/// The effective value of `def` for a topic with `overrides`.
pub fn effective(
    def: &ConfigDef,
    settings: &BrokerSettings,
    overrides: &BTreeMap<String, String>,
) -> (String, Source) {
    if let Some(value) = overrides.get(def.name) {
        return (value.clone(), Source::Topic);
    }
    let (value, explicit) = broker_value(settings, def.broker_key);
    (
        value,
        if explicit {
            Source::StaticBroker
        } else {
            Source::Default
        },
    )
}

/// The broker setting `key`'s value and whether the config file set it.
pub fn broker_value(settings: &BrokerSettings, key: &str) -> (String, bool) {
    settings
        .describe()
        .into_iter()
        .find(|(name, _, _)| *name == key)
        .map(|(_, value, explicit)| (value, explicit))
        .expect("every topic config's broker_key is a described broker setting")
}

/// The log settings of a topic with `overrides` (validated beforehand).
pub fn log_config(settings: &BrokerSettings, overrides: &BTreeMap<String, String>) -> LogConfig {
    let value = |name: &str| {
        let def = find(name).expect("known topic config");
        effective(def, settings, overrides).0
    };
    let number = |name: &str| value(name).parse::<i64>().unwrap_or(-1);
    // Kafka deletes by time or size only under the delete policy (a compacted topic keeps
    // every key's latest record however old it is).
    let deletes = value("cleanup.policy")
        .split(',')
        .any(|policy| policy.trim() == "delete");
    let compact = value("cleanup.policy")
        .split(',')
        .any(|policy| policy.trim() == "compact");
    let (retention_ms, retention_bytes) = if deletes {
        (number("retention.ms"), number("retention.bytes"))
    } else {
        (-1, -1)
    };
    LogConfig {
        segment_bytes: number("segment.bytes").max(14) as u64,
        segment_ms: number("segment.ms").max(1) as u64,
        index_interval_bytes: number("index.interval.bytes").max(0) as u64,
        retention_ms,
        retention_bytes,
        max_message_bytes: number("max.message.bytes").clamp(0, i64::from(i32::MAX)) as u32,
        timestamp_type: if value("message.timestamp.type") == "LogAppendTime" {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        },
        compact,
        min_cleanable_dirty_ratio: value("min.cleanable.dirty.ratio")
            .trim()
            .parse::<f64>()
            .unwrap_or(0.5)
            .clamp(0.0, 1.0),
        min_compaction_lag_ms: number("min.compaction.lag.ms").max(0),
        max_compaction_lag_ms: number("max.compaction.lag.ms").max(1),
        delete_retention_ms: number("delete.retention.ms").max(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_config_falls_back_to_a_described_broker_setting() {
        let settings = BrokerSettings::default();
        for def in TOPIC_CONFIGS {
            let (value, source) = effective(def, &settings, &BTreeMap::new());
            assert_eq!(source, Source::Default, "{}", def.name);
            assert!(
                validate(def.name, &value).is_ok(),
                "default of {} is invalid: {value}",
                def.name
            );
        }
    }

    #[test]
    fn overrides_win_and_report_the_topic_as_source() {
        let settings = BrokerSettings::default();
        let overrides = BTreeMap::from([("retention.ms".to_owned(), "60000".to_owned())]);
        let def = find("retention.ms").unwrap();
        assert_eq!(
            effective(def, &settings, &overrides),
            ("60000".to_owned(), Source::Topic)
        );
        let config = log_config(&settings, &overrides);
        assert_eq!(config.retention_ms, 60_000);
        assert_eq!(config.segment_bytes, 1 << 30);
    }

    #[test]
    fn a_compacted_topic_is_not_deleted_by_time_or_size() {
        let settings = BrokerSettings::default();
        let compacted = BTreeMap::from([
            ("cleanup.policy".to_owned(), "compact".to_owned()),
            ("retention.ms".to_owned(), "1000".to_owned()),
            ("retention.bytes".to_owned(), "1000".to_owned()),
        ]);
        let config = log_config(&settings, &compacted);
        assert_eq!((config.retention_ms, config.retention_bytes), (-1, -1));
        let both = BTreeMap::from([
            ("cleanup.policy".to_owned(), "compact,delete".to_owned()),
            ("retention.ms".to_owned(), "1000".to_owned()),
        ]);
        assert_eq!(log_config(&settings, &both).retention_ms, 1000);
    }

    #[test]
    fn bad_overrides_get_kafkas_messages() {
        assert_eq!(
            validate("retention.msx", "1").unwrap_err(),
            "Unknown topic config name: retention.msx"
        );
        assert_eq!(
            validate("retention.ms", "soon").unwrap_err(),
            "Invalid value soon for configuration retention.ms: not a whole number"
        );
        assert!(
            validate("segment.bytes", "10")
                .unwrap_err()
                .contains("at least 14")
        );
        assert!(validate("message.timestamp.type", "WallClock").is_err());
    }

    #[test]
    fn cleanup_policy_is_a_list_of_compact_and_delete_in_any_order() {
        for good in [
            "delete",
            "compact",
            "compact,delete",
            "delete,compact",
            "compact, delete",
        ] {
            assert_eq!(validate("cleanup.policy", good), Ok(()), "{good}");
        }
        for bad in ["", "compacted", "compact,", "delete;compact", "Delete"] {
            let error = validate("cleanup.policy", bad).unwrap_err();
            assert!(
                error.contains("must be one of: compact, delete"),
                "{bad}: {error}"
            );
        }
        let settings = BrokerSettings::default();
        let config = |policy: &str| {
            log_config(
                &settings,
                &BTreeMap::from([("cleanup.policy".to_owned(), policy.to_owned())]),
            )
        };
        assert!(!config("delete").compact);
        assert!(config("compact").compact);
        assert!(config("delete,compact").compact);
    }

    #[test]
    fn every_compaction_config_refuses_bad_values() {
        let bad: &[(&str, &[&str])] = &[
            ("min.cleanable.dirty.ratio", &["-0.1", "1.5", "half", ""]),
            ("min.compaction.lag.ms", &["-1", "soon", "1.5"]),
            ("max.compaction.lag.ms", &["0", "-1", "later"]),
            ("delete.retention.ms", &["-1", "a day"]),
        ];
        for (name, values) in bad {
            for value in *values {
                let error = validate(name, value).unwrap_err();
                assert!(
                    error.starts_with(&format!("Invalid value {value} for configuration {name}")),
                    "{error}"
                );
            }
        }
        for (name, value) in [
            ("min.cleanable.dirty.ratio", "0"),
            ("min.cleanable.dirty.ratio", "1"),
            ("min.cleanable.dirty.ratio", "0.25"),
            ("min.compaction.lag.ms", "0"),
            ("max.compaction.lag.ms", "1"),
            ("delete.retention.ms", "0"),
        ] {
            assert_eq!(validate(name, value), Ok(()), "{name}={value}");
        }
    }

    #[test]
    fn compaction_configs_reach_the_log_config_with_kafkas_defaults() {
        let settings = BrokerSettings::default();
        let defaults = log_config(&settings, &BTreeMap::new());
        assert_eq!(defaults.min_cleanable_dirty_ratio, 0.5);
        assert_eq!(defaults.min_compaction_lag_ms, 0);
        assert_eq!(defaults.max_compaction_lag_ms, i64::MAX);
        assert_eq!(defaults.delete_retention_ms, 86_400_000);
        let overrides = BTreeMap::from([
            ("min.cleanable.dirty.ratio".to_owned(), "0.1".to_owned()),
            ("min.compaction.lag.ms".to_owned(), "1000".to_owned()),
            ("max.compaction.lag.ms".to_owned(), "60000".to_owned()),
            ("delete.retention.ms".to_owned(), "5".to_owned()),
        ]);
        let config = log_config(&settings, &overrides);
        assert_eq!(config.min_cleanable_dirty_ratio, 0.1);
        assert_eq!(config.min_compaction_lag_ms, 1000);
        assert_eq!(config.max_compaction_lag_ms, 60_000);
        assert_eq!(config.delete_retention_ms, 5);
    }
}
