//! A run's report: a table a person reads in the job's log, and JSON with every row.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::execute::Outcome;
use crate::plan::{NodeClass, NodeOutcome};
use crate::policy::Fractions;
use crate::run::RunReport;

pub fn table(report: &RunReport) -> String {
    let mut out = String::new();
    let mode = if report.dry_run {
        " (dry run: nothing was evicted)"
    } else {
        ""
    };
    let _ = writeln!(out, "tidal deschedule{mode}\n");
    let _ = writeln!(
        out,
        "{:<28} {:<10} {:>16} {:>16}",
        "NODE", "CLASS", "CPU before→after", "MEM before→after"
    );
    for node in &report.plan.nodes {
        let _ = writeln!(
            out,
            "{:<28} {:<10} {:>16} {:>16}",
            node.name,
            class(node),
            change(node, |f| f.cpu),
            change(node, |f| f.memory)
        );
    }
    let verb = if report.dry_run {
        "WOULD EVICT"
    } else {
        "EVICTIONS"
    };
    let _ = writeln!(out, "\n{verb} ({})", report.plan.evictions.len());
    if !report.plan.evictions.is_empty() {
        let _ = writeln!(
            out,
            "{:<40} {:<20} {:<20} {:>7} {:>9}  RESULT",
            "POD", "FROM", "TO", "CPU", "MEM"
        );
    }
    for eviction in &report.plan.evictions {
        let result = report
            .attempts
            .iter()
            .find(|a| a.pod == eviction.pod)
            .map_or_else(|| "not attempted".to_string(), |a| outcome(&a.outcome));
        let _ = writeln!(
            out,
            "{:<40} {:<20} {:<20} {:>7.2} {:>6}Mi  {result}",
            eviction.pod.to_string(),
            eviction.from,
            eviction.to,
            eviction.usage.cpu_cores,
            (eviction.usage.memory_bytes / (1024.0 * 1024.0)).round()
        );
    }
    if !report.plan.skipped.is_empty() {
        let _ = writeln!(out, "\nSKIPPED ({})", report.plan.skipped.len());
        let _ = writeln!(out, "{:<40} {:<20} WHY", "POD", "NODE");
        for skipped in &report.plan.skipped {
            let _ = writeln!(
                out,
                "{:<40} {:<20} {}",
                skipped.pod.to_string(),
                skipped.node,
                skipped.reason
            );
        }
    }
    if let Some(stopped) = &report.stopped {
        let _ = writeln!(out, "\nSTOPPED: {stopped}");
    }
    for warning in &report.warnings {
        let _ = writeln!(out, "\nwarning: {warning}");
    }
    out
}

pub fn json(report: &RunReport) -> Value {
    let result = |pod| {
        report
            .attempts
            .iter()
            .find(|a| &a.pod == pod)
            .map(|a| outcome(&a.outcome))
    };
    json!({
        "at": k8s_openapi::jiff::Timestamp::try_from(report.at).map(|t| t.to_string()).ok(),
        "dry_run": report.dry_run,
        "nodes": report.plan.nodes.iter().map(|n| json!({
            "name": n.name,
            "class": class(n),
            "before": n.before.map(fractions),
            "after": n.after.map(fractions),
        })).collect::<Vec<_>>(),
        "evictions": report.plan.evictions.iter().map(|e| json!({
            "pod": {"namespace": e.pod.namespace, "name": e.pod.name, "uid": e.uid},
            "workload": e.workload.as_ref().map(|w| json!({"kind": w.kind, "namespace": w.namespace, "name": w.name})),
            "from": e.from,
            "to": e.to,
            "usage": e.usage,
            "reason": e.reason,
            "result": result(&e.pod),
        })).collect::<Vec<_>>(),
        "skipped": report.plan.skipped.iter().map(|s| json!({
            "pod": {"namespace": s.pod.namespace, "name": s.pod.name},
            "node": s.node,
            "reason": s.reason.to_string(),
        })).collect::<Vec<_>>(),
        "stopped": report.stopped,
        "warnings": report.warnings,
    })
}

fn class(node: &NodeOutcome) -> &'static str {
    match node.class {
        NodeClass::Hot => "hot",
        NodeClass::Cold => "cold",
        NodeClass::Normal => "normal",
        NodeClass::NoMetrics => "no-metrics",
    }
}

fn change(node: &NodeOutcome, resource: fn(&Fractions) -> f64) -> String {
    let pct = |f: Option<Fractions>| {
        f.map_or("-".to_string(), |f| format!("{:.0}%", 100.0 * resource(&f)))
    };
    format!("{} → {}", pct(node.before), pct(node.after))
}

fn fractions(f: Fractions) -> Value {
    json!({"cpu": f.cpu, "memory": f.memory})
}

fn outcome(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Evicted => "evicted".to_string(),
        Outcome::WouldEvict => "would evict (API server agrees)".to_string(),
        Outcome::Refused(why) => format!("refused by a PodDisruptionBudget: {why}"),
        Outcome::SeveralBudgets(why) => format!("refused: {why}"),
        Outcome::Gone => "pod already gone".to_string(),
    }
}
