//! The extender's own Prometheus metrics, served on `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `filter` or `prioritize`.
    pub verb: &'static str,
    /// `ok` or `bad_request`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerbLabels {
    pub verb: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    pub policy: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<VerbLabels, Histogram>,
    pub filtered_nodes: Counter,
    pub unknown_load_verdicts: Family<PolicyLabels, Counter>,
    pub overload_waivers: Counter,
    pub unknown_paths: Counter,
    pub refreshes: Counter,
    pub refresh_errors: Counter,
    pub invalid_samples: Counter,
    pub load_age_seconds: Gauge<f64, AtomicU64>,
    pub nodes_with_load: Gauge,
    pub unmapped_nodes: Gauge,
    pub unmapped_series: Gauge,
    pub recent_pods: Gauge,
    pub learned_nodes_dropped: Family<ReasonLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let latency = Family::<VerbLabels, Histogram>::new_with_constructor(|| {
            // 10 µs .. 0.16 s: answers are meant to take well under a millisecond.
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                1e-5, 2.0, 15,
            ))
        });
        let mut m = Self {
            requests: Family::default(),
            latency,
            filtered_nodes: Counter::default(),
            unknown_load_verdicts: Family::default(),
            overload_waivers: Counter::default(),
            unknown_paths: Counter::default(),
            refreshes: Counter::default(),
            refresh_errors: Counter::default(),
            invalid_samples: Counter::default(),
            load_age_seconds: Gauge::default(),
            nodes_with_load: Gauge::default(),
            unmapped_nodes: Gauge::default(),
            unmapped_series: Gauge::default(),
            recent_pods: Gauge::default(),
            learned_nodes_dropped: Family::default(),
            registry: Registry::with_prefix("tidal_extender"),
        };
        let registry = &mut m.registry;
        registry.register(
            "requests",
            "Extender calls by verb and outcome",
            m.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer a call",
            m.latency.clone(),
        );
        registry.register(
            "filtered_nodes",
            "Nodes refused by the filter",
            m.filtered_nodes.clone(),
        );
        registry.register(
            "unknown_load_verdicts",
            "Verdicts given without fresh load, by the missing-metrics policy applied",
            m.unknown_load_verdicts.clone(),
        );
        registry.register(
            "overload_waivers",
            "Filter calls where every node was over a load threshold and all were let through",
            m.overload_waivers.clone(),
        );
        registry.register(
            "unknown_path_requests",
            "Requests to paths the extender does not serve (a scheduler's urlPrefix that does not match)",
            m.unknown_paths.clone(),
        );
        registry.register(
            "load_refreshes",
            "Load refreshes that gave at least one node a usable load",
            m.refreshes.clone(),
        );
        registry.register(
            "load_refresh_errors",
            "Load refreshes that failed (Prometheus down, slow or rejecting a query, or no node \
             with a usable load in its answer)",
            m.refresh_errors.clone(),
        );
        registry.register(
            "load_invalid_samples",
            "Prometheus samples left out of the load: NaN, infinite, negative, implausible for \
             the node's size (over 4x), or stamped in the future",
            m.invalid_samples.clone(),
        );
        registry.register(
            "load_age_seconds",
            "Seconds since the last successful load refresh (+Inf before the first)",
            m.load_age_seconds.clone(),
        );
        registry.register(
            "nodes_with_load",
            "Nodes with a load from Prometheus",
            m.nodes_with_load.clone(),
        );
        registry.register(
            "unmapped_nodes",
            "Known nodes that no Prometheus series maps to",
            m.unmapped_nodes.clone(),
        );
        registry.register(
            "unmapped_series",
            "Prometheus node series that map to no known node",
            m.unmapped_series.clone(),
        );
        registry.register(
            "recent_pods",
            "Pods counted by their estimate because the load does not show them yet",
            m.recent_pods.clone(),
        );
        registry.register(
            "learned_nodes_dropped",
            "Nodes learned from requests (no node watch) that were forgotten because no request \
             sent them for a while (reason unseen), or not learned because too many are known \
             (reason over_cap)",
            m.learned_nodes_dropped.clone(),
        );
        m
    }
}

impl Metrics {
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
