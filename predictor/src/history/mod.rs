//! Forecast history from Prometheus: per-workload, per-node-pool and cluster usage, or
//! any PromQL, as raw `(Unix seconds, value)` series for [`crate::clean`].
//!
//! Long ranges are fetched in chunks below Prometheus's 11,000-points limit, one chunk
//! at a time per target (so memory holds the series plus one chunk's answer), a few
//! targets at once. Transient failures are retried with exponential back-off; a
//! rejected query is not, since it would fail the same way again.

mod capacity;
mod chunk;
mod target;

use std::collections::{BTreeMap, HashSet};
use std::io::IsTerminal as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{StreamExt as _, TryStreamExt as _, stream};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use tidal_core::prometheus::{PrometheusClient, PrometheusError};

use crate::csv::RawSeries;
use chunk::Grid;

pub use capacity::{NodeAllocatable, PoolCapacity, fetch_pool_capacity};
pub use chunk::PROMETHEUS_MAX_POINTS;
pub use target::{
    ClusterTarget, NodePoolTarget, QueryTarget, Resource, Target, Unit, WorkloadResource,
    WorkloadTarget,
};

/// The `history:` config section: what to fetch and how.
///
/// ```yaml
/// targets:
///   - kind: workload          # one series per (namespace, kind, workload)
///     resource: cpu           # cpu | memory | replicas
///     namespace: shop|checkout
///     workload: web.*         # optional regex on the Deployment/StatefulSet/DaemonSet name
///   - kind: node-pool
///     label: karpenter.sh/nodepool
///     resource: memory
///   - kind: cluster
///     resource: cpu
///   - kind: query
///     name: ingress-rps
///     query: sum by (ingress) (rate(nginx_ingress_controller_requests[5m]))
/// fetch:
///   max_points_per_query: 11000
///   attempts: 3
///   initial_backoff: 1s
///   concurrency: 4
///   rate_window: 5m           # default: the step, at least 5m
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    pub targets: Vec<Target>,
    pub fetch: FetchOptions,
}

impl Default for HistoryConfig {
    /// CPU and memory of every workload and of the whole cluster.
    fn default() -> Self {
        let workload = |resource| {
            Target::Workload(WorkloadTarget {
                name: None,
                resource,
                namespace: None,
                workload: None,
            })
        };
        let cluster = |resource| {
            Target::Cluster(ClusterTarget {
                name: None,
                resource,
            })
        };
        Self {
            targets: vec![
                workload(WorkloadResource::Cpu),
                workload(WorkloadResource::Memory),
                cluster(Resource::Cpu),
                cluster(Resource::Memory),
            ],
            fetch: FetchOptions::default(),
        }
    }
}

/// How to fetch: chunk size, retries, concurrency.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FetchOptions {
    /// Most evaluation times per range query; Prometheus refuses more than 11,000.
    pub max_points_per_query: usize,
    /// Tries per query, the first included; only transient failures are retried.
    pub attempts: u32,
    /// Wait before the first retry; doubled before each further one.
    #[serde(with = "tidal_core::duration_text")]
    pub initial_backoff: Duration,
    /// Targets fetched at once; each has one query in flight.
    pub concurrency: usize,
    /// Window of CPU `rate()`; absent: the step, at least 5 minutes, so each sample
    /// averages the usage since the previous one and short scrape gaps do not matter.
    #[serde(
        with = "tidal_core::duration_text::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub rate_window: Option<Duration>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            max_points_per_query: PROMETHEUS_MAX_POINTS,
            attempts: 3,
            initial_backoff: Duration::from_secs(1),
            concurrency: 4,
            rate_window: None,
        }
    }
}

/// One history series.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetHistory {
    /// Stable path, e.g. `workload/shop/Deployment/web/cpu`, `node-pool/<label>=<pool>/memory`,
    /// `cluster/cpu`, `query/{job="api"}` (the first part is the target's name if set).
    pub id: String,
    /// What identifies the series within its target: namespace, kind and workload; the
    /// pool label and its value; nothing for the cluster; a query's result labels.
    pub labels: BTreeMap<String, String>,
    /// `None` for a query target without a configured unit.
    pub unit: Option<Unit>,
    /// Samples in time order on the query grid; steps without a value are absent.
    pub samples: RawSeries,
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("invalid history request: {0}")]
    Invalid(String),
    /// Not a `source`: the message already says it, and a chain would say it twice.
    #[error("fetching history of {target} failed after {attempts} attempt(s): {error}")]
    Prometheus {
        target: String,
        attempts: u32,
        error: PrometheusError,
    },
    #[error(
        "{target}: no node has label {label:?} in kube_node_labels (as {sanitized}); kube-state-metrics \
         exports only allowlisted node labels: add it to --metric-labels-allowlist (kube-prometheus-stack: \
         kube-state-metrics.metricLabelsAllowlist: [\"nodes=[{label}]\"]) or choose an exported label"
    )]
    NoPoolLabel {
        target: String,
        label: String,
        sanitized: String,
    },
    #[error(
        "two history series have the id {0:?}; give the targets that produce it distinct names"
    )]
    DuplicateId(String),
}

/// Fetches every target's history over `[start, end]` at `step` (whole seconds, at
/// least 1 s); series come back in target order, each target's sorted by id.
pub async fn fetch_history(
    client: &PrometheusClient,
    targets: &[Target],
    start: SystemTime,
    end: SystemTime,
    step: Duration,
    options: &FetchOptions,
) -> Result<Vec<TargetHistory>, HistoryError> {
    let grid = grid(start, end, step)?;
    if options.attempts == 0 || options.concurrency == 0 || options.max_points_per_query == 0 {
        return Err(HistoryError::Invalid(
            "attempts, concurrency and max_points_per_query must be at least 1".to_string(),
        ));
    }
    let chunks = grid.chunks(options.max_points_per_query);
    let run = Run {
        client,
        options,
        step,
        rate_window: options
            .rate_window
            .unwrap_or(step.max(Duration::from_secs(300))),
        progress: progress_bar(chunks.len() * targets.len()),
        chunks,
    };
    let per_target: Vec<Vec<TargetHistory>> = stream::iter(targets)
        .map(|target| run.fetch_target(target))
        .buffered(options.concurrency)
        .try_collect()
        .await?;
    run.progress.finish_and_clear();
    let histories: Vec<TargetHistory> = per_target.into_iter().flatten().collect();
    let mut ids = HashSet::new();
    if let Some(twice) = histories.iter().find(|h| !ids.insert(&h.id)) {
        return Err(HistoryError::DuplicateId(twice.id.clone()));
    }
    Ok(histories)
}

/// The query grid in whole Unix seconds.
fn grid(start: SystemTime, end: SystemTime, step: Duration) -> Result<Grid, HistoryError> {
    if step.as_secs() == 0 || step.subsec_nanos() != 0 {
        return Err(HistoryError::Invalid(format!(
            "step must be a whole number of seconds, at least 1s; got {step:?}"
        )));
    }
    let secs = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok())
    };
    match (secs(start), secs(end)) {
        (Some(start), Some(end)) if start <= end => Ok(Grid {
            start,
            end,
            step: i64::try_from(step.as_secs()).unwrap_or(i64::MAX),
        }),
        _ => Err(HistoryError::Invalid(
            "the range must start no later than it ends, both after 1970".to_string(),
        )),
    }
}

/// A progress bar on stderr when the fetch is long enough to watch and someone
/// watches; hidden otherwise (tests, CronJob logs), where a log line per target says
/// the same.
fn progress_bar(chunks: usize) -> ProgressBar {
    const WORTH_A_BAR: usize = 20;
    if chunks < WORTH_A_BAR || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("history {bar:40} {pos}/{len} queries ({eta} left)")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::with_draw_target(Some(chunks as u64), ProgressDrawTarget::stderr())
        .with_style(style)
}

/// What every target's fetch shares.
struct Run<'a> {
    client: &'a PrometheusClient,
    options: &'a FetchOptions,
    step: Duration,
    rate_window: Duration,
    chunks: Vec<(i64, i64)>,
    progress: ProgressBar,
}

impl Run<'_> {
    /// All chunks of one target, one after the other, joined per series.
    async fn fetch_target(&self, target: &Target) -> Result<Vec<TargetHistory>, HistoryError> {
        let promql = target.promql(self.rate_window);
        let mut series: BTreeMap<BTreeMap<String, String>, RawSeries> = BTreeMap::new();
        for &(from, to) in &self.chunks {
            let answer = retrying(self.options, target, || {
                self.client
                    .query_range(&promql, at(from), at(to), self.step)
            })
            .await?;
            for one in answer {
                chunk::append(series.entry(one.labels).or_default(), &one.points);
            }
            self.progress.inc(1);
        }
        if series.is_empty() {
            if let Target::NodePool(pool) = target {
                return Err(no_pool_label(target, &pool.label));
            }
            tracing::warn!(target = %target.describe(), query = %promql, "no history: the query returned no series");
        }
        let histories: Vec<TargetHistory> = series
            .into_iter()
            .map(|(labels, samples)| {
                let name = target.name_series(labels);
                TargetHistory {
                    id: name.id,
                    labels: name.labels,
                    unit: target.unit(),
                    samples,
                }
            })
            .collect();
        let samples: usize = histories.iter().map(|h| h.samples.len()).sum();
        if self.progress.is_hidden() {
            tracing::info!(target = %target.describe(), series = histories.len(), samples, "fetched history");
        }
        Ok(histories)
    }
}

fn no_pool_label(target: &Target, label: &str) -> HistoryError {
    HistoryError::NoPoolLabel {
        target: target.describe(),
        label: label.to_string(),
        sanitized: target::sanitized_label(label),
    }
}

/// Runs `call` until it succeeds, fails for good, or has been tried
/// `options.attempts` times; waits `initial_backoff`, then twice that, … between tries.
/// The error names `target` and the number of attempts made.
async fn retrying<T, F>(
    options: &FetchOptions,
    target: &Target,
    mut call: impl FnMut() -> F,
) -> Result<T, HistoryError>
where
    F: Future<Output = Result<T, PrometheusError>>,
{
    let mut attempt = 1;
    let mut backoff = options.initial_backoff;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(err) if err.is_transient() && attempt < options.attempts => {
                // The final error says how many attempts failed; each retry is detail.
                tracing::debug!(error = %err, attempt, retry_in = ?backoff, "Prometheus query failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
                attempt += 1;
            }
            Err(error) => {
                return Err(HistoryError::Prometheus {
                    target: target.describe(),
                    attempts: attempt,
                    error,
                });
            }
        }
    }
}

fn at(unix_secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix_secs.max(0).unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_durations() {
        let config: HistoryConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, HistoryConfig::default());
        assert_eq!(config.targets.len(), 4);
        let fetch: FetchOptions =
            serde_json::from_str(r#"{"initial_backoff": "250ms", "rate_window": "10m"}"#).unwrap();
        assert_eq!(fetch.initial_backoff, Duration::from_millis(250));
        assert_eq!(fetch.rate_window, Some(Duration::from_secs(600)));
        assert_eq!(fetch.max_points_per_query, PROMETHEUS_MAX_POINTS);
        assert!(serde_json::from_str::<FetchOptions>(r#"{"retries": 3}"#).is_err());
    }

    #[test]
    fn the_grid_is_whole_seconds_in_order() {
        let t = |s| UNIX_EPOCH + Duration::from_secs(s);
        let minute = Duration::from_secs(60);
        assert_eq!(
            grid(t(100), t(200), minute).ok(),
            Some(Grid {
                start: 100,
                end: 200,
                step: 60
            })
        );
        assert!(grid(t(200), t(100), minute).is_err());
        assert!(grid(t(100), t(200), Duration::ZERO).is_err());
        assert!(grid(t(100), t(200), Duration::from_millis(1500)).is_err());
    }
}
