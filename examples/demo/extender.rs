//! The extender: a real Prometheus on loopback holds two hours of node-exporter series for
//! six nodes (`instance` as `IP:9100`); an in-process stand-in for the Kubernetes API serves
//! the nodes and pods; `tidal extender` runs against both; and a stand-in for kube-scheduler
//! sends it a burst of pods, binding each to the best-scored node.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};
use tidal_core::load::LoadConfig;
use tidal_core::prometheus::{PrometheusClient, PrometheusConfig};
use tidal_scheduler_extender::{ExtenderConfig, Options, serve};
use tidal_testkit::fake_apiserver::FakeApiServer;
use tidal_testkit::metrics::{ClusterMetrics, Node, Profile, unix_now};
use tidal_testkit::objects;
use tidal_testkit::prometheus::Prometheus;
use tidal_testkit::scheduler::SchedulerSim;

const BURST: usize = 12;
const UNSCHEDULABLE: &str = "(unschedulable)";

struct DemoNode {
    name: &'static str,
    ip: &'static str,
    busy: Profile,
    memory_used: f64,
    story: &'static str,
}

fn cluster() -> Vec<DemoNode> {
    let now = unix_now();
    let spike = Profile::spike(0.30, 0.95, now - 1800..now - 900);
    vec![
        DemoNode {
            name: "node-a",
            ip: "10.0.0.11",
            busy: 0.92.into(),
            memory_used: 0.55,
            story: "hot: CPU 92%",
        },
        DemoNode {
            name: "node-b",
            ip: "10.0.0.12",
            busy: spike,
            memory_used: 0.40,
            story: "quiet now, spiked to 95% 20 min ago",
        },
        DemoNode {
            name: "node-c",
            ip: "10.0.0.13",
            busy: 0.45.into(),
            memory_used: 0.93,
            story: "memory nearly full",
        },
        DemoNode {
            name: "node-d",
            ip: "10.0.0.14",
            busy: 0.40.into(),
            memory_used: 0.50,
            story: "warm",
        },
        DemoNode {
            name: "node-e",
            ip: "10.0.0.15",
            busy: 0.15.into(),
            memory_used: 0.30,
            story: "cool",
        },
        DemoNode {
            name: "node-f",
            ip: "10.0.0.16",
            busy: 0.10.into(),
            memory_used: 0.25,
            story: "coolest",
        },
    ]
}

/// The extender answering a burst of pods; with `keep_serving`, it runs until Ctrl-C.
pub async fn run(keep_serving: bool) -> anyhow::Result<()> {
    let nodes = cluster();

    super::step("filling a local Prometheus with 2 hours of node-exporter data for 6 nodes");
    let mut data = ClusterMetrics::new();
    for n in &nodes {
        let node = Node::new(n.name, format!("{}:9100", n.ip))
            .cpus(8)
            .busy(n.busy.clone());
        data = data.node(node.memory_bytes(32 << 30).memory_used(n.memory_used));
    }
    let prometheus = Prometheus::start(&data.to_openmetrics()).await?.context(
        "prometheus is not installed: run ./scripts/demo, or apt-get install -y prometheus",
    )?;

    super::step("starting a stand-in Kubernetes API with the nodes and a burst of pending pods");
    let api = FakeApiServer::start().await?;
    for n in &nodes {
        api.add(&objects::node(n.name, n.ip, "8", "32Gi")?)?;
    }
    let pods: Vec<Pod> = (0..BURST)
        .map(|i| {
            api.add(&objects::pod(
                "shop",
                &format!("checkout-{i:02}"),
                "1",
                "1Gi",
            )?)
        })
        .collect::<anyhow::Result<_>>()?;

    super::step("starting `tidal extender` against both");
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    let options = Options {
        config: ExtenderConfig {
            refresh_interval: Duration::from_secs(2),
            // The demo reads the per-node view; it is off by default.
            debug_endpoints: true,
            ..ExtenderConfig::default()
        },
        load: LoadConfig::default(),
        prometheus: PrometheusClient::new(&PrometheusConfig {
            url: prometheus.url(),
            ..PrometheusConfig::default()
        })?,
        kube: Some(api.client()),
    };
    let server = tokio::spawn(serve(options, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    }));
    let http = reqwest::Client::new();
    wait_for_load(&http, &url, nodes.len()).await?;

    let debug = get_json(&http, &format!("{url}/debug/nodes")).await?;
    println!("\nMeasured load (Prometheus, as fractions of allocatable: 8 cores, 32 GiB)\n");
    println!("  node    instance         cpu avg  cpu peak  mem avg  mem peak");
    for n in &nodes {
        let load = node_entry(&debug, n.name)
            .map(|e| e["load"].clone())
            .unwrap_or(Value::Null);
        let pct = |v: &Value, size: f64| {
            v.as_f64()
                .map_or("-".to_string(), |v| format!("{:.0}%", 100.0 * v / size))
        };
        let gib = 32.0 * 1024.0 * 1024.0 * 1024.0;
        println!(
            "  {:<7} {:<15} {:>8} {:>9} {:>8} {:>9}   {}",
            n.name,
            format!("{}:9100", n.ip),
            pct(&load["cpu_cores"]["average"], 8.0),
            pct(&load["cpu_cores"]["peak"], 8.0),
            pct(&load["memory_bytes"]["average"], gib),
            pct(&load["memory_bytes"]["peak"], gib),
            n.story
        );
    }

    let names: Vec<String> = nodes.iter().map(|n| n.name.to_string()).collect();
    let first = &pods[0];
    let args = json!({"Pod": first, "Nodes": null, "NodeNames": names});
    let filtered = post(&http, &format!("{url}/scheduler/filter"), &args).await?;
    let scores = post(&http, &format!("{url}/scheduler/prioritize"), &args).await?;
    println!("\nWhat kube-scheduler hears for shop/checkout-00 (requests 1 CPU, 1Gi)\n");
    for name in &names {
        let score = scores
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["Host"] == name.as_str())
            .and_then(|e| e["Score"].as_i64());
        match filtered["FailedNodes"][name].as_str() {
            Some(reason) => println!("  {name}  filtered  {reason}"),
            None => println!("  {name}  passes    score {}/10", score.unwrap_or_default()),
        }
    }

    println!(
        "\nA burst of {BURST} pods, scheduled back to back (ties go to the first name: the worst case)\n"
    );
    let scheduler = SchedulerSim::new(format!("{url}/scheduler"), &api);
    let mut placed: BTreeMap<String, usize> = BTreeMap::new();
    let started = Instant::now();
    for pod in &pods {
        let placement = scheduler.schedule(pod, &names).await?;
        let node = placement
            .node
            .unwrap_or_else(|| "(unschedulable)".to_string());
        *placed.entry(node).or_default() += 1;
    }
    let elapsed = started.elapsed();
    for name in &names {
        let count = placed.get(name).copied().unwrap_or(0);
        println!("  {name}  {:<12} {count}", "█".repeat(count * 2));
    }
    if let Some(pending) = placed.get(UNSCHEDULABLE) {
        println!(
            "  {pending} left Pending: every node would go over a threshold with it (FailedNodes says which)."
        );
    }
    println!(
        "\n  {BURST} pods in {:.1} ms ({} extender calls, each answered from memory).",
        elapsed.as_secs_f64() * 1000.0,
        2 * BURST
    );
    println!("  Pods bound since the last sample count by their estimate, so the burst spreads");
    println!("  over the cool nodes instead of piling onto the one that looked coolest.");

    if keep_serving {
        println!("\nStill running. Try:");
        println!("  curl -s {url}/debug/nodes | python3 -m json.tool");
        println!("  curl -s {url}/metrics");
        println!("  curl -s {url}/readyz");
        println!(
            "Prometheus is at {}. Ctrl-C stops everything.",
            prometheus.url()
        );
        server.await??;
    } else {
        println!("\nRun `./scripts/demo --serve` to keep it running and query it yourself.");
    }
    Ok(())
}

async fn wait_for_load(http: &reqwest::Client, url: &str, nodes: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        if let Ok(debug) = get_json(http, &format!("{url}/debug/nodes")).await
            && debug["load"]["nodes_with_load"] == nodes
            && debug["load"]["unmapped_nodes"] == json!([])
        {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the extender found no load within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn node_entry<'a>(debug: &'a Value, name: &str) -> Option<&'a Value> {
    debug["nodes"]
        .as_array()?
        .iter()
        .find(|n| n["name"] == name)
}

async fn get_json(http: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    Ok(http
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<Value> {
    Ok(http
        .post(url)
        .json(body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}
