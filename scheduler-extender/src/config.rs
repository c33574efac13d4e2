//! The `extender:` config section.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tidal_core::estimate::EstimationConfig;
use tidal_core::scoring::{MissingMetrics, Thresholds, Weights};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExtenderConfig {
    pub listen: SocketAddr,
    /// Prefix of the verbs: `{path_prefix}/filter`, `{path_prefix}/prioritize`.
    pub path_prefix: String,
    /// How often load is re-read from Prometheus.
    #[serde(with = "tidal_core::duration_text")]
    pub refresh_interval: Duration,
    /// After SIGTERM, keep answering this long before draining: the pod leaves the
    /// Service's endpoints meanwhile, so the scheduler's calls are never refused (what a
    /// `preStop` sleep does, on any Kubernetes version and without a shell in the image).
    #[serde(with = "tidal_core::duration_text")]
    pub shutdown_delay: Duration,
    pub on_missing_metrics: MissingMetrics,
    pub thresholds: Thresholds,
    /// When load thresholds would refuse every node the scheduler sent, pass them all
    /// and let the score pick the coolest: no node can take the pod otherwise, and
    /// cluster-autoscaler (which does not call extenders) would add none, so the pod
    /// would stay Pending for as long as the cluster is warm.
    pub waive_when_all_overloaded: bool,
    pub weights: Weights,
    pub estimation: EstimationConfig,
    /// Largest request body accepted. Full-`Nodes` requests run to a few KiB a node.
    #[serde(with = "tidal_core::bytes_text::usize")]
    pub max_body_bytes: usize,
    /// Serve `GET /debug/nodes` (per-node load, estimates, the last call's verdicts). Off by
    /// default: it shows pod uids and node addresses to anyone who can reach the port.
    pub debug_endpoints: bool,
    /// Serve HTTPS when set.
    pub tls: Option<TlsConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl Default for ExtenderConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8888)),
            path_prefix: "/scheduler".to_string(),
            refresh_interval: Duration::from_secs(15),
            shutdown_delay: Duration::from_secs(5),
            on_missing_metrics: MissingMetrics::FailOpen,
            thresholds: Thresholds::default(),
            waive_when_all_overloaded: true,
            weights: Weights::default(),
            estimation: EstimationConfig::default(),
            max_body_bytes: 64 * 1024 * 1024,
            debug_endpoints: false,
            tls: None,
        }
    }
}

impl ExtenderConfig {
    /// The prefix in the form routes need: leading slash, no trailing slash.
    pub fn normalized_prefix(&self) -> String {
        let trimmed = self.path_prefix.trim_matches('/');
        if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        }
    }
}
