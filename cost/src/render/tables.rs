//! The top-N tables shared by the Markdown and HTML reports.

use super::{averages, cores, money, percent, share};
use crate::Report;
use crate::rightsize::bytes;

pub struct Table {
    pub title: String,
    /// One sentence saying how to read the table.
    pub note: String,
    /// The sentence shown instead when there are no rows.
    pub empty: String,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
    /// Rows not shown (CSV and JSON have them).
    pub more: usize,
}

pub fn all(report: &Report, top: usize) -> Vec<Table> {
    vec![
        namespaces(report, top),
        workloads(report, top),
        nodes(report, top),
        rightsizing(report, top),
        prescale(report),
    ]
}

fn table(
    title: &str,
    note: &str,
    empty: &str,
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    total: usize,
) -> Table {
    Table {
        title: title.to_string(),
        note: note.to_string(),
        empty: empty.to_string(),
        headers,
        more: total.saturating_sub(rows.len()),
        rows,
    }
}

fn namespaces(report: &Report, top: usize) -> Table {
    let c = &report.currency;
    let a = &report.allocation;
    let hours = report.timeline.hours();
    let rows = a
        .namespaces
        .iter()
        .take(top)
        .map(|g| {
            let avg = averages(&g.usage, hours);
            vec![
                g.key.clone(),
                g.pods.to_string(),
                format!("{} / {}", cores(avg.cpu_request), cores(avg.cpu_usage)),
                format!(
                    "{:.2} / {:.2}",
                    avg.memory_request_gib, avg.memory_usage_gib
                ),
                money(c, g.usage.cpu_cost),
                money(c, g.usage.memory_cost),
                money(c, g.usage.total_cost()),
                percent(share(g.usage.total_cost(), a.total.node_cost)),
                percent(g.usage.efficiency()),
            ]
        })
        .collect();
    table(
        "Cost by namespace",
        "Charged max(request, usage) per resource-hour; CPU and memory as average cores and GiB requested / used; share of the cluster cost.",
        "No container ran in the window (kube-state-metrics and cAdvisor returned no container series), so no namespace was charged.",
        vec![
            "Namespace",
            "Pods",
            "CPU req/used",
            "GiB req/used",
            "CPU cost",
            "Memory cost",
            "Total",
            "Share",
            "Efficiency",
        ],
        rows,
        a.namespaces.len(),
    )
}

fn workloads(report: &Report, top: usize) -> Table {
    let c = &report.currency;
    let a = &report.allocation;
    let hours = report.timeline.hours();
    let rows = a
        .workloads
        .iter()
        .take(top)
        .map(|g| {
            let avg = averages(&g.usage, hours);
            vec![
                g.key.namespace.clone(),
                format!("{} {}", g.key.kind, g.key.name),
                g.pods.to_string(),
                format!("{} / {}", cores(avg.cpu_request), cores(avg.cpu_usage)),
                format!(
                    "{:.2} / {:.2}",
                    avg.memory_request_gib, avg.memory_usage_gib
                ),
                money(c, g.usage.total_cost()),
                percent(g.usage.efficiency()),
            ]
        })
        .collect();
    table(
        "Cost by workload",
        "Pods resolved to their Deployment, StatefulSet, DaemonSet, Job or CronJob; efficiency is usage / request, cost-weighted over CPU and memory.",
        "No workload ran in the window, so none was charged.",
        vec![
            "Namespace",
            "Workload",
            "Pods",
            "CPU req/used",
            "GiB req/used",
            "Total",
            "Efficiency",
        ],
        rows,
        a.workloads.len(),
    )
}

fn nodes(report: &Report, top: usize) -> Table {
    let c = &report.currency;
    let a = &report.allocation;
    let mut sorted: Vec<_> = a.nodes.iter().collect();
    sorted.sort_by(|x, y| y.idle_cost().total_cmp(&x.idle_cost()));
    let rows = sorted
        .iter()
        .take(top)
        .map(|n| {
            let kind = format!(
                "{}{}",
                n.price.instance_type.as_deref().unwrap_or("?"),
                if n.price.spot { " (spot)" } else { "" }
            );
            vec![
                n.name.clone(),
                kind,
                n.price.source.clone(),
                money(c, n.total_cost()),
                money(c, n.allocated.total_cost()),
                money(c, n.idle_cost()),
                percent(share(n.idle_cost(), n.total_cost())),
            ]
        })
        .collect();
    table(
        "Nodes and idle cost",
        "Node cost is capacity × price per resource-hour; idle = node cost − what its containers were charged. Highest idle first.",
        "No node capacity series (kube_node_status_allocatable) in the window, so node cost and idle cost are unknown.",
        vec![
            "Node",
            "Type",
            "Price",
            "Cost",
            "Allocated",
            "Idle",
            "Idle share",
        ],
        rows,
        a.nodes.len(),
    )
}

fn rightsizing(report: &Report, top: usize) -> Table {
    let c = &report.currency;
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or_else(|| "none".to_string(), f);
    let rows = report
        .rightsizing
        .iter()
        .take(top)
        .map(|r| {
            vec![
                format!(
                    "{}/{} {} · {}",
                    r.workload.namespace, r.workload.kind, r.workload.name, r.container
                ),
                format!("{:.1}", r.replicas),
                format!(
                    "{} → {}",
                    opt(r.cpu_request, &cores),
                    cores(r.cpu_recommended)
                ),
                format!(
                    "{} → {}",
                    opt(r.memory_request, &bytes),
                    bytes(r.memory_recommended)
                ),
                money(c, r.monthly_saving()),
                if r.risks.is_empty() {
                    "—".to_string()
                } else {
                    r.risks.join("; ")
                },
            ]
        })
        .collect();
    table(
        "Right-sizing",
        "Per replica: current request → recommended (usage percentile × (1 + margin)); saving per month at the window's usage. Savings become real only when nodes are removed: cutting requests first grows idle.",
        "No container has usage history in the window, so there is nothing to right-size.",
        vec![
            "Workload · container",
            "Replicas",
            "CPU cores",
            "Memory",
            "Saving / month",
            "Risks",
        ],
        rows,
        report.rightsizing.len(),
    )
}

fn prescale(report: &Report) -> Table {
    let c = &report.currency;
    let rows: Vec<Vec<String>> = report
        .prescale
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                format!("{:.1} {}s", p.static_units, p.unit),
                format!("{:.0}", p.static_unit_hours),
                format!("{:.0}", p.planned_unit_hours),
                money(c, p.static_cost),
                money(c, p.planned_cost),
                format!(
                    "{} ({})",
                    money(c, p.saving()),
                    percent(Some(p.saving_share()))
                ),
                format!("{} of {}", p.under_provisioned_slots, p.slots),
            ]
        })
        .collect();
    let note = report.prescale.first().map_or_else(String::new, |p| {
        format!(
            "Capacity for real usage (cores used; nodes for the cluster) held at the window's hourly peak all the time versus following an hourly plan ({}). Under-provisioned hours: usage above the plan.",
            p.plan
        )
    });
    let total = rows.len();
    table(
        "Pre-scaling versus static peak",
        &note,
        "No usage history to plan from (cAdvisor series missing or the window too short), so there is no pre-scaling comparison.",
        vec![
            "Scope",
            "Static peak",
            "Static unit-h",
            "Planned unit-h",
            "Static cost",
            "Planned cost",
            "Saving",
            "Hours under plan",
        ],
        rows,
        total,
    )
}
