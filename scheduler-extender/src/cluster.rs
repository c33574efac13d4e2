//! What the extender knows of the cluster besides load: nodes, and the pods bound
//! recently enough that the load does not show them yet.

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

#[derive(Debug, Default)]
pub struct ClusterView {
    nodes: FastMap<String, NodeInfo>,
    /// Recent pods per node.
    recent: FastMap<String, Vec<RecentPod>>,
    /// Which node each recent pod is on, to move or drop it by uid.
    recent_node_of: FastMap<String, String>,
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

    pub fn upsert_node(&mut self, node: NodeInfo) {
        self.nodes.insert(node.name.clone(), node);
    }

    pub fn remove_node(&mut self, name: &str) {
        self.nodes.remove(name);
    }

    /// Replaces every node at once, after a full relist.
    pub fn replace_nodes(&mut self, nodes: impl IntoIterator<Item = NodeInfo>) {
        self.nodes = nodes.into_iter().map(|n| (n.name.clone(), n)).collect();
    }

    /// Records a pod on a node. An observed binding always replaces an assumed one;
    /// an assumption never replaces an observation.
    pub fn record_pod(&mut self, node: &str, pod: RecentPod) {
        if let Some(previous) = self.recent_node_of.get(&pod.uid) {
            let existing = self
                .recent
                .get(previous)
                .and_then(|pods| pods.iter().find(|p| p.uid == pod.uid));
            if existing.is_some_and(|p| p.observed && !pod.observed) {
                return;
            }
            let previous = previous.clone();
            self.forget_pod(&previous, &pod.uid);
        }
        self.recent_node_of
            .insert(pod.uid.clone(), node.to_string());
        self.recent.entry(node.to_string()).or_default().push(pod);
    }

    /// Drops a pod (deleted, or finished).
    pub fn remove_pod(&mut self, uid: &str) {
        if let Some(node) = self.recent_node_of.get(uid).cloned() {
            self.forget_pod(&node, uid);
        }
    }

    fn forget_pod(&mut self, node: &str, uid: &str) {
        self.recent_node_of.remove(uid);
        if let Some(pods) = self.recent.get_mut(node) {
            pods.retain(|p| p.uid != uid);
            if pods.is_empty() {
                self.recent.remove(node);
            }
        }
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
        if self.recent.is_empty() {
            return total;
        }
        let assumed_since = now
            .checked_sub(ASSUMPTION_TTL)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        for pod in self.recent.get(node).into_iter().flatten() {
            let live = pod.observed || pod.bound_at > assumed_since;
            if live && pod.bound_at > since && pod.uid != exclude_uid {
                total += pod.estimate;
            }
        }
        total
    }

    /// Forgets pods bound longer than `keep` ago: no load sample can need them any more.
    pub fn prune(&mut self, now: SystemTime, keep: Duration) {
        let cutoff = now.checked_sub(keep).unwrap_or(SystemTime::UNIX_EPOCH);
        self.recent.retain(|_, pods| {
            pods.retain(|p| p.bound_at > cutoff);
            !pods.is_empty()
        });
        let recent = &self.recent;
        self.recent_node_of.retain(|uid, node| {
            recent
                .get(node)
                .is_some_and(|pods| pods.iter().any(|p| &p.uid == uid))
        });
    }

    pub fn recent_pod_count(&self) -> usize {
        self.recent_node_of.len()
    }

    pub fn recent_pods(&self, node: &str) -> &[RecentPod] {
        self.recent.get(node).map_or(&[], Vec::as_slice)
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
        assert!(view.recent_node_of.is_empty());
    }
}
