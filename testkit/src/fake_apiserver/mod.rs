//! An in-process fake Kubernetes API server for tests.
//!
//! It answers kube-apiserver's HTTP/JSON protocol on loopback so that code under test talks to
//! it through the real `kube` client: lists with label and field selectors (in pages with `limit`
//! and `continue`, each page read at the first one's resourceVersion), watches with
//! resourceVersion resumption, bookmarks and 410 Expired, streaming lists
//! (`sendInitialEvents`), create/get/replace/patch/delete with real `Status` errors, the status
//! subresource, `pods/binding` and `pods/eviction`. Objects live in one store under one cluster-wide
//! resourceVersion, like etcd. Tests seed and change objects directly with [`FakeApiServer::add`],
//! [`FakeApiServer::modify`] and friends, which emit watch events like API writes do.
//!
//! `pods/eviction` checks PodDisruptionBudgets as the real server does (201, 429, 500, ...), but
//! no disruption controller runs here: a test sets each PDB's `status` itself
//! (`disruptionsAllowed`, `currentHealthy`, `desiredHealthy`, and `observedGeneration` equal to
//! `metadata.generation`, else the eviction answers 429 "still being processed") with
//! [`FakeApiServer::add`] or [`FakeApiServer::modify`]. An eviction decrements
//! `disruptionsAllowed` and records the pod in `disruptedPods`; nothing recomputes the budget.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use k8s_openapi::api::core::v1::Pod;
//! use kube::Api;
//! let server = tidal_testkit::fake_apiserver::FakeApiServer::start().await?;
//! server.add(&serde_json::from_value::<Pod>(serde_json::json!({"metadata": {"name": "p"}}))?)?;
//! let pods: Api<Pod> = Api::default_namespaced(server.client());
//! assert_eq!(pods.list(&Default::default()).await?.items.len(), 1);
//! # Ok(()) }
//! ```

mod discovery;
mod eviction;
mod paging;
mod patch;
mod resources;
mod routes;
mod selectors;
mod status;
mod store;
mod watch;

use anyhow::{Context, anyhow};
use axum::http::{Method, Uri};
use axum::serve::ListenerExt as _;
use k8s_openapi::api::core::v1::Pod;
use kube::Resource;
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use store::{ObjectKey, Origin, Res, Store};
use tokio::task::JoinHandle;

/// One request the server received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, empty if none.
    pub query: String,
}

/// A change a test asked for right after the next GET of one object.
type AfterGet = (ObjectKey, Box<dyn FnOnce(&mut Store) + Send>);

/// State shared by the handlers and the test-side API.
/// Requests of `verb` on `plural` RBAC refuses once `allowed` more have gone through.
pub(crate) struct Denial {
    pub verb: String,
    pub plural: String,
    pub allowed: usize,
}

pub(crate) struct Shared {
    store: Mutex<Store>,
    requests: Mutex<Vec<RecordedRequest>>,
    after_get: Mutex<Vec<AfterGet>>,
    /// RBAC refusals, as [`FakeApiServer::deny_after`] set them.
    denied: Mutex<Vec<Denial>>,
    /// Evictions still answered before the server goes down ([`FakeApiServer::go_down_after_evictions`]).
    evictions_until_down: Mutex<Option<usize>>,
    down: std::sync::atomic::AtomicBool,
    /// Flips to `true` (or closes) when the server stops; open watches end on it.
    shutdown: tokio::sync::watch::Receiver<bool>,
    addr: SocketAddr,
}

impl Shared {
    fn is_down(&self) -> bool {
        self.down.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Counts an answered eviction towards [`FakeApiServer::go_down_after_evictions`].
    fn evicted(&self) {
        let mut left = self.evictions_until_down.lock();
        if let Some(n) = left.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.down.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
    }

    fn record(&self, method: &Method, uri: &Uri) {
        tracing::debug!(%method, %uri, "fake apiserver request");
        self.requests.lock().push(RecordedRequest {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().unwrap_or_default().to_string(),
        });
    }

    /// Runs the oldest change queued for `key` by [`FakeApiServer::modify_after_next_get`].
    pub(crate) fn after_get(&self, key: &ObjectKey, store: &mut Store) {
        let mut queued = self.after_get.lock();
        let Some(index) = queued.iter().position(|(k, _)| k == key) else {
            return;
        };
        let (_, change) = queued.remove(index);
        drop(queued);
        change(store);
    }
}

/// A fake kube-apiserver on `127.0.0.1`, serving until dropped or [`shut down`](Self::shutdown).
pub struct FakeApiServer {
    shared: Arc<Shared>,
    stop: tokio::sync::watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// The served resource for a Rust type, e.g. `pods` for [`Pod`].
fn resource_of<K: Resource<DynamicType = ()>>() -> anyhow::Result<Res> {
    resources::find(&K::group(&()), &K::version(&()), &K::plural(&())).ok_or_else(|| {
        anyhow!(
            "{} is not served by the fake API server (add it to fake_apiserver::resources::RESOURCES)",
            K::kind(&())
        )
    })
}

fn key_of<K: Resource<DynamicType = ()>>(namespace: &str, name: &str) -> anyhow::Result<ObjectKey> {
    Ok(ObjectKey::new(resource_of::<K>()?, namespace, name))
}

fn typed<K: DeserializeOwned>(value: Value) -> anyhow::Result<K> {
    serde_json::from_value(value).context("stored object does not deserialize as its Rust type")
}

fn not_found(key: &ObjectKey) -> anyhow::Error {
    anyhow!(
        "{} {}/{} not found",
        key.res.qualified(),
        key.namespace,
        key.name
    )
}

/// Writes `new` over the object at `key` (a fixture write: no resourceVersion precondition).
/// Nothing is written when `new` equals the stored object as `K` sees it: a round trip through
/// `K` drops what `K` does not model (e.g. `lastProbeTime: null`), which is no change.
fn write_typed<K>(store: &mut Store, key: &ObjectKey, new: &K) -> anyhow::Result<K>
where
    K: Serialize + DeserializeOwned,
{
    let current = store.get(key).cloned().ok_or_else(|| not_found(key))?;
    let mut baseline = serde_json::to_value(typed::<K>(current.clone())?)?;
    let mut value = serde_json::to_value(new)?;
    store::meta_mut(&mut baseline).remove("resourceVersion");
    store::meta_mut(&mut value).remove("resourceVersion");
    if value == baseline {
        return typed(current);
    }
    let stored = store.modify(key, Origin::Fixture, false, |stored| {
        *stored = value;
        Ok(())
    })?;
    typed(stored)
}

/// Reads, changes and writes back one stored object as `K`.
fn modify_stored<K>(
    store: &mut Store,
    key: &ObjectKey,
    change: impl FnOnce(&mut K),
) -> anyhow::Result<K>
where
    K: Serialize + DeserializeOwned,
{
    let current = store.get(key).cloned().ok_or_else(|| not_found(key))?;
    let mut obj: K = typed(current)?;
    change(&mut obj);
    write_typed(store, key, &obj)
}

impl FakeApiServer {
    /// Binds `127.0.0.1:0` and serves in a background task of the current tokio runtime.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("binding the fake API server to loopback")?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new()),
            requests: Mutex::new(Vec::new()),
            after_get: Mutex::new(Vec::new()),
            denied: Mutex::new(Vec::new()),
            evictions_until_down: Mutex::new(None),
            down: std::sync::atomic::AtomicBool::new(false),
            shutdown: stopped.clone(),
            addr,
        });
        let app = routes::router(Arc::clone(&shared));
        let mut stopped = stopped;
        let task = tokio::spawn(async move {
            // Go's net package sets TCP_NODELAY on every connection, so the real server sends each
            // watch event at once; without it Nagle holds small events back for a delayed ACK.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                // Also resolves when the sender is dropped with the server.
                let _ = stopped.wait_for(|stop| *stop).await;
            });
            if let Err(err) = serve.await {
                tracing::warn!(%err, "fake API server stopped with an error");
            }
        });
        Ok(Self {
            shared,
            stop,
            task: Some(task),
        })
    }

    /// Stops serving: open watches end, and this waits (up to 5 s) for connections to close.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }

    /// `http://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// A client configuration for this server (plain HTTP, no auth), for tests that adjust it.
    pub fn config(&self) -> kube::Config {
        let uri = Uri::builder()
            .scheme("http")
            .authority(self.shared.addr.to_string())
            .path_and_query("/")
            .build()
            .expect("a socket address is a valid URI authority");
        kube::Config::new(uri)
    }

    /// A `kube::Client` for this server, configured as `kube::Config::new(url)` is by default.
    ///
    /// That default includes `default_retry: true`: the client silently retries 429, 503 and 504
    /// with backoff, so a test that expects a 429 (e.g. an eviction refused by a
    /// PodDisruptionBudget) should build its client from [`Self::config`] with
    /// `config.default_retry = false`.
    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(self.config())
            .expect("a plain-HTTP client needs no TLS or auth setup")
    }

    /// A kubeconfig whose current context points at this server, for `--kubeconfig`/`KUBECONFIG`.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {url}
contexts:
- name: fake
  context:
    cluster: fake
    user: fake
    namespace: default
current-context: fake
users:
- name: fake
  user: {{}}
preferences: {{}}
",
            url = self.url()
        )
    }

    /// Stores a new object as a test fixture: resourceVersion is assigned, `uid`,
    /// `creationTimestamp` (and `generation` for workloads) filled in only when missing, status
    /// kept as given, a namespaced object without namespace goes to `default`. Emits ADDED.
    pub fn add<K>(&self, obj: &K) -> anyhow::Result<K>
    where
        K: Resource<DynamicType = ()> + Serialize + DeserializeOwned,
    {
        let res = resource_of::<K>()?;
        let value = serde_json::to_value(obj)?;
        let stored = self
            .shared
            .store
            .lock()
            .create(res, value, Origin::Fixture, false)?;
        typed(stored)
    }

    /// The stored object as JSON (with `kind` and `apiVersion`). Use `""` as namespace for cluster-scoped types.
    pub fn get_json<K: Resource<DynamicType = ()>>(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let key = key_of::<K>(namespace, name).ok()?;
        self.shared.store.lock().get(&key).cloned()
    }

    /// The stored object. Use `""` as namespace for cluster-scoped types.
    pub fn get<K>(&self, namespace: &str, name: &str) -> Option<K>
    where
        K: Resource<DynamicType = ()> + DeserializeOwned,
    {
        self.get_json::<K>(namespace, name)
            .and_then(|v| typed(v).ok())
    }

    /// All stored objects of a type, in every namespace, in etcd key order.
    pub fn list<K>(&self) -> anyhow::Result<Vec<K>>
    where
        K: Resource<DynamicType = ()> + DeserializeOwned,
    {
        let res = resource_of::<K>()?;
        let values: Vec<Value> = self
            .shared
            .store
            .lock()
            .list(res, None)
            .into_iter()
            .cloned()
            .collect();
        values.into_iter().map(typed).collect()
    }

    /// Replaces a stored object unconditionally (its resourceVersion is ignored); metadata it
    /// leaves out (`uid`, `creationTimestamp`, ...) is kept. Emits MODIFIED unless nothing changed.
    pub fn update<K>(&self, obj: &K) -> anyhow::Result<K>
    where
        K: Resource<DynamicType = ()> + Serialize + DeserializeOwned,
    {
        let meta = obj.meta();
        let name = meta
            .name
            .as_deref()
            .context("the object has no metadata.name")?;
        let key = key_of::<K>(meta.namespace.as_deref().unwrap_or("default"), name)?;
        write_typed(&mut self.shared.store.lock(), &key, obj)
    }

    /// Changes a stored object in place under the store lock (the closure must not call this
    /// server). `.spec` changes bump `generation` for workload types unless the closure sets it.
    /// Emits MODIFIED unless nothing changed.
    pub fn modify<K>(
        &self,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut K),
    ) -> anyhow::Result<K>
    where
        K: Resource<DynamicType = ()> + Serialize + DeserializeOwned,
    {
        let key = key_of::<K>(namespace, name)?;
        modify_stored(&mut self.shared.store.lock(), &key, change)
    }

    /// Changes a stored object once, right after the server has answered the next GET of it: a
    /// concurrent writer slipping in between a client's read and its write, so that the write's
    /// `resourceVersion` precondition fails with 409 Conflict as against a real server. The
    /// change is applied as [`Self::modify`] applies it (a failure is logged, not returned).
    /// Each call queues one change for one GET: queue three to make three reads go stale.
    pub fn modify_after_next_get<K>(
        &self,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut K) + Send + 'static,
    ) -> anyhow::Result<()>
    where
        K: Resource<DynamicType = ()> + Serialize + DeserializeOwned,
    {
        let key = key_of::<K>(namespace, name)?;
        let target = key.clone();
        let run = move |store: &mut Store| {
            if let Err(err) = modify_stored(store, &target, change) {
                tracing::warn!(%err, "fake apiserver: change after GET failed");
            }
        };
        self.shared.after_get.lock().push((key, Box::new(run)));
        Ok(())
    }

    /// Removes a stored object at once (no finalizers, no grace period). Emits DELETED.
    pub fn delete<K: Resource<DynamicType = ()>>(
        &self,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<()> {
        let key = key_of::<K>(namespace, name)?;
        self.shared.store.lock().remove(&key)?;
        Ok(())
    }

    /// Binds a pod to a node as `POST pods/{name}/binding` does: sets `spec.nodeName`, sets
    /// `PodScheduled=True` and emits MODIFIED. Fails like the real binding if the pod is
    /// already assigned (`pod x is already assigned to node "n"`), missing or being deleted.
    pub fn bind_pod(&self, namespace: &str, name: &str, node: &str) -> anyhow::Result<Pod> {
        let key = key_of::<Pod>(namespace, name)?;
        let bound = self
            .shared
            .store
            .lock()
            .bind(&key, node, None, &Map::new(), false)?;
        typed(bound)
    }

    /// The cluster-wide resourceVersion of the last write.
    pub fn resource_version(&self) -> u64 {
        self.shared.store.lock().revision()
    }

    /// Drops the change history, like an etcd compaction: a watch from any older
    /// resourceVersion, or a list continued from an older page, now gets `410 Expired`.
    pub fn compact(&self) {
        self.shared.store.lock().compact();
    }

    /// Every request received so far, in order.
    /// From now on, answers `verb` (`list`, `get`, `watch`, `create`, `patch`, ...) on `plural`
    /// (e.g. `poddisruptionbudgets`) with RBAC's 403, as for a service account without that rule.
    pub fn deny(&self, verb: &str, plural: &str) {
        self.deny_after(verb, plural, 0);
    }

    /// Like [`Self::deny`] once `allowed` more such requests have gone through: a way to make
    /// a client fail at a chosen point of its work, as if it had crashed there.
    pub fn deny_after(&self, verb: &str, plural: &str, allowed: usize) {
        self.shared.denied.lock().push(Denial {
            verb: verb.to_string(),
            plural: plural.to_string(),
            allowed,
        });
    }

    /// Lifts every [`Self::deny`] and [`Self::deny_after`]: the client's next run, after the
    /// crash they stood for.
    pub fn allow_all(&self) {
        self.shared.denied.lock().clear();
    }

    /// Once `evictions` more evictions are answered, every request gets a 503 until
    /// [`Self::recover`]: what the rest of a client's work meets when the client is killed
    /// right after those evictions.
    pub fn go_down_after_evictions(&self, evictions: usize) {
        *self.shared.evictions_until_down.lock() = Some(evictions);
    }

    /// Serves again after [`Self::go_down_after_evictions`].
    pub fn recover(&self) {
        *self.shared.evictions_until_down.lock() = None;
        self.shared
            .down
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().clone()
    }

    pub fn clear_requests(&self) {
        self.shared.requests.lock().clear();
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        // Ends open watches and starts the graceful shutdown; `shutdown()` also waits for it.
        let _ = self.stop.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, Patch, PatchParams};
    use serde_json::json;

    #[tokio::test]
    async fn a_change_after_get_makes_the_read_stale() -> anyhow::Result<()> {
        let server = FakeApiServer::start().await?;
        server.add(&serde_json::from_value::<ConfigMap>(
            json!({"metadata": {"name": "c"}}),
        )?)?;
        server.modify_after_next_get::<ConfigMap>("default", "c", |c| {
            c.data = Some([("k".to_string(), "theirs".to_string())].into());
        })?;
        let api: Api<ConfigMap> = Api::default_namespaced(server.client());
        let read = api.get("c").await?;
        assert_eq!(read.data, None, "the GET answers the object as it was");
        let patch = json!({
            "metadata": {"resourceVersion": read.metadata.resource_version},
            "data": {"k": "ours"},
        });
        let err = api
            .patch("c", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect_err("the read is stale");
        assert!(matches!(err, kube::Error::Api(s) if s.code == 409));
        assert_eq!(
            api.get("c")
                .await?
                .data
                .and_then(|d| d.get("k").cloned())
                .as_deref(),
            Some("theirs")
        );
        Ok(())
    }
}
