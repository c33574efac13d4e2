//! `GET /debug/nodes`: each node's load, estimates and last verdict, and what did
//! not map — the first place to look when placement surprises someone.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use tidal_core::node_identity::NodeInfo;
use tidal_core::scoring::Verdict;

use crate::extender::{Decision, Extender, Request, candidate_names};
use crate::http::decode;
use crate::resolve::head;

pub async fn nodes(State(ext): State<Arc<Extender>>) -> Json<Value> {
    let now = SystemTime::now();
    let load = ext.load.load();
    let decision = ext.last_decision.load();
    let last = decision.as_deref().and_then(LastCall::read);
    let verdicts: HashMap<&str, &Verdict> = last
        .as_ref()
        .map(|l| l.verdicts.iter().map(|(n, v)| (n.as_str(), *v)).collect())
        .unwrap_or_default();
    let cluster = ext.cluster.read();
    let mut known: BTreeMap<&str, NodeInfo> = cluster
        .nodes()
        .map(|n| (n.name.as_str(), n.clone()))
        .collect();
    for name in verdicts.keys() {
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
                "last_verdict": verdicts.get(info.name.as_str()),
            })
        })
        .collect();
    Json(json!({
        "load": {
            "refreshed_seconds_ago": load.refreshed_at.map(|at| seconds_since(now, at)),
            "health": ext.load_health(now).err().unwrap_or_else(|| "fresh".to_string()),
            "last_error": ext.refresh.lock().last_error.clone(),
            "nodes_with_load": load.snapshot.len(),
            "unmapped_series": load.unmapped_series,
            "unmapped_nodes": load.unmapped_nodes,
            "incomplete_series": load.snapshot.incomplete,
            "invalid_sample_count": load.snapshot.invalid.len(),
            "invalid_samples": head(&load.snapshot.invalid),
        },
        "last_call": decision.as_deref().zip(last.as_ref()).map(|(d, l)| json!({
            "verb": d.verb,
            "pod": l.pod,
            "seconds_ago": seconds_since(now, d.at),
        })),
        "nodes": nodes,
    }))
}

/// The last call, decoded again from its body: the hot path stores only the body.
struct LastCall<'a> {
    pod: String,
    verdicts: Vec<(String, &'a Verdict)>,
}

impl<'a> LastCall<'a> {
    fn read(decision: &'a Decision) -> Option<Self> {
        let args = decode(&decision.body).ok()?;
        let request = Request::parse(&args).ok()?;
        let meta = &request.pod.metadata;
        let pod = format!(
            "{}/{}",
            meta.namespace.as_deref().unwrap_or("default"),
            meta.name.as_deref().unwrap_or_default()
        );
        let verdicts = candidate_names(&request.candidates)
            .map(str::to_string)
            .zip(&decision.verdicts)
            .collect();
        Some(Self { pod, verdicts })
    }
}

fn seconds_since(now: SystemTime, then: SystemTime) -> f64 {
    now.duration_since(then).unwrap_or_default().as_secs_f64()
}
