//! The `predictor:` config section.
//!
//! ```yaml
//! predictor:
//!   history: 14d            # how much history to learn from
//!   step: 5m                # model step: history is averaged into it
//!   horizon: 24h            # how far ahead to forecast
//!   # model: crane-fft      # one model for every target instead of the backtest's choice
//!   targets: [...]          # what to forecast (see history::HistoryConfig); default: every
//!                           # workload's and the cluster's CPU and memory
//!   prescale:               # replica floors ahead of predicted peaks
//!     - target: workload/shop/Deployment/web/cpu
//!       quantile: p90       # provision for this forecast quantile
//!       hpa: shop/web       # with --apply, raise this HPA's minReplicas (namespace/name)
//!       plan: { target_per_replica: 0.5, min_replicas: 2, max_replicas: 20, lead: 10m, hold: 30m }
//!   node_pools:             # node counts for node-pool targets
//!     - target: node-pool/karpenter.sh/nodepool=general/cpu
//!       plan: { allocatable: 3.9, target_utilization: 0.7, min_nodes: 3, max_nodes: 50 }
//!   apply_interval: 10m     # how often `tidal predict --apply` runs (the CronJob schedule)
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::forecast::{ForecastOptions, ModelKind, Quantile};
use crate::history::{FetchOptions, HistoryConfig, Target};
use crate::plan::{NodePlanConfig, PlanConfig};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PredictorConfig {
    #[serde(with = "tidal_core::duration_text")]
    pub history: Duration,
    #[serde(with = "tidal_core::duration_text")]
    pub step: Duration,
    #[serde(with = "tidal_core::duration_text")]
    pub horizon: Duration,
    /// Backtest origins per series (one horizon apart).
    pub origins: usize,
    /// Use this model for every target instead of the backtest's choice (e.g. `crane-fft` to
    /// compare with Crane); its backtest still makes the bands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelKind>,
    pub targets: Vec<Target>,
    pub fetch: FetchOptions,
    pub prescale: Vec<PrescaleRule>,
    pub node_pools: Vec<NodePoolRule>,
    /// Time between `--apply` runs: each run holds the floor the plan needs until the next.
    #[serde(with = "tidal_core::duration_text")]
    pub apply_interval: Duration,
}

impl Default for PredictorConfig {
    fn default() -> Self {
        let history = HistoryConfig::default();
        let forecast = ForecastOptions::default();
        Self {
            history: Duration::from_secs(14 * 86_400),
            step: Duration::from_secs(forecast.step.unsigned_abs()),
            horizon: Duration::from_secs(forecast.horizon.unsigned_abs()),
            origins: forecast.origins,
            model: None,
            targets: history.targets,
            fetch: history.fetch,
            prescale: Vec::new(),
            node_pools: Vec::new(),
            apply_interval: Duration::from_secs(600),
        }
    }
}

impl PredictorConfig {
    /// What [`crate::forecast::forecast`] needs from this section.
    pub fn forecast_options(&self) -> ForecastOptions {
        ForecastOptions {
            step: secs(self.step),
            horizon: secs(self.horizon),
            origins: self.origins,
            model: self.model,
            ..ForecastOptions::default()
        }
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn default_quantile() -> Quantile {
    Quantile::P90
}

/// A workload's pre-scale plan, and optionally the HPA to apply it to.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrescaleRule {
    /// The forecast target's id, as `tidal predict` prints it.
    pub target: String,
    #[serde(default = "default_quantile")]
    pub quantile: Quantile,
    /// `namespace/name` of the HorizontalPodAutoscaler whose `minReplicas` `--apply` raises; a
    /// bare name is looked up in the target's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpa: Option<String>,
    pub plan: PlanConfig,
}

/// A node pool's node-count plan.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodePoolRule {
    pub target: String,
    #[serde(default = "default_quantile")]
    pub quantile: Quantile,
    pub plan: NodePlanConfig,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let doc: String = include_str!("config.rs")
            .lines()
            .skip_while(|l| !l.starts_with("//! predictor:"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| l.trim_start_matches("//!").replace("[...]", "[]"))
            .map(|l| l.get(2..).unwrap_or("").to_owned() + "\n")
            .collect();
        let config: PredictorConfig = serde_yaml::from_str(&doc).expect("example parses");
        assert_eq!(config.prescale[0].hpa.as_deref(), Some("shop/web"));
        assert_eq!(config.prescale[0].quantile, Quantile::P90);
        assert_eq!(config.node_pools[0].plan.min_nodes, 3);
        assert_eq!(config.history, Duration::from_secs(14 * 86_400));
    }
}
