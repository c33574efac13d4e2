//! The plain data a plan is made from, gathered from Kubernetes and Prometheus.

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use k8s_openapi::api::core::v1::{NodeCondition, NodeSelector, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use tidal_core::fit::{FitNode, FitPod};
use tidal_core::load::NodeLoad;
use tidal_core::resources::Resources;
use tidal_core::usage::{PodUsage, SustainedLoad};

use crate::slim::SlimNode;

/// Everything one run knows, taken at `now`.
#[derive(Debug, Clone)]
pub struct ClusterSnapshot {
    pub now: SystemTime,
    pub nodes: Vec<NodeState>,
    pub pods: Vec<PodState>,
    pub budgets: Vec<Budget>,
    /// Desired and ready replicas of every workload that owns a pod in `pods`.
    pub workloads: BTreeMap<WorkloadRef, Replicas>,
}

#[derive(Debug, Clone)]
pub struct NodeState {
    /// What was listed of the Node: name, labels, taints, `unschedulable`, readiness.
    pub node: SlimNode,
    pub name: String,
    pub allocatable: Resources,
    /// Sustained load (the minimum over a window of the 5-minute average): what decides
    /// hot and cold. `None` when Prometheus has no fresh figures for the node.
    pub sustained: Option<SustainedLoad>,
    /// Recent average and peak, as the scheduler extender judges a node: what decides
    /// whether the node can take an evicted pod.
    pub recent: Option<NodeLoad>,
    /// Requests of pods on the node that `pods` leaves out: zero for a full snapshot; a
    /// partial one (the simulator lists only the pods of hot nodes) keeps fit checks right.
    pub unlisted_requests: Resources,
}

#[derive(Debug, Clone)]
pub struct PodState {
    /// What the guards and the scheduler's filters read of the pod's own fields.
    pub pod: KeptPod,
    pub key: PodKey,
    pub uid: String,
    /// The node the pod runs on.
    pub node: String,
    pub owner: Owner,
    /// `spec.priority`; 0 when unset.
    pub priority: i32,
    pub qos: Qos,
    pub requests: Resources,
    /// Real usage from cAdvisor; `None` when unknown, which is never taken to mean 0.
    pub usage: Option<PodUsage>,
    pub created_at: SystemTime,
}

/// What a snapshot keeps of a pod's own fields, for the guards and the scheduler's filters;
/// the rest of a listed pod is dropped while listing, being most of a run's memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeptPod {
    /// For PodDisruptionBudget selectors.
    pub labels: StringMap,
    /// For the opt-out annotation.
    pub annotations: StringMap,
    pub tolerations: Vec<Toleration>,
    pub node_selector: BTreeMap<String, String>,
    /// `affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution`.
    pub required_affinity: Option<NodeSelector>,
    /// The first `emptyDir` or `hostPath` volume by name: data an eviction would lose.
    pub local_volume: Option<String>,
}

/// Labels or annotations of a pod: a handful on each of maybe 150,000 pods, so a sorted slice
/// in one allocation rather than a `BTreeMap`, whose first entry already takes a 544-byte node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StringMap(Box<[(String, String)]>);

impl StringMap {
    pub fn get(&self, key: &str) -> Option<&String> {
        let found = self.0.binary_search_by(|(k, _)| k.as_str().cmp(key));
        found.ok().map(|i| &self.0[i].1)
    }
}

impl From<BTreeMap<String, String>> for StringMap {
    fn from(map: BTreeMap<String, String>) -> Self {
        // A BTreeMap yields its entries sorted by key, as `get` needs them.
        Self(map.into_iter().collect())
    }
}

impl FitNode for NodeState {
    fn name(&self) -> &str {
        &self.name
    }

    fn labels(&self) -> &BTreeMap<String, String> {
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        self.node.metadata.labels.as_ref().unwrap_or(&NONE)
    }

    fn unschedulable(&self) -> bool {
        self.node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true)
    }

    fn taints(&self) -> &[Taint] {
        let taints = self.node.spec.as_ref().and_then(|s| s.taints.as_deref());
        taints.unwrap_or_default()
    }

    fn conditions(&self) -> &[NodeCondition] {
        let status = self.node.status.as_ref();
        let conditions = status.and_then(|s| s.conditions.as_deref());
        conditions.unwrap_or_default()
    }

    fn allocatable(&self) -> Resources {
        self.allocatable
    }
}

impl FitPod for PodState {
    fn tolerations(&self) -> &[Toleration] {
        &self.pod.tolerations
    }

    fn node_selector(&self) -> Option<&BTreeMap<String, String>> {
        Some(&self.pod.node_selector)
    }

    fn required_node_affinity(&self) -> Option<&NodeSelector> {
        self.pod.required_affinity.as_ref()
    }

    fn requests(&self) -> Resources {
        self.requests
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodKey {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for PodKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Who keeps the pod running, resolved through the owner chain
/// (ReplicaSet → Deployment, and so on).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Owner {
    /// A controller that will recreate the pod elsewhere.
    Workload(WorkloadRef),
    /// One pod per node by design: evicting it moves nothing.
    DaemonSet(String),
    /// A static pod's mirror: the kubelet owns it, the API cannot move it.
    Mirror,
    /// No controller: an evicted pod would be gone for good.
    Bare,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkloadRef {
    /// `Deployment`, `StatefulSet`, `ReplicaSet` (without a Deployment), `Job`, …
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for WorkloadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replicas {
    pub desired: i32,
    pub ready: i32,
}

/// Quality-of-service class, lowest first: the order in which pods are given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Qos {
    BestEffort,
    Burstable,
    Guaranteed,
}

/// A PodDisruptionBudget as its status stands: what the disruption controller allows now.
#[derive(Debug, Clone)]
pub struct Budget {
    pub namespace: String,
    pub name: String,
    pub selector: Option<LabelSelector>,
    pub disruptions_allowed: i32,
}
