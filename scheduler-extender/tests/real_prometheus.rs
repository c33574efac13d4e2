//! The extender end to end against a real Prometheus holding node-exporter series whose
//! `instance` is `IP:port`, with nodes from the fake API server: hot nodes are filtered
//! with a reason, the cold node scores highest, and a Prometheus outage degrades to
//! fail-open answers and recovers. Matching series to nodes is also checked against
//! VictoriaMetrics.

mod common;

use std::time::Duration;

use serde_json::{Value, json};
use tidal_testkit::fake_apiserver::FakeApiServer;
use tidal_testkit::metrics::{ClusterMetrics, Node};
use tidal_testkit::objects;
use tidal_testkit::prometheus::Prometheus;
use tidal_testkit::tsdb::{self, Tsdb};

const NODES: [(&str, &str, f64); 3] = [
    ("node-hot", "10.0.0.1", 0.90),
    ("node-warm", "10.0.0.2", 0.45),
    ("node-cold", "10.0.0.3", 0.10),
];

async fn call(ext: &common::RunningExtender, verb: &str, args: &Value) -> anyhow::Result<Value> {
    let response = ext
        .http
        .post(format!("{}/{verb}", ext.prefix()))
        .json(args)
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 200,
        "{verb} answered {}",
        response.status()
    );
    Ok(response.json().await?)
}

fn scores(answer: &Value) -> Vec<(String, i64)> {
    answer
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e["Host"].as_str()?.to_string(), e["Score"].as_i64()?)))
        .collect()
}

#[tokio::test]
async fn hot_node_filtered_cold_node_preferred_and_outage_fails_open() -> anyhow::Result<()> {
    let mut data = ClusterMetrics::new();
    for (name, ip, busy) in NODES {
        data = data.node(
            Node::new(name, format!("{ip}:9100"))
                .cpus(4)
                .busy(busy)
                .memory_used(0.4),
        );
    }
    let Some(mut prometheus) = Prometheus::start(&data.to_openmetrics()).await? else {
        return Ok(());
    };
    let api = FakeApiServer::start().await?;
    for (name, ip, _) in NODES {
        api.add(&objects::node(name, ip, "4", "16Gi")?)?;
    }
    let ext = common::start(prometheus.url(), Some(api.client()), common::load_config()).await?;

    // The node watch maps each `IP:9100` series to its node by InternalIP.
    common::wait_until(
        "all three nodes have a load",
        Duration::from_secs(20),
        || async {
            let debug = ext.debug().await?;
            Ok(debug["load"]["unmapped_nodes"] == json!([])
                && debug["load"]["nodes_with_load"] == 3
                && debug["nodes"].as_array().map(Vec::len) == Some(3))
        },
    )
    .await?;
    assert_eq!(ext.get("/readyz").await?, (200, "ready\n".to_string()));

    let pod = objects::pod("shop", "web-1", "500m", "256Mi")?;
    let names: Vec<&str> = NODES.iter().map(|n| n.0).collect();
    let args = json!({"Pod": pod, "Nodes": null, "NodeNames": names});

    let filtered = call(&ext, "filter", &args).await?;
    assert_eq!(
        filtered["NodeNames"],
        json!(["node-warm", "node-cold"]),
        "{filtered}"
    );
    let reason = filtered["FailedNodes"]["node-hot"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.starts_with("cpu average 1"),
        "hot node's reason: {reason}"
    );
    let ranked = scores(&call(&ext, "prioritize", &args).await?);
    let best = ranked
        .iter()
        .max_by_key(|(_, s)| *s)
        .map(|(n, _)| n.as_str());
    assert_eq!(best, Some("node-cold"), "{ranked:?}");
    let score = |name: &str| ranked.iter().find(|(n, _)| n == name).map(|(_, s)| *s);
    assert!(score("node-cold") > score("node-warm") && score("node-warm") > score("node-hot"));

    // Prometheus goes away: once the load is older than max_age, every node passes
    // with the neutral score, and readiness and metrics say why.
    prometheus.stop();
    common::wait_until(
        "readyz reports the stale load",
        Duration::from_secs(20),
        || async {
            Ok(ext
                .get("/readyz")
                .await?
                .1
                .starts_with("ready, degraded (fail-open)"))
        },
    )
    .await?;
    let filtered = call(&ext, "filter", &args).await?;
    assert_eq!(filtered["NodeNames"], json!(names), "{filtered}");
    let ranked = scores(&call(&ext, "prioritize", &args).await?);
    assert!(ranked.iter().all(|(_, s)| *s == 5), "{ranked:?}");
    let (_, metrics) = ext.get("/metrics").await?;
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    assert!(
        value("tidal_extender_load_refresh_errors_total") >= 1.0,
        "{metrics}"
    );
    assert!(value("tidal_extender_load_age_seconds") > 2.0, "{metrics}");
    assert!(
        value("tidal_extender_unknown_load_verdicts_total{policy=\"fail-open\"}") >= 3.0,
        "{metrics}"
    );
    let debug = ext.debug().await?;
    assert!(
        debug["load"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot reach Prometheus")),
        "{debug}"
    );

    // Prometheus is back: the next refresh restores load-aware answers.
    prometheus.restart().await?;
    common::wait_until("readyz is ready again", Duration::from_secs(20), || async {
        Ok(ext.get("/readyz").await? == (200, "ready\n".to_string()))
    })
    .await?;
    let filtered = call(&ext, "filter", &args).await?;
    assert_eq!(
        filtered["NodeNames"],
        json!(["node-warm", "node-cold"]),
        "{filtered}"
    );

    ext.shutdown().await
}

#[tokio::test]
async fn without_cluster_access_series_named_by_node_still_work() -> anyhow::Result<()> {
    // kube-prometheus relabels `instance` to the node name; with no kubeconfig the
    // extender matches series to the names the scheduler sends.
    let data = ClusterMetrics::new()
        .node(Node::new("node-a", "node-a").busy(0.95))
        .node(Node::new("node-b", "node-b:9100").busy(0.05));
    for store in tsdb::start_all(&data.to_openmetrics()).await? {
        eprintln!("checking against {}", store.name());
        named_by_node_on(&store).await?;
    }
    Ok(())
}

async fn named_by_node_on(store: &Tsdb) -> anyhow::Result<()> {
    let ext = common::start(store.url(), None, common::load_config()).await?;
    common::wait_until("the first refresh", Duration::from_secs(20), || async {
        Ok(ext.get("/readyz").await? == (200, "ready\n".to_string()))
    })
    .await?;
    let pod = objects::pod("shop", "web-1", "100m", "64Mi")?;
    let args = json!({"Pod": pod, "Nodes": null, "NodeNames": ["node-a", "node-b", "node-c"]});
    let filtered = call(&ext, "filter", &args).await?;
    // node-c has no series: it passes under fail-open, and says so in the debug view.
    assert_eq!(
        filtered["NodeNames"],
        json!(["node-b", "node-c"]),
        "{filtered}"
    );
    let debug = ext.debug().await?;
    let node_c = debug["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["name"] == "node-c");
    let reason = node_c
        .and_then(|n| n["last_verdict"]["reason"].as_str())
        .unwrap_or_default();
    assert_eq!(reason, "no load from Prometheus for this node (fail-open)");
    ext.shutdown().await
}

#[tokio::test]
async fn series_and_nodes_that_do_not_match_are_reported() -> anyhow::Result<()> {
    let data = ClusterMetrics::new()
        .node(Node::new("node-a", "10.0.0.1:9100").busy(0.2))
        // An exporter on a machine that is not (or no longer) a node.
        .node(Node::new("stray", "10.0.0.99:9100").busy(0.2));
    for store in tsdb::start_all(&data.to_openmetrics()).await? {
        eprintln!("checking against {}", store.name());
        mismatches_on(&store).await?;
    }
    Ok(())
}

async fn mismatches_on(store: &Tsdb) -> anyhow::Result<()> {
    let api = FakeApiServer::start().await?;
    api.add(&objects::node("node-a", "10.0.0.1", "4", "16Gi")?)?;
    // A node whose node-exporter is missing.
    api.add(&objects::node("node-dark", "10.0.0.2", "4", "16Gi")?)?;
    let ext = common::start(store.url(), Some(api.client()), common::load_config()).await?;
    common::wait_until(
        "the mismatch is reported",
        Duration::from_secs(20),
        || async {
            let load = &ext.debug().await?["load"];
            Ok(load["unmapped_series"] == json!(["10.0.0.99"])
                && load["unmapped_nodes"] == json!(["node-dark"]))
        },
    )
    .await?;
    let (_, metrics) = ext.get("/metrics").await?;
    assert!(
        metrics
            .lines()
            .any(|l| l == "tidal_extender_unmapped_series 1"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l == "tidal_extender_unmapped_nodes 1"),
        "{metrics}"
    );

    let pod = objects::pod("shop", "web-1", "100m", "64Mi")?;
    let args = json!({"Pod": pod, "Nodes": null, "NodeNames": ["node-a", "node-dark"]});
    let scores = scores(&call(&ext, "prioritize", &args).await?);
    assert_eq!(
        scores[1],
        ("node-dark".to_string(), 5),
        "no load: neutral score under fail-open"
    );
    assert!(scores[0].1 > 5, "{scores:?}");
    ext.shutdown().await
}
