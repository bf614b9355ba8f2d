//! The `group.*` settings: classic groups' limits and the KIP-848 consumer protocol's.

use super::{BrokerSettings, SettingsError, int_in, invalid, key_value, list, one_of};

/// Reads the `group.*` keys `get` has into `settings`.
pub(super) fn apply<'a>(
    settings: &mut BrokerSettings,
    get: &dyn Fn(&str) -> Option<&'a str>,
) -> Result<(), SettingsError> {
    if let Some(v) = get("group.initial.rebalance.delay.ms") {
        settings.group_initial_rebalance_delay_ms = int_in(
            key_value("group.initial.rebalance.delay.ms", v),
            0,
            i32::MAX as i64,
        )? as u64;
    }
    if let Some(v) = get("group.min.session.timeout.ms") {
        settings.group_min_session_timeout_ms = int_in(
            key_value("group.min.session.timeout.ms", v),
            0,
            i32::MAX as i64,
        )? as u64;
    }
    if let Some(v) = get("group.max.session.timeout.ms") {
        settings.group_max_session_timeout_ms = int_in(
            key_value("group.max.session.timeout.ms", v),
            0,
            i32::MAX as i64,
        )? as u64;
    }
    if let Some(v) = get("group.max.size") {
        settings.group_max_size =
            int_in(key_value("group.max.size", v), 1, i32::MAX as i64)? as u32;
    }
    if let Some(v) = get("group.coordinator.rebalance.protocols") {
        settings.group_coordinator_rebalance_protocols = rebalance_protocols(v)?;
    }
    if let Some(v) = get("group.consumer.session.timeout.ms") {
        settings.group_consumer_session_timeout_ms = int_in(
            key_value("group.consumer.session.timeout.ms", v),
            1,
            i32::MAX as i64,
        )? as u64;
    }
    if let Some(v) = get("group.consumer.heartbeat.interval.ms") {
        settings.group_consumer_heartbeat_interval_ms = int_in(
            key_value("group.consumer.heartbeat.interval.ms", v),
            1,
            i32::MAX as i64,
        )? as u64;
    }
    if settings.group_consumer_heartbeat_interval_ms >= settings.group_consumer_session_timeout_ms {
        return Err(invalid(
            "group.consumer.heartbeat.interval.ms",
            &settings.group_consumer_heartbeat_interval_ms.to_string(),
            "must be less than group.consumer.session.timeout.ms",
        ));
    }
    if let Some(v) = get("group.consumer.max.size") {
        settings.group_consumer_max_size =
            int_in(key_value("group.consumer.max.size", v), 1, i32::MAX as i64)? as u32;
    }
    if let Some(v) = get("group.consumer.assignors") {
        settings.group_consumer_assignors = consumer_assignors(v)?;
    }
    if let Some(v) = get("group.consumer.migration.policy") {
        let lower = v.to_ascii_lowercase();
        settings.group_consumer_migration_policy = one_of(
            key_value("group.consumer.migration.policy", &lower),
            &["bidirectional", "upgrade", "downgrade", "disabled"],
        )?;
    }
    Ok(())
}

/// `group.coordinator.rebalance.protocols`: Kafka requires `classic`; `consumer` enables
/// KIP-848 groups. Share and streams groups are not built.
fn rebalance_protocols(value: &str) -> Result<Vec<String>, SettingsError> {
    let key = "group.coordinator.rebalance.protocols";
    let protocols = list(value);
    if let Some(unknown) = protocols
        .iter()
        .find(|p| !matches!(p.as_str(), "classic" | "consumer"))
    {
        return Err(invalid(
            key,
            value,
            format!("unknown or unsupported protocol `{unknown}` (classic, consumer)"),
        ));
    }
    if !protocols.iter().any(|p| p == "classic") {
        return Err(invalid(key, value, "must include classic"));
    }
    Ok(protocols)
}

/// `group.consumer.assignors`: at least one, each `uniform` or `range` (Kafka also takes the
/// assignors' class names, which have no meaning here).
fn consumer_assignors(value: &str) -> Result<Vec<String>, SettingsError> {
    let key = "group.consumer.assignors";
    let assignors = list(value);
    if assignors.is_empty() {
        return Err(invalid(key, value, "must name at least one assignor"));
    }
    if let Some(unknown) = assignors
        .iter()
        .find(|name| crate::group::consumer::assignors::assignor(name).is_none())
    {
        return Err(invalid(
            key,
            value,
            format!("unknown assignor `{unknown}` (uniform, range)"),
        ));
    }
    Ok(assignors)
}
