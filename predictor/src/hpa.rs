//! Applying a plan as a HorizontalPodAutoscaler's `spec.minReplicas` floor.
//!
//! Tidal only moves the floor under the HPA: never `maxReplicas`, its metrics or the workload's
//! replicas. The HPA keeps scaling above the floor on live load, so the two never fight (the way
//! KEDA's cron scaler and Crane's EHPA add a minimum rather than a replica count).
//!
//! Annotations on the HPA make every run stateless and every raise reversible:
//! - [`USER_MIN_REPLICAS`]: the user's own floor, recorded when Tidal first raises it;
//! - [`APPLIED_MIN_REPLICAS`]: what Tidal wrote. A different `spec.minReplicas` means the user
//!   changed it while Tidal held it, and their value becomes the user floor;
//! - [`FLOOR_UNTIL`]: when the plan stops wanting the raised floor. Past it, with no fresh plan,
//!   the user's floor is written back ([`restore_expired`]), so a stopped predictor does not
//!   leave floors raised forever.
//!
//! The decision ([`decide`], [`Decision::patch`]) is pure; [`apply_floor`] and
//! [`restore_expired`] read, decide and write with the HPA's `resourceVersion` as precondition.

use crate::plan::{Plan, rfc3339};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use thiserror::Error;

/// The user's own `minReplicas`, kept while Tidal holds a higher floor.
pub const USER_MIN_REPLICAS: &str = "tidal.io/user-min-replicas";
/// The `minReplicas` Tidal wrote.
pub const APPLIED_MIN_REPLICAS: &str = "tidal.io/applied-min-replicas";
/// RFC 3339 time until which the raised floor is wanted.
pub const FLOOR_UNTIL: &str = "tidal.io/floor-until";

/// Writes tried before giving up on an HPA that keeps changing under us.
const MAX_ATTEMPTS: u32 = 3;

const FIELD_MANAGER: &str = "tidal-predictor";

/// What the decision reads from an HPA.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HpaState {
    /// `spec.minReplicas` (the API's default, 1, when unset).
    pub min_replicas: i32,
    pub max_replicas: i32,
    pub annotations: BTreeMap<String, String>,
}

impl HpaState {
    pub fn of(hpa: &HorizontalPodAutoscaler) -> Self {
        let spec = hpa.spec.as_ref();
        Self {
            min_replicas: spec.and_then(|s| s.min_replicas).unwrap_or(1),
            max_replicas: spec.map_or(0, |s| s.max_replicas),
            annotations: hpa.metadata.annotations.clone().unwrap_or_default(),
        }
    }

    fn annotation<T: std::str::FromStr>(&self, key: &str) -> Option<T> {
        self.annotations.get(key).and_then(|v| v.parse().ok())
    }

    /// Whether Tidal holds the floor (its record is on the HPA).
    fn held(&self) -> bool {
        self.annotations.contains_key(USER_MIN_REPLICAS)
    }

    /// The floor the user wants: the recorded one while Tidal's write is still in place, else
    /// the current `minReplicas` (never held, changed by the user meanwhile, or a damaged record).
    fn user_floor(&self) -> i32 {
        let applied = self.annotation::<i32>(APPLIED_MIN_REPLICAS);
        match self.annotation::<i32>(USER_MIN_REPLICAS) {
            Some(user) if applied == Some(self.min_replicas) => user,
            _ => self.min_replicas,
        }
    }

    fn floor_until(&self) -> Option<i64> {
        self.annotation::<Timestamp>(FLOOR_UNTIL)
            .map(|t| t.as_second())
    }
}

/// A floor above the user's that Tidal wants held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floor {
    /// The `minReplicas` to hold.
    pub min_replicas: i32,
    /// The user's own floor, written back on restore.
    pub user_floor: i32,
    /// Unix seconds until which the floor is wanted.
    pub until: i64,
}

/// What to do with an HPA's floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No floor held and none needed.
    Nothing,
    /// Raise `minReplicas` above its current value.
    Raise(Floor),
    /// Keep a floor Tidal holds: the same or lower (still above the user's), or longer.
    Hold(Floor),
    /// Write the user's floor back and drop Tidal's annotations.
    Restore { user_floor: i32 },
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let until = |t: i64| crate::plan::rfc3339(t).unwrap_or_else(|| t.to_string());
        match self {
            Self::Nothing => f.write_str("nothing"),
            Self::Raise(fl) => write!(
                f,
                "raise minReplicas {} -> {} until {}",
                fl.user_floor,
                fl.min_replicas,
                until(fl.until)
            ),
            Self::Hold(fl) => write!(
                f,
                "hold minReplicas {} (user's {}) until {}",
                fl.min_replicas,
                fl.user_floor,
                until(fl.until)
            ),
            Self::Restore { user_floor } => write!(f, "restore minReplicas {user_floor}"),
        }
    }
}

/// Decides the floor for `hpa` at `now` (Unix seconds) from the plan's replicas over the run
/// `[now, now + interval)`; with no plan covering that (none given, or a stale one), a held floor
/// stays until its `floor-until` and is then restored.
pub fn decide(hpa: &HpaState, plan: Option<&Plan>, now: i64, interval: Duration) -> Decision {
    let user = hpa.user_floor();
    let run_end = now.saturating_add(i64::try_from(interval.as_secs()).unwrap_or(i64::MAX));
    let Some((plan, planned)) = plan.and_then(|p| Some((p, p.max_over(now, run_end)?))) else {
        return without_plan(hpa, user, now);
    };
    let planned = i32::try_from(planned).unwrap_or(i32::MAX);
    // Never above maxReplicas, never below the user's floor (which wins if they ever conflict).
    let floor = planned.min(hpa.max_replicas).max(user);
    if floor <= user {
        return if hpa.held() {
            Decision::Restore { user_floor: user }
        } else {
            Decision::Nothing
        };
    }
    let level = u32::try_from(user).unwrap_or(0);
    let floor = Floor {
        min_replicas: floor,
        user_floor: user,
        // The raise starts within the run, so the first stretch above the user's floor is it.
        until: plan.above_until(now, level).unwrap_or(run_end).max(run_end),
    };
    if floor.min_replicas > hpa.min_replicas || !hpa.held() {
        Decision::Raise(floor)
    } else {
        Decision::Hold(floor)
    }
}

/// No fresh plan: keep a held floor until its `floor-until`, then give it back.
fn without_plan(hpa: &HpaState, user: i32, now: i64) -> Decision {
    if !hpa.held() {
        return Decision::Nothing;
    }
    match hpa.floor_until() {
        Some(until) if until > now && hpa.min_replicas > user => Decision::Hold(Floor {
            min_replicas: hpa.min_replicas,
            user_floor: user,
            until,
        }),
        _ => Decision::Restore { user_floor: user },
    }
}

impl Decision {
    /// The JSON merge patch carrying the decision out on `hpa`, with `resource_version` as the
    /// optimistic-concurrency precondition; `None` when the HPA already is as decided.
    pub fn patch(&self, hpa: &HpaState, resource_version: Option<&str>) -> Option<Value> {
        let (min_replicas, annotations) = match *self {
            Self::Nothing => return None,
            Self::Raise(f) | Self::Hold(f) => (
                f.min_replicas,
                [
                    (USER_MIN_REPLICAS, Some(f.user_floor.to_string())),
                    (APPLIED_MIN_REPLICAS, Some(f.min_replicas.to_string())),
                    (FLOOR_UNTIL, rfc3339(f.until)),
                ],
            ),
            Self::Restore { user_floor } => (
                user_floor,
                [
                    (USER_MIN_REPLICAS, None),
                    (APPLIED_MIN_REPLICAS, None),
                    (FLOOR_UNTIL, None),
                ],
            ),
        };
        let unchanged = min_replicas == hpa.min_replicas
            && annotations
                .iter()
                .all(|(key, value)| hpa.annotations.get(*key) == value.as_ref());
        if unchanged {
            return None;
        }
        // `null` removes an annotation in a merge patch.
        let annotations: Map<String, Value> = annotations
            .into_iter()
            .map(|(key, value)| (key.to_string(), value.map_or(Value::Null, Value::from)))
            .collect();
        let mut metadata = json!({ "annotations": annotations });
        if let Some(rv) = resource_version {
            metadata["resourceVersion"] = json!(rv);
        }
        Some(json!({ "metadata": metadata, "spec": { "minReplicas": min_replicas } }))
    }
}

/// What a run did to one HPA.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub decision: Decision,
    /// The merge patch sent (with `dryRun=All` in a dry run); `None` when nothing needed writing.
    pub patch: Option<Value>,
    /// Reads (and writes) needed: more than 1 after 409 conflicts.
    pub attempts: u32,
    pub dry_run: bool,
}

impl Outcome {
    /// Whether the HPA was actually changed.
    pub fn written(&self) -> bool {
        self.patch.is_some() && !self.dry_run
    }
}

/// Why an HPA floor could not be applied; each says what to do.
#[derive(Debug, Error)]
pub enum HpaError {
    #[error(
        "HorizontalPodAutoscaler {namespace}/{name} not found: create an HPA for the workload or remove it from predictor targets"
    )]
    Missing { namespace: String, name: String },
    #[error(
        "not allowed to change HorizontalPodAutoscaler {namespace}/{name} ({message}): grant the predictor's service account `get` and `patch` on `horizontalpodautoscalers` in API group `autoscaling`"
    )]
    Forbidden {
        namespace: String,
        name: String,
        message: String,
    },
    #[error(
        "HorizontalPodAutoscaler {namespace}/{name} changed under every one of {MAX_ATTEMPTS} writes (409 Conflict): another controller keeps writing it; the next run tries again"
    )]
    Conflict { namespace: String, name: String },
    #[error("Kubernetes API error on HorizontalPodAutoscaler {namespace}/{name}: {source}")]
    Api {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

impl HpaError {
    /// Names the cases a user can fix (missing HPA, RBAC) instead of passing the raw API error.
    pub fn from_kube(namespace: &str, name: &str, source: kube::Error) -> Self {
        let (namespace, name) = (namespace.to_string(), name.to_string());
        match &source {
            kube::Error::Api(status) if status.is_not_found() => Self::Missing { namespace, name },
            kube::Error::Api(status) if status.is_forbidden() => Self::Forbidden {
                namespace,
                name,
                message: status.message.clone(),
            },
            _ => Self::Api {
                namespace,
                name,
                source,
            },
        }
    }
}

/// Applies `plan` as the floor of HPA `namespace/name` for the run `[now, now + interval)`.
pub async fn apply_floor(
    client: kube::Client,
    namespace: &str,
    name: &str,
    plan: &Plan,
    now: i64,
    interval: Duration,
    dry_run: bool,
) -> Result<Outcome, HpaError> {
    let decide = |hpa: &HpaState| decide(hpa, Some(plan), now, interval);
    read_decide_write(client, namespace, name, dry_run, decide).await
}

/// Restores the user's floor on HPA `namespace/name` if Tidal's raised floor has passed its
/// `floor-until`; needs no plan, so it also cleans up after a predictor that stopped planning.
pub async fn restore_expired(
    client: kube::Client,
    namespace: &str,
    name: &str,
    now: i64,
    dry_run: bool,
) -> Result<Outcome, HpaError> {
    let decide = |hpa: &HpaState| decide(hpa, None, now, Duration::ZERO);
    read_decide_write(client, namespace, name, dry_run, decide).await
}

/// Reads the HPA, decides and writes under its `resourceVersion`; on 409 the HPA changed in
/// between, so it is read and decided again (at most [`MAX_ATTEMPTS`] times).
async fn read_decide_write(
    client: kube::Client,
    namespace: &str,
    name: &str,
    dry_run: bool,
    decide: impl Fn(&HpaState) -> Decision,
) -> Result<Outcome, HpaError> {
    let api: Api<HorizontalPodAutoscaler> = Api::namespaced(client, namespace);
    let fail = |source| HpaError::from_kube(namespace, name, source);
    let params = PatchParams {
        dry_run,
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    for attempts in 1..=MAX_ATTEMPTS {
        let hpa = api.get(name).await.map_err(fail)?;
        let state = HpaState::of(&hpa);
        let decision = decide(&state);
        let patch = decision.patch(&state, hpa.metadata.resource_version.as_deref());
        let outcome = Outcome {
            decision,
            patch,
            attempts,
            dry_run,
        };
        let Some(patch) = &outcome.patch else {
            return Ok(outcome);
        };
        match api.patch(name, &params, &Patch::Merge(patch)).await {
            Ok(_) => {
                tracing::info!(namespace, name, ?decision, dry_run, "HPA floor written");
                return Ok(outcome);
            }
            Err(kube::Error::Api(status)) if status.is_conflict() => {
                tracing::debug!(
                    namespace,
                    name,
                    attempts,
                    "HPA changed since read; retrying"
                );
            }
            Err(err) => return Err(fail(err)),
        }
    }
    Err(HpaError::Conflict {
        namespace: namespace.to_string(),
        name: name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Slot, Unit};

    const NOW: i64 = 1_800_000_000;
    const RUN: Duration = Duration::from_secs(300);

    /// A plan of `(start offset from NOW, end offset, replicas)` segments.
    fn plan(segments: &[(i64, i64, u32)]) -> Plan {
        let slots = segments
            .iter()
            .map(|&(start, end, replicas)| Slot {
                start: NOW + start,
                end: NOW + end,
                replicas,
                demand: 0.0,
                capped: false,
            })
            .collect();
        Plan {
            unit: Unit::Replicas,
            unit_capacity: 1.0,
            step: 60,
            slots,
            filled: 0,
        }
    }

    fn hpa(min: i32, max: i32, annotations: &[(&str, &str)]) -> HpaState {
        HpaState {
            min_replicas: min,
            max_replicas: max,
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn time(offset: i64) -> String {
        rfc3339(NOW + offset).expect("in range")
    }

    #[test]
    fn raises_over_the_run_until_the_plan_drops() {
        let p = plan(&[(0, 240, 2), (240, 3600, 6), (3600, 7200, 2)]);
        let d = decide(&hpa(2, 10, &[]), Some(&p), NOW, RUN);
        let floor = Floor {
            min_replicas: 6,
            user_floor: 2,
            until: NOW + 3600,
        };
        assert_eq!(d, Decision::Raise(floor));
        let patch = d.patch(&hpa(2, 10, &[]), Some("42")).expect("a write");
        assert_eq!(
            patch,
            json!({
                "metadata": {"resourceVersion": "42", "annotations": {
                    USER_MIN_REPLICAS: "2", APPLIED_MIN_REPLICAS: "6", FLOOR_UNTIL: time(3600)}},
                "spec": {"minReplicas": 6}
            })
        );
    }

    #[test]
    fn clamps_to_max_and_never_goes_below_the_user() {
        let p = plan(&[(0, 3600, 40)]);
        let d = decide(&hpa(3, 8, &[]), Some(&p), NOW, RUN);
        assert!(matches!(d, Decision::Raise(f) if f.min_replicas == 8));
        let low = plan(&[(0, 3600, 1)]);
        assert_eq!(
            decide(&hpa(3, 8, &[]), Some(&low), NOW, RUN),
            Decision::Nothing
        );
    }

    #[test]
    fn holds_then_restores_when_the_plan_drops() {
        let held = hpa(
            6,
            10,
            &[
                (USER_MIN_REPLICAS, "2"),
                (APPLIED_MIN_REPLICAS, "6"),
                (FLOOR_UNTIL, &time(3600)),
            ],
        );
        let p = plan(&[(-600, 3600, 6), (3600, 7200, 2)]);
        let d = decide(&held, Some(&p), NOW, RUN);
        assert!(matches!(d, Decision::Hold(f) if f.min_replicas == 6 && f.until == NOW + 3600));
        assert_eq!(d.patch(&held, Some("7")), None, "nothing changed: no write");
        let d = decide(&held, Some(&p), NOW + 3600, RUN);
        assert_eq!(d, Decision::Restore { user_floor: 2 });
        let patch = d.patch(&held, None).expect("a write");
        assert_eq!(patch["spec"]["minReplicas"], 2);
        assert_eq!(
            patch["metadata"]["annotations"][USER_MIN_REPLICAS],
            Value::Null
        );
    }

    #[test]
    fn adopts_a_floor_the_user_changed_meanwhile() {
        let changed = hpa(
            4,
            10,
            &[
                (USER_MIN_REPLICAS, "2"),
                (APPLIED_MIN_REPLICAS, "6"),
                (FLOOR_UNTIL, &time(3600)),
            ],
        );
        let p = plan(&[(0, 3600, 6)]);
        let d = decide(&changed, Some(&p), NOW, RUN);
        assert!(matches!(d, Decision::Raise(f) if f.user_floor == 4 && f.min_replicas == 6));
        let high = hpa(
            9,
            10,
            &[(USER_MIN_REPLICAS, "2"), (APPLIED_MIN_REPLICAS, "6")],
        );
        assert_eq!(
            decide(&high, Some(&p), NOW, RUN),
            Decision::Restore { user_floor: 9 }
        );
        assert_eq!(
            decide(&high, None, NOW, RUN),
            Decision::Restore { user_floor: 9 }
        );
    }

    #[test]
    fn without_a_fresh_plan_the_floor_expires() {
        let held = hpa(
            6,
            10,
            &[
                (USER_MIN_REPLICAS, "2"),
                (APPLIED_MIN_REPLICAS, "6"),
                (FLOOR_UNTIL, &time(600)),
            ],
        );
        let stale = plan(&[(-7200, -3600, 6)]);
        assert!(matches!(
            decide(&held, Some(&stale), NOW, RUN),
            Decision::Hold(_)
        ));
        assert!(matches!(decide(&held, None, NOW, RUN), Decision::Hold(_)));
        let later = NOW + 600;
        assert_eq!(
            decide(&held, None, later, RUN),
            Decision::Restore { user_floor: 2 }
        );
        let damaged = hpa(
            6,
            10,
            &[(USER_MIN_REPLICAS, "2"), (APPLIED_MIN_REPLICAS, "6")],
        );
        assert_eq!(
            decide(&damaged, None, NOW, RUN),
            Decision::Restore { user_floor: 2 }
        );
        assert_eq!(decide(&hpa(2, 10, &[]), None, NOW, RUN), Decision::Nothing);
    }

    #[test]
    fn errors_name_the_fix() {
        let status = |code, reason| {
            kube::Error::Api(
                kube::core::Status::failure("denied", reason)
                    .with_code(code)
                    .boxed(),
            )
        };
        let missing = HpaError::from_kube("shop", "web", status(404, "NotFound"));
        assert!(
            missing
                .to_string()
                .contains("create an HPA for the workload")
        );
        let forbidden = HpaError::from_kube("shop", "web", status(403, "Forbidden"));
        let text = forbidden.to_string();
        assert!(text.contains("`patch` on `horizontalpodautoscalers` in API group `autoscaling`"));
        assert!(matches!(
            HpaError::from_kube("shop", "web", status(500, "InternalError")),
            HpaError::Api { .. }
        ));
    }
}
