//! A burst of pods onto nodes that report equal load spreads out instead of herding
//! onto the first of them, because pods bound since the last sample count by their
//! estimate: assumed at prioritize time, then confirmed by the pod watch.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use tidal_testkit::fake_apiserver::FakeApiServer;
use tidal_testkit::metrics::{ClusterMetrics, Node};
use tidal_testkit::objects;
use tidal_testkit::prometheus::Prometheus;
use tidal_testkit::scheduler::SchedulerSim;

const NODES: usize = 10;
const PODS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_30_pods_spreads_over_10_equal_nodes() -> anyhow::Result<()> {
    let names: Vec<String> = (0..NODES).map(|i| format!("node-{i:02}")).collect();
    let mut data = ClusterMetrics::new();
    for (i, name) in names.iter().enumerate() {
        data = data.node(
            Node::new(name, format!("10.0.1.{i}:9100"))
                .cpus(4)
                .busy(0.05)
                .memory_used(0.5),
        );
    }
    let Some(prometheus) = Prometheus::start(&data.to_openmetrics()).await? else {
        return Ok(());
    };
    let api = FakeApiServer::start().await?;
    for (i, name) in names.iter().enumerate() {
        api.add(&objects::node(name, &format!("10.0.1.{i}"), "4", "16Gi")?)?;
    }
    let pods: Vec<Pod> = (0..PODS)
        .map(|i| {
            api.add(&objects::pod(
                "shop",
                &format!("web-{i:02}"),
                "500m",
                "256Mi",
            )?)
        })
        .collect::<anyhow::Result<_>>()?;
    let ext = common::start(prometheus.url(), Some(api.client()), common::load_config()).await?;
    common::wait_until("every node has a load", Duration::from_secs(20), || async {
        Ok(
            ext.debug().await?["load"]["unmapped_nodes"] == serde_json::json!([])
                && ext.debug().await?["load"]["nodes_with_load"] == NODES,
        )
    })
    .await?;

    // Back to back, as kube-scheduler does: no waiting for the watch between pods.
    let scheduler = SchedulerSim::new(ext.prefix(), &api);
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for pod in &pods {
        let placement = scheduler.schedule(pod, &names).await?;
        let node = placement
            .node
            .ok_or_else(|| anyhow::anyhow!("no node for a pod: {:?}", placement.failed))?;
        *per_node.entry(node).or_default() += 1;
    }

    assert_eq!(per_node.len(), NODES, "every node gets pods: {per_node:?}");
    let most = per_node.values().copied().max().unwrap_or(0);
    assert!(
        most <= 4,
        "no node takes more than 4 of 30 pods: {per_node:?}"
    );

    // The watch has seen every binding: each pod now counts as observed on its node.
    common::wait_until(
        "the watch confirms all 30 bindings",
        Duration::from_secs(20),
        || async {
            let debug = ext.debug().await?;
            let observed = debug["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|n| n["recent_pods"].as_array().into_iter().flatten())
                .filter(|p| p["observed"] == true)
                .count();
            Ok(observed == PODS)
        },
    )
    .await?;
    ext.shutdown().await
}
