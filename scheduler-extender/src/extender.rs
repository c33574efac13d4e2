//! The extender's shared state and its two decisions, answered from memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::{ArcSwap, ArcSwapOption};
use axum::body::Bytes;
use k8s_openapi::api::core::v1::Pod;
use parking_lot::{Mutex, RwLock};
use serde_json::value::RawValue;
use tidal_core::estimate::{Estimate, EstimationConfig};
use tidal_core::fit::fits_resources;
use tidal_core::load::{Capacity, LoadSnapshot, NodeLoad};
use tidal_core::node_identity::NodeInfo;
use tidal_core::resources::{Resources, pod_requests};
use tidal_core::scoring::{MissingMetrics, NodeView, Reason, Scorer, Verdict};

use crate::cluster::{ClusterView, RecentPod};
use crate::config::ExtenderConfig;
use crate::metrics::{Metrics, PolicyLabels, ReasonLabels};
use crate::resolve::{Resolved, head, no_usable_load};
use crate::wire::{ExtenderArgs, NodeName, node_info};

/// Looked up for every node of every call: a fast hasher pays off.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A known node's load and size, resolved once per refresh so that judging a node
/// named in a call takes one lookup.
#[derive(Debug, Clone)]
pub struct NodeRow {
    pub load: NodeLoad,
    pub allocatable: Option<Capacity>,
}

/// The latest load and how it was obtained.
#[derive(Debug, Default)]
pub struct LoadState {
    pub snapshot: LoadSnapshot,
    /// The snapshot's loads of the nodes known at refresh time, by node name.
    pub by_node: FastMap<String, NodeRow>,
    /// When the last refresh succeeded.
    pub refreshed_at: Option<SystemTime>,
    pub unmapped_series: Vec<String>,
    pub unmapped_nodes: Vec<String>,
}

/// How the last refresh went, kept apart from the load so a failure does not copy it.
#[derive(Debug, Default, Clone)]
pub struct RefreshStatus {
    /// Whether any refresh has finished, successfully or not.
    pub attempted: bool,
    /// Why the last refresh failed; `None` after a success.
    pub last_error: Option<String>,
}

/// The last call and its verdicts, for the debug view. The body is kept as sent (a
/// reference-counted buffer) rather than copied into names, off the hot path.
#[derive(Debug)]
pub struct Decision {
    pub verb: &'static str,
    pub at: SystemTime,
    pub body: Bytes,
    pub verdicts: Vec<Verdict>,
}

/// A malformed request: answered with 400 and this message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadRequest(pub String);

pub struct Extender {
    pub scorer: Scorer,
    pub waive_when_all_overloaded: bool,
    pub estimation: EstimationConfig,
    pub load: ArcSwap<LoadState>,
    pub refresh: Mutex<RefreshStatus>,
    pub cluster: RwLock<ClusterView>,
    pub last_decision: ArcSwapOption<Decision>,
    pub metrics: Metrics,
    /// Whether a Kubernetes watch keeps `cluster` up to date; without it nodes are
    /// learned from full-`Nodes` requests.
    pub watching: std::sync::atomic::AtomicBool,
    /// Whether a request to an unknown path has been logged (once is enough).
    pub unknown_path_logged: std::sync::atomic::AtomicBool,
    /// Whether `GET /debug/nodes` is served (`extender.debug_endpoints`).
    pub debug_endpoints: bool,
}

/// The nodes of one request, in the form they were sent.
pub enum Candidates<'a> {
    Names(&'a [NodeName<'a>]),
    Nodes(Vec<(NodeInfo, &'a RawValue)>),
}

impl Candidates<'_> {
    pub fn len(&self) -> usize {
        match self {
            Candidates::Names(names) => names.len(),
            Candidates::Nodes(nodes) => nodes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A decoded request, ready to judge.
pub struct Request<'a> {
    pub pod: &'a Pod,
    pub candidates: Candidates<'a>,
}

impl<'a> Request<'a> {
    pub fn parse(args: &'a ExtenderArgs<'a>) -> Result<Self, BadRequest> {
        let pod = args
            .pod
            .as_ref()
            .ok_or_else(|| BadRequest("the request has no Pod".to_string()))?;
        let candidates = match (&args.node_names, &args.nodes) {
            (Some(names), _) => Candidates::Names(names),
            (None, Some(list)) => Candidates::Nodes(
                list.items
                    .iter()
                    .map(|raw| node_info(raw).map(|info| (info, *raw)))
                    .collect::<Result<_, _>>()
                    .map_err(BadRequest)?,
            ),
            (None, None) => {
                return Err(BadRequest(
                    "the request has neither NodeNames nor Nodes; kube-scheduler sends one of them"
                        .to_string(),
                ));
            }
        };
        Ok(Self { pod, candidates })
    }
}

impl Extender {
    pub fn new(config: &ExtenderConfig, max_age: Duration) -> Result<Self, String> {
        let scorer = Scorer {
            thresholds: config.thresholds,
            weights: config.weights,
            max_age,
            on_missing: config.on_missing_metrics,
        };
        scorer.validate()?;
        config.estimation.validate()?;
        if config.refresh_interval.is_zero() || config.refresh_interval >= max_age {
            return Err(format!(
                "extender.refresh_interval ({:?}) must be more than 0 and less than load.max_age \
                 ({max_age:?}), or the load would be stale between refreshes",
                config.refresh_interval
            ));
        }
        Ok(Self {
            scorer,
            waive_when_all_overloaded: config.waive_when_all_overloaded,
            estimation: config.estimation.clone(),
            load: ArcSwap::from_pointee(LoadState::default()),
            refresh: Mutex::new(RefreshStatus::default()),
            cluster: RwLock::new(ClusterView::default()),
            last_decision: ArcSwapOption::empty(),
            metrics: Metrics::default(),
            watching: std::sync::atomic::AtomicBool::new(false),
            unknown_path_logged: std::sync::atomic::AtomicBool::new(false),
            debug_endpoints: config.debug_endpoints,
        })
    }

    fn is_watching(&self) -> bool {
        self.watching.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Judges every candidate node for the request's pod.
    pub fn judge(&self, request: &Request<'_>, now: SystemTime) -> Vec<Verdict> {
        if let Candidates::Nodes(nodes) = &request.candidates
            && !self.is_watching()
        {
            self.learn_nodes(nodes);
        }
        let pod = request.pod;
        let incoming = self.estimation.estimate(pod);
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let daemon = is_daemonset_pod(pod);
        let load = self.load.load();
        let cluster = self.cluster.read();
        let judge = |name: &str, load: Option<&NodeLoad>, allocatable: Option<Capacity>| {
            let pending = load.map_or_else(Estimate::default, |l| {
                let window = self.estimation.window;
                let since = l
                    .sampled_at
                    .checked_sub(window)
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                cluster.pending(name, since, now, uid)
            });
            let view = NodeView {
                load,
                allocatable,
                pending,
            };
            let mut verdict = self.scorer.evaluate(now, view, incoming);
            // A DaemonSet pod must run on every node: refusing it helps nobody. The
            // reason stays, so the debug view shows what was waived.
            verdict.fits |= daemon;
            verdict
        };
        // A node that joined since the last refresh is not in `by_node` yet: find its
        // load through its addresses.
        let resolve = |info: &NodeInfo| load.snapshot.for_node(info);
        let verdicts: Vec<Verdict> = match &request.candidates {
            Candidates::Names(names) => names
                .iter()
                .map(|name| {
                    let name = name.as_ref();
                    match load.by_node.get(name) {
                        Some(row) => judge(name, Some(&row.load), row.allocatable),
                        None => match cluster.node(name) {
                            Some(info) => judge(name, resolve(info), capacity(info)),
                            None => judge(name, resolve(&NodeInfo::named(name)), None),
                        },
                    }
                })
                .collect(),
            Candidates::Nodes(nodes) => nodes
                .iter()
                .map(|(info, _)| {
                    let row = load.by_node.get(&info.name).map(|r| &r.load);
                    judge(&info.name, row.or_else(|| resolve(info)), capacity(info))
                })
                .collect(),
        };
        self.count_unknown(&verdicts);
        verdicts
    }

    /// The `filter` verb's verdicts: [`Self::judge`], and when every candidate is refused
    /// and some only for load, those pass (`waive_when_all_overloaded`).
    pub fn filter(&self, request: &Request<'_>, now: SystemTime) -> Vec<Verdict> {
        let mut verdicts = self.judge(request, now);
        if self.waive_when_all_overloaded {
            self.waive_if_all_overloaded(&mut verdicts);
        }
        verdicts
    }

    /// Lets overloaded nodes pass when no candidate passes and some are refused only for
    /// load: the reasons stay, for the debug view, and the scores still rank them.
    fn waive_if_all_overloaded(&self, verdicts: &mut [Verdict]) {
        let overloaded = |v: &Verdict| matches!(v.reason, Some(Reason::Overloaded { .. }));
        if verdicts.iter().any(|v| v.fits) || !verdicts.iter().any(overloaded) {
            return;
        }
        for verdict in verdicts.iter_mut().filter(|v| overloaded(v)) {
            verdict.fits = true;
        }
        self.metrics.overload_waivers.inc();
    }

    /// Without a node watch, full-`Nodes` requests are how nodes (and their
    /// addresses, for identity mapping) become known. The write lock is taken only
    /// when a node changed or is sent for the first time since the last refresh.
    fn learn_nodes(&self, nodes: &[(NodeInfo, &RawValue)]) {
        let unseen: Vec<&NodeInfo> = {
            let cluster = self.cluster.read();
            nodes
                .iter()
                .map(|(info, _)| info)
                .filter(|info| !cluster.learned_this_refresh(info))
                .collect()
        };
        if unseen.is_empty() {
            return;
        }
        let refused = {
            let mut cluster = self.cluster.write();
            unseen
                .into_iter()
                .filter(|info| !cluster.learn_node(info))
                .count()
        };
        self.count_dropped_nodes("over_cap", refused);
    }

    pub(crate) fn count_dropped_nodes(&self, reason: &'static str, count: usize) {
        if count > 0 {
            self.metrics
                .learned_nodes_dropped
                .get_or_create(&ReasonLabels { reason })
                .inc_by(count as u64);
        }
    }

    fn count_unknown(&self, verdicts: &[Verdict]) {
        let unknown = verdicts.iter().filter(|v| v.projection.is_none()).count() as u64;
        if unknown > 0 {
            let policy = self.scorer.on_missing.as_str();
            self.metrics
                .unknown_load_verdicts
                .get_or_create(&PolicyLabels { policy })
                .inc_by(unknown);
        }
    }

    /// After scoring, counts the pod on the node it will most likely land on (our
    /// best score), so the next pod of a burst already sees it — the scheduler gives
    /// extenders no Reserve call. The watch replaces this guess with the real binding.
    /// Only a node whose allocatable can hold the pod's requests can be that node, and a
    /// pod uid counts on one node at most: a later call for it moves it.
    pub fn assume_best(&self, request: &Request<'_>, verdicts: &[Verdict], now: SystemTime) {
        let Some(uid) = request.pod.metadata.uid.clone().filter(|u| !u.is_empty()) else {
            return;
        };
        let Some(node) = self.best_fit(request, verdicts) else {
            return;
        };
        let estimate = self.estimation.estimate(request.pod);
        self.cluster.write().record_pod(
            &node,
            RecentPod {
                uid,
                bound_at: now,
                estimate,
                observed: false,
            },
        );
    }

    /// The best-ranked candidate the pod fits. The best one usually fits (the scheduler
    /// sends only nodes its own resource filter passed), so only then are all checked.
    fn best_fit(&self, request: &Request<'_>, verdicts: &[Verdict]) -> Option<String> {
        let requests = pod_requests(request.pod);
        let load = self.load.load();
        let cluster = self.cluster.read();
        let fits = |&(index, name, _): &Ranked<'_>| {
            let sent = match &request.candidates {
                Candidates::Nodes(nodes) => nodes.get(index).map(|(info, _)| info),
                Candidates::Names(_) => None,
            };
            let size = sent
                .or_else(|| cluster.node(name))
                .and_then(|n| n.allocatable)
                .or_else(|| measured_size(&load, name));
            size.is_some_and(|size| fits_resources(requests, size, Resources::default()).is_ok())
        };
        let ranked = || {
            candidate_names(&request.candidates)
                .zip(verdicts)
                .enumerate()
                .map(|(index, (name, verdict))| (index, name, verdict))
                .filter(|(_, _, v)| v.projection.is_some())
        };
        let best = |(_, a, x): &Ranked<'_>, (_, b, y): &Ranked<'_>| {
            // Equal in every figure: the smallest name wins, deterministically.
            rank(x, y).then_with(|| b.cmp(a))
        };
        let first = ranked().max_by(best)?;
        let chosen = if fits(&first) {
            Some(first)
        } else {
            ranked().filter(fits).max_by(best)
        };
        chosen.map(|(_, name, _)| name.to_string())
    }

    pub fn record_decision(
        &self,
        verb: &'static str,
        body: &Bytes,
        verdicts: Vec<Verdict>,
        now: SystemTime,
    ) {
        let decision = Decision {
            verb,
            at: now,
            body: body.clone(),
            verdicts,
        };
        self.last_decision.store(Some(Arc::new(decision)));
    }

    /// Installs a fresh load, its series resolved to nodes once for every call until the
    /// next refresh. An answer that gives no node a usable load is a failed refresh: the
    /// last load is kept, ages, and goes stale as any other.
    pub fn install_load(&self, mut snapshot: LoadSnapshot, at: SystemTime) {
        // Resolved on a shared copy of the nodes, outside the lock every call takes.
        let nodes = self.cluster.read().shared_nodes();
        let resolved = Resolved::new(&mut snapshot, &nodes);
        let nodes_known = nodes.len();
        // Node changes from here on need not copy the map.
        drop(nodes);
        self.count_invalid(&snapshot);
        if resolved.by_node.is_empty() {
            let unmatched = resolved.unmapped_series.len();
            self.record_refresh_error(no_usable_load(&snapshot, unmatched));
            return;
        }
        resolved.warn_unmapped(nodes_known);
        self.metrics
            .nodes_with_load
            .set(resolved.by_node.len() as i64);
        // With no node known every series is unmatched, which says nothing useful.
        let unmatched = if nodes_known == 0 {
            0
        } else {
            resolved.unmapped_series.len()
        };
        self.metrics.unmapped_series.set(unmatched as i64);
        self.metrics
            .unmapped_nodes
            .set(resolved.unmapped_nodes.len() as i64);
        self.metrics.refreshes.inc();
        self.load.store(Arc::new(LoadState {
            snapshot,
            by_node: resolved.by_node,
            refreshed_at: Some(at),
            unmapped_series: resolved.unmapped_series,
            unmapped_nodes: resolved.unmapped_nodes,
        }));
        *self.refresh.lock() = RefreshStatus {
            attempted: true,
            last_error: None,
        };
    }

    fn count_invalid(&self, snapshot: &LoadSnapshot) {
        let invalid = &snapshot.invalid;
        if !invalid.is_empty() {
            let examples: Vec<String> = head(invalid).iter().map(ToString::to_string).collect();
            tracing::warn!(
                count = invalid.len(),
                ?examples,
                "Prometheus samples left out of the load (NaN, infinite, negative, implausible \
                 for the node's size, or stamped in the future): those nodes are judged as \
                 without load"
            );
            self.metrics.invalid_samples.inc_by(invalid.len() as u64);
        }
    }

    /// Keeps the last load (the scorer judges its age) and records why the refresh failed.
    pub fn record_refresh_error(&self, error: String) {
        let policy = match self.scorer.on_missing {
            MissingMetrics::FailOpen => "nodes pass with a neutral score (fail-open)",
            MissingMetrics::FailClosed => "nodes are filtered out (fail-closed)",
        };
        tracing::warn!(
            %error,
            "load refresh failed; the last load is used until it is older than load.max_age, \
             then {policy}"
        );
        self.metrics.refresh_errors.inc();
        *self.refresh.lock() = RefreshStatus {
            attempted: true,
            last_error: Some(error),
        };
    }

    /// Whether the load is fresh enough to judge by, or why not.
    pub fn load_health(&self, now: SystemTime) -> Result<(), String> {
        let refresh = self.refresh.lock().clone();
        let last_error = refresh.last_error.as_deref().unwrap_or("none");
        let Some(at) = self.load.load().refreshed_at else {
            return Err(match refresh.attempted {
                true => format!("no load yet; last error: {last_error}"),
                false => "no load refresh has finished yet".to_string(),
            });
        };
        let age = now.duration_since(at).unwrap_or_default();
        if age > self.scorer.max_age {
            return Err(format!(
                "load is {}s old (max_age {}s); last error: {last_error}",
                age.as_secs(),
                self.scorer.max_age.as_secs(),
            ));
        }
        Ok(())
    }

    /// How long a bound pod can matter to a verdict: the estimation window plus the
    /// oldest load still judged by.
    pub fn recent_pod_lifetime(&self) -> Duration {
        self.estimation.window.saturating_add(self.scorer.max_age)
    }
}

pub fn candidate_names<'a>(
    candidates: &'a Candidates<'a>,
) -> Box<dyn Iterator<Item = &'a str> + 'a> {
    match candidates {
        Candidates::Names(names) => Box::new(names.iter().map(AsRef::as_ref)),
        Candidates::Nodes(nodes) => Box::new(nodes.iter().map(|(info, _)| info.name.as_str())),
    }
}

pub(crate) fn capacity(node: &NodeInfo) -> Option<Capacity> {
    node.allocatable.map(Capacity::from_resources)
}

/// The node's size as node-exporter measured it, when Kubernetes gave none.
fn measured_size(load: &LoadState, name: &str) -> Option<Resources> {
    let capacity = load.by_node.get(name)?.load.capacity?;
    capacity.is_usable().then_some(Resources {
        cpu_milli: (capacity.cpu_cores * 1000.0) as i64,
        memory_bytes: capacity.memory_bytes as i64,
    })
}

/// A candidate's index in the request, name and verdict.
type Ranked<'a> = (usize, &'a str, &'a Verdict);

/// Orders verdicts for the assumption: score, unrounded headroom, then the lower projected
/// load, which still tells nodes apart once all are full and headroom is 0 for each — so
/// the pods of a burst onto a full cluster spread instead of piling onto one node.
fn rank(a: &Verdict, b: &Verdict) -> std::cmp::Ordering {
    let load = |v: &Verdict| {
        v.projection.map_or(f64::INFINITY, |p| {
            p.cpu_average + p.cpu_peak + p.memory_average + p.memory_peak
        })
    };
    a.score
        .cmp(&b.score)
        .then(a.headroom.total_cmp(&b.headroom))
        .then(load(b).total_cmp(&load(a)))
}

fn is_daemonset_pod(pod: &Pod) -> bool {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "DaemonSet" && o.controller == Some(true))
}
