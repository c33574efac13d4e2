//! `tidal`: one binary for every Tidal component.

mod config;
mod cost_report;
mod predict;
mod simulate;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

use tidal_core::prometheus::PrometheusClient;
use tidal_core::scoring::{MissingMetrics, Scorer};

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
        /// Serve GET /debug/nodes; sets extender.debug_endpoints.
        #[arg(long)]
        debug_endpoints: bool,
    },
    /// Relieve nodes that stay hot: evict the right pods through the Eviction API so they
    /// land on cold nodes, within PodDisruptionBudgets, availability floors and limits.
    ///
    /// Exit codes: 0 the run finished (whatever it evicted or skipped); 1 nothing was
    /// evicted because of an error (configuration, cluster unreachable); 2 the run
    /// stopped part way (the report says what was done).
    Deschedule {
        /// Ask the API server for its verdicts with `?dryRun=All`; evict nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also write the report as JSON to this file.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Keep running (for a Deployment) instead of one run (for a CronJob).
        #[arg(long = "loop")]
        run_loop: bool,
        /// Time between runs with --loop.
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
        interval: std::time::Duration,
        /// Kubeconfig (default: $KUBECONFIG or ~/.kube/config, then in-cluster).
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
    },
    /// Forecast demand (from Prometheus or CSV files) with calibrated bands, plan replicas
    /// and nodes ahead of predicted peaks, and with --apply hold HPA floors.
    ///
    /// Exit codes: 0 every target was forecast (and with --apply every floor applied); 2 some
    /// were not (the output and log say why), or the options contradict each other; 1 nothing
    /// could be done.
    Predict(predict::PredictArgs),
    /// FinOps cost report from Prometheus: cost per namespace, workload and node (OpenCost's
    /// max(request, usage) × price), idle cost, right-sizing and pre-scaling savings.
    CostReport(cost_report::CostReportArgs),
    /// Replay a cluster's week (a trace file or a built-in scenario) under each policy side
    /// by side: request-based scheduling, Tidal, the kubernetes-sigs descheduler, an oracle.
    Simulate(simulate::SimulateArgs),
    /// Print the effective configuration (defaults merged with the file) as YAML.
    Config,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // Once, plainly: a log line too would say it twice.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(url) = cli.prometheus_url {
        config.prometheus.url = url;
    }
    match cli.command {
        Command::Predict(args) => predict::run(args, &config.prometheus, config.predictor).await,
        Command::CostReport(args) => {
            cost_report::run(args, &config.prometheus, config.cost).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Simulate(args) => {
            let history = config.cost.history_prometheus(&config.prometheus);
            simulate::run(args, &history, &config.cost).await
        }
        Command::Config => {
            print!("{}", serde_yaml::to_string(&config)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Extender {
            listen,
            kubeconfig,
            no_kube,
            debug_endpoints,
        } => {
            if let Some(listen) = listen {
                config.extender.listen = listen;
            }
            config.extender.debug_endpoints |= debug_endpoints;
            let kube = if no_kube {
                None
            } else {
                match kube_config(kubeconfig).await.and_then(client) {
                    Ok(client) => Some(client),
                    Err(e) => {
                        tracing::warn!(
                            "no Kubernetes access ({e}); pass --kubeconfig, run in a cluster, \
                             or --no-kube to run without it on purpose"
                        );
                        None
                    }
                }
            };
            let listener = std::net::TcpListener::bind(config.extender.listen)
                .with_context(|| format!("cannot listen on {}", config.extender.listen))?;
            let delay = config.extender.shutdown_delay;
            let shutdown = async move {
                shutdown_signal().await;
                if !delay.is_zero() {
                    tracing::info!(
                        "still answering for {} while the scheduler stops calling",
                        tidal_core::duration_text::format(delay)
                    );
                    tokio::time::sleep(delay).await;
                }
            };
            let options = tidal_scheduler_extender::Options {
                prometheus: PrometheusClient::new(&config.prometheus)?,
                config: config.extender,
                load: config.load,
                kube,
            };
            tidal_scheduler_extender::serve(options, listener, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Deschedule {
            dry_run,
            report,
            run_loop,
            interval,
            kubeconfig,
        } => {
            config
                .descheduler
                .validate()
                .map_err(|e| anyhow::anyhow!("invalid descheduler configuration: {e}"))?;
            config
                .load
                .validate()
                .map_err(|e| anyhow::anyhow!("invalid load configuration: {e}"))?;
            let mut kube_config = kube_config(kubeconfig).await.map_err(|e| {
                anyhow::anyhow!("cannot reach the cluster: {e}; nothing was evicted")
            })?;
            // A 429 is a PodDisruptionBudget's "not now": read it, do not retry it.
            kube_config.default_retry = false;
            let server = kube_config.cluster_url.to_string();
            let kube =
                client(kube_config).map_err(|e| anyhow::anyhow!("{e}; nothing was evicted"))?;
            let prometheus = PrometheusClient::new(&config.prometheus)?;
            // The extender's scorer, failing closed: a destination of unknown load is no destination.
            let scorer = Scorer {
                thresholds: config.extender.thresholds,
                weights: config.extender.weights,
                max_age: config.load.max_age,
                on_missing: MissingMetrics::FailClosed,
            };
            scorer
                .validate()
                .map_err(|e| anyhow::anyhow!("invalid extender thresholds: {e}"))?;
            let inputs = tidal_descheduler::run::Inputs {
                kube: &kube,
                server: &server,
                prometheus: &prometheus,
                load: &config.load,
                config: &config.descheduler,
                scorer: &scorer,
            };
            if !run_loop {
                return deschedule_once(&inputs, dry_run, report.as_deref()).await;
            }
            let shutdown = shutdown_signal();
            tokio::pin!(shutdown);
            loop {
                if let Err(e) = deschedule_once(&inputs, dry_run, report.as_deref()).await {
                    tracing::error!("{e:#}");
                }
                tokio::select! {
                    () = &mut shutdown => return Ok(ExitCode::SUCCESS),
                    () = tokio::time::sleep(interval) => {}
                }
            }
        }
    }
}

async fn deschedule_once(
    inputs: &tidal_descheduler::run::Inputs<'_>,
    dry_run: bool,
    report_file: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let report = tidal_descheduler::run::run_once(inputs, dry_run).await?;
    print!("{}", tidal_descheduler::report::table(&report));
    if let Some(path) = report_file {
        let json = serde_json::to_string_pretty(&tidal_descheduler::report::json(&report))?;
        std::fs::write(path, json)
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
    }
    Ok(if report.stopped.is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Kubernetes access like kubectl's: `--kubeconfig`, else `$KUBECONFIG` or
/// `~/.kube/config`, else the in-cluster service account.
async fn kube_config(kubeconfig: Option<PathBuf>) -> Result<kube::Config, String> {
    match kubeconfig {
        Some(path) => {
            let options = kube::config::KubeConfigOptions::default();
            let file = kube::config::Kubeconfig::read_from(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| e.to_string())
        }
        None => kube::Config::infer().await.map_err(|e| e.to_string()),
    }
}

fn client(config: kube::Config) -> Result<kube::Client, String> {
    kube::Client::try_from(config).map_err(|e| e.to_string())
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
    // kube's client logs each failed request at ERROR itself; Tidal reports the failure once,
    // with the server and what to do, so that line is only a duplicate (RUST_LOG brings it back).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,kube_client::client::builder=off")
    });
    // Colour only for a person at a terminal, and never when NO_COLOR is set (no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
