//! Every container's series at every step: range queries at the report's resolution, a part
//! of the window each.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::StreamExt as _;
use indicatif::ProgressBar;
use tidal_core::prometheus::{PrometheusClient, PrometheusError, Series};

use super::promql::{BY_CONTAINER, CADVISOR, step_range};
use super::{
    CPU, Instants, MEMORY, Metric, clip_to_data, counter_rates, coverage, label_nodes,
    missing_series, owner_warnings, part_steps,
};
use crate::summary::parts;
use crate::{ContainerData, ContainerKey, CostConfig, Dataset, NodeData, Timeline};

impl Metric {
    /// The PromQL for steps of `step` seconds.
    pub(super) fn promql(self, step: u64) -> String {
        let step = step_range(step);
        match self {
            Self::Running => format!(
                "max by ({BY_CONTAINER}) (max_over_time(kube_pod_container_status_running[{step}]))"
            ),
            Self::CpuRequest | Self::MemoryRequest => {
                let (resource, unit) = if self == Self::CpuRequest {
                    CPU
                } else {
                    MEMORY
                };
                format!(
                    r#"max by ({BY_CONTAINER}, node) (avg_over_time(kube_pod_container_resource_requests{{resource="{resource}",unit="{unit}"}}[{step}]))"#
                )
            }
            // The counter itself, differenced per step in `counter_rates`: `rate()` over a
            // window only partly covered by samples (a container's first minutes) reads low.
            Self::CpuUsage => format!(
                "max by ({BY_CONTAINER}, node) (last_over_time(container_cpu_usage_seconds_total{{{CADVISOR}}}[{step}]))"
            ),
            Self::MemoryUsage | Self::MemoryPeak => {
                let f = if self == Self::MemoryUsage {
                    "avg_over_time"
                } else {
                    "max_over_time"
                };
                format!(
                    "sum by ({BY_CONTAINER}, node) ({f}(container_memory_working_set_bytes{{{CADVISOR}}}[{step}]))"
                )
            }
            Self::NodeCpu | Self::NodeMemory => {
                let (resource, unit) = if self == Self::NodeCpu { CPU } else { MEMORY };
                format!(
                    r#"max by (node) (avg_over_time(kube_node_status_capacity{{resource="{resource}",unit="{unit}"}}[{step}]))"#
                )
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

/// Fetches everything for a report over `asked`, or over its part from the first step
/// Prometheus holds data for (a window longer than the retention is clipped before anything is
/// pulled, with a warning); `progress` counts queries.
pub async fn per_step(
    client: &PrometheusClient,
    config: &CostConfig,
    asked: Timeline,
    progress: &ProgressBar,
) -> Result<Dataset, PrometheusError> {
    let (tl, probes) = clip_to_data(client, asked, progress).await?;
    let chunk_steps = part_steps(tl);
    progress.set_length((pull_queries(tl.steps, chunk_steps) + Instants::COUNT) as u64);
    let (store, sent) = pull(client, config, tl, chunk_steps, progress).await?;
    let instants = Instants::fetch(client, tl, progress).await?;
    Ok(store.finish(asked, &instants, probes + sent + Instants::COUNT))
}

/// Range queries per metric and part in [`pull_parts`]: what is decoded at once is a quarter of
/// a day's series.
const CHUNKS: usize = 4;

/// Every container's and node's series over `tl`, a part of at most a day at a time: each
/// part's [`Store`] goes to `each` with the step the part starts at, and is dropped before the
/// next part is pulled. Adds its queries to `progress`'s length; returns how many it sent.
pub(super) async fn pull_parts(
    client: &PrometheusClient,
    config: &CostConfig,
    tl: Timeline,
    progress: &ProgressBar,
    mut each: impl FnMut(usize, Timeline, Store),
) -> Result<usize, PrometheusError> {
    let parts = parts(tl.steps, part_steps(tl));
    let queries: usize = parts
        .iter()
        .map(|&(_, len)| pull_queries(len, len.div_ceil(CHUNKS)))
        .sum();
    progress.inc_length(queries as u64);
    for (first, len) in parts {
        let part = Timeline {
            start: tl.start + first as f64 * tl.step_secs,
            step_secs: tl.step_secs,
            steps: len,
        };
        let (store, _) = pull(client, config, part, len.div_ceil(CHUNKS), progress).await?;
        each(first, part, store);
    }
    Ok(queries)
}

/// [`pull_parts`] handing over each part's [`Dataset`], its owners, limits and labels from
/// `instants`: for readers that reduce the series to what they need as they come.
pub async fn per_step_parts(
    client: &PrometheusClient,
    config: &CostConfig,
    tl: Timeline,
    (instants, progress): (&Instants, &ProgressBar),
    mut each: impl FnMut(usize, Dataset),
) -> Result<usize, PrometheusError> {
    pull_parts(client, config, tl, progress, |first, part, store| {
        each(first, store.finish(part, instants, 0));
    })
    .await
}

/// The queries [`pull`] sends for `steps` steps in chunks of `chunk_steps`.
pub(super) fn pull_queries(steps: usize, chunk_steps: usize) -> usize {
    Metric::ALL.len() * steps.div_ceil(chunk_steps.max(1))
}

/// Every container's and node's series over `tl`, a range query per metric and chunk of
/// `chunk_steps` steps (each counted on `progress`); returns them with the number of queries
/// sent.
pub(super) async fn pull(
    client: &PrometheusClient,
    config: &CostConfig,
    tl: Timeline,
    chunk_steps: usize,
    progress: &ProgressBar,
) -> Result<(Store, usize), PrometheusError> {
    let step = tl.step_secs as u64;
    let chunk_steps = chunk_steps.max(1);
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
    let queries = chunks.len();
    let mut store = Store::new(tl);
    let mut answers = futures::stream::iter(chunks)
        .map(|chunk| async move {
            let q = chunk.metric.promql(step);
            // CPU counters also at the window's start, to difference the first step.
            let first = if chunk.metric == Metric::CpuUsage && chunk.first == 0 {
                tl.start
            } else {
                tl.time(chunk.first)
            };
            let start = crate::prometheus_time(first);
            let end = crate::prometheus_time(tl.time(chunk.first + chunk.len - 1));
            let series = client
                .query_range(&q, start, end, Duration::from_secs(step))
                .await;
            (chunk.metric, series)
        })
        .buffer_unordered(config.concurrency.max(1));
    while let Some((metric, series)) = answers.next().await {
        progress.inc(1);
        store.add(metric, series?);
    }
    Ok((store, queries))
}

/// Range-query answers merged per container and node.
pub(super) struct Store {
    tl: Timeline,
    containers: HashMap<ContainerKey, ContainerData>,
    nodes: BTreeMap<String, NodeData>,
    /// The metrics that had series.
    pub(super) seen: Vec<Metric>,
    /// CPU counters at the window's start.
    cpu_before: HashMap<ContainerKey, f64>,
}

impl Store {
    fn new(tl: Timeline) -> Self {
        Self {
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
                let k = ContainerKey::from_labels(&s.labels);
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

    /// The dataset, with warnings for what is missing and for data short of the window `asked`.
    pub(super) fn finish(self, asked: Timeline, instants: &Instants, queries: usize) -> Dataset {
        let mut warnings = missing_series(&self.seen);
        let mut nodes: Vec<NodeData> = self.nodes.into_values().collect();
        warnings.extend(label_nodes(&mut nodes, &instants.node_labels));
        let mut containers: Vec<ContainerData> = self.containers.into_values().collect();
        containers.sort_by(|a, b| a.key.cmp(&b.key));
        for c in &mut containers {
            c.memory_limit = instants.memory_limits.get(&c.key).copied();
            let before = self.cpu_before.get(&c.key).copied();
            counter_rates(&mut c.cpu_usage, before, self.tl.step_secs);
        }
        let owners = instants.owners.clone();
        warnings.extend(owner_warnings(&owners, !containers.is_empty()));
        let any_at = |i: usize| {
            nodes.iter().any(|n| !n.cpu_cores[i].is_nan())
                || containers.iter().any(|c| c.runs_at(i))
        };
        warnings.extend(coverage(asked, self.tl, any_at));
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
