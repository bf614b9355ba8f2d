//! Status conditions in the shape kstatus, Argo CD and Flux read: `Ready`,
//! `Progressing` and `Degraded`, each with a CamelCase reason, a message and
//! the generation it describes. A condition keeps its `lastTransitionTime`
//! while its status does not change, so timestamps mean "since when".

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

pub use fjord_crds::condition::{DEGRADED, PROGRESSING, READY};

/// One condition as the reconciler decides it, before timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub type_: &'static str,
    pub status: bool,
    pub reason: String,
    pub message: String,
}

impl Verdict {
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}

/// The three standard conditions of a resource that is fine.
pub fn ready(reason: &str, message: impl Into<String>) -> Vec<Verdict> {
    vec![
        Verdict::new(READY, true, reason, message),
        Verdict::new(PROGRESSING, false, reason, "nothing to do"),
        Verdict::new(DEGRADED, false, reason, "no problems"),
    ]
}

/// The three standard conditions of a resource still converging.
pub fn progressing(reason: &str, message: impl Into<String>) -> Vec<Verdict> {
    let message = message.into();
    vec![
        Verdict::new(READY, false, reason, message.clone()),
        Verdict::new(PROGRESSING, true, reason, message),
        Verdict::new(DEGRADED, false, reason, "no problems"),
    ]
}

/// The three standard conditions of a resource the operator will not
/// reconcile until it changes (invalid or unsupported spec) or cannot reach.
pub fn failed(reason: &str, message: impl Into<String>) -> Vec<Verdict> {
    let message = message.into();
    vec![
        Verdict::new(READY, false, reason, message.clone()),
        Verdict::new(PROGRESSING, false, reason, message.clone()),
        Verdict::new(DEGRADED, true, reason, message),
    ]
}

/// Turns verdicts into conditions, keeping the transition time of any
/// condition whose status did not change.
pub fn merge(
    previous: &[Condition],
    verdicts: Vec<Verdict>,
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    verdicts
        .into_iter()
        .map(|v| {
            let status = if v.status { "True" } else { "False" }.to_owned();
            let since = previous
                .iter()
                .find(|c| c.type_ == v.type_ && c.status == status)
                .map_or(Time(now), |c| c.last_transition_time.clone());
            Condition {
                type_: v.type_.to_owned(),
                status,
                reason: v.reason,
                message: v.message,
                observed_generation: generation,
                last_transition_time: since,
            }
        })
        .collect()
}

/// The `Ready` condition's reason, if any.
pub fn ready_reason(conditions: &[Condition]) -> Option<&str> {
    conditions
        .iter()
        .find(|c| c.type_ == READY)
        .map(|c| c.reason.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_stays_while_status_holds_and_moves_when_it_flips() {
        let t0 = Timestamp::from_second(1_000).expect("valid");
        let t1 = Timestamp::from_second(2_000).expect("valid");
        let first = merge(&[], ready("Ready", "ok"), Some(1), t0);
        let again = merge(&first, ready("Ready", "still ok"), Some(2), t1);
        assert_eq!(again[0].last_transition_time, Time(t0));
        assert_eq!(again[0].observed_generation, Some(2));
        let broken = merge(&again, failed("Broken", "no"), Some(2), t1);
        assert_eq!(broken[0].last_transition_time, Time(t1));
        assert_eq!(broken[0].status, "False");
        assert_eq!(broken[2].type_, DEGRADED);
        assert_eq!(broken[2].status, "True");
    }
}
