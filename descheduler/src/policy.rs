//! The `descheduler:` config section: what counts as hot and cold, and the guards
//! and limits no plan may break.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A fraction of allocatable per resource.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fractions {
    pub cpu: f64,
    pub memory: f64,
}

/// How sustained load classifies nodes. In `absolute` mode the fractions are of the
/// node's allocatable; in `deviation` mode they are offsets from the cluster average
/// (hot = average + hot, cold = average − cold, target = average + target).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Classification {
    pub mode: ThresholdMode,
    /// A node is hot when any resource is above this.
    pub hot: Fractions,
    /// Evictions from a hot node stop once every resource is projected at or below this.
    pub target: Fractions,
    /// A node may receive pods only when every resource is below this.
    pub cold: Fractions,
}

impl Default for Classification {
    fn default() -> Self {
        Self {
            mode: ThresholdMode::Absolute,
            hot: Fractions {
                cpu: 0.80,
                memory: 0.85,
            },
            target: Fractions {
                cpu: 0.70,
                memory: 0.75,
            },
            cold: Fractions {
                cpu: 0.50,
                memory: 0.60,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThresholdMode {
    #[default]
    Absolute,
    Deviation,
}

/// Caps on evictions in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub per_node: u32,
    pub per_namespace: u32,
    pub per_workload: u32,
    pub total: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_node: 3,
            per_namespace: 10,
            per_workload: 1,
            total: 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    pub classification: Classification,
    pub limits: Limits,
    /// Pods younger than this stay: they may still be warming up, and moving them
    /// right after they started is churn.
    #[serde(with = "tidal_core::duration_text")]
    pub min_pod_age: Duration,
    /// A workload evicted from is left alone for this long, across runs.
    #[serde(with = "tidal_core::duration_text")]
    pub cooldown: Duration,
    /// After the planned evictions, at least this fraction of a workload's desired
    /// replicas must still be ready (on top of any PodDisruptionBudget).
    pub availability_floor: f64,
    /// Evict from workloads of one desired replica (an outage while it restarts).
    pub allow_single_replica: bool,
    /// Evict pods with `emptyDir` or `hostPath` volumes (their data is lost).
    pub allow_local_storage: bool,
    /// A pod with this annotation set to `"true"` is never evicted.
    pub opt_out_annotation: String,
    /// Pods at or above this priority are never evicted (the `system-*` classes start
    /// at 2,000,000,000).
    pub protected_priority: i32,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            classification: Classification::default(),
            limits: Limits::default(),
            min_pod_age: Duration::from_secs(10 * 60),
            cooldown: Duration::from_secs(30 * 60),
            availability_floor: 0.5,
            allow_single_replica: false,
            allow_local_storage: false,
            opt_out_annotation: "tidal.io/no-evict".to_string(),
            protected_priority: 2_000_000_000,
        }
    }
}

impl Policy {
    pub fn validate(&self) -> Result<(), String> {
        let c = &self.classification;
        for (name, f) in [("hot", c.hot), ("target", c.target), ("cold", c.cold)] {
            for (resource, v) in [("cpu", f.cpu), ("memory", f.memory)] {
                if !(0.0..=1.0).contains(&v) {
                    return Err(format!(
                        "classification.{name}.{resource} is {v}; it must be a fraction in [0, 1]"
                    ));
                }
            }
        }
        if c.mode == ThresholdMode::Absolute {
            for (resource, cold, target, hot) in [
                ("cpu", c.cold.cpu, c.target.cpu, c.hot.cpu),
                ("memory", c.cold.memory, c.target.memory, c.hot.memory),
            ] {
                if !(cold <= target && target <= hot) {
                    return Err(format!(
                        "classification for {resource} needs cold ({cold}) <= target ({target}) <= hot ({hot})"
                    ));
                }
            }
        }
        if !(0.0..=1.0).contains(&self.availability_floor) {
            return Err(format!(
                "availability_floor is {}; it must be a fraction in [0, 1]",
                self.availability_floor
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_misordered_thresholds_are_not() {
        assert_eq!(Policy::default().validate(), Ok(()));
        let mut policy = Policy::default();
        policy.classification.cold.cpu = 0.9;
        assert!(
            policy
                .validate()
                .is_err_and(|e| e.contains("cold (0.9) <= target"))
        );
    }
}
