//! The `descheduler:` config section.

use serde::{Deserialize, Serialize};
use tidal_core::usage::{PodUsageConfig, SustainedConfig};

use crate::policy::Policy;

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeschedulerConfig {
    /// What counts as hot and cold, and the guards and limits.
    pub policy: Policy,
    /// How sustained node load is read from Prometheus.
    pub sustained: SustainedConfig,
    /// How per-pod real usage is read from Prometheus (cAdvisor).
    pub pod_usage: PodUsageConfig,
    pub state: StateConfig,
    pub eviction: EvictionConfig,
}

/// Where per-workload cooldowns are kept between runs.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateConfig {
    pub namespace: String,
    pub config_map: String,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            namespace: "tidal-system".to_string(),
            config_map: "tidal-descheduler-state".to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvictionConfig {
    /// `deleteOptions.gracePeriodSeconds`; unset keeps each pod's own.
    pub grace_period_seconds: Option<i64>,
    /// At most this many evictions per second.
    pub per_second: f64,
}

impl Default for EvictionConfig {
    fn default() -> Self {
        Self {
            grace_period_seconds: None,
            per_second: 2.0,
        }
    }
}

impl DeschedulerConfig {
    pub fn validate(&self) -> Result<(), String> {
        self.policy.validate()?;
        self.sustained.validate()?;
        self.pod_usage.validate()?;
        if !(self.eviction.per_second > 0.0 && self.eviction.per_second.is_finite()) {
            return Err(format!(
                "eviction.per_second is {}; it must be a positive number",
                self.eviction.per_second
            ));
        }
        if self.eviction.grace_period_seconds.is_some_and(|g| g < 0) {
            return Err("eviction.grace_period_seconds must not be negative".to_string());
        }
        Ok(())
    }
}
