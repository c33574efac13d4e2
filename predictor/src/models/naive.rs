//! The repeat-the-last-periods baselines.

use super::{Forecaster, ModelError, phase_profile, prepare, repeat_shape};

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

/// Phase by phase, the median of the last `cycles` periods: as cheap as [`SeasonalNaive`], but a
/// single bad period (an incident, a batch job) does not become tomorrow's forecast (Crane issue
/// #787), and noise is averaged down.
#[derive(Debug, Clone)]
pub struct SeasonalMedian {
    period_secs: Option<i64>,
    cycles: usize,
    shape: Vec<f64>,
}

impl SeasonalMedian {
    /// With a given period in seconds (or `None` to detect it), over the last `cycles` periods (at
    /// least 1; fewer when the history is shorter).
    pub fn new(period_secs: Option<i64>, cycles: usize) -> Self {
        Self {
            period_secs,
            cycles: cycles.max(1),
            shape: Vec::new(),
        }
    }
}

impl Forecaster for SeasonalMedian {
    fn fit(&mut self, values: &[f64], step_secs: i64) -> Result<(), ModelError> {
        let (filled, period) = prepare(values, step_secs, self.period_secs)?;
        self.shape = phase_profile(&filled, period, self.cycles, |k| (k - 1) / 2);
        Ok(())
    }

    fn forecast(&self, horizon_steps: usize) -> Result<Vec<f64>, ModelError> {
        repeat_shape(&self.shape, horizon_steps)
    }
}
