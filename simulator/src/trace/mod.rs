//! A trace: the cluster and its demand, as the replay sees it.
//!
//! These are the validated, expanded types every policy replays (node pools expanded
//! to nodes, durations in steps, usage shapes resampled to the simulation step).
//! They come from a YAML trace file ([`parse`]), a built-in scenario
//! ([`crate::scenario`]) or a cluster's Prometheus history.

mod file;
mod shape;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Taint, Toleration};
use tidal_core::resources::{PodLimits, Resources};

pub use file::{TraceError, load, parse};
pub use shape::Shape;
pub(crate) use shape::splitmix;

#[derive(Debug, Clone)]
pub struct Trace {
    /// The simulation step.
    pub step: Duration,
    /// How many steps to replay.
    pub steps: usize,
    /// Seeds jitter, tie-breaks and everything else random: same trace and seed, same result.
    pub seed: u64,
    pub nodes: Vec<NodeSpec>,
    pub workloads: Vec<WorkloadSpec>,
    /// Where each replica of each workload ran at the start, by node index (the
    /// observed placement of a cluster); `None` places the cluster by requests.
    pub placement: Option<Vec<Vec<Option<usize>>>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    pub name: String,
    pub allocatable: Resources,
    pub max_pods: u32,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Deployment,
    StatefulSet,
    DaemonSet,
    CronJob,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::CronJob => "CronJob",
        }
    }
}

#[derive(Debug, Clone)]
pub struct WorkloadSpec {
    pub namespace: String,
    pub name: String,
    pub kind: Kind,
    /// Replicas at the start (for a DaemonSet: ignored, one per eligible node; for a
    /// CronJob: pods per run).
    pub replicas: u32,
    pub priority: i32,
    pub requests: Resources,
    pub limits: PodLimits,
    /// CPU cores used per replica over time.
    pub cpu: Shape,
    /// Memory bytes used per replica over time.
    pub memory: Shape,
    pub pdb: Option<Pdb>,
    /// Steps between rolling restarts (each replica recreated in turn).
    pub restart_every: Option<usize>,
    pub hpa: Option<HpaSpec>,
    /// For a CronJob: a run every `every` steps, each pod running `run_for` steps.
    pub cron: Option<Cron>,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
}

impl WorkloadSpec {
    /// `Kind namespace/name`, as reports name a workload.
    pub fn display_name(&self) -> String {
        format!("{} {}/{}", self.kind.as_str(), self.namespace, self.name)
    }
}

/// A PodDisruptionBudget over the workload's pods.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pdb {
    MinAvailable(Amount),
    MaxUnavailable(Amount),
}

/// A count, or a percentage of the workload's replicas (`intstr` in Kubernetes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    Count(u32),
    Percent(u32),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HpaSpec {
    pub min: u32,
    pub max: u32,
    /// Target average CPU utilization of the pods' requests, as a fraction (0.7 for 70 %).
    pub target_cpu_utilization: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cron {
    pub every: usize,
    pub run_for: usize,
}
