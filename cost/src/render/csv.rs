//! CSV with every row: containers (OpenCost's export columns plus the workload and node) and
//! one `__idle__` row per node; right-sizing in its own table. Rounded as in JSON.

use std::fmt::Write as _;

use super::{averages, rounded};
use crate::Report;

pub fn allocation(report: &Report) -> String {
    let mut out = String::from(
        "Namespace,ControllerKind,ControllerName,Pod,Container,Node,RunningHours,CPUCoreRequestAverage,CPUCoreUsageAverage,RAMGiBRequestAverage,RAMGiBUsageAverage,CPUCoreHours,RAMGiBHours,CPUCost,RAMCost,TotalCost,CPUEfficiency,RAMEfficiency,TotalEfficiency\n",
    );
    let opt = |v: Option<f64>| v.map_or_else(String::new, |v| rounded::ratio(v).to_string());
    let amount = |v: f64| rounded::amount(v).to_string();
    let money = |v: f64| rounded::money(v).to_string();
    for c in &report.allocation.containers {
        let u = &c.usage;
        let avg = averages(u, u.running_hours);
        let fields = [
            field(&c.key.namespace),
            field(&c.workload.kind),
            field(&c.workload.name),
            field(&c.key.pod),
            field(&c.key.container),
            field(c.node.as_deref().unwrap_or("")),
            rounded::hours(u.running_hours).to_string(),
            amount(avg.cpu_request),
            amount(avg.cpu_usage),
            amount(avg.memory_request_gib),
            amount(avg.memory_usage_gib),
            amount(u.cpu_core_hours),
            amount(u.memory_gib_hours),
            money(u.cpu_cost),
            money(u.memory_cost),
            money(u.total_cost()),
            opt(u.cpu_efficiency()),
            opt(u.memory_efficiency()),
            opt(u.efficiency()),
        ];
        let _ = writeln!(out, "{}", fields.join(","));
    }
    for n in &report.allocation.nodes {
        let _ = writeln!(
            out,
            "__idle__,,,,,{},{},,,,,{},{},{},{},{},,,",
            field(&n.name),
            rounded::hours(n.hours),
            amount(n.cpu_core_hours - n.allocated.cpu_core_hours),
            amount(n.memory_gib_hours - n.allocated.memory_gib_hours),
            money(n.cpu_cost - n.allocated.cpu_cost),
            money(n.memory_cost - n.allocated.memory_cost),
            money(n.idle_cost()),
        );
    }
    out
}

pub fn rightsizing(report: &Report) -> String {
    let mut out = String::from(
        "Namespace,ControllerKind,ControllerName,Container,Replicas,CPURequest,CPUUsagePercentile,CPURecommended,RAMBytesRequest,RAMBytesUsagePercentile,RAMBytesRecommended,RAMBytesLimit,CPUMonthlySaving,RAMMonthlySaving,MonthlySaving,Risks\n",
    );
    let amount = |v: f64| rounded::amount(v).to_string();
    let bytes = |v: f64| v.round().to_string();
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or_else(String::new, f);
    let money = |v: f64| rounded::money(v).to_string();
    for r in &report.rightsizing {
        let fields = [
            field(&r.workload.namespace),
            field(&r.workload.kind),
            field(&r.workload.name),
            field(&r.container),
            amount(r.replicas),
            opt(r.cpu_request, &amount),
            amount(r.cpu_usage_percentile),
            amount(r.cpu_recommended),
            opt(r.memory_request, &bytes),
            bytes(r.memory_usage_percentile),
            bytes(r.memory_recommended),
            opt(r.memory_limit, &bytes),
            money(r.cpu_monthly_saving),
            money(r.memory_monthly_saving),
            money(r.monthly_saving()),
            field(&r.risks.join("; ")),
        ];
        let _ = writeln!(out, "{}", fields.join(","));
    }
    out
}

/// RFC 4180 quoting when needed.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}
