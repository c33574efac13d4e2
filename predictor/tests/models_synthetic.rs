//! The forecast models on synthetic series whose future is known: daily + weekly shapes, trends,
//! flat lines, gaps, and inputs no model can use.

use std::f64::consts::TAU;

use proptest::prelude::*;
use tidal_predictor::models::{
    FftPeriodic, Forecaster, HoltWinters, ModelError, MultiSeasonal, SeasonalMedian, SeasonalNaive,
    mase,
};

const STEP: i64 = 300;
const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;
const DAY_STEPS: usize = 288;

/// Deterministic uniform noise in [-1, 1) (64-bit LCG, high bits), so that failures reproduce.
fn noise(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed;
    move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// Usage with a daily shape (busy afternoons), quieter weekends, a slope per step and noise.
fn usage(len: usize, slope: f64, noise_amp: f64, seed: u64) -> Vec<f64> {
    let mut rand = noise(seed);
    (0..len)
        .map(|i| {
            let t = i as f64 * STEP as f64;
            let daily = 3.0 * (TAU * t / DAY as f64).sin() + (2.0 * TAU * t / DAY as f64).cos();
            let weekly = 2.0 * (TAU * t / WEEK as f64).sin();
            20.0 + daily + weekly + slope * i as f64 + noise_amp * rand()
        })
        .collect()
}

fn max_abs_error(actual: &[f64], forecast: &[f64]) -> f64 {
    assert_eq!(actual.len(), forecast.len());
    actual
        .iter()
        .zip(forecast)
        .map(|(a, f)| (a - f).abs())
        .fold(0.0, f64::max)
}

fn fit_forecast(model: &mut dyn Forecaster, history: &[f64], horizon: usize) -> Vec<f64> {
    model.fit(history, STEP).expect("fits");
    model.forecast(horizon).expect("forecasts")
}

#[test]
fn multi_seasonal_forecasts_daily_and_weekly_shapes() {
    let clean = usage(22 * DAY_STEPS, 0.0, 0.0, 0);
    let noisy = usage(22 * DAY_STEPS, 0.0, 1.0, 11);
    let (history, _) = noisy.split_at(21 * DAY_STEPS);
    let truth = &clean[21 * DAY_STEPS..];

    let mut model = MultiSeasonal::new(&[WEEK, DAY]);
    let forecast = fit_forecast(&mut model, history, DAY_STEPS);
    assert_eq!(model.fitted_periods(), vec![DAY_STEPS, 7 * DAY_STEPS]);
    let worst = max_abs_error(truth, &forecast);
    assert!(
        worst < 0.8,
        "max error {worst} against the noise-free truth"
    );

    // The weekly drift moves tomorrow's level: the daily profile alone misses it.
    let mut daily_only = MultiSeasonal::new(&[DAY]);
    let daily_forecast = fit_forecast(&mut daily_only, history, DAY_STEPS);
    let with_weekly = mase(truth, &forecast, history, DAY_STEPS).expect("mase");
    let without = mase(truth, &daily_forecast, history, DAY_STEPS).expect("mase");
    assert!(with_weekly < 0.7 * without, "{with_weekly} vs {without}");
}

#[test]
fn robust_models_beat_seasonal_naive_on_noise() {
    let clean = usage(15 * DAY_STEPS, 0.0, 0.0, 0);
    let noisy = usage(15 * DAY_STEPS, 0.0, 2.0, 12);
    let (history, _) = noisy.split_at(14 * DAY_STEPS);
    let truth = &clean[14 * DAY_STEPS..];
    let score = |model: &mut dyn Forecaster| {
        let forecast = fit_forecast(model, history, DAY_STEPS);
        mase(truth, &forecast, history, DAY_STEPS).expect("mase")
    };
    let naive = score(&mut SeasonalNaive::new(Some(DAY)));
    for (name, mut model) in [
        (
            "median",
            Box::new(SeasonalMedian::new(Some(DAY), 7)) as Box<dyn Forecaster>,
        ),
        ("holt-winters", Box::new(HoltWinters::new(DAY))),
        ("multi-seasonal", Box::new(MultiSeasonal::new(&[DAY, WEEK]))),
    ] {
        let score = score(model.as_mut());
        assert!(score < 0.6 * naive, "{name}: {score} vs naive {naive}");
    }
}

#[test]
fn holt_winters_follows_a_trend() {
    let mut rand = noise(15);
    let all: Vec<f64> = (0..9 * DAY_STEPS)
        .map(|i| {
            let daily = 3.0 * (TAU * i as f64 / DAY_STEPS as f64).sin();
            10.0 + daily + 0.05 * i as f64 + 0.2 * rand()
        })
        .collect();
    let (history, actual) = all.split_at(8 * DAY_STEPS);
    let hour = &actual[..12];
    let mut model = HoltWinters::with_damped_trend(DAY);
    let forecast = fit_forecast(&mut model, history, 12);
    let params = model.params().expect("fitted");
    assert!(params.phi > 0.0 && params.beta > 0.0, "{params:?}");
    let worst = max_abs_error(hour, &forecast);
    // A damped trend under-forecasts steady growth (0.6 an hour here), but less than no trend.
    assert!(worst < 1.0, "max error {worst} over the next hour");
    // Without a trend the level lags behind.
    let mut level_only = HoltWinters::new(DAY);
    let lagging = fit_forecast(&mut level_only, history, 12);
    let mean_error = |f: &[f64]| hour.iter().zip(f).map(|(a, f)| a - f).sum::<f64>() / 12.0;
    assert!(
        mean_error(&lagging) > mean_error(&forecast),
        "{} vs {}",
        mean_error(&lagging),
        mean_error(&forecast)
    );
}

/// Every model, fresh, with a daily period where it takes one.
fn all_models() -> Vec<(&'static str, Box<dyn Forecaster>)> {
    vec![
        ("naive", Box::new(SeasonalNaive::new(Some(DAY)))),
        ("median", Box::new(SeasonalMedian::new(Some(DAY), 7))),
        ("fft", Box::new(FftPeriodic::new(Some(DAY)))),
        ("holt-winters", Box::new(HoltWinters::new(DAY))),
        (
            "holt-winters trend",
            Box::new(HoltWinters::with_damped_trend(DAY)),
        ),
        ("multi-seasonal", Box::new(MultiSeasonal::new(&[DAY, WEEK]))),
    ]
}

#[test]
fn a_flat_series_forecasts_flat() {
    let history = vec![7.5; 15 * DAY_STEPS];
    for (name, mut model) in all_models() {
        let forecast = fit_forecast(model.as_mut(), &history, 2 * DAY_STEPS);
        let worst = max_abs_error(&vec![7.5; 2 * DAY_STEPS], &forecast);
        assert!(worst < 1e-9, "{name}: max error {worst}");
    }
}

#[test]
fn gaps_barely_change_the_forecast() {
    let complete = usage(14 * DAY_STEPS, 0.0, 0.5, 13);
    let mut gappy = complete.clone();
    gappy
        .iter_mut()
        .skip(5)
        .step_by(11)
        .for_each(|v| *v = f64::NAN);
    gappy[3000..3040].fill(f64::INFINITY);
    gappy[..20].fill(f64::NAN);
    for ((name, mut with_gaps), (_, mut without)) in all_models().into_iter().zip(all_models()) {
        let forecast = fit_forecast(with_gaps.as_mut(), &gappy, DAY_STEPS);
        let reference = fit_forecast(without.as_mut(), &complete, DAY_STEPS);
        let worst = max_abs_error(&reference, &forecast);
        // Naive and median forecasts are single samples, so an interpolated one differs by the noise.
        let tolerance = if matches!(name, "naive" | "median") {
            1.2
        } else {
            0.6
        };
        assert!(
            worst < tolerance,
            "{name}: forecasts differ by up to {worst}"
        );
    }
}

#[test]
fn bad_inputs_are_errors() {
    let history = usage(14 * DAY_STEPS, 0.0, 0.5, 14);
    for (name, mut model) in all_models() {
        assert_eq!(
            model.forecast(3),
            Err(ModelError::NotFitted),
            "{name} unfitted"
        );
        assert_eq!(
            model.fit(&history, 0),
            Err(ModelError::InvalidStep(0)),
            "{name}"
        );
        assert_eq!(
            model.fit(&[f64::NAN; 600], STEP),
            Err(ModelError::NoData),
            "{name}"
        );
        assert_eq!(model.fit(&[], STEP), Err(ModelError::NoData), "{name}");
        assert!(
            matches!(
                model.fit(&history[..100], STEP),
                Err(ModelError::TooShort { .. })
            ),
            "{name} on 100 samples"
        );
    }
    assert_eq!(
        HoltWinters::new(-5).fit(&history, STEP),
        Err(ModelError::InvalidPeriod(-5))
    );
    assert_eq!(
        MultiSeasonal::new(&[DAY, 0]).fit(&history, STEP),
        Err(ModelError::InvalidPeriod(0))
    );
    assert_eq!(
        MultiSeasonal::new(&[]).fit(&history, STEP),
        Err(ModelError::NoPeriod)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn models_never_panic(
        values in prop::collection::vec(
            prop_oneof![4 => -1e300..1e300f64, 1 => Just(f64::NAN), 3 => -10.0..10.0f64],
            0..300,
        ),
        step in 1i64..4_000,
        period in -10i64..20_000,
        horizon in 0usize..50,
    ) {
        let models: [Box<dyn Forecaster>; 6] = [
            Box::new(SeasonalNaive::new(Some(period))),
            Box::new(SeasonalMedian::new(Some(period), 3)),
            Box::new(FftPeriodic::new(Some(period))),
            Box::new(HoltWinters::new(period)),
            Box::new(HoltWinters::with_damped_trend(period)),
            Box::new(MultiSeasonal::new(&[period, 3 * period])),
        ];
        for mut model in models {
            if model.fit(&values, step).is_ok() {
                prop_assert_eq!(model.forecast(horizon).map(|f| f.len()), Ok(horizon));
            }
        }
    }
}
