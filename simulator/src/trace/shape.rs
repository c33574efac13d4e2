//! A per-replica usage curve: values per simulation step, looped, with seeded jitter.

use std::sync::Arc;

/// Usage over time, in the resource's unit (cores or bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// One value per simulation step, replayed from step 0 and looped.
    values: Arc<[f32]>,
    /// Multiplicative noise: each replica's value is scaled by a factor drawn
    /// uniformly from `[1 - jitter, 1 + jitter]`, anew at every step.
    jitter: f32,
}

impl Shape {
    pub fn constant(value: f64) -> Self {
        Self::new(vec![value as f32], 0.0)
    }

    /// `values` per step (at least one; an empty curve is the constant 0) and the jitter
    /// fraction (clamped to [0, 1]).
    pub fn new(values: Vec<f32>, jitter: f64) -> Self {
        let values = if values.is_empty() { vec![0.0] } else { values };
        Self {
            values: values.into(),
            jitter: jitter.clamp(0.0, 1.0) as f32,
        }
    }

    /// The curve without noise at `step`.
    pub fn base(&self, step: usize) -> f64 {
        f64::from(self.values[step % self.values.len()])
    }

    /// One replica's value at `step`; `key` identifies the replica (its noise stream).
    pub fn at(&self, step: usize, key: u64) -> f64 {
        let base = self.base(step);
        if self.jitter == 0.0 {
            return base;
        }
        let noise = unit_noise(key, step as u64);
        (base * (1.0 + f64::from(self.jitter) * noise)).max(0.0)
    }

    pub fn mean(&self) -> f64 {
        self.values.iter().map(|&v| f64::from(v)).sum::<f64>() / self.values.len() as f64
    }

    /// The mean of the noiseless curve over `[from, until)` steps.
    pub fn mean_over(&self, from: usize, until: usize) -> f64 {
        if until <= from {
            return self.base(from);
        }
        (from..until).map(|s| self.base(s)).sum::<f64>() / (until - from) as f64
    }

    pub fn is_constant(&self) -> bool {
        self.values.len() == 1 && self.jitter == 0.0
    }
}

/// A deterministic value in [-1, 1) for (key, step), a few nanoseconds per pod and step.
fn unit_noise(key: u64, step: u64) -> f64 {
    let z = splitmix(key ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// SplitMix64's finalizer: every seeded hash of the replay (noise, offsets, streams).
pub(crate) fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loops_and_stays_within_jitter() {
        let shape = Shape::new(vec![1.0, 2.0, 3.0], 0.1);
        assert_eq!(shape.base(4), 2.0);
        for step in 0..1000 {
            let v = shape.at(step, 42);
            let base = shape.base(step);
            assert!(
                v >= base * 0.9 - 1e-9 && v <= base * 1.1 + 1e-9,
                "{v} vs {base}"
            );
        }
        assert_eq!(shape.at(7, 42), shape.at(7, 42));
        assert_ne!(shape.at(7, 42), shape.at(7, 43));
    }

    #[test]
    fn noise_is_centred() {
        let mean = (0..100_000).map(|s| unit_noise(9, s)).sum::<f64>() / 100_000.0;
        assert!(mean.abs() < 0.01, "{mean}");
    }
}
