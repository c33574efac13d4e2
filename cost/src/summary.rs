//! What a report needs, reduced: per container, sums over the window's running steps (so its
//! size grows with containers, not with containers × steps), and per step only aggregates
//! (cluster, namespace, top workloads' owners) and node capacity.
//!
//! [`crate::fetch::fetch`] has the time-series database compute it; [`Summary::from_dataset`]
//! computes the same from per-step data: as the reference the database's answers are tested
//! against, for hand-made data, and a day at a time with `cost.aggregate_in: tidal`.

use std::collections::BTreeMap;

use crate::{ContainerData, ContainerKey, Dataset, NodeData, Owners, Timeline, Track, value};

/// One container's window, over the steps it ran in. CPU in cores and memory in bytes,
/// summed per step: multiplied by the step's hours they become core-hours and byte-hours.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerTotals {
    pub key: ContainerKey,
    /// From the requests series, else cAdvisor's `node` label.
    pub node: Option<String>,
    pub running_steps: f64,
    pub cpu_request: f64,
    pub cpu_usage: f64,
    /// Σ max(request, usage): what is charged.
    pub cpu_charged: f64,
    pub memory_request: f64,
    pub memory_usage: f64,
    pub memory_charged: f64,
    /// Usage percentiles for right-sizing ([`crate::RightsizeConfig`]'s): of CPU cores and of
    /// per-step working-set peaks, in the busiest day (the highest of the daily percentiles).
    pub cpu_percentile: Option<f64>,
    pub memory_percentile: Option<f64>,
    /// The highest working-set peak.
    pub memory_peak: Option<f64>,
    /// Requests as kube-state-metrics last reported them in the window.
    pub latest_cpu_request: Option<f64>,
    pub latest_memory_request: Option<f64>,
    pub memory_limit: Option<f64>,
}

impl ContainerTotals {
    /// Adds a later part of the window: sums add, peaks and daily percentiles take the highest,
    /// what was last seen is the later part's when it has it.
    pub fn absorb(&mut self, later: Self) {
        let highest = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.running_steps += later.running_steps;
        self.cpu_request += later.cpu_request;
        self.cpu_usage += later.cpu_usage;
        self.cpu_charged += later.cpu_charged;
        self.memory_request += later.memory_request;
        self.memory_usage += later.memory_usage;
        self.memory_charged += later.memory_charged;
        self.cpu_percentile = highest(self.cpu_percentile, later.cpu_percentile);
        self.memory_percentile = highest(self.memory_percentile, later.memory_percentile);
        self.memory_peak = highest(self.memory_peak, later.memory_peak);
        self.node = later.node.or(self.node.take());
        self.latest_cpu_request = later.latest_cpu_request.or(self.latest_cpu_request);
        self.latest_memory_request = later.latest_memory_request.or(self.latest_memory_request);
        self.memory_limit = later.memory_limit.or(self.memory_limit);
    }
}

/// Per-step aggregates over running containers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepTotals {
    pub used_cores: Track,
    pub used_bytes: Track,
    /// Namespace → charged cores and charged bytes per step.
    pub namespace_charged: BTreeMap<String, (Track, Track)>,
    /// Cores used per step by each pod owner (see [`Owner`]). [`crate::fetch::fetch`] fetches
    /// them only for the owners of the workloads pre-scaling compares (the `top` costliest), so
    /// that what it holds per step does not grow with the pods; the reduction keeps them all.
    pub owner_used_cores: BTreeMap<Owner, Track>,
}

/// The controller that owns a pod as kube-state-metrics' `kube_pod_owner` names it (a
/// ReplicaSet, not yet its Deployment), or the pod itself when it has none.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Owner {
    pub namespace: String,
    pub kind: String,
    pub name: String,
}

/// Everything the pure steps need, as fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub timeline: Timeline,
    pub containers: Vec<ContainerTotals>,
    pub nodes: Vec<NodeData>,
    pub steps: StepTotals,
    pub owners: Owners,
    /// Problems found while fetching (missing series, short data).
    pub warnings: Vec<String>,
    /// HTTP queries sent to Prometheus.
    pub queries: usize,
}

/// Steps per part of the window: a day (right-sizing's percentiles are daily; answers stay
/// small), at most 10,000 (Prometheus refuses over 11,000 points per series in a query).
pub fn part_steps(tl: Timeline) -> usize {
    ((86_400.0 / tl.step_secs).round() as usize).clamp(1, 10_000)
}

/// The window in parts of at most `len` steps, ending with the window (so the newest part is
/// whole): `(first step, steps)`, oldest first.
pub fn parts(steps: usize, len: usize) -> Vec<(usize, usize)> {
    let len = len.max(1);
    let mut out = Vec::new();
    let mut end = steps;
    while end > 0 {
        let first = end.saturating_sub(len);
        out.push((first, end - first));
        end = first;
    }
    out.reverse();
    out
}

/// Prometheus's `quantile_over_time`: the `q`-quantile with linear interpolation between the
/// closest ranks; `None` without samples.
pub fn quantile(samples: &mut [f64], q: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_by(f64::total_cmp);
    let rank = q.clamp(0.0, 1.0) * (samples.len() - 1) as f64;
    let lower = rank.floor() as usize;
    let upper = (lower + 1).min(samples.len() - 1);
    let weight = rank - lower as f64;
    Some(samples[lower] * (1.0 - weight) + samples[upper] * weight)
}

impl Summary {
    /// Reduces per-step data as the database does in [`crate::fetch::fetch`]; `percentiles`
    /// are the CPU and memory quantiles right-sizing asks for.
    pub fn from_dataset(data: &Dataset, percentiles: (f64, f64)) -> Self {
        let tl = data.timeline;
        let mut steps = StepTotals {
            used_cores: vec![f64::NAN; tl.steps],
            used_bytes: vec![f64::NAN; tl.steps],
            ..StepTotals::default()
        };
        let containers = data
            .containers
            .iter()
            .map(|c| {
                let owner = owner(&data.owners, &c.key.namespace, &c.key.pod);
                totals(c, tl, percentiles, &mut steps, owner)
            })
            .collect();
        Self {
            timeline: tl,
            containers,
            nodes: data.nodes.clone(),
            steps,
            owners: data.owners.clone(),
            warnings: data.warnings.clone(),
            queries: data.queries,
        }
    }
}

/// The owner of a pod, as [`Owner`] says.
pub fn owner(owners: &Owners, namespace: &str, pod: &str) -> Owner {
    let (kind, name) = match owners.pods.get(&(namespace.to_string(), pod.to_string())) {
        Some((kind, name)) if kind != "<none>" && !kind.is_empty() => (kind.clone(), name.clone()),
        _ => ("Pod".to_string(), pod.to_string()),
    };
    Owner {
        namespace: namespace.to_string(),
        kind,
        name,
    }
}

/// One container's totals; adds its steps to the per-step aggregates.
fn totals(
    c: &ContainerData,
    tl: Timeline,
    (cpu_q, memory_q): (f64, f64),
    steps: &mut StepTotals,
    owner: Owner,
) -> ContainerTotals {
    let mut t = ContainerTotals {
        key: c.key.clone(),
        node: c.node.clone(),
        memory_limit: c.memory_limit,
        ..ContainerTotals::default()
    };
    let add = |track: &mut Track, i: usize, v: f64| {
        track[i] = if track[i].is_nan() { v } else { track[i] + v };
    };
    let (ns_cpu, ns_memory) = steps
        .namespace_charged
        .entry(c.key.namespace.clone())
        .or_insert_with(|| (vec![f64::NAN; tl.steps], vec![f64::NAN; tl.steps]));
    let owner_cores = steps
        .owner_used_cores
        .entry(owner)
        .or_insert_with(|| vec![f64::NAN; tl.steps]);
    let busiest = |current: &mut Option<f64>, samples: &mut Vec<f64>, q: f64| {
        if let Some(v) = quantile(samples, q) {
            *current = Some(current.map_or(v, |c| c.max(v)));
        }
        samples.clear();
    };
    // As kube-state-metrics last reported them, running or not.
    let latest = |track: &Track| track.iter().rev().find(|v| !v.is_nan()).map(|v| v.max(0.0));
    t.latest_cpu_request = latest(&c.cpu_request);
    t.latest_memory_request = latest(&c.memory_request);
    let (mut cpu_day, mut memory_day) = (Vec::new(), Vec::new());
    for (first, len) in parts(tl.steps, part_steps(tl)) {
        for i in first..first + len {
            if !c.runs_at(i) {
                continue;
            }
            let get = |track: &[f64]| value(track, i).map(|v| v.max(0.0));
            let (cpu_req, cpu_use) = (get(&c.cpu_request), get(&c.cpu_usage));
            let (mem_req, mem_use) = (get(&c.memory_request), get(&c.memory_usage));
            let peak = get(&c.memory_peak);
            t.running_steps += 1.0;
            t.cpu_request += cpu_req.unwrap_or(0.0);
            t.cpu_usage += cpu_use.unwrap_or(0.0);
            t.memory_request += mem_req.unwrap_or(0.0);
            t.memory_usage += mem_use.unwrap_or(0.0);
            let cpu_charged = cpu_req.unwrap_or(0.0).max(cpu_use.unwrap_or(0.0));
            let memory_charged = mem_req.unwrap_or(0.0).max(mem_use.unwrap_or(0.0));
            t.cpu_charged += cpu_charged;
            t.memory_charged += memory_charged;
            if let Some(p) = peak {
                t.memory_peak = Some(t.memory_peak.map_or(p, |m| m.max(p)));
                memory_day.push(p);
            }
            if let Some(u) = cpu_use {
                cpu_day.push(u);
                add(owner_cores, i, u);
                add(&mut steps.used_cores, i, u);
            }
            if let Some(u) = mem_use {
                add(&mut steps.used_bytes, i, u);
            }
            // As in PromQL, a step with neither request nor usage has no charged value.
            if cpu_req.is_some() || cpu_use.is_some() {
                add(ns_cpu, i, cpu_charged);
            }
            if mem_req.is_some() || mem_use.is_some() {
                add(ns_memory, i, memory_charged);
            }
        }
        busiest(&mut t.cpu_percentile, &mut cpu_day, cpu_q);
        busiest(&mut t.memory_percentile, &mut memory_day, memory_q);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_end_with_the_window() {
        assert_eq!(parts(10, 4), [(0, 2), (2, 4), (6, 4)]);
        assert_eq!(parts(8, 4), [(0, 4), (4, 4)]);
        assert_eq!(parts(3, 10), [(0, 3)]);
        assert!(parts(0, 4).is_empty());
    }

    #[test]
    fn quantile_interpolates_as_prometheus_does() {
        let mut uniform: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((quantile(&mut uniform, 0.95).unwrap_or(0.0) - 95.05).abs() < 1e-9);
        assert_eq!(quantile(&mut uniform, 1.0), Some(100.0));
        assert_eq!(quantile(&mut uniform, 0.0), Some(1.0));
        assert_eq!(quantile(&mut [7.0], 0.5), Some(7.0));
        assert_eq!(quantile(&mut [], 0.5), None);
    }
}
