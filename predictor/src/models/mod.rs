//! Forecast models over evenly spaced series, and the error metrics used to compare them.
//!
//! All models repeat one or more cycle shapes into the future; they differ in how the shapes and the
//! level are estimated, trading robustness against reactivity:
//!
//! - [`SeasonalNaive`] copies the last period as it was: the baseline every model must beat.
//! - [`SeasonalMedian`] takes, phase by phase, the median of the last few periods: one bad day does
//!   not leak into the forecast.
//! - [`FftPeriodic`] (Crane's DSP estimator) low-passes a longer window with the FFT first.
//! - [`HoltWinters`] (additive, optionally damped trend) adapts level, trend and one season
//!   recursively, so it follows drifts the repeat-the-shape models miss.
//! - [`MultiSeasonal`] (MSTL-style) adds robust profiles of several cycles (daily and weekly) to the
//!   recent level.
//!
//! Periods are given in seconds at construction because callers detect them once per series (with
//! [`detect_periods`]) and then fit at several rolling origins; the two simplest models can also
//! detect the strongest one themselves.

mod fft;
mod holt_winters;
mod mstl;
mod naive;

pub use fft::FftPeriodic;
pub use holt_winters::{HoltWinters, HwParams};
pub use mstl::MultiSeasonal;
pub use naive::{SeasonalMedian, SeasonalNaive};

use thiserror::Error;

use crate::period::{detect_periods, fill_gaps};

/// Why a model could not be fitted or used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ModelError {
    #[error("the step must be positive, got {0} s")]
    InvalidStep(i64),
    #[error("the period must be positive, got {0} s")]
    InvalidPeriod(i64),
    #[error("the history has no finite value")]
    NoData,
    #[error("no period was given and none was detected in the history")]
    NoPeriod,
    #[error("the history has {got} samples, fewer than one period of {needed}")]
    TooShort { needed: usize, got: usize },
    #[error("the model was not fitted")]
    NotFitted,
}

/// A model that learns from a history and forecasts the steps that follow it.
pub trait Forecaster {
    /// Fits on `values`, evenly spaced `step_secs` apart; NaN/±∞ are gaps and are interpolated.
    fn fit(&mut self, values: &[f64], step_secs: i64) -> Result<(), ModelError>;
    /// The `horizon_steps` values following the fitted history.
    fn forecast(&self, horizon_steps: usize) -> Result<Vec<f64>, ModelError>;
}

/// Checks that the sampling step is usable (every conversion divides by it).
fn check_step(step_secs: i64) -> Result<(), ModelError> {
    if step_secs <= 0 {
        return Err(ModelError::InvalidStep(step_secs));
    }
    Ok(())
}

/// A period in whole steps (at least 1), from seconds.
fn period_steps(period_secs: i64, step_secs: i64) -> Result<usize, ModelError> {
    check_step(step_secs)?;
    if period_secs <= 0 {
        return Err(ModelError::InvalidPeriod(period_secs));
    }
    Ok(
        usize::try_from((period_secs as f64 / step_secs as f64).round() as i64)
            .unwrap_or(0)
            .max(1),
    )
}

/// Gap-filled history, checked to hold at least `needed` samples.
fn filled_history(values: &[f64], needed: usize) -> Result<Vec<f64>, ModelError> {
    let filled = fill_gaps(values).ok_or(ModelError::NoData)?;
    if filled.len() < needed {
        return Err(ModelError::TooShort {
            needed,
            got: filled.len(),
        });
    }
    Ok(filled)
}

/// Gap-filled history and the period in steps (given, or the strongest detected), checked to fit.
fn prepare(
    values: &[f64],
    step_secs: i64,
    period_secs: Option<i64>,
) -> Result<(Vec<f64>, usize), ModelError> {
    check_step(step_secs)?;
    let seconds = match period_secs {
        Some(s) => s,
        None => {
            detect_periods(values, step_secs, 1)
                .first()
                .ok_or(ModelError::NoPeriod)?
                .seconds
        }
    };
    let period = period_steps(seconds, step_secs)?;
    Ok((filled_history(values, period)?, period))
}

fn repeat_shape(shape: &[f64], horizon_steps: usize) -> Result<Vec<f64>, ModelError> {
    if shape.is_empty() {
        return Err(ModelError::NotFitted);
    }
    Ok(shape.iter().copied().cycle().take(horizon_steps).collect())
}

/// Phase by phase, the mean of the last `cycles` periods (aligned to the end of `values`) after
/// dropping the `trim(k)` lowest and highest of the `k` values: `(k − 1) / 2` gives the median,
/// about `k / 4` the interquartile mean. `shape[j]` is the phase `j` of the last period.
///
/// `values` must hold at least one period (callers check with [`filled_history`]).
fn phase_profile(
    values: &[f64],
    period: usize,
    cycles: usize,
    trim: impl Fn(usize) -> usize,
) -> Vec<f64> {
    let cycles = cycles.clamp(1, (values.len() / period).max(1));
    let start = values.len() - period;
    let mut column = Vec::with_capacity(cycles);
    (0..period)
        .map(|j| {
            column.clear();
            column.extend((0..cycles).map(|k| values[start + j - k * period]));
            let cut = trim(column.len());
            trimmed_mean(&mut column, cut)
        })
        .collect()
}

/// Mean of `values` without its `cut` lowest and `cut` highest (at least one value is kept);
/// sorts `values`. NaN for an empty slice.
fn trimmed_mean(values: &mut [f64], cut: usize) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    let cut = cut.min(values.len().saturating_sub(1) / 2);
    let kept = &values[cut..values.len() - cut];
    kept.iter().sum::<f64>() / kept.len() as f64
}

/// How many values an interquartile mean drops at each end: about a quarter.
fn quartile_cut(len: usize) -> usize {
    (len + 1) / 4
}

/// Mean absolute scaled error: the forecast's mean absolute error divided by that of the in-sample
/// seasonal naive forecast with lag `season` on `training`, so that < 1 beats seasonal naive and
/// series of different scales can be averaged.
///
/// Pairs with a non-finite value are skipped; `None` when nothing is left or the scale is zero.
pub fn mase(actual: &[f64], forecast: &[f64], training: &[f64], season: usize) -> Option<f64> {
    if season == 0 {
        return None;
    }
    let scale = mean_finite(
        training
            .iter()
            .zip(training.iter().skip(season))
            .map(|(a, b)| (b - a).abs()),
    )?;
    let error = mean_finite(actual.iter().zip(forecast).map(|(a, f)| (a - f).abs()))?;
    (scale > 0.0).then_some(error / scale)
}

/// Mean pinball (quantile) loss of a forecast of quantile `q` in `[0, 1]`: under-forecasts cost `q`
/// per unit, over-forecasts `1 − q`, so it is minimised by the true quantile (at 0.5 it is half the MAE).
///
/// Pairs with a non-finite value are skipped; `None` when nothing is left or `q` is out of range.
pub fn pinball(actual: &[f64], quantile_forecast: &[f64], q: f64) -> Option<f64> {
    if !(0.0..=1.0).contains(&q) {
        return None;
    }
    mean_finite(actual.iter().zip(quantile_forecast).map(|(a, f)| {
        let diff = a - f;
        if diff >= 0.0 {
            q * diff
        } else {
            (q - 1.0) * diff
        }
    }))
}

fn mean_finite(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, count) = values
        .filter(|v| v.is_finite())
        .fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    (count > 0).then(|| sum / count as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mase_against_hand_computation() {
        // Seasonal naive in-sample errors with season 2: |3-1|, |4-2|, |5-3| → scale 2.
        let training = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(mase(&[6.0, 7.0], &[5.0, 10.0], &training, 2), Some(1.0));
        assert_eq!(mase(&[1.0], &[1.0], &[1.0, 1.0, 1.0], 1), None);
        assert_eq!(mase(&[1.0], &[1.0], &training, 0), None);
    }

    #[test]
    fn pinball_weights_under_and_over_forecasts() {
        assert_eq!(pinball(&[10.0], &[8.0], 0.9), Some(0.9 * 2.0));
        assert!((pinball(&[10.0], &[12.0], 0.9).unwrap_or(f64::NAN) - 0.2).abs() < 1e-12);
        assert_eq!(pinball(&[f64::NAN], &[1.0], 0.5), None);
        assert_eq!(pinball(&[1.0], &[1.0], 1.5), None);
    }

    #[test]
    fn forecast_before_fit_is_an_error() {
        assert_eq!(
            SeasonalNaive::new(Some(60)).forecast(3),
            Err(ModelError::NotFitted)
        );
    }

    #[test]
    fn bad_inputs_are_errors() {
        let mut model = FftPeriodic::new(Some(600));
        assert_eq!(model.fit(&[1.0; 5], 0), Err(ModelError::InvalidStep(0)));
        assert_eq!(
            model.fit(&[1.0; 5], 60),
            Err(ModelError::TooShort { needed: 10, got: 5 })
        );
        assert_eq!(model.fit(&[f64::NAN; 20], 60), Err(ModelError::NoData));
        assert_eq!(
            SeasonalNaive::new(None).fit(&[1.0; 50], 60),
            Err(ModelError::NoPeriod)
        );
    }
}
