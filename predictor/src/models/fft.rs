//! Crane's DSP estimator: a low-passed recent window, its last period repeated.

use rustfft::num_complex::Complex;

use crate::fft_planner::with_planner;

use super::{Forecaster, ModelError, prepare, repeat_shape};

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
        let (forward, inverse) =
            with_planner(|p| (p.plan_fft_forward(len), p.plan_fft_inverse(len)));
        forward.process(&mut buf);

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
        inverse.process(&mut buf);
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
