//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for TOPIC and
//! BROKER resources. Topic configs keep Kafka's names; broker settings are
//! static (from `--config`) and reported read-only.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{HandleError, blocking};
use crate::api::errors::{message, topic_error};
use crate::broker::Broker;
use crate::cluster::topic_config::{self, Source};
use crate::config::BrokerSettings;
use crate::protocol::ResponseError;
use crate::topics::{TopicError, Topics};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;

fn text(value: impl Into<String>) -> StrBytes {
    StrBytes::from_string(value.into())
}

pub async fn describe_configs(
    broker: &std::sync::Arc<Broker>,
    request: DescribeConfigsRequest,
    version: i16,
) -> Result<DescribeConfigsResponse, HandleError> {
    let node_id = broker.node_id().to_string();
    let results = blocking(broker, move |topics| {
        request
            .resources
            .into_iter()
            .map(|resource| {
                let keys: Option<Vec<String>> = resource
                    .configuration_keys
                    .map(|keys| keys.into_iter().map(|k| k.to_string()).collect());
                let wanted = |name: &str| {
                    keys.as_ref()
                        .is_none_or(|keys| keys.iter().any(|k| k == name))
                };
                let mut result = DescribeConfigsResult::default()
                    .with_resource_type(resource.resource_type)
                    .with_resource_name(resource.resource_name.clone());
                let name = resource.resource_name.as_str();
                let configs = match resource.resource_type {
                    TOPIC => {
                        describe_topic(topics, name, request.include_synonyms, version, &wanted)
                    }
                    BROKER if name.is_empty() || name == node_id => Ok(describe_broker(
                        topics.settings(),
                        request.include_synonyms,
                        version,
                        &wanted,
                    )),
                    BROKER => Err((
                        ResponseError::InvalidRequest,
                        format!("Unexpected broker id {name}"),
                    )),
                    other => Err((
                        ResponseError::InvalidRequest,
                        format!("Unsupported resource type {other}"),
                    )),
                };
                match configs {
                    Ok(configs) => result.configs = configs,
                    Err((code, text_message)) => {
                        result.error_code = code.code();
                        result.error_message = Some(text(text_message));
                    }
                }
                result
            })
            .collect()
    })
    .await?;
    Ok(DescribeConfigsResponse::default().with_results(results))
}

type Described = Result<Vec<DescribeConfigsResourceResult>, (ResponseError, String)>;

fn describe_topic(
    topics: &Topics,
    name: &str,
    synonyms: bool,
    version: i16,
    wanted: &dyn Fn(&str) -> bool,
) -> Described {
    let snapshot = topics.snapshot();
    let Some(record) = snapshot.topics.get(name) else {
        let error = TopicError::Unknown(name.to_owned());
        return Err((topic_error(&error), error.to_string()));
    };
    let settings = topics.settings();
    Ok(topic_config::TOPIC_CONFIGS
        .iter()
        .filter(|def| wanted(def.name))
        .map(|def| {
            let (value, source) = topic_config::effective(def, settings, &record.configs);
            let mut entry = DescribeConfigsResourceResult::default()
                .with_name(StrBytes::from_static_str(def.name))
                .with_value(Some(text(value)))
                .with_read_only(false)
                .with_config_source(source as i8);
            if version >= 3 {
                entry.config_type = def.kind as i8;
                entry.documentation = Some(StrBytes::from_static_str(def.doc));
            }
            if synonyms {
                let mut list = Vec::new();
                if let Some(value) = record.configs.get(def.name) {
                    list.push(synonym(def.name, value.clone(), Source::Topic));
                }
                let (broker_value, explicit) = topic_config::broker_value(settings, def.broker_key);
                if explicit {
                    list.push(synonym(def.broker_key, broker_value, Source::StaticBroker));
                }
                let default =
                    topic_config::broker_value(&BrokerSettings::default(), def.broker_key).0;
                list.push(synonym(def.broker_key, default, Source::Default));
                entry.synonyms = list;
            }
            entry
        })
        .collect())
}

fn describe_broker(
    settings: &BrokerSettings,
    synonyms: bool,
    version: i16,
    wanted: &dyn Fn(&str) -> bool,
) -> Vec<DescribeConfigsResourceResult> {
    let defaults = BrokerSettings::default().describe();
    settings
        .describe()
        .into_iter()
        .filter(|(name, _, _)| wanted(name))
        .map(|(name, value, explicit)| {
            let source = if explicit {
                Source::StaticBroker
            } else {
                Source::Default
            };
            let mut entry = DescribeConfigsResourceResult::default()
                .with_name(StrBytes::from_static_str(name))
                .with_value(Some(text(value.clone())))
                .with_read_only(true)
                .with_config_source(source as i8);
            if version >= 3 {
                entry.config_type = 2;
            }
            if synonyms {
                let mut list = Vec::new();
                if explicit {
                    list.push(synonym(name, value, Source::StaticBroker));
                }
                if let Some((_, default, _)) = defaults.iter().find(|(n, _, _)| *n == name) {
                    list.push(synonym(name, default.clone(), Source::Default));
                }
                entry.synonyms = list;
            }
            entry
        })
        .collect()
}

fn synonym(name: &str, value: String, source: Source) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default()
        .with_name(text(name))
        .with_value(Some(text(value)))
        .with_source(source as i8)
}

/// A change to one topic's config overrides.
type ConfigChange = Box<dyn FnOnce(&mut BTreeMap<String, String>) -> Result<(), String>>;

/// One resource's alteration outcome: (type, name, error, message).
type Altered = (i8, StrBytes, i16, Option<StrBytes>);

/// Applies `change` to the overrides of each TOPIC resource.
fn alter_each(
    topics: &Topics,
    resources: Vec<(i8, StrBytes, Result<ConfigChange, String>)>,
    validate_only: bool,
) -> Vec<Altered> {
    resources
        .into_iter()
        .map(|(resource_type, name, change)| {
            let outcome = match (resource_type, change) {
                (TOPIC, Ok(change)) => {
                    let current = topics
                        .snapshot()
                        .topics
                        .get(name.as_str())
                        .map(|t| t.configs.clone());
                    match current {
                        None => Err(TopicError::Unknown(name.to_string())),
                        Some(mut configs) => change(&mut configs)
                            .map_err(TopicError::InvalidConfig)
                            .and_then(|()| {
                                topics.metadata().set_topic_configs(
                                    name.as_str(),
                                    configs,
                                    validate_only,
                                )
                            }),
                    }
                    .map_err(|error| (topic_error(&error).code(), message(&error)))
                }
                (TOPIC, Err(reason)) => {
                    Err((ResponseError::InvalidConfig.code(), Some(text(reason))))
                }
                (BROKER, _) => Err((
                    ResponseError::InvalidRequest.code(),
                    Some(text(
                        "Broker settings are static: change the --config file and restart",
                    )),
                )),
                (other, _) => Err((
                    ResponseError::InvalidRequest.code(),
                    Some(text(format!("Unsupported resource type {other}"))),
                )),
            };
            match outcome {
                Ok(()) => (resource_type, name, 0, None),
                Err((code, text_message)) => (resource_type, name, code, text_message),
            }
        })
        .collect()
}

pub async fn alter_configs(
    broker: &std::sync::Arc<Broker>,
    request: AlterConfigsRequest,
) -> Result<AlterConfigsResponse, HandleError> {
    use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
    let validate_only = request.validate_only;
    let results = blocking(broker, move |topics| {
        let resources = request
            .resources
            .into_iter()
            .map(|resource| {
                // AlterConfigs replaces the whole set of overrides.
                let mut replacement = BTreeMap::new();
                let mut change: Result<_, String> = Ok(());
                for config in resource.configs {
                    match config.value {
                        Some(value) => {
                            replacement.insert(config.name.to_string(), value.to_string());
                        }
                        None => {
                            change = Err(format!(
                                "Null value not supported for {}",
                                config.name.as_str()
                            ))
                        }
                    }
                }
                let change = change.map(|()| {
                    Box::new(move |configs: &mut BTreeMap<String, String>| {
                        *configs = replacement;
                        Ok(())
                    }) as ConfigChange
                });
                (resource.resource_type, resource.resource_name, change)
            })
            .collect();
        alter_each(topics, resources, validate_only)
    })
    .await?;
    Ok(AlterConfigsResponse::default().with_responses(
        results
            .into_iter()
            .map(|(resource_type, name, code, text_message)| {
                AlterConfigsResourceResponse::default()
                    .with_resource_type(resource_type)
                    .with_resource_name(name)
                    .with_error_code(code)
                    .with_error_message(text_message)
            })
            .collect(),
    ))
}

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

pub async fn incremental_alter_configs(
    broker: &std::sync::Arc<Broker>,
    request: IncrementalAlterConfigsRequest,
) -> Result<IncrementalAlterConfigsResponse, HandleError> {
    use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
    let validate_only = request.validate_only;
    let results = blocking(broker, move |topics| {
        let settings = topics.settings().clone();
        let resources = request
            .resources
            .into_iter()
            .map(|resource| {
                let ops: Vec<(String, i8, Option<String>)> = resource
                    .configs
                    .into_iter()
                    .map(|c| {
                        (
                            c.name.to_string(),
                            c.config_operation,
                            c.value.map(|v| v.to_string()),
                        )
                    })
                    .collect();
                let settings = settings.clone();
                let change = Box::new(move |configs: &mut BTreeMap<String, String>| {
                    for (name, operation, value) in ops {
                        apply_operation(&settings, configs, &name, operation, value)?;
                    }
                    Ok(())
                }) as ConfigChange;
                (resource.resource_type, resource.resource_name, Ok(change))
            })
            .collect();
        alter_each(topics, resources, validate_only)
    })
    .await?;
    Ok(IncrementalAlterConfigsResponse::default().with_responses(
        results
            .into_iter()
            .map(|(resource_type, name, code, text_message)| {
                AlterConfigsResourceResponse::default()
                    .with_resource_type(resource_type)
                    .with_resource_name(name)
                    .with_error_code(code)
                    .with_error_message(text_message)
            })
            .collect(),
    ))
}

fn apply_operation(
    settings: &BrokerSettings,
    configs: &mut BTreeMap<String, String>,
    name: &str,
    operation: i8,
    value: Option<String>,
) -> Result<(), String> {
    let def =
        topic_config::find(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    match operation {
        SET => {
            let value = value.ok_or_else(|| format!("Null value not supported for {name}"))?;
            configs.insert(name.to_owned(), value);
        }
        DELETE => {
            configs.remove(name);
        }
        APPEND | SUBTRACT => {
            if def.kind != topic_config::Kind::List {
                return Err(format!(
                    "Config value append/subtract is not allowed for config key {name}"
                ));
            }
            let current = topic_config::effective(def, settings, configs).0;
            let mut items: Vec<String> = current
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            for item in value
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                if operation == APPEND {
                    if !items.iter().any(|existing| existing == item) {
                        items.push(item.to_owned());
                    }
                } else {
                    items.retain(|existing| existing != item);
                }
            }
            configs.insert(name.to_owned(), items.join(","));
        }
        other => return Err(format!("Unknown config operation {other}")),
    }
    Ok(())
}
