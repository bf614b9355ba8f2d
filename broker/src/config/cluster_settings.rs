//! The settings of a cluster of brokers, by Kafka's names: the metadata quorum's voters and
//! timeouts.

use std::collections::BTreeMap;

use super::{SettingsError, int_in, invalid, key_value};

/// How this broker joins a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// `controller.quorum.voters`: the voters a new cluster starts with, by node id, with
    /// their RPC (gRPC) addresses (`1@host:port,2@host:port`); empty: this broker alone.
    pub voters: BTreeMap<u64, String>,
    /// `controller.quorum.election.timeout.ms` (1000): how long followers wait for the leader
    /// before electing another.
    pub election_timeout_ms: u64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            voters: BTreeMap::new(),
            election_timeout_ms: 1000,
        }
    }
}

const VOTERS: &str = "controller.quorum.voters";
const ELECTION_TIMEOUT: &str = "controller.quorum.election.timeout.ms";

/// Reads the cluster keys `get` has into `settings`.
pub(super) fn apply<'a>(
    settings: &mut ClusterSettings,
    get: &dyn Fn(&str) -> Option<&'a str>,
) -> Result<(), SettingsError> {
    if let Some(v) = get(VOTERS) {
        settings.voters = parse_voters(v).map_err(|reason| invalid(VOTERS, v, reason))?;
    }
    if let Some(v) = get(ELECTION_TIMEOUT) {
        settings.election_timeout_ms =
            int_in(key_value(ELECTION_TIMEOUT, v), 10, i32::MAX as i64)? as u64;
    }
    Ok(())
}

/// Parses `id@host:port,...` (Kafka's `controller.quorum.voters`).
pub fn parse_voters(text: &str) -> Result<BTreeMap<u64, String>, String> {
    let mut voters = BTreeMap::new();
    for voter in text.split(',').map(str::trim).filter(|v| !v.is_empty()) {
        let (id, address) = voter
            .split_once('@')
            .ok_or_else(|| format!("{voter:?} is not id@host:port"))?;
        let id: u64 = id
            .parse()
            .map_err(|_| format!("{voter:?}: {id:?} is not a node id"))?;
        let (host, port) = address
            .rsplit_once(':')
            .ok_or_else(|| format!("{voter:?}: {address:?} has no port"))?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(format!("{voter:?}: {address:?} is not host:port"));
        }
        if voters.insert(id, address.to_owned()).is_some() {
            return Err(format!("node id {id} is listed twice"));
        }
    }
    Ok(voters)
}

/// The keys, for the list of known settings.
pub(super) fn keys() -> impl Iterator<Item = &'static str> {
    [VOTERS, ELECTION_TIMEOUT].into_iter()
}

/// Each key with its effective value, for DescribeConfigs.
pub(super) fn describe(settings: &ClusterSettings) -> Vec<(&'static str, String)> {
    vec![
        (
            VOTERS,
            settings
                .voters
                .iter()
                .map(|(id, address)| format!("{id}@{address}"))
                .collect::<Vec<_>>()
                .join(","),
        ),
        (ELECTION_TIMEOUT, settings.election_timeout_ms.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voters_are_read_as_kafka_writes_them_and_bad_lists_are_refused_with_the_reason() {
        let voters = parse_voters("1@a:9093, 2@b.example:9093,3@[::1]:9093").unwrap();
        assert_eq!(voters.len(), 3);
        assert_eq!(voters[&3], "[::1]:9093");
        for (bad, reason) in [
            ("1@a:9093,1@b:9093", "listed twice"),
            ("x@a:9093", "not a node id"),
            ("1-a:9093", "not id@host:port"),
            ("1@a", "has no port"),
            ("1@a:http", "not host:port"),
            ("1@:9093", "not host:port"),
        ] {
            let error = parse_voters(bad).unwrap_err();
            assert!(error.contains(reason), "{bad}: {error}");
        }
        assert!(parse_voters("").unwrap().is_empty());
    }
}
