//! What the extender knows of the cluster besides load: nodes, and the pods bound
//! recently enough that the load does not show them yet.
//!
//! Every call reads this under a lock that assumptions and the refresh write, so no
//! write scans all pods or nodes: pods are indexed by uid and by when they stop
//! mattering, and a refresh reads the nodes through a shared copy instead of the lock.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tidal_core::estimate::Estimate;
use tidal_core::node_identity::NodeInfo;

use crate::extender::FastMap;

/// A pod bound to a node, counted by its estimate until the load catches up.
#[derive(Debug, Clone, PartialEq)]
pub struct RecentPod {
    pub uid: String,
    pub bound_at: SystemTime,
    pub estimate: Estimate,
    /// `true` when the binding was seen in the API; `false` when the extender only
    /// assumed it from its own best score and the watch has not confirmed it yet.
    pub observed: bool,
}

/// How long a placement the extender only assumed (its own best score) counts without
/// the watch confirming it. Binding takes milliseconds: a pod still unbound after this
/// was not placed where we guessed (another filter refused it, or binding failed), and
/// counting it longer would make that node look busier than it is.
pub const ASSUMPTION_TTL: Duration = Duration::from_secs(30);

/// Without a node watch, a node learned from requests is forgotten once none has sent it
/// for this many refreshes (5 minutes at the default 15 s): it left the cluster, or it
/// was never one (a request's node list is whatever the caller sent).
pub const LEARNED_NODE_REFRESHES: u64 = 20;

/// At most this many nodes are learned from requests (about 0.8 KB each); beyond it, new
/// ones are not learned until others are forgotten. Twice Kubernetes' 5,000-node limit.
pub const MAX_LEARNED_NODES: usize = 10_000;

/// Known nodes by name.
pub(crate) type Nodes = FastMap<String, NodeInfo>;

#[derive(Debug, Default)]
pub struct ClusterView {
    /// Shared with a refresh while it resolves series to nodes without the lock; a
    /// change meanwhile copies the map once (copy on write).
    nodes: Arc<Nodes>,
    learned: Learned,
    recent: RecentPods,
}

impl ClusterView {
    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.get(name)
    }

    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.values()
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The nodes as they are now, to read without holding the lock.
    pub(crate) fn shared_nodes(&self) -> Arc<Nodes> {
        self.nodes.clone()
    }

    /// A node from the watch: known for as long as the watch has it.
    pub fn upsert_node(&mut self, node: NodeInfo) {
        self.learned.forget(&node.name);
        Arc::make_mut(&mut self.nodes).insert(node.name.clone(), node);
    }

    pub fn remove_node(&mut self, name: &str) {
        self.learned.forget(name);
        if self.nodes.contains_key(name) {
            Arc::make_mut(&mut self.nodes).remove(name);
        }
    }

    /// Replaces every node at once, after a full relist.
    pub fn replace_nodes(&mut self, nodes: impl IntoIterator<Item = NodeInfo>) {
        self.learned = Learned {
            refresh: self.learned.refresh,
            ..Learned::default()
        };
        self.nodes = Arc::new(nodes.into_iter().map(|n| (n.name.clone(), n)).collect());
    }

    /// Whether learning `node` from a request now would change nothing: it is known as
    /// it is and was already sent since the last refresh.
    pub fn learned_this_refresh(&self, node: &NodeInfo) -> bool {
        self.nodes.get(&node.name) == Some(node)
            && self.learned.seen.get(&node.name) == Some(&self.learned.refresh)
    }

    /// Learns (or refreshes) a node a request sent; `false` when it is new and
    /// [`MAX_LEARNED_NODES`] are already known, so it was not learned.
    pub fn learn_node(&mut self, node: &NodeInfo) -> bool {
        let new = !self.learned.seen.contains_key(&node.name);
        if new && self.learned.seen.len() >= MAX_LEARNED_NODES {
            return false;
        }
        if self.nodes.get(&node.name) != Some(node) {
            Arc::make_mut(&mut self.nodes).insert(node.name.clone(), node.clone());
        }
        self.learned.touch(&node.name);
        true
    }

    /// Counts a refresh, by which learned nodes age.
    pub fn next_refresh(&mut self) {
        self.learned.refresh += 1;
    }

    /// Forgets up to `budget` learned nodes no request has sent for
    /// [`LEARNED_NODE_REFRESHES`] refreshes; returns how many it forgot.
    pub fn forget_unseen_nodes(&mut self, budget: usize) -> usize {
        let mut forgotten = 0;
        while forgotten < budget
            && let Some(name) = self.learned.pop_unseen()
        {
            if self.nodes.contains_key(&name) {
                Arc::make_mut(&mut self.nodes).remove(&name);
            }
            forgotten += 1;
        }
        forgotten
    }

    /// Records a pod on a node, in place of any earlier record of its uid: a pod counts
    /// on one node at most. An observed binding always replaces an assumed one; an
    /// assumption never replaces an observation.
    pub fn record_pod(&mut self, node: &str, pod: RecentPod) {
        if let Some(existing) = self.recent.get(&pod.uid) {
            if existing.observed && !pod.observed {
                return;
            }
            self.recent.remove(&pod.uid);
        }
        self.recent.insert(node, pod);
    }

    /// Drops a pod (deleted, or finished).
    pub fn remove_pod(&mut self, uid: &str) {
        self.recent.remove(uid);
    }

    /// The estimated usage of pods bound to `node` after `since` (the load's sample time
    /// minus the estimation window), leaving out the pod being scheduled and assumptions
    /// older than [`ASSUMPTION_TTL`].
    pub fn pending(
        &self,
        node: &str,
        since: SystemTime,
        now: SystemTime,
        exclude_uid: &str,
    ) -> Estimate {
        let mut total = Estimate::default();
        let assumed_since = now
            .checked_sub(ASSUMPTION_TTL)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        // Found by its index, not by comparing every pod's uid: at thousands of assumptions
        // a second those comparisons were most of a call's time.
        let excluded = match self.recent.slot.get(exclude_uid) {
            Some((on, index)) if on == node => Some(*index),
            _ => None,
        };
        for (i, pod) in self.recent_pods(node).iter().enumerate() {
            let live = pod.observed || pod.bound_at > assumed_since;
            if live && pod.bound_at > since && Some(i) != excluded {
                total += pod.estimate;
            }
        }
        total
    }

    /// Forgets pods bound longer than `keep` ago, which no load sample can need any more,
    /// and assumptions older than [`ASSUMPTION_TTL`], which no longer count.
    pub fn prune(&mut self, now: SystemTime, keep: Duration) {
        self.prune_some(now, keep, usize::MAX);
    }

    /// [`Self::prune`], forgetting at most `budget` pods, oldest first; returns how many it
    /// forgot, so that a caller can release the lock between batches. Each costs a few
    /// map operations, whatever the number of pods kept.
    pub fn prune_some(&mut self, now: SystemTime, keep: Duration, budget: usize) -> usize {
        let cutoff = |age: Duration| now.checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH);
        let (any, assumed) = (cutoff(keep), cutoff(keep.min(ASSUMPTION_TTL)));
        let mut forgotten = 0;
        while forgotten < budget && self.recent.forget_oldest(assumed, any) {
            forgotten += 1;
        }
        forgotten
    }

    pub fn recent_pod_count(&self) -> usize {
        self.recent.slot.len()
    }

    pub fn recent_pods(&self, node: &str) -> &[RecentPod] {
        self.recent.by_node.get(node).map_or(&[], Vec::as_slice)
    }
}

/// Which nodes were learned from requests, and in which refresh each was last sent.
#[derive(Debug, Default)]
struct Learned {
    seen: FastMap<String, u64>,
    /// `(refresh, name)`, oldest first: forgetting takes from the front.
    by_refresh: BTreeSet<(u64, String)>,
    /// Refreshes so far.
    refresh: u64,
}

impl Learned {
    fn touch(&mut self, name: &str) {
        if let Some(last) = self.seen.insert(name.to_string(), self.refresh) {
            self.by_refresh.remove(&(last, name.to_string()));
        }
        self.by_refresh.insert((self.refresh, name.to_string()));
    }

    fn forget(&mut self, name: &str) {
        if let Some(last) = self.seen.remove(name) {
            self.by_refresh.remove(&(last, name.to_string()));
        }
    }

    /// Takes out the node seen longest ago if that was [`LEARNED_NODE_REFRESHES`] or more ago.
    fn pop_unseen(&mut self) -> Option<String> {
        let (last, _) = self.by_refresh.first()?;
        if self.refresh.saturating_sub(*last) < LEARNED_NODE_REFRESHES {
            return None;
        }
        let (_, name) = self.by_refresh.pop_first()?;
        self.seen.remove(&name);
        Some(name)
    }
}

/// Recent pods by node, with the indexes that make every change cost O(log n).
#[derive(Debug, Default)]
struct RecentPods {
    by_node: FastMap<String, Vec<RecentPod>>,
    /// Each pod's node and index in that node's list, by uid.
    slot: FastMap<String, (String, usize)>,
    /// `(bound_at, uid)` of assumed pods and of observed ones, oldest first: pruning
    /// takes what expired from the front instead of scanning every pod.
    assumed: BTreeSet<(SystemTime, String)>,
    observed: BTreeSet<(SystemTime, String)>,
}

impl RecentPods {
    fn get(&self, uid: &str) -> Option<&RecentPod> {
        let (node, index) = self.slot.get(uid)?;
        self.by_node.get(node)?.get(*index)
    }

    fn insert(&mut self, node: &str, pod: RecentPod) {
        self.by_expiry(pod.observed)
            .insert((pod.bound_at, pod.uid.clone()));
        let pods = self.by_node.entry(node.to_string()).or_default();
        self.slot
            .insert(pod.uid.clone(), (node.to_string(), pods.len()));
        pods.push(pod);
    }

    fn remove(&mut self, uid: &str) {
        let Some((node, index)) = self.slot.remove(uid) else {
            return;
        };
        let Some(pods) = self.by_node.get_mut(&node) else {
            return;
        };
        let Some(pod) = (index < pods.len()).then(|| pods.swap_remove(index)) else {
            return;
        };
        // The last pod of the list took the removed one's place.
        if let Some(moved) = pods.get(index)
            && let Some(slot) = self.slot.get_mut(&moved.uid)
        {
            slot.1 = index;
        }
        if pods.is_empty() {
            self.by_node.remove(&node);
        }
        self.by_expiry(pod.observed)
            .remove(&(pod.bound_at, pod.uid));
    }

    /// Forgets the oldest pod that no longer matters, if any: an assumption bound at or
    /// before `assumed_cutoff`, or any pod bound at or before `cutoff`.
    fn forget_oldest(&mut self, assumed_cutoff: SystemTime, cutoff: SystemTime) -> bool {
        let take = |set: &mut BTreeSet<(SystemTime, String)>, cutoff: SystemTime| match set.first()
        {
            Some((at, _)) if *at <= cutoff => set.pop_first(),
            _ => None,
        };
        let expired =
            take(&mut self.assumed, assumed_cutoff).or_else(|| take(&mut self.observed, cutoff));
        match expired {
            Some((_, uid)) => {
                self.remove(&uid);
                true
            }
            None => false,
        }
    }

    fn by_expiry(&mut self, observed: bool) -> &mut BTreeSet<(SystemTime, String)> {
        if observed {
            &mut self.observed
        } else {
            &mut self.assumed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str, at: SystemTime, observed: bool) -> RecentPod {
        RecentPod {
            uid: uid.to_string(),
            bound_at: at,
            estimate: Estimate {
                cpu_cores: 1.0,
                memory_bytes: 1.0,
            },
            observed,
        }
    }

    #[test]
    fn observed_binding_replaces_assumption_but_not_the_reverse() {
        let now = SystemTime::now();
        let mut view = ClusterView::default();
        view.record_pod("a", pod("p1", now, false));
        view.record_pod("b", pod("p1", now, true));
        view.record_pod("c", pod("p1", now, false));
        let since = now - Duration::from_secs(1);
        assert_eq!(view.pending("a", since, now, ""), Estimate::default());
        assert_eq!(view.pending("b", since, now, "").cpu_cores, 1.0);
        assert_eq!(view.pending("c", since, now, ""), Estimate::default());
    }

    #[test]
    fn pending_counts_only_pods_after_since_and_not_the_incoming_one() {
        let now = SystemTime::now();
        let mut view = ClusterView::default();
        view.record_pod("a", pod("old", now - Duration::from_secs(600), true));
        view.record_pod("a", pod("new", now, true));
        view.record_pod("a", pod("me", now, true));
        let estimate = view.pending("a", now - Duration::from_secs(300), now, "me");
        assert_eq!(estimate.cpu_cores, 1.0);
        // A pod on another node leaves this one's count alone.
        view.record_pod("b", pod("elsewhere", now, true));
        let estimate = view.pending("a", now - Duration::from_secs(300), now, "elsewhere");
        assert_eq!(estimate.cpu_cores, 2.0);
    }

    #[test]
    fn unconfirmed_assumptions_expire() {
        let now = SystemTime::now();
        let mut view = ClusterView::default();
        view.record_pod(
            "a",
            pod(
                "guess",
                now - ASSUMPTION_TTL - Duration::from_secs(1),
                false,
            ),
        );
        view.record_pod(
            "a",
            pod("seen", now - ASSUMPTION_TTL - Duration::from_secs(1), true),
        );
        let estimate = view.pending("a", now - Duration::from_secs(300), now, "");
        assert_eq!(
            estimate.cpu_cores, 1.0,
            "only the observed pod still counts"
        );
    }

    #[test]
    fn prune_and_remove_forget_pods() {
        let now = SystemTime::now();
        let mut view = ClusterView::default();
        view.record_pod("a", pod("old", now - Duration::from_secs(900), true));
        view.record_pod("a", pod("new", now, true));
        view.prune(now, Duration::from_secs(600));
        assert_eq!(view.recent_pods("a").len(), 1);
        view.remove_pod("new");
        assert!(view.recent_pods("a").is_empty());
        assert_eq!(view.recent_pod_count(), 0);
    }

    #[test]
    fn prune_forgets_assumptions_once_they_no_longer_count() {
        let now = SystemTime::now();
        let mut view = ClusterView::default();
        let expired = now - ASSUMPTION_TTL - Duration::from_secs(1);
        view.record_pod("a", pod("guess", expired, false));
        view.record_pod("a", pod("seen", expired, true));
        view.record_pod("b", pod("fresh-guess", now, false));
        view.prune(now, Duration::from_secs(600));
        let uids: Vec<&str> = ["a", "b"]
            .iter()
            .flat_map(|n| view.recent_pods(n))
            .map(|p| p.uid.as_str())
            .collect();
        assert_eq!(uids, ["seen", "fresh-guess"]);
    }

    #[test]
    fn prune_some_works_in_batches_oldest_first() {
        let now = SystemTime::now();
        let mut view = ClusterView::default();
        for i in 0..10u64 {
            let at = now - Duration::from_secs(1000 - i);
            view.record_pod("a", pod(&format!("p{i}"), at, true));
        }
        let keep = Duration::from_secs(600);
        assert_eq!(view.prune_some(now, keep, 4), 4);
        assert_eq!(view.recent_pods("a")[0].uid, "p9", "the oldest went first");
        assert_eq!(view.prune_some(now, keep, 4), 4);
        assert_eq!(view.prune_some(now, keep, 4), 2);
        assert_eq!(view.recent_pod_count(), 0);
    }

    mod model {
        use std::collections::BTreeMap;

        use proptest::prelude::*;

        use super::*;

        #[derive(Debug, Clone)]
        enum Op {
            Record {
                node: u8,
                uid: u8,
                age: u64,
                observed: bool,
            },
            Remove(u8),
            Prune {
                keep: u64,
            },
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                4 => (0..4u8, 0..12u8, 0..120u64, any::<bool>()).prop_map(
                    |(node, uid, age, observed)| Op::Record { node, uid, age, observed }
                ),
                1 => (0..12u8).prop_map(Op::Remove),
                1 => (0..90u64).prop_map(|keep| Op::Prune { keep }),
            ]
        }

        /// The same rules over a plain map of uid to (node, pod), scanned in full.
        #[derive(Default)]
        struct Model(BTreeMap<String, (String, RecentPod)>);

        impl Model {
            fn apply(&mut self, op: &Op, now: SystemTime) {
                match op {
                    Op::Record {
                        node,
                        uid,
                        age,
                        observed,
                    } => {
                        let pod = super::pod(
                            &uid.to_string(),
                            now - Duration::from_secs(*age),
                            *observed,
                        );
                        let kept = self.0.get(&pod.uid).is_some_and(|(_, p)| p.observed);
                        if !kept || pod.observed {
                            self.0.insert(pod.uid.clone(), (node.to_string(), pod));
                        }
                    }
                    Op::Remove(uid) => {
                        self.0.remove(&uid.to_string());
                    }
                    Op::Prune { keep } => {
                        let keep = Duration::from_secs(*keep);
                        let cutoff = now - keep;
                        let assumed_cutoff = now - keep.min(ASSUMPTION_TTL);
                        self.0.retain(|_, (_, p)| {
                            p.bound_at > cutoff && (p.observed || p.bound_at > assumed_cutoff)
                        });
                    }
                }
            }

            fn uids_on(&self, node: &str) -> Vec<String> {
                let on = self.0.values().filter(|(n, _)| n == node);
                on.map(|(_, p)| p.uid.clone()).collect()
            }
        }

        proptest! {
            #[test]
            fn the_indexed_view_agrees_with_a_full_scan(ops in proptest::collection::vec(op(), 1..80)) {
                let now = SystemTime::now();
                let mut view = ClusterView::default();
                let mut model = Model::default();
                for op in &ops {
                    match op {
                        Op::Record { node, uid, age, observed } => view.record_pod(
                            &node.to_string(),
                            pod(&uid.to_string(), now - Duration::from_secs(*age), *observed),
                        ),
                        Op::Remove(uid) => view.remove_pod(&uid.to_string()),
                        Op::Prune { keep } => view.prune(now, Duration::from_secs(*keep)),
                    }
                    model.apply(op, now);
                    prop_assert_eq!(view.recent_pod_count(), model.0.len());
                    for node in (0..4u8).map(|n| n.to_string()) {
                        let mut uids: Vec<String> =
                            view.recent_pods(&node).iter().map(|p| p.uid.clone()).collect();
                        uids.sort();
                        prop_assert_eq!(&uids, &model.uids_on(&node), "node {}", node);
                        let since = now - Duration::from_secs(60);
                        let expected = model
                            .0
                            .values()
                            .filter(|(n, p)| *n == node && p.bound_at > since)
                            .filter(|(_, p)| p.observed || p.bound_at > now - ASSUMPTION_TTL)
                            .count();
                        prop_assert_eq!(view.pending(&node, since, now, "").cpu_cores, expected as f64);
                    }
                }
            }
        }
    }
}
