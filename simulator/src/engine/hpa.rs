//! HorizontalPodAutoscalers (autoscaling/v2 on CPU utilization) and, for `hpa+predict`,
//! the predictor's day-ahead plans held as their `minReplicas`.
//!
//! An HPA workload's trace usage is per replica at its `replicas` count: that times the
//! count is the workload's demand, shared by the pods that serve (ready ones). Modelled
//! from `pkg/controller/podautoscaler/horizontal.go` and `replica_calculator.go`
//! (Kubernetes v1.33): desired = ceil(ready × utilization / target) outside a 10 %
//! tolerance; on scale-up, pods not yet ready count as using nothing, and a
//! recommendation that then no longer scales up is dropped; scale-down takes the highest
//! recommendation of the last 5 minutes (the default stabilization window). The HPA
//! syncs every 15 s; the replay evaluates it once per step. Left out: the scale-up
//! rate policies (at most double or +4 pods per 15 s, which a 1-minute step rarely
//! binds) and metrics-server's own delay beyond one step.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tidal_predictor::forecast::{ForecastOptions, Quantile, forecast};
use tidal_predictor::plan::{Plan, PlanConfig, plan};
use tidal_predictor::series::Series;

use super::world::{EPOCH_SECONDS, Prepared, World};
use crate::trace::HpaSpec;

const TOLERANCE: f64 = 0.1;
const STABILIZATION: Duration = Duration::from_secs(300);
/// History the predictor needs before its first plan, and how far each plan reaches.
const MIN_HISTORY_DAYS: usize = 2;
const DAY_SECONDS: u64 = 86_400;
/// The predictor's model step.
const FORECAST_STEP: i64 = 300;

#[derive(Default)]
pub struct Autoscaling {
    hpas: Vec<Hpa>,
    predicts: bool,
}

struct Hpa {
    workload: usize,
    spec: HpaSpec,
    /// Recent recommendations: (step, replicas).
    recommendations: VecDeque<(usize, u32)>,
    /// Demand (cores) per step so far: the history the predictor learns from.
    demand: Vec<f64>,
    floors: Option<Plan>,
}

impl Autoscaling {
    pub fn new(prepared: &Prepared<'_>, predicts: bool) -> Self {
        let hpas = prepared
            .trace
            .workloads
            .iter()
            .enumerate()
            .filter_map(|(workload, w)| {
                Some(Hpa {
                    workload,
                    spec: w.hpa?,
                    recommendations: VecDeque::new(),
                    demand: Vec::with_capacity(prepared.trace.steps),
                    floors: None,
                })
            })
            .collect();
        Self { hpas, predicts }
    }

    /// Demand of an HPA workload at `step`: the trace's per-replica usage at its count.
    fn demand(prepared: &Prepared<'_>, workload: usize, step: usize) -> f64 {
        let spec = &prepared.trace.workloads[workload];
        (0..spec.replicas)
            .map(|slot| spec.cpu.at(step, prepared.noise_key(workload, slot)))
            .sum()
    }

    /// One sync of every HPA, then its pods reconciled to the decision.
    pub fn run(&mut self, world: &mut World<'_, '_>) {
        let step = world.step;
        let prepared = world.prepared;
        let steps_per_day = (DAY_SECONDS / prepared.step_seconds()).max(1) as usize;
        for hpa in &mut self.hpas {
            if self.predicts
                && step.is_multiple_of(steps_per_day)
                && step >= MIN_HISTORY_DAYS * steps_per_day
            {
                hpa.floors = hpa.forecast(prepared);
            }
            let floor = hpa
                .floors
                .as_ref()
                .and_then(|p| p.replicas_at(seconds_at(prepared, step)))
                .unwrap_or(0);
            let desired = hpa.sync(world, floor);
            reconcile(world, hpa.workload, desired);
            hpa.demand.push(Self::demand(prepared, hpa.workload, step));
        }
    }

    /// CPU per serving pod of each HPA workload this step, and how many workloads have
    /// more demand than their ready pods' CPU requests.
    pub fn demand_per_ready_pod(&self, world: &World<'_, '_>) -> (HashMap<usize, f64>, usize) {
        let mut per_pod = HashMap::new();
        let mut short = 0;
        for hpa in &self.hpas {
            let demand = hpa.demand.last().copied().unwrap_or(0.0);
            let ready = world.ready_pods(hpa.workload);
            let request = world.prepared.trace.workloads[hpa.workload]
                .requests
                .cpu_milli as f64
                / 1000.0;
            if demand > ready as f64 * request {
                short += 1;
            }
            per_pod.insert(
                hpa.workload,
                if ready > 0 {
                    demand / ready as f64
                } else {
                    0.0
                },
            );
        }
        (per_pod, short)
    }
}

impl Hpa {
    /// The HPA's decision this sync, `floor` raising its minReplicas.
    fn sync(&mut self, world: &World<'_, '_>, floor: u32) -> u32 {
        let step = world.step;
        let spec = &world.prepared.trace.workloads[self.workload];
        let request = spec.requests.cpu_milli as f64 / 1000.0;
        let current = world.pods.by_workload[self.workload].len() as u32;
        let min = self.spec.min.max(floor).min(self.spec.max);
        let ready = world.ready_pods(self.workload) as f64;
        let used = self.demand.last().copied().unwrap_or(0.0);
        let mut recommendation = current;
        if ready > 0.0 && request > 0.0 {
            let ratio = used / (ready * request) / self.spec.target_cpu_utilization;
            if (ratio - 1.0).abs() > TOLERANCE {
                let mut proposed = (ratio * ready).ceil() as u32;
                if proposed > current {
                    // Pods not ready yet count as idle: scale up only if still needed.
                    let all = f64::from(current).max(ready);
                    let conservative = used / (all * request) / self.spec.target_cpu_utilization;
                    if conservative <= 1.0 + TOLERANCE {
                        proposed = current;
                    }
                }
                recommendation = proposed;
            }
        }
        let recommendation = recommendation.clamp(min, self.spec.max);
        let window = (STABILIZATION.as_secs() / world.prepared.step_seconds()) as usize;
        self.recommendations.push_back((step, recommendation));
        while self
            .recommendations
            .front()
            .is_some_and(|&(at, _)| at + window < step)
        {
            self.recommendations.pop_front();
        }
        if recommendation >= current {
            recommendation
        } else {
            // Scale down no lower than anything recommended in the window.
            let highest = self
                .recommendations
                .iter()
                .map(|&(_, r)| r)
                .max()
                .unwrap_or(recommendation);
            highest.min(current).clamp(min, self.spec.max)
        }
    }

    /// Tomorrow's floors from the demand seen before today, as `tidal predict` plans them.
    fn forecast(&self, prepared: &Prepared<'_>) -> Option<Plan> {
        let step_seconds = prepared.step_seconds() as i64;
        let per_bucket = (FORECAST_STEP / step_seconds).max(1) as usize;
        let values: Vec<f64> = self
            .demand
            .chunks(per_bucket)
            .map(|c| c.iter().sum::<f64>() / c.len() as f64)
            .collect();
        let bucket = per_bucket as i64 * step_seconds;
        let history = Series::new(seconds_at(prepared, 0), bucket, values).ok()?;
        let options = ForecastOptions {
            horizon: DAY_SECONDS as i64,
            ..ForecastOptions::default()
        };
        let forecast = forecast(&history, &options).ok()?;
        let spec = &prepared.trace.workloads[self.workload];
        let per_replica =
            spec.requests.cpu_milli as f64 / 1000.0 * self.spec.target_cpu_utilization;
        let config = PlanConfig::new(per_replica, self.spec.min, self.spec.max);
        plan(&forecast.band(Quantile::P90), &config).ok()
    }
}

fn seconds_at(prepared: &Prepared<'_>, step: usize) -> i64 {
    (EPOCH_SECONDS + step as u64 * prepared.step_seconds()) as i64
}

/// Creates or deletes pods until the workload has `desired`: pending ones go first,
/// then those not ready, then the newest (the ReplicaSet controller's order).
fn reconcile(world: &mut World<'_, '_>, workload: usize, desired: u32) {
    let current = world.pods.by_workload[workload].len() as u32;
    for _ in current..desired {
        world.scale_up(workload);
    }
    if desired >= current {
        return;
    }
    let mut victims: Vec<(u8, i64, usize)> = world.pods.by_workload[workload]
        .iter()
        .filter_map(|&id| {
            let pod = world.pods.get(id)?;
            let rank = match (pod.node, pod.is_ready(world.step, world.prepared.startup)) {
                (None, _) => 0,
                (Some(_), false) => 1,
                (Some(_), true) => 2,
            };
            Some((rank, -pod.created, id))
        })
        .collect();
    victims.sort_unstable();
    for &(_, _, id) in victims.iter().take((current - desired) as usize) {
        world.delete(id);
    }
}
