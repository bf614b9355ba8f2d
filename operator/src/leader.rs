//! Leader election on a `coordination.k8s.io` Lease: several operator
//! replicas may run, one reconciles.
//!
//! A replica holds the Lease while it renews it within `leaseDurationSeconds`;
//! another replica takes it over only once it has expired. Writes use the
//! Lease's `resourceVersion`, so two replicas racing for it cannot both win
//! (the loser gets 409 Conflict and stays standby). A leader that fails to
//! renew before its Lease expires stops the process: reconciling on without
//! the Lease could race the new leader.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, PostParams};
use tokio_util::sync::CancellationToken;

/// What a replica does with the Lease as it finds it (pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No Lease yet: create it, holding it.
    Create,
    /// We hold it: renew.
    Renew,
    /// Someone held it but let it expire: take it over.
    TakeOver,
    /// Someone else holds a valid Lease.
    Standby,
}

/// Decides from the Lease's spec (if it exists).
pub fn decide(lease: Option<&LeaseSpec>, identity: &str, now: Timestamp) -> Decision {
    let Some(spec) = lease else {
        return Decision::Create;
    };
    if spec.holder_identity.as_deref() == Some(identity) {
        return Decision::Renew;
    }
    let Some(holder) = spec.holder_identity.as_deref().filter(|h| !h.is_empty()) else {
        return Decision::TakeOver;
    };
    let _ = holder;
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(15)));
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0);
    match renewed {
        Some(renewed)
            if renewed
                .saturating_add(duration)
                .is_ok_and(|expiry| expiry > now) =>
        {
            Decision::Standby
        }
        _ => Decision::TakeOver,
    }
}

/// One replica's side of the election.
pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
}

impl Elector {
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            duration,
        }
    }

    fn spec(&self, now: Timestamp, acquired: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.duration.as_secs())
                    .unwrap_or(i32::MAX)
                    .max(1),
            ),
            acquire_time: Some(acquired.unwrap_or(MicroTime(now))),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Tries once to hold the Lease; `Ok(true)` when this replica leads.
    pub async fn try_lead(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let current = self.api.get_opt(&self.name).await?;
        let decision = decide(
            current.as_ref().and_then(|l| l.spec.as_ref()),
            &self.identity,
            now,
        );
        let result = match (decision, current) {
            (Decision::Standby, _) => return Ok(false),
            (Decision::Create, _) | (_, None) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(self.spec(now, None, 0)),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            (decision, Some(mut lease)) => {
                let old = lease.spec.take().unwrap_or_default();
                let transitions = old.lease_transitions.unwrap_or(0);
                lease.spec = Some(if decision == Decision::Renew {
                    self.spec(now, old.acquire_time, transitions)
                } else {
                    self.spec(now, None, transitions + 1)
                });
                // replace carries metadata.resourceVersion: a concurrent write wins, we lose.
                self.api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
            }
        };
        match result {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Waits until this replica leads, then keeps renewing in the background;
    /// `lost` is cancelled if leadership is lost. Returns `false` when
    /// `shutdown` fires first.
    pub async fn lead(self, shutdown: &CancellationToken, lost: CancellationToken) -> bool {
        let retry = self.duration / 3;
        loop {
            match self.try_lead().await {
                Ok(true) => break,
                Ok(false) => {
                    tracing::debug!(lease = self.name, "another replica leads; standing by")
                }
                Err(error) => {
                    tracing::warn!(%error, lease = self.name, "cannot read or write the Lease")
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return false,
                () = tokio::time::sleep(retry) => {}
            }
        }
        tracing::info!(lease = self.name, identity = self.identity, "leading");
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut last_renewal = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(retry) => {}
                }
                match self.try_lead().await {
                    Ok(true) => last_renewal = tokio::time::Instant::now(),
                    Ok(false) => {
                        tracing::error!(lease = self.name, "lost the Lease to another replica");
                        lost.cancel();
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot renew the Lease");
                        if last_renewal.elapsed() >= self.duration {
                            tracing::error!(lease = self.name, "Lease expired without renewal");
                            lost.cancel();
                            return;
                        }
                    }
                }
            }
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).expect("valid time")
    }

    fn lease(holder: &str, renewed: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.to_owned()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(at(renewed))),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn no_lease_is_created_and_our_own_is_renewed() {
        assert_eq!(decide(None, "a", at(100)), Decision::Create);
        assert_eq!(decide(Some(&lease("a", 0)), "a", at(100)), Decision::Renew);
    }

    #[test]
    fn a_fresh_lease_of_another_replica_is_respected() {
        assert_eq!(
            decide(Some(&lease("b", 90)), "a", at(100)),
            Decision::Standby
        );
    }

    fn lease_json(holder: &str, renewed: &str) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "fjord-operator", "namespace": "ops", "resourceVersion": "41"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "renewTime": renewed, "leaseTransitions": 2},
        })
    }

    const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/ops/leases/fjord-operator";

    fn elector(ctx: &crate::context::Context, identity: &str) -> Elector {
        Elector::new(
            ctx.client.clone(),
            "ops",
            "fjord-operator",
            identity,
            Duration::from_secs(15),
        )
    }

    #[tokio::test]
    async fn the_first_replica_creates_the_lease() {
        let kafka = crate::kafka::memory::MemoryCluster::default();
        let (ctx, mut api) = crate::fixtures::context(&kafka);
        let run = tokio::spawn(async move { elector(&ctx, "pod-a").try_lead().await });
        api.expect("GET", LEASE, crate::fixtures::not_found).await;
        let created = api
            .expect(
                "POST",
                "/apis/coordination.k8s.io/v1/namespaces/ops/leases",
                crate::fixtures::echo,
            )
            .await;
        assert_eq!(created.body["spec"]["holderIdentity"], "pod-a");
        assert!(run.await.expect("task").expect("API answers"), "leads");
        api.done().await;
    }

    #[tokio::test]
    async fn a_replica_stands_by_while_another_holds_a_fresh_lease() {
        let kafka = crate::kafka::memory::MemoryCluster::default();
        let (ctx, mut api) = crate::fixtures::context(&kafka);
        let run = tokio::spawn(async move { elector(&ctx, "pod-b").try_lead().await });
        let fresh = Timestamp::now().to_string();
        api.expect(
            "GET",
            LEASE,
            crate::fixtures::reply(lease_json("pod-a", &fresh)),
        )
        .await;
        assert!(
            !run.await.expect("task").expect("API answers"),
            "stands by, writes nothing"
        );
        api.done().await;
    }

    #[tokio::test]
    async fn taking_over_an_expired_lease_is_fenced_by_resource_version() {
        let kafka = crate::kafka::memory::MemoryCluster::default();
        let (ctx, mut api) = crate::fixtures::context(&kafka);
        let run = tokio::spawn(async move { elector(&ctx, "pod-b").try_lead().await });
        api.expect(
            "GET",
            LEASE,
            crate::fixtures::reply(lease_json("pod-a", "2020-01-01T00:00:00.000000Z")),
        )
        .await;
        let replaced = api
            .expect("PUT", LEASE, |_| {
                (409, serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409, "message": "changed"}))
            })
            .await;
        assert_eq!(replaced.body["metadata"]["resourceVersion"], "41");
        assert_eq!(replaced.body["spec"]["holderIdentity"], "pod-b");
        assert_eq!(replaced.body["spec"]["leaseTransitions"], 3);
        assert!(
            !run.await
                .expect("task")
                .expect("a conflict is not an error"),
            "lost the race"
        );
        api.done().await;
    }

    #[test]
    fn an_expired_or_released_lease_is_taken_over() {
        assert_eq!(
            decide(Some(&lease("b", 80)), "a", at(100)),
            Decision::TakeOver
        );
        assert_eq!(
            decide(Some(&lease("", 99)), "a", at(100)),
            Decision::TakeOver
        );
    }
}
