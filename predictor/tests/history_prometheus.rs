//! Forecast history pulled from a real Prometheus holding two days of a synthetic
//! cluster at 5-minute samples: what comes back equals what was backfilled, sample for
//! sample, however the range is chunked; transient failures are retried and bad
//! queries are not. Skips when Prometheus is not installed, unless
//! TIDAL_REQUIRE_PROMETHEUS=1.
//!
//! Queries run at sample time + 150 s, half a step after each backfilled sample, so
//! each instant (5-minute lookback) sees exactly one sample per series and each 10-minute
//! `rate()` exactly two, whichever way the Prometheus version treats window edges.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tidal_core::prometheus::{PrometheusClient, PrometheusConfig};
use tidal_predictor::csv::RawSeries;
use tidal_predictor::history::{
    ClusterTarget, FetchOptions, HistoryError, NodeAllocatable, NodePoolTarget, QueryTarget,
    Resource, Target, TargetHistory, Unit, WorkloadResource, WorkloadTarget, fetch_history,
    fetch_pool_capacity,
};
use tidal_testkit::metrics::{ClusterMetrics, Container, Node, Pod, Profile, unix_now};
use tidal_testkit::prometheus::Prometheus;
use tidal_testkit::tsdb::{self, Tsdb};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

type TestResult = anyhow::Result<()>;

const STEP: i64 = 300;
const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
const GIB: u64 = 1 << 30;
/// Node label naming the pool.
const POOL: &str = "karpenter.sh/nodepool";
/// Query times sit this far after the sample times.
const OFFSET: i64 = STEP / 2;

struct PodSpec {
    name: &'static str,
    node: &'static str,
    owner: Option<(&'static str, &'static str)>,
    running: Range<i64>,
    /// (name, CPU cores, memory bytes)
    containers: Vec<(&'static str, Profile, Profile)>,
}

/// Two days ending at the last whole 5 minutes: Deployments `web` (two ReplicaSets, a
/// rollout halfway) and `api`, StatefulSet `db`, a bare pod; pools `general` (node-a,
/// node-b) and `compute` (node-c, node-d), and node-e in no pool.
struct Fixture {
    start: i64,
    end: i64,
    pods: Vec<PodSpec>,
}

/// A daily cycle around `base` cores.
fn daily(base: f64) -> Profile {
    Profile::from_fn(move |t| {
        base * (1.0 + 0.5 * (2.0 * std::f64::consts::PI * (t % DAY) as f64 / DAY as f64).sin())
    })
}

/// Memory growing by 1 MB an hour from `base`, reset daily.
fn memory(base: f64) -> Profile {
    Profile::from_fn(move |t| base + 1e6 * ((t % DAY) / HOUR) as f64)
}

impl Fixture {
    fn new() -> Self {
        let end = unix_now() / STEP * STEP - STEP;
        let start = end - 2 * DAY;
        let mid = start + DAY;
        let forever = start - DAY..end + DAY;
        let web = |name, node, rs, running| PodSpec {
            name,
            node,
            owner: Some(("ReplicaSet", rs)),
            running,
            containers: vec![
                ("web", daily(0.4), memory(300e6)),
                ("proxy", Profile::constant(0.05), Profile::constant(30e6)),
            ],
        };
        let single = |name, node, owner, running, cpu: f64| PodSpec {
            name,
            node,
            owner,
            running,
            containers: vec![("main", daily(cpu), memory(cpu * 1e9))],
        };
        let pods = vec![
            web("web-5d9c7-a", "node-a", "web-5d9c7", start - HOUR..mid + 1),
            web("web-5d9c7-b", "node-c", "web-5d9c7", forever.clone()),
            web(
                "web-7f8e1-c",
                "node-b",
                "web-7f8e1",
                mid - 6 * HOUR + 100..end + 1,
            ),
            single(
                "api-6b5f4-x",
                "node-d",
                Some(("ReplicaSet", "api-6b5f4")),
                start + 3 * HOUR + 17..end - 5 * HOUR,
                0.8,
            ),
            single(
                "api-6b5f4-y",
                "node-e",
                Some(("ReplicaSet", "api-6b5f4")),
                forever.clone(),
                0.6,
            ),
            single("db-0", "node-c", Some(("StatefulSet", "db")), forever, 1.5),
            single(
                "debug",
                "node-a",
                None,
                start + 10 * HOUR..start + 12 * HOUR,
                0.3,
            ),
        ];
        Self { start, end, pods }
    }

    fn metrics(&self) -> ClusterMetrics {
        let node = |name: &str, ip: &str, pool: Option<&str>, cpus: u32, alloc: f64| {
            let node = Node::new(name, format!("{ip}:9100"))
                .cpus(cpus)
                .memory_bytes(u64::from(cpus) * 4 * GIB)
                .allocatable(alloc, u64::from(cpus) * 3 * GIB);
            match pool {
                Some(pool) => node.kube_label(POOL, pool),
                None => node,
            }
        };
        let mut metrics = ClusterMetrics::new()
            .range(self.start, self.end)
            .step(Duration::from_secs(STEP as u64))
            .node(node("node-a", "10.0.0.1", Some("general"), 2, 1.9))
            .node(node("node-b", "10.0.0.2", Some("general"), 2, 1.9))
            .node(node("node-c", "10.0.0.3", Some("compute"), 4, 3.8))
            .node(node("node-d", "10.0.0.4", Some("compute"), 4, 3.8))
            .node(node("node-e", "10.0.0.5", None, 2, 1.9))
            .replica_set("shop", "web-5d9c7", "web")
            .replica_set("shop", "web-7f8e1", "web")
            .replica_set("shop", "api-6b5f4", "api");
        for spec in &self.pods {
            let mut pod = Pod::new("shop", spec.name, spec.node).running(spec.running.clone());
            if let Some((kind, name)) = spec.owner {
                pod = pod.owner(kind, name);
            }
            for (name, cpu, memory) in &spec.containers {
                pod = pod.container(
                    Container::new(*name)
                        .cpu(cpu.clone())
                        .memory(memory.clone()),
                );
            }
            metrics = metrics.pod(pod);
        }
        metrics
    }

    /// Whether `pod` has a sample at `s`.
    fn alive(&self, pod: &PodSpec, s: i64) -> bool {
        (self.start..=self.end).contains(&s) && pod.running.contains(&s)
    }

    fn memory(&self, pod: &PodSpec, s: i64) -> Option<f64> {
        let total = pod.containers.iter().map(|(_, _, m)| m.at(s).round()).sum();
        self.alive(pod, s).then_some(total)
    }

    /// `rate()` over the two samples `s - STEP` and `s`: the counter grew by the rate at
    /// `s - STEP` times the step. Prometheus extrapolates to the window's edges except
    /// below a counter's zero, so right after a pod starts it reports 3/4 of that.
    fn cpu(&self, pod: &PodSpec, s: i64) -> Option<f64> {
        let prev = s - STEP;
        if !(self.alive(pod, s) && self.alive(pod, prev)) {
            return None;
        }
        let factor = if self.alive(pod, prev - STEP) {
            1.0
        } else {
            0.75
        };
        let rate: f64 = pod.containers.iter().map(|(_, c, _)| c.at(prev)).sum();
        Some(factor * rate)
    }

    fn replicas(&self, pod: &PodSpec, s: i64) -> Option<f64> {
        self.alive(pod, s).then_some(1.0)
    }

    /// The sum of `value` over the pods `include` picks, at every query time where
    /// at least one has a value.
    fn expected(
        &self,
        include: impl Fn(&PodSpec) -> bool,
        value: impl Fn(&Self, &PodSpec, i64) -> Option<f64>,
    ) -> RawSeries {
        (self.start..=self.end)
            .step_by(STEP as usize)
            .filter_map(|s| {
                let values: Vec<f64> = self
                    .pods
                    .iter()
                    .filter(|p| include(p))
                    .filter_map(|p| value(self, p, s))
                    .collect();
                (!values.is_empty()).then(|| (s + OFFSET, values.iter().sum()))
            })
            .collect()
    }

    /// No container starts or stops (nor the data itself starts) within a few steps of `s`.
    fn settled(&self, s: i64) -> bool {
        let near = s - 3 * STEP..=s + STEP;
        !near.contains(&self.start)
            && self
                .pods
                .iter()
                .all(|p| !near.contains(&p.running.start) && !near.contains(&p.running.end))
    }

    fn query_range(&self) -> (SystemTime, SystemTime) {
        let at = |t: i64| UNIX_EPOCH + Duration::from_secs(t as u64);
        (at(self.start + OFFSET), at(self.end + OFFSET))
    }
}

fn workload_of(pod: &PodSpec) -> Option<&'static str> {
    match pod.owner? {
        ("ReplicaSet", rs) => rs.split('-').next(),
        (_, name) => Some(name),
    }
}

fn pool_of(pod: &PodSpec) -> Option<&'static str> {
    match pod.node {
        "node-a" | "node-b" => Some("general"),
        "node-c" | "node-d" => Some("compute"),
        _ => None,
    }
}

type Value = fn(&Fixture, &PodSpec, i64) -> Option<f64>;

fn assert_series(what: &str, actual: &RawSeries, expected: &RawSeries) {
    let times = |s: &RawSeries| s.iter().map(|p| p.0).collect::<Vec<_>>();
    assert_eq!(times(actual), times(expected), "{what}: timestamps");
    for (a, e) in actual.iter().zip(expected) {
        assert!(
            (a.1 - e.1).abs() <= 1e-9 * e.1.abs().max(1.0),
            "{what} at {}: got {}, expected {}",
            a.0,
            a.1,
            e.1
        );
    }
}

/// CPU from VictoriaMetrics: MetricsQL's `rate()` takes its base from the last sample
/// *before* the window and does not extrapolate, so a container's rate shows one step longer
/// after it stops, its first step after a start is the true rate (Prometheus: 3/4, see
/// [`Fixture::cpu`]), and its window is a little longer (up to 1 % on the daily cycle).
/// Checked at every point with no container starting or stopping nearby, within 1 %.
fn assert_settled_cpu(fixture: &Fixture, what: &str, actual: &RawSeries, expected: &RawSeries) {
    let actual: BTreeMap<i64, f64> = actual.iter().copied().collect();
    let settled: Vec<&(i64, f64)> = expected
        .iter()
        .filter(|(t, _)| fixture.settled(t - OFFSET))
        .collect();
    assert!(
        settled.len() * 10 >= expected.len() * 8,
        "{what}: too few settled points"
    );
    for (t, e) in settled {
        let a = actual.get(t).copied().unwrap_or(f64::NAN);
        assert!(
            (a - e).abs() <= 0.01 * e.abs().max(1.0),
            "{what} at {t}: got {a}, expected {e}"
        );
    }
}

fn by_id(histories: &[TargetHistory]) -> BTreeMap<&str, &TargetHistory> {
    histories.iter().map(|h| (h.id.as_str(), h)).collect()
}

fn client(url: String) -> anyhow::Result<PrometheusClient> {
    Ok(PrometheusClient::new(&PrometheusConfig {
        url,
        timeout: Duration::from_secs(10),
        ..Default::default()
    })?)
}

fn options(max_points_per_query: usize) -> FetchOptions {
    FetchOptions {
        max_points_per_query,
        initial_backoff: Duration::from_millis(10),
        rate_window: Some(Duration::from_secs(600)),
        ..FetchOptions::default()
    }
}

fn targets() -> Vec<Target> {
    let workload = |resource| {
        Target::Workload(WorkloadTarget {
            name: None,
            resource,
            namespace: Some("shop".to_string()),
            workload: None,
        })
    };
    let pool = |resource| {
        Target::NodePool(NodePoolTarget {
            name: None,
            label: POOL.to_string(),
            resource,
        })
    };
    let cluster = |resource| {
        Target::Cluster(ClusterTarget {
            name: None,
            resource,
        })
    };
    vec![
        workload(WorkloadResource::Cpu),
        workload(WorkloadResource::Memory),
        workload(WorkloadResource::Replicas),
        pool(Resource::Cpu),
        pool(Resource::Memory),
        cluster(Resource::Cpu),
        cluster(Resource::Memory),
    ]
}

#[tokio::test]
async fn history_equals_the_backfilled_cluster_however_it_is_chunked() -> TestResult {
    let fixture = Fixture::new();
    for store in tsdb::start_all(&fixture.metrics().to_openmetrics()).await? {
        eprintln!("checking against {}", store.name());
        history_on(&fixture, &store).await?;
    }
    Ok(())
}

async fn history_on(fixture: &Fixture, store: &Tsdb) -> TestResult {
    let client = client(store.url())?;
    let (start, end) = fixture.query_range();
    let step = Duration::from_secs(STEP as u64);

    // 577 points in chunks of 100: six queries per target.
    let chunked = fetch_history(&client, &targets(), start, end, step, &options(100)).await?;
    let histories = by_id(&chunked);
    let resources: [(&str, Value, Unit); 3] = [
        ("cpu", Fixture::cpu, Unit::Cores),
        ("memory", Fixture::memory, Unit::Bytes),
        ("replicas", Fixture::replicas, Unit::Replicas),
    ];
    let check = |id: &str, actual: &RawSeries, expected: &RawSeries, resource: &str| match (
        resource, store,
    ) {
        ("cpu", Tsdb::VictoriaMetrics(_)) => assert_settled_cpu(fixture, id, actual, expected),
        _ => assert_series(id, actual, expected),
    };
    let mut expected_ids = Vec::new();
    for (resource, value, unit) in resources {
        for (kind, workload) in [
            ("Deployment", "api"),
            ("Deployment", "web"),
            ("StatefulSet", "db"),
        ] {
            let id = format!("workload/shop/{kind}/{workload}/{resource}");
            let history = histories[id.as_str()];
            assert_eq!(history.unit, Some(unit), "{id}");
            assert_eq!(history.labels["workload"], workload, "{id}");
            let expected = fixture.expected(|p| workload_of(p) == Some(workload), value);
            check(&id, &history.samples, &expected, resource);
            expected_ids.push(id);
        }
        if resource == "replicas" {
            continue;
        }
        for pool in ["compute", "general"] {
            let id = format!("node-pool/{POOL}={pool}/{resource}");
            let expected = fixture.expected(|p| pool_of(p) == Some(pool), value);
            check(&id, &histories[id.as_str()].samples, &expected, resource);
            expected_ids.push(id);
        }
        let id = format!("cluster/{resource}");
        let expected = fixture.expected(|_| true, value);
        check(&id, &histories[id.as_str()].samples, &expected, resource);
        expected_ids.push(id);
    }
    expected_ids.sort();
    assert_eq!(histories.keys().copied().collect::<Vec<_>>(), expected_ids);
    // The rollout: web runs 3 pods for the 6 hours both ReplicaSets overlap.
    let web = &histories["workload/shop/Deployment/web/replicas"].samples;
    assert_eq!(web.iter().map(|p| p.1).fold(0.0, f64::max), 3.0);

    // One query per target returns the same (up to the order Prometheus sums in).
    let whole = fetch_history(&client, &targets(), start, end, step, &options(11_000)).await?;
    assert_eq!(whole.len(), chunked.len());
    for (one, many) in whole.iter().zip(&chunked) {
        assert_eq!(
            (&one.id, &one.labels, one.unit),
            (&many.id, &many.labels, many.unit)
        );
        assert_series(&one.id, &one.samples, &many.samples);
    }

    // Raw PromQL: one series per returned label set. Unfiltered cAdvisor memory counts
    // every pod twice (the pod-level cgroup series), which the targets above avoid.
    let queries = [
        Target::Query(QueryTarget {
            name: Some("allocatable".to_string()),
            query: r#"sum by (node) (kube_node_status_allocatable{resource="cpu"})"#.to_string(),
            unit: Some(Unit::Cores),
        }),
        Target::Query(QueryTarget {
            name: None,
            query: "sum(container_memory_working_set_bytes)".to_string(),
            unit: None,
        }),
    ];
    let raw = fetch_history(&client, &queries, start, end, step, &options(250)).await?;
    let raw = by_id(&raw);
    let ids: Vec<&str> = raw.keys().copied().collect();
    assert_eq!(
        ids,
        [
            r#"allocatable/{node="node-a"}"#,
            r#"allocatable/{node="node-b"}"#,
            r#"allocatable/{node="node-c"}"#,
            r#"allocatable/{node="node-d"}"#,
            r#"allocatable/{node="node-e"}"#,
            "query/{}",
        ]
    );
    let node_c = &raw[r#"allocatable/{node="node-c"}"#].samples;
    assert_eq!(node_c.len(), 577);
    assert!(node_c.iter().all(|p| p.1 == 3.8), "{node_c:?}");
    let doubled: RawSeries = histories["cluster/memory"]
        .samples
        .iter()
        .map(|&(t, v)| (t, 2.0 * v))
        .collect();
    assert_series("unfiltered memory", &raw["query/{}"].samples, &doubled);

    // Name regexes pick workloads of every kind.
    let some = [Target::Workload(WorkloadTarget {
        name: Some("picked".to_string()),
        resource: WorkloadResource::Memory,
        namespace: Some("sh.p".to_string()),
        workload: Some("api|d.".to_string()),
    })];
    let picked = fetch_history(&client, &some, start, end, step, &options(11_000)).await?;
    let ids: Vec<&str> = picked.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "picked/shop/Deployment/api/memory",
            "picked/shop/StatefulSet/db/memory"
        ]
    );
    let api = &histories["workload/shop/Deployment/api/memory"];
    assert_series("picked api", &picked[0].samples, &api.samples);

    // Two targets that make the same series must be told apart by name.
    let twice = [targets()[5].clone(), targets()[5].clone()];
    let err = fetch_history(&client, &twice, start, end, step, &options(11_000))
        .await
        .expect_err("duplicate ids");
    assert!(
        matches!(err, HistoryError::DuplicateId(ref id) if id == "cluster/cpu"),
        "{err}"
    );

    // Node counts and sizes for plans.
    let pools = fetch_pool_capacity(&client, POOL, Some(end), &options(1)).await?;
    let nodes = |names: [&str; 2], cpu_cores: f64, gib: u64| -> Vec<NodeAllocatable> {
        names
            .iter()
            .map(|node| NodeAllocatable {
                node: node.to_string(),
                cpu_cores,
                memory_bytes: (gib * GIB) as f64,
            })
            .collect()
    };
    let summary: Vec<(&str, &[NodeAllocatable])> = pools
        .iter()
        .map(|p| (p.pool.as_str(), &p.nodes[..]))
        .collect();
    assert_eq!(
        summary,
        [
            ("compute", &nodes(["node-c", "node-d"], 3.8, 12)[..]),
            ("general", &nodes(["node-a", "node-b"], 1.9, 6)[..]),
        ]
    );

    // A label kube-state-metrics does not export: say so, and what to do.
    let zone = "topology.kubernetes.io/zone";
    let by_zone = [Target::NodePool(NodePoolTarget {
        name: None,
        label: zone.to_string(),
        resource: Resource::Cpu,
    })];
    let err = fetch_history(&client, &by_zone, start, end, step, &options(11_000))
        .await
        .expect_err("no node has a zone label");
    assert!(matches!(err, HistoryError::NoPoolLabel { .. }), "{err}");
    assert!(err.to_string().contains("metricLabelsAllowlist"), "{err}");
    let err = fetch_pool_capacity(&client, zone, Some(end), &options(1))
        .await
        .expect_err("no node has a zone label");
    assert!(
        err.to_string()
            .contains("label_topology_kubernetes_io_zone"),
        "{err}"
    );
    Ok(())
}

/// Reads one HTTP request (head and `content-length` body) so that closing the
/// connection afterwards does not reset it under the client.
async fn read_request(socket: &mut TcpStream) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    while data.len() < 1 << 20 {
        if let Some(head_end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
            let body_len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if data.len() >= head_end + 4 + body_len {
                return;
            }
        }
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}

/// A stand-in on 127.0.0.1 that answers its first `canned_connections` connections with
/// `status` and `body` (closing each), then forwards later ones to `upstream`
/// (`host:port`), if any. Counts connections.
async fn stub(
    canned_connections: usize,
    status: &'static str,
    body: &'static str,
    upstream: Option<String>,
) -> anyhow::Result<(String, Arc<AtomicUsize>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        for _ in 0..100 {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let n = counter.fetch_add(1, Ordering::SeqCst);
            match &upstream {
                Some(upstream) if n >= canned_connections => {
                    let upstream = upstream.clone();
                    tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut socket, &mut server).await;
                        }
                    });
                }
                _ => {
                    read_request(&mut socket).await;
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                }
            }
        }
    });
    Ok((url, connections))
}

#[tokio::test]
async fn transient_failures_are_retried_with_backoff() -> TestResult {
    let cluster = ClusterMetrics::new()
        .pod(Pod::new("shop", "web-0", "node-a").container(Container::new("web").memory(250e6)));
    let Some(prom) = Prometheus::start(&cluster.to_openmetrics()).await? else {
        return Ok(());
    };
    let upstream = prom.url().trim_start_matches("http://").to_string();
    let (url, connections) = stub(
        2,
        "503 Service Unavailable",
        "upstream busy",
        Some(upstream),
    )
    .await?;
    let target = [Target::Cluster(ClusterTarget {
        name: None,
        resource: Resource::Memory,
    })];
    let end = UNIX_EPOCH + Duration::from_secs(cluster.end() as u64);
    let start = end - Duration::from_secs(3600);
    let options = FetchOptions {
        initial_backoff: Duration::from_millis(100),
        ..FetchOptions::default()
    };

    let began = Instant::now();
    let history = fetch_history(
        &client(url)?,
        &target,
        start,
        end,
        Duration::from_secs(60),
        &options,
    )
    .await?;
    assert!(
        began.elapsed() >= Duration::from_millis(300),
        "waited 100 ms, then 200 ms: {:?}",
        began.elapsed()
    );
    assert_eq!(connections.load(Ordering::SeqCst), 3);
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].samples.len(), 61);
    assert!(history[0].samples.iter().all(|p| p.1 == 250e6));
    Ok(())
}

#[tokio::test]
async fn a_rejected_query_is_not_retried_and_is_named() -> TestResult {
    let body = r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}"#;
    let (url, connections) = stub(usize::MAX, "400 Bad Request", body, None).await?;
    let target = [Target::Query(QueryTarget {
        name: Some("broken".to_string()),
        query: "sum(".to_string(),
        unit: None,
    })];
    let end = SystemTime::now();
    let err = fetch_history(
        &client(url)?,
        &target,
        end - Duration::from_secs(3600),
        end,
        Duration::from_secs(60),
        &options(11_000),
    )
    .await
    .expect_err("bad query");
    let text = err.to_string();
    assert!(
        text.contains("`sum(`") && text.contains("HTTP 400"),
        "{text}"
    );
    assert!(
        text.contains("parse error") && text.contains("broken"),
        "{text}"
    );
    assert!(text.contains("after 1 attempt"), "{text}");
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    Ok(())
}

#[tokio::test]
async fn prometheus_down_says_to_check_the_url() -> TestResult {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let end = SystemTime::now();
    let options = FetchOptions {
        attempts: 2,
        initial_backoff: Duration::from_millis(1),
        ..FetchOptions::default()
    };
    let err = fetch_history(
        &client(format!("http://127.0.0.1:{port}"))?,
        &targets(),
        end - Duration::from_secs(3600),
        end,
        Duration::from_secs(60),
        &options,
    )
    .await
    .expect_err("nothing listens");
    let text = err.to_string();
    assert!(text.contains("--prometheus-url"), "{text}");
    assert!(text.contains("after 2 attempt(s)"), "{text}");
    Ok(())
}
