//! Multi-seasonal decomposition (after MSTL, Bandara et al. 2021, with robust phase means instead
//! of LOESS): the recent level plus one profile per cycle (daily, weekly, …).

use super::{
    Forecaster, ModelError, check_step, filled_history, period_steps, phase_profile, quartile_cut,
    trimmed_mean,
};

/// Passes of the backfitting loop: each profile is re-estimated on what the others leave; the
/// second pass corrects the first's leakage (a weekday offset seen as daily shape), more barely move.
const PASSES: usize = 2;

/// A profile is smoothed over about this fraction of its period (15 min of a day): a phase mean over
/// a handful of cycles is still noisy, while real shapes are smooth at that scale.
const SMOOTH_FRACTION: usize = 96;

/// `y ≈ level + Σ profile_p(phase_p(t))`, the profiles estimated over the recent history by
/// interquartile means phase by phase, shortest period first, each on what the others leave.
///
/// A cycle needs two repetitions in the history to be estimated; shorter-lived ones are skipped.
/// The level is the interquartile mean of what the profiles leave over the last half of the
/// shortest period: on the Crane series a whole period reacted too slowly to shifts, a quarter
/// chased noise, and a plain mean followed CPU spikes (see `MODELS.md`).
#[derive(Debug, Clone)]
pub struct MultiSeasonal {
    periods_secs: Vec<i64>,
    cycles: usize,
    fitted: Option<Fitted>,
}

#[derive(Debug, Clone)]
struct Fitted {
    level: f64,
    /// Per period, the profile by phase, index 0 being the phase of the first forecast step.
    profiles: Vec<Vec<f64>>,
}

impl MultiSeasonal {
    /// With the given periods in seconds (any order) and profiles over 7 cycles (see
    /// [`MultiSeasonal::with_cycles`]).
    pub fn new(periods_secs: &[i64]) -> Self {
        Self::with_cycles(periods_secs, 7)
    }

    /// With profiles over the last `cycles` cycles (at least 2) of the longest period that has that
    /// many in the history: more cycles average out noise and one-off bad days, fewer follow a
    /// changing shape sooner.
    pub fn with_cycles(periods_secs: &[i64], cycles: usize) -> Self {
        Self {
            periods_secs: periods_secs.to_vec(),
            cycles: cycles.max(2),
            fitted: None,
        }
    }

    /// The periods (in steps) used by the last fit, shortest first.
    pub fn fitted_periods(&self) -> Vec<usize> {
        self.fitted
            .as_ref()
            .map(|f| f.profiles.iter().map(Vec::len).collect())
            .unwrap_or_default()
    }

    /// Samples every profile is estimated over: `cycles` repetitions of the longest period that has
    /// them (of the shortest if none has). A shorter period nested in it (hourly spikes in a daily
    /// shape) then averages over as much history as the longer one, not just its last few cycles.
    fn window(&self, periods: &[usize], n: usize) -> usize {
        let reference = periods
            .iter()
            .rev()
            .find(|&&p| n / p >= self.cycles)
            .or(periods.first())
            .copied()
            .unwrap_or(1);
        self.cycles.saturating_mul(reference)
    }

    /// `periods` (sorted) less those nested in a longer one that repeats `cycles` times in the
    /// history: that one's profile already holds their shape, estimated over the same window, and a
    /// near-multiple (12 h detected as 145 steps in a 288-step day) would smear it.
    fn without_nested(&self, periods: Vec<usize>, n: usize) -> Vec<usize> {
        periods
            .iter()
            .copied()
            .filter(|&p| {
                !periods.iter().any(|&q| {
                    let k = (q as f64 / p as f64).round() as usize;
                    q > p && k >= 2 && n / q >= self.cycles && q.abs_diff(k * p) <= (q / 50).max(1)
                })
            })
            .collect()
    }
}

impl Forecaster for MultiSeasonal {
    fn fit(&mut self, values: &[f64], step_secs: i64) -> Result<(), ModelError> {
        check_step(step_secs)?;
        let mut periods = self
            .periods_secs
            .iter()
            .map(|&s| period_steps(s, step_secs))
            .collect::<Result<Vec<_>, _>>()?;
        periods.sort_unstable();
        periods.dedup();
        let shortest = *periods.first().ok_or(ModelError::NoPeriod)?;
        let y = filled_history(values, 2 * shortest)?;
        let n = y.len();
        periods.retain(|&p| n >= 2 * p);
        let periods = self.without_nested(periods, n);
        let shortest = periods.first().copied().unwrap_or(shortest);
        let window = self.window(&periods, n);
        let mut profiles: Vec<Vec<f64>> = periods.iter().map(|&p| vec![0.0; p]).collect();
        let mut rest = vec![0.0; n];
        for _ in 0..PASSES {
            for i in 0..periods.len() {
                rest.copy_from_slice(&y);
                for (_, profile) in profiles.iter().enumerate().filter(|&(q, _)| q != i) {
                    subtract_profile(&mut rest, profile);
                }
                profiles[i] =
                    estimate_profile(&rest, periods[i], window.div_ceil(periods[i]).max(2));
            }
        }
        rest.copy_from_slice(&y);
        profiles.iter().for_each(|p| subtract_profile(&mut rest, p));
        let level_window = (shortest / 2).max(1);
        let recent = &mut rest[n - level_window..];
        let level = trimmed_mean(recent, quartile_cut(recent.len()));
        let profiles = profiles
            .into_iter()
            .map(|p| {
                let phase = n % p.len();
                (0..p.len()).map(|j| p[(phase + j) % p.len()]).collect()
            })
            .collect();
        self.fitted = Some(Fitted { level, profiles });
        Ok(())
    }

    fn forecast(&self, horizon_steps: usize) -> Result<Vec<f64>, ModelError> {
        let f = self.fitted.as_ref().ok_or(ModelError::NotFitted)?;
        Ok((0..horizon_steps)
            .map(|h| f.level + f.profiles.iter().map(|p| p[h % p.len()]).sum::<f64>())
            .collect())
    }
}

/// Subtracts a profile whose index `j` is the phase `j` of the last period of `values`.
fn subtract_profile(values: &mut [f64], profile: &[f64]) {
    let p = profile.len();
    let offset = p - values.len() % p;
    for (t, v) in values.iter_mut().enumerate() {
        *v -= profile[(t + offset) % p];
    }
}

/// Zero-mean shape of the period `p` in `rest`: each whole cycle (aligned to the end) minus its own
/// mean, so slow changes of level do not enter the shape; then interquartile means phase by phase
/// over the last `cycles` cycles, smoothed.
fn estimate_profile(rest: &[f64], p: usize, cycles: usize) -> Vec<f64> {
    let whole = &rest[rest.len() % p..];
    let deviations: Vec<f64> = whole
        .chunks_exact(p)
        .flat_map(|c| {
            let mean = c.iter().sum::<f64>() / p as f64;
            c.iter().map(move |v| v - mean)
        })
        .collect();
    let profile = phase_profile(&deviations, p, cycles, quartile_cut);
    let mut smoothed = circular_mean(&profile, p / (2 * SMOOTH_FRACTION));
    let mean = smoothed.iter().sum::<f64>() / p as f64;
    smoothed.iter_mut().for_each(|v| *v -= mean);
    smoothed
}

/// Moving average over `±half` neighbours, wrapping around (a profile is a cycle).
fn circular_mean(x: &[f64], half: usize) -> Vec<f64> {
    let n = x.len();
    let half = half.min(n.saturating_sub(1) / 2);
    if half == 0 {
        return x.to_vec();
    }
    let width = 2 * half + 1;
    let mut sum: f64 = (0..width).map(|k| x[(n - half + k) % n]).sum();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(sum / width as f64);
        sum += x[(i + half + 1) % n] - x[(i + n - half) % n];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circular_mean_wraps() {
        let out = circular_mean(&[3.0, 0.0, 0.0, 0.0, 0.0, 0.0], 1);
        assert_eq!(out, vec![1.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn profile_phase_matches_the_end_of_the_series() {
        let mut values = vec![10.0; 7];
        subtract_profile(&mut values, &[1.0, 2.0, 3.0]);
        // The last period is values[4..7] → phases 0, 1, 2.
        assert_eq!(&values[4..], &[9.0, 8.0, 7.0]);
        assert_eq!(&values[..4], &[7.0, 9.0, 8.0, 7.0]);
    }
}
