//! The plain data a plan is made from, gathered from Kubernetes and Prometheus.

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use tidal_core::load::NodeLoad;
use tidal_core::resources::Resources;
use tidal_core::usage::{PodUsage, SustainedLoad};

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
    /// The Node as the API server has it: name, labels, taints, `unschedulable`, allocatable.
    pub node: Node,
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
    /// The Pod as the API server has it: labels, annotations, tolerations, affinity, requests.
    pub pod: Pod,
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
