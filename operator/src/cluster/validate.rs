//! Pure validation of a KafkaCluster: what the schema cannot refuse but the
//! brokers cannot serve (yet). An invalid spec becomes a `Ready=False`
//! condition with [`Invalid::reason`] and nothing is applied.

use fjord_crds::KafkaCluster;
use fjord_crds::quantity::{is_quantity, is_size};

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
    #[error("{field} is {value:?}, which is not {expected}")]
    Quantity {
        field: String,
        value: String,
        expected: &'static str,
    },
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
            Self::Quantity { .. } => "InvalidQuantity",
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
    check_quantities(cluster)?;
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

const SIZE: &str = "a Kubernetes quantity greater than zero, such as 100Gi";
const QUANTITY: &str = "a Kubernetes quantity of zero or more, such as 500m, 2 or 4Gi";

/// Every quantity of the spec, checked with the patterns the CRD carries: an
/// object stored under an older CRD must not reach a StatefulSet with a value
/// the API server would refuse there.
fn check_quantities(cluster: &KafkaCluster) -> Result<(), Invalid> {
    let spec = &cluster.spec;
    let mut sizes = vec![("spec.storage.size".to_owned(), &spec.storage.size)];
    if let Some(cache) = spec
        .tiered_storage
        .as_ref()
        .and_then(|t| t.cache_size.as_ref())
    {
        sizes.push(("spec.tieredStorage.cacheSize".to_owned(), cache));
    }
    for (field, size) in sizes {
        if !is_size(&size.0) {
            return Err(Invalid::Quantity {
                field,
                value: size.0.clone(),
                expected: SIZE,
            });
        }
    }
    let resources = spec.resources.as_ref();
    for (list, amounts) in [
        ("limits", resources.and_then(|r| r.limits.as_ref())),
        ("requests", resources.and_then(|r| r.requests.as_ref())),
    ] {
        for (name, amount) in amounts.into_iter().flatten() {
            if !is_quantity(&amount.0) {
                return Err(Invalid::Quantity {
                    field: format!("spec.resources.{list}.{name}"),
                    value: amount.0.clone(),
                    expected: QUANTITY,
                });
            }
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

    #[test]
    fn a_storage_size_that_is_no_quantity_is_refused_naming_field_and_value() {
        let error = validate(&cluster("{storage: {size: lots-of-space}}")).expect_err("bad size");
        assert_eq!(error.reason(), "InvalidQuantity");
        assert_eq!(
            error.to_string(),
            "spec.storage.size is \"lots-of-space\", which is not a Kubernetes quantity greater than zero, such as 100Gi"
        );
        for size in ["0", "0Gi", "-5", "10GB", "10 Gi"] {
            let error =
                validate(&cluster(&format!("{{storage: {{size: '{size}'}}}}"))).expect_err(size);
            assert!(error.to_string().contains(&format!("{size:?}")), "{error}");
        }
        let integer = cluster("{storage: {size: -5}}");
        assert_eq!(
            validate(&integer).map_err(|e| e.reason()),
            Err("InvalidQuantity"),
            "an integer size is a quantity too and must be positive"
        );
        for size in ["100Gi", "1.5Ti", "1000000000", "500M"] {
            assert_eq!(
                validate(&cluster(&format!("{{storage: {{size: '{size}'}}}}"))),
                Ok(()),
                "{size}"
            );
        }
    }

    #[test]
    fn resource_quantities_and_the_cache_size_are_checked_like_the_storage_size() {
        let error = validate(&cluster(
            "{resources: {requests: {cpu: 500m, memory: 2Gi}, limits: {memory: two-gigs}}}",
        ))
        .expect_err("bad limit");
        assert_eq!(
            error,
            Invalid::Quantity {
                field: "spec.resources.limits.memory".to_owned(),
                value: "two-gigs".to_owned(),
                expected: QUANTITY,
            }
        );
        let error =
            validate(&cluster("{resources: {requests: {cpu: '-1'}}}")).expect_err("negative");
        assert!(
            error
                .to_string()
                .starts_with("spec.resources.requests.cpu is \"-1\""),
            "{error}"
        );
        assert_eq!(
            validate(&cluster(
                "{resources: {requests: {cpu: '0', memory: 64Mi}, limits: {cpu: 2}}}"
            )),
            Ok(())
        );
        let error = validate(&cluster(
            "{tieredStorage: {bucket: 's3://b/p', cacheSize: big}}",
        ))
        .expect_err("bad cache size");
        assert_eq!(
            error.reason(),
            "InvalidQuantity",
            "reported before tiering is refused"
        );
        assert!(
            error
                .to_string()
                .contains("spec.tieredStorage.cacheSize is \"big\""),
            "{error}"
        );
    }
}
