//! An in-memory Kafka cluster behind the [`Admin`] traits, for tests of the
//! reconcile flows: it keeps topics and records every call in order.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::FutureExt as _;
use futures::future::BoxFuture;
use kafka_protocol::error::ResponseError;

use super::{Admin, AdminError, ConfigChange, Connector, TopicState};

/// Topics and the log of calls, shared by every session.
#[derive(Debug, Default)]
pub struct MemoryState {
    pub topics: BTreeMap<String, TopicState>,
    pub calls: Vec<String>,
    /// When set, every call fails as if the cluster were unreachable.
    pub unreachable: bool,
}

/// A cluster that lives in memory; clone it to keep a handle for assertions.
#[derive(Debug, Default, Clone)]
pub struct MemoryCluster {
    state: Arc<Mutex<MemoryState>>,
}

impl MemoryCluster {
    pub fn state(&self) -> MutexGuard<'_, MemoryState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the calls recorded so far.
    pub fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut self.state().calls)
    }
}

impl Connector for MemoryCluster {
    fn connect<'a>(
        &'a self,
        bootstrap_servers: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn Admin>, AdminError>> {
        let result = if self.state().unreachable {
            Err(AdminError::Connect {
                servers: bootstrap_servers.to_owned(),
                source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
            })
        } else {
            Ok(Box::new(self.clone()) as Box<dyn Admin>)
        };
        futures::future::ready(result).boxed()
    }
}

fn unknown(api: &'static str) -> AdminError {
    AdminError::Kafka {
        api,
        error: ResponseError::UnknownTopicOrPartition,
        message: None,
    }
}

impl Admin for MemoryCluster {
    fn describe_topic<'a>(
        &'a mut self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<TopicState>, AdminError>> {
        let mut state = self.state();
        state.calls.push(format!("describe {name}"));
        futures::future::ready(Ok(state.topics.get(name).cloned())).boxed()
    }

    fn create_topic<'a>(
        &'a mut self,
        name: &'a str,
        partitions: i32,
        replication_factor: Option<i32>,
        config: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<Option<uuid::Uuid>, AdminError>> {
        let mut state = self.state();
        state.calls.push(format!(
            "create {name} partitions={partitions} rf={replication_factor:?} config={config:?}"
        ));
        let result = if state.topics.contains_key(name) {
            Err(AdminError::Kafka {
                api: "CreateTopics",
                error: ResponseError::TopicAlreadyExists,
                message: None,
            })
        } else {
            let id = uuid::Uuid::new_v4();
            state.topics.insert(
                name.to_owned(),
                TopicState {
                    id: Some(id),
                    partitions,
                    replication_factor: replication_factor.unwrap_or(1),
                    overrides: config.clone(),
                    effective: config.clone(),
                },
            );
            Ok(Some(id))
        };
        futures::future::ready(result).boxed()
    }

    fn alter_configs<'a>(
        &'a mut self,
        name: &'a str,
        changes: &'a [ConfigChange],
    ) -> BoxFuture<'a, Result<(), AdminError>> {
        let mut state = self.state();
        state.calls.push(format!("alter {name} {changes:?}"));
        let result = match state.topics.get_mut(name) {
            None => Err(unknown("IncrementalAlterConfigs")),
            Some(topic) => {
                for (key, value) in changes {
                    match value {
                        Some(v) => {
                            topic.overrides.insert(key.clone(), v.clone());
                            topic.effective.insert(key.clone(), v.clone());
                        }
                        None => {
                            topic.overrides.remove(key);
                            topic.effective.remove(key);
                        }
                    }
                }
                Ok(())
            }
        };
        futures::future::ready(result).boxed()
    }

    fn create_partitions<'a>(
        &'a mut self,
        name: &'a str,
        count: i32,
    ) -> BoxFuture<'a, Result<(), AdminError>> {
        let mut state = self.state();
        state.calls.push(format!("grow {name} to {count}"));
        let result = match state.topics.get_mut(name) {
            None => Err(unknown("CreatePartitions")),
            Some(topic) if count <= topic.partitions => Err(AdminError::Kafka {
                api: "CreatePartitions",
                error: ResponseError::InvalidPartitions,
                message: None,
            }),
            Some(topic) => {
                topic.partitions = count;
                Ok(())
            }
        };
        futures::future::ready(result).boxed()
    }

    fn delete_topic<'a>(&'a mut self, name: &'a str) -> BoxFuture<'a, Result<(), AdminError>> {
        let mut state = self.state();
        state.calls.push(format!("delete {name}"));
        state.topics.remove(name);
        futures::future::ready(Ok(())).boxed()
    }
}
