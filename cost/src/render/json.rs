//! The JSON report: one object per namespace, workload, container and node, each named by
//! what it is and carrying its own `total_cost`. Field names follow OpenCost's allocation
//! API in snake case (`cpu_core_hours`, `cpu_cost`, `ram_...` is `memory_...` here).

use serde::Serialize;

use super::{averages, rounded};
use crate::Report;
use crate::allocate::{NodeCost, Usage};
use crate::prescale::Saving;
use crate::rightsize::Recommendation;
use tidal_predictor::plan::rfc3339;

pub fn render(report: &Report) -> serde_json::Result<String> {
    Ok(serde_json::to_string_pretty(&Json::of(report))? + "\n")
}

#[derive(Serialize)]
struct Json<'a> {
    window: Window,
    currency: &'a str,
    queries: usize,
    totals: Totals,
    namespaces: Vec<NamespaceRow<'a>>,
    workloads: Vec<WorkloadRow<'a>>,
    containers: Vec<ContainerRow<'a>>,
    nodes: Vec<NodeRow<'a>>,
    rightsizing: Vec<RightsizeRow<'a>>,
    prescale: Vec<PrescaleRow<'a>>,
    warnings: &'a [String],
}

#[derive(Serialize)]
struct Window {
    start: Option<String>,
    end: Option<String>,
    step_seconds: f64,
    steps: usize,
    hours: f64,
}

#[derive(Serialize)]
struct Totals {
    node_cost: f64,
    allocated_cost: f64,
    idle_cost: f64,
    idle_share: f64,
    /// Containers on nodes without capacity series, costed at default prices.
    unattributed_cost: f64,
    cpu_efficiency: Option<f64>,
    memory_efficiency: Option<f64>,
    total_efficiency: Option<f64>,
}

/// The figures every allocation row carries.
#[derive(Serialize)]
struct Costs {
    running_hours: f64,
    cpu_core_request_average: f64,
    cpu_core_usage_average: f64,
    cpu_core_hours: f64,
    memory_gib_request_average: f64,
    memory_gib_usage_average: f64,
    memory_gib_hours: f64,
    cpu_cost: f64,
    memory_cost: f64,
    total_cost: f64,
    cpu_efficiency: Option<f64>,
    memory_efficiency: Option<f64>,
    total_efficiency: Option<f64>,
}

impl Costs {
    /// `usage` averaged over `hours`: the window for groups, running hours for a container.
    fn of(usage: &Usage, hours: f64) -> Self {
        let avg = averages(usage, hours);
        Self {
            running_hours: rounded::hours(usage.running_hours),
            cpu_core_request_average: rounded::amount(avg.cpu_request),
            cpu_core_usage_average: rounded::amount(avg.cpu_usage),
            cpu_core_hours: rounded::amount(usage.cpu_core_hours),
            memory_gib_request_average: rounded::amount(avg.memory_request_gib),
            memory_gib_usage_average: rounded::amount(avg.memory_usage_gib),
            memory_gib_hours: rounded::amount(usage.memory_gib_hours),
            cpu_cost: rounded::money(usage.cpu_cost),
            memory_cost: rounded::money(usage.memory_cost),
            total_cost: rounded::money(usage.total_cost()),
            cpu_efficiency: usage.cpu_efficiency().map(rounded::ratio),
            memory_efficiency: usage.memory_efficiency().map(rounded::ratio),
            total_efficiency: usage.efficiency().map(rounded::ratio),
        }
    }
}

#[derive(Serialize)]
struct NamespaceRow<'a> {
    namespace: &'a str,
    pods: usize,
    #[serde(flatten)]
    costs: Costs,
}

#[derive(Serialize)]
struct WorkloadRow<'a> {
    namespace: &'a str,
    kind: &'a str,
    workload: &'a str,
    pods: usize,
    #[serde(flatten)]
    costs: Costs,
}

#[derive(Serialize)]
struct ContainerRow<'a> {
    namespace: &'a str,
    kind: &'a str,
    workload: &'a str,
    pod: &'a str,
    container: &'a str,
    node: Option<&'a str>,
    #[serde(flatten)]
    costs: Costs,
}

#[derive(Serialize)]
struct NodeRow<'a> {
    node: &'a str,
    instance_type: Option<&'a str>,
    spot: bool,
    /// Where the prices came from: the instance type's price or the defaults.
    price_source: &'a str,
    cpu_core_hour_price: f64,
    memory_gib_hour_price: f64,
    hours: f64,
    cpu_core_hours: f64,
    memory_gib_hours: f64,
    cpu_cost: f64,
    memory_cost: f64,
    total_cost: f64,
    allocated_cost: f64,
    idle_cost: f64,
}

impl<'a> NodeRow<'a> {
    fn of(n: &'a NodeCost) -> Self {
        Self {
            node: &n.name,
            instance_type: n.price.instance_type.as_deref(),
            spot: n.price.spot,
            price_source: &n.price.source,
            cpu_core_hour_price: rounded::price(n.price.cpu_core_hour),
            memory_gib_hour_price: rounded::price(n.price.memory_gib_hour),
            hours: rounded::hours(n.hours),
            cpu_core_hours: rounded::amount(n.cpu_core_hours),
            memory_gib_hours: rounded::amount(n.memory_gib_hours),
            cpu_cost: rounded::money(n.cpu_cost),
            memory_cost: rounded::money(n.memory_cost),
            total_cost: rounded::money(n.total_cost()),
            allocated_cost: rounded::money(n.allocated.total_cost()),
            idle_cost: rounded::money(n.idle_cost()),
        }
    }
}

#[derive(Serialize)]
struct RightsizeRow<'a> {
    namespace: &'a str,
    kind: &'a str,
    workload: &'a str,
    container: &'a str,
    replicas: f64,
    cpu_request_cores: Option<f64>,
    cpu_recommended_cores: f64,
    memory_request_bytes: Option<f64>,
    memory_recommended_bytes: f64,
    memory_limit_bytes: Option<f64>,
    cpu_usage_percentile_cores: f64,
    memory_usage_percentile_bytes: f64,
    cpu_monthly_saving: f64,
    memory_monthly_saving: f64,
    monthly_saving: f64,
    risks: &'a [String],
}

impl<'a> RightsizeRow<'a> {
    fn of(r: &'a Recommendation) -> Self {
        Self {
            namespace: &r.workload.namespace,
            kind: &r.workload.kind,
            workload: &r.workload.name,
            container: &r.container,
            replicas: rounded::amount(r.replicas),
            cpu_request_cores: r.cpu_request.map(rounded::amount),
            cpu_recommended_cores: rounded::amount(r.cpu_recommended),
            memory_request_bytes: r.memory_request.map(f64::round),
            memory_recommended_bytes: r.memory_recommended.round(),
            memory_limit_bytes: r.memory_limit.map(f64::round),
            cpu_usage_percentile_cores: rounded::amount(r.cpu_usage_percentile),
            memory_usage_percentile_bytes: r.memory_usage_percentile.round(),
            cpu_monthly_saving: rounded::money(r.cpu_monthly_saving),
            memory_monthly_saving: rounded::money(r.memory_monthly_saving),
            monthly_saving: rounded::money(r.monthly_saving()),
            risks: &r.risks,
        }
    }
}

#[derive(Serialize)]
struct PrescaleRow<'a> {
    scope: &'a str,
    unit: &'a str,
    slot_hours: f64,
    slots: usize,
    static_units: f64,
    static_unit_hours: f64,
    planned_unit_hours: f64,
    static_cost: f64,
    planned_cost: f64,
    saving: f64,
    under_provisioned_slots: usize,
    plan: &'a str,
}

impl<'a> PrescaleRow<'a> {
    fn of(p: &'a Saving) -> Self {
        Self {
            scope: &p.name,
            unit: &p.unit,
            slot_hours: rounded::hours(p.slot_hours),
            slots: p.slots,
            static_units: rounded::amount(p.static_units),
            static_unit_hours: rounded::amount(p.static_unit_hours),
            planned_unit_hours: rounded::amount(p.planned_unit_hours),
            static_cost: rounded::money(p.static_cost),
            planned_cost: rounded::money(p.planned_cost),
            saving: rounded::money(p.saving()),
            under_provisioned_slots: p.under_provisioned_slots,
            plan: &p.plan,
        }
    }
}

impl<'a> Json<'a> {
    fn of(report: &'a Report) -> Self {
        let tl = report.timeline;
        let a = &report.allocation;
        let window_hours = tl.hours();
        let t = &a.total;
        Json {
            window: Window {
                start: rfc3339(tl.start.floor() as i64),
                end: rfc3339(tl.end().floor() as i64),
                step_seconds: tl.step_secs,
                steps: tl.steps,
                hours: rounded::hours(window_hours),
            },
            currency: &report.currency,
            queries: report.queries,
            totals: Totals {
                node_cost: rounded::money(t.node_cost),
                allocated_cost: rounded::money(t.allocated_cost),
                idle_cost: rounded::money(t.idle_cost),
                idle_share: rounded::ratio(t.idle_share),
                unattributed_cost: rounded::money(a.unattributed.total_cost()),
                cpu_efficiency: t.cpu_efficiency.map(rounded::ratio),
                memory_efficiency: t.memory_efficiency.map(rounded::ratio),
                total_efficiency: t.efficiency.map(rounded::ratio),
            },
            namespaces: a
                .namespaces
                .iter()
                .map(|g| NamespaceRow {
                    namespace: &g.key,
                    pods: g.pods,
                    costs: Costs::of(&g.usage, window_hours),
                })
                .collect(),
            workloads: a
                .workloads
                .iter()
                .map(|g| WorkloadRow {
                    namespace: &g.key.namespace,
                    kind: &g.key.kind,
                    workload: &g.key.name,
                    pods: g.pods,
                    costs: Costs::of(&g.usage, window_hours),
                })
                .collect(),
            containers: a
                .containers
                .iter()
                .map(|c| ContainerRow {
                    namespace: &c.key.namespace,
                    kind: &c.workload.kind,
                    workload: &c.workload.name,
                    pod: &c.key.pod,
                    container: &c.key.container,
                    node: c.node.as_deref(),
                    costs: Costs::of(&c.usage, c.usage.running_hours),
                })
                .collect(),
            nodes: a.nodes.iter().map(NodeRow::of).collect(),
            rightsizing: report.rightsizing.iter().map(RightsizeRow::of).collect(),
            prescale: report.prescale.iter().map(PrescaleRow::of).collect(),
            warnings: &report.warnings,
        }
    }
}
