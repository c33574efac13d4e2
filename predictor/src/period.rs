//! Period detection: which cycles a series repeats (daily, weekly, or any other length), and how
//! strongly.
//!
//! # Method: periodogram proposes, autocorrelation confirms
//!
//! As in Crane's `FindPeriod` (gocrane/crane `pkg/prediction/dsp/signal.go`) and AUTOPERIOD
//! (Vlachos, Yu, Castelli, "On periodicity detection and structural periodic similarity", SDM 2005),
//! two tools are combined because each is weak where the other is strong:
//!
//! - The **periodogram** (|FFT|² of the mean-removed series) says which frequencies carry power,
//!   but its resolution is coarse at long periods (bin `j` is the period `n/j`: a daily cycle in 16
//!   days of minute samples sits between bins of 1396 and 1486 minutes, ±3 %), and noise and leakage
//!   give spurious peaks. Its local peaks are only *candidates*.
//! - The **autocorrelation** (ACF) is exact in lag and says whether the series really repeats itself
//!   after that lag, but it is high at every multiple of a period, so it is a poor proposer.
//!
//! Steps: gaps (NaN, ±∞) are filled by linear interpolation and the mean is removed; the strongest
//! periodogram peaks are taken; each is refined to the ACF maximum between the periods of its
//! neighbouring bins (then to the vertex of a parabola fitted to that ACF hill, and to the hour, day
//! or week when within 2 % of one), and kept if that lag is a peak of the ACF over ± a quarter of
//! the lag (Crane
//! checks the slopes either side), the ACF fell clearly below it at some shorter lag (so the slow
//! decay of a smooth series is no cycle), and its ACF is significant (above [`MIN_STRENGTH`] and three
//! standard errors of white noise). The ACF is the unbiased one (divided by the overlap `n − lag`) so
//! that a weekly lag in two weeks of data is not penalised against a daily one; the strength reported
//! is that ACF value.
//!
//! Unlike Crane, any length from 2 steps to half the series is accepted (Crane only uses exactly 1 d
//! or 1 w). A multiple of an accepted shorter period (2 d for a daily series) is dropped unless it
//! correlates clearly better than that period (a weekly cycle on top of a daily one does). Crane
//! thresholds the periodogram with a permutation test (100 extra FFTs); here the ACF test does the
//! rejecting, at the cost of one FFT pair in total, which matters for 10,000-series runs.

use rustfft::num_complex::Complex;

use crate::fft_planner::with_planner;

/// A detected cycle.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Period {
    /// Length of the cycle in seconds (a whole number of steps).
    pub seconds: i64,
    /// Autocorrelation at that lag, in `(0, 1]`: 1 means every cycle repeats the previous one exactly.
    pub strength: f64,
}

/// Wall-clock cycles detected periods are snapped to: hour, day, week.
const CALENDAR_SECS: [i64; 3] = [3_600, 86_400, 604_800];

/// Autocorrelation below which a cycle is not worth reporting, whatever the series length.
pub const MIN_STRENGTH: f64 = 0.2;

/// Shortest series analysed: fewer samples cannot show two repetitions of a meaningful cycle.
const MIN_LEN: usize = 8;

/// How far the ACF must have fallen below a candidate's value at a shorter lag for it to be a cycle.
const MIN_PROMINENCE: f64 = 0.1;

/// How much better a multiple of an accepted period must correlate to be reported as well.
const MULTIPLE_MARGIN: f64 = 0.05;

/// Finds up to `max_periods` cycles in `values` (evenly spaced, `step_secs` apart), strongest first.
///
/// Returns nothing for a flat, too short or aperiodic series, or a non-positive step. Periods are
/// between 2 steps and half the series, so that at least two repetitions were observed.
pub fn detect_periods(values: &[f64], step_secs: i64, max_periods: usize) -> Vec<Period> {
    if step_secs <= 0 || max_periods == 0 {
        return Vec::new();
    }
    let Some(x) = standardize(values) else {
        return Vec::new();
    };
    let n = x.len();
    let (power, acf) = periodogram_and_acf(&x);
    let candidates = peak_bins(&power, n, max_periods.saturating_mul(4).max(16));
    // (lag, ACF strength, periodogram power of the proposing bin)
    let mut confirmed: Vec<(usize, f64, f64)> = candidates
        .into_iter()
        .filter_map(|j| {
            let (lag, strength) = confirm(&acf, n, j, step_secs)?;
            Some((lag, strength, *power.get(j)?))
        })
        .collect();
    confirmed.sort_unstable_by_key(|&(lag, _, _)| lag);

    // Shorter periods first, so that multiples and near-duplicates are judged against them. A
    // multiple is its own cycle if it correlates clearly better (weekly on daily) or carries more
    // power (daily on hourly spikes); a multiple that only echoes a shorter cycle does neither.
    let mut accepted: Vec<(usize, f64, f64)> = Vec::new();
    for (lag, strength, power) in confirmed {
        let related = accepted
            .iter()
            .position(|&(q, _, _)| multiple_of(lag, q).is_some());
        match related {
            Some(i) if multiple_of(lag, accepted[i].0) == Some(1) => {
                if strength > accepted[i].1 {
                    accepted[i] = (lag, strength, power.max(accepted[i].2));
                }
            }
            Some(i) if strength < accepted[i].1 + MULTIPLE_MARGIN && power <= accepted[i].2 => {}
            _ => accepted.push((lag, strength, power)),
        }
    }
    accepted.sort_by(|a, b| b.1.total_cmp(&a.1));
    accepted
        .into_iter()
        .filter_map(|(lag, strength, _)| {
            let seconds = i64::try_from(lag).ok()?.checked_mul(step_secs)?;
            Some(Period { seconds, strength })
        })
        .take(max_periods)
        .collect()
}

/// Replaces non-finite values by linear interpolation between the nearest finite neighbours (the
/// nearest one at the ends); `None` if there is no finite value at all.
pub(crate) fn fill_gaps(values: &[f64]) -> Option<Vec<f64>> {
    let first = values.iter().position(|v| v.is_finite())?;
    let mut out = values.to_vec();
    let start = out[first];
    out[..first].fill(start);
    let mut last = first;
    for i in first + 1..out.len() {
        if !out[i].is_finite() {
            continue;
        }
        let gap = i - last;
        if gap > 1 {
            let (a, b) = (out[last], out[i]);
            for (t, v) in out[last + 1..i].iter_mut().enumerate() {
                let w = (t + 1) as f64 / gap as f64;
                // Weighted sum rather than a + (b − a)·w: no overflow for values near ±f64::MAX.
                *v = a * (1.0 - w) + b * w;
            }
        }
        last = i;
    }
    let end = out[last];
    out[last + 1..].fill(end);
    Some(out)
}

/// Gap-filled, scaled to max |x| = 1 (so sums cannot overflow) and mean-removed; `None` when too short
/// or flat.
fn standardize(values: &[f64]) -> Option<Vec<f64>> {
    if values.len() < MIN_LEN {
        return None;
    }
    let mut x = fill_gaps(values)?;
    let scale = x.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    if scale <= 0.0 {
        return None;
    }
    let n = x.len() as f64;
    x.iter_mut().for_each(|v| *v /= scale);
    let mean = x.iter().sum::<f64>() / n;
    x.iter_mut().for_each(|v| *v -= mean);
    let variance = x.iter().map(|v| v * v).sum::<f64>() / n;
    (variance > 1e-24).then_some(x)
}

/// Periodogram (bins `0..=n/2` of the length-`n` DFT) and unbiased, normalised ACF (lags `0..n`),
/// both from one zero-padded FFT of length `2n`: its even bins are the length-`n` DFT, and the padding
/// makes the ACF linear rather than circular.
fn periodogram_and_acf(x: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = x.len();
    let m = 2 * n;
    let (forward, inverse) = with_planner(|p| (p.plan_fft_forward(m), p.plan_fft_inverse(m)));
    let mut buf: Vec<Complex<f64>> = x
        .iter()
        .map(|&v| Complex::new(v, 0.0))
        .chain(std::iter::repeat_n(Complex::new(0.0, 0.0), n))
        .collect();
    forward.process(&mut buf);
    let power: Vec<f64> = buf
        .iter()
        .step_by(2)
        .take(n / 2 + 1)
        .map(|c| c.norm_sqr())
        .collect();
    buf.iter_mut()
        .for_each(|c| *c = Complex::new(c.norm_sqr(), 0.0));
    inverse.process(&mut buf);
    let lag0 = buf.first().map_or(0.0, |c| c.re) / n as f64;
    let acf = buf
        .iter()
        .take(n)
        .enumerate()
        .map(|(k, c)| (c.re / (n - k) as f64 / lag0).clamp(-1.0, 1.0))
        .collect();
    (power, acf)
}

/// Up to `count` periodogram bins that are local maxima, strongest first, among bins whose period
/// `n/j` lies in `[2, n/2]`.
fn peak_bins(power: &[f64], n: usize, count: usize) -> Vec<usize> {
    let at = |j: usize| power.get(j).copied().unwrap_or(0.0);
    let mut peaks: Vec<usize> = (2..=n / 2)
        .filter(|&j| at(j) > at(j - 1) && at(j) >= at(j + 1))
        .collect();
    peaks.sort_by(|&a, &b| at(b).total_cmp(&at(a)));
    peaks.truncate(count);
    peaks
}

/// Refines bin `j` to the best ACF lag between the periods of bins `j+1` and `j-1`, and returns it
/// with its ACF if it is a significant ACF peak.
fn confirm(acf: &[f64], n: usize, j: usize, step_secs: i64) -> Option<(usize, f64)> {
    let lo = (n / (j + 1)).max(2);
    let hi = (n / j.checked_sub(1)?.max(1)).min(n / 2);
    let (lag, strength) = (lo..=hi)
        .filter_map(|k| Some((k, *acf.get(k)?)))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let r = (lag / 4).max(1);
    let from = lag.saturating_sub(r).max(1);
    let neighbourhood = acf.get(from..(lag + r + 1).min(n))?;
    // The hill's top: it may lie a step or two past `hi`, where the search above could not look
    // (a weekly cycle in exactly two weeks of history tops out just past half the series), so a
    // top within 2 % of `lag` is this hill's.
    let top = from
        + neighbourhood
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i);
    // A hill, not a bump on the slow decay of a smooth series: the ACF must have dipped since lag 0.
    let dip = acf
        .get(1..lag)?
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let is_peak = top.abs_diff(lag) <= (lag / 50).max(1) && strength - dip >= MIN_PROMINENCE;
    if !is_peak {
        return None;
    }
    let lag = vertex(acf, lag);
    let lag = calendar_lag(lag, step_secs).unwrap_or(lag).clamp(lo, hi);
    let strength = *acf.get(lag)?;
    let noise = 3.0 / ((n - lag) as f64).sqrt();
    (strength >= MIN_STRENGTH.max(noise)).then_some((lag, strength))
}

/// Centre of the ACF hill around `lag`, from a least-squares parabola over ± an eighth of the lag:
/// near its top the hill is flat, so the noisy argmax can sit a few steps off the true period.
fn vertex(acf: &[f64], lag: usize) -> usize {
    let w = (lag / 8)
        .min(lag - 1)
        .min(acf.len().saturating_sub(lag + 1));
    if w == 0 {
        return lag;
    }
    // Symmetric window: odd moments vanish, so slope and curvature decouple.
    let (mut s0, mut s2, mut s4, mut sy, mut sdy, mut sd2y) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (k, &y) in acf.iter().enumerate().take(lag + w + 1).skip(lag - w) {
        let d = k as f64 - lag as f64;
        s0 += 1.0;
        s2 += d * d;
        s4 += d * d * d * d;
        sy += y;
        sdy += d * y;
        sd2y += d * d * y;
    }
    let slope = sdy / s2;
    let curvature = (s0 * sd2y - s2 * sy) / (s0 * s4 - s2 * s2);
    let offset = -slope / (2.0 * curvature);
    if curvature < 0.0 && offset.abs() <= w as f64 {
        lag.saturating_add_signed(offset.round() as isize)
    } else {
        lag
    }
}

/// The hour, day or week (in steps) that `lag` is within 2 % of, if any.
///
/// Workloads cycle on the wall clock, so a cycle measured a step or two away from one of these is
/// that one: the ACF hill is flat at the top, and ripples of a shorter cycle (hourly jobs on a daily
/// shape) can shift its vertex by half a ripple, and with it the phase of every forecast day and the
/// ACF read there (series2 of the Crane data: 289 steps at 5 minutes, weekly at 2022).
fn calendar_lag(lag: usize, step_secs: i64) -> Option<usize> {
    CALENDAR_SECS.iter().find_map(|&secs| {
        let steps = usize::try_from((secs as f64 / step_secs as f64).round() as i64).ok()?;
        (steps >= 2 && multiple_of(lag, steps) == Some(1)).then_some(steps)
    })
}

/// `Some(k)` if `lag` is within 2 % (at least one step) of `k · base` for a whole `k ≥ 1`.
fn multiple_of(lag: usize, base: usize) -> Option<usize> {
    if base == 0 {
        return None;
    }
    let k = ((lag as f64 / base as f64).round() as usize).max(1);
    let tolerance = (lag / 50).max(1);
    (lag.abs_diff(k * base) <= tolerance).then_some(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_gaps_interpolates_inside_and_extends_at_the_ends() {
        let filled = fill_gaps(&[f64::NAN, 1.0, f64::NAN, f64::INFINITY, 4.0, f64::NAN]);
        assert_eq!(filled, Some(vec![1.0, 1.0, 2.0, 3.0, 4.0, 4.0]));
        assert_eq!(fill_gaps(&[f64::NAN, f64::NAN]), None);
    }

    #[test]
    fn multiples_within_two_percent() {
        assert_eq!(multiple_of(1440, 1440), Some(1));
        assert_eq!(multiple_of(2885, 1440), Some(2));
        assert_eq!(multiple_of(10080, 1440), Some(7));
        assert_eq!(multiple_of(2000, 1440), None);
    }

    #[test]
    fn lags_near_an_hour_a_day_or_a_week_snap_to_it() {
        assert_eq!(calendar_lag(289, 300), Some(288));
        assert_eq!(calendar_lag(2022, 300), Some(2016));
        assert_eq!(calendar_lag(1443, 60), Some(1440));
        assert_eq!(calendar_lag(145, 300), None);
        // An hour of 1 step is no cycle to snap to.
        assert_eq!(calendar_lag(1, 3600), None);
    }

    #[test]
    fn acf_of_a_pure_cycle_peaks_at_its_period() {
        let x: Vec<f64> = (0..400)
            .map(|t| (std::f64::consts::TAU * t as f64 / 40.0).sin())
            .collect();
        let (_, acf) = periodogram_and_acf(&x);
        assert!((acf[0] - 1.0).abs() < 1e-9);
        assert!(acf[40] > 0.99 && acf[20] < -0.99);
    }
}
