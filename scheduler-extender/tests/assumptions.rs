//! What a prioritize call assumes (the pod counted on our best node until the watch
//! confirms a binding): never a node the pod cannot fit, one node per pod uid, and
//! spread over a cluster where every node looks full.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use serde_json::json;
use tidal_scheduler_extender::http::{filter_call, prioritize_call};
use tidal_scheduler_extender::{Extender, ExtenderConfig};
use tidal_testkit::objects;
use tidal_testkit::snapshot::{GIB, NodeFigures, snapshot};

const NODES: [&str; 3] = ["node-1", "node-2", "node-3"];

/// An extender without cluster access whose 4-core, 16 GiB nodes (sized by
/// node-exporter) are `busy` cores busy with `used` GiB in use.
fn extender(busy: f64, used: f64) -> Extender {
    let ext = Extender::new(&ExtenderConfig::default(), Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("default config: {e}"));
    let figures: Vec<NodeFigures> = NODES
        .iter()
        .map(|name| NodeFigures {
            used_bytes: used * GIB,
            ..NodeFigures::new(format!("{name}:9100"), busy)
        })
        .collect();
    ext.install_load(snapshot(&figures), SystemTime::now());
    ext
}

fn body(uid: &str, cpu: &str, nodes: &[&str]) -> Bytes {
    let mut pod =
        objects::pod("shop", uid, cpu, "256Mi").unwrap_or_else(|e| panic!("test pod: {e}"));
    pod.metadata.uid = Some(uid.to_string());
    Bytes::from(json!({"Pod": pod, "Nodes": null, "NodeNames": nodes}).to_string())
}

fn assumed(ext: &Extender) -> BTreeMap<&'static str, usize> {
    let cluster = ext.cluster.read();
    NODES
        .iter()
        .map(|n| (*n, cluster.recent_pods(n).len()))
        .collect()
}

#[test]
fn a_pod_no_node_can_hold_is_assumed_nowhere_and_blocks_nothing() {
    let ext = extender(0.4, 4.0);
    let huge = body("huge", "100000", &NODES);
    prioritize_call(&ext, &huge).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ext.cluster.read().recent_pod_count(), 0);

    // The next pod may go anywhere: no node carries the huge pod's estimate.
    let filtered =
        filter_call(&ext, &body("small", "500m", &NODES)).unwrap_or_else(|e| panic!("{e}"));
    let filtered: serde_json::Value = serde_json::from_slice(&filtered).unwrap_or_default();
    assert_eq!(filtered["NodeNames"], json!(NODES), "{filtered}");
    assert_eq!(filtered["FailedNodes"], json!({}), "{filtered}");
}

#[test]
fn a_pod_uid_counts_on_one_node_however_often_it_is_scored() {
    let ext = extender(0.4, 4.0);
    for round in 0..3 {
        for node in NODES {
            prioritize_call(&ext, &body("same-uid", "500m", &[node]))
                .unwrap_or_else(|e| panic!("round {round}, {node}: {e}"));
        }
    }
    assert_eq!(ext.cluster.read().recent_pod_count(), 1);
    assert_eq!(assumed(&ext)["node-3"], 1, "the last call's node");
}

#[test]
fn a_burst_onto_a_full_cluster_spreads_its_assumptions() {
    // Every node over every threshold: score 0 and headroom 0 for all, so only the
    // projected load tells them apart.
    let ext = extender(4.0, 16.0);
    for i in 0..30 {
        let answer = prioritize_call(&ext, &body(&format!("pod-{i:02}"), "500m", &NODES))
            .unwrap_or_else(|e| panic!("{e}"));
        let scores: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
        assert!(
            scores
                .as_array()
                .into_iter()
                .flatten()
                .all(|s| s["Score"] == 0),
            "{scores}"
        );
    }
    let per_node = assumed(&ext);
    assert!(
        per_node.values().all(|&n| n == 10),
        "30 equal pods over 3 equal nodes: {per_node:?}"
    );
}
