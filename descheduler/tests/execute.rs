//! Evictions against the fake API server, which answers as kube-apiserver does:
//! 201 evicted, 429 when a PodDisruptionBudget forbids it, 500 when two budgets
//! select the pod, 404 when the pod is gone, and dry runs that change nothing.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::json;
use tidal_descheduler::execute::{ExecuteOptions, Outcome, Target, execute};
use tidal_descheduler::model::PodKey;
use tidal_testkit::fake_apiserver::FakeApiServer;

fn running_pod(name: &str, app: &str) -> anyhow::Result<Pod> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": app}},
        "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "x"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }))?)
}

fn budget(name: &str, app: &str, allowed: i32) -> anyhow::Result<PodDisruptionBudget> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "shop", "generation": 1},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": app}}},
        "status": {"disruptionsAllowed": allowed, "currentHealthy": 2, "desiredHealthy": 1,
                   "expectedPods": 2, "observedGeneration": 1},
    }))?)
}

/// A client that gives 429s back instead of retrying them, as the descheduler needs.
fn client(api: &FakeApiServer) -> anyhow::Result<kube::Client> {
    let mut config = api.config();
    config.default_retry = false;
    Ok(kube::Client::try_from(config)?)
}

fn target(api: &FakeApiServer, name: &str) -> Target {
    let uid = api
        .get::<Pod>("shop", name)
        .and_then(|p| p.metadata.uid)
        .unwrap_or_default();
    Target {
        pod: PodKey {
            namespace: "shop".into(),
            name: name.into(),
        },
        uid,
    }
}

fn options(dry_run: bool) -> ExecuteOptions {
    ExecuteOptions {
        dry_run,
        grace_period_seconds: Some(0),
        evictions_per_second: 50.0,
    }
}

#[tokio::test]
async fn each_answer_of_the_api_server_becomes_an_outcome() -> anyhow::Result<()> {
    let api = FakeApiServer::start().await?;
    api.add(&running_pod("free", "free")?)?;
    api.add(&running_pod("guarded", "guarded")?)?;
    api.add(&budget("guarded", "guarded", 0)?)?;
    api.add(&running_pod("double", "double")?)?;
    api.add(&budget("double-1", "double", 1)?)?;
    api.add(&budget("double-2", "double", 1)?)?;
    let mut renamed = target(&api, "free");
    renamed.uid = "not-the-pod-we-planned".into();
    let gone = Target {
        pod: PodKey {
            namespace: "shop".into(),
            name: "missing".into(),
        },
        uid: "x".into(),
    };
    let targets = [
        renamed,
        target(&api, "free"),
        target(&api, "guarded"),
        target(&api, "double"),
        gone,
    ];

    let attempts = execute(&client(&api)?, &targets, &options(false))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let outcomes: Vec<&Outcome> = attempts.iter().map(|a| &a.outcome).collect();
    assert_eq!(
        outcomes[0],
        &Outcome::Gone,
        "uid precondition: a different pod has the name"
    );
    assert_eq!(outcomes[1], &Outcome::Evicted);
    assert!(
        matches!(outcomes[2], Outcome::Refused(m) if m.contains("disruption budget")),
        "{outcomes:?}"
    );
    assert!(
        matches!(outcomes[3], Outcome::SeveralBudgets(_)),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[4], &Outcome::Gone);
    assert!(
        api.get::<Pod>("shop", "free").is_none(),
        "evicted with grace period 0"
    );
    assert!(api.get::<Pod>("shop", "guarded").is_some());
    Ok(())
}

#[tokio::test]
async fn a_dry_run_gets_the_verdict_and_changes_nothing() -> anyhow::Result<()> {
    let api = FakeApiServer::start().await?;
    api.add(&running_pod("web-1", "web")?)?;
    api.add(&budget("web", "web", 1)?)?;
    let attempts = execute(&client(&api)?, &[target(&api, "web-1")], &options(true))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(attempts[0].outcome, Outcome::WouldEvict);
    assert!(api.get::<Pod>("shop", "web-1").is_some());
    let pdb = api
        .get::<PodDisruptionBudget>("shop", "web")
        .and_then(|p| p.status);
    assert_eq!(
        pdb.map(|s| s.disruptions_allowed),
        Some(1),
        "the budget is untouched"
    );
    Ok(())
}

#[tokio::test]
async fn an_answer_that_is_no_verdict_stops_the_run() -> anyhow::Result<()> {
    let api = FakeApiServer::start().await?;
    api.add(&running_pod("a", "broken")?)?;
    api.add(&running_pod("b", "fine")?)?;
    // A budget with a negative allowance makes the API server answer 403.
    api.add(&budget("broken", "broken", -1)?)?;
    let targets = [target(&api, "a"), target(&api, "b")];
    let stopped = execute(&client(&api)?, &targets, &options(false))
        .await
        .expect_err("403 stops the run");
    assert_eq!(stopped.pod.name, "a");
    assert_eq!(stopped.remaining, 2);
    assert!(stopped.done.is_empty());
    assert!(stopped.to_string().contains("not attempted"), "{stopped}");
    assert!(
        matches!(&stopped.source, kube::Error::Api(s) if s.code == 403),
        "{:?}",
        stopped.source
    );
    assert!(
        api.get::<Pod>("shop", "b").is_some(),
        "nothing after the failure was evicted"
    );
    Ok(())
}

#[tokio::test]
async fn cooldowns_survive_between_runs_in_a_config_map() -> anyhow::Result<()> {
    use std::time::{Duration, SystemTime};
    use tidal_descheduler::cooldown::CooldownStore;
    use tidal_descheduler::model::WorkloadRef;

    let api = FakeApiServer::start().await?;
    let client = client(&api)?;
    let store = CooldownStore {
        namespace: "tidal-system".into(),
        name: "tidal-descheduler-state".into(),
    };
    assert!(
        store.load(&client).await?.is_empty(),
        "no ConfigMap yet: the first run"
    );

    let web = WorkloadRef {
        kind: "Deployment".into(),
        namespace: "shop".into(),
        name: "web".into(),
    };
    let db = WorkloadRef {
        kind: "StatefulSet".into(),
        namespace: "shop".into(),
        name: "db".into(),
    };
    let cooldown = Duration::from_secs(1800);
    let long_ago = SystemTime::now() - Duration::from_secs(3600);
    let now = SystemTime::now();
    let earlier = [(db.clone(), long_ago)].into_iter().collect();
    store
        .save(&client, earlier, [web.clone()], now, cooldown)
        .await?;

    let loaded = store.load(&client).await?;
    assert_eq!(
        loaded.keys().collect::<Vec<_>>(),
        [&web],
        "db's cooldown had passed and is dropped"
    );
    let at = loaded[&web];
    assert!(now.duration_since(at).unwrap_or_default() < Duration::from_secs(1));
    // A second save replaces the first.
    store
        .save(&client, loaded, [db.clone()], now, cooldown)
        .await?;
    assert_eq!(store.load(&client).await?.len(), 2);
    Ok(())
}
