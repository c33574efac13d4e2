//! Load generator for the scheduler extender: the real server (in this process, on
//! 127.0.0.1) against a stand-in Prometheus and Kubernetes API, and concurrent clients sending
//! `filter` then `prioritize` for a new pod uid each time, as kube-scheduler does, while one
//! pod in ten is bound through the API (so the pod watch churns) and old ones are deleted.
//!
//! `cargo run --release --example load_extender -- [--seconds 60] [--clients 32] [--nodes 200]`
//!
//! Prints requests per second, latency percentiles, the slowest answers around each load
//! refresh, and the process's memory over time. Client and server share the machine's cores.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;
use tidal_core::load::{Figure, LoadConfig};
use tidal_core::prometheus::{PrometheusClient, PrometheusConfig};
use tidal_scheduler_extender::{ExtenderConfig, Options, serve};
use tidal_testkit::fake_apiserver::FakeApiServer;
use tidal_testkit::fake_prometheus::{self, FakePrometheus, FakeSample};
use tidal_testkit::objects;

/// Pods bound through the API and not yet deleted, at most.
const LIVE_PODS: u64 = 2_000;
/// An answer slower than this is a stall.
const STALL: Duration = Duration::from_millis(50);

struct Args {
    seconds: u64,
    clients: usize,
    nodes: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut out = Args {
        seconds: 60,
        clients: 32,
        nodes: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value: u64 = it
            .next()
            .with_context(|| format!("{flag} needs a number"))?
            .parse()
            .with_context(|| format!("{flag} needs a whole number"))?;
        match flag.as_str() {
            "--seconds" => out.seconds = value,
            "--clients" => out.clients = usize::try_from(value)?,
            "--nodes" => out.nodes = usize::try_from(value)?,
            other => anyhow::bail!("unknown flag {other}; use --seconds, --clients, --nodes"),
        }
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let names: Vec<String> = (0..args.nodes).map(|i| format!("node-{i}")).collect();
    let prometheus = FakePrometheus::start().await?;
    let figures = [
        (Figure::CpuAverage, 0.3),
        (Figure::CpuPeak, 0.5),
        (Figure::MemoryAverage, 0.4),
        (Figure::MemoryPeak, 0.5),
    ];
    for (figure, share) in figures {
        let samples = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let busy = share * (0.5 + (i % 10) as f64 / 10.0);
                let value = if matches!(figure, Figure::CpuAverage | Figure::CpuPeak) {
                    busy * 16.0
                } else {
                    busy * 64.0 * (1u64 << 30) as f64
                };
                FakeSample::new(n.as_str(), value)
            })
            .collect();
        prometheus.set(figure, samples);
    }
    let api = FakeApiServer::start().await?;
    for (i, name) in names.iter().enumerate() {
        api.add(&objects::node(
            name,
            &format!("10.1.{}.{}", i / 250, i % 250),
            "16",
            "64Gi",
        )?)?;
    }

    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/scheduler", listener.local_addr()?);
    let options = Options {
        config: ExtenderConfig::default(),
        load: LoadConfig {
            queries: fake_prometheus::queries(),
            ..LoadConfig::default()
        },
        prometheus: PrometheusClient::new(&PrometheusConfig {
            url: prometheus.url(),
            ..PrometheusConfig::default()
        })?,
        kube: Some(api.client()),
    };
    let refresh = options.config.refresh_interval;
    tokio::spawn(serve(options, listener, std::future::pending()));
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(args.clients)
        .build()?;
    // Wait (bounded) for the first load so the run measures load-aware answers.
    let ready = format!("{}/readyz", url.trim_end_matches("/scheduler"));
    let waited = Instant::now();
    while !http
        .get(&ready)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        anyhow::ensure!(
            waited.elapsed() < Duration::from_secs(30),
            "the extender never got ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    eprintln!(
        "{} clients, {} nodes, {} s; load refresh every {refresh:?}",
        args.clients, args.nodes, args.seconds
    );
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let next_pod = Arc::new(AtomicU64::new(0));
    let api = Arc::new(api);
    let names_json: Arc<str> = serde_json::to_string(&names)?.into();
    let names = Arc::new(names);
    let mut workers = Vec::new();
    for _ in 0..args.clients {
        let (http, url, stop, next_pod, api, names, names_json) = (
            http.clone(),
            url.clone(),
            Arc::clone(&stop),
            Arc::clone(&next_pod),
            Arc::clone(&api),
            Arc::clone(&names),
            Arc::clone(&names_json),
        );
        workers.push(tokio::spawn(async move {
            let mut samples: Vec<(f64, u32)> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let n = next_pod.fetch_add(1, Ordering::Relaxed);
                let pod = json!({
                    "metadata": {"name": format!("load-{n}"), "namespace": "shop",
                                 "uid": format!("00000000-0000-4000-8000-{n:012}")},
                    "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]},
                });
                // The node names are the same in every request: serialized once.
                let body = format!(r#"{{"Pod":{pod},"Nodes":null,"NodeNames":{names_json}}}"#);
                for verb in ["filter", "prioritize"] {
                    let sent = Instant::now();
                    // The whole answer is read, as kube-scheduler reads it.
                    let ok = match http
                        .post(format!("{url}/{verb}"))
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                    {
                        Ok(r) => {
                            let status = r.status();
                            r.bytes().await.map(|_| status)
                        }
                        Err(e) => Err(e),
                    };
                    let micros = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
                    if !ok.as_ref().is_ok_and(|s| s.is_success()) {
                        return Err(anyhow::anyhow!("{verb} failed: {ok:?}"));
                    }
                    samples.push((started.elapsed().as_secs_f64(), micros));
                }
                // One pod in ten is bound (the watch sees it); old ones are deleted.
                if n % 10 == 0 {
                    let node = &names[(n as usize / 10) % names.len()];
                    api.add(&objects::running_pod(
                        "shop",
                        &format!("load-{n}"),
                        "load",
                        node,
                        "100m",
                        "128Mi",
                    )?)?;
                    if n >= LIVE_PODS * 10 {
                        let old = n - LIVE_PODS * 10;
                        api.delete::<k8s_openapi::api::core::v1::Pod>("shop", &format!("load-{old}"))?;
                    }
                }
            }
            Ok(samples)
        }));
    }
    let mut rss = Vec::new();
    while started.elapsed() < Duration::from_secs(args.seconds) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        rss.push((started.elapsed().as_secs(), rss_mib()));
    }
    stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for w in workers {
        samples.extend(w.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    let mut micros: Vec<u32> = samples.iter().map(|s| s.1).collect();
    micros.sort_unstable();
    let pct = |p: f64| {
        micros
            .get(((micros.len() as f64 * p) as usize).min(micros.len().saturating_sub(1)))
            .map_or(0.0, |m| f64::from(*m) / 1000.0)
    };
    println!(
        "{} answers in {secs:.1} s: {:.0} per second",
        micros.len(),
        micros.len() as f64 / secs
    );
    println!(
        "latency ms: p50 {:.2}, p90 {:.2}, p99 {:.2}, p99.9 {:.2}, max {:.2}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(0.999),
        pct(1.0)
    );
    let stalls = samples
        .iter()
        .filter(|s| u128::from(s.1) > STALL.as_micros())
        .count();
    println!("answers slower than {STALL:?}: {stalls}");
    // The slowest answer within a second of each refresh tick.
    let period = refresh.as_secs_f64();
    let near_refresh = samples
        .iter()
        .filter(|(t, _)| (t % period).min(period - t % period) < 1.0)
        .map(|s| s.1)
        .max()
        .unwrap_or(0);
    println!(
        "slowest answer within 1 s of a refresh tick: {:.2} ms",
        f64::from(near_refresh) / 1000.0
    );
    let rss: Vec<String> = rss.iter().map(|(t, m)| format!("{t}s {m} MiB")).collect();
    println!("process RSS: {}", rss.join(", "));
    Ok(())
}

fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_string();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib >> 10)
}
