//! Tidal at work with nothing else running (`./scripts/demo`).
//!
//! The extender: a real Prometheus on loopback holds two hours of node-exporter series for
//! six nodes (`instance` as `IP:9100`); an in-process stand-in for the Kubernetes API serves
//! the nodes and pods; `tidal extender` runs against both; and a stand-in for kube-scheduler
//! sends it a burst of pods, binding each to the best-scored node.
//!
//! The predictor: a second Prometheus holds a week of cAdvisor and kube-state-metrics series
//! for three workloads; `tidal predict`'s pipeline pulls their history, finds their cycles,
//! forecasts the next day, plans replicas and writes a chart.
//!
//! The simulator: a generated three-day cluster replayed under every policy, side by side.
//!
//! `--serve` keeps everything running afterwards so you can query it yourself.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};
use tidal_core::load::LoadConfig;
use tidal_core::prometheus::{PrometheusClient, PrometheusConfig};
use tidal_predictor::chart;
use tidal_predictor::config::{PredictorConfig, PrescaleRule};
use tidal_predictor::forecast::Quantile;
use tidal_predictor::history::{Target, WorkloadResource, WorkloadTarget, fetch_history};
use tidal_predictor::plan::PlanConfig;
use tidal_predictor::report;
use tidal_predictor::run::{self, Input};
use tidal_scheduler_extender::{ExtenderConfig, Options, serve};
use tidal_testkit::fake_apiserver::FakeApiServer;
use tidal_testkit::metrics::{
    ClusterMetrics, Container, Node, Pod as PodMetrics, Profile, unix_now,
};
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let keep_serving = std::env::args().any(|a| a == "--serve");
    let nodes = cluster();

    step("filling a local Prometheus with 2 hours of node-exporter data for 6 nodes");
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

    step("starting a stand-in Kubernetes API with the nodes and a burst of pending pods");
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

    step("starting `tidal extender` against both");
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
    predictor_demo().await?;
    simulator_demo();
    Ok(())
}

/// Three days of a generated cluster replayed under every policy: `tidal simulate`.
fn simulator_demo() {
    use tidal_simulator::engine::{Options, simulate};
    use tidal_simulator::policy::Policy;
    println!();
    step(
        "tidal simulate --scenario mixed: three days of 36 nodes and 90 services under each policy",
    );
    let trace = match tidal_simulator::scenario::build("mixed", 7) {
        Ok(trace) => trace,
        Err(e) => return println!("  (the scenario could not be built: {e})"),
    };
    let policies = Policy::defaults(trace.workloads.iter().any(|w| w.hpa.is_some()));
    let report = simulate(
        &trace,
        "scenario mixed",
        &policies,
        &Options::default(),
        &|_, _, _| {},
    );
    print!("{}", tidal_simulator::report::table(&report));
    println!(
        "Where Tidal loses: `--scenario diurnal` (two tiers of 40 under-requested replicas that \
         peak together and roll daily) places worse than requests; see BENCHMARKS.md.\n\
         Try `tidal simulate --scenario week --format html --output sim.html` for heatmaps."
    );
}

/// A week of three workloads' CPU in Prometheus, then `tidal predict`'s pipeline on it.
async fn predictor_demo() -> anyhow::Result<()> {
    const DAY: i64 = 86_400;
    println!();
    step("filling a second Prometheus with a week of CPU usage for three workloads");
    let end = unix_now() / 300 * 300;
    let hour = |t: i64| (t.rem_euclid(DAY)) as f64 / 3600.0;
    // Shop traffic peaks at 14:00 UTC; a nightly batch at 02:00; an API with no cycle.
    let shop = Profile::from_fn(move |t| {
        0.2 + 0.8 * (-(hour(t) - 14.0).powi(2) / 8.0).exp() + 0.03 * ((t / 300) % 7) as f64
    });
    let batch = Profile::from_fn(move |t| {
        if (2.0..4.0).contains(&hour(t)) {
            1.5
        } else {
            0.05
        }
    });
    let mut data = ClusterMetrics::new()
        .range(end - 7 * DAY, end)
        .step(Duration::from_secs(300));
    for (workload, replicas, profile) in [("shop", 3, shop), ("batch", 1, batch)] {
        let rs = format!("{workload}-5d9c7");
        data = data.replica_set("demo", &rs, workload);
        for i in 0..replicas {
            data = data.pod(
                PodMetrics::new("demo", format!("{rs}-{i}"), "node-a")
                    .owner("ReplicaSet", &rs)
                    .container(Container::new(workload).cpu(profile.clone())),
            );
        }
    }
    data = data.replica_set("demo", "api-7f8b6", "api").pod(
        PodMetrics::new("demo", "api-7f8b6-0", "node-a")
            .owner("ReplicaSet", "api-7f8b6")
            .container(Container::new("api").cpu(0.3)),
    );
    let prometheus = Prometheus::start(&data.to_openmetrics())
        .await?
        .context("prometheus is not installed: run ./scripts/demo")?;

    step("tidal predict: history, cycles, model choice by backtest, next peak, replica plan");
    let mut config = PredictorConfig {
        history: Duration::from_secs(7 * DAY as u64),
        targets: vec![Target::Workload(WorkloadTarget {
            name: None,
            resource: WorkloadResource::Cpu,
            namespace: Some("demo".into()),
            workload: None,
        })],
        ..PredictorConfig::default()
    };
    let client = PrometheusClient::new(&PrometheusConfig {
        url: prometheus.url(),
        ..PrometheusConfig::default()
    })?;
    let at = |t: i64| std::time::UNIX_EPOCH + Duration::from_secs(t.unsigned_abs());
    let histories = fetch_history(
        &client,
        &config.targets,
        at(end - 7 * DAY),
        at(end),
        config.step,
        &config.fetch,
    )
    .await?;
    let inputs: Vec<Input> = histories
        .into_iter()
        .map(|h| Input {
            id: h.id,
            unit: "cores".into(),
            samples: h.samples,
        })
        .collect();
    for input in &inputs {
        // One replica should carry half a core, between 1 and 10 replicas.
        config.prescale.push(PrescaleRule {
            target: input.id.clone(),
            quantile: Quantile::P90,
            hpa: None,
            plan: PlanConfig::new(0.5, 1, 10),
        });
    }
    let analysed = run::analyse(&inputs, &config);
    let reports: Vec<_> = analysed.iter().map(|a| a.report.clone()).collect();
    println!("\n{}", report::table(&reports));
    let chart_path = std::env::temp_dir().join("tidal-demo-forecast.html");
    let recent: Vec<_> = analysed
        .iter()
        .filter_map(|a| {
            Some((
                a.history.as_ref()?,
                a.report.forecast.as_ref()?,
                &a.report.id,
            ))
        })
        .map(|(history, forecast, id)| chart::Panel {
            title: id,
            unit: "cores",
            history,
            forecast,
        })
        .collect();
    std::fs::write(&chart_path, chart::html("Tidal demo forecast", &recent))?;
    println!("  The shop's daily cycle and the nightly batch are found. The API shows no cycle");
    println!("  (CYCLES none): a daily repeat is tried as a prior, and its forecast stays near");
    println!("  its level. PLAN raises replicas ahead of each peak (lead 10 min) and");
    println!(
        "  lowers them only after 30 min below. Chart: {}",
        chart_path.display()
    );
    Ok(())
}

fn step(what: &str) {
    println!("==> {what}");
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
