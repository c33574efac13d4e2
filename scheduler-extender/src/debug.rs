//! `GET /debug/nodes`: each node's load, estimates and last verdict, and what did
//! not map — the first place to look when placement surprises someone.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use tidal_core::node_identity::NodeInfo;

use crate::extender::Extender;

pub async fn nodes(State(ext): State<Arc<Extender>>) -> Json<Value> {
    let now = SystemTime::now();
    let load = ext.load.load();
    let decision = ext.last_decision.load();
    let last: HashMap<&str, &tidal_core::scoring::Verdict> = decision
        .as_deref()
        .map(|d| d.verdicts.iter().map(|(n, v)| (n.as_str(), v)).collect())
        .unwrap_or_default();
    let cluster = ext.cluster.read();
    let mut known: BTreeMap<&str, NodeInfo> = cluster
        .nodes()
        .map(|n| (n.name.as_str(), n.clone()))
        .collect();
    for name in last.keys() {
        known.entry(name).or_insert_with(|| NodeInfo::named(*name));
    }
    let nodes: Vec<Value> = known
        .values()
        .map(|info| {
            let recent: Vec<Value> = cluster
                .recent_pods(&info.name)
                .iter()
                .map(|p| {
                    json!({
                        "uid": p.uid,
                        "bound_seconds_ago": seconds_since(now, p.bound_at),
                        "estimate": p.estimate,
                        "observed": p.observed,
                    })
                })
                .collect();
            json!({
                "name": info.name,
                "addresses": info.addresses,
                "allocatable": info.allocatable.map(|a| json!({
                    "cpu_cores": a.cpu_milli as f64 / 1000.0,
                    "memory_bytes": a.memory_bytes,
                })),
                "load": load.snapshot.for_node(info),
                "recent_pods": recent,
                "last_verdict": last.get(info.name.as_str()),
            })
        })
        .collect();
    Json(json!({
        "load": {
            "refreshed_seconds_ago": load.refreshed_at.map(|at| seconds_since(now, at)),
            "health": ext.load_health(now).err().unwrap_or_else(|| "fresh".to_string()),
            "last_error": load.last_error,
            "nodes_with_load": load.snapshot.len(),
            "unmapped_series": load.unmapped_series,
            "unmapped_nodes": load.unmapped_nodes,
            "incomplete_series": load.snapshot.incomplete,
        },
        "last_decision": decision.as_deref().map(|d| json!({
            "verb": d.verb,
            "pod": d.pod,
            "seconds_ago": seconds_since(now, d.at),
        })),
        "nodes": nodes,
    }))
}

fn seconds_since(now: SystemTime, then: SystemTime) -> f64 {
    now.duration_since(then).unwrap_or_default().as_secs_f64()
}
