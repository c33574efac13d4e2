//! The cost report: `tidal cost-report` on the same week, summed up on one screen.

use std::time::Duration;

use indicatif::ProgressBar;
use tidal_core::prometheus::{PrometheusClient, PrometheusConfig, sample_time};
use tidal_cost::render::{Summary, money, percent};
use tidal_cost::{CostConfig, build_report, fetch};

/// The report's summary and its costliest workloads, for the week ending at `end`.
pub async fn run(prometheus_url: String, end: i64) -> anyhow::Result<()> {
    println!();
    super::step("tidal cost-report --window 7d: OpenCost's allocation, idle, right-sizing");
    let config = CostConfig {
        window: Duration::from_secs(7 * 86_400),
        ..CostConfig::default()
    };
    let client = PrometheusClient::new(&PrometheusConfig {
        url: prometheus_url,
        ..PrometheusConfig::default()
    })?;
    let tl = fetch::timeline(sample_time(end as f64), &config);
    let data = fetch::fetch(&client, &config, tl, &ProgressBar::hidden()).await?;
    let report = build_report(&data, &config);
    println!();
    for (what, value) in Summary::of(&report).rows {
        println!("  {what:<30} {value}");
    }
    let c = &report.currency;
    println!("\n  {:<28} {:>9} {:>11}", "workload", "cost", "efficiency");
    for w in report.allocation.workloads.iter().take(3) {
        let name = format!("{}/{} {}", w.key.namespace, w.key.kind, w.key.name);
        println!(
            "  {name:<28} {:>9} {:>11}",
            money(c, w.usage.total_cost()),
            percent(w.usage.efficiency())
        );
    }
    if let Some(r) = report.rightsizing.first() {
        println!(
            "\n  Right-size first: {}/{} requests {:.2} cores per replica, uses {:.2} at p95: {} a month.",
            r.workload.namespace,
            r.workload.name,
            r.cpu_request.unwrap_or_default(),
            r.cpu_usage_percentile,
            money(c, r.monthly_saving())
        );
    }
    println!(
        "  The full report: tidal cost-report --format html --output costs.html (charts, every table)."
    );
    Ok(())
}
