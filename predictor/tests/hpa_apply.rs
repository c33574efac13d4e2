//! HPA floors against the fake API server: raised ahead of a forecast peak, held, restored
//! after it; the user's own changes adopted; maxReplicas respected; dry runs, missing HPAs,
//! expired floors with no plan, and 409 conflicts retried.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use std::time::Duration;
use tidal_predictor::hpa::{
    APPLIED_MIN_REPLICAS, Decision, FLOOR_UNTIL, HpaError, USER_MIN_REPLICAS, apply_floor,
    restore_expired,
};
use tidal_predictor::plan::{Plan, PlanConfig, plan, rfc3339};
use tidal_predictor::series::Series;
use tidal_testkit::fake_apiserver::FakeApiServer;

const NOW: i64 = 1_800_000_000;
const MINUTE: i64 = 60;
const RUN: Duration = Duration::from_secs(5 * 60);

/// Demand of 1 core, 5 cores from minute 60 to 120, then 1 again; 0.5 core per replica,
/// lead 10m, hold 30m: 2 replicas, 10 from minute 50 to 150, then 2.
fn peak_plan() -> anyhow::Result<Plan> {
    let mut demand = vec![1.0; 180];
    demand[60..120].fill(5.0);
    let config = PlanConfig {
        target_per_replica: 0.5,
        min_replicas: 1,
        max_replicas: 20,
        lead: Duration::from_secs(600),
        hold: Duration::from_secs(1800),
    };
    Ok(plan(&Series::new(NOW, MINUTE, demand)?, &config)?)
}

fn hpa(min: i32, max: i32) -> anyhow::Result<HorizontalPodAutoscaler> {
    tidal_testkit::objects::hpa("shop", "web", min, max)
}

fn stored(api: &FakeApiServer) -> anyhow::Result<HorizontalPodAutoscaler> {
    api.get("shop", "web")
        .ok_or_else(|| anyhow::anyhow!("HPA shop/web is gone"))
}

fn min_replicas(api: &FakeApiServer) -> anyhow::Result<Option<i32>> {
    Ok(stored(api)?.spec.and_then(|s| s.min_replicas))
}

fn annotation(api: &FakeApiServer, key: &str) -> anyhow::Result<Option<String>> {
    Ok(stored(api)?
        .metadata
        .annotations
        .and_then(|a| a.get(key).cloned()))
}

fn patches(api: &FakeApiServer) -> usize {
    api.requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .count()
}

#[tokio::test]
async fn raised_ahead_of_the_peak_held_and_restored_after_it() -> anyhow::Result<()> {
    let api = FakeApiServer::start().await?;
    api.add(&hpa(2, 20)?)?;
    let plan = peak_plan()?;
    let apply = |minute: i64| {
        apply_floor(
            api.client(),
            "shop",
            "web",
            &plan,
            NOW + minute * MINUTE,
            RUN,
            false,
        )
    };

    let quiet = apply(0).await?;
    assert_eq!(
        (quiet.decision, quiet.written()),
        (Decision::Nothing, false)
    );

    // The run at minute 46 covers minute 50, where the plan raises for the peak at 60.
    let raised = apply(46).await?;
    assert!(matches!(raised.decision, Decision::Raise(f) if f.min_replicas == 10));
    assert!(raised.written());
    assert_eq!(min_replicas(&api)?, Some(10));
    assert_eq!(annotation(&api, USER_MIN_REPLICAS)?.as_deref(), Some("2"));
    assert_eq!(
        annotation(&api, APPLIED_MIN_REPLICAS)?.as_deref(),
        Some("10")
    );
    assert_eq!(annotation(&api, FLOOR_UNTIL)?, rfc3339(NOW + 150 * MINUTE));
    let spec = stored(&api)?
        .spec
        .ok_or_else(|| anyhow::anyhow!("no spec"))?;
    assert_eq!(spec.max_replicas, 20, "maxReplicas is never touched");
    assert_eq!(
        spec.metrics.map(|m| m.len()),
        Some(1),
        "metrics are never touched"
    );

    api.clear_requests();
    let held = apply(100).await?;
    assert!(matches!(held.decision, Decision::Hold(_)));
    assert_eq!(patches(&api), 0, "an unchanged floor is not rewritten");

    let restored = apply(150).await?;
    assert_eq!(restored.decision, Decision::Restore { user_floor: 2 });
    assert_eq!(min_replicas(&api)?, Some(2));
    assert_eq!(
        stored(&api)?.metadata.annotations.unwrap_or_default().len(),
        0
    );
    Ok(())
}

#[tokio::test]
async fn a_floor_the_user_changes_mid_hold_becomes_theirs() -> anyhow::Result<()> {
    let api = FakeApiServer::start().await?;
    api.add(&hpa(2, 20)?)?;
    let plan = peak_plan()?;
    apply_floor(
        api.client(),
        "shop",
        "web",
        &plan,
        NOW + 50 * MINUTE,
        RUN,
        false,
    )
    .await?;
    api.modify::<HorizontalPodAutoscaler>("shop", "web", |h| {
        if let Some(spec) = h.spec.as_mut() {
            spec.min_replicas = Some(4);
        }
    })?;

    let again = apply_floor(
        api.client(),
        "shop",
        "web",
        &plan,
        NOW + 100 * MINUTE,
        RUN,
        false,
    )
    .await?;
    assert!(
        matches!(again.decision, Decision::Raise(f) if f.user_floor == 4 && f.min_replicas == 10)
    );
    assert_eq!(annotation(&api, USER_MIN_REPLICAS)?.as_deref(), Some("4"));

    apply_floor(
        api.client(),
        "shop",
        "web",
        &plan,
        NOW + 150 * MINUTE,
        RUN,
        false,
    )
    .await?;
    assert_eq!(
        min_replicas(&api)?,
        Some(4),
        "the user's new floor is what comes back"
    );
    Ok(())
}

#[tokio::test]
async fn the_floor_never_exceeds_max_replicas() -> anyhow::Result<()> {
    let api = FakeApiServer::start().await?;
    api.add(&hpa(2, 6)?)?;
    let outcome = apply_floor(
        api.client(),
        "shop",
        "web",
        &peak_plan()?,
        NOW + 60 * MINUTE,
        RUN,
        false,
    )
    .await?;
    assert!(matches!(outcome.decision, Decision::Raise(f) if f.min_replicas == 6));
    assert_eq!(min_replicas(&api)?, Some(6));
    assert_eq!(stored(&api)?.spec.map(|s| s.max_replicas), Some(6));
    Ok(())
}

#[tokio::test]
async fn a_missing_hpa_says_what_to_do() -> anyhow::Result<()> {
    let api = FakeApiServer::start().await?;
    let err = apply_floor(api.client(), "shop", "web", &peak_plan()?, NOW, RUN, false)
        .await
        .expect_err("no HPA");
    assert!(matches!(err, HpaError::Missing { .. }));
    assert!(
        err.to_string()
            .contains("create an HPA for the workload or remove it from predictor targets")
    );
    Ok(())
}

#[tokio::test]
async fn a_dry_run_changes_nothing() -> anyhow::Result<()> {
    let api = FakeApiServer::start().await?;
    let before = api.add(&hpa(2, 20)?)?;
    let outcome = apply_floor(
        api.client(),
        "shop",
        "web",
        &peak_plan()?,
        NOW + 60 * MINUTE,
        RUN,
        true,
    )
    .await?;
    assert!(matches!(outcome.decision, Decision::Raise(_)));
    assert!(outcome.patch.is_some() && !outcome.written());
    assert_eq!(stored(&api)?, before);
    let patch = api.requests().into_iter().find(|r| r.method == "PATCH");
    assert!(patch.is_some_and(|r| r.query.contains("dryRun=All")));
    Ok(())
}

#[tokio::test]
async fn an_expired_floor_is_restored_without_a_plan() -> anyhow::Result<()> {
    let api = FakeApiServer::start().await?;
    let mut held = hpa(10, 20)?;
    held.metadata.annotations = Some(
        [
            (USER_MIN_REPLICAS, "2".to_string()),
            (APPLIED_MIN_REPLICAS, "10".to_string()),
            (FLOOR_UNTIL, rfc3339(NOW + 10 * MINUTE).unwrap_or_default()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    );
    api.add(&held)?;

    let early = restore_expired(api.client(), "shop", "web", NOW, false).await?;
    assert!(matches!(early.decision, Decision::Hold(_)) && !early.written());
    assert_eq!(min_replicas(&api)?, Some(10));

    let late = restore_expired(api.client(), "shop", "web", NOW + 10 * MINUTE, false).await?;
    assert_eq!(late.decision, Decision::Restore { user_floor: 2 });
    assert_eq!(min_replicas(&api)?, Some(2));
    assert_eq!(annotation(&api, FLOOR_UNTIL)?, None);
    Ok(())
}

/// Another writer changes the HPA between our read and our write.
fn race(api: &FakeApiServer, label: &'static str) -> anyhow::Result<()> {
    api.modify_after_next_get::<HorizontalPodAutoscaler>("shop", "web", move |h| {
        h.metadata
            .labels
            .get_or_insert_default()
            .insert(label.to_string(), "x".to_string());
    })
}

#[tokio::test]
async fn a_conflict_is_read_decided_and_written_again() -> anyhow::Result<()> {
    let api = FakeApiServer::start().await?;
    api.add(&hpa(2, 20)?)?;
    race(&api, "first")?;
    let outcome = apply_floor(
        api.client(),
        "shop",
        "web",
        &peak_plan()?,
        NOW + 60 * MINUTE,
        RUN,
        false,
    )
    .await?;
    assert_eq!(outcome.attempts, 2);
    assert_eq!(min_replicas(&api)?, Some(10));
    assert!(
        stored(&api)?
            .metadata
            .labels
            .is_some_and(|l| l.contains_key("first"))
    );
    Ok(())
}

#[tokio::test]
async fn conflicts_give_up_after_three_attempts() -> anyhow::Result<()> {
    let api = FakeApiServer::start().await?;
    api.add(&hpa(2, 20)?)?;
    for label in ["a", "b", "c"] {
        race(&api, label)?;
    }
    let err = apply_floor(
        api.client(),
        "shop",
        "web",
        &peak_plan()?,
        NOW + 60 * MINUTE,
        RUN,
        false,
    )
    .await
    .expect_err("every write conflicts");
    assert!(matches!(err, HpaError::Conflict { .. }), "{err}");
    assert_eq!(patches(&api), 3);
    assert_eq!(min_replicas(&api)?, Some(2));
    Ok(())
}
