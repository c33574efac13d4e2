//! OpenCost's allocation: each running step, a container is charged
//! max(request, usage) × its node's price per resource-hour; a node's idle cost is its
//! capacity cost minus what its containers were charged. Efficiency is usage / request per
//! resource, and the cost-weighted mean of both.

use std::collections::BTreeMap;

use crate::prices::{GIB, NodePrice, PriceConfig};
use crate::{ContainerData, ContainerKey, Dataset, Owners, Timeline, value};

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
    let key = |name: &str| (namespace.to_string(), name.to_string());
    let (kind, name) = match owners.pods.get(&key(pod)) {
        Some((kind, name)) if kind != "<none>" && !kind.is_empty() => {
            let parent = match kind.as_str() {
                "ReplicaSet" => owners.replica_sets.get(&key(name)),
                "Job" => owners.jobs.get(&key(name)),
                _ => None,
            };
            match parent {
                Some((pk, pn)) if pk != "<none>" && !pk.is_empty() => (pk.clone(), pn.clone()),
                _ => (kind.clone(), name.clone()),
            }
        }
        _ => ("Pod".to_string(), pod.to_string()),
    };
    Workload {
        namespace: namespace.to_string(),
        kind,
        name,
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
pub fn allocate(data: &Dataset, prices: &PriceConfig) -> Allocation {
    let tl = data.timeline;
    let mut warnings = Vec::new();
    let mut nodes: BTreeMap<&str, NodeCost> = BTreeMap::new();
    for node in &data.nodes {
        let cores = last_value(&node.cpu_cores);
        let bytes = last_value(&node.memory_bytes);
        let labels = node.labels.clone().unwrap_or_default();
        let price = prices.node_price(&labels, cores, bytes);
        if price.source.starts_with("default (") || price.source.starts_with("default spot (") {
            warnings.push(format!(
                "node {} is priced at the default per-resource prices: {}; add its type under cost.prices.instance_types",
                node.name, price.source
            ));
        }
        let mut cost = NodeCost {
            name: node.name.clone(),
            price,
            hours: 0.0,
            cpu_core_hours: 0.0,
            memory_gib_hours: 0.0,
            cpu_cost: 0.0,
            memory_cost: 0.0,
            allocated: Usage::default(),
        };
        for i in 0..tl.steps {
            let (Some(c), Some(m)) = (value(&node.cpu_cores, i), value(&node.memory_bytes, i))
            else {
                continue;
            };
            cost.hours += tl.step_hours();
            cost.cpu_core_hours += c * tl.step_hours();
            cost.memory_gib_hours += m / GIB * tl.step_hours();
        }
        cost.cpu_cost = cost.cpu_core_hours * cost.price.cpu_core_hour;
        cost.memory_cost = cost.memory_gib_hours * cost.price.memory_gib_hour;
        nodes.insert(&node.name, cost);
    }
    let fallback = prices.node_price(&BTreeMap::new(), 0.0, 0.0);
    let node_steps: BTreeMap<&str, Vec<f64>> = data
        .nodes
        .iter()
        .map(|n| {
            let price = &nodes[n.name.as_str()].price;
            let per_step = (0..tl.steps)
                .map(|i| {
                    let c = value(&n.cpu_cores, i).unwrap_or(0.0);
                    let m = value(&n.memory_bytes, i).unwrap_or(0.0);
                    (c * price.cpu_core_hour + m / GIB * price.memory_gib_hour) * tl.step_hours()
                })
                .collect();
            (n.name.as_str(), per_step)
        })
        .collect();
    let mut over_time = OverTime {
        namespaces: BTreeMap::new(),
        idle: vec![0.0; tl.steps],
        used_cores: vec![0.0; tl.steps],
        used_gib: vec![0.0; tl.steps],
        workload_used_cores: BTreeMap::new(),
    };
    for per_step in node_steps.values() {
        for (idle, cost) in over_time.idle.iter_mut().zip(per_step) {
            *idle += cost;
        }
    }
    let mut unattributed = Usage::default();
    let mut unknown_nodes: BTreeMap<String, usize> = BTreeMap::new();
    let mut containers = Vec::with_capacity(data.containers.len());
    for c in &data.containers {
        let workload = workload(&data.owners, &c.key.namespace, &c.key.pod);
        let node = c.node.as_deref().and_then(|n| nodes.get_mut(n));
        let price = node.as_ref().map_or(&fallback, |n| &n.price).clone();
        let on_a_node = node.is_some();
        let ns_track = over_time
            .namespaces
            .entry(c.key.namespace.clone())
            .or_insert_with(|| vec![0.0; tl.steps]);
        let wl_track = over_time
            .workload_used_cores
            .entry(workload.clone())
            .or_insert_with(|| vec![0.0; tl.steps]);
        let mut usage = Usage::default();
        for i in 0..tl.steps {
            let Some(step) = charge(c, i, tl, &price) else {
                continue;
            };
            usage += &step;
            ns_track[i] += step.total_cost();
            if on_a_node {
                over_time.idle[i] -= step.total_cost();
            }
            over_time.used_cores[i] += step.cpu_core_hours_usage / tl.step_hours();
            over_time.used_gib[i] += step.memory_gib_hours_usage / tl.step_hours();
            wl_track[i] += step.cpu_core_hours_usage / tl.step_hours();
        }
        match node {
            Some(n) => n.allocated += &usage,
            None => {
                if usage.running_hours > 0.0 {
                    unattributed += &usage;
                    let name = c.node.clone().unwrap_or_else(|| "(unknown)".to_string());
                    *unknown_nodes.entry(name).or_default() += 1;
                }
            }
        }
        if usage.running_hours > 0.0 {
            containers.push(ContainerCost {
                key: c.key.clone(),
                node: c.node.clone(),
                workload,
                usage,
            });
        }
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

/// One step of one container: nothing if it did not run.
fn charge(c: &ContainerData, i: usize, tl: Timeline, price: &NodePrice) -> Option<Usage> {
    if !c.runs_at(i) {
        return None;
    }
    let h = tl.step_hours();
    let get = |t: &[f64]| value(t, i).unwrap_or(0.0).max(0.0);
    let (cpu_req, cpu_use) = (get(&c.cpu_request), get(&c.cpu_usage));
    let (mem_req, mem_use) = (get(&c.memory_request) / GIB, get(&c.memory_usage) / GIB);
    let cpu = cpu_req.max(cpu_use) * h;
    let mem = mem_req.max(mem_use) * h;
    Some(Usage {
        running_hours: h,
        cpu_core_hours_request: cpu_req * h,
        cpu_core_hours_usage: cpu_use * h,
        cpu_core_hours: cpu,
        memory_gib_hours_request: mem_req * h,
        memory_gib_hours_usage: mem_use * h,
        memory_gib_hours: mem,
        cpu_cost: cpu * price.cpu_core_hour,
        memory_cost: mem * price.memory_gib_hour,
    })
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
