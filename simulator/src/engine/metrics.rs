//! Accumulates a replay's figures step by step.

use crate::outcome::{Heatmap, Move, PolicyOutcome};

/// Utilization histogram resolution: 0.1 % bins up to 400 %.
const BINS: usize = 4000;
const BIN_WIDTH: f64 = 0.001;

pub struct Metrics {
    step_minutes: f64,
    hot: f64,
    memory_pressure: f64,
    pub hot_node_minutes: f64,
    pub memory_pressure_node_minutes: f64,
    histogram: Vec<u64>,
    spread_sum: f64,
    steps: u64,
    pub evictions: u64,
    pub relieved_nodes: u64,
    pub repeated_moves: u64,
    pub pending_pod_minutes: f64,
    pub underprovisioned_minutes: f64,
    pub replica_minutes: f64,
    pub oom_kills: u64,
    pub throttled_core_minutes: f64,
    pub moves: Vec<Move>,
    heatmap: HeatmapBuilder,
}

impl Metrics {
    pub fn new(step_minutes: f64, hot: f64, memory_pressure: f64, heatmap: HeatmapBuilder) -> Self {
        Self {
            step_minutes,
            hot,
            memory_pressure,
            hot_node_minutes: 0.0,
            memory_pressure_node_minutes: 0.0,
            histogram: vec![0; BINS],
            spread_sum: 0.0,
            steps: 0,
            evictions: 0,
            relieved_nodes: 0,
            repeated_moves: 0,
            pending_pod_minutes: 0.0,
            underprovisioned_minutes: 0.0,
            replica_minutes: 0.0,
            oom_kills: 0,
            throttled_core_minutes: 0.0,
            moves: Vec::new(),
            heatmap,
        }
    }

    /// Records one step of node utilization (usage over allocatable, per node).
    pub fn record_nodes(&mut self, step: usize, cpu: &[f64], memory: &[f64]) {
        let n = cpu.len().max(1) as f64;
        let mut sum = 0.0;
        let mut squares = 0.0;
        for (&c, &m) in cpu.iter().zip(memory) {
            if c > self.hot {
                self.hot_node_minutes += self.step_minutes;
            }
            if m > self.memory_pressure {
                self.memory_pressure_node_minutes += self.step_minutes;
            }
            let bin = ((c / BIN_WIDTH) as usize).min(BINS - 1);
            self.histogram[bin] += 1;
            sum += c;
            squares += c * c;
        }
        let mean = sum / n;
        self.spread_sum += (squares / n - mean * mean).max(0.0).sqrt();
        self.steps += 1;
        self.heatmap.record(step, cpu);
    }

    pub fn record_pods(&mut self, running: usize, pending: usize) {
        self.replica_minutes += running as f64 * self.step_minutes;
        self.pending_pod_minutes += pending as f64 * self.step_minutes;
    }

    pub fn underprovisioned(&mut self) {
        self.underprovisioned_minutes += self.step_minutes;
    }

    pub fn throttled(&mut self, cores: f64) {
        self.throttled_core_minutes += cores * self.step_minutes;
    }

    fn quantile(&self, q: f64) -> f64 {
        let total: u64 = self.histogram.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let rank = (q * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bin, &count) in self.histogram.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return (bin as f64 + 0.5) * BIN_WIDTH;
            }
        }
        BINS as f64 * BIN_WIDTH
    }

    pub fn finish(self, policy: String, nodes: usize, wall_seconds: f64) -> PolicyOutcome {
        let hours = self.steps as f64 * self.step_minutes / 60.0;
        PolicyOutcome {
            policy,
            hot_node_minutes: self.hot_node_minutes,
            memory_pressure_node_minutes: self.memory_pressure_node_minutes,
            node_cpu_p95: self.quantile(0.95),
            node_cpu_p99: self.quantile(0.99),
            cpu_spread: self.spread_sum / self.steps.max(1) as f64,
            evictions: self.evictions,
            evictions_per_relieved_node: (self.relieved_nodes > 0)
                .then(|| self.evictions as f64 / self.relieved_nodes as f64),
            repeated_moves: self.repeated_moves,
            pending_pod_minutes: self.pending_pod_minutes,
            underprovisioned_minutes: self.underprovisioned_minutes,
            replica_hours: self.replica_minutes / 60.0,
            node_hours: nodes as f64 * hours,
            oom_kills: self.oom_kills,
            throttled_core_minutes: self.throttled_core_minutes,
            wall_seconds,
            heatmap: self.heatmap.finish(),
            moves: self.moves,
        }
    }
}

/// Averages node utilization into at most `columns` time columns.
pub struct HeatmapBuilder {
    nodes: Vec<String>,
    steps_per_column: usize,
    step_seconds: u64,
    sums: Vec<Vec<f32>>,
}

impl HeatmapBuilder {
    pub fn new(nodes: Vec<String>, steps: usize, step_seconds: u64, columns: usize) -> Self {
        let steps_per_column = steps.div_ceil(columns.max(1)).max(1);
        let width = steps.div_ceil(steps_per_column);
        Self {
            sums: vec![vec![0.0; width]; nodes.len()],
            nodes,
            steps_per_column,
            step_seconds,
        }
    }

    fn record(&mut self, step: usize, cpu: &[f64]) {
        let column = step / self.steps_per_column;
        for (row, &c) in self.sums.iter_mut().zip(cpu) {
            if let Some(cell) = row.get_mut(column) {
                *cell += c as f32;
            }
        }
    }

    fn finish(self) -> Heatmap {
        let per = self.steps_per_column as f32;
        Heatmap {
            column_seconds: self.steps_per_column as u64 * self.step_seconds,
            cells: self
                .sums
                .into_iter()
                .map(|row| row.into_iter().map(|v| v / per).collect())
                .collect(),
            nodes: self.nodes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_add_up() {
        let heatmap = HeatmapBuilder::new(vec!["a".into(), "b".into()], 4, 60, 2);
        let mut m = Metrics::new(1.0, 0.8, 0.9, heatmap);
        m.record_nodes(0, &[0.9, 0.1], &[0.95, 0.0]);
        m.record_nodes(1, &[0.5, 0.5], &[0.0, 0.0]);
        let out = m.finish("p".into(), 2, 0.0);
        assert_eq!(out.hot_node_minutes, 1.0);
        assert_eq!(out.memory_pressure_node_minutes, 1.0);
        // Spread: std of (0.9, 0.1) is 0.4, of (0.5, 0.5) is 0: mean 0.2.
        assert!((out.cpu_spread - 0.2).abs() < 1e-9);
        assert!((out.node_cpu_p99 - 0.9005).abs() < 1e-9);
        assert_eq!(out.heatmap.cells[0][0], (0.9 + 0.5) / 2.0);
        assert_eq!(out.heatmap.column_seconds, 120);
    }
}
