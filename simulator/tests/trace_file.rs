//! The YAML trace file: the example, expansion, CSV curves, and errors that name the
//! field and the line.

use std::path::{Path, PathBuf};

use tidal_core::resources::{PodLimits, Resources};
use tidal_simulator::trace::{
    Amount, Cron, HpaSpec, Kind, Pdb, Trace, TraceError, WorkloadSpec, load, parse,
};

const GI: i64 = 1 << 30;

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/simulate")
}

fn parse_ok(text: &str, dir: &Path) -> Trace {
    parse(text, dir).unwrap_or_else(|e| panic!("should parse: {e}"))
}

fn parse_err(text: &str, dir: &Path) -> TraceError {
    match parse(text, dir) {
        Ok(_) => panic!("should be refused:\n{text}"),
        Err(e) => e,
    }
}

/// A one-node trace around `workloads` (YAML lines, indented by two spaces).
fn with_workloads(workloads: &str) -> String {
    format!(
        "duration: 1h\nstep: 1m\nnodes:\n  - {{name: n, cpu: \"4\", memory: 16Gi}}\nworkloads:\n{workloads}"
    )
}

fn workload<'a>(trace: &'a Trace, name: &str) -> &'a WorkloadSpec {
    trace
        .workloads
        .iter()
        .find(|w| w.name == name)
        .unwrap_or_else(|| panic!("no workload {name}"))
}

/// The noiseless CPU curve of the only workload over `steps` steps.
fn cpu_curve(trace: &Trace, steps: usize) -> Vec<f64> {
    (0..steps).map(|s| trace.workloads[0].cpu.base(s)).collect()
}

fn assert_close(actual: &[f64], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert!((a - e).abs() < 1e-5, "{actual:?} vs {expected:?}");
    }
}

fn csv_dir(name: &str, csv: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join(name), csv).expect("write csv");
    dir
}

#[test]
fn example_trace_parses_and_expands() {
    let trace = load(&example_dir().join("trace.yaml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(trace.step.as_secs(), 60);
    assert_eq!(trace.steps, 3 * 24 * 60);
    assert_eq!(trace.seed, 7);
    assert!(trace.placement.is_none());

    assert_eq!(trace.nodes.len(), 40);
    assert_eq!(trace.nodes[0].name, "pool-a-1");
    assert_eq!(trace.nodes[39].name, "pool-a-40");
    for node in &trace.nodes {
        assert_eq!(
            node.allocatable,
            Resources {
                cpu_milli: 16_000,
                memory_bytes: 64 * GI
            }
        );
        assert_eq!(node.max_pods, 110);
        assert!(node.labels.is_empty() && node.taints.is_empty());
    }

    let api = workload(&trace, "api");
    assert_eq!(api.namespace, "shop");
    assert_eq!(api.kind, Kind::Deployment);
    assert_eq!(api.replicas, 10);
    assert_eq!(api.priority, 0);
    assert_eq!(
        api.requests,
        Resources {
            cpu_milli: 2000,
            memory_bytes: 4 * GI
        }
    );
    assert_eq!(
        api.limits,
        PodLimits {
            cpu_milli: Some(4000),
            memory_bytes: None
        }
    );
    // A day of 5-minute samples: a 1440-step loop at 1m, rescaled to 1.5 cores.
    assert!((api.cpu.mean() - 1.5).abs() < 1e-3, "{}", api.cpu.mean());
    assert_eq!(api.cpu.base(17), api.cpu.base(17 + 1440));
    assert!(!api.cpu.is_constant());
    assert!(api.memory.is_constant());
    assert_eq!(api.memory.base(0), 3.0 * GI as f64);
    assert_eq!(api.pdb, Some(Pdb::MaxUnavailable(Amount::Count(1))));
    assert_eq!(api.restart_every, Some(24 * 60));
    assert_eq!(
        api.hpa,
        Some(HpaSpec {
            min: 2,
            max: 20,
            target_cpu_utilization: 0.7
        })
    );
    assert_eq!(api.cron, None);
    assert!(api.node_selector.is_empty() && api.tolerations.is_empty());

    let report = workload(&trace, "report");
    assert_eq!(report.kind, Kind::CronJob);
    assert_eq!(
        report.cron,
        Some(Cron {
            every: 120,
            run_for: 30
        })
    );
    assert_eq!(report.replicas, 4);
    assert_eq!(report.cpu.base(0), 0.9f32 as f64);
    assert_eq!(report.memory.base(99), GI as f64);
    assert_eq!(report.limits, PodLimits::default());
    assert_eq!(report.pdb, None);
}

#[test]
fn example_shift_delays_the_csv_by_two_hours() {
    let dir = example_dir();
    let text = std::fs::read_to_string(dir.join("trace.yaml")).expect("example");
    let shifted = parse_ok(&text, &dir);
    let unshifted = parse_ok(&text.replace(", shift: 2h", ""), &dir);
    let (a, b) = (
        &workload(&shifted, "api").cpu,
        &workload(&unshifted, "api").cpu,
    );
    for step in [0, 1, 500, 1439] {
        assert_eq!(a.base(step + 120), b.base(step));
    }
    assert_eq!(a.base(0), b.base(1440 - 120));
}

#[test]
fn pools_expand_and_single_nodes_keep_their_name() {
    let text = "duration: 90m\nstep: 1m\nnodes:\n  - {name: big, count: 3, cpu: 1500m, memory: 512Mi, labels: {zone: a}, taints: [{key: gpu, value: \"true\", effect: NoSchedule}]}\n  - {name: single, cpu: 2, memory: 1G}\n";
    let trace = parse_ok(text, Path::new("."));
    let names: Vec<&str> = trace.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["big-1", "big-2", "big-3", "single"]);
    assert_eq!(trace.nodes[0].allocatable.cpu_milli, 1500);
    assert_eq!(trace.nodes[0].allocatable.memory_bytes, 512 << 20);
    assert_eq!(
        trace.nodes[0].labels.get("zone").map(String::as_str),
        Some("a")
    );
    assert_eq!(trace.nodes[2].taints[0].effect, "NoSchedule");
    assert_eq!(trace.nodes[3].allocatable.cpu_milli, 2000);
    assert_eq!(trace.nodes[3].allocatable.memory_bytes, 1_000_000_000);
    assert_eq!(trace.nodes[3].max_pods, 110);
    assert_eq!(trace.steps, 90);
    assert!(trace.workloads.is_empty());
}

#[test]
fn durations_round_up_to_steps() {
    let text = with_workloads(
        "  - {name: j, kind: CronJob, schedule_every: 61m, run_for: 10s, usage: {cpu: 1, memory: 1Mi}}\n",
    )
    .replace("duration: 1h\nstep: 1m", "duration: 25h\nstep: 10m");
    let trace = parse_ok(&text, Path::new("."));
    assert_eq!(trace.steps, 150);
    assert_eq!(
        trace.workloads[0].cron,
        Some(Cron {
            every: 7,
            run_for: 1
        })
    );
}

#[test]
fn defaults_and_pdb_percentages() {
    let text = with_workloads(
        "  - name: w\n    usage: {cpu: 100m, memory: 0}\n    pdb: {minAvailable: \"50%\"}\n    tolerations: [{key: gpu, operator: Exists, effect: NoSchedule}]\n    node_selector: {disk: ssd}\n",
    );
    let trace = parse_ok(&text, Path::new("."));
    let w = &trace.workloads[0];
    assert_eq!(w.namespace, "default");
    assert_eq!(w.kind, Kind::Deployment);
    assert_eq!(w.replicas, 1);
    assert_eq!(w.requests, Resources::default());
    assert_eq!(w.pdb, Some(Pdb::MinAvailable(Amount::Percent(50))));
    assert_eq!(w.tolerations[0].operator.as_deref(), Some("Exists"));
    assert_eq!(w.node_selector.get("disk").map(String::as_str), Some("ssd"));
    assert_eq!(trace.seed, 0);
}

#[test]
fn csv_of_30_seconds_averages_into_1_minute_steps() {
    // Pairs of 30-second samples make one minute each: (1+3)/2, (5+7)/2, (2+4)/2.
    let dir = csv_dir(
        "c.csv",
        "ts,value\n1000,1\n1030,3\n1060,5\n1090,7\n1120,2\n1150,4\n",
    );
    let text = with_workloads("  - {name: w, usage: {cpu: {csv: c.csv}, memory: 1Mi}}\n");
    let trace = parse_ok(&text, dir.path());
    assert_close(&cpu_curve(&trace, 6), &[2.0, 6.0, 3.0, 2.0, 6.0, 3.0]);
}

#[test]
fn csv_of_5_minutes_averages_into_10_minute_steps() {
    let dir = csv_dir("c.csv", "0,1\n300,2\n600,3\n900,4\n1200,5\n");
    let text = with_workloads("  - {name: w, usage: {cpu: {csv: c.csv}, memory: 1Mi}}\n")
        .replace("step: 1m", "step: 10m");
    let trace = parse_ok(&text, dir.path());
    // 25 minutes of samples: (1+2)/2, (3+4)/2, then 5 alone; looped.
    assert_close(&cpu_curve(&trace, 4), &[1.5, 3.5, 5.0, 1.5]);
}

#[test]
fn csv_coarser_than_the_step_holds_each_sample() {
    let dir = csv_dir("c.csv", "0,1\n180,4\n");
    let text = with_workloads("  - {name: w, usage: {cpu: {csv: c.csv}, memory: 1Mi}}\n");
    let trace = parse_ok(&text, dir.path());
    assert_close(&cpu_curve(&trace, 7), &[1.0, 1.0, 1.0, 4.0, 4.0, 4.0, 1.0]);
}

#[test]
fn mean_scale_shift_and_loop() {
    let dir = csv_dir("c.csv", "0,1\n60,2\n60.2,3\n");
    // The duplicate (rounded) timestamp is CSV's own error, with its line.
    let text = with_workloads("  - {name: w, usage: {cpu: {csv: c.csv}, memory: 1Mi}}\n");
    let err = parse_err(&text, dir.path());
    assert_eq!(err.csv_line(), Some(3), "{err}");

    std::fs::write(dir.path().join("c.csv"), "0,1\n60,2\n120,3\n180,4\n").expect("csv");
    let curve = |usage: &str| {
        let text = with_workloads(&format!(
            "  - {{name: w, usage: {{cpu: {usage}, memory: 1Mi}}}}\n"
        ));
        cpu_curve(&parse_ok(&text, dir.path()), 9)
    };
    assert_close(
        &curve("{csv: c.csv}"),
        &[1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0],
    );
    // Mean 2.5 rescaled to 5 cores: doubled.
    assert_close(
        &curve("{csv: c.csv, mean: \"5\"}"),
        &[2.0, 4.0, 6.0, 8.0, 2.0, 4.0, 6.0, 8.0, 2.0],
    );
    assert_close(
        &curve("{csv: c.csv, mean: 250m}"),
        &[0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.1],
    );
    assert_close(
        &curve("{csv: c.csv, scale: 3}"),
        &[3.0, 6.0, 9.0, 12.0, 3.0, 6.0, 9.0, 12.0, 3.0],
    );
    // Shifted one step later: the value at step s is the curve's at s - 1, looped.
    assert_close(
        &curve("{csv: c.csv, shift: 1m}"),
        &[4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0],
    );
    // A shift longer than the curve wraps around (5 steps = 1 step).
    assert_close(
        &curve("{csv: c.csv, shift: 5m, scale: 2}"),
        &[8.0, 2.0, 4.0, 6.0, 8.0, 2.0, 4.0, 6.0, 8.0],
    );
    // Without a csv, mean is a constant, with noise when jitter is set.
    assert_close(&curve("{mean: 1500m, jitter: 0.2}"), &[1.5; 9]);

    // Memory curves are in bytes: rescaled to 1Ki.
    let text = with_workloads(
        "  - {name: w, usage: {cpu: 1, memory: {csv: c.csv, mean: 1Ki, jitter: 0.05}}}\n",
    );
    let trace = parse_ok(&text, dir.path());
    let memory = &trace.workloads[0].memory;
    assert!((memory.mean() - 1024.0).abs() < 1e-3);
    assert!((memory.base(3) - 4.0 * 1024.0 / 2.5).abs() < 1e-3);
    let noisy = memory.at(3, 1);
    assert!((noisy - memory.base(3)).abs() <= memory.base(3) * 0.05 + 1e-6);
}

#[test]
fn bad_quantity_names_field_line_and_fix() {
    let text = with_workloads(
        "  - name: w\n    requests: {cpu: \"2x\", memory: 1Gi}\n    usage: {cpu: 1, memory: 1Gi}\n",
    );
    let err = parse_err(&text, Path::new("."));
    assert_eq!(err.field(), Some("workloads[0].requests.cpu"));
    assert_eq!(err.line(), Some(7));
    assert_eq!(
        err.to_string(),
        "workloads[0].requests.cpu (line 7): \"2x\" is not a quantity; write cores like \"2\" or \"500m\""
    );

    let text = with_workloads("  - name: w\n    usage: {cpu: 1, memory: -1Gi}\n");
    let err = parse_err(&text, Path::new("."));
    assert_eq!(err.field(), Some("workloads[0].usage.memory"));
    assert!(err.message().contains("negative"), "{err}");
    assert!(err.message().contains("512Mi"), "{err}");
}

#[test]
fn unknown_field_names_the_typo_and_suggests() {
    let text = with_workloads("  - name: w\n    replica: 3\n    usage: {cpu: 1, memory: 1Gi}\n");
    let err = parse_err(&text, Path::new("."));
    assert_eq!(err.field(), Some("workloads[0].replica"));
    assert_eq!(err.line(), Some(7));
    assert!(err.message().contains("did you mean `replicas`"), "{err}");

    let err = parse_err("duration: 1h\nnodse: []\n", Path::new("."));
    assert_eq!(err.field(), Some("nodse"));
    assert_eq!(err.line(), Some(2));
    assert!(err.message().contains("`nodes`"), "{err}");

    let text = with_workloads("  - {name: w, kind: Deploymnet, usage: {cpu: 1, memory: 1Gi}}\n");
    let err = parse_err(&text, Path::new("."));
    assert_eq!(err.field(), Some("workloads[0].kind"));
    assert_eq!(err.line(), Some(6));
    assert!(err.message().contains("did you mean `Deployment`"), "{err}");
}

#[test]
fn missing_csv_names_the_resolved_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let trace_path = dir.path().join("trace.yaml");
    let text = with_workloads(
        "  - name: w\n    usage:\n      cpu: {csv: shapes/nope.csv, mean: 1}\n      memory: 1Gi\n",
    );
    std::fs::write(&trace_path, text).expect("write trace");
    let err = load(&trace_path).expect_err("missing csv");
    assert_eq!(err.field(), Some("workloads[0].usage.cpu.csv"));
    assert_eq!(err.line(), Some(8));
    assert_eq!(err.file(), Some(trace_path.as_path()));
    let shown = err.to_string();
    let resolved = dir.path().join("shapes/nope.csv");
    assert!(shown.contains(&resolved.display().to_string()), "{shown}");
    assert!(
        shown.starts_with(&format!(
            "{}: workloads[0].usage.cpu.csv (line 8): cannot read",
            trace_path.display()
        )),
        "{shown}"
    );
}

#[test]
fn csv_errors_carry_the_csv_line() {
    let dir = csv_dir("c.csv", "ts,value\n0,1\n60,abc\n");
    let text = with_workloads("  - {name: w, usage: {cpu: {csv: c.csv}, memory: 1Mi}}\n");
    let err = parse_err(&text, dir.path());
    assert_eq!(err.csv_line(), Some(3));
    assert_eq!(err.csv_path(), Some(dir.path().join("c.csv").as_path()));
    assert_eq!(err.field(), Some("workloads[0].usage.cpu.csv"));
    assert!(err.to_string().contains("line 3: value \"abc\""), "{err}");

    std::fs::write(dir.path().join("c.csv"), "0,1\n\n60,-2\n").expect("csv");
    let err = parse_err(&text, dir.path());
    assert_eq!(err.csv_line(), Some(3), "{err}");
    assert!(err.message().contains("negative"), "{err}");
}

#[test]
fn cronjob_without_schedule_is_refused_at_its_item() {
    let text = with_workloads(
        "  - name: api\n    usage: {cpu: 1, memory: 1Gi}\n  - name: job\n    kind: CronJob\n    run_for: 10m\n    usage: {cpu: 1, memory: 1Gi}\n",
    );
    let err = parse_err(&text, Path::new("."));
    assert_eq!(err.field(), Some("workloads[1].schedule_every"));
    assert_eq!(err.line(), Some(8));
    assert!(err.message().contains("schedule_every: 2h"), "{err}");

    let text =
        with_workloads("  - {name: api, schedule_every: 1h, usage: {cpu: 1, memory: 1Gi}}\n");
    let err = parse_err(&text, Path::new("."));
    assert_eq!(err.field(), Some("workloads[0].schedule_every"));
    assert_eq!(err.line(), Some(6));
    assert!(err.message().contains("kind: CronJob"), "{err}");
}

#[test]
fn hpa_min_above_max_is_refused() {
    let text = with_workloads(
        "  - name: api\n    usage: {cpu: 1, memory: 1Gi}\n    hpa:\n      max: 3\n      min: 5\n",
    );
    let err = parse_err(&text, Path::new("."));
    assert_eq!(err.field(), Some("workloads[0].hpa.min"));
    assert_eq!(err.line(), Some(10));
    assert!(err.message().contains("min 5 is above max 3"), "{err}");

    let text = with_workloads(
        "  - {name: api, usage: {cpu: 1, memory: 1Gi}, hpa: {min: 1, max: 3, target_cpu_utilization: 0}}\n",
    );
    let err = parse_err(&text, Path::new("."));
    assert_eq!(err.field(), Some("workloads[0].hpa.target_cpu_utilization"));
    assert_eq!(err.line(), Some(6));
}

#[test]
fn duplicate_names_are_refused() {
    let text = "duration: 1h\nnodes:\n  - {name: a, count: 3, cpu: 1, memory: 1Gi}\n  - name: a-2\n    cpu: 1\n    memory: 1Gi\n";
    let err = parse_err(text, Path::new("."));
    assert_eq!(err.field(), Some("nodes[1].name"));
    assert_eq!(err.line(), Some(4));
    assert!(err.message().contains("\"a-2\""), "{err}");
    assert!(err.message().contains("nodes[0]"), "{err}");

    let text = with_workloads(
        "  - {name: w, usage: {cpu: 1, memory: 1Gi}}\n  - {namespace: other, name: w, usage: {cpu: 1, memory: 1Gi}}\n  - {name: w, usage: {cpu: 1, memory: 1Gi}}\n",
    );
    let err = parse_err(&text, Path::new("."));
    assert_eq!(err.field(), Some("workloads[2].name"));
    assert_eq!(err.line(), Some(8));
}

#[test]
fn other_mistakes_say_what_to_write() {
    let cases = [
        ("duration: 3x\nnodes: []\n", "duration", "not a duration"),
        ("duration: 3\nnodes: []\n", "duration", "has no unit"),
        ("duration: 1h\nstep: 0s\nnodes: []\n", "step", "zero"),
        ("duration: 1h\nnodes: []\n", "nodes", "no nodes"),
        (
            "duration: 1h\nnodes:\n  - {name: a, cpu: 1}\n",
            "nodes[0]",
            "missing field `memory`; add it, e.g. memory: 4Gi",
        ),
        (
            "duration: 1h\nnodes:\n  - {name: a, count: 0, cpu: 1, memory: 1Gi}\n",
            "nodes[0].count",
            "1 or more",
        ),
    ];
    for (text, field, needle) in cases {
        let err = parse_err(text, Path::new("."));
        assert_eq!(err.field(), Some(field), "{err}");
        assert!(err.line().is_some(), "{err}");
        assert!(err.message().contains(needle), "{err}");
    }
    let workload_cases = [
        (
            "{name: w, usage: {cpu: {csv: c.csv, mean: 1, scale: 2}, memory: 1}}",
            "workloads[0].usage.cpu.scale",
            "keep one",
        ),
        (
            "{name: w, usage: {cpu: {jitter: 2, mean: 1}, memory: 1}}",
            "workloads[0].usage.cpu.jitter",
            "[0, 1]",
        ),
        (
            "{name: w, usage: {cpu: 1, memory: 1}, pdb: {}}",
            "workloads[0].pdb",
            "maxUnavailable: 1",
        ),
        (
            "{name: w, usage: {cpu: 1, memory: 1}, pdb: {minAvailable: 120%}}",
            "workloads[0].pdb.minAvailable",
            "over 100",
        ),
        (
            "{name: w, requests: {cpu: 2}, limits: {cpu: 1}, usage: {cpu: 1, memory: 1}}",
            "workloads[0].limits.cpu",
            "raise the limit",
        ),
        (
            "{name: w, replicas: many, usage: {cpu: 1, memory: 1}}",
            "workloads[0].replicas",
            "whole number",
        ),
        (
            "{name: w, kind: DaemonSet, hpa: {max: 3}, usage: {cpu: 1, memory: 1}}",
            "workloads[0].hpa",
            "remove hpa",
        ),
        (
            "{name: w, restart_every: 0s, usage: {cpu: 1, memory: 1}}",
            "workloads[0].restart_every",
            "zero",
        ),
        (
            "{name: w}",
            "workloads[0]",
            "usage: {cpu: 500m, memory: 1Gi}",
        ),
    ];
    for (item, field, needle) in workload_cases {
        let text = with_workloads(&format!("  - {item}\n"));
        let err = parse_err(&text, Path::new("."));
        assert_eq!(err.field(), Some(field), "{err}");
        assert_eq!(err.line(), Some(6), "{err}");
        assert!(err.message().contains(needle), "{err}");
    }
}

#[test]
fn yaml_syntax_errors_have_a_line() {
    let err = parse_err("duration: 1h\nnodes:\n  - {name: a\n", Path::new("."));
    assert!(err.line().is_some(), "{err}");
    let err = parse_err("", Path::new("."));
    assert!(err.message().contains("duration:"), "{err}");
}

#[test]
fn unreadable_trace_names_the_file() {
    let err = load(Path::new("/nonexistent/trace.yaml")).expect_err("no such file");
    assert!(
        err.to_string()
            .starts_with("/nonexistent/trace.yaml: cannot read the trace"),
        "{err}"
    );
}
