//! What pre-scaling saves: capacity held at the static peak for the whole window versus
//! capacity that follows the predictor's p90 plan ([`forecast_plan`]). [`compare`] takes plain
//! per-slot numbers, so any plan fits.

use crate::Timeline;
use crate::allocate::Allocation;
use tidal_predictor::forecast::{ForecastOptions, forecast};
use tidal_predictor::series::Series;

#[derive(Debug, Clone, PartialEq)]
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

/// The plan the predictor would have made, day by day: at each day boundary after the first two
/// days, a day-ahead forecast from the slots before it only (out of sample, as a live run sees
/// it), held at its p90. Days without two days of history before them are held at the window's
/// peak, so no saving is claimed for them.
pub fn forecast_plan(needed: &[f64], start: i64, slot_secs: i64) -> Vec<f64> {
    let peak = needed.iter().copied().fold(0.0, f64::max);
    let mut plan = vec![peak; needed.len()];
    let day = usize::try_from(DAY / slot_secs.max(1))
        .unwrap_or(usize::MAX)
        .max(1);
    let options = ForecastOptions {
        step: slot_secs,
        horizon: DAY,
        ..ForecastOptions::default()
    };
    for origin in (2 * day..needed.len()).step_by(day) {
        let Ok(history) = Series::new(start, slot_secs, needed[..origin].to_vec()) else {
            break;
        };
        if let Ok(f) = forecast(&history, &options) {
            let end = (origin + day).min(needed.len());
            for (slot, p90) in plan[origin..end].iter_mut().zip(&f.p90) {
                *slot = p90.max(0.0);
            }
        }
    }
    plan
}

const DAY: i64 = 86_400;

/// The maximum of each run of `per_slot` steps: capacity must cover the slot's peak.
pub fn slot_max(per_step: &[f64], per_slot: usize) -> Vec<f64> {
    per_step
        .chunks(per_slot.max(1))
        .map(|c| c.iter().copied().fold(0.0, f64::max))
        .collect()
}

/// The cluster and the `top` costliest workloads, each against the predictor's day-ahead p90
/// plan at hourly slots ([`forecast_plan`]).
pub fn from_allocation(allocation: &Allocation, tl: Timeline, top: usize) -> Vec<Saving> {
    let per_slot = ((3600.0 / tl.step_secs).round() as usize).max(1);
    let slot_hours = per_slot as f64 * tl.step_hours();
    let slot_secs = (slot_hours * 3600.0).round() as i64;
    let days = tl.steps.div_ceil(per_slot) as f64 * slot_hours / 24.0;
    let source = if days > 2.0 {
        format!(
            "p90 day-ahead forecasts made each day from the days before (out of sample); \
             the first 2 of {days:.0} days held at the peak"
        )
    } else {
        "window of 2 days or less: too short to forecast, held at the peak".to_string()
    };
    let start = tl.start.round() as i64;
    let plan = |needed: &[f64]| forecast_plan(needed, start, slot_secs);
    let mut out = Vec::new();
    let nodes = &allocation.nodes;
    let node_hours: f64 = nodes.iter().map(|n| n.hours).sum();
    if node_hours > 0.0 {
        let cores = nodes.iter().map(|n| n.cpu_core_hours).sum::<f64>() / node_hours;
        let gib = nodes.iter().map(|n| n.memory_gib_hours).sum::<f64>() / node_hours;
        let cost = nodes.iter().map(|n| n.total_cost()).sum::<f64>() / node_hours;
        let cpu = slot_max(&allocation.over_time.used_cores, per_slot);
        let mem = slot_max(&allocation.over_time.used_gib, per_slot);
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
        let Some(cores) = allocation.over_time.workload_used_cores.get(&w.key) else {
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
