//! The descheduler: a dry run against a hot node. A real Prometheus holds two hours of
//! node-exporter and cAdvisor series; the stand-in API server holds the nodes, pods,
//! Deployments and PodDisruptionBudgets; `tidal deschedule --dry-run` plans which pods to move
//! and asks the Eviction API (in dry-run mode) about each.

use anyhow::Context as _;
use tidal_core::load::LoadConfig;
use tidal_core::prometheus::{PrometheusClient, PrometheusConfig};
use tidal_core::scoring::{MissingMetrics, Scorer};
use tidal_descheduler::config::DeschedulerConfig;
use tidal_descheduler::run::{Inputs, run_once};
use tidal_scheduler_extender::ExtenderConfig;
use tidal_testkit::fake_apiserver::FakeApiServer;
use tidal_testkit::metrics::{ClusterMetrics, Container, Node, Pod};
use tidal_testkit::objects;
use tidal_testkit::prometheus::Prometheus;

const GIB: u64 = 1 << 30;

/// `(pod, deployment)` on the hot node.
const HOT_PODS: [(&str, &str); 5] = [
    ("web-1", "web"),
    ("web-2", "web"),
    ("api-1", "api"),
    ("api-2", "api"),
    ("cache-0", "cache"),
];

/// `(deployment, replicas, disruptions its PodDisruptionBudget allows now)`.
const WORKLOADS: [(&str, i32, i32); 3] = [("web", 3, 1), ("api", 3, 0), ("cache", 1, 1)];

pub async fn run() -> anyhow::Result<()> {
    println!();
    super::step(
        "tidal deschedule --dry-run: node-a at 90% CPU for the last hour, node-b and node-c cool",
    );
    let mut data = ClusterMetrics::new();
    for (name, ip, busy) in [
        ("node-a", "10.0.2.1", 0.9),
        ("node-b", "10.0.2.2", 0.1),
        ("node-c", "10.0.2.3", 0.15),
    ] {
        data = data.node(
            Node::new(name, format!("{ip}:9100"))
                .cpus(4)
                .memory_bytes(16 * GIB)
                .busy(busy)
                .memory_used(0.3),
        );
    }
    for (pod, app) in HOT_PODS {
        data = data.pod(
            Pod::new("shop", pod, "node-a")
                .owner("ReplicaSet", format!("{app}-rs"))
                .container(Container::new("c").cpu(0.7).memory(1e9)),
        );
    }
    let prometheus = Prometheus::start(&data.to_openmetrics())
        .await?
        .context("prometheus is not installed: run ./scripts/demo")?;
    let api = FakeApiServer::start().await?;
    for (name, ip) in [
        ("node-a", "10.0.2.1"),
        ("node-b", "10.0.2.2"),
        ("node-c", "10.0.2.3"),
    ] {
        api.add(&objects::node(name, ip, "4", "16Gi")?)?;
    }
    for (name, replicas, allowed) in WORKLOADS {
        let (deployment, replica_set, budget) =
            objects::deployment("shop", name, replicas, allowed)?;
        api.add(&deployment)?;
        api.add(&replica_set)?;
        api.add(&budget)?;
    }
    for (pod, app) in HOT_PODS {
        api.add(&objects::running_pod(
            "shop", pod, app, "node-a", "500m", "512Mi",
        )?)?;
    }

    let mut kube_config = api.config();
    // As `tidal deschedule` does: a 429 is a PodDisruptionBudget's answer, not a retry.
    kube_config.default_retry = false;
    let kube = kube::Client::try_from(kube_config)?;
    let prometheus = PrometheusClient::new(&PrometheusConfig {
        url: prometheus.url(),
        ..PrometheusConfig::default()
    })?;
    let load = LoadConfig::default();
    let extender = ExtenderConfig::default();
    let scorer = Scorer {
        thresholds: extender.thresholds,
        weights: extender.weights,
        max_age: load.max_age,
        on_missing: MissingMetrics::FailClosed,
    };
    let config = DeschedulerConfig::default();
    let server = api.url();
    let inputs = Inputs {
        kube: &kube,
        server: &server,
        prometheus: &prometheus,
        load: &load,
        config: &config,
        scorer: &scorer,
    };
    let report = run_once(&inputs, true).await?;
    println!("\n{}", tidal_descheduler::report::table(&report));
    println!(
        "  web has a PodDisruptionBudget that allows one disruption: one web pod moves, to a node\n  \
         the extender would also choose. api's budget allows none, and cache has a single replica:\n  \
         both stay. As a CronJob it runs every few minutes; cooldowns stop ping-pong."
    );
    Ok(())
}
