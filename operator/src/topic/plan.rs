//! Pure topic reconciliation: the desired topic from the resource, and the
//! plan that brings the cluster's topic to it.
//!
//! The resource is authoritative: every config key set on the topic itself
//! either matches the resource or is removed (back to the broker default).
//! Partitions only grow. What Kafka cannot do (remove partitions, change the
//! replication factor through these APIs) and topics this resource does not
//! own are refused with a reason; nothing is destroyed.

use std::collections::BTreeMap;

use fjord_crds::Topic;

use crate::kafka::{ConfigChange, TopicState};

/// The topic a resource asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: Option<i32>,
    /// Every config key the resource sets, typed fields included, by Kafka name.
    pub config: BTreeMap<String, String>,
}

/// Why a Topic's spec cannot be reconciled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("config key {key:?} is set both by a typed field and in spec.config")]
    DuplicateKey { key: String },
    #[error(
        "{name:?} is not a valid Kafka topic name (1-249 of a-z, A-Z, 0-9, '.', '_', '-'; not '.' or '..')"
    )]
    TopicName { name: String },
}

impl Invalid {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::DuplicateKey { .. } => "DuplicateConfigKey",
            Self::TopicName { .. } => "InvalidTopicName",
        }
    }
}

/// Reads the desired topic from the resource.
pub fn desired(topic: &Topic) -> Result<Desired, Invalid> {
    let spec = &topic.spec;
    let name = spec
        .topic_name
        .clone()
        .or_else(|| topic.metadata.name.clone())
        .unwrap_or_default();
    let valid_name = (1..=249).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid_name {
        return Err(Invalid::TopicName { name });
    }
    let mut config = spec.config.clone();
    let mut typed = |key: &str, value: Option<String>| -> Result<(), Invalid> {
        if let Some(value) = value
            && config.insert(key.to_owned(), value).is_some()
        {
            return Err(Invalid::DuplicateKey {
                key: key.to_owned(),
            });
        }
        Ok(())
    };
    let retention = spec.retention.as_ref();
    let local = spec.local_retention.as_ref();
    typed(
        "retention.ms",
        retention.and_then(|r| r.ms).map(|v| v.to_string()),
    )?;
    typed(
        "retention.bytes",
        retention.and_then(|r| r.bytes).map(|v| v.to_string()),
    )?;
    typed(
        "local.retention.ms",
        local.and_then(|r| r.ms).map(|v| v.to_string()),
    )?;
    typed(
        "local.retention.bytes",
        local.and_then(|r| r.bytes).map(|v| v.to_string()),
    )?;
    typed("remote.storage.enable", spec.tiered.map(|t| t.to_string()))?;
    typed(
        "cleanup.policy",
        spec.cleanup_policy.map(|p| p.as_kafka().to_owned()),
    )?;
    Ok(Desired {
        name,
        partitions: spec.partitions,
        replication_factor: spec.replication_factor,
        config,
    })
}

/// What to do with the cluster's topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The topic does not exist: create it.
    Create,
    /// The topic exists and is ours: make it match (both empty = in sync).
    Update {
        changes: Vec<ConfigChange>,
        grow_to: Option<i32>,
    },
    /// The cluster cannot do what the resource asks, or the topic is not ours.
    Refuse {
        reason: &'static str,
        message: String,
    },
}

/// Whether an existing topic belongs to this resource: its id is the one the
/// resource recorded, or the resource recorded the name before creating it
/// and no id is known to contradict.
pub fn owned(
    status: Option<&fjord_crds::TopicStatus>,
    desired: &Desired,
    observed: &TopicState,
) -> bool {
    let Some(status) = status else { return false };
    let recorded_id = status
        .topic_id
        .as_deref()
        .and_then(|id| uuid::Uuid::parse_str(id).ok());
    match (recorded_id, observed.id) {
        (Some(recorded), Some(actual)) => recorded == actual,
        _ => status.topic_name.as_deref() == Some(desired.name.as_str()),
    }
}

/// Plans the way from `observed` to `desired`.
pub fn plan(desired: &Desired, observed: Option<&TopicState>, owned: bool, adopt: bool) -> Plan {
    let Some(observed) = observed else {
        return Plan::Create;
    };
    if !owned && !adopt {
        return Plan::Refuse {
            reason: "TopicExists",
            message: format!(
                "topic {:?} already exists and was not created by this resource; set spec.adopt: true to take it over",
                desired.name
            ),
        };
    }
    if desired.partitions < observed.partitions {
        return Plan::Refuse {
            reason: "PartitionDecrease",
            message: format!(
                "topic {:?} has {} partitions and Kafka cannot remove partitions; spec.partitions is {}",
                desired.name, observed.partitions, desired.partitions
            ),
        };
    }
    if let Some(rf) = desired.replication_factor
        && rf != observed.replication_factor
    {
        return Plan::Refuse {
            reason: "ReplicationFactorChange",
            message: format!(
                "topic {:?} has replication factor {} and changing it to {rf} is not supported yet",
                desired.name, observed.replication_factor
            ),
        };
    }
    let mut changes: Vec<ConfigChange> = desired
        .config
        .iter()
        .filter(|(k, v)| observed.overrides.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    changes.extend(
        observed
            .overrides
            .keys()
            .filter(|k| !desired.config.contains_key(*k))
            .map(|k| (k.clone(), None)),
    );
    Plan::Update {
        changes,
        grow_to: (desired.partitions > observed.partitions).then_some(desired.partitions),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(spec: &str) -> Topic {
        serde_yaml::from_str(&format!(
            "{{apiVersion: fjord.dev/v1alpha1, kind: Topic, metadata: {{name: orders, namespace: shop}}, spec: {spec}}}"
        ))
        .expect("test topic parses")
    }

    fn observed(partitions: i32, overrides: &[(&str, &str)]) -> TopicState {
        TopicState {
            id: Some(uuid::Uuid::from_u128(7)),
            partitions,
            replication_factor: 1,
            overrides: overrides
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            effective: BTreeMap::new(),
        }
    }

    #[test]
    fn typed_fields_become_kafka_configs_next_to_free_form_ones() {
        let d = desired(&topic(
            "{cluster: {name: main}, partitions: 3, retention: {ms: 60000, bytes: -1}, localRetention: {ms: 1000}, tiered: true, cleanupPolicy: 'compact,delete', config: {segment.bytes: '1048576'}}",
        ))
        .expect("valid");
        assert_eq!(d.name, "orders");
        assert_eq!(d.partitions, 3);
        let keys: Vec<(&str, &str)> = d
            .config
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("cleanup.policy", "compact,delete"),
                ("local.retention.ms", "1000"),
                ("remote.storage.enable", "true"),
                ("retention.bytes", "-1"),
                ("retention.ms", "60000"),
                ("segment.bytes", "1048576"),
            ]
        );
    }

    #[test]
    fn a_key_both_typed_and_free_form_is_invalid() {
        let error = desired(&topic(
            "{cluster: {name: main}, retention: {ms: 1}, config: {retention.ms: '2'}}",
        ))
        .expect_err("duplicate");
        assert_eq!(
            error,
            Invalid::DuplicateKey {
                key: "retention.ms".into()
            }
        );
        assert_eq!(error.reason(), "DuplicateConfigKey");
    }

    #[test]
    fn topic_name_defaults_to_the_resource_name_and_can_be_overridden() {
        let d = desired(&topic("{cluster: {name: main}, topicName: Orders_v1}")).expect("valid");
        assert_eq!(d.name, "Orders_v1");
        let error = desired(&topic("{cluster: {name: main}, topicName: '..'}")).expect_err("dots");
        assert_eq!(error.reason(), "InvalidTopicName");
    }

    #[test]
    fn a_missing_topic_is_created() {
        let d = desired(&topic("{cluster: {name: main}}")).expect("valid");
        assert_eq!(plan(&d, None, false, false), Plan::Create);
    }

    #[test]
    fn drift_is_reverted_and_removed_keys_go_back_to_the_default() {
        let d = desired(&topic(
            "{cluster: {name: main}, partitions: 4, retention: {ms: 1000}}",
        ))
        .expect("valid");
        let o = observed(2, &[("retention.ms", "5"), ("segment.bytes", "100")]);
        assert_eq!(
            plan(&d, Some(&o), true, false),
            Plan::Update {
                changes: vec![
                    ("retention.ms".into(), Some("1000".into())),
                    ("segment.bytes".into(), None),
                ],
                grow_to: Some(4),
            }
        );
    }

    #[test]
    fn a_topic_in_sync_needs_nothing() {
        let d = desired(&topic(
            "{cluster: {name: main}, partitions: 2, retention: {ms: 1000}}",
        ))
        .expect("valid");
        let o = observed(2, &[("retention.ms", "1000")]);
        assert_eq!(
            plan(&d, Some(&o), true, false),
            Plan::Update {
                changes: vec![],
                grow_to: None
            }
        );
    }

    #[test]
    fn fewer_partitions_than_the_topic_has_is_refused() {
        let d = desired(&topic("{cluster: {name: main}, partitions: 2}")).expect("valid");
        let Plan::Refuse { reason, message } = plan(&d, Some(&observed(5, &[])), true, false)
        else {
            panic!("expected a refusal");
        };
        assert_eq!(reason, "PartitionDecrease");
        assert!(message.contains("has 5 partitions"), "{message}");
    }

    #[test]
    fn a_replication_factor_change_is_refused() {
        let d = desired(&topic("{cluster: {name: main}, replicationFactor: 3}")).expect("valid");
        let plan = plan(&d, Some(&observed(1, &[])), true, false);
        assert!(
            matches!(
                plan,
                Plan::Refuse {
                    reason: "ReplicationFactorChange",
                    ..
                }
            ),
            "{plan:?}"
        );
    }

    #[test]
    fn a_foreign_topic_is_left_alone_unless_adopted() {
        let d = desired(&topic("{cluster: {name: main}}")).expect("valid");
        let o = observed(1, &[("retention.ms", "5")]);
        assert!(matches!(
            plan(&d, Some(&o), false, false),
            Plan::Refuse {
                reason: "TopicExists",
                ..
            }
        ));
        assert!(matches!(
            plan(&d, Some(&o), false, true),
            Plan::Update { .. }
        ));
    }

    #[test]
    fn ownership_follows_the_recorded_id_then_the_recorded_name() {
        let d = desired(&topic("{cluster: {name: main}}")).expect("valid");
        let o = observed(1, &[]);
        let status = |id: Option<u128>, name: Option<&str>| fjord_crds::TopicStatus {
            topic_id: id.map(|i| uuid::Uuid::from_u128(i).to_string()),
            topic_name: name.map(str::to_owned),
            ..fjord_crds::TopicStatus::default()
        };
        assert!(owned(Some(&status(Some(7), Some("orders"))), &d, &o));
        assert!(
            !owned(Some(&status(Some(8), Some("orders"))), &d, &o),
            "recreated behind our back"
        );
        assert!(
            owned(Some(&status(None, Some("orders"))), &d, &o),
            "created, id not recorded yet"
        );
        assert!(!owned(Some(&status(None, None)), &d, &o));
        assert!(!owned(None, &d, &o));
    }
}
