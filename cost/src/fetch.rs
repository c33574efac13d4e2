//! Pulls a report's inputs from Prometheus: range queries at the report's resolution, chunked
//! by day (and under Prometheus's 11,000 points per series), a few in flight at once, with
//! progress; then instant queries for owners, node labels and limits. Missing series become
//! warnings, never silent zeros.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt as _;
use indicatif::ProgressBar;
use tidal_core::prometheus::{PrometheusClient, PrometheusError, Series};

use crate::render::utc;
use crate::{ContainerData, ContainerKey, CostConfig, Dataset, NodeData, Owners, Timeline};

/// Prometheus refuses more than 11,000 points per series in one range query.
const MAX_POINTS_PER_QUERY: usize = 10_000;
/// Smaller chunks keep each answer (and the progress steps) small on long windows.
const CHUNK: Duration = Duration::from_secs(24 * 3600);

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

    /// The PromQL for steps of `step` seconds.
    fn promql(self, step: u64) -> String {
        // One millisecond short of the step: Prometheus 2's range selectors include their
        // left end, which would count a sample on a step boundary in two steps.
        let step = format!("{}ms", step * 1000 - 1);
        let by_container = "namespace, pod, container";
        let cadvisor = r#"container!="",container!="POD",pod!="""#;
        match self {
            Self::Running => format!(
                "max by ({by_container}) (max_over_time(kube_pod_container_status_running[{step}]))"
            ),
            Self::CpuRequest | Self::MemoryRequest => {
                let (resource, unit) = if self == Self::CpuRequest {
                    ("cpu", "core")
                } else {
                    ("memory", "byte")
                };
                format!(
                    r#"max by ({by_container}, node) (avg_over_time(kube_pod_container_resource_requests{{resource="{resource}",unit="{unit}"}}[{step}]))"#
                )
            }
            // The counter itself, differenced per step in `counter_rates`: `rate()` over a
            // window only partly covered by samples (a container's first minutes) reads low.
            Self::CpuUsage => format!(
                "max by ({by_container}, node) (last_over_time(container_cpu_usage_seconds_total{{{cadvisor}}}[{step}]))"
            ),
            Self::MemoryUsage | Self::MemoryPeak => {
                let f = if self == Self::MemoryUsage {
                    "avg_over_time"
                } else {
                    "max_over_time"
                };
                format!(
                    "sum by ({by_container}, node) ({f}(container_memory_working_set_bytes{{{cadvisor}}}[{step}]))"
                )
            }
            Self::NodeCpu | Self::NodeMemory => {
                let (resource, unit) = if self == Self::NodeCpu {
                    ("cpu", "core")
                } else {
                    ("memory", "byte")
                };
                format!(
                    r#"max by (node) (avg_over_time(kube_node_status_capacity{{resource="{resource}",unit="{unit}"}}[{step}]))"#
                )
            }
        }
    }

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

/// One range query: a metric over the steps `first..first + len`.
struct Chunk {
    metric: Metric,
    first: usize,
    len: usize,
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

/// Fetches everything for a report over `asked`, or over its part from the first step
/// Prometheus holds data for (a window longer than the retention is clipped before anything is
/// pulled, with a warning); `progress` counts queries.
pub async fn fetch(
    client: &PrometheusClient,
    config: &CostConfig,
    asked: Timeline,
    progress: &ProgressBar,
) -> Result<Dataset, PrometheusError> {
    progress.set_message("finding where the data starts");
    let (tl, probes) = clip_to_data(client, asked).await?;
    progress.set_message("");
    let step = tl.step_secs as u64;
    let chunk_steps = ((CHUNK.as_secs() / step) as usize).clamp(1, MAX_POINTS_PER_QUERY);
    let chunks: Vec<Chunk> = Metric::ALL
        .iter()
        .flat_map(|&metric| {
            (0..tl.steps).step_by(chunk_steps).map(move |first| Chunk {
                metric,
                first,
                len: chunk_steps.min(tl.steps - first),
            })
        })
        .collect();
    let instants = Instants::COUNT;
    progress.set_length((chunks.len() + instants) as u64);
    let mut store = Store::new(asked, tl);
    let mut answers = futures::stream::iter(chunks)
        .map(|chunk| async move {
            let q = chunk.metric.promql(step);
            // CPU counters also at the window's start, to difference the first step.
            let first = if chunk.metric == Metric::CpuUsage && chunk.first == 0 {
                tl.start
            } else {
                tl.time(chunk.first)
            };
            let start = super::prometheus_time(first);
            let end = super::prometheus_time(tl.time(chunk.first + chunk.len - 1));
            let series = client
                .query_range(&q, start, end, Duration::from_secs(step))
                .await;
            (chunk.metric, series)
        })
        .buffer_unordered(config.concurrency.max(1));
    let mut queries = probes;
    while let Some((metric, series)) = answers.next().await {
        queries += 1;
        progress.inc(1);
        store.add(metric, series?);
    }
    drop(answers);
    let instants = Instants::fetch(client, tl, progress).await?;
    queries += Instants::COUNT;
    Ok(store.finish(instants, queries))
}

/// Where data starts, to a step: bisection over instant queries for node capacity in the day
/// before each probe (so gaps shorter than a day do not mislead it). Returns `tl` from that
/// step on, and the queries sent; `tl` unchanged when data covers its start or is absent.
async fn clip_to_data(
    client: &PrometheusClient,
    tl: Timeline,
) -> Result<(Timeline, usize), PrometheusError> {
    const PROBE: &str = r#"count(last_over_time(kube_node_status_capacity{resource="cpu"}[1d]))"#;
    let mut queries = 0;
    let mut has_data = async |i: usize| -> Result<bool, PrometheusError> {
        queries += 1;
        let at = super::prometheus_time(tl.time(i));
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

/// Range-query answers merged per container and node.
struct Store {
    /// The window the user asked for; `tl` is its part that holds data.
    asked: Timeline,
    tl: Timeline,
    containers: HashMap<ContainerKey, ContainerData>,
    nodes: BTreeMap<String, NodeData>,
    seen: Vec<Metric>,
    /// CPU counters at the window's start.
    cpu_before: HashMap<ContainerKey, f64>,
}

impl Store {
    fn new(asked: Timeline, tl: Timeline) -> Self {
        Self {
            asked,
            tl,
            containers: HashMap::new(),
            nodes: BTreeMap::new(),
            seen: Vec::new(),
            cpu_before: HashMap::new(),
        }
    }

    fn add(&mut self, metric: Metric, series: Vec<Series>) {
        if !series.is_empty() && !self.seen.contains(&metric) {
            self.seen.push(metric);
        }
        let steps = self.tl.steps;
        for s in series {
            let label = |name: &str| s.labels.get(name).cloned().unwrap_or_default();
            let mut before = None;
            let mut key = None;
            let track = if matches!(metric, Metric::NodeCpu | Metric::NodeMemory) {
                let name = label("node");
                let node = self.nodes.entry(name.clone()).or_insert_with(|| NodeData {
                    name,
                    cpu_cores: vec![f64::NAN; steps],
                    memory_bytes: vec![f64::NAN; steps],
                    labels: None,
                });
                if metric == Metric::NodeCpu {
                    &mut node.cpu_cores
                } else {
                    &mut node.memory_bytes
                }
            } else {
                let k = ContainerKey {
                    namespace: label("namespace"),
                    pod: label("pod"),
                    container: label("container"),
                };
                let c = self
                    .containers
                    .entry(k.clone())
                    .or_insert_with(|| ContainerData::new(k.clone(), steps));
                key = Some(k);
                // Requests name the node the scheduler chose; cAdvisor's label is the fallback.
                if let Some(node) = s.labels.get("node").filter(|n| !n.is_empty())
                    && (c.node.is_none()
                        || matches!(metric, Metric::CpuRequest | Metric::MemoryRequest))
                {
                    c.node = Some(node.clone());
                }
                match metric {
                    Metric::Running => {
                        if c.running.is_empty() {
                            c.running = vec![f64::NAN; steps];
                        }
                        &mut c.running
                    }
                    Metric::CpuRequest => &mut c.cpu_request,
                    Metric::MemoryRequest => &mut c.memory_request,
                    Metric::CpuUsage => &mut c.cpu_usage,
                    Metric::MemoryUsage => &mut c.memory_usage,
                    Metric::MemoryPeak => &mut c.memory_peak,
                    Metric::NodeCpu | Metric::NodeMemory => continue,
                }
            };
            for (t, v) in s.points {
                if let Some(i) = self.tl.index(t) {
                    track[i] = v;
                } else if metric == Metric::CpuUsage && (t - self.tl.start).abs() < 0.5 {
                    before = Some(v);
                }
            }
            if let (Some(v), Some(key)) = (before, key) {
                self.cpu_before.insert(key, v);
            }
        }
    }

    fn finish(self, instants: Instants, queries: usize) -> Dataset {
        let mut warnings: Vec<String> = Vec::new();
        for metric in Metric::ALL {
            let text = metric.missing().to_string();
            if !self.seen.contains(&metric) && !warnings.contains(&text) {
                warnings.push(text);
            }
        }
        let mut nodes: Vec<NodeData> = self.nodes.into_values().collect();
        let mut unlabelled = Vec::new();
        for node in &mut nodes {
            node.labels = instants.node_labels.get(&node.name).cloned();
            if node.labels.is_none() {
                unlabelled.push(node.name.clone());
            }
        }
        if !unlabelled.is_empty() {
            warnings.push(format!(
                "{} nodes have no kube_node_labels series ({}): priced as on-demand at the default per-resource prices; scrape kube-state-metrics",
                unlabelled.len(),
                unlabelled.join(", ")
            ));
        }
        let mut containers: Vec<ContainerData> = self.containers.into_values().collect();
        containers.sort_by(|a, b| a.key.cmp(&b.key));
        for c in &mut containers {
            c.memory_limit = instants.memory_limits.get(&c.key).copied();
            let before = self.cpu_before.get(&c.key).copied();
            counter_rates(&mut c.cpu_usage, before, self.tl.step_secs);
        }
        let owners = instants.owners;
        if owners.pods.is_empty() && !containers.is_empty() {
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
        warnings.extend(coverage(self.asked, self.tl, &nodes, &containers));
        Dataset {
            timeline: self.tl,
            containers,
            nodes,
            owners,
            warnings,
            queries,
        }
    }
}

/// A warning when the data starts after the window asked does (or stops before it ends).
fn coverage(
    asked: Timeline,
    tl: Timeline,
    nodes: &[NodeData],
    containers: &[ContainerData],
) -> Option<String> {
    let any_at = |i: usize| {
        nodes.iter().any(|n| !n.cpu_cores[i].is_nan()) || containers.iter().any(|c| c.runs_at(i))
    };
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

/// What instant queries at the window's end tell: owners, node labels, memory limits.
struct Instants {
    owners: Owners,
    node_labels: BTreeMap<String, BTreeMap<String, String>>,
    memory_limits: HashMap<ContainerKey, f64>,
}

impl Instants {
    const COUNT: usize = 5;

    async fn fetch(
        client: &PrometheusClient,
        tl: Timeline,
        progress: &ProgressBar,
    ) -> Result<Self, PrometheusError> {
        let at = Some(super::prometheus_time(tl.end()));
        let w = (tl.end() - tl.start) as u64;
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
            query(format!(
                r#"max by (namespace, pod, container) (last_over_time(kube_pod_container_resource_limits{{resource="memory",unit="byte"}}[{w}s]))"#
            )),
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
        let memory_limits = limits?
            .into_iter()
            .filter(|s| s.value.is_finite() && s.value > 0.0)
            .map(|s| {
                let l = |n: &str| s.labels.get(n).cloned().unwrap_or_default();
                let key = ContainerKey {
                    namespace: l("namespace"),
                    pod: l("pod"),
                    container: l("container"),
                };
                (key, s.value)
            })
            .collect();
        Ok(Self {
            owners,
            node_labels,
            memory_limits,
        })
    }
}

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

/// Turns a CPU counter sampled per step into cores per step: the increase since the last
/// known value over the time between them. A counter first seen inside the window (the
/// container started during that step) or one that went down (restart) counts from zero; one
/// already running at the window's start without a value before it is unknown for that step.
pub fn counter_rates(track: &mut [f64], before: Option<f64>, step_secs: f64) {
    let mut last: Option<(f64, f64)> = before.map(|v| (-1.0, v));
    for (i, slot) in track.iter_mut().enumerate() {
        let counter = *slot;
        if counter.is_nan() {
            continue;
        }
        let i = i as f64;
        *slot = match last {
            Some((j, previous)) if counter >= previous => {
                (counter - previous) / ((i - j) * step_secs)
            }
            Some(_) => counter / step_secs,
            None if i == 0.0 => f64::NAN,
            None => counter / step_secs,
        };
        last = Some((i, counter));
    }
}
