//! The fake API server, exercised only through the real `kube` client (and raw HTTP where the
//! wire format itself is the point).

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{
    Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::Status;
use kube::runtime::watcher;
use serde_json::{Value, json};
use std::time::Duration;
use tidal_testkit::fake_apiserver::FakeApiServer;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

fn pod(namespace: &str, name: &str, labels: Value, node: Option<&str>) -> anyhow::Result<Pod> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "nginx"}], "nodeName": node},
        "status": {"phase": if node.is_some() { "Running" } else { "Pending" }},
    }))?)
}

fn node(name: &str) -> anyhow::Result<Node> {
    Ok(serde_json::from_value(json!({"metadata": {"name": name}}))?)
}

/// The `Status` of a failed call, or a test failure.
fn api_error<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> anyhow::Result<Status> {
    match result {
        Err(kube::Error::Api(status)) => Ok(*status),
        other => anyhow::bail!("expected an API error, got {other:?}"),
    }
}

fn names(pods: &[Pod]) -> Vec<String> {
    pods.iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect()
}

/// The next watcher event other than the bookkeeping `Init`, within `WAIT`.
async fn next_event<S>(stream: &mut S) -> anyhow::Result<watcher::Event<Pod>>
where
    S: Stream<Item = Result<watcher::Event<Pod>, watcher::Error>> + Unpin,
{
    loop {
        let event = timeout(WAIT, stream.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("watcher ended"))??;
        if !matches!(event, watcher::Event::Init) {
            return Ok(event);
        }
    }
}

async fn seed(server: &FakeApiServer) -> anyhow::Result<()> {
    server.add(&pod(
        "default",
        "web-1",
        json!({"app": "web", "tier": "front"}),
        Some("n1"),
    )?)?;
    server.add(&pod("default", "web-2", json!({"app": "web"}), None)?)?;
    server.add(&pod("default", "db-1", json!({"app": "db"}), Some("n2"))?)?;
    server.add(&pod("other", "web-3", json!({"app": "web"}), Some("n1"))?)?;
    Ok(())
}

#[tokio::test]
async fn list_with_label_and_field_selectors() -> anyhow::Result<()> {
    let server = FakeApiServer::start().await?;
    seed(&server).await?;
    let pods: Api<Pod> = Api::namespaced(server.client(), "default");
    let all: Api<Pod> = Api::all(server.client());

    let cases = [
        (&pods, ListParams::default(), vec!["db-1", "web-1", "web-2"]),
        (
            &all,
            ListParams::default(),
            vec!["db-1", "web-1", "web-2", "web-3"],
        ),
        (
            &pods,
            ListParams::default().labels("app=web"),
            vec!["web-1", "web-2"],
        ),
        (
            &pods,
            ListParams::default().labels("app!=web"),
            vec!["db-1"],
        ),
        (
            &pods,
            ListParams::default().labels("app,!tier"),
            vec!["db-1", "web-2"],
        ),
        (
            &pods,
            ListParams::default().labels("app in (db,web),tier"),
            vec!["web-1"],
        ),
        (
            &pods,
            ListParams::default().fields("spec.nodeName="),
            vec!["web-2"],
        ),
        (
            &all,
            ListParams::default().fields("spec.nodeName=n1"),
            vec!["web-1", "web-3"],
        ),
        (
            &all,
            ListParams::default().fields("status.phase=Running,metadata.namespace=default"),
            vec!["db-1", "web-1"],
        ),
        (
            &all,
            ListParams::default()
                .fields("metadata.name!=web-1")
                .labels("app=web"),
            vec!["web-2", "web-3"],
        ),
    ];
    for (api, params, expected) in cases {
        let list = api.list(&params).await?;
        assert_eq!(names(&list.items), expected, "{params:?}");
        assert_eq!(
            list.metadata.resource_version,
            Some(server.resource_version().to_string())
        );
        assert_eq!(list.metadata.continue_, None);
    }

    let bad = api_error(
        pods.list(&ListParams::default().fields("spec.bogus=1"))
            .await,
    )?;
    assert_eq!((bad.code, bad.reason.as_str()), (400, "BadRequest"));
    assert_eq!(bad.message, "field label not supported: spec.bogus");

    // The wire format: PodList with a resourceVersion, items without kind/apiVersion.
    let raw: Value = reqwest::get(format!("{}/api/v1/namespaces/other/pods", server.url()))
        .await?
        .json()
        .await?;
    assert_eq!(raw["kind"], "PodList");
    assert_eq!(raw["apiVersion"], "v1");
    assert_eq!(raw["items"][0]["metadata"]["name"], "web-3");
    assert!(raw["items"][0].get("kind").is_none());
    Ok(())
}

#[tokio::test]
async fn chunked_lists_read_every_page_at_the_first_pages_version() -> anyhow::Result<()> {
    let server = FakeApiServer::start().await?;
    seed(&server).await?;
    let all: Api<Pod> = Api::all(server.client());
    let first = all.list(&ListParams::default().limit(2)).await?;
    assert_eq!(names(&first.items), ["db-1", "web-1"]);
    assert_eq!(first.metadata.remaining_item_count, Some(2));
    let version = first.metadata.resource_version.clone();
    let token = first.metadata.continue_.clone().unwrap_or_default();

    // Writes after the first page do not show in the rest of the list.
    server.modify::<Pod>("default", "web-2", |p| {
        p.metadata.labels = Some([("app".to_string(), "changed".to_string())].into());
    })?;
    server.add(&pod("other", "web-4", json!({"app": "web"}), Some("n1"))?)?;
    let rest = all
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await?;
    assert_eq!(names(&rest.items), ["web-2", "web-3"]);
    assert_eq!(
        rest.items[0]
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("app")),
        Some(&"web".to_string())
    );
    assert_eq!(rest.metadata.resource_version, version);
    assert_eq!(rest.metadata.continue_, None);

    // Selected pages count nothing: what is left would need a full scan.
    let web = ListParams::default().labels("app=web").limit(1);
    let mut pages = Vec::new();
    let mut params = web.clone();
    loop {
        let page = all.list(&params).await?;
        assert_eq!(page.metadata.remaining_item_count, None);
        pages.push(names(&page.items));
        match page.metadata.continue_ {
            Some(token) => params = web.clone().continue_token(&token),
            None => break,
        }
    }
    assert_eq!(pages, [["web-1"], ["web-3"], ["web-4"]]);

    // Once compacted past the first page's version the token has expired.
    let first = all.list(&ListParams::default().limit(1)).await?;
    let token = first.metadata.continue_.unwrap_or_default();
    server.add(&pod("other", "web-5", json!({"app": "web"}), Some("n1"))?)?;
    server.compact();
    let expired = api_error(
        all.list(&ListParams::default().limit(1).continue_token(&token))
            .await,
    )?;
    assert_eq!((expired.code, expired.reason.as_str()), (410, "Expired"));
    assert!(
        expired
            .message
            .starts_with("The provided continue parameter is too old")
    );

    // kube never sends both; the server refuses them together.
    let url = format!(
        "{}/api/v1/pods?continue={token}&resourceVersion=5",
        server.url()
    );
    let refused: Value = reqwest::get(url).await?.json().await?;
    assert_eq!(refused["code"], 400);
    assert_eq!(
        refused["message"],
        "specifying resource version is not allowed when using continue"
    );
    let garbled = api_error(
        all.list(&ListParams::default().continue_token("not-a-token"))
            .await,
    )?;
    assert_eq!((garbled.code, garbled.reason.as_str()), (400, "BadRequest"));
    assert!(garbled.message.starts_with("invalid continue token"));
    Ok(())
}

#[tokio::test]
async fn create_get_replace_delete_with_real_status_errors() -> anyhow::Result<()> {
    let server = FakeApiServer::start().await?;
    let pods: Api<Pod> = Api::namespaced(server.client(), "default");

    let created = pods
        .create(&PostParams::default(), &pod("", "p", json!({}), None)?)
        .await?;
    assert_eq!(created.metadata.namespace.as_deref(), Some("default"));
    assert!(created.metadata.uid.as_ref().is_some_and(|u| u.len() == 36));
    assert!(created.metadata.creation_timestamp.is_some());
    // A real server starts every created pod Pending, whatever status the client sent.
    assert_eq!(
        created.status.and_then(|s| s.phase).as_deref(),
        Some("Pending")
    );
    let rv = created
        .metadata
        .resource_version
        .clone()
        .unwrap_or_default();
    assert_eq!(rv, server.resource_version().to_string());

    let exists = api_error(
        pods.create(&PostParams::default(), &pod("", "p", json!({}), None)?)
            .await,
    )?;
    assert_eq!(
        (exists.code, exists.reason.as_str()),
        (409, "AlreadyExists")
    );
    assert_eq!(exists.message, "pods \"p\" already exists");

    let missing = api_error(pods.get("nope").await)?;
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    assert_eq!(missing.message, "pods \"nope\" not found");
    let details = missing.details.map(|d| (d.name, d.kind));
    assert_eq!(details, Some(("nope".into(), "pods".into())));

    let mut changed = pods.get("p").await?;
    changed.metadata.labels = Some([("v".to_string(), "2".to_string())].into());
    let replaced = pods.replace("p", &PostParams::default(), &changed).await?;
    assert_ne!(
        replaced.metadata.resource_version.as_deref(),
        Some(rv.as_str())
    );
    // The stale copy now conflicts, as optimistic concurrency requires.
    let stale = api_error(pods.replace("p", &PostParams::default(), &changed).await)?;
    assert_eq!((stale.code, stale.reason.as_str()), (409, "Conflict"));
    assert!(
        stale.message.contains("the object has been modified"),
        "{}",
        stale.message
    );

    let invalid = api_error(
        pods.create(
            &PostParams::default(),
            &pod("", "Bad_Name", json!({}), None)?,
        )
        .await,
    )?;
    assert_eq!((invalid.code, invalid.reason.as_str()), (422, "Invalid"));

    // Pods answer a DELETE with the object, other types with a Status.
    let deleted = pods.delete("p", &DeleteParams::default()).await?;
    assert!(
        deleted
            .left()
            .is_some_and(|p| p.metadata.name.as_deref() == Some("p"))
    );
    assert_eq!(api_error(pods.get("p").await)?.code, 404);
    assert_eq!(
        api_error(pods.delete("p", &DeleteParams::default()).await)?.code,
        404
    );

    let deployments: Api<Deployment> = Api::namespaced(server.client(), "default");
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}}}},
    }))?;
    let deployment = deployments
        .create(&PostParams::default(), &deployment)
        .await?;
    assert_eq!(deployment.metadata.generation, Some(1));
    let gone = deployments.delete("web", &DeleteParams::default()).await?;
    let details = gone
        .right()
        .and_then(|s| s.details)
        .map(|d| (d.name, d.group, d.kind));
    assert_eq!(
        details,
        Some(("web".into(), "apps".into(), "deployments".into()))
    );

    // Malformed bodies are a 400 Status, not a crash.
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/namespaces/default/pods", server.url()))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await?;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await?;
    assert_eq!(
        (body["kind"].as_str(), body["reason"].as_str()),
        (Some("Status"), Some("BadRequest"))
    );
    Ok(())
}

#[tokio::test]
async fn graceful_deletion_finalizers_and_dry_run() -> anyhow::Result<()> {
    let server = FakeApiServer::start().await?;
    seed(&server).await?;
    let pods: Api<Pod> = Api::namespaced(server.client(), "default");
    let rv = server.resource_version().to_string();
    let mut events = pods.watch(&WatchParams::default(), &rv).await?.boxed();

    // A scheduled pod terminates first (deletionTimestamp), then is removed at once: no kubelet here.
    let answer = pods.delete("web-1", &DeleteParams::default()).await?;
    let terminating = answer
        .left()
        .ok_or_else(|| anyhow::anyhow!("pods answer with the object"))?;
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert_eq!(terminating.metadata.deletion_grace_period_seconds, Some(30));
    for expected in ["MODIFIED", "DELETED"] {
        let event = timeout(WAIT, events.try_next()).await??;
        let seen = match event {
            Some(WatchEvent::Modified(p)) if p.metadata.deletion_timestamp.is_some() => "MODIFIED",
            Some(WatchEvent::Deleted(_)) => "DELETED",
            other => anyhow::bail!("expected {expected}, got {other:?}"),
        };
        assert_eq!(seen, expected);
    }
    assert_eq!(api_error(pods.get("web-1").await)?.code, 404);

    // Finalizers hold the object until the last one is removed.
    server.modify::<Pod>("default", "db-1", |p| {
        p.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    })?;
    pods.delete("db-1", &DeleteParams::default().grace_period(0))
        .await?;
    assert!(
        pods.get("db-1")
            .await?
            .metadata
            .deletion_timestamp
            .is_some()
    );
    let release = json!({"metadata": {"finalizers": null}});
    pods.patch("db-1", &PatchParams::default(), &Patch::Merge(release))
        .await?;
    assert_eq!(api_error(pods.get("db-1").await)?.code, 404);

    // Dry runs answer as usual and write nothing.
    let before = server.resource_version();
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    pods.create(&dry, &pod("", "ghost", json!({}), None)?)
        .await?;
    pods.delete("web-2", &DeleteParams::default().dry_run())
        .await?;
    assert_eq!(server.resource_version(), before);
    assert!(server.get::<Pod>("default", "web-2").is_some());
    assert!(server.get::<Pod>("default", "ghost").is_none());
    Ok(())
}

#[tokio::test]
async fn patches_generation_and_status_subresource() -> anyhow::Result<()> {
    let server = FakeApiServer::start().await?;
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "web-pdb", "namespace": "default"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3, "observedGeneration": 1},
    }))?;
    server.add(&pdb)?;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(server.client(), "default");

    let patched = pdbs
        .patch(
            "web-pdb",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await?;
    assert_eq!(
        patched.metadata.generation,
        Some(1),
        "metadata changes keep the generation"
    );
    let patched = pdbs
        .patch(
            "web-pdb",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"minAvailable": 3}})),
        )
        .await?;
    assert_eq!(patched.metadata.generation, Some(2), "spec changes bump it");

    // The main resource ignores status; /status changes only status.
    let ignored = pdbs
        .patch(
            "web-pdb",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"disruptionsAllowed": 0}})),
        )
        .await?;
    assert_eq!(
        ignored.status.as_ref().map(|s| s.disruptions_allowed),
        Some(1)
    );
    assert_eq!(
        ignored.metadata.resource_version, patched.metadata.resource_version,
        "a no-op writes nothing"
    );
    let status_patch = json!({"status": {"disruptionsAllowed": 0}, "spec": {"minAvailable": 9}});
    let updated = pdbs
        .patch_status(
            "web-pdb",
            &PatchParams::default(),
            &Patch::Merge(status_patch),
        )
        .await?;
    assert_eq!(
        updated.status.as_ref().map(|s| s.disruptions_allowed),
        Some(0)
    );
    assert_eq!(updated.metadata.generation, Some(2));

    // `Patch::Json` wants a `json_patch::Patch`; inference names it for us.
    let add_annotation = serde_json::from_value(json!([
        {"op": "add", "path": "/metadata/annotations", "value": {"x": "y"}}
    ]))?;
    let with_annotation = pdbs
        .patch(
            "web-pdb",
            &PatchParams::default(),
            &Patch::<()>::Json(add_annotation),
        )
        .await?;
    assert_eq!(
        with_annotation
            .metadata
            .annotations
            .and_then(|a| a.get("x").cloned())
            .as_deref(),
        Some("y")
    );

    let unknown = api_error(
        pdbs.patch("nope", &PatchParams::default(), &Patch::Merge(json!({})))
            .await,
    )?;
    assert_eq!(
        unknown.message,
        "poddisruptionbudgets.policy \"nope\" not found"
    );
    Ok(())
}

#[tokio::test]
async fn watcher_gets_initial_pods_then_a_binding() -> anyhow::Result<()> {
    let server = FakeApiServer::start().await?;
    seed(&server).await?;
    let pods: Api<Pod> = Api::namespaced(server.client(), "default");
    let mut stream = watcher(pods, watcher::Config::default().labels("app=web")).boxed();

    let mut initial = Vec::new();
    loop {
        match next_event(&mut stream).await? {
            watcher::Event::InitApply(pod) => initial.push(pod),
            watcher::Event::InitDone => break,
            other => anyhow::bail!("unexpected event before InitDone: {other:?}"),
        }
    }
    assert_eq!(names(&initial), ["web-1", "web-2"]);

    let bound = server.bind_pod("default", "web-2", "n3")?;
    let conditions = bound.status.and_then(|s| s.conditions).unwrap_or_default();
    assert!(
        conditions
            .iter()
            .any(|c| c.type_ == "PodScheduled" && c.status == "True")
    );
    match next_event(&mut stream).await? {
        watcher::Event::Apply(pod) => {
            assert_eq!(pod.metadata.name.as_deref(), Some("web-2"));
            assert_eq!(pod.spec.and_then(|s| s.node_name).as_deref(), Some("n3"));
        }
        other => anyhow::bail!("expected the binding, got {other:?}"),
    }
    server.delete::<Pod>("default", "web-1")?;
    assert!(
        matches!(next_event(&mut stream).await?, watcher::Event::Delete(p) if p.metadata.name.as_deref() == Some("web-1"))
    );

    let lists = server
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/api/v1/namespaces/default/pods")
        .count();
    assert!(lists >= 2, "one list and one watch at least");
    assert!(
        !server.requests().iter().any(|r| r.method == "POST"),
        "nothing was posted"
    );
    Ok(())
}

#[tokio::test]
async fn streaming_list_watcher() -> anyhow::Result<()> {
    let server = FakeApiServer::start().await?;
    seed(&server).await?;
    let pods: Api<Pod> = Api::all(server.client());
    let config = watcher::Config::default()
        .streaming_lists()
        .fields("spec.nodeName=n1");
    let mut stream = watcher(pods, config).boxed();
    let mut initial = Vec::new();
    loop {
        match next_event(&mut stream).await? {
            watcher::Event::InitApply(pod) => initial.push(pod),
            watcher::Event::InitDone => break,
            other => anyhow::bail!("unexpected event before InitDone: {other:?}"),
        }
    }
    assert_eq!(names(&initial), ["web-1", "web-3"]);
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.query.contains("sendInitialEvents=true"))
    );
    Ok(())
}

#[tokio::test]
async fn selector_watch_sees_objects_leave() -> anyhow::Result<()> {
    let server = FakeApiServer::start().await?;
    seed(&server).await?;
    let pods: Api<Pod> = Api::namespaced(server.client(), "default");
    let rv = server.resource_version().to_string();
    let unscheduled = WatchParams::default().fields("spec.nodeName=");
    let mut events = pods.watch(&unscheduled, &rv).await?.boxed();
    server.bind_pod("default", "web-2", "n1")?;
    match timeout(WAIT, events.try_next()).await?? {
        // Like the watch cache: a pod that stops matching arrives as DELETED.
        Some(WatchEvent::Deleted(pod)) => assert_eq!(pod.metadata.name.as_deref(), Some("web-2")),
        other => anyhow::bail!("expected DELETED, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn binding_subresource() -> anyhow::Result<()> {
    let server = FakeApiServer::start().await?;
    server.add(&pod("default", "p", json!({}), None)?)?;
    let pods: Api<Pod> = Api::namespaced(server.client(), "default");
    let binding = json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "p", "namespace": "default"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"},
    });
    let status: Status = pods
        .create_subresource("binding", "p", &PostParams::default(), &binding)
        .await?;
    assert!(status.is_success());
    assert_eq!(status.code, 201);
    let bound = pods.get("p").await?;
    assert_eq!(
        bound.spec.as_ref().and_then(|s| s.node_name.as_deref()),
        Some("n1")
    );

    // Fixture writes that change nothing write nothing, even across the typed round trip.
    let rv = server.resource_version();
    server.modify::<Pod>("default", "p", |_| {})?;
    server.update(&bound)?;
    assert_eq!(server.resource_version(), rv);
    let relabelled = server.modify::<Pod>("default", "p", |p| {
        p.metadata.labels = Some([("k".to_string(), "v".to_string())].into());
    })?;
    assert_eq!(
        relabelled.metadata.resource_version,
        Some((rv + 1).to_string())
    );

    let again = api_error(
        pods.create_subresource::<_, Status>("binding", "p", &PostParams::default(), &binding)
            .await,
    )?;
    assert_eq!((again.code, again.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        again.message,
        "Operation cannot be fulfilled on pods/binding \"p\": pod p is already assigned to node \"n1\""
    );
    let err = server
        .bind_pod("default", "p", "n2")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("already assigned"), "{err}");

    let mismatch = api_error(
        pods.create_subresource::<_, Status>("binding", "q", &PostParams::default(), &binding)
            .await,
    )?;
    assert_eq!(
        (mismatch.code, mismatch.reason.as_str()),
        (400, "BadRequest")
    );
    Ok(())
}

#[tokio::test]
async fn too_old_resource_version_is_410_expired() -> anyhow::Result<()> {
    let server = FakeApiServer::start().await?;
    seed(&server).await?;
    let pods: Api<Pod> = Api::namespaced(server.client(), "default");

    // Before compaction the history replays what happened after the given version.
    let mut replay = pods.watch(&WatchParams::default(), "2").await?.boxed();
    match timeout(WAIT, replay.try_next()).await?? {
        Some(WatchEvent::Added(pod)) => assert_eq!(pod.metadata.name.as_deref(), Some("web-2")),
        other => anyhow::bail!("expected the replayed ADDED, got {other:?}"),
    }

    server.compact();
    let mut events = pods.watch(&WatchParams::default(), "2").await?.boxed();
    match timeout(WAIT, events.try_next()).await?? {
        Some(WatchEvent::Error(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
            assert!(
                status.message.starts_with("too old resource version: 2"),
                "{}",
                status.message
            );
        }
        other => anyhow::bail!("expected a 410 ERROR event, got {other:?}"),
    }
    assert!(
        timeout(WAIT, events.try_next()).await??.is_none(),
        "the stream ends after the error"
    );
    Ok(())
}

#[tokio::test]
async fn bookmarks_and_watch_timeout() -> anyhow::Result<()> {
    let server = FakeApiServer::start().await?;
    server.add(&node("n1")?)?;
    let nodes: Api<Node> = Api::all(server.client());
    let params = WatchParams::default().timeout(2);
    let rv = server.resource_version().to_string();
    let started = tokio::time::Instant::now();
    let events: Vec<_> = timeout(
        WAIT,
        nodes.watch(&params, &rv).await?.try_collect::<Vec<_>>(),
    )
    .await??;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert!(!events.is_empty());
    for event in &events {
        match event {
            WatchEvent::Bookmark(bookmark) => assert_eq!(bookmark.metadata.resource_version, rv),
            other => anyhow::bail!("expected only bookmarks, got {other:?}"),
        }
    }
    Ok(())
}

#[tokio::test]
async fn kubeconfig_version_and_unknown_paths() -> anyhow::Result<()> {
    let server = FakeApiServer::start().await?;
    server.add(&node("n1")?)?;
    let kubeconfig = Kubeconfig::from_yaml(&server.kubeconfig_yaml())?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    assert_eq!(config.default_namespace, "default");
    let client = kube::Client::try_from(config)?;
    let nodes: Api<Node> = Api::all(client.clone());
    assert_eq!(nodes.list(&ListParams::default()).await?.items.len(), 1);
    let version = client.apiserver_version().await?;
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "33")
    );
    let discovery = kube::Discovery::new(client.clone()).run().await?;
    let pdbs = kube::core::GroupVersionKind::gvk("policy", "v1", "PodDisruptionBudget");
    let (pdb, caps) = discovery
        .resolve_gvk(&pdbs)
        .ok_or_else(|| anyhow::anyhow!("discovery lists PodDisruptionBudget"))?;
    assert_eq!(pdb.plural, "poddisruptionbudgets");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);

    for path in [
        "/api/v1/widgets",
        "/apis/apps/v1/namespaces/default/deployments/d/scale",
        "/nope",
    ] {
        let response = reqwest::get(format!("{}{path}", server.url())).await?;
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await?;
        assert_eq!(body["reason"], "NotFound", "{path}");
    }
    server.shutdown().await;
    Ok(())
}

// ----------------------------------------------------------------------------
// pods/eviction
// ----------------------------------------------------------------------------

/// A client that reports a 429 instead of retrying it (kube retries 429/503/504 by default).
fn no_retry_client(server: &FakeApiServer) -> anyhow::Result<kube::Client> {
    let mut config = server.config();
    config.default_retry = false;
    Ok(kube::Client::try_from(config)?)
}

/// A Running pod on `n1`, with `Ready` as given.
fn running_pod(name: &str, labels: Value, ready: bool) -> anyhow::Result<Pod> {
    let ready = if ready { "True" } else { "False" };
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "nginx"}], "nodeName": "n1"},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": ready}]},
    }))?)
}

/// A PDB whose status a disruption controller would have computed (observedGeneration 1 = generation).
fn pdb(
    name: &str,
    selector: Value,
    allowed: i32,
    current: i32,
    desired: i32,
) -> anyhow::Result<PodDisruptionBudget> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": selector, "minAvailable": desired},
        "status": {
            "observedGeneration": 1,
            "disruptionsAllowed": allowed,
            "currentHealthy": current,
            "desiredHealthy": desired,
            "expectedPods": current,
        },
    }))?)
}

fn dry_run() -> EvictParams {
    EvictParams {
        post_options: PostParams {
            dry_run: true,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn allowed(server: &FakeApiServer, name: &str) -> Option<i32> {
    server
        .get::<PodDisruptionBudget>("default", name)
        .and_then(|p| p.status)
        .map(|s| s.disruptions_allowed)
}

async fn post_eviction(
    server: &FakeApiServer,
    pod: &str,
    body: Value,
) -> anyhow::Result<reqwest::Response> {
    Ok(reqwest::Client::new()
        .post(format!(
            "{}/api/v1/namespaces/default/pods/{pod}/eviction",
            server.url()
        ))
        .json(&body)
        .send()
        .await?)
}

#[tokio::test]
async fn eviction_spends_the_budget_then_answers_429() -> anyhow::Result<()> {
    let server = FakeApiServer::start().await?;
    server.add(&running_pod("web-1", json!({"app": "web"}), true)?)?;
    server.add(&running_pod("web-2", json!({"app": "web"}), true)?)?;
    server.add(&pdb(
        "web-pdb",
        json!({"matchLabels": {"app": "web"}}),
        1,
        2,
        1,
    )?)?;
    let client = no_retry_client(&server)?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client, "default");
    let rv = server.resource_version().to_string();
    let mut pod_events = pods.watch(&WatchParams::default(), &rv).await?.boxed();
    let mut pdb_events = pdbs.watch(&WatchParams::default(), &rv).await?.boxed();

    let status = timeout(WAIT, pods.evict("web-1", &EvictParams::default())).await??;
    assert!(status.is_success());
    assert_eq!(status.code, 201);

    // The PDB status write comes first (MODIFIED), then the pod's graceful deletion.
    match timeout(WAIT, pdb_events.try_next()).await?? {
        Some(WatchEvent::Modified(p)) => {
            let status = p.status.unwrap_or_default();
            assert_eq!(status.disruptions_allowed, 0);
            assert!(
                status
                    .disrupted_pods
                    .unwrap_or_default()
                    .contains_key("web-1")
            );
            let condition = status
                .conditions
                .unwrap_or_default()
                .into_iter()
                .find(|c| c.type_ == "DisruptionAllowed");
            assert_eq!(
                condition.map(|c| (c.status, c.reason)),
                Some(("False".to_string(), "InsufficientPods".to_string()))
            );
        }
        other => anyhow::bail!("expected the PDB MODIFIED, got {other:?}"),
    }
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match timeout(WAIT, pod_events.try_next()).await?? {
            Some(WatchEvent::Modified(p)) => {
                assert!(p.metadata.deletion_timestamp.is_some());
                seen.push("MODIFIED");
            }
            Some(WatchEvent::Deleted(_)) => seen.push("DELETED"),
            other => anyhow::bail!("unexpected pod event {other:?}"),
        }
    }
    assert_eq!(seen, ["MODIFIED", "DELETED"]);
    assert!(server.get::<Pod>("default", "web-1").is_none());
    assert_eq!(allowed(&server, "web-pdb"), Some(0));

    // The budget is spent until a (here absent) disruption controller recomputes it.
    let refused = api_error(timeout(WAIT, pods.evict("web-2", &EvictParams::default())).await?)?;
    assert_eq!(
        (refused.code, refused.reason.as_str()),
        (429, "TooManyRequests")
    );
    assert_eq!(
        refused.message,
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    let details = refused
        .details
        .ok_or_else(|| anyhow::anyhow!("a 429 has details"))?;
    assert_eq!(details.retry_after_seconds, 0);
    let causes: Vec<(String, String)> = details
        .causes
        .into_iter()
        .map(|c| (c.reason, c.message))
        .collect();
    assert_eq!(
        causes,
        [(
            "DisruptionBudget".to_string(),
            "The disruption budget web-pdb needs 1 healthy pods and has 2 currently".to_string()
        )]
    );
    assert!(server.get::<Pod>("default", "web-2").is_some());
    Ok(())
}

#[tokio::test]
async fn eviction_429_wire_format_and_unprocessed_budget() -> anyhow::Result<()> {
    let server = FakeApiServer::start().await?;
    server.add(&running_pod("web-1", json!({"app": "web"}), true)?)?;
    server.add(&pdb(
        "web-pdb",
        json!({"matchLabels": {"app": "web"}}),
        0,
        3,
        3,
    )?)?;
    let body =
        json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web-1"}});

    let response = timeout(WAIT, post_eviction(&server, "web-1", body.clone())).await??;
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().get("retry-after").is_none());
    let status: Value = response.json().await?;
    assert_eq!(
        status,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Cannot evict pod as it would violate the pod's disruption budget.",
            "reason": "TooManyRequests",
            "details": {"causes": [{
                "reason": "DisruptionBudget",
                "message": "The disruption budget web-pdb needs 3 healthy pods and has 3 currently",
            }]},
            "code": 429,
        })
    );

    // A spec change the controller has not observed yet: 429 with Retry-After 10.
    server.modify::<PodDisruptionBudget>("default", "web-pdb", |p| {
        if let Some(spec) = p.spec.as_mut() {
            spec.min_available = None;
            spec.max_unavailable =
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1));
        }
        if let Some(status) = p.status.as_mut() {
            status.disruptions_allowed = 1;
        }
    })?;
    let response = timeout(WAIT, post_eviction(&server, "web-1", body)).await??;
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("10")
    );
    let status: Value = response.json().await?;
    assert_eq!(status["details"]["retryAfterSeconds"], 10);
    assert_eq!(
        status["details"]["causes"][0]["message"],
        "The disruption budget web-pdb is still being processed by the server."
    );
    assert!(server.get::<Pod>("default", "web-1").is_some());
    Ok(())
}

#[tokio::test]
async fn eviction_with_two_pdbs_is_500() -> anyhow::Result<()> {
    let server = FakeApiServer::start().await?;
    server.add(&running_pod(
        "web-1",
        json!({"app": "web", "tier": "front"}),
        true,
    )?)?;
    server.add(&pdb(
        "by-app",
        json!({"matchLabels": {"app": "web"}}),
        1,
        2,
        1,
    )?)?;
    server.add(&pdb(
        "by-tier",
        json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]}),
        1,
        2,
        1,
    )?)?;
    // An empty selector matches no pod (not every pod), so it is not a third match.
    server.add(&pdb("empty", json!({}), 0, 0, 0)?)?;
    let pods: Api<Pod> = Api::namespaced(no_retry_client(&server)?, "default");
    let rv = server.resource_version();

    let err = api_error(timeout(WAIT, pods.evict("web-1", &EvictParams::default())).await?)?;
    assert_eq!((err.code, err.reason.as_str()), (500, ""));
    assert_eq!(
        err.message,
        "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
    );
    assert_eq!(server.resource_version(), rv);
    Ok(())
}

#[tokio::test]
async fn eviction_dry_run_changes_nothing() -> anyhow::Result<()> {
    let server = FakeApiServer::start().await?;
    server.add(&running_pod("web-1", json!({"app": "web"}), true)?)?;
    server.add(&running_pod("db-1", json!({"app": "db"}), true)?)?;
    server.add(&pdb(
        "web-pdb",
        json!({"matchLabels": {"app": "web"}}),
        1,
        2,
        1,
    )?)?;
    server.add(&pdb(
        "db-pdb",
        json!({"matchLabels": {"app": "db"}}),
        0,
        1,
        1,
    )?)?;
    let pods: Api<Pod> = Api::namespaced(no_retry_client(&server)?, "default");
    let rv = server.resource_version();

    let status = timeout(WAIT, pods.evict("web-1", &dry_run())).await??;
    assert_eq!((status.is_success(), status.code), (true, 201));
    let refused = api_error(timeout(WAIT, pods.evict("db-1", &dry_run())).await?)?;
    assert_eq!(refused.code, 429);

    assert_eq!(server.resource_version(), rv);
    assert!(server.get::<Pod>("default", "web-1").is_some());
    assert_eq!(allowed(&server, "web-pdb"), Some(1));
    Ok(())
}

#[tokio::test]
async fn evicting_a_missing_pod_is_404() -> anyhow::Result<()> {
    let server = FakeApiServer::start().await?;
    let pods: Api<Pod> = Api::namespaced(no_retry_client(&server)?, "default");
    let err = api_error(timeout(WAIT, pods.evict("ghost", &EvictParams::default())).await?)?;
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    assert_eq!(err.message, "pods \"ghost\" not found");
    let details = err
        .details
        .ok_or_else(|| anyhow::anyhow!("a 404 has details"))?;
    assert_eq!(
        (details.name.as_str(), details.kind.as_str()),
        ("ghost", "pods")
    );
    Ok(())
}

#[tokio::test]
async fn eviction_of_unhealthy_pending_and_terminating_pods() -> anyhow::Result<()> {
    let server = FakeApiServer::start().await?;
    let pods: Api<Pod> = Api::namespaced(no_retry_client(&server)?, "default");
    let evict = |name: &'static str| {
        let pods = pods.clone();
        async move { timeout(WAIT, pods.evict(name, &EvictParams::default())).await }
    };
    // Spent budgets everywhere: only the special cases get through.
    server.add(&pdb(
        "met",
        json!({"matchLabels": {"app": "met"}}),
        0,
        2,
        2,
    )?)?;
    server.add(&pdb(
        "short",
        json!({"matchLabels": {"app": "short"}}),
        0,
        1,
        2,
    )?)?;

    // Pending (and terminal) pods are evicted with no PDB check.
    server.add(&pod("default", "pending", json!({"app": "short"}), None)?)?;
    assert!(evict("pending").await??.is_success());

    // Unready, budget met (IfHealthyBudget, the default): evicted, budget untouched.
    server.add(&running_pod("unready-met", json!({"app": "met"}), false)?)?;
    assert!(evict("unready-met").await??.is_success());
    assert_eq!(allowed(&server, "met"), Some(0));

    // Unready, budget not met: the budget decides (429) ...
    server.add(&running_pod(
        "unready-short",
        json!({"app": "short"}),
        false,
    )?)?;
    assert_eq!(api_error(evict("unready-short").await?)?.code, 429);
    // ... unless the PDB says AlwaysAllow.
    server.modify::<PodDisruptionBudget>("default", "short", |p| {
        if let Some(spec) = p.spec.as_mut() {
            spec.unhealthy_pod_eviction_policy = Some("AlwaysAllow".into());
        }
        // As the controller would, once it has seen the new generation.
        if let Some(status) = p.status.as_mut() {
            status.observed_generation = Some(2);
        }
    })?;
    assert!(evict("unready-short").await??.is_success());
    assert!(server.get::<Pod>("default", "unready-short").is_none());

    // Already terminating (held by a finalizer): evicted again with no PDB check.
    let mut held = running_pod("held", json!({"app": "short"}), true)?;
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    server.add(&held)?;
    pods.delete("held", &DeleteParams::default()).await?;
    assert!(evict("held").await??.is_success());
    Ok(())
}

#[tokio::test]
async fn eviction_body_checks_and_grace_period() -> anyhow::Result<()> {
    let server = FakeApiServer::start().await?;
    let mut held = running_pod("web-1", json!({"app": "web"}), true)?;
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    server.add(&held)?;

    let mismatch = timeout(
        WAIT,
        post_eviction(&server, "web-1", json!({"metadata": {"name": "web-2"}})),
    )
    .await??;
    assert_eq!(mismatch.status().as_u16(), 400);
    let status: Value = mismatch.json().await?;
    assert_eq!(
        (&status["reason"], &status["message"]),
        (
            &json!("BadRequest"),
            &json!("name in URL does not match name in Eviction object")
        )
    );
    let other_ns = timeout(
        WAIT,
        post_eviction(
            &server,
            "web-1",
            json!({"metadata": {"name": "web-1", "namespace": "other"}}),
        ),
    )
    .await??;
    assert_eq!(other_ns.status().as_u16(), 400);

    // policy/v1beta1 is still accepted; deleteOptions.gracePeriodSeconds reaches the deletion.
    let response = timeout(
        WAIT,
        post_eviction(
            &server,
            "web-1",
            json!({
                "apiVersion": "policy/v1beta1",
                "kind": "Eviction",
                "metadata": {"name": "web-1", "namespace": "default"},
                "deleteOptions": {"gracePeriodSeconds": 7},
            }),
        ),
    )
    .await??;
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(
        response.json::<Value>().await?,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
    );
    let terminating = server
        .get::<Pod>("default", "web-1")
        .ok_or_else(|| anyhow::anyhow!("the finalizer keeps the pod"))?;
    assert_eq!(terminating.metadata.deletion_grace_period_seconds, Some(7));
    Ok(())
}
