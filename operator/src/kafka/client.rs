//! [`Admin`] over a real Kafka connection.

use std::collections::BTreeMap;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeConfigsRequest, IncrementalAlterConfigsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::wire::{Connection, REQUEST_TIMEOUT, kafka_error};
use super::{Admin, AdminError, ConfigChange, Connector, TopicState};

/// `ConfigResource.Type.TOPIC`.
const RESOURCE_TOPIC: i8 = 2;
/// `DescribeConfigs` source of a config set on the topic itself.
const SOURCE_TOPIC: i8 = 1;
/// `DescribeConfigs` source of a config at its default.
const SOURCE_DEFAULT: i8 = 5;
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;

fn timeout_ms() -> i32 {
    i32::try_from(REQUEST_TIMEOUT.as_millis()).unwrap_or(i32::MAX)
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

/// Connects over TCP.
#[derive(Debug, Default, Clone, Copy)]
pub struct TcpConnector;

impl Connector for TcpConnector {
    fn connect<'a>(
        &'a self,
        bootstrap_servers: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn Admin>, AdminError>> {
        async move {
            let conn = Connection::open(bootstrap_servers).await?;
            Ok(Box::new(TcpAdmin { conn }) as Box<dyn Admin>)
        }
        .boxed()
    }
}

/// An admin session on one connection.
pub struct TcpAdmin {
    conn: Connection,
}

impl TcpAdmin {
    async fn describe(&mut self, name: &str) -> Result<Option<TopicState>, AdminError> {
        let request = MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(topic_name(name))),
            ]))
            .with_allow_auto_topic_creation(false);
        let metadata = self.conn.send(ApiKey::Metadata, request).await?;
        let Some(topic) = metadata
            .topics
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == name))
        else {
            return Ok(None);
        };
        match ResponseError::try_from_code(topic.error_code) {
            None => {}
            Some(ResponseError::UnknownTopicOrPartition) => return Ok(None),
            Some(_) => return Err(kafka_error("Metadata", topic.error_code, None)),
        }
        let replication_factor = topic
            .partitions
            .iter()
            .map(|p| p.replica_nodes.len())
            .max()
            .unwrap_or(0);
        let mut state = TopicState {
            id: (!topic.topic_id.is_nil()).then_some(topic.topic_id),
            partitions: i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX),
            replication_factor: i32::try_from(replication_factor).unwrap_or(i32::MAX),
            ..TopicState::default()
        };

        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(StrBytes::from_string(name.to_owned()))
                .with_configuration_keys(None),
        ]);
        let described = self.conn.send(ApiKey::DescribeConfigs, request).await?;
        for result in &described.results {
            if result.error_code != 0 {
                if ResponseError::try_from_code(result.error_code)
                    == Some(ResponseError::UnknownTopicOrPartition)
                {
                    return Ok(None);
                }
                return Err(kafka_error(
                    "DescribeConfigs",
                    result.error_code,
                    result.error_message.as_ref(),
                ));
            }
            for config in &result.configs {
                let (Some(value), false) = (config.value.as_ref(), config.is_sensitive) else {
                    continue;
                };
                let key = config.name.as_str().to_owned();
                if config.config_source == SOURCE_TOPIC {
                    state
                        .overrides
                        .insert(key.clone(), value.as_str().to_owned());
                }
                if config.config_source != SOURCE_DEFAULT {
                    state.effective.insert(key, value.as_str().to_owned());
                }
            }
        }
        Ok(Some(state))
    }

    async fn create(
        &mut self,
        name: &str,
        partitions: i32,
        replication_factor: Option<i32>,
        config: &BTreeMap<String, String>,
    ) -> Result<Option<uuid::Uuid>, AdminError> {
        let configs = config
            .iter()
            .map(|(k, v)| {
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_string(k.clone()))
                    .with_value(Some(StrBytes::from_string(v.clone())))
            })
            .collect();
        let replication_factor =
            replication_factor
                .map_or(Ok(-1), i16::try_from)
                .map_err(|_| AdminError::Codec {
                    api: "CreateTopics",
                    message: "replication factor out of range".to_owned(),
                })?;
        let request = CreateTopicsRequest::default()
            .with_topics(vec![
                CreatableTopic::default()
                    .with_name(topic_name(name))
                    .with_num_partitions(partitions)
                    .with_replication_factor(replication_factor)
                    .with_configs(configs),
            ])
            .with_timeout_ms(timeout_ms());
        let response = self.conn.send(ApiKey::CreateTopics, request).await?;
        let result = response
            .topics
            .iter()
            .find(|t| t.name.0.as_str() == name)
            .ok_or_else(|| AdminError::Codec {
                api: "CreateTopics",
                message: format!("no result for topic {name}"),
            })?;
        if result.error_code != 0 {
            return Err(kafka_error(
                "CreateTopics",
                result.error_code,
                result.error_message.as_ref(),
            ));
        }
        Ok((!result.topic_id.is_nil()).then_some(result.topic_id))
    }

    async fn alter(&mut self, name: &str, changes: &[ConfigChange]) -> Result<(), AdminError> {
        let configs = changes
            .iter()
            .map(|(key, value)| {
                AlterableConfig::default()
                    .with_name(StrBytes::from_string(key.clone()))
                    .with_config_operation(if value.is_some() { OP_SET } else { OP_DELETE })
                    .with_value(value.clone().map(StrBytes::from_string))
            })
            .collect();
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(StrBytes::from_string(name.to_owned()))
                .with_configs(configs),
        ]);
        let response = self
            .conn
            .send(ApiKey::IncrementalAlterConfigs, request)
            .await?;
        for r in &response.responses {
            if r.error_code != 0 {
                return Err(kafka_error(
                    "IncrementalAlterConfigs",
                    r.error_code,
                    r.error_message.as_ref(),
                ));
            }
        }
        Ok(())
    }

    async fn grow(&mut self, name: &str, count: i32) -> Result<(), AdminError> {
        let request = CreatePartitionsRequest::default()
            .with_topics(vec![
                CreatePartitionsTopic::default()
                    .with_name(topic_name(name))
                    .with_count(count)
                    // None: the broker spreads the new partitions itself.
                    .with_assignments(None),
            ])
            .with_timeout_ms(timeout_ms());
        let response = self.conn.send(ApiKey::CreatePartitions, request).await?;
        for r in &response.results {
            if r.error_code != 0 {
                return Err(kafka_error(
                    "CreatePartitions",
                    r.error_code,
                    r.error_message.as_ref(),
                ));
            }
        }
        Ok(())
    }

    async fn delete(&mut self, name: &str) -> Result<(), AdminError> {
        let request = DeleteTopicsRequest::default()
            // Versions below 6 read topic_names, 6 reads topics: fill both.
            .with_topic_names(vec![topic_name(name)])
            .with_topics(vec![
                DeleteTopicState::default().with_name(Some(topic_name(name))),
            ])
            .with_timeout_ms(timeout_ms());
        let response = self.conn.send(ApiKey::DeleteTopics, request).await?;
        for r in &response.responses {
            match ResponseError::try_from_code(r.error_code) {
                None | Some(ResponseError::UnknownTopicOrPartition) => {}
                Some(_) => {
                    return Err(kafka_error(
                        "DeleteTopics",
                        r.error_code,
                        r.error_message.as_ref(),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Admin for TcpAdmin {
    fn describe_topic<'a>(
        &'a mut self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<TopicState>, AdminError>> {
        self.describe(name).boxed()
    }

    fn create_topic<'a>(
        &'a mut self,
        name: &'a str,
        partitions: i32,
        replication_factor: Option<i32>,
        config: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<Option<uuid::Uuid>, AdminError>> {
        self.create(name, partitions, replication_factor, config)
            .boxed()
    }

    fn alter_configs<'a>(
        &'a mut self,
        name: &'a str,
        changes: &'a [ConfigChange],
    ) -> BoxFuture<'a, Result<(), AdminError>> {
        self.alter(name, changes).boxed()
    }

    fn create_partitions<'a>(
        &'a mut self,
        name: &'a str,
        count: i32,
    ) -> BoxFuture<'a, Result<(), AdminError>> {
        self.grow(name, count).boxed()
    }

    fn delete_topic<'a>(&'a mut self, name: &'a str) -> BoxFuture<'a, Result<(), AdminError>> {
        self.delete(name).boxed()
    }
}
