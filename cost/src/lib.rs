//! FinOps cost reports compatible with OpenCost's allocation model.
//!
//! The pipeline is [`fetch`] (Prometheus aggregates → [`Summary`]) then pure steps over the
//! summary: [`allocate`] (cost = max(request, usage) × price per resource-hour, per container,
//! workload, namespace and node, with idle = node cost − allocated), [`rightsize`] (requests
//! from usage percentiles) and [`prescale`] (static-peak versus planned capacity), then
//! [`render`]. Money stays in `f64` until rendering rounds it. [`fetch::per_step`] pulls every
//! container's series at every step (the [`Dataset`]) instead; [`Summary::from_dataset`] reduces
//! it as the database does: the reference the tests hold the store's answers to, and how
//! `cost.aggregate_in: tidal` reduces each day.

pub mod allocate;
pub mod fetch;
pub mod prescale;
pub mod prices;
pub mod render;
pub mod rightsize;
pub mod summary;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tidal_core::prometheus::PrometheusConfig;

pub use prices::{NodePrice, PriceConfig};
pub use rightsize::RightsizeConfig;
pub use summary::Summary;

/// The `cost:` config section.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CostConfig {
    /// How far back the report looks (`--window`).
    #[serde(with = "tidal_core::duration_text")]
    pub window: Duration,
    /// Time between points of the range queries: pods are costed per step they ran in.
    #[serde(with = "tidal_core::duration_text")]
    pub resolution: Duration,
    /// Rows in each Markdown/HTML table; CSV and JSON have every row.
    pub top: usize,
    /// Queries in flight at once.
    pub concurrency: usize,
    /// How long one query may take, instead of `prometheus.timeout` (which suits the
    /// extender's quick queries, not a day of every container's subqueries); Prometheus' own
    /// `--query.timeout` is 2 minutes by default.
    #[serde(with = "tidal_core::duration_text")]
    pub query_timeout: Duration,
    pub aggregate_in: AggregateIn,
    pub prices: PriceConfig,
    pub rightsizing: RightsizeConfig,
}

impl Default for CostConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(7 * 24 * 3600),
            resolution: Duration::from_secs(300),
            top: 15,
            concurrency: 2,
            query_timeout: Duration::from_secs(120),
            aggregate_in: AggregateIn::default(),
            prices: PriceConfig::default(),
            rightsizing: RightsizeConfig::default(),
        }
    }
}

/// Where the per-step arithmetic of a report is done (`cost.aggregate_in`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AggregateIn {
    /// By the store, in subqueries ([`fetch::fetch`]'s default): what crosses the wire and what
    /// Tidal holds grow with the containers, not with containers × steps. For VictoriaMetrics,
    /// Thanos and Mimir, which spread a query over cores and shards.
    #[default]
    Store,
    /// By Tidal, a day at a time from per-step series: a single Prometheus, which evaluates
    /// each query on one core, answers several times sooner, and Tidal holds one day of every
    /// container's series.
    Tidal,
}

impl CostConfig {
    /// `prometheus` with this section's `query_timeout`: the settings for reading history (the
    /// report, `tidal simulate --from-prometheus`).
    pub fn history_prometheus(&self, prometheus: &PrometheusConfig) -> PrometheusConfig {
        PrometheusConfig {
            timeout: self.query_timeout,
            ..prometheus.clone()
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.resolution.as_secs() < 1 {
            return Err("cost.resolution must be at least 1s".to_string());
        }
        if self.window < self.resolution {
            return Err(format!(
                "cost.window ({}) must be at least cost.resolution ({})",
                tidal_core::duration_text::format(self.window),
                tidal_core::duration_text::format(self.resolution)
            ));
        }
        if self.concurrency == 0 {
            return Err("cost.concurrency must be at least 1".to_string());
        }
        if self.query_timeout.is_zero() {
            return Err("cost.query_timeout must be more than 0s".to_string());
        }
        self.prices.validate()?;
        self.rightsizing.validate()
    }
}

/// Evenly spaced steps; point `i` describes the step that ends at `start + (i + 1) × step`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeline {
    /// Unix seconds of the window's start.
    pub start: f64,
    pub step_secs: f64,
    pub steps: usize,
}

impl Timeline {
    /// Unix seconds at which point `i` is evaluated (the end of its step).
    pub fn time(&self, i: usize) -> f64 {
        self.start + (i as f64 + 1.0) * self.step_secs
    }

    pub fn end(&self) -> f64 {
        self.time(self.steps.saturating_sub(1))
    }

    pub fn step_hours(&self) -> f64 {
        self.step_secs / 3600.0
    }

    pub fn hours(&self) -> f64 {
        self.steps as f64 * self.step_hours()
    }

    /// The point evaluated at `t`, if `t` is one of the timeline's instants.
    pub fn index(&self, t: f64) -> Option<usize> {
        let i = ((t - self.start) / self.step_secs).round() - 1.0;
        (i >= 0.0 && (i as usize) < self.steps).then_some(i as usize)
    }
}

/// Values per step of a [`Timeline`]; `NaN` where the series had no sample.
pub type Track = Vec<f64>;

pub(crate) fn value(track: &[f64], i: usize) -> Option<f64> {
    track.get(i).copied().filter(|v| !v.is_nan())
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContainerKey {
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

impl ContainerKey {
    /// The container a series' `namespace`, `pod` and `container` labels name (empty when
    /// missing).
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Self {
        let label = |name: &str| labels.get(name).cloned().unwrap_or_default();
        Self {
            namespace: label("namespace"),
            pod: label("pod"),
            container: label("container"),
        }
    }
}

/// One container's series over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerData {
    pub key: ContainerKey,
    /// From the requests series, else cAdvisor's `node` label.
    pub node: Option<String>,
    /// `kube_pod_container_status_running`; empty when kube-state-metrics had none.
    pub running: Track,
    pub cpu_request: Track,
    pub memory_request: Track,
    /// Cores, averaged over the step (from the counter's increase since the previous step).
    pub cpu_usage: Track,
    /// Working set bytes, averaged over the step.
    pub memory_usage: Track,
    /// Working set bytes, the step's maximum.
    pub memory_peak: Track,
    /// Memory limit in bytes, if any.
    pub memory_limit: Option<f64>,
}

impl ContainerData {
    pub fn new(key: ContainerKey, steps: usize) -> Self {
        let empty = || vec![f64::NAN; steps];
        Self {
            key,
            node: None,
            running: Vec::new(),
            cpu_request: empty(),
            memory_request: empty(),
            cpu_usage: empty(),
            memory_usage: empty(),
            memory_peak: empty(),
            memory_limit: None,
        }
    }

    /// Whether the container ran during step `i`: kube-state-metrics says so, or, without
    /// its series, the container had requests or usage then.
    pub fn runs_at(&self, i: usize) -> bool {
        if self.running.is_empty() {
            [
                &self.cpu_request,
                &self.memory_request,
                &self.cpu_usage,
                &self.memory_usage,
            ]
            .iter()
            .any(|t| value(t, i).is_some())
        } else {
            value(&self.running, i).is_some_and(|v| v >= 0.5)
        }
    }
}

/// One node's capacity over the window and its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeData {
    pub name: String,
    pub cpu_cores: Track,
    pub memory_bytes: Track,
    /// `kube_node_labels` labels (`label_...`); `None` when the node had no such series.
    pub labels: Option<BTreeMap<String, String>>,
}

/// Controller owners from kube-state-metrics: `(namespace, name)` → `(kind, name)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Owners {
    pub pods: BTreeMap<(String, String), (String, String)>,
    pub replica_sets: BTreeMap<(String, String), (String, String)>,
    pub jobs: BTreeMap<(String, String), (String, String)>,
}

/// Every container's and node's series over the window, step by step.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub timeline: Timeline,
    pub containers: Vec<ContainerData>,
    pub nodes: Vec<NodeData>,
    pub owners: Owners,
    /// Problems found while fetching (missing series, short data).
    pub warnings: Vec<String>,
    /// HTTP queries sent to Prometheus.
    pub queries: usize,
}

/// A full report: what each output format renders.
#[derive(Debug, Clone)]
pub struct Report {
    pub timeline: Timeline,
    pub currency: String,
    pub queries: usize,
    pub allocation: allocate::Allocation,
    pub rightsizing: Vec<rightsize::Recommendation>,
    pub prescale: Vec<prescale::Saving>,
    pub warnings: Vec<String>,
}

/// The pure part of a report, from fetched data.
pub fn build_report(data: &Summary, config: &CostConfig) -> Report {
    let allocation = allocate::allocate(data, &config.prices);
    let rightsizing = rightsize::recommend(data, &allocation, &config.rightsizing, &config.prices);
    let prescale = prescale::from_allocation(&allocation, data.timeline, config.top);
    let mut warnings = data.warnings.clone();
    warnings.extend(allocation.warnings.iter().cloned());
    Report {
        timeline: data.timeline,
        currency: config.prices.currency.clone(),
        queries: data.queries,
        allocation,
        rightsizing,
        prescale,
        warnings,
    }
}

/// Unix seconds as a `SystemTime` for the Prometheus client.
pub(crate) fn prometheus_time(unix: f64) -> std::time::SystemTime {
    tidal_core::prometheus::sample_time(unix)
}
