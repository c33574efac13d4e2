//! The trace from what the store returned: pure, so testable without Prometheus.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use k8s_openapi::api::core::v1::Toleration;
use tidal_core::resources::{PodLimits, Resources};
use tidal_cost::ContainerKey;
use tidal_cost::allocate::{Workload, workload as resolve_owner};
use tidal_cost::render::utc;

use super::BuildError;
use super::history::{History, Run, Usage, WorkloadUsage};
use super::start::{NodeResources, ObservedPdb, PodKey, Requests, StartState, count};
use crate::trace::{Amount, Cron, Kind, NodeSpec, Pdb, Shape, Trace, WorkloadSpec};

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

/// A pod seen in the window, its containers' requests and limits summed.
struct ObservedPod {
    namespace: String,
    name: String,
    node: Option<String>,
    running_at_start: bool,
    requests: Resources,
    limits: PodLimits,
}

impl ObservedPod {
    fn display(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

fn millis(cores: f64) -> i64 {
    (cores * 1000.0).round() as i64
}

/// Every pod the window knows of (from its containers' requests and limits, its owner, or its
/// running at the start), by name.
fn observed_pods(history: &History, state: &StartState) -> Vec<ObservedPod> {
    let memory_limits = &history.instants.memory_limits;
    let mut containers: BTreeMap<PodKey, BTreeSet<&str>> = BTreeMap::new();
    let keys = state
        .requests
        .keys()
        .chain(state.cpu_limits.keys())
        .chain(memory_limits.keys());
    for key in keys {
        containers
            .entry((key.namespace.clone(), key.pod.clone()))
            .or_default()
            .insert(&key.container);
    }
    for pod in history.instants.owners.pods.keys().chain(&state.running) {
        containers.entry(pod.clone()).or_default();
    }
    containers
        .into_iter()
        .filter(|((_, name), _)| !name.is_empty())
        .map(|(pod, names)| {
            let keys: Vec<ContainerKey> = names
                .iter()
                .map(|&container| ContainerKey {
                    namespace: pod.0.clone(),
                    pod: pod.1.clone(),
                    container: container.to_string(),
                })
                .collect();
            let requests: Vec<_> = keys.iter().filter_map(|k| state.requests.get(k)).collect();
            let cpu: f64 = requests.iter().filter_map(|r| r.cpu).sum();
            let memory: f64 = requests.iter().filter_map(|r| r.memory).sum();
            // A container without a limit leaves the pod uncapped.
            let cpu_limit: Option<f64> =
                keys.iter().map(|k| state.cpu_limits.get(k).copied()).sum();
            let memory_limit: Option<f64> =
                keys.iter().map(|k| memory_limits.get(k).copied()).sum();
            // Where it ran at the start, else where its requests last said.
            let node = state
                .pod_nodes
                .get(&pod)
                .cloned()
                .or_else(|| requests.iter().find_map(|r| r.node.clone()));
            ObservedPod {
                running_at_start: state.running.contains(&pod),
                node,
                requests: Resources {
                    cpu_milli: millis(cpu),
                    memory_bytes: memory.round() as i64,
                },
                limits: PodLimits {
                    cpu_milli: cpu_limit.map(millis).filter(|&m| m > 0),
                    memory_bytes: memory_limit.map(|m| m.round() as i64).filter(|&m| m > 0),
                },
                namespace: pod.0,
                name: pod.1,
            }
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

/// Warnings about series the store had none of, in terms of the replay.
fn missing_series(history: &History, state: &StartState, any_pod: bool) -> Vec<String> {
    let mut warnings = Vec::new();
    if any_pod {
        let requested = |resource: fn(&Requests) -> Option<f64>| {
            state.requests.values().any(|r| resource(r).is_some())
        };
        let checks = [
            (
                requested(|r| r.cpu),
                "kube_pod_container_resource_requests{resource=\"cpu\"} has no series: workloads are replayed with no CPU requests, so placement by requests ignores CPU; install kube-state-metrics",
            ),
            (
                requested(|r| r.memory),
                "kube_pod_container_resource_requests{resource=\"memory\"} has no series: workloads are replayed with no memory requests, so placement by requests ignores memory; install kube-state-metrics",
            ),
            (
                history.cpu_seen,
                "container_cpu_usage_seconds_total has no series: each replica is replayed as using its CPU request, so hot nodes cannot show; scrape the kubelets' cAdvisor endpoint",
            ),
            (
                history.memory_seen,
                "container_memory_working_set_bytes has no series: each replica is replayed as using its memory request; scrape the kubelets' cAdvisor endpoint",
            ),
        ];
        if !history.running_metric {
            warnings.push("kube_pod_container_status_running has no series: a pod counts as running while it has requests or usage, so finished pods may be replayed as replicas; install kube-state-metrics".to_string());
        }
        for (seen, text) in checks {
            if !seen {
                warnings.push(text.to_string());
            }
        }
        let owners = &history.instants.owners;
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
    if !state.capacity_seen.is_empty() && history.instants.node_labels.is_empty() {
        warnings.push("kube_node_labels has no series: nodes have no zones, so the replay's zone spreading sees one zone; install kube-state-metrics".to_string());
    }
    warnings
}

fn coverage(history: &History, (first, last): (usize, usize)) -> Vec<String> {
    let tl = history.timeline;
    let mut warnings = Vec::new();
    if first > 0 {
        warnings.push(format!(
            "the window starts at {} but the data only at {}: the replay starts from the cluster as it was then, and replays the first values seen for the {:.1} h before; use a shorter --window or check Prometheus's retention",
            utc(tl.start),
            utc(tl.time(first) - tl.step_secs),
            first as f64 * tl.step_hours(),
        ));
    }
    if last + 1 < tl.steps {
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
    history: &History,
    state: &StartState,
    pods: &[ObservedPod],
    warnings: &mut Vec<String>,
) -> Vec<NodeSpec> {
    let mut names: BTreeSet<&str> = state.allocatable.keys().map(String::as_str).collect();
    names.extend(state.capacity.keys().map(String::as_str));
    names.extend(
        pods.iter()
            .filter(|p| p.running_at_start)
            .filter_map(|p| p.node.as_deref())
            .filter(|n| state.capacity_seen.contains_key(*n)),
    );
    names.remove("");
    let node_labels = &history.instants.node_labels;
    let mut capacity_only = Vec::new();
    let mut unknown = Vec::new();
    let mut no_zone = 0;
    let specs: Vec<NodeSpec> = names
        .iter()
        .map(|&name| {
            let allocatable = state.allocatable.get(name).copied().unwrap_or_default();
            // Capacity at the start, else as last seen.
            let capacity = |resource: fn(&NodeResources) -> Option<f64>| {
                [&state.capacity, &state.capacity_seen]
                    .iter()
                    .find_map(|nodes| nodes.get(name).and_then(resource))
            };
            let cpu = allocatable.cpu.or_else(|| capacity(|n| n.cpu));
            let memory = allocatable.memory.or_else(|| capacity(|n| n.memory));
            if allocatable.cpu.is_none() || allocatable.memory.is_none() {
                if cpu.is_some() && memory.is_some() {
                    capacity_only.push(name.to_string());
                } else {
                    unknown.push(name.to_string());
                }
            }
            let mut labels = BTreeMap::new();
            if let Some(kube) = node_labels.get(name) {
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
    let labelled = !node_labels.is_empty();
    if labelled && no_zone > 0 {
        warnings.push(format!(
            "{no_zone} of {} nodes have no topology.kubernetes.io/zone in kube_node_labels (kube-state-metrics exports only the labels in its --metric-labels-allowlist): the replay's zone spreading treats them as one zone",
            specs.len()
        ));
    }
    let joined: Vec<String> = state
        .capacity_seen
        .keys()
        .filter(|n| !names.contains(n.as_str()))
        .cloned()
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
    usage: &'a BTreeMap<Workload, WorkloadUsage>,
    runs: &'a BTreeMap<Workload, Vec<Run>>,
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
    /// Usage shapes (per step, or `constant`: the mean over every pod-step), the requests
    /// standing in where cAdvisor has nothing.
    fn shapes(
        &self,
        (workload, display): (&Workload, &str),
        requests: Resources,
        constant: bool,
        notes: &mut Notes,
    ) -> (Shape, Shape) {
        let usage = self.usage.get(workload);
        let shape = |track: fn(&WorkloadUsage) -> &Usage| {
            let track = track(usage?);
            if constant {
                track.mean().map(Shape::constant)
            } else {
                track.curve().map(|v| Shape::new(v, 0.0))
            }
        };
        let cpu = shape(|u| &u.cpu).unwrap_or_else(|| {
            if self.cpu_seen {
                notes.no_cpu.push(display.to_string());
            }
            Shape::constant(requests.cpu_milli as f64 / 1000.0)
        });
        let memory = shape(|u| &u.memory).unwrap_or_else(|| {
            if self.memory_seen {
                notes.no_memory.push(display.to_string());
            }
            Shape::constant(requests.memory_bytes as f64)
        });
        (cpu, memory)
    }

    /// The largest requests and limits among `pods` (a limit only if all have one).
    fn resources(pods: &[&ObservedPod]) -> (Resources, PodLimits) {
        let mut requests = Resources::default();
        let mut cpu_limit = Some(0);
        let mut memory_limit = Some(0);
        for pod in pods {
            requests = requests.max(pod.requests);
            cpu_limit = cpu_limit.zip(pod.limits.cpu_milli).map(|(a, b)| a.max(b));
            memory_limit = memory_limit
                .zip(pod.limits.memory_bytes)
                .map(|(a, b)| a.max(b));
        }
        let limits = PodLimits {
            cpu_milli: cpu_limit.filter(|&m| m > 0),
            memory_bytes: memory_limit.filter(|&m| m > 0),
        };
        (requests, limits)
    }

    /// What the pods tolerated, and the taints of the nodes they ran on at the start.
    fn tolerations(&self, pods: &[&ObservedPod], placement: &[Option<usize>]) -> Vec<Toleration> {
        let mut tolerations: Vec<Toleration> = Vec::new();
        let mut add = |t: Toleration| {
            if !tolerations.contains(&t) {
                tolerations.push(t);
            }
        };
        for pod in pods {
            let key = (pod.namespace.clone(), pod.name.clone());
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
        (workload, kind): (&Workload, Kind),
        pods: &[&ObservedPod],
        notes: &mut Notes,
    ) -> Option<Built> {
        let (namespace, name) = (workload.namespace.as_str(), workload.name.as_str());
        let display = format!("{} {namespace}/{name}", kind.as_str());
        let mut start: Vec<&ObservedPod> = pods
            .iter()
            .copied()
            .filter(|p| p.running_at_start)
            .collect();
        if start.is_empty() {
            notes.started_later.push(display);
            return None;
        }
        start.sort_by(|a, b| slot_order(&a.name).cmp(&slot_order(&b.name)));
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
        let resources = Self::resources(&start);
        let shapes = self.shapes((workload, &display), resources.0, false, notes);
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
        workload: &Workload,
        pods: &[&ObservedPod],
        notes: &mut Notes,
    ) -> Option<Built> {
        let (namespace, name) = (workload.namespace.as_str(), workload.name.as_str());
        let display = format!("CronJob {namespace}/{name}");
        let runs = self.runs.get(workload).map_or(&[][..], Vec::as_slice);
        // A run under way at the start began earlier; one at the end may go on.
        let mut starts: Vec<usize> = runs
            .iter()
            .filter(|r| r.first > self.first)
            .map(|r| r.first)
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
        let length = |r: &Run| r.last - r.first + 1;
        let complete: Vec<usize> = runs
            .iter()
            .filter(|r| r.first > self.first && r.last + 1 < self.steps)
            .map(length)
            .collect();
        let all: Vec<usize> = runs.iter().map(length).collect();
        let run_for = median(&complete)
            .or_else(|| median(&all))
            .unwrap_or(1)
            .max(1);
        let per_run: Vec<usize> = runs.iter().map(|r| r.pods as usize).collect();
        let replicas = median(&per_run).unwrap_or(1).max(1) as u32;
        let (min_gap, max_gap) = (gaps.iter().min(), gaps.iter().max());
        if let (Some(&lo), Some(&hi)) = (min_gap, max_gap)
            && hi * 2 > lo * 3
        {
            notes.irregular_cron.push(display.clone());
        }
        let resources = Self::resources(pods);
        let shapes = self.shapes((workload, &display), resources.0, true, notes);
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

/// The trace from the history and the start state; `span` is the first and last step with
/// data ([`History::observed_span`]).
pub(super) fn assemble(
    history: &History,
    state: &StartState,
    span @ (first, _): (usize, usize),
) -> Result<(Trace, Vec<String>), BuildError> {
    let tl = history.timeline;
    let at = utc(tl.time(first) - tl.step_secs);
    let pods = observed_pods(history, state);
    let mut warnings = missing_series(history, state, !pods.is_empty());
    warnings.extend(coverage(history, span));
    let nodes = nodes(history, state, &pods, &mut warnings);
    if nodes.is_empty() {
        return Err(BuildError::NoNodes { at });
    }
    let cx = Context {
        steps: tl.steps,
        first,
        state,
        usage: &history.usage,
        runs: &history.runs,
        node_index: nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect(),
        nodes: &nodes,
        cpu_seen: history.cpu_seen,
        memory_seen: history.memory_seen,
    };

    // Pods by controller.
    let owners = &history.instants.owners;
    let mut groups: BTreeMap<Workload, Vec<&ObservedPod>> = BTreeMap::new();
    for pod in &pods {
        let workload = resolve_owner(owners, &pod.namespace, &pod.name);
        groups.entry(workload).or_default().push(pod);
    }
    let mut notes = Notes::default();
    let (mut bare, mut jobs, mut statics) = (Vec::new(), Vec::new(), Vec::new());
    let mut built: Vec<Built> = Vec::new();
    for (workload, group) in &groups {
        let Workload {
            namespace,
            kind,
            name,
        } = workload;
        let replayed = match role(kind) {
            Role::Replay(Kind::CronJob) => cx.cron_job(workload, group, &mut notes),
            Role::Replay(k) => cx.replicated((workload, k), group, &mut notes),
            Role::Custom => {
                notes.custom.push(format!("{kind} {namespace}/{name}"));
                cx.replicated((workload, Kind::Deployment), group, &mut notes)
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
        built.extend(replayed);
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

#[cfg(test)]
mod tests {
    use tidal_cost::fetch::Instants;
    use tidal_cost::{Owners, Timeline};

    use super::*;

    const STEPS: usize = 12;
    const GIB: f64 = (1u64 << 30) as f64;

    fn pair(a: &str, b: &str) -> (String, String) {
        (a.to_string(), b.to_string())
    }

    fn container(namespace: &str, pod: &str) -> ContainerKey {
        ContainerKey {
            namespace: namespace.to_string(),
            pod: pod.to_string(),
            container: "main".to_string(),
        }
    }

    fn cron_job(name: &str) -> Workload {
        Workload {
            namespace: "batch".to_string(),
            kind: "CronJob".to_string(),
            name: name.to_string(),
        }
    }

    /// A Deployment of two pods at the start (one on a node the replay does not have), one
    /// whose pods came later, a CronJob run twice and one run once, and a PDB matched by its
    /// expected pods; no usage, so requests stand in.
    fn cluster() -> (History, StartState) {
        let mut owners = Owners::default();
        for (pod, rs) in [
            ("web-a-1", "web-a"),
            ("web-a-2", "web-a"),
            ("late-b-1", "late-b"),
        ] {
            owners
                .pods
                .insert(pair("shop", pod), pair("ReplicaSet", rs));
        }
        owners
            .replica_sets
            .insert(pair("shop", "web-a"), pair("Deployment", "web"));
        owners
            .replica_sets
            .insert(pair("shop", "late-b"), pair("Deployment", "late"));
        for (pod, job, cron) in [
            ("report-1-x", "report-1", "report"),
            ("report-2-x", "report-2", "report"),
            ("once-1-x", "once-1", "once"),
        ] {
            owners.pods.insert(pair("batch", pod), pair("Job", job));
            owners
                .jobs
                .insert(pair("batch", job), pair("CronJob", cron));
        }
        let run = |first, last| Run {
            first,
            last,
            pods: 1,
        };
        let history = History {
            timeline: Timeline {
                start: 1_000_000.0,
                step_secs: 300.0,
                steps: STEPS,
            },
            observed: vec![true; STEPS],
            usage: BTreeMap::new(),
            runs: BTreeMap::from([
                (cron_job("report"), vec![run(2, 3), run(8, 9)]),
                (cron_job("once"), vec![run(4, 4)]),
            ]),
            instants: Instants {
                owners,
                node_labels: BTreeMap::new(),
                memory_limits: HashMap::new(),
            },
            running_metric: true,
            cpu_seen: false,
            memory_seen: false,
        };
        let mut state = StartState::default();
        let node = NodeResources {
            cpu: Some(4.0),
            memory: Some(16.0 * GIB),
            pods: None,
        };
        state.allocatable.insert("node-a".to_string(), node);
        state.capacity_seen.insert("node-a".to_string(), node);
        for (pod, node) in [("web-a-1", "node-a"), ("web-a-2", "node-gone")] {
            state.running.insert(pair("shop", pod));
            state.pod_nodes.insert(pair("shop", pod), node.to_string());
        }
        let requests = |cpu: f64| Requests {
            cpu: Some(cpu),
            memory: Some(GIB),
            node: None,
        };
        for (namespace, pod, cpu) in [
            ("shop", "web-a-1", 0.25),
            ("shop", "web-a-2", 0.25),
            ("shop", "late-b-1", 0.1),
            ("batch", "report-1-x", 1.0),
            ("batch", "report-2-x", 1.5),
        ] {
            state
                .requests
                .insert(container(namespace, pod), requests(cpu));
        }
        state.pdbs.push(ObservedPdb {
            namespace: "shop".to_string(),
            name: "frontend".to_string(),
            desired_healthy: 1,
            expected_pods: Some(2),
        });
        (history, state)
    }

    #[test]
    fn controllers_become_workloads_and_what_cannot_be_replayed_is_said() {
        let (history, state) = cluster();
        let Ok((trace, warnings)) = assemble(&history, &state, (0, STEPS - 1)) else {
            panic!("no trace");
        };
        let names: Vec<String> = trace
            .workloads
            .iter()
            .map(WorkloadSpec::display_name)
            .collect();
        assert_eq!(names, ["CronJob batch/report", "Deployment shop/web"]);

        let report = &trace.workloads[0];
        assert_eq!(
            report.cron,
            Some(Cron {
                every: 6,
                run_for: 2
            })
        );
        assert_eq!(report.requests.cpu_milli, 1500, "the largest pod's");
        assert_eq!(report.cpu.mean(), 1.5, "requests stand in for usage");

        let web = &trace.workloads[1];
        assert_eq!(web.replicas, 2);
        assert_eq!(web.requests.cpu_milli, 250);
        assert_eq!(web.pdb, Some(Pdb::MinAvailable(Amount::Count(1))));
        assert_eq!(
            trace.placement,
            Some(vec![vec![], vec![Some(0), None]]),
            "web-a-2's node is not among the replay's"
        );

        let said = |text: &str, name: &str| {
            assert!(
                warnings
                    .iter()
                    .any(|w| w.contains(text) && w.contains(name)),
                "no warning with {text:?} naming {name}: {warnings:#?}"
            );
        };
        said(
            "no pod running at the window's start",
            "Deployment shop/late",
        );
        said("fewer than 2 runs", "CronJob batch/once");
        said("no known node", "shop/web-a-2");
        said("container_cpu_usage_seconds_total has no series", "");
    }
}
