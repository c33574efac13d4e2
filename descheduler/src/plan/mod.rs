//! The plan: which pods leave which hot nodes, and where each would land.
//!
//! A pure, deterministic function of its inputs (nodes and pods are sorted here, so
//! their order in the snapshot does not matter). Every eviction lowers its source's
//! projected sustained load by the pod's real usage and raises its destination's, so
//! later choices see earlier ones, and evictions stop once a node reaches target.

mod classify;
mod destination;
mod guards;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::time::SystemTime;

use tidal_core::fit::FitNode;
use tidal_core::scoring::Scorer;
use tidal_core::usage::PodUsage;

use crate::model::{Budget, ClusterSnapshot, NodeState, PodKey, PodState, WorkloadRef};
use crate::policy::{Fractions, Policy};
use classify::Bounds;
use destination::Projected;
use guards::{Candidate, Ledger};

pub use classify::NodeClass;
pub use guards::{SkipReason, selects};

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// In the order they were planned: later ones were chosen knowing the earlier ones.
    pub evictions: Vec<PlannedEviction>,
    pub skipped: Vec<SkippedPod>,
    /// Every node, by name.
    pub nodes: Vec<NodeOutcome>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedEviction {
    pub pod: PodKey,
    pub uid: String,
    pub workload: Option<WorkloadRef>,
    pub from: String,
    pub to: String,
    pub usage: PodUsage,
    /// Why the source node was hot, for the plan table and the pod's Event.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SkippedPod {
    pub pod: PodKey,
    pub node: String,
    pub reason: SkipReason,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodeOutcome {
    pub name: String,
    pub class: NodeClass,
    /// Sustained load as fractions of allocatable; `None` without metrics.
    pub before: Option<Fractions>,
    /// Projected after every planned eviction; `None` without metrics.
    pub after: Option<Fractions>,
}

/// Plans the evictions of one run. `scorer.max_age` also bounds the age of sustained
/// load; `cooldowns` holds the last eviction per workload from earlier runs.
pub fn plan(
    snapshot: &ClusterSnapshot,
    policy: &Policy,
    scorer: &Scorer,
    cooldowns: &BTreeMap<WorkloadRef, SystemTime>,
) -> Plan {
    let mut nodes = project(&snapshot.nodes, snapshot.now, scorer);
    let bounds = classify_all(&mut nodes, policy);
    let before: Vec<Option<Fractions>> = nodes.iter().map(Projected::fractions).collect();
    let pods = by_node(&snapshot.pods);
    add_requests(&mut nodes, &pods);
    let mut budgets = snapshot.budgets.clone();
    budgets.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let mut run = Run {
        snapshot,
        policy,
        scorer,
        cooldowns,
        budgets: &budgets,
        bounds,
        nodes,
        ledger: Ledger::default(),
        plan: Plan {
            evictions: Vec::new(),
            skipped: Vec::new(),
            nodes: Vec::new(),
        },
    };
    for source in hottest_first(&run.nodes) {
        let on_node = pods.get(run.nodes[source].state.name.as_str());
        run.relieve(source, on_node.map_or(&[], Vec::as_slice));
    }
    run.finish(before)
}

/// Classifies every node against the thresholds in force, which it returns.
fn classify_all(nodes: &mut [Projected<'_>], policy: &Policy) -> Bounds {
    let measured: Vec<Fractions> = nodes.iter().filter_map(Projected::fractions).collect();
    let bounds = classify::bounds(&policy.classification, &measured);
    for node in nodes {
        let schedulable = !node.state.unschedulable();
        node.class = classify::classify(node.fractions(), schedulable, &bounds);
    }
    bounds
}

/// Pods by the node they run on, each list sorted by key.
fn by_node(pods: &[PodState]) -> BTreeMap<&str, Vec<&PodState>> {
    let mut grouped: BTreeMap<&str, Vec<&PodState>> = BTreeMap::new();
    for pod in pods {
        grouped.entry(pod.node.as_str()).or_default().push(pod);
    }
    for list in grouped.values_mut() {
        list.sort_by(|a, b| a.key.cmp(&b.key));
    }
    grouped
}

/// What the scheduler counts as taken on each node: the requests of its pods.
fn add_requests(nodes: &mut [Projected<'_>], pods: &BTreeMap<&str, Vec<&PodState>>) {
    for node in nodes {
        let on_node = pods.get(node.state.name.as_str()).into_iter().flatten();
        node.requested = node.state.unlisted_requests + on_node.map(|p| p.requests).sum();
    }
}

/// Every node by name, with its fresh sustained load; classes are filled in later.
fn project<'a>(nodes: &'a [NodeState], now: SystemTime, scorer: &Scorer) -> Vec<Projected<'a>> {
    let mut projected: Vec<Projected<'a>> = nodes
        .iter()
        .map(|state| {
            let capacity = classify::capacity(state);
            Projected {
                state,
                class: NodeClass::NoMetrics,
                capacity,
                load: capacity.and(classify::fresh_load(state, now, scorer.max_age)),
                requested: Default::default(),
                pending: Default::default(),
            }
        })
        .collect();
    projected.sort_by(|a, b| a.state.name.cmp(&b.state.name));
    projected
}

/// Indexes of the hot nodes, hottest first, ties by name.
fn hottest_first(nodes: &[Projected<'_>]) -> Vec<usize> {
    let mut hot: Vec<(usize, f64)> = nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.class == NodeClass::Hot)
        .filter_map(|(i, n)| Some((i, classify::peak(n.fractions()?))))
        .collect();
    hot.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    hot.into_iter().map(|(i, _)| i).collect()
}

/// The state of one run while it plans.
struct Run<'a> {
    snapshot: &'a ClusterSnapshot,
    policy: &'a Policy,
    scorer: &'a Scorer,
    cooldowns: &'a BTreeMap<WorkloadRef, SystemTime>,
    budgets: &'a [Budget],
    bounds: Bounds,
    nodes: Vec<Projected<'a>>,
    ledger: Ledger,
    plan: Plan,
}

impl<'a> Run<'a> {
    /// Evicts from one hot node until it is projected at or below target, or no
    /// candidate is left.
    fn relieve(&mut self, source: usize, pods: &[&'a PodState]) {
        let Some(hot) = self.nodes[source].fractions() else {
            return;
        };
        let reason = classify::hot_reason(hot, &self.bounds);
        let mut candidates = Vec::new();
        for pod in pods {
            match guards::admit(
                pod,
                self.policy,
                self.snapshot.now,
                self.cooldowns,
                &self.snapshot.workloads,
                self.budgets,
            ) {
                Ok(candidate) => candidates.push(candidate),
                Err(reason) => self.skip(pod, reason),
            }
        }
        while let Some(excess) = self.excess(source) {
            let Some(next) = best_match(&candidates, excess) else {
                return;
            };
            let candidate = candidates.remove(next);
            self.try_evict(source, candidate, &reason);
        }
    }

    /// The most-exceeded resource and by how much (cores or bytes), while above target.
    fn excess(&self, source: usize) -> Option<Excess> {
        let node = &self.nodes[source];
        let (load, capacity) = (node.load?, node.capacity?);
        let f = load.fractions(capacity);
        let t = self.bounds.target;
        if classify::within(f, t) {
            return None;
        }
        Some(if f.cpu - t.cpu >= f.memory - t.memory {
            Excess::Cpu(load.cpu_cores - t.cpu * capacity.cpu_cores)
        } else {
            Excess::Memory(load.memory_bytes - t.memory * capacity.memory_bytes)
        })
    }

    fn try_evict(&mut self, source: usize, candidate: Candidate<'a>, reason: &str) {
        if let Err(skip) = self.ledger.allows(&candidate, self.policy) {
            return self.skip(candidate.pod, skip);
        }
        let to = match destination::choose(
            &self.nodes,
            source,
            candidate.pod,
            candidate.usage,
            self.scorer,
            self.snapshot.now,
            &self.bounds,
        ) {
            Ok(to) => to,
            Err(detail) => return self.skip(candidate.pod, SkipReason::NoDestination { detail }),
        };
        self.ledger.record(&candidate);
        self.nodes[source].release(candidate.usage);
        self.nodes[to].receive(candidate.pod, candidate.usage);
        let pod = candidate.pod;
        self.plan.evictions.push(PlannedEviction {
            pod: pod.key.clone(),
            uid: pod.uid.clone(),
            workload: Some(candidate.workload.clone()),
            from: pod.node.clone(),
            to: self.nodes[to].state.name.clone(),
            usage: candidate.usage,
            reason: reason.to_string(),
        });
    }

    /// The plan, with every node's projected load after it.
    fn finish(self, before: Vec<Option<Fractions>>) -> Plan {
        let mut plan = self.plan;
        plan.nodes = self
            .nodes
            .iter()
            .zip(before)
            .map(|(node, before)| NodeOutcome {
                name: node.state.name.clone(),
                class: node.class,
                before,
                after: node.fractions(),
            })
            .collect();
        plan
    }

    fn skip(&mut self, pod: &PodState, reason: SkipReason) {
        self.plan.skipped.push(SkippedPod {
            pod: pod.key.clone(),
            node: pod.node.clone(),
            reason,
        });
    }
}

/// What is left to shed on a hot node's most-exceeded resource.
#[derive(Debug, Clone, Copy)]
enum Excess {
    Cpu(f64),
    Memory(f64),
}

/// The next pod to try: lowest priority, then lowest QoS, then the smallest pod that
/// covers the excess (or, if none does, the largest), then by key.
fn best_match(candidates: &[Candidate<'_>], excess: Excess) -> Option<usize> {
    let size = |c: &Candidate<'_>| match excess {
        Excess::Cpu(_) => c.usage.cpu_cores,
        Excess::Memory(_) => c.usage.memory_bytes,
    };
    let need = match excess {
        Excess::Cpu(v) | Excess::Memory(v) => v,
    };
    let fit = |c: &Candidate<'_>| -> (bool, f64) {
        let covers = size(c) >= need;
        // Covering pods first, smallest first; then the rest, largest first.
        (!covers, if covers { size(c) } else { -size(c) })
    };
    let order = |a: &Candidate<'_>, b: &Candidate<'_>| -> Ordering {
        a.pod
            .priority
            .cmp(&b.pod.priority)
            .then(a.pod.qos.cmp(&b.pod.qos))
            .then_with(|| {
                let (fa, fb) = (fit(a), fit(b));
                fa.0.cmp(&fb.0).then(fa.1.total_cmp(&fb.1))
            })
            .then_with(|| a.pod.key.cmp(&b.pod.key))
    };
    (0..candidates.len()).min_by(|&a, &b| order(&candidates[a], &candidates[b]))
}
