//! Where new pods go: kube-scheduler alone, kube-scheduler calling Tidal's extender, or
//! the oracle that knows every pod's future.

use std::borrow::Cow;
use std::time::SystemTime;

use k8s_openapi::api::core::v1::Pod as K8sPod;
use tidal_core::load::{Capacity, LoadSnapshot};
use tidal_core::node_identity::NodeInfo;
use tidal_scheduler_extender::cluster::RecentPod;
use tidal_scheduler_extender::extender::{Candidates, Request};
use tidal_scheduler_extender::wire::NodeName;
use tidal_scheduler_extender::{Extender, ExtenderConfig};

use super::state::Pod;
use super::world::{Prepared, World};
use crate::cluster::NodeState;
use crate::kube_scheduler::{self, KubeScheduler, SchedulerConfig};
use crate::policy::Placement as Kind;
use crate::trace::Kind as WorkloadKind;

/// The starting pods: (workload, replica slot, node), placed by requests.
pub type Start = Vec<(usize, u32, Option<usize>)>;

/// The cluster as it is today: the trace's observed placement, or every starting pod
/// placed by kube-scheduler's default profile in scheduling-queue order.
pub fn initial_placement(prepared: &Prepared<'_>) -> Start {
    let trace = prepared.trace;
    let mut pods: Vec<(usize, u32)> = Vec::new();
    for (w, spec) in trace.workloads.iter().enumerate() {
        let count = match spec.kind {
            WorkloadKind::CronJob => 0,
            WorkloadKind::DaemonSet => {
                let eligible = prepared.eligibility.for_workload(w);
                eligible.iter().filter(|&&e| e).count() as u32
            }
            _ => match spec.hpa {
                Some(hpa) => spec.replicas.clamp(hpa.min, hpa.max),
                None => spec.replicas,
            },
        };
        pods.extend((0..count).map(|slot| (w, slot)));
    }
    if let Some(observed) = &trace.placement {
        return pods
            .into_iter()
            .map(|(w, slot)| {
                let node = observed
                    .get(w)
                    .and_then(|p| p.get(slot as usize))
                    .copied()
                    .flatten();
                (w, slot, node)
            })
            .collect();
    }
    let mut nodes: Vec<NodeState> = trace.nodes.iter().map(NodeState::new).collect();
    let mut on_node = vec![vec![0u32; nodes.len()]; trace.workloads.len()];
    let mut scheduler = KubeScheduler::new(SchedulerConfig::default(), prepared.trace.seed);
    // Higher priority first, as the scheduling queue orders them; DaemonSets are pinned.
    let mut order: Vec<usize> = (0..pods.len()).collect();
    order.sort_by_key(|&i| -trace.workloads[pods[i].0].priority);
    let mut placed = vec![None; pods.len()];
    for i in order {
        let (w, slot) = pods[i];
        let requests = &prepared.requests[w];
        let eligible = prepared.eligibility.for_workload(w);
        let node = if trace.workloads[w].kind == WorkloadKind::DaemonSet {
            (0..nodes.len()).find(|&n| eligible[n] && on_node[w][n] == 0 && nodes[n].fits(requests))
        } else {
            let counts = &on_node[w];
            scheduler.schedule(
                requests,
                &nodes,
                eligible,
                &|n| counts[n],
                &|n| prepared.zones[n].as_deref(),
                None,
            )
        };
        if let Some(n) = node {
            nodes[n].bind(requests);
            on_node[w][n] += 1;
        }
        placed[i] = Some((w, slot, node));
    }
    placed.into_iter().flatten().collect()
}

pub enum Placement {
    Requests(KubeScheduler),
    Tidal(KubeScheduler, Box<TidalExtender>),
    Oracle(Oracle),
}

impl Placement {
    pub fn new(prepared: &Prepared<'_>, kind: Kind) -> Self {
        let scheduler =
            || KubeScheduler::new(SchedulerConfig::default(), prepared.trace.seed ^ 0x5EED);
        match kind {
            Kind::Requests => Placement::Requests(scheduler()),
            Kind::Tidal => Placement::Tidal(scheduler(), Box::new(TidalExtender::new(prepared))),
            Kind::Oracle => Placement::Oracle(Oracle::new(prepared)),
        }
    }

    /// Before a scheduling pass: the extender's load refresh.
    pub fn refresh(&mut self, world: &World<'_, '_>) {
        if let Placement::Tidal(_, extender) = self {
            extender.refresh(world);
        }
    }

    /// The node for pod `id`, or `None` if it stays pending.
    pub fn choose(&mut self, world: &World<'_, '_>, id: usize) -> Option<usize> {
        let pod = world.pods.get(id)?;
        let w = pod.workload as usize;
        let prepared = world.prepared;
        let requests = &prepared.requests[w];
        let eligible = prepared.eligibility.for_workload(w);
        let counts = |n: usize| world.pods.count_on(w, n);
        let zone = |n: usize| prepared.zones[n].as_deref();
        match self {
            Placement::Requests(scheduler) => {
                scheduler.schedule(requests, &world.nodes, eligible, &counts, &zone, None)
            }
            Placement::Tidal(scheduler, extender) => {
                let mut call = extender.call(prepared, pod, world.now());
                scheduler.schedule(
                    requests,
                    &world.nodes,
                    eligible,
                    &counts,
                    &zone,
                    Some(&mut call),
                )
            }
            Placement::Oracle(oracle) => oracle.choose(world, pod),
        }
    }

    pub fn bound(&mut self, prepared: &Prepared<'_>, pod: &Pod, node: usize, step: usize) {
        match self {
            Placement::Tidal(_, extender) => extender.bound(prepared, pod, node, step),
            Placement::Oracle(oracle) => oracle.add(pod, node, step, 1.0),
            Placement::Requests(_) => {}
        }
    }

    pub fn unbound(&mut self, pod: &Pod, node: usize, step: usize) {
        if let Placement::Oracle(oracle) = self {
            oracle.add(pod, node, step, -1.0);
        }
    }
}

/// Tidal's extender, as kube-scheduler calls it over HTTP, minus the HTTP: the same
/// [`Extender`] state, load install, judging and anti-herding assumption.
pub struct TidalExtender {
    extender: Extender,
    names: Vec<String>,
    weight: i64,
}

impl TidalExtender {
    fn new(prepared: &Prepared<'_>) -> Self {
        let config = ExtenderConfig::default();
        let max_age = tidal_core::load::LoadConfig::default().max_age;
        // The defaults validate (the live extender's own tests hold them to that).
        let extender = match Extender::new(&config, max_age) {
            Ok(extender) => extender,
            Err(e) => unreachable!("the default extender configuration is invalid: {e}"),
        };
        let trace = prepared.trace;
        extender
            .cluster
            .write()
            .replace_nodes(trace.nodes.iter().map(|n| NodeInfo {
                name: n.name.clone(),
                addresses: Vec::new(),
                allocatable: Some(n.allocatable),
            }));
        extender
            .watching
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Self {
            extender,
            names: trace.nodes.iter().map(|n| n.name.clone()).collect(),
            weight: prepared.options.extender_weight,
        }
    }

    /// Installs the load Prometheus would answer now, as the refresh task does.
    fn refresh(&mut self, world: &World<'_, '_>) {
        let now = world.now();
        let loads = world.nodes.iter().enumerate().filter_map(|(n, node)| {
            let load =
                world
                    .history
                    .node_load(n, Capacity::from_resources(node.allocatable), now)?;
            Some((self.names[n].clone(), load))
        });
        self.extender
            .install_load(LoadSnapshot::from_loads(loads), now);
        self.extender
            .cluster
            .write()
            .prune(now, self.extender.recent_pod_lifetime());
    }

    fn call<'a>(&'a self, prepared: &Prepared<'_>, pod: &Pod, now: SystemTime) -> ExtenderCall<'a> {
        let mut object = prepared.templates[pod.workload as usize].clone();
        object.metadata.uid = Some(pod.uid.to_string());
        object.metadata.name = Some(pod_name(prepared, pod));
        ExtenderCall {
            extender: &self.extender,
            names: &self.names,
            pod: object,
            weight: self.weight,
            now,
        }
    }

    /// The pod watch reports the binding.
    fn bound(&mut self, prepared: &Prepared<'_>, pod: &Pod, node: usize, step: usize) {
        let template = &prepared.templates[pod.workload as usize];
        let estimate = self.extender.estimation.estimate(template);
        self.extender.cluster.write().record_pod(
            &self.names[node],
            RecentPod {
                uid: pod.uid.to_string(),
                bound_at: prepared.time_at(step),
                estimate,
                observed: true,
            },
        );
    }
}

pub fn pod_name(prepared: &Prepared<'_>, pod: &Pod) -> String {
    let spec = &prepared.trace.workloads[pod.workload as usize];
    format!("{}-{}-{}", spec.name, pod.slot, pod.uid)
}

/// One pod's filter and prioritize calls.
struct ExtenderCall<'a> {
    extender: &'a Extender,
    names: &'a [String],
    pod: K8sPod,
    weight: i64,
    now: SystemTime,
}

impl ExtenderCall<'_> {
    fn names<'n>(&'n self, nodes: &[usize]) -> Vec<NodeName<'n>> {
        nodes
            .iter()
            .map(|&n| NodeName(Cow::Borrowed(self.names[n].as_str())))
            .collect()
    }
}

impl kube_scheduler::Extender for ExtenderCall<'_> {
    fn filter(&mut self, nodes: &[usize]) -> Vec<usize> {
        let names = self.names(nodes);
        let request = Request {
            pod: &self.pod,
            candidates: Candidates::Names(&names),
        };
        let verdicts = self.extender.filter(&request, self.now);
        nodes
            .iter()
            .zip(&verdicts)
            .filter(|(_, v)| v.fits)
            .map(|(&n, _)| n)
            .collect()
    }

    fn prioritize(&mut self, nodes: &[usize]) -> Vec<u8> {
        let names = self.names(nodes);
        let request = Request {
            pod: &self.pod,
            candidates: Candidates::Names(&names),
        };
        let verdicts = self.extender.judge(&request, self.now);
        self.extender.assume_best(&request, &verdicts, self.now);
        verdicts.iter().map(|v| v.score).collect()
    }

    fn weight(&self) -> i64 {
        self.weight
    }
}

/// The physical limit: each pod goes where the hourly CPU it will use, added to what
/// the node's pods will use, peaks lowest over the next hours. It knows the trace.
pub struct Oracle {
    /// Expected CPU cores per node and hour of the replay: `future[node * hours + hour]`.
    future: Vec<f32>,
    hours: usize,
    steps_per_hour: usize,
    /// Mean CPU per replica per hour, per workload.
    hourly: Vec<Vec<f32>>,
}

/// Hours ahead the oracle balances.
const ORACLE_LOOKAHEAD_HOURS: usize = 12;

impl Oracle {
    fn new(prepared: &Prepared<'_>) -> Self {
        let trace = prepared.trace;
        let steps_per_hour = (3600 / prepared.step_seconds()).max(1) as usize;
        let hours = trace.steps.div_ceil(steps_per_hour) + 1;
        let hourly = trace
            .workloads
            .iter()
            .map(|w| {
                (0..hours)
                    .map(|h| {
                        w.cpu
                            .mean_over(h * steps_per_hour, (h + 1) * steps_per_hour)
                            as f32
                    })
                    .collect()
            })
            .collect();
        Self {
            future: vec![0.0; trace.nodes.len() * hours],
            hours,
            steps_per_hour,
            hourly,
        }
    }

    /// Adds (or with `sign` −1 removes) a pod's future use from `step` to where it ends.
    fn add(&mut self, pod: &Pod, node: usize, step: usize, sign: f32) {
        let from = step / self.steps_per_hour;
        let until = match pod.run_for {
            Some(run) => (step + run).div_ceil(self.steps_per_hour),
            None => self.hours,
        }
        .min(self.hours);
        let hourly = &self.hourly[pod.workload as usize];
        let row = &mut self.future[node * self.hours..(node + 1) * self.hours];
        for (slot, &use_) in row[from..until].iter_mut().zip(&hourly[from..until]) {
            *slot += sign * use_;
        }
    }

    fn choose(&self, world: &World<'_, '_>, pod: &Pod) -> Option<usize> {
        let w = pod.workload as usize;
        let prepared = world.prepared;
        let requests = &prepared.requests[w];
        let eligible = prepared.eligibility.for_workload(w);
        let from = world.step / self.steps_per_hour;
        let until = match pod.run_for {
            Some(run) => (world.step + run).div_ceil(self.steps_per_hour),
            None => from + ORACLE_LOOKAHEAD_HOURS,
        }
        .clamp(from + 1, self.hours);
        let hourly = &self.hourly[w];
        let mut best: Option<(f32, usize)> = None;
        for (n, node) in world.nodes.iter().enumerate() {
            if !eligible[n] || !node.fits(requests) {
                continue;
            }
            let size = node.allocatable.cpu_milli as f32 / 1000.0;
            if size <= 0.0 {
                continue;
            }
            let row = &self.future[n * self.hours..(n + 1) * self.hours];
            let peak = (from..until)
                .map(|h| row[h] + hourly[h])
                .fold(0.0f32, f32::max)
                / size;
            if best.is_none_or(|(b, _)| peak < b) {
                best = Some((peak, n));
            }
        }
        best.map(|(_, n)| n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube_scheduler::Extender as _;
    use axum::body::Bytes;
    use std::time::Duration;
    use tidal_core::load::{NodeLoad, Usage};
    use tidal_core::resources::Resources;
    use tidal_scheduler_extender::http::{filter_call, prioritize_call};

    fn extender(now: SystemTime, names: &[String]) -> Extender {
        let extender = match Extender::new(&ExtenderConfig::default(), Duration::from_secs(60)) {
            Ok(e) => e,
            Err(e) => panic!("{e}"),
        };
        extender
            .cluster
            .write()
            .replace_nodes(names.iter().map(|name| NodeInfo {
                name: name.clone(),
                addresses: Vec::new(),
                allocatable: Some(Resources {
                    cpu_milli: 8000,
                    memory_bytes: 32 << 30,
                }),
            }));
        extender
            .watching
            .store(true, std::sync::atomic::Ordering::Relaxed);
        // Idle, warm, over the average threshold, and at its peak threshold.
        let loads = [(0.5, 1.0), (3.0, 4.0), (5.6, 5.8), (4.0, 6.5)];
        let snapshot =
            LoadSnapshot::from_loads(names.iter().zip(loads).map(|(name, (avg, peak))| {
                let load = NodeLoad {
                    cpu_cores: Usage { average: avg, peak },
                    memory_bytes: Usage {
                        average: 4e9,
                        peak: 5e9,
                    },
                    capacity: None,
                    sampled_at: now,
                };
                (name.clone(), load)
            }));
        extender.install_load(snapshot, now);
        extender
    }

    /// The replay's extender calls answer exactly what the HTTP extender answers
    /// kube-scheduler for the same pod, nodes and load.
    #[test]
    fn the_replay_judges_as_the_http_extender_does() {
        let names: Vec<String> = (1..=4).map(|i| format!("node-{i}")).collect();
        let now = SystemTime::now();
        let (replay, http) = (extender(now, &names), extender(now, &names));
        let mut pod: K8sPod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1"},
            "spec": {"containers": [{"name": "main", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}
        }))
        .unwrap_or_default();
        pod.metadata.uid = Some("u-1".to_string());
        let body = Bytes::from(
            serde_json::json!({"Pod": pod, "NodeNames": names, "Nodes": null}).to_string(),
        );
        let mut call = ExtenderCall {
            extender: &replay,
            names: &names,
            pod: pod.clone(),
            weight: 5,
            now,
        };
        let all = [0, 1, 2, 3];
        let passed: Vec<&str> = call
            .filter(&all)
            .iter()
            .map(|&n| names[n].as_str())
            .collect();
        let answer: serde_json::Value =
            serde_json::from_slice(&filter_call(&http, &body).unwrap_or_default())
                .unwrap_or_default();
        let http_passed: Vec<&str> = answer["NodeNames"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        assert_eq!(passed, http_passed, "{answer}");
        assert_eq!(passed, ["node-1", "node-2"], "the busy nodes are filtered");

        let scores = call.prioritize(&all);
        let answer: serde_json::Value =
            serde_json::from_slice(&prioritize_call(&http, &body).unwrap_or_default())
                .unwrap_or_default();
        let http_scores: Vec<u8> = answer
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|h| h["Score"].as_u64())
                    .map(|s| s as u8)
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(scores, http_scores, "{answer}");
        // Both assumed the pod onto the same best node.
        for name in &names {
            assert_eq!(
                replay.cluster.read().recent_pods(name).len(),
                http.cluster.read().recent_pods(name).len(),
                "{name}"
            );
        }
        assert_eq!(replay.cluster.read().recent_pods("node-1").len(), 1);
    }
}
