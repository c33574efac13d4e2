//! Pulls a report's inputs from Prometheus (or any store that speaks its query API).
//!
//! [`fetch`] has the store aggregate ([`aggregate`]): per container, sums over the window; per
//! step, totals by cluster, namespace and node; so what crosses the wire grows with containers,
//! not with containers × steps. With `cost.aggregate_in: tidal` it pulls per-step series a day
//! at a time and reduces them itself instead ([`per_day`]). Either way the per-step cores of the
//! top workloads' owners come last ([`top_owners`]). [`per_step`] pulls every container's series
//! at every step: the reference the tests compare the store's arithmetic with. All split the
//! window into parts of at most a day, a few queries in flight, with progress; then instant
//! queries for owners, node labels and limits. Missing series become warnings, never silent
//! zeros.

mod aggregate;
mod per_day;
mod per_step;
pub mod promql;
mod top_owners;

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use indicatif::ProgressBar;
use tidal_core::prometheus::{PrometheusClient, PrometheusError, Series};

pub use per_step::{per_step, per_step_parts};

use self::promql::BY_CONTAINER;
use crate::render::utc;
use crate::summary::{ContainerTotals, StepTotals, Summary, part_steps};
use crate::{AggregateIn, ContainerKey, CostConfig, NodeData, Owners, Timeline, Track};

/// Fetches a report's [`Summary`] over `asked`, or over its part from the first step the
/// database holds data for (a window longer than the retention is clipped before anything is
/// pulled, with a warning), aggregated where `config.aggregate_in` says; `progress` counts
/// queries. Either way, the per-step cores of the top workloads' owners come from the store
/// last.
pub async fn fetch(
    client: &PrometheusClient,
    config: &CostConfig,
    asked: Timeline,
    progress: &ProgressBar,
) -> Result<Summary, PrometheusError> {
    match config.aggregate_in {
        AggregateIn::Store => aggregate::fetch(client, config, asked, progress).await,
        AggregateIn::Tidal => per_day::fetch(client, config, asked, progress).await,
    }
}

/// The series a report reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Metric {
    Running,
    CpuRequest,
    MemoryRequest,
    CpuUsage,
    MemoryUsage,
    MemoryPeak,
    NodeCpu,
    NodeMemory,
}

impl Metric {
    const ALL: [Self; 8] = [
        Self::Running,
        Self::CpuRequest,
        Self::MemoryRequest,
        Self::CpuUsage,
        Self::MemoryUsage,
        Self::MemoryPeak,
        Self::NodeCpu,
        Self::NodeMemory,
    ];

    /// The series behind the query and what its absence costs the reader.
    fn missing(self) -> &'static str {
        match self {
            Self::Running => {
                "kube_pod_container_status_running has no series: containers count as running while they have requests or usage, so completed pods may be over-charged; scrape kube-state-metrics"
            }
            Self::CpuRequest => {
                "kube_pod_container_resource_requests{resource=\"cpu\"} has no series: CPU is charged by usage only and idle cost is overstated; scrape kube-state-metrics"
            }
            Self::MemoryRequest => {
                "kube_pod_container_resource_requests{resource=\"memory\"} has no series: memory is charged by usage only and idle cost is overstated; scrape kube-state-metrics"
            }
            Self::CpuUsage => {
                "container_cpu_usage_seconds_total has no series: CPU is charged by requests only and efficiency is unknown; scrape the kubelet's cAdvisor endpoint"
            }
            Self::MemoryUsage | Self::MemoryPeak => {
                "container_memory_working_set_bytes has no series: memory is charged by requests only and efficiency is unknown; scrape the kubelet's cAdvisor endpoint"
            }
            Self::NodeCpu | Self::NodeMemory => {
                "kube_node_status_capacity has no series: node costs and idle cost are unknown; scrape kube-state-metrics"
            }
        }
    }
}

/// What a fetch gathered over `tl`, before [`Fetched::summarize`] adds the instants and the
/// warnings.
struct Fetched {
    tl: Timeline,
    /// The metrics that had series.
    seen: Vec<Metric>,
    containers: Vec<ContainerTotals>,
    nodes: Vec<NodeData>,
    steps: StepTotals,
}

impl Fetched {
    /// The summary of the containers that ran, with their memory limits and the nodes' labels;
    /// warnings for missing series and owners and for data short of the window `asked`.
    fn summarize(self, asked: Timeline, instants: Instants, queries: usize) -> Summary {
        let Self {
            tl,
            seen,
            containers,
            mut nodes,
            steps,
        } = self;
        let mut warnings = missing_series(&seen);
        warnings.extend(label_nodes(&mut nodes, &instants.node_labels));
        let mut containers: Vec<ContainerTotals> = containers
            .into_iter()
            .filter(|c| c.running_steps > 0.0)
            .collect();
        containers.sort_by(|a, b| a.key.cmp(&b.key));
        for c in &mut containers {
            c.memory_limit = instants.memory_limits.get(&c.key).copied();
        }
        let owners = instants.owners;
        warnings.extend(owner_warnings(&owners, !containers.is_empty()));
        let any_at = |i: usize| {
            nodes.iter().any(|n| !n.cpu_cores[i].is_nan())
                || steps
                    .namespace_charged
                    .values()
                    .any(|(cpu, memory)| !cpu[i].is_nan() || !memory[i].is_nan())
        };
        warnings.extend(coverage(asked, tl, any_at));
        Summary {
            timeline: tl,
            containers,
            nodes,
            steps,
            owners,
            warnings,
            queries,
        }
    }
}

/// Writes a series' points at their steps.
fn write_points(tl: Timeline, s: &Series, track: &mut Track) {
    for &(t, v) in &s.points {
        if let Some(i) = tl.index(t) {
            track[i] = v;
        }
    }
}

/// A warning for each metric not in `seen`.
fn missing_series(seen: &[Metric]) -> Vec<String> {
    let mut warnings: Vec<String> = Vec::new();
    for metric in Metric::ALL {
        let text = metric.missing().to_string();
        if !seen.contains(&metric) && !warnings.contains(&text) {
            warnings.push(text);
        }
    }
    warnings
}

/// Gives nodes their `kube_node_labels`; a warning names those without.
fn label_nodes(
    nodes: &mut [NodeData],
    labels: &BTreeMap<String, BTreeMap<String, String>>,
) -> Option<String> {
    let mut unlabelled = Vec::new();
    for node in nodes {
        node.labels = labels.get(&node.name).cloned();
        if node.labels.is_none() {
            unlabelled.push(node.name.clone());
        }
    }
    (!unlabelled.is_empty()).then(|| format!(
        "{} nodes have no kube_node_labels series ({}): priced as on-demand at the default per-resource prices; scrape kube-state-metrics",
        unlabelled.len(),
        unlabelled.join(", ")
    ))
}

/// Warnings for owner series kube-state-metrics did not send.
fn owner_warnings(owners: &Owners, any_container: bool) -> Vec<String> {
    let mut warnings = Vec::new();
    if owners.pods.is_empty() && any_container {
        warnings.push("kube_pod_owner has no series: every pod is its own workload; scrape kube-state-metrics".to_string());
    }
    // Pods owned through an intermediate object whose owners kube-state-metrics did not send.
    for (kind, parents, text) in [
        (
            "ReplicaSet",
            &owners.replica_sets,
            "kube_replicaset_owner has no series: Deployments show as their ReplicaSets; scrape kube-state-metrics",
        ),
        (
            "Job",
            &owners.jobs,
            "kube_job_owner has no series: CronJob runs show as separate Jobs; scrape kube-state-metrics",
        ),
    ] {
        if parents.is_empty() && owners.pods.values().any(|(k, _)| k == kind) {
            warnings.push(text.to_string());
        }
    }
    warnings
}

/// The report's timeline: `window` up to `end`, both aligned to whole steps so reruns agree.
pub fn timeline(end: SystemTime, config: &CostConfig) -> Timeline {
    let step = config.resolution.as_secs().max(1);
    let end = end.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let end = end - end % step;
    // A window reaching back before 1970 (`--window 1000y`) starts there; fetching clips it
    // further to what Prometheus holds.
    let steps = (config.window.as_secs() / step).clamp(1, (end / step).max(1)) as usize;
    Timeline {
        start: (end - steps as u64 * step) as f64,
        step_secs: step as f64,
        steps,
    }
}

/// Where data starts, to a step: bisection over instant queries for node capacity in the day
/// before each probe (so gaps shorter than a day do not mislead it). Returns `tl` from that
/// step on, and the queries sent; `tl` unchanged when data covers its start or is absent.
async fn clip_to_data(
    client: &PrometheusClient,
    tl: Timeline,
    progress: &ProgressBar,
) -> Result<(Timeline, usize), PrometheusError> {
    progress.set_message("finding where the data starts");
    let clipped = clip(client, tl).await;
    progress.set_message("");
    clipped
}

async fn clip(
    client: &PrometheusClient,
    tl: Timeline,
) -> Result<(Timeline, usize), PrometheusError> {
    const PROBE: &str = r#"count(last_over_time(kube_node_status_capacity{resource="cpu"}[1d]))"#;
    let mut queries = 0;
    let mut has_data = async |i: usize| -> Result<bool, PrometheusError> {
        queries += 1;
        let at = crate::prometheus_time(tl.time(i));
        Ok(!client.query(PROBE, Some(at)).await?.is_empty())
    };
    let last = tl.steps.saturating_sub(1);
    if tl.steps < 2 || has_data(0).await? || !has_data(last).await? {
        return Ok((tl, queries));
    }
    // Invariant: no data at `lo`, data at `hi`.
    let (mut lo, mut hi) = (0, last);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if has_data(mid).await? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    // Point `hi` (the first with data) becomes point 0.
    let clipped = Timeline {
        start: tl.time(lo),
        step_secs: tl.step_secs,
        steps: tl.steps - hi,
    };
    Ok((clipped, queries))
}

/// A warning when the data starts after the window asked does (or stops before it ends).
fn coverage(asked: Timeline, tl: Timeline, any_at: impl Fn(usize) -> bool) -> Option<String> {
    let first = (0..tl.steps).find(|&i| any_at(i))?;
    let last = (0..tl.steps).rev().find(|&i| any_at(i))?;
    let (from, to) = (tl.time(first) - tl.step_secs, tl.time(last));
    if from <= asked.start && to >= asked.end() {
        return None;
    }
    Some(format!(
        "the window asked is {} ({} to {}) but data covers only {:.1} h ({} to {}): costs are for the covered part; shorten --window or check Prometheus retention",
        asked_span(asked),
        utc(asked.start),
        utc(asked.end()),
        (to - from) / 3600.0,
        utc(from),
        utc(to),
    ))
}

/// `36.0 h`, or days for a long window.
fn asked_span(tl: Timeline) -> String {
    let hours = tl.hours();
    if hours > 72.0 {
        format!("{:.0} days", hours / 24.0)
    } else {
        format!("{hours:.1} h")
    }
}

/// Whether kube-state-metrics' running status exists in the window.
pub async fn has_running_metric(
    client: &PrometheusClient,
    tl: Timeline,
) -> Result<bool, PrometheusError> {
    let w = window_secs(tl);
    let q = format!("count(last_over_time(kube_pod_container_status_running[{w}s]))");
    let at = crate::prometheus_time(tl.end());
    Ok(!client.query(&q, Some(at)).await?.is_empty())
}

/// The window's length in whole seconds, for range selectors over all of it.
fn window_secs(tl: Timeline) -> u64 {
    (tl.end() - tl.start) as u64
}

/// The last value of `metric{resource, unit}` per container over the window ending at `tl`'s
/// end, from one instant query: a container's requests or limits as last reported.
async fn last_per_container(
    client: &PrometheusClient,
    tl: Timeline,
    metric: &str,
    (resource, unit): (&str, &str),
) -> Result<HashMap<ContainerKey, f64>, PrometheusError> {
    let q = format!(
        r#"max by ({BY_CONTAINER}) (last_over_time({metric}{{resource="{resource}",unit="{unit}"}}[{w}s]))"#,
        w = window_secs(tl)
    );
    let at = Some(crate::prometheus_time(tl.end()));
    Ok(client
        .query(&q, at)
        .await?
        .into_iter()
        .filter(|s| s.value.is_finite())
        .map(|s| (ContainerKey::from_labels(&s.labels), s.value))
        .collect())
}

/// What instant queries over the window, at its end, tell: owners, node labels, memory limits.
pub struct Instants {
    pub owners: Owners,
    /// `kube_node_labels`' labels, by node.
    pub node_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// Memory limits as last reported, by container (only those above 0).
    pub memory_limits: HashMap<ContainerKey, f64>,
}

impl Instants {
    /// The queries [`Instants::fetch`] sends.
    pub const COUNT: usize = 5;

    /// Sends [`Instants::COUNT`] queries, each counted on `progress`.
    pub async fn fetch(
        client: &PrometheusClient,
        tl: Timeline,
        progress: &ProgressBar,
    ) -> Result<Self, PrometheusError> {
        let at = Some(crate::prometheus_time(tl.end()));
        let w = window_secs(tl);
        let query = |q: String| async move {
            let r = client.query(&q, at).await;
            progress.inc(1);
            r
        };
        let owner = |metric: &str, object: &str, filter: &str| {
            format!(
                "max by (namespace, {object}, owner_kind, owner_name) (last_over_time({metric}{{{filter}}}[{w}s]))"
            )
        };
        let (pods, rs, jobs, labels, limits) = futures::join!(
            query(owner(
                "kube_pod_owner",
                "pod",
                r#"owner_is_controller!="false""#
            )),
            query(owner("kube_replicaset_owner", "replicaset", "")),
            query(owner("kube_job_owner", "job_name", "")),
            query(format!("last_over_time(kube_node_labels[{w}s])")),
            async {
                let limits = last_per_container(client, tl, LIMITS, MEMORY).await;
                progress.inc(1);
                limits
            },
        );
        let owners_of = |samples: Vec<tidal_core::prometheus::Sample>, object: &str| {
            samples
                .into_iter()
                .map(|s| {
                    let l = |n: &str| s.labels.get(n).cloned().unwrap_or_default();
                    (
                        (l("namespace"), l(object)),
                        (l("owner_kind"), l("owner_name")),
                    )
                })
                .collect::<BTreeMap<_, _>>()
        };
        let owners = Owners {
            pods: owners_of(pods?, "pod"),
            replica_sets: owners_of(rs?, "replicaset"),
            jobs: owners_of(jobs?, "job_name"),
        };
        let mut node_labels = BTreeMap::new();
        for s in labels? {
            if let Some(node) = s.labels.get("node").cloned() {
                node_labels.insert(node, s.labels);
            }
        }
        let mut memory_limits = limits?;
        memory_limits.retain(|_, limit| *limit > 0.0);
        Ok(Self {
            owners,
            node_labels,
            memory_limits,
        })
    }
}

const REQUESTS: &str = "kube_pod_container_resource_requests";
const LIMITS: &str = "kube_pod_container_resource_limits";
const CPU: (&str, &str) = ("cpu", "core");
const MEMORY: (&str, &str) = ("memory", "byte");

/// A progress bar on stderr counting queries; invisible when stderr is not a terminal.
pub fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} querying Prometheus {pos}/{len} [{elapsed_precise}, ~{eta} left]",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Turns a CPU counter sampled per step into cores per step, as [`promql::Exprs::cpu_usage`]
/// does: the increase since the previous step over the step. A step without a previous value
/// (the container's first, after a gap, the window's first without `before`) or where the
/// counter went down (a restart) is unknown: counting from zero there would read a scrape gap
/// as a spike of the container's whole lifetime.
pub fn counter_rates(track: &mut [f64], before: Option<f64>, step_secs: f64) {
    let mut previous = before.unwrap_or(f64::NAN);
    for slot in track {
        let counter = *slot;
        let increase = counter - previous;
        *slot = if increase >= 0.0 {
            increase / step_secs
        } else {
            f64::NAN
        };
        previous = counter;
    }
}
