//! Pre-scaling plans: from a demand forecast to the replica (or node) count to hold over time.
//!
//! Each forecast sample needs `ceil(demand / capacity)` units, clamped to `[min, max]`. The plan
//! holds, at each time `t`, the largest need over `[t − hold, t + lead]`: capacity arrives `lead`
//! before a ramp (pods and nodes take time to become ready) and is only given back once the need
//! has stayed lower for `hold`. A dip shorter than `hold` between two higher levels is filled as
//! well, so the plan never scales down only to scale up again moments later. Equal consecutive
//! samples are merged into segments, which is what an HPA floor or a node pool is set from.
//!
//! Replica plans ([`plan`]) and node-pool plans ([`node_plan`]) share one sizing path: only the
//! capacity of one unit (a replica's target demand, a node's usable allocatable) differs.

use crate::series::Series;
use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io;
use std::time::Duration;
use thiserror::Error;

/// Float noise at exact multiples (0.7 / 0.1 = 6.999…9, 0.3 / 0.1 = 3.000…04) must not add one.
const CEIL_SLACK: f64 = 1e-9;

fn default_lead() -> Duration {
    Duration::from_secs(10 * 60)
}

fn default_hold() -> Duration {
    Duration::from_secs(30 * 60)
}

fn default_utilization() -> f64 {
    0.7
}

/// How a workload's forecast becomes HPA replica floors.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    /// Demand one replica should carry, in the forecast's unit (e.g. 0.5 CPU cores).
    pub target_per_replica: f64,
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// Raise this long before the need (pod start-up and warm-up time).
    #[serde(default = "default_lead", with = "tidal_core::duration_text")]
    pub lead: Duration,
    /// Scale down only once the need has stayed lower this long.
    #[serde(default = "default_hold", with = "tidal_core::duration_text")]
    pub hold: Duration,
}

impl PlanConfig {
    /// With the default lead and hold.
    pub fn new(target_per_replica: f64, min_replicas: u32, max_replicas: u32) -> Self {
        Self {
            target_per_replica,
            min_replicas,
            max_replicas,
            lead: default_lead(),
            hold: default_hold(),
        }
    }

    /// Checks what [`plan`] relies on; the error names the field to fix.
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.min_replicas == 0 {
            return Err(PlanError::ZeroMinReplicas);
        }
        self.sizing().validate()
    }

    fn sizing(&self) -> Sizing {
        Sizing {
            unit: Unit::Replicas,
            capacity: self.target_per_replica,
            capacity_field: "target_per_replica",
            min: self.min_replicas,
            max: self.max_replicas,
            lead: self.lead,
            hold: self.hold,
        }
    }
}

/// How a node pool's forecast (summed demand of its pods) becomes node counts.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodePlanConfig {
    /// Allocatable of one node, in the forecast's unit (cores or bytes).
    pub allocatable: f64,
    /// Share of allocatable the plan fills, leaving headroom for spikes and bin-packing loss.
    #[serde(default = "default_utilization")]
    pub target_utilization: f64,
    /// May be 0: a pool can scale to zero.
    pub min_nodes: u32,
    pub max_nodes: u32,
    /// Raise this long before the need (node provisioning time).
    #[serde(default = "default_lead", with = "tidal_core::duration_text")]
    pub lead: Duration,
    /// Scale down only once the need has stayed lower this long.
    #[serde(default = "default_hold", with = "tidal_core::duration_text")]
    pub hold: Duration,
}

impl NodePlanConfig {
    /// With the default utilization, lead and hold.
    pub fn new(allocatable: f64, min_nodes: u32, max_nodes: u32) -> Self {
        Self {
            allocatable,
            target_utilization: default_utilization(),
            min_nodes,
            max_nodes,
            lead: default_lead(),
            hold: default_hold(),
        }
    }

    /// Checks what [`node_plan`] relies on; the error names the field to fix.
    pub fn validate(&self) -> Result<(), PlanError> {
        let u = self.target_utilization;
        if !(u > 0.0 && u <= 1.0) {
            return Err(PlanError::Utilization(u));
        }
        self.sizing().validate()
    }

    fn sizing(&self) -> Sizing {
        Sizing {
            unit: Unit::Nodes,
            capacity: self.allocatable * self.target_utilization,
            capacity_field: "allocatable",
            min: self.min_nodes,
            max: self.max_nodes,
            lead: self.lead,
            hold: self.hold,
        }
    }
}

/// A configuration or forecast a plan cannot be made from.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PlanError {
    #[error(
        "{field} must be a positive number in the forecast's unit (e.g. 0.5 for half a core), got {value}"
    )]
    Capacity { field: &'static str, value: f64 },
    #[error(
        "min_replicas must be at least 1 (an HPA cannot hold 0 replicas); set min_replicas: 1 or more"
    )]
    ZeroMinReplicas,
    #[error(
        "min_{unit} ({min}) must not exceed max_{unit} ({max}); raise max_{unit} or lower min_{unit}"
    )]
    Bounds { unit: Unit, min: u32, max: u32 },
    #[error("target_utilization must be in (0, 1] (e.g. 0.7 fills 70% of allocatable), got {0}")]
    Utilization(f64),
    #[error("the forecast has no values ({len} samples, all missing): forecast the demand first")]
    NoForecast { len: usize },
}

/// What a plan counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Replicas,
    Nodes,
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Replicas => "replicas",
            Self::Nodes => "nodes",
        })
    }
}

/// One segment of a plan: `replicas` held over `[start, end)` (Unix seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    pub start: i64,
    pub end: i64,
    /// Units to hold (replicas, or nodes in a node plan).
    pub replicas: u32,
    /// Highest forecast demand inside the segment (missing samples filled).
    pub demand: f64,
    /// The demand this segment prepares for needs more than the maximum: the maximum is held
    /// and is not enough.
    pub capped: bool,
}

/// A plan: segments in time order, each starting where the previous one ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub unit: Unit,
    /// Demand one unit carries, in the forecast's unit: replicas or nodes × this is the
    /// capacity the plan holds.
    pub unit_capacity: f64,
    /// Step of the forecast the plan was made from, seconds.
    pub step: i64,
    pub slots: Vec<Slot>,
    /// Missing forecast samples filled with the larger of their nearest known neighbours.
    pub filled: usize,
}

/// Replica floors for a workload from its demand forecast (the quantile to provision for).
pub fn plan(forecast: &Series, config: &PlanConfig) -> Result<Plan, PlanError> {
    config.validate()?;
    build(forecast, &config.sizing())
}

/// Node counts for a pool from the forecast of its total demand.
pub fn node_plan(forecast: &Series, config: &NodePlanConfig) -> Result<Plan, PlanError> {
    config.validate()?;
    build(forecast, &config.sizing())
}

/// The one sizing path behind [`plan`] and [`node_plan`].
struct Sizing {
    unit: Unit,
    /// Demand one unit carries.
    capacity: f64,
    capacity_field: &'static str,
    min: u32,
    max: u32,
    lead: Duration,
    hold: Duration,
}

impl Sizing {
    fn validate(&self) -> Result<(), PlanError> {
        if !(self.capacity > 0.0 && self.capacity.is_finite()) {
            return Err(PlanError::Capacity {
                field: self.capacity_field,
                value: self.capacity,
            });
        }
        if self.min > self.max {
            return Err(PlanError::Bounds {
                unit: self.unit,
                min: self.min,
                max: self.max,
            });
        }
        Ok(())
    }

    /// Units needed for `demand`, and whether that is more than `max`.
    fn need(&self, demand: f64) -> (u32, bool) {
        let raw = (demand.max(0.0) / self.capacity - CEIL_SLACK).ceil();
        let capped = raw > f64::from(self.max);
        // In range after the clamp, so the saturating cast is exact.
        let units = raw.clamp(f64::from(self.min), f64::from(self.max)) as u32;
        (units, capped)
    }
}

/// Whole steps covering `d` (rounded up, so a window is never shorter than asked).
fn steps(d: Duration, step: i64) -> usize {
    let step = u64::try_from(step).unwrap_or(1).max(1);
    usize::try_from(d.as_secs().div_ceil(step)).unwrap_or(usize::MAX)
}

fn build(forecast: &Series, sizing: &Sizing) -> Result<Plan, PlanError> {
    let (demand, filled) = fill_missing(&forecast.values).ok_or(PlanError::NoForecast {
        len: forecast.len(),
    })?;
    let (needs, over): (Vec<u32>, Vec<bool>) = demand.iter().map(|&d| sizing.need(d)).unzip();
    let before = steps(sizing.hold, forecast.step);
    let after = steps(sizing.lead, forecast.step);
    let mut counts = window_max(&needs, before, after);
    let capped = window_max(&over, before, after);
    let hold_secs = i64::try_from(sizing.hold.as_secs()).unwrap_or(i64::MAX);
    fill_short_dips(&mut counts, forecast.step, hold_secs);
    Ok(Plan {
        unit: sizing.unit,
        unit_capacity: sizing.capacity,
        step: forecast.step,
        slots: segments(forecast, &demand, &counts, &capped),
        filled,
    })
}

/// Fills each `NaN` with the larger of its nearest known neighbours (a gap in the forecast must
/// not read as "no demand"); `None` when nothing is known.
fn fill_missing(values: &[f64]) -> Option<(Vec<f64>, usize)> {
    let mut previous = vec![f64::NAN; values.len()];
    let mut last = f64::NAN;
    for (slot, &v) in previous.iter_mut().zip(values) {
        if !v.is_nan() {
            last = v;
        }
        *slot = last;
    }
    let mut next = f64::NAN;
    let mut filled = 0;
    let mut out = values.to_vec();
    for (i, v) in out.iter_mut().enumerate().rev() {
        if v.is_nan() {
            // f64::max ignores a NaN side, so an edge gap takes its one known neighbour.
            *v = previous[i].max(next);
            filled += 1;
        } else {
            next = *v;
        }
    }
    let known = !out.is_empty() && out.iter().all(|v| !v.is_nan());
    known.then_some((out, filled))
}

/// For each index `i`, the largest of `values[i − before ..= i + after]` (clipped to the slice),
/// with a monotonic deque so long windows over fine steps stay linear.
fn window_max<T: Copy + PartialOrd>(values: &[T], before: usize, after: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(values.len());
    let mut deque: VecDeque<usize> = VecDeque::new();
    let mut pushed = 0;
    for i in 0..values.len() {
        let last = i.saturating_add(after).min(values.len() - 1);
        while pushed <= last {
            while deque.back().is_some_and(|&j| values[j] <= values[pushed]) {
                deque.pop_back();
            }
            deque.push_back(pushed);
            pushed += 1;
        }
        while deque.front().is_some_and(|&j| j + before < i) {
            deque.pop_front();
        }
        if let Some(&j) = deque.front() {
            out.push(values[j]);
        }
    }
    out
}

/// Runs of equal counts as `(first index, length)`.
fn runs(counts: &[u32]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (i, c) in counts.iter().enumerate() {
        match out.last_mut() {
            Some((start, len)) if counts[*start] == *c => *len += 1,
            _ => out.push((i, 1)),
        }
    }
    out
}

/// Raises every dip shorter than `hold` between two higher levels to the lower of the two, so
/// the plan never scales down and back up within `hold`. Each pass merges at least one run into
/// a neighbour, so there are fewer passes than samples.
fn fill_short_dips(counts: &mut [u32], step: i64, hold: i64) {
    for _ in 0..counts.len() {
        let mut changed = false;
        for w in runs(counts).windows(3) {
            let [(left, _), (dip, len), (right, _)] = [w[0], w[1], w[2]];
            let level = counts[left].min(counts[right]);
            let short = i64::try_from(len).unwrap_or(i64::MAX).saturating_mul(step) < hold;
            if short && counts[dip] < level {
                counts[dip..dip + len].fill(level);
                changed = true;
            }
        }
        if !changed {
            return;
        }
    }
}

/// Merges equal consecutive samples (same count, same capped flag) into slots.
fn segments(forecast: &Series, demand: &[f64], counts: &[u32], capped: &[bool]) -> Vec<Slot> {
    let mut slots: Vec<Slot> = Vec::new();
    for (i, ((&d, &c), &cap)) in demand.iter().zip(counts).zip(capped).enumerate() {
        let end = forecast.time_at(i + 1);
        match slots.last_mut() {
            Some(s) if s.replicas == c && s.capped == cap => {
                s.end = end;
                s.demand = s.demand.max(d);
            }
            _ => slots.push(Slot {
                start: forecast.time_at(i),
                end,
                replicas: c,
                demand: d,
                capped: cap,
            }),
        }
    }
    slots
}

/// `2026-11-23T20:44:01Z` for Unix seconds; `None` outside the years 9999 BC–9999 AD.
pub fn rfc3339(secs: i64) -> Option<String> {
    Timestamp::from_second(secs).ok().map(|t| t.to_string())
}

impl Plan {
    /// Slots that overlap `[from, until)`; an empty range means the instant `from`.
    fn overlapping(&self, from: i64, until: i64) -> impl Iterator<Item = &Slot> {
        let until = until.max(from.saturating_add(1));
        self.slots
            .iter()
            .filter(move |s| s.end > from && s.start < until)
    }

    /// Count planned at time `t`; `None` outside the plan.
    pub fn replicas_at(&self, t: i64) -> Option<u32> {
        self.overlapping(t, t).next().map(|s| s.replicas)
    }

    /// Largest count planned over `[from, until)`; `None` when the plan does not cover any of it.
    pub fn max_over(&self, from: i64, until: i64) -> Option<u32> {
        self.overlapping(from, until).map(|s| s.replicas).max()
    }

    /// The highest count planned at or after `from`, and when it is first reached.
    pub fn next_peak(&self, from: i64) -> Option<(i64, u32)> {
        self.overlapping(from, i64::MAX)
            .fold(None, |best: Option<(i64, u32)>, s| match best {
                Some((_, r)) if r >= s.replicas => best,
                _ => Some((s.start.max(from), s.replicas)),
            })
    }

    /// End of the first stretch at or after `from` during which the plan holds more than
    /// `level`; `None` when it never does.
    pub fn above_until(&self, from: i64, level: u32) -> Option<i64> {
        self.overlapping(from, i64::MAX)
            .skip_while(|s| s.replicas <= level)
            .take_while(|s| s.replicas > level)
            .last()
            .map(|s| s.end)
    }

    /// `start,end,<unit>,demand` with RFC 3339 UTC times and a header line.
    pub fn write_csv(&self, out: &mut impl io::Write) -> io::Result<()> {
        writeln!(out, "start,end,{},demand", self.unit)?;
        for s in &self.slots {
            let time = |t: i64| {
                rfc3339(t).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("plan time {t} is out of range for RFC 3339"),
                    )
                })
            };
            let (start, end) = (time(s.start)?, time(s.end)?);
            writeln!(out, "{start},{end},{},{}", s.replicas, s.demand)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(target: f64, min: u32, max: u32, lead_min: u64, hold_min: u64) -> PlanConfig {
        PlanConfig {
            target_per_replica: target,
            min_replicas: min,
            max_replicas: max,
            lead: Duration::from_secs(lead_min * 60),
            hold: Duration::from_secs(hold_min * 60),
        }
    }

    fn series(values: &[f64]) -> Series {
        Series::new(0, 60, values.to_vec()).expect("valid step")
    }

    #[test]
    fn config_defaults_and_unknown_fields() {
        let c: PlanConfig =
            serde_json::from_str(r#"{"target_per_replica":0.5,"min_replicas":2,"max_replicas":9}"#)
                .expect("valid config");
        assert_eq!(c.lead, Duration::from_secs(600));
        assert_eq!(c.hold, Duration::from_secs(1800));
        let c: PlanConfig = serde_json::from_str(
            r#"{"target_per_replica":1,"min_replicas":1,"max_replicas":3,"lead":"5m","hold":"1h"}"#,
        )
        .expect("durations as text");
        assert_eq!((c.lead.as_secs(), c.hold.as_secs()), (300, 3600));
        let bad = serde_json::from_str::<PlanConfig>(
            r#"{"target_per_replica":1,"min_replicas":1,"max_replicas":3,"leed":"5m"}"#,
        );
        assert!(bad.is_err_and(|e| e.to_string().contains("leed")));
        let n: NodePlanConfig =
            serde_json::from_str(r#"{"allocatable":4,"min_nodes":0,"max_nodes":10}"#)
                .expect("node config");
        assert_eq!(n.target_utilization, 0.7);
    }

    #[test]
    fn invalid_configs_say_what_to_fix() {
        let err = |c: PlanConfig| c.validate().map_err(|e| e.to_string()).err();
        assert!(err(config(0.0, 1, 2, 0, 0)).is_some_and(|e| e.contains("target_per_replica")));
        assert!(err(config(f64::NAN, 1, 2, 0, 0)).is_some());
        assert!(err(config(1.0, 0, 2, 0, 0)).is_some_and(|e| e.contains("min_replicas")));
        assert!(
            err(config(1.0, 3, 2, 0, 0))
                .is_some_and(|e| e.contains("min_replicas (3) must not exceed max_replicas (2)"))
        );
        let nodes = NodePlanConfig {
            allocatable: 4.0,
            target_utilization: 1.5,
            min_nodes: 0,
            max_nodes: 1,
            lead: default_lead(),
            hold: default_hold(),
        };
        assert_eq!(nodes.validate(), Err(PlanError::Utilization(1.5)));
    }

    #[test]
    fn needs_round_up_without_float_noise() {
        let s = config(0.1, 1, 100, 0, 0).sizing();
        assert_eq!(s.need(0.7), (7, false));
        assert_eq!(s.need(0.3), (3, false));
        assert_eq!(s.need(0.31), (4, false));
        assert_eq!(s.need(-1.0), (1, false));
        assert_eq!(s.need(f64::INFINITY), (100, true));
    }

    #[test]
    fn window_max_looks_back_and_ahead() {
        let v = [1, 5, 2, 2, 2, 9, 1];
        assert_eq!(window_max(&v, 1, 0), vec![1, 5, 5, 2, 2, 9, 9]);
        assert_eq!(window_max(&v, 0, 2), vec![5, 5, 2, 9, 9, 9, 1]);
        assert_eq!(window_max::<u32>(&[], 3, 3), Vec::<u32>::new());
    }

    #[test]
    fn gaps_take_the_larger_neighbour() {
        let nan = f64::NAN;
        let (v, n) = fill_missing(&[nan, 2.0, nan, nan, 5.0, 1.0, nan]).expect("some known");
        assert_eq!(v, vec![2.0, 2.0, 5.0, 5.0, 5.0, 1.0, 1.0]);
        assert_eq!(n, 4);
        assert!(fill_missing(&[nan, nan]).is_none());
        assert!(fill_missing(&[]).is_none());
    }

    #[test]
    fn ramp_is_raised_lead_ahead_and_held() {
        // 1 replica, then 4 at minute 30 to 40, then back: lead 10m, hold 20m.
        let mut v = vec![1.0; 90];
        v[30..40].fill(4.0);
        let p = plan(&series(&v), &config(1.0, 1, 10, 10, 20)).expect("valid");
        let shape: Vec<_> = p
            .slots
            .iter()
            .map(|s| (s.start, s.end, s.replicas))
            .collect();
        assert_eq!(
            shape,
            vec![
                (0, 20 * 60, 1),
                (20 * 60, 60 * 60, 4),
                (60 * 60, 90 * 60, 1)
            ]
        );
        assert_eq!(p.replicas_at(25 * 60), Some(4));
        assert_eq!(p.replicas_at(90 * 60), None);
        assert_eq!(p.next_peak(0), Some((20 * 60, 4)));
        assert_eq!(p.next_peak(61 * 60), Some((61 * 60, 1)));
        assert_eq!(p.max_over(0, 20 * 60), Some(1));
        assert_eq!(p.max_over(0, 20 * 60 + 1), Some(4));
        assert_eq!(p.above_until(0, 1), Some(60 * 60));
        assert_eq!(p.above_until(30 * 60, 1), Some(60 * 60));
        assert_eq!(p.above_until(70 * 60, 1), None);
    }

    #[test]
    fn short_dip_between_peaks_is_filled() {
        // Hold 20m, lead 0: the first peak is held until minute 30, the second starts at 45;
        // scaling down for the 14 minutes between them would scale up again within hold.
        let mut v = vec![1.0; 80];
        v[10] = 5.0;
        v[45] = 3.0;
        let p = plan(&series(&v), &config(1.0, 1, 10, 0, 20)).expect("valid");
        let counts: Vec<u32> = p.slots.iter().map(|s| s.replicas).collect();
        assert_eq!(counts, vec![1, 5, 3, 1]);
    }

    #[test]
    fn node_plan_uses_usable_allocatable() {
        let n = NodePlanConfig {
            allocatable: 4.0,
            target_utilization: 0.5,
            min_nodes: 0,
            max_nodes: 3,
            lead: Duration::ZERO,
            hold: Duration::ZERO,
        };
        let p = node_plan(&series(&[0.0, 2.0, 2.1, 9.0]), &n).expect("valid");
        let counts: Vec<(u32, bool)> = p.slots.iter().map(|s| (s.replicas, s.capped)).collect();
        assert_eq!(counts, vec![(0, false), (1, false), (2, false), (3, true)]);
        assert_eq!(p.unit, Unit::Nodes);
    }
}
