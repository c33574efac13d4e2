//! A pure model of the kubernetes-sigs descheduler's `LowNodeUtilization` balance
//! plugin together with its `DefaultEvictor` and eviction limits. This is the
//! simulator's descheduling baseline.
//!
//! # Sources
//!
//! Read in `kubernetes-sigs/descheduler`, in the v0.33+ line that has the
//! Prometheus source, `evictionLimits` and the generic classifier. The project's
//! anchors pin v0.34.0 (`dd7b76f2`) and v0.36.0. Files and the commits read:
//! - `pkg/framework/plugins/nodeutilization/lownodeutilization.go` @`020c9e77`:
//!   `Balance`, the abort conditions and `continueEvictionCond`;
//! - `pkg/framework/plugins/nodeutilization/nodeutilization.go` @`0a53baf6`:
//!   `evictPodsFromSourceNodes`, `evictPods`, `sortNodesByUsage`,
//!   `assessAvailableResourceInNodes`, `capNodeCapacityToThreshold`,
//!   `ResourceUsageToResourceThreshold` and the deviation thresholds;
//! - `pkg/framework/plugins/nodeutilization/usageclients.go` @`0ad49a5d`: the
//!   requested, actual (metrics-server) and Prometheus usage clients;
//! - `pkg/framework/plugins/nodeutilization/classifier/classifier.go` and
//!   `normalizer/normalizer.go` @`2905a3bf`;
//! - `pkg/framework/plugins/nodeutilization/{types.go,defaults.go}`;
//! - `pkg/descheduler/pod/pods.go`: `SortPodsBasedOnPriorityLowToHigh`;
//! - `pkg/descheduler/evictions/evictions.go`: `EvictPod` and its limits;
//! - `pkg/framework/plugins/defaultevictor/{defaultevictor.go,constraints.go}`;
//! - `pkg/utils/predicates.go`: `PodToleratesTaints`.
//!
//! # What the plugin does, and what this model does in the same way
//!
//! 1. **Usage per node.** This depends on the [`Mode`]:
//!    - [`Mode::Requests`] (the default): the sum of pod requests for cpu
//!      (milli), memory and the pod count.
//!    - [`Mode::MetricsServer`] (`metricsUtilization.source: KubernetesMetrics`):
//!      real cpu and memory usage, and the pod count.
//!    - [`Mode::RealUsage`] (`source: Prometheus`, v0.33+): **one** figure per
//!      node. It is `int64(sample*100)`, where the sample must lie in [0,1].
//!      It is compared with `MetricResource` thresholds, against a capacity of 100.
//!
//!    Capacity is the node's allocatable. Percent = used / capacity × 100, and
//!    0 when the capacity is 0.
//! 2. **Classification.** Only the resources listed in `thresholds` count.
//!    Unlisted cpu, memory or pods behave as 100% (README).
//!    - *Underutilized* means every listed percent is ≤ `thresholds`, **and** the
//!      node is schedulable.
//!    - *Overutilized* means any listed percent is > `targetThresholds`.
//!    - The under test is tried first, and the first match wins.
//!    - With `useDeviationThresholds` the limits become mean − thresholds and
//!      mean + targetThresholds, each clamped to [0,100]. The mean is taken over
//!      all nodes, per listed resource.
//! 3. **Abort**, with no eviction at all, when any of these holds:
//!    - there is no underutilized node;
//!    - the number of underutilized nodes is ≤ `numberOfNodes`;
//!    - every node is underutilized;
//!    - there is no overutilized node.
//! 4. **Room on the cold nodes.** For each resource the plugin counts (calling
//!    it `available`): Σ over underutilized nodes of
//!    `int64(target% × 0.01 × capacity) − usage`. Note that the *target*
//!    threshold is used, even for cold nodes. An unlisted resource contributes
//!    its full capacity. The model uses cpu, memory and pods, or the one metric.
//! 5. **Sources.** Overutilized nodes are taken by the *sum of raw usage
//!    values*, in descending order: milli-cpu + memory bytes + pods, so memory
//!    dominates. Ties are left to Go's unstable sort; here they go by node index.
//! 6. **Candidate pods on each source.**
//!    - Only the pods the DefaultEvictor lets through are candidates
//!      ([`LnuPod::evictable`]; [`default_evictor_allows`] gives the default
//!      rules).
//!    - They are sorted by priority ascending, then by QoS: BestEffort <
//!      Burstable < Guaranteed.
//!    - Go's `sort.Slice` leaves the order of ties unspecified. Here ties keep the
//!      order of the input.
//! 7. **`evictPods` on each source.**
//!    - It first checks the stop condition: **continue only while** the node is
//!      above its target on any resource (`int64(target% × capacity) < usage`,
//!      in absolute terms) **and** every `available` total is still > 0.
//!    - Then, for each pod in order:
//!      - stop the node once the plugin's `evictionLimits.node` is reached;
//!      - skip a pod that does not tolerate the taints of any underutilized node;
//!      - the evictor applies the policy limits: over `maxNoOfPodsToEvictTotal`
//!        **ends the whole plugin run**, and over `maxNoOfPodsToEvictPerNode`
//!        moves on to the next node;
//!      - after the eviction, subtract the pod's usage from the node and from
//!        `available` (requests, or the pod's real usage with metrics-server;
//!        pods −1);
//!      - re-check the stop condition.
//! 8. **Prometheus mode cannot measure a pod.** `podUsage` returns
//!    `notSupportedError`, so nothing is subtracted and the condition is never
//!    re-checked.
//!    - With `evictionLimits.node` **unset**, the loop breaks after the first
//!      eviction. That makes **at most one eviction per overutilized node per
//!      cycle**, the real default for this mode (README: "only a single pod is
//!      evicted at most from each overutilized node").
//!    - With it set to N, exactly up to N pods are evicted "blind".
//!    - In the request and metrics-server modes no such cap exists: eviction
//!      goes on until the node drops to its target or the cold nodes' room runs
//!      out.
//!
//! The plugin does not choose destinations; the scheduler places the evicted
//! pods. [`plan`] therefore returns only the evictions, in the order they happen.
//!
//! # Simplified or left out
//!
//! - **Every eviction succeeds.** There is no PDB answer (429), no API error and
//!   no `EvictionsInBackground`.
//! - **Not modelled:**
//!   - `maxNoOfPodsToEvictPerNamespace` and `evictableNamespaces.exclude`, because
//!     pods carry no namespace here. In the real code a namespace-limit error only
//!     skips the pod.
//!   - `nodeFit`, which is off by default.
//!   - Extended resources.
//!   - The `prefer-no-eviction` tie-break.
//!   - A pod priority of `nil`, which would sort first.
//! - **Node usage comes from the caller as given.**
//!   - The metrics-server collector's EWMA (β 0.9, every 5 s) has to be applied
//!     by the caller if wanted.
//!   - In metrics-server mode, pod usage is the pod's current usage.
//! - **The Prometheus figure.**
//!   - The query is modelled as the README's example, CPU utilisation:
//!     `usage.cpu / allocatable.cpu`, clamped to [0,1] and then truncated to a
//!     whole percent.
//!   - The real query divides by all cores, a capacity ≥ allocatable, so a real
//!     sample never leaves [0,1]. The real plugin fails the cycle on a sample
//!     outside that range, or on a node with no sample.
//!   - [`Thresholds::cpu`](field@Thresholds::cpu) stands for `MetricResource`
//!     in this mode. Memory and pods must be unset there, like the single
//!     `MetricResource` key the plugin requires.
//! - **Scope of the limits.**
//!   - Only Ready nodes reach the plugin, so the caller passes only those.
//!   - The policy limits are counted over this plugin run alone. In the real
//!     descheduler they are shared with the other plugins of the same cycle.
//! - **Invalid arguments** (see [`LnuConfig::validate`]) make the real
//!   descheduler refuse to start. Here they make [`plan`] evict nothing.

use tidal_core::resources::Resources;

/// QoS class, lowest first (BestEffort < Burstable < Guaranteed), as the pod sort
/// uses it.
pub use tidal_descheduler::model::Qos;

/// `SystemCriticalPriority` (2 × the highest user-definable priority): pods at or
/// above it are protected by the DefaultEvictor (`utils.IsCriticalPriorityPod`).
pub const SYSTEM_CRITICAL_PRIORITY: i32 = 2_000_000_000;

const CPU: usize = 0;
const MEMORY: usize = 1;
const PODS: usize = 2;
/// Slot 0 carries `MetricResource` in [`Mode::RealUsage`].
const METRIC: usize = CPU;

const PER_RESOURCE: &[usize] = &[CPU, MEMORY, PODS];
const SINGLE_METRIC: &[usize] = &[METRIC];

/// cpu (milli) / memory (bytes) / pods, or the metric in slot 0.
type Amounts = [i64; 3];
type Limits = [Option<f64>; 3];

/// Where the plugin's node utilization comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Classic mode: the sum of pod requests (`requestedUsageClient`).
    #[default]
    Requests,
    /// `metricsUtilization.source: KubernetesMetrics` (metrics-server): real cpu and
    /// memory per node, and the pod count. Pod usage is the pod's real usage, and it
    /// is subtracted after each eviction (`actualUsageClient`).
    MetricsServer,
    /// `metricsUtilization.source: Prometheus` (v0.33+): one utilization figure per
    /// node, modelled as CPU usage / allocatable. No pod usage is available, so
    /// by default one pod per overutilized node is evicted (`prometheusUsageClient`).
    RealUsage,
}

/// Per-resource percentages. `None` = not listed (behaves as 100%, README).
/// In [`Mode::RealUsage`] `cpu` stands for `MetricResource` and the others must be `None`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Thresholds {
    pub cpu: Option<f64>,
    pub memory: Option<f64>,
    pub pods: Option<f64>,
}

impl Thresholds {
    /// cpu, memory and pods all listed.
    pub const fn new(cpu: f64, memory: f64, pods: f64) -> Self {
        Self {
            cpu: Some(cpu),
            memory: Some(memory),
            pods: Some(pods),
        }
    }

    /// Only cpu listed. In [`Mode::RealUsage`] this is the `MetricResource` threshold.
    pub const fn cpu(cpu: f64) -> Self {
        Self {
            cpu: Some(cpu),
            memory: None,
            pods: None,
        }
    }

    fn limits(&self) -> Limits {
        [self.cpu, self.memory, self.pods]
    }
}

/// `LowNodeUtilizationArgs` plus the policy-wide eviction limits.
#[derive(Debug, Clone, PartialEq)]
pub struct LnuConfig {
    pub mode: Mode,
    /// `thresholds`: a node is underutilized when every listed resource is ≤ these.
    pub thresholds: Thresholds,
    /// `targetThresholds`: a node is overutilized when any listed resource is > these.
    pub target_thresholds: Thresholds,
    /// `useDeviationThresholds`: the two above are deviations from the mean.
    pub use_deviation_thresholds: bool,
    /// `numberOfNodes`: act only when *more than* this many nodes are underutilized.
    pub number_of_nodes: usize,
    /// The plugin's own `evictionLimits.node`. In [`Mode::RealUsage`] this is what
    /// lifts the one-pod-per-node cap.
    pub eviction_limit_node: Option<u32>,
    /// Policy `maxNoOfPodsToEvictPerNode` (checked by the evictor).
    pub max_evictions_per_node: Option<u32>,
    /// Policy `maxNoOfPodsToEvictTotal`: when hit, the whole plugin run ends.
    pub max_evictions_total: Option<u32>,
}

impl LnuConfig {
    /// The README's classic example: thresholds cpu/memory/pods 20, targets 50.
    pub fn requests() -> Self {
        Self {
            mode: Mode::Requests,
            thresholds: Thresholds::new(20.0, 20.0, 20.0),
            target_thresholds: Thresholds::new(50.0, 50.0, 50.0),
            use_deviation_thresholds: false,
            number_of_nodes: 0,
            eviction_limit_node: None,
            max_evictions_per_node: None,
            max_evictions_total: None,
        }
    }

    /// The same thresholds, on metrics-server usage.
    pub fn metrics_server() -> Self {
        Self {
            mode: Mode::MetricsServer,
            ..Self::requests()
        }
    }

    /// The Prometheus mode: `thresholds: {MetricResource: 20}`,
    /// `targetThresholds: {MetricResource: 50}`, no `evictionLimits`.
    pub fn real_usage() -> Self {
        Self {
            mode: Mode::RealUsage,
            thresholds: Thresholds::cpu(20.0),
            target_thresholds: Thresholds::cpu(50.0),
            ..Self::requests()
        }
    }

    /// The plugin's argument checks (`validation.go`, `validatePrometheusMetricsUtilization`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let low = self.thresholds.limits();
        let high = self.target_thresholds.limits();
        if low.iter().all(Option::is_none) || high.iter().all(Option::is_none) {
            return Err(ConfigError::Empty);
        }
        if low
            .iter()
            .zip(&high)
            .any(|(l, h)| l.is_some() != h.is_some())
        {
            return Err(ConfigError::DifferentResources);
        }
        if self.mode == Mode::RealUsage && (low[MEMORY].is_some() || low[PODS].is_some()) {
            return Err(ConfigError::NotSingleMetric);
        }
        for (l, h) in low.iter().zip(&high) {
            if let (Some(l), Some(h)) = (*l, *h) {
                if !(0.0..=100.0).contains(&l) || !(0.0..=100.0).contains(&h) {
                    return Err(ConfigError::OutOfRange);
                }
                if !self.use_deviation_thresholds && l > h {
                    return Err(ConfigError::ThresholdAboveTarget);
                }
            }
        }
        Ok(())
    }
}

/// Arguments the real plugin refuses at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("thresholds and targetThresholds must not be empty")]
    Empty,
    #[error("thresholds and targetThresholds must list the same resources")]
    DifferentResources,
    #[error("the Prometheus mode takes a single MetricResource threshold")]
    NotSingleMetric,
    #[error("threshold percentages must lie in [0, 100]")]
    OutOfRange,
    #[error("thresholds must not exceed targetThresholds")]
    ThresholdAboveTarget,
}

/// A Ready node as the plugin sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LnuNode {
    pub allocatable: Resources,
    /// Allocatable `pods`.
    pub max_pods: u32,
    /// Sum of the requests of the pods on the node.
    pub requested: Resources,
    /// Real usage (cpu milli, memory bytes).
    pub usage: Resources,
    /// Pods on the node.
    pub pods: u32,
    /// `!spec.unschedulable`: an unschedulable node is never underutilized.
    pub schedulable: bool,
}

/// A pod on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LnuPod {
    /// Returned by [`plan`].
    pub id: usize,
    /// Index into the nodes slice.
    pub node: usize,
    pub priority: i32,
    pub qos: Qos,
    /// The DefaultEvictor's verdict (see [`default_evictor_allows`]).
    pub evictable: bool,
    pub requests: Resources,
    pub usage: Resources,
}

/// The node indices in each class, ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Classification {
    pub underutilized: Vec<usize>,
    pub overutilized: Vec<usize>,
}

/// The pod ids LowNodeUtilization evicts in one cycle, in eviction order. Every pod
/// is taken to tolerate every node's taints.
pub fn plan(nodes: &[LnuNode], pods: &[LnuPod], config: &LnuConfig) -> Vec<usize> {
    plan_with_tolerations(nodes, pods, config, |_, _| true)
}

/// [`plan`] with a toleration check: `tolerates(pod, node)` says whether the pod
/// tolerates all of that node's taints. A pod is skipped unless it tolerates some
/// underutilized node (`PodToleratesTaints` over the destinations' taints).
pub fn plan_with_tolerations(
    nodes: &[LnuNode],
    pods: &[LnuPod],
    config: &LnuConfig,
    tolerates: impl Fn(&LnuPod, usize) -> bool,
) -> Vec<usize> {
    let Some(state) = State::new(nodes, config) else {
        return Vec::new();
    };
    let Classification {
        underutilized: low,
        overutilized: mut high,
    } = state.classify(nodes);
    if low.is_empty()
        || low.len() <= config.number_of_nodes
        || low.len() == nodes.len()
        || high.is_empty()
    {
        return Vec::new();
    }
    let resources = state.resources;

    // Room left on the cold nodes up to their target, per resource.
    let mut available: Amounts = [0; 3];
    for &n in &low {
        for &r in resources {
            available[r] = available[r]
                .saturating_add(state.target_caps[n][r])
                .saturating_sub(state.usage[n][r]);
        }
    }

    // Hot nodes by the sum of their raw usage values, descending.
    let raw_sum = |n: usize| {
        resources
            .iter()
            .fold(0i64, |sum, &r| sum.saturating_add(state.usage[n][r]))
    };
    high.sort_by(|&a, &b| raw_sum(b).cmp(&raw_sum(a)).then(a.cmp(&b)));

    let mut evicted = Vec::new();
    let mut total: u32 = 0;
    for &node in &high {
        let mut removable: Vec<&LnuPod> = pods
            .iter()
            .filter(|p| p.node == node && p.evictable)
            .collect();
        if removable.is_empty() {
            continue;
        }
        // Stable: equal (priority, QoS) keep the input order.
        removable.sort_by_key(|p| (p.priority, p.qos));

        let mut usage = state.usage[node];
        let cap = state.target_caps[node];
        if !keep_going(resources, &usage, &cap, &available) {
            continue;
        }
        let mut node_count: u32 = 0; // the plugin's evictionLimits.node counter
        let mut policy_node_count: u32 = 0; // the evictor's per-node counter
        for pod in removable {
            if config.eviction_limit_node.is_some_and(|l| node_count >= l) {
                break;
            }
            if !low.iter().any(|&dest| tolerates(pod, dest)) {
                continue;
            }
            if config
                .max_evictions_total
                .is_some_and(|l| total.saturating_add(1) > l)
            {
                return evicted;
            }
            if config
                .max_evictions_per_node
                .is_some_and(|l| policy_node_count.saturating_add(1) > l)
            {
                break;
            }
            evicted.push(pod.id);
            total = total.saturating_add(1);
            policy_node_count = policy_node_count.saturating_add(1);

            let Some(pod_usage) = state.pod_usage(pod) else {
                // Prometheus: unconstrained eviction, nothing to subtract.
                if config.eviction_limit_node.is_none() {
                    break;
                }
                node_count = node_count.saturating_add(1);
                continue;
            };
            node_count = node_count.saturating_add(1);
            for &r in resources {
                usage[r] = usage[r].saturating_sub(pod_usage[r]);
                available[r] = available[r].saturating_sub(pod_usage[r]);
            }
            if !keep_going(resources, &usage, &cap, &available) {
                break;
            }
        }
    }
    evicted
}

/// How the plugin classifies the nodes (empty when the config is invalid).
pub fn classify(nodes: &[LnuNode], config: &LnuConfig) -> Classification {
    State::new(nodes, config)
        .map(|state| state.classify(nodes))
        .unwrap_or_default()
}

/// `continueEvictionCond`: the node is still above target on some resource and the
/// cold nodes still have room on every resource.
fn keep_going(resources: &[usize], usage: &Amounts, cap: &Amounts, available: &Amounts) -> bool {
    resources.iter().any(|&r| cap[r] < usage[r]) && resources.iter().all(|&r| available[r] > 0)
}

/// The usage snapshot and the limits derived from it.
struct State {
    mode: Mode,
    resources: &'static [usize],
    usage: Vec<Amounts>,
    percent: Vec<[f64; 3]>,
    /// The listed resources (slots of `resources` with a threshold).
    listed: Vec<usize>,
    low: Limits,
    high: Limits,
    /// Per node, `int64(target% × 0.01 × capacity)` (full capacity when unlisted).
    target_caps: Vec<Amounts>,
}

impl State {
    fn new(nodes: &[LnuNode], config: &LnuConfig) -> Option<Self> {
        config.validate().ok()?;
        let mode = config.mode;
        let resources = match mode {
            Mode::Requests | Mode::MetricsServer => PER_RESOURCE,
            Mode::RealUsage => SINGLE_METRIC,
        };
        let (usage, capacity): (Vec<Amounts>, Vec<Amounts>) =
            nodes.iter().map(|n| snapshot(n, mode)).unzip();
        let percent: Vec<[f64; 3]> = usage
            .iter()
            .zip(&capacity)
            .map(|(u, c)| [0, 1, 2].map(|r| percent(u[r], c[r])))
            .collect();
        let thresholds = config.thresholds.limits();
        let targets = config.target_thresholds.limits();
        let listed: Vec<usize> = resources
            .iter()
            .copied()
            .filter(|&r| thresholds[r].is_some())
            .collect();

        let (low, high) = if config.use_deviation_thresholds {
            // The mean percent over all nodes, per listed resource, then deviated.
            let mut low: Limits = [None; 3];
            let mut high: Limits = [None; 3];
            if !nodes.is_empty() {
                for &r in &listed {
                    let mean = percent.iter().map(|p| p[r]).sum::<f64>() / nodes.len() as f64;
                    low[r] = thresholds[r].map(|t| (mean - t).clamp(0.0, 100.0));
                    high[r] = targets[r].map(|t| (mean + t).clamp(0.0, 100.0));
                }
            }
            (low, high)
        } else {
            (thresholds, targets)
        };

        let target_caps = capacity
            .iter()
            .map(|cap| {
                let mut capped = *cap;
                for &r in resources {
                    if let Some(t) = high[r] {
                        // Go: int64(float64(threshold) * 0.01 * float64(capacity)).
                        capped[r] = (t * 0.01 * cap[r] as f64) as i64;
                    }
                }
                capped
            })
            .collect();

        Some(Self {
            mode,
            resources,
            usage,
            percent,
            listed,
            low,
            high,
            target_caps,
        })
    }

    /// `classifier.Classify` with the under test first, then the over test.
    fn classify(&self, nodes: &[LnuNode]) -> Classification {
        let mut out = Classification::default();
        for (i, node) in nodes.iter().enumerate() {
            let pct = &self.percent[i];
            // isNodeBelowThreshold: fails as soon as `threshold < usage`.
            let below = self
                .listed
                .iter()
                .all(|&r| self.low[r].is_none_or(|t| pct[r] <= t));
            // isNodeAboveThreshold: any `threshold < usage`.
            let above = self
                .listed
                .iter()
                .any(|&r| self.high[r].is_some_and(|t| t < pct[r]));
            if node.schedulable && below {
                out.underutilized.push(i);
            } else if above {
                out.overutilized.push(i);
            }
        }
        out
    }

    /// What is subtracted after evicting `pod`; `None` when the usage client cannot
    /// measure pods (Prometheus).
    fn pod_usage(&self, pod: &LnuPod) -> Option<Amounts> {
        match self.mode {
            Mode::Requests => Some(amounts(pod.requests, 1)),
            Mode::MetricsServer => Some(amounts(pod.usage, 1)),
            Mode::RealUsage => None,
        }
    }
}

fn amounts(r: Resources, pods: i64) -> Amounts {
    [r.cpu_milli, r.memory_bytes, pods]
}

/// (usage, capacity) in the mode's raw units.
fn snapshot(node: &LnuNode, mode: Mode) -> (Amounts, Amounts) {
    let capacity = amounts(node.allocatable, i64::from(node.max_pods));
    let pods = i64::from(node.pods);
    match mode {
        Mode::Requests => (amounts(node.requested, pods), capacity),
        Mode::MetricsServer => (amounts(node.usage, pods), capacity),
        Mode::RealUsage => ([metric_percent(node), 0, 0], [100, 0, 0]),
    }
}

/// The Prometheus sample (CPU usage / allocatable, kept in [0,1]) as the plugin
/// stores it: `int64(value * 100)`.
fn metric_percent(node: &LnuNode) -> i64 {
    let value = if node.allocatable.cpu_milli > 0 {
        node.usage.cpu_milli as f64 / node.allocatable.cpu_milli as f64
    } else {
        0.0
    };
    (value.clamp(0.0, 1.0) * 100.0) as i64
}

/// `ResourceUsageToResourceThreshold`: used / capacity × 100, 0 when capacity is 0.
fn percent(used: i64, capacity: i64) -> f64 {
    if capacity > 0 {
        used as f64 / capacity as f64 * 100.0
    } else {
        0.0
    }
}

/// What the DefaultEvictor's `Filter` needs to know about a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PodFacts {
    /// Owned by a DaemonSet.
    pub daemonset: bool,
    /// A mirror pod (static pod).
    pub mirror: bool,
    /// `deletionTimestamp` set.
    pub terminating: bool,
    /// Has at least one ownerReference.
    pub has_owner: bool,
    /// Has an emptyDir or hostPath volume.
    pub local_storage: bool,
    /// `spec.priority`.
    pub priority: Option<i32>,
}

/// The DefaultEvictor's verdict with its default arguments (no protection disabled,
/// no `priorityThreshold`, no `descheduler.alpha.kubernetes.io/evict` annotation):
/// mirror and terminating pods, bare pods, system-critical pods, pods with local
/// storage and DaemonSet pods are protected.
pub fn default_evictor_allows(pod: &PodFacts) -> bool {
    !(pod.mirror
        || pod.terminating
        || !pod.has_owner
        || pod.priority.is_some_and(|p| p >= SYSTEM_CRITICAL_PRIORITY)
        || pod.local_storage
        || pod.daemonset)
}
