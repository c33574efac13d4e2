//! Period detection and periodic models on synthetic series with known cycles, and on a real one.

use std::f64::consts::TAU;

use proptest::prelude::*;
use tidal_predictor::models::{FftPeriodic, Forecaster, SeasonalNaive, mase, pinball};
use tidal_predictor::period::{Period, detect_periods};

const MINUTE: i64 = 60;
const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;

/// Deterministic uniform noise in [-1, 1) (xorshift64), so that failures reproduce.
fn noise(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed.max(1);
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// `len` samples `step` seconds apart: level + Σ amplitude·sin(2πt/period) + uniform noise.
fn series(len: usize, step: i64, cycles: &[(i64, f64)], noise_amp: f64, seed: u64) -> Vec<f64> {
    let mut rand = noise(seed);
    (0..len)
        .map(|i| {
            let t = i as f64 * step as f64;
            let periodic: f64 = cycles
                .iter()
                .map(|&(p, a)| a * (TAU * t / p as f64).sin())
                .sum();
            10.0 + periodic + noise_amp * rand()
        })
        .collect()
}

fn assert_found(periods: &[Period], expected_secs: i64) {
    let found = periods
        .iter()
        .any(|p| (p.seconds - expected_secs).abs() as f64 <= 0.02 * expected_secs as f64);
    assert!(found, "no period near {expected_secs} s in {periods:?}");
}

#[test]
fn daily_cycle_with_noise_is_found() {
    let values = series(14 * 1440, MINUTE, &[(DAY, 3.0)], 2.0, 1);
    let periods = detect_periods(&values, MINUTE, 3);
    assert_found(&periods, DAY);
    assert!((periods[0].seconds - DAY).abs() <= DAY / 50, "{periods:?}");
}

#[test]
fn six_hour_cycle_is_found_not_only_days_and_weeks() {
    let values = series(4 * 288, 5 * MINUTE, &[(6 * 3600, 1.0)], 0.5, 2);
    let periods = detect_periods(&values, 5 * MINUTE, 3);
    assert_found(&periods, 6 * 3600);
    // Multiples of 6 h (12 h, 1 d) correlate no better, so they are not reported.
    assert_eq!(periods.len(), 1, "{periods:?}");
}

#[test]
fn daily_and_weekly_cycles_are_both_found() {
    let values = series(21 * 288, 5 * MINUTE, &[(DAY, 3.0), (WEEK, 2.0)], 1.0, 3);
    let periods = detect_periods(&values, 5 * MINUTE, 4);
    assert_found(&periods, DAY);
    assert_found(&periods, WEEK);
}

#[test]
fn flat_and_pure_noise_series_have_no_period() {
    assert!(detect_periods(&[42.0; 5000], MINUTE, 3).is_empty());
    let noisy = series(5000, MINUTE, &[], 1.0, 4);
    assert_eq!(detect_periods(&noisy, MINUTE, 3), vec![]);
}

#[test]
fn gaps_do_not_hide_a_cycle() {
    let mut values = series(7 * 288, 5 * MINUTE, &[(DAY, 3.0)], 1.0, 5);
    values
        .iter_mut()
        .skip(100)
        .step_by(7)
        .for_each(|v| *v = f64::NAN);
    values[600..700].fill(f64::NAN);
    assert_found(&detect_periods(&values, 5 * MINUTE, 2), DAY);
}

#[test]
fn models_forecast_a_clean_periodic_series() {
    // Two harmonics of a 2-hour cycle sampled every minute; forecast the next 3 hours.
    let cycles = [(7200, 5.0), (3600, 2.0)];
    let all = series(20 * 120 + 180, MINUTE, &cycles, 0.0, 6);
    let (history, actual) = all.split_at(20 * 120);
    let models: [(&str, Box<dyn Forecaster>); 4] = [
        ("naive, given", Box::new(SeasonalNaive::new(Some(7200)))),
        ("naive, detected", Box::new(SeasonalNaive::new(None))),
        ("fft, given", Box::new(FftPeriodic::new(Some(7200)))),
        (
            "fft, detected",
            Box::new(FftPeriodic::with_params(None, 4, 4)),
        ),
    ];
    for (name, mut model) in models {
        model.fit(history, MINUTE).expect(name);
        let forecast = model.forecast(actual.len()).expect(name);
        assert_eq!(forecast.len(), actual.len());
        let worst = actual
            .iter()
            .zip(&forecast)
            .map(|(a, f)| (a - f).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-6, "{name}: max error {worst}");
    }
}

#[test]
fn fft_model_beats_seasonal_naive_on_a_noisy_cycle() {
    let all = series(15 * 288, 5 * MINUTE, &[(DAY, 3.0)], 1.5, 7);
    let (history, actual) = all.split_at(14 * 288);
    let mut naive = SeasonalNaive::new(None);
    let mut fft = FftPeriodic::new(None);
    naive.fit(history, 5 * MINUTE).expect("naive fits");
    fft.fit(history, 5 * MINUTE).expect("fft fits");
    let period = fft.period_steps().expect("fitted");
    assert!(period.abs_diff(288) <= 5, "period {period}");
    let naive_f = naive.forecast(288).expect("naive forecast");
    let fft_f = fft.forecast(288).expect("fft forecast");
    let naive_mase = mase(actual, &naive_f, history, 288).expect("naive mase");
    let fft_mase = mase(actual, &fft_f, history, 288).expect("fft mase");
    assert!(
        fft_mase < 0.8 * naive_mase,
        "fft {fft_mase} vs naive {naive_mase}"
    );
    let p50 = pinball(actual, &fft_f, 0.5).expect("pinball");
    assert!(p50 < 0.5, "pinball 0.5 = {p50}");
}

/// `ts,value` lines after a header; unparsable lines are skipped (the CSV reader proper lives elsewhere).
fn read_series(path: &str) -> Option<(Vec<f64>, i64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let rows: Vec<(i64, f64)> = text
        .lines()
        .skip(1)
        .filter_map(|line| {
            let (ts, value) = line.split_once(',')?;
            Some((ts.trim().parse().ok()?, value.trim().parse().ok()?))
        })
        .collect();
    let step = rows.get(1)?.0 - rows.first()?.0;
    Some((rows.into_iter().map(|(_, v)| v).collect(), step))
}

/// Crane's series2 (16 days of minute CPU usage, busier at weekends, hourly spikes), or `None` in a
/// clone without `shared/`.
fn crane_series2() -> Option<Vec<f64>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/crane-cpu/series2.csv"
    );
    let loaded = read_series(path);
    if loaded.is_none() {
        eprintln!("note: {path} not found (a clone without shared/), skipping");
    }
    let (values, step) = loaded?;
    assert_eq!(step, MINUTE);
    Some(values)
}

#[test]
fn real_crane_series_has_daily_and_weekly_periods() {
    let Some(values) = crane_series2() else {
        return;
    };
    let five_minutes: Vec<f64> = values
        .chunks(5)
        .map(|c| c.iter().sum::<f64>() / c.len() as f64)
        .collect();
    for (values, step) in [(values, MINUTE), (five_minutes, 5 * MINUTE)] {
        let periods = detect_periods(&values, step, 5);
        eprintln!("series2 at {step} s: {periods:?}");
        // Snapped to the wall clock: the hourly spikes ripple the ACF and used to pull both off.
        assert!(periods.iter().any(|p| p.seconds == DAY), "{periods:?}");
        assert!(periods.iter().any(|p| p.seconds == WEEK), "{periods:?}");
    }
}

proptest! {
    #[test]
    fn detection_never_panics_and_stays_in_bounds(
        values in prop::collection::vec(
            prop_oneof![4 => -1e300..1e300f64, 1 => Just(f64::NAN), 1 => -10.0..10.0f64],
            0..400,
        ),
        step in 1i64..100_000,
        max_periods in 0usize..5,
    ) {
        let periods = detect_periods(&values, step, max_periods);
        prop_assert!(periods.len() <= max_periods);
        let n = values.len() as i64;
        for p in &periods {
            prop_assert!(p.seconds >= 2 * step && p.seconds <= n / 2 * step, "{p:?}");
            prop_assert!(p.strength > 0.0 && p.strength <= 1.0, "{p:?}");
        }
        prop_assert!(periods.windows(2).all(|w| w[0].strength >= w[1].strength));
    }
}
