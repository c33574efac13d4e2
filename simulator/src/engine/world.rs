//! One policy's replay of the trace, step by step.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{Node, Pod as K8sPod};
use tidal_core::resources::Resources;
use tidal_descheduler::model::KeptPod;
use tidal_descheduler::slim::{SlimNode, SlimPod};

use super::Options;
use super::deschedule::Descheduling;
use super::hpa::Autoscaling;
use super::load::{LoadHistory, Windows};
use super::metrics::{HeatmapBuilder, Metrics};
use super::schedule::{Placement, Start};
use super::state::Pods;
use crate::cluster::{Eligibility, NodeState, PodRequests, node_object, pod_template};
use crate::outcome::PolicyOutcome;
use crate::policy::Policy;
use crate::trace::{Kind, Trace};

/// Replays start at a fixed Monday midnight (UTC), so days and weeks line up with the
/// trace's cycles and results do not depend on when they are computed.
pub const EPOCH_SECONDS: u64 = 1_767_571_200; // 2026-01-05T00:00:00Z

/// What every policy's replay shares: the trace, its k8s objects and static verdicts.
pub struct Prepared<'t> {
    pub trace: &'t Trace,
    pub options: Options,
    /// The nodes as the descheduler lists them.
    pub nodes: Vec<SlimNode>,
    pub templates: Vec<K8sPod>,
    /// What the descheduler keeps of each template's pods.
    pub kept_templates: Vec<KeptPod>,
    pub eligibility: Eligibility,
    pub requests: Vec<PodRequests>,
    pub zones: Vec<Option<String>>,
    pub windows: Windows,
    /// Steps from binding to serving, from eviction to replacement, between descheduler runs.
    pub startup: usize,
    pub replacement: usize,
    pub descheduler_every: usize,
    /// Per workload: the step offset of its restarts and CronJob runs, seeded.
    pub offsets: Vec<usize>,
}

impl<'t> Prepared<'t> {
    pub fn new(trace: &'t Trace, options: &Options) -> Self {
        let nodes: Vec<Node> = trace.nodes.iter().map(node_object).collect();
        let templates: Vec<K8sPod> = trace.workloads.iter().map(pod_template).collect();
        let eligibility = Eligibility::new(&nodes, &templates);
        let steps = |d: Duration| (d.as_secs().div_ceil(trace.step.as_secs().max(1))) as usize;
        let offsets = trace
            .workloads
            .iter()
            .enumerate()
            .map(|(w, spec)| {
                let period = spec
                    .restart_every
                    .or(spec.cron.map(|c| c.every))
                    .unwrap_or(1)
                    .max(1);
                (mix(trace.seed, w as u64) % period as u64) as usize
            })
            .collect();
        Self {
            trace,
            options: options.clone(),
            requests: trace
                .workloads
                .iter()
                .map(|w| PodRequests::new(w.requests))
                .collect(),
            zones: trace
                .nodes
                .iter()
                .map(|n| n.labels.get("topology.kubernetes.io/zone").cloned())
                .collect(),
            nodes: nodes.iter().map(SlimNode::from).collect(),
            kept_templates: templates
                .iter()
                .map(|t| KeptPod::from(SlimPod::from(t)))
                .collect(),
            templates,
            eligibility,
            windows: Windows::for_step(trace.step),
            startup: steps(options.startup_delay).max(1),
            replacement: steps(options.replacement_delay).max(1),
            descheduler_every: steps(options.descheduler_interval).max(1),
            offsets,
        }
    }

    pub fn step_seconds(&self) -> u64 {
        self.trace.step.as_secs().max(1)
    }

    pub fn time_at(&self, step: usize) -> SystemTime {
        SystemTime::UNIX_EPOCH
            + Duration::from_secs(EPOCH_SECONDS + step as u64 * self.step_seconds())
    }

    /// The noise stream of a workload's replica.
    pub fn noise_key(&self, workload: usize, slot: u32) -> u64 {
        mix(self.trace.seed, ((workload as u64) << 32) | u64::from(slot))
    }
}

/// A seeded hash of `key`.
pub fn mix(seed: u64, key: u64) -> u64 {
    crate::trace::splitmix(
        seed.wrapping_add(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(key.wrapping_mul(0xD1B5_4A32_D192_ED03)),
    )
}

pub struct World<'p, 't> {
    pub prepared: &'p Prepared<'t>,
    pub policy: Policy,
    pub nodes: Vec<NodeState>,
    pub pods: Pods,
    pub step: usize,
    pub history: LoadHistory,
    pub metrics: Metrics,
    /// Taken out while the scheduling pass uses it.
    placement: Option<Placement>,
    descheduling: Option<Descheduling>,
    autoscaling: Autoscaling,
    /// Replacement pods due: (step, workload, slot).
    replacements: Vec<(usize, usize, u32)>,
    /// Next replica slot per workload (for pods that are not a fixed replica).
    next_slot: Vec<u32>,
    node_cpu: Vec<f64>,
    node_memory: Vec<f64>,
}

impl<'p, 't> World<'p, 't> {
    pub fn new(prepared: &'p Prepared<'t>, policy: Policy, start: &Start) -> Self {
        let trace = prepared.trace;
        let n = trace.nodes.len();
        let heatmap = HeatmapBuilder::new(
            trace.nodes.iter().map(|n| n.name.clone()).collect(),
            trace.steps,
            prepared.step_seconds(),
            prepared.options.heatmap_columns,
        );
        let mut world = Self {
            prepared,
            policy,
            nodes: trace.nodes.iter().map(NodeState::new).collect(),
            pods: Pods::new(trace.workloads.len(), n, prepared.windows.average),
            step: 0,
            history: LoadHistory::new(n, prepared.windows),
            metrics: Metrics::new(
                prepared.step_seconds() as f64 / 60.0,
                prepared.options.hot,
                prepared.options.memory_pressure,
                heatmap,
            ),
            placement: Some(Placement::new(prepared, policy.placement())),
            descheduling: policy
                .descheduler()
                .map(|d| Descheduling::new(d, trace.workloads.len())),
            autoscaling: Autoscaling::new(prepared, policy.predicts()),
            replacements: Vec::new(),
            next_slot: vec![0; trace.workloads.len()],
            node_cpu: vec![0.0; n],
            node_memory: vec![0.0; n],
        };
        world.start(start);
        world
    }

    /// Creates the starting pods where `start` put them; the oracle places its own.
    fn start(&mut self, start: &Start) {
        let oracle = self.policy.placement() == crate::policy::Placement::Oracle;
        for &(workload, slot, node) in start.iter() {
            let id = self.pods.create(workload, slot, -1_000_000, None);
            self.next_slot[workload] = self.next_slot[workload].max(slot + 1);
            let daemon = self.prepared.trace.workloads[workload].kind == Kind::DaemonSet;
            if let Some(node) = node.filter(|_| !oracle || daemon) {
                self.pods.pending.retain(|&p| p != id);
                let mut placement = self.placement.take();
                self.bind(placement.as_mut(), id, node);
                self.placement = placement;
            }
        }
        // The starting pods have served for long: ready from step 0.
        for pod in self.pods.iter_mut() {
            if let Some(b) = pod.bound.as_mut() {
                *b = 0;
            }
        }
        if oracle {
            self.schedule_pending();
        }
    }

    pub fn run(&mut self, progress: &mut dyn FnMut(usize, usize)) {
        let steps = self.prepared.trace.steps;
        let every = (steps / 100).max(1);
        for step in 0..steps {
            self.step = step;
            self.controllers();
            if let Some(mut descheduling) = self.descheduling.take() {
                if step > 0 && step.is_multiple_of(self.prepared.descheduler_every) {
                    descheduling.run(self);
                }
                self.descheduling = Some(descheduling);
            }
            self.schedule_pending();
            self.use_resources();
            if step.is_multiple_of(every) {
                progress(step, steps);
            }
        }
        progress(steps, steps);
    }

    pub fn finish(self, policy: String, wall_seconds: f64) -> PolicyOutcome {
        self.metrics.finish(policy, self.nodes.len(), wall_seconds)
    }

    pub fn now(&self) -> SystemTime {
        self.prepared.time_at(self.step)
    }

    /// CronJob runs, rolling restarts, replacements and HPAs.
    fn controllers(&mut self) {
        let step = self.step;
        let trace = self.prepared.trace;
        // Finished CronJob pods leave.
        let finished: Vec<usize> = self
            .pods
            .iter()
            .filter(|(_, p)| {
                matches!((p.run_for, p.bound), (Some(run), Some(bound)) if step >= bound + run)
            })
            .map(|(id, _)| id)
            .collect();
        for id in finished {
            self.delete(id);
        }
        for (w, spec) in trace.workloads.iter().enumerate() {
            let offset = self.prepared.offsets[w];
            if let Some(cron) = spec.cron
                && (step + offset).is_multiple_of(cron.every)
            {
                for _ in 0..spec.replicas {
                    let slot = self.take_slot(w);
                    self.pods.create(w, slot, step as i64, Some(cron.run_for));
                }
            }
            if let Some(every) = spec.restart_every {
                self.rolling_restart(w, (step + offset) % every);
            }
        }
        let due: Vec<(usize, u32)> = self
            .replacements
            .iter()
            .filter(|(at, _, _)| *at <= step)
            .map(|&(_, w, slot)| (w, slot))
            .collect();
        self.replacements.retain(|(at, _, _)| *at > step);
        for (w, slot) in due {
            self.pods.create(w, slot, step as i64, None);
        }
        let mut autoscaling = std::mem::take(&mut self.autoscaling);
        autoscaling.run(self);
        self.autoscaling = autoscaling;
    }

    /// A rollout replaces one replica a minute, oldest first, from the start of the period.
    fn rolling_restart(&mut self, workload: usize, phase: usize) {
        let gap = (60 / self.prepared.step_seconds()).max(1) as usize;
        if !phase.is_multiple_of(gap) {
            return;
        }
        let turn = phase / gap;
        let live = &self.pods.by_workload[workload];
        if turn >= live.len() || self.pods.by_workload[workload].is_empty() {
            return;
        }
        // Oldest first: the pods created before this rollout began.
        let Some(&id) = live
            .iter()
            .filter(|&&id| {
                self.pods
                    .get(id)
                    .is_some_and(|p| p.created < (self.step - phase) as i64)
            })
            .min_by_key(|&&id| self.pods.get(id).map_or(i64::MAX, |p| p.created))
        else {
            return;
        };
        if let Some(pod) = self.delete(id) {
            self.pods.create(workload, pod.slot, self.step as i64, None);
        }
    }

    fn take_slot(&mut self, workload: usize) -> u32 {
        let slot = self.next_slot[workload];
        self.next_slot[workload] += 1;
        slot
    }

    /// A new replica of a scaled workload.
    pub fn scale_up(&mut self, workload: usize) {
        let slot = self.take_slot(workload);
        self.pods.create(workload, slot, self.step as i64, None);
    }

    pub fn delete(&mut self, id: usize) -> Option<super::state::Pod> {
        let pod = self.pods.get(id)?;
        let w = pod.workload as usize;
        let node = pod.node;
        let requests = self.prepared.requests[w];
        let removed = self.pods.delete(id, &mut self.nodes, &requests)?;
        if let (Some(node), Some(placement)) = (node, self.placement.as_mut()) {
            placement.unbound(&removed, node as usize, self.step);
        }
        Some(removed)
    }

    /// Evicts a pod: it goes now, and its controller's replacement comes after the delay.
    pub fn evict(&mut self, id: usize) {
        if let Some(pod) = self.delete(id) {
            let w = pod.workload as usize;
            if pod.run_for.is_none() {
                self.replacements
                    .push((self.step + self.prepared.replacement, w, pod.slot));
            }
        }
    }

    fn bind(&mut self, placement: Option<&mut Placement>, id: usize, node: usize) {
        let Some(w) = self.pods.get(id).map(|p| p.workload as usize) else {
            return;
        };
        let requests = self.prepared.requests[w];
        self.pods
            .bind(id, node, self.step, &mut self.nodes, &requests);
        if let (Some(pod), Some(placement)) = (self.pods.get(id), placement) {
            placement.bound(self.prepared, pod, node, self.step);
        }
    }

    /// The scheduling queue: highest priority first, then oldest.
    fn schedule_pending(&mut self) {
        if self.pods.pending.is_empty() {
            return;
        }
        let mut queue = std::mem::take(&mut self.pods.pending);
        let workloads = &self.prepared.trace.workloads;
        queue.sort_by_key(|&id| {
            self.pods.get(id).map_or((0, 0, 0), |p| {
                (-workloads[p.workload as usize].priority, p.created, p.uid)
            })
        });
        let Some(mut placement) = self.placement.take() else {
            return;
        };
        placement.refresh(self);
        let mut unplaced = Vec::new();
        // Within a pass, nodes only fill up: once a workload's pod fits nowhere, its
        // other pending pods (identical) would not either.
        let mut stuck = vec![false; workloads.len()];
        for id in queue {
            let Some(pod) = self.pods.get(id) else {
                continue;
            };
            let w = pod.workload as usize;
            if stuck[w] {
                unplaced.push(id);
                continue;
            }
            let choice = if workloads[w].kind == Kind::DaemonSet {
                self.daemon_node(w)
            } else {
                placement.choose(self, id)
            };
            match choice {
                Some(node) => self.bind(Some(&mut placement), id, node),
                None => {
                    stuck[w] = true;
                    unplaced.push(id);
                }
            }
        }
        self.placement = Some(placement);
        self.pods.pending.extend(unplaced);
    }

    /// The DaemonSet controller pins a new pod to an eligible node that lacks one.
    fn daemon_node(&self, workload: usize) -> Option<usize> {
        let eligible = self.prepared.eligibility.for_workload(workload);
        let requests = &self.prepared.requests[workload];
        (0..self.nodes.len()).find(|&n| {
            eligible[n] && self.pods.count_on(workload, n) == 0 && self.nodes[n].fits(requests)
        })
    }

    /// Every bound pod uses what the trace says; nodes add it up; figures are recorded.
    fn use_resources(&mut self) {
        let step = self.step;
        let prepared = self.prepared;
        let trace = prepared.trace;
        self.node_cpu.iter_mut().for_each(|v| *v = 0.0);
        self.node_memory.iter_mut().for_each(|v| *v = 0.0);
        let (demand, short) = self.autoscaling.demand_per_ready_pod(self);
        for _ in 0..short {
            self.metrics.underprovisioned();
        }
        let slot = step % prepared.windows.average.max(1);
        let mut throttled = 0.0;
        let mut oom = 0;
        let mut running = 0;
        for pod in self.pods.iter_mut() {
            let Some(node) = pod.node else { continue };
            running += 1;
            let w = pod.workload as usize;
            let spec = &trace.workloads[w];
            let key = prepared.noise_key(w, pod.slot);
            let ready = pod.is_ready(step, prepared.startup);
            let mut cpu = match demand.get(&w) {
                Some(&per_pod) if ready => per_pod,
                Some(_) => 0.0,
                None => spec.cpu.at(step, key),
            };
            if let Some(limit) = spec.limits.cpu_milli {
                let limit = limit as f64 / 1000.0;
                if cpu > limit {
                    throttled += cpu - limit;
                    cpu = limit;
                }
            }
            let mut memory = spec.memory.at(step, key);
            if let Some(limit) = spec.limits.memory_bytes
                && memory > limit as f64
            {
                oom += 1;
                memory = limit as f64;
            }
            pod.cpu[slot] = cpu as f32;
            pod.memory = memory as f32;
            self.node_cpu[node as usize] += cpu;
            self.node_memory[node as usize] += memory;
        }
        self.metrics.throttled(throttled);
        self.metrics.oom_kills += oom;
        self.metrics.record_pods(running, self.pods.pending.len());
        self.history.record(&self.node_cpu, &self.node_memory);
        let fraction = |used: &mut Vec<f64>, of: fn(&Resources) -> f64, nodes: &[NodeState]| {
            for (u, n) in used.iter_mut().zip(nodes) {
                let size = of(&n.allocatable);
                *u = if size > 0.0 { *u / size } else { 0.0 };
            }
        };
        fraction(
            &mut self.node_cpu,
            |r| r.cpu_milli as f64 / 1000.0,
            &self.nodes,
        );
        fraction(
            &mut self.node_memory,
            |r| r.memory_bytes as f64,
            &self.nodes,
        );
        self.metrics
            .record_nodes(step, &self.node_cpu, &self.node_memory);
    }

    /// Pods of a workload that serve now.
    pub fn ready_pods(&self, workload: usize) -> usize {
        self.pods.by_workload[workload]
            .iter()
            .filter(|&&id| {
                self.pods
                    .get(id)
                    .is_some_and(|p| p.is_ready(self.step, self.prepared.startup))
            })
            .count()
    }
}
