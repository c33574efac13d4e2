//! A whole run against the fake API server and a real Prometheus: the hot node is
//! relieved, the PodDisruptionBudget-protected workload keeps its budget, a second
//! run inside the cooldown evicts nothing from the same workload, and a dry run
//! evicts nothing at all.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use tidal_core::load::LoadConfig;
use tidal_core::prometheus::{PrometheusClient, PrometheusConfig};
use tidal_core::scoring::{MissingMetrics, Scorer, Thresholds, Weights};
use tidal_descheduler::config::DeschedulerConfig;
use tidal_descheduler::execute::Outcome;
use tidal_descheduler::run::{Inputs, run_once};
use tidal_testkit::fake_apiserver::FakeApiServer;
use tidal_testkit::metrics::{ClusterMetrics, Container, Node, Pod as PodSeries};
use tidal_testkit::objects;
use tidal_testkit::prometheus::Prometheus;

const GIB: u64 = 1 << 30;

fn add_workload(
    api: &FakeApiServer,
    name: &str,
    replicas: i32,
    allowed: i32,
) -> anyhow::Result<()> {
    let (deployment, replica_set, budget) = objects::deployment("shop", name, replicas, allowed)?;
    api.add(&deployment)?;
    api.add(&replica_set)?;
    api.add(&budget)?;
    Ok(())
}

fn add_pod(api: &FakeApiServer, name: &str, app: &str, node: &str) -> anyhow::Result<()> {
    api.add(&objects::running_pod(
        "shop", name, app, node, "500m", "512Mi",
    )?)?;
    Ok(())
}

fn assert_no_eviction_sent(api: &FakeApiServer) {
    let evictions: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/eviction"))
        .collect();
    assert!(evictions.is_empty(), "{evictions:?}");
}

/// What a run needs, as `tidal deschedule` builds it: a client that gives 429s back,
/// and the extender's scorer failing closed.
struct Setup {
    kube: kube::Client,
    server: String,
    prometheus: PrometheusClient,
    load: LoadConfig,
    config: DeschedulerConfig,
    scorer: Scorer,
}

impl Setup {
    fn new(api: &FakeApiServer, prometheus_url: String) -> anyhow::Result<Self> {
        let mut kube_config = api.config();
        kube_config.default_retry = false;
        let load = LoadConfig {
            max_age: Duration::from_secs(120),
            ..LoadConfig::default()
        };
        let prometheus = PrometheusClient::new(&PrometheusConfig {
            url: prometheus_url,
            timeout: Duration::from_secs(2),
            ..Default::default()
        })?;
        let scorer = Scorer {
            thresholds: Thresholds::default(),
            weights: Weights::default(),
            max_age: load.max_age,
            on_missing: MissingMetrics::FailClosed,
        };
        Ok(Self {
            server: api.url(),
            kube: kube::Client::try_from(kube_config)?,
            prometheus,
            load,
            config: DeschedulerConfig::default(),
            scorer,
        })
    }

    fn inputs(&self) -> Inputs<'_> {
        Inputs {
            kube: &self.kube,
            server: &self.server,
            prometheus: &self.prometheus,
            load: &self.load,
            config: &self.config,
            scorer: &self.scorer,
        }
    }
}

/// node-a runs 4 busy pods on 4 cores (90 %); node-b and node-c are nearly idle. web's budget
/// allows one disruption, api's none. `None` when Prometheus is not installed.
async fn hot_node_a() -> anyhow::Result<Option<(Prometheus, FakeApiServer)>> {
    let mut data = ClusterMetrics::new()
        .node(
            Node::new("node-a", "10.0.0.1:9100")
                .cpus(4)
                .memory_bytes(16 * GIB)
                .busy(0.9)
                .memory_used(0.4),
        )
        .node(
            Node::new("node-b", "10.0.0.2:9100")
                .cpus(4)
                .memory_bytes(16 * GIB)
                .busy(0.1)
                .memory_used(0.2),
        )
        .node(
            Node::new("node-c", "10.0.0.3:9100")
                .cpus(4)
                .memory_bytes(16 * GIB)
                .busy(0.15)
                .memory_used(0.2),
        );
    let pods = [
        ("web-1", "web"),
        ("web-2", "web"),
        ("api-1", "api"),
        ("api-2", "api"),
    ];
    for (name, app) in pods {
        let container = Container::new("c").cpu(0.8).memory(1e9);
        data = data.pod(
            PodSeries::new("shop", name, "node-a")
                .owner("ReplicaSet", format!("{app}-rs"))
                .container(container),
        );
    }
    let Some(prometheus) = Prometheus::start(&data.to_openmetrics()).await? else {
        return Ok(None);
    };
    let api = FakeApiServer::start().await?;
    for (name, ip) in [
        ("node-a", "10.0.0.1"),
        ("node-b", "10.0.0.2"),
        ("node-c", "10.0.0.3"),
    ] {
        api.add(&objects::node(name, ip, "4", "16Gi")?)?;
    }
    add_workload(&api, "web", 3, 1)?;
    add_workload(&api, "api", 3, 0)?;
    for (name, app) in pods {
        add_pod(&api, name, app, "node-a")?;
    }
    Ok(Some((prometheus, api)))
}

#[tokio::test]
async fn relieves_the_hot_node_within_budgets_and_cooldowns() -> anyhow::Result<()> {
    let Some((prometheus, api)) = hot_node_a().await? else {
        return Ok(());
    };
    let setup = Setup::new(&api, prometheus.url())?;
    let inputs = setup.inputs();

    // A dry run asks the API server and changes nothing.
    let dry = run_once(&inputs, true).await?;
    assert_eq!(
        dry.plan.evictions.len(),
        1,
        "{}",
        tidal_descheduler::report::table(&dry)
    );
    assert!(
        dry.attempts
            .iter()
            .all(|a| a.outcome == Outcome::WouldEvict)
    );
    assert_eq!(api.list::<Pod>()?.len(), 4);

    let first = run_once(&inputs, false).await?;
    let table = tidal_descheduler::report::table(&first);
    assert_eq!(first.plan.evictions.len(), 1, "{table}");
    let evicted = &first.plan.evictions[0];
    assert_eq!(
        evicted.pod.name.split('-').next(),
        Some("web"),
        "api is at its PDB limit: {table}"
    );
    assert!(
        ["node-b", "node-c"].contains(&evicted.to.as_str()),
        "{table}"
    );
    assert_eq!(first.attempts[0].outcome, Outcome::Evicted);
    assert!(api.get::<Pod>("shop", &evicted.pod.name).is_none());
    let web_budget = api
        .get::<PodDisruptionBudget>("shop", "web")
        .and_then(|p| p.status);
    assert_eq!(
        web_budget.map(|s| s.disruptions_allowed),
        Some(0),
        "the budget was spent, not overspent"
    );
    assert!(
        first
            .plan
            .skipped
            .iter()
            .any(|s| s.pod.name.starts_with("api")),
        "{table}"
    );
    assert!(table.contains("node-a") && table.contains("hot"), "{table}");
    let state = api
        .get::<ConfigMap>("tidal-system", "tidal-descheduler-state")
        .and_then(|c| c.data);
    assert!(state.is_some_and(|d| d.contains_key("Deployment_shop_web")));

    // `kubectl describe pod` shows why it moved.
    let events = api.list::<k8s_openapi::api::events::v1::Event>()?;
    let note = events
        .iter()
        .find(|e| {
            e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(evicted.pod.name.as_str())
        })
        .and_then(|e| e.note.clone())
        .unwrap_or_default();
    assert!(
        note.contains("relieve hot node node-a"),
        "event note: {note:?}"
    );

    // The metrics still say node-a is hot (they are static), but web is cooling down
    // and api's budget allows nothing: the second run evicts nothing.
    api.clear_requests();
    let second = run_once(&inputs, false).await?;
    assert!(
        second.plan.evictions.is_empty(),
        "{}",
        tidal_descheduler::report::table(&second)
    );
    assert_no_eviction_sent(&api);
    Ok(())
}

#[tokio::test]
async fn without_prometheus_nothing_moves_and_the_report_says_why() -> anyhow::Result<()> {
    let api = FakeApiServer::start().await?;
    api.add(&objects::node("node-a", "10.0.0.1", "4", "16Gi")?)?;
    add_workload(&api, "web", 3, 1)?;
    add_pod(&api, "web-1", "web", "node-a")?;
    // Nothing listens on port 1.
    let setup = Setup::new(&api, "http://127.0.0.1:1".to_string())?;
    let inputs = setup.inputs();
    let report = run_once(&inputs, false).await?;
    assert!(report.plan.evictions.is_empty());
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.starts_with("sustained node load unavailable")),
        "{:?}",
        report.warnings
    );
    assert_no_eviction_sent(&api);
    Ok(())
}

/// A permission problem and a connection problem read differently, both naming the server;
/// the 403 names the verb and resource refused. Nothing is evicted either way.
#[tokio::test]
async fn forbidden_and_unreachable_api_servers_read_differently() -> anyhow::Result<()> {
    let api = FakeApiServer::start().await?;
    api.deny("list", "poddisruptionbudgets");
    // Prometheus is never asked: the cluster is read first.
    let setup = Setup::new(&api, "http://127.0.0.1:9".into())?;
    let forbidden = match run_once(&setup.inputs(), false).await {
        Ok(_) => anyhow::bail!("a run without list on poddisruptionbudgets went ahead"),
        Err(e) => e.to_string(),
    };
    for part in [
        format!("the API server at {}", api.url()),
        "forbids this identity to list poddisruptionbudgets (403 Forbidden".to_string(),
        "kubectl auth can-i list poddisruptionbudgets".to_string(),
        "nothing was evicted".to_string(),
    ] {
        assert!(forbidden.contains(&part), "{part:?} missing: {forbidden}");
    }

    // A client that has not talked to the server yet: none of its connections is pooled.
    let fresh = Setup::new(&api, "http://127.0.0.1:9".into())?;
    let url = api.url();
    drop(api);
    let unreachable = match run_once(&fresh.inputs(), false).await {
        Ok(_) => anyhow::bail!("a run against a stopped API server went ahead"),
        Err(e) => e.to_string(),
    };
    // (The CLI test sees the cause itself, "Connection refused", on a port nothing held.)
    for part in [
        format!("cannot reach the API server at {url} to list"),
        "nothing was evicted".to_string(),
    ] {
        assert!(
            unreachable.contains(&part),
            "{part:?} missing: {unreachable}"
        );
    }
    assert!(!unreachable.contains("403"), "{unreachable}");
    Ok(())
}

/// The run records every planned workload's cooldown before its first eviction: killed right
/// after evicting (the API server answers nothing more, as when the process dies there), the
/// next run still spares the moved workload, even once its budget allows again.
#[tokio::test]
async fn a_run_killed_after_evicting_leaves_its_workloads_on_cooldown() -> anyhow::Result<()> {
    let Some((prometheus, api)) = hot_node_a().await? else {
        return Ok(());
    };
    let setup = Setup::new(&api, prometheus.url())?;
    api.go_down_after_evictions(1);
    let first = run_once(&setup.inputs(), false).await?;
    assert_eq!(first.attempts.len(), 1);
    assert_eq!(first.attempts[0].outcome, Outcome::Evicted);
    api.recover();
    // The ReplicaSet replaced the pod and the budget allows a disruption again.
    api.modify::<PodDisruptionBudget>("shop", "web", |pdb| {
        if let Some(status) = pdb.status.as_mut() {
            status.disruptions_allowed = 1;
        }
    })?;
    api.clear_requests();
    let second = run_once(&setup.inputs(), false).await?;
    let table = tidal_descheduler::report::table(&second);
    assert!(second.plan.evictions.is_empty(), "{table}");
    assert!(table.contains("cooling down"), "{table}");
    assert_no_eviction_sent(&api);
    Ok(())
}

/// Without a place to record the intent, nothing is evicted.
#[tokio::test]
async fn no_eviction_without_a_recorded_intent() -> anyhow::Result<()> {
    let Some((prometheus, api)) = hot_node_a().await? else {
        return Ok(());
    };
    let setup = Setup::new(&api, prometheus.url())?;
    api.deny("patch", "configmaps");
    let refused = match run_once(&setup.inputs(), false).await {
        Ok(report) => anyhow::bail!(
            "the run went ahead:\n{}",
            tidal_descheduler::report::table(&report)
        ),
        Err(e) => e.to_string(),
    };
    assert!(
        refused.contains("forbids this identity to patch configmaps/tidal-descheduler-state")
            && refused.contains("nothing was evicted"),
        "{refused}"
    );
    assert_eq!(api.list::<Pod>()?.len(), 4);
    assert_no_eviction_sent(&api);
    Ok(())
}

/// Prometheus answers the node load but not the pods' usage (it died in between, or the query
/// is refused): no pod of unknown usage is moved, and the report says why.
#[tokio::test]
async fn no_eviction_on_partial_figures() -> anyhow::Result<()> {
    let Some((prometheus, api)) = hot_node_a().await? else {
        return Ok(());
    };
    let mut setup = Setup::new(&api, prometheus.url())?;
    setup.config.pod_usage.queries.cpu = "sum by (namespace, pod) (".to_string();
    let report = run_once(&setup.inputs(), false).await?;
    let table = tidal_descheduler::report::table(&report);
    assert!(report.plan.evictions.is_empty(), "{table}");
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.starts_with("pod usage unavailable")),
        "{:?}",
        report.warnings
    );
    assert_no_eviction_sent(&api);
    Ok(())
}
