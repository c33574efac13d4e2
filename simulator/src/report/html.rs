//! The self-contained HTML page: inline CSS and SVG, no script, nothing fetched.

use std::fmt::Write as _;

use tidal_predictor::chart::escape;

use super::bars::{self, Panel};
use super::{Unit, figures, heatmap, percent_short, trace_line};
use crate::outcome::Report;

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.5em 2em;color:#222;max-width:1200px}\
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;margin:1.6em 0 .4em;border-bottom:1px solid #ddd;padding-bottom:.2em}\
h3{font-size:1.05em;margin:1.2em 0 .2em}.note{color:#555;font-size:13px;margin:.3em 0}\
.trace{font-size:14px;margin:.3em 0}.trace code{background:#f3f3f3;padding:1px 4px;border-radius:3px}\
table.figures{border-collapse:collapse;margin:.5em 0;font-size:13px}\
.figures th,.figures td{border:1px solid #d4d4d4;padding:3px 9px}\
.figures thead th{background:#f3f3f3;vertical-align:bottom;text-align:right}\
.figures tbody th{text-align:left;font-weight:normal;white-space:nowrap}\
.figures td{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
.figures tr.group th{background:#fafafa;font-weight:bold;text-align:left;color:#555}\
.figures td.best{background:#dcf2d6;font-weight:bold}\
.figures th.sub{padding-left:1.6em}svg{display:block;margin:.4em 0 1em;max-width:100%;height:auto}";

pub fn render(report: &Report) -> String {
    let t = &report.trace;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>Tidal simulation: {source}</title><style>{STYLE}</style></head><body>\n\
         <h1>Tidal simulation</h1>\n<p class=\"trace\">Trace <code>{source}</code>: {line}.</p>\n",
        source = escape(&t.source),
        line = escape(&trace_line(report)),
    );
    if report.policies.is_empty() {
        out.push_str("<p>No policy was replayed.</p>\n</body></html>\n");
        return out;
    }
    let names: Vec<&str> = report.policies.iter().map(|p| p.policy.as_str()).collect();

    out.push_str("<h2>Figures</h2>\n");
    let _ = writeln!(
        out,
        "<p class=\"note\">The same demand and starting placement replayed under each policy. \
         Lower is better on every row; the lowest is highlighted. Hover a row name for its meaning.</p>"
    );
    figures_table(&mut out, report, &names);

    out.push_str("<h2>Hot node-minutes and evictions</h2>\n");
    let hot_title = format!("Hot node-minutes (CPU > {})", percent_short(t.hot));
    out.push_str(&bars::svg(
        &names,
        &[
            Panel {
                title: &hot_title,
                color: "#d7301f",
                unit: Unit::Number,
                values: report.policies.iter().map(|p| p.hot_node_minutes).collect(),
            },
            Panel {
                title: "Evictions",
                color: "#4e79a7",
                unit: Unit::Count,
                values: report.policies.iter().map(|p| p.evictions as f64).collect(),
            },
        ],
    ));

    out.push_str("<h2>Node CPU over time</h2>\n");
    let _ = writeln!(
        out,
        "<p class=\"note\">Mean CPU utilization of each node (rows, in the same order for every \
         policy) over time (columns), on one colour scale; black marks the hot threshold on the \
         legend, grey is a node absent at that time. Hover a row for its mean and peak.</p>"
    );
    let fallback = t
        .step_seconds
        .saturating_mul(t.steps as u64)
        .checked_div(
            report
                .policies
                .iter()
                .map(|p| p.heatmap.cells.iter().map(Vec::len).max().unwrap_or(0))
                .max()
                .unwrap_or(0) as u64,
        )
        .unwrap_or(t.step_seconds);
    for policy in &report.policies {
        let _ = writeln!(
            out,
            "<h3>{}</h3><p class=\"note\">hot node-minutes {}, node CPU p95 {}, spread {}</p>",
            escape(&policy.policy),
            escape(&super::format_value(policy.hot_node_minutes, Unit::Number)),
            escape(&super::format_value(policy.node_cpu_p95, Unit::Percent)),
            escape(&super::format_value(policy.cpu_spread, Unit::Points)),
        );
        out.push_str(&heatmap::svg(&policy.heatmap, t.hot, fallback));
    }
    out.push_str("</body></html>\n");
    out
}

fn figures_table(out: &mut String, report: &Report, names: &[&str]) {
    out.push_str("<table class=\"figures\"><thead><tr><th></th>");
    for name in names {
        // Long names may wrap after their separators, never inside a word.
        let breakable = escape(name)
            .replace('-', "-<wbr>")
            .replace('+', "+<wbr>")
            .replace('_', "_<wbr>");
        let _ = write!(out, "<th>{breakable}</th>");
    }
    out.push_str("</tr></thead><tbody>\n");
    let mut group = "";
    for figure in figures(report) {
        if figure.group != group {
            group = figure.group;
            let _ = writeln!(
                out,
                "<tr class=\"group\"><th colspan=\"{}\">{}</th></tr>",
                names.len() + 1,
                escape(group)
            );
        }
        let best = figure.best();
        let sub = if figure.label.starts_with(' ') {
            " class=\"sub\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<tr><th{sub} title=\"{}\">{}</th>",
            escape(figure.help),
            escape(figure.label.trim_start())
        );
        for i in 0..names.len() {
            let class = if best.contains(&i) {
                " class=\"best\""
            } else {
                ""
            };
            let _ = write!(out, "<td{class}>{}</td>", escape(&figure.text(i)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}
