//! `tidal predict`: forecasts from Prometheus or CSV files, pre-scale plans, charts, and HPA
//! floors with `--apply`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use tidal_core::prometheus::{PrometheusClient, PrometheusConfig};
use tidal_predictor::chart::{self, Panel};
use tidal_predictor::config::{NodePoolRule, PredictorConfig, PrescaleRule};
use tidal_predictor::forecast::Quantile;
use tidal_predictor::history::{Target, TargetHistory, Unit, fetch_history, fetch_pool_capacity};
use tidal_predictor::plan::{NodePlanConfig, PlanConfig};
use tidal_predictor::report;
use tidal_predictor::run::{self, Analysed, Input};
use tidal_predictor::series::Series;

#[derive(Args)]
pub struct PredictArgs {
    /// Forecast this `ts,value` CSV file (Unix seconds) instead of Prometheus; repeatable.
    #[arg(long, value_name = "FILE")]
    csv: Vec<PathBuf>,
    /// How far ahead to forecast, e.g. 24h; overrides predictor.horizon.
    #[arg(long, value_parser = humantime::parse_duration)]
    horizon: Option<Duration>,
    /// How much history to learn from, e.g. 14d; overrides predictor.history (not with
    /// --csv: a file is forecast from all it holds).
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "csv")]
    history: Option<Duration>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write the table, JSON or CSV here instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Write a chart of history and forecast bands: an HTML page if FILE ends in .html,
    /// else an SVG.
    #[arg(long, value_name = "FILE")]
    chart: Option<PathBuf>,
    /// Plan replicas for every target without a prescale rule: the demand one replica
    /// should carry, in the target's unit (e.g. 0.5 cores).
    #[arg(long, allow_hyphen_values = true, value_parser = positive_amount)]
    target_per_replica: Option<f64>,
    /// With --target-per-replica: the fewest replicas to plan.
    #[arg(long, default_value_t = 1)]
    min_replicas: u32,
    /// With --target-per-replica: the most replicas to plan.
    #[arg(long, default_value_t = 100)]
    max_replicas: u32,
    /// Raise (and later restore) the minReplicas of the HPAs named in predictor.prescale.
    #[arg(long)]
    apply: bool,
    /// With --apply: ask the API server with `?dryRun=All`; change nothing.
    #[arg(long, requires = "apply")]
    dry_run: bool,
    /// Kubeconfig for --apply (default: $KUBECONFIG or ~/.kube/config, then in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
}

fn positive_amount(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!(
            "{s:?} is not a positive amount; give the demand one replica carries in the \
             target's unit, e.g. 0.5 for half a core"
        )),
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
}

/// Exit codes: 0 every target forecast (and every floor applied); 2 some target could not be
/// forecast or some HPA floor not applied (the output and log say why); 1 nothing could be done
/// (configuration, Prometheus, files, cluster).
pub async fn run(
    args: PredictArgs,
    prometheus: &PrometheusConfig,
    mut config: PredictorConfig,
) -> anyhow::Result<ExitCode> {
    if let Some(problem) = misuse(&args, &config) {
        eprintln!("error: {problem}");
        return Ok(ExitCode::from(2));
    }
    if let Some(h) = args.horizon {
        config.horizon = h;
    }
    if let Some(h) = args.history {
        config.history = h;
    }
    let inputs = if args.csv.is_empty() {
        from_prometheus(prometheus, &mut config).await?
    } else {
        args.csv
            .iter()
            .map(|path| from_csv(path))
            .collect::<anyhow::Result<_>>()?
    };
    if let Some(target) = args.target_per_replica {
        add_plans(
            &mut config,
            &inputs,
            target,
            args.min_replicas,
            args.max_replicas,
        );
    }
    tracing::info!(targets = inputs.len(), "forecasting");
    let analysed = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || run::analyse(&inputs, &config))
            .await
            .context("the forecasting task failed")?
    };
    let reports: Vec<report::TargetReport> = analysed.iter().map(|a| a.report.clone()).collect();
    write_output(&reports, args.format, args.output.as_deref())?;
    if let Some(path) = &args.chart {
        write_chart(path, &analysed, &config)?;
    }
    let mut apply_failed = 0;
    if args.apply {
        let client = crate::kube_config(args.kubeconfig)
            .await
            .and_then(crate::client)
            .map_err(|e| anyhow::anyhow!("cannot reach the cluster: {e}; no HPA was changed"))?;
        let now = unix_now();
        for a in run::apply_floors(client, &reports, &config, now, args.dry_run).await {
            match &a.error {
                None => {
                    tracing::info!(target = %a.target, hpa = %a.hpa, written = a.written, dry_run = args.dry_run, "{}", a.action)
                }
                Some(e) => {
                    apply_failed += 1;
                    tracing::error!(target = %a.target, hpa = %a.hpa, "{e}")
                }
            }
        }
    }
    let failed = reports.iter().filter(|r| r.forecast.is_none()).count();
    if failed > 0 {
        tracing::warn!(failed, "some targets could not be forecast; see NOTES");
    }
    Ok(if failed == 0 && apply_failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

async fn from_prometheus(
    prometheus: &PrometheusConfig,
    config: &mut PredictorConfig,
) -> anyhow::Result<Vec<Input>> {
    let client = PrometheusClient::new(prometheus)?;
    let step = config.step.as_secs().max(1);
    // Whole steps, so successive runs see the same grid.
    let end = UNIX_EPOCH + Duration::from_secs(unix_now().unsigned_abs() / step * step);
    let start = end.checked_sub(config.history).unwrap_or(UNIX_EPOCH);
    let histories = fetch_history(
        &client,
        &config.targets,
        start,
        end,
        Duration::from_secs(step),
        &config.fetch,
    )
    .await?;
    add_node_plans(&client, config, &histories, end).await;
    Ok(histories
        .into_iter()
        .map(|h| Input {
            id: h.id,
            unit: h.unit.map_or_else(|| "value".to_owned(), |u| u.to_string()),
            samples: h.samples,
        })
        .collect())
}

/// A node-count plan for every node-pool series without a `node_pools` rule, sized from the
/// pool's nodes now: one node offers the median allocatable of the pool's nodes, filled to the
/// default 70 %, between 1 node and three times today's count. A pool whose capacity cannot be
/// read gets no plan, with a warning.
async fn add_node_plans(
    client: &PrometheusClient,
    config: &mut PredictorConfig,
    histories: &[TargetHistory],
    at: SystemTime,
) {
    let labels: Vec<String> = config
        .targets
        .iter()
        .filter_map(|t| match t {
            Target::NodePool(p) => Some(p.label.clone()),
            _ => None,
        })
        .collect();
    for label in labels {
        let pools = match fetch_pool_capacity(client, &label, Some(at), &config.fetch).await {
            Ok(pools) => pools,
            Err(e) => {
                tracing::warn!(%label, "no node plans for this pool label: {e}");
                continue;
            }
        };
        for h in histories {
            let Some(pool) = h.labels.get(&label) else {
                continue;
            };
            let Some(capacity) = pools.iter().find(|p| &p.pool == pool) else {
                continue;
            };
            if config.node_pools.iter().any(|r| r.target == h.id) {
                continue;
            }
            let per_node: Vec<f64> = capacity
                .nodes
                .iter()
                .map(|n| match h.unit {
                    Some(Unit::Bytes) => n.memory_bytes,
                    _ => n.cpu_cores,
                })
                .collect();
            let Some(allocatable) = median(per_node) else {
                continue;
            };
            let now = u32::try_from(capacity.nodes.len()).unwrap_or(u32::MAX);
            config.node_pools.push(NodePoolRule {
                target: h.id.clone(),
                quantile: Quantile::P90,
                plan: NodePlanConfig::new(allocatable, 1, now.saturating_mul(3).max(1)),
            });
        }
    }
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite() && *v > 0.0);
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

fn from_csv(path: &Path) -> anyhow::Result<Input> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let samples = tidal_predictor::csv::parse_csv(&text)
        .with_context(|| format!("{} is not a ts,value CSV", path.display()))?;
    let id = path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    Ok(Input {
        id,
        unit: "value".to_owned(),
        samples,
    })
}

/// A prescale rule for every input without one, from the command line.
/// Option combinations that would be ignored or make no plan, caught before any work.
fn misuse(args: &PredictArgs, config: &PredictorConfig) -> Option<String> {
    if args.min_replicas > args.max_replicas {
        return Some(format!(
            "--min-replicas ({}) is above --max-replicas ({}); lower the one or raise the other",
            args.min_replicas, args.max_replicas
        ));
    }
    if args.apply && config.prescale.is_empty() {
        return Some(
            "--apply raises the HPAs that predictor.prescale rules name, and the config has no \
             such rule; add one (see `tidal config`) or drop --apply"
                .to_string(),
        );
    }
    None
}

fn add_plans(config: &mut PredictorConfig, inputs: &[Input], target: f64, min: u32, max: u32) {
    for input in inputs {
        if config.prescale.iter().any(|r| r.target == input.id) {
            continue;
        }
        config.prescale.push(PrescaleRule {
            target: input.id.clone(),
            quantile: Quantile::P90,
            hpa: None,
            plan: PlanConfig::new(target, min, max),
        });
    }
}

fn write_output(
    reports: &[report::TargetReport],
    format: Format,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    let mut text = Vec::new();
    match format {
        Format::Table => text.extend_from_slice(report::table(reports).as_bytes()),
        Format::Json => text.extend_from_slice(report::json(reports)?.as_bytes()),
        Format::Csv => report::write_csv(reports, &mut text)?,
    }
    match output {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            use std::io::Write as _;
            std::io::stdout()
                .write_all(&text)
                .context("cannot write to stdout")
        }
    }
}

/// History shown before the forecast: three horizons, enough to see the cycle repeat.
fn write_chart(path: &Path, analysed: &[Analysed], config: &PredictorConfig) -> anyhow::Result<()> {
    let shown = i64::try_from(config.horizon.as_secs().saturating_mul(3)).unwrap_or(i64::MAX);
    let recent: Vec<(Series, &Analysed)> = analysed
        .iter()
        .filter(|a| a.report.forecast.is_some())
        .filter_map(|a| Some((tail(a.history.as_ref()?, shown), a)))
        .collect();
    let panels: Vec<Panel<'_>> = recent
        .iter()
        .filter_map(|(history, a)| {
            Some(Panel {
                title: &a.report.id,
                unit: &a.report.unit,
                history,
                forecast: a.report.forecast.as_ref()?,
                plan: a.report.plan.as_ref(),
            })
        })
        .collect();
    let is_html = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("html"));
    let text = if is_html {
        chart::html("Tidal forecast", &panels)
    } else {
        chart::svg(&panels)
    };
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The last `secs` seconds of `series`.
fn tail(series: &Series, secs: i64) -> Series {
    let keep = usize::try_from(secs / series.step).unwrap_or(usize::MAX);
    let skip = series.len().saturating_sub(keep);
    Series {
        start: series.time_at(skip),
        step: series.step,
        values: series.values[skip..].to_vec(),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
