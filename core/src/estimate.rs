//! Estimated usage of pods the metrics do not show yet.
//!
//! A pod bound a moment ago uses nothing in Prometheus's 5-minute averages, so a
//! burst of pods would all pick the node that looked coolest (herding). Like
//! Koordinator's estimator, we count each such pod at its request (or limit, if
//! higher) times a scaling factor, with a default for pods that request nothing.

use std::ops::{Add, AddAssign};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde::{Deserialize, Serialize};

use crate::quantity::Quantity;
use crate::resources::{pod_limits, pod_requests};

/// The `estimation:` config section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EstimationConfig {
    /// How long after binding a pod counts by its estimate: until the load's
    /// averages fully contain it.
    #[serde(with = "crate::duration_text")]
    pub window: Duration,
    pub cpu_scaling_factor: f64,
    pub memory_scaling_factor: f64,
    /// Estimate for a pod with no cpu request or limit.
    pub default_cpu: Quantity,
    /// Estimate for a pod with no memory request or limit.
    pub default_memory: Quantity,
}

impl Default for EstimationConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(300),
            cpu_scaling_factor: 0.85,
            memory_scaling_factor: 0.70,
            default_cpu: Quantity::from_milli(250),
            default_memory: Quantity::from_value(200 * 1024 * 1024),
        }
    }
}

impl EstimationConfig {
    pub fn validate(&self) -> Result<(), String> {
        for (name, f) in [
            ("estimation.cpu_scaling_factor", self.cpu_scaling_factor),
            (
                "estimation.memory_scaling_factor",
                self.memory_scaling_factor,
            ),
        ] {
            if !(f > 0.0 && f <= 10.0) {
                return Err(format!("{name} is {f}; it must be in (0, 10]"));
            }
        }
        if self.default_cpu.as_nanos() < 0 || self.default_memory.as_nanos() < 0 {
            return Err(
                "estimation.default_cpu and default_memory must not be negative".to_string(),
            );
        }
        if self.window.is_zero() {
            return Err("estimation.window must be more than 0".to_string());
        }
        Ok(())
    }

    /// The estimated usage of a pod once it runs.
    pub fn estimate(&self, pod: &Pod) -> Estimate {
        let requests = pod_requests(pod);
        let limits = pod_limits(pod);
        Estimate {
            cpu_cores: scaled(
                requests.cpu_milli,
                limits.cpu_milli,
                self.cpu_scaling_factor,
                self.default_cpu.milli_value_ceil(),
            ) / 1000.0,
            memory_bytes: scaled(
                requests.memory_bytes,
                limits.memory_bytes,
                self.memory_scaling_factor,
                self.default_memory.value_ceil(),
            ),
        }
    }
}

/// `max(request, limit) × factor`, capped at the limit; `default` when neither is set.
fn scaled(request: i64, limit: Option<i64>, factor: f64, default: i64) -> f64 {
    let base = request.max(limit.unwrap_or(0));
    if base <= 0 {
        return default as f64;
    }
    let estimate = base as f64 * factor;
    limit
        .filter(|l| *l > 0)
        .map_or(estimate, |l| estimate.min(l as f64))
}

/// Usage in cores and bytes; fractional, since it is an estimate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Estimate {
    pub cpu_cores: f64,
    pub memory_bytes: f64,
}

impl Add for Estimate {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Self {
            cpu_cores: self.cpu_cores + other.cpu_cores,
            memory_bytes: self.memory_bytes + other.memory_bytes,
        }
    }
}

impl AddAssign for Estimate {
    fn add_assign(&mut self, other: Self) {
        *self = *self + other;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_the_larger_of_request_and_limit_capped_at_limit() {
        assert_eq!(scaled(1000, None, 0.85, 250), 850.0);
        assert_eq!(scaled(500, Some(2000), 0.85, 250), 1700.0);
        assert_eq!(scaled(1000, Some(1000), 1.5, 250), 1000.0);
        assert_eq!(scaled(0, None, 0.85, 250), 250.0);
    }
}
