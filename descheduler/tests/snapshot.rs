//! Gathering a snapshot from the (fake) API server: owners resolved through
//! ReplicaSets to Deployments, replica counts, budgets, and Prometheus figures
//! joined to nodes by InternalIP and to pods by namespace and name.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::json;
use tidal_core::usage::{PodUsage, SustainedLoad};
use tidal_descheduler::model::{Owner, Qos, Replicas, WorkloadRef};
use tidal_descheduler::snapshot::{Figures, assemble, list_objects};
use tidal_testkit::fake_apiserver::FakeApiServer;
use tidal_testkit::objects;

fn pod(name: &str, node: &str, owner: Option<(&str, &str)>, phase: &str) -> anyhow::Result<Pod> {
    let owners: Vec<_> = owner
        .map(|(kind, name)| json!({"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": format!("uid-{name}"), "controller": true}))
        .into_iter()
        .collect();
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": "web"}, "ownerReferences": owners},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x",
            "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}, "limits": {"cpu": "250m", "memory": "128Mi"}}}]},
        "status": {"phase": phase, "startTime": "2026-01-01T00:00:00Z"},
    }))?)
}

#[tokio::test]
async fn owners_replicas_budgets_and_figures_are_joined() -> anyhow::Result<()> {
    let api = FakeApiServer::start().await?;
    api.add(&objects::node("node-a", "10.0.0.1", "4", "16Gi")?)?;
    api.add(&objects::node("node-b", "10.0.0.2", "4", "16Gi")?)?;
    api.add(&serde_json::from_value::<Deployment>(json!({
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": {}},
        "status": {"readyReplicas": 3},
    }))?)?;
    api.add(&serde_json::from_value::<ReplicaSet>(json!({
        "metadata": {"name": "web-5d9c7", "namespace": "shop", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "uid-web", "controller": true}]},
        "spec": {"selector": {"matchLabels": {"app": "web"}}},
    }))?)?;
    api.add(&serde_json::from_value::<DaemonSet>(json!({
        "metadata": {"name": "logs", "namespace": "shop"},
        "spec": {"selector": {"matchLabels": {"app": "logs"}}, "template": {}},
    }))?)?;
    api.add(&serde_json::from_value::<PodDisruptionBudget>(json!({
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3},
    }))?)?;
    api.add(&pod(
        "web-1",
        "node-a",
        Some(("ReplicaSet", "web-5d9c7")),
        "Running",
    )?)?;
    api.add(&pod(
        "logs-x",
        "node-a",
        Some(("DaemonSet", "logs")),
        "Running",
    )?)?;
    api.add(&pod("adhoc", "node-b", None, "Running")?)?;
    api.add(&pod("done", "node-b", None, "Succeeded")?)?;

    let objects = list_objects(&api.client()).await?;
    let now = SystemTime::now();
    let figures = Figures {
        sustained: HashMap::from([(
            "10.0.0.1".to_string(),
            SustainedLoad {
                cpu_cores: 3.5,
                memory_bytes: 8e9,
                sampled_at: now,
            },
        )]),
        pod_usage: HashMap::from([(
            ("shop".to_string(), "web-1".to_string()),
            PodUsage {
                cpu_cores: 0.4,
                memory_bytes: 1e8,
            },
        )]),
        ..Figures::default()
    };
    let snapshot = assemble(objects, &figures, now);

    let node_a = snapshot
        .nodes
        .iter()
        .find(|n| n.name == "node-a")
        .expect("node-a listed");
    assert_eq!(
        node_a.sustained.map(|s| s.cpu_cores),
        Some(3.5),
        "mapped by InternalIP"
    );
    assert_eq!(node_a.allocatable.cpu_milli, 4000);
    assert!(
        snapshot
            .nodes
            .iter()
            .any(|n| n.name == "node-b" && n.sustained.is_none())
    );

    let pods: HashMap<&str, _> = snapshot
        .pods
        .iter()
        .map(|p| (p.key.name.as_str(), p))
        .collect();
    assert!(!pods.contains_key("done"), "only running pods are listed");
    let web = WorkloadRef {
        kind: "Deployment".into(),
        namespace: "shop".into(),
        name: "web".into(),
    };
    assert_eq!(pods["web-1"].owner, Owner::Workload(web.clone()));
    assert_eq!(pods["web-1"].usage.map(|u| u.cpu_cores), Some(0.4));
    assert_eq!(pods["web-1"].qos, Qos::Guaranteed);
    assert_eq!(pods["web-1"].requests.cpu_milli, 250);
    assert_eq!(pods["logs-x"].owner, Owner::DaemonSet("logs".into()));
    assert_eq!(pods["adhoc"].owner, Owner::Bare);
    assert!(pods["adhoc"].usage.is_none(), "unknown usage stays unknown");
    assert!(
        now.duration_since(pods["web-1"].created_at)
            .unwrap_or_default()
            > Duration::from_secs(86_400)
    );

    assert_eq!(
        snapshot.workloads.get(&web),
        Some(&Replicas {
            desired: 3,
            ready: 3
        })
    );
    assert_eq!(snapshot.budgets.len(), 1);
    assert_eq!(snapshot.budgets[0].disruptions_allowed, 1);
    Ok(())
}

#[tokio::test]
async fn pods_are_listed_in_pages_of_500() -> anyhow::Result<()> {
    let api = FakeApiServer::start().await?;
    api.add(&objects::node("node-a", "10.0.0.1", "4", "16Gi")?)?;
    for i in 0..1_201 {
        api.add(&pod(&format!("web-{i:04}"), "node-a", None, "Running")?)?;
    }
    api.add(&pod("done", "node-a", None, "Succeeded")?)?;
    api.clear_requests();

    let objects = list_objects(&api.client()).await?;
    assert_eq!(objects.pods.len(), 1_201);
    let pages: Vec<String> = api
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/pods")
        .map(|r| r.query)
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages.iter().all(|q| q.contains("limit=500")), "{pages:?}");
    assert_eq!(pages.iter().filter(|q| q.contains("continue=")).count(), 2);
    Ok(())
}
