//! The cluster's usage over the window: per pod controller and step, the summed usage of its
//! running pods and how many they were; per Job and step, its running pods; and the steps with
//! any data. By default the store aggregates ([`Query`]), so what comes back grows with the
//! controllers, not with the pods; with `cost.aggregate_in: tidal` Tidal pulls every
//! container's series a day at a time and reduces them the same way (quicker on a single
//! Prometheus, which evaluates a query on one core). Either way each part of the window is
//! folded in as it arrives.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use indicatif::ProgressBar;
use tidal_core::prometheus::{PrometheusClient, PrometheusError, Series, sample_time};
use tidal_cost::allocate::{Workload, owner_workload};
use tidal_cost::fetch::promql::{Exprs, step_range};
use tidal_cost::fetch::{Instants, has_running_metric, per_step_parts};
use tidal_cost::summary::{Owner, part_steps, parts};
use tidal_cost::{AggregateIn, ContainerData, CostConfig, Dataset, Owners, Timeline};

/// Per step, the summed usage of a workload's pods that ran with a value, and their number.
/// Single precision, as the trace's shapes are: a week of 5-minute steps is 16 KB a track.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Usage {
    sum: Vec<f32>,
    pods: Vec<f32>,
}

impl Usage {
    fn new(steps: usize) -> Self {
        Self {
            sum: vec![0.0; steps],
            pods: vec![0.0; steps],
        }
    }

    fn mean_at(&self, i: usize) -> Option<f32> {
        (self.pods[i] > 0.0).then(|| self.sum[i] / self.pods[i])
    }

    /// The per-replica curve: at each step the mean over the pods with a value; gaps hold the
    /// last value (the first one before it). `None` without any value.
    pub(super) fn curve(&self) -> Option<Vec<f32>> {
        let steps = self.sum.len();
        let mut last = (0..steps).find_map(|i| self.mean_at(i))?;
        Some(
            (0..steps)
                .map(|i| {
                    if let Some(v) = self.mean_at(i) {
                        last = v;
                    }
                    last
                })
                .collect(),
        )
    }

    /// The mean over every pod-step with a value.
    pub(super) fn mean(&self) -> Option<f64> {
        let pods: f64 = self.pods.iter().map(|&n| f64::from(n)).sum();
        (pods > 0.0).then(|| self.sum.iter().map(|&v| f64::from(v)).sum::<f64>() / pods)
    }
}

/// A workload's CPU (cores) and memory (working-set bytes) per step.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct WorkloadUsage {
    pub cpu: Usage,
    pub memory: Usage,
}

/// One Job's run: the first and last step with a pod of it running, and the most at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run {
    pub first: usize,
    pub last: usize,
    pub pods: u32,
}

/// What the range queries and the window's instants tell.
pub(super) struct History {
    pub timeline: Timeline,
    /// Steps with a node's capacity or a running container.
    pub observed: Vec<bool>,
    /// By the workload its pods' controllers belong to (a ReplicaSet's Deployment, ...).
    pub usage: BTreeMap<Workload, WorkloadUsage>,
    /// Job runs, by the workload the Jobs belong to (their CronJob, or the Job itself).
    pub runs: BTreeMap<Workload, Vec<Run>>,
    pub instants: Instants,
    /// Whether `kube_pod_container_status_running` has series (else requests or usage say
    /// which containers run).
    pub running_metric: bool,
    /// Whether cAdvisor sent any CPU / memory usage of a controlled pod.
    pub cpu_seen: bool,
    pub memory_seen: bool,
}

/// The range queries sent for each part of the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Query {
    /// Steps with data.
    Observed,
    Usage(Track),
    /// Running pods per Job.
    JobPods,
}

/// A per-controller usage track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Track {
    CpuSum,
    CpuPods,
    MemorySum,
    MemoryPods,
}

impl Query {
    const ALL: [Self; 6] = [
        Self::Observed,
        Self::Usage(Track::CpuSum),
        Self::Usage(Track::CpuPods),
        Self::Usage(Track::MemorySum),
        Self::Usage(Track::MemoryPods),
        Self::JobPods,
    ];

    fn promql(self, e: Exprs<'_>) -> String {
        const ANY_KIND: &str = ".+";
        match self {
            Self::Observed => format!(
                r#"count(max by (node) (max_over_time(kube_node_status_capacity{{resource="cpu"}}[{w}]))) or count({})"#,
                e.pod_running(),
                w = step_range(e.step())
            ),
            Self::Usage(track) => {
                let (aggregation, per_pod) = match track {
                    Track::CpuSum => ("sum", e.pod_cpu_usage()),
                    Track::CpuPods => ("count", e.pod_cpu_usage()),
                    Track::MemorySum => ("sum", e.pod_memory_usage()),
                    Track::MemoryPods => ("count", e.pod_memory_usage()),
                };
                e.per_controller(aggregation, &per_pod, ANY_KIND)
            }
            Self::JobPods => e.per_controller("count", &e.pod_running(), "Job"),
        }
    }
}

impl History {
    /// Queries sent besides the range queries: the running metric's probe and the instants.
    const FIXED_QUERIES: usize = 1 + Instants::COUNT;

    /// Fetches the window `tl`, aggregated where `config.aggregate_in` says, a part of at most
    /// a day at a time, a few queries in flight, each counted on `progress`.
    pub(super) async fn fetch(
        client: &PrometheusClient,
        config: &CostConfig,
        tl: Timeline,
        progress: &ProgressBar,
    ) -> Result<Self, PrometheusError> {
        progress.inc_length(Self::FIXED_QUERIES as u64);
        let running_metric = has_running_metric(client, tl).await?;
        progress.inc(1);
        let instants = Instants::fetch(client, tl, progress).await?;
        let mut acc = Accumulator::new(tl);
        let owners = &instants.owners;
        match config.aggregate_in {
            AggregateIn::Store => {
                let exprs = Exprs::new(tl.step_secs as u64, running_metric);
                pull_aggregates(client, config, (tl, exprs), (owners, progress), &mut acc).await?;
            }
            AggregateIn::Tidal => {
                per_step_parts(client, config, tl, (&instants, progress), |first, data| {
                    acc.add_part(first, &data, owners);
                })
                .await?;
            }
        }
        Ok(acc.finish(instants, running_metric))
    }

    /// The first and last step with data.
    pub(super) fn observed_span(&self) -> Option<(usize, usize)> {
        let first = self.observed.iter().position(|&o| o)?;
        let last = self.observed.iter().rposition(|&o| o)?;
        Some((first, last))
    }
}

/// The store's aggregates over `tl`: a range query per [`Query`] and part of at most a day.
async fn pull_aggregates(
    client: &PrometheusClient,
    config: &CostConfig,
    (tl, exprs): (Timeline, Exprs<'_>),
    (owners, progress): (&Owners, &ProgressBar),
    acc: &mut Accumulator,
) -> Result<(), PrometheusError> {
    let plan: Vec<((usize, usize), Query)> = parts(tl.steps, part_steps(tl))
        .into_iter()
        .flat_map(|part| Query::ALL.map(|q| (part, q)))
        .collect();
    progress.inc_length(plan.len() as u64);
    let step = Duration::from_secs(exprs.step());
    let mut answers = futures::stream::iter(plan)
        .map(|((first, len), query)| async move {
            let from = sample_time(tl.time(first));
            let to = sample_time(tl.time(first + len - 1));
            let series = client
                .query_range(&query.promql(exprs), from, to, step)
                .await;
            (query, series)
        })
        .buffer_unordered(config.concurrency.max(1));
    while let Some((query, series)) = answers.next().await {
        progress.inc(1);
        acc.add(query, series?, owners);
    }
    Ok(())
}

/// Folds the answers in as they arrive.
struct Accumulator {
    tl: Timeline,
    observed: Vec<bool>,
    usage: BTreeMap<Workload, WorkloadUsage>,
    runs: BTreeMap<Owner, Run>,
    cpu_seen: bool,
    memory_seen: bool,
}

impl Accumulator {
    fn new(tl: Timeline) -> Self {
        Self {
            tl,
            observed: vec![false; tl.steps],
            usage: BTreeMap::new(),
            runs: BTreeMap::new(),
            cpu_seen: false,
            memory_seen: false,
        }
    }

    fn usage_of(&mut self, workload: Workload) -> &mut WorkloadUsage {
        let steps = self.tl.steps;
        self.usage.entry(workload).or_insert_with(|| WorkloadUsage {
            cpu: Usage::new(steps),
            memory: Usage::new(steps),
        })
    }

    /// `pods` of Job `job` ran at step `i`.
    fn job_pods(&mut self, job: &Owner, i: usize, pods: u32) {
        let run = self.runs.entry(job.clone()).or_insert(Run {
            first: i,
            last: i,
            pods,
        });
        run.first = run.first.min(i);
        run.last = run.last.max(i);
        run.pods = run.pods.max(pods);
    }

    /// Adds one range query's answer; `owners` resolves controllers to workloads.
    fn add(&mut self, query: Query, series: Vec<Series>, owners: &Owners) {
        let tl = self.tl;
        for s in series {
            let points = s
                .points
                .iter()
                .filter(|(_, v)| v.is_finite())
                .filter_map(|&(t, v)| Some((tl.index(t)?, v)));
            let label = |name: &str| s.labels.get(name).cloned().unwrap_or_default();
            let owner = Owner {
                namespace: label("namespace"),
                kind: label("owner_kind"),
                name: label("owner_name"),
            };
            match query {
                Query::Observed => {
                    for (i, _) in points {
                        self.observed[i] = true;
                    }
                }
                Query::JobPods => {
                    for (i, pods) in points {
                        let pods = pods.round().clamp(0.0, f64::from(u32::MAX)) as u32;
                        self.job_pods(&owner, i, pods);
                    }
                }
                Query::Usage(track) => {
                    let usage = self.usage_of(owner_workload(owners, &owner));
                    let values = match track {
                        Track::CpuSum => &mut usage.cpu.sum,
                        Track::CpuPods => &mut usage.cpu.pods,
                        Track::MemorySum => &mut usage.memory.sum,
                        Track::MemoryPods => &mut usage.memory.pods,
                    };
                    let mut any = false;
                    for (i, v) in points {
                        // The ReplicaSets of a Deployment mid-rollout add up.
                        values[i] += v as f32;
                        any = true;
                    }
                    let seen = match track {
                        Track::CpuSum | Track::CpuPods => &mut self.cpu_seen,
                        Track::MemorySum | Track::MemoryPods => &mut self.memory_seen,
                    };
                    *seen |= any;
                }
            }
        }
    }

    /// Adds a part's per-container series (from step `first` on), reduced as the store
    /// reduces them for the [`Query`]s.
    fn add_part(&mut self, first: usize, data: &Dataset, owners: &Owners) {
        let steps = data.timeline.steps;
        for node in &data.nodes {
            for (i, v) in node.cpu_cores.iter().enumerate() {
                self.observed[first + i] |= v.is_finite();
            }
        }
        let mut jobs: BTreeMap<Owner, Vec<u32>> = BTreeMap::new();
        // Containers come sorted by key: a pod's are together.
        let same_pod = |a: &ContainerData, b: &ContainerData| {
            a.key.namespace == b.key.namespace && a.key.pod == b.key.pod
        };
        for pod in data.containers.chunk_by(same_pod) {
            let (namespace, name) = (&pod[0].key.namespace, &pod[0].key.pod);
            let controller = owners
                .pods
                .get(&(namespace.clone(), name.clone()))
                .filter(|(kind, _)| !kind.is_empty() && kind != "<none>")
                .map(|(kind, name)| Owner {
                    namespace: namespace.clone(),
                    kind: kind.clone(),
                    name: name.clone(),
                });
            for i in 0..steps {
                let running = || pod.iter().filter(|c| c.runs_at(i));
                if running().next().is_none() {
                    continue;
                }
                self.observed[first + i] = true;
                let Some(controller) = &controller else {
                    continue;
                };
                if controller.kind == "Job" {
                    jobs.entry(controller.clone())
                        .or_insert_with(|| vec![0; steps])[i] += 1;
                }
                // The pod's running containers with a value, summed.
                let total = |track: fn(&ContainerData) -> &[f64]| {
                    running()
                        .map(|c| track(c)[i])
                        .filter(|v| v.is_finite())
                        .fold(None, |sum, v| Some(sum.unwrap_or(0.0) + v))
                };
                let (cpu, memory) = (total(|c| &c.cpu_usage), total(|c| &c.memory_usage));
                self.cpu_seen |= cpu.is_some();
                self.memory_seen |= memory.is_some();
                let usage = self.usage_of(owner_workload(owners, controller));
                for (track, value) in [(&mut usage.cpu, cpu), (&mut usage.memory, memory)] {
                    if let Some(v) = value {
                        track.sum[first + i] += v as f32;
                        track.pods[first + i] += 1.0;
                    }
                }
            }
        }
        for (job, counts) in jobs {
            for (i, &pods) in counts.iter().enumerate() {
                if pods > 0 {
                    self.job_pods(&job, first + i, pods);
                }
            }
        }
    }

    fn finish(self, instants: Instants, running_metric: bool) -> History {
        let mut runs: BTreeMap<Workload, Vec<Run>> = BTreeMap::new();
        for (job, run) in self.runs {
            let workload = owner_workload(&instants.owners, &job);
            runs.entry(workload).or_default().push(run);
        }
        History {
            timeline: self.tl,
            observed: self.observed,
            usage: self.usage,
            runs,
            instants,
            running_metric,
            cpu_seen: self.cpu_seen,
            memory_seen: self.memory_seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn tl(steps: usize) -> Timeline {
        Timeline {
            start: 1_000_000.0,
            step_secs: 300.0,
            steps,
        }
    }

    /// A per-controller series with `points` at steps.
    fn series(kind: &str, name: &str, points: &[(usize, f64)]) -> Series {
        let labels = [
            ("namespace", "shop"),
            ("owner_kind", kind),
            ("owner_name", name),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let t = tl(1);
        Series {
            labels,
            points: points.iter().map(|&(i, v)| (t.time(i), v)).collect(),
        }
    }

    fn accumulator(steps: usize) -> (Accumulator, Instants) {
        let key = |name: &str| ("shop".to_string(), name.to_string());
        let owner = |kind: &str, name: &str| (kind.to_string(), name.to_string());
        let mut owners = Owners::default();
        for rs in ["web-1", "web-2"] {
            owners
                .replica_sets
                .insert(key(rs), owner("Deployment", "web"));
        }
        for job in ["report-1", "report-2"] {
            owners.jobs.insert(key(job), owner("CronJob", "report"));
        }
        (
            Accumulator::new(tl(steps)),
            Instants {
                owners,
                node_labels: BTreeMap::new(),
                memory_limits: HashMap::new(),
            },
        )
    }

    fn workload(kind: &str, name: &str) -> Workload {
        Workload {
            namespace: "shop".to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
        }
    }

    /// Mid-rollout, the old and the new ReplicaSet's pods make one Deployment's mean; a step
    /// without data holds the last mean, and the first steps take the first one.
    #[test]
    fn replica_sets_of_a_deployment_make_one_mean() {
        let (mut acc, instants) = accumulator(4);
        let cpu_sum = Query::Usage(Track::CpuSum);
        let cpu_pods = Query::Usage(Track::CpuPods);
        acc.add(
            cpu_sum,
            vec![series("ReplicaSet", "web-1", &[(1, 2.0), (2, 1.0)])],
            &instants.owners,
        );
        acc.add(
            cpu_pods,
            vec![series("ReplicaSet", "web-1", &[(1, 2.0), (2, 1.0)])],
            &instants.owners,
        );
        acc.add(
            cpu_sum,
            vec![series("ReplicaSet", "web-2", &[(2, 3.0)])],
            &instants.owners,
        );
        acc.add(
            cpu_pods,
            vec![series("ReplicaSet", "web-2", &[(2, 1.0)])],
            &instants.owners,
        );
        let history = acc.finish(instants, true);
        let web = &history.usage[&workload("Deployment", "web")];
        assert_eq!(web.cpu.curve(), Some(vec![1.0, 1.0, 2.0, 2.0]));
        assert_eq!(web.cpu.mean(), Some(6.0 / 4.0));
        assert_eq!(web.memory.curve(), None, "no memory series");
        assert!(history.cpu_seen && !history.memory_seen);
        assert_eq!(history.usage.len(), 1);
    }

    /// Each Job's run spans its steps with running pods, across parts of the window, and the
    /// runs are grouped under their CronJob.
    #[test]
    fn job_runs_span_their_running_steps() {
        let (mut acc, instants) = accumulator(12);
        // Two parts: report-1's run crosses from the first into the second.
        acc.add(
            Query::JobPods,
            vec![series("Job", "report-1", &[(4, 1.0), (5, 2.0)])],
            &instants.owners,
        );
        acc.add(
            Query::JobPods,
            vec![
                series("Job", "report-1", &[(6, 1.0)]),
                series("Job", "report-2", &[(10, 1.0), (11, 1.0)]),
                series("Job", "one-off", &[(3, 1.0)]),
            ],
            &instants.owners,
        );
        acc.add(
            Query::Observed,
            vec![series("", "", &[(3, 5.0), (7, 5.0)])],
            &instants.owners,
        );
        let history = acc.finish(instants, true);
        assert_eq!(
            history.runs[&workload("CronJob", "report")],
            [
                Run {
                    first: 4,
                    last: 6,
                    pods: 2
                },
                Run {
                    first: 10,
                    last: 11,
                    pods: 1
                }
            ]
        );
        assert_eq!(history.runs[&workload("Job", "one-off")].len(), 1);
        assert_eq!(history.observed_span(), Some((3, 7)));
    }
}
