//! Benchmark of `tidal cost-report` against a real store: a week of a 100-node / 3,000-pod
//! cluster at 5-minute resolution, backfilled by promtool in 2-hour parts into Prometheus, or
//! written in the same parts straight into VictoriaMetrics' import API.
//!
//! `cargo run --release --example cost_report_bench [-- NODES PODS DAYS [STORE]]` (defaults
//! 100 3000 7 prometheus; STORE is `prometheus` or `victoria-metrics`) needs that store's Debian
//! package, about 250 MB of disk per part under $TMPDIR plus the TSDB, 1 GB of memory, and
//! minutes of backfill. It prints the backfill time, then the report's wall time, queries
//! (counted by the fetch layer, and by Prometheus itself), peak RSS of the report (run in a
//! fresh process) and its row counts, the same for `tidal simulate --from-prometheus`'s trace of
//! that week, and checks every backfilled sample is queryable.
//!
//! A thousand nodes take about 20 minutes to generate, so VictoriaMetrics data can also be
//! generated once into a kept directory and reported on as often as the report changes:
//!
//! - `cost_report_bench generate DIR NODES PODS DAYS` writes the data into a VictoriaMetrics on
//!   DIR (which must be new or empty), then `DIR/bench.json` describing it, and waits for the
//!   store's merges. Interrupted (Ctrl-C, SIGTERM), it stops the store cleanly; DIR then has no
//!   `bench.json` and is to be removed.
//! - `cost_report_bench report-on DIR [--verify]` serves DIR again, waits for the store to be
//!   idle and runs the same report as the default mode, printing the same figures;
//!   `--verify` also checks every generated sample is queryable.
//! - `cost_report_bench simulate-on DIR` does the same for `tidal simulate --from-prometheus`'s
//!   trace of that week at 5-minute steps: wall time, queries, bytes received, peak RSS.
//!
//! In every mode the report reaches the store through a proxy in this process that counts the
//! bytes the store sends it, printed as "bytes received". `TIDAL_BENCH_AGGREGATE_IN=tidal` sets
//! `cost.aggregate_in` (default `store`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tidal_core::prometheus::{PrometheusClient, PrometheusConfig, sample_time};
use tidal_cost::render::{self, Format};
use tidal_cost::{CostConfig, build_report, fetch};
use tidal_testkit::metrics::{ClusterMetrics, Container, Node, Pod, Profile, unix_now};
use tidal_testkit::prometheus::Prometheus;
use tidal_testkit::victoria::VictoriaMetrics;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const STEP: Duration = Duration::from_secs(300);
/// One part per 2 h: about 250 MB of text at full size, one promtool block.
const PART: Duration = Duration::from_secs(2 * 3600);
const GIB: u64 = 1 << 30;
const DAY: i64 = 86_400;
/// Stores compact what was backfilled in the background (Prometheus from a minute after start);
/// the report is timed once they are done, as on a long-running server.
const COMPACTION_START: Duration = Duration::from_secs(75);
const IDLE_CHECK: Duration = Duration::from_secs(10);
/// CPU seconds per `IDLE_CHECK` below which Prometheus counts as idle.
const IDLE_CPU: f64 = 0.3;
const IDLE_TIMEOUT: Duration = Duration::from_secs(1800);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some(REPORT_ARG) => return report(&args[1..]).await,
        Some("generate") => return until_interrupted(generate(&args[1..])).await,
        Some("report-on") => return until_interrupted(report_on(&args[1..], REPORT_ARG)).await,
        Some("simulate-on") => return until_interrupted(report_on(&args[1..], TRACE_ARG)).await,
        Some(TRACE_ARG) => return trace(&args[1..]).await,
        _ => {}
    }
    let (nodes, pods, days) = sizes(&args)?;
    let store = args.get(3).map_or("prometheus", String::as_str);
    ensure!(
        ["prometheus", "victoria-metrics"].contains(&store),
        "usage: cost_report_bench [NODES PODS DAYS [prometheus|victoria-metrics]]"
    );
    let (start, end) = window(days);
    let cluster = cluster(nodes, pods, start, end);

    let backfill = Instant::now();
    let mut bytes = 0;
    let (parts_count, parts) = parts(&cluster, (nodes, pods, days), &mut bytes);
    let (url, server) = match store {
        "prometheus" => {
            let Some(prom) = Prometheus::start_from_parts(parts, PART).await? else {
                bail!("prometheus and promtool are needed: apt-get install -y prometheus");
            };
            (prom.url(), Server::Prometheus(prom))
        }
        _ => {
            let Some(vm) = VictoriaMetrics::start_from_parts(parts).await? else {
                bail!("victoria-metrics is needed: apt-get install -y victoria-metrics");
            };
            (vm.url(), Server::VictoriaMetrics(vm))
        }
    };
    let backfill_time = backfill.elapsed();
    eprintln!(
        "backfilled {:.1} GB of OpenMetrics into {store} in {backfill_time:.0?}",
        bytes as f64 / 1e9
    );
    // Both stores compact (merge) what was written in the background.
    wait_for_compaction(server.pid()).await?;

    for child in [REPORT_ARG, TRACE_ARG] {
        run_report(&server, &url, child, (end, nodes, pods)).await?;
    }
    println!(
        "backfill into {store}: {backfill_time:.0?} for {parts_count} parts ({:.1} GB), {days} days ({start}..={end})",
        bytes as f64 / 1e9
    );
    let http = reqwest::Client::new();
    verify_all_samples(&http, &url, cluster.end(), cluster.sample_count(), days).await
}

/// NODES PODS DAYS, the first three of `args`, each defaulting to the default mode's.
fn sizes(args: &[String]) -> anyhow::Result<(usize, usize, usize)> {
    let count = |i: usize, name: &str, default: usize| -> anyhow::Result<usize> {
        args.get(i).map_or(Ok(default), |a| {
            a.parse()
                .with_context(|| format!("{name} ({a}) is not a count"))
        })
    };
    let sizes @ (nodes, pods, days) = (
        count(0, "NODES", 100)?,
        count(1, "PODS", 3000)?,
        count(2, "DAYS", 7)?,
    );
    ensure!(
        nodes > 0 && pods >= 10 && days > 0,
        "at least 1 node, 10 pods and 1 day"
    );
    Ok(sizes)
}

/// `days` up to now, rounded down to a whole step: `(start, end)` in Unix seconds.
fn window(days: usize) -> (i64, i64) {
    let now = unix_now();
    let end = now - now % STEP.as_secs() as i64;
    (end - days as i64 * DAY, end)
}

/// The cluster's OpenMetrics in `PART` slices, each rendered when pulled and announced with
/// its size and the time elapsed; `bytes` adds up their sizes. Also returns how many there are.
fn parts<'a>(
    cluster: &ClusterMetrics,
    (nodes, pods, days): (usize, usize, usize),
    bytes: &'a mut usize,
) -> (usize, impl Iterator<Item = String> + 'a) {
    let started = Instant::now();
    let parts = cluster.to_openmetrics_parts(PART);
    let count = parts.len();
    eprintln!(
        "{nodes} nodes, {pods} pods, {days} days at {}s: computed in {:.1?}; backfilling {count} parts",
        STEP.as_secs(),
        started.elapsed()
    );
    let parts = parts.enumerate().map(move |(i, part)| {
        *bytes += part.len();
        eprintln!(
            "  part {}/{count}: {} MB, {:.0?} elapsed",
            i + 1,
            part.len() >> 20,
            started.elapsed()
        );
        part
    });
    (count, parts)
}

/// What `generate` wrote into DIR, as `DIR/bench.json`: what `report-on` needs to run the
/// same report on it, and to verify it without generating it again.
#[derive(Serialize, Deserialize)]
struct Bench {
    nodes: usize,
    pods: usize,
    days: usize,
    /// First and last sample, Unix seconds.
    start: i64,
    end: i64,
    step_secs: i64,
    /// Samples generated, for `report-on --verify`.
    samples: usize,
}

const BENCH_JSON: &str = "bench.json";

/// `generate DIR NODES PODS DAYS`: the cluster's metrics into a VictoriaMetrics on DIR, kept.
async fn generate(args: &[String]) -> anyhow::Result<()> {
    let usage = "usage: cost_report_bench generate DIR NODES PODS DAYS";
    let [dir, sizes_args @ ..] = args else {
        bail!(usage);
    };
    ensure!(sizes_args.len() == 3, usage);
    let (nodes, pods, days) = sizes(sizes_args)?;
    let dir = PathBuf::from(dir);
    // Data of another size or week would be mixed in and counted by `--verify`.
    ensure!(
        !dir.exists() || dir.read_dir()?.next().is_none(),
        "{} is not empty: generate into a new directory",
        dir.display()
    );
    let Some(vm) = VictoriaMetrics::start_on_dir(&dir).await? else {
        bail!("victoria-metrics is needed: apt-get install -y victoria-metrics");
    };
    let (start, end) = window(days);
    let cluster = cluster(nodes, pods, start, end);
    let written = Instant::now();
    let mut bytes = 0;
    let (parts_count, parts) = parts(&cluster, (nodes, pods, days), &mut bytes);
    vm.import_parts(parts).await?;
    eprintln!(
        "wrote {:.1} GB of OpenMetrics in {parts_count} parts into {} in {:.0?}",
        bytes as f64 / 1e9,
        dir.display(),
        written.elapsed()
    );
    let bench = Bench {
        nodes,
        pods,
        days,
        start: cluster.start(),
        end: cluster.end(),
        step_secs: cluster.step_secs(),
        samples: cluster.sample_count(),
    };
    let json = dir.join(BENCH_JSON);
    std::fs::write(&json, serde_json::to_string_pretty(&bench)? + "\n")?;
    eprintln!("wrote {}", json.display());
    // Merged now, the data is served at once by `report-on`, and its size on disk is final.
    wait_for_compaction(vm.pid()).await?;
    println!(
        "generated {nodes} nodes, {pods} pods, {days} days ({} samples) into {} in {:.0?}",
        bench.samples,
        dir.display(),
        written.elapsed()
    );
    Ok(())
}

/// `report-on DIR [--verify]`: the default mode's report on what `generate` left in DIR.
/// `report-on` and `simulate-on`: `child` says which runs in the child process.
async fn report_on(args: &[String], child: &str) -> anyhow::Result<()> {
    let verify = args.iter().any(|a| a == "--verify");
    let dirs: Vec<&String> = args.iter().filter(|a| *a != "--verify").collect();
    let [dir] = dirs[..] else {
        bail!("usage: cost_report_bench report-on|simulate-on DIR [--verify]");
    };
    let dir = Path::new(dir);
    let json = dir.join(BENCH_JSON);
    let text = std::fs::read_to_string(&json).with_context(|| {
        format!(
            "reading {}: is {} a complete `generate`?",
            json.display(),
            dir.display()
        )
    })?;
    let bench: Bench =
        serde_json::from_str(&text).with_context(|| format!("reading {}", json.display()))?;
    let Some(vm) = VictoriaMetrics::start_on_dir(dir).await? else {
        bail!("victoria-metrics is needed: apt-get install -y victoria-metrics");
    };
    let url = vm.url();
    let server = Server::VictoriaMetrics(vm);
    eprintln!(
        "{} nodes, {} pods, {} days ({}..={}) from {}",
        bench.nodes,
        bench.pods,
        bench.days,
        bench.start,
        bench.end,
        dir.display()
    );
    wait_for_compaction(server.pid()).await?;
    run_report(&server, &url, child, (bench.end, bench.nodes, bench.pods)).await?;
    if verify {
        let http = reqwest::Client::new();
        verify_all_samples(&http, &url, bench.end, bench.samples, bench.days).await?;
    }
    Ok(())
}

/// Runs `work` until it ends or SIGINT / SIGTERM arrives. Either way its store, dropped,
/// shuts down cleanly, which matters for a kept data directory: killed outright, the store
/// would lose what it still buffers (and leave the directory locked if left running).
async fn until_interrupted(work: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut interrupt, mut terminate) = (
        signal(SignalKind::interrupt())?,
        signal(SignalKind::terminate())?,
    );
    tokio::select! {
        // First: on Ctrl-C the store gets SIGINT too, and `work` fails as it goes away.
        biased;
        _ = interrupt.recv() => bail!("interrupted; the store was shut down"),
        _ = terminate.recv() => bail!("terminated; the store was shut down"),
        done = work => done,
    }
}

/// Runs the report (or, with `child` = [`TRACE_ARG`], the simulator's trace) in a fresh process,
/// so its peak RSS is its own, reaching the store at `url` through a proxy that counts the bytes
/// received; prints those, and the store's own count of the queries it served.
async fn run_report(
    server: &Server,
    url: &str,
    child: &str,
    (end, nodes, pods): (i64, usize, usize),
) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let (proxy, received) = counting_proxy(url).await?;
    let before = served(&http, url, server).await?;
    let status = tokio::process::Command::new(std::env::current_exe()?)
        .arg(child)
        .args([proxy, end.to_string(), nodes.to_string(), pods.to_string()])
        .status()
        .await?;
    ensure!(status.success(), "the report failed: {status}");
    // VictoriaMetrics answers `/metrics` from a copy refreshed about once a second: without
    // this pause, a report of under a second reads as no queries at all.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = served(&http, url, server).await?;
    let received = received.load(Ordering::Relaxed);
    println!(
        "bytes received: {:.1} MB ({received} bytes of HTTP responses, headers included)",
        received as f64 / 1e6
    );
    println!(
        "{} served {} query_range + {} query requests, {:.2} s handling them",
        server.name(),
        after.range - before.range,
        after.instant - before.instant,
        after.seconds - before.seconds
    );
    Ok(())
}

/// A TCP proxy on a free `127.0.0.1` port forwarding to the store at `url` (`http://HOST:PORT`)
/// and counting the bytes the store sends back: the store's responses as the report receives
/// them, whatever the store and whatever the client's encoding. Returns the proxy's URL.
async fn counting_proxy(url: &str) -> anyhow::Result<(String, Arc<AtomicU64>)> {
    let store = url
        .strip_prefix("http://")
        .with_context(|| format!("{url} is not http://HOST:PORT"))?
        .trim_end_matches('/')
        .to_string();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let proxy = format!("http://{}", listener.local_addr()?);
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (store, counter) = (store.clone(), Arc::clone(&counter));
            tokio::spawn(async move {
                let Ok(upstream) = TcpStream::connect(&store).await else {
                    return;
                };
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_store, mut to_store) = upstream.into_split();
                let requests = async {
                    tokio::io::copy(&mut from_client, &mut to_store).await?;
                    to_store.shutdown().await
                };
                let responses = async {
                    let mut buf = vec![0; 64 << 10];
                    loop {
                        let n = from_store.read(&mut buf).await?;
                        if n == 0 {
                            return to_client.shutdown().await;
                        }
                        to_client.write_all(&buf[..n]).await?;
                        counter.fetch_add(n as u64, Ordering::Relaxed);
                    }
                };
                let _: (std::io::Result<()>, std::io::Result<()>) =
                    tokio::join!(requests, responses);
            });
        }
    });
    Ok((proxy, received))
}

/// The store under test, kept running until the benchmark ends.
enum Server {
    Prometheus(Prometheus),
    VictoriaMetrics(VictoriaMetrics),
}

impl Server {
    fn name(&self) -> &'static str {
        match self {
            Self::Prometheus(_) => "prometheus",
            Self::VictoriaMetrics(_) => "victoria-metrics",
        }
    }

    fn pid(&self) -> Option<u32> {
        match self {
            Self::Prometheus(p) => p.pid(),
            Self::VictoriaMetrics(v) => v.pid(),
        }
    }
}

const REPORT_ARG: &str = "--report";
const TRACE_ARG: &str = "--trace";
const AGGREGATE_IN_VAR: &str = "TIDAL_BENCH_AGGREGATE_IN";

/// What a child process reads from its arguments `URL END NODES PODS`: the default cost
/// settings with `cost.aggregate_in` from [`AGGREGATE_IN_VAR`], and a client for URL.
struct Child<'a> {
    config: CostConfig,
    client: PrometheusClient,
    end: f64,
    nodes: &'a str,
    pods: &'a str,
}

impl<'a> Child<'a> {
    fn new(mode: &str, args: &'a [String]) -> anyhow::Result<Self> {
        let [url, end, nodes, pods] = args else {
            bail!("usage: cost_report_bench {mode} URL END NODES PODS");
        };
        let mut config = CostConfig::default();
        if let Ok(name) = std::env::var(AGGREGATE_IN_VAR) {
            config.aggregate_in = serde_json::from_value(Value::String(name))
                .with_context(|| format!("{AGGREGATE_IN_VAR}: store or tidal"))?;
        }
        let client = PrometheusClient::new(&config.history_prometheus(&PrometheusConfig {
            url: url.clone(),
            ..PrometheusConfig::default()
        }))?;
        Ok(Self {
            config,
            client,
            end: end.parse()?,
            nodes,
            pods,
        })
    }
}

/// The child process: `--report URL END NODES PODS`. Fetches, builds and renders a 7-day
/// report ending at END with the default config, printing times, peak RSS and rows.
async fn report(args: &[String]) -> anyhow::Result<()> {
    let Child {
        config,
        client,
        end,
        nodes,
        pods,
    } = Child::new(REPORT_ARG, args)?;
    let started = Instant::now();
    let tl = fetch::timeline(sample_time(end), &config);
    let progress = fetch::progress_bar();
    let data = fetch::fetch(&client, &config, tl, &progress).await?;
    progress.finish_and_clear();
    let fetched = started.elapsed();
    let fetch_rss = peak_rss_kib().unwrap_or(0) >> 10;
    let report = build_report(&data, &config);
    let built = started.elapsed();
    let mut rendered = Vec::new();
    for format in [Format::Markdown, Format::Html, Format::Csv, Format::Json] {
        rendered.push((format, render::render(&report, format, config.top)?));
    }
    let total = started.elapsed();

    let a = &report.allocation;
    println!(
        "report: {total:.2?} wall (fetch {fetched:.2?}, compute {:.2?}, render 4 formats {:.2?}), {} queries, aggregated in {:?}",
        built - fetched,
        total - built,
        report.queries,
        config.aggregate_in
    );
    println!(
        "peak RSS of the report process: {} MiB ({fetch_rss} MiB by the end of the fetch)",
        peak_rss_kib().unwrap_or(0) >> 10
    );
    println!(
        "rows: {} containers, {} workloads, {} namespaces, {} nodes, {} right-sizing, {} pre-scaling, {} warnings",
        a.containers.len(),
        a.workloads.len(),
        a.namespaces.len(),
        a.nodes.len(),
        report.rightsizing.len(),
        report.prescale.len(),
        report.warnings.len()
    );
    // The Markdown and HTML reports, to read what a reviewer would.
    for (format, text) in &rendered {
        println!("  {format:?}: {} KB", text.len() >> 10);
        if let Some(ext) = match format {
            Format::Markdown => Some("md"),
            Format::Html => Some("html"),
            _ => None,
        } {
            let path = std::env::temp_dir().join(format!("tidal-cost-report.{ext}"));
            std::fs::write(&path, text)?;
            println!("    written to {}", path.display());
        }
    }
    for w in &report.warnings {
        println!("  warning: {w}");
    }
    ensure!(
        a.nodes.len().to_string() == *nodes,
        "expected {nodes} nodes"
    );
    ensure!(
        a.containers.len().to_string() == *pods,
        "expected {pods} containers"
    );
    Ok(())
}

/// The child process: `--trace URL END NODES PODS`. Builds `tidal simulate --from-prometheus`'s
/// trace of the 7 days ending at END at 5-minute steps, printing time, queries and peak RSS.
async fn trace(args: &[String]) -> anyhow::Result<()> {
    let Child {
        config,
        client,
        end,
        nodes,
        ..
    } = Child::new(TRACE_ARG, args)?;
    let started = Instant::now();
    let progress = fetch::progress_bar();
    let (trace, warnings) = tidal_simulator::from_prometheus::build_trace(
        &client,
        &config,
        sample_time(end),
        (Duration::from_secs(7 * DAY as u64), STEP),
        &progress,
    )
    .await?;
    progress.finish_and_clear();
    let replicas: u32 = trace.workloads.iter().map(|w| w.replicas).sum();
    println!(
        "trace: {:.2?} wall, {} queries, aggregated in {:?}; peak RSS {} MiB",
        started.elapsed(),
        progress.length().unwrap_or(0),
        config.aggregate_in,
        peak_rss_kib().unwrap_or(0) >> 10
    );
    println!(
        "trace: {} nodes, {} workloads ({replicas} replicas at the start), {} steps",
        trace.nodes.len(),
        trace.workloads.len(),
        trace.steps
    );
    for w in &warnings {
        println!("  warning: {w}");
    }
    ensure!(
        trace.nodes.len().to_string() == *nodes,
        "expected {nodes} nodes"
    );
    Ok(())
}

/// Nodes of 8 CPUs / 32 GiB, one in four spot. Pods (one container each): two DaemonSets,
/// CronJob runs of an hour each spread over the window (so pods come and go), StatefulSets
/// of 5 and Deployments of 5 for the rest, in 40 namespaces. Usage follows a daily cycle with
/// a per-workload phase; requests are over-provisioned by up to 4×; memory limits are twice
/// the requests, except every 50th workload, which runs near its limit.
fn cluster(nodes: usize, pods: usize, start: i64, end: i64) -> ClusterMetrics {
    let mut cluster = ClusterMetrics::new().range(start, end).step(STEP);
    let node_name = |i: usize| format!("node-{i:03}");
    for i in 0..nodes {
        let capacity = if i.is_multiple_of(4) {
            "spot"
        } else {
            "on-demand"
        };
        cluster = cluster.node(
            Node::new(
                node_name(i),
                format!("10.0.{}.{}:9100", i / 250, i % 250 + 1),
            )
            .cpus(8)
            .memory_bytes(32 * GIB)
            .kube_label("node.kubernetes.io/instance-type", "m5.2xlarge")
            .kube_label("karpenter.sh/capacity-type", capacity),
        );
    }
    let daemon_sets = ["node-exporter", "fluent-bit"];
    let cron_runs = (pods / 15).max(1);
    let stateful = pods / 30;
    let mut placed = 0;
    let mut next_node = || {
        placed += 1;
        node_name(placed % nodes)
    };
    let mut made = 0;
    for ds in daemon_sets {
        for n in 0..nodes.min(pods / 10) {
            let pod = Pod::new("monitoring", format!("{ds}-{n:03}"), node_name(n))
                .owner("DaemonSet", ds)
                .container(container(ds, made / nodes, 0.05, 64 << 20));
            cluster = cluster.pod(pod);
            made += 1;
        }
    }
    let span = (end - start).max(1);
    for run in 0..cron_runs {
        let (ns, cron) = (format!("batch-{}", run % 5), format!("report-{}", run % 20));
        let job = format!("{cron}-{run:05}");
        let from = start + (run as i64 * 7919 * 300) % span;
        cluster = cluster.job(&ns, &job, &cron).pod(
            Pod::new(&ns, format!("{job}-x7k2p"), next_node())
                .owner("Job", &job)
                .running(from..from + 3600)
                .container(container("report", run % 20, 0.5, GIB)),
        );
        made += 1;
    }
    for i in 0..stateful {
        let (ns, sts) = (format!("team-{}", i % 40), format!("db-{}", i / 5));
        cluster = cluster.pod(
            Pod::new(&ns, format!("{sts}-{}", i % 5), next_node())
                .owner("StatefulSet", &sts)
                .container(container("db", i / 5, 0.5, 2 * GIB)),
        );
        made += 1;
    }
    for i in 0..pods.saturating_sub(made) {
        let w = i / 5;
        let (ns, deploy) = (format!("team-{}", w % 40), format!("app-{w}"));
        let rs = format!("{deploy}-5d9c7");
        if i.is_multiple_of(5) {
            cluster = cluster.replica_set(&ns, &rs, &deploy);
        }
        cluster = cluster.pod(
            Pod::new(&ns, format!("{rs}-{:05}", i % 5), next_node())
                .owner("ReplicaSet", &rs)
                .container(container("app", w, 0.2, 512 << 20)),
        );
    }
    cluster
}

/// A container of workload number `w` requesting `cores` and `bytes`.
fn container(name: &str, w: usize, cores: f64, bytes: u64) -> Container {
    let phase = w as f64 * 0.7;
    let used = 0.25 + 0.75 * ((w * 37) % 100) as f64 / 100.0;
    let daily =
        move |t: i64| 1.0 + 0.5 * (t as f64 / DAY as f64 * std::f64::consts::TAU + phase).sin();
    let memory = bytes as f64 * used * 0.6;
    let limit = if w.is_multiple_of(50) {
        (memory * 1.6) as u64
    } else {
        2 * bytes
    };
    Container::new(name)
        .cpu(Profile::from_fn(move |t| cores * used * 0.6 * daily(t)))
        .memory(Profile::from_fn(move |t| memory * (0.8 + 0.2 * daily(t))))
        .requests(cores, bytes)
        .limits(2.0 * cores, limit)
}

/// Waits until the store has compacted the backfilled data: its CPU time stops growing.
async fn wait_for_compaction(pid: Option<u32>) -> anyhow::Result<()> {
    let pid = pid.context("the store is not running")?;
    let waited = Instant::now();
    tokio::time::sleep(COMPACTION_START).await;
    let mut last = cpu_seconds(pid)?;
    while waited.elapsed() < IDLE_TIMEOUT {
        tokio::time::sleep(IDLE_CHECK).await;
        let now = cpu_seconds(pid)?;
        eprintln!(
            "  waiting for the store's compaction: {:.1} CPU s in {IDLE_CHECK:?}, {:.0?} waited",
            now - last,
            waited.elapsed()
        );
        if now - last < IDLE_CPU {
            return Ok(());
        }
        last = now;
    }
    bail!("the store is still busy after {IDLE_TIMEOUT:?}")
}

/// User + system CPU seconds of process `pid`, from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    let (Some(user), Some(system)) = (ticks(11), ticks(12)) else {
        bail!("unexpected /proc/{pid}/stat: {stat}");
    };
    // USER_HZ is 100 on every Linux architecture these stores ship for.
    Ok((user + system) / 100.0)
}

/// The store's own counts of query requests and the seconds it spent handling them.
struct Served {
    range: u64,
    instant: u64,
    seconds: f64,
}

async fn served(http: &reqwest::Client, url: &str, server: &Server) -> anyhow::Result<Served> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let sum = |metric: &str, handlers: &[&str]| -> f64 {
        text.lines()
            .filter(|l| {
                l.starts_with(metric)
                    && handlers
                        .iter()
                        .any(|h| l.contains(&format!("handler=\"{h}\"")))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let (range, instant) = ("/api/v1/query_range", "/api/v1/query");
    Ok(match server {
        Server::Prometheus(_) => Served {
            range: sum("prometheus_http_requests_total{", &[range]) as u64,
            instant: sum("prometheus_http_requests_total{", &[instant]) as u64,
            seconds: sum(
                "prometheus_http_request_duration_seconds_sum{",
                &[range, instant],
            ),
        },
        Server::VictoriaMetrics(_) => {
            // `vm_http_requests_total{path="..."}`; durations are the summary
            // `vm_request_duration_seconds{path="..."}`.
            let path = |metric: &str, p: &str| {
                text.lines()
                    .filter(|l| l.starts_with(metric) && l.contains(&format!("path=\"{p}\"")))
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                    .sum::<f64>()
            };
            Served {
                range: path("vm_http_requests_total{", range) as u64,
                instant: path("vm_http_requests_total{", instant) as u64,
                seconds: path("vm_request_duration_seconds_sum{", range)
                    + path("vm_request_duration_seconds_sum{", instant),
            }
        }
    })
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Every backfilled sample is queryable: per metric name, `count_over_time` over the whole
/// range adds up to what was generated: `generated` samples over `days`, the last at `end`.
async fn verify_all_samples(
    http: &reqwest::Client,
    url: &str,
    end: i64,
    generated: usize,
    days: usize,
) -> anyhow::Result<()> {
    let names: Value = http
        .get(format!("{url}/api/v1/label/__name__/values"))
        .send()
        .await?
        .json()
        .await?;
    let names = names["data"].as_array().context("no metric names")?;
    let mut queried = 0.0;
    for name in names.iter().filter_map(Value::as_str) {
        let query = format!("sum(count_over_time({name}[{}d]))", days + 1);
        let answer: Value = http
            .get(format!("{url}/api/v1/query"))
            .query(&[("query", query.as_str()), ("time", &end.to_string())])
            .send()
            .await?
            .json()
            .await?;
        let value = answer["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .with_context(|| format!("{query}: {answer}"))?;
        queried += value;
    }
    println!(
        "verified: {queried} samples queryable of {generated} generated, in {} metric names",
        names.len()
    );
    ensure!(
        queried as usize == generated,
        "samples lost in the backfill"
    );
    Ok(())
}
