//! The Prometheus harness against the real server: backfilled synthetic
//! metrics answer the PromQL Tidal uses. Each test skips when Prometheus is
//! not installed, unless TIDAL_REQUIRE_PROMETHEUS=1.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use tidal_testkit::metrics::{ClusterMetrics, Container, Node, Pod, Profile};
use tidal_testkit::prometheus::Prometheus;

const CPU_BUSY: &str = r#"sum by (instance) (rate(node_cpu_seconds_total{mode!="idle",mode!="iowait",mode!="steal"}[5m]))"#;
const MEMORY_USED: &str = "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes";

/// node-N at 10.0.0.N:9100 with 4 CPUs: (N, busy fraction, memory used fraction).
const NODES: [(u32, f64, f64); 3] = [(1, 0.9, 0.8), (2, 0.5, 0.5), (3, 0.1, 0.2)];

fn three_nodes() -> ClusterMetrics {
    NODES
        .iter()
        .fold(ClusterMetrics::new(), |cluster, &(n, busy, memory)| {
            cluster.node(
                Node::new(format!("node-{n}"), format!("10.0.0.{n}:9100"))
                    .cpus(4)
                    .busy(busy)
                    .memory_used(memory)
                    .exporter_label("node", format!("node-{n}")),
            )
        })
}

fn client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()?)
}

/// `GET /api/v1/query` (at `time`, default now) or `/api/v1/query_range`;
/// returns `data.result`.
async fn api(
    client: &reqwest::Client,
    prom: &Prometheus,
    path: &str,
    params: &[(&str, String)],
) -> Result<Vec<Value>> {
    let url = format!("{}/api/v1/{path}", prom.url());
    let body: Value = client
        .get(&url)
        .query(params)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    ensure!(body["status"] == "success", "{url} {params:?}: {body}");
    body["data"]["result"]
        .as_array()
        .cloned()
        .context("no data.result")
}

/// Instant query at now: `label` value → sample value.
async fn instant(
    client: &reqwest::Client,
    prom: &Prometheus,
    promql: &str,
    label: &str,
) -> Result<BTreeMap<String, f64>> {
    let result = api(client, prom, "query", &[("query", promql.to_owned())]).await?;
    result
        .iter()
        .map(|sample| {
            let key = sample["metric"][label]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let value = sample["value"][1]
                .as_str()
                .context("value")?
                .parse::<f64>()?;
            Ok((key, value))
        })
        .collect()
}

fn assert_close(actual: &BTreeMap<String, f64>, expected: &[(String, f64)], tolerance: f64) {
    let keys: Vec<&String> = actual.keys().collect();
    assert_eq!(
        keys,
        expected.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        "{actual:?}"
    );
    for (key, want) in expected {
        let got = actual[key];
        assert!(
            (got - want).abs() <= tolerance,
            "{key}: got {got}, want {want}"
        );
    }
}

fn per_instance(value: impl Fn(f64, f64) -> f64) -> Vec<(String, f64)> {
    NODES
        .iter()
        .map(|&(n, busy, memory)| (format!("10.0.0.{n}:9100"), value(busy, memory)))
        .collect()
}

#[tokio::test]
async fn node_load_queries_see_the_configured_load_at_now() -> Result<()> {
    let data = three_nodes();
    let Some(prom) = Prometheus::start(&data.to_openmetrics()).await? else {
        return Ok(());
    };
    let client = client()?;

    let cpu = instant(&client, &prom, CPU_BUSY, "instance").await?;
    assert_close(&cpu, &per_instance(|busy, _| busy * 4.0), 1e-9);
    let memory = instant(&client, &prom, MEMORY_USED, "instance").await?;
    assert_close(&memory, &per_instance(|_, memory| memory), 1e-9);

    // Every sample was ingested: promtool drops out-of-order ones silently.
    let points = (data.end() - data.start()) / data.step_secs() + 1;
    let count = instant(
        &client,
        &prom,
        "count_over_time(node_memory_MemTotal_bytes[3h])",
        "instance",
    )
    .await?;
    assert_close(&count, &per_instance(|_, _| points as f64), 0.0);
    Ok(())
}

#[tokio::test]
async fn range_query_over_the_last_hour_returns_one_point_per_step() -> Result<()> {
    let data = three_nodes();
    let Some(prom) = Prometheus::start(&data.to_openmetrics()).await? else {
        return Ok(());
    };
    let end = data.end();
    let params = [
        ("query", CPU_BUSY.to_owned()),
        ("start", (end - 3600).to_string()),
        ("end", end.to_string()),
        ("step", "15".to_owned()),
    ];
    let result = api(&client()?, &prom, "query_range", &params).await?;

    assert_eq!(result.len(), NODES.len());
    for series in &result {
        let values = series["values"].as_array().context("values")?;
        assert_eq!(values.len(), 3600 / 15 + 1, "{}", series["metric"]);
        let (first, last) = (&values[0], &values[values.len() - 1]);
        assert_eq!(
            (first[0].as_f64(), last[0].as_f64()),
            (Some((end - 3600) as f64), Some(end as f64))
        );
    }
    Ok(())
}

#[tokio::test]
async fn stop_refuses_connections_and_restart_serves_the_same_tsdb() -> Result<()> {
    let Some(mut prom) = Prometheus::start(&three_nodes().to_openmetrics()).await? else {
        return Ok(());
    };
    let client = client()?;
    let url = prom.url();

    prom.stop();
    let refused = client.get(format!("{url}/-/ready")).send().await;
    match refused {
        Err(err) if err.is_connect() => {}
        other => bail!("expected connection refused after stop, got {other:?}"),
    }

    prom.restart().await?;
    assert_eq!(prom.url(), url);
    let cpu = instant(&client, &prom, CPU_BUSY, "instance").await?;
    assert_close(&cpu, &per_instance(|busy, _| busy * 4.0), 1e-9);
    Ok(())
}

#[tokio::test]
async fn pods_spikes_and_kube_state_metrics_answer_real_queries() -> Result<()> {
    let now = tidal_testkit::metrics::unix_now();
    let data = ClusterMetrics::new()
        .range(now - 3600, now)
        .node(
            Node::new("node-a", "10.0.0.1:9100")
                .cpus(8)
                .busy(Profile::spike(0.2, 0.95, now - 1800..now - 1200)),
        )
        .pod(
            Pod::new("shop", "web-0", "node-a")
                .owner("ReplicaSet", "web-5d9c7")
                .container(
                    Container::new("web")
                        .cpu(0.5)
                        .memory(300e6)
                        .requests(0.25, 256 << 20),
                )
                .container(Container::new("proxy").cpu(0.25).memory(50e6)),
        );
    let Some(prom) = Prometheus::start(&data.to_openmetrics()).await? else {
        return Ok(());
    };
    let client = client()?;
    let one = |key: &str, value: f64| vec![(key.to_owned(), value)];

    let cpu = instant(&client, &prom, CPU_BUSY, "instance").await?;
    assert_close(&cpu, &one("10.0.0.1:9100", 0.2 * 8.0), 1e-9);
    let peak = format!("max_over_time(({CPU_BUSY})[1h:1m])");
    assert_close(
        &instant(&client, &prom, &peak, "instance").await?,
        &one("10.0.0.1:9100", 0.95 * 8.0),
        1e-9,
    );

    let pod_cpu = r#"sum by (pod) (rate(container_cpu_usage_seconds_total{job="kubelet",metrics_path="/metrics/cadvisor",container!=""}[5m]))"#;
    assert_close(
        &instant(&client, &prom, pod_cpu, "pod").await?,
        &one("web-0", 0.75),
        1e-9,
    );
    // Without `container!=""` the pod-level cgroup series counts the pod twice.
    let doubled = r#"sum by (pod) (rate(container_cpu_usage_seconds_total[5m]))"#;
    assert_close(
        &instant(&client, &prom, doubled, "pod").await?,
        &one("web-0", 1.5),
        1e-9,
    );
    let working_set = r#"sum by (node) (container_memory_working_set_bytes{container!=""})"#;
    assert_close(
        &instant(&client, &prom, working_set, "node").await?,
        &one("node-a", 350e6),
        0.0,
    );

    let requested = r#"sum by (node) (kube_pod_container_resource_requests{resource="cpu"})
        / on (node) kube_node_status_allocatable{resource="cpu"}"#;
    assert_close(
        &instant(&client, &prom, requested, "node").await?,
        &one("node-a", 0.25 / 8.0),
        1e-12,
    );
    let owned = r#"kube_pod_owner{owner_kind="ReplicaSet"}"#;
    assert_close(
        &instant(&client, &prom, owned, "owner_name").await?,
        &one("web-5d9c7", 1.0),
        0.0,
    );
    Ok(())
}

#[tokio::test]
async fn fixed_past_ranges_are_kept_and_queryable_at_their_end() -> Result<()> {
    // 2023-11-14 22:13:20 UTC, long before the clock and the 30 d retention.
    let end = 1_700_000_000;
    let data = ClusterMetrics::new()
        .range(end - 3600, end)
        .node(Node::new("node-a", "10.0.0.1:9100").busy(0.5));
    let Some(prom) = Prometheus::start(&data.to_openmetrics()).await? else {
        return Ok(());
    };
    let params = [("query", CPU_BUSY.to_owned()), ("time", end.to_string())];
    let result = api(&client()?, &prom, "query", &params).await?;
    let value = result
        .first()
        .and_then(|s| s["value"][1].as_str())
        .context("no sample")?;
    assert!((value.parse::<f64>()? - 2.0).abs() < 1e-9, "{value}");
    Ok(())
}

#[tokio::test]
async fn invalid_openmetrics_fails_with_promtools_message() -> Result<()> {
    match Prometheus::start("# TYPE x gauge\nx 1 100\n").await {
        Ok(None) => Ok(()),
        Ok(Some(prom)) => bail!("started on input without # EOF at {}", prom.url()),
        Err(err) => {
            let message = format!("{err:#}");
            assert!(
                message.contains("promtool") && message.contains("# EOF"),
                "{message}"
            );
            Ok(())
        }
    }
}

#[tokio::test]
async fn scrapes_a_test_exporter_next_to_the_backfill() -> Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let exporter = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(|| async { "tidal_test_exporter_up 1\n" }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let data = three_nodes();
    let Some(prom) = Prometheus::start_with_scrape(&data.to_openmetrics(), exporter).await? else {
        return Ok(());
    };
    let client = client()?;
    let query = r#"tidal_test_exporter_up{job="test-exporter"}"#;
    let mut scraped = BTreeMap::new();
    // Scrape interval is 1 s; allow 20 s at most.
    for _ in 0..100 {
        scraped = instant(&client, &prom, query, "job").await?;
        if !scraped.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_close(&scraped, &[("test-exporter".to_owned(), 1.0)], 0.0);
    let cpu = instant(&client, &prom, CPU_BUSY, "instance").await?;
    assert_close(&cpu, &per_instance(|busy, _| busy * 4.0), 1e-9);
    server.abort();
    Ok(())
}
