//! Without cluster access, nodes are learned from full-`Nodes` requests: forgotten once
//! no request has sent them for a while, never more than a bound, each drop counted.

use std::time::Duration;

use axum::body::Bytes;
use serde_json::{Value, json};
use tidal_core::load::LoadConfig;
use tidal_core::prometheus::{PrometheusClient, PrometheusConfig};
use tidal_scheduler_extender::cluster::{LEARNED_NODE_REFRESHES, MAX_LEARNED_NODES};
use tidal_scheduler_extender::http::filter_call;
use tidal_scheduler_extender::refresh::refresh_once;
use tidal_scheduler_extender::{Extender, ExtenderConfig};
use tidal_testkit::fake_prometheus::{self, FakePrometheus};
use tidal_testkit::objects;

fn extender() -> Extender {
    Extender::new(&ExtenderConfig::default(), Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("default config: {e}"))
}

/// A filter call in full-`Nodes` mode, the way a scheduler that is not
/// `nodeCacheCapable` sends one.
fn filter_nodes<S: AsRef<str>>(ext: &Extender, names: &[S]) {
    let pod = objects::pod("shop", "web-1", "100m", "64Mi").unwrap_or_else(|e| panic!("{e}"));
    let items: Vec<Value> = names
        .iter()
        .map(|name| {
            json!({
                "metadata": {"name": name.as_ref()},
                "status": {"allocatable": {"cpu": "4", "memory": "16Gi"}},
            })
        })
        .collect();
    let body = json!({"Pod": pod, "Nodes": {"items": items}, "NodeNames": null});
    filter_call(ext, &Bytes::from(body.to_string())).unwrap_or_else(|e| panic!("{e}"));
}

fn dropped(ext: &Extender, reason: &str) -> String {
    let metrics = ext.metrics.encode().unwrap_or_default();
    let name = format!("tidal_extender_learned_nodes_dropped_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&name))
        .unwrap_or("none")
        .to_string()
}

#[tokio::test]
async fn a_learned_node_no_request_sends_any_more_is_forgotten() -> anyhow::Result<()> {
    let prometheus = FakePrometheus::start().await?;
    let client = PrometheusClient::new(&PrometheusConfig {
        url: prometheus.url(),
        ..PrometheusConfig::default()
    })?;
    let load = LoadConfig {
        queries: fake_prometheus::queries(),
        ..LoadConfig::default()
    };
    let ext = extender();
    filter_nodes(&ext, &["node-a", "node-b", "node-c"]);
    assert_eq!(ext.cluster.read().node_count(), 3);
    for refresh in 1..=LEARNED_NODE_REFRESHES {
        assert_eq!(ext.cluster.read().node_count(), 3, "refresh {refresh}");
        refresh_once(&ext, &client, &load).await;
        // Only node-a is sent again.
        filter_nodes(&ext, &["node-a"]);
    }
    let cluster = ext.cluster.read();
    let known: Vec<&str> = cluster.nodes().map(|n| n.name.as_str()).collect();
    assert_eq!(known, ["node-a"]);
    drop(cluster);
    assert_eq!(dropped(&ext, "unseen"), "2");
    Ok(())
}

#[test]
fn no_more_nodes_are_learned_than_the_bound() {
    let ext = extender();
    let names: Vec<String> = (0..MAX_LEARNED_NODES + 5)
        .map(|i| format!("node-{i:05}"))
        .collect();
    filter_nodes(&ext, &names);
    assert_eq!(ext.cluster.read().node_count(), MAX_LEARNED_NODES);
    assert_eq!(dropped(&ext, "over_cap"), "5");
    // Known nodes are still refreshed at the bound.
    filter_nodes(&ext, &names[..10]);
    assert_eq!(dropped(&ext, "over_cap"), "5");
}
