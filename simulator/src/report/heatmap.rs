//! A node × time CPU heatmap as inline SVG.
//!
//! Cells are drawn on a grid of one user unit per cell (a nested `<svg>` stretches it to
//! the plot), one stroked path per colour: a run of equal-colour cells in a row is a
//! single `h` segment, so 1,000 nodes × 300 columns stays a few hundred kilobytes. More than
//! [`MAX_BANDS`] nodes are averaged into bands of consecutive nodes; the chart says so.

use std::fmt::Write as _;

use tidal_predictor::chart::escape;

use super::{count, duration, percent_short, shorten};
use crate::outcome::Heatmap;

/// Rows drawn at most; more nodes are averaged into this many bands.
pub const MAX_BANDS: usize = 120;
/// Colour levels below 100 %, each [`STEP`] wide; one more level for 100 % and above.
const LEVELS: usize = 20;
const STEP: f64 = 1.0 / LEVELS as f64;

const LEFT: f64 = 200.0;
pub const PLOT_WIDTH: f64 = 960.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 46.0;
const BOTTOM: f64 = 36.0;
const PLOT_HEIGHT: f64 = 360.0;
/// Colour of a cell without data (a node absent at that time).
const MISSING: &str = "#b4b4b4";
const OVER: &str = "#2d004b";

/// Colour anchors from 0 % to 100 % CPU.
const ANCHORS: [(f64, [u8; 3]); 6] = [
    (0.0, [0xf7, 0xfc, 0xf0]),
    (0.2, [0xc7, 0xe9, 0xb4]),
    (0.4, [0xfe, 0xd9, 0x76]),
    (0.6, [0xfd, 0x8d, 0x3c]),
    (0.8, [0xe3, 0x1a, 0x1c]),
    (1.0, [0x80, 0x00, 0x26]),
];

/// The colour level of a utilization: `0..LEVELS` by [`STEP`], `LEVELS` from 100 % up.
fn level(v: f32) -> Option<usize> {
    if !v.is_finite() {
        return None;
    }
    let v = f64::from(v).max(0.0);
    Some(((v / STEP).floor() as usize).min(LEVELS))
}

pub fn level_color(level: usize) -> String {
    if level >= LEVELS {
        return OVER.to_string();
    }
    let v = (level as f64 + 0.5) * STEP;
    let i = ANCHORS
        .windows(2)
        .position(|w| v <= w[1].0)
        .unwrap_or(ANCHORS.len() - 2);
    let ((a, ca), (b, cb)) = (ANCHORS[i], ANCHORS[i + 1]);
    let t = ((v - a) / (b - a)).clamp(0.0, 1.0);
    let mix = |k: usize| (f64::from(ca[k]) + (f64::from(cb[k]) - f64::from(ca[k])) * t).round();
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(0) as u8,
        mix(1) as u8,
        mix(2) as u8
    )
}

/// Consecutive nodes drawn as one row.
struct Band {
    /// Indices of the first and last node.
    first: usize,
    last: usize,
    /// Mean utilization per column over the band's nodes; NaN without data.
    values: Vec<f32>,
    /// Mean over every cell with data, and the highest cell.
    mean: Option<f64>,
    peak: Option<f64>,
}

fn bands(heatmap: &Heatmap, columns: usize) -> Vec<Band> {
    let nodes = heatmap.cells.len();
    let count = nodes.min(MAX_BANDS);
    (0..count)
        .map(|b| {
            let (first, end) = (b * nodes / count, (b + 1) * nodes / count);
            let rows = &heatmap.cells[first..end];
            let values = (0..columns)
                .map(|c| {
                    let (sum, n) = rows
                        .iter()
                        .filter_map(|r| r.get(c).copied().filter(|v| v.is_finite()))
                        .fold((0.0_f64, 0_usize), |(s, n), v| (s + f64::from(v), n + 1));
                    if n == 0 {
                        f32::NAN
                    } else {
                        (sum / n as f64) as f32
                    }
                })
                .collect();
            let cells = rows.iter().flatten().copied().filter(|v| v.is_finite());
            let (sum, n, peak) = cells.fold((0.0_f64, 0_usize, None::<f64>), |(s, n, p), v| {
                let v = f64::from(v);
                (s + v, n + 1, Some(p.map_or(v, |p| p.max(v))))
            });
            Band {
                first,
                last: end.saturating_sub(1).max(first),
                values,
                mean: (n > 0).then(|| sum / n as f64),
                peak,
            }
        })
        .collect()
}

/// One policy's heatmap. `column_seconds` is used when the heatmap does not say.
pub fn svg(heatmap: &Heatmap, hot: f64, column_seconds: u64) -> String {
    let columns = heatmap.cells.iter().map(Vec::len).max().unwrap_or(0);
    let nodes = heatmap.cells.len();
    if nodes == 0 || columns == 0 {
        return "<p class=\"note\">No node utilization was recorded.</p>\n".to_string();
    }
    let bands = bands(heatmap, columns);
    let rows = bands.len();
    let row_height = (PLOT_HEIGHT / rows as f64).clamp(2.0, 12.0);
    let plot_height = row_height * rows as f64;
    let width = LEFT + PLOT_WIDTH + RIGHT;
    let height = TOP + plot_height + BOTTOM;
    let name = |i: usize| {
        heatmap
            .nodes
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("row {i}"))
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="heatmap" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-size="11">"#
    );
    let note = if rows < nodes {
        let smallest = nodes / rows;
        let sizes = if nodes.is_multiple_of(rows) {
            smallest.to_string()
        } else {
            format!("{smallest}–{}", smallest + 1)
        };
        format!(
            "{} nodes, averaged into {rows} rows of {sizes} consecutive nodes",
            count(nodes as u64)
        )
    } else {
        format!("{} nodes, one per row", count(nodes as u64))
    };
    let _ = write!(
        s,
        r##"<text x="{LEFT}" y="24" fill="#444">{}</text>"##,
        escape(&note)
    );
    let missing = bands
        .iter()
        .any(|b| b.values.iter().any(|v| !v.is_finite()));
    legend(&mut s, width - RIGHT - 21.0 * 14.0, hot, missing);

    // The cells, one unit each, stretched to the plot.
    let _ = write!(
        s,
        r##"<svg x="{LEFT}" y="{TOP}" width="{PLOT_WIDTH}" height="{plot_height}" viewBox="0 0 {columns} {rows}" preserveAspectRatio="none" shape-rendering="crispEdges"><rect width="{columns}" height="{rows}" fill="{MISSING}"/><g fill="none" stroke-width="1">"##
    );
    for level in 0..=LEVELS {
        let d = path(&bands, level);
        if !d.is_empty() {
            let _ = write!(s, r#"<path stroke="{}" d="{d}"/>"#, level_color(level));
        }
    }
    s.push_str(r#"</g><g fill="transparent">"#);
    for (r, band) in bands.iter().enumerate() {
        let who = if band.first == band.last {
            name(band.first)
        } else {
            format!(
                "{} … {} ({} nodes)",
                name(band.first),
                name(band.last),
                band.last - band.first + 1
            )
        };
        let figure = |v: Option<f64>| v.map_or_else(|| "—".to_string(), whole_percent);
        let _ = write!(
            s,
            r#"<rect y="{r}" width="{columns}" height="1"><title>{}: mean {}, peak {}</title></rect>"#,
            escape(&who),
            figure(band.mean),
            figure(band.peak)
        );
    }
    s.push_str("</g></svg>");
    let _ = write!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{PLOT_WIDTH}" height="{plot_height}" fill="none" stroke="#999" shape-rendering="crispEdges"/>"##
    );

    // Node labels: a few rows, evenly spaced, never closer than 14 px.
    let labels = ((plot_height / 14.0).floor() as usize)
        .clamp(1, 10)
        .min(rows);
    for k in 0..labels {
        let r = if labels == 1 {
            0
        } else {
            (k * (rows - 1) + (labels - 1) / 2) / (labels - 1)
        };
        let y = TOP + (r as f64 + 0.5) * row_height;
        let _ = write!(
            s,
            r##"<line x1="{x1}" y1="{y}" x2="{LEFT}" y2="{y}" stroke="#999"/><text x="{tx}" y="{ty:.1}" text-anchor="end" fill="#333">{}</text>"##,
            escape(&shorten(&name(bands[r].first), 30)),
            x1 = LEFT - 4.0,
            tx = LEFT - 6.0,
            ty = y + 3.5,
        );
    }

    // Time axis: hours or days from the start.
    let column_seconds = if heatmap.column_seconds > 0 {
        heatmap.column_seconds
    } else {
        column_seconds.max(1)
    };
    let total = column_seconds.saturating_mul(columns as u64);
    let step = tick_step(total);
    let axis_y = TOP + plot_height;
    let mut t = 0;
    while t <= total {
        let x = LEFT + PLOT_WIDTH * t as f64 / total as f64;
        let anchor = if t == 0 {
            "start"
        } else if t == total {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{axis_y}" x2="{x:.1}" y2="{y2}" stroke="#999"/><text x="{x:.1}" y="{ty}" text-anchor="{anchor}" fill="#333">{}</text>"##,
            if t == 0 { "0".to_string() } else { duration(t) },
            y2 = axis_y + 4.0,
            ty = axis_y + 16.0,
        );
        t += step;
    }
    let _ = write!(
        s,
        r##"<text x="{x}" y="{y}" text-anchor="end" fill="#666">time from start ({} per column)</text></svg>"##,
        duration(column_seconds),
        x = LEFT + PLOT_WIDTH,
        y = axis_y + 31.0,
    );
    s.push('\n');
    s
}

/// The path of every cell of `level`: a horizontal stroke per run, through the row's middle.
fn path(bands: &[Band], level: usize) -> String {
    let mut d = String::new();
    // Where the pen is: after a run's `h`, its end.
    let mut pen: Option<(usize, usize)> = None;
    for (r, band) in bands.iter().enumerate() {
        let mut c = 0;
        while c < band.values.len() {
            if self::level(band.values[c]) != Some(level) {
                c += 1;
                continue;
            }
            let start = c;
            while c < band.values.len() && self::level(band.values[c]) == Some(level) {
                c += 1;
            }
            let _ = match pen {
                None => write!(d, "M{start} {r}.5h{}", c - start),
                Some((x, y)) => write!(
                    d,
                    "m{} {}h{}",
                    start as i64 - x as i64,
                    r as i64 - y as i64,
                    c - start
                ),
            };
            pen = Some((c, r));
        }
    }
    d
}

/// The colour legend: one swatch per level, 0 % to 100 %+, the hot threshold, and the
/// colour of missing cells when there are any.
fn legend(s: &mut String, x: f64, hot: f64, missing: bool) {
    const SWATCH: f64 = 14.0;
    if missing {
        let _ = write!(
            s,
            r##"<rect x="{rx}" y="16" width="{SWATCH}" height="12" fill="{MISSING}"/><text x="{tx}" y="26" fill="#444">no data</text>"##,
            rx = x - 140.0,
            tx = x - 122.0,
        );
    }
    let _ = write!(
        s,
        r##"<text x="{tx}" y="26" text-anchor="end" fill="#444">node CPU</text>"##,
        tx = x - 8.0
    );
    for level in 0..=LEVELS {
        let _ = write!(
            s,
            r#"<rect x="{sx}" y="16" width="{SWATCH}" height="12" fill="{}"/>"#,
            level_color(level),
            sx = x + level as f64 * SWATCH,
        );
    }
    for (v, label) in [(0.0, "0%"), (0.25, "25%"), (0.5, "50%"), (0.75, "75%")] {
        let lx = x + v / STEP * SWATCH;
        let _ = write!(
            s,
            r##"<text x="{lx}" y="40" text-anchor="middle" fill="#444" font-size="10">{label}</text>"##
        );
    }
    let _ = write!(
        s,
        r##"<text x="{lx}" y="40" text-anchor="middle" fill="#444" font-size="10">100%+</text>"##,
        lx = x + (LEVELS as f64 + 0.5) * SWATCH
    );
    if hot.is_finite() && (0.0..=1.0).contains(&hot) {
        let hx = x + hot / STEP * SWATCH;
        let _ = write!(
            s,
            r##"<line x1="{hx}" y1="12" x2="{hx}" y2="31" stroke="#000" stroke-width="1.5"/><text x="{hx}" y="10" text-anchor="middle" fill="#000" font-size="10">hot {}</text>"##,
            escape(&percent_short(hot))
        );
    }
}

fn whole_percent(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

/// A tick interval giving at most 12 ticks over `total` seconds.
fn tick_step(total: u64) -> u64 {
    const STEPS: [u64; 17] = [
        60, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200, 86_400, 172_800, 604_800,
        1_209_600, 2_592_000, 7_776_000, 31_536_000,
    ];
    STEPS
        .iter()
        .copied()
        .find(|s| total / s <= 12)
        .unwrap_or_else(|| total.div_ceil(12).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heatmap(nodes: usize, columns: usize) -> Heatmap {
        Heatmap {
            nodes: (0..nodes).map(|i| format!("node-{i}")).collect(),
            column_seconds: 900,
            cells: (0..nodes)
                .map(|n| (0..columns).map(|c| ((n + c) % 11) as f32 / 10.0).collect())
                .collect(),
        }
    }

    #[test]
    fn levels_and_colours() {
        assert_eq!(level(0.0), Some(0));
        assert_eq!(level(-0.1), Some(0));
        assert_eq!(level(0.049), Some(0));
        assert_eq!(level(0.05), Some(1));
        assert_eq!(level(0.999), Some(19));
        assert_eq!(level(1.0), Some(20));
        assert_eq!(level(3.0), Some(20));
        assert_eq!(level(f32::NAN), None);
        assert_eq!(level_color(20), OVER);
        let colours: Vec<String> = (0..=LEVELS).map(level_color).collect();
        assert!(colours.iter().all(|c| c.len() == 7 && c.starts_with('#')));
        let mut distinct = colours.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), colours.len());
    }

    #[test]
    fn many_nodes_are_averaged_into_bands() {
        let mut h = heatmap(1_000, 4);
        h.cells[0][0] = f32::NAN;
        let bands = bands(&h, 4);
        assert_eq!(bands.len(), MAX_BANDS);
        assert_eq!(bands[0].first, 0);
        assert_eq!(bands[MAX_BANDS - 1].last, 999);
        let covered: usize = bands.iter().map(|b| b.last - b.first + 1).sum();
        assert_eq!(covered, 1_000);
        assert!(bands.iter().all(|b| b.values.iter().all(|v| v.is_finite())));
        let few = super::bands(&heatmap(3, 2), 2);
        assert_eq!(few.len(), 3);
        assert_eq!(few[1].values, vec![0.1, 0.2]);
    }

    #[test]
    fn runs_become_relative_strokes() {
        let band = |values: Vec<f32>| Band {
            first: 0,
            last: 0,
            values,
            mean: None,
            peak: None,
        };
        let bands = [band(vec![0.5, 0.5, 0.0, 0.5]), band(vec![0.5, f32::NAN])];
        assert_eq!(path(&bands, 10), "M0 0.5h2m1 0h1m-4 1h1");
        assert_eq!(path(&bands, 0), "M2 0.5h1");
        assert_eq!(path(&bands, 3), "");
    }

    #[test]
    fn ticks_stay_few() {
        assert_eq!(tick_step(3 * 86_400), 21_600);
        assert_eq!(tick_step(86_400), 7_200);
        assert_eq!(tick_step(3_600), 300);
        assert_eq!(tick_step(30 * 86_400), 604_800);
    }

    #[test]
    fn svg_is_bounded_and_escaped() {
        let mut h = heatmap(1_000, 300);
        h.nodes[0] = "a<&>b".to_string();
        let s = svg(&h, 0.8, 60);
        assert!(s.contains("a&lt;&amp;&gt;b"));
        assert!(!s.contains("a<&>b"));
        assert!(s.contains("averaged into 120 rows of 8–9"));
        assert!(s.len() < 600_000, "{} bytes", s.len());
    }
}
