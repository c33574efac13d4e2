//! `tidal predict` as a user runs it: CSV files in every output format, charts, plans, the errors
//! a user can make (a bad line, a missing file, too little history), a real Prometheus holding a
//! periodic workload, and `--apply` (dry run and real) against the fake API server.

use std::f64::consts::TAU;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use serde_json::Value;
use tidal_predictor::hpa::{APPLIED_MIN_REPLICAS, FLOOR_UNTIL, USER_MIN_REPLICAS};
use tidal_testkit::fake_apiserver::FakeApiServer;
use tidal_testkit::metrics::{ClusterMetrics, Container, Node, Pod, Profile, unix_now};
use tidal_testkit::prometheus::Prometheus;

const TIDAL: &str = env!("CARGO_BIN_EXE_tidal");
const STEP: i64 = 300;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
/// Midnight UTC.
const START: i64 = 1_699_920_000;

fn tidal(args: &[&str]) -> Output {
    Command::new(TIDAL)
        .args(args)
        .env_remove("TIDAL_CONFIG")
        .env_remove("TIDAL_PROMETHEUS_URL")
        .env_remove("KUBECONFIG")
        .output()
        .expect("the tidal binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Deterministic noise in [-1, 1) (64-bit LCG).
fn noise(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed;
    move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// Busy afternoons around `base` cores.
fn daily(base: f64, t: i64) -> f64 {
    base * (1.0 + 0.5 * (TAU * (t % DAY) as f64 / DAY as f64).sin())
}

/// Writes `dir/name` as a `ts,value` CSV of `values` from `start`, `STEP` apart.
fn write_csv(dir: &Path, name: &str, start: i64, values: &[f64]) -> PathBuf {
    let mut out = String::from("ts,value\n");
    for (i, v) in values.iter().enumerate() {
        out.push_str(&format!("{},{v}\n", start + i as i64 * STEP));
    }
    let path = dir.join(name);
    std::fs::write(&path, out).expect("write CSV");
    path
}

/// `days` days of a noisy daily cycle around `base`, from [`START`].
fn daily_csv(dir: &Path, name: &str, days: i64, base: f64, seed: u64) -> PathBuf {
    let mut rand = noise(seed);
    let values: Vec<f64> = (0..days * DAY / STEP)
        .map(|i| daily(base, START + i * STEP) + 0.02 * base * rand())
        .collect();
    write_csv(dir, name, START, &values)
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

fn target<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["targets"]
        .as_array()
        .expect("a targets array")
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no target {id} in {doc:#}"))
}

fn has_daily_cycle(forecast: &Value) -> bool {
    forecast["periods"]
        .as_array()
        .expect("periods")
        .iter()
        .any(|p| (p["seconds"].as_i64().unwrap_or(0) - DAY).abs() <= STEP)
}

#[test]
fn csv_files_forecast_as_table_json_and_csv() {
    let dir = tempfile::tempdir().expect("temp dir");
    let web = daily_csv(dir.path(), "web.csv", 4, 2.0, 1);
    let api = daily_csv(dir.path(), "api.csv", 3, 0.5, 2);
    let csv_args = ["predict", "--csv", path_str(&web), "--csv", path_str(&api)];

    let table = tidal(&csv_args);
    assert_eq!(table.status.code(), Some(0), "{}", text(&table.stderr));
    let table = text(&table.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    for column in [
        "TARGET",
        "CYCLES",
        "MODEL",
        "MASE",
        "NEXT PEAK (UTC)",
        "P90",
    ] {
        assert!(lines[0].contains(column), "{table}");
    }
    assert!(
        lines[1].starts_with("web ") && lines[1].contains("1d("),
        "{table}"
    );
    assert!(
        lines[2].starts_with("api ") && lines[2].contains("1d("),
        "{table}"
    );
    // The next peak is tomorrow afternoon (the history ends at midnight, day 4).
    let tomorrow = "2023-11-18";
    assert!(lines[1].contains(tomorrow), "{table}");

    let mut args = csv_args.to_vec();
    args.extend(["--format", "json", "--horizon", "12h"]);
    let out = tidal(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = json_of(&out);
    let web_report = target(&doc, "web");
    let forecast = &web_report["forecast"];
    assert_eq!(forecast["start"], START + 4 * DAY);
    assert_eq!(forecast["step"], STEP);
    assert_eq!(forecast["p50"].as_array().map(Vec::len), Some(144));
    // Each step also comes with its time.
    let points = forecast["points"].as_array().expect("points");
    assert_eq!(points.len(), 144);
    assert_eq!(points[1]["ts"], START + 4 * DAY + STEP);
    assert_eq!(points[1]["p50"], forecast["p50"][1]);
    assert_eq!(points[1]["p99"], forecast["p99"][1]);
    assert!(has_daily_cycle(forecast), "{forecast:#}");
    assert_eq!(web_report["cleaning"]["points_in"], 4 * 288);
    assert!(
        web_report.get("plan").is_none(),
        "no plan without a rule: {web_report:#}"
    );
    // p50 ≤ p90 ≤ p99, and tomorrow's midday near the truth (3 cores at the peak).
    let band = |q: &str| -> Vec<f64> {
        forecast[q]
            .as_array()
            .expect("band")
            .iter()
            .map(|v| v.as_f64().expect("number"))
            .collect()
    };
    let (p50, p90, p99) = (band("p50"), band("p90"), band("p99"));
    for i in 0..p50.len() {
        assert!(p50[i] <= p90[i] && p90[i] <= p99[i], "step {i}");
        let truth = daily(2.0, START + 4 * DAY + i as i64 * STEP);
        assert!(
            (p50[i] - truth).abs() < 0.3,
            "step {i}: {} vs {truth}",
            p50[i]
        );
    }

    let csv_file = dir.path().join("forecast.csv");
    let mut args = csv_args.to_vec();
    args.extend(["--format", "csv", "--output", path_str(&csv_file)]);
    let out = tidal(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "--output leaves stdout empty");
    let written = std::fs::read_to_string(&csv_file).expect("--output file");
    let rows: Vec<&str> = written.lines().collect();
    assert_eq!(rows[0], "target,ts,time,p50,p90,p99,planned");
    assert_eq!(
        rows.len(),
        1 + 2 * 288,
        "a day of 5-minute steps per target"
    );
    let first: Vec<&str> = rows[1].split(',').collect();
    assert_eq!(first[0], "web");
    assert_eq!(first[1], (START + 4 * DAY).to_string());
    assert_eq!(first[2], "2023-11-18T00:00:00Z");
    assert!(
        first[3].parse::<f64>().is_ok() && first[6].is_empty(),
        "{first:?}"
    );
    assert_eq!(rows.iter().filter(|r| r.starts_with("api,")).count(), 288);

    // The table can go to a file too.
    let table_file = dir.path().join("table.txt");
    let out = tidal(&[
        "predict",
        "--csv",
        path_str(&web),
        "--output",
        path_str(&table_file),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = std::fs::read_to_string(&table_file).expect("table file");
    assert!(
        table.starts_with("TARGET") && table.contains("\nweb "),
        "{table}"
    );
}

/// Checks that `doc` is well-formed XML as far as tags go: every element closed in order.
fn assert_balanced_tags(doc: &str) {
    let mut open: Vec<String> = Vec::new();
    let mut rest = doc;
    let mut tags = 0;
    while let Some(at) = rest.find('<') {
        let end = rest[at..].find('>').expect("an unterminated tag") + at;
        let tag = &rest[at + 1..end];
        rest = &rest[end + 1..];
        tags += 1;
        assert!(tags < 1_000_000, "runaway document");
        if tag.starts_with('!') || tag.starts_with('?') {
            continue;
        }
        let name = |t: &str| {
            t.split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap_or("")
                .to_owned()
        };
        if let Some(closing) = tag.strip_prefix('/') {
            let expected = open
                .pop()
                .unwrap_or_else(|| panic!("</{closing}> closes nothing"));
            assert_eq!(expected, closing, "mismatched tags");
        } else if !tag.ends_with('/') {
            open.push(name(tag));
        }
    }
    assert!(open.is_empty(), "unclosed: {open:?}");
    assert!(!rest.contains('>'), "stray '>'");
}

#[test]
fn charts_have_one_panel_per_target() {
    let dir = tempfile::tempdir().expect("temp dir");
    let web = daily_csv(dir.path(), "web.csv", 3, 2.0, 3);
    let api = daily_csv(dir.path(), "api.csv", 3, 0.5, 4);
    let bad = write_csv(dir.path(), "short.csv", START, &[1.0]);
    let svg = dir.path().join("chart.svg");
    let html = dir.path().join("chart.html");
    for chart in [&svg, &html] {
        let out = tidal(&[
            "predict",
            "--csv",
            path_str(&web),
            "--csv",
            path_str(&api),
            "--csv",
            path_str(&bad),
            "--chart",
            path_str(chart),
        ]);
        // One target could not be forecast: exit 2, and no panel for it.
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    }

    let svg = std::fs::read_to_string(&svg).expect("SVG written");
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{}",
        &svg[..80]
    );
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_balanced_tags(&svg);
    assert_eq!(svg.matches("<g transform=").count(), 2, "two panels");
    assert!(svg.contains(">web</text>") && svg.contains(">api</text>"));
    assert!(!svg.contains(">short</text>"));
    assert!(svg.contains("<polygon") && svg.contains("<polyline"));
    assert!(
        !svg.contains("NaN") && !svg.contains("inf"),
        "no bad numbers"
    );

    let html = std::fs::read_to_string(&html).expect("HTML written");
    assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..40]);
    assert!(html.trim_end().ends_with("</html>"));
    let start = html.find("<svg").expect("an inline SVG");
    let end = html.rfind("</svg>").expect("an inline SVG") + "</svg>".len();
    assert_balanced_tags(&html[start..end]);
    assert_eq!(html[start..end].matches("<g transform=").count(), 2);
    assert!(html.contains("<title>Tidal forecast</title>"));
}

#[test]
fn target_per_replica_yields_a_plan() {
    let dir = tempfile::tempdir().expect("temp dir");
    let web = daily_csv(dir.path(), "web.csv", 3, 2.0, 5);
    // Half a core per replica, 3 to 5 replicas.
    let plan_for = |output: &[&str]| {
        let mut args = vec![
            "predict",
            "--csv",
            path_str(&web),
            "--target-per-replica",
            "0.5",
            "--min-replicas",
            "3",
            "--max-replicas",
            "5",
        ];
        args.extend(output);
        let out = tidal(&args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        out
    };
    let doc = json_of(&plan_for(&["--format", "json"]));
    let plan = &target(&doc, "web")["plan"];
    assert_eq!(plan["unit"], "replicas");
    let slots = plan["slots"].as_array().expect("slots");
    assert!(!slots.is_empty(), "{plan:#}");
    assert_eq!(slots[0]["start"], START + 3 * DAY);
    let replicas: Vec<u64> = slots
        .iter()
        .map(|s| s["replicas"].as_u64().expect("replicas"))
        .collect();
    assert!(replicas.iter().all(|r| (3..=5).contains(r)), "{replicas:?}");
    // Demand swings from 1 to 3 cores: 3 replicas at night, the maximum 5 (3/0.5 = 6, capped)
    // for the afternoon.
    assert_eq!(replicas.iter().min(), Some(&3), "{replicas:?}");
    assert_eq!(replicas.iter().max(), Some(&5), "{replicas:?}");
    assert!(slots.iter().any(|s| s["capped"] == true), "{plan:#}");
    for pair in slots.windows(2) {
        assert_eq!(pair[0]["end"], pair[1]["start"], "contiguous slots");
    }
    assert_eq!(plan["unit_capacity"], 0.5);

    // The chart draws the capacity the plan holds as green steps, each with its count.
    let chart = dir.path().join("plan.html");
    plan_for(&["--chart", path_str(&chart)]);
    let html = std::fs::read_to_string(&chart).expect("chart written");
    assert!(html.contains("stroke=\"#2ca02c\""), "no plan line");
    assert!(
        html.contains(": 3 replicas, holding 1.50"),
        "no hover count"
    );
    assert!(
        html.contains(": 5 replicas, holding 2.50"),
        "no hover count"
    );
    let png = tidal_testkit::chromium::screenshot("predict-plan", &html).expect("screenshot");
    assert!(png.is_none_or(|png| png.len() > 20_000));

    // The CSV format fills the `planned` column.
    let out = tidal(&[
        "predict",
        "--csv",
        path_str(&web),
        "--target-per-replica",
        "0.5",
        "--format",
        "csv",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    assert!(
        csv.lines().skip(1).all(|l| l
            .rsplit(',')
            .next()
            .is_some_and(|n| n.parse::<u32>().is_ok())),
        "{csv}"
    );
}

#[test]
fn a_bad_csv_line_names_the_file_and_the_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = daily_csv(dir.path(), "good.csv", 2, 1.0, 6);
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "ts,value\n1699920000,1.5\n1699920300,2.5\n1699920600,lots\n",
    )
    .expect("write");
    let out = tidal(&["predict", "--csv", path_str(&good), "--csv", path_str(&bad)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(path_str(&bad)) && err.contains("line 4") && err.contains("\"lots\""),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing forecast on a bad file");

    std::fs::write(&bad, "ts,value\n1699920600,1\n1699920300,2\n").expect("write");
    let out = tidal(&["predict", "--csv", path_str(&bad)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("line 3") && err.contains("not after"), "{err}");
}

#[test]
fn an_unreadable_file_exits_1_and_names_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.csv");
    let out = tidal(&["predict", "--csv", path_str(&missing)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot read") && err.contains(path_str(&missing)),
        "{err}"
    );
    // A directory is no file either.
    let out = tidal(&["predict", "--csv", path_str(dir.path())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(path_str(dir.path())));
}

#[test]
fn too_short_a_history_exits_2_and_the_notes_say_why() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = daily_csv(dir.path(), "good.csv", 3, 1.0, 7);
    let short = write_csv(dir.path(), "short.csv", START, &[0.7]);
    let out = tidal(&[
        "predict",
        "--csv",
        path_str(&good),
        "--csv",
        path_str(&short),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let header = table.lines().next().expect("a header");
    let notes_at = header.find("NOTES").expect("a NOTES column");
    let row = table
        .lines()
        .find(|l| l.starts_with("short "))
        .expect("a row for short");
    let notes = row.get(notes_at..).unwrap_or("");
    assert!(
        notes.contains("no forecast")
            && notes.contains("less than")
            && notes.contains("longer history"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("good ") && l.contains("1d(")),
        "the other target is still forecast: {table}"
    );
    assert!(text(&out.stderr).contains("could not be forecast"));
}

/// `web` (two ReplicaSets, one replaced halfway) and `db` on a daily cycle, over 3 days.
fn periodic_cluster(start: i64, end: i64) -> ClusterMetrics {
    let cycle = |base: f64| Profile::from_fn(move |t| daily(base, t));
    let node = |name: &str, ip: &str| {
        Node::new(name, format!("{ip}:9100"))
            .cpus(4)
            .memory_bytes(16 << 30)
            .allocatable(3.8, 12 << 30)
            .kube_label("node.kubernetes.io/instance-type", "m5.xlarge")
    };
    let pod = |name: &str, node: &str, owner: (&str, &str), cpu: f64| {
        Pod::new("shop", name, node)
            .owner(owner.0, owner.1)
            .container(
                Container::new("main")
                    .cpu(cycle(cpu))
                    .memory(Profile::constant(300e6)),
            )
    };
    let mid = start + (end - start) / 2;
    ClusterMetrics::new()
        .range(start, end)
        .step(Duration::from_secs(STEP as u64))
        .node(node("node-a", "10.0.0.1"))
        .node(node("node-b", "10.0.0.2"))
        .replica_set("shop", "web-5d9c7", "web")
        .replica_set("shop", "web-7f8e1", "web")
        .pod(pod(
            "web-5d9c7-a",
            "node-a",
            ("ReplicaSet", "web-5d9c7"),
            0.6,
        ))
        .pod(
            pod("web-5d9c7-b", "node-b", ("ReplicaSet", "web-5d9c7"), 0.6)
                .running(start - HOUR..mid),
        )
        .pod(
            pod("web-7f8e1-c", "node-b", ("ReplicaSet", "web-7f8e1"), 0.6).running(mid..end + HOUR),
        )
        .pod(pod("db-0", "node-a", ("StatefulSet", "db"), 1.0))
}

#[tokio::test]
async fn prometheus_history_shows_the_workload_and_its_daily_cycle() -> anyhow::Result<()> {
    let end = unix_now() / STEP * STEP - STEP;
    let start = end - 3 * DAY;
    let Some(prom) = Prometheus::start(&periodic_cluster(start, end).to_openmetrics()).await?
    else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("tidal.yaml");
    std::fs::write(
        &config,
        "predictor:\n  history: 3d\n  horizon: 12h\n  targets:\n    - kind: workload\n      resource: cpu\n      namespace: shop\n    - kind: cluster\n      resource: cpu\n    - kind: node-pool\n      resource: cpu\n",
    )?;
    let url = prom.url();
    let config_arg = path_str(&config).to_owned();
    let out = tokio::task::spawn_blocking(move || {
        tidal(&[
            "--prometheus-url",
            &url,
            "--config",
            &config_arg,
            "predict",
            "--format",
            "json",
        ])
    })
    .await?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = json_of(&out);
    let ids: Vec<&str> = doc["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "workload/shop/Deployment/web/cpu",
            "workload/shop/StatefulSet/db/cpu",
            "cluster/cpu",
            "node-pool/node.kubernetes.io/instance-type=m5.xlarge/cpu",
        ],
        "one series per workload (the rollout's ReplicaSets are one Deployment)"
    );
    // The pool gets a node plan sized from its nodes' allocatable (3.8 cores at 70 %) without
    // any rule: every segment holds enough nodes for its demand, and 1 or 2 suffice.
    let pool = target(
        &doc,
        "node-pool/node.kubernetes.io/instance-type=m5.xlarge/cpu",
    );
    assert_eq!(pool["plan"]["unit"], "nodes", "{:#}", pool["plan"]);
    let slots = pool["plan"]["slots"].as_array().expect("slots");
    for slot in slots {
        let nodes = slot["replicas"].as_f64().expect("nodes");
        let demand = slot["demand"].as_f64().expect("demand");
        assert!(
            (1.0..=2.0).contains(&nodes) && nodes >= (demand / (3.8 * 0.7)).ceil(),
            "{slot:#}"
        );
    }
    let web = target(&doc, "workload/shop/Deployment/web/cpu");
    assert_eq!(web["unit"], "cores");
    let forecast = &web["forecast"];
    assert!(has_daily_cycle(forecast), "{:#}", forecast["periods"]);
    assert_eq!(forecast["p50"].as_array().map(Vec::len), Some(144));
    // About three days of 5-minute samples came back, and the forecast starts where they end.
    let points = web["cleaning"]["points_in"].as_u64().unwrap_or(0);
    assert!((800..=866).contains(&points), "{points} points");
    let forecast_start = forecast["start"].as_i64().expect("start");
    assert!(
        (end..=end + 2 * STEP).contains(&forecast_start),
        "{forecast_start} vs {end}"
    );
    // Two pods of 0.6 cores on a ±50 % daily swing: the forecast's peak is near 1.8 cores.
    let p50: Vec<f64> = forecast["p50"]
        .as_array()
        .expect("p50")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    for (i, v) in p50.iter().enumerate() {
        let t = forecast_start + i as i64 * STEP;
        let truth = 2.0 * daily(0.6, t);
        assert!((v - truth).abs() < 0.25, "step {i}: {v} vs {truth}");
    }

    // The table says the same for people.
    let url = prom.url();
    let config_arg = path_str(&config).to_owned();
    let out = tokio::task::spawn_blocking(move || {
        tidal(&["--prometheus-url", &url, "--config", &config_arg, "predict"])
    })
    .await?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("workload/shop/Deployment/web/cpu ") && l.contains("1d(")),
        "{table}"
    );
    Ok(())
}

fn hpa(min: i32, max: i32) -> anyhow::Result<HorizontalPodAutoscaler> {
    tidal_testkit::objects::hpa("shop", "web", min, max)
}

fn annotations(api: &FakeApiServer) -> std::collections::BTreeMap<String, String> {
    api.get::<HorizontalPodAutoscaler>("shop", "web")
        .and_then(|h| h.metadata.annotations)
        .unwrap_or_default()
}

fn min_replicas(api: &FakeApiServer) -> Option<i32> {
    api.get::<HorizontalPodAutoscaler>("shop", "web")
        .and_then(|h| h.spec)
        .and_then(|s| s.min_replicas)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_raises_the_hpa_floor_and_dry_run_changes_nothing() -> anyhow::Result<()> {
    let api = FakeApiServer::start().await?;
    api.add(&hpa(2, 8)?)?;
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, api.kubeconfig_yaml())?;
    let config = dir.path().join("tidal.yaml");
    std::fs::write(
        &config,
        "predictor:\n  apply_interval: 10m\n  prescale:\n    - target: web\n      hpa: shop/web\n      plan: { target_per_replica: 0.5, min_replicas: 1, max_replicas: 20 }\n",
    )?;
    // Three days ending now, at the top of a daily cycle between 1 and 3 cores: 3 cores need
    // 6 replicas (under the HPA's maximum of 8) right away.
    let now = unix_now();
    let end = now / STEP * STEP;
    let start = end - 3 * DAY;
    let mut rand = noise(8);
    let values: Vec<f64> = (start..end)
        .step_by(STEP as usize)
        .map(|t| 2.0 + (TAU * (t - now) as f64 / DAY as f64).cos() + 0.02 * rand())
        .collect();
    let web = write_csv(dir.path(), "web.csv", start, &values);

    let run = |extra: &'static [&'static str]| {
        let mut args: Vec<String> = [
            "--config",
            path_str(&config),
            "predict",
            "--csv",
            path_str(&web),
            "--apply",
            "--kubeconfig",
            path_str(&kubeconfig),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            tidal(&args)
        })
    };

    let dry = run(&["--dry-run"]).await?;
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    let log = text(&dry.stderr);
    assert!(log.contains("raise minReplicas 2 -> "), "{log}");
    assert_eq!(min_replicas(&api), Some(2), "a dry run changes nothing");
    assert!(annotations(&api).is_empty(), "{:?}", annotations(&api));
    let patches: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert!(patches[0].query.contains("dryRun=All"), "{patches:?}");
    assert!(
        patches[0]
            .path
            .ends_with("/namespaces/shop/horizontalpodautoscalers/web")
    );

    api.clear_requests();
    let applied = run(&[]).await?;
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied.stderr));
    let floor = min_replicas(&api).expect("minReplicas");
    assert!((6..=8).contains(&floor), "floor {floor}");
    let notes = annotations(&api);
    assert_eq!(notes.get(USER_MIN_REPLICAS).map(String::as_str), Some("2"));
    assert_eq!(
        notes.get(APPLIED_MIN_REPLICAS),
        Some(&floor.to_string()),
        "{notes:?}"
    );
    let until = notes.get(FLOOR_UNTIL).expect("floor-until");
    assert!(until.ends_with('Z') && until.contains('T'), "{until}");
    let hpa = api
        .get::<HorizontalPodAutoscaler>("shop", "web")
        .expect("the HPA");
    assert_eq!(
        hpa.spec.map(|s| s.max_replicas),
        Some(8),
        "maxReplicas untouched"
    );

    // Running again holds the floor without writing.
    api.clear_requests();
    let again = run(&[]).await?;
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_eq!(min_replicas(&api), Some(floor));
    assert!(
        api.requests().iter().all(|r| r.method != "PATCH"),
        "{:?}",
        api.requests()
    );

    // An unreachable cluster is an error that says nothing was changed.
    let out = tokio::task::spawn_blocking({
        let web = web.clone();
        let config = config.clone();
        move || {
            tidal(&[
                "--config",
                path_str(&config),
                "predict",
                "--csv",
                path_str(&web),
                "--apply",
                "--kubeconfig",
                "/nonexistent/kubeconfig",
            ])
        }
    })
    .await?;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no HPA was changed"),
        "{}",
        text(&out.stderr)
    );
    api.shutdown().await;
    Ok(())
}

/// A run that stops after its first write (the API refuses the rest, as if the process had
/// been killed there) leaves that HPA's floor raised with the user's floor and the expiry
/// recorded in the same write; a later run without a plan for it, past the expiry, restores it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_floor_raised_before_a_crash_is_restored_by_a_later_run() -> anyhow::Result<()> {
    let api = FakeApiServer::start().await?;
    api.add(&hpa(2, 8)?)?;
    api.add(&tidal_testkit::objects::hpa("shop", "api", 2, 8)?)?;
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, api.kubeconfig_yaml())?;
    let config = dir.path().join("tidal.yaml");
    let rule = |name: &str| {
        format!(
            "    - target: {name}\n      hpa: shop/{name}\n      plan: {{ target_per_replica: 0.5, min_replicas: 1, max_replicas: 20 }}\n"
        )
    };
    std::fs::write(
        &config,
        format!(
            "predictor:\n  apply_interval: 10m\n  prescale:\n{}{}",
            rule("web"),
            rule("api")
        ),
    )?;
    // Both at the top of a daily cycle between 1 and 3 cores: each needs 6 replicas now.
    let now = unix_now();
    let end = now / STEP * STEP;
    let start = end - 3 * DAY;
    let mut rand = noise(9);
    let values: Vec<f64> = (start..end)
        .step_by(STEP as usize)
        .map(|t| 2.0 + (TAU * (t - now) as f64 / DAY as f64).cos() + 0.02 * rand())
        .collect();
    let csvs = [
        write_csv(dir.path(), "web.csv", start, &values),
        write_csv(dir.path(), "api.csv", start, &values),
    ];
    let run = |csvs: Vec<PathBuf>| {
        let mut args: Vec<String> = ["--config", path_str(&config), "predict"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        for csv in &csvs {
            args.extend(["--csv".to_owned(), path_str(csv).to_owned()]);
        }
        args.extend(
            ["--apply", "--kubeconfig", path_str(&kubeconfig)]
                .iter()
                .map(|s| (*s).to_owned()),
        );
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            tidal(&args)
        })
    };
    let get = |name: &str| {
        api.get::<HorizontalPodAutoscaler>("shop", name)
            .map(|h| {
                let min = h.spec.and_then(|s| s.min_replicas);
                (min, h.metadata.annotations.unwrap_or_default())
            })
            .unwrap_or_default()
    };

    api.deny_after("patch", "horizontalpodautoscalers", 1);
    let crashed = run(csvs.to_vec()).await?;
    assert_ne!(crashed.status.code(), Some(0), "{}", text(&crashed.stderr));
    let (raised, notes) = get("web");
    let (untouched, none) = get("api");
    assert!(raised.is_some_and(|m| m > 2), "{raised:?}");
    assert_eq!(notes.get(USER_MIN_REPLICAS).map(String::as_str), Some("2"));
    assert!(notes.contains_key(FLOOR_UNTIL), "{notes:?}");
    assert_eq!((untouched, none.len()), (Some(2), 0));

    // Later, past the expiry, the next run has no plan for web (its history is gone).
    api.allow_all();
    api.modify::<HorizontalPodAutoscaler>("shop", "web", |h| {
        let notes = h.metadata.annotations.get_or_insert_default();
        notes.insert(FLOOR_UNTIL.to_owned(), "2000-01-01T00:00:00Z".to_owned());
    })?;
    let later = run(vec![csvs[1].clone()]).await?;
    assert_eq!(later.status.code(), Some(0), "{}", text(&later.stderr));
    let (restored, notes) = get("web");
    assert_eq!(restored, Some(2), "{}", text(&later.stderr));
    assert!(!notes.contains_key(FLOOR_UNTIL), "{notes:?}");
    api.shutdown().await;
    Ok(())
}

#[test]
fn options_that_would_be_ignored_or_plan_nothing_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = daily_csv(dir.path(), "good.csv", 3, 1.0, 7);
    let csv = path_str(&good);
    let refused = |args: &[&str], expect: &str| {
        let out = tidal(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let err = text(&out.stderr);
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} forecast anyway");
    };
    refused(
        &["predict", "--csv", csv, "--target-per-replica", "0"],
        "not a positive amount",
    );
    refused(
        &["predict", "--csv", csv, "--target-per-replica", "-1"],
        "not a positive amount",
    );
    refused(
        &[
            "predict",
            "--csv",
            csv,
            "--target-per-replica",
            "1",
            "--min-replicas",
            "10",
            "--max-replicas",
            "2",
        ],
        "--min-replicas (10) is above --max-replicas (2)",
    );
    refused(&["predict", "--csv", csv, "--history", "3d"], "--history");
    refused(&["predict", "--csv", csv, "--apply"], "predictor.prescale");
}
