//! The side-by-side report: terminal table, JSON and the HTML page (screenshotted in
//! headless Chromium when it is installed).

use std::path::Path;

use serde_json::Value;
use tidal_simulator::outcome::{Heatmap, PolicyOutcome, Report, TraceSummary};
use tidal_simulator::report;

const POLICIES: [&str; 7] = [
    "requests",
    "tidal",
    "tidal+descheduler",
    "lownodeutilization",
    "lownodeutilization-requests",
    "oracle",
    "hpa+predict",
];

const FIGURE_ROWS: [&str; 15] = [
    "hot node-min (CPU > 80%)",
    "vs requests",
    "memory-pressure node-min",
    "node CPU p95",
    "node CPU p99",
    "CPU spread",
    "evictions",
    "evictions / relieved node",
    "repeated moves",
    "pending pod-minutes",
    "under-provisioned minutes",
    "replica-hours",
    "node-hours",
    "OOM kills",
    "throttled core-minutes",
];

const JSON_KEYS: [&str; 12] = [
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
];

/// A deterministic pseudo-random number in `[0, 1)`.
fn noise(seed: u64) -> f32 {
    let mut x = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(0x2545_F491_4F6C_DD1D);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    (x >> 40) as f32 / (1u64 << 24) as f32
}

/// A 3-day trace at 1-minute steps, heatmaps of `columns` 15-minute… columns over `nodes` nodes:
/// a diurnal load, a few hot nodes that the later policies even out.
fn sample(nodes: usize, columns: usize) -> Report {
    let steps = 3 * 24 * 60;
    let column_seconds = (steps as u64 * 60) / columns.max(1) as u64;
    let names: Vec<String> = (0..nodes)
        .map(|i| {
            if i == 7 {
                "pool-b-<&>-\"7\"".to_string()
            } else {
                format!("ip-10-0-{}-{}.ec2.internal", i / 250, i % 250)
            }
        })
        .collect();
    let policies = POLICIES
        .iter()
        .enumerate()
        .map(|(p, name)| {
            let evenness = p as f32 / (POLICIES.len() - 1) as f32;
            let cells = (0..nodes)
                .map(|n| {
                    let skew = (noise(n as u64) - 0.5) * 0.7 * (1.0 - 0.75 * evenness);
                    (0..columns)
                        .map(|c| {
                            let t = (c as u64 * column_seconds) as f32 / 86_400.0;
                            let diurnal = 0.5 + 0.25 * (std::f32::consts::TAU * (t - 0.4)).sin();
                            let jitter =
                                (noise((p * 1_000_003 + n * 1_009 + c) as u64) - 0.5) * 0.1;
                            if p == 2 && n == 3 && (100..140).contains(&c) {
                                return f32::NAN;
                            }
                            (diurnal + skew + jitter).max(0.02)
                        })
                        .collect()
                })
                .collect();
            let hot = 4_000.0 * (1.0 - 0.8 * f64::from(evenness)) + 0.333_333;
            PolicyOutcome {
                policy: (*name).to_string(),
                hot_node_minutes: hot,
                memory_pressure_node_minutes: 120.0 * (1.0 - f64::from(evenness)),
                node_cpu_p95: 0.93 - 0.15 * f64::from(evenness) + 1e-9,
                node_cpu_p99: 1.04 - 0.16 * f64::from(evenness),
                cpu_spread: 0.2 - 0.12 * f64::from(evenness),
                evictions: if p < 2 { 0 } else { 40 * p as u64 + 3 },
                evictions_per_relieved_node: if p < 2 {
                    None
                } else {
                    Some(2.0 / 3.0 * p as f64)
                },
                repeated_moves: if p == 2 { 17 } else { 0 },
                pending_pod_minutes: 23.999_999 * p as f64,
                underprovisioned_minutes: if p == 6 { 12.5 } else { 310.0 },
                replica_hours: 21_600.123_456 - 10.0 * p as f64,
                node_hours: nodes as f64 * 72.0,
                oom_kills: 3,
                throttled_core_minutes: 1_234.567_89 / (p + 1) as f64,
                wall_seconds: 1.234_567,
                heatmap: Heatmap {
                    nodes: names.clone(),
                    column_seconds,
                    cells,
                },
                moves: Vec::new(),
            }
        })
        .collect();
    Report {
        trace: TraceSummary {
            source: "scenario diurnal-hotspots".to_string(),
            nodes,
            workloads: 120,
            pods: 1_450,
            step_seconds: 60,
            steps,
            seed: 42,
            hot: 0.8,
        },
        policies,
    }
}

#[test]
fn table_has_every_policy_and_figure_row() {
    let table = report::table(&sample(48, 288));
    println!("{table}");
    let header: Vec<&str> = table
        .lines()
        .skip(3)
        .take_while(|l| !l.starts_with("---"))
        .collect();
    for policy in POLICIES {
        assert!(
            header
                .iter()
                .any(|l| l.split([' ', '|']).any(|w| w == policy)),
            "{policy} missing from\n{table}"
        );
    }
    for row in FIGURE_ROWS {
        assert!(
            table.lines().any(|l| l.trim_start().starts_with(row)),
            "row {row} missing from\n{table}"
        );
    }
    assert!(table.contains("scenario diurnal-hotspots"));
    assert!(table.contains(
        "48 nodes, 120 workloads, 1,450 pods, 3d at 1m steps, seed 42, hot above 80% CPU"
    ));
}

#[test]
fn table_fits_a_terminal_without_trailing_spaces_or_long_decimals() {
    let table = report::table(&sample(48, 288));
    for line in table.lines() {
        assert!(line.chars().count() <= 120, "too long: {line:?}");
        assert_eq!(line, line.trim_end(), "trailing space: {line:?}");
        let long_decimals = line
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter_map(|word| word.split_once('.'))
            .any(|(_, fraction)| fraction.len() > 2);
        assert!(!long_decimals, "unrounded number in {line:?}");
    }
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .map(str::to_string)
            .unwrap_or_default()
    };
    assert!(row("evictions / relieved node").contains('—'));
    assert!(row("pending pod-minutes").contains(" 24 "));
    assert!(row("  vs requests").contains("-80%"));
    assert!(row("node CPU p95").contains("93.0%"));
    assert!(row("replica-hours").contains("21,600"));
}

#[test]
fn json_parses_back_with_every_required_key() {
    let text = report::json(&sample(8, 12)).expect("serializes");
    let value: Value = serde_json::from_str(&text).expect("parses");
    assert_eq!(value["trace"]["nodes"], 8);
    assert_eq!(value["trace"]["source"], "scenario diurnal-hotspots");
    let policies = value["policies"].as_array().expect("policies array");
    assert_eq!(policies.len(), POLICIES.len());
    for (policy, name) in policies.iter().zip(POLICIES) {
        assert_eq!(policy["policy"], name);
        for key in JSON_KEYS {
            assert!(policy.get(key).is_some(), "{name} lacks {key}");
        }
        assert!(policy.get("heatmap").is_none());
    }
    assert_eq!(policies[0]["evictions_per_relieved_node"], Value::Null);
    assert_eq!(policies[1]["pending_pod_minutes"], 24.0);
    assert_eq!(policies[0]["replica_hours"], 21_600.123_5);
    assert!(!text.contains("0000001"), "unrounded float in {text}");
}

#[test]
fn html_has_one_heatmap_per_policy_and_escapes_names() {
    let html = report::html(&sample(48, 288));
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    assert_eq!(
        html.matches("<svg class=\"heatmap\"").count(),
        POLICIES.len()
    );
    assert_eq!(html.matches("<svg class=\"bars\"").count(), 1);
    assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
    for policy in POLICIES {
        assert!(html.contains(&format!("<h3>{}</h3>", policy.replace('&', "&amp;"))));
    }
    assert!(html.contains("pool-b-&lt;&amp;&gt;-&quot;7&quot;"));
    assert!(!html.contains("<&>"));
    assert!(html.contains("<title>"));
    assert!(html.contains("class=\"best\""));
    assert!(!html.contains("<script"));
    // Nothing fetched: the only URL is the SVG namespace.
    assert!(
        !html
            .replace("http://www.w3.org/2000/svg", "")
            .contains("http")
    );
}

#[test]
fn html_of_1000_nodes_by_300_columns_stays_small() {
    let html = report::html(&sample(1_000, 300));
    assert!(html.len() < 3_000_000, "{} bytes", html.len());
    assert_eq!(
        html.matches("<svg class=\"heatmap\"").count(),
        POLICIES.len()
    );
    assert_eq!(
        html.matches("1,000 nodes, averaged into 120 rows of 8–9 consecutive nodes")
            .count(),
        POLICIES.len()
    );
    println!("{} bytes", html.len());
    if let Some(dir) = std::env::var_os("TIDAL_REPORT_KEEP") {
        std::fs::write(Path::new(&dir).join("sim-1000.html"), &html).expect("keep html");
    }
}

/// Renders the sample page in headless Chromium (see `tidal_testkit::chromium`).
#[test]
fn html_renders_in_headless_chromium() {
    let png = tidal_testkit::chromium::screenshot("sim", &report::html(&sample(48, 288)))
        .expect("screenshot");
    if let Some(png) = png {
        assert!(png.len() > 50_000, "a {}-byte screenshot", png.len());
    }
}

#[test]
fn empty_reports_render() {
    let mut report = sample(0, 0);
    assert!(report::html(&report).contains("No node utilization was recorded."));
    report.policies.clear();
    assert!(report::table(&report).contains("No policy was replayed."));
    assert!(report::html(&report).contains("No policy was replayed."));
    let json: Value = serde_json::from_str(&report::json(&report).expect("json")).expect("parses");
    assert_eq!(json["policies"], Value::Array(Vec::new()));
}
