//! A self-contained HTML page: summary, warnings, three inline SVG charts and the top-N tables.

use std::fmt::Write as _;

use super::svg::{
    IDLE_COLOR, Layer, TimeAxis, color, escape, paired_bars, share_bar, stacked_columns,
};
use super::{Summary, averages, money, period, tables};
use crate::Report;

/// Namespaces drawn separately in the charts; the rest are summed as "other".
const CHART_NAMESPACES: usize = 8;
/// Columns of the cost-over-time chart, at most.
const MAX_COLUMNS: usize = 168;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}\
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}\
th{background:#f3f3f3}.warn{background:#fff4e5;border-left:4px solid #f28e2b;padding:.5em 1em}\
.note{color:#555;font-size:13px}svg{display:block;margin:.5em 0 1.5em}";

pub fn render(report: &Report, top: usize) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Cluster cost report</title><style>{STYLE}</style></head><body>\n<h1>Cluster cost report</h1><p class=\"note\">{}</p>\n",
        escape(&period(report))
    );
    out.push_str("<h2>Summary</h2><table>");
    for (k, v) in Summary::of(report).rows {
        let _ = write!(
            out,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(&k),
            escape(&v)
        );
    }
    out.push_str("</table>\n");
    if !report.warnings.is_empty() {
        out.push_str("<h2>Warnings</h2><div class=\"warn\"><ul>");
        for w in &report.warnings {
            let _ = write!(out, "<li>{}</li>", escape(w));
        }
        out.push_str("</ul></div>\n");
    }
    out.push_str("<h2>Charts</h2>\n");
    out.push_str(&cost_over_time(report));
    out.push_str(&request_vs_usage(report, top));
    out.push_str(&idle_share(report));
    for t in tables::all(report, top) {
        let _ = write!(out, "<h2>{}</h2>", escape(&t.title));
        if t.rows.is_empty() {
            let _ = writeln!(out, "<p>{}</p>", escape(&t.empty));
            continue;
        }
        let _ = write!(out, "<p class=\"note\">{}</p>", escape(&t.note));
        out.push_str("<table><tr>");
        for h in &t.headers {
            let _ = write!(out, "<th>{}</th>", escape(h));
        }
        out.push_str("</tr>");
        for row in &t.rows {
            out.push_str("<tr>");
            for c in row {
                let _ = write!(out, "<td>{}</td>", escape(c));
            }
            out.push_str("</tr>");
        }
        out.push_str("</table>\n");
        if t.more > 0 {
            let _ = writeln!(
                out,
                "<p class=\"note\">{} more rows in the CSV and JSON outputs.</p>",
                t.more
            );
        }
    }
    out.push_str("</body></html>\n");
    out
}

/// The costliest namespaces by name, in cost order.
fn top_namespaces(report: &Report) -> Vec<&str> {
    report
        .allocation
        .namespaces
        .iter()
        .take(CHART_NAMESPACES)
        .map(|g| g.key.as_str())
        .collect()
}

fn cost_over_time(report: &Report) -> String {
    let a = &report.allocation;
    let steps = report.timeline.steps;
    let per = steps.div_ceil(MAX_COLUMNS).max(1);
    let bucket = |track: &dyn Fn(usize) -> f64| -> Vec<f64> {
        (0..steps)
            .step_by(per)
            .map(|s| (s..(s + per).min(steps)).map(track).sum())
            .collect()
    };
    let top = top_namespaces(report);
    let mut layers: Vec<Layer> = top
        .iter()
        .enumerate()
        .map(|(i, ns)| Layer {
            name: ns,
            color: color(i),
            values: bucket(&|s| a.over_time.namespaces.get(*ns).map_or(0.0, |t| t[s])),
        })
        .collect();
    let others: Vec<&Vec<f64>> = a
        .over_time
        .namespaces
        .iter()
        .filter(|(ns, _)| !top.contains(&ns.as_str()))
        .map(|(_, t)| t)
        .collect();
    if !others.is_empty() {
        layers.push(Layer {
            name: "other namespaces",
            color: color(CHART_NAMESPACES),
            values: bucket(&|s| others.iter().map(|t| t[s]).sum()),
        });
    }
    layers.push(Layer {
        name: "idle",
        color: IDLE_COLOR,
        values: bucket(&|s| a.over_time.idle[s]),
    });
    let tl = report.timeline;
    let hours = per as f64 * tl.step_hours();
    let c = report.currency.clone();
    stacked_columns(
        "Cost over time by namespace, plus idle",
        &layers,
        TimeAxis {
            start: tl.start,
            bucket_secs: per as f64 * tl.step_secs,
        },
        &format!("{} per {hours:.1} h column", c.trim()),
        &|v| money(&c, v),
    )
}

fn request_vs_usage(report: &Report, top: usize) -> String {
    let hours = report.timeline.hours();
    let workloads = &report.allocation.workloads;
    let rows = |memory: bool| -> Vec<(String, f64, f64)> {
        workloads
            .iter()
            .take(top)
            .map(|g| {
                let avg = averages(&g.usage, hours);
                let label = format!("{}/{}", g.key.namespace, g.key.name);
                if memory {
                    (label, avg.memory_request_gib, avg.memory_usage_gib)
                } else {
                    (label, avg.cpu_request, avg.cpu_usage)
                }
            })
            .collect()
    };
    let names = ("requested", "used");
    paired_bars(
        "CPU requested vs used, costliest workloads",
        &rows(false),
        names,
        "cores, averaged over the window",
        &|v| format!("{v:.2} cores"),
    ) + &paired_bars(
        "Memory requested vs used, costliest workloads",
        &rows(true),
        names,
        "GiB, averaged over the window",
        &|v| format!("{v:.2} GiB"),
    )
}

fn idle_share(report: &Report) -> String {
    let a = &report.allocation;
    let top = top_namespaces(report);
    let mut parts: Vec<(String, &str, f64)> = top
        .iter()
        .enumerate()
        .filter_map(|(i, ns)| {
            let g = a.namespaces.iter().find(|g| g.key == *ns)?;
            Some((
                ns.to_string(),
                color(i),
                g.usage.total_cost() - unattributed_share(report, ns),
            ))
        })
        .collect();
    let shown: f64 = parts.iter().map(|p| p.2).sum();
    let rest = a.total.allocated_cost - shown;
    if rest > 0.005 {
        parts.push((
            "other namespaces".to_string(),
            color(CHART_NAMESPACES),
            rest,
        ));
    }
    parts.push(("idle".to_string(), IDLE_COLOR, a.total.idle_cost));
    let c = report.currency.clone();
    share_bar(
        &format!(
            "Share of the cluster cost: {:.0}% idle",
            a.total.idle_share * 100.0
        ),
        &parts,
        &|v| money(&c, v),
    )
}

/// The part of a namespace's cost on nodes without capacity data, which the node bill omits.
fn unattributed_share(report: &Report, namespace: &str) -> f64 {
    let nodes: Vec<&str> = report
        .allocation
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    report
        .allocation
        .containers
        .iter()
        .filter(|c| c.key.namespace == namespace)
        .filter(|c| c.node.as_deref().is_none_or(|n| !nodes.contains(&n)))
        .map(|c| c.usage.total_cost())
        .sum()
}
