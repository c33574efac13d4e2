//! Markdown for a review: summary and warnings first, then the top-N tables.

use std::fmt::Write as _;

use super::{Summary, period, tables};
use crate::Report;

pub fn render(report: &Report, top: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Cluster cost report\n\n{}\n", period(report));
    let _ = writeln!(out, "## Summary\n\n| | |\n|---|---|");
    for (k, v) in Summary::of(report).rows {
        let _ = writeln!(out, "| {k} | {} |", cell(&v));
    }
    if !report.warnings.is_empty() {
        let _ = writeln!(out, "\n## Warnings\n");
        for w in &report.warnings {
            let _ = writeln!(out, "- {w}");
        }
    }
    for t in tables::all(report, top) {
        let _ = writeln!(out, "\n## {}\n", t.title);
        if t.rows.is_empty() {
            let _ = writeln!(out, "{}", t.empty);
            continue;
        }
        let _ = writeln!(out, "{}\n", t.note);
        let _ = writeln!(out, "| {} |", t.headers.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(t.headers.len()));
        for row in &t.rows {
            let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        if t.more > 0 {
            let _ = writeln!(out, "\n_{} more rows in the CSV and JSON outputs._", t.more);
        }
    }
    out
}

/// A table cell: pipes would split it.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}
