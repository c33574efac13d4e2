//! `GET /debug/nodes` is served only when enabled, and its answer stays bounded however
//! many nodes and recent pods the extender holds: `?limit=` and `?node=`, with totals.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tidal_core::estimate::Estimate;
use tidal_core::node_identity::NodeInfo;
use tidal_scheduler_extender::cluster::RecentPod;
use tidal_scheduler_extender::{Extender, ExtenderConfig, http};

const NODES: usize = 250;
const PODS: usize = 300;

/// Serves an extender that knows `NODES` nodes and `PODS` recent pods on the first.
async fn serve(debug_endpoints: bool) -> anyhow::Result<String> {
    let config = ExtenderConfig {
        debug_endpoints,
        ..ExtenderConfig::default()
    };
    let ext = Extender::new(&config, Duration::from_secs(60)).map_err(anyhow::Error::msg)?;
    let nodes = (0..NODES).map(|i| NodeInfo::named(format!("node-{i:03}")));
    ext.cluster.write().replace_nodes(nodes);
    for i in 0..PODS {
        let pod = RecentPod {
            uid: format!("uid-{i}"),
            bound_at: SystemTime::now(),
            estimate: Estimate::default(),
            observed: true,
        };
        ext.cluster.write().record_pod("node-000", pod);
    }
    let app = http::router(Arc::new(ext), "/scheduler", config.max_body_bytes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

async fn get(url: &str, path: &str) -> anyhow::Result<(u16, Value)> {
    let response = reqwest::get(format!("{url}{path}")).await?;
    Ok((response.status().as_u16(), response.json().await?))
}

fn names(answer: &Value) -> Vec<&str> {
    let nodes = answer["nodes"].as_array().into_iter().flatten();
    nodes.filter_map(|n| n["name"].as_str()).collect()
}

#[tokio::test]
async fn debug_nodes_is_off_unless_enabled() -> anyhow::Result<()> {
    let url = serve(false).await?;
    let (status, answer) = get(&url, "/debug/nodes").await?;
    assert_eq!(status, 404);
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(error.contains("extender.debug_endpoints"), "{error}");
    Ok(())
}

#[tokio::test]
async fn debug_nodes_is_bounded_and_filters_by_node() -> anyhow::Result<()> {
    let url = serve(true).await?;

    let (status, all) = get(&url, "/debug/nodes").await?;
    assert_eq!(status, 200);
    assert_eq!(all["nodes_total"], NODES);
    assert_eq!(names(&all).len(), 100, "the default limit");
    let first = &all["nodes"][0];
    assert_eq!(first["name"], "node-000");
    assert_eq!(first["recent_pod_count"], PODS);
    assert_eq!(first["recent_pods"].as_array().map(Vec::len), Some(100));

    let (_, few) = get(&url, "/debug/nodes?limit=5").await?;
    assert_eq!(
        names(&few),
        ["node-000", "node-001", "node-002", "node-003", "node-004"]
    );
    assert_eq!(
        few["nodes"][0]["recent_pods"].as_array().map(Vec::len),
        Some(5)
    );
    assert_eq!(few["nodes_total"], NODES);

    let (_, one) = get(&url, "/debug/nodes?node=node-123").await?;
    assert_eq!(names(&one), ["node-123"]);
    assert_eq!(one["nodes_total"], 1);

    let (_, most) = get(&url, "/debug/nodes?limit=1000000").await?;
    assert_eq!(most["limit"], 1000);
    assert_eq!(names(&most).len(), NODES);

    let (status, bad) = get(&url, "/debug/nodes?limit=many").await?;
    assert_eq!(status, 400);
    assert!(bad["error"].is_string(), "{bad}");
    Ok(())
}
