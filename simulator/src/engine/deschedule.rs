//! The descheduler runs: Tidal's planner on what `tidal deschedule` would gather, or
//! the LowNodeUtilization model; every eviction goes through a stand-in for the
//! Eviction API that refuses what a PodDisruptionBudget forbids (429).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use tidal_core::load::{Capacity, LoadConfig};
use tidal_core::resources::Resources;
use tidal_core::scoring::{MissingMetrics, Scorer};
use tidal_core::usage::PodUsage;
use tidal_descheduler::model::{
    Budget, ClusterSnapshot, NodeState, Owner, PodKey, PodState, Qos, Replicas, WorkloadRef,
};
use tidal_descheduler::plan::plan;
use tidal_descheduler::policy::{Policy, ThresholdMode};
use tidal_scheduler_extender::ExtenderConfig;

use super::schedule::pod_name;
use super::state::Pod;
use super::world::{Prepared, World};
use crate::lownodeutilization::{self as lnu, LnuConfig, LnuNode, LnuPod};
use crate::outcome::Move;
use crate::policy::Descheduler;
use crate::trace::{Amount, Kind, Pdb, WorkloadSpec};

/// Evictions of one workload closer together than this count as repeated moves.
const REPEAT_WINDOW: Duration = Duration::from_secs(3600);

pub struct Descheduling {
    kind: Descheduler,
    policy: Policy,
    scorer: Scorer,
    /// Last eviction per workload, as the cooldown ConfigMap keeps it.
    cooldowns: BTreeMap<WorkloadRef, SystemTime>,
    last_eviction: Vec<Option<SystemTime>>,
}

impl Descheduling {
    pub fn new(kind: Descheduler, workloads: usize) -> Self {
        let extender = ExtenderConfig::default();
        Self {
            kind,
            policy: Policy::default(),
            // As `tidal deschedule` builds it: the extender's thresholds, fail-closed.
            scorer: Scorer {
                thresholds: extender.thresholds,
                weights: extender.weights,
                max_age: LoadConfig::default().max_age,
                on_missing: MissingMetrics::FailClosed,
            },
            cooldowns: BTreeMap::new(),
            last_eviction: vec![None; workloads],
        }
    }

    pub fn run(&mut self, world: &mut World<'_, '_>) {
        let chosen = match self.kind {
            Descheduler::Tidal => self.tidal(world),
            Descheduler::LowNodeUtilization { real_usage } => lnu_plan(world, real_usage),
        };
        self.execute(world, chosen);
    }

    /// The planner's choices, as pod ids. Only the pods of hot nodes are listed (the
    /// others cannot move and count by their requests), and without a hot node the
    /// planner is not called: it would find nothing, and gathering is the costly part.
    fn tidal(&self, world: &World<'_, '_>) -> Vec<usize> {
        let now = world.now();
        let hot = self.policy.classification.hot;
        let deviation = self.policy.classification.mode == ThresholdMode::Deviation;
        let listed: Vec<bool> = world
            .nodes
            .iter()
            .enumerate()
            .map(|(n, node)| {
                deviation
                    || world.history.sustained(n, now).is_some_and(|s| {
                        let cpu = s.cpu_cores * 1000.0 / node.allocatable.cpu_milli.max(1) as f64;
                        let memory = s.memory_bytes / node.allocatable.memory_bytes.max(1) as f64;
                        cpu > hot.cpu || memory > hot.memory
                    })
            })
            .collect();
        if !listed.contains(&true) {
            return Vec::new();
        }
        let (snapshot, ids) = snapshot(world, &listed);
        let cooldowns: BTreeMap<WorkloadRef, SystemTime> = self
            .cooldowns
            .iter()
            .filter(|(_, at)| now.duration_since(**at).unwrap_or_default() < self.policy.cooldown)
            .map(|(w, at)| (w.clone(), *at))
            .collect();
        let plan = plan(&snapshot, &self.policy, &self.scorer, &cooldowns);
        plan.evictions
            .iter()
            .filter_map(|e| ids.get(&e.uid).copied())
            .collect()
    }

    /// Evicts through the Eviction API stand-in, in order, and counts what happened.
    fn execute(&mut self, world: &mut World<'_, '_>, chosen: Vec<usize>) {
        let now = world.now();
        let mut spent: BTreeMap<usize, i32> = BTreeMap::new();
        let mut allowed_at_start: BTreeMap<usize, Option<i32>> = BTreeMap::new();
        let mut sources = BTreeSet::new();
        for id in chosen {
            let Some(pod) = world.pods.get(id) else {
                continue;
            };
            let w = pod.workload as usize;
            let Some(node) = pod.node else { continue };
            let allowed = *allowed_at_start
                .entry(w)
                .or_insert_with(|| disruptions_allowed(world, w));
            let used = spent.entry(w).or_default();
            if allowed.is_some_and(|allowed| allowed - *used <= 0) {
                continue; // 429: the budget forbids it now.
            }
            *used += 1;
            let spent = *used;
            world.evict(id);
            world.metrics.evictions += 1;
            sources.insert(node);
            if self.last_eviction[w]
                .is_some_and(|at| now.duration_since(at).unwrap_or_default() < REPEAT_WINDOW)
            {
                world.metrics.repeated_moves += 1;
            }
            self.last_eviction[w] = Some(now);
            let spec = &world.prepared.trace.workloads[w];
            self.cooldowns.insert(workload_ref(spec), now);
            let record = Move {
                step: world.step,
                workload: spec.display_name(),
                node: world.prepared.trace.nodes[node as usize].name.clone(),
                allowed,
                spent,
            };
            world.metrics.moves.push(record);
        }
        world.metrics.relieved_nodes += sources.len() as u64;
    }
}

/// What the disruption controller would put in the workload's PDB status now:
/// healthy pods minus the pods that must stay healthy; `None` without a PDB.
pub fn disruptions_allowed(world: &World<'_, '_>, workload: usize) -> Option<i32> {
    let spec = &world.prepared.trace.workloads[workload];
    let pdb = spec.pdb?;
    let expected = desired(world, workload) as i32;
    let healthy = world.ready_pods(workload) as i32;
    let resolve = |amount: Amount| match amount {
        Amount::Count(n) => n as i32,
        // Percentages round up, as intstr.GetScaledValueFromIntOrPercent does for PDBs.
        Amount::Percent(p) => (i64::from(p) * i64::from(expected.max(0)) + 99) as i32 / 100,
    };
    let must_stay = match pdb {
        Pdb::MinAvailable(a) => resolve(a),
        Pdb::MaxUnavailable(a) => expected - resolve(a),
    };
    Some((healthy - must_stay).max(0))
}

/// Desired replicas: the spec's, or what the HPA has scaled to (its live pods).
fn desired(world: &World<'_, '_>, workload: usize) -> usize {
    let spec = &world.prepared.trace.workloads[workload];
    match spec.hpa {
        Some(_) => world.pods.by_workload[workload].len(),
        None => spec.replicas as usize,
    }
}

fn workload_ref(spec: &WorkloadSpec) -> WorkloadRef {
    WorkloadRef {
        kind: match spec.kind {
            Kind::CronJob => "Job".to_string(),
            kind => kind.as_str().to_string(),
        },
        namespace: spec.namespace.clone(),
        name: spec.name.clone(),
    }
}

fn qos(spec: &WorkloadSpec) -> Qos {
    let r = spec.requests;
    let l = spec.limits;
    if r.cpu_milli == 0 && r.memory_bytes == 0 && l.cpu_milli.is_none() && l.memory_bytes.is_none()
    {
        Qos::BestEffort
    } else if l.cpu_milli == Some(r.cpu_milli) && l.memory_bytes == Some(r.memory_bytes) {
        Qos::Guaranteed
    } else {
        Qos::Burstable
    }
}

fn usage(pod: &Pod) -> PodUsage {
    PodUsage {
        cpu_cores: pod.cpu_average(),
        memory_bytes: f64::from(pod.memory),
    }
}

/// What `tidal deschedule` would gather now: nodes with their sustained and recent
/// load, budgets and replica counts, and the bound pods of the nodes in `listed` (the
/// hot ones: only their pods can move) with owners and usage; the other pods count by
/// their requests. Returns the pod ids by uid too.
fn snapshot(world: &World<'_, '_>, listed: &[bool]) -> (ClusterSnapshot, BTreeMap<String, usize>) {
    let prepared: &Prepared<'_> = world.prepared;
    let trace = prepared.trace;
    let now = world.now();
    let mut pods = Vec::new();
    let mut ids = BTreeMap::new();
    let mut listed_requests = vec![Resources::default(); world.nodes.len()];
    for (id, pod) in world.pods.iter() {
        let Some(node) = pod.node.filter(|&n| listed[n as usize]) else {
            continue;
        };
        let w = pod.workload as usize;
        let spec = &trace.workloads[w];
        let name = pod_name(prepared, pod);
        let uid = pod.uid.to_string();
        let owner = match spec.kind {
            Kind::DaemonSet => Owner::DaemonSet(spec.name.clone()),
            _ => Owner::Workload(workload_ref(spec)),
        };
        let created_at = if pod.created >= 0 {
            prepared.time_at(pod.created as usize)
        } else {
            prepared.time_at(0) - Duration::from_secs(86_400)
        };
        listed_requests[node as usize] += spec.requests;
        ids.insert(uid.clone(), id);
        pods.push(PodState {
            pod: prepared.kept_templates[w].clone(),
            key: PodKey {
                namespace: spec.namespace.clone(),
                name,
            },
            uid,
            node: trace.nodes[node as usize].name.clone(),
            owner,
            priority: spec.priority,
            qos: qos(spec),
            requests: spec.requests,
            usage: Some(usage(pod)),
            created_at,
        });
    }
    let nodes = world
        .nodes
        .iter()
        .enumerate()
        .map(|(n, state)| NodeState {
            node: prepared.nodes[n].clone(),
            name: trace.nodes[n].name.clone(),
            allocatable: state.allocatable,
            sustained: world.history.sustained(n, now),
            recent: world
                .history
                .node_load(n, Capacity::from_resources(state.allocatable), now),
            unlisted_requests: state.requested - listed_requests[n],
        })
        .collect();
    let mut budgets = Vec::new();
    let mut workloads = BTreeMap::new();
    for (w, spec) in trace.workloads.iter().enumerate() {
        if world.pods.by_workload[w].is_empty() {
            continue;
        }
        workloads.insert(
            workload_ref(spec),
            Replicas {
                desired: desired(world, w) as i32,
                ready: world.ready_pods(w) as i32,
            },
        );
        if let Some(allowed) = disruptions_allowed(world, w) {
            budgets.push(Budget {
                namespace: spec.namespace.clone(),
                name: format!("{}-pdb", spec.name),
                selector: Some(LabelSelector {
                    match_labels: prepared.templates[w].metadata.labels.clone(),
                    ..LabelSelector::default()
                }),
                disruptions_allowed: allowed,
            });
        }
    }
    let snapshot = ClusterSnapshot {
        now,
        nodes,
        pods,
        budgets,
        workloads,
    };
    (snapshot, ids)
}

/// LowNodeUtilization's choices this run, as pod ids.
fn lnu_plan(world: &World<'_, '_>, real_usage: bool) -> Vec<usize> {
    let trace = world.prepared.trace;
    let mut usage = vec![Resources::default(); world.nodes.len()];
    let mut pods = Vec::with_capacity(world.pods.len());
    for (id, pod) in world.pods.iter() {
        let Some(node) = pod.node else { continue };
        let spec = &trace.workloads[pod.workload as usize];
        let used = Resources {
            cpu_milli: (pod.cpu_average() * 1000.0) as i64,
            memory_bytes: f64::from(pod.memory) as i64,
        };
        usage[node as usize] += used;
        pods.push(LnuPod {
            id,
            node: node as usize,
            priority: spec.priority,
            qos: qos(spec),
            // The DefaultEvictor: no DaemonSet pods; every other trace pod has a controller.
            evictable: spec.kind != Kind::DaemonSet,
            requests: spec.requests,
            usage: used,
        });
    }
    let nodes: Vec<LnuNode> = world
        .nodes
        .iter()
        .zip(usage)
        .map(|(n, usage)| LnuNode {
            allocatable: n.allocatable,
            max_pods: n.max_pods,
            requested: n.requested,
            usage,
            pods: n.pods,
            schedulable: true,
        })
        .collect();
    let config = if real_usage {
        LnuConfig::real_usage()
    } else {
        LnuConfig::requests()
    };
    lnu::plan(&nodes, &pods, &config)
}
