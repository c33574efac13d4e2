//! `?watch=true`: a chunked stream of newline-delimited `{"type": ..., "object": ...}` events,
//! replayed from the store's history after the requested resourceVersion, then live.

use super::Shared;
use super::selectors::Selectors;
use super::status::ApiError;
use super::store::{Change, ChangeType, Res};
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::time::{Instant, Interval, MissedTickBehavior};

/// How often a watch that allows bookmarks gets one (the real server: about once a minute).
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(1);

/// Where a watch starts.
pub(crate) enum Start {
    /// Synthetic ADDED events for the current objects, then changes (resourceVersion unset or "0").
    Current,
    /// The changes after this resourceVersion.
    After(u64),
}

pub(crate) struct WatchRequest {
    pub res: Res,
    pub namespace: Option<String>,
    pub selectors: Selectors,
    pub start: Start,
    pub bookmarks: bool,
    /// Streaming list (`sendInitialEvents=true`): end the initial events with a marked bookmark.
    pub send_initial_events: bool,
    pub timeout: Option<Duration>,
}

/// What one watcher sees of the store's changes.
struct Filter {
    res: Res,
    namespace: Option<String>,
    selectors: Selectors,
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

impl Filter {
    fn passes(&self, obj: &Value) -> bool {
        self.selectors.matches(self.res, obj)
    }

    /// The event this watcher gets for `change`, if any. Like the watch cache, an object that starts
    /// matching the selectors arrives as ADDED and one that stops matching as DELETED.
    fn render(&self, change: &Change) -> Option<Bytes> {
        if !std::ptr::eq(change.key.res, self.res)
            || self
                .namespace
                .as_ref()
                .is_some_and(|ns| *ns != change.key.namespace)
        {
            return None;
        }
        let was = change
            .previous
            .as_ref()
            .is_some_and(|prev| self.passes(prev));
        let is = self.passes(&change.object);
        match (change.change, was, is) {
            (ChangeType::Added, _, true) => Some(line("ADDED", &change.object)),
            (ChangeType::Deleted, _, true) => Some(line("DELETED", &change.object)),
            (ChangeType::Modified, true, true) => Some(line("MODIFIED", &change.object)),
            (ChangeType::Modified, false, true) => Some(line("ADDED", &change.object)),
            (ChangeType::Modified, true, false) => {
                // The previous state, at the resourceVersion of the change that made it leave.
                let mut gone = change.previous.clone()?;
                super::store::meta_mut(&mut gone)
                    .insert("resourceVersion".into(), json!(change.rv.to_string()));
                Some(line("DELETED", &gone))
            }
            _ => None,
        }
    }

    fn bookmark(&self, rv: u64, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({"kind": self.res.kind, "apiVersion": self.res.api_version(), "metadata": metadata});
        line("BOOKMARK", &object)
    }
}

struct WatchStream {
    filter: Filter,
    pending: VecDeque<Bytes>,
    /// `None` once the stream only has to drain `pending` (an ERROR event) and end.
    changes: Option<broadcast::Receiver<Arc<Change>>>,
    /// The last resourceVersion this watcher has seen, matching or not: what bookmarks carry.
    last_rv: u64,
    bookmarks: Option<Interval>,
    deadline: Option<Instant>,
    shutdown: watch::Receiver<bool>,
}

enum Wake {
    End,
    Change(Arc<Change>),
    Bookmark,
}

impl WatchStream {
    async fn next(mut self) -> Option<(Result<Bytes, Infallible>, Self)> {
        loop {
            if let Some(line) = self.pending.pop_front() {
                return Some((Ok(line), self));
            }
            let changes = self.changes.as_mut()?;
            let deadline = self.deadline;
            let bookmarks = &mut self.bookmarks;
            let wake = tokio::select! {
                biased;
                _ = self.shutdown.changed() => Wake::End,
                () = async {
                    match deadline {
                        Some(deadline) => tokio::time::sleep_until(deadline).await,
                        None => std::future::pending().await,
                    }
                } => Wake::End,
                // A watcher that lags behind the broadcast is closed, as the real server closes slow
                // watchers; the client watches again from its last resourceVersion.
                received = changes.recv() => received.map_or(Wake::End, Wake::Change),
                () = async {
                    match bookmarks {
                        Some(interval) => {
                            interval.tick().await;
                        }
                        None => std::future::pending().await,
                    }
                } => Wake::Bookmark,
            };
            match wake {
                Wake::End => return None,
                // Nothing at or below the start: a watch from a future resourceVersion waits for it.
                Wake::Change(change) if change.rv <= self.last_rv => {}
                Wake::Change(change) => {
                    self.last_rv = change.rv;
                    self.pending.extend(self.filter.render(&change));
                }
                Wake::Bookmark => {
                    let bookmark = self.filter.bookmark(self.last_rv, false);
                    self.pending.push_back(bookmark);
                }
            }
        }
    }
}

/// Opens a watch. Too old a resourceVersion answers 200 with a single ERROR event (410 Expired)
/// and ends, as the real watch cache does.
pub(crate) fn open(shared: &Shared, request: WatchRequest) -> Response {
    let filter = Filter {
        res: request.res,
        namespace: request.namespace,
        selectors: request.selectors,
    };
    let mut pending = VecDeque::new();
    // Initial events and the subscription are taken under one lock so no change falls between them.
    let store = shared.store.lock();
    let (changes, last_rv) = match request.start {
        Start::Current => {
            let objects = store.list(filter.res, filter.namespace.as_deref());
            pending.extend(
                objects
                    .into_iter()
                    .filter(|obj| filter.passes(obj))
                    .map(|obj| line("ADDED", obj)),
            );
            if request.send_initial_events {
                pending.push_back(filter.bookmark(store.revision(), true));
            }
            (Some(store.subscribe()), store.revision())
        }
        Start::After(rv) => match store.changes_since(rv) {
            Ok(history) => {
                pending.extend(history.iter().filter_map(|change| filter.render(change)));
                (Some(store.subscribe()), store.revision().max(rv))
            }
            Err(compacted) => {
                let expired =
                    ApiError::expired(format!("too old resource version: {rv} ({compacted})"));
                pending.push_back(line("ERROR", &expired.to_status()));
                (None, rv)
            }
        },
    };
    drop(store);
    let bookmarks = request.bookmarks.then(|| {
        let mut interval =
            tokio::time::interval_at(Instant::now() + BOOKMARK_INTERVAL, BOOKMARK_INTERVAL);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        interval
    });
    let stream = WatchStream {
        filter,
        pending,
        changes,
        last_rv,
        bookmarks,
        deadline: request.timeout.map(|t| Instant::now() + t),
        shutdown: shared.shutdown.clone(),
    };
    let body = Body::from_stream(futures::stream::unfold(stream, WatchStream::next));
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}
