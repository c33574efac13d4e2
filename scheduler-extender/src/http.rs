//! HTTP routes: the two extender verbs, health, metrics and the debug view.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use tidal_core::scoring::Verdict;

use crate::extender::{BadRequest, Candidates, Extender, Request, candidate_names};
use crate::metrics::{RequestLabels, VerbLabels};
use crate::wire::{ExtenderArgs, FailedNodes, FilterResult, HostPriority, NodeListOut};

pub fn router(extender: Arc<Extender>, prefix: &str, max_body_bytes: usize) -> Router {
    let gets = if extender.debug_endpoints {
        "/healthz, /readyz, /metrics and /debug/nodes"
    } else {
        "/healthz, /readyz and /metrics"
    };
    let served = format!(
        "this extender serves POST {prefix}/filter and POST {prefix}/prioritize \
         (extender.path_prefix), and GET {gets}; if kube-scheduler sent this, its extender \
         urlPrefix does not match extender.path_prefix"
    );
    Router::new()
        .route(&format!("{prefix}/filter"), post(filter))
        .route(&format!("{prefix}/prioritize"), post(prioritize))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/debug/nodes", get(crate::debug::nodes))
        .fallback(
            move |State(ext): State<Arc<Extender>>, method: Method, uri: Uri| {
                let served = served.clone();
                async move { unknown_path(&ext, &method, &uri, &served) }
            },
        )
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(extender)
}

/// A path nobody serves: a 404 that names the served paths, counted, and logged the first
/// time (a misconfigured scheduler sends one per pod).
fn unknown_path(ext: &Extender, method: &Method, uri: &Uri, served: &str) -> Response {
    ext.metrics.unknown_paths.inc();
    let message = format!("no such path: {method} {}; {served}", uri.path());
    if !ext.unknown_path_logged.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "{message} (logged once; tidal_extender_unknown_path_requests_total counts them)"
        );
    }
    error_response(StatusCode::NOT_FOUND, &message)
}

async fn filter(State(ext): State<Arc<Extender>>, body: Result<Bytes, BytesRejection>) -> Response {
    match body {
        Ok(body) => handle(&ext, "filter", &body, filter_call),
        Err(rejection) => unread_body(&ext, "filter", &rejection),
    }
}

async fn prioritize(
    State(ext): State<Arc<Extender>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match body {
        Ok(body) => handle(&ext, "prioritize", &body, prioritize_call),
        Err(rejection) => unread_body(&ext, "prioritize", &rejection),
    }
}

/// A body that could not be read: over `max_body_bytes` (413), or cut off. Answered in
/// the JSON error shape of every other 4xx, with `Connection: close`: the unread rest of
/// the body is still on the connection, so the server closes it, and the client must
/// not send its next request there.
fn unread_body(ext: &Extender, verb: &'static str, rejection: &BytesRejection) -> Response {
    ext.metrics
        .requests
        .get_or_create(&RequestLabels {
            verb,
            outcome: "bad_request",
        })
        .inc();
    let status = rejection.status();
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "the request body is larger than extender.max_body_bytes allows".to_string()
    } else {
        rejection.body_text()
    };
    tracing::warn!(%message, "rejected an extender request whose body could not be read");
    let mut response = error_response(status, &message);
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Bodies past this size (full `Nodes` lists of hundreds of nodes) take milliseconds to
/// judge: long enough that the worker thread should be handed over to other tasks.
const LARGE_BODY: usize = 1 << 20;

/// Answers and measures one call; a malformed body is a 400 with the reason.
fn handle(
    ext: &Extender,
    verb: &'static str,
    body: &Bytes,
    answer: fn(&Extender, &Bytes) -> Result<Vec<u8>, BadRequest>,
) -> Response {
    let started = Instant::now();
    let result = if body.len() > LARGE_BODY {
        tokio::task::block_in_place(|| answer(ext, body))
    } else {
        answer(ext, body)
    };
    let outcome = if result.is_ok() { "ok" } else { "bad_request" };
    ext.metrics
        .requests
        .get_or_create(&RequestLabels { verb, outcome })
        .inc();
    ext.metrics
        .latency
        .get_or_create(&VerbLabels { verb })
        .observe(started.elapsed().as_secs_f64());
    match result {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(BadRequest(message)) => {
            tracing::warn!(%message, "rejected a malformed extender request");
            error_response(StatusCode::BAD_REQUEST, &message)
        }
    }
}

/// The `filter` verb, from request body to response body.
pub fn filter_call(ext: &Extender, body: &Bytes) -> Result<Vec<u8>, BadRequest> {
    let args = decode(body)?;
    let request = Request::parse(&args)?;
    let now = SystemTime::now();
    let verdicts = ext.filter(&request, now);
    let answer = filter_answer(ext, &request, &verdicts).map_err(encode_error)?;
    ext.record_decision("filter", body, verdicts, now);
    Ok(answer)
}

/// The `prioritize` verb, from request body to response body.
pub fn prioritize_call(ext: &Extender, body: &Bytes) -> Result<Vec<u8>, BadRequest> {
    let args = decode(body)?;
    let request = Request::parse(&args)?;
    let now = SystemTime::now();
    let verdicts = ext.judge(&request, now);
    let answer = prioritize_answer(&request, &verdicts).map_err(encode_error)?;
    ext.assume_best(&request, &verdicts, now);
    ext.record_decision("prioritize", body, verdicts, now);
    Ok(answer)
}

fn encode_error(e: serde_json::Error) -> BadRequest {
    BadRequest(format!("cannot encode the answer: {e}"))
}

pub(crate) fn decode(body: &[u8]) -> Result<ExtenderArgs<'_>, BadRequest> {
    serde_json::from_slice(body).map_err(|e| {
        BadRequest(format!(
            "the body is not a kube-scheduler ExtenderArgs object ({{\"Pod\": ..., \"Nodes\" or \"NodeNames\": ...}}): {e}"
        ))
    })
}

pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

fn filter_answer(
    ext: &Extender,
    request: &Request<'_>,
    verdicts: &[Verdict],
) -> serde_json::Result<Vec<u8>> {
    let mut failed = Vec::new();
    let mut passed = Vec::with_capacity(verdicts.len());
    for (index, (name, verdict)) in candidate_names(&request.candidates)
        .zip(verdicts)
        .enumerate()
    {
        match (verdict.fits, verdict.reason) {
            (false, Some(reason)) => failed.push((name, reason)),
            _ => passed.push(index),
        }
    }
    ext.metrics.filtered_nodes.inc_by(failed.len() as u64);
    for (node, reason) in &failed {
        // Off by default; RUST_LOG=tidal_scheduler_extender=debug shows every refusal.
        tracing::debug!(
            pod = request.pod.metadata.name.as_deref().unwrap_or_default(),
            namespace = request.pod.metadata.namespace.as_deref().unwrap_or_default(),
            node,
            %reason,
            "node filtered out"
        );
    }
    // Answer in the form we were asked in: the scheduler reads only that one.
    let (nodes, node_names) = match &request.candidates {
        Candidates::Names(names) => (
            None,
            Some(passed.iter().map(|&i| names[i].as_ref()).collect()),
        ),
        Candidates::Nodes(nodes) => (
            Some(NodeListOut::new(
                passed.iter().map(|&i| nodes[i].1).collect(),
            )),
            None,
        ),
    };
    // Sized up front: growing a buffer of a few hundred KiB copies it several times.
    let mut out = Vec::with_capacity(128 + 24 * verdicts.len() + 96 * failed.len());
    serde_json::to_writer(
        &mut out,
        &FilterResult {
            nodes,
            node_names,
            failed_nodes: FailedNodes(failed),
            failed_and_unresolvable_nodes: FailedNodes::default(),
            error: String::new(),
        },
    )?;
    Ok(out)
}

fn prioritize_answer(request: &Request<'_>, verdicts: &[Verdict]) -> serde_json::Result<Vec<u8>> {
    let priorities: Vec<HostPriority<'_>> = candidate_names(&request.candidates)
        .zip(verdicts)
        .map(|(host, v)| HostPriority {
            host,
            score: i64::from(v.score),
        })
        .collect();
    let mut out = Vec::with_capacity(2 + 32 * priorities.len());
    serde_json::to_writer(&mut out, &priorities)?;
    Ok(out)
}

/// Ready once the first load refresh has finished. Without fresh load the extender
/// stays ready and says why in the body: under fail-open it passes every node, under
/// fail-closed it refuses them in `FailedNodes`. Were it unready, the scheduler could
/// not reach it and, with `ignorable: true`, would skip it: fail-open in effect.
async fn readyz(State(ext): State<Arc<Extender>>) -> Response {
    if !ext.refresh.lock().attempted {
        let why = "not ready: no load refresh has finished yet\n";
        return (StatusCode::SERVICE_UNAVAILABLE, why).into_response();
    }
    let last_error = ext.refresh.lock().last_error.clone();
    let body = match (ext.load_health(SystemTime::now()), last_error) {
        (Ok(()), None) => "ready\n".to_string(),
        (Ok(()), Some(error)) => format!(
            "ready, judging by the last good load until it is older than load.max_age; the \
             last refresh failed: {error}\n"
        ),
        (Err(why), _) => format!("ready, degraded ({}): {why}\n", ext.scorer.on_missing),
    };
    (StatusCode::OK, body).into_response()
}

async fn metrics(State(ext): State<Arc<Extender>>) -> Response {
    let age = ext.load.load().refreshed_at.map_or(f64::INFINITY, |at| {
        SystemTime::now()
            .duration_since(at)
            .unwrap_or_default()
            .as_secs_f64()
    });
    ext.metrics.load_age_seconds.set(age);
    ext.metrics
        .recent_pods
        .set(ext.cluster.read().recent_pod_count() as i64);
    match ext.metrics.encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot encode metrics: {e}"),
        ),
    }
}
