//! Node load as Prometheus would answer it: per node, the last hour of usage per step,
//! turned into the 5-minute average, the 1-hour peak of that average and the sustained
//! load (the minimum of that average over 15 minutes) the live components query.

use std::time::{Duration, SystemTime};

use tidal_core::load::{Capacity, NodeLoad, Usage};
use tidal_core::usage::SustainedLoad;

/// Windows the live queries use, in steps.
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    /// `rate(...[5m])` and `avg_over_time(...[5m])`.
    pub average: usize,
    /// The extender's peak: `max_over_time(...[1h])` of the average.
    pub peak: usize,
    /// The descheduler's sustained load: `min_over_time(...[15m])` of the average.
    pub sustained: usize,
}

impl Windows {
    pub fn for_step(step: Duration) -> Self {
        let steps = |window: u64| (window / step.as_secs().max(1)).max(1) as usize;
        Self {
            average: steps(300),
            peak: steps(3600),
            sustained: steps(900),
        }
    }
}

/// A ring of the last `peak` steps of CPU (cores) and memory (bytes) per node.
pub struct LoadHistory {
    windows: Windows,
    nodes: usize,
    /// `cpu[slot * nodes + node]`, slot = step % len.
    cpu: Vec<f32>,
    memory: Vec<f32>,
    /// Steps recorded so far.
    recorded: usize,
}

impl LoadHistory {
    pub fn new(nodes: usize, windows: Windows) -> Self {
        let len = windows.peak.max(windows.sustained) + windows.average;
        Self {
            windows,
            nodes,
            cpu: vec![0.0; len * nodes],
            memory: vec![0.0; len * nodes],
            recorded: 0,
        }
    }

    fn len(&self) -> usize {
        self.cpu.len() / self.nodes.max(1)
    }

    /// Records one step's usage of every node.
    pub fn record(&mut self, cpu: &[f64], memory: &[f64]) {
        let slot = self.recorded % self.len();
        let at = slot * self.nodes;
        for (n, (&c, &m)) in cpu.iter().zip(memory).enumerate() {
            self.cpu[at + n] = c as f32;
            self.memory[at + n] = m as f32;
        }
        self.recorded += 1;
    }

    /// Calls `visit` with the 5-minute averages of one node, oldest first, over the last
    /// `count` steps that have a full window (fewer at the start of a replay). A sliding
    /// sum keeps it at one addition and one subtraction per step.
    fn averages(&self, series: &[f32], node: usize, count: usize, mut visit: impl FnMut(f64)) {
        let len = self.len();
        let at = |s: usize| f64::from(series[(s % len) * self.nodes + node]);
        let w = self.windows.average.min(self.recorded.max(1));
        let available = (self.recorded + 1).saturating_sub(w).clamp(1, count);
        let first_end = self.recorded.max(1) - available;
        let from = (first_end + 1).saturating_sub(w);
        let mut sum: f64 = (from..=first_end).map(at).sum();
        visit(sum / (first_end + 1 - from) as f64);
        for end in first_end + 1..self.recorded {
            sum += at(end) - at(end - w);
            visit(sum / w as f64);
        }
    }

    /// The load the extender sees for `node`, sampled at `now`.
    pub fn node_load(&self, node: usize, capacity: Capacity, now: SystemTime) -> Option<NodeLoad> {
        if self.recorded == 0 {
            return None;
        }
        let usage = |series: &[f32]| {
            let mut average = 0.0;
            let mut peak = 0.0f64;
            self.averages(series, node, self.windows.peak, |a| {
                average = a;
                peak = peak.max(a);
            });
            Usage { average, peak }
        };
        Some(NodeLoad {
            cpu_cores: usage(&self.cpu),
            memory_bytes: usage(&self.memory),
            capacity: Some(capacity),
            sampled_at: now,
        })
    }

    /// The sustained load the descheduler classifies `node` by.
    pub fn sustained(&self, node: usize, now: SystemTime) -> Option<SustainedLoad> {
        if self.recorded == 0 {
            return None;
        }
        let min = |series: &[f32]| {
            let mut min = f64::INFINITY;
            self.averages(series, node, self.windows.sustained, |a| min = min.min(a));
            min
        };
        Some(SustainedLoad {
            cpu_cores: min(&self.cpu),
            memory_bytes: min(&self.memory),
            sampled_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_peaks_and_sustained_follow_the_queries() {
        let windows = Windows {
            average: 2,
            peak: 4,
            sustained: 3,
        };
        let mut history = LoadHistory::new(1, windows);
        let now = SystemTime::UNIX_EPOCH;
        let capacity = Capacity {
            cpu_cores: 8.0,
            memory_bytes: 1.0,
        };
        for cpu in [1.0, 3.0, 5.0, 1.0, 1.0] {
            history.record(&[cpu], &[0.0]);
        }
        // 2-step averages over the last 4 steps: (3+5)/2=4, (5+1)/2=3, (1+1)/2=1 and (1+3)/2=2.
        let load = history.node_load(0, capacity, now).unwrap();
        assert_eq!(load.cpu_cores.average, 1.0);
        assert_eq!(load.cpu_cores.peak, 4.0);
        // Sustained: the minimum of the last 3 averages (4, 3, 1).
        assert_eq!(history.sustained(0, now).unwrap().cpu_cores, 1.0);
    }

    #[test]
    fn a_young_history_averages_what_it_has() {
        let windows = Windows::for_step(Duration::from_secs(60));
        let mut history = LoadHistory::new(2, windows);
        history.record(&[2.0, 4.0], &[1.0, 1.0]);
        let sustained = history.sustained(0, SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(sustained.cpu_cores, 2.0);
    }
}
