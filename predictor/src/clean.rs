//! Cleaning: raw samples → an evenly spaced [`Series`] plus a report of what was fixed.
//!
//! Models assume one value per step; real history has gaps (scrape failures), jittered
//! or duplicated timestamps, counter resets and spikes. Each is repaired here and
//! counted, so a forecast built on repaired data says how much repair it needed.

use std::fmt;

use thiserror::Error;

use crate::csv::RawSeries;
use crate::series::Series;

/// How to clean; [`Default`] suits per-minute to per-5-minute resource usage.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanOptions {
    /// Grid step in seconds; `None` infers the median spacing of the samples.
    pub step: Option<i64>,
    /// Gaps of at most this many missing seconds are interpolated linearly; longer
    /// gaps stay `NaN`, since a straight line across hours would invent a cycle's worth
    /// of data.
    pub max_fill_secs: i64,
    /// Hampel filter half-window, in samples (the window is `2·w + 1` wide).
    pub outlier_half_window: usize,
    /// A sample farther than `k` robust standard deviations (1.4826·MAD) from its
    /// window's median is an outlier; `0` or less disables the filter.
    pub outlier_k: f64,
    /// The samples are a cumulative counter: convert to per-second rates first
    /// ([`counter_to_rate`]).
    pub counter: bool,
    /// Refuse to build grids longer than this, so two far-apart timestamps cannot make
    /// us allocate gigabytes.
    pub max_points: usize,
}

impl Default for CleanOptions {
    fn default() -> Self {
        Self {
            step: None,
            max_fill_secs: 15 * 60,
            outlier_half_window: 7,
            outlier_k: 5.0,
            counter: false,
            max_points: 10_000_000,
        }
    }
}

/// What cleaning did, counted in samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct CleaningReport {
    /// Grid step used, seconds.
    pub step: i64,
    /// Whether `step` was inferred (median spacing) rather than given.
    pub step_inferred: bool,
    /// Samples received, including missing ones.
    pub points_in: usize,
    /// Samples in the cleaned series.
    pub points_out: usize,
    /// Missing grid points filled by linear interpolation.
    pub gaps_filled: usize,
    /// Missing grid points left `NaN` (gaps longer than `max_fill_secs`).
    pub gaps_left: usize,
    /// Samples replaced by their window median.
    pub outliers_replaced: usize,
    /// Samples whose timestamp was not on the grid and was snapped to the nearest point.
    pub off_grid: usize,
    /// Samples dropped because another sample held the same grid point (exact repeats,
    /// or jittered samples snapped together).
    pub duplicates: usize,
    /// Counter resets seen (only with `counter: true`).
    pub counter_resets: usize,
}

impl fmt::Display for CleaningReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {}s{}, {} in -> {} out, gaps filled {}, left {}, outliers {}, off-grid {}, duplicates {}",
            self.step,
            if self.step_inferred {
                " (inferred)"
            } else {
                ""
            },
            self.points_in,
            self.points_out,
            self.gaps_filled,
            self.gaps_left,
            self.outliers_replaced,
            self.off_grid,
            self.duplicates,
        )?;
        if self.counter_resets > 0 {
            write!(f, ", counter resets {}", self.counter_resets)?;
        }
        Ok(())
    }
}

/// Why a history cannot be cleaned into a series.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CleanError {
    #[error(
        "need at least 2 samples with a value and distinct timestamps to find a step, found {found}"
    )]
    TooFewSamples { found: usize },
    #[error("step must be a positive number of seconds, got {0}")]
    InvalidStep(i64),
    #[error(
        "samples span {points} steps of {step}s, more than the limit of {max}; use a coarser step"
    )]
    TooLong { points: u128, step: i64, max: usize },
}

/// Cleans with default options and the given (or inferred) step.
pub fn regularize(
    raw: &[(i64, f64)],
    step: Option<i64>,
) -> Result<(Series, CleaningReport), CleanError> {
    regularize_with(
        raw,
        &CleanOptions {
            step,
            ..CleanOptions::default()
        },
    )
}

/// Cleans `raw` (any order) into an evenly spaced series.
///
/// Steps: sort by time; optionally counter → rate; infer the step; snap each sample to
/// the nearest multiple of the step since the epoch (aligned grids line up across
/// series, like Prometheus range queries); keep the nearest sample per grid point;
/// replace outliers (Hampel); interpolate short gaps.
pub fn regularize_with(
    raw: &[(i64, f64)],
    opts: &CleanOptions,
) -> Result<(Series, CleaningReport), CleanError> {
    let mut report = CleaningReport {
        points_in: raw.len(),
        ..CleaningReport::default()
    };
    // Missing values carry no information for the grid: their slots become gaps anyway.
    let mut samples: RawSeries = raw.iter().copied().filter(|(_, v)| v.is_finite()).collect();
    samples.sort_by_key(|&(t, _)| t);
    if opts.counter {
        let (rates, resets) = counter_to_rate(&samples);
        samples = rates;
        report.counter_resets = resets;
    }

    let step = match opts.step {
        Some(step) if step <= 0 => return Err(CleanError::InvalidStep(step)),
        Some(step) => step,
        None => {
            report.step_inferred = true;
            median_spacing(&samples).ok_or(CleanError::TooFewSamples {
                found: samples.len(),
            })?
        }
    };
    report.step = step;
    let (Some(&(first, _)), Some(&(last, _))) = (samples.first(), samples.last()) else {
        return Err(CleanError::TooFewSamples { found: 0 });
    };

    let k0 = nearest_slot(first, step);
    let span = nearest_slot(last, step) - k0 + 1;
    if span > opts.max_points as i128 {
        return Err(CleanError::TooLong {
            points: span.unsigned_abs(),
            step,
            max: opts.max_points,
        });
    }
    // `span` is within `max_points`, a usize, so these conversions cannot fail.
    let len = usize::try_from(span).unwrap_or(0);
    let mut values = vec![f64::NAN; len];
    let mut distance = vec![i64::MAX; len];
    for &(t, v) in &samples {
        let k = nearest_slot(t, step);
        let off = (i128::from(t) - k * i128::from(step)).unsigned_abs();
        let off = i64::try_from(off).unwrap_or(i64::MAX);
        if off != 0 {
            report.off_grid += 1;
        }
        let i = usize::try_from(k - k0).unwrap_or(0);
        if values[i].is_nan() {
            (values[i], distance[i]) = (v, off);
        } else {
            report.duplicates += 1;
            // Nearest wins; on a tie the later sample (samples are sorted) wins, as a
            // re-sent sample is usually the correction.
            if off <= distance[i] {
                (values[i], distance[i]) = (v, off);
            }
        }
    }

    report.outliers_replaced = hampel(&mut values, opts.outlier_half_window, opts.outlier_k);
    let max_fill_points = usize::try_from(opts.max_fill_secs / step).unwrap_or(0);
    (report.gaps_filled, report.gaps_left) = fill_gaps(&mut values, max_fill_points);
    report.points_out = values.len();

    let start = i64::try_from(k0 * i128::from(step)).unwrap_or(first);
    let series = Series::new(start, step, values).map_err(|e| CleanError::InvalidStep(e.0))?;
    Ok((series, report))
}

/// Converts a cumulative counter to per-second rates, one per consecutive pair of
/// samples (timestamped at the later one), and counts resets.
///
/// A drop is a reset (process restart): the counter restarted from zero, so the increase
/// over that interval is the new value, as Prometheus's `rate()` assumes. Samples out of
/// order or at the same time as the previous one, and non-finite values, are skipped.
pub fn counter_to_rate(raw: &[(i64, f64)]) -> (RawSeries, usize) {
    let mut rates = RawSeries::with_capacity(raw.len().saturating_sub(1));
    let mut resets = 0;
    let mut prev: Option<(i64, f64)> = None;
    for &(t, v) in raw {
        if !v.is_finite() {
            continue;
        }
        if let Some((pt, pv)) = prev {
            if t <= pt {
                continue;
            }
            let increase = if v < pv {
                resets += 1;
                v
            } else {
                v - pv
            };
            rates.push((t, increase / (t - pt) as f64));
        }
        prev = Some((t, v));
    }
    (rates, resets)
}

/// Median positive spacing between sorted timestamps: robust to a few gaps and jitter.
fn median_spacing(sorted: &[(i64, f64)]) -> Option<i64> {
    let mut diffs: Vec<i64> = sorted
        .windows(2)
        .map(|w| w[1].0.saturating_sub(w[0].0))
        .filter(|&d| d > 0)
        .collect();
    if diffs.is_empty() {
        return None;
    }
    let mid = diffs.len() / 2;
    let (_, median, _) = diffs.select_nth_unstable(mid);
    Some(*median)
}

/// Index of the grid point (multiple of `step`) nearest to `t`; ties round up.
/// `i128` so no timestamp can overflow.
fn nearest_slot(t: i64, step: i64) -> i128 {
    let (t, step) = (i128::from(t), i128::from(step));
    (t + step / 2).div_euclid(step)
}

/// Hampel filter: replaces each value farther than `k`·1.4826·MAD from the median of its
/// window (missing values ignored) by that median; returns how many it replaced.
///
/// The local MAD is floored at a tenth of the whole series' MAD: in a nearly idle stretch
/// the local MAD is tiny and ordinary noise or the first minute of a real burst would
/// count as an outlier, and a forecast for pre-scaling must keep real peaks. With a zero
/// floor too (flat or quantized data, e.g. replica counts) nothing is replaced.
fn hampel(values: &mut [f64], half_window: usize, k: f64) -> usize {
    if k.is_nan() || k <= 0.0 {
        return 0;
    }
    let original = values.to_vec();
    let mut scratch: Vec<f64> = original.iter().copied().filter(|v| !v.is_nan()).collect();
    let global_median = median_of(&mut scratch);
    for v in &mut scratch {
        *v = (*v - global_median).abs();
    }
    let mad_floor = median_of(&mut scratch) / 10.0;
    let mut window = Vec::with_capacity(2 * half_window + 1);
    let mut replaced = 0;
    for (i, value) in values.iter_mut().enumerate() {
        if value.is_nan() {
            continue;
        }
        let lo = i.saturating_sub(half_window);
        let hi = i.saturating_add(half_window).min(original.len() - 1);
        window.clear();
        window.extend(original[lo..=hi].iter().copied().filter(|v| !v.is_nan()));
        let median = median_of(&mut window);
        for v in &mut window {
            *v = (*v - median).abs();
        }
        let mad = median_of(&mut window).max(mad_floor);
        if mad > 0.0 && (*value - median).abs() > k * 1.4826 * mad {
            *value = median;
            replaced += 1;
        }
    }
    replaced
}

/// Median of non-NaN values (reorders them); `NaN` when empty.
fn median_of(values: &mut [f64]) -> f64 {
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    let (_, upper, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        return upper;
    }
    let lower = values[..n / 2]
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    (lower + upper) / 2.0
}

/// Linearly interpolates runs of `NaN` between two known values when the run is at most
/// `max_points` long; returns (points filled, points left missing).
fn fill_gaps(values: &mut [f64], max_points: usize) -> (usize, usize) {
    let (mut filled, mut left) = (0, 0);
    let mut i = 0;
    while i < values.len() {
        if !values[i].is_nan() {
            i += 1;
            continue;
        }
        let gap_start = i;
        while i < values.len() && values[i].is_nan() {
            i += 1;
        }
        let gap = i - gap_start;
        let bounded = gap_start > 0 && i < values.len();
        if bounded && gap <= max_points {
            let (a, b) = (values[gap_start - 1], values[i]);
            for (j, v) in values[gap_start..i].iter_mut().enumerate() {
                *v = a + (b - a) * (j + 1) as f64 / (gap + 1) as f64;
            }
            filled += gap;
        } else {
            left += gap;
        }
    }
    (filled, left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median_of(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_of(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median_of(&mut []).is_nan());
    }

    #[test]
    fn spacing_is_median_not_mean() {
        // Spacings 60, 59, 62, 60 and one 759 s gap: the gap must not stretch the step.
        let raw = [
            (0, 0.0),
            (60, 0.0),
            (119, 0.0),
            (181, 0.0),
            (241, 0.0),
            (1000, 0.0),
        ];
        assert_eq!(median_spacing(&raw), Some(60));
    }

    #[test]
    fn slots_round_to_nearest() {
        assert_eq!(nearest_slot(89, 60), 1);
        assert_eq!(nearest_slot(90, 60), 2);
        assert_eq!(nearest_slot(-31, 60), -1);
        assert_eq!(nearest_slot(i64::MAX, 1), i128::from(i64::MAX));
    }

    #[test]
    fn short_gaps_filled_long_left() {
        let nan = f64::NAN;
        let mut v = [1.0, nan, nan, 4.0, nan, nan, nan, 8.0];
        assert_eq!(fill_gaps(&mut v, 2), (2, 3));
        assert_eq!(&v[..4], &[1.0, 2.0, 3.0, 4.0]);
        assert!(v[4..7].iter().all(|x| x.is_nan()));
    }

    #[test]
    fn hampel_ignores_flat_windows() {
        let mut v = [3.0, 3.0, 3.0, 4.0, 3.0, 3.0, 3.0];
        assert_eq!(hampel(&mut v, 3, 5.0), 0);
        assert_eq!(v[3], 4.0);
    }

    #[test]
    fn given_step_must_be_positive() {
        let raw = [(0, 1.0), (60, 2.0)];
        assert_eq!(regularize(&raw, Some(0)), Err(CleanError::InvalidStep(0)));
    }

    #[test]
    fn too_few_samples() {
        assert_eq!(
            regularize(&[(0, 1.0), (0, 2.0)], None),
            Err(CleanError::TooFewSamples { found: 2 })
        );
        assert_eq!(
            regularize(&[], Some(60)),
            Err(CleanError::TooFewSamples { found: 0 })
        );
    }

    #[test]
    fn far_apart_samples_refused_not_allocated() {
        let raw = [(0, 1.0), (i64::MAX, 2.0)];
        assert!(matches!(
            regularize(&raw, Some(1)),
            Err(CleanError::TooLong { .. })
        ));
    }
}
