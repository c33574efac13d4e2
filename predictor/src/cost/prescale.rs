//! What pre-scaling saves: capacity held at the static peak for the whole window versus
//! capacity that follows a per-slot plan. [`compare`] takes plain per-slot numbers, so any
//! plan (the predictor's p90 forecast plan, or the in-sample stand-in [`seasonal_plan`]) fits.

use serde::Serialize;

use super::Timeline;
use super::allocate::Allocation;
use super::rightsize::percentile;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Saving {
    /// `cluster`, or a workload as `namespace/Kind/name`.
    pub name: String,
    /// What one unit of capacity is: `node` or `core`.
    pub unit: String,
    pub slot_hours: f64,
    pub slots: usize,
    /// Units held all the time when provisioning for the peak.
    pub static_units: f64,
    pub static_unit_hours: f64,
    pub planned_unit_hours: f64,
    pub static_cost: f64,
    pub planned_cost: f64,
    /// Slots where demand exceeded the plan: the price of the saving.
    pub under_provisioned_slots: usize,
    /// Where the plan came from.
    pub plan: String,
}

impl Saving {
    pub fn saving(&self) -> f64 {
        self.static_cost - self.planned_cost
    }

    pub fn saving_share(&self) -> f64 {
        if self.static_cost > 0.0 {
            self.saving() / self.static_cost
        } else {
            0.0
        }
    }
}

/// Static peak versus `plan`; `needed` and `plan` are units per slot, `unit_hour_cost` the
/// price of one unit for one hour.
pub fn compare(
    name: &str,
    unit: &str,
    slot_hours: f64,
    needed: &[f64],
    plan: &[f64],
    unit_hour_cost: f64,
    plan_source: &str,
) -> Saving {
    let static_units = needed.iter().copied().fold(0.0, f64::max);
    let slots = needed.len().max(plan.len());
    let static_unit_hours = static_units * slots as f64 * slot_hours;
    let planned_unit_hours = plan.iter().sum::<f64>() * slot_hours;
    let under = needed
        .iter()
        .zip(plan)
        .filter(|(n, p)| **n > **p + 1e-9)
        .count();
    Saving {
        name: name.to_string(),
        unit: unit.to_string(),
        slot_hours,
        slots,
        static_units,
        static_unit_hours,
        planned_unit_hours,
        static_cost: static_unit_hours * unit_hour_cost,
        planned_cost: planned_unit_hours * unit_hour_cost,
        under_provisioned_slots: under,
        plan: plan_source.to_string(),
    }
}

/// Each slot's `q`-quantile over the same phase of every `period` slots, repeated over
/// `slots.len()`: a seasonal plan fitted on the window itself.
pub fn seasonal_plan(slots: &[f64], period: usize, q: f64) -> Vec<f64> {
    let period = period.max(1);
    let profile: Vec<f64> = (0..period.min(slots.len()))
        .map(|phase| {
            let mut same: Vec<f64> = slots.iter().skip(phase).step_by(period).copied().collect();
            percentile(&mut same, q).unwrap_or(0.0)
        })
        .collect();
    (0..slots.len())
        .map(|i| profile[i % profile.len()])
        .collect()
}

/// The maximum of each run of `per_slot` steps: capacity must cover the slot's peak.
pub fn slot_max(per_step: &[f64], per_slot: usize) -> Vec<f64> {
    per_step
        .chunks(per_slot.max(1))
        .map(|c| c.iter().copied().fold(0.0, f64::max))
        .collect()
}

const PLAN_QUANTILE: f64 = 0.9;

/// The cluster and the `top` costliest workloads, each against its in-sample seasonal
/// p90 plan (hour of day), until the predictor's out-of-sample plans are wired in.
pub fn from_allocation(allocation: &Allocation, tl: Timeline, top: usize) -> Vec<Saving> {
    let per_slot = ((3600.0 / tl.step_secs).round() as usize).max(1);
    let slot_hours = per_slot as f64 * tl.step_hours();
    let period = ((24.0 / slot_hours).round() as usize).max(1);
    let slots = tl.steps.div_ceil(per_slot);
    let source = if slots >= 2 * period {
        format!(
            "p90 of each hour of day over the window's {} days (in-sample)",
            slots / period
        )
    } else {
        "window shorter than two days: the plan is the demand itself (perfect foresight)"
            .to_string()
    };
    let plan = |needed: &[f64]| {
        if slots >= 2 * period {
            seasonal_plan(needed, period, PLAN_QUANTILE)
        } else {
            needed.to_vec()
        }
    };
    let mut out = Vec::new();
    let nodes = &allocation.nodes;
    let node_hours: f64 = nodes.iter().map(|n| n.hours).sum();
    if node_hours > 0.0 {
        let cores = nodes.iter().map(|n| n.cpu_core_hours).sum::<f64>() / node_hours;
        let gib = nodes.iter().map(|n| n.memory_gib_hours).sum::<f64>() / node_hours;
        let cost = nodes.iter().map(|n| n.total_cost()).sum::<f64>() / node_hours;
        let cpu = slot_max(&allocation.over_time.allocated_cores, per_slot);
        let mem = slot_max(&allocation.over_time.allocated_gib, per_slot);
        let fraction: Vec<f64> = cpu
            .iter()
            .zip(&mem)
            .map(|(c, m)| (c / cores.max(1e-9)).max(m / gib.max(1e-9)))
            .collect();
        let needed: Vec<f64> = fraction.iter().map(|f| f.ceil()).collect();
        let planned: Vec<f64> = plan(&fraction).iter().map(|f| f.ceil()).collect();
        out.push(compare(
            "cluster", "node", slot_hours, &needed, &planned, cost, &source,
        ));
    }
    for w in allocation.workloads.iter().take(top) {
        let Some(cores) = allocation.over_time.workload_cores.get(&w.key) else {
            continue;
        };
        if w.usage.cpu_core_hours <= 0.0 {
            continue;
        }
        // The workload's all-in cost per charged core-hour, memory included.
        let core_hour_cost = w.usage.total_cost() / w.usage.cpu_core_hours;
        let needed = slot_max(cores, per_slot);
        let name = format!("{}/{}/{}", w.key.namespace, w.key.kind, w.key.name);
        out.push(compare(
            &name,
            "core",
            slot_hours,
            &needed,
            &plan(&needed),
            core_hour_cost,
            &source,
        ));
    }
    out
}
