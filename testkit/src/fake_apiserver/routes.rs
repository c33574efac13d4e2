//! The HTTP surface: kube-apiserver's REST paths, verbs and answers.
//!
//! Everything goes through one fallback handler that parses the path itself, because
//! Kubernetes paths (`/api/v1/namespaces/{ns}/{plural}/{name}/{subresource}`, core vs
//! named groups, the `namespaces` resource itself) do not fit a static route table.

use super::Shared;
use super::discovery::{self, Discovery};
use super::eviction;
use super::paging::{self, Continue};
use super::patch::{self, PatchType};
use super::resources;
use super::selectors::{FieldSelector, LabelSelector, Selectors};
use super::status::{ApiError, FieldCause, json_response, success};
use super::store::{DeleteOptions, Deletion, ObjectKey, Origin, Res, meta_mut, meta_str};
use super::watch::{self, Start, WatchRequest};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The real server's default request body limit (3 MiB).
const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(dispatch).with_state(shared)
}

/// What a path names.
enum Target {
    Discovery(Discovery),
    /// `namespace` is `None` for cluster-scoped types and for "all namespaces" lists of namespaced ones.
    Collection {
        res: Res,
        namespace: Option<String>,
    },
    Object(ObjectKey),
    Subresource(ObjectKey, String),
}

fn parse_path(path: &str) -> Option<Target> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["version"] => return Some(Target::Discovery(Discovery::Version)),
        ["api"] => return Some(Target::Discovery(Discovery::ApiVersions)),
        ["apis"] => return Some(Target::Discovery(Discovery::ApiGroups)),
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    if rest.is_empty() {
        let (group, version) = resources::group_versions()
            .into_iter()
            .find(|gv| *gv == (group, version))?;
        return Some(Target::Discovery(Discovery::ApiResources(group, version)));
    }
    // `namespaces/{ns}/{plural}...` unless it names the Namespace object itself (`namespaces/{name}[/status]`).
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..]
            if resources::find(group, version, plural).is_some_and(|r| r.namespaced) =>
        {
            (Some(ns.to_string()), (*plural, tail))
        }
        [plural, tail @ ..] => (None, (*plural, tail)),
        [] => return None,
    };
    let (plural, tail) = rest;
    let res = resources::find(group, version, plural)?;
    // A namespaced object is only addressable inside its namespace.
    let key = |name: &str| {
        (!res.namespaced || namespace.is_some())
            .then(|| ObjectKey::new(res, namespace.as_deref().unwrap_or_default(), name))
    };
    match tail {
        [] => Some(Target::Collection { res, namespace }),
        [name] => key(name).map(Target::Object),
        [name, sub] => key(name).map(|key| Target::Subresource(key, sub.to_string())),
        _ => None,
    }
}

/// One request, read in full (watch responses stream, requests never do).
struct Call {
    shared: Arc<Shared>,
    method: Method,
    params: Vec<(String, String)>,
    content_type: String,
    body: Bytes,
}

async fn dispatch(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    shared.record(&parts.method, &parts.uri);
    if shared.is_down() {
        return ApiError::unavailable("the test took the API server down").into_response();
    }
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(err) => {
            return ApiError::bad_request(format!("unable to read the request body: {err}"))
                .into_response();
        }
    };
    let params = match Query::<Vec<(String, String)>>::try_from_uri(&parts.uri) {
        Ok(Query(params)) => params,
        Err(err) => return ApiError::bad_request(format!("invalid query: {err}")).into_response(),
    };
    let call = Call {
        shared,
        method: parts.method,
        params,
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        body,
    };
    call.handle(&parts.uri)
        .unwrap_or_else(IntoResponse::into_response)
}

fn ok(body: &Value) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, body))
}

/// A list item: the real server omits `kind` and `apiVersion` on items of typed lists.
fn list_item(obj: &Value) -> Value {
    let mut item = obj.clone();
    if let Some(map) = item.as_object_mut() {
        map.remove("kind");
        map.remove("apiVersion");
    }
    item
}

fn list_body(res: Res, rv: u64, items: Vec<Value>) -> Value {
    json!({
        "kind": res.list_kind(),
        "apiVersion": res.api_version(),
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    })
}

fn list_options_invalid(causes: Vec<FieldCause>) -> ApiError {
    ApiError::invalid("meta.k8s.io", "ListOptions", "", causes)
}

impl Call {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn dry_run(&self) -> Result<bool, ApiError> {
        match self.param("dryRun") {
            None => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "Invalid dryRun value: {other:?}, supported values: \"All\""
            ))),
        }
    }

    fn selectors(&self, res: Res) -> Result<Selectors, ApiError> {
        Ok(Selectors {
            labels: LabelSelector::parse(self.param("labelSelector").unwrap_or_default())?,
            fields: FieldSelector::parse(self.param("fieldSelector").unwrap_or_default(), res)?,
        })
    }

    fn resource_version(&self) -> Result<Option<u64>, ApiError> {
        self.param("resourceVersion")
            .map(|rv| {
                rv.parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv:?}")))
            })
            .transpose()
    }

    /// The request body as a JSON object, refused like the real decoder refuses it.
    fn json_body(&self) -> Result<Value, ApiError> {
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(value) if value.is_object() => Ok(value),
            Ok(_) => Err(ApiError::bad_request(
                "couldn't get version/kind; json parse error: expected a JSON object",
            )),
            Err(err) => Err(ApiError::bad_request(format!(
                "couldn't get version/kind; json parse error: {err}"
            ))),
        }
    }

    /// A body for `res`: its `apiVersion`/`kind`, when present, must be the resource's.
    fn object_body(&self, res: Res) -> Result<Value, ApiError> {
        let body = self.json_body()?;
        if let Some(api_version) = body.get("apiVersion").and_then(Value::as_str)
            && api_version != res.api_version()
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({})",
                res.api_version()
            )));
        }
        if let Some(kind) = body.get("kind").and_then(Value::as_str)
            && kind != res.kind
        {
            return Err(ApiError::bad_request(format!(
                "{kind} in version \"{}\" cannot be handled as a {}",
                res.version, res.kind
            )));
        }
        Ok(body)
    }

    fn handle(&self, uri: &Uri) -> Result<Response, ApiError> {
        let target = parse_path(uri.path()).ok_or_else(ApiError::path_not_found)?;
        let method = &self.method;
        match target {
            Target::Discovery(discovery) if *method == Method::GET => {
                ok(&discovery::answer(discovery, self.shared.addr))
            }
            Target::Discovery(_) => Err(ApiError::method_not_allowed()),
            Target::Collection { res, namespace } => {
                let all_namespaces = res.namespaced && namespace.is_none();
                let verb = match *method {
                    Method::GET if matches!(self.param("watch"), Some("true" | "1")) => "watch",
                    Method::GET => "list",
                    Method::POST => "create",
                    _ => "deletecollection",
                };
                self.authorize(verb, res, namespace.as_deref(), "")?;
                match *method {
                    Method::GET if matches!(self.param("watch"), Some("true" | "1")) => {
                        self.watch(res, namespace)
                    }
                    Method::GET => self.list(res, namespace.as_deref()),
                    Method::POST if !all_namespaces => self.create(res, namespace.as_deref()),
                    Method::DELETE if !all_namespaces => {
                        self.delete_collection(res, namespace.as_deref())
                    }
                    _ => Err(ApiError::method_not_allowed()),
                }
            }
            Target::Object(key) => {
                let verb = match *method {
                    Method::GET => "get",
                    Method::PUT => "update",
                    Method::PATCH => "patch",
                    _ => "delete",
                };
                self.authorize(verb, key.res, Some(&key.namespace), &key.name)?;
                match *method {
                    Method::GET => self.get(&key),
                    Method::PUT => self.replace(&key, false),
                    Method::PATCH => self.patch(&key, false),
                    Method::DELETE => self.delete(&key),
                    _ => Err(ApiError::method_not_allowed()),
                }
            }
            Target::Subresource(key, sub) => self.subresource(&key, &sub),
        }
    }

    /// RBAC's answer for a `(verb, resource)` pair the test denied.
    fn authorize(
        &self,
        verb: &str,
        res: Res,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), ApiError> {
        let mut denied = self.shared.denied.lock();
        let Some(denial) = denied
            .iter_mut()
            .find(|d| d.verb == verb && d.plural == res.plural)
        else {
            return Ok(());
        };
        if denial.allowed > 0 {
            denial.allowed -= 1;
            return Ok(());
        }
        Err(ApiError::forbidden_by_rbac(res, verb, namespace, name))
    }

    fn subresource(&self, key: &ObjectKey, sub: &str) -> Result<Response, ApiError> {
        let has_status = key.res.status_subresource;
        let is_pod = key.res.group.is_empty() && key.res.plural == "pods";
        match (sub, &self.method) {
            ("status", &Method::GET) if has_status => self.get(key),
            ("status", &Method::PUT) if has_status => self.replace(key, true),
            ("status", &Method::PATCH) if has_status => self.patch(key, true),
            ("status", _) if has_status => Err(ApiError::method_not_allowed()),
            ("binding", &Method::POST) if is_pod => self.binding(key),
            ("binding", _) if is_pod => Err(ApiError::method_not_allowed()),
            ("eviction", &Method::POST) if is_pod => {
                let answer = self.eviction(key);
                if answer
                    .as_ref()
                    .is_ok_and(|r| r.status() == StatusCode::CREATED)
                {
                    self.shared.evicted();
                }
                answer
            }
            ("eviction", _) if is_pod => Err(ApiError::method_not_allowed()),
            _ => Err(ApiError::path_not_found()),
        }
    }

    fn get(&self, key: &ObjectKey) -> Result<Response, ApiError> {
        let mut store = self.shared.store.lock();
        let obj = store
            .get(key)
            .ok_or_else(|| ApiError::not_found(key.res, &key.name))?;
        let answer = ok(obj);
        self.shared.after_get(key, &mut store);
        answer
    }

    fn list(&self, res: Res, namespace: Option<&str>) -> Result<Response, ApiError> {
        let selectors = self.selectors(res)?;
        let rv_match = self.param("resourceVersionMatch");
        let limit = self.limit()?;
        if self.param("sendInitialEvents").is_some() {
            let cause = FieldCause::forbidden(
                "sendInitialEvents",
                "sendInitialEvents is forbidden for list",
            );
            return Err(list_options_invalid(vec![cause]));
        }
        if rv_match.is_some() && self.param("continue").is_some() {
            let cause = FieldCause::forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden when continue is provided",
            );
            return Err(list_options_invalid(vec![cause]));
        }
        if rv_match.is_some() && self.param("resourceVersion").is_none() {
            let cause = FieldCause::forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            );
            return Err(list_options_invalid(vec![cause]));
        }
        let requested = self.resource_version()?;
        let continued = self.param("continue").map(Continue::decode).transpose()?;
        if continued.is_some() && requested.is_some_and(|rv| rv != 0) {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        let store = self.shared.store.lock();
        let current = store.revision();
        match (requested, rv_match) {
            (Some(0), Some("Exact")) => {
                let cause = FieldCause::forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                );
                return Err(list_options_invalid(vec![cause]));
            }
            (Some(rv), _) if rv > current => {
                return Err(ApiError::too_large_resource_version(rv, current));
            }
            // Only the current state is kept, so an exact read of the past has been "compacted".
            (Some(rv), Some("Exact")) if rv < current => {
                return Err(ApiError::expired(
                    "The resourceVersion for the provided list is too old.",
                ));
            }
            _ => {}
        }
        // A continued list is read at the revision of its first page, like an etcd snapshot.
        let (rv, start) = match &continued {
            Some(token) => (token.rv, token.start.as_str()),
            None => (current, ""),
        };
        let objects = store
            .list_at(res, namespace, rv)
            .map_err(|_| ApiError::expired(paging::EXPIRED))?;
        let mut matching = objects
            .into_iter()
            .filter(|(key, obj)| key.as_str() >= start && selectors.matches(res, obj));
        let page: Vec<(String, &Value)> = matching.by_ref().take(limit).collect();
        let remaining = matching.count();
        let mut body = list_body(
            res,
            rv,
            page.iter().map(|(_, obj)| list_item(obj)).collect(),
        );
        if let Some((last, _)) = page.last().filter(|_| remaining > 0) {
            let metadata = &mut body["metadata"];
            metadata["continue"] = json!(Continue::after(rv, last).encode());
            // The real server counts what is left only when no selector filters it.
            if self.param("labelSelector").is_none() && self.param("fieldSelector").is_none() {
                metadata["remainingItemCount"] = json!(remaining);
            }
        }
        ok(&body)
    }

    /// `limit`: how many objects one page holds; absent, zero or negative is no limit.
    fn limit(&self) -> Result<usize, ApiError> {
        let Some(limit) = self.param("limit") else {
            return Ok(usize::MAX);
        };
        let limit: i64 = limit.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "invalid limit: strconv.ParseInt: parsing {limit:?}: invalid syntax"
            ))
        })?;
        Ok(usize::try_from(limit)
            .ok()
            .filter(|&l| l > 0)
            .unwrap_or(usize::MAX))
    }

    fn watch(&self, res: Res, namespace: Option<String>) -> Result<Response, ApiError> {
        let selectors = self.selectors(res)?;
        let bookmarks = self.param("allowWatchBookmarks") == Some("true");
        let send_initial_events = match self.param("sendInitialEvents") {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "invalid sendInitialEvents: {other:?}"
                )));
            }
        };
        let rv_match = self.param("resourceVersionMatch");
        let mut causes = Vec::new();
        if send_initial_events.is_some() {
            if rv_match != Some("NotOlderThan") {
                causes.push(FieldCause::forbidden(
                    "resourceVersionMatch",
                    "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                ));
            }
            if send_initial_events == Some(true) && !bookmarks {
                causes.push(FieldCause::forbidden(
                    "allowWatchBookmarks",
                    "sendInitialEvents requires setting allowWatchBookmarks to true",
                ));
            }
        } else if rv_match.is_some() {
            causes.push(FieldCause::forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
            ));
        }
        if !causes.is_empty() {
            return Err(list_options_invalid(causes));
        }
        let timeout = self
            .param("timeoutSeconds")
            .map(|t| {
                t.parse::<u64>()
                    .map(Duration::from_secs)
                    .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds: {t:?}")))
            })
            .transpose()?;
        let requested = self.resource_version()?;
        let current = self.shared.store.lock().revision();
        let start = match (send_initial_events, requested) {
            (Some(true), Some(rv)) if rv > current => {
                return Err(ApiError::too_large_resource_version(rv, current));
            }
            (Some(true), _) => Start::Current,
            // sendInitialEvents=false with no resourceVersion: from now on, no synthetic events.
            (Some(false), None | Some(0)) => Start::After(current),
            (None, None | Some(0)) => Start::Current,
            (_, Some(rv)) => Start::After(rv),
        };
        let request = WatchRequest {
            res,
            namespace,
            selectors,
            start,
            bookmarks,
            send_initial_events: send_initial_events == Some(true),
            timeout,
        };
        Ok(watch::open(&self.shared, request))
    }

    /// Puts the URL's namespace on the body, refusing a body that names another one.
    fn in_namespace(res: Res, mut obj: Value, namespace: Option<&str>) -> Result<Value, ApiError> {
        if let Some(namespace) = namespace.filter(|_| res.namespaced) {
            match meta_str(&obj, "namespace") {
                Some(ns) if !ns.is_empty() && ns != namespace => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    meta_mut(&mut obj).insert("namespace".into(), json!(namespace));
                }
            }
        }
        Ok(obj)
    }

    fn create(&self, res: Res, namespace: Option<&str>) -> Result<Response, ApiError> {
        let obj = Self::in_namespace(res, self.object_body(res)?, namespace)?;
        let dry_run = self.dry_run()?;
        let created = self
            .shared
            .store
            .lock()
            .create(res, obj, Origin::Api, dry_run)?;
        Ok(json_response(StatusCode::CREATED, &created))
    }

    fn replace(&self, key: &ObjectKey, status_only: bool) -> Result<Response, ApiError> {
        let res = key.res;
        let obj = self.object_body(res)?;
        let name = meta_str(&obj, "name").unwrap_or_default();
        if name != key.name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({name}) does not match the name on the URL ({})",
                key.name
            )));
        }
        let obj = Self::in_namespace(res, obj, Some(&key.namespace))?;
        let dry_run = self.dry_run()?;
        let mut store = self.shared.store.lock();
        let old = store
            .get(key)
            .ok_or_else(|| ApiError::not_found(res, &key.name))?;
        let new = split_status(res, old, obj, status_only);
        let updated = store.update(res, new, Origin::Api, dry_run)?;
        ok(&updated)
    }

    fn patch(&self, key: &ObjectKey, status_only: bool) -> Result<Response, ApiError> {
        let res = key.res;
        let kind = PatchType::from_content_type(&self.content_type)
            .ok_or_else(ApiError::unsupported_patch_type)?;
        let body = serde_json::from_slice::<Value>(&self.body)
            .map_err(|err| ApiError::bad_request(format!("error decoding patch: {err}")))?;
        if kind == PatchType::Apply && self.param("fieldManager").is_none() {
            let cause = FieldCause::required("fieldManager", "is required for apply patch");
            return Err(ApiError::invalid(
                "meta.k8s.io",
                "PatchOptions",
                "",
                vec![cause],
            ));
        }
        let dry_run = self.dry_run()?;
        let mut store = self.shared.store.lock();
        let Some(old) = store.get(key) else {
            // Server-side apply creates what does not exist yet.
            if kind == PatchType::Apply && !status_only {
                let mut obj = self.object_body(res)?;
                meta_mut(&mut obj).insert("name".into(), json!(key.name));
                let obj = Self::in_namespace(res, obj, Some(&key.namespace))?;
                let created = store.create(res, obj, Origin::Api, dry_run)?;
                return Ok(json_response(StatusCode::CREATED, &created));
            }
            return Err(ApiError::not_found(res, &key.name));
        };
        let mut patched = patch::apply(kind, old.clone(), &body)?;
        // A patch cannot move the object: the URL decides its name and namespace.
        let meta = meta_mut(&mut patched);
        meta.insert("name".into(), json!(key.name));
        if res.namespaced {
            meta.insert("namespace".into(), json!(key.namespace));
        }
        let new = split_status(res, old, patched, status_only);
        let updated = store.update(res, new, Origin::Api, dry_run)?;
        ok(&updated)
    }

    /// `DeleteOptions` from the body (as kube sends them) and the query.
    fn delete_options(&self) -> Result<DeleteOptions, ApiError> {
        let body = if self.body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            self.json_body()?
        };
        let grace = |v: &Value| v.as_i64();
        let body_dry_run = body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|v| v == "All"));
        Ok(DeleteOptions {
            grace_period_seconds: body.get("gracePeriodSeconds").and_then(grace).or(self
                .param("gracePeriodSeconds")
                .and_then(|g| g.parse().ok())),
            uid: body
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(String::from),
            resource_version: body
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(String::from),
            dry_run: body_dry_run || self.dry_run()?,
        })
    }

    fn delete(&self, key: &ObjectKey) -> Result<Response, ApiError> {
        let opts = self.delete_options()?;
        let deletion = self.shared.store.lock().delete(key, &opts)?;
        let res = key.res;
        match deletion {
            Deletion::Pending(obj) => ok(&obj),
            Deletion::Gone(obj) if res.returns_deleted_object => ok(&obj),
            Deletion::Gone(obj) => {
                let mut details = Map::new();
                details.insert("name".into(), json!(key.name));
                if !res.group.is_empty() {
                    details.insert("group".into(), json!(res.group));
                }
                details.insert("kind".into(), json!(res.plural));
                details.insert(
                    "uid".into(),
                    json!(meta_str(&obj, "uid").unwrap_or_default()),
                );
                ok(
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
                )
            }
        }
    }

    fn delete_collection(&self, res: Res, namespace: Option<&str>) -> Result<Response, ApiError> {
        let selectors = self.selectors(res)?;
        let opts = self.delete_options()?;
        let mut store = self.shared.store.lock();
        let keys: Vec<ObjectKey> = store
            .list(res, namespace)
            .into_iter()
            .filter(|obj| selectors.matches(res, obj))
            .map(|obj| {
                ObjectKey::new(
                    res,
                    meta_str(obj, "namespace").unwrap_or_default(),
                    meta_str(obj, "name").unwrap_or_default(),
                )
            })
            .collect();
        let mut items = Vec::with_capacity(keys.len());
        for key in &keys {
            let (Deletion::Gone(obj) | Deletion::Pending(obj)) = store.delete(key, &opts)?;
            items.push(list_item(&obj));
        }
        ok(&list_body(res, store.revision(), items))
    }

    /// `POST pods/{name}/binding`, as the scheduler binds a pod (`BindingREST.Create`).
    fn binding(&self, key: &ObjectKey) -> Result<Response, ApiError> {
        let body = self.json_body()?;
        let wrong_type = body
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k != "Binding")
            || body
                .get("apiVersion")
                .and_then(Value::as_str)
                .is_some_and(|v| v != "v1");
        if wrong_type {
            return Err(ApiError::bad_request("not a Binding object"));
        }
        if meta_str(&body, "name").unwrap_or_default() != key.name {
            return Err(ApiError::bad_request(
                "name in URL does not match name in Binding object",
            ));
        }
        // ValidatePodBinding's errors are not typed Status errors: the real server answers 500.
        let node = body
            .pointer("/target/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let target_kind = body
            .pointer("/target/kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !matches!(target_kind, "" | "Node") {
            return Err(ApiError::internal(format!(
                "target.kind: Unsupported value: {target_kind:?}: supported values: \"Node\", \"<empty>\""
            )));
        }
        if node.is_empty() {
            return Err(ApiError::internal("target.name: Required value"));
        }
        let annotations = body
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let uid = meta_str(&body, "uid").filter(|u| !u.is_empty());
        let dry_run = self.dry_run()?;
        self.shared
            .store
            .lock()
            .bind(key, node, uid, &annotations, dry_run)?;
        Ok(json_response(StatusCode::CREATED, &success(201)))
    }

    /// `POST pods/{name}/eviction` (policy/v1 or v1beta1 `Eviction`), see [`eviction`].
    fn eviction(&self, key: &ObjectKey) -> Result<Response, ApiError> {
        // The create handler decodes and checks the namespace before `EvictionREST.Create` runs.
        let body = self.json_body()?;
        eviction::check_type(&body)?;
        let body = Self::in_namespace(key.res, body, Some(&key.namespace))?;
        if meta_str(&body, "name").unwrap_or_default() != key.name {
            return Err(ApiError::bad_request(
                "name in URL does not match name in Eviction object",
            ));
        }
        let opts = eviction::delete_options(&body, self.dry_run()?)?;
        eviction::evict(&mut self.shared.store.lock(), key, &opts)?;
        Ok(json_response(StatusCode::CREATED, &success(201)))
    }
}

/// With a status subresource, the main resource cannot write `.status` and `/status` can write nothing else.
fn split_status(res: Res, old: &Value, new: Value, status_only: bool) -> Value {
    if !res.status_subresource {
        return new;
    }
    let (mut base, status_from) = if status_only {
        let mut base = old.clone();
        // The body's resourceVersion is still the precondition.
        match meta_str(&new, "resourceVersion") {
            Some(rv) => meta_mut(&mut base).insert("resourceVersion".into(), json!(rv)),
            None => meta_mut(&mut base).remove("resourceVersion"),
        };
        (base, &new)
    } else {
        (new.clone(), old)
    };
    let status = status_from.get("status").cloned();
    if let Some(map) = base.as_object_mut() {
        match status {
            Some(status) => map.insert("status".into(), status),
            None => map.remove("status"),
        };
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe(path: &str) -> Option<String> {
        parse_path(path).map(|target| match target {
            Target::Discovery(Discovery::ApiResources(g, v)) => format!("resources {g}/{v}"),
            Target::Discovery(_) => "discovery".into(),
            Target::Collection { res, namespace } => {
                format!("{} in {namespace:?}", res.qualified())
            }
            Target::Object(key) => {
                format!("{} {}/{}", key.res.qualified(), key.namespace, key.name)
            }
            Target::Subresource(key, sub) => format!(
                "{} {}/{} {sub}",
                key.res.qualified(),
                key.namespace,
                key.name
            ),
        })
    }

    #[test]
    fn kubernetes_paths() {
        let cases = [
            ("/api/v1/pods", Some("pods in None")),
            ("/api/v1/namespaces/ns/pods", Some("pods in Some(\"ns\")")),
            (
                "/api/v1/namespaces/ns/pods/p/binding",
                Some("pods ns/p binding"),
            ),
            ("/api/v1/nodes/n1", Some("nodes /n1")),
            ("/api/v1/namespaces/ns", Some("namespaces /ns")),
            (
                "/api/v1/namespaces/ns/status",
                Some("namespaces /ns status"),
            ),
            (
                "/apis/apps/v1/namespaces/ns/deployments/d",
                Some("deployments.apps ns/d"),
            ),
            ("/apis/policy/v1", Some("resources policy/v1")),
            ("/api/v1/pods/p", None),
            ("/api/v1/namespaces/ns/nodes", Some("namespaces /ns nodes")),
            ("/apis/apps/v2/deployments", None),
            ("/healthz", None),
        ];
        for (path, expected) in cases {
            assert_eq!(describe(path).as_deref(), expected, "{path}");
        }
    }
}
