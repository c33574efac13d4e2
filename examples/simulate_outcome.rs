//! Tidal's outcome benchmark: clusters whose workloads use real production CPU shapes
//! (the Crane series in `../shared/data/crane-cpu/`) with requests that disagree with
//! use, replayed under every policy. Each seed draws a fresh cluster; nothing in Tidal
//! was tuned on these traces.
//!
//! ```text
//! cargo run --release --example simulate_outcome -- ../shared/data/crane-cpu --seeds 1,2,3
//! cargo run --release --example simulate_outcome -- ../shared/data/crane-cpu --nodes 1000 --pods 30000 --days 7 --policies requests
//! ```
//! Prints each seed's table and a summary; `--keep DIR` keeps the generated traces
//! (YAML, replayable with `tidal simulate DIR/seed-N.yaml`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tidal_simulator::engine::{Options, simulate};
use tidal_simulator::policy::Policy;
use tidal_simulator::{report, trace};

struct Args {
    shapes: PathBuf,
    seeds: Vec<u64>,
    nodes: usize,
    pods: usize,
    days: usize,
    node_cpu: u32,
    policies: Vec<Policy>,
    keep: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        shapes: PathBuf::new(),
        seeds: vec![1, 2, 3],
        nodes: 60,
        pods: 1200,
        days: 7,
        node_cpu: 16,
        policies: Vec::new(),
        keep: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--seeds" => {
                args.seeds = value()?
                    .split(',')
                    .map(|s| s.parse().map_err(|e| format!("--seeds: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--nodes" => args.nodes = value()?.parse().map_err(|e| format!("--nodes: {e}"))?,
            "--pods" => args.pods = value()?.parse().map_err(|e| format!("--pods: {e}"))?,
            "--days" => args.days = value()?.parse().map_err(|e| format!("--days: {e}"))?,
            "--node-cpu" => {
                args.node_cpu = value()?.parse().map_err(|e| format!("--node-cpu: {e}"))?
            }
            "--policies" => {
                args.policies = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--keep" => args.keep = Some(PathBuf::from(value()?)),
            path if !path.starts_with('-') => args.shapes = PathBuf::from(path),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.shapes.as_os_str().is_empty() {
        return Err("usage: simulate_outcome CRANE_CPU_DIR [--seeds 1,2,3] [--nodes N] [--pods N] [--days N] [--node-cpu N] [--policies a,b] [--keep DIR]".into());
    }
    Ok(args)
}

/// A small seeded generator (SplitMix64): the example must not depend on a random
/// crate's version to reproduce its traces.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.next()
    }

    fn log_range(&mut self, low: f64, high: f64) -> f64 {
        (low.ln() + (high.ln() - low.ln()) * self.next()).exp()
    }
}

/// One cluster: `nodes` nodes of `--node-cpu` cores (16) and 4 GiB per core; workloads whose per-replica CPU
/// follows one of the real shapes, rescaled to a drawn mean, shifted by up to 3 hours,
/// with ±10 % noise; requests between a third and three times the mean use; PDBs,
/// daily rollouts, batch CronJobs and two HPA workloads.
fn trace_yaml(shapes: &[PathBuf], seed: u64, args: &Args) -> String {
    let (nodes, pods, days, cpu) = (args.nodes, args.pods, args.days, args.node_cpu);
    let mut draw = Draw(seed.wrapping_mul(7919));
    let mut yaml = String::new();
    let _ = writeln!(yaml, "duration: {days}d\nstep: 1m\nseed: {seed}");
    let _ = writeln!(
        yaml,
        "nodes:\n  - {{name: node, count: {nodes}, cpu: \"{cpu}\", memory: {}Gi, pods: 110}}\nworkloads:",
        cpu * 4
    );
    let mut placed = 0;
    let mut w = 0;
    while placed < pods {
        let shape = &shapes[w % shapes.len()];
        let replicas = (draw.range(2.0, 12.0) as usize).min(pods - placed).max(1);
        let mean = draw.log_range(0.1, 1.0);
        let request = (mean * draw.log_range(0.5, 4.0) * 1000.0).round().max(50.0);
        let memory = draw.log_range(0.25, 4.0);
        let shift = draw.range(0.0, 180.0) as u64;
        let namespace = ["shop", "search", "payments", "data", "ml"][w % 5];
        let _ = writeln!(
            yaml,
            "  - namespace: {namespace}\n    name: svc-{w}\n    replicas: {replicas}"
        );
        let _ = writeln!(
            yaml,
            "    requests: {{cpu: {request}m, memory: {:.0}Mi}}",
            memory * 1024.0 * 1.2
        );
        let _ = writeln!(
            yaml,
            "    usage:\n      cpu: {{csv: {}, mean: {:.0}m, shift: {shift}m, jitter: 0.1}}\n      memory: {:.0}Mi",
            shape.display(),
            mean * 1000.0,
            memory * 1024.0
        );
        if replicas >= 3 && draw.next() < 0.7 {
            let _ = writeln!(yaml, "    pdb: {{maxUnavailable: 1}}");
        }
        if draw.next() < 0.4 {
            let _ = writeln!(yaml, "    restart_every: {}h", [24, 48, 72][w % 3]);
        }
        if w < 2 {
            let _ = writeln!(
                yaml,
                "    hpa: {{min: {}, max: {}, target_cpu_utilization: 70}}",
                replicas.div_ceil(2),
                replicas * 3
            );
        }
        placed += replicas;
        w += 1;
    }
    for b in 0..(pods / 200).max(1) {
        let _ = writeln!(
            yaml,
            "  - {{namespace: batch, name: job-{b}, kind: CronJob, schedule_every: {}h, run_for: {}m, replicas: 4, requests: {{cpu: 1, memory: 1Gi}}, usage: {{cpu: 900m, memory: 800Mi}}}}",
            [1, 2, 4][b % 3],
            [20, 40, 30][b % 3]
        );
    }
    yaml
}

fn main() -> Result<(), String> {
    let args = parse_args()?;
    let mut shapes: Vec<PathBuf> = std::fs::read_dir(&args.shapes)
        .map_err(|e| format!("{}: {e}", args.shapes.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .map(|p| p.canonicalize().unwrap_or(p))
        .collect();
    shapes.sort();
    if shapes.is_empty() {
        return Err(format!("no .csv files in {}", args.shapes.display()));
    }
    let mut summary = String::new();
    for &seed in &args.seeds {
        let yaml = trace_yaml(&shapes, seed, &args);
        if let Some(dir) = &args.keep {
            let path = dir.join(format!("seed-{seed}.yaml"));
            std::fs::write(&path, &yaml).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let started = Instant::now();
        let trace = trace::parse(&yaml, Path::new("/")).map_err(|e| e.to_string())?;
        let parse_seconds = started.elapsed().as_secs_f64();
        let has_hpa = trace.workloads.iter().any(|w| w.hpa.is_some());
        let policies = if args.policies.is_empty() {
            Policy::defaults(has_hpa)
        } else {
            args.policies.clone()
        };
        let source = format!("crane shapes, seed {seed}");
        let report = simulate(
            &trace,
            &source,
            &policies,
            &Options::default(),
            &|_, _, _| {},
        );
        println!("{}", report::table(&report));
        eprintln!("trace built in {parse_seconds:.1} s");
        let base = report.policies.first().map_or(0.0, |p| p.hot_node_minutes);
        for p in &report.policies {
            let change = if base > 0.0 {
                format!("{:+.0}%", (p.hot_node_minutes / base - 1.0) * 100.0)
            } else {
                "—".to_string()
            };
            let _ = writeln!(
                summary,
                "| {seed} | {} | {:.0} | {change} | {} | {:.0} | {:.0} | {:.1} |",
                p.policy,
                p.hot_node_minutes,
                p.evictions,
                p.pending_pod_minutes,
                p.underprovisioned_minutes,
                p.wall_seconds
            );
        }
    }
    println!(
        "| seed | policy | hot node-min | vs first | evictions | pending pod-min | under-prov. min | wall s |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    print!("{summary}");
    Ok(())
}
