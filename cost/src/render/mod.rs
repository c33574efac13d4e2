//! Report outputs. Amounts are rounded here and only here, each from the exact figure: a
//! total can differ from the sum of its rounded rows by up to half a cent per row.

pub mod csv;
pub mod html;
pub mod json;
pub mod markdown;
mod svg;
mod tables;

use super::Report;
use super::allocate::Usage;
use super::prices::GIB;

/// The output formats of `tidal cost-report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
    Csv,
    Json,
}

/// Renders `report` in `format`; CSV here is the allocation table (see [`csv::rightsizing`]).
pub fn render(report: &Report, format: Format, top: usize) -> serde_json::Result<String> {
    Ok(match format {
        Format::Markdown => markdown::render(report, top),
        Format::Html => html::render(report, top),
        Format::Csv => csv::allocation(report),
        Format::Json => json::render(report)?,
    })
}

/// Rounding for the machine-readable outputs (JSON, CSV).
pub mod rounded {
    fn to(v: f64, decimals: i32) -> f64 {
        let f = 10f64.powi(decimals);
        // `+ 0.0` turns a rounded -0.0 into 0.0.
        (v * f).round() / f + 0.0
    }

    /// To the cent.
    pub fn money(v: f64) -> f64 {
        to(v, 2)
    }

    /// Prices per resource-hour are fractions of a cent.
    pub fn price(v: f64) -> f64 {
        to(v, 6)
    }

    /// 4 decimals of an hour: a third of a second.
    pub fn hours(v: f64) -> f64 {
        to(v, 4)
    }

    /// Cores, GiB, resource-hours and replicas.
    pub fn amount(v: f64) -> f64 {
        to(v, 4)
    }

    /// Efficiencies and shares.
    pub fn ratio(v: f64) -> f64 {
        to(v, 4)
    }
}

/// `$1,234.56`; negative amounts as `-$12.00`.
pub fn money(currency: &str, amount: f64) -> String {
    let cents = (amount.abs() * 100.0).round() as u128;
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let sign = if amount < 0.0 && cents > 0 { "-" } else { "" };
    format!("{sign}{currency}{grouped}.{:02}", cents % 100)
}

pub fn percent(fraction: Option<f64>) -> String {
    fraction.map_or_else(|| "n/a".to_string(), |f| format!("{:.0}%", f * 100.0))
}

/// Cores to 3 decimals, e.g. `0.250`.
pub fn cores(c: f64) -> String {
    format!("{c:.3}")
}

/// GiB to 2 decimals.
pub fn gib(bytes: f64) -> String {
    format!("{:.2}Gi", bytes / GIB)
}

/// Average requested and used cores and GiB over the hours the rows ran.
pub struct Averages {
    pub cpu_request: f64,
    pub cpu_usage: f64,
    pub memory_request_gib: f64,
    pub memory_usage_gib: f64,
}

/// Averages over `hours` (the window for groups, running hours for a container).
pub fn averages(u: &Usage, hours: f64) -> Averages {
    let per = |v: f64| if hours > 0.0 { v / hours } else { 0.0 };
    Averages {
        cpu_request: per(u.cpu_core_hours_request),
        cpu_usage: per(u.cpu_core_hours_usage),
        memory_request_gib: per(u.memory_gib_hours_request),
        memory_usage_gib: per(u.memory_gib_hours_usage),
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM UTC` (civil-from-days, no time-zone database needed).
pub fn utc(unix: f64) -> String {
    let secs = unix.floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// The headline figures every human-readable format starts with.
pub struct Summary {
    pub rows: Vec<(String, String)>,
}

impl Summary {
    pub fn of(report: &Report) -> Self {
        let c = report.currency.as_str();
        let a = &report.allocation;
        let t = &a.total;
        let hours = report.timeline.hours();
        let monthly = if hours > 0.0 {
            t.node_cost / hours * super::prices::HOURS_PER_MONTH
        } else {
            0.0
        };
        let saving: f64 = report
            .rightsizing
            .iter()
            .map(|r| r.monthly_saving())
            .filter(|s| *s > 0.0)
            .sum();
        let cuts = report
            .rightsizing
            .iter()
            .filter(|r| r.monthly_saving() > 0.0)
            .count();
        let mut rows = vec![
            ("Cluster (node) cost".to_string(), money(c, t.node_cost)),
            ("Monthly run rate (730 h)".to_string(), money(c, monthly)),
            (
                "Allocated to workloads".to_string(),
                format!(
                    "{} ({})",
                    money(c, t.allocated_cost),
                    percent(share(t.allocated_cost, t.node_cost))
                ),
            ),
            (
                "Idle".to_string(),
                format!(
                    "{} ({})",
                    money(c, t.idle_cost),
                    percent(Some(t.idle_share))
                ),
            ),
            (
                "Efficiency (cost-weighted)".to_string(),
                format!(
                    "{} (CPU {}, memory {})",
                    percent(t.efficiency),
                    percent(t.cpu_efficiency),
                    percent(t.memory_efficiency)
                ),
            ),
            (
                "Right-sizing saving".to_string(),
                format!(
                    "{} per month from {cuts} container{}",
                    money(c, saving),
                    if cuts == 1 { "" } else { "s" }
                ),
            ),
        ];
        if a.unattributed.total_cost() > 0.0 {
            rows.push((
                "On nodes without capacity data".to_string(),
                money(c, a.unattributed.total_cost()),
            ));
        }
        if let Some(p) = report.prescale.iter().find(|p| p.name == "cluster") {
            rows.push((
                "Pre-scaling saving (cluster)".to_string(),
                format!(
                    "{} ({}) over the window: {:.0} planned vs {:.0} static node-hours",
                    money(c, p.saving()),
                    percent(Some(p.saving_share())),
                    p.planned_unit_hours,
                    p.static_unit_hours
                ),
            ));
        }
        Self { rows }
    }
}

pub(super) fn share(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| part / whole)
}

/// The report's period in words, e.g. `7.0 days (2024-05-01 00:00 UTC to ...), 5-minute steps`.
pub fn period(report: &Report) -> String {
    let tl = report.timeline;
    format!(
        "{:.1} days ({} to {}), {}-second steps, {} Prometheus queries",
        tl.hours() / 24.0,
        utc(tl.start),
        utc(tl.end()),
        tl.step_secs,
        report.queries
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_rounds_to_cents_and_groups_thousands() {
        assert_eq!(money("$", 1234567.891), "$1,234,567.89");
        assert_eq!(money("€", 0.005), "€0.01");
        assert_eq!(money("$", -12.0), "-$12.00");
        assert_eq!(money("$", -0.001), "$0.00");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0.0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_709_164_800.0 + 3_660.0), "2024-02-29 01:01 UTC");
    }
}
