//! The replay: one pass over the trace's steps per policy, all from the same start.
//!
//! Each step, in the order a cluster would see it: controllers act (CronJob runs start
//! and end, rolling restarts, HPAs, replacements of evicted pods), the descheduler runs
//! on its interval, the scheduler places pending pods (highest priority first), then
//! every pod uses what its trace says, nodes add it up and the figures are recorded.

mod deschedule;
mod hpa;
mod load;
mod metrics;
mod schedule;
mod state;
mod world;

use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::outcome::{PolicyOutcome, Report, TraceSummary};
use crate::policy::Policy;
use crate::trace::Trace;

pub use schedule::initial_placement;
pub use world::Prepared;

/// What a replay models besides the trace; defaults follow the live components.
#[derive(Debug, Clone)]
pub struct Options {
    /// Node CPU utilization above which a node-minute counts as hot.
    pub hot: f64,
    /// Node memory utilization above which a node-minute counts as memory pressure.
    pub memory_pressure: f64,
    /// Between descheduler runs (the CronJob's schedule).
    pub descheduler_interval: Duration,
    /// From an eviction to the controller's replacement pod.
    pub replacement_delay: Duration,
    /// From binding to serving (readiness).
    pub startup_delay: Duration,
    /// The extender's `weight` in the scheduler configuration.
    pub extender_weight: i64,
    /// Most time columns of the heatmap.
    pub heatmap_columns: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            hot: 0.8,
            memory_pressure: 0.9,
            descheduler_interval: Duration::from_secs(300),
            replacement_delay: Duration::from_secs(10),
            startup_delay: Duration::from_secs(60),
            extender_weight: 5,
            heatmap_columns: 288,
        }
    }
}

/// Replays `trace` under each policy (in parallel) and gathers the report.
/// `progress(policy, done, total)` is called now and then from the worker threads.
pub fn simulate(
    trace: &Trace,
    source: &str,
    policies: &[Policy],
    options: &Options,
    progress: &(dyn Fn(Policy, usize, usize) + Sync),
) -> Report {
    let prepared = Prepared::new(trace, options);
    let start = initial_placement(&prepared);
    // Policies that are the same replay under two names run once.
    let mut distinct: Vec<Policy> = policies.iter().map(|p| p.same_replay_as()).collect();
    distinct.sort_by_key(|p| Policy::ALL.iter().position(|q| q == p));
    distinct.dedup();
    let outcomes: Vec<(Policy, PolicyOutcome)> = distinct
        .par_iter()
        .map(|&policy| {
            let started = Instant::now();
            let mut world = world::World::new(&prepared, policy, &start);
            world.run(&mut |done, total| progress(policy, done, total));
            let outcome = world.finish(policy.name().to_string(), started.elapsed().as_secs_f64());
            (policy, outcome)
        })
        .collect();
    let policies = policies
        .iter()
        .filter_map(|&p| {
            let (_, outcome) = outcomes.iter().find(|(q, _)| *q == p.same_replay_as())?;
            let mut outcome = outcome.clone();
            outcome.policy = p.name().to_string();
            Some(outcome)
        })
        .collect();
    Report {
        trace: TraceSummary {
            source: source.to_string(),
            nodes: trace.nodes.len(),
            workloads: trace.workloads.len(),
            pods: start.iter().len(),
            step_seconds: trace.step.as_secs(),
            steps: trace.steps,
            seed: trace.seed,
            hot: options.hot,
        },
        policies,
    }
}
