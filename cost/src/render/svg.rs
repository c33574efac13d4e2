//! Hand-written inline SVG charts: no script, no external file, so the HTML page stays
//! self-contained and renders the same in any browser or mail client.

use std::fmt::Write as _;

pub use tidal_predictor::chart::escape;

use super::utc;

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
/// Room for the visible title above each chart.
const TITLE_HEIGHT: f64 = 26.0;
/// Time ticks under a column chart, at most.
const X_TICKS: usize = 8;

/// Buckets of equal length in time: bucket `i` starts at `start + i × bucket_secs`.
#[derive(Clone, Copy)]
pub struct TimeAxis {
    pub start: f64,
    pub bucket_secs: f64,
}

impl TimeAxis {
    fn at(&self, i: usize) -> f64 {
        self.start + i as f64 * self.bucket_secs
    }

    /// Buckets that start on a round hour or day, at most [`X_TICKS`] of them, with labels.
    fn ticks(&self, buckets: usize) -> Vec<(usize, String)> {
        const HOUR: f64 = 3600.0;
        let span = buckets as f64 * self.bucket_secs;
        let every = [1.0, 3.0, 6.0, 12.0, 24.0, 48.0, 168.0, 720.0]
            .map(|h| h * HOUR)
            .into_iter()
            .find(|e| span / e <= X_TICKS as f64)
            .unwrap_or(span / X_TICKS as f64)
            .max(self.bucket_secs);
        let mut ticks: Vec<(usize, String)> = Vec::new();
        let mut next = (self.start / every).ceil() * every;
        for i in 0..buckets {
            if self.at(i) + self.bucket_secs > next {
                // `2024-12-01 06:00 UTC` shortened to `12-01 06:00`.
                let label = utc(self.at(i));
                ticks.push((i, label.get(5..16).unwrap_or(&label).to_string()));
                next += every
                    * ((self.at(i) + self.bucket_secs - next) / every)
                        .ceil()
                        .max(1.0);
            }
        }
        ticks
    }
}

/// Columns stacked from the bottom, one per time bucket; `y_axis` names the quantity and its
/// unit.
pub fn stacked_columns(
    title: &str,
    layers: &[Layer],
    time: TimeAxis,
    y_axis: &str,
    unit: &dyn Fn(f64) -> String,
) -> String {
    let (height, left, bottom, top) = (280.0, 90.0, 44.0, 10.0);
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
    for q in 0..=4 {
        let v = max * f64::from(q) / 4.0;
        let y = top + plot_h - v / max * plot_h;
        let _ = write!(
            s,
            r##"<line x1="{left}" y1="{y:.1}" x2="{x2}" y2="{y:.1}" stroke="{stroke}"/><text x="{tx}" y="{ty:.1}" text-anchor="end" font-size="11">{label}</text>"##,
            x2 = left + plot_w,
            stroke = if q == 0 { "#888" } else { "#eee" },
            tx = left - 4.0,
            ty = y + 4.0,
            label = escape(&unit(v)),
        );
    }
    let _ = write!(
        s,
        r#"<text x="14" y="{c:.1}" transform="rotate(-90 14 {c:.1})" text-anchor="middle" font-size="11">{}</text>"#,
        escape(y_axis),
        c = top + plot_h / 2.0,
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
                r#"<rect x="{:.2}" y="{y:.2}" width="{:.2}" height="{h:.2}" fill="{}"><title>{} · {}: {}</title></rect>"#,
                left + i as f64 * bar_w,
                bar_w.max(0.5),
                l.color,
                escape(&utc(time.at(i))),
                escape(l.name),
                escape(&unit(v))
            );
        }
    }
    for (i, label) in time.ticks(buckets) {
        let x = left + i as f64 * bar_w;
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{y0:.1}" x2="{x:.1}" y2="{y1:.1}" stroke="#888"/><text x="{x:.1}" y="{ty:.1}" font-size="11" text-anchor="middle">{}</text>"##,
            escape(&label),
            y0 = top + plot_h,
            y1 = top + plot_h + 4.0,
            ty = top + plot_h + 16.0,
        );
    }
    let _ = write!(
        s,
        r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">time (UTC)</text>"#,
        left + plot_w / 2.0,
        height - 8.0,
    );
    legend(&mut s, layers.iter().map(|l| (l.name, l.color)), height);
    close(s)
}

/// Two bars per row (e.g. requested and used), labelled on the left.
pub fn paired_bars(
    title: &str,
    rows: &[(String, f64, f64)],
    names: (&str, &str),
    x_axis: &str,
    unit: &dyn Fn(f64) -> String,
) -> String {
    let (row_h, left, top) = (26.0, 260.0, 10.0);
    let plot_bottom = top + rows.len() as f64 * row_h;
    let height = plot_bottom + 36.0;
    let max = rows
        .iter()
        .map(|r| r.1.max(r.2))
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let plot_w = WIDTH - left - 170.0;
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
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{plot_bottom:.1}" x2="{right:.1}" y2="{plot_bottom:.1}" stroke="#888"/><text x="{left}" y="{ty:.1}" font-size="11">{zero}</text><text x="{right:.1}" y="{ty:.1}" font-size="11" text-anchor="end">{max_label}</text><text x="{mid:.1}" y="{ty:.1}" font-size="11" text-anchor="middle">{axis}</text>"##,
        right = left + plot_w,
        mid = left + plot_w / 2.0,
        ty = plot_bottom + 14.0,
        zero = escape(&unit(0.0)),
        max_label = escape(&unit(max)),
        axis = escape(x_axis),
    );
    legend(
        &mut s,
        [(names.0, color(0)), (names.1, color(1))].into_iter(),
        height,
    );
    close(s)
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
    close(s)
}

/// The chart's frame and its visible title; the body is drawn below the title.
fn open(title: &str, body_height: f64) -> String {
    let height = body_height + TITLE_HEIGHT;
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height:.0}" width="{WIDTH}" height="{height:.0}" role="img" aria-label="{t}"><title>{t}</title><text x="10" y="17" font-size="14" font-weight="bold">{t}</text><g transform="translate(0 {TITLE_HEIGHT})">"#,
        t = escape(title)
    )
}

fn close(mut s: String) -> String {
    s.push_str("</g></svg>");
    s
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
