//! Rolling-origin backtest of the forecast models on the Crane CPU series (see `MODELS.md`).
//!
//! ```sh
//! cargo run --release -p tidal-predictor --example model_backtest [-- DIR]
//! ```
//!
//! Each `DIR/*.csv` (`ts,value`, default `shared/data/crane-cpu`) is resampled to 5-minute means; at
//! each of the last 7 UTC midnights with at least 3 days before it, every model is fitted on the
//! history up to that origin and forecasts the next day. Prints the MASE (season one day, scaled on
//! each origin's training window) per series and averaged, and the mean time of one fit.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tidal_predictor::models::{
    FftPeriodic, Forecaster, HoltWinters, MultiSeasonal, SeasonalMedian, SeasonalNaive, mase,
};
use tidal_predictor::period::detect_periods;

const STEP: i64 = 300;
const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;
const DAY_STEPS: usize = (DAY / STEP) as usize;
const ORIGINS: usize = 7;
const MIN_TRAIN_DAYS: usize = 3;

/// Builds a model from the periods (seconds) detected on the series once, before the first origin.
pub type Factory = Box<dyn Fn(&[i64]) -> Box<dyn Forecaster>>;

/// The crate's own models, as the backtest compares them.
pub fn own_models() -> Vec<(&'static str, Factory)> {
    vec![
        (
            "SeasonalNaive(1d)",
            Box::new(|_| Box::new(SeasonalNaive::new(Some(DAY)))),
        ),
        (
            "SeasonalMedian(1d, 7)",
            Box::new(|_| Box::new(SeasonalMedian::new(Some(DAY), 7))),
        ),
        (
            "FftPeriodic(1d)",
            Box::new(|_| Box::new(FftPeriodic::new(Some(DAY)))),
        ),
        (
            "HoltWinters(1d)",
            Box::new(|_| Box::new(HoltWinters::new(DAY))),
        ),
        (
            "HoltWinters(1d, damped trend)",
            Box::new(|_| Box::new(HoltWinters::with_damped_trend(DAY))),
        ),
        (
            "MultiSeasonal(1d, 1w)",
            Box::new(|_| Box::new(MultiSeasonal::new(&[DAY, WEEK]))),
        ),
        (
            "MultiSeasonal(1d)",
            Box::new(|_| Box::new(MultiSeasonal::new(&[DAY]))),
        ),
        (
            "MultiSeasonal(detected)",
            Box::new(|periods| Box::new(MultiSeasonal::new(periods))),
        ),
    ]
}

/// One series: name, 5-minute values and the index of each backtest origin.
pub struct Case {
    pub name: String,
    pub values: Vec<f64>,
    pub origins: Vec<usize>,
    pub periods: Vec<i64>,
}

/// Loads every CSV of `dir`, sorted by name.
pub fn load_cases(dir: &Path) -> Vec<Case> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    paths.retain(|p| p.extension().is_some_and(|e| e == "csv"));
    paths.sort();
    paths
        .iter()
        .filter_map(|path| {
            let (start, values) = resample(&std::fs::read_to_string(path).ok()?)?;
            let origins = origins(start, values.len());
            let first = *origins.first()?;
            let mut periods: Vec<i64> = detect_periods(&values[..first], STEP, 3)
                .iter()
                .map(|p| p.seconds)
                .collect();
            if periods.is_empty() {
                periods.push(DAY);
            }
            let name = path.file_stem()?.to_string_lossy().into_owned();
            Some(Case {
                name,
                values,
                origins,
                periods,
            })
        })
        .collect()
}

/// `ts,value` lines (after a header) as 5-minute means; empty buckets are NaN. Returns the time of
/// the first bucket and the values.
fn resample(text: &str) -> Option<(i64, Vec<f64>)> {
    let rows: Vec<(i64, f64)> = text
        .lines()
        .skip(1)
        .filter_map(|line| {
            let (ts, value) = line.split_once(',')?;
            Some((ts.trim().parse().ok()?, value.trim().parse().ok()?))
        })
        .filter(|(_, v): &(i64, f64)| v.is_finite())
        .collect();
    let first = rows.iter().map(|r| r.0.div_euclid(STEP)).min()?;
    let last = rows.iter().map(|r| r.0.div_euclid(STEP)).max()?;
    let len = usize::try_from(last - first + 1).ok()?;
    let mut sums = vec![(0.0, 0usize); len];
    for (ts, v) in rows {
        let bucket = &mut sums[usize::try_from(ts.div_euclid(STEP) - first).ok()?];
        bucket.0 += v;
        bucket.1 += 1;
    }
    let values = sums
        .iter()
        .map(|&(s, c)| if c > 0 { s / c as f64 } else { f64::NAN })
        .collect();
    Some((first * STEP, values))
}

/// The last [`ORIGINS`] UTC midnights followed by a whole day and preceded by
/// [`MIN_TRAIN_DAYS`] days.
fn origins(start: i64, len: usize) -> Vec<usize> {
    let first_midnight = (DAY - start.rem_euclid(DAY)) % DAY / STEP;
    let mut all: Vec<usize> = (first_midnight as usize..=len.saturating_sub(DAY_STEPS))
        .step_by(DAY_STEPS)
        .filter(|&o| o >= MIN_TRAIN_DAYS * DAY_STEPS)
        .collect();
    all.drain(..all.len().saturating_sub(ORIGINS));
    all
}

/// Mean MASE over the origins of one case (failed fits count as missing) and total fit seconds.
fn evaluate(case: &Case, factory: &Factory) -> (Option<f64>, f64, usize) {
    let mut scores = Vec::new();
    let mut fit_secs = 0.0;
    for &origin in &case.origins {
        let (train, rest) = case.values.split_at(origin);
        let actual = &rest[..DAY_STEPS];
        let mut model = factory(&case.periods);
        let t0 = Instant::now();
        let fitted = model.fit(train, STEP);
        fit_secs += t0.elapsed().as_secs_f64();
        let forecast = fitted.and_then(|()| model.forecast(DAY_STEPS));
        match forecast
            .ok()
            .and_then(|f| mase(actual, &f, train, DAY_STEPS))
        {
            Some(score) => scores.push(score),
            None => eprintln!("{}: a fit or forecast failed at origin {origin}", case.name),
        }
    }
    let mean = (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64);
    (mean, fit_secs, case.origins.len())
}

/// Prints the Markdown table: one row per model, one column per series, the mean and the fit time.
pub fn run(cases: &[Case], models: &[(&str, Factory)]) {
    for case in cases {
        eprintln!(
            "{}: {} steps, {} origins, periods {:?} s",
            case.name,
            case.values.len(),
            case.origins.len(),
            case.periods
        );
    }
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    println!("| model | {} | mean MASE | fit ms |", names.join(" | "));
    println!("|---|{}---|---|", "---|".repeat(names.len()));
    for (label, factory) in models {
        let results: Vec<_> = cases.iter().map(|c| evaluate(c, factory)).collect();
        let cells: Vec<String> = results
            .iter()
            .map(|r| r.0.map_or("—".into(), |m| format!("{m:.3}")))
            .collect();
        let scored: Vec<f64> = results.iter().filter_map(|r| r.0).collect();
        let mean = scored.iter().sum::<f64>() / scored.len().max(1) as f64;
        let (secs, fits) = results
            .iter()
            .fold((0.0, 0), |(s, n), r| (s + r.1, n + r.2));
        let fit_ms = 1e3 * secs / fits.max(1) as f64;
        println!(
            "| {label} | {} | {mean:.3} | {fit_ms:.3} |",
            cells.join(" | ")
        );
    }
}

fn main() {
    let dir = std::env::args().nth(1).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/crane-cpu"),
        PathBuf::from,
    );
    let cases = load_cases(&dir);
    if cases.is_empty() {
        eprintln!("no CSV series in {}", dir.display());
        std::process::exit(1);
    }
    run(&cases, &own_models());
}
