//! What instant queries tell about the cluster: nodes and pods at the replay's first step, and
//! what does not change during a pod's life (requests, limits, tolerations) over the window.
//! Each answer has one value per node, pod or container.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::SystemTime;

use indicatif::ProgressBar;
use k8s_openapi::api::core::v1::{Taint, Toleration};
use tidal_core::prometheus::{PrometheusClient, PrometheusError, Sample, sample_time};
use tidal_cost::fetch::promql::Exprs;
use tidal_cost::{ContainerKey, Timeline};

/// A node's resources as kube-state-metrics reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct NodeResources {
    pub cpu: Option<f64>,
    pub memory: Option<f64>,
    pub pods: Option<f64>,
}

/// A container's requests as last reported, and the node they name.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Requests {
    pub cpu: Option<f64>,
    pub memory: Option<f64>,
    pub node: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) struct ObservedPdb {
    pub namespace: String,
    pub name: String,
    pub desired_healthy: u32,
    pub expected_pods: Option<u32>,
}

/// `(namespace, pod)`.
pub(super) type PodKey = (String, String);

#[derive(Debug, Default)]
pub(super) struct StartState {
    /// `kube_node_status_allocatable` at the start, by node.
    pub allocatable: BTreeMap<String, NodeResources>,
    /// `kube_node_status_capacity` at the start, by node.
    pub capacity: BTreeMap<String, NodeResources>,
    /// `kube_node_status_capacity` as last reported in the window, by node: every node seen.
    pub capacity_seen: BTreeMap<String, NodeResources>,
    /// `kube_node_spec_taint` at the start, by node.
    pub taints: BTreeMap<String, Vec<Taint>>,
    /// Pods with a container running at the start.
    pub running: BTreeSet<PodKey>,
    /// `kube_pod_info`'s node at the start, by pod.
    pub pod_nodes: BTreeMap<PodKey, String>,
    /// `kube_pod_tolerations` over the window, by pod.
    pub tolerations: BTreeMap<PodKey, Vec<Toleration>>,
    /// Requests over the window, by container.
    pub requests: HashMap<ContainerKey, Requests>,
    /// CPU limits (cores) over the window, by container.
    pub cpu_limits: HashMap<ContainerKey, f64>,
    pub pdbs: Vec<ObservedPdb>,
}

impl StartState {
    pub(super) const QUERIES: u64 = 11;

    /// Node and pod state at step `first`, and what does not change during a pod's life over
    /// the whole window. `exprs` says how running containers are told.
    pub(super) async fn fetch(
        client: &PrometheusClient,
        (tl, first): (Timeline, usize),
        exprs: Exprs<'_>,
        progress: &ProgressBar,
    ) -> Result<Self, PrometheusError> {
        progress.inc_length(Self::QUERIES);
        let at_start = Some(sample_time(tl.time(first)));
        let at_end = Some(sample_time(tl.end()));
        // At least 5 minutes, Prometheus's own lookback, whatever the step.
        let lookback = (tl.step_secs as u64).max(300);
        let whole = ((tl.end() - tl.start) as u64).max(1);
        let query = |q: String, at: Option<SystemTime>| async move {
            let answer = client.query(&q, at).await;
            progress.inc(1);
            answer
        };
        let last = |metric: &str, by: &str, secs: u64| {
            format!("max by ({by}) (last_over_time({metric}[{secs}s]))")
        };
        const CAPACITY: &str = r#"kube_node_status_capacity{resource=~"cpu|memory"}"#;
        let (allocatable, capacity, capacity_seen, taints, running, info) = futures::join!(
            query(
                last(
                    r#"kube_node_status_allocatable{resource=~"cpu|memory|pods"}"#,
                    "node, resource",
                    lookback
                ),
                at_start
            ),
            query(last(CAPACITY, "node, resource", lookback), at_start),
            query(last(CAPACITY, "node, resource", whole), at_end),
            query(
                last("kube_node_spec_taint", "node, key, value, effect", lookback),
                at_start
            ),
            // The step's own window: the pods the range queries count at this step.
            query(exprs.pod_running(), at_start),
            query(
                last(
                    r#"kube_pod_info{node!=""}"#,
                    "namespace, pod, node",
                    lookback
                ),
                at_start
            ),
        );
        let (tolerations, requests, limits, desired, expected) = futures::join!(
            query(
                last(
                    "kube_pod_tolerations",
                    "namespace, pod, key, operator, value, effect",
                    whole
                ),
                at_end
            ),
            query(
                last(
                    r#"kube_pod_container_resource_requests{resource=~"cpu|memory",unit=~"core|byte"}"#,
                    "namespace, pod, container, resource, node",
                    whole
                ),
                at_end
            ),
            query(
                last(
                    r#"kube_pod_container_resource_limits{resource="cpu",unit="core"}"#,
                    "namespace, pod, container",
                    whole
                ),
                at_end
            ),
            query(
                last(
                    "kube_poddisruptionbudget_status_desired_healthy",
                    "namespace, poddisruptionbudget",
                    lookback
                ),
                at_start
            ),
            query(
                last(
                    "kube_poddisruptionbudget_status_expected_pods",
                    "namespace, poddisruptionbudget",
                    lookback
                ),
                at_start
            ),
        );
        let mut state = Self {
            allocatable: node_resources(allocatable?),
            capacity: node_resources(capacity?),
            capacity_seen: node_resources(capacity_seen?),
            running: running?.iter().map(pod_key).collect(),
            ..Self::default()
        };
        for s in taints? {
            let (key, effect) = (label(&s, "key"), label(&s, "effect"));
            if key.is_empty() || effect.is_empty() {
                continue;
            }
            state
                .taints
                .entry(label(&s, "node"))
                .or_default()
                .push(Taint {
                    key,
                    value: non_empty(label(&s, "value")),
                    effect,
                    time_added: None,
                });
        }
        for s in tolerations? {
            let toleration = Toleration {
                key: non_empty(label(&s, "key")),
                operator: non_empty(label(&s, "operator")),
                value: non_empty(label(&s, "value")),
                effect: non_empty(label(&s, "effect")),
                toleration_seconds: None,
            };
            let list = state.tolerations.entry(pod_key(&s)).or_default();
            if !list.contains(&toleration) {
                list.push(toleration);
            }
        }
        for s in info? {
            let node = label(&s, "node");
            if !node.is_empty() {
                state.pod_nodes.insert(pod_key(&s), node);
            }
        }
        for s in requests? {
            let value = Some(s.value).filter(|v| v.is_finite() && *v >= 0.0);
            let container = state
                .requests
                .entry(ContainerKey::from_labels(&s.labels))
                .or_default();
            match label(&s, "resource").as_str() {
                "cpu" => container.cpu = value.or(container.cpu),
                "memory" => container.memory = value.or(container.memory),
                _ => {}
            }
            if container.node.is_none() {
                container.node = non_empty(label(&s, "node"));
            }
        }
        for s in limits? {
            if s.value.is_finite() && s.value > 0.0 {
                state
                    .cpu_limits
                    .insert(ContainerKey::from_labels(&s.labels), s.value);
            }
        }
        let expected: BTreeMap<PodKey, u32> = expected?
            .iter()
            .filter_map(|s| Some((pdb_key(s), count(s.value)?)))
            .collect();
        for s in desired? {
            let Some(desired_healthy) = count(s.value) else {
                continue;
            };
            let (namespace, name) = pdb_key(&s);
            let expected_pods = expected.get(&(namespace.clone(), name.clone())).copied();
            state.pdbs.push(ObservedPdb {
                namespace,
                name,
                desired_healthy,
                expected_pods,
            });
        }
        Ok(state)
    }
}

/// Per node, the `cpu`, `memory` and `pods` of a `by (node, resource)` answer.
fn node_resources(samples: Vec<Sample>) -> BTreeMap<String, NodeResources> {
    let mut nodes: BTreeMap<String, NodeResources> = BTreeMap::new();
    for s in samples {
        let node = nodes.entry(label(&s, "node")).or_default();
        let value = Some(s.value).filter(|v| v.is_finite() && *v >= 0.0);
        match label(&s, "resource").as_str() {
            "cpu" => node.cpu = value,
            "memory" => node.memory = value,
            "pods" => node.pods = value,
            _ => {}
        }
    }
    nodes.remove("");
    nodes
}

fn label(s: &Sample, name: &str) -> String {
    s.labels.get(name).cloned().unwrap_or_default()
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn pod_key(s: &Sample) -> PodKey {
    (label(s, "namespace"), label(s, "pod"))
}

fn pdb_key(s: &Sample) -> (String, String) {
    (label(s, "namespace"), label(s, "poddisruptionbudget"))
}

/// A gauge's value as a count, if it is one.
pub(super) fn count(v: f64) -> Option<u32> {
    (v.is_finite() && v >= 0.0 && v <= f64::from(u32::MAX)).then(|| v.round() as u32)
}
