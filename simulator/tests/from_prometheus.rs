//! `tidal simulate --from-prometheus`'s trace builder against a real Prometheus backfilled
//! with a small cluster whose answer is known: three nodes, two Deployments (3 and 2
//! replicas), a DaemonSet, an hourly CronJob and a bare pod over six hours at a one-minute
//! scrape. The trace must have the nodes' allocatable, the workloads' replicas, requests
//! and usage, and the observed placement. Skips when Prometheus is not installed, unless
//! TIDAL_REQUIRE_PROMETHEUS=1.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, bail, ensure};
use indicatif::ProgressBar;
use tidal_core::prometheus::{PrometheusClient, PrometheusConfig, sample_time};
use tidal_cost::{AggregateIn, CostConfig};
use tidal_simulator::from_prometheus::{BuildError, build_trace};
use tidal_simulator::trace::{Amount, Kind, Pdb, Trace, WorkloadSpec};
use tidal_testkit::metrics::{ClusterMetrics, Container, Node, Pod};
use tidal_testkit::prometheus::Prometheus;
use tidal_testkit::tsdb;

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;
/// An hour boundary in the past; the data covers six hours from here, one sample a minute.
const START: i64 = 1_700_000_000 - 1_700_000_000 % 3600;
const END: i64 = START + 6 * 3600;
const SCRAPE: i64 = 60;
const STEP: Duration = Duration::from_secs(300);
const WINDOW: Duration = Duration::from_secs(6 * 3600);
/// Bounds a whole build, so a hung Prometheus fails the test instead of stalling it.
const BUILD_TIMEOUT: Duration = Duration::from_secs(120);

const NODES: [(&str, &str); 3] = [
    ("node-a", "zone-1"),
    ("node-b", "zone-2"),
    ("node-c", "zone-1"),
];
/// Deployment web: pod → node.
const WEB: [(&str, &str); 3] = [
    ("web-5d9c7-aaaaa", "node-a"),
    ("web-5d9c7-bbbbb", "node-b"),
    ("web-5d9c7-ccccc", "node-c"),
];
/// Deployment api: pod → node.
const API: [(&str, &str); 2] = [("api-7f8b9-xxxxx", "node-b"), ("api-7f8b9-yyyyy", "node-a")];

fn cluster() -> ClusterMetrics {
    let mut cluster = ClusterMetrics::new()
        .range(START, END)
        .step(Duration::from_secs(SCRAPE as u64))
        .replica_set("shop", "web-5d9c7", "web")
        .replica_set("shop", "api-7f8b9", "api");
    for (i, (name, zone)) in NODES.iter().enumerate() {
        cluster = cluster.node(
            Node::new(*name, format!("10.0.0.{}:9100", i + 1))
                .cpus(4)
                .memory_bytes(16 * GIB)
                .allocatable(3.9, 15 * GIB)
                .kube_label("topology.kubernetes.io/zone", *zone),
        );
        // A DaemonSet pod on every node.
        cluster = cluster.pod(
            Pod::new("monitoring", format!("node-exporter-{i}"), *name)
                .owner("DaemonSet", "node-exporter")
                .container(
                    Container::new("node-exporter")
                        .cpu(0.05)
                        .memory(30e6)
                        .requests(0.1, 64 * MIB),
                ),
        );
    }
    for (pod, node) in WEB {
        cluster = cluster.pod(
            Pod::new("shop", pod, node)
                .owner("ReplicaSet", "web-5d9c7")
                .container(
                    Container::new("web")
                        .cpu(0.5)
                        .memory(200e6)
                        .requests(0.25, 256 * MIB)
                        .limits(1.0, 512 * MIB),
                ),
        );
    }
    // Two containers: 0.3 + 0.2 = 0.5 cores per pod; only one has limits, so the pod is
    // uncapped.
    for (pod, node) in API {
        cluster = cluster.pod(
            Pod::new("shop", pod, node)
                .owner("ReplicaSet", "api-7f8b9")
                .container(
                    Container::new("app")
                        .cpu(0.3)
                        .memory(100e6)
                        .requests(0.2, 128 * MIB)
                        .limits(1.0, 256 * MIB),
                )
                .container(
                    Container::new("proxy")
                        .cpu(0.2)
                        .memory(50e6)
                        .requests(0.1, 64 * MIB),
                ),
        );
    }
    // CronJob report: a Job every hour from START + 10 min, each one pod for 10 minutes.
    for k in 0..6 {
        let job = format!("report-{}", 28_000 + k);
        let from = START + k * 3600 + 600;
        cluster = cluster.job("batch", job.clone(), "report").pod(
            Pod::new("batch", format!("{job}-x7k2p"), "node-c")
                .owner("Job", job)
                .running(from..from + 600)
                .container(
                    Container::new("report")
                        .cpu(1.0)
                        .memory(500e6)
                        .requests(1.0, GIB),
                ),
        );
    }
    // A bare pod: nothing would recreate it, so it is left out with a warning.
    cluster.pod(Pod::new("default", "debug", "node-b").container(Container::new("sh")))
}

/// Series the testkit does not write, appended to its document: a taint on node-c and a
/// PDB of web (kube-state-metrics' label sets).
fn extra_series(openmetrics: &str) -> Result<String> {
    let mut text = openmetrics
        .strip_suffix("# EOF\n")
        .context("the testkit's document does not end with # EOF")?
        .to_string();
    let ksm = r#"job="kube-state-metrics",instance="10.244.0.10:8080""#;
    let families = [
        (
            "kube_node_spec_taint",
            format!(r#"node="node-c",key="dedicated",value="infra",effect="NoSchedule",{ksm}"#),
            1.0,
        ),
        (
            "kube_poddisruptionbudget_status_desired_healthy",
            format!(r#"namespace="shop",poddisruptionbudget="web-pdb",{ksm}"#),
            2.0,
        ),
        (
            "kube_poddisruptionbudget_status_expected_pods",
            format!(r#"namespace="shop",poddisruptionbudget="web-pdb",{ksm}"#),
            3.0,
        ),
    ];
    for (name, labels, value) in families {
        writeln!(text, "# TYPE {name} gauge")?;
        for t in (START..=END).step_by(SCRAPE as usize) {
            writeln!(text, "{name}{{{labels}}} {value} {t}")?;
        }
    }
    text.push_str("# EOF\n");
    Ok(text)
}

fn client(url: String) -> Result<PrometheusClient> {
    Ok(PrometheusClient::new(&PrometheusConfig {
        url,
        timeout: Duration::from_secs(10),
        ..PrometheusConfig::default()
    })?)
}

async fn build(
    url: String,
    aggregate_in: AggregateIn,
) -> Result<Result<(Trace, Vec<String>), BuildError>> {
    let client = client(url)?;
    let end = sample_time(END as f64);
    let cost = CostConfig {
        aggregate_in,
        ..CostConfig::default()
    };
    let hidden = ProgressBar::hidden();
    tokio::time::timeout(
        BUILD_TIMEOUT,
        build_trace(&client, &cost, end, (WINDOW, STEP), &hidden),
    )
    .await
    .context("build_trace did not finish in time")
}

fn find(trace: &Trace, kind: Kind, namespace: &str, name: &str) -> Result<usize> {
    trace
        .workloads
        .iter()
        .position(|w| w.kind == kind && w.namespace == namespace && w.name == name)
        .with_context(|| {
            let names: Vec<String> = trace
                .workloads
                .iter()
                .map(WorkloadSpec::display_name)
                .collect();
            format!("no {} {namespace}/{name} in {names:?}", kind.as_str())
        })
}

fn close(what: &str, actual: f64, expected: f64, tolerance: f64) -> Result<()> {
    ensure!(
        (actual - expected).abs() <= tolerance * expected.abs(),
        "{what}: got {actual}, expected {expected} within {:.0} %",
        tolerance * 100.0
    );
    Ok(())
}

#[tokio::test]
async fn trace_is_the_observed_cluster() -> Result<()> {
    let data = extra_series(&cluster().to_openmetrics())?;
    for store in tsdb::start_all(&data).await? {
        let mut traces = Vec::new();
        for aggregate_in in [AggregateIn::Store, AggregateIn::Tidal] {
            eprintln!(
                "checking against {}, aggregated in {aggregate_in:?}",
                store.name()
            );
            let (trace, warnings) = build(store.url(), aggregate_in).await??;
            check_trace(&trace, &warnings).with_context(|| format!("on {}", store.name()))?;
            traces.push(trace);
        }
        same_replay(&traces[0], &traces[1])
            .with_context(|| format!("store and Tidal aggregates differ on {}", store.name()))?;
    }
    Ok(())
}

/// The store's aggregates and Tidal's reduction of the per-container series make the same
/// trace: the same workloads, placement and schedules, and usage equal at every step (to
/// single precision, in which both sum).
fn same_replay(store: &Trace, tidal: &Trace) -> Result<()> {
    ensure!(store.placement == tidal.placement, "placement");
    ensure!(store.workloads.len() == tidal.workloads.len(), "workloads");
    for (a, b) in store.workloads.iter().zip(&tidal.workloads) {
        let name = a.display_name();
        ensure!(
            name == b.display_name(),
            "{name} against {}",
            b.display_name()
        );
        ensure!(
            (a.replicas, a.requests, a.limits, a.cron)
                == (b.replicas, b.requests, b.limits, b.cron),
            "{name}'s replicas, requests, limits or schedule"
        );
        for (what, x, y) in [("CPU", &a.cpu, &b.cpu), ("memory", &a.memory, &b.memory)] {
            for i in 0..store.steps {
                let (x, y) = (x.base(i), y.base(i));
                ensure!(
                    (x - y).abs() <= 1e-5 * x.abs().max(1e-9),
                    "{name}'s {what} at step {i}: {x} against {y}"
                );
            }
        }
    }
    Ok(())
}

fn check_trace(trace: &Trace, warnings: &[String]) -> Result<()> {
    assert_eq!(trace.step, STEP);
    assert_eq!(trace.steps, 72, "6 h of 5 min steps");
    assert_eq!(trace.seed, 0);

    // Nodes: allocatable (not capacity), kubelet's default max pods, zones, taints.
    let names: Vec<&str> = trace.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["node-a", "node-b", "node-c"]);
    for (node, (_, zone)) in trace.nodes.iter().zip(NODES) {
        assert_eq!(node.allocatable.cpu_milli, 3900, "{}", node.name);
        assert_eq!(
            node.allocatable.memory_bytes,
            (15 * GIB) as i64,
            "{}",
            node.name
        );
        assert_eq!(node.max_pods, 110);
        assert_eq!(
            node.labels
                .get("topology.kubernetes.io/zone")
                .map(String::as_str),
            Some(zone),
            "{}",
            node.name
        );
    }
    let taints: Vec<(&str, &str)> = trace.nodes[2]
        .taints
        .iter()
        .map(|t| (t.key.as_str(), t.effect.as_str()))
        .collect();
    assert_eq!(taints, [("dedicated", "NoSchedule")]);
    assert!(trace.nodes[0].taints.is_empty());

    // Two Deployments, the DaemonSet and the CronJob; the bare pod is left out.
    assert_eq!(trace.workloads.len(), 4, "{:#?}", trace.workloads);
    let placement = trace.placement.as_ref().context("no observed placement")?;
    assert_eq!(placement.len(), trace.workloads.len());
    let node_names = |w: usize| -> Vec<Option<&str>> {
        placement[w]
            .iter()
            .map(|n| n.map(|n| trace.nodes[n].name.as_str()))
            .collect()
    };
    let mean = |w: &WorkloadSpec| (w.cpu.mean(), w.memory.mean());

    let web = find(trace, Kind::Deployment, "shop", "web")?;
    let w = &trace.workloads[web];
    assert_eq!(w.replicas, 3);
    assert_eq!(w.priority, 0);
    assert_eq!(w.hpa, None);
    assert_eq!(
        (w.requests.cpu_milli, w.requests.memory_bytes),
        (250, (256 * MIB) as i64)
    );
    assert_eq!(w.limits.cpu_milli, Some(1000));
    assert_eq!(w.limits.memory_bytes, Some((512 * MIB) as i64));
    close("web CPU", mean(w).0, 0.5, 0.02)?;
    close("web memory", mean(w).1, 200e6, 0.02)?;
    assert_eq!(w.pdb, Some(Pdb::MinAvailable(Amount::Count(2))));
    // Its pod ran on the tainted node-c, so the replay lets it go there.
    assert!(
        w.tolerations
            .iter()
            .any(|t| t.key.as_deref() == Some("dedicated")
                && t.effect.as_deref() == Some("NoSchedule")),
        "{:?}",
        w.tolerations
    );
    let expected: Vec<Option<&str>> = WEB.iter().map(|(_, n)| Some(*n)).collect();
    assert_eq!(node_names(web), expected, "web's observed placement");

    let api = find(trace, Kind::Deployment, "shop", "api")?;
    let w = &trace.workloads[api];
    assert_eq!(w.replicas, 2);
    assert_eq!(
        (w.requests.cpu_milli, w.requests.memory_bytes),
        (300, (192 * MIB) as i64)
    );
    assert_eq!(w.limits.cpu_milli, None, "proxy has no limit");
    close("api CPU", mean(w).0, 0.5, 0.02)?;
    close("api memory", mean(w).1, 150e6, 0.02)?;
    assert_eq!(w.pdb, None);
    assert!(w.tolerations.is_empty(), "{:?}", w.tolerations);
    // Slots in pod-name order.
    let expected: Vec<Option<&str>> = API.iter().map(|(_, n)| Some(*n)).collect();
    assert_eq!(node_names(api), expected, "api's observed placement");

    let ds = find(trace, Kind::DaemonSet, "monitoring", "node-exporter")?;
    let w = &trace.workloads[ds];
    assert_eq!(w.replicas, 3);
    assert_eq!(w.requests.cpu_milli, 100);
    close("node-exporter CPU", mean(w).0, 0.05, 0.02)?;
    assert_eq!(
        node_names(ds),
        [Some("node-a"), Some("node-b"), Some("node-c")]
    );

    // Hourly runs of 10 minutes, in 5 minute steps: the first sample of a run falls on a
    // step's end, so a run touches 2 or 3 steps.
    let cron = find(trace, Kind::CronJob, "batch", "report")?;
    let w = &trace.workloads[cron];
    let schedule = w.cron.context("the CronJob has no schedule")?;
    assert_eq!(schedule.every, 12, "{schedule:?}");
    assert!((2..=3).contains(&schedule.run_for), "{schedule:?}");
    assert_eq!(w.replicas, 1);
    assert_eq!(w.requests.cpu_milli, 1000);
    assert!(placement[cron].is_empty(), "CronJobs start no pods");

    // The bare pod is named in a warning, and it is the only one: every series is there,
    // the data covers the window and the PDB found its workload.
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("bare pods") && warnings[0].contains("default/debug"),
        "{warnings:#?}"
    );
    Ok(())
}

/// Without kube-state-metrics' node series the replay has no nodes: an error that says
/// what to install, not an empty trace.
#[tokio::test]
async fn no_node_series_is_an_error() -> Result<()> {
    let cluster = ClusterMetrics::new()
        .range(START, END)
        .step(Duration::from_secs(SCRAPE as u64))
        .replica_set("shop", "web-5d9c7", "web")
        .pod(
            Pod::new("shop", "web-5d9c7-aaaaa", "node-a")
                .owner("ReplicaSet", "web-5d9c7")
                .container(Container::new("web").requests(0.25, 256 * MIB)),
        );
    let Some(prom) = Prometheus::start(&cluster.to_openmetrics()).await? else {
        return Ok(());
    };
    match build(prom.url(), AggregateIn::Store).await? {
        Err(err @ BuildError::NoNodes { .. }) => {
            let text = err.to_string();
            ensure!(
                text.contains("kube_node_status_capacity")
                    && text.contains("install kube-state-metrics"),
                "{text}"
            );
            Ok(())
        }
        Err(err) => bail!("expected NoNodes, got {err}"),
        Ok((trace, _)) => bail!("expected an error, got {} nodes", trace.nodes.len()),
    }
}

/// A Prometheus that does not answer: an error naming its URL and what to check.
#[tokio::test]
async fn unreachable_prometheus_is_a_clear_error() -> Result<()> {
    // A port that was free a moment ago and that nothing listens on now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let client = client(url.clone())?;
    let progress = ProgressBar::hidden();
    let cost = CostConfig::default();
    let build = build_trace(
        &client,
        &cost,
        SystemTime::now(),
        (Duration::from_secs(7 * 86_400), STEP),
        &progress,
    );
    let result = tokio::time::timeout(BUILD_TIMEOUT, build)
        .await
        .context("build_trace did not give up in time")?;
    let Err(err) = result else {
        bail!("expected an error from an unreachable Prometheus");
    };
    let text = err.to_string();
    ensure!(matches!(err, BuildError::Prometheus(_)), "{text}");
    ensure!(
        text.contains(&format!("cannot reach Prometheus at {url}"))
            && text.contains("prometheus.url"),
        "{text}"
    );
    Ok(())
}

/// A window or step the replay cannot use is refused before any query, saying what to use.
#[tokio::test]
async fn bad_window_or_step_is_refused_before_querying() -> Result<()> {
    // Nothing listens there: an answer proves no query was sent.
    let client = client("http://127.0.0.1:9".to_string())?;
    let progress = ProgressBar::hidden();
    let minutes = |m: u64| Duration::from_secs(60 * m);
    for (window, step, expected) in [
        (
            minutes(1),
            minutes(5),
            "use a longer --window or a shorter --step",
        ),
        (
            minutes(60),
            Duration::from_millis(500),
            "use a step of whole seconds",
        ),
        (
            Duration::from_secs(365 * 86_400),
            Duration::from_secs(60),
            "use a longer --step or a shorter --window",
        ),
    ] {
        let cost = CostConfig::default();
        let build = build_trace(&client, &cost, SystemTime::now(), (window, step), &progress);
        let result = tokio::time::timeout(BUILD_TIMEOUT, build)
            .await
            .context("build_trace did not give up in time")?;
        let Err(err) = result else {
            bail!("expected an error for --window {window:?} --step {step:?}");
        };
        let text = err.to_string();
        ensure!(!matches!(err, BuildError::Prometheus(_)), "queried: {text}");
        ensure!(text.contains(expected), "{text}");
    }
    Ok(())
}
