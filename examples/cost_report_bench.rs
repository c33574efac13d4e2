//! Benchmark of `tidal cost-report` against a real store: a week of a 100-node / 3,000-pod
//! cluster at 5-minute resolution, backfilled by promtool in 2-hour parts into Prometheus, or
//! written in the same parts straight into VictoriaMetrics' import API.
//!
//! `cargo run --release --example cost_report_bench [-- NODES PODS DAYS [STORE]]` (defaults
//! 100 3000 7 prometheus; STORE is `prometheus` or `victoria-metrics`) needs that store's Debian
//! package, about 250 MB of disk per part under $TMPDIR plus the TSDB, 1 GB of memory, and
//! minutes of backfill. It prints the backfill time, then the report's wall time, queries
//! (counted by the fetch layer, and by Prometheus itself), peak RSS of the report (run in a
//! fresh process) and its row counts, and checks every backfilled sample is queryable.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde_json::Value;
use tidal_core::prometheus::{PrometheusClient, PrometheusConfig, sample_time};
use tidal_cost::render::{self, Format};
use tidal_cost::{CostConfig, build_report, fetch};
use tidal_testkit::metrics::{ClusterMetrics, Container, Node, Pod, Profile, unix_now};
use tidal_testkit::prometheus::Prometheus;
use tidal_testkit::victoria::VictoriaMetrics;

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
    if args.first().is_some_and(|a| a == REPORT_ARG) {
        return report(&args[1..]).await;
    }
    let count = |i: usize, default: usize| -> anyhow::Result<usize> {
        args.get(i).map_or(Ok(default), |a| {
            a.parse()
                .with_context(|| format!("argument {} ({a}) is not a count", i + 1))
        })
    };
    let (nodes, pods, days) = (count(0, 100)?, count(1, 3000)?, count(2, 7)?);
    let store = args.get(3).map_or("prometheus", String::as_str);
    ensure!(
        nodes > 0 && pods >= 10 && days > 0 && ["prometheus", "victoria-metrics"].contains(&store),
        "usage: cost_report_bench [NODES PODS DAYS [prometheus|victoria-metrics]]"
    );
    let end = unix_now() - unix_now() % STEP.as_secs() as i64;
    let start = end - days as i64 * DAY;
    let cluster = cluster(nodes, pods, start, end);

    let backfill = Instant::now();
    let parts = cluster.to_openmetrics_parts(PART);
    let parts_count = parts.len();
    eprintln!(
        "{nodes} nodes, {pods} pods, {days} days at {}s: computed in {:.1?}; backfilling {parts_count} parts",
        STEP.as_secs(),
        backfill.elapsed()
    );
    let mut bytes = 0;
    let parts = parts.enumerate().map(|(i, part)| {
        bytes += part.len();
        eprintln!(
            "  part {}/{parts_count}: {} MB, {:.0?} elapsed",
            i + 1,
            part.len() >> 20,
            backfill.elapsed()
        );
        part
    });
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

    // The report runs in a fresh process, so its peak RSS is its own.
    let http = reqwest::Client::new();
    let before = served(&http, &url, &server).await?;
    let status = tokio::process::Command::new(std::env::current_exe()?)
        .arg(REPORT_ARG)
        .args([
            url.clone(),
            end.to_string(),
            nodes.to_string(),
            pods.to_string(),
        ])
        .status()
        .await?;
    ensure!(status.success(), "the report failed: {status}");
    let after = served(&http, &url, &server).await?;
    println!(
        "{store} served {} query_range + {} query requests, {:.2} s handling them",
        after.range - before.range,
        after.instant - before.instant,
        after.seconds - before.seconds
    );
    println!(
        "backfill into {store}: {backfill_time:.0?} for {parts_count} parts ({:.1} GB), {days} days ({start}..={end})",
        bytes as f64 / 1e9
    );
    verify_all_samples(&http, &url, &cluster, days).await
}

/// The store under test, kept running until the benchmark ends.
enum Server {
    Prometheus(Prometheus),
    VictoriaMetrics(VictoriaMetrics),
}

impl Server {
    fn pid(&self) -> Option<u32> {
        match self {
            Self::Prometheus(p) => p.pid(),
            Self::VictoriaMetrics(v) => v.pid(),
        }
    }
}

const REPORT_ARG: &str = "--report";

/// The child process: `--report URL END NODES PODS`. Fetches, builds and renders a 7-day
/// report ending at END with the default config, printing times, peak RSS and rows.
async fn report(args: &[String]) -> anyhow::Result<()> {
    let [url, end, nodes, pods] = args else {
        bail!("usage: cost_report_bench {REPORT_ARG} URL END NODES PODS");
    };
    let end: f64 = end.parse()?;
    let config = CostConfig::default();
    let client = PrometheusClient::new(&PrometheusConfig {
        url: url.clone(),
        ..PrometheusConfig::default()
    })?;
    let started = Instant::now();
    let tl = fetch::timeline(sample_time(end), &config);
    let progress = fetch::progress_bar();
    let data = fetch::fetch(&client, &config, tl, &progress).await?;
    progress.finish_and_clear();
    let fetched = started.elapsed();
    let report = build_report(&data, &config);
    let built = started.elapsed();
    let mut rendered = Vec::new();
    for format in [Format::Markdown, Format::Html, Format::Csv, Format::Json] {
        rendered.push((format, render::render(&report, format, config.top)?));
    }
    let total = started.elapsed();

    let a = &report.allocation;
    println!(
        "report: {total:.2?} wall (fetch {fetched:.2?}, compute {:.2?}, render 4 formats {:.2?}), {} queries",
        built - fetched,
        total - built,
        report.queries
    );
    println!(
        "peak RSS of the report process: {} MiB",
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
/// range adds up to what was generated.
async fn verify_all_samples(
    http: &reqwest::Client,
    url: &str,
    cluster: &ClusterMetrics,
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
            .query(&[
                ("query", query.as_str()),
                ("time", &cluster.end().to_string()),
            ])
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
    let generated = cluster.sample_count();
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
