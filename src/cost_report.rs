//! `tidal cost-report`: FinOps cost report from Prometheus (allocation, idle, right-sizing,
//! pre-scaling) as Markdown, HTML, CSV or JSON.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use tidal_core::prometheus::{PrometheusClient, PrometheusConfig};
use tidal_cost::render::{self, Format};
use tidal_cost::{CostConfig, build_report, fetch};

#[derive(Args)]
pub struct CostReportArgs {
    /// How far back to look, e.g. 7d or 36h; overrides cost.window.
    #[arg(long, value_parser = humantime::parse_duration)]
    window: Option<Duration>,
    /// Step of the range queries, e.g. 5m; overrides cost.resolution.
    #[arg(long, value_parser = humantime::parse_duration)]
    resolution: Option<Duration>,
    /// End of the window: RFC 3339 (2024-05-01T00:00:00Z) or Unix seconds; default now.
    #[arg(long, value_parser = parse_time)]
    end: Option<SystemTime>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Markdown)]
    format: OutputFormat,
    /// Write here instead of stdout; with --format csv the right-sizing table goes
    /// beside it as <name>-rightsizing.csv.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Rows per Markdown/HTML table; overrides cost.top.
    #[arg(long)]
    top: Option<usize>,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Markdown,
    Html,
    Csv,
    Json,
}

fn parse_time(text: &str) -> Result<SystemTime, String> {
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(UNIX_EPOCH + Duration::from_secs(secs));
    }
    humantime::parse_rfc3339_weak(text.trim_end_matches('Z'))
        .map_err(|e| format!("{e}: give RFC 3339 (2024-05-01T00:00:00Z) or Unix seconds"))
}

pub async fn run(
    args: CostReportArgs,
    prometheus: &PrometheusConfig,
    mut config: CostConfig,
) -> anyhow::Result<()> {
    if let Some(w) = args.window {
        config.window = w;
    }
    if let Some(r) = args.resolution {
        config.resolution = r;
    }
    if let Some(top) = args.top {
        config.top = top;
    }
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid cost configuration: {e}"))?;
    let client = PrometheusClient::new(&config.history_prometheus(prometheus))?;
    let tl = fetch::timeline(args.end.unwrap_or_else(SystemTime::now), &config);
    let progress = fetch::progress_bar();
    let data = fetch::fetch(&client, &config, tl, &progress)
        .await
        .context("cannot fetch the report's data from Prometheus")?;
    progress.finish_and_clear();
    let report = build_report(&data, &config);
    for w in &report.warnings {
        tracing::warn!("{w}");
    }
    let format = match args.format {
        OutputFormat::Markdown => Format::Markdown,
        OutputFormat::Html => Format::Html,
        OutputFormat::Csv => Format::Csv,
        OutputFormat::Json => Format::Json,
    };
    let text = render::render(&report, format, config.top)?;
    match &args.output {
        None => print!("{text}"),
        Some(path) => {
            write(path, &text)?;
            if format == Format::Csv {
                write(&rightsizing_path(path), &render::csv::rightsizing(&report))?;
            }
        }
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text)
        .with_context(|| format!("cannot write the report to {}", path.display()))
}

/// `costs.csv` → `costs-rightsizing.csv`, in the same directory.
fn rightsizing_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map_or_else(|| "cost".into(), |s| s.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}-rightsizing.csv"))
}
