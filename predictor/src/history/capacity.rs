//! Each node pool's nodes and their allocatable resources now, for node-count plans:
//! a forecast of pool usage becomes a node count by dividing by what one node offers.

use std::collections::BTreeMap;
use std::time::SystemTime;

use tidal_core::prometheus::PrometheusClient;

use super::target::{NodePoolTarget, Resource, Target, node_pools};
use super::{FetchOptions, HistoryError, no_pool_label, retrying};

/// One pool's nodes, sorted by name.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolCapacity {
    /// The pool label's value.
    pub pool: String,
    pub nodes: Vec<NodeAllocatable>,
}

/// What kube-state-metrics reports as a node's allocatable resources.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeAllocatable {
    pub node: String,
    pub cpu_cores: f64,
    pub memory_bytes: f64,
}

/// The nodes of every pool named by node label `label` at `at` (default: now), with
/// their allocatable CPU and memory (`kube_node_status_allocatable`), sorted by pool.
/// Nodes missing either resource are left out.
pub async fn fetch_pool_capacity(
    client: &PrometheusClient,
    label: &str,
    at: Option<SystemTime>,
    options: &FetchOptions,
) -> Result<Vec<PoolCapacity>, HistoryError> {
    let target = Target::NodePool(NodePoolTarget {
        name: Some(format!("node pools by {label}")),
        label: label.to_string(),
        resource: Resource::Cpu,
    });
    let promql = format!(
        "max by (node, resource) (kube_node_status_allocatable{{resource=~\"cpu|memory\"}}) \
         * on (node) group_left (pool) {}",
        node_pools(label)
    );
    let samples = retrying(options, &target, || client.query(&promql, at)).await?;
    // (pool, node) → [cpu, memory]
    let mut found: BTreeMap<(String, String), [Option<f64>; 2]> = BTreeMap::new();
    for sample in samples {
        let label = |name: &str| sample.labels.get(name).cloned().unwrap_or_default();
        let slot = match sample.labels.get("resource").map(String::as_str) {
            Some("cpu") => 0,
            Some("memory") => 1,
            _ => continue,
        };
        found.entry((label("pool"), label("node"))).or_default()[slot] = Some(sample.value);
    }
    let mut pools: Vec<PoolCapacity> = Vec::new();
    for ((pool, node), resources) in found {
        if pools.last().is_none_or(|last| last.pool != pool) {
            pools.push(PoolCapacity {
                pool,
                nodes: Vec::new(),
            });
        }
        if let ([Some(cpu_cores), Some(memory_bytes)], Some(last)) = (resources, pools.last_mut()) {
            last.nodes.push(NodeAllocatable {
                node,
                cpu_cores,
                memory_bytes,
            });
        }
    }
    if pools.is_empty() {
        return Err(no_pool_label(&target, label));
    }
    Ok(pools)
}
