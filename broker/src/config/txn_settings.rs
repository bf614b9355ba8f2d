//! The transaction settings (`transaction.*`, `transactional.id.*`, `producer.id.*`), with
//! Kafka's names, defaults and bounds.

use super::{BrokerSettings, SettingsError, int_in, key_value};

/// `(key, minimum, maximum)` of each integer setting, and where it goes.
type Field = (&'static str, i64, i64, fn(&mut BrokerSettings, i64));

const FIELDS: &[Field] = &[
    ("transaction.max.timeout.ms", 1, i32::MAX as i64, |s, v| {
        s.transaction_max_timeout_ms = v as i32
    }),
    (
        "transactional.id.expiration.ms",
        1,
        i32::MAX as i64,
        |s, v| s.transactional_id_expiration_ms = v,
    ),
    (
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        1,
        i32::MAX as i64,
        |s, v| s.transaction_abort_timed_out_interval_ms = v,
    ),
    (
        "transaction.remove.expired.transaction.cleanup.interval.ms",
        1,
        i32::MAX as i64,
        |s, v| s.transaction_remove_expired_interval_ms = v,
    ),
    (
        "transaction.state.log.num.partitions",
        1,
        i32::MAX as i64,
        |s, v| s.transaction_state_log_num_partitions = v as i32,
    ),
    (
        "transaction.state.log.segment.bytes",
        1,
        i32::MAX as i64,
        |s, v| s.transaction_state_log_segment_bytes = v as i32,
    ),
    (
        "transaction.state.log.replication.factor",
        1,
        i16::MAX as i64,
        |s, v| s.transaction_state_log_replication_factor = v as i16,
    ),
];

/// Reads the transaction keys `get` has into `settings`.
pub(super) fn apply<'a>(
    settings: &mut BrokerSettings,
    get: &dyn Fn(&str) -> Option<&'a str>,
) -> Result<(), SettingsError> {
    for (key, min, max, set) in FIELDS {
        if let Some(v) = get(key) {
            set(settings, int_in(key_value(key, v), *min, *max)?);
        }
    }
    Ok(())
}

/// The keys, for the list of known settings.
pub(super) fn keys() -> impl Iterator<Item = &'static str> {
    FIELDS.iter().map(|(key, ..)| *key)
}

/// Each key with its effective value, for DescribeConfigs.
pub(super) fn describe(settings: &BrokerSettings) -> Vec<(&'static str, String)> {
    vec![
        (
            "transaction.max.timeout.ms",
            settings.transaction_max_timeout_ms.to_string(),
        ),
        (
            "transactional.id.expiration.ms",
            settings.transactional_id_expiration_ms.to_string(),
        ),
        (
            "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            settings.transaction_abort_timed_out_interval_ms.to_string(),
        ),
        (
            "transaction.remove.expired.transaction.cleanup.interval.ms",
            settings.transaction_remove_expired_interval_ms.to_string(),
        ),
        (
            "transaction.state.log.num.partitions",
            settings.transaction_state_log_num_partitions.to_string(),
        ),
        (
            "transaction.state.log.segment.bytes",
            settings.transaction_state_log_segment_bytes.to_string(),
        ),
        (
            "transaction.state.log.replication.factor",
            settings
                .transaction_state_log_replication_factor
                .to_string(),
        ),
    ]
}
