//! `tidal simulate`: replay a week under each policy and print them side by side.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use tidal_simulator::engine::{Options, simulate};
use tidal_simulator::policy::Policy;
use tidal_simulator::{report, scenario, trace};

#[derive(Args)]
#[command(group = clap::ArgGroup::new("input").required(true).args(["trace", "scenario", "from_prometheus", "list_scenarios"]))]
pub struct SimulateArgs {
    /// Trace file (YAML): nodes, workloads, per-replica usage over time.
    trace: Option<PathBuf>,
    /// Replay a built-in generated scenario instead of a trace file (see --list-scenarios).
    #[arg(long)]
    scenario: Option<String>,
    /// Replay your own cluster's last --window from Prometheus (kube-state-metrics and
    /// cAdvisor), starting from where its pods really ran.
    #[arg(long)]
    from_prometheus: bool,
    /// With --from-prometheus: how much history to replay [default: 7d].
    #[arg(long, value_parser = humantime::parse_duration)]
    window: Option<std::time::Duration>,
    /// With --from-prometheus: the simulation step, history averaged into it [default: 5m].
    #[arg(long, value_parser = humantime::parse_duration)]
    step: Option<std::time::Duration>,
    /// List the built-in scenarios and exit.
    #[arg(long)]
    list_scenarios: bool,
    /// Seed for jitter and tie-breaks; overrides the trace's.
    #[arg(long)]
    seed: Option<u64>,
    /// Policies to compare, comma-separated (default: all that apply to the trace).
    #[arg(long, value_delimiter = ',', value_parser = parse_policy)]
    policies: Vec<Policy>,
    /// Node CPU utilization above which a node-minute counts as hot.
    #[arg(long, default_value_t = 0.8, value_parser = parse_fraction)]
    hot: f64,
    /// Weight of the extender in the scheduler configuration (deploy/ uses 5).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(i64).range(1..=100))]
    extender_weight: i64,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the report here instead of standard output.
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Html,
}

fn parse_policy(s: &str) -> Result<Policy, String> {
    s.parse()
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 2.0 => Ok(v),
        _ => Err(format!(
            "{s:?} is not a utilization fraction; write one in (0, 2], like 0.8 for 80 %"
        )),
    }
}

/// `prometheus`: the settings for reading history (with `cost.query_timeout`); `cost`: how
/// `--from-prometheus` reads it, as the cost report does (`aggregate_in`, `concurrency`).
pub async fn run(
    args: SimulateArgs,
    prometheus: &tidal_core::prometheus::PrometheusConfig,
    cost: &tidal_cost::CostConfig,
) -> anyhow::Result<ExitCode> {
    if args.list_scenarios {
        for (name, about) in scenario::names() {
            println!("{name:<14} {about}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.from_prometheus && (args.window.is_some() || args.step.is_some()) {
        anyhow::bail!(
            "--window and --step shape a trace read with --from-prometheus; a trace file or \
             scenario sets its own duration and step"
        );
    }
    let (mut trace, source) = match (&args.trace, &args.scenario) {
        _ if args.from_prometheus => from_prometheus(&args, prometheus, cost).await?,
        (Some(path), _) => (
            trace::load(path).map_err(|e| anyhow::anyhow!("{e}"))?,
            path.display().to_string(),
        ),
        (None, Some(name)) => (
            scenario::build(name, args.seed.unwrap_or(7)).map_err(|e| anyhow::anyhow!("{e}"))?,
            format!("scenario {name}"),
        ),
        (None, None) => anyhow::bail!("give a trace file, --scenario NAME or --list-scenarios"),
    };
    if let Some(seed) = args.seed {
        trace.seed = seed;
    }
    let has_hpa = trace.workloads.iter().any(|w| w.hpa.is_some());
    let policies = if args.policies.is_empty() {
        Policy::defaults(has_hpa)
    } else {
        args.policies.clone()
    };
    let options = Options {
        hot: args.hot,
        extender_weight: args.extender_weight,
        ..Options::default()
    };
    let started = Instant::now();
    let report = with_progress(&policies, trace.steps, |progress| {
        simulate(&trace, &source, &policies, &options, progress)
    });
    tracing::info!(
        policies = policies.len(),
        seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
        "replay finished"
    );
    let text = match args.format {
        Format::Table => report::table(&report),
        Format::Json => report::json(&report)?,
        Format::Html => report::html(&report),
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write the report to {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The trace of the cluster behind `prometheus`, over the last `--window`, read as `cost` says.
async fn from_prometheus(
    args: &SimulateArgs,
    prometheus: &tidal_core::prometheus::PrometheusConfig,
    cost: &tidal_cost::CostConfig,
) -> anyhow::Result<(trace::Trace, String)> {
    let client = tidal_core::prometheus::PrometheusClient::new(prometheus)?;
    let progress = tidal_cost::fetch::progress_bar();
    let (trace, warnings) = tidal_simulator::from_prometheus::build_trace(
        &client,
        cost,
        std::time::SystemTime::now(),
        (
            args.window
                .unwrap_or(std::time::Duration::from_secs(7 * 86_400)),
            args.step.unwrap_or(std::time::Duration::from_secs(300)),
        ),
        &progress,
    )
    .await
    .with_context(|| format!("cannot build a trace from Prometheus at {}", prometheus.url))?;
    progress.finish_and_clear();
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    Ok((trace, format!("Prometheus {}", prometheus.url)))
}

/// A progress bar over every policy's steps on standard error (hidden when it is not a
/// terminal).
fn with_progress<T>(
    policies: &[Policy],
    steps: usize,
    work: impl FnOnce(&(dyn Fn(Policy, usize, usize) + Sync)) -> T,
) -> T {
    let total = (policies.len() * steps) as u64;
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("replaying {bar:40} {percent:>3}% {msg}") {
        bar.set_style(style);
    }
    let done: Mutex<Vec<(Policy, usize)>> = Mutex::new(Vec::new());
    let progress = |policy: Policy, step: usize, _: usize| {
        if let Ok(mut done) = done.lock() {
            match done.iter_mut().find(|(p, _)| *p == policy) {
                Some(entry) => entry.1 = step,
                None => done.push((policy, step)),
            }
            bar.set_position(done.iter().map(|(_, s)| *s as u64).sum());
        }
    };
    let result = work(&progress);
    bar.finish_and_clear();
    result
}
