//! `tidal simulate --from-prometheus --window 7d`: the trace of the user's own cluster,
//! built from its Prometheus history so the replay starts from the cluster as it was and
//! replays the demand it really saw.
//!
//! The bulk comes from the cost report's per-step fetch ([`tidal_cost::fetch::per_step`]), at the
//! simulation step: per container and step, kube-state-metrics' running status and
//! requests and cAdvisor's CPU (counter differenced per step) and working set; nodes'
//! capacity and `kube_node_labels`; owners resolved ReplicaSet → Deployment and Job →
//! CronJob. A few instant queries add what a replay needs and a bill does not:
//! allocatable, taints, tolerations, pods' nodes (`kube_pod_info`), CPU limits and PDBs.
//!
//! What is approximated (each is said in a warning when it matters):
//! - one workload per controller; its replicas are its pods running at the window's start
//!   (no HPA is inferred), its requests and limits the largest of those pods' (summed over
//!   containers), its priority 0;
//! - per-replica usage is the mean over the controller's running pods at each step;
//!   steps without data hold the last value seen (the first one before any);
//! - a CronJob runs every median gap between its Jobs' starts, for the median run length,
//!   with the median number of pods per Job, each using the mean of its pods' usage;
//! - the nodes are those of the window's start, with their zone and region labels and
//!   taints; workloads tolerate what their pods tolerated (`kube_pod_tolerations`) and
//!   the taints of the nodes they ran on; node selectors and affinity are unknown;
//! - kube-state-metrics does not export PDB selectors: a PDB goes to the workload of its
//!   namespace named like it, else to the one whose replica count is the PDB's expected
//!   pods, as `minAvailable: desired_healthy`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use indicatif::ProgressBar;
use k8s_openapi::api::core::v1::{Taint, Toleration};
use tidal_core::prometheus::{PrometheusClient, PrometheusError, Sample, sample_time};
use tidal_core::resources::{PodLimits, Resources};
use tidal_cost::allocate::workload as resolve_owner;
use tidal_cost::render::utc;
use tidal_cost::{ContainerData, ContainerKey, CostConfig, Dataset, Timeline, fetch};

use crate::trace::{Amount, Cron, Kind, NodeSpec, Pdb, Shape, Trace, WorkloadSpec};

/// The most steps a trace from Prometheus may have (a week at one minute is 10,080): every
/// container's series are held in memory for each step.
pub const MAX_STEPS: u64 = 50_000;

const ZONE: &str = "topology.kubernetes.io/zone";
const REGION: &str = "topology.kubernetes.io/region";
/// kube-state-metrics' names for the zone and region labels, current then legacy.
const ZONE_LABELS: [&str; 2] = [
    "label_topology_kubernetes_io_zone",
    "label_failure_domain_beta_kubernetes_io_zone",
];
const REGION_LABELS: [&str; 2] = [
    "label_topology_kubernetes_io_region",
    "label_failure_domain_beta_kubernetes_io_region",
];
/// kubelet's default `maxPods`, when kube-state-metrics has no `pods` allocatable.
const DEFAULT_MAX_PODS: u32 = 110;
/// Names spelled out in one warning; the rest are counted.
const LISTED: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("--step {0} is shorter than 1s; use a step of whole seconds, like 1m or 5m")]
    Step(String),
    #[error(
        "--window {window} is shorter than --step {step}; use a longer --window or a shorter --step"
    )]
    Window { window: String, step: String },
    #[error(
        "--window {window} at --step {step} is {steps} steps, more than {MAX_STEPS}; use a longer --step or a shorter --window"
    )]
    TooManySteps {
        window: String,
        step: String,
        steps: u64,
    },
    #[error("cannot read the cluster's history from Prometheus: {0}")]
    Prometheus(#[from] PrometheusError),
    #[error(
        "Prometheus has no kube-state-metrics or cAdvisor series from {from} to {to}: check that --window is within Prometheus's retention and that kube-state-metrics and the kubelets' cAdvisor endpoints are scraped"
    )]
    NoData { from: String, to: String },
    #[error(
        "Prometheus has no node series (kube_node_status_capacity, kube_node_status_allocatable) at {at}, so the replay has no nodes; install kube-state-metrics and have Prometheus scrape it"
    )]
    NoNodes { at: String },
    #[error(
        "nothing to replay: no pod running at {at} belongs to a Deployment, StatefulSet, DaemonSet or CronJob that can be replayed ({why})"
    )]
    NoWorkloads { at: String, why: String },
}

/// Builds the trace of the window of `window` ending at `end` (both aligned to whole steps,
/// as the cost report aligns them) at simulation step `step`. Returns the trace and what
/// the replay will lack or approximate; `progress` counts queries.
pub async fn build_trace(
    client: &PrometheusClient,
    end: SystemTime,
    window: Duration,
    step: Duration,
    progress: &ProgressBar,
) -> Result<(Trace, Vec<String>), BuildError> {
    let config = cost_config(window, step)?;
    let tl = fetch::timeline(end, &config);
    let data = fetch::per_step(client, &config, tl, progress).await?;
    let Some(first) = first_observed(&data) else {
        return Err(BuildError::NoData {
            from: utc(tl.start),
            to: utc(tl.end()),
        });
    };
    let state = StartState::fetch(client, tl, first, progress).await?;
    assemble(&data, &state, first)
}

/// The cost report's configuration for a fetch at the simulation step.
fn cost_config(window: Duration, step: Duration) -> Result<CostConfig, BuildError> {
    let human = |d: Duration| humantime::format_duration(d).to_string();
    let step_secs = step.as_secs();
    if step_secs == 0 {
        return Err(BuildError::Step(human(step)));
    }
    if window.as_secs() < step_secs {
        return Err(BuildError::Window {
            window: human(window),
            step: human(step),
        });
    }
    let steps = window.as_secs() / step_secs;
    if steps > MAX_STEPS {
        return Err(BuildError::TooManySteps {
            window: human(window),
            step: human(step),
            steps,
        });
    }
    Ok(CostConfig {
        window,
        resolution: Duration::from_secs(step_secs),
        ..CostConfig::default()
    })
}

/// The first step with any node or running container: the window's start, unless the data
/// starts later.
fn first_observed(data: &Dataset) -> Option<usize> {
    (0..data.timeline.steps).find(|&i| observed_at(data, i))
}

fn observed_at(data: &Dataset, i: usize) -> bool {
    data.nodes.iter().any(|n| finite(&n.cpu_cores, i).is_some())
        || data.containers.iter().any(|c| c.runs_at(i))
}

fn finite(track: &[f64], i: usize) -> Option<f64> {
    track.get(i).copied().filter(|v| v.is_finite())
}

// What instant queries tell about the cluster at the window's start.

#[derive(Debug, Clone, Copy, Default)]
struct Allocatable {
    cpu: Option<f64>,
    memory: Option<f64>,
    pods: Option<f64>,
}

#[derive(Debug, Clone)]
struct ObservedPdb {
    namespace: String,
    name: String,
    desired_healthy: u32,
    expected_pods: Option<u32>,
}

#[derive(Debug, Default)]
struct StartState {
    /// `kube_node_status_allocatable` at the start, by node.
    allocatable: BTreeMap<String, Allocatable>,
    /// `kube_node_spec_taint` at the start, by node.
    taints: BTreeMap<String, Vec<Taint>>,
    /// `kube_pod_tolerations` over the window, by `(namespace, pod)`.
    tolerations: BTreeMap<(String, String), Vec<Toleration>>,
    /// `kube_pod_info`'s node at the start, by `(namespace, pod)`.
    pod_nodes: BTreeMap<(String, String), String>,
    /// CPU limits (cores) over the window, by container.
    cpu_limits: HashMap<ContainerKey, f64>,
    pdbs: Vec<ObservedPdb>,
}

impl StartState {
    const QUERIES: u64 = 7;

    /// Node and pod state at step `first`'s evaluation time, and what does not change
    /// during a pod's life (tolerations, limits) over the whole window.
    async fn fetch(
        client: &PrometheusClient,
        tl: Timeline,
        first: usize,
        progress: &ProgressBar,
    ) -> Result<Self, PrometheusError> {
        progress.inc_length(Self::QUERIES);
        let at_start = Some(sample_time(tl.time(first)));
        let at_end = Some(sample_time(tl.end()));
        // At least 5 minutes, Prometheus's own lookback, whatever the step.
        let lookback = (tl.step_secs as u64).max(300);
        let whole = ((tl.end() - tl.start) as u64).max(1);
        let query = |q: String, at: Option<SystemTime>| async move {
            let answer = client.query(&q, at).await;
            progress.inc(1);
            answer
        };
        let last = |metric: &str, by: &str, secs: u64| {
            format!("max by ({by}) (last_over_time({metric}[{secs}s]))")
        };
        let (allocatable, taints, tolerations, info, limits, desired, expected) = futures::join!(
            query(
                last(
                    r#"kube_node_status_allocatable{resource=~"cpu|memory|pods"}"#,
                    "node, resource",
                    lookback
                ),
                at_start
            ),
            query(
                last("kube_node_spec_taint", "node, key, value, effect", lookback),
                at_start
            ),
            query(
                last(
                    "kube_pod_tolerations",
                    "namespace, pod, key, operator, value, effect",
                    whole
                ),
                at_end
            ),
            query(
                last(
                    r#"kube_pod_info{node!=""}"#,
                    "namespace, pod, node",
                    lookback
                ),
                at_start
            ),
            query(
                last(
                    r#"kube_pod_container_resource_limits{resource="cpu",unit="core"}"#,
                    "namespace, pod, container",
                    whole
                ),
                at_end
            ),
            query(
                last(
                    "kube_poddisruptionbudget_status_desired_healthy",
                    "namespace, poddisruptionbudget",
                    lookback
                ),
                at_start
            ),
            query(
                last(
                    "kube_poddisruptionbudget_status_expected_pods",
                    "namespace, poddisruptionbudget",
                    lookback
                ),
                at_start
            ),
        );
        let mut state = Self::default();
        for s in allocatable? {
            let node = state.allocatable.entry(label(&s, "node")).or_default();
            let value = Some(s.value).filter(|v| v.is_finite() && *v >= 0.0);
            match label(&s, "resource").as_str() {
                "cpu" => node.cpu = value,
                "memory" => node.memory = value,
                "pods" => node.pods = value,
                _ => {}
            }
        }
        for s in taints? {
            let (key, effect) = (label(&s, "key"), label(&s, "effect"));
            if key.is_empty() || effect.is_empty() {
                continue;
            }
            state
                .taints
                .entry(label(&s, "node"))
                .or_default()
                .push(Taint {
                    key,
                    value: non_empty(label(&s, "value")),
                    effect,
                    time_added: None,
                });
        }
        for s in tolerations? {
            let toleration = Toleration {
                key: non_empty(label(&s, "key")),
                operator: non_empty(label(&s, "operator")),
                value: non_empty(label(&s, "value")),
                effect: non_empty(label(&s, "effect")),
                toleration_seconds: None,
            };
            let list = state.tolerations.entry(pod_key(&s)).or_default();
            if !list.contains(&toleration) {
                list.push(toleration);
            }
        }
        for s in info? {
            let node = label(&s, "node");
            if !node.is_empty() {
                state.pod_nodes.insert(pod_key(&s), node);
            }
        }
        for s in limits? {
            if s.value.is_finite() && s.value > 0.0 {
                let key = ContainerKey {
                    namespace: label(&s, "namespace"),
                    pod: label(&s, "pod"),
                    container: label(&s, "container"),
                };
                state.cpu_limits.insert(key, s.value);
            }
        }
        let expected: BTreeMap<(String, String), u32> = expected?
            .iter()
            .filter_map(|s| Some((pdb_key(s), count(s.value)?)))
            .collect();
        for s in desired? {
            let Some(desired_healthy) = count(s.value) else {
                continue;
            };
            let (namespace, name) = pdb_key(&s);
            let expected_pods = expected.get(&(namespace.clone(), name.clone())).copied();
            state.pdbs.push(ObservedPdb {
                namespace,
                name,
                desired_healthy,
                expected_pods,
            });
        }
        Ok(state)
    }
}

fn label(s: &Sample, name: &str) -> String {
    s.labels.get(name).cloned().unwrap_or_default()
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn pod_key(s: &Sample) -> (String, String) {
    (label(s, "namespace"), label(s, "pod"))
}

fn pdb_key(s: &Sample) -> (String, String) {
    (label(s, "namespace"), label(s, "poddisruptionbudget"))
}

/// A gauge's value as a count, if it is one.
fn count(v: f64) -> Option<u32> {
    (v.is_finite() && v >= 0.0 && v <= f64::from(u32::MAX)).then(|| v.round() as u32)
}

// Pods: the cost data's containers grouped by pod.

struct ObservedPod<'d> {
    namespace: &'d str,
    name: &'d str,
    node: Option<String>,
    containers: Vec<&'d ContainerData>,
}

type TrackOf = fn(&ContainerData) -> &[f64];

fn cpu_usage(c: &ContainerData) -> &[f64] {
    &c.cpu_usage
}

fn memory_usage(c: &ContainerData) -> &[f64] {
    &c.memory_usage
}

impl ObservedPod<'_> {
    fn runs_at(&self, i: usize) -> bool {
        self.containers.iter().any(|c| c.runs_at(i))
    }

    fn first_run(&self, steps: usize) -> Option<usize> {
        (0..steps).find(|&i| self.runs_at(i))
    }

    fn last_run(&self, steps: usize) -> Option<usize> {
        (0..steps).rev().find(|&i| self.runs_at(i))
    }

    /// The sum over containers at step `i`, if any container has a value then.
    fn total(&self, i: usize, track: TrackOf) -> Option<f64> {
        self.containers
            .iter()
            .filter_map(|c| finite(track(c), i))
            .fold(None, |sum, v| Some(sum.unwrap_or(0.0) + v))
    }

    /// Requests summed over containers, at step `at` (else their first known value).
    fn requests(&self, at: usize) -> Resources {
        let amount = |track: &[f64]| {
            finite(track, at)
                .or_else(|| track.iter().copied().find(|v| v.is_finite()))
                .unwrap_or(0.0)
        };
        let cpu: f64 = self.containers.iter().map(|c| amount(&c.cpu_request)).sum();
        let memory: f64 = self
            .containers
            .iter()
            .map(|c| amount(&c.memory_request))
            .sum();
        Resources {
            cpu_milli: millis(cpu),
            memory_bytes: memory.round() as i64,
        }
    }

    /// Limits summed over containers; a container without one leaves the pod uncapped.
    fn limits(&self, cpu_limits: &HashMap<ContainerKey, f64>) -> PodLimits {
        let cpu: Option<f64> = self
            .containers
            .iter()
            .map(|c| cpu_limits.get(&c.key).copied())
            .sum();
        let memory: Option<f64> = self.containers.iter().map(|c| c.memory_limit).sum();
        PodLimits {
            cpu_milli: cpu.map(millis).filter(|&m| m > 0),
            memory_bytes: memory.map(|m| m.round() as i64).filter(|&m| m > 0),
        }
    }

    fn display(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

fn millis(cores: f64) -> i64 {
    (cores * 1000.0).round() as i64
}

fn observed_pods<'d>(data: &'d Dataset, state: &StartState) -> Vec<ObservedPod<'d>> {
    let mut pods: BTreeMap<(&str, &str), ObservedPod<'d>> = BTreeMap::new();
    for c in &data.containers {
        if c.key.pod.is_empty() {
            continue;
        }
        let pod = pods
            .entry((c.key.namespace.as_str(), c.key.pod.as_str()))
            .or_insert_with(|| ObservedPod {
                namespace: &c.key.namespace,
                name: &c.key.pod,
                node: None,
                containers: Vec::new(),
            });
        if pod.node.is_none() {
            pod.node.clone_from(&c.node);
        }
        pod.containers.push(c);
    }
    pods.into_values()
        .map(|mut pod| {
            if pod.node.is_none() {
                let key = (pod.namespace.to_string(), pod.name.to_string());
                pod.node = state.pod_nodes.get(&key).cloned();
            }
            pod
        })
        .collect()
}

/// Replica slots in name order, with numbered suffixes in numeric order (`web-2` before
/// `web-10`, so a StatefulSet's slots are its ordinals).
fn slot_order(name: &str) -> (&str, u64, &str) {
    let prefix = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let number = name[prefix.len()..].parse().unwrap_or(0);
    (prefix, number, name)
}

// Assembling the trace.

/// What happens to a controller's pods in the replay.
enum Role {
    Replay(Kind),
    /// Replayed as a Deployment: a controller the replay does not model.
    Custom,
    Bare,
    Job,
    Static,
}

fn role(kind: &str) -> Role {
    match kind {
        "Deployment" | "ReplicaSet" | "ReplicationController" => Role::Replay(Kind::Deployment),
        "StatefulSet" => Role::Replay(Kind::StatefulSet),
        "DaemonSet" => Role::Replay(Kind::DaemonSet),
        "CronJob" => Role::Replay(Kind::CronJob),
        "Pod" => Role::Bare,
        "Job" => Role::Job,
        // Static pods: their mirror pods are owned by the node.
        "Node" => Role::Static,
        _ => Role::Custom,
    }
}

/// Names, the first few spelled out: `a, b, c and 4 more`.
fn listed(names: &[String]) -> String {
    let shown = names[..names.len().min(LISTED)].join(", ");
    match names.len().saturating_sub(LISTED) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// Warnings about series the cost fetch found empty, in terms of the replay.
fn missing_series(data: &Dataset) -> Vec<String> {
    let mut warnings = Vec::new();
    let containers = &data.containers;
    if !containers.is_empty() {
        let any = |track: TrackOf| {
            containers
                .iter()
                .any(|c| track(c).iter().any(|v| v.is_finite()))
        };
        let checks: [(TrackOf, &str); 4] = [
            (
                |c| &c.cpu_request,
                "kube_pod_container_resource_requests{resource=\"cpu\"} has no series: workloads are replayed with no CPU requests, so placement by requests ignores CPU; install kube-state-metrics",
            ),
            (
                |c| &c.memory_request,
                "kube_pod_container_resource_requests{resource=\"memory\"} has no series: workloads are replayed with no memory requests, so placement by requests ignores memory; install kube-state-metrics",
            ),
            (
                cpu_usage,
                "container_cpu_usage_seconds_total has no series: each replica is replayed as using its CPU request, so hot nodes cannot show; scrape the kubelets' cAdvisor endpoint",
            ),
            (
                memory_usage,
                "container_memory_working_set_bytes has no series: each replica is replayed as using its memory request; scrape the kubelets' cAdvisor endpoint",
            ),
        ];
        if containers.iter().all(|c| c.running.is_empty()) {
            warnings.push("kube_pod_container_status_running has no series: a pod counts as running while it has requests or usage, so finished pods may be replayed as replicas; install kube-state-metrics".to_string());
        }
        for (track, text) in checks {
            if !any(track) {
                warnings.push(text.to_string());
            }
        }
        let owners = &data.owners;
        if owners.pods.is_empty() {
            warnings.push("no kube_pod_owner: pods cannot be grouped into workloads, so nothing can be replayed; install kube-state-metrics".to_string());
        }
        let owned_by = |kind: &str| owners.pods.values().any(|(k, _)| k == kind);
        if owners.replica_sets.is_empty() && owned_by("ReplicaSet") {
            warnings.push("kube_replicaset_owner has no series: each ReplicaSet is replayed as its own Deployment, so a Deployment caught mid-rollout shows as two; install kube-state-metrics".to_string());
        }
        if owners.jobs.is_empty() && owned_by("Job") {
            warnings.push("kube_job_owner has no series: CronJob runs cannot be told from one-off Jobs, so none is replayed; install kube-state-metrics".to_string());
        }
    }
    if !data.nodes.is_empty() && data.nodes.iter().all(|n| n.labels.is_none()) {
        warnings.push("kube_node_labels has no series: nodes have no zones, so the replay's zone spreading sees one zone; install kube-state-metrics".to_string());
    }
    warnings
}

fn coverage(data: &Dataset, first: usize) -> Vec<String> {
    let tl = data.timeline;
    let mut warnings = Vec::new();
    if first > 0 {
        warnings.push(format!(
            "the window starts at {} but the data only at {}: the replay starts from the cluster as it was then, and replays the first values seen for the {:.1} h before; use a shorter --window or check Prometheus's retention",
            utc(tl.start),
            utc(tl.time(first) - tl.step_secs),
            first as f64 * tl.step_hours(),
        ));
    }
    if let Some(last) = (0..tl.steps).rev().find(|&i| observed_at(data, i))
        && last + 1 < tl.steps
    {
        warnings.push(format!(
            "the data stops at {}, {:.1} h before the window ends: the replay holds the last values seen to the end",
            utc(tl.time(last)),
            (tl.steps - 1 - last) as f64 * tl.step_hours(),
        ));
    }
    warnings
}

/// The nodes of the window's start (those with node series then, and those the starting
/// pods ran on), by name.
fn nodes(
    data: &Dataset,
    state: &StartState,
    first: usize,
    pods: &[ObservedPod<'_>],
    warnings: &mut Vec<String>,
) -> Vec<NodeSpec> {
    let by_name: BTreeMap<&str, &tidal_cost::NodeData> =
        data.nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let mut names: BTreeSet<&str> = state.allocatable.keys().map(String::as_str).collect();
    names.extend(
        data.nodes
            .iter()
            .filter(|n| finite(&n.cpu_cores, first).is_some())
            .map(|n| n.name.as_str()),
    );
    names.extend(
        pods.iter()
            .filter(|p| p.runs_at(first))
            .filter_map(|p| p.node.as_deref())
            .filter(|n| by_name.contains_key(n)),
    );
    names.remove("");
    let mut capacity_only = Vec::new();
    let mut unknown = Vec::new();
    let mut no_zone = 0;
    let specs: Vec<NodeSpec> = names
        .iter()
        .map(|&name| {
            let node = by_name.get(name);
            let allocatable = state.allocatable.get(name).copied().unwrap_or_default();
            // Capacity from the first step the node has it.
            let capacity = |track: fn(&tidal_cost::NodeData) -> &[f64]| {
                node.and_then(|n| {
                    track(n)[first.min(track(n).len())..]
                        .iter()
                        .copied()
                        .find(|v| v.is_finite())
                })
            };
            let cpu = allocatable.cpu.or_else(|| capacity(|n| &n.cpu_cores));
            let memory = allocatable.memory.or_else(|| capacity(|n| &n.memory_bytes));
            if allocatable.cpu.is_none() || allocatable.memory.is_none() {
                if cpu.is_some() && memory.is_some() {
                    capacity_only.push(name.to_string());
                } else {
                    unknown.push(name.to_string());
                }
            }
            let mut labels = BTreeMap::new();
            if let Some(kube) = node.and_then(|n| n.labels.as_ref()) {
                for (key, names) in [(ZONE, ZONE_LABELS), (REGION, REGION_LABELS)] {
                    if let Some(value) = names
                        .iter()
                        .find_map(|l| kube.get(*l))
                        .filter(|v| !v.is_empty())
                    {
                        labels.insert(key.to_string(), value.clone());
                    }
                }
            }
            if !labels.contains_key(ZONE) {
                no_zone += 1;
            }
            NodeSpec {
                name: name.to_string(),
                allocatable: Resources {
                    cpu_milli: millis(cpu.unwrap_or(0.0)),
                    memory_bytes: memory.unwrap_or(0.0).round() as i64,
                },
                max_pods: allocatable.pods.and_then(count).unwrap_or(DEFAULT_MAX_PODS),
                labels,
                taints: state.taints.get(name).cloned().unwrap_or_default(),
            }
        })
        .collect();
    if !capacity_only.is_empty() {
        warnings.push(format!(
            "{} nodes have no kube_node_status_allocatable series ({}): their capacity is used instead, so the replay fits a little more on them than the kubelet would; install kube-state-metrics",
            capacity_only.len(),
            listed(&capacity_only)
        ));
    }
    if !unknown.is_empty() {
        warnings.push(format!(
            "{} nodes have no CPU or memory capacity in kube-state-metrics ({}): the replay gives them none, so nothing new fits there",
            unknown.len(),
            listed(&unknown)
        ));
    }
    let labelled = data.nodes.iter().any(|n| n.labels.is_some());
    if labelled && no_zone > 0 {
        warnings.push(format!(
            "{no_zone} of {} nodes have no topology.kubernetes.io/zone in kube_node_labels (kube-state-metrics exports only the labels in its --metric-labels-allowlist): the replay's zone spreading treats them as one zone",
            specs.len()
        ));
    }
    let joined: Vec<String> = data
        .nodes
        .iter()
        .filter(|n| !names.contains(n.name.as_str()))
        .filter(|n| n.cpu_cores.iter().any(|v| v.is_finite()))
        .map(|n| n.name.clone())
        .collect();
    if !joined.is_empty() {
        warnings.push(format!(
            "{} nodes joined after the window's start ({}): the replay keeps the nodes of the start, so their capacity is missing and later demand may stay pending",
            joined.len(),
            listed(&joined)
        ));
    }
    specs
}

/// What the replay makes of the pods of one controller.
struct Built {
    spec: WorkloadSpec,
    placement: Vec<Option<usize>>,
}

/// The context every workload is built in.
struct Context<'a> {
    steps: usize,
    first: usize,
    state: &'a StartState,
    node_index: HashMap<&'a str, usize>,
    nodes: &'a [NodeSpec],
    /// Whether cAdvisor sent any CPU / memory series at all (else one warning says so).
    cpu_seen: bool,
    memory_seen: bool,
}

/// Per-workload problems, gathered into one warning each.
#[derive(Default)]
struct Notes {
    started_later: Vec<String>,
    no_cpu: Vec<String>,
    no_memory: Vec<String>,
    custom: Vec<String>,
    unplaced: Vec<String>,
    partial_daemonsets: Vec<String>,
    irregular_cron: Vec<String>,
    rare_cron: Vec<String>,
}

impl Context<'_> {
    /// The per-replica curve over the steps: at each step, the mean over the pods
    /// running then with a value; gaps hold the last value (the first one before it).
    fn curve(&self, pods: &[&ObservedPod<'_>], track: TrackOf) -> Option<Vec<f32>> {
        let values: Vec<f64> = (0..self.steps)
            .map(|i| {
                let (sum, n) = pods
                    .iter()
                    .filter(|p| p.runs_at(i))
                    .filter_map(|p| p.total(i, track))
                    .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
                if n == 0 { f64::NAN } else { sum / n as f64 }
            })
            .collect();
        let mut last = values.iter().copied().find(|v| v.is_finite())?;
        Some(
            values
                .into_iter()
                .map(|v| {
                    if v.is_finite() {
                        last = v;
                    }
                    last as f32
                })
                .collect(),
        )
    }

    /// The mean over every pod-step with a value (a CronJob's pods).
    fn mean(&self, pods: &[&ObservedPod<'_>], track: TrackOf) -> Option<f64> {
        let (sum, n) = pods
            .iter()
            .flat_map(|p| {
                (0..self.steps)
                    .filter(|&i| p.runs_at(i))
                    .filter_map(move |i| p.total(i, track))
            })
            .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
        (n > 0).then(|| sum / n as f64)
    }

    /// Usage shapes, the requests standing in where cAdvisor has nothing.
    fn shapes(
        &self,
        pods: &[&ObservedPod<'_>],
        requests: Resources,
        constant: bool,
        name: &str,
        notes: &mut Notes,
    ) -> (Shape, Shape) {
        let shape = |track: TrackOf| {
            if constant {
                self.mean(pods, track).map(Shape::constant)
            } else {
                self.curve(pods, track).map(|v| Shape::new(v, 0.0))
            }
        };
        let cpu = shape(cpu_usage).unwrap_or_else(|| {
            if self.cpu_seen {
                notes.no_cpu.push(name.to_string());
            }
            Shape::constant(requests.cpu_milli as f64 / 1000.0)
        });
        let memory = shape(memory_usage).unwrap_or_else(|| {
            if self.memory_seen {
                notes.no_memory.push(name.to_string());
            }
            Shape::constant(requests.memory_bytes as f64)
        });
        (cpu, memory)
    }

    /// The largest requests and limits among `pods` (a limit only if all have one).
    fn resources(
        &self,
        pods: &[&ObservedPod<'_>],
        at: impl Fn(&ObservedPod<'_>) -> usize,
    ) -> (Resources, PodLimits) {
        let mut requests = Resources::default();
        let mut cpu_limit = Some(0);
        let mut memory_limit = Some(0);
        for pod in pods {
            requests = requests.max(pod.requests(at(pod)));
            let limits = pod.limits(&self.state.cpu_limits);
            cpu_limit = cpu_limit.zip(limits.cpu_milli).map(|(a, b)| a.max(b));
            memory_limit = memory_limit.zip(limits.memory_bytes).map(|(a, b)| a.max(b));
        }
        let limits = PodLimits {
            cpu_milli: cpu_limit.filter(|&m| m > 0),
            memory_bytes: memory_limit.filter(|&m| m > 0),
        };
        (requests, limits)
    }

    /// What the pods tolerated, and the taints of the nodes they ran on at the start.
    fn tolerations(
        &self,
        pods: &[&ObservedPod<'_>],
        placement: &[Option<usize>],
    ) -> Vec<Toleration> {
        let mut tolerations: Vec<Toleration> = Vec::new();
        let mut add = |t: Toleration| {
            if !tolerations.contains(&t) {
                tolerations.push(t);
            }
        };
        for pod in pods {
            let key = (pod.namespace.to_string(), pod.name.to_string());
            for t in self.state.tolerations.get(&key).into_iter().flatten() {
                add(t.clone());
            }
        }
        for &n in placement.iter().flatten() {
            for taint in &self.nodes[n].taints {
                if matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute") {
                    add(Toleration {
                        key: Some(taint.key.clone()),
                        operator: Some("Exists".to_string()),
                        effect: Some(taint.effect.clone()),
                        value: None,
                        toleration_seconds: None,
                    });
                }
            }
        }
        tolerations
    }

    fn spec(
        &self,
        (namespace, name, kind): (&str, &str, Kind),
        replicas: u32,
        (requests, limits): (Resources, PodLimits),
        (cpu, memory): (Shape, Shape),
        cron: Option<Cron>,
        tolerations: Vec<Toleration>,
    ) -> WorkloadSpec {
        WorkloadSpec {
            namespace: namespace.to_string(),
            name: name.to_string(),
            kind,
            replicas,
            priority: 0,
            requests,
            limits,
            cpu,
            memory,
            pdb: None,
            restart_every: None,
            hpa: None,
            cron,
            node_selector: BTreeMap::new(),
            tolerations,
        }
    }

    /// A Deployment, StatefulSet or DaemonSet: its pods running at the start, placed
    /// where they ran.
    fn replicated(
        &self,
        (namespace, name, kind): (&str, &str, Kind),
        pods: &[&ObservedPod<'_>],
        notes: &mut Notes,
    ) -> Option<Built> {
        let display = format!("{} {namespace}/{name}", kind.as_str());
        let mut start: Vec<&ObservedPod<'_>> = pods
            .iter()
            .copied()
            .filter(|p| p.runs_at(self.first))
            .collect();
        if start.is_empty() {
            notes.started_later.push(display);
            return None;
        }
        start.sort_by(|a, b| slot_order(a.name).cmp(&slot_order(b.name)));
        let mut placement: Vec<Option<usize>> = start
            .iter()
            .map(|p| {
                let node = p
                    .node
                    .as_deref()
                    .and_then(|n| self.node_index.get(n).copied());
                if node.is_none() {
                    notes.unplaced.push(p.display());
                }
                node
            })
            .collect();
        if kind == Kind::DaemonSet {
            // One pod per node: slot i on the i-th node it ran on.
            placement.sort_by_key(|n| n.unwrap_or(usize::MAX));
            placement.dedup_by(|a, b| a.is_some() && a == b);
            let placed = placement.iter().flatten().count();
            if placed < self.nodes.len() {
                notes
                    .partial_daemonsets
                    .push(format!("{display} ({placed} of {})", self.nodes.len()));
            }
        }
        let resources = self.resources(&start, |_| self.first);
        let shapes = self.shapes(pods, resources.0, false, &display, notes);
        let tolerations = self.tolerations(pods, &placement);
        let replicas = placement.len() as u32;
        Some(Built {
            spec: self.spec(
                (namespace, name, kind),
                replicas,
                resources,
                shapes,
                None,
                tolerations,
            ),
            placement,
        })
    }

    /// A CronJob: its schedule and run length estimated from its Jobs' runs.
    fn cron_job(
        &self,
        (namespace, name): (&str, &str),
        pods: &[&ObservedPod<'_>],
        owners: &tidal_cost::Owners,
        notes: &mut Notes,
    ) -> Option<Built> {
        let display = format!("CronJob {namespace}/{name}");
        // Runs by Job: (first step, last step, pods).
        let mut runs: BTreeMap<String, (usize, usize, u32)> = BTreeMap::new();
        for pod in pods {
            let key = (pod.namespace.to_string(), pod.name.to_string());
            let job = owners
                .pods
                .get(&key)
                .map_or_else(|| pod.name.to_string(), |(_, job)| job.clone());
            let (Some(from), Some(to)) = (pod.first_run(self.steps), pod.last_run(self.steps))
            else {
                continue;
            };
            let run = runs.entry(job).or_insert((from, to, 0));
            run.0 = run.0.min(from);
            run.1 = run.1.max(to);
            run.2 += 1;
        }
        // A run under way at the start began earlier; one at the end may go on.
        let mut starts: Vec<usize> = runs
            .values()
            .filter(|r| r.0 > self.first)
            .map(|r| r.0)
            .collect();
        starts.sort_unstable();
        let gaps: Vec<usize> = starts
            .windows(2)
            .map(|w| w[1] - w[0])
            .filter(|&g| g > 0)
            .collect();
        let Some(every) = median(&gaps) else {
            notes
                .rare_cron
                .push(format!("{display} ({} runs begun)", starts.len()));
            return None;
        };
        let complete: Vec<usize> = runs
            .values()
            .filter(|r| r.0 > self.first && r.1 + 1 < self.steps)
            .map(|r| r.1 - r.0 + 1)
            .collect();
        let all: Vec<usize> = runs.values().map(|r| r.1 - r.0 + 1).collect();
        let run_for = median(&complete)
            .or_else(|| median(&all))
            .unwrap_or(1)
            .max(1);
        let per_run: Vec<usize> = runs.values().map(|r| r.2 as usize).collect();
        let replicas = median(&per_run).unwrap_or(1).max(1) as u32;
        let (min_gap, max_gap) = (gaps.iter().min(), gaps.iter().max());
        if let (Some(&lo), Some(&hi)) = (min_gap, max_gap)
            && hi * 2 > lo * 3
        {
            notes.irregular_cron.push(display.clone());
        }
        let resources = self.resources(pods, |p| p.first_run(self.steps).unwrap_or(0));
        let shapes = self.shapes(pods, resources.0, true, &display, notes);
        let tolerations = self.tolerations(pods, &[]);
        Some(Built {
            spec: self.spec(
                (namespace, name, Kind::CronJob),
                replicas,
                resources,
                shapes,
                Some(Cron { every, run_for }),
                tolerations,
            ),
            placement: Vec::new(),
        })
    }
}

/// The median (the upper one of an even count).
fn median(values: &[usize]) -> Option<usize> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied()
}

/// The trace from the fetched data and the start state; pure, so testable without Prometheus.
fn assemble(
    data: &Dataset,
    state: &StartState,
    first: usize,
) -> Result<(Trace, Vec<String>), BuildError> {
    let tl = data.timeline;
    let at = utc(tl.time(first) - tl.step_secs);
    let mut warnings = missing_series(data);
    warnings.extend(coverage(data, first));
    let pods = observed_pods(data, state);
    let nodes = nodes(data, state, first, &pods, &mut warnings);
    if nodes.is_empty() {
        return Err(BuildError::NoNodes { at });
    }
    let has = |track: TrackOf| {
        data.containers
            .iter()
            .any(|c| track(c).iter().any(|v| v.is_finite()))
    };
    let cx = Context {
        steps: tl.steps,
        first,
        state,
        node_index: nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect(),
        nodes: &nodes,
        cpu_seen: has(cpu_usage),
        memory_seen: has(memory_usage),
    };

    // Pods by controller: (namespace, kind, name).
    let mut groups: BTreeMap<(String, String, String), Vec<&ObservedPod<'_>>> = BTreeMap::new();
    for pod in &pods {
        let owner = resolve_owner(&data.owners, pod.namespace, pod.name);
        groups
            .entry((owner.namespace, owner.kind, owner.name))
            .or_default()
            .push(pod);
    }
    let mut notes = Notes::default();
    let (mut bare, mut jobs, mut statics) = (Vec::new(), Vec::new(), Vec::new());
    let mut built: Vec<Built> = Vec::new();
    for ((namespace, kind, name), group) in &groups {
        let id = (namespace.as_str(), name.as_str());
        let workload = match role(kind) {
            Role::Replay(Kind::CronJob) => cx.cron_job(id, group, &data.owners, &mut notes),
            Role::Replay(k) => cx.replicated((id.0, id.1, k), group, &mut notes),
            Role::Custom => {
                notes.custom.push(format!("{kind} {namespace}/{name}"));
                cx.replicated((id.0, id.1, Kind::Deployment), group, &mut notes)
            }
            Role::Bare => {
                bare.extend(group.iter().map(|p| p.display()));
                None
            }
            Role::Job => {
                jobs.push(format!("{namespace}/{name}"));
                None
            }
            Role::Static => {
                statics.extend(group.iter().map(|p| p.display()));
                None
            }
        };
        built.extend(workload);
    }

    let mut said = |names: &[String], text: &str| {
        if !names.is_empty() {
            warnings.push(format!("{} {text} ({})", names.len(), listed(names)));
        }
    };
    said(
        &bare,
        "bare pods (no controller in kube_pod_owner) are not replayed: nothing would recreate them, and their usage is missing from the replay",
    );
    said(
        &jobs,
        "one-off Jobs (not owned by a CronJob) are not replayed, and their usage is missing from the replay",
    );
    said(
        &statics,
        "static pods (owned by their node) are not replayed, and their usage is missing from the replay",
    );
    said(
        &notes.started_later,
        "workloads had no pod running at the window's start and are not replayed (the replay has no workloads that appear later)",
    );
    said(
        &notes.custom,
        "workloads are controlled by kinds the replay does not model and are replayed as Deployments",
    );
    said(
        &notes.no_cpu,
        "workloads have no container_cpu_usage_seconds_total series: each replica is replayed as using its CPU request",
    );
    said(
        &notes.no_memory,
        "workloads have no container_memory_working_set_bytes series: each replica is replayed as using its memory request",
    );
    said(
        &notes.unplaced,
        "pods running at the start have no known node among the replay's nodes (no node label on their requests or cAdvisor series, no kube_pod_info, or a node without kube-state-metrics series): they start pending and the policy places them",
    );
    said(
        &notes.partial_daemonsets,
        "DaemonSets ran on only some nodes at the start: node selectors are not in kube-state-metrics, so the replay runs them on every node whose taints they tolerate",
    );
    said(
        &notes.rare_cron,
        "CronJobs began fewer than 2 runs after the window's start, too few to estimate their schedule, and are not replayed (their usage is missing from the replay)",
    );
    said(
        &notes.irregular_cron,
        "CronJobs ran at irregular intervals: the replay runs them at their median interval",
    );

    if built.is_empty() {
        let why = if warnings.is_empty() {
            "no pods in the data".to_string()
        } else {
            warnings.join("; ")
        };
        return Err(BuildError::NoWorkloads { at, why });
    }
    let (mut workloads, placement): (Vec<WorkloadSpec>, Vec<Vec<Option<usize>>>) =
        built.into_iter().map(|b| (b.spec, b.placement)).unzip();
    let unmatched = attach_pdbs(&mut workloads, &state.pdbs);
    if !unmatched.is_empty() {
        warnings.push(format!(
            "{} PodDisruptionBudgets could not be matched to a workload ({}): kube-state-metrics does not export their selectors, so a PDB is matched by name or by its expected pod count; the replay ignores these, so it may evict more than they allow",
            unmatched.len(),
            listed(&unmatched)
        ));
    }
    let trace = Trace {
        step: Duration::from_secs(tl.step_secs as u64),
        steps: tl.steps,
        seed: 0,
        nodes,
        workloads,
        placement: Some(placement),
    };
    Ok((trace, warnings))
}

/// Gives each PDB to the workload of its namespace named like it (`web`, `web-pdb`,
/// `pdb-web`), else to the only one whose replicas are the PDB's expected pods, as
/// `minAvailable: desired_healthy`. Returns the PDBs matched to no workload.
fn attach_pdbs(workloads: &mut [WorkloadSpec], pdbs: &[ObservedPdb]) -> Vec<String> {
    let mut unmatched = Vec::new();
    for pdb in pdbs {
        if pdb.expected_pods == Some(0) {
            // Selects nothing running: nothing to protect.
            continue;
        }
        let name = pdb.name.as_str();
        let stripped = name
            .strip_suffix("-pdb")
            .or_else(|| name.strip_prefix("pdb-"))
            .unwrap_or(name);
        let candidates: Vec<usize> = (0..workloads.len())
            .filter(|&w| {
                workloads[w].namespace == pdb.namespace && workloads[w].kind != Kind::CronJob
            })
            .collect();
        let only = |matching: Vec<usize>| (matching.len() == 1).then(|| matching[0]);
        let by_name = only(
            candidates
                .iter()
                .copied()
                .filter(|&w| workloads[w].name == name || workloads[w].name == stripped)
                .collect(),
        );
        let by_count = || {
            let expected = pdb.expected_pods?;
            only(
                candidates
                    .iter()
                    .copied()
                    .filter(|&w| workloads[w].replicas == expected)
                    .collect(),
            )
        };
        match by_name.or_else(by_count) {
            Some(w) => {
                let stricter = match workloads[w].pdb {
                    Some(Pdb::MinAvailable(Amount::Count(n))) => n.max(pdb.desired_healthy),
                    _ => pdb.desired_healthy,
                };
                workloads[w].pdb = Some(Pdb::MinAvailable(Amount::Count(stricter)));
            }
            None => unmatched.push(format!("{}/{}", pdb.namespace, pdb.name)),
        }
    }
    unmatched
}
