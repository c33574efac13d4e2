//! What a replay measured, per policy: the figures of the side-by-side table.

use serde::Serialize;

/// Every policy's outcome on one trace.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub trace: TraceSummary,
    pub policies: Vec<PolicyOutcome>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TraceSummary {
    /// Where the trace came from: a file path, `scenario NAME` or a Prometheus URL.
    pub source: String,
    pub nodes: usize,
    pub workloads: usize,
    /// Pods at the start.
    pub pods: usize,
    pub step_seconds: u64,
    pub steps: usize,
    pub seed: u64,
    /// The node CPU utilization above which a node-minute is hot.
    pub hot: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyOutcome {
    pub policy: String,
    /// Node-minutes with CPU usage above `hot` of allocatable.
    pub hot_node_minutes: f64,
    /// Node-minutes with memory usage above 90 % of allocatable.
    pub memory_pressure_node_minutes: f64,
    /// Percentiles of node CPU utilization over every node-minute.
    pub node_cpu_p95: f64,
    pub node_cpu_p99: f64,
    /// Mean over time of the standard deviation of node CPU utilization.
    pub cpu_spread: f64,
    pub evictions: u64,
    /// Evictions per node relieved (a node-run with at least one eviction); `None` without evictions.
    pub evictions_per_relieved_node: Option<f64>,
    /// Evictions of a workload less than an hour after its previous one.
    pub repeated_moves: u64,
    pub pending_pod_minutes: f64,
    /// Minutes an HPA workload's demand was above its serving capacity (ready replicas × CPU request), summed over workloads.
    pub underprovisioned_minutes: f64,
    pub replica_hours: f64,
    pub node_hours: f64,
    /// Containers killed for memory above their limit.
    pub oom_kills: u64,
    /// CPU demand above limits, throttled away, in core-minutes.
    pub throttled_core_minutes: f64,
    /// Wall time of this policy's replay, in seconds.
    pub wall_seconds: f64,
    /// Node CPU utilization over time, for the report's heatmap.
    #[serde(skip)]
    pub heatmap: Heatmap,
    /// Every eviction, in order: what the guards were held to.
    #[serde(skip)]
    pub moves: Vec<Move>,
}

/// One eviction of a replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    pub step: usize,
    /// `Kind namespace/name`.
    pub workload: String,
    pub node: String,
    /// The workload's PodDisruptionBudget allowance when the run began; `None` without one.
    pub allowed: Option<i32>,
    /// Evictions of the workload in this run so far, this one included.
    pub spent: i32,
}

/// Node × time CPU utilization, averaged into at most a few hundred columns.
#[derive(Debug, Clone, Default)]
pub struct Heatmap {
    /// Row labels: node names, in a fixed order shared by every policy of a report.
    pub nodes: Vec<String>,
    /// Seconds from the start of the trace to the start of column 0, and per column.
    pub column_seconds: u64,
    /// `cells[row][column]`: mean CPU utilization (fraction of allocatable).
    pub cells: Vec<Vec<f32>>,
}
