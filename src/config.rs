//! The one YAML config file, with a section per component.

use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tidal_core::load::LoadConfig;
use tidal_core::prometheus::PrometheusConfig;
use tidal_descheduler::config::DeschedulerConfig;
use tidal_scheduler_extender::ExtenderConfig;

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub prometheus: PrometheusConfig,
    pub load: LoadConfig,
    pub extender: ExtenderConfig,
    pub descheduler: DeschedulerConfig,
    pub predictor: tidal_predictor::config::PredictorConfig,
    pub cost: tidal_cost::CostConfig,
}

impl Config {
    /// Reads the file, or the defaults when no file is given.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        // An empty file is an empty mapping: all defaults.
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        Ok(serde_yaml::from_str(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_file_keeps_other_defaults() {
        let config = Config::parse(
            "prometheus:\n  url: http://prom:9090\nextender:\n  thresholds:\n    cpu: { average: 0.5, peak: 0.7 }\n",
        )
        .expect("valid config");
        assert_eq!(config.prometheus.url, "http://prom:9090");
        assert_eq!(config.extender.thresholds.cpu.average, 0.5);
        assert_eq!(
            config.extender.thresholds.memory,
            Config::default().extender.thresholds.memory
        );
        assert_eq!(config.load, LoadConfig::default());
    }

    #[test]
    fn typos_are_errors_not_silent_defaults() {
        let err = Config::parse("extender:\n  treshholds: {}\n").expect_err("unknown key");
        assert!(format!("{err:#}").contains("treshholds"), "{err:#}");
    }

    /// Mutated configs (the defaults as `tidal config` prints them) are refused or accepted,
    /// never a panic, and what is accepted prints back.
    #[test]
    fn mutated_config_files_never_panic() {
        let seed = serde_yaml::to_string(&Config::default()).expect("defaults print");
        let mut mutator = tidal_testkit::fuzz::Mutator::new(11);
        for _ in 0..2_000 {
            let text = String::from_utf8_lossy(&mutator.text(&seed)).into_owned();
            let outcome = std::panic::catch_unwind(|| {
                Config::parse(&text).map(|c| serde_yaml::to_string(&c).map(|_| c.cost.validate()))
            });
            assert!(outcome.is_ok(), "panicked on:\n{text}");
        }
    }

    #[test]
    fn the_shipped_config_parses() {
        let text = include_str!("../deploy/base/extender/config.yaml");
        Config::parse(text).expect("deploy/base/extender/config.yaml is valid");
    }
}
