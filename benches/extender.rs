//! Extender benchmarks: a call's decision with JSON decode and encode, the load refresh,
//! and HTTP throughput on loopback. Figures are written down in BENCHMARKS.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use serde_json::{Value, json};
use tidal_core::estimate::Estimate;
use tidal_core::load::{LoadConfig, LoadSnapshot, fetch};
use tidal_core::node_identity::NodeInfo;
use tidal_core::prometheus::{PrometheusClient, PrometheusConfig};
use tidal_core::resources::Resources;
use tidal_scheduler_extender::cluster::{ASSUMPTION_TTL, ClusterView, RecentPod};
use tidal_scheduler_extender::http::{filter_call, prioritize_call, router};
use tidal_scheduler_extender::{Extender, ExtenderConfig};
use tidal_testkit::snapshot::{NodeFigures, samples, snapshot};

const NAMES_FIXTURE: &str =
    include_str!("../scheduler-extender/tests/fixtures/extender-filter-args-nodecache-true.json");
const NODES_FIXTURE: &str =
    include_str!("../scheduler-extender/tests/fixtures/extender-filter-args-nodecache-false.json");

fn node_name(i: usize) -> String {
    format!("node-{i:05}")
}

/// `n` nodes, spread between 5 % and 75 % busy, so about one in eight fails the filter.
fn figures(n: usize) -> Vec<NodeFigures> {
    (0..n)
        .map(|i| {
            let busy_cores = 0.2 + 2.8 * ((i * 37) % 100) as f64 / 100.0;
            NodeFigures::new(format!("10.0.{}.{}:9100", i / 250, i % 250), busy_cores)
        })
        .collect()
}

/// An extender that knows `n` nodes (as its node watch would) and their load.
fn extender(n: usize) -> Arc<Extender> {
    let ext = Extender::new(&ExtenderConfig::default(), Duration::from_secs(60))
        .expect("default config is valid");
    let nodes = (0..n).map(|i| NodeInfo {
        name: node_name(i),
        addresses: vec![format!("10.0.{}.{}", i / 250, i % 250)],
        allocatable: Some(Resources {
            cpu_milli: 3_900,
            memory_bytes: 15 << 30,
        }),
    });
    ext.cluster.write().replace_nodes(nodes);
    ext.install_load(snapshot(&figures(n)), SystemTime::now());
    Arc::new(ext)
}

fn names_request(n: usize) -> Vec<u8> {
    let mut args: Value = serde_json::from_str(NAMES_FIXTURE).expect("fixture is JSON");
    args["NodeNames"] = json!((0..n).map(node_name).collect::<Vec<_>>());
    serde_json::to_vec(&args).expect("encodes")
}

fn nodes_request(n: usize) -> Vec<u8> {
    let mut args: Value = serde_json::from_str(NODES_FIXTURE).expect("fixture is JSON");
    let template = args["Nodes"]["items"][0].clone();
    let items: Vec<Value> = (0..n)
        .map(|i| {
            let mut node = template.clone();
            node["metadata"]["name"] = json!(node_name(i));
            node["status"]["addresses"] =
                json!([{"type": "InternalIP", "address": format!("10.0.{}.{}", i / 250, i % 250)}]);
            node
        })
        .collect();
    args["Nodes"]["items"] = json!(items);
    serde_json::to_vec(&args).expect("encodes")
}

fn decisions(c: &mut Criterion) {
    let mut group = c.benchmark_group("extender_call");
    let cases = [(100, false), (1_000, false), (5_000, false), (500, true)];
    for (n, full) in cases {
        let ext = extender(n);
        let body = axum::body::Bytes::from(if full {
            nodes_request(n)
        } else {
            names_request(n)
        });
        let mode = if full { "nodes" } else { "names" };
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(
            BenchmarkId::new(format!("filter_{mode}"), n),
            &body,
            |b, body| {
                b.iter(|| filter_call(&ext, body).expect("valid request"));
            },
        );
        group.bench_with_input(
            BenchmarkId::new(format!("prioritize_{mode}"), n),
            &body,
            |b, body| {
                b.iter(|| prioritize_call(&ext, body).expect("valid request"));
            },
        );
    }
    group.finish();
}

/// A stand-in Prometheus that answers every instant query with one sample per node,
/// and counts the queries.
async fn fake_prometheus(n: usize, queries: Arc<AtomicUsize>) -> String {
    let results: Vec<Value> = figures(n)
        .iter()
        .map(|f| json!({"metric": {"instance": f.instance, "job": "node-exporter"}, "value": [1.7e9, format!("{}", f.busy_cores)]}))
        .collect();
    let body = Arc::new(
        json!({"status": "success", "data": {"resultType": "vector", "result": results}})
            .to_string(),
    );
    let app = axum::Router::new().route(
        "/api/v1/query",
        axum::routing::post(move || {
            let body = body.clone();
            queries.fetch_add(1, Ordering::Relaxed);
            async move { ([("content-type", "application/json")], (*body).clone()) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

fn load_refresh(c: &mut Criterion) {
    const NODES: usize = 5_000;
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let queries = Arc::new(AtomicUsize::new(0));
    let url = rt.block_on(fake_prometheus(NODES, queries.clone()));
    let client = PrometheusClient::new(&PrometheusConfig {
        url,
        ..PrometheusConfig::default()
    })
    .expect("client");
    let config = LoadConfig::default();

    rt.block_on(fetch(&client, &config)).expect("refresh works");
    println!(
        "load refresh for {NODES} nodes: {} Prometheus queries",
        queries.load(Ordering::Relaxed)
    );

    let mut group = c.benchmark_group("load_refresh");
    group.throughput(Throughput::Elements(NODES as u64));
    group.bench_function(BenchmarkId::new("fetch_over_http", NODES), |b| {
        b.to_async(&rt)
            .iter(|| async { fetch(&client, &config).await.expect("refresh works") });
    });
    let results = samples(&figures(NODES));
    group.bench_function(BenchmarkId::new("build_snapshot", NODES), |b| {
        b.iter(|| LoadSnapshot::from_samples("instance", &results, SystemTime::now()));
    });
    group.finish();
}

/// A refresh forgetting `n` expired assumptions piled onto one node, as a soak with a
/// new pod uid per call leaves them: each costs the same whatever `n` (a scan of the
/// node's list per pod once made the refresh, and every call waiting on it, quadratic).
fn prune_assumptions(c: &mut Criterion) {
    let now = SystemTime::now();
    let expired = now - ASSUMPTION_TTL - Duration::from_secs(1);
    let view = |n: usize| {
        let mut view = ClusterView::default();
        for i in 0..n {
            let pod = RecentPod {
                uid: format!("uid-{i:06}"),
                bound_at: expired - Duration::from_millis(i as u64),
                estimate: Estimate::default(),
                observed: false,
            };
            view.record_pod("node-00000", pod);
        }
        view
    };
    let mut group = c.benchmark_group("prune_assumptions");
    for n in [5_000, 40_000] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_batched(
                || view(n),
                |mut view| view.prune(now, Duration::from_secs(360)),
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

fn http_throughput(c: &mut Criterion) {
    const NODES: usize = 100;
    const REQUESTS: usize = 512;
    const CONNECTIONS: usize = 16;
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let app = router(extender(NODES), "/scheduler", 64 << 20);
    let url = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!(
            "http://{}/scheduler/prioritize",
            listener.local_addr().expect("local addr")
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .expect("client");
    let body = axum::body::Bytes::from(names_request(NODES));

    let mut group = c.benchmark_group("http");
    group.throughput(Throughput::Elements(REQUESTS as u64));
    group.sample_size(20);
    group.bench_function(
        BenchmarkId::new("prioritize_100_nodes_16_connections", REQUESTS),
        |b| {
            b.to_async(&rt).iter(|| async {
                futures::stream::iter(0..REQUESTS)
                    .map(|_| {
                        let request = client
                            .post(&url)
                            .header("content-type", "application/json")
                            .body(body.clone());
                        async move {
                            request
                                .send()
                                .await
                                .and_then(|r| r.error_for_status())
                                .map(|_| ())
                        }
                    })
                    .buffer_unordered(CONNECTIONS)
                    .for_each(|r| async move { r.expect("the extender answers 200") })
                    .await;
            });
        },
    );
    group.finish();
}

criterion_group!(
    benches,
    decisions,
    load_refresh,
    prune_assumptions,
    http_throughput
);
criterion_main!(benches);
