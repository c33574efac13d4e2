//! Hot, cold or neither: sustained load as fractions of allocatable, against the
//! thresholds of the policy (absolute, or offsets from the cluster average).

use std::time::{Duration, SystemTime};

use tidal_core::fit::is_ready;
use tidal_core::load::Capacity;

use crate::model::NodeState;
use crate::policy::{Classification, Fractions, ThresholdMode};

/// How a run sees a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeClass {
    /// Some resource is above `hot`: pods may leave it.
    Hot,
    /// Every resource is below `cold` and the node is schedulable: pods may land on it.
    Cold,
    /// Neither: left as it is.
    Normal,
    /// No fresh sustained load, no size, or not Ready: never a source nor a destination,
    /// because a decision on unknown load could make things worse.
    NoMetrics,
}

/// The thresholds in force for this run, as fractions of allocatable.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounds {
    pub hot: Fractions,
    pub target: Fractions,
    pub cold: Fractions,
}

/// The node's size in cores and bytes, when both are known and positive.
pub(super) fn capacity(node: &NodeState) -> Option<Capacity> {
    let c = Capacity::from_resources(node.allocatable);
    (c.cpu_cores > 0.0 && c.memory_bytes > 0.0).then_some(c)
}

/// Sustained load in cores and bytes, when it is fresh and the node is Ready.
pub(super) fn fresh_load(node: &NodeState, now: SystemTime, max_age: Duration) -> Option<Load> {
    let sustained = node.sustained.as_ref()?;
    let age = now.duration_since(sustained.sampled_at).unwrap_or_default();
    (age <= max_age && is_ready(node)).then_some(Load {
        cpu_cores: sustained.cpu_cores,
        memory_bytes: sustained.memory_bytes,
    })
}

/// Absolute load in cores and bytes: what evictions add and subtract.
#[derive(Debug, Clone, Copy)]
pub(super) struct Load {
    pub cpu_cores: f64,
    pub memory_bytes: f64,
}

impl Load {
    pub fn fractions(self, capacity: Capacity) -> Fractions {
        Fractions {
            cpu: self.cpu_cores / capacity.cpu_cores,
            memory: self.memory_bytes / capacity.memory_bytes,
        }
    }
}

/// Resolves deviation thresholds against the average of the nodes with metrics.
pub(super) fn bounds(c: &Classification, measured: &[Fractions]) -> Bounds {
    match c.mode {
        ThresholdMode::Absolute => Bounds {
            hot: c.hot,
            target: c.target,
            cold: c.cold,
        },
        ThresholdMode::Deviation => {
            let n = measured.len().max(1) as f64;
            let avg = Fractions {
                cpu: measured.iter().map(|f| f.cpu).sum::<f64>() / n,
                memory: measured.iter().map(|f| f.memory).sum::<f64>() / n,
            };
            let offset = |sign: f64, d: Fractions| Fractions {
                cpu: avg.cpu + sign * d.cpu,
                memory: avg.memory + sign * d.memory,
            };
            Bounds {
                hot: offset(1.0, c.hot),
                target: offset(1.0, c.target),
                cold: offset(-1.0, c.cold),
            }
        }
    }
}

pub(super) fn classify(fractions: Option<Fractions>, schedulable: bool, b: &Bounds) -> NodeClass {
    match fractions {
        None => NodeClass::NoMetrics,
        Some(f) if f.cpu > b.hot.cpu || f.memory > b.hot.memory => NodeClass::Hot,
        Some(f) if schedulable && f.cpu < b.cold.cpu && f.memory < b.cold.memory => NodeClass::Cold,
        Some(_) => NodeClass::Normal,
    }
}

/// Whether every resource is at or below `limit`.
pub(super) fn within(f: Fractions, limit: Fractions) -> bool {
    f.cpu <= limit.cpu && f.memory <= limit.memory
}

/// The larger of the two fractions: how hot a node is overall.
pub(super) fn peak(f: Fractions) -> f64 {
    f.cpu.max(f.memory)
}

/// Why a hot node is hot, e.g. `sustained cpu 92% > 80%`.
pub(super) fn hot_reason(f: Fractions, b: &Bounds) -> String {
    let over: Vec<String> = [
        ("cpu", f.cpu, b.hot.cpu),
        ("memory", f.memory, b.hot.memory),
    ]
    .into_iter()
    .filter(|&(_, v, hot)| v > hot)
    .map(|(name, v, hot)| format!("{name} {}% > {}%", pct(v), pct(hot)))
    .collect();
    format!("node sustained {}", over.join(", "))
}

pub(super) fn pct(f: f64) -> i64 {
    (f * 100.0).round() as i64
}
