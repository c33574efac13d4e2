//! Built-in scenarios: generated traces, so `tidal simulate --scenario NAME` needs no
//! file. Each is deterministic from its seed: the curves' peak hours (±45 min),
//! swings, noise and spikes move with it, and so do `batch-churn`'s CronJobs; the
//! cluster and the services' sizes do not.
//!
//! The clusters are 36 nodes of 16 cores, 64Gi and 110 pods. In `diurnal` and `week`,
//! requests fill about two thirds of the CPU, so a scheduler placing by requests
//! spreads evenly and hot nodes come from usage: some workloads use well above their
//! requests at their peak, others 3 to 5 times less than they request, and their peaks
//! fall at different hours. `batch-churn` and `hpa` leave room for their CronJobs and
//! autoscaled workloads. Usage curves are sums of daily harmonics with correlated
//! noise and a few spikes, materialized per step over the whole duration.

use std::collections::BTreeMap;
use std::f64::consts::TAU;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tidal_core::resources::{PodLimits, Resources};

use crate::trace::Kind::{CronJob, DaemonSet, Deployment, StatefulSet};
use crate::trace::{Amount, Cron, HpaSpec, Kind, NodeSpec, Pdb, Shape, Trace, WorkloadSpec};

/// The scenario `tidal simulate` replays when given neither a trace nor a scenario.
pub const DEFAULT: &str = "diurnal";

const SCENARIOS: &[(&str, &str)] = &[
    (
        "diurnal",
        "3 days of web services with daily peaks at different hours, under- and \
         over-requested workloads, PDBs, daily restarts, a batch CronJob, a DaemonSet \
         and two HPAs",
    ),
    ("week", "the diurnal mix over 7 days, with quieter weekends"),
    (
        "batch-churn",
        "3 days of steady services beside a dozen CronJobs every 30m-2h running 10-40 min",
    ),
    (
        "mixed",
        "3 days of 90 mid-size services with drawn sizes, peak hours and request accuracy \
         (from half to three times their use), PDBs and rollouts",
    ),
    (
        "hpa",
        "7 days of four HPA workloads with strong daily peaks beside steady services \
         (history for the predictor: compare hpa with hpa+predict)",
    ),
];

/// The built-in scenarios: (name, one-line description).
pub fn names() -> &'static [(&'static str, &'static str)] {
    SCENARIOS
}

/// The scenario `name`, generated from `seed`.
pub fn build(name: &str, seed: u64) -> Result<Trace, String> {
    let trace = match name {
        "diurnal" => diurnal(seed, 3, false),
        "week" => diurnal(seed, 7, true),
        "batch-churn" => batch_churn(seed),
        "mixed" => mixed(seed),
        "hpa" => hpa(seed),
        _ => {
            let known: Vec<&str> = SCENARIOS.iter().map(|&(name, _)| name).collect();
            return Err(format!(
                "unknown scenario {name:?}; the scenarios are: {}",
                known.join(", ")
            ));
        }
    };
    Ok(trace)
}

const STEP: Duration = Duration::from_secs(60);
const STEPS_PER_HOUR: usize = 60;
const STEPS_PER_DAY: usize = 24 * STEPS_PER_HOUR;
const NODES: usize = 36;
const MI: i64 = 1 << 20;
const GI: i64 = 1 << 30;

fn nodes() -> Vec<NodeSpec> {
    let zones = ["zone-a", "zone-b", "zone-c"];
    (1..=NODES)
        .map(|i| {
            let name = format!("node-{i}");
            let labels = BTreeMap::from([
                ("kubernetes.io/hostname".to_owned(), name.clone()),
                (
                    "topology.kubernetes.io/zone".to_owned(),
                    zones[(i - 1) % zones.len()].to_owned(),
                ),
            ]);
            NodeSpec {
                name,
                allocatable: Resources {
                    cpu_milli: 16_000,
                    memory_bytes: 64 * GI,
                },
                max_pods: 110,
                labels,
                taints: Vec::new(),
            }
        })
        .collect()
}

fn trace(seed: u64, days: usize, workloads: Vec<WorkloadSpec>) -> Trace {
    Trace {
        step: STEP,
        steps: days * STEPS_PER_DAY,
        seed,
        nodes: nodes(),
        workloads,
        placement: None,
    }
}

/// How a service's CPU moves over the day.
#[derive(Clone, Copy)]
struct Daily {
    /// Cores per replica, averaged over a weekday.
    mean: f64,
    /// Hour of the daily peak (moved by up to ±45 min by the seed).
    peak_hour: f64,
    /// Peak over mean, minus one: 0.8 peaks at 1.8 × the mean (±15 % by the seed).
    swing: f64,
    /// Short bursts over the whole duration.
    spikes: usize,
}

/// Curves from one seeded generator, per step over the whole duration.
struct Generator {
    rng: StdRng,
    steps: usize,
    /// Weekend level relative to weekdays, when the curves have a weekly cycle.
    weekend: Option<f64>,
}

impl Generator {
    fn new(seed: u64, days: usize, weekend: Option<f64>) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            steps: days * STEPS_PER_DAY,
            weekend,
        }
    }

    /// A daily curve (a sum of three harmonics scaled to `mean`), times the weekly
    /// cycle, with correlated noise and spikes.
    fn curve(&mut self, daily: Daily) -> Vec<f64> {
        let rng = &mut self.rng;
        let peak = daily.peak_hour + rng.random_range(-0.75..0.75);
        let swing = (daily.swing * rng.random_range(0.85..1.15)).min(0.95);
        let (a2, p2) = (rng.random_range(0.1..0.35), rng.random_range(-1.0..1.0));
        let (a3, p3) = (rng.random_range(0.0..0.12), rng.random_range(0.0..TAU));
        let harmonics = |hour: f64| {
            let x = TAU * (hour - peak) / 24.0;
            x.cos() + a2 * (2.0 * x + p2).cos() + a3 * (3.0 * x + p3).cos()
        };
        // Normalized to [-1, 1] over a day, so the daily mean stays `mean`.
        let extent = (0..STEPS_PER_DAY)
            .map(|s| harmonics(s as f64 / STEPS_PER_HOUR as f64).abs())
            .fold(f64::EPSILON, f64::max);
        let weekly = self.weekly();
        let rng = &mut self.rng;
        let noise_level = rng.random_range(0.03..0.07);
        let rho: f64 = 0.97;
        let innovation = noise_level * (1.0 - rho * rho).sqrt() * 3f64.sqrt();
        let mut noise = 0.0;
        let mut values: Vec<f64> = (0..self.steps)
            .map(|s| {
                let hour = (s % STEPS_PER_DAY) as f64 / STEPS_PER_HOUR as f64;
                noise = rho * noise + innovation * rng.random_range(-1.0..1.0);
                let level = 1.0 + swing * harmonics(hour) / extent;
                daily.mean * level * weekly[s] * (1.0 + noise)
            })
            .collect();
        for _ in 0..daily.spikes {
            let start = rng.random_range(0..self.steps);
            let length = rng.random_range(10..40);
            let height = rng.random_range(0.5..1.5);
            for k in 0..length {
                if let Some(v) = values.get_mut(start + k) {
                    *v *= 1.0 + height * (std::f64::consts::PI * k as f64 / length as f64).sin();
                }
            }
        }
        let floor = daily.mean * 0.05;
        values.iter_mut().for_each(|v| *v = v.max(floor));
        values
    }

    /// Per-step weekly factor: 1 on weekdays, the weekend level on days 5 and 6 (the
    /// trace starts on a Monday), eased over 4 hours around midnight.
    fn weekly(&self) -> Vec<f64> {
        let Some(weekend) = self.weekend else {
            return vec![1.0; self.steps];
        };
        let raw: Vec<f64> = (0..self.steps)
            .map(|s| {
                if (s / STEPS_PER_DAY) % 7 >= 5 {
                    weekend
                } else {
                    1.0
                }
            })
            .collect();
        let half = 2 * STEPS_PER_HOUR;
        let mut prefix = vec![0.0; raw.len() + 1];
        for (i, v) in raw.iter().enumerate() {
            prefix[i + 1] = prefix[i] + v;
        }
        (0..raw.len())
            .map(|i| {
                let (lo, hi) = (i.saturating_sub(half), (i + half).min(raw.len()));
                (prefix[hi] - prefix[lo]) / (hi - lo) as f64
            })
            .collect()
    }

    /// CPU, and memory that follows it a little (caches and buffers grow with traffic):
    /// `memory` bytes at the CPU mean, ±10 % with the load.
    fn cpu_and_memory(&mut self, daily: Daily, jitter: f64, memory: i64) -> (Shape, Shape) {
        let values = self.curve(daily);
        let memory_values = values
            .iter()
            .map(|&v| (memory as f64 * (0.9 + 0.1 * v / daily.mean)) as f32)
            .collect();
        (
            Shape::new(values.into_iter().map(|v| v as f32).collect(), jitter),
            Shape::new(memory_values, 0.02),
        )
    }
}

/// A workload with the usual defaults: no PDB, restarts, HPA, schedule or limits.
fn workload(
    namespace: &str,
    name: &str,
    kind: Kind,
    replicas: u32,
    requests: (i64, i64),
    (cpu, memory): (Shape, Shape),
) -> WorkloadSpec {
    WorkloadSpec {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        kind,
        replicas,
        priority: 0,
        requests: Resources {
            cpu_milli: requests.0,
            memory_bytes: requests.1,
        },
        limits: PodLimits::default(),
        cpu,
        memory,
        pdb: None,
        restart_every: None,
        hpa: None,
        cron: None,
        node_selector: BTreeMap::new(),
        tolerations: Vec::new(),
    }
}

fn constant(value: f64, jitter: f64) -> Shape {
    Shape::new(vec![value as f32], jitter)
}

/// One service of a mix: where it runs, its size and how it is used.
#[derive(Clone, Copy)]
struct Service {
    namespace: &'static str,
    name: &'static str,
    kind: Kind,
    replicas: u32,
    /// CPU request per replica, in milli-cores.
    cpu_milli: i64,
    /// Memory request per replica, in MiB.
    memory_mi: i64,
    usage: Daily,
    jitter: f64,
    /// Memory used per replica at the CPU mean, in MiB.
    used_mi: i64,
}

/// A [`Service`] as a table row: namespace, name, kind, replicas, requests (milli-cores,
/// MiB), usage (mean cores, peak hour, swing, spikes), jitter, memory used (MiB).
#[allow(clippy::too_many_arguments)]
const fn row(
    namespace: &'static str,
    name: &'static str,
    kind: Kind,
    replicas: u32,
    cpu_milli: i64,
    memory_mi: i64,
    mean: f64,
    peak_hour: f64,
    swing: f64,
    spikes: usize,
    jitter: f64,
    used_mi: i64,
) -> Service {
    Service {
        namespace,
        name,
        kind,
        replicas,
        cpu_milli,
        memory_mi,
        usage: Daily {
            mean,
            peak_hour,
            swing,
            spikes,
        },
        jitter,
        used_mi,
    }
}

fn services(rows: &[Service], generator: &mut Generator) -> Vec<WorkloadSpec> {
    rows.iter()
        .map(|s| {
            let usage = generator.cpu_and_memory(s.usage, s.jitter, s.used_mi * MI);
            let requests = (s.cpu_milli, s.memory_mi * MI);
            workload(s.namespace, s.name, s.kind, s.replicas, requests, usage)
        })
        .collect()
}

/// The trace of `workloads` plus a node agent and a report CronJob every 2 hours.
fn with_node_agent_and_report(seed: u64, days: usize, mut workloads: Vec<WorkloadSpec>) -> Trace {
    workloads.push(node_agent());
    workloads.push(cronjob(
        ("batch", "report"),
        12,
        (2000, 4 * GI),
        (1.7, 3.0 * GI as f64),
        (2 * STEPS_PER_HOUR, 30),
    ));
    trace(seed, days, workloads)
}

/// A small agent on every node.
fn node_agent() -> WorkloadSpec {
    let usage = (constant(0.06, 0.2), constant(150.0 * MI as f64, 0.02));
    workload(
        "platform",
        "node-agent",
        DaemonSet,
        NODES as u32,
        (100, 200 * MI),
        usage,
    )
}

/// A CronJob of `pods` pods requesting `requests` and using `used` (cores, bytes), run
/// every `every` minutes for `run_for`.
fn cronjob(
    (namespace, name): (&str, &str),
    pods: u32,
    requests: (i64, i64),
    used: (f64, f64),
    (every, run_for): (usize, usize),
) -> WorkloadSpec {
    let usage = (constant(used.0, 0.15), constant(used.1, 0.05));
    let mut job = workload(namespace, name, CronJob, pods, requests, usage);
    job.cron = Some(Cron { every, run_for });
    job
}

fn max_unavailable(count: u32) -> Option<Pdb> {
    Some(Pdb::MaxUnavailable(Amount::Count(count)))
}

fn min_available(amount: Amount) -> Option<Pdb> {
    Some(Pdb::MinAvailable(amount))
}

fn autoscaled(min: u32, max: u32, target_cpu_utilization: f64) -> Option<HpaSpec> {
    Some(HpaSpec {
        min,
        max,
        target_cpu_utilization,
    })
}

/// The web mix of `diurnal` and `week`: 383 cores requested of 576 (66 %) by the
/// services, 388 with the DaemonSet, 412 (72 %) while the report CronJob runs. The
/// first five run at one to three times their request at their peak.
#[rustfmt::skip]
const WEB: &[Service] = &[
    //  namespace        name              kind         rep  cpu m  mem Mi  mean  peak  swing spk jitter used Mi
    // Under-requested at their peak: the pods that make nodes hot.
    row("shop",          "frontend",       Deployment,   36,  500,  2048, 0.75, 20.0, 0.80, 2, 0.10,  1536),
    row("shop",          "api",            Deployment,   40, 1000,  4096, 1.50, 14.0, 0.75, 3, 0.10,  3072),
    row("search",        "query",          Deployment,   28, 1200,  8192, 1.90, 11.0, 0.70, 2, 0.12,  9216),
    row("platform",      "ingress",        Deployment,   12, 1000,  2048, 1.40, 20.5, 0.75, 1, 0.08,  1024),
    row("shop",          "search-suggest", Deployment,   14,  500,  1024, 0.90, 19.5, 0.80, 0, 0.10,   700),
    row("analytics",     "warehouse-sync", StatefulSet,   6, 4000,  8192, 2.20,  2.0, 0.50, 0, 0.05,  6144),
    // Sized about right.
    row("shop",          "cart",           Deployment,   16,  500,  1024, 0.35, 19.0, 0.70, 0, 0.10,   700),
    row("auth",          "sessions",       Deployment,   10, 1000,  2048, 0.50,  9.0, 0.60, 0, 0.10,  1536),
    row("platform",      "metrics",        StatefulSet,   3, 2000,  8192, 1.20, 12.0, 0.20, 0, 0.05,  6144),
    // Over-requested, 3 to 5 times their usage: room the request-based view wastes.
    row("search",        "indexer",        StatefulSet,   8, 4000, 16384, 0.90,  3.0, 0.40, 0, 0.10, 10240),
    row("payments",      "gateway",        Deployment,   16, 2000,  2048, 0.50, 13.0, 0.60, 0, 0.10,  1200),
    row("payments",      "ledger",         StatefulSet,   6, 3000, 12288, 0.60, 13.5, 0.30, 0, 0.05,  8192),
    row("media",         "transcoder",     Deployment,   24, 3000,  6144, 1.00, 21.0, 0.50, 0, 0.15,  4096),
    row("analytics",     "dashboard",      Deployment,   16, 1500,  3072, 0.30, 10.0, 0.50, 0, 0.10,  1536),
    row("notifications", "mailer",         Deployment,    8, 1000,  1024, 0.25,  9.0, 0.60, 0, 0.10,   500),
    // Scaled by an HPA (set below).
    row("shop",          "recommender",    Deployment,   14, 2000,  6144, 1.10, 20.0, 0.80, 0, 0.10,  5120),
    row("media",         "thumbs",         Deployment,   10, 1000,  1024, 0.70, 18.0, 0.90, 0, 0.10,   800),
];

fn diurnal(seed: u64, days: usize, weekly: bool) -> Trace {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5EED);
    let weekend = weekly.then(|| rng.random_range(0.55..0.7));
    let mut generator = Generator::new(seed, days, weekend);
    let mut workloads = services(WEB, &mut generator);
    for w in &mut workloads {
        match w.name.as_str() {
            "frontend" | "ingress" => {
                w.pdb = max_unavailable(1);
                w.restart_every = Some(STEPS_PER_DAY);
            }
            "api" => {
                w.pdb = min_available(Amount::Percent(75));
                w.restart_every = Some(STEPS_PER_DAY);
                w.limits.cpu_milli = Some(4000);
            }
            "query" => {
                w.priority = 1000;
                w.pdb = max_unavailable(1);
            }
            "sessions" | "indexer" => w.pdb = max_unavailable(1),
            "gateway" => w.pdb = min_available(Amount::Count(12)),
            "ledger" => w.pdb = min_available(Amount::Count(5)),
            "recommender" => w.hpa = autoscaled(6, 36, 0.65),
            "thumbs" => {
                w.hpa = autoscaled(4, 30, 0.7);
                w.pdb = Some(Pdb::MaxUnavailable(Amount::Percent(25)));
            }
            _ => {}
        }
    }
    with_node_agent_and_report(seed, days, workloads)
}

/// Steady services of `batch-churn`: 334 cores requested (58 %), 339 with the
/// DaemonSet, with smaller daily swings than the web mix.
#[rustfmt::skip]
const STEADY: &[Service] = &[
    //  namespace   name          kind         rep  cpu m  mem Mi  mean  peak  swing spk jitter used Mi
    row("shop",     "frontend",   Deployment,   36, 1000,  2048, 0.60, 20.0, 0.40, 0, 0.10,  1536),
    row("shop",     "api",        Deployment,   44, 2000,  4096, 1.30, 14.0, 0.40, 0, 0.10,  3072),
    row("search",   "query",      Deployment,   24, 2000,  8192, 1.50, 11.0, 0.35, 0, 0.10,  7168),
    row("search",   "indexer",    StatefulSet,   8, 4000, 16384, 1.00,  3.0, 0.30, 0, 0.10, 10240),
    row("payments", "gateway",    Deployment,   16, 2000,  2048, 0.50, 13.0, 0.30, 0, 0.10,  1200),
    row("media",    "transcoder", Deployment,   24, 3000,  6144, 1.00, 21.0, 0.30, 0, 0.15,  4096),
    row("platform", "ingress",    Deployment,   10, 2000,  2048, 1.20, 20.5, 0.40, 0, 0.08,  1024),
    row("platform", "metrics",    StatefulSet,   3, 2000,  8192, 1.20, 12.0, 0.20, 0, 0.05,  6144),
];

/// The CronJobs of `batch-churn`; their periods, run times and sizes come from the seed.
const BATCH_JOBS: [(&str, &str); 12] = [
    ("batch", "etl-orders"),
    ("batch", "report-hourly"),
    ("batch", "invoice-run"),
    ("batch", "export-s3"),
    ("analytics", "rollup"),
    ("analytics", "dedupe"),
    ("analytics", "fraud-scan"),
    ("ml", "features"),
    ("ml", "retrain-small"),
    ("media", "thumbnail-backfill"),
    ("search", "reindex-delta"),
    ("platform", "log-compact"),
];

fn batch_churn(seed: u64) -> Trace {
    let days = 3;
    let mut generator = Generator::new(seed, days, None);
    let mut workloads = services(STEADY, &mut generator);
    for w in workloads.iter_mut().step_by(2) {
        w.pdb = max_unavailable(1);
    }
    workloads.push(node_agent());
    let rng = &mut generator.rng;
    let periods = [30, 45, 60, 90, 120];
    for job in BATCH_JOBS {
        let every = periods[rng.random_range(0..periods.len())];
        let run_for = rng.random_range(10..=40usize).min(every - 5);
        let pods = rng.random_range(6..=20u32);
        let cpu_milli = [500, 1000, 1500, 2000][rng.random_range(0..4usize)];
        let memory = rng.random_range(1..=4i64) * GI;
        // Some use more than they request, most a little less.
        let cpu = cpu_milli as f64 / 1000.0 * rng.random_range(0.5..1.2);
        let used_memory = memory as f64 * rng.random_range(0.5..0.95);
        workloads.push(cronjob(
            job,
            pods,
            (cpu_milli, memory),
            (cpu, used_memory),
            (every, run_for),
        ));
    }
    trace(seed, days, workloads)
}

/// Many mid-size services, each drawn from the seed: replicas, mean use, peak hour and
/// swing of its daily curve, and requests from half to three times its mean use. Unlike
/// the web mix, no tier of dozens of replicas peaks at one hour.
fn mixed(seed: u64) -> Trace {
    let days = 3;
    let mut generator = Generator::new(seed, days, None);
    let mut workloads = Vec::new();
    let namespaces = ["shop", "search", "payments", "media", "analytics", "auth"];
    for i in 0..90 {
        let rng = &mut generator.rng;
        let replicas = rng.random_range(2..=8u32);
        let mean = (rng.random_range(0.15f64.ln()..1.5f64.ln())).exp();
        let daily = Daily {
            mean,
            peak_hour: rng.random_range(8.0..22.0),
            swing: rng.random_range(0.4..1.0),
            spikes: rng.random_range(0..2usize),
        };
        let ratio = (rng.random_range(0.5f64.ln()..3.0f64.ln())).exp();
        let cpu_milli = ((mean * ratio * 1000.0).round() as i64).max(50);
        let used_mi = rng.random_range(256..4096i64);
        let restarts = rng.random_range(0.0..1.0) < 0.4;
        let pdb = replicas >= 3 && rng.random_range(0.0..1.0) < 0.7;
        let usage = generator.cpu_and_memory(daily, 0.1, used_mi * MI);
        let name = format!("svc-{i:02}");
        let namespace = namespaces[i % namespaces.len()];
        let mut w = workload(
            namespace,
            &name,
            Deployment,
            replicas,
            (cpu_milli, used_mi * MI * 5 / 4),
            usage,
        );
        if restarts {
            w.restart_every = Some(STEPS_PER_DAY);
        }
        if pdb {
            w.pdb = max_unavailable(1);
        }
        workloads.push(w);
    }
    with_node_agent_and_report(seed, days, workloads)
}

/// The autoscaled services of `hpa`: strong daily peaks (troughs near a tenth of the
/// peak). Their demand is their replicas at the start × the curve; 104 cores
/// requested at the start.
#[rustfmt::skip]
const SCALED: &[Service] = &[
    //  namespace name          kind        rep  cpu m  mem Mi  mean  peak  swing spk jitter used Mi
    row("shop",   "storefront", Deployment,  20, 1000,  2048, 0.60, 20.0, 0.90, 2, 0.10, 1536),
    row("api",    "gateway",    Deployment,  16, 2000,  3072, 1.10, 13.0, 0.90, 2, 0.10, 2048),
    row("media",  "encoder",    Deployment,  10, 2000,  4096, 1.20, 21.0, 0.95, 0, 0.12, 3072),
    row("search", "query",      Deployment,  16, 2000,  6144, 1.00, 11.0, 0.90, 0, 0.10, 5120),
];

/// (min, max, target CPU utilization) of [`SCALED`], in order.
const SCALED_HPA: [(u32, u32, f64); 4] = [(4, 40, 0.7), (4, 30, 0.6), (2, 24, 0.75), (6, 36, 0.65)];

/// The steady services of `hpa`: 292 cores requested (38 %), 297 with the DaemonSet.
#[rustfmt::skip]
const BACKGROUND: &[Service] = &[
    //  namespace        name          kind         rep  cpu m  mem Mi  mean  peak  swing spk jitter used Mi
    row("search",        "indexer",    StatefulSet,   8, 4000, 16384, 1.20,  3.0, 0.30, 0, 0.10, 10240),
    row("payments",      "ledger",     StatefulSet,   6, 3000, 12288, 0.80, 13.5, 0.20, 0, 0.05,  8192),
    row("shop",          "cart",       Deployment,   24, 1000,  1024, 0.70, 19.0, 0.40, 0, 0.10,   700),
    row("shop",          "catalog",    Deployment,   20, 2000,  4096, 1.40, 15.0, 0.40, 0, 0.10,  3072),
    row("auth",          "sessions",   Deployment,   16, 1000,  2048, 0.50,  9.0, 0.40, 0, 0.10,  1536),
    row("analytics",     "dashboard",  Deployment,   20, 1500,  3072, 0.40, 10.0, 0.50, 0, 0.10,  1536),
    row("media",         "transcoder", Deployment,   28, 3000,  6144, 1.80, 21.0, 0.30, 0, 0.15,  4096),
    row("notifications", "mailer",     Deployment,   10, 1000,  1024, 0.30,  9.0, 0.60, 0, 0.10,   500),
    row("platform",      "metrics",    StatefulSet,   3, 2000,  8192, 1.20, 12.0, 0.20, 0, 0.05,  6144),
    row("platform",      "ingress",    Deployment,   16, 2000,  2048, 1.50, 20.5, 0.60, 0, 0.08,  1024),
];

fn hpa(seed: u64) -> Trace {
    let days = 7;
    let mut generator = Generator::new(seed, days, Some(0.85));
    let mut workloads = services(SCALED, &mut generator);
    for (w, (min, max, target)) in workloads.iter_mut().zip(SCALED_HPA) {
        w.hpa = autoscaled(min, max, target);
        w.pdb = max_unavailable(1);
    }
    let mut background = services(BACKGROUND, &mut generator);
    for w in &mut background {
        if w.kind == StatefulSet {
            w.pdb = max_unavailable(1);
        }
    }
    workloads.extend(background);
    workloads.push(node_agent());
    workloads.push(cronjob(
        ("batch", "report"),
        8,
        (2000, 4 * GI),
        (1.6, 3.0 * GI as f64),
        (4 * STEPS_PER_HOUR, 30),
    ));
    trace(seed, days, workloads)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// CPU requested by the always-running pods, as a fraction of allocatable.
    fn steady_fill(trace: &Trace) -> f64 {
        let allocatable: i64 = trace.nodes.iter().map(|n| n.allocatable.cpu_milli).sum();
        let requested: i64 = trace
            .workloads
            .iter()
            .map(|w| match w.kind {
                Kind::CronJob => 0,
                Kind::DaemonSet => w.requests.cpu_milli * trace.nodes.len() as i64,
                _ => w.requests.cpu_milli * i64::from(w.replicas),
            })
            .sum();
        requested as f64 / allocatable as f64
    }

    /// Mean CPU used over requested, per workload and overall, over the trace.
    fn usage_over_requests(w: &WorkloadSpec, steps: usize) -> f64 {
        w.cpu.mean_over(0, steps) * 1000.0 / w.requests.cpu_milli as f64
    }

    #[test]
    fn every_scenario_builds_and_is_well_formed() {
        for &(name, description) in names() {
            assert!(!description.is_empty());
            let trace = build(name, 1).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(trace.step, STEP);
            assert_eq!(trace.nodes.len(), NODES);
            assert!(trace.placement.is_none());
            let mut seen = HashSet::new();
            for w in &trace.workloads {
                assert!(
                    seen.insert((w.namespace.clone(), w.name.clone())),
                    "{name}: duplicate {}",
                    w.display_name()
                );
                assert_eq!(
                    w.cron.is_some(),
                    w.kind == Kind::CronJob,
                    "{}",
                    w.display_name()
                );
                if let Some(hpa) = w.hpa {
                    assert!(hpa.min <= w.replicas && w.replicas <= hpa.max);
                }
                for step in [0, trace.steps / 2, trace.steps - 1] {
                    assert!(w.cpu.base(step) > 0.0 && w.memory.base(step) > 0.0);
                }
            }
            let pods: u32 = trace.workloads.iter().map(|w| w.replicas).sum();
            assert!((200..=600).contains(&pods), "{name}: {pods} pods");
            let fill = steady_fill(&trace);
            assert!((0.35..=0.75).contains(&fill), "{name}: fill {fill}");
        }
    }

    #[test]
    fn diurnal_fills_two_thirds_and_mixes_request_accuracy() {
        let trace = build(DEFAULT, 3).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(trace.steps, 3 * STEPS_PER_DAY);
        let fill = steady_fill(&trace);
        assert!((0.60..=0.75).contains(&fill), "fill {fill}");
        let ratios: Vec<f64> = trace
            .workloads
            .iter()
            .filter(|w| matches!(w.kind, Kind::Deployment | Kind::StatefulSet))
            .map(|w| usage_over_requests(w, trace.steps))
            .collect();
        assert!(
            ratios.iter().any(|&r| r < 0.34),
            "over-requested: {ratios:?}"
        );
        // Under-requested: the peak goes well above the request.
        let api = trace
            .workloads
            .iter()
            .find(|w| w.name == "api")
            .expect("api");
        let peak = (0..STEPS_PER_DAY)
            .map(|s| api.cpu.base(s))
            .fold(0.0, f64::max);
        assert!(
            peak * 1000.0 > 1.2 * api.requests.cpu_milli as f64,
            "api peak {peak}"
        );
        assert!(trace.workloads.iter().any(|w| w.kind == Kind::DaemonSet));
        assert_eq!(
            trace.workloads.iter().filter(|w| w.hpa.is_some()).count(),
            2
        );
        assert!(
            trace
                .workloads
                .iter()
                .any(|w| w.restart_every == Some(STEPS_PER_DAY))
        );
        assert!(trace.workloads.iter().any(|w| w.priority > 0));
        // Usage peaks at about 60-75 % of the cluster at most: hot nodes come from
        // imbalance, not from a cluster too small.
        let capacity: f64 = trace
            .nodes
            .iter()
            .map(|n| n.allocatable.cpu_milli as f64 / 1000.0)
            .sum();
        let peak_total = (0..STEPS_PER_DAY)
            .step_by(10)
            .map(|s| {
                trace
                    .workloads
                    .iter()
                    .filter(|w| w.kind != Kind::CronJob)
                    .map(|w| w.cpu.base(s) * f64::from(w.replicas))
                    .sum::<f64>()
            })
            .fold(0.0, f64::max);
        assert!(
            peak_total / capacity < 0.75,
            "peak usage {}",
            peak_total / capacity
        );
        assert!(
            peak_total / capacity > 0.4,
            "peak usage {}",
            peak_total / capacity
        );
    }

    #[test]
    fn week_has_quieter_weekends() {
        let trace = build("week", 5).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(trace.steps, 7 * STEPS_PER_DAY);
        let api = trace
            .workloads
            .iter()
            .find(|w| w.name == "api")
            .expect("api");
        let weekday = api.cpu.mean_over(STEPS_PER_DAY, 2 * STEPS_PER_DAY);
        let saturday = api
            .cpu
            .mean_over(5 * STEPS_PER_DAY + 240, 6 * STEPS_PER_DAY - 240);
        assert!(saturday < 0.8 * weekday, "{saturday} vs {weekday}");
    }

    #[test]
    fn batch_churn_has_many_cronjobs() {
        let trace = build("batch-churn", 9).unwrap_or_else(|e| panic!("{e}"));
        let crons: Vec<Cron> = trace.workloads.iter().filter_map(|w| w.cron).collect();
        assert!(crons.len() >= 10);
        for cron in crons {
            assert!((30..=120).contains(&cron.every), "{cron:?}");
            assert!((10..=40).contains(&cron.run_for), "{cron:?}");
            assert!(cron.run_for < cron.every);
        }
    }

    #[test]
    fn hpa_has_strong_daily_peaks_over_a_week() {
        let trace = build("hpa", 2).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(trace.steps, 7 * STEPS_PER_DAY);
        let scaled: Vec<&WorkloadSpec> =
            trace.workloads.iter().filter(|w| w.hpa.is_some()).collect();
        assert_eq!(scaled.len(), 4);
        for w in scaled {
            let day: Vec<f64> = (STEPS_PER_DAY..2 * STEPS_PER_DAY)
                .map(|s| w.cpu.base(s))
                .collect();
            let max = day.iter().copied().fold(0.0, f64::max);
            let min = day.iter().copied().fold(f64::INFINITY, f64::min);
            assert!(max > 4.0 * min, "{}: {min}..{max}", w.display_name());
        }
    }

    #[test]
    fn deterministic_from_the_seed() {
        for &(name, _) in names() {
            let first = |seed| -> Vec<f64> {
                let trace = build(name, seed).unwrap_or_else(|e| panic!("{e}"));
                trace
                    .workloads
                    .iter()
                    .flat_map(|w| {
                        (0..50)
                            .map(|s| w.cpu.base(s) + w.memory.base(s))
                            .collect::<Vec<_>>()
                    })
                    .collect()
            };
            assert_eq!(first(7), first(7), "{name}");
            assert_ne!(first(7), first(8), "{name}");
            assert_eq!(build(name, 7).map(|t| t.seed), Ok(7));
        }
    }

    #[test]
    fn unknown_name_lists_the_scenarios() {
        let err = build("diurnl", 0).err().unwrap_or_default();
        for &(name, _) in names() {
            assert!(err.contains(name), "{err}");
        }
        assert!(names().iter().any(|&(name, _)| name == DEFAULT));
    }
}
