//! Splitting a range query into chunks Prometheus accepts, and joining the answers.
//!
//! Prometheus refuses a range query with more than 11,000 points per series, so a long
//! history at a fine step is fetched in chunks. Chunks share the query's time grid
//! (`start + k·step`) and do not overlap; joining still drops any sample not after the
//! previous one, so an overlapping or repeated answer cannot duplicate samples.

use crate::csv::RawSeries;

/// Prometheus's hard limit of points per series in one range query.
pub const PROMETHEUS_MAX_POINTS: usize = 11_000;

/// The evaluation times of a range query: `start`, `start + step`, … up to `end`,
/// in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl Grid {
    /// Number of evaluation times; `end` need not be on the grid.
    pub fn points(&self) -> u64 {
        if self.end < self.start || self.step <= 0 {
            return 0;
        }
        (self.end - self.start).unsigned_abs() / self.step.unsigned_abs() + 1
    }

    /// `(start, end)` of each chunk of at most `max_points` evaluation times, in order,
    /// covering the grid exactly once. `max_points` below 1 counts as 1.
    pub fn chunks(&self, max_points: usize) -> Vec<(i64, i64)> {
        let per_chunk = i64::try_from(max_points.max(1)).unwrap_or(i64::MAX);
        let span = per_chunk.saturating_sub(1).saturating_mul(self.step);
        let Some(last) = self.points().checked_sub(1) else {
            return Vec::new();
        };
        let last = self.start + i64::try_from(last).unwrap_or(i64::MAX) * self.step;
        let mut chunks = Vec::new();
        let mut from = self.start;
        while from <= last {
            let to = from.saturating_add(span).min(last);
            chunks.push((from, to));
            from = to.saturating_add(self.step);
        }
        chunks
    }
}

/// Appends a chunk's `(Unix seconds, value)` points, skipping any not after the last
/// sample already held. Timestamps are rounded to whole seconds, the grid's resolution.
pub(crate) fn append(series: &mut RawSeries, points: &[(f64, f64)]) {
    for &(t, value) in points {
        let t = t.round() as i64;
        if series.last().is_none_or(|&(last, _)| t > last) {
            series.push((t, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(start: i64, end: i64, step: i64) -> Grid {
        Grid { start, end, step }
    }

    #[test]
    fn chunks_cover_every_point_once_and_respect_the_limit() {
        for (start, end, step, max) in [
            (0, 1000, 10, 7),
            (5, 5000, 60, 1),
            (0, 86_400 * 14, 60, PROMETHEUS_MAX_POINTS),
            (100, 399, 100, 2),
        ] {
            let g = grid(start, end, step);
            let chunks = g.chunks(max);
            let mut times = Vec::new();
            for &(from, to) in &chunks {
                let n = (to - from) / step + 1;
                assert!(n as usize <= max, "{chunks:?}");
                times.extend((from..=to).step_by(step as usize));
            }
            let expected: Vec<i64> = (start..=end).step_by(step as usize).collect();
            assert_eq!(times, expected, "{start}..{end} step {step} max {max}");
            assert_eq!(chunks.len() as u64, g.points().div_ceil(max as u64));
        }
    }

    #[test]
    fn exact_multiples_fill_every_chunk() {
        // 30 points in chunks of 10: three full chunks, no empty fourth.
        let chunks = grid(0, 290, 10).chunks(10);
        assert_eq!(chunks, [(0, 90), (100, 190), (200, 290)]);
        assert_eq!(grid(0, 300, 10).chunks(10).last(), Some(&(300, 300)));
    }

    #[test]
    fn one_point_and_empty_ranges() {
        assert_eq!(grid(60, 60, 15).chunks(5), [(60, 60)]);
        assert_eq!(grid(60, 74, 15).chunks(5), [(60, 60)]);
        assert!(grid(60, 59, 15).chunks(5).is_empty());
        assert_eq!(grid(60, 59, 15).points(), 0);
        assert_eq!(
            grid(0, 0, 1).chunks(PROMETHEUS_MAX_POINTS),
            [(0, 0)],
            "a one-point range is one query"
        );
    }

    #[test]
    fn the_default_limit_is_prometheus_own() {
        // 11,000 points at 1 minute: 7.6 days in one query, the next point in a second.
        let chunks = grid(0, 11_000 * 60, 60).chunks(PROMETHEUS_MAX_POINTS);
        assert_eq!(chunks, [(0, 10_999 * 60), (11_000 * 60, 11_000 * 60)]);
    }

    #[test]
    fn append_drops_repeated_boundary_samples() {
        let mut series = RawSeries::new();
        append(&mut series, &[(0.0, 1.0), (60.0, 2.0)]);
        append(&mut series, &[(60.0, 9.0), (119.999, 3.0)]);
        append(&mut series, &[(30.0, 9.0)]);
        assert_eq!(series, [(0, 1.0), (60, 2.0), (120, 3.0)]);
    }
}
