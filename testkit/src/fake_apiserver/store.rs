//! The object store: JSON objects under one cluster-wide resourceVersion counter
//! (etcd's revision), a bounded history of changes so watches can resume from an
//! older resourceVersion, and a broadcast of live changes.
//!
//! The write operations carry the registry rules every type shares (metadata the
//! server owns, optimistic concurrency, generation, finalizers, graceful pod
//! deletion); per-endpoint rules (status subresource, URL checks) live in `routes`.

use super::resources::{ResourceDef, StatusOnCreate};
use super::status::{ApiError, FieldCause};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::broadcast;

pub(crate) type Res = &'static ResourceDef;

/// Changes kept for watches that resume from an older resourceVersion; older ones are compacted.
const HISTORY_LIMIT: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ObjectKey {
    pub res: Res,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(res: Res, namespace: &str, name: &str) -> Self {
        let namespace = if res.namespaced { namespace } else { "" };
        Self {
            res,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    fn within(&self, res: Res, namespace: Option<&str>) -> bool {
        std::ptr::eq(self.res, res) && namespace.is_none_or(|ns| self.namespace == ns)
    }

    fn of(res: Res, obj: &Value) -> Self {
        Self::new(
            res,
            meta_str(obj, "namespace").unwrap_or_default(),
            meta_str(obj, "name").unwrap_or_default(),
        )
    }
}

/// Who writes: the HTTP API (server-owned metadata is enforced) or a test fixture (kept as given).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    Api,
    Fixture,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One committed change, as a watch sees it.
#[derive(Debug)]
pub(crate) struct Change {
    pub rv: u64,
    pub change: ChangeType,
    pub key: ObjectKey,
    /// The new state; for a deletion the last state, stamped with the deletion's resourceVersion.
    pub object: Value,
    /// The state before, so a selector-filtered watch can tell objects entering and leaving it.
    pub previous: Option<Value>,
}

/// What a DELETE did.
pub(crate) enum Deletion {
    /// The object is gone; this was its last state.
    Gone(Value),
    /// Deletion has begun (`deletionTimestamp` set) but finalizers keep the object.
    Pending(Value),
}

#[derive(Debug, Default)]
pub(crate) struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

pub(crate) struct Store {
    objects: BTreeMap<ObjectKey, Value>,
    revision: u64,
    history: VecDeque<Arc<Change>>,
    /// Changes at or below this revision are no longer in `history`.
    compacted: u64,
    changes: broadcast::Sender<Arc<Change>>,
}

/// Objects by etcd key (`namespace/name`), which orders `a-b/x` before `a/x`.
fn by_etcd_key<'a>(
    objects: impl IntoIterator<Item = (&'a ObjectKey, &'a Value)>,
) -> Vec<(String, &'a Value)> {
    let mut items: Vec<(String, &Value)> = objects
        .into_iter()
        .map(|(key, obj)| (format!("{}/{}", key.namespace, key.name), obj))
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    items
}

pub(crate) fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

pub(crate) fn ensure_object(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("replaced by an object above"),
    }
}

pub(crate) fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    ensure_object(ensure_object(obj).entry("metadata").or_insert(Value::Null))
}

pub(crate) fn rfc3339(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    std::hash::RandomState::new().hash_one(COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A random version-4 UUID, as the real server assigns.
fn new_uid() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// The 5-character suffix of `generateName` (apiserver's `utilrand.String(5)` alphabet).
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut bits = random_u64();
    (0..5)
        .map(|_| {
            let c = ALPHABET[(bits % ALPHABET.len() as u64) as usize];
            bits /= ALPHABET.len() as u64;
            char::from(c)
        })
        .collect()
}

/// `metadata.name` must be a DNS-1123 subdomain, as for every type served here.
fn validate_name(res: Res, name: &str) -> Result<(), ApiError> {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if name.len() <= 253 && name.split('.').all(label_ok) {
        return Ok(());
    }
    Err(ApiError::invalid(
        res.group,
        res.kind,
        name,
        vec![FieldCause::invalid(
            "metadata.name",
            name,
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', \
             and must start and end with an alphanumeric character (e.g. 'example.com', regex used for \
             validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        )],
    ))
}

/// Sets `kind`/`apiVersion` and the namespace rule of the type (cluster-scoped: none; namespaced: `default`).
fn normalize(res: Res, obj: &mut Value) {
    let root = ensure_object(obj);
    root.insert("kind".into(), json!(res.kind));
    root.insert("apiVersion".into(), json!(res.api_version()));
    let meta = meta_mut(obj);
    if !res.namespaced {
        meta.remove("namespace");
    } else if meta
        .get("namespace")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        meta.insert("namespace".into(), json!("default"));
    }
}

fn has_finalizers(obj: &Value) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
}

/// The grace period a pod deletion gets (pod registry `CheckGracefulDelete`).
fn pod_grace_period(pod: &Value, requested: Option<i64>) -> i64 {
    let unscheduled = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    let terminal = matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    if unscheduled || terminal {
        return 0;
    }
    requested
        .or_else(|| {
            pod.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
        })
        .unwrap_or(30)
        .max(0)
}

/// Adds or replaces the `PodScheduled=True` condition, keeping its transition time if it was already True.
fn set_pod_scheduled(pod: &mut Value) {
    let status = ensure_object(ensure_object(pod).entry("status").or_insert(Value::Null));
    let conditions = status.entry("conditions").or_insert_with(|| json!([]));
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let Value::Array(conditions) = conditions else {
        return;
    };
    let existing = conditions.iter().position(|c| c["type"] == "PodScheduled");
    let transition = match existing.map(|i| &conditions[i]) {
        Some(old) if old["status"] == "True" => old["lastTransitionTime"].clone(),
        _ => json!(rfc3339(Timestamp::now())),
    };
    let condition = json!({
        "type": "PodScheduled",
        "status": "True",
        "lastProbeTime": null,
        "lastTransitionTime": transition,
    });
    match existing {
        Some(i) => conditions[i] = condition,
        None => conditions.push(condition),
    }
}

impl Store {
    pub fn new() -> Self {
        let (changes, _) = broadcast::channel(HISTORY_LIMIT);
        Self {
            objects: BTreeMap::new(),
            // etcd's first revision; a list of an empty store still has a resourceVersion.
            revision: 1,
            history: VecDeque::new(),
            compacted: 0,
            changes,
        }
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.changes.subscribe()
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Objects of `res` (in `namespace`, if given), in etcd key order (`namespace/name`).
    pub fn list(&self, res: Res, namespace: Option<&str>) -> Vec<&Value> {
        let objects = self
            .objects
            .iter()
            .filter(|(key, _)| key.within(res, namespace));
        by_etcd_key(objects)
            .into_iter()
            .map(|(_, obj)| obj)
            .collect()
    }

    /// [`Self::list`] as it stood at revision `rv`, with each object's etcd key, or
    /// `Err(compacted revision)` when the changes since `rv` are no longer kept.
    pub fn list_at(
        &self,
        res: Res,
        namespace: Option<&str>,
        rv: u64,
    ) -> Result<Vec<(String, &Value)>, u64> {
        if rv < self.compacted {
            return Err(self.compacted);
        }
        let mut objects: BTreeMap<&ObjectKey, &Value> = self
            .objects
            .iter()
            .filter(|(key, _)| key.within(res, namespace))
            .collect();
        // Undoes the later changes, newest first.
        let later = self.history.iter().rev().take_while(|c| c.rv > rv);
        for change in later.filter(|c| c.key.within(res, namespace)) {
            match &change.previous {
                Some(previous) => objects.insert(&change.key, previous),
                None => objects.remove(&change.key),
            };
        }
        Ok(by_etcd_key(objects))
    }

    /// The changes after `rv`, or `Err(compacted revision)` when some of them are gone.
    pub fn changes_since(&self, rv: u64) -> Result<Vec<Arc<Change>>, u64> {
        if rv < self.compacted {
            return Err(self.compacted);
        }
        Ok(self.history.iter().filter(|c| c.rv > rv).cloned().collect())
    }

    /// Forgets all history, like an etcd compaction at the current revision.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.revision;
    }

    fn commit(
        &mut self,
        key: ObjectKey,
        change: ChangeType,
        mut object: Value,
        previous: Option<Value>,
    ) -> Value {
        self.revision += 1;
        meta_mut(&mut object).insert("resourceVersion".into(), json!(self.revision.to_string()));
        if change == ChangeType::Deleted {
            self.objects.remove(&key);
        } else {
            self.objects.insert(key.clone(), object.clone());
        }
        let record = Arc::new(Change {
            rv: self.revision,
            change,
            key,
            object: object.clone(),
            previous,
        });
        self.history.push_back(Arc::clone(&record));
        while self.history.len() > HISTORY_LIMIT {
            if let Some(dropped) = self.history.pop_front() {
                self.compacted = dropped.rv;
            }
        }
        // No receivers just means nobody is watching.
        let _ = self.changes.send(record);
        object
    }

    /// Creates `obj`; from the API the server owns uid, creationTimestamp, generation and (for most types) status.
    pub fn create(
        &mut self,
        res: Res,
        mut obj: Value,
        origin: Origin,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        normalize(res, &mut obj);
        let api = origin == Origin::Api;
        let meta = meta_mut(&mut obj);
        if api
            && meta
                .get("resourceVersion")
                .and_then(Value::as_str)
                .is_some_and(|rv| !rv.is_empty())
        {
            return Err(ApiError::internal(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let name = match meta
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            Some(name) => name.to_string(),
            None => match meta
                .get("generateName")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            {
                Some(prefix) => format!("{prefix}{}", random_suffix()),
                None => {
                    let cause =
                        FieldCause::required("metadata.name", "name or generateName is required");
                    return Err(ApiError::invalid(res.group, res.kind, "", vec![cause]));
                }
            },
        };
        validate_name(res, &name)?;
        meta.insert("name".into(), json!(name));
        meta.remove("resourceVersion");
        if api || !meta.contains_key("uid") {
            meta.insert("uid".into(), json!(new_uid()));
        }
        if api || !meta.contains_key("creationTimestamp") {
            meta.insert("creationTimestamp".into(), json!(rfc3339(Timestamp::now())));
        }
        if api {
            meta.remove("deletionTimestamp");
            meta.remove("deletionGracePeriodSeconds");
        }
        if res.tracks_generation && (api || !meta.contains_key("generation")) {
            meta.insert("generation".into(), json!(1));
        }
        if api {
            let status = match res.status_on_create {
                StatusOnCreate::Keep => None,
                StatusOnCreate::Clear => Some(json!({})),
                StatusOnCreate::PodPending => Some(json!({"phase": "Pending"})),
                StatusOnCreate::NamespaceActive => Some(json!({"phase": "Active"})),
            };
            if let Some(status) = status {
                ensure_object(&mut obj).insert("status".into(), status);
            }
        }
        let key = ObjectKey::of(res, &obj);
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(res, &key.name));
        }
        if dry_run {
            return Ok(obj);
        }
        Ok(self.commit(key, ChangeType::Added, obj, None))
    }

    /// Writes `new` over the stored object of the same key, with optimistic concurrency on a
    /// non-empty `metadata.resourceVersion`. A write that changes nothing commits nothing.
    pub fn update(
        &mut self,
        res: Res,
        mut new: Value,
        origin: Origin,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        normalize(res, &mut new);
        let key = ObjectKey::of(res, &new);
        let old = self
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(res, &key.name))?;
        let old_rv = meta_str(&old, "resourceVersion")
            .unwrap_or_default()
            .to_string();
        if meta_str(&new, "resourceVersion").is_some_and(|rv| !rv.is_empty() && rv != old_rv) {
            return Err(ApiError::stale(res, &key.name));
        }
        let old_meta = old.get("metadata").cloned().unwrap_or_default();
        let spec_changed = new.get("spec") != old.get("spec");
        let meta = meta_mut(&mut new);
        meta.insert("resourceVersion".into(), json!(old_rv));
        // Server-owned metadata: the API cannot change it, a fixture keeps it unless it sets it.
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            if origin == Origin::Api || !meta.contains_key(field) {
                match old_meta.get(field) {
                    Some(value) => meta.insert(field.into(), value.clone()),
                    None => meta.remove(field),
                };
            }
        }
        if res.tracks_generation
            && spec_changed
            && meta.get("generation") == old_meta.get("generation")
        {
            let generation = old_meta
                .get("generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta.insert("generation".into(), json!(generation + 1));
        }
        if new == old || dry_run {
            return Ok(new);
        }
        // Removing the last finalizer of an object being deleted completes the deletion.
        let change = if meta_str(&new, "deletionTimestamp").is_some() && !has_finalizers(&new) {
            ChangeType::Deleted
        } else {
            ChangeType::Modified
        };
        Ok(self.commit(key, change, new, Some(old)))
    }

    /// Reads, changes and writes one object under the store lock.
    pub fn modify(
        &mut self,
        key: &ObjectKey,
        origin: Origin,
        dry_run: bool,
        change: impl FnOnce(&mut Value) -> Result<(), ApiError>,
    ) -> Result<Value, ApiError> {
        let mut obj = self
            .objects
            .get(key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(key.res, &key.name))?;
        change(&mut obj)?;
        // The change must not move the object to another key.
        let meta = meta_mut(&mut obj);
        meta.insert("name".into(), json!(key.name));
        if key.res.namespaced {
            meta.insert("namespace".into(), json!(key.namespace));
        }
        self.update(key.res, obj, origin, dry_run)
    }

    /// DELETE with the registry's rules: preconditions, finalizers, graceful pod termination.
    pub fn delete(&mut self, key: &ObjectKey, opts: &DeleteOptions) -> Result<Deletion, ApiError> {
        let res = key.res;
        let old = self
            .objects
            .get(key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(res, &key.name))?;
        let precondition = |field: &str, wanted: &Option<String>, label: &str| match (
            wanted,
            meta_str(&old, field),
        ) {
            (Some(wanted), actual) if Some(wanted.as_str()) != actual => Err(ApiError::conflict(
                res.group,
                res.plural,
                &key.name,
                &format!(
                    "Precondition failed: {label} in precondition: {wanted}, {label} in object meta: {}",
                    actual.unwrap_or_default()
                ),
            )),
            _ => Ok(()),
        };
        precondition("uid", &opts.uid, "UID")?;
        precondition("resourceVersion", &opts.resource_version, "ResourceVersion")?;
        if meta_str(&old, "deletionTimestamp").is_some() {
            return Ok(Deletion::Pending(old));
        }
        let grace = if res.graceful_deletion {
            pod_grace_period(&old, opts.grace_period_seconds)
        } else {
            0
        };
        let finalizers = has_finalizers(&old);
        if grace == 0 && !finalizers {
            if !opts.dry_run {
                self.commit(
                    key.clone(),
                    ChangeType::Deleted,
                    old.clone(),
                    Some(old.clone()),
                );
            }
            return Ok(Deletion::Gone(old));
        }
        let mut terminating = old.clone();
        let deadline = Timestamp::now()
            .checked_add(SignedDuration::from_secs(grace))
            .unwrap_or_else(|_| Timestamp::now());
        let meta = meta_mut(&mut terminating);
        meta.insert("deletionTimestamp".into(), json!(rfc3339(deadline)));
        meta.insert("deletionGracePeriodSeconds".into(), json!(grace));
        if let Some(generation) = meta
            .get("generation")
            .and_then(Value::as_i64)
            .filter(|g| *g > 0)
        {
            meta.insert("generation".into(), json!(generation + 1));
        }
        if opts.dry_run {
            return Ok(if finalizers {
                Deletion::Pending(terminating)
            } else {
                Deletion::Gone(terminating)
            });
        }
        let terminating = self.commit(key.clone(), ChangeType::Modified, terminating, Some(old));
        if finalizers {
            return Ok(Deletion::Pending(terminating));
        }
        // No kubelet runs here: the containers are considered stopped at once, and the pod is
        // removed as its kubelet would after termination (a final DELETE with grace 0).
        self.commit(
            key.clone(),
            ChangeType::Deleted,
            terminating.clone(),
            Some(terminating.clone()),
        );
        Ok(Deletion::Gone(terminating))
    }

    /// Removes an object at once, ignoring finalizers and grace periods (a fixture's delete).
    pub fn remove(&mut self, key: &ObjectKey) -> Result<Value, ApiError> {
        let old = self
            .objects
            .get(key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(key.res, &key.name))?;
        Ok(self.commit(key.clone(), ChangeType::Deleted, old.clone(), Some(old)))
    }

    /// What `pods/binding` does (`BindingREST.setPodNodeAndMetadata`): sets `spec.nodeName`, merges
    /// the binding's annotations and marks the pod `PodScheduled=True`. Refusals are `pods/binding` conflicts.
    pub fn bind(
        &mut self,
        key: &ObjectKey,
        node: &str,
        uid: Option<&str>,
        annotations: &Map<String, Value>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let name = key.name.clone();
        let refuse = move |why: String| ApiError::conflict("", "pods/binding", &name, &why);
        let name = key.name.as_str();
        self.modify(key, Origin::Fixture, dry_run, |pod| {
            let actual_uid = meta_str(pod, "uid").unwrap_or_default();
            if let Some(uid) = uid.filter(|u| *u != actual_uid) {
                return Err(refuse(format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual_uid}"
                )));
            }
            if meta_str(pod, "deletionTimestamp").is_some() {
                return Err(refuse(format!("pod {name} is being deleted, cannot be assigned to a host")));
            }
            let current = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default();
            if !current.is_empty() {
                return Err(refuse(format!("pod {name} is already assigned to node {current:?}")));
            }
            if pod
                .pointer("/spec/schedulingGates")
                .and_then(Value::as_array)
                .is_some_and(|g| !g.is_empty())
            {
                return Err(refuse(format!("pod {name} has non-empty .spec.schedulingGates")));
            }
            ensure_object(ensure_object(pod).entry("spec").or_insert(Value::Null))
                .insert("nodeName".into(), json!(node));
            if !annotations.is_empty() {
                let meta = meta_mut(pod);
                let existing = ensure_object(meta.entry("annotations").or_insert(Value::Null));
                existing.extend(annotations.clone());
            }
            set_pod_scheduled(pod);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_apiserver::resources::find;

    fn pods() -> Res {
        find("", "v1", "pods").unwrap_or_else(|| panic!("pods are registered"))
    }

    #[test]
    fn uids_and_suffixes_look_real() {
        let uid = new_uid();
        assert_eq!(uid.len(), 36);
        assert_eq!(uid.as_bytes()[14], b'4');
        assert_ne!(uid, new_uid());
        assert_eq!(random_suffix().len(), 5);
    }

    #[test]
    fn revision_is_global_and_history_resumes() -> Result<(), ApiError> {
        let mut store = Store::new();
        let a = store.create(
            pods(),
            json!({"metadata": {"name": "a"}}),
            Origin::Fixture,
            false,
        )?;
        let b = store.create(
            pods(),
            json!({"metadata": {"name": "b", "namespace": "x"}}),
            Origin::Fixture,
            false,
        )?;
        assert_eq!(meta_str(&a, "resourceVersion"), Some("2"));
        assert_eq!(meta_str(&b, "resourceVersion"), Some("3"));
        assert_eq!(meta_str(&a, "namespace"), Some("default"));
        assert_eq!(store.changes_since(2).map(|c| c.len()), Ok(1));
        store.compact();
        assert_eq!(store.changes_since(2).map(|c| c.len()), Err(3));
        assert_eq!(store.changes_since(3).map(|c| c.len()), Ok(0));
        Ok(())
    }

    #[test]
    fn noop_update_keeps_resource_version() -> Result<(), ApiError> {
        let mut store = Store::new();
        let pod = store.create(
            pods(),
            json!({"metadata": {"name": "a"}}),
            Origin::Api,
            false,
        )?;
        let same = store.update(pods(), pod.clone(), Origin::Api, false)?;
        assert_eq!(same, pod);
        assert_eq!(store.revision(), 2);
        Ok(())
    }
}
