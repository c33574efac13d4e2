//! The report's inputs, computed by the database: for each part of the window (a day), instant
//! queries over a subquery of the part's steps return one number per container (running
//! steps; request, usage and charged sums; daily percentiles; peaks), and range queries return
//! per-step totals for the cluster, each namespace and node. Parts combine exactly: sums add,
//! peaks and daily percentiles take the highest. Instant queries over the whole window add what
//! each container showed last (node, requests). So the queries do not grow with the pods, nor
//! what they return with the steps.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::StreamExt as _;
use indicatif::ProgressBar;
use tidal_core::prometheus::{PrometheusClient, PrometheusError, Sample, Series};

use super::promql::{BY_CONTAINER, CADVISOR, Exprs};
use super::{
    CPU, Fetched, Instants, MEMORY, Metric, REQUESTS, clip_to_data, has_running_metric,
    last_per_container, part_steps, top_owners, window_secs, write_points,
};
use crate::summary::{ContainerTotals, StepTotals, Summary, parts};
use crate::{ContainerKey, CostConfig, NodeData, Timeline, Track};

/// One number per container and part, from an instant query at the part's last step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Total {
    RunningSteps,
    CpuRequest,
    CpuUsage,
    CpuCharged,
    MemoryRequest,
    MemoryUsage,
    MemoryCharged,
    CpuPercentile,
    MemoryPercentile,
    MemoryPeak,
}

impl Total {
    const ALL: [Self; 10] = [
        Self::RunningSteps,
        Self::CpuRequest,
        Self::CpuUsage,
        Self::CpuCharged,
        Self::MemoryRequest,
        Self::MemoryUsage,
        Self::MemoryCharged,
        Self::CpuPercentile,
        Self::MemoryPercentile,
        Self::MemoryPeak,
    ];

    /// The queries a part needs. A memory percentile of 1 is the peak: one query fewer.
    fn planned(memory_percentile: f64) -> impl Iterator<Item = Self> {
        Self::ALL
            .into_iter()
            .filter(move |t| !(*t == Self::MemoryPercentile && memory_percentile >= 1.0))
    }

    /// The query over the `steps` steps ending at its evaluation time.
    fn promql(self, e: Exprs, steps: usize, (cpu_q, memory_q): (f64, f64)) -> String {
        let sub = |expr: String| e.over(&e.while_running(&expr), steps);
        match self {
            Self::RunningSteps => format!("count_over_time({})", e.over(&e.running(), steps)),
            Self::CpuRequest => format!("sum_over_time({})", sub(e.cpu_request())),
            Self::CpuUsage => format!("sum_over_time({})", sub(e.cpu_usage())),
            Self::CpuCharged => format!("sum_over_time({})", sub(e.cpu_charged())),
            Self::MemoryRequest => format!("sum_over_time({})", sub(e.memory_request())),
            Self::MemoryUsage => format!("sum_over_time({})", sub(e.memory_usage())),
            Self::MemoryCharged => format!("sum_over_time({})", sub(e.memory_charged())),
            Self::CpuPercentile => {
                format!("quantile_over_time({cpu_q}, {})", sub(e.cpu_usage()))
            }
            Self::MemoryPercentile => {
                format!("quantile_over_time({memory_q}, {})", sub(e.memory_peak()))
            }
            Self::MemoryPeak => format!("max_over_time({})", sub(e.memory_peak())),
        }
    }

    /// Adds a part's value to the window's.
    fn combine(self, t: &mut ContainerTotals, v: f64) {
        let highest = |slot: &mut Option<f64>| *slot = Some(slot.map_or(v, |s| s.max(v)));
        match self {
            Self::RunningSteps => t.running_steps += v,
            Self::CpuRequest => t.cpu_request += v,
            Self::CpuUsage => t.cpu_usage += v,
            Self::CpuCharged => t.cpu_charged += v,
            Self::MemoryRequest => t.memory_request += v,
            Self::MemoryUsage => t.memory_usage += v,
            Self::MemoryCharged => t.memory_charged += v,
            Self::CpuPercentile => highest(&mut t.cpu_percentile),
            Self::MemoryPercentile => highest(&mut t.memory_percentile),
            Self::MemoryPeak => highest(&mut t.memory_peak),
        }
    }

    /// The metric an answer with samples shows is there.
    fn shows(self) -> &'static [Metric] {
        match self {
            Self::CpuRequest => &[Metric::CpuRequest],
            Self::MemoryRequest => &[Metric::MemoryRequest],
            Self::CpuUsage => &[Metric::CpuUsage],
            Self::MemoryPeak => &[Metric::MemoryUsage, Metric::MemoryPeak],
            _ => &[],
        }
    }
}

/// A series per step, from a range query over the part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    UsedCores,
    UsedBytes,
    NamespaceCpu,
    NamespaceMemory,
    NodeCpu,
    NodeMemory,
}

impl Step {
    const ALL: [Self; 6] = [
        Self::UsedCores,
        Self::UsedBytes,
        Self::NamespaceCpu,
        Self::NamespaceMemory,
        Self::NodeCpu,
        Self::NodeMemory,
    ];

    fn promql(self, e: Exprs) -> String {
        match self {
            Self::UsedCores => format!("sum({})", e.while_running(&e.cpu_usage())),
            Self::UsedBytes => format!("sum({})", e.while_running(&e.memory_usage())),
            Self::NamespaceCpu => {
                format!("sum by (namespace) ({})", e.while_running(&e.cpu_charged()))
            }
            Self::NamespaceMemory => format!(
                "sum by (namespace) ({})",
                e.while_running(&e.memory_charged())
            ),
            Self::NodeCpu => Metric::NodeCpu.promql(e.step()),
            Self::NodeMemory => Metric::NodeMemory.promql(e.step()),
        }
    }
}

/// One query of the plan.
#[derive(Debug, Clone, Copy)]
enum Query {
    Total(Total),
    Step(Step),
}

enum Answer {
    Total(Total, Vec<Sample>),
    Step(Step, Vec<Series>),
}

/// [`super::fetch`] with the arithmetic done by the store.
pub(super) async fn fetch(
    client: &PrometheusClient,
    config: &CostConfig,
    asked: Timeline,
    progress: &ProgressBar,
) -> Result<Summary, PrometheusError> {
    let (tl, probes) = clip_to_data(client, asked, progress).await?;
    let running_metric = has_running_metric(client, tl).await?;
    let step = tl.step_secs as u64;
    let exprs = Exprs::new(step, running_metric);
    let percentiles = config.rightsizing.percentiles();
    let plan: Vec<((usize, usize), Query)> = parts(tl.steps, part_steps(tl))
        .into_iter()
        .flat_map(|part| {
            let totals = Total::planned(percentiles.1).map(Query::Total);
            let steps = Step::ALL.map(Query::Step);
            totals.chain(steps).map(move |q| (part, q))
        })
        .collect();
    let queries = probes + 1 + plan.len() + LATEST_QUERIES + Instants::COUNT;
    let owner_queries = parts(tl.steps, part_steps(tl)).len();
    progress.set_length((queries - probes - 1 + owner_queries) as u64);
    let mut acc = Accumulator::new(tl, percentiles.1 >= 1.0);
    if running_metric {
        acc.seen.push(Metric::Running);
    }
    // In order (parts oldest first), a few in flight.
    let mut answers = futures::stream::iter(plan)
        .map(|((first, len), query)| async move {
            let last = crate::prometheus_time(tl.time(first + len - 1));
            match query {
                Query::Total(total) => {
                    let q = total.promql(exprs, len, percentiles);
                    client
                        .query(&q, Some(last))
                        .await
                        .map(|s| Answer::Total(total, s))
                }
                Query::Step(s) => {
                    let first = crate::prometheus_time(tl.time(first));
                    let step = Duration::from_secs(step);
                    client
                        .query_range(&s.promql(exprs), first, last, step)
                        .await
                        .map(|series| Answer::Step(s, series))
                }
            }
        })
        .buffered(config.concurrency.max(1));
    while let Some(answer) = answers.next().await {
        progress.inc(1);
        acc.add(answer?);
    }
    drop(answers);
    let latest = Latest::fetch(client, tl, progress).await?;
    let instants = Instants::fetch(client, tl, progress).await?;
    let mut summary = acc.finish(asked, instants, latest, queries);
    top_owners::add_cores(client, config, exprs, &mut summary, progress).await?;
    Ok(summary)
}

/// Queries [`Latest::fetch`] sends.
const LATEST_QUERIES: usize = 4;

/// What each container showed last in the window, from instant queries over all of it.
#[derive(Default)]
struct Latest {
    /// Its node: from its requests (the scheduler's choice), else from cAdvisor's `node` label.
    nodes: HashMap<ContainerKey, String>,
    /// Its requests as kube-state-metrics last reported them: what right-sizing would change.
    cpu_requests: HashMap<ContainerKey, f64>,
    memory_requests: HashMap<ContainerKey, f64>,
}

impl Latest {
    async fn fetch(
        client: &PrometheusClient,
        tl: Timeline,
        progress: &ProgressBar,
    ) -> Result<Self, PrometheusError> {
        let w = window_secs(tl);
        let at = Some(crate::prometheus_time(tl.end()));
        let by = format!("max by ({BY_CONTAINER}, node)");
        let requests = format!(
            r#"{by} (last_over_time(kube_pod_container_resource_requests{{node!=""}}[{w}s]))"#
        );
        let cadvisor = format!(
            r#"{by} (last_over_time(container_memory_working_set_bytes{{{CADVISOR},node!=""}}[{w}s]))"#
        );
        let mut latest = Self::default();
        // Requests last, so that they win.
        for q in [cadvisor, requests] {
            for s in client.query(&q, at).await? {
                if let Some(node) = s.labels.get("node") {
                    latest
                        .nodes
                        .insert(ContainerKey::from_labels(&s.labels), node.clone());
                }
            }
            progress.inc(1);
        }
        for (resource, values) in [
            (CPU, &mut latest.cpu_requests),
            (MEMORY, &mut latest.memory_requests),
        ] {
            *values = last_per_container(client, tl, REQUESTS, resource).await?;
            // As the per-step requests are: a negative request counts as none.
            values.values_mut().for_each(|v| *v = v.max(0.0));
            progress.inc(1);
        }
        Ok(latest)
    }
}

/// Answers folded into the summary as they arrive.
struct Accumulator {
    tl: Timeline,
    /// The memory percentile is 1: the peak stands for it.
    peak_is_percentile: bool,
    containers: HashMap<ContainerKey, ContainerTotals>,
    steps: StepTotals,
    nodes: BTreeMap<String, NodeData>,
    seen: Vec<Metric>,
}

impl Accumulator {
    fn new(tl: Timeline, peak_is_percentile: bool) -> Self {
        let empty = || vec![f64::NAN; tl.steps];
        Self {
            tl,
            peak_is_percentile,
            containers: HashMap::new(),
            steps: StepTotals {
                used_cores: empty(),
                used_bytes: empty(),
                ..StepTotals::default()
            },
            nodes: BTreeMap::new(),
            seen: Vec::new(),
        }
    }

    fn add(&mut self, answer: Answer) {
        match answer {
            Answer::Total(total, samples) => {
                if !samples.is_empty() {
                    self.saw(total.shows());
                }
                for s in samples {
                    if !s.value.is_finite() {
                        continue;
                    }
                    let key = ContainerKey::from_labels(&s.labels);
                    let t = self
                        .containers
                        .entry(key)
                        .or_insert_with_key(|key| ContainerTotals {
                            key: key.clone(),
                            ..ContainerTotals::default()
                        });
                    total.combine(t, s.value);
                }
            }
            Answer::Step(step, series) => {
                if !series.is_empty() {
                    match step {
                        Step::NodeCpu => self.saw(&[Metric::NodeCpu]),
                        Step::NodeMemory => self.saw(&[Metric::NodeMemory]),
                        _ => {}
                    }
                }
                let tl = self.tl;
                for s in series {
                    write_points(tl, &s, self.track(step, &s));
                }
            }
        }
    }

    fn saw(&mut self, metrics: &[Metric]) {
        for m in metrics {
            if !self.seen.contains(m) {
                self.seen.push(*m);
            }
        }
    }

    /// Where a series of `step` goes.
    fn track(&mut self, step: Step, s: &Series) -> &mut Track {
        let steps = self.tl.steps;
        let empty = || vec![f64::NAN; steps];
        let label = |name: &str| s.labels.get(name).cloned().unwrap_or_default();
        match step {
            Step::UsedCores => &mut self.steps.used_cores,
            Step::UsedBytes => &mut self.steps.used_bytes,
            Step::NamespaceCpu | Step::NamespaceMemory => {
                let (cpu, memory) = self
                    .steps
                    .namespace_charged
                    .entry(label("namespace"))
                    .or_insert_with(|| (empty(), empty()));
                if step == Step::NamespaceCpu {
                    cpu
                } else {
                    memory
                }
            }
            Step::NodeCpu | Step::NodeMemory => {
                let name = label("node");
                let node = self.nodes.entry(name.clone()).or_insert_with(|| NodeData {
                    name,
                    cpu_cores: empty(),
                    memory_bytes: empty(),
                    labels: None,
                });
                if step == Step::NodeCpu {
                    &mut node.cpu_cores
                } else {
                    &mut node.memory_bytes
                }
            }
        }
    }

    fn finish(
        self,
        asked: Timeline,
        instants: Instants,
        latest: Latest,
        queries: usize,
    ) -> Summary {
        let mut containers: Vec<ContainerTotals> = self.containers.into_values().collect();
        for c in &mut containers {
            c.node = latest.nodes.get(&c.key).cloned();
            c.latest_cpu_request = latest.cpu_requests.get(&c.key).copied();
            c.latest_memory_request = latest.memory_requests.get(&c.key).copied();
            if self.peak_is_percentile {
                c.memory_percentile = c.memory_peak;
            }
        }
        let fetched = Fetched {
            tl: self.tl,
            seen: self.seen,
            containers,
            nodes: self.nodes.into_values().collect(),
            steps: self.steps,
        };
        fetched.summarize(asked, instants, queries)
    }
}
