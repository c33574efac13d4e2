//! Load snapshots built in memory, for tests and benches that exercise decisions
//! without a Prometheus.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use tidal_core::load::{Figure, LoadSnapshot};
use tidal_core::prometheus::Sample;

pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// One node's figures, as the six load queries would return them.
#[derive(Debug, Clone)]
pub struct NodeFigures {
    /// The node label's value, e.g. `node-1:9100` or `10.0.0.1:9100`.
    pub instance: String,
    pub busy_cores: f64,
    pub cores: f64,
    pub used_bytes: f64,
    pub memory_bytes: f64,
}

impl NodeFigures {
    /// A 4-core, 16 GiB node with 4 GiB in use.
    pub fn new(instance: impl Into<String>, busy_cores: f64) -> Self {
        Self {
            instance: instance.into(),
            busy_cores,
            cores: 4.0,
            used_bytes: 4.0 * GIB,
            memory_bytes: 16.0 * GIB,
        }
    }
}

/// The query results for these nodes, sampled now, keyed by the `instance` label.
pub fn samples(nodes: &[NodeFigures]) -> Vec<(Figure, Vec<Sample>)> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let column = |value: fn(&NodeFigures) -> f64| -> Vec<Sample> {
        nodes
            .iter()
            .map(|n| Sample {
                labels: BTreeMap::from([("instance".to_string(), n.instance.clone())]),
                timestamp: now,
                value: value(n),
            })
            .collect()
    };
    vec![
        (Figure::CpuAverage, column(|n| n.busy_cores)),
        (Figure::CpuPeak, column(|n| n.busy_cores)),
        (Figure::MemoryAverage, column(|n| n.used_bytes)),
        (Figure::MemoryPeak, column(|n| n.used_bytes)),
        (Figure::CpuCapacity, column(|n| n.cores)),
        (Figure::MemoryCapacity, column(|n| n.memory_bytes)),
    ]
}

/// A snapshot of these nodes, sampled now.
pub fn snapshot(nodes: &[NodeFigures]) -> LoadSnapshot {
    LoadSnapshot::from_samples("instance", &samples(nodes), SystemTime::now())
}
