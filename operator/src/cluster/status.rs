//! The status of a KafkaCluster, computed from its StatefulSet (pure).

use fjord_crds::KafkaCluster;
use k8s_openapi::api::apps::v1::StatefulSet;

use crate::conditions::{self, Verdict};

/// The conditions a KafkaCluster shows, given its applied StatefulSet.
pub fn verdicts(cluster: &KafkaCluster, sts: &StatefulSet, bootstrap: &str) -> Vec<Verdict> {
    let desired = cluster.spec.replicas;
    let Some(status) = sts.status.as_ref() else {
        return conditions::progressing("Applying", "waiting for the StatefulSet to report status");
    };
    let seen = status.observed_generation.unwrap_or(0) >= sts.metadata.generation.unwrap_or(0);
    let ready = status.ready_replicas.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    let rolled =
        status.update_revision.is_none() || status.update_revision == status.current_revision;
    if !seen {
        conditions::progressing(
            "Applying",
            "the StatefulSet controller has not seen the latest spec yet",
        )
    } else if desired > 0 && (updated < desired || !rolled) {
        conditions::progressing(
            "RollingUpdate",
            format!("{updated}/{desired} brokers updated"),
        )
    } else if ready < desired {
        conditions::progressing(
            "BrokersStarting",
            format!("{ready}/{desired} brokers ready"),
        )
    } else if status.replicas > desired {
        conditions::progressing(
            "ScalingDown",
            format!("{} brokers, {desired} wanted", status.replicas),
        )
    } else if desired == 0 {
        conditions::ready("ScaledToZero", "no brokers are asked for")
    } else {
        conditions::ready(
            "BrokersReady",
            format!("{ready}/{desired} brokers ready; bootstrap at {bootstrap}"),
        )
    }
}

/// Broker pods that exist and are ready, from the StatefulSet.
pub fn replica_counts(sts: &StatefulSet) -> (i32, i32) {
    sts.status
        .as_ref()
        .map_or((0, 0), |s| (s.replicas, s.ready_replicas.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(replicas: i32) -> KafkaCluster {
        serde_yaml::from_str(&format!(
            "{{apiVersion: fjord.dev/v1alpha1, kind: KafkaCluster, metadata: {{name: c, namespace: n}}, spec: {{replicas: {replicas}}}}}"
        ))
        .expect("test cluster parses")
    }

    fn sts(yaml: &str) -> StatefulSet {
        serde_yaml::from_str(yaml).expect("test StatefulSet parses")
    }

    fn ready_reason(v: &[Verdict]) -> (&str, bool) {
        (v[0].reason.as_str(), v[0].status)
    }

    #[test]
    fn all_brokers_ready_and_rolled_out_is_ready() {
        let s = sts(
            "{metadata: {generation: 2}, status: {observedGeneration: 2, replicas: 1, readyReplicas: 1, updatedReplicas: 1, currentRevision: r2, updateRevision: r2}}",
        );
        assert_eq!(
            ready_reason(&verdicts(&cluster(1), &s, "b:9092")),
            ("BrokersReady", true)
        );
    }

    #[test]
    fn a_rollout_in_flight_is_progressing() {
        let s = sts(
            "{metadata: {generation: 3}, status: {observedGeneration: 3, replicas: 1, readyReplicas: 1, updatedReplicas: 0, currentRevision: r2, updateRevision: r3}}",
        );
        let v = verdicts(&cluster(1), &s, "b");
        assert_eq!(ready_reason(&v), ("RollingUpdate", false));
        assert!(v[1].status, "Progressing is True");
    }

    #[test]
    fn an_unseen_generation_or_missing_status_is_progressing() {
        let unseen = sts(
            "{metadata: {generation: 4}, status: {observedGeneration: 3, replicas: 1, readyReplicas: 1}}",
        );
        assert_eq!(
            ready_reason(&verdicts(&cluster(1), &unseen, "b")),
            ("Applying", false)
        );
        assert_eq!(
            ready_reason(&verdicts(&cluster(1), &sts("{}"), "b")),
            ("Applying", false)
        );
    }

    #[test]
    fn brokers_not_ready_yet_are_starting() {
        let s = sts(
            "{metadata: {generation: 1}, status: {observedGeneration: 1, replicas: 1, readyReplicas: 0, updatedReplicas: 1}}",
        );
        assert_eq!(
            ready_reason(&verdicts(&cluster(1), &s, "b")),
            ("BrokersStarting", false)
        );
        assert_eq!(replica_counts(&s), (1, 0));
    }
}
