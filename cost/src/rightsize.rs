//! Request right-sizing per workload container: recommended requests from usage percentiles
//! (each replica's in its busiest day, the highest of the replicas') times a margin, the
//! monthly saving that would have made at the same usage under max(request, usage) costing,
//! and flagged risks.
//!
//! The saving prices each replica's window at max(recommendation × its running steps, its
//! usage): exact while usage stays under the recommendation, which the percentile and margin
//! make the common case (always, for memory at its default percentile of 1: the peak).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::allocate::{Allocation, Workload, workload};
use crate::prices::{GIB, HOURS_PER_MONTH, PriceConfig};
use crate::summary::ContainerTotals;
use crate::{ContainerKey, Summary};

/// The `cost.rightsizing` config section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RightsizeConfig {
    /// Usage percentile (0..=1) the CPU request should cover in the busiest day; 1 is the
    /// maximum.
    pub cpu_percentile: f64,
    /// Percentile of the per-step memory peaks in the busiest day; 1 (the maximum) because
    /// memory is not elastic.
    pub memory_percentile: f64,
    /// Headroom added on top of the percentile, as a fraction.
    pub cpu_margin: f64,
    pub memory_margin: f64,
    /// Floors for a recommendation (Kubecost's: 10m CPU, 20 MiB).
    pub min_cpu_cores: f64,
    #[serde(with = "tidal_core::bytes_text")]
    pub min_memory_bytes: f64,
    /// Flag a memory peak at or above this fraction of the memory limit.
    pub memory_limit_warning: f64,
}

impl Default for RightsizeConfig {
    fn default() -> Self {
        Self {
            cpu_percentile: 0.95,
            memory_percentile: 1.0,
            cpu_margin: 0.15,
            memory_margin: 0.15,
            min_cpu_cores: 0.01,
            min_memory_bytes: 20.0 * 1024.0 * 1024.0,
            memory_limit_warning: 0.9,
        }
    }
}

impl RightsizeConfig {
    /// `(cpu_percentile, memory_percentile)`: what the fetch reduces usage to per day.
    pub fn percentiles(&self) -> (f64, f64) {
        (self.cpu_percentile, self.memory_percentile)
    }

    pub fn validate(&self) -> Result<(), String> {
        let fraction = [
            ("cpu_percentile", self.cpu_percentile),
            ("memory_percentile", self.memory_percentile),
            ("memory_limit_warning", self.memory_limit_warning),
        ];
        for (name, v) in fraction {
            if !(v > 0.0 && v <= 1.0) {
                return Err(format!(
                    "cost.rightsizing.{name} must be in (0, 1], not {v}"
                ));
            }
        }
        let non_negative = [
            ("cpu_margin", self.cpu_margin),
            ("memory_margin", self.memory_margin),
            ("min_cpu_cores", self.min_cpu_cores),
            ("min_memory_bytes", self.min_memory_bytes),
        ];
        for (name, v) in non_negative {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("cost.rightsizing.{name} must be ≥ 0, not {v}"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    pub workload: Workload,
    pub container: String,
    /// Average replicas running over the window.
    pub replicas: f64,
    /// Current per-replica requests (the highest of the replicas' latest); `None` when unset.
    pub cpu_request: Option<f64>,
    pub memory_request: Option<f64>,
    pub memory_limit: Option<f64>,
    pub cpu_usage_percentile: f64,
    pub memory_usage_percentile: f64,
    pub cpu_recommended: f64,
    pub memory_recommended: f64,
    /// Projected saving per month (730 h) at the window's usage; negative when more is needed.
    pub cpu_monthly_saving: f64,
    pub memory_monthly_saving: f64,
    pub risks: Vec<String>,
}

impl Recommendation {
    pub fn monthly_saving(&self) -> f64 {
        self.cpu_monthly_saving + self.memory_monthly_saving
    }
}

/// One recommendation per workload container that ran, sorted by saving, highest first.
pub fn recommend(
    data: &Summary,
    allocation: &Allocation,
    config: &RightsizeConfig,
    prices: &PriceConfig,
) -> Vec<Recommendation> {
    let unit_prices = paid_unit_prices(allocation, prices);
    let mut specs: BTreeMap<(Workload, &str), Vec<&ContainerTotals>> = BTreeMap::new();
    for c in &data.containers {
        let w = workload(&data.owners, &c.key.namespace, &c.key.pod);
        specs.entry((w, &c.key.container)).or_default().push(c);
    }
    let window_hours = data.timeline.hours();
    let mut out: Vec<Recommendation> = specs
        .into_iter()
        .filter_map(|((w, container), replicas)| {
            let (cpu_price, mem_price) = replicas
                .iter()
                .find_map(|c| unit_prices.get(&c.key))
                .copied()
                .unwrap_or((prices.cpu_core_hour, prices.memory_gib_hour));
            let spec = Spec {
                replicas: &replicas,
                step_hours: data.timeline.step_hours(),
            };
            let prices = (cpu_price, mem_price);
            spec.recommend(w, container, config, prices, window_hours)
        })
        .collect();
    out.sort_by(|a, b| b.monthly_saving().total_cmp(&a.monthly_saving()));
    out
}

/// What each container paid per core-hour and per GiB-hour (its node's prices).
fn paid_unit_prices(
    allocation: &Allocation,
    prices: &PriceConfig,
) -> BTreeMap<ContainerKey, (f64, f64)> {
    let per =
        |cost: f64, amount: f64, default: f64| if amount > 0.0 { cost / amount } else { default };
    allocation
        .containers
        .iter()
        .map(|c| {
            let u = &c.usage;
            let cpu = per(u.cpu_cost, u.cpu_core_hours, prices.cpu_core_hour);
            let mem = per(u.memory_cost, u.memory_gib_hours, prices.memory_gib_hour);
            (c.key.clone(), (cpu, mem))
        })
        .collect()
}

/// The replicas of one container of one workload.
struct Spec<'a> {
    replicas: &'a [&'a ContainerTotals],
    step_hours: f64,
}

impl Spec<'_> {
    /// The highest of the replicas' values.
    fn highest(&self, value: impl Fn(&ContainerTotals) -> Option<f64>) -> Option<f64> {
        self.replicas
            .iter()
            .filter_map(|c| value(c))
            .reduce(f64::max)
    }

    /// `prices`: what the workload paid per core-hour and per GiB-hour.
    fn recommend(
        &self,
        workload: Workload,
        container: &str,
        config: &RightsizeConfig,
        (cpu_price, mem_price): (f64, f64),
        window_hours: f64,
    ) -> Option<Recommendation> {
        let running: f64 = self.replicas.iter().map(|c| c.running_steps).sum();
        if running <= 0.0 {
            return None;
        }
        let cpu_p = self.highest(|c| c.cpu_percentile).unwrap_or(0.0);
        let mem_p = self.highest(|c| c.memory_percentile).unwrap_or(0.0);
        let cpu_rec = (cpu_p * (1.0 + config.cpu_margin)).max(config.min_cpu_cores);
        let mem_rec = (mem_p * (1.0 + config.memory_margin)).max(config.min_memory_bytes);
        let positive = |v: Option<f64>| v.filter(|v| *v > 0.0);
        let cpu_request = positive(self.highest(|c| c.latest_cpu_request));
        let memory_request = positive(self.highest(|c| c.latest_memory_request));
        let memory_limit = self.highest(|c| c.memory_limit);
        // Re-cost the window with the recommended requests at the same usage.
        let (mut cpu_saved, mut mem_saved) = (0.0, 0.0);
        for c in self.replicas {
            cpu_saved += c.cpu_charged - (cpu_rec * c.running_steps).max(c.cpu_usage);
            mem_saved += (c.memory_charged - (mem_rec * c.running_steps).max(c.memory_usage)) / GIB;
        }
        let to_month = if window_hours > 0.0 {
            self.step_hours * HOURS_PER_MONTH / window_hours
        } else {
            0.0
        };
        let mut risks = Vec::new();
        let samples = |n: f64| n * self.step_hours;
        if samples(running) < 24.0 {
            risks.push(format!(
                "only {:.1} replica-hours of data",
                samples(running)
            ));
        }
        match cpu_request {
            None => risks.push("no CPU request: scheduled as if it used nothing".to_string()),
            Some(r) if cpu_p > r => risks.push(format!(
                "CPU p{:.0} {:.3} cores above the request {:.3}: throttled under contention",
                config.cpu_percentile * 100.0,
                cpu_p,
                r
            )),
            Some(_) => {}
        }
        match memory_request {
            None => {
                risks.push("no memory request: first evicted under memory pressure".to_string())
            }
            Some(r) if mem_p > r => risks.push(format!(
                "memory peak {} above the request {}: eviction candidate under memory pressure",
                bytes(mem_p),
                bytes(r)
            )),
            Some(_) => {}
        }
        let peak = self.highest(|c| c.memory_peak).unwrap_or(0.0);
        if let Some(limit) = memory_limit
            && peak >= config.memory_limit_warning * limit
        {
            risks.push(format!(
                "memory peak {} is {:.0}% of the limit {}: OOM-kill risk",
                bytes(peak),
                peak / limit * 100.0,
                bytes(limit)
            ));
        }
        Some(Recommendation {
            workload,
            container: container.to_string(),
            replicas: if window_hours > 0.0 {
                samples(running) / window_hours
            } else {
                0.0
            },
            cpu_request,
            memory_request,
            memory_limit,
            cpu_usage_percentile: cpu_p,
            memory_usage_percentile: mem_p,
            cpu_recommended: cpu_rec,
            memory_recommended: mem_rec,
            cpu_monthly_saving: cpu_saved * cpu_price * to_month,
            memory_monthly_saving: mem_saved * mem_price * to_month,
            risks,
        })
    }
}

/// Bytes in binary units, for risk messages.
pub fn bytes(b: f64) -> String {
    if b >= GIB {
        format!("{:.2}Gi", b / GIB)
    } else {
        format!("{:.0}Mi", b / (1024.0 * 1024.0))
    }
}
