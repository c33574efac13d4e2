//! Background load refresh: the only place the extender waits on Prometheus.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tidal_core::load::{LoadConfig, fetch};
use tidal_core::prometheus::PrometheusClient;

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
            tracing::debug!(nodes = snapshot.len(), "load fetched");
            ext.install_load(snapshot, SystemTime::now());
        }
        Err(e) => ext.record_refresh_error(e.to_string()),
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
