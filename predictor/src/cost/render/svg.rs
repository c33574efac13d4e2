//! Hand-written inline SVG charts: no script, no external file, so the HTML page stays
//! self-contained and renders the same in any browser or mail client.

use std::fmt::Write as _;

pub use crate::chart::escape;

const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#86bcb6",
];
pub const IDLE_COLOR: &str = "#bab0ac";

pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// A named series of a chart and its colour.
pub struct Layer<'a> {
    pub name: &'a str,
    pub color: &'a str,
    pub values: Vec<f64>,
}

const WIDTH: f64 = 900.0;

/// Columns stacked from the bottom, one per bucket; `x_labels` under the first and last.
pub fn stacked_columns(
    title: &str,
    layers: &[Layer],
    x_labels: (&str, &str),
    unit: &dyn Fn(f64) -> String,
) -> String {
    let (height, left, bottom, top) = (260.0, 70.0, 30.0, 10.0);
    let buckets = layers.iter().map(|l| l.values.len()).max().unwrap_or(0);
    let totals: Vec<f64> = (0..buckets)
        .map(|i| {
            layers
                .iter()
                .map(|l| l.values.get(i).copied().unwrap_or(0.0).max(0.0))
                .sum()
        })
        .collect();
    let max = totals
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let plot_w = WIDTH - left - 10.0;
    let plot_h = height - bottom - top;
    let bar_w = plot_w / buckets.max(1) as f64;
    let mut s = open(title, height + legend_height(layers.len()));
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{y}" x2="{x2}" y2="{y}" stroke="#888"/><text x="{tx}" y="{ty}" text-anchor="end" font-size="11">{max_label}</text><text x="{tx}" y="{y}" text-anchor="end" font-size="11">0</text>"##,
        y = top + plot_h,
        x2 = left + plot_w,
        tx = left - 4.0,
        ty = top + 10.0,
        max_label = escape(&unit(max)),
    );
    for i in 0..buckets {
        let mut y = top + plot_h;
        for l in layers {
            let v = l.values.get(i).copied().unwrap_or(0.0).max(0.0);
            let h = v / max * plot_h;
            if h <= 0.0 {
                continue;
            }
            y -= h;
            let _ = write!(
                s,
                r#"<rect x="{:.2}" y="{y:.2}" width="{:.2}" height="{h:.2}" fill="{}"><title>{}: {}</title></rect>"#,
                left + i as f64 * bar_w,
                bar_w.max(0.5),
                l.color,
                escape(l.name),
                escape(&unit(v))
            );
        }
    }
    let _ = write!(
        s,
        r#"<text x="{left}" y="{ly}" font-size="11">{}</text><text x="{rx}" y="{ly}" font-size="11" text-anchor="end">{}</text>"#,
        escape(x_labels.0),
        escape(x_labels.1),
        ly = height - 10.0,
        rx = left + plot_w,
    );
    legend(&mut s, layers.iter().map(|l| (l.name, l.color)), height);
    s.push_str("</svg>");
    s
}

/// Two bars per row (e.g. requested and used), labelled on the left.
pub fn paired_bars(
    title: &str,
    rows: &[(String, f64, f64)],
    names: (&str, &str),
    unit: &dyn Fn(f64) -> String,
) -> String {
    let (row_h, left, top) = (26.0, 260.0, 10.0);
    let height = top + rows.len() as f64 * row_h + 10.0;
    let max = rows
        .iter()
        .map(|r| r.1.max(r.2))
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let plot_w = WIDTH - left - 90.0;
    let mut s = open(title, height + legend_height(2));
    for (i, (label, a, b)) in rows.iter().enumerate() {
        let y = top + i as f64 * row_h;
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"#,
            left - 6.0,
            y + 15.0,
            escape(label)
        );
        for (j, (v, c)) in [(*a, color(0)), (*b, color(1))].into_iter().enumerate() {
            let w = (v.max(0.0) / max * plot_w).max(0.5);
            let _ = write!(
                s,
                r#"<rect x="{left}" y="{:.1}" width="{w:.2}" height="10" fill="{c}"><title>{}: {}</title></rect>"#,
                y + 2.0 + j as f64 * 11.0,
                escape(if j == 0 { names.0 } else { names.1 }),
                escape(&unit(v))
            );
        }
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            left + plot_w + 4.0,
            y + 15.0,
            escape(&format!("{} / {}", unit(*a), unit(*b)))
        );
    }
    legend(
        &mut s,
        [(names.0, color(0)), (names.1, color(1))].into_iter(),
        height,
    );
    s.push_str("</svg>");
    s
}

/// One bar split in proportion to `parts` (e.g. namespaces and idle).
pub fn share_bar(
    title: &str,
    parts: &[(String, &str, f64)],
    unit: &dyn Fn(f64) -> String,
) -> String {
    let height = 50.0;
    let total: f64 = parts
        .iter()
        .map(|p| p.2.max(0.0))
        .sum::<f64>()
        .max(f64::MIN_POSITIVE);
    let mut s = open(title, height + legend_height(parts.len()));
    let mut x = 10.0;
    let plot_w = WIDTH - 20.0;
    for (name, c, v) in parts {
        let w = v.max(0.0) / total * plot_w;
        let _ = write!(
            s,
            r#"<rect x="{x:.2}" y="10" width="{w:.2}" height="30" fill="{c}"><title>{}: {} ({:.0}%)</title></rect>"#,
            escape(name),
            escape(&unit(*v)),
            v.max(0.0) / total * 100.0
        );
        x += w;
    }
    legend(
        &mut s,
        parts.iter().map(|(n, c, _)| (n.as_str(), *c)),
        height,
    );
    s.push_str("</svg>");
    s
}

fn open(title: &str, height: f64) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0}" width="{WIDTH}" height="{height:.0}" role="img" aria-label="{t}"><title>{t}</title>"#,
        t = escape(title)
    )
}

const LEGEND_PER_ROW: usize = 5;

fn legend_height(entries: usize) -> f64 {
    entries.div_ceil(LEGEND_PER_ROW) as f64 * 18.0 + 6.0
}

fn legend<'a>(s: &mut String, entries: impl Iterator<Item = (&'a str, &'a str)>, y0: f64) {
    let col = WIDTH / LEGEND_PER_ROW as f64;
    for (i, (name, c)) in entries.enumerate() {
        let x = 10.0 + (i % LEGEND_PER_ROW) as f64 * col;
        let y = y0 + 4.0 + (i / LEGEND_PER_ROW) as f64 * 18.0;
        let _ = write!(
            s,
            r#"<rect x="{x:.1}" y="{y:.1}" width="12" height="12" fill="{c}"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            x + 16.0,
            y + 10.0,
            escape(name)
        );
    }
}
