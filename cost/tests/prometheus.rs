//! `tidal cost-report`'s data path against a real Prometheus backfilled with a small,
//! hand-computable cluster: costs match OpenCost's formula to the cent, pods that come and
//! go are costed for the steps they ran, workloads plus idle add up to the node bill, a
//! CronJob's pods resolve through kube_job_owner, memory near its limit is flagged, and
//! bad data shows up as warnings. Skips when Prometheus is not installed, unless
//! TIDAL_REQUIRE_PROMETHEUS=1.

use std::error::Error;
use std::time::Duration;

use tidal_core::prometheus::{PrometheusClient, PrometheusConfig};
use tidal_cost::allocate::owner_workload;
use tidal_cost::prices::InstanceTypePrice;
use tidal_cost::render::{self, Format};
use tidal_cost::{AggregateIn, CostConfig, Report, RightsizeConfig, Summary, build_report, fetch};
use tidal_testkit::metrics::{ClusterMetrics, Container, Node, Pod, Profile};
use tidal_testkit::tsdb::{self, Tsdb};

type TestResult = Result<(), Box<dyn Error>>;

const GIB: u64 = 1 << 30;
/// An hour boundary in the past; the data covers two hours from here, one sample a minute.
const START: i64 = 1_700_000_000 - 1_700_000_000 % 3600;
const END: i64 = START + 7200;

/// node-a: 4 CPUs, 16 GiB, m5.xlarge (priced at $0.192/h). node-b: 2 CPUs, 8 GiB, a spot
/// c5.large with no configured price (so the default spot prices, and a warning).
fn cluster() -> ClusterMetrics {
    ClusterMetrics::new()
        .range(START, END)
        .step(Duration::from_secs(60))
        .node(
            Node::new("node-a", "10.0.0.1:9100")
                .cpus(4)
                .memory_bytes(16 * GIB)
                .kube_label("node.kubernetes.io/instance-type", "m5.xlarge"),
        )
        .node(
            Node::new("node-b", "10.0.0.2:9100")
                .cpus(2)
                .memory_bytes(8 * GIB)
                .kube_label("node.kubernetes.io/instance-type", "c5.large")
                .kube_label("karpenter.sh/capacity-type", "spot"),
        )
        .replica_set("shop", "web-5d9c7", "web")
        .job("batch", "report-28000", "report")
        // Uses more CPU than it requests: charged its usage.
        .pod(
            Pod::new("shop", "web-0", "node-a")
                .owner("ReplicaSet", "web-5d9c7")
                .container(
                    Container::new("web")
                        .cpu(0.5)
                        .memory(200e6)
                        .requests(0.25, 512 << 20)
                        .limits(1.0, GIB),
                ),
        )
        // Runs one hour of the two: charged its requests for that hour.
        .pod(
            Pod::new("shop", "web-1", "node-b")
                .owner("ReplicaSet", "web-5d9c7")
                .running(START + 1800..START + 5400)
                .container(
                    Container::new("web")
                        .cpu(0.1)
                        .memory(300e6)
                        .requests(0.25, 512 << 20),
                ),
        )
        // A CronJob's Job pod running 30 minutes on node-a with no requests: charged its usage
        // only. Its 1 GiB working set is 94 % of its memory limit.
        .pod(
            Pod::new("batch", "report-28000-x7k2p", "node-a")
                .owner("Job", "report-28000")
                .running(START + 600..START + 2400)
                .container(
                    Container::new("report")
                        .cpu(1.0)
                        .memory(GIB as f64)
                        .limits(2.0, GIB + GIB / 16),
                ),
        )
        .pod(
            Pod::new("monitoring", "node-exporter-b8x2", "node-b")
                .owner("DaemonSet", "node-exporter")
                .container(
                    Container::new("node-exporter")
                        .cpu(0.05)
                        .memory(30e6)
                        .requests(0.1, 64 << 20),
                ),
        )
}

fn config(window: Duration) -> CostConfig {
    let mut config = CostConfig {
        window,
        resolution: Duration::from_secs(60),
        ..CostConfig::default()
    };
    config.prices.instance_types.insert(
        "m5.xlarge".to_string(),
        InstanceTypePrice {
            on_demand: 0.192,
            spot: None,
        },
    );
    config
}

async fn report(store: &Tsdb, config: &CostConfig) -> Result<Report, Box<dyn Error>> {
    let client = PrometheusClient::new(&PrometheusConfig {
        url: store.url(),
        ..Default::default()
    })?;
    let end = tidal_core::prometheus::sample_time(END as f64);
    let tl = fetch::timeline(end, config);
    let data = fetch::fetch(&client, config, tl, &indicatif::ProgressBar::hidden()).await?;
    Ok(build_report(&data, config))
}

fn cents(v: f64) -> i64 {
    (v * 100.0).round() as i64
}

fn assert_money(what: &str, actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "{what}: got {actual}, expected {expected}"
    );
    assert_eq!(cents(actual), cents(expected), "{what} in cents");
}

#[tokio::test]
async fn allocation_matches_opencost_to_the_cent() -> TestResult {
    for store in tsdb::start_all(&cluster().to_openmetrics()).await? {
        eprintln!("checking against {}", store.name());
        allocation_on(&store).await?;
    }
    Ok(())
}

async fn allocation_on(prom: &Tsdb) -> TestResult {
    let config = config(Duration::from_secs(7200));
    let r = report(prom, &config).await?;
    let a = &r.allocation;
    // 120 one-minute steps, each costed at its end; hours per step:
    let h = 1.0 / 60.0;
    let gib = |bytes: f64| bytes / GIB as f64;
    // node-a: OpenCost's split of $0.192/h by the default CPU:memory price ratio.
    let ratio = 0.031611 / 0.004237;
    let a_mem = 0.192 / (4.0 * ratio + 16.0);
    let a_cpu = a_mem * ratio;
    // node-b: spot defaults.
    let (b_cpu, b_mem) = (0.006655, 0.000892);

    // web-0: max(0.25 request, 0.5 used) cores, max(512 MiB, 200 MB) for 120 steps.
    let web0 = 120.0 * h * (0.5 * a_cpu + 0.5 * a_mem);
    // web-1: 60 steps (it ran 1 h), requests dominate.
    let web1 = 60.0 * h * (0.25 * b_cpu + 0.5 * b_mem);
    // report: no requests, 30 steps of 1 GiB; its CPU counter reads 0 at its first sample,
    // so it used 29 core-minutes in its 30 steps.
    let job = 29.0 * h * a_cpu + 30.0 * h * a_mem;
    // node-exporter: requests dominate for 120 steps.
    let ds = 120.0 * h * (0.1 * b_cpu + gib(64.0 * 1024.0 * 1024.0) * b_mem);

    let workload = |ns: &str, kind: &str, name: &str| {
        a.workloads
            .iter()
            .find(|w| w.key.namespace == ns && w.key.kind == kind && w.key.name == name)
            .map(|w| w.usage.total_cost())
    };
    assert_money(
        "Deployment web",
        workload("shop", "Deployment", "web").ok_or("no web")?,
        web0 + web1,
    );
    // Resolved through kube_job_owner to its CronJob.
    assert_money(
        "CronJob report",
        workload("batch", "CronJob", "report").ok_or("no cron job")?,
        job,
    );
    assert_eq!(workload("batch", "Job", "report-28000"), None);
    assert_money(
        "DaemonSet node-exporter",
        workload("monitoring", "DaemonSet", "node-exporter").ok_or("no ds")?,
        ds,
    );
    let web1_row = a
        .containers
        .iter()
        .find(|c| c.key.pod == "web-1")
        .ok_or("no web-1")?;
    assert!(
        (web1_row.usage.running_hours - 1.0).abs() < 1e-9,
        "web-1 ran 1 h: {}",
        web1_row.usage.running_hours
    );

    let node = |name: &str| {
        a.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or(format!("no {name}"))
    };
    let node_a = node("node-a")?;
    let node_b = node("node-b")?;
    assert_money("node-a bill", node_a.total_cost(), 0.192 * 2.0);
    assert_money(
        "node-b bill",
        node_b.total_cost(),
        2.0 * (2.0 * b_cpu + 8.0 * b_mem),
    );
    assert_money("node-a idle", node_a.idle_cost(), 0.384 - web0 - job);
    assert_money(
        "node-b idle",
        node_b.idle_cost(),
        node_b.total_cost() - web1 - ds,
    );

    // Workloads plus idle add up to the node bill.
    let workloads: f64 = a.workloads.iter().map(|w| w.usage.total_cost()).sum();
    assert_money(
        "workloads + idle",
        workloads + a.total.idle_cost,
        a.total.node_cost,
    );
    let namespaces: f64 = a.namespaces.iter().map(|n| n.usage.total_cost()).sum();
    assert_money("namespaces", namespaces, workloads);

    // web-0 uses 2× its CPU request: flagged; the Job has no requests: flagged.
    let rec = |c: &str| {
        r.rightsizing
            .iter()
            .find(|x| x.container == c)
            .ok_or(format!("no {c}"))
    };
    assert!(
        rec("web")?
            .risks
            .iter()
            .any(|x| x.contains("above the request")),
        "{:?}",
        rec("web")?.risks
    );
    assert!(
        rec("report")?
            .risks
            .iter()
            .any(|x| x.contains("no CPU request"))
    );
    // kube_pod_container_resource_limits: the Job's memory peak is near its limit, web's is not.
    let report_rec = rec("report")?;
    assert_eq!(report_rec.workload.kind, "CronJob");
    assert_eq!(report_rec.memory_limit, Some((GIB + GIB / 16) as f64));
    assert!(
        report_rec
            .risks
            .iter()
            .any(|x| x.contains("94% of the limit") && x.contains("OOM-kill risk")),
        "{:?}",
        report_rec.risks
    );
    assert_eq!(rec("web")?.memory_limit, Some(GIB as f64));
    assert!(
        !rec("web")?.risks.iter().any(|x| x.contains("limit")),
        "{:?}",
        rec("web")?.risks
    );

    // node-b's type has no price: said so, not silently defaulted.
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("node-b") && w.contains("no price for c5.large")),
        "{:#?}",
        r.warnings
    );
    assert!(
        !r.warnings.iter().any(|w| w.contains("data covers only")),
        "{:#?}",
        r.warnings
    );

    // Every format renders; the Markdown names the costliest namespace with its cents.
    let md = render::render(&r, Format::Markdown, 10)?;
    assert!(md.contains("| shop |"), "{md}");
    assert!(md.contains(&render::money("$", web0 + web1)), "{md}");
    let csv = render::render(&r, Format::Csv, 10)?;
    assert_eq!(
        csv.lines().count(),
        1 + 4 + 2,
        "header, 4 containers, 2 idle rows:\n{csv}"
    );
    let json: serde_json::Value = serde_json::from_str(&render::render(&r, Format::Json, 10)?)?;
    assert_eq!(
        json["totals"]["node_cost"].as_f64(),
        Some((r.allocation.total.node_cost * 100.0).round() / 100.0)
    );
    assert!(render::render(&r, Format::Html, 10)?.contains("<svg"));

    // A window longer than the data: a warning, and costs for the covered part only.
    let long = report(prom, &config_with_window(3)).await?;
    assert!(
        long.warnings
            .iter()
            .any(|w| w.contains("data covers only 2.0 h")),
        "{:#?}",
        long.warnings
    );
    // The sample at START now falls inside the window too: 121 one-minute steps.
    assert_money(
        "node-a bill, long window",
        long.allocation.nodes[0].total_cost(),
        0.192 * 121.0 / 60.0,
    );

    // A window far beyond the data (`--window 1000y`) is clipped to where the data starts
    // before anything is pulled: the same costs, for a few dozen queries more.
    let huge = report(prom, &config_with_window(1000 * 365 * 24)).await?;
    assert!(
        huge.warnings
            .iter()
            .any(|w| w.contains("days (1970-01-01") && w.contains("data covers only 2.0 h")),
        "{:#?}",
        huge.warnings
    );
    assert_money(
        "node-a bill, 1000y window",
        huge.allocation.nodes[0].total_cost(),
        0.192 * 121.0 / 60.0,
    );
    assert!(huge.queries < long.queries + 40, "{} queries", huge.queries);
    Ok(())
}

fn config_with_window(hours: u64) -> CostConfig {
    config(Duration::from_secs(hours * 3600))
}

/// Without kube-state-metrics' node series (a cluster whose nodes it does not export),
/// the report says so and keeps the pods' costs apart instead of reporting zero.
#[tokio::test]
async fn missing_kube_state_metrics_series_are_warnings() -> TestResult {
    let cluster = ClusterMetrics::new()
        .range(START, END)
        .step(Duration::from_secs(60))
        .pod(
            Pod::new("shop", "web-0", "node-a").container(
                Container::new("web")
                    .cpu(0.5)
                    .memory(200e6)
                    .requests(0.25, 512 << 20),
            ),
        )
        // A Job's pod, without the Job's kube_job_owner series.
        .pod(
            Pod::new("batch", "report-1-x7k2p", "node-a")
                .owner("Job", "report-1")
                .container(Container::new("report")),
        );
    for store in tsdb::start_all(&cluster.to_openmetrics()).await? {
        eprintln!("checking against {}", store.name());
        missing_series_on(&store).await?;
    }
    Ok(())
}

async fn missing_series_on(store: &Tsdb) -> TestResult {
    let r = report(store, &config(Duration::from_secs(7200))).await?;
    let said = |text: &str| r.warnings.iter().any(|w| w.contains(text));
    assert!(
        said("kube_node_status_capacity has no series"),
        "{:#?}",
        r.warnings
    );
    assert!(
        said("ran on nodes without kube_node_status_capacity"),
        "{:#?}",
        r.warnings
    );
    assert!(
        said("kube_job_owner has no series: CronJob runs show as separate Jobs"),
        "{:#?}",
        r.warnings
    );
    assert!(r.allocation.unattributed.total_cost() > 0.0);
    let kind_of = |pod: &str| {
        r.allocation
            .containers
            .iter()
            .find(|c| c.key.pod == pod)
            .map(|c| c.workload.kind.as_str())
    };
    assert_eq!(r.allocation.containers.len(), 2);
    assert_eq!(kind_of("web-0"), Some("Pod"));
    assert_eq!(kind_of("report-1-x7k2p"), Some("Job"));
    Ok(())
}

/// Two and a half days of five pods with daily cycles, some coming and going, scraped each
/// minute: enough for a two-day window in two parts at 5-minute steps.
fn cycling_cluster() -> ClusterMetrics {
    const DAY: i64 = 86_400;
    let start = START - 2 * DAY - DAY / 2;
    let daily = |base: f64, swing: f64, phase: f64| {
        Profile::from_fn(move |t| {
            let x = (t % DAY) as f64 / DAY as f64 * std::f64::consts::TAU + phase;
            base + swing * x.sin()
        })
    };
    let web = |i: usize| {
        Pod::new("shop", format!("web-{i}"), ["node-a", "node-b"][i % 2])
            .owner("ReplicaSet", "web-5d9c7")
            .container(
                Container::new("web")
                    .cpu(daily(0.3, 0.25, i as f64))
                    .memory(daily(300e6, 100e6, i as f64))
                    .requests(0.25, 512 << 20)
                    .limits(1.0, GIB),
            )
    };
    ClusterMetrics::new()
        .range(start, END)
        .step(Duration::from_secs(60))
        .node(
            Node::new("node-a", "10.0.0.1:9100")
                .cpus(4)
                .memory_bytes(16 * GIB),
        )
        .node(
            Node::new("node-b", "10.0.0.2:9100")
                .cpus(2)
                .memory_bytes(8 * GIB),
        )
        .replica_set("shop", "web-5d9c7", "web")
        .job("batch", "report-28000", "report")
        .pod(web(0))
        .pod(web(1))
        // Starts in the first day and ends in the second: parts and first steps.
        .pod(web(2).running(START - DAY - 7_000..START - 20_000))
        .pod(
            Pod::new("batch", "report-28000-x7k2p", "node-a")
                .owner("Job", "report-28000")
                .running(START - DAY / 3..START - DAY / 3 + 5_400)
                .container(Container::new("report").cpu(1.0).memory(GIB as f64)),
        )
        // No owner: its own workload.
        .pod(
            Pod::new("default", "debug", "node-b").container(
                Container::new("shell")
                    .cpu(daily(0.05, 0.04, 2.0))
                    .memory(20e6)
                    .requests(0.1, 64 << 20),
            ),
        )
}

/// What the database aggregates equals the reduction of the per-step series it serves, on
/// each store: the PromQL and its Rust reference mean the same thing.
#[tokio::test]
async fn database_aggregates_equal_the_per_step_reduction() -> TestResult {
    let config = CostConfig {
        window: Duration::from_secs(2 * 86_400),
        resolution: Duration::from_secs(300),
        ..CostConfig::default()
    };
    for store in tsdb::start_all(&cycling_cluster().to_openmetrics()).await? {
        let client = PrometheusClient::new(&PrometheusConfig {
            url: store.url(),
            ..Default::default()
        })?;
        let tl = fetch::timeline(tidal_core::prometheus::sample_time(END as f64), &config);
        let hidden = indicatif::ProgressBar::hidden();
        let per_step = fetch::per_step(&client, &config, tl, &hidden).await?;
        // The default memory percentile (1: the peak, which stands for it) and one of its own;
        // the store's arithmetic and Tidal's a day at a time.
        for (memory_percentile, aggregate_in) in [
            (1.0, AggregateIn::Store),
            (0.9, AggregateIn::Store),
            (1.0, AggregateIn::Tidal),
            (0.9, AggregateIn::Tidal),
        ] {
            let config = CostConfig {
                rightsizing: RightsizeConfig {
                    memory_percentile,
                    ..config.rightsizing.clone()
                },
                aggregate_in,
                ..config.clone()
            };
            let aggregated = fetch::fetch(&client, &config, tl, &hidden).await?;
            let percentiles = (config.rightsizing.cpu_percentile, memory_percentile);
            let reference = Summary::from_dataset(&per_step, percentiles);
            let name = format!(
                "{} (memory p{memory_percentile}, aggregated in {aggregate_in:?})",
                store.name()
            );
            same_summary(&name, &aggregated, &reference, &config)?;
        }
        // Per-step owner cores come only for the owners of the workloads pre-scaling compares.
        let top = CostConfig {
            top: 1,
            ..config.clone()
        };
        let aggregated = fetch::fetch(&client, &top, tl, &hidden).await?;
        let r = &top.rightsizing;
        let reference = Summary::from_dataset(&per_step, (r.cpu_percentile, r.memory_percentile));
        let report = build_report(&reference, &top);
        let costliest = &report
            .allocation
            .workloads
            .first()
            .ok_or("no workload")?
            .key;
        let wanted: Vec<_> = reference
            .steps
            .owner_used_cores
            .keys()
            .filter(|o| owner_workload(&reference.owners, o) == *costliest)
            .collect();
        let fetched: Vec<_> = aggregated.steps.owner_used_cores.keys().collect();
        assert_eq!(fetched, wanted, "{}: top 1", store.name());
        assert!(wanted.len() < reference.steps.owner_used_cores.len());
        for (owner, cores) in &aggregated.steps.owner_used_cores {
            let what = format!("{} top 1: {}/{}", store.name(), owner.kind, owner.name);
            assert_tracks(&what, cores, &reference.steps.owner_used_cores[owner]);
        }
    }
    Ok(())
}

/// `aggregated` (from the database) equals `reference` (reduced in Rust).
fn same_summary(
    name: &str,
    aggregated: &Summary,
    reference: &Summary,
    config: &CostConfig,
) -> TestResult {
    assert_eq!(aggregated.timeline, reference.timeline, "{name}");
    let keys = |s: &Summary| {
        s.containers
            .iter()
            .map(|c| c.key.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(aggregated), keys(reference), "{name}: containers");
    assert_eq!(aggregated.containers.len(), 5, "{name}");
    for (a, r) in aggregated.containers.iter().zip(&reference.containers) {
        let what = format!("{name}: {}/{}", a.key.pod, a.key.container);
        assert_eq!(a.node, r.node, "{what}");
        assert_eq!(a.running_steps, r.running_steps, "{what}");
        for (field, x, y) in [
            ("cpu_request", a.cpu_request, r.cpu_request),
            ("cpu_usage", a.cpu_usage, r.cpu_usage),
            ("cpu_charged", a.cpu_charged, r.cpu_charged),
            ("memory_request", a.memory_request, r.memory_request),
            ("memory_usage", a.memory_usage, r.memory_usage),
            ("memory_charged", a.memory_charged, r.memory_charged),
        ] {
            assert_close(&format!("{what} {field}"), x, y);
        }
        for (field, x, y) in [
            ("cpu_percentile", a.cpu_percentile, r.cpu_percentile),
            (
                "memory_percentile",
                a.memory_percentile,
                r.memory_percentile,
            ),
            ("memory_peak", a.memory_peak, r.memory_peak),
            (
                "latest_cpu_request",
                a.latest_cpu_request,
                r.latest_cpu_request,
            ),
            (
                "latest_memory_request",
                a.latest_memory_request,
                r.latest_memory_request,
            ),
            ("memory_limit", a.memory_limit, r.memory_limit),
        ] {
            assert_eq!(x.is_some(), y.is_some(), "{what} {field}: {x:?} vs {y:?}");
            assert_close(
                &format!("{what} {field}"),
                x.unwrap_or(0.0),
                y.unwrap_or(0.0),
            );
        }
    }
    let (s, r) = (&aggregated.steps, &reference.steps);
    assert_tracks(&format!("{name} used cores"), &s.used_cores, &r.used_cores);
    assert_tracks(&format!("{name} used bytes"), &s.used_bytes, &r.used_bytes);
    assert_eq!(
        s.namespace_charged.keys().collect::<Vec<_>>(),
        r.namespace_charged.keys().collect::<Vec<_>>(),
        "{name}"
    );
    for (ns, (cpu, memory)) in &s.namespace_charged {
        let (rc, rm) = &r.namespace_charged[ns];
        assert_tracks(&format!("{name} {ns} charged cores"), cpu, rc);
        assert_tracks(&format!("{name} {ns} charged bytes"), memory, rm);
    }
    assert_eq!(
        s.owner_used_cores.keys().collect::<Vec<_>>(),
        r.owner_used_cores.keys().collect::<Vec<_>>(),
        "{name}"
    );
    for (owner, cores) in &s.owner_used_cores {
        let what = format!("{name} {}/{}", owner.kind, owner.name);
        assert_tracks(&what, cores, &r.owner_used_cores[owner]);
    }
    assert_eq!(aggregated.nodes, reference.nodes, "{name}");
    // Two parts: the web pod that came and went ran in both.
    let web2 = aggregated
        .containers
        .iter()
        .find(|c| c.key.pod == "web-2")
        .ok_or("no web-2")?;
    assert!(
        web2.running_steps > 100.0 && web2.running_steps < 288.0,
        "{web2:?}"
    );
    let a = build_report(aggregated, config);
    let b = build_report(reference, config);
    assert_money(
        "total",
        a.allocation.total.node_cost,
        b.allocation.total.node_cost,
    );
    assert_money(
        "idle",
        a.allocation.total.idle_cost,
        b.allocation.total.idle_cost,
    );
    Ok(())
}

fn assert_close(what: &str, actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() <= 1e-9 * expected.abs().max(1e-6),
        "{what}: {actual} from the database, {expected} from the per-step series"
    );
}

/// Equal step by step, absent (NaN) in the same steps.
fn assert_tracks(what: &str, actual: &[f64], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{what}");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(a.is_nan(), e.is_nan(), "{what} at step {i}: {a} vs {e}");
        if !a.is_nan() {
            assert_close(&format!("{what} at step {i}"), *a, *e);
        }
    }
}
