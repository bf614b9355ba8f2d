//! Feature levels on the wire (KIP-584): ApiVersions v3+ reports the supported and finalized
//! levels (`cluster/features.rs`), UpdateFeatures changes them.
//!
//! UpdateFeatures checks every update first and applies them together or not at all. Each
//! feature's result carries its own error (INVALID_UPDATE_VERSION for an unknown feature, a
//! level outside the supported range, or a downgrade without a downgrade type); from v2 a
//! refusal is also the top-level error, as Kafka answers. `validate_only` (v1+) checks
//! without applying.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::{FinalizedFeatureKey, SupportedFeatureKey};
use kafka_protocol::messages::update_features_response::UpdatableFeatureResult;
use kafka_protocol::messages::{
    ApiVersionsResponse, UpdateFeaturesRequest, UpdateFeaturesResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::errors::propose_error;
use super::{Broker, HandleError};
use crate::cluster::features::{self, FEATURES, UpgradeType};
use crate::cluster::{ClusterState, Command};

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// `response` with the supported features, and the finalized ones of `state`.
pub fn with_features(response: ApiVersionsResponse, state: &ClusterState) -> ApiVersionsResponse {
    let supported = FEATURES
        .iter()
        .map(|f| {
            SupportedFeatureKey::default()
                .with_name(text(f.name))
                .with_min_version(f.min)
                .with_max_version(f.max)
        })
        .collect();
    let finalized = features::finalized(state)
        .into_iter()
        // Kafka leaves out a feature finalized at level 0 (it is off).
        .filter(|(_, level)| *level > 0)
        .map(|(name, level)| {
            FinalizedFeatureKey::default()
                .with_name(text(name))
                .with_min_version_level(level)
                .with_max_version_level(level)
        })
        .collect();
    response
        .with_supported_features(supported)
        .with_finalized_features_epoch(state.features_epoch)
        .with_finalized_features(finalized)
}

pub async fn update_features(
    broker: &Arc<Broker>,
    request: UpdateFeaturesRequest,
    version: i16,
) -> Result<UpdateFeaturesResponse, HandleError> {
    let state = broker.topics.snapshot();
    let mut levels = BTreeMap::new();
    let mut results = Vec::with_capacity(request.feature_updates.len());
    let mut refused = None;
    for update in &request.feature_updates {
        let name = update.feature.as_str();
        let upgrade = if version == 0 {
            if update.allow_downgrade {
                Some(UpgradeType::SafeDowngrade)
            } else {
                Some(UpgradeType::Upgrade)
            }
        } else {
            UpgradeType::from_code(update.upgrade_type)
        };
        let checked = match upgrade {
            None => Err((
                ResponseError::InvalidRequest,
                format!("Unknown upgrade type {}.", update.upgrade_type),
            )),
            Some(upgrade) => {
                features::check_update(&state, name, update.max_version_level, upgrade)
                    .map_err(|error| (ResponseError::InvalidUpdateVersion, error.to_string()))
            }
        };
        let result = UpdatableFeatureResult::default().with_feature(update.feature.clone());
        results.push(match checked {
            Ok(()) => {
                levels.insert(name.to_owned(), update.max_version_level);
                result
            }
            Err((error, message)) => {
                refused.get_or_insert((error, message.clone()));
                result
                    .with_error_code(error.code())
                    .with_error_message(Some(text(&message)))
            }
        });
    }
    if let Some((error, message)) = refused {
        // Nothing is applied when any update is refused.
        for result in results.iter_mut().filter(|r| r.error_code == 0) {
            result.error_code = error.code();
            result.error_message = Some(text("Another update of the request was refused."));
        }
        let response = UpdateFeaturesResponse::default().with_results(results);
        return Ok(if version >= 2 {
            response
                .with_error_code(error.code())
                .with_error_message(Some(text(&message)))
        } else {
            response
        });
    }
    if !request.validate_only && !levels.is_empty() {
        let command = Command::SetFeatureLevels { levels };
        let outcome = broker.topics.metadata().propose(command).await;
        let failure = match outcome {
            Ok(applied) => applied
                .outcome
                .err()
                .map(|error| (ResponseError::InvalidUpdateVersion, error.to_string())),
            Err(error) => Some((propose_error(&error), error.to_string())),
        };
        if let Some((error, message)) = failure {
            for result in &mut results {
                result.error_code = error.code();
                result.error_message = Some(text(&message));
            }
            return Ok(UpdateFeaturesResponse::default()
                .with_error_code(error.code())
                .with_error_message(Some(text(&message)))
                .with_results(results));
        }
    }
    Ok(UpdateFeaturesResponse::default().with_results(results))
}
