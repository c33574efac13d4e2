//! Tidal's load-aware kube-scheduler extender.
//!
//! kube-scheduler calls `POST {prefix}/filter` and `POST {prefix}/prioritize` once per
//! pod, on its serial scheduling cycle; every answer comes from memory, while load is
//! refreshed from Prometheus and bindings are watched in the background.

pub mod cluster;
pub mod config;
mod debug;
pub mod extender;
pub mod http;
pub mod metrics;
pub mod refresh;
mod resolve;
mod watch;
pub mod wire;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use axum_server::tls_rustls::RustlsConfig;
use tidal_core::load::LoadConfig;
use tidal_core::prometheus::PrometheusClient;
use tokio::task::JoinSet;

pub use crate::config::ExtenderConfig;
pub use crate::extender::Extender;

/// Everything a running extender needs.
pub struct Options {
    pub config: ExtenderConfig,
    pub load: LoadConfig,
    pub prometheus: PrometheusClient,
    /// `None` runs without cluster access: nodes are learned from full-`Nodes`
    /// requests and only the extender's own placements count as recent pods.
    pub kube: Option<kube::Client>,
}

/// Builds the extender and starts its background work (load refresh, watches).
/// The tasks stop when the returned `JoinSet` is dropped.
pub fn start(options: &Options) -> anyhow::Result<(Arc<Extender>, JoinSet<()>)> {
    options
        .load
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid load configuration: {e}"))?;
    let extender = Arc::new(
        Extender::new(&options.config, options.load.max_age)
            .map_err(|e| anyhow::anyhow!("invalid extender configuration: {e}"))?,
    );
    let mut tasks = JoinSet::new();
    tasks.spawn(refresh::run(
        extender.clone(),
        options.prometheus.clone(),
        options.load.clone(),
        options.config.refresh_interval,
    ));
    match &options.kube {
        Some(client) => {
            tasks.spawn(watch::nodes(extender.clone(), client.clone()));
            tasks.spawn(watch::pods(extender.clone(), client.clone()));
        }
        None => tracing::info!(
            "running without node and pod watches: nodes are learned from full-Nodes requests, \
             and only this extender's own placements count against herding"
        ),
    }
    Ok((extender, tasks))
}

/// Serves on `listener` until `shutdown` resolves, then drains in-flight calls. Fails
/// if a background task stops, so that Kubernetes restarts an extender whose load or
/// watches would otherwise silently go stale.
pub async fn serve(
    options: Options,
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (extender, mut tasks) = start(&options)?;
    let config = &options.config;
    let app = http::router(extender, &config.normalized_prefix(), config.max_body_bytes);
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    listener
        .set_nonblocking(true)
        .context("configuring the listener")?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(%addr, prefix = %config.normalized_prefix(), "extender listening ({scheme})");
    let server: Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> = match &config.tls {
        None => {
            let listener = tokio::net::TcpListener::from_std(listener)
                .context("using the listener")?
                // Answers go out at once instead of waiting on Nagle and a delayed ACK.
                .tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
            Box::pin(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await?;
                Ok(())
            })
        }
        Some(tls) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let rustls = RustlsConfig::from_pem_file(&tls.cert_file, &tls.key_file)
                .await
                .with_context(|| {
                    format!(
                        "loading the TLS certificate {} and key {}",
                        tls.cert_file.display(),
                        tls.key_file.display()
                    )
                })?;
            let handle = axum_server::Handle::new();
            let on_shutdown = handle.clone();
            tokio::spawn(async move {
                shutdown.await;
                on_shutdown.graceful_shutdown(Some(Duration::from_secs(10)));
            });
            let server = axum_server::from_tcp_rustls(listener, rustls)?.handle(handle);
            Box::pin(async move {
                server.serve(app.into_make_service()).await?;
                Ok(())
            })
        }
    };
    tokio::select! {
        result = server => result?,
        Some(ended) = tasks.join_next() => {
            let how = if ended.as_ref().is_err_and(|e| e.is_panic()) { "panicked" } else { "ended" };
            anyhow::bail!(
                "a background task (load refresh or watch) {how}: exiting so that the extender \
                 is restarted instead of answering from stale state"
            );
        }
    }
    tracing::info!("extender stopped");
    Ok(())
}
