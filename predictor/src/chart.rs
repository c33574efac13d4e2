//! Self-contained SVG charts of history and forecast bands, one panel per target.
//!
//! Hand-written because a chart here is a few polylines and polygons: a plotting crate would
//! bring font rasterisation and dozens of dependencies for what a browser draws natively.

use std::fmt::Write as _;

use crate::forecast::Forecast;
use crate::plan::{Plan, rfc3339};
use crate::series::Series;

const WIDTH: f64 = 960.0;
const PANEL_HEIGHT: f64 = 240.0;
const MARGIN_LEFT: f64 = 70.0;
const MARGIN_RIGHT: f64 = 20.0;
const MARGIN_TOP: f64 = 30.0;
const MARGIN_BOTTOM: f64 = 30.0;

/// One target's chart: recent history, then the forecast bands and the capacity the
/// pre-scaling plan holds, if there is one.
pub struct Panel<'a> {
    pub title: &'a str,
    pub unit: &'a str,
    pub history: &'a Series,
    pub forecast: &'a Forecast,
    pub plan: Option<&'a Plan>,
}

const PLAN_COLOR: &str = "#2ca02c";

/// An HTML page holding every panel's SVG, viewable offline.
pub fn html(title: &str, panels: &[Panel<'_>]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}</style></head><body>\n<h1>{t}</h1>\n\
         <p>History (blue), forecast p50 (orange line), p50–p90 and p90–p99 bands (shaded); \
         the dashed line is the end of the history. Where a pre-scaling rule applies, the green \
         steps are the capacity its plan holds (replicas or nodes × what one carries); hover a \
         step for its count.</p>\n{svg}</body></html>\n",
        t = escape(title),
        svg = svg(panels),
    );
    out
}

/// All panels stacked in one SVG document.
pub fn svg(panels: &[Panel<'_>]) -> String {
    let height = PANEL_HEIGHT * panels.len().max(1) as f64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"11\">"
    );
    for (i, panel) in panels.iter().enumerate() {
        let _ = writeln!(
            out,
            "<g transform=\"translate(0,{})\">",
            i as f64 * PANEL_HEIGHT
        );
        draw_panel(&mut out, panel);
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

/// Maps times and values to pixel coordinates inside a panel.
struct Frame {
    t0: f64,
    t1: f64,
    y_max: f64,
}

impl Frame {
    fn x(&self, t: i64) -> f64 {
        let span = (self.t1 - self.t0).max(1.0);
        MARGIN_LEFT + (t as f64 - self.t0) / span * (WIDTH - MARGIN_LEFT - MARGIN_RIGHT)
    }

    fn y(&self, v: f64) -> f64 {
        let plot = PANEL_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
        MARGIN_TOP + plot - (v / self.y_max).clamp(0.0, 1.05) * plot
    }
}

fn draw_panel(out: &mut String, panel: &Panel<'_>) {
    let f = panel.forecast;
    let history: Vec<(i64, f64)> = panel
        .history
        .timestamps()
        .zip(panel.history.values.iter().copied())
        .collect();
    let forecast_times: Vec<i64> = (0..f.p50.len()).map(|i| f.time_at(i)).collect();
    let t0 = history.first().map_or(f.start, |(t, _)| *t);
    let t1 = forecast_times
        .last()
        .copied()
        .unwrap_or(f.start)
        .max(t0 + 1);
    let held = panel.plan.into_iter().flat_map(|p| {
        p.slots
            .iter()
            .map(move |s| f64::from(s.replicas) * p.unit_capacity)
    });
    let y_max = history
        .iter()
        .map(|(_, v)| *v)
        .chain(f.p99.iter().copied())
        .chain(held)
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let frame = Frame {
        t0: t0 as f64,
        t1: t1 as f64,
        y_max: nice_ceiling(y_max),
    };
    let _ = writeln!(
        out,
        "<text x=\"{MARGIN_LEFT}\" y=\"18\" font-size=\"13\" font-weight=\"bold\">{}</text>",
        escape(panel.title)
    );
    draw_axes(out, &frame, panel.unit);
    let band = |low: &[f64], high: &[f64], fill: &str, out: &mut String| {
        let upper = forecast_times.iter().zip(high).map(|(t, v)| (*t, *v));
        let lower = forecast_times.iter().zip(low).rev().map(|(t, v)| (*t, *v));
        let points = points(&frame, upper.chain(lower));
        let _ = writeln!(
            out,
            "<polygon points=\"{points}\" fill=\"{fill}\" stroke=\"none\"/>"
        );
    };
    band(&f.p90, &f.p99, "#fde0c5", out);
    band(&f.p50, &f.p90, "#fbb77a", out);
    polyline(out, &frame, history.iter().copied(), "#1f77b4");
    polyline(
        out,
        &frame,
        forecast_times.iter().copied().zip(f.p50.iter().copied()),
        "#d95f02",
    );
    if let Some(plan) = panel.plan {
        draw_plan(out, &frame, plan, panel.unit);
    }
    let x = frame.x(f.start);
    let _ = writeln!(
        out,
        "<line x1=\"{x:.1}\" y1=\"{MARGIN_TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#555\" \
         stroke-dasharray=\"4 3\"/>",
        PANEL_HEIGHT - MARGIN_BOTTOM
    );
}

/// The plan's held capacity as a step line, one hoverable segment per slot.
fn draw_plan(out: &mut String, frame: &Frame, plan: &Plan, unit: &str) {
    let mut previous: Option<f64> = None;
    for slot in &plan.slots {
        let held = f64::from(slot.replicas) * plan.unit_capacity;
        let (x0, x1, y) = (frame.x(slot.start), frame.x(slot.end), frame.y(held));
        if let Some(py) = previous {
            let _ = writeln!(
                out,
                "<line x1=\"{x0:.1}\" y1=\"{py:.1}\" x2=\"{x0:.1}\" y2=\"{y:.1}\" stroke=\"{PLAN_COLOR}\" stroke-width=\"1.5\"/>"
            );
        }
        let count = match (slot.replicas, plan.unit) {
            (1, unit) => format!("1 {}", unit.to_string().trim_end_matches('s')),
            (n, unit) => format!("{n} {unit}"),
        };
        let _ = writeln!(
            out,
            "<line x1=\"{x0:.1}\" y1=\"{y:.1}\" x2=\"{x1:.1}\" y2=\"{y:.1}\" stroke=\"{PLAN_COLOR}\" stroke-width=\"2\"><title>{} to {}: {count}, holding {} {}</title></line>",
            time_label(slot.start),
            time_label(slot.end),
            format_value(held),
            escape(unit)
        );
        previous = Some(y);
    }
}

fn draw_axes(out: &mut String, frame: &Frame, unit: &str) {
    let bottom = PANEL_HEIGHT - MARGIN_BOTTOM;
    for i in 0..=4 {
        let v = frame.y_max * f64::from(i) / 4.0;
        let y = frame.y(v);
        let _ = writeln!(
            out,
            "<line x1=\"{MARGIN_LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#e5e5e5\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - MARGIN_RIGHT,
            MARGIN_LEFT - 6.0,
            y + 4.0,
            format_value(v)
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"12\" y=\"{:.1}\" transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">{}</text>",
        PANEL_HEIGHT / 2.0,
        PANEL_HEIGHT / 2.0,
        escape(unit)
    );
    let span = frame.t1 - frame.t0;
    let tick = [3600.0, 6.0 * 3600.0, 86_400.0, 7.0 * 86_400.0]
        .into_iter()
        .find(|tick| span / tick <= 10.0)
        .unwrap_or(30.0 * 86_400.0);
    let mut t = (frame.t0 / tick).ceil() * tick;
    for _ in 0..12 {
        if t > frame.t1 {
            break;
        }
        let x = frame.x(t as i64);
        // A label centred on the right edge would be cut off: anchor it at its end there.
        let anchor = if x > WIDTH - MARGIN_RIGHT - 30.0 {
            "end"
        } else {
            "middle"
        };
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{MARGIN_TOP}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"#f0f0f0\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            bottom + 16.0,
            time_label(t as i64)
        );
        t += tick;
    }
}

fn polyline(out: &mut String, frame: &Frame, data: impl Iterator<Item = (i64, f64)>, color: &str) {
    // Missing samples break the line rather than being drawn as zero.
    let mut segment = Vec::new();
    let flush = |segment: &mut Vec<(i64, f64)>, out: &mut String| {
        if segment.len() > 1 {
            let _ = writeln!(
                out,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.3\"/>",
                points(frame, segment.drain(..))
            );
        }
        segment.clear();
    };
    for (t, v) in data {
        if v.is_finite() {
            segment.push((t, v));
        } else {
            flush(&mut segment, out);
        }
    }
    flush(&mut segment, out);
}

fn points(frame: &Frame, data: impl Iterator<Item = (i64, f64)>) -> String {
    let mut out = String::new();
    for (t, v) in data.filter(|(_, v)| v.is_finite()) {
        let _ = write!(out, "{:.1},{:.1} ", frame.x(t), frame.y(v));
    }
    out.pop();
    out
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `v`, so axis ticks are round numbers.
fn nice_ceiling(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * magnitude)
}

/// A compact axis label: `1.5k`, `2.3M`, `0.25`.
pub fn format_value(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// `MM-DD HH:MM` in UTC.
fn time_label(t: i64) -> String {
    let text = rfc3339(t).unwrap_or_else(|| t.to_string());
    text.get(5..16)
        .map_or(text.clone(), |s| s.replace('T', " "))
}

/// Escapes text for XML content and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(10.0), 10.0);
        assert_eq!(nice_ceiling(0.013), 0.02);
        assert_eq!(nice_ceiling(f64::NAN), 1.0);
    }

    #[test]
    fn labels() {
        assert_eq!(time_label(86_400 + 3600 * 5 + 60 * 7), "01-02 05:07");
        assert_eq!(format_value(1500.0), "1.5k");
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
