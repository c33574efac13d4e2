//! `tidal`: one binary for every Tidal component.

mod config;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use tidal_core::prometheus::PrometheusClient;

use crate::config::Config;

#[derive(Parser)]
#[command(
    name = "tidal",
    version,
    about = "Load-aware scheduling, descheduling and demand prediction for Kubernetes"
)]
struct Cli {
    /// YAML config file; every setting has a default that works with kube-prometheus-stack.
    #[arg(long, global = true, env = "TIDAL_CONFIG")]
    config: Option<PathBuf>,
    /// Prometheus base URL; overrides prometheus.url from the config file.
    #[arg(long, global = true, env = "TIDAL_PROMETHEUS_URL")]
    prometheus_url: Option<String>,
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the kube-scheduler extender (filter, prioritize) on real node load.
    Extender {
        /// Address to listen on; overrides extender.listen.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Kubeconfig for the node and pod watches (default: $KUBECONFIG or ~/.kube/config, then in-cluster).
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// Run without Kubernetes access, even if a kubeconfig is found.
        #[arg(long)]
        no_kube: bool,
    },
    /// Print the effective configuration (defaults merged with the file) as YAML.
    Config,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(url) = cli.prometheus_url {
        config.prometheus.url = url;
    }
    match cli.command {
        Command::Config => {
            print!("{}", serde_yaml::to_string(&config)?);
            Ok(())
        }
        Command::Extender {
            listen,
            kubeconfig,
            no_kube,
        } => {
            if let Some(listen) = listen {
                config.extender.listen = listen;
            }
            let kube = if no_kube {
                None
            } else {
                kube_client(kubeconfig).await
            };
            let listener = std::net::TcpListener::bind(config.extender.listen)
                .with_context(|| format!("cannot listen on {}", config.extender.listen))?;
            let options = tidal_scheduler_extender::Options {
                prometheus: PrometheusClient::new(&config.prometheus)?,
                config: config.extender,
                load: config.load,
                kube,
            };
            tidal_scheduler_extender::serve(options, listener, shutdown_signal()).await
        }
    }
}

/// A Kubernetes client, or `None` (with a warning) when there is no cluster access.
async fn kube_client(kubeconfig: Option<PathBuf>) -> Option<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let options = kube::config::KubeConfigOptions::default();
            match kube::config::Kubeconfig::read_from(&path) {
                Ok(file) => kube::Config::from_custom_kubeconfig(file, &options)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(format!("{}: {e}", path.display())),
            }
        }
        None => kube::Config::infer().await.map_err(|e| e.to_string()),
    };
    match config.and_then(|c| kube::Client::try_from(c).map_err(|e| e.to_string())) {
        Ok(client) => Some(client),
        Err(e) => {
            tracing::warn!(error = %e, "no Kubernetes access; running without watches (pass --kubeconfig or run in a cluster)");
            None
        }
    }
}

/// Resolves on SIGTERM (what Kubernetes sends) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down: finishing in-flight calls");
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
