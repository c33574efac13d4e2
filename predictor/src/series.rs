//! An evenly spaced time series: the shape every model and backtest works on.
//!
//! Storing `start` and `step` instead of a timestamp per sample keeps series small
//! (10,000 series × 14 days fit in memory) and makes "the sample at time t" an index.

use thiserror::Error;

/// The step of a series must be a positive number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("step must be a positive number of seconds, got {0}")]
pub struct InvalidStep(pub i64);

/// Samples at `start`, `start + step`, `start + 2·step`, …; `NaN` marks a missing sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Time of the first sample, Unix seconds.
    pub start: i64,
    /// Seconds between samples; positive.
    pub step: i64,
    /// One value per step; `NaN` = missing.
    pub values: Vec<f64>,
}

impl Series {
    /// A series from its parts; rejects a step that is not positive, since every
    /// index/time conversion divides by it.
    pub fn new(start: i64, step: i64, values: Vec<f64>) -> Result<Self, InvalidStep> {
        if step <= 0 {
            return Err(InvalidStep(step));
        }
        Ok(Self {
            start,
            step,
            values,
        })
    }

    /// `len` samples all equal to `value` (a flat series, or an all-missing one with `NaN`).
    pub fn constant(start: i64, step: i64, len: usize, value: f64) -> Result<Self, InvalidStep> {
        Self::new(start, step, vec![value; len])
    }

    /// Number of samples, missing ones included.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the series has no samples at all.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Time of sample `i`, Unix seconds (saturating, so absurd inputs cannot overflow).
    pub fn time_at(&self, i: usize) -> i64 {
        let i = i64::try_from(i).unwrap_or(i64::MAX);
        self.start.saturating_add(i.saturating_mul(self.step))
    }

    /// The time of every sample, in order.
    pub fn timestamps(&self) -> impl ExactSizeIterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.time_at(i))
    }

    /// Exclusive end: the time one step after the last sample, i.e. where a forecast starts.
    pub fn end(&self) -> i64 {
        self.time_at(self.len())
    }

    /// Number of missing (`NaN`) samples.
    pub fn missing(&self) -> usize {
        self.values.iter().filter(|v| v.is_nan()).count()
    }

    /// The series averaged into buckets of `step` seconds aligned to multiples of `step`
    /// since the epoch (as Prometheus range queries are), ignoring missing samples; a bucket
    /// with none stays missing. A `step` not longer than the series' own returns a copy: models
    /// gain nothing from minute detail a day ahead, but cannot invent detail either.
    pub fn resample(&self, step: i64) -> Series {
        if step <= self.step || self.is_empty() {
            return self.clone();
        }
        let start = self.start.div_euclid(step) * step;
        let buckets = usize::try_from((self.end() - 1 - start).div_euclid(step) + 1).unwrap_or(0);
        let mut sums = vec![(0.0, 0u32); buckets];
        for (t, v) in self.timestamps().zip(&self.values) {
            let bucket = usize::try_from((t - start).div_euclid(step)).unwrap_or(usize::MAX);
            if let (Some(slot), true) = (sums.get_mut(bucket), v.is_finite()) {
                slot.0 += v;
                slot.1 += 1;
            }
        }
        let values = sums
            .into_iter()
            .map(|(sum, n)| if n == 0 { f64::NAN } else { sum / f64::from(n) })
            .collect();
        Series {
            start,
            step,
            values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_end() {
        let s = Series::new(600, 60, vec![1.0, 2.0, f64::NAN]).expect("valid step");
        assert_eq!(s.timestamps().collect::<Vec<_>>(), vec![600, 660, 720]);
        assert_eq!(s.end(), 780);
        assert_eq!(s.len(), 3);
        assert_eq!(s.missing(), 1);
        assert!(!s.is_empty());
    }

    #[test]
    fn empty_series_ends_at_start() {
        let s = Series::constant(100, 5, 0, 1.0).expect("valid step");
        assert!(s.is_empty());
        assert_eq!(s.end(), 100);
    }

    #[test]
    fn rejects_non_positive_step() {
        assert_eq!(Series::new(0, 0, vec![]), Err(InvalidStep(0)));
        assert_eq!(Series::constant(0, -60, 3, 0.0), Err(InvalidStep(-60)));
    }

    #[test]
    fn resample_averages_aligned_buckets_and_keeps_empty_ones_missing() {
        let s = Series::new(
            120,
            60,
            vec![1.0, 3.0, f64::NAN, f64::NAN, f64::NAN, 7.0, 9.0],
        )
        .expect("valid step");
        let r = s.resample(180);
        assert_eq!((r.start, r.step), (0, 180));
        // Buckets [0,180): 120 → 1; [180,360): 180, 240, 300 → 3; [360,540): 360, 420 → 7, 9.
        assert_eq!(r.values[..2], [1.0, 3.0]);
        assert_eq!(r.values[2], 8.0);
        assert_eq!(r.len(), 3);
        let gap = Series::new(0, 60, vec![1.0, f64::NAN, f64::NAN, f64::NAN, 2.0]).expect("valid");
        assert!(gap.resample(120).values[1].is_nan());
        let whole = Series::new(0, 60, vec![1.0, 2.0]).expect("valid step");
        assert_eq!(whole.resample(60), whole, "no finer than the series");
        assert_eq!(whole.resample(30), whole);
    }

    #[test]
    fn huge_times_saturate() {
        let s = Series::new(i64::MAX - 1, 60, vec![0.0; 3]).expect("valid step");
        assert_eq!(s.end(), i64::MAX);
    }
}
