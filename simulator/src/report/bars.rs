//! Horizontal bars per policy, one panel per figure, the policy names once on the left.

use std::fmt::Write as _;

use tidal_predictor::chart::escape;

use super::{Unit, format_value, shorten};

const WIDTH: f64 = 1180.0;
const LABELS: f64 = 220.0;
const GAP: f64 = 30.0;
/// Room right of the longest bar for its value.
const VALUE_ROOM: f64 = 80.0;
const TOP: f64 = 30.0;
const ROW: f64 = 24.0;
const BAR: f64 = 16.0;

/// One panel: a title, a colour and a value per policy.
pub struct Panel<'a> {
    pub title: &'a str,
    pub color: &'a str,
    pub unit: Unit,
    pub values: Vec<f64>,
}

pub fn svg(names: &[&str], panels: &[Panel<'_>]) -> String {
    let height = TOP + ROW * names.len() as f64 + 8.0;
    let panel_width = (WIDTH - LABELS - GAP * panels.len() as f64) / panels.len().max(1) as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="bars" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-size="12">"#
    );
    for (i, name) in names.iter().enumerate() {
        let _ = write!(
            s,
            r##"<text x="{x}" y="{y}" text-anchor="end" fill="#222">{}</text>"##,
            escape(&shorten(name, 32)),
            x = LABELS - 8.0,
            y = TOP + ROW * i as f64 + ROW / 2.0 + 4.0,
        );
    }
    for (p, panel) in panels.iter().enumerate() {
        let x0 = LABELS + p as f64 * (panel_width + GAP);
        let max = panel
            .values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        let room = panel_width - VALUE_ROOM;
        let _ = write!(
            s,
            r##"<text x="{x0}" y="16" font-weight="bold" fill="#222">{}</text><line x1="{x0}" y1="{TOP}" x2="{x0}" y2="{y2}" stroke="#888"/>"##,
            escape(panel.title),
            y2 = TOP + ROW * names.len() as f64,
        );
        for (i, &v) in panel.values.iter().enumerate() {
            let w = if max > 0.0 && v.is_finite() {
                (v.max(0.0) / max * room).max(0.0)
            } else {
                0.0
            };
            let y = TOP + ROW * i as f64 + (ROW - BAR) / 2.0;
            let text = escape(&format_value(v, panel.unit));
            let _ = write!(
                s,
                r##"<rect x="{x0}" y="{y}" width="{w:.1}" height="{BAR}" fill="{color}"><title>{name}: {text}</title></rect><text x="{tx:.1}" y="{ty}" fill="#222">{text}</text>"##,
                color = panel.color,
                name = escape(names.get(i).copied().unwrap_or("")),
                tx = x0 + w + 5.0,
                ty = y + BAR - 4.0,
            );
        }
    }
    s.push_str("</svg>\n");
    s
}
