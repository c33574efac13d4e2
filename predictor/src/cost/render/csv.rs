//! CSV with every row, full precision: containers (OpenCost's export columns plus the
//! workload and node) and one `__idle__` row per node; right-sizing in its own table.

use std::fmt::Write as _;

use super::super::Report;
use super::averages;

pub fn allocation(report: &Report) -> String {
    let mut out = String::from(
        "Namespace,ControllerKind,ControllerName,Pod,Container,Node,RunningHours,CPUCoreRequestAverage,CPUCoreUsageAverage,RAMGiBRequestAverage,RAMGiBUsageAverage,CPUCoreHours,RAMGiBHours,CPUCost,RAMCost,TotalCost,CPUEfficiency,RAMEfficiency,TotalEfficiency\n",
    );
    let opt = |v: Option<f64>| v.map_or_else(String::new, |v| v.to_string());
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
            u.running_hours.to_string(),
            avg.cpu_request.to_string(),
            avg.cpu_usage.to_string(),
            avg.memory_request_gib.to_string(),
            avg.memory_usage_gib.to_string(),
            u.cpu_core_hours.to_string(),
            u.memory_gib_hours.to_string(),
            u.cpu_cost.to_string(),
            u.memory_cost.to_string(),
            u.total_cost().to_string(),
            opt(u.cpu_efficiency()),
            opt(u.memory_efficiency()),
            opt(u.efficiency()),
        ];
        let _ = writeln!(out, "{}", fields.join(","));
    }
    for n in &report.allocation.nodes {
        let idle_cpu = n.cpu_cost - n.allocated.cpu_cost;
        let idle_mem = n.memory_cost - n.allocated.memory_cost;
        let _ = writeln!(
            out,
            "__idle__,,,,,{},{},,,,,{},{},{idle_cpu},{idle_mem},{},,,",
            field(&n.name),
            n.hours,
            n.cpu_core_hours - n.allocated.cpu_core_hours,
            n.memory_gib_hours - n.allocated.memory_gib_hours,
            n.idle_cost(),
        );
    }
    out
}

pub fn rightsizing(report: &Report) -> String {
    let mut out = String::from(
        "Namespace,ControllerKind,ControllerName,Container,Replicas,CPURequest,CPUUsagePercentile,CPURecommended,RAMBytesRequest,RAMBytesUsagePercentile,RAMBytesRecommended,RAMBytesLimit,CPUMonthlySaving,RAMMonthlySaving,MonthlySaving,Risks\n",
    );
    let opt = |v: Option<f64>| v.map_or_else(String::new, |v| v.to_string());
    for r in &report.rightsizing {
        let fields = [
            field(&r.workload.namespace),
            field(&r.workload.kind),
            field(&r.workload.name),
            field(&r.container),
            r.replicas.to_string(),
            opt(r.cpu_request),
            r.cpu_usage_percentile.to_string(),
            r.cpu_recommended.to_string(),
            opt(r.memory_request),
            r.memory_usage_percentile.to_string(),
            r.memory_recommended.to_string(),
            opt(r.memory_limit),
            r.cpu_monthly_saving.to_string(),
            r.memory_monthly_saving.to_string(),
            r.monthly_saving().to_string(),
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
