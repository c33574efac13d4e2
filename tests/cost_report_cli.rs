//! `tidal cost-report` as a user runs it: every output format against a real Prometheus
//! backfilled with a small cluster, `--output`, a bad `--window`, and Prometheus unreachable.
//! The Prometheus tests skip when it is not installed, unless TIDAL_REQUIRE_PROMETHEUS=1.

use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use tidal_testkit::metrics::{ClusterMetrics, Container, Node, Pod};
use tidal_testkit::prometheus::Prometheus;

const TIDAL: &str = env!("CARGO_BIN_EXE_tidal");
const GIB: u64 = 1 << 30;
/// An hour boundary in the past; two hours of data from here, one sample a minute.
const START: i64 = 1_700_000_000 - 1_700_000_000 % 3600;
const END: i64 = START + 7200;
/// Nothing listens on port 1.
const UNREACHABLE: &str = "http://127.0.0.1:1";

/// Two nodes; a Deployment of two pods, a CronJob's Job pod that ran 30 minutes and a
/// DaemonSet pod: four containers.
fn cluster() -> ClusterMetrics {
    let node = |name: &str, ip: &str| {
        Node::new(name, format!("{ip}:9100"))
            .cpus(4)
            .memory_bytes(16 * GIB)
            .kube_label("node.kubernetes.io/instance-type", "m5.xlarge")
    };
    let web = |name: &str, node: &str| {
        Pod::new("shop", name, node)
            .owner("ReplicaSet", "web-5d9c7")
            .container(Container::new("web").cpu(0.5).requests(0.25, 512 << 20))
    };
    ClusterMetrics::new()
        .range(START, END)
        .step(Duration::from_secs(60))
        .node(node("node-a", "10.0.0.1"))
        .node(node("node-b", "10.0.0.2"))
        .replica_set("shop", "web-5d9c7", "web")
        .job("batch", "report-28000", "report")
        .pod(web("web-0", "node-a"))
        .pod(web("web-1", "node-b"))
        .pod(
            Pod::new("batch", "report-28000-x7k2p", "node-a")
                .owner("Job", "report-28000")
                .running(START + 600..START + 2400)
                .container(Container::new("report").cpu(1.0).memory(GIB as f64)),
        )
        .pod(
            Pod::new("monitoring", "node-exporter-b8x2", "node-b")
                .owner("DaemonSet", "node-exporter")
                .container(Container::new("node-exporter").requests(0.1, 64 << 20)),
        )
}

/// `tidal --prometheus-url URL cost-report ARGS`, without the caller's environment's config.
async fn cost_report(url: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(TIDAL)
        .args(["--prometheus-url", url, "cost-report"])
        .args(args)
        .env_remove("TIDAL_CONFIG")
        .env_remove("TIDAL_PROMETHEUS_URL")
        .output()
        .await
        .expect("the tidal binary runs")
}

/// A report over the whole backfilled range, in `format`.
async fn report(url: &str, format: &str, more: &[&str]) -> Output {
    let end = END.to_string();
    let mut args = vec![
        "--window",
        "2h",
        "--resolution",
        "1m",
        "--end",
        &end,
        "--format",
        format,
    ];
    args.extend(more);
    cost_report(url, &args).await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The standard output of a run that must have succeeded.
fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[tokio::test]
async fn every_format_reports_the_backfilled_cluster() {
    let Some(prom) = Prometheus::start(&cluster().to_openmetrics())
        .await
        .expect("prometheus starts")
    else {
        return;
    };
    let url = prom.url();

    let md = stdout(&report(&url, "markdown", &[]).await);
    assert!(md.starts_with("# Cluster cost report\n"), "{md}");
    assert!(md.contains("## Summary"), "{md}");
    for row in [
        "| shop |",
        "| batch |",
        "| monitoring |",
        "CronJob",
        "node-b",
    ] {
        assert!(md.contains(row), "{row} missing:\n{md}");
    }

    let json: Value = serde_json::from_str(&stdout(&report(&url, "json", &[]).await))
        .expect("--format json is JSON");
    assert_eq!(json["window"]["steps"], 120);
    // One instant query finds data at the window's start and one whether kube-state-metrics'
    // running status exists; for the one day-long part, nine per-container totals and six
    // per-step aggregates; then four for containers' nodes and latest requests, five for
    // owners, labels and limits, and one for the top workloads' owners' cores per step. None of
    // it grows with the pods.
    assert_eq!(json["queries"], 27);
    assert_eq!(json["containers"].as_array().map(Vec::len), Some(4));
    let total = |k: &str| json["totals"][k].as_f64().expect("a number");
    let rows = |kind: &str| json[kind].as_array().cloned().unwrap_or_default();
    let cents = |v: &Value| v.as_f64().map(|v| (v * 100.0).round() as i64);
    for (kind, key) in [
        ("namespaces", "namespace"),
        ("workloads", "workload"),
        ("containers", "container"),
        ("nodes", "node"),
    ] {
        for row in rows(kind) {
            assert!(row[key].is_string(), "{kind} row without {key}: {row}");
            let (cpu, memory, total) = (
                cents(&row["cpu_cost"]),
                cents(&row["memory_cost"]),
                cents(&row["total_cost"]),
            );
            let (Some(cpu), Some(memory), Some(total)) = (cpu, memory, total) else {
                panic!("{kind} row without costs: {row}");
            };
            // Each amount is rounded from the exact figure: off by a cent at most.
            assert!((cpu + memory - total).abs() <= 1, "{row}");
            for money in ["cpu_cost", "memory_cost", "total_cost"] {
                let v = row[money].as_f64().unwrap_or(f64::NAN);
                assert_eq!(
                    v,
                    (v * 100.0).round() / 100.0,
                    "{money} not in cents: {row}"
                );
            }
        }
    }
    let workloads: f64 = rows("workloads")
        .iter()
        .filter_map(|w| w["total_cost"].as_f64())
        .sum();
    assert!(total("node_cost") > 0.0, "{json}");
    assert!(
        (workloads + total("idle_cost") - total("node_cost")).abs()
            < 0.01 * rows("workloads").len() as f64 + 0.01,
        "workloads {workloads} + idle {} != nodes {}",
        total("idle_cost"),
        total("node_cost")
    );
    let cron = rows("workloads")
        .into_iter()
        .find(|w| w["kind"] == "CronJob");
    assert_eq!(
        cron.map(|w| w["workload"].clone()),
        Some(Value::from("report"))
    );

    let csv = stdout(&report(&url, "csv", &[]).await);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("Namespace,ControllerKind,ControllerName,Pod,"));
    assert_eq!(
        lines.len(),
        1 + 4 + 2,
        "header, 4 containers, 2 idle rows:\n{csv}"
    );
    assert!(
        csv.contains("batch,CronJob,report,report-28000-x7k2p,"),
        "{csv}"
    );

    let html = stdout(&report(&url, "html", &[]).await);
    assert!(html.trim_start().starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.trim_end().ends_with("</html>"));
    assert!(html.contains("<h2>Charts</h2>"));
    // Cost over time, request vs usage for CPU and for memory, idle share.
    assert_eq!(html.matches("<svg").count(), 4, "{html}");
    assert!(!html.contains("<script src"), "self-contained");

    // --output writes the file, not stdout; CSV puts right-sizing beside it.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("costs.md");
    let out = report(&url, "markdown", &["--output", &file.to_string_lossy()]).await;
    assert_eq!(stdout(&out), "");
    assert_eq!(std::fs::read_to_string(&file).expect("report written"), md);
    let file = dir.path().join("costs.csv");
    let out = report(&url, "csv", &["--output", &file.to_string_lossy()]).await;
    assert_eq!(stdout(&out), "");
    assert_eq!(std::fs::read_to_string(&file).expect("csv written"), csv);
    let rightsizing = std::fs::read_to_string(dir.path().join("costs-rightsizing.csv"))
        .expect("right-sizing written beside it");
    assert!(rightsizing.lines().count() > 1, "{rightsizing}");
    assert!(rightsizing.contains("report"), "{rightsizing}");

    // Reduced by Tidal a day at a time instead: the same report to the cent, other queries.
    let config = dir.path().join("tidal.yaml");
    std::fs::write(&config, "cost:\n  aggregate_in: tidal\n").expect("config written");
    let config = config.to_string_lossy();
    // A probe, five instant queries, eight metrics in four chunks, the top owners' cores.
    let tidal = stdout(&report(&url, "markdown", &["--config", &config]).await);
    let queries = |md: &str| {
        let (head, rest) = md.split_once(" Prometheus queries").unwrap_or_default();
        let count = head.rsplit(' ').next().unwrap_or_default().to_string();
        (count, rest.to_string())
    };
    let ((by_tidal, rest), (by_store, expected)) = (queries(&tidal), queries(&md));
    assert_eq!((by_tidal.as_str(), by_store.as_str()), ("39", "27"));
    assert_eq!(rest, expected);
}

#[tokio::test]
async fn a_bad_window_is_refused_before_any_query() {
    let out = cost_report(UNREACHABLE, &["--window", "7x"]).await;
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let err = text(&out.stderr);
    assert!(
        err.contains("--window") && err.contains("unknown time unit"),
        "{err}"
    );

    let out = cost_report(UNREACHABLE, &["--window", "30s", "--resolution", "5m"]).await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("cost.window (30s) must be at least cost.resolution (5m)"),
        "{err}"
    );
    assert!(
        !err.contains("cannot reach"),
        "refused before querying: {err}"
    );
}

#[tokio::test]
async fn unreachable_prometheus_fails_with_what_to_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("costs.md");
    let out = cost_report(
        UNREACHABLE,
        &["--window", "1h", "--output", &file.to_string_lossy()],
    )
    .await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot reach Prometheus at http://127.0.0.1:1"),
        "{err}"
    );
    assert!(
        err.contains("check prometheus.url (or --prometheus-url) and that Prometheus is running"),
        "{err}"
    );
    assert!(!file.exists(), "no half-written report");
    assert!(out.stdout.is_empty());
}
