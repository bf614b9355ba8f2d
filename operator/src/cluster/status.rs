//! The status of a KafkaCluster, computed from its StatefulSet and its broker
//! pods (pure). The StatefulSet says how far a rollout got; the pods say why a
//! broker is not coming up (a crash loop, an image that cannot be pulled, no
//! node to run on), which makes the cluster Degraded with that reason.

use fjord_crds::KafkaCluster;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;

use crate::conditions::{self, Verdict};

/// Container waiting reasons that do not fix themselves.
const STUCK_REASONS: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// The first broker pod that is stuck: its name, the reason and the message.
pub fn stuck_pod(pods: &[Pod]) -> Option<(String, String, String)> {
    pods.iter().find_map(|pod| {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let status = pod.status.as_ref()?;
        let waiting = status
            .container_statuses
            .iter()
            .flatten()
            .filter_map(|container| container.state.as_ref()?.waiting.as_ref())
            .find(|waiting| {
                waiting
                    .reason
                    .as_deref()
                    .is_some_and(|r| STUCK_REASONS.contains(&r))
            });
        if let Some(waiting) = waiting {
            return Some((
                name,
                waiting.reason.clone().unwrap_or_default(),
                waiting.message.clone().unwrap_or_default(),
            ));
        }
        status
            .conditions
            .iter()
            .flatten()
            .find(|c| {
                c.type_ == "PodScheduled"
                    && c.status == "False"
                    && c.reason.as_deref() == Some("Unschedulable")
            })
            .map(|c| {
                (
                    name,
                    "Unschedulable".to_owned(),
                    c.message.clone().unwrap_or_default(),
                )
            })
    })
}

/// The conditions a KafkaCluster shows, given its applied StatefulSet and
/// the broker pods that exist.
pub fn verdicts(
    cluster: &KafkaCluster,
    sts: &StatefulSet,
    pods: &[Pod],
    bootstrap: &str,
) -> Vec<Verdict> {
    let desired = cluster.spec.replicas;
    if let Some((pod, reason, message)) = stuck_pod(pods) {
        return conditions::failed(
            "BrokerPodFailing",
            format!("pod {pod} is {reason}: {message}")
                .trim_end_matches([':', ' '])
                .to_owned(),
        );
    }
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
            ready_reason(&verdicts(&cluster(1), &s, &[], "b:9092")),
            ("BrokersReady", true)
        );
    }

    #[test]
    fn a_rollout_in_flight_is_progressing() {
        let s = sts(
            "{metadata: {generation: 3}, status: {observedGeneration: 3, replicas: 1, readyReplicas: 1, updatedReplicas: 0, currentRevision: r2, updateRevision: r3}}",
        );
        let v = verdicts(&cluster(1), &s, &[], "b");
        assert_eq!(ready_reason(&v), ("RollingUpdate", false));
        assert!(v[1].status, "Progressing is True");
    }

    #[test]
    fn an_unseen_generation_or_missing_status_is_progressing() {
        let unseen = sts(
            "{metadata: {generation: 4}, status: {observedGeneration: 3, replicas: 1, readyReplicas: 1}}",
        );
        assert_eq!(
            ready_reason(&verdicts(&cluster(1), &unseen, &[], "b")),
            ("Applying", false)
        );
        assert_eq!(
            ready_reason(&verdicts(&cluster(1), &sts("{}"), &[], "b")),
            ("Applying", false)
        );
    }

    #[test]
    fn brokers_not_ready_yet_are_starting() {
        let s = sts(
            "{metadata: {generation: 1}, status: {observedGeneration: 1, replicas: 1, readyReplicas: 0, updatedReplicas: 1}}",
        );
        assert_eq!(
            ready_reason(&verdicts(&cluster(1), &s, &[], "b")),
            ("BrokersStarting", false)
        );
        assert_eq!(replica_counts(&s), (1, 0));
    }

    fn pod(yaml: &str) -> Pod {
        serde_yaml::from_str(yaml).expect("pod YAML")
    }

    #[test]
    fn a_crash_looping_broker_makes_the_cluster_degraded_with_the_reason() {
        let s = sts(
            "{metadata: {generation: 1}, status: {observedGeneration: 1, replicas: 1, readyReplicas: 0, updatedReplicas: 1}}",
        );
        let looping = pod(r#"
metadata: {name: main-broker-0}
status:
  containerStatuses:
    - name: broker
      image: fjord-broker
      imageID: ""
      ready: false
      restartCount: 5
      state: {waiting: {reason: CrashLoopBackOff, message: "back-off 5m0s restarting failed container"}}
"#);
        let v = verdicts(&cluster(1), &s, &[looping], "b");
        let degraded = v
            .iter()
            .find(|v| v.type_ == "Degraded")
            .expect("a Degraded verdict");
        assert!(degraded.status);
        assert_eq!(degraded.reason, "BrokerPodFailing");
        assert!(
            degraded
                .message
                .contains("main-broker-0 is CrashLoopBackOff: back-off"),
            "{}",
            degraded.message
        );
        assert!(!v.iter().find(|v| v.type_ == "Ready").expect("Ready").status);
    }

    #[test]
    fn an_unschedulable_broker_says_why_and_a_starting_one_is_only_progressing() {
        let s = sts(
            "{metadata: {generation: 1}, status: {observedGeneration: 1, replicas: 1, readyReplicas: 0, updatedReplicas: 1}}",
        );
        let pending = pod(r#"
metadata: {name: main-broker-0}
status:
  conditions:
    - {type: PodScheduled, status: "False", reason: Unschedulable, message: "0/3 nodes are available: 3 Insufficient memory."}
"#);
        let (pod_name, reason, message) = stuck_pod(&[pending]).expect("stuck");
        assert_eq!(
            (pod_name.as_str(), reason.as_str()),
            ("main-broker-0", "Unschedulable")
        );
        assert!(message.contains("Insufficient memory"));
        let starting = pod(r#"
metadata: {name: main-broker-0}
status:
  containerStatuses:
    - {name: broker, image: fjord-broker, imageID: "", ready: false, restartCount: 0, state: {waiting: {reason: ContainerCreating}}}
"#);
        assert_eq!(
            ready_reason(&verdicts(&cluster(1), &s, &[starting], "b")).0,
            "BrokersStarting"
        );
    }
}
