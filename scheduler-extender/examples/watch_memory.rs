//! The extender's memory with its node and pod watches at 5,000 nodes / 150,000 bound pods
//! (issue 12: at most 200 MB RSS).
//!
//! This process hosts the stand-ins: testkit's `FakeApiServer` holding realistic nodes and
//! bound pods (`tidal_testkit::realistic`: managed fields, container statuses, conditions with
//! `PodScheduled` long past, so none counts as recent) and a `FakePrometheus`. It re-executes
//! itself to run the real extender (`serve`, as `tidal extender` runs it) in a child process
//! on 127.0.0.1, so that the child's RSS is the extender's own. Once the child's pod watch has
//! listed every page and opened its watch, this waits a few seconds, binds new pods through the
//! API (created Pending, then `pods/binding`) and deletes as many old ones, sends filter and
//! prioritize calls, waits until the extender counts the new pods as recent, and reads the
//! child's `VmHWM` (peak) and `VmRSS` from `/proc/<pid>/status`. Figures in BENCHMARKS.md.
//!
//! `cargo run --release -p tidal-scheduler-extender --example watch_memory --
//!  [--nodes 5000] [--pods 150000] [--churn 3000] [--calls 200] [--timeout 900]`

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::{Value, json};
use std::io::Read as _;
use tidal_core::load::{Figure, LoadConfig};
use tidal_core::prometheus::{PrometheusClient, PrometheusConfig};
use tidal_scheduler_extender::{ExtenderConfig, Options, serve};
use tidal_testkit::fake_apiserver::{FakeApiServer, RecordedRequest};
use tidal_testkit::fake_prometheus::{self, FakePrometheus, FakeSample};
use tidal_testkit::realistic;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// The first argument that makes this process the extender.
const CHILD: &str = "--extender-child";
/// Nodes the scheduler sends a call, about what it finds feasible at 5,000 nodes.
const NODES_PER_CALL: usize = 500;
/// API writes in flight during churn.
const CONCURRENT_WRITES: usize = 8;
const MIB: f64 = 1024.0;

struct Args {
    nodes: usize,
    pods: usize,
    churn: usize,
    calls: usize,
    /// Seconds to wait after the initial list, before churn.
    settle: u64,
    /// Seconds the whole run may take.
    timeout: u64,
}

fn args(argv: &[String]) -> anyhow::Result<Args> {
    let mut out = Args {
        nodes: 5_000,
        pods: 150_000,
        churn: 3_000,
        calls: 200,
        settle: 5,
        timeout: 900,
    };
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let value: usize = it
            .next()
            .with_context(|| format!("{flag} needs a number"))?
            .parse()
            .with_context(|| format!("{flag} needs a whole number"))?;
        match flag.as_str() {
            "--nodes" => out.nodes = value,
            "--pods" => out.pods = value,
            "--churn" => out.churn = value,
            "--calls" => out.calls = value,
            "--settle" => out.settle = value as u64,
            "--timeout" => out.timeout = value as u64,
            other => bail!(
                "unknown flag {other}; use --nodes, --pods, --churn, --calls, --settle, --timeout"
            ),
        }
    }
    ensure!(out.nodes > 0, "--nodes must be at least 1");
    ensure!(
        out.churn <= out.pods,
        "--churn deletes as many listed pods as it binds: at most --pods"
    );
    Ok(out)
}

fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    // The extender's runtime as `tidal extender` builds it: one worker per core.
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match argv.split_first() {
        Some((flag, rest)) if flag == CHILD => runtime.block_on(child(rest)),
        _ => runtime.block_on(parent(args(&argv)?)),
    }
}

/// The extender against the stand-ins at `--api URL --prometheus URL`. Prints its address on
/// stdout and serves until its stdin closes.
async fn child(argv: &[String]) -> anyhow::Result<()> {
    let [api_flag, api, prometheus_flag, prometheus] = argv else {
        bail!("the child takes --api URL --prometheus URL");
    };
    ensure!(
        api_flag == "--api" && prometheus_flag == "--prometheus",
        "the child takes --api URL --prometheus URL"
    );
    let uri = api
        .parse()
        .with_context(|| format!("API server URL {api:?}"))?;
    let kube = kube::Client::try_from(kube::Config::new(uri)).context("building the client")?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1")?;
    let addr = listener.local_addr()?;
    let options = Options {
        config: ExtenderConfig {
            listen: addr,
            ..ExtenderConfig::default()
        },
        load: LoadConfig {
            queries: fake_prometheus::queries(),
            ..LoadConfig::default()
        },
        prometheus: PrometheusClient::new(&PrometheusConfig {
            url: prometheus.clone(),
            ..PrometheusConfig::default()
        })?,
        kube: Some(kube),
    };
    println!("{addr}");
    let stdin_closed = tokio::task::spawn_blocking(|| {
        let mut buf = [0u8; 64];
        while std::io::stdin().read(&mut buf).is_ok_and(|n| n > 0) {}
    });
    let stdin_closed = async {
        let _ = stdin_closed.await;
    };
    serve(options, listener, stdin_closed).await
}

/// `VmHWM` and `VmRSS` of process `pid`, in KiB.
fn memory_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no {name} in {path}"))
    };
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}

/// What the API server's request log says about the child's pod watch.
#[derive(Default)]
struct PodWatch {
    /// List pages served (with or without `continue`).
    pages: usize,
    /// Lists started afresh (no `continue`): more than one means it relisted.
    lists: usize,
    watches: usize,
}

fn pod_watch(requests: &[RecordedRequest]) -> PodWatch {
    let mut out = PodWatch::default();
    for r in requests.iter().filter(|r| r.path == "/api/v1/pods") {
        if r.query.split('&').any(|p| p == "watch=true") {
            out.watches += 1;
        } else {
            out.pages += 1;
            if !r.query.split('&').any(|p| p.starts_with("continue=")) {
                out.lists += 1;
            }
        }
    }
    out
}

fn alive(child: &mut Child) -> anyhow::Result<()> {
    match child.try_wait()? {
        Some(status) => bail!("the extender process exited: {status}"),
        None => Ok(()),
    }
}

/// Load for every node, so the extender answers from load.
fn set_load(prometheus: &FakePrometheus, nodes: usize) {
    for (figure, share) in [
        (Figure::CpuAverage, 0.3),
        (Figure::CpuPeak, 0.5),
        (Figure::MemoryAverage, 0.4),
        (Figure::MemoryPeak, 0.5),
    ] {
        let scale = match figure {
            Figure::CpuAverage | Figure::CpuPeak => 16.0,
            _ => 64.0 * f64::from(1u32 << 30),
        };
        let samples = (0..nodes)
            .map(|n| {
                let busy = share * (0.5 + (n % 10) as f64 / 10.0);
                FakeSample::new(realistic::node_name(n), busy * scale)
            })
            .collect();
        prometheus.set(figure, samples);
    }
}

/// Realistic pod `i`, not yet scheduled, as a controller creates it.
fn pending_pod(i: usize, nodes: usize) -> Value {
    let mut pod = realistic::pod(i, nodes);
    if let Some(root) = pod.as_object_mut() {
        root.remove("status");
    }
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("nodeName");
    }
    // What the server assigns on create.
    if let Some(meta) = pod.get_mut("metadata").and_then(Value::as_object_mut) {
        for owned in ["uid", "resourceVersion", "creationTimestamp"] {
            meta.remove(owned);
        }
    }
    pod
}

async fn parent(args: Args) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let prometheus = FakePrometheus::start().await?;
    set_load(&prometheus, args.nodes);
    let api = FakeApiServer::start().await?;
    let seeding = Instant::now();
    for n in 0..args.nodes {
        let node: Node = serde_json::from_value(realistic::node(n)).context("a realistic node")?;
        api.add(&node).with_context(|| format!("adding node {n}"))?;
    }
    for i in 0..args.pods {
        let pod: Pod =
            serde_json::from_value(realistic::pod(i, args.nodes)).context("a realistic pod")?;
        api.add(&pod).with_context(|| format!("adding pod {i}"))?;
    }
    eprintln!(
        "stand-in API server: {} nodes, {} bound pods, stored in {:.1} s",
        args.nodes,
        args.pods,
        seeding.elapsed().as_secs_f64()
    );

    let exe = std::env::current_exe().context("finding this executable")?;
    let started = Instant::now();
    let mut child = Command::new(&exe)
        .args([
            CHILD,
            "--api",
            &api.url(),
            "--prometheus",
            &prometheus.url(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let pid = child.id().context("the extender process has no pid")?;
    let stdout = child.stdout.take().context("the child's stdout")?;
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .context("the extender did not print its address within 30 s")??;
    let url = format!("http://{}", line.trim());

    // The initial list: every page served, then the watch from its resourceVersion.
    let (mut first_page, mut listed) = (None, None);
    while listed.is_none() {
        alive(&mut child)?;
        ensure!(
            Instant::now() < deadline,
            "the pod watch did not finish its initial list within --timeout"
        );
        let watch = pod_watch(&api.requests());
        if watch.pages > 0 && first_page.is_none() {
            first_page = Some(started.elapsed());
        }
        if watch.watches > 0 {
            listed = Some((started.elapsed(), watch.pages));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (listed_at, pages) = listed.context("listed")?;
    let list_time = listed_at - first_page.unwrap_or_default();
    let (peak_listing, rss_listed) = memory_kib(pid)?;
    eprintln!(
        "initial pod list: {pages} pages in {:.1} s (watch open {:.1} s after start); \
         extender RSS {:.0} MiB, peak {:.0} MiB",
        list_time.as_secs_f64(),
        listed_at.as_secs_f64(),
        rss_listed as f64 / MIB,
        peak_listing as f64 / MIB,
    );
    tokio::time::sleep(Duration::from_secs(args.settle)).await;

    // Churn: new pods bound through the API, as many listed ones deleted.
    let churn_started = Instant::now();
    futures::stream::iter(0..args.churn)
        .map(|k| {
            let client = api.client();
            let nodes = args.nodes;
            let i = args.pods + k;
            async move {
                let pod: Pod = serde_json::from_value(pending_pod(i, nodes))?;
                let namespace = pod.metadata.namespace.clone().unwrap_or_default();
                let name = pod.metadata.name.clone().unwrap_or_default();
                let api: Api<Pod> = Api::namespaced(client, &namespace);
                api.create(&PostParams::default(), &pod)
                    .await
                    .with_context(|| format!("creating {namespace}/{name}"))?;
                let binding = json!({"apiVersion": "v1", "kind": "Binding",
                    "metadata": {"name": name},
                    "target": {"kind": "Node", "name": realistic::node_name(k % nodes)}});
                let _: Value = api
                    .create_subresource("binding", &name, &PostParams::default(), &binding)
                    .await
                    .with_context(|| format!("binding {namespace}/{name}"))?;
                let old: Pod = serde_json::from_value(realistic::pod(k, nodes))?;
                let old_namespace = old.metadata.namespace.unwrap_or_default();
                let old_name = old.metadata.name.unwrap_or_default();
                Api::<Pod>::namespaced(api.into_client(), &old_namespace)
                    .delete(&old_name, &DeleteParams::default())
                    .await
                    .with_context(|| format!("deleting {old_namespace}/{old_name}"))?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(CONCURRENT_WRITES)
        .try_collect::<()>()
        .await?;
    let churn_time = churn_started.elapsed();

    // Until the watch has delivered every binding: the extender counts them as recent pods.
    let http = reqwest::Client::builder().no_proxy().build()?;
    let recent = loop {
        alive(&mut child)?;
        let metrics = http
            .get(format!("{url}/metrics"))
            .send()
            .await
            .context("reading the extender's metrics")?
            .text()
            .await?;
        let recent = metrics
            .lines()
            .find_map(|l| l.strip_prefix("tidal_extender_recent_pods "))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if recent >= args.churn || Instant::now() >= deadline {
            break recent;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Calls as kube-scheduler makes them, for pods not yet bound (their assumed placements
    // count as recent pods too, hence after the wait).
    let names: Vec<String> = (0..args.nodes).map(realistic::node_name).collect();
    for c in 0..args.calls {
        let pod = pending_pod(args.pods + args.churn + c, args.nodes);
        let start = (c * NODES_PER_CALL) % names.len();
        let candidates: Vec<&String> = names
            .iter()
            .cycle()
            .skip(start)
            .take(NODES_PER_CALL.min(names.len()))
            .collect();
        let body = json!({"Pod": pod, "Nodes": null, "NodeNames": candidates}).to_string();
        for verb in ["filter", "prioritize"] {
            let answer = http
                .post(format!("{url}/scheduler/{verb}"))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .with_context(|| format!("{verb} call"))?;
            ensure!(
                answer.status().is_success(),
                "{verb} answered {}",
                answer.status()
            );
        }
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    alive(&mut child)?;
    let (peak, rss) = memory_kib(pid)?;
    let watch = pod_watch(&api.requests());
    // Closing stdin asks the extender to stop; the kill is for one that does not.
    drop(child.stdin.take());
    if tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .is_err()
    {
        child.kill().await.context("killing the extender")?;
    }

    println!(
        "{} nodes, {} bound pods; churn: {} bound and {} deleted in {:.1} s; {} filter and {} prioritize calls",
        args.nodes,
        args.pods,
        args.churn,
        args.churn,
        churn_time.as_secs_f64(),
        args.calls,
        args.calls
    );
    println!(
        "initial pod list: {pages} pages of 500 in {:.1} s; lists started: {}, watches opened: {}; \
         recent pods counted: {recent}",
        list_time.as_secs_f64(),
        watch.lists,
        watch.watches
    );
    println!(
        "extender VmHWM {:.0} MiB, VmRSS {:.0} MiB (after the initial list: {:.0} MiB)",
        peak as f64 / MIB,
        rss as f64 / MIB,
        rss_listed as f64 / MIB
    );
    ensure!(
        recent >= args.churn,
        "the extender counted {recent} recent pods of {} bound: the watch missed some",
        args.churn
    );
    Ok(())
}
