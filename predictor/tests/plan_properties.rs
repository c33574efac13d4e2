//! Pre-scaling plans: bounds, lead, hold and merging checked against a direct oracle on random
//! forecasts, plus the shape of the CSV and JSON outputs.

use k8s_openapi::jiff::Timestamp;
use proptest::prelude::*;
use std::time::Duration;
use tidal_predictor::plan::{NodePlanConfig, Plan, PlanConfig, PlanError, Unit, node_plan, plan};
use tidal_predictor::series::Series;

const START: i64 = 1_800_000_000;

fn config(target: f64, min: u32, max: u32, lead_s: u64, hold_s: u64) -> PlanConfig {
    PlanConfig {
        target_per_replica: target,
        min_replicas: min,
        max_replicas: max,
        lead: Duration::from_secs(lead_s),
        hold: Duration::from_secs(hold_s),
    }
}

/// One count per forecast step, expanded back from the plan's segments.
fn per_step(plan: &Plan) -> Vec<u32> {
    plan.slots
        .iter()
        .flat_map(|s| {
            let n = usize::try_from((s.end - s.start) / plan.step).unwrap_or(0);
            std::iter::repeat_n(s.replicas, n)
        })
        .collect()
}

/// The oracle's fill: the larger of the nearest known values on either side.
fn filled(values: &[f64]) -> Vec<f64> {
    (0..values.len())
        .map(|i| {
            let left = values[..=i].iter().rev().find(|v| !v.is_nan());
            let right = values[i..].iter().find(|v| !v.is_nan());
            match (left, right) {
                (Some(a), Some(b)) => a.max(*b),
                (Some(a), None) | (None, Some(a)) => *a,
                (None, None) => f64::NAN,
            }
        })
        .collect()
}

/// Unclamped replicas a demand needs (same float slack as the planner).
fn raw_need(demand: f64, target: f64) -> f64 {
    (demand.max(0.0) / target - 1e-9).ceil()
}

fn steps(secs: u64, step: i64) -> usize {
    secs.div_ceil(step as u64) as usize
}

fn forecast() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(
        prop_oneof![6 => 0.0..20.0f64, 1 => Just(f64::NAN), 1 => Just(0.0)],
        1..150,
    )
    .prop_filter("something known", |v| v.iter().any(|x| !x.is_nan()))
}

proptest! {
    #[test]
    fn plans_keep_bounds_lead_and_hold(
        values in forecast(),
        step in prop::sample::select(vec![60i64, 300, 420]),
        target in 0.1..5.0f64,
        min in 1u32..5,
        extra in 0u32..30,
        lead_s in 0u64..3600,
        hold_s in 0u64..7200,
    ) {
        let max = min + extra;
        let forecast = Series::new(START, step, values.clone())?;
        let p = plan(&forecast, &config(target, min, max, lead_s, hold_s))?;
        let demand = filled(&values);
        let bounds = (f64::from(min), f64::from(max));
        let needs: Vec<u32> = demand
            .iter()
            .map(|&d| raw_need(d, target).clamp(bounds.0, bounds.1) as u32)
            .collect();
        let r = per_step(&p);
        let n = values.len();
        let (lead, hold) = (steps(lead_s, step), steps(hold_s, step));

        // Segments tile the forecast, each different from the one before.
        prop_assert_eq!(r.len(), n);
        prop_assert_eq!(p.slots.first().map(|s| s.start), Some(START));
        prop_assert!(p.slots.windows(2).all(|w| w[0].end == w[1].start
            && (w[0].replicas, w[0].capped) != (w[1].replicas, w[1].capped)));
        prop_assert_eq!(p.filled, values.iter().filter(|v| v.is_nan()).count());

        for (i, &ri) in r.iter().enumerate() {
            prop_assert!((min..=max).contains(&ri));
            // Raised `lead` ahead of every need, and kept `hold` after it.
            let window = i.saturating_sub(hold)..=(i + lead).min(n - 1);
            prop_assert!(
                window.clone().all(|j| ri >= needs[j]),
                "slot {} below a need in {:?}", i, window
            );
        }
        for b in 1..n {
            if r[b] < r[b - 1] {
                // A scale-down only once the need has stayed lower for `hold` (and `lead` ahead).
                let around = b.saturating_sub(hold)..=(b + lead).min(n - 1);
                prop_assert!(
                    around.clone().all(|k| needs[k] < r[b - 1]),
                    "scale-down at {} with need in {:?}", b, around
                );
            }
        }
        // No dip between two higher levels shorter than `hold`: no scale-down then up within it.
        for w in p.slots.windows(3) {
            if w[1].replicas < w[0].replicas && w[1].replicas < w[2].replicas {
                prop_assert!(w[1].end - w[1].start >= hold_s as i64, "short dip {:?}", w[1]);
            }
        }
        // Capped exactly where the forecast needs more than `max`.
        for (i, &d) in demand.iter().enumerate() {
            if raw_need(d, target) > f64::from(max) {
                let t = START + i as i64 * step;
                prop_assert!(p.slots.iter().any(|s| s.start <= t && t < s.end && s.capped));
            }
        }
        let over = demand.iter().any(|&d| raw_need(d, target) > f64::from(max));
        prop_assert_eq!(p.slots.iter().any(|s| s.capped), over);
    }

    #[test]
    fn a_flat_forecast_is_one_segment(
        value in 0.0..100.0f64,
        len in 1usize..200,
        lead_s in 0u64..3600,
        hold_s in 0u64..7200,
    ) {
        let flat = Series::constant(START, 60, len, value)?;
        let p = plan(&flat, &config(1.0, 1, 50, lead_s, hold_s))?;
        prop_assert_eq!(p.slots.len(), 1);
        prop_assert_eq!(p.slots[0].end, START + 60 * len as i64);
        prop_assert_eq!(p.slots[0].capped, value > 50.0);
    }

    #[test]
    fn json_round_trips_and_csv_has_a_line_per_slot(values in forecast()) {
        let p = plan(&Series::new(START, 60, values)?, &config(2.0, 1, 4, 600, 1800))?;
        let back: Plan = serde_json::from_str(&serde_json::to_string(&p)?)?;
        // serde_json parses floats to within an ulp unless its `float_roundtrip` feature is on.
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(1.0);
        prop_assert_eq!((back.unit, back.step, back.filled), (p.unit, p.step, p.filled));
        prop_assert_eq!(back.slots.len(), p.slots.len());
        for (b, s) in back.slots.iter().zip(&p.slots) {
            prop_assert_eq!(
                (b.start, b.end, b.replicas, b.capped),
                (s.start, s.end, s.replicas, s.capped)
            );
            prop_assert!(close(b.demand, s.demand));
        }
        let mut csv = Vec::new();
        p.write_csv(&mut csv)?;
        let csv = String::from_utf8(csv)?;
        let lines: Vec<&str> = csv.lines().collect();
        prop_assert_eq!(lines.len(), p.slots.len() + 1);
        for (line, slot) in lines[1..].iter().zip(&p.slots) {
            let fields: Vec<&str> = line.split(',').collect();
            prop_assert_eq!(fields.len(), 4);
            prop_assert_eq!(fields[0].parse::<Timestamp>()?.as_second(), slot.start);
            prop_assert_eq!(fields[1].parse::<Timestamp>()?.as_second(), slot.end);
            prop_assert_eq!(fields[2].parse::<u32>()?, slot.replicas);
            prop_assert_eq!(fields[3].parse::<f64>()?, slot.demand);
        }
    }
}

#[test]
fn csv_and_json_shape() -> anyhow::Result<()> {
    // 3.5 needs 4 replicas, over the maximum of 3: raised 10 minutes ahead, held 20 minutes.
    let p = plan(
        &Series::new(0, 600, vec![1.0, 3.5, 1.0, 1.0, 1.0, 1.0])?,
        &config(1.0, 1, 3, 600, 1200),
    )?;
    let mut csv = Vec::new();
    p.write_csv(&mut csv)?;
    assert_eq!(
        String::from_utf8(csv)?,
        "start,end,replicas,demand\n\
         1970-01-01T00:00:00Z,1970-01-01T00:40:00Z,3,3.5\n\
         1970-01-01T00:40:00Z,1970-01-01T01:00:00Z,1,1\n"
    );
    let json = serde_json::to_value(&p)?;
    assert_eq!(json["unit"], "replicas");
    assert_eq!(json["step"], 600);
    assert_eq!(
        json["slots"][0],
        serde_json::json!({"start": 0, "end": 2400, "replicas": 3, "demand": 3.5, "capped": true})
    );
    Ok(())
}

#[test]
fn missing_forecast_samples_never_lower_the_plan() -> anyhow::Result<()> {
    let nan = f64::NAN;
    let p = plan(
        &Series::new(0, 60, vec![1.0, 5.0, nan, nan, 5.0, 1.0, nan])?,
        &config(1.0, 1, 10, 0, 0),
    )?;
    let shape: Vec<(i64, u32)> = p.slots.iter().map(|s| (s.start, s.replicas)).collect();
    assert_eq!(shape, vec![(0, 1), (60, 5), (300, 1)]);
    assert_eq!(p.filled, 3);
    let none = plan(&Series::constant(0, 60, 4, nan)?, &config(1.0, 1, 10, 0, 0));
    assert_eq!(none, Err(PlanError::NoForecast { len: 4 }));
    Ok(())
}

#[test]
fn node_plans_share_the_machinery() -> anyhow::Result<()> {
    let config = NodePlanConfig {
        allocatable: 8.0,
        target_utilization: 0.75,
        min_nodes: 2,
        max_nodes: 10,
        lead: Duration::from_secs(600),
        hold: Duration::from_secs(1800),
    };
    // 6 usable cores per node: 13 cores need 3 nodes, raised 10 minutes ahead, held 30 after.
    let p = node_plan(
        &Series::new(0, 600, vec![4.0, 4.0, 13.0, 4.0, 4.0, 4.0, 4.0, 4.0])?,
        &config,
    )?;
    assert_eq!(p.unit, Unit::Nodes);
    let shape: Vec<(i64, i64, u32)> = p
        .slots
        .iter()
        .map(|s| (s.start, s.end, s.replicas))
        .collect();
    assert_eq!(shape, vec![(0, 600, 2), (600, 3600, 3), (3600, 4800, 2)]);
    let mut csv = Vec::new();
    p.write_csv(&mut csv)?;
    assert!(String::from_utf8(csv)?.starts_with("start,end,nodes,demand\n"));
    Ok(())
}
