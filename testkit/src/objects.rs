//! Kubernetes objects for tests, built from their JSON form so they read like manifests.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Node, Pod};
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
