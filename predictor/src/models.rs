//! Forecast models over evenly spaced series, and the error metrics used to compare them.
//!
//! Both models repeat one period shape into the future; they differ in how the shape is estimated:
//! [`SeasonalNaive`] copies the last period as it was (the baseline every model must beat), while
//! [`FftPeriodic`] (Crane's DSP estimator) denoises a longer window with the FFT first. The period is
//! given, or else the strongest one from [`detect_periods`].

use rustfft::{FftPlanner, num_complex::Complex};
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

/// Repeats the last observed period.
#[derive(Debug, Clone, Default)]
pub struct SeasonalNaive {
    period_secs: Option<i64>,
    shape: Vec<f64>,
}

impl SeasonalNaive {
    /// With a given period in seconds, or `None` to detect it at fit time.
    pub fn new(period_secs: Option<i64>) -> Self {
        Self {
            period_secs,
            shape: Vec::new(),
        }
    }

    /// The period used by the last fit, in steps.
    pub fn period_steps(&self) -> Option<usize> {
        (!self.shape.is_empty()).then_some(self.shape.len())
    }
}

impl Forecaster for SeasonalNaive {
    fn fit(&mut self, values: &[f64], step_secs: i64) -> Result<(), ModelError> {
        let (filled, period) = prepare(values, step_secs, self.period_secs)?;
        self.shape = filled[filled.len() - period..].to_vec();
        Ok(())
    }

    fn forecast(&self, horizon_steps: usize) -> Result<Vec<f64>, ModelError> {
        repeat_shape(&self.shape, horizon_steps)
    }
}

/// Crane-style FFT periodic model: the last `n_periods` periods, low-passed to their `top_k`
/// strongest frequency components, then the last period of that smoothed window repeated.
///
/// Defaults (see [`FftPeriodic::new`]): `n_periods` = 7, a week of a daily cycle, enough to
/// average out one bad day while following recent changes of shape; `top_k` = 32, which keeps a daily
/// shape down to ~45-minute detail (its harmonics) plus the strongest slower drifts within the window,
/// and drops the rest as noise. Unlike Crane, a kept component keeps its mirrored twin, so it is not
/// halved in the real part, and no margin or clamping is applied (those belong to the caller's
/// quantiles).
#[derive(Debug, Clone)]
pub struct FftPeriodic {
    period_secs: Option<i64>,
    n_periods: usize,
    top_k: usize,
    shape: Vec<f64>,
}

impl FftPeriodic {
    /// With a given period in seconds (or `None` to detect it) and the default `n_periods` = 7,
    /// `top_k` = 32.
    pub fn new(period_secs: Option<i64>) -> Self {
        Self::with_params(period_secs, 7, 32)
    }

    /// With an explicit window of `n_periods` periods (at least 1 is used) and `top_k` components
    /// kept besides the mean.
    pub fn with_params(period_secs: Option<i64>, n_periods: usize, top_k: usize) -> Self {
        Self {
            period_secs,
            n_periods,
            top_k,
            shape: Vec::new(),
        }
    }

    /// The period used by the last fit, in steps.
    pub fn period_steps(&self) -> Option<usize> {
        (!self.shape.is_empty()).then_some(self.shape.len())
    }
}

impl Forecaster for FftPeriodic {
    fn fit(&mut self, values: &[f64], step_secs: i64) -> Result<(), ModelError> {
        let (filled, period) = prepare(values, step_secs, self.period_secs)?;
        let periods = (filled.len() / period).clamp(1, self.n_periods.max(1));
        let len = periods * period;
        let mut buf: Vec<Complex<f64>> = filled[filled.len() - len..]
            .iter()
            .map(|&v| Complex::new(v, 0.0))
            .collect();
        let mut planner = FftPlanner::new();
        planner.plan_fft_forward(len).process(&mut buf);

        // Rank bins 1..=len/2 by amplitude; keep the mean, the top k and their mirrored twins.
        let mut bins: Vec<usize> = (1..=len / 2).collect();
        bins.sort_by(|&a, &b| buf[b].norm_sqr().total_cmp(&buf[a].norm_sqr()));
        let mut keep = vec![false; len];
        keep[0] = true;
        for &k in bins.iter().take(self.top_k) {
            keep[k] = true;
            keep[len - k] = true;
        }
        buf.iter_mut()
            .zip(&keep)
            .filter(|(_, kept)| !**kept)
            .for_each(|(c, _)| *c = Complex::new(0.0, 0.0));
        planner.plan_fft_inverse(len).process(&mut buf);
        self.shape = buf[len - period..]
            .iter()
            .map(|c| c.re / len as f64)
            .collect();
        Ok(())
    }

    fn forecast(&self, horizon_steps: usize) -> Result<Vec<f64>, ModelError> {
        repeat_shape(&self.shape, horizon_steps)
    }
}

/// Gap-filled history and the period in steps (given, or the strongest detected), checked to fit.
fn prepare(
    values: &[f64],
    step_secs: i64,
    period_secs: Option<i64>,
) -> Result<(Vec<f64>, usize), ModelError> {
    if step_secs <= 0 {
        return Err(ModelError::InvalidStep(step_secs));
    }
    let seconds = match period_secs {
        Some(s) if s <= 0 => return Err(ModelError::InvalidPeriod(s)),
        Some(s) => s,
        None => {
            detect_periods(values, step_secs, 1)
                .first()
                .ok_or(ModelError::NoPeriod)?
                .seconds
        }
    };
    let period = usize::try_from((seconds as f64 / step_secs as f64).round() as i64)
        .unwrap_or(0)
        .max(1);
    let filled = fill_gaps(values).ok_or(ModelError::NoData)?;
    if filled.len() < period {
        return Err(ModelError::TooShort {
            needed: period,
            got: filled.len(),
        });
    }
    Ok((filled, period))
}

fn repeat_shape(shape: &[f64], horizon_steps: usize) -> Result<Vec<f64>, ModelError> {
    if shape.is_empty() {
        return Err(ModelError::NotFitted);
    }
    Ok(shape.iter().copied().cycle().take(horizon_steps).collect())
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
