//! OpenCost's allocation: each running step, a container is charged
//! max(request, usage) × its node's price per resource-hour; a node's idle cost is its
//! capacity cost minus what its containers were charged. Efficiency is usage / request per
//! resource, and the cost-weighted mean of both.
//!
//! Per container, the step sums come from the database ([`crate::summary`]); per step, cost by
//! namespace is its charged cores and bytes at the namespace's mean price over the window
//! (exact unless a namespace's pods ran on nodes of different prices at different times, and
//! the window's totals are exact either way).

use std::collections::BTreeMap;

use crate::prices::{GIB, NodePrice, PriceConfig};
use crate::summary::{ContainerTotals, Owner, owner};
use crate::{ContainerKey, Owners, Summary, Timeline, value};

/// Resource-hours and their costs; sums of these are sums of rows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub running_hours: f64,
    pub cpu_core_hours_request: f64,
    pub cpu_core_hours_usage: f64,
    /// max(request, usage), step by step: what is charged.
    pub cpu_core_hours: f64,
    pub memory_gib_hours_request: f64,
    pub memory_gib_hours_usage: f64,
    pub memory_gib_hours: f64,
    pub cpu_cost: f64,
    pub memory_cost: f64,
}

impl std::ops::AddAssign<&Usage> for Usage {
    fn add_assign(&mut self, o: &Usage) {
        self.running_hours += o.running_hours;
        self.cpu_core_hours_request += o.cpu_core_hours_request;
        self.cpu_core_hours_usage += o.cpu_core_hours_usage;
        self.cpu_core_hours += o.cpu_core_hours;
        self.memory_gib_hours_request += o.memory_gib_hours_request;
        self.memory_gib_hours_usage += o.memory_gib_hours_usage;
        self.memory_gib_hours += o.memory_gib_hours;
        self.cpu_cost += o.cpu_cost;
        self.memory_cost += o.memory_cost;
    }
}

impl Usage {
    pub fn total_cost(&self) -> f64 {
        self.cpu_cost + self.memory_cost
    }

    /// OpenCost's rule: usage / request; usage without a request counts as fully efficient.
    fn ratio(usage: f64, request: f64) -> Option<f64> {
        if request > 0.0 {
            Some(usage / request)
        } else if usage > 0.0 {
            Some(1.0)
        } else {
            None
        }
    }

    pub fn cpu_efficiency(&self) -> Option<f64> {
        Self::ratio(self.cpu_core_hours_usage, self.cpu_core_hours_request)
    }

    pub fn memory_efficiency(&self) -> Option<f64> {
        Self::ratio(self.memory_gib_hours_usage, self.memory_gib_hours_request)
    }

    /// CPU and memory efficiency weighted by their costs.
    pub fn efficiency(&self) -> Option<f64> {
        let total = self.total_cost();
        if total <= 0.0 {
            return None;
        }
        let part = |eff: Option<f64>, cost: f64| eff.map_or(0.0, |e| e * cost);
        let weighted = part(self.cpu_efficiency(), self.cpu_cost)
            + part(self.memory_efficiency(), self.memory_cost);
        Some(weighted / total)
    }
}

/// The controller a pod belongs to, resolved through ReplicaSets and Jobs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Workload {
    pub namespace: String,
    /// Deployment, StatefulSet, DaemonSet, Job, CronJob, ReplicaSet, ... or `Pod` for bare pods.
    pub kind: String,
    pub name: String,
}

/// Resolves a pod's workload: ReplicaSet → Deployment and Job → CronJob when kube-state-metrics
/// knows the owner; a pod without a controller is its own workload.
pub fn workload(owners: &Owners, namespace: &str, pod: &str) -> Workload {
    owner_workload(owners, &owner(owners, namespace, pod))
}

/// The workload a pod owner belongs to (a ReplicaSet's Deployment, a Job's CronJob).
pub fn owner_workload(owners: &Owners, owner: &Owner) -> Workload {
    let key = (owner.namespace.clone(), owner.name.clone());
    let parent = match owner.kind.as_str() {
        "ReplicaSet" => owners.replica_sets.get(&key),
        "Job" => owners.jobs.get(&key),
        _ => None,
    };
    let (kind, name) = match parent {
        Some((kind, name)) if kind != "<none>" && !kind.is_empty() => (kind, name),
        _ => (&owner.kind, &owner.name),
    };
    Workload {
        namespace: owner.namespace.clone(),
        kind: kind.clone(),
        name: name.clone(),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContainerCost {
    pub key: ContainerKey,
    pub node: Option<String>,
    pub workload: Workload,
    pub usage: Usage,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodeCost {
    pub name: String,
    pub price: NodePrice,
    /// Hours the node had capacity series.
    pub hours: f64,
    pub cpu_core_hours: f64,
    pub memory_gib_hours: f64,
    pub cpu_cost: f64,
    pub memory_cost: f64,
    /// What the node's containers were charged.
    pub allocated: Usage,
}

impl NodeCost {
    pub fn total_cost(&self) -> f64 {
        self.cpu_cost + self.memory_cost
    }

    pub fn idle_cost(&self) -> f64 {
        self.total_cost() - self.allocated.total_cost()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group<K> {
    pub key: K,
    pub usage: Usage,
    /// Distinct pods seen.
    pub pods: usize,
}

/// Cost per step by namespace, plus idle, for charts and the pre-scaling comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct OverTime {
    pub namespaces: BTreeMap<String, Vec<f64>>,
    pub idle: Vec<f64>,
    /// Cores and GiB used by all containers, per step: the demand pre-scaling provisions for.
    pub used_cores: Vec<f64>,
    pub used_gib: Vec<f64>,
    /// Cores used per step by each workload.
    pub workload_used_cores: BTreeMap<Workload, Vec<f64>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// Sorted by cost, highest first (as are the groups).
    pub containers: Vec<ContainerCost>,
    pub workloads: Vec<Group<Workload>>,
    pub namespaces: Vec<Group<String>>,
    pub nodes: Vec<NodeCost>,
    /// Containers on nodes without capacity series: costed at default prices, outside idle.
    pub unattributed: Usage,
    pub total: Totals,
    pub over_time: OverTime,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub node_cost: f64,
    pub allocated_cost: f64,
    pub idle_cost: f64,
    /// Idle / node cost.
    pub idle_share: f64,
    pub efficiency: Option<f64>,
    pub cpu_efficiency: Option<f64>,
    pub memory_efficiency: Option<f64>,
}

/// Costs every container and node of `data`.
pub fn allocate(data: &Summary, prices: &PriceConfig) -> Allocation {
    let tl = data.timeline;
    let mut warnings = Vec::new();
    let mut nodes: BTreeMap<&str, NodeCost> = BTreeMap::new();
    let mut idle = vec![0.0; tl.steps];
    for node in &data.nodes {
        let cost = node_cost(node, tl, prices, &mut idle);
        if cost.price.source.starts_with("default (")
            || cost.price.source.starts_with("default spot (")
        {
            warnings.push(format!(
                "node {} is priced at the default per-resource prices: {}; add its type under cost.prices.instance_types",
                node.name, cost.price.source
            ));
        }
        nodes.insert(&node.name, cost);
    }
    let fallback = prices.node_price(&BTreeMap::new(), 0.0, 0.0);
    let mut unattributed = Usage::default();
    let mut unknown_nodes: BTreeMap<String, usize> = BTreeMap::new();
    let mut containers = Vec::with_capacity(data.containers.len());
    for c in &data.containers {
        let node = c.node.as_deref().and_then(|n| nodes.get_mut(n));
        let price = node.as_ref().map_or(&fallback, |n| &n.price);
        let usage = charge(c, tl, price);
        if usage.running_hours <= 0.0 {
            continue;
        }
        match node {
            Some(n) => n.allocated += &usage,
            None => {
                unattributed += &usage;
                let name = c.node.clone().unwrap_or_else(|| "(unknown)".to_string());
                *unknown_nodes.entry(name).or_default() += 1;
            }
        }
        containers.push(ContainerCost {
            key: c.key.clone(),
            node: c.node.clone(),
            workload: workload(&data.owners, &c.key.namespace, &c.key.pod),
            usage,
        });
    }
    // Unattributed containers are not on any node's bill, so not in idle either.
    if unattributed.total_cost() > 0.0 {
        warnings.push(format!(
            "{} containers ran on nodes without kube_node_status_capacity series ({}); they cost {:.2} at default prices and are left out of idle cost: check that kube-state-metrics exports node metrics",
            unknown_nodes.values().sum::<usize>(),
            unknown_nodes.keys().cloned().collect::<Vec<_>>().join(", "),
            unattributed.total_cost()
        ));
    }
    let over_time = over_time(data, &containers, idle);
    containers.sort_by(|a, b| b.usage.total_cost().total_cmp(&a.usage.total_cost()));
    let workloads = group(&containers, |c| c.workload.clone());
    let namespaces = group(&containers, |c| c.workload.namespace.clone());
    let nodes: Vec<NodeCost> = nodes.into_values().collect();
    for n in &nodes {
        if n.idle_cost() < -0.005 {
            warnings.push(format!(
                "node {}: its containers were charged {:.2} more than the node costs (usage above capacity, or capacity series with gaps)",
                n.name,
                -n.idle_cost()
            ));
        }
    }
    let total = totals(&nodes);
    Allocation {
        containers,
        workloads,
        namespaces,
        nodes,
        unattributed,
        total,
        over_time,
        warnings,
    }
}

/// A node's bill over the window; adds its cost per step to `per_step`.
fn node_cost(
    node: &crate::NodeData,
    tl: Timeline,
    prices: &PriceConfig,
    per_step: &mut [f64],
) -> NodeCost {
    let cores = last_value(&node.cpu_cores);
    let bytes = last_value(&node.memory_bytes);
    let labels = node.labels.clone().unwrap_or_default();
    let price = prices.node_price(&labels, cores, bytes);
    let h = tl.step_hours();
    let (mut hours, mut core_hours, mut gib_hours) = (0.0, 0.0, 0.0);
    for (i, cost) in per_step.iter_mut().enumerate() {
        let (Some(c), Some(m)) = (value(&node.cpu_cores, i), value(&node.memory_bytes, i)) else {
            continue;
        };
        hours += h;
        core_hours += c * h;
        gib_hours += m / GIB * h;
        *cost += (c * price.cpu_core_hour + m / GIB * price.memory_gib_hour) * h;
    }
    NodeCost {
        name: node.name.clone(),
        cpu_cost: core_hours * price.cpu_core_hour,
        memory_cost: gib_hours * price.memory_gib_hour,
        price,
        hours,
        cpu_core_hours: core_hours,
        memory_gib_hours: gib_hours,
        allocated: Usage::default(),
    }
}

/// A container's window at its node's prices.
fn charge(c: &ContainerTotals, tl: Timeline, price: &NodePrice) -> Usage {
    let h = tl.step_hours();
    let cpu = c.cpu_charged * h;
    let memory = c.memory_charged / GIB * h;
    Usage {
        running_hours: c.running_steps * h,
        cpu_core_hours_request: c.cpu_request * h,
        cpu_core_hours_usage: c.cpu_usage * h,
        cpu_core_hours: cpu,
        memory_gib_hours_request: c.memory_request / GIB * h,
        memory_gib_hours_usage: c.memory_usage / GIB * h,
        memory_gib_hours: memory,
        cpu_cost: cpu * price.cpu_core_hour,
        memory_cost: memory * price.memory_gib_hour,
    }
}

/// Per-step costs and usage; `idle` holds the nodes' cost per step, and loses what
/// containers on known nodes were charged.
fn over_time(data: &Summary, containers: &[ContainerCost], mut idle: Vec<f64>) -> OverTime {
    let tl = data.timeline;
    let h = tl.step_hours();
    // Per namespace: what its charged core-hours and GiB-hours cost on average, and the share
    // of its cost on known nodes (the rest is outside idle).
    let known: std::collections::BTreeSet<&str> =
        data.nodes.iter().map(|n| n.name.as_str()).collect();
    let mut spent: BTreeMap<&str, (Usage, f64)> = BTreeMap::new();
    for c in containers {
        let entry = spent.entry(c.key.namespace.as_str()).or_default();
        entry.0 += &c.usage;
        if c.node.as_deref().is_some_and(|n| known.contains(n)) {
            entry.1 += c.usage.total_cost();
        }
    }
    let per = |cost: f64, amount: f64| if amount > 0.0 { cost / amount } else { 0.0 };
    let mut namespaces = BTreeMap::new();
    for (ns, (cpu, memory)) in &data.steps.namespace_charged {
        let Some((usage, on_nodes)) = spent.get(ns.as_str()) else {
            continue;
        };
        let cpu_price = per(usage.cpu_cost, usage.cpu_core_hours);
        let gib_price = per(usage.memory_cost, usage.memory_gib_hours);
        let attributed = per(*on_nodes, usage.total_cost());
        let track: Vec<f64> = (0..tl.steps)
            .map(|i| {
                let cores = value(cpu, i).unwrap_or(0.0);
                let gib = value(memory, i).unwrap_or(0.0) / GIB;
                (cores * cpu_price + gib * gib_price) * h
            })
            .collect();
        for (idle, cost) in idle.iter_mut().zip(&track) {
            *idle -= cost * attributed;
        }
        namespaces.insert(ns.clone(), track);
    }
    let zeroed = |track: &[f64], scale: f64| -> Vec<f64> {
        (0..tl.steps)
            .map(|i| value(track, i).unwrap_or(0.0) * scale)
            .collect()
    };
    let mut workload_used_cores: BTreeMap<Workload, Vec<f64>> = BTreeMap::new();
    for (owner, cores) in &data.steps.owner_used_cores {
        let track = workload_used_cores
            .entry(owner_workload(&data.owners, owner))
            .or_insert_with(|| vec![0.0; tl.steps]);
        for (sum, v) in track.iter_mut().zip(zeroed(cores, 1.0)) {
            *sum += v;
        }
    }
    OverTime {
        namespaces,
        idle,
        used_cores: zeroed(&data.steps.used_cores, 1.0),
        used_gib: zeroed(&data.steps.used_bytes, 1.0 / GIB),
        workload_used_cores,
    }
}

/// The distinct `(namespace, pod)` pairs of a group.
type PodSet<'a> = std::collections::BTreeSet<(&'a str, &'a str)>;

fn group<K: Ord + Clone>(
    containers: &[ContainerCost],
    key: impl Fn(&ContainerCost) -> K,
) -> Vec<Group<K>> {
    let mut groups: BTreeMap<K, (Usage, PodSet<'_>)> = BTreeMap::new();
    for c in containers {
        let entry = groups.entry(key(c)).or_default();
        entry.0 += &c.usage;
        entry.1.insert((&c.key.namespace, &c.key.pod));
    }
    let mut out: Vec<Group<K>> = groups
        .into_iter()
        .map(|(key, (usage, pods))| Group {
            key,
            usage,
            pods: pods.len(),
        })
        .collect();
    out.sort_by(|a, b| b.usage.total_cost().total_cmp(&a.usage.total_cost()));
    out
}

fn totals(nodes: &[NodeCost]) -> Totals {
    let mut allocated = Usage::default();
    let mut node_cost = 0.0;
    for n in nodes {
        allocated += &n.allocated;
        node_cost += n.total_cost();
    }
    let idle = node_cost - allocated.total_cost();
    Totals {
        node_cost,
        allocated_cost: allocated.total_cost(),
        idle_cost: idle,
        idle_share: if node_cost > 0.0 {
            idle / node_cost
        } else {
            0.0
        },
        efficiency: allocated.efficiency(),
        cpu_efficiency: allocated.cpu_efficiency(),
        memory_efficiency: allocated.memory_efficiency(),
    }
}

/// The newest known value, for sizing a node whose capacity never changes in practice.
fn last_value(track: &[f64]) -> f64 {
    track
        .iter()
        .rev()
        .find(|v| !v.is_nan())
        .copied()
        .unwrap_or(0.0)
}
