//! Feature levels (KIP-584): the versioned features this broker supports and the level each
//! is finalized at, reported in ApiVersions and changed with UpdateFeatures. Clients read
//! them to choose a protocol: the Java client uses Transactions V2 (KIP-890) only while
//! `transaction.version` is finalized at 2 or more.
//!
//! A feature no UpdateFeatures has set is finalized at its default level, so a new cluster
//! starts with every feature on. Levels are kept in the cluster metadata
//! ([`ClusterState::features`]), changed by one command, so they survive restarts.

use std::collections::BTreeMap;

use super::ClusterState;

/// One versioned feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    pub name: &'static str,
    /// The levels this broker supports, `min..=max`.
    pub min: i16,
    pub max: i16,
    /// The level it is finalized at until UpdateFeatures sets one.
    pub default: i16,
}

/// Every feature this broker knows.
pub const FEATURES: &[Feature] = &[Feature {
    name: "transaction.version",
    min: 0,
    max: 2,
    default: 2,
}];

pub fn feature(name: &str) -> Option<&'static Feature> {
    FEATURES.iter().find(|f| f.name == name)
}

/// UpdateFeatures' `UpgradeType` (v1+; v0's `AllowDowngrade` maps to safe downgrade).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeType {
    Upgrade,
    SafeDowngrade,
    UnsafeDowngrade,
}

impl UpgradeType {
    /// From the request's code; `None` for an unknown one.
    pub fn from_code(code: i8) -> Option<Self> {
        match code {
            1 => Some(UpgradeType::Upgrade),
            2 => Some(UpgradeType::SafeDowngrade),
            3 => Some(UpgradeType::UnsafeDowngrade),
            _ => None,
        }
    }
}

/// Why one feature's update is refused (Kafka's INVALID_UPDATE_VERSION, with its message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid update version {level} for feature {feature}. {reason}")]
pub struct InvalidUpdate {
    pub feature: String,
    pub level: i16,
    pub reason: String,
}

/// The level each known feature is finalized at, in name order.
pub fn finalized(state: &ClusterState) -> Vec<(&'static str, i16)> {
    FEATURES
        .iter()
        .map(|f| {
            (
                f.name,
                state.features.get(f.name).copied().unwrap_or(f.default),
            )
        })
        .collect()
}

/// Checks one update against the supported levels and the level finalized now.
pub fn check_update(
    state: &ClusterState,
    name: &str,
    level: i16,
    upgrade: UpgradeType,
) -> Result<(), InvalidUpdate> {
    let refuse = |reason: String| InvalidUpdate {
        feature: name.to_owned(),
        level,
        reason,
    };
    let Some(feature) = feature(name) else {
        return Err(refuse(
            "The controller does not support the given feature.".into(),
        ));
    };
    if level < 0 {
        return Err(refuse("A feature version cannot be less than 0.".into()));
    }
    if level < feature.min || level > feature.max {
        return Err(refuse(format!(
            "The controller only supports versions {} to {}.",
            feature.min, feature.max
        )));
    }
    let current = state.features.get(name).copied().unwrap_or(feature.default);
    if level < current && upgrade == UpgradeType::Upgrade {
        return Err(refuse(
            "Can't downgrade the version of this feature without setting the upgrade type to either safe or unsafe downgrade.".into(),
        ));
    }
    Ok(())
}

/// Applies levels already checked: what the `SetFeatureLevels` command does.
pub fn set_levels(state: &mut ClusterState, levels: &BTreeMap<String, i16>) {
    for (name, level) in levels {
        state.features.insert(name.clone(), *level);
    }
    state.features_epoch += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_feature_is_finalized_at_its_default_until_set() {
        let mut state = ClusterState::default();
        assert_eq!(finalized(&state), [("transaction.version", 2)]);
        set_levels(
            &mut state,
            &BTreeMap::from([("transaction.version".into(), 1)]),
        );
        assert_eq!(finalized(&state), [("transaction.version", 1)]);
        assert_eq!(state.features_epoch, 1);
    }

    #[test]
    fn updates_outside_the_supported_levels_or_unknown_features_are_refused() {
        let state = ClusterState::default();
        let upgrade = UpgradeType::Upgrade;
        let error = check_update(&state, "transaction.version", 3, upgrade).unwrap_err();
        assert!(
            error.to_string().contains("only supports versions 0 to 2"),
            "{error}"
        );
        let error = check_update(&state, "no.such.version", 1, upgrade).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("does not support the given feature"),
            "{error}"
        );
        assert!(check_update(&state, "transaction.version", -1, upgrade).is_err());
        assert_eq!(
            check_update(&state, "transaction.version", 2, upgrade),
            Ok(())
        );
    }

    #[test]
    fn the_command_sets_levels_in_range_and_refuses_the_rest_whole() {
        use crate::cluster::command::{Change, Command, CommandError, apply};
        let mut state = ClusterState::default();
        let set = |levels: &[(&str, i16)]| Command::SetFeatureLevels {
            levels: levels.iter().map(|(n, l)| ((*n).to_owned(), *l)).collect(),
        };
        let refused = apply(&mut state, &set(&[("transaction.version", 9)])).unwrap_err();
        assert!(
            matches!(refused, CommandError::InvalidFeatureLevel(_)),
            "{refused}"
        );
        assert_eq!((state.features_epoch, state.features.len()), (0, 0));
        let change = apply(&mut state, &set(&[("transaction.version", 0)])).unwrap();
        assert_eq!(change, Change::FeaturesUpdated { epoch: 1 });
        assert_eq!(finalized(&state), [("transaction.version", 0)]);
        // Stable on disk: the command's serialised name.
        let json = serde_json::to_value(set(&[("transaction.version", 2)])).unwrap();
        assert!(json.get("SetFeatureLevels").is_some(), "{json}");
    }

    #[test]
    fn a_downgrade_needs_a_downgrade_type() {
        let state = ClusterState::default();
        let error =
            check_update(&state, "transaction.version", 1, UpgradeType::Upgrade).unwrap_err();
        assert!(error.reason.contains("safe or unsafe downgrade"), "{error}");
        for downgrade in [UpgradeType::SafeDowngrade, UpgradeType::UnsafeDowngrade] {
            assert_eq!(
                check_update(&state, "transaction.version", 1, downgrade),
                Ok(())
            );
        }
        assert_eq!(UpgradeType::from_code(0), None);
        assert_eq!(UpgradeType::from_code(2), Some(UpgradeType::SafeDowngrade));
    }
}
