//! A model of kube-scheduler's default profile, the `requests` policy's placement.
//!
//! One call of [`KubeScheduler::schedule`] is one scheduling cycle of one pod: filter a
//! sample of the nodes, let an extender filter and score them, score them with the
//! default profile's plugins, pick the best total (ties at random). Pure apart from
//! the scheduler's own state (rotating start index, seeded random source, buffers).
//!
//! # Source
//!
//! Read from kubernetes/kubernetes as of **v1.35** (the release the project's research
//! notes pin, v1.35.6; the stored copies read carry the v1.35 framework API
//! `k8s.io/kube-scheduler/framework`, `SignPlugin` and the `OpportunisticBatching` gate):
//!
//! - `pkg/scheduler/schedule_one.go` (copy at 003b4460):
//!   - `findNodesThatPassFilters`: nodes are checked from `nextStartNodeIndex` on,
//!     wrapping, until `numFeasibleNodesToFind` feasible nodes are found; afterwards
//!     `nextStartNodeIndex = (nextStartNodeIndex + processed) % len(allNodes)`, where
//!     `processed` counts the feasible nodes kept and the nodes that failed.
//!   - `numFeasibleNodesToFind`: fewer than 100 nodes (`minFeasibleNodesToFind`): all;
//!     else `percentageOfNodesToScore`, or when it is 0 the adaptive
//!     `50 - nodes/125` (integer division) with a floor of 5 %
//!     (`minFeasibleNodesPercentageToFind`); `nodes * percentage / 100`, at least 100.
//!     So 100 nodes → 100, 1,000 → 420 (42 %), 5,000 → 500 (10 %), 6,000 → 300 (5 %).
//!   - `findNodesThatPassExtenders`: the extender filters the feasible sample (it never
//!     sees the other nodes); the nodes it returns are the feasible set.
//!   - `schedulePod`: no feasible node → unschedulable; exactly one → chosen without
//!     scoring (the extender's prioritize is not called).
//!   - `prioritizeNodes`: each plugin's normalized 0..=100 score times its weight,
//!     summed, plus per extender `score * weight * (MaxNodeScore / MaxExtenderPriority)`
//!     = `score * weight * 10`, unclamped; a node missing from the extender's answer
//!     gets nothing from it.
//!   - Ties: v1.35's scheduler picks uniformly at random among the nodes with the best
//!     total (`selectHost`'s reservoir sampling up to v1.34; the copy read pops a heap
//!     ordered by total, then a random `Randomizer`). Modelled as reservoir sampling
//!     with a seeded [`StdRng`].
//! - `pkg/scheduler/backend/cache/node_tree.go` (`nodeTree.list`) and `cache.go`
//!   (`updateNodeInfoSnapshotList`): the snapshot's node list, which the rotation walks,
//!   interleaves zones: the first node of each zone, then the second of each, ...; zones
//!   in order of first appearance. Modelled with node-index order standing for the
//!   order in which the informer added the nodes.
//! - `pkg/scheduler/framework/plugins/noderesources/fit.go` (`fitsRequest`): a pod slot
//!   must be free (`pods + 1 <= allowed pods`); a pod requesting no cpu and no memory
//!   passes on that alone; otherwise each requested (> 0) resource must fit
//!   `allocatable - requested` of the node's pods (plain requests, no defaults).
//! - `.../noderesources/least_allocated.go`, `resource_allocation.go`, `fit.go`: the
//!   NodeResourcesFit score with the default `LeastAllocated` strategy, cpu and memory
//!   weight 1: per resource `(allocatable - requested) * 100 / allocatable` (integer;
//!   0 when requested exceeds allocatable; a resource with allocatable 0 is left out),
//!   then the weighted mean (integer division). `requested` is the node's *non-zero*
//!   requests plus the pod's (`GetNonZeroRequested`, the 100m / 200 MiB defaults:
//!   [`NodeState::score_requested`] + [`PodRequests::score`]).
//! - `.../noderesources/balanced_allocation.go` (copy at 02d7708a) with
//!   `resource_allocation.go`: `useRequested: true`, so requested = the node's *plain*
//!   requests plus the pod's plain requests ([`NodeState::requested`] +
//!   [`PodRequests::fit`]; kubernetes#105845, v1.23); a pod requesting neither cpu nor
//!   memory is skipped (`PreScore` returns `Skip`, kubernetes#130260, v1.33), so it
//!   gets 0 on every node. Otherwise per resource fraction = requested / allocatable
//!   capped at 1; with two fractions std = |f_cpu - f_mem| / 2 (one or none: 0);
//!   score = `int64((1 - std) * 100)` (truncated). (v1.36 scores the change of balance
//!   instead, kubernetes#135573; not modelled.)
//! - `pkg/scheduler/apis/config/v1/default_plugins.go`: weights TaintToleration 3,
//!   NodeAffinity 2, NodeResourcesFit 1, PodTopologySpread 2, InterPodAffinity 2,
//!   NodeResourcesBalancedAllocation 1, ImageLocality 1.
//! - `pkg/scheduler/framework/plugins/podtopologyspread/plugin.go`
//!   (`systemDefaultConstraints`: `kubernetes.io/hostname` maxSkew 3 and
//!   `topology.kubernetes.io/zone` maxSkew 5, both `ScheduleAnyway`) and `scoring.go`:
//!   - PreScore over the nodes being scored (the feasible set after the extender):
//!     system defaults do not require every topology label, so no node is ignored;
//!     hostname domain count = number of scored nodes; zone domain count = distinct zone
//!     values among them (a node without the label counts as the value ""). The pods
//!     per zone are counted over **all** nodes of the cluster whose zone is one of the
//!     scored nodes' zones and that pass the pod's node affinity (`nodeAffinityPolicy:
//!     Honor`; taints are ignored, `nodeTaintsPolicy: Ignore`).
//!   - Score: per constraint whose label the node has,
//!     `count * ln(domains + 2) + (maxSkew - 1)`, summed, rounded (`math.Round`); the
//!     hostname count is the node's matching pods.
//!   - NormalizeScore: `100 * (max + min - score) / max` over the scored nodes.
//!
//! Cross-checked with the project's `../shared/research/extender-anchors.md` (§1.2).
//!
//! # What the model assumes and leaves out
//!
//! - **TaintToleration and NodeAffinity scores** are equal on every node in our traces
//!   (no `PreferNoSchedule` taints, no preferred node-affinity terms), so they cannot
//!   change the choice and are left out of the totals: TaintToleration normalizes an
//!   all-zero count to 100 everywhere (300 weighted), NodeAffinity skips without
//!   preferred terms (0). Totals are therefore 300 lower than the real scheduler's.
//! - **InterPodAffinity** (no pod affinity in the traces: skipped, 0), **ImageLocality**
//!   (images unknown: taken as equal everywhere), volume plugins (`VolumeBinding`,
//!   `VolumeZone`, `VolumeRestrictions`, `NodeVolumeLimits`), `NodePorts`,
//!   `NodeUnschedulable`, DRA, and user-set topology spread constraints are not
//!   modelled; taints, nodeSelector and required node affinity come in precomputed as
//!   `eligible`.
//! - PodTopologySpread's system defaults apply only to pods selected by a Service,
//!   ReplicaSet, ReplicationController or StatefulSet; every simulated pod is assumed to
//!   be one (a Deployment's), and `same_workload` stands for the pods that selector
//!   matches. The zone count uses `eligible` (which also folds in taints) for the
//!   node-affinity inclusion policy.
//! - **Preemption** (`DefaultPreemption`), nominated nodes, the `OpportunisticBatching`
//!   hint, the scheduling queue, backoff, binding and the assume cache are the caller's
//!   business or absent: an unschedulable pod just gets `None`.
//! - One extender, always interested, never failing (no `ignorable`, no
//!   `managedResources`); filter and prioritize run in-process.
//! - The scheduler's parallel filtering may look at a few more nodes than needed before
//!   it stops; the model is the sequential equivalent.
//! - The zone of each node is read once and cached (again whenever the number of nodes
//!   changes, or after [`KubeScheduler::invalidate_node_order`]).

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::cluster::{NodeState, PodRequests};

/// `framework.MaxNodeScore`.
pub const MAX_NODE_SCORE: i64 = 100;
/// `extenderv1.MaxExtenderPriority`.
pub const MAX_EXTENDER_PRIORITY: i64 = 10;
/// `minFeasibleNodesToFind` in `schedule_one.go`.
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// `minFeasibleNodesPercentageToFind` in `schedule_one.go`.
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;

/// Default-profile weight of NodeResourcesFit (its score: LeastAllocated).
pub const WEIGHT_NODE_RESOURCES_FIT: i64 = 1;
/// Default-profile weight of NodeResourcesBalancedAllocation.
pub const WEIGHT_BALANCED_ALLOCATION: i64 = 1;
/// Default-profile weight of PodTopologySpread.
pub const WEIGHT_POD_TOPOLOGY_SPREAD: i64 = 2;

/// `maxSkew` of the system default `kubernetes.io/hostname` constraint.
const HOSTNAME_MAX_SKEW: i64 = 3;
/// `maxSkew` of the system default `topology.kubernetes.io/zone` constraint.
const ZONE_MAX_SKEW: i64 = 5;

/// The knobs of `KubeSchedulerConfiguration` the model honours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// `percentageOfNodesToScore`; `None` (or `Some(0)`, as in the scheduler) is the
    /// adaptive default. Values above 100 count as 100.
    pub percentage_of_nodes_to_score: Option<u32>,
}

/// An extender as kube-scheduler calls it: filter the feasible nodes, then score
/// 0..=10 with a weight.
pub trait Extender {
    /// Keeps the nodes that pass (subset of `nodes`, any order).
    fn filter(&mut self, nodes: &[usize]) -> Vec<usize>;
    /// One score 0..=10 per node of `nodes`, in order.
    fn prioritize(&mut self, nodes: &[usize]) -> Vec<u8>;
    fn weight(&self) -> i64;
}

/// How one scored node came out of the last scheduling cycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeScore {
    pub node: usize,
    /// NodeResourcesFit (LeastAllocated), 0..=100, before its weight.
    pub least_allocated: i64,
    /// NodeResourcesBalancedAllocation, 0..=100 (0 when skipped), before its weight.
    pub balanced_allocation: i64,
    /// PodTopologySpread after NormalizeScore, 0..=100, before its weight.
    pub pod_topology_spread: i64,
    /// The extender's `score * weight * 10`.
    pub extender: i64,
    /// The weighted sum the choice is made on (without the constant plugins).
    pub total: i64,
}

/// How many feasible nodes the scheduler looks for before it stops filtering
/// (`numFeasibleNodesToFind`).
pub fn num_feasible_nodes_to_find(percentage: Option<u32>, num_all_nodes: usize) -> usize {
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all_nodes;
    }
    let percentage = match percentage.unwrap_or(0) {
        0 => 50usize
            .saturating_sub(num_all_nodes / 125)
            .max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND),
        p => (p as usize).min(100),
    };
    (num_all_nodes * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// `leastRequestedScore`: the unused share of one resource on a 0..=100 scale.
fn least_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    let score = (i128::from(capacity) - i128::from(requested)) * i128::from(MAX_NODE_SCORE)
        / i128::from(capacity);
    i64::try_from(score).unwrap_or(i64::MAX)
}

/// NodeResourcesFit's score with the default `LeastAllocated` strategy (cpu and memory,
/// weight 1 each), on the non-zero requests, the pod's included.
pub fn least_allocated(node: &NodeState, pod: &PodRequests) -> i64 {
    let resources = [
        (
            node.score_requested
                .cpu_milli
                .saturating_add(pod.score.cpu_milli),
            node.allocatable.cpu_milli,
        ),
        (
            node.score_requested
                .memory_bytes
                .saturating_add(pod.score.memory_bytes),
            node.allocatable.memory_bytes,
        ),
    ];
    let (mut score, mut weight_sum) = (0i64, 0i64);
    for (requested, allocatable) in resources {
        if allocatable == 0 {
            continue;
        }
        score += least_requested_score(requested, allocatable);
        weight_sum += 1;
    }
    if weight_sum == 0 {
        0
    } else {
        score / weight_sum
    }
}

/// NodeResourcesBalancedAllocation's score on the plain requests, the pod's included;
/// 0 for a pod that requests neither cpu nor memory (the plugin skips it).
pub fn balanced_allocation(node: &NodeState, pod: &PodRequests) -> i64 {
    if pod.fit.cpu_milli == 0 && pod.fit.memory_bytes == 0 {
        return 0;
    }
    let resources = [
        (
            node.requested.cpu_milli.saturating_add(pod.fit.cpu_milli),
            node.allocatable.cpu_milli,
        ),
        (
            node.requested
                .memory_bytes
                .saturating_add(pod.fit.memory_bytes),
            node.allocatable.memory_bytes,
        ),
    ];
    let mut fractions = [0.0f64; 2];
    let mut len = 0;
    for (requested, allocatable) in resources {
        if allocatable == 0 {
            continue;
        }
        fractions[len] = (requested as f64 / allocatable as f64).min(1.0);
        len += 1;
    }
    let std = if len == 2 {
        ((fractions[0] - fractions[1]) / 2.0).abs()
    } else {
        0.0
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

/// `topologyNormalizingWeight`.
fn topology_normalizing_weight(domains: usize) -> f64 {
    ((domains + 2) as f64).ln()
}

/// `scoreForCount`.
fn score_for_count(count: i64, max_skew: i64, weight: f64) -> f64 {
    count as f64 * weight + (max_skew - 1) as f64
}

/// kube-scheduler's default profile, one pod at a time.
#[derive(Debug)]
pub struct KubeScheduler {
    config: SchedulerConfig,
    rng: StdRng,
    /// `nextStartNodeIndex`: where the next cycle starts in `order`.
    next_start_node_index: usize,
    /// The snapshot's node list (zones interleaved), node indices.
    order: Vec<usize>,
    /// Per node, its zone slot.
    node_zone: Vec<usize>,
    /// Per zone slot, whether it is a zone label value (false: no label).
    zone_labelled: Vec<bool>,
    // Buffers reused across cycles.
    feasible: Vec<usize>,
    sample: Vec<usize>,
    in_sample: Vec<bool>,
    zone_scored: Vec<bool>,
    zone_pods: Vec<i64>,
    scores: Vec<NodeScore>,
}

impl KubeScheduler {
    pub fn new(config: SchedulerConfig, seed: u64) -> Self {
        Self {
            config,
            rng: StdRng::seed_from_u64(seed),
            next_start_node_index: 0,
            order: Vec::new(),
            node_zone: Vec::new(),
            zone_labelled: Vec::new(),
            feasible: Vec::new(),
            sample: Vec::new(),
            in_sample: Vec::new(),
            zone_scored: Vec::new(),
            zone_pods: Vec::new(),
            scores: Vec::new(),
        }
    }

    pub fn config(&self) -> SchedulerConfig {
        self.config
    }

    /// `nextStartNodeIndex`, a position in the zone-interleaved node list.
    pub fn next_start_node_index(&self) -> usize {
        self.next_start_node_index
    }

    /// The nodes scored in the last cycle, in the order they were scored (empty when
    /// it found no feasible node or just one, which is taken without scoring).
    pub fn last_scores(&self) -> &[NodeScore] {
        &self.scores
    }

    /// The node list the rotation walks (node indices, zones interleaved), as built by
    /// the last cycle.
    pub fn node_order(&self) -> &[usize] {
        &self.order
    }

    /// Forget the cached node order and zones (call after node labels change; a change
    /// of the node count is noticed on its own).
    pub fn invalidate_node_order(&mut self) {
        self.order.clear();
    }

    /// Picks a node for one pod, or None (unschedulable: no feasible node).
    ///
    /// `eligible[node]`: taints/nodeSelector/affinity already judged (static);
    /// `same_workload(node)`: pods of the pod's workload on that node (for
    /// PodTopologySpread's default hostname constraint); `zone(node)`: the node's
    /// `topology.kubernetes.io/zone` if any.
    pub fn schedule<'z>(
        &mut self,
        pod: &PodRequests,
        nodes: &[NodeState],
        eligible: &[bool],
        same_workload: &dyn Fn(usize) -> u32,
        zone: &dyn Fn(usize) -> Option<&'z str>,
        mut extender: Option<&mut dyn Extender>,
    ) -> Option<usize> {
        self.scores.clear();
        self.feasible.clear();
        let n = nodes.len();
        if n == 0 {
            return None;
        }
        if self.order.len() != n {
            self.rebuild_node_order(n, zone);
        }
        let is_eligible = |node: usize| eligible.get(node).copied().unwrap_or(false);

        // Filter: from the rotating start, until enough feasible nodes are found.
        let to_find = num_feasible_nodes_to_find(self.config.percentage_of_nodes_to_score, n);
        let start = self.next_start_node_index % n;
        let mut processed = 0;
        for i in 0..n {
            let node = self.order[(start + i) % n];
            processed += 1;
            if is_eligible(node) && nodes[node].fits(pod) {
                self.feasible.push(node);
                if self.feasible.len() == to_find {
                    break;
                }
            }
        }
        self.next_start_node_index = (start + processed) % n;

        // The extender filters the feasible sample.
        if let Some(ext) = extender.as_deref_mut()
            && !self.feasible.is_empty()
        {
            let kept = ext.filter(&self.feasible);
            std::mem::swap(&mut self.feasible, &mut self.sample);
            self.in_sample.resize(n, false);
            for &node in &self.sample {
                self.in_sample[node] = true;
            }
            self.feasible.clear();
            for node in kept {
                if node < n && self.in_sample[node] {
                    self.in_sample[node] = false;
                    self.feasible.push(node);
                }
            }
            for &node in &self.sample {
                self.in_sample[node] = false;
            }
        }

        match self.feasible.len() {
            0 => return None,
            1 => return Some(self.feasible[0]),
            _ => {}
        }

        self.score(pod, nodes, &is_eligible, same_workload, extender);
        self.select_host()
    }

    /// Rebuilds the snapshot's node list: zones interleaved, as `nodeTree.list` does.
    fn rebuild_node_order<'z>(&mut self, n: usize, zone: &dyn Fn(usize) -> Option<&'z str>) {
        let mut zones: Vec<Option<&'z str>> = Vec::new();
        let mut members: Vec<Vec<usize>> = Vec::new();
        self.node_zone.clear();
        for node in 0..n {
            let z = zone(node);
            let slot = match zones.iter().position(|&known| known == z) {
                Some(slot) => slot,
                None => {
                    zones.push(z);
                    members.push(Vec::new());
                    zones.len() - 1
                }
            };
            self.node_zone.push(slot);
            members[slot].push(node);
        }
        self.zone_labelled.clear();
        self.zone_labelled.extend(zones.iter().map(Option::is_some));
        self.order.clear();
        let mut depth = 0;
        while self.order.len() < n {
            for zone_members in &members {
                if let Some(&node) = zone_members.get(depth) {
                    self.order.push(node);
                }
            }
            depth += 1;
        }
    }

    /// Scores `self.feasible` into `self.scores` (PreScore, Score, NormalizeScore,
    /// weights, extender).
    fn score(
        &mut self,
        pod: &PodRequests,
        nodes: &[NodeState],
        is_eligible: &dyn Fn(usize) -> bool,
        same_workload: &dyn Fn(usize) -> u32,
        extender: Option<&mut dyn Extender>,
    ) {
        // PodTopologySpread PreScore: domains among the scored nodes, pods per zone
        // over the whole cluster.
        let zones = self.zone_labelled.len();
        self.zone_scored.clear();
        self.zone_scored.resize(zones, false);
        let mut zone_domains = 0;
        let mut any_labelled = false;
        for &node in &self.feasible {
            let slot = self.node_zone[node];
            if !self.zone_scored[slot] {
                self.zone_scored[slot] = true;
                zone_domains += 1;
                any_labelled |= self.zone_labelled[slot];
            }
        }
        self.zone_pods.clear();
        self.zone_pods.resize(zones, 0);
        if any_labelled {
            for (node, &slot) in self.node_zone.iter().enumerate() {
                if self.zone_labelled[slot] && self.zone_scored[slot] && is_eligible(node) {
                    self.zone_pods[slot] += i64::from(same_workload(node));
                }
            }
        }
        let hostname_weight = topology_normalizing_weight(self.feasible.len());
        let zone_weight = topology_normalizing_weight(zone_domains);

        // Score.
        let (mut min_spread, mut max_spread) = (i64::MAX, 0i64);
        for &node in &self.feasible {
            let state = &nodes[node];
            let mut spread = 0.0;
            spread += score_for_count(
                i64::from(same_workload(node)),
                HOSTNAME_MAX_SKEW,
                hostname_weight,
            );
            let slot = self.node_zone[node];
            if self.zone_labelled[slot] {
                spread += score_for_count(self.zone_pods[slot], ZONE_MAX_SKEW, zone_weight);
            }
            let spread = spread.round() as i64;
            min_spread = min_spread.min(spread);
            max_spread = max_spread.max(spread);
            self.scores.push(NodeScore {
                node,
                least_allocated: least_allocated(state, pod),
                balanced_allocation: balanced_allocation(state, pod),
                pod_topology_spread: spread,
                extender: 0,
                total: 0,
            });
        }

        // NormalizeScore (PodTopologySpread).
        for score in &mut self.scores {
            score.pod_topology_spread = if max_spread == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max_spread + min_spread - score.pod_topology_spread) / max_spread
            };
        }

        // Extender prioritize.
        if let Some(ext) = extender {
            let priorities = ext.prioritize(&self.feasible);
            let weight = ext.weight();
            for (score, &priority) in self.scores.iter_mut().zip(&priorities) {
                score.extender = i64::from(priority)
                    .saturating_mul(weight)
                    .saturating_mul(MAX_NODE_SCORE / MAX_EXTENDER_PRIORITY);
            }
        }

        for score in &mut self.scores {
            score.total = (score.least_allocated * WEIGHT_NODE_RESOURCES_FIT
                + score.balanced_allocation * WEIGHT_BALANCED_ALLOCATION
                + score.pod_topology_spread * WEIGHT_POD_TOPOLOGY_SPREAD)
                .saturating_add(score.extender);
        }
    }

    /// The best total, ties broken uniformly at random (reservoir sampling).
    fn select_host(&mut self) -> Option<usize> {
        let mut best: Option<(usize, i64)> = None;
        let mut ties = 0u32;
        for score in &self.scores {
            match best {
                Some((_, total)) if score.total < total => {}
                Some((_, total)) if score.total == total => {
                    ties += 1;
                    if self.rng.random_range(0..ties) == 0 {
                        best = Some((score.node, total));
                    }
                }
                _ => {
                    best = Some((score.node, score.total));
                    ties = 1;
                }
            }
        }
        best.map(|(node, _)| node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidal_core::resources::Resources;

    fn node(cpu: i64, mem: i64) -> NodeState {
        NodeState {
            allocatable: Resources {
                cpu_milli: cpu,
                memory_bytes: mem,
            },
            max_pods: 110,
            ..NodeState::default()
        }
    }

    #[test]
    fn node_order_interleaves_zones_in_order_of_appearance() {
        let zones = ["a", "a", "a", "b", "b", "c"];
        let nodes = vec![node(1000, 1000); zones.len()];
        let mut sched = KubeScheduler::new(SchedulerConfig::default(), 1);
        let pod = PodRequests::new(Resources {
            cpu_milli: 1,
            memory_bytes: 1,
        });
        let eligible = vec![true; zones.len()];
        sched.schedule(&pod, &nodes, &eligible, &|_| 0, &|i| Some(zones[i]), None);
        // a: 0 1 2, b: 3 4, c: 5 → 0 3 5 1 4 2
        assert_eq!(sched.node_order(), &[0, 3, 5, 1, 4, 2]);
    }

    #[test]
    fn unlabelled_nodes_form_their_own_domain_in_the_order() {
        let zones = [None, Some("a"), None, Some("a")];
        let nodes = vec![node(1000, 1000); zones.len()];
        let mut sched = KubeScheduler::new(SchedulerConfig::default(), 1);
        let pod = PodRequests::new(Resources::default());
        sched.schedule(&pod, &nodes, &[true; 4], &|_| 0, &|i| zones[i], None);
        assert_eq!(sched.node_order(), &[0, 1, 2, 3]);
        assert_eq!(sched.zone_labelled, vec![false, true]);
    }

    #[test]
    fn topology_weights_match_the_source_interval() {
        // "the result is in the interval <1.09, 8.52>" for 1..5000 domains
        assert!((topology_normalizing_weight(1) - 3f64.ln()).abs() < 1e-12);
        assert!(topology_normalizing_weight(1) > 1.09);
        assert!(topology_normalizing_weight(5000) < 8.52);
    }

    #[test]
    fn single_feasible_node_is_taken_without_scoring() {
        let nodes = vec![node(1000, 1000), node(1000, 1000)];
        let mut sched = KubeScheduler::new(SchedulerConfig::default(), 1);
        let pod = PodRequests::new(Resources {
            cpu_milli: 1,
            memory_bytes: 1,
        });
        let chosen = sched.schedule(&pod, &nodes, &[false, true], &|_| 0, &|_| None, None);
        assert_eq!(chosen, Some(1));
        assert!(sched.last_scores().is_empty());
    }
}
