//! `POST pods/{name}/eviction`: the Eviction API with PodDisruptionBudget accounting, answered as
//! `EvictionREST.Create` (kubernetes `pkg/registry/core/pod/storage/eviction.go`, v1.33) answers.
//!
//! A PDB's status (`disruptionsAllowed`, `currentHealthy`, `desiredHealthy`,
//! `observedGeneration`) is computed by the disruption controller in a real cluster. No
//! controller runs here: tests set that status themselves with `FakeApiServer::add`/`modify`,
//! including `status.observedGeneration` equal to `metadata.generation` (1 for a new fixture),
//! or the eviction answers 429 "still being processed" as the real server does for a PDB the
//! controller has not caught up with. The only status change made here is the eviction's own
//! (`disruptionsAllowed - 1`, `disruptedPods[pod]`), as the real server makes it.

use super::resources;
use super::status::ApiError;
use super::store::{
    DeleteOptions, ObjectKey, Origin, Res, Store, ensure_object, meta_str, rfc3339,
};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value, json};

/// `MaxDisruptedPodSize`: more unconfirmed evictions than this and the PDB refuses new ones.
const MAX_DISRUPTED_POD_SIZE: usize = 2000;

const BUDGET_VIOLATION: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

/// Refuses a body that is not an `Eviction` (policy/v1 or policy/v1beta1, which the real
/// server also accepts); a body without `apiVersion`/`kind`, as kube-rs sends, is one.
pub(crate) fn check_type(body: &Value) -> Result<(), ApiError> {
    let api_version = body.get("apiVersion").and_then(Value::as_str);
    if let Some(api_version) = api_version.filter(|v| !matches!(*v, "policy/v1" | "policy/v1beta1"))
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version (policy/v1)"
        )));
    }
    if let Some(kind) = body
        .get("kind")
        .and_then(Value::as_str)
        .filter(|k| *k != "Eviction")
    {
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{}\" cannot be handled as a Eviction",
            api_version.unwrap_or("policy/v1")
        )));
    }
    Ok(())
}

/// The Eviction body's `deleteOptions` merged with the request's `dryRun`, for the pod deletion.
pub(crate) fn delete_options(body: &Value, query_dry_run: bool) -> Result<DeleteOptions, ApiError> {
    // kube-rs sends `delete_options`; like the real decoder, only `deleteOptions` is read.
    let options = body.get("deleteOptions").unwrap_or(&Value::Null);
    let body_dry_run: Vec<&str> = options
        .get("dryRun")
        .and_then(Value::as_array)
        .map(|values| values.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    // `propagateDryRun`: a plain error, so a 500 without reason.
    if query_dry_run && !body_dry_run.is_empty() && body_dry_run != ["All"] {
        return Err(ApiError::internal(format!(
            "Non-matching dry-run options in request and content: [All] and [{}]",
            body_dry_run.join(" ")
        )));
    }
    let precondition = |field: &str| {
        options
            .pointer(&format!("/preconditions/{field}"))
            .and_then(Value::as_str)
            .map(String::from)
    };
    Ok(DeleteOptions {
        grace_period_seconds: options.get("gracePeriodSeconds").and_then(Value::as_i64),
        uid: precondition("uid"),
        resource_version: precondition("resourceVersion"),
        dry_run: query_dry_run || body_dry_run.contains(&"All"),
    })
}

/// Evicts the pod at `key`: the PDB verdict, the PDB status write, then the pod deletion.
/// `Ok` is the 201 Success; dry run decides the same way and writes nothing.
pub(crate) fn evict(
    store: &mut Store,
    key: &ObjectKey,
    opts: &DeleteOptions,
) -> Result<(), ApiError> {
    let pod = store
        .get(key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(key.res, &key.name))?;
    // Pending or terminal pods disrupt nothing, and a terminating one is already gone from the budget.
    if can_ignore_pdb(&pod) {
        store.delete(key, opts)?;
        return Ok(());
    }
    let pdbs = matching_pdbs(store, &pod)?;
    let pdb = match pdbs.as_slice() {
        [] => None,
        [pdb] => Some(pdb),
        // Returned by the real server as a Failure Status result, not a typed error: no reason.
        _ => {
            return Err(ApiError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
    };
    if let Some(pdb) = pdb {
        // An unready pod does not count as healthy, so removing it may leave the budget alone.
        let spends_budget = is_ready(&pod) || !unhealthy_may_go(pdb);
        if spends_budget {
            check_and_decrement(store, pdb, &key.name, opts.dry_run)?;
        }
    }
    // The real server also adds a resourceVersion precondition here against a racing readiness
    // change; under the store lock nothing can race, so it is left out.
    store.delete(key, opts)?;
    Ok(())
}

fn pdb_res() -> Result<Res, ApiError> {
    resources::find("policy", "v1", "poddisruptionbudgets")
        .ok_or_else(|| ApiError::internal("poddisruptionbudgets.policy is not served"))
}

fn can_ignore_pdb(pod: &Value) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed" | "Pending")
    ) || meta_str(pod, "deletionTimestamp").is_some()
}

/// `podutil.IsPodReady`: the `Ready` condition is `True`.
fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conditions| {
            conditions.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

fn status_i64(pdb: &Value, field: &str) -> i64 {
    pdb.get("status")
        .and_then(|s| s.get(field))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Whether an unready pod may be deleted without touching the budget: it does not count as
/// healthy, so with `AlwaysAllow`, or while the budget is met (`IfHealthyBudget`, the default).
fn unhealthy_may_go(pdb: &Value) -> bool {
    let policy = pdb
        .pointer("/spec/unhealthyPodEvictionPolicy")
        .and_then(Value::as_str);
    let desired = status_i64(pdb, "desiredHealthy");
    policy == Some("AlwaysAllow") || (status_i64(pdb, "currentHealthy") >= desired && desired > 0)
}

/// The PDBs in the pod's namespace whose selector matches its labels (`getPodDisruptionBudgets`).
fn matching_pdbs(store: &Store, pod: &Value) -> Result<Vec<Value>, ApiError> {
    let res = pdb_res()?;
    let labels = pod
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let namespace = meta_str(pod, "namespace").unwrap_or_default();
    Ok(store
        .list(res, Some(namespace))
        .into_iter()
        .filter(|pdb| selector_matches(pdb.pointer("/spec/selector"), &labels))
        .cloned()
        .collect())
}

/// `metav1.LabelSelectorAsSelector` + `Matches`: a nil or empty selector matches nothing here
/// (not everything), and an invalid one matches nothing.
fn selector_matches(selector: Option<&Value>, labels: &Map<String, Value>) -> bool {
    let Some(selector) = selector.and_then(Value::as_object) else {
        return false;
    };
    let match_labels = selector.get("matchLabels").and_then(Value::as_object);
    let expressions = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if match_labels.is_none_or(Map::is_empty) && expressions.is_empty() {
        return false;
    }
    let label = |key: &str| labels.get(key).and_then(Value::as_str);
    let labels_match = match_labels
        .into_iter()
        .flatten()
        .all(|(k, v)| v.as_str().is_some() && label(k) == v.as_str());
    labels_match
        && expressions.iter().all(|expr| {
            let key = expr.get("key").and_then(Value::as_str).unwrap_or_default();
            let values: Vec<&str> = expr
                .get("values")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match expr.get("operator").and_then(Value::as_str) {
                Some("In") if !values.is_empty() => label(key).is_some_and(|v| values.contains(&v)),
                Some("NotIn") if !values.is_empty() => {
                    label(key).is_none_or(|v| !values.contains(&v))
                }
                Some("Exists") if values.is_empty() => label(key).is_some(),
                Some("DoesNotExist") if values.is_empty() => label(key).is_none(),
                _ => false,
            }
        })
}

/// `checkAndDecrement`: refuses when the budget is spent (or not yet computed), otherwise takes
/// one disruption and records the pod in `disruptedPods`, which emits MODIFIED for the PDB.
fn check_and_decrement(
    store: &mut Store,
    pdb: &Value,
    pod_name: &str,
    dry_run: bool,
) -> Result<(), ApiError> {
    let name = meta_str(pdb, "name").unwrap_or_default();
    let observed = status_i64(pdb, "observedGeneration");
    let generation = pdb
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if observed < generation {
        return Err(ApiError::too_many_requests(
            BUDGET_VIOLATION,
            10,
            "DisruptionBudget",
            format!("The disruption budget {name} is still being processed by the server."),
        ));
    }
    let allowed = status_i64(pdb, "disruptionsAllowed");
    if allowed < 0 {
        return Err(ApiError::forbidden(
            "policy",
            "poddisruptionbudget",
            name,
            "pdb disruptions allowed is negative",
        ));
    }
    let disrupted = pdb
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object)
        .map_or(0, Map::len);
    if disrupted > MAX_DISRUPTED_POD_SIZE {
        return Err(ApiError::forbidden(
            "policy",
            "poddisruptionbudget",
            name,
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ));
    }
    if allowed == 0 {
        return Err(ApiError::too_many_requests(
            BUDGET_VIOLATION,
            0,
            "DisruptionBudget",
            format!(
                "The disruption budget {name} needs {} healthy pods and has {} currently",
                status_i64(pdb, "desiredHealthy"),
                status_i64(pdb, "currentHealthy")
            ),
        ));
    }
    if dry_run {
        return Ok(());
    }
    let key = ObjectKey::new(
        pdb_res()?,
        meta_str(pdb, "namespace").unwrap_or_default(),
        name,
    );
    store.modify(&key, Origin::Api, false, |pdb| {
        let status = ensure_object(ensure_object(pdb).entry("status").or_insert(Value::Null));
        status.insert("disruptionsAllowed".into(), json!(allowed - 1));
        let now = rfc3339(Timestamp::now());
        if allowed - 1 == 0 {
            set_insufficient_pods(status, observed, &now);
        }
        ensure_object(status.entry("disruptedPods").or_insert(Value::Null))
            .insert(pod_name.into(), json!(now));
        Ok(())
    })?;
    Ok(())
}

/// `pdbhelper.UpdateDisruptionAllowedCondition` for a budget that just reached 0, with
/// `meta.SetStatusCondition`'s rule: the transition time moves only when the status changes.
fn set_insufficient_pods(status: &mut Map<String, Value>, observed_generation: i64, now: &str) {
    let conditions = status.entry("conditions").or_insert_with(|| json!([]));
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let Some(conditions) = conditions.as_array_mut() else {
        return;
    };
    let existing = conditions
        .iter_mut()
        .filter_map(Value::as_object_mut)
        .find(|c| c.get("type").and_then(Value::as_str) == Some("DisruptionAllowed"));
    match existing {
        Some(condition) => {
            if condition.get("status").and_then(Value::as_str) != Some("False") {
                condition.insert("status".into(), json!("False"));
                condition.insert("lastTransitionTime".into(), json!(now));
            }
            condition.insert("reason".into(), json!("InsufficientPods"));
            condition.insert("message".into(), json!(""));
            condition.insert("observedGeneration".into(), json!(observed_generation));
        }
        None => conditions.push(json!({
            "type": "DisruptionAllowed",
            "status": "False",
            "observedGeneration": observed_generation,
            "lastTransitionTime": now,
            "reason": "InsufficientPods",
            "message": "",
        })),
    }
}
