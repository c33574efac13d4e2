//! The predictor: `tidal predict`'s pipeline on the week in Prometheus: pulls each workload's
//! history, finds its cycles, forecasts the next day, plans replicas and writes a chart.

use std::time::Duration;

use tidal_core::prometheus::{PrometheusClient, PrometheusConfig};
use tidal_predictor::chart;
use tidal_predictor::config::{PredictorConfig, PrescaleRule};
use tidal_predictor::forecast::Quantile;
use tidal_predictor::history::{Target, WorkloadResource, WorkloadTarget, fetch_history};
use tidal_predictor::plan::PlanConfig;
use tidal_predictor::report;
use tidal_predictor::run::{self, Input};

use super::week::DAY;

/// Forecasts and plans every workload of the week ending at `end` in `prometheus_url`.
pub async fn run(prometheus_url: String, end: i64) -> anyhow::Result<()> {
    super::step(
        "tidal predict: history, cycles, model choice by backtest, next peak, replica plan",
    );
    let mut config = PredictorConfig {
        history: Duration::from_secs(7 * DAY as u64),
        targets: vec![Target::Workload(WorkloadTarget {
            name: None,
            resource: WorkloadResource::Cpu,
            namespace: Some("demo".into()),
            workload: None,
        })],
        ..PredictorConfig::default()
    };
    let client = PrometheusClient::new(&PrometheusConfig {
        url: prometheus_url,
        ..PrometheusConfig::default()
    })?;
    let at = |t: i64| std::time::UNIX_EPOCH + Duration::from_secs(t.unsigned_abs());
    let histories = fetch_history(
        &client,
        &config.targets,
        at(end - 7 * DAY),
        at(end),
        config.step,
        &config.fetch,
    )
    .await?;
    let inputs: Vec<Input> = histories
        .into_iter()
        .map(|h| Input {
            id: h.id,
            unit: "cores".into(),
            samples: h.samples,
        })
        .collect();
    for input in &inputs {
        // One replica should carry half a core, between 1 and 10 replicas.
        config.prescale.push(PrescaleRule {
            target: input.id.clone(),
            quantile: Quantile::P90,
            hpa: None,
            plan: PlanConfig::new(0.5, 1, 10),
        });
    }
    let analysed = run::analyse(&inputs, &config);
    let reports: Vec<_> = analysed.iter().map(|a| a.report.clone()).collect();
    println!("\n{}", report::table(&reports));
    let chart_path = std::env::temp_dir().join("tidal-demo-forecast.html");
    let recent: Vec<_> = analysed
        .iter()
        .filter_map(|a| {
            Some(chart::Panel {
                title: &a.report.id,
                unit: "cores",
                history: a.history.as_ref()?,
                forecast: a.report.forecast.as_ref()?,
                plan: a.report.plan.as_ref(),
            })
        })
        .collect();
    std::fs::write(&chart_path, chart::html("Tidal demo forecast", &recent))?;
    println!("  The shop's daily cycle and the nightly batch are found. The API shows no cycle");
    println!("  (CYCLES none): a daily repeat is tried as a prior, and its forecast stays near");
    println!("  its level. PLAN raises replicas ahead of each peak (lead 10 min) and");
    println!(
        "  lowers them only after 30 min below. Chart: {}",
        chart_path.display()
    );
    Ok(())
}
