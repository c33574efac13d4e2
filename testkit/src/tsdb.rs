//! Every real Prometheus-compatible store a test can run against: the same data, the same
//! queries, so a test written once checks Tidal on Prometheus and on VictoriaMetrics.

use anyhow::Result;

use crate::prometheus::Prometheus;
use crate::victoria::VictoriaMetrics;

pub enum Tsdb {
    Prometheus(Prometheus),
    VictoriaMetrics(VictoriaMetrics),
}

impl Tsdb {
    /// Base URL of the Prometheus query API.
    pub fn url(&self) -> String {
        match self {
            Self::Prometheus(p) => p.url(),
            Self::VictoriaMetrics(v) => v.url(),
        }
    }

    /// `prometheus` or `victoria-metrics`, for assertion messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Prometheus(_) => "prometheus",
            Self::VictoriaMetrics(_) => "victoria-metrics",
        }
    }
}

/// Each installed store holding `openmetrics`; the ones missing are skipped (or fail the test
/// under `TIDAL_REQUIRE_PROMETHEUS=1`), as in [`Prometheus::start`].
pub async fn start_all(openmetrics: &str) -> Result<Vec<Tsdb>> {
    let mut stores = Vec::new();
    if let Some(p) = Prometheus::start(openmetrics).await? {
        stores.push(Tsdb::Prometheus(p));
    }
    if let Some(v) = VictoriaMetrics::start(openmetrics).await? {
        stores.push(Tsdb::VictoriaMetrics(v));
    }
    Ok(stores)
}
