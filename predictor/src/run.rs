//! One `tidal predict` run: raw histories → cleaned series → forecasts → plans, and the HPA
//! floors `--apply` writes. Fetching and file I/O stay with the caller.

use rayon::prelude::*;
use serde::Serialize;

use crate::clean::{CleanOptions, CleaningReport, regularize_with};
use crate::config::PredictorConfig;
use crate::csv::RawSeries;
use crate::forecast::{Forecast, forecast};
use crate::hpa::{self, HpaError, Outcome};
use crate::plan::{self, Plan};
use crate::report::TargetReport;
use crate::series::Series;

/// One series to forecast.
#[derive(Debug, Clone)]
pub struct Input {
    pub id: String,
    pub unit: String,
    /// Samples in any order; cleaned onto the configured step.
    pub samples: RawSeries,
}

/// A target's report and the cleaned history it came from (for charts).
pub struct Analysed {
    pub report: TargetReport,
    pub history: Option<Series>,
}

/// Cleans, forecasts and plans every input, in parallel. A series that cannot be forecast gets
/// a report saying why instead of failing the run.
pub fn analyse(inputs: &[Input], config: &PredictorConfig) -> Vec<Analysed> {
    inputs
        .par_iter()
        .map(|input| analyse_one(input, config))
        .collect()
}

fn analyse_one(input: &Input, config: &PredictorConfig) -> Analysed {
    let mut report = TargetReport {
        id: input.id.clone(),
        unit: input.unit.clone(),
        cleaning: None,
        forecast: None,
        plan: None,
        problems: Vec::new(),
    };
    let options = config.forecast_options();
    // Cleaned on the data's own step: the forecast then averages finer history into the
    // model step, and runs coarser history at its own step; snapping onto the model
    // step would keep one sample in five of 1-minute data, or invent points between
    // half-hourly ones. A lone sample has no step of its own: the model's is used, and
    // the forecast then says how much more history it needs.
    let clean = CleanOptions {
        step: (input.samples.len() < 2).then_some(options.step),
        ..CleanOptions::default()
    };
    let series = match regularize_with(&input.samples, &clean) {
        Ok((series, cleaning)) => {
            report.cleaning = Some(cleaning);
            series
        }
        Err(e) => {
            report.problems.push(format!("history unusable: {e}"));
            return Analysed {
                report,
                history: None,
            };
        }
    };
    if let Some(note) = report.cleaning.as_ref().and_then(short_history) {
        report.problems.push(note);
    }
    match forecast(&series, &options) {
        Ok(f) => {
            match plan_for(&input.id, &f, config) {
                Some(Ok(p)) => report.plan = Some(p),
                Some(Err(e)) => report.problems.push(e),
                None => {}
            }
            report.forecast = Some(f);
        }
        Err(e) => report.problems.push(format!("no forecast: {e}")),
    }
    Analysed {
        report,
        history: Some(series),
    }
}

/// History shorter than two days cannot show a daily cycle nor test a model on a held-out
/// day: the forecast is then a level or a short repeat, and the user should know why.
fn short_history(c: &CleaningReport) -> Option<String> {
    const TWO_DAYS: i64 = 2 * 86_400;
    let span = i64::try_from(c.points_out)
        .unwrap_or(i64::MAX)
        .saturating_mul(c.step);
    (span < TWO_DAYS).then(|| {
        format!(
            "only {} of history ({} points): too little to find a daily cycle or to backtest; \
             give 2d or more (14d also finds a weekly cycle)",
            crate::forecast::format_seconds(span),
            c.points_in
        )
    })
}

/// The plan a rule asks for this target, if any.
fn plan_for(id: &str, f: &Forecast, config: &PredictorConfig) -> Option<Result<Plan, String>> {
    if let Some(rule) = config.prescale.iter().find(|r| r.target == id) {
        return Some(
            plan::plan(&f.band(rule.quantile), &rule.plan)
                .map_err(|e| format!("prescale rule for {id}: {e}")),
        );
    }
    let rule = config.node_pools.iter().find(|r| r.target == id)?;
    Some(
        plan::node_plan(&f.band(rule.quantile), &rule.plan)
            .map_err(|e| format!("node_pools rule for {id}: {e}")),
    )
}

/// What `--apply` did to one HPA.
#[derive(Debug, Serialize)]
pub struct Applied {
    pub target: String,
    pub hpa: String,
    /// `raise`, `hold`, `restore` or `nothing`, with the floor.
    pub action: String,
    pub written: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Raises or restores the `minReplicas` floor of every HPA a prescale rule names. A target
/// without a plan this run (no forecast) only has an expired floor restored, so a failing
/// predictor never leaves floors raised for good.
pub async fn apply_floors(
    client: kube::Client,
    reports: &[TargetReport],
    config: &PredictorConfig,
    now: i64,
    dry_run: bool,
) -> Vec<Applied> {
    let mut out = Vec::new();
    for rule in &config.prescale {
        let Some(hpa_ref) = &rule.hpa else { continue };
        let report = reports.iter().find(|r| r.id == rule.target);
        let (namespace, name) = match split_hpa(hpa_ref, &rule.target) {
            Ok(parts) => parts,
            Err(e) => {
                out.push(failed(rule.target.clone(), hpa_ref.clone(), e));
                continue;
            }
        };
        let result = match report.and_then(|r| r.plan.as_ref()) {
            Some(p) => {
                hpa::apply_floor(
                    client.clone(),
                    &namespace,
                    &name,
                    p,
                    now,
                    config.apply_interval,
                    dry_run,
                )
                .await
            }
            None => hpa::restore_expired(client.clone(), &namespace, &name, now, dry_run).await,
        };
        out.push(applied(&rule.target, format!("{namespace}/{name}"), result));
    }
    out
}

fn applied(target: &str, hpa: String, result: Result<Outcome, HpaError>) -> Applied {
    match result {
        Ok(outcome) => Applied {
            target: target.to_owned(),
            hpa,
            action: outcome.decision.to_string(),
            written: outcome.written(),
            error: None,
        },
        Err(e) => failed(target.to_owned(), hpa, e.to_string()),
    }
}

fn failed(target: String, hpa: String, error: String) -> Applied {
    Applied {
        target,
        hpa,
        action: "error".to_owned(),
        written: false,
        error: Some(error),
    }
}

/// `namespace/name`, or a bare name in the namespace of a workload target
/// (`workload/<namespace>/<kind>/<name>/<resource>`).
fn split_hpa(hpa: &str, target: &str) -> Result<(String, String), String> {
    if let Some((ns, name)) = hpa.split_once('/') {
        return Ok((ns.to_owned(), name.to_owned()));
    }
    match target.split('/').collect::<Vec<_>>()[..] {
        ["workload", ns, ..] => Ok((ns.to_owned(), hpa.to_owned())),
        _ => Err(format!(
            "hpa {hpa:?} has no namespace and target {target:?} is not a workload; write namespace/name"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hpa_namespaces() {
        assert_eq!(
            split_hpa("web", "workload/shop/Deployment/web/cpu"),
            Ok(("shop".into(), "web".into()))
        );
        assert_eq!(
            split_hpa("ops/web", "cluster/cpu"),
            Ok(("ops".into(), "web".into()))
        );
        assert!(split_hpa("web", "cluster/cpu").is_err());
    }
}
