//! `tidal simulate` as a user runs it: a built-in scenario, the example trace file,
//! every output format, the last hours of a cluster from a real Prometheus (skipped when it is
//! not installed, unless TIDAL_REQUIRE_PROMETHEUS=1), and the errors a user makes.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use tidal_testkit::metrics::{ClusterMetrics, Container, Node, Pod, unix_now};
use tidal_testkit::prometheus::Prometheus;

const TIDAL: &str = env!("CARGO_BIN_EXE_tidal");

fn tidal(args: &[&str]) -> Output {
    Command::new(TIDAL)
        .args(args)
        .env_remove("TIDAL_CONFIG")
        .env_remove("TIDAL_PROMETHEUS_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("the tidal binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn example(path: &str) -> String {
    format!("{}/examples/simulate/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_scenario_prints_every_policy_side_by_side() {
    let out = tidal(&["simulate", "--scenario", "diurnal"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for name in [
        "requests",
        "tidal+descheduler",
        "lownodeutilization",
        "oracle",
        "hpa+predict",
    ] {
        assert!(table.contains(name), "{name} missing:\n{table}");
    }
    assert!(table.contains("hot node-min"), "{table}");
}

#[test]
fn the_example_trace_replays_as_json_and_html() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let json_path = dir.path().join("report.json");
    let out = tidal(&[
        "simulate",
        &example("trace.yaml"),
        "--policies",
        "requests,tidal+descheduler",
        "--format",
        "json",
        "--output",
        json_path.to_str().expect("utf-8 path"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json_path).expect("the report was written"))
            .expect("the report is JSON");
    let policies = report["policies"].as_array().expect("policies");
    assert_eq!(policies.len(), 2);
    assert_eq!(policies[1]["policy"], "tidal+descheduler");
    for key in [
        "hot_node_minutes",
        "memory_pressure_node_minutes",
        "node_cpu_p95",
        "node_cpu_p99",
        "cpu_spread",
        "evictions",
        "evictions_per_relieved_node",
        "repeated_moves",
        "pending_pod_minutes",
        "underprovisioned_minutes",
        "replica_hours",
        "node_hours",
    ] {
        assert!(policies[0].get(key).is_some(), "{key} missing");
    }
    // 40 nodes for 3 days.
    assert_eq!(policies[0]["node_hours"], 2880.0);

    let out = tidal(&["simulate", "--scenario", "diurnal", "--format", "html"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let html = text(&out.stdout);
    assert!(html.starts_with("<!DOCTYPE html>") || html.starts_with("<!doctype html>"));
    assert!(html.matches("<svg").count() >= 2);
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let run = || {
        let out = tidal(&[
            "simulate",
            "--scenario",
            "batch-churn",
            "--seed",
            "11",
            "--format",
            "json",
            "--policies",
            "requests,tidal+descheduler",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        for p in v["policies"].as_array_mut().expect("policies") {
            p.as_object_mut().expect("object").remove("wall_seconds");
        }
        v
    };
    assert_eq!(run(), run());
}

#[test]
fn mistakes_get_errors_that_say_what_to_do() {
    let out = tidal(&["simulate", "--scenario", "nope"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("diurnal"),
        "the error lists the scenarios: {err}"
    );

    let out = tidal(&[
        "simulate",
        "--scenario",
        "diurnal",
        "--policies",
        "requests,magic",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("the policies are"),
        "{}",
        text(&out.stderr)
    );

    let dir = tempfile::tempdir().expect("a temporary directory");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "duration: 1d\nnodes:\n  - {name: a, cpu: \"4\", memory: 8Gi}\nworkloads:\n  - name: web\n    replicas: 2\n    requests: {cpu: 2x}\n    usage: {cpu: 1, memory: 1Gi}\n",
    )
    .expect("write");
    let out = tidal(&["simulate", bad.to_str().expect("utf-8 path")]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("workloads[0].requests.cpu") && err.contains("line 7"),
        "{err}"
    );

    let out = tidal(&["simulate"]);
    assert!(!out.status.success(), "no input is an error");

    // --window shapes only a trace read from Prometheus: never silently ignored.
    let out = tidal(&["simulate", "--scenario", "mixed", "--window", "3d"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--from-prometheus"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn list_scenarios_names_them() {
    let out = tidal(&["simulate", "--list-scenarios"]);
    assert!(out.status.success());
    let list = text(&out.stdout);
    for name in ["diurnal", "week", "batch-churn", "mixed", "hpa"] {
        assert!(list.contains(name), "{list}");
    }
}

/// The last two hours of a two-node cluster with a Deployment on each node, replayed from a
/// real Prometheus with the history read either way (`cost.aggregate_in`): the same report.
#[tokio::test]
async fn from_prometheus_replays_the_last_hours_read_either_way() {
    const GIB: u64 = 1 << 30;
    let end = unix_now() - unix_now() % 60;
    let mut cluster = ClusterMetrics::new()
        .range(end - 7200, end)
        .step(Duration::from_secs(60))
        .replica_set("shop", "web-5d9c7", "web");
    for (i, node) in ["node-a", "node-b"].into_iter().enumerate() {
        cluster = cluster
            .node(
                Node::new(node, format!("10.0.0.{}:9100", i + 1))
                    .cpus(4)
                    .memory_bytes(16 * GIB)
                    .allocatable(3.9, 15 * GIB),
            )
            .pod(
                Pod::new("shop", format!("web-5d9c7-{i}"), node)
                    .owner("ReplicaSet", "web-5d9c7")
                    .container(Container::new("web").cpu(1.5).requests(0.5, GIB)),
            );
    }
    let Some(prom) = Prometheus::start(&cluster.to_openmetrics())
        .await
        .expect("Prometheus starts")
    else {
        return;
    };
    let url = prom.url();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut reports = Vec::new();
    for aggregate_in in ["store", "tidal"] {
        let config = dir.path().join(format!("{aggregate_in}.yaml"));
        std::fs::write(&config, format!("cost:\n  aggregate_in: {aggregate_in}\n"))
            .expect("config written");
        let out = tokio::process::Command::new(TIDAL)
            .args(["--prometheus-url", &url, "--config"])
            .arg(&config)
            .args(["simulate", "--from-prometheus", "--window", "90m"])
            .args(["--step", "5m", "--policies", "requests", "--format", "json"])
            .env_remove("TIDAL_CONFIG")
            .env_remove("TIDAL_PROMETHEUS_URL")
            .output()
            .await
            .expect("the tidal binary runs");
        assert!(out.status.success(), "{}", text(&out.stderr));
        let mut report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
        for policy in report["policies"].as_array_mut().into_iter().flatten() {
            policy["wall_seconds"] = Value::Null;
        }
        reports.push(report);
    }
    let trace = &reports[0]["trace"];
    assert_eq!(trace["source"], format!("Prometheus {url}"));
    assert_eq!(
        (trace["nodes"].as_u64(), trace["pods"].as_u64()),
        (Some(2), Some(2))
    );
    // Each node carries a 1.5-core pod on 3.9 allocatable cores: its real usage, not requests.
    let p95 = reports[0]["policies"][0]["node_cpu_p95"].as_f64();
    assert!(p95.is_some_and(|p| (p - 1.5 / 3.9).abs() < 0.01), "{p95:?}");
    assert_eq!(reports[0], reports[1], "the same replay either way");
}
