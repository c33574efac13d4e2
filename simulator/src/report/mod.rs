//! The side-by-side results of a replay: a terminal table, JSON, and a self-contained HTML
//! page with the figures, a bar chart and a node × time CPU heatmap per policy.
//!
//! Figures are rounded here and only here; the model in [`crate::outcome`] keeps full precision.

mod bars;
mod heatmap;
mod html;
mod table;

use serde_json::Value;

use crate::outcome::{PolicyOutcome, Report};

/// The figures as a terminal table: one column per policy, one row per figure.
pub fn table(report: &Report) -> String {
    table::render(report)
}

/// Pretty JSON of the report, `{"trace": …, "policies": [{"policy": NAME, …}]}`, floats
/// rounded to 4 decimals, ending with a newline.
pub fn json(report: &Report) -> serde_json::Result<String> {
    let mut value = serde_json::to_value(report)?;
    round_floats(&mut value);
    Ok(serde_json::to_string_pretty(&value)? + "\n")
}

/// One self-contained HTML page: trace summary, figures, a bar chart and a CPU heatmap per policy.
pub fn html(report: &Report) -> String {
    html::render(report)
}

fn round_floats(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(rounded) = n
                .as_f64()
                .map(round4)
                .and_then(serde_json::Number::from_f64)
            {
                *n = rounded;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(round_floats),
        Value::Object(map) => map.values_mut().for_each(round_floats),
        _ => {}
    }
}

/// To 4 decimals; values too large for that to matter are left alone.
fn round4(v: f64) -> f64 {
    if v.is_finite() && v.abs() < 1e11 {
        (v * 1e4).round() / 1e4
    } else {
        v
    }
}

/// How a figure is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// A whole number, with thousands separators.
    Count,
    /// A quantity: grouped integer from 100 up, fewer decimals as it grows.
    Number,
    /// A fraction written as a percentage, `87.3%`.
    Percent,
    /// A fraction written as percentage points, `12.4 pp`.
    Points,
    /// A relative change, `-62%`.
    Change,
}

/// One row of the side-by-side figures.
pub(crate) struct Figure {
    pub group: &'static str,
    pub label: String,
    /// What the row means, for the HTML tooltip.
    pub help: &'static str,
    pub unit: Unit,
    /// One value per policy, in the report's order.
    pub values: Vec<Option<f64>>,
    /// Whether the lowest value is the best (highlighted in HTML).
    pub ranked: bool,
}

impl Figure {
    pub fn text(&self, i: usize) -> String {
        self.values
            .get(i)
            .copied()
            .flatten()
            .map_or_else(|| "—".to_string(), |v| format_value(v, self.unit))
    }

    /// Indices of the lowest value, if the row is ranked and not every value ties.
    pub fn best(&self) -> Vec<usize> {
        if !self.ranked {
            return Vec::new();
        }
        let present: Vec<(usize, f64)> = self
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.filter(|v| v.is_finite()).map(|v| (i, v)))
            .collect();
        let Some(min) = present.iter().map(|&(_, v)| v).reduce(f64::min) else {
            return Vec::new();
        };
        // Compare as written: 23.99 and 24.00 both print "24".
        let shown = format_value(min, self.unit);
        let best: Vec<usize> = present
            .iter()
            .filter(|&&(_, v)| format_value(v, self.unit) == shown)
            .map(|&(i, _)| i)
            .collect();
        if best.len() == self.values.len() {
            Vec::new()
        } else {
            best
        }
    }
}

/// The rows of the table and the HTML page, in order.
pub(crate) fn figures(report: &Report) -> Vec<Figure> {
    let p = &report.policies;
    let of = |f: fn(&PolicyOutcome) -> f64| p.iter().map(|o| Some(f(o))).collect::<Vec<_>>();
    let count = |f: fn(&PolicyOutcome) -> u64| p.iter().map(|o| Some(f(o) as f64)).collect();
    let first_hot = p.first().map(|o| o.hot_node_minutes);
    let change = p
        .iter()
        .map(|o| match first_hot {
            Some(base) if base > 0.0 => Some(o.hot_node_minutes / base - 1.0),
            Some(_) if o.hot_node_minutes == 0.0 => Some(0.0),
            _ => None,
        })
        .collect();
    let first_name = p.first().map_or("first", |o| o.policy.as_str());
    let row = |group, label: String, help, unit, values| Figure {
        group,
        label,
        help,
        unit,
        values,
        ranked: true,
    };
    vec![
        row(
            "Load",
            format!("hot node-min (CPU > {})", percent_short(report.trace.hot)),
            "Node-minutes with CPU usage above the hot threshold of allocatable",
            Unit::Number,
            of(|o| o.hot_node_minutes),
        ),
        Figure {
            ranked: false,
            ..row(
                "Load",
                shorten(&format!("  vs {first_name}"), 25),
                "Hot node-minutes relative to the first policy",
                Unit::Change,
                change,
            )
        },
        row(
            "Load",
            "memory-pressure node-min".to_string(),
            "Node-minutes with memory usage above 90% of allocatable",
            Unit::Number,
            of(|o| o.memory_pressure_node_minutes),
        ),
        row(
            "Load",
            "node CPU p95".to_string(),
            "95th percentile of node CPU utilization over every node-minute",
            Unit::Percent,
            of(|o| o.node_cpu_p95),
        ),
        row(
            "Load",
            "node CPU p99".to_string(),
            "99th percentile of node CPU utilization over every node-minute",
            Unit::Percent,
            of(|o| o.node_cpu_p99),
        ),
        row(
            "Load",
            "CPU spread (std-dev)".to_string(),
            "Mean over time of the standard deviation of node CPU utilization",
            Unit::Points,
            of(|o| o.cpu_spread),
        ),
        row(
            "Disruption",
            "evictions".to_string(),
            "Pods evicted",
            Unit::Count,
            count(|o| o.evictions),
        ),
        row(
            "Disruption",
            "evictions / relieved node".to_string(),
            "Evictions per node relieved (a node-run with at least one eviction)",
            Unit::Number,
            p.iter().map(|o| o.evictions_per_relieved_node).collect(),
        ),
        row(
            "Disruption",
            "repeated moves (< 1h)".to_string(),
            "Evictions of a workload less than an hour after its previous one",
            Unit::Count,
            count(|o| o.repeated_moves),
        ),
        row(
            "Service",
            "pending pod-minutes".to_string(),
            "Pod-minutes spent pending",
            Unit::Number,
            of(|o| o.pending_pod_minutes),
        ),
        row(
            "Service",
            "under-provisioned minutes".to_string(),
            "Minutes an HPA workload's demand was above its serving capacity, summed over workloads",
            Unit::Number,
            of(|o| o.underprovisioned_minutes),
        ),
        row(
            "Service",
            "OOM kills".to_string(),
            "Containers killed for memory above their limit",
            Unit::Count,
            count(|o| o.oom_kills),
        ),
        row(
            "Service",
            "throttled core-minutes".to_string(),
            "CPU demand above limits, throttled away",
            Unit::Number,
            of(|o| o.throttled_core_minutes),
        ),
        row(
            "Capacity",
            "replica-hours".to_string(),
            "Replica-hours run",
            Unit::Number,
            of(|o| o.replica_hours),
        ),
        row(
            "Capacity",
            "node-hours".to_string(),
            "Node-hours run",
            Unit::Number,
            of(|o| o.node_hours),
        ),
    ]
}

/// One line about the trace: `48 nodes, 120 workloads, 900 pods, 3d at 1m steps, seed 42, hot above 80% CPU`.
pub(crate) fn trace_line(report: &Report) -> String {
    let t = &report.trace;
    format!(
        "{} nodes, {} workloads, {} pods, {} at {} steps, seed {}, hot above {} CPU",
        count(t.nodes as u64),
        count(t.workloads as u64),
        count(t.pods as u64),
        duration(t.step_seconds.saturating_mul(t.steps as u64)),
        duration(t.step_seconds),
        t.seed,
        percent_short(t.hot)
    )
}

pub(crate) fn format_value(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Count => number(v),
        Unit::Number => number(v),
        Unit::Percent => format!("{}%", fixed(v * 100.0, 1)),
        Unit::Points => format!("{} pp", fixed(v * 100.0, 1)),
        Unit::Change => change(v),
    }
}

/// `12,345` for a whole number.
pub(crate) fn count(n: u64) -> String {
    group(&n.to_string())
}

/// A quantity, written by size: `12,346`, `123`, `12.3`, `1.23`, `0`, without trailing zeros.
pub(crate) fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    let decimals = if a >= 99.5 {
        0
    } else if a >= 9.995 {
        1
    } else {
        2
    };
    let text = fixed(v, decimals);
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    if text == "-0" { "0".to_string() } else { text }
}

/// `v` to `decimals` decimals with the integer part grouped by thousands.
fn fixed(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let text = format!("{:.*}", decimals, v.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let sign = if v < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    if fraction.is_empty() {
        format!("{sign}{}", group(whole))
    } else {
        format!("{sign}{}.{fraction}", group(whole))
    }
}

fn group(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A relative change: `-62%`, `+5%`, `0%`, `-0.4%`.
fn change(v: f64) -> String {
    let pct = v * 100.0;
    let text = if pct.abs() < 0.05 {
        return "0%".to_string();
    } else if pct.abs() < 9.95 {
        fixed(pct, 1)
    } else {
        fixed(pct, 0)
    };
    if pct > 0.0 {
        format!("+{text}%")
    } else {
        format!("{text}%")
    }
}

/// A fraction as a short percentage: `80%`, `72.5%`.
pub(crate) fn percent_short(fraction: f64) -> String {
    format!("{}%", number(fraction * 100.0))
}

/// At most `max` characters, with an ellipsis when cut.
pub(crate) fn shorten(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        return name.to_string();
    }
    let mut out: String = name.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A duration, largest units first: `3d`, `1d 6h`, `1h 30m`, `45s`.
pub(crate) fn duration(seconds: u64) -> String {
    if seconds == 0 {
        return "0s".to_string();
    }
    let parts = [
        (seconds / 86_400, "d"),
        (seconds % 86_400 / 3_600, "h"),
        (seconds % 3_600 / 60, "m"),
        (seconds % 60, "s"),
    ];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_by_size() {
        assert_eq!(number(23.999_999), "24");
        assert_eq!(number(1_234_567.4), "1,234,567");
        assert_eq!(number(123.4), "123");
        assert_eq!(number(12.34), "12.3");
        assert_eq!(number(12.0), "12");
        assert_eq!(number(1.234), "1.23");
        assert_eq!(number(0.0001), "0");
        assert_eq!(number(-0.0001), "0");
        assert_eq!(number(-1234.0), "-1,234");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(999), "999");
    }

    #[test]
    fn percentages_and_changes() {
        assert_eq!(format_value(0.239_999_9, Unit::Percent), "24.0%");
        assert_eq!(format_value(1.125, Unit::Percent), "112.5%");
        assert_eq!(format_value(0.124, Unit::Points), "12.4 pp");
        assert_eq!(change(-0.6234), "-62%");
        assert_eq!(change(0.05), "+5.0%");
        assert_eq!(change(0.0), "0%");
        assert_eq!(change(-0.004), "-0.4%");
        assert_eq!(percent_short(0.8), "80%");
        assert_eq!(percent_short(0.725), "72.5%");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(3 * 86_400), "3d");
        assert_eq!(duration(60), "1m");
        assert_eq!(duration(90_000), "1d 1h");
        assert_eq!(duration(5_400), "1h 30m");
        assert_eq!(duration(30), "30s");
    }

    #[test]
    fn floats_are_rounded_to_four_decimals() {
        assert_eq!(round4(0.873_456_7), 0.8735);
        assert_eq!(round4(23.999_999_9), 24.0);
        let mut v = serde_json::json!({"a": [0.123_456, 7], "b": {"c": 1.000_000_1}});
        round_floats(&mut v);
        assert_eq!(v.to_string(), r#"{"a":[0.1235,7],"b":{"c":1.0}}"#);
    }
}
