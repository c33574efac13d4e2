//! Running a real extender (the same `serve` as `tidal extender`) on loopback.

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::Value;
use tidal_core::load::LoadConfig;
use tidal_core::prometheus::{PrometheusClient, PrometheusConfig};
use tidal_scheduler_extender::{ExtenderConfig, Options, serve};
use tokio::sync::oneshot;

pub struct RunningExtender {
    pub url: String,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Load that is stale after 2 s, so outages show within a test's patience.
pub fn load_config() -> LoadConfig {
    LoadConfig {
        max_age: Duration::from_secs(2),
        ..LoadConfig::default()
    }
}

/// Starts an extender against `prometheus_url` that refreshes every 200 ms.
pub async fn start(
    prometheus_url: String,
    kube: Option<kube::Client>,
    load: LoadConfig,
) -> anyhow::Result<RunningExtender> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    let prometheus = PrometheusClient::new(&PrometheusConfig {
        url: prometheus_url,
        timeout: Duration::from_secs(2),
        ..PrometheusConfig::default()
    })?;
    let options = Options {
        config: ExtenderConfig {
            refresh_interval: Duration::from_millis(200),
            debug_endpoints: true,
            ..ExtenderConfig::default()
        },
        load,
        prometheus,
        kube,
    };
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(serve(options, listener, async {
        let _ = stopped.await;
    }));
    Ok(RunningExtender {
        url,
        http: reqwest::Client::new(),
        stop: Some(stop),
        task: Some(task),
    })
}

impl RunningExtender {
    pub fn prefix(&self) -> String {
        format!("{}/scheduler", self.url)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        let response = self.http.get(format!("{}{path}", self.url)).send().await?;
        Ok((response.status().as_u16(), response.text().await?))
    }

    pub async fn debug(&self) -> anyhow::Result<Value> {
        Ok(serde_json::from_str(&self.get("/debug/nodes").await?.1)?)
    }

    /// Stops the server gracefully and returns how `serve` ended.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => tokio::time::timeout(Duration::from_secs(10), task).await??,
            None => Ok(()),
        }
    }
}

/// Polls `check` every 100 ms until it returns true, for at most `limit`.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let started = Instant::now();
    loop {
        if check().await.unwrap_or(false) {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
