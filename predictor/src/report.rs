//! What `tidal predict` prints: a table for people, JSON and CSV for tools.

use std::fmt::Write as _;
use std::io;

use serde::Serialize;

use crate::chart::format_value;
use crate::clean::CleaningReport;
use crate::forecast::{Forecast, format_seconds};
use crate::period::Period;
use crate::plan::{Plan, rfc3339};

/// Everything learned about one target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    /// Stable id, e.g. `workload/shop/Deployment/web/cpu` or a CSV file's name.
    pub id: String,
    /// Unit of the values: cores, bytes, replicas.
    pub unit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleaning: Option<CleaningReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast: Option<Forecast>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// Why something is missing, for a person to act on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// A table with one row per target: cycles, chosen model, its backtest error, the next peak and
/// the plan's peak.
pub fn table(reports: &[TargetReport]) -> String {
    let header = [
        "TARGET",
        "CYCLES",
        "MODEL",
        "MASE",
        "NEXT PEAK (UTC)",
        "P50",
        "P90",
        "PLAN",
        "NOTES",
    ];
    let rows: Vec<[String; 9]> = reports.iter().map(row).collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                let _ = write!(out, "{cell}");
            } else {
                let _ = write!(out, "{cell:<w$}  ");
            }
        }
        // An empty last column leaves the padding of the one before.
        out.truncate(out.trim_end_matches(' ').len());
        out.push('\n');
    };
    line(&header);
    for r in &rows {
        line(&r.each_ref().map(String::as_str));
    }
    out
}

fn row(r: &TargetReport) -> [String; 9] {
    let dash = || "-".to_owned();
    let Some(f) = &r.forecast else {
        return [
            r.id.clone(),
            dash(),
            dash(),
            dash(),
            dash(),
            dash(),
            dash(),
            dash(),
            r.problems.join("; "),
        ];
    };
    let cycles = if f.periods.is_empty() {
        "none".to_owned()
    } else {
        f.periods
            .iter()
            .map(format_period)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (peak_time, p50, p90) = match f.peak() {
        Some((t, v)) => {
            let i = usize::try_from((t - f.start) / f.step).unwrap_or(0);
            let p90 = f.p90.get(i).copied().unwrap_or(f64::NAN);
            (short_time(t), format_value(v), format_value(p90))
        }
        None => (dash(), dash(), dash()),
    };
    let plan = r.plan.as_ref().map_or_else(dash, plan_summary);
    let mut notes = r.problems.clone();
    if let Some(c) = r
        .cleaning
        .filter(|c| c.gaps_filled + c.gaps_left + c.outliers_replaced + c.counter_resets > 0)
    {
        notes.push(format!(
            "cleaned: {} gaps filled, {} left, {} outliers",
            c.gaps_filled, c.gaps_left, c.outliers_replaced
        ));
    }
    if f.kept_naive {
        notes.push(
            "no model beat seasonal naive on most backtest days: forecasting seasonal naive"
                .to_string(),
        );
    }
    if let Some(c) = r.cleaning.filter(|c| c.step != f.step) {
        let how = if c.step < f.step {
            "averaged into"
        } else {
            "forecast at its own"
        };
        notes.push(format!(
            "history every {} {how} {} steps",
            crate::forecast::format_seconds(c.step),
            crate::forecast::format_seconds(f.step)
        ));
    }
    [
        r.id.clone(),
        cycles,
        f.model.to_string(),
        f.mase().map_or_else(dash, |m| format!("{m:.2}")),
        peak_time,
        format!("{p50} {}", r.unit),
        format!("{p90} {}", r.unit),
        plan,
        notes.join("; "),
    ]
}

/// `3 now (2–12), ↑12 at 11-24 08:50`: the count now, the plan's range, and the next raise.
fn plan_summary(p: &Plan) -> String {
    let (Some(first), Some(lo), Some(hi)) = (
        p.slots.first(),
        p.slots.iter().map(|s| s.replicas).min(),
        p.slots.iter().map(|s| s.replicas).max(),
    ) else {
        return "-".to_owned();
    };
    let unit = p.unit.to_string();
    let unit = if first.replicas == 1 {
        unit.trim_end_matches('s')
    } else {
        &unit
    };
    let mut text = format!("{} {unit} now ({lo}–{hi})", first.replicas);
    if let Some(raise) = p.slots.iter().find(|s| s.replicas > first.replicas) {
        let _ = write!(text, ", ↑{} at {}", raise.replicas, short_time(raise.start));
    }
    if p.slots.iter().any(|s| s.capped) {
        text.push_str(", capped at max");
    }
    text
}

/// `1d(0.83)`: the cycle and its autocorrelation.
fn format_period(p: &Period) -> String {
    format!("{}({:.2})", format_seconds(p.seconds), p.strength)
}

/// `2026-11-24 09:35`.
fn short_time(t: i64) -> String {
    rfc3339(t).map_or_else(
        || t.to_string(),
        |s| s.get(..16).unwrap_or(&s).replace('T', " "),
    )
}

/// Every report as one JSON document.
/// Each forecast also lists its steps as `points`: `{"ts", "p50", "p90", "p99"}`.
pub fn json(reports: &[TargetReport]) -> serde_json::Result<String> {
    let mut targets = serde_json::to_value(reports)?;
    let values = targets.as_array_mut().into_iter().flatten();
    for (value, report) in values.zip(reports) {
        let forecast = value
            .get_mut("forecast")
            .and_then(serde_json::Value::as_object_mut);
        if let (Some(object), Some(f)) = (forecast, &report.forecast) {
            object.insert("points".to_string(), serde_json::to_value(f.points())?);
        }
    }
    serde_json::to_string_pretty(&serde_json::json!({ "targets": targets }))
}

/// One row per target and forecast step: `target,ts,time,p50,p90,p99,planned` (`planned` is the
/// plan's count at that step, empty without a plan).
pub fn write_csv(reports: &[TargetReport], out: &mut impl io::Write) -> io::Result<()> {
    writeln!(out, "target,ts,time,p50,p90,p99,planned")?;
    for r in reports {
        let Some(f) = &r.forecast else { continue };
        for i in 0..f.p50.len() {
            let t = f.time_at(i);
            let planned = r
                .plan
                .as_ref()
                .and_then(|p| p.replicas_at(t))
                .map_or_else(String::new, |n| n.to_string());
            writeln!(
                out,
                "{},{t},{},{},{},{},{planned}",
                csv_field(&r.id),
                rfc3339(t).unwrap_or_default(),
                f.p50[i],
                f.p90[i],
                f.p99[i],
            )?;
        }
    }
    Ok(())
}

/// Quotes a field when it holds a comma, quote or line break (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_read_naturally() {
        let p = |seconds| Period {
            seconds,
            strength: 0.5,
        };
        assert_eq!(format_period(&p(86_400)), "1d(0.50)");
        assert_eq!(format_period(&p(43_200)), "12h(0.50)");
        assert_eq!(format_period(&p(5_400)), "90m(0.50)");
        assert_eq!(format_period(&p(45)), "45s(0.50)");
    }

    #[test]
    fn plans_read_as_sentences() {
        let slot = |start, replicas| crate::plan::Slot {
            start,
            end: start + 600,
            replicas,
            demand: 1.0,
            capped: false,
        };
        let plan = |slots| Plan {
            unit: crate::plan::Unit::Replicas,
            unit_capacity: 1.0,
            step: 300,
            slots,
            filled: 0,
        };
        assert_eq!(plan_summary(&plan(vec![slot(0, 1)])), "1 replica now (1–1)");
        let two = plan_summary(&plan(vec![slot(0, 2), slot(600, 3)]));
        assert!(two.starts_with("2 replicas now (2–3), ↑3 at "), "{two}");
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
