//! Watches of nodes and pods: node names, addresses and sizes for identity
//! mapping, and every binding, so pods bound since the last load sample are
//! counted by their estimate (anti-herding).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tidal_core::node_identity::NodeInfo;

use crate::cluster::RecentPod;
use crate::extender::Extender;

pub async fn nodes(ext: Arc<Extender>, client: kube::Client) {
    let stream =
        watcher::watcher(Api::<Node>::all(client), watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    let mut relist = Vec::new();
    loop {
        match stream.try_next().await {
            Ok(Some(Event::Init)) => relist.clear(),
            Ok(Some(Event::InitApply(node))) => relist.extend(NodeInfo::from_node(&node)),
            Ok(Some(Event::InitDone)) => {
                ext.cluster.write().replace_nodes(relist.drain(..));
                ext.watching.store(true, Ordering::Relaxed);
            }
            Ok(Some(Event::Apply(node))) => {
                if let Some(info) = NodeInfo::from_node(&node) {
                    ext.cluster.write().upsert_node(info);
                }
            }
            Ok(Some(Event::Delete(node))) => {
                if let Some(name) = node.metadata.name.as_deref() {
                    ext.cluster.write().remove_node(name);
                }
            }
            Ok(None) => return,
            Err(e) => warn_watch_error("nodes", &e),
        }
    }
}

pub async fn pods(ext: Arc<Extender>, client: kube::Client) {
    // Only bound pods matter; the API server sends ADDED when a pod gets its node.
    let config = watcher::Config::default().fields("spec.nodeName!=");
    let stream = watcher::watcher(Api::<Pod>::all(client), config).default_backoff();
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Apply(pod) | Event::InitApply(pod)) => on_pod(&ext, &pod),
            Ok(Event::Delete(pod)) => {
                if let Some(uid) = pod.metadata.uid.as_deref() {
                    ext.cluster.write().remove_pod(uid);
                }
            }
            Ok(Event::Init | Event::InitDone) => {}
            Err(e) => warn_watch_error("pods", &e),
        }
    }
}

fn on_pod(ext: &Extender, pod: &Pod) {
    let Some(uid) = pod.metadata.uid.clone() else {
        return;
    };
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if pod.metadata.deletion_timestamp.is_some() || matches!(phase, Some("Succeeded" | "Failed")) {
        ext.cluster.write().remove_pod(&uid);
        return;
    }
    let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
        return;
    };
    let now = SystemTime::now();
    let bound_at = scheduled_at(pod).unwrap_or(now).min(now);
    if now.duration_since(bound_at).unwrap_or_default() > ext.recent_pod_lifetime() {
        return;
    }
    let estimate = ext.estimation.estimate(pod);
    ext.cluster.write().record_pod(
        node,
        RecentPod {
            uid,
            bound_at,
            estimate,
            observed: true,
        },
    );
}

/// When the pod was bound: its `PodScheduled` condition's transition time.
fn scheduled_at(pod: &Pod) -> Option<SystemTime> {
    let condition = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "True")?;
    let time = condition.last_transition_time.as_ref()?;
    Some(SystemTime::from(time.0))
}

fn warn_watch_error(what: &str, e: &watcher::Error) {
    tracing::warn!(
        error = %e,
        "watching {what} failed; retrying with backoff. Check that the service account may \
         get, list and watch {what} (deploy/base/extender/rbac.yaml)"
    );
}
