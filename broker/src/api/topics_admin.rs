//! CreateTopics, DeleteTopics and CreatePartitions: each topic becomes a metadata command;
//! its answer is sent once the command is committed and applied here (partitions open), so a
//! Produce right after a CreateTopics finds the partitions.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::{HandleError, blocking};
use crate::api::errors::{message, topic_error};
use crate::broker::Broker;
use crate::cluster::topic_config;
use crate::protocol::ResponseError;
use crate::topics::{NewTopic, TopicError};

pub async fn create_topics(
    broker: &std::sync::Arc<Broker>,
    request: CreateTopicsRequest,
    version: i16,
) -> Result<CreateTopicsResponse, HandleError> {
    let validate_only = request.validate_only;
    let results = blocking(broker, move |topics| {
        let mut seen = std::collections::HashSet::new();
        request
            .topics
            .into_iter()
            .map(|creatable| {
                let name = creatable.name.0.to_string();
                let mut result = CreatableTopicResult::default().with_name(creatable.name.clone());
                let outcome = if !seen.insert(name.clone()) {
                    Err(TopicError::InvalidConfig(format!("Topic {name} is listed twice in one request")))
                } else if !creatable.assignments.is_empty() {
                    Err(TopicError::InvalidReplicationFactor(
                        "Manual replica assignments are not supported; give num_partitions and replication_factor".into(),
                    ))
                } else {
                    let mut configs = BTreeMap::new();
                    let mut outcome = Ok(());
                    for config in creatable.configs {
                        match config.value {
                            Some(value) => {
                                configs.insert(config.name.to_string(), value.to_string());
                            }
                            None => {
                                outcome = Err(TopicError::InvalidConfig(format!(
                                    "Null value not supported for topic configs: {}",
                                    config.name.as_str()
                                )))
                            }
                        }
                    }
                    outcome.and_then(|()| {
                        topics.metadata().create_topic(
                            &NewTopic {
                                name: name.clone(),
                                partitions: creatable.num_partitions,
                                replication_factor: creatable.replication_factor,
                                configs,
                            },
                            topics.settings(),
                            validate_only,
                        )
                    })
                };
                match outcome {
                    Ok(record) => {
                        result.num_partitions = record.partitions;
                        result.replication_factor = record.replication_factor;
                        if !validate_only {
                            result.topic_id = record.id;
                        }
                        if version >= 5 {
                            result.configs = Some(described_configs(topics.settings(), &record.configs));
                        }
                    }
                    Err(error) => {
                        result.error_code = topic_error(&error).code();
                        result.error_message = message(&error);
                        result.num_partitions = -1;
                        result.replication_factor = -1;
                    }
                }
                result
            })
            .collect()
    })
    .await?;
    Ok(CreateTopicsResponse::default().with_topics(results))
}

/// The effective configs of a created topic (CreateTopics v5+).
fn described_configs(
    settings: &crate::config::BrokerSettings,
    overrides: &BTreeMap<String, String>,
) -> Vec<CreatableTopicConfigs> {
    topic_config::TOPIC_CONFIGS
        .iter()
        .map(|def| {
            let (value, source) = topic_config::effective(def, settings, overrides);
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_static_str(def.name))
                .with_value(Some(StrBytes::from_string(value)))
                .with_config_source(source as i8)
        })
        .collect()
}

pub async fn delete_topics(
    broker: &std::sync::Arc<Broker>,
    request: DeleteTopicsRequest,
) -> Result<DeleteTopicsResponse, HandleError> {
    let responses = blocking(broker, move |topics| {
        // v0-5 name topics in `topic_names`; v6 in `topics`, by name or id.
        let mut wanted: Vec<(Option<String>, uuid::Uuid)> = request
            .topic_names
            .into_iter()
            .map(|name| (Some(name.0.to_string()), uuid::Uuid::nil()))
            .collect();
        wanted.extend(
            request
                .topics
                .into_iter()
                .map(|state| (state.name.map(|name| name.0.to_string()), state.topic_id)),
        );
        wanted
            .into_iter()
            .map(|(name, id)| {
                let mut result = DeletableTopicResult::default().with_topic_id(id);
                let resolved = match name {
                    Some(name) => Ok(name),
                    None => topics
                        .snapshot()
                        .topic_by_id(id)
                        .map(|topic| topic.name.clone())
                        .ok_or(ResponseError::UnknownTopicId),
                };
                match resolved {
                    Err(error) => result.error_code = error.code(),
                    Ok(name) => {
                        result.name = Some(TopicName(StrBytes::from_string(name.clone())));
                        match topics.metadata().delete_topic(&name) {
                            Ok(record) => result.topic_id = record.id,
                            Err(error) => {
                                result.error_code = topic_error(&error).code();
                                result.error_message = message(&error);
                            }
                        }
                    }
                }
                result
            })
            .collect()
    })
    .await?;
    Ok(DeleteTopicsResponse::default().with_responses(responses))
}

pub async fn create_partitions(
    broker: &std::sync::Arc<Broker>,
    request: CreatePartitionsRequest,
) -> Result<CreatePartitionsResponse, HandleError> {
    let validate_only = request.validate_only;
    let results = blocking(broker, move |topics| {
        request
            .topics
            .into_iter()
            .map(|topic| {
                let mut result =
                    CreatePartitionsTopicResult::default().with_name(topic.name.clone());
                let outcome = if topic.assignments.is_some() {
                    Err(TopicError::InvalidPartitions(
                        "Manual replica assignments are not supported; give only the count".into(),
                    ))
                } else {
                    topics.metadata().create_partitions(
                        topic.name.0.as_str(),
                        topic.count,
                        validate_only,
                    )
                };
                if let Err(error) = outcome {
                    result.error_code = topic_error(&error).code();
                    result.error_message = message(&error);
                }
                result
            })
            .collect()
    })
    .await?;
    Ok(CreatePartitionsResponse::default().with_results(results))
}
