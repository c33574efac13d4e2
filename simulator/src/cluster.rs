//! The cluster as a scheduler sees it during a replay: per node what is requested
//! and how many pods run, and which workloads may run where.

use k8s_openapi::api::core::v1::{Node, Pod};
use tidal_core::fit;
use tidal_core::resources::Resources;

use crate::trace::{NodeSpec, WorkloadSpec};

/// kube-scheduler's stand-ins for a request of zero when scoring (not when filtering):
/// `DefaultMilliCPURequest` and `DefaultMemoryRequest` in
/// `pkg/scheduler/util/pod_resources.go`.
pub const NON_ZERO_CPU_MILLI: i64 = 100;
pub const NON_ZERO_MEMORY_BYTES: i64 = 200 * 1024 * 1024;

/// A pod's requests as the scheduler counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PodRequests {
    /// For fit: the requests as they are.
    pub fit: Resources,
    /// For scoring: zero requests replaced by the non-zero defaults.
    pub score: Resources,
}

impl PodRequests {
    pub fn new(requests: Resources) -> Self {
        let nonzero = |v: i64, default: i64| if v == 0 { default } else { v };
        Self {
            fit: requests,
            score: Resources {
                cpu_milli: nonzero(requests.cpu_milli, NON_ZERO_CPU_MILLI),
                memory_bytes: nonzero(requests.memory_bytes, NON_ZERO_MEMORY_BYTES),
            },
        }
    }
}

/// One node's scheduling state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeState {
    pub allocatable: Resources,
    pub max_pods: u32,
    /// Sum of the requests of the pods bound here.
    pub requested: Resources,
    /// The same with non-zero defaults, as scoring counts them.
    pub score_requested: Resources,
    pub pods: u32,
}

impl NodeState {
    pub fn new(spec: &NodeSpec) -> Self {
        Self {
            allocatable: spec.allocatable,
            max_pods: spec.max_pods,
            ..Self::default()
        }
    }

    /// NodeResourcesFit's filter (`fitsRequest` in `noderesources/fit.go`): a free pod
    /// slot, and room for each resource the pod requests; one it does not request is not
    /// checked, even on a node already over-committed on it.
    pub fn fits(&self, pod: &PodRequests) -> bool {
        let room = |request: i64, allocatable: i64, requested: i64| {
            request <= 0 || request <= allocatable.saturating_sub(requested)
        };
        self.pods < self.max_pods
            && room(
                pod.fit.cpu_milli,
                self.allocatable.cpu_milli,
                self.requested.cpu_milli,
            )
            && room(
                pod.fit.memory_bytes,
                self.allocatable.memory_bytes,
                self.requested.memory_bytes,
            )
    }

    pub fn bind(&mut self, pod: &PodRequests) {
        self.requested += pod.fit;
        self.score_requested += pod.score;
        self.pods += 1;
    }

    pub fn unbind(&mut self, pod: &PodRequests) {
        self.requested -= pod.fit;
        self.score_requested -= pod.score;
        self.pods = self.pods.saturating_sub(1);
    }
}

/// Which nodes each workload's pods may run on, whatever is free: taints and
/// tolerations, nodeSelector and required node affinity (static for a replay, so
/// judged once with the same predicates the descheduler uses).
#[derive(Debug, Clone)]
pub struct Eligibility {
    /// `allowed[workload][node]`.
    allowed: Vec<Vec<bool>>,
}

impl Eligibility {
    pub fn new(nodes: &[Node], templates: &[Pod]) -> Self {
        let allowed = templates
            .iter()
            .map(|pod| {
                nodes
                    .iter()
                    .map(|node| {
                        fit::tolerates_taints(pod, node).is_ok()
                            && fit::matches_node_selector(pod, node).is_ok()
                            && fit::matches_required_affinity(pod, node).is_ok()
                    })
                    .collect()
            })
            .collect();
        Self { allowed }
    }

    pub fn for_workload(&self, workload: usize) -> &[bool] {
        &self.allowed[workload]
    }
}

/// The k8s objects of a trace's nodes and workloads' pod templates, built once so the
/// shared predicates, scorer and planner see what they would see in a cluster.
pub fn node_object(spec: &NodeSpec) -> Node {
    use k8s_openapi::api::core::v1::{NodeCondition, NodeSpec as K8sNodeSpec, NodeStatus};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    let allocatable = [
        ("cpu", format!("{}m", spec.allocatable.cpu_milli)),
        ("memory", spec.allocatable.memory_bytes.to_string()),
        ("pods", spec.max_pods.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), Quantity(v)))
    .collect();
    Node {
        metadata: ObjectMeta {
            name: Some(spec.name.clone()),
            labels: Some(spec.labels.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(K8sNodeSpec {
            taints: (!spec.taints.is_empty()).then(|| spec.taints.clone()),
            ..K8sNodeSpec::default()
        }),
        status: Some(NodeStatus {
            allocatable: Some(allocatable),
            // Every node of a trace is up: the planner and fit checks skip NotReady ones.
            conditions: Some(vec![NodeCondition {
                type_: "Ready".to_string(),
                status: "True".to_string(),
                ..NodeCondition::default()
            }]),
            ..NodeStatus::default()
        }),
    }
}

/// A pod of the workload as its controller would create it (no name or uid yet).
pub fn pod_template(workload: &WorkloadSpec) -> Pod {
    use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;
    let quantities = |cpu: Option<i64>, memory: Option<i64>| {
        let mut map = BTreeMap::new();
        if let Some(cpu) = cpu.filter(|&c| c > 0) {
            map.insert("cpu".to_string(), Quantity(format!("{cpu}m")));
        }
        if let Some(memory) = memory.filter(|&m| m > 0) {
            map.insert("memory".to_string(), Quantity(memory.to_string()));
        }
        (!map.is_empty()).then_some(map)
    };
    let labels = BTreeMap::from([("app.kubernetes.io/name".to_string(), workload.name.clone())]);
    Pod {
        metadata: ObjectMeta {
            namespace: Some(workload.namespace.clone()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "main".to_string(),
                resources: Some(ResourceRequirements {
                    requests: quantities(
                        Some(workload.requests.cpu_milli),
                        Some(workload.requests.memory_bytes),
                    ),
                    limits: quantities(workload.limits.cpu_milli, workload.limits.memory_bytes),
                    ..ResourceRequirements::default()
                }),
                ..Container::default()
            }],
            node_selector: (!workload.node_selector.is_empty())
                .then(|| workload.node_selector.clone()),
            tolerations: (!workload.tolerations.is_empty()).then(|| workload.tolerations.clone()),
            priority: Some(workload.priority),
            ..PodSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_skips_resources_the_pod_does_not_request() {
        // Memory over-committed (requested 1200 > allocatable 1000): a cpu-only pod
        // still fits, as in fitsRequest (`podRequest.Memory > 0 && ...`).
        let node = NodeState {
            allocatable: Resources {
                cpu_milli: 1000,
                memory_bytes: 1000,
            },
            max_pods: 10,
            requested: Resources {
                cpu_milli: 0,
                memory_bytes: 1200,
            },
            ..NodeState::default()
        };
        let pod = |memory_bytes| {
            PodRequests::new(Resources {
                cpu_milli: 100,
                memory_bytes,
            })
        };
        assert!(node.fits(&pod(0)));
        assert!(!node.fits(&pod(1)));
    }
}
