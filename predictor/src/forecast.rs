//! One series in, one calibrated forecast out: period detection, model choice by rolling-origin
//! backtest, and quantiles from the chosen model's own backtest errors.
//!
//! # Why backtest residuals make the intervals
//!
//! Every candidate model is fitted at a few *origins* in the recent past (one horizon apart, the
//! latest ending where the history ends) and scored on what really followed (MASE against seasonal
//! naive on the same training data, so scores of series of any scale compare). The best average
//! score wins. Its errors at those origins are exactly the errors it makes on this series at this
//! horizon, so their empirical quantiles, added to the final point forecast, give p90/p99 bands
//! without assuming normal errors (split conformal prediction, in the statistician's words). Each
//! origin's quantile is taken separately and the largest kept: days differ, and pooling them let a
//! calm day hide a busy one (p90 covered 86 % on the accuracy benchmark pooled, 90 % this way). The
//! p50 is the point forecast itself, not shifted by the median error, and the bands never fall
//! below it.

use std::fmt;

use rayon::prelude::*;
use serde::Serialize;
use thiserror::Error;

use crate::models::{
    FftPeriodic, Forecaster, HoltWinters, ModelError, MultiSeasonal, SeasonalMedian, SeasonalNaive,
};
use crate::period::{Period, detect_periods, fill_gaps};
use crate::series::Series;

/// How to forecast; [`Default`] suits CPU and memory usage a day ahead.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastOptions {
    /// Model step in seconds: history finer than this is averaged into it first (5 minutes keeps
    /// a day's shape and makes 14 days 4,032 points).
    pub step: i64,
    /// How far ahead to forecast, seconds.
    pub horizon: i64,
    /// Backtest origins per series; more give steadier choices and intervals, at a fit each
    /// (fewer where the history is short).
    pub origins: usize,
    /// Most cycles detected per series (daily and weekly, plus one other).
    pub max_periods: usize,
    /// Use this model instead of choosing one (its backtest still makes the bands).
    pub model: Option<ModelKind>,
    /// Use these cycles (seconds, strongest first) instead of detecting them.
    pub periods: Option<Vec<i64>>,
}

impl Default for ForecastOptions {
    fn default() -> Self {
        Self {
            step: 300,
            horizon: 86_400,
            origins: 5,
            max_periods: 3,
            model: None,
            periods: None,
        }
    }
}

/// Cycles the seasonal median looks back over: a week of a daily cycle.
const MEDIAN_CYCLES: usize = 7;

/// Cycles per series the single-cycle repeat models are tried with.
const REPEAT_PERIODS: usize = 2;

/// Backtest days on which a model and seasonal naive score within this fraction of each other
/// are ties: they decide nothing about which is better.
const TIE: f64 = 0.05;

/// How much lower than the ensemble's a single model's backtest error must be to be chosen.
const ENSEMBLE_PREFERENCE: f64 = 0.3;

const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;

/// Model families the backtest chooses from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// The last cycle repeated: the baseline.
    SeasonalNaive,
    /// Phase by phase median of the last cycles.
    SeasonalMedian,
    /// Crane's DSP estimator: FFT low-pass, last cycle repeated.
    CraneFft,
    /// Additive Holt-Winters with damped trend.
    HoltWinters,
    /// Level plus robust profiles of every cycle (MSTL-style).
    MultiSeasonal,
    /// The recent level, flat: for series without a cycle.
    Level,
    /// The median of seasonal naive, seasonal median, Holt-Winters and multi-seasonal: combining
    /// models of different biases is steadier than picking one.
    Ensemble,
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ModelKind::SeasonalNaive => "seasonal-naive",
            ModelKind::SeasonalMedian => "seasonal-median",
            ModelKind::CraneFft => "crane-fft",
            ModelKind::HoltWinters => "holt-winters",
            ModelKind::MultiSeasonal => "multi-seasonal",
            ModelKind::Level => "level",
            ModelKind::Ensemble => "ensemble",
        })
    }
}

/// A model family with the cycle it repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Model {
    pub kind: ModelKind,
    /// The main cycle, seconds; multi-seasonal and ensembles use every cycle.
    pub period: i64,
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ModelKind::Level | ModelKind::MultiSeasonal | ModelKind::Ensemble => {
                write!(f, "{}", self.kind)
            }
            _ => write!(f, "{}/{}", self.kind, format_seconds(self.period)),
        }
    }
}

/// `1d`, `7d`, `12h`, `90m`, `45s`.
pub fn format_seconds(s: i64) -> String {
    if s % DAY == 0 {
        format!("{}d", s / DAY)
    } else if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

impl Model {
    fn new(kind: ModelKind, period: i64) -> Self {
        Self { kind, period }
    }

    /// What the ensemble combines.
    fn ensemble_members(self) -> [Model; 4] {
        [
            Model::new(ModelKind::SeasonalNaive, self.period),
            Model::new(ModelKind::SeasonalMedian, self.period),
            Model::new(ModelKind::HoltWinters, self.period),
            Model::new(ModelKind::MultiSeasonal, self.period),
        ]
    }

    /// Fits on `values` and forecasts `horizon` steps.
    fn fit_forecast(
        self,
        values: &[f64],
        step: i64,
        cycles: &[i64],
        horizon: usize,
    ) -> Result<Vec<f64>, ModelError> {
        let mut model: Box<dyn Forecaster> = match self.kind {
            ModelKind::SeasonalNaive => Box::new(SeasonalNaive::new(Some(self.period))),
            ModelKind::SeasonalMedian => {
                Box::new(SeasonalMedian::new(Some(self.period), MEDIAN_CYCLES))
            }
            ModelKind::CraneFft => Box::new(FftPeriodic::new(Some(self.period))),
            ModelKind::HoltWinters => Box::new(HoltWinters::new(self.period)),
            ModelKind::MultiSeasonal => Box::new(MultiSeasonal::new(cycles)),
            // The median of the last hour's steps, as a flat line.
            ModelKind::Level => Box::new(SeasonalMedian::new(
                Some(step),
                usize::try_from(3600 / step).unwrap_or(1).max(1),
            )),
            ModelKind::Ensemble => {
                let members = self
                    .ensemble_members()
                    .map(|m| m.fit_forecast(values, step, cycles, horizon));
                return ensemble_of(members.iter().map(|m| m.as_ref().ok()));
            }
        };
        model.fit(values, step)?;
        model.forecast(horizon)
    }
}

/// The median of the members that could be fitted (a short history may be too short for some);
/// at least two are needed for a median to mean anything.
fn ensemble_of<'a>(
    members: impl Iterator<Item = Option<&'a Vec<f64>>>,
) -> Result<Vec<f64>, ModelError> {
    let fitted: Vec<&Vec<f64>> = members.flatten().collect();
    if fitted.len() < 2 {
        return Err(ModelError::NotFitted);
    }
    Ok(median_of(&fitted))
}

/// Element-wise median of forecasts (over the common length): one model's bad day is outvoted.
fn median_of(forecasts: &[&Vec<f64>]) -> Vec<f64> {
    let len = forecasts.iter().map(|f| f.len()).min().unwrap_or(0);
    let mut at = Vec::with_capacity(forecasts.len());
    (0..len)
        .map(|i| {
            at.clear();
            at.extend(forecasts.iter().map(|f| f[i]));
            at.sort_by(f64::total_cmp);
            let mid = at.len() / 2;
            if at.len() % 2 == 1 {
                at[mid]
            } else {
                (at[mid - 1] + at[mid]) / 2.0
            }
        })
        .collect()
}

/// The candidates for a series: repeat models on each of its two strongest cycles, smoothing
/// models on the main one (the strongest no longer than the horizon), and their ensemble; a flat
/// level when there is no cycle. Simplest first: ties go to the simpler model. Crane's FFT model
/// is not a candidate: on the accuracy benchmark it never beat the ensemble, and its fits would
/// be a third of the run time (ask for it with `model`).
fn candidates(cycles: &[i64], horizon_secs: i64, step: i64) -> Vec<Model> {
    let Some(main) = main_cycle(cycles, horizon_secs) else {
        return vec![Model::new(ModelKind::Level, step)];
    };
    let mut out = Vec::new();
    for &c in cycles.iter().take(REPEAT_PERIODS) {
        out.push(Model::new(ModelKind::SeasonalNaive, c));
        out.push(Model::new(ModelKind::SeasonalMedian, c));
    }
    for kind in [ModelKind::SeasonalNaive, ModelKind::SeasonalMedian] {
        if !out.contains(&Model::new(kind, main)) {
            out.push(Model::new(kind, main));
        }
    }
    out.push(Model::new(ModelKind::HoltWinters, main));
    out.push(Model::new(ModelKind::MultiSeasonal, main));
    out.push(Model::new(ModelKind::Ensemble, main));
    out
}

/// The cycle single-season models repeat: the strongest no longer than the horizon (a day for a
/// day ahead, though a week may correlate more), else the strongest.
fn main_cycle(cycles: &[i64], horizon_secs: i64) -> Option<i64> {
    let strongest = *cycles.first()?;
    Some(
        cycles
            .iter()
            .copied()
            .find(|&c| c <= horizon_secs)
            .unwrap_or(strongest),
    )
}

/// The cycles models may use: detected ones seen at least three times (two for exact days and
/// weeks, which need less evidence), plus a daily prior once two days of history exist, since
/// cluster demand so often follows the day; the backtest judges the prior like any cycle.
fn usable_cycles(periods: &[Period], history_secs: i64) -> Vec<i64> {
    let near = |s: i64, c: i64| (s - c).abs() * 50 <= c;
    let mut cycles: Vec<i64> = periods
        .iter()
        .map(|p| p.seconds)
        .filter(|&s| {
            history_secs >= 3 * s || ((near(s, DAY) || near(s, WEEK)) && history_secs >= 2 * s)
        })
        .collect();
    if history_secs >= 2 * DAY && !cycles.iter().any(|&s| near(s, DAY)) {
        cycles.push(DAY);
    }
    cycles
}

/// A candidate's backtest result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Score {
    pub model: Model,
    /// Mean MASE over the origins (seasonal naive on the training window = 1).
    pub mase: f64,
}

/// Forecast quantiles on an even grid, with how they were made.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    /// Time of the first forecast step, Unix seconds (the end of the history).
    pub start: i64,
    /// Seconds between steps.
    pub step: i64,
    pub p50: Vec<f64>,
    pub p90: Vec<f64>,
    pub p99: Vec<f64>,
    /// Cycles found in the history, strongest first.
    pub periods: Vec<Period>,
    /// The model chosen by the backtest.
    pub model: Model,
    /// Every candidate's backtest score, best first; empty when the history was too short to
    /// backtest (the model is then the simplest candidate and the bands are empirical spreads).
    pub scores: Vec<Score>,
    /// Backtest errors behind the bands (one per backtested step).
    pub residuals: usize,
    /// A model scored better on average but not on a clear majority of the backtest days, so
    /// seasonal naive was kept.
    pub kept_naive: bool,
}

/// One forecast step with its time, as the JSON output lists them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Unix seconds.
    pub ts: i64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

impl Forecast {
    /// Every step with its time.
    pub fn points(&self) -> Vec<Point> {
        (0..self.p50.len())
            .map(|i| Point {
                ts: self.time_at(i),
                p50: self.p50[i],
                p90: self.p90.get(i).copied().unwrap_or(f64::NAN),
                p99: self.p99.get(i).copied().unwrap_or(f64::NAN),
            })
            .collect()
    }

    /// The time and p50 value of the highest p50 step, if any.
    pub fn peak(&self) -> Option<(i64, f64)> {
        // The first of equal maxima: a plateau's peak comes when it starts.
        let (i, v) = self
            .p50
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .fold(None, |best: Option<(usize, &f64)>, (i, v)| match best {
                Some((_, b)) if b >= v => best,
                _ => Some((i, v)),
            })?;
        Some((self.time_at(i), *v))
    }

    /// The chosen model's backtest MASE, when there was a backtest.
    pub fn mase(&self) -> Option<f64> {
        self.scores.first().map(|s| s.mase)
    }

    /// Time of forecast step `i`.
    pub fn time_at(&self, i: usize) -> i64 {
        self.start + i64::try_from(i).unwrap_or(i64::MAX / 2) * self.step
    }

    /// The `q` band (0.5, 0.9 or 0.99) as a series, e.g. to plan on.
    pub fn band(&self, q: Quantile) -> Series {
        let values = match q {
            Quantile::P50 => &self.p50,
            Quantile::P90 => &self.p90,
            Quantile::P99 => &self.p99,
        };
        Series {
            start: self.start,
            step: self.step,
            values: values.clone(),
        }
    }
}

/// The quantiles a forecast carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantile {
    P50,
    P90,
    P99,
}

/// Why a series could not be forecast.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ForecastError {
    #[error("the history has no value at all")]
    NoData,
    #[error(
        "the history covers {got_secs} s, less than the {needed_secs} s needed; pull a longer history"
    )]
    TooShort { needed_secs: i64, got_secs: i64 },
    #[error("step and horizon must be positive, got step {step} s and horizon {horizon} s")]
    InvalidOptions { step: i64, horizon: i64 },
    #[error("no model could be fitted: {0}")]
    Model(#[from] ModelError),
}

/// Forecasts `series` `opts.horizon` seconds past its end.
pub fn forecast(series: &Series, opts: &ForecastOptions) -> Result<Forecast, ForecastError> {
    if opts.step <= 0 || opts.horizon <= 0 {
        return Err(ForecastError::InvalidOptions {
            step: opts.step,
            horizon: opts.horizon,
        });
    }
    let series = series.resample(opts.step);
    let values = trim_missing_start(&series.values);
    let step = series.step;
    let history_secs = i64::try_from(values.len()).unwrap_or(i64::MAX) * step;
    let horizon = usize::try_from(opts.horizon.saturating_add(step - 1) / step)
        .unwrap_or(1)
        .max(1);
    if values.iter().all(|v| !v.is_finite()) {
        return Err(ForecastError::NoData);
    }
    // Two steps of history at least: one to fit, one to have something to forecast from.
    if values.len() < 2 {
        return Err(ForecastError::TooShort {
            needed_secs: 2 * step,
            got_secs: history_secs,
        });
    }
    let periods = match &opts.periods {
        // Given cycles were not measured: strength 0.
        Some(given) => given
            .iter()
            .map(|&seconds| Period {
                seconds,
                strength: 0.0,
            })
            .collect(),
        None => detect_periods(values, step, opts.max_periods),
    };
    let cycles = match &opts.periods {
        Some(given) => given.clone(),
        None => usable_cycles(&periods, history_secs),
    };
    let candidates = match opts.model {
        Some(kind) => vec![Model::new(
            kind,
            main_cycle(&cycles, opts.horizon).unwrap_or(step),
        )],
        None => candidates(&cycles, opts.horizon, step),
    };
    let shortest = cycles.iter().min().map_or(1, |&c| steps(c, step));
    let season = cycles.first().map_or(1, |&c| steps(c, step));
    let origins = backtest_origins(values.len(), horizon, shortest, opts.origins);
    let backtest = Backtest {
        values,
        filled: fill_gaps(values).unwrap_or_else(|| values.to_vec()),
        step,
        cycles: &cycles,
        origins: &origins,
        horizon,
        season,
    };
    // The baseline a forecast must beat: the main cycle repeated (unless a model was forced).
    let baseline = match opts.model {
        Some(_) => None,
        None => main_cycle(&cycles, opts.horizon).map(|c| Model::new(ModelKind::SeasonalNaive, c)),
    };
    let Choice {
        model,
        scores,
        errors: residuals,
        kept_naive,
    } = backtest
        .choose(&candidates, baseline)
        .unwrap_or_else(|| Choice {
            model: candidates[0],
            scores: Vec::new(),
            errors: vec![in_sample_spread(values, season)],
            kept_naive: false,
        });

    let point = model.fit_forecast(values, step, &cycles, horizon)?;
    let bands = Bands::from_residuals(residuals);
    let floor = values
        .iter()
        .filter(|v| v.is_finite())
        .all(|v| *v >= 0.0)
        .then_some(0.0);
    let at_floor = |v: f64| floor.map_or(v, |f| v.max(f));
    // The point forecast is the median (no shift by the median error: on the accuracy benchmark
    // the shift did not pay). A model that overshot at every origin has a negative 90th
    // percentile error; the band then stays at the median rather than dipping below it.
    let p50: Vec<f64> = point.iter().map(|&p| at_floor(p)).collect();
    let band = |q: f64, below: &[f64]| -> Vec<f64> {
        let offset = bands.offset(q);
        point
            .iter()
            .zip(below)
            .map(|(p, &b)| at_floor(p + offset).max(b))
            .collect()
    };
    let p90 = band(0.9, &p50);
    let p99 = band(0.99, &p90);
    Ok(Forecast {
        start: series.end(),
        step,
        p50,
        p90,
        p99,
        periods,
        model,
        scores,
        residuals: bands.len(),
        kept_naive,
    })
}

/// Forecasts every series, in parallel on all cores (rayon). Each series needs only its own
/// history and a few forecasts' worth of scratch, so memory grows with the inputs and outputs.
pub fn forecast_many(
    series: &[Series],
    opts: &ForecastOptions,
) -> Vec<Result<Forecast, ForecastError>> {
    series.par_iter().map(|s| forecast(s, opts)).collect()
}

/// Whole steps in `seconds`, at least 1.
fn steps(seconds: i64, step: i64) -> usize {
    usize::try_from(seconds / step).unwrap_or(1).max(1)
}

/// Leading missing samples carry nothing (a series that starts late); dropping them keeps the
/// models from interpolating back in time.
fn trim_missing_start(values: &[f64]) -> &[f64] {
    let first = values
        .iter()
        .position(|v| v.is_finite())
        .unwrap_or(values.len());
    &values[first..]
}

/// Origins (training lengths) for the backtest: the last `count` horizon-long windows, newest
/// first, each leaving at least two of the shortest cycle to train on (a model needing more
/// history fails to fit there and drops out).
fn backtest_origins(len: usize, horizon: usize, shortest: usize, count: usize) -> Vec<usize> {
    let min_train = 2 * shortest.max(2);
    (1..=count)
        .filter_map(|k| len.checked_sub(k * horizon))
        .filter(|&origin| origin >= min_train)
        .collect()
}

/// One series' rolling-origin backtest.
struct Backtest<'a> {
    values: &'a [f64],
    /// `values` with gaps interpolated, to scale errors by.
    filled: Vec<f64>,
    step: i64,
    cycles: &'a [i64],
    /// Training lengths, newest first.
    origins: &'a [usize],
    horizon: usize,
    /// Lag of the seasonal naive forecast that scales errors (MASE).
    season: usize,
}

/// The backtest's verdict: the model, every score (best first), the model's errors per
/// origin, and whether seasonal naive was kept over a model better only on average.
struct Choice {
    model: Model,
    scores: Vec<Score>,
    errors: Vec<Vec<f64>>,
    kept_naive: bool,
}

/// A candidate's forecasts at each origin (`None` where it could not be fitted).
struct Trial {
    model: Model,
    forecasts: Vec<Option<Vec<f64>>>,
}

impl Backtest<'_> {
    /// The candidate with the best mean MASE, every score (best first) and the winner's errors;
    /// `None` without origins or when no candidate fits at all of them.
    fn choose(&self, candidates: &[Model], baseline: Option<Model>) -> Option<Choice> {
        if self.origins.is_empty() {
            return None;
        }
        let mut trials: Vec<Trial> = Vec::with_capacity(candidates.len());
        for &model in candidates {
            let forecasts = if model.kind == ModelKind::Ensemble {
                self.ensemble(model, &trials)
            } else {
                self.run(model)
            };
            trials.push(Trial { model, forecasts });
        }
        let mut scored: Vec<(Score, Vec<f64>, &Trial)> = trials
            .iter()
            .filter_map(|t| {
                let (score, per_origin) = self.score(t)?;
                Some((score, per_origin, t))
            })
            .collect();
        // The ensemble is the default: a single model must beat it clearly, since a few
        // origins are few and a lucky model would win by noise. Stable sort: among equal
        // scores the simpler (earlier) candidate stays first.
        let handicap = |s: &Score| match s.model.kind {
            ModelKind::Ensemble => s.mase * (1.0 - ENSEMBLE_PREFERENCE),
            _ => s.mase,
        };
        scored.sort_by(|a, b| handicap(&a.0).total_cmp(&handicap(&b.0)));
        let (best, per_origin, _) = scored.first()?;
        // Seasonal naive stays unless the winner beats it on most of the backtest days the two
        // do not tie on: a model that wins on average through one lucky day loses on unseen
        // data. (Two thirds instead of most kept naive for load_taylor's weekly cycle and was
        // worse on every series of the accuracy benchmark: BENCHMARKS.md.)
        let naive = baseline.and_then(|b| scored.iter().position(|(s, ..)| s.model == b));
        let chosen = match naive {
            Some(n) if scored[n].0.model != best.model => {
                let decided: Vec<bool> = per_origin
                    .iter()
                    .zip(&scored[n].1)
                    .filter(|(model, naive)| (*model - *naive).abs() > TIE * *naive)
                    .map(|(model, naive)| model < naive)
                    .collect();
                let wins = decided.iter().filter(|&&won| won).count();
                if !decided.is_empty() && wins * 2 > decided.len() {
                    0
                } else {
                    n
                }
            }
            _ => 0,
        };
        let (score, _, trial) = &scored[chosen];
        let errors = self.errors(trial);
        Some(Choice {
            model: score.model,
            scores: scored.iter().map(|(s, ..)| *s).collect(),
            errors,
            kept_naive: chosen != 0,
        })
    }

    /// Fits at every origin.
    fn run(&self, model: Model) -> Vec<Option<Vec<f64>>> {
        self.origins
            .iter()
            .map(|&origin| {
                let len = self.horizon.min(self.values.len() - origin);
                model
                    .fit_forecast(&self.values[..origin], self.step, self.cycles, len)
                    .ok()
            })
            .collect()
    }

    /// The ensemble from its members' trials, without fitting them again.
    fn ensemble(&self, model: Model, trials: &[Trial]) -> Vec<Option<Vec<f64>>> {
        let members: Vec<&Trial> = model
            .ensemble_members()
            .iter()
            .filter_map(|m| trials.iter().find(|t| t.model == *m))
            .collect();
        (0..self.origins.len())
            .map(|i| ensemble_of(members.iter().map(|t| t.forecasts[i].as_ref())).ok())
            .collect()
    }

    /// Mean MASE over the origins, and each origin's; `None` unless the candidate was fitted
    /// at every one.
    fn score(&self, trial: &Trial) -> Option<(Score, Vec<f64>)> {
        let mut per_origin = Vec::with_capacity(self.origins.len());
        for (&origin, forecast) in self.origins.iter().zip(&trial.forecasts) {
            let forecast = forecast.as_ref()?;
            let actual = &self.values[origin..origin + forecast.len()];
            per_origin.push(scaled_error(
                actual,
                forecast,
                &self.filled[..origin],
                self.season,
            )?);
        }
        let score = Score {
            model: trial.model,
            mase: per_origin.iter().sum::<f64>() / per_origin.len() as f64,
        };
        Some((score, per_origin))
    }

    /// Actual minus forecast at every backtested step with an actual, one list per origin.
    fn errors(&self, trial: &Trial) -> Vec<Vec<f64>> {
        self.origins
            .iter()
            .zip(&trial.forecasts)
            .filter_map(|(&origin, forecast)| Some((origin, forecast.as_ref()?)))
            .map(|(origin, forecast)| {
                self.values[origin..origin + forecast.len()]
                    .iter()
                    .zip(forecast)
                    .filter(|(a, _)| a.is_finite())
                    .map(|(a, f)| a - f)
                    .collect()
            })
            .collect()
    }
}

/// MASE of one backtest window; `None` when nothing can be scored.
fn scaled_error(actual: &[f64], forecast: &[f64], training: &[f64], season: usize) -> Option<f64> {
    crate::models::mase(actual, forecast, training, season)
        .or_else(|| crate::models::mase(actual, forecast, training, 1))
        .or_else(|| {
            // A perfectly flat training window has no scale: compare absolute errors to the level.
            let mae = mean_abs_error(actual, forecast)?;
            Some(if mae == 0.0 { 0.0 } else { f64::INFINITY })
        })
}

fn mean_abs_error(actual: &[f64], forecast: &[f64]) -> Option<f64> {
    let (sum, n) = actual
        .iter()
        .zip(forecast)
        .filter(|(a, f)| a.is_finite() && f.is_finite())
        .fold((0.0, 0usize), |(s, n), (a, f)| (s + (a - f).abs(), n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Without a backtest, the seasonal differences of the history stand in for forecast errors.
fn in_sample_spread(values: &[f64], season: usize) -> Vec<f64> {
    let lag = season.min(values.len().saturating_sub(1)).max(1);
    values
        .iter()
        .zip(values.iter().skip(lag))
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(a, b)| b - a)
        .collect()
}

/// Empirical quantiles of backtest errors, one set per origin, added to a point forecast.
struct Bands {
    sorted: Vec<Vec<f64>>,
}

impl Bands {
    fn from_residuals(groups: Vec<Vec<f64>>) -> Self {
        let sorted = groups
            .into_iter()
            .map(|mut g| {
                g.retain(|r| r.is_finite());
                g.sort_by(f64::total_cmp);
                g
            })
            .filter(|g| !g.is_empty())
            .collect();
        Self { sorted }
    }

    /// The largest `q` quantile of any origin's errors, 0 without errors. Days differ (a level
    /// shift, a busier day): the worst recent day's spread, not their pooled average, is what
    /// the next day's band has to cover.
    fn offset(&self, q: f64) -> f64 {
        self.sorted
            .iter()
            .filter_map(|g| quantile(g, q))
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
            .unwrap_or(0.0)
    }

    fn len(&self) -> usize {
        self.sorted.iter().map(Vec::len).sum()
    }
}

/// The `q` quantile of sorted finite values, interpolating linearly; `None` when empty.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let pos = q.clamp(0.0, 1.0) * last as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let frac = pos - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.5), Some(3.0));
        assert_eq!(quantile(&v, 0.0), Some(1.0));
        assert_eq!(quantile(&v, 1.0), Some(5.0));
        assert_eq!(quantile(&v, 0.9), Some(4.6));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn the_main_cycle_fits_the_horizon() {
        assert_eq!(main_cycle(&[WEEK, DAY], DAY), Some(DAY));
        assert_eq!(main_cycle(&[WEEK], DAY), Some(WEEK));
        assert_eq!(main_cycle(&[], DAY), None);
    }

    #[test]
    fn a_plateau_peaks_when_it_starts() {
        let f = Forecast {
            start: 1000,
            step: 60,
            p50: vec![1.0, 3.0, 3.0, f64::NAN, 2.0],
            p90: vec![0.0; 5],
            p99: vec![0.0; 5],
            periods: Vec::new(),
            model: Model::new(ModelKind::Level, 60),
            scores: Vec::new(),
            residuals: 0,
            kept_naive: false,
        };
        assert_eq!(f.peak(), Some((1060, 3.0)));
    }

    #[test]
    fn origins_leave_two_cycles_to_train_on() {
        // 14 days of 5-minute steps, daily cycle, day-ahead horizon.
        assert_eq!(backtest_origins(4032, 288, 288, 3), vec![3744, 3456, 3168]);
        // Three days: only the newest origin leaves two days of training.
        assert_eq!(backtest_origins(864, 288, 288, 3), vec![576]);
        assert!(backtest_origins(500, 288, 288, 3).is_empty());
    }
}
