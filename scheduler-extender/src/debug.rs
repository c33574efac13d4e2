//! `GET /debug/nodes`: each node's load, estimates and last verdict, and what did
//! not map — the first place to look when placement surprises someone. Served only
//! with `extender.debug_endpoints`, and bounded: `?limit=` nodes (and pods) per answer,
//! `?node=` for one node, with the totals, whatever the cluster or a fuzzer left behind.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tidal_core::node_identity::NodeInfo;
use tidal_core::scoring::Verdict;

use crate::cluster::ClusterView;
use crate::extender::{Decision, Extender, LoadState, Request, candidate_names};
use crate::http::{decode, error_response};
use crate::resolve::head;

/// Nodes, and recent pods, listed when `?limit=` is not given.
const DEFAULT_LIMIT: usize = 100;
/// The most a `?limit=` can ask for.
const MAX_LIMIT: usize = 1000;

#[derive(Debug, Deserialize)]
pub struct DebugQuery {
    limit: Option<usize>,
    node: Option<String>,
}

pub async fn nodes(
    State(ext): State<Arc<Extender>>,
    query: Result<Query<DebugQuery>, QueryRejection>,
) -> Response {
    if !ext.debug_endpoints {
        let message = "GET /debug/nodes is off; set extender.debug_endpoints: true (or pass \
                       --debug-endpoints) to serve it";
        return error_response(StatusCode::NOT_FOUND, message);
    }
    match query {
        Ok(Query(query)) => Json(answer(&ext, &query)).into_response(),
        Err(rejection) => error_response(StatusCode::BAD_REQUEST, &rejection.body_text()),
    }
}

fn answer(ext: &Extender, query: &DebugQuery) -> Value {
    let now = SystemTime::now();
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    let load = ext.load.load();
    let decision = ext.last_decision.load();
    let last = decision.as_deref().and_then(LastCall::read);
    let verdicts: HashMap<&str, &Verdict> = last
        .as_ref()
        .map(|l| l.verdicts.iter().map(|(n, v)| (n.as_str(), *v)).collect())
        .unwrap_or_default();
    // Sorted and cut on a shared copy, without the lock calls take.
    let known = ext.cluster.read().shared_nodes();
    let mut names: Vec<&str> = known
        .keys()
        .map(String::as_str)
        .chain(verdicts.keys().copied())
        .filter(|name| query.node.as_deref().is_none_or(|wanted| wanted == *name))
        .collect();
    names.sort_unstable();
    names.dedup();
    let total = names.len();
    names.truncate(limit);
    let nodes = {
        let cluster = ext.cluster.read();
        let mut pods_left = limit;
        names
            .iter()
            .map(|name| {
                let info = known
                    .get(*name)
                    .cloned()
                    .unwrap_or_else(|| NodeInfo::named(*name));
                let mut entry = node(&info, &load, &cluster, &mut pods_left, now);
                entry["last_verdict"] = json!(verdicts.get(name));
                entry
            })
            .collect::<Vec<_>>()
    };
    json!({
        "load": load_summary(ext, &load, limit, now),
        "last_call": decision.as_deref().zip(last.as_ref()).map(|(d, l)| json!({
            "verb": d.verb,
            "pod": l.pod,
            "seconds_ago": seconds_since(now, d.at),
        })),
        "nodes_total": total,
        "limit": limit,
        "nodes": nodes,
    })
}

/// The refresh's health and what did not map, each list cut to `limit` with its length.
fn load_summary(ext: &Extender, load: &LoadState, limit: usize, now: SystemTime) -> Value {
    let cut = |items: &[String]| json!(items[..items.len().min(limit)]);
    let snapshot = &load.snapshot;
    json!({
        "refreshed_seconds_ago": load.refreshed_at.map(|at| seconds_since(now, at)),
        "health": ext.load_health(now).err().unwrap_or_else(|| "fresh".to_string()),
        "last_error": ext.refresh.lock().last_error.clone(),
        "nodes_with_load": snapshot.len(),
        "unmapped_series": cut(&load.unmapped_series),
        "unmapped_series_count": load.unmapped_series.len(),
        "unmapped_nodes": cut(&load.unmapped_nodes),
        "unmapped_node_count": load.unmapped_nodes.len(),
        "incomplete_series": cut(&snapshot.incomplete),
        "incomplete_series_count": snapshot.incomplete.len(),
        "invalid_samples": head(&snapshot.invalid),
        "invalid_sample_count": snapshot.invalid.len(),
    })
}

/// One node's entry; its recent pods are listed while `pods_left` lasts.
fn node(
    info: &NodeInfo,
    load: &LoadState,
    cluster: &ClusterView,
    pods_left: &mut usize,
    now: SystemTime,
) -> Value {
    let pods = cluster.recent_pods(&info.name);
    let shown = pods.len().min(*pods_left);
    *pods_left -= shown;
    let recent: Vec<Value> = pods[..shown]
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
        "recent_pod_count": pods.len(),
        "recent_pods": recent,
    })
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
