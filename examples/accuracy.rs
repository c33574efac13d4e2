//! The Rust half of `scripts/accuracy-benchmark`: day-ahead forecasts at every backtest origin.
//!
//! Reads `<data>/origins.csv` (`series,origin,horizon_end,season_steps`) and `<data>/<series>.csv`
//! (`ts,value`, evenly spaced, written by `benches/accuracy/accuracy.py prepare`), and writes one
//! row per forecast step: `series,origin,ts,actual,model,p50,p90,p99` for
//! - `tidal`: what `tidal predict` does (cleaning, cycle detection, model choice by backtest,
//!   calibrated bands), seeing only the history before the origin;
//! - `seasonal-naive`: the last day repeated, bands from its own backtest errors;
//! - `crane-dsp`: Crane's DSP estimator (FFT low-pass, last day repeated); Crane gives one value,
//!   so p50 = p90 = p99.
//!
//! Run: `cargo run --release --example accuracy -- --data target/accuracy/data --out FILE`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use tidal_predictor::clean::{CleanOptions, regularize_with};
use tidal_predictor::csv::parse_csv;
use tidal_predictor::forecast::{ForecastOptions, ModelKind, forecast};

const DAY: i64 = 86_400;

fn main() -> Result<()> {
    let (data, out, each_model) = args()?;
    let origins = read_origins(&data.join("origins.csv"))?;
    let mut series = BTreeMap::new();
    for name in origins.iter().map(|o| o.series.as_str()) {
        if !series.contains_key(name) {
            series.insert(
                name.to_owned(),
                read_raw(&data.join(format!("{name}.csv")))?,
            );
        }
    }
    eprintln!(
        "forecasting {} origins of {} series with 3 methods",
        origins.len(),
        series.len()
    );
    let rows: Vec<String> = origins
        .par_iter()
        .map(|o| forecast_origin(&series[&o.series], o, each_model))
        .collect::<Result<_>>()?;
    let mut text = String::from("series,origin,ts,actual,model,p50,p90,p99\n");
    rows.iter().for_each(|r| text.push_str(r));
    std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

struct Origin {
    series: String,
    origin: i64,
    horizon_end: i64,
}

/// The three methods' forecasts from one origin, as CSV rows. Only the samples before the origin
/// are cleaned and seen; actuals are the samples as written.
fn forecast_origin(raw: &[(i64, f64)], o: &Origin, each_model: bool) -> Result<String> {
    let before: Vec<(i64, f64)> = raw.iter().copied().filter(|(t, _)| *t < o.origin).collect();
    let (history, _report) = regularize_with(&before, &CleanOptions::default())?;
    let actuals: BTreeMap<i64, f64> = raw
        .iter()
        .copied()
        .filter(|(t, _)| (o.origin..o.horizon_end).contains(t))
        .collect();
    let base = ForecastOptions {
        step: history.step,
        horizon: o.horizon_end - o.origin,
        ..ForecastOptions::default()
    };
    let daily = |model| ForecastOptions {
        model: Some(model),
        periods: Some(vec![DAY]),
        ..base.clone()
    };
    let mut out = String::new();
    let mut methods = vec![
        ("tidal", base.clone()),
        ("seasonal-naive", daily(ModelKind::SeasonalNaive)),
        ("crane-dsp", daily(ModelKind::CraneFft)),
    ];
    if each_model {
        // Every family alone on the daily cycle, to see what the choice adds.
        for (name, kind) in [
            ("only-seasonal-median", ModelKind::SeasonalMedian),
            ("only-holt-winters", ModelKind::HoltWinters),
            ("only-ensemble", ModelKind::Ensemble),
        ] {
            methods.push((name, daily(kind)));
        }
        methods.push((
            "only-multi-seasonal",
            ForecastOptions {
                model: Some(ModelKind::MultiSeasonal),
                periods: Some(vec![DAY, 7 * DAY]),
                ..base.clone()
            },
        ));
    }
    for (name, opts) in methods {
        let f = forecast(&history, &opts)
            .with_context(|| format!("{} at {}: {name}", o.series, o.origin))?;
        if name == "tidal" {
            let cycles: Vec<String> = f
                .periods
                .iter()
                .map(|p| format!("{}s", p.seconds))
                .collect();
            eprintln!(
                "{} @{}: cycles [{}] -> {} (backtest MASE {:.2})",
                o.series,
                o.origin,
                cycles.join(" "),
                f.model,
                f.mase().unwrap_or(f64::NAN)
            );
        }
        for i in 0..f.p50.len() {
            let ts = f.time_at(i);
            let actual = actuals.get(&ts).copied().unwrap_or(f64::NAN);
            let (p90, p99) = if name == "crane-dsp" {
                (f.p50[i], f.p50[i])
            } else {
                (f.p90[i], f.p99[i])
            };
            let _ = writeln!(
                out,
                "{},{},{ts},{actual},{name},{},{p90},{p99}",
                o.series, o.origin, f.p50[i]
            );
        }
    }
    Ok(out)
}

fn args() -> Result<(PathBuf, PathBuf, bool)> {
    let mut data = None;
    let mut out = None;
    let mut each_model = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--data" => data = it.next().map(PathBuf::from),
            "--out" => out = it.next().map(PathBuf::from),
            "--each-model" => each_model = true,
            other => bail!(
                "unknown argument {other:?}; usage: accuracy --data DIR --out FILE [--each-model]"
            ),
        }
    }
    match (data, out) {
        (Some(d), Some(o)) => Ok((d, o, each_model)),
        _ => bail!("usage: accuracy --data DIR --out FILE [--each-model]"),
    }
}

fn read_origins(path: &Path) -> Result<Vec<Origin>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {}; run scripts/accuracy-benchmark", path.display()))?;
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let [series, origin, horizon_end, ..] = f[..] else {
                bail!("{}: bad line {line:?}", path.display());
            };
            Ok(Origin {
                series: series.to_owned(),
                origin: origin.trim().parse()?,
                horizon_end: horizon_end.trim().parse()?,
            })
        })
        .collect()
}

fn read_raw(path: &Path) -> Result<Vec<(i64, f64)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_csv(&text).with_context(|| path.display().to_string())
}
