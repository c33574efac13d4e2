//! Background load refresh: the only place the extender waits on Prometheus.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tidal_core::load::{LoadConfig, fetch};
use tidal_core::prometheus::PrometheusClient;
use tidal_core::scoring::MissingMetrics;

use crate::extender::Extender;

/// Refreshes load every `interval` until the task is dropped.
pub async fn run(
    ext: Arc<Extender>,
    client: PrometheusClient,
    config: LoadConfig,
    interval: Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        refresh_once(&ext, &client, &config).await;
    }
}

pub async fn refresh_once(ext: &Extender, client: &PrometheusClient, config: &LoadConfig) {
    match fetch(client, config).await {
        Ok(snapshot) => {
            tracing::debug!(nodes = snapshot.len(), "load refreshed");
            ext.install_load(snapshot, SystemTime::now());
        }
        Err(e) => {
            let policy = match ext.scorer.on_missing {
                MissingMetrics::FailOpen => "nodes pass with a neutral score (fail-open)",
                MissingMetrics::FailClosed => "nodes are filtered out (fail-closed)",
            };
            tracing::warn!(error = %e, "load refresh failed; the last load is used until it is older than load.max_age, then {policy}");
            ext.record_refresh_error(e.to_string());
        }
    }
    forget(ext);
}

/// Pods or nodes forgotten per write lock: a call waits at most for one batch.
const BATCH: usize = 512;

/// Forgets pods bound before the oldest load we could still judge by (they are in every
/// average), assumptions too old to count and learned nodes no request sends any more,
/// a batch at a time. Each loop ends: a full batch forgets something, and only
/// finitely many are held.
fn forget(ext: &Extender) {
    ext.cluster.write().next_refresh();
    loop {
        let forgotten = ext.cluster.write().forget_unseen_nodes(BATCH);
        ext.count_dropped_nodes("unseen", forgotten);
        if forgotten < BATCH {
            break;
        }
    }
    let (now, keep) = (SystemTime::now(), ext.recent_pod_lifetime());
    while ext.cluster.write().prune_some(now, keep, BATCH) == BATCH {}
}
