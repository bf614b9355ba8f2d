//! Pure validation of a KafkaCluster: what the schema cannot refuse but the
//! brokers cannot serve (yet). An invalid spec becomes a `Ready=False`
//! condition with [`Invalid::reason`] and nothing is applied.

use fjord_crds::KafkaCluster;

/// Brokers that can form one cluster today. Lifting the limit when
/// replication lands is this one constant.
pub const MAX_SERVED_REPLICAS: i32 = 1;

/// Why a KafkaCluster cannot be served as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error(
        "replicas is {replicas} but brokers cannot replicate yet: only {MAX_SERVED_REPLICAS} broker is served, and several unrelated brokers behind one bootstrap address would lose data"
    )]
    MultiBroker { replicas: i32 },
    #[error("tieredStorage is set but the brokers do not tier segments yet")]
    TieredStorage,
    #[error("listener {listener:?} asks for {what}, which the brokers do not serve yet")]
    ListenerFeature {
        listener: String,
        what: &'static str,
    },
    #[error("{count} listeners are declared but the brokers serve one listener so far")]
    Listeners { count: usize },
    #[error("config key {key:?} is managed by the operator; set it through the spec instead")]
    ManagedConfigKey { key: String },
    #[error("config key {key:?} is not a Kafka setting name")]
    ConfigKey { key: String },
    #[error("the cluster has no metadata.uid yet")]
    NoUid,
}

impl Invalid {
    /// The condition reason: CamelCase, stable, for alerts and `kubectl get`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MultiBroker { .. } => "MultiBrokerNotSupported",
            Self::TieredStorage => "TieredStorageNotSupported",
            Self::ListenerFeature { .. } | Self::Listeners { .. } => "ListenerNotSupported",
            Self::ManagedConfigKey { .. } | Self::ConfigKey { .. } => "InvalidConfig",
            Self::NoUid => "NoUid",
        }
    }
}

/// Broker settings the operator sets itself, per pod: a user value would be
/// wrong on all but one broker or would break the pods' addressing.
const MANAGED_KEYS: &[&str] = &[
    "node.id",
    "broker.id",
    "listeners",
    "advertised.listeners",
    "log.dirs",
    "log.dir",
    "broker.rack",
    "cluster.id",
];

/// Checks everything the operator needs before it builds a single object.
pub fn validate(cluster: &KafkaCluster) -> Result<(), Invalid> {
    let spec = &cluster.spec;
    if cluster.metadata.uid.is_none() {
        return Err(Invalid::NoUid);
    }
    if spec.replicas > MAX_SERVED_REPLICAS {
        return Err(Invalid::MultiBroker {
            replicas: spec.replicas,
        });
    }
    if spec.tiered_storage.is_some() {
        return Err(Invalid::TieredStorage);
    }
    if spec.listeners.len() > 1 {
        return Err(Invalid::Listeners {
            count: spec.listeners.len(),
        });
    }
    for listener in &spec.listeners {
        let what = if listener.tls.is_some() {
            Some("TLS")
        } else if listener.authentication.is_some() {
            Some("authentication")
        } else {
            None
        };
        if let Some(what) = what {
            return Err(Invalid::ListenerFeature {
                listener: listener.name.clone(),
                what,
            });
        }
    }
    for key in spec.config.keys() {
        if MANAGED_KEYS.contains(&key.as_str()) {
            return Err(Invalid::ManagedConfigKey { key: key.clone() });
        }
        let well_formed = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-');
        if !well_formed {
            return Err(Invalid::ConfigKey { key: key.clone() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(spec: &str) -> KafkaCluster {
        serde_yaml::from_str(&format!(
            "{{apiVersion: fjord.dev/v1alpha1, kind: KafkaCluster, metadata: {{name: main, namespace: ns, uid: u-1}}, spec: {spec}}}"
        ))
        .expect("test cluster parses")
    }

    #[test]
    fn one_broker_with_defaults_is_valid() {
        assert_eq!(validate(&cluster("{}")), Ok(()));
        assert_eq!(validate(&cluster("{replicas: 0}")), Ok(()));
    }

    #[test]
    fn several_brokers_are_refused_until_replication_lands() {
        let error = validate(&cluster("{replicas: 3}")).expect_err("3 brokers");
        assert_eq!(error.reason(), "MultiBrokerNotSupported");
        assert!(error.to_string().contains("replicas is 3"), "{error}");
    }

    #[test]
    fn tiered_storage_is_refused_until_the_broker_tiers() {
        let error =
            validate(&cluster("{tieredStorage: {bucket: 's3://b/p'}}")).expect_err("tiered");
        assert_eq!(error.reason(), "TieredStorageNotSupported");
    }

    #[test]
    fn tls_listeners_and_several_listeners_are_refused() {
        let tls = cluster("{listeners: [{name: kafka, port: 9092, tls: {secretName: s}}]}");
        assert_eq!(
            validate(&tls).map_err(|e| e.reason()),
            Err("ListenerNotSupported")
        );
        let two = cluster("{listeners: [{name: a, port: 9092}, {name: b, port: 9093}]}");
        assert_eq!(
            validate(&two).map_err(|e| e.reason()),
            Err("ListenerNotSupported")
        );
    }

    #[test]
    fn per_broker_keys_in_config_are_refused() {
        let error = validate(&cluster("{config: {node.id: '3'}}")).expect_err("node.id");
        assert_eq!(
            error,
            Invalid::ManagedConfigKey {
                key: "node.id".to_owned()
            }
        );
        let error = validate(&cluster("{config: {'bad key': '3'}}")).expect_err("space");
        assert_eq!(error.reason(), "InvalidConfig");
    }
}
