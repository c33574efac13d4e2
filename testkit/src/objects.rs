//! Kubernetes objects for tests, built from their JSON form so they read like manifests.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::json;

/// A Ready node with one InternalIP and the given allocatable.
pub fn node(name: &str, internal_ip: &str, cpu: &str, memory: &str) -> anyhow::Result<Node> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": internal_ip},
                {"type": "Hostname", "address": name},
            ],
            "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }))?)
}

/// A pending pod of one container with the given requests, owned by a ReplicaSet.
pub fn pod(namespace: &str, name: &str, cpu: &str, memory: &str) -> anyhow::Result<Pod> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": "web"},
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d9c7",
                "uid": "0c2b7e7e-0000-4000-8000-000000000001", "controller": true,
            }],
        },
        "spec": {
            "schedulerName": "tidal-scheduler",
            "containers": [{
                "name": "web",
                "image": "nginx:1.27",
                "resources": {"requests": {"cpu": cpu, "memory": memory}},
            }],
        },
    }))?)
}

/// An autoscaling/v2 HorizontalPodAutoscaler `namespace/name` for the Deployment of the same
/// name, scaling on 70 % CPU between `min` and `max` replicas.
pub fn hpa(
    namespace: &str,
    name: &str,
    min: i32,
    max: i32,
) -> anyhow::Result<HorizontalPodAutoscaler> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": min,
            "maxReplicas": max,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70}}}],
        },
    }))?)
}

/// A Deployment `namespace/name` with `replicas` ready pods labelled `app: name`, its
/// ReplicaSet `<name>-rs`, and a PodDisruptionBudget (`maxUnavailable: 1`) whose status now
/// allows `allowed` disruptions.
pub fn deployment(
    namespace: &str,
    name: &str,
    replicas: i32,
    allowed: i32,
) -> anyhow::Result<(Deployment, ReplicaSet, PodDisruptionBudget)> {
    let deployment = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": {}},
        "status": {"readyReplicas": replicas},
    }))?;
    let replica_set = serde_json::from_value(json!({
        "metadata": {"name": format!("{name}-rs"), "namespace": namespace, "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": format!("uid-{name}"), "controller": true}]},
        "spec": {"selector": {"matchLabels": {"app": name}}},
    }))?;
    let budget = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": namespace, "generation": 1},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": name}}},
        "status": {"disruptionsAllowed": allowed, "currentHealthy": replicas, "desiredHealthy": replicas - 1,
                   "expectedPods": replicas, "observedGeneration": 1},
    }))?;
    Ok((deployment, replica_set, budget))
}

/// A Running, Ready pod of [`deployment`] `app`'s ReplicaSet, bound to `node`, requesting
/// `cpu` and `memory`.
pub fn running_pod(
    namespace: &str,
    name: &str,
    app: &str,
    node: &str,
    cpu: &str,
    memory: &str,
) -> anyhow::Result<Pod> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}, "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-rs"), "uid": format!("uid-{app}-rs"), "controller": true}]},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x",
            "resources": {"requests": {"cpu": cpu, "memory": memory}}}]},
        "status": {"phase": "Running", "startTime": "2026-01-01T00:00:00Z", "qosClass": "Burstable",
                   "conditions": [{"type": "Ready", "status": "True"}]},
    }))?)
}
